/*  onsite_store - on-site messages in LMDB, per visitor.

    State, one database each (keys through nd_key_*):
      messages   message id                      -> JSON: what the page
                 shows, the order's names (key, user, journey, instance,
                 step, variant), "to", "created", "expires", and what the
                 page reported ("shown", "clicked", "dismissed": times)
      inbox      anonymous id + i64 created + id -> "" (what a poll may
                 show; a message leaves it once shown or dismissed)
      expiry     i64 expires + id                -> "" (by time)
      counters   name                            -> u64 (STATS)

    A message is served while it has not been shown and has not expired:
    "lifetime" after the order's time, or the order's "not_after" if that
    is sooner. The page's reports become feedback for the scheduler in the
    transaction that records them: feedback.delivered when first shown,
    feedback.clicked when first clicked, feedback.dismissed; a message that
    expires unseen gives feedback.expired. A click or a dismissal of a
    message never reported shown counts as shown too.                   */
#include "nd_json.h"
#include "onsite.h"

#define s_EXPIRE_BATCH 1000         //  messages forgotten per transaction at most
#define s_SERVED_MAX 10             //  messages in one poll's answer

static const char *s_counter_names [] = {
    "orders", "duplicates", "failed", "shown", "clicked", "dismissed", "expired", NULL
};

struct _onsite_store_t {
    nd_stage_t *stage;
    nd_templates_t *templates;
    int64_t lifetime;
    MDB_dbi messages, inbox, expiry, counters;
    zlistx_t *touched;              //  anonymous ids with new messages in this transaction
};

/* ------------------------------------------------------------- helpers */

static void s_id_key (nd_key_t *key, const char *id)
{
    nd_key_init (key);
    nd_key_str (key, id);
}

static void s_inbox_key (nd_key_t *key, const char *visitor, int64_t created, const char *id)
{
    nd_key_init (key);
    nd_key_str (key, visitor);
    nd_key_i64 (key, created);
    nd_key_str (key, id);
}

static void s_expiry_key (nd_key_t *key, int64_t expires, const char *id)
{
    nd_key_init (key);
    nd_key_i64 (key, expires);
    nd_key_str (key, id);
}

static int s_count (onsite_store_t *self, MDB_txn *txn, const char *name)
{
    nd_key_t key;
    uint64_t value = 0;
    s_id_key (&key, name);
    return nd_db_get_u64 (txn, self->counters, &key, &value) < 0
        || nd_db_put_u64 (txn, self->counters, &key, value + 1) ? -1 : 0;
}

static int64_t s_int (const json_t *record, const char *field)
{
    return (int64_t) json_integer_value (json_object_get (record, field));
}

//  Feedback for the scheduler about the message's order, as a sender's.
static int s_feedback (onsite_store_t *self, MDB_txn *txn, const json_t *record,
                       const char *kind, const char *reason)
{
    const char *key = json_string_value (json_object_get (record, "idempotency_key"));
    char id [600], topic [32], stamp [32];
    snprintf (id, sizeof id, "%s#%s", key ? key : "", kind);
    snprintf (topic, sizeof topic, "feedback.%s", kind);
    json_t *body = json_pack ("{s:s, s:s, s:s, s:s}", "id", id, "idempotency_key", key ? key : "",
        "time", nd_time_format (nd_stage_now (self->stage), stamp), "channel", "onsite");
    const char *copied [] = { "user", "journey", "instance", "step", "variant", NULL };
    for (int i = 0; copied [i]; i++) {
        json_t *value = json_object_get (record, copied [i]);
        if (json_is_string (value))
            json_object_set (body, copied [i], value);
    }
    if (reason)
        json_object_set_new (body, "reason", json_string (reason));
    int rc = nd_emit (self->stage, txn, topic, body);
    json_decref (body);
    return rc;
}

//  Takes the message out of every addressee's inbox: it is served no more.
static int s_unlist (onsite_store_t *self, MDB_txn *txn, const json_t *record)
{
    const char *id = json_string_value (json_object_get (record, "id"));
    size_t index;
    json_t *visitor;
    json_array_foreach (json_object_get (record, "to"), index, visitor) {
        nd_key_t key;
        s_inbox_key (&key, json_string_value (visitor), s_int (record, "created"), id);
        if (nd_db_del (txn, self->inbox, &key) < 0)
            return -1;
    }
    return 0;
}

