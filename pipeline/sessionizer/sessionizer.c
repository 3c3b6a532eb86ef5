/*  sessionizer - visitors, their visits and their carts.

    Layer: stage: calls every layer below; nothing calls it.

NAME
    sessionizer - turns a shop's tracked events into visitors, sessions,
    carts and abandonments

SYNOPSIS
    sessionizer [-c FILE] [-n NAME] [--clock wall|event] [--notify-fd N]
    sessionizer --selftest [-v]

DESCRIPTION
    Reads the collector's normalized Segment events (event.track,
    event.identify, event.page, event.screen, event.group, event.alias)
    and keeps, in its own LMDB state:

      the identity graph: every anonymousId and userId leads to one
      visitor ("v-1", "v-2", ...); identify, alias and any event carrying
      both ids join them, and two visitors found to be one person are
      merged into the one that holds the userId;

      the profile: traits from identify (and from the context of each
      session's first event), announced as profile.updated;

      sessions: a run of track/page/screen activity without a gap of
      session-timeout (event time); session.started, session.ended;

      the cart, from Product Added / Product Removed / Cart Viewed /
      Checkout Started, emptied by Order Completed; cart.updated;

      the furthest funnel step of each session: browse < product < cart
      < checkout < payment < order.

    When a session ends without an order it emits cart.abandoned (the
    cart is not empty), checkout.abandoned (it reached checkout or
    payment) and browse.abandoned (browse-views product views, nothing
    added): at most one of each per session.

    While a session goes on, cart.browsing: the visitor added to the cart
    and then viewed cart-browsing-views more products, with the cart not
    empty and no checkout begun; at most once a session. Its body has
    the cart and "goes_with", products other shoppers bought with the
    cart's items (together.c). cart.returned: a new session began and
    the cart of an earlier one is still full (not ordered). Both carry
    the person's last five anonymousIds, for on-site messages. Order Completed emits
    order.completed. Every input event is forwarded on its own topic
    with "user" set to the visitor id and "visitor", "session" added.

    An event that came through a browser's public write key ("via":
    "browser") cannot set email, phone or their consent: a new address
    is announced as contact.claimed for the scheduler to confirm (claim.c).

    The catalogue (catalogue.c): products from Segment's product
    properties, from the shop's feed (catalogue.product, posted to the
    collector's /v1/catalogue) and from catalogue-file at start, with
    their price and stock history. Triggers carry "recommended", products
    that go with the cart, order or product (recommend.c). A viewed or
    carted product back in stock, or its price down by price-drop, makes
    product.back_in_stock / product.price_dropped for each person who saw
    it within watch-for, once, unless they bought it (alerts.c).

    person.erase (the collector's /v1/erase) deletes everything kept for
    the visitor and emits person.erased (erase.c).

    An anonymous visitor (no userId, no contact trait) idle for
    visitor-retention is forgotten with everything kept for them, and
    visitor.forgotten emitted (retention.c).

    Options, in its section of the pipeline file: session-timeout (30m),
    browse-views (3), cart-browsing-views (3), currency (USD, for carts whose events name none),
    visitor-retention (180d; 0 or none keeps every visitor), price-drop
    (10%), watch-for (30d), catalogue-file (none), phone-region (none;
    ISO 3166 alpha-2 such as PL: the country of phone numbers written
    without a country code, which are made E.164 as they enter, phone.c).
    See sessionizer(1) for the message bodies.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "alerts.h"
#include "cart.h"
#include "catalogue.h"
#include "claim.h"
#include "due.h"
#include "erase.h"
#include "identity.h"
#include "move.h"
#include "seed.h"
#include "together.h"
#include "move_test.h"
#include "nd_json.h"
#include "nd_phone.h"
#include "phone.h"
#include "profile.h"
#include "retention.h"
#include "session.h"
#include "shop.h"
#include "visitor.h"

static const char *s_counter_names [COUNT_MAX] = {
    "applied", "forwarded", "visitors_created", "visitors_merged",
    "sessions_started", "sessions_ended", "carts_updated",
    "carts_abandoned", "checkouts_abandoned", "browses_abandoned",
    "orders", "profiles_updated", "visitors_forgotten", "contacts_claimed", "carts_browsing",
    "carts_returned", "visitors_erased", "products_updated", "back_in_stock", "price_dropped",
    "phones_normalised", "phones_invalid", "visitor_stamp_mismatch"
};

/* ------------------------------------------------------------ counters */

