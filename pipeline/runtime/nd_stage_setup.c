/*  nd_stage_setup - from the command line to a stage ready to loop.

    Layer: runtime, the skeleton (nd_stage.c), below the loop, above the
    batch (it reads back what commits wrote: input positions, the clock).
    Arguments, the pipeline file, the LMDB environment and the state in
    it, the links to the upstreams, the sockets. --check walks the same
    reading without opening anything, and --repartition-from stops after
    the state: they stand here with setup because each one reads the
    options exactly as a start does, through the same helpers.            */
#define _GNU_SOURCE
#include <fcntl.h>
#include <getopt.h>
#include <sysexits.h>
#include <sys/stat.h>
#include "nd_private.h"
#include "nd_templates.h"
#include "nd_links.h"

/* --------------------------------------------------------- arguments -- */

static void s_usage (const nd_stage_def_t *def)
{
    printf ("Usage: %s [OPTIONS]\n%s\n\n"
            "  -c, --config FILE     pipeline file (default conf/pipeline.zpl)\n"
            "  -n, --name NAME       this stage's section in it (default %s)\n"
            "      --clock MODE      wall | event (overrides the pipeline file)\n"
            "      --notify-fd N     write a newline to fd N when ready (s6 style)\n"
            "      --check           check the configuration (the pipeline file%s%s) and exit\n"
            "%s"
            "  -h, --help            this text\n"
            "      --version         the program's version\n%s%s\n"
            "Exit status: 0 stopped by SIGTERM or SIGINT, 64 bad arguments, 78 bad\n"
            "configuration (file:line: reason in the log), 1 anything else.\n"
            "%s%s%s"
            "See %s(1) and nudge-pipeline(5).\n", def->name, def->summary, def->name,
            (def->check || def->templates) && def->reloads ? ", " : "",
            (def->check || def->templates) && def->reloads ? def->reloads : "",
            def->person_each ? "      --repartition-from N  move its people from N partitions to what the\n"
                               "                        pipeline file says now, and exit (nd-repartition(1))\n" : "",
            def->selftest ? "      --selftest [-v]   run its class self-tests and exit\n" : "",
            def->options_help ? def->options_help : "",
            def->reload ? "SIGHUP reloads " : "SIGHUP is ignored (nothing to reload)",
            def->reload && def->reloads ? def->reloads : "", def->reload ? "; a bad file is "
            "refused and the stage runs on with the previous ones.\n" : ".\n", def->name);
}

int nd_stage_parse_args (nd_stage_t *stage, int argc, char **argv)
{
    static const struct option options [] = {
        { "config", required_argument, NULL, 'c' },
        { "name", required_argument, NULL, 'n' },
        { "clock", required_argument, NULL, 'k' },
        { "notify-fd", required_argument, NULL, 'f' },
        { "help", no_argument, NULL, 'h' },
        { "version", no_argument, NULL, 'V' },
        { "check", no_argument, NULL, 't' },
        { "repartition-from", required_argument, NULL, 'r' },
        { NULL, 0, NULL, 0 }
    };
    opterr = 0;
    int option;
    while ((option = getopt_long (argc, argv, ":c:n:h", options, NULL)) != -1) {
        switch (option) {
            case 'c': free (stage->config_file); stage->config_file = strdup (optarg); break;
            case 'n': free (stage->name); stage->name = strdup (optarg); break;
            case 'k': free (stage->clock_mode); stage->clock_mode = strdup (optarg); break;
            case 'f': stage->notify_fd = atoi (optarg); break;
            case 't': stage->checking = true; break;
            case 'r': stage->repartition_from = atoi (optarg) > 0 ? atoi (optarg) : -1; break;
            case 'h': s_usage (stage->def); exit (0);
            case 'V': printf ("%s (nudge) %s\n", stage->def->name, ND_VERSION); exit (0);
            default: {
                const char *arg = argv [optind - 1];
                if (stage->def->parse_arg && stage->def->parse_arg (arg, stage->def->args) == 0)
                    break;
                fprintf (stderr, "%s: unknown or incomplete option '%s' (try --help)\n",
                         stage->def->name, arg);
                return -1;
            }
        }
    }
    if (optind < argc) {
        fprintf (stderr, "%s: unexpected argument '%s' (try --help)\n", stage->def->name, argv [optind]);
        return -1;
    }
    return 0;
}

