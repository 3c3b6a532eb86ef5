/*  lifecycle.h - an instance's life: entry, its timers firing, exits.

    Layer: engine; lifecycle.c calls engine.c, send.c, the rules and the
    store.                                                               */
#ifndef LIFECYCLE_H_INCLUDED
#define LIFECYCLE_H_INCLUDED

#include "base.h"
#include "timers.h"

/*  A trigger of journey: enters the user when the journey's filter,
    segments and re-entry rules let them in.                             */
int instance_enter (scheduler_t *self, MDB_txn *txn, journey_t *journey, const nd_msg_t *msg);
/*  Ends the user's running instances of journeys that exit on topic.    */
int instance_exit_on (scheduler_t *self, MDB_txn *txn, const char *user,
                      const char *topic, int64_t now);
int instance_fire (scheduler_t *self, MDB_txn *txn, uint64_t id, timer_kind_t kind, int64_t now);

#endif
