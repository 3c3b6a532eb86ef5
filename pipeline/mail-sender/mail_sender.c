/*  mail-sender - nudge's e-mail: send orders in, real messages out.

NAME
    mail-sender - deliver send.email orders over SMTP, with feedback

SYNOPSIS
    mail-sender [--config FILE] [--name NAME] [--clock wall|event]
                [--notify-fd N]
    mail-sender --selftest

DESCRIPTION
    Reads the scheduler's send orders (topic send.email) over a durable
    link and turns each into a complete e-mail: the order's template
    (conf/templates/<template>/<locale>/email.*.mustache, falling back to
    the language and then the default locale) rendered with the order's
    data, as multipart/alternative text and HTML in UTF-8, quoted-
    printable, with RFC 2047 encoded Subject and display names, a Date, a
    Message-ID made from the idempotency key (the same on every retry),
    RFC 8058 one-click List-Unsubscribe headers carrying a signed token,
    and a DKIM signature when a key is configured.

    Messages go to the SMTP relay named by "relay" through libesmtp:
    STARTTLS (required or opportunistic) or implicit TLS, AUTH, timeouts,
    one connection for each batch of messages, "connections" of them at
    once, at most "rate" messages a second. Without a relay they are
    written to a Maildir (var/mail/new), which is what `make run` does.

    The outbox is the runtime's (nd_sender): an order is stored under its
    idempotency key and never sent twice; it is marked in flight and that
    is committed before the relay sees it; a 4xx answer or a dropped
    connection is tried again with exponential backoff for up to
    "lifetime" (2 days), then reported as feedback.failed; a 5xx answer is
    feedback.bounced and the address is suppressed; an accepted message is
    feedback.delivered. Feedback goes to the scheduler on this stage's
    output.

    Unsubscribes: the collector's POST /unsubscribe?token=... emits topic
    "unsubscribe" ({"user", "channel"}); this stage reads it (input
    collector, topics unsubscribe), suppresses the person and the address
    it last mailed them at, and emits feedback.unsubscribed so that the
    scheduler opts them out of e-mail. Orders for a suppressed person or
    address, queued or new, are answered with feedback.unsubscribed or
    feedback.bounced and never sent.

    Late bounces and complaints: with "return-path", each message's
    envelope sender carries a signed token naming it (mail_verp.c); the
    MTA hands what comes back to nd-bounce, which posts it to
    "bounce-intake" (mail_intake.c): the address is suppressed and
    feedback.bounced or feedback.complained emitted, once committed.

    After kill -9 only the messages in flight at that moment (at most
    max-inflight, default 100) can reach a person twice: the relay may
    have taken them before their result was committed. The log names how
    many were put back.

    Options (its section of the pipeline file; see mail-sender(1)):
    relay, tls, tls-ca, tls-verify, user, password, timeout, helo,
    maildir, mbox, from, reply-to, return-path, message-id-domain, templates,
    locale, unsubscribe-url, unsubscribe-mailto, unsubscribe-secret,
    dkim-key, dkim-selector, dkim-domain, bounce-intake, bounce-keep;
    and the outbox's rate,
    connections, batch, max-inflight, retry-base, retry-cap, lifetime,
    keep.                                                                */
#include "mail.h"

typedef struct {
    nd_stage_t *stage;
    mail_composer_t *composer;
    mail_suppress_t *suppress;
    mail_intake_t *intake;      //  bounces and complaints after the session
    nd_sender_t *sender;
    const char *provider;       //  "smtp", "maildir" or "mbox", for STATS
} mail_sender_t;

/* --------------------------------------------------------------- hooks */

//  Before every try: a person who unsubscribed or an address that
//  bounced since the order was queued is not mailed.
static int s_check (void *arg, MDB_txn *txn, const json_t *order, int64_t now,
                    nd_send_result_t *result)
{
    (void) now;
    mail_sender_t *self = (mail_sender_t *) arg;
    int rc = mail_suppress_check (self->suppress, txn,
                                  json_string_value (json_object_get (order, "user")),
                                  json_string_value (json_object_get (order, "to")),
                                  result->topic, result->reason, sizeof result->reason);
    if (rc == 1)
        result->outcome = ND_SEND_PERMANENT;
    return rc;
}

