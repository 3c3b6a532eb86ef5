/*  nd_sender.h - the outbox every channel sender shares.

    A sender stage (push-sender, sms-sender, mail-sender) receives send
    orders and must deliver each once, retry what fails for a while, and
    tell the scheduler how it went. That machinery lives here; the stage
    supplies a provider (how to hand a message to Web Push, Twilio, an
    SMTP relay) and, if it wants, two hooks (suppression lists, opt-outs).

    The outbox, in the stage's own LMDB:
      - apply() of a send order stores it under its idempotency key; a key
        already known (queued, in flight or settled within "keep") is not
        sent again;
      - a "due" index ordered by nd_key_i64 (due) + key holds what waits;
        due times are the stage's clock (nd_stage_now), so in event-time
        mode ticks move retries along and tests never sleep;
      - an order handed to a worker is first marked "sending" and that mark
        is committed; only then does a worker thread deliver it, outside
        any transaction; its result comes back through the stage's wake
        path (source_drain) and is applied in the next transaction;
      - on start, every order still marked "sending" goes back to due.

    In event time (a replay, a backtest) the outbox is a faithful
    simulation of live sending: each due order is judged at its own due
    time (lifetime, not_after), the rate limit counts event time and
    pushes what it holds back to the moment it would have let it go, and
    the stage takes no input that would move its clock while an order is
    out with a worker (nd_sender_new tells the stage so, through
    nd_stage_busy_when), so the clock does not run past work not yet done.

    So after kill -9 the only orders that can reach a person twice are the
    ones in flight at the kill whose provider had accepted them but whose
    result was not yet committed: at most max-inflight (default 100), in
    practice the batches the workers were delivering. A clean stop
    (SIGTERM) lets the workers finish the batch they hold; orders still
    queued for a worker were never handed to a provider and go back to due.

    Outcomes (nd_send_result_t.outcome):
      DELIVERED   feedback.delivered; the order is done.
      RETRY       temporary (4xx, timeout, dropped connection): tried again
                  after base * 2^(attempt-1), capped at retry-cap, or after
                  the provider's Retry-After if that is later; no jitter, so
                  tests are deterministic. When the order is older than
                  lifetime (or past its "not_after"), feedback.failed.
      PERMANENT   feedback.<topic>: "bounced" unless the provider names
                  another ("unreachable" for a dead push subscription).

    Feedback body: "id" ("<key>#<topic>"), "user", "time" (the stage's
    now), "idempotency_key", "channel", "journey", "instance", "step",
    "variant" (those the order had), "attempts", "reason" (one line, with
    e-mail addresses masked; not for delivered), and the provider's extra
    fields (e.g. "segments" for SMS). Logs never carry addresses.

    Options, read from the stage's section of the pipeline file:
      retry-base [1m]     first retry delay
      retry-cap [1h]      longest delay between tries
      lifetime [2d]       give up (feedback.failed) after this long
      rate [0]            messages per second to the provider, 0: no limit
      max-inflight [100]  orders marked sending at once (the crash window)
      batch [20]          orders per provider call (per SMTP connection)
      connections [1]     worker threads, each calling deliver() in turn
      keep [30d]          how long a settled key is remembered (dedupe)

    A sender stage runs through nd_sender_main (nd_sender_stage.c), which
    puts the outbox in the loop: timers, source_drain and source_committed
    go to nd_sender_timers, nd_sender_drain and nd_sender_committed (then
    to the channel's own, if any), STATS starts with nd_sender_stats,
    SIGHUP reloads the templates the channel named (nd_sender_reloads),
    and teardown stops the workers before the channel frees what they use.
    The channel's def (see pipeline/push-sender/push_sender.c) gives
      setup          *self_p = its self; *sender_p = nd_sender_new (stage,
                     txn, &provider, provider_self, &hooks);
      apply          its checks, then nd_sender_apply (sender, txn, msg);
    and what else is its own (a reload, STATS, a source of its own).
    A stage for which sending is one part of a bigger job can wire an
    outbox itself with the functions below.                              */
