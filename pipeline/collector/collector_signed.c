/*  collector_signed - the endpoints a signed token authorizes instead of
    a write key: the one-click unsubscribe and the push reports.

    Layer: the HTTP intake's endpoints, beside collector_segment.c,
    collector_confirm.c and collector_click.c; collector_http.c routes
    the paths here. It answers through collector_reply.c and commits
    through the queue, so its answer comes once the event is on disk.

      GET /unsubscribe?token=...   a page with a button; changes nothing
                                   (mail scanners fetch every link)
      POST /unsubscribe?token=...  the one-click unsubscribe (RFC 8058)
                                   behind the mail-sender's
                                   List-Unsubscribe header: commits topic
                                   "unsubscribe" {user, channel, via}
      POST /v1/push/event?t=TOKEN&action=...   what the shop's service
                                   worker saw of a notification: commits
                                   push.<action>

    The tokens are signed with the pipeline's unsubscribe-secret
    (nd_token.h); each event's id comes from its token, so a repeat is
    one event within the dedupe window.                                  */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/sha.h>
#include <microhttpd.h>
#include "nd_token.h"
#include "collector.h"

const collector_endpoint_t collector_signed_unsubscribe_endpoint = {
    "/unsubscribe", "unsubscribe"
};
const collector_endpoint_t collector_signed_push_event_endpoint = {
    "/v1/push/event", "push-event"
};
#define UNSUBSCRIBE_BODY_MAX 4096
#define PUSH_EVENT_PURPOSE "push-event"     //  the push-sender signs for it

/* ---------------------------------------------------------- unsubscribe */

static int s_unsubscribe_token (collector_http_t *self, struct MHD_Connection *connection,
                                const char **token, char *user, size_t user_size,
                                char *channel, size_t channel_size)
{
    *token = MHD_lookup_connection_value (connection, MHD_GET_ARGUMENT_KIND, "token");
    return *token && strlen (*token) < ND_TOKEN_MAX
        && nd_token_verify (self->unsubscribe_secret, *token, user, user_size,
                            channel, channel_size) == 0 ? 0 : -1;
}

//  GET shows a button and changes nothing: mail scanners fetch every link
//  in a message, and must not unsubscribe anyone by doing so.
enum MHD_Result collector_signed_unsubscribe_begin (collector_http_t *self,
                                                    struct MHD_Connection *connection,
                                                    const char *url, const char *method,
                                                    void **con_cls)
{
    char user [512], channel [ND_TOKEN_CHANNEL_MAX];
    const char *token;
    if (!self->unsubscribe_secret)
        return collector_reply_refuse (self, connection, "?", MHD_HTTP_NOT_FOUND,
                                       "no such endpoint", NULL);
    if (s_unsubscribe_token (self, connection, &token, user, sizeof user, channel,
                             sizeof channel)) {
        collector_reply_log_refusal (self, url, MHD_HTTP_BAD_REQUEST,
                                     "unsubscribe token not valid");
        return collector_reply_page (connection, MHD_HTTP_BAD_REQUEST, "Link not valid",
                                     "<p>This unsubscribe link is not valid. Please use "
                                     "the link in the latest message you received.</p>");
    }
    if (strcmp (method, "GET") == 0 || strcmp (method, "HEAD") == 0) {
        char *form = zsys_sprintf (
            "<form method=\"post\" action=\"/unsubscribe?token=%s\">"
            "<input type=\"hidden\" name=\"List-Unsubscribe\" value=\"One-Click\">"
            "<p>Stop receiving these messages by %s?</p>"
            "<p><button type=\"submit\">Unsubscribe</button></p></form>",
            token, strcmp (channel, "email") == 0 ? "e-mail" : channel);
        enum MHD_Result rc = collector_reply_page (connection, MHD_HTTP_OK, "Unsubscribe", form);
        zstr_free (&form);
        return rc;
    }
    if (strcmp (method, "POST"))
        return collector_reply_refuse (self, connection, url, MHD_HTTP_METHOD_NOT_ALLOWED,
                                       "use POST", NULL);
    collector_request_t *request = (collector_request_t *) zmalloc (sizeof *request);
    request->route = &collector_signed_unsubscribe_endpoint;
    request->body = collector_body_new (UNSUBSCRIBE_BODY_MAX, NULL, NULL, 0);
    *con_cls = request;
    return MHD_YES;
}

//  An id that is the same for the same text, so a repeat is one event
//  within the dedupe window: prefix, then 12 bytes of its SHA-256 in hex.
static void s_digest_id (char *id, size_t size, const char *prefix, const char *text)
{
    unsigned char digest [SHA256_DIGEST_LENGTH];
    SHA256 ((const unsigned char *) text, strlen (text), digest);
    snprintf (id, size, "%s", prefix);
    for (int i = 0; i < 12; i++)
        snprintf (id + strlen (id), size - strlen (id), "%02x", digest [i]);
}

//  What the collector makes itself is stamped now on the wall clock; on
//  the event clock it has no time of its own (0: the stage's clock).
static int64_t s_stamp (collector_http_t *self, json_t *body)
{
    char stamp [32];
    int64_t time = self->limits->event_time ? 0 : nd_wall_ms ();
    if (time)
        json_object_set_new (body, "time", json_string (nd_time_format (time, stamp)));
    return time;
}

