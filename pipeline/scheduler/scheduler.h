/*  scheduler.h - what the scheduler's source files share.

    Private to pipeline/scheduler: other stages know the scheduler only by
    its messages (scheduler(1), README "Send orders" and "Feedback").

    One file per concern:
      scheduler.c    the stage: setup, message dispatch, STATS
      journey.c      journeys as data: conf/journeys (one .zpl file per journey), checked at start
      cond.c         conditions ("cart.value > 20") and paths into JSON
      templates.c    which templates exist, per channel and locale
      timers.c       the durable, time-ordered timer index
      instance.c     journey instances: entry, re-entry, exit, clean-up
      engine.c       running an instance's steps: wait, check, split, send
      send.c         one send step: decide, issue a code, emit the order
      policy.c       send-time rules: order, browsing, chat, channel,
                     quiet hours, frequency caps
      people.c       what the scheduler knows of a person: contacts,
                     consent, opt-outs, activity, identity merges
      codes.c        unique expiring discount codes
      attribution.c  conversions, and the counters nd-report reads
      feedback.c     the senders' feedback: fallback, opt-outs, clicks
      confirm.c      double opt-in: a link or code for a claimed contact
      erase.c        person.erased, visitor.forgotten: what goes; erased
                     addresses' hashes

    State, one LMDB database each (keys through nd_key_*):
      sched-meta  "epoch", "secret", "next-instance", "next-code", "now"
      timers      i64 due + u64 instance + u8 kind      -> ""
      instances   u64 instance                          -> JSON record
      active      user + journey                        -> u64 instance
      owned       user + u64 instance                   -> "" (conversions)
      reentry     journey + user + "" | key hash        -> i64 time
      people      user                                  -> JSON person
      activity    user                                  -> 4 x i64
      history     user + i64 time + idempotency key     -> channel (caps)
      touch       user                                  -> JSON last touch
      orders      user + order id                       -> i64 time (credited once)
      codes       code                                  -> JSON code
      counters    journey + variant + step + channel + metric -> u64
      confirms    i64 day + 'a' + channel + address -> i64 time,
                  i64 day + 'u' + user -> u64 count (confirm.c)
      erased      'e' | 'p' + hex keyed hash of an erased person's
                  address -> i64 time (erase.c)                       */
#ifndef SCHEDULER_H_INCLUDED
#define SCHEDULER_H_INCLUDED

#include <czmq.h>
#include "nd.h"
#include "nd_tz.h"

#define SCHEDULER_USER_MAX 400  /* keys stay under LMDB's 511 bytes */
#define NAME_MAX_LEN 64         /* journey, step and variant names */

/* ------------------------------------------------------------ channels */

/*  onsite: a banner or card on the shop's page (the onsite stage), to the
    person's recent anonymous ids; see policy.c for how its rules differ. */
typedef enum { CHANNEL_PUSH, CHANNEL_SMS, CHANNEL_EMAIL, CHANNEL_ONSITE, CHANNEL_COUNT } channel_t;
const char *channel_name (channel_t channel);
int channel_parse (const char *name, channel_t *channel);

/* -------------------------------------------------------------- limits */

/*  "1/16h, 3/7d": at most count messages in any window; "none".          */
#define CAP_RULES_MAX 4
typedef struct {
    bool set;
    size_t size;
    struct { int64_t count, window; } rule [CAP_RULES_MAX];
} cap_t;
int cap_parse (const char *text, cap_t *cap);
int64_t cap_longest (const cap_t *cap);

/*  "21:00-09:00": minutes after local midnight; start == end is "none".   */
typedef struct {
    bool set;
    int start, end;
} quiet_t;
int quiet_parse (const char *text, quiet_t *quiet);
/*  "10:00" -> minutes after midnight, or -1.                             */
int clock_parse (const char *text);

/*  The limits a send obeys: the stage's defaults, overridden per journey. */
typedef struct {
    cap_t cap;                          //  across every channel but onsite
    cap_t channel_cap [CHANNEL_COUNT];  //  messages on that channel only
    quiet_t quiet;
    int64_t attribution;                //  window for conversions, ms
} limits_t;

