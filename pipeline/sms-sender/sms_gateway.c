/*  sms_gateway - the outbox's provider: send orders to an SMS API.

    For each order in a batch: render the step's sms.text template with
    the order's data, count it (GSM-7 or UCS-2, segments), refuse it if
    it needs more segments than its journey allows, and have the
    configured API (sms_provider_t) build the request. The batch then
    goes out as concurrent requests over kept-alive connections, and
    each answer becomes the order's outcome. A provider that is no API
    (the spool) takes each message itself instead. Every outcome after
    rendering carries "segments" and "encoding" into the feedback (the
    STOP footer of a first text, sms_footer.c, counted in); a
    delivered one also "provider" and "provider_id" (the API's message
    id, which delivery receipts name).                                  */
#define _GNU_SOURCE
#include <assert.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <czmq.h>
#include <openssl/crypto.h>
#include "sms.h"

struct _sms_gateway_t {
    sms_gateway_conf_t conf;
};

static char *s_copy (const char *text)
{
    return text ? strdup (text) : NULL;
}

sms_gateway_t *sms_gateway_new (sms_gateway_conf_t *conf)
{
    sms_gateway_t *self = (sms_gateway_t *) calloc (1, sizeof *self);
    assert (self);
    self->conf = *conf;
    sms_account_t *account = &self->conf.account;
    account->base = s_copy (account->base);
    account->account = s_copy (account->account);
    account->secret = s_copy (account->secret);
    account->from = s_copy (account->from);
    account->status_url = s_copy (account->status_url);
    //  Taken; the account's strings were copied and stay the caller's
    conf->templates = NULL;
    conf->http = NULL;
    conf->journey_max = NULL;
    return self;
}

void sms_gateway_destroy (sms_gateway_t **self_p)
{
    sms_gateway_t *self = *self_p;
    if (!self)
        return;
    sms_account_t *account = &self->conf.account;
    if (account->secret)
        OPENSSL_cleanse ((char *) account->secret, strlen (account->secret));
    free ((char *) account->base);
    free ((char *) account->account);
    free ((char *) account->secret);
    free ((char *) account->from);
    free ((char *) account->status_url);
    nd_templates_destroy (&self->conf.templates);
    nd_http_destroy (&self->conf.http);
    json_decref (self->conf.journey_max);
    free (self);
    *self_p = NULL;
}

const sms_provider_t *sms_gateway_api (sms_gateway_t *self)
{
    return self->conf.provider;
}

const sms_account_t *sms_gateway_account (sms_gateway_t *self)
{
    return &self->conf.account;
}

int sms_gateway_parse_max (const char *text, int *default_max, json_t *journeys)
{
    *default_max = 0;
    char *copy = strdup (text), *save = NULL;
    int rc = 0;
    for (char *item = strtok_r (copy, ",", &save); item && rc == 0; item = strtok_r (NULL, ",", &save)) {
        char name [128] = "";
        int value = 0, used = 0;
        while (isspace ((unsigned char) *item))
            item++;
        if (sscanf (item, "%127[^: ] : %d %n", name, &value, &used) == 2 && !item [used] && value > 0)
            json_object_set_new (journeys, name, json_integer (value));
        else
        if (sscanf (item, "%d %n", &value, &used) == 1 && !item [used] && value > 0 && !*default_max)
            *default_max = value;
        else
            rc = -1;
    }
    free (copy);
    return rc == 0 && *default_max > 0 ? 0 : -1;
}

/* ------------------------------------------------------------ one job -- */

static void s_fail (nd_send_job_t *job, const char *topic, const char *reason)
{
    job->result.outcome = ND_SEND_PERMANENT;
    snprintf (job->result.topic, sizeof job->result.topic, "%s", topic);
    snprintf (job->result.reason, sizeof job->result.reason, "%s", reason);
}

static int s_max_segments (sms_gateway_t *self, const json_t *order)
{
    json_int_t wanted = json_integer_value (json_object_get (order, "max_segments"));
    json_int_t journey = json_integer_value (json_object_get (self->conf.journey_max,
        json_string_value (json_object_get (order, "journey")) ? json_string_value (
            json_object_get (order, "journey")) : ""));
    return wanted > 0 ? (int) wanted : journey > 0 ? (int) journey : self->conf.default_max;
}