static void s_counters_key (nd_key_t *key)
{
    nd_key_init (key);
    nd_key_str (key, "counters");
}

static void s_counters_read (MDB_txn *txn, MDB_dbi dbi, uint64_t *counters)
{
    memset (counters, 0, COUNT_MAX * sizeof *counters);
    nd_key_t key;
    s_counters_key (&key);
    MDB_val k = nd_key_val (&key), v;
    if (mdb_get (txn, dbi, &k, &v) == 0)
        memcpy (counters, v.mv_data, v.mv_size < COUNT_MAX * sizeof *counters
                                     ? v.mv_size : COUNT_MAX * sizeof *counters);
}

//  The counts live in LMDB, committed with what they count, so STATS
//  "applied" is exact across crashes and restarts.
static int s_counters_flush (sessionizer_t *self, MDB_txn *txn, bool keep)
{
    uint64_t counters [COUNT_MAX];
    bool any = false;
    for (int i = 0; i < COUNT_MAX; i++)
        any = any || self->delta [i];
    int rc = 0;
    if (keep && any) {
        s_counters_read (txn, self->counters, counters);
        for (int i = 0; i < COUNT_MAX; i++)
            counters [i] += self->delta [i];
        nd_key_t key;
        s_counters_key (&key);
        rc = nd_db_put_raw (txn, self->counters, &key, counters, sizeof counters);
    }
    memset (self->delta, 0, sizeof self->delta);
    return rc;
}

/* --------------------------------------------------------------- input */

static const char *s_type_names [] = {
    "track", "page", "screen", "identify", "group", "alias", NULL
};


static const char *s_event_read (sessionizer_t *self, const nd_msg_t *msg, event_t *event)
{
    memset (event, 0, sizeof *event);
    event->msg = msg;
    json_t *body = msg->body;
    const char *type = json_string_value (json_object_get (body, "type"));
    if (!type && strncmp (msg->topic, "event.", 6) == 0)
        type = msg->topic + 6;
    int i = 0;
    while (type && s_type_names [i] && strcmp (s_type_names [i], type))
        i++;
    if (!type || !s_type_names [i])
        return "not a Segment event type";
    event->type = (event_type_t) i;
    event->user_id = nd_json_segment_id (json_object_get (body, "userId"), event->number [0], sizeof event->number [0]);
    event->anonymous_id = nd_json_segment_id (json_object_get (body, event->type == EVENT_ALIAS ? "previousId" : "anonymousId"),
                                event->number [1], sizeof event->number [1]);
    if (event->type == EVENT_ALIAS && (!event->user_id || !event->anonymous_id))
        return "alias without previousId and userId";
    if (!event->user_id && !event->anonymous_id)
        return "neither userId nor anonymousId";
    if ((event->user_id && strlen (event->user_id) > SHOP_ID_MAX)
    ||  (event->anonymous_id && strlen (event->anonymous_id) > SHOP_ID_MAX))
        return "userId or anonymousId longer than 400 bytes";
    event->name = json_string_value (json_object_get (body, "event"));
    if (event->type == EVENT_TRACK && (!event->name || !*event->name))
        return "track without an event name";
    event->properties = json_object_get (body, "properties");
    event->traits = json_object_get (body, "traits");
    event->context = json_object_get (body, "context");
    const char *via = json_string_value (json_object_get (body, "via"));
    event->browser = via && strcmp (via, "browser") == 0;
    event->time = msg->time ? msg->time : nd_stage_now (self->stage);
    return NULL;
}

