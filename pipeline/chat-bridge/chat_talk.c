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

    Beyond max-support-mails in a period the questions wait in the
    digest database and go as one mail when the period is over (the
    digest's timer, in the counters; the entries, the timer and the order
    commit together). max-conversations and the rates: chat_limits.c.

    Every change and what it causes - lines, chat.started, chat.message,
    chat.ended, send.email, notes for operators - commits in one
    transaction. Databases:
        conversations   id -> {id, user, anonymousId, userId, token, state,
                        started, lines, idle_due, email, name}
        open            id -> "" while a conversation is open
        lines           id, u64 seq -> {seq, from, name, text, time}
        seen            id, client id -> "" (a widget's retry is not a new line)
        idle            i64 due, id -> "": the idle timers
        notes           channel, u64 number -> {conversation, text}: not yet
                        confirmed by a durable channel
        presence        operator -> {state, since}
        digest          u64 number -> {conversation, reply_to, reply_to_name,
                        about, said, summary}: questions over max-support-mails
        counters        "conversation", "note", "cursor/<channel>",
                        "digest", "digest-due" (ms; 0: none waits) -> u64  */
#include <assert.h>
#include <ctype.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include "nd_json.h"
#include "nd_token.h"
#include "chat.h"

#define s_CHANNELS_MAX 4
#define s_SHOW_LINES 30
#define s_DIGEST_MAX 200            //  questions in one digest mail
#define s_DIGEST_SAID_MAX 2000      //  bytes of one question in it

void chat_event_clear (chat_event_t *event)
{
    char **fields [] = { &event->conversation, &event->token, &event->anonymous_id,
                         &event->user_id, &event->user_hash, &event->client, &event->text, &event->email, &event->client_id,
                         &event->channel, &event->operator, &event->operator_name,
                         &event->answer };
    for (size_t i = 0; i < sizeof fields / sizeof *fields; i++) {
        free (*fields [i]);
        *fields [i] = NULL;
    }
}

char *chat_strdup (const char *text)
{
    return text ? strdup (text) : NULL;
}

typedef struct {
    const chat_channel_t *channel;
    void *instance;
} s_channel_t;

typedef struct {
    uint64_t number;
    char *conversation;
    char *text;
    const chat_channel_t *only;     //  NULL: every channel
} s_note_t;

struct _chat_talk_t {
    nd_stage_t *stage;
    chat_people_t *people;
    chat_limits_t *limits;
    chat_hours_t *hours;
    chat_sms_t *sms;            //  which conversation a phone number has
    MDB_dbi conversations, open, lines, seen, idle, notes, presence, counters, digest;
    char *support;              //  the support mailbox
    int64_t idle_timeout;
    int64_t sms_idle_timeout;   //  a conversation by SMS: people answer later
    char *identity_secret;      //  NULL: every conversation is unverified
    char *text_email;           //  what the shopper is told
    char *text_email_known;
    char *text_ask;
    char *text_ended;
    s_channel_t channels [s_CHANNELS_MAX];
    size_t channel_count;
    zlist_t *pending;           //  notes made in the open transaction
    bool fresh;                 //  lines added in the open transaction
    uint64_t started, emailed, digested, messages, verified, unverified_hash, texts;
};

/* ------------------------------------------------------------ helpers */

static json_t *s_parse (const MDB_val *data)
{
    return nd_json_parse ((const char *) data->mv_data, data->mv_size, NULL, 0);
}

static int s_counter (chat_talk_t *self, MDB_txn *txn, const char *name, uint64_t *value)
{
    nd_key_t key;
    nd_key_init (&key);
    nd_key_str (&key, name);
    *value = 0;
    return nd_db_get_u64 (txn, self->counters, &key, value) < 0 ? -1 : 0;
}

static int s_counter_set (chat_talk_t *self, MDB_txn *txn, const char *name, uint64_t value)
{
    nd_key_t key;
    nd_key_init (&key);
    nd_key_str (&key, name);
    return nd_db_put_u64 (txn, self->counters, &key, value);
}

//  The next number of a counter, stored.
static int s_next (chat_talk_t *self, MDB_txn *txn, const char *name, uint64_t *value)
{
    if (s_counter (self, txn, name, value))
        return -1;
    (*value)++;
    return s_counter_set (self, txn, name, *value);
}

static void s_id_key (nd_key_t *key, const char *conversation)
{
    nd_key_init (key);
    nd_key_str (key, conversation);
}

static json_t *s_load (chat_talk_t *self, MDB_txn *txn, const char *conversation)
{
    if (!conversation || strlen (conversation) > 40)
        return NULL;
    nd_key_t key;
    s_id_key (&key, conversation);
    json_t *record = NULL;
    if (nd_db_get_json (txn, self->conversations, &key, &record) || !json_is_object (record)) {
        json_decref (record);
        return NULL;
    }
    return record;
}

static int s_store (chat_talk_t *self, MDB_txn *txn, json_t *record)
{
    nd_key_t key;
    s_id_key (&key, json_string_value (json_object_get (record, "id")));
    return nd_db_put_json (txn, self->conversations, &key, record);
}

static const char *s_str (const json_t *record, const char *field)
{
    return json_string_value (json_object_get (record, field));
}

static bool s_token_ok (const json_t *record, const char *token)
{
    const char *known = s_str (record, "token");
    return known && token && strlen (known) == strlen (token)
        && CRYPTO_memcmp (known, token, strlen (known)) == 0;
}

static void s_answer (chat_event_t *event, int status, json_t *answer)
{
    event->status = status;
    free (event->answer);
    event->answer = json_dumps (answer, JSON_COMPACT);
    json_decref (answer);
}

static void s_reply (chat_event_t *event, const char *format, ...) __attribute__ ((format (printf, 2, 3)));
static void s_reply (chat_event_t *event, const char *format, ...)
{
    va_list args;
    va_start (args, format);
    free (event->answer);
    event->answer = zsys_vprintf (format, args);
    va_end (args);
}

/* -------------------------------------------------------------- notes */

//  A note for the operators: kept in LMDB for durable channels until
//  they confirm it, handed to every channel after the commit.
static int s_note (chat_talk_t *self, MDB_txn *txn, const char *conversation, const char *text)
{
    uint64_t number;
    if (self->channel_count == 0)
        return 0;
    if (s_next (self, txn, "note", &number))
        return -1;
    json_t *note = json_pack ("{s:s, s:s}", "conversation", conversation, "text", text);
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < self->channel_count; i++)
        if (self->channels [i].channel->durable) {
            nd_key_t key;
            nd_key_init (&key);
            nd_key_str (&key, self->channels [i].channel->name);
            nd_key_u64 (&key, number);
            rc = nd_db_put_json (txn, self->notes, &key, note);
        }
    json_decref (note);
    if (rc == 0) {
        s_note_t *pending = (s_note_t *) zmalloc (sizeof *pending);
        pending->number = number;
        pending->conversation = strdup (conversation);
        pending->text = strdup (text);
        zlist_append (self->pending, pending);
    }
    return rc;
}

