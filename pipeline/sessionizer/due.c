/*  due.c - the time-ordered indexes: open sessions by expiry (session.c)
    and anonymous visitors by when visitor-retention forgets them
    (retention.c).

    Layer: store: calls only the base.

    Key: i64 due + visitor id, no value; byte order is due order, so the
    first entry is the next one due. The idle entry of an anonymous
    visitor is kept here by retention_arm, which visitor_store calls:
    its deadline is the last activity rounded up to a slack, plus the
    retention (retention.c says why).                                    */
#include <stdio.h>
#include <string.h>
#include "due.h"

#define SLACK_MAX (24 * 3600 * 1000LL)

void due_key (nd_key_t *key, int64_t due, const char *visitor)
{
    nd_key_init (key);
    nd_key_i64 (key, due);
    nd_key_str (key, visitor);
}
int due_first (MDB_txn *txn, MDB_dbi dbi, const char *what, int64_t now, nd_key_t *entry,
               char *id, int64_t *due)
{
    MDB_cursor *cursor;
    int rc = mdb_cursor_open (txn, dbi, &cursor);
    if (rc)
        return nd_db_error (rc, what);
    MDB_val key, data;
    rc = mdb_cursor_get (cursor, &key, &data, MDB_FIRST);
    int result = rc == MDB_NOTFOUND ? 0 : rc ? nd_db_error (rc, what) : 1;
    if (result == 1) {
        *due = nd_key_get_i64 (&key, 0);
        result = *due <= now && key.mv_size > 8 && key.mv_size <= ND_KEY_MAX;
    }
    if (result == 1) {
        nd_key_init (entry);
        memcpy (entry->data, key.mv_data, key.mv_size);
        entry->size = key.mv_size;
        snprintf (id, VISITOR_ID_MAX, "%.*s", (int) (key.mv_size - 8), (const char *) key.mv_data + 8);
    }
    mdb_cursor_close (cursor);
    return result;
}

/* --------------------------------------------------- idle visitors -- */

int64_t retention_slack (int64_t retention)
{
    int64_t slack = retention / 16;
    return slack > SLACK_MAX ? SLACK_MAX : slack < 1000 ? 1000 : slack;
}
//  The deadline an activity at last gives; 0 for no activity (no entry).
int64_t retention_deadline (const sessionizer_t *self, int64_t last)
{
    if (last <= 0)
        return 0;
    int64_t slack = self->retention_slack;
    return (last / slack + 1) * slack + self->retention;
}
//  Keeps visitor's index entry where its last activity says, moving it
//  only when that crossed into a new slack period. Identified visitors
//  are not re-armed: their old entry is dropped when it comes due.
int retention_arm (sessionizer_t *self, MDB_txn *txn, visitor_t *visitor)
{
    if (self->retention == 0 || visitor->merged_into || visitor->user_id)
        return 0;
    int64_t was = retention_deadline (self, visitor->armed_last);
    int64_t deadline = retention_deadline (self, visitor->last);
    if (deadline == was)
        return 0;
    nd_key_t key;
    if (was) {
        due_key (&key, was, visitor->id);
        if (nd_db_del (txn, self->idle, &key) < 0)
            return -1;
    }
    due_key (&key, deadline, visitor->id);
    visitor->armed_last = visitor->last;
    return nd_db_put_raw (txn, self->idle, &key, "", 0);
}
