/*  chat_shopper - what a shopper's message does: the widget's send and
    end.

    A message opens a conversation (unless max-conversations is reached)
    or continues one; the operators get it if one answers, else the
    shopper is asked for an address, or the question goes by e-mail. A
    widget's retry (the same client id) is answered as the first time.

    Layer: engine: calls chat_mail.c, chat_presence.c, chat_conversation.c,
    chat_notes.c, chat_record.c, chat_people.c and chat_limits.c.        */
#include "chat_talk.h"

static int s_shopper_answer (chat_event_t *event, json_t *record, uint64_t seq, bool duplicate)
{
    json_t *answer = json_pack ("{s:s, s:s, s:s, s:I}", "conversation", talk_str (record, "id"),
        "token", talk_str (record, "token"), "state", talk_str (record, "state"), "seq", (json_int_t) seq);
    if (duplicate)
        json_object_set_new (answer, "duplicate", json_true ());
    talk_answer (event, 200, answer);
    return 0;
}

//  A retry of a message already stored: answered as the first time.
static bool s_retried (chat_talk_t *self, MDB_txn *txn, chat_event_t *event, json_t *record)
{
    if (!record || !event->client_id)
        return false;
    nd_key_t seen;
    talk_id_key (&seen, event->conversation);
    nd_key_str (&seen, event->client_id);
    MDB_val k = nd_key_val (&seen), data;
    if (seen.overflow || mdb_get (txn, self->seen, &k, &data) != 0)
        return false;
    uint64_t seq = data.mv_size == 8 ? nd_key_get_u64 (&data, 0) : 0;
    s_shopper_answer (event, record, seq, true);
    return true;
}

//  A new conversation into *record_p: 0, or 1 when max-conversations is
//  reached (the event has its 503), -1 on error.
static int s_open (chat_talk_t *self, MDB_txn *txn, chat_event_t *event, json_t **record_p)
{
    int64_t now = nd_stage_now (self->stage), ends;
    int capped = chat_limits_take (self->limits, txn, CHAT_CAP_CONVERSATIONS, now, &ends);
    if (capped == 1) {
        char stamp [32];
        nd_log ("max-conversations reached: new chats refused until %s",
                nd_time_format (ends, stamp));
        event->retry_after = ends > now ? (ends - now + 999) / 1000 : 1;
        talk_answer (event, 503, json_pack ("{s:s}", "error", "too many chats right now, try later"));
        return 1;
    }
    if (capped < 0 || !(*record_p = talk_start (self, txn, event, NULL)))
        return -1;
    return 0;
}

//  The shopper's text, if any: a line of the transcript (its seq in
//  *seq_p, else 0), chat.message, and the widget's id for it kept, so
//  that a retry is not a second line.
static int s_said (chat_talk_t *self, MDB_txn *txn, chat_event_t *event, json_t *record,
                   const char *text, uint64_t *seq_p)
{
    const char *id = talk_str (record, "id");
    int rc = 0;
    uint64_t seq = *text ? talk_line (self, txn, record, "shopper", NULL, text) : 0;
    *seq_p = seq;
    if (*text && !seq)
        rc = -1;
    if (rc == 0 && *text)
        rc = talk_emit (self, txn, "chat.message", record,
                        json_pack ("{s:s, s:s, s:I}", "from", "shopper", "text", text,
                                   "seq", (json_int_t) seq));
    if (rc == 0 && event->client_id && seq) {
        nd_key_t seen;
        talk_id_key (&seen, id);
        nd_key_str (&seen, event->client_id);
        nd_key_t value;
        nd_key_init (&value);
        nd_key_u64 (&value, seq);
        rc = seen.overflow ? 0 : nd_db_put_raw (txn, self->seen, &seen, value.data, value.size);
    }
    if (rc == 0 && seq)
        self->messages++;
    return rc;
}

//  A new conversation goes to the operators if one answers, else it
//  asks for an address; in one they answer, they hear what was said.
static int s_to_operators (chat_talk_t *self, MDB_txn *txn, json_t *record, const char *text)
{
    const char *id = talk_str (record, "id");
    const char *state = talk_str (record, "state");
    int rc = 0;
    if (streq (state, "new")) {
        if (talk_available (self, txn)) {
            json_object_set_new (record, "state", json_string ("operator"));
            rc = talk_note_new (self, txn, record, text);
        }
        else
            json_object_set_new (record, "state", json_string ("ask-email"));
    }
    else
    if (streq (state, "operator") && *text) {
        const char *name = talk_str (record, "name");
        char *note = zsys_sprintf ("#%s %s: %s", id, name ? name : "Visitor", text);
        rc = talk_note (self, txn, id, note);
        zstr_free (&note);
    }
    return rc;
}

