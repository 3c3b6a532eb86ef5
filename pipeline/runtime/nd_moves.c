/*  nd_moves - a person's state moving between partitions of a stage.

    Layer: runtime, beside the loop (nd_stage.c), which hands it the
    messages whose topic begins "move.".

    In a partitioned stage (README "Partitioned stages") a person lives in
    the partition that owns their routing key. When two people of
    different partitions turn out to be one, the collector's router puts
    two messages before the event that joins them: "move.out" {user: L,
    into: S, move: M} to the partition of L (the loser) and "move.in"
    {user: L, into: S, move: M} to the partition of S (the survivor).
    Each partitioned stage then does the same, so the move runs down the
    pipeline beside the messages:

    - move.out from its own upstream: take everything this stage holds
      about L out of its state (the stage's person_export) and emit
      move.out with that state, routed to S's partition. Its sibling
      partition there reads it (a link of its own, topic "move.out"); the
      next stage in this partition reads it too, and does the same.
    - move.out from a sibling: put L's state in (person_import) and note
      that move M has arrived.
    - move.in from its own upstream: waits (the input is held, nothing
      behind it is applied) until move M has arrived; then goes on, and
      passes move.in on for the next stage.

    A message that still names L after the move (feedback about a
    message L was sent before it, routed by "user" to L's partition)
    reaches the partition L left. The export noted where L went ("moved":
    L -> S); a stage that may get such messages asks nd_stage_pass_moved,
    which passes it on as "move.pass" {user: S, topic, link, message},
    routed to S's partition: its sibling there applies the message as if
    it had come from its link (or passes it on again, if S moved too).
    nd_stage_pass_all sends a message of the stage's own to every sibling
    alike (move.pass about no one).

    An unpartitioned stage reading every partition only keeps the order:
    a move.in waits until it has seen the move.out of the same move, so
    the survivor's messages never overtake the loser's last ones.

    Export, the move.out and the input position commit together, as do
    import, the arrival and the sibling's position: a kill -9 anywhere
    loses and repeats nothing. No wait can close a circle: each partition
    reads the collector's journal in the same order, and a move.in waits
    only for a move.out its sibling meets earlier in that order.       */
#include <stdio.h>
#include "nd_private.h"

struct _nd_moves_t {
    MDB_dbi arrived;            //  move id -> "" : move.out taken, move.in not yet
    MDB_dbi moved;              //  person -> the person they moved to (S)
    zhashx_t *known;            //  the same, in memory, as committed or applied
    bool partitioned;
};

static void s_move_key (nd_key_t *key, const char *move)
{
    nd_key_init (key);
    nd_key_str (key, move);
}

