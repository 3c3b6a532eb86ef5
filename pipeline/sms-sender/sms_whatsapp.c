/*  sms_whatsapp - WhatsApp through the SMS providers that offer it.

    An sms-sender section with "channel = whatsapp" (topics send.whatsapp)
    sends through the same outbox, webhooks, opt-outs and receipts as for
    SMS; what differs is here: the message and the requests.

    WhatsApp lets a business write freely only within 24 hours of the
    person's last message to it (a "session"); a first contact, or one
    after that, must be a template the provider had approved. So every
    step has both, under nudge-templates(5)'s layout:

        <step>/<locale>/whatsapp.text.mustache       the session message
        <step>/<locale>/whatsapp.template.mustache   the approved template:
                                                     Twilio's ContentSid
                                                     ("HX..."), Infobip's
                                                     template name
        <step>/<locale>/whatsapp.variables.mustache  its variables, one a
                                                     line (optional)

    and the sender's check before each try (sms_sender.c) marks the order
    "whatsapp_session" when the person wrote within 24 h (the inbound
    webhook's time, kept by number: sms_whatsapp_seen).

    Twilio (Programmable Messaging, as for SMS):
        POST {base}/2010-04-01/Accounts/{AccountSid}/Messages.json
        To=whatsapp:+48600100200, From=whatsapp:<from> (or
        MessagingServiceSid), and ContentSid + ContentVariables (a JSON
        object {"1": "...", "2": "..."}) for a template, Body for a
        session message; StatusCallback as for SMS.
    Infobip (WhatsApp API):
        POST {base}/whatsapp/1/message/template
          {"messages": [{"from", "to", "messageId", "callbackData",
            "notifyUrl", "content": {"templateName", "language",
            "templateData": {"body": {"placeholders": [...]}}}}]}
        POST {base}/whatsapp/1/message/text
          {"from", "to", "messageId", "callbackData", "notifyUrl",
           "content": {"text"}}
        numbers without "+"; answers {"messages": [{"messageId",
        "status"}]} and {"messageId", "status"}.
    Webhooks are those of SMS: Twilio's signed forms (From
    "whatsapp:+48...", which sms_form_inbound reads as the number),
    Infobip's {"results": [...]} (inbound "message": {"text"}).         */
#define _GNU_SOURCE
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <czmq.h>
#include "sms.h"

#define SESSION_MS (24 * 3600 * 1000LL)
#define VARIABLES_MAX 100           //  Twilio takes up to 100 pairs

void sms_whatsapp_clear (sms_whatsapp_t *self)
{
    free (self->text);
    free (self->name);
    json_decref (self->variables);
    memset (self, 0, sizeof *self);
}

//  The variables part: one variable a line, the last newline not one.
static json_t *s_variables (const char *text)
{
    json_t *list = json_array ();
    for (const char *p = text; p && *p && json_array_size (list) < VARIABLES_MAX; ) {
        size_t length = strcspn (p, "\n");
        json_array_append_new (list, json_stringn (p, length));
        p += length + (p [length] == '\n');
    }
    return list;
}

int sms_whatsapp_render (nd_templates_t *held, const json_t *order, sms_whatsapp_t *self,
                         char *reason, size_t size)
{
    memset (self, 0, sizeof *self);
    self->session = json_is_true (json_object_get (order, "whatsapp_session"));
    const char *id = json_string_value (json_object_get (order, "template"));
    const char *wanted = json_string_value (json_object_get (order, "locale"));
    const json_t *data = json_object_get (order, "data");
    static const char *const session [] = { "text", NULL };
    static const char *const approved [] = { "template", NULL };
    if (nd_templates_locale (held, id, wanted, self->session ? session : approved, self->locale,
                             sizeof self->locale)) {
        snprintf (reason, size, "no whatsapp.%s template \"%.120s\"",
                  self->session ? "text" : "template", id ? id : "");
        return -1;
    }
    if (self->session) {
        self->text = nd_templates_render (held, id, self->locale, "text", data, reason, size);
        if (self->text && !*self->text)
            snprintf (reason, size, "the rendered text is empty");
        return self->text && *self->text ? 0 : -1;
    }
    self->name = nd_templates_render (held, id, self->locale, "template", data, reason, size);
    if (!self->name)
        return -1;
    //  A name is one token: what an editor's stray newline or space adds goes
    self->name [strcspn (self->name, " \t\r\n")] = 0;
    if (!*self->name) {
        snprintf (reason, size, "whatsapp.template of \"%.120s\" renders empty", id);
        return -1;
    }
    char *variables = nd_templates_render (held, id, self->locale, "variables", data, reason, size);
    if (!variables && *reason)
        return -1;
    self->variables = s_variables (variables);
    free (variables);
    return 0;
}

