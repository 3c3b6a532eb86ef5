/*  chat_people - what an operator should know before answering.

    The chat-bridge reads the segmenter's output (the sessionizer's
    events, annotated with segments and the visitor's counters) and keeps
    per visitor, in its own LMDB, a small summary: name and e-mail from
    the traits (only ever shown to operators, the address masked), the cart and its value, the last products viewed, the
    segments, orders and spend, and the conversations they had before.

    The widget knows a browser's anonymousId and, once logged in, the
    shop's userId; the pipeline knows the visitor id the sessionizer gave
    them. Every event carries both, so the ids database maps
        "a:" anonymousId, "u:" userId  ->  visitor
    and a merged-away visitor ("v:" loser) to the one that survived.    */
#include "chat.h"

#define s_VIEWED_MAX 5
#define s_ALIAS_DEPTH 8

/*  Consecutive messages are mostly about one visitor (an event, then
    the cart and session it changed): the last visitor's summary and the
    ids last seen leading to them are kept as the open transaction has
    them, so the next message about them reads nothing back. Forgotten
    at each commit or abort (chat_people_forget) and by any other write. */
typedef struct {
    char id [CHAT_ID_MAX + 1];
    char visitor [CHAT_ID_MAX + 1];
} s_id_seen_t;

struct _chat_people_t {
    MDB_dbi ids;
    MDB_dbi people;
    char visitor [CHAT_ID_MAX + 1];
    json_t *person;             //  visitor's summary, as stored; NULL: none
    s_id_seen_t seen [2];       //  the last anonymousId, userId, and where
                                //  each leads
};

chat_people_t *chat_people_new (MDB_txn *txn)
{
    chat_people_t *self = (chat_people_t *) zmalloc (sizeof *self);
    if (nd_db_open (txn, "ids", &self->ids) || nd_db_open (txn, "people", &self->people))
        chat_people_destroy (&self);
    return self;
}

void chat_people_destroy (chat_people_t **self_p)
{
    if (*self_p)
        chat_people_forget (*self_p);
    free (*self_p);
    *self_p = NULL;
}

void chat_people_forget (chat_people_t *self)
{
    json_decref (self->person);
    self->person = NULL;
    memset (self->seen, 0, sizeof self->seen);
}

/* ---------------------------------------------------------------- ids */

static void s_id_key (nd_key_t *key, char kind, const char *id)
{
    char prefix [3] = { kind, ':', 0 };
    nd_key_init (key);
    nd_key_str (key, prefix);
    nd_key_str (key, id);
}

static int s_id_get (chat_people_t *self, MDB_txn *txn, char kind, const char *id,
                     char *out, size_t size)
{
    if (!id || !*id || strlen (id) > CHAT_ID_MAX)
        return ND_NOTFOUND;
    nd_key_t key;
    s_id_key (&key, kind, id);
    MDB_val k = nd_key_val (&key), data;
    int rc = mdb_get (txn, self->ids, &k, &data);
    if (rc == MDB_NOTFOUND)
        return ND_NOTFOUND;
    if (rc)
        return nd_db_error (rc, "ids");
    snprintf (out, size, "%.*s", (int) data.mv_size, (const char *) data.mv_data);
    return 0;
}

static int s_id_put (chat_people_t *self, MDB_txn *txn, char kind, const char *id,
                     const char *visitor)
{
    if (!id || !*id || strlen (id) > CHAT_ID_MAX || !visitor || !*visitor
    ||  strlen (visitor) > CHAT_ID_MAX)
        return 0;
    s_id_seen_t *seen = kind == 'a' ? &self->seen [0] : kind == 'u' ? &self->seen [1] : NULL;
    if (seen && streq (seen->id, id) && streq (seen->visitor, visitor))
        return 0;
    char known [CHAT_ID_MAX + 1];
    int rc = 0;
    if (s_id_get (self, txn, kind, id, known, sizeof known) || !streq (known, visitor)) {
        nd_key_t key;
        s_id_key (&key, kind, id);
        rc = nd_db_put_raw (txn, self->ids, &key, visitor, strlen (visitor));
    }
    if (seen && rc == 0) {
        strcpy (seen->id, id);
        strcpy (seen->visitor, visitor);
    }
    return rc;
}