/* ---------------------------------------------------------- conditions */

/*  A compiled condition: [not] path [op value], op one of = != > >= < <=
    has. Paths are dot-separated; a name applied to an array maps over
    its items ("cart.items.category has shoes").                          */
typedef struct _cond_t cond_t;
cond_t *cond_new (const char *text, char **error);
void cond_destroy (cond_t **self_p);
bool cond_eval (const cond_t *self, const json_t *doc);
/*  The value at path in doc (a new reference), or NULL.                  */
json_t *path_get (const json_t *doc, const char *path);
void cond_test (bool verbose);

/* ------------------------------------------------------------ journeys */

typedef enum { STEP_WAIT, STEP_SEND, STEP_CHECK, STEP_SPLIT } step_kind_t;
typedef enum { LATE_DEFER, LATE_SKIP } late_t;
typedef enum { ACTIVE_UPDATE, ACTIVE_IGNORE, ACTIVE_RESTART } active_t;

typedef struct {
    char *name;
    int64_t weight;
    int jump;                   //  step index to go to, or -1: the next
} variant_t;

typedef struct {
    step_kind_t kind;
    char *name;
    //  wait: for a duration, then (if until >= 0) to that local time
    int64_t wait_for;
    int until;
    //  send
    channel_t channels [CHANNEL_COUNT];
    size_t channel_count;
    char *template_id;          //  "<journey>/<step>" unless given
    late_t quiet, capped;
    int64_t max_delay;          //  give the step up when it is this late
    bool code;                  //  issue a discount code
    int64_t code_percent, code_valid;
    char *code_prefix;
    //  check: all conditions hold, else jump (-1: exit the journey)
    cond_t **conds;
    size_t cond_count;
    int otherwise;
    //  split
    variant_t *variants;
    size_t variant_count;
    int64_t holdout;            //  basis points of people held out
} step_t;

typedef struct {
    char *name;
    char *file;
    char *topic;                //  trigger topic
    cond_t **when;              //  trigger filter, all must hold
    size_t when_count;
    char **segments;            //  must be in all of these
    char **not_segments;        //  and in none of these
    char *reentry_key;          //  path whose value enters only once
    int64_t reentry_every;      //  at most one entry per this, ms
    active_t active;            //  a trigger while an instance runs
    bool post_order;            //  after-order = continue: only later orders count
    char **exits;               //  topics that end the journey
    limits_t limits;
    step_t *steps;
    size_t step_count;
    int split;                  //  index of the split step, or -1
} journey_t;

/*  Whether the person ordered after the instance began: at or after its
    start, or for a post-order journey (started by the order) after it.  */
bool journey_ordered (const journey_t *journey, int64_t last_order, int64_t entered);

typedef struct _templates_t templates_t;
typedef struct _journeys_t journeys_t;
/*  Loads every *.zpl in dir; checks each send step's templates. On error
    returns NULL and sets *error: "<file>:<line>: <reason>".             */
journeys_t *journeys_load (const char *dir, templates_t *templates, char **error);
void journeys_destroy (journeys_t **self_p);
size_t journeys_size (journeys_t *self);
journey_t *journeys_get (journeys_t *self, size_t index);
journey_t *journeys_find (journeys_t *self, const char *name);
/*  True if topic is an exit topic of journey.                            */
bool journey_exits_on (const journey_t *journey, const char *topic);
/*  The variant (or "holdout") of user in journey; "" without a split.    */
const char *journey_assign (const journey_t *journey, const char *user);
const variant_t *journey_variant (const journey_t *journey, const char *name);

/* ----------------------------------------------------------- templates */

templates_t *templates_new (const char *dir, const char *default_locale);
void templates_destroy (templates_t **self_p);
/*  Checks that id has every part of channel in the default locale and
    that every locale's parts compile. -1 with *error set.               */
int templates_check (templates_t *self, const char *id, channel_t channel, char **error);
/*  Checks "<id>.<variant>" too, when that directory exists.             */
int templates_check_variant (templates_t *self, const char *id, const char *variant,
                             channel_t channel, char **error);
/*  The template to use: "<id>.<variant>" if that exists for channel,
    else id (into template, 160 bytes); and the best locale for wanted
    (a BCP 47 tag or NULL) into locale (32 bytes).                        */
