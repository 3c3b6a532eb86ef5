/*  sms.h - the sms-sender's classes, shared by its source files.

    sms_text      an order's text from its templates (sms_render, which
                  nd-render shares), phone masking (the E.164 check is
                  the runtime's nd_phone_e164), GSM-7 / UCS-2 and
                  segment counting, opt-out keywords
    sms_provider  one small interface per SMS API; sms_twilio.c and
                  sms_infobip.c implement it (a new API is one new file),
                  and sms_spool.c, the local sink when none is configured
    sms_gateway   the outbox's provider: renders, counts, refuses what is
                  too long, and sends a batch through a provider
    sms_webhook   the HTTP server for inbound messages (STOP / START /
                  HELP) and delivery receipts, handing them to the loop
    sms_quiet     the last guard against a person's local quiet hours
    sms_footer    "Reply STOP to opt out" on the first text to a number
    sms_inbound   a text that is no keyword: sms.received, for the chat
    sms_whatsapp  WhatsApp (channel = whatsapp): session or template
                  messages, and their requests to Twilio and Infobip

    Threads: gateway calls run on the outbox's worker threads and read
    only what setup built; webhook requests run on libmicrohttpd's
    threads and wait while the loop's thread commits what they brought.
    Only the loop's thread touches LMDB.                                 */
#ifndef SMS_H_INCLUDED
#define SMS_H_INCLUDED

#include "nd.h"
#include "nd_http.h"
#include "nd_inbox.h"
#include "nd_sender.h"
#include "nd_codec.h"
#include "nd_templates.h"

/* ---------------------------------------------------------------- text */

#define SMS_PHONE_MAX 20

/*  "+" and 8 to 15 digits, the first not 0 (ITU-T E.164): the runtime's
    check (nd_codec.h), the scheduler's too, under the sms-sender's name. */
static inline bool sms_phone_valid (const char *phone) { return nd_phone_e164 (phone); }
/*  For logs: "+4860*****00" - country and a little, never the number.  */
const char *sms_phone_mask (const char *phone, char *out, size_t size);

typedef enum { SMS_GSM7, SMS_UCS2 } sms_encoding_t;

typedef struct {
    sms_encoding_t encoding;
    size_t units;               //  septets (GSM-7) or UTF-16 code units (UCS-2)
    size_t segments;            //  messages the network bills: 160/153, 70/67
} sms_count_t;

/*  Counts text (UTF-8) as a handset would send it: GSM-7 when every
    character is in the GSM 03.38 default alphabet or its extension
    table (those count 2), else UCS-2. Returns 0, or -1 for bad UTF-8.  */
int sms_count (const char *text, sms_count_t *count);
const char *sms_encoding_name (sms_encoding_t encoding);
/*  The text of a send order (its "template", "locale", "data") from the
    sms.text templates, the locale falling back as nd_templates_locale
    does. Returns the caller's text, or NULL with reason. Thread-safe.   */
char *sms_render (nd_templates_t *templates, const json_t *order, char *reason, size_t size);

typedef enum { SMS_KEYWORD_NONE, SMS_KEYWORD_STOP, SMS_KEYWORD_START, SMS_KEYWORD_HELP } sms_keyword_t;
/*  What an inbound message asks for: STOP, STOPALL, UNSUBSCRIBE, CANCEL,
    END, QUIT (also as the first word); START, YES, UNSTOP; HELP, INFO.  */
sms_keyword_t sms_keyword (const char *text);
void sms_text_test (bool verbose);

/* ------------------------------------------------------------ provider */

/*  The account a provider sends with, from the pipeline file.          */
typedef struct {
    const char *base;           //  API base URL, no trailing slash; the spool's directory
    const char *account;        //  Twilio: the Account SID
    const char *secret;         //  Twilio: the Auth Token; Infobip: the API key
    const char *from;           //  sender: number, alphanumeric ID, or Twilio "MG..." service
    const char *status_url;     //  where receipts go ("<webhook-url>/sms/status"), or NULL
    bool sync;                  //  the spool: each text reaches the disk (the stage's sync)
} sms_account_t;

