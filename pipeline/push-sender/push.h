/*  push.h - the push-sender's classes, shared by its source files.

    (base64url and P-256 keys, shared with the collector and nd-vapid,
    are the runtime's nd_p256)
    push_ece      RFC 8291 message encryption (aes128gcm, RFC 8188)
    push_jwt      JSON Web Tokens signed ES256 (VAPID, APNs) or RS256 (FCM)
    push_vapid    RFC 8292 VAPID: the application server's key and JWTs
    push_fcm      app push through Firebase Cloud Messaging's HTTP v1 API,
                  with OAuth 2 access tokens from a service account
    push_apns     app push through Apple's APNs (HTTP/2, token auth)
    push_service  the provider the outbox calls: a batch of send orders
                  becomes concurrent HTTP requests to the push services,
                  each order's addresses tried in turn (app, then browser)
    push_spool    the provider when "spool" is set (a dry run): each
                  notification, rendered, becomes a JSON file instead

    Threads: push_service_deliver runs on the outbox's worker threads;
    everything it reads was built at setup and is read-only since, except
    the token caches (VAPID, APNs, FCM), each with its own lock.         */
#ifndef PUSH_H_INCLUDED
#define PUSH_H_INCLUDED

#include <openssl/evp.h>
#include "nd.h"
#include "nd_http.h"
#include "nd_p256.h"
#include "nd_sender.h"
#include "nd_templates.h"

#define PUSH_AUTH_SIZE 16       //  the subscription's auth secret

/* ----------------------------------------------------------------- ece */

#define PUSH_ECE_RECORD 4096                    //  rs: one record, at most this
#define PUSH_ECE_HEADER (16 + 4 + 1 + ND_P256_POINT)
#define PUSH_ECE_TAG 16
//  RFC 8291 section 4: one 4096-byte record, so 3993 bytes of message
#define PUSH_ECE_PLAIN_MAX (PUSH_ECE_RECORD - PUSH_ECE_HEADER - PUSH_ECE_TAG - 1)

typedef struct _push_ece_t push_ece_t;
push_ece_t *push_ece_new (void);
void push_ece_destroy (push_ece_t **self_p);

/*  Only for tests: the sender's key and salt RFC 8291's example uses.   */
typedef struct {
    const uint8_t *as_private;  //  ND_P256_SCALAR bytes
    const uint8_t *salt;        //  16 bytes
} push_ece_fixed_t;

/*  Encrypts plain for the subscription (its p256dh point and auth secret)
    into out, which holds at least PUSH_ECE_RECORD bytes. Returns the body
    size, or -1 with a reason (a bad key, too long).                     */
int push_ece_encrypt (push_ece_t *self, const uint8_t ua_public [ND_P256_POINT],
                      const uint8_t auth [PUSH_AUTH_SIZE], const uint8_t *plain, size_t size,
                      const push_ece_fixed_t *fixed, uint8_t *out, char *reason,
                      size_t reason_size);
void push_ece_test (bool verbose);

/* ----------------------------------------------------------------- jwt */

#define PUSH_JWT_MAX 2048

/*  Signs header.claims into jwt: ES256 with a P-256 key, RS256 with an
    RSA one; header's "alg" must name the key's. Returns 0 or -1.        */
int push_jwt_sign (EVP_PKEY *key, const json_t *header, const json_t *claims, char *jwt,
                   size_t size);
/*  An RSA private key from PEM (a service account's "private_key").     */
EVP_PKEY *push_jwt_rsa_parse (const char *pem);
void push_jwt_test (bool verbose);

/* --------------------------------------------------------------- vapid */

#define PUSH_VAPID_HEADER_MAX 1024

typedef struct _push_vapid_t push_vapid_t;

/*  Takes key. subject: "mailto:..." or "https://..."; lifetime: how long
    a token is valid (at most 24 h, RFC 8292 section 2).                 */
push_vapid_t *push_vapid_new (EVP_PKEY *key, const char *subject, int64_t lifetime_ms);
void push_vapid_destroy (push_vapid_t **self_p);
/*  The public key, base64url: the shop page's applicationServerKey.     */
const char *push_vapid_public (push_vapid_t *self);
/*  Writes "vapid t=<jwt>, k=<key>" for a message to endpoint into header.
    Tokens are reused per origin until they are within a tenth of their
    lifetime of expiring. Thread-safe. Returns 0 or -1.                  */
int push_vapid_authorization (push_vapid_t *self, const char *endpoint, int64_t now_ms,
                              char *header, size_t size);
void push_vapid_test (bool verbose);

/* ------------------------------------------------------------ app push */

/*  A person's push addresses, in the order an order tries them: the
    app's (FCM, APNs) first, then the browser's subscription.           */
typedef enum { PUSH_FCM, PUSH_APNS, PUSH_WEB, PUSH_KINDS } push_kind_t;
typedef struct {
    push_kind_t kind;
    const char *token;          //  FCM or APNs token, or the web endpoint
} push_address_t;
/*  The addresses of an order's "to" (fcm, apns, then endpoint; see
    push_sender.c), into out; their count.                              */
size_t push_addresses (const json_t *order, push_address_t out [PUSH_KINDS]);
const char *push_kind_name (push_kind_t kind);
/*  Whether token looks like one the service issues (FCM: 1-4096 of
    [A-Za-z0-9_:.-]; APNs: 16-200 hex digits, it goes into a URL path).  */
bool push_token_valid (push_kind_t kind, const char *token);

