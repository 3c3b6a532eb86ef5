/*  push_fcm - app push through Firebase Cloud Messaging's HTTP v1 API.

        POST <fcm-base>/v1/projects/<project>/messages:send
        Authorization: Bearer <OAuth 2 access token>
        {"message": {"token": ..., "notification": {title, body, image},
                     "data": {url, key, journey, ... as strings},
                     "android": {ttl, priority, collapse_key, notification: {tag}},
                     "apns": {"headers": {apns-priority, apns-expiration}}}}

    The access token comes from the service account's key file (JSON with
    client_email, private_key, private_key_id, token_uri, project_id): a
    JWT signed RS256 (iss: client_email, scope: firebase.messaging, aud:
    token_uri, iat, exp an hour on), exchanged at token_uri under RFC
    7523's grant type (urn:ietf:params:oauth:grant-type:jwt-bearer). The
    token is kept until a minute before its expires_in runs out, or until
    FCM refuses it (401). The key never leaves this file's memory and is
    never logged; nor is a device token.

    Answers (FCM's error codes, the ErrorCode reference):
        200                     delivered
        404 UNREGISTERED        unreachable: the app was uninstalled, the
                                token expired
        400 INVALID_ARGUMENT    unreachable when it is the token FCM
                                rejects (no google.rpc.BadRequest, or one
                                naming message.token); otherwise failed, as
                                the message itself is wrong
        403 SENDER_ID_MISMATCH  unreachable: the token is another project's
        401                     retry with a fresh access token
        429, 5xx, none          retry, after Retry-After if given
        other                   failed, with FCM's words                */
#define _GNU_SOURCE
#include <assert.h>
#include <ctype.h>
#include <pthread.h>
#include <string.h>
#include <sys/stat.h>
#include <czmq.h>
#include "push.h"

#define s_SCOPE "https://www.googleapis.com/auth/firebase.messaging"
#define s_GRANT "urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer"
#define s_KEY_FILE_MAX 65536

struct _push_fcm_t {
    char *project;
    char *send_url;             //  <base>/v1/projects/<project>/messages:send
    char *token_uri;
    char *client_email;
    char *key_id;
    EVP_PKEY *key;
    nd_http_t *http;            //  borrowed: the service's
    pthread_mutex_t lock;       //  guards the access token
    char access [PUSH_HEADER_MAX - 32];
    int64_t access_expires;     //  wall ms; 0: none
};

void push_fcm_destroy (push_fcm_t **self_p)
{
    push_fcm_t *self = *self_p;
    if (self) {
        free (self->project);
        free (self->send_url);
        free (self->token_uri);
        free (self->client_email);
        free (self->key_id);
        EVP_PKEY_free (self->key);
        OPENSSL_cleanse (self->access, sizeof self->access);
        pthread_mutex_destroy (&self->lock);
        free (self);
        *self_p = NULL;
    }
}

/* ------------------------------------------------------------ config -- */

static bool s_url_ok (const char *url, bool allow_http)
{
    return url && (strncmp (url, "https://", 8) == 0
                || (allow_http && strncmp (url, "http://", 7) == 0));
}

static bool s_project_ok (const char *project)
{
    size_t length = project ? strlen (project) : 0;
    for (size_t i = 0; i < length; i++)
        if (!isalnum ((unsigned char) project [i]) && !strchr ("-_.:", project [i]))
            return false;
    return length > 0 && length <= 100;
}

//  The key file, whole: a service account's JSON. NULL with a reason.
static json_t *s_key_file (const char *path, char *reason, size_t size)
{
    FILE *file = fopen (path, "r");
    struct stat info;
    if (!file || fstat (fileno (file), &info)) {
        snprintf (reason, size, "cannot read %s", path);
        if (file)
            fclose (file);
        return NULL;
    }
    if (info.st_mode & 077)
        nd_log ("warning: %s is readable by others (chmod 600 it): it holds a private key", path);
    char *text = (char *) calloc (1, s_KEY_FILE_MAX + 1);
    assert (text);
    size_t length = fread (text, 1, s_KEY_FILE_MAX, file);
    fclose (file);
    json_t *account = json_loadb (text, length, 0, NULL);
    OPENSSL_cleanse (text, s_KEY_FILE_MAX);
    free (text);
    if (!json_is_object (account)) {
        snprintf (reason, size, "%s is not JSON (a service account key, as the Firebase "
                  "console downloads it)", path);
        json_decref (account);
        return NULL;
    }
    return account;
}