static void s_note_free (s_note_t **note_p)
{
    s_note_t *note = *note_p;
    if (note) {
        free (note->conversation);
        free (note->text);
        free (note);
        *note_p = NULL;
    }
}

bool chat_talk_committed (chat_talk_t *self, int rc)
{
    s_note_t *note;
    while ((note = (s_note_t *) zlist_pop (self->pending))) {
        for (size_t i = 0; rc == 0 && i < self->channel_count; i++)
            if (!note->only || note->only == self->channels [i].channel)
                self->channels [i].channel->deliver (self->channels [i].instance, note->number,
                                                     note->conversation, note->text);
        s_note_free (&note);
    }
    bool fresh = self->fresh;
    self->fresh = false;
    return rc == 0 && fresh;
}

typedef struct {
    chat_talk_t *self;
    const chat_channel_t *channel;
} s_resend_t;

static int s_resend_one (const MDB_val *key, const MDB_val *data, void *arg)
{
    s_resend_t *resend = (s_resend_t *) arg;
    json_t *note = s_parse (data);
    if (json_is_object (note)) {
        s_note_t *pending = (s_note_t *) zmalloc (sizeof *pending);
        pending->number = nd_key_get_u64 (key, key->mv_size - 8);
        pending->conversation = strdup (s_str (note, "conversation") ?: "");
        pending->text = strdup (s_str (note, "text") ?: "");
        pending->only = resend->channel;
        zlist_append (resend->self->pending, pending);
    }
    json_decref (note);
    return 0;
}

int chat_talk_resend (chat_talk_t *self, MDB_txn *txn)
{
    for (size_t i = 0; i < self->channel_count; i++) {
        if (!self->channels [i].channel->durable)
            continue;
        nd_key_t prefix;
        nd_key_init (&prefix);
        nd_key_str (&prefix, self->channels [i].channel->name);
        s_resend_t resend = { self, self->channels [i].channel };
        if (nd_db_scan (txn, self->notes, &prefix, s_resend_one, &resend) < 0)
            return -1;
    }
    if (zlist_size (self->pending))
        nd_log ("%zu note%s for operators not yet confirmed: sending again",
                zlist_size (self->pending), zlist_size (self->pending) == 1 ? "" : "s");
    //  They are on disk already: no commit to wait for
    chat_talk_committed (self, 0);
    return 0;
}

/* ----------------------------------------------------------- presence */

typedef struct {
    bool hours_open;
    bool available;
    size_t durable_seen;        //  durable channels with an entry of their own
    chat_talk_t *self;
} s_presence_t;

static int s_presence_one (const MDB_val *key, const MDB_val *data, void *arg)
{
    s_presence_t *presence = (s_presence_t *) arg;
    json_t *entry = s_parse (data);
    const char *state = s_str (entry, "state") ?: "auto";
    if (streq (state, "online") || (streq (state, "auto") && presence->hours_open))
        presence->available = true;
    for (size_t i = 0; i < presence->self->channel_count; i++)
        if (presence->self->channels [i].channel->durable
        &&  key->mv_size == strlen (presence->self->channels [i].channel->name) + 1
        &&  memcmp (key->mv_data, presence->self->channels [i].channel->name, key->mv_size) == 0)
            presence->durable_seen++;
    json_decref (entry);
    return 0;
}

//  Someone answers now: an operator who said online, or one in auto
//  (every channel's default) while the hours are open.
static bool s_available (chat_talk_t *self, MDB_txn *txn)
{
    s_presence_t presence = { chat_hours_open (self->hours, nd_stage_now (self->stage)),
                              false, 0, self };
    nd_key_t all;
    nd_key_init (&all);
    nd_db_scan (txn, self->presence, &all, s_presence_one, &presence);
    size_t durable = 0;
    for (size_t i = 0; i < self->channel_count; i++)
        durable += self->channels [i].channel->durable;
    //  A remote desk (Telegram) that never said anything is in auto
    if (presence.hours_open && presence.durable_seen < durable)
        presence.available = true;
    return presence.available;
}

static int s_presence (chat_talk_t *self, MDB_txn *txn, chat_event_t *event)
{
    const char *state = event->text ? event->text : "";
    nd_key_t key;
    nd_key_init (&key);
    nd_key_str (&key, event->operator ? event->operator : "");
    if (!event->operator || key.overflow)
        return 0;
    int rc = 0;
    if (streq (state, "gone"))
        rc = nd_db_del (txn, self->presence, &key) < 0 ? -1 : 0;
    else
    if (streq (state, "online") || streq (state, "offline") || streq (state, "auto")
    ||  streq (state, "here")) {
        json_t *known = NULL;
        bool exists = nd_db_get_json (txn, self->presence, &key, &known) == 0;
        json_decref (known);
        if (!streq (state, "here") || !exists) {
            char stamp [32];
            json_t *entry = json_pack ("{s:s, s:s}", "state", streq (state, "here") ? "auto" : state,
                "since", nd_time_format (nd_stage_now (self->stage), stamp));
            rc = nd_db_put_json (txn, self->presence, &key, entry);
            json_decref (entry);
            nd_log ("operator %s: %s", event->operator, streq (state, "here") ? "connected" : state);
        }
    }
    else {
        s_reply (event, "say online, offline or auto");
        return 0;
    }
    bool open = chat_hours_open (self->hours, nd_stage_now (self->stage));
    if (rc == 0 && !streq (state, "gone"))
        s_reply (event, "%s; business hours are %s now; chats %s answered",
                 streq (state, "online") ? "you are online"
                 : streq (state, "offline") ? "you are offline"
                 : "you answer in business hours", open ? "open" : "closed",
                 s_available (self, txn) ? "are" : "are not (they go to e-mail)");
    return rc;
}

/* -------------------------------------------------------------- lines */

//  Appends a line to the transcript; returns its seq, or 0 on error.
static uint64_t s_line (chat_talk_t *self, MDB_txn *txn, json_t *record, const char *from,
                        const char *name, const char *text)
{
    uint64_t seq = (uint64_t) json_integer_value (json_object_get (record, "lines")) + 1;
    char stamp [32];
    json_t *line = json_pack ("{s:I, s:s, s:s, s:s}", "seq", (json_int_t) seq, "from", from,
        "text", text, "time", nd_time_format (nd_stage_now (self->stage), stamp));
    if (!line)
        return 0;
    if (name)
        json_object_set_new (line, "name", json_string (name));
    if (chat_sms_is (record))
        json_object_set_new (line, "channel", json_string ("sms"));
    nd_key_t key;
    s_id_key (&key, s_str (record, "id"));
    nd_key_u64 (&key, seq);
    int rc = nd_db_put_json (txn, self->lines, &key, line);
    json_decref (line);
    if (rc)
        return 0;
    json_object_set_new (record, "lines", json_integer ((json_int_t) seq));
    self->fresh = true;
    return seq;
}

