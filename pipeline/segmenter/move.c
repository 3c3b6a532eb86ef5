/*  move.c - one visitor's rows, and handing them to another partition.

    Layer: store (LMDB "profiles", "revisits", "due", "members"), under
    segmenter.c; it knows the keys, not what a profile means.

    A partitioned segmenter (issue #15) owns a share of the visitors. When
    two visitors of different partitions turn out to be one person, the
    runtime exports the loser from its partition and imports it into the
    survivor's, where visitor.merged then joins the two as on one process.

    What a visitor is, in the state: its profile (key: the visitor id),
    its revisit index (keys beginning with the visitor id) and at most one
    entry in the time-ordered index "due", the one its profile's "due"
    names: so every row is found from the visitor's own records, none by
    a scan of a whole index. segmenter.c writes the revisit rows and the
    due entry in the transaction that stores the profile and deletes them
    with it, so who has a profile is who the state holds. The rows move
    as they are, base64url, so a round trip is byte-exact by construction:

        {"person": "v-1", "rows": {"profiles": [[KEY, VALUE]],
                                   "revisits": [[KEY, VALUE], ...],
                                   "due": [[KEY, ""]]}}

    The member counts per segment are totals, not rows of anyone: the
    export takes the visitor out of its segments' counts and the import
    puts it into the owner's, so each partition's STATS count the members
    it holds. The funnel's daily counts stay where they were counted;
    what the funnel keeps per visitor (the sessions already counted) is
    in the profile and moves with it, so a redelivered session.ended is
    not counted again in the owner's partition.                         */
#include <assert.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "nd_codec.h"
#include "nd_json.h"
#include "segmenter.h"

//  The per-visitor tables, as an export names them.
static const struct {
    const char *name;
    size_t offset;
} s_tables [] = {
    { "profiles", offsetof (segmenter_t, profiles) },
    { "revisits", offsetof (segmenter_t, revisits) },
    { "due", offsetof (segmenter_t, due) },
};
#define TABLES (sizeof s_tables / sizeof s_tables [0])

static MDB_dbi s_dbi (segmenter_t *self, size_t table)
{
    return *(MDB_dbi *) ((char *) self + s_tables [table].offset);
}

int seg_person_open (segmenter_t *self, MDB_txn *txn)
{
    for (size_t t = 0; t < TABLES; t++)
        if (nd_db_open (txn, s_tables [t].name, (MDB_dbi *) ((char *) self + s_tables [t].offset)))
            return -1;
    return nd_db_open (txn, "members", &self->members);
}

void seg_due_key (nd_key_t *key, int64_t due, const char *visitor)
{
    nd_key_init (key);
    nd_key_u64 (key, (uint64_t) due);
    nd_key_str (key, visitor);
}

int seg_count_member (segmenter_t *self, MDB_txn *txn, const char *segment, int delta)
{
    nd_key_t key;
    nd_key_init (&key);
    nd_key_str (&key, segment);
    uint64_t count = 0;
    if (nd_db_get_u64 (txn, self->members, &key, &count) < 0)
        return -1;
    count = delta < 0 && count == 0 ? 0 : count + (uint64_t) (int64_t) delta;
    return nd_db_put_u64 (txn, self->members, &key, count);
}

static int s_count_segments (segmenter_t *self, MDB_txn *txn, const json_t *profile, int delta)
{
    size_t index;
    json_t *name;
    json_array_foreach (json_object_get (profile, "segments"), index, name)
        if (json_is_string (name)
        &&  seg_count_member (self, txn, json_string_value (name), delta))
            return -1;
    return 0;
}

/* --------------------------------------------------------------- rows -- */

static json_t *s_b64 (const MDB_val *val)
{
    size_t size = ND_B64URL_SIZE (val->mv_size);
    char *text = (char *) malloc (size);
    json_t *string = NULL;
    if (text) {
        nd_b64url_encode ((const uint8_t *) val->mv_data, val->mv_size, text, size);
        string = json_string (text);
    }
    free (text);
    return string;
}

