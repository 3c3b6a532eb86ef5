/*  nd-report - what each journey did: entered, sent, converted, revenue.

    NAME
        nd-report - per journey and variant results, with uplift over the
        holdout

    SYNOPSIS
        nd-report [-c CONFIG] [-n STAGE] [-s DIR] [--steps] [--json]
        nd-report --funnel [--from DAY] [--to DAY] [-c CONFIG] [-n STAGE] [-s DIR] [--json]

    DESCRIPTION
        Reads the scheduler's counters (read-only; it may be running) and
        prints one line per journey and variant (the holdout included),
        as of now: the scheduler's event time when it runs on the event
        clock (a replay, a backtest), else the wall clock:

          entered    people who started the journey
          sent       send orders emitted (every step and channel)
          held       messages the holdout would have got
          delivered, clicked, failed   from the senders' feedback
          converted  people who ordered within the attribution window
          conv%      converted / entered
          revenue    of those orders
          uplift     conv% minus the holdout's, in percentage points, and
                     relative to it: what the messages earned

        --steps adds a line per step and channel: sent, delivered, failed,
        clicked, orders credited to it as the last touch and their
        revenue, and why the step waited (deferred:REASON) or did not
        send (skipped:REASON). --json prints everything as one object.

        --funnel reads the segmenter's daily funnel counts instead: where
        buyers leave (funnel.c).

    OPTIONS
        -c, --config FILE   pipeline file (default conf/pipeline.zpl)
        -n, --name STAGE    the scheduler's section in it (default scheduler)
        -s, --state DIR     read this LMDB directory instead
            --steps         a line per step and channel too
            --json          one JSON object
            --check         check the pipeline file (-c) and exit
        -h, --help          this text

    EXIT STATUS
        0, or 2 on a usage or state error.                             */
#include <czmq.h>
#include <getopt.h>
#include <sysexits.h>
#include <jansson.h>
#include "nd.h"
#include "funnel.h"
#include "nd_pipefile.h"
#include "nd_state.h"

typedef struct {
    const char *config;
    const char *stage;
    const char *state;
    bool steps;
    bool json;
    bool funnel;                //  --funnel: the segmenter's funnel instead
    const char *from, *to;
} report_args_t;

static const char *s_usage =
    "usage: nd-report [-c CONFIG] [-n STAGE] [-s DIR] [--steps] [--json]\n"
    "       nd-report --funnel [--from DAY] [--to DAY] [-c CONFIG] [-n STAGE] [-s DIR] [--json]\n"
    "Entered, sent, converted and revenue per journey and variant; uplift over the holdout.\n"
    "  -c, --config FILE   pipeline file (default conf/pipeline.zpl)\n"
    "  -n, --name STAGE    the scheduler's section (default scheduler)\n"
    "  -s, --state DIR     read this LMDB directory instead\n"
    "      --steps         a line per step and channel too\n"
    "      --json          one JSON object\n"
    "      --funnel        where buyers leave (-n defaults to segmenter)\n"
    "      --from DAY, --to DAY   the funnel's days, YYYY-MM-DD (default: all)\n"
    "      --check         check the pipeline file (-c) and exit: 0 good, 78 not\n"
    "  -h, --help          this text\n"
    "See nd-report(1).\n";

static int s_args (int argc, char **argv, report_args_t *args)
{
    static const struct option options [] = {
        { "config", required_argument, NULL, 'c' }, { "name", required_argument, NULL, 'n' },
        { "state", required_argument, NULL, 's' }, { "steps", no_argument, NULL, 'S' },
        { "json", no_argument, NULL, 'j' }, { "help", no_argument, NULL, 'h' },
        { "funnel", no_argument, NULL, 'F' }, { "from", required_argument, NULL, 'f' },
        { "to", required_argument, NULL, 't' },
        { NULL, 0, NULL, 0 } };
    *args = (report_args_t) { "conf/pipeline.zpl", NULL, NULL, false, false, false, NULL, NULL };
    int option;
    while ((option = getopt_long (argc, argv, "c:n:s:h", options, NULL)) != -1)
        switch (option) {
            case 'c': args->config = optarg; break;
            case 'n': args->stage = optarg; break;
            case 's': args->state = optarg; break;
            case 'S': args->steps = true; break;
            case 'j': args->json = true; break;
            case 'F': args->funnel = true; break;
            case 'f': args->from = optarg; break;
            case 't': args->to = optarg; break;
            case 'h': fputs (s_usage, stdout); exit (0);
            default: fputs (s_usage, stderr); return -1;
        }
    if (optind < argc) {
        fputs (s_usage, stderr);
        return -1;
    }
    if (!args->stage)
        args->stage = args->funnel ? "segmenter" : "scheduler";
    return 0;
}

