/*  collector_event - one Segment event, checked and normalized.

    What the sessionizer receives is the event as the SDK sent it, plus the
    fields every nudge body carries ("id", "user", "time") and the ones the
    Segment API adds on receipt ("receivedAt", "originalTimestamp" and a
    "timestamp" corrected for the client's clock skew). The write key is
    dropped: nothing downstream needs it and taps must not show it.
*/
#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include "collector.h"

#define ID_MAX 255              //  bytes; ids become LMDB keys downstream

static const char *s_types [] = {
    "track", "identify", "page", "screen", "group", "alias", NULL
};

static bool s_known_type (const char *type)
{
    for (const char **known = s_types; *known; known++)
        if (strcmp (*known, type) == 0)
            return true;
    return false;
}

//  Segment accepts numeric ids; every stage after this one keys by string.
//  Returns 1 if the field holds a usable id (now a string), 0 if absent or
//  empty, -1 (reason filled in) if it cannot be an id.
static int s_id_field (json_t *event, const char *name, char *reason)
{
    json_t *value = json_object_get (event, name);
    char text [64];
    if (json_is_integer (value)) {
        snprintf (text, sizeof text, "%" JSON_INTEGER_FORMAT, json_integer_value (value));
        json_object_set_new (event, name, json_string (text));
        return 1;
    }
    if (json_is_real (value)) {
        snprintf (text, sizeof text, "%.15g", json_real_value (value));
        json_object_set_new (event, name, json_string (text));
        return 1;
    }
    //  Downstream, a present userId means an identified visitor: "" and
    //  null must not look like one
    if (!value || json_is_null (value)
    ||  (json_is_string (value) && json_string_length (value) == 0)) {
        json_object_del (event, name);
        return 0;
    }
    if (!json_is_string (value)) {
        snprintf (reason, COLLECTOR_REASON_MAX, "%s must be a string", name);
        return -1;
    }
    if (json_string_length (value) > ID_MAX) {
        snprintf (reason, COLLECTOR_REASON_MAX, "%s longer than %d bytes", name, ID_MAX);
        return -1;
    }
    return 1;
}

//  A messageId the client did not give: random, so it is unique across
//  restarts without coordination.
static void s_new_message_id (json_t *event)
{
    uint8_t random [16];
    char text [40] = "nd-";
    //  Blocks only until the kernel has entropy, once after boot
    while (getrandom (random, sizeof random, 0) != (ssize_t) sizeof random)
        assert (errno == EINTR);
    for (size_t i = 0; i < sizeof random; i++)
        snprintf (text + 3 + 2 * i, 3, "%02x", random [i]);
    json_object_set_new (event, "messageId", json_string (text));
}

//  Fields that must be JSON objects if present (null stands for absent).
static int s_check_objects (json_t *event, char *reason)
{
    static const char *const names [] = {
        "properties", "traits", "context", "integrations", NULL
    };
    for (const char *const *name = names; *name; name++) {
        json_t *value = json_object_get (event, *name);
        if (value && !json_is_object (value) && !json_is_null (value)) {
            snprintf (reason, COLLECTOR_REASON_MAX, "%s must be an object", *name);
            return -1;
        }
    }
    return 0;
}

//  What each call needs beyond a user: Segment's own required fields.
static int s_check_type (json_t *event, const char *type, char *reason)
{
    if (strcmp (type, "track") == 0) {
        const char *name = json_string_value (json_object_get (event, "event"));
        if (!name || !*name) {
            snprintf (reason, COLLECTOR_REASON_MAX, "track needs an \"event\" name");
            return -1;
        }
    }
    const char *needs = strcmp (type, "alias") == 0 ? "previousId"
                      : strcmp (type, "group") == 0 ? "groupId" : NULL;
    if (needs) {
        int rc = s_id_field (event, needs, reason);
        if (rc == 0)
            snprintf (reason, COLLECTOR_REASON_MAX, "%s needs \"%s\"", type, needs);
        if (rc != 1)
            return -1;
    }
    return 0;
}

