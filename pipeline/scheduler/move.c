/*  move.c - one person's state as one JSON object: out of this scheduler
    (export: removed in the same transaction) and into another (import),
    for partitioned schedulers, where a visitor.merged can join two people
    who live in different partitions, and for the re-partition tool; and
    the list of everyone a state holds.

    Layer: store: calls instance.c, codes.c, timers.c and the base.

    The form is raw rows, so that a round trip is byte-exact by
    construction, time-ordered keys included:

      {"person": visitor id, "epoch": the exporting state's epoch,
       "rows": {TABLE: [[hex key, hex value], ...], ...}}

    What is the person's, and how it is found (by the person's own rows,
    never by a scan of a whole table):

      people, activity, touch    the key is the person
      history, orders, owned,    keys that begin with the person
      active
      instances                  the ids of the person's owned and active rows
      timers                     each instance's own: its "due" (step),
                                 its fallback's "due", its "cleanup"
      reentry                    journey + person + ...: for each journey in
                                 the table (a skip scan: one seek per
                                 journey, configured or not)
      confirms                   day + 'u' + person: for each day in the
                                 table (one seek per day; two days are kept)
      user-codes                 keys that begin with the person (codes.c)
      codes                      the codes those rows name
      sched-meta                 "code-due" + n, the reminder a user-codes
                                 row names, and its TIMER_CODE

    Not a person's, so not moved: counters (totals), sched-meta's epoch,
    secret, next-instance, next-code and now, erased (hashes of erased
    addresses), and confirms' address bounds (day + 'a' + channel +
    address: whoever claims the address).

    Instances and code reminders are numbered by each state (next-instance,
    next-code), partitions apart (scheduler_number), and codes drawn from
    each state's own secret, partitions apart too (codes_make): an import
    that would overwrite one of those rows with other bytes would
    overwrite someone else's, and is refused (-1, logged) instead; and the
    state's next-instance and next-code are raised past the numbers an
    import brings, so that none is given again. The exporting state's
    epoch is noted ("epoch-of" + epoch in sched-meta): feedback keys that
    name it find the moved instances (feedback.c).                      */
#include "nd_json.h"
#include "move.h"
#include "codes.h"
#include "instance.h"
#include "timers.h"

typedef enum { T_PEOPLE, T_ACTIVITY, T_TOUCH, T_HISTORY, T_ORDERS, T_OWNED, T_ACTIVE,
               T_INSTANCES, T_TIMERS, T_REENTRY, T_CONFIRMS, T_CODES, T_USER_CODES, T_META,
               T_COUNT } table_t;

static const char *const s_tables [T_COUNT] = { "people", "activity", "touch", "history",
    "orders", "owned", "active", "instances", "timers", "reentry", "confirms", "codes",
    "user-codes", "sched-meta" };

//  One export, import or listing: the state's tables in table_t order.
typedef struct {
    MDB_txn *txn;
    MDB_dbi dbi [T_COUNT];
    const char *person;
    json_t *rows;               //  export: table name -> [[key, value]]
    zhashx_t *people;           //  each: the names seen
    uint64_t top_instance, top_code;    //  import: the highest numbers it brought
} s_move_t;

static void s_move_init (s_move_t *move, scheduler_t *self, MDB_txn *txn, const char *person)
{
    MDB_dbi dbi [T_COUNT] = { self->people, self->activity, self->touch, self->history,
        self->orders, self->owned, self->active, self->instances, timers_dbi (self->timers),
        self->reentry, self->confirms, self->codes, self->user_codes, self->meta };
    memcpy (move->dbi, dbi, sizeof dbi);
    move->txn = txn;
    move->person = person;
    move->rows = NULL;
    move->people = NULL;
    move->top_instance = move->top_code = 0;
}

/* ------------------------------------------------------------ taking -- */

static void s_keep (s_move_t *move, table_t table, const MDB_val *key, const MDB_val *data)
{
    json_t *rows = json_object_get (move->rows, s_tables [table]);
    if (!rows)
        json_object_set_new (move->rows, s_tables [table], rows = json_array ());
    json_array_append_new (rows, json_pack ("[o, o]", nd_move_hex (key->mv_data, key->mv_size),
                                                   nd_move_hex (data->mv_data, data->mv_size)));
}

//  Exports the row at key, if there is one: 0, or -1 on error.
static int s_take (s_move_t *move, table_t table, const nd_key_t *key)
{
    MDB_val k = nd_key_val (key), data;
    int rc = mdb_get (move->txn, move->dbi [table], &k, &data);
    if (rc == 0) {
        s_keep (move, table, &k, &data);
        rc = mdb_del (move->txn, move->dbi [table], &k, NULL);
    }
    return rc && rc != MDB_NOTFOUND ? nd_db_error (rc, s_tables [table]) : 0;
}

