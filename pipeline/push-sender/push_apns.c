/*  push_apns - app push through Apple's APNs, HTTP/2 with token auth.

        POST <apns-base>/3/device/<device token>        (HTTP/2 over TLS)
        authorization: bearer <JWT>
        apns-topic: <the app's bundle id>
        apns-push-type: alert
        apns-priority: 10 (urgency high) or 5
        apns-expiration: <UNIX time the message is worth keeping until; 0: now or never>
        apns-collapse-id: <the journey: a newer reminder replaces an older>
        {"aps": {"alert": {"title", "body"}, "thread-id", "mutable-content"},
         "url", "image", "key", "journey", "step", "variant", "report"}

    The JWT (ES256 with the .p8 key, header kid = apns-key-id, claims iss
    = apns-team-id and iat) is reused for 50 minutes: APNs refuses one
    older than an hour and one renewed more often than every 20 minutes.
    When APNs calls it expired anyway (a clock step), a new one is signed,
    but still not within 20 minutes of the last.

    nd_http speaks HTTP/2 through libcurl (nghttp2), negotiated by ALPN
    on TLS, as APNs requires.

    Answers (Apple's "Handling notification responses from APNs"):
        200                                  delivered
        410 Unregistered                     unreachable
        400 BadDeviceToken,
            DeviceTokenNotForTopic           unreachable (another app's or
                                             environment's token)
        403 ExpiredProviderToken,
            InvalidProviderToken             retry, with a new JWT
        403 other                            retry: the key, team or topic
                                             is wrong; an operator fixes it
        413 PayloadTooLarge, other 4xx       failed
        429, 5xx, none                       retry                      */
#define _GNU_SOURCE
#include <assert.h>
#include <ctype.h>
#include <pthread.h>
#include <string.h>
#include <czmq.h>
#include "push.h"

#define s_REUSE_MS (50 * 60 * 1000LL)      //  a JWT's use: under APNs' hour
#define s_RENEW_MIN_MS (20 * 60 * 1000LL)  //  never two within this
#define s_PAYLOAD_MAX 4096                  //  APNs' limit for an alert

struct _push_apns_t {
    EVP_PKEY *key;
    char key_id [16];
    char team_id [16];
    char *topic;
    char *base;                 //  without a trailing /
    pthread_mutex_t lock;       //  guards the JWT
    char jwt [PUSH_JWT_MAX / 4];
    int64_t issued;             //  wall ms; 0: none
    bool stale;                 //  APNs called it expired
};

void push_apns_destroy (push_apns_t **self_p)
{
    push_apns_t *self = *self_p;
    if (self) {
        EVP_PKEY_free (self->key);
        free (self->topic);
        free (self->base);
        pthread_mutex_destroy (&self->lock);
        free (self);
        *self_p = NULL;
    }
}

/* ------------------------------------------------------------ config -- */

//  Apple's key and team ids: ten letters and digits.
static bool s_id_ok (const char *id)
{
    size_t length = id ? strlen (id) : 0;
    for (size_t i = 0; i < length; i++)
        if (!isalnum ((unsigned char) id [i]))
            return false;
    return length == 10;
}

//  A bundle id (com.shop.app, and .voip and the like after it).
static bool s_topic_ok (const char *topic)
{
    size_t length = topic ? strlen (topic) : 0;
    for (size_t i = 0; i < length; i++)
        if (!isalnum ((unsigned char) topic [i]) && !strchr ("-._", topic [i]))
            return false;
    return length > 0 && length <= 155;
}

