/*  sms_infobip - an Infobip-style SMS API (SMS API v2, "advanced").

    Send:      POST {base}/sms/2/text/advanced
               Authorization: App <API key>, JSON
               {"messages": [{"destinations": [{"to": "48600100200"}],
                              "from": "Shop", "text": "...",
                              "callbackData": "<key>",
                              "notifyUrl": "<webhook-url>/sms/status",
                              "notifyContentType": "application/json"}]}
               200 {"bulkId": ..., "messages": [{"to", "messageId",
                    "status": {"groupId": 1, "groupName": "PENDING", ...}}]}
               4xx {"requestError": {"serviceException": {"messageId",
                    "text"}}}
    A message the API takes at once but in status group 5 (REJECTED) is
    not sent: REJECTED_DESTINATION, REJECTED_PREFIX_MISSING and
    REJECTED_INVALID_DESTINATION mean a bad number ("unreachable"),
    REJECTED_NOT_ENOUGH_CREDITS is retried (someone tops up), the rest
    fail. Infobip's webhooks carry no signature: set webhook-token, and
    configure the URLs with ?token=<it>.
      inbound  {"results": [{"from", "to", "text", "messageId", ...}]}
      status   {"results": [{"messageId", "to", "callbackData",
                "status": {"groupName": "DELIVERED", "name"},
                "error": {"name", "permanent"}}]}                      */
#define _GNU_SOURCE
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <czmq.h>
#include "sms.h"

static int s_request (const sms_account_t *account, const sms_message_t *message,
                      sms_request_t *request, nd_http_request_t *http)
{
    snprintf (request->url, sizeof request->url, "%s/sms/2/text/advanced", account->base);
    snprintf (request->auth, sizeof request->auth, "Authorization: App %s", account->secret);
    json_t *one = json_pack ("{s:[{s:s}], s:s, s:s, s:s}",
        "destinations", "to", message->to + (message->to [0] == '+'),
        "from", account->from, "text", message->text, "callbackData", message->key);
    if (account->status_url) {
        json_object_set_new (one, "notifyUrl", json_string (account->status_url));
        json_object_set_new (one, "notifyContentType", json_string ("application/json"));
    }
    return sms_request_post_json (request, http, json_pack ("{s:[o]}", "messages", one));
}

static void s_answer (const nd_http_request_t *http, nd_send_result_t *result, char *id,
                      size_t id_size)
{
    json_t *doc = sms_answer_json (http, result);
    json_t *message = json_array_get (json_object_get (doc, "messages"), 0);
    if (!message && json_object_get (doc, "messageId"))
        message = doc;          //  WhatsApp's text endpoint: one message, no list
    json_t *status = json_object_get (message, "status");
    const char *name = json_string_value (json_object_get (status, "name"));
    json_t *error = json_object_get (json_object_get (doc, "requestError"), "serviceException");
    const char *text = json_string_value (json_object_get (error, "text"));
    if (result->outcome == ND_SEND_DELIVERED && json_integer_value (json_object_get (status, "groupId")) == 5) {
        bool bad_number = name && (strcmp (name, "REJECTED_DESTINATION") == 0
                                || strcmp (name, "REJECTED_PREFIX_MISSING") == 0
                                || strcmp (name, "REJECTED_INVALID_DESTINATION") == 0);
        bool credits = name && strcmp (name, "REJECTED_NOT_ENOUGH_CREDITS") == 0;
        result->outcome = credits ? ND_SEND_RETRY : ND_SEND_PERMANENT;
        snprintf (result->topic, sizeof result->topic, "%s", bad_number ? "unreachable" : "failed");
        snprintf (result->reason, sizeof result->reason, "rejected: %s",
                  name ? name : "no status name");
    }
    else
    if (result->outcome == ND_SEND_DELIVERED)
        snprintf (id, id_size, "%s", json_string_value (json_object_get (message, "messageId"))
                                     ? json_string_value (json_object_get (message, "messageId")) : "");
    else
    if (text)
        snprintf (result->reason, sizeof result->reason, "%ld, Infobip: %.200s", http->status, text);
    json_decref (doc);
}

