/*  chat_talk - conversations, transcripts, and who answers them.

    A conversation starts with a shopper's first message. If an operator
    is available - one who said "online", or one in "auto" (the default)
    while the business hours are open - every channel gets a note with
    the visitor's summary and the message, and the conversation goes on
    until an operator or the shopper ends it, or nothing is said in it
    for idle-timeout. If nobody is available the shopper is told the
    answer comes by e-mail: with an address the question goes to
    support-mailbox as a send.email order for the mail-sender, Reply-To
    the shopper, and the conversation ends; without one the shopper is
    asked for it first.

    Whose address: anyone can send another shopper's anonymousId or
    userId, so the profile's address is used only when the widget proves
    the userId - the shop's page gives it HMAC-SHA256 (identity-secret,
    userId) in hex, as Intercom's user_hash - and even then the shopper
    is not shown it ("the address we have for you"). Any other
    conversation is unverified: only an address typed in it is used, and
    operators see the summary marked so. Nothing a chat answer carries
    comes from the profile.

    Beyond max-support-mails in a period the questions wait for one
    digest mail when the period is over (chat_mail.c). max-conversations
    and the rates: chat_limits.c.

    Every change and what it causes - lines, chat.started, chat.message,
    chat.ended, send.email, notes for operators - commits in one
    transaction; the databases are listed in chat_talk.h.

    Layer: engine, the talk's top: the class (options, channels, stats),
    each event from the inbox to the file that does it, and the timers.
    Calls every file of the talk's (chat_talk.h names them, by layer);
    chat_bridge.c calls it.                                              */
#include <assert.h>
#include <openssl/crypto.h>
#include "nd_token.h"
#include "chat_talk.h"

int chat_talk_apply (void *self_, MDB_txn *txn, void *event_)
{
    chat_talk_t *self = (chat_talk_t *) self_;
    chat_event_t *event = (chat_event_t *) event_;
    char name [80];
    if ((event->kind == CHAT_SHOPPER_SAY || event->kind == CHAT_SHOPPER_END) && talk_limited (self, event))
        return 0;
    switch (event->kind) {
        case CHAT_SHOPPER_SAY:       return talk_shopper_say (self, txn, event);
        case CHAT_SHOPPER_END:       return talk_shopper_end (self, txn, event);
        case CHAT_OPERATOR_SAY:      return talk_operator_say (self, txn, event);
        case CHAT_OPERATOR_END:      return talk_operator_end (self, txn, event);
        case CHAT_OPERATOR_PRESENCE: return talk_presence (self, txn, event);
        case CHAT_OPERATOR_LIST:     return talk_operator_list (self, txn, event);
        case CHAT_OPERATOR_SHOW:     return talk_operator_show (self, txn, event);
        case CHAT_NOTE_SENT:         return talk_note_sent (self, txn, event);
        case CHAT_CURSOR:
            snprintf (name, sizeof name, "cursor/%s", event->channel ? event->channel : "");
            return talk_counter_set (self, txn, name, event->number);
    }
    return 0;
}

uint64_t chat_talk_cursor (chat_talk_t *self, MDB_txn *txn, const char *channel)
{
    char name [80];
    uint64_t value = 0;
    snprintf (name, sizeof name, "cursor/%s", channel);
    talk_counter (self, txn, name, &value);
    return value;
}

/* -------------------------------------------------------------- timers */

int chat_talk_timers (chat_talk_t *self, MDB_txn *txn, int64_t now)
{
    MDB_cursor *cursor;
    int rc = mdb_cursor_open (txn, self->idle, &cursor);
    if (rc)
        return nd_db_error (rc, "idle");
    MDB_val key, data;
    zlist_t *due = zlist_new ();
    zlist_autofree (due);
    for (rc = mdb_cursor_get (cursor, &key, &data, MDB_FIRST); rc == 0 && key.mv_size > 9;
         rc = mdb_cursor_get (cursor, &key, &data, MDB_NEXT)) {
        if (nd_key_get_i64 (&key, 0) > now)
            break;
        char id [48];
        snprintf (id, sizeof id, "%.*s", (int) (key.mv_size - 9), (const char *) key.mv_data + 8);
        zlist_append (due, id);
    }
    mdb_cursor_close (cursor);
    rc = 0;
    for (const char *id = (const char *) zlist_first (due); id && rc == 0;
         id = (const char *) zlist_next (due)) {
        json_t *record = talk_load (self, txn, id);
        if (record && !streq (talk_str (record, "state"), "ended"))
            rc = talk_end (self, txn, record, "idle", self->text_ended);
        json_decref (record);
    }
    zlist_destroy (&due);
    return rc ? rc : talk_digest_send (self, txn, now);
}

/* --------------------------------------------------------------- class */

int chat_talk_check_sms (nd_stage_t *stage, int64_t *timeout)
{
    if (nd_stage_option_duration (stage, "sms-idle-timeout", "24h", timeout))
        return -1;
    return *timeout > 0 ? 0 : nd_stage_config_error (stage, "sms-idle-timeout",
                                                     "must be longer than 0");
}

