/*  collector_route - the person router: which visitor an event is about,
    decided in the collector, before the sessionizer sees the event.

    Layer: store and rules of the collector; collector.c calls it in its
    write transaction, once per accepted event.

    A partitioned stage (README "Partitioned stages") owns the people whose
    visitor id v has nd_route_key (v) % N equal to its partition. Visitor
    ids are the sessionizer's ("v-1", "v-2", ...), and the sessionizer
    needs every event about a person in one partition, so the collector
    must know an event's visitor before the sessionizer does. The router
    keeps a mirror of the sessionizer's identity graph and resolves each
    event exactly as identity_resolve (pipeline/sessionizer/identity.c)
    will: the alias's previousId looked up as a userId first, the shared
    device (a device whose visitor has another userId moves to the person
    now logged in), a new userId extending a visitor, two visitors
    merged into the one holding the userId, merged visitors left as
    pointers to the survivor. It mints visitor ids where the sessionizer
    would, from a counter of its own, and stamps each event with
    "visitor"; the sessionizer takes the stamp when it mints, so a
    partitioned and an unpartitioned sessionizer name people alike.

    It is on only when some consumer of the collector is partitioned.
    Tables in the collector's LMDB:
      route.ids       kind ('a' anonymousId, 'u' userId), id -> visitor
      route.visitors  visitor -> its userId NUL merged-into NUL ("" none)
      route.owned     visitor, kind, id -> "": the ids that led to it and
                      (kind 'm') the visitors merged into it, what an
                      erasure removes
      route.meta      "next-visitor" -> the counter
    The sessionizer's retention (forgetting idle anonymous visitors) is
    not mirrored: the router keeps every id it saw until it is erased.  */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include "collector_route.h"
#include "nd_json.h"
#include "nd_pipefile.h"

//  The sessionizer's limits (pipeline/sessionizer/base.h, visitor.c): the
//  longest userId / anonymousId it takes, and the longest merge chain.
#define SHOP_ID_MAX 400
#define MERGE_HOPS_MAX 32

#define KIND_ANONYMOUS 'a'
#define KIND_USER 'u'
#define KIND_MERGED 'm'

struct _collector_route_t {
    MDB_dbi ids, visitors, owned, meta;
    int parts;
};

//  A visitor as the sessionizer's record has it, for identity's sake.
typedef struct {
    char id [COLLECTOR_VISITOR_MAX];
    char user_id [SHOP_ID_MAX + 1];             //  "" for none
    char merged_into [COLLECTOR_VISITOR_MAX];   //  "" for none
} s_visitor_t;

//  One resolution: the event as the sessionizer reads it, and where.
typedef struct {
    collector_route_t *self;
    MDB_txn *txn;
    bool alias;
    const char *user_id;
    const char *anonymous_id;       //  an alias's previousId
    collector_merge_t *merge;
} s_resolve_t;

/* ---------------------------------------------------------- pipeline */

static bool s_reads (nd_pipefile_t *file, const char *consumer, const char *stage)
{
    zlist_t *inputs = nd_pipefile_inputs (file, consumer);
    bool reads = false;
    for (const char *name = (const char *) zlist_first (inputs); name && !reads;
         name = (const char *) zlist_next (inputs))
        reads = streq (name, stage);
    zlist_destroy (&inputs);
    return reads;
}

int collector_route_parts (const char *config, const char *stage, int *parts)
{
    char *error = NULL;
    nd_pipefile_t *file = nd_pipefile_load_stage (config, &error);
    if (!file) {
        nd_log ("%s", error);
        free (error);
        return -1;
    }
    *parts = 1;
    const char *first = NULL;
    int rc = 0;
    for (size_t i = 0; i < nd_pipefile_size (file) && rc == 0; i++) {
        const char *consumer = nd_pipefile_stage (file, i);
        int count;
        nd_pipefile_partition (file, consumer, &count);
        if (count < 2 || !s_reads (file, consumer, stage))
            continue;
        if (*parts > 1 && count != *parts) {
            const char *section = nd_pipefile_section_name (file, consumer);
            nd_log ("%s:%d: %s: partitions = %d, but %s reads %s in %d: the collector "
                    "routes people one way, for one count", nd_pipefile_path (file),
                    nd_pipefile_line (file, section, "partitions", 0), section, count,
                    first, stage, *parts);
            rc = -1;
        }
        *parts = count;
        first = first ? first : nd_pipefile_section_name (file, consumer);
    }
    nd_pipefile_destroy (&file);
    return rc;
}

