/*  nd.h - the small runtime every nudge stage shares.

    A stage's own source holds only its logic. This runtime owns the rest:
    argument parsing, the pipeline file, the stage's LMDB environment, the
    durable links to its upstream and downstream stages, the clock, the
    tap PUB socket, the control socket, signals, readiness and logging.

    The shape follows Postfix's single_server_main: a stage fills in an
    nd_stage_def_t and calls nd_stage_main() from main().

    Wire format (README "Wire format"): a message is a topic frame and a
    JSON body frame; every body has "id", "user" and "time" (ISO 8601 UTC).
    On a durable link the sender prefixes a command frame and a sequence
    number; see nd_link.c for the protocol.
*/
#ifndef ND_H_INCLUDED
#define ND_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include <lmdb.h>

/* ------------------------------------------------------------------ log */

/*  One line per notable thing, to stderr:
    "2026-11-23T19:20:01.123Z collector: listening on 127.0.0.1:8080"     */
void nd_log_set_name (const char *name);
/*  Plain: lines without time and name ("file:line: reason"), for --check. */
void nd_log_set_plain (bool plain);
void nd_log (const char *fmt, ...) __attribute__ ((format (printf, 1, 2)));
/*  The last line nd_log was given (without time and name), "" at first:
    HEALTH gives it as the reason a stage is stuck.                       */
const char *nd_log_last (void);

/* ----------------------------------------------------------------- time */

/*  All times are milliseconds since the Unix epoch, UTC.                 */
int64_t nd_wall_ms (void);
/*  Parses ISO 8601 / RFC 3339 ("2026-11-23T19:20:01.123Z", with an offset
    or without fraction). Returns 0 / -1: also for a day the calendar
    does not have (2026-02-30) and an offset past 23:59.                  */
int nd_time_parse (const char *text, int64_t *ms);
/*  Formats as "YYYY-MM-DDTHH:MM:SS.mmmZ" into buf (at least 32 bytes).    */
const char *nd_time_format (int64_t ms, char *buf);
/*  Parses a duration: "250ms", "30s", "30m", "1h", "7d", or a plain number
    of seconds. Returns 0 / -1.                                           */
int nd_duration_parse (const char *text, int64_t *ms);
/*  Parses a size: "4G", "512M", "64k", or a plain number of bytes.       */
int nd_size_parse (const char *text, uint64_t *bytes);

/* ---------------------------------------------------------------- clock */

/*  "now" for a stage. In wall mode it is the system clock. In event mode it
    only moves forward, driven by event timestamps and tick messages, so a
    replay or a test that spans 90 days runs in milliseconds, deterministically.
    A stage's event clock is the low watermark of its time inputs
    ("clock-inputs"; see nd_inputs.c), never the latest time on any input. */
typedef struct _nd_clock_t nd_clock_t;
nd_clock_t *nd_clock_new (bool event_time);
void nd_clock_destroy (nd_clock_t **self_p);
int64_t nd_clock_now (nd_clock_t *self);
bool nd_clock_is_event (nd_clock_t *self);
/*  Event mode: now = max (now, ms). Wall mode: no effect.                */
void nd_clock_advance (nd_clock_t *self, int64_t ms);

/* ---------------------------------------------------------------- bucket */

/*  A token bucket: rate tokens a second, at most burst of them. Times are
    ms on whatever clock the caller keeps (monotonic, wall or event).    */
typedef struct {
    double tokens;
    int64_t refilled;           //  when tokens were last counted
} nd_bucket_t;
/*  Adds what has come in since the last refill, up to burst, as of now.
    Returns 0 when a whole token is there, else the ms until one is.     */
int64_t nd_bucket_refill (nd_bucket_t *bucket, double rate, double burst, int64_t now);
/*  Refills, then takes one token if there is one: 0, or the ms to wait
    (and nothing taken).                                                  */
int64_t nd_bucket_take (nd_bucket_t *bucket, double rate, double burst, int64_t now);

/* ------------------------------------------------------------------ keys */

/*  The one key builder. Integers are written big-endian so byte order is
    numeric (and so time) order; strings are written with a trailing NUL so
    a composite key never confuses "ab"+"c" with "a"+"bc".                */
