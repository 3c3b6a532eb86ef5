/*  nd_sender - the outbox every channel sender shares; see nd_sender.h.

    State, in the stage's LMDB (databases "sender.*"):
      orders    key -> the send order's JSON, while it is not settled
      states    key -> state (due | sending | settled), attempts, first
                       queued, due (or settled) time; kept "keep" after
                       settling so a repeated key is recognised
      due       i64 due + key -> ""     what waits, in time order
      sending   key -> ""               marked and handed to a worker
      settled   i64 time + key -> ""    for pruning states after "keep"
      counts    name -> u64             delivered, failed, <topic>,
                                        retrying (a gauge), duplicates

    Threads: only the loop's thread touches LMDB. It marks orders sending
    inside its transaction and keeps them on a "marked" list; after the
    commit they go on the work queue. Workers take batches (within the rate
    limit), call the provider outside any transaction, put the batch on the
    results queue and wake the loop, whose source_drain applies them.    */
#define _GNU_SOURCE
#include <assert.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <czmq.h>
#include "nd_sender.h"

#define s_DUE 1
#define s_SENDING 2
#define s_SETTLED 3
#define s_KEY_MAX 400           //  bytes of an idempotency key
#define s_PRUNE_MAX 1000        //  settled keys forgotten per timer call

typedef struct {
    uint8_t state;
    uint32_t attempts;          //  tries started
    int64_t first;              //  queued at
    int64_t due;                //  next try, or when it settled
} s_state_t;

typedef struct _s_item_t {
    char *key;
    json_t *order;
    int attempt;
    nd_send_result_t result;
    int64_t time;               //  the clock when this try was due
    struct _s_item_t *next;
} s_item_t;

typedef struct {
    s_item_t *head;
    s_item_t *tail;
    size_t size;
} s_list_t;

struct _nd_sender_t {
    nd_stage_t *stage;
    const nd_send_provider_t *provider;
    void *provider_self;
    nd_send_hooks_t hooks;
    MDB_dbi orders, states, due, sending, settled, counts;
    int64_t retry_base, retry_cap, lifetime, keep;
    double rate;
    double burst;               //  what the bucket holds at most
    bool event_time;            //  the rate limit counts event time, here
    size_t max_inflight, batch, connections;
    //  The loop's thread only
    size_t inflight;            //  marked and not yet settled in a commit
    s_list_t marked;            //  marked in the open transaction
    s_list_t applied;           //  results applied in the open transaction
    //  Shared with the workers, under lock
    pthread_mutex_t lock;
    pthread_cond_t work_ready;
    s_list_t work;
    s_list_t results;
    bool stopping;
    nd_bucket_t bucket;         //  the rate limit: monotonic ms (event
                                //  time: the due times orders go at)
    pthread_t *workers;
    size_t started;
    nd_templates_t *templates;  //  reloaded on SIGHUP; the provider's
};

/* --------------------------------------------------------------- lists -- */

static void s_list_push (s_list_t *list, s_item_t *item)
{
    item->next = NULL;
    if (list->tail)
        list->tail->next = item;
    else
        list->head = item;
    list->tail = item;
    list->size++;
}

static s_item_t *s_list_pop (s_list_t *list)
{
    s_item_t *item = list->head;
    if (item) {
        list->head = item->next;
        if (!list->head)
            list->tail = NULL;
        list->size--;
        item->next = NULL;
    }
    return item;
}

//  Moves every item of more to the end of list.
static void s_list_join (s_list_t *list, s_list_t *more)
{
    if (!more->head)
        return;
    if (list->tail)
        list->tail->next = more->head;
    else
        list->head = more->head;
    list->tail = more->tail;
    list->size += more->size;
    *more = (s_list_t) { NULL, NULL, 0 };
}

static void s_item_destroy (s_item_t **item_p)
{
    s_item_t *item = *item_p;
    if (item) {
        free (item->key);
        json_decref (item->order);
        json_decref (item->result.extra);
        free (item);
        *item_p = NULL;
    }
}

static void s_list_purge (s_list_t *list)
{
    s_item_t *item;
    while ((item = s_list_pop (list)))
        s_item_destroy (&item);
}

/* --------------------------------------------------------------- state -- */

static void s_name_key (nd_key_t *key, const char *name)
{
    nd_key_init (key);
    nd_key_str (key, name);
}

static void s_time_key (nd_key_t *key, int64_t time, const char *name)
{
    nd_key_init (key);
    nd_key_i64 (key, time);
    nd_key_str (key, name);
}

