/*  nd_inbox.h - other threads ask, the loop applies, the commit answers.

    Only the loop's thread writes a stage's LMDB, yet an HTTP request (a
    shopper's chat message, a provider's STOP) must be on disk before it
    is answered. So the request's thread hands its events to the inbox as
    one ticket, wakes the loop and waits; the loop's source_drain applies
    every waiting ticket, oldest first, in its write transaction, and its
    source_committed wakes each request with the outcome of its own
    events: a request whose events failed fails even if the rest of the
    transaction committed. A posted ticket has nobody waiting; the inbox
    frees it once it is done.

    The same lock carries a version that moves with each commit that
    changed what readers see, for long polls and event streams.

    Events are opaque: the inbox copies event_size bytes per event and
    calls clear() on an event it owns (a posted one) before freeing it.

        //  A request's thread
        my_event_t event = { ... };
        int rc = nd_inbox_submit (inbox, &event, 1);   //  0: committed
        //  The loop
        int s_drain (...)     { return nd_inbox_drain (inbox, txn, s_apply, self); }
        void s_committed (...) { nd_inbox_committed (inbox, rc, false); }  */
#ifndef ND_INBOX_H_INCLUDED
#define ND_INBOX_H_INCLUDED

#include "nd.h"

/*  How long a request waits for the loop to take its ticket.            */
#define ND_INBOX_WAIT_MS 20000

typedef struct _nd_inbox_t nd_inbox_t;
/*  Applies one event in the loop's transaction: 0 ok, -1 failed.        */
typedef int (nd_inbox_apply_fn) (void *arg, MDB_txn *txn, void *event);
/*  Frees what one event points to (not the event itself).              */
typedef void (nd_inbox_clear_fn) (void *event);

/*  stage is woken when a ticket waits (NULL: nobody is woken, the caller
    drains by itself).                                                   */
nd_inbox_t *nd_inbox_new (nd_stage_t *stage, size_t event_size, nd_inbox_clear_fn *clear);
/*  Closes first; frees posted tickets the loop never took.              */
void nd_inbox_destroy (nd_inbox_t **self_p);

/*  Hands count events (the caller's, borrowed) to the loop and waits
    until the transaction that applied them ends. 0 when it committed
    and every one of them applied, -1 when not, when the loop did not
    take them within ND_INBOX_WAIT_MS, or when the inbox is closing.    */
int nd_inbox_submit (nd_inbox_t *self, void *events, size_t count);
/*  Hands one event over without waiting; the inbox takes it (and what
    it points to) and zeroes the caller's copy.                          */
void nd_inbox_post (nd_inbox_t *self, void *event);

/*  The loop, in its transaction: applies every waiting ticket's events,
    oldest first; a ticket stops at its first failing event. -1 if any
    ticket failed.                                                       */
int nd_inbox_drain (nd_inbox_t *self, MDB_txn *txn, nd_inbox_apply_fn *apply, void *arg);
/*  The loop, after the commit (rc 0) or the abort: answers the drained
    tickets; changed moves the version (only when rc is 0).             */
void nd_inbox_committed (nd_inbox_t *self, int rc, bool changed);

/*  The version: 1 at the start, 0 once the inbox is closing. wait
    returns when it is past seen, or timeout_ms has passed.              */
uint64_t nd_inbox_version (nd_inbox_t *self);
uint64_t nd_inbox_wait (nd_inbox_t *self, uint64_t seen, int64_t timeout_ms);

/*  Stopping: waiting requests and version waiters give up, new ones
    fail at once. Call before joining the threads that submit.          */
void nd_inbox_close (nd_inbox_t *self);

/*  Tickets waiting for the loop.                                        */
size_t nd_inbox_waiting (nd_inbox_t *self);

void nd_inbox_test (bool verbose);

#endif
