/*  sms-sender - the SMS channel: send orders to an SMS provider's API.

    NAME
        sms-sender - deliver nudge's send orders as text messages

    SYNOPSIS
        sms-sender [--config FILE] [--name NAME] [--clock wall|event]
        sms-sender --selftest

    DESCRIPTION
        Reads the scheduler's send orders (topic "send.sms") over a
        durable link into its outbox (the shared nd_sender), keyed by
        idempotency key so each is sent once. For each it renders
        <templates>/<template>/<locale>/sms.text.mustache with the
        order's "data", counts the text (GSM-7, or UCS-2 as soon as one
        character needs it; 160/153 or 70/67 per segment), refuses it
        when it needs more segments than its journey allows, and sends
        it through a Twilio-style or Infobip-style API over libcurl,
        many at once; with no provider configured, into files in a
        local spool directory instead (sms_spool.c), as `make run` does. Feedback to the scheduler carries "segments" and
        "encoding": delivered (the provider took it), failed (with the
        reason), unreachable (not a valid or reachable number) or
        unsubscribed (the number has opted out).

        People answer texts. With "http" set it serves the provider's
        webhooks: an inbound STOP (STOPALL, UNSUBSCRIBE, CANCEL, END,
        QUIT ...) is stored as an opt-out before the provider hears 200,
        and feedback.unsubscribed (channel "sms") goes to the scheduler
        for every person who had that number; from then on no order is
        sent to it, from any journey, even one already queued. START
        (YES, UNSTOP) lifts it and sends feedback.resubscribed; HELP is
        answered with help-text where the API allows a reply. Any other
        text goes out as sms.received for the chat-bridge, which reads
        this stage and sends operators' answers back as send.sms orders
        (sms_inbound.c, chat-bridge(1)). Delivery
        receipts that report a failure become feedback.failed (or
        unreachable / unsubscribed) for the order they name.

        Before each try, an order naming the person's time zone ("tz",
        or "tz" / "timezone" in its data) is held while it is night
        there (quiet-hours), as a last guard. The outbox limits the
        rate to the provider ("rate", messages per second).

        Options (its section of the pipeline file; defaults in brackets):
        input, topics [send.sms in the shipped file], provider [spool |
        twilio | infobip], spool [var/sms], api-base [the provider's],
        account (Twilio Account SID), secret [env:NUDGE_SMS_SECRET]
        (Auth Token or API key: env:NAME or file:PATH; not for the
        spool), from (number, sender ID or Twilio "MG..." service;
        optional for the spool), templates [conf/templates], locale [en],
        max-segments [3] ("3, abandoned-cart: 2" for per-journey
        limits), quiet-hours [21:00-09:00], zoneinfo
        [/usr/share/zoneinfo], http (webhook address, e.g.
        127.0.0.1:8090), webhook-url (the public URL the provider calls),
        webhook-token (env:/file:; then every webhook URL carries
        ?token=; required with infobip, or "none"), help-text, receipt-window [3d], timeout [30s],
        per-host [8], tls-ca [the system's trust store: a PEM file of
        the CAs to trust instead], and the outbox's retry-base, retry-cap, lifetime,
        rate, max-inflight, batch, connections, keep (nd_sender.h).
        See sms-sender(1).                                              */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>
#include <czmq.h>
#include <openssl/crypto.h>
#include "nd_token.h"
#include "nd_links.h"
#include "sms.h"

typedef struct {
    nd_stage_t *stage;
    nd_sender_t *sender;
    sms_gateway_t *gateway;     //  owned by the sender once it runs
    nd_templates_t *templates;  //  the gateway's: the outbox reloads them
    sms_webhook_t *webhook;
    sms_quiet_t *quiet;
    int64_t receipt_window;
    MDB_dbi optout;             //  phone -> u64 when they said STOP
    MDB_dbi users;              //  phone, user -> u64 last order
    MDB_dbi sent;               //  key -> the delivered order's names, for its receipt
    MDB_dbi sent_ids;           //  provider's message id -> key
    MDB_dbi sent_time;          //  i64 time, key -> "" (pruning)
    MDB_dbi footers;            //  number's keyed hash -> u64 when it got the STOP footer
    bool footer;                //  stop-footer: the first text to a number says how to stop
    bool whatsapp;              //  channel = whatsapp (sms_whatsapp.c)
    const char *channel;        //  "sms" or "whatsapp", in feedback
    MDB_dbi seen;               //  whatsapp: phone -> u64 their last message (the session)
    uint64_t receipts_delivered, receipts_failed, receipts_unknown;
    char *secret;               //  unsubscribe-secret: erased numbers' STOPs by hash
} sms_sender_t;