/* ------------------------------------------------------------- setup -- */

static int s_mkdirs (const char *path)
{
    char *copy = strdup (path);
    for (char *p = copy + 1; *p; p++)
        if (*p == '/') {
            *p = 0;
            mkdir (copy, 0700);
            *p = '/';
        }
    int rc = mkdir (copy, 0700) && errno != EEXIST ? -1 : 0;
    free (copy);
    return rc;
}

//  ipc:// endpoints live in a directory that may not exist yet.
static void s_prepare_ipc (const char *endpoint)
{
    if (strncmp (endpoint, "ipc://", 6) == 0) {
        char *dir = strdup (endpoint + 6), *slash = strrchr (dir, '/');
        if (slash) {
            *slash = 0;
            s_mkdirs (dir);
            chmod (dir, 0700);  //  made before us (make run, a test): ours alone too
        }
        free (dir);
    }
}

static int s_bind (zsock_t *sock, const char *endpoint)
{
    s_prepare_ipc (endpoint);
    if (zsock_bind (sock, "%s", endpoint) < 0) {
        nd_log ("cannot bind %s: %s", endpoint, zmq_strerror (zmq_errno ()));
        return -1;
    }
    return 0;
}

//  State made by an older nudge (0644 files in 0755 directories) becomes
//  the service user's alone: it holds addresses, transcripts and push
//  subscriptions.
static void s_make_private (const char *dir)
{
    const char *files [] = { "data.mdb", "lock.mdb", NULL };
    if (chmod (dir, 0700))
        nd_log ("cannot make %s private: %s", dir, strerror (errno));
    for (int i = 0; files [i]; i++) {
        char *path = zsys_sprintf ("%s/%s", dir, files [i]);
        chmod (path, 0600);
        zstr_free (&path);
    }
}

static int s_mapsize (nd_stage_t *stage, uint64_t *mapsize)
{
    if (nd_size_parse (nd_config_get (stage->config, "mapsize", "4G"), mapsize) || *mapsize < 1048576)
        return nd_config_error (stage->config, "mapsize", "not a size such as 4G");
    return 0;
}

static int s_open_env (nd_stage_t *stage)
{
    uint64_t mapsize;
    int64_t sync;
    const char *base = nd_config_get (stage->config, "state", "var/state");
    if (s_mapsize (stage, &mapsize))
        return -1;
    if (nd_stage_option_int (stage, "sync", "1", &sync))
        return -1;
    char *dir = zsys_sprintf ("%s/%s", base, stage->name);
    int rc = s_mkdirs (dir);
    if (rc)
        nd_log ("cannot create state directory %s: %s", dir, strerror (errno));
    if (!rc && (rc = mdb_env_create (&stage->env)) == 0) {
        mdb_env_set_maxdbs (stage->env, 64);
        mdb_env_set_mapsize (stage->env, mapsize);
        rc = mdb_env_open (stage->env, dir, MDB_NOTLS | (sync ? 0 : MDB_NOSYNC), 0600);
        if (rc)
            nd_log ("cannot open state in %s: %s", dir, mdb_strerror (rc));
    }
    if (!rc)
        s_make_private (dir);
    zstr_free (&dir);
    return rc ? -1 : 0;
}


static int s_restore_clock (nd_stage_t *stage, MDB_txn *txn)
{
    nd_key_t key;
    uint64_t saved = 0;
    nd_stage_clock_key (&key);
    if (!nd_clock_is_event (stage->clock) || nd_db_get_u64 (txn, stage->meta, &key, &saved) < 0)
        return nd_clock_is_event (stage->clock) ? -1 : 0;
    nd_clock_advance (stage->clock, (int64_t) saved);
    stage->clock_saved = (int64_t) saved;
    return 0;
}

