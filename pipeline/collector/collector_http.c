/*  collector_http - the Segment HTTP Tracking API, served by libmicrohttpd.

    Each connection has its own thread (libmicrohttpd's thread-per-
    connection mode) because a request blocks until the loop has committed
    its events: that wait is the price of "200 means on disk". The thread
    parses and checks the request itself, so two cores share that work; the
    loop does only the LMDB writes. Threads have small stacks and there may
    be thousands (nd_httpd.h): a client that sends its headers a byte
    at a time holds one thread, not the server, and one over the limits is
    answered 503 at once.

    /unsubscribe is not Segment's: the one-click unsubscribe (RFC 8058)
    behind the mail-sender's List-Unsubscribe header. Its token, checked
    with the shared secret, is its authorization; no write key. Nor are
    /confirm and /v1/confirm, the double opt-in (collector_confirm.c),
    nor /c/TOKEN, the click redirect of links in messages (collector_click.c).
    /v1/catalogue takes a product feed, not JSON, and only with a server
    key (collector_feed.c).

    Request bodies are capped while they stream in (collector_body.c): a
    body that grows past the limit is discarded as it arrives (and one
    announced far past it is refused before it is read), so no request
    costs more memory than the limit. A gzip or deflate body is inflated
    as it comes, and the limit applies to what it inflates to.
*/
#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>
#include <microhttpd.h>
#include "nd_httpd.h"
#include "nd_listen.h"
#include "nd_token.h"
#include "collector.h"

#define COMMIT_TIMEOUT_MS 20000     //  SDKs give up after 10 s and retry
#define IDLE_TIMEOUT_S 30           //  keep-alive connections, then closed
#define DISCARD_FACTOR 4            //  an oversize body beyond this: hang up
#define LOG_LINES_PER_SECOND 10     //  refused requests must not flood the log
#define RATE_SLOTS 65536            //  clients whose request rate is kept

struct _collector_http_t {
    nd_httpd_t *server;
    const collector_key_t *keys;
    const collector_limits_t *limits;
    collector_queue_t *queue;
    collector_counters_t *counters;
    char *stage_name;
    const char *unsubscribe_secret;
    collector_kit_t *kit;       //  or NULL
    char *push_key;             //  the VAPID public key, or NULL
    collector_rate_t *per_ip;   //  NULL: no limit
    collector_rate_t *per_key;
    collector_confirm_t *confirm;   //  NULL: no secret, no /confirm
    collector_click_t *click;       //  NULL: no secret, no /c/
    pthread_mutex_t log_lock;
    int64_t log_second;
    int log_lines;
    uint64_t log_suppressed;
};

//  The calls, under Segment's paths and the one-letter ones its browser
//  library (analytics.js) uses.
typedef struct {
    const char *path;
    const char *call;           //  a Segment type, "batch" or "tick"
} s_route_t;

static const s_route_t s_routes [] = {
    { "/v1/track", "track" },       { "/v1/t", "track" },
    { "/v1/identify", "identify" }, { "/v1/i", "identify" },
    { "/v1/page", "page" },         { "/v1/p", "page" },
    { "/v1/screen", "screen" },     { "/v1/s", "screen" },
    { "/v1/group", "group" },       { "/v1/g", "group" },
    { "/v1/alias", "alias" },       { "/v1/a", "alias" },
    { "/v1/batch", "batch" },       { "/v1/b", "batch" },
    { "/v1/import", "batch" },
    { "/v1/tick", "tick" },
    { "/v1/confirm", "confirm" },   //  a typed SMS code (collector_confirm.c)
    { "/v1/erase", "erase" },       //  a person's erasure (nd-person --erase)
    { "/v1/catalogue", "catalogue" },   //  the shop's product feed (collector_feed.c)
    { NULL, NULL }
};

static const s_route_t s_unsubscribe_route = { "/unsubscribe", "unsubscribe" };
static const s_route_t s_push_event_route = { "/v1/push/event", "push-event" };
#define UNSUBSCRIBE_BODY_MAX 4096
#define PUSH_EVENT_PURPOSE "push-event"     //  the push-sender signs for it

typedef struct {
    const s_route_t *route;
    const collector_key_t *key; //  the write key of the Authorization header, or NULL
    collector_body_t *body;     //  capped (and inflated) as it streams in
} s_request_t;

/* ------------------------------------------------------------ responses */

/* -------------------------------------------------------------- origins */

static const char *s_origin_header (struct MHD_Connection *connection)
{
    return MHD_lookup_connection_value (connection, MHD_HEADER_KIND, "Origin");
}

static bool s_key_allows (const collector_key_t *key, const char *origin)
{
    for (char **allowed = key->origins; origin && allowed && *allowed; allowed++)
        if (strcasecmp (*allowed, origin) == 0)
            return true;
    return false;
}

//  The request's Origin when a browser key may be used from it, else NULL:
//  the answers to the shop's pages let them read it (CORS), no others.
static const char *s_cors_origin (collector_http_t *self, struct MHD_Connection *connection)
{
    const char *origin = s_origin_header (connection);
    for (const collector_key_t *key = self->keys; origin && key->key; key++)
        if (s_key_allows (key, origin))
            return origin;
    return NULL;
}