//  Exports every row whose key begins with prefix.
static int s_take_prefix (s_move_t *move, table_t table, const nd_key_t *prefix)
{
    MDB_cursor *cursor;
    int rc = mdb_cursor_open (move->txn, move->dbi [table], &cursor);
    if (rc)
        return nd_db_error (rc, s_tables [table]);
    MDB_val key = nd_key_val (prefix), data;
    for (rc = mdb_cursor_get (cursor, &key, &data, MDB_SET_RANGE); rc == 0;
         rc = mdb_cursor_get (cursor, &key, &data, MDB_SET_RANGE)) {
        if (key.mv_size < prefix->size || memcmp (key.mv_data, prefix->data, prefix->size))
            break;
        s_keep (move, table, &key, &data);
        if ((rc = mdb_cursor_del (cursor, 0)))
            break;
        key = nd_key_val (prefix);
    }
    mdb_cursor_close (cursor);
    return rc && rc != MDB_NOTFOUND ? nd_db_error (rc, s_tables [table]) : 0;
}

static void s_user_key (nd_key_t *key, const char *user)
{
    nd_key_init (key);
    nd_key_str (key, user);
}

/* --------------------------------------------------------- skip scan -- */

//  The size of a key's head (its first part), 0 if it has none.
typedef size_t (s_head_fn) (const MDB_val *key);

static size_t s_head_str (const MDB_val *key)
{
    const uint8_t *end = (const uint8_t *) memchr (key->mv_data, 0, key->mv_size);
    return end ? (size_t) (end - (const uint8_t *) key->mv_data) + 1 : 0;
}

static size_t s_head_day (const MDB_val *key)
{
    return key->mv_size >= 8 ? 8 : 0;
}

//  Calls fn once for each distinct head of dbi's keys, in key order, with
//  one seek per head: the first key past every key with that head is the
//  head's successor (its last byte up one, with carry). fn may change
//  dbi: no cursor stays open across it.
static int s_heads (s_move_t *move, table_t table, s_head_fn *head,
                    int (*fn) (s_move_t *move, const nd_key_t *head))
{
    nd_key_t seek;
    nd_key_init (&seek);
    int rc = 0;
    for (bool more = true; rc == 0 && more; ) {
        MDB_cursor *cursor;
        if ((rc = mdb_cursor_open (move->txn, move->dbi [table], &cursor)))
            return nd_db_error (rc, s_tables [table]);
        MDB_val key = nd_key_val (&seek), data;
        rc = mdb_cursor_get (cursor, &key, &data, seek.size ? MDB_SET_RANGE : MDB_FIRST);
        size_t size = rc == 0 ? head (&key) : 0;
        nd_key_t found;
        nd_key_init (&found);
        memcpy (found.data, key.mv_data, rc == 0 ? (size ? size : key.mv_size) : 0);
        found.size = rc == 0 ? (size ? size : key.mv_size) : 0;
        mdb_cursor_close (cursor);
        if (rc)
            return rc == MDB_NOTFOUND ? 0 : nd_db_error (rc, s_tables [table]);
        if (size && (rc = fn (move, &found)))
            break;
        //  A key without a head is passed by its own successor
        seek = found;
        while (seek.size && ++seek.data [seek.size - 1] == 0)
            seek.size--;
        more = seek.size > 0;
    }
    return rc;
}

/* ------------------------------------------------------------ export -- */

static int s_reentry_of (s_move_t *move, const nd_key_t *journey)
{
    nd_key_t prefix = *journey;
    nd_key_str (&prefix, move->person);
    return prefix.overflow ? 0 : s_take_prefix (move, T_REENTRY, &prefix);
}

static int s_confirms_of (s_move_t *move, const nd_key_t *day)
{
    nd_key_t key = *day;
    nd_key_u8 (&key, 'u');
    nd_key_str (&key, move->person);
    return key.overflow ? 0 : s_take (move, T_CONFIRMS, &key);
}