void templates_resolve (templates_t *self, const char *id, const char *variant,
                        channel_t channel, const char *wanted, char *template, char *locale);

/* ------------------------------------------------------------- timers */

/*  Durable timers: a time-ordered index in the stage's LMDB. kind says
    what fires: the instance's next step, a fallback, or its clean-up.   */
typedef enum { TIMER_STEP = 0, TIMER_FALLBACK = 1, TIMER_CLEANUP = 2 } timer_kind_t;
typedef struct _timers_t timers_t;
timers_t *timers_new (MDB_txn *txn);
void timers_destroy (timers_t **self_p);
int timers_add (timers_t *self, MDB_txn *txn, int64_t due, uint64_t instance, timer_kind_t kind);
/*  0, ND_NOTFOUND if no such timer, -1 on error.                         */
int timers_cancel (timers_t *self, MDB_txn *txn, int64_t due, uint64_t instance, timer_kind_t kind);
/*  Removes and returns the earliest timer due at or before now: 1 if one
    was, 0 if none is due, -1 on error.                                   */
int timers_pop (timers_t *self, MDB_txn *txn, int64_t now,
                int64_t *due, uint64_t *instance, timer_kind_t *kind);
/*  The earliest due time, or INT64_MAX when none is pending.            */
int64_t timers_next (timers_t *self, MDB_txn *txn);
size_t timers_pending (timers_t *self, MDB_txn *txn);
/*  Drops the process's mappings of the state's pages (they stay in the
    page cache): call between transactions, now and then.                */
void timers_release (MDB_env *env);
void timers_test (bool verbose);

/* -------------------------------------------------------- the stage */

typedef struct {
    nd_stage_t *stage;
    MDB_env *env;
    MDB_dbi meta, instances, active, owned, reentry, people, activity, history,
            touch, orders, codes, counters;
    timers_t *timers;
    journeys_t *journeys;
    templates_t *templates;
    nd_tz_t *tz;
    limits_t limits;            //  the stage's defaults
    int64_t session_timeout;    //  inactivity after which a visitor has left
    int64_t chat_recheck;       //  look again this long after a chat began
    int64_t max_delay;          //  default for send steps
    int64_t history_keep;       //  longest cap window of any journey
    const char *timezone;       //  for people whose profile names none
    json_t *shop;               //  {name, url} for templates
    char epoch [17];            //  this state's id, 8 hex digits: keys stay unique
    uint8_t secret [32];        //  keys discount codes
    uint64_t next_instance;
    uint64_t next_code;
    int64_t fire_batch;         //  timers fired per transaction at most
    uint64_t fire_txn;          //  the transaction they were counted in
    int64_t fired_in_txn;
    int wake [2];               //  readable while due timers remain
    int64_t saved_now;          //  event clock as last persisted
    int64_t release_every;      //  drop mapped pages this often (wall ms)
    int64_t released;           //  when last (zclock_mono)
    MDB_dbi confirms;           //  confirmations sent, for their bounds
    char *confirm_secret;       //  signs links and codes; NULL: none sent
    const char *confirm_url;    //  the collector's /confirm, as people reach it
    int64_t confirm_valid;      //  a link's lifetime, ms
    int64_t confirm_per_day;    //  confirmations per person per day
} scheduler_t;

/*  One journey instance, loaded: its id and its JSON record.            */
typedef struct {
    uint64_t id;
    json_t *record;
    const journey_t *journey;
} instance_t;

/*  What the scheduler knows of a person while handling one message.     */
typedef struct {
    char user [SCHEDULER_USER_MAX + 1];
    json_t *record;             //  {traits, segments, optout, suppressed, dead_push}
    bool changed;
    int64_t last_event, session_ended, chat_since, last_order;
    bool activity_changed;
} person_t;

/*  scheduler.c: makes the loop call again soon: more timers are due.     */
void scheduler_wake (scheduler_t *self);