//  A hard bounce about the address itself suppresses it.
static int s_settled (void *arg, MDB_txn *txn, const json_t *order,
                      const nd_send_result_t *result, const char *topic, json_t *feedback)
{
    (void) result;
    mail_sender_t *self = (mail_sender_t *) arg;
    const char *address = json_string_value (json_object_get (order, "to"));
    char known [ND_SEND_TOPIC_MAX], reason [200];
    if (!streq (topic, "bounced") || !json_is_true (json_object_get (feedback, "suppressed"))
    ||  mail_suppress_check (self->suppress, txn, NULL, address, known, reason, sizeof reason))
        return 0;
    return mail_suppress_address (self->suppress, txn, address, "bounced",
                                  nd_stage_now (self->stage));
}

/* --------------------------------------------------------------- setup */

static int s_setup (nd_stage_t *stage, MDB_txn *txn, void **self_p, nd_sender_t **sender_p)
{
    mail_sender_t *self = (mail_sender_t *) zmalloc (sizeof *self);
    *self_p = self;             //  torn down by the runtime even if we fail
    self->stage = stage;
    if (!(self->composer = mail_composer_new (stage))
    ||  !(self->suppress = mail_suppress_new (stage, txn))
    ||  !(self->intake = mail_intake_new (stage, txn, self->suppress)))
        return -1;
    //  The other provider's options are known too: switching between the
    //  relay and the Maildir is then one line in the pipeline file
    const char *options [] = { "tls", "tls-ca", "tls-verify", "user", "password", "timeout",
                               "helo", "maildir", "mbox", NULL };
    for (int i = 0; options [i]; i++)
        nd_stage_option (stage, options [i], NULL);
    bool relay = nd_stage_option (stage, "relay", NULL) != NULL;
    bool mbox = !relay && nd_stage_option (stage, "mbox", NULL) != NULL;
    const nd_send_provider_t *provider = relay ? &mail_smtp_provider
                                       : mbox ? &mail_mbox_provider : &mail_maildir_provider;
    void *provider_self = relay ? mail_smtp_new (stage, self->composer)
                        : mbox ? mail_mbox_new (stage, self->composer)
                               : mail_maildir_new (stage, self->composer);
    if (!provider_self)
        return -1;
    self->provider = provider->name;
    nd_send_hooks_t hooks = { s_check, s_settled, self };
    *sender_p = self->sender = nd_sender_new (stage, txn, provider, provider_self, &hooks);
    return self->sender ? 0 : -1;
}

static void s_teardown (void **self_p)
{
    mail_sender_t *self = (mail_sender_t *) *self_p;
    if (self) {
        mail_intake_destroy (&self->intake);
        mail_suppress_destroy (&self->suppress);
        mail_composer_destroy (&self->composer);
        free (self);
        *self_p = NULL;
    }
}

/* --------------------------------------------------------------- input */

