/*  chat_texts - what a text message does: sms.received from the
    sms-sender, and its feedback on an operator's answer by SMS.

    chat_sms.c keeps which conversation a number has and speaks the
    sms-sender's messages; this file is what they do to conversations.

    Layer: engine: calls chat_mail.c, chat_presence.c, chat_conversation.c,
    chat_notes.c, chat_record.c and chat_sms.c.                          */
#include "chat_talk.h"

//  A provider's retry of a text already in the conversation: "seen" as
//  the widget's retries are, by the provider's id. mark: remember seq.
static int s_sms_seen (chat_talk_t *self, MDB_txn *txn, const json_t *record,
                       const chat_sms_in_t *sms, uint64_t mark)
{
    if (!sms->message_id)
        return 0;
    nd_key_t key;
    talk_id_key (&key, talk_str (record, "id"));
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
    json_t *record = found == 0 ? talk_load (self, txn, id) : NULL;
    if (found < 0)
        return -1;
    if (record && (streq (talk_str (record, "state") ?: "", "ended") || !chat_sms_is (record))) {
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
    if (fresh && (!(record = talk_start (self, txn, &start, &sms))
              ||  chat_sms_bind (self->sms, txn, sms.phone, talk_str (record, "id"))))
        return -1;
    const char *name = talk_str (record, "name");
    uint64_t seq = talk_line (self, txn, record, "shopper", NULL, sms.text);
    int rc = !seq || talk_emit (self, txn, "chat.message", record,
                                json_pack ("{s:s, s:s, s:I}", "from", "shopper", "text", sms.text,
                                           "seq", (json_int_t) seq))
          || s_sms_seen (self, txn, record, &sms, seq) ? -1 : 0;
    if (rc == 0 && fresh) {
        json_object_set_new (record, "state", json_string ("operator"));
        rc = talk_note_new (self, txn, record, sms.text);
        if (rc == 0 && !talk_available (self, txn))
            rc = talk_sms_mail (self, txn, record, sms.text);
    }
    else
    if (rc == 0) {
        char *note = zsys_sprintf ("#%s %s: %s", talk_str (record, "id"), name ? name : "Visitor",
                                   sms.text);
        rc = talk_note (self, txn, talk_str (record, "id"), note);
        zstr_free (&note);
    }
    if (rc == 0)
        rc = talk_touch (self, txn, record) || talk_store (self, txn, record) ? -1 : 0;
    if (rc == 0) {
        self->messages++;
        self->texts++;
        if (!fresh)
            nd_log ("conversation %s: a text (%zu bytes)", talk_str (record, "id"), strlen (sms.text));
    }
    json_decref (record);
    return rc;
}

//  An operator's answer that did not go out as SMS: the operators hear
//  why, and the transcript keeps it.
static int s_sms_undelivered (chat_talk_t *self, MDB_txn *txn, const char *id, const nd_msg_t *msg)
{
    json_t *record = talk_load (self, txn, id);
    if (!record)
        return 0;               //  erased meanwhile
    const char *why = json_string_value (json_object_get (msg->body, "reason"));
    char *text = zsys_sprintf ("Not sent by SMS (%s%s%.200s)", msg->topic + 9, why ? ": " : "",
                               why ? why : "");
    char *note = zsys_sprintf ("#%s your answer was not delivered. %s", id, text);
    int rc = !talk_line (self, txn, record, "system", NULL, text) || talk_note (self, txn, id, note)
          || talk_store (self, txn, record) ? -1 : 0;
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
