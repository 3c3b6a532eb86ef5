/*  nd_stage - the server skeleton every stage runs in.

    Like Postfix's single_server_main: the stage's main() hands its
    nd_stage_def_t to nd_stage_main(), which parses arguments, loads the
    pipeline file, opens the stage's LMDB environment, binds the output
    journal (ROUTER), the tap (PUB) and the control socket (REP), connects
    to each upstream's journal, says it is ready, and loops:

      read up to ND_BATCH_MAX messages from the inputs, and whatever the
      stage's own source has; apply each inside ONE write transaction
      together with the outputs it causes and the new input positions;
      commit; then ack upstream, publish on the tap, and send downstream.

    It stops on SIGINT or SIGTERM (czmq's zsys_interrupted). SIGHUP, or
    RELOAD on the control socket, has the stage read its files again
    (the def's reload) between two batches, never inside one. It never
    daemonizes and logs to stderr: the supervisor owns restarts and logs. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <sysexits.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include "nd_private.h"
#include "nd_json.h"
#include "nd_templates.h"
#include "nd_links.h"


typedef struct {
    char *topic;
    char *text;
} s_publication_t;

struct _nd_stage_t {
    const nd_stage_def_t *def;
    void *self;                 //  the stage's own object
    char *name;
    char *config_file;
    char *clock_mode;
    int notify_fd;
    bool checking;              //  --check: the configuration only, then exit
    int repartition_from;       //  --repartition-from N: move people, then exit
    nd_config_t *config;
    nd_clock_t *clock;
    nd_curve_t *curve;          //  NULL unless the stage has "curve"
    MDB_env *env;
    MDB_dbi meta;
    nd_outbox_t *outbox;
    nd_inputs_t *inputs;        //  the upstream links, read in event-time order
    nd_moves_t *moves;          //  people moving between partitions
    zsock_t *pub;               //  XPUB: taps subscribe, and we see them do it
    int listened;               //  topic prefixes subscribed to on pub
    zsock_t *control;
    int wake [2];
    MDB_txn *txn;               //  the open batch transaction, if any
    zlist_t *publications;      //  emitted in the open txn, sent after commit
    uint64_t batch_emitted;     //  emitted in the open txn
    int64_t timer_interval;
    int64_t next_wall_timer;
    int64_t tick_forwarded;     //  the latest tick time passed downstream
    int64_t clock_saved;        //  event time as last committed
    uint64_t applied, rejected, emitted, commits, failed_commits;
    uint64_t failing;           //  commits failed in a row: stuck while > 0
    int64_t failing_since;      //  wall ms of the first of them
    char failing_reason [256];  //  the last line logged before the first
    int64_t stall_after;        //  an input that stands still this long is stuck
    int64_t last_watch;         //  mono ms the inputs were last looked at
    int64_t started;
    bool paused;                //  PAUSE: inputs are left with their upstreams
    bool (*busy) (void *arg);   //  event time: work due now is not done
    void *busy_arg;
    uint64_t reloads, reloads_refused;
    char reload_refused [256];  //  why the last reload was refused, "" if it was not
};

//  SIGHUP asks for a reload. A signal handler reaches only statics: the
//  flag, and the wake pipe's write end, so a loop asleep in zmq_poll sees
//  the signal at once.
static volatile sig_atomic_t s_hangup;
static volatile sig_atomic_t s_hangup_wake = -1;

static void s_on_hangup (int signum)
{
    (void) signum;
    int saved = errno;
    s_hangup = 1;
    //  A full pipe (EAGAIN) is fine: the loop wakes for what is in it
    ssize_t written = s_hangup_wake >= 0 ? write (s_hangup_wake, "h", 1) : 0;
    (void) written;
    errno = saved;
}

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

static int s_parse_args (nd_stage_t *stage, int argc, char **argv)
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

static int s_input_key (nd_key_t *key, const char *upstream)
{
    nd_key_init (key);
    nd_key_str (key, "in");
    nd_key_str (key, upstream);
    return 0;
}

//  Event time survives a restart: a stage that comes back resumes at the
//  time it had reached (its timers and outboxes are due by it), not at 0.
static void s_clock_key (nd_key_t *key)
{
    nd_key_init (key);
    nd_key_str (key, "clock");
}

static int s_restore_clock (nd_stage_t *stage, MDB_txn *txn)
{
    nd_key_t key;
    uint64_t saved = 0;
    s_clock_key (&key);
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
        s_input_key (&key, up);
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

static int s_setup (nd_stage_t *stage)
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
static int s_repartition (nd_stage_t *stage)
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

//  --check: what s_setup reads before it opens state and sockets, then
//  the stage's own files; nothing is opened, bound or started.
static int s_check (nd_stage_t *stage)
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

/* -------------------------------------------------------------- batch -- */

