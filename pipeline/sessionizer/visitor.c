/*  visitor.c - loading and storing one visitor.

    Layer: store: calls cart.c, due.c (the idle index), viewed.c (a
    merged visitor's views go) and catalogue.c (their watched products
    move to the survivor).

    The hot record is read and written for every event, so it is a small
    binary record (s_stored_t, then five NUL-terminated strings) rather
    than JSON: parsing and printing JSON cost more than everything else
    the sessionizer does for an event. The profile and the cart are JSON,
    read when an event or a session end asks for them and written back
    only when they changed; a change is announced (profile.updated,
    cart.updated) once per event however many steps made it.         */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "visitor.h"
#include "cart.h"
#include "catalogue.h"
#include "due.h"
#include "viewed.h"

//  A chain of merges longer than this is a damaged record, not a person.
#define MERGE_HOPS_MAX 32
#define RECORD_VERSION 1
#define RECORD_STRINGS 5

/* ------------------------------------------------------------ profile */

json_t *profile_new (void)
{
    return json_pack ("{s:[], s:[], s:{}}", "userIds", "anonymousIds", "traits");
}

//  Reachable on a channel: an address, and consent not withdrawn.
static bool s_reachable (const json_t *traits, const char *address, const char *consent)
{
    const json_t *value = json_object_get (traits, address);
    bool known = json_is_string (value) ? json_string_length (value) > 0 : json_is_object (value);
    return known && !json_is_false (json_object_get (traits, consent));
}

//  Adds what a downstream stage needs to reach the person to body.
void profile_describe (const json_t *profile, json_t *body)
{
    json_t *traits = json_object_get (profile, "traits");
    json_t *ids = json_object_get (profile, "anonymousIds");
    if (json_array_size (ids))
        json_object_set (body, "anonymousId", json_array_get (ids, json_array_size (ids) - 1));
    json_object_set_new (body, "userIds", json_deep_copy (json_object_get (profile, "userIds")));
    json_object_set_new (body, "anonymousIds", json_deep_copy (ids));
    json_object_set_new (body, "traits", traits ? json_deep_copy (traits) : json_object ());
    json_object_set_new (body, "contact", json_pack ("{s:b, s:b, s:b}",
        "email", s_reachable (traits, "email", "email_consent"),
        "sms", s_reachable (traits, "phone", "sms_consent"),
        "push", s_reachable (traits, "push_subscription", "push_consent")
             || s_reachable (traits, "push", "push_consent")));
}

/* ------------------------------------------------------------ record */

//  The fixed part of a stored visitor; native byte order, as the state
//  never leaves this machine (a replay rebuilds it elsewhere).
typedef struct {
    uint32_t version;
    uint32_t in_session;
    int64_t first, last;
    uint64_t events, sessions, orders;
    int64_t started, session_last, expiry;
    uint32_t session_events, pages, product_views, distinct_views, added, step;
    uint32_t ordered;
    uint32_t browsing;              //  views_since_add, and bit 31: cart.browsing sent
} s_stored_t;

//  Text from the shop is kept only while it fits an LMDB key's budget.
void visitor_set_text (char **field, const char *value)
{
    free (*field);
    *field = value && *value && strlen (value) <= SHOP_ID_MAX ? strdup (value) : NULL;
}

/* ------------------------------------------------------------- coding */

static void s_encode_text (char **cursor, const char *text)
{
    size_t size = text ? strlen (text) + 1 : 1;
    memcpy (*cursor, text ? text : "", size);
    *cursor += size;
}

