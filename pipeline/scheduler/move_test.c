/*  move_test.c - move.c's self-test, and its move between two states
    for tests/integration/test_scheduler_move.py.

    Layer: store: calls move.c, codes.c, timers.c and instance.c, as a
    test of move.c (which is long enough without it).                  */
#include <assert.h>
#include "move_test.h"
#include "move.h"
#include "codes.h"
#include "instance.h"
#include "timers.h"

/* -------------------------------------------------------------- test -- */

//  A state as the stage's: its tables, in a write transaction.
static int s_test_open (const char *dir, scheduler_t *self, MDB_env **env, MDB_txn **txn)
{
    memset (self, 0, sizeof *self);
    snprintf (self->epoch, sizeof self->epoch, "test");
    if (mdb_env_create (env) || mdb_env_set_maxdbs (*env, 32)
    ||  mdb_env_set_mapsize (*env, 1LL << 30) || mdb_env_open (*env, dir, 0, 0644)
    ||  mdb_txn_begin (*env, NULL, 0, txn))
        return -1;
    self->env = *env;
    self->timers = timers_new (*txn);
    if (!self->timers || scheduler_tables_open (self, *txn)
    ||  nd_db_open (*txn, "confirms", &self->confirms) || codes_index (self, *txn))
        return -1;
    nd_key_t key;                       //  the stage's epoch, as scheduler.c names it
    nd_key_init (&key);
    nd_key_str (&key, "epoch");
    MDB_val k = nd_key_val (&key), epoch;
    if (mdb_get (*txn, self->meta, &k, &epoch) == 0 && epoch.mv_size == 4) {
        const uint8_t *bytes = (const uint8_t *) epoch.mv_data;
        snprintf (self->epoch, sizeof self->epoch, "%02x%02x%02x%02x", bytes [0], bytes [1],
                  bytes [2], bytes [3]);
    }
    return 0;
}

static void s_test_close (scheduler_t *self, MDB_env *env, MDB_txn *txn)
{
    assert (mdb_txn_commit (txn) == 0);
    timers_destroy (&self->timers);
    mdb_env_close (env);
}

static int s_list (const char *person, void *list)
{
    json_array_append_new ((json_t *) list, json_string (person));
    return 0;
}

static int s_stop (const char *person, void *arg)
{
    (void) person;
    (void) arg;
    return 7;
}

static json_t *s_people (scheduler_t *self, MDB_txn *txn)
{
    json_t *list = json_array ();
    assert (scheduler_person_each (self, txn, s_list, list) == 0);
    return list;
}

//  SCHEDULER_MOVE_TEST="DIR-A DIR-B PERSON": the move, and on stdout what
//  the test compares with the states' dumps.
static void s_test_between (const char *spec)
{
    char a [256], b [256], person [SCHEDULER_USER_MAX + 1];
    assert (sscanf (spec, "%255s %255s %400s", a, b, person) == 3);
    scheduler_t from, to;
    MDB_env *env_a, *env_b;
    MDB_txn *txn_a, *txn_b;
    assert (s_test_open (a, &from, &env_a, &txn_a) == 0);
    assert (s_test_open (b, &to, &env_b, &txn_b) == 0);
    int64_t start = zclock_usecs ();
    json_t *out = json_pack ("{s:o}", "people_before", s_people (&from, txn_a));
    int64_t listed = zclock_usecs ();
    json_t *state = NULL, *again = NULL;
    assert (scheduler_person_export (&from, txn_a, person, &state) == 0 && state);
    //  What a scan of the codes costs (move.c's head): the test prints it
    json_object_set_new (out, "each_us", json_integer (listed - start));
    json_object_set_new (out, "export_us", json_integer (zclock_usecs () - listed));
    assert (scheduler_person_import (&to, txn_b, state) == 0);
    assert (scheduler_person_export (&from, txn_a, person, &again) == 0);
    json_object_set_new (out, "state", state);
    json_object_set_new (out, "again", again ? again : json_null ());
    json_object_set_new (out, "people_a", s_people (&from, txn_a));
    json_object_set_new (out, "people_b", s_people (&to, txn_b));
    //  An import over the same rows again changes nothing; over another's
    //  instance, it is refused
    assert (scheduler_person_import (&to, txn_b, state) == 0);
    char *text = json_dumps (out, JSON_COMPACT);
    printf ("%s\n", text);
    free (text);
    json_decref (out);
    s_test_close (&from, env_a, txn_a);
    s_test_close (&to, env_b, txn_b);
}