static int s_emit (chat_talk_t *self, MDB_txn *txn, const char *topic, const json_t *record,
                   json_t *body)
{
    json_object_set_new (body, "user", json_string (s_str (record, "user") ?: ""));
    json_object_set_new (body, "conversation", json_string (s_str (record, "id") ?: ""));
    const char *ids [] = { "anonymousId", "userId" };
    for (int i = 0; i < 2; i++)
        if (s_str (record, ids [i]))
            json_object_set_new (body, ids [i], json_string (s_str (record, ids [i])));
    if (chat_sms_is (record))
        json_object_set_new (body, "channel", json_string ("sms"));
    int rc = nd_emit (self->stage, txn, topic, body);
    json_decref (body);
    return rc;
}

//  An idle timer's key: i64 due, conversation id.
static void s_idle_key (nd_key_t *key, int64_t due, const char *id)
{
    nd_key_init (key);
    nd_key_i64 (key, due);
    nd_key_str (key, id);
}

//  Deletes the conversation's idle timer, if it has one.
static int s_idle_cancel (chat_talk_t *self, MDB_txn *txn, json_t *record)
{
    json_t *due = json_object_get (record, "idle_due");
    if (!json_is_integer (due))
        return 0;
    nd_key_t key;
    s_idle_key (&key, json_integer_value (due), s_str (record, "id"));
    return nd_db_del (txn, self->idle, &key) < 0 ? -1 : 0;
}

//  The conversation was active: its idle timer moves.
static int s_touch (chat_talk_t *self, MDB_txn *txn, json_t *record)
{
    if (s_idle_cancel (self, txn, record))
        return -1;
    int64_t next = nd_stage_now (self->stage)
                 + (chat_sms_is (record) ? self->sms_idle_timeout : self->idle_timeout);
    nd_key_t key;
    s_idle_key (&key, next, s_str (record, "id"));
    json_object_set_new (record, "idle_due", json_integer (next));
    return nd_db_put_raw (txn, self->idle, &key, "", 0);
}

static int s_end (chat_talk_t *self, MDB_txn *txn, json_t *record, const char *reason,
                  const char *text)
{
    const char *id = s_str (record, "id");
    if (s_idle_cancel (self, txn, record))
        return -1;
    json_object_del (record, "idle_due");
    nd_key_t key;
    s_id_key (&key, id);
    bool operated = streq (s_str (record, "state") ?: "", "operator");
    json_object_set_new (record, "state", json_string ("ended"));
    json_object_set_new (record, "reason", json_string (reason));
    char note [200];
    snprintf (note, sizeof note, "#%s ended (%s)", id, reason);
    int rc = nd_db_del (txn, self->open, &key) < 0
          || (text && !s_line (self, txn, record, "system", NULL, text))
          || s_store (self, txn, record)
          || (operated && s_note (self, txn, id, note))
          || s_emit (self, txn, "chat.ended", record, json_pack ("{s:s}", "reason", reason))
           ? -1 : 0;
    if (rc == 0)
        nd_log ("conversation %s ended (%s)", id, reason);
    return rc;
}

/* ------------------------------------------------------------- e-mail */

static bool s_is_verified (const json_t *record)
{
    return json_is_true (json_object_get (record, "verified"));
}

//  The widget proved the userId: hash is HMAC-SHA256 (identity-secret,
//  userId) in hex, as the shop's server computed it for its page.
static bool s_verify (chat_talk_t *self, const char *user_id, const char *hash)
{
    if (!self->identity_secret || !user_id || !hash || strlen (hash) != 64)
        return false;
    unsigned char mac [EVP_MAX_MD_SIZE];
    unsigned int size = 0;
    if (!HMAC (EVP_sha256 (), self->identity_secret, (int) strlen (self->identity_secret),
               (const unsigned char *) user_id, strlen (user_id), mac, &size) || size != 32)
        return false;
    char expected [65], given [65];
    for (unsigned int i = 0; i < size; i++)
        snprintf (expected + 2 * i, 3, "%02x", mac [i]);
    for (int i = 0; i < 64; i++)
        given [i] = (char) tolower ((unsigned char) hash [i]);
    given [64] = 0;
    return CRYPTO_memcmp (expected, given, 64) == 0;
}

//  What the shopper asked, for support: the shopper's lines (but the
//  address they typed), the first of them for a subject, and the
//  visitor's summary.
typedef struct {
    char *said;
    char *about;
    char *summary;
} s_question_t;

static void s_question (chat_talk_t *self, MDB_txn *txn, json_t *record, const char *email,
                        s_question_t *question)
{
    const char *id = s_str (record, "id");
    zchunk_t *text = zchunk_new (NULL, 1024);
    uint64_t lines = (uint64_t) json_integer_value (json_object_get (record, "lines"));
    for (uint64_t seq = 1; seq <= lines; seq++) {
        nd_key_t key;
        s_id_key (&key, id);
        nd_key_u64 (&key, seq);
        json_t *line = NULL;
        if (nd_db_get_json (txn, self->lines, &key, &line) == 0
        &&  streq (s_str (line, "from") ?: "", "shopper") && !streq (s_str (line, "text") ?: "", email)) {
            const char *said = s_str (line, "text") ?: "";
            if (!question->about)
                question->about = strndup (said, 60);
            zchunk_extend (text, said, strlen (said));
            zchunk_extend (text, "\n\n", 2);
        }
        json_decref (line);
    }
    question->said = strndup ((char *) zchunk_data (text), zchunk_size (text));
    zchunk_destroy (&text);
    json_t *person = chat_people_get (self->people, txn, s_str (record, "user"));
    question->summary = chat_people_summary (person, s_str (record, "user"), s_is_verified (record));
    json_decref (person);
}

static void s_question_clear (s_question_t *question)
{
    free (question->said);
    free (question->about);
    free (question->summary);
}

//  A send.email order for the mail-sender: its user is "support", not
//  the shopper, so their marketing opt-outs do not hold back their own
//  question and a bounce of the support mailbox is not counted against
//  them.
static int s_order (chat_talk_t *self, MDB_txn *txn, const char *key, const char *reply_to,
                    const char *reply_to_name, const char *subject, const char *text,
                    const char *conversation)
{
    json_t *order = json_pack ("{s:s, s:s, s:s, s:s, s:s, s:s, s:s}",
        "user", "support", "idempotency_key", key, "channel", "email", "journey", "chat",
        "to", self->support, "subject", subject, "text", text);
    if (order && reply_to)
        json_object_set_new (order, "reply_to", json_string (reply_to));
    if (order && reply_to_name)
        json_object_set_new (order, "reply_to_name", json_string (reply_to_name));
    if (order && conversation)
        json_object_set_new (order, "conversation", json_string (conversation));
    int rc = order ? nd_emit (self->stage, txn, "send.email", order) : -1;
    json_decref (order);
    return rc;
}