/* -------------------------------------------------------------- orders */

//  "to": one to ONSITE_TO_MAX anonymous ids, each a string of at most
//  ONSITE_VISITOR_MAX bytes.
static bool s_to_ok (const json_t *to)
{
    size_t index;
    json_t *visitor;
    if (!json_is_array (to) || json_array_size (to) == 0 || json_array_size (to) > ONSITE_TO_MAX)
        return false;
    json_array_foreach (to, index, visitor)
        if (!json_is_string (visitor) || json_string_length (visitor) == 0
        ||  json_string_length (visitor) > ONSITE_VISITOR_MAX)
            return false;
    return true;
}

static int64_t s_expires (onsite_store_t *self, const nd_msg_t *msg, int64_t now)
{
    int64_t created = msg->time ? msg->time : now;
    int64_t expires = created + self->lifetime, not_after;
    const char *text = json_string_value (json_object_get (msg->body, "not_after"));
    if (text && nd_time_parse (text, &not_after) == 0 && not_after < expires)
        expires = not_after;
    return expires;
}

static int s_keep (onsite_store_t *self, MDB_txn *txn, json_t *record)
{
    const char *id = json_string_value (json_object_get (record, "id"));
    nd_key_t key;
    s_id_key (&key, id);
    if (nd_db_put_json (txn, self->messages, &key, record))
        return -1;
    s_expiry_key (&key, s_int (record, "expires"), id);
    if (nd_db_put_raw (txn, self->expiry, &key, "", 0))
        return -1;
    size_t index;
    json_t *visitor;
    json_array_foreach (json_object_get (record, "to"), index, visitor) {
        s_inbox_key (&key, json_string_value (visitor), s_int (record, "created"), id);
        if (nd_db_put_raw (txn, self->inbox, &key, "", 0))
            return -1;
        zlistx_add_end (self->touched, (void *) json_string_value (visitor));
    }
    return s_count (self, txn, "orders");
}

int onsite_store_order (onsite_store_t *self, MDB_txn *txn, const nd_msg_t *msg)
{
    const char *key = json_string_value (json_object_get (msg->body, "idempotency_key"));
    json_t *to = json_object_get (msg->body, "to");
    if (!key || !*key || strlen (key) > 400 || !s_to_ok (to)) {
        nd_stage_reject (self->stage, msg, "an on-site order needs an idempotency_key and "
                         "\"to\": 1 to 5 anonymous ids");
        return -1;
    }
    char id [ONSITE_ID_SIZE];
    onsite_message_id (key, id);
    nd_key_t id_key;
    s_id_key (&id_key, id);
    MDB_val k = nd_key_val (&id_key), v;
    int rc = mdb_get (txn, self->messages, &k, &v);
    if (rc == 0)
        return s_count (self, txn, "duplicates");
    if (rc != MDB_NOTFOUND)
        return nd_db_error (rc, "messages");
    int64_t now = nd_stage_now (self->stage);
    json_t *record = json_pack ("{s:s, s:s, s:O, s:I, s:I}", "id", id, "idempotency_key", key,
        "to", to, "created", (json_int_t) (msg->time ? msg->time : now),
        "expires", (json_int_t) s_expires (self, msg, now));
    const char *copied [] = { "user", "journey", "instance", "step", "variant", NULL };
    for (int i = 0; copied [i]; i++)
        if (json_is_string (json_object_get (msg->body, copied [i])))
            json_object_set (record, copied [i], json_object_get (msg->body, copied [i]));
    char reason [300];
    json_t *message = onsite_render (self->templates, msg->body, reason, sizeof reason);
    if (!message) {
        nd_log ("failed %s: %s", key, reason);
        rc = s_feedback (self, txn, record, "failed", reason) || s_count (self, txn, "failed");
    }
    else {
        json_object_update (record, message);
        rc = s_keep (self, txn, record);
    }
    json_decref (message);
    json_decref (record);
    return rc ? -1 : 0;
}

/* ------------------------------------------------------------- reports */

//  The first report of what (a time in the record) gives its feedback.
static int s_first (onsite_store_t *self, MDB_txn *txn, json_t *record, const char *what,
                    const char *kind, int64_t now)
{
    if (json_object_get (record, what))
        return 0;
    json_object_set_new (record, what, json_integer (now));
    return s_feedback (self, txn, record, kind, NULL) || s_count (self, txn, what) ? -1 : 0;
}

