/*  instance.c - journey instances: one person's way through one journey.

    An instance is a JSON record keyed by a number the stage counts up
    (named "<epoch>-<n>" outside, so keys stay unique even if the state
    is wiped and counting starts again):

      {"journey", "user", "variant", "entered", "step" (the next to run),
       "state" (running | waiting | done | exited), "due" (its step
       timer), "since" (when the send step it is on first came due),
       "data" (what the trigger said: the cart...), "sends" (per step:
       channel, idempotency key, time, code, fallback), "reason", "ended"}

    Entry applies the journey's filter, segments and re-entry rules; at
    most one instance per person and journey runs at a time. An instance
    that ends stays for the attribution window, so an order placed after
    the last message still credits it, then a clean-up timer removes it. */
#include "nd_json.h"
#include "scheduler.h"

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

static void s_active_key (nd_key_t *key, const char *user, const char *journey)
{
    nd_key_init (key);
    nd_key_str (key, user);
    nd_key_str (key, journey);
}

static void s_owned_key (nd_key_t *key, const char *user, uint64_t id)
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
    instance->journey = journey ? journeys_find (self->journeys, journey) : NULL;
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
static uint64_t s_active (scheduler_t *self, MDB_txn *txn, const char *user, const char *journey)
{
    nd_key_t key;
    s_active_key (&key, user, journey);
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
    s_active_key (&key, user, journey);
    if (s_active (self, txn, user, journey) == instance->id && nd_db_del (txn, self->active, &key) < 0)
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
        json_object_set_new (instance->record, "postponed", json_integer (postponed + 1));
        int rc = timers_add (self->timers, txn, nd_stage_now (self->stage) + limits.attribution,
                             id, TIMER_CLEANUP)
              || instance_store (self, txn, instance) ? -1 : 0;
        instance_destroy (&instance);
        return rc;
    }
    nd_key_t key;
    s_owned_key (&key, record_str (instance->record, "user"), id);
    int rc = nd_db_del (txn, self->owned, &key) < 0 ? -1 : 0;
    s_instance_key (&key, id);
    if (rc == 0)
        rc = nd_db_del (txn, self->instances, &key) < 0 ? -1 : 0;
    instance_destroy (&instance);
    return rc;
}

int instance_exit_on (scheduler_t *self, MDB_txn *txn, const char *user, const char *topic,
                      int64_t now)
{
    for (size_t i = 0; i < journeys_size (self->journeys); i++) {
        journey_t *journey = journeys_get (self->journeys, i);
        uint64_t id = journey_exits_on (journey, topic) ? s_active (self, txn, user, journey->name) : 0;
        instance_t *instance = id ? instance_load (self, txn, id) : NULL;
        int rc = instance ? instance_finish (self, txn, instance, topic, now) : 0;
        instance_destroy (&instance);
        if (rc)
            return -1;
    }
    return 0;
}

int instance_fire (scheduler_t *self, MDB_txn *txn, uint64_t id, timer_kind_t kind, int64_t now)
{
    if (kind == TIMER_CLEANUP)
        return instance_cleanup (self, txn, id);
    instance_t *instance = instance_load (self, txn, id);
    if (!instance)
        return 0;                       //  cleaned up meanwhile
    int rc = 0;
    const char *state = record_str (instance->record, "state");
    if (kind == TIMER_FALLBACK)
        rc = send_fallback_fire (self, txn, instance, now);
    else
    if (!streq (state, "waiting"))
        rc = 0;                         //  ended meanwhile
    else
    if (!instance->journey) {
        nd_log ("instance %llu: journey %s is no longer configured; ending it",
                (unsigned long long) id, record_str (instance->record, "journey"));
        json_object_set_new (instance->record, "state", json_string ("running"));
        rc = instance_finish (self, txn, instance, "journey-removed", now);
    }
    else {
        json_object_set_new (instance->record, "state", json_string ("running"));
        json_object_del (instance->record, "due");
        rc = engine_run (self, txn, instance, now);
    }
    instance_destroy (&instance);
    return rc;
}

/* ------------------------------------------------------------- entry -- */

static bool s_in (const json_t *segments, const char *name)
{
    size_t i;
    json_t *item;
    json_array_foreach (segments, i, item)
        if (json_is_string (item) && streq (json_string_value (item), name))
            return true;
    return false;
}

