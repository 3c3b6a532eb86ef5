/*  collector_click - the click redirect behind every link in a message.

    Layer: the collector's HTTP intake, beside collector_http.c (which
    routes /c/ here); commits through the queue as any request does.

      GET /c/TOKEN    302 to the link's URL with the UTM parameters added
                      (nd_links.h), once the click is on disk; a token
                      the secret did not make for a click: 400, and no
                      redirect (never an open one)
      HEAD /c/TOKEN   the same 302, nothing recorded

    The senders wrap the links (nd_links_wrap) with the pipeline's
    unsubscribe-secret, which this checks: no state, no login. A click
    is committed as topic click.<channel> {id, user, time,
    idempotency_key, journey, step, variant, channel}, read by that
    channel's sender (topics click.<channel>, input collector), which
    tells the scheduler feedback.clicked (nd_sender_stage.c). The id comes
    from the token, so the clicks of one link share it and the
    collector's dedupe keeps one of them (a double click, a prefetch). If the click
    cannot be committed in time the person still gets the shop: the
    redirect matters more than the count, and the log says so.

    Log lines name neither the person nor the URL.                       */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/sha.h>
#include <microhttpd.h>
#include "nd_links.h"
#include "nd_token.h"
#include "collector.h"

#define COMMIT_TIMEOUT_MS 5000      //  a person waits for this page

struct _collector_click_t {
    const char *secret;
    const collector_limits_t *limits;
    collector_queue_t *queue;
    collector_counters_t *counters;
};

collector_click_t *collector_click_new (const char *secret, const collector_limits_t *limits,
                                        collector_queue_t *queue, collector_counters_t *counters)
{
    if (!secret)
        return NULL;
    collector_click_t *self = (collector_click_t *) zmalloc (sizeof *self);
    self->secret = secret;
    self->limits = limits;
    self->queue = queue;
    self->counters = counters;
    return self;
}

void collector_click_destroy (collector_click_t **self_p)
{
    if (*self_p) {
        free (*self_p);
        *self_p = NULL;
    }
}

static json_t *s_body (const nd_click_t *click, const char *token)
{
    unsigned char digest [SHA256_DIGEST_LENGTH];
    SHA256 ((const unsigned char *) token, strlen (token), digest);
    char id [40] = "click-";
    for (int i = 0; i < 12; i++)
        snprintf (id + strlen (id), sizeof id - strlen (id), "%02x", digest [i]);
    return json_pack ("{s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "id", id, "user", click->user,
                      "idempotency_key", click->key, "journey", click->journey,
                      "step", click->step, "variant", click->variant, "channel", click->channel);
}

static int s_commit (collector_click_t *self, const nd_click_t *click, const char *token)
{
    json_t *body = s_body (click, token);
    int64_t time = 0;
    if (!self->limits->event_time) {    //  on the event clock: the stage's time
        char stamp [32];
        time = nd_wall_ms ();
        json_object_set_new (body, "time", json_string (nd_time_format (time, stamp)));
    }
    char topic [40];
    snprintf (topic, sizeof topic, "click.%s", click->channel);
    collector_ticket_t *ticket = collector_ticket_new ();
    collector_ticket_add (ticket, topic, body, time);
    int rc = collector_queue_commit (self->queue, ticket, COMMIT_TIMEOUT_MS);
    collector_ticket_destroy (&ticket);
    return rc;
}

static int s_redirect (struct MHD_Connection *connection, const char *target)
{
    struct MHD_Response *response = MHD_create_response_from_buffer (0, (void *) "",
                                                                     MHD_RESPMEM_PERSISTENT);
    if (!response)
        return MHD_NO;
    MHD_add_response_header (response, MHD_HTTP_HEADER_LOCATION, target);
    MHD_add_response_header (response, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    MHD_add_response_header (response, "Referrer-Policy", "no-referrer");
    int rc = MHD_queue_response (connection, MHD_HTTP_FOUND, response);
    MHD_destroy_response (response);
    return rc;
}

int collector_click_link (collector_click_t *self, struct MHD_Connection *connection,
                          const char *url, const char *method)
{
    if (!self)
        return collector_reply_page (connection, MHD_HTTP_NOT_FOUND, "Not found", "");
    bool head = strcmp (method, "HEAD") == 0;
    if (!head && strcmp (method, "GET"))
        return collector_reply_page (connection, MHD_HTTP_METHOD_NOT_ALLOWED, "Use GET", "");
    atomic_fetch_add (&self->counters->requests, 1);
    const char *token = url + strlen (COLLECTOR_CLICK_PATH);
    nd_click_t click;
    if (nd_click_open (self->secret, token, &click)) {
        nd_log ("click: a link whose token is not ours: 400");
        return collector_reply_page (connection, MHD_HTTP_BAD_REQUEST, "Link not valid",
                                    "<p>This link is not valid. Please check that it was "
                                    "copied whole.</p>");
    }
    char *target = nd_click_target (&click);
    if (!head && s_commit (self, &click, token) != COLLECTOR_COMMITTED)
        nd_log ("click: not recorded in time (busy): redirected all the same");
    int rc = s_redirect (connection, target);
    free (target);
    return rc;
}
