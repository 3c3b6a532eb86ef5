/*  timers.h - the durable, time-ordered timer index.

    Layer: store; timers.c calls nothing of the scheduler's.             */
#ifndef TIMERS_H_INCLUDED
#define TIMERS_H_INCLUDED

#include "base.h"

/*  Durable timers: a time-ordered index in the stage's LMDB. kind says
    what fires: the instance's next step, a fallback, or its clean-up.   */
typedef enum { TIMER_STEP = 0, TIMER_FALLBACK = 1, TIMER_CLEANUP = 2,
               TIMER_CODE = 3 } timer_kind_t;   //  CODE: "instance" is a code's number (codes.c)
typedef struct _timers_t timers_t;
timers_t *timers_new (MDB_txn *txn);
void timers_destroy (timers_t **self_p);
int timers_add (timers_t *self, MDB_txn *txn, int64_t due, uint64_t instance, timer_kind_t kind);
/*  0, ND_NOTFOUND if no such timer, -1 on error.                         */
int timers_cancel (timers_t *self, MDB_txn *txn, int64_t due, uint64_t instance, timer_kind_t kind);
/*  Removes and returns the earliest timer due at or before now: 1 if one
    was, 0 if none is due, -1 on error.                                   */
int timers_pop (timers_t *self, MDB_txn *txn, int64_t now,
                int64_t *due, uint64_t *instance, timer_kind_t *kind);
/*  The earliest due time, or INT64_MAX when none is pending.            */
int64_t timers_next (timers_t *self, MDB_txn *txn);
size_t timers_pending (timers_t *self, MDB_txn *txn);
/*  The index and its key, for moving a person's timers as rows (move.c). */
MDB_dbi timers_dbi (timers_t *self);
void timers_key (nd_key_t *key, int64_t due, uint64_t instance, timer_kind_t kind);
/*  Drops the process's mappings of the state's pages (they stay in the
    page cache): call between transactions, now and then.                */
void timers_release (MDB_env *env);
void timers_test (bool verbose);

#endif
