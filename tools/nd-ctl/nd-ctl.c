/*  nd-ctl - asks a running nudge stage for its stats or health.

    NAME
        nd-ctl - query a stage's control socket

    SYNOPSIS
        nd-ctl [-c CONFIG] [--cert FILE] [-t MS] STAGE-OR-ENDPOINT [stats|health|pause|resume|COMMAND]
        nd-ctl --help

    DESCRIPTION
        Sends one command (default "stats") to the stage's control socket, a
        ZeroMQ REP socket, and prints the stage's one-frame JSON answer on
        standard output. The command is sent upper-cased: STATS, HEALTH,
        PAUSE (the stage stops reading its inputs, which wait on disk
        upstream; its timers, HTTP endpoints and sends go on) and RESUME.

        An argument containing "://" is an endpoint; anything else is a
        stage name whose "ctl" endpoint is read from the pipeline file.
        Relative ipc:// paths are relative to the directory nd-ctl runs in.

    OPTIONS
        -c, --config FILE   pipeline file (default conf/pipeline.zpl)
            --cert FILE     the operator's CURVE keypair (nd-cert's NAME.secret),
                            for a stage with option "curve"; its NAME.pub must
                            be in the stage's curve-clients directory
        -t, --timeout MS    how long to wait for the answer (default 3000)
        -h, --help          this text

    EXIT STATUS
        0 when the stage answered; for "health", only when the answer does
        not say otherwise ("ok": false, or a "status" other than "ok").
        1 when the stage is not there, did not answer in time (the reason
        on one line) or refused the command ({"error": ...}); 2 on usage
        errors; 3 when the health answer says unhealthy.
*/
#include <czmq.h>
#include <getopt.h>
#include <jansson.h>
#include "../common/nd_pipefile.h"
#include "nd.h"

typedef struct {
    const char *config;
    const char *target;         /* stage or endpoint */
    const char *cert;           /* CURVE keypair file, or NULL */
    char command [32];          /* upper-cased */
    long timeout;               /* ms */
} ctl_args_t;

static const char *s_usage =
    "usage: nd-ctl [-c CONFIG] [--cert FILE] [-t MS] STAGE-OR-ENDPOINT [stats|health|pause|resume]\n"
    "Asks a stage's control socket and prints its JSON answer.\n"
    "  -c, --config FILE   pipeline file (default conf/pipeline.zpl)\n"
    "      --cert FILE     your CURVE keypair (nd-cert), for a stage with \"curve\"\n"
    "  -t, --timeout MS    wait at most MS ms for the answer (default 3000)\n"
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
s_parse_args (int argc, char **argv, ctl_args_t *args)
{
    static const struct option options [] = {
        { "config",  required_argument, NULL, 'c' },
        { "timeout", required_argument, NULL, 't' },
        { "cert",    required_argument, NULL, 'C' },
        { "help",    no_argument,       NULL, 'h' },
        { NULL, 0, NULL, 0 }
    };
    *args = (ctl_args_t) { .config = "conf/pipeline.zpl", .command = "STATS", .timeout = 3000 };
    int option;
    while ((option = getopt_long (argc, argv, "c:t:h", options, NULL)) != -1) {
        char *end = NULL;
        if (option == 'h')
            return fputs (s_usage, stdout), 1;
        else
        if (option == 'c')
            args->config = optarg;
        else
        if (option == 'C')
            args->cert = optarg;
        else
        if (option == 't' && ((args->timeout = strtol (optarg, &end, 10)) <= 0 || *end))
            return fprintf (stderr, "nd-ctl: --timeout wants milliseconds, not '%s'\n", optarg), 2;
        else
        if (option == '?')
            return fprintf (stderr, "nd-ctl: try 'nd-ctl --help'\n"), 2;
    }
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
    char *answer = NULL, *error = NULL;
    *why = NULL;
    if (nd_pipefile_secure (zsock_resolve (req), args->target, curve_public, args->cert, &error)) {
        fprintf (stderr, "nd-ctl: %s\n", error);
        free (error);
        *why = "";
    }
    else
    if (zsock_connect (req, "%s", endpoint) == -1)
        *why = zmq_strerror (zmq_errno ());
    else
    if (zstr_send (req, args->command) == -1)
        *why = "cannot send";
    else {
        zmq_pollitem_t item = { zsock_resolve (req), 0, ZMQ_POLLIN, 0 };
        if (zmq_poll (&item, 1, args->timeout) == 1)
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

int
main (int argc, char **argv)
{
    nd_version_arg (argc, argv, "nd-ctl");
    ctl_args_t args;
    int rc = s_parse_args (argc, argv, &args);
    if (rc)
        return rc == 1? 0: 2;
    char *error = NULL, *curve_public = NULL;
    char *endpoint = nd_pipefile_target_curve (args.config, args.target, "ctl",
                                               &curve_public, &error);
    if (!endpoint) {
        fprintf (stderr, "nd-ctl: %s\n", error);
        free (error);
        return 1;
    }
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
            fprintf (stderr, "nd-ctl: %s: no answer in %ld ms\n", who, args.timeout);
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
