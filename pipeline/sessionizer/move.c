/*  move.c - one person's state, out of this partition and into another.

    Layer: store: calls visitor.c (records, one hop of a merge), due.c
    (the time-ordered keys), catalogue.c (a product's count of watchers)
    and the base.

    A partitioned sessionizer runs as N instances, each owning a share of
    the people. When an identify or alias joins two people who live in
    different partitions, the runtime exports the loser from its partition
    and imports it into the survivor's, where the ordinary merge code then
    joins them; a re-partition tool does the same for everyone.

    The export is the person's rows, raw: for each table that is per
    person, [key, value] pairs in hex, deleted in the same transaction.
    The import puts them back verbatim, so a round trip is byte-exact by
    construction, time-keyed indexes included:

      {"person": "v-7", "format": 1,
       "tables": {"visitors": [["762d3700", "01000000..."]], "ids": [...], ...}}

    "The person" is the surviving visitor id and every visitor merged into
    it earlier (records holding only a pointer, which ids not yet
    rewritten still resolve through). Each table is found through the
    person's own records, not by scanning it:

      ids        the profile's userIds and anonymousIds, each taken when
                 its row still resolves to the person (a shared device
                 may have moved it on). A profile lists only the latest
                 PROFILE_IDS_MAX of a kind, so when a list is that long
                 (older ids may have gone from it) or the profile is
                 missing, the whole ids table is walked instead: the one
                 full scan, paid only by a person with 50 ids of a kind:
                 0.85 s for a million ids (test box, 2 cores), against
                 under 1 ms for a person found through their profile.
      visitors, profiles, carts
                 the id's key, for the person and each merged visitor:
                 those met on the way from an id to the person, and those
                 the profile lists as "merged" (identity.c notes each
                 merge there), the only way to one whose ids were all
                 rewritten. One merged before that list existed, or
                 pushed out of it (PROFILE_IDS_MAX), is found through
                 ids alone: when none leads through it any more, its
                 pointer record stays behind, resolving nothing.
      viewed, watching
                 the id's prefix; each watching row names a watchers row
                 (product + visitor), taken with it
      expiry     the open session's entry, at the expiry the record holds
      idle       an identified or merged visitor's entry is left where
                 it was armed, at a deadline its record no longer says:
                 the deadlines retention_deadline gives for an activity
                 between the person's last minus the retention and their
                 last are probed, one slack apart (visitor-retention /
                 slack + 3 point reads: 183 for 180d). An entry armed
                 under another visitor-retention is not found; left
                 behind, it is dropped as stale when it comes due.
      claims     i64 day first: for each day present (two or three),
                 the (day, visitor) prefix

    Shared data does not move: products, popular and together describe
    the catalogue, and counters are totals. One thing in products does:
    its count of watchers bounds the watchers of one product per
    partition, so a watcher row leaving takes one from it (and one
    arriving adds one).                                                   */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "nd_json.h"
#include "move.h"
#include "catalogue.h"
#include "due.h"
#include "visitor.h"

#define MOVE_FORMAT 1
#define MERGE_HOPS_MAX 32           //  as visitor.c: a longer chain is damage
#define STRANGERS_MAX 4096          //  visitors remembered as not the person

//  The tables that hold rows per person, by the name an export uses.
static const struct {
    const char *name;
    size_t dbi;                     //  offset of its MDB_dbi in sessionizer_t
} s_tables [] = {
    { "ids", offsetof (sessionizer_t, ids) },
    { "visitors", offsetof (sessionizer_t, visitors) },
    { "profiles", offsetof (sessionizer_t, profiles) },
    { "carts", offsetof (sessionizer_t, carts) },
    { "viewed", offsetof (sessionizer_t, viewed) },
    { "expiry", offsetof (sessionizer_t, expiry) },
    { "idle", offsetof (sessionizer_t, idle) },
    { "claims", offsetof (sessionizer_t, claims) },
    { "watchers", offsetof (sessionizer_t, watchers) },
    { "watching", offsetof (sessionizer_t, watching) },
    { NULL, 0 }
};

