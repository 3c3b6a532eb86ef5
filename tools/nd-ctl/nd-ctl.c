/*  nd-ctl - asks a running nudge stage for its stats or health.

    NAME
        nd-ctl - query a stage's control socket

    SYNOPSIS
        nd-ctl [-c CONFIG] [--cert FILE] [-t MS] STAGE-OR-ENDPOINT [stats|health|pause|resume|reload|COMMAND]
        nd-ctl [-c CONFIG] [--cert FILE] [-t MS] --metrics
        nd-ctl --help

    DESCRIPTION
        Sends one command (default "stats") to the stage's control socket, a
        ZeroMQ REP socket, and prints the stage's one-frame JSON answer on
        standard output. The command is sent upper-cased: STATS, HEALTH,
        PAUSE (the stage stops reading its inputs, which wait on disk
        upstream; its timers, HTTP endpoints and sends go on), RESUME and
        RELOAD (as SIGHUP: the stage reads its journeys, segments or
        templates again; {"error": ...} and exit 1 when a file is bad, and
        the stage runs on with what it had).

        With --metrics it asks every stage of the pipeline file for STATS
        and HEALTH and prints them as Prometheus / OpenMetrics text, for a
        node exporter's textfile collector or a scrape through a small
        wrapper: nudge_up and nudge_healthy per stage, every counter of
        STATS as nudge_NAME{stage="..."} (an object of counters as
        nudge_NAME{stage,key}), each input's counters with input="..."
        and its lag behind its upstream's journal (nudge_input_lag).

        An argument containing "://" is an endpoint; anything else is a
        stage name whose "ctl" endpoint is read from the pipeline file.
        Relative ipc:// paths are relative to the directory nd-ctl runs in.

    OPTIONS
        -c, --config FILE   pipeline file (default conf/pipeline.zpl)
            --cert FILE     the operator's CURVE keypair (nd-cert's NAME.secret),
                            for a stage with option "curve"; its NAME.pub must
                            be in the stage's curve-clients directory
        -t, --timeout MS    how long to wait for the answer (default 3000)
            --check         check the pipeline file (-c) and exit
        -h, --help          this text

    EXIT STATUS
        0 when the stage answered; for "health", only when the answer does
        not say otherwise ("ok": false, or a "status" other than "ok").
        1 when the stage is not there, did not answer in time (the reason
        on one line) or refused the command ({"error": ...}); 64 on usage
        errors; 3 when the health answer says unhealthy.
*/
#include <czmq.h>
#include <getopt.h>
#include <sysexits.h>
#include <jansson.h>
#include "nd_pipefile.h"
#include "nd_tool.h"
#include "nd.h"

typedef struct {
    nd_tool_args_t tool;        /* -c, --cert, -t (ms) */
    const char *target;         /* stage or endpoint */
    char command [32];          /* upper-cased */
    bool metrics;               /* every stage's STATS as metrics text */
} ctl_args_t;

static const char *s_usage =
    "usage: nd-ctl [-c CONFIG] [--cert FILE] [-t MS] STAGE-OR-ENDPOINT [stats|health|pause|resume|reload]\n"
    "       nd-ctl [-c CONFIG] [--cert FILE] [-t MS] --metrics\n"
    "Asks a stage's control socket and prints its JSON answer; with --metrics,\n"
    "every stage's STATS and HEALTH as Prometheus text metrics.\n"
    "  -c, --config FILE   pipeline file (default conf/pipeline.zpl)\n"
    "      --cert FILE     your CURVE keypair (nd-cert), for a stage with \"curve\"\n"
    "  -t, --timeout MS    wait at most MS ms for the answer (default 3000)\n"
    "      --check         check the pipeline file (-c) and exit: 0 good, 78 not\n"
    "  -h, --help          this text\n"
    "Exit 1 if the stage does not answer or refuses, 3 if health says unhealthy.\n";

static int
s_set_command (ctl_args_t *args, const char *word)
{
    size_t size = strlen (word);
    if (size == 0 || size >= sizeof args->command)
        return -1;
    for (size_t i = 0; i <= size; i++) {
        if (word [i] && !isalpha ((unsigned char) word [i]) && word [i] != '-')
            return -1;
        args->command [i] = (char) toupper ((unsigned char) word [i]);
    }
    return 0;
}