//  Nobody to answer: the address typed in the widget or the text; else
//  the profile's if the widget proved who this is; else ask for one, if
//  the conversation is new or the shopper said something (ask).
//  Only a verified visitor's typed address is kept for the profile:
//  anyone else's could be planted in another shopper's name.
static int s_by_email (chat_talk_t *self, MDB_txn *txn, chat_event_t *event, json_t *record,
                       const char *text, bool ask)
{
    int rc = 0;
    bool has_email = event->email && *event->email;
    bool typed = has_email || chat_email_ok (text);
    bool verified = talk_is_verified (record);
    json_t *person = typed || !verified ? NULL
                   : chat_people_get (self->people, txn, talk_str (record, "user"));
    const char *email = has_email ? event->email : typed ? text : talk_str (person, "email");
    if (email && typed && verified)
        rc = chat_people_note_chat (self->people, txn, talk_str (record, "user"), NULL, NULL, email);
    if (rc == 0 && email)
        rc = talk_email (self, txn, record, email, typed);
    else
    if (rc == 0 && ask
    &&  !talk_line (self, txn, record, "system", NULL, self->text_ask))
        rc = -1;
    json_decref (person);
    return rc;
}

int talk_shopper_say (chat_talk_t *self, MDB_txn *txn, chat_event_t *event)
{
    const char *text = event->text ? event->text : "";
    bool has_email = event->email && *event->email;
    if ((!event->anonymous_id && !event->user_id) || (!*text && !has_email)
    ||  strlen (text) > CHAT_TEXT_MAX || (has_email && !chat_email_ok (event->email))) {
        talk_answer (event, 400, json_pack ("{s:s}", "error",
            has_email && !chat_email_ok (event->email) ? "not an e-mail address"
            : "want anonymousId or userId, and text of at most 4000 bytes"));
        return 0;
    }
    json_t *record = event->conversation ? talk_load (self, txn, event->conversation) : NULL;
    if (event->conversation && (!record || !talk_token_ok (record, event->token))) {
        talk_answer (event, record ? 403 : 404, json_pack ("{s:s}", "error",
                     record ? "wrong token for this conversation" : "no such conversation"));
        json_decref (record);
        return 0;
    }
    if (s_retried (self, txn, event, record)) {
        json_decref (record);
        return 0;
    }
    bool fresh = !record || streq (talk_str (record, "state") ?: "", "ended");
    if (fresh) {
        json_decref (record);
        record = NULL;
        int opened = s_open (self, txn, event, &record);
        if (opened)
            return opened < 0 ? -1 : 0;
    }
    uint64_t seq;
    int rc = s_said (self, txn, event, record, text, &seq);
    if (rc == 0)
        rc = s_to_operators (self, txn, record, text);
    if (rc == 0 && streq (talk_str (record, "state"), "ask-email"))
        rc = s_by_email (self, txn, event, record, text, fresh || seq);
    if (rc == 0 && !streq (talk_str (record, "state"), "ended"))
        rc = talk_touch (self, txn, record);
    if (rc == 0)
        rc = talk_store (self, txn, record);
    if (rc == 0)
        s_shopper_answer (event, record, seq, false);
    json_decref (record);
    return rc;
}

int talk_shopper_end (chat_talk_t *self, MDB_txn *txn, chat_event_t *event)
{
    json_t *record = talk_load (self, txn, event->conversation);
    int rc = 0;
    if (!record || !talk_token_ok (record, event->token))
        talk_answer (event, record ? 403 : 404, json_pack ("{s:s}", "error",
                     record ? "wrong token for this conversation" : "no such conversation"));
    else {
        if (!streq (talk_str (record, "state"), "ended"))
            rc = talk_end (self, txn, record, "shopper", self->text_ended);
        if (rc == 0)
            talk_answer (event, 200, json_pack ("{s:s, s:s}", "conversation", talk_str (record, "id"),
                                                "state", "ended"));
    }
    json_decref (record);
    return rc;
}

//  Over rate-per-ip or rate-per-visitor: 429 with Retry-After.
bool talk_limited (chat_talk_t *self, chat_event_t *event)
{
    int64_t wait = chat_limits_request (self->limits, event->client,
                                        event->user_id ? event->user_id : event->anonymous_id,
                                        nd_stage_now (self->stage));
    if (wait == 0)
        return false;
    event->retry_after = (wait + 999) / 1000;
    talk_answer (event, 429, json_pack ("{s:s}", "error", "too many messages: try again in a moment"));
    return true;
}
