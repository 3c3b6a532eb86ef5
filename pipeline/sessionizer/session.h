/*  session.h - visits: when they start, how far they get, how they end.

    Layer: engine; session.c calls shop.c and the store.                 */
#ifndef SESSION_H_INCLUDED
#define SESSION_H_INCLUDED

#include "base.h"

int session_touch (sessionizer_t *self, MDB_txn *txn, visitor_t *visitor,
                   const event_t *event, bool *started);
const char *session_id (const visitor_t *visitor);
int session_end (sessionizer_t *self, MDB_txn *txn, visitor_t *visitor,
                 int64_t end, const char *merged_into);
int session_merge (sessionizer_t *self, MDB_txn *txn, visitor_t *survivor,
                   visitor_t *loser, int64_t time);
int session_expire (sessionizer_t *self, MDB_txn *txn, int64_t now);

void session_test (bool verbose);

#endif
