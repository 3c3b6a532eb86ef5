/*  timers.c - durable timers: a time-ordered index in LMDB.

    Layer: store: calls nothing of the scheduler's but the base.

    Key: i64 due (big-endian, sign flipped) + u64 instance + u8 kind; no
    value. Byte order is due order, so the next timer is the first key
    and firing is a cursor walk from the start: no in-memory heap to
    rebuild after a restart, no per-timer RAM, millions pending cost only
    disk. A timer is removed in the same transaction as the state change
    and the send orders its firing causes, so none fires twice and none
    is lost across kill -9; one whose time passed while the stage was
    down is simply the first key when it comes back.                     */
#include <assert.h>
#include <limits.h>
#include <sys/mman.h>
#include "timers.h"

#define TIMER_KEY_SIZE 17

struct _timers_t {
    MDB_dbi dbi;
};

void timers_key (nd_key_t *key, int64_t due, uint64_t instance, timer_kind_t kind)
{
    nd_key_init (key);
    nd_key_i64 (key, due);
    nd_key_u64 (key, instance);
    nd_key_u8 (key, (uint8_t) kind);
}

MDB_dbi timers_dbi (timers_t *self)
{
    return self->dbi;
}

timers_t *timers_new (MDB_txn *txn)
{
    timers_t *self = (timers_t *) zmalloc (sizeof *self);
    if (nd_db_open (txn, "timers", &self->dbi))
        timers_destroy (&self);
    return self;
}

void timers_destroy (timers_t **self_p)
{
    if (*self_p) {
        free (*self_p);
        *self_p = NULL;
    }
}

int timers_add (timers_t *self, MDB_txn *txn, int64_t due, uint64_t instance, timer_kind_t kind)
{
    nd_key_t key;
    timers_key (&key, due, instance, kind);
    return nd_db_put_raw (txn, self->dbi, &key, "", 0);
}

int timers_cancel (timers_t *self, MDB_txn *txn, int64_t due, uint64_t instance, timer_kind_t kind)
{
    nd_key_t key;
    timers_key (&key, due, instance, kind);
    return nd_db_del (txn, self->dbi, &key);
}

//  Positions on the first key; 1 with key filled, 0 when empty, -1.
static int s_first (timers_t *self, MDB_txn *txn, MDB_cursor **cursor, MDB_val *key)
{
    int rc = mdb_cursor_open (txn, self->dbi, cursor);
    if (rc)
        return nd_db_error (rc, "timers cursor");
    MDB_val data;
    rc = mdb_cursor_get (*cursor, key, &data, MDB_FIRST);
    if (rc == 0 && key->mv_size == TIMER_KEY_SIZE)
        return 1;
    mdb_cursor_close (*cursor);
    return rc == 0 || rc == MDB_NOTFOUND ? 0 : nd_db_error (rc, "timers first");
}

int timers_pop (timers_t *self, MDB_txn *txn, int64_t now,
                int64_t *due, uint64_t *instance, timer_kind_t *kind)
{
    MDB_cursor *cursor;
    MDB_val key;
    int rc = s_first (self, txn, &cursor, &key);
    if (rc <= 0)
        return rc;
    *due = nd_key_get_i64 (&key, 0);
    if (*due > now) {
        mdb_cursor_close (cursor);
        return 0;
    }
    *instance = nd_key_get_u64 (&key, 8);
    *kind = (timer_kind_t) ((const uint8_t *) key.mv_data) [16];
    rc = mdb_cursor_del (cursor, 0);
    mdb_cursor_close (cursor);
    return rc ? nd_db_error (rc, "timers del") : 1;
}

int64_t timers_next (timers_t *self, MDB_txn *txn)
{
    MDB_cursor *cursor;
    MDB_val key;
    if (s_first (self, txn, &cursor, &key) <= 0)
        return INT64_MAX;
    int64_t due = nd_key_get_i64 (&key, 0);
    mdb_cursor_close (cursor);
    return due;
}

size_t timers_pending (timers_t *self, MDB_txn *txn)
{
    MDB_stat stat;
    return mdb_stat (txn, self->dbi, &stat) ? 0 : stat.ms_entries;
}

//  LMDB reads through a shared, read-only map of the data file; every page
//  the stage has looked at stays mapped (the kernel maps its neighbours
//  too), so with millions of timers RSS grows to the size of the file
//  though the process holds almost none of it. Dropping the mappings
//  costs nothing - the pages stay in the page cache, the memory stays
//  valid, and what the loop needs next faults back in - and leaves the
//  kernel free to reclaim them like any other cache.
//  LMDB does not say where it mapped the file (me_mapaddr is only set with
//  MDB_FIXEDMAP): the process's own map list does.
void timers_release (MDB_env *env)
{
    const char *dir;
    char path [PATH_MAX + 16], real [PATH_MAX], line [PATH_MAX + 128];
    if (mdb_env_get_path (env, &dir))
        return;
    snprintf (path, sizeof path, "%s/data.mdb", dir);
    FILE *maps = realpath (path, real) ? fopen ("/proc/self/maps", "r") : NULL;
    size_t length = strlen (real);
    while (maps && fgets (line, sizeof line, maps)) {
        line [strcspn (line, "\n")] = 0;
        size_t size = strlen (line);
        unsigned long start, end;
        if (size > length && streq (line + size - length, real)
        &&  sscanf (line, "%lx-%lx", &start, &end) == 2)
            madvise ((void *) start, end - start, MADV_DONTNEED);
    }
    if (maps)
        fclose (maps);
}

void timers_test (bool verbose)
{
    if (verbose)
        printf (" * timers: ");
    char dir [] = "/tmp/nd-timers-test-XXXXXX";
    assert (mkdtemp (dir));
    MDB_env *env;
    MDB_txn *txn;
    assert (mdb_env_create (&env) == 0);
    mdb_env_set_maxdbs (env, 4);
    assert (mdb_env_open (env, dir, MDB_NOSYNC, 0644) == 0);
    assert (mdb_txn_begin (env, NULL, 0, &txn) == 0);
    timers_t *timers = timers_new (txn);
    assert (timers);
    assert (timers_next (timers, txn) == INT64_MAX);
    assert (timers_add (timers, txn, 3000, 7, TIMER_STEP) == 0);
    assert (timers_add (timers, txn, -5, 9, TIMER_CLEANUP) == 0);    //  before 1970 sorts first
    assert (timers_add (timers, txn, 1000, 8, TIMER_FALLBACK) == 0);
    assert (timers_pending (timers, txn) == 3);
    assert (timers_cancel (timers, txn, 1000, 8, TIMER_FALLBACK) == 0);
    assert (timers_cancel (timers, txn, 1000, 8, TIMER_FALLBACK) == ND_NOTFOUND);
    int64_t due;
    uint64_t instance;
    timer_kind_t kind;
    assert (timers_pop (timers, txn, 2000, &due, &instance, &kind) == 1);
    assert (due == -5 && instance == 9 && kind == TIMER_CLEANUP);
    assert (timers_pop (timers, txn, 2000, &due, &instance, &kind) == 0);
    assert (timers_next (timers, txn) == 3000);
    assert (timers_pop (timers, txn, 3000, &due, &instance, &kind) == 1 && instance == 7);
    assert (timers_pending (timers, txn) == 0);
    mdb_txn_abort (txn);
    timers_destroy (&timers);
    timers_destroy (&timers);
    mdb_env_close (env);
    nd_db_test_remove (dir);
    if (verbose)
        printf ("OK\n");
}
