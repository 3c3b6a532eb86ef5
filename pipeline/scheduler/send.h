/*  send.h - one send step: decide, issue a code, emit the order;
    and the fallback to the next channel.

    Layer: engine; send.c calls attribution.c, the rules and the store.  */
#ifndef SEND_H_INCLUDED
#define SEND_H_INCLUDED

#include "base.h"
#include "instance.h"
#include "policy.h"

int send_step (scheduler_t *self, MDB_txn *txn, instance_t *instance, const step_t *step,
               const attempt_t *attempt, int64_t now, send_result_t *result, int64_t *until);

/*  A fallback timer: the step's next channel after a failed one.         */
int send_fallback_fire (scheduler_t *self, MDB_txn *txn, instance_t *instance, int64_t now);
/*  Feedback said the message with idempotency key failed on channel:
    try the step's next channel, once.                                    */
int send_fallback (scheduler_t *self, MDB_txn *txn, instance_t *instance, const char *key,
                   channel_t channel, int64_t now);

#endif
