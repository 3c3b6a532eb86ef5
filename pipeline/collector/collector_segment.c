/*  collector_segment - the Segment HTTP Tracking API's requests: the
    write key, the events checked into a ticket, the commit, the answer.

    Layer: the HTTP intake's endpoints, beside collector_signed.c,
    collector_confirm.c and collector_click.c; collector_http.c routes
    /v1/... here and hands over the body once it is in. It answers
    through collector_reply.c and commits through the queue.

    A write key comes as Segment's SDKs send it, the HTTP Basic user name,
    or as "writeKey" in the body. A request's valid events are committed
    and its invalid ones listed with their index and reason; /v1/tick
    moves event time, /v1/erase (a server key) erases a person,
    /v1/confirm's typed code goes to collector_confirm.c, and
    /v1/catalogue takes a product feed, not JSON (collector_feed.c).     */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>
#include <microhttpd.h>
#include "collector.h"

/* ----------------------------------------------------------------- auth */

//  The configured key that key is, or NULL; every key is compared, so the
//  time taken does not tell which one nearly matched.
static const collector_key_t *s_key_ok (collector_http_t *self, const char *key)
{
    size_t length = key ? strlen (key) : 0;
    const collector_key_t *match = NULL;
    for (const collector_key_t *known = self->keys; key && known->key; known++)
        if (strlen (known->key) == length && CRYPTO_memcmp (known->key, key, length) == 0)
            match = known;
    return match;
}

//  Segment's scheme: HTTP Basic with the write key as user name and any
//  password. Returns 1 authorized (*key the key), 0 no header, -1 a header
//  that fails.
int collector_segment_header_auth (collector_http_t *self, struct MHD_Connection *connection,
                                   const collector_key_t **key)
{
    if (!MHD_lookup_connection_value (connection, MHD_HEADER_KIND,
                                      MHD_HTTP_HEADER_AUTHORIZATION))
        return 0;
    char *password = NULL;
    char *user = MHD_basic_auth_get_username_password (connection, &password);
    *key = s_key_ok (self, user);
    int rc = *key ? 1 : -1;
    if (user)
        MHD_free (user);
    if (password)
        MHD_free (password);
    return rc;
}

/* --------------------------------------------------------------- intake */

//  Checks one event and adds it to the ticket, or its refusal to rejected.
static void s_take (json_t *event, const char *type, const collector_envelope_t *envelope,
                    collector_ticket_t *ticket, size_t index, json_t *rejected, char *reason)
{
    char topic [32];
    int64_t time;
    if (collector_event_normalize (event, type, envelope, topic, sizeof topic, &time, reason) == 0)
        collector_ticket_add (ticket, topic, json_incref (event), time);
    else
        json_array_append_new (rejected, json_pack (
            "{s:I, s:O?, s:s}", "index", (json_int_t) index,
            "messageId", json_is_object (event) ? json_object_get (event, "messageId") : NULL,
            "reason", reason));
}

//  A batch carries context, integrations and sentAt for all its events.
static int s_take_batch (collector_http_t *self, json_t *root, size_t size,
                         collector_envelope_t *envelope, collector_ticket_t *ticket,
                         json_t *rejected, char *reason)
{
    json_t *batch = json_object_get (root, "batch");
    if (!json_is_array (batch)) {
        snprintf (reason, COLLECTOR_REASON_MAX, "\"batch\" must be an array of events");
        return -1;
    }
    envelope->sent_at = json_object_get (root, "sentAt");
    envelope->context = json_object_get (root, "context");
    envelope->integrations = json_object_get (root, "integrations");
    envelope->check_size = size > self->limits->max_event;
    size_t index;
    json_t *event;
    json_array_foreach (batch, index, event)
        s_take (event, NULL, envelope, ticket, index, rejected, reason);
    if (json_array_size (batch) && !collector_ticket_size (ticket))
        snprintf (reason, COLLECTOR_REASON_MAX, "no valid events in batch");
    return 0;
}

static int s_take_tick (collector_http_t *self, json_t *root, collector_ticket_t *ticket,
                        char *reason)
{
    int64_t time;
    if (!self->limits->event_time)
        snprintf (reason, COLLECTOR_REASON_MAX, "ticks need the event-time clock (--clock event)");
    else
    if (nd_time_parse (json_string_value (json_object_get (root, "time")) ?: "", &time))
        snprintf (reason, COLLECTOR_REASON_MAX, "tick needs \"time\", an ISO 8601 time");
    else {
        collector_ticket_add (ticket, "tick", collector_tick_new (time), time);
        return 0;
    }
    return -1;
}

