/*  nd_sender_settle - what a try's result does to its order.

    Layer: runtime, the outbox (nd_sender.c), below dispatch, above the
    store. Delivered or refused for good, an order settles: its state is
    kept for "keep", the stage's hook sees it, its feedback is emitted. A
    temporary failure is tried again after a backoff, until its lifetime
    or "not_after" ends it as failed. It stands apart because a worker's
    result (the drain) and a check that refuses an order before its try
    (dispatch) end an order the same way, here.                           */
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>
#include <czmq.h>
#include "nd_sender_private.h"

/* ------------------------------------------------------------ settling -- */

//  The feedback body: what the scheduler needs to find the instance.
static json_t *s_feedback (nd_sender_t *self, const char *order_key, const json_t *order,
                           const char *topic, const nd_sender_state_t *state,
                           const nd_send_result_t *result)
{
    char id [ND_SENDER_KEY_MAX + 64], stamp [32];
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
                     nd_sender_state_t *state, const nd_send_result_t *result, const char *topic)
{
    int64_t now = nd_stage_now (self->stage);
    nd_key_t key, stamp;
    nd_sender_name_key (&key, order_key);
    nd_sender_time_key (&stamp, now, order_key);
    state->state = ND_SENDER_SETTLED;
    state->due = now;
    json_t *body = s_feedback (self, order_key, order, topic, state, result);
    int rc = nd_sender_state_put (self, txn, order_key, state)
          || nd_db_put_raw (txn, self->settled, &stamp, "", 0)
          || nd_db_del (txn, self->orders, &key) < 0
          || nd_sender_count (self, txn, topic, 1) ? -1 : 0;
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
int64_t nd_sender_expiry (nd_sender_t *self, const json_t *order,
                          const nd_sender_state_t *state)
{
    int64_t expiry = state->first + self->lifetime, not_after;
    const char *text = json_string_value (json_object_get (order, "not_after"));
    if (text && nd_time_parse (text, &not_after) == 0 && not_after < expiry)
        expiry = not_after;
    return expiry;
}

//  base * 2^(attempt-1), capped; the provider's Retry-After if later.
int64_t nd_sender_backoff (nd_sender_t *self, uint32_t attempts, int64_t retry_after)
{
    int64_t delay = self->retry_base;
    for (uint32_t i = 1; i < attempts && delay < self->retry_cap; i++)
        delay *= 2;
    if (delay > self->retry_cap)
        delay = self->retry_cap;
    return retry_after > delay ? retry_after : delay;
}

static int s_retry (nd_sender_t *self, MDB_txn *txn, const char *order_key, const json_t *order,
                    nd_sender_state_t *state, const nd_send_result_t *result)
{
    int64_t now = nd_stage_now (self->stage);
    int64_t expiry = nd_sender_expiry (self, order, state);
    if (now >= expiry)
        return s_settle (self, txn, order_key, order, state, result, "failed");
    int64_t due = now + nd_sender_backoff (self, state->attempts, result->retry_after_ms);
    if (due > expiry)
        due = expiry;           //  one last try as the lifetime ends, as an MTA does
    nd_log ("retry %s in %llds (attempt %u): %s", order_key, (long long) (due - now) / 1000,
            state->attempts, result->reason);
    return nd_sender_schedule (self, txn, order_key, state, due)
        || nd_sender_count (self, txn, "retrying", 1) ? -1 : 0;
}

int nd_sender_outcome (nd_sender_t *self, MDB_txn *txn, const char *order_key,
                       const json_t *order, nd_sender_state_t *state,
                       const nd_send_result_t *result)
{
    if (result->outcome == ND_SEND_DELIVERED)
        return s_settle (self, txn, order_key, order, state, result, "delivered");
    if (result->outcome == ND_SEND_PERMANENT)
        return s_settle (self, txn, order_key, order, state, result,
                         *result->topic ? result->topic : "bounced");
    return s_retry (self, txn, order_key, order, state, result);
}

int nd_sender_apply_result (nd_sender_t *self, MDB_txn *txn, nd_sender_item_t *item)
{
    nd_sender_state_t state;
    nd_key_t key;
    nd_sender_name_key (&key, item->key);
    int rc = nd_sender_state_get (self, txn, item->key, &state);
    if (rc == ND_NOTFOUND || (rc == 0 && state.state != ND_SENDER_SENDING))
        return 0;               //  pruned or settled meanwhile: nothing to say
    if (rc || nd_db_del (txn, self->sending, &key) < 0)
        return -1;
    return nd_sender_outcome (self, txn, item->key, item->order, &state, &item->result);
}
