/*  push-sender - the push channel: send orders to apps and browsers.

    NAME
        push-sender - deliver nudge's send orders as app pushes (FCM,
        APNs) and Web Push notifications

    SYNOPSIS
        push-sender [--config FILE] [--name NAME] [--clock wall|event]
        push-sender --selftest

    DESCRIPTION
        Reads the scheduler's send orders (topic "send.push") over a
        durable link and keeps each in its outbox (the shared nd_sender)
        under its idempotency key, so an order is delivered once however
        often it arrives. For each it renders the step's templates
        (<templates>/<template>/<locale>/push.{title,body,url,icon,
        image}.mustache; links and pictures only if http(s)) with the
        order's "data" into a JSON notification {title, body, url, icon,
        image, tag, key, journey, step, variant}, encrypts it to the
        subscription's keys (RFC 8291, aes128gcm), signs a VAPID token for
        the push service's origin (RFC 8292) and POSTs it with TTL,
        Urgency and Topic headers (RFC 8030). A batch of orders goes out
        as concurrent requests over kept-alive connections.

        App push: an order's "to" may also carry the person's app tokens,
        "fcm" (Firebase Cloud Messaging's HTTP v1 API, push_fcm.c) and
        "apns" (Apple's APNs over HTTP/2, push_apns.c). They are tried
        first, then the browser's subscription; a token found gone moves
        the order on to the next address (push_service.c), and is
        remembered as dead like a subscription.

        201/202: feedback.delivered. 404/410: feedback.unreachable, and
        the subscription is remembered as dead so later orders for it are
        settled without a request (the scheduler forgets it and falls
        back to SMS or e-mail). 429/5xx/timeouts: retried with exponential
        backoff, not before the service's Retry-After. 413 and other 4xx:
        feedback.failed with the status and the service's words.

        Options (its section of the pipeline file; defaults in brackets):
        input, topics (send.push in the shipped file), vapid-key
        [env:NUDGE_VAPID_PRIVATE_KEY]
        (env:NAME or file:PATH holding the private key as nd-vapid prints
        it, or PEM), vapid-subject (mailto: or https: URL, required),
        vapid-expiry [12h], ttl [1d], urgency [normal], templates
        [conf/templates], locale [en], hosts [the known push services],
        allow-http [no], timeout [30s], per-host [8], tls-ca [the
        system's trust store: a PEM file of the CAs to trust instead],
        event-url [none: the collector's /v1/push/event, as browsers
        reach it; notifications then carry "report", and the
        collector's push.clicked / push.dismissed (input collector,
        topics push.) become feedback.clicked / feedback.dismissed],
        and the outbox's
        retry-base, retry-cap, lifetime, rate, max-inflight, batch,
        connections, keep (nd_sender.h). For app push: fcm-key-file
        (the service account's JSON key; a path, never logged),
        fcm-project [the key's project_id], fcm-base, fcm-token-uri [the
        key's token_uri]; apns-key-file (the .p8 key), apns-key-id,
        apns-team-id, apns-topic (the bundle id), apns-base
        [https://api.push.apple.com]. See push-sender(1).

        With spool = DIR (a dry run: nd-backtest, trying a journey by
        hand), each notification is rendered as above and written to DIR
        as one JSON file (push_spool.c) instead; no VAPID key is needed
        and nothing leaves the host.                                  */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <czmq.h>
#include <openssl/sha.h>
#include "nd_links.h"
#include "nd_token.h"
#include "push.h"

#define s_DEFAULT_HOSTS "fcm.googleapis.com, android.googleapis.com, *.push.services.mozilla.com, " \
                        "*.notify.windows.com, *.push.apple.com"

typedef struct {
    nd_stage_t *stage;
    nd_sender_t *sender;
    nd_templates_t *templates;  //  the provider's: the outbox reloads them
    MDB_dbi dead;               //  sha256 (endpoint) -> i64 when it was found gone
    char public_key [100];
    bool fcm, apns;             //  app push configured
    uint64_t shown, clicked, dismissed;     //  reports since start
} push_sender_t;

/* ------------------------------------------------------------- setup -- */

