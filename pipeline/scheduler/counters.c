/*  counters.c - the counters nd-report reads and STATS shows.

    Layer: store: calls only the base.

    A u64 under journey + variant + step + channel + metric (empty parts
    where they do not apply): entered, sent, held, exits, conversions,
    revenue in cents (attribution.c). Totals for STATS sit under an empty
    journey. A journey's counters are also kept per UTC day of the
    scheduler's clock: the same key followed by an i64 day number (days
    since 1970-01-01), bumped in the same transaction as the total, for
    nd-report's date ranges and daily series.                            */
#include "counters.h"

#define COUNTER_DAY_MS 86400000LL

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

//  The same counter for one UTC day: the key above and the day number,
//  so an unchanged reader of the totals still finds them.
static void s_counter_day_key (nd_key_t *key, const char *journey, const char *variant,
                               const char *step, const char *channel, const char *metric,
                               int64_t day)
{
    s_counter_key (key, journey, variant, step, channel, metric);
    nd_key_i64 (key, day);
}

static int s_bump (scheduler_t *self, MDB_txn *txn, const nd_key_t *key, uint64_t delta)
{
    uint64_t value = 0;
    if (nd_db_get_u64 (txn, self->counters, key, &value) < 0)
        return -1;
    return nd_db_put_u64 (txn, self->counters, key, value + delta);
}

//  A journey's counters are kept per day too (nd-report's date ranges and
//  daily series), in the same transaction; the stage totals (empty
//  journey) only as totals. time picks the day: an order's credit counts
//  on the order's day, whenever the delivery it waited for was heard.
int counter_add_at (scheduler_t *self, MDB_txn *txn, int64_t time, const char *journey,
                         const char *variant, const char *step, const char *channel,
                         const char *metric, uint64_t delta)
{
    nd_key_t key;
    s_counter_key (&key, journey, variant, step, channel, metric);
    if (s_bump (self, txn, &key, delta))
        return -1;
    if (!journey || !*journey)
        return 0;
    int64_t day = time >= 0 ? time / COUNTER_DAY_MS : (time - COUNTER_DAY_MS + 1) / COUNTER_DAY_MS;
    s_counter_day_key (&key, journey, variant, step, channel, metric, day);
    return s_bump (self, txn, &key, delta);
}

int counter_add (scheduler_t *self, MDB_txn *txn, const char *journey, const char *variant,
                 const char *step, const char *channel, const char *metric, uint64_t delta)
{
    return counter_add_at (self, txn, nd_stage_now (self->stage), journey, variant, step, channel,
                         metric, delta);
}
