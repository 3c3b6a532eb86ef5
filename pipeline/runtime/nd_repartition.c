/*  nd_repartition - a stage's partitions made N -> M, offline.

    Layer: runtime, beside the loop: what "STAGE --repartition-from N"
    does instead of running (nd-repartition(1) runs it for each stage).

    The pipeline file already says the new count M. The stage's old state
    is in STATE/NAME (N = 1) or STATE/NAME.0 .. NAME.(N-1); the new one
    goes to STATE/NAME or NAME.0 .. NAME.(M-1), reusing a directory whose
    name stays. Every person of every old partition whose new owner
    (nd_route_key of their id, modulo M) is another directory moves there
    through the stage's own person_export and person_import, as a merge
    across partitions moves them live. A new directory also gets the
    position on the collector's journal (one for every layout), the event
    clock, and a copy of the tables the stage shares between partitions
    (the sessionizer's catalogue); the stages partitioned with it start
    their journals anew. Numbers a stage gives out apart per partition
    (the scheduler's instances) are raised in every partition past the
    largest any gave, so the new layout never gives one twice. From one
    partition to more, the stage may leave the collector's router a seed
    (seed_write: the sessionizer's identity graph).

    Refused unless the stage has drained: an old journal holding entries
    a reader has not acknowledged, or a move in flight, would be lost.
    Each person moves in two commits, the new directory's first: a crash
    between them leaves the person in both, and running the command again
    moves them again, over the copy. Totals a partition kept (funnel
    counts, counters) stay in its directory; a directory no partition
    keeps any more is emptied of people and left for the operator.      */
#include <stdio.h>
#include <errno.h>
#include <sys/stat.h>
#include <unistd.h>
#include "nd_private.h"

typedef struct {
    char *dir;
    bool fresh;                 //  made by this run, its copy still to make
    bool kept;                  //  a directory of the new layout
    MDB_env *env;
    void *self;                 //  the stage's object over this env
} s_part_t;

typedef struct _s_run s_run_t;
static void s_close (s_run_t *run);

struct _s_run {
    nd_stage_t *stage;
    const nd_stage_def_t *def;
    s_part_t *old [ND_PARTITIONS_MAX];
    s_part_t *new [ND_PARTITIONS_MAX];
    s_part_t *all [2 * ND_PARTITIONS_MAX];
    size_t parts_old, parts_new, count;
    uint64_t moved;
};

static char *s_dir_of (const char *base, const char *section, int part, int parts)
{
    return parts == 1 ? zsys_sprintf ("%s/%s", base, section)
                      : zsys_sprintf ("%s/%s.%d", base, section, part);
}

static s_part_t *s_part (s_run_t *run, const char *dir)
{
    for (size_t i = 0; i < run->count; i++)
        if (streq (run->all [i]->dir, dir))
            return run->all [i];
    s_part_t *part = (s_part_t *) zmalloc (sizeof *part);
    part->dir = strdup (dir);
    run->all [run->count++] = part;
    return part;
}

//  A new directory says which layout it is being made from until the
//  run ends ("repartition" in meta), so a run stopped half way is
//  finished by the next, not taken for a leftover.
static void s_marker_key (nd_key_t *key)
{
    nd_key_init (key);
    nd_key_str (key, "repartition");
}

//  1 when part is being made from a layout of from, 0 when not, -1.
static int s_marked (s_part_t *part, int from)
{
    MDB_txn *txn;
    MDB_dbi meta;
    uint64_t mark = 0;
    nd_key_t key;
    s_marker_key (&key);
    if (mdb_txn_begin (part->env, NULL, MDB_RDONLY, &txn))
        return -1;
    int rc = mdb_dbi_open (txn, "meta", 0, &meta) == 0 ? nd_db_get_u64 (txn, meta, &key, &mark) : ND_NOTFOUND;
    mdb_txn_abort (txn);
    return rc < 0 ? -1 : rc == 0 && mark == (uint64_t) from;
}

//  Sets the mark in txn (from > 0), or takes it away in a txn of its own.
static int s_mark (s_part_t *part, int from, MDB_txn *txn)
{
    MDB_dbi meta;
    nd_key_t key;
    s_marker_key (&key);
    if (from)
        return mdb_dbi_open (txn, "meta", MDB_CREATE, &meta)
            || nd_db_put_u64 (txn, meta, &key, (uint64_t) from) ? -1 : 0;
    if (mdb_txn_begin (part->env, NULL, 0, &txn))
        return -1;
    int rc = mdb_dbi_open (txn, "meta", MDB_CREATE, &meta) ? -1 : nd_db_del (txn, meta, &key);
    return rc < 0 ? (mdb_txn_abort (txn), -1) : mdb_txn_commit (txn) ? -1 : 0;
}