static int s_begin (nd_stage_t *stage)
{
    if (stage->txn)
        return 0;
    int rc = mdb_txn_begin (stage->env, NULL, 0, &stage->txn);
    if (rc) {
        stage->txn = NULL;
        return nd_db_error (rc, "begin");
    }
    return 0;
}

static void s_run_timers (nd_stage_t *stage)
{
    if (stage->def->timers && s_begin (stage) == 0)
        stage->def->timers (stage, stage->self, stage->txn, nd_clock_now (stage->clock));
}

//  Event time: the clock stops at each due time before until (the next
//  message's time) and fires what is due there. A stage whose timers
//  leave something due (a batch limit) is passed by: the rest fire at
//  until, as before. Bounded, so a timers callback that keeps a due time
//  in the past cannot hold the loop.
static void s_step_to (nd_stage_t *stage, int64_t until)
{
    if (!nd_clock_is_event (stage->clock) || !stage->def->next_due || !stage->def->timers)
        return;
    for (int step = 0; step < ND_DUE_STEPS_MAX && s_begin (stage) == 0; step++) {
        int64_t due = stage->def->next_due (stage, stage->self, stage->txn);
        if (due <= nd_clock_now (stage->clock) || due >= until)
            return;
        nd_clock_advance (stage->clock, due);
        s_run_timers (stage);
    }
}

//  Each tick time goes downstream once: two inputs may carry the same
//  tick, and in a cycle (scheduler -> sender -> scheduler, for feedback)
//  a tick passed on every time would go round for ever. In event time a
//  tick says how far this stage's clock has got, so only a time input's
//  tick is passed on, as the clock it brought us to.
static void s_forward_tick (nd_stage_t *stage, const nd_input_msg_t *in)
{
    bool event = nd_clock_is_event (stage->clock);
    if (event && !in->keeps_time)
        return;
    int64_t time = event ? nd_clock_now (stage->clock) : in->msg.time;
    if (time <= stage->tick_forwarded)
        return;
    stage->tick_forwarded = time;
    char id [48], stamp [32];
    snprintf (id, sizeof id, "tick-%lld", (long long) time);
    json_t *body = json_pack ("{s:s, s:s, s:s}", "id", id, "user", "",
                              "time", nd_time_format (time, stamp));
    nd_emit (stage, stage->txn, "tick", body);
    json_decref (body);
}

//  One message from an upstream journal: move the clock where the inputs
//  say, fire what became due, then let the stage apply it.
static void s_apply_input (nd_stage_t *stage, nd_input_msg_t *in)
{
    if (!in->msg.body) {
        char reason [200];
        snprintf (reason, sizeof reason, "body is not a JSON object: %s", in->error);
        nd_stage_reject (stage, &in->msg, reason);
        return;
    }
    int64_t before = nd_clock_now (stage->clock);
    s_step_to (stage, in->clock);
    nd_clock_advance (stage->clock, in->clock);
    if (nd_clock_is_event (stage->clock) && nd_clock_now (stage->clock) > before)
        s_run_timers (stage);
    if (in->sibling && !streq (in->msg.topic, "move.out") && !streq (in->msg.topic, "move.pass"))
        ;   //  a sibling partition is read for its moves alone
    else
    if (streq (in->msg.topic, "tick"))
        s_forward_tick (stage, in);
    else
    if (strncmp (in->msg.topic, "move.", 5) == 0) {
        if (nd_moves_apply (stage->moves, stage, stage->txn, &in->msg, in->sibling) == 0)
            stage->applied++;
    }
    else
    if (stage->def->apply && stage->def->apply (stage, stage->self, stage->txn, &in->msg) == 0)
        stage->applied++;
}

//  In event time a stage with work due now (a sender whose orders are
//  out with its workers) takes nothing that would move its clock until
//  that work is done: the clock waits for it, as the wall clock would
//  barely have moved.
static bool s_busy (nd_stage_t *stage)
{
    return nd_clock_is_event (stage->clock) && stage->busy && stage->busy (stage->busy_arg);
}

static void s_read_inputs (nd_stage_t *stage)
{
    size_t budget = ND_BATCH_MAX * nd_inputs_count (stage->inputs);
    nd_input_msg_t in;
    nd_inputs_rearm (stage->inputs);
    while (budget-- > 0
       &&  nd_inputs_next (stage->inputs, nd_clock_now (stage->clock), s_busy (stage), &in) == 1) {
        if (s_begin (stage) == 0)
            s_apply_input (stage, &in);
        nd_input_msg_close (&in);
    }
    for (size_t i = 0; i < nd_inputs_count (stage->inputs); i++)
        if (nd_inlink_dirty (nd_inputs_link (stage->inputs, i)))
            s_begin (stage);
}