//  Over max-support-mails: the question waits for the period's digest.
static int s_digest_add (chat_talk_t *self, MDB_txn *txn, const char *id, const char *email,
                         const char *name, const s_question_t *question, int64_t ends)
{
    uint64_t number, due;
    if (s_next (self, txn, "digest", &number) || s_counter (self, txn, "digest-due", &due))
        return -1;
    nd_key_t key;
    nd_key_init (&key);
    nd_key_u64 (&key, number);
    json_t *entry = json_pack ("{s:s, s:s, s:s, s:s, s:s}", "conversation", id, "reply_to", email,
        "about", question->about ? question->about : "(no text)", "said", question->said,
        "summary", question->summary);
    if (entry && name)
        json_object_set_new (entry, "reply_to_name", json_string (name));
    int rc = entry ? nd_db_put_json (txn, self->digest, &key, entry) : -1;
    json_decref (entry);
    if (rc == 0 && (due == 0 || (int64_t) due > ends))
        rc = s_counter_set (self, txn, "digest-due", (uint64_t) ends);
    if (rc == 0) {
        char stamp [32];
        self->digested++;
        nd_log ("conversation %s: over max-support-mails, its question waits for the digest at %s",
                id, nd_time_format ((int64_t) (due && (int64_t) due < ends ? due : (uint64_t) ends),
                                    stamp));
    }
    return rc;
}

//  The digest, when its time has come: every question that waited (at
//  most s_DIGEST_MAX; the rest in the next period's), in one mail, the
//  entries gone and the timer cleared in the same transaction.
static int s_digest_send (chat_talk_t *self, MDB_txn *txn, int64_t now)
{
    uint64_t due;
    if (s_counter (self, txn, "digest-due", &due))
        return -1;
    if (!due || (int64_t) due > now)
        return 0;
    MDB_cursor *cursor;
    int rc = mdb_cursor_open (txn, self->digest, &cursor);
    if (rc)
        return nd_db_error (rc, "digest");
    zchunk_t *text = zchunk_new (NULL, 4096);
    size_t count = 0;
    MDB_val key, data;
    for (rc = mdb_cursor_get (cursor, &key, &data, MDB_FIRST); rc == 0 && count < s_DIGEST_MAX;
         rc = mdb_cursor_get (cursor, &key, &data, MDB_NEXT)) {
        json_t *entry = s_parse (&data);
        const char *name = s_str (entry, "reply_to_name");
        const char *said = s_str (entry, "said") ?: "";
        char *part = zsys_sprintf ("== #%s: answer to %s%s%s%s\n\n%.*s%s%s\n",
            s_str (entry, "conversation") ?: "?", name ? name : "", name ? " <" : "",
            s_str (entry, "reply_to") ?: "?", name ? ">" : "",
            s_DIGEST_SAID_MAX, said, strlen (said) > s_DIGEST_SAID_MAX ? "[...]\n\n" : "",
            s_str (entry, "summary") ?: "");
        zchunk_extend (text, part, strlen (part));
        zstr_free (&part);
        json_decref (entry);
        count++;
        if ((rc = mdb_cursor_del (cursor, 0)))
            break;
    }
    bool more = rc == 0;
    rc = rc == 0 || rc == MDB_NOTFOUND ? 0 : nd_db_error (rc, "digest");
    mdb_cursor_close (cursor);
    if (rc == 0 && count) {
        char *head = zsys_sprintf ("%zu question%s from the shop's chat, asked while nobody was "
            "online after max-support-mails were sent one by one this period. Answer each by "
            "e-mail to the address above it; nd-chat's /show gives a conversation.\n\n", count,
            count == 1 ? "" : "s");
        char *body = zsys_sprintf ("%s%.*s", head, (int) zchunk_size (text),
                                   (char *) zchunk_data (text));
        char *subject = zsys_sprintf ("Chat questions while nobody was online: %zu (digest)", count);
        char order_key [64];
        snprintf (order_key, sizeof order_key, "chat/digest/%llu", (unsigned long long) due);
        rc = s_order (self, txn, order_key, NULL, NULL, subject, body, NULL);
        if (rc == 0)
            nd_log ("digest of %zu chat question%s goes to support", count, count == 1 ? "" : "s");
        zstr_free (&head);
        zstr_free (&body);
        zstr_free (&subject);
    }
    zchunk_destroy (&text);
    //  What did not fit goes in a period's time
    if (rc == 0)
        rc = s_counter_set (self, txn, "digest-due",
                            more ? (uint64_t) (now + chat_limits_period (self->limits, CHAT_CAP_MAILS))
                                 : 0);
    return rc;
}

//  The question goes to support-mailbox, Reply-To the shopper (or waits
//  for the digest), and the conversation ends. typed: the shopper gave
//  this address in this conversation, so it may be said back to them;
//  else it is the profile's, which the browser never sees.
static int s_email (chat_talk_t *self, MDB_txn *txn, json_t *record, const char *email, bool typed)
{
    const char *id = s_str (record, "id");
    //  A name from the profile is the visitor's only if the widget proved it
    const char *name = s_is_verified (record) ? s_str (record, "name") : NULL;
    s_question_t question = { NULL, NULL, NULL };
    s_question (self, txn, record, email, &question);
    int64_t ends;
    int capped = chat_limits_take (self->limits, txn, CHAT_CAP_MAILS, nd_stage_now (self->stage),
                                   &ends);
    int rc = capped < 0 ? -1 : 0;
    if (capped == 0) {
        char *tail = zsys_sprintf ("--\nAsked in the shop's chat (%s) while nobody was online.\n"
                                   "Reply to this message to answer the shopper.\n\n%s", id,
                                   question.summary);
        char *body = zsys_sprintf ("%s%s", question.said, tail);
        char *subject = zsys_sprintf ("Chat question from %s: %s", name ? name : "a visitor",
                                      question.about ? question.about : "(no text)");
        char key [80];
        snprintf (key, sizeof key, "chat/%s/email", id);
        rc = s_order (self, txn, key, email, name, subject, body, id);
        zstr_free (&tail);
        zstr_free (&body);
        zstr_free (&subject);
        if (rc == 0)
            self->emailed++;
    }
    else
    if (capped == 1)
        rc = s_digest_add (self, txn, id, email, name, &question, ends);
    s_question_clear (&question);
    char masked [128], told [400];
    if (typed)
        snprintf (told, sizeof told, self->text_email, email);
    else
        snprintf (told, sizeof told, "%s", self->text_email_known);
    if (rc == 0) {
        json_object_set_new (record, "email", json_string (email));
        nd_log ("conversation %s goes to support by e-mail, Reply-To %s (%s)", id,
                chat_mask_email (email, masked, sizeof masked),
                typed ? "typed in the chat" : "the verified visitor's");
        rc = s_end (self, txn, record, "email", told);
    }
    return rc;
}

