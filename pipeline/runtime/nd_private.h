/*  nd_private.h - classes inside the runtime, not for stages.           */
#ifndef ND_PRIVATE_H_INCLUDED
#define ND_PRIVATE_H_INCLUDED
#include <czmq.h>
#include "nd.h"
#include "nd_pipefile.h"

/*  nd_pipefile, for nd_config: the stage's item at path, else
    [pipeline]'s (value may be empty), NULL when neither has it.          */
zconfig_t *nd_pipefile_item (nd_pipefile_t *self, const char *stage, const char *path);
/*  The stage's own section, NULL when the file has none for it.          */
zconfig_t *nd_pipefile_section (nd_pipefile_t *self, const char *stage);
/*  The stages that read stage (whose inputs name it). Caller destroys.   */
zlist_t *nd_pipefile_consumers (nd_pipefile_t *self, const char *stage);

/*  nd_config - the pipeline file, seen from one stage.                  */
typedef struct _nd_config_t nd_config_t;
/*  whole: also refuse an "input" that is not a stage in the file (as the
    tools and --check do); a starting stage lets an upstream stand in at
    its default endpoints. On failure logs file:line: reason, NULL.      */
nd_config_t *nd_config_load (const char *file, const char *stage, bool whole);
void nd_config_destroy (nd_config_t **self_p);
const char *nd_config_file (nd_config_t *self);
/*  Stage section, then [pipeline], then fallback.                        */
const char *nd_config_get (nd_config_t *self, const char *path, const char *fallback);
const char **nd_config_list (nd_config_t *self, const char *path, const char *child);
/*  See nd_stage_option_nth.                                             */
const char *nd_config_nth (nd_config_t *self, const char *path, const char *child, size_t nth,
                           const char *sub, const char **sub_value);
/*  The stage's endpoint of kind "out" | "pub" | "ctl" for any stage. Caller frees. */
char *nd_config_endpoint (nd_config_t *self, const char *stage, const char *kind);
/*  Stages whose "input" names this stage. Caller destroys the list.      */
/*  The stages this one reads (nd_pipefile_inputs).                     */
zlist_t *nd_config_inputs (nd_config_t *self);
/*  This stage's partition and its stage's count (nd_pipefile_partition). */
int nd_config_partition (nd_config_t *self, int *parts);
/*  The program a stage runs (nd_pipefile_program).                      */
const char *nd_config_program (nd_config_t *self, const char *stage);
/*  The section a stage comes from (nd_pipefile_section_name).            */
const char *nd_config_section_name (nd_config_t *self, const char *stage);
zlist_t *nd_config_consumers (nd_config_t *self);
/*  Logs "<file>:<line>: <stage>/<path>: <reason>"; returns -1.          */
int nd_config_error (nd_config_t *self, const char *path, const char *reason);
/*  How many errors nd_config_error (or _in) has reported.                */
int nd_config_errors (nd_config_t *self);
/*  Counts an error in a file the configuration names (a journey, a
    segment), already logged as file:line: reason.                       */
void nd_config_refused (nd_config_t *self);
/*  As nd_config_error, at the nth (from 0) line that sets path.         */
int nd_config_error_nth (nd_config_t *self, const char *path, size_t nth, const char *reason);
/*  Fails on options in the stage's section that nobody asked for.        */
int nd_config_check_unknown (nd_config_t *self);
/*  Another stage's option: its section, then [pipeline], else NULL.     */
const char *nd_config_of (nd_config_t *self, const char *stage, const char *path);
/*  As nd_config_error, for an option of another stage.                   */
int nd_config_error_in (nd_config_t *self, const char *stage, const char *path, const char *reason);

/*  nd_curve - the stage's CURVE keypair ("curve") and the ZAP handler
    (zauth) that lets in only the keys in "curve-clients".               */
typedef struct _nd_curve_t nd_curve_t;
/*  0 with *self_p NULL when the stage has no "curve"; -1 after logging
    "file:line: reason" on a bad certificate or directory.               */
int nd_curve_new (nd_config_t *config, nd_curve_t **self_p);
void nd_curve_destroy (nd_curve_t **self_p);
/*  Makes a socket a CURVE server, before it binds; self NULL: nothing.  */
void nd_curve_serve (nd_curve_t *self, void *socket);
/*  1 with the upstream's public key in server_key (ND_CURVE_KEY bytes)
    when that stage uses CURVE, 0 when it does not, -1 after logging.    */
int nd_curve_upstream (nd_curve_t *self, nd_config_t *config, const char *upstream, char *server_key);
/*  Makes a socket, before it connects, a CURVE client of server_key.    */
void nd_curve_client (nd_curve_t *self, void *socket, const char *server_key);
/*  True when key (Z85, a message's "User-Id" on a CURVE socket) is the
    one in curve-clients/NAME.pub: the peer holds NAME's keypair.         */