static int s_store_record (sessionizer_t *self, MDB_txn *txn, const visitor_t *visitor)
{
    const session_t *session = &visitor->session;
    s_stored_t stored = {
        RECORD_VERSION, visitor->in_session, visitor->first, visitor->last,
        visitor->events, visitor->sessions, visitor->orders,
        session->started, session->last, session->expiry,
        session->events, session->pages, session->product_views, session->distinct_views,
        session->added, session->step, session->ordered,
        (session->views_since_add & 0x7fffffffu) | (session->browsing_announced ? 0x80000000u : 0)
    };
    char buffer [sizeof stored + sizeof session->id + (RECORD_STRINGS - 1) * (SHOP_ID_MAX + 1)];
    char *cursor = buffer + sizeof stored;
    memcpy (buffer, &stored, sizeof stored);
    s_encode_text (&cursor, visitor->in_session ? session->id : NULL);
    s_encode_text (&cursor, visitor->in_session ? session->checkout_id : NULL);
    s_encode_text (&cursor, visitor->user_id);
    s_encode_text (&cursor, visitor->last_order);
    s_encode_text (&cursor, visitor->merged_into);
    nd_key_t key;
    visitor_key (&key, visitor->id);
    return nd_db_put_raw (txn, self->visitors, &key, buffer, (size_t) (cursor - buffer));
}

static int s_decode (visitor_t *visitor, const MDB_val *data)
{
    s_stored_t stored;
    if (data->mv_size < sizeof stored)
        return -1;
    memcpy (&stored, data->mv_data, sizeof stored);
    const char *text [RECORD_STRINGS];
    const char *cursor = (const char *) data->mv_data + sizeof stored;
    const char *end = (const char *) data->mv_data + data->mv_size;
    for (int i = 0; i < RECORD_STRINGS; i++) {
        const char *nul = cursor < end ? memchr (cursor, 0, (size_t) (end - cursor)) : NULL;
        if (!nul)
            return -1;
        text [i] = cursor;
        cursor = nul + 1;
    }
    if (stored.version != RECORD_VERSION || strlen (text [0]) >= sizeof visitor->session.id)
        return -1;
    session_t *session = &visitor->session;
    visitor->in_session = stored.in_session;
    visitor->first = stored.first;
    visitor->last = visitor->armed_last = stored.last;
    visitor->events = stored.events;
    visitor->sessions = stored.sessions;
    visitor->orders = stored.orders;
    session->started = stored.started;
    session->last = stored.session_last;
    session->expiry = stored.expiry;
    session->events = stored.session_events;
    session->pages = stored.pages;
    session->product_views = stored.product_views;
    session->distinct_views = stored.distinct_views;
    session->added = stored.added;
    session->step = stored.step;
    session->ordered = stored.ordered;
    session->views_since_add = stored.browsing & 0x7fffffffu;
    session->browsing_announced = (stored.browsing & 0x80000000u) != 0;
    strcpy (session->id, text [0]);
    visitor_set_text (&session->checkout_id, text [1]);
    visitor_set_text (&visitor->user_id, text [2]);
    visitor_set_text (&visitor->last_order, text [3]);
    visitor_set_text (&visitor->merged_into, text [4]);
    return 0;
}

/* ------------------------------------------------------------- loading */

static visitor_t *s_visitor_new (const char *id)
{
    visitor_t *self = (visitor_t *) calloc (1, sizeof *self);
    if (self)
        snprintf (self->id, sizeof self->id, "%s", id);
    return self;
}

//  One record as stored, without following a merge; NULL on an error.
visitor_t *visitor_load_one (sessionizer_t *self, MDB_txn *txn, const char *id)
{
    nd_key_t key;
    visitor_key (&key, id);
    MDB_val k = nd_key_val (&key), data;
    int rc = mdb_get (txn, self->visitors, &k, &data);
    if (rc && rc != MDB_NOTFOUND) {
        nd_db_error (rc, "visitors");
        return NULL;
    }
    visitor_t *visitor = s_visitor_new (id);
    //  An id whose record is missing or damaged starts afresh.
    if (visitor && rc == 0 && s_decode (visitor, &data)) {
        nd_log ("visitor %s: stored record is damaged; starting it afresh", id);
        visitor_destroy (&visitor);
        visitor = s_visitor_new (id);
    }
    return visitor;
}