static MDB_dbi s_dbi (sessionizer_t *self, const char *name)
{
    for (int i = 0; s_tables [i].name; i++)
        if (strcmp (s_tables [i].name, name) == 0)
            return *(MDB_dbi *) ((char *) self + s_tables [i].dbi);
    return 0;
}

/* ----------------------------------------------------------- taking */

//  One export under way.
typedef struct {
    sessionizer_t *self;
    MDB_txn *txn;
    const char *person;
    json_t *tables;                 //  name -> [[key, value], ...]; NULL: dropped
    json_t *merged;                 //  visitor id -> true: merged into person
    json_t *strangers;              //  visitor id -> true: leads elsewhere
    json_t *found;                  //  the walk of ids: hex keys leading home
} s_move_t;

//  Takes the row under key, if there is one: 1, 0, or -1.
static int s_take (s_move_t *move, const char *table, const void *key, size_t size)
{
    MDB_dbi dbi = s_dbi (move->self, table);
    uint8_t copy [ND_KEY_MAX];
    if (size == 0 || size > sizeof copy)
        return 0;
    memcpy (copy, key, size);       //  key may point into a page the delete changes
    MDB_val k = { size, copy }, v;
    int rc = mdb_get (move->txn, dbi, &k, &v);
    if (rc == MDB_NOTFOUND)
        return 0;
    if (rc)
        return nd_db_error (rc, table);
    //  Without tables the person is dropped, not moved: nothing is kept
    json_t *rows = move->tables ? json_object_get (move->tables, table) : NULL;
    if (move->tables && !rows) {
        rows = json_array ();
        json_object_set_new (move->tables, table, rows);
    }
    json_t *row = move->tables ? json_pack ("[o,o]", nd_move_hex (copy, size),
                                            nd_move_hex (v.mv_data, v.mv_size))
                               : NULL;
    if (move->tables && (!row || json_array_append_new (rows, row))) {
        nd_log ("person export: out of memory");
        return -1;                  //  never delete a row not kept
    }
    rc = mdb_del (move->txn, dbi, &k, NULL);
    return rc ? nd_db_error (rc, table) : 1;
}

static int s_take_key (s_move_t *move, const char *table, const nd_key_t *key)
{
    return key->overflow ? 0 : s_take (move, table, key->data, key->size);
}

//  The first key at or after from (from empty: the first), into found:
//  1, 0 when there is none, -1.
static int s_first_at (MDB_txn *txn, MDB_dbi dbi, const nd_key_t *from, nd_key_t *found)
{
    MDB_cursor *cursor;
    int rc = mdb_cursor_open (txn, dbi, &cursor);
    if (rc)
        return nd_db_error (rc, "move cursor");
    MDB_val k = nd_key_val (from), v;
    rc = mdb_cursor_get (cursor, &k, &v, from->size ? MDB_SET_RANGE : MDB_FIRST);
    int result = rc == MDB_NOTFOUND ? 0 : rc ? nd_db_error (rc, "move cursor") : 1;
    if (result == 1 && k.mv_size <= ND_KEY_MAX) {
        nd_key_init (found);
        memcpy (found->data, k.mv_data, k.mv_size);
        found->size = k.mv_size;
    }
    else
    if (result == 1)
        result = 0;                 //  LMDB keeps keys under 511: not ours
    mdb_cursor_close (cursor);
    return result;
}

//  Takes every row whose key starts with prefix; each taken key goes to
//  then (NULL: none), which may take more. 0 / -1.
static int s_take_prefix (s_move_t *move, const char *table, const nd_key_t *prefix,
                          int (*then) (s_move_t *move, const nd_key_t *key))
{
    nd_key_t key;
    int rc;
    while ((rc = s_first_at (move->txn, s_dbi (move->self, table), prefix, &key)) == 1
       &&  key.size >= prefix->size && memcmp (key.data, prefix->data, prefix->size) == 0) {
        if (s_take_key (move, table, &key) < 0 || (then && then (move, &key)))
            return -1;
    }
    return rc < 0 ? -1 : 0;
}

