/*  chat_erase - forgetting a shopper: person.erased, visitor.forgotten.

    Layer: store, beside chat_people and chat_talk, reading their
    databases by name (one LMDB environment, the handles are the same).
    Everything kept for the visitor goes: the summary (people), the ids
    that lead to it, and every conversation of theirs with its transcript
    (lines), retry marks (seen), idle timer, notes not yet confirmed by a
    channel, digest entries and the phone numbers that lead to one
    (sms.phones). Counters stay: they count, not name.                   */
#include <string.h>
#include "chat.h"

typedef struct {
    zlistx_t *conversations;    //  ids of the visitor's conversations
    const char *visitor;
} s_erase_t;

//  ids: "a:" | "u:" | "v:", id -> visitor id (without its NUL).
static int s_leads_to (const MDB_val *key, const MDB_val *data, void *visitor)
{
    (void) key;
    return data->mv_size == strlen ((const char *) visitor)
        && memcmp (data->mv_data, visitor, data->mv_size) == 0;
}

static int s_collect (const MDB_val *key, const MDB_val *data, void *arg)
{
    s_erase_t *erase = (s_erase_t *) arg;
    json_t *record = json_loadb ((const char *) data->mv_data, data->mv_size, 0, NULL);
    const char *user = json_string_value (json_object_get (record, "user"));
    if (user && strcmp (user, erase->visitor) == 0)
        zlistx_add_end (erase->conversations, (void *) strndup ((const char *) key->mv_data,
                                                                 key->mv_size));
    json_decref (record);
    return 0;
}

//  A value naming one of the conversations: {"conversation": id, ...}.
static int s_names_conversation (const MDB_val *key, const MDB_val *data, void *arg)
{
    (void) key;
    s_erase_t *erase = (s_erase_t *) arg;
    json_t *record = json_loadb ((const char *) data->mv_data, data->mv_size, 0, NULL);
    const char *id = json_string_value (json_object_get (record, "conversation"));
    bool ours = false;
    for (const char *c = zlistx_first (erase->conversations); id && c && !ours;
         c = zlistx_next (erase->conversations))
        ours = strcmp (c, id) == 0;
    json_decref (record);
    return ours;
}

//  idle: i64 due, conversation id.
static int s_idle_of (const MDB_val *key, const MDB_val *data, void *arg)
{
    (void) data;
    s_erase_t *erase = (s_erase_t *) arg;
    for (const char *c = zlistx_first (erase->conversations); c;
         c = zlistx_next (erase->conversations))
        if (key->mv_size == 8 + strlen (c) + 1 && memcmp ((const char *) key->mv_data + 8, c,
                                                         strlen (c) + 1) == 0)
            return 1;
    return 0;
}

static int s_open (MDB_txn *txn, const char *name, MDB_dbi *dbi)
{
    return nd_db_open (txn, name, dbi);
}

//  Deletes the ids the message lists ("anonymousIds", "userIds") where
//  they lead to visitor; without the lists, every id that does (a scan).
static int s_drop_ids (MDB_txn *txn, MDB_dbi ids, const char *visitor, const json_t *body)
{
    const char *lists [] = { "anonymousIds", "userIds" };
    const char kinds [] = { 'a', 'u' };
    if (!json_is_array (json_object_get (body, lists [0]))) {
        nd_key_t none;
        nd_key_init (&none);
        return nd_db_drop (txn, ids, &none, s_leads_to, (void *) visitor) < 0 ? -1 : 0;
    }
    for (int l = 0; l < 2; l++) {
        size_t index;
        json_t *id;
        json_array_foreach (json_object_get (body, lists [l]), index, id) {
            const char *text = json_string_value (id);
            char prefix [3] = { kinds [l], ':', 0 };
            nd_key_t key;
            nd_key_init (&key);
            nd_key_str (&key, prefix);
            nd_key_str (&key, text ? text : "");
            MDB_val k = nd_key_val (&key), v;
            int rc = key.overflow ? MDB_NOTFOUND : mdb_get (txn, ids, &k, &v);
            if (rc && rc != MDB_NOTFOUND)
                return nd_db_error (rc, "chat ids");
            if (rc == 0 && s_leads_to (&k, &v, (void *) visitor) && nd_db_del (txn, ids, &key) < 0)
                return -1;
        }
    }
    return 0;
}

int chat_erase (MDB_txn *txn, const char *visitor, const json_t *body, bool erased)
{
    MDB_dbi people, ids, conversations, open, lines, seen, idle, notes, digest, phones;
    if (s_open (txn, "people", &people) || s_open (txn, "ids", &ids) || s_open (txn, "sms.phones", &phones)
    ||  s_open (txn, "conversations", &conversations) || s_open (txn, "open", &open)
    ||  s_open (txn, "lines", &lines) || s_open (txn, "seen", &seen) || s_open (txn, "idle", &idle)
    ||  s_open (txn, "notes", &notes) || s_open (txn, "digest", &digest))
        return -1;
    nd_key_t key, none;
    nd_key_init (&none);
    nd_key_init (&key);
    nd_key_str (&key, visitor);
    s_erase_t erase = { zlistx_new (), visitor };
    zlistx_set_destructor (erase.conversations, (zlistx_destructor_fn *) zstr_free);
    //  Only a visitor who chatted has conversations to look for (retention
    //  forgets many who never did); an erasure looks in any case.
    json_t *person = NULL;
    int found = nd_db_get_json (txn, people, &key, &person);
    bool chatted = found == 0 && json_object_get (person, "chats");
    json_decref (person);
    bool look = chatted || erased;
    int rc = found < 0 || nd_db_del (txn, people, &key) < 0
          || s_drop_ids (txn, ids, visitor, body)
          || (look && nd_db_scan (txn, conversations, &none, s_collect, &erase)) ? -1 : 0;
    for (const char *c = zlistx_first (erase.conversations); rc == 0 && c;
         c = zlistx_next (erase.conversations)) {
        nd_key_t id;
        nd_key_init (&id);
        nd_key_str (&id, c);
        if (nd_db_del (txn, conversations, &id) < 0 || nd_db_del (txn, open, &id) < 0
        ||  nd_db_drop (txn, lines, &id, NULL, NULL) < 0
        ||  nd_db_drop (txn, seen, &id, NULL, NULL) < 0)
            rc = -1;
    }
    if (rc == 0 && zlistx_size (erase.conversations)
    &&  (nd_db_drop (txn, idle, &none, s_idle_of, &erase) < 0
    ||   nd_db_drop (txn, notes, &none, s_names_conversation, &erase) < 0
    ||   nd_db_drop (txn, digest, &none, s_names_conversation, &erase) < 0
    ||   nd_db_drop (txn, phones, &none, s_names_conversation, &erase) < 0))
        rc = -1;
    zlistx_destroy (&erase.conversations);
    return rc;
}
