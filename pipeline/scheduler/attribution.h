/*  attribution.h - conversions: which journey, variant, step and
    channel an order owes to.

    Layer: engine; attribution.c calls codes.c, the rules and the store. */
#ifndef ATTRIBUTION_H_INCLUDED
#define ATTRIBUTION_H_INCLUDED

#include "base.h"
#include "instance.h"

/*  A message went out: it is now the person's last touch.               */
int attribution_touch (scheduler_t *self, MDB_txn *txn, const instance_t *instance,
                       const char *step, channel_t channel, const char *key, int64_t time);
/*  feedback.<kind> for the message with key: delivered or clicked marks
    the instance reached; delivered, clicked or failed (bounced,
    unreachable) settles the orders that waited for it.                  */
int attribution_feedback (scheduler_t *self, MDB_txn *txn, instance_t *instance, const char *kind,
                          const char *step, channel_t channel, const char *key, int64_t time);
/*  order.completed: credits instances and the last touch.               */
int attribution_order (scheduler_t *self, MDB_txn *txn, const nd_msg_t *msg);

#endif
