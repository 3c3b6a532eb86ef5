/*  collector.h - the collector's classes, shared by its source files.

    Threads: HTTP connection threads and the stdin reader validate and
    normalize events (collector_event), pack one request's worth into a
    ticket and hand it to the queue (collector_queue), which wakes the
    stage's loop and blocks them until the loop has committed it. Only the
    loop's thread touches LMDB (collector_seen) and the clock.
*/
#ifndef COLLECTOR_H_INCLUDED
#define COLLECTOR_H_INCLUDED

#include <pthread.h>
#include <stdatomic.h>
#include <czmq.h>
#include <microhttpd.h>
#include "nd.h"
#include "nd_httpd.h"
#include "nd_json.h"

/*  Limits and modes every intake thread works with; set at setup, then
    read-only, so threads share it without locking.                       */
typedef struct {
    size_t max_event;           //  bytes per event (Segment: 32 KB)
    size_t max_batch;           //  bytes per batch request (Segment: 500 KB)
    unsigned int max_connections;   //  open at once, slow and idle ones too
    unsigned int per_ip;        //  of those, from one address
    double rate_per_ip;         //  requests a second from one address (0: any)
    double rate_per_key;        //  and with one write key (0: any)
    bool event_time;            //  the stage runs on event time
    char phone_region [3];      //  phone-region ("PL"), or "": /v1/confirm's typed numbers
} collector_limits_t;

/*  Counters the intake threads and the loop update; read by STATS.      */
typedef struct {
    atomic_uint_fast64_t requests;      //  HTTP API requests answered
    atomic_uint_fast64_t rejected;      //  events refused by validation
    atomic_uint_fast64_t accepted;      //  events committed and emitted
    atomic_uint_fast64_t duplicates;    //  events dropped as already seen
    atomic_int_fast64_t now;            //  the loop's clock at its last commit
} collector_counters_t;

/* ----------------------------------------------------------- keys */

/*  A write key. A server's is a secret, and what comes with it is trusted.
    A browser's is public (it is in the shop's pages): it is good only from
    its origins, and what comes with it is a claim, so its events say
    "via": "browser" (the sessionizer then takes no contact or consent from
    them until confirmed).                                               */
typedef struct {
    char *key;
    char **origins;             //  "https://shop.example", NULL-terminated;
                                //  NULL for a server key
} collector_key_t;

/* ---------------------------------------------------------- event */

/*  What a request says about all of its events: Segment's batch-level
    context, integrations and sentAt apply to every event in the batch.  */
typedef struct {
    const collector_limits_t *limits;
    int64_t received;           //  wall ms the request arrived
    json_t *sent_at;            //  batch-level "sentAt", or NULL
    json_t *context;            //  batch-level "context", or NULL
    json_t *integrations;       //  batch-level "integrations", or NULL
    bool check_size;            //  the request may hold an event > max_event
    bool browser;               //  it came with a browser key: "via": "browser"
} collector_envelope_t;

#define COLLECTOR_REASON_MAX 160

/*  Validates one Segment event and rewrites it in place into the body the
    sessionizer receives. type is the call ("track"), or NULL to read it
    from the event (batch items, stdin lines). A "via" the client sent is
    removed; envelope->browser sets "via": "browser". On success sets topic
    ("event.track") and time (ms; 0 when the loop's clock must supply it,
    see collector_event_stamp) and returns 0; else fills reason, -1.     */
int collector_event_normalize (json_t *event, const char *type,
                               const collector_envelope_t *envelope,
                               char *topic, size_t topic_size, int64_t *time,
                               char *reason);
/*  Gives an event that carried no time the loop's "now".                */
void collector_event_stamp (json_t *event, int64_t now);
/*  The body of a tick: {"id":"tick-<ms>","user":"","time":...}.        */
json_t *collector_tick_new (int64_t time);
void collector_event_test (bool verbose);

/* --------------------------------------------------------- ticket */

/*  One request's accepted events (or one chunk of stdin), in order.     */
typedef struct {
    char topic [32];            //  "event.identify" or "tick"
    json_t *body;               //  owned
    int64_t time;               //  ms, or 0: stamp with the loop's now
} collector_item_t;

typedef struct _collector_ticket_t collector_ticket_t;
collector_ticket_t *collector_ticket_new (void);
void collector_ticket_destroy (collector_ticket_t **self_p);
/*  Takes ownership of body.                                              */
void collector_ticket_add (collector_ticket_t *self, const char *topic,
                           json_t *body, int64_t time);
