/*  sms_provider - what the SMS APIs have in common.

    Each API (sms_twilio.c, sms_infobip.c) fills in an sms_provider_t
    (so does the local spool, sms_spool.c, with send instead of HTTP):
    how to ask it to send one message, how to read its answer, how to
    read its webhooks. What they share lives here: form encoding, and
    what an HTTP status means when the body says nothing more precise:

        2xx             delivered to the provider
        none, 408, 429, 5xx
                        retry (after Retry-After if given)
        401, 403        retry: the credentials were refused; an operator
                        fixes them and nothing is lost meanwhile
        other 4xx       failed, with the provider's words                */
#define _GNU_SOURCE
#include <assert.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "sms.h"

const sms_provider_t *sms_provider_find (const char *name)
{
    const sms_provider_t *all [] = { &sms_twilio, &sms_infobip, &sms_spool, NULL };
    for (size_t i = 0; name && all [i]; i++)
        if (strcmp (all [i]->name, name) == 0)
            return all [i];
    return NULL;
}

void sms_request_clear (sms_request_t *request)
{
    free (request->body);
    request->body = NULL;
}

/* ---------------------------------------------------------------- form -- */

char *sms_form_encode (const char *text)
{
    static const char hex [] = "0123456789ABCDEF";
    char *out = (char *) malloc (strlen (text) * 3 + 1), *o = out;
    assert (out);
    for (const unsigned char *p = (const unsigned char *) text; *p; p++)
        if (isalnum (*p) || strchr ("-._~", *p))
            *o++ = (char) *p;
        else {
            *o++ = '%';
            *o++ = hex [*p >> 4];
            *o++ = hex [*p & 15];
        }
    *o = 0;
    return out;
}