//  The instance and the timers its record names.
static int s_take_instance (s_move_t *move, uint64_t id)
{
    nd_key_t key;
    nd_key_init (&key);
    nd_key_u64 (&key, id);
    json_t *record = NULL;
    int rc = record_get (move->txn, move->dbi [T_INSTANCES], &key, &record);
    if (rc)
        return rc == ND_NOTFOUND ? 0 : -1;
    struct { json_t *due; timer_kind_t kind; } timers [] = {
        { json_object_get (record, "due"), TIMER_STEP },
        { json_object_get (json_object_get (record, "fallback"), "due"), TIMER_FALLBACK },
        { json_object_get (record, "cleanup"), TIMER_CLEANUP } };
    for (size_t i = 0; rc == 0 && i < sizeof timers / sizeof timers [0]; i++)
        if (json_is_integer (timers [i].due)) {
            nd_key_t timer;
            timers_key (&timer, json_integer_value (timers [i].due), id, timers [i].kind);
            rc = s_take (move, T_TIMERS, &timer);
        }
    json_decref (record);
    return rc ? rc : s_take (move, T_INSTANCES, &key);
}

//  The ids in the person's owned rows, then those of active rows that
//  owned lacks (none, as the stage keeps them).
static int s_take_instances (s_move_t *move, scheduler_t *self)
{
    zlistx_t *ids = instance_owned (self, move->txn, move->person);
    if (!ids)
        return -1;
    MDB_cursor *cursor;
    nd_key_t prefix;
    s_user_key (&prefix, move->person);
    int rc = mdb_cursor_open (move->txn, move->dbi [T_ACTIVE], &cursor);
    MDB_val key = nd_key_val (&prefix), data;
    for (int get = rc ? rc : mdb_cursor_get (cursor, &key, &data, MDB_SET_RANGE);
         get == 0 && data.mv_size == 8 && key.mv_size > prefix.size
         && memcmp (key.mv_data, prefix.data, prefix.size) == 0;
         get = mdb_cursor_get (cursor, &key, &data, MDB_NEXT)) {
        void *id = (void *) (uintptr_t) nd_key_get_u64 (&data, 0);
        bool known = false;
        for (void *each = zlistx_first (ids); each && !known; each = zlistx_next (ids))
            known = each == id;
        if (!known)
            zlistx_add_end (ids, id);
    }
    if (rc == 0)
        mdb_cursor_close (cursor);
    for (void *id = zlistx_first (ids); rc == 0 && id; id = zlistx_next (ids))
        rc = s_take_instance (move, (uint64_t) (uintptr_t) id);
    zlistx_destroy (&ids);
    return rc ? -1 : 0;
}

//  One of the person's codes: its record, its reminder in meta
//  ("code-due" + n, if n) and the reminder's timer (a day before the
//  code expires, as its record says).
static int s_take_code (s_move_t *move, const char *code, uint64_t n)
{
    nd_key_t key, due, timer;
    s_user_key (&key, code);
    json_t *record = NULL;
    int rc = record_get (move->txn, move->dbi [T_CODES], &key, &record);
    if (rc < 0)
        return -1;
    if (rc == 0 && n) {
        codes_due_key (&due, n);
        timers_key (&timer, codes_reminder_due (record_int (record, "expires_ms")), n, TIMER_CODE);
        rc = s_take (move, T_META, &due) || s_take (move, T_TIMERS, &timer) ? -1 : 0;
    }
    json_decref (record);
    return rc < 0 ? -1 : s_take (move, T_CODES, &key);
}

//  user-codes: user + code -> u64 n, into [code, n].
static int s_code_row (const MDB_val *key, const MDB_val *data, void *codes)
{
    const char *text = (const char *) key->mv_data;
    const char *code = text + strlen (text) + 1;
    if (text [key->mv_size - 1] == 0 && code < text + key->mv_size && data->mv_size == 8)
        json_array_append_new ((json_t *) codes, json_pack ("[s, I]", code,
                               (json_int_t) nd_key_get_u64 (data, 0)));
    return 0;
}

//  The person's codes, found through user-codes, then those index rows.
static int s_take_codes (s_move_t *move)
{
    nd_key_t prefix;
    s_user_key (&prefix, move->person);
    json_t *codes = json_array ();
    int rc = nd_db_scan (move->txn, move->dbi [T_USER_CODES], &prefix, s_code_row, codes);
    size_t index;
    json_t *code;
    json_array_foreach (codes, index, code)
        if (rc == 0)
            rc = s_take_code (move, json_string_value (json_array_get (code, 0)),
                              (uint64_t) json_integer_value (json_array_get (code, 1)));
    json_decref (codes);
    return rc ? -1 : s_take_prefix (move, T_USER_CODES, &prefix);
}

