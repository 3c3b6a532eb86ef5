/*  session.c - visits: when they start, how far they get, how they end.

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
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include "sessionizer.h"

static void s_expiry_key (nd_key_t *key, int64_t expiry, const char *visitor)
{
    nd_key_init (key);
    nd_key_i64 (key, expiry);
    nd_key_str (key, visitor);
}

static int s_index (sessionizer_t *self, MDB_txn *txn, json_t *session, const char *visitor,
                    int64_t expiry)
{
    nd_key_t key;
    s_expiry_key (&key, expiry, visitor);
    json_object_set_new (session, "expiry", json_integer (expiry));
    return nd_db_put_raw (txn, self->expiry, &key, "", 0);
}

static int s_unindex (sessionizer_t *self, MDB_txn *txn, const json_t *session, const char *visitor)
{
    nd_key_t key;
    s_expiry_key (&key, record_int (session, "expiry"), visitor);
    return nd_db_del (txn, self->expiry, &key) < 0 ? -1 : 0;
}

const char *session_id (const visitor_t *visitor)
{
    return json_string_value (json_object_get (json_object_get (visitor->record, "session"), "id"));
}

//  A body about the session, with a deterministic id: "<session>:<what>".
static json_t *s_body (const visitor_t *visitor, const json_t *session_record, const char *what,
                       int64_t time)
{
    const char *session = json_string_value (json_object_get (session_record, "id"));
    char id [VISITOR_ID_MAX + 64];
    snprintf (id, sizeof id, "%s:%s", session, what);
    json_t *body = sessionizer_body (id, visitor->id, time);
    json_object_set_new (body, "session", json_string (session));
    const char *user_id = visitor_user_id (visitor);
    if (user_id)
        json_object_set_new (body, "userId", json_string (user_id));
    return body;
}

static void s_set_time (json_t *body, const char *field, int64_t time)
{
    char text [32];
    json_object_set_new (body, field, json_string (nd_time_format (time, text)));
}

//  Where the visit came from, for attribution downstream.
static void s_add_origin (json_t *body, const json_t *context)
{
    json_t *campaign = json_object_get (context, "campaign");
    json_t *referrer = json_object_get (json_object_get (context, "page"), "referrer");
    if (json_is_object (campaign))
        json_object_set_new (body, "campaign", json_deep_copy (campaign));
    if (json_is_string (referrer) && json_string_length (referrer))
        json_object_set (body, "referrer", referrer);
}

static json_t *s_start (sessionizer_t *self, MDB_txn *txn, visitor_t *visitor, const event_t *event)
{
    char id [VISITOR_ID_MAX + 24];
    record_add (visitor->record, "sessions", 1);
    snprintf (id, sizeof id, "%s.s%" PRId64, visitor->id, record_int (visitor->record, "sessions"));
    json_t *session = json_pack ("{s:s, s:I, s:I, s:i, s:i, s:i, s:i, s:i, s:b}",
        "id", id, "started", (json_int_t) event->time, "last", (json_int_t) event->time,
        "events", 0, "pages", 0, "product_views", 0, "added", 0, "step", STEP_BROWSE,
        "ordered", 0);
    json_object_set_new (visitor->record, "session", session);
    if (s_index (self, txn, session, visitor->id, event->time + self->timeout))
        return NULL;
    json_t *body = s_body (visitor, session, "started", event->time);
    s_add_origin (body, event->context);
    sessionizer_count (self, COUNT_SESSIONS_STARTED);
    return sessionizer_emit (self, txn, "session.started", body) ? NULL : session;
}

int session_touch (sessionizer_t *self, MDB_txn *txn, visitor_t *visitor,
                   const event_t *event, bool *started)
{
    json_t *session = json_object_get (visitor->record, "session");
    if (session) {
        int64_t expiry = record_int (session, "last") + self->timeout;
        if (event->time >= expiry) {
            if (session_end (self, txn, visitor, expiry, NULL))
                return -1;
            session = NULL;
        }
    }
    *started = !session;
    if (!session && !(session = s_start (self, txn, visitor, event)))
        return -1;
    record_add (session, "events", 1);
    if (event->type == EVENT_PAGE || event->type == EVENT_SCREEN)
        record_add (session, "pages", 1);
    if (event->time > record_int (session, "last"))
        json_object_set_new (session, "last", json_integer (event->time));
    if (event->time < record_int (session, "started"))
        json_object_set_new (session, "started", json_integer (event->time));
    return 0;
}

//  What cart.abandoned, checkout.abandoned and browse.abandoned share:
//  who, how to reach them, and how far the visit got.
static json_t *s_abandoned (sessionizer_t *self, MDB_txn *txn, visitor_t *visitor,
                            const json_t *session, const char *topic, int64_t end)
{
    json_t *profile = visitor_profile (self, txn, visitor);
    if (!profile)
        return NULL;
    json_t *body = s_body (visitor, session, topic, end);
    profile_describe (profile, body);
    json_object_set_new (body, "funnel_step", json_string (shop_step_name (record_int (session, "step"))));
    s_set_time (body, "started", record_int (session, "started"));
    s_set_time (body, "ended", end);
    return body;
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
                           const json_t *session, nd_cart_t *cart, int64_t end)
{
    int64_t step = record_int (session, "step");
    int rc = 0;
    if (!nd_cart_is_empty (cart)) {
        json_t *body = s_abandoned (self, txn, visitor, session, "cart.abandoned", end);
        json_object_set_new (body, "cart", nd_cart_json (cart));
        rc = s_emit_abandoned (self, txn, "cart.abandoned", body, COUNT_CARTS_ABANDONED);
    }
    if (rc == 0 && (step == STEP_CHECKOUT || step == STEP_PAYMENT)) {
        json_t *body = s_abandoned (self, txn, visitor, session, "checkout.abandoned", end);
        json_object_set_new (body, "cart", nd_cart_json (cart));
        json_t *checkout = json_object_get (session, "checkout_id");
        if (checkout)
            json_object_set (body, "checkout_id", checkout);
        rc = s_emit_abandoned (self, txn, "checkout.abandoned", body, COUNT_CHECKOUTS_ABANDONED);
    }
    int64_t views = record_int (session, "product_views");
    if (rc == 0 && views >= self->browse_views && record_int (session, "added") == 0) {
        json_t *body = s_abandoned (self, txn, visitor, session, "browse.abandoned", end);
        json_t *products = shop_viewed (self, txn, visitor->id);
        json_object_set_new (body, "products", products);
        json_object_set_new (body, "products_viewed", json_integer (views));
        rc = products ? s_emit_abandoned (self, txn, "browse.abandoned", body, COUNT_BROWSES_ABANDONED)
                      : -1;
    }
    return rc;
}

static int s_announce_end (sessionizer_t *self, MDB_txn *txn, visitor_t *visitor,
                           const json_t *session, nd_cart_t *cart, int64_t end,
                           const char *merged_into)
{
    json_t *body = s_body (visitor, session, "ended", end);
    s_set_time (body, "started", record_int (session, "started"));
    s_set_time (body, "ended", end);
    json_object_set_new (body, "reason", json_string (merged_into ? "merged" : "timeout"));
    if (merged_into)
        json_object_set_new (body, "merged_into", json_string (merged_into));
    json_object_set_new (body, "events", json_integer (record_int (session, "events")));
    json_object_set_new (body, "pages", json_integer (record_int (session, "pages")));
    json_object_set_new (body, "products_viewed", json_integer (record_int (session, "product_views")));
    json_object_set_new (body, "products_added", json_integer (record_int (session, "added")));
    json_object_set_new (body, "cart_items", json_integer (nd_cart_quantity (cart)));
    json_object_set_new (body, "cart_value", json_real (nd_cart_value (cart)));
    json_object_set_new (body, "funnel_step", json_string (shop_step_name (record_int (session, "step"))));
    json_object_set (body, "ordered", json_object_get (session, "ordered"));
    sessionizer_count (self, COUNT_SESSIONS_ENDED);
    return sessionizer_emit (self, txn, "session.ended", body);
}

//  merged_into: the session ends because its visitor joins that one;
//  the visit goes on there, so nothing was abandoned.
int session_end (sessionizer_t *self, MDB_txn *txn, visitor_t *visitor,
                 int64_t end, const char *merged_into)
{
    json_t *session = json_object_get (visitor->record, "session");
    if (!session)
        return 0;
    nd_cart_t *cart = visitor_cart (self, txn, visitor);
    if (!cart)
        return -1;
    nd_key_t key;
    visitor_key (&key, visitor->id);
    bool ordered = json_is_true (json_object_get (session, "ordered"));
    int rc = s_announce_end (self, txn, visitor, session, cart, end, merged_into);
    if (rc == 0 && !merged_into && !ordered)
        rc = s_abandonments (self, txn, visitor, session, cart, end);
    if (rc == 0)
        rc = s_unindex (self, txn, session, visitor->id);
    if (rc == 0 && record_int (session, "product_views") > 0)
        rc = nd_db_del (txn, self->viewed, &key) < 0 ? -1 : 0;
    json_object_del (visitor->record, "session");
    return rc;
}

//  One person, two open visits (a phone and a laptop): one visit now.
static void s_combine (json_t *kept, const json_t *lost)
{
    const char *sums [] = { "events", "pages", "product_views", "added", NULL };
    for (int i = 0; sums [i]; i++)
        record_add (kept, sums [i], record_int (lost, sums [i]));
    if (record_int (lost, "step") > record_int (kept, "step"))
        json_object_set (kept, "step", json_object_get (lost, "step"));
    if (record_int (lost, "last") > record_int (kept, "last"))
        json_object_set (kept, "last", json_object_get (lost, "last"));
    if (record_int (lost, "started") < record_int (kept, "started"))
        json_object_set (kept, "started", json_object_get (lost, "started"));
    if (json_is_true (json_object_get (lost, "ordered")))
        json_object_set_new (kept, "ordered", json_true ());
    if (!json_object_get (kept, "checkout_id") && json_object_get (lost, "checkout_id"))
        json_object_set (kept, "checkout_id", json_object_get (lost, "checkout_id"));
}

int session_merge (sessionizer_t *self, MDB_txn *txn, visitor_t *survivor, visitor_t *loser,
                   int64_t time)
{
    json_t *lost = json_object_get (loser->record, "session");
    if (!lost)
        return 0;
    if (shop_viewed_merge (self, txn, survivor->id, loser->id))
        return -1;
    json_t *kept = json_object_get (survivor->record, "session");
    if (kept) {
        s_combine (kept, lost);
        return session_end (self, txn, loser, time, survivor->id);
    }
    //  The survivor carries the loser's visit on, under the same id.
    if (s_unindex (self, txn, lost, loser->id)
    ||  s_index (self, txn, lost, survivor->id, record_int (lost, "expiry")))
        return -1;
    json_object_set (survivor->record, "session", lost);
    json_object_del (loser->record, "session");
    return 0;
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
    json_t *session = json_object_get (visitor->record, "session");
    int rc;
    if (moved || !session || record_int (session, "expiry") != due)
        rc = nd_db_del (txn, self->expiry, entry) < 0 ? -1 : 0;     //  stale
    else {
        int64_t expiry = record_int (session, "last") + self->timeout;
        visitor->time = expiry;
        if (expiry > now)
            rc = s_unindex (self, txn, session, visitor->id)
              || s_index (self, txn, session, visitor->id, expiry) ? -1 : 0;
        else
            rc = session_end (self, txn, visitor, expiry, NULL);
        if (rc == 0)
            rc = visitor_store (self, txn, visitor);
    }
    visitor_destroy (&visitor);
    return rc;
}

//  The first index entry if it is due at now: 1 yes, 0 none due, -1 error.
static int s_first_due (sessionizer_t *self, MDB_txn *txn, int64_t now, nd_key_t *entry,
                        char *id, int64_t *due)
{
    MDB_cursor *cursor;
    int rc = mdb_cursor_open (txn, self->expiry, &cursor);
    if (rc)
        return nd_db_error (rc, "expiry cursor");
    MDB_val key, data;
    rc = mdb_cursor_get (cursor, &key, &data, MDB_FIRST);
    int result = rc == MDB_NOTFOUND ? 0 : rc ? nd_db_error (rc, "expiry") : 1;
    if (result == 1) {
        *due = nd_key_get_i64 (&key, 0);
        result = *due <= now && key.mv_size > 8 && key.mv_size <= ND_KEY_MAX;
    }
    if (result == 1) {
        nd_key_init (entry);
        memcpy (entry->data, key.mv_data, key.mv_size);
        entry->size = key.mv_size;
        snprintf (id, VISITOR_ID_MAX, "%.*s", (int) (key.mv_size - 8), (const char *) key.mv_data + 8);
    }
    mdb_cursor_close (cursor);
    return result;
}

int session_expire (sessionizer_t *self, MDB_txn *txn, int64_t now)
{
    nd_key_t entry;
    char id [VISITOR_ID_MAX];
    int64_t due = 0;
    int rc;
    while ((rc = s_first_due (self, txn, now, &entry, id, &due)) == 1)
        if (s_expire_one (self, txn, &entry, id, due, now))
            return -1;
    return rc;
}
