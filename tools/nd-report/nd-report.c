/*  nd-report - what each journey did, for any days: entered, sent,
    delivered, clicked, converted, revenue, and each variant against the
    holdout with its interval.

    NAME
        nd-report - per journey, variant, step and channel results, daily
        series, A/B figures; as text, JSON or one HTML page

    SYNOPSIS
        nd-report [-c CONFIG] [-n STAGE] [-s DIR] [--from DAY] [--to DAY]
                  [--steps] [--json | --html FILE]
        nd-report --funnel [--from DAY] [--to DAY] [-c CONFIG] [-n STAGE]
                  [-s DIR] [--json]

    DESCRIPTION
        Reads the scheduler's counters (read-only; it may be running) into
        one model (report_model.c) and renders it as a table (default),
        as that model's JSON (--json) or as a self-contained HTML page
        (--html FILE). --from / --to (YYYY-MM-DD, UTC days of the
        scheduler's clock, both included) select days: the figures are
        then summed from the daily counters. Conversions count only
        messages that were delivered (attribution.c). Each variant is
        compared with the holdout: the difference in conversion rate, its
        95 % Newcombe interval and the two-sided z-test p-value
        (nd_stats); "not significant" when the interval holds zero. The
        JSON and the page also carry the funnel (where buyers leave) from
        the segmenter's daily counts, when its state is there (funnel.c);
        --funnel prints that alone. See nd-report(1).

    EXIT STATUS
        0; 2 on a state error; 64 on a usage error.                     */
#include <czmq.h>
#include <getopt.h>
#include <sysexits.h>
#include <jansson.h>
#include "nd.h"
#include "nd_pipefile.h"
#include "nd_state.h"
#include "nd_tool.h"
#include "report_model.h"
#include "funnel.h"

typedef struct {
    nd_tool_args_t tool;        //  -c
    const char *stage;
    const char *state;
    const char *from, *to;
    const char *html;
    bool steps;
    bool json;
    bool funnel;                //  --funnel: the segmenter's funnel alone
} report_args_t;

static const char *s_usage =
    "usage: nd-report [-c CONFIG] [-n STAGE] [-s DIR] [--from DAY] [--to DAY] [--steps]\n"
    "                 [--json | --html FILE]\n"
    "       nd-report --funnel [--from DAY] [--to DAY] [-c CONFIG] [-n STAGE] [-s DIR] [--json]\n"
    "Per journey and variant: entered, sent, delivered, converted, revenue; each variant\n"
    "against the holdout with its 95 % interval and p-value.\n"
    "  -c, --config FILE   pipeline file (default conf/pipeline.zpl)\n"
    "  -n, --name STAGE    the scheduler's section (default scheduler)\n"
    "  -s, --state DIR     read this LMDB directory instead\n"
    "      --from DAY      first day (YYYY-MM-DD, UTC), included\n"
    "      --to DAY        last day (YYYY-MM-DD, UTC), included\n"
    "      --steps         a line per step and channel too\n"
    "      --json          one JSON object\n"
    "      --html FILE     one self-contained HTML page with charts into FILE\n"
    "      --funnel        where buyers leave, alone (-n defaults to segmenter)\n"
    "      --check         check the pipeline file (-c) and exit: 0 good, 78 not\n"
    "  -h, --help          this text\n"
    "See nd-report(1).\n";

/*  Returns 0 to run, 1 when --help was shown, 2 on a usage error.       */
static int s_args (int argc, char **argv, void *args_)
{
    static const struct option options [] = {
        ND_TOOL_CONFIG, { "name", required_argument, NULL, 'n' },
        { "state", required_argument, NULL, 's' }, { "steps", no_argument, NULL, 'S' },
        { "json", no_argument, NULL, 'j' }, { "html", required_argument, NULL, 'H' },
        { "from", required_argument, NULL, 'F' }, { "to", required_argument, NULL, 'T' },
        { "funnel", no_argument, NULL, 'U' }, ND_TOOL_HELP, { NULL, 0, NULL, 0 } };
    report_args_t *args = (report_args_t *) args_;
    *args = (report_args_t) { { "nd-report", s_usage, "conf/pipeline.zpl", NULL, 0 }, NULL, NULL,
                              NULL, NULL, NULL, false, false, false };
    int option;
    while ((option = getopt_long (argc, argv, "c:n:s:h", options, NULL)) != -1) {
        int rc = nd_tool_option (&args->tool, option, optarg);
        if (rc > 0)
            return rc;
        switch (option) {
            case 'n': args->stage = optarg; break;
            case 's': args->state = optarg; break;
            case 'S': args->steps = true; break;
            case 'j': args->json = true; break;
            case 'H': args->html = optarg; break;
            case 'F': args->from = optarg; break;
            case 'T': args->to = optarg; break;
            case 'U': args->funnel = true; break;
        }
    }
    if (optind < argc || (args->json && args->html) || (args->funnel && (args->html || args->steps)))
        return nd_tool_usage_error (&args->tool);
    if (!args->stage)
        args->stage = args->funnel ? "segmenter" : "scheduler";
    return 0;
}