//  A watching row (visitor + product) names its watchers row (product +
//  visitor), which leaves this partition's count of the product's watchers.
static int s_take_watcher (s_move_t *move, const nd_key_t *watching)
{
    const char *visitor = (const char *) watching->data;
    size_t length = strnlen (visitor, watching->size);
    if (length + 1 >= watching->size || watching->data [watching->size - 1])
        return 0;
    const char *product = visitor + length + 1;
    nd_key_t key;
    nd_key_init (&key);
    nd_key_str (&key, product);
    nd_key_str (&key, visitor);
    int rc = s_take_key (move, "watchers", &key);
    return rc > 0 ? catalogue_watchers_add (move->self, move->txn, product, -1) : rc;
}

//  claims: i64 day + visitor + ...; a seek per day held.
static int s_take_claims (s_move_t *move, const char *visitor)
{
    nd_key_t from, found;
    nd_key_init (&from);
    int rc;
    while ((rc = s_first_at (move->txn, move->self->claims, &from, &found)) == 1) {
        MDB_val k = nd_key_val (&found);
        if (found.size < 8)
            return 0;
        int64_t day = nd_key_get_i64 (&k, 0);
        nd_key_t prefix;
        nd_key_init (&prefix);
        nd_key_i64 (&prefix, day);
        nd_key_str (&prefix, visitor);
        if (s_take_prefix (move, "claims", &prefix, NULL))
            return -1;
        if (day == INT64_MAX)
            return 0;
        nd_key_init (&from);
        nd_key_i64 (&from, day + 1);
    }
    return rc;
}

//  idle: every deadline an activity in [last - retention, last] arms.
static int s_take_idle (s_move_t *move, const char *visitor, int64_t last)
{
    sessionizer_t *self = move->self;
    int64_t slack = self->retention_slack;
    if (self->retention <= 0 || slack <= 0 || last <= 0)
        return 0;
    int64_t from = last - self->retention - 2 * slack;
    for (int64_t at = from > 0 ? from : 0; at <= last + slack - 1; at += slack) {
        nd_key_t key;
        due_key (&key, retention_deadline (self, at < last ? at : last), visitor);
        if (s_take_key (move, "idle", &key) < 0)
            return -1;
    }
    return 0;
}

//  Everything kept under one visitor id (the person or one merged in).
static int s_take_visitor (s_move_t *move, const char *visitor, int64_t last)
{
    nd_key_t key;
    visitor_key (&key, visitor);
    return s_take_key (move, "visitors", &key) < 0 || s_take_key (move, "profiles", &key) < 0
        || s_take_key (move, "carts", &key) < 0
        || s_take_prefix (move, "viewed", &key, NULL)
        || s_take_prefix (move, "watching", &key, s_take_watcher)
        || s_take_idle (move, visitor, last) || s_take_claims (move, visitor) ? -1 : 0;
}

/* -------------------------------------------------------------- ids */

//  Whether an id bound to visitor resolves to the person: 1, 0, -1. The
//  visitors passed on the way are remembered, merged or strangers.
static int s_leads_home (s_move_t *move, const char *visitor)
{
    json_t *chain = json_array ();
    char at [VISITOR_ID_MAX];
    snprintf (at, sizeof at, "%s", visitor);
    int result = 0;
    for (int hop = 0; hop < MERGE_HOPS_MAX && result == 0; hop++) {
        if (strcmp (at, move->person) == 0 || json_object_get (move->merged, at)) {
            result = 1;
            break;
        }
        if (json_object_get (move->strangers, at))
            break;
        json_array_append_new (chain, json_string (at));
        visitor_t *record = visitor_load_one (move->self, move->txn, at);
        bool merged = record && record->merged_into;
        if (!record)
            result = -1;
        else
        if (merged)
            snprintf (at, sizeof at, "%s", record->merged_into);
        visitor_destroy (&record);
        if (!merged)
            break;                  //  a person of their own (or an error)
    }
    size_t index;
    json_t *id;
    //  Strangers are remembered only so many: a walk of the whole ids
    //  table meets every visitor, mostly once
    json_array_foreach (chain, index, id)
        if (result == 1 || (result == 0 && json_object_size (move->strangers) < STRANGERS_MAX))
            json_object_set (result == 1 ? move->merged : move->strangers,
                             json_string_value (id), json_true ());
    json_decref (chain);
    return result;
}

