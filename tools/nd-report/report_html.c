/*  report_html.c - the report model as one self-contained HTML page:
    a funnel (bars), each journey's variants (a table), its daily series
    (lines) and its A/B intervals against the holdout (bars around zero).
    Inline CSS and SVG only: no script, font or image is fetched. Every
    figure shown carries its exact value in a data attribute, so a test
    (or a curious operator) can read the page as the model; every string
    from the state is escaped. Reads only the model (report_model.h).    */
#include <czmq.h>
#include "report_model.h"

#define CHART_W 640
#define CHART_H 180

static void s_escape (FILE *out, const char *text)
{
    for (const char *p = text ? text : ""; *p; p++)
        switch (*p) {
            case '&': fputs ("&amp;", out); break;
            case '<': fputs ("&lt;", out); break;
            case '>': fputs ("&gt;", out); break;
            case '"': fputs ("&quot;", out); break;
            case '\'': fputs ("&#39;", out); break;
            default: fputc (*p, out);
        }
}

static const char *s_str (const json_t *object, const char *name)
{
    const char *value = json_string_value (json_object_get (object, name));
    return value ? value : "";
}

static double s_num (const json_t *object, const char *name)
{
    return json_number_value (json_object_get (object, name));
}

//  <td> holding one figure: shown rounded, exact in data-value.
static void s_cell (FILE *out, const char *metric, double value, const char *format, double scale)
{
    fprintf (out, "<td data-metric=\"%s\" data-value=\"%.17g\">", metric, value);
    fprintf (out, format, value * scale);
    fputs ("</td>", out);
}

/* ----------------------------------------------------------- funnel -- */

static void s_funnel (FILE *out, const json_t *funnel)
{
    fputs ("<section id=\"funnel\"><h2>Checkout funnel</h2>\n", out);
    json_t *steps = json_object_get (funnel, "steps");
    json_t *reached = json_object_get (json_object_get (funnel, "total"), "reached");
    json_t *dropoff = json_object_get (json_object_get (funnel, "total"), "dropoff");
    size_t count = json_array_size (steps);
    double top = 0;
    for (size_t i = 0; i < count; i++)
        top = fmax (top, json_number_value (json_array_get (reached, i)));
    if (!count || top <= 0) {
        fputs ("<p class=\"empty\">no funnel data</p></section>\n", out);
        return;
    }
    fprintf (out, "<svg role=\"img\" aria-label=\"funnel\" width=\"%d\" height=\"%zu\">\n",
             CHART_W, count * 28 + 4);
    for (size_t i = 0; i < count; i++) {
        double value = json_number_value (json_array_get (reached, i));
        double width = value / top * (CHART_W - 260);
        fprintf (out, "<text x=\"0\" y=\"%zu\">", i * 28 + 18);
        s_escape (out, json_string_value (json_array_get (steps, i)));
        fprintf (out, "</text><rect class=\"bar\" x=\"150\" y=\"%zu\" width=\"%.1f\" height=\"22\" "
                 "data-step=\"", i * 28 + 2, width);
        s_escape (out, json_string_value (json_array_get (steps, i)));
        fprintf (out, "\" data-reached=\"%.17g\"></rect><text x=\"%.1f\" y=\"%zu\">%.0f",
                 value, 156 + width, i * 28 + 18, value);
        json_t *drop = i ? json_array_get (dropoff, i - 1) : NULL;
        if (json_is_number (drop))
            fprintf (out, " (-%.1f %%)", json_number_value (drop) * 100);
        fputs ("</text>\n", out);
    }
    fputs ("</svg>\n", out);
    size_t i;
    json_t *item;
    json_t *left = json_object_get (funnel, "left_in_cart");
    if (json_array_size (left))
        fputs ("<h3>Most often left in the cart</h3><ol>", out);
    json_array_foreach (left, i, item) {
        fputs ("<li data-product=\"", out);
        s_escape (out, s_str (item, "product_id"));
        fprintf (out, "\" data-count=\"%.17g\">", s_num (item, "count"));
        s_escape (out, s_str (item, "name"));
        fprintf (out, " (%.0f)</li>", s_num (item, "count"));
    }
    if (json_array_size (left))
        fputs ("</ol>\n", out);
    fputs ("</section>\n", out);
}

