/*  nd-codes - checks the discount codes the scheduler issued.

    NAME
        nd-codes - is this discount code real, unused and unexpired?

    SYNOPSIS
        nd-codes [-c CONFIG] [-n STAGE] [-s DIR] [--at TIME] [--json] CODE...
        nd-codes [-c CONFIG] [-n STAGE] [-s DIR] --list

    DESCRIPTION
        Looks each CODE up in the scheduler's state (read-only; the
        scheduler may be running) and prints one line per code:

            CART-1YST-KPNS  valid  10% off until 2026-03-05T12:06:00.000Z
                            (user v-1, abandoned-cart/reminder-2)

        The status is valid, expired (past its expiry), redeemed (an
        order named it: "coupon" in Order Completed) or unknown. Codes
        are matched without regard to case or surrounding blanks. --json
        prints the stored record with "status" added, one object a line.
        --list prints every code the scheduler has issued, as JSON lines.

    OPTIONS
        -c, --config FILE   pipeline file (default conf/pipeline.zpl)
        -n, --name STAGE    the scheduler's section in it (default scheduler)
        -s, --state DIR     read this LMDB directory instead
            --at TIME       judge expiry at TIME (ISO 8601), not now; now is
                            the scheduler's event time when it runs on the
                            event clock (a replay's codes expire in its time)
            --json          JSON lines
            --list          every code
            --check         check the pipeline file (-c) and exit
        -h, --help          this text

    EXIT STATUS
        0 if every code is valid, 1 if any is not, 2 on a usage or state
        error.                                                          */
#include <ctype.h>
#include <stdint.h>
#include <czmq.h>
#include <getopt.h>
#include <sysexits.h>
#include <jansson.h>
#include "nd_tool.h"
#include "nd.h"
#include "nd_pipefile.h"
#include "nd_state.h"

typedef struct {
    nd_tool_args_t tool;        //  -c
    const char *stage;
    const char *state;
    int64_t at;
    bool json;
    bool list;
} codes_args_t;

static const char *s_usage =
    "usage: nd-codes [-c CONFIG] [-n STAGE] [-s DIR] [--at TIME] [--json] CODE...\n"
    "       nd-codes [-c CONFIG] [-n STAGE] [-s DIR] --list\n"
    "Checks discount codes the scheduler issued: valid, expired, redeemed or unknown.\n"
    "  -c, --config FILE   pipeline file (default conf/pipeline.zpl)\n"
    "  -n, --name STAGE    the scheduler's section (default scheduler)\n"
    "  -s, --state DIR     read this LMDB directory instead\n"
    "      --at TIME       judge expiry at TIME (ISO 8601), not now (the\n                      scheduler's event time on the event clock)\n"
    "      --json          print JSON lines\n"
    "      --list          print every issued code\n"
    "      --check         check the pipeline file (-c) and exit: 0 good, 78 not\n"
    "  -h, --help          this text\n"
    "Exit status: 0 all valid, 1 any not valid, 2 error. See nd-codes(1).\n";

/*  Returns 0 to run, 1 when --help was shown, 2 on a usage error.       */
static int s_args (int argc, char **argv, void *args_)
{
    static const struct option options [] = {
        ND_TOOL_CONFIG, { "name", required_argument, NULL, 'n' },
        { "state", required_argument, NULL, 's' }, { "at", required_argument, NULL, 'a' },
        { "json", no_argument, NULL, 'j' }, { "list", no_argument, NULL, 'l' },
        ND_TOOL_HELP, { NULL, 0, NULL, 0 } };
    codes_args_t *args = (codes_args_t *) args_;
    *args = (codes_args_t) { { "nd-codes", s_usage, "conf/pipeline.zpl", NULL, 0 }, "scheduler",
                             NULL, INT64_MIN, false, false };
    int option;
    while ((option = getopt_long (argc, argv, "c:n:s:h", options, NULL)) != -1) {
        int rc = nd_tool_option (&args->tool, option, optarg);
        if (rc > 0)
            return rc;
        switch (option) {
            case 'n': args->stage = optarg; break;
            case 's': args->state = optarg; break;
            case 'j': args->json = true; break;
            case 'l': args->list = true; break;
            case 'a':
                if (nd_time_parse (optarg, &args->at) == 0)
                    break;
                fprintf (stderr, "nd-codes: --at: not an ISO 8601 time: %s\n", optarg);
                return 2;
        }
    }
    if (optind == argc && !args->list)
        return fprintf (stderr, "nd-codes: want a CODE or --list; try 'nd-codes --help'\n"), 2;
    return 0;
}

