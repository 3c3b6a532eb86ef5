/*  base.h - the words every file of the scheduler shares: the stage's
    state, channels, limits, and journeys as data.

    Layer: base. The scheduler's files form layers that only call
    downward: base, then the store (LMDB records: timers.c, instance.c,
    people.c, codes.c, counters.c, move.c), then the rules (cond.c,
    journey.c, loader.c, steps.c, journeys.c, templates.c, policy.c), then
    the engine (engine.c, send.c, lifecycle.c, feedback.c, confirm.c,
    attribution.c), then the stage file (scheduler.c, with main). Each
    file includes the headers of its own and lower layers only
    (tests/integration/test_layers.py). This one holds types and the
    small functions over them (base.c); it calls nothing of the
    scheduler's.

    Private to pipeline/scheduler: other stages know the scheduler only by
    its messages (scheduler(1), README "Send orders" and "Feedback").

    One file per concern, by layer:
      base.c         channels, limits and their parsing, the loop's wake-up
      timers.c       the durable, time-ordered timer index
      instance.c     journey instances as records: end, clean-up, merges
      people.c       what the scheduler knows of a person: contacts,
                     consent, opt-outs, activity, identity merges
      codes.c        unique expiring discount codes
      counters.c     the counters nd-report reads
      move.c         one person's rows out of this state and into another
                     (partitioned schedulers); move_test.c, its test
      cond.c         conditions ("cart.value > 20") and paths into JSON
      journey.c      what a journey once read is asked: ordered since,
                     exit topics, a person's variant
      loader.c       the journey files' reader: lines for errors, values
      steps.c        a journey's steps section: wait, send, check, split,
                     branch and its arms
      journeys.c     journeys as data: conf/journeys (one .zpl file per
                     journey), its options, the set of journeys
      templates.c    which templates exist, per channel and locale
      policy.c       send-time rules: order, browsing, chat, channel,
                     quiet hours, frequency caps
      confirm.c      double opt-in: a link or code for a claimed contact
      engine.c       running an instance's steps: wait, check, split, send
      send.c         one send step: decide, issue a code, emit the order
      lifecycle.c    entry, re-entry, timers firing, exits
      feedback.c     the senders' feedback: fallback, opt-outs, clicks
      attribution.c  conversions: which message an order owes to
      erase.c        person.erased, visitor.forgotten: what goes; erased
                     addresses' hashes
      scheduler.c    the stage: setup, message dispatch, STATS

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
      user-codes  user + code                -> u64 its reminder (codes.c)
      counters    journey + variant + step + channel + metric -> u64
      confirms    i64 day + 'a' + channel + address -> i64 time,
                  i64 day + 'u' + user -> u64 count (confirm.c)
      erased      'e' | 'p' + hex keyed hash of an erased person's
                  address -> i64 time (erase.c)                       */
#ifndef BASE_H_INCLUDED
#define BASE_H_INCLUDED

#include <czmq.h>
#include "nd.h"
#include "nd_codec.h"
#include "nd_cond.h"
#include "nd_tz.h"
#include "nd_formats.h"

#define SCHEDULER_USER_MAX 400  /* keys stay under LMDB's 511 bytes */
#define NAME_MAX_LEN 64         /* journey, step and variant names */

/* ------------------------------------------------------------ channels */

/*  onsite: a banner or card on the shop's page (the onsite stage), to the
    person's recent anonymous ids; see policy.c for how its rules differ. */
typedef enum { CHANNEL_PUSH, CHANNEL_SMS, CHANNEL_EMAIL, CHANNEL_ONSITE, CHANNEL_WHATSAPP,
               CHANNEL_COUNT } channel_t;
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
    bool attribution_clicked;           //  last touch: clicked (not delivered) within it
} limits_t;

/* ------------------------------------------------- journeys, as data */

/*  A condition of a journey (trigger "when", check "if"), in the language
    of nudge-conditions(5) (runtime nd_cond; cond.h). Its facts are a JSON
    document: paths into it, and "in segment NAME" from its "segments". */
typedef nd_cond_t cond_t;

