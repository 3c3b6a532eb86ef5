/*  nd_sender - the outbox every channel sender shares; see nd_sender.h.

    Layer: runtime, the outbox's top: what a stage calls. The outbox made
    (options, databases, orders a crash left sending, the workers) and
    stopped, an order queued, a person's forgotten, the loop's timers,
    drain and commit, the STATS figures, the templates' reload; and the
    self-test. The outbox's other files each hold one idea and call only
    downward, in this order from the top (they share struct _nd_sender_t,
    nd_sender_private.h):
      nd_sender_dispatch.c  due orders marked sending while the workers
                            have room, each judged at its due time
      nd_sender_settle.c    a try's result: settled with its feedback, or
                            tried again after a backoff
      nd_sender_store.c     the records in LMDB: states, the due index,
                            counters, settled keys forgotten after "keep"
      nd_sender_workers.c   the threads that call the provider, the lists
                            that carry orders to and from them, the live
                            rate limit, reasons masked (nd_sender_mask)
    The store and the workers are both at the bottom: neither calls the
    other, and nothing below this file calls it.                          */
#define _GNU_SOURCE
#include <assert.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <czmq.h>
#include "nd_sender_private.h"

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
        char order_key [ND_SENDER_KEY_MAX + 1];
        snprintf (order_key, sizeof order_key, "%.*s", (int) k.mv_size, (const char *) k.mv_data);
        nd_sender_state_t state;
        rc = mdb_cursor_del (cursor, 0);
        if (rc == 0 && nd_sender_state_get (self, txn, order_key, &state) == 0
        &&  state.state == ND_SENDER_SENDING) {
            rc = nd_sender_schedule (self, txn, order_key, &state, state.due)
              || nd_sender_count (self, txn, "retrying", 1) ? -1 : 0;
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
        if (pthread_create (&self->workers [self->started], NULL, nd_sender_worker, self)) {
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
    nd_sender_list_purge (&self->work);
    nd_sender_list_purge (&self->results);
    nd_sender_list_purge (&self->marked);
    nd_sender_list_purge (&self->applied);
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
         : strlen (order_key) > ND_SENDER_KEY_MAX ? "idempotency_key longer than 400 bytes"
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
    nd_sender_state_t state;
    int rc = nd_sender_state_get (self, txn, order_key, &state);
    if (rc == 0) {
        nd_log ("send order %s seen before: not sent again", order_key);
        return nd_sender_count (self, txn, "duplicates", 1);
    }
    if (rc < 0)
        return -1;
    nd_key_t key;
    nd_sender_name_key (&key, order_key);
    int64_t now = nd_stage_now (self->stage);
    state = (nd_sender_state_t) { ND_SENDER_DUE, 0, now, now };
    if (nd_db_put_json (txn, self->orders, &key, order)
    ||  nd_sender_schedule (self, txn, order_key, &state, now))
        return -1;
    return nd_sender_dispatch (self, txn, now);
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
        nd_sender_state_t state;
        if (nd_sender_state_get (self, txn, order_key, &state) || state.state != ND_SENDER_DUE)
            continue;
        nd_key_t key, due, stamp;
        nd_sender_name_key (&key, order_key);
        nd_sender_time_key (&due, state.due, order_key);
        nd_sender_time_key (&stamp, now, order_key);
        state.state = ND_SENDER_SETTLED;
        state.due = now;
        rc = nd_db_del (txn, self->due, &due) < 0 || nd_db_del (txn, self->orders, &key) < 0
          || nd_sender_state_put (self, txn, order_key, &state)
          || nd_db_put_raw (txn, self->settled, &stamp, "", 0)
          || nd_sender_count (self, txn, "erased", 1) ? -1 : 0;
        forgotten++;
    }
    zlistx_destroy (&keys);
    return rc ? -1 : forgotten;
}

int nd_sender_timers (nd_sender_t *self, MDB_txn *txn, int64_t now)
{
    return nd_sender_dispatch (self, txn, now) || nd_sender_prune (self, txn, now) ? -1 : 0;
}

int nd_sender_drain (nd_sender_t *self, MDB_txn *txn)
{
    pthread_mutex_lock (&self->lock);
    nd_sender_list_t results = self->results;
    self->results = (nd_sender_list_t) { NULL, NULL, 0 };
    pthread_mutex_unlock (&self->lock);
    int rc = 0;
    nd_sender_item_t *item;
    while ((item = nd_sender_list_pop (&results))) {
        nd_sender_list_push (&self->applied, item);
        if (rc == 0)
            rc = nd_sender_apply_result (self, txn, item);
    }
    return rc ? -1 : nd_sender_dispatch (self, txn, nd_stage_now (self->stage));
}

void nd_sender_committed (nd_sender_t *self, int rc)
{
    if (rc == 0) {
        self->inflight -= self->applied.size;
        nd_sender_list_purge (&self->applied);
        pthread_mutex_lock (&self->lock);
        if (self->marked.head) {
            nd_sender_list_join (&self->work, &self->marked);
            pthread_cond_broadcast (&self->work_ready);
        }
        pthread_mutex_unlock (&self->lock);
        return;
    }
    //  Nothing of the transaction happened: marked orders are still due in
    //  LMDB, and the results must be applied again
    self->inflight -= self->marked.size;
    nd_sender_list_purge (&self->marked);
    if (self->applied.head) {
        pthread_mutex_lock (&self->lock);
        nd_sender_list_join (&self->applied, &self->results);
        self->results = self->applied;
        self->applied = (nd_sender_list_t) { NULL, NULL, 0 };
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
    assert (nd_sender_backoff (&backoff, 1, 0) == 60000);
    assert (nd_sender_backoff (&backoff, 2, 0) == 120000);
    assert (nd_sender_backoff (&backoff, 3, 0) == 240000);
    assert (nd_sender_backoff (&backoff, 30, 0) == 3600000);
    assert (nd_sender_backoff (&backoff, 1, 300000) == 300000);       //  Retry-After wins

    nd_sender_list_t a = { 0 }, b = { 0 };
    for (int i = 0; i < 3; i++) {
        nd_sender_item_t *item = (nd_sender_item_t *) calloc (1, sizeof *item);
        item->attempt = i;
        nd_sender_list_push (i < 2 ? &a : &b, item);
    }
    nd_sender_list_join (&a, &b);
    assert (a.size == 3 && b.size == 0 && a.head->attempt == 0 && a.tail->attempt == 2);
    nd_sender_list_purge (&a);

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
