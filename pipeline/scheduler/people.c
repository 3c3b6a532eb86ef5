/*  people.c - what the scheduler knows of a person, from their messages.

    Layer: store: calls instance.c (a merge rehomes the loser's instances).

    The profile (contacts, consent, time zone, locale, segments) comes
    from profile.updated; opt-outs, bounces and dead push subscriptions
    from the senders' feedback. Activity - when they last did anything,
    whether their session has ended, whether a chat is open, when they
    last ordered - changes with nearly every event, so it lives apart
    from the profile in 32 bytes that cost no JSON to update.

    Consent, as the sessionizer passes the shop's traits on: e-mail may
    be sent unless email_consent is false; SMS needs sms_consent true and
    an E.164 phone number; push needs an app token (traits.push.fcm or
    .apns) or a push_subscription with an endpoint, and push_consent not
    false; the app is tried first, then the browser (push-sender). An unsubscribe (any channel, or
    "all") stands until an operator lifts it, or the person opts in again
    on that channel (an SMS START; "all" stands); a hard bounce suppresses
    that address and a dead subscription or app token that address,
    until the profile names a new one.

    On-site messages go to the person's recent anonymous ids (the
    browser's random id, never the userId): the last ANONYMOUS_IDS_MAX of
    "anonymousIds" in profile.updated, or in a trigger that carries them
    (the sessionizer's cart.browsing and cart.returned do: an anonymous
    visitor may never have had a profile.updated).                       */
#include <ctype.h>
#include "people.h"
#include "instance.h"

#define ACTIVITY_SIZE 32
#define ANONYMOUS_IDS_MAX 5

static void s_user_key (nd_key_t *key, const char *user)
{
    nd_key_init (key);
    nd_key_str (key, user);
}

static void s_activity_read (scheduler_t *self, MDB_txn *txn, person_t *person)
{
    nd_key_t key;
    s_user_key (&key, person->user);
    MDB_val k = nd_key_val (&key), data;
    if (mdb_get (txn, self->activity, &k, &data) == 0 && data.mv_size == ACTIVITY_SIZE) {
        person->last_event = nd_key_get_i64 (&data, 0);
        person->session_ended = nd_key_get_i64 (&data, 8);
        person->chat_since = nd_key_get_i64 (&data, 16);
        person->last_order = nd_key_get_i64 (&data, 24);
    }
}

static int s_activity_write (scheduler_t *self, MDB_txn *txn, person_t *person)
{
    nd_key_t key, value;
    s_user_key (&key, person->user);
    nd_key_init (&value);
    nd_key_i64 (&value, person->last_event);
    nd_key_i64 (&value, person->session_ended);
    nd_key_i64 (&value, person->chat_since);
    nd_key_i64 (&value, person->last_order);
    return nd_db_put_raw (txn, self->activity, &key, value.data, value.size);
}

//  Most messages with a user load a person (activity or profile): the id
//  is copied with the length already measured, not through snprintf.
static person_t *s_person_new (const char *user)
{
    size_t length = user ? strlen (user) : 0;
    if (length == 0 || length > SCHEDULER_USER_MAX)
        return NULL;
    person_t *person = (person_t *) zmalloc (sizeof *person);
    memcpy (person->user, user, length + 1);
    return person;
}

person_t *person_load (scheduler_t *self, MDB_txn *txn, const char *user)
{
    person_t *person = s_person_new (user);
    if (!person)
        return NULL;
    nd_key_t key;
    s_user_key (&key, user);
    int rc = record_get (txn, self->people, &key, &person->record);
    if (rc < 0) {
        person_destroy (&person);
        return NULL;
    }
    if (rc == ND_NOTFOUND || !json_is_object (person->record)) {
        json_decref (person->record);
        person->record = json_pack ("{s:{}}", "traits");
    }
    s_activity_read (self, txn, person);
    return person;
}

int person_store (scheduler_t *self, MDB_txn *txn, person_t *person)
{
    nd_key_t key;
    s_user_key (&key, person->user);
    if (person->changed && record_put (txn, self->people, &key, person->record))
        return -1;
    if (person->activity_changed && s_activity_write (self, txn, person))
        return -1;
    person->changed = person->activity_changed = false;
    return 0;
}

void person_destroy (person_t **self_p)
{
    person_t *self = *self_p;
    if (self) {
        json_decref (self->record);
        json_decref (self->push_to);
        free (self);
        *self_p = NULL;
    }
}

