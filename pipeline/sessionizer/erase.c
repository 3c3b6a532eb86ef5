/*  erase.c - a person's erasure (GDPR art. 17): everything the
    sessionizer keeps for them goes, and person.erased tells the stages
    downstream to do the same.

    Layer: engine (beside retention.c, over visitor.c and the store). The request
    arrives as person.erase {"id", "user": a visitor id} (the collector's
    /v1/erase, which nd-person --erase calls). The visitor is followed
    through merges to the survivor; then go its record, profile, cart,
    products viewed and watched (catalogue.c), open session's index
    entry, the contacts a browser claimed, the records of the visitors
    merged into it, and every anonymousId and userId that led to it,
    found as a move between partitions finds them (move.c), also those
    older than the latest the profile lists. The next event with one of
    those ids starts a new, unknown visitor.

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
#include "identity.h"
#include "move.h"
#include "profile.h"
#include "session.h"
#include "shop.h"
#include "viewed.h"
#include "visitor.h"

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
    nd_key_t none;
    nd_key_init (&none);
    int rc = profile ? 0 : -1;
    if (rc == 0
    &&  (shop_viewed_forget (self, txn, visitor->id)
    ||   catalogue_forget (self, txn, visitor->id)
    ||   nd_db_drop (txn, self->claims, &none, s_claim_of, visitor->id) < 0))
        rc = -1;
    //  The rest goes as a move out of the partition takes it (move.c):
    //  every id that leads to the person, not only the latest the profile
    //  lists (past PROFILE_IDS_MAX the whole ids table is walked), the
    //  records of the visitors merged into it, the profile, the cart and
    //  the open session's entry
    if (rc == 0 && sessionizer_person_drop (self, txn, visitor->id))
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
