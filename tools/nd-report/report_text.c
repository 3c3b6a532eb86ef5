/*  report_text.c - the report model as the table nd-report prints.
    Reads only the model (report_model.h).                               */
#include <czmq.h>
#include "report_model.h"

static double s_num (const json_t *object, const char *name)
{
    return json_number_value (json_object_get (object, name));
}

//  "+3.7 pp [-3.1, +10.5] p=0.29 not significant" against the holdout
static void s_versus (FILE *out, const json_t *versus)
{
    if (!json_is_object (versus))
        return;
    json_t *ci = json_object_get (versus, "ci");
    fprintf (out, "  %+.1f pp [%+.1f, %+.1f] p=%.3g%s", s_num (versus, "diff") * 100,
             json_number_value (json_array_get (ci, 0)) * 100,
             json_number_value (json_array_get (ci, 1)) * 100, s_num (versus, "p"),
             json_is_true (json_object_get (versus, "significant")) ? "" : " not significant");
}

static void s_variant (FILE *out, const char *journey, const json_t *variant)
{
    const char *name = json_string_value (json_object_get (variant, "name"));
    fprintf (out, "%-20s %-10s %8.0f %7.0f %6.0f %7.0f %6.0f %6.0f %6.0f %6.1f%% %11.2f", journey,
             *name ? name : "-", s_num (variant, "entered"), s_num (variant, "sent"),
             s_num (variant, "held"), s_num (variant, "delivered"), s_num (variant, "clicked"),
             s_num (variant, "failed"), s_num (variant, "converted"),
             s_num (variant, "conv_rate") * 100, s_num (variant, "revenue"));
    s_versus (out, json_object_get (variant, "vs_holdout"));
    fprintf (out, "\n");
}

static void s_steps (FILE *out, const json_t *journey, const char *variant)
{
    size_t i;
    json_t *step;
    json_array_foreach (json_object_get (journey, "steps"), i, step) {
        if (!streq (json_string_value (json_object_get (step, "variant")), variant))
            continue;
        fprintf (out, "    %-18s %-6s", json_string_value (json_object_get (step, "step")),
                 json_string_value (json_object_get (step, "channel")));
        const char *metric;
        json_t *value;
        json_object_foreach (json_object_get (step, "counts"), metric, value)
            fprintf (out, "  %s=%lld", streq (metric, "attributed-revenue") ? "attributed_revenue"
                                                                          : metric,
                     (long long) json_integer_value (value));
        fprintf (out, "\n");
    }
}

//  "lost to: reminder-1 behind welcome: deferred 37, skipped 0"
static void s_lost_to (FILE *out, const json_t *journey)
{
    size_t i;
    json_t *row;
    json_array_foreach (json_object_get (journey, "lost_to"), i, row)
        fprintf (out, "    lost to the cap: %s behind %s: deferred %.0f, skipped %.0f\n",
                 json_string_value (json_object_get (row, "step")),
                 json_string_value (json_object_get (row, "to")), s_num (row, "deferred"),
                 s_num (row, "skipped"));
}

void report_text (FILE *out, const json_t *model, bool steps)
{
    json_t *totals = json_object_get (model, "totals");
    const char *from = json_string_value (json_object_get (model, "from"));
    const char *to = json_string_value (json_object_get (model, "to"));
    fprintf (out, "as of %s (%s clock); days %s to %s\n",
             json_string_value (json_object_get (model, "as_of")),
             json_string_value (json_object_get (model, "clock")), from ? from : "first",
             to ? to : "last");
    fprintf (out, "sent %.0f, orders credited to a message %.0f, codes issued %.0f (all days)\n\n",
             s_num (totals, "sent"), s_num (totals, "conversions"), s_num (totals, "codes-issued"));
    fprintf (out, "%-20s %-10s %8s %7s %6s %7s %6s %6s %6s %7s %11s  %s\n", "journey", "variant",
             "entered", "sent", "held", "deliv", "click", "fail", "conv", "conv%", "revenue",
             "vs holdout: diff [95% CI] p");
    size_t i, j;
    json_t *journey, *variant;
    json_array_foreach (json_object_get (model, "journeys"), i, journey) {
        json_array_foreach (json_object_get (journey, "variants"), j, variant) {
            s_variant (out, json_string_value (json_object_get (journey, "name")), variant);
            if (steps)
                s_steps (out, journey, json_string_value (json_object_get (variant, "name")));
        }
        s_lost_to (out, journey);
    }
}