//  Takes the ids row under key when it resolves to the person.
static int s_take_id (s_move_t *move, const nd_key_t *key)
{
    MDB_val k = nd_key_val (key), v;
    int rc = mdb_get (move->txn, move->self->ids, &k, &v);
    if (rc == MDB_NOTFOUND)
        return 0;
    if (rc)
        return nd_db_error (rc, "ids");
    char visitor [VISITOR_ID_MAX];
    if (v.mv_size == 0 || v.mv_size > sizeof visitor)
        return 0;
    memcpy (visitor, v.mv_data, v.mv_size);
    visitor [v.mv_size - 1] = 0;
    int home = s_leads_home (move, visitor);
    return home == 1 ? (s_take_key (move, "ids", key) < 0 ? -1 : 0) : home;
}

static int s_take_listed (s_move_t *move, const json_t *profile, const char *list, char kind)
{
    size_t index;
    json_t *id;
    json_array_foreach (json_object_get (profile, list), index, id) {
        const char *text = json_string_value (id);
        nd_key_t key;
        nd_key_init (&key);
        nd_key_u8 (&key, (uint8_t) kind);
        nd_key_str (&key, text ? text : "");
        if (text && !key.overflow && s_take_id (move, &key))
            return -1;
    }
    return 0;
}

//  One row of the walk of the whole ids table: its key, if it leads home.
static int s_id_home (const MDB_val *key, const MDB_val *data, void *move_)
{
    s_move_t *move = (s_move_t *) move_;
    char visitor [VISITOR_ID_MAX];
    if (data->mv_size == 0 || data->mv_size > sizeof visitor || key->mv_size > ND_KEY_MAX)
        return 0;
    memcpy (visitor, data->mv_data, data->mv_size);
    visitor [data->mv_size - 1] = 0;
    int home = s_leads_home (move, visitor);
    if (home == 1)
        json_array_append_new (move->found, nd_move_hex (key->mv_data, key->mv_size));
    return home < 0 ? -1 : 0;
}

//  The walk of the whole ids table (see the top of this file): one
//  cursor reads, and the keys found are taken after it, so it never sees
//  its table change under it.
static int s_take_all_ids (s_move_t *move)
{
    nd_key_t all;
    nd_key_init (&all);
    int rc = nd_db_scan (move->txn, move->self->ids, &all, s_id_home, move);
    size_t index;
    json_t *hex;
    json_array_foreach (move->found, index, hex) {
        uint8_t *data;
        size_t size;
        if (rc == 0 && nd_move_unhex (hex, &data, &size) == 0) {
            rc = s_take (move, "ids", data, size) < 0 ? -1 : 0;
            free (data);
        }
    }
    return rc ? -1 : 0;
}

//  The visitors the profile lists as merged in, whose records still lead
//  here: one whose ids were all rewritten is found no other way.
static int s_find_merged (s_move_t *move, const json_t *profile)
{
    size_t index;
    json_t *id;
    json_array_foreach (json_object_get (profile, "merged"), index, id) {
        const char *text = json_string_value (id);
        if (text && strlen (text) < VISITOR_ID_MAX && s_leads_home (move, text) < 0)
            return -1;
    }
    return 0;
}

static int s_take_ids (s_move_t *move, const json_t *profile)
{
    if (!profile
    ||  json_array_size (json_object_get (profile, "userIds")) >= PROFILE_IDS_MAX
    ||  json_array_size (json_object_get (profile, "anonymousIds")) >= PROFILE_IDS_MAX)
        return s_take_all_ids (move);
    return s_take_listed (move, profile, "userIds", 'u')
        || s_take_listed (move, profile, "anonymousIds", 'a') ? -1 : 0;
}

/* ----------------------------------------------------------- export */

