/*  chat_sms - conversations by text message, with the sms-sender.

    Layer: store (sms.phones) and the messages to and from the sms-sender,
    beside chat_people; chat_talk calls it, it calls nothing above.

    The sms-sender passes on every inbound text that is no keyword as
    sms.received {"phone", "text", "user", "users", "provider",
    "message_id"}, "user" being the person the shop last texted at that
    number (empty for a number it never texted: see sms_inbound.c for why
    the number's owner is decided there). chat_texts.c opens or continues
    that number's conversation; sms.phones keeps which one is open:

        sms.phones      phone -> {"conversation": id}

    An operator's answer in such a conversation goes back as a send order
    to the sms-sender, on this stage's journal (topic send.sms, which the
    sms-sender reads from the chat-bridge beside the scheduler):

        {"id", "idempotency_key": "chat/sms/<conversation>/<seq>",
         "user", "channel": "sms", "journey": "chat", "step": "answer",
         "to", "template": "_chat/sms", "data": {"text"}, "conversation"}

    The sms-sender treats it as every order (STOP stands, retries, receipts)
    but as a transactional text: no STOP footer, and no quiet hours (it
    answers a person who wrote, in a conversation that ends after
    sms-idle-timeout of silence). Its feedback comes back here by the key:
    an answer that did not go out is told to the operators.

    Operators and logs see the number masked ("+4860*****00"); the full
    number stays in the conversation's record, to answer it.             */
#define _GNU_SOURCE
#include <assert.h>
#include <stdio.h>
#include <string.h>
#include "sms.h"
#include "chat.h"

#define s_KEY_PREFIX "chat/sms/"

struct _chat_sms_t {
    MDB_dbi phones;
};

chat_sms_t *chat_sms_new (MDB_txn *txn)
{
    chat_sms_t *self = (chat_sms_t *) zmalloc (sizeof *self);
    if (nd_db_open (txn, "sms.phones", &self->phones))
        chat_sms_destroy (&self);
    return self;
}

void chat_sms_destroy (chat_sms_t **self_p)
{
    free (*self_p);
    *self_p = NULL;
}

/* -------------------------------------------------------------- input */

int chat_sms_read (const json_t *body, chat_sms_in_t *in, char *reason, size_t size)
{
    const char *phone = json_string_value (json_object_get (body, "phone"));
    const char *text = json_string_value (json_object_get (body, "text"));
    const char *user = json_string_value (json_object_get (body, "user"));
    const char *id = json_string_value (json_object_get (body, "message_id"));
    *in = (chat_sms_in_t) { phone, text, user && *user ? user : NULL, id && *id ? id : NULL };
    const char *wrong = !sms_phone_valid (phone) ? "no E.164 \"phone\""
                      : !text || !*text ? "no \"text\""
                      : strlen (text) > CHAT_TEXT_MAX ? "\"text\" over 4000 bytes"
                      : user && strlen (user) > CHAT_ID_MAX ? "\"user\" over 200 bytes"
                      : id && strlen (id) > 100 ? "\"message_id\" over 100 bytes" : NULL;
    if (wrong)
        snprintf (reason, size, "sms.received: %s", wrong);
    return wrong ? -1 : 0;
}

/* -------------------------------------------------------------- store */

static void s_phone_key (nd_key_t *key, const char *phone)
{
    nd_key_init (key);
    nd_key_str (key, phone);
}

int chat_sms_find (chat_sms_t *self, MDB_txn *txn, const char *phone, char *id, size_t size)
{
    nd_key_t key;
    s_phone_key (&key, phone);
    json_t *entry = NULL;
    int rc = nd_db_get_json (txn, self->phones, &key, &entry);
    const char *conversation = json_string_value (json_object_get (entry, "conversation"));
    if (rc == 0 && !conversation)
        rc = ND_NOTFOUND;
    if (rc == 0)
        snprintf (id, size, "%s", conversation);
    json_decref (entry);
    return rc;
}

int chat_sms_bind (chat_sms_t *self, MDB_txn *txn, const char *phone, const char *conversation)
{
    nd_key_t key;
    s_phone_key (&key, phone);
    json_t *entry = json_pack ("{s:s}", "conversation", conversation);
    int rc = nd_db_put_json (txn, self->phones, &key, entry);
    json_decref (entry);
    return rc;
}

/* --------------------------------------------------------------- text */

bool chat_sms_is (const json_t *record)
{
    const char *channel = json_string_value (json_object_get (record, "channel"));
    return channel && streq (channel, "sms");
}

