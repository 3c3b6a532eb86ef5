/*  push_service - the outbox's provider: send orders to push services.

    An order's "to" names the person's push addresses: the app's tokens
    ("fcm", "apns") and the browser's subscription ("endpoint", "keys").
    They are tried in that order: the app first, then the browser. A
    batch of orders becomes rounds of concurrent HTTP requests, one
    address per order a round; an order whose address is gone (FCM
    UNREGISTERED, APNs 410 Unregistered or 400 BadDeviceToken, Web Push
    404/410) goes on to its next address in the next round. Any other
    answer ends the order's walk (a retry starts again from the app). The
    feedback then says which kind carried it ("push": "fcm", "apns" or
    "web") and lists the addresses found gone ("gone": [{"fcm": token},
    {"web": endpoint}]), so the push-sender and the scheduler try them no
    more. All gone: feedback.unreachable, and the scheduler falls back to
    SMS or e-mail. FCM and APNs are push_fcm.c and push_apns.c; Web Push
    is this file:

        POST <subscription endpoint>
        TTL: <seconds>  Urgency: <level>  Topic: <journey>
        Content-Encoding: aes128gcm
        Authorization: vapid t=<jwt>, k=<key>
        <RFC 8291 encrypted JSON: title, body, url, tag, key ...>

    and each answer becomes an outcome for the outbox:

        200, 201, 202   delivered (the push service has it)
        404, 410        unreachable: the subscription is gone for good
        413             failed: the message is too big for this service
        429, 5xx, none  retry, after Retry-After if the service gave one
        401             retry: our credentials were refused; an operator
                        fixes the key or the clock, nothing is lost
        other 4xx       failed, with the status and the service's words

    The endpoint must be https:// on a known push service's host: it comes
    from a web page, and an unchecked one would let anyone make nudge post
    to any address (server-side request forgery).                       */
#define _GNU_SOURCE
#include <assert.h>
#include <ctype.h>
#include <string.h>
#include <strings.h>
#include <czmq.h>
#include "nd_token.h"
#include "push.h"

struct _push_service_t {
    push_service_conf_t conf;
    push_ece_t *ece;
};

//  One order's way through its addresses.
typedef struct {
    push_address_t addresses [PUSH_KINDS];
    size_t count, next;
    push_kind_t kind;           //  of the address last tried
    json_t *payload;            //  the notification, rendered once
    json_t *gone;               //  [{kind: token}], the addresses found gone
    bool done;
} s_walk_t;

push_service_t *push_service_new (push_service_conf_t *conf)
{
    push_service_t *self = (push_service_t *) calloc (1, sizeof *self);
    assert (self);
    self->conf = *conf;
    *conf = (push_service_conf_t) { 0 };
    self->ece = push_ece_new ();
    if (!self->ece)
        push_service_destroy (&self);
    return self;
}

void push_service_destroy (push_service_t **self_p)
{
    push_service_t *self = *self_p;
    if (self) {
        nd_templates_destroy (&self->conf.templates);
        push_vapid_destroy (&self->conf.vapid);
        nd_http_destroy (&self->conf.http);
        free (self->conf.hosts);
        free (self->conf.report.url);
        free (self->conf.report.secret);
        push_ece_destroy (&self->ece);
        push_fcm_destroy (&self->conf.fcm);
        push_apns_destroy (&self->conf.apns);
        free (self);
        *self_p = NULL;
    }
}

const json_t *push_subscription (const json_t *order)
{
    const json_t *to = json_object_get (order, "to");
    return json_is_object (to) ? to : json_object_get (order, "subscription");
}

/* --------------------------------------------------------- addresses -- */

static const char *s_kinds [PUSH_KINDS] = { "fcm", "apns", "web" };

const char *push_kind_name (push_kind_t kind)
{
    return s_kinds [kind];
}

size_t push_addresses (const json_t *order, push_address_t out [PUSH_KINDS])
{
    const json_t *to = push_subscription (order);
    const char *fields [PUSH_KINDS] = { "fcm", "apns", "endpoint" };
    size_t count = 0;
    for (int kind = 0; kind < PUSH_KINDS; kind++) {
        const char *token = json_string_value (json_object_get (to, fields [kind]));
        if (token && *token)
            out [count++] = (push_address_t) { (push_kind_t) kind, token };
    }
    return count;
}