/* ------------------------------------------------------------ webhooks -- */

static void s_phone (const char *digits, char *out, size_t size)
{
    snprintf (out, size, "%s%s", digits && digits [0] != '+' ? "+" : "", digits ? digits : "");
}

static void s_receipt (json_t *result, sms_event_t *event)
{
    event->kind = SMS_EVENT_RECEIPT;
    s_phone (json_string_value (json_object_get (result, "to")), event->phone, sizeof event->phone);
    const char *id = json_string_value (json_object_get (result, "messageId"));
    const char *key = json_string_value (json_object_get (result, "callbackData"));
    snprintf (event->message_id, sizeof event->message_id, "%s", id ? id : "");
    snprintf (event->key, sizeof event->key, "%s", key ? key : "");
    json_t *status = json_object_get (result, "status");
    json_t *error = json_object_get (result, "error");
    const char *group = json_string_value (json_object_get (status, "groupName"));
    const char *name = json_string_value (json_object_get (status, "name"));
    const char *error_name = json_string_value (json_object_get (error, "name"));
    group = group ? group : "";
    bool failed = strcmp (group, "UNDELIVERABLE") == 0 || strcmp (group, "EXPIRED") == 0
               || strcmp (group, "REJECTED") == 0;
    bool bad_number = (error_name && strcmp (error_name, "EC_UNKNOWN_SUBSCRIBER") == 0)
                   || (name && (strcmp (name, "REJECTED_DESTINATION") == 0
                             || strcmp (name, "REJECTED_PREFIX_MISSING") == 0));
    snprintf (event->outcome, sizeof event->outcome, "%s",
              strcmp (group, "DELIVERED") == 0 ? "delivered"
              : !failed ? "" : bad_number ? "unreachable" : "failed");
    snprintf (event->reason, sizeof event->reason, "receipt: %s%s%s", name ? name : group,
              error_name && strcmp (error_name, "NO_ERROR") ? ", " : "",
              error_name && strcmp (error_name, "NO_ERROR") ? error_name : "");
}

static int s_parse (const sms_account_t *account, const char *public_url, const sms_hook_t *hook,
                    sms_event_t *events, int max, char *reason, size_t size)
{
    (void) account;
    (void) public_url;
    json_t *doc = json_loadb (hook->body, hook->size, 0, NULL);
    json_t *results = json_object_get (doc, "results");
    if (!json_is_array (results)) {
        snprintf (reason, size, "expected JSON {\"results\": [...]}");
        json_decref (doc);
        return -1;
    }
    bool inbound = strstr (hook->url, "/sms/inbound") == hook->url;
    int count = 0;
    size_t i;
    json_t *result;
    json_array_foreach (results, i, result) {
        if (count == max)
            break;
        sms_event_t *event = &events [count++];
        memset (event, 0, sizeof *event);
        if (inbound) {
            event->kind = SMS_EVENT_INBOUND;
            s_phone (json_string_value (json_object_get (result, "from")), event->phone,
                     sizeof event->phone);
            const char *text = json_string_value (json_object_get (result, "text"));
            if (!text)          //  WhatsApp: {"message": {"type": "TEXT", "text"}}
                text = json_string_value (json_object_get (json_object_get (result, "message"), "text"));
            const char *id = json_string_value (json_object_get (result, "messageId"));
            event->text = strdup (text ? text : "");
            snprintf (event->message_id, sizeof event->message_id, "%s", id ? id : "");
        }
        else
            s_receipt (result, event);
    }
    json_decref (doc);
    return count;
}

static void s_reply (const char *reply, char *content_type, size_t type_size, char **body)
{
    (void) reply;               //  Infobip takes no reply in the answer
    snprintf (content_type, type_size, "application/json");
    *body = strdup ("{}");
}

const sms_provider_t sms_infobip = {
    .name = "infobip",
    .default_base = "https://api.infobip.com",
    .request = s_request,
    .whatsapp = sms_whatsapp_infobip,
    .answer = s_answer,
    .parse = s_parse,
    .reply = s_reply,
};