//  Counts the subscriptions taps made or dropped: an XPUB passes on the
//  first subscription to a prefix and the last one's end, so while the
//  count is 0 nobody listens, and nothing is kept for taps (s_append).
static void s_taps (nd_stage_t *stage)
{
    zmq_msg_t frame;
    zmq_msg_init (&frame);
    while (zmq_msg_recv (&frame, zsock_resolve (stage->pub), ZMQ_DONTWAIT) >= 0)
        if (zmq_msg_size (&frame) > 0)
            stage->listened += *(byte *) zmq_msg_data (&frame) == 1 ? 1 : -1;
    zmq_msg_close (&frame);
}

//  After a commit (committed) the batch's messages are counted and shown
//  to taps; after an abort they never were.
static void s_publish_all (nd_stage_t *stage, bool committed)
{
    void *pub = stage->pub ? zsock_resolve (stage->pub) : NULL;
    bool send = committed && pub;
    if (committed)
        stage->emitted += stage->batch_emitted;
    stage->batch_emitted = 0;
    s_publication_t *p;
    while ((p = (s_publication_t *) zlist_pop (stage->publications))) {
        if (send) {
            zmq_send (pub, p->topic, strlen (p->topic), ZMQ_SNDMORE | ZMQ_DONTWAIT);
            zmq_send (pub, p->text, strlen (p->text), ZMQ_DONTWAIT);
        }
        free (p->topic);
        free (p->text);
        free (p);
    }
}

//  Commits state, outputs and input positions together, or none of them.
static int s_commit (nd_stage_t *stage)
{
    if (!stage->txn)
        return 0;
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < nd_inputs_count (stage->inputs); i++) {
        nd_inlink_t *link = nd_inputs_link (stage->inputs, i);
        if (nd_inlink_dirty (link)) {
            nd_key_t key;
            s_input_key (&key, nd_inlink_upstream (link));
            rc = nd_db_put_u64 (stage->txn, stage->meta, &key, nd_inlink_position (link));
        }
    }
    int64_t now = nd_clock_now (stage->clock);
    if (rc == 0 && nd_clock_is_event (stage->clock) && now != stage->clock_saved) {
        nd_key_t key;
        s_clock_key (&key);
        rc = nd_db_put_u64 (stage->txn, stage->meta, &key, (uint64_t) now);
    }
    if (rc == 0)
        rc = nd_outbox_seal (stage->outbox, stage->txn);
    if (rc == 0) {
        int mdb_rc = mdb_txn_commit (stage->txn);
        rc = mdb_rc ? nd_db_error (mdb_rc, "commit") : 0;
    }
    else
        mdb_txn_abort (stage->txn);
    stage->txn = NULL;
    if (rc == 0) {
        if (stage->failing)
            nd_log ("committing again after %llu failed commits",
                    (unsigned long long) stage->failing);
        stage->failing = 0;
        stage->commits++;
        stage->clock_saved = now;
        nd_outbox_committed (stage->outbox);
        for (size_t i = 0; i < nd_inputs_count (stage->inputs); i++)
            nd_inlink_committed (nd_inputs_link (stage->inputs, i));
    }
    else {
        stage->failed_commits++;
        if (stage->failing++ == 0) {
            stage->failing_since = nd_wall_ms ();
            snprintf (stage->failing_reason, sizeof stage->failing_reason, "%s", nd_log_last ());
        }
        nd_outbox_aborted (stage->outbox);
        nd_inputs_aborted (stage->inputs);
        nd_moves_reload (stage->moves, stage->env);
    }
    s_publish_all (stage, rc == 0);
    if (stage->def->source_committed)
        stage->def->source_committed (stage, stage->self, rc);
    return rc;
}

/* ------------------------------------------------------------ reload -- */

//  Between batches only (no transaction open): a reload never sees half a
//  batch, and a batch never sees half a set. The stage's hook loads and
//  checks the whole new set before it puts it in place, so a bad file
//  changes nothing and stops nothing.
static int s_reload (nd_stage_t *stage, const char *by, char *what, size_t size)
{
    assert (!stage->txn);
    const nd_stage_def_t *def = stage->def;
    if (!def->reload) {
        snprintf (what, size, "%s has nothing to reload", def->name);
        nd_log ("%s: %s; running on", by, what);
        return -1;
    }
    *what = 0;
    int rc = def->reload (stage, stage->self, what, size);
    const char *reloads = def->reloads ? def->reloads : "files";
    if (rc == 0) {
        stage->reloads++;
        *stage->reload_refused = 0;
        nd_log ("reloaded: %s", what);
    }
    else {
        stage->reloads_refused++;
        snprintf (stage->reload_refused, sizeof stage->reload_refused, "%s", what);
        nd_log ("reload refused: %s; still running the previous %s", what, reloads);
    }
    return rc;
}

