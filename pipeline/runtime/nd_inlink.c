/*  nd_inlink - the receiving end of a durable link (the protocol is in
    nd_link.c, beside the sending end, nd_outbox).

    A consumer's DEALER says HELLO from its committed position with a credit
    window, takes MSG seq only when seq is its position + 1 (POS ranges move
    it over what the sender filtered out or trimmed), drops anything else
    and says HELLO again, and acknowledges each commit.

    After a second of silence it says HELLO again only when the last HELLO
    may not have been taken: nothing has come since it, or the connection
    to the sender dropped since (a socket monitor tells: a restarted
    sender, or messages lost with a broken connection), or nothing has
    come for five seconds (whatever else went wrong). A HELLO makes the
    sender send again all it has sent since pos, so one said while a burst
    is on its way costs that burst twice. Otherwise a second of silence
    says ACK again, which moves nothing back and makes good an ACK the
    sender refused (one that crossed an earlier HELLO, s_credit).       */
#include <stdio.h>
#include <string.h>
#include "nd_private.h"

struct _nd_inlink_t {
    char *upstream;
    char *consumer;
    zlist_t *topics;
    zsock_t *dealer;
    void *monitor;              //  the dealer's connection events (PAIR)
    unsigned connections;       //  dealers made, for a monitor's name
    unsigned connects;          //  connects seen on this dealer
    bool dropped;               //  it dropped or reconnected since a HELLO
    bool answered;              //  the sender spoke since our last HELLO
    uint64_t committed;         //  position stored in our LMDB
    uint64_t position;          //  applied in the open txn
    int64_t last_heard;
    int64_t last_hello;
    int64_t last_said;          //  our last HELLO or ACK
    int64_t last_resync;
    char *endpoint;
    nd_curve_t *curve;          //  with server_key: a CURVE link
    char server_key [ND_CURVE_KEY];
    bool dead;                  //  the upstream ended the session (a key it
                                //  does not trust): connect again
    bool told;                  //  and that was logged
    bool holding;               //  the last message is held back, unapplied
    uint64_t received;
    uint64_t gaps;
    uint64_t duplicates;
};

