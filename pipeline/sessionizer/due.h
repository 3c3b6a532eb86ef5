/*  due.h - the time-ordered indexes: open sessions by expiry,
    anonymous visitors by when retention forgets them.

    Layer: store; due.c calls only the base.                            */
#ifndef DUE_H_INCLUDED
#define DUE_H_INCLUDED

#include "base.h"

/*  The time-ordered indexes (session expiry, idle visitors): i64 due +
    visitor id, no value. due_first gives the first entry due at now:
    1 with entry, id and due filled, 0 when none is due, -1 on error.    */
void due_key (nd_key_t *key, int64_t due, const char *visitor);
int due_first (MDB_txn *txn, MDB_dbi dbi, const char *what, int64_t now, nd_key_t *entry,
               char *id, int64_t *due);
/*  retention.c's index of anonymous visitors: keeps visitor's entry where
    its last activity says (visitor_store calls it); the slack deadlines
    are rounded up to, for visitor-retention.                            */
int retention_arm (sessionizer_t *self, MDB_txn *txn, visitor_t *visitor);
int64_t retention_slack (int64_t retention);
/*  The deadline an activity at last gives; 0 for no activity.          */
int64_t retention_deadline (const sessionizer_t *self, int64_t last);

#endif
