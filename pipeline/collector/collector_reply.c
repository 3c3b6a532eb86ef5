/*  collector_reply - how the HTTP intake answers, and the checks every
    POST passes first.

    Layer: the HTTP intake's lowest file. Every endpoint answers through
    it: the server's own (collector_http.c), the Segment API's
    (collector_segment.c), the signed ones (collector_signed.c), the
    double opt-in's (collector_confirm.c) and the click redirect's
    (collector_click.c). It calls none of them.

    It holds the CORS rules (a browser key's origins may read the
    answers, and use the key only from there), the JSON answers, the
    refusals (logged with their reason, at most a few a second), the 429
    with Retry-After, the small HTML page a person reads, and the
    admission of a POST (its method, its address's rate).              */
#include <inttypes.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <microhttpd.h>
#include "nd_httpd.h"
#include "collector.h"

#define LOG_LINES_PER_SECOND 10     //  refused requests must not flood the log

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
const char *collector_reply_cors_origin (collector_http_t *self, struct MHD_Connection *connection)
{
    const char *origin = s_origin_header (connection);
    for (const collector_key_t *key = self->keys; origin && key->key; key++)
        if (s_key_allows (key, origin))
            return origin;
    return NULL;
}

//  Why a browser key is refused here, or NULL: it is good only from its
//  shop's pages (a page elsewhere, a script with no Origin, may not use it).
const char *collector_reply_origin_refusal (const collector_key_t *key,
                                            struct MHD_Connection *connection)
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
enum MHD_Result collector_reply_send (struct MHD_Connection *connection, unsigned int status,
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
enum MHD_Result collector_reply_respond (collector_http_t *self, struct MHD_Connection *connection,
                                         unsigned int status, json_t *answer, const char *header,
                                         const char *value)
{
    return collector_reply_send (connection, status, answer, header, value,
                                 collector_reply_cors_origin (self, connection));
}

//  Refused requests are logged with their reason, at most a few a second.
void collector_reply_log_refusal (collector_http_t *self, const char *url, unsigned int status,
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

json_t *collector_reply_failure (const char *reason, json_t *rejected)
{
    json_t *answer = json_pack ("{s:b, s:s}", "success", 0, "reason", reason);
    if (rejected)
        json_object_set (answer, "rejected", rejected);
    return answer;
}

enum MHD_Result collector_reply_refuse (collector_http_t *self, struct MHD_Connection *connection,
                                        const char *url, unsigned int status, const char *reason,
                                        json_t *rejected)
{
    collector_reply_log_refusal (self, url, status, reason);
    bool post = status == MHD_HTTP_METHOD_NOT_ALLOWED;
    return collector_reply_respond (self, connection, status,
                                    collector_reply_failure (reason, rejected),
                                    post ? MHD_HTTP_HEADER_ALLOW : NULL,
                                    post ? "POST, OPTIONS" : NULL);
}

//  429 with Retry-After: the SDKs wait that long and send again.
enum MHD_Result collector_reply_too_many (collector_http_t *self, struct MHD_Connection *connection,
                                          const char *url, const char *whose, int64_t wait_ms)
{
    char reason [COLLECTOR_REASON_MAX], seconds [24];
    int64_t wait_s = (wait_ms + 999) / 1000;
    snprintf (seconds, sizeof seconds, "%lld", (long long) wait_s);
    snprintf (reason, sizeof reason, "too many requests %s: retry after %s s", whose, seconds);
    collector_reply_log_refusal (self, url, MHD_HTTP_TOO_MANY_REQUESTS, reason);
    return collector_reply_respond (self, connection, MHD_HTTP_TOO_MANY_REQUESTS,
                                    collector_reply_failure (reason, NULL),
                                    MHD_HTTP_HEADER_RETRY_AFTER, seconds);
}

/* --------------------------------------------------------- for a person */

//  A person, not an SDK, reads these answers: a small HTML page.
enum MHD_Result collector_reply_page (struct MHD_Connection *connection, unsigned int status,
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

/* ------------------------------------------------------------ admission */

//  A POST that counts as a request and fits its address's rate: true to
//  go on, else false with the refusal queued in *refused.
bool collector_reply_admit_post (collector_http_t *self, struct MHD_Connection *connection,
                                 const char *url, const char *method, enum MHD_Result *refused)
{
    if (strcmp (method, "POST")) {
        *refused = collector_reply_refuse (self, connection, url, MHD_HTTP_METHOD_NOT_ALLOWED,
                                           "use POST", NULL);
        return false;
    }
    atomic_fetch_add (&self->counters->requests, 1);
    char address [INET6_ADDRSTRLEN];
    nd_httpd_client_address (connection, address, sizeof address);
    int64_t wait = collector_rate_take (self->per_ip, address, nd_wall_ms ());
    if (wait) {
        *refused = collector_reply_too_many (self, connection, url, "from this address", wait);
        return false;
    }
    return true;
}
