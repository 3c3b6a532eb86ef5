/*  nd_sender_stage - a sender stage whole, over nd_stage_main; see
    nd_sender.h (nd_sender_main).

    Every sender wired its outbox into the loop the same way: timers,
    source_drain and source_committed passed straight to the outbox, STATS
    began with the outbox's figures and read the channel's in a read-only
    transaction, SIGHUP reloaded the provider's templates, and teardown
    stopped the workers before freeing what they use. That is done here
    once, so a sender's main file holds what is its channel's own, as
    relay.c holds apply().

    The stage's self is an s_stage_t around the channel's self; the
    channel's def reaches setup as the stage def's args (nd_stage_args),
    so nothing here is static.                                           */
#include <stdlib.h>
#include <string.h>
#include "nd_sender.h"

typedef struct {
    nd_stage_t *stage;
    const nd_sender_def_t *def;
    void *channel;              //  the channel's self
    nd_sender_t *sender;        //  its outbox, which this file tears down
} s_stage_t;

static int s_setup (nd_stage_t *stage, MDB_txn *txn, void **self_p)
{
    s_stage_t *self = (s_stage_t *) calloc (1, sizeof *self);
    if (!self)
        return -1;
    *self_p = self;             //  torn down by the runtime even if we fail
    self->stage = stage;
    self->def = (const nd_sender_def_t *) nd_stage_args (stage);
    int rc = self->def->setup (stage, txn, &self->channel, &self->sender);
    return rc == 0 && self->sender ? 0 : -1;
}

//  A click on a link of one of this channel's messages, through the
//  collector's redirect (its token checked there; nd_links.h): the
//  scheduler hears it as feedback.clicked, as from any sender.
static int s_click (nd_stage_t *stage, MDB_txn *txn, const nd_msg_t *msg)
{
    const char *fields [] = { "user", "idempotency_key", "channel", "journey", "step",
                              "variant", NULL };
    json_t *feedback = json_object ();
    for (size_t i = 0; fields [i]; i++)
        if (json_is_string (json_object_get (msg->body, fields [i])))
            json_object_set (feedback, fields [i], json_object_get (msg->body, fields [i]));
    const char *id = json_string_value (json_object_get (msg->body, "id"));
    if (id)
        json_object_set_new (feedback, "id", json_sprintf ("%s#clicked", id));
    int rc = -1;
    if (!json_object_get (feedback, "user") || !json_object_get (feedback, "idempotency_key"))
        nd_stage_reject (stage, msg, "click without user or idempotency_key");
    else
        rc = nd_emit (stage, txn, "feedback.clicked", feedback);
    json_decref (feedback);
    return rc;
}

static int s_apply (nd_stage_t *stage, void *self_, MDB_txn *txn, const nd_msg_t *msg)
{
    s_stage_t *self = (s_stage_t *) self_;
    if (strncmp (msg->topic, "click.", 6) == 0)
        return s_click (stage, txn, msg);
    return self->def->apply (stage, self->channel, txn, msg);
}

static int s_timers (nd_stage_t *stage, void *self_, MDB_txn *txn, int64_t now)
{
    s_stage_t *self = (s_stage_t *) self_;
    return nd_sender_timers (self->sender, txn, now)
        || (self->def->timers && self->def->timers (stage, self->channel, txn, now)) ? -1 : 0;
}

//  The channel's own source first (sms-sender's webhooks), then the
//  workers' results; both run whatever the other did.
static int s_drain (nd_stage_t *stage, void *self_, MDB_txn *txn)
{
    s_stage_t *self = (s_stage_t *) self_;
    int rc = self->def->source_drain ? self->def->source_drain (stage, self->channel, txn) : 0;
    return nd_sender_drain (self->sender, txn) || rc ? -1 : 0;
}

static void s_committed (nd_stage_t *stage, void *self_, int rc)
{
    s_stage_t *self = (s_stage_t *) self_;
    nd_sender_committed (self->sender, rc);
    if (self->def->source_committed)
        self->def->source_committed (stage, self->channel, rc);
}

static int s_reload (nd_stage_t *stage, void *self_, char *what, size_t size)
{
    s_stage_t *self = (s_stage_t *) self_;
    return self->def->reload ? self->def->reload (stage, self->channel, what, size)
                             : nd_sender_reload (self->sender, what, size);
}

static void s_stats (void *self_, json_t *stats)
{
    s_stage_t *self = (s_stage_t *) self_;
    nd_sender_stats (self->sender, stats);
    if (!self->def->stats)
        return;
    MDB_txn *txn;
    if (mdb_txn_begin (nd_stage_env (self->stage), NULL, MDB_RDONLY, &txn))
        txn = NULL;
    self->def->stats (self->channel, txn, stats);
    if (txn)
        mdb_txn_abort (txn);
}

//  The workers before the channel's teardown: they use what the channel
//  made (templates, a composer); what uses the workers' provider before
//  them (stop).
static void s_teardown (void **self_p)
{
    s_stage_t *self = (s_stage_t *) *self_p;
    if (!self)
        return;
    if (self->def->stop && self->channel)
        self->def->stop (self->channel);
    nd_sender_destroy (&self->sender);
    if (self->def->teardown)
        self->def->teardown (&self->channel);
    else
        free (self->channel);
    free (self);
    *self_p = NULL;
}

int nd_sender_main (int argc, char **argv, const nd_sender_def_t *def)
{
    nd_stage_def_t stage = {
        .name = def->name,
        .summary = def->summary,
        .options_help = def->options_help,
        .selftest = def->selftest,
        .args = (void *) def,
        .setup = s_setup,
        .apply = s_apply,
        .timers = s_timers,
        .source_drain = s_drain,
        .source_committed = s_committed,
        .reload = def->reload || def->reloads ? s_reload : NULL,
        .reloads = def->reloads,
        .check = def->check,
        .templates = def->templates,
        .stats = s_stats,
        .teardown = s_teardown,
    };
    return nd_stage_main (argc, argv, &stage);
}