/* ------------------------------------------------------------- state -- */

static void s_text_key (nd_key_t *key, const char *text)
{
    nd_key_init (key);
    nd_key_str (key, text);
}

static int s_opted_out (sms_sender_t *self, MDB_txn *txn, const char *phone, uint64_t *since)
{
    nd_key_t key;
    s_text_key (&key, phone);
    int rc = nd_db_get_u64 (txn, self->optout, &key, since);
    return rc == ND_NOTFOUND ? sms_erase_opted_out (txn, self->optout, self->secret, phone, since)
                             : rc;
}

//  Stores an opt-out unless one stands already (its first time is kept).
static int s_optout_put (sms_sender_t *self, MDB_txn *txn, const char *phone)
{
    nd_key_t key;
    uint64_t since;
    s_text_key (&key, phone);
    int rc = s_opted_out (self, txn, phone, &since);
    return rc == ND_NOTFOUND ? nd_db_put_u64 (txn, self->optout, &key,
                                              (uint64_t) nd_stage_now (self->stage)) : rc;
}

static int s_remember_user (sms_sender_t *self, MDB_txn *txn, const char *phone, const char *user)
{
    nd_key_t key;
    s_text_key (&key, phone);
    nd_key_str (&key, user);
    return nd_db_put_u64 (txn, self->users, &key, (uint64_t) nd_stage_now (self->stage));
}

//  A delivered order's names, kept for its delivery receipt.
static int s_sent_put (sms_sender_t *self, MDB_txn *txn, const json_t *feedback, const char *phone)
{
    const char *order_key = json_string_value (json_object_get (feedback, "idempotency_key"));
    const char *id = json_string_value (json_object_get (feedback, "provider_id"));
    json_t *record = json_deep_copy (feedback);
    json_object_set_new (record, "phone", json_string (phone));
    json_object_del (record, "id");
    json_object_del (record, "time");
    nd_key_t key, by_id, stamp;
    s_text_key (&key, order_key);
    nd_key_init (&stamp);
    nd_key_i64 (&stamp, nd_stage_now (self->stage));
    nd_key_str (&stamp, order_key);
    int rc = nd_db_put_json (txn, self->sent, &key, record)
          || nd_db_put_raw (txn, self->sent_time, &stamp, "", 0) ? -1 : 0;
    if (rc == 0 && id && *id) {
        s_text_key (&by_id, id);
        rc = nd_db_put_raw (txn, self->sent_ids, &by_id, order_key, strlen (order_key) + 1);
    }
    json_decref (record);
    return rc;
}

/* ------------------------------------------------------------- hooks -- */

static const char *s_zone (const json_t *order)
{
    const json_t *data = json_object_get (order, "data");
    const char *zone = json_string_value (json_object_get (order, "tz"));
    zone = zone ? zone : json_string_value (json_object_get (data, "tz"));
    return zone ? zone : json_string_value (json_object_get (data, "timezone"));
}