//  Downstream stages see the event as the shop sent it, about the
//  visitor rather than whichever id the SDK knew at the time.
static int s_forward (sessionizer_t *self, MDB_txn *txn, const event_t *event, visitor_t *visitor)
{
    json_t *body = json_copy (event->msg->body);
    if (!body)
        return -1;
    //  A browser's contact details go on as contact.claimed, not here
    if (event->browser && json_is_object (event->traits)) {
        json_t *traits = json_deep_copy (event->traits);
        claim_strip (traits);
        json_object_set_new (body, "traits", traits);
    }
    json_t *context = json_object_get (body, "context");
    if (event->browser && json_is_object (json_object_get (context, "traits"))) {
        context = json_deep_copy (context);
        claim_strip (json_object_get (context, "traits"));
        json_object_set_new (body, "context", context);
    }
    json_object_set_new (body, "user", json_string (visitor->id));
    json_object_set_new (body, "visitor", json_string (visitor->id));
    const char *session = session_id (visitor);
    if (session)
        json_object_set_new (body, "session", json_string (session));
    sessionizer_count (self, COUNT_FORWARDED);
    return sessionizer_emit (self, txn, event->msg->topic, body);
}

static int s_apply_event (sessionizer_t *self, MDB_txn *txn, const event_t *event, visitor_t *visitor)
{
    bool started = false;
    visitor->time = event->time;
    if (event->type == EVENT_TRACK || event->type == EVENT_PAGE || event->type == EVENT_SCREEN)
        if (session_touch (self, txn, visitor, event, &started))
            return -1;
    visitor_seen (visitor, event->time);
    if (s_forward (self, txn, event, visitor)
    ||  profile_update (self, txn, visitor, event, started))
        return -1;
    if (started && visitor->sessions > 1 && shop_returned (self, txn, visitor, event))
        return -1;
    if (event->type == EVENT_TRACK && shop_apply (self, txn, visitor, event))
        return -1;
    return visitor_store (self, txn, visitor);
}

/* ----------------------------------------------------- stage callbacks */

static int s_apply (nd_stage_t *stage, void *self_, MDB_txn *txn, const nd_msg_t *msg)
{
    sessionizer_t *self = (sessionizer_t *) self_;
    if (strcmp (msg->topic, "person.erase") == 0) {
        int rc = erase_apply (self, txn, msg);
        return s_counters_flush (self, txn, rc == 0) || rc ? -1 : 0;
    }
    //  What another partition learned from an order (shop.c)
    if (strcmp (msg->topic, "order.learned") == 0) {
        int rc = nd_stage_is_sibling (stage, msg->link)
               ? together_order (self, txn, json_object_get (msg->body, "items")) : 0;
        return s_counters_flush (self, txn, rc == 0) || rc ? -1 : 0;
    }
    if (strcmp (msg->topic, "catalogue.product") == 0) {
        int rc = alerts_feed_apply (self, txn, msg);
        return s_counters_flush (self, txn, rc == 0) || rc ? -1 : 0;
    }
    event_t event;
    const char *reason = s_event_read (self, msg, &event);
    if (reason) {
        nd_stage_reject (stage, msg, reason);
        return -1;
    }
    visitor_t *visitor = identity_resolve (self, txn, &event);
    int rc = visitor ? s_apply_event (self, txn, &event, visitor) : -1;
    visitor_destroy (&visitor);
    if (rc == 0)
        sessionizer_count (self, COUNT_APPLIED);
    return s_counters_flush (self, txn, rc == 0) || rc ? -1 : 0;
}

static int s_timers (nd_stage_t *stage, void *self_, MDB_txn *txn, int64_t now)
{
    (void) stage;
    sessionizer_t *self = (sessionizer_t *) self_;
    int rc = session_expire (self, txn, now);
    if (rc == 0)
        rc = retention_expire (self, txn, now);
    return s_counters_flush (self, txn, rc == 0) || rc ? -1 : 0;
}