//  Reads the account from its key file into self; -1 with a reason.
static int s_account (push_fcm_t *self, const char *path, char *reason, size_t size)
{
    json_t *account = s_key_file (path, reason, size);
    if (!account)
        return -1;
    const char *email = json_string_value (json_object_get (account, "client_email"));
    const char *pem = json_string_value (json_object_get (account, "private_key"));
    const char *uri = json_string_value (json_object_get (account, "token_uri"));
    const char *key_id = json_string_value (json_object_get (account, "private_key_id"));
    const char *project = json_string_value (json_object_get (account, "project_id"));
    int rc = 0;
    if (!email || !pem || !uri) {
        snprintf (reason, size, "%s lacks client_email, private_key or token_uri", path);
        rc = -1;
    }
    else
    if (!(self->key = push_jwt_rsa_parse (pem))) {
        snprintf (reason, size, "the private_key in %s is not an RSA key in PEM", path);
        rc = -1;
    }
    else {
        self->client_email = strdup (email);
        self->key_id = key_id ? strdup (key_id) : NULL;
        if (!self->token_uri)
            self->token_uri = strdup (uri);
        if (!self->project && project)
            self->project = strdup (project);
    }
    //  The PEM's copy inside the JSON tree
    if (pem)
        OPENSSL_cleanse ((char *) pem, strlen (pem));
    json_decref (account);
    return rc;
}

int push_fcm_configure (nd_stage_t *stage, nd_http_t *http, bool allow_http, push_fcm_t **self_p)
{
    *self_p = NULL;
    const char *project = nd_stage_option (stage, "fcm-project", NULL);
    const char *path = nd_stage_option (stage, "fcm-key-file", NULL);
    const char *base = nd_stage_option (stage, "fcm-base", "https://fcm.googleapis.com");
    const char *token_uri = nd_stage_option (stage, "fcm-token-uri", NULL);
    if (!project && !path)
        return 0;
    if (!path)
        return nd_stage_config_error (stage, "fcm-project", "needs fcm-key-file, the service "
                                      "account's key (JSON) that FCM's tokens are bought with");
    if (!s_url_ok (base, allow_http))
        return nd_stage_config_error (stage, "fcm-base", "not an https URL");
    if (token_uri && !s_url_ok (token_uri, allow_http))
        return nd_stage_config_error (stage, "fcm-token-uri", "not an https URL");
    push_fcm_t *self = (push_fcm_t *) calloc (1, sizeof *self);
    assert (self);
    pthread_mutex_init (&self->lock, NULL);
    self->http = http;
    self->project = project ? strdup (project) : NULL;
    self->token_uri = token_uri ? strdup (token_uri) : NULL;
    char reason [300];
    int rc = s_account (self, path, reason, sizeof reason);
    if (rc)
        nd_stage_config_error (stage, "fcm-key-file", reason);
    else
    if (!s_url_ok (self->token_uri, allow_http))
        rc = nd_stage_config_error (stage, "fcm-key-file", "its token_uri is not an https URL");
    else
    if (!s_project_ok (self->project))
        rc = nd_stage_config_error (stage, "fcm-project", self->project
             ? "not a project id (letters, digits, -)" : "required: the key file names none");
    if (rc) {
        push_fcm_destroy (&self);
        return -1;
    }
    size_t length = strlen (base);
    while (length && base [length - 1] == '/')
        length--;
    self->send_url = zsys_sprintf ("%.*s/v1/projects/%s/messages:send", (int) length, base,
                                   self->project);
    nd_log ("FCM: project %s as %s", self->project, self->client_email);
    *self_p = self;
    return 0;
}

/* ------------------------------------------------------ access token -- */

