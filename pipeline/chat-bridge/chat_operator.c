/*  chat_operator - what an operator's command does: answer, end, list,
    show.

    Layer: engine: calls chat_conversation.c, chat_notes.c, chat_record.c,
    chat_people.c and chat_sms.c.                                        */
#include "chat_talk.h"

#define s_SHOW_LINES 30

static json_t *s_operator_conversation (chat_talk_t *self, MDB_txn *txn, chat_event_t *event)
{
    json_t *record = talk_load (self, txn, event->conversation);
    if (!record)
        talk_reply (event, "no conversation #%s", event->conversation ? event->conversation : "?");
    else
    if (streq (talk_str (record, "state"), "ended")) {
        talk_reply (event, "#%s has ended", talk_str (record, "id"));
        json_decref (record);
        record = NULL;
    }
    return record;
}

int talk_operator_say (chat_talk_t *self, MDB_txn *txn, chat_event_t *event)
{
    json_t *record = s_operator_conversation (self, txn, event);
    if (!record)
        return 0;
    const char *text = event->text ? event->text : "";
    if (!*text || strlen (text) > CHAT_TEXT_MAX) {
        talk_reply (event, "say something (at most 4000 bytes)");
        json_decref (record);
        return 0;
    }
    const char *name = event->operator_name ? event->operator_name : "Shop";
    json_object_set_new (record, "state", json_string ("operator"));
    uint64_t seq = talk_line (self, txn, record, "operator", name, text);
    int rc = !seq || talk_emit (self, txn, "chat.message", record,
                                json_pack ("{s:s, s:s, s:s, s:I}", "from", "operator", "operator",
                                           event->operator ? event->operator : "", "text", text,
                                           "seq", (json_int_t) seq))
          || (chat_sms_is (record) && chat_sms_order (self->stage, txn, record, seq, text))
          || talk_touch (self, txn, record) || talk_store (self, txn, record) ? -1 : 0;
    char label [80];
    if (rc == 0 && chat_sms_is (record))
        talk_reply (event, "#%s: goes by SMS (%s)", talk_str (record, "id"),
                    chat_sms_label (record, label, sizeof label));
    json_decref (record);
    return rc;
}

int talk_operator_end (chat_talk_t *self, MDB_txn *txn, chat_event_t *event)
{
    json_t *record = s_operator_conversation (self, txn, event);
    if (!record)
        return 0;
    int rc = talk_end (self, txn, record, "operator", self->text_ended);
    if (rc == 0)
        talk_reply (event, "#%s ended", talk_str (record, "id"));
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
    json_t *record = talk_load (list->self, list->txn, id);
    if (record) {
        const char *name = talk_str (record, "name");
        char label [80];
        chat_sms_label (record, label, sizeof label);
        char *line = zsys_sprintf ("#%s %s (%s)%s%s, %lld lines, since %s\n", id,
            name ? name : "Visitor", talk_str (record, "user"), *label ? ", " : "", label,
            (long long) json_integer_value (json_object_get (record, "lines")),
            talk_str (record, "started"));
        zchunk_extend (list->out, line, strlen (line));
        zstr_free (&line);
        list->count++;
    }
    json_decref (record);
    return 0;
}

int talk_operator_list (chat_talk_t *self, MDB_txn *txn, chat_event_t *event)
{
    s_list_t list = { self, txn, zchunk_new (NULL, 256), 0 };
    nd_key_t all;
    nd_key_init (&all);
    nd_db_scan (txn, self->open, &all, s_list_one, &list);
    if (list.count)
        talk_reply (event, "%.*s", (int) zchunk_size (list.out) - 1, (char *) zchunk_data (list.out));
    else
        talk_reply (event, "no open conversations");
    zchunk_destroy (&list.out);
    return 0;
}

int talk_operator_show (chat_talk_t *self, MDB_txn *txn, chat_event_t *event)
{
    json_t *record = talk_load (self, txn, event->conversation);
    if (!record) {
        talk_reply (event, "no conversation #%s", event->conversation ? event->conversation : "?");
        return 0;
    }
    const char *user = talk_str (record, "user");
    json_t *person = chat_people_get (self->people, txn, user);
    char *summary = talk_summary (record, person);
    json_decref (person);
    zchunk_t *out = zchunk_new (NULL, 1024);
    char label [80];
    chat_sms_label (record, label, sizeof label);
    char *head = zsys_sprintf ("#%s (%s%s%s)\n%s--\n", talk_str (record, "id"), talk_str (record, "state"),
                               *label ? ", " : "", label, summary);
    zchunk_extend (out, head, strlen (head));
    zstr_free (&head);
    free (summary);
    int status;
    json_t *transcript = chat_talk_lines (self, talk_str (record, "id"), talk_str (record, "token"),
                                          0, &status);
    json_t *lines = json_object_get (transcript, "lines");
    size_t index, size = json_array_size (lines);
    json_t *line;
    json_array_foreach (lines, index, line) {
        if (size > s_SHOW_LINES && index < size - s_SHOW_LINES)
            continue;
        const char *from = talk_str (line, "from");
        char *text = zsys_sprintf ("%s: %s\n", streq (from, "shopper") ? "Visitor"
                                   : talk_str (line, "name") ?: from, talk_str (line, "text"));
        zchunk_extend (out, text, strlen (text));
        zstr_free (&text);
    }
    json_decref (transcript);
    talk_reply (event, "%.*s", (int) zchunk_size (out) - 1, (char *) zchunk_data (out));
    zchunk_destroy (&out);
    json_decref (record);
    return 0;
}
