/*  move_test.c - the self-test of a person's move (move.c).

    Layer: store: calls move.c, visitor.c, catalogue.c, due.c and the
    base.

    The state worth moving is made by the stage's real code from real
    events, which needs a running stage: test_sessionizer_move.py runs
    one, stops it, and has --selftest move a person between its state
    and an empty one (see move_test.h), then compares both with
    mdb_dump. Without that environment, --selftest checks the pieces
    that need no stage: a round trip of hand-made rows, ids resolved
    through a merge, and what an import refuses.                         */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "move_test.h"
#include "due.h"
#include "move.h"
#include "catalogue.h"
#include "visitor.h"

static const char *s_names [] = {
    "ids", "visitors", "profiles", "carts", "viewed", "expiry", "idle", "claims", "watchers",
    "watching", "products", NULL
};

static MDB_env *s_open (sessionizer_t *self, const char *dir, const char *retention)
{
    MDB_env *env = NULL;
    assert (mdb_env_create (&env) == 0);
    assert (mdb_env_set_maxdbs (env, 64) == 0 && mdb_env_set_mapsize (env, 1 << 30) == 0);
    assert (mdb_env_open (env, dir, MDB_NOTLS | MDB_NOSYNC, 0600) == 0);
    MDB_dbi *dbis [] = {
        &self->ids, &self->visitors, &self->profiles, &self->carts, &self->viewed,
        &self->expiry, &self->idle, &self->claims, &self->watchers, &self->watching,
        &self->products
    };
    MDB_txn *txn;
    assert (mdb_txn_begin (env, NULL, 0, &txn) == 0);
    for (int i = 0; s_names [i]; i++)
        assert (nd_db_open (txn, s_names [i], dbis [i]) == 0);
    assert (mdb_txn_commit (txn) == 0);
    assert (nd_duration_parse (retention, &self->retention) == 0);
    self->retention_slack = self->retention ? retention_slack (self->retention) : 0;
    return env;
}

static int s_list (const char *person, void *people)
{
    json_array_append_new ((json_t *) people, json_string (person));
    return 0;
}

static json_t *s_people (sessionizer_t *self, MDB_env *env)
{
    MDB_txn *txn;
    json_t *people = json_array ();
    assert (mdb_txn_begin (env, NULL, MDB_RDONLY, &txn) == 0);
    assert (sessionizer_person_each (self, txn, s_list, people) == 0);
    mdb_txn_abort (txn);
    return people;
}

//  "a:ID" / "u:ID" -> the person each moved id resolves to here, or null.
static json_t *s_resolved (sessionizer_t *self, MDB_env *env, const json_t *state)
{
    json_t *resolved = json_object ();
    MDB_txn *txn;
    assert (mdb_txn_begin (env, NULL, MDB_RDONLY, &txn) == 0);
    size_t index;
    json_t *row;
    json_array_foreach (json_object_get (json_object_get (state, "tables"), "ids"), index, row) {
        const char *hex = json_string_value (json_array_get (row, 0));
        char id [2 * SHOP_ID_MAX + 4] = "";
        size_t length = strlen (hex) / 2;
        for (size_t i = 0; i < length && i < sizeof id - 1; i++) {
            unsigned byte;
            sscanf (hex + 2 * i, "%2x", &byte);
            id [i] = (char) byte;
        }
        char name [sizeof id + 2], person [VISITOR_ID_MAX];
        snprintf (name, sizeof name, "%c:%s", id [0], id + 1);
        int rc = sessionizer_person_of (self, txn, id [0], id + 1, person, sizeof person);
        assert (rc >= 0);
        json_object_set_new (resolved, name, rc == 0 ? json_string (person) : json_null ());
    }
    mdb_txn_abort (txn);
    return resolved;
}

static json_t *s_export (sessionizer_t *self, MDB_env *env, const char *person)
{
    MDB_txn *txn;
    json_t *state = NULL;
    assert (mdb_txn_begin (env, NULL, 0, &txn) == 0);
    assert (sessionizer_person_export (self, txn, person, &state) == 0);
    assert (mdb_txn_commit (txn) == 0);
    return state;
}

static void s_import (sessionizer_t *self, MDB_env *env, const json_t *state)
{
    MDB_txn *txn;
    assert (mdb_txn_begin (env, NULL, 0, &txn) == 0);
    assert (sessionizer_person_import (self, txn, state) == 0);
    assert (mdb_txn_commit (txn) == 0);
}

