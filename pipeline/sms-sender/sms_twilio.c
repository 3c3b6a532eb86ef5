/*  sms_twilio - a Twilio-style SMS API (Programmable Messaging).

    Send:      POST {base}/2010-04-01/Accounts/{AccountSid}/Messages.json
               HTTP Basic AccountSid:AuthToken, form-encoded
               To, From (or MessagingServiceSid for "MG..."), Body,
               StatusCallback = <webhook-url>/sms/status?key=<key>
               201 {"sid": "SM...", "status": "queued", ...}
               4xx {"code": 21211, "message": "...", "status": 400}
    Errors that say the number is no good (21211 invalid To, 21217,
    21401, 21612 unreachable, 21614 not a mobile) are "unreachable";
    21610 (the person replied STOP to this sender) is "unsubscribed".
    Webhooks are form posts signed with X-Twilio-Signature: base64
    (HMAC-SHA1 (AuthToken, the full URL + every field's name and value,
    sorted by name)); an unsigned or wrongly signed one is refused.
      inbound  From, To, Body, MessageSid
      status   MessageSid, MessageStatus (queued, sent, delivered,
               undelivered, failed), ErrorCode, To                     */
#define _GNU_SOURCE
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <czmq.h>
#include "sms.h"

static int s_request (const sms_account_t *account, const sms_message_t *message,
                      sms_request_t *request, nd_http_request_t *http)
{
    snprintf (request->url, sizeof request->url, "%s/2010-04-01/Accounts/%s/Messages.json",
              account->base, account->account);
    snprintf (request->auth, sizeof request->auth, "%s:%s", account->account, account->secret);
    char *to = sms_form_encode (message->to);
    char *body = sms_form_encode (message->text);
    char *from = sms_form_encode (account->from);
    char *callback = NULL;
    if (account->status_url) {
        char *key = sms_form_encode (message->key);
        char *url = zsys_sprintf ("%s%s%skey=%s", account->status_url,
                                  strchr (account->status_url, '?') ? "" : "?",
                                  strchr (account->status_url, '?') ? "&" : "", key);
        callback = sms_form_encode (url);
        zstr_free (&url);
        free (key);
    }
    bool service = strncmp (account->from, "MG", 2) == 0;
    request->body = zsys_sprintf ("To=%s&%s=%s&Body=%s%s%s", to,
                                  service ? "MessagingServiceSid" : "From", from, body,
                                  callback ? "&StatusCallback=" : "", callback ? callback : "");
    free (to);
    free (body);
    free (from);
    free (callback);
    sms_request_post (request, http, "Content-Type: application/x-www-form-urlencoded");
    http->userpwd = request->auth;
    return 0;
}

static void s_answer (const nd_http_request_t *http, nd_send_result_t *result, char *id,
                      size_t id_size)
{
    json_t *doc = sms_answer_json (http, result);
    const char *sid = json_string_value (json_object_get (doc, "sid"));
    if (result->outcome == ND_SEND_DELIVERED && sid)
        snprintf (id, id_size, "%s", sid);
    json_int_t code = json_integer_value (json_object_get (doc, "code"));
    const char *message = json_string_value (json_object_get (doc, "message"));
    if (result->outcome == ND_SEND_PERMANENT && code) {
        const char *topic = code == 21211 || code == 21217 || code == 21401 || code == 21612
                         || code == 21614 ? "unreachable" : code == 21610 ? "unsubscribed" : "failed";
        snprintf (result->topic, sizeof result->topic, "%s", topic);
    }
    if (code && message)
        snprintf (result->reason, sizeof result->reason, "%ld, Twilio error %lld: %.180s",
                  http->status, (long long) code, message);
    json_decref (doc);
}

/* ------------------------------------------------------------ webhooks -- */

typedef struct {
    char name [64];
    char value [1600];
} s_field_t;

typedef struct {
    s_field_t *fields;
    size_t count;
    size_t bytes;
} s_fields_t;

static void s_collect (const char *name, const char *value, void *arg)
{
    s_fields_t *all = (s_fields_t *) arg;
    if (all->count == 64)
        return;
    s_field_t *field = &all->fields [all->count++];
    snprintf (field->name, sizeof field->name, "%s", name);
    snprintf (field->value, sizeof field->value, "%s", value);
    all->bytes += strlen (field->name) + strlen (field->value);
}

static int s_field_cmp (const void *a, const void *b)
{
    const s_field_t *x = (const s_field_t *) a, *y = (const s_field_t *) b;
    int rc = strcmp (x->name, y->name);
    return rc ? rc : strcmp (x->value, y->value);
}