static int s_open (s_run_t *run, s_part_t *part, uint64_t mapsize)
{
    struct stat info;
    part->fresh = stat (part->dir, &info) != 0;
    if (part->fresh && !part->kept)
        return 0;                   //  an old partition that never ran
    if (part->fresh && mkdir (part->dir, 0700)) {
        nd_log ("cannot create %s: %s", part->dir, strerror (errno));
        return -1;
    }
    MDB_txn *txn;
    int rc = mdb_env_create (&part->env);
    if (rc == 0) {
        mdb_env_set_maxdbs (part->env, 64);
        mdb_env_set_mapsize (part->env, mapsize);
        rc = mdb_env_open (part->env, part->dir, MDB_NOTLS | MDB_NOSYNC, 0600);
    }
    if (rc == 0)
        rc = mdb_txn_begin (part->env, NULL, 0, &txn);
    if (rc)
        return nd_db_error (rc, part->dir);
    rc = run->def->setup ? run->def->setup (run->stage, txn, &part->self) : 0;
    return rc ? (mdb_txn_abort (txn), -1) : mdb_txn_commit (txn) ? -1 : 0;
}

//  An old partition may go only if nothing waits in it: its journal
//  holds no entry past what every reader acknowledged (as its last trim
//  wrote down), and no move is on its way.
static int s_drained (s_part_t *part)
{
    MDB_txn *txn;
    MDB_dbi journal, meta, moves;
    if (mdb_txn_begin (part->env, NULL, MDB_RDONLY, &txn))
        return -1;
    uint64_t last = 0, least = UINT64_MAX;
    MDB_cursor *cursor;
    MDB_val k, v;
    if (mdb_dbi_open (txn, "journal", 0, &journal) == 0 && mdb_cursor_open (txn, journal, &cursor) == 0) {
        if (mdb_cursor_get (cursor, &k, &v, MDB_LAST) == 0)
            last = nd_key_get_u64 (&k, 0);
        mdb_cursor_close (cursor);
    }
    if (mdb_dbi_open (txn, "meta", 0, &meta) == 0 && mdb_cursor_open (txn, meta, &cursor) == 0) {
        for (int rc = mdb_cursor_get (cursor, &k, &v, MDB_FIRST); rc == 0;
             rc = mdb_cursor_get (cursor, &k, &v, MDB_NEXT))
            if (k.mv_size > 4 && memcmp (k.mv_data, "ack", 4) == 0 && v.mv_size == 8)
                least = nd_key_get_u64 (&v, 0) < least ? nd_key_get_u64 (&v, 0) : least;
        mdb_cursor_close (cursor);
    }
    MDB_stat moving = { 0 };
    if (mdb_dbi_open (txn, "moves", 0, &moves) == 0)
        mdb_stat (txn, moves, &moving);
    mdb_txn_abort (txn);
    //  No reader's row: nobody reads this stage (its journal keeps the
    //  last "retain" entries for a tap or a late reader, not for a move)
    if (last && least != UINT64_MAX && least < last) {
        nd_log ("%s: its journal holds entries up to %llu that a reader has not acknowledged: "
                "let the pipeline drain first", part->dir, (unsigned long long) last);
        return -1;
    }
    if (moving.ms_entries) {
        nd_log ("%s: %zu moves are on their way: let the pipeline drain first", part->dir,
                moving.ms_entries);
        return -1;
    }
    return 0;
}

static int s_count (const char *person, void *arg)
{
    (void) person;
    ++*(size_t *) arg;
    return 0;
}

//  The people the old partitions still hold (-1 on an error).
static long s_people (s_run_t *run)
{
    size_t count = 0;
    for (size_t j = 0; j < run->parts_old; j++) {
        s_part_t *part = run->old [j];
        MDB_txn *txn;
        if (!part->env)
            continue;
        if (mdb_txn_begin (part->env, NULL, MDB_RDONLY, &txn))
            return -1;
        int rc = run->def->person_each (run->stage, part->self, txn, s_count, &count);
        mdb_txn_abort (txn);
        if (rc)
            return -1;
    }
    return (long) count;
}

static int s_list (const char *person, void *arg)
{
    zlist_append ((zlist_t *) arg, (void *) person);
    return 0;
}

//  One person out of from, into to: to's commit first (see the top).
static int s_move (s_run_t *run, s_part_t *from, s_part_t *to, const char *person)
{
    MDB_txn *out, *in;
    if (mdb_txn_begin (from->env, NULL, 0, &out))
        return -1;
    if (mdb_txn_begin (to->env, NULL, 0, &in)) {
        mdb_txn_abort (out);
        return -1;
    }
    json_t *state = NULL;
    int rc = run->def->person_export (run->stage, from->self, out, person, &state);
    if (rc == 0 && state)
        rc = run->def->person_import (run->stage, to->self, in, state);
    json_decref (state);
    if (rc == 0 && (rc = mdb_txn_commit (in)) == 0)
        rc = mdb_txn_commit (out);
    else {
        mdb_txn_abort (in);
        mdb_txn_abort (out);
    }
    if (rc == 0)
        run->moved++;
    return rc ? -1 : 0;
}