//  The test-only move between two state directories (move_test.h).
static void s_move_between (const char *from, const char *to, const char *person,
                            const char *retention)
{
    sessionizer_t a = { 0 }, b = { 0 };
    MDB_env *env_a = s_open (&a, from, retention), *env_b = s_open (&b, to, retention);
    json_t *report = json_object ();
    json_object_set_new (report, "before", s_people (&a, env_a));
    int64_t started = nd_wall_ms ();
    json_t *state = s_export (&a, env_a, person);
    json_object_set_new (report, "export_ms", json_integer (nd_wall_ms () - started));
    json_object_set_new (report, "state", state ? state : json_null ());
    json_t *again = s_export (&a, env_a, person);
    json_object_set_new (report, "again", again ? again : json_null ());
    if (state)
        s_import (&b, env_b, state);
    json_object_set_new (report, "from_after", s_people (&a, env_a));
    json_object_set_new (report, "to_after", s_people (&b, env_b));
    json_object_set_new (report, "from_resolves", s_resolved (&a, env_a, state));
    json_object_set_new (report, "to_resolves", s_resolved (&b, env_b, state));
    char *text = json_dumps (report, JSON_COMPACT);
    printf ("%s\n", text);
    free (text);
    json_decref (report);
    mdb_env_close (env_a);
    mdb_env_close (env_b);
}

static size_t s_rows (MDB_env *env, MDB_dbi dbi)
{
    MDB_txn *txn;
    MDB_stat stat;
    assert (mdb_txn_begin (env, NULL, MDB_RDONLY, &txn) == 0);
    assert (mdb_stat (txn, dbi, &stat) == 0);
    mdb_txn_abort (txn);
    return stat.ms_entries;
}

static void s_bind (sessionizer_t *self, MDB_txn *txn, char kind, const char *id, const char *to)
{
    nd_key_t key;
    nd_key_init (&key);
    nd_key_u8 (&key, (uint8_t) kind);
    nd_key_str (&key, id);
    assert (nd_db_put_raw (txn, self->ids, &key, to, strlen (to) + 1) == 0);
}

//  v-1 (userId U1, anonymousId A1) with v-2 (A2) merged into it, and
//  v-3 (B1), both watching p1; v-1 was anonymous first: a stale idle entry.
static void s_make (sessionizer_t *self, MDB_env *env, int64_t t)
{
    MDB_txn *txn;
    assert (mdb_txn_begin (env, NULL, 0, &txn) == 0);
    const char *ids [][3] = { { "a", "A1", "v-1" }, { "u", "U1", "v-1" }, { "a", "A2", "v-2" },
                              { "a", "B1", "v-3" } };
    for (int i = 0; i < 4; i++)
        s_bind (self, txn, ids [i][0][0], ids [i][1], ids [i][2]);
    visitor_t *one = visitor_load_one (self, txn, "v-1");
    visitor_t *two = visitor_load_one (self, txn, "v-2");
    visitor_t *three = visitor_load_one (self, txn, "v-3");
    one->first = one->last = two->first = two->last = t;
    three->first = three->last = t + 1000;
    assert (visitor_store (self, txn, one) == 0 && visitor_store (self, txn, three) == 0);
    visitor_set_text (&one->user_id, "U1");
    one->last = t + 5 * 86400000LL;
    assert (visitor_store (self, txn, one) == 0);
    assert (visitor_store (self, txn, two) == 0);
    assert (catalogue_watch (self, txn, "p1", "v-2", "viewed", 10, t) == 0);
    assert (catalogue_watch (self, txn, "p1", "v-3", "carted", 10, t) == 0);
    assert (visitor_retire (self, txn, two, "v-1") == 0);      //  p1's watcher: v-1 now
    nd_key_t key;
    visitor_key (&key, "v-1");
    json_t *profile = json_pack ("{s:[s], s:[s,s], s:{}}", "userIds", "U1",
                                 "anonymousIds", "A1", "A2", "traits");
    assert (nd_db_put_json (txn, self->profiles, &key, profile) == 0);
    json_decref (profile);
    assert (mdb_txn_commit (txn) == 0);
    visitor_destroy (&one);
    visitor_destroy (&two);
    visitor_destroy (&three);
}

static int64_t s_watchers_of (sessionizer_t *self, MDB_env *env, const char *product)
{
    MDB_txn *txn;
    assert (mdb_txn_begin (env, NULL, MDB_RDONLY, &txn) == 0);
    json_t *record = catalogue_get (self, txn, product);
    mdb_txn_abort (txn);
    int64_t count = record_int (record, "watchers");
    json_decref (record);
    return count;
}

