/*  instance.c - journey instances: one person's way through one journey.

    Layer: store: calls timers.c and counters.c; finds an instance's journey
    through the stage's journey_find, never the rules layer itself.

    An instance is a JSON record keyed by a number the stage counts up
    (named "<epoch>-<n>" outside, so keys stay unique even if the state
    is wiped and counting starts again):

      {"journey", "user", "variant", "entered", "step" (the next to run),
       "state" (running | waiting | done | exited), "due" (its step
       timer), "since" (when the send step it is on first came due),
       "data" (what the trigger said: the cart...), "sends" (per step:
       channel, idempotency key, time, code, fallback), "reason", "ended"}

    At most one instance per person and journey runs at a time (the
    active index; entry is lifecycle.c's). An instance that ends stays
    for the attribution window, so an order placed after the last
    message still credits it, then a clean-up timer removes it.          */
#include "nd_json.h"
#include "instance.h"

int64_t record_int (const json_t *record, const char *field)
{
    return json_integer_value (json_object_get (record, field));
}

const char *record_str (const json_t *record, const char *field)
{
    return json_string_value (json_object_get (record, field));
}

//  nd_db_get_json / put_json, through the runtime's fast JSON reader and
//  writer: records are read and written on every timer that fires, and
//  jansson's own were half of the stage's time.
int record_get (MDB_txn *txn, MDB_dbi dbi, const nd_key_t *key, json_t **record)
{
    MDB_val k = nd_key_val (key), data;
    int rc = mdb_get (txn, dbi, &k, &data);
    if (rc)
        return rc == MDB_NOTFOUND ? ND_NOTFOUND : nd_db_error (rc, "get");
    char error [128];
    *record = nd_json_parse ((const char *) data.mv_data, data.mv_size, error, sizeof error);
    if (!*record)
        nd_log ("stored record does not parse: %s", error);
    return *record ? 0 : -1;
}

int record_put (MDB_txn *txn, MDB_dbi dbi, const nd_key_t *key, const json_t *record)
{
    size_t size;
    char *text = nd_json_dump (record, &size);
    int rc = text ? nd_db_put_raw (txn, dbi, key, text, size) : -1;
    free (text);
    return rc;
}

static void s_instance_key (nd_key_t *key, uint64_t id)
{
    nd_key_init (key);
    nd_key_u64 (key, id);
}

void instance_active_key (nd_key_t *key, const char *user, const char *journey)
{
    nd_key_init (key);
    nd_key_str (key, user);
    nd_key_str (key, journey);
}

void instance_owned_key (nd_key_t *key, const char *user, uint64_t id)
{
    nd_key_init (key);
    nd_key_str (key, user);
    nd_key_u64 (key, id);
}

const char *instance_name (scheduler_t *self, const instance_t *instance, char *buf)
{
    snprintf (buf, 48, "%s-%llu", self->epoch, (unsigned long long) instance->id);
    return buf;
}

instance_t *instance_load (scheduler_t *self, MDB_txn *txn, uint64_t id)
{
    nd_key_t key;
    s_instance_key (&key, id);
    json_t *record = NULL;
    if (record_get (txn, self->instances, &key, &record))
        return NULL;
    instance_t *instance = (instance_t *) zmalloc (sizeof *instance);
    instance->id = id;
    instance->record = record;
    const char *journey = record_str (record, "journey");
    instance->journey = journey ? self->journey_find (self->journeys, journey) : NULL;
    return instance;
}

int instance_store (scheduler_t *self, MDB_txn *txn, instance_t *instance)
{
    nd_key_t key;
    s_instance_key (&key, instance->id);
    return record_put (txn, self->instances, &key, instance->record);
}

void instance_destroy (instance_t **self_p)
{
    instance_t *self = *self_p;
    if (self) {
        json_decref (self->record);
        free (self);
        *self_p = NULL;
    }
}

int instance_sleep (scheduler_t *self, MDB_txn *txn, instance_t *instance, int64_t due)
{
    json_object_set_new (instance->record, "state", json_string ("waiting"));
    json_object_set_new (instance->record, "due", json_integer (due));
    if (timers_add (self->timers, txn, due, instance->id, TIMER_STEP))
        return -1;
    if (due <= nd_stage_now (self->stage))
        scheduler_wake (self);          //  already due: fire without waiting for a tick
    return instance_store (self, txn, instance);
}

//  The instance this user runs in journey, 0 if none.
uint64_t instance_active (scheduler_t *self, MDB_txn *txn, const char *user, const char *journey)
{
    nd_key_t key;
    instance_active_key (&key, user, journey);
    uint64_t id = 0;
    return nd_db_get_u64 (txn, self->active, &key, &id) == 0 ? id : 0;
}