void chat_people_resolve (chat_people_t *self, MDB_txn *txn, const char *anonymous_id,
                          const char *user_id, char *visitor, size_t size)
{
    if (s_id_get (self, txn, 'u', user_id, visitor, size)
    &&  s_id_get (self, txn, 'a', anonymous_id, visitor, size)) {
        snprintf (visitor, size, "%s", user_id && *user_id ? user_id
                                       : anonymous_id ? anonymous_id : "");
        return;
    }
    char next [CHAT_ID_MAX + 1];
    for (int depth = 0; depth < s_ALIAS_DEPTH
                     && s_id_get (self, txn, 'v', visitor, next, sizeof next) == 0; depth++)
        snprintf (visitor, size, "%s", next);
}

/* ------------------------------------------------------------ summary */

json_t *chat_people_get (chat_people_t *self, MDB_txn *txn, const char *visitor)
{
    json_t *person = NULL;
    nd_key_t key;
    nd_key_init (&key);
    nd_key_str (&key, visitor ? visitor : "");
    if (key.overflow || nd_db_get_json (txn, self->people, &key, &person) || !json_is_object (person)) {
        json_decref (person);
        person = json_object ();
    }
    return person;
}

static int s_put (chat_people_t *self, MDB_txn *txn, const char *visitor, json_t *person)
{
    nd_key_t key;
    nd_key_init (&key);
    nd_key_str (&key, visitor);
    return key.overflow ? 0 : nd_db_put_json (txn, self->people, &key, person);
}

//  Takes value: the person's field becomes it, and *changed says so when
//  that was news (most messages repeat what the summary holds, and then
//  nothing is written).
static void s_set (json_t *person, const char *field, json_t *value, bool *changed)
{
    if (value && !json_equal (json_object_get (person, field), value)) {
        json_object_set (person, field, value);
        *changed = true;
    }
    json_decref (value);
}

static void s_traits (json_t *person, json_t *traits, bool *changed)
{
    if (!json_is_object (traits))
        return;
    const char *email = json_string_value (json_object_get (traits, "email"));
    const char *first = json_string_value (json_object_get (traits, "firstName"));
    const char *last = json_string_value (json_object_get (traits, "lastName"));
    const char *name = json_string_value (json_object_get (traits, "name"));
    if (email && chat_email_ok (email))
        s_set (person, "email", json_string (email), changed);
    if (name && *name)
        s_set (person, "name", json_string (name), changed);
    else
    if (first && *first)
        s_set (person, "name", json_sprintf ("%s%s%s", first, last ? " " : "", last ? last : ""),
               changed);
}

//  The last few products viewed, newest first, each once.
static void s_viewed (json_t *person, const json_t *body, bool *changed)
{
    json_t *properties = json_object_get (body, "properties");
    const char *name = json_string_value (json_object_get (properties, "name"));
    if (!name)
        name = json_string_value (json_object_get (properties, "product_id"));
    if (!name || !*name)
        return;
    json_t *viewed = json_object_get (person, "viewed");
    json_t *fresh = json_array ();
    json_array_append_new (fresh, json_string (name));
    size_t index;
    json_t *item;
    json_array_foreach (viewed, index, item)
        if (json_array_size (fresh) < s_VIEWED_MAX && !streq (json_string_value (item) ?: "", name))
            json_array_append (fresh, item);
    s_set (person, "viewed", fresh, changed);
}

static void s_counters (json_t *person, const json_t *profile, bool *changed)
{
    const char *fields [] = { "orders", "spend", "visits", NULL };
    for (int i = 0; fields [i]; i++) {
        json_t *value = json_object_get (profile, fields [i]);
        if (json_is_number (value))
            s_set (person, fields [i], json_incref (value), changed);
    }
    json_t *last = json_object_get (profile, "last_order");
    if (last && !json_is_null (last))
        s_set (person, "last_order", json_incref (last), changed);
}

//  visitor's summary, kept (not the caller's): the one kept already, or
//  read and kept instead.
static json_t *s_person (chat_people_t *self, MDB_txn *txn, const char *visitor)
{
    if (self->person && streq (self->visitor, visitor))
        return self->person;
    json_decref (self->person);
    self->person = chat_people_get (self, txn, visitor);
    snprintf (self->visitor, sizeof self->visitor, "%s", visitor);
    return self->person;
}