//  v-1 and the v-2 merged into it leave A for B, and come back out of
//  B byte for byte.
static void s_test_round_trip (sessionizer_t *a, MDB_env *env_a, sessionizer_t *b,
                               MDB_env *env_b)
{
    s_make (a, env_a, 1764000000000LL);
    assert (s_rows (env_a, a->idle) == 3 && s_watchers_of (a, env_a, "p1") == 2);
    json_t *state = s_export (a, env_a, "v-1");
    assert (state && !s_export (a, env_a, "v-1") && !s_export (a, env_a, "v-2"));
    //  Only v-3 is left, with its one id, record, idle entry and watcher
    assert (s_rows (env_a, a->ids) == 1 && s_rows (env_a, a->visitors) == 1);
    assert (s_rows (env_a, a->profiles) == 0 && s_rows (env_a, a->idle) == 1);
    assert (s_rows (env_a, a->watchers) == 1 && s_rows (env_a, a->watching) == 1);
    assert (s_watchers_of (a, env_a, "p1") == 1);
    s_import (b, env_b, state);
    json_t *people = s_people (b, env_b);
    assert (json_array_size (people) == 1
         && strcmp (json_string_value (json_array_get (people, 0)), "v-1") == 0);
    json_decref (people);
    assert (s_watchers_of (b, env_b, "p1") == 1 && s_rows (env_b, b->idle) == 2);
    json_t *resolved = s_resolved (b, env_b, state);
    assert (json_object_size (resolved) == 3);
    assert (strcmp (json_string_value (json_object_get (resolved, "a:A2")), "v-1") == 0);
    json_decref (resolved);
    resolved = s_resolved (a, env_a, state);
    assert (json_is_null (json_object_get (resolved, "u:U1")));
    json_decref (resolved);
    json_t *again = s_export (b, env_b, "v-1");
    assert (json_equal (again, state));
    json_decref (again);
    json_decref (state);
}

//  A profile that does not parse: its raw row moves, and its ids are
//  found by the walk of the whole ids table.
static void s_test_damaged (sessionizer_t *a, MDB_env *env_a)
{
    MDB_txn *txn;
    assert (mdb_txn_begin (env_a, NULL, 0, &txn) == 0);
    s_bind (a, txn, 'a', "D1", "v-4");
    visitor_t *four = visitor_load_one (a, txn, "v-4");
    four->first = four->last = 1764000000000LL;
    nd_key_t key;
    visitor_key (&key, "v-4");
    assert (visitor_store (a, txn, four) == 0
         && nd_db_put_raw (txn, a->profiles, &key, "{broken", 7) == 0);
    visitor_destroy (&four);
    assert (mdb_txn_commit (txn) == 0);
    size_t ids = s_rows (env_a, a->ids);
    json_t *state = s_export (a, env_a, "v-4");
    json_t *tables = json_object_get (state, "tables");
    assert (json_array_size (json_object_get (tables, "ids")) == 1
         && json_array_size (json_object_get (tables, "profiles")) == 1
         && json_array_size (json_object_get (tables, "idle")) == 1);
    assert (s_rows (env_a, a->ids) == ids - 1 && s_rows (env_a, a->profiles) == 0);
    json_decref (state);
}

static void s_test_refused (sessionizer_t *b, MDB_env *env_b)
{
    MDB_txn *txn;
    assert (mdb_txn_begin (env_b, NULL, 0, &txn) == 0);
    json_t *bad = json_pack ("{s:i, s:{s:[]}}", "format", 1, "tables", "together");
    assert (sessionizer_person_import (b, txn, bad) == -1);
    json_decref (bad);
    bad = json_pack ("{s:i, s:{s:[[s,s]]}}", "format", 1, "tables", "ids", "6x", "");
    assert (sessionizer_person_import (b, txn, bad) == -1);
    json_decref (bad);
    bad = json_pack ("{s:i, s:{}}", "format", 2, "tables");
    assert (sessionizer_person_import (b, txn, bad) == -1);
    json_decref (bad);
    mdb_txn_abort (txn);
}

static void s_selftest (void)
{
    char dir_a [] = "/tmp/nd-move-a-XXXXXX", dir_b [] = "/tmp/nd-move-b-XXXXXX";
    assert (mkdtemp (dir_a) && mkdtemp (dir_b));
    sessionizer_t a = { 0 }, b = { 0 };
    MDB_env *env_a = s_open (&a, dir_a, "30d"), *env_b = s_open (&b, dir_b, "30d");
    s_test_round_trip (&a, env_a, &b, env_b);
    s_test_damaged (&a, env_a);
    s_test_refused (&b, env_b);
    mdb_env_close (env_a);
    mdb_env_close (env_b);
    nd_db_test_remove (dir_a);
    nd_db_test_remove (dir_b);
}

void sessionizer_person_test (bool verbose)
{
    const char *from = getenv ("SESSIONIZER_MOVE_FROM"), *to = getenv ("SESSIONIZER_MOVE_TO");
    const char *person = getenv ("SESSIONIZER_MOVE_PERSON");
    const char *retention = getenv ("SESSIONIZER_MOVE_RETENTION");
    if (from && to && person) {
        s_move_between (from, to, person, retention ? retention : "180d");
        return;
    }
    if (verbose)
        printf (" * person move: ");
    s_selftest ();
    if (verbose)
        printf ("OK\n");
}