/* ----------------------------------------------------------- control -- */

//  A stage whose commits fail (state full, a disk error) takes nothing in
//  and says so, rather than "ok" while its upstream piles up; so does one
//  with an input that has had entries waiting for "stall-after" while its
//  position stood still. A paused stage is not stuck: it was asked to wait.
static json_t *s_health (nd_stage_t *stage)
{
    char since [32], reason [256];
    int64_t stalled;
    if (stage->failing)
        return json_pack ("{s:s, s:s, s:s, s:I, s:s}", "status", "stuck", "stage", stage->name,
                          "reason", stage->failing_reason, "failed_commits",
                          (json_int_t) stage->failing,
                          "since", nd_time_format (stage->failing_since, since));
    if (!stage->paused && nd_inputs_stalled (stage->inputs, nd_wall_ms (), stage->stall_after,
                                             reason, sizeof reason, &stalled))
        return json_pack ("{s:s, s:s, s:s, s:s}", "status", "stuck", "stage", stage->name,
                          "reason", reason, "since", nd_time_format (stalled, since));
    json_t *answer = json_pack ("{s:s, s:s}", "status", "ok", "stage", stage->name);
    if (stage->paused)
        json_object_set_new (answer, "paused", json_true ());
    return answer;
}

static void s_control (nd_stage_t *stage)
{
    char *command = zstr_recv_nowait (stage->control);
    if (!command)
        return;
    json_t *answer;
    if (streq (command, "HEALTH") || streq (command, "health"))
        answer = s_health (stage);
    else
    if (streq (command, "PAUSE") || streq (command, "RESUME")) {
        //  Not kept across a restart: a stage always starts reading
        bool pause = streq (command, "PAUSE");
        if (pause != stage->paused)
            nd_log ("%s by the control socket", pause ? "inputs paused" : "inputs resumed");
        stage->paused = pause;
        answer = json_pack ("{s:s, s:b}", "stage", stage->name, "paused", pause);
    }
    else
    if (streq (command, "RELOAD")) {
        char what [512];
        int rc = s_reload (stage, "RELOAD", what, sizeof what);
        answer = json_pack ("{s:s, s:b, s:s}", "stage", stage->name, "reloaded", rc == 0,
                            rc == 0 ? "what" : "error", what);
    }
    else
    if (streq (command, "STATS") || streq (command, "stats")) {
        char stamp [32];
        answer = json_pack ("{s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:I}",
            "stage", stage->name,
            "clock", nd_clock_is_event (stage->clock) ? "event" : "wall",
            "now", nd_time_format (nd_clock_now (stage->clock), stamp),
            "uptime_ms", (json_int_t) (zclock_mono () - stage->started),
            "applied_since_start", (json_int_t) stage->applied, "rejected", (json_int_t) stage->rejected,
            "emitted", (json_int_t) stage->emitted, "commits", (json_int_t) stage->commits,
            "failed_commits", (json_int_t) stage->failed_commits);
        json_object_set_new (answer, "paused", json_boolean (stage->paused));
        json_object_set_new (answer, "reloads", json_pack ("{s:I, s:I, s:s}",
            "done", (json_int_t) stage->reloads, "refused", (json_int_t) stage->reloads_refused,
            "last_refused", stage->reload_refused));
        json_t *inputs = json_object ();
        for (size_t i = 0; i < nd_inputs_count (stage->inputs); i++)
            nd_inlink_stats (nd_inputs_link (stage->inputs, i), inputs);
        json_object_set_new (answer, "inputs", inputs);
        nd_outbox_stats (stage->outbox, answer);
        if (stage->def->stats)
            stage->def->stats (stage->self, answer);
    }
    else
        answer = json_pack ("{s:s}", "error",
                            "unknown command; try STATS, HEALTH, PAUSE, RESUME or RELOAD");
    char *text = json_dumps (answer, JSON_COMPACT);
    zstr_send (stage->control, text);
    free (text);
    json_decref (answer);
    zstr_free (&command);
}

/* -------------------------------------------------------------- loop -- */

static void s_drain_wake (nd_stage_t *stage)
{
    char buffer [256];
    while (read (stage->wake [0], buffer, sizeof buffer) > 0)
        ;
}