static int s_move_people (s_run_t *run, s_part_t *from)
{
    MDB_txn *txn;
    if (!from->env || mdb_txn_begin (from->env, NULL, MDB_RDONLY, &txn))
        return from->env ? -1 : 0;
    zlist_t *people = zlist_new ();
    zlist_autofree (people);
    int rc = run->def->person_each (run->stage, from->self, txn, s_list, people);
    mdb_txn_abort (txn);
    for (const char *person = (const char *) zlist_first (people); rc == 0 && person;
         person = (const char *) zlist_next (people)) {
        s_part_t *to = run->new [nd_route_key (person) % run->parts_new];
        if (to != from)
            rc = s_move (run, from, to, person);
    }
    zlist_destroy (&people);
    return rc;
}

//  What a new partition takes from an old one: rows of meta (the
//  positions on unpartitioned inputs, the clock) and whole tables.
static int s_copy (s_run_t *run, s_part_t *from, s_part_t *to)
{
    MDB_txn *read, *write;
    if (mdb_txn_begin (from->env, NULL, MDB_RDONLY, &read))
        return -1;
    if (mdb_txn_begin (to->env, NULL, 0, &write)) {
        mdb_txn_abort (read);
        return -1;
    }
    int rc = 0;
    const char *shared [16] = { "meta" };
    size_t tables = 1;
    for (const char **t = run->def->shared_tables; t && *t && tables < 16; t++)
        shared [tables++] = *t;
    for (size_t i = 0; rc == 0 && i < tables; i++) {
        MDB_dbi src, dst;
        MDB_cursor *cursor;
        MDB_val k, v;
        if (mdb_dbi_open (read, shared [i], 0, &src))
            continue;
        if ((rc = mdb_dbi_open (write, shared [i], MDB_CREATE, &dst)) || (rc = mdb_cursor_open (read, src, &cursor)))
            break;
        for (int got = mdb_cursor_get (cursor, &k, &v, MDB_FIRST); rc == 0 && got == 0;
             got = mdb_cursor_get (cursor, &k, &v, MDB_NEXT)) {
            //  Of meta, the clock and the position on the collector's
            //  journal, which every layout reads; the journals of stages
            //  partitioned with this one are made anew with it
            const char *name = (const char *) k.mv_data;
            if (i == 0 && !(streq (name, "clock")
                         || (streq (name, "in") && k.mv_size > 3
                             && streq (nd_config_program (nd_stage_config (run->stage), name + 3),
                                       "collector"))))
                continue;
            rc = mdb_put (write, dst, &k, &v, 0);
        }
        mdb_cursor_close (cursor);
    }
    mdb_txn_abort (read);
    if (rc == 0 && run->def->partition_new)
        rc = run->def->partition_new (run->stage, to->self, write) ? -1 : 0;
    if (rc == 0)
        rc = s_mark (to, (int) run->parts_old, write);
    return rc ? (mdb_txn_abort (write), rc > 0 ? nd_db_error (rc, to->dir) : -1)
              : mdb_txn_commit (write) ? -1 : 0;
}

//  Every partition's numbers raised to the largest any of them gave:
//  the first pass finds it, the second lifts those passed before it.
static int s_numbers (s_run_t *run)
{
    uint64_t numbers [ND_NUMBERS] = { 0 };
    for (int pass = 0; run->def->numbers && pass < 2; pass++)
        for (size_t i = 0; i < run->count; i++) {
            s_part_t *part = run->all [i];
            MDB_txn *txn;
            if (!part->env)
                continue;
            if (mdb_txn_begin (part->env, NULL, 0, &txn))
                return -1;
            if (run->def->numbers (run->stage, part->self, txn, numbers)) {
                mdb_txn_abort (txn);
                return -1;
            }
            if (mdb_txn_commit (txn))
                return -1;
        }
    return 0;
}

//  From one partition to more: the router's seed, written whole to a
//  file of its own and then renamed, so the collector never takes half.
static int s_seed (s_run_t *run, const char *base)
{
    s_part_t *part = run->old [0];
    if (!run->def->seed_write || run->parts_old != 1 || run->parts_new < 2 || !part->env)
        return 0;
    char *path = zsys_sprintf ("%s/route-seed.jsonl", base);
    char *temp = zsys_sprintf ("%s.new", path);
    FILE *out = fopen (temp, "w");
    MDB_txn *txn = NULL;
    int rc = out && fchmod (fileno (out), 0600) == 0
          && mdb_txn_begin (part->env, NULL, MDB_RDONLY, &txn) == 0 ? 0 : -1;
    if (rc == 0)
        rc = run->def->seed_write (run->stage, part->self, txn, out);
    if (txn)
        mdb_txn_abort (txn);
    if (out && (fsync (fileno (out)) || fclose (out)))
        rc = -1;
    if (rc == 0 && rename (temp, path))
        rc = -1;
    if (rc)
        nd_log ("cannot write the collector's router seed %s: %s", path, strerror (errno));
    else
        nd_log ("%s: the collector's router takes the people named so far from it at its start",
                path);
    free (temp);
    free (path);
    return rc;
}