/* ------------------------------------------------------------- class */

collector_route_t *collector_route_new (MDB_txn *txn, int parts)
{
    collector_route_t *self = (collector_route_t *) zmalloc (sizeof *self);
    self->parts = parts;
    if (nd_db_open (txn, "route.ids", &self->ids)
    ||  nd_db_open (txn, "route.visitors", &self->visitors)
    ||  nd_db_open (txn, "route.owned", &self->owned)
    ||  nd_db_open (txn, "route.meta", &self->meta))
        collector_route_destroy (&self);
    return self;
}

void collector_route_destroy (collector_route_t **self_p)
{
    if (*self_p) {
        free (*self_p);
        *self_p = NULL;
    }
}

/* ------------------------------------------------------------- store */

static void s_id_key (nd_key_t *key, char kind, const char *id)
{
    nd_key_init (key);
    nd_key_u8 (key, (uint8_t) kind);
    nd_key_str (key, id);
}

static void s_owned_key (nd_key_t *key, const char *visitor, char kind, const char *id)
{
    nd_key_init (key);
    nd_key_str (key, visitor);
    if (kind) {
        nd_key_u8 (key, (uint8_t) kind);
        nd_key_str (key, id);
    }
}

//  route.meta's visitor counter (s_new_person, the seed)
static void s_counter_key (nd_key_t *key)
{
    nd_key_init (key);
    nd_key_str (key, "next-visitor");
}

static void s_visitor_key (nd_key_t *key, const char *visitor)
{
    nd_key_init (key);
    nd_key_str (key, visitor);
}

//  A visitor without a record is a new one of that id, as the
//  sessionizer's visitor_load makes it.
static int s_get (s_resolve_t *r, const char *id, s_visitor_t *visitor)
{
    memset (visitor, 0, sizeof *visitor);
    snprintf (visitor->id, sizeof visitor->id, "%s", id);
    nd_key_t key;
    s_visitor_key (&key, id);
    MDB_val k = nd_key_val (&key), v;
    int rc = mdb_get (r->txn, r->self->visitors, &k, &v);
    if (rc == MDB_NOTFOUND)
        return 0;
    if (rc)
        return nd_db_error (rc, "route.visitors");
    const char *user = (const char *) v.mv_data;
    size_t user_size = strnlen (user, v.mv_size);
    if (user_size < v.mv_size && user_size < sizeof visitor->user_id) {
        memcpy (visitor->user_id, user, user_size);
        snprintf (visitor->merged_into, sizeof visitor->merged_into, "%.*s",
                  (int) (v.mv_size - user_size - 1), user + user_size + 1);
    }
    return 0;
}

static int s_put (s_resolve_t *r, const s_visitor_t *visitor)
{
    char record [sizeof visitor->user_id + sizeof visitor->merged_into];
    size_t user_size = strlen (visitor->user_id) + 1;
    memcpy (record, visitor->user_id, user_size);
    memcpy (record + user_size, visitor->merged_into, strlen (visitor->merged_into) + 1);
    nd_key_t key;
    s_visitor_key (&key, visitor->id);
    return nd_db_put_raw (r->txn, r->self->visitors, &key, record,
                          user_size + strlen (visitor->merged_into) + 1);
}

//  Follows merges to the survivor. ND_NOTFOUND for a chain longer than
//  the sessionizer follows: it resolves such an event to no one.
static int s_load (s_resolve_t *r, const char *id, s_visitor_t *visitor, bool *moved)
{
    *moved = false;
    int rc = s_get (r, id, visitor);
    for (int hop = 0; rc == 0 && *visitor->merged_into; hop++) {
        if (hop == MERGE_HOPS_MAX)
            return ND_NOTFOUND;
        char next [COLLECTOR_VISITOR_MAX];
        memcpy (next, visitor->merged_into, sizeof next);
        rc = s_get (r, next, visitor);
        *moved = true;
    }
    return rc;
}

static int s_bind (s_resolve_t *r, char kind, const char *id, const char *visitor)
{
    nd_key_t key;
    s_id_key (&key, kind, id);
    return nd_db_put_raw (r->txn, r->self->ids, &key, visitor, strlen (visitor) + 1);
}