bool push_token_valid (push_kind_t kind, const char *token)
{
    size_t length = token ? strlen (token) : 0;
    for (size_t i = 0; i < length; i++) {
        unsigned char c = (unsigned char) token [i];
        if (kind == PUSH_APNS ? !isxdigit (c) : !(isalnum (c) || strchr ("_:.-", c)))
            return false;
    }
    return kind == PUSH_APNS ? length >= 16 && length <= 200
         : kind == PUSH_FCM ? length >= 1 && length <= 4096 : length > 0;
}

/* ------------------------------------------------------------ checks -- */

static bool s_host_allowed (push_service_t *self, const char *endpoint)
{
    char origin [256];
    if (nd_http_origin (endpoint, origin, sizeof origin))
        return false;
    bool https = strncmp (origin, "https://", 8) == 0;
    if (!https && !(self->conf.allow_http && strncmp (origin, "http://", 7) == 0))
        return false;
    if (!self->conf.hosts)
        return true;
    char *host = strstr (origin, "://") + 3;
    char *colon = host [0] == '[' ? strchr (host, ']') : host;
    if (colon && (colon = strchr (colon, ':')))
        *colon = 0;
    size_t length = strlen (host);
    for (size_t i = 0; self->conf.hosts [i]; i++) {
        const char *pattern = self->conf.hosts [i];
        if (strncmp (pattern, "*.", 2) == 0) {
            size_t suffix = strlen (pattern + 1);         //  ".example.com"
            if (length > suffix && strcasecmp (host + length - suffix, pattern + 1) == 0)
                return true;
        }
        else
        if (strcasecmp (host, pattern) == 0)
            return true;
    }
    return false;
}

static void s_fail (nd_send_job_t *job, const char *topic, const char *reason)
{
    job->result.outcome = ND_SEND_PERMANENT;
    snprintf (job->result.topic, sizeof job->result.topic, "%s", topic);
    snprintf (job->result.reason, sizeof job->result.reason, "%s", reason);
}

/* ----------------------------------------------------------- payload -- */

//  The service worker posts "report" (with &action=clicked, ...) to the
//  collector, which needs no state to believe it: the token is signed.
static int s_report (const push_report_t *report, const json_t *order, json_t *payload,
                     char *reason, size_t size)
{
    const char *key = json_string_value (json_object_get (order, "idempotency_key"));
    const char *user = json_string_value (json_object_get (order, "user"));
    char text [ND_TOKEN_MAX], token [ND_TOKEN_MAX];
    if (!key || !user || strchr (key, '\n') || strchr (user, '\n')
    ||  snprintf (text, sizeof text, "%s\n%s", key, user) >= (int) sizeof text
    ||  nd_token_sign (report->secret, PUSH_REPORT_PURPOSE, text, token, sizeof token)) {
        snprintf (reason, size, "cannot sign a report token for this order (its key and user)");
        return -1;
    }
    json_object_set_new (payload, "report", json_sprintf ("%s%c" "t=%s", report->url,
                                                          strchr (report->url, '?') ? '&' : '?',
                                                          token));
    return 0;
}

json_t *push_payload (nd_templates_t *templates, const push_report_t *report,
                      const json_t *order, char *reason, size_t size)
{
    static const char *const required [] = { "title", "body", NULL };
    static const char *const parts [] = { "title", "body", "url", "icon", "image", NULL };
    const char *id = json_string_value (json_object_get (order, "template"));
    const char *wanted = json_string_value (json_object_get (order, "locale"));
    char locale [64];
    //  One set for the whole notification, whatever a reload does meanwhile
    nd_templates_t *held = nd_templates_hold (templates);
    if (nd_templates_locale (held, id, wanted, required, locale, sizeof locale)) {
        snprintf (reason, size, "no push template \"%.120s\" (title and body)", id ? id : "");
        nd_templates_destroy (&held);
        return NULL;
    }
    const json_t *data = json_object_get (order, "data");
    json_t *payload = json_object ();
    for (size_t i = 0; parts [i]; i++) {
        char *text = nd_templates_render_order (held, order, id, locale, parts [i], data,
                                                reason, size);
        if (!text && *reason) {
            nd_templates_destroy (&held);
            json_decref (payload);
            return NULL;
        }
        //  A link or a picture from an event's data could be anything:
        //  only http(s) reaches the service worker
        bool link = i >= 2;
        if (text && link && strncasecmp (text, "https://", 8) && strncasecmp (text, "http://", 7)) {
            nd_log ("push: %s of template %s is not an http(s) URL: left out", parts [i], id);
            zstr_free (&text);
        }
        if (text)
            json_object_set_new (payload, parts [i], json_string (text));
        free (text);
    }
    nd_templates_destroy (&held);
    //  For the shop's service worker: tag replaces an older notification
    //  of the same journey; key lets a click be reported against this message
    const char *copied [] = { "journey", "step", "variant", NULL };
    json_object_set (payload, "tag", json_object_get (order, "journey"));
    json_object_set (payload, "key", json_object_get (order, "idempotency_key"));
    for (size_t i = 0; copied [i]; i++)
        if (json_is_string (json_object_get (order, copied [i])))
            json_object_set (payload, copied [i], json_object_get (order, copied [i]));
    if (report && report->url && s_report (report, order, payload, reason, size)) {
        json_decref (payload);
        return NULL;
    }
    return payload;
}

