/*  sms_spool - texts written to a local directory, when no SMS API is
    configured (the shipped default, for `make run`).

    Like the mail-sender's Maildir: every text is rendered, counted and
    checked in full, then lands as one file instead of going to Twilio
    or Infobip, and the scheduler hears feedback.delivered with
    "provider": "spool". Each file is one JSON object:

        {"to": "+48600100200", "from": "+15550001234", "text": "...",
         "segments": 1, "encoding": "GSM-7",
         "idempotency_key": "...", "id": "<file name without .json>",
         "sent": "2026-11-23T19:20:01.000Z"}

    "sent" is the stage's clock when the text went: event time in a
    replay, so a backtest can see the rate limit and quiet hours at work.

    written to .<name>.tmp, synced, then renamed to <name>.json, so a
    reader (ls, jq) never sees half a text. The name is a hash of the
    idempotency key: a text sent again after a crash replaces its own
    file, it never makes a second one.

    The webhooks take a plain form (no signature; set webhook-token if
    anything but you can reach them), so a STOP can be tried by hand:
      inbound  From, Body                 curl -d From=+48600100200 -d Body=STOP
      status   key (our idempotency key), status (delivered, failed,
               unreachable, unsubscribed)
    HELP is answered with help-text as text/plain.                      */
#define _GNU_SOURCE
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <czmq.h>
#include <openssl/evp.h>
#include "sms.h"

//  mkdir -p, mode 0700: the texts name people's numbers.
static int s_mkdirs (const char *dir)
{
    char *path = strdup (dir);
    assert (path);
    int rc = 0;
    for (char *slash = strchr (path + 1, '/'); slash && rc == 0; slash = strchr (slash + 1, '/')) {
        *slash = 0;
        rc = mkdir (path, 0700) == 0 || errno == EEXIST ? 0 : -1;
        *slash = '/';
    }
    if (rc == 0)
        rc = mkdir (path, 0700) == 0 || errno == EEXIST ? 0 : -1;
    free (path);
    return rc;
}

static int s_open (const sms_account_t *account, char *reason, size_t size)
{
    if (s_mkdirs (account->base)) {
        snprintf (reason, size, "cannot make the spool directory %s: %s", account->base,
                  strerror (errno));
        return -1;
    }
    nd_log ("no SMS provider configured: texts go to the spool %s", account->base);
    return 0;
}

//  The file name: 24 hex digits of SHA-256 (key), the same on every try.
static void s_name (const char *key, char *name, size_t size)
{
    uint8_t digest [EVP_MAX_MD_SIZE];
    unsigned int length = 0;
    EVP_Digest (key, strlen (key), digest, &length, EVP_sha256 (), NULL);
    for (unsigned int i = 0; i < 12 && i * 2 + 2 < size; i++)
        snprintf (name + i * 2, 3, "%02x", digest [i]);
}

static int s_write (const char *path, const char *text)
{
    int fd = open (path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return -1;
    size_t done = 0, size = strlen (text);
    while (done < size) {
        ssize_t wrote = write (fd, text + done, size - done);
        if (wrote <= 0)
            break;
        done += (size_t) wrote;
    }
    int rc = done == size && fsync (fd) == 0 ? 0 : -1;
    close (fd);
    return rc;
}

static void s_send (const sms_account_t *account, const sms_message_t *message,
                    nd_send_result_t *result, char *id, size_t id_size)
{
    char name [32] = "";
    s_name (message->key, name, sizeof name);
    char sent [32];
    json_t *record = json_pack ("{s:s, s:s?, s:s, s:I, s:s, s:s, s:s, s:s}", "to", message->to,
        "from", account->from, "text", message->text,
        "segments", (json_int_t) (message->count ? message->count->segments : 0),
        "encoding", sms_encoding_name (message->count ? message->count->encoding : SMS_GSM7),
        "idempotency_key", message->key, "id", name, "sent", nd_time_format (message->time, sent));
    char *text = json_dumps (record, JSON_INDENT (2) | JSON_PRESERVE_ORDER);
    json_decref (record);
    char *tmp = zsys_sprintf ("%s/.%s.tmp", account->base, name);
    char *path = zsys_sprintf ("%s/%s.json", account->base, name);
    //  Created again if someone cleared var/ while the stage ran
    if (text && (s_write (tmp, text) == 0
             || (errno == ENOENT && s_mkdirs (account->base) == 0 && s_write (tmp, text) == 0))
    &&  rename (tmp, path) == 0) {
        result->outcome = ND_SEND_DELIVERED;
        *result->reason = 0;
        snprintf (id, id_size, "%s", name);
    }
    else {
        result->outcome = ND_SEND_RETRY;
        snprintf (result->reason, sizeof result->reason, "spool %s: %s", account->base,
                  text ? strerror (errno) : "cannot encode the text");
        unlink (tmp);
    }
    free (text);
    zstr_free (&tmp);
    zstr_free (&path);
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
    char phone [64] = "", text [1600] = "", status [sizeof event->outcome] = "";
    int rc = 1;
    if (strstr (hook->url, "/sms/inbound") == hook->url) {
        event->kind = SMS_EVENT_INBOUND;
        sms_form_value (form, "From", phone, sizeof phone);
        sms_form_value (form, "Body", text, sizeof text);
        event->text = strdup (text);
    }
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
    snprintf (event->phone, sizeof event->phone, "%.*s", (int) sizeof event->phone - 1, phone);
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