#define ND_KEY_MAX 511          /* LMDB's default maximum key size */
typedef struct {
    uint8_t data [ND_KEY_MAX];
    size_t size;
    bool overflow;              /* set when a part did not fit */
} nd_key_t;

void nd_key_init (nd_key_t *key);
void nd_key_u8 (nd_key_t *key, uint8_t value);
void nd_key_u64 (nd_key_t *key, uint64_t value);
void nd_key_i64 (nd_key_t *key, int64_t value);     /* ordered: sign bit flipped */
void nd_key_str (nd_key_t *key, const char *value); /* with trailing NUL */
MDB_val nd_key_val (const nd_key_t *key);
/*  Reads back a big-endian u64 / i64 at byte offset within an MDB_val.   */
uint64_t nd_key_get_u64 (const MDB_val *val, size_t offset);
int64_t nd_key_get_i64 (const MDB_val *val, size_t offset);

/* ---------------------------------------------------------------- store */

/*  Helpers over the stage's LMDB environment. All return 0 on success,
    ND_NOTFOUND when a key is absent, -1 on error (logged; MDB_MAP_FULL is
    logged as "state full: raise mapsize for <stage> in the pipeline file"). */
#define ND_NOTFOUND 1
int nd_db_open (MDB_txn *txn, const char *name, MDB_dbi *dbi);
int nd_db_get_json (MDB_txn *txn, MDB_dbi dbi, const nd_key_t *key, json_t **value);
int nd_db_put_json (MDB_txn *txn, MDB_dbi dbi, const nd_key_t *key, const json_t *value);
int nd_db_get_u64 (MDB_txn *txn, MDB_dbi dbi, const nd_key_t *key, uint64_t *value);
int nd_db_put_u64 (MDB_txn *txn, MDB_dbi dbi, const nd_key_t *key, uint64_t value);
int nd_db_put_raw (MDB_txn *txn, MDB_dbi dbi, const nd_key_t *key, const void *data, size_t size);
int nd_db_del (MDB_txn *txn, MDB_dbi dbi, const nd_key_t *key);
/*  Prefix scan: calls fn for every key starting with prefix, in key order,
    until fn returns non-zero (that value is returned) or keys run out (0). */
typedef int (nd_db_scan_fn) (const MDB_val *key, const MDB_val *data, void *arg);
int nd_db_scan (MDB_txn *txn, MDB_dbi dbi, const nd_key_t *prefix, nd_db_scan_fn *fn, void *arg);
/*  Deletes every entry whose key starts with prefix (an empty prefix: the
    whole database) and, when match is not NULL, for which match returns
    non-zero: the rows of a person being erased. The count, or -1.       */
int nd_db_drop (MDB_txn *txn, MDB_dbi dbi, const nd_key_t *prefix, nd_db_scan_fn *match,
                void *arg);
/*  A time-ordered index forgets its past: deletes, in key order, the
    entries whose key starts with an nd_key_i64 below bound, at most max
    of them (a few per write keeps each write short).                    */
int nd_db_trim_before (MDB_txn *txn, MDB_dbi dbi, int64_t bound, int max, const char *what);
/*  Reports an LMDB error rc from operation `what`; returns -1.           */
int nd_db_error (int rc, const char *what);
/*  A self-test's LMDB directory, its environment closed: data.mdb,
    lock.mdb and the directory removed.                                   */
void nd_db_test_remove (const char *dir);

/* ---------------------------------------------------------------- stage */

typedef struct _nd_stage_t nd_stage_t;

/*  One message as a stage receives it from a durable link.              */
typedef struct {
    const char *link;           /* the upstream stage's name */
    uint64_t seq;               /* its sequence number on that link */
    const char *topic;          /* e.g. "event.track" */
    json_t *body;               /* borrowed; valid during apply only */
    int64_t time;               /* body "time" in ms, or 0 if absent */
    const char *text;           /* body as received, size bytes (not NUL-
                                   terminated); NULL when not from a link */
    size_t size;
} nd_msg_t;