//  The visitor id an id is bound to, as stored: 0 with *found, or -1.
static int s_bound (s_resolve_t *r, char kind, const char *id, char *visitor, bool *found)
{
    nd_key_t key;
    s_id_key (&key, kind, id);
    MDB_val k = nd_key_val (&key), v;
    int rc = mdb_get (r->txn, r->self->ids, &k, &v);
    *found = rc == 0;
    if (rc == 0)
        snprintf (visitor, COLLECTOR_VISITOR_MAX, "%.*s",
                  (int) strnlen ((const char *) v.mv_data, v.mv_size), (const char *) v.mv_data);
    return rc == 0 || rc == MDB_NOTFOUND ? 0 : nd_db_error (rc, "route.ids");
}

//  The visitor an id leads to: 0 with *found, ND_NOTFOUND (see s_load), -1.
static int s_find (s_resolve_t *r, char kind, const char *id, s_visitor_t *visitor, bool *found)
{
    char text [COLLECTOR_VISITOR_MAX];
    bool moved;
    int rc = s_bound (r, kind, id, text, found);
    if (rc || !*found)
        return rc;
    rc = s_load (r, text, visitor, &moved);
    //  As the sessionizer: the id now points at the survivor directly
    return rc == 0 && moved ? s_bind (r, kind, id, visitor->id) : rc;
}

static int s_own (s_resolve_t *r, const char *visitor, char kind, const char *id)
{
    nd_key_t key;
    s_owned_key (&key, visitor, kind, id);
    return nd_db_put_raw (r->txn, r->self->owned, &key, "", 0);
}

/* -------------------------------------------------------------- seed */

//  One line of the seed: the counter, a visitor record or an id.
static int s_seed_line (s_resolve_t *r, const json_t *line, long *people)
{
    const char *visitor = json_string_value (json_object_get (line, "visitor"));
    const char *kind = json_string_value (json_object_get (line, "kind"));
    const char *id = json_string_value (json_object_get (line, "id"));
    if (json_is_integer (json_object_get (line, "next"))) {
        nd_key_t key;
        s_counter_key (&key);
        return nd_db_put_u64 (r->txn, r->self->meta, &key,
                              (uint64_t) json_integer_value (json_object_get (line, "next")));
    }
    if (!visitor || !*visitor || strlen (visitor) >= COLLECTOR_VISITOR_MAX)
        return -1;
    if (kind) {
        if ((*kind != KIND_ANONYMOUS && *kind != KIND_USER) || kind [1] || !id || !*id
        ||  strlen (id) > SHOP_ID_MAX)
            return -1;
        return s_bind (r, *kind, id, visitor) || s_own (r, visitor, *kind, id) ? -1 : 0;
    }
    const char *user = json_string_value (json_object_get (line, "userId"));
    const char *merged = json_string_value (json_object_get (line, "mergedInto"));
    s_visitor_t record;
    memset (&record, 0, sizeof record);
    if (!user || !merged || strlen (user) > SHOP_ID_MAX || strlen (merged) >= COLLECTOR_VISITOR_MAX)
        return -1;
    snprintf (record.id, sizeof record.id, "%s", visitor);
    snprintf (record.user_id, sizeof record.user_id, "%s", user);
    snprintf (record.merged_into, sizeof record.merged_into, "%s", merged);
    ++*people;
    return s_put (r, &record) || (*merged && s_own (r, merged, KIND_MERGED, visitor)) ? -1 : 0;
}

long collector_route_seed (collector_route_t *self, MDB_txn *txn, const char *path)
{
    MDB_stat stat;
    FILE *in = mdb_stat (txn, self->meta, &stat) == 0 && stat.ms_entries == 0
             ? fopen (path, "r") : NULL;
    if (!in)
        return 0;
    s_resolve_t r = { .self = self, .txn = txn };
    char *text = NULL;
    size_t size = 0;
    long people = 0, number = 0;
    int rc = 0;
    while (rc == 0 && getline (&text, &size, in) > 0) {
        number++;
        json_t *line = json_loads (text, 0, NULL);
        rc = json_is_object (line) ? s_seed_line (&r, line, &people) : -1;
        json_decref (line);
    }
    free (text);
    fclose (in);
    if (rc) {
        nd_log ("%s:%ld: not a line of a router seed (sessionizer, nd-repartition)", path, number);
        return -1;
    }
    nd_log ("router: %ld people and their ids taken from %s", people, path);
    return people;
}

