/*  nd_sender_store - the outbox's records in the stage's LMDB.

    Layer: runtime, the outbox (nd_sender.c), its bottom beside the
    workers: these read and write the records and call nothing else of
    the outbox, so every part above keeps them one way.

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

    A settled key is forgotten "keep" after it settled (nd_sender_prune,
    at most s_PRUNE_MAX a timer call, so one call stays short).           */
#define _GNU_SOURCE
#include <stdio.h>
#include "nd_sender_private.h"

#define s_PRUNE_MAX 1000        //  settled keys forgotten per timer call

/* --------------------------------------------------------------- state -- */

void nd_sender_name_key (nd_key_t *key, const char *name)
{
    nd_key_init (key);
    nd_key_str (key, name);
}

void nd_sender_time_key (nd_key_t *key, int64_t time, const char *name)
{
    nd_key_init (key);
    nd_key_i64 (key, time);
    nd_key_str (key, name);
}

int nd_sender_state_get (nd_sender_t *self, MDB_txn *txn, const char *order_key,
                         nd_sender_state_t *state)
{
    nd_key_t key;
    nd_sender_name_key (&key, order_key);
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

int nd_sender_state_put (nd_sender_t *self, MDB_txn *txn, const char *order_key,
                         const nd_sender_state_t *state)
{
    nd_key_t key, value;
    nd_sender_name_key (&key, order_key);
    nd_key_init (&value);
    nd_key_u8 (&value, state->state);
    nd_key_u64 (&value, state->attempts);
    nd_key_i64 (&value, state->first);
    nd_key_i64 (&value, state->due);
    return nd_db_put_raw (txn, self->states, &key, value.data, value.size);
}

//  A persistent counter; delta may be negative for the retrying gauge.
int nd_sender_count (nd_sender_t *self, MDB_txn *txn, const char *name, int64_t delta)
{
    nd_key_t key;
    nd_sender_name_key (&key, name);
    uint64_t value = 0;
    if (nd_db_get_u64 (txn, self->counts, &key, &value) < 0)
        return -1;
    value = delta < 0 && (uint64_t) -delta > value ? 0 : value + (uint64_t) delta;
    return nd_db_put_u64 (txn, self->counts, &key, value);
}

//  Puts an order on the due index at time due.
int nd_sender_schedule (nd_sender_t *self, MDB_txn *txn, const char *order_key,
                        nd_sender_state_t *state, int64_t due)
{
    nd_key_t key;
    state->state = ND_SENDER_DUE;
    state->due = due;
    nd_sender_time_key (&key, due, order_key);
    return nd_db_put_raw (txn, self->due, &key, "", 0)
        || nd_sender_state_put (self, txn, order_key, state) ? -1 : 0;
}

/* --------------------------------------------------------------- prune -- */

//  A settled key is remembered for "keep", then forgotten.
int nd_sender_prune (nd_sender_t *self, MDB_txn *txn, int64_t now)
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
        char order_key [ND_SENDER_KEY_MAX + 1];
        snprintf (order_key, sizeof order_key, "%.*s", (int) (k.mv_size - 9),
                  (const char *) k.mv_data + 8);
        rc = mdb_cursor_del (cursor, 0);
        nd_sender_state_t state;
        if (rc == 0 && nd_sender_state_get (self, txn, order_key, &state) == 0
        &&  state.state == ND_SENDER_SETTLED) {
            nd_key_t key;
            nd_sender_name_key (&key, order_key);
            rc = nd_db_del (txn, self->states, &key) < 0 ? -1 : 0;
        }
        if (rc)
            break;
    }
    mdb_cursor_close (cursor);
    return rc && rc != MDB_NOTFOUND ? nd_db_error (rc, "sender prune") : 0;
}