static void s_loop (nd_stage_t *stage)
{
    zmq_pollitem_t items [ND_INPUTS_MAX + 5];
    int source_fd = stage->def->source_fd ? stage->def->source_fd (stage->self) : -1;
    while (!zsys_interrupted) {
        size_t count = 0;
        items [count++] = (zmq_pollitem_t) { zsock_resolve (stage->control), 0, ZMQ_POLLIN, 0 };
        items [count++] = (zmq_pollitem_t) { nd_outbox_socket (stage->outbox), 0, ZMQ_POLLIN, 0 };
        items [count++] = (zmq_pollitem_t) { NULL, stage->wake [0], ZMQ_POLLIN, 0 };
        items [count++] = (zmq_pollitem_t) { zsock_resolve (stage->pub), 0, ZMQ_POLLIN, 0 };
        if (source_fd >= 0)
            items [count++] = (zmq_pollitem_t) { NULL, source_fd, ZMQ_POLLIN, 0 };
        for (size_t i = 0; i < nd_inputs_count (stage->inputs) && !stage->paused; i++) {
            void *socket = nd_inputs_socket (stage->inputs, i);
            if (socket)
                items [count++] = (zmq_pollitem_t) { socket, 0, ZMQ_POLLIN, 0 };
        }
        int64_t timeout = 1000;
        if (stage->def->timers && !nd_clock_is_event (stage->clock)) {
            int64_t until = stage->next_wall_timer - zclock_mono ();
            timeout = until < 0 ? 0 : until < timeout ? until : timeout;
        }
        if (zmq_poll (items, (int) count, (long) timeout) < 0 && zmq_errno () != EINTR)
            break;
        if (items [0].revents & ZMQ_POLLIN)
            s_control (stage);
        if (items [1].revents & ZMQ_POLLIN)
            nd_outbox_handle (stage->outbox);
        if (!stage->paused)
            s_read_inputs (stage);
        if (items [3].revents & ZMQ_POLLIN)
            s_taps (stage);
        bool source_ready = (items [2].revents & ZMQ_POLLIN)
                         || (source_fd >= 0 && (items [4].revents & ZMQ_POLLIN));
        if (items [2].revents & ZMQ_POLLIN)
            s_drain_wake (stage);
        if (source_ready && stage->def->source_drain && s_begin (stage) == 0)
            stage->def->source_drain (stage, stage->self, stage->txn);
        if (stage->def->timers && !nd_clock_is_event (stage->clock)
        &&  zclock_mono () >= stage->next_wall_timer) {
            stage->next_wall_timer = zclock_mono () + stage->timer_interval;
            s_run_timers (stage);
        }
        if (nd_outbox_trim_due (stage->outbox) && s_begin (stage) == 0)
            nd_outbox_trim (stage->outbox, stage->txn);
        if (s_commit (stage))
            zclock_sleep (500);     //  e.g. state full: back off, upstream holds the data
        if (s_hangup) {
            s_hangup = 0;
            char what [512];
            s_reload (stage, "SIGHUP", what, sizeof what);
        }
        nd_outbox_pump (stage->outbox);
        int64_t now = zclock_mono ();
        if (now - stage->last_watch >= 1000) {
            stage->last_watch = now;
            nd_inputs_watch (stage->inputs, nd_wall_ms (), nd_clock_now (stage->clock),
                             s_busy (stage), stage->paused);
        }
        for (size_t i = 0; i < nd_inputs_count (stage->inputs) && !stage->paused; i++)
            nd_inlink_heartbeat (nd_inputs_link (stage->inputs, i), now);
    }
}

//  systemd's readiness (sd_notify(3)'s protocol, without libsystemd): one
//  datagram to the socket $NOTIFY_SOCKET names ('@': abstract).
static void s_sd_notify (const char *state)
{
    const char *path = getenv ("NOTIFY_SOCKET");
    if (!path || (*path != '/' && *path != '@') || strlen (path) >= sizeof ((struct sockaddr_un *) 0)->sun_path)
        return;
    struct sockaddr_un address = { .sun_family = AF_UNIX };
    memcpy (address.sun_path, path, strlen (path));
    if (*path == '@')
        address.sun_path [0] = 0;
    socklen_t size = (socklen_t) (offsetof (struct sockaddr_un, sun_path) + strlen (path));
    int fd = socket (AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || sendto (fd, state, strlen (state), MSG_NOSIGNAL,
                          (struct sockaddr *) &address, size) < 0)
        nd_log ("cannot tell systemd %s: %s", state, strerror (errno));
    if (fd >= 0)
        close (fd);
}