int push_apns_configure (nd_stage_t *stage, bool allow_http, push_apns_t **self_p)
{
    *self_p = NULL;
    const char *path = nd_stage_option (stage, "apns-key-file", NULL);
    const char *key_id = nd_stage_option (stage, "apns-key-id", NULL);
    const char *team_id = nd_stage_option (stage, "apns-team-id", NULL);
    const char *topic = nd_stage_option (stage, "apns-topic", NULL);
    const char *base = nd_stage_option (stage, "apns-base", "https://api.push.apple.com");
    if (!path && !key_id && !team_id && !topic)
        return 0;
    if (!path)
        return nd_stage_config_error (stage, "apns-key-file", "required with the other apns- "
                                      "options: the .p8 key file from Apple's developer account");
    if (!s_id_ok (key_id))
        return nd_stage_config_error (stage, "apns-key-id", "required: the key's ten-character "
                                      "id (Apple's developer account, Keys)");
    if (!s_id_ok (team_id))
        return nd_stage_config_error (stage, "apns-team-id", "required: the ten-character team id");
    if (!s_topic_ok (topic))
        return nd_stage_config_error (stage, "apns-topic", "required: the app's bundle id, "
                                      "such as com.shop.app");
    if (strncmp (base, "https://", 8) && !(allow_http && strncmp (base, "http://", 7) == 0))
        return nd_stage_config_error (stage, "apns-base", "not an https URL");
    char name [1024], reason [200];
    snprintf (name, sizeof name, "file:%s", path);
    EVP_PKEY *key = nd_p256_load (name, reason, sizeof reason);
    if (!key)
        return nd_stage_config_error (stage, "apns-key-file", reason);
    push_apns_t *self = (push_apns_t *) calloc (1, sizeof *self);
    assert (self);
    pthread_mutex_init (&self->lock, NULL);
    self->key = key;
    snprintf (self->key_id, sizeof self->key_id, "%s", key_id);
    snprintf (self->team_id, sizeof self->team_id, "%s", team_id);
    self->topic = strdup (topic);
    self->base = strdup (base);
    for (size_t length = strlen (self->base); length && self->base [length - 1] == '/'; length--)
        self->base [length - 1] = 0;
    nd_log ("APNs: topic %s, team %s, key %s", self->topic, self->team_id, self->key_id);
    *self_p = self;
    return 0;
}

/* --------------------------------------------------------------- jwt -- */

//  "authorization: bearer <jwt>" into header; -1 if it cannot be signed.
static int s_authorization (push_apns_t *self, int64_t now, char *header, size_t size)
{
    pthread_mutex_lock (&self->lock);
    int64_t age = now - self->issued;
    int rc = 0;
    if (!self->issued || age >= s_REUSE_MS || age < 0 || (self->stale && age >= s_RENEW_MIN_MS)) {
        json_t *head = json_pack ("{s:s, s:s}", "alg", "ES256", "kid", self->key_id);
        json_t *claims = json_pack ("{s:s, s:I}", "iss", self->team_id,
                                    "iat", (json_int_t) (now / 1000));
        rc = push_jwt_sign (self->key, head, claims, self->jwt, sizeof self->jwt);
        json_decref (head);
        json_decref (claims);
        self->issued = rc == 0 ? now : 0;
        self->stale = false;
    }
    if (rc == 0 && snprintf (header, size, "authorization: bearer %s", self->jwt) >= (int) size)
        rc = -1;
    pthread_mutex_unlock (&self->lock);
    return rc;
}

/* ----------------------------------------------------------- request -- */

static json_t *s_payload (const json_t *payload)
{
    json_t *alert = json_object ();
    json_t *aps = json_pack ("{s:o}", "alert", alert);
    json_t *body = json_pack ("{s:o}", "aps", aps);
    const char *key;
    json_t *value;
    json_object_foreach ((json_t *) payload, key, value) {
        if (streq (key, "title") || streq (key, "body"))
            json_object_set (alert, key, value);
        else
            json_object_set (body, key, value);
    }
    const char *tag = json_string_value (json_object_get (payload, "tag"));
    if (tag && *tag)
        json_object_set_new (aps, "thread-id", json_string (tag));
    //  The app's notification service extension fetches the picture
    if (json_object_get (payload, "image"))
        json_object_set_new (aps, "mutable-content", json_integer (1));
    return body;
}

