/*  session.c - visits: when they start, how far they get, how they end.

    Layer: engine: calls shop.c, recommend.c and the store (visitor.c,
    cart.c, due.c, viewed.c).

    A session is one visitor's run of activity (track, page and screen
    events; identify, group and alias only describe the person) with no
    gap as long as session-timeout, in event time. It ends at its last
    activity + session-timeout, and that is the time its outputs carry,
    however late the timer or the next event notices it.

    Open sessions are indexed by expiry (i64 time, visitor id), so timers
    walk only the keys that are due. The entry is written when a session
    starts and is left alone while activity goes on: a timer that finds a
    session whose real expiry (last + timeout) still lies ahead moves the
    entry there instead of ending it. That is one index write per timeout
    period of activity instead of two per event.

    At the end of a session that did not order: cart.abandoned when the
    cart holds something, checkout.abandoned when the visit reached
    checkout or payment, browse.abandoned when it viewed products
    browse-views times and added nothing. Each carries the session id in
    its own id, and the session is gone from the state in the same
    transaction, so none can come twice.                               */
#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include "session.h"
#include "cart.h"
#include "due.h"
#include "recommend.h"
#include "shop.h"
#include "viewed.h"
#include "visitor.h"

static int s_index (sessionizer_t *self, MDB_txn *txn, visitor_t *visitor, int64_t expiry)
{
    nd_key_t key;
    due_key (&key, expiry, visitor->id);
    visitor->session.expiry = expiry;
    return nd_db_put_raw (txn, self->expiry, &key, "", 0);
}

static int s_unindex (sessionizer_t *self, MDB_txn *txn, const visitor_t *visitor)
{
    nd_key_t key;
    due_key (&key, visitor->session.expiry, visitor->id);
    return nd_db_del (txn, self->expiry, &key) < 0 ? -1 : 0;
}

const char *session_id (const visitor_t *visitor)
{
    return visitor->in_session ? visitor->session.id : NULL;
}

//  A body about the session, with a deterministic id: "<session>:<what>".
static json_t *s_body (const visitor_t *visitor, const char *what, int64_t time)
{
    char id [sizeof visitor->session.id + 32];
    snprintf (id, sizeof id, "%s:%s", visitor->session.id, what);
    json_t *body = sessionizer_body (id, visitor->id, time);
    json_object_set_new (body, "session", json_string (visitor->session.id));
    if (visitor->user_id)
        json_object_set_new (body, "userId", json_string (visitor->user_id));
    return body;
}

static void s_set_time (json_t *body, const char *field, int64_t time)
{
    char text [32];
    json_object_set_new (body, field, json_string (nd_time_format (time, text)));
}

//  Where the visit came from and on what, for attribution and the
//  segmenter's funnel (device class, UTM tags in the landing page's URL).
static void s_add_origin (json_t *body, const json_t *context)
{
    json_t *campaign = json_object_get (context, "campaign");
    json_t *page = json_object_get (context, "page");
    json_t *referrer = json_object_get (page, "referrer");
    json_t *url = json_object_get (page, "url");
    json_t *agent = json_object_get (context, "userAgent");
    json_t *device = json_object_get (context, "device");
    if (json_is_object (campaign))
        json_object_set_new (body, "campaign", json_deep_copy (campaign));
    if (json_is_string (referrer) && json_string_length (referrer))
        json_object_set (body, "referrer", referrer);
    if (json_is_string (url) && json_string_length (url))
        json_object_set (body, "url", url);
    if (json_is_string (agent) && json_string_length (agent))
        json_object_set (body, "user_agent", agent);
    if (json_is_object (device))
        json_object_set_new (body, "device", json_deep_copy (device));
}

static int s_start (sessionizer_t *self, MDB_txn *txn, visitor_t *visitor, const event_t *event)
{
    session_t *session = &visitor->session;
    free (session->checkout_id);
    memset (session, 0, sizeof *session);
    visitor->in_session = true;
    visitor->sessions++;
    snprintf (session->id, sizeof session->id, "%s.s%" PRIu64, visitor->id, visitor->sessions);
    session->started = session->last = event->time;
    session->step = STEP_BROWSE;
    if (s_index (self, txn, visitor, event->time + self->timeout))
        return -1;
    json_t *body = s_body (visitor, "started", event->time);
    s_add_origin (body, event->context);
    sessionizer_count (self, COUNT_SESSIONS_STARTED);
    return sessionizer_emit (self, txn, "session.started", body);
}

int session_touch (sessionizer_t *self, MDB_txn *txn, visitor_t *visitor,
                   const event_t *event, bool *started)
{
    session_t *session = &visitor->session;
    if (visitor->in_session && event->time >= session->last + self->timeout)
        if (session_end (self, txn, visitor, session->last + self->timeout, NULL))
            return -1;
    *started = !visitor->in_session;
    if (*started && s_start (self, txn, visitor, event))
        return -1;
    session->events++;
    if (event->type == EVENT_PAGE || event->type == EVENT_SCREEN)
        session->pages++;
    if (event->time > session->last)
        session->last = event->time;
    if (event->time < session->started)
        session->started = event->time;
    return 0;
}