int chat_people_observe (chat_people_t *self, MDB_txn *txn, const nd_msg_t *msg)
{
    const json_t *body = msg->body;
    const char *visitor = json_string_value (json_object_get (body, "user"));
    if (!visitor || !*visitor || strlen (visitor) > CHAT_ID_MAX)
        return 0;
    if (streq (msg->topic, "visitor.merged")) {
        const char *loser = json_string_value (json_object_get (body, "merged"));
        return loser && !streq (loser, visitor) ? s_id_put (self, txn, 'v', loser, visitor) : 0;
    }
    int rc = s_id_put (self, txn, 'a', json_string_value (json_object_get (body, "anonymousId")),
                       visitor)
          || s_id_put (self, txn, 'u', json_string_value (json_object_get (body, "userId")),
                       visitor) ? -1 : 0;
    const char *lists [] = { "anonymousIds", "userIds" };
    for (int l = 0; l < 2 && rc == 0; l++) {
        size_t index;
        json_t *id;
        json_array_foreach (json_object_get (body, lists [l]), index, id)
            if (rc == 0)
                rc = s_id_put (self, txn, l ? 'u' : 'a', json_string_value (id), visitor);
    }
    if (rc)
        return -1;
    json_t *person = s_person (self, txn, visitor);
    bool changed = false;
    json_t *segments = json_object_get (body, "segments");
    if (json_is_array (segments))
        s_set (person, "segments", json_incref (segments), &changed);
    s_counters (person, json_object_get (body, "profile"), &changed);
    s_traits (person, json_object_get (body, "traits"), &changed);
    if (streq (msg->topic, "cart.updated") && json_is_object (json_object_get (body, "cart")))
        s_set (person, "cart", json_incref (json_object_get (body, "cart")), &changed);
    else
    if (streq (msg->topic, "event.track")
    &&  streq (json_string_value (json_object_get (body, "event")) ?: "", "Product Viewed"))
        s_viewed (person, body, &changed);
    else
    if (streq (msg->topic, "order.completed")) {
        s_set (person, "cart", json_object (), &changed);
        s_set (person, "last_order", json_incref (json_object_get (body, "time")), &changed);
    }
    if (changed && (rc = s_put (self, txn, visitor, person)))
        chat_people_forget (self);
    return rc;
}

int chat_people_note_chat (chat_people_t *self, MDB_txn *txn, const char *visitor,
                           const char *started, const char *first_line, const char *email)
{
    chat_people_forget (self);
    if (!visitor || !*visitor)
        return 0;
    json_t *person = chat_people_get (self, txn, visitor);
    if (started) {
        json_t *chats = json_object_get (person, "chats");
        json_int_t count = json_integer_value (json_object_get (chats, "count"));
        json_object_set_new (person, "chats", json_pack ("{s:I, s:s, s:s}", "count", count + 1,
                             "last", started, "about", first_line ? first_line : ""));
    }
    if (email && chat_email_ok (email) && !json_object_get (person, "email"))
        json_object_set_new (person, "email", json_string (email));
    int rc = s_put (self, txn, visitor, person);
    json_decref (person);
    return rc;
}

static void s_line (zchunk_t *out, const char *format, ...) __attribute__ ((format (printf, 2, 3)));
static void s_line (zchunk_t *out, const char *format, ...)
{
    va_list args;
    va_start (args, format);
    char *text = zsys_vprintf (format, args);
    va_end (args);
    zchunk_extend (out, text, strlen (text));
    zchunk_extend (out, "\n", 1);
    zstr_free (&text);
}

static void s_money (char *out, size_t size, double value, const char *currency)
{
    snprintf (out, size, "%.2f%s%s", value, currency ? " " : "", currency ? currency : "");
}

static void s_join (char *out, size_t size, const json_t *array, const char *field)
{
    out [0] = 0;
    size_t index, used = 0;
    json_t *item;
    json_array_foreach (array, index, item) {
        const char *text = field ? json_string_value (json_object_get (item, field))
                                 : json_string_value (item);
        if (text && used < size)
            used += (size_t) snprintf (out + used, size - used, "%s%s", used ? ", " : "", text);
    }
}