bool nd_curve_holds (nd_curve_t *self, const char *name, const char *key);

/*  nd_outbox - the sending end of the durable links: the stage's output
    journal in LMDB and the ROUTER socket its consumers fetch from.       */
typedef struct _nd_outbox_t nd_outbox_t;
nd_outbox_t *nd_outbox_new (MDB_env *env, MDB_txn *txn, const char *endpoint,
                            zlist_t *consumers, uint64_t retain, nd_curve_t *curve);
void nd_outbox_destroy (nd_outbox_t **self_p);
void *nd_outbox_socket (nd_outbox_t *self);
/*  Appends topic and body as the next entry; with count routing keys
    (at most ND_ROUTE_KEYS), a partitioned consumer gets it only in the
    partitions that own one of them, and the others learn its time (ms)
    with the range they skip, so their clocks move as one stage's would. */
int nd_outbox_append (nd_outbox_t *self, MDB_txn *txn, const char *topic,
                      const char *body, size_t size, const uint32_t *keys, size_t count,
                      int64_t time, uint64_t *seq);
uint64_t nd_outbox_next_seq (nd_outbox_t *self);
int nd_outbox_seal (nd_outbox_t *self, MDB_txn *txn);
void nd_outbox_committed (nd_outbox_t *self);
void nd_outbox_aborted (nd_outbox_t *self);
int nd_outbox_handle (nd_outbox_t *self);
int nd_outbox_pump (nd_outbox_t *self);
bool nd_outbox_trim_due (nd_outbox_t *self);
int nd_outbox_trim (nd_outbox_t *self, MDB_txn *txn);
void nd_outbox_stats (nd_outbox_t *self, json_t *stats);

/*  nd_inlink - the receiving end of one durable link from an upstream.  */
typedef struct {
    uint64_t seq;
    zmq_msg_t topic;
    zmq_msg_t body;
} nd_rawmsg_t;
typedef struct _nd_inlink_t nd_inlink_t;
/*  server_key: the upstream's CURVE public key, or NULL for a plain link. */
nd_inlink_t *nd_inlink_new (const char *upstream, const char *endpoint,
                            const char *consumer, uint64_t position, const char *topics,
                            nd_curve_t *curve, const char *server_key);
void nd_inlink_destroy (nd_inlink_t **self_p);
void *nd_inlink_socket (nd_inlink_t *self);
const char *nd_inlink_upstream (nd_inlink_t *self);
/*  Receives the next new message without blocking: 1 got one (close its
    parts with nd_rawmsg_close), 0 nothing (more) now, -1 error.          */
int nd_inlink_recv (nd_inlink_t *self, nd_rawmsg_t *msg);
void nd_rawmsg_close (nd_rawmsg_t *msg);
uint64_t nd_inlink_position (nd_inlink_t *self);
bool nd_inlink_dirty (nd_inlink_t *self);
void nd_inlink_committed (nd_inlink_t *self);
void nd_inlink_aborted (nd_inlink_t *self);
/*  Holds back the message just received (it stays unapplied and is not
    acknowledged); release takes it up again. Read nothing in between.   */
void nd_inlink_hold (nd_inlink_t *self);
void nd_inlink_release (nd_inlink_t *self);
void nd_inlink_heartbeat (nd_inlink_t *self, int64_t wall_now);
void nd_inlink_stats (nd_inlink_t *self, json_t *stats);

/*  nd_inputs - a stage's input links, read in event-time order (the low
    watermark of its time inputs; see nd_inputs.c).                      */
typedef struct _nd_inputs_t nd_inputs_t;
#define ND_INPUTS_MAX 16            /* upstream stages one stage reads */
typedef struct {
    nd_msg_t msg;               //  msg.body is the caller's; NULL: unreadable
    zmq_msg_t raw;              //  holds msg.text; the caller's
    int64_t clock;              //  event time: move the clock here first (0: stay)
    bool keeps_time;            //  from a time input
    bool sibling;               //  from a sibling partition (nd_moves.c)
    const char *error;          //  why the body is unreadable
} nd_input_msg_t;
nd_inputs_t *nd_inputs_new (bool event_time);
void nd_inputs_destroy (nd_inputs_t **self_p);
/*  Takes the link. keeps_time: a time input. sibling: a sibling
    partition's moves, taken as they come, whatever the clock. 0, or -1
    when full.                                                           */
int nd_inputs_add (nd_inputs_t *self, nd_inlink_t *link, bool keeps_time, bool sibling);
/*  gate says whether a head may go now (nd_moves_ready); one that may not
    stays, and holds its input.                                          */