//  Buys an access token at token_uri; with the lock held. -1 with a reason.
static int s_buy (push_fcm_t *self, int64_t now, char *reason, size_t size)
{
    json_t *header = json_pack ("{s:s, s:s}", "alg", "RS256", "typ", "JWT");
    if (self->key_id)
        json_object_set_new (header, "kid", json_string (self->key_id));
    json_t *claims = json_pack ("{s:s, s:s, s:s, s:I, s:I}", "iss", self->client_email,
                                "scope", s_SCOPE, "aud", self->token_uri,
                                "iat", (json_int_t) (now / 1000),
                                "exp", (json_int_t) (now / 1000 + 3600));
    char jwt [PUSH_JWT_MAX], form [PUSH_JWT_MAX + 128];
    int rc = push_jwt_sign (self->key, header, claims, jwt, sizeof jwt);
    json_decref (header);
    json_decref (claims);
    if (rc) {
        snprintf (reason, size, "cannot sign the service account's JWT");
        return -1;
    }
    snprintf (form, sizeof form, "grant_type=%s&assertion=%s", s_GRANT, jwt);
    nd_http_request_t request = { .method = "POST", .url = self->token_uri,
                                  .body = form, .body_size = strlen (form) };
    nd_http_header (&request, "Content-Type: application/x-www-form-urlencoded");
    nd_http_perform (self->http, &request, 1);
    json_t *answer = request.response ? json_loads (request.response, 0, NULL) : NULL;
    const char *token = json_string_value (json_object_get (answer, "access_token"));
    json_int_t expires_in = json_integer_value (json_object_get (answer, "expires_in"));
    rc = -1;
    if (request.status == 200 && token && strlen (token) < sizeof self->access
    &&  expires_in > 60) {
        snprintf (self->access, sizeof self->access, "%s", token);
        self->access_expires = now + (int64_t) expires_in * 1000;
        rc = 0;
    }
    else
    if (request.status == 0)
        snprintf (reason, size, "no access token: no answer from token_uri: %.100s", request.error);
    else {
        const char *error = json_string_value (json_object_get (answer, "error"));
        snprintf (reason, size, "no access token: %ld from token_uri%s%.80s", request.status,
                  error ? ": " : "", error ? error : "");
    }
    json_decref (answer);
    nd_http_request_reset (&request);
    return rc;
}

//  "Authorization: Bearer <token>" into header, buying one when the last is
//  within a minute of expiring. -1 with a reason.
static int s_authorization (push_fcm_t *self, int64_t now, char *header, size_t size,
                            char *reason, size_t reason_size)
{
    pthread_mutex_lock (&self->lock);
    int rc = 0;
    if (self->access_expires - now < 60000)
        rc = s_buy (self, now, reason, reason_size);
    if (rc == 0 && snprintf (header, size, "Authorization: Bearer %s", self->access) >= (int) size)
        rc = -1;
    pthread_mutex_unlock (&self->lock);
    return rc;
}

//  FCM refused the token it gave (revoked, clock skew): buy a new one next time.
static void s_forget_token (push_fcm_t *self)
{
    pthread_mutex_lock (&self->lock);
    self->access_expires = 0;
    pthread_mutex_unlock (&self->lock);
}

/* ----------------------------------------------------------- request -- */

static json_t *s_message (const char *token, const json_t *payload, int64_t ttl_s,
                          const char *urgency, int64_t now)
{
    json_t *notification = json_object ();
    json_t *data = json_object ();
    const char *key;
    json_t *value;
    json_object_foreach ((json_t *) payload, key, value) {
        if (!json_is_string (value))
            continue;
        if (streq (key, "title") || streq (key, "body") || streq (key, "image"))
            json_object_set (notification, key, value);
        else
            json_object_set (data, key, value);     //  FCM's data are strings
    }
    bool high = streq (urgency, "high");
    const char *tag = json_string_value (json_object_get (payload, "tag"));
    json_t *android = json_pack ("{s:s}", "priority", high ? "HIGH" : "NORMAL");
    json_object_set_new (android, "ttl", json_sprintf ("%llds", (long long) ttl_s));
    if (tag && *tag) {
        json_object_set_new (android, "collapse_key", json_string (tag));
        json_object_set_new (android, "notification", json_pack ("{s:s}", "tag", tag));
    }
    //  The same token may be an iPhone's: APNs' own headers, through FCM
    json_t *apns = json_pack ("{s:{s:s, s:o}}", "headers", "apns-priority", high ? "10" : "5",
                              "apns-expiration", json_sprintf ("%lld", ttl_s ? (long long)
                                                               (now / 1000 + ttl_s) : 0LL));
    return json_pack ("{s:{s:s, s:o, s:o, s:o, s:o}}", "message", "token", token,
                      "notification", notification, "data", data, "android", android,
                      "apns", apns);
}

