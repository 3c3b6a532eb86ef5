/*  chat_conversation - a conversation begins, stays open, and ends.

    Begins: a record with its secret token, the visitor the pipeline knows
    behind the widget's ids (or the number's person, for a text), whether
    the widget proved the userId (see chat_talk.c, "Whose address"), and
    chat.started. Stays open: an idle timer, moved by every message
    (idle-timeout, sms-idle-timeout). Ends: the operators hear of it if
    they were in it, and chat.ended.

    Layer: store: calls chat_notes.c, chat_record.c, chat_people.c and
    chat_sms.c.                                                          */
#include <ctype.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include "chat_talk.h"

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

//  A conversation begins: from the widget (event), or by a text (sms).
json_t *talk_start (chat_talk_t *self, MDB_txn *txn, chat_event_t *event,
                    const chat_sms_in_t *sms)
{
    uint64_t number;
    if (talk_next (self, txn, "conversation", &number))
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
    if (talk_str (person, "name"))
        json_object_set (record, "name", json_object_get (person, "name"));
    json_decref (person);
    nd_key_t key;
    talk_id_key (&key, id);
    if (nd_db_put_raw (txn, self->open, &key, "", 0)
    ||  talk_emit (self, txn, "chat.started", record, json_object ())
    ||  chat_people_note_chat (self->people, txn, visitor, talk_str (record, "started"),
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
    s_idle_key (&key, json_integer_value (due), talk_str (record, "id"));
    return nd_db_del (txn, self->idle, &key) < 0 ? -1 : 0;
}

//  The conversation was active: its idle timer moves.
int talk_touch (chat_talk_t *self, MDB_txn *txn, json_t *record)
{
    if (s_idle_cancel (self, txn, record))
        return -1;
    int64_t next = nd_stage_now (self->stage)
                 + (chat_sms_is (record) ? self->sms_idle_timeout : self->idle_timeout);
    nd_key_t key;
    s_idle_key (&key, next, talk_str (record, "id"));
    json_object_set_new (record, "idle_due", json_integer (next));
    return nd_db_put_raw (txn, self->idle, &key, "", 0);
}

int talk_end (chat_talk_t *self, MDB_txn *txn, json_t *record, const char *reason,
              const char *text)
{
    const char *id = talk_str (record, "id");
    if (s_idle_cancel (self, txn, record))
        return -1;
    json_object_del (record, "idle_due");
    nd_key_t key;
    talk_id_key (&key, id);
    bool operated = streq (talk_str (record, "state") ?: "", "operator");
    json_object_set_new (record, "state", json_string ("ended"));
    json_object_set_new (record, "reason", json_string (reason));
    char note [200];
    snprintf (note, sizeof note, "#%s ended (%s)", id, reason);
    int rc = nd_db_del (txn, self->open, &key) < 0
          || (text && !talk_line (self, txn, record, "system", NULL, text))
          || talk_store (self, txn, record)
          || (operated && talk_note (self, txn, id, note))
          || talk_emit (self, txn, "chat.ended", record, json_pack ("{s:s}", "reason", reason))
           ? -1 : 0;
    if (rc == 0)
        nd_log ("conversation %s ended (%s)", id, reason);
    return rc;
}