static int s_state_get (nd_sender_t *self, MDB_txn *txn, const char *order_key, s_state_t *state)
{
    nd_key_t key;
    s_name_key (&key, order_key);
    MDB_val k = nd_key_val (&key), v;
    int rc = mdb_get (txn, self->states, &k, &v);
    if (rc == MDB_NOTFOUND)
        return ND_NOTFOUND;
    if (rc)
        return nd_db_error (rc, "sender state");
    state->state = v.mv_size > 0 ? ((const uint8_t *) v.mv_data) [0] : 0;
    state->attempts = (uint32_t) nd_key_get_u64 (&v, 1);
    state->first = nd_key_get_i64 (&v, 9);
    state->due = nd_key_get_i64 (&v, 17);
    return 0;
}

static int s_state_put (nd_sender_t *self, MDB_txn *txn, const char *order_key,
                        const s_state_t *state)
{
    nd_key_t key, value;
    s_name_key (&key, order_key);
    nd_key_init (&value);
    nd_key_u8 (&value, state->state);
    nd_key_u64 (&value, state->attempts);
    nd_key_i64 (&value, state->first);
    nd_key_i64 (&value, state->due);
    return nd_db_put_raw (txn, self->states, &key, value.data, value.size);
}

//  A persistent counter; delta may be negative for the retrying gauge.
static int s_count (nd_sender_t *self, MDB_txn *txn, const char *name, int64_t delta)
{
    nd_key_t key;
    s_name_key (&key, name);
    uint64_t value = 0;
    if (nd_db_get_u64 (txn, self->counts, &key, &value) < 0)
        return -1;
    value = delta < 0 && (uint64_t) -delta > value ? 0 : value + (uint64_t) delta;
    return nd_db_put_u64 (txn, self->counts, &key, value);
}

//  Puts an order on the due index at time due.
static int s_schedule (nd_sender_t *self, MDB_txn *txn, const char *order_key,
                       s_state_t *state, int64_t due)
{
    nd_key_t key;
    state->state = s_DUE;
    state->due = due;
    s_time_key (&key, due, order_key);
    return nd_db_put_raw (txn, self->due, &key, "", 0)
        || s_state_put (self, txn, order_key, state) ? -1 : 0;
}

/* ------------------------------------------------------------ settling -- */

//  The feedback body: what the scheduler needs to find the instance.
static json_t *s_feedback (nd_sender_t *self, const char *order_key, const json_t *order,
                           const char *topic, const s_state_t *state,
                           const nd_send_result_t *result)
{
    char id [s_KEY_MAX + 64], stamp [32];
    snprintf (id, sizeof id, "%s#%s", order_key, topic);
    json_t *body = json_pack ("{s:s, s:s, s:s, s:I}", "id", id, "idempotency_key", order_key,
        "time", nd_time_format (nd_stage_now (self->stage), stamp),
        "attempts", (json_int_t) state->attempts);
    const char *copied [] = { "user", "channel", "journey", "instance", "step", "variant", NULL };
    for (int i = 0; copied [i]; i++) {
        json_t *value = json_object_get (order, copied [i]);
        if (json_is_string (value))
            json_object_set (body, copied [i], value);
    }
    if (result->outcome != ND_SEND_DELIVERED && *result->reason)
        json_object_set_new (body, "reason", json_string (result->reason));
    if (json_is_object (result->extra))
        json_object_update_missing (body, result->extra);
    return body;
}

static int s_settle (nd_sender_t *self, MDB_txn *txn, const char *order_key, const json_t *order,
                     s_state_t *state, const nd_send_result_t *result, const char *topic)
{
    int64_t now = nd_stage_now (self->stage);
    nd_key_t key, stamp;
    s_name_key (&key, order_key);
    s_time_key (&stamp, now, order_key);
    state->state = s_SETTLED;
    state->due = now;
    json_t *body = s_feedback (self, order_key, order, topic, state, result);
    int rc = s_state_put (self, txn, order_key, state)
          || nd_db_put_raw (txn, self->settled, &stamp, "", 0)
          || nd_db_del (txn, self->orders, &key) < 0
          || s_count (self, txn, topic, 1) ? -1 : 0;
    if (rc == 0 && self->hooks.settled)
        rc = self->hooks.settled (self->hooks.arg, txn, order, result, topic, body);
    char full [ND_SEND_TOPIC_MAX + 16];
    snprintf (full, sizeof full, "feedback.%s", topic);
    if (rc == 0)
        rc = nd_emit (self->stage, txn, full, body);
    json_decref (body);
    if (rc == 0 && !streq (topic, "delivered"))
        nd_log ("%s %s after %u attempt%s: %s", topic, order_key, state->attempts,
                state->attempts == 1 ? "" : "s", result->reason);
    return rc;
}

//  When the order stops being worth trying: its lifetime, or the moment
//  the scheduler said it must not arrive after (the person's quiet hours).
static int64_t s_expiry (nd_sender_t *self, const json_t *order, const s_state_t *state)
{
    int64_t expiry = state->first + self->lifetime, not_after;
    const char *text = json_string_value (json_object_get (order, "not_after"));
    if (text && nd_time_parse (text, &not_after) == 0 && not_after < expiry)
        expiry = not_after;
    return expiry;
}