/* ------------------------------------------------------- a journey -- */

static void s_variants (FILE *out, const json_t *journey)
{
    fputs ("<table><tr><th>variant</th><th>entered</th><th>sent</th><th>held</th>"
           "<th>delivered</th><th>clicked</th><th>failed</th><th>converted</th>"
           "<th>conv.</th><th>revenue</th><th>per entered</th><th>vs holdout [95 % CI]</th>"
           "<th>p</th><th></th></tr>\n", out);
    size_t i;
    json_t *variant;
    json_array_foreach (json_object_get (journey, "variants"), i, variant) {
        fputs ("<tr data-variant=\"", out);
        s_escape (out, s_str (variant, "name"));
        fputs ("\"><td>", out);
        s_escape (out, *s_str (variant, "name") ? s_str (variant, "name") : "-");
        fputs ("</td>", out);
        const char *counts [] = { "entered", "sent", "held", "delivered", "clicked", "failed",
                                  "converted", NULL };
        for (int c = 0; counts [c]; c++)
            s_cell (out, counts [c], s_num (variant, counts [c]), "%.0f", 1);
        s_cell (out, "conv_rate", s_num (variant, "conv_rate"), "%.1f %%", 100);
        s_cell (out, "revenue", s_num (variant, "revenue"), "%.2f", 1);
        s_cell (out, "revenue_per_entered", s_num (variant, "revenue_per_entered"), "%.2f", 1);
        json_t *versus = json_object_get (variant, "vs_holdout");
        if (json_is_object (versus)) {
            json_t *ci = json_object_get (versus, "ci");
            double lo = json_number_value (json_array_get (ci, 0));
            double hi = json_number_value (json_array_get (ci, 1));
            fprintf (out, "<td data-metric=\"diff\" data-value=\"%.17g\" data-lo=\"%.17g\" "
                     "data-hi=\"%.17g\">%+.1f pp [%+.1f, %+.1f]</td>", s_num (versus, "diff"),
                     lo, hi, s_num (versus, "diff") * 100, lo * 100, hi * 100);
            s_cell (out, "p", s_num (versus, "p"), "%.3g", 1);
            fprintf (out, "<td data-metric=\"significant\">%s</td>",
                     json_is_true (json_object_get (versus, "significant"))
                     ? "significant" : "not significant");
        }
        else
            fputs ("<td></td><td></td><td></td>", out);
        fputs ("</tr>\n", out);
    }
    fputs ("</table>\n", out);
}

static const char *s_series [] = { "entered", "sent", "delivered", "converted", NULL };
static const char *s_colours [] = { "#777", "#1f77b4", "#2ca02c", "#d62728", NULL };

static void s_daily (FILE *out, const json_t *journey)
{
    json_t *daily = json_object_get (journey, "daily");
    size_t days = json_array_size (daily);
    fputs ("<h3>Daily</h3>\n", out);
    if (days == 0) {
        fputs ("<p class=\"empty\">no daily data for these days</p>\n", out);
        return;
    }
    double top = 1;
    size_t i;
    json_t *day;
    json_array_foreach (daily, i, day)
        for (int s = 0; s_series [s]; s++)
            top = fmax (top, s_num (day, s_series [s]));
    fprintf (out, "<svg class=\"daily\" role=\"img\" aria-label=\"daily series\" width=\"%d\" "
             "height=\"%d\">\n<line x1=\"40\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#999\"/>"
             "<text x=\"0\" y=\"12\">%.0f</text><text x=\"0\" y=\"%d\">0</text>\n", CHART_W,
             CHART_H + 30, CHART_H, CHART_W, CHART_H, top, CHART_H);
    double step = days > 1 ? (double) (CHART_W - 60) / (double) (days - 1) : 0;
    for (int s = 0; s_series [s]; s++) {
        //  dashed, wider to narrower: equal series (all sent delivered) stay visible
        fprintf (out, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"%d\" "
                 "stroke-dasharray=\"%s\" points=\"", s_colours [s], 4 - s, s ? "6 3" : "none");
        json_array_foreach (daily, i, day)
            fprintf (out, "%.1f,%.1f ", 50 + step * (double) i,
                     CHART_H - s_num (day, s_series [s]) / top * (CHART_H - 10));
        fputs ("\"/>\n", out);
        json_array_foreach (daily, i, day)
            fprintf (out, "<circle r=\"2.5\" fill=\"%s\" cx=\"%.1f\" cy=\"%.1f\" data-series=\"%s\" "
                     "data-day=\"%s\" data-value=\"%.17g\"><title>%s %s: %.0f</title></circle>\n",
                     s_colours [s], 50 + step * (double) i,
                     CHART_H - s_num (day, s_series [s]) / top * (CHART_H - 10), s_series [s],
                     s_str (day, "day"), s_num (day, s_series [s]), s_str (day, "day"),
                     s_series [s], s_num (day, s_series [s]));
        fprintf (out, "<text x=\"%d\" y=\"%d\" fill=\"%s\">%s</text>\n", 50 + s * 110,
                 CHART_H + 24, s_colours [s], s_series [s]);
    }
    fprintf (out, "<text x=\"50\" y=\"%d\">%s</text><text x=\"%d\" y=\"%d\" text-anchor=\"end\">"
             "%s</text></svg>\n", CHART_H + 12, s_str (json_array_get (daily, 0), "day"),
             CHART_W - 10, CHART_H + 12, s_str (json_array_get (daily, days - 1), "day"));
}