/* ------------------------------------------------------------ shopper */

//  A conversation begins: from the widget (event), or by a text (sms).
static json_t *s_start (chat_talk_t *self, MDB_txn *txn, chat_event_t *event,
                        const chat_sms_in_t *sms)
{
    uint64_t number;
    if (s_next (self, txn, "conversation", &number))
        return NULL;
    char id [32], visitor [CHAT_ID_MAX + 1], stamp [32];
    snprintf (id, sizeof id, "c%llu", (unsigned long long) number);
    chat_people_resolve (self->people, txn, event->anonymous_id, event->user_id, visitor,
                         sizeof visitor);
    zuuid_t *uuid = zuuid_new ();
    json_t *record = json_pack ("{s:s, s:s, s:s, s:s, s:s, s:I}", "id", id, "user", visitor,
        "token", zuuid_str_canonical (uuid), "state", "new",
        "started", nd_time_format (nd_stage_now (self->stage), stamp), "lines", (json_int_t) 0);
    zuuid_destroy (&uuid);
    if (event->anonymous_id)
        json_object_set_new (record, "anonymousId", json_string (event->anonymous_id));
    //  A text's user is already the pipeline's visitor id, not the shop's userId
    if (event->user_id && !sms)
        json_object_set_new (record, "userId", json_string (event->user_id));
    //  A text comes from the number: the person the shop texts there is
    //  who wrote, as far as the shop can know (sms_inbound.c)
    bool verified = sms ? sms->user != NULL : s_verify (self, event->user_id, event->user_hash);
    json_object_set_new (record, "verified", json_boolean (verified));
    if (sms)
        json_object_update_new (record, json_pack ("{s:s, s:s, s:b}", "channel", "sms",
                                                   "phone", sms->phone, "known", verified));
    if (verified && !sms)
        self->verified++;
    else
    if (event->user_hash)
        self->unverified_hash++;
    json_t *person = chat_people_get (self->people, txn, visitor);
    if (s_str (person, "name"))
        json_object_set (record, "name", json_object_get (person, "name"));
    json_decref (person);
    nd_key_t key;
    s_id_key (&key, id);
    if (nd_db_put_raw (txn, self->open, &key, "", 0)
    ||  s_emit (self, txn, "chat.started", record, json_object ())
    ||  chat_people_note_chat (self->people, txn, visitor, s_str (record, "started"),
                               event->text, NULL)) {
        json_decref (record);
        return NULL;
    }
    self->started++;
    char label [80];
    nd_log ("conversation %s started by %s (%s)", id, *visitor ? visitor : "nobody known",
            sms ? chat_sms_label (record, label, sizeof label)
            : verified ? "verified"
            : !event->user_hash ? "unverified"
            : self->identity_secret ? "unverified: userHash does not match"
                                    : "unverified: a userHash, but no identity-secret to check it");
    return record;
}

//  Who this is, for operators: a text from a number the shop never
//  texted has no profile behind it.
static char *s_summary (const json_t *record, const json_t *person)
{
    if (chat_sms_is (record) && !json_is_true (json_object_get (record, "known")))
        return strdup ("Visitor: unknown (the shop never texted this number)\n");
    return chat_people_summary (person, s_str (record, "user"), s_is_verified (record));
}

//  The operators' first note: who this is, then what they asked.
static int s_note_new (chat_talk_t *self, MDB_txn *txn, json_t *record, const char *text)
{
    const char *user = s_str (record, "user");
    json_t *person = chat_people_get (self->people, txn, user);
    //  The count includes the conversation that just began
    json_t *chats = json_object_get (person, "chats");
    json_int_t count = json_integer_value (json_object_get (chats, "count"));
    if (count <= 1)
        json_object_del (person, "chats");
    else
        json_object_set_new (chats, "count", json_integer (count - 1));
    char *summary = s_summary (record, person);
    json_decref (person);
    const char *name = s_str (record, "name");
    char label [80];
    chat_sms_label (record, label, sizeof label);
    char *note = zsys_sprintf ("#%s new chat%s%s%s. Reply to this message to answer.\n%s--\n%s: %s",
                               s_str (record, "id"), *label ? " (" : "", label, *label ? ")" : "",
                               summary, name ? name : "Visitor", text);
    int rc = s_note (self, txn, s_str (record, "id"), note);
    zstr_free (&note);
    free (summary);
    return rc;
}

static int s_shopper_answer (chat_event_t *event, json_t *record, uint64_t seq, bool duplicate)
{
    json_t *answer = json_pack ("{s:s, s:s, s:s, s:I}", "conversation", s_str (record, "id"),
        "token", s_str (record, "token"), "state", s_str (record, "state"), "seq", (json_int_t) seq);
    if (duplicate)
        json_object_set_new (answer, "duplicate", json_true ());
    s_answer (event, 200, answer);
    return 0;
}

