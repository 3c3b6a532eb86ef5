/*  nd_db - the one key builder and small helpers over a stage's LMDB.

    Every composite key is built here: integers big-endian so byte order is
    numeric order (a time-ordered index is a plain cursor walk), strings with
    a trailing NUL so parts never run into each other. Prefix scans use
    MDB_SET_RANGE then MDB_NEXT while the prefix holds. MDB_MAP_FULL is its
    own error that tells the operator what to do.                         */
#include <assert.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "nd.h"
#include "nd_json.h"

void nd_key_init (nd_key_t *key)
{
    key->size = 0;
    key->overflow = false;
}

static void s_put (nd_key_t *key, const void *data, size_t size)
{
    if (key->size + size > ND_KEY_MAX) {
        key->overflow = true;
        return;
    }
    memcpy (key->data + key->size, data, size);
    key->size += size;
}

void nd_key_u8 (nd_key_t *key, uint8_t value)
{
    s_put (key, &value, 1);
}

void nd_key_u64 (nd_key_t *key, uint64_t value)
{
    uint8_t be [8];
    for (int i = 7; i >= 0; i--, value >>= 8)
        be [i] = (uint8_t) value;
    s_put (key, be, 8);
}

void nd_key_i64 (nd_key_t *key, int64_t value)
{
    nd_key_u64 (key, (uint64_t) value ^ 0x8000000000000000ULL);
}

void nd_key_str (nd_key_t *key, const char *value)
{
    s_put (key, value, strlen (value) + 1);
}

MDB_val nd_key_val (const nd_key_t *key)
{
    MDB_val val = { key->size, (void *) key->data };
    return val;
}

uint64_t nd_key_get_u64 (const MDB_val *val, size_t offset)
{
    if (val->mv_size < offset + 8)
        return 0;
    const uint8_t *p = (const uint8_t *) val->mv_data + offset;
    uint64_t value = 0;
    for (int i = 0; i < 8; i++)
        value = (value << 8) | p [i];
    return value;
}

int64_t nd_key_get_i64 (const MDB_val *val, size_t offset)
{
    return (int64_t) (nd_key_get_u64 (val, offset) ^ 0x8000000000000000ULL);
}

int nd_db_error (int rc, const char *what)
{
    if (rc == MDB_MAP_FULL)
        nd_log ("state full during %s: raise 'mapsize' for this stage in the pipeline file", what);
    else
    if (rc == MDB_BAD_TXN)
        ;                       //  the transaction failed before, and that was said
    else
        nd_log ("LMDB %s failed: %s", what, mdb_strerror (rc));
    return -1;
}

static int s_key_ok (const nd_key_t *key)
{
    if (key->overflow || key->size == 0) {
        nd_log ("key too long or empty (%zu bytes)", key->size);
        return -1;
    }
    return 0;
}

int nd_db_open (MDB_txn *txn, const char *name, MDB_dbi *dbi)
{
    int rc = mdb_dbi_open (txn, name, MDB_CREATE, dbi);
    return rc ? nd_db_error (rc, name) : 0;
}

static int s_get (MDB_txn *txn, MDB_dbi dbi, const nd_key_t *key, MDB_val *data)
{
    if (s_key_ok (key))
        return -1;
    MDB_val k = nd_key_val (key);
    int rc = mdb_get (txn, dbi, &k, data);
    if (rc == MDB_NOTFOUND)
        return ND_NOTFOUND;
    return rc ? nd_db_error (rc, "get") : 0;
}

int nd_db_put_raw (MDB_txn *txn, MDB_dbi dbi, const nd_key_t *key, const void *data, size_t size)
{
    if (s_key_ok (key))
        return -1;
    MDB_val k = nd_key_val (key), v = { size, (void *) data };
    int rc = mdb_put (txn, dbi, &k, &v, 0);
    return rc ? nd_db_error (rc, "put") : 0;
}

int nd_db_get_json (MDB_txn *txn, MDB_dbi dbi, const nd_key_t *key, json_t **value)
{
    MDB_val data;
    int rc = s_get (txn, dbi, key, &data);
    if (rc)
        return rc;
    char error [120] = "";
    *value = nd_json_parse ((const char *) data.mv_data, data.mv_size, error, sizeof error);
    if (!*value) {
        nd_log ("stored JSON does not parse: %s", error);
        return -1;
    }
    return 0;
}

