/*  erase.c - a person's erasure (GDPR art. 17): everything the
    sessionizer keeps for them goes, and person.erased tells the stages
    downstream to do the same.

    Layer: engine (beside retention.c, over visitor.c and the store). The request
    arrives as person.erase {"id", "user": a visitor id} (the collector's
    /v1/erase, which nd-person --erase calls). The visitor is followed
    through merges to the survivor; then go its record, profile, cart,
    products viewed and watched (catalogue.c), open session's index
    entry, the contacts a browser claimed, and every anonymousId and
    userId that led to it. The next
    event with one of those ids starts a new, unknown visitor.

    person.erased {"id", "user", "visitor", "time", "anonymousIds",
    "userIds"} names the visitor and its ids, which some stages key by,
    and no contact detail: no journal then holds one for the erasure.
    The visitor's id makes the output's, so a replay erases once.           */
#include <stdio.h>
#include <string.h>
#include "erase.h"
#include "cart.h"
#include "catalogue.h"
#include "claim.h"
#include "due.h"
#include "identity.h"
#include "profile.h"
#include "session.h"
#include "shop.h"
#include "viewed.h"
#include "visitor.h"

static void s_id_key (nd_key_t *key, char kind, const char *id)
{
    nd_key_init (key);
    nd_key_u8 (key, (uint8_t) kind);
    nd_key_str (key, id);
}

//  Deletes the ids the profile lists, when they still lead to visitor.
static int s_unbind (sessionizer_t *self, MDB_txn *txn, const char *visitor,
                     const json_t *profile, const char *list, char kind)
{
    size_t index;
    json_t *id;
    json_array_foreach (json_object_get (profile, list), index, id) {
        const char *text = json_string_value (id);
        if (!text || strlen (text) > SHOP_ID_MAX)
            continue;
        nd_key_t key;
        s_id_key (&key, kind, text);
        MDB_val k = nd_key_val (&key), v;
        int rc = mdb_get (txn, self->ids, &k, &v);
        if (rc && rc != MDB_NOTFOUND)
            return nd_db_error (rc, "ids");
        bool moved;
        visitor_t *owner = rc == 0 ? visitor_load (self, txn, (const char *) v.mv_data, &moved)
                                   : NULL;
        bool ours = owner && strcmp (owner->id, visitor) == 0;
        visitor_destroy (&owner);
        if (ours && nd_db_del (txn, self->ids, &key) < 0)
            return -1;
    }
    return 0;
}

//  A claim's key: i64 day, visitor, channel, address.
static int s_claim_of (const MDB_val *key, const MDB_val *data, void *visitor)
{
    (void) data;
    size_t size = strlen ((const char *) visitor) + 1;
    return key->mv_size > 8 + size && memcmp ((const char *) key->mv_data + 8, visitor, size) == 0;
}

int erase_apply (sessionizer_t *self, MDB_txn *txn, const nd_msg_t *msg)
{
    const char *asked = json_string_value (json_object_get (msg->body, "user"));
    if (!asked || !*asked || strlen (asked) >= VISITOR_ID_MAX) {
        nd_stage_reject (self->stage, msg, "person.erase needs \"user\", a visitor id");
        return -1;
    }
    //  An id the sessionizer does not know is still erased downstream:
    //  other stages may hold what this one never had or lost.
    nd_key_t asked_key;
    visitor_key (&asked_key, asked);
    MDB_val k = nd_key_val (&asked_key), v;
    int found = mdb_get (txn, self->visitors, &k, &v);
    if (found && found != MDB_NOTFOUND)
        return nd_db_error (found, "visitors");
    bool moved;
    visitor_t *visitor = visitor_load (self, txn, asked, &moved);
    if (!visitor)
        return -1;
    json_t *profile = visitor_profile (self, txn, visitor);
    nd_key_t key, none;
    visitor_key (&key, visitor->id);
    nd_key_init (&none);
    int rc = profile ? 0 : -1;
    if (rc == 0 && visitor->in_session) {
        nd_key_t entry;
        due_key (&entry, visitor->session.expiry, visitor->id);
        rc = nd_db_del (txn, self->expiry, &entry) < 0 ? -1 : 0;
    }
    if (rc == 0
    &&  (s_unbind (self, txn, visitor->id, profile, "anonymousIds", 'a')
    ||   s_unbind (self, txn, visitor->id, profile, "userIds", 'u')
    ||   nd_db_del (txn, self->profiles, &key) < 0 || nd_db_del (txn, self->carts, &key) < 0
    ||   shop_viewed_forget (self, txn, visitor->id)
    ||   catalogue_forget (self, txn, visitor->id)
    ||   nd_db_drop (txn, self->claims, &none, s_claim_of, visitor->id) < 0
    ||   nd_db_del (txn, self->visitors, &key) < 0))
        rc = -1;
    //  The id the request named, if merged away, goes too: it only
    //  pointed at the survivor.
    if (rc == 0 && moved)
        rc = nd_db_del (txn, self->visitors, &asked_key) < 0 ? -1 : 0;
    if (rc == 0) {
        char id [VISITOR_ID_MAX + 16];
        snprintf (id, sizeof id, "%s:erased", visitor->id);
        int64_t time = msg->time ? msg->time : nd_stage_now (self->stage);
        json_t *body = sessionizer_body (id, visitor->id, time);
        json_object_set (body, "anonymousIds", json_object_get (profile, "anonymousIds"));
        json_object_set (body, "userIds", json_object_get (profile, "userIds"));
        rc = sessionizer_emit (self, txn, "person.erased", body);
    }
    if (rc == 0 && found == 0) {
        sessionizer_count (self, COUNT_VISITORS_ERASED);
        nd_log ("erased visitor %s", visitor->id);
    }
    else
    if (rc == 0)
        nd_log ("erasing visitor %s, unknown here: passed on for the other stages", asked);
    visitor_destroy (&visitor);
    return rc;
}