const char *chat_sms_label (const json_t *record, char *out, size_t size)
{
    char masked [32];
    if (!chat_sms_is (record))
        snprintf (out, size, "%s", "");
    else
        snprintf (out, size, "SMS from %s%s",
                  sms_phone_mask (json_string_value (json_object_get (record, "phone")),
                                  masked, sizeof masked),
                  json_is_true (json_object_get (record, "known")) ? "" : ", a number never texted");
    return out;
}

/* ------------------------------------------------------------- orders */

int chat_sms_order (nd_stage_t *stage, MDB_txn *txn, const json_t *record, uint64_t seq,
                    const char *text)
{
    const char *id = json_string_value (json_object_get (record, "id"));
    const char *user = json_string_value (json_object_get (record, "user"));
    char key [80];
    snprintf (key, sizeof key, s_KEY_PREFIX "%s/%llu", id ? id : "", (unsigned long long) seq);
    json_t *order = json_pack ("{s:s, s:s, s:s, s:s, s:s, s:s, s:O?, s:s, s:{s:s}, s:s?}",
        "id", key, "idempotency_key", key, "user", user ? user : "", "channel", "sms",
        "journey", "chat", "step", "answer", "to", json_object_get (record, "phone"),
        "template", "_chat/sms", "data", "text", text, "conversation", id);
    int rc = order ? nd_emit (stage, txn, "send.sms", order) : -1;
    json_decref (order);
    return rc;
}

bool chat_sms_feedback (const nd_msg_t *msg, char *conversation, size_t size, bool *delivered)
{
    const char *key = json_string_value (json_object_get (msg->body, "idempotency_key"));
    if (strncmp (msg->topic, "feedback.", 9) || !key
    ||  strncmp (key, s_KEY_PREFIX, strlen (s_KEY_PREFIX)))
        return false;
    const char *id = key + strlen (s_KEY_PREFIX);
    const char *slash = strchr (id, '/');
    if (!slash || slash == id || (size_t) (slash - id) >= size)
        return false;
    snprintf (conversation, size, "%.*s", (int) (slash - id), id);
    *delivered = streq (msg->topic, "feedback.delivered");
    return true;
}

/* ----------------------------------------------------------- selftest */

void chat_sms_test (bool verbose)
{
    if (verbose)
        printf (" * chat_sms: ");
    chat_sms_in_t in;
    char reason [120], id [48];
    json_t *body = json_pack ("{s:s, s:s, s:s, s:s}", "phone", "+48600100200", "text", "Is it in stock?",
                              "user", "v-7", "message_id", "SM1");
    assert (chat_sms_read (body, &in, reason, sizeof reason) == 0);
    assert (streq (in.phone, "+48600100200") && streq (in.user, "v-7") && streq (in.message_id, "SM1"));
    json_object_set_new (body, "user", json_string (""));
    assert (chat_sms_read (body, &in, reason, sizeof reason) == 0 && in.user == NULL);
    json_object_set_new (body, "phone", json_string ("600100200"));
    assert (chat_sms_read (body, &in, reason, sizeof reason) == -1 && strstr (reason, "E.164"));
    json_object_set_new (body, "phone", json_string ("+48600100200"));
    json_object_set_new (body, "text", json_string (""));
    assert (chat_sms_read (body, &in, reason, sizeof reason) == -1 && strstr (reason, "text"));
    json_decref (body);

    json_t *record = json_pack ("{s:s, s:s, s:s, s:b}", "id", "c3", "channel", "sms",
                                "phone", "+48600100200", "known", 0);
    char label [80];
    assert (chat_sms_is (record));
    assert (streq (chat_sms_label (record, label, sizeof label),
                   "SMS from +4860*****00, a number never texted"));
    json_object_set_new (record, "known", json_true ());
    assert (streq (chat_sms_label (record, label, sizeof label), "SMS from +4860*****00"));
    json_object_del (record, "channel");
    assert (!chat_sms_is (record) && streq (chat_sms_label (record, label, sizeof label), ""));
    json_decref (record);

    nd_msg_t msg = { .topic = "feedback.unsubscribed" };
    bool delivered = true;
    msg.body = json_pack ("{s:s}", "idempotency_key", "chat/sms/c12/4");
    assert (chat_sms_feedback (&msg, id, sizeof id, &delivered) && streq (id, "c12") && !delivered);
    json_decref (msg.body);
    msg.body = json_pack ("{s:s}", "idempotency_key", "abandoned-cart/e-1/reminder-1/sms");
    assert (!chat_sms_feedback (&msg, id, sizeof id, &delivered));
    json_decref (msg.body);
    if (verbose)
        printf ("OK\n");
}