/* ---------------------------------------------------------- contacts -- */

static bool s_opted_out (person_t *person, channel_t channel)
{
    json_t *optout = json_object_get (person->record, "optout");
    return json_object_get (optout, channel_name (channel)) || json_object_get (optout, "all");
}

bool person_blocked (person_t *person, channel_t channel, const char *address)
{
    const char *suppressed = record_str (person->record, "suppressed");
    return s_opted_out (person, channel)
        || (channel == CHANNEL_EMAIL && suppressed && strcasecmp (suppressed, address) == 0);
}

static const char *const s_app_kinds [] = { "fcm", "apns", NULL };

//  The push addresses still alive, as person_contact describes them.
static json_t *s_push_to (person_t *person, json_t *traits)
{
    if (json_is_false (json_object_get (traits, "push_consent")))
        return NULL;
    json_t *to = json_object ();
    json_t *app = json_object_get (traits, "push");
    json_t *dead = json_object_get (person->record, "dead_app");
    for (size_t i = 0; s_app_kinds [i]; i++) {
        const char *token = json_string_value (json_object_get (app, s_app_kinds [i]));
        const char *gone = json_string_value (json_object_get (dead, s_app_kinds [i]));
        if (token && *token && strlen (token) <= 4096 && !(gone && streq (gone, token)))
            json_object_set_new (to, s_app_kinds [i], json_string (token));
    }
    json_t *subscription = json_object_get (traits, "push_subscription");
    const char *endpoint = json_string_value (json_object_get (subscription, "endpoint"));
    const char *gone = record_str (person->record, "dead_push");
    if (endpoint && *endpoint && !(gone && streq (gone, endpoint))) {
        const char *name;
        json_t *value;
        json_object_foreach (subscription, name, value)
            if (!streq (name, "fcm") && !streq (name, "apns"))
                json_object_set (to, name, value);
    }
    if (json_object_size (to) == 0)
        json_decref (to), to = NULL;
    return to;
}

json_t *person_contact (person_t *person, channel_t channel)
{
    json_t *traits = json_object_get (person->record, "traits");
    if (s_opted_out (person, channel))
        return NULL;
    if (channel == CHANNEL_PUSH) {
        json_decref (person->push_to);
        person->push_to = s_push_to (person, traits);
        return person->push_to;
    }
    if (channel == CHANNEL_ONSITE) {
        json_t *ids = json_object_get (person->record, "anonymous_ids");
        return json_array_size (ids) ? ids : NULL;
    }
    //  WhatsApp has its own opt-in: an SMS consent is not one for it
    if (channel == CHANNEL_SMS || channel == CHANNEL_WHATSAPP) {
        json_t *phone = json_object_get (traits, "phone");
        bool ok = nd_phone_e164 (json_string_value (phone))
               && json_is_true (json_object_get (traits, channel == CHANNEL_SMS ? "sms_consent"
                                                                               : "whatsapp_consent"));
        return ok ? phone : NULL;
    }
    json_t *email = json_object_get (traits, "email");
    const char *address = json_string_value (email);
    const char *suppressed = record_str (person->record, "suppressed");
    bool ok = address && strchr (address, '@')
           && !json_is_false (json_object_get (traits, "email_consent"))
           && !(suppressed && strcasecmp (suppressed, address) == 0);
    return ok ? email : NULL;
}

const char *person_timezone (scheduler_t *self, person_t *person)
{
    const char *zone = json_string_value (
        json_object_get (json_object_get (person->record, "traits"), "timezone"));
    return zone && nd_tz_known (self->tz, zone) ? zone : self->timezone;
}

const char *person_locale (person_t *person)
{
    json_t *traits = json_object_get (person->record, "traits");
    const char *locale = json_string_value (json_object_get (traits, "locale"));
    return locale ? locale : json_string_value (json_object_get (traits, "language"));
}

int person_block (person_t *person, const char *what, const char *channel, int64_t time)
{
    json_t *traits = json_object_get (person->record, "traits");
    if (streq (what, "optout")) {
        json_t *optout = json_object_get (person->record, "optout");
        if (!optout)
            json_object_set_new (person->record, "optout", optout = json_object ());
        json_object_set_new (optout, channel, json_integer (time));
    }
    else
    if (streq (what, "optin"))
        json_object_del (json_object_get (person->record, "optout"), channel);
    else
    if (streq (what, "bounced") && json_object_get (traits, "email"))
        json_object_set (person->record, "suppressed", json_object_get (traits, "email"));
    else
    if (streq (what, "unreachable"))
        json_object_set (person->record, "dead_push",
            json_object_get (json_object_get (traits, "push_subscription"), "endpoint"));
    person->changed = true;
    return 0;
}