/* ----------------------------------------------------------- request -- */

//  TTL: the service's keeping time, never past the order's not_after,
//  counted from the stage's clock when the push was due (now).
static int64_t s_ttl (push_service_t *self, const json_t *order, int64_t now)
{
    int64_t ttl = self->conf.ttl_ms / 1000, not_after;
    const char *limit = json_string_value (json_object_get (order, "not_after"));
    if (limit && nd_time_parse (limit, &not_after) == 0) {
        int64_t left = (not_after - now) / 1000;
        ttl = left < 0 ? 0 : left < ttl ? left : ttl;
    }
    return ttl;
}

static void s_topic (const json_t *order, char *topic, size_t size)
{
    //  RFC 8030 section 5.4: at most 32 characters of the base64url alphabet
    const char *journey = json_string_value (json_object_get (order, "journey"));
    size_t used = 0;
    for (const char *p = journey ? journey : ""; *p && used < 32 && used + 1 < size; p++)
        if (isalnum ((unsigned char) *p) || *p == '-' || *p == '_')
            topic [used++] = *p;
    topic [used] = 0;
}

static const char *s_urgency (push_service_t *self, const json_t *order)
{
    const char *wanted = json_string_value (json_object_get (order, "urgency"));
    const char *levels [] = { "very-low", "low", "normal", "high", NULL };
    for (size_t i = 0; wanted && levels [i]; i++)
        if (streq (wanted, levels [i]))
            return wanted;
    return self->conf.urgency;
}

//  Builds job's request; 0, or -1 with the job's result set.
static int s_prepare (push_service_t *self, nd_send_job_t *job, const json_t *payload,
                      nd_http_request_t *request, push_message_t *message)
{
    const json_t *subscription = push_subscription (job->order);
    const char *endpoint = json_string_value (json_object_get (subscription, "endpoint"));
    const json_t *keys = json_object_get (subscription, "keys");
    const char *p256dh = json_string_value (json_object_get (keys, "p256dh"));
    const char *auth_text = json_string_value (json_object_get (keys, "auth"));
    uint8_t ua_public [ND_P256_POINT + 3], auth [PUSH_AUTH_SIZE + 3];
    char reason [ND_SEND_REASON_MAX];
    if (!endpoint || !p256dh || !auth_text
    ||  nd_b64url_decode (p256dh, ua_public, sizeof ua_public) != ND_P256_POINT
    ||  nd_b64url_decode (auth_text, auth, sizeof auth) != PUSH_AUTH_SIZE) {
        s_fail (job, "unreachable", "the subscription has no endpoint, p256dh or auth key");
        return -1;
    }
    if (!s_host_allowed (self, endpoint)) {
        s_fail (job, "failed", "the endpoint is not https:// on an allowed push service host "
                               "(option hosts)");
        return -1;
    }
    char *plain = json_dumps (payload, JSON_COMPACT);
    int size = plain ? push_ece_encrypt (self->ece, ua_public, auth,
                                         (const uint8_t *) plain, strlen (plain), NULL,
                                         message->body, reason, sizeof reason) : -1;
    free (plain);
    if (size < 0) {
        s_fail (job, strstr (reason, "p256dh") ? "unreachable" : "failed", reason);
        return -1;
    }
    //  The JWT's expiry is checked by the push service against its own
    //  clock: wall time even in a replay
    if (push_vapid_authorization (self->conf.vapid, endpoint, nd_wall_ms (),
                                  message->authorization, sizeof message->authorization)) {
        s_fail (job, "failed", "cannot sign the VAPID token for this endpoint");
        return -1;
    }
    snprintf (message->lines [0], sizeof message->lines [0], "TTL: %lld",
              (long long) s_ttl (self, job->order, job->time));
    snprintf (message->lines [1], sizeof message->lines [1], "Urgency: %s",
              s_urgency (self, job->order));
    char topic [40];
    s_topic (job->order, topic, sizeof topic);
    snprintf (message->lines [2], sizeof message->lines [2], "Topic: %s", topic);
    *request = (nd_http_request_t) { .method = "POST", .url = endpoint,
                                     .body = message->body, .body_size = (size_t) size };
    nd_http_header (request, "Content-Encoding: aes128gcm");
    nd_http_header (request, "Content-Type: application/octet-stream");
    nd_http_header (request, message->authorization);
    nd_http_header (request, message->lines [0]);
    nd_http_header (request, message->lines [1]);
    if (*topic)
        nd_http_header (request, message->lines [2]);
    return 0;
}