static void s_close (s_run_t *run)
{
    for (size_t i = 0; i < run->count; i++) {
        s_part_t *part = run->all [i];
        if (run->def->teardown && part->self)
            run->def->teardown (&part->self);
        if (part->env) {
            mdb_env_sync (part->env, 1);
            mdb_env_close (part->env);
        }
        free (part->dir);
        free (part);
    }
}

int nd_repartition (nd_stage_t *stage, int from)
{
    nd_config_t *config = nd_stage_config (stage);
    const nd_stage_def_t *def = nd_stage_def (stage);
    const char *section = nd_config_section_name (config, nd_stage_name (stage));
    int parts;
    nd_config_partition (config, &parts);
    if (def->person_export && !def->person_each) {
        nd_log ("%s cannot change its number of partitions yet: keep the count it has", def->name);
        return -1;
    }
    if (!def->person_export) {
        nd_log ("%s keeps nothing per person to move: start it with its new partitions", def->name);
        return parts > 1 && !def->partitioned ? -1 : 0;
    }
    if (from < 1 || from > ND_PARTITIONS_MAX) {
        nd_log ("--repartition-from %d: a count from 1 to %d", from, ND_PARTITIONS_MAX);
        return -1;
    }
    uint64_t mapsize = 0;
    nd_size_parse (nd_stage_option (stage, "mapsize", "4G"), &mapsize);
    const char *base = nd_stage_option (stage, "state", "var/state");
    s_run_t run = { .stage = stage, .def = def, .parts_old = (size_t) from, .parts_new = (size_t) parts };
    for (int k = 0; k < parts; k++) {
        char *dir = s_dir_of (base, section, k, parts);
        run.new [k] = s_part (&run, dir);
        run.new [k]->kept = true;
        free (dir);
    }
    for (int j = 0; j < from; j++) {
        char *dir = s_dir_of (base, section, j, from);
        run.old [j] = s_part (&run, dir);
        free (dir);
    }
    int rc = 0;
    //  The old partitions first: nothing is made before they are drained
    for (int j = 0; rc == 0 && j < from; j++)
        rc = s_open (&run, run.old [j], mapsize);
    for (int j = 0; rc == 0 && j < from; j++)
        rc = run.old [j]->env ? s_drained (run.old [j]) : 0;
    for (int k = 0; rc == 0 && k < parts; k++)
        rc = run.new [k]->env ? 0 : s_open (&run, run.new [k], mapsize);
    //  A directory of the new layout that the old one does not have is
    //  this run's, or one a crash stopped (it says so): any other has the
    //  positions and journal of a layout long gone
    for (int k = 0; rc == 0 && k < parts; k++) {
        bool old = false;
        for (int j = 0; j < from; j++)
            old = old || run.old [j] == run.new [k];
        int made = old || run.new [k]->fresh ? 1 : s_marked (run.new [k], from);
        if (made == 0 && s_people (&run) == 0) {
            nd_log ("%s: already %d partitions, nobody left to move", section, parts);
            s_close (&run);
            return 0;
        }
        if (made == 0) {
            nd_log ("%s is left from an earlier layout: remove it first", run.new [k]->dir);
            rc = -1;
        }
        rc = made < 0 ? -1 : rc;
    }
    for (int k = 0; rc == 0 && k < parts; k++)
        if (run.new [k]->fresh && run.old [0]->env)
            rc = s_copy (&run, run.old [0], run.new [k]);
    if (rc == 0)
        rc = s_numbers (&run);
    if (rc == 0)
        rc = s_seed (&run, base);
    for (int j = 0; rc == 0 && j < from; j++)
        rc = s_move_people (&run, run.old [j]);
    for (int k = 0; rc == 0 && k < parts; k++)
        rc = s_mark (run.new [k], 0, NULL);
    if (rc == 0) {
        nd_log ("%s: %d partitions made %d; %llu people moved", section, from, parts,
                (unsigned long long) run.moved);
        for (int j = 0; j < from; j++)
            if (!run.old [j]->kept && run.old [j]->env)
                nd_log ("%s: no partition keeps it now; its people have moved: remove it",
                        run.old [j]->dir);
    }
    s_close (&run);
    return rc;
}