typedef bool (nd_inputs_gate_fn) (void *arg, const char *topic, const json_t *body);
void nd_inputs_set_gate (nd_inputs_t *self, nd_inputs_gate_fn *gate, void *arg);
size_t nd_inputs_count (nd_inputs_t *self);
nd_inlink_t *nd_inputs_link (nd_inputs_t *self, size_t index);
/*  The next message to apply: 1 and *msg, or 0 when none may go now. now
    is the stage's clock; busy: it must not move now.                    */
int nd_inputs_next (nd_inputs_t *self, int64_t now, bool busy, nd_input_msg_t *msg);
/*  Says the inputs' sockets may have something again (after a poll):
    until then nd_inputs_next does not read again one it found empty.    */
void nd_inputs_rearm (nd_inputs_t *self);
/*  Frees what nd_inputs_next handed over: body and received text.       */
void nd_input_msg_close (nd_input_msg_t *msg);
/*  The socket to poll for input index, or NULL when it has nothing to wait for. */
void *nd_inputs_socket (nd_inputs_t *self, size_t index);
/*  Looks at each input (about once a second, after a commit): whether
    entries wait on it while its position stands still. now: the stage's
    clock; busy: its work due now is not done; paused: nothing is read on
    purpose, so nothing is stalled.                                      */
void nd_inputs_watch (nd_inputs_t *self, int64_t wall_now, int64_t now, bool busy, bool paused);
/*  True when an input has had entries waiting for at least `after` ms
    without its position moving: why, into reason, and since when.       */
bool nd_inputs_stalled (nd_inputs_t *self, int64_t wall_now, int64_t after, char *reason,
                        size_t size, int64_t *since);
/*  After a failed commit: unapplied heads dropped, links resumed from
    what is committed.                                                   */
void nd_inputs_aborted (nd_inputs_t *self);

#define ND_LINK_WINDOW 20000        /* messages in flight per consumer */
#define ND_BATCH_MAX 4000           /* input messages per transaction */
#define ND_DUE_STEPS_MAX 10000      /* due times the clock stops at before a message */
/*  nd_moves - a person's state moving between partitions (nd_moves.c). */
typedef struct _nd_moves_t nd_moves_t;
nd_moves_t *nd_moves_new (MDB_txn *txn, bool partitioned);
void nd_moves_destroy (nd_moves_t **self_p);
/*  After an aborted batch: what has arrived, as committed.               */
int nd_moves_reload (nd_moves_t *self, MDB_env *env);
/*  False for a move.in whose move has not arrived.                       */
bool nd_moves_ready (nd_moves_t *self, const char *topic, const json_t *body);
/*  Applies a message whose topic begins "move."; sibling: it came from a
    sibling partition. 0 / -1 (rejected or failed).                       */
int nd_moves_apply (nd_moves_t *self, nd_stage_t *stage, MDB_txn *txn, const nd_msg_t *msg,
                    bool sibling);
/*  nd_stage_pass_moved (nd.h): 1 passed on, 0 not moved away, -1.       */
int nd_moves_pass (nd_moves_t *self, nd_stage_t *stage, MDB_txn *txn, const nd_msg_t *msg,
                   const char *user);
/*  nd_stage_pass_all (nd.h).                                             */
int nd_moves_pass_all (nd_moves_t *self, nd_stage_t *stage, MDB_txn *txn, const char *topic,
                       json_t *message);
/*  nd_stage, for nd_moves: the stage's definition and its own object.    */
const nd_stage_def_t *nd_stage_def (nd_stage_t *stage);
void *nd_stage_self (nd_stage_t *stage);
nd_config_t *nd_stage_config (nd_stage_t *stage);
/*  --repartition-from N: moves the stage's people from N partitions to
    what the pipeline file says now (nd_repartition.c). 0 / -1.         */
int nd_repartition (nd_stage_t *stage, int from);

/*  nd_stage's parts (nd_stage.c lists them): the stage they all see, and
    what each offers the ones above it.                                  */
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
/*  nd_stage_setup.c: each 0 / -1 after logging, as nd_stage_main needs. */
int nd_stage_parse_args (nd_stage_t *stage, int argc, char **argv);
int nd_stage_setup (nd_stage_t *stage);
/*  --repartition-from and --check: an exit status.                     */
int nd_stage_repartition (nd_stage_t *stage);
int nd_stage_check (nd_stage_t *stage);
/*  nd_stage_control.c: RELOAD and SIGHUP's reload, and one request.     */
int nd_stage_reload (nd_stage_t *stage, const char *by, char *what, size_t size);
void nd_stage_control (nd_stage_t *stage);
/*  nd_stage_batch.c: the keys of the meta table, read back by setup.    */
int nd_stage_input_key (nd_key_t *key, const char *upstream);
void nd_stage_clock_key (nd_key_t *key);
/*  The batch's transaction, opened once (0 / -1), and the loop's steps. */
int nd_stage_begin (nd_stage_t *stage);
void nd_stage_run_timers (nd_stage_t *stage);
bool nd_stage_busy (nd_stage_t *stage);
void nd_stage_read_inputs (nd_stage_t *stage);
int nd_stage_commit (nd_stage_t *stage);
/*  nd_stage_emit.c: taps coming and going; the batch's publications
    sent after a commit (committed) or dropped.                          */
