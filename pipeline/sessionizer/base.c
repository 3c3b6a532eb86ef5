/*  base.c - how the sessionizer's outputs are made and counted, and the
    key every visitor's records share.

    Layer: base: calls nothing of the sessionizer's (base.h).            */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <czmq.h>
#include "base.h"

void visitor_key (nd_key_t *key, const char *id)
{
    nd_key_init (key);
    nd_key_str (key, id);
}
json_t *sessionizer_body (const char *id, const char *visitor, int64_t time)
{
    char text [32];
    json_t *body = json_object ();
    if (id)
        json_object_set_new (body, "id", json_string (id));
    json_object_set_new (body, "user", json_string (visitor));
    json_object_set_new (body, "time", json_string (nd_time_format (time, text)));
    json_object_set_new (body, "visitor", json_string (visitor));
    return body;
}

//  Takes body; an id left out is made by nd_emit from the journal's seq.
int sessionizer_emit (sessionizer_t *self, MDB_txn *txn, const char *topic, json_t *body)
{
    int rc = body ? nd_emit (self->stage, txn, topic, body) : -1;
    json_decref (body);
    return rc;
}

void sessionizer_count (sessionizer_t *self, counter_t counter)
{
    self->delta [counter]++;
}

int64_t record_int (const json_t *record, const char *field)
{
    return json_integer_value (json_object_get (record, field));
}
void record_add (json_t *record, const char *field, int64_t delta)
{
    json_object_set_new (record, field, json_integer (record_int (record, field) + delta));
}

int sessionizer_open_state (sessionizer_t *self, MDB_txn *txn)
{
    struct { const char *name; MDB_dbi *dbi; } state [] = {
        { "ids", &self->ids }, { "visitors", &self->visitors }, { "profiles", &self->profiles },
        { "carts", &self->carts }, { "viewed", &self->viewed }, { "expiry", &self->expiry },
        { "idle", &self->idle }, { "claims", &self->claims }, { "together", &self->together },
        { "products", &self->products }, { "popular", &self->popular },
        { "watchers", &self->watchers }, { "watching", &self->watching },
        { "counters", &self->counters }
    };
    for (size_t i = 0; i < sizeof state / sizeof state [0]; i++)
        if (nd_db_open (txn, state [i].name, state [i].dbi))
            return -1;
    return 0;
}

/* ----------------------------------------------- for the self-tests -- */

#define TEST_MAP_SIZE (256 * 1024)

MDB_env *sessionizer_test_state (sessionizer_t *self, char *dir)
{
    MDB_env *env;
    MDB_txn *txn;
    assert (mkdtemp (dir));
    assert (mdb_env_create (&env) == 0);
    mdb_env_set_maxdbs (env, 16);
    mdb_env_set_mapsize (env, TEST_MAP_SIZE);
    assert (mdb_env_open (env, dir, MDB_NOSYNC, 0644) == 0);
    assert (mdb_txn_begin (env, NULL, 0, &txn) == 0);
    assert (sessionizer_open_state (self, txn) == 0);
    assert (mdb_txn_commit (txn) == 0);
    return env;
}

void sessionizer_test_full (MDB_txn *txn, sessionizer_t *self)
{
    nd_key_t key;
    nd_key_init (&key);
    nd_key_str (&key, "too big");
    char *big = (char *) calloc (1, TEST_MAP_SIZE);
    assert (big);
    assert (nd_db_put_raw (txn, self->counters, &key, big, TEST_MAP_SIZE) == -1);
    free (big);
    MDB_val k = nd_key_val (&key), data;
    assert (mdb_get (txn, self->counters, &k, &data) == MDB_BAD_TXN);
}

void sessionizer_test_state_destroy (MDB_env **env_p, const char *dir)
{
    mdb_env_close (*env_p);
    *env_p = NULL;
    nd_db_test_remove (dir);
}

//  Jansson's allocator hooks take no argument, hence a file-wide count,
//  used by the self-tests alone.
static int64_t s_json_live;
static json_malloc_t s_was_malloc;
static json_free_t s_was_free;

static void *s_json_malloc (size_t size)
{
    void *block = malloc (size);
    s_json_live += block != NULL;
    return block;
}

static void s_json_free (void *block)
{
    s_json_live -= block != NULL;
    free (block);
}

void sessionizer_test_count_json (bool on)
{
    if (on) {
        json_get_alloc_funcs (&s_was_malloc, &s_was_free);
        json_set_alloc_funcs (s_json_malloc, s_json_free);
    }
    else
        json_set_alloc_funcs (s_was_malloc, s_was_free);
}

int64_t sessionizer_test_json_live (void)
{
    return s_json_live;
}