//  What cart.abandoned, checkout.abandoned and browse.abandoned share:
//  who, how to reach them, and how far the visit got.
static json_t *s_abandoned (sessionizer_t *self, MDB_txn *txn, visitor_t *visitor,
                            const char *topic, int64_t end)
{
    json_t *profile = visitor_profile (self, txn, visitor);
    if (!profile)
        return NULL;
    json_t *body = s_body (visitor, topic, end);
    profile_describe (profile, body);
    json_object_set_new (body, "funnel_step", json_string (shop_step_name (visitor->session.step)));
    s_set_time (body, "started", visitor->session.started);
    s_set_time (body, "ended", end);
    return body;
}

//  The products to show with what the visit left behind.
static json_t *s_recommended (sessionizer_t *self, MDB_txn *txn, json_t *body, const json_t *items)
{
    json_t *recommended = body ? recommend (self, txn, items) : NULL;
    if (!recommended) {
        json_decref (body);
        return NULL;
    }
    json_object_set_new (body, "recommended", recommended);
    return body;
}

//  browse.abandoned: the products the visit viewed, and what goes with
//  them; NULL, with nothing left behind, when either cannot be read.
static json_t *s_browsed (sessionizer_t *self, MDB_txn *txn, visitor_t *visitor, int64_t end)
{
    json_t *body = s_abandoned (self, txn, visitor, "browse.abandoned", end);
    json_t *products = body ? shop_viewed (self, txn, visitor->id) : NULL;
    if (!products) {
        json_decref (body);
        return NULL;
    }
    json_object_set_new (body, "products", products);
    json_object_set_new (body, "products_viewed", json_integer (visitor->session.product_views));
    return s_recommended (self, txn, body, products);
}

static int s_emit_abandoned (sessionizer_t *self, MDB_txn *txn, const char *topic, json_t *body,
                             counter_t counter)
{
    if (!body)
        return -1;
    sessionizer_count (self, counter);
    return sessionizer_emit (self, txn, topic, body);
}

static int s_abandonments (sessionizer_t *self, MDB_txn *txn, visitor_t *visitor,
                           nd_cart_t *cart, int64_t end)
{
    const session_t *session = &visitor->session;
    int rc = 0;
    json_t *summary = nd_cart_json (cart);
    const json_t *items = json_object_get (summary, "items");
    if (!nd_cart_is_empty (cart)) {
        json_t *body = s_recommended (self, txn, s_abandoned (self, txn, visitor, "cart.abandoned", end),
                                      items);
        json_object_set_new (body, "cart", nd_cart_json (cart));
        rc = s_emit_abandoned (self, txn, "cart.abandoned", body, COUNT_CARTS_ABANDONED);
    }
    if (rc == 0 && (session->step == STEP_CHECKOUT || session->step == STEP_PAYMENT)) {
        json_t *body = s_recommended (self, txn,
                                      s_abandoned (self, txn, visitor, "checkout.abandoned", end), items);
        json_object_set_new (body, "cart", nd_cart_json (cart));
        if (session->checkout_id)
            json_object_set_new (body, "checkout_id", json_string (session->checkout_id));
        rc = s_emit_abandoned (self, txn, "checkout.abandoned", body, COUNT_CHECKOUTS_ABANDONED);
    }
    if (rc == 0 && session->product_views >= self->browse_views && session->added == 0)
        rc = s_emit_abandoned (self, txn, "browse.abandoned", s_browsed (self, txn, visitor, end),
                               COUNT_BROWSES_ABANDONED);
    json_decref (summary);
    return rc;
}

static int s_announce_end (sessionizer_t *self, MDB_txn *txn, visitor_t *visitor,
                           nd_cart_t *cart, int64_t end, const char *merged_into)
{
    const session_t *session = &visitor->session;
    json_t *body = s_body (visitor, "ended", end);
    s_set_time (body, "started", session->started);
    s_set_time (body, "ended", end);
    json_object_set_new (body, "reason", json_string (merged_into ? "merged" : "timeout"));
    if (merged_into)
        json_object_set_new (body, "merged_into", json_string (merged_into));
    json_object_set_new (body, "events", json_integer (session->events));
    json_object_set_new (body, "pages", json_integer (session->pages));
    json_object_set_new (body, "products_viewed", json_integer (session->product_views));
    json_object_set_new (body, "products_added", json_integer (session->added));
    json_object_set_new (body, "cart_items", json_integer (nd_cart_quantity (cart)));
    json_object_set_new (body, "cart_value", json_real (nd_cart_value (cart)));
    json_object_set_new (body, "funnel_step", json_string (shop_step_name (session->step)));
    json_object_set_new (body, "ordered", json_boolean (session->ordered));
    sessionizer_count (self, COUNT_SESSIONS_ENDED);
    return sessionizer_emit (self, txn, "session.ended", body);
}

