/*  tap - prints a nudge stage's live traffic as JSON lines.

    NAME
        tap - watch what a stage publishes, one JSON object per line

    SYNOPSIS
        tap [-c CONFIG] [--cert FILE] [-n COUNT] [-t MS] STAGE-OR-ENDPOINT [TOPIC-PREFIX]
        tap --help

    DESCRIPTION
        Subscribes to a stage's PUB socket and prints every message whose
        topic starts with TOPIC-PREFIX (default: all) as one compact line

            {"topic":"cart.abandoned","body":{"id":"...","user":"...",...}}

        flushed as it arrives, so `tap sessionizer cart. | jq` works live.
        A body that is not valid JSON is printed as a JSON string, with
        any invalid UTF-8 replaced by U+FFFD; tap never stops on bad input.

        An argument containing "://" is an endpoint (ipc://PATH,
        tcp://HOST:PORT); anything else is a stage name, whose "pub"
        endpoint is read from the pipeline file. Relative ipc:// paths are
        relative to the directory tap runs in, as for the stages.

        The PUB socket is for watching: a slow tap loses messages, the
        pipeline never waits for it, and messages published before the
        subscription reached the stage (a few milliseconds) are not seen.

    OPTIONS
        -c, --config FILE   pipeline file (default conf/pipeline.zpl)
            --cert FILE     the operator's CURVE keypair (nd-cert's NAME.secret),
                            for a stage with option "curve"; its NAME.pub must
                            be in the stage's curve-clients directory
        -n, --count N       exit after N messages
        -t, --timeout MS    give up after MS milliseconds; exit status 1 if
                            --count messages had not arrived by then
            --check         check the pipeline file (-c) and exit
        -h, --help          this text

    EXIT STATUS
        0 on SIGINT or SIGTERM, after --count messages, or when standard
        output is closed (tap ... | head); 1 on a bad argument, an unknown
        stage, a bad endpoint or a timeout short of --count; 64 on usage.
*/
#include <czmq.h>
#include <getopt.h>
#include <sysexits.h>
#include <jansson.h>
#include "nd_pipefile.h"
#include "nd_tool.h"
#include "nd.h"

typedef struct {
    nd_tool_args_t tool;        /* -c, --cert, -t (ms; 0: none) */
    const char *target;         /* stage or endpoint */
    const char *prefix;
    long count;                 /* 0: no limit */
} tap_args_t;

static const char *s_usage =
    "usage: tap [-c CONFIG] [--cert FILE] [-n COUNT] [-t MS] STAGE-OR-ENDPOINT [TOPIC-PREFIX]\n"
    "Prints a stage's live messages as JSON lines {\"topic\":...,\"body\":...}.\n"
    "  -c, --config FILE   pipeline file (default conf/pipeline.zpl)\n"
    "      --cert FILE     your CURVE keypair (nd-cert), for a stage with \"curve\"\n"
    "  -n, --count N       exit after N messages\n"
    "  -t, --timeout MS    give up after MS ms (exit 1 if --count not reached)\n"
    "      --check         check the pipeline file (-c) and exit: 0 good, 78 not\n"
    "  -h, --help          this text\n"
    "A target containing \"://\" is an endpoint; otherwise a stage name.\n";

static bool
s_parse_number (const char *text, long *value)
{
    char *end = NULL;
    errno = 0;
    *value = strtol (text, &end, 10);
    return errno == 0 && end != text && *end == 0 && *value > 0;
}

/*  Returns 0 to run, 1 when --help was shown, 2 on a usage error.       */
static int
s_parse_args (int argc, char **argv, void *args_)
{
    static const struct option options [] = {
        ND_TOOL_CONFIG,
        { "count",   required_argument, NULL, 'n' },
        ND_TOOL_TIMEOUT, ND_TOOL_CERT, ND_TOOL_HELP,
        { NULL, 0, NULL, 0 }
    };
    tap_args_t *args = (tap_args_t *) args_;
    *args = (tap_args_t) { .tool = { "tap", s_usage, "conf/pipeline.zpl", NULL, 0 }, .prefix = "" };
    int option;
    while ((option = getopt_long (argc, argv, "c:n:t:h", options, NULL)) != -1) {
        int rc = nd_tool_option (&args->tool, option, optarg);
        if (rc > 0)
            return rc;
        if (option == 'n' && !s_parse_number (optarg, &args->count))
            return fprintf (stderr, "tap: --count wants a positive number, not '%s'\n", optarg), 2;
    }
    if (optind >= argc || argc - optind > 2)
        return fprintf (stderr, "tap: want STAGE-OR-ENDPOINT [TOPIC-PREFIX]; try 'tap --help'\n"), 2;
    args->target = argv [optind];
    if (optind + 1 < argc)
        args->prefix = argv [optind + 1];
    return 0;
}