/*  A WhatsApp message (sms_whatsapp.c): a session message's text, or an
    approved template's name and variables, in locale.                   */
typedef struct {
    bool session;               //  within 24 h of the person's last message
    char *text;                 //  session: the body
    char *name;                 //  template: Twilio's ContentSid, Infobip's name
    json_t *variables;          //  template: its variables, strings in order
    char locale [64];           //  the template's locale (Infobip's "language")
} sms_whatsapp_t;

typedef struct {
    const char *to;
    const char *text;
    const char *key;            //  the idempotency key, for the receipt
    const sms_count_t *count;   //  its encoding and segments, as counted
    int64_t time;               //  the stage's clock when it was due to go
    const sms_whatsapp_t *whatsapp;     //  a WhatsApp message, or NULL: an SMS
} sms_message_t;

/*  Room a provider builds one request in; freed by sms_request_clear.   */
typedef struct {
    char url [512];
    char auth [512];            //  header line or "user:password"
    char *body;
} sms_request_t;
void sms_request_clear (sms_request_t *request);

/*  One inbound event from a webhook.                                    */
typedef enum { SMS_EVENT_INBOUND, SMS_EVENT_RECEIPT } sms_event_kind_t;

typedef struct {
    sms_event_kind_t kind;
    char phone [SMS_PHONE_MAX + 1];     //  inbound: who wrote; receipt: to whom
    char *text;                         //  inbound: the message (owned)
    char key [401];                     //  receipt: our idempotency key, if told
    char message_id [80];               //  the provider's id (inbound: of the text)
    char outcome [16];                  //  receipt: "delivered", "failed", "unreachable",
                                        //  "unsubscribed", "" (not final yet)
    char reason [160];                  //  receipt: the provider's status and error
} sms_event_t;

/*  A webhook request as the provider sent it.                           */
typedef struct {
    const char *url;            //  path and query, as received
    const char *content_type;
    const char *body;
    size_t size;
    const char *signature;      //  X-Twilio-Signature, or NULL
} sms_hook_t;

/*  An HTTP API fills in request and answer; a provider that is no API
    (the spool) fills in send instead. The rest may be NULL.             */
typedef struct {
    const char *name;
    const char *default_base;
    /*  At setup, once: 0, or -1 with reason (the stage will not start).  */
    int (*open) (const sms_account_t *account, char *reason, size_t size);
    /*  Builds the request that sends message.                            */
    int (*request) (const sms_account_t *account, const sms_message_t *message,
                    sms_request_t *request, nd_http_request_t *http);
    /*  Builds the request that sends message->whatsapp; NULL where the
        provider offers no WhatsApp (sms_whatsapp.c).                     */
    int (*whatsapp) (const sms_account_t *account, const sms_message_t *message,
                     sms_request_t *request, nd_http_request_t *http);
    /*  Reads the provider's answer into result; its message id into id.  */
    void (*answer) (const nd_http_request_t *http, nd_send_result_t *result, char *id,
                    size_t id_size);
    /*  Hands message over itself, on a worker thread: fills result, and
        its message id into id.                                           */
    void (*send) (const sms_account_t *account, const sms_message_t *message,
                  nd_send_result_t *result, char *id, size_t id_size);
    /*  Parses a webhook (inbound message or receipts) into events; returns
        how many (the caller frees their text), or -1 with reason.       */
    int (*parse) (const sms_account_t *account, const char *public_url, const sms_hook_t *hook,
                  sms_event_t *events, int max, char *reason, size_t size);
    /*  What to answer a webhook with (Content-Type and body); reply is the
        text to send back to the person, or NULL.                        */
    void (*reply) (const char *reply, char *content_type, size_t type_size, char **body);
} sms_provider_t;