static int s_options (chat_talk_t *self, nd_stage_t *stage)
{
    char reason [300];
    const char *hours = nd_stage_option (stage, "hours", "always");
    const char *zone = nd_stage_option (stage, "timezone", "UTC");
    if (!(self->hours = chat_hours_new (hours, zone, reason, sizeof reason)))
        return nd_stage_config_error (stage, strstr (reason, "zone in") ? "timezone" : "hours", reason);
    const char *support = nd_stage_option (stage, "support-mailbox", NULL);
    if (!support || !chat_email_ok (support))
        return nd_stage_config_error (stage, "support-mailbox",
                                      "want the address questions go to when nobody is online");
    self->support = strdup (support);
    if (nd_stage_option_duration (stage, "idle-timeout", "30m", &self->idle_timeout))
        return -1;
    if (self->idle_timeout <= 0)
        return nd_stage_config_error (stage, "idle-timeout", "must be longer than 0");
    if (chat_talk_check_sms (stage, &self->sms_idle_timeout))
        return -1;
    const char *identity = nd_stage_option (stage, "identity-secret", NULL);
    if (identity && !(self->identity_secret = nd_secret_load (identity, false, reason, sizeof reason)))
        return nd_stage_config_error (stage, "identity-secret", reason);
    if (self->identity_secret && strlen (self->identity_secret) < 16)
        return nd_stage_config_error (stage, "identity-secret",
                                      "want at least 16 characters (openssl rand -hex 32 makes one)");
    if (!self->identity_secret)
        nd_log ("no identity-secret: every chat is unverified, so no profile's address is used");
    const char *email = nd_stage_option (stage, "text-email",
        "Nobody is online right now. We will answer by e-mail at %s.");
    const char *percent = strchr (email, '%');
    if (percent && (percent [1] != 's' || strchr (percent + 2, '%')))
        return nd_stage_config_error (stage, "text-email", "may hold one %s (the address), nothing else with %");
    self->text_email = strdup (email);
    const char *known = nd_stage_option (stage, "text-email-known",
        "Nobody is online right now. We will answer by e-mail at the address we have for you.");
    if (strchr (known, '%'))
        return nd_stage_config_error (stage, "text-email-known",
                                      "may hold no % (the address is never shown)");
    self->text_email_known = strdup (known);
    self->text_ask = strdup (nd_stage_option (stage, "text-ask-email",
        "Nobody is online right now. Leave your e-mail address and we will answer by e-mail."));
    self->text_ended = strdup (nd_stage_option (stage, "text-ended", "The chat has ended."));
    return 0;
}

chat_talk_t *chat_talk_new (nd_stage_t *stage, MDB_txn *txn, chat_people_t *people,
                            chat_limits_t *limits)
{
    chat_talk_t *self = (chat_talk_t *) zmalloc (sizeof *self);
    self->stage = stage;
    self->people = people;
    self->limits = limits;
    self->pending = zlist_new ();
    if (nd_db_open (txn, "conversations", &self->conversations) || nd_db_open (txn, "open", &self->open)
    ||  nd_db_open (txn, "lines", &self->lines) || nd_db_open (txn, "seen", &self->seen)
    ||  nd_db_open (txn, "idle", &self->idle) || nd_db_open (txn, "notes", &self->notes)
    ||  nd_db_open (txn, "presence", &self->presence) || nd_db_open (txn, "counters", &self->counters)
    ||  nd_db_open (txn, "digest", &self->digest)
    ||  !(self->sms = chat_sms_new (txn))
    ||  s_options (self, stage))
        chat_talk_destroy (&self);
    return self;
}

void chat_talk_destroy (chat_talk_t **self_p)
{
    chat_talk_t *self = *self_p;
    if (self) {
        talk_note_t *note;
        while ((note = (talk_note_t *) zlist_pop (self->pending)))
            talk_note_free (&note);
        zlist_destroy (&self->pending);
        chat_hours_destroy (&self->hours);
        chat_sms_destroy (&self->sms);
        free (self->support);
        free (self->text_email);
        free (self->text_email_known);
        if (self->identity_secret) {
            OPENSSL_cleanse (self->identity_secret, strlen (self->identity_secret));
            free (self->identity_secret);
        }
        free (self->text_ask);
        free (self->text_ended);
        free (self);
        *self_p = NULL;
    }
}

void chat_talk_add_channel (chat_talk_t *self, const chat_channel_t *channel, void *instance)
{
    assert (self->channel_count < TALK_CHANNELS_MAX);
    self->channels [self->channel_count++] = (talk_channel_t) { channel, instance };
}

void chat_talk_stats (chat_talk_t *self, json_t *stats)
{
    MDB_txn *txn;
    json_t *talk = json_pack ("{s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
        "started_since_start", (json_int_t) self->started,
        "messages_since_start", (json_int_t) self->messages,
        "texts_since_start", (json_int_t) self->texts,
        "emailed_since_start", (json_int_t) self->emailed,
        "digested_since_start", (json_int_t) self->digested,
        "verified_since_start", (json_int_t) self->verified,
        "wrong_hash_since_start", (json_int_t) self->unverified_hash);
    if (mdb_txn_begin (nd_stage_env (self->stage), NULL, MDB_RDONLY, &txn) == 0) {
        MDB_stat stat;
        if (mdb_stat (txn, self->open, &stat) == 0)
            json_object_set_new (talk, "open", json_integer ((json_int_t) stat.ms_entries));
        if (mdb_stat (txn, self->conversations, &stat) == 0)
            json_object_set_new (talk, "conversations", json_integer ((json_int_t) stat.ms_entries));
        if (mdb_stat (txn, self->digest, &stat) == 0)
            json_object_set_new (talk, "digest_waiting", json_integer ((json_int_t) stat.ms_entries));
        if (mdb_stat (txn, self->notes, &stat) == 0)
            json_object_set_new (talk, "notes_unconfirmed", json_integer ((json_int_t) stat.ms_entries));
        json_object_set_new (talk, "people", json_integer (
            (json_int_t) chat_people_count (self->people, txn)));
        json_object_set_new (talk, "available", json_boolean (talk_available (self, txn)));
        mdb_txn_abort (txn);
    }
    json_object_set_new (stats, "chat", talk);
}