/* ------------------------------------------------------------- read -- */

static json_t *s_child (json_t *parent, const char *name)
{
    json_t *child = json_object_get (parent, name);
    if (!child)
        json_object_set_new (parent, name, child = json_object ());
    return child;
}

static void s_add (json_t *object, const char *metric, uint64_t value)
{
    json_int_t before = json_integer_value (json_object_get (object, metric));
    json_object_set_new (object, metric, json_integer (before + (json_int_t) value));
}

//  Key: journey, variant, step, channel, metric, each NUL-terminated.
static void s_counter (json_t *report, const MDB_val *key, const MDB_val *data)
{
    const char *parts [5], *p = (const char *) key->mv_data, *end = p + key->mv_size;
    for (int i = 0; i < 5; i++) {
        const char *nul = memchr (p, 0, (size_t) (end - p));
        if (!nul)
            return;
        parts [i] = p;
        p = nul + 1;
    }
    uint64_t value = nd_key_get_u64 (data, 0);
    if (!*parts [0]) {
        s_add (s_child (report, "totals"), parts [4], value);
        return;
    }
    json_t *variant = s_child (s_child (s_child (report, "journeys"), parts [0]), parts [1]);
    json_t *group = s_child (variant, "group");
    if (*parts [2]) {
        json_t *step = s_child (s_child (s_child (variant, "steps"), parts [2]),
                                *parts [3] ? parts [3] : "-");
        s_add (step, parts [4], value);
        if (*parts [3] || streq (parts [4], "held"))
            s_add (group, parts [4], value);        //  sent, delivered... summed per variant
    }
    else
        s_add (group, parts [4], value);
}

static json_t *s_read (MDB_txn *txn, MDB_dbi dbi)
{
    json_t *report = json_pack ("{s:{}, s:{}}", "totals", "journeys");
    MDB_cursor *cursor;
    MDB_val key, data;
    if (mdb_cursor_open (txn, dbi, &cursor) == 0) {
        for (int rc = mdb_cursor_get (cursor, &key, &data, MDB_FIRST); rc == 0;
             rc = mdb_cursor_get (cursor, &key, &data, MDB_NEXT))
            s_counter (report, &key, &data);
        mdb_cursor_close (cursor);
    }
    return report;
}

/* ---------------------------------------------------------- compute -- */

static double s_get (json_t *object, const char *metric)
{
    return (double) json_integer_value (json_object_get (object, metric));
}

//  conv% per variant, and uplift over the journey's holdout.
static void s_compute (json_t *report)
{
    const char *name;
    json_t *journey;
    json_object_foreach (json_object_get (report, "journeys"), name, journey) {
        json_t *holdout = json_object_get (json_object_get (journey, "holdout"), "group");
        double base_entered = s_get (holdout, "entered");
        double base = base_entered > 0 ? s_get (holdout, "converted") / base_entered : -1;
        const char *vname;
        json_t *variant;
        json_object_foreach (journey, vname, variant) {
            json_t *group = s_child (variant, "group");
            double entered = s_get (group, "entered");
            double rate = entered > 0 ? s_get (group, "converted") / entered : 0;
            json_object_set_new (group, "conversion_rate", json_real (rate));
            json_object_set_new (group, "revenue_total", json_real (s_get (group, "revenue") / 100));
            if (base >= 0 && !streq (vname, "holdout") && entered > 0) {
                json_object_set_new (group, "uplift_pp", json_real ((rate - base) * 100));
                if (base > 0)
                    json_object_set_new (group, "uplift_relative", json_real (rate / base - 1));
            }
        }
    }
}