//  Sends COMMAND pos window [topic...], frame by frame: a commit says ACK
//  to each input it moved, and a zmsg built for it cost more than the rest.
static void s_say (nd_inlink_t *self, const char *command, uint64_t position)
{
    void *socket = zsock_resolve (self->dealer);
    char number [24], window [16];
    int size = snprintf (number, sizeof number, "%llu", (unsigned long long) position);
    int window_size = snprintf (window, sizeof window, "%d", ND_LINK_WINDOW);
    //  A DEALER blocks on send once it has no session left, which is where
    //  a refused CURVE handshake leaves it: never wait, note it instead.
    //  Once the first frame is taken, the rest of the message is.
    if (zmq_send (socket, command, strlen (command), ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0) {
        if (!self->told)
            nd_log ("link: %s refuses this stage (is our public key in its curve-clients?);"
                    " trying again every two seconds", self->upstream);
        self->dead = self->told = true;
        return;
    }
    zmq_send (socket, number, (size_t) size, ZMQ_SNDMORE);
    const char *topic = (const char *) zlist_first (self->topics);
    zmq_send (socket, window, (size_t) window_size, topic ? ZMQ_SNDMORE : 0);
    while (topic) {
        const char *next = (const char *) zlist_next (self->topics);
        zmq_send (socket, topic, strlen (topic), next ? ZMQ_SNDMORE : 0);
        topic = next;
    }
}

//  Says HELLO or ACK. A HELLO is always followed by an ACK of what is
//  committed: the sender takes an ACK only up to what it has sent since the
//  connection's last HELLO, and a HELLO never acknowledges (s_hello), so an
//  ACK refused after a stale HELLO (one that crossed our commit on the way)
//  would otherwise never be made good, and the sender would keep, and wait
//  on, entries we have long committed.
static void s_credit (nd_inlink_t *self, const char *command, uint64_t position)
{
    s_say (self, command, position);
    self->last_said = zclock_mono ();
    if (streq (command, "HELLO")) {
        s_say (self, "ACK", self->committed);
        self->last_hello = zclock_mono ();
        self->answered = self->dropped = false;
    }
}

//  Watches the dealer's connections: any but its first connect (and any
//  disconnect) means what was on the way may be gone.
static void s_monitor (nd_inlink_t *self)
{
    char endpoint [64];
    snprintf (endpoint, sizeof endpoint, "inproc://nd-inlink-%p-%u", (void *) self,
              self->connections++);
    self->connects = 0;
    if (zmq_socket_monitor (zsock_resolve (self->dealer), endpoint,
                            ZMQ_EVENT_CONNECTED | ZMQ_EVENT_DISCONNECTED) == 0) {
        self->monitor = zmq_socket (zsys_init (), ZMQ_PAIR);
        if (self->monitor && zmq_connect (self->monitor, endpoint) == 0)
            return;
        if (self->monitor)
            zmq_close (self->monitor);
    }
    self->monitor = NULL;       //  unwatched: every quiet second says HELLO
    self->dropped = true;
}

static void s_monitor_close (nd_inlink_t *self)
{
    if (self->monitor) {
        zmq_socket_monitor (zsock_resolve (self->dealer), NULL, 0);
        zmq_close (self->monitor);
        self->monitor = NULL;
    }
}

//  Reads the connection events that came since the last look.
static void s_watch (nd_inlink_t *self)
{
    zmq_msg_t frame;
    zmq_msg_init (&frame);
    while (self->monitor && zmq_msg_recv (&frame, self->monitor, ZMQ_DONTWAIT) >= 0) {
        //  An event is two frames: its number and value, then the endpoint
        if (zmq_msg_more (&frame) && zmq_msg_size (&frame) >= 2) {
            uint16_t event;
            memcpy (&event, zmq_msg_data (&frame), sizeof event);
            if (event != ZMQ_EVENT_CONNECTED || self->connects++ > 0)
                self->dropped = true;
        }
    }
    zmq_msg_close (&frame);
    if (!self->monitor)
        self->dropped = true;
}

//  A fresh DEALER to the upstream, also after it refused the last one.
static int s_connect (nd_inlink_t *self)
{
    s_monitor_close (self);
    zsock_destroy (&self->dealer);
    self->dead = false;
    self->dealer = zsock_new (ZMQ_DEALER);
    //  NAME/TAG, new for each socket: the sender knows its consumer by NAME
    //  and this connection by the whole id, which no other one can claim
    zuuid_t *tag = zuuid_new ();
    char *identity = zsys_sprintf ("%s/%.16s", self->consumer, zuuid_str (tag));
    zsock_set_identity (self->dealer, identity);
    zstr_free (&identity);
    zuuid_destroy (&tag);
    zsock_set_rcvhwm (self->dealer, 0);
    zsock_set_sndhwm (self->dealer, 0);
    zsock_set_sndtimeo (self->dealer, 0);
    //  A sender whose host vanished leaves a connection that looks alive:
    //  ZMTP heartbeats end it, and the monitor sees it go
    zsock_set_heartbeat_ivl (self->dealer, 2000);
    zsock_set_heartbeat_timeout (self->dealer, 6000);
    s_monitor (self);
    if (*self->server_key)
        nd_curve_client (self->curve, zsock_resolve (self->dealer), self->server_key);
    return zsock_connect (self->dealer, "%s", self->endpoint) < 0 ? -1 : 0;
}

nd_inlink_t *nd_inlink_new (const char *upstream, const char *endpoint,
                            const char *consumer, uint64_t position, const char *topics,
                            nd_curve_t *curve, const char *server_key)
{
    nd_inlink_t *self = (nd_inlink_t *) zmalloc (sizeof *self);
    self->upstream = strdup (upstream);
    self->consumer = strdup (consumer);
    self->committed = self->position = position;
    self->topics = zlist_new ();
    zlist_autofree (self->topics);
    char *list = strdup (topics ? topics : ""), *save = NULL;
    bool chosen = false;        //  topics, not only a partition ("@K/N")
    bool moves = false;         //  a sibling partition's link: its moves only
    for (char *t = strtok_r (list, ", ", &save); t; t = strtok_r (NULL, ", ", &save)) {
        zlist_append (self->topics, t);
        chosen = chosen || *t != '@';
        moves = moves || strncmp (t, "move.", 5) == 0;
    }
    free (list);
    //  An erasure must reach every stage that keeps anything of a person,
    //  whatever topics it chose (README "Privacy"): person.* always passes,
    if (chosen && !moves)
        zlist_append (self->topics, "person.");
    //  and a move between partitions keeps a reader's order (nd_moves.c)
    if (chosen && !moves)
        zlist_append (self->topics, "move.");
    self->endpoint = strdup (endpoint);
    self->curve = curve;
    if (server_key)
        memcpy (self->server_key, server_key, ND_CURVE_KEY);
    if (s_connect (self)) {
        nd_log ("cannot connect to %s at %s", upstream, endpoint);
        nd_inlink_destroy (&self);
        return NULL;
    }
    s_credit (self, "HELLO", self->committed);
    return self;
}

void nd_inlink_destroy (nd_inlink_t **self_p)
{
    nd_inlink_t *self = *self_p;
    if (self) {
        s_monitor_close (self);
        zsock_destroy (&self->dealer);
        zlist_destroy (&self->topics);
        free (self->endpoint);
        free (self->upstream);
        free (self->consumer);
        free (self);
        *self_p = NULL;
    }
}

void *nd_inlink_socket (nd_inlink_t *self)
{
    return zsock_resolve (self->dealer);
}

const char *nd_inlink_upstream (nd_inlink_t *self)
{
    return self->upstream;
}

void nd_rawmsg_close (nd_rawmsg_t *msg)
{
    zmq_msg_close (&msg->topic);
    zmq_msg_close (&msg->body);
}

//  Reads the rest of a multipart message into up to `count` parts.
static int s_recv_parts (void *socket, zmq_msg_t *parts, int count)
{
    int got = 0;
    while (got < count) {
        zmq_msg_init (&parts [got]);
        if (zmq_msg_recv (&parts [got], socket, 0) < 0) {
            zmq_msg_close (&parts [got]);
            break;
        }
        got++;
        if (!zmq_msg_more (&parts [got - 1]))
            break;
    }
    return got;
}

static uint64_t s_number (zmq_msg_t *part)
{
    char text [24];
    size_t size = zmq_msg_size (part) < sizeof text - 1 ? zmq_msg_size (part) : sizeof text - 1;
    memcpy (text, zmq_msg_data (part), size);
    text [size] = 0;
    return strtoull (text, NULL, 10);
}

//  A frame set that does not continue from our position means something
//  before it was lost (a dropped connection, a HELLO the sender never got):
//  drop it and ask again from where we are, at most every 200 ms.
static void s_resync (nd_inlink_t *self)
{
    self->gaps++;
    int64_t now = zclock_mono ();
    if (now - self->last_resync >= 200) {
        self->last_resync = now;
        s_credit (self, "HELLO", self->position);
    }
}

static bool s_is (zmq_msg_t *part, const char *command)
{
    return zmq_msg_size (part) == 3 && memcmp (zmq_msg_data (part), command, 3) == 0;
}

//  A tick at time, as if the journal held one at seq.
static void s_tick (nd_rawmsg_t *msg, uint64_t seq, int64_t time)
{
    char stamp [32], body [96];
    int size = snprintf (body, sizeof body, "{\"id\":\"tick-%lld\",\"user\":\"\",\"time\":\"%s\"}",
                         (long long) time, nd_time_format (time, stamp));
    msg->seq = seq;
    zmq_msg_init_size (&msg->topic, 4);
    memcpy (zmq_msg_data (&msg->topic), "tick", 4);
    zmq_msg_init_size (&msg->body, (size_t) size);
    memcpy (zmq_msg_data (&msg->body), body, (size_t) size);
}

int nd_inlink_recv (nd_inlink_t *self, nd_rawmsg_t *msg)
{
    void *socket = zsock_resolve (self->dealer);
    while (true) {
        zmq_msg_t parts [4];
        zmq_msg_init (&parts [0]);
        if (zmq_msg_recv (&parts [0], socket, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close (&parts [0]);
            return zmq_errno () == EAGAIN ? 0 : -1;
        }
        int got = 1;
        if (zmq_msg_more (&parts [0]))
            got += s_recv_parts (socket, parts + 1, 3);
        self->last_heard = zclock_mono ();
        self->answered = true;
        if (self->told) {
            nd_log ("link: %s lets this stage in", self->upstream);
            self->told = false;
        }
        uint64_t seq = got >= 2 ? s_number (&parts [1]) : 0;
        bool fresh = false;
        if ((got == 3 || got == 4) && s_is (&parts [0], "POS")) {
            uint64_t to = s_number (&parts [2]);
            int64_t time = got == 4 ? (int64_t) s_number (&parts [3]) : 0;
            if (seq > self->position + 1)
                s_resync (self);
            else
            if (to > self->position && time > 0) {
                //  Another partition's events: their time still moves
                //  this one's clock, as a tick at the end of the range
                self->position = to;
                s_tick (msg, to, time);
                fresh = true;
            }
            else
            if (to > self->position)
                self->position = to;
        }
        else
        if (got == 4 && s_is (&parts [0], "MSG")) {
            if (seq <= self->position)
                self->duplicates++;
            else
            if (seq > self->position + 1)
                s_resync (self);
            else
                fresh = true;
        }
        if (fresh && s_is (&parts [0], "MSG")) {
            self->position = seq;
            self->received++;
            msg->seq = seq;
            zmq_msg_init (&msg->topic);
            zmq_msg_init (&msg->body);
            zmq_msg_move (&msg->topic, &parts [2]);
            zmq_msg_move (&msg->body, &parts [3]);
        }
        for (int i = 0; i < got; i++)
            zmq_msg_close (&parts [i]);
        if (fresh)
            return 1;
    }
}

uint64_t nd_inlink_position (nd_inlink_t *self)
{
    return self->position;
}

bool nd_inlink_dirty (nd_inlink_t *self)
{
    return self->position != self->committed;
}

void nd_inlink_committed (nd_inlink_t *self)
{
    if (self->position != self->committed) {
        self->committed = self->position;
        s_credit (self, "ACK", self->committed);
    }
}

//  The stage keeps the message just received for later (event time has
//  not reached it): its position stays before it, so a commit meanwhile
//  does not count it as applied, and nothing more is read until release.
void nd_inlink_hold (nd_inlink_t *self)
{
    if (!self->holding && self->position > self->committed) {
        self->position--;
        self->holding = true;
    }
}

void nd_inlink_release (nd_inlink_t *self)
{
    if (self->holding) {
        self->position++;
        self->holding = false;
    }
}

void nd_inlink_aborted (nd_inlink_t *self)
{
    self->holding = false;
    //  The messages read since the last commit are gone from the socket:
    //  ask the sender to resend from what is really committed.
    self->position = self->committed;
    s_credit (self, "HELLO", self->committed);
}

void nd_inlink_heartbeat (nd_inlink_t *self, int64_t mono_now)
{
    //  Quiet for a second: HELLO or ACK (see the top of this file). Not
    //  while a message is held: we are quiet on purpose, and a HELLO would
    //  have the sender pour its window again into our socket.
    if (self->holding || mono_now - self->last_heard <= 1000 || mono_now - self->last_said <= 1000)
        return;
    s_watch (self);
    bool hello = self->dead || !self->answered || self->dropped
              || (mono_now - self->last_heard > 5000 && mono_now - self->last_hello > 5000);
    if (self->dead)
        s_connect (self);
    s_credit (self, hello ? "HELLO" : "ACK", self->committed);
}

void nd_inlink_stats (nd_inlink_t *self, json_t *stats)
{
    json_object_set_new (stats, self->upstream, json_pack ("{s:I, s:I, s:I, s:I}",
        "position", (json_int_t) self->committed, "received", (json_int_t) self->received,
        "duplicates", (json_int_t) self->duplicates, "gaps", (json_int_t) self->gaps));
}