//  Why a browser key is refused here, or NULL: it is good only from its
//  shop's pages (a page elsewhere, a script with no Origin, may not use it).
static const char *s_origin_refusal (const collector_key_t *key, struct MHD_Connection *connection)
{
    if (!key->origins)
        return NULL;
    const char *origin = s_origin_header (connection);
    if (!origin)
        return "a browser write key needs an Origin header (it is good only from the shop's pages)";
    if (!s_key_allows (key, origin))
        return "this browser write key is not allowed from this origin";
    return NULL;
}

/* ------------------------------------------------------------ responses */

//  header, value: one more header to send (Allow, Retry-After), or NULL.
//  cors: the Access-Control-Allow-Origin to send, or NULL.
static enum MHD_Result s_send (struct MHD_Connection *connection, unsigned int status,
                               json_t *answer, const char *header, const char *value,
                               const char *cors)
{
    char *text = answer ? json_dumps (answer, JSON_COMPACT) : NULL;
    json_decref (answer);
    struct MHD_Response *response = MHD_create_response_from_buffer (
        text ? strlen (text) : 0, text, MHD_RESPMEM_MUST_FREE);
    if (text)
        MHD_add_response_header (response, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    if (cors) {
        MHD_add_response_header (response, "Access-Control-Allow-Origin", cors);
        MHD_add_response_header (response, MHD_HTTP_HEADER_VARY, "Origin");
        //  A page reads Retry-After of a 429 or 503 only if told it may
        MHD_add_response_header (response, "Access-Control-Expose-Headers", "Retry-After");
    }
    if (header)
        MHD_add_response_header (response, header, value);
    if (cors && status == MHD_HTTP_NO_CONTENT) {
        MHD_add_response_header (response, "Access-Control-Allow-Methods", "POST");
        MHD_add_response_header (response, "Access-Control-Allow-Headers",
                                 "Content-Type, Authorization");
        MHD_add_response_header (response, "Access-Control-Max-Age", "86400");
    }
    enum MHD_Result rc = MHD_queue_response (connection, status, response);
    MHD_destroy_response (response);
    return rc;
}

//  The shop's pages (a browser key's origins) may read every answer, the
//  refusals too (a 429's Retry-After).
static enum MHD_Result s_respond (collector_http_t *self, struct MHD_Connection *connection,
                                  unsigned int status, json_t *answer, const char *header,
                                  const char *value)
{
    return s_send (connection, status, answer, header, value, s_cors_origin (self, connection));
}

//  Refused requests are logged with their reason, at most a few a second.
static void s_log_refusal (collector_http_t *self, const char *url, unsigned int status,
                           const char *reason)
{
    int64_t second = nd_wall_ms () / 1000;
    pthread_mutex_lock (&self->log_lock);
    if (second != self->log_second) {
        if (self->log_suppressed)
            nd_log ("http: %" PRIu64 " more refused requests not logged", self->log_suppressed);
        self->log_second = second;
        self->log_lines = 0;
        self->log_suppressed = 0;
    }
    bool log = self->log_lines++ < LOG_LINES_PER_SECOND;
    self->log_suppressed += !log;
    pthread_mutex_unlock (&self->log_lock);
    if (log)
        nd_log ("http: %.64s: %u %s", url, status, reason);
}

static json_t *s_failure (const char *reason, json_t *rejected)
{
    json_t *answer = json_pack ("{s:b, s:s}", "success", 0, "reason", reason);
    if (rejected)
        json_object_set (answer, "rejected", rejected);
    return answer;
}

static enum MHD_Result s_refuse (collector_http_t *self, struct MHD_Connection *connection,
                                 const char *url, unsigned int status, const char *reason,
                                 json_t *rejected)
{
    s_log_refusal (self, url, status, reason);
    bool post = status == MHD_HTTP_METHOD_NOT_ALLOWED;
    return s_respond (self, connection, status, s_failure (reason, rejected),
                      post ? MHD_HTTP_HEADER_ALLOW : NULL, post ? "POST, OPTIONS" : NULL);
}

//  429 with Retry-After: the SDKs wait that long and send again.
static enum MHD_Result s_too_many (collector_http_t *self, struct MHD_Connection *connection,
                                   const char *url, const char *whose, int64_t wait_ms)
{
    char reason [COLLECTOR_REASON_MAX], seconds [24];
    int64_t wait_s = (wait_ms + 999) / 1000;
    snprintf (seconds, sizeof seconds, "%lld", (long long) wait_s);
    snprintf (reason, sizeof reason, "too many requests %s: retry after %s s", whose, seconds);
    s_log_refusal (self, url, MHD_HTTP_TOO_MANY_REQUESTS, reason);
    return s_respond (self, connection, MHD_HTTP_TOO_MANY_REQUESTS, s_failure (reason, NULL),
                      MHD_HTTP_HEADER_RETRY_AFTER, seconds);
}

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
static int s_header_auth (collector_http_t *self, struct MHD_Connection *connection,
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
        return s_refuse (self, connection, url, MHD_HTTP_SERVICE_UNAVAILABLE,
                         rc == COLLECTOR_FAILED ? "could not store the events, retry later"
                       : rc == COLLECTOR_TIMEOUT ? "busy, retry later"
                       : "stopping, retry later", NULL);
    json_t *answer = json_pack ("{s:b}", "success", 1);
    if (json_array_size (rejected)) {
        char text [COLLECTOR_REASON_MAX + 64];
        snprintf (text, sizeof text, "%zu of %zu events rejected, first: %s",
                  json_array_size (rejected), accepted + json_array_size (rejected),
                  json_string_value (json_object_get (json_array_get (rejected, 0), "reason")));
        s_log_refusal (self, url, MHD_HTTP_OK, text);
        json_object_set_new (answer, "accepted", json_integer ((json_int_t) accepted));
        json_object_set (answer, "rejected", rejected);
    }
    return s_respond (self, connection, MHD_HTTP_OK, answer, NULL, NULL);
}

//  A parsed, authorized request: check its events, commit, answer.
static enum MHD_Result s_serve (collector_http_t *self, struct MHD_Connection *connection,
                                const char *url, s_request_t *request,
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
                           collector_queue_commit (self->queue, ticket, COMMIT_TIMEOUT_MS),
                           accepted, rejected);
    else
    if (rc == 0 && !*reason)            //  an empty batch: nothing to do
        result = s_answer (self, connection, url, COLLECTOR_COMMITTED, 0, rejected);
    else
        result = s_refuse (self, connection, url, MHD_HTTP_BAD_REQUEST, reason,
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
        return s_refuse (self, connection, url, MHD_HTTP_UNAUTHORIZED,
                         "a feed needs a server write key as the HTTP Basic user name", NULL);
    if (key->origins)
        return s_refuse (self, connection, url, MHD_HTTP_FORBIDDEN,
                         "the catalogue needs a server write key, not a browser's", NULL);
    int64_t wait = collector_rate_take (self->per_key, key->key, nd_wall_ms ());
    if (wait)
        return s_too_many (self, connection, url, "with this write key", wait);
    collector_ticket_t *ticket = collector_ticket_new ();
    json_t *rejected = json_array ();
    char reason [COLLECTOR_REASON_MAX] = "";
    size_t refused = 0;
    int rc = collector_feed_take (text, size, ticket, rejected, &refused, reason);
    atomic_fetch_add (&self->counters->rejected, refused);
    enum MHD_Result result = rc == 0
        ? s_answer (self, connection, url, collector_queue_commit (self->queue, ticket, COMMIT_TIMEOUT_MS),
                    collector_ticket_size (ticket), rejected)
        : s_refuse (self, connection, url, MHD_HTTP_BAD_REQUEST, reason, rejected);
    json_decref (rejected);
    collector_ticket_destroy (&ticket);
    return result;
}

//  The whole body is in: size, then key, then JSON, then the events.
static enum MHD_Result s_finish (collector_http_t *self, struct MHD_Connection *connection,
                                 const char *url, s_request_t *request)
{
    char reason [COLLECTOR_REASON_MAX];
    const char *text;
    size_t size;
    int status = collector_body_get (request->body, &text, &size, reason, sizeof reason);
    if (status)
        return s_refuse (self, connection, url, (unsigned int) status, reason, NULL);
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
        return s_refuse (self, connection, url, MHD_HTTP_UNAUTHORIZED,
                         "missing or unknown write key: send it as the HTTP Basic user name",
                         NULL);
    }
    const char *wrong_origin = s_origin_refusal (key, connection);
    if (wrong_origin) {
        json_decref (root);
        return s_refuse (self, connection, url, MHD_HTTP_FORBIDDEN, wrong_origin, NULL);
    }
    int64_t wait = collector_rate_take (self->per_key, key->key, nd_wall_ms ());
    if (wait) {
        json_decref (root);
        return s_too_many (self, connection, url, "with this write key", wait);
    }
    enum MHD_Result result;
    if (!root) {
        //  The reason names the fault and its byte offset, never the input
        //  (which may hold contact details), so the log may have it too
        snprintf (reason, sizeof reason, "malformed JSON: %s", error);
        result = s_refuse (self, connection, url, MHD_HTTP_BAD_REQUEST, reason, NULL);
    }
    else
    if (!json_is_object (root))
        result = s_refuse (self, connection, url, MHD_HTTP_BAD_REQUEST,
                           "body must be a JSON object", NULL);
    else
    if (strcmp (request->route->call, "confirm") == 0) {
        char retry [24] = "";
        json_t *answer;
        unsigned int status = collector_confirm_code (self->confirm, root, &answer,
                                                      retry, sizeof retry);
        result = s_respond (self, connection, status, answer,
                            *retry ? MHD_HTTP_HEADER_RETRY_AFTER : NULL, retry);
    }
    else
        result = s_serve (self, connection, url, request, key, root);
    json_decref (root);
    return result;
}