/* ------------------------------------------------------------ print -- */

static void s_print_group (const char *journey, const char *variant, json_t *group)
{
    double failed = s_get (group, "failed") + s_get (group, "bounced") + s_get (group, "unreachable");
    printf ("%-20s %-10s %8.0f %7.0f %6.0f %7.0f %6.0f %6.0f %6.0f %6.1f%% %11.2f",
            journey, *variant ? variant : "-", s_get (group, "entered"), s_get (group, "sent"),
            s_get (group, "held"), s_get (group, "delivered"), s_get (group, "clicked"), failed,
            s_get (group, "converted"),
            json_real_value (json_object_get (group, "conversion_rate")) * 100,
            s_get (group, "revenue") / 100);
    json_t *pp = json_object_get (group, "uplift_pp"), *rel = json_object_get (group, "uplift_relative");
    if (pp && rel)
        printf ("  %+.1f pp (%+.0f%%)", json_real_value (pp), json_real_value (rel) * 100);
    else
    if (pp)
        printf ("  %+.1f pp", json_real_value (pp));
    printf ("\n");
}

static void s_print_steps (json_t *variant)
{
    const char *step_name, *channel_name, *metric;
    json_t *step, *channel, *value;
    json_object_foreach (json_object_get (variant, "steps"), step_name, step)
        json_object_foreach (step, channel_name, channel) {
            printf ("    %-18s %-6s", step_name, channel_name);
            json_object_foreach (channel, metric, value)
                printf ("  %s=%lld", streq (metric, "attributed-revenue") ? "attributed_revenue" : metric,
                        (long long) json_integer_value (value));
            printf ("\n");
        }
}

static void s_print (json_t *report, bool steps)
{
    json_t *totals = json_object_get (report, "totals");
    printf ("as of %s (%s clock)\n", json_string_value (json_object_get (report, "as_of")),
            json_string_value (json_object_get (report, "clock")));
    printf ("sent %.0f, orders credited to a message %.0f, codes issued %.0f\n\n", s_get (totals, "sent"),
            s_get (totals, "conversions"), s_get (totals, "codes-issued"));
    printf ("%-20s %-10s %8s %7s %6s %7s %6s %6s %6s %7s %11s  %s\n", "journey", "variant",
            "entered", "sent", "held", "deliv", "click", "fail", "conv", "conv%", "revenue",
            "uplift vs holdout");
    const char *name, *vname;
    json_t *journey, *variant;
    json_object_foreach (json_object_get (report, "journeys"), name, journey)
        json_object_foreach (journey, vname, variant) {
            s_print_group (name, vname, json_object_get (variant, "group"));
            if (steps)
                s_print_steps (variant);
        }
}

int main (int argc, char **argv)
{
    nd_version_arg (argc, argv, "nd-report");
    nd_check_arg (argc, argv, "nd-report");
    report_args_t args;
    if (s_args (argc, argv, &args))
        return EX_USAGE;
    char *error = NULL;
    MDB_dbi dbi;
    nd_state_t *state = nd_state_open (args.config, args.stage, args.state, &error);
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
    json_t *report = s_read (nd_state_txn (state), dbi);
    //  On the event clock (a replay) the report is as of the event time
    //  the scheduler has reached, not of today
    bool event;
    char stamp [32];
    int64_t now = nd_state_now (state, &event);
    json_object_set_new (report, "as_of", json_string (nd_time_format (now, stamp)));
    json_object_set_new (report, "clock", json_string (event ? "event" : "wall"));
    nd_state_destroy (&state);
    s_compute (report);
    if (args.json) {
        char *text = json_dumps (report, JSON_COMPACT);
        printf ("%s\n", text);
        free (text);
    }
    else
        s_print (report, args.steps);
    json_decref (report);
    return 0;
}