typedef struct {
    const char *name;           /* program and default stage name */
    const char *summary;        /* one line for --help */
    const char *options_help;   /* extra lines for --help, or NULL */

    /*  The stage's class self-tests: "--selftest [-v]" runs them
        (verbose: each says its name), prints "NAME selftest: OK" and exits
        0; a test that fails aborts. May be NULL.                         */
    void (*selftest) (bool verbose);

    /*  Extra command-line option, e.g. "--stdin". Called for each argument
        the runtime does not know; return 0 if taken, -1 if unknown.      */
    int (*parse_arg) (const char *arg, void *args);
    void *args;

    /*  After config and LMDB are open. Open DBIs in txn, read options with
        nd_stage_option*, create *self_p. Return -1 with a logged reason to
        stop the program (bad config).                                    */
    int (*setup) (nd_stage_t *stage, MDB_txn *txn, void **self_p);

    /*  One input message, inside the batch's write transaction. Outputs go
        through nd_emit in the same txn, so state and outputs commit
        together. Return -1 (with nd_stage_reject) to skip a bad message;
        its state changes must not have been made.                        */
    int (*apply) (nd_stage_t *stage, void *self, MDB_txn *txn, const nd_msg_t *msg);

    /*  Fire what is due at clock time now (session expiry, journey timers).
        Called in a write txn after each batch and, in wall mode, every
        timer_interval. May be NULL.                                      */
    int (*timers) (nd_stage_t *stage, void *self, MDB_txn *txn, int64_t now);

    /*  Event time: when the first thing timers would fire is due (INT64_MAX:
        nothing). With it the clock stops at each due time on its way to
        the next message's, so a timer acts at its due time, as it does
        live, however far apart the messages that move the clock are (one
        process, or a partition that sees a share of them). May be NULL:
        timers then act at the time of the message that passes them.    */
    int64_t (*next_due) (nd_stage_t *stage, void *self, MDB_txn *txn);

    /*  A source of input other than links (the collector's HTTP server and
        stdin). source_fd: a file descriptor the loop polls (or -1).
        source_drain: called in a write txn when it is readable; emits. If
        it fails part-way what it emitted still commits with the batch, so
        it must answer its own clients for the part that failed.
        source_committed: called after the txn, rc 0 if committed.       */
    int (*source_fd) (void *self);
    int (*source_drain) (nd_stage_t *stage, void *self, MDB_txn *txn);
    void (*source_committed) (nd_stage_t *stage, void *self, int rc);

    /*  SIGHUP, or RELOAD on the control socket: read again the files
        setup read (journeys, segments, templates), between batches with
        no transaction open. Load and check the whole new set, and put it
        in place only if all of it is good: then write what was loaded
        into what ("4 journeys from conf/journeys") and return 0; else
        write the reason ("conf/journeys/x.zpl:3: no such step") and
        return -1, and the previous set runs on. NULL: nothing to reload
        (SIGHUP is then logged and ignored). reloads names what it reads
        for the log and --help ("journeys and templates").               */
    int (*reload) (nd_stage_t *stage, void *self, char *what, size_t size);
    const char *reloads;

    /*  --check (as nginx -t): load and check what setup would read from
        the files the pipeline file names (journeys, segments, templates),
        reading the stage's options with nd_stage_option*, but open no
        state, socket or thread. Log each error as file:line: reason and
        return -1 (nd_stage_config_refused for an error already logged).
        NULL: the runtime checks the pipeline file alone.                 */
    int (*check) (nd_stage_t *stage);
    /*  The channel ("push", "sms", "onsite") whose templates setup reads:
        --check loads them too (nd_stage_check_templates). NULL: none.    */
    const char *templates;

    /*  Adds stage counters to the control socket's STATS answer.         */
    void (*stats) (void *self, json_t *stats);

    void (*teardown) (void **self_p);

    /*  True when the stage may run as partitions ("partitions = N" in the
        pipeline file): it keeps nothing that spans people, so each
        partition does for its share what one process does for all.
        Others refuse to start partitioned.                               */
    bool partitioned;
    /*  A partitioned stage that keeps state per person moves a person's
        state between partitions when two people turn out to be one
        (nd_moves.c). person_export: everything the stage holds about
        person, as one JSON object, taken out of its state in txn (*state
        NULL when it holds nothing); a member "user" names the person for
        the stages after this one. person_import: puts such an object
        back, as it was. Both 0 / -1. NULL: the stage keeps nothing.      */
    int (*person_export) (nd_stage_t *stage, void *self, MDB_txn *txn, const char *person,
                          json_t **state);
    int (*person_import) (nd_stage_t *stage, void *self, MDB_txn *txn, const json_t *state);
    /*  For changing the number of partitions offline (nd-repartition(1)):
        person_each calls fn for every person the stage holds, stopping
        at fn's non-zero answer; shared_tables names the tables every
        partition keeps a whole copy of (the catalogue), NULL-ended.       */
    int (*person_each) (nd_stage_t *stage, void *self, MDB_txn *txn,
                        int (*fn) (const char *person, void *arg), void *arg);
    const char **shared_tables;
    /*  Called in a new partition once the shared tables are copied in:
        undo what in them counted the old partition's people. May be NULL. */
    int (*partition_new) (nd_stage_t *stage, void *self, MDB_txn *txn);
    /*  Numbers the stage gives out that no two partitions may give twice
        (the scheduler's instance and code-reminder numbers): raises this
        state's to at least numbers [i], then writes the larger of the two
        back into numbers [i], for ND_NUMBERS numbers. A re-partition
        passes every partition's through it, so each new one gives only
        numbers past all those given before. May be NULL.                 */
    int (*numbers) (nd_stage_t *stage, void *self, MDB_txn *txn, uint64_t *numbers);
    /*  From one partition to more: writes, as JSON lines, what the
        collector's router must know of the people the stage named so far
        (the sessionizer's identity graph). nd_repartition puts it in
        STATE/route-seed.jsonl, where the collector takes it when its
        router starts (collector_route.c). May be NULL.                   */
    int (*seed_write) (nd_stage_t *stage, void *self, MDB_txn *txn, FILE *out);
} nd_stage_def_t;