typedef enum { STEP_WAIT, STEP_SEND, STEP_CHECK, STEP_SPLIT, STEP_BRANCH } step_kind_t;
typedef enum { LATE_DEFER, LATE_SKIP } late_t;
typedef enum { ACTIVE_UPDATE, ACTIVE_IGNORE, ACTIVE_RESTART } active_t;

typedef struct {
    char *name;
    int64_t weight;
    int jump;                   //  step index to go to, or -1: the next
} variant_t;

/*  A branch's arm: its conditions (none for the default) and where its
    steps begin; an arm without steps begins at the branch's next.        */
typedef struct {
    char *name;                 //  "" for an unnamed default
    cond_t **conds;
    size_t cond_count;
    int first;
} arm_t;

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
    //  branch: the first arm whose conditions all hold, the default last
    arm_t *arms;
    size_t arm_count;
    //  the step after this one: the next in its list; an arm's last goes
    //  on after its branch; step_count when the journey is done
    int next;
} step_t;

/*  priority: a number from 0 to 100, or low (25), normal (50, the
    default), high (75); see policy.c, "priority".                      */
#define PRIORITY_NORMAL 50

typedef struct _journey_t {
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
    int64_t priority;           //  0-100: who takes a capped slot (policy.c)
    char **exits;               //  topics that end the journey
    limits_t limits;
    step_t *steps;
    size_t step_count;
    int split;                  //  index of the split step, or -1
} journey_t;

typedef struct _templates_t templates_t;
typedef struct _journeys_t journeys_t;
typedef struct _timers_t timers_t;

/* ------------------------------------------------------------ the stage */

typedef struct _scheduler_t {
    nd_stage_t *stage;
    MDB_env *env;
    MDB_dbi meta, instances, active, owned, reentry, people, activity, history,
            touch, orders, codes, counters, user_codes;
    timers_t *timers;
    journeys_t *journeys;
    //  journeys_find (journeys.h), set at setup: the store finds an
    //  instance's journey through it and needs nothing of the rules layer
    journey_t *(*journey_find) (journeys_t *journeys, const char *name);
    templates_t *templates;
    nd_tz_t *tz;
    nd_formats_t *formats;      //  ICU's, kept for the send orders' prices and dates
    limits_t limits;            //  the stage's defaults
    int64_t session_timeout;    //  inactivity after which a visitor has left
    int64_t chat_recheck;       //  look again this long after a chat began
    int64_t max_delay;          //  default for send steps
    int64_t history_keep;       //  longest cap window of any journey
    const char *timezone;       //  for people whose profile names none
    json_t *shop;               //  {name, url} for templates
    char epoch [17];            //  this state's id, 8 hex digits: keys stay unique
    uint8_t secret [32];        //  keys discount codes
    uint64_t next_instance;     //  the last instance number given (or brought)
    uint64_t next_code;         //  the last code number given (or brought)
    int part, parts;            //  partition K of N (0 of 0 or 1: unpartitioned)
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

/*  The limits for journey: its own, else the stage's.                   */
void policy_limits (scheduler_t *self, const journey_t *journey, limits_t *limits);
/*  Opens the state's tables but confirms (confirm.c), erased (erase.c)
    and timers (timers.c): the stage at setup, move.c's test.           */
int scheduler_tables_open (scheduler_t *self, MDB_txn *txn);
/*  The number after last that this partition gives: n with (n - 1) % N
    == K, so partitions number apart (1, 3, 5 and 2, 4, 6 for two) and a
    person's instances and code reminders keep theirs when they move
    (move.c); unpartitioned, simply last + 1.                             */
uint64_t scheduler_number (scheduler_t *self, uint64_t last);
/*  Whether people moved here from the state of that epoch (move.c notes
    it in sched-meta, "epoch-of" + epoch, at import).                     */
bool scheduler_epoch_known (scheduler_t *self, MDB_txn *txn, const char *epoch);
int scheduler_epoch_note (scheduler_t *self, MDB_txn *txn, const char *epoch);
/*  Makes the loop call again soon: more timers are due.                 */
void scheduler_wake (scheduler_t *self);
/*  Moves every row of dbi keyed under loser to survivor (same suffix).   */
int rows_move (MDB_txn *txn, MDB_dbi dbi, const char *loser, const char *survivor);

#endif