void person_push_gone (person_t *person, const json_t *gone)
{
    size_t index;
    json_t *entry;
    json_array_foreach (gone, index, entry) {
        const char *kind;
        json_t *token;
        json_object_foreach (entry, kind, token) {
            if (!json_is_string (token))
                continue;
            if (streq (kind, "web"))
                json_object_set (person->record, "dead_push", token);
            else
            if (streq (kind, "fcm") || streq (kind, "apns")) {
                json_t *dead = json_object_get (person->record, "dead_app");
                if (!json_is_object (dead))
                    json_object_set_new (person->record, "dead_app", dead = json_object ());
                json_object_set (dead, kind, token);
            }
            person->changed = true;
        }
    }
}

json_t *person_view (person_t *person)
{
    json_t *traits = json_object_get (person->record, "traits");
    json_t *segments = json_object_get (person->record, "segments");
    return json_pack ("{s:O, s:o, s:{s:b, s:b, s:b, s:b}}", "traits", traits ? traits : json_null (),
                      "segments", segments ? json_incref (segments) : json_array (),
                      "reachable", "push", person_contact (person, CHANNEL_PUSH) != NULL,
                      "sms", person_contact (person, CHANNEL_SMS) != NULL,
                      "email", person_contact (person, CHANNEL_EMAIL) != NULL,
                      "onsite", person_contact (person, CHANNEL_ONSITE) != NULL);
}

/* ----------------------------------------------------------- observe -- */

static bool s_prefix (const char *topic, const char *prefix)
{
    return strncmp (topic, prefix, strlen (prefix)) == 0;
}

static int64_t s_max (int64_t a, int64_t b)
{
    return a > b ? a : b;
}

//  The activity alone: most events need nothing else.
static person_t *s_activity_load (scheduler_t *self, MDB_txn *txn, const char *user)
{
    person_t *person = s_person_new (user);
    if (person)
        s_activity_read (self, txn, person);
    return person;
}

//  Keeps the last ANONYMOUS_IDS_MAX of ids (newest last) after known.
static json_t *s_recent_ids (const json_t *known, const json_t *ids)
{
    json_t *recent = json_array ();
    const json_t *lists [] = { known, ids };
    for (int l = 0; l < 2; l++) {
        size_t index;
        json_t *id;
        json_array_foreach (lists [l], index, id) {
            if (!json_is_string (id) || json_string_length (id) == 0
            ||  json_string_length (id) > 200)
                continue;
            for (size_t i = 0; i < json_array_size (recent); i++)
                if (json_equal (json_array_get (recent, i), id)) {
                    json_array_remove (recent, i);
                    break;
                }
            json_array_append (recent, id);
        }
    }
    while (json_array_size (recent) > ANONYMOUS_IDS_MAX)
        json_array_remove (recent, 0);
    return recent;
}

static void s_anonymous_ids (person_t *person, const json_t *ids)
{
    if (!json_array_size (ids))
        return;
    json_t *known = json_object_get (person->record, "anonymous_ids");
    json_t *recent = s_recent_ids (known, ids);
    if (!json_equal (recent, known)) {
        json_object_set (person->record, "anonymous_ids", recent);
        person->changed = true;
    }
    json_decref (recent);
}

static void s_profile (person_t *person, json_t *body)
{
    s_anonymous_ids (person, json_object_get (body, "anonymousIds"));
    json_t *traits = json_object_get (body, "traits");
    json_t *segments = json_object_get (body, "segments");
    if (json_is_object (traits)
    &&  !json_equal (traits, json_object_get (person->record, "traits"))) {
        json_object_set (person->record, "traits", traits);
        person->changed = true;
    }
    if (json_is_array (segments)
    &&  !json_equal (segments, json_object_get (person->record, "segments"))) {
        json_object_set (person->record, "segments", segments);
        person->changed = true;
    }
}