//  --from / --to as day numbers; open ends stay INT64_MIN / INT64_MAX.
static int s_range (const report_args_t *args, int64_t *from, int64_t *to)
{
    *from = INT64_MIN;
    *to = INT64_MAX;
    if (args->from && report_day_parse (args->from, from)) {
        fprintf (stderr, "nd-report: --from '%s' is not a day (YYYY-MM-DD)\n", args->from);
        return -1;
    }
    if (args->to && report_day_parse (args->to, to)) {
        fprintf (stderr, "nd-report: --to '%s' is not a day (YYYY-MM-DD)\n", args->to);
        return -1;
    }
    if (*from > *to) {
        fprintf (stderr, "nd-report: --from %s is after --to %s\n", args->from, args->to);
        return -1;
    }
    return 0;
}

//  The funnel, when the segmenter of the pipeline file keeps one: its
//  daily counts for these days (funnel.c). Without a segmenter's state
//  (a lone scheduler's -s) the report has no funnel and says so.
static void s_funnel (json_t *model, const report_args_t *args)
{
    char *error = NULL, err [256] = "";
    nd_state_t *segmenter = nd_state_open (args->tool.config, "segmenter", NULL, &error);
    free (error);
    if (!segmenter)
        return;
    json_t *funnel = funnel_report (nd_state_dir (segmenter), args->from, args->to, err, sizeof err);
    if (funnel)
        json_object_set_new (model, "funnel", funnel);
    else
    if (*err)
        fprintf (stderr, "nd-report: funnel: %s\n", err);
    nd_state_destroy (&segmenter);
}

static int s_write_html (const char *path, const json_t *model)
{
    char *page = report_html (model);
    FILE *file = page ? fopen (path, "w") : NULL;
    int rc = file && fputs (page, file) >= 0 ? 0 : -1;
    if (file && fclose (file))
        rc = -1;
    if (rc)
        fprintf (stderr, "nd-report: %s: %s\n", path, strerror (errno));
    free (page);
    return rc;
}

int main (int argc, char **argv)
{
    report_args_t args;
    nd_tool_start (argc, argv, "nd-report", s_args, &args);
    char *error = NULL;
    MDB_dbi dbi;
    nd_state_t *state = nd_state_open (args.tool.config, args.stage, args.state, &error);
    if (state && args.funnel) {
        int rc = funnel_main (nd_state_dir (state), args.from, args.to, args.json);
        nd_state_destroy (&state);
        return rc;
    }
    if (!state || nd_state_dbi (state, "counters", &dbi, &error)) {
        fprintf (stderr, "nd-report: %s\n", error);
        free (error);
        nd_state_destroy (&state);
        return 2;
    }
    int64_t from, to;
    if (s_range (&args, &from, &to)) {
        nd_state_destroy (&state);
        return EX_USAGE;
    }
    json_t *report = report_model (nd_state_txn (state), dbi, from, to);
    //  On the event clock (a replay) the report is as of the event time
    //  the scheduler has reached, not of today
    bool event;
    char stamp [32];
    int64_t now = nd_state_now (state, &event);
    json_object_set_new (report, "as_of", json_string (nd_time_format (now, stamp)));
    json_object_set_new (report, "clock", json_string (event ? "event" : "wall"));
    s_funnel (report, &args);
    nd_state_destroy (&state);
    int rc = 0;
    if (args.json) {
        char *text = json_dumps (report, JSON_COMPACT);
        printf ("%s\n", text);
        free (text);
    }
    else
    if (args.html)
        rc = s_write_html (args.html, report) ? 2 : 0;
    else
        report_text (stdout, report, args.steps);
    json_decref (report);
    return rc;
}