static void s_notify_ready (nd_stage_t *stage)
{
    s_sd_notify ("READY=1");
    size_t count = nd_inputs_count (stage->inputs);
    nd_log ("ready (%s clock, %zu input%s)", nd_clock_is_event (stage->clock) ? "event" : "wall",
            count, count == 1 ? "" : "s");
    if (stage->notify_fd > 0) {
        if (write (stage->notify_fd, "\n", 1) < 0)
            nd_log ("cannot write to notify fd %d: %s", stage->notify_fd, strerror (errno));
        close (stage->notify_fd);
    }
}

static void s_destroy (nd_stage_t *stage)
{
    if (stage->def->teardown && stage->self)
        stage->def->teardown (&stage->self);
    if (stage->txn)
        mdb_txn_abort (stage->txn);
    s_publish_all (stage, false);
    zlist_destroy (&stage->publications);
    nd_inputs_destroy (&stage->inputs);
    nd_moves_destroy (&stage->moves);
    nd_outbox_destroy (&stage->outbox);
    zsock_destroy (&stage->pub);
    zsock_destroy (&stage->control);
    nd_curve_destroy (&stage->curve);
    if (stage->env)
        mdb_env_close (stage->env);
    if (stage->wake [1] > 0) {
        close (stage->wake [0]);
        close (stage->wake [1]);
    }
    nd_clock_destroy (&stage->clock);
    nd_config_destroy (&stage->config);
    free (stage->name);
    free (stage->config_file);
    free (stage->clock_mode);
}

int nd_stage_main (int argc, char **argv, const nd_stage_def_t *def)
{
    //  Everything a stage makes (state, spools, sockets, mail) is its
    //  user's alone, whatever the shell or supervisor left as umask
    umask (077);
    if (def->selftest && argc >= 2 && streq (argv [1], "--selftest")) {
        def->selftest (argc >= 3 && streq (argv [2], "-v"));
        printf ("%s selftest: OK\n", def->name);
        return 0;
    }
    nd_stage_t stage = { .def = def, .notify_fd = -1 };
    stage.name = strdup (def->name);
    stage.config_file = strdup ("conf/pipeline.zpl");
    stage.publications = zlist_new ();
    stage.started = zclock_mono ();
    //  SIGHUP reloads rather than kills. It is blocked while setup starts
    //  the stage's threads (senders' workers, HTTP servers, ZeroMQ's),
    //  which inherit the mask: only the loop's thread takes it, so no
    //  worker's system call is cut short by it. One that came during
    //  setup is taken once the loop runs.
    sigset_t hangup, previous;
    sigemptyset (&hangup);
    sigaddset (&hangup, SIGHUP);
    struct sigaction action = { .sa_handler = s_on_hangup, .sa_flags = SA_RESTART };
    sigemptyset (&action.sa_mask);
    sigaction (SIGHUP, &action, NULL);
    pthread_sigmask (SIG_BLOCK, &hangup, &previous);
    zsys_init ();
    zsys_set_linger (0);
    //  sysexits: a supervisor need not restart what a restart can't mend
    int rc = s_parse_args (&stage, argc, argv) ? EX_USAGE : 0;
    if (rc == 0 && stage.repartition_from)
        rc = s_repartition (&stage);
    else
    if (rc == 0 && stage.checking) {
        rc = s_check (&stage) ? EX_CONFIG : 0;
        if (rc == 0)
            printf ("%s: %s: configuration ok\n", stage.name, stage.config_file);
    }
    else
    if (rc == 0)
        rc = s_setup (&stage) == 0 ? 0
           : !stage.config || nd_config_errors (stage.config) ? EX_CONFIG : 1;
    if (rc == 0 && !stage.checking && !stage.repartition_from) {
        s_hangup_wake = stage.wake [1];
        pthread_sigmask (SIG_SETMASK, &previous, NULL);
        s_notify_ready (&stage);
        s_loop (&stage);
        nd_log ("stopping");
        s_sd_notify ("STOPPING=1");
        //  The readers' last acknowledgements written down (the trim's
        //  rows): nd-repartition reads them to know the journal drained
        if (s_begin (&stage) == 0)
            nd_outbox_trim (stage.outbox, stage.txn);
        s_commit (&stage);
    }
    s_hangup_wake = -1;
    s_destroy (&stage);
    return rc;
}

/* ------------------------------------------------------ stage methods -- */

//  Takes text: into the journal, and onto the tap after the commit.
static int s_append (nd_stage_t *stage, MDB_txn *txn, const char *topic, char *text, size_t size,
                     const uint32_t *keys, size_t count, int64_t time)
{
    uint64_t seq;
    if (!stage->outbox)
        nd_log ("%s: nothing is emitted while the stage does not run", topic);
    if (!text || !stage->outbox
    ||  nd_outbox_append (stage->outbox, txn, topic, text, size, keys, count, time, &seq)) {
        free (text);
        return -1;
    }
    stage->batch_emitted++;
    if (stage->listened <= 0) {
        free (text);
        return 0;
    }
    s_publication_t *p = (s_publication_t *) zmalloc (sizeof *p);
    p->topic = strdup (topic);
    p->text = text;
    zlist_append (stage->publications, p);
    return 0;
}