/*  Length of the valid UTF-8 sequence at text (n bytes left), or 0.     */
static size_t
s_utf8_sequence (const unsigned char *text, size_t n)
{
    static const uint32_t least [] = { 0, 0, 0x80, 0x800, 0x10000 };
    size_t size = text [0] < 0x80? 1: (text [0] & 0xE0) == 0xC0? 2:
                  (text [0] & 0xF0) == 0xE0? 3: (text [0] & 0xF8) == 0xF0? 4: 0;
    if (size <= 1 || size > n)
        return size == 1? 1: 0;
    uint32_t code = text [0] & (0x7F >> size);
    for (size_t i = 1; i < size; i++) {
        if ((text [i] & 0xC0) != 0x80)
            return 0;
        code = (code << 6) | (text [i] & 0x3F);
    }
    bool valid = code >= least [size] && code <= 0x10FFFF
              && (code < 0xD800 || code > 0xDFFF);
    return valid? size: 0;
}

/*  A frame as a JSON string; jansson refuses invalid UTF-8, so such bytes
    become U+FFFD: the operator sees the rest of the message.             */
static json_t *
s_json_text (zframe_t *frame)
{
    const unsigned char *data = zframe_data (frame);
    size_t size = zframe_size (frame);
    json_t *text = json_stringn ((const char *) data, size);
    if (text)
        return text;
    char *repaired = (char *) zmalloc (size * 3 + 1);
    size_t length = 0;
    for (size_t at = 0; at < size;) {
        size_t sequence = s_utf8_sequence (data + at, size - at);
        if (sequence) {
            memcpy (repaired + length, data + at, sequence);
            length += sequence;
            at += sequence;
        }
        else {
            memcpy (repaired + length, "\xEF\xBF\xBD", 3);
            length += 3;
            at++;
        }
    }
    text = json_stringn (repaired, length);
    free (repaired);
    return text;
}

static json_t *
s_json_body (zframe_t *frame)
{
    if (!frame)
        return json_null ();
    json_t *body = json_loadb ((const char *) zframe_data (frame), zframe_size (frame),
                               JSON_DECODE_ANY, NULL);
    return body? body: s_json_text (frame);
}

/*  Prints one message as a line. Returns -1 when output failed (errno).  */
static int
s_print_message (zmsg_t *msg, FILE *out)
{
    zframe_t *topic = zmsg_first (msg);
    json_t *line = json_object ();
    json_object_set_new (line, "topic", s_json_text (topic));
    json_object_set_new (line, "body", s_json_body (zmsg_next (msg)));
    int rc = json_dumpf (line, out, JSON_COMPACT);
    json_decref (line);
    if (rc == 0 && fputc ('\n', out) != EOF && fflush (out) == 0)
        return 0;
    return -1;
}

/*  Prints messages until a signal, --count or --timeout. Returns the exit
    status.                                                               */
static int
s_tap (zsock_t *sub, const tap_args_t *args)
{
    int64_t deadline = args->tool.timeout? zclock_mono () + args->tool.timeout: 0;
    long printed = 0;
    while (!zsys_interrupted && (args->count == 0 || printed < args->count)) {
        //  A signal between the check above and the poll would leave us
        //  waiting for traffic; wake each second to look again.
        int64_t wait = deadline? deadline - zclock_mono (): 1000;
        if (wait <= 0)
            break;
        zmq_pollitem_t item = { zsock_resolve (sub), 0, ZMQ_POLLIN, 0 };
        if (zmq_poll (&item, 1, wait > 1000? 1000: (long) wait) <= 0)
            continue;
        zmsg_t *msg = zmsg_recv (sub);
        if (!msg)
            continue;
        int rc = s_print_message (msg, stdout);
        zmsg_destroy (&msg);
        if (rc == -1 && errno == EPIPE)
            return 0;           //  the reader has gone: | head, | jq q
        if (rc == -1)
            return fprintf (stderr, "tap: cannot write: %s\n", strerror (errno)), 1;
        printed++;
    }
    if (args->count && printed < args->count && !zsys_interrupted) {
        fprintf (stderr, "tap: %ld of %ld messages in %ld ms\n", printed, args->count, args->tool.timeout);
        return 1;
    }
    return 0;
}

int
main (int argc, char **argv)
{
    tap_args_t args;
    nd_tool_start (argc, argv, "tap", s_parse_args, &args);
    char *curve_public = NULL;
    char *endpoint = nd_tool_endpoint (&args.tool, args.target, "pub", &curve_public);
    if (!endpoint)
        return 1;
    int rc;
    //  EPIPE instead of death by SIGPIPE, so a closed pipe is a clean exit.
    signal (SIGPIPE, SIG_IGN);
    zsock_t *sub = zsock_new (ZMQ_SUB);
    zsock_set_rcvhwm (sub, 100000);
    zsock_set_subscribe (sub, args.prefix);
    if (nd_tool_secure (&args.tool, zsock_resolve (sub), args.target, curve_public))
        rc = 1;
    else
    if (zsock_connect (sub, "%s", endpoint) == -1) {
        fprintf (stderr, "tap: bad endpoint '%s': %s\n", endpoint, zmq_strerror (zmq_errno ()));
        rc = 1;
    }
    else {
        if (nd_pipefile_ipc_absent (endpoint))
            fprintf (stderr, "tap: nothing at %s yet; waiting for the stage\n", endpoint);
        rc = s_tap (sub, &args);
    }
    zsock_destroy (&sub);
    free (curve_public);
    free (endpoint);
    return rc;
}
