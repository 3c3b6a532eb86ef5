/*  sms_webhook - the provider's calls back: replies and receipts.

        POST /sms/inbound   a message a person sent to the shop's number
        POST /sms/status    a delivery receipt for a message we sent
        GET  /health        for load balancers and tests

    A STOP must stand once the provider has been told 200: it is stored
    in LMDB first. So each request's thread parses and checks it (the
    provider's signature or ?token=), queues its events, wakes the loop
    and waits; the loop applies every waiting request in its transaction
    and, after the commit, wakes them with the outcome. A request that
    fails is answered 503, and the provider tries it again.            */
#define _GNU_SOURCE
#include <assert.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <microhttpd.h>
#include <openssl/crypto.h>
#include "nd_httpd.h"
#include "nd_listen.h"
#include "sms.h"

#define s_BODY_MAX 65536
#define s_EVENTS_MAX 100

struct _sms_webhook_t {
    nd_httpd_t *server;
    const sms_provider_t *provider;
    const sms_account_t *account;
    char *public_url;
    char *token;
    char *help;
    nd_inbox_t *inbox;          //  the requests' events, to the loop and back
    atomic_uint_fast64_t requests, refused, events, failed;
};

/* ------------------------------------------------------------ the loop -- */

int sms_webhook_drain (sms_webhook_t *self, MDB_txn *txn, nd_inbox_apply_fn *apply, void *arg)
{
    return nd_inbox_drain (self->inbox, txn, apply, arg);
}

void sms_webhook_committed (sms_webhook_t *self, int rc)
{
    nd_inbox_committed (self->inbox, rc, false);
}

/* ------------------------------------------------------------ requests -- */

static enum MHD_Result s_refuse (sms_webhook_t *self, struct MHD_Connection *connection,
                                 unsigned int status, const char *reason)
{
    self->refused++;
    nd_log ("webhook: refused (%u): %s", status, reason);
    return nd_httpd_refuse (connection, status, reason, NULL);
}

static bool s_token_ok (sms_webhook_t *self, const char *uri)
{
    if (!self->token)
        return true;
    const char *query = strchr (uri, '?');
    char given [256] = "";
    if (!query || sms_form_value (query + 1, "token", given, sizeof given))
        return false;
    return strlen (given) == strlen (self->token)
        && CRYPTO_memcmp (given, self->token, strlen (given)) == 0;
}

static void s_event_clear (void *event)
{
    sms_event_t *self = (sms_event_t *) event;
    free (self->text);
    self->text = NULL;
}

static enum MHD_Result s_hook (sms_webhook_t *self, struct MHD_Connection *connection,
                               nd_httpd_request_t *request)
{
    sms_event_t *events = (sms_event_t *) calloc (s_EVENTS_MAX, sizeof *events);
    assert (events);
    char reason [200];
    const char *type = MHD_lookup_connection_value (connection, MHD_HEADER_KIND,
                                                    MHD_HTTP_HEADER_CONTENT_TYPE);
    sms_hook_t hook = { request->uri, type ? type : "", request->body ? request->body : "",
                        request->size, MHD_lookup_connection_value (connection, MHD_HEADER_KIND,
                                                                    "X-Twilio-Signature") };
    int count = self->provider->parse (self->account, self->public_url, &hook,
                                       events, s_EVENTS_MAX, reason, sizeof reason);
    if (count < 0) {
        free (events);
        return s_refuse (self, connection, MHD_HTTP_FORBIDDEN, reason);
    }
    const char *reply = NULL;
    for (int i = 0; i < count; i++)
        if (events [i].kind == SMS_EVENT_INBOUND
        &&  sms_keyword (events [i].text) == SMS_KEYWORD_HELP)
            reply = self->help;
    self->events += (uint64_t) count;
    int rc = nd_inbox_submit (self->inbox, events, (size_t) count);
    for (int i = 0; i < count; i++)
        s_event_clear (&events [i]);
    free (events);
    if (rc == 0) {
        char content_type [64], *body = NULL;
        self->provider->reply (reply, content_type, sizeof content_type, &body);
        return nd_httpd_answer (connection, MHD_HTTP_OK, content_type, body, NULL);
    }
    self->failed++;
    return s_refuse (self, connection, MHD_HTTP_SERVICE_UNAVAILABLE, "not stored: try again");
}