int onsite_store_report (void *self_, MDB_txn *txn, void *report_)
{
    onsite_store_t *self = (onsite_store_t *) self_;
    onsite_report_t *report = (onsite_report_t *) report_;
    int64_t now = nd_stage_now (self->stage);
    nd_key_t key;
    s_id_key (&key, report->id);
    json_t *record = NULL;
    int rc = nd_db_get_json (txn, self->messages, &key, &record);
    if (rc < 0)
        return -1;
    report->status = 404;
    if (rc == ND_NOTFOUND || !nd_json_has_string (json_object_get (record, "to"), report->visitor)
    ||  s_int (record, "expires") <= now) {
        json_decref (record);
        return 0;
    }
    bool listed = !json_object_get (record, "shown") && !json_object_get (record, "dismissed");
    rc = s_first (self, txn, record, "shown", "delivered", now);
    if (rc == 0 && report->action == ONSITE_CLICKED)
        rc = s_first (self, txn, record, "clicked", "clicked", now);
    if (rc == 0 && report->action == ONSITE_DISMISSED)
        rc = s_first (self, txn, record, "dismissed", "dismissed", now);
    if (rc == 0 && listed)
        rc = s_unlist (self, txn, record);
    if (rc == 0)
        rc = nd_db_put_json (txn, self->messages, &key, record);
    json_decref (record);
    report->status = 200;
    return rc;
}

/* -------------------------------------------------------------- expiry */

//  The first expiry entry: 1 with its time and id, 0 when none, -1.
static int s_first_expiry (onsite_store_t *self, MDB_txn *txn, int64_t *expires, char *id)
{
    MDB_cursor *cursor;
    int rc = mdb_cursor_open (txn, self->expiry, &cursor);
    if (rc)
        return nd_db_error (rc, "expiry cursor");
    MDB_val k, v;
    rc = mdb_cursor_get (cursor, &k, &v, MDB_FIRST);
    int found = 0;
    if (rc == 0 && k.mv_size > 8 && k.mv_size - 8 <= ONSITE_ID_SIZE) {
        *expires = nd_key_get_i64 (&k, 0);
        memcpy (id, (char *) k.mv_data + 8, k.mv_size - 8);
        id [k.mv_size - 9] = 0;
        found = 1;
    }
    else
    if (rc == 0)
        found = mdb_cursor_del (cursor, 0) ? -1 : 0;      //  not ours: drop it
    else
    if (rc != MDB_NOTFOUND)
        found = nd_db_error (rc, "expiry");
    mdb_cursor_close (cursor);
    return found;
}

int onsite_store_expire (onsite_store_t *self, MDB_txn *txn, int64_t now)
{
    for (int done = 0; done < s_EXPIRE_BATCH; done++) {
        int64_t expires = 0;
        char id [ONSITE_ID_SIZE] = "";
        int found = s_first_expiry (self, txn, &expires, id);
        if (found <= 0 || expires > now)
            return found < 0 ? -1 : 0;
        nd_key_t key;
        s_expiry_key (&key, expires, id);
        if (nd_db_del (txn, self->expiry, &key) < 0)
            return -1;
        json_t *record = NULL;
        s_id_key (&key, id);
        int rc = nd_db_get_json (txn, self->messages, &key, &record);
        if (rc == 0) {
            bool unseen = !json_object_get (record, "shown");
            rc = (unseen && (s_feedback (self, txn, record, "expired", "not shown before it expired")
                             || s_count (self, txn, "expired")))
              || (unseen && s_unlist (self, txn, record))
              || nd_db_del (txn, self->messages, &key) < 0 ? -1 : 0;
        }
        json_decref (record);
        if (rc < 0)
            return -1;
    }
    return 0;
}

/* --------------------------------------------------------------- reads */

typedef struct {
    onsite_store_t *self;
    MDB_txn *txn;
    json_t *messages;
    int64_t now;
} s_served_t;

//  What the page sees of a message: no order names, no addressees.
static json_t *s_public (const json_t *record)
{
    char stamp [32];
    json_t *message = json_object ();
    const char *fields [] = { "id", "kind", "title", "body", "url", "image", "products", NULL };
    for (int i = 0; fields [i]; i++)
        json_object_set (message, fields [i], json_object_get (record, fields [i]));
    json_object_set_new (message, "expires",
                         json_string (nd_time_format (s_int (record, "expires"), stamp)));
    return message;
}