/*  Returns 0 to run, 1 when --help was shown, 2 on a usage error.       */
static int
s_parse_args (int argc, char **argv, void *args_)
{
    static const struct option options [] = {
        ND_TOOL_CONFIG, ND_TOOL_TIMEOUT, ND_TOOL_CERT,
        { "metrics", no_argument,       NULL, 'M' },
        ND_TOOL_HELP,
        { NULL, 0, NULL, 0 }
    };
    ctl_args_t *args = (ctl_args_t *) args_;
    *args = (ctl_args_t) { .tool = { "nd-ctl", s_usage, "conf/pipeline.zpl", NULL, 3000 },
                           .command = "STATS" };
    int option;
    while ((option = getopt_long (argc, argv, "c:t:h", options, NULL)) != -1) {
        int rc = nd_tool_option (&args->tool, option, optarg);
        if (rc > 0)
            return rc;
        if (option == 'M')
            args->metrics = true;
    }
    if (args->metrics && optind == argc)
        return 0;
    if (args->metrics)
        return fprintf (stderr, "nd-ctl: --metrics asks every stage of the pipeline file; "
                        "name none\n"), 2;
    if (optind >= argc || argc - optind > 2)
        return fprintf (stderr, "nd-ctl: want STAGE-OR-ENDPOINT [stats|health|pause|resume]; try 'nd-ctl --help'\n"), 2;
    args->target = argv [optind];
    if (optind + 1 < argc && s_set_command (args, argv [optind + 1]) == -1)
        return fprintf (stderr, "nd-ctl: '%s' is not a command (stats, health, pause, resume)\n", argv [optind + 1]), 2;
    return 0;
}

/*  Asks once. Returns the answer (the caller's) or NULL with *why set.  */
static char *
s_ask (const char *endpoint, const char *curve_public, const ctl_args_t *args, const char **why)
{
    zsock_t *req = zsock_new (ZMQ_REQ);
    //  A stage that never answers must not hold nd-ctl at exit.
    zsock_set_linger (req, 0);
    char *answer = NULL;
    *why = NULL;
    if (nd_tool_secure (&args->tool, zsock_resolve (req), args->target, curve_public))
        *why = "";
    else
    if (zsock_connect (req, "%s", endpoint) == -1)
        *why = zmq_strerror (zmq_errno ());
    else
    if (zstr_send (req, args->command) == -1)
        *why = "cannot send";
    else {
        zmq_pollitem_t item = { zsock_resolve (req), 0, ZMQ_POLLIN, 0 };
        if (zmq_poll (&item, 1, args->tool.timeout) == 1)
            answer = zstr_recv (req);
        if (!answer)
            *why = zsys_interrupted? "interrupted": "no answer";
    }
    zsock_destroy (&req);
    return answer;
}

/*  The exit status tells scripts and monitoring what the answer said: 1
    for a refused command ({"error": ...}), 3 for a health answer that is
    not ok ({"ok": false} or a "status" other than "ok"), else 0.         */
static int
s_verdict (const char *command, const char *answer)
{
    json_t *reply = json_loads (answer, 0, NULL);
    const char *error = json_string_value (json_object_get (reply, "error"));
    const char *status = json_string_value (json_object_get (reply, "status"));
    bool unhealthy = json_is_false (json_object_get (reply, "ok"))
                  || (status && !streq (status, "ok"));
    int rc = error? 1: streq (command, "HEALTH") && unhealthy? 3: 0;
    json_decref (reply);
    return rc;
}

/* --------------------------------------------------------------- metrics */

//  A name part as Prometheus allows: [a-zA-Z0-9_], others become '_'.
static void
s_metric_name (char *out, size_t size, const char *prefix, const char *part)
{
    snprintf (out, size, "%s%s%s", prefix, *prefix ? "_" : "", part);
    for (char *c = out; *c; c++)
        if (!isalnum ((unsigned char) *c) && *c != '_')
            *c = '_';
}

//  A label value, escaped as the text format wants (\, ", newline).
static void
s_label (const char *value)
{
    for (const char *c = value; *c; c++)
        if (*c == '\\' || *c == '"')
            printf ("\\%c", *c);
        else
        if (*c == '\n')
            printf ("\\n");
        else
            putchar (*c);
}

static void
s_sample (const char *name, const char *stage, const char *label, const char *value_of,
          const json_t *value)
{
    printf ("nudge_%s{stage=\"", name);
    s_label (stage);
    if (label) {
        printf ("\",%s=\"", label);
        s_label (value_of);
    }
    if (json_is_boolean (value))
        printf ("\"} %d\n", json_is_true (value));
    else
    if (json_is_integer (value))
        printf ("\"} %lld\n", (long long) json_integer_value (value));
    else
        printf ("\"} %.17g\n", json_number_value (value));
}

//  One stage's STATS as samples: numbers at the top by their own name;
//  an object of numbers (the outbox's states, members per segment) as one
//  metric with key="..."; inputs and journal consumers, which are keyed
//  by stage names, as input="..." and consumer="...".
static void
s_samples (const char *stage, const char *prefix, json_t *stats, int depth)
{
    const char *key;
    json_t *value;
    json_object_foreach (stats, key, value) {
        char name [160];
        if (json_is_number (value) || json_is_boolean (value)) {
            if (depth == 0) {
                s_metric_name (name, sizeof name, prefix, key);
                s_sample (name, stage, NULL, NULL, value);
            }
            else
                s_sample (prefix, stage, "key", key, value);
        }
        else
        if (json_is_object (value) && (streq (key, "inputs") || streq (key, "consumers"))) {
            const char *who;
            json_t *counters;
            json_object_foreach (value, who, counters) {
                const char *counter;
                json_t *number;
                json_object_foreach (counters, counter, number)
                    if (json_is_number (number)) {
                        char group [64];
                        s_metric_name (group, sizeof group, prefix,
                                       streq (key, "inputs") ? "input" : "consumer");
                        s_metric_name (name, sizeof name, group, counter);
                        s_sample (name, stage, streq (key, "inputs") ? "input" : "consumer",
                                  who, number);
                    }
            }
        }
        else
        if (json_is_object (value) && depth < 3) {
            s_metric_name (name, sizeof name, prefix, key);
            s_samples (stage, name, value, depth + 1);
        }
    }
}

