/*  nd_jcache - JSON records of an LMDB table kept parsed between
    messages (nd_jcache.h).                                               */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "nd_jcache.h"
#include "nd_json.h"

typedef struct {
    MDB_dbi dbi;
    size_t key_size;
    uint8_t key [ND_KEY_MAX];
    char *text;                 //  the stored bytes value was read from or written as
    size_t size;
    json_t *value;              //  NULL while taken
} s_entry_t;

struct _nd_jcache_t {
    size_t slots;
    s_entry_t **entries;
    uint64_t hits, reads;
};

nd_jcache_t *nd_jcache_new (size_t slots)
{
    nd_jcache_t *self = (nd_jcache_t *) calloc (1, sizeof *self);
    if (self && !(self->entries = (s_entry_t **) calloc (slots, sizeof (s_entry_t *)))) {
        free (self);
        self = NULL;
    }
    if (self)
        self->slots = slots;
    return self;
}

static void s_entry_clear (s_entry_t *entry)
{
    free (entry->text);
    entry->text = NULL;
    json_decref (entry->value);
    entry->value = NULL;
}

void nd_jcache_destroy (nd_jcache_t **self_p)
{
    nd_jcache_t *self = *self_p;
    if (!self)
        return;
    for (size_t i = 0; i < self->slots; i++)
        if (self->entries [i]) {
            s_entry_clear (self->entries [i]);
            free (self->entries [i]);
        }
    free (self->entries);
    free (self);
    *self_p = NULL;
}

//  The key's slot, made empty and given the key when another held it.
static s_entry_t *s_slot (nd_jcache_t *self, MDB_dbi dbi, const nd_key_t *key)
{
    uint64_t hash = 1469598103934665603ULL ^ dbi;       //  FNV-1a
    for (size_t i = 0; i < key->size; i++)
        hash = (hash ^ key->data [i]) * 1099511628211ULL;
    s_entry_t **slot = &self->entries [hash % self->slots];
    if (!*slot && !(*slot = (s_entry_t *) calloc (1, sizeof (s_entry_t))))
        return NULL;
    s_entry_t *entry = *slot;
    if (entry->dbi != dbi || entry->key_size != key->size
    ||  memcmp (entry->key, key->data, key->size)) {
        s_entry_clear (entry);
        entry->dbi = dbi;
        entry->key_size = key->size;
        memcpy (entry->key, key->data, key->size);
    }
    return entry;
}

//  The entry for key, holding the value of the bytes stored under key:
//  0, ND_NOTFOUND, or -1.
static int s_read (nd_jcache_t *self, MDB_txn *txn, MDB_dbi dbi, const nd_key_t *key,
                   s_entry_t **entry_p)
{
    MDB_val k = nd_key_val (key), data;
    int rc = key->overflow ? MDB_NOTFOUND : mdb_get (txn, dbi, &k, &data);
    if (rc)
        return rc == MDB_NOTFOUND ? ND_NOTFOUND : nd_db_error (rc, "get");
    self->reads++;
    s_entry_t *entry = *entry_p = s_slot (self, dbi, key);
    if (!entry)
        return -1;
    if (entry->value && entry->size == data.mv_size
    &&  memcmp (entry->text, data.mv_data, data.mv_size) == 0) {
        self->hits++;
        return 0;
    }
    s_entry_clear (entry);
    char error [120] = "";
    entry->value = nd_json_parse ((const char *) data.mv_data, data.mv_size, error, sizeof error);
    if (!entry->value) {
        nd_log ("stored JSON does not parse: %s", error);
        return -1;
    }
    entry->text = (char *) malloc (data.mv_size + 1);
    if (!entry->text) {
        s_entry_clear (entry);
        return -1;
    }
    memcpy (entry->text, data.mv_data, data.mv_size);
    entry->size = data.mv_size;
    return 0;
}

int nd_jcache_take (nd_jcache_t *self, MDB_txn *txn, MDB_dbi dbi, const nd_key_t *key,
                    json_t **value)
{
    if (!self)
        return nd_db_get_json (txn, dbi, key, value);
    s_entry_t *entry;
    int rc = s_read (self, txn, dbi, key, &entry);
    if (rc == 0) {
        *value = entry->value;
        entry->value = NULL;
    }
    return rc;
}

int nd_jcache_get (nd_jcache_t *self, MDB_txn *txn, MDB_dbi dbi, const nd_key_t *key,
                   json_t **value)
{
    if (!self)
        return nd_db_get_json (txn, dbi, key, value);
    s_entry_t *entry;
    int rc = s_read (self, txn, dbi, key, &entry);
    if (rc == 0)
        *value = json_incref (entry->value);
    return rc;
}