static int s_shopper_say (chat_talk_t *self, MDB_txn *txn, chat_event_t *event)
{
    const char *text = event->text ? event->text : "";
    bool has_email = event->email && *event->email;
    if ((!event->anonymous_id && !event->user_id) || (!*text && !has_email)
    ||  strlen (text) > CHAT_TEXT_MAX || (has_email && !chat_email_ok (event->email))) {
        s_answer (event, 400, json_pack ("{s:s}", "error",
            has_email && !chat_email_ok (event->email) ? "not an e-mail address"
            : "want anonymousId or userId, and text of at most 4000 bytes"));
        return 0;
    }
    json_t *record = event->conversation ? s_load (self, txn, event->conversation) : NULL;
    if (event->conversation && (!record || !s_token_ok (record, event->token))) {
        s_answer (event, record ? 403 : 404, json_pack ("{s:s}", "error",
                  record ? "wrong token for this conversation" : "no such conversation"));
        json_decref (record);
        return 0;
    }
    //  A retry of a message already stored
    nd_key_t seen;
    if (record && event->client_id) {
        s_id_key (&seen, event->conversation);
        nd_key_str (&seen, event->client_id);
        MDB_val k = nd_key_val (&seen), data;
        if (!seen.overflow && mdb_get (txn, self->seen, &k, &data) == 0) {
            uint64_t seq = data.mv_size == 8 ? nd_key_get_u64 (&data, 0) : 0;
            s_shopper_answer (event, record, seq, true);
            json_decref (record);
            return 0;
        }
    }
    bool fresh = !record || streq (s_str (record, "state") ?: "", "ended");
    if (fresh) {
        json_decref (record);
        int64_t now = nd_stage_now (self->stage), ends;
        int capped = chat_limits_take (self->limits, txn, CHAT_CAP_CONVERSATIONS, now, &ends);
        if (capped == 1) {
            char stamp [32];
            nd_log ("max-conversations reached: new chats refused until %s",
                    nd_time_format (ends, stamp));
            event->retry_after = ends > now ? (ends - now + 999) / 1000 : 1;
            s_answer (event, 503, json_pack ("{s:s}", "error", "too many chats right now, try later"));
            return 0;
        }
        if (capped < 0 || !(record = s_start (self, txn, event, NULL)))
            return -1;
    }
    const char *id = s_str (record, "id");
    int rc = 0;
    uint64_t seq = *text ? s_line (self, txn, record, "shopper", NULL, text) : 0;
    if (*text && !seq)
        rc = -1;
    if (rc == 0 && *text)
        rc = s_emit (self, txn, "chat.message", record,
                     json_pack ("{s:s, s:s, s:I}", "from", "shopper", "text", text,
                                "seq", (json_int_t) seq));
    if (rc == 0 && event->client_id && seq) {
        s_id_key (&seen, id);
        nd_key_str (&seen, event->client_id);
        nd_key_t value;
        nd_key_init (&value);
        nd_key_u64 (&value, seq);
        rc = seen.overflow ? 0 : nd_db_put_raw (txn, self->seen, &seen, value.data, value.size);
    }
    if (rc == 0 && seq)
        self->messages++;
    const char *state = s_str (record, "state");
    if (rc == 0 && streq (state, "new")) {
        if (s_available (self, txn)) {
            json_object_set_new (record, "state", json_string ("operator"));
            rc = s_note_new (self, txn, record, text);
        }
        else
            json_object_set_new (record, "state", json_string ("ask-email"));
    }
    else
    if (rc == 0 && streq (state, "operator") && *text) {
        const char *name = s_str (record, "name");
        char *note = zsys_sprintf ("#%s %s: %s", id, name ? name : "Visitor", text);
        rc = s_note (self, txn, id, note);
        zstr_free (&note);
    }
    if (rc == 0 && streq (s_str (record, "state"), "ask-email")) {
        //  Nobody to answer: the address typed in the widget or the text;
        //  else the profile's if the widget proved who this is; else ask.
        //  Only a verified visitor's typed address is kept for the profile:
        //  anyone else's could be planted in another shopper's name.
        bool typed = has_email || chat_email_ok (text);
        bool verified = s_is_verified (record);
        json_t *person = typed || !verified ? NULL
                       : chat_people_get (self->people, txn, s_str (record, "user"));
        const char *email = has_email ? event->email : typed ? text : s_str (person, "email");
        if (email && typed && verified)
            rc = chat_people_note_chat (self->people, txn, s_str (record, "user"), NULL, NULL, email);
        if (rc == 0 && email)
            rc = s_email (self, txn, record, email, typed);
        else
        if (rc == 0 && (fresh || seq)
        &&  !s_line (self, txn, record, "system", NULL, self->text_ask))
            rc = -1;
        json_decref (person);
    }
    if (rc == 0 && !streq (s_str (record, "state"), "ended"))
        rc = s_touch (self, txn, record);
    if (rc == 0)
        rc = s_store (self, txn, record);
    if (rc == 0)
        s_shopper_answer (event, record, seq, false);
    json_decref (record);
    return rc;
}

static int s_shopper_end (chat_talk_t *self, MDB_txn *txn, chat_event_t *event)
{
    json_t *record = s_load (self, txn, event->conversation);
    int rc = 0;
    if (!record || !s_token_ok (record, event->token))
        s_answer (event, record ? 403 : 404, json_pack ("{s:s}", "error",
                  record ? "wrong token for this conversation" : "no such conversation"));
    else {
        if (!streq (s_str (record, "state"), "ended"))
            rc = s_end (self, txn, record, "shopper", self->text_ended);
        if (rc == 0)
            s_answer (event, 200, json_pack ("{s:s, s:s}", "conversation", s_str (record, "id"),
                                             "state", "ended"));
    }
    json_decref (record);
    return rc;
}

/* ----------------------------------------------------------- operator */

static json_t *s_operator_conversation (chat_talk_t *self, MDB_txn *txn, chat_event_t *event)
{
    json_t *record = s_load (self, txn, event->conversation);
    if (!record)
        s_reply (event, "no conversation #%s", event->conversation ? event->conversation : "?");
    else
    if (streq (s_str (record, "state"), "ended")) {
        s_reply (event, "#%s has ended", s_str (record, "id"));
        json_decref (record);
        record = NULL;
    }
    return record;
}

static int s_operator_say (chat_talk_t *self, MDB_txn *txn, chat_event_t *event)
{
    json_t *record = s_operator_conversation (self, txn, event);
    if (!record)
        return 0;
    const char *text = event->text ? event->text : "";
    if (!*text || strlen (text) > CHAT_TEXT_MAX) {
        s_reply (event, "say something (at most 4000 bytes)");
        json_decref (record);
        return 0;
    }
    const char *name = event->operator_name ? event->operator_name : "Shop";
    json_object_set_new (record, "state", json_string ("operator"));
    uint64_t seq = s_line (self, txn, record, "operator", name, text);
    int rc = !seq || s_emit (self, txn, "chat.message", record,
                             json_pack ("{s:s, s:s, s:s, s:I}", "from", "operator", "operator",
                                        event->operator ? event->operator : "", "text", text,
                                        "seq", (json_int_t) seq))
          || (chat_sms_is (record) && chat_sms_order (self->stage, txn, record, seq, text))
          || s_touch (self, txn, record) || s_store (self, txn, record) ? -1 : 0;
    char label [80];
    if (rc == 0 && chat_sms_is (record))
        s_reply (event, "#%s: goes by SMS (%s)", s_str (record, "id"),
                 chat_sms_label (record, label, sizeof label));
    json_decref (record);
    return rc;
}

static int s_operator_end (chat_talk_t *self, MDB_txn *txn, chat_event_t *event)
{
    json_t *record = s_operator_conversation (self, txn, event);
    if (!record)
        return 0;
    int rc = s_end (self, txn, record, "operator", self->text_ended);
    if (rc == 0)
        s_reply (event, "#%s ended", s_str (record, "id"));
    json_decref (record);
    return rc;
}

typedef struct {
    chat_talk_t *self;
    MDB_txn *txn;
    zchunk_t *out;
    size_t count;
} s_list_t;

static int s_list_one (const MDB_val *key, const MDB_val *data, void *arg)
{
    (void) data;
    s_list_t *list = (s_list_t *) arg;
    char id [48];
    snprintf (id, sizeof id, "%.*s", (int) key->mv_size, (const char *) key->mv_data);
    json_t *record = s_load (list->self, list->txn, id);
    if (record) {
        const char *name = s_str (record, "name");
        char label [80];
        chat_sms_label (record, label, sizeof label);
        char *line = zsys_sprintf ("#%s %s (%s)%s%s, %lld lines, since %s\n", id,
            name ? name : "Visitor", s_str (record, "user"), *label ? ", " : "", label,
            (long long) json_integer_value (json_object_get (record, "lines")),
            s_str (record, "started"));
        zchunk_extend (list->out, line, strlen (line));
        zstr_free (&line);
        list->count++;
    }
    json_decref (record);
    return 0;
}