static const char *s_status (json_t *record, int64_t at)
{
    if (!record)
        return "unknown";
    if (json_object_get (record, "redeemed"))
        return "redeemed";
    return json_integer_value (json_object_get (record, "expires_ms")) <= at ? "expired" : "valid";
}

static void s_print (const char *code, json_t *record, const char *status, bool as_json)
{
    if (as_json) {
        json_t *line = record ? json_incref (record) : json_pack ("{s:s}", "code", code);
        json_object_set_new (line, "status", json_string (status));
        char *text = json_dumps (line, JSON_COMPACT);
        printf ("%s\n", text);
        free (text);
        json_decref (line);
    }
    else
    if (!record)
        printf ("%s  unknown\n", code);
    else
        printf ("%s  %s  %lld%% off until %s  (user %s, %s/%s)\n", code, status,
                (long long) json_integer_value (json_object_get (record, "percent")),
                json_string_value (json_object_get (record, "expires")),
                json_string_value (json_object_get (record, "user")),
                json_string_value (json_object_get (record, "journey")),
                json_string_value (json_object_get (record, "step")));
}

//  "  cart-1yst-kpns " -> "CART-1YST-KPNS"
static void s_normalize (const char *in, char *out, size_t size)
{
    while (isspace ((unsigned char) *in))
        in++;
    size_t n = 0;
    for (; *in && n + 1 < size; in++)
        if (!isspace ((unsigned char) *in))
            out [n++] = (char) toupper ((unsigned char) *in);
    out [n] = 0;
}

static json_t *s_lookup (MDB_txn *txn, MDB_dbi dbi, const char *code)
{
    nd_key_t key;
    nd_key_init (&key);
    nd_key_str (&key, code);
    MDB_val k = nd_key_val (&key), data;
    if (key.overflow || mdb_get (txn, dbi, &k, &data))
        return NULL;
    return json_loadb (data.mv_data, data.mv_size, 0, NULL);
}

static int s_list (MDB_txn *txn, MDB_dbi dbi, const codes_args_t *args)
{
    MDB_cursor *cursor;
    MDB_val key, data;
    if (mdb_cursor_open (txn, dbi, &cursor))
        return 2;
    for (int rc = mdb_cursor_get (cursor, &key, &data, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get (cursor, &key, &data, MDB_NEXT)) {
        json_t *record = json_loadb (data.mv_data, data.mv_size, 0, NULL);
        if (record)
            s_print (json_string_value (json_object_get (record, "code")), record,
                     s_status (record, args->at), true);
        json_decref (record);
    }
    mdb_cursor_close (cursor);
    return 0;
}

int main (int argc, char **argv)
{
    codes_args_t args;
    nd_tool_start (argc, argv, "nd-codes", s_args, &args);
    char *error = NULL;
    MDB_dbi dbi;
    nd_state_t *state = nd_state_open (args.tool.config, args.stage, args.state, &error);
    if (!state || nd_state_dbi (state, "codes", &dbi, &error)) {
        fprintf (stderr, "nd-codes: %s\n", error);
        free (error);
        nd_state_destroy (&state);
        return 2;
    }
    bool event;
    int64_t now = nd_state_now (state, &event);
    if (args.at == INT64_MIN)
        args.at = now;          //  a replay's codes expire in its own time
    int rc = args.list ? s_list (nd_state_txn (state), dbi, &args) : 0;
    for (int i = optind; !args.list && i < argc; i++) {
        char code [64];
        s_normalize (argv [i], code, sizeof code);
        json_t *record = s_lookup (nd_state_txn (state), dbi, code);
        const char *status = s_status (record, args.at);
        s_print (code, record, status, args.json);
        rc = streq (status, "valid") ? rc : 1;
        json_decref (record);
    }
    nd_state_destroy (&state);
    return rc;
}