//  The private key, named by vapid-key: never in the pipeline file, never logged.
static EVP_PKEY *s_vapid_key (nd_stage_t *stage)
{
    const char *name = nd_stage_option (stage, "vapid-key", "env:NUDGE_VAPID_PRIVATE_KEY");
    char reason [200];
    EVP_PKEY *key = nd_p256_load (name, reason, sizeof reason);
    if (!key) {
        char message [300];
        snprintf (message, sizeof message, "%s (make one with nd-vapid)", reason);
        nd_stage_config_error (stage, "vapid-key", message);
    }
    return key;
}

static const char **s_hosts (const char *list)
{
    char *copy = strdup (list), *save = NULL;
    size_t count = 0;
    for (char *p = copy; *p; p++)
        count += *p == ',';
    //  The strings live in the same block, after the pointers
    size_t size = (count + 2) * sizeof (char *) + strlen (list) + 1;
    const char **hosts = (const char **) calloc (1, size);
    char *text = (char *) (hosts + count + 2);
    size_t n = 0;
    for (char *host = strtok_r (copy, ", ", &save); host; host = strtok_r (NULL, ", ", &save)) {
        strcpy (text, host);
        hosts [n++] = text;
        text += strlen (host) + 1;
    }
    free (copy);
    return hosts;
}

//  event-url: where notifications report clicks (the collector's
//  /v1/push/event), with tokens signed by the pipeline's secret.
static int s_report_conf (nd_stage_t *stage, push_report_t *report)
{
    const char *url = nd_stage_option (stage, "event-url", NULL);
    if (!url)
        return 0;
    if (strncmp (url, "https://", 8) && strncmp (url, "http://", 7))
        return nd_stage_config_error (stage, "event-url", "not an http(s) URL, such as "
                                      "https://shop.example/nudge/v1/push/event");
    char reason [200];
    const char *name = nd_stage_option (stage, "unsubscribe-secret", NULL);
    report->secret = name ? nd_secret_load (name, true, reason, sizeof reason) : NULL;
    if (!report->secret)
        return nd_stage_config_error (stage, name ? "unsubscribe-secret" : "event-url", name
                                      ? reason : "needs unsubscribe-secret (in [pipeline]), "
                                      "the secret the collector checks report tokens with");
    report->url = strdup (url);
    return 0;
}

static int s_service_conf (nd_stage_t *stage, push_service_conf_t *conf)
{
    int64_t expiry;
    const char *subject = nd_stage_option (stage, "vapid-subject", NULL);
    const char *allow_http = nd_stage_option (stage, "allow-http", "no");
    const char *hosts = nd_stage_option (stage, "hosts", s_DEFAULT_HOSTS);
    conf->urgency = nd_stage_option (stage, "urgency", "normal");
    if (nd_stage_option_duration (stage, "vapid-expiry", "12h", &expiry)
    ||  nd_stage_option_duration (stage, "ttl", "1d", &conf->ttl_ms))
        return -1;
    if (!subject || (strncmp (subject, "mailto:", 7) && strncmp (subject, "https://", 8)))
        return nd_stage_config_error (stage, "vapid-subject", "required: a mailto: or https: URL "
                                      "where the push service can reach the shop's operator");
    if (expiry < 60000 || expiry > 24 * 3600 * 1000LL)
        return nd_stage_config_error (stage, "vapid-expiry", "between 1m and 24h (RFC 8292)");
    if (conf->ttl_ms < 0 || conf->ttl_ms > 28 * 86400 * 1000LL)
        return nd_stage_config_error (stage, "ttl", "between 0 and 28d");
    if (!streq (conf->urgency, "very-low") && !streq (conf->urgency, "low")
    &&  !streq (conf->urgency, "normal") && !streq (conf->urgency, "high"))
        return nd_stage_config_error (stage, "urgency", "very-low, low, normal or high");
    if (!streq (allow_http, "yes") && !streq (allow_http, "no"))
        return nd_stage_config_error (stage, "allow-http", "yes or no");
    conf->allow_http = streq (allow_http, "yes");
    conf->hosts = streq (hosts, "*") ? NULL : s_hosts (hosts);
    char reason [300];
    if (s_report_conf (stage, &conf->report))
        return -1;
    conf->templates = nd_templates_new (nd_stage_option (stage, "templates", "conf/templates"),
        "push", nd_stage_option (stage, "locale", "en"), reason, sizeof reason);
    if (!conf->templates)
        return nd_stage_config_error (stage, "templates", reason);
    if (nd_links_attach (stage, conf->templates))
        return -1;
    EVP_PKEY *key = s_vapid_key (stage);
    conf->vapid = key ? push_vapid_new (key, subject, expiry) : NULL;
    conf->http = nd_http_configured (stage);
    if (!conf->vapid || !conf->http
    ||  push_fcm_configure (stage, conf->http, conf->allow_http, &conf->fcm)
    ||  push_apns_configure (stage, conf->allow_http, &conf->apns))
        return -1;
    return 0;
}

