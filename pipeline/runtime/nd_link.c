/*  nd_link - durable links between stages (ARCHITECTURE.md section 4).

    The sending stage keeps every message it emits in a journal in its own
    LMDB, numbered 1, 2, 3... in the same transaction as the state change
    that caused it (nd_outbox). Each downstream stage connects a DEALER to
    the sender's ROUTER, says which position it has committed in its own
    LMDB and how many more messages it will take (a credit window), and
    gets the journal from there on (nd_inlink). After each commit it acks
    its new position; the sender trims what every configured consumer has
    acked. Nothing is lost when either side is killed: the receiver resumes
    from its committed position and skips anything at or below it, so each
    message is applied exactly once. A stopped consumer makes the journal
    grow on disk, not in RAM: the sender reads it from LMDB as credit allows.

    Protocol (every frame UTF-8; numbers in decimal):
      consumer -> sender   HELLO pos window [prefix...] [@K/N]   (re)start from pos
                           ACK   pos window [prefix...] [@K/N]   committed up to pos
      sender -> consumer   MSG   seq topic body
                           POS   from to [time]   from..to were filtered out (or trimmed);
                                 time: the latest of those a partition
                                 did not get, which moves its clock
    "@K/N" says the consumer is partition K of N (nd_pipefile.h): it
    gets the entries about people of its partition, and those about
    no one in particular. An entry is about the people whose routing keys
    it was appended with (nd_outbox_append); partition K of N owns the
    key k when k % N == K.
    The consumer's routing id is its stage name, '/' and a random tag new
    for each connection. A consumer takes MSG seq only when seq is its
    position + 1 (and POS only when from is), so a message lost with a
    broken connection or a lost HELLO is never skipped over: on a gap the
    consumer drops what it got and says HELLO again. Only the connection
    that said HELLO for a consumer moves its position, and only up to what
    was sent to it (s_hello, s_ack).

    This file is the sending end (nd_outbox); nd_inlink.c the receiving
    end.                                                                 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include "nd_private.h"

typedef struct {
    char *name;
    bool configured;            //  named by "input" in the pipeline file
    zframe_t *peer;             //  the connection that said HELLO, while it
                                //  lives (its routing id); NULL: none
    char *key;                  //  its CURVE public key, with CURVE
    uint64_t acked;             //  committed by the consumer
    uint64_t sent;              //  sent (or skipped) to peer up to here
    uint64_t limit;             //  credit: may send up to here
    zlist_t *prefixes;
    int part, parts;            //  its partition of parts, parts 0: none
} s_consumer_t;

/*  A journal entry: topic NUL body, after an optional routing header of
    byte 1, a count, the entry's time (ms, 8 bytes) and that many 4-byte
    keys (numbers big-endian). A topic never starts with byte 1, so
    entries written before routing read as they were.                   */
typedef struct {
    const char *topic;
    const char *body;
    size_t body_size;
    size_t keys;
    const byte *key;
    int64_t time;
} s_entry_t;

#define ND_ROUTED 1

static void s_entry_read (const MDB_val *record, s_entry_t *entry)
{
    const byte *data = (const byte *) record->mv_data;
    size_t header = 0;
    *entry = (s_entry_t) { 0 };
    if (record->mv_size >= 10 && data [0] == ND_ROUTED) {
        entry->keys = data [1];
        uint64_t time = 0;
        for (int i = 0; i < 8; i++)
            time = time << 8 | data [2 + i];
        entry->time = (int64_t) time;
        entry->key = data + 10;
        header = 10 + 4 * entry->keys;
    }
    entry->topic = (const char *) data + header;
    size_t topic_size = strlen (entry->topic) + 1;
    entry->body = entry->topic + topic_size;
    entry->body_size = record->mv_size - header - topic_size;
}

static uint32_t s_entry_key (const s_entry_t *entry, size_t index)
{
    const byte *k = entry->key + 4 * index;
    return (uint32_t) k [0] << 24 | (uint32_t) k [1] << 16 | (uint32_t) k [2] << 8 | k [3];
}