static void s_activity (person_t *person, const char *topic, int64_t time)
{
    int64_t before [4] = { person->last_event, person->session_ended, person->chat_since,
                           person->last_order };
    if (streq (topic, "session.ended"))
        person->session_ended = s_max (person->session_ended, time);
    else
    if (streq (topic, "chat.started"))
        person->chat_since = time;
    else
    if (streq (topic, "chat.ended"))
        person->chat_since = 0;
    else
    if (streq (topic, "order.completed"))
        person->last_order = s_max (person->last_order, time);
    else
        person->last_event = s_max (person->last_event, time);
    person->activity_changed = before [0] != person->last_event
        || before [1] != person->session_ended || before [2] != person->chat_since
        || before [3] != person->last_order;
}

static int s_merge (scheduler_t *self, MDB_txn *txn, const char *survivor, const char *loser,
                    int64_t time);

int people_observe (scheduler_t *self, MDB_txn *txn, const nd_msg_t *msg)
{
    const char *topic = msg->topic;
    const char *user = json_string_value (json_object_get (msg->body, "user"));
    int64_t time = msg->time ? msg->time : nd_stage_now (self->stage);
    if (streq (topic, "visitor.merged")) {
        const char *loser = json_string_value (json_object_get (msg->body, "merged"));
        return user && loser && !streq (user, loser) ? s_merge (self, txn, user, loser, time) : 0;
    }
    //  The sessionizer describes the person on abandonments too.
    bool profile = streq (topic, "profile.updated") || s_prefix (topic, "segment.")
                || (json_is_object (json_object_get (msg->body, "traits"))
                    && strstr (topic, ".abandoned"))
                || streq (topic, "cart.browsing") || streq (topic, "cart.returned");
    bool activity = s_prefix (topic, "event.") || s_prefix (topic, "session.")
                 || s_prefix (topic, "chat.") || streq (topic, "cart.updated")
                 || streq (topic, "order.completed");
    if (!profile && !activity)
        return 0;
    person_t *person = profile ? person_load (self, txn, user) : s_activity_load (self, txn, user);
    if (!person)
        return 0;           //  no user: nothing to remember
    if (profile)
        s_profile (person, msg->body);
    else
        s_activity (person, topic, time);
    int rc = person_store (self, txn, person);
    person_destroy (&person);
    return rc;
}

/* ------------------------------------------------------------- merge -- */

static void s_merge_record (person_t *into, person_t *from)
{
    const char *key;
    json_t *value;
    json_object_foreach (json_object_get (from->record, "optout"), key, value) {
        json_t *optout = json_object_get (into->record, "optout");
        if (!optout)
            json_object_set_new (into->record, "optout", optout = json_object ());
        json_object_set (optout, key, value);
    }
    json_t *ids = s_recent_ids (json_object_get (into->record, "anonymous_ids"),
                                json_object_get (from->record, "anonymous_ids"));
    if (json_array_size (ids))
        json_object_set (into->record, "anonymous_ids", ids);
    json_decref (ids);
    const char *fields [] = { "suppressed", "dead_push", NULL };
    for (int i = 0; fields [i]; i++)
        if (!json_object_get (into->record, fields [i]) && json_object_get (from->record, fields [i]))
            json_object_set (into->record, fields [i], json_object_get (from->record, fields [i]));
    into->last_event = s_max (into->last_event, from->last_event);
    into->session_ended = s_max (into->session_ended, from->session_ended);
    into->chat_since = s_max (into->chat_since, from->chat_since);
    into->last_order = s_max (into->last_order, from->last_order);
    into->changed = into->activity_changed = true;
}

//  Two visitor ids turned out to be one person (they logged in): what the
//  scheduler knew of the loser moves to the survivor, so opt-outs, caps,
//  attribution and running journeys follow the person, not the cookie.
static int s_merge (scheduler_t *self, MDB_txn *txn, const char *survivor, const char *loser,
                    int64_t time)
{
    person_t *into = person_load (self, txn, survivor), *from = person_load (self, txn, loser);
    int rc = into && from ? 0 : -1;
    if (rc == 0) {
        s_merge_record (into, from);
        nd_key_t key;
        s_user_key (&key, loser);
        rc = person_store (self, txn, into)
          || nd_db_del (txn, self->people, &key) < 0 || nd_db_del (txn, self->activity, &key) < 0
          || rows_move (txn, self->history, loser, survivor)
          || instance_rehome (self, txn, loser, survivor, time) ? -1 : 0;
    }
    person_destroy (&into);
    person_destroy (&from);
    return rc;
}