//  An erasure (GDPR art. 17) is an event like any other, so it reaches
//  every stage in order, after what the person did before it: topic
//  person.erase, {"id", "user": the visitor id}. Only a server key may
//  ask, and the body names the visitor, not an address, so no contact
//  detail sits in the journal for it.
static int s_take_erase (json_t *root, bool browser, collector_ticket_t *ticket, char *reason)
{
    const char *visitor = json_string_value (json_object_get (root, "visitor"));
    if (browser)
        snprintf (reason, COLLECTOR_REASON_MAX, "an erasure needs a server write key");
    else
    if (!visitor || !*visitor || strlen (visitor) > 400)
        snprintf (reason, COLLECTOR_REASON_MAX, "erase needs \"visitor\", the visitor id");
    else {
        char id [480];
        snprintf (id, sizeof id, "%s:erase", visitor);
        json_t *body = json_pack ("{s:s, s:s}", "id", id, "user", visitor);
        collector_ticket_add (ticket, "person.erase", body, 0);
        return 0;
    }
    return -1;
}

//  Fills ticket with the request's valid events and rejected with the
//  others. Returns -1 with reason when the request as a whole is refused.
static int s_take_request (collector_http_t *self, json_t *root, size_t size, const char *call,
                           bool browser, collector_ticket_t *ticket, json_t *rejected,
                           char *reason)
{
    collector_envelope_t envelope = { .limits = self->limits, .received = nd_wall_ms (),
                                      .browser = browser };
    if (strcmp (call, "tick") == 0)
        return s_take_tick (self, root, ticket, reason);
    if (strcmp (call, "erase") == 0)
        return s_take_erase (root, browser, ticket, reason);
    if (strcmp (call, "batch") == 0)
        return s_take_batch (self, root, size, &envelope, ticket, rejected, reason);
    s_take (root, call, &envelope, ticket, 0, rejected, reason);
    return collector_ticket_size (ticket) ? 0 : -1;
}

/* -------------------------------------------------------------- serving */

static enum MHD_Result s_answer (collector_http_t *self, struct MHD_Connection *connection,
                                 const char *url, int rc, size_t accepted, json_t *rejected)
{
    if (rc != COLLECTOR_COMMITTED)
        return collector_reply_refuse (self, connection, url, MHD_HTTP_SERVICE_UNAVAILABLE,
                                       rc == COLLECTOR_FAILED
                                       ? "could not store the events, retry later"
                                     : rc == COLLECTOR_TIMEOUT ? "busy, retry later"
                                     : "stopping, retry later", NULL);
    json_t *answer = json_pack ("{s:b}", "success", 1);
    if (json_array_size (rejected)) {
        char text [COLLECTOR_REASON_MAX + 64];
        snprintf (text, sizeof text, "%zu of %zu events rejected, first: %s",
                  json_array_size (rejected), accepted + json_array_size (rejected),
                  json_string_value (json_object_get (json_array_get (rejected, 0), "reason")));
        collector_reply_log_refusal (self, url, MHD_HTTP_OK, text);
        json_object_set_new (answer, "accepted", json_integer ((json_int_t) accepted));
        json_object_set (answer, "rejected", rejected);
    }
    return collector_reply_respond (self, connection, MHD_HTTP_OK, answer, NULL, NULL);
}

//  A parsed, authorized request: check its events, commit, answer.
static enum MHD_Result s_serve (collector_http_t *self, struct MHD_Connection *connection,
                                const char *url, collector_request_t *request,
                                const collector_key_t *key, json_t *root)
{
    collector_ticket_t *ticket = collector_ticket_new ();
    json_t *rejected = json_array ();
    char reason [COLLECTOR_REASON_MAX] = "";
    bool batch = strcmp (request->route->call, "batch") == 0;
    int rc = s_take_request (self, root, collector_body_size (request->body), request->route->call,
                             key->origins != NULL, ticket, rejected, reason);
    atomic_fetch_add (&self->counters->rejected, json_array_size (rejected));
    size_t accepted = collector_ticket_size (ticket);
    enum MHD_Result result;
    if (rc == 0 && accepted)
        result = s_answer (self, connection, url,
                           collector_queue_commit (self->queue, ticket,
                                                   COLLECTOR_COMMIT_TIMEOUT_MS),
                           accepted, rejected);
    else
    if (rc == 0 && !*reason)            //  an empty batch: nothing to do
        result = s_answer (self, connection, url, COLLECTOR_COMMITTED, 0, rejected);
    else
        result = collector_reply_refuse (self, connection, url, MHD_HTTP_BAD_REQUEST, reason,
                                         batch ? rejected : NULL);
    json_decref (rejected);
    collector_ticket_destroy (&ticket);
    return result;
}