#define s_YEAR_10000_MS 253402300800000LL

//  Reads an optional ISO 8601 field: 1 present, 0 absent, -1 bad.
static int s_time_field (json_t *value, const char *name, int64_t *ms, char *reason)
{
    if (!value || json_is_null (value))
        return 0;
    if (!json_is_string (value) || nd_time_parse (json_string_value (value), ms)) {
        snprintf (reason, COLLECTOR_REASON_MAX, "%s is not an ISO 8601 time", name);
        return -1;
    }
    //  What nudge writes it must read back: four-digit years, none before
    //  the epoch the stages count from
    if (*ms < 0 || *ms >= s_YEAR_10000_MS) {
        snprintf (reason, COLLECTOR_REASON_MAX, "%s is outside the years 1970-9999", name);
        return -1;
    }
    return 1;
}

//  "timestamp" and "time" are one value, formatted once.
static void s_set_times (json_t *event, int64_t time, int64_t received)
{
    char text [32];
    json_t *value = json_string (nd_time_format (time, text));
    json_object_set (event, "timestamp", value);
    json_object_set_new (event, "time", value);
    json_object_set_new (event, "receivedAt", received == time
                         ? json_incref (value) : json_string (nd_time_format (received, text)));
}

//  Segment's clock-skew correction: the client's clock may be wrong, but
//  the gap between the event and its sending is right, so the event
//  happened that long before the request arrived. In event time nothing
//  "arrives": the request is taken to arrive when it was sent, and an event
//  with neither time waits for the loop's clock (returns time 0).
static int s_times (json_t *event, const collector_envelope_t *envelope,
                    int64_t *time, char *reason)
{
    int64_t stamp = 0, sent = 0;
    json_t *sent_value = json_object_get (event, "sentAt");
    if (!sent_value && envelope->sent_at) {
        sent_value = envelope->sent_at;
        json_object_set (event, "sentAt", sent_value);
    }
    int has_stamp = s_time_field (json_object_get (event, "timestamp"), "timestamp",
                                  &stamp, reason);
    int has_sent = s_time_field (sent_value, "sentAt", &sent, reason);
    if (has_stamp < 0 || has_sent < 0)
        return -1;
    int64_t received;
    if (envelope->limits->event_time) {
        received = has_sent ? sent : stamp;
        *time = has_stamp ? stamp : received;
        if (!has_stamp && !has_sent)
            return 0;
    }
    else {
        received = envelope->received;
        *time = has_stamp ? (has_sent ? received - (sent - stamp) : stamp) : received;
        if (*time < 0 || *time >= s_YEAR_10000_MS) {
            snprintf (reason, COLLECTOR_REASON_MAX, "timestamp corrected by sentAt is "
                      "outside the years 1970-9999");
            return -1;
        }
    }
    if (has_stamp)
        json_object_set (event, "originalTimestamp", json_object_get (event, "timestamp"));
    s_set_times (event, *time, received);
    return 0;
}

//  Batch-level context and integrations fill what the event itself lacks.
//  Events share the batch's values rather than copy them: nothing changes
//  an event's nested objects once it is normalized.
static void s_merge (json_t *event, const char *name, json_t *outer)
{
    if (!json_is_object (outer))
        return;
    json_t *inner = json_object_get (event, name);
    if (json_is_object (inner))
        json_object_update_missing (inner, outer);
    else
        json_object_set (event, name, outer);
}

static int s_check_size (json_t *event, const collector_envelope_t *envelope, char *reason)
{
    size_t size = 0;
    free (nd_json_dump (event, &size));
    if (size <= envelope->limits->max_event)
        return 0;
    snprintf (reason, COLLECTOR_REASON_MAX, "event is %zu bytes, more than max-event %zu",
              size, envelope->limits->max_event);
    return -1;
}