//  Opens the journal, the stage's own state and the input positions in
//  one transaction, so a stage that fails setup leaves nothing behind.
static int s_open_state (nd_stage_t *stage, zlist_t *inputs, uint64_t *positions)
{
    MDB_txn *txn;
    int rc = mdb_txn_begin (stage->env, NULL, 0, &txn);
    if (rc)
        return nd_db_error (rc, "setup");
    int64_t retain;
    rc = nd_db_open (txn, "meta", &stage->meta) || s_restore_clock (stage, txn)
      || nd_stage_option_int (stage, "retain", "100000", &retain) ? -1 : 0;
    if (rc == 0) {
        zlist_t *consumers = nd_config_consumers (stage->config);
        char *endpoint = nd_config_endpoint (stage->config, stage->name, "out");
        s_prepare_ipc (endpoint);
        stage->outbox = nd_outbox_new (stage->env, txn, endpoint, consumers, (uint64_t) retain,
                                       stage->curve);
        int parts;
        nd_config_partition (stage->config, &parts);
        stage->moves = stage->outbox ? nd_moves_new (txn, parts > 1) : NULL;
        rc = stage->moves ? 0 : -1;
        zstr_free (&endpoint);
        zlist_destroy (&consumers);
    }
    size_t index = 0;
    for (const char *up = (const char *) zlist_first (inputs); rc == 0 && up;
         up = (const char *) zlist_next (inputs), index++) {
        nd_key_t key;
        nd_stage_input_key (&key, up);
        positions [index] = 0;
        rc = nd_db_get_u64 (txn, stage->meta, &key, &positions [index]) < 0 ? -1 : 0;
    }
    if (rc == 0 && stage->def->setup)
        rc = stage->def->setup (stage, txn, &stage->self);
    if (rc == 0)
        rc = mdb_txn_commit (txn) ? -1 : 0;
    else
        mdb_txn_abort (txn);
    return rc;
}

static zlist_t *s_input_names (nd_stage_t *stage)
{
    return nd_config_inputs (stage->config);
}

//  A stage that may not run partitioned refuses "partitions = N". One
//  that keeps people's state needs their moves (nd_moves.c), which start
//  at the collector's router: it reads the collector, or stages
//  partitioned as it is, which pass the moves on.
static int s_clock_inputs (nd_stage_t *stage, zlist_t *names, bool *keeps_time);

static int s_check_partitions (nd_stage_t *stage)
{
    int parts;
    nd_config_partition (stage->config, &parts);
    char reason [300] = "";
    if (parts > 1 && !stage->def->partitioned)
        snprintf (reason, sizeof reason, "%s cannot run partitioned (yet): it keeps state across "
                  "people (README \"Partitioned stages\")", stage->def->name);
    zlist_t *inputs = parts > 1 && stage->def->person_export ? nd_config_inputs (stage->config) : NULL;
    //  Only the inputs that carry time carry the moves; side inputs
    //  (feedback) are routed by their "user" and need none
    bool keeps_time [ND_INPUTS_MAX] = { false };
    if (inputs && (zlist_size (inputs) > ND_INPUTS_MAX || s_clock_inputs (stage, inputs, keeps_time))) {
        zlist_destroy (&inputs);
        return -1;
    }
    size_t index = 0;
    for (const char *up = inputs ? (const char *) zlist_first (inputs) : NULL; up && !*reason;
         up = (const char *) zlist_next (inputs), index++)
        if (keeps_time [index] && streq (nd_config_section_name (stage->config, up), up)
        &&  !streq (nd_config_program (stage->config, up), "collector"))
            snprintf (reason, sizeof reason, "a partitioned %s reads the collector or stages "
                      "partitioned as it is; %s is neither (README \"Partitioned stages\")",
                      stage->def->name, up);
    zlist_destroy (&inputs);
    return *reason ? nd_config_error (stage->config, "partitions", reason) : 0;
}