static void s_stats (void *self_, json_t *stats)
{
    sessionizer_t *self = (sessionizer_t *) self_;
    MDB_txn *txn;
    if (mdb_txn_begin (nd_stage_env (self->stage), NULL, MDB_RDONLY, &txn))
        return;
    uint64_t counters [COUNT_MAX];
    s_counters_read (txn, self->counters, counters);
    for (int i = 0; i < COUNT_MAX; i++)
        json_object_set_new (stats, s_counter_names [i], json_integer ((json_int_t) counters [i]));
    json_object_set_new (stats, "visitors", json_integer (
        (json_int_t) (counters [COUNT_VISITORS] - counters [COUNT_MERGES]
                      - counters [COUNT_VISITORS_FORGOTTEN] - counters [COUNT_VISITORS_ERASED])));
    MDB_stat stat;
    if (mdb_stat (txn, self->expiry, &stat) == 0)
        json_object_set_new (stats, "sessions_open", json_integer ((json_int_t) stat.ms_entries));
    if (mdb_stat (txn, self->carts, &stat) == 0)
        json_object_set_new (stats, "carts_open", json_integer ((json_int_t) stat.ms_entries));
    if (mdb_stat (txn, self->idle, &stat) == 0)
        json_object_set_new (stats, "visitors_idle_indexed", json_integer ((json_int_t) stat.ms_entries));
    mdb_txn_abort (txn);
}

static void s_committed (nd_stage_t *stage, void *self_, int rc)
{
    (void) stage;
    retention_committed ((sessionizer_t *) self_, rc);
}

static void s_teardown (void **self_p)
{
    sessionizer_t *self = (sessionizer_t *) *self_p;
    if (self) {
        free (self->currency);
        free (self->phone_region);
        nd_jcache_destroy (&self->parsed);
        free (self);
        *self_p = NULL;
    }
}

//  price-drop: "10%" (a share of the price seen, above 0 and below 100 %).
static int s_catalogue_options (sessionizer_t *self)
{
    nd_stage_t *stage = self->stage;
    const char *share = nd_stage_option (stage, "price-drop", "10%");
    char *end = NULL;
    double percent = share ? strtod (share, &end) : 0;
    if (!share || end == share || strcmp (end, "%") || !(percent > 0 && percent < 100))
        return nd_stage_config_error (stage, "price-drop", "not a share such as 10%");
    self->price_drop = percent / 100;
    if (nd_stage_option_duration (stage, "watch-for", "30d", &self->watch_for))
        return -1;
    if (self->watch_for < 1000)
        return nd_stage_config_error (stage, "watch-for", "must be at least 1s");
    const char *file = nd_stage_option (stage, "catalogue-file", NULL);
    if (file && access (file, R_OK))
        return nd_stage_config_error (stage, "catalogue-file", "cannot be read");
    return 0;
}

static int s_options (sessionizer_t *self)
{
    nd_stage_t *stage = self->stage;
    if (nd_stage_option_duration (stage, "session-timeout", "30m", &self->timeout)
    ||  nd_stage_option_int (stage, "browse-views", "3", &self->browse_views)
    ||  nd_stage_option_int (stage, "cart-browsing-views", "3", &self->cart_browsing_views))
        return -1;
    if (self->timeout < 1000)
        return nd_stage_config_error (stage, "session-timeout", "must be at least 1s");
    //  "none" or 0: keep every visitor, as before there was a retention.
    const char *retention = nd_stage_option (stage, "visitor-retention", "180d");
    if (retention && strcmp (retention, "none") == 0)
        self->retention = 0;
    else
    if (nd_stage_option_duration (stage, "visitor-retention", "180d", &self->retention))
        return -1;
    if (self->retention && self->retention < self->timeout)
        return nd_stage_config_error (stage, "visitor-retention",
                                      "must be 0 (none) or at least the session-timeout");
    self->retention_slack = retention_slack (self->retention);
    if (self->browse_views < 1)
        return nd_stage_config_error (stage, "browse-views", "must be at least 1");
    if (self->cart_browsing_views < 1)
        return nd_stage_config_error (stage, "cart-browsing-views", "must be at least 1");
    const char *currency = nd_stage_option (stage, "currency", "USD");
    if (!currency || strlen (currency) != 3)
        return nd_stage_config_error (stage, "currency", "not an ISO 4217 code such as EUR");
    self->currency = strdup (currency);
    //  None: only numbers written with their country code are taken
    const char *region = nd_stage_option (stage, "phone-region", NULL);
    if (region && !nd_phone_region (region))
        return nd_stage_config_error (stage, "phone-region",
                                      "not an ISO 3166 alpha-2 region such as PL or DE");
    self->phone_region = region ? strdup (region) : NULL;
    return s_catalogue_options (self);
}