//  The trigger's filter and the journey's segments. The segments come
//  with the message from the segmenter; without it (input = sessionizer)
//  a journey that asks for a segment never starts.
static bool s_qualifies (const journey_t *journey, const json_t *body)
{
    for (size_t i = 0; i < journey->when_count; i++)
        if (!cond_eval (journey->when [i], body))
            return false;
    json_t *segments = json_object_get (body, "segments");
    for (size_t i = 0; journey->segments && journey->segments [i]; i++)
        if (!s_in (segments, journey->segments [i]))
            return false;
    for (size_t i = 0; journey->not_segments && journey->not_segments [i]; i++)
        if (s_in (segments, journey->not_segments [i]))
            return false;
    return true;
}

//  What the journey keeps from its trigger: everything but the envelope
//  and the profile, which the scheduler keeps apart and reads fresh.
static json_t *s_data (const json_t *body)
{
    json_t *data = json_deep_copy (body);
    const char *drop [] = { "id", "user", "time", "segments", "profile", "traits", "contact",
                            "userIds", "anonymousIds", NULL };
    for (int i = 0; drop [i]; i++)
        json_object_del (data, drop [i]);
    return data;
}

//  Re-entry marks: journey + user + "" (last entry) or + key hash.
static void s_reentry_key (nd_key_t *key, const journey_t *journey, const char *user,
                           const char *hash)
{
    nd_key_init (key);
    nd_key_str (key, journey->name);
    nd_key_str (key, user);
    nd_key_str (key, hash);
}

static int s_text_order (const void *a, const void *b)
{
    return strcmp (*(char *const *) a, *(char *const *) b);
}

//  The value as canonical text; an array's items sorted, so a cart is the
//  same cart in any line order.
static char *s_canonical (const json_t *value)
{
    size_t flags = JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY;
    if (!json_is_array (value))
        return value ? json_dumps (value, flags) : strdup ("");
    size_t count = json_array_size (value), length = 3;
    char **items = (char **) zmalloc ((count + 1) * sizeof (char *));
    for (size_t i = 0; i < count; i++) {
        items [i] = json_dumps (json_array_get (value, i), flags);
        length += strlen (items [i]) + 1;
    }
    qsort (items, count, sizeof (char *), s_text_order);
    char *text = (char *) zmalloc (length);
    for (size_t i = 0; i < count; i++) {
        strcat (strcat (text, items [i]), ",");
        free (items [i]);
    }
    free (items);
    return text;
}

//  The value at the journey's re-entry key, as a short hash.
static void s_key_hash (const journey_t *journey, const json_t *body, char *hash)
{
    json_t *value = path_get (body, journey->reentry_key);
    char *text = s_canonical (value);
    zdigest_t *digest = zdigest_new ();
    zdigest_update (digest, (byte *) text, strlen (text));
    snprintf (hash, 24, "k%.16s", zdigest_string (digest));
    zdigest_destroy (&digest);
    free (text);
    json_decref (value);
}

//  1 if the journey's re-entry rules let the user in at time, 0 if not.
static int s_reentry_allows (scheduler_t *self, MDB_txn *txn, const journey_t *journey,
                             const char *user, const json_t *body, int64_t time, char *hash)
{
    nd_key_t key;
    uint64_t last = 0;
    *hash = 0;
    if (journey->reentry_key) {
        s_key_hash (journey, body, hash);
        s_reentry_key (&key, journey, user, hash);
        int rc = nd_db_get_u64 (txn, self->reentry, &key, &last);
        if (rc <= 0)
            return rc < 0 ? -1 : 0;     //  this key entered before
    }
    if (journey->reentry_every) {
        s_reentry_key (&key, journey, user, "");
        int rc = nd_db_get_u64 (txn, self->reentry, &key, &last);
        if (rc < 0)
            return -1;
        if (rc == 0 && time - (int64_t) last < journey->reentry_every)
            return 0;
    }
    return 1;
}

//  Marks the key alone: the entry time (for "every") stays the first one's.
static int s_reentry_mark_key (scheduler_t *self, MDB_txn *txn, const journey_t *journey,
                               const char *user, const char *hash, int64_t time)
{
    nd_key_t key;
    s_reentry_key (&key, journey, user, hash);
    return nd_db_put_u64 (txn, self->reentry, &key, (uint64_t) time) ? -1 : 0;
}

static int s_reentry_mark (scheduler_t *self, MDB_txn *txn, const journey_t *journey,
                           const char *user, const char *hash, int64_t time)
{
    nd_key_t key;
    s_reentry_key (&key, journey, user, "");
    if (nd_db_put_u64 (txn, self->reentry, &key, (uint64_t) time))
        return -1;
    s_reentry_key (&key, journey, user, hash);
    return *hash ? nd_db_put_u64 (txn, self->reentry, &key, (uint64_t) time) : 0;
}

