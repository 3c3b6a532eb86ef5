/*  collector_seen - which messageIds were already accepted.

    SDKs retry a batch whose answer they did not see, so the same messageId
    arrives again; Segment answers 200 and drops it, and so do we. The ids
    live in two LMDB databases used in turn: new ids go into the current
    one; when it has been current for a whole window, the older one is
    emptied and becomes current. Each id is thus remembered for at least
    one window and at most two, at one read and one write per event and no
    per-id expiry index to keep.
*/
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "collector.h"

struct _collector_seen_t {
    MDB_dbi ids [2];            //  "seen.0", "seen.1": messageId -> ms seen
    MDB_dbi meta;               //  "seen.meta": which is current, since when
    int64_t window;
};

static const char *s_meta_key = "current";

collector_seen_t *collector_seen_new (MDB_txn *txn, int64_t window)
{
    collector_seen_t *self = (collector_seen_t *) zmalloc (sizeof *self);
    self->window = window;
    if (nd_db_open (txn, "seen.0", &self->ids [0])
    ||  nd_db_open (txn, "seen.1", &self->ids [1])
    ||  nd_db_open (txn, "seen.meta", &self->meta))
        collector_seen_destroy (&self);
    return self;
}

void collector_seen_destroy (collector_seen_t **self_p)
{
    if (*self_p) {
        free (*self_p);
        *self_p = NULL;
    }
}

//  The current database and since when, read inside txn so that a rotation
//  in a transaction that later aborted is forgotten with it.
static int s_current (collector_seen_t *self, MDB_txn *txn, int64_t now,
                      int *current)
{
    nd_key_t key;
    nd_key_init (&key);
    nd_key_str (&key, s_meta_key);
    MDB_val k = nd_key_val (&key), data;
    int rc = mdb_get (txn, self->meta, &k, &data);
    if (rc != 0 && rc != MDB_NOTFOUND)
        return nd_db_error (rc, "reading seen.meta");
    int64_t since = rc == 0 ? nd_key_get_i64 (&data, 1) : now;
    *current = rc == 0 ? ((uint8_t *) data.mv_data) [0] : 0;
    if (rc == 0 && now - since < self->window)
        return 0;
    if (rc == 0) {
        *current = !*current;
        MDB_stat stat = { 0 };
        mdb_stat (txn, self->ids [*current], &stat);
        if ((rc = mdb_drop (txn, self->ids [*current], 0)))
            return nd_db_error (rc, "emptying seen");
        if (stat.ms_entries)
            nd_log ("dedupe: forgot %zu messageIds seen more than a window ago",
                    stat.ms_entries);
    }
    nd_key_t value;
    nd_key_init (&value);
    nd_key_u8 (&value, (uint8_t) *current);
    nd_key_i64 (&value, now);
    data = nd_key_val (&value);
    rc = mdb_put (txn, self->meta, &k, &data, 0);
    return rc ? nd_db_error (rc, "writing seen.meta") : 0;
}

int collector_seen_check (collector_seen_t *self, MDB_txn *txn, const char *id, int64_t now)
{
    int current = 0;
    if (s_current (self, txn, now, &current))
        return -1;
    nd_key_t key, value;
    nd_key_init (&key);
    nd_key_str (&key, id);
    nd_key_init (&value);
    nd_key_i64 (&value, now);
    if (key.overflow)
        return 0;               //  too long to remember: ids are capped before
    MDB_val k = nd_key_val (&key), data;
    int rc = mdb_get (txn, self->ids [!current], &k, &data);
    if (rc == 0)
        return 1;
    if (rc != MDB_NOTFOUND)
        return nd_db_error (rc, "reading seen");
    data = nd_key_val (&value);
    rc = mdb_put (txn, self->ids [current], &k, &data, MDB_NOOVERWRITE);
    if (rc == MDB_KEYEXIST)
        return 1;
    return rc ? nd_db_error (rc, "writing seen") : 0;
}