//  Deletes the rows of dbi whose key is key (with prefix: begins with
//  it); appends each to rows, unless NULL, as [key, value] in base64url.
static int s_take (MDB_txn *txn, MDB_dbi dbi, const nd_key_t *key, bool prefix, json_t *rows)
{
    MDB_cursor *cursor = NULL;
    MDB_val k = nd_key_val (key), v;
    int rc = mdb_cursor_open (txn, dbi, &cursor);
    if (rc == 0)
        rc = mdb_cursor_get (cursor, &k, &v, MDB_SET_RANGE);
    //  After a delete the cursor already stands on the next entry; LMDB's
    //  MDB_NEXT knows that and returns it.
    while (rc == 0 && (prefix ? k.mv_size >= key->size : k.mv_size == key->size)
           && memcmp (k.mv_data, key->data, key->size) == 0) {
        if (rows && json_array_append_new (rows, json_pack ("[o, o]", s_b64 (&k), s_b64 (&v)))) {
            mdb_cursor_close (cursor);
            nd_log ("out of memory exporting a visitor");
            return -1;
        }
        if ((rc = mdb_cursor_del (cursor, 0)) == 0)
            rc = mdb_cursor_get (cursor, &k, &v, MDB_NEXT);
    }
    if (cursor)
        mdb_cursor_close (cursor);
    return rc && rc != MDB_NOTFOUND ? nd_db_error (rc, "remove visitor") : 0;
}

//  Takes every row of visitor: its profile, the due entry the profile
//  names (read before the profile goes) and its revisit index.
static int s_take_person (segmenter_t *self, MDB_txn *txn, const char *visitor,
                          json_t **rows, json_t **profile)
{
    nd_key_t key, due_key;
    nd_key_init (&key);
    nd_key_str (&key, visitor);
    *profile = NULL;
    int rc = nd_db_get_json (txn, self->profiles, &key, profile);
    if (rc < 0)
        return -1;
    int64_t due = json_integer_value (json_object_get (*profile, "due"));
    seg_due_key (&due_key, due, visitor);
    return s_take (txn, self->profiles, &key, false, rows [0])
        || (due && s_take (txn, self->due, &due_key, false, rows [2]))
        || s_take (txn, self->revisits, &key, true, rows [1]) ? -1 : 0;
}

int seg_person_remove (segmenter_t *self, MDB_txn *txn, const char *visitor)
{
    json_t *rows [TABLES] = { NULL };
    json_t *profile = NULL;
    int rc = s_take_person (self, txn, visitor, rows, &profile);
    json_decref (profile);
    return rc;
}

/* ------------------------------------------------------------ export -- */

int seg_person_export (segmenter_t *self, MDB_txn *txn, const char *person, json_t **state)
{
    *state = NULL;
    json_t *tables = json_object ();
    json_t *rows [TABLES];
    bool held = false;
    for (size_t t = 0; t < TABLES; t++)
        json_object_set_new (tables, s_tables [t].name, rows [t] = json_array ());
    json_t *profile = NULL;
    int rc = s_take_person (self, txn, person, rows, &profile)
          || (profile && s_count_segments (self, txn, profile, -1)) ? -1 : 0;
    for (size_t t = 0; t < TABLES; t++)
        held = held || json_array_size (rows [t]) > 0;
    if (rc == 0 && held)
        *state = json_pack ("{s:s, s:O}", "person", person, "rows", tables);
    json_decref (profile);
    json_decref (tables);
    return rc;
}

/* ------------------------------------------------------------ import -- */

//  Decodes base64url text into a new buffer of *size bytes; NULL if it
//  is not nudge's base64url.
static uint8_t *s_unb64 (const json_t *text, size_t *size)
{
    const char *b64 = json_string_value (text);
    size_t length = b64 ? strlen (b64) : 0;
    uint8_t *bytes = b64 ? (uint8_t *) malloc (length * 3 / 4 + 1) : NULL;
    int decoded = bytes ? nd_b64url_decode_strict (b64, length, bytes, length * 3 / 4 + 1) : -1;
    if (decoded < 0) {
        free (bytes);
        return NULL;
    }
    *size = (size_t) decoded;
    return bytes;
}