//  Follows merges to the surviving visitor; *moved tells the caller that
//  the id it looked up points at a merged-away visitor.
visitor_t *visitor_load (sessionizer_t *self, MDB_txn *txn, const char *id, bool *moved)
{
    visitor_t *visitor = visitor_load_one (self, txn, id);
    *moved = false;
    for (int hop = 0; visitor && visitor->merged_into; hop++) {
        if (hop == MERGE_HOPS_MAX) {
            nd_log ("visitor %s: merged more than %d times over; treating it as damaged",
                    id, MERGE_HOPS_MAX);
            visitor_destroy (&visitor);
            break;
        }
        visitor_t *survivor = visitor_load_one (self, txn, visitor->merged_into);
        visitor_destroy (&visitor);
        visitor = survivor;
        *moved = true;
    }
    return visitor;
}

//  The N of a stamp "v-N" that names no visitor yet; 0 for none.
static uint64_t s_stamp_free (sessionizer_t *self, MDB_txn *txn, const char *stamp)
{
    char *end = NULL;
    uint64_t number = stamp && strncmp (stamp, "v-", 2) == 0 && stamp [2] > '0'
                      && stamp [2] <= '9' ? strtoull (stamp + 2, &end, 10) : 0;
    if (!number || *end || strlen (stamp) >= VISITOR_ID_MAX)
        return 0;
    nd_key_t key;
    visitor_key (&key, stamp);
    MDB_val k = nd_key_val (&key), data;
    return mdb_get (txn, self->visitors, &k, &data) == MDB_NOTFOUND ? number : 0;
}

//  Visitor ids come from a counter in LMDB, so a replay of the same
//  events makes the same ids, and no id reveals who the visitor is. With
//  partitions the collector mints them (collector_route.c), as this does,
//  and stamps the event: each partition then names people as one would.
visitor_t *visitor_mint (sessionizer_t *self, MDB_txn *txn, int64_t time, const char *stamp)
{
    nd_key_t key;
    nd_key_init (&key);
    nd_key_str (&key, "next-visitor");
    uint64_t next = 0;
    if (nd_db_get_u64 (txn, self->counters, &key, &next) < 0)
        return NULL;
    uint64_t number = s_stamp_free (self, txn, stamp);
    number = number ? number : next + 1;
    if (number > next && nd_db_put_u64 (txn, self->counters, &key, number))
        return NULL;
    char id [VISITOR_ID_MAX];
    snprintf (id, sizeof id, "v-%" PRIu64, number);
    visitor_t *visitor = s_visitor_new (id);
    if (visitor) {
        visitor->first = visitor->last = time;
        visitor->profile = profile_new ();
        visitor->profile_changed = true;
        sessionizer_count (self, COUNT_VISITORS);
    }
    return visitor;
}

json_t *visitor_profile (sessionizer_t *self, MDB_txn *txn, visitor_t *visitor)
{
    if (!visitor->profile) {
        nd_key_t key;
        visitor_key (&key, visitor->id);
        int rc = nd_db_get_json (txn, self->profiles, &key, &visitor->profile);
        if (rc == ND_NOTFOUND)
            visitor->profile = profile_new ();
    }
    return visitor->profile;
}

nd_cart_t *visitor_cart (sessionizer_t *self, MDB_txn *txn, visitor_t *visitor)
{
    if (!visitor->cart) {
        nd_key_t key;
        visitor_key (&key, visitor->id);
        json_t *record = NULL;
        int rc = nd_db_get_json (txn, self->carts, &key, &record);
        if (rc < 0)
            return NULL;
        visitor->cart = nd_cart_new (rc == 0 ? record : NULL, self->currency);
    }
    return visitor->cart;
}

