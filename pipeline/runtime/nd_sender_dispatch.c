/*  nd_sender_dispatch - due orders marked sending, for the workers.

    Layer: runtime, the outbox (nd_sender.c), below its top, above
    settling, the store and the workers' lists. While the workers have
    room it takes the due index in time order, judges each order at its
    own due time (the stage's check, its end, in event time the rate
    limit) and marks it sending in the open transaction; the marked list
    reaches the workers only after the commit (nd_sender_committed). It
    stands apart because queueing, the timer and the drain all end with
    it: the one place that decides what goes out now.                     */
#define _GNU_SOURCE
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "nd_sender_private.h"

/* ------------------------------------------------------------ dispatch -- */

static json_t *s_order_load (nd_sender_t *self, MDB_txn *txn, const char *order_key)
{
    nd_key_t key;
    nd_sender_name_key (&key, order_key);
    json_t *order = NULL;
    return nd_db_get_json (txn, self->orders, &key, &order) == 0 ? order : NULL;
}

//  Moves one due order to sending, or settles it if the stage says so;
//  now is when the try is due. In event time the rate limit is kept
//  here: an order it holds back is due again when it would have gone.
static int s_mark (nd_sender_t *self, MDB_txn *txn, const char *order_key, int64_t now)
{
    nd_sender_state_t state;
    json_t *order = NULL;
    if (nd_sender_state_get (self, txn, order_key, &state)
    ||  !(order = s_order_load (self, txn, order_key)))
        return -1;
    nd_send_result_t result = { ND_SEND_PERMANENT, "", "", 0, NULL };
    int verdict = self->hooks.check ? self->hooks.check (self->hooks.arg, txn, order, now, &result) : 0;
    //  Past its end (the stage was down, or "not_after" passed): a retry
    //  now settles it as failed. At the very end it still gets its try.
    if (verdict == 0 && now > nd_sender_expiry (self, order, &state)) {
        verdict = 1;
        result = (nd_send_result_t) { ND_SEND_RETRY, "", "too late: lifetime or not_after passed",
                                      0, NULL };
    }
    int64_t wait = verdict == 0 && self->event_time && self->rate > 0
                 ? nd_bucket_take (&self->bucket, self->rate, self->burst, now) : 0;
    if (wait) {
        json_decref (order);
        return nd_sender_schedule (self, txn, order_key, &state, now + wait);
    }
    int rc = verdict < 0 || (state.attempts > 0 && nd_sender_count (self, txn, "retrying", -1))
           ? -1 : 0;
    if (rc == 0 && verdict == 1)
        rc = nd_sender_outcome (self, txn, order_key, order, &state, &result);
    json_decref (result.extra);
    if (rc || verdict == 1) {
        json_decref (order);
        return rc;
    }
    nd_key_t key;
    nd_sender_name_key (&key, order_key);
    state.state = ND_SENDER_SENDING;
    state.attempts++;
    nd_sender_item_t *item = (nd_sender_item_t *) calloc (1, sizeof *item);
    assert (item);
    *item = (nd_sender_item_t) { strdup (order_key), order, (int) state.attempts,
                         { ND_SEND_RETRY, "", "not attempted", 0, NULL }, now, NULL };
    nd_sender_list_push (&self->marked, item);
    self->inflight++;
    return nd_sender_state_put (self, txn, order_key, &state)
        || nd_db_put_raw (txn, self->sending, &key, "", 0) ? -1 : 0;
}

//  Marks due orders sending while the workers have room. In event time
//  each is judged at its own due time, as the live loop would have been
//  at that moment.
int nd_sender_dispatch (nd_sender_t *self, MDB_txn *txn, int64_t now)
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
        char order_key [ND_SENDER_KEY_MAX + 1];
        snprintf (order_key, sizeof order_key, "%.*s", (int) (k.mv_size - 9),
                  (const char *) k.mv_data + 8);
        rc = rc ? nd_db_error (rc, "sender due") : mdb_cursor_del (cursor, 0);
        mdb_cursor_close (cursor);
        if (rc == 0)
            rc = s_mark (self, txn, order_key, self->event_time ? due : now);
    }
    return rc ? -1 : 0;
}