//  Commits the unsubscribe like an event: the 200 means it is on disk.
//  The id comes from the token, so repeated clicks are one unsubscribe
//  within the dedupe window.
enum MHD_Result collector_signed_unsubscribe_finish (collector_http_t *self,
                                                     struct MHD_Connection *connection,
                                                     const char *url)
{
    char user [512], channel [ND_TOKEN_CHANNEL_MAX], id [48];
    const char *token;
    if (s_unsubscribe_token (self, connection, &token, user, sizeof user, channel, sizeof channel))
        return collector_reply_page (connection, MHD_HTTP_BAD_REQUEST, "Link not valid",
                                     "<p>This unsubscribe link is not valid.</p>");
    s_digest_id (id, sizeof id, "unsubscribe-", token);
    json_t *body = json_pack ("{s:s, s:s, s:s, s:s}", "id", id, "user", user,
                              "channel", channel, "via", "one-click");
    int64_t time = s_stamp (self, body);
    collector_ticket_t *ticket = collector_ticket_new ();
    collector_ticket_add (ticket, "unsubscribe", body, time);
    int rc = collector_queue_commit (self->queue, ticket, COLLECTOR_COMMIT_TIMEOUT_MS);
    collector_ticket_destroy (&ticket);
    if (rc != COLLECTOR_COMMITTED)
        return collector_reply_refuse (self, connection, url, MHD_HTTP_SERVICE_UNAVAILABLE,
                                       "busy, retry later", NULL);
    return collector_reply_page (connection, MHD_HTTP_OK, "Unsubscribed",
                                 "<p>You will not receive these messages any more.</p>");
}

/* --------------------------------------------------------- push reports */

//  POST /v1/push/event?t=TOKEN&action=clicked: the shop's service worker
//  tells what became of a notification. The token, which the push-sender
//  put in the notification's "report" URL, is the authorization (no write
//  key): it names the send order's idempotency key and its person. Any
//  page may post it (the service worker runs on the shop's origin, which
//  the collector need not know), so answers are CORS-open.
enum MHD_Result collector_signed_push_event_begin (collector_http_t *self,
                                                   struct MHD_Connection *connection,
                                                   const char *url, const char *method,
                                                   void **con_cls)
{
    if (!self->unsubscribe_secret)
        return collector_reply_refuse (self, connection, url, MHD_HTTP_NOT_FOUND,
                                       "no push reports: the collector has no "
                                       "unsubscribe-secret", NULL);
    enum MHD_Result refused;
    if (!collector_reply_admit_post (self, connection, url, method, &refused))
        return refused;
    collector_request_t *request = (collector_request_t *) zmalloc (sizeof *request);
    request->route = &collector_signed_push_event_endpoint;
    request->body = collector_body_new (UNSUBSCRIBE_BODY_MAX, NULL, NULL, 0);
    *con_cls = request;
    return MHD_YES;
}

static enum MHD_Result s_push_event_refuse (collector_http_t *self,
                                            struct MHD_Connection *connection, const char *url,
                                            unsigned int status, const char *reason)
{
    collector_reply_log_refusal (self, url, status, reason);
    return collector_reply_send (connection, status, collector_reply_failure (reason, NULL),
                                 NULL, NULL, "*");
}

//  Committed as topic push.<action> {id, user, time, idempotency_key,
//  channel}: the id comes from the key and the action, so a report the
//  service worker retries is one.
enum MHD_Result collector_signed_push_event_finish (collector_http_t *self,
                                                    struct MHD_Connection *connection,
                                                    const char *url)
{
    const char *token = MHD_lookup_connection_value (connection, MHD_GET_ARGUMENT_KIND, "t");
    const char *action = MHD_lookup_connection_value (connection, MHD_GET_ARGUMENT_KIND,
                                                      "action");
    if (!action || (strcmp (action, "clicked") && strcmp (action, "dismissed")
                    && strcmp (action, "shown")))
        return s_push_event_refuse (self, connection, url, MHD_HTTP_BAD_REQUEST,
                                    "action must be clicked, dismissed or shown");
    char payload [ND_TOKEN_MAX];
    char *user = NULL;
    if (token && strlen (token) < ND_TOKEN_MAX
    &&  nd_token_open (self->unsubscribe_secret, PUSH_EVENT_PURPOSE, token, payload,
                       sizeof payload) > 0
    &&  (user = strchr (payload, '\n')))
        *user++ = 0;
    if (!user || !*user || !*payload)
        return s_push_event_refuse (self, connection, url, MHD_HTTP_FORBIDDEN,
                                    "report token not valid");
    char id [80], prefix [32];
    snprintf (prefix, sizeof prefix, "push-%s-", action);
    s_digest_id (id, sizeof id, prefix, payload);
    json_t *body = json_pack ("{s:s, s:s, s:s, s:s}", "id", id, "user", user,
                              "idempotency_key", payload, "channel", "push");
    int64_t time = s_stamp (self, body);
    char topic [32];
    snprintf (topic, sizeof topic, "push.%s", action);
    collector_ticket_t *ticket = collector_ticket_new ();
    collector_ticket_add (ticket, topic, body, time);
    int rc = collector_queue_commit (self->queue, ticket, COLLECTOR_COMMIT_TIMEOUT_MS);
    collector_ticket_destroy (&ticket);
    if (rc != COLLECTOR_COMMITTED)
        return s_push_event_refuse (self, connection, url, MHD_HTTP_SERVICE_UNAVAILABLE,
                                    "busy, retry later");
    return collector_reply_send (connection, MHD_HTTP_NO_CONTENT, NULL, NULL, NULL, "*");
}