uint32_t nd_route_key (const char *id)
{
    uint32_t hash = 2166136261u;
    for (const unsigned char *c = (const unsigned char *) id; *c; c++)
        hash = (hash ^ *c) * 16777619u;
    return hash;
}

int nd_stage_pass_moved (nd_stage_t *stage, MDB_txn *txn, const nd_msg_t *msg, const char *user)
{
    return stage->moves ? nd_moves_pass (stage->moves, stage, txn, msg, user) : 0;
}

int nd_stage_pass_all (nd_stage_t *stage, MDB_txn *txn, const char *topic, json_t *message)
{
    return stage->moves ? nd_moves_pass_all (stage->moves, stage, txn, topic, message) : 0;
}

bool nd_stage_is_sibling (nd_stage_t *stage, const char *link)
{
    return link && s_sibling (stage, link);
}

int nd_stage_partition (nd_stage_t *stage, int *parts)
{
    int part = nd_config_partition (stage->config, parts);
    return part < 0 ? 0 : part;
}

const nd_stage_def_t *nd_stage_def (nd_stage_t *stage)
{
    return stage->def;
}

void *nd_stage_self (nd_stage_t *stage)
{
    return stage->self;
}

nd_config_t *nd_stage_config (nd_stage_t *stage)
{
    return stage->config;
}

//  A message is about its "user": a partitioned stage reading this one
//  gets it in the partition that owns them (README "Partitioned stages").
static size_t s_user_key (const json_t *body, uint32_t *key)
{
    const char *user = json_string_value (json_object_get (body, "user"));
    if (!user || !*user)
        return 0;
    *key = nd_route_key (user);
    return 1;
}

int nd_emit (nd_stage_t *stage, MDB_txn *txn, const char *topic, json_t *body)
{
    uint32_t key;
    return nd_emit_routed (stage, txn, topic, body, &key, s_user_key (body, &key));
}

int nd_emit_routed (nd_stage_t *stage, MDB_txn *txn, const char *topic, json_t *body,
                    const uint32_t *keys, size_t count)
{
    char stamp [32];
    if (count > ND_ROUTE_KEYS)
        return -1;
    if (!json_object_get (body, "id")) {
        char id [128];
        snprintf (id, sizeof id, "%s-%llu", stage->name,
                  (unsigned long long) nd_outbox_next_seq (stage->outbox));
        json_object_set_new (body, "id", json_string (id));
    }
    if (!json_object_get (body, "time"))
        json_object_set_new (body, "time",
                             json_string (nd_time_format (nd_clock_now (stage->clock), stamp)));
    size_t size;
    char *text = nd_json_dump (body, &size);
    int64_t time = 0;
    if (count)
        nd_time_parse (json_string_value (json_object_get (body, "time")), &time);
    return s_append (stage, txn, topic, text, size, keys, count, time);
}

//  The received text with extra's members before its closing brace, or
//  NULL when the text does not end as an object does.
static char *s_extend (const nd_msg_t *msg, const char *members, size_t members_size,
                       size_t *size)
{
    size_t end = msg->size;
    while (end > 0 && (msg->text [end - 1] == ' ' || msg->text [end - 1] == '\t'
                    || msg->text [end - 1] == '\r' || msg->text [end - 1] == '\n'))
        end--;
    if (end == 0 || msg->text [end - 1] != '}')
        return NULL;
    end--;
    bool comma = json_object_size (msg->body) > 0 && members_size > 0;
    *size = end + comma + members_size + 1;
    char *text = (char *) malloc (*size + 1);
    if (!text)
        return NULL;
    memcpy (text, msg->text, end);
    if (comma)
        text [end] = ',';
    memcpy (text + end + comma, members, members_size);
    text [*size - 1] = '}';
    text [*size] = 0;
    return text;
}