int nd_db_put_json (MDB_txn *txn, MDB_dbi dbi, const nd_key_t *key, const json_t *value)
{
    size_t size;
    char *text = nd_json_dump (value, &size);
    if (!text)
        return -1;
    int rc = nd_db_put_raw (txn, dbi, key, text, size);
    free (text);
    return rc;
}

int nd_db_get_u64 (MDB_txn *txn, MDB_dbi dbi, const nd_key_t *key, uint64_t *value)
{
    MDB_val data;
    int rc = s_get (txn, dbi, key, &data);
    if (rc)
        return rc;
    *value = nd_key_get_u64 (&data, 0);
    return 0;
}

int nd_db_put_u64 (MDB_txn *txn, MDB_dbi dbi, const nd_key_t *key, uint64_t value)
{
    nd_key_t be;
    nd_key_init (&be);
    nd_key_u64 (&be, value);
    return nd_db_put_raw (txn, dbi, key, be.data, be.size);
}

int nd_db_del (MDB_txn *txn, MDB_dbi dbi, const nd_key_t *key)
{
    if (s_key_ok (key))
        return -1;
    MDB_val k = nd_key_val (key);
    int rc = mdb_del (txn, dbi, &k, NULL);
    if (rc == MDB_NOTFOUND)
        return ND_NOTFOUND;
    return rc ? nd_db_error (rc, "del") : 0;
}

int nd_db_scan (MDB_txn *txn, MDB_dbi dbi, const nd_key_t *prefix, nd_db_scan_fn *fn, void *arg)
{
    MDB_cursor *cursor;
    int rc = mdb_cursor_open (txn, dbi, &cursor);
    if (rc)
        return nd_db_error (rc, "cursor");
    MDB_val key = nd_key_val (prefix), data;
    int result = 0;
    rc = mdb_cursor_get (cursor, &key, &data, prefix->size ? MDB_SET_RANGE : MDB_FIRST);
    while (rc == 0) {
        if (key.mv_size < prefix->size || memcmp (key.mv_data, prefix->data, prefix->size))
            break;
        result = fn (&key, &data, arg);
        if (result)
            break;
        rc = mdb_cursor_get (cursor, &key, &data, MDB_NEXT);
    }
    if (rc && rc != MDB_NOTFOUND)
        result = nd_db_error (rc, "scan");
    mdb_cursor_close (cursor);
    return result;
}

int nd_db_drop (MDB_txn *txn, MDB_dbi dbi, const nd_key_t *prefix, nd_db_scan_fn *match,
                void *arg)
{
    MDB_cursor *cursor;
    int rc = mdb_cursor_open (txn, dbi, &cursor);
    if (rc)
        return nd_db_error (rc, "drop");
    MDB_val key = nd_key_val (prefix), data;
    int dropped = 0;
    rc = mdb_cursor_get (cursor, &key, &data, prefix->size ? MDB_SET_RANGE : MDB_FIRST);
    while (rc == 0) {
        if (key.mv_size < prefix->size || memcmp (key.mv_data, prefix->data, prefix->size))
            break;
        //  After a delete the cursor already stands on the next entry;
        //  LMDB's MDB_NEXT knows that and returns it.
        if (!match || match (&key, &data, arg)) {
            if ((rc = mdb_cursor_del (cursor, 0)))
                break;
            dropped++;
        }
        rc = mdb_cursor_get (cursor, &key, &data, MDB_NEXT);
    }
    mdb_cursor_close (cursor);
    return rc && rc != MDB_NOTFOUND ? nd_db_error (rc, "drop") : dropped;
}