//  The text of the order's message, or NULL with the job's result set.
static char *s_text (sms_gateway_t *self, nd_send_job_t *job)
{
    char reason [ND_SEND_REASON_MAX];
    //  The text and its footer from one set, whatever a reload does meanwhile
    nd_templates_t *held = nd_templates_hold (self->conf.templates);
    char *text = sms_render (held, job->order, reason, sizeof reason);
    text = sms_footer_add (held, job->order, text, reason, sizeof reason);
    nd_templates_destroy (&held);
    if (!text)
        s_fail (job, "failed", reason);
    return text;
}

//  What the provider said about an order it took: its name and message id.
static void s_taken (sms_gateway_t *self, nd_send_job_t *job, const char *id)
{
    if (job->result.outcome != ND_SEND_DELIVERED)
        return;
    json_object_set_new (job->result.extra, "provider", json_string (self->conf.provider->name));
    if (*id)
        json_object_set_new (job->result.extra, "provider_id", json_string (id));
}

//  Hands message to a provider that is no API (the spool): 1.
static int s_hand_over (sms_gateway_t *self, nd_send_job_t *job, const sms_message_t *message)
{
    char id [80] = "";
    self->conf.provider->send (&self->conf.account, message, &job->result, id, sizeof id);
    s_taken (self, job, id);
    return 1;
}

//  A WhatsApp order (sms_whatsapp.c): a session message or a template,
//  as the check before this try marked it. As s_prepare.
static int s_prepare_whatsapp (sms_gateway_t *self, nd_send_job_t *job, const char *to,
                               sms_request_t *request, nd_http_request_t *http)
{
    char reason [ND_SEND_REASON_MAX];
    sms_whatsapp_t whatsapp;
    nd_templates_t *held = nd_templates_hold (self->conf.templates);
    int rc = sms_whatsapp_render (held, job->order, &whatsapp, reason, sizeof reason);
    nd_templates_destroy (&held);
    if (rc) {
        s_fail (job, "failed", reason);
        sms_whatsapp_clear (&whatsapp);
        return -1;
    }
    job->result.extra = json_pack ("{s:s}", "whatsapp", whatsapp.session ? "session" : "template");
    //  What the spool writes of a template: its name and variables
    char *variables = whatsapp.variables ? json_dumps (whatsapp.variables, JSON_COMPACT) : NULL;
    char *text = whatsapp.session ? strdup (whatsapp.text)
               : zsys_sprintf ("template %s %s", whatsapp.name, variables ? variables : "[]");
    free (variables);
    sms_message_t message = { to, text, job->key, NULL, job->time, &whatsapp };
    if (self->conf.provider->send)
        rc = s_hand_over (self, job, &message);
    else
    if (!self->conf.provider->whatsapp
    ||  (rc = self->conf.provider->whatsapp (&self->conf.account, &message, request, http)) != 0) {
        s_fail (job, "failed", self->conf.provider->whatsapp ? "cannot build the provider request"
                                                            : "the provider offers no WhatsApp");
        rc = -1;
    }
    free (text);
    sms_whatsapp_clear (&whatsapp);
    return rc;
}