//  Puts one exported row back; a profile row also counts its segments.
static int s_put_row (segmenter_t *self, MDB_txn *txn, size_t table, const json_t *row)
{
    MDB_val k = { 0, NULL }, v = { 0, NULL };
    k.mv_data = s_unb64 (json_array_get (row, 0), &k.mv_size);
    v.mv_data = s_unb64 (json_array_get (row, 1), &v.mv_size);
    int rc = -1;
    if (!k.mv_data || !v.mv_data || k.mv_size == 0 || json_array_size (row) != 2)
        nd_log ("import: a row of %s is not [key, value] in base64url", s_tables [table].name);
    else
    if ((rc = mdb_put (txn, s_dbi (self, table), &k, &v, 0)) != 0)
        rc = nd_db_error (rc, "import visitor");
    else
    if (table == 0) {
        char error [120] = "";
        json_t *profile = nd_json_parse ((const char *) v.mv_data, v.mv_size, error, sizeof error);
        rc = profile ? s_count_segments (self, txn, profile, 1) : -1;
        if (!profile)
            nd_log ("import: the profile does not parse: %s", error);
        json_decref (profile);
    }
    free (k.mv_data);
    free (v.mv_data);
    return rc;
}

int seg_person_import (segmenter_t *self, MDB_txn *txn, const json_t *state)
{
    const char *person = json_string_value (json_object_get (state, "person"));
    json_t *tables = json_object_get (state, "rows");
    if (!person || !*person || !json_is_object (tables)) {
        nd_log ("import: not an exported visitor (no person or rows)");
        return -1;
    }
    const char *name;
    json_t *rows;
    json_object_foreach (tables, name, rows) {
        size_t t = 0;
        while (t < TABLES && strcmp (s_tables [t].name, name))
            t++;
        if (t == TABLES || !json_is_array (rows)) {
            nd_log ("import: no table %s here, or not a list of rows", name);
            return -1;
        }
    }
    //  What was here about person is replaced, counts and all, not mixed
    json_t *before = NULL;
    if (seg_person_export (self, txn, person, &before))
        return -1;
    json_decref (before);
    for (size_t t = 0; t < TABLES; t++) {
        size_t index;
        json_t *row;
        json_array_foreach (json_object_get (tables, s_tables [t].name), index, row)
            if (s_put_row (self, txn, t, row))
                return -1;
    }
    return 0;
}

/* -------------------------------------------------------------- each -- */

int seg_person_each (segmenter_t *self, MDB_txn *txn,
                     int (*fn) (const char *person, void *arg), void *arg)
{
    MDB_cursor *cursor = NULL;
    MDB_val k, v;
    char person [ND_KEY_MAX + 1];
    int rc = mdb_cursor_open (txn, self->profiles, &cursor);
    if (rc == 0)
        rc = mdb_cursor_get (cursor, &k, &v, MDB_FIRST);
    while (rc == 0) {
        //  A copy: fn may write in txn, which may move what k points to
        size_t size = k.mv_size;
        memcpy (person, k.mv_data, size);
        person [size] = 0;
        int result = fn (person, arg);
        if (result) {
            mdb_cursor_close (cursor);
            return result;
        }
        //  Back to where we were, or past it if fn removed the person
        k.mv_size = size;
        k.mv_data = person;
        rc = mdb_cursor_get (cursor, &k, &v, MDB_SET_RANGE);
        if (rc == 0 && k.mv_size == size && memcmp (k.mv_data, person, size) == 0)
            rc = mdb_cursor_get (cursor, &k, &v, MDB_NEXT);
    }
    if (cursor)
        mdb_cursor_close (cursor);
    return rc && rc != MDB_NOTFOUND ? nd_db_error (rc, "list visitors") : 0;
}

/* ------------------------------------------------- --selftest move -- */

//  What seg_person_move_test does, step by step, and what each saw.
typedef struct {
    const char *person;
    json_t *state;              //  the export from FROM
    json_t *again;              //  a second export from FROM
    json_t *held [3];           //  FROM before, FROM after, TO after
} s_move_t;

static int s_list (const char *person, void *arg)
{
    return json_array_append_new ((json_t *) arg, json_string (person));
}

static int s_move_out (segmenter_t *self, MDB_txn *txn, s_move_t *move)
{
    return seg_person_each (self, txn, s_list, move->held [0])
        || seg_person_export (self, txn, move->person, &move->state) ? -1 : 0;
}

static int s_move_again (segmenter_t *self, MDB_txn *txn, s_move_t *move)
{
    return seg_person_export (self, txn, move->person, &move->again)
        || seg_person_each (self, txn, s_list, move->held [1]) ? -1 : 0;
}