//  base * 2^(attempt-1), capped; the provider's Retry-After if later.
static int64_t s_backoff (nd_sender_t *self, uint32_t attempts, int64_t retry_after)
{
    int64_t delay = self->retry_base;
    for (uint32_t i = 1; i < attempts && delay < self->retry_cap; i++)
        delay *= 2;
    if (delay > self->retry_cap)
        delay = self->retry_cap;
    return retry_after > delay ? retry_after : delay;
}

static int s_retry (nd_sender_t *self, MDB_txn *txn, const char *order_key, const json_t *order,
                    s_state_t *state, const nd_send_result_t *result)
{
    int64_t now = nd_stage_now (self->stage);
    int64_t expiry = s_expiry (self, order, state);
    if (now >= expiry)
        return s_settle (self, txn, order_key, order, state, result, "failed");
    int64_t due = now + s_backoff (self, state->attempts, result->retry_after_ms);
    if (due > expiry)
        due = expiry;           //  one last try as the lifetime ends, as an MTA does
    nd_log ("retry %s in %llds (attempt %u): %s", order_key, (long long) (due - now) / 1000,
            state->attempts, result->reason);
    return s_schedule (self, txn, order_key, state, due)
        || s_count (self, txn, "retrying", 1) ? -1 : 0;
}

static int s_outcome (nd_sender_t *self, MDB_txn *txn, const char *order_key,
                      const json_t *order, s_state_t *state, const nd_send_result_t *result)
{
    if (result->outcome == ND_SEND_DELIVERED)
        return s_settle (self, txn, order_key, order, state, result, "delivered");
    if (result->outcome == ND_SEND_PERMANENT)
        return s_settle (self, txn, order_key, order, state, result,
                         *result->topic ? result->topic : "bounced");
    return s_retry (self, txn, order_key, order, state, result);
}

static int s_apply_result (nd_sender_t *self, MDB_txn *txn, s_item_t *item)
{
    s_state_t state;
    nd_key_t key;
    s_name_key (&key, item->key);
    int rc = s_state_get (self, txn, item->key, &state);
    if (rc == ND_NOTFOUND || (rc == 0 && state.state != s_SENDING))
        return 0;               //  pruned or settled meanwhile: nothing to say
    if (rc || nd_db_del (txn, self->sending, &key) < 0)
        return -1;
    return s_outcome (self, txn, item->key, item->order, &state, &item->result);
}

/* ------------------------------------------------------------ dispatch -- */

static json_t *s_order_load (nd_sender_t *self, MDB_txn *txn, const char *order_key)
{
    nd_key_t key;
    s_name_key (&key, order_key);
    json_t *order = NULL;
    return nd_db_get_json (txn, self->orders, &key, &order) == 0 ? order : NULL;
}

//  Moves one due order to sending, or settles it if the stage says so;
//  now is when the try is due. In event time the rate limit is kept
//  here: an order it holds back is due again when it would have gone.
static int s_mark (nd_sender_t *self, MDB_txn *txn, const char *order_key, int64_t now)
{
    s_state_t state;
    json_t *order = NULL;
    if (s_state_get (self, txn, order_key, &state) || !(order = s_order_load (self, txn, order_key)))
        return -1;
    nd_send_result_t result = { ND_SEND_PERMANENT, "", "", 0, NULL };
    int verdict = self->hooks.check ? self->hooks.check (self->hooks.arg, txn, order, now, &result) : 0;
    //  Past its end (the stage was down, or "not_after" passed): a retry
    //  now settles it as failed. At the very end it still gets its try.
    if (verdict == 0 && now > s_expiry (self, order, &state)) {
        verdict = 1;
        result = (nd_send_result_t) { ND_SEND_RETRY, "", "too late: lifetime or not_after passed",
                                      0, NULL };
    }
    int64_t wait = verdict == 0 && self->event_time && self->rate > 0
                 ? nd_bucket_take (&self->bucket, self->rate, self->burst, now) : 0;
    if (wait) {
        json_decref (order);
        return s_schedule (self, txn, order_key, &state, now + wait);
    }
    int rc = verdict < 0 || (state.attempts > 0 && s_count (self, txn, "retrying", -1)) ? -1 : 0;
    if (rc == 0 && verdict == 1)
        rc = s_outcome (self, txn, order_key, order, &state, &result);
    json_decref (result.extra);
    if (rc || verdict == 1) {
        json_decref (order);
        return rc;
    }
    nd_key_t key;
    s_name_key (&key, order_key);
    state.state = s_SENDING;
    state.attempts++;
    s_item_t *item = (s_item_t *) calloc (1, sizeof *item);
    assert (item);
    *item = (s_item_t) { strdup (order_key), order, (int) state.attempts,
                         { ND_SEND_RETRY, "", "not attempted", 0, NULL }, now, NULL };
    s_list_push (&self->marked, item);
    self->inflight++;
    return s_state_put (self, txn, order_key, &state)
        || nd_db_put_raw (txn, self->sending, &key, "", 0) ? -1 : 0;
}