#define ND_NUMBERS 4

#define ND_VERSION "0.9.0"

/*  For a tool's main, before its own options: with "--version" among the
    arguments, prints "NAME (nudge) VERSION" and exits 0.                 */
void nd_version_arg (int argc, char **argv, const char *name);

/*  Runs the stage: parses argv (--help, --version, -c/--config FILE,
    -n/--name NAME, --clock wall|event, --notify-fd N, --check), loads the pipeline
    file, opens state, binds and connects, loops until SIGINT/SIGTERM;
    SIGHUP calls the def's reload between batches.
    Returns the exit code: 0, EX_USAGE (64) for bad arguments, EX_CONFIG
    (78) for a pipeline file it refused, 1 for anything else. With
    --check it only checks the configuration (the pipeline file as a
    whole, the stage's runtime options, then def->check), prints each
    error as file:line: reason on stderr and returns 0 or EX_CONFIG.     */
int nd_stage_main (int argc, char **argv, const nd_stage_def_t *def);

/*  A stage seen through its options alone, for a tool that runs part of
    a stage as the stage would (nd-render composes a message with the
    mail-sender's own code): name's section of the pipeline file, the
    wall clock, no state, no sockets, no loop. nd_stage_option* and
    nd_stage_config_error work; nothing else may be asked of it. NULL
    after logging file:line: reason.                                     */
nd_stage_t *nd_stage_options_new (const char *config_file, const char *name);
void nd_stage_options_destroy (nd_stage_t **self_p);

/*  Appends a message to this stage's output journal inside txn. The body is
    borrowed; "id" is added if absent (<stage>-<seq>), "time" is added if
    absent (the clock's now). Published on the tap after commit.          */
int nd_emit (nd_stage_t *stage, MDB_txn *txn, const char *topic, json_t *body);
/*  nd_emit for a message about the people whose routing keys are given
    (nd_route_key of an id; at most ND_ROUTE_KEYS): a partitioned stage
    reading this one gets it only in the partitions that own one of the
    keys. nd_emit's message is about no one in particular, and every
    partition gets it (README "Partitioned stages").                      */
#define ND_ROUTE_KEYS 4
int nd_emit_routed (nd_stage_t *stage, MDB_txn *txn, const char *topic, json_t *body,
                    const uint32_t *keys, size_t count);
/*  A person's routing key: a hash of one of their ids that every stage
    computes alike (32-bit FNV-1a); partition K of N owns key k when
    k % N == K.                                                            */
uint32_t nd_route_key (const char *id);

