/*  feedback.h - the senders' feedback: fallback, opt-outs, clicks.

    Layer: engine; feedback.c calls send.c, confirm.c, attribution.c and
    the store.                                                           */
#ifndef FEEDBACK_H_INCLUDED
#define FEEDBACK_H_INCLUDED

#include "base.h"

int feedback_apply (scheduler_t *self, MDB_txn *txn, const nd_msg_t *msg);
/*  Splits "<journey>/<instance>/<step>/<channel>"; 0 / -1 (-1 too for
    an epoch neither this state's nor one it imported people from).     */
int feedback_parse_key (scheduler_t *self, MDB_txn *txn, const char *key, uint64_t *instance,
                        char *step, channel_t *channel);

#endif