int nd_emit_extended (nd_stage_t *stage, MDB_txn *txn, const char *topic, const nd_msg_t *msg,
                      const json_t *extra)
{
    bool whole = !msg->text || !json_object_get (msg->body, "id")
              || !json_object_get (msg->body, "time");
    const char *key;
    json_t *value;
    json_object_foreach ((json_t *) extra, key, value)
        whole = whole || json_object_get (msg->body, key);
    char *text = NULL;
    size_t size = 0;
    if (!whole) {
        //  extra written alone is "{members}": its members go in as they are
        size_t extra_size;
        char *members = nd_json_dump (extra, &extra_size);
        if (!members)
            return -1;
        text = s_extend (msg, members + 1, extra_size - 2, &size);
        free (members);
    }
    uint32_t route;
    if (text)
        return s_append (stage, txn, topic, text, size, &route, s_user_key (msg->body, &route),
                         msg->time);
    json_t *body = json_copy (msg->body);
    int rc = body && json_object_update (body, (json_t *) extra) == 0
           ? nd_emit (stage, txn, topic, body) : -1;
    json_decref (body);
    return rc;
}

void nd_stage_reject (nd_stage_t *stage, const nd_msg_t *msg, const char *reason)
{
    stage->rejected++;
    nd_log ("rejected %s #%llu from %s: %s", msg->topic, (unsigned long long) msg->seq,
            msg->link ? msg->link : "input", reason);
}

const char *nd_stage_name (nd_stage_t *stage) { return stage->name; }
nd_clock_t *nd_stage_clock (nd_stage_t *stage) { return stage->clock; }
int64_t nd_stage_now (nd_stage_t *stage) { return nd_clock_now (stage->clock); }
MDB_env *nd_stage_env (nd_stage_t *stage) { return stage->env; }
void *nd_stage_args (nd_stage_t *stage) { return stage->def->args; }

bool nd_stage_curve_serve (nd_stage_t *stage, void *socket)
{
    nd_curve_serve (stage->curve, socket);
    return stage->curve != NULL;
}

void nd_stage_busy_when (nd_stage_t *stage, bool (*busy) (void *arg), void *arg)
{
    stage->busy = busy;
    stage->busy_arg = arg;
}

void nd_stage_wake (nd_stage_t *stage)
{
    if (write (stage->wake [1], "w", 1) < 0 && errno != EAGAIN)
        nd_log ("cannot wake the loop: %s", strerror (errno));
}

const char *nd_stage_option (nd_stage_t *stage, const char *path, const char *fallback)
{
    return nd_config_get (stage->config, path, fallback);
}

int nd_stage_option_duration (nd_stage_t *stage, const char *path, const char *fallback, int64_t *ms)
{
    if (nd_duration_parse (nd_config_get (stage->config, path, fallback), ms))
        return nd_config_error (stage->config, path, "not a duration such as 30m, 24h or 7d");
    return 0;
}

int nd_stage_option_int (nd_stage_t *stage, const char *path, const char *fallback, int64_t *value)
{
    const char *text = nd_config_get (stage->config, path, fallback);
    char *end;
    errno = 0;
    long long number = text ? strtoll (text, &end, 10) : 0;
    if (!text || end == text || *end || errno)
        return nd_config_error (stage->config, path, "not a whole number");
    *value = number;
    return 0;
}

bool nd_stage_syncs (nd_stage_t *stage)
{
    const char *sync = nd_config_get (stage->config, "sync", "1");
    return !sync || !streq (sync, "0");
}

const char **nd_stage_option_list (nd_stage_t *stage, const char *path, const char *child)
{
    return nd_config_list (stage->config, path, child);
}

int nd_stage_config_error (nd_stage_t *stage, const char *path, const char *reason)
{
    return nd_config_error (stage->config, path, reason);
}

int nd_stage_config_refused (nd_stage_t *stage)
{
    nd_config_refused (stage->config);
    return -1;
}

const char *nd_stage_option_nth (nd_stage_t *stage, const char *path, const char *child,
                                 size_t nth, const char *sub, const char **sub_value)
{
    return nd_config_nth (stage->config, path, child, nth, sub, sub_value);
}

int nd_stage_config_error_nth (nd_stage_t *stage, const char *path, size_t nth,
                               const char *reason)
{
    return nd_config_error_nth (stage->config, path, nth, reason);
}

/* ------------------------------------------------------ options alone -- */

nd_stage_t *nd_stage_options_new (const char *config_file, const char *name)
{
    nd_config_t *config = nd_config_load (config_file, name, false);
    if (!config)
        return NULL;
    nd_stage_t *stage = (nd_stage_t *) zmalloc (sizeof *stage);
    stage->name = strdup (name);
    stage->config_file = strdup (config_file);
    stage->config = config;
    stage->clock = nd_clock_new (false);
    stage->wake [0] = stage->wake [1] = -1;
    return stage;
}

void nd_stage_options_destroy (nd_stage_t **self_p)
{
    nd_stage_t *stage = *self_p;
    if (stage) {
        nd_config_destroy (&stage->config);
        nd_clock_destroy (&stage->clock);
        free (stage->name);
        free (stage->config_file);
        free (stage);
        *self_p = NULL;
    }
}