static enum MHD_Result s_health (collector_http_t *self, struct MHD_Connection *connection,
                                 const char *url, const char *method)
{
    if (strcmp (method, "GET") && strcmp (method, "HEAD")) {
        s_log_refusal (self, url, MHD_HTTP_METHOD_NOT_ALLOWED, "use GET");
        return s_respond (self, connection, MHD_HTTP_METHOD_NOT_ALLOWED,
                          s_failure ("use GET", NULL), MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
    }
    return s_respond (self, connection, MHD_HTTP_OK, json_pack (
        "{s:s, s:s, s:I}", "status", "ok", "stage", self->stage_name,
        "pending", (json_int_t) collector_queue_pending (self->queue)), NULL, NULL);
}

/* ---------------------------------------------------------- unsubscribe */

//  A person, not an SDK, reads these answers: a small HTML page.
static enum MHD_Result s_page (struct MHD_Connection *connection, unsigned int status,
                               const char *title, const char *body)
{
    char *page = zsys_sprintf (
        "<!doctype html>\n<html><head><meta charset=\"utf-8\">"
        "<meta name=\"robots\" content=\"noindex\"><title>%s</title></head>\n"
        "<body style=\"font-family:sans-serif;max-width:32em;margin:4em auto\">"
        "<h1>%s</h1>\n%s\n</body></html>\n", title, title, body);
    struct MHD_Response *response = MHD_create_response_from_buffer (
        strlen (page), page, MHD_RESPMEM_MUST_FREE);
    MHD_add_response_header (response, MHD_HTTP_HEADER_CONTENT_TYPE, "text/html; charset=utf-8");
    MHD_add_response_header (response, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    enum MHD_Result rc = MHD_queue_response (connection, status, response);
    MHD_destroy_response (response);
    return rc;
}

int collector_http_page (struct MHD_Connection *connection, unsigned int status,
                         const char *title, const char *body)
{
    return s_page (connection, status, title, body);
}

static int s_unsubscribe_token (collector_http_t *self, struct MHD_Connection *connection,
                                const char **token, char *user, size_t user_size,
                                char *channel, size_t channel_size)
{
    *token = MHD_lookup_connection_value (connection, MHD_GET_ARGUMENT_KIND, "token");
    return *token && strlen (*token) < ND_TOKEN_MAX
        && nd_token_verify (self->unsubscribe_secret, *token, user, user_size,
                            channel, channel_size) == 0 ? 0 : -1;
}

//  GET shows a button and changes nothing: mail scanners fetch every link
//  in a message, and must not unsubscribe anyone by doing so.
static enum MHD_Result s_unsubscribe_begin (collector_http_t *self,
                                            struct MHD_Connection *connection,
                                            const char *url, const char *method, void **con_cls)
{
    char user [512], channel [ND_TOKEN_CHANNEL_MAX];
    const char *token;
    if (!self->unsubscribe_secret)
        return s_refuse (self, connection, "?", MHD_HTTP_NOT_FOUND, "no such endpoint", NULL);
    if (s_unsubscribe_token (self, connection, &token, user, sizeof user, channel, sizeof channel)) {
        s_log_refusal (self, url, MHD_HTTP_BAD_REQUEST, "unsubscribe token not valid");
        return s_page (connection, MHD_HTTP_BAD_REQUEST, "Link not valid",
                       "<p>This unsubscribe link is not valid. Please use the link in the "
                       "latest message you received.</p>");
    }
    if (strcmp (method, "GET") == 0 || strcmp (method, "HEAD") == 0) {
        char *form = zsys_sprintf (
            "<form method=\"post\" action=\"/unsubscribe?token=%s\">"
            "<input type=\"hidden\" name=\"List-Unsubscribe\" value=\"One-Click\">"
            "<p>Stop receiving these messages by %s?</p>"
            "<p><button type=\"submit\">Unsubscribe</button></p></form>",
            token, strcmp (channel, "email") == 0 ? "e-mail" : channel);
        enum MHD_Result rc = s_page (connection, MHD_HTTP_OK, "Unsubscribe", form);
        zstr_free (&form);
        return rc;
    }
    if (strcmp (method, "POST"))
        return s_refuse (self, connection, url, MHD_HTTP_METHOD_NOT_ALLOWED, "use POST", NULL);
    s_request_t *request = (s_request_t *) zmalloc (sizeof *request);
    request->route = &s_unsubscribe_route;
    request->body = collector_body_new (UNSUBSCRIBE_BODY_MAX, NULL, NULL, 0);
    *con_cls = request;
    return MHD_YES;
}

//  An id that is the same for the same text, so a repeat is one event
//  within the dedupe window: prefix, then 12 bytes of its SHA-256 in hex.
static void s_digest_id (char *id, size_t size, const char *prefix, const char *text)
{
    unsigned char digest [SHA256_DIGEST_LENGTH];
    SHA256 ((const unsigned char *) text, strlen (text), digest);
    snprintf (id, size, "%s", prefix);
    for (int i = 0; i < 12; i++)
        snprintf (id + strlen (id), size - strlen (id), "%02x", digest [i]);
}

//  What the collector makes itself is stamped now on the wall clock; on
//  the event clock it has no time of its own (0: the stage's clock).
static int64_t s_stamp (collector_http_t *self, json_t *body)
{
    char stamp [32];
    int64_t time = self->limits->event_time ? 0 : nd_wall_ms ();
    if (time)
        json_object_set_new (body, "time", json_string (nd_time_format (time, stamp)));
    return time;
}

//  Commits the unsubscribe like an event: the 200 means it is on disk.
//  The id comes from the token, so repeated clicks are one unsubscribe
//  within the dedupe window.
static enum MHD_Result s_unsubscribe_finish (collector_http_t *self,
                                             struct MHD_Connection *connection,
                                             const char *url)
{
    char user [512], channel [ND_TOKEN_CHANNEL_MAX], id [48];
    const char *token;
    if (s_unsubscribe_token (self, connection, &token, user, sizeof user, channel, sizeof channel))
        return s_page (connection, MHD_HTTP_BAD_REQUEST, "Link not valid",
                       "<p>This unsubscribe link is not valid.</p>");
    s_digest_id (id, sizeof id, "unsubscribe-", token);
    json_t *body = json_pack ("{s:s, s:s, s:s, s:s}", "id", id, "user", user,
                              "channel", channel, "via", "one-click");
    int64_t time = s_stamp (self, body);
    collector_ticket_t *ticket = collector_ticket_new ();
    collector_ticket_add (ticket, "unsubscribe", body, time);
    int rc = collector_queue_commit (self->queue, ticket, COMMIT_TIMEOUT_MS);
    collector_ticket_destroy (&ticket);
    if (rc != COLLECTOR_COMMITTED)
        return s_refuse (self, connection, url, MHD_HTTP_SERVICE_UNAVAILABLE,
                         "busy, retry later", NULL);
    return s_page (connection, MHD_HTTP_OK, "Unsubscribed",
                   "<p>You will not receive these messages any more.</p>");
}

/* ------------------------------------------------- the kit, the push key */

static bool s_get (const char *method)
{
    return strcmp (method, "GET") == 0 || strcmp (method, "HEAD") == 0;
}

//  Public files for any page: anyone may read them (CORS *).
static void s_public_headers (struct MHD_Response *response)
{
    MHD_add_response_header (response, MHD_HTTP_HEADER_CACHE_CONTROL, "public, max-age=300");
    MHD_add_response_header (response, "Access-Control-Allow-Origin", "*");
    MHD_add_response_header (response, "X-Content-Type-Options", "nosniff");
}

//  GET /nudge.js, /nudge-sw.js: from memory, gzip when the browser takes
//  it, 304 when it has the file already.
static enum MHD_Result s_kit (collector_http_t *self, struct MHD_Connection *connection,
                              const char *url, const char *method)
{
    if (!s_get (method))
        return s_respond (self, connection, MHD_HTTP_METHOD_NOT_ALLOWED,
                          s_failure ("use GET", NULL), MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
    collector_kit_answer_t answer;
    const char *accept = MHD_lookup_connection_value (connection, MHD_HEADER_KIND,
                                                      MHD_HTTP_HEADER_ACCEPT_ENCODING);
    if (!collector_kit_find (self->kit, url, accept, &answer))
        return s_refuse (self, connection, url, MHD_HTTP_NOT_FOUND, "no such file in the kit", NULL);
    const char *cached = MHD_lookup_connection_value (connection, MHD_HEADER_KIND,
                                                      MHD_HTTP_HEADER_IF_NONE_MATCH);
    bool fresh = cached && (strstr (cached, answer.etags [0]) || strstr (cached, answer.etags [1])
                            || strcmp (cached, "*") == 0);
    struct MHD_Response *response = MHD_create_response_from_buffer (
        fresh ? 0 : answer.size, fresh ? NULL : (void *) answer.data, MHD_RESPMEM_PERSISTENT);
    MHD_add_response_header (response, MHD_HTTP_HEADER_CONTENT_TYPE,
                             "text/javascript; charset=utf-8");
    MHD_add_response_header (response, MHD_HTTP_HEADER_ETAG, answer.etag);
    MHD_add_response_header (response, MHD_HTTP_HEADER_VARY, "Accept-Encoding");
    if (answer.gzip && !fresh)
        MHD_add_response_header (response, MHD_HTTP_HEADER_CONTENT_ENCODING, "gzip");
    s_public_headers (response);
    enum MHD_Result rc = MHD_queue_response (connection, fresh ? MHD_HTTP_NOT_MODIFIED
                                                               : MHD_HTTP_OK, response);
    MHD_destroy_response (response);
    return rc;
}

//  GET /v1/push/key: the applicationServerKey pages subscribe with.
static enum MHD_Result s_push_key (collector_http_t *self, struct MHD_Connection *connection,
                                   const char *url, const char *method)
{
    if (!s_get (method))
        return s_respond (self, connection, MHD_HTTP_METHOD_NOT_ALLOWED,
                          s_failure ("use GET", NULL), MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
    if (!self->push_key)
        return s_refuse (self, connection, url, MHD_HTTP_NOT_FOUND,
                         "no push key: the collector has no vapid-key", NULL);
    json_t *answer = json_pack ("{s:s}", "publicKey", self->push_key);
    char *text = json_dumps (answer, JSON_COMPACT);
    json_decref (answer);
    struct MHD_Response *response = MHD_create_response_from_buffer (
        strlen (text), text, MHD_RESPMEM_MUST_FREE);
    MHD_add_response_header (response, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    s_public_headers (response);
    enum MHD_Result rc = MHD_queue_response (connection, MHD_HTTP_OK, response);
    MHD_destroy_response (response);
    return rc;
}

/* ----------------------------------------------------------- push reports */

//  A POST that counts as a request and fits its address's rate: true to
//  go on, else false with the refusal queued in *refused.
static bool s_admit_post (collector_http_t *self, struct MHD_Connection *connection,
                          const char *url, const char *method, enum MHD_Result *refused)
{
    if (strcmp (method, "POST")) {
        *refused = s_refuse (self, connection, url, MHD_HTTP_METHOD_NOT_ALLOWED, "use POST", NULL);
        return false;
    }
    atomic_fetch_add (&self->counters->requests, 1);
    char address [INET6_ADDRSTRLEN];
    nd_httpd_client_address (connection, address, sizeof address);
    int64_t wait = collector_rate_take (self->per_ip, address, nd_wall_ms ());
    if (wait) {
        *refused = s_too_many (self, connection, url, "from this address", wait);
        return false;
    }
    return true;
}

//  POST /v1/push/event?t=TOKEN&action=clicked: the shop's service worker
//  tells what became of a notification. The token, which the push-sender
//  put in the notification's "report" URL, is the authorization (no write
//  key): it names the send order's idempotency key and its person. Any
//  page may post it (the service worker runs on the shop's origin, which
//  the collector need not know), so answers are CORS-open.
static enum MHD_Result s_push_event_begin (collector_http_t *self,
                                           struct MHD_Connection *connection,
                                           const char *url, const char *method,
                                           void **con_cls)
{
    if (!self->unsubscribe_secret)
        return s_refuse (self, connection, url, MHD_HTTP_NOT_FOUND,
                         "no push reports: the collector has no unsubscribe-secret", NULL);
    enum MHD_Result refused;
    if (!s_admit_post (self, connection, url, method, &refused))
        return refused;
    s_request_t *request = (s_request_t *) zmalloc (sizeof *request);
    request->route = &s_push_event_route;
    request->body = collector_body_new (UNSUBSCRIBE_BODY_MAX, NULL, NULL, 0);
    *con_cls = request;
    return MHD_YES;
}

static enum MHD_Result s_push_event_refuse (collector_http_t *self,
                                            struct MHD_Connection *connection, const char *url,
                                            unsigned int status, const char *reason)
{
    s_log_refusal (self, url, status, reason);
    return s_send (connection, status, s_failure (reason, NULL), NULL, NULL, "*");
}

//  Committed as topic push.<action> {id, user, time, idempotency_key,
//  channel}: the id comes from the key and the action, so a report the
//  service worker retries is one.
static enum MHD_Result s_push_event_finish (collector_http_t *self,
                                            struct MHD_Connection *connection, const char *url)
{
    const char *token = MHD_lookup_connection_value (connection, MHD_GET_ARGUMENT_KIND, "t");
    const char *action = MHD_lookup_connection_value (connection, MHD_GET_ARGUMENT_KIND,
                                                      "action");
    if (!action || (strcmp (action, "clicked") && strcmp (action, "dismissed")
                    && strcmp (action, "shown")))
        return s_push_event_refuse (self, connection, url, MHD_HTTP_BAD_REQUEST,
                                    "action must be clicked, dismissed or shown");
    char payload [ND_TOKEN_MAX];
    char *user = NULL;
    if (token && strlen (token) < ND_TOKEN_MAX
    &&  nd_token_open (self->unsubscribe_secret, PUSH_EVENT_PURPOSE, token, payload,
                       sizeof payload) > 0
    &&  (user = strchr (payload, '\n')))
        *user++ = 0;
    if (!user || !*user || !*payload)
        return s_push_event_refuse (self, connection, url, MHD_HTTP_FORBIDDEN,
                                    "report token not valid");
    char id [80], prefix [32];
    snprintf (prefix, sizeof prefix, "push-%s-", action);
    s_digest_id (id, sizeof id, prefix, payload);
    json_t *body = json_pack ("{s:s, s:s, s:s, s:s}", "id", id, "user", user,
                              "idempotency_key", payload, "channel", "push");
    int64_t time = s_stamp (self, body);
    char topic [32];
    snprintf (topic, sizeof topic, "push.%s", action);
    collector_ticket_t *ticket = collector_ticket_new ();
    collector_ticket_add (ticket, topic, body, time);
    int rc = collector_queue_commit (self->queue, ticket, COMMIT_TIMEOUT_MS);
    collector_ticket_destroy (&ticket);
    if (rc != COLLECTOR_COMMITTED)
        return s_push_event_refuse (self, connection, url, MHD_HTTP_SERVICE_UNAVAILABLE,
                                    "busy, retry later");
    return s_send (connection, MHD_HTTP_NO_CONTENT, NULL, NULL, NULL, "*");
}

static const s_route_t *s_route (const char *url)
{
    for (const s_route_t *route = s_routes; route->path; route++)
        if (strcmp (route->path, url) == 0)
            return route;
    return NULL;
}

//  An oversized body is refused at once if the client waits for "100
//  Continue" before sending it, or is far too big to read. Otherwise it is
//  read and thrown away first: a client still sending when we hang up gets
//  a reset instead of the 413 and cannot tell "too big" from "try again".
static bool s_refuse_now (struct MHD_Connection *connection, unsigned long long size,
                          size_t limit)
{
    const char *expect = MHD_lookup_connection_value (connection, MHD_HEADER_KIND,
                                                      MHD_HTTP_HEADER_EXPECT);
    return (expect && strcasecmp (expect, "100-continue") == 0)
        || size > (unsigned long long) DISCARD_FACTOR * limit;
}

//  A browser asks before it posts with a header of its own (Authorization,
//  Content-Type: application/json): only the pages of a browser key's
//  origins are told yes. (text/plain bodies, as analytics-next sends them,
//  need no preflight.)
static enum MHD_Result s_preflight (collector_http_t *self, struct MHD_Connection *connection,
                                    const char *url)
{
    if (strncmp (url, "/v1/", 4))
        return s_refuse (self, connection, "?", MHD_HTTP_NOT_FOUND, "no such endpoint", NULL);
    if (strcmp (url, s_push_event_route.path) == 0)     //  open to any page
        return s_send (connection, MHD_HTTP_NO_CONTENT, NULL, NULL, NULL, "*");
    if (!s_cors_origin (self, connection))
        return s_refuse (self, connection, url, MHD_HTTP_FORBIDDEN,
                         "origin not allowed: no browser write key lists it", NULL);
    return s_respond (self, connection, MHD_HTTP_NO_CONTENT, NULL, NULL, NULL);
}

//  The headers are in: refuse what can be refused before reading a body.
static enum MHD_Result s_begin (collector_http_t *self, struct MHD_Connection *connection,
                                const char *url, const char *method, void **con_cls)
{
    if (strcmp (method, "OPTIONS") == 0)
        return s_preflight (self, connection, url);
    if (strcmp (url, "/health") == 0)
        return s_health (self, connection, url, method);
    if (strcmp (url, "/nudge.js") == 0 || strcmp (url, "/nudge-sw.js") == 0)
        return s_kit (self, connection, url, method);
    if (strcmp (url, "/v1/push/key") == 0)
        return s_push_key (self, connection, url, method);
    if (strcmp (url, s_push_event_route.path) == 0)
        return s_push_event_begin (self, connection, url, method, con_cls);
    if (strcmp (url, s_unsubscribe_route.path) == 0)
        return s_unsubscribe_begin (self, connection, url, method, con_cls);
    if (strcmp (url, "/confirm") == 0)
        return (enum MHD_Result) collector_confirm_link (self->confirm, connection, method);
    if (strncmp (url, COLLECTOR_CLICK_PATH, strlen (COLLECTOR_CLICK_PATH)) == 0)
        return (enum MHD_Result) collector_click_link (self->click, connection, url, method);
    const s_route_t *route = s_route (url);
    if (!route)                 //  the path is not logged: it could be anything
        return s_refuse (self, connection, "?", MHD_HTTP_NOT_FOUND, "no such endpoint", NULL);
    enum MHD_Result refused;
    if (!s_admit_post (self, connection, url, method, &refused))
        return refused;
    const collector_key_t *key = NULL;
    if (s_header_auth (self, connection, &key) < 0)
        return s_refuse (self, connection, url, MHD_HTTP_UNAUTHORIZED, "unknown write key", NULL);
    const char *wrong_origin = key ? s_origin_refusal (key, connection) : NULL;
    if (wrong_origin)
        return s_refuse (self, connection, url, MHD_HTTP_FORBIDDEN, wrong_origin, NULL);
    size_t limit = strcmp (route->call, "batch") == 0 || strcmp (route->call, "catalogue") == 0
                 ? self->limits->max_batch : self->limits->max_event;
    const char *length = MHD_lookup_connection_value (connection, MHD_HEADER_KIND,
                                                      MHD_HTTP_HEADER_CONTENT_LENGTH);
    unsigned long long size = length ? strtoull (length, NULL, 10) : 0;
    if (size > limit && s_refuse_now (connection, size, limit)) {
        char reason [COLLECTOR_REASON_MAX];
        snprintf (reason, sizeof reason, "request is %llu bytes, more than the limit of %zu",
                  size, limit);
        return s_refuse (self, connection, url, MHD_HTTP_CONTENT_TOO_LARGE, reason, NULL);
    }
    const char *encoding = MHD_lookup_connection_value (connection, MHD_HEADER_KIND,
                                                        MHD_HTTP_HEADER_CONTENT_ENCODING);
    char reason [COLLECTOR_REASON_MAX];
    collector_body_t *body = collector_body_new (limit, encoding, reason, sizeof reason);
    if (!body)
        return s_refuse (self, connection, url, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE, reason, NULL);
    s_request_t *request = (s_request_t *) zmalloc (sizeof *request);
    request->route = route;
    request->key = key;
    request->body = body;
    *con_cls = request;
    return MHD_YES;
}

static enum MHD_Result s_handle (void *cls, struct MHD_Connection *connection,
                                 const char *url, const char *method, const char *version,
                                 const char *upload_data, size_t *upload_data_size,
                                 void **con_cls)
{
    (void) version;
    collector_http_t *self = (collector_http_t *) cls;
    s_request_t *request = (s_request_t *) *con_cls;
    if (!request)
        return s_begin (self, connection, url, method, con_cls);
    if (*upload_data_size) {
        collector_body_add (request->body, upload_data, *upload_data_size);
        *upload_data_size = 0;
        //  A client that keeps sending far past the limit is hung up on
        return collector_body_hopeless (request->body, DISCARD_FACTOR) ? MHD_NO : MHD_YES;
    }
    if (request->route == &s_unsubscribe_route)
        return s_unsubscribe_finish (self, connection, url);
    if (request->route == &s_push_event_route)
        return s_push_event_finish (self, connection, url);
    return s_finish (self, connection, url, request);
}

static void s_completed (void *cls, struct MHD_Connection *connection, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void) cls, (void) connection, (void) toe;
    s_request_t *request = (s_request_t *) *con_cls;
    if (request) {
        collector_body_destroy (&request->body);
        free (request);
        *con_cls = NULL;
    }
}

static void s_server_log (void *cls, const char *format, va_list args)
{
    (void) cls;
    char line [512];
    vsnprintf (line, sizeof line, format, args);
    line [strcspn (line, "\r\n")] = 0;
    nd_log ("http: %s", line);
}

/* ------------------------------------------------------------ the class */

int collector_http_listen (const char *address, char *reason, size_t reason_size)
{
    struct sockaddr_storage where;
    socklen_t where_size;
    if (nd_listen_parse (address, &where, &where_size, reason, reason_size))
        return -1;
    int fd = nd_httpd_listen (&where);
    if (fd < 0)
        snprintf (reason, reason_size, "cannot listen on %s: %s", address, strerror (errno));
    return fd;
}

static void s_log_listening (int fd)
{
    struct sockaddr_storage address;
    socklen_t size = sizeof address;
    char host [INET6_ADDRSTRLEN] = "?";
    int port = 0;
    getsockname (fd, (struct sockaddr *) &address, &size);
    if (address.ss_family == AF_INET6) {
        struct sockaddr_in6 *v6 = (struct sockaddr_in6 *) &address;
        inet_ntop (AF_INET6, &v6->sin6_addr, host, sizeof host);
        port = ntohs (v6->sin6_port);
    }
    else {
        struct sockaddr_in *v4 = (struct sockaddr_in *) &address;
        inet_ntop (AF_INET, &v4->sin_addr, host, sizeof host);
        port = ntohs (v4->sin_port);
    }
    nd_log ("http: listening on %s%s%s:%d", address.ss_family == AF_INET6 ? "[" : "",
            host, address.ss_family == AF_INET6 ? "]" : "", port);
}

collector_http_t *collector_http_new (int fd, const collector_key_t *keys,
                                      const collector_limits_t *limits,
                                      collector_queue_t *queue,
                                      collector_counters_t *counters,
                                      const char *stage_name,
                                      const char *unsubscribe_secret,
                                      collector_kit_t *kit, const char *push_key)
{
    collector_http_t *self = (collector_http_t *) zmalloc (sizeof *self);
    self->unsubscribe_secret = unsubscribe_secret;
    self->kit = kit;
    self->push_key = push_key ? strdup (push_key) : NULL;
    self->keys = keys;
    self->limits = limits;
    self->queue = queue;
    self->counters = counters;
    self->stage_name = strdup (stage_name);
    self->per_ip = collector_rate_new (limits->rate_per_ip, RATE_SLOTS);
    self->per_key = collector_rate_new (limits->rate_per_key, RATE_SLOTS);
    self->confirm = collector_confirm_new (unsubscribe_secret, limits, queue, counters);
    self->click = collector_click_new (unsubscribe_secret, limits, queue, counters);
    pthread_mutex_init (&self->log_lock, NULL);
    s_log_listening (fd);
    nd_httpd_conf_t conf = {
        .connections = limits->max_connections, .per_ip = limits->per_ip,
        .timeout_s = IDLE_TIMEOUT_S, .handle = s_handle, .cls = self,
        .completed = s_completed, .log = s_server_log,
        .full = "{\"success\":false,\"reason\":\"too many connections: retry later\"}"
    };
    self->server = nd_httpd_new (fd, &conf);
    if (!self->server) {
        nd_log ("http: cannot start the server");
        collector_http_destroy (&self);
    }
    return self;
}

//  The queue must be closed first: connection threads waiting on it are
//  joined here.
void collector_http_destroy (collector_http_t **self_p)
{
    collector_http_t *self = *self_p;
    if (self) {
        nd_httpd_destroy (&self->server);
        pthread_mutex_destroy (&self->log_lock);
        collector_rate_destroy (&self->per_ip);
        collector_rate_destroy (&self->per_key);
        collector_confirm_destroy (&self->confirm);
        collector_click_destroy (&self->click);
        free (self->stage_name);
        free (self->push_key);
        free (self);
        *self_p = NULL;
    }
}
