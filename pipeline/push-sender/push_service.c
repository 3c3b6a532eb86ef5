/*  push_service - the outbox's provider: send orders to push services.

    A batch of send orders becomes one round of concurrent HTTP requests
    (RFC 8030 section 5), each:

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

//  What one order needs while its request is in flight.
typedef struct {
    uint8_t body [PUSH_ECE_RECORD];
    char authorization [PUSH_VAPID_HEADER_MAX];
    char ttl [32];
    char urgency [32];
    char topic [48];
} s_message_t;

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
        free (self);
        *self_p = NULL;
    }
}

const json_t *push_subscription (const json_t *order)
{
    const json_t *to = json_object_get (order, "to");
    return json_is_object (to) ? to : json_object_get (order, "subscription");
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
static int s_prepare (push_service_t *self, nd_send_job_t *job, nd_http_request_t *request,
                      s_message_t *message)
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
    json_t *payload = push_payload (self->conf.templates, &self->conf.report, job->order,
                                    reason, sizeof reason);
    char *plain = payload ? json_dumps (payload, JSON_COMPACT) : NULL;
    json_decref (payload);
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
    snprintf (message->ttl, sizeof message->ttl, "TTL: %lld", (long long) s_ttl (self, job->order, job->time));
    snprintf (message->urgency, sizeof message->urgency, "Urgency: %s", s_urgency (self, job->order));
    char topic [40];
    s_topic (job->order, topic, sizeof topic);
    snprintf (message->topic, sizeof message->topic, "Topic: %s", topic);
    *request = (nd_http_request_t) { .method = "POST", .url = endpoint,
                                     .body = message->body, .body_size = (size_t) size };
    nd_http_header (request, "Content-Encoding: aes128gcm");
    nd_http_header (request, "Content-Type: application/octet-stream");
    nd_http_header (request, message->authorization);
    nd_http_header (request, message->ttl);
    nd_http_header (request, message->urgency);
    if (*topic)
        nd_http_header (request, message->topic);
    return 0;
}

/* ----------------------------------------------------------- outcome -- */

//  The start of a service's answer, on one line, printable ASCII only.
static void s_said (const nd_http_request_t *request, char *out, size_t size)
{
    size_t used = 0;
    for (size_t i = 0; request->response && i < request->response_size && used + 1 < size
                       && used < 100; i++) {
        unsigned char c = (unsigned char) request->response [i];
        out [used++] = c >= 32 && c < 127 ? (char) c : ' ';
    }
    out [used] = 0;
}

static void s_outcome (const nd_http_request_t *request, nd_send_job_t *job)
{
    char origin [256] = "", said [128];
    nd_http_origin (request->url, origin, sizeof origin);
    s_said (request, said, sizeof said);
    long status = request->status;
    nd_send_result_t *result = &job->result;
    if (status >= 200 && status < 300) {
        result->outcome = ND_SEND_DELIVERED;
        result->reason [0] = 0;
        return;
    }
    if (status == 404 || status == 410)
        s_fail (job, "unreachable", "");
    else
    if (status == 413)
        s_fail (job, "failed", "");
    else
    if (status == 0 || status == 401 || status == 408 || status == 429 || status >= 500) {
        result->outcome = ND_SEND_RETRY;
        result->retry_after_ms = request->retry_after_ms;
    }
    else
        s_fail (job, "failed", "");
    if (status == 0)
        snprintf (result->reason, sizeof result->reason, "no answer from %.100s: %.120s", origin,
                  request->error);
    else
        snprintf (result->reason, sizeof result->reason, "%ld from %.100s%s%s%.100s", status, origin,
                  status == 410 || status == 404 ? " (the subscription is gone)"
                  : status == 413 ? " (payload too large for this push service)" : "",
                  *said ? ": " : "", said);
}

static void s_deliver (void *self_, nd_send_job_t *jobs, size_t count)
{
    push_service_t *self = (push_service_t *) self_;
    nd_http_request_t *requests = (nd_http_request_t *) calloc (count, sizeof *requests);
    s_message_t *messages = (s_message_t *) malloc (count * sizeof *messages);
    size_t *owner = (size_t *) calloc (count, sizeof *owner);
    assert (requests && messages && owner);
    size_t ready = 0;
    for (size_t i = 0; i < count; i++)
        if (s_prepare (self, &jobs [i], &requests [ready], &messages [ready]) == 0)
            owner [ready++] = i;
    nd_http_perform (self->conf.http, requests, ready);
    for (size_t r = 0; r < ready; r++) {
        s_outcome (&requests [r], &jobs [owner [r]]);
        nd_http_request_reset (&requests [r]);
    }
    free (owner);
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