//  Type, size and ids: what must hold before anything is rewritten.
static int s_check (json_t *event, const char **type, const collector_envelope_t *envelope,
                    int *has_user, char *reason)
{
    if (!json_is_object (event)) {
        snprintf (reason, COLLECTOR_REASON_MAX, "event must be a JSON object");
        return -1;
    }
    json_object_del (event, "writeKey");
    if (*type)
        json_object_set_new (event, "type", json_string (*type));
    else {
        *type = json_string_value (json_object_get (event, "type"));
        if (!*type) {
            snprintf (reason, COLLECTOR_REASON_MAX, "missing \"type\"");
            return -1;
        }
        if (!s_known_type (*type)) {
            snprintf (reason, COLLECTOR_REASON_MAX, "unknown type \"%.32s\"", *type);
            return -1;
        }
    }
    if (envelope->check_size && s_check_size (event, envelope, reason))
        return -1;
    int has_anonymous = s_id_field (event, "anonymousId", reason);
    *has_user = has_anonymous < 0 ? -1 : s_id_field (event, "userId", reason);
    if (has_anonymous < 0 || *has_user < 0)
        return -1;
    if (!has_anonymous && !*has_user) {
        snprintf (reason, COLLECTOR_REASON_MAX, "missing userId or anonymousId");
        return -1;
    }
    return s_check_type (event, *type, reason);
}

int collector_event_normalize (json_t *event, const char *type,
                               const collector_envelope_t *envelope,
                               char *topic, size_t topic_size, int64_t *time,
                               char *reason)
{
    int has_user;
    if (s_check (event, &type, envelope, &has_user, reason)
    ||  s_check_objects (event, reason))
        return -1;
    int has_message_id = s_id_field (event, "messageId", reason);
    if (has_message_id < 0)
        return -1;
    if (!has_message_id)
        s_new_message_id (event);
    if (s_times (event, envelope, time, reason))
        return -1;
    s_merge (event, "context", envelope->context);
    s_merge (event, "integrations", envelope->integrations);
    //  Only the collector says where an event came from
    json_object_del (event, "via");
    if (envelope->browser)
        json_object_set_new (event, "via", json_string ("browser"));
    json_object_set (event, "id", json_object_get (event, "messageId"));
    json_object_set (event, "user", json_object_get (event, has_user ? "userId" : "anonymousId"));
    snprintf (topic, topic_size, "event.%s", type);
    return 0;
}

void collector_event_stamp (json_t *event, int64_t now)
{
    s_set_times (event, now, now);
}

json_t *collector_tick_new (int64_t time)
{
    char id [48], text [32];
    snprintf (id, sizeof id, "tick-%" PRId64, time);
    return json_pack ("{s:s, s:s, s:s}", "id", id, "user", "",
                      "time", nd_time_format (time, text));
}

/* ------------------------------------------------------------ self-test */

//  Normalizes text (type NULL: from the event); returns the event or NULL.
static json_t *s_try (const char *text, const char *type, const collector_envelope_t *envelope,
                      char *reason, int64_t *time)
{
    json_t *event = json_loads (text, 0, NULL);
    assert (event);
    char topic [32];
    if (collector_event_normalize (event, type, envelope, topic, sizeof topic, time, reason)) {
        json_decref (event);
        return NULL;
    }
    return event;
}

static const char *s_str (json_t *event, const char *name)
{
    return json_string_value (json_object_get (event, name));
}

