/*  collector_route_test - the person router's self-test: hand-written
    sequences for each rule of the sessionizer's identity.c, a merge, an
    erasure (collector_route.c, which stays under 600 lines without it). */
#include <assert.h>
#include <stdio.h>
#include <string.h>
#include "collector_route.h"

//  The visitor an event of type with ids (NULL: none) resolves to.
static const char *s_test (collector_route_t *self, MDB_txn *txn, const char *type,
                           const char *user, const char *other, collector_merge_t *merge)
{
    static char visitor [COLLECTOR_VISITOR_MAX];
    json_t *body = json_pack ("{s:s}", "type", type);
    if (user)
        json_object_set_new (body, "userId", json_string (user));
    if (other)
        json_object_set_new (body, streq (type, "alias") ? "previousId" : "anonymousId",
                             json_string (other));
    uint32_t key = 0;
    int rc = collector_route_event (self, txn, "event.x", body, &key, merge);
    snprintf (visitor, sizeof visitor, "%s", rc ? "" : json_string_value (json_object_get (body, "visitor")));
    assert (rc || key == nd_route_key (visitor));
    json_decref (body);
    return visitor;
}

static json_int_t s_test_rows (collector_route_t *self, MDB_txn *txn, const char *table)
{
    json_t *stats = json_object ();
    collector_route_stats (self, txn, stats);
    json_int_t rows = json_integer_value (json_object_get (stats, table));
    json_decref (stats);
    return rows;
}

void collector_route_test (bool verbose)
{
    if (verbose)
        printf (" * collector_route: ");
    char dir [] = "/tmp/nd-route-test-XXXXXX";
    assert (mkdtemp (dir));
    MDB_env *env;
    MDB_txn *txn;
    assert (mdb_env_create (&env) == 0 && mdb_env_set_maxdbs (env, 8) == 0);
    assert (mdb_env_open (env, dir, MDB_NOSYNC, 0644) == 0);
    assert (mdb_txn_begin (env, NULL, 0, &txn) == 0);
    collector_route_t *self = collector_route_new (txn, 2);
    assert (self);
    collector_merge_t merge;
    //  A new person, then their userId
    assert (streq (s_test (self, txn, "page", NULL, "a1", &merge), "v-1") && !*merge.loser);
    assert (streq (s_test (self, txn, "identify", "u1", "a1", &merge), "v-1"));
    //  A second device, then the login that joins it: v-2 merges into v-1
    assert (streq (s_test (self, txn, "page", NULL, "a2", &merge), "v-2"));
    assert (streq (s_test (self, txn, "identify", "u1", "a2", &merge), "v-1"));
    assert (streq (merge.loser, "v-2") && streq (merge.survivor, "v-1"));
    assert (collector_route_crosses (self, &merge)
            == (nd_route_key ("v-2") % 2 != nd_route_key ("v-1") % 2));
    //  A shared device: someone else logs in on a1, which moves to them
    assert (streq (s_test (self, txn, "identify", "u2", "a1", &merge), "v-3") && !*merge.loser);
    assert (streq (s_test (self, txn, "page", NULL, "a1", &merge), "v-3"));
    //  Both ids known, the device's visitor with another userId: no merge
    assert (streq (s_test (self, txn, "identify", "u4", "a4", &merge), "v-4"));
    assert (streq (s_test (self, txn, "identify", "u2", "a4", &merge), "v-3") && !*merge.loser);
    //  An alias renames: its previousId is a userId, the new userId is added
    assert (streq (s_test (self, txn, "alias", "u5", "u4", &merge), "v-4") && !*merge.loser);
    assert (streq (s_test (self, txn, "track", "u5", NULL, &merge), ""));   //  no event name
    assert (streq (s_test (self, txn, "screen", "u5", NULL, &merge), "v-4"));
    //  An alias merges two people with userIds: v-1 (and v-2 in it) into v-3
    assert (streq (s_test (self, txn, "alias", "u2", "u1", &merge), "v-3"));
    assert (streq (merge.loser, "v-1") && streq (merge.survivor, "v-3"));
    assert (streq (s_test (self, txn, "page", NULL, "a2", &merge), "v-3"));
    //  A click about v-2 reaches the person it is now part of
    json_t *click = json_pack ("{s:s}", "user", "v-2");
    uint32_t key;
    assert (collector_route_user (self, txn, click, &key) == 0 && key == nd_route_key ("v-3"));
    json_object_set_new (click, "user", json_string (""));
    assert (collector_route_user (self, txn, click, &key) == ND_NOTFOUND);
    json_decref (click);
    //  Not what the sessionizer resolves: no stamp, nothing minted
    assert (streq (s_test (self, txn, "fly", "u9", NULL, &merge), ""));
    assert (streq (s_test (self, txn, "alias", "u9", NULL, &merge), ""));
    assert (s_test_rows (self, txn, "route_visitors") == 4);
    //  What an erasure would take: v-3's a1 u2 a4 u1 a2 and v-1, v-2 merged
    //  in; v-4's u4 u5 (a4 left v-4 for v-3: no longer v-4's)
    assert (s_test_rows (self, txn, "route_owned") == 9);
    //  Erasing v-1 erases the person it leads to, v-3, and v-1 and v-2
    //  with it; v-4 (which once had a4) keeps its own
    uint32_t keys [2];
    size_t count;
    assert (collector_route_erase (self, txn, "v-1", keys, &count) == 0);
    assert (count == 2 && keys [0] == nd_route_key ("v-1") && keys [1] == nd_route_key ("v-3"));
    assert (s_test_rows (self, txn, "route_visitors") == 1);
    assert (s_test_rows (self, txn, "route_ids") == 2);       //  u4, u5
    assert (s_test_rows (self, txn, "route_owned") == 2);
    assert (streq (s_test (self, txn, "page", NULL, "a2", &merge), "v-5"));
    assert (streq (s_test (self, txn, "page", "u5", NULL, &merge), "v-4"));
    assert (collector_route_erase (self, txn, "v-9", keys, &count) == 0 && count == 1);
    mdb_txn_abort (txn);
    collector_route_destroy (&self);
    collector_route_destroy (&self);
    mdb_env_close (env);
    nd_db_test_remove (dir);
    if (verbose)
        printf ("OK\n");
}