#ifndef ND_SENDER_H_INCLUDED
#define ND_SENDER_H_INCLUDED

#include "nd.h"
#include "nd_templates.h"

typedef enum {
    ND_SEND_DELIVERED = 0,
    ND_SEND_RETRY,
    ND_SEND_PERMANENT
} nd_send_outcome_t;

#define ND_SEND_TOPIC_MAX 32
#define ND_SEND_REASON_MAX 256

/*  What a provider says about one order.                                 */
typedef struct {
    nd_send_outcome_t outcome;
    char topic [ND_SEND_TOPIC_MAX];     //  PERMANENT: "bounced" if left ""
    char reason [ND_SEND_REASON_MAX];   //  one line, e.g. "451 4.7.1 try later"
    int64_t retry_after_ms;             //  RETRY: the provider's wish, 0 none
    json_t *extra;                      //  fields for the feedback body, or
                                        //  NULL; the sender takes ownership
} nd_send_result_t;

/*  One order handed to a provider. The result starts as RETRY with reason
    "not attempted", so a provider that stops part-way (connection lost)
    leaves the rest to be tried again.                                    */
typedef struct {
    const json_t *order;        //  the send order as received; read-only
    const char *key;            //  its idempotency key
    int attempt;                //  1 on the first try
    nd_send_result_t result;    //  the provider fills this in
    int64_t time;               //  the stage's clock when the try was due:
                                //  what a message says its time is (a
                                //  mail's Date, a push's TTL left)
} nd_send_job_t;

/*  A channel provider: one of these per file (smtp, maildir, twilio ...). */
typedef struct {
    const char *name;           //  for logs: "smtp", "maildir"
    /*  Delivers count jobs (one SMTP session, one curl multi round), filling
        each job's result. Called on a worker thread, outside any LMDB
        transaction; with connections > 1 several calls run at once, so
        keep per-call state on the stack and self read-only.              */
    void (*deliver) (void *self, nd_send_job_t *jobs, size_t count);
    /*  Frees the provider's self; may be NULL.                           */
    void (*destroy) (void **self_p);
} nd_send_provider_t;

/*  The stage's say, both optional, both inside the loop's transaction.   */
typedef struct {
    /*  Before each try, due at time now (the stage's clock; in event time
        the try's own due time): 0 to deliver, 1 to settle now with *result
        (e.g. an address suppressed since the order was queued), -1 on
        error.                                                            */
    int (*check) (void *arg, MDB_txn *txn, const json_t *order, int64_t now,
                  nd_send_result_t *result);
    /*  When an order settles (delivered, failed or permanent), before its
        feedback is emitted: record a bounce, add fields to feedback.
        -1 on error.                                                      */
    int (*settled) (void *arg, MDB_txn *txn, const json_t *order,
                    const nd_send_result_t *result, const char *topic, json_t *feedback);
    void *arg;
} nd_send_hooks_t;

typedef struct _nd_sender_t nd_sender_t;

/*  In setup's txn: reads the options above, opens the outbox, puts orders
    left "sending" by a crash back to due, starts the workers. Takes
    provider_self (destroyed with provider->destroy). hooks may be NULL.
    Returns NULL after logging a reason (bad option).                     */
nd_sender_t *nd_sender_new (nd_stage_t *stage, MDB_txn *txn,
                            const nd_send_provider_t *provider, void *provider_self,
                            const nd_send_hooks_t *hooks);
/*  Stops the workers (each finishes the batch it holds) and frees.       */
void nd_sender_destroy (nd_sender_t **self_p);

/*  Stores one send order (topic "send.<channel>") and, if a worker has
    room, marks it sending. A key seen before is counted and dropped. An
    order without "idempotency_key", "user" or "to" (an address, or an
    object such as a push subscription; the channel checks what is in it)
    is rejected (nd_stage_reject) and -1 returned; 0 otherwise.          */