static int s_hex (char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
         : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

//  Decodes length bytes of form text ("+" is a space) into out.
static void s_decode (const char *text, size_t length, char *out, size_t size)
{
    size_t used = 0;
    for (size_t i = 0; i < length && used + 1 < size; i++) {
        char c = text [i];
        if (c == '+')
            c = ' ';
        else
        if (c == '%' && i + 2 < length && s_hex (text [i + 1]) >= 0 && s_hex (text [i + 2]) >= 0) {
            c = (char) (s_hex (text [i + 1]) * 16 + s_hex (text [i + 2]));
            i += 2;
        }
        out [used++] = c;
    }
    out [used] = 0;
}

void sms_form_each (const char *form, sms_form_fn *fn, void *arg)
{
    char name [128], value [1600];
    for (const char *p = form; p && *p; ) {
        size_t length = strcspn (p, "&");
        const char *equals = memchr (p, '=', length);
        size_t name_length = equals ? (size_t) (equals - p) : length;
        s_decode (p, name_length, name, sizeof name);
        s_decode (p + name_length + (equals != NULL), length - name_length - (equals != NULL),
                  value, sizeof value);
        if (*name)
            fn (name, value, arg);
        p += length + (p [length] == '&');
    }
}

typedef struct {
    const char *name;
    char *out;
    size_t size;
    bool found;
} s_lookup_t;

static void s_lookup (const char *name, const char *value, void *arg)
{
    s_lookup_t *lookup = (s_lookup_t *) arg;
    if (!lookup->found && strcmp (name, lookup->name) == 0) {
        snprintf (lookup->out, lookup->size, "%s", value);
        lookup->found = true;
    }
}

int sms_form_value (const char *form, const char *name, char *out, size_t size)
{
    s_lookup_t lookup = { name, out, size, false };
    sms_form_each (form, s_lookup, &lookup);
    return lookup.found ? 0 : -1;
}

void sms_form_inbound (const char *form, sms_event_t *event)
{
    char text [1600] = "", from [SMS_PHONE_MAX + 10] = "";
    event->kind = SMS_EVENT_INBOUND;
    sms_form_value (form, "From", from, sizeof from);
    //  WhatsApp's numbers come as "whatsapp:+48..."
    const char *phone = from + (strncmp (from, "whatsapp:", 9) == 0 ? 9 : 0);
    memcpy (event->phone, phone, strnlen (phone, SMS_PHONE_MAX) + 1);
    event->phone [SMS_PHONE_MAX] = 0;
    sms_form_value (form, "Body", text, sizeof text);
    sms_form_value (form, "MessageSid", event->message_id, sizeof event->message_id);
    event->text = strdup (text);
}

/* ------------------------------------------------------------ requests -- */

void sms_request_post (sms_request_t *request, nd_http_request_t *http, const char *content_type)
{
    *http = (nd_http_request_t) { .method = "POST", .url = request->url,
                                  .body = request->body, .body_size = strlen (request->body) };
    nd_http_header (http, content_type);
    nd_http_header (http, "Accept: application/json");
}

int sms_request_post_json (sms_request_t *request, nd_http_request_t *http, json_t *doc)
{
    request->body = json_dumps (doc, JSON_COMPACT);
    json_decref (doc);
    if (!request->body)
        return -1;
    sms_request_post (request, http, "Content-Type: application/json");
    nd_http_header (http, request->auth);
    return 0;
}

/* ------------------------------------------------------------- answers -- */

json_t *sms_answer_json (const nd_http_request_t *http, nd_send_result_t *result)
{
    sms_result_http (http, result);
    return http->response ? json_loadb (http->response, http->response_size, 0, NULL) : NULL;
}

void sms_result_http (const nd_http_request_t *http, nd_send_result_t *result)
{
    long status = http->status;
    char said [120] = "";
    for (size_t i = 0, used = 0; http->response && i < http->response_size && used + 1 < sizeof said
                                 && used < 100; i++) {
        unsigned char c = (unsigned char) http->response [i];
        said [used++] = c >= 32 && c < 127 ? (char) c : ' ';
        said [used] = 0;
    }
    result->retry_after_ms = 0;
    if (status >= 200 && status < 300)
        result->outcome = ND_SEND_DELIVERED;
    else
    if (status == 0 || status == 401 || status == 403 || status == 408 || status == 429
    ||  status >= 500) {
        result->outcome = ND_SEND_RETRY;
        result->retry_after_ms = http->retry_after_ms;
    }
    else {
        result->outcome = ND_SEND_PERMANENT;
        snprintf (result->topic, sizeof result->topic, "failed");
    }
    if (status == 0)
        snprintf (result->reason, sizeof result->reason, "no answer: %s", http->error);
    else
        snprintf (result->reason, sizeof result->reason, "%ld%s%s%s", status,
                  status == 401 || status == 403 ? " (credentials refused: check the secret)" : "",
                  *said ? ": " : "", said);
}

/* ----------------------------------------------------------- self-test -- */

static void s_answer_is (const sms_provider_t *provider, long status, const char *body,
                         nd_send_outcome_t outcome, const char *topic, const char *id)
{
    nd_http_request_t http = { .status = status, .response = (char *) body,
                               .response_size = body ? strlen (body) : 0 };
    nd_send_result_t result = { ND_SEND_RETRY, "", "not attempted", 0, NULL };
    char got [80] = "";
    provider->answer (&http, &result, got, sizeof got);
    if (result.outcome != outcome || (topic && strcmp (result.topic, topic))
    ||  (id && strcmp (got, id)))
        fprintf (stderr, "%s %ld: outcome %d topic %s id %s reason %s\n", provider->name, status,
                 result.outcome, result.topic, got, result.reason);
    assert (result.outcome == outcome && (!topic || strcmp (result.topic, topic) == 0)
            && (!id || strcmp (got, id) == 0));
}

void sms_providers_test (bool verbose)
{
    if (verbose)
        printf (" * sms_provider: ");
    char *encoded = sms_form_encode ("a b&c=d/é");
    assert (strcmp (encoded, "a%20b%26c%3Dd%2F%C3%A9") == 0);
    free (encoded);
    char value [64];
    assert (sms_form_value ("To=%2B48600&Body=Hi+there%21", "Body", value, sizeof value) == 0
            && strcmp (value, "Hi there!") == 0);
    assert (sms_form_value ("To=%2B48600&Body=x", "From", value, sizeof value) == -1);
    assert (sms_provider_find ("twilio") == &sms_twilio && !sms_provider_find ("smtp"));

    sms_account_t account = { "https://api.example", "AC1", "token", "+15550001",
                              "https://hooks.example/sms/status", false };
    sms_message_t message = { "+48600100200", "Zażółć & go", "cart/e-1/r-1/sms", NULL, 0, NULL };
    sms_request_t request = { 0 };
    nd_http_request_t http;
    assert (sms_twilio.request (&account, &message, &request, &http) == 0);
    assert (strcmp (http.url, "https://api.example/2010-04-01/Accounts/AC1/Messages.json") == 0);
    assert (strcmp (http.userpwd, "AC1:token") == 0);
    assert (strcmp (request.body, "To=%2B48600100200&From=%2B15550001&Body=Za%C5%BC%C3%B3%C5%82%C4%87"
                    "%20%26%20go&StatusCallback=https%3A%2F%2Fhooks.example%2Fsms%2Fstatus%3Fkey%3D"
                    "cart%252Fe-1%252Fr-1%252Fsms") == 0);
    sms_request_clear (&request);
    account.from = "MG0123";
    assert (sms_twilio.request (&account, &message, &request, &http) == 0
            && strstr (request.body, "&MessagingServiceSid=MG0123&"));
    sms_request_clear (&request);
    s_answer_is (&sms_twilio, 201, "{\"sid\":\"SM1\",\"status\":\"queued\"}", ND_SEND_DELIVERED, NULL, "SM1");
    s_answer_is (&sms_twilio, 400, "{\"code\":21211,\"message\":\"invalid To\"}",
                 ND_SEND_PERMANENT, "unreachable", NULL);
    s_answer_is (&sms_twilio, 400, "{\"code\":21610,\"message\":\"unsubscribed\"}",
                 ND_SEND_PERMANENT, "unsubscribed", NULL);
    s_answer_is (&sms_twilio, 400, "{\"code\":21606,\"message\":\"bad From\"}",
                 ND_SEND_PERMANENT, "failed", NULL);
    s_answer_is (&sms_twilio, 429, "{\"code\":20429}", ND_SEND_RETRY, NULL, NULL);
    s_answer_is (&sms_twilio, 401, NULL, ND_SEND_RETRY, NULL, NULL);
    s_answer_is (&sms_twilio, 503, "<html>", ND_SEND_RETRY, NULL, NULL);
    s_answer_is (&sms_twilio, 0, NULL, ND_SEND_RETRY, NULL, NULL);

    account.from = "Shop";
    assert (sms_infobip.request (&account, &message, &request, &http) == 0);
    assert (strcmp (http.url, "https://api.example/sms/2/text/advanced") == 0);
    assert (strcmp (http.headers [0], "Content-Type: application/json") == 0);
    assert (strcmp (http.headers [2], "Authorization: App token") == 0);
    json_t *doc = json_loads (request.body, 0, NULL);
    json_t *one = json_array_get (json_object_get (doc, "messages"), 0);
    assert (strcmp (json_string_value (json_object_get (json_array_get (json_object_get (
                one, "destinations"), 0), "to")), "48600100200") == 0);
    assert (strcmp (json_string_value (json_object_get (one, "text")), "Zażółć & go") == 0);
    assert (strcmp (json_string_value (json_object_get (one, "callbackData")), message.key) == 0);
    assert (strcmp (json_string_value (json_object_get (one, "notifyUrl")), account.status_url) == 0);
    json_decref (doc);
    sms_request_clear (&request);
    s_answer_is (&sms_infobip, 200, "{\"messages\":[{\"messageId\":\"m1\",\"status\":{\"groupId\":1,"
                 "\"name\":\"PENDING_ACCEPTED\"}}]}", ND_SEND_DELIVERED, NULL, "m1");
    s_answer_is (&sms_infobip, 200, "{\"messages\":[{\"messageId\":\"m1\",\"status\":{\"groupId\":5,"
                 "\"name\":\"REJECTED_DESTINATION\"}}]}", ND_SEND_PERMANENT, "unreachable", NULL);
    s_answer_is (&sms_infobip, 200, "{\"messages\":[{\"status\":{\"groupId\":5,"
                 "\"name\":\"REJECTED_NOT_ENOUGH_CREDITS\"}}]}", ND_SEND_RETRY, NULL, NULL);
    s_answer_is (&sms_infobip, 400, "{\"requestError\":{\"serviceException\":{\"text\":\"bad\"}}}",
                 ND_SEND_PERMANENT, "failed", NULL);

    //  Webhooks: Infobip's receipts; an unsigned Twilio request is refused
    const char *receipts = "{\"results\":[{\"messageId\":\"m1\",\"to\":\"48600100200\","
        "\"callbackData\":\"k1\",\"status\":{\"groupName\":\"UNDELIVERABLE\",\"name\":"
        "\"UNDELIVERABLE_NOT_DELIVERED\"},\"error\":{\"name\":\"EC_UNKNOWN_SUBSCRIBER\"}},"
        "{\"messageId\":\"m2\",\"to\":\"48600100201\",\"status\":{\"groupName\":\"DELIVERED\"}}]}";
    sms_hook_t hook = { "/sms/status", "application/json", receipts, strlen (receipts), NULL };
    sms_event_t events [4];
    char reason [128];
    assert (sms_infobip.parse (&account, NULL, &hook, events, 4, reason, sizeof reason) == 2);
    assert (events [0].kind == SMS_EVENT_RECEIPT && strcmp (events [0].key, "k1") == 0
            && strcmp (events [0].outcome, "unreachable") == 0
            && strcmp (events [0].phone, "+48600100200") == 0);
    assert (strcmp (events [1].outcome, "delivered") == 0 && strcmp (events [1].message_id, "m2") == 0);
    const char *inbound = "From=%2B48600100200&Body=STOP";
    hook = (sms_hook_t) { "/sms/inbound", "application/x-www-form-urlencoded", inbound,
                          strlen (inbound), NULL };
    assert (sms_twilio.parse (&account, "https://hooks.example", &hook, events, 4, reason,
                              sizeof reason) == -1 && strstr (reason, "Signature"));
    //  Twilio's documented example signature
    const char *form = "CallSid=CA1234567890ABCDE&Caller=%2B12349013030&Digits=1234"
                       "&From=%2B12349013030&To=%2B18005551212";
    account.secret = "12345";
    hook = (sms_hook_t) { "/myapp.php?foo=1&bar=2", "application/x-www-form-urlencoded", form,
                          strlen (form), "0/KCTR6DLpKmkAf8muzZqo1nDgQ=" };
    assert (sms_twilio.parse (&account, "https://mycompany.com", &hook, events, 4, reason,
                              sizeof reason) == 1);
    hook.signature = "1/KCTR6DLpKmkAf8muzZqo1nDgQ=";
    assert (sms_twilio.parse (&account, "https://mycompany.com", &hook, events, 4, reason,
                              sizeof reason) == -1);
    char type [32], *body = NULL;
    sms_twilio.reply ("Help: <shop> & us", type, sizeof type, &body);
    assert (strcmp (type, "text/xml") == 0 && strstr (body, "<Message>Help: &lt;shop&gt; &amp; us</Message>"));
    free (body);
    if (verbose)
        printf ("OK\n");
}
