/*  collector_http - the Segment HTTP Tracking API, served by libmicrohttpd.

    Each connection has its own thread (libmicrohttpd's thread-per-
    connection mode) because a request blocks until the loop has committed
    its events: that wait is the price of "200 means on disk". The thread
    parses and checks the request itself, so two cores share that work; the
    loop does only the LMDB writes.

    Request bodies are capped while they stream in: a Content-Length over
    the limit is refused before the body is read, and a chunked body that
    grows past it is discarded as it arrives, so no request costs more
    memory than the limit.
*/
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <openssl/crypto.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <microhttpd.h>
#include "collector.h"

#define COMMIT_TIMEOUT_MS 20000     //  SDKs give up after 10 s and retry
#define MAX_CONNECTIONS 1000
#define IDLE_TIMEOUT_S 30           //  keep-alive connections, then closed
#define DISCARD_FACTOR 4            //  an oversize body beyond this: hang up
#define LOG_LINES_PER_SECOND 10     //  refused requests must not flood the log

struct _collector_http_t {
    struct MHD_Daemon *daemon;
    const char **keys;
    const collector_limits_t *limits;
    collector_queue_t *queue;
    collector_counters_t *counters;
    char *stage_name;
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
    { NULL, NULL }
};

typedef struct {
    const s_route_t *route;
    bool authorized;            //  by the Authorization header
    char *body;
    size_t size;
    size_t capacity;
    size_t limit;
    size_t discarded;           //  bytes past the limit, thrown away
} s_request_t;

/* ------------------------------------------------------------ responses */

static enum MHD_Result s_respond (struct MHD_Connection *connection, unsigned int status,
                                  json_t *answer, const char *allow)
{
    char *text = answer ? json_dumps (answer, JSON_COMPACT) : NULL;
    json_decref (answer);
    struct MHD_Response *response = MHD_create_response_from_buffer (
        text ? strlen (text) : 0, text, MHD_RESPMEM_MUST_FREE);
    if (text)
        MHD_add_response_header (response, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    //  Browsers post straight from the shop's pages (analytics.js)
    MHD_add_response_header (response, "Access-Control-Allow-Origin", "*");
    if (allow)
        MHD_add_response_header (response, MHD_HTTP_HEADER_ALLOW, allow);
    if (status == MHD_HTTP_NO_CONTENT) {
        MHD_add_response_header (response, "Access-Control-Allow-Methods", "POST, GET, OPTIONS");
        MHD_add_response_header (response, "Access-Control-Allow-Headers",
                                 "Content-Type, Authorization");
        MHD_add_response_header (response, "Access-Control-Max-Age", "86400");
    }
    enum MHD_Result rc = MHD_queue_response (connection, status, response);
    MHD_destroy_response (response);
    return rc;
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

static enum MHD_Result s_refuse (collector_http_t *self, struct MHD_Connection *connection,
                                 const char *url, unsigned int status, const char *reason,
                                 json_t *rejected)
{
    s_log_refusal (self, url, status, reason);
    json_t *answer = json_pack ("{s:b, s:s}", "success", 0, "reason", reason);
    if (rejected)
        json_object_set_new (answer, "rejected", rejected);
    return s_respond (connection, status, answer,
                      status == MHD_HTTP_METHOD_NOT_ALLOWED ? "POST, OPTIONS" : NULL);
}

/* ----------------------------------------------------------------- auth */

static bool s_key_ok (collector_http_t *self, const char *key)
{
    size_t length = key ? strlen (key) : 0;
    bool ok = false;
    for (const char **known = self->keys; key && *known; known++)
        ok |= strlen (*known) == length && CRYPTO_memcmp (*known, key, length) == 0;
    return ok;
}

//  Segment's scheme: HTTP Basic with the write key as user name and any
//  password. Returns 1 authorized, 0 no header, -1 a header that fails.
static int s_header_auth (collector_http_t *self, struct MHD_Connection *connection)
{
    if (!MHD_lookup_connection_value (connection, MHD_HEADER_KIND,
                                      MHD_HTTP_HEADER_AUTHORIZATION))
        return 0;
    char *password = NULL;
    char *user = MHD_basic_auth_get_username_password (connection, &password);
    int rc = s_key_ok (self, user) ? 1 : -1;
    if (user)
        MHD_free (user);
    if (password)
        MHD_free (password);
    return rc;
}