//  The inputs whose time drives the clock: "clock-inputs", by default the
//  first input. The rest (feedback, side inputs) follow the clock.
static int s_clock_inputs (nd_stage_t *stage, zlist_t *names, bool *keeps_time)
{
    const char *first = (const char *) zlist_first (names);
    if (first)
        first = nd_config_section_name (stage->config, first);
    char *list = strdup (nd_config_get (stage->config, "clock-inputs", first ? first : "")), *save = NULL;
    int rc = 0;
    for (char *name = strtok_r (list, ", ", &save); rc == 0 && name; name = strtok_r (NULL, ", ", &save)) {
        //  An input's partitions all keep time if it does
        bool found = false;
        size_t index = 0;
        for (const char *up = (const char *) zlist_first (names); up;
             up = (const char *) zlist_next (names), index++)
            if (streq (up, name) || streq (nd_config_section_name (stage->config, up), name))
                keeps_time [index] = found = true;
        if (!found)
            rc = nd_config_error (stage->config, "clock-inputs", "names a stage that is not an input");
    }
    free (list);
    //  With none, nothing would ever move the clock, and every message
    //  would wait for it
    bool any = false;
    for (size_t i = 0; i < zlist_size (names); i++)
        any = any || keeps_time [i];
    if (rc == 0 && zlist_size (names) && !any)
        rc = nd_config_error (stage->config, "clock-inputs", "names none of the inputs");
    return rc;
}

//  Another partition of this stage: read for the moves sent here.
static bool s_sibling (nd_stage_t *stage, const char *up)
{
    return !streq (up, stage->name) && streq (nd_config_section_name (stage->config, up),
                                              nd_config_section_name (stage->config, stage->name));
}

bool nd_stage_is_sibling (nd_stage_t *stage, const char *link)
{
    return link && s_sibling (stage, link);
}

//  The topics a link asks for, and for a partition reading a stage that
//  has none, or a sibling, its share of the people ("@K/N", nd_link.c).
static char *s_wanted_topics (nd_stage_t *stage, const char *up, const char *topics)
{
    int parts, part = nd_config_partition (stage->config, &parts);
    if (parts == 1 || (!s_sibling (stage, up) && !streq (nd_config_section_name (stage->config, up), up)))
        return strdup (topics);
    return zsys_sprintf ("%s%s@%d/%d", topics, *topics ? " " : "", part, parts);
}

static int s_connect_inputs (nd_stage_t *stage, zlist_t *names, uint64_t *positions)
{
    const char *topics = nd_config_get (stage->config, "topics", "");
    bool keeps_time [ND_INPUTS_MAX] = { false };
    if (s_clock_inputs (stage, names, keeps_time))
        return -1;
    size_t index = 0;
    for (const char *up = (const char *) zlist_first (names); up;
         up = (const char *) zlist_next (names), index++) {
        if (streq (up, stage->name))
            return nd_config_error (stage->config, "input", "a stage cannot read its own output");
        char server_key [ND_CURVE_KEY];
        int curve = nd_curve_upstream (stage->curve, stage->config, up, server_key);
        if (curve < 0)
            return -1;
        char *endpoint = nd_config_endpoint (stage->config, up, "out");
        bool sibling = s_sibling (stage, up);
        char *wanted = s_wanted_topics (stage, up, sibling ? "move.out move.pass" : topics);
        nd_inlink_t *link = nd_inlink_new (up, endpoint, stage->name, positions [index], wanted,
                                           stage->curve, curve ? server_key : NULL);
        zstr_free (&wanted);
        zstr_free (&endpoint);
        if (!link || nd_inputs_add (stage->inputs, link, keeps_time [index] && !sibling, sibling))
            return -1;
    }
    return 0;
}

//  Without CURVE, anyone who reaches a tcp:// port can read the stage's
//  journal under another stage's name, acknowledge what that stage never
//  had, and pause the stage: refused unless the operator says
//  "insecure = yes" (a private network, a test), which the log then says
//  at every start.
int nd_stage_check_exposure (nd_stage_t *stage, const char *option, const char *endpoint)
{
    const char *insecure = nd_config_get (stage->config, "insecure", "no");
    if (!streq (insecure, "yes") && !streq (insecure, "no"))
        return nd_config_error (stage->config, "insecure", "yes or no");
    bool curve = stage->curve || (stage->checking && nd_config_get (stage->config, "curve", NULL));
    if (curve || strncmp (endpoint, "tcp://", 6))
        return 0;
    if (streq (insecure, "no"))
        return nd_config_error (stage->config, option, "tcp:// without curve lets whoever "
                                "reaches the port read and steer the stage: set curve "
                                "(README \"Across hosts\"), or insecure = yes");
    nd_log ("insecure = yes: %s %s has no CURVE: whoever reaches it can read and steer "
            "this stage", option, endpoint);
    return 0;
}

