/*  identity.c - which visitor an event is about.

    Layer: engine: calls session.c (a merge joins sessions), profile.c
    and the store (visitor.c, cart.c).

    The identity graph maps every anonymousId (a browser, an app install)
    and every userId (the shop's account id) to one visitor. An event
    carrying both ids joins them: a phone's cart (anonymousId A1) and a
    later login on a laptop (identify U with A2) end up one person once
    identify(U) has been seen with A1 too. When both ids already belong to
    different visitors, those are one person and are merged: the one that
    holds the userId survives and takes over the other's cart, counters,
    open session, viewed products and traits; the other becomes a pointer
    to it, so ids not yet rewritten still find the survivor.

    A device whose visitor already has another userId is a shared device,
    not a merge: the anonymousId moves to the person now logged in. Only
    alias, which says outright that two ids are one person, merges two
    visitors with different userIds.

    When a stage reads the collector in partitions, the collector's router
    (collector_route.c) resolves every event as this file does, first, and
    stamps it with "visitor": a new visitor takes the stamped id, and an
    answer other than the stamp is counted (visitor_stamp_mismatch).    */
#include <assert.h>
#include <stdio.h>
#include <string.h>
#include "identity.h"
#include "cart.h"
#include "profile.h"
#include "session.h"
#include "visitor.h"

#define KIND_ANONYMOUS 'a'
#define KIND_USER 'u'

static void s_id_key (nd_key_t *key, char kind, const char *id)
{
    nd_key_init (key);
    nd_key_u8 (key, (uint8_t) kind);
    nd_key_str (key, id);
}

static int s_bind (sessionizer_t *self, MDB_txn *txn, char kind, const char *id, const char *visitor)
{
    nd_key_t key;
    s_id_key (&key, kind, id);
    return nd_db_put_raw (txn, self->ids, &key, visitor, strlen (visitor) + 1);
}

//  The visitor an id belongs to, or NULL with *rc ND_NOTFOUND or -1.
static visitor_t *s_find (sessionizer_t *self, MDB_txn *txn, char kind, const char *id, int *rc)
{
    nd_key_t key;
    s_id_key (&key, kind, id);
    MDB_val k = nd_key_val (&key), v;
    int mdb_rc = mdb_get (txn, self->ids, &k, &v);
    *rc = mdb_rc == MDB_NOTFOUND ? ND_NOTFOUND : mdb_rc ? nd_db_error (mdb_rc, "ids") : 0;
    if (*rc)
        return NULL;
    char id_text [VISITOR_ID_MAX] = "";
    if (v.mv_size > 0 && v.mv_size <= sizeof id_text)
        memcpy (id_text, v.mv_data, v.mv_size);
    id_text [sizeof id_text - 1] = 0;
    bool moved;
    visitor_t *visitor = visitor_load (self, txn, id_text, &moved);
    //  Rewrite the id to point at the survivor directly, once.
    if (visitor && moved && s_bind (self, txn, kind, id, visitor->id))
        visitor_destroy (&visitor);
    *rc = visitor ? 0 : -1;
    return visitor;
}

static int s_add_id (sessionizer_t *self, MDB_txn *txn, visitor_t *visitor, char kind, const char *id)
{
    json_t *profile = visitor_profile (self, txn, visitor);
    if (!profile || s_bind (self, txn, kind, id, visitor->id))
        return -1;
    if (profile_add_id (profile, kind == KIND_USER ? "userIds" : "anonymousIds", id))
        visitor->profile_changed = true;
    if (kind == KIND_USER && !visitor->user_id) {
        visitor_set_text (&visitor->user_id, id);
        visitor->profile_announce = true;
    }
    return 0;
}

//  The visitor the collector's router says the event is about, or NULL
//  (no partitioned stage reads the collector).
static const char *s_stamp (const event_t *event)
{
    return json_string_value (json_object_get (event->msg->body, "visitor"));
}