struct _nd_outbox_t {
    MDB_env *env;
    MDB_dbi journal;
    MDB_dbi meta;
    zsock_t *router;
    nd_curve_t *curve;          //  with CURVE: consumers must hold their keys
    uint64_t head;              //  last committed seq
    uint64_t pending;           //  last seq appended in the open txn
    uint64_t first;             //  lowest seq still in the journal
    uint64_t retain;
    zhash_t *consumers;
    zhashx_t *told;             //  peers whose refusal is logged already
    MDB_txn *reader;
    int64_t last_trim;
    uint64_t messages_sent;
    uint64_t refused;           //  HELLOs and ACKs not acted on
};

static void s_consumer_free (void *item)
{
    s_consumer_t *c = (s_consumer_t *) item;
    zframe_destroy (&c->peer);
    free (c->key);
    zlist_destroy (&c->prefixes);
    free (c->name);
    free (c);
}

static s_consumer_t *s_consumer_add (nd_outbox_t *self, const char *name)
{
    s_consumer_t *c = (s_consumer_t *) zmalloc (sizeof *c);
    c->name = strdup (name);
    c->prefixes = zlist_new ();
    zlist_autofree (c->prefixes);
    zhash_insert (self->consumers, name, c);
    zhash_freefn (self->consumers, name, s_consumer_free);
    return c;
}

static void s_meta_key (nd_key_t *key, const char *kind, const char *name)
{
    nd_key_init (key);
    nd_key_str (key, kind);
    nd_key_str (key, name);
}

static int s_outbox_load (nd_outbox_t *self, MDB_txn *txn, zlist_t *consumers)
{
    if (nd_db_open (txn, "journal", &self->journal) || nd_db_open (txn, "meta", &self->meta))
        return -1;
    nd_key_t key;
    s_meta_key (&key, "out", "head");
    if (nd_db_get_u64 (txn, self->meta, &key, &self->head) < 0)
        return -1;
    MDB_cursor *cursor;
    MDB_val k, v;
    if (mdb_cursor_open (txn, self->journal, &cursor))
        return -1;
    int rc = mdb_cursor_get (cursor, &k, &v, MDB_FIRST);
    self->first = rc == 0 ? nd_key_get_u64 (&k, 0) : self->head + 1;
    rc = mdb_cursor_get (cursor, &k, &v, MDB_LAST);
    if (rc == 0 && nd_key_get_u64 (&k, 0) > self->head)
        self->head = nd_key_get_u64 (&k, 0);
    mdb_cursor_close (cursor);
    self->pending = self->head;
    for (const char *name = (const char *) zlist_first (consumers); name;
         name = (const char *) zlist_next (consumers)) {
        s_consumer_t *c = s_consumer_add (self, name);
        c->configured = true;
        s_meta_key (&key, "ack", name);
        if (nd_db_get_u64 (txn, self->meta, &key, &c->acked) < 0)
            return -1;
    }
    return 0;
}

nd_outbox_t *nd_outbox_new (MDB_env *env, MDB_txn *txn, const char *endpoint,
                            zlist_t *consumers, uint64_t retain, nd_curve_t *curve)
{
    nd_outbox_t *self = (nd_outbox_t *) zmalloc (sizeof *self);
    self->env = env;
    self->retain = retain;
    self->curve = curve;
    self->consumers = zhash_new ();
    self->told = zhashx_new ();
    if (s_outbox_load (self, txn, consumers)) {
        nd_outbox_destroy (&self);
        return NULL;
    }
    self->router = zsock_new (ZMQ_ROUTER);
    zsock_set_router_mandatory (self->router, 1);
    //  A routing id is one consumer's connection (NAME/TAG, see s_connect):
    //  handover lets only that socket, reconnecting, take its own place
    zsock_set_router_handover (self->router, 1);
    //  A consumer whose host vanished leaves a connection that looks alive
    //  and keeps its name taken (s_alive): ZMTP heartbeats end it in seconds
    zsock_set_heartbeat_ivl (self->router, 2000);
    zsock_set_heartbeat_timeout (self->router, 6000);
    zsock_set_sndhwm (self->router, ND_LINK_WINDOW * 2);
    zsock_set_rcvhwm (self->router, 0);
    nd_curve_serve (curve, zsock_resolve (self->router));
    if (zsock_bind (self->router, "%s", endpoint) < 0) {
        nd_log ("cannot bind link endpoint %s: %s", endpoint, zmq_strerror (zmq_errno ()));
        nd_outbox_destroy (&self);
        return NULL;
    }
    return self;
}