/*  What one request needs while it is in flight.                        */
#define PUSH_BODY_MAX 8192
#define PUSH_HEADER_MAX 2600
#define PUSH_LINES 6
typedef struct {
    uint8_t body [PUSH_BODY_MAX];
    char url [2300];
    char authorization [PUSH_HEADER_MAX];
    char lines [PUSH_LINES][160];
} push_message_t;

typedef struct _push_fcm_t push_fcm_t;
typedef struct _push_apns_t push_apns_t;

/*  From the stage's options (fcm-project, fcm-key-file, fcm-base,
    fcm-token-uri; apns-key-file, apns-key-id, apns-team-id, apns-topic,
    apns-base): *self_p stays NULL when the channel is not configured.
    -1 after logging file:line and the reason. http is borrowed.        */
int push_fcm_configure (nd_stage_t *stage, nd_http_t *http, bool allow_http,
                        push_fcm_t **self_p);
void push_fcm_destroy (push_fcm_t **self_p);
int push_apns_configure (nd_stage_t *stage, bool allow_http, push_apns_t **self_p);
void push_apns_destroy (push_apns_t **self_p);

/*  Builds job's request to token with payload (push_payload's); 0, or -1
    with the job's result set. ttl_s: how long the service may keep it;
    urgency: RFC 8030's level.                                          */
int push_fcm_prepare (push_fcm_t *self, nd_send_job_t *job, const char *token,
                      const json_t *payload, int64_t ttl_s, const char *urgency,
                      nd_http_request_t *request, push_message_t *message);
void push_fcm_outcome (push_fcm_t *self, const nd_http_request_t *request, nd_send_job_t *job);
int push_apns_prepare (push_apns_t *self, nd_send_job_t *job, const char *token,
                       const json_t *payload, int64_t ttl_s, const char *urgency,
                       nd_http_request_t *request, push_message_t *message);
void push_apns_outcome (push_apns_t *self, const nd_http_request_t *request, nd_send_job_t *job);
void push_fcm_test (bool verbose);
void push_apns_test (bool verbose);

/* ------------------------------------------------------------- service */

/*  Where the shop's service worker reports what became of a notification
    (shown, clicked, dismissed): the collector's /v1/push/event URL, and
    the pipeline's secret its tokens are signed with.                   */
typedef struct {
    char *url;                  //  NULL: notifications carry no "report"
    char *secret;
} push_report_t;
#define PUSH_REPORT_PURPOSE "push-event"

typedef struct {
    nd_templates_t *templates;  //  taken
    push_vapid_t *vapid;        //  taken
    nd_http_t *http;            //  taken
    int64_t ttl_ms;             //  the longest a push service keeps a message
    const char *urgency;        //  default Urgency
    bool allow_http;            //  endpoints may be http:// (tests, local mocks)
    const char **hosts;         //  allowed push service hosts ("*.example" suffixes);
                                //  NULL-terminated, taken; NULL: any
    push_report_t report;       //  its strings taken
    push_fcm_t *fcm;            //  taken; NULL: no FCM
    push_apns_t *apns;          //  taken; NULL: no APNs
} push_service_conf_t;

typedef struct _push_service_t push_service_t;
push_service_t *push_service_new (push_service_conf_t *conf);
void push_service_destroy (push_service_t **self_p);
/*  The outbox's provider; its self is a push_service_t.                 */
extern const nd_send_provider_t push_service_provider;
/*  The subscription of a send order: "to" or, once the push-sender has
    moved it there, "subscription".                                      */
const json_t *push_subscription (const json_t *order);
/*  The notification an order shows: {title, body, url, icon, image, tag,
    key, journey, step, variant}, rendered from its template (url, icon and
    image optional, and left out unless http(s)), and with report (NULL or
    its url NULL: none) "report": <url>?t=<token>, the token naming the
    order's idempotency key and user (nd_token_sign, purpose
    PUSH_REPORT_PURPOSE). NULL with a reason.                            */
json_t *push_payload (nd_templates_t *templates, const push_report_t *report,
                      const json_t *order, char *reason, size_t size);
/*  text (length bytes, a service's answer) on one line, printable ASCII
    only, at most 100 characters: for reasons.                          */
void push_said (const char *text, size_t length, char *out, size_t size);
/*  How every push service's answer opens: a 2xx is delivered (true, the
    job's result set, nothing more to say). Otherwise false, and *answer
    (when answer is not NULL) is the body as JSON, the caller's, or NULL
    when there is none or it is not JSON.                                */
bool push_answer_delivered (const nd_http_request_t *request, nd_send_job_t *job,
                            json_t **answer);
/*  What a refused try comes to, as the service's answer decided: gone,
    the address is dead (feedback.unreachable); else, with retry, tried
    again (after the service's Retry-After, if any); else failed. The
    caller writes the reason.                                            */
void push_answer_refused (const nd_http_request_t *request, nd_send_job_t *job, bool gone,
                          bool retry);
void push_service_test (bool verbose);

/* --------------------------------------------------------------- spool */

typedef struct _push_spool_t push_spool_t;
/*  Takes templates. Makes the spool (nd_spool_open: a directory, or a
    file of lines); NULL with a reason if it cannot. With sync (the
    stage's), each notification reaches the disk before it counts as
    delivered.                                                           */
push_spool_t *push_spool_new (nd_templates_t *templates, const char *dir, bool sync,
                              char *reason, size_t size);
void push_spool_destroy (push_spool_t **self_p);
/*  The outbox's provider in a dry run; its self is a push_spool_t.      */
extern const nd_send_provider_t push_spool_provider;
void push_spool_test (bool verbose);

#endif
