/*  onsite - on-site messages: a banner or a card on the shop's own page.

NAME
    onsite - keep the scheduler's on-site messages for each visitor and
    serve them to the shop's page

SYNOPSIS
    onsite [--config FILE] [--name NAME] [--clock wall|event]
           [--notify-fd N]
    onsite --selftest

DESCRIPTION
    Reads the scheduler's send orders on topic send.onsite. An order's
    "to" is the person's recent anonymous ids (random, unguessable, kept
    by the browser): a message is addressed to those and is never served
    by userId. Each order is rendered at once from the step's templates
    (<templates>/<template>/<locale>/onsite.{title,body,url,image,kind,
    products}.mustache; onsite_render.c) and kept in this stage's LMDB
    under its message id, an order repeated being the same message
    (onsite_store.c).

    The page asks for its messages by long poll and reports what it did
    with them (onsite_http.c):

        GET  /onsite/poll?visitor=<anonymousId>[&wait=25]
             {"messages": [{"id", "kind": "banner"|"card", "title",
              "body", "url", "image", "products": [{"name", "url",
              "image_url", "price", "currency"}], "expires"}]}
        POST /onsite/event {"id", "visitor", "action": "shown"|"clicked"
             |"dismissed"}

    A message shown (or clicked, or dismissed) is not served again; one
    past its expiry - lifetime after the order, or the order's not_after
    if sooner - never. Reports become feedback for the scheduler, in the
    transaction that records them: feedback.delivered when first shown,
    feedback.clicked, feedback.dismissed; an unseen message that expires
    gives feedback.expired; an order whose template is missing,
    feedback.failed. Every body has "id", "user", "time",
    "idempotency_key", "channel": "onsite", "journey", "instance",
    "step", "variant".

    Options (its section of the pipeline file; defaults in brackets):
    input, topics (send.onsite), http [127.0.0.1:8060], allow-origin [*],
    max-connections [4096], max-connections-per-ip [64], threads [4],
    templates [conf/templates], locale [en], lifetime [3d]. STATS adds
    "messages" (orders, duplicates, failed, shown, clicked, dismissed,
    expired, kept, waiting) and "http". See onsite(1).                  */
#include "onsite.h"

typedef struct {
    nd_stage_t *stage;
    nd_templates_t *templates;
    nd_inbox_t *inbox;
    onsite_store_t *store;
    onsite_http_t *http;
    bool reported;              //  reports applied in this transaction
} onsite_t;

static void s_teardown (void **self_p)
{
    onsite_t *self = (onsite_t *) *self_p;
    if (!self)
        return;
    if (self->inbox)
        nd_inbox_close (self->inbox);
    onsite_http_destroy (&self->http);
    onsite_store_destroy (&self->store);
    nd_inbox_destroy (&self->inbox);
    nd_templates_destroy (&self->templates);
    free (self);
    *self_p = NULL;
}

static int s_setup (nd_stage_t *stage, MDB_txn *txn, void **self_p)
{
    onsite_t *self = (onsite_t *) zmalloc (sizeof *self);
    *self_p = self;             //  torn down by the runtime even if we fail
    self->stage = stage;
    int64_t lifetime;
    if (nd_stage_option_duration (stage, "lifetime", "3d", &lifetime))
        return -1;
    if (lifetime < 1000)
        return nd_stage_config_error (stage, "lifetime", "must be at least 1s");
    char reason [300];
    self->templates = nd_templates_new (nd_stage_option (stage, "templates", "conf/templates"),
        "onsite", nd_stage_option (stage, "locale", "en"), reason, sizeof reason);
    if (!self->templates)
        return nd_stage_config_error (stage, "templates", reason);
    self->inbox = nd_inbox_new (stage, sizeof (onsite_report_t), NULL);
    self->store = onsite_store_new (stage, txn, self->templates, lifetime);
    if (!self->store)
        return -1;
    self->http = onsite_http_new (stage, self->inbox, self->store);
    if (!self->http)
        return -1;
    nd_log ("%zu on-site templates; messages live %lld s at most", nd_templates_size (self->templates),
            (long long) (lifetime / 1000));
    return 0;
}

static int s_apply (nd_stage_t *stage, void *self_, MDB_txn *txn, const nd_msg_t *msg)
{
    onsite_t *self = (onsite_t *) self_;
    const char *user = json_string_value (json_object_get (msg->body, "user"));
    if (streq (msg->topic, "person.erased"))
        return !user || onsite_erase (txn, user) == 0 ? 0 : -1;
    if (!streq (msg->topic, "send.onsite")) {
        nd_stage_reject (stage, msg, "not a send.onsite order");
        return -1;
    }
    return onsite_store_order (self->store, txn, msg);
}

static int s_drain (nd_stage_t *stage, void *self_, MDB_txn *txn)
{
    (void) stage;
    onsite_t *self = (onsite_t *) self_;
    self->reported = nd_inbox_waiting (self->inbox) > 0 || self->reported;
    return nd_inbox_drain (self->inbox, txn, onsite_store_report, self->store);
}

static void s_committed (nd_stage_t *stage, void *self_, int rc)
{
    (void) stage;
    onsite_t *self = (onsite_t *) self_;
    zlistx_t *touched = onsite_store_committed (self->store, rc);
    nd_inbox_committed (self->inbox, rc, touched || self->reported);
    onsite_http_wake (self->http, touched);
    zlistx_destroy (&touched);
    self->reported = false;
}

static int s_timers (nd_stage_t *stage, void *self_, MDB_txn *txn, int64_t now)
{
    (void) stage;
    return onsite_store_expire (((onsite_t *) self_)->store, txn, now);
}

//  Orders render in this thread, at order time: the next order after a
//  reload uses the new set; messages already stored keep their text.
static int s_reload (nd_stage_t *stage, void *self_, char *what, size_t size)
{
    (void) stage;
    return nd_templates_reload (((onsite_t *) self_)->templates, what, size);
}

static void s_stats (void *self_, json_t *stats)
{
    onsite_t *self = (onsite_t *) self_;
    onsite_store_stats (self->store, stats);
    onsite_http_stats (self->http, stats);
}

static void s_selftest (bool verbose)
{
    onsite_render_test (verbose);
    nd_templates_test (verbose);
}

int main (int argc, char **argv)
{
    nd_stage_def_t def = {
        .name = "onsite",
        .summary = "Keeps the scheduler's on-site messages per visitor and serves them "
                   "to the shop's page (long poll).",
        .selftest = s_selftest,
        .setup = s_setup,
        .apply = s_apply,
        .timers = s_timers,
        .source_drain = s_drain,
        .source_committed = s_committed,
        .reload = s_reload,
        .reloads = "templates",
        .templates = "onsite",
        .stats = s_stats,
        .teardown = s_teardown,
    };
    return nd_stage_main (argc, argv, &def);
}