static int s_move_in (segmenter_t *self, MDB_txn *txn, s_move_t *move)
{
    return (move->state && seg_person_import (self, txn, move->state))
        || seg_person_each (self, txn, s_list, move->held [2]) ? -1 : 0;
}

typedef int (s_step_fn) (segmenter_t *self, MDB_txn *txn, s_move_t *move);

//  One write transaction on the state in dir (made if missing): opens the
//  tables, runs step, commits. 0, or -1 (logged).
static int s_step (const char *dir, s_step_fn *step, s_move_t *move)
{
    segmenter_t self = { 0 };
    MDB_env *env = NULL;
    MDB_txn *txn = NULL;
    if (mkdir (dir, 0700) && errno != EEXIST)
        nd_log ("cannot create %s: %s", dir, strerror (errno));
    int rc = mdb_env_create (&env);
    if (rc == 0 && (rc = mdb_env_set_maxdbs (env, 64)) == 0
    &&  (rc = mdb_env_set_mapsize (env, (size_t) 1 << 30)) == 0
    &&  (rc = mdb_env_open (env, dir, MDB_NOTLS, 0600)) == 0)
        rc = mdb_txn_begin (env, NULL, 0, &txn);
    if (rc)
        rc = nd_db_error (rc, dir);
    else
    if (seg_person_open (&self, txn) || step (&self, txn, move)) {
        mdb_txn_abort (txn);
        rc = -1;
    }
    else
    if ((rc = mdb_txn_commit (txn)) != 0)
        rc = nd_db_error (rc, "commit");
    if (env)
        mdb_env_close (env);
    return rc;
}

int seg_person_move_test (const char *from, const char *to, const char *person)
{
    s_move_t move = { person, NULL, NULL, { json_array (), json_array (), json_array () } };
    int rc = s_step (from, s_move_out, &move) || s_step (from, s_move_again, &move)
          || s_step (to, s_move_in, &move) ? 1 : 0;
    json_t *report = json_pack ("{s:O?, s:O?, s:O, s:O, s:O}", "state", move.state,
                                "again", move.again, "from_before", move.held [0],
                                "from_after", move.held [1], "to_after", move.held [2]);
    char *text = report ? nd_json_dump (report, NULL) : NULL;
    if (text && rc == 0)
        printf ("%s\n", text);
    free (text);
    json_decref (report);
    json_decref (move.state);
    json_decref (move.again);
    for (size_t i = 0; i < 3; i++)
        json_decref (move.held [i]);
    return rc;
}

/* ------------------------------------------------------------ selftest -- */

//  Every row of the four tables, as base64url pairs per table.
static json_t *s_dump (segmenter_t *self, MDB_txn *txn)
{
    MDB_dbi dbis [TABLES + 1] = { self->profiles, self->revisits, self->due, self->members };
    json_t *dump = json_array ();
    for (size_t t = 0; t <= TABLES; t++) {
        json_t *rows = json_array ();
        MDB_cursor *cursor;
        MDB_val k, v;
        assert (mdb_cursor_open (txn, dbis [t], &cursor) == 0);
        for (int rc = mdb_cursor_get (cursor, &k, &v, MDB_FIRST); rc == 0;
             rc = mdb_cursor_get (cursor, &k, &v, MDB_NEXT))
            json_array_append_new (rows, json_pack ("[o, o]", s_b64 (&k), s_b64 (&v)));
        mdb_cursor_close (cursor);
        json_array_append_new (dump, rows);
    }
    return dump;
}

//  A visitor as segmenter.c writes one: profile, due entry, revisits.
static void s_visitor (segmenter_t *self, MDB_txn *txn, const char *visitor, int64_t due)
{
    json_t *profile = seg_profile_new (1767225600000LL);
    json_object_set_new (profile, "due", json_integer (due));
    json_array_append_new (json_object_get (profile, "segments"), json_string ("customer"));
    nd_key_t key;
    nd_key_init (&key);
    nd_key_str (&key, visitor);
    assert (nd_db_put_json (txn, self->profiles, &key, profile) == 0);
    for (int i = 0; i < 2; i++) {
        nd_key_u8 (&key, i ? 'c' : 'p');
        nd_key_str (&key, i ? "shoes" : "P1");
        assert (nd_db_put_u64 (txn, self->revisits, &key, 1) == 0);
        nd_key_init (&key);
        nd_key_str (&key, visitor);
    }
    seg_due_key (&key, due, visitor);
    assert (nd_db_put_raw (txn, self->due, &key, "", 0) == 0);
    assert (seg_count_member (self, txn, "customer", 1) == 0);
    json_decref (profile);
}