//  Twilio's request signature over url and the posted fields.
static bool s_signed (const char *token, const char *url, const char *form, const char *signature)
{
    s_fields_t all = { (s_field_t *) calloc (64, sizeof (s_field_t)), 0, strlen (url) + 1 };
    assert (all.fields);
    sms_form_each (form, s_collect, &all);
    qsort (all.fields, all.count, sizeof (s_field_t), s_field_cmp);
    char *data = (char *) malloc (all.bytes), *o = data;
    assert (data);
    o = stpcpy (o, url);
    for (size_t i = 0; i < all.count; i++) {
        o = stpcpy (o, all.fields [i].name);
        o = stpcpy (o, all.fields [i].value);
    }
    free (all.fields);
    uint8_t mac [20];
    unsigned int mac_size = 0;
    HMAC (EVP_sha1 (), token, (int) strlen (token), (const uint8_t *) data, strlen (data), mac, &mac_size);
    free (data);
    char expected [64];
    EVP_EncodeBlock ((uint8_t *) expected, mac, (int) mac_size);
    return signature && strlen (signature) == strlen (expected)
        && CRYPTO_memcmp (signature, expected, strlen (expected)) == 0;
}

static int s_parse (const sms_account_t *account, const char *public_url, const sms_hook_t *hook,
                    sms_event_t *events, int max, char *reason, size_t size)
{
    char *form = strndup (hook->body, hook->size);
    char *url = zsys_sprintf ("%s%s", public_url ? public_url : "", hook->url);
    bool ok = public_url && s_signed (account->secret, url, form, hook->signature);
    zstr_free (&url);
    if (!ok) {
        snprintf (reason, size, public_url ? "bad or missing X-Twilio-Signature"
                                           : "set webhook-url to check Twilio's signatures");
        free (form);
        return -1;
    }
    sms_event_t *event = &events [0];
    memset (event, 0, sizeof *event);
    char status [32] = "", error [16] = "";
    int count = max > 0 ? 1 : 0;
    if (strstr (hook->url, "/sms/inbound") == hook->url)
        sms_form_inbound (form, event);
    else {
        event->kind = SMS_EVENT_RECEIPT;
        sms_form_value (form, "To", event->phone, sizeof event->phone);
        sms_form_value (form, "MessageSid", event->message_id, sizeof event->message_id);
        sms_form_value (form, "MessageStatus", status, sizeof status);
        sms_form_value (form, "ErrorCode", error, sizeof error);
        const char *query = strchr (hook->url, '?');
        if (query)
            sms_form_value (query + 1, "key", event->key, sizeof event->key);
        long code = atol (error);
        bool failed = strcmp (status, "failed") == 0 || strcmp (status, "undelivered") == 0;
        snprintf (event->outcome, sizeof event->outcome, "%s",
                  strcmp (status, "delivered") == 0 ? "delivered"
                  : !failed ? "" : code == 30005 || code == 30006 || code == 21211 || code == 21614
                  ? "unreachable" : code == 21610 ? "unsubscribed" : "failed");
        snprintf (event->reason, sizeof event->reason, "receipt: %s%s%s", status,
                  *error ? ", Twilio error " : "", error);
    }
    free (form);
    return count;
}

//  TwiML: an empty Response, or one that texts reply back.
static void s_reply (const char *reply, char *content_type, size_t type_size, char **body)
{
    snprintf (content_type, type_size, "text/xml");
    size_t length = reply ? strlen (reply) : 0;
    char *escaped = (char *) malloc (length * 6 + 1), *o = escaped;
    assert (escaped);
    for (size_t i = 0; i < length; i++) {
        const char *entity = reply [i] == '<' ? "&lt;" : reply [i] == '>' ? "&gt;"
                           : reply [i] == '&' ? "&amp;" : reply [i] == '"' ? "&quot;" : NULL;
        if (entity)
            o = stpcpy (o, entity);
        else
            *o++ = reply [i];
    }
    *o = 0;
    *body = reply ? zsys_sprintf ("<?xml version=\"1.0\" encoding=\"UTF-8\"?>"
                                  "<Response><Message>%s</Message></Response>", escaped)
                  : strdup ("<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response></Response>");
    free (escaped);
}

const sms_provider_t sms_twilio = {
    .name = "twilio",
    .default_base = "https://api.twilio.com",
    .request = s_request,
    .whatsapp = sms_whatsapp_twilio,
    .answer = s_answer,
    .parse = s_parse,
    .reply = s_reply,
};