int push_apns_prepare (push_apns_t *self, nd_send_job_t *job, const char *token,
                       const json_t *payload, int64_t ttl_s, const char *urgency,
                       nd_http_request_t *request, push_message_t *message)
{
    nd_send_result_t *result = &job->result;
    int64_t now = nd_wall_ms ();
    if (s_authorization (self, now, message->authorization, sizeof message->authorization)) {
        *result = (nd_send_result_t) { ND_SEND_PERMANENT, "failed", "cannot sign the APNs JWT",
                                       0, NULL };
        return -1;
    }
    json_t *body = s_payload (payload);
    size_t size = json_dumpb (body, (char *) message->body, sizeof message->body, JSON_COMPACT);
    json_decref (body);
    if (size == 0 || size > s_PAYLOAD_MAX) {
        *result = (nd_send_result_t) { ND_SEND_PERMANENT, "failed", "APNs: the notification is "
                                       "larger than 4096 bytes", 0, NULL };
        return -1;
    }
    snprintf (message->url, sizeof message->url, "%s/3/device/%s", self->base, token);
    snprintf (message->lines [0], sizeof message->lines [0], "apns-topic: %s", self->topic);
    snprintf (message->lines [1], sizeof message->lines [1], "apns-priority: %s",
              streq (urgency, "high") ? "10" : "5");
    snprintf (message->lines [2], sizeof message->lines [2], "apns-expiration: %lld",
              ttl_s ? (long long) (now / 1000 + ttl_s) : 0LL);
    const char *tag = json_string_value (json_object_get (payload, "tag"));
    //  At most 64 bytes; a tag is a journey's name, cut at a character's start
    size_t length = tag ? strlen (tag) : 0;
    if (length > 64)
        for (length = 64; length && ((unsigned char) tag [length] & 0xC0) == 0x80; length--);
    snprintf (message->lines [3], sizeof message->lines [3], "apns-collapse-id: %.*s",
              (int) length, tag ? tag : "");
    *request = (nd_http_request_t) { .method = "POST", .url = message->url,
                                     .body = message->body, .body_size = size };
    nd_http_header (request, message->authorization);
    nd_http_header (request, message->lines [0]);
    nd_http_header (request, "apns-push-type: alert");
    nd_http_header (request, message->lines [1]);
    nd_http_header (request, message->lines [2]);
    if (length)
        nd_http_header (request, message->lines [3]);
    nd_http_header (request, "Content-Type: application/json");
    return 0;
}

/* ----------------------------------------------------------- outcome -- */

void push_apns_outcome (push_apns_t *self, const nd_http_request_t *request, nd_send_job_t *job)
{
    nd_send_result_t *result = &job->result;
    long status = request->status;
    json_t *answer;
    if (push_answer_delivered (request, job, &answer))
        return;
    const char *said = json_string_value (json_object_get (answer, "reason"));
    said = said ? said : "";
    bool gone = status == 410 || (status == 400 && (streq (said, "BadDeviceToken")
                                                 || streq (said, "DeviceTokenNotForTopic")));
    push_answer_refused (request, job, gone,
                         status == 0 || status == 403 || status == 429 || status >= 500);
    if (status == 403 && (streq (said, "ExpiredProviderToken")
                       || streq (said, "InvalidProviderToken"))) {
        pthread_mutex_lock (&self->lock);
        self->stale = true;
        pthread_mutex_unlock (&self->lock);
    }
    char text [80];
    push_said (said, strlen (said), text, sizeof text);
    if (status == 0)
        snprintf (result->reason, sizeof result->reason, "no answer from APNs: %.120s",
                  request->error);
    else
        snprintf (result->reason, sizeof result->reason, "%ld from APNs%s%s%s", status,
                  gone ? " (the app's token is gone)" : "", *text ? ": " : "", text);
    json_decref (answer);
}

/* ----------------------------------------------------------- self-test -- */