int instance_finish (scheduler_t *self, MDB_txn *txn, instance_t *instance,
                     const char *reason, int64_t now)
{
    json_t *record = instance->record;
    const char *user = record_str (record, "user"), *journey = record_str (record, "journey");
    bool done = streq (reason, "done");
    if (streq (record_str (record, "state"), "waiting")
    &&  timers_cancel (self->timers, txn, record_int (record, "due"), instance->id, TIMER_STEP) < 0)
        return -1;
    json_t *fallback = json_object_get (record, "fallback");
    if (!done && fallback
    &&  timers_cancel (self->timers, txn, record_int (fallback, "due"), instance->id,
                       TIMER_FALLBACK) < 0)
        return -1;
    if (!done)
        json_object_del (record, "fallback");
    nd_key_t key;
    instance_active_key (&key, user, journey);
    if (instance_active (self, txn, user, journey) == instance->id
    &&  nd_db_del (txn, self->active, &key) < 0)
        return -1;
    limits_t limits = self->limits;
    if (instance->journey)
        policy_limits (self, instance->journey, &limits);
    int64_t cleanup = now + limits.attribution;
    json_object_set_new (record, "state", json_string (done ? "done" : "exited"));
    json_object_set_new (record, "reason", json_string (reason));
    json_object_set_new (record, "ended", json_integer (now));
    json_object_set_new (record, "cleanup", json_integer (cleanup));
    json_object_del (record, "due");
    char metric [64];
    snprintf (metric, sizeof metric, "%s%s", done ? "" : "exit:", reason);
    if (counter_add (self, txn, journey, record_str (record, "variant"), "", "", metric, 1)
    ||  timers_add (self->timers, txn, cleanup, instance->id, TIMER_CLEANUP))
        return -1;
    return instance_store (self, txn, instance);
}

int instance_cleanup (scheduler_t *self, MDB_txn *txn, uint64_t id)
{
    instance_t *instance = instance_load (self, txn, id);
    if (!instance)
        return 0;
    //  Orders waiting for a delivery not heard yet (attribution.c): at full
    //  speed feedback may trail the clock by days, so the instance waits
    //  for it, one more attribution window at a time, ten at most (a
    //  message never heard of, an on-site one never shown, gives up then)
    int64_t postponed = record_int (instance->record, "postponed");
    if (json_array_size (json_object_get (instance->record, "pending")) && postponed < 10) {
        limits_t limits = self->limits;
        if (instance->journey)
            policy_limits (self, instance->journey, &limits);
        //  "cleanup" names the timer: an erasure or a move finds it there
        int64_t cleanup = nd_stage_now (self->stage) + limits.attribution;
        json_object_set_new (instance->record, "postponed", json_integer (postponed + 1));
        json_object_set_new (instance->record, "cleanup", json_integer (cleanup));
        int rc = timers_add (self->timers, txn, cleanup, id, TIMER_CLEANUP)
              || instance_store (self, txn, instance) ? -1 : 0;
        instance_destroy (&instance);
        return rc;
    }
    nd_key_t key;
    instance_owned_key (&key, record_str (instance->record, "user"), id);
    int rc = nd_db_del (txn, self->owned, &key) < 0 ? -1 : 0;
    s_instance_key (&key, id);
    if (rc == 0)
        rc = nd_db_del (txn, self->instances, &key) < 0 ? -1 : 0;
    instance_destroy (&instance);
    return rc;
}

/* ------------------------------------------------------------- merge -- */

//  Points every instance the loser owns at the survivor; a journey both
//  run keeps the survivor's instance and ends the loser's.
static int s_rehome_one (scheduler_t *self, MDB_txn *txn, uint64_t id, const char *survivor,
                         int64_t now)
{
    instance_t *instance = instance_load (self, txn, id);
    if (!instance)
        return 0;
    const char *loser = record_str (instance->record, "user");
    const char *journey = record_str (instance->record, "journey");
    int rc = 0;
    if (instance_active (self, txn, loser, journey) == id) {
        nd_key_t key;
        instance_active_key (&key, loser, journey);
        if (instance_active (self, txn, survivor, journey))
            rc = instance_finish (self, txn, instance, "merged", now);
        else {
            rc = nd_db_del (txn, self->active, &key) < 0 ? -1 : 0;
            instance_active_key (&key, survivor, journey);
            if (rc == 0)
                rc = nd_db_put_u64 (txn, self->active, &key, id);
        }
    }
    json_object_set_new (instance->record, "user", json_string (survivor));
    if (rc == 0)
        rc = instance_store (self, txn, instance);
    instance_destroy (&instance);
    return rc;
}

zlistx_t *instance_owned (scheduler_t *self, MDB_txn *txn, const char *user)
{
    zlistx_t *ids = zlistx_new ();
    nd_key_t prefix;
    nd_key_init (&prefix);
    nd_key_str (&prefix, user);
    MDB_cursor *cursor;
    int rc = mdb_cursor_open (txn, self->owned, &cursor);
    MDB_val key = nd_key_val (&prefix), data;
    for (int get = rc ? rc : mdb_cursor_get (cursor, &key, &data, MDB_SET_RANGE); get == 0;
         get = mdb_cursor_get (cursor, &key, &data, MDB_NEXT)) {
        if (key.mv_size != prefix.size + 8 || memcmp (key.mv_data, prefix.data, prefix.size))
            break;
        zlistx_add_end (ids, (void *) (uintptr_t) nd_key_get_u64 (&key, prefix.size));
    }
    if (rc == 0)
        mdb_cursor_close (cursor);
    if (rc)
        zlistx_destroy (&ids);
    return ids;
}

int instance_rehome (scheduler_t *self, MDB_txn *txn, const char *loser, const char *survivor,
                     int64_t now)
{
    zlistx_t *ids = instance_owned (self, txn, loser);
    int rc = ids ? 0 : -1;
    for (void *id = ids ? zlistx_first (ids) : NULL; rc == 0 && id; id = zlistx_next (ids))
        rc = s_rehome_one (self, txn, (uint64_t) (uintptr_t) id, survivor, now);
    zlistx_destroy (&ids);
    return rc == 0 ? rows_move (txn, self->owned, loser, survivor) : -1;
}