/* ----------------------------------------------------------- outcome -- */

void push_said (const char *text, size_t length, char *out, size_t size)
{
    size_t used = 0;
    for (size_t i = 0; text && i < length && used + 1 < size && used < 100; i++) {
        unsigned char c = (unsigned char) text [i];
        out [used++] = c >= 32 && c < 127 ? (char) c : ' ';
    }
    out [used] = 0;
}

bool push_answer_delivered (const nd_http_request_t *request, nd_send_job_t *job,
                            json_t **answer)
{
    if (answer)
        *answer = NULL;
    if (request->status >= 200 && request->status < 300) {
        job->result.outcome = ND_SEND_DELIVERED;
        job->result.reason [0] = 0;
        return true;
    }
    if (answer && request->response)
        *answer = json_loads (request->response, 0, NULL);
    return false;
}

void push_answer_refused (const nd_http_request_t *request, nd_send_job_t *job, bool gone,
                          bool retry)
{
    nd_send_result_t *result = &job->result;
    retry = retry && !gone;
    result->outcome = retry ? ND_SEND_RETRY : ND_SEND_PERMANENT;
    result->retry_after_ms = retry ? request->retry_after_ms : 0;
    snprintf (result->topic, sizeof result->topic, "%s", retry ? "" : gone ? "unreachable"
              : "failed");
}

//  Web Push says little: a 404 or 410 is a subscription gone, 413 a
//  payload too large, and the status alone decides.
static void s_outcome (const nd_http_request_t *request, nd_send_job_t *job)
{
    if (push_answer_delivered (request, job, NULL))
        return;
    char origin [256] = "", said [128];
    nd_http_origin (request->url, origin, sizeof origin);
    push_said (request->response, request->response_size, said, sizeof said);
    long status = request->status;
    nd_send_result_t *result = &job->result;
    push_answer_refused (request, job, status == 404 || status == 410,
                         status == 0 || status == 401 || status == 408 || status == 429
                         || status >= 500);
    if (status == 0)
        snprintf (result->reason, sizeof result->reason, "no answer from %.100s: %.120s", origin,
                  request->error);
    else
        snprintf (result->reason, sizeof result->reason, "%ld from %.100s%s%s%.100s", status, origin,
                  status == 410 || status == 404 ? " (the subscription is gone)"
                  : status == 413 ? " (payload too large for this push service)" : "",
                  *said ? ": " : "", said);
}

/* -------------------------------------------------------------- walk -- */

//  Builds the request to the walk's next address: 0, or -1 with the job's
//  result set (a token that cannot be one is gone without a request).
static int s_prepare_next (push_service_t *self, nd_send_job_t *job, s_walk_t *walk,
                           nd_http_request_t *request, push_message_t *message)
{
    push_address_t *address = &walk->addresses [walk->next++];
    walk->kind = address->kind;
    int64_t ttl = s_ttl (self, job->order, job->time);
    const char *urgency = s_urgency (self, job->order);
    if (address->kind == PUSH_WEB)
        return s_prepare (self, job, walk->payload, request, message);
    const char *name = address->kind == PUSH_FCM ? "FCM" : "APNs";
    if (!push_token_valid (address->kind, address->token)) {
        char reason [64];
        snprintf (reason, sizeof reason, "not an %s token", name);
        s_fail (job, "unreachable", reason);
        return -1;
    }
    if (address->kind == PUSH_FCM && self->conf.fcm)
        return push_fcm_prepare (self->conf.fcm, job, address->token, walk->payload, ttl, urgency,
                                 request, message);
    if (address->kind == PUSH_APNS && self->conf.apns)
        return push_apns_prepare (self->conf.apns, job, address->token, walk->payload, ttl,
                                  urgency, request, message);
    //  Not an address this push-sender can use: not gone either
    char reason [96];
    snprintf (reason, sizeof reason, "%s is not configured (push-sender's %s options)", name,
              address->kind == PUSH_FCM ? "fcm-" : "apns-");
    s_fail (job, "failed", reason);
    snprintf (job->result.topic, sizeof job->result.topic, "skipped");
    return -1;
}