static int s_export_all (const char *person, void *arg)
{
    segmenter_t *self = (segmenter_t *) ((void **) arg) [0];
    json_t *state = NULL;
    int rc = seg_person_export (self, (MDB_txn *) ((void **) arg) [1], person, &state);
    assert (rc == 0 && state);
    json_decref (state);
    return 0;
}

//  Two environments, A and B, with one write transaction open on each.
static void s_envs (char dirs [2][64], MDB_env *env [2], MDB_txn *txn [2], segmenter_t self [2])
{
    for (int i = 0; i < 2; i++) {
        snprintf (dirs [i], 64, "/tmp/seg-move-test-XXXXXX");
        assert (mkdtemp (dirs [i]));
        assert (mdb_env_create (&env [i]) == 0 && mdb_env_set_maxdbs (env [i], 8) == 0);
        assert (mdb_env_open (env [i], dirs [i], MDB_NOTLS | MDB_NOSYNC, 0600) == 0);
        assert (mdb_txn_begin (env [i], NULL, 0, &txn [i]) == 0);
        assert (seg_person_open (&self [i], txn [i]) == 0);
    }
}

void seg_person_test (bool verbose)
{
    if (verbose)
        printf (" * seg_person: ");
    char dirs [2][64];
    MDB_env *env [2];
    MDB_txn *txn [2];
    segmenter_t self [2] = { { 0 } };
    s_envs (dirs, env, txn, self);
    //  v-1 is a prefix of v-10's id: only v-1's rows may move
    s_visitor (&self [0], txn [0], "v-1", 1767225600000LL + 1000);
    s_visitor (&self [0], txn [0], "v-10", 1767225600000LL + 2000);
    json_t *original = s_dump (&self [0], txn [0]);
    json_t *people = json_array ();
    assert (seg_person_each (&self [0], txn [0], s_list, people) == 0);
    assert (json_array_size (people) == 2);
    json_decref (people);

    json_t *state = NULL, *again = NULL;
    assert (seg_person_export (&self [0], txn [0], "v-1", &state) == 0 && state);
    json_t *rows = json_object_get (state, "rows");
    assert (json_array_size (json_object_get (rows, "profiles")) == 1);
    assert (json_array_size (json_object_get (rows, "revisits")) == 2);
    assert (json_array_size (json_object_get (rows, "due")) == 1);
    assert (seg_person_export (&self [0], txn [0], "v-1", &again) == 0 && !again);
    assert (seg_person_import (&self [1], txn [1], state) == 0);
    //  Imported twice: the same rows, counted once
    assert (seg_person_import (&self [1], txn [1], state) == 0);
    json_t *moved = NULL;
    assert (seg_person_export (&self [1], txn [1], "v-1", &moved) == 0 && json_equal (moved, state));
    assert (seg_person_import (&self [0], txn [0], moved) == 0);
    json_t *back = s_dump (&self [0], txn [0]);
    assert (json_equal (back, original));
    json_decref (back);

    //  What a re-partition tool does: every person out while listing them
    void *args [2] = { &self [0], txn [0] };
    assert (seg_person_each (&self [0], txn [0], s_export_all, args) == 0);
    json_t *empty = s_dump (&self [0], txn [0]);
    for (size_t t = 0; t < TABLES; t++)
        assert (json_array_size (json_array_get (empty, t)) == 0);
    json_decref (empty);

    json_t *bad = json_pack ("{s:s, s:{s:[[s, s]]}}", "person", "v-2", "rows", "sessions", "AA", "");
    assert (seg_person_import (&self [1], txn [1], bad) == -1);
    json_decref (bad);
    json_decref (moved);
    json_decref (state);
    json_decref (original);
    for (int i = 0; i < 2; i++) {
        mdb_txn_abort (txn [i]);
        mdb_env_close (env [i]);
        for (const char *const *file = (const char *[]) { "data.mdb", "lock.mdb", NULL };
             *file; file++) {
            char path [160];
            snprintf (path, sizeof path, "%s/%s", dirs [i], *file);
            unlink (path);
        }
        rmdir (dirs [i]);
    }
    if (verbose)
        printf ("OK\n");
}