static enum MHD_Result s_handle (void *cls, struct MHD_Connection *connection, const char *url,
                                 const char *method, const char *version, const char *data,
                                 size_t *data_size, void **con_cls)
{
    (void) version;
    sms_webhook_t *self = (sms_webhook_t *) cls;
    nd_httpd_request_t *request = (nd_httpd_request_t *) *con_cls;
    if (nd_httpd_receive (request, data, data_size, s_BODY_MAX))
        return MHD_YES;
    if (strcmp (method, "GET") == 0 && strcmp (url, "/health") == 0)
        return nd_httpd_answer (connection, MHD_HTTP_OK, "application/json",
                                strdup ("{\"status\":\"ok\"}"), NULL);
    self->requests++;
    if (strcmp (url, "/sms/inbound") && strcmp (url, "/sms/status"))
        return s_refuse (self, connection, MHD_HTTP_NOT_FOUND, "no such path");
    if (strcmp (method, "POST"))
        return s_refuse (self, connection, MHD_HTTP_METHOD_NOT_ALLOWED, "use POST");
    if (request->discarded)
        return s_refuse (self, connection, MHD_HTTP_CONTENT_TOO_LARGE, "body over 64 KB");
    if (!s_token_ok (self, request->uri))
        return s_refuse (self, connection, MHD_HTTP_FORBIDDEN, "missing or wrong ?token=");
    return s_hook (self, connection, request);
}

/* --------------------------------------------------------------- class -- */

sms_webhook_t *sms_webhook_new (nd_stage_t *stage, const char *address,
                                const sms_provider_t *provider, const sms_account_t *account,
                                const char *public_url, const char *token, const char *help)
{
    struct sockaddr_storage where;
    socklen_t where_size;
    char reason [200];
    if (nd_listen_parse (address, &where, &where_size, reason, sizeof reason)) {
        nd_log ("webhook: %s: %s", address, reason);
        return NULL;
    }
    sms_webhook_t *self = (sms_webhook_t *) calloc (1, sizeof *self);
    assert (self);
    self->provider = provider;
    self->account = account;
    self->public_url = public_url ? strdup (public_url) : NULL;
    self->token = token ? strdup (token) : NULL;
    self->help = help ? strdup (help) : NULL;
    self->inbox = nd_inbox_new (stage, sizeof (sms_event_t), s_event_clear);
    //  nd_httpd keeps each request's URI as sent: Twilio signs it so
    self->server = nd_httpd_start (&where, 64, 64, 30, s_handle, self);
    if (!self->server) {
        nd_log ("webhook: cannot listen on %s: %s", address, strerror (errno));
        sms_webhook_destroy (&self);
        return NULL;
    }
    nd_log ("webhook: listening on %s (/sms/inbound, /sms/status)", address);
    return self;
}

void sms_webhook_destroy (sms_webhook_t **self_p)
{
    sms_webhook_t *self = *self_p;
    if (!self)
        return;
    //  Waiting requests give up (503) before the server joins their threads
    if (self->inbox)
        nd_inbox_close (self->inbox);
    nd_httpd_destroy (&self->server);
    nd_inbox_destroy (&self->inbox);
    if (self->token)
        OPENSSL_cleanse (self->token, strlen (self->token));
    free (self->token);
    free (self->public_url);
    free (self->help);
    free (self);
    *self_p = NULL;
}

void sms_webhook_stats (sms_webhook_t *self, json_t *stats)
{
    json_object_set_new (stats, "webhook", json_pack ("{s:I, s:I, s:I, s:I}",
        "requests", (json_int_t) self->requests, "refused", (json_int_t) self->refused,
        "events", (json_int_t) self->events, "failed", (json_int_t) self->failed));
}