/* ------------------------------------------------------------- rules */

//  An id that moves to another visitor (a shared device) is no longer
//  the old one's to erase. Callers found it first, so the id already
//  points at its owner, not at a visitor merged away.
static int s_disown (s_resolve_t *r, const s_visitor_t *visitor, char kind, const char *id)
{
    char owner [COLLECTOR_VISITOR_MAX];
    bool found;
    if (s_bound (r, kind, id, owner, &found))
        return -1;
    if (!found || streq (owner, visitor->id))
        return 0;
    nd_key_t key;
    s_owned_key (&key, owner, kind, id);
    return nd_db_del (r->txn, r->self->owned, &key) < 0 ? -1 : 0;
}

static int s_add_id (s_resolve_t *r, s_visitor_t *visitor, char kind, const char *id)
{
    if (s_disown (r, visitor, kind, id) || s_bind (r, kind, id, visitor->id)
    ||  s_own (r, visitor->id, kind, id))
        return -1;
    if (kind == KIND_USER && !*visitor->user_id) {
        snprintf (visitor->user_id, sizeof visitor->user_id, "%s", id);
        return s_put (r, visitor);
    }
    return 0;
}

//  As the sessionizer's visitor_mint: "v-" and a counter from 1.
static int s_new_person (s_resolve_t *r, s_visitor_t *visitor)
{
    nd_key_t key;
    s_counter_key (&key);
    uint64_t next = 0;
    if (nd_db_get_u64 (r->txn, r->self->meta, &key, &next) < 0
    ||  nd_db_put_u64 (r->txn, r->self->meta, &key, next + 1))
        return -1;
    memset (visitor, 0, sizeof *visitor);
    snprintf (visitor->id, sizeof visitor->id, "v-%" PRIu64, next + 1);
    if (s_put (r, visitor)
    ||  (r->anonymous_id && s_add_id (r, visitor, KIND_ANONYMOUS, r->anonymous_id))
    ||  (r->user_id && s_add_id (r, visitor, KIND_USER, r->user_id)))
        return -1;
    return 0;
}

//  The survivor takes what led to the loser, so that erasing it later
//  erases those too (the sessionizer's profile_merge).
static int s_take_owned (const MDB_val *key, const MDB_val *data, void *arg)
{
    (void) data;
    zlist_append ((zlist_t *) arg, zframe_new (key->mv_data, key->mv_size));
    return 0;
}

static int s_merge (s_resolve_t *r, s_visitor_t *survivor, s_visitor_t *loser)
{
    nd_key_t prefix;
    s_owned_key (&prefix, loser->id, 0, NULL);
    zlist_t *rows = zlist_new ();
    int rc = nd_db_scan (r->txn, r->self->owned, &prefix, s_take_owned, rows);
    for (zframe_t *row = (zframe_t *) zlist_pop (rows); row; row = (zframe_t *) zlist_pop (rows)) {
        //  visitor NUL, kind, id NUL: the same kind and id under survivor
        const char *kind_id = (const char *) zframe_data (row) + prefix.size;
        if (rc == 0 && zframe_size (row) > prefix.size + 1)
            rc = s_own (r, survivor->id, kind_id [0], kind_id + 1);
        zframe_destroy (&row);
    }
    zlist_destroy (&rows);
    if (rc || nd_db_drop (r->txn, r->self->owned, &prefix, NULL, NULL) < 0
    ||  s_own (r, survivor->id, KIND_MERGED, loser->id))
        return -1;
    if (!*survivor->user_id)
        memcpy (survivor->user_id, loser->user_id, sizeof survivor->user_id);
    *loser->user_id = 0;
    memcpy (loser->merged_into, survivor->id, sizeof loser->merged_into);
    memcpy (r->merge->loser, loser->id, sizeof r->merge->loser);
    memcpy (r->merge->survivor, survivor->id, sizeof r->merge->survivor);
    return s_put (r, survivor) || s_put (r, loser) ? -1 : 0;
}

//  Both ids are known, to different visitors: identity.c's s_join.
static int s_join (s_resolve_t *r, s_visitor_t *by_anonymous, s_visitor_t *by_user)
{
    if (*by_anonymous->user_id && !r->alias)
        return s_add_id (r, by_user, KIND_ANONYMOUS, r->anonymous_id);
    return s_merge (r, by_user, by_anonymous);
}