//  Before each try: a bad number, an opt-out, the person's night.
static int s_check (void *arg, MDB_txn *txn, const json_t *order, int64_t now,
                    nd_send_result_t *result)
{
    sms_sender_t *self = (sms_sender_t *) arg;
    const char *phone = json_string_value (json_object_get (order, "to"));
    uint64_t since;
    *result = (nd_send_result_t) { ND_SEND_PERMANENT, "", "", 0, NULL };
    //  WhatsApp: free text only within 24 h of their last message, else
    //  a template; decided at each try, as a retry may cross the line.
    //  The order is the outbox's copy for this try, handed on to the gateway.
    int session = self->whatsapp && phone ? sms_whatsapp_session (txn, self->seen, phone, now) : 0;
    if (session < 0)
        return -1;
    if (self->whatsapp)
        json_object_set_new ((json_t *) order, "whatsapp_session", json_boolean (session));
    if (!sms_phone_valid (phone)) {
        snprintf (result->topic, sizeof result->topic, "unreachable");
        snprintf (result->reason, sizeof result->reason, "not an E.164 phone number");
        return 1;
    }
    int rc = s_opted_out (self, txn, phone, &since);
    if (rc < 0)
        return -1;
    if (rc == 0) {
        char stamp [32];
        snprintf (result->topic, sizeof result->topic, "unsubscribed");
        snprintf (result->reason, sizeof result->reason, "the number opted out (STOP) at %s",
                  nd_time_format ((int64_t) since, stamp));
        return 1;
    }
    const char *zone = s_zone (order);
    int64_t wait = zone ? sms_quiet_wait (self->quiet, zone, now) : 0;
    if (wait <= 0)
        return 0;
    *result = (nd_send_result_t) { ND_SEND_RETRY, "", "", wait, NULL };
    snprintf (result->reason, sizeof result->reason, "quiet hours in %.60s: held %lld min",
              zone, (long long) (wait / 60000));
    return 1;
}

static int s_settled (void *arg, MDB_txn *txn, const json_t *order, const nd_send_result_t *result,
                      const char *topic, json_t *feedback)
{
    (void) result;
    sms_sender_t *self = (sms_sender_t *) arg;
    const char *phone = json_string_value (json_object_get (order, "to"));
    if (!phone)
        return 0;
    if (streq (topic, "delivered"))
        return s_sent_put (self, txn, feedback, phone);
    if (sms_footer_unmark (txn, self->footers, self->secret, order))
        return -1;
    if (streq (topic, "unsubscribed") && sms_phone_valid (phone))
        return s_optout_put (self, txn, phone);
    return 0;
}

/* ---------------------------------------------------------- webhooks -- */

typedef struct {
    sms_sender_t *self;
    MDB_txn *txn;
    const char *phone;
    const char *topic;
    const char *reason;
    size_t told;
} s_tell_t;

static int s_tell_one (s_tell_t *tell, const char *user)
{
    json_t *body = json_pack ("{s:s, s:s, s:s, s:s}", "user", user, "channel", tell->self->channel,
                              "phone", tell->phone, "reason", tell->reason);
    int rc = nd_emit (tell->self->stage, tell->txn, tell->topic, body);
    json_decref (body);
    tell->told++;
    return rc;
}

static int s_tell_user (const MDB_val *key, const MDB_val *data, void *arg)
{
    (void) data;
    s_tell_t *tell = (s_tell_t *) arg;
    return s_tell_one (tell, (const char *) key->mv_data + strlen (tell->phone) + 1) ? -1 : 0;
}

//  Tells the scheduler about everyone known to have this number.
static int s_tell (sms_sender_t *self, MDB_txn *txn, const char *phone, const char *topic,
                   const char *reason)
{
    s_tell_t tell = { self, txn, phone, topic, reason, 0 };
    nd_key_t prefix;
    s_text_key (&prefix, phone);
    int rc = nd_db_scan (txn, self->users, &prefix, s_tell_user, &tell);
    if (rc == 0 && tell.told == 0)
        rc = s_tell_one (&tell, "");        //  nobody we sent to: the phone alone
    return rc ? -1 : 0;
}