//  Renders, counts and checks one order; 0 and its request, 1 when the
//  provider took it without one (the spool), or -1.
static int s_prepare (sms_gateway_t *self, nd_send_job_t *job, sms_request_t *request,
                      nd_http_request_t *http)
{
    const char *to = json_string_value (json_object_get (job->order, "to"));
    if (!sms_phone_valid (to)) {
        s_fail (job, "unreachable", "not an E.164 phone number (+ and 8 to 15 digits)");
        return -1;
    }
    if (self->conf.whatsapp)
        return s_prepare_whatsapp (self, job, to, request, http);
    char *text = s_text (self, job);
    sms_count_t count;
    if (text && (sms_count (text, &count) || !*text)) {
        s_fail (job, "failed", *text ? "the rendered text is not valid UTF-8" : "the rendered text is empty");
        zstr_free (&text);
    }
    if (!text)
        return -1;
    job->result.extra = json_pack ("{s:I, s:s}", "segments", (json_int_t) count.segments,
                                   "encoding", sms_encoding_name (count.encoding));
    int max = s_max_segments (self, job->order);
    if ((int) count.segments > max) {
        char reason [ND_SEND_REASON_MAX];
        snprintf (reason, sizeof reason, "too long: %zu segments (%s, %zu %s), more than the %d "
                  "allowed for this journey", count.segments, sms_encoding_name (count.encoding),
                  count.units, count.encoding == SMS_GSM7 ? "septets" : "UTF-16 units", max);
        s_fail (job, "failed", reason);
        zstr_free (&text);
        return -1;
    }
    sms_message_t message = { to, text, job->key, &count, job->time, NULL };
    const sms_provider_t *provider = self->conf.provider;
    int rc = 1;
    if (provider->send)
        s_hand_over (self, job, &message);
    else
    if ((rc = provider->request (&self->conf.account, &message, request, http)) != 0)
        s_fail (job, "failed", "cannot build the provider request");
    zstr_free (&text);
    return rc;
}

static void s_deliver (void *self_, nd_send_job_t *jobs, size_t count)
{
    sms_gateway_t *self = (sms_gateway_t *) self_;
    nd_http_request_t *http = (nd_http_request_t *) calloc (count, sizeof *http);
    sms_request_t *requests = (sms_request_t *) calloc (count, sizeof *requests);
    size_t *owner = (size_t *) calloc (count, sizeof *owner);
    assert (http && requests && owner);
    size_t ready = 0;
    for (size_t i = 0; i < count; i++)
        if (s_prepare (self, &jobs [i], &requests [ready], &http [ready]) == 0)
            owner [ready++] = i;
        else
            sms_request_clear (&requests [ready]);
    nd_http_perform (self->conf.http, http, ready);
    for (size_t r = 0; r < ready; r++) {
        nd_send_job_t *job = &jobs [owner [r]];
        char id [80] = "";
        self->conf.provider->answer (&http [r], &job->result, id, sizeof id);
        s_taken (self, job, id);
        nd_http_request_reset (&http [r]);
        sms_request_clear (&requests [r]);
    }
    free (owner);
    free (requests);
    free (http);
}

static void s_destroy (void **self_p)
{
    sms_gateway_destroy ((sms_gateway_t **) self_p);
}

const nd_send_provider_t sms_gateway_provider = { "sms", s_deliver, s_destroy };

/* ----------------------------------------------------------- self-test -- */

void sms_gateway_test (bool verbose)
{
    if (verbose)
        printf (" * sms_gateway: ");
    json_t *journeys = json_object ();
    int max = 0;
    assert (sms_gateway_parse_max ("3, abandoned-cart: 2, welcome:4", &max, journeys) == 0);
    assert (max == 3 && json_integer_value (json_object_get (journeys, "abandoned-cart")) == 2
            && json_integer_value (json_object_get (journeys, "welcome")) == 4);
    assert (sms_gateway_parse_max ("abandoned-cart: 2", &max, journeys) == -1);     //  no default
    assert (sms_gateway_parse_max ("3, 4", &max, journeys) == -1);
    assert (sms_gateway_parse_max ("0", &max, journeys) == -1);
    assert (sms_gateway_parse_max ("3, x: y", &max, journeys) == -1);
    sms_gateway_conf_t conf = { .provider = &sms_twilio, .default_max = 3, .journey_max = journeys,
                                .account = { "https://api.example", "AC1", "secret", "+15550001",
                                             NULL, false } };
    sms_gateway_t *gateway = sms_gateway_new (&conf);
    json_t *order = json_pack ("{s:s}", "journey", "abandoned-cart");
    assert (s_max_segments (gateway, order) == 2);
    json_object_set_new (order, "max_segments", json_integer (5));
    assert (s_max_segments (gateway, order) == 5);
    json_object_set_new (order, "journey", json_string ("other"));
    json_object_del (order, "max_segments");
    assert (s_max_segments (gateway, order) == 3);
    json_decref (order);
    sms_gateway_destroy (&gateway);
    sms_gateway_destroy (&gateway);
    if (verbose)
        printf ("OK\n");
}