void collector_event_test (bool verbose)
{
    if (verbose)
        printf (" * collector_event: ");
    collector_limits_t limits = { .max_event = 32768, .max_batch = 512000 };
    int64_t received, time;
    nd_time_parse ("2026-11-23T19:20:10.000Z", &received);
    collector_envelope_t envelope = { .limits = &limits, .received = received };
    char reason [COLLECTOR_REASON_MAX];

    //  Clock skew: sent 2 s after the event by a clock 1 h fast
    json_t *event = s_try ("{\"userId\":42,\"event\":\"Product Viewed\",\"writeKey\":\"k\","
                           "\"timestamp\":\"2026-11-23T20:20:08Z\","
                           "\"sentAt\":\"2026-11-23T20:20:10Z\"}",
                           "track", &envelope, reason, &time);
    assert (event);
    assert (streq (s_str (event, "user"), "42"));
    assert (streq (s_str (event, "time"), "2026-11-23T19:20:08.000Z"));
    assert (streq (s_str (event, "originalTimestamp"), "2026-11-23T20:20:08Z"));
    assert (streq (s_str (event, "receivedAt"), "2026-11-23T19:20:10.000Z"));
    assert (strncmp (s_str (event, "id"), "nd-", 3) == 0);
    assert (json_object_get (event, "writeKey") == NULL);
    json_decref (event);

    //  "via" is the collector's to say: a client's is dropped
    event = s_try ("{\"userId\":\"u\",\"via\":\"one-click\"}", "identify", &envelope,
                   reason, &time);
    assert (event && !json_object_get (event, "via"));
    json_decref (event);
    envelope.browser = true;
    event = s_try ("{\"userId\":\"u\",\"via\":\"server\"}", "identify", &envelope,
                   reason, &time);
    assert (event && streq (s_str (event, "via"), "browser"));
    json_decref (event);
    envelope.browser = false;

    assert (!s_try ("{\"type\":\"track\",\"anonymousId\":\"a\"}", NULL, &envelope, reason, &time));
    assert (streq (reason, "track needs an \"event\" name"));
    assert (!s_try ("{\"type\":\"page\"}", NULL, &envelope, reason, &time));
    assert (streq (reason, "missing userId or anonymousId"));
    assert (!s_try ("{\"type\":\"fly\",\"userId\":\"u\"}", NULL, &envelope, reason, &time));
    assert (!s_try ("{\"userId\":\"u\",\"timestamp\":\"noon\"}", "page", &envelope, reason, &time));
    assert (!s_try ("{\"userId\":\"u\"}", "alias", &envelope, reason, &time));

    //  Times nudge could not read back: refused with the reason
    assert (!s_try ("{\"userId\":\"u\",\"timestamp\":\"0000-01-01T00:00:00+23:59\"}", "page",
                    &envelope, reason, &time));
    assert (streq (reason, "timestamp is outside the years 1970-9999"));
    assert (!s_try ("{\"userId\":\"u\",\"timestamp\":\"2026-02-30T10:00:00Z\"}", "page",
                    &envelope, reason, &time));
    assert (streq (reason, "timestamp is not an ISO 8601 time"));
    assert (!s_try ("{\"userId\":\"u\",\"sentAt\":\"1969-12-31T23:59:59Z\"}", "page",
                    &envelope, reason, &time));
    assert (!s_try ("{\"userId\":\"u\",\"timestamp\":\"1970-01-01T00:00:00.5Z\","
                    "\"sentAt\":\"2026-11-23T19:20:11Z\"}", "page", &envelope, reason, &time));
    assert (streq (reason, "timestamp corrected by sentAt is outside the years 1970-9999"));

    //  An empty userId is no userId
    event = s_try ("{\"userId\":\"\",\"anonymousId\":\"a-1\"}", "page", &envelope, reason, &time);
    assert (event && !json_object_get (event, "userId") && streq (s_str (event, "user"), "a-1"));
    json_decref (event);

    //  Event time: no times at all waits for the loop's clock
    limits.event_time = true;
    event = s_try ("{\"anonymousId\":\"a\",\"messageId\":\"m1\"}", "page", &envelope,
                   reason, &time);
    assert (event && time == 0 && streq (s_str (event, "id"), "m1"));
    collector_event_stamp (event, received);
    assert (streq (s_str (event, "time"), "2026-11-23T19:20:10.000Z"));
    json_decref (event);

    json_t *tick = collector_tick_new (received);
    assert (streq (s_str (tick, "id"), "tick-1795461610000"));
    json_decref (tick);
    if (verbose)
        printf ("OK\n");
}