/* -------------------------------------------------------------- seen -- */

int sms_whatsapp_seen (MDB_txn *txn, MDB_dbi dbi, const char *phone, int64_t now)
{
    nd_key_t key;
    nd_key_init (&key);
    nd_key_str (&key, phone);
    return nd_db_put_u64 (txn, dbi, &key, (uint64_t) now);
}

int sms_whatsapp_session (MDB_txn *txn, MDB_dbi dbi, const char *phone, int64_t now)
{
    nd_key_t key;
    nd_key_init (&key);
    nd_key_str (&key, phone);
    uint64_t last;
    int rc = nd_db_get_u64 (txn, dbi, &key, &last);
    if (rc < 0)
        return -1;
    return rc == 0 && now >= (int64_t) last && now - (int64_t) last < SESSION_MS ? 1 : 0;
}

/* ------------------------------------------------------------ Twilio -- */

int sms_whatsapp_twilio (const sms_account_t *account, const sms_message_t *message,
                             sms_request_t *request, nd_http_request_t *http)
{
    const sms_whatsapp_t *wa = message->whatsapp;
    snprintf (request->url, sizeof request->url, "%s/2010-04-01/Accounts/%s/Messages.json",
              account->base, account->account);
    snprintf (request->auth, sizeof request->auth, "%s:%s", account->account, account->secret);
    bool service = strncmp (account->from, "MG", 2) == 0;
    char *to = zsys_sprintf ("whatsapp:%s", message->to);
    char *from = service ? strdup (account->from)
               : zsys_sprintf ("%s%s", strncmp (account->from, "whatsapp:", 9) ? "whatsapp:" : "",
                               account->from);
    char *content;
    if (wa->session) {
        char *body = sms_form_encode (wa->text);
        content = zsys_sprintf ("Body=%s", body);
        free (body);
    }
    else {
        json_t *variables = json_object ();
        size_t i;
        json_t *value;
        json_array_foreach (wa->variables, i, value) {
            char number [24];
            snprintf (number, sizeof number, "%zu", i + 1);
            json_object_set (variables, number, value);
        }
        char *json = json_dumps (variables, JSON_COMPACT | JSON_SORT_KEYS);
        json_decref (variables);
        char *sid = sms_form_encode (wa->name), *vars = sms_form_encode (json ? json : "{}");
        content = zsys_sprintf ("ContentSid=%s%s%s", sid, json_array_size (wa->variables)
                                ? "&ContentVariables=" : "", json_array_size (wa->variables) ? vars : "");
        free (json);
        free (sid);
        free (vars);
    }
    char *callback = NULL;
    if (account->status_url) {
        char *key = sms_form_encode (message->key);
        char *url = zsys_sprintf ("%s%skey=%s", account->status_url,
                                  strchr (account->status_url, '?') ? "&" : "?", key);
        callback = sms_form_encode (url);
        zstr_free (&url);
        free (key);
    }
    char *to_form = sms_form_encode (to), *from_form = sms_form_encode (from);
    request->body = zsys_sprintf ("To=%s&%s=%s&%s%s%s", to_form,
                                  service ? "MessagingServiceSid" : "From", from_form, content,
                                  callback ? "&StatusCallback=" : "", callback ? callback : "");
    free (to_form);
    free (from_form);
    free (to);
    free (from);
    free (content);
    free (callback);
    sms_request_post (request, http, "Content-Type: application/x-www-form-urlencoded");
    http->userpwd = request->auth;
    return 0;
}

/* ----------------------------------------------------------- Infobip -- */