int push_fcm_prepare (push_fcm_t *self, nd_send_job_t *job, const char *token,
                      const json_t *payload, int64_t ttl_s, const char *urgency,
                      nd_http_request_t *request, push_message_t *message)
{
    nd_send_result_t *result = &job->result;
    char reason [ND_SEND_REASON_MAX];
    //  Tokens and their JWTs are judged by Google's clock: wall time
    int64_t now = nd_wall_ms ();
    if (s_authorization (self, now, message->authorization, sizeof message->authorization,
                         reason, sizeof reason)) {
        *result = (nd_send_result_t) { ND_SEND_RETRY, "", "", 0, NULL };
        snprintf (result->reason, sizeof result->reason, "FCM: %.200s", reason);
        return -1;
    }
    json_t *message_json = s_message (token, payload, ttl_s, urgency, now);
    size_t size = json_dumpb (message_json, (char *) message->body, sizeof message->body,
                              JSON_COMPACT);
    json_decref (message_json);
    if (size == 0 || size > sizeof message->body) {
        *result = (nd_send_result_t) { ND_SEND_PERMANENT, "failed", "FCM: the message is too "
                                       "large", 0, NULL };
        return -1;
    }
    snprintf (message->url, sizeof message->url, "%s", self->send_url);
    *request = (nd_http_request_t) { .method = "POST", .url = message->url,
                                     .body = message->body, .body_size = size };
    nd_http_header (request, message->authorization);
    nd_http_header (request, "Content-Type: application/json; charset=UTF-8");
    return 0;
}

/* ----------------------------------------------------------- outcome -- */

//  Whether FCM's 400 is about the token: its FcmError alone, or a
//  BadRequest naming message.token (another field: our message is wrong).
static bool s_token_refused (const json_t *error)
{
    bool bad_request = false, token_field = false;
    size_t i, j;
    json_t *detail, *violation;
    json_array_foreach (json_object_get (error, "details"), i, detail) {
        const char *type = json_string_value (json_object_get (detail, "@type"));
        if (!type || !strstr (type, "google.rpc.BadRequest"))
            continue;
        bad_request = true;
        json_array_foreach (json_object_get (detail, "fieldViolations"), j, violation) {
            const char *field = json_string_value (json_object_get (violation, "field"));
            token_field |= field && streq (field, "message.token");
        }
    }
    return token_field || !bad_request;
}

//  The FcmError's errorCode, else the status ("UNREGISTERED", ...).
static const char *s_code (const json_t *error)
{
    size_t i;
    json_t *detail;
    json_array_foreach (json_object_get (error, "details"), i, detail) {
        const char *code = json_string_value (json_object_get (detail, "errorCode"));
        if (code)
            return code;
    }
    const char *status = json_string_value (json_object_get (error, "status"));
    return status ? status : "";
}

void push_fcm_outcome (push_fcm_t *self, const nd_http_request_t *request, nd_send_job_t *job)
{
    nd_send_result_t *result = &job->result;
    long status = request->status;
    json_t *answer;
    if (push_answer_delivered (request, job, &answer))
        return;
    json_t *error = json_object_get (answer, "error");
    const char *code = s_code (error);
    const char *message = json_string_value (json_object_get (error, "message"));
    bool gone = status == 404 || streq (code, "UNREGISTERED") || streq (code, "SENDER_ID_MISMATCH")
             || (status == 400 && streq (code, "INVALID_ARGUMENT") && s_token_refused (error));
    push_answer_refused (request, job, gone, status == 0 || status == 401 || status == 403
                         || status == 408 || status == 429 || status >= 500);
    if (result->outcome == ND_SEND_RETRY && status == 401)
        s_forget_token (self);
    char said [128];
    push_said (message, strlen (message ? message : ""), said, sizeof said);
    if (status == 0)
        snprintf (result->reason, sizeof result->reason, "no answer from FCM: %.120s",
                  request->error);
    else
        snprintf (result->reason, sizeof result->reason, "%ld %s from FCM%s%s%s", status, code,
                  gone ? " (the app's token is gone)" : "", *said ? ": " : "", said);
    json_decref (answer);
}

/* ----------------------------------------------------------- self-test -- */