void nd_outbox_destroy (nd_outbox_t **self_p)
{
    nd_outbox_t *self = *self_p;
    if (self) {
        if (self->reader)
            mdb_txn_abort (self->reader);
        zsock_destroy (&self->router);
        zhash_destroy (&self->consumers);
        zhashx_destroy (&self->told);
        free (self);
        *self_p = NULL;
    }
}

void *nd_outbox_socket (nd_outbox_t *self)
{
    return zsock_resolve (self->router);
}

int nd_outbox_append (nd_outbox_t *self, MDB_txn *txn, const char *topic,
                      const char *body, size_t size, const uint32_t *keys, size_t count,
                      int64_t time, uint64_t *seq)
{
    assert (count <= ND_ROUTE_KEYS);
    size_t topic_size = strlen (topic) + 1, header = count ? 10 + 4 * count : 0;
    nd_key_t key;
    nd_key_init (&key);
    nd_key_u64 (&key, self->pending + 1);
    MDB_val k = nd_key_val (&key), v = { header + topic_size + size, NULL };
    //  MDB_RESERVE: write topic and body straight into the page, no copy
    int rc = mdb_put (txn, self->journal, &k, &v, MDB_APPEND | MDB_RESERVE);
    if (rc)
        return nd_db_error (rc, "journal append");
    byte *data = (byte *) v.mv_data;
    if (count) {
        *data++ = ND_ROUTED;
        *data++ = (byte) count;
        for (int i = 7; i >= 0; i--)
            *data++ = (byte) ((uint64_t) time >> (8 * i));
        for (size_t i = 0; i < count; i++) {
            *data++ = (byte) (keys [i] >> 24);
            *data++ = (byte) (keys [i] >> 16);
            *data++ = (byte) (keys [i] >> 8);
            *data++ = (byte) keys [i];
        }
    }
    memcpy (data, topic, topic_size);
    memcpy (data + topic_size, body, size);
    *seq = ++self->pending;
    return 0;
}

//  Records the head in meta before commit, so a fully trimmed journal
//  still knows where numbering stands after a restart.
int nd_outbox_seal (nd_outbox_t *self, MDB_txn *txn)
{
    if (self->pending == self->head)
        return 0;
    nd_key_t head;
    s_meta_key (&head, "out", "head");
    return nd_db_put_u64 (txn, self->meta, &head, self->pending);
}

uint64_t nd_outbox_next_seq (nd_outbox_t *self)
{
    return self->pending + 1;
}

void nd_outbox_committed (nd_outbox_t *self)
{
    self->head = self->pending;
}

void nd_outbox_aborted (nd_outbox_t *self)
{
    self->pending = self->head;
}

/*  Who may move a consumer's position. A consumer's routing id is its
    name, or its name, '/' and a tag of its own (nudge's inlinks add one per
    connection), so connections never share a routing id and a second one
    that claims a name cannot take over the first's. The connection that
    said HELLO for a name holds it while it lives; a HELLO from another is
    refused, an ACK from any other is ignored, and an ACK can acknowledge
    only what was sent to it. With CURVE, the HELLO must also come with the
    key in curve-clients/NAME.pub (an operator's key reads pub and ctl, not
    a stage's journal). A HELLO never trims: its position only moves the
    acknowledged one back, for a consumer that lost state.               */
typedef struct {
    zframe_t *peer;             //  its routing id
    char id [256];              //  the same, as text
    char name [256];            //  the consumer it speaks for
    const char *command;        //  "HELLO" or "ACK"
    const char *key;            //  its CURVE public key, with CURVE (in text)
    char text [ND_CURVE_KEY];
    char address [64];          //  where it connects from, for the log
    uint64_t position;
    uint64_t credit;
} s_request_t;

