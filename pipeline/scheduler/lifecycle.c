/*  lifecycle.c - an instance's life: a trigger enters a person, its
    timers fire, an exit event ends it.

    Layer: engine: calls engine.c and send.c (what a firing timer runs),
    the rules (journeys.c, journey.c, cond.c: who may enter) and the store
    (instance.c, timers.c, counters.c; codes.c and people.c for the
    codes that expire tomorrow).

    Entry applies the journey's filter, segments and re-entry rules; at
    most one instance per person and journey runs at a time (the store's
    active index, instance.c).                                           */
#include "lifecycle.h"
#include "codes.h"
#include "cond.h"
#include "counters.h"
#include "engine.h"
#include "instance.h"
#include "journey.h"
#include "journeys.h"
#include "nd_json.h"
#include "people.h"
#include "send.h"

int instance_exit_on (scheduler_t *self, MDB_txn *txn, const char *user, const char *topic,
                      int64_t now)
{
    for (size_t i = 0; i < journeys_size (self->journeys); i++) {
        journey_t *journey = journeys_get (self->journeys, i);
        uint64_t id = journey_exits_on (journey, topic)
                    ? instance_active (self, txn, user, journey->name) : 0;
        instance_t *instance = id ? instance_load (self, txn, id) : NULL;
        int rc = instance ? instance_finish (self, txn, instance, topic, now) : 0;
        instance_destroy (&instance);
        if (rc)
            return -1;
    }
    return 0;
}
//  A code that expires tomorrow (TIMER_CODE, codes.c): still unused, and
//  its person has not ordered since it was issued, it is the trigger
//  code.expiring {user, time, code: {code, percent, expires, journey,
//  step}} of the journeys that take it (shipped: code-expiring).
static int s_code_expiring (scheduler_t *self, MDB_txn *txn, uint64_t n, int64_t now)
{
    json_t *code = NULL;
    if (codes_expiring (self, txn, n, &code))
        return -1;
    const char *user = code ? record_str (code, "user") : NULL;
    person_t *person = user ? person_load (self, txn, user) : NULL;
    bool ordered = person && person->last_order >= record_int (code, "issued_ms");
    person_destroy (&person);
    int rc = 0;
    if (code && user && !ordered) {
        char stamp [32], id [64];
        snprintf (id, sizeof id, "code-expiring-%s", record_str (code, "code"));
        json_t *body = json_pack ("{s:s, s:s, s:s, s:{s:O, s:O, s:O, s:O, s:O}}", "id", id,
            "user", user, "time", nd_time_format (now, stamp), "code",
            "code", json_object_get (code, "code"), "percent", json_object_get (code, "percent"),
            "expires", json_object_get (code, "expires"), "journey", json_object_get (code, "journey"),
            "step", json_object_get (code, "step"));
        nd_msg_t msg = { .topic = "code.expiring", .body = body, .time = now };
        for (size_t i = 0; rc == 0 && i < journeys_size (self->journeys); i++) {
            journey_t *journey = journeys_get (self->journeys, i);
            if (streq (journey->topic, msg.topic))
                rc = instance_enter (self, txn, journey, &msg);
        }
        json_decref (body);
    }
    json_decref (code);
    return rc;
}

int instance_fire (scheduler_t *self, MDB_txn *txn, uint64_t id, timer_kind_t kind, int64_t now)
{
    if (kind == TIMER_CLEANUP)
        return instance_cleanup (self, txn, id);
    if (kind == TIMER_CODE)
        return s_code_expiring (self, txn, id, now);
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
        if (!nd_json_has_string (segments, journey->segments [i]))
            return false;
    for (size_t i = 0; journey->not_segments && journey->not_segments [i]; i++)
        if (nd_json_has_string (segments, journey->not_segments [i]))
            return false;
    return true;
}

//  What the journey keeps from its trigger: everything but the envelope
//  and the profile, which the scheduler keeps apart and reads fresh.
//  Only what is kept is copied: a copy of the whole body, profile and
//  traits included, then pruned, was most of the cost of entering.
static json_t *s_data (const json_t *body)
{
    if (!json_is_object (body))
        return json_deep_copy (body);
    static const char *const drop [] = { "id", "user", "time", "segments", "profile", "traits",
                                         "contact", "userIds", "anonymousIds", NULL };
    json_t *data = json_object ();
    const char *name;
    json_t *value;
    json_object_foreach ((json_t *) body, name, value) {
        bool dropped = false;
        for (int i = 0; !dropped && drop [i]; i++)
            dropped = streq (name, drop [i]);
        if (!dropped)
            json_object_set_new_nocheck (data, name, json_deep_copy (value));
    }
    return data;
}

//  The segments the trigger came with, as of its time: what a branch asks
//  (engine.c). The person's own move with every message, which a replay at
//  full speed may apply before a timer due earlier fires.
static void s_keep_segments (json_t *record, const json_t *body)
{
    json_t *segments = json_object_get (body, "segments");
    if (json_is_array (segments))
        json_object_set_new (record, "segments", json_deep_copy (segments));
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
    *id = self->next_instance = scheduler_number (self, self->next_instance);
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
    s_keep_segments (instance.record, body);
    nd_key_t key;
    instance_active_key (&key, user, journey->name);
    int rc = nd_db_put_u64 (txn, self->active, &key, instance.id);
    instance_owned_key (&key, user, instance.id);
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
        s_keep_segments (instance->record, body);
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
    uint64_t running = instance_active (self, txn, user, journey->name);
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