//  STOP and START: the opt-out here first, then the scheduler's.
static int s_consent (sms_sender_t *self, MDB_txn *txn, const sms_event_t *event)
{
    sms_keyword_t keyword = sms_keyword (event->text);
    if (keyword != SMS_KEYWORD_STOP && keyword != SMS_KEYWORD_START)
        return 0;
    char masked [32], reason [96];
    sms_phone_mask (event->phone, masked, sizeof masked);
    if (!sms_phone_valid (event->phone)) {
        nd_log ("webhook: a %s from %s, not an E.164 number: ignored",
                keyword == SMS_KEYWORD_STOP ? "STOP" : "START", masked);
        return 0;
    }
    uint64_t since;
    int was = s_opted_out (self, txn, event->phone, &since);
    nd_key_t key;
    s_text_key (&key, event->phone);
    snprintf (reason, sizeof reason, "replied \"%.40s\"", event->text);
    if (was < 0)
        return -1;
    if (keyword == SMS_KEYWORD_STOP && was == ND_NOTFOUND) {
        nd_log ("opt-out: %s replied STOP: no more %s to it", masked,
                self->whatsapp ? "WhatsApp" : "SMS");
        return s_optout_put (self, txn, event->phone)
            || s_tell (self, txn, event->phone, "feedback.unsubscribed", reason) ? -1 : 0;
    }
    if (keyword == SMS_KEYWORD_START && was == 0) {
        nd_log ("opt-in: %s replied START: %s allowed again", masked,
                self->whatsapp ? "WhatsApp" : "SMS");
        return nd_db_del (txn, self->optout, &key) < 0
            || s_tell (self, txn, event->phone, "feedback.resubscribed", reason) ? -1 : 0;
    }
    return 0;                   //  no change: a provider's retry, or said twice
}

//  The order a receipt is about, by our key or the provider's id.
static json_t *s_sent_find (sms_sender_t *self, MDB_txn *txn, const sms_event_t *event)
{
    nd_key_t key;
    json_t *record = NULL;
    if (*event->key) {
        s_text_key (&key, event->key);
        if (nd_db_get_json (txn, self->sent, &key, &record) == 0)
            return record;
    }
    MDB_val k, v;
    s_text_key (&key, event->message_id);
    k = nd_key_val (&key);
    if (!*event->message_id || mdb_get (txn, self->sent_ids, &k, &v) || !v.mv_size)
        return NULL;
    s_text_key (&key, (const char *) v.mv_data);
    return nd_db_get_json (txn, self->sent, &key, &record) == 0 ? record : NULL;
}

static int s_receipt (sms_sender_t *self, MDB_txn *txn, const sms_event_t *event)
{
    if (!*event->outcome)
        return 0;               //  queued, sent: not the end yet
    json_t *record = s_sent_find (self, txn, event);
    if (!record) {
        self->receipts_unknown++;
        return 0;               //  long pruned, or a second receipt for one message
    }
    const char *order_key = json_string_value (json_object_get (record, "idempotency_key"));
    nd_key_t key;
    s_text_key (&key, order_key);
    int rc = nd_db_del (txn, self->sent, &key) < 0 ? -1 : 0;
    if (streq (event->outcome, "delivered"))
        self->receipts_delivered++;         //  the scheduler heard "delivered" already
    else {
        self->receipts_failed++;
        char topic [48], id [460];
        snprintf (topic, sizeof topic, "feedback.%s", event->outcome);
        snprintf (id, sizeof id, "%s#receipt", order_key);
        json_object_set_new (record, "id", json_string (id));
        json_object_set_new (record, "reason", json_string (event->reason));
        const char *phone = json_string_value (json_object_get (record, "phone"));
        if (rc == 0 && phone && streq (event->outcome, "unsubscribed"))
            rc = s_optout_put (self, txn, phone);
        json_object_del (record, "phone");
        if (rc == 0)
            rc = nd_emit (self->stage, txn, topic, record);
    }
    json_decref (record);
    return rc;
}

static int s_event (void *arg, MDB_txn *txn, void *event_)
{
    sms_sender_t *self = (sms_sender_t *) arg;
    const sms_event_t *event = (const sms_event_t *) event_;
    if (event->kind != SMS_EVENT_INBOUND)
        return s_receipt (self, txn, event);
    //  WhatsApp: any message from them opens a 24 h session
    if (self->whatsapp && sms_phone_valid (event->phone)
    &&  sms_whatsapp_seen (txn, self->seen, event->phone, nd_stage_now (self->stage)))
        return -1;
    //  A question or an answer, not a keyword: for the chat-bridge
    if (sms_keyword (event->text) == SMS_KEYWORD_NONE)
        return sms_inbound_emit (self->stage, txn, self->users, sms_gateway_api (self->gateway)->name,
                                 event);
    return s_consent (self, txn, event);
}