static int s_serve (const MDB_val *key, const MDB_val *data, void *arg)
{
    (void) data;
    s_served_t *served = (s_served_t *) arg;
    const char *id = (const char *) key->mv_data + key->mv_size - ONSITE_ID_SIZE;
    if (key->mv_size < ONSITE_ID_SIZE + 8 || id [ONSITE_ID_SIZE - 1])
        return 0;
    nd_key_t id_key;
    s_id_key (&id_key, id);
    json_t *record = NULL;
    if (nd_db_get_json (served->txn, served->self->messages, &id_key, &record) < 0)
        return -1;
    if (record && s_int (record, "expires") > served->now && !json_object_get (record, "shown")
    &&  !json_object_get (record, "dismissed"))
        json_array_append_new (served->messages, s_public (record));
    json_decref (record);
    return json_array_size (served->messages) >= s_SERVED_MAX;
}

json_t *onsite_store_messages (onsite_store_t *self, const char *visitor)
{
    MDB_txn *txn;
    if (mdb_txn_begin (nd_stage_env (self->stage), NULL, MDB_RDONLY, &txn))
        return NULL;
    s_served_t served = { self, txn, json_array (), nd_stage_now (self->stage) };
    nd_key_t prefix;
    nd_key_init (&prefix);
    nd_key_str (&prefix, visitor);
    if (nd_db_scan (txn, self->inbox, &prefix, s_serve, &served) < 0)
        json_decref (served.messages), served.messages = NULL;
    mdb_txn_abort (txn);
    return served.messages;
}

/* --------------------------------------------------------------- class */

onsite_store_t *onsite_store_new (nd_stage_t *stage, MDB_txn *txn, nd_templates_t *templates,
                                  int64_t lifetime)
{
    onsite_store_t *self = (onsite_store_t *) zmalloc (sizeof *self);
    self->stage = stage;
    self->templates = templates;
    self->lifetime = lifetime;
    self->touched = zlistx_new ();
    zlistx_set_duplicator (self->touched, (zlistx_duplicator_fn *) strdup);
    zlistx_set_destructor (self->touched, (zlistx_destructor_fn *) zstr_free);
    if (nd_db_open (txn, "messages", &self->messages) || nd_db_open (txn, "inbox", &self->inbox)
    ||  nd_db_open (txn, "expiry", &self->expiry) || nd_db_open (txn, "counters", &self->counters))
        onsite_store_destroy (&self);
    return self;
}

void onsite_store_destroy (onsite_store_t **self_p)
{
    onsite_store_t *self = *self_p;
    if (self) {
        zlistx_destroy (&self->touched);
        free (self);
        *self_p = NULL;
    }
}

zlistx_t *onsite_store_committed (onsite_store_t *self, int rc)
{
    if (zlistx_size (self->touched) == 0)
        return NULL;
    zlistx_t *touched = self->touched;
    self->touched = zlistx_new ();
    zlistx_set_duplicator (self->touched, (zlistx_duplicator_fn *) strdup);
    zlistx_set_destructor (self->touched, (zlistx_destructor_fn *) zstr_free);
    if (rc)
        zlistx_destroy (&touched);
    return touched;
}

void onsite_store_stats (onsite_store_t *self, json_t *stats)
{
    MDB_txn *txn;
    if (mdb_txn_begin (nd_stage_env (self->stage), NULL, MDB_RDONLY, &txn))
        return;
    json_t *counts = json_object ();
    for (int i = 0; s_counter_names [i]; i++) {
        nd_key_t key;
        uint64_t value = 0;
        s_id_key (&key, s_counter_names [i]);
        nd_db_get_u64 (txn, self->counters, &key, &value);
        json_object_set_new (counts, s_counter_names [i], json_integer ((json_int_t) value));
    }
    MDB_stat stat;
    if (mdb_stat (txn, self->messages, &stat) == 0)
        json_object_set_new (counts, "kept", json_integer ((json_int_t) stat.ms_entries));
    if (mdb_stat (txn, self->inbox, &stat) == 0)
        json_object_set_new (counts, "waiting", json_integer ((json_int_t) stat.ms_entries));
    mdb_txn_abort (txn);
    json_object_set_new (stats, "messages", counts);
}