void nd_stage_taps (nd_stage_t *stage);
void nd_stage_publish_all (nd_stage_t *stage, bool committed);

/*  nd_json's parts: the parser (nd_json.c) and the writer (nd_json_dump.c)
    scan strings alike. Inline here, not called across files: they run on
    every byte of every message.                                         */
#define ND_JSON_MAX_DEPTH JSON_PARSER_MAX_DEPTH
static inline bool
nd_json_is_digit (int c)
{
    return c >= '0' && c <= '9';
}

/*  A byte a JSON string carries as it is: printable ASCII (and DEL), but
    not " or \.                                                           */
static inline bool
nd_json_is_plain (unsigned char c)
{
    return c >= 0x20 && c < 0x80 && c != '"' && c != '\\';
}

/*  A mark (0x80) on each byte of the word that is ", \, below 0x20 or
    above 0x7F: the classic has-zero-byte tests, on the word and on it
    xor'ed with " and with \. A borrow only carries up from a byte that
    is marked rightly, so the lowest mark is always a byte that is not
    plain; marks above it may be wrong.                                   */
static inline uint64_t
nd_json_word_marks (uint64_t word)
{
    const uint64_t ones = 0x0101010101010101ULL;
    uint64_t quote = word ^ (ones * '"');
    uint64_t slash = word ^ (ones * '\\');
    uint64_t special = ((quote - ones) & ~quote)
                     | ((slash - ones) & ~slash)
                     | ((word - ones * 0x20) & ~word)
                     | word;
    return special & ones * 0x80;
}

/*  Returns the first byte from p that is not plain, having copied the
    plain ones to out unless out is NULL. Eight at a time while eight
    remain: the lowest mark says where the run ends, so no byte of the
    word is looked at again (out may get up to 7 bytes past the run,
    which the next write covers: every caller has room there for what is
    left of the input).                                                   */
static inline const char *
nd_json_plain_run (const char *p, const char *end, char *out)
{
    while (end - p >= 8) {
        uint64_t word;
        memcpy (&word, p, 8);
        uint64_t marks = nd_json_word_marks (word);
#if defined (__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
        if (out) {
            memcpy (out, &word, 8);
            out += 8;
        }
        if (marks)
            return p + __builtin_ctzll (marks) / 8;
#else
        if (marks)
            break;
        if (out) {
            memcpy (out, &word, 8);
            out += 8;
        }
#endif
        p += 8;
    }
    for (; p < end && nd_json_is_plain ((unsigned char) *p); p++)
        if (out)
            *out++ = *p;
    return p;
}

/*  Returns the length of the valid UTF-8 sequence at text, whose first byte
    is over 0x7F, or 0. Valid as jansson's utf8_check_full has it: no
    overlong forms, no surrogates, nothing past U+10FFFF. Called, not
    inlined, as when parser and writer were one file: only non-ASCII bytes
    come here, and the scanning loops stay as small as they were.         */
static __attribute__ ((noinline, unused)) size_t
nd_json_utf8_length (const char *text, const char *end)
{
    const unsigned char *p = (const unsigned char *) text;
    size_t avail = (size_t) (end - text);
    size_t length = p [0] >= 0xC2 && p [0] <= 0xDF? 2
                  : p [0] >= 0xE0 && p [0] <= 0xEF? 3
                  : p [0] >= 0xF0 && p [0] <= 0xF4? 4: 0;
    if (length == 0 || avail < length)
        return 0;
    for (size_t i = 1; i < length; i++)
        if ((p [i] & 0xC0) != 0x80)
            return 0;
    if ((p [0] == 0xE0 && p [1] < 0xA0)         /* overlong */
    ||  (p [0] == 0xED && p [1] >= 0xA0)        /* surrogate */
    ||  (p [0] == 0xF0 && p [1] < 0x90)         /* overlong */
    ||  (p [0] == 0xF4 && p [1] >= 0x90))       /* past U+10FFFF */
        return 0;
    return length;
}


#endif