/* ------------------------------------------------------------- setup -- */

//  Before the outbox's workers stop: the webhook's threads read the
//  gateway's account, which goes with them.
static void s_stop (void *self_)
{
    sms_webhook_destroy (&((sms_sender_t *) self_)->webhook);
}

static void s_teardown (void **self_p)
{
    sms_sender_t *self = (sms_sender_t *) *self_p;
    if (!self)
        return;
    sms_quiet_destroy (&self->quiet);
    free (self->secret);
    free (self);
    *self_p = NULL;
}

//  A secret named env:NAME or file:PATH; NULL (after logging) if unreadable.
static char *s_secret (nd_stage_t *stage, const char *path, const char *fallback)
{
    const char *name = nd_stage_option (stage, path, fallback);
    if (!name)
        return NULL;
    char reason [200];
    char *secret = nd_secret_load (name, false, reason, sizeof reason);
    if (!secret)
        nd_stage_config_error (stage, path, reason);
    return secret;
}

static int s_gateway_conf (nd_stage_t *stage, sms_gateway_conf_t *conf, const char *token)
{
    const char *provider = nd_stage_option (stage, "provider", "spool");
    const char *url = nd_stage_option (stage, "webhook-url", NULL);
    sms_account_t *account = &conf->account;
    conf->provider = sms_provider_find (provider);
    if (!conf->provider)
        return nd_stage_config_error (stage, "provider", "twilio, infobip or spool");
    if (conf->whatsapp && conf->provider->request && !conf->provider->whatsapp)
        return nd_stage_config_error (stage, "provider", "offers no WhatsApp");
    bool api = conf->provider->request != NULL;         //  not the local spool
    account->base = nd_stage_option (stage, api ? "api-base" : "spool", conf->provider->default_base);
    account->sync = nd_stage_syncs (stage);
    account->account = nd_stage_option (stage, "account", NULL);
    account->from = nd_stage_option (stage, "from", NULL);
    if (api && !account->from)
        return nd_stage_config_error (stage, "from", "required: the sender number or ID");
    if (conf->provider == &sms_twilio && !account->account)
        return nd_stage_config_error (stage, "account", "required: the Twilio Account SID");
    if (api && strncmp (account->base, "https://", 8) && strncmp (account->base, "http://", 7))
        return nd_stage_config_error (stage, "api-base", "not an http(s):// URL");
    if (api && !(account->secret = s_secret (stage, "secret", "env:NUDGE_SMS_SECRET")))
        return -1;
    if (url && strncmp (url, "https://", 8) && strncmp (url, "http://", 7))
        return nd_stage_config_error (stage, "webhook-url", "not an http(s):// URL");
    conf->journey_max = json_object ();
    if (sms_gateway_parse_max (nd_stage_option (stage, "max-segments", "3"), &conf->default_max,
                               conf->journey_max))
        return nd_stage_config_error (stage, "max-segments", "a number, then \"journey: number\" "
                                      "pairs, e.g. \"3, abandoned-cart: 2\"");
    char reason [300];
    conf->templates = nd_templates_new (nd_stage_option (stage, "templates", "conf/templates"),
        conf->whatsapp ? "whatsapp" : "sms", nd_stage_option (stage, "locale", "en"), reason,
        sizeof reason);
    if (!conf->templates)
        return nd_stage_config_error (stage, "templates", reason);
    if (nd_links_attach (stage, conf->templates))
        return -1;
    if (url)
        account->status_url = zsys_sprintf ("%s/sms/status%s%s", url, token ? "?token=" : "",
                                            token ? token : "");
    if (conf->provider->open && conf->provider->open (account, reason, sizeof reason))
        return nd_stage_config_error (stage, api ? "api-base" : "spool", reason);
    conf->http = nd_http_configured (stage);
    return conf->http ? 0 : -1;
}