/*  instance.c                                                            */
int instance_enter (scheduler_t *self, MDB_txn *txn, journey_t *journey, const nd_msg_t *msg);
instance_t *instance_load (scheduler_t *self, MDB_txn *txn, uint64_t id);
int instance_store (scheduler_t *self, MDB_txn *txn, instance_t *instance);
void instance_destroy (instance_t **self_p);
/*  "<epoch>-<n>", the instance's name in keys and messages.             */
const char *instance_name (scheduler_t *self, const instance_t *instance, char *buf);
int instance_sleep (scheduler_t *self, MDB_txn *txn, instance_t *instance, int64_t due);
/*  Ends the instance: reason is "done" or why it stopped.               */
int instance_finish (scheduler_t *self, MDB_txn *txn, instance_t *instance,
                     const char *reason, int64_t now);
/*  Ends the user's running instances of journeys that exit on topic.    */
int instance_exit_on (scheduler_t *self, MDB_txn *txn, const char *user,
                      const char *topic, int64_t now);
int instance_fire (scheduler_t *self, MDB_txn *txn, uint64_t id, timer_kind_t kind, int64_t now);
int instance_cleanup (scheduler_t *self, MDB_txn *txn, uint64_t id);
/*  The loser's instances become the survivor's (visitor.merged).        */
int instance_rehome (scheduler_t *self, MDB_txn *txn, const char *loser, const char *survivor,
                     int64_t now);
/*  A JSON record in dbi: as nd_db_get_json / nd_db_put_json.            */
int record_get (MDB_txn *txn, MDB_dbi dbi, const nd_key_t *key, json_t **record);
int record_put (MDB_txn *txn, MDB_dbi dbi, const nd_key_t *key, const json_t *record);
int64_t record_int (const json_t *record, const char *field);
const char *record_str (const json_t *record, const char *field);

/*  engine.c: runs steps from the instance's current one until it waits
    or ends. at: when this run happens (entry time or now).              */
int engine_run (scheduler_t *self, MDB_txn *txn, instance_t *instance, int64_t at);

/*  send.c                                                                */
typedef enum { SENT, DEFERRED, SKIPPED, EXITED } send_result_t;
/*  One try at a send step: from which of its channels, for a fallback
    the message that failed, and since when the step has been due.      */
typedef struct {
    size_t first;
    const char *fallback_of;
    int64_t since;
} attempt_t;
int send_step (scheduler_t *self, MDB_txn *txn, instance_t *instance, const step_t *step,
               const attempt_t *attempt, int64_t now, send_result_t *result, int64_t *until);

/*  A fallback timer: the step's next channel after a failed one.         */
int send_fallback_fire (scheduler_t *self, MDB_txn *txn, instance_t *instance, int64_t now);
/*  Feedback said the message with idempotency key failed on channel:
    try the step's next channel, once.                                    */
int send_fallback (scheduler_t *self, MDB_txn *txn, instance_t *instance, const char *key,
                   channel_t channel, int64_t now);

/*  policy.c                                                              */
typedef struct {
    send_result_t verdict;      //  SENT means "may send now"
    channel_t channel;
    size_t channel_index;
    int64_t until;              //  DEFERRED: look again then
    const char *reason;         //  why not now
} decision_t;
int policy_decide (scheduler_t *self, MDB_txn *txn, const instance_t *instance,
                   const step_t *step, person_t *person, const attempt_t *attempt,
                   int64_t now, decision_t *decision);
/*  Records a message in the person's history for the caps.              */
int policy_record (scheduler_t *self, MDB_txn *txn, const char *user, int64_t time,
                   const char *key, channel_t channel);
int policy_forget (scheduler_t *self, MDB_txn *txn, const char *user, int64_t time,
                   const char *key);
/*  The limits for journey: its own, else the stage's.                   */
void policy_limits (scheduler_t *self, const journey_t *journey, limits_t *limits);
/*  Next moment >= base at local time of day minutes in the person's zone. */
int64_t policy_next_local (scheduler_t *self, person_t *person, int64_t base, int minutes);
void policy_test (bool verbose);

/*  people.c                                                              */
person_t *person_load (scheduler_t *self, MDB_txn *txn, const char *user);
int person_store (scheduler_t *self, MDB_txn *txn, person_t *person);
void person_destroy (person_t **self_p);
/*  The contact for channel ("to" of a send order, borrowed), or NULL if
    the person cannot be reached there.                                   */