int nd_jcache_put (nd_jcache_t *self, MDB_txn *txn, MDB_dbi dbi, const nd_key_t *key,
                   json_t *value)
{
    if (!self)
        return nd_db_put_json (txn, dbi, key, value);
    size_t size;
    char *text = nd_json_dump (value, &size);
    if (!text || nd_db_put_raw (txn, dbi, key, text, size)) {
        free (text);
        return -1;
    }
    s_entry_t *entry = s_slot (self, dbi, key);
    if (entry) {
        s_entry_clear (entry);
        entry->text = text;
        entry->size = size;
        entry->value = json_incref (value);
    }
    else
        free (text);
    return 0;
}

void nd_jcache_counts (nd_jcache_t *self, uint64_t *hits, uint64_t *reads)
{
    *hits = self ? self->hits : 0;
    *reads = self ? self->reads : 0;
}

/* ------------------------------------------------------------ selftest -- */

void nd_jcache_test (bool verbose)
{
    if (verbose)
        printf (" * nd_jcache: ");
    char dir [] = "/tmp/nd-jcache-test-XXXXXX";
    assert (mkdtemp (dir));
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    assert (mdb_env_create (&env) == 0);
    assert (mdb_env_open (env, dir, MDB_NOSYNC, 0644) == 0);
    assert (mdb_txn_begin (env, NULL, 0, &txn) == 0);
    assert (mdb_dbi_open (txn, NULL, 0, &dbi) == 0);
    nd_jcache_t *cache = nd_jcache_new (1);     //  one slot: every key pushes the other out
    nd_key_t a, b;
    nd_key_init (&a);
    nd_key_str (&a, "a");
    nd_key_init (&b);
    nd_key_str (&b, "b");
    json_t *value = NULL, *other = NULL;
    uint64_t hits, reads;
    assert (nd_jcache_get (cache, txn, dbi, &a, &value) == ND_NOTFOUND);
    json_t *stored = json_pack ("{s:i, s:f, s:[s]}", "n", 1, "r", 0.1, "l", "x");
    assert (nd_jcache_put (cache, txn, dbi, &a, stored) == 0);
    //  Read back: the value kept, not parsed again; taken: the caller's alone
    assert (nd_jcache_get (cache, txn, dbi, &a, &value) == 0 && value == stored);
    json_decref (value);
    assert (nd_jcache_take (cache, txn, dbi, &a, &value) == 0 && value == stored);
    assert (nd_jcache_get (cache, txn, dbi, &a, &other) == 0 && other != stored
            && json_equal (other, stored));
    json_decref (other);
    json_decref (value);
    nd_jcache_counts (cache, &hits, &reads);
    assert (hits == 2 && reads == 3);
    //  Bytes written past the cache (a move, an abort) are read again
    assert (nd_db_put_raw (txn, dbi, &a, "{\"n\":2}", 7) == 0);
    assert (nd_jcache_get (cache, txn, dbi, &a, &value) == 0 && json_integer_value (json_object_get (value, "n")) == 2);
    json_decref (value);
    assert (nd_jcache_get (cache, txn, dbi, &b, &value) == ND_NOTFOUND);
    assert (nd_db_put_raw (txn, dbi, &b, "{\"n\":3}", 7) == 0);
    assert (nd_jcache_get (cache, txn, dbi, &b, &value) == 0 && json_integer_value (json_object_get (value, "n")) == 3);
    json_decref (value);
    assert (nd_jcache_put (cache, txn, dbi, &a, stored) == 0);
    mdb_txn_abort (txn);
    assert (mdb_txn_begin (env, NULL, 0, &txn) == 0);
    assert (nd_jcache_get (cache, txn, dbi, &a, &value) == ND_NOTFOUND);
    assert (nd_db_put_raw (txn, dbi, &a, "[", 1) == 0);
    assert (nd_jcache_take (cache, txn, dbi, &a, &value) == -1);
    //  No cache: LMDB alone
    assert (nd_jcache_put (NULL, txn, dbi, &b, stored) == 0);
    assert (nd_jcache_get (NULL, txn, dbi, &b, &value) == 0 && value != stored
            && json_equal (value, stored));
    json_decref (value);
    mdb_txn_abort (txn);
    json_decref (stored);
    nd_jcache_destroy (&cache);
    nd_jcache_destroy (&cache);
    mdb_env_close (env);
    nd_db_test_remove (dir);
    if (verbose)
        printf ("OK\n");
}
