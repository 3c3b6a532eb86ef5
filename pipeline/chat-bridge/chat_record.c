/*  chat_record - conversations as records: the record itself, its
    transcript lines, the counters, and the messages a conversation emits.

    Layer: store: calls chat_sms.c (whether a record is by SMS) and the
    runtime; nothing of the talk's above it (chat_talk.h). Also the
    chat_event_t helpers of chat.h, and the transcript read for the HTTP
    threads (chat_talk_lines), in a read transaction of its own.         */
#include <openssl/crypto.h>
#include "nd_json.h"
#include "chat_talk.h"

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

json_t *talk_parse (const MDB_val *data)
{
    return nd_json_parse ((const char *) data->mv_data, data->mv_size, NULL, 0);
}

int talk_counter (chat_talk_t *self, MDB_txn *txn, const char *name, uint64_t *value)
{
    nd_key_t key;
    nd_key_init (&key);
    nd_key_str (&key, name);
    *value = 0;
    return nd_db_get_u64 (txn, self->counters, &key, value) < 0 ? -1 : 0;
}

int talk_counter_set (chat_talk_t *self, MDB_txn *txn, const char *name, uint64_t value)
{
    nd_key_t key;
    nd_key_init (&key);
    nd_key_str (&key, name);
    return nd_db_put_u64 (txn, self->counters, &key, value);
}

//  The next number of a counter, stored.
int talk_next (chat_talk_t *self, MDB_txn *txn, const char *name, uint64_t *value)
{
    if (talk_counter (self, txn, name, value))
        return -1;
    (*value)++;
    return talk_counter_set (self, txn, name, *value);
}

void talk_id_key (nd_key_t *key, const char *conversation)
{
    nd_key_init (key);
    nd_key_str (key, conversation);
}

json_t *talk_load (chat_talk_t *self, MDB_txn *txn, const char *conversation)
{
    if (!conversation || strlen (conversation) > 40)
        return NULL;
    nd_key_t key;
    talk_id_key (&key, conversation);
    json_t *record = NULL;
    if (nd_db_get_json (txn, self->conversations, &key, &record) || !json_is_object (record)) {
        json_decref (record);
        return NULL;
    }
    return record;
}

int talk_store (chat_talk_t *self, MDB_txn *txn, json_t *record)
{
    nd_key_t key;
    talk_id_key (&key, json_string_value (json_object_get (record, "id")));
    return nd_db_put_json (txn, self->conversations, &key, record);
}

const char *talk_str (const json_t *record, const char *field)
{
    return json_string_value (json_object_get (record, field));
}

bool talk_token_ok (const json_t *record, const char *token)
{
    const char *known = talk_str (record, "token");
    return known && token && strlen (known) == strlen (token)
        && CRYPTO_memcmp (known, token, strlen (known)) == 0;
}

void talk_answer (chat_event_t *event, int status, json_t *answer)
{
    event->status = status;
    free (event->answer);
    event->answer = json_dumps (answer, JSON_COMPACT);
    json_decref (answer);
}

void talk_reply (chat_event_t *event, const char *format, ...)
{
    va_list args;
    va_start (args, format);
    free (event->answer);
    event->answer = zsys_vprintf (format, args);
    va_end (args);
}

//  Appends a line to the transcript; returns its seq, or 0 on error.
uint64_t talk_line (chat_talk_t *self, MDB_txn *txn, json_t *record, const char *from,
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
    talk_id_key (&key, talk_str (record, "id"));
    nd_key_u64 (&key, seq);
    int rc = nd_db_put_json (txn, self->lines, &key, line);
    json_decref (line);
    if (rc)
        return 0;
    json_object_set_new (record, "lines", json_integer ((json_int_t) seq));
    self->fresh = true;
    return seq;
}

int talk_emit (chat_talk_t *self, MDB_txn *txn, const char *topic, const json_t *record,
               json_t *body)
{
    json_object_set_new (body, "user", json_string (talk_str (record, "user") ?: ""));
    json_object_set_new (body, "conversation", json_string (talk_str (record, "id") ?: ""));
    const char *ids [] = { "anonymousId", "userId" };
    for (int i = 0; i < 2; i++)
        if (talk_str (record, ids [i]))
            json_object_set_new (body, ids [i], json_string (talk_str (record, ids [i])));
    if (chat_sms_is (record))
        json_object_set_new (body, "channel", json_string ("sms"));
    int rc = nd_emit (self->stage, txn, topic, body);
    json_decref (body);
    return rc;
}

bool talk_is_verified (const json_t *record)
{
    return json_is_true (json_object_get (record, "verified"));
}

json_t *chat_talk_lines (chat_talk_t *self, const char *conversation, const char *token,
                         uint64_t after, int *status)
{
    MDB_txn *txn;
    if (mdb_txn_begin (nd_stage_env (self->stage), NULL, MDB_RDONLY, &txn)) {
        *status = 503;
        return NULL;
    }
    json_t *record = talk_load (self, txn, conversation);
    json_t *answer = NULL;
    *status = !record ? 404 : !talk_token_ok (record, token) ? 403 : 200;
    if (*status == 200) {
        json_t *lines = json_array ();
        uint64_t last = (uint64_t) json_integer_value (json_object_get (record, "lines"));
        for (uint64_t seq = after + 1; seq <= last; seq++) {
            nd_key_t key;
            talk_id_key (&key, conversation);
            nd_key_u64 (&key, seq);
            json_t *line = NULL;
            if (nd_db_get_json (txn, self->lines, &key, &line) == 0)
                json_array_append_new (lines, line);
            else
                json_decref (line);
        }
        answer = json_pack ("{s:s, s:s, s:o}", "conversation", conversation,
                            "state", talk_str (record, "state"), "lines", lines);
    }
    json_decref (record);
    mdb_txn_abort (txn);
    return answer;
}