//  Logs a refusal once per peer (a few hundred remembered), counts each.
static void s_refuse (nd_outbox_t *self, s_request_t *r, const char *format, ...)
{
    self->refused++;
    if (zhashx_lookup (self->told, r->id))
        return;
    if (zhashx_size (self->told) >= 512)
        zhashx_purge (self->told);
    zhashx_insert (self->told, r->id, (void *) 1);
    va_list args;
    va_start (args, format);
    char *reason = zsys_vprintf (format, args);
    va_end (args);
    nd_log ("link: refused %s for %s from %s%s%s%s: %s; nothing done (said once per connection)",
            r->command, r->name, r->id, *r->address ? " (" : "", r->address,
            *r->address ? ")" : "", reason);
    free (reason);
}

static void s_unbind (s_consumer_t *c)
{
    zframe_destroy (&c->peer);
    zstr_free (&c->key);
}

static const char *s_peer_id (s_consumer_t *c, char *text, size_t size)
{
    size_t length = zframe_size (c->peer) < size ? zframe_size (c->peer) : size - 1;
    memcpy (text, zframe_data (c->peer), length);
    text [length] = 0;
    return text;
}

//  Reads routing id, command, position, window and prefixes; -1 for what
//  no consumer sends (an unprintable routing id, another command).
static int s_request_read (nd_outbox_t *self, zframe_t *peer, zmsg_t *msg, s_request_t *r)
{
    size_t size = zframe_size (peer);
    const byte *data = zframe_data (peer);
    if (size == 0 || size >= sizeof r->id)
        return -1;
    for (size_t i = 0; i < size; i++)
        if (data [i] <= ' ' || data [i] > '~')
            return -1;
    memcpy (r->id, data, size);
    r->id [size] = 0;
    memcpy (r->name, r->id, size + 1);
    char *slash = strchr (r->name, '/');
    if (slash)
        *slash = 0;
    zframe_t *command = zmsg_first (msg);
    if (!command || !*r->name)
        return -1;
    r->command = zframe_streq (command, "HELLO") ? "HELLO"
               : zframe_streq (command, "ACK") ? "ACK" : NULL;
    //  zauth's User-Id for a CURVE peer is its public key (Z85), held by
    //  the frame's message: copied before the frame goes
    const char *key = self->curve ? zframe_meta (command, "User-Id") : NULL;
    if (key && strlen (key) < sizeof r->text)
        r->key = strcpy (r->text, key);
    const char *address = zframe_meta (command, "Peer-Address");
    snprintf (r->address, sizeof r->address, "%s", address ? address : "");
    r->peer = peer;
    char *text = zmsg_popstr (msg);
    free (text);
    text = zmsg_popstr (msg);
    r->position = text ? strtoull (text, NULL, 10) : 0;
    free (text);
    text = zmsg_popstr (msg);
    r->credit = text ? strtoull (text, NULL, 10) : ND_LINK_WINDOW;
    if (r->credit > 100 * ND_LINK_WINDOW)
        r->credit = 100 * ND_LINK_WINDOW;
    free (text);
    return r->command ? 0 : -1;
}

static void s_take_prefixes (s_consumer_t *c, zmsg_t *msg)
{
    zlist_purge (c->prefixes);
    c->parts = 0;
    char *prefix;
    while ((prefix = zmsg_popstr (msg))) {
        int part, parts;
        if (*prefix != '@')
            zlist_append (c->prefixes, prefix);
        else
        if (sscanf (prefix, "@%d/%d", &part, &parts) == 2 && parts > 0 && part >= 0 && part < parts) {
            c->part = part;
            c->parts = parts;
        }
        free (prefix);
    }
}

static int s_send_frames (nd_outbox_t *self, s_consumer_t *c, uint64_t seq,
                          const s_entry_t *record, uint64_t to, int64_t time);

//  Whether the connection holding c is still there: ROUTER_MANDATORY
//  refuses a message for a routing id whose connection has gone (and
//  s_send_frames lets go of it). The message is an empty POS at what it
//  acknowledged, which a consumer ignores: its position is at least that.
static bool s_alive (nd_outbox_t *self, s_consumer_t *c)
{
    s_send_frames (self, c, c->acked + 1, NULL, c->acked, 0);
    return c->peer != NULL;
}