static int s_operator_list (chat_talk_t *self, MDB_txn *txn, chat_event_t *event)
{
    s_list_t list = { self, txn, zchunk_new (NULL, 256), 0 };
    nd_key_t all;
    nd_key_init (&all);
    nd_db_scan (txn, self->open, &all, s_list_one, &list);
    if (list.count)
        s_reply (event, "%.*s", (int) zchunk_size (list.out) - 1, (char *) zchunk_data (list.out));
    else
        s_reply (event, "no open conversations");
    zchunk_destroy (&list.out);
    return 0;
}

static int s_operator_show (chat_talk_t *self, MDB_txn *txn, chat_event_t *event)
{
    json_t *record = s_load (self, txn, event->conversation);
    if (!record) {
        s_reply (event, "no conversation #%s", event->conversation ? event->conversation : "?");
        return 0;
    }
    const char *user = s_str (record, "user");
    json_t *person = chat_people_get (self->people, txn, user);
    char *summary = s_summary (record, person);
    json_decref (person);
    zchunk_t *out = zchunk_new (NULL, 1024);
    char label [80];
    chat_sms_label (record, label, sizeof label);
    char *head = zsys_sprintf ("#%s (%s%s%s)\n%s--\n", s_str (record, "id"), s_str (record, "state"),
                               *label ? ", " : "", label, summary);
    zchunk_extend (out, head, strlen (head));
    zstr_free (&head);
    free (summary);
    int status;
    json_t *transcript = chat_talk_lines (self, s_str (record, "id"), s_str (record, "token"),
                                          0, &status);
    json_t *lines = json_object_get (transcript, "lines");
    size_t index, size = json_array_size (lines);
    json_t *line;
    json_array_foreach (lines, index, line) {
        if (size > s_SHOW_LINES && index < size - s_SHOW_LINES)
            continue;
        const char *from = s_str (line, "from");
        char *text = zsys_sprintf ("%s: %s\n", streq (from, "shopper") ? "Visitor"
                                   : s_str (line, "name") ?: from, s_str (line, "text"));
        zchunk_extend (out, text, strlen (text));
        zstr_free (&text);
    }
    json_decref (transcript);
    s_reply (event, "%.*s", (int) zchunk_size (out) - 1, (char *) zchunk_data (out));
    zchunk_destroy (&out);
    json_decref (record);
    return 0;
}

static int s_note_sent (chat_talk_t *self, MDB_txn *txn, chat_event_t *event)
{
    nd_key_t key;
    nd_key_init (&key);
    nd_key_str (&key, event->channel ? event->channel : "");
    nd_key_u64 (&key, event->number);
    return nd_db_del (txn, self->notes, &key) < 0 ? -1 : 0;
}

//  Over rate-per-ip or rate-per-visitor: 429 with Retry-After.
static bool s_limited (chat_talk_t *self, chat_event_t *event)
{
    int64_t wait = chat_limits_request (self->limits, event->client,
                                        event->user_id ? event->user_id : event->anonymous_id,
                                        nd_stage_now (self->stage));
    if (wait == 0)
        return false;
    event->retry_after = (wait + 999) / 1000;
    s_answer (event, 429, json_pack ("{s:s}", "error", "too many messages: try again in a moment"));
    return true;
}

/* ---------------------------------------------------------------- sms */

//  A provider's retry of a text already in the conversation: "seen" as
//  the widget's retries are, by the provider's id. mark: remember seq.
static int s_sms_seen (chat_talk_t *self, MDB_txn *txn, const json_t *record,
                       const chat_sms_in_t *sms, uint64_t mark)
{
    if (!sms->message_id)
        return 0;
    nd_key_t key;
    s_id_key (&key, s_str (record, "id"));
    nd_key_str (&key, "sms:");
    nd_key_str (&key, sms->message_id);
    if (key.overflow)
        return 0;
    if (mark) {
        nd_key_t value;
        nd_key_init (&value);
        nd_key_u64 (&value, mark);
        return nd_db_put_raw (txn, self->seen, &key, value.data, value.size);
    }
    MDB_val k = nd_key_val (&key), data;
    return mdb_get (txn, self->seen, &k, &data) == 0 ? 1 : 0;
}

//  Nobody is there to see a new text: support hears of it by e-mail (as
//  many as max-support-mails allows), to answer it by SMS from nd-chat or
//  Telegram while the conversation is open. The person asked by SMS, so
//  the answer is not an e-mail to them.
static int s_sms_mail (chat_talk_t *self, MDB_txn *txn, json_t *record, const char *text)
{
    int64_t ends;
    int capped = chat_limits_take (self->limits, txn, CHAT_CAP_MAILS, nd_stage_now (self->stage),
                                   &ends);
    if (capped)
        return capped < 0 ? -1 : 0;     //  over the cap: the operators' note waits alone
    const char *id = s_str (record, "id");
    json_t *person = chat_people_get (self->people, txn, s_str (record, "user"));
    char *summary = s_summary (record, person);
    json_decref (person);
    char label [80], key [80];
    chat_sms_label (record, label, sizeof label);
    char *subject = zsys_sprintf ("%s: %.60s", label, text);
    char *body = zsys_sprintf ("%s\n\n--\nTexted to the shop's number (%s, #%s) while nobody was "
        "online. Answer it by SMS from nd-chat or Telegram while the conversation is open.\n\n%s",
        text, label, id, summary);
    snprintf (key, sizeof key, "chat/%s/email", id);
    int rc = s_order (self, txn, key, NULL, NULL, subject, body, id);
    if (rc == 0) {
        self->emailed++;
        nd_log ("conversation %s: nobody online, support hears of the text by e-mail", id);
    }
    zstr_free (&subject);
    zstr_free (&body);
    free (summary);
    return rc;
}