static visitor_t *s_new_person (sessionizer_t *self, MDB_txn *txn, const event_t *event)
{
    visitor_t *visitor = visitor_mint (self, txn, event->time, s_stamp (event));
    if (visitor && event->anonymous_id
    &&  s_add_id (self, txn, visitor, KIND_ANONYMOUS, event->anonymous_id))
        visitor_destroy (&visitor);
    if (visitor && event->user_id && s_add_id (self, txn, visitor, KIND_USER, event->user_id))
        visitor_destroy (&visitor);
    return visitor;
}

//  loser becomes part of survivor; see the top of this file.
static int s_merge (sessionizer_t *self, MDB_txn *txn, visitor_t *survivor, visitor_t *loser,
                    int64_t time)
{
    if (session_merge (self, txn, survivor, loser, time))
        return -1;
    nd_cart_t *cart = visitor_cart (self, txn, survivor), *other = visitor_cart (self, txn, loser);
    json_t *profile = visitor_profile (self, txn, survivor);
    json_t *other_profile = visitor_profile (self, txn, loser);
    if (!cart || !other || !profile || !other_profile)
        return -1;
    if (nd_cart_merge (cart, other))
        survivor->cart_changed = true;
    if (profile_merge (profile, other_profile))
        survivor->profile_changed = survivor->profile_announce = true;
    if (profile_add_merged (profile, other_profile, loser->id))
        survivor->profile_changed = true;
    survivor->events += loser->events;
    survivor->sessions += loser->sessions;
    survivor->orders += loser->orders;
    if (loser->first && loser->first < survivor->first)
        survivor->first = loser->first;
    if (loser->last > survivor->last)
        survivor->last = loser->last;
    if (!survivor->user_id && loser->user_id)
        visitor_set_text (&survivor->user_id, loser->user_id);
    if (visitor_retire (self, txn, loser, survivor->id))
        return -1;
    json_t *body = sessionizer_body (NULL, survivor->id, time);
    json_object_set_new (body, "merged", json_string (loser->id));
    if (sessionizer_emit (self, txn, "visitor.merged", body))
        return -1;
    sessionizer_count (self, COUNT_MERGES);
    nd_log ("visitor %s merged into %s", loser->id, survivor->id);
    return 0;
}

//  Both ids are known, to different visitors.
static visitor_t *s_join (sessionizer_t *self, MDB_txn *txn, const event_t *event,
                          visitor_t *by_anonymous, visitor_t *by_user)
{
    int rc;
    if (by_anonymous->user_id && event->type != EVENT_ALIAS)
        rc = s_add_id (self, txn, by_user, KIND_ANONYMOUS, event->anonymous_id);
    else
        rc = s_merge (self, txn, by_user, by_anonymous, event->time);
    visitor_destroy (&by_anonymous);
    if (rc)
        visitor_destroy (&by_user);
    return by_user;
}

//  Only the anonymous id is known: the userId, if any, is new.
static visitor_t *s_extend (sessionizer_t *self, MDB_txn *txn, const event_t *event,
                            visitor_t *visitor)
{
    const char *known = visitor->user_id;
    if (!event->user_id)
        return visitor;
    if (known && strcmp (known, event->user_id) && event->type != EVENT_ALIAS) {
        visitor_destroy (&visitor);
        return s_new_person (self, txn, event);     //  a shared device
    }
    if (s_add_id (self, txn, visitor, KIND_USER, event->user_id))
        visitor_destroy (&visitor);
    //  An alias names the account id the shop uses from now on.
    else
    if (known && event->type == EVENT_ALIAS) {
        visitor_set_text (&visitor->user_id, event->user_id);
        visitor->profile_announce = true;
    }
    return visitor;
}