//  --check: the app push options, their key files read and let go.
static int s_check_config (nd_stage_t *stage)
{
    bool allow_http = streq (nd_stage_option (stage, "allow-http", "no"), "yes");
    push_fcm_t *fcm = NULL;
    push_apns_t *apns = NULL;
    int rc = push_fcm_configure (stage, NULL, allow_http, &fcm)
          | push_apns_configure (stage, allow_http, &apns);
    push_fcm_destroy (&fcm);
    push_apns_destroy (&apns);
    return rc ? -1 : 0;
}

/* ------------------------------------------------------------- hooks -- */

//  sha256 of the web endpoint (as it always was), or of "fcm:" / "apns:"
//  and the app's token.
static void s_dead_key (nd_key_t *key, const char *kind, const char *token)
{
    uint8_t digest [SHA256_DIGEST_LENGTH];
    char *named = streq (kind, "web") ? strdup (token) : zsys_sprintf ("%s:%s", kind, token);
    SHA256 ((const uint8_t *) named, strlen (named), digest);
    free (named);
    nd_key_init (key);
    for (size_t i = 0; i < sizeof digest; i++)
        nd_key_u8 (key, digest [i]);
}

//  An order whose every address was found gone is not tried again.
static int s_check (void *arg, MDB_txn *txn, const json_t *order, int64_t now,
                    nd_send_result_t *result)
{
    (void) now;
    push_sender_t *self = (push_sender_t *) arg;
    push_address_t addresses [PUSH_KINDS];
    size_t count = push_addresses (order, addresses);
    uint64_t since = 0;
    json_t *gone = json_array ();
    for (size_t i = 0; i < count; i++) {
        const char *kind = push_kind_name (addresses [i].kind);
        nd_key_t key;
        s_dead_key (&key, kind, addresses [i].token);
        int rc = nd_db_get_u64 (txn, self->dead, &key, &since);
        if (rc < 0 || rc == ND_NOTFOUND) {
            json_decref (gone);
            return rc < 0 ? -1 : 0;
        }
        json_array_append_new (gone, json_pack ("{s:s}", kind, addresses [i].token));
    }
    if (count == 0) {
        json_decref (gone);
        return 0;
    }
    char stamp [32];
    *result = (nd_send_result_t) { ND_SEND_PERMANENT, "unreachable", "", 0,
                                   json_pack ("{s:o}", "gone", gone) };
    snprintf (result->reason, sizeof result->reason, "every push address was found gone, the "
              "last at %s", nd_time_format ((int64_t) since, stamp));
    return 1;
}

//  What the walk found gone (push_service.c) is remembered.
static int s_settled (void *arg, MDB_txn *txn, const json_t *order, const nd_send_result_t *result,
                      const char *topic, json_t *feedback)
{
    (void) feedback;
    push_sender_t *self = (push_sender_t *) arg;
    json_t *gone = json_object_get (result->extra, "gone");
    json_t *old = NULL;
    push_address_t addresses [PUSH_KINDS];
    size_t count = push_addresses (order, addresses);
    //  Settled without a walk: the subscription it named is what is gone
    if (!gone && streq (topic, "unreachable") && count && addresses [count - 1].kind == PUSH_WEB)
        gone = old = json_pack ("[{s:s}]", "web", addresses [count - 1].token);
    size_t index;
    json_t *entry;
    int rc = 0;
    json_array_foreach (gone, index, entry) {
        const char *kind;
        json_t *token;
        json_object_foreach (entry, kind, token) {
            nd_key_t key;
            s_dead_key (&key, kind, json_string_value (token) ? json_string_value (token) : "");
            if (rc == 0)
                rc = nd_db_put_u64 (txn, self->dead, &key, (uint64_t) nd_stage_now (self->stage));
        }
    }
    json_decref (old);
    return rc;
}