int sms_whatsapp_infobip (const sms_account_t *account, const sms_message_t *message,
                              sms_request_t *request, nd_http_request_t *http)
{
    const sms_whatsapp_t *wa = message->whatsapp;
    snprintf (request->url, sizeof request->url, "%s/whatsapp/1/message/%s", account->base,
              wa->session ? "text" : "template");
    snprintf (request->auth, sizeof request->auth, "Authorization: App %s", account->secret);
    const char *from = account->from + (account->from [0] == '+');
    json_t *one = json_pack ("{s:s, s:s, s:s, s:s}", "from", from,
                             "to", message->to + (message->to [0] == '+'),
                             "messageId", message->key, "callbackData", message->key);
    if (account->status_url)
        json_object_set_new (one, "notifyUrl", json_string (account->status_url));
    if (wa->session)
        json_object_set_new (one, "content", json_pack ("{s:s}", "text", wa->text));
    else
        json_object_set_new (one, "content", json_pack ("{s:s, s:s, s:{s:{s:O}}}",
            "templateName", wa->name, "language", wa->locale,
            "templateData", "body", "placeholders", wa->variables));
    return sms_request_post_json (request, http, wa->session ? one
                                  : json_pack ("{s:[o]}", "messages", one));
}


/* ----------------------------------------------------------- self-test -- */

void sms_whatsapp_test (bool verbose)
{
    if (verbose)
        printf (" * sms_whatsapp: ");
    json_t *variables = s_variables ("Ada\nTrail shoe\n");
    assert (json_array_size (variables) == 2
            && strcmp (json_string_value (json_array_get (variables, 1)), "Trail shoe") == 0);
    sms_whatsapp_t wa = { false, NULL, strdup ("HX0123"), variables, "pl" };
    sms_account_t account = { "https://api.example", "AC1", "token", "+15550001",
                              "https://hooks.example/sms/status", false };
    sms_message_t message = { "+48600100200", "", "cart/e-1/r-1/whatsapp", NULL, 0, &wa };
    sms_request_t request = { 0 };
    nd_http_request_t http;
    //  Twilio: a template by ContentSid with its variables as a JSON object
    assert (sms_whatsapp_twilio (&account, &message, &request, &http) == 0);
    assert (strcmp (http.url, "https://api.example/2010-04-01/Accounts/AC1/Messages.json") == 0);
    char value [256];
    assert (sms_form_value (request.body, "To", value, sizeof value) == 0
            && strcmp (value, "whatsapp:+48600100200") == 0);
    assert (sms_form_value (request.body, "From", value, sizeof value) == 0
            && strcmp (value, "whatsapp:+15550001") == 0);
    assert (sms_form_value (request.body, "ContentSid", value, sizeof value) == 0
            && strcmp (value, "HX0123") == 0);
    assert (sms_form_value (request.body, "ContentVariables", value, sizeof value) == 0
            && strcmp (value, "{\"1\":\"Ada\",\"2\":\"Trail shoe\"}") == 0);
    assert (sms_form_value (request.body, "Body", value, sizeof value) == -1);
    sms_request_clear (&request);
    //  Infobip: the template endpoint, number without "+", placeholders
    assert (sms_whatsapp_infobip (&account, &message, &request, &http) == 0);
    assert (strcmp (http.url, "https://api.example/whatsapp/1/message/template") == 0);
    json_t *doc = json_loads (request.body, 0, NULL);
    json_t *one = json_array_get (json_object_get (doc, "messages"), 0);
    json_t *content = json_object_get (one, "content");
    assert (strcmp (json_string_value (json_object_get (one, "to")), "48600100200") == 0
            && strcmp (json_string_value (json_object_get (content, "templateName")), "HX0123") == 0
            && strcmp (json_string_value (json_object_get (content, "language")), "pl") == 0
            && json_array_size (json_object_get (json_object_get (json_object_get (content,
                   "templateData"), "body"), "placeholders")) == 2);
    json_decref (doc);
    sms_request_clear (&request);
    //  A session message: Body, and Infobip's text endpoint
    sms_whatsapp_clear (&wa);
    wa = (sms_whatsapp_t) { true, strdup ("Still thinking about it?"), NULL, NULL, "en" };
    assert (sms_whatsapp_twilio (&account, &message, &request, &http) == 0);
    assert (sms_form_value (request.body, "Body", value, sizeof value) == 0
            && strcmp (value, "Still thinking about it?") == 0
            && sms_form_value (request.body, "ContentSid", value, sizeof value) == -1);
    sms_request_clear (&request);
    assert (sms_whatsapp_infobip (&account, &message, &request, &http) == 0);
    assert (strcmp (http.url, "https://api.example/whatsapp/1/message/text") == 0);
    doc = json_loads (request.body, 0, NULL);
    assert (strcmp (json_string_value (json_object_get (json_object_get (doc, "content"), "text")),
                    "Still thinking about it?") == 0);
    json_decref (doc);
    sms_request_clear (&request);
    sms_whatsapp_clear (&wa);
    if (verbose)
        printf ("OK\n");
}
