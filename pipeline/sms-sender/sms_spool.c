/*  sms_spool - texts written to a local directory, when no SMS API is
    configured (the shipped default, for `make run`).

    Like the mail-sender's Maildir: every text is rendered, counted and
    checked in full, then lands as one file instead of going to Twilio
    or Infobip, and the scheduler hears feedback.delivered with
    "provider": "spool". Each file is one JSON object:

        {"to": "+48600100200", "from": "+15550001234", "text": "...",
         "segments": 1, "encoding": "GSM-7",
         "idempotency_key": "...", "sent": "2026-11-23T19:20:01.000Z",
         "id": "<file name without .json>"}

    "sent" is the stage's clock when the text went: event time in a
    replay, so a backtest can see the rate limit and quiet hours at work.

    written through nd_spool (nd_spool.h): never half a text in the
    directory, and a text sent again after a crash replaces its own file.
    A spool named *.jsonl (nd-backtest's) is one file, a line per text.

    The webhooks take a plain form (no signature; set webhook-token if
    anything but you can reach them), so a STOP can be tried by hand:
      inbound  From, Body                 curl -d From=+48600100200 -d Body=STOP
      status   key (our idempotency key), status (delivered, failed,
               unreachable, unsubscribed)
    HELP is answered with help-text as text/plain.                      */
#define _GNU_SOURCE
#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <czmq.h>
#include "nd_spool.h"
#include "sms.h"

static int s_open (const sms_account_t *account, char *reason, size_t size)
{
    if (nd_spool_open (account->base)) {
        snprintf (reason, size, "cannot make the spool directory %s: %s", account->base,
                  strerror (errno));
        return -1;
    }
    nd_log ("no SMS provider configured: texts go to the spool %s", account->base);
    return 0;
}

static void s_send (const sms_account_t *account, const sms_message_t *message,
                    nd_send_result_t *result, char *id, size_t id_size)
{
    char name [ND_SPOOL_NAME_MAX], sent [32];
    json_t *record = json_pack ("{s:s, s:s?, s:s, s:I, s:s, s:s, s:s}", "to", message->to,
        "from", account->from, "text", message->text,
        "segments", (json_int_t) (message->count ? message->count->segments : 0),
        "encoding", sms_encoding_name (message->count ? message->count->encoding : SMS_GSM7),
        "idempotency_key", message->key, "sent", nd_time_format (message->time, sent));
    if (nd_spool_put (account->base, account->sync, message->key, record, name) == 0) {
        result->outcome = ND_SEND_DELIVERED;
        *result->reason = 0;
        snprintf (id, id_size, "%s", name);
    }
    else {
        result->outcome = ND_SEND_RETRY;
        snprintf (result->reason, sizeof result->reason, "spool %s: %s", account->base,
                  strerror (errno));
    }
    json_decref (record);
}

/* ------------------------------------------------------------ webhooks -- */

static int s_parse (const sms_account_t *account, const char *public_url, const sms_hook_t *hook,
                    sms_event_t *events, int max, char *reason, size_t size)
{
    (void) account;
    (void) public_url;
    if (max < 1) {
        snprintf (reason, size, "no room for an event");
        return -1;
    }
    char *form = strndup (hook->body, hook->size);
    assert (form);
    sms_event_t *event = &events [0];
    memset (event, 0, sizeof *event);
    char status [sizeof event->outcome] = "";
    int rc = 1;
    if (strstr (hook->url, "/sms/inbound") == hook->url)
        sms_form_inbound (form, event);
    else {
        event->kind = SMS_EVENT_RECEIPT;
        sms_form_value (form, "key", event->key, sizeof event->key);
        sms_form_value (form, "status", status, sizeof status);
        if (strcmp (status, "delivered") && strcmp (status, "failed")
        &&  strcmp (status, "unreachable") && strcmp (status, "unsubscribed")) {
            snprintf (reason, size, "status: delivered, failed, unreachable or unsubscribed");
            rc = -1;
        }
        snprintf (event->outcome, sizeof event->outcome, "%s", status);
        snprintf (event->reason, sizeof event->reason, "receipt: %s", status);
    }
    free (form);
    return rc;
}

static void s_reply (const char *reply, char *content_type, size_t type_size, char **body)
{
    snprintf (content_type, type_size, "text/plain; charset=utf-8");
    *body = reply ? zsys_sprintf ("%s\n", reply) : strdup ("");
}

const sms_provider_t sms_spool = {
    .name = "spool",
    .default_base = "var/sms",
    .open = s_open,
    .send = s_send,
    .parse = s_parse,
    .reply = s_reply,
};