//  Events may arrive late, so first and last only ever widen.
void visitor_seen (visitor_t *visitor, int64_t time)
{
    visitor->events++;
    if (time > visitor->last)
        visitor->last = time;
    if (visitor->first == 0 || time < visitor->first)
        visitor->first = time;
}

/* ------------------------------------------------------------- storing */

static json_t *s_body (visitor_t *visitor)
{
    json_t *body = sessionizer_body (NULL, visitor->id, visitor->time);
    if (visitor->user_id)
        json_object_set_new (body, "userId", json_string (visitor->user_id));
    if (visitor->in_session)
        json_object_set_new (body, "session", json_string (visitor->session.id));
    return body;
}

static int s_store_cart (sessionizer_t *self, MDB_txn *txn, visitor_t *visitor, const nd_key_t *key)
{
    int rc;
    if (nd_cart_is_empty (visitor->cart))
        rc = nd_db_del (txn, self->carts, key) < 0 ? -1 : 0;
    else {
        json_t *record = nd_cart_record (visitor->cart);
        rc = nd_db_put_json (txn, self->carts, key, record);
        json_decref (record);
    }
    if (rc)
        return -1;
    json_t *body = s_body (visitor);
    json_object_set_new (body, "cart", nd_cart_json (visitor->cart));
    sessionizer_count (self, COUNT_CARTS_UPDATED);
    return sessionizer_emit (self, txn, "cart.updated", body);
}

static int s_announce_profile (sessionizer_t *self, MDB_txn *txn, visitor_t *visitor)
{
    json_t *body = s_body (visitor);
    profile_describe (visitor->profile, body);
    sessionizer_count (self, COUNT_PROFILES_UPDATED);
    return sessionizer_emit (self, txn, "profile.updated", body);
}

int visitor_store (sessionizer_t *self, MDB_txn *txn, visitor_t *visitor)
{
    nd_key_t key;
    visitor_key (&key, visitor->id);
    if (visitor->profile_changed
    &&  nd_db_put_json (txn, self->profiles, &key, visitor->profile))
        return -1;
    if (visitor->cart_changed && s_store_cart (self, txn, visitor, &key))
        return -1;
    if (visitor->profile_announce && s_announce_profile (self, txn, visitor))
        return -1;
    visitor->profile_changed = visitor->profile_announce = visitor->cart_changed = false;
    return retention_arm (self, txn, visitor) || s_store_record (self, txn, visitor) ? -1 : 0;
}

//  What is left of a visitor merged into another: a pointer to the
//  survivor, so ids not yet rewritten still find the person.
int visitor_retire (sessionizer_t *self, MDB_txn *txn, visitor_t *visitor, const char *survivor)
{
    nd_key_t key;
    visitor_key (&key, visitor->id);
    visitor_t *left = s_visitor_new (visitor->id);
    if (!left)
        return -1;
    visitor_set_text (&left->merged_into, survivor);
    int rc = nd_db_del (txn, self->profiles, &key) < 0 || nd_db_del (txn, self->carts, &key) < 0
          || shop_viewed_forget (self, txn, visitor->id)
          || catalogue_merge (self, txn, survivor, visitor->id)
          || s_store_record (self, txn, left) ? -1 : 0;
    visitor_destroy (&left);
    visitor->profile_changed = visitor->profile_announce = visitor->cart_changed = false;
    return rc;
}

visitor_t *visitor_test_new (sessionizer_t *self, const char *id)
{
    visitor_t *visitor = s_visitor_new (id);
    if (visitor) {
        visitor->profile = profile_new ();
        visitor->cart = nd_cart_new (NULL, self->currency);
    }
    return visitor;
}

void visitor_destroy (visitor_t **self_p)
{
    visitor_t *self = *self_p;
    if (self) {
        free (self->merged_into);
        free (self->user_id);
        free (self->last_order);
        free (self->session.checkout_id);
        json_decref (self->profile);
        nd_cart_destroy (&self->cart);
        free (self);
        *self_p = NULL;
    }
}
