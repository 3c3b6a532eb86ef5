/*  chat_mail - questions nobody is online to answer go to support by
    e-mail.

    The question goes to support-mailbox as a send.email order for the
    mail-sender, Reply-To the shopper, and the conversation ends. Beyond
    max-support-mails in a period the questions wait in the digest
    database and go as one mail when the period is over (the digest's
    timer, in the counters; the entries, the timer and the order commit
    together). A text nobody sees is told to support the same way, to be
    answered by SMS.

    Layer: rules: calls chat_conversation.c, chat_notes.c, chat_record.c,
    chat_people.c, chat_limits.c and chat_sms.c.                         */
#include "chat_talk.h"

#define s_DIGEST_MAX 200            //  questions in one digest mail
#define s_DIGEST_SAID_MAX 2000      //  bytes of one question in it

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
    const char *id = talk_str (record, "id");
    zchunk_t *text = zchunk_new (NULL, 1024);
    uint64_t lines = (uint64_t) json_integer_value (json_object_get (record, "lines"));
    for (uint64_t seq = 1; seq <= lines; seq++) {
        nd_key_t key;
        talk_id_key (&key, id);
        nd_key_u64 (&key, seq);
        json_t *line = NULL;
        if (nd_db_get_json (txn, self->lines, &key, &line) == 0
        &&  streq (talk_str (line, "from") ?: "", "shopper") && !streq (talk_str (line, "text") ?: "", email)) {
            const char *said = talk_str (line, "text") ?: "";
            if (!question->about)
                question->about = strndup (said, 60);
            zchunk_extend (text, said, strlen (said));
            zchunk_extend (text, "\n\n", 2);
        }
        json_decref (line);
    }
    question->said = strndup ((char *) zchunk_data (text), zchunk_size (text));
    zchunk_destroy (&text);
    json_t *person = chat_people_get (self->people, txn, talk_str (record, "user"));
    question->summary = chat_people_summary (person, talk_str (record, "user"), talk_is_verified (record));
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
    if (talk_next (self, txn, "digest", &number) || talk_counter (self, txn, "digest-due", &due))
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
        rc = talk_counter_set (self, txn, "digest-due", (uint64_t) ends);
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
int talk_digest_send (chat_talk_t *self, MDB_txn *txn, int64_t now)
{
    uint64_t due;
    if (talk_counter (self, txn, "digest-due", &due))
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
        json_t *entry = talk_parse (&data);
        const char *name = talk_str (entry, "reply_to_name");
        const char *said = talk_str (entry, "said") ?: "";
        char *part = zsys_sprintf ("== #%s: answer to %s%s%s%s\n\n%.*s%s%s\n",
            talk_str (entry, "conversation") ?: "?", name ? name : "", name ? " <" : "",
            talk_str (entry, "reply_to") ?: "?", name ? ">" : "",
            s_DIGEST_SAID_MAX, said, strlen (said) > s_DIGEST_SAID_MAX ? "[...]\n\n" : "",
            talk_str (entry, "summary") ?: "");
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
        rc = talk_counter_set (self, txn, "digest-due",
                               more ? (uint64_t) (now + chat_limits_period (self->limits, CHAT_CAP_MAILS))
                                    : 0);
    return rc;
}

//  The question goes to support-mailbox, Reply-To the shopper (or waits
//  for the digest), and the conversation ends. typed: the shopper gave
//  this address in this conversation, so it may be said back to them;
//  else it is the profile's, which the browser never sees.
int talk_email (chat_talk_t *self, MDB_txn *txn, json_t *record, const char *email, bool typed)
{
    const char *id = talk_str (record, "id");
    //  A name from the profile is the visitor's only if the widget proved it
    const char *name = talk_is_verified (record) ? talk_str (record, "name") : NULL;
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
        rc = talk_end (self, txn, record, "email", told);
    }
    return rc;
}

//  Nobody is there to see a new text: support hears of it by e-mail (as
//  many as max-support-mails allows), to answer it by SMS from nd-chat or
//  Telegram while the conversation is open. The person asked by SMS, so
//  the answer is not an e-mail to them.
int talk_sms_mail (chat_talk_t *self, MDB_txn *txn, json_t *record, const char *text)
{
    int64_t ends;
    int capped = chat_limits_take (self->limits, txn, CHAT_CAP_MAILS, nd_stage_now (self->stage),
                                   &ends);
    if (capped)
        return capped < 0 ? -1 : 0;     //  over the cap: the operators' note waits alone
    const char *id = talk_str (record, "id");
    json_t *person = chat_people_get (self->people, txn, talk_str (record, "user"));
    char *summary = talk_summary (record, person);
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