int scheduler_person_export (scheduler_t *self, MDB_txn *txn, const char *person,
                             json_t **state)
{
    *state = NULL;
    if (!person || !*person || strlen (person) > SCHEDULER_USER_MAX)
        return 0;
    s_move_t move;
    s_move_init (&move, self, txn, person);
    move.rows = json_object ();
    nd_key_t key;
    s_user_key (&key, person);
    //  Instances first: their ids are in the owned and active rows
    int rc = s_take_instances (&move, self) || s_take_codes (&move)
          || s_take (&move, T_PEOPLE, &key) || s_take (&move, T_ACTIVITY, &key)
          || s_take (&move, T_TOUCH, &key) || s_take_prefix (&move, T_HISTORY, &key)
          || s_take_prefix (&move, T_ORDERS, &key) || s_take_prefix (&move, T_OWNED, &key)
          || s_take_prefix (&move, T_ACTIVE, &key)
          || s_heads (&move, T_REENTRY, s_head_str, s_reentry_of)
          || s_heads (&move, T_CONFIRMS, s_head_day, s_confirms_of) ? -1 : 0;
    if (rc == 0 && json_object_size (move.rows))
        *state = json_pack ("{s:s, s:s, s:O}", "person", person, "epoch", self->epoch,
                            "rows", move.rows);
    json_decref (move.rows);
    return rc;
}

/* ------------------------------------------------------------ import -- */

//  Numbered or drawn per state: another person's row may sit under the
//  same key (an instance or code reminder number, a code another
//  state's secret made too).
static bool s_numbered (table_t table)
{
    return table == T_INSTANCES || table == T_META || table == T_CODES;
}

//  The instance and code reminder numbers an import brings.
static void s_seen (s_move_t *move, table_t table, const MDB_val *key)
{
    nd_key_t due;
    codes_due_key (&due, 0);
    if (table == T_INSTANCES && key->mv_size == 8 && nd_key_get_u64 (key, 0) > move->top_instance)
        move->top_instance = nd_key_get_u64 (key, 0);
    if (table == T_META && key->mv_size == due.size && !memcmp (key->mv_data, due.data, due.size - 8)
    &&  nd_key_get_u64 (key, due.size - 8) > move->top_code)
        move->top_code = nd_key_get_u64 (key, due.size - 8);
}

static int s_put (s_move_t *move, table_t table, const json_t *row)
{
    MDB_val key, data, there;
    uint8_t *key_bytes, *data_bytes;
    if (nd_move_unhex (json_array_get (row, 0), &key_bytes, &key.mv_size)) {
        nd_log ("person %s: a %s key is not hex", move->person, s_tables [table]);
        return -1;
    }
    if (nd_move_unhex (json_array_get (row, 1), &data_bytes, &data.mv_size)) {
        free (key_bytes);
        nd_log ("person %s: a %s value is not hex", move->person, s_tables [table]);
        return -1;
    }
    key.mv_data = key_bytes;
    data.mv_data = data_bytes;
    int rc = s_numbered (table) ? mdb_get (move->txn, move->dbi [table], &key, &there)
                                : MDB_NOTFOUND;
    if (rc == 0 && (there.mv_size != data.mv_size
                ||  memcmp (there.mv_data, data.mv_data, data.mv_size))) {
        nd_log ("person %s: %s row already holds another's: not overwritten",
                move->person, s_tables [table]);
        rc = -1;
    }
    else
    if (rc == 0 || rc == MDB_NOTFOUND) {
        int put = mdb_put (move->txn, move->dbi [table], &key, &data, 0);
        rc = put ? nd_db_error (put, s_tables [table]) : 0;
    }
    else
        rc = nd_db_error (rc, s_tables [table]);
    if (rc == 0)
        s_seen (move, table, &key);
    free (key.mv_data);
    free (data.mv_data);
    return rc;
}

//  Raises the state's counter name (and *counter) to top if below: the
//  numbers it gives next stay clear of those an import brought.
static int s_raise (MDB_txn *txn, MDB_dbi meta, const char *name, uint64_t *counter,
                    uint64_t top)
{
    nd_key_t key;
    s_user_key (&key, name);
    uint64_t stored = 0;
    if (nd_db_get_u64 (txn, meta, &key, &stored) < 0)
        return -1;
    if (*counter < top)
        *counter = top;
    return stored < top ? nd_db_put_u64 (txn, meta, &key, top) : 0;
}

int scheduler_numbers (scheduler_t *self, MDB_txn *txn, uint64_t *numbers)
{
    if (s_raise (txn, self->meta, "next-instance", &self->next_instance, numbers [0])
    ||  s_raise (txn, self->meta, "next-code", &self->next_code, numbers [1]))
        return -1;
    numbers [0] = self->next_instance;
    numbers [1] = self->next_code;
    return 0;
}

