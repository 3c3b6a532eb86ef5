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
        --funnel prints that alone. A partitioned section (-n NAME)
        is read in every partition and its counts added up; -n NAME.K
        reads that partition alone. See nd-report(1).

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
    "  -n, --name STAGE    the scheduler's section (default scheduler): every partition\n"
    "                      of a partitioned one, summed; NAME.K that partition alone\n"
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

//  The states name stands for, read-only: the directory dir, else the
//  stage name, or each partition of the section name (nd_state_stages),
//  whose counts add up. Returns how many are open in states, 0 with
//  *error set when one cannot be read.
static size_t s_open (const char *config, const char *name, const char *dir,
                      nd_state_t **states, char **error)
{
    if (dir) {
        states [0] = nd_state_open (config, name, dir, error);
        return states [0] ? 1 : 0;
    }
    zlist_t *stages = nd_state_stages (config, name, error);
    size_t count = 0;
    const char *stage = stages ? (const char *) zlist_first (stages) : NULL;
    for (; stage && count < ND_PARTITIONS_MAX; stage = (const char *) zlist_next (stages))
        if (!(states [count++] = nd_state_open (config, stage, NULL, error)))
            break;
    if (count && !states [count - 1])
        while (count)
            nd_state_destroy (&states [--count]);
    zlist_destroy (&stages);
    return count;
}

static void s_close (nd_state_t **states, size_t count)
{
    for (size_t i = 0; i < count; i++)
        nd_state_destroy (&states [i]);
}

//  The funnel of count states (funnel.c), or NULL with the reason in err.
static json_t *s_funnel_of (nd_state_t **states, size_t count, const report_args_t *args,
                            char *err, size_t errlen)
{
    const char *dirs [ND_PARTITIONS_MAX];
    for (size_t i = 0; i < count; i++)
        dirs [i] = nd_state_dir (states [i]);
    return funnel_report (dirs, count, args->from, args->to, err, errlen);
}

//  The funnel, when the segmenter of the pipeline file keeps one: its
//  daily counts for these days (funnel.c), over all its partitions.
//  Without a segmenter's state (a lone scheduler's -s) the report has no
//  funnel and says so.
static void s_funnel (json_t *model, const report_args_t *args)
{
    char *error = NULL, err [256] = "";
    nd_state_t *states [ND_PARTITIONS_MAX];
    size_t count = s_open (args->tool.config, "segmenter", NULL, states, &error);
    free (error);
    json_t *funnel = count ? s_funnel_of (states, count, args, err, sizeof err) : NULL;
    if (funnel)
        json_object_set_new (model, "funnel", funnel);
    else
    if (*err)
        fprintf (stderr, "nd-report: funnel: %s\n", err);
    s_close (states, count);
}

//  nd-report --funnel: the funnel of the stage -n names (each partition
//  of a partitioned section) or of the state -s names.
static int s_funnel_main (const report_args_t *args, nd_state_t **states, size_t count)
{
    char reason [512];
    json_t *funnel = s_funnel_of (states, count, args, reason, sizeof reason);
    s_close (states, count);
    if (!funnel) {
        fprintf (stderr, "nd-report: %s\n", reason);
        return 2;
    }
    return funnel_print_as (funnel, args->json);
}

//  "now" of the report: the earliest of the states' (the time all of them
//  have reached), on the event clock when any is.
static int64_t s_now (nd_state_t **states, size_t count, bool *event)
{
    int64_t now = INT64_MAX;
    *event = false;
    for (size_t i = 0; i < count; i++) {
        bool on_event;
        int64_t at = nd_state_now (states [i], &on_event);
        now = at < now ? at : now;
        *event = *event || on_event;
    }
    return now;
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
    nd_state_t *states [ND_PARTITIONS_MAX];
    MDB_txn *txns [ND_PARTITIONS_MAX];
    MDB_dbi dbis [ND_PARTITIONS_MAX];
    size_t count = s_open (args.tool.config, args.stage, args.state, states, &error);
    if (count && args.funnel)
        return s_funnel_main (&args, states, count);
    for (size_t i = 0; i < count && !error; i++) {
        txns [i] = nd_state_txn (states [i]);
        nd_state_dbi (states [i], "counters", &dbis [i], &error);
    }
    if (error) {
        fprintf (stderr, "nd-report: %s\n", error);
        free (error);
        s_close (states, count);
        return 2;
    }
    int64_t from, to;
    if (s_range (&args, &from, &to)) {
        s_close (states, count);
        return EX_USAGE;
    }
    json_t *report = report_model (count, txns, dbis, from, to);
    //  On the event clock (a replay) the report is as of the event time
    //  the scheduler has reached, not of today
    bool event;
    char stamp [32];
    int64_t now = s_now (states, count, &event);
    json_object_set_new (report, "as_of", json_string (nd_time_format (now, stamp)));
    json_object_set_new (report, "clock", json_string (event ? "event" : "wall"));
    s_funnel (report, &args);
    s_close (states, count);
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