/*  Passes msg (the message being applied) on under topic with the members
    of extra added, as nd_emit of a copy of its body with them set would,
    but without writing again what the stage did not change: the body as
    received with extra's members appended. A body that already has one
    of them, or lacks "id" or "time", is copied and written whole. extra
    stays the caller's; NULL adds nothing (the body goes on as it came). */
int nd_emit_extended (nd_stage_t *stage, MDB_txn *txn, const char *topic, const nd_msg_t *msg,
                      const json_t *extra);

/*  Logs a rejected input message with its reason and counts it.         */
void nd_stage_reject (nd_stage_t *stage, const nd_msg_t *msg, const char *reason);

const char *nd_stage_name (nd_stage_t *stage);
nd_clock_t *nd_stage_clock (nd_stage_t *stage);
int64_t nd_stage_now (nd_stage_t *stage);
/*  In a partitioned stage, for a message about user (an id): when user
    moved from this partition to another one (a merge, nd_moves.c),
    passes msg on to that partition, which applies it as if it had come
    from msg's link, and returns 1; 0 when user did not move away (apply
    it here); -1 on error. For messages that may still name a person by
    an id they had before a merge (the senders' feedback).              */
int nd_stage_pass_moved (nd_stage_t *stage, MDB_txn *txn, const nd_msg_t *msg, const char *user);
/*  In a partitioned stage, sends message under topic to every other
    partition of the stage, which applies it with msg->link this
    partition's name (for what must hold in all of them: an erased
    address). Unpartitioned: does nothing. 0 / -1.                       */
int nd_stage_pass_all (nd_stage_t *stage, MDB_txn *txn, const char *topic, json_t *message);
/*  Whether link (a message's msg->link) is another partition of this
    stage: what nd_stage_pass_all sent is taken from such a link only.   */
bool nd_stage_is_sibling (nd_stage_t *stage, const char *link);
/*  The rows a stage's person_export takes out as they lie in LMDB go in
    the move.out body as [hex key, hex value]: one codec, so every stage
    writes and reads them alike. nd_move_hex: size bytes as lower-case
    hex, a JSON string (NULL when out of memory). nd_move_unhex: such a
    string's bytes into *data, malloc'd (the caller frees) with a NUL
    after them; -1 when hex is not a string of hex digit pairs.          */
json_t *nd_move_hex (const void *data, size_t size);
int nd_move_unhex (const json_t *hex, uint8_t **data, size_t *size);
/*  This stage's partition K, and in *parts their count N (0 and 1 when
    it runs unpartitioned).                                               */
int nd_stage_partition (nd_stage_t *stage, int *parts);
MDB_env *nd_stage_env (nd_stage_t *stage);
/*  The def's args, as parse_arg filled them in.                          */
void *nd_stage_args (nd_stage_t *stage);
/*  Event time only: busy (arg) says whether the stage has work due at the
    current time that is not done yet (nd_sender: orders out with its
    workers). While it has, the runtime applies nothing that would move
    the clock, so the clock waits for the work as the wall clock would.
    busy NULL: never busy.                                                */
void nd_stage_busy_when (nd_stage_t *stage, bool (*busy) (void *arg), void *arg);
/*  Wakes the loop as if source_fd were readable (thread-safe).          */
void nd_stage_wake (nd_stage_t *stage);
/*  Makes a socket the stage binds itself (the runtime binds out, pub and
    ctl) a CURVE server like those when the stage has "curve": the stage's
    keypair, and only the keys in "curve-clients" let in. Call before the
    bind. Returns true if it did, false (socket untouched) without curve. */
bool nd_stage_curve_serve (nd_stage_t *stage, void *socket);

/*  Options from the stage's section of the pipeline file, or the
    [pipeline] section, or the default. Paths like "http" or "write-keys/key".
    nd_stage_option_* return -1 (after logging file and reason) on a value
    that does not parse.                                                  */
const char *nd_stage_option (nd_stage_t *stage, const char *path, const char *fallback);
int nd_stage_option_duration (nd_stage_t *stage, const char *path, const char *fallback, int64_t *ms);
int nd_stage_option_int (nd_stage_t *stage, const char *path, const char *fallback, int64_t *value);
/*  Whether the stage syncs what it writes ("sync", default 1): its LMDB
    commits, and the files a dry run writes (Maildir, spools). With 0 a
    kill -9 loses nothing, a power cut may (nd-backtest, tests).          */