static int s_check_exposure (nd_stage_t *stage)
{
    const char *kinds [] = { "out", "pub", "ctl", NULL };
    int rc = 0;
    for (int i = 0; rc == 0 && kinds [i]; i++) {
        char *endpoint = nd_config_endpoint (stage->config, stage->name, kinds [i]);
        rc = nd_stage_check_exposure (stage, kinds [i], endpoint);
        zstr_free (&endpoint);
    }
    return rc;
}

static int s_bind_sockets (nd_stage_t *stage)
{
    char *pub = nd_config_endpoint (stage->config, stage->name, "pub");
    char *ctl = nd_config_endpoint (stage->config, stage->name, "ctl");
    stage->pub = zsock_new (ZMQ_XPUB);
    stage->control = zsock_new (ZMQ_REP);
    zsock_set_sndhwm (stage->pub, 100000);
    nd_curve_serve (stage->curve, zsock_resolve (stage->pub));
    nd_curve_serve (stage->curve, zsock_resolve (stage->control));
    int rc = s_bind (stage->pub, pub) || s_bind (stage->control, ctl) ? -1 : 0;
    zstr_free (&pub);
    zstr_free (&ctl);
    return rc;
}

//  The clock's mode from --clock or the file, "wall" or "event"; NULL
//  after logging file:line: reason.
static const char *s_clock_mode (nd_stage_t *stage)
{
    const char *mode = stage->clock_mode ? stage->clock_mode
                                         : nd_config_get (stage->config, "clock", "wall");
    if (streq (mode, "wall") || streq (mode, "event"))
        return mode;
    nd_config_error (stage->config, "clock", "must be wall or event");
    return NULL;
}

//  The loop's own options: how often timers run, when an input is stuck.
static int s_loop_options (nd_stage_t *stage)
{
    return nd_stage_option_duration (stage, "timer-interval", "1s", &stage->timer_interval)
        || nd_stage_option_duration (stage, "stall-after", "5m", &stage->stall_after) ? -1 : 0;
}

//  A move.in waits for its move (nd_moves.c).
static bool s_gate (void *arg, const char *topic, const json_t *body)
{
    nd_stage_t *stage = (nd_stage_t *) arg;
    return !stage->moves || nd_moves_ready (stage->moves, topic, body);
}

int nd_stage_setup (nd_stage_t *stage)
{
    nd_log_set_name (stage->name);
    stage->config = nd_config_load (stage->config_file, stage->name, false);
    if (!stage->config)
        return -1;
    const char *mode = s_clock_mode (stage);
    if (!mode)
        return -1;
    stage->clock = nd_clock_new (streq (mode, "event"));
    stage->inputs = nd_inputs_new (streq (mode, "event"));
    nd_inputs_set_gate (stage->inputs, s_gate, stage);
    //  Before setup, so threads a stage starts there can already wake us
    if (pipe2 (stage->wake, O_NONBLOCK | O_CLOEXEC)) {
        nd_log ("cannot create the wake pipe: %s", strerror (errno));
        return -1;
    }
    if (s_loop_options (stage) || s_check_partitions (stage))
        return -1;
    zlist_t *inputs = s_input_names (stage);
    uint64_t positions [ND_INPUTS_MAX];
    int rc = zlist_size (inputs) > ND_INPUTS_MAX
           ? nd_config_error (stage->config, "input", "too many inputs") : 0;
    if (rc == 0)
        //  Unknown options are looked for last: "topics", "pub" and "ctl"
        //  are only read while connecting and binding. The keys and the ZAP
        //  handler come first: no socket may bind before they are in place.
        rc = nd_curve_new (stage->config, &stage->curve) || s_check_exposure (stage)
          || s_open_env (stage) || s_open_state (stage, inputs, positions)
          || s_connect_inputs (stage, inputs, positions) || s_bind_sockets (stage)
          || nd_config_check_unknown (stage->config) ? -1 : 0;
    zlist_destroy (&inputs);
    return rc;
}