void push_apns_test (bool verbose)
{
    if (verbose)
        printf (" * push_apns: ");
    push_apns_t self = { .key = nd_p256_generate (), .key_id = "ABC123DEFG",
                         .team_id = "DEF123GHIJ", .topic = (char *) "com.shop.app",
                         .base = (char *) "https://api.push.apple.com" };
    pthread_mutex_init (&self.lock, NULL);
    //  The JWT: kept 50 minutes, renewed when APNs calls it expired, but
    //  not within 20 minutes of the last
    char first [PUSH_HEADER_MAX], again [PUSH_HEADER_MAX];
    int64_t now = 1800000000000LL;
    assert (s_authorization (&self, now, first, sizeof first) == 0);
    assert (strncmp (first, "authorization: bearer eyJhbGciOiJFUzI1NiIsImtpZCI6IkFCQzEyM0RFRkcifQ.",
                     69) == 0);
    assert (s_authorization (&self, now + 49 * 60000, again, sizeof again) == 0
            && streq (first, again));
    nd_send_job_t job = { NULL, "k", 1, { ND_SEND_RETRY, "", "not attempted", 0, NULL }, 0 };
    nd_http_request_t request = { .status = 403,
                                  .response = (char *) "{\"reason\":\"ExpiredProviderToken\"}" };
    push_apns_outcome (&self, &request, &job);
    assert (job.result.outcome == ND_SEND_RETRY && self.stale);
    assert (s_authorization (&self, now + 10 * 60000, again, sizeof again) == 0
            && streq (first, again));
    assert (s_authorization (&self, now + 21 * 60000, again, sizeof again) == 0
            && !streq (first, again) && !self.stale);
    assert (s_authorization (&self, now + 70 * 60000, first, sizeof first) == 0
            && streq (first, again));
    assert (s_authorization (&self, now + 71 * 60000, first, sizeof first) == 0
            && !streq (first, again));
    //  Tokens gone, and what is not
    request = (nd_http_request_t) { .status = 410, .response = (char *)
                                    "{\"reason\":\"Unregistered\",\"timestamp\":1800000000000}" };
    push_apns_outcome (&self, &request, &job);
    assert (job.result.outcome == ND_SEND_PERMANENT && streq (job.result.topic, "unreachable"));
    request.status = 400;
    request.response = (char *) "{\"reason\":\"BadDeviceToken\"}";
    push_apns_outcome (&self, &request, &job);
    assert (job.result.outcome == ND_SEND_PERMANENT && streq (job.result.topic, "unreachable"));
    request.response = (char *) "{\"reason\":\"BadCollapseId\"}";
    push_apns_outcome (&self, &request, &job);
    assert (job.result.outcome == ND_SEND_PERMANENT && streq (job.result.topic, "failed")
            && strstr (job.result.reason, "BadCollapseId"));
    request = (nd_http_request_t) { .status = 503 };
    push_apns_outcome (&self, &request, &job);
    assert (job.result.outcome == ND_SEND_RETRY);
    //  The request
    json_t *payload = json_pack ("{s:s, s:s, s:s, s:s, s:s}", "title", "Your cart", "body", "Tea",
                                 "image", "https://shop.example/tea.jpg", "tag", "abandoned-cart",
                                 "key", "k1");
    push_message_t *message = (push_message_t *) malloc (sizeof *message);
    assert (push_apns_prepare (&self, &job, "a1b2c3d4e5f60718293a4b5c6d7e8f90", payload, 3600,
                               "normal", &request, message) == 0);
    assert (streq (request.url, "https://api.push.apple.com/3/device/a1b2c3d4e5f60718293a4b5c6d7e8f90"));
    assert (streq (request.headers [1], "apns-topic: com.shop.app"));
    assert (streq (request.headers [2], "apns-push-type: alert"));
    assert (streq (request.headers [3], "apns-priority: 5"));
    assert (strncmp (request.headers [4], "apns-expiration: ", 17) == 0);
    assert (streq (request.headers [5], "apns-collapse-id: abandoned-cart"));
    json_t *body = json_loadb ((const char *) request.body, request.body_size, 0, NULL);
    char *text = json_dumps (body, JSON_COMPACT | JSON_SORT_KEYS);
    assert (streq (text, "{\"aps\":{\"alert\":{\"body\":\"Tea\",\"title\":\"Your cart\"},"
        "\"mutable-content\":1,\"thread-id\":\"abandoned-cart\"},\"image\":"
        "\"https://shop.example/tea.jpg\",\"key\":\"k1\",\"tag\":\"abandoned-cart\"}"));
    free (text);
    json_decref (body);
    free (message);
    json_decref (payload);
    assert (s_id_ok ("ABC123DEFG") && !s_id_ok ("ABC123DEF") && !s_id_ok ("ABC123DEF/"));
    assert (s_topic_ok ("com.shop.app.voip") && !s_topic_ok ("com/shop"));
    EVP_PKEY_free (self.key);
    pthread_mutex_destroy (&self.lock);
    if (verbose)
        printf ("OK\n");
}
