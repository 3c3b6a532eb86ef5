/*  visitor.c - loading and storing one visitor.

    The hot record is read and written for every event, so it holds only
    counters, the userId and the open session. The profile and the cart
    are read when an event or a session end asks for them and written
    back only when they changed; a change is announced (profile.updated,
    cart.updated) once per event however many steps made it.           */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "sessionizer.h"

//  A chain of merges longer than this is a damaged record, not a person.
#define MERGE_HOPS_MAX 32

void visitor_key (nd_key_t *key, const char *id)
{
    nd_key_init (key);
    nd_key_str (key, id);
}

int64_t record_int (const json_t *record, const char *field)
{
    return json_integer_value (json_object_get (record, field));
}

void record_add (json_t *record, const char *field, int64_t delta)
{
    json_object_set_new (record, field, json_integer (record_int (record, field) + delta));
}

static visitor_t *s_visitor_new (const char *id, json_t *record)
{
    visitor_t *self = (visitor_t *) calloc (1, sizeof *self);
    if (!self) {
        json_decref (record);
        return NULL;
    }
    snprintf (self->id, sizeof self->id, "%s", id);
    self->record = record;
    return self;
}

//  Follows merges to the surviving visitor; *moved tells the caller that
//  the id it looked up points at a merged-away visitor.
visitor_t *visitor_load (sessionizer_t *self, MDB_txn *txn, const char *id, bool *moved)
{
    char current [VISITOR_ID_MAX];
    snprintf (current, sizeof current, "%s", id);
    *moved = false;
    for (int hop = 0; hop < MERGE_HOPS_MAX; hop++) {
        nd_key_t key;
        visitor_key (&key, current);
        json_t *record = NULL;
        int rc = nd_db_get_json (txn, self->visitors, &key, &record);
        if (rc < 0)
            return NULL;
        if (rc == ND_NOTFOUND)
            record = json_object ();
        const char *survivor = json_string_value (json_object_get (record, "merged_into"));
        if (!survivor)
            return s_visitor_new (current, record);
        snprintf (current, sizeof current, "%s", survivor);
        json_decref (record);
        *moved = true;
    }
    nd_log ("visitor %s: merged more than %d times over; treating it as damaged",
            id, MERGE_HOPS_MAX);
    return NULL;
}

//  Visitor ids come from a counter in LMDB, so a replay of the same
//  events makes the same ids, and no id reveals who the visitor is.
visitor_t *visitor_mint (sessionizer_t *self, MDB_txn *txn, int64_t time)
{
    nd_key_t key;
    nd_key_init (&key);
    nd_key_str (&key, "next-visitor");
    uint64_t next = 0;
    if (nd_db_get_u64 (txn, self->counters, &key, &next) < 0
    ||  nd_db_put_u64 (txn, self->counters, &key, next + 1))
        return NULL;
    char id [VISITOR_ID_MAX];
    snprintf (id, sizeof id, "v-%" PRIu64, next + 1);
    visitor_t *visitor = s_visitor_new (id, json_pack ("{s:I, s:I, s:i, s:i, s:i}",
        "first", (json_int_t) time, "last", (json_int_t) time, "events", 0, "sessions", 0, "orders", 0));
    if (visitor) {
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

const char *visitor_user_id (const visitor_t *visitor)
{
    return json_string_value (json_object_get (visitor->record, "userId"));
}

//  Events may arrive late, so first and last only ever widen.
void visitor_seen (visitor_t *visitor, int64_t time)
{
    record_add (visitor->record, "events", 1);
    if (time > record_int (visitor->record, "last"))
        json_object_set_new (visitor->record, "last", json_integer (time));
    int64_t first = record_int (visitor->record, "first");
    if (first == 0 || time < first)
        json_object_set_new (visitor->record, "first", json_integer (time));
}

static json_t *s_body (visitor_t *visitor)
{
    json_t *body = sessionizer_body (NULL, visitor->id, visitor->time);
    const char *user_id = visitor_user_id (visitor);
    if (user_id)
        json_object_set_new (body, "userId", json_string (user_id));
    const char *session = session_id (visitor);
    if (session)
        json_object_set_new (body, "session", json_string (session));
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
    return nd_db_put_json (txn, self->visitors, &key, visitor->record);
}

//  What is left of a visitor merged into another: a pointer to the
//  survivor, so ids not yet rewritten still find the person.
int visitor_retire (sessionizer_t *self, MDB_txn *txn, visitor_t *visitor, const char *survivor)
{
    nd_key_t key;
    visitor_key (&key, visitor->id);
    json_decref (visitor->record);
    visitor->record = json_pack ("{s:s}", "merged_into", survivor);
    visitor->profile_changed = visitor->profile_announce = visitor->cart_changed = false;
    if (nd_db_del (txn, self->profiles, &key) < 0 || nd_db_del (txn, self->carts, &key) < 0
    ||  nd_db_del (txn, self->viewed, &key) < 0)
        return -1;
    return nd_db_put_json (txn, self->visitors, &key, visitor->record);
}

void visitor_destroy (visitor_t **self_p)
{
    visitor_t *self = *self_p;
    if (self) {
        json_decref (self->record);
        json_decref (self->profile);
        nd_cart_destroy (&self->cart);
        free (self);
        *self_p = NULL;
    }
}