//  Takes every row of person out of the state, into tables (a move), or
//  into nothing when tables is NULL (a drop): 1, 0 when the stage holds
//  nothing of person (or person is merged away), or -1.
static int s_take_person (sessionizer_t *self, MDB_txn *txn, const char *person, json_t *tables)
{
    if (!person || !*person || strlen (person) >= VISITOR_ID_MAX)
        return 0;
    nd_key_t key;
    visitor_key (&key, person);
    MDB_val k = nd_key_val (&key), v;
    int rc = mdb_get (txn, self->visitors, &k, &v);
    if (rc == MDB_NOTFOUND)
        return 0;
    if (rc)
        return nd_db_error (rc, "visitors");
    visitor_t *visitor = visitor_load_one (self, txn, person);
    if (!visitor || visitor->merged_into) {
        rc = visitor ? 0 : -1;
        visitor_destroy (&visitor);
        return rc;
    }
    //  A profile that does not parse still moves, as its raw row; its
    //  ids are then found by the walk of the whole ids table
    rc = mdb_get (txn, self->profiles, &k, &v);
    if (rc && rc != MDB_NOTFOUND)
        rc = nd_db_error (rc, "profiles");
    json_t *profile = rc == 0 ? nd_json_parse ((const char *) v.mv_data, v.mv_size, NULL, 0) : NULL;
    rc = rc < 0 ? -1 : 0;
    s_move_t move = { self, txn, person, tables, json_object (), json_object (), json_array () };
    if (rc == 0)
        rc = s_take_ids (&move, profile) || s_find_merged (&move, profile) ? -1 : 0;
    if (rc == 0 && visitor->in_session) {
        nd_key_t entry;
        due_key (&entry, visitor->session.expiry, person);
        rc = s_take_key (&move, "expiry", &entry) < 0 ? -1 : 0;
    }
    if (rc == 0)
        rc = s_take_visitor (&move, person, visitor->last);
    const char *merged;
    json_t *value;
    json_object_foreach (move.merged, merged, value)
        if (rc == 0)
            rc = s_take_visitor (&move, merged, visitor->last);
    json_decref (move.merged);
    json_decref (move.strangers);
    json_decref (move.found);
    json_decref (profile);
    visitor_destroy (&visitor);
    return rc == 0 ? 1 : -1;
}

int sessionizer_person_export (sessionizer_t *self, MDB_txn *txn, const char *person,
                               json_t **state)
{
    *state = NULL;
    json_t *tables = json_object ();
    int rc = s_take_person (self, txn, person, tables);
    if (rc == 1 && !(*state = json_pack ("{s:s, s:i, s:O}", "person", person, "format",
                                         MOVE_FORMAT, "tables", tables)))
        rc = -1;
    json_decref (tables);
    return rc < 0 ? -1 : 0;
}

int sessionizer_person_drop (sessionizer_t *self, MDB_txn *txn, const char *person)
{
    int rc = s_take_person (self, txn, person, NULL) < 0 ? -1 : 0;
    //  A record export does not take (none, or only a pointer) leaves its
    //  rows under the id alone
    nd_key_t key;
    visitor_key (&key, person);
    if (rc == 0
    &&  (nd_db_del (txn, self->profiles, &key) < 0 || nd_db_del (txn, self->carts, &key) < 0
    ||   nd_db_del (txn, self->visitors, &key) < 0))
        rc = -1;
    return rc;
}

/* ----------------------------------------------------------- import */