//  Only the anonymous id is known: identity.c's s_extend.
static int s_extend (s_resolve_t *r, s_visitor_t *visitor)
{
    if (!r->user_id)
        return 0;
    bool known = *visitor->user_id != 0;
    if (known && strcmp (visitor->user_id, r->user_id) && !r->alias)
        return s_new_person (r, visitor);       //  a shared device
    if (s_add_id (r, visitor, KIND_USER, r->user_id))
        return -1;
    //  An alias names the account id the shop uses from now on
    if (known && r->alias) {
        snprintf (visitor->user_id, sizeof visitor->user_id, "%s", r->user_id);
        return s_put (r, visitor);
    }
    return 0;
}

//  identity.c's identity_resolve, step for step.
static int s_resolve (s_resolve_t *r, s_visitor_t *visitor)
{
    s_visitor_t by_anonymous;
    bool user_found = false, anonymous_found = false;
    int rc = 0;
    if (r->user_id)
        rc = s_find (r, KIND_USER, r->user_id, visitor, &user_found);
    //  An alias's previousId is often an earlier userId
    if (rc == 0 && r->anonymous_id && r->alias)
        rc = s_find (r, KIND_USER, r->anonymous_id, &by_anonymous, &anonymous_found);
    if (rc == 0 && r->anonymous_id && !anonymous_found)
        rc = s_find (r, KIND_ANONYMOUS, r->anonymous_id, &by_anonymous, &anonymous_found);
    if (rc)
        return rc;
    if (!anonymous_found && !user_found)
        return s_new_person (r, visitor);
    if (!user_found) {
        *visitor = by_anonymous;
        return s_extend (r, visitor);
    }
    if (!anonymous_found)
        return r->anonymous_id ? s_add_id (r, visitor, KIND_ANONYMOUS, r->anonymous_id) : 0;
    if (streq (by_anonymous.id, visitor->id))
        return 0;
    return s_join (r, &by_anonymous, visitor);
}

/* ------------------------------------------------------------- event */


//  The sessionizer's s_event_read: false for what it rejects.
static bool s_read (s_resolve_t *r, const char *topic, const json_t *body, char number [2][32])
{
    static const char *types [] = { "track", "page", "screen", "identify", "group", "alias", NULL };
    const char *type = json_string_value (json_object_get (body, "type"));
    if (!type && strncmp (topic, "event.", 6) == 0)
        type = topic + 6;
    int i = 0;
    while (type && types [i] && strcmp (types [i], type))
        i++;
    if (!type || !types [i])
        return false;
    r->alias = streq (type, "alias");
    r->user_id = nd_json_segment_id (json_object_get (body, "userId"), number [0], 32);
    r->anonymous_id = nd_json_segment_id (json_object_get (body, r->alias ? "previousId" : "anonymousId"),
                            number [1], 32);
    const char *name = json_string_value (json_object_get (body, "event"));
    return !(r->alias && (!r->user_id || !r->anonymous_id))
        && (r->user_id || r->anonymous_id)
        && !(r->user_id && strlen (r->user_id) > SHOP_ID_MAX)
        && !(r->anonymous_id && strlen (r->anonymous_id) > SHOP_ID_MAX)
        && !(streq (type, "track") && (!name || !*name));
}

int collector_route_event (collector_route_t *self, MDB_txn *txn, const char *topic,
                           json_t *body, uint32_t *key, collector_merge_t *merge)
{
    memset (merge, 0, sizeof *merge);
    if (streq (topic, "person.erase") || streq (topic, "catalogue.product"))
        return ND_NOTFOUND;
    s_resolve_t r = { self, txn, false, NULL, NULL, merge };
    char number [2][32];
    if (!s_read (&r, topic, body, number))
        return ND_NOTFOUND;
    s_visitor_t visitor;
    int rc = s_resolve (&r, &visitor);
    if (rc == 0) {
        json_object_set_new (body, "visitor", json_string (visitor.id));
        *key = nd_route_key (visitor.id);
    }
    return rc;
}