json_t *person_contact (person_t *person, channel_t channel);
/*  Whether the person opted out of channel (or of all), or address (an
    e-mail address) bounced.                                              */
bool person_blocked (person_t *person, channel_t channel, const char *address);
bool phone_e164 (const char *phone);
const char *person_timezone (scheduler_t *self, person_t *person);
const char *person_locale (person_t *person);
/*  Updates what the person's messages tell (activity, profile, chat,
    orders, merges); before journeys see the message.                    */
int people_observe (scheduler_t *self, MDB_txn *txn, const nd_msg_t *msg);
/*  what: "optout" (channel: a channel's name or "all"), "optin" (lifts
    the opt-out of that channel), "bounced" (the e-mail address is
    suppressed) or "unreachable" (the push subscription is gone).        */
int person_block (person_t *person, const char *what, const char *channel, int64_t time);
/*  Moves every row of dbi keyed under loser to survivor (same suffix).   */
int rows_move (MDB_txn *txn, MDB_dbi dbi, const char *loser, const char *survivor);
/*  A view of the person for check conditions.                           */
json_t *person_view (person_t *person);

/*  codes.c                                                               */
/*  Issues a new code for the instance's step; emits code.issued. Returns
    {"code", "percent", "expires"} (the caller's) or NULL.               */
json_t *codes_issue (scheduler_t *self, MDB_txn *txn, const instance_t *instance,
                     const step_t *step, int64_t now);
/*  An order used code: marks it redeemed.                                */
int codes_redeem (scheduler_t *self, MDB_txn *txn, const char *code, const char *order,
                  int64_t time);
/*  The code for counter n under secret, into buf (at least 32 bytes).   */
const char *codes_make (const uint8_t *secret, uint64_t n, const char *prefix, char *buf);
void codes_test (bool verbose);

/*  attribution.c                                                         */
int counter_add (scheduler_t *self, MDB_txn *txn, const char *journey, const char *variant,
                 const char *step, const char *channel, const char *metric, uint64_t delta);
/*  Reads a counter; 0 when absent.                                       */
uint64_t counter_get (scheduler_t *self, MDB_txn *txn, const char *journey, const char *variant,
                      const char *step, const char *channel, const char *metric);
/*  A message went out: it is now the person's last touch.               */
int attribution_touch (scheduler_t *self, MDB_txn *txn, const instance_t *instance,
                       const char *step, channel_t channel, const char *key, int64_t time);
/*  order.completed: credits instances and the last touch.               */
int attribution_order (scheduler_t *self, MDB_txn *txn, const nd_msg_t *msg);

/*  feedback.c                                                            */
int feedback_apply (scheduler_t *self, MDB_txn *txn, const nd_msg_t *msg);
/*  Splits "<journey>/<instance>/<step>/<channel>"; 0 / -1.              */
int feedback_parse_key (scheduler_t *self, const char *key, uint64_t *instance,
                        char *step, channel_t *channel);

/*  erase.c: person.erased and visitor.forgotten drop what is kept for
    the user; erase_recall keeps an erased address from marketing until
    its consent is given again (after a message that carried traits).   */
int erase_person (scheduler_t *self, MDB_txn *txn, const nd_msg_t *msg);
int erase_recall (scheduler_t *self, MDB_txn *txn, const char *user);

/*  confirm.c                                                             */
/*  Options (confirm-url, confirm-valid, confirm-per-day) and the secret,
    read at start.                                                        */
int confirm_setup (scheduler_t *self, MDB_txn *txn);
/*  With a secret, templates must have confirm/email and confirm/sms: at
    start and on reload. 0, or -1 with *error (the caller's).             */
int confirm_check (scheduler_t *self, templates_t *templates, char **error);
void confirm_teardown (scheduler_t *self);
/*  contact.claimed: the confirmation, unless a bound forbids it.        */
int confirm_claimed (scheduler_t *self, MDB_txn *txn, const nd_msg_t *msg);
/*  Whether key is a confirmation's idempotency key.                     */
bool confirm_key (const char *key);

#endif