int scheduler_person_import (scheduler_t *self, MDB_txn *txn, const json_t *state)
{
    s_move_t move;
    s_move_init (&move, self, txn, json_string_value (json_object_get (state, "person")));
    json_t *rows = json_object_get (state, "rows");
    if (!move.person || !json_is_object (rows)) {
        nd_log ("a person's state without person or rows: not imported");
        return -1;
    }
    const char *name;
    json_t *table_rows;
    json_object_foreach (rows, name, table_rows) {
        int table = 0;
        while (table < T_COUNT && !streq (s_tables [table], name))
            table++;
        if (table == T_COUNT) {
            nd_log ("person %s: no table %s here: not imported", move.person, name);
            return -1;
        }
        size_t index;
        json_t *row;
        json_array_foreach (table_rows, index, row)
            if (s_put (&move, (table_t) table, row))
                return -1;
    }
    //  Partitions number apart (scheduler_number); and this state's next
    //  numbers go past those brought in, so that none is given twice even
    //  by states that did not (a re-partition). Feedback keys name the
    //  epoch of the state that sent: it is noted, so that feedback for a
    //  message sent before the move finds the instance here.
    const char *epoch = json_string_value (json_object_get (state, "epoch"));
    return s_raise (txn, self->meta, "next-instance", &self->next_instance, move.top_instance)
        || s_raise (txn, self->meta, "next-code", &self->next_code, move.top_code)
        || (epoch && scheduler_epoch_note (self, txn, epoch)) ? -1 : 0;
}

/* ------------------------------------------------------------ people -- */

static int s_add (s_move_t *move, const char *person)
{
    if (*person)
        zhashx_insert (move->people, person, move);     //  a key seen already stays
    return 0;
}

static int s_add_head (s_move_t *move, const nd_key_t *head)
{
    return s_add (move, (const char *) head->data);
}

//  The person a row names elsewhere than at the start of its key.
static const char *s_named (table_t table, const MDB_val *key, char *person)
{
    const char *text = (const char *) key->mv_data;
    const char *end = text + key->mv_size;
    *person = 0;
    if (table == T_REENTRY && key->mv_size && end [-1] == 0)      //  journey + person + ...
        text += strlen (text) + 1;
    else
    if (table == T_CONFIRMS && key->mv_size > 9 && text [8] == 'u' && end [-1] == 0)
        text += 9;                                                  //  day + 'u' + person
    else
        return person;
    if (text < end && strlen (text) <= SCHEDULER_USER_MAX)
        snprintf (person, SCHEDULER_USER_MAX + 1, "%s", text);
    return person;
}

static int s_add_named (s_move_t *move, table_t table)
{
    MDB_cursor *cursor;
    int rc = mdb_cursor_open (move->txn, move->dbi [table], &cursor);
    if (rc)
        return nd_db_error (rc, s_tables [table]);
    MDB_val key, data;
    char person [SCHEDULER_USER_MAX + 1];
    for (rc = mdb_cursor_get (cursor, &key, &data, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get (cursor, &key, &data, MDB_NEXT))
        s_add (move, s_named (table, &key, person));
    mdb_cursor_close (cursor);
    return rc == MDB_NOTFOUND ? 0 : nd_db_error (rc, s_tables [table]);
}

int scheduler_person_each (scheduler_t *self, MDB_txn *txn,
                           int (*fn) (const char *person, void *arg), void *arg)
{
    s_move_t move;
    s_move_init (&move, self, txn, NULL);
    zhashx_t *people = move.people = zhashx_new ();     //  keys copied
    //  Tables keyed by person first: one seek per person; the rest whole
    const table_t first [] = { T_PEOPLE, T_ACTIVITY, T_TOUCH, T_HISTORY, T_ORDERS, T_OWNED,
                               T_ACTIVE, T_USER_CODES };
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < sizeof first / sizeof first [0]; i++)
        rc = s_heads (&move, first [i], s_head_str, s_add_head);
    const table_t named [] = { T_REENTRY, T_CONFIRMS };
    for (size_t i = 0; rc == 0 && i < sizeof named / sizeof named [0]; i++)
        rc = s_add_named (&move, named [i]);
    for (void *person = zhashx_first (people); rc == 0 && person; person = zhashx_next (people))
        rc = fn ((const char *) zhashx_cursor (people), arg);
    zhashx_destroy (&people);
    return rc;
}