//  A text from a person: the number's open conversation goes on, or a
//  new one starts. Operators are told as of a widget's chat; with nobody
//  available support hears of it by e-mail and it waits for them, open
//  for sms-idle-timeout.
static int s_sms_received (chat_talk_t *self, MDB_txn *txn, const nd_msg_t *msg)
{
    chat_sms_in_t sms;
    char reason [160], id [48];
    if (chat_sms_read (msg->body, &sms, reason, sizeof reason)) {
        nd_stage_reject (self->stage, msg, reason);
        return -1;
    }
    int found = chat_sms_find (self->sms, txn, sms.phone, id, sizeof id);
    json_t *record = found == 0 ? s_load (self, txn, id) : NULL;
    if (found < 0)
        return -1;
    if (record && (streq (s_str (record, "state") ?: "", "ended") || !chat_sms_is (record))) {
        json_decref (record);
        record = NULL;
    }
    if (record && s_sms_seen (self, txn, record, &sms, 0)) {
        json_decref (record);
        return 0;
    }
    bool fresh = !record;
    chat_event_t start = { .kind = CHAT_SHOPPER_SAY, .user_id = (char *) sms.user,
                           .text = (char *) sms.text };
    if (fresh && (!(record = s_start (self, txn, &start, &sms))
              ||  chat_sms_bind (self->sms, txn, sms.phone, s_str (record, "id"))))
        return -1;
    const char *name = s_str (record, "name");
    uint64_t seq = s_line (self, txn, record, "shopper", NULL, sms.text);
    int rc = !seq || s_emit (self, txn, "chat.message", record,
                             json_pack ("{s:s, s:s, s:I}", "from", "shopper", "text", sms.text,
                                        "seq", (json_int_t) seq))
          || s_sms_seen (self, txn, record, &sms, seq) ? -1 : 0;
    if (rc == 0 && fresh) {
        json_object_set_new (record, "state", json_string ("operator"));
        rc = s_note_new (self, txn, record, sms.text);
        if (rc == 0 && !s_available (self, txn))
            rc = s_sms_mail (self, txn, record, sms.text);
    }
    else
    if (rc == 0) {
        char *note = zsys_sprintf ("#%s %s: %s", s_str (record, "id"), name ? name : "Visitor",
                                   sms.text);
        rc = s_note (self, txn, s_str (record, "id"), note);
        zstr_free (&note);
    }
    if (rc == 0)
        rc = s_touch (self, txn, record) || s_store (self, txn, record) ? -1 : 0;
    if (rc == 0) {
        self->messages++;
        self->texts++;
        if (!fresh)
            nd_log ("conversation %s: a text (%zu bytes)", s_str (record, "id"), strlen (sms.text));
    }
    json_decref (record);
    return rc;
}

//  An operator's answer that did not go out as SMS: the operators hear
//  why, and the transcript keeps it.
static int s_sms_undelivered (chat_talk_t *self, MDB_txn *txn, const char *id, const nd_msg_t *msg)
{
    json_t *record = s_load (self, txn, id);
    if (!record)
        return 0;               //  erased meanwhile
    const char *why = json_string_value (json_object_get (msg->body, "reason"));
    char *text = zsys_sprintf ("Not sent by SMS (%s%s%.200s)", msg->topic + 9, why ? ": " : "",
                               why ? why : "");
    char *note = zsys_sprintf ("#%s your answer was not delivered. %s", id, text);
    int rc = !s_line (self, txn, record, "system", NULL, text) || s_note (self, txn, id, note)
          || s_store (self, txn, record) ? -1 : 0;
    if (rc == 0)
        nd_log ("conversation %s: an answer by SMS was not delivered (%s)", id, msg->topic + 9);
    zstr_free (&text);
    zstr_free (&note);
    json_decref (record);
    return rc;
}

int chat_talk_sms (chat_talk_t *self, MDB_txn *txn, const nd_msg_t *msg)
{
    char id [48];
    bool delivered;
    if (streq (msg->topic, "sms.received"))
        return s_sms_received (self, txn, msg);
    if (strncmp (msg->topic, "feedback.", 9))
        return 1;
    //  Feedback on the shop's other texts is the scheduler's
    if (!chat_sms_feedback (msg, id, sizeof id, &delivered) || delivered
    ||  streq (msg->topic, "feedback.clicked"))
        return 0;
    return s_sms_undelivered (self, txn, id, msg);
}

int chat_talk_apply (void *self_, MDB_txn *txn, void *event_)
{
    chat_talk_t *self = (chat_talk_t *) self_;
    chat_event_t *event = (chat_event_t *) event_;
    char name [80];
    if ((event->kind == CHAT_SHOPPER_SAY || event->kind == CHAT_SHOPPER_END) && s_limited (self, event))
        return 0;
    switch (event->kind) {
        case CHAT_SHOPPER_SAY:       return s_shopper_say (self, txn, event);
        case CHAT_SHOPPER_END:       return s_shopper_end (self, txn, event);
        case CHAT_OPERATOR_SAY:      return s_operator_say (self, txn, event);
        case CHAT_OPERATOR_END:      return s_operator_end (self, txn, event);
        case CHAT_OPERATOR_PRESENCE: return s_presence (self, txn, event);
        case CHAT_OPERATOR_LIST:     return s_operator_list (self, txn, event);
        case CHAT_OPERATOR_SHOW:     return s_operator_show (self, txn, event);
        case CHAT_NOTE_SENT:         return s_note_sent (self, txn, event);
        case CHAT_CURSOR:
            snprintf (name, sizeof name, "cursor/%s", event->channel ? event->channel : "");
            return s_counter_set (self, txn, name, event->number);
    }
    return 0;
}

uint64_t chat_talk_cursor (chat_talk_t *self, MDB_txn *txn, const char *channel)
{
    char name [80];
    uint64_t value = 0;
    snprintf (name, sizeof name, "cursor/%s", channel);
    s_counter (self, txn, name, &value);
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
        json_t *record = s_load (self, txn, id);
        if (record && !streq (s_str (record, "state"), "ended"))
            rc = s_end (self, txn, record, "idle", self->text_ended);
        json_decref (record);
    }
    zlist_destroy (&due);
    return rc ? rc : s_digest_send (self, txn, now);
}

/* --------------------------------------------------------------- lines */

json_t *chat_talk_lines (chat_talk_t *self, const char *conversation, const char *token,
                         uint64_t after, int *status)
{
    MDB_txn *txn;
    if (mdb_txn_begin (nd_stage_env (self->stage), NULL, MDB_RDONLY, &txn)) {
        *status = 503;
        return NULL;
    }
    json_t *record = s_load (self, txn, conversation);
    json_t *answer = NULL;
    *status = !record ? 404 : !s_token_ok (record, token) ? 403 : 200;
    if (*status == 200) {
        json_t *lines = json_array ();
        uint64_t last = (uint64_t) json_integer_value (json_object_get (record, "lines"));
        for (uint64_t seq = after + 1; seq <= last; seq++) {
            nd_key_t key;
            s_id_key (&key, conversation);
            nd_key_u64 (&key, seq);
            json_t *line = NULL;
            if (nd_db_get_json (txn, self->lines, &key, &line) == 0)
                json_array_append_new (lines, line);
            else
                json_decref (line);
        }
        answer = json_pack ("{s:s, s:s, s:o}", "conversation", conversation,
                            "state", s_str (record, "state"), "lines", lines);
    }
    json_decref (record);
    mdb_txn_abort (txn);
    return answer;
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
        s_note_t *note;
        while ((note = (s_note_t *) zlist_pop (self->pending)))
            s_note_free (&note);
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
    assert (self->channel_count < s_CHANNELS_MAX);
    self->channels [self->channel_count++] = (s_channel_t) { channel, instance };
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
        json_object_set_new (talk, "available", json_boolean (s_available (self, txn)));
        mdb_txn_abort (txn);
    }
    json_object_set_new (stats, "chat", talk);
}