/* ------------------------------------------------------------- stage -- */

//  The dry run: templates and a directory; no key, nothing leaves the host.
//  The Web Push options stay accepted, unused, so turning spool on or off
//  is one line in the pipeline file.
static int s_spool (nd_stage_t *stage, push_sender_t *self, const char *dir,
                    const nd_send_provider_t **provider, void **provider_self)
{
    const char *unused [] = { "vapid-key", "vapid-subject", "vapid-expiry", "ttl", "urgency",
                              "hosts", "allow-http", "timeout", "per-host", "tls-ca",
                              "event-url", "fcm-project", "fcm-key-file", "fcm-base",
                              "fcm-token-uri", "apns-key-file", "apns-key-id", "apns-team-id",
                              "apns-topic", "apns-base", NULL };
    for (size_t i = 0; unused [i]; i++)
        nd_stage_option (stage, unused [i], NULL);
    char reason [300];
    nd_templates_t *templates = nd_templates_new (nd_stage_option (stage, "templates",
        "conf/templates"), "push", nd_stage_option (stage, "locale", "en"), reason, sizeof reason);
    if (!templates)
        return nd_stage_config_error (stage, "templates", reason);
    self->templates = templates;
    push_spool_t *spool = push_spool_new (templates, dir, nd_stage_syncs (stage), reason,
                                          sizeof reason);
    if (!spool)
        return nd_stage_config_error (stage, "spool", reason);
    nd_log ("spool set: notifications go to %s, not to push services", dir);
    *provider = &push_spool_provider;
    *provider_self = spool;
    return 0;
}

static int s_webpush (nd_stage_t *stage, push_sender_t *self,
                      const nd_send_provider_t **provider, void **provider_self)
{
    push_service_conf_t conf = { 0 };
    int rc = s_service_conf (stage, &conf);
    if (rc == 0) {
        snprintf (self->public_key, sizeof self->public_key, "%s", push_vapid_public (conf.vapid));
        nd_log ("VAPID public key (the page's applicationServerKey): %s", self->public_key);
        self->fcm = conf.fcm != NULL;
        self->apns = conf.apns != NULL;
    }
    //  The service takes conf's parts; what it did not take is freed here
    self->templates = conf.templates;
    push_service_t *service = rc == 0 ? push_service_new (&conf) : NULL;
    nd_templates_destroy (&conf.templates);
    push_vapid_destroy (&conf.vapid);
    nd_http_destroy (&conf.http);
    push_fcm_destroy (&conf.fcm);
    push_apns_destroy (&conf.apns);
    free (conf.hosts);
    free (conf.report.url);
    free (conf.report.secret);
    *provider = &push_service_provider;
    *provider_self = service;
    return service ? 0 : -1;
}

static int s_setup (nd_stage_t *stage, MDB_txn *txn, void **self_p, nd_sender_t **sender_p)
{
    push_sender_t *self = (push_sender_t *) calloc (1, sizeof *self);
    self->stage = stage;
    const char *spool = nd_stage_option (stage, "spool", NULL);
    const nd_send_provider_t *provider = NULL;
    void *provider_self = NULL;
    int rc = spool ? s_spool (stage, self, spool, &provider, &provider_self)
                   : s_webpush (stage, self, &provider, &provider_self);
    if (rc == 0 && nd_db_open (txn, "push.dead", &self->dead) == 0) {
        nd_send_hooks_t hooks = { s_check, s_settled, self };
        self->sender = nd_sender_new (stage, txn, provider, provider_self, &hooks);
        if (self->sender)
            nd_sender_reloads (self->sender, self->templates);
    }
    else
    if (provider && provider->destroy)
        provider->destroy (&provider_self);
    if (!self->sender) {
        free (self);
        return -1;
    }
    *self_p = self;
    *sender_p = self->sender;
    return 0;
}