//  After an address's outcome: on to the next while the last was gone.
static void s_step (s_walk_t *walk, nd_send_job_t *job)
{
    nd_send_result_t *result = &job->result;
    bool gone = result->outcome == ND_SEND_PERMANENT && streq (result->topic, "unreachable");
    bool skipped = result->outcome == ND_SEND_PERMANENT && streq (result->topic, "skipped");
    push_address_t *address = &walk->addresses [walk->next - 1];
    if (gone)
        json_array_append_new (walk->gone, json_pack ("{s:s}", push_kind_name (address->kind),
                                                      address->token));
    if ((gone || skipped) && walk->next < walk->count) {
        *result = (nd_send_result_t) { ND_SEND_RETRY, "", "not attempted", 0, NULL };
        return;
    }
    if (skipped)
        snprintf (result->topic, sizeof result->topic, "%s", "failed");
    walk->done = true;
}

static void s_deliver (void *self_, nd_send_job_t *jobs, size_t count)
{
    push_service_t *self = (push_service_t *) self_;
    nd_http_request_t *requests = (nd_http_request_t *) calloc (count, sizeof *requests);
    push_message_t *messages = (push_message_t *) malloc (count * sizeof *messages);
    s_walk_t *walks = (s_walk_t *) calloc (count, sizeof *walks);
    size_t *owner = (size_t *) calloc (count, sizeof *owner);
    assert (requests && messages && walks && owner);
    for (size_t i = 0; i < count; i++) {
        char reason [ND_SEND_REASON_MAX];
        s_walk_t *walk = &walks [i];
        walk->count = push_addresses (jobs [i].order, walk->addresses);
        walk->gone = json_array ();
        walk->payload = push_payload (self->conf.templates, &self->conf.report, jobs [i].order,
                                      reason, sizeof reason);
        walk->done = !walk->payload || walk->count == 0;
        if (!walk->payload)
            s_fail (&jobs [i], "failed", reason);
        else
        if (walk->count == 0)
            s_fail (&jobs [i], "unreachable", "the order names no push address");
    }
    //  Each round tries one address of every order still walking
    for (int round = 0; round < PUSH_KINDS; round++) {
        size_t ready = 0;
        for (size_t i = 0; i < count; i++) {
            if (walks [i].done)
                continue;
            if (s_prepare_next (self, &jobs [i], &walks [i], &requests [ready], &messages [ready]))
                s_step (&walks [i], &jobs [i]);
            else
                owner [ready++] = i;
        }
        nd_http_perform (self->conf.http, requests, ready);
        for (size_t r = 0; r < ready; r++) {
            nd_send_job_t *job = &jobs [owner [r]];
            s_walk_t *walk = &walks [owner [r]];
            if (walk->kind == PUSH_FCM)
                push_fcm_outcome (self->conf.fcm, &requests [r], job);
            else
            if (walk->kind == PUSH_APNS)
                push_apns_outcome (self->conf.apns, &requests [r], job);
            else
                s_outcome (&requests [r], job);
            nd_http_request_reset (&requests [r]);
            memset (&requests [r], 0, sizeof requests [r]);
            s_step (walk, job);
        }
    }
    for (size_t i = 0; i < count; i++) {
        s_walk_t *walk = &walks [i];
        if (walk->payload && walk->count && jobs [i].result.outcome != ND_SEND_RETRY) {
            jobs [i].result.extra = json_pack ("{s:s}", "push", push_kind_name (walk->kind));
            if (json_array_size (walk->gone))
                json_object_set (jobs [i].result.extra, "gone", walk->gone);
        }
        json_decref (walk->gone);
        json_decref (walk->payload);
    }
    free (owner);
    free (walks);
    free (messages);
    free (requests);
}

static void s_destroy (void **self_p)
{
    push_service_destroy ((push_service_t **) self_p);
}

const nd_send_provider_t push_service_provider = { "webpush", s_deliver, s_destroy };

/* ----------------------------------------------------------- self-test -- */