//  Each variant's difference from the holdout with its 95 % interval, on
//  one scale around zero: a bar that crosses the zero line is not
//  significant.
static void s_intervals (FILE *out, const json_t *journey)
{
    fputs ("<h3>Against the holdout (95 % interval of the difference in conversion)</h3>\n", out);
    double reach = 0;
    size_t i, count = 0;
    json_t *variant;
    json_array_foreach (json_object_get (journey, "variants"), i, variant) {
        json_t *ci = json_object_get (json_object_get (variant, "vs_holdout"), "ci");
        if (ci) {
            reach = fmax (reach, fmax (fabs (json_number_value (json_array_get (ci, 0))),
                                       fabs (json_number_value (json_array_get (ci, 1)))));
            count++;
        }
    }
    if (count == 0) {
        fputs ("<p class=\"empty\">no holdout to compare with</p>\n", out);
        return;
    }
    reach = reach > 0 ? reach * 1.1 : 0.01;
    double zero = 150 + (CHART_W - 170) / 2.0, half = (CHART_W - 170) / 2.0;
    fprintf (out, "<svg class=\"ab\" role=\"img\" aria-label=\"A/B intervals\" width=\"%d\" "
             "height=\"%zu\"><line x1=\"%.1f\" y1=\"0\" x2=\"%.1f\" y2=\"%zu\" stroke=\"#000\"/>\n",
             CHART_W, count * 26 + 20, zero, zero, count * 26 + 4);
    size_t row = 0;
    json_array_foreach (json_object_get (journey, "variants"), i, variant) {
        json_t *versus = json_object_get (variant, "vs_holdout");
        if (!json_is_object (versus))
            continue;
        json_t *ci = json_object_get (versus, "ci");
        double lo = json_number_value (json_array_get (ci, 0));
        double hi = json_number_value (json_array_get (ci, 1));
        double diff = s_num (versus, "diff"), y = (double) row++ * 26 + 13;
        bool significant = json_is_true (json_object_get (versus, "significant"));
        fputs ("<g class=\"ci\" data-variant=\"", out);
        s_escape (out, s_str (variant, "name"));
        fprintf (out, "\" data-diff=\"%.17g\" data-lo=\"%.17g\" data-hi=\"%.17g\"><text x=\"0\" "
                 "y=\"%.1f\">", diff, lo, hi, y + 4);
        s_escape (out, s_str (variant, "name"));
        fprintf (out, "</text><line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" "
                 "stroke-width=\"6\"/><circle cx=\"%.1f\" cy=\"%.1f\" r=\"5\"/>"
                 "<title>%+.1f pp [%+.1f, %+.1f]%s</title></g>\n",
                 zero + lo / reach * half, y, zero + hi / reach * half, y,
                 significant ? "#2ca02c" : "#bbb", zero + diff / reach * half, y, diff * 100,
                 lo * 100, hi * 100, significant ? "" : " not significant");
    }
    fprintf (out, "<text x=\"150\" y=\"%zu\">%+.1f pp</text><text x=\"%.1f\" y=\"%zu\" "
             "text-anchor=\"middle\">0</text><text x=\"%d\" y=\"%zu\" text-anchor=\"end\">"
             "%+.1f pp</text></svg>\n", count * 26 + 16, -reach * 100, zero, count * 26 + 16,
             CHART_W - 20, count * 26 + 16, reach * 100);
}