//  Marks due orders sending while the workers have room. In event time
//  each is judged at its own due time, as the live loop would have been
//  at that moment.
static int s_dispatch (nd_sender_t *self, MDB_txn *txn, int64_t now)
{
    MDB_cursor *cursor;
    int rc = 0;
    while (rc == 0 && self->inflight < self->max_inflight + self->applied.size) {
        if ((rc = mdb_cursor_open (txn, self->due, &cursor)))
            return nd_db_error (rc, "sender due");
        MDB_val k, v;
        rc = mdb_cursor_get (cursor, &k, &v, MDB_FIRST);
        int64_t due = rc == 0 ? nd_key_get_i64 (&k, 0) : 0;
        if (rc == MDB_NOTFOUND || (rc == 0 && due > now)) {
            mdb_cursor_close (cursor);
            return 0;
        }
        char order_key [s_KEY_MAX + 1];
        snprintf (order_key, sizeof order_key, "%.*s", (int) (k.mv_size - 9),
                  (const char *) k.mv_data + 8);
        rc = rc ? nd_db_error (rc, "sender due") : mdb_cursor_del (cursor, 0);
        mdb_cursor_close (cursor);
        if (rc == 0)
            rc = s_mark (self, txn, order_key, self->event_time ? due : now);
    }
    return rc ? -1 : 0;
}

//  A settled key is remembered for "keep", then forgotten.
static int s_prune (nd_sender_t *self, MDB_txn *txn, int64_t now)
{
    MDB_cursor *cursor;
    int rc = mdb_cursor_open (txn, self->settled, &cursor);
    if (rc)
        return nd_db_error (rc, "sender settled");
    MDB_val k, v;
    for (int n = 0; n < s_PRUNE_MAX; n++) {
        rc = mdb_cursor_get (cursor, &k, &v, MDB_FIRST);
        if (rc || nd_key_get_i64 (&k, 0) > now - self->keep)
            break;
        char order_key [s_KEY_MAX + 1];
        snprintf (order_key, sizeof order_key, "%.*s", (int) (k.mv_size - 9),
                  (const char *) k.mv_data + 8);
        rc = mdb_cursor_del (cursor, 0);
        s_state_t state;
        if (rc == 0 && s_state_get (self, txn, order_key, &state) == 0 && state.state == s_SETTLED) {
            nd_key_t key;
            s_name_key (&key, order_key);
            rc = nd_db_del (txn, self->states, &key) < 0 ? -1 : 0;
        }
        if (rc)
            break;
    }
    mdb_cursor_close (cursor);
    return rc && rc != MDB_NOTFOUND ? nd_db_error (rc, "sender prune") : 0;
}

/* ------------------------------------------------------------- workers -- */

//  How many orders the rate limit lets go now (SIZE_MAX: no limit).
static size_t s_allowance (nd_sender_t *self, int64_t *wait_ms)
{
    if (self->rate <= 0 || self->event_time)
        return SIZE_MAX;        //  event time: s_dispatch keeps the rate
    *wait_ms = nd_bucket_refill (&self->bucket, self->rate, self->burst, zclock_mono ());
    return *wait_ms ? 0 : (size_t) self->bucket.tokens;
}

