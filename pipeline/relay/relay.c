/*  relay - the smallest nudge stage: forwards what it reads, unchanged.

    NAME
        relay - forward a stage's durable output to its own journal

    SYNOPSIS
        relay [--config FILE] [--name NAME] [--clock wall|event]

    DESCRIPTION
        Reads every message of the stages named by "input" over durable
        links and appends each, topic and body unchanged, to its own
        journal, in the same transaction that records how far it has read.
        It keeps a persistent count of what it forwarded ("forwarded" in
        STATS), so tests and operators can check that every message
        arrived exactly once. Use it to carry a stage's output to another
        host (input on tcp://), to buffer in front of a slow consumer, or
        as the template for writing a new stage: everything but apply()
        is the shared runtime's.                                          */
#include <stdlib.h>
#include "nd.h"

typedef struct {
    MDB_dbi counters;
    uint64_t forwarded;
} relay_t;

static int s_counter_key (nd_key_t *key)
{
    nd_key_init (key);
    nd_key_str (key, "forwarded");
    return 0;
}

static int s_setup (nd_stage_t *stage, MDB_txn *txn, void **self_p)
{
    (void) stage;
    relay_t *self = calloc (1, sizeof *self);
    nd_key_t key;
    s_counter_key (&key);
    if (!self || nd_db_open (txn, "counters", &self->counters)
    ||  nd_db_get_u64 (txn, self->counters, &key, &self->forwarded) < 0) {
        free (self);
        return -1;
    }
    *self_p = self;
    return 0;
}

static int s_apply (nd_stage_t *stage, void *self_, MDB_txn *txn, const nd_msg_t *msg)
{
    relay_t *self = self_;
    nd_key_t key;
    s_counter_key (&key);
    //  The body goes on as it came, not parsed and written again
    if (nd_emit_extended (stage, txn, msg->topic, msg, NULL)
    ||  nd_db_put_u64 (txn, self->counters, &key, self->forwarded + 1))
        return -1;
    //  The in-memory count may run ahead of a batch that fails to commit;
    //  STATS re-reads nothing, so resync on the next start is enough.
    self->forwarded++;
    return 0;
}

static void s_stats (void *self_, json_t *stats)
{
    relay_t *self = self_;
    json_object_set_new (stats, "forwarded", json_integer ((json_int_t) self->forwarded));
}

static void s_teardown (void **self_p)
{
    free (*self_p);
    *self_p = NULL;
}

int main (int argc, char **argv)
{
    nd_stage_def_t def = {
        .name = "relay",
        .summary = "Forwards the durable output of its inputs, unchanged.",
        .setup = s_setup,
        .apply = s_apply,
        .stats = s_stats,
        .teardown = s_teardown,
        .partitioned = true,    //  it keeps nothing of anyone
    };
    return nd_stage_main (argc, argv, &def);
}