/* -------------------------------------------------------- repartition -- */

//  --repartition-from N: the pipeline file and the stage's options as a
//  start reads them, then its people moved to the new partitions, with no
//  socket bound and nothing running.
int nd_stage_repartition (nd_stage_t *stage)
{
    nd_log_set_name (stage->name);
    stage->config = nd_config_load (stage->config_file, stage->name, false);
    if (!stage->config)
        return EX_CONFIG;
    const char *mode = s_clock_mode (stage);
    if (!mode)
        return EX_CONFIG;
    stage->clock = nd_clock_new (streq (mode, "event"));
    if (stage->repartition_from < 0) {
        nd_log ("--repartition-from: the number of partitions the state has now (1 or more)");
        return EX_USAGE;
    }
    return nd_repartition (stage, stage->repartition_from) ? 1 : 0;
}

/* -------------------------------------------------------------- check -- */

//  The stage's CURVE keys as nd_curve_new would read them, without the
//  ZAP handler it starts.
static int s_check_curve (nd_stage_t *stage)
{
    const char *file = nd_config_get (stage->config, "curve", NULL);
    const char *clients = nd_config_get (stage->config, "curve-clients", NULL);
    nd_config_get (stage->config, "curve-public", NULL);
    if (!file)
        return 0;
    char public_key [ND_CURVE_KEY], secret_key [ND_CURVE_KEY], *error = NULL;
    if (nd_curve_read (strncmp (file, "file:", 5) ? file : file + 5, public_key, secret_key, &error)) {
        nd_config_error (stage->config, "curve", error);
        free (error);
        return -1;
    }
    if (!clients)
        return nd_config_error (stage->config, "curve", "curve needs curve-clients, the directory "
                                "of the public keys let in");
    return 0;
}

//  --check: what nd_stage_setup reads before it opens state and sockets, then
//  the stage's own files; nothing is opened, bound or started.
int nd_stage_check (nd_stage_t *stage)
{
    nd_log_set_plain (true);
    nd_log_set_name (stage->name);
    stage->config = nd_config_load (stage->config_file, stage->name, true);
    if (!stage->config)
        return -1;
    //  Each check logs its own error and the next runs still: all of the
    //  runtime's are told at once
    int64_t number;
    uint64_t mapsize;
    s_clock_mode (stage);
    s_loop_options (stage);
    s_check_partitions (stage);
    s_mapsize (stage, &mapsize);
    nd_stage_option_int (stage, "sync", "1", &number);
    nd_stage_option_int (stage, "retain", "100000", &number);
    zlist_t *inputs = s_input_names (stage);
    bool keeps_time [ND_INPUTS_MAX] = { false };
    if (zlist_size (inputs) > ND_INPUTS_MAX)
        nd_config_error (stage->config, "input", "too many inputs");
    else
        s_clock_inputs (stage, inputs, keeps_time);
    zlist_destroy (&inputs);
    s_check_curve (stage);
    s_check_exposure (stage);
    if (stage->def->check && nd_config_errors (stage->config) == 0)
        stage->def->check (stage);
    if (stage->def->templates && nd_config_errors (stage->config) == 0)
        nd_stage_check_templates (stage, stage->def->templates);
    return nd_config_errors (stage->config) ? -1 : 0;
}

int nd_stage_check_templates (nd_stage_t *stage, const char *channel)
{
    char reason [300];
    nd_templates_t *templates = nd_templates_new (nd_stage_option (stage, "templates", "conf/templates"),
        channel, nd_stage_option (stage, "locale", "en"), reason, sizeof reason);
    if (!templates)
        return nd_stage_config_error (stage, "templates", reason);
    nd_templates_destroy (&templates);
    //  The links of what it renders: click-url and link-hosts (nd_links.h)
    nd_links_t *links = NULL;
    int rc = streq (channel, "onsite") ? 0 : nd_links_setup (stage, true, &links);
    nd_links_destroy (&links);
    return rc;
}