//  identity_resolve without the stamp's check.
static visitor_t *s_resolve (sessionizer_t *self, MDB_txn *txn, const event_t *event)
{
    int anonymous_rc = ND_NOTFOUND, user_rc = ND_NOTFOUND;
    visitor_t *by_anonymous = NULL, *by_user = NULL;
    if (event->user_id)
        by_user = s_find (self, txn, KIND_USER, event->user_id, &user_rc);
    //  An alias's previousId is often an earlier userId.
    if (event->anonymous_id && event->type == EVENT_ALIAS)
        by_anonymous = s_find (self, txn, KIND_USER, event->anonymous_id, &anonymous_rc);
    if (event->anonymous_id && anonymous_rc == ND_NOTFOUND)
        by_anonymous = s_find (self, txn, KIND_ANONYMOUS, event->anonymous_id, &anonymous_rc);
    if (anonymous_rc < 0 || user_rc < 0) {
        visitor_destroy (&by_anonymous);
        visitor_destroy (&by_user);
        return NULL;
    }
    if (!by_anonymous && !by_user)
        return s_new_person (self, txn, event);
    if (!by_user)
        return s_extend (self, txn, event, by_anonymous);
    if (!by_anonymous) {
        if (event->anonymous_id
        &&  s_add_id (self, txn, by_user, KIND_ANONYMOUS, event->anonymous_id))
            visitor_destroy (&by_user);
        return by_user;
    }
    if (strcmp (by_anonymous->id, by_user->id) == 0) {
        visitor_destroy (&by_anonymous);
        return by_user;
    }
    return s_join (self, txn, event, by_anonymous, by_user);
}

//  The router's graph mirrors this one; a different answer means they
//  parted (the sessionizer forgot an idle visitor the router still
//  knows, or state from before the router). Counted every time, logged
//  once per visitor: the key in counters remembers it.
static int s_check_stamp (sessionizer_t *self, MDB_txn *txn, const event_t *event,
                          const visitor_t *visitor)
{
    const char *stamp = s_stamp (event);
    if (!stamp || strcmp (stamp, visitor->id) == 0)
        return 0;
    sessionizer_count (self, COUNT_STAMP_MISMATCHES);
    nd_key_t key;
    nd_key_init (&key);
    nd_key_str (&key, "stamp-mismatch");
    nd_key_str (&key, visitor->id);
    uint64_t logged = 0;
    int rc = nd_db_get_u64 (txn, self->counters, &key, &logged);
    if (rc == ND_NOTFOUND)
        nd_log ("visitor stamp: resolved %s, the collector said %.*s", visitor->id,
                VISITOR_ID_MAX, stamp);
    return rc < 0 || (rc == ND_NOTFOUND && nd_db_put_u64 (txn, self->counters, &key, 1)) ? -1 : 0;
}

visitor_t *identity_resolve (sessionizer_t *self, MDB_txn *txn, const event_t *event)
{
    visitor_t *visitor = s_resolve (self, txn, event);
    if (visitor && s_check_stamp (self, txn, event, visitor))
        visitor_destroy (&visitor);
    return visitor;
}

/* ------------------------------------------------------------- selftest */

void identity_test (bool verbose)
{
    if (verbose)
        printf (" * identity: ");
    char dir [] = "/tmp/nd-identity-test-XXXXXX";
    sessionizer_t self = { .currency = (char *) "EUR" };
    MDB_env *env = sessionizer_test_state (&self, dir);
    MDB_txn *txn;
    assert (mdb_txn_begin (env, NULL, 0, &txn) == 0);
    sessionizer_test_full (txn, &self);

    //  Two visitors found to be one person in a full state: the merge
    //  fails, and its visitor.merged is not left behind
    sessionizer_test_count_json (true);
    int64_t live = sessionizer_test_json_live ();
    visitor_t *survivor = visitor_test_new (&self, "v-1");
    visitor_t *loser = visitor_test_new (&self, "v-2");
    assert (s_merge (&self, txn, survivor, loser, 60000) == -1);
    visitor_destroy (&survivor);
    visitor_destroy (&loser);
    assert (sessionizer_test_json_live () == live);
    sessionizer_test_count_json (false);

    mdb_txn_abort (txn);
    sessionizer_test_state_destroy (&env, dir);
    if (verbose)
        printf ("OK\n");
}
