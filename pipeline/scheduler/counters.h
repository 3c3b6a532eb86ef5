/*  counters.h - the counters nd-report reads: journey + variant +
    step + channel + metric -> u64.

    Layer: store; counters.c calls only the base.                        */
#ifndef COUNTERS_H_INCLUDED
#define COUNTERS_H_INCLUDED

#include "base.h"

int counter_add (scheduler_t *self, MDB_txn *txn, const char *journey, const char *variant,
                 const char *step, const char *channel, const char *metric, uint64_t delta);
/*  The same, counted on the UTC day of time (an order's credit counts on
    the order's day, whenever the delivery it waited for was heard).     */
int counter_add_at (scheduler_t *self, MDB_txn *txn, int64_t time, const char *journey,
                    const char *variant, const char *step, const char *channel,
                    const char *metric, uint64_t delta);
/*  Reads a counter; 0 when absent.                                       */
uint64_t counter_get (scheduler_t *self, MDB_txn *txn, const char *journey, const char *variant,
                      const char *step, const char *channel, const char *metric);

#endif