static void s_wait (nd_sender_t *self, int64_t ms)
{
    struct timespec until;
    clock_gettime (CLOCK_MONOTONIC, &until);
    until.tv_sec += ms / 1000;
    until.tv_nsec += (ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_cond_timedwait (&self->work_ready, &self->lock, &until);
}

//  Blocks until there is work the rate limit allows; 0 when stopping.
static size_t s_take (nd_sender_t *self, s_item_t **items)
{
    size_t count = 0;
    pthread_mutex_lock (&self->lock);
    while (!self->stopping && count == 0) {
        int64_t wait_ms = 0;
        size_t allowed = self->work.head ? s_allowance (self, &wait_ms) : 0;
        if (!self->work.head)
            pthread_cond_wait (&self->work_ready, &self->lock);
        else
        if (allowed == 0)
            s_wait (self, wait_ms);
        while (count < allowed && count < self->batch && self->work.head)
            items [count++] = s_list_pop (&self->work);
        if (self->rate > 0 && !self->event_time)
            self->bucket.tokens -= (double) count;
    }
    pthread_mutex_unlock (&self->lock);
    return count;
}

//  Keeps a provider's reason to one line and free of addresses.
static void s_clean_reason (nd_send_result_t *result)
{
    char clean [ND_SEND_REASON_MAX];
    nd_sender_mask (result->reason, clean, sizeof clean);
    memcpy (result->reason, clean, sizeof clean);
    result->topic [ND_SEND_TOPIC_MAX - 1] = 0;
    if (result->outcome == ND_SEND_PERMANENT && strspn (result->topic,
            "abcdefghijklmnopqrstuvwxyz-_") != strlen (result->topic))
        snprintf (result->topic, sizeof result->topic, "bounced");
}

static void *s_worker (void *arg)
{
    nd_sender_t *self = (nd_sender_t *) arg;
    s_item_t **items = (s_item_t **) calloc (self->batch, sizeof *items);
    nd_send_job_t *jobs = (nd_send_job_t *) calloc (self->batch, sizeof *jobs);
    assert (items && jobs);
    size_t count;
    while ((count = s_take (self, items))) {
        for (size_t i = 0; i < count; i++)
            jobs [i] = (nd_send_job_t) { items [i]->order, items [i]->key, items [i]->attempt,
                                         items [i]->result, items [i]->time };
        self->provider->deliver (self->provider_self, jobs, count);
        pthread_mutex_lock (&self->lock);
        for (size_t i = 0; i < count; i++) {
            items [i]->result = jobs [i].result;
            s_clean_reason (&items [i]->result);
            s_list_push (&self->results, items [i]);
        }
        pthread_mutex_unlock (&self->lock);
        nd_stage_wake (self->stage);
    }
    free (items);
    free (jobs);
    return NULL;
}

/* -------------------------------------------------------------- public -- */

static int s_options (nd_sender_t *self, nd_stage_t *stage)
{
    int64_t inflight, batch, connections;
    if (nd_stage_option_duration (stage, "retry-base", "1m", &self->retry_base)
    ||  nd_stage_option_duration (stage, "retry-cap", "1h", &self->retry_cap)
    ||  nd_stage_option_duration (stage, "lifetime", "2d", &self->lifetime)
    ||  nd_stage_option_duration (stage, "keep", "30d", &self->keep)
    ||  nd_stage_option_int (stage, "max-inflight", "100", &inflight)
    ||  nd_stage_option_int (stage, "batch", "20", &batch)
    ||  nd_stage_option_int (stage, "connections", "1", &connections))
        return -1;
    const char *rate = nd_stage_option (stage, "rate", "0");
    char *end;
    self->rate = strtod (rate, &end);
    if (end == rate || *end || self->rate < 0 || !isfinite (self->rate))
        return nd_stage_config_error (stage, "rate", "not messages per second, such as 10 or 0.5");
    self->burst = self->rate < 1 ? 1 : self->rate;      //  a second's worth
    if (self->retry_base < 1)
        return nd_stage_config_error (stage, "retry-base", "must be positive");
    if (inflight < 1 || batch < 1 || batch > 10000 || connections < 1 || connections > 64)
        return nd_stage_config_error (stage, inflight < 1 ? "max-inflight" : batch < 1 || batch > 10000
                                      ? "batch" : "connections", "out of range");
    self->max_inflight = (size_t) inflight;
    self->batch = (size_t) batch;
    self->connections = (size_t) connections;
    return 0;
}

static int s_open (nd_sender_t *self, MDB_txn *txn)
{
    return nd_db_open (txn, "sender.orders", &self->orders)
        || nd_db_open (txn, "sender.states", &self->states)
        || nd_db_open (txn, "sender.due", &self->due)
        || nd_db_open (txn, "sender.sending", &self->sending)
        || nd_db_open (txn, "sender.settled", &self->settled)
        || nd_db_open (txn, "sender.counts", &self->counts) ? -1 : 0;
}

//  After a crash: what was marked sending may or may not have gone out;
//  it goes back to due, at its old due time, so it is first in line.
static int s_recover (nd_sender_t *self, MDB_txn *txn)
{
    MDB_cursor *cursor;
    int rc = mdb_cursor_open (txn, self->sending, &cursor);
    if (rc)
        return nd_db_error (rc, "sender recover");
    MDB_val k, v;
    size_t count = 0;
    while (rc == 0 && (rc = mdb_cursor_get (cursor, &k, &v, MDB_FIRST)) == 0) {
        char order_key [s_KEY_MAX + 1];
        snprintf (order_key, sizeof order_key, "%.*s", (int) k.mv_size, (const char *) k.mv_data);
        s_state_t state;
        rc = mdb_cursor_del (cursor, 0);
        if (rc == 0 && s_state_get (self, txn, order_key, &state) == 0 && state.state == s_SENDING) {
            rc = s_schedule (self, txn, order_key, &state, state.due)
              || s_count (self, txn, "retrying", 1) ? -1 : 0;
            count++;
        }
    }
    mdb_cursor_close (cursor);
    if (count)
        nd_log ("%zu send order%s were in flight when the stage stopped: trying again "
                "(a provider may already have accepted them)", count, count == 1 ? "" : "s");
    return rc && rc != MDB_NOTFOUND ? -1 : 0;
}

//  Orders out with the workers: the stage's clock waits for them.
static bool s_busy (void *self_)
{
    return ((nd_sender_t *) self_)->inflight > 0;
}

nd_sender_t *nd_sender_new (nd_stage_t *stage, MDB_txn *txn,
                            const nd_send_provider_t *provider, void *provider_self,
                            const nd_send_hooks_t *hooks)
{
    nd_sender_t *self = (nd_sender_t *) calloc (1, sizeof *self);
    assert (self);
    self->stage = stage;
    self->provider = provider;
    self->provider_self = provider_self;
    if (hooks)
        self->hooks = *hooks;
    pthread_mutex_init (&self->lock, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init (&attr);
    pthread_condattr_setclock (&attr, CLOCK_MONOTONIC);
    pthread_cond_init (&self->work_ready, &attr);
    pthread_condattr_destroy (&attr);
    if (s_options (self, stage) || s_open (self, txn) || s_recover (self, txn)) {
        nd_sender_destroy (&self);
        return NULL;
    }
    self->event_time = nd_clock_is_event (nd_stage_clock (stage));
    nd_stage_busy_when (stage, s_busy, self);
    self->bucket.refilled = self->event_time ? nd_stage_now (stage) : zclock_mono ();
    //  What is due now goes out as soon as the loop runs, even in event
    //  time where no timer fires until the clock moves
    nd_stage_wake (stage);
    self->workers = (pthread_t *) calloc (self->connections, sizeof *self->workers);
    for (self->started = 0; self->started < self->connections; self->started++)
        if (pthread_create (&self->workers [self->started], NULL, s_worker, self)) {
            nd_log ("cannot start a sender thread: %s", strerror (errno));
            nd_sender_destroy (&self);
            return NULL;
        }
    return self;
}

void nd_sender_destroy (nd_sender_t **self_p)
{
    nd_sender_t *self = *self_p;
    if (!self)
        return;
    nd_stage_busy_when (self->stage, NULL, NULL);
    pthread_mutex_lock (&self->lock);
    self->stopping = true;
    pthread_cond_broadcast (&self->work_ready);
    pthread_mutex_unlock (&self->lock);
    for (size_t i = 0; i < self->started; i++)
        pthread_join (self->workers [i], NULL);
    free (self->workers);
    //  What was handed over but not applied stays "sending" in LMDB and
    //  goes back to due at the next start
    s_list_purge (&self->work);
    s_list_purge (&self->results);
    s_list_purge (&self->marked);
    s_list_purge (&self->applied);
    if (self->provider && self->provider->destroy)
        self->provider->destroy (&self->provider_self);
    pthread_cond_destroy (&self->work_ready);
    pthread_mutex_destroy (&self->lock);
    free (self);
    *self_p = NULL;
}

//  Why an order cannot be queued, or NULL. "to" is an address (text) or,
//  for a push, the subscription (an object); what it must hold beyond
//  that is the channel's to check.
static const char *s_invalid (const json_t *order)
{
    const char *order_key = json_string_value (json_object_get (order, "idempotency_key"));
    const json_t *to = json_object_get (order, "to");
    bool addressed = json_is_string (to) ? *json_string_value (to) != 0
                   : json_is_object (to) && json_object_size (to) > 0;
    return !order_key || !*order_key ? "no idempotency_key"
         : strlen (order_key) > s_KEY_MAX ? "idempotency_key longer than 400 bytes"
         : !json_string_value (json_object_get (order, "user")) ? "no user"
         : !addressed ? "no \"to\" address or subscription" : NULL;
}

int nd_sender_queue (nd_sender_t *self, MDB_txn *txn, const json_t *order)
{
    const char *reason = s_invalid (order);
    if (reason) {
        nd_log ("send order not queued: %s", reason);
        return -1;
    }
    const char *order_key = json_string_value (json_object_get (order, "idempotency_key"));
    s_state_t state;
    int rc = s_state_get (self, txn, order_key, &state);
    if (rc == 0) {
        nd_log ("send order %s seen before: not sent again", order_key);
        return s_count (self, txn, "duplicates", 1);
    }
    if (rc < 0)
        return -1;
    nd_key_t key;
    s_name_key (&key, order_key);
    int64_t now = nd_stage_now (self->stage);
    state = (s_state_t) { s_DUE, 0, now, now };
    if (nd_db_put_json (txn, self->orders, &key, order)
    ||  s_schedule (self, txn, order_key, &state, now))
        return -1;
    return s_dispatch (self, txn, now);
}

int nd_sender_apply (nd_sender_t *self, MDB_txn *txn, const nd_msg_t *msg)
{
    const json_t *order = msg->body;
    const char *reason = strncmp (msg->topic, "send.", 5) ? "not a send order" : s_invalid (order);
    if (reason) {
        nd_stage_reject (self->stage, msg, reason);
        return -1;
    }
    return nd_sender_queue (self, txn, order);
}

//  The keys of the user's orders, from the orders' own "user".
static int s_collect_user (const MDB_val *key, const MDB_val *data, void *arg)
{
    void **args = (void **) arg;
    json_t *order = json_loadb ((const char *) data->mv_data, data->mv_size, 0, NULL);
    const char *user = json_string_value (json_object_get (order, "user"));
    if (user && streq (user, (const char *) args [1]) && key->mv_size > 1)
        zlistx_add_end ((zlistx_t *) args [0],
                        strndup ((const char *) key->mv_data, key->mv_size - 1));
    json_decref (order);
    return 0;
}

int nd_sender_forget (nd_sender_t *self, MDB_txn *txn, const char *user)
{
    zlistx_t *keys = zlistx_new ();
    zlistx_set_destructor (keys, (zlistx_destructor_fn *) zstr_free);
    void *args [2] = { keys, (void *) user };
    nd_key_t none;
    nd_key_init (&none);
    int rc = nd_db_scan (txn, self->orders, &none, s_collect_user, args) ? -1 : 0;
    int forgotten = 0;
    int64_t now = nd_stage_now (self->stage);
    for (const char *order_key = zlistx_first (keys); rc == 0 && order_key;
         order_key = zlistx_next (keys)) {
        s_state_t state;
        if (s_state_get (self, txn, order_key, &state) || state.state != s_DUE)
            continue;
        nd_key_t key, due, stamp;
        s_name_key (&key, order_key);
        s_time_key (&due, state.due, order_key);
        s_time_key (&stamp, now, order_key);
        state.state = s_SETTLED;
        state.due = now;
        rc = nd_db_del (txn, self->due, &due) < 0 || nd_db_del (txn, self->orders, &key) < 0
          || s_state_put (self, txn, order_key, &state)
          || nd_db_put_raw (txn, self->settled, &stamp, "", 0)
          || s_count (self, txn, "erased", 1) ? -1 : 0;
        forgotten++;
    }
    zlistx_destroy (&keys);
    return rc ? -1 : forgotten;
}

int nd_sender_timers (nd_sender_t *self, MDB_txn *txn, int64_t now)
{
    return s_dispatch (self, txn, now) || s_prune (self, txn, now) ? -1 : 0;
}

int nd_sender_drain (nd_sender_t *self, MDB_txn *txn)
{
    pthread_mutex_lock (&self->lock);
    s_list_t results = self->results;
    self->results = (s_list_t) { NULL, NULL, 0 };
    pthread_mutex_unlock (&self->lock);
    int rc = 0;
    s_item_t *item;
    while ((item = s_list_pop (&results))) {
        s_list_push (&self->applied, item);
        if (rc == 0)
            rc = s_apply_result (self, txn, item);
    }
    return rc ? -1 : s_dispatch (self, txn, nd_stage_now (self->stage));
}

void nd_sender_committed (nd_sender_t *self, int rc)
{
    if (rc == 0) {
        self->inflight -= self->applied.size;
        s_list_purge (&self->applied);
        pthread_mutex_lock (&self->lock);
        if (self->marked.head) {
            s_list_join (&self->work, &self->marked);
            pthread_cond_broadcast (&self->work_ready);
        }
        pthread_mutex_unlock (&self->lock);
        return;
    }
    //  Nothing of the transaction happened: marked orders are still due in
    //  LMDB, and the results must be applied again
    self->inflight -= self->marked.size;
    s_list_purge (&self->marked);
    if (self->applied.head) {
        pthread_mutex_lock (&self->lock);
        s_list_join (&self->applied, &self->results);
        self->results = self->applied;
        self->applied = (s_list_t) { NULL, NULL, 0 };
        pthread_mutex_unlock (&self->lock);
        nd_stage_wake (self->stage);
    }
}

static int s_count_scan (const MDB_val *key, const MDB_val *data, void *arg)
{
    json_object_set_new ((json_t *) arg, (const char *) key->mv_data,
                         json_integer ((json_int_t) nd_key_get_u64 (data, 0)));
    return 0;
}

void nd_sender_stats (nd_sender_t *self, json_t *stats)
{
    MDB_txn *txn;
    if (mdb_txn_begin (nd_stage_env (self->stage), NULL, MDB_RDONLY, &txn))
        return;
    MDB_stat due, sending;
    json_t *outbox = json_pack ("{s:I, s:I, s:I, s:I, s:I}", "delivered", (json_int_t) 0,
                                "failed", (json_int_t) 0, "bounced", (json_int_t) 0,
                                "retrying", (json_int_t) 0, "duplicates", (json_int_t) 0);
    nd_key_t all;
    nd_key_init (&all);
    if (mdb_stat (txn, self->due, &due) == 0 && mdb_stat (txn, self->sending, &sending) == 0
    &&  nd_db_scan (txn, self->counts, &all, s_count_scan, outbox) == 0) {
        json_int_t retrying = json_integer_value (json_object_get (outbox, "retrying"));
        json_int_t waiting = (json_int_t) due.ms_entries;
        json_object_set_new (outbox, "queued", json_integer (waiting > retrying ? waiting - retrying : 0));
        json_object_set_new (outbox, "sending", json_integer ((json_int_t) sending.ms_entries));
    }
    mdb_txn_abort (txn);
    json_object_set_new (stats, "outbox", outbox);
}

void nd_sender_reloads (nd_sender_t *self, nd_templates_t *templates)
{
    self->templates = templates;
}

int nd_sender_reload (nd_sender_t *self, char *what, size_t size)
{
    if (self->templates)
        return nd_templates_reload (self->templates, what, size);
    snprintf (what, size, "no templates to reload");
    return -1;
}

/* ---------------------------------------------------------------- mask -- */

static bool s_local_char (char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
        || (c && strchr (".!#$%&'*+/=?^_`{|}~-", c));
}

void nd_sender_mask (const char *text, char *out, size_t size)
{
    size_t used = 0, local = 0;         //  local: length of the word before '@'
    for (const char *p = text ? text : ""; *p && used + 1 < size; p++) {
        char c = *p == '\r' || *p == '\n' || *p == '\t' ? ' ' : *p;
        if (c == '@' && local > 0) {
            used -= local - 1;          //  keep the first character
            if (used + 4 >= size)
                break;
            memcpy (out + used, "***", 3);
            used += 3;
        }
        local = s_local_char (c) ? local + 1 : 0;
        out [used++] = c;
    }
    out [used] = 0;
}

/* ----------------------------------------------------------- self-test -- */

void nd_sender_test (bool verbose)
{
    if (verbose)
        printf (" * nd_sender: ");
    char out [128];
    nd_sender_mask ("550 5.1.1 <bob.smith@example.com>: unknown\r\nsecond", out, sizeof out);
    assert (streq (out, "550 5.1.1 <b***@example.com>: unknown  second"));
    nd_sender_mask ("a@b.c and xy@z", out, sizeof out);
    assert (streq (out, "a***@b.c and x***@z"));
    nd_sender_mask ("bob.smith@example.com", out, 13);
    assert (streq (out, "b***@example"));

    nd_sender_t backoff = { .retry_base = 60000, .retry_cap = 3600000 };
    assert (s_backoff (&backoff, 1, 0) == 60000);
    assert (s_backoff (&backoff, 2, 0) == 120000);
    assert (s_backoff (&backoff, 3, 0) == 240000);
    assert (s_backoff (&backoff, 30, 0) == 3600000);
    assert (s_backoff (&backoff, 1, 300000) == 300000);       //  Retry-After wins

    s_list_t a = { 0 }, b = { 0 };
    for (int i = 0; i < 3; i++) {
        s_item_t *item = (s_item_t *) calloc (1, sizeof *item);
        item->attempt = i;
        s_list_push (i < 2 ? &a : &b, item);
    }
    s_list_join (&a, &b);
    assert (a.size == 3 && b.size == 0 && a.head->attempt == 0 && a.tail->attempt == 2);
    s_list_purge (&a);

    //  "to": an address, or a push subscription (an object)
    json_t *order = json_pack ("{s:s, s:s, s:s}", "idempotency_key", "j/e-1/s/email", "user", "u-1",
                               "to", "ann@example.com");
    assert (s_invalid (order) == NULL);
    json_object_set_new (order, "to", json_pack ("{s:s, s:{s:s, s:s}}", "endpoint",
        "https://push.example/send/1", "keys", "p256dh", "BNc", "auth", "tBH"));
    assert (s_invalid (order) == NULL);
    json_object_set_new (order, "to", json_object ());
    assert (s_invalid (order) && strstr (s_invalid (order), "\"to\""));
    json_object_set_new (order, "to", json_string (""));
    assert (s_invalid (order));
    json_object_set_new (order, "to", json_integer (5));
    assert (s_invalid (order));
    json_object_del (order, "to");
    assert (s_invalid (order));
    json_decref (order);
    if (verbose)
        printf ("OK\n");
}