size_t collector_ticket_size (collector_ticket_t *self);
collector_item_t *collector_ticket_item (collector_ticket_t *self, size_t index);
collector_ticket_t *collector_ticket_next (collector_ticket_t *self);
/*  The loop's list of taken tickets, with more appended; returns its head. */
collector_ticket_t *collector_ticket_join (collector_ticket_t *list, collector_ticket_t *more);

/* ---------------------------------------------------------- queue */

/*  Outcome of collector_queue_commit.                                    */
#define COLLECTOR_COMMITTED 0
#define COLLECTOR_FAILED -1     //  the transaction failed (state full?)
#define COLLECTOR_TIMEOUT -2    //  the loop did not take it in time
#define COLLECTOR_CLOSED -3     //  the stage is stopping

typedef struct _collector_queue_t collector_queue_t;
collector_queue_t *collector_queue_new (void);
void collector_queue_destroy (collector_queue_t **self_p);
/*  Readable while tickets wait: the loop polls it (source_fd).          */
int collector_queue_fd (collector_queue_t *self);
/*  Intake threads: queues the ticket, wakes the loop and blocks until the
    ticket is committed or failed. The caller keeps the ticket.          */
int collector_queue_commit (collector_queue_t *self, collector_ticket_t *ticket,
                            int timeout_ms);
/*  Loop: takes every waiting ticket, as a list (collector_ticket_next).  */
collector_ticket_t *collector_queue_take (collector_queue_t *self);
/*  Loop: reports the outcome of the transaction that carried tickets.   */
void collector_queue_finish (collector_queue_t *self, collector_ticket_t *tickets,
                             int rc);
/*  Fails every waiting ticket and all later ones: the stage is stopping. */
void collector_queue_close (collector_queue_t *self);
size_t collector_queue_pending (collector_queue_t *self);
void collector_queue_test (bool verbose);

/* ----------------------------------------------------------- feed */

/*  POST /v1/catalogue's body, a product feed (nd_feed.h): one
    catalogue.product event into ticket per good line, {"line", "reason"}
    into rejected for the first 100 bad ones (all counted in *refused).
    -1 with reason when nothing of it can be taken.                      */
int collector_feed_take (const char *text, size_t size, collector_ticket_t *ticket,
                         json_t *rejected, size_t *refused, char *reason);

/* ----------------------------------------------------------- body */

/*  One request's body as it streams in, capped at limit. With
    Content-Encoding gzip or deflate it is inflated as it comes and the
    limit applies to the inflated bytes. NULL with reason for an encoding
    nudge does not take (415).                                           */
typedef struct _collector_body_t collector_body_t;
collector_body_t *collector_body_new (size_t limit, const char *encoding, char *reason,
                                      size_t reason_size);
void collector_body_destroy (collector_body_t **self_p);
void collector_body_add (collector_body_t *self, const char *data, size_t size);
/*  Past the limit and still sending more than factor times it: hang up.  */
bool collector_body_hopeless (collector_body_t *self, size_t factor);
/*  At the end: 0 with the (inflated) body, or the HTTP status that refuses
    it (413 over the limit, 400 a compressed body that does not inflate)
    with reason.                                                          */
int collector_body_get (collector_body_t *self, const char **data, size_t *size,
                        char *reason, size_t reason_size);
size_t collector_body_size (collector_body_t *self);
void collector_body_test (bool verbose);

/* ----------------------------------------------------------- rate */

/*  Requests a second per client (an address, a write key): a token bucket
    each, rate a second and twice that in a burst, in a fixed table of
    slots. NULL (no limit) for rate 0. Thread-safe.                       */
typedef struct _collector_rate_t collector_rate_t;
collector_rate_t *collector_rate_new (double rate, size_t slots);
/*  The same with a burst of its own (5 tries, then one every 12 min).   */
collector_rate_t *collector_rate_new_burst (double rate, double burst, size_t slots);
void collector_rate_destroy (collector_rate_t **self_p);
/*  Takes one request of who at now (ms): 0 when it may go, else the ms
    until it may. self NULL: always 0.                                    */
int64_t collector_rate_take (collector_rate_t *self, const char *who, int64_t now);
void collector_rate_test (bool verbose);

/* ----------------------------------------------------------- seen */

/*  The messageIds already accepted, remembered for at least window.     */
typedef struct _collector_seen_t collector_seen_t;
collector_seen_t *collector_seen_new (MDB_txn *txn, int64_t window);
void collector_seen_destroy (collector_seen_t **self_p);
/*  Records id as seen at now: 0 if new, 1 if seen before, -1 on error.  */
int collector_seen_check (collector_seen_t *self, MDB_txn *txn, const char *id,
                          int64_t now);

/* ------------------------------------------------------------ kit */