static int s_open (sms_sender_t *self, MDB_txn *txn)
{
    return nd_db_open (txn, "sms.optout", &self->optout)
        || nd_db_open (txn, "sms.users", &self->users)
        || nd_db_open (txn, "sms.sent", &self->sent)
        || nd_db_open (txn, "sms.sent.ids", &self->sent_ids)
        || nd_db_open (txn, "sms.sent.time", &self->sent_time)
        || nd_db_open (txn, "sms.footer", &self->footers)
        || nd_db_open (txn, "whatsapp.seen", &self->seen) ? -1 : 0;
}

//  channel: sms (the default) or whatsapp; -1 after saying so.
static int s_channel (nd_stage_t *stage, bool *whatsapp)
{
    const char *channel = nd_stage_option (stage, "channel", "sms");
    *whatsapp = streq (channel, "whatsapp");
    return *whatsapp || streq (channel, "sms") ? 0
         : nd_stage_config_error (stage, "channel", "sms or whatsapp");
}

static int s_options (sms_sender_t *self, nd_stage_t *stage)
{
    if (s_channel (stage, &self->whatsapp))
        return -1;
    self->channel = self->whatsapp ? "whatsapp" : "sms";
    const char *hours = nd_stage_option (stage, "quiet-hours", "21:00-09:00");
    self->quiet = sms_quiet_new (nd_stage_option (stage, "zoneinfo", "/usr/share/zoneinfo"), hours);
    if (!self->quiet)
        return nd_stage_config_error (stage, "quiet-hours", "expected HH:MM-HH:MM, e.g. 21:00-09:00");
    const char *secret = nd_stage_option (stage, "unsubscribe-secret", NULL);
    char reason [200];
    if (secret && !(self->secret = nd_secret_load (secret, true, reason, sizeof reason)))
        return nd_stage_config_error (stage, "unsubscribe-secret", reason);
    //  WhatsApp's approved templates carry their own opt-out wording
    self->footer = !self->whatsapp && !streq (nd_stage_option (stage, "stop-footer", "yes"), "no");
    if (self->footer && !self->secret)
        nd_log ("no unsubscribe-secret: the STOP footer goes on every marketing text, "
                "not on the first to a number only");
    return nd_stage_option_duration (stage, "receipt-window", "3d", &self->receipt_window);
}

static void s_conf_free (sms_gateway_conf_t *conf)
{
    nd_templates_destroy (&conf->templates);
    nd_http_destroy (&conf->http);
    json_decref (conf->journey_max);
    free ((char *) conf->account.status_url);
    if (conf->account.secret)
        OPENSSL_cleanse ((char *) conf->account.secret, strlen (conf->account.secret));
    free ((char *) conf->account.secret);
}

static int s_webhook (sms_sender_t *self, nd_stage_t *stage, const char *token)
{
    const char *address = nd_stage_option (stage, "http", NULL);
    const char *url = nd_stage_option (stage, "webhook-url", NULL);
    const char *help = nd_stage_option (stage, "help-text", NULL);
    if (!address) {
        nd_log ("no http address: no inbound STOP and no delivery receipts (webhooks off)");
        return 0;
    }
    self->webhook = sms_webhook_new (stage, address, sms_gateway_api (self->gateway),
                                     sms_gateway_account (self->gateway), url, token, help);
    return self->webhook ? 0 : nd_stage_config_error (stage, "http", "cannot serve webhooks there");
}