//  Every stage of the pipeline file, asked for STATS and HEALTH; a stage
//  that does not answer is nudge_up 0. Lag: how far each input's position
//  is behind its upstream's journal head, from the two stages' answers.
static int
s_metrics (ctl_args_t *args)
{
    char *error = NULL;
    nd_pipefile_t *pipeline = nd_pipefile_load (args->tool.config, &error);
    if (!pipeline)
        return nd_tool_fail ("nd-ctl", error);
    size_t count = nd_pipefile_size (pipeline);
    json_t *all = json_object ();
    printf ("# nudge stages from %s\n", args->tool.config);
    for (size_t i = 0; i < count; i++) {
        const char *stage = nd_pipefile_stage (pipeline, i);
        char *curve_public = NULL;
        char *endpoint = nd_pipefile_target_curve (args->tool.config, stage, "ctl", &curve_public, &error);
        json_t *stats = NULL;
        int health = 0;
        if (endpoint && !nd_pipefile_ipc_absent (endpoint)) {
            const char *why;
            args->target = stage;
            strcpy (args->command, "STATS");
            char *answer = s_ask (endpoint, curve_public, args, &why);
            stats = answer ? json_loads (answer, 0, NULL) : NULL;
            zstr_free (&answer);
            strcpy (args->command, "HEALTH");
            answer = stats ? s_ask (endpoint, curve_public, args, &why) : NULL;
            health = answer && s_verdict ("HEALTH", answer) == 0;
            zstr_free (&answer);
        }
        zstr_free (&error);
        zstr_free (&endpoint);
        zstr_free (&curve_public);
        printf ("nudge_up{stage=\"");
        s_label (stage);
        printf ("\"} %d\nnudge_healthy{stage=\"", stats != NULL);
        s_label (stage);
        printf ("\"} %d\n", health);
        if (stats) {
            s_samples (stage, "", stats, 0);
            json_object_set_new (all, stage, stats);
        }
    }
    const char *stage;
    json_t *stats;
    json_object_foreach (all, stage, stats) {
        const char *upstream;
        json_t *input;
        json_object_foreach (json_object_get (stats, "inputs"), upstream, input) {
            json_t *head = json_object_get (json_object_get (json_object_get (all, upstream),
                                                             "journal"), "head");
            json_t *position = json_object_get (input, "position");
            if (json_is_integer (head) && json_is_integer (position)) {
                json_t *lag = json_integer (json_integer_value (head) - json_integer_value (position));
                s_sample ("input_lag", stage, "input", upstream, lag);
                json_decref (lag);
            }
        }
    }
    json_decref (all);
    nd_pipefile_destroy (&pipeline);
    return 0;
}

int
main (int argc, char **argv)
{
    ctl_args_t args;
    nd_tool_start (argc, argv, "nd-ctl", s_parse_args, &args);
    if (args.metrics)
        return s_metrics (&args);
    char *curve_public = NULL;
    char *endpoint = nd_tool_endpoint (&args.tool, args.target, "ctl", &curve_public);
    if (!endpoint)
        return 1;
    int rc;
    const char *why = NULL;
    char *answer = NULL;
    //  Over ipc a missing socket file means nothing listens: say so now
    //  rather than after the timeout.
    if (nd_pipefile_ipc_absent (endpoint))
        why = "not running (no socket)";
    else
        answer = s_ask (endpoint, curve_public, &args, &why);
    if (answer) {
        size_t size = strlen (answer);
        printf ("%s%s", answer, size && answer [size - 1] == '\n'? "": "\n");
        rc = s_verdict (args.command, answer);
    }
    else {
        char *who = streq (args.target, endpoint)? strdup (endpoint)
                  : zsys_sprintf ("%s (%s)", args.target, endpoint);
        if (!*why)
            ;                   //  already said
        else
        if (streq (why, "no answer"))
            fprintf (stderr, "nd-ctl: %s: no answer in %ld ms\n", who, args.tool.timeout);
        else
            fprintf (stderr, "nd-ctl: %s: %s\n", who, why);
        free (who);
        rc = 1;
    }
    zstr_free (&answer);
    free (curve_public);
    free (endpoint);
    return rc;
}