//  A push order's "to" is the subscription object; the outbox keeps the
//  order as it came. (Orders queued by older versions carry the object
//  in "subscription", which push_subscription still reads.)
//  What the shop's service worker reported through the collector (its
//  token checked there): a click is feedback.clicked for the scheduler,
//  which credits the message; a dismissal feedback.dismissed, counted;
//  "shown" is only counted here (delivered was said already).
static int s_report (push_sender_t *self, MDB_txn *txn, const nd_msg_t *msg)
{
    const char *action = msg->topic + strlen ("push.");
    const char *key = json_string_value (json_object_get (msg->body, "idempotency_key"));
    const char *user = json_string_value (json_object_get (msg->body, "user"));
    const char *id = json_string_value (json_object_get (msg->body, "id"));
    if (!key || !user) {
        nd_stage_reject (self->stage, msg, "push report without idempotency_key or user");
        return -1;
    }
    if (streq (action, "shown")) {
        self->shown++;
        return 0;
    }
    if (!streq (action, "clicked") && !streq (action, "dismissed"))
        return 0;               //  a report of a later kit: not ours to judge
    json_t *feedback = json_pack ("{s:s, s:s, s:s}", "user", user, "idempotency_key", key,
                                  "channel", "push");
    if (id)
        json_object_set_new (feedback, "id", json_sprintf ("%s#%s", id, action));
    char topic [32];
    snprintf (topic, sizeof topic, "feedback.%s", action);
    int rc = nd_emit (self->stage, txn, topic, feedback);
    json_decref (feedback);
    if (rc == 0)
        (*(streq (action, "clicked") ? &self->clicked : &self->dismissed))++;
    return rc;
}

static int s_apply (nd_stage_t *stage, void *self_, MDB_txn *txn, const nd_msg_t *msg)
{
    push_sender_t *self = (push_sender_t *) self_;
    if (strncmp (msg->topic, "push.", 5) == 0)
        return s_report (self, txn, msg);
    //  person.erased: what waits for them goes (a subscription lives only in orders)
    if (streq (msg->topic, "person.erased")) {
        const char *user = json_string_value (json_object_get (msg->body, "user"));
        return !user || nd_sender_forget (self->sender, txn, user) >= 0 ? 0 : -1;
    }
    //  At least one address that could be one; the rest is the walk's to judge
    push_address_t addresses [PUSH_KINDS];
    size_t count = push_addresses (msg->body, addresses);
    bool usable = false;
    for (size_t i = 0; i < count && !usable; i++) {
        char origin [256];
        usable = addresses [i].kind == PUSH_WEB
               ? nd_http_origin (addresses [i].token, origin, sizeof origin) == 0
               : push_token_valid (addresses [i].kind, addresses [i].token);
    }
    if (!usable) {
        nd_stage_reject (stage, msg, "no app token (fcm, apns) or push subscription with an "
                         "endpoint URL in \"to\"");
        return -1;
    }
    return nd_sender_apply (self->sender, txn, msg);
}

static void s_stats (void *self_, MDB_txn *txn, json_t *stats)
{
    push_sender_t *self = (push_sender_t *) self_;
    MDB_stat dead = { 0 };
    if (txn)
        mdb_stat (txn, self->dead, &dead);
    json_object_set_new (stats, "push", json_pack ("{s:s, s:{s:b, s:b}, s:I, s:{s:I, s:I, s:I}}",
        "vapid_public_key", self->public_key, "app", "fcm", self->fcm, "apns", self->apns,
        "dead_subscriptions", (json_int_t) dead.ms_entries,
        "reports", "shown", (json_int_t) self->shown, "clicked", (json_int_t) self->clicked,
        "dismissed", (json_int_t) self->dismissed));
}

static void s_selftest (bool verbose)
{
    push_ece_test (verbose);
    push_jwt_test (verbose);
    push_vapid_test (verbose);
    push_fcm_test (verbose);
    push_apns_test (verbose);
    push_service_test (verbose);
    push_spool_test (verbose);
    nd_http_test (verbose);
    nd_templates_test (verbose);
}

int main (int argc, char **argv)
{
    nd_sender_def_t def = {
        .name = "push-sender",
        .summary = "Delivers send orders as app pushes (FCM, APNs) and Web Push notifications "
                   "(RFC 8030, 8291, 8292).",
        .check = s_check_config,
        .selftest = s_selftest,
        .setup = s_setup,
        .apply = s_apply,
        .reloads = "templates",
        .templates = "push",
        .stats = s_stats,
    };
    return nd_sender_main (argc, argv, &def);
}