//  A webhook that carries neither a signature nor the token would take
//  anyone's STOP or receipt: Infobip signs nothing, so it needs the token,
//  or the operator's explicit "webhook-token = none", said at every start.
static bool s_hooks_guarded (nd_stage_t *stage, const char *token_name)
{
    const char *provider = nd_stage_option (stage, "provider", "spool");
    if (!nd_stage_option (stage, "http", NULL))
        return true;            //  no webhooks at all
    if (token_name && streq (token_name, "none")) {
        nd_log ("webhooks take unauthenticated requests (webhook-token = none): "
                "anyone who reaches %s can opt numbers out", nd_stage_option (stage, "http", NULL));
        return true;
    }
    if (!token_name && streq (provider, "infobip")) {
        nd_stage_config_error (stage, "webhook-token", "Infobip's webhooks carry no signature: "
                               "set webhook-token (env:NAME or file:PATH) and give Infobip "
                               "URLs with ?token=, or webhook-token = none to take anyone's");
        return false;
    }
    if (!token_name && streq (provider, "spool"))
        nd_log ("webhooks take unauthenticated requests (no provider, no webhook-token): "
                "for trying STOP and HELP by hand, not for a public address");
    return true;
}

static int s_setup (nd_stage_t *stage, MDB_txn *txn, void **self_p, nd_sender_t **sender_p)
{
    sms_sender_t *self = (sms_sender_t *) calloc (1, sizeof *self);
    sms_gateway_conf_t conf = { 0 };
    *self_p = self;             //  torn down, with the outbox, even if we fail
    self->stage = stage;
    const char *token_name = nd_stage_option (stage, "webhook-token", NULL);
    bool open_hooks = token_name && streq (token_name, "none");
    char *token = token_name && !open_hooks ? s_secret (stage, "webhook-token", NULL) : NULL;
    bool token_ok = (token || !token_name || open_hooks) && s_hooks_guarded (stage, token_name);
    int rc = token_ok && s_options (self, stage) == 0 && s_open (self, txn) == 0 ? 0 : -1;
    conf.whatsapp = self->whatsapp;
    rc = rc == 0 && s_gateway_conf (stage, &conf, token) == 0 ? 0 : -1;
    self->templates = conf.templates;
    char reason [200];
    if (rc == 0 && self->footer && sms_footer_check (conf.templates, reason, sizeof reason))
        rc = nd_stage_config_error (stage, "stop-footer", reason);
    self->gateway = rc == 0 ? sms_gateway_new (&conf) : NULL;
    s_conf_free (&conf);
    nd_send_hooks_t hooks = { s_check, s_settled, self };
    if (self->gateway)
        *sender_p = self->sender = nd_sender_new (stage, txn, &sms_gateway_provider,
                                                  self->gateway, &hooks);
    if (self->sender)
        nd_sender_reloads (self->sender, self->templates);
    bool ready = self->sender && s_webhook (self, stage, token) == 0;
    if (token) {
        OPENSSL_cleanse (token, strlen (token));
        free (token);
    }
    return ready ? 0 : -1;
}

/* ------------------------------------------------------------- stage -- */

static int s_apply (nd_stage_t *stage, void *self_, MDB_txn *txn, const nd_msg_t *msg)
{
    sms_sender_t *self = (sms_sender_t *) self_;
    const char *phone = json_string_value (json_object_get (msg->body, "to"));
    const char *user = json_string_value (json_object_get (msg->body, "user"));
    if (streq (msg->topic, "person.erased"))
        return !user || (nd_sender_forget (self->sender, txn, user) >= 0
                         && sms_erase (txn, self->secret, user) == 0) ? 0 : -1;
    int rc = self->footer ? sms_footer_mark (txn, self->footers, self->secret, msg->body,
                                             nd_stage_now (stage)) : 0;
    rc = rc ? rc : nd_sender_apply (self->sender, txn, msg);
    if (rc && self->footer)     //  not accepted: the footer was not given
        sms_footer_unmark (txn, self->footers, self->secret, msg->body);
    //  Who has this number, so a STOP reaches every one of them
    if (rc == 0 && user && *user && sms_phone_valid (phone))
        rc = s_remember_user (self, txn, phone, user);
    return rc;
}

