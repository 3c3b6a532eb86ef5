/*  counters.c - the counters nd-report reads and STATS shows.

    Layer: store: calls only the base.

    A u64 under journey + variant + step + channel + metric (empty parts
    where they do not apply): entered, sent, held, exits, conversions,
    revenue in cents (attribution.c). Totals for STATS sit under an empty
    journey.                                                             */
#include "counters.h"

static void s_counter_key (nd_key_t *key, const char *journey, const char *variant,
                           const char *step, const char *channel, const char *metric)
{
    nd_key_init (key);
    nd_key_str (key, journey ? journey : "");
    nd_key_str (key, variant ? variant : "");
    nd_key_str (key, step ? step : "");
    nd_key_str (key, channel ? channel : "");
    nd_key_str (key, metric);
}

uint64_t counter_get (scheduler_t *self, MDB_txn *txn, const char *journey, const char *variant,
                      const char *step, const char *channel, const char *metric)
{
    nd_key_t key;
    s_counter_key (&key, journey, variant, step, channel, metric);
    uint64_t value = 0;
    nd_db_get_u64 (txn, self->counters, &key, &value);
    return value;
}

int counter_add (scheduler_t *self, MDB_txn *txn, const char *journey, const char *variant,
                 const char *step, const char *channel, const char *metric, uint64_t delta)
{
    nd_key_t key;
    s_counter_key (&key, journey, variant, step, channel, metric);
    uint64_t value = 0;
    if (nd_db_get_u64 (txn, self->counters, &key, &value) < 0)
        return -1;
    return nd_db_put_u64 (txn, self->counters, &key, value + delta);
}