static int s_next_id (scheduler_t *self, MDB_txn *txn, uint64_t *id)
{
    nd_key_t key;
    nd_key_init (&key);
    nd_key_str (&key, "next-instance");
    *id = ++self->next_instance;
    return nd_db_put_u64 (txn, self->meta, &key, self->next_instance);
}

static int s_create (scheduler_t *self, MDB_txn *txn, journey_t *journey, const char *user,
                     const json_t *body, int64_t time)
{
    instance_t instance = { 0, NULL, journey };
    if (s_next_id (self, txn, &instance.id))
        return -1;
    const char *variant = journey_assign (journey, user);
    instance.record = json_pack ("{s:s, s:s, s:s, s:I, s:i, s:s, s:o, s:{}}",
        "journey", journey->name, "user", user, "variant", variant, "entered", (json_int_t) time,
        "step", 0, "state", "running", "data", s_data (body), "sends");
    nd_key_t key;
    s_active_key (&key, user, journey->name);
    int rc = nd_db_put_u64 (txn, self->active, &key, instance.id);
    s_owned_key (&key, user, instance.id);
    if (rc == 0)
        rc = nd_db_put_raw (txn, self->owned, &key, "", 0);
    if (rc == 0)
        rc = counter_add (self, txn, journey->name, variant, "", "", "entered", 1);
    if (rc == 0)
        rc = engine_run (self, txn, &instance, time);
    json_decref (instance.record);
    return rc;
}

//  A trigger while the user's instance runs: the journey's "active" rule.
//  Returns 1 if a new instance may start, 0 if not, -1 on error.
static int s_while_active (scheduler_t *self, MDB_txn *txn, journey_t *journey, uint64_t id,
                           const json_t *body, int64_t time)
{
    if (journey->active == ACTIVE_IGNORE)
        return 0;
    instance_t *instance = instance_load (self, txn, id);
    if (!instance)
        return 1;
    int rc;
    if (journey->active == ACTIVE_UPDATE) {
        json_object_set_new (instance->record, "data", s_data (body));
        rc = instance_store (self, txn, instance) ? -1 : 0;
    }
    else
        rc = instance_finish (self, txn, instance, "restarted", time) ? -1 : 1;
    instance_destroy (&instance);
    return rc;
}

int instance_enter (scheduler_t *self, MDB_txn *txn, journey_t *journey, const nd_msg_t *msg)
{
    const char *user = json_string_value (json_object_get (msg->body, "user"));
    if (!user || !*user || strlen (user) > SCHEDULER_USER_MAX || !s_qualifies (journey, msg->body))
        return 0;
    int64_t now = nd_stage_now (self->stage);
    int64_t time = msg->time && msg->time < now ? msg->time : now;
    uint64_t running = s_active (self, txn, user, journey->name);
    int rc = running ? s_while_active (self, txn, journey, running, msg->body, time) : 1;
    //  A trigger the running instance took (update) or restarted for has
    //  had its journey: its key must not enter again later
    char hash [24] = "";
    if (running && journey->reentry_key)
        s_key_hash (journey, msg->body, hash);
    if (rc == 0 && running && journey->active == ACTIVE_UPDATE && *hash)
        return s_reentry_mark_key (self, txn, journey, user, hash, time);
    if (rc <= 0)
        return rc;
    if (!running && (rc = s_reentry_allows (self, txn, journey, user, msg->body, time, hash)) <= 0)
        return rc;
    if (s_reentry_mark (self, txn, journey, user, hash, time))
        return -1;
    return s_create (self, txn, journey, user, msg->body, time);
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
    if (s_active (self, txn, loser, journey) == id) {
        nd_key_t key;
        s_active_key (&key, loser, journey);
        if (s_active (self, txn, survivor, journey))
            rc = instance_finish (self, txn, instance, "merged", now);
        else {
            rc = nd_db_del (txn, self->active, &key) < 0 ? -1 : 0;
            s_active_key (&key, survivor, journey);
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

int instance_rehome (scheduler_t *self, MDB_txn *txn, const char *loser, const char *survivor,
                     int64_t now)
{
    zlistx_t *ids = zlistx_new ();
    nd_key_t prefix;
    nd_key_init (&prefix);
    nd_key_str (&prefix, loser);
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
    for (void *id = zlistx_first (ids); rc == 0 && id; id = zlistx_next (ids))
        rc = s_rehome_one (self, txn, (uint64_t) (uintptr_t) id, survivor, now);
    zlistx_destroy (&ids);
    return rc == 0 ? rows_move (txn, self->owned, loser, survivor) : -1;
}
