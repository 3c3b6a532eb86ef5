/*  nd_sender_private.h - what the outbox's files share; not for stages.

    Layer: runtime, the outbox (nd_sender.c, which names its files). The
    struct, the states an order goes through, the lists that carry orders
    between the loop and the workers, and the functions each file gives
    the files above it, from the top down. Only the outbox's own files
    include it; a stage sees nd_sender.h alone.                          */
#ifndef ND_SENDER_PRIVATE_H_INCLUDED
#define ND_SENDER_PRIVATE_H_INCLUDED

#include <pthread.h>
#include "nd_sender.h"

#define ND_SENDER_DUE 1
#define ND_SENDER_SENDING 2
#define ND_SENDER_SETTLED 3
#define ND_SENDER_KEY_MAX 400   //  bytes of an idempotency key

typedef struct {
    uint8_t state;
    uint32_t attempts;          //  tries started
    int64_t first;              //  queued at
    int64_t due;                //  next try, or when it settled
} nd_sender_state_t;

typedef struct _nd_sender_item_t {
    char *key;
    json_t *order;
    int attempt;
    nd_send_result_t result;
    int64_t time;               //  the clock when this try was due
    struct _nd_sender_item_t *next;
} nd_sender_item_t;

typedef struct {
    nd_sender_item_t *head;
    nd_sender_item_t *tail;
    size_t size;
} nd_sender_list_t;

struct _nd_sender_t {
    nd_stage_t *stage;
    const nd_send_provider_t *provider;
    void *provider_self;
    nd_send_hooks_t hooks;
    MDB_dbi orders, states, due, sending, settled, counts;
    int64_t retry_base, retry_cap, lifetime, keep;
    double rate;
    double burst;               //  what the bucket holds at most
    bool event_time;            //  the rate limit counts event time, here
    size_t max_inflight, batch, connections;
    //  The loop's thread only
    size_t inflight;            //  marked and not yet settled in a commit
    nd_sender_list_t marked;    //  marked in the open transaction
    nd_sender_list_t applied;   //  results applied in the open transaction
    //  Shared with the workers, under lock
    pthread_mutex_t lock;
    pthread_cond_t work_ready;
    nd_sender_list_t work;
    nd_sender_list_t results;
    bool stopping;
    nd_bucket_t bucket;         //  the rate limit: monotonic ms (event
                                //  time: the due times orders go at)
    pthread_t *workers;
    size_t started;
    nd_templates_t *templates;  //  reloaded on SIGHUP; the provider's
};

/*  nd_sender_dispatch.c: marks due orders sending while the workers have
    room, each judged at its due time (now, in live time).                */
int nd_sender_dispatch (nd_sender_t *self, MDB_txn *txn, int64_t now);

/*  nd_sender_settle.c: applies a worker's result to its order.           */
int nd_sender_apply_result (nd_sender_t *self, MDB_txn *txn, nd_sender_item_t *item);
/*  Settles the order, or schedules its retry, by result's outcome.       */
int nd_sender_outcome (nd_sender_t *self, MDB_txn *txn, const char *order_key,
                       const json_t *order, nd_sender_state_t *state,
                       const nd_send_result_t *result);
/*  When the order stops being worth trying.                              */
int64_t nd_sender_expiry (nd_sender_t *self, const json_t *order,
                          const nd_sender_state_t *state);
/*  The delay before try attempts + 1.                                    */
int64_t nd_sender_backoff (nd_sender_t *self, uint32_t attempts, int64_t retry_after);

/*  nd_sender_store.c: the records' keys: by idempotency key, and by a
    time, then the key (due and settled).                                 */
void nd_sender_name_key (nd_key_t *key, const char *name);
void nd_sender_time_key (nd_key_t *key, int64_t time, const char *name);
/*  An order's state: 0, ND_NOTFOUND, or -1 after logging.               */
int nd_sender_state_get (nd_sender_t *self, MDB_txn *txn, const char *order_key,
                         nd_sender_state_t *state);
int nd_sender_state_put (nd_sender_t *self, MDB_txn *txn, const char *order_key,
                         const nd_sender_state_t *state);
int nd_sender_count (nd_sender_t *self, MDB_txn *txn, const char *name, int64_t delta);
int nd_sender_schedule (nd_sender_t *self, MDB_txn *txn, const char *order_key,
                        nd_sender_state_t *state, int64_t due);
int nd_sender_prune (nd_sender_t *self, MDB_txn *txn, int64_t now);

/*  nd_sender_workers.c: the lists (an item's owner is the list it is on;
    purge frees what is left).                                           */
void nd_sender_list_push (nd_sender_list_t *list, nd_sender_item_t *item);
nd_sender_item_t *nd_sender_list_pop (nd_sender_list_t *list);
void nd_sender_list_join (nd_sender_list_t *list, nd_sender_list_t *more);
void nd_sender_list_purge (nd_sender_list_t *list);
/*  A worker thread's body; arg is the outbox.                            */
void *nd_sender_worker (void *arg);

#endif