void push_service_test (bool verbose)
{
    if (verbose)
        printf (" * push_service: ");
    const char *hosts [] = { "fcm.googleapis.com", "*.push.services.mozilla.com", NULL };
    push_service_conf_t conf = { .hosts = (const char **) malloc (sizeof hosts),
                                 .ttl_ms = 86400000, .urgency = "normal" };
    memcpy (conf.hosts, hosts, sizeof hosts);
    push_service_t *service = push_service_new (&conf);
    assert (service && !conf.hosts);
    assert (s_host_allowed (service, "https://fcm.googleapis.com/fcm/send/x"));
    assert (s_host_allowed (service, "https://updates.push.services.mozilla.com:443/wpush/v2/x"));
    assert (!s_host_allowed (service, "https://push.services.mozilla.com.evil.example/x"));
    //  Web Push's answers: 201 delivered, 410 gone, 429 later, 413 failed
    nd_send_job_t sent = { NULL, "k", 1, { ND_SEND_RETRY, "", "not attempted", 0, NULL }, 0 };
    nd_http_request_t answer = { .status = 201, .url = "https://fcm.googleapis.com/fcm/send/x" };
    s_outcome (&answer, &sent);
    assert (sent.result.outcome == ND_SEND_DELIVERED && !*sent.result.reason);
    answer.status = 410;
    s_outcome (&answer, &sent);
    assert (sent.result.outcome == ND_SEND_PERMANENT && streq (sent.result.topic, "unreachable")
            && strstr (sent.result.reason, "410 from https://fcm.googleapis.com (the subscription is gone)"));
    answer = (nd_http_request_t) { .status = 429, .retry_after_ms = 30000, .response = (char *) "slow",
                                   .response_size = 4, .url = answer.url };
    s_outcome (&answer, &sent);
    assert (sent.result.outcome == ND_SEND_RETRY && sent.result.retry_after_ms == 30000
            && !*sent.result.topic && strstr (sent.result.reason, ": slow"));
    answer.status = 413;
    s_outcome (&answer, &sent);
    assert (sent.result.outcome == ND_SEND_PERMANENT && streq (sent.result.topic, "failed"));
    //  Gone wins over a retry
    push_answer_refused (&answer, &sent, true, true);
    assert (sent.result.outcome == ND_SEND_PERMANENT && streq (sent.result.topic, "unreachable"));
    assert (!s_host_allowed (service, "https://evilpush.services.mozilla.com/x"));
    assert (!s_host_allowed (service, "http://fcm.googleapis.com/x"));
    assert (!s_host_allowed (service, "https://10.0.0.1/x"));
    json_t *order = json_pack ("{s:s, s:s, s:s}", "journey", "abandoned-cart/über",
                               "urgency", "urgent", "not_after", "2000-01-01T00:00:00Z");
    char topic [48];
    s_topic (order, topic, sizeof topic);
    assert (streq (topic, "abandoned-cartber"));
    assert (streq (s_urgency (service, order), "normal"));
    assert (s_ttl (service, order, nd_wall_ms ()) == 0);        //  not_after has passed
    int64_t before;
    nd_time_parse ("1999-12-31T23:00:00Z", &before);
    assert (s_ttl (service, order, before) == 3600);            //  an hour before it
    json_object_set_new (order, "urgency", json_string ("high"));
    json_object_del (order, "not_after");
    assert (streq (s_urgency (service, order), "high") && s_ttl (service, order, before) == 86400);
    nd_send_job_t job = { order, "k", 1, { ND_SEND_RETRY, "", "not attempted", 0, NULL }, 0 };
    nd_http_request_t request = { .url = "https://fcm.googleapis.com/fcm/send/secret-token",
                                  .status = 410 };
    s_outcome (&request, &job);
    assert (job.result.outcome == ND_SEND_PERMANENT && streq (job.result.topic, "unreachable"));
    assert (!strstr (job.result.reason, "secret-token"));
    request.status = 429;
    request.retry_after_ms = 30000;
    s_outcome (&request, &job);
    assert (job.result.outcome == ND_SEND_RETRY && job.result.retry_after_ms == 30000);
    request.status = 413;
    s_outcome (&request, &job);
    assert (job.result.outcome == ND_SEND_PERMANENT && streq (job.result.topic, "failed")
            && strstr (job.result.reason, "too large"));
    request.status = 201;
    s_outcome (&request, &job);
    assert (job.result.outcome == ND_SEND_DELIVERED);
    json_decref (order);
    push_service_destroy (&service);
    push_service_destroy (&service);
    if (verbose)
        printf ("OK\n");
}
