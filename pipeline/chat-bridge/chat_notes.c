/*  chat_notes - what the operators are told, and when.

    A note is made in the transaction of what it tells; it is kept in
    LMDB for durable channels (Telegram) until the channel confirms it,
    and handed to every channel only after the commit
    (chat_talk_committed), so nothing is told that did not happen. At
    start the notes still unconfirmed go again (chat_talk_resend).

    Layer: store: calls chat_record.c, chat_people.c and chat_sms.c.     */
#include "chat_talk.h"

//  A note for the operators: kept in LMDB for durable channels until
//  they confirm it, handed to every channel after the commit.
int talk_note (chat_talk_t *self, MDB_txn *txn, const char *conversation, const char *text)
{
    uint64_t number;
    if (self->channel_count == 0)
        return 0;
    if (talk_next (self, txn, "note", &number))
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
        talk_note_t *pending = (talk_note_t *) zmalloc (sizeof *pending);
        pending->number = number;
        pending->conversation = strdup (conversation);
        pending->text = strdup (text);
        zlist_append (self->pending, pending);
    }
    return rc;
}

void talk_note_free (talk_note_t **note_p)
{
    talk_note_t *note = *note_p;
    if (note) {
        free (note->conversation);
        free (note->text);
        free (note);
        *note_p = NULL;
    }
}

bool chat_talk_committed (chat_talk_t *self, int rc)
{
    talk_note_t *note;
    while ((note = (talk_note_t *) zlist_pop (self->pending))) {
        for (size_t i = 0; rc == 0 && i < self->channel_count; i++)
            if (!note->only || note->only == self->channels [i].channel)
                self->channels [i].channel->deliver (self->channels [i].instance, note->number,
                                                     note->conversation, note->text);
        talk_note_free (&note);
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
    json_t *note = talk_parse (data);
    if (json_is_object (note)) {
        talk_note_t *pending = (talk_note_t *) zmalloc (sizeof *pending);
        pending->number = nd_key_get_u64 (key, key->mv_size - 8);
        pending->conversation = strdup (talk_str (note, "conversation") ?: "");
        pending->text = strdup (talk_str (note, "text") ?: "");
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

//  Who this is, for operators: a text from a number the shop never
//  texted has no profile behind it.
char *talk_summary (const json_t *record, const json_t *person)
{
    if (chat_sms_is (record) && !json_is_true (json_object_get (record, "known")))
        return strdup ("Visitor: unknown (the shop never texted this number)\n");
    return chat_people_summary (person, talk_str (record, "user"), talk_is_verified (record));
}

//  The operators' first note: who this is, then what they asked.
int talk_note_new (chat_talk_t *self, MDB_txn *txn, json_t *record, const char *text)
{
    const char *user = talk_str (record, "user");
    json_t *person = chat_people_get (self->people, txn, user);
    //  The count includes the conversation that just began
    json_t *chats = json_object_get (person, "chats");
    json_int_t count = json_integer_value (json_object_get (chats, "count"));
    if (count <= 1)
        json_object_del (person, "chats");
    else
        json_object_set_new (chats, "count", json_integer (count - 1));
    char *summary = talk_summary (record, person);
    json_decref (person);
    const char *name = talk_str (record, "name");
    char label [80];
    chat_sms_label (record, label, sizeof label);
    char *note = zsys_sprintf ("#%s new chat%s%s%s. Reply to this message to answer.\n%s--\n%s: %s",
                               talk_str (record, "id"), *label ? " (" : "", label, *label ? ")" : "",
                               summary, name ? name : "Visitor", text);
    int rc = talk_note (self, txn, talk_str (record, "id"), note);
    zstr_free (&note);
    free (summary);
    return rc;
}

int talk_note_sent (chat_talk_t *self, MDB_txn *txn, chat_event_t *event)
{
    nd_key_t key;
    nd_key_init (&key);
    nd_key_str (&key, event->channel ? event->channel : "");
    nd_key_u64 (&key, event->number);
    return nd_db_del (txn, self->notes, &key) < 0 ? -1 : 0;
}