extern const sms_provider_t sms_twilio;
extern const sms_provider_t sms_infobip;
extern const sms_provider_t sms_spool;
const sms_provider_t *sms_provider_find (const char *name);

/*  Shared by the providers: form and URL encoding, and deciding what an
    HTTP status means when the body says nothing more specific.          */
char *sms_form_encode (const char *text);
typedef void (sms_form_fn) (const char *name, const char *value, void *arg);
/*  Calls fn with each field of form (application/x-www-form-urlencoded
    or a query string), decoded; longer names and values are cut.       */
void sms_form_each (const char *form, sms_form_fn *fn, void *arg);
/*  The first value of field name, decoded, into out. 0, or -1.         */
int sms_form_value (const char *form, const char *name, char *out, size_t size);
void sms_result_http (const nd_http_request_t *http, nd_send_result_t *result);
/*  A provider's answer: result as sms_result_http says, and the body as
    JSON (the caller's), or NULL when there is none or it is not JSON.  */
json_t *sms_answer_json (const nd_http_request_t *http, nd_send_result_t *result);
/*  Makes http the POST of request's body to its URL with the header line
    content_type ("Content-Type: ...", a literal: http keeps the
    pointer), asking for JSON back; the provider adds its credentials.  */
void sms_request_post (sms_request_t *request, nd_http_request_t *http, const char *content_type);
/*  Makes http the POST of doc (taken) as compact JSON, with the header
    line in request->auth (Infobip's "Authorization: App ..."). 0, or -1
    when doc cannot be written.                                          */
int sms_request_post_json (sms_request_t *request, nd_http_request_t *http, json_t *doc);
/*  A form webhook's inbound text (From, Body) into event.              */
void sms_form_inbound (const char *form, sms_event_t *event);
void sms_providers_test (bool verbose);

/* ------------------------------------------------------------ whatsapp */

/*  The order's WhatsApp message from the whatsapp.* templates of held: a
    session message when the order says "whatsapp_session", else the
    approved template. 0, or -1 with reason (self cleared either way).   */
int sms_whatsapp_render (nd_templates_t *held, const json_t *order, sms_whatsapp_t *self,
                         char *reason, size_t size);
void sms_whatsapp_clear (sms_whatsapp_t *self);
/*  The providers' requests (their "whatsapp").                          */
int sms_whatsapp_twilio (const sms_account_t *account, const sms_message_t *message,
                         sms_request_t *request, nd_http_request_t *http);
int sms_whatsapp_infobip (const sms_account_t *account, const sms_message_t *message,
                          sms_request_t *request, nd_http_request_t *http);
/*  An inbound message from phone at now (the loop's txn); and whether
    one came within 24 h of now: 1, 0, or -1.                            */
int sms_whatsapp_seen (MDB_txn *txn, MDB_dbi dbi, const char *phone, int64_t now);
int sms_whatsapp_session (MDB_txn *txn, MDB_dbi dbi, const char *phone, int64_t now);
void sms_whatsapp_test (bool verbose);

/* ------------------------------------------------------------- gateway */

typedef struct {
    const sms_provider_t *provider;
    sms_account_t account;      //  copied
    nd_templates_t *templates;  //  taken
    nd_http_t *http;            //  taken
    bool whatsapp;              //  channel = whatsapp: sms_whatsapp.c's messages
    int default_max;            //  segments allowed when no journey is named
    json_t *journey_max;        //  journey -> segments allowed; taken
} sms_gateway_conf_t;

typedef struct _sms_gateway_t sms_gateway_t;
sms_gateway_t *sms_gateway_new (sms_gateway_conf_t *conf);
void sms_gateway_destroy (sms_gateway_t **self_p);
extern const nd_send_provider_t sms_gateway_provider;
const sms_provider_t *sms_gateway_api (sms_gateway_t *self);
const sms_account_t *sms_gateway_account (sms_gateway_t *self);
/*  "3, abandoned-cart: 2" -> default 3, abandoned-cart 2. -1 if bad.   */
int sms_gateway_parse_max (const char *text, int *default_max, json_t *journeys);
void sms_gateway_test (bool verbose);