//  A state from before user-codes: one code with a reminder, indexed,
//  then exported with its reminder and the reminder's timer.
static void s_test_codes (scheduler_t *self, MDB_txn *txn)
{
    nd_key_t key;
    nd_key_init (&key);
    nd_key_str (&key, "GIFT-1");
    json_t *code = json_pack ("{s:s, s:s, s:I}", "code", "GIFT-1", "user", "bob",
                              "expires_ms", (json_int_t) 864000000);
    assert (record_put (txn, self->codes, &key, code) == 0);
    json_decref (code);
    codes_due_key (&key, 5);
    code = json_pack ("{s:s}", "code", "GIFT-1");
    assert (record_put (txn, self->meta, &key, code) == 0);
    json_decref (code);
    assert (timers_add (self->timers, txn, codes_reminder_due (864000000), 5, TIMER_CODE) == 0);
    assert (codes_index (self, txn) == 0);
    uint64_t n = 0;
    codes_user_key (&key, "bob", "GIFT-1");
    assert (nd_db_get_u64 (txn, self->user_codes, &key, &n) == 0 && n == 5);
    json_t *state = NULL;
    assert (scheduler_person_export (self, txn, "bob", &state) == 0 && state);
    json_t *rows = json_object_get (state, "rows");
    assert (json_array_size (json_object_get (rows, "codes")) == 1
         && json_array_size (json_object_get (rows, "user-codes")) == 1
         && json_array_size (json_object_get (rows, "sched-meta")) == 1
         && json_array_size (json_object_get (rows, "timers")) == 1);
    assert (timers_pending (self->timers, txn) == 0);
    json_decref (state);
}

void scheduler_person_test (bool verbose)
{
    const char *spec = getenv ("SCHEDULER_MOVE_TEST");
    if (spec) {
        s_test_between (spec);
        return;
    }
    if (verbose)
        printf (" * person move: ");
    char dir [] = "/tmp/nd-move-test-XXXXXX";
    assert (mkdtemp (dir));
    scheduler_t self;
    MDB_env *env;
    MDB_txn *txn;
    assert (s_test_open (dir, &self, &env, &txn) == 0);
    json_t *state = json_true ();
    assert (scheduler_person_export (&self, txn, "nobody", &state) == 0 && state == NULL);
    assert (scheduler_person_each (&self, txn, s_stop, NULL) == 0);
    //  A person held by a re-entry mark alone is listed and exported; an
    //  import is refused over another's instance, not over the same
    nd_key_t key;
    nd_key_init (&key);
    nd_key_str (&key, "cart");
    nd_key_str (&key, "ann");
    nd_key_str (&key, "");
    assert (nd_db_put_u64 (txn, self.reentry, &key, 5) == 0);
    assert (scheduler_person_each (&self, txn, s_stop, NULL) == 7);
    json_t *people = s_people (&self, txn);
    assert (json_array_size (people) == 1
         && streq (json_string_value (json_array_get (people, 0)), "ann"));
    json_decref (people);
    assert (scheduler_person_export (&self, txn, "ann", &state) == 0 && state);
    assert (json_array_size (json_object_get (json_object_get (state, "rows"), "reentry")) == 1);
    json_decref (state);
    assert (scheduler_person_export (&self, txn, "ann", &state) == 0 && state == NULL);
    json_t *bad = json_pack ("{s:s, s:{s:[[s, s]]}}", "person", "ann", "rows", "instances",
                             "0000000000000001", "7b7d");
    assert (scheduler_person_import (&self, txn, bad) == 0);
    json_array_set_new (json_array_get (json_object_get (json_object_get (bad, "rows"),
                                                         "instances"), 0), 1, json_string ("7b20"));
    assert (scheduler_person_import (&self, txn, bad) == -1);
    json_decref (bad);
    s_test_codes (&self, txn);
    s_test_close (&self, env, txn);
    nd_db_test_remove (dir);
    if (verbose)
        printf ("OK\n");
}