//  What the caps gave another journey: a row per step and winner.
static void s_lost_to (FILE *out, const json_t *journey)
{
    json_t *rows = json_object_get (journey, "lost_to");
    if (json_array_size (rows) == 0)
        return;
    fputs ("<table class=\"lost-to\"><tr><th>step</th><th>held by the cap behind</th>"
           "<th>deferred</th><th>skipped</th></tr>\n", out);
    size_t i;
    json_t *row;
    json_array_foreach (rows, i, row) {
        fputs ("<tr data-step=\"", out);
        s_escape (out, s_str (row, "step"));
        fputs ("\" data-to=\"", out);
        s_escape (out, s_str (row, "to"));
        fputs ("\"><td>", out);
        s_escape (out, s_str (row, "step"));
        fputs ("</td><td>", out);
        s_escape (out, s_str (row, "to"));
        fputs ("</td>", out);
        s_cell (out, "deferred", s_num (row, "deferred"), "%.0f", 1);
        s_cell (out, "skipped", s_num (row, "skipped"), "%.0f", 1);
        fputs ("</tr>\n", out);
    }
    fputs ("</table>\n", out);
}

static void s_journey (FILE *out, const json_t *journey)
{
    fputs ("<section class=\"journey\" data-journey=\"", out);
    s_escape (out, s_str (journey, "name"));
    fputs ("\"><h2>", out);
    s_escape (out, s_str (journey, "name"));
    fputs ("</h2>\n", out);
    s_variants (out, journey);
    s_intervals (out, journey);
    s_daily (out, journey);
    s_lost_to (out, journey);
    fputs ("</section>\n", out);
}

char *report_html (const json_t *model)
{
    char *page = NULL;
    size_t size = 0;
    FILE *out = open_memstream (&page, &size);
    if (!out)
        return NULL;
    const char *from = s_str (model, "from"), *to = s_str (model, "to");
    fputs ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
           "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
           "style-src 'unsafe-inline'\"><title>nudge report</title>\n<style>"
           "body{font:14px system-ui,sans-serif;margin:2em;color:#222}"
           "table{border-collapse:collapse}td,th{padding:2px 8px;text-align:right;white-space:nowrap}"
           "td:first-child,th:first-child{text-align:left}tr:nth-child(even){background:#f4f4f4}"
           ".empty{color:#777;font-style:italic}svg text{font-size:12px}.bar{fill:#1f77b4}"
           "</style></head><body>\n<h1>nudge report</h1>\n<p id=\"range\" data-from=\"", out);
    s_escape (out, from);
    fputs ("\" data-to=\"", out);
    s_escape (out, to);
    fputs ("\">Days ", out);
    s_escape (out, *from ? from : "first");
    fputs (" to ", out);
    s_escape (out, *to ? to : "last");
    fputs (", as of ", out);
    s_escape (out, s_str (model, "as_of"));
    fputs (" (", out);
    s_escape (out, s_str (model, "clock"));
    fputs (" clock). Conversion is converted / entered; the interval is Newcombe's (Wilson "
           "score) for the difference from the holdout, p from the two-proportion z-test; "
           "\"not significant\" when the interval holds zero.</p>\n", out);
    s_funnel (out, json_object_get (model, "funnel"));
    json_t *journeys = json_object_get (model, "journeys");
    if (json_array_size (journeys) == 0)
        fputs ("<section id=\"journeys\"><h2>Journeys</h2><p class=\"empty\">no journey data "
               "for these days</p></section>\n", out);
    size_t i;
    json_t *journey;
    json_array_foreach (journeys, i, journey)
        s_journey (out, journey);
    fputs ("</body></html>\n", out);
    fclose (out);
    return page;
}