/* ------------------------------------------------------------- webhook */

typedef struct _sms_webhook_t sms_webhook_t;
/*  Listens on address ("127.0.0.1:8090"); requests must carry ?token=
    when token is set. public_url: the base URL the provider calls
    (for Twilio's signature). stage is woken when events wait.          */
sms_webhook_t *sms_webhook_new (nd_stage_t *stage, const char *address,
                                const sms_provider_t *provider, const sms_account_t *account,
                                const char *public_url, const char *token, const char *help);
void sms_webhook_destroy (sms_webhook_t **self_p);

/*  The loop's side: takes every waiting request's events, calls apply
    for each inside txn (0 ok, -1 failed; event is an sms_event_t), then,
    after the commit, tells the requests the outcome so they can answer
    the provider (nd_inbox).                                            */
int sms_webhook_drain (sms_webhook_t *self, MDB_txn *txn, nd_inbox_apply_fn *apply, void *arg);
void sms_webhook_committed (sms_webhook_t *self, int rc);
void sms_webhook_stats (sms_webhook_t *self, json_t *stats);

/* -------------------------------------------------------------- footer */

/*  Texts from "confirm/..." templates (the double opt-in's codes): no footer. */
bool sms_footer_transactional (const json_t *order);
/*  On accepting order (loop thread, the accepting txn): the first
    marketing text to its number gets "stop_footer": true, and footers
    the number's keyed hash; without secret every one is marked. 0 / -1. */
int sms_footer_mark (MDB_txn *txn, MDB_dbi footers, const char *secret, json_t *order,
                     int64_t now);
/*  A marked order that was not delivered gives the mark back. 0 / -1.   */
int sms_footer_unmark (MDB_txn *txn, MDB_dbi footers, const char *secret, const json_t *order);
/*  text (taken) with the _footer template's sms.stop part after a newline
    when order is marked; NULL with reason if that cannot render.
    Thread-safe (held: a set from nd_templates_hold).                    */
char *sms_footer_add (nd_templates_t *held, const json_t *order, char *text, char *reason,
                      size_t size);
/*  At setup: 0 when the templates have a footer, else -1 with reason.    */
int sms_footer_check (nd_templates_t *templates, char *reason, size_t size);
void sms_footer_test (bool verbose);

/* --------------------------------------------------------------- quiet */

typedef struct _sms_quiet_t sms_quiet_t;
/*  hours: "21:00-09:00" (local time, may wrap midnight). NULL if bad.   */
sms_quiet_t *sms_quiet_new (const char *zoneinfo, const char *hours);
void sms_quiet_destroy (sms_quiet_t **self_p);
/*  0 when a person in zone may get a message at now_ms, else how long
    until their quiet hours end; -1 for an unknown zone. Loop thread.   */
int64_t sms_quiet_wait (sms_quiet_t *self, const char *zone, int64_t now_ms);
void sms_quiet_test (bool verbose);

/*  sms_erase.c: person.erased - the person's numbers and receipts go; a
    STOP of theirs stays as the number's keyed hash (secret: the
    pipeline's unsubscribe-secret, or NULL: it goes too).                */
int sms_erase (MDB_txn *txn, const char *secret, const char *user);
/*  A STOP kept by hash: 0 with since, ND_NOTFOUND, or -1.                */
int sms_erase_opted_out (MDB_txn *txn, MDB_dbi optout, const char *secret, const char *phone,
                         uint64_t *since);

/*  sms_inbound.c: an inbound text that is no keyword becomes sms.received
    (the number's people from users, sms.users) inside txn. 0 / -1.       */
int sms_inbound_emit (nd_stage_t *stage, MDB_txn *txn, MDB_dbi users, const char *provider,
                      const sms_event_t *event);

#endif