static int s_load (nd_moves_t *self, MDB_txn *txn)
{
    zhashx_purge (self->known);
    MDB_cursor *cursor;
    int rc = mdb_cursor_open (txn, self->arrived, &cursor);
    if (rc)
        return nd_db_error (rc, "moves");
    MDB_val k, v;
    for (rc = mdb_cursor_get (cursor, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get (cursor, &k, &v, MDB_NEXT)) {
        char move [256];
        if (k.mv_size > 0 && k.mv_size <= sizeof move) {
            memcpy (move, k.mv_data, k.mv_size);
            move [k.mv_size - 1] = 0;
            zhashx_insert (self->known, move, (void *) 1);
        }
    }
    mdb_cursor_close (cursor);
    return rc == MDB_NOTFOUND ? 0 : nd_db_error (rc, "moves");
}

nd_moves_t *nd_moves_new (MDB_txn *txn, bool partitioned)
{
    nd_moves_t *self = (nd_moves_t *) zmalloc (sizeof *self);
    self->known = zhashx_new ();
    self->partitioned = partitioned;
    if (nd_db_open (txn, "moves", &self->arrived) || nd_db_open (txn, "moved", &self->moved)
    ||  s_load (self, txn))
        nd_moves_destroy (&self);
    return self;
}

void nd_moves_destroy (nd_moves_t **self_p)
{
    nd_moves_t *self = *self_p;
    if (self) {
        zhashx_destroy (&self->known);
        free (self);
        *self_p = NULL;
    }
}

int nd_moves_reload (nd_moves_t *self, MDB_env *env)
{
    MDB_txn *txn;
    int rc = mdb_txn_begin (env, NULL, MDB_RDONLY, &txn);
    if (rc)
        return nd_db_error (rc, "moves");
    rc = s_load (self, txn);
    mdb_txn_abort (txn);
    return rc;
}

bool nd_moves_ready (nd_moves_t *self, const char *topic, const json_t *body)
{
    if (!streq (topic, "move.in"))
        return true;
    const char *move = json_string_value (json_object_get (body, "move"));
    return !move || zhashx_lookup (self->known, move);
}

static int s_arrived (nd_moves_t *self, MDB_txn *txn, const char *move)
{
    nd_key_t key;
    s_move_key (&key, move);
    if (nd_db_put_raw (txn, self->arrived, &key, "", 1))
        return -1;
    zhashx_insert (self->known, move, (void *) 1);
    return 0;
}

static void s_person_key (nd_key_t *key, const char *person)
{
    nd_key_init (key);
    nd_key_str (key, "p");
    nd_key_str (key, person);
}

//  move.out from this partition's upstream: L's state leaves for S's.
static int s_export (nd_moves_t *self, nd_stage_t *stage, MDB_txn *txn, const nd_msg_t *msg,
                     const char *user, const char *into, const char *move)
{
    const nd_stage_def_t *def = nd_stage_def (stage);
    json_t *state = NULL;
    if (def->person_export
    &&  def->person_export (stage, nd_stage_self (stage), txn, user, &state))
        return -1;
    //  The next stage knows the person by the name this one gives it
    const char *next = state && json_string_value (json_object_get (state, "user"))
                     ? json_string_value (json_object_get (state, "user")) : user;
    char id [300];
    snprintf (id, sizeof id, "%s:%s", move, nd_stage_name (stage));
    json_t *body = json_pack ("{s:s, s:s, s:s, s:s, s:O?}", "id", id, "user", next, "into", into,
                              "move", move, "time", json_object_get (msg->body, "time"));
    if (state)
        json_object_set_new (body, "state", state);
    uint32_t key = nd_route_key (into);
    int rc = body ? nd_emit_routed (stage, txn, "move.out", body, &key, 1) : -1;
    json_decref (body);
    nd_key_t moved;
    s_person_key (&moved, user);
    if (rc == 0)
        rc = nd_db_put_raw (txn, self->moved, &moved, into, strlen (into) + 1);
    if (rc == 0)
        nd_log ("move %s: %s leaves for the partition of %s", move, user, into);
    return rc;
}

//  move.out from a sibling: L's state arrives here.
static int s_import (nd_moves_t *self, nd_stage_t *stage, MDB_txn *txn, const nd_msg_t *msg,
                     const char *move)
{
    const nd_stage_def_t *def = nd_stage_def (stage);
    const json_t *state = json_object_get (msg->body, "state");
    if (state && def->person_import
    &&  def->person_import (stage, nd_stage_self (stage), txn, state))
        return -1;
    //  Someone who left and comes back lives here again
    const char *user = json_string_value (json_object_get (msg->body, "user"));
    nd_key_t moved;
    s_person_key (&moved, user ? user : "");
    if (nd_db_del (txn, self->moved, &moved) < 0)
        return -1;
    nd_log ("move %s: %s arrives from %s", move, user, msg->link);
    return s_arrived (self, txn, move);
}

//  move.in, once its move has arrived: the arrival is done with, and the
//  next stage gets move.in in turn.
static int s_pass_in (nd_moves_t *self, nd_stage_t *stage, MDB_txn *txn, const nd_msg_t *msg,
                      const char *into, const char *move)
{
    nd_key_t key;
    s_move_key (&key, move);
    if (nd_db_del (txn, self->arrived, &key) < 0)
        return -1;
    zhashx_delete (self->known, move);
    if (!self->partitioned)
        return 0;
    char id [300];
    snprintf (id, sizeof id, "%s:%s", move, nd_stage_name (stage));
    json_t *body = json_pack ("{s:s, s:O, s:s, s:s, s:O?}", "id", id,
                              "user", json_object_get (msg->body, "user"), "into", into,
                              "move", move, "time", json_object_get (msg->body, "time"));
    uint32_t route = nd_route_key (into);
    int rc = body ? nd_emit_routed (stage, txn, "move.in", body, &route, 1) : -1;
    json_decref (body);
    return rc;
}

int nd_moves_pass (nd_moves_t *self, nd_stage_t *stage, MDB_txn *txn, const nd_msg_t *msg,
                   const char *user)
{
    nd_key_t key;
    s_person_key (&key, user ? user : "");
    MDB_val k = nd_key_val (&key), into;
    int rc = user && *user && self->partitioned ? mdb_get (txn, self->moved, &k, &into) : MDB_NOTFOUND;
    if (rc)
        return rc == MDB_NOTFOUND ? 0 : nd_db_error (rc, "moved");
    const char *survivor = (const char *) into.mv_data;
    const json_t *inner = json_object_get (msg->body, "message");
    json_t *body = streq (msg->topic, "move.pass") && inner
        ? json_pack ("{s:s, s:O, s:O, s:O, s:O?}", "user", survivor, "topic",
                     json_object_get (msg->body, "topic"), "link", json_object_get (msg->body, "link"),
                     "message", inner, "time", json_object_get (msg->body, "time"))
        : json_pack ("{s:s, s:s, s:s, s:O, s:O?}", "user", survivor, "topic", msg->topic,
                     "link", msg->link, "message", msg->body, "time", json_object_get (msg->body, "time"));
    uint32_t route = nd_route_key (survivor);
    rc = body ? nd_emit_routed (stage, txn, "move.pass", body, &route, 1) : -1;
    json_decref (body);
    return rc ? -1 : 1;
}

int nd_moves_pass_all (nd_moves_t *self, nd_stage_t *stage, MDB_txn *txn, const char *topic,
                       json_t *message)
{
    if (!self->partitioned)
        return 0;
    json_t *body = json_pack ("{s:s, s:s, s:s, s:O}", "user", "", "topic", topic,
                              "link", nd_stage_name (stage), "message", message);
    //  No routing key: every partition reading this one gets it
    uint32_t none = 0;
    int rc = body ? nd_emit_routed (stage, txn, "move.pass", body, &none, 0) : -1;
    json_decref (body);
    return rc;
}

//  move.pass from a sibling: a message about someone who moved here (or
//  on, again), applied as its link's.
static int s_apply_passed (nd_moves_t *self, nd_stage_t *stage, MDB_txn *txn, const nd_msg_t *msg)
{
    int rc = nd_moves_pass (self, stage, txn, msg,
                            json_string_value (json_object_get (msg->body, "user")));
    const char *topic = json_string_value (json_object_get (msg->body, "topic"));
    const char *link = json_string_value (json_object_get (msg->body, "link"));
    json_t *body = json_object_get (msg->body, "message");
    if (rc)
        return rc < 0 ? -1 : 0;
    if (!topic || !link || !json_is_object (body)) {
        nd_stage_reject (stage, msg, "a move.pass needs topic, link and message");
        return -1;
    }
    nd_msg_t inner = { .link = link, .seq = msg->seq, .topic = topic, .body = body };
    const char *time = json_string_value (json_object_get (body, "time"));
    if (time)
        nd_time_parse (time, &inner.time);
    const nd_stage_def_t *def = nd_stage_def (stage);
    return def->apply ? def->apply (stage, nd_stage_self (stage), txn, &inner) : 0;
}

int nd_moves_apply (nd_moves_t *self, nd_stage_t *stage, MDB_txn *txn, const nd_msg_t *msg,
                    bool sibling)
{
    //  Readers of a partitioned stage that are not its partitions have no
    //  use for a message passed between them
    if (streq (msg->topic, "move.pass"))
        return sibling ? s_apply_passed (self, stage, txn, msg) : 0;
    const char *user = json_string_value (json_object_get (msg->body, "user"));
    const char *into = json_string_value (json_object_get (msg->body, "into"));
    const char *move = json_string_value (json_object_get (msg->body, "move"));
    if (!user || !into || !move) {
        nd_stage_reject (stage, msg, "a move needs user, into and move");
        return -1;
    }
    if (streq (msg->topic, "move.out"))
        return sibling ? s_import (self, stage, txn, msg, move)
             : self->partitioned ? s_export (self, stage, txn, msg, user, into, move)
             : s_arrived (self, txn, move);
    if (streq (msg->topic, "move.in"))
        return s_pass_in (self, stage, txn, msg, into, move);
    nd_stage_reject (stage, msg, "unknown move");
    return -1;
}

/* ------------------------------------------------------ raw rows, hex -- */

json_t *nd_move_hex (const void *data, size_t size)
{
    static const char digits [] = "0123456789abcdef";
    char *text = (char *) malloc (2 * size + 1);
    if (!text)
        return NULL;
    for (size_t i = 0; i < size; i++) {
        text [2 * i] = digits [((const uint8_t *) data) [i] >> 4];
        text [2 * i + 1] = digits [((const uint8_t *) data) [i] & 15];
    }
    json_t *string = json_stringn (text, 2 * size);
    free (text);
    return string;
}

static int s_nibble (char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

int nd_move_unhex (const json_t *hex, uint8_t **data, size_t *size)
{
    const char *text = json_string_value (hex);
    size_t length = text ? json_string_length (hex) : 1;
    *data = length % 2 ? NULL : (uint8_t *) malloc (length / 2 + 1);
    if (!*data)
        return -1;
    for (size_t i = 0; i < length / 2; i++) {
        int high = s_nibble (text [2 * i]), low = s_nibble (text [2 * i + 1]);
        if (high < 0 || low < 0) {
            free (*data);
            *data = NULL;
            return -1;
        }
        (*data) [i] = (uint8_t) (high << 4 | low);
    }
    (*data) [length / 2] = 0;
    *size = length / 2;
    return 0;
}

void nd_moves_test (bool verbose)
{
    if (verbose)
        printf (" * nd_moves: ");
    //  Every byte there and back; a NUL inside a key stays
    uint8_t bytes [256];
    for (int i = 0; i < 256; i++)
        bytes [i] = (uint8_t) i;
    json_t *hex = nd_move_hex (bytes, sizeof bytes);
    assert (hex && json_string_length (hex) == 512);
    assert (strncmp (json_string_value (hex), "000102", 6) == 0);
    assert (strcmp (json_string_value (hex) + 506, "fdfeff") == 0);
    uint8_t *back;
    size_t size;
    assert (nd_move_unhex (hex, &back, &size) == 0 && size == 256 && !memcmp (back, bytes, 256));
    assert (back [256] == 0);
    free (back);
    json_decref (hex);
    hex = nd_move_hex ("", 0);
    assert (nd_move_unhex (hex, &back, &size) == 0 && size == 0);
    free (back);
    json_decref (hex);
    //  Not rows a stage wrote: odd length, upper case, a stray letter, no string
    const char *bad [] = { "abc", "0A", "0g", NULL };
    for (int i = 0; bad [i]; i++) {
        json_t *string = json_string (bad [i]);
        assert (nd_move_unhex (string, &back, &size) == -1 && back == NULL);
        json_decref (string);
    }
    json_t *number = json_integer (12);
    assert (nd_move_unhex (number, &back, &size) == -1);
    json_decref (number);
    if (verbose)
        printf ("OK\n");
}