int nd_sender_apply (nd_sender_t *self, MDB_txn *txn, const nd_msg_t *msg);
/*  Stores an order that did not come as a message (chat-bridge's own
    e-mail): as nd_sender_apply.                                          */
int nd_sender_queue (nd_sender_t *self, MDB_txn *txn, const json_t *order);
/*  person.erased: drops the user's orders still waiting (due or retrying;
    one with a worker is the provider's already), each settled without
    feedback and counted "erased". The count, or -1.                     */
int nd_sender_forget (nd_sender_t *self, MDB_txn *txn, const char *user);
/*  Marks due orders sending, up to max-inflight; prunes old settled keys. */
int nd_sender_timers (nd_sender_t *self, MDB_txn *txn, int64_t now);
/*  Applies the results the workers have returned, then dispatches more.  */
int nd_sender_drain (nd_sender_t *self, MDB_txn *txn);
/*  After the loop's commit: rc 0 hands the orders marked in it to the
    workers; otherwise forgets them (still due in LMDB) and keeps the
    results for the next transaction.                                     */
void nd_sender_committed (nd_sender_t *self, int rc);
/*  Adds "outbox": {queued, sending, retrying, delivered, failed, bounced,
    <other permanent topics>, duplicates} (committed figures).            */
void nd_sender_stats (nd_sender_t *self, json_t *stats);

/*  The templates SIGHUP reloads (nd_templates_reload), borrowed from the
    provider that renders with them; nd_sender_main's reload when the
    channel has none of its own.                                          */
void nd_sender_reloads (nd_sender_t *self, nd_templates_t *templates);
int nd_sender_reload (nd_sender_t *self, char *what, size_t size);

/*  Copies text into out (size bytes), one line, with the local part of
    every e-mail address masked ("b***@example.com"): for reasons that
    quote a server's answer.                                              */
void nd_sender_mask (const char *text, char *out, size_t size);

void nd_sender_test (bool verbose);

/*  A sender stage: what its channel adds to the outbox. name, summary,
    options_help, selftest, reloads, check and templates as in nd_stage_def_t; setup and
    apply required, the rest may be NULL. With reloads and no reload,
    SIGHUP reloads the templates setup named (nd_sender_reloads). stats
    gets a read-only transaction on the stage's state, or NULL when none
    could begin. Each hook gets the channel's
    self, and runs after the outbox's part (timers, committed, stats) or
    before it (source_drain). At the end: stop, then the outbox's workers
    stop, then teardown (NULL frees the channel's self with free()).     */
typedef struct {
    const char *name;
    const char *summary;
    const char *options_help;
    void (*selftest) (bool verbose);
    /*  Makes the channel's self (*self_p) and its outbox (*sender_p, with
        nd_sender_new). Whatever it set is torn down even when it fails;
        -1 (after logging a reason) stops the program.                    */
    int (*setup) (nd_stage_t *stage, MDB_txn *txn, void **self_p, nd_sender_t **sender_p);
    int (*apply) (nd_stage_t *stage, void *self, MDB_txn *txn, const nd_msg_t *msg);
    int (*timers) (nd_stage_t *stage, void *self, MDB_txn *txn, int64_t now);
    int (*source_drain) (nd_stage_t *stage, void *self, MDB_txn *txn);
    void (*source_committed) (nd_stage_t *stage, void *self, int rc);
    int (*reload) (nd_stage_t *stage, void *self, char *what, size_t size);
    const char *reloads;
    int (*check) (nd_stage_t *stage);   //  --check, as in nd_stage_def_t
    const char *templates;              //  --check loads them, as in nd_stage_def_t
    void (*stats) (void *self, MDB_txn *txn, json_t *stats);
    /*  Before the workers stop: ends what the channel runs beside them on
        the provider's state (sms-sender's webhook server reads the
        gateway's account, which the outbox frees).                      */
    void (*stop) (void *self);
    void (*teardown) (void **self_p);
} nd_sender_def_t;

/*  Runs the sender stage over nd_stage_main; its exit code.              */
int nd_sender_main (int argc, char **argv, const nd_sender_def_t *def);

#endif