//  The collector verified a one-click unsubscribe: suppress the person
//  and their last address, and tell the scheduler.
static int s_unsubscribe (mail_sender_t *self, MDB_txn *txn, const nd_msg_t *msg)
{
    const char *user = json_string_value (json_object_get (msg->body, "user"));
    const char *channel = json_string_value (json_object_get (msg->body, "channel"));
    if (!user || !*user || !channel) {
        nd_stage_reject (self->stage, msg, "unsubscribe without user or channel");
        return -1;
    }
    if (!streq (channel, "email") && !streq (channel, "all"))
        return 0;
    int64_t now = nd_stage_now (self->stage);
    char address [256];
    int rc = mail_suppress_user (self->suppress, txn, user, "unsubscribed", now);
    int found = rc ? -1 : mail_suppress_last_address (self->suppress, txn, user, address,
                                                      sizeof address);
    if (found == 0)
        rc = mail_suppress_address (self->suppress, txn, address, "unsubscribed", now);
    const char *id = json_string_value (json_object_get (msg->body, "id"));
    json_t *feedback = json_pack ("{s:s, s:s, s:s, s:s}", "user", user, "channel", "email",
        "reason", "unsubscribed with the link in an e-mail", "via",
        json_string_value (json_object_get (msg->body, "via")) ?: "link");
    if (id)
        json_object_set_new (feedback, "id", json_sprintf ("%s#unsubscribed", id));
    if (rc == 0 && found >= 0)
        rc = nd_emit (self->stage, txn, "feedback.unsubscribed", feedback);
    json_decref (feedback);
    if (rc == 0)
        nd_log ("%s unsubscribed from e-mail", user);
    return rc ? -1 : 0;
}

static int s_apply (nd_stage_t *stage, void *self_, MDB_txn *txn, const nd_msg_t *msg)
{
    mail_sender_t *self = (mail_sender_t *) self_;
    if (streq (msg->topic, "unsubscribe"))
        return s_unsubscribe (self, txn, msg);
    const char *user = json_string_value (json_object_get (msg->body, "user"));
    if (streq (msg->topic, "person.erased"))
        return !user || (nd_sender_forget (self->sender, txn, user) >= 0
                         && mail_suppress_forget (self->suppress, txn, user) == 0
                         && mail_intake_forget (self->intake, txn, user) == 0) ? 0 : -1;
    if (!streq (msg->topic, "send.email")) {
        nd_stage_reject (stage, msg, "not a send.email order (check \"topics\")");
        return -1;
    }
    const char *to = json_string_value (json_object_get (msg->body, "to"));
    if (user && to && mime_address_ok (to)
    &&  (mail_suppress_remember (self->suppress, txn, user, to)
         || mail_intake_remember (self->intake, txn, msg->body)))
        return -1;
    return nd_sender_apply (self->sender, txn, msg);
}

/* ------------------------------------------------------------- the loop */

//  Bounce reports taken by the intake go into the stage's transaction.
static int s_drain (nd_stage_t *stage, void *self_, MDB_txn *txn)
{
    (void) stage;
    return mail_intake_drain (((mail_sender_t *) self_)->intake, txn);
}

static void s_committed (nd_stage_t *stage, void *self_, int rc)
{
    (void) stage;
    mail_intake_committed (((mail_sender_t *) self_)->intake, rc);
}

/* ------------------------------------------------------- reload, stats */

//  Between batches; a worker building a message meanwhile finishes with
//  the old templates.
static int s_reload (nd_stage_t *stage, void *self_, char *what, size_t size)
{
    (void) stage;
    return mail_composer_reload (((mail_sender_t *) self_)->composer, what, size);
}

static void s_stats (void *self_, MDB_txn *txn, json_t *stats)
{
    mail_sender_t *self = (mail_sender_t *) self_;
    mail_intake_stats (self->intake, stats);
    if (txn)
        json_object_set_new (stats, "suppressed",
                             json_integer ((json_int_t) mail_suppress_size (self->suppress, txn)));
    json_object_set_new (stats, "provider", json_string (self->provider));
}

static void s_selftest (bool verbose)
{
    mime_test (verbose);
    mail_dkim_test (verbose);
    mail_verp_test (verbose);
    mail_maildir_test (verbose);
}

int main (int argc, char **argv)
{
    const nd_sender_def_t def = {
        .name = "mail-sender",
        .summary = "Delivers send.email orders over SMTP (or into a Maildir), with feedback.",
        .selftest = s_selftest,
        .setup = s_setup,
        .apply = s_apply,
        .source_drain = s_drain,
        .source_committed = s_committed,
        .reload = s_reload,
        .reloads = "templates",
        .templates = "email",
        .stats = s_stats,
        .teardown = s_teardown
    };
    return nd_sender_main (argc, argv, &def);
}
