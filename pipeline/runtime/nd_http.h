/*  nd_http.h - many HTTP requests at once, over reused connections.

    The channel senders (push-sender, sms-sender) hand a batch of messages
    to a provider's HTTP API from the outbox's worker threads. Doing them
    one after the other would cost a round trip each; nd_http runs a whole
    batch at once over libcurl's multi interface and keeps the connections
    open between batches, so a steady stream of sends pays TLS and TCP
    setup once. Over https it offers HTTP/2 (ALPN), which every Web Push
    service speaks: a batch is then multiplexed over one connection a
    host. A server that declines gets HTTP/1.1 with keep-alive.

    Thread-safe: several worker threads may call nd_http_perform at the
    same time; each takes its own curl multi handle (with its own
    connection cache) from a small pool, so connections are reused by
    whichever thread comes next.                                          */
#ifndef ND_HTTP_H_INCLUDED
#define ND_HTTP_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "nd.h"

#define ND_HTTP_HEADERS_MAX 8
#define ND_HTTP_ERROR_MAX 160

/*  One request and, after nd_http_perform, its answer. The caller owns
    every pointer it sets; nd_http_request_reset frees the answer.       */
typedef struct {
    const char *method;                 //  "POST"
    const char *url;
    const char *headers [ND_HTTP_HEADERS_MAX + 1];  //  "Name: value", NULL-ended
    const void *body;
    size_t body_size;
    const char *userpwd;                //  HTTP Basic "user:password", or NULL
    //  The answer
    long status;                        //  HTTP status, 0 when none came
    char *response;                     //  its body, NUL-terminated, or NULL
    size_t response_size;
    int64_t retry_after_ms;             //  Retry-After (seconds or a date), 0 if none
    char error [ND_HTTP_ERROR_MAX];     //  status 0: why (timeout, refused ...)
} nd_http_request_t;

typedef struct _nd_http_t nd_http_t;

/*  timeout_ms: the most one request may take; per_host: connections
    opened to one host at once (HTTP/2 multiplexes over fewer); ca_file:
    a PEM file of the certificate authorities to trust instead of the
    system's store (a private CA, a test's own), or NULL. Verification is
    never turned off. Call from the main thread before any worker runs
    (it initialises libcurl).                                            */
nd_http_t *nd_http_new (int64_t timeout_ms, long per_host, const char *ca_file);

/*  The client a sender's section of the pipeline file describes: timeout
    [30s], per-host [8] and tls-ca [the system's trust store]. NULL after
    logging file:line and the reason.                                    */
nd_http_t *nd_http_configured (nd_stage_t *stage);
void nd_http_destroy (nd_http_t **self_p);

/*  Runs count requests concurrently and fills in each answer. Returns
    when all have finished or failed.                                    */
void nd_http_perform (nd_http_t *self, nd_http_request_t *requests, size_t count);

/*  Adds a "Name: value" header (the text is the caller's and must live
    until perform returns). Returns -1 when the request has no room.    */
int nd_http_header (nd_http_request_t *request, const char *line);

/*  Frees the answer, keeping the request as it was set.                 */
void nd_http_request_reset (nd_http_request_t *request);

/*  Parses a Retry-After value: delay seconds or an HTTP date. Returns the
    wait in ms from now_ms (0 if the date has passed), or -1.            */
int64_t nd_http_retry_after (const char *value, int64_t now_ms);

/*  The scheme and authority of url ("https://fcm.googleapis.com"), into
    out. Returns -1 if url has none or does not fit.                     */
int nd_http_origin (const char *url, char *out, size_t size);

void nd_http_test (bool verbose);

#endif