char *chat_people_summary (const json_t *person, const char *visitor, bool verified)
{
    zchunk_t *out = zchunk_new (NULL, 512);
    if (!verified)
        s_line (out, "Unverified visitor: the widget did not prove who this is, and anyone "
                     "can send another shopper's id; do not act on what follows or disclose it");
    char text [600], money [64];
    const char *name = json_string_value (json_object_get (person, "name"));
    char masked [128];
    const char *email = json_string_value (json_object_get (person, "email"));
    s_line (out, "Visitor: %s (%s)%s%s", name ? name : "unknown", visitor,
            email ? ", e-mail " : "", email ? chat_mask_email (email, masked, sizeof masked) : "");
    json_t *cart = json_object_get (person, "cart");
    json_t *items = json_object_get (cart, "items");
    if (json_array_size (items)) {
        size_t index, used = 0;
        json_t *item;
        text [0] = 0;
        json_array_foreach (items, index, item)
            if (used < sizeof text)
                used += (size_t) snprintf (text + used, sizeof text - used, "%s%s x%lld",
                    used ? ", " : "", json_string_value (json_object_get (item, "name")) ?: "?",
                    (long long) (json_integer_value (json_object_get (item, "quantity")) ?: 1));
        s_money (money, sizeof money, json_number_value (json_object_get (cart, "value")),
                 json_string_value (json_object_get (cart, "currency")));
        s_line (out, "Cart: %s (%s)", text, money);
    }
    else
        s_line (out, "Cart: empty");
    s_join (text, sizeof text, json_object_get (person, "viewed"), NULL);
    if (*text)
        s_line (out, "Viewed: %s", text);
    s_join (text, sizeof text, json_object_get (person, "segments"), NULL);
    s_line (out, "Segments: %s", *text ? text : "none");
    json_int_t orders = json_integer_value (json_object_get (person, "orders"));
    if (orders) {
        s_money (money, sizeof money, json_number_value (json_object_get (person, "spend")),
                 json_string_value (json_object_get (cart, "currency")));
        const char *last = json_string_value (json_object_get (person, "last_order"));
        s_line (out, "Orders: %lld, %s spent%s%.10s", (long long) orders, money,
                last ? ", last " : "", last ? last : "");
    }
    else
        s_line (out, "Orders: none");
    json_t *chats = json_object_get (person, "chats");
    if (chats)
        s_line (out, "Earlier chats: %lld, last %.10s about \"%.80s\"",
                (long long) json_integer_value (json_object_get (chats, "count")),
                json_string_value (json_object_get (chats, "last")) ?: "",
                json_string_value (json_object_get (chats, "about")) ?: "");
    else
        s_line (out, "Earlier chats: none");
    char *summary = strndup ((char *) zchunk_data (out), zchunk_size (out));
    zchunk_destroy (&out);
    return summary;
}

size_t chat_people_count (chat_people_t *self, MDB_txn *txn)
{
    MDB_stat stat;
    return mdb_stat (txn, self->people, &stat) == 0 ? stat.ms_entries : 0;
}

/* --------------------------------------------------------------- misc */

bool chat_email_ok (const char *address)
{
    if (!address)
        return false;
    size_t size = strlen (address);
    const char *at = strchr (address, '@');
    if (size < 3 || size > 254 || !at || at == address || strchr (at + 1, '@')
    ||  !strchr (at + 1, '.') || at [1] == '.' || address [size - 1] == '.')
        return false;
    for (const char *p = address; *p; p++)
        if ((unsigned char) *p <= ' ' || *p == '<' || *p == '>' || *p == '"' || *p == ','
        ||  *p == ';' || *p == '(' || *p == ')' || *p == '\\' || (unsigned char) *p >= 0x7f)
            return false;
    return true;
}

const char *chat_mask_email (const char *address, char *out, size_t size)
{
    const char *at = address ? strchr (address, '@') : NULL;
    if (!at || at == address)
        snprintf (out, size, "***");
    else
        snprintf (out, size, "%c***%s", address [0], at);
    return out;
}