bool nd_stage_syncs (nd_stage_t *stage);
/*  Every value of repeated children of path (e.g. all "key" under
    "write-keys"); returns a NULL-terminated array the caller frees with
    free() (the strings are not the caller's).                            */
const char **nd_stage_option_list (nd_stage_t *stage, const char *path, const char *child);
/*  Logs "<file>:<line>: <reason>" for the option at path, then returns -1. */
int nd_stage_config_error (nd_stage_t *stage, const char *path, const char *reason);
/*  For an error in a file the pipeline file names (journeys, segments),
    already logged as file:line: reason: the start is refused as for a bad
    pipeline file (exit 78). Returns -1.                                  */
int nd_stage_config_refused (nd_stage_t *stage);
/*  For a def's check hook: the templates a sender of channel ("push",
    "sms", "onsite") reads at setup (options "templates", "locale") load;
    else -1 after logging file: reason.                                   */
int nd_stage_check_templates (nd_stage_t *stage, const char *channel);
/*  For an endpoint a stage binds itself (option names it): a tcp:// one
    without the stage's "curve" stops the start (-1, file:line: reason)
    unless the stage says "insecure = yes", which is then logged.        */
int nd_stage_check_exposure (nd_stage_t *stage, const char *option, const char *endpoint);
/*  A repeated child with options of its own, such as

        browser-keys
            key = "shop-browser-key"
                origins = "https://shop.example"

    ("browser-keys", "key", 0, "origins") gives the first key's value and
    sets *sub_value to its origins (NULL when it has none). NULL past the
    last child. Neither string is the caller's.                          */
const char *nd_stage_option_nth (nd_stage_t *stage, const char *path, const char *child,
                                 size_t nth, const char *sub, const char **sub_value);
/*  As nd_stage_config_error, at the nth (from 0) line that sets path
    ("browser-keys/key"): the line of that one child.                     */
int nd_stage_config_error_nth (nd_stage_t *stage, const char *path, size_t nth,
                               const char *reason);

/* ------------------------------------------------------------------ ZPL */

/*  Loads a ZPL file (czmq zconfig); on a syntax error logs "file:line:
    reason" and returns NULL. The caller destroys the result.             */
typedef struct _zconfig_t zconfig_t;
zconfig_t *nd_zpl_load (const char *file);
/*  The same, for tools: on failure *error is a "file[:line]: reason"
    string the caller frees.                                              */
zconfig_t *nd_zpl_parse (const char *file, char **error);

/* ---------------------------------------------------------------- curve */

/*  CURVE keys for stages on several hosts (README "Across hosts: tcp://
    with CURVE"). A key file is a czmq certificate (ZPL: curve/public-key,
    curve/secret-key, Z85), as nd-cert writes NAME.secret (both keys, mode
    0600) and NAME.pub (the public key). A path may be written "file:PATH". */
#define ND_CURVE_KEY 41         /* a Z85 key and its NUL */
/*  The public certificate of a stage whose options "curve" and
    "curve-public" are given (either may be NULL): curve-public, else the
    curve file with ".secret" replaced by ".pub"; NULL when neither gives
    one. Caller's string.                                                 */
char *nd_curve_public_file (const char *curve, const char *curve_public);
/*  Reads a key file into public_key and, unless NULL, secret_key (each
    ND_CURVE_KEY bytes; a secret must match its public key). Returns 0, or
    -1 with *error "FILE[:LINE]: reason" (the caller's).                  */
int nd_curve_read (const char *file, char *public_key, char *secret_key, char **error);
/*  Makes a libzmq socket, before it connects, a CURVE client with the
    keypair in cert_file, of the server whose public key is in server_file.
    Returns 0, or -1 with *error (the caller's).                          */
int nd_curve_client_files (void *socket, const char *cert_file, const char *server_file,
                           char **error);

/* ---------------------------------------------------------------- tests */
void nd_time_test (bool verbose);
void nd_key_test (bool verbose);
void nd_db_test (bool verbose);
void nd_clock_test (bool verbose);
void nd_bucket_test (bool verbose);
void nd_curve_test (bool verbose);
void nd_moves_test (bool verbose);

#endif