//  merged_into: the session ends because its visitor joins that one;
//  the visit goes on there, so nothing was abandoned.
int session_end (sessionizer_t *self, MDB_txn *txn, visitor_t *visitor,
                 int64_t end, const char *merged_into)
{
    if (!visitor->in_session)
        return 0;
    nd_cart_t *cart = visitor_cart (self, txn, visitor);
    if (!cart)
        return -1;
    int rc = s_announce_end (self, txn, visitor, cart, end, merged_into);
    if (rc == 0 && !merged_into && !visitor->session.ordered)
        rc = s_abandonments (self, txn, visitor, cart, end);
    if (rc == 0)
        rc = s_unindex (self, txn, visitor);
    if (rc == 0 && visitor->session.distinct_views > 0)
        rc = shop_viewed_forget (self, txn, visitor->id);
    visitor->in_session = false;
    return rc;
}

//  One person, two open visits (a phone and a laptop): one visit now.
static void s_combine (session_t *kept, const session_t *lost)
{
    kept->events += lost->events;
    kept->pages += lost->pages;
    kept->product_views += lost->product_views;
    kept->added += lost->added;
    kept->ordered = kept->ordered || lost->ordered;
    kept->browsing_announced = kept->browsing_announced || lost->browsing_announced;
    if (lost->views_since_add > kept->views_since_add)
        kept->views_since_add = lost->views_since_add;
    if (lost->step > kept->step)
        kept->step = lost->step;
    if (lost->last > kept->last)
        kept->last = lost->last;
    if (lost->started < kept->started)
        kept->started = lost->started;
    if (!kept->checkout_id && lost->checkout_id)
        kept->checkout_id = strdup (lost->checkout_id);
}

int session_merge (sessionizer_t *self, MDB_txn *txn, visitor_t *survivor, visitor_t *loser,
                   int64_t time)
{
    if (!loser->in_session)
        return 0;
    if (survivor->in_session) {
        s_combine (&survivor->session, &loser->session);
        if (shop_viewed_merge (self, txn, survivor, loser->id))
            return -1;
        return session_end (self, txn, loser, time, survivor->id);
    }
    //  The survivor carries the loser's visit on, under the same id.
    if (s_unindex (self, txn, loser))
        return -1;
    free (survivor->session.checkout_id);
    survivor->session = loser->session;
    survivor->in_session = true;
    survivor->session.distinct_views = 0;
    loser->session.checkout_id = NULL;
    loser->in_session = false;
    return s_index (self, txn, survivor, survivor->session.expiry)
        || shop_viewed_merge (self, txn, survivor, loser->id) ? -1 : 0;
}

//  One due index entry: end the session, or move the entry to the real
//  expiry when activity went on since it was written.
static int s_expire_one (sessionizer_t *self, MDB_txn *txn, const nd_key_t *entry,
                         const char *id, int64_t due, int64_t now)
{
    bool moved;
    visitor_t *visitor = visitor_load (self, txn, id, &moved);
    if (!visitor)
        return -1;
    int rc;
    if (moved || !visitor->in_session || visitor->session.expiry != due)
        rc = nd_db_del (txn, self->expiry, entry) < 0 ? -1 : 0;     //  stale
    else {
        int64_t expiry = visitor->session.last + self->timeout;
        visitor->time = expiry;
        if (expiry > now)
            rc = s_unindex (self, txn, visitor) || s_index (self, txn, visitor, expiry) ? -1 : 0;
        else
            rc = session_end (self, txn, visitor, expiry, NULL);
        if (rc == 0)
            rc = visitor_store (self, txn, visitor);
    }
    visitor_destroy (&visitor);
    return rc;
}

int session_expire (sessionizer_t *self, MDB_txn *txn, int64_t now)
{
    nd_key_t entry;
    char id [VISITOR_ID_MAX];
    int64_t due = 0;
    int rc;
    while ((rc = due_first (txn, self->expiry, "expiry", now, &entry, id, &due)) == 1)
        if (s_expire_one (self, txn, &entry, id, due, now))
            return -1;
    return rc;
}

/* ------------------------------------------------------------- selftest */

void session_test (bool verbose)
{
    if (verbose)
        printf (" * session: ");
    char dir [] = "/tmp/nd-session-test-XXXXXX";
    sessionizer_t self = { .browse_views = 1, .currency = (char *) "EUR" };
    MDB_env *env = sessionizer_test_state (&self, dir);
    MDB_txn *txn;
    assert (mdb_txn_begin (env, NULL, 0, &txn) == 0);
    sessionizer_test_full (txn, &self);

    //  A visit that viewed and added nothing ends in a full state: its
    //  browse.abandoned cannot list the products, and is not left behind
    sessionizer_test_count_json (true);
    int64_t live = sessionizer_test_json_live ();
    visitor_t *visitor = visitor_test_new (&self, "v-1");
    visitor->in_session = true;
    snprintf (visitor->session.id, sizeof visitor->session.id, "v-1.s1");
    visitor->session.product_views = 2;
    visitor->session.step = STEP_PRODUCT;
    assert (s_abandonments (&self, txn, visitor, visitor->cart, 60000) == -1);
    visitor_destroy (&visitor);
    assert (sessionizer_test_json_live () == live);
    sessionizer_test_count_json (false);

    mdb_txn_abort (txn);
    sessionizer_test_state_destroy (&env, dir);
    if (verbose)
        printf ("OK\n");
}