int nd_db_trim_before (MDB_txn *txn, MDB_dbi dbi, int64_t bound, int max, const char *what)
{
    MDB_cursor *cursor;
    int rc = mdb_cursor_open (txn, dbi, &cursor);
    if (rc)
        return nd_db_error (rc, what);
    MDB_val key, data;
    int trimmed = 0;
    for (rc = mdb_cursor_get (cursor, &key, &data, MDB_FIRST);
         rc == 0 && trimmed < max && key.mv_size >= 8 && nd_key_get_i64 (&key, 0) < bound;
         rc = mdb_cursor_get (cursor, &key, &data, MDB_NEXT), trimmed++)
        if ((rc = mdb_cursor_del (cursor, 0)))
            break;
    mdb_cursor_close (cursor);
    return rc && rc != MDB_NOTFOUND ? nd_db_error (rc, what) : 0;
}

void nd_key_test (bool verbose)
{
    if (verbose)
        printf (" * nd_key: ");
    nd_key_t a, b;
    nd_key_init (&a);
    nd_key_init (&b);
    nd_key_i64 (&a, -5);
    nd_key_i64 (&b, 3);
    assert (memcmp (a.data, b.data, 8) < 0);         //  signed order kept
    nd_key_init (&a);
    nd_key_init (&b);
    nd_key_u64 (&a, 255);
    nd_key_u64 (&b, 256);
    assert (memcmp (a.data, b.data, 8) < 0);         //  big-endian order
    MDB_val val = nd_key_val (&b);
    assert (nd_key_get_u64 (&val, 0) == 256);
    nd_key_init (&a);
    nd_key_str (&a, "ab");
    nd_key_str (&a, "c");
    nd_key_init (&b);
    nd_key_str (&b, "a");
    nd_key_str (&b, "bc");
    assert (a.size == b.size && memcmp (a.data, b.data, a.size) != 0);
    char big [600];
    memset (big, 'x', sizeof big - 1);
    big [sizeof big - 1] = 0;
    nd_key_str (&a, big);
    assert (a.overflow);
    if (verbose)
        printf ("OK\n");
}

//  nd_db_drop's match: the value is "yes".
static int s_test_yes (const MDB_val *key, const MDB_val *data, void *arg)
{
    (void) key;
    (void) arg;
    return data->mv_size == 3 && memcmp (data->mv_data, "yes", 3) == 0;
}

void nd_db_test_remove (const char *dir)
{
    char path [PATH_MAX];
    snprintf (path, sizeof path, "%s/data.mdb", dir);
    unlink (path);
    snprintf (path, sizeof path, "%s/lock.mdb", dir);
    unlink (path);
    rmdir (dir);
}

void nd_db_test (bool verbose)
{
    if (verbose)
        printf (" * nd_db: ");
    char dir [] = "/tmp/nd-db-test-XXXXXX";
    assert (mkdtemp (dir));
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    assert (mdb_env_create (&env) == 0 && mdb_env_set_maxdbs (env, 4) == 0);
    assert (mdb_env_open (env, dir, MDB_NOSYNC, 0600) == 0);
    assert (mdb_txn_begin (env, NULL, 0, &txn) == 0 && nd_db_open (txn, "rows", &dbi) == 0);
    //  A person's rows: user + suffix. "v-1" must not take "v-10" along.
    const char *rows [][3] = { { "v-1", "a", "no" }, { "v-1", "b", "yes" }, { "v-10", "a", "yes" },
                               { "v-2", "a", "yes" } };
    for (size_t i = 0; i < sizeof rows / sizeof rows [0]; i++) {
        nd_key_t key;
        nd_key_init (&key);
        nd_key_str (&key, rows [i][0]);
        nd_key_str (&key, rows [i][1]);
        assert (nd_db_put_raw (txn, dbi, &key, rows [i][2], strlen (rows [i][2])) == 0);
    }
    nd_key_t prefix, none;
    nd_key_init (&prefix);
    nd_key_str (&prefix, "v-1");
    nd_key_init (&none);
    assert (nd_db_drop (txn, dbi, &prefix, NULL, NULL) == 2);
    assert (nd_db_drop (txn, dbi, &prefix, NULL, NULL) == 0);
    assert (nd_db_drop (txn, dbi, &none, s_test_yes, NULL) == 2);   //  v-10 and v-2
    MDB_stat stat;
    assert (mdb_stat (txn, dbi, &stat) == 0 && stat.ms_entries == 0);
    mdb_txn_abort (txn);
    mdb_env_close (env);
    nd_db_test_remove (dir);
    if (verbose)
        printf ("OK\n");
}