//  A product feed, not JSON: only with a server key in the header.
static enum MHD_Result s_catalogue (collector_http_t *self, struct MHD_Connection *connection,
                                    const char *url, const collector_key_t *key,
                                    const char *text, size_t size)
{
    if (!key)
        return collector_reply_refuse (self, connection, url, MHD_HTTP_UNAUTHORIZED,
                                       "a feed needs a server write key as the HTTP Basic "
                                       "user name", NULL);
    if (key->origins)
        return collector_reply_refuse (self, connection, url, MHD_HTTP_FORBIDDEN,
                                       "the catalogue needs a server write key, not a "
                                       "browser's", NULL);
    int64_t wait = collector_rate_take (self->per_key, key->key, nd_wall_ms ());
    if (wait)
        return collector_reply_too_many (self, connection, url, "with this write key", wait);
    collector_ticket_t *ticket = collector_ticket_new ();
    json_t *rejected = json_array ();
    char reason [COLLECTOR_REASON_MAX] = "";
    size_t refused = 0;
    int rc = collector_feed_take (text, size, ticket, rejected, &refused, reason);
    atomic_fetch_add (&self->counters->rejected, refused);
    enum MHD_Result result = rc == 0
        ? s_answer (self, connection, url,
                    collector_queue_commit (self->queue, ticket, COLLECTOR_COMMIT_TIMEOUT_MS),
                    collector_ticket_size (ticket), rejected)
        : collector_reply_refuse (self, connection, url, MHD_HTTP_BAD_REQUEST, reason, rejected);
    json_decref (rejected);
    collector_ticket_destroy (&ticket);
    return result;
}

//  The whole body is in: size, then key, then JSON, then the events.
enum MHD_Result collector_segment_finish (collector_http_t *self, struct MHD_Connection *connection,
                                          const char *url, collector_request_t *request)
{
    char reason [COLLECTOR_REASON_MAX];
    const char *text;
    size_t size;
    int status = collector_body_get (request->body, &text, &size, reason, sizeof reason);
    if (status)
        return collector_reply_refuse (self, connection, url, (unsigned int) status, reason, NULL);
    if (strcmp (request->route->call, "catalogue") == 0)
        return s_catalogue (self, connection, url, request->key, text, size);
    char error [120] = "";
    json_t *root = nd_json_parse (text, size, error, sizeof error);
    //  SDKs that cannot set headers (browsers avoiding CORS preflight) put
    //  the key in the body
    const collector_key_t *key = request->key ? request->key
        : s_key_ok (self, json_string_value (json_object_get (root, "writeKey")));
    if (!key) {
        json_decref (root);
        return collector_reply_refuse (self, connection, url, MHD_HTTP_UNAUTHORIZED,
                                       "missing or unknown write key: send it as the HTTP "
                                       "Basic user name", NULL);
    }
    const char *wrong_origin = collector_reply_origin_refusal (key, connection);
    if (wrong_origin) {
        json_decref (root);
        return collector_reply_refuse (self, connection, url, MHD_HTTP_FORBIDDEN, wrong_origin,
                                       NULL);
    }
    int64_t wait = collector_rate_take (self->per_key, key->key, nd_wall_ms ());
    if (wait) {
        json_decref (root);
        return collector_reply_too_many (self, connection, url, "with this write key", wait);
    }
    enum MHD_Result result;
    if (!root) {
        //  The reason names the fault and its byte offset, never the input
        //  (which may hold contact details), so the log may have it too
        snprintf (reason, sizeof reason, "malformed JSON: %s", error);
        result = collector_reply_refuse (self, connection, url, MHD_HTTP_BAD_REQUEST, reason, NULL);
    }
    else
    if (!json_is_object (root))
        result = collector_reply_refuse (self, connection, url, MHD_HTTP_BAD_REQUEST,
                                         "body must be a JSON object", NULL);
    else
    if (strcmp (request->route->call, "confirm") == 0) {
        char retry [24] = "";
        json_t *answer;
        unsigned int status = collector_confirm_code (self->confirm, root, &answer,
                                                      retry, sizeof retry);
        result = collector_reply_respond (self, connection, status, answer,
                                          *retry ? MHD_HTTP_HEADER_RETRY_AFTER : NULL, retry);
    }
    else
        result = s_serve (self, connection, url, request, key, root);
    json_decref (root);
    return result;
}