static void s_hello (nd_outbox_t *self, s_request_t *r, zmsg_t *msg)
{
    if (self->curve && !nd_curve_holds (self->curve, r->name, r->key)) {
        s_refuse (self, r, "its key %s is not the one in curve-clients/%s.pub",
                  r->key ? r->key : "(none)", r->name);
        return;
    }
    s_consumer_t *c = (s_consumer_t *) zhash_lookup (self->consumers, r->name);
    if (!c)
        c = s_consumer_add (self, r->name);
    bool same = c->peer && zframe_eq (c->peer, r->peer);
    char holder [256];
    if (c->peer && !same && s_alive (self, c)) {
        s_refuse (self, r, "%s is read by %s, still connected", r->name,
                  s_peer_id (c, holder, sizeof holder));
        return;
    }
    if (!same) {
        s_unbind (c);
        c->peer = zframe_dup (r->peer);
        c->key = r->key ? strdup (r->key) : NULL;
        nd_log ("link: %s reads from position %llu (connection %s)", r->name,
                (unsigned long long) r->position, r->id);
    }
    c->sent = r->position;
    if (r->position < c->acked)
        c->acked = r->position;
    c->limit = r->position + r->credit;
    s_take_prefixes (c, msg);
}

static void s_ack (nd_outbox_t *self, s_request_t *r, zmsg_t *msg)
{
    s_consumer_t *c = (s_consumer_t *) zhash_lookup (self->consumers, r->name);
    bool holder = c && c->peer && zframe_eq (c->peer, r->peer);
    char id [256];
    if (holder && self->curve && !(r->key && c->key && streq (r->key, c->key)))
        s_refuse (self, r, "its key is not the one its HELLO came with");
    else
    if (!holder && self->curve && !nd_curve_holds (self->curve, r->name, r->key))
        s_refuse (self, r, "its key %s is not the one in curve-clients/%s.pub",
                  r->key ? r->key : "(none)", r->name);
    else
    if (!holder && c && c->peer)
        s_refuse (self, r, "%s is read by %s, which said HELLO", r->name, s_peer_id (c, id, sizeof id));
    else
    if (!holder)
        ;   //  we restarted, or it has gone: its HELLO within a second resumes it
    else
    if (r->position > c->sent)
        s_refuse (self, r, "ACK %llu is past what it was sent (%llu)",
                  (unsigned long long) r->position, (unsigned long long) c->sent);
    else {
        c->acked = r->position;
        c->limit = r->position + r->credit;
        s_take_prefixes (c, msg);
    }
}

int nd_outbox_handle (nd_outbox_t *self)
{
    zmsg_t *msg;
    while ((msg = zmsg_recv_nowait (self->router))) {
        zframe_t *peer = zmsg_pop (msg);
        s_request_t request = { 0 };
        if (peer && s_request_read (self, peer, msg, &request) == 0) {
            if (streq (request.command, "HELLO"))
                s_hello (self, &request, msg);
            else
                s_ack (self, &request, msg);
        }
        zframe_destroy (&peer);
        zmsg_destroy (&msg);
    }
    return 0;
}

//  An entry with routing keys goes to a partition that owns one of them;
//  *elsewhere says it is another partition's.
static bool s_wanted (s_consumer_t *c, const s_entry_t *entry, bool *elsewhere)
{
    const char *topic = entry->topic;
    *elsewhere = false;
    if (c->parts && entry->keys) {
        bool owned = false;
        for (size_t i = 0; i < entry->keys && !owned; i++)
            owned = s_entry_key (entry, i) % (uint32_t) c->parts == (uint32_t) c->part;
        if (!owned) {
            *elsewhere = true;
            return false;
        }
    }
    if (zlist_size (c->prefixes) == 0 || streq (topic, "tick"))
        return true;
    for (const char *p = (const char *) zlist_first (c->prefixes); p;
         p = (const char *) zlist_next (c->prefixes))
        if (strncmp (topic, p, strlen (p)) == 0)
            return true;
    return false;
}