static int s_setup (nd_stage_t *stage, MDB_txn *txn, void **self_p)
{
    sessionizer_t *self = (sessionizer_t *) calloc (1, sizeof *self);
    if (!self)
        return -1;
    self->stage = stage;
    *self_p = self;
    //  The products people view this hour and what goes with them, not all
    self->parsed = nd_jcache_new (4096);
    if (!self->parsed || s_options (self) || sessionizer_open_state (self, txn)) {
        s_teardown (self_p);
        return -1;
    }
    const char *file = nd_stage_option (stage, "catalogue-file", NULL);
    if (file && alerts_load_file (self, txn, file)) {
        s_teardown (self_p);
        return -1;
    }
    nd_log ("sessions end after %lld s without activity; %lld product views make a browse",
            (long long) (self->timeout / 1000), (long long) self->browse_views);
    if (self->retention)
        nd_log ("anonymous visitors are forgotten %lld s after their last activity",
                (long long) (self->retention / 1000));
    else
        nd_log ("visitor-retention is none: every visitor is kept");
    return 0;
}

//  --check: the options as setup reads them, and the catalogue-file's
//  format (its bad lines are logged; setup would skip them too).
static int s_check (nd_stage_t *stage)
{
    sessionizer_t *self = (sessionizer_t *) calloc (1, sizeof *self);
    if (!self)
        return -1;
    self->stage = stage;
    int rc = s_options (self);
    const char *file = rc == 0 ? nd_stage_option (stage, "catalogue-file", NULL) : NULL;
    if (file && alerts_check_file (file))
        rc = nd_stage_config_error (stage, "catalogue-file", "not a product feed (see the log)");
    void *self_ = self;
    s_teardown (&self_);
    return rc;
}

/* ---------------------------------------------------------------- main */

static void s_selftest (bool verbose)
{
    nd_cart_test (verbose);
    catalogue_test (verbose);
    session_test (verbose);
    identity_test (verbose);
    profile_test (verbose);
    phone_test (verbose);
    sessionizer_person_test (verbose);
}

//  Partitions (nd_moves.c): a visitor's rows leave with it and arrive as
//  they were (move.c).
static int s_person_export (nd_stage_t *stage, void *self, MDB_txn *txn, const char *person,
                            json_t **state)
{
    (void) stage;
    return sessionizer_person_export ((sessionizer_t *) self, txn, person, state);
}

static int s_person_each (nd_stage_t *stage, void *self, MDB_txn *txn,
                          int (*fn) (const char *person, void *arg), void *arg)
{
    (void) stage;
    return sessionizer_person_each ((sessionizer_t *) self, txn, fn, arg);
}

static int s_person_import (nd_stage_t *stage, void *self, MDB_txn *txn, const json_t *state)
{
    (void) stage;
    return sessionizer_person_import ((sessionizer_t *) self, txn, state);
}

static int s_partition_new (nd_stage_t *stage, void *self, MDB_txn *txn)
{
    (void) stage;
    return catalogue_watchers_clear ((sessionizer_t *) self, txn);
}

//  Every partition keeps the whole catalogue (products are no one's)
static const char *s_shared [] = { "products", NULL };

static int s_seed_write (nd_stage_t *stage, void *self, MDB_txn *txn, FILE *out)
{
    (void) stage;
    return sessionizer_seed_write ((sessionizer_t *) self, txn, out);
}

int main (int argc, char **argv)
{
    nd_stage_def_t def = {
        .name = "sessionizer",
        .summary = "Turns a shop's tracked events into visitors, sessions, carts and abandonments.",
        .selftest = s_selftest,
        .check = s_check,
        .setup = s_setup,
        .apply = s_apply,
        .timers = s_timers,
        .source_committed = s_committed,
        .stats = s_stats,
        .teardown = s_teardown,
        .person_export = s_person_export,
        .person_import = s_person_import,
        .person_each = s_person_each,
        .shared_tables = s_shared,
        .partition_new = s_partition_new,
        .seed_write = s_seed_write,
        .partitioned = true,
    };
    return nd_stage_main (argc, argv, &def);
}