/*  The browser kit's files (nudge.js, nudge-sw.js) of a directory, read
    at start with a gzip copy each. A file that is not there is logged and
    not served. NULL with reason for one that cannot be read.            */
typedef struct _collector_kit_t collector_kit_t;
typedef struct {
    const char *data;           //  the kit's: valid while it lives
    size_t size;
    bool gzip;                  //  data is the gzip copy
    const char *etag;           //  of what data is
    const char *etags [2];      //  both copies': either in If-None-Match is a 304
} collector_kit_answer_t;
collector_kit_t *collector_kit_new (const char *dir, char *reason, size_t reason_size);
void collector_kit_destroy (collector_kit_t **self_p);
/*  The file for url ("/nudge.js"), gzip if accept_encoding takes it:
    true and answer filled in, or false. Thread-safe (read-only).        */
bool collector_kit_find (collector_kit_t *self, const char *url, const char *accept_encoding,
                         collector_kit_answer_t *answer);
void collector_kit_test (bool verbose);

/* ----------------------------------------------------------- http */

typedef struct _collector_http_t collector_http_t;
/*  Serves the Segment HTTP Tracking API on fd, a listening socket it
    takes over. keys: the accepted write keys (until one whose key is
    NULL; kept).
    unsubscribe_secret: the secret of the mail-sender's unsubscribe
    tokens and the push-sender's report tokens (kept), or NULL for no
    /unsubscribe and no /v1/push/event. kit: the browser kit (kept), or
    NULL. push_key: the VAPID public key for GET /v1/push/key (copied),
    or NULL (404).                                                        */
collector_http_t *collector_http_new (int fd, const collector_key_t *keys,
                                      const collector_limits_t *limits,
                                      collector_queue_t *queue,
                                      collector_counters_t *counters,
                                      const char *stage_name,
                                      const char *unsubscribe_secret,
                                      collector_kit_t *kit, const char *push_key);
void collector_http_destroy (collector_http_t **self_p);
/*  Opens a listening TCP socket on "host:port". Returns fd, or -1 with
    reason filled in.                                                     */
int collector_http_listen (const char *address, char *reason, size_t reason_size);

/* -------------------------------------------------------- confirm */

/*  Double opt-in (collector_confirm.c): GET/POST /confirm?t=TOKEN, the
    link of a confirmation mail, and POST /v1/confirm, a typed SMS code.
    Each commits a trusted identify with the address and its consent.
    secret: the pipeline's unsubscribe-secret (kept); NULL: no endpoints. */
typedef struct _collector_confirm_t collector_confirm_t;
collector_confirm_t *collector_confirm_new (const char *secret, const collector_limits_t *limits,
                                            collector_queue_t *queue,
                                            collector_counters_t *counters);
void collector_confirm_destroy (collector_confirm_t **self_p);
/*  /confirm?t=TOKEN: GET shows a button (mail scanners fetch links and
    must confirm nothing), POST confirms. Queues the answer: MHD_YES/NO.  */
int collector_confirm_link (collector_confirm_t *self, struct MHD_Connection *connection,
                            const char *method);
/*  POST /v1/confirm, its body parsed: the HTTP status, *answer (a new
    JSON object) and, for 429, the seconds to wait in retry_after.       */
unsigned int collector_confirm_code (collector_confirm_t *self, const json_t *root,
                                     json_t **answer, char *retry_after, size_t size);
void collector_confirm_test (bool verbose);

/* ---------------------------------------------------------- click */

/*  GET /c/TOKEN (collector_click.c): the signed redirect behind every
    link in a message; commits click.<channel>, answers 302 (or 400).
    secret: the pipeline's unsubscribe-secret (kept); NULL: 404.         */
#define COLLECTOR_CLICK_PATH "/c/"
typedef struct _collector_click_t collector_click_t;
collector_click_t *collector_click_new (const char *secret, const collector_limits_t *limits,
                                        collector_queue_t *queue, collector_counters_t *counters);
void collector_click_destroy (collector_click_t **self_p);
int collector_click_link (collector_click_t *self, struct MHD_Connection *connection,
                          const char *url, const char *method);

/* ----------------------------------------------- the HTTP intake */

/*  What the HTTP intake's files share (collector_http.c, collector_reply.c,
    collector_segment.c, collector_signed.c); nothing else touches it.   */
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

/*  A path the server takes a body for, and what it calls there.         */
typedef struct {
    const char *path;
    const char *call;           //  a Segment type, "batch" or "tick"
} collector_endpoint_t;

/*  One request whose body is streaming in (libmicrohttpd's con_cls).    */
typedef struct {
    const collector_endpoint_t *route;
    const collector_key_t *key; //  the write key of the Authorization header, or NULL
    collector_body_t *body;     //  capped (and inflated) as it streams in
} collector_request_t;