//  Receipts are kept receipt-window, then forgotten.
static int s_prune (sms_sender_t *self, MDB_txn *txn, int64_t now)
{
    MDB_cursor *cursor;
    int rc = mdb_cursor_open (txn, self->sent_time, &cursor);
    if (rc)
        return nd_db_error (rc, "sms prune");
    MDB_val k, v;
    for (int n = 0; n < 1000 && (rc = mdb_cursor_get (cursor, &k, &v, MDB_FIRST)) == 0; n++) {
        if (nd_key_get_i64 (&k, 0) > now - self->receipt_window)
            break;
        nd_key_t key;
        s_text_key (&key, (const char *) k.mv_data + 8);
        rc = mdb_cursor_del (cursor, 0);
        if (rc || nd_db_del (txn, self->sent, &key) < 0)
            break;
    }
    mdb_cursor_close (cursor);
    return rc && rc != MDB_NOTFOUND ? nd_db_error (rc, "sms prune") : 0;
}

static int s_timers (nd_stage_t *stage, void *self_, MDB_txn *txn, int64_t now)
{
    (void) stage;
    return s_prune ((sms_sender_t *) self_, txn, now);
}

//  Inbound webhooks: STOP, START, HELP and delivery receipts.
static int s_drain (nd_stage_t *stage, void *self_, MDB_txn *txn)
{
    (void) stage;
    sms_sender_t *self = (sms_sender_t *) self_;
    return self->webhook ? sms_webhook_drain (self->webhook, txn, s_event, self) : 0;
}

static void s_committed (nd_stage_t *stage, void *self_, int rc)
{
    (void) stage;
    sms_sender_t *self = (sms_sender_t *) self_;
    if (self->webhook)
        sms_webhook_committed (self->webhook, rc);
}

static void s_stats (void *self_, MDB_txn *txn, json_t *stats)
{
    sms_sender_t *self = (sms_sender_t *) self_;
    MDB_stat optout = { 0 }, waiting = { 0 };
    if (txn) {
        mdb_stat (txn, self->optout, &optout);
        mdb_stat (txn, self->sent, &waiting);
    }
    json_object_set_new (stats, "sms", json_pack ("{s:s, s:I, s:I, s:{s:I, s:I, s:I}}",
        "provider", sms_gateway_api (self->gateway)->name,
        "opted_out", (json_int_t) optout.ms_entries,
        "awaiting_receipt", (json_int_t) waiting.ms_entries, "receipts",
        "delivered", (json_int_t) self->receipts_delivered,
        "failed", (json_int_t) self->receipts_failed,
        "unknown", (json_int_t) self->receipts_unknown));
    if (self->webhook)
        sms_webhook_stats (self->webhook, stats);
}

//  --check, beside the templates the runtime checks: the footer's, which
//  a start would refuse without.
static int s_check_config (nd_stage_t *stage)
{
    bool whatsapp;
    if (s_channel (stage, &whatsapp))
        return -1;
    if (whatsapp || streq (nd_stage_option (stage, "stop-footer", "yes"), "no"))
        return 0;
    char reason [300];
    nd_templates_t *templates = nd_templates_new (nd_stage_option (stage, "templates", "conf/templates"),
        "sms", nd_stage_option (stage, "locale", "en"), reason, sizeof reason);
    if (!templates)
        return 0;               //  the runtime's check of the templates says why
    int rc = sms_footer_check (templates, reason, sizeof reason)
           ? nd_stage_config_error (stage, "stop-footer", reason) : 0;
    nd_templates_destroy (&templates);
    return rc;
}

static void s_selftest (bool verbose)
{
    sms_text_test (verbose);
    sms_providers_test (verbose);
    sms_gateway_test (verbose);
    sms_quiet_test (verbose);
    sms_footer_test (verbose);
    sms_whatsapp_test (verbose);
}

int main (int argc, char **argv)
{
    nd_sender_def_t def = {
        .name = "sms-sender",
        .summary = "Delivers send orders as SMS (Twilio-style, Infobip-style, or a local spool); handles STOP.",
        .selftest = s_selftest,
        .setup = s_setup,
        .apply = s_apply,
        .timers = s_timers,
        .source_drain = s_drain,
        .source_committed = s_committed,
        .reloads = "templates",
        .templates = "sms",
        .check = s_check_config,
        .stats = s_stats,
        .stop = s_stop,
        .teardown = s_teardown,
    };
    return nd_sender_main (argc, argv, &def);
}
