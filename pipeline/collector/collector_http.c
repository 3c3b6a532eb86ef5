/*  collector_http - the Segment HTTP Tracking API, served by libmicrohttpd.

    Layer: the HTTP intake's top: the server, its class and its routing.
    It hands each path to its endpoint's file (collector_segment.c,
    collector_signed.c, collector_confirm.c, collector_click.c), serves
    /health, the browser kit and the push key itself, and answers through
    collector_reply.c; no file calls up into it.

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
    with the shared secret, is its authorization; no write key
    (collector_signed.c, with /v1/push/event). Nor are
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
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <microhttpd.h>
#include "nd_httpd.h"
#include "nd_listen.h"
#include "collector.h"

#define IDLE_TIMEOUT_S 30           //  keep-alive connections, then closed
#define DISCARD_FACTOR 4            //  an oversize body beyond this: hang up
#define RATE_SLOTS 65536            //  clients whose request rate is kept

//  The calls, under Segment's paths and the one-letter ones its browser
//  library (analytics.js) uses.
static const collector_endpoint_t s_routes [] = {
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

/* --------------------------------------------------------------- health */

static enum MHD_Result s_health (collector_http_t *self, struct MHD_Connection *connection,
                                 const char *url, const char *method)
{
    if (strcmp (method, "GET") && strcmp (method, "HEAD")) {
        collector_reply_log_refusal (self, url, MHD_HTTP_METHOD_NOT_ALLOWED, "use GET");
        return collector_reply_respond (self, connection, MHD_HTTP_METHOD_NOT_ALLOWED,
                                        collector_reply_failure ("use GET", NULL),
                                        MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
    }
    return collector_reply_respond (self, connection, MHD_HTTP_OK, json_pack (
        "{s:s, s:s, s:I}", "status", "ok", "stage", self->stage_name,
        "pending", (json_int_t) collector_queue_pending (self->queue)), NULL, NULL);
}

/* ------------------------------------------------ the kit, the push key */

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
        return collector_reply_respond (self, connection, MHD_HTTP_METHOD_NOT_ALLOWED,
                                        collector_reply_failure ("use GET", NULL),
                                        MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
    collector_kit_answer_t answer;
    const char *accept = MHD_lookup_connection_value (connection, MHD_HEADER_KIND,
                                                      MHD_HTTP_HEADER_ACCEPT_ENCODING);
    if (!collector_kit_find (self->kit, url, accept, &answer))
        return collector_reply_refuse (self, connection, url, MHD_HTTP_NOT_FOUND,
                                       "no such file in the kit", NULL);
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
        return collector_reply_respond (self, connection, MHD_HTTP_METHOD_NOT_ALLOWED,
                                        collector_reply_failure ("use GET", NULL),
                                        MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
    if (!self->push_key)
        return collector_reply_refuse (self, connection, url, MHD_HTTP_NOT_FOUND,
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

/* -------------------------------------------------------------- routing */

static const collector_endpoint_t *s_route (const char *url)
{
    for (const collector_endpoint_t *route = s_routes; route->path; route++)
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
        return collector_reply_refuse (self, connection, "?", MHD_HTTP_NOT_FOUND,
                                       "no such endpoint", NULL);
    if (strcmp (url, collector_signed_push_event_endpoint.path) == 0)     //  open to any page
        return collector_reply_send (connection, MHD_HTTP_NO_CONTENT, NULL, NULL, NULL, "*");
    if (!collector_reply_cors_origin (self, connection))
        return collector_reply_refuse (self, connection, url, MHD_HTTP_FORBIDDEN,
                                       "origin not allowed: no browser write key lists it", NULL);
    return collector_reply_respond (self, connection, MHD_HTTP_NO_CONTENT, NULL, NULL, NULL);
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
    if (strcmp (url, collector_signed_push_event_endpoint.path) == 0)
        return collector_signed_push_event_begin (self, connection, url, method, con_cls);
    if (strcmp (url, collector_signed_unsubscribe_endpoint.path) == 0)
        return collector_signed_unsubscribe_begin (self, connection, url, method, con_cls);
    if (strcmp (url, "/confirm") == 0)
        return (enum MHD_Result) collector_confirm_link (self->confirm, connection, method);
    if (strncmp (url, COLLECTOR_CLICK_PATH, strlen (COLLECTOR_CLICK_PATH)) == 0)
        return (enum MHD_Result) collector_click_link (self->click, connection, url, method);
    const collector_endpoint_t *route = s_route (url);
    if (!route)                 //  the path is not logged: it could be anything
        return collector_reply_refuse (self, connection, "?", MHD_HTTP_NOT_FOUND,
                                       "no such endpoint", NULL);
    enum MHD_Result refused;
    if (!collector_reply_admit_post (self, connection, url, method, &refused))
        return refused;
    const collector_key_t *key = NULL;
    if (collector_segment_header_auth (self, connection, &key) < 0)
        return collector_reply_refuse (self, connection, url, MHD_HTTP_UNAUTHORIZED,
                                       "unknown write key", NULL);
    const char *wrong_origin = key ? collector_reply_origin_refusal (key, connection) : NULL;
    if (wrong_origin)
        return collector_reply_refuse (self, connection, url, MHD_HTTP_FORBIDDEN, wrong_origin,
                                       NULL);
    size_t limit = strcmp (route->call, "batch") == 0 || strcmp (route->call, "catalogue") == 0
                 ? self->limits->max_batch : self->limits->max_event;
    const char *length = MHD_lookup_connection_value (connection, MHD_HEADER_KIND,
                                                      MHD_HTTP_HEADER_CONTENT_LENGTH);
    unsigned long long size = length ? strtoull (length, NULL, 10) : 0;
    if (size > limit && s_refuse_now (connection, size, limit)) {
        char reason [COLLECTOR_REASON_MAX];
        snprintf (reason, sizeof reason, "request is %llu bytes, more than the limit of %zu",
                  size, limit);
        return collector_reply_refuse (self, connection, url, MHD_HTTP_CONTENT_TOO_LARGE, reason,
                                       NULL);
    }
    const char *encoding = MHD_lookup_connection_value (connection, MHD_HEADER_KIND,
                                                        MHD_HTTP_HEADER_CONTENT_ENCODING);
    char reason [COLLECTOR_REASON_MAX];
    collector_body_t *body = collector_body_new (limit, encoding, reason, sizeof reason);
    if (!body)
        return collector_reply_refuse (self, connection, url, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE,
                                       reason, NULL);
    collector_request_t *request = (collector_request_t *) zmalloc (sizeof *request);
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
    collector_request_t *request = (collector_request_t *) *con_cls;
    if (!request)
        return s_begin (self, connection, url, method, con_cls);
    if (*upload_data_size) {
        collector_body_add (request->body, upload_data, *upload_data_size);
        *upload_data_size = 0;
        //  A client that keeps sending far past the limit is hung up on
        return collector_body_hopeless (request->body, DISCARD_FACTOR) ? MHD_NO : MHD_YES;
    }
    if (request->route == &collector_signed_unsubscribe_endpoint)
        return collector_signed_unsubscribe_finish (self, connection, url);
    if (request->route == &collector_signed_push_event_endpoint)
        return collector_signed_push_event_finish (self, connection, url);
    return collector_segment_finish (self, connection, url, request);
}

static void s_completed (void *cls, struct MHD_Connection *connection, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void) cls, (void) connection, (void) toe;
    collector_request_t *request = (collector_request_t *) *con_cls;
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