//  Sends MSG seq topic body (record given) or POS seq to; returns 0, or
//  -1 if the consumer cannot take it now.
static int s_send_frames (nd_outbox_t *self, s_consumer_t *c, uint64_t seq,
                          const s_entry_t *record, uint64_t to, int64_t time)
{
    void *socket = zsock_resolve (self->router);
    char number [24], last [24];
    int length = snprintf (number, sizeof number, "%llu", (unsigned long long) seq);
    if (!c->peer)
        return -1;
    if (zmq_send (socket, zframe_data (c->peer), zframe_size (c->peer), ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0) {
        if (zmq_errno () == EHOSTUNREACH)
            s_unbind (c);               //  gone; its next HELLO resumes it
        return -1;
    }
    zmq_send (socket, record ? "MSG" : "POS", 3, ZMQ_SNDMORE);
    if (!record) {
        zmq_send (socket, number, length, ZMQ_SNDMORE);
        length = snprintf (last, sizeof last, "%llu", (unsigned long long) to);
        if (time <= 0)
            return zmq_send (socket, last, length, 0) < 0 ? -1 : 0;
        zmq_send (socket, last, length, ZMQ_SNDMORE);
        length = snprintf (number, sizeof number, "%lld", (long long) time);
        return zmq_send (socket, number, length, 0) < 0 ? -1 : 0;
    }
    zmq_send (socket, number, length, ZMQ_SNDMORE);
    zmq_send (socket, record->topic, strlen (record->topic), ZMQ_SNDMORE);
    zmq_send (socket, record->body, record->body_size, 0);
    return 0;
}

//  Sends consumer c what its credit allows. Messages it filtered out, or
//  that were trimmed before it asked, are announced as one POS range so
//  its position moves on without a gap.
static void s_pump_one (nd_outbox_t *self, s_consumer_t *c, MDB_cursor *cursor)
{
    uint64_t until = c->limit < self->head ? c->limit : self->head;
    if (!c->peer || c->sent >= until)
        return;
    nd_key_t key;
    nd_key_init (&key);
    nd_key_u64 (&key, c->sent + 1);
    MDB_val k = nd_key_val (&key), v;
    int rc = mdb_cursor_get (cursor, &k, &v, MDB_SET_RANGE);
    uint64_t next = rc == 0 ? nd_key_get_u64 (&k, 0) : self->head + 1, skip_from = 0;
    if (next > c->sent + 1 && (rc == 0 || rc == MDB_NOTFOUND)) {
        nd_log ("link: %s asked for %llu but the journal starts at %llu; those were trimmed",
                c->name, (unsigned long long) c->sent + 1, (unsigned long long) next);
        skip_from = c->sent + 1;
    }
    int64_t skip_time = 0;      //  the latest time skipped as another partition's
    for (int budget = ND_BATCH_MAX; rc == 0 && budget > 0; budget--) {
        uint64_t seq = nd_key_get_u64 (&k, 0);
        if (seq > until)
            break;
        s_entry_t entry;
        s_entry_read (&v, &entry);
        bool elsewhere;
        if (s_wanted (c, &entry, &elsewhere)) {
            if (skip_from && s_send_frames (self, c, skip_from, NULL, seq - 1, skip_time))
                return;
            if (s_send_frames (self, c, seq, &entry, 0, 0)) {
                c->sent = skip_from ? seq - 1 : c->sent;
                return;
            }
            skip_from = 0;
            skip_time = 0;
            self->messages_sent++;
        }
        else {
            if (!skip_from)
                skip_from = seq;
            if (elsewhere && entry.time > skip_time)
                skip_time = entry.time;
        }
        c->sent = seq;
        rc = mdb_cursor_get (cursor, &k, &v, MDB_NEXT);
    }
    //  The journal has nothing more up to until (its start is past it, or
    //  it is empty): those were trimmed too, and a window smaller than the
    //  trimmed stretch must still move the consumer on
    if (skip_from && (rc == MDB_NOTFOUND || (rc == 0 && nd_key_get_u64 (&k, 0) > until)))
        c->sent = until;
    if (skip_from && s_send_frames (self, c, skip_from, NULL, c->sent, skip_time))
        c->sent = skip_from - 1;
}

int nd_outbox_pump (nd_outbox_t *self)
{
    if (zhash_size (self->consumers) == 0)
        return 0;
    int rc = self->reader ? mdb_txn_renew (self->reader)
                          : mdb_txn_begin (self->env, NULL, MDB_RDONLY, &self->reader);
    if (rc)
        return nd_db_error (rc, "journal read");
    MDB_cursor *cursor;
    if ((rc = mdb_cursor_open (self->reader, self->journal, &cursor)) == 0) {
        for (s_consumer_t *c = (s_consumer_t *) zhash_first (self->consumers); c;
             c = (s_consumer_t *) zhash_next (self->consumers))
            s_pump_one (self, c, cursor);
        mdb_cursor_close (cursor);
    }
    mdb_txn_reset (self->reader);
    return rc ? nd_db_error (rc, "journal cursor") : 0;
}

//  The journal may be trimmed up to what every configured consumer has
//  committed; a stage nobody reads from keeps only the last `retain`.
static uint64_t s_trim_bound (nd_outbox_t *self)
{
    uint64_t bound = UINT64_MAX;
    bool any = false;
    for (s_consumer_t *c = (s_consumer_t *) zhash_first (self->consumers); c;
         c = (s_consumer_t *) zhash_next (self->consumers))
        if (c->configured) {
            any = true;
            if (c->acked < bound)
                bound = c->acked;
        }
    if (!any)
        bound = self->head > self->retain ? self->head - self->retain : 0;
    return bound < self->head ? bound : self->head;
}

bool nd_outbox_trim_due (nd_outbox_t *self)
{
    int64_t now = zclock_mono ();
    if (now - self->last_trim < 200 || s_trim_bound (self) < self->first)
        return false;
    self->last_trim = now;
    return true;
}

int nd_outbox_trim (nd_outbox_t *self, MDB_txn *txn)
{
    uint64_t bound = s_trim_bound (self);
    MDB_cursor *cursor;
    int rc = mdb_cursor_open (txn, self->journal, &cursor);
    if (rc)
        return nd_db_error (rc, "trim");
    MDB_val k, v;
    uint64_t count = 0;
    rc = mdb_cursor_get (cursor, &k, &v, MDB_FIRST);
    while (rc == 0 && nd_key_get_u64 (&k, 0) <= bound && count < 50000) {
        if ((rc = mdb_cursor_del (cursor, 0)))
            break;
        count++;
        rc = mdb_cursor_get (cursor, &k, &v, MDB_NEXT);
    }
    self->first = rc == 0 ? nd_key_get_u64 (&k, 0) : self->pending + 1;
    mdb_cursor_close (cursor);
    if (rc && rc != MDB_NOTFOUND)
        return nd_db_error (rc, "trim");
    for (s_consumer_t *c = (s_consumer_t *) zhash_first (self->consumers); c;
         c = (s_consumer_t *) zhash_next (self->consumers))
        if (c->configured) {
            nd_key_t key;
            s_meta_key (&key, "ack", c->name);
            if (nd_db_put_u64 (txn, self->meta, &key, c->acked))
                return -1;
        }
    return 0;
}

void nd_outbox_stats (nd_outbox_t *self, json_t *stats)
{
    json_t *consumers = json_object ();
    for (s_consumer_t *c = (s_consumer_t *) zhash_first (self->consumers); c;
         c = (s_consumer_t *) zhash_next (self->consumers)) {
        char id [256];
        json_object_set_new (consumers, c->name, json_pack ("{s:I, s:I, s:b, s:b, s:s?}",
            "acked", (json_int_t) c->acked, "sent", (json_int_t) c->sent,
            "connected", c->peer != NULL, "configured", c->configured,
            "connection", c->peer ? s_peer_id (c, id, sizeof id) : NULL));
    }
    json_object_set_new (stats, "journal", json_pack ("{s:I, s:I, s:I, s:I, s:o}",
        "head", (json_int_t) self->head, "first", (json_int_t) self->first,
        "sent", (json_int_t) self->messages_sent, "refused", (json_int_t) self->refused,
        "consumers", consumers));
}