//  One [hex key, hex value] row put back; a watcher new here counts.
static int s_put_row (sessionizer_t *self, MDB_txn *txn, const char *table, const json_t *row)
{
    uint8_t *key = NULL, *value = NULL;
    size_t key_size = 0, value_size = 0;
    int rc = nd_move_unhex (json_array_get (row, 0), &key, &key_size)
          || nd_move_unhex (json_array_get (row, 1), &value, &value_size)
          || key_size == 0 || key_size > ND_KEY_MAX ? -1 : 0;
    if (rc)
        nd_log ("person import: a row of %s is not [hex key, hex value]", table);
    MDB_dbi dbi = s_dbi (self, table);
    MDB_val k = { key_size, key }, v = { value_size, value }, old;
    int found = rc == 0 ? mdb_get (txn, dbi, &k, &old) : MDB_NOTFOUND;
    if (found && found != MDB_NOTFOUND)
        rc = nd_db_error (found, table);
    //  Another person under the same visitor id: ids minted apart collide
    if (rc == 0 && found == 0 && strcmp (table, "visitors") == 0 && memchr (key, 0, key_size)
    &&  (old.mv_size != value_size || memcmp (old.mv_data, value, value_size)))
        nd_log ("person import: visitor %s was here already, with other state: overwritten",
                (const char *) key);
    bool counted = rc == 0 && found == MDB_NOTFOUND && strcmp (table, "watchers") == 0
                && memchr (key, 0, key_size);
    int put = rc == 0 ? mdb_put (txn, dbi, &k, &v, 0) : 0;
    if (put)
        rc = nd_db_error (put, table);
    if (rc == 0 && counted)
        rc = catalogue_watchers_add (self, txn, (const char *) key, 1);
    free (key);
    free (value);
    return rc;
}

int sessionizer_person_import (sessionizer_t *self, MDB_txn *txn, const json_t *state)
{
    json_t *tables = json_object_get (state, "tables");
    if (json_integer_value (json_object_get (state, "format")) != MOVE_FORMAT
    ||  !json_is_object (tables)) {
        nd_log ("person import: not a sessionizer person of format %d", MOVE_FORMAT);
        return -1;
    }
    const char *table;
    json_t *rows;
    json_object_foreach (tables, table, rows) {
        if (!s_dbi (self, table) || !json_is_array (rows)) {
            nd_log ("person import: no table \"%s\" holds people here", table);
            return -1;
        }
        size_t index;
        json_t *row;
        json_array_foreach (rows, index, row)
            if (s_put_row (self, txn, table, row))
                return -1;
    }
    return 0;
}

/* ------------------------------------------------------------ lists */

int sessionizer_person_each (sessionizer_t *self, MDB_txn *txn,
                             int (*fn) (const char *person, void *arg), void *arg)
{
    nd_key_t from, key;
    nd_key_init (&from);
    int rc;
    //  A seek per visitor, not one cursor: fn may delete what it is given
    while ((rc = s_first_at (txn, self->visitors, &from, &key)) == 1) {
        from = key;
        nd_key_u8 (&from, 0);
        char id [VISITOR_ID_MAX];
        if (key.size > sizeof id || key.data [key.size - 1])
            continue;
        memcpy (id, key.data, key.size);
        visitor_t *record = visitor_load_one (self, txn, id);
        if (!record)
            return -1;
        bool person = !record->merged_into;
        visitor_destroy (&record);
        int result = person ? fn (id, arg) : 0;
        if (result)
            return result;
    }
    return rc < 0 ? -1 : 0;
}

int sessionizer_person_of (sessionizer_t *self, MDB_txn *txn, char kind, const char *id,
                           char *buf, size_t size)
{
    nd_key_t key;
    nd_key_init (&key);
    nd_key_u8 (&key, (uint8_t) kind);
    nd_key_str (&key, id ? id : "");
    if (!id || key.overflow)
        return ND_NOTFOUND;
    MDB_val k = nd_key_val (&key), v;
    int rc = mdb_get (txn, self->ids, &k, &v);
    if (rc == MDB_NOTFOUND)
        return ND_NOTFOUND;
    if (rc)
        return nd_db_error (rc, "ids");
    char visitor [VISITOR_ID_MAX] = "";
    if (v.mv_size > 0 && v.mv_size <= sizeof visitor)
        memcpy (visitor, v.mv_data, v.mv_size);
    visitor [sizeof visitor - 1] = 0;
    bool moved;
    visitor_t *survivor = visitor_load (self, txn, visitor, &moved);
    if (!survivor)
        return -1;
    int length = snprintf (buf, size, "%s", survivor->id);
    visitor_destroy (&survivor);
    return length < 0 || (size_t) length >= size ? -1 : 0;
}