void push_fcm_test (bool verbose)
{
    if (verbose)
        printf (" * push_fcm: ");
    push_fcm_t self = { 0 };
    pthread_mutex_init (&self.lock, NULL);
    self.access_expires = nd_wall_ms () + 3600000;
    nd_send_job_t job = { NULL, "k", 1, { ND_SEND_RETRY, "", "not attempted", 0, NULL }, 0 };
    nd_http_request_t request = { .status = 404, .response = (char *)
        "{\"error\":{\"code\":404,\"message\":\"Requested entity was not found.\","
        "\"status\":\"NOT_FOUND\",\"details\":[{\"@type\":\"type.googleapis.com/google.firebase"
        ".fcm.v1.FcmError\",\"errorCode\":\"UNREGISTERED\"}]}}" };
    push_fcm_outcome (&self, &request, &job);
    assert (job.result.outcome == ND_SEND_PERMANENT && streq (job.result.topic, "unreachable"));
    assert (strstr (job.result.reason, "UNREGISTERED"));
    //  A refused token, and a refused message: only the first is gone
    request.status = 400;
    request.response = (char *) "{\"error\":{\"code\":400,\"message\":\"The registration token "
        "is not a valid FCM registration token\",\"status\":\"INVALID_ARGUMENT\",\"details\":"
        "[{\"@type\":\"type.googleapis.com/google.firebase.fcm.v1.FcmError\",\"errorCode\":"
        "\"INVALID_ARGUMENT\"}]}}";
    push_fcm_outcome (&self, &request, &job);
    assert (job.result.outcome == ND_SEND_PERMANENT && streq (job.result.topic, "unreachable"));
    request.response = (char *) "{\"error\":{\"code\":400,\"message\":\"Invalid value at "
        "'message.data[0].value'\",\"status\":\"INVALID_ARGUMENT\",\"details\":[{\"@type\":"
        "\"type.googleapis.com/google.rpc.BadRequest\",\"fieldViolations\":[{\"field\":"
        "\"message.data[0].value\"}]}]}}";
    push_fcm_outcome (&self, &request, &job);
    assert (job.result.outcome == ND_SEND_PERMANENT && streq (job.result.topic, "failed"));
    //  Throttled: retried when FCM says; refused credentials: a new token
    request = (nd_http_request_t) { .status = 429, .retry_after_ms = 20000 };
    push_fcm_outcome (&self, &request, &job);
    assert (job.result.outcome == ND_SEND_RETRY && job.result.retry_after_ms == 20000);
    assert (self.access_expires);
    request.status = 401;
    push_fcm_outcome (&self, &request, &job);
    assert (job.result.outcome == ND_SEND_RETRY && self.access_expires == 0);
    request.status = 200;
    push_fcm_outcome (&self, &request, &job);
    assert (job.result.outcome == ND_SEND_DELIVERED);
    pthread_mutex_destroy (&self.lock);
    //  The message: notification, string data, Android's and APNs' delivery options
    json_t *payload = json_pack ("{s:s, s:s, s:s, s:s, s:s}", "title", "Your cart", "body", "Tea",
                                 "url", "https://shop.example/cart", "tag", "abandoned-cart",
                                 "key", "k1");
    json_t *message = s_message ("tok", payload, 3600, "high", 1800000000000LL);
    char *text = json_dumps (message, JSON_COMPACT | JSON_SORT_KEYS);
    assert (streq (text, "{\"message\":{\"android\":{\"collapse_key\":\"abandoned-cart\","
        "\"notification\":{\"tag\":\"abandoned-cart\"},\"priority\":\"HIGH\",\"ttl\":\"3600s\"},"
        "\"apns\":{\"headers\":{\"apns-expiration\":\"1800003600\",\"apns-priority\":\"10\"}},"
        "\"data\":{\"key\":\"k1\",\"tag\":\"abandoned-cart\",\"url\":\"https://shop.example/cart\"},"
        "\"notification\":{\"body\":\"Tea\",\"title\":\"Your cart\"},\"token\":\"tok\"}}"));
    free (text);
    json_decref (message);
    json_decref (payload);
    assert (s_project_ok ("shop-app-1") && !s_project_ok ("a/b") && !s_project_ok (""));
    if (verbose)
        printf ("OK\n");
}
