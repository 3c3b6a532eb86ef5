/*  push.h - the push-sender's classes, shared by its source files.

    (base64url and P-256 keys, shared with the collector and nd-vapid,
    are the runtime's nd_p256)
    push_ece      RFC 8291 message encryption (aes128gcm, RFC 8188)
    push_vapid    RFC 8292 VAPID: the application server's key and JWTs
    push_service  the provider the outbox calls: a batch of send orders
                  becomes concurrent HTTP requests to the push services
    push_spool    the provider when "spool" is set (a dry run): each
                  notification, rendered, becomes a JSON file instead

    Threads: push_service_deliver runs on the outbox's worker threads;
    everything it reads was built at setup and is read-only since, except
    the VAPID token cache, which has its own lock.                       */
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
void push_service_test (bool verbose);

/* --------------------------------------------------------------- spool */

typedef struct _push_spool_t push_spool_t;
/*  Takes templates. Makes dir (0700); NULL with a reason if it cannot.  */
push_spool_t *push_spool_new (nd_templates_t *templates, const char *dir, char *reason,
                              size_t size);
void push_spool_destroy (push_spool_t **self_p);
/*  The outbox's provider in a dry run; its self is a push_spool_t.      */
extern const nd_send_provider_t push_spool_provider;
void push_spool_test (bool verbose);

#endif