#define COLLECTOR_COMMIT_TIMEOUT_MS 20000   //  SDKs give up after 10 s and retry

/* ---------------------------------------------------------- reply */

/*  How the HTTP intake answers (collector_reply.c). Each queues its
    answer on connection and returns libmicrohttpd's MHD_YES or MHD_NO.
    cors_origin: the request's Origin when a browser key may be used
    from it (its answers may be read there), else NULL. origin_refusal:
    why key may not be used from this request's Origin, or NULL.         */
const char *collector_reply_cors_origin (collector_http_t *self,
                                         struct MHD_Connection *connection);
const char *collector_reply_origin_refusal (const collector_key_t *key,
                                            struct MHD_Connection *connection);
/*  answer (taken, or NULL for no body); header, value: one more header
    (Allow, Retry-After), or NULL; cors: the Access-Control-Allow-Origin
    to send, or NULL. respond sends the request's own CORS origin.      */
enum MHD_Result collector_reply_send (struct MHD_Connection *connection, unsigned int status,
                                      json_t *answer, const char *header, const char *value,
                                      const char *cors);
enum MHD_Result collector_reply_respond (collector_http_t *self,
                                         struct MHD_Connection *connection,
                                         unsigned int status, json_t *answer,
                                         const char *header, const char *value);
/*  Logs a refused request, at most a few lines a second.               */
void collector_reply_log_refusal (collector_http_t *self, const char *url, unsigned int status,
                                  const char *reason);
/*  {"success": false, "reason", "rejected"?}: a new JSON object.       */
json_t *collector_reply_failure (const char *reason, json_t *rejected);
/*  Logs and answers a refusal (rejected: kept, or NULL).                */
enum MHD_Result collector_reply_refuse (collector_http_t *self,
                                        struct MHD_Connection *connection, const char *url,
                                        unsigned int status, const char *reason,
                                        json_t *rejected);
/*  429 with Retry-After for wait_ms; whose: "from this address".       */
enum MHD_Result collector_reply_too_many (collector_http_t *self,
                                          struct MHD_Connection *connection, const char *url,
                                          const char *whose, int64_t wait_ms);
/*  A small HTML page for a person (title and body already escaped).    */
enum MHD_Result collector_reply_page (struct MHD_Connection *connection, unsigned int status,
                                      const char *title, const char *body);
/*  A POST that counts as a request and fits its address's rate: true to
    go on, else false with the refusal queued in *refused.              */
bool collector_reply_admit_post (collector_http_t *self, struct MHD_Connection *connection,
                                 const char *url, const char *method, enum MHD_Result *refused);

/* -------------------------------------------------------- segment */

/*  The Segment API's requests (collector_segment.c). header_auth: 1 with
    *key the write key of the Authorization header, 0 no header, -1 one
    that fails. finish: the whole body is in: checks, commits, answers. */
int collector_segment_header_auth (collector_http_t *self, struct MHD_Connection *connection,
                                   const collector_key_t **key);
enum MHD_Result collector_segment_finish (collector_http_t *self,
                                          struct MHD_Connection *connection, const char *url,
                                          collector_request_t *request);

/* --------------------------------------------------------- signed */

/*  /unsubscribe and /v1/push/event (collector_signed.c): begin when the
    headers are in (a request for the body, in *con_cls, or an answer),
    finish when the body is.                                             */
extern const collector_endpoint_t collector_signed_unsubscribe_endpoint;
extern const collector_endpoint_t collector_signed_push_event_endpoint;
enum MHD_Result collector_signed_unsubscribe_begin (collector_http_t *self,
                                                    struct MHD_Connection *connection,
                                                    const char *url, const char *method,
                                                    void **con_cls);
enum MHD_Result collector_signed_unsubscribe_finish (collector_http_t *self,
                                                     struct MHD_Connection *connection,
                                                     const char *url);
enum MHD_Result collector_signed_push_event_begin (collector_http_t *self,
                                                   struct MHD_Connection *connection,
                                                   const char *url, const char *method,
                                                   void **con_cls);
enum MHD_Result collector_signed_push_event_finish (collector_http_t *self,
                                                    struct MHD_Connection *connection,
                                                    const char *url);

/* ---------------------------------------------------------- stdin */

typedef struct _collector_stdin_t collector_stdin_t;
/*  Starts a thread that reads Segment events, one JSON object a line,
    from fd and commits them through queue.                              */
collector_stdin_t *collector_stdin_new (int fd, const collector_limits_t *limits,
                                        collector_queue_t *queue,
                                        collector_counters_t *counters);
void collector_stdin_destroy (collector_stdin_t **self_p);

#endif