int collector_route_user (collector_route_t *self, MDB_txn *txn, const json_t *body,
                          uint32_t *key)
{
    const char *user = json_string_value (json_object_get (body, "user"));
    if (!user || !*user || strlen (user) >= COLLECTOR_VISITOR_MAX)
        return ND_NOTFOUND;
    s_resolve_t r = { self, txn, false, NULL, NULL, NULL };
    s_visitor_t person;
    bool moved;
    int rc = s_load (&r, user, &person, &moved);
    if (rc == 0)
        *key = nd_route_key (person.id);
    return rc;
}

bool collector_route_crosses (collector_route_t *self, const collector_merge_t *merge)
{
    return *merge->loser && nd_route_key (merge->loser) % (uint32_t) self->parts
                         != nd_route_key (merge->survivor) % (uint32_t) self->parts;
}

/* ------------------------------------------------------------- erase */

typedef struct {
    s_resolve_t *r;
    const char *visitor;
    size_t prefix;
    bool merged;                //  the second pass: the visitors merged in
    int rc;
} s_erasure_t;

//  Each row the person owned: an id that still leads to them goes, then
//  the visitors merged into them (no id leads there any more; not before,
//  as the ids are followed through them).
static int s_forget_owned (const MDB_val *key, const MDB_val *data, void *arg)
{
    (void) data;
    s_erasure_t *erasure = (s_erasure_t *) arg;
    const char *kind_id = (const char *) key->mv_data + erasure->prefix;
    if (key->mv_size <= erasure->prefix + 1 || erasure->rc
    ||  (kind_id [0] == KIND_MERGED) != erasure->merged)
        return 0;
    nd_key_t row;
    if (erasure->merged) {
        s_visitor_key (&row, kind_id + 1);
        erasure->rc = nd_db_del (erasure->r->txn, erasure->r->self->visitors, &row) < 0;
        return 0;
    }
    s_visitor_t owner;
    bool found;
    erasure->rc = s_find (erasure->r, kind_id [0], kind_id + 1, &owner, &found) < 0;
    s_id_key (&row, kind_id [0], kind_id + 1);
    if (!erasure->rc && found && streq (owner.id, erasure->visitor))
        erasure->rc = nd_db_del (erasure->r->txn, erasure->r->self->ids, &row) < 0;
    return 0;
}

int collector_route_erase (collector_route_t *self, MDB_txn *txn, const char *visitor,
                           uint32_t *keys, size_t *count)
{
    s_resolve_t r = { self, txn, false, NULL, NULL, NULL };
    s_visitor_t person;
    bool moved;
    *count = 0;
    if (!visitor || !*visitor)
        return 0;
    keys [(*count)++] = nd_route_key (visitor);
    if (strlen (visitor) >= COLLECTOR_VISITOR_MAX)
        return 0;               //  no visitor id: the sessionizer refuses it too
    int rc = s_load (&r, visitor, &person, &moved);
    if (rc)
        return rc < 0 ? -1 : 0;
    if (moved)
        keys [(*count)++] = nd_route_key (person.id);
    s_erasure_t erasure = { &r, person.id, 0, false, 0 };
    nd_key_t prefix, row;
    s_owned_key (&prefix, person.id, 0, NULL);
    erasure.prefix = prefix.size;
    for (int pass = 0; pass < 2 && erasure.rc == 0; pass++) {
        erasure.merged = pass == 1;
        if (nd_db_scan (txn, self->owned, &prefix, s_forget_owned, &erasure))
            return -1;
    }
    s_visitor_key (&row, person.id);
    if (erasure.rc || nd_db_drop (txn, self->owned, &prefix, NULL, NULL) < 0
    ||  nd_db_del (txn, self->visitors, &row) < 0)
        return -1;
    //  The id asked, if merged away, only pointed at the person
    s_visitor_key (&row, visitor);
    return moved && nd_db_del (txn, self->visitors, &row) < 0 ? -1 : 0;
}

void collector_route_stats (collector_route_t *self, MDB_txn *txn, json_t *stats)
{
    MDB_stat stat;
    if (mdb_stat (txn, self->ids, &stat) == 0)
        json_object_set_new (stats, "route_ids", json_integer ((json_int_t) stat.ms_entries));
    if (mdb_stat (txn, self->visitors, &stat) == 0)
        json_object_set_new (stats, "route_visitors", json_integer ((json_int_t) stat.ms_entries));
    if (mdb_stat (txn, self->owned, &stat) == 0)
        json_object_set_new (stats, "route_owned", json_integer ((json_int_t) stat.ms_entries));
}
