/*  nd_inputs - a stage's upstream links, read in event-time order.

    Layer: runtime, between the links (nd_link.c) and the loop
    (nd_stage.c; nd_stage_batch.c applies what this hands it).

    In wall-clock mode the inputs are read as messages come, each in turn.
    In event-time mode (ARCHITECTURE.md section 5) a stage's clock is the
    low watermark of its time inputs ("clock-inputs", by default the first
    stage named in "input"): how far each of them has got is the latest
    "time" seen on it (ticks included), and the clock is the minimum of
    those. A message from a time input goes only when no other time input
    can still bring something earlier. Its other inputs, feedback (the
    senders, to the scheduler) and side inputs (the collector's
    unsubscribes, to the mail-sender), neither hold the clock back nor
    push it on: their messages wait, unapplied and unacknowledged, until
    the time inputs have got to their time, and then go, at their time,
    before the time input's message that gets there. A fast side input therefore cannot
    run the stage ahead of events still on their way, a slow one holds
    nothing up, and a stage fed the same journals reaches the same states
    at the same clock values however fast they arrive.

    Each input keeps at most one message it has read and not yet handed
    over (its head); nd_inlink_hold keeps that message out of the
    committed position, so a crash meanwhile loses nothing.             */
#include <stdio.h>
#include "nd_private.h"
#include "nd_json.h"

#define TOPIC_MAX 256

typedef struct {
    nd_inlink_t *link;
    bool keeps_time;            //  a time input: it drives the clock
    bool sibling;               //  a sibling partition's moves: taken at once
    int64_t reached;            //  time input: the latest time seen on it
    bool has_head;              //  a message read and not yet handed over
    bool drained;               //  found empty since the last poll
    uint64_t seq;
    char topic [TOPIC_MAX];
    json_t *body;               //  NULL when it did not parse
    zmq_msg_t raw;              //  the body as received, kept for nd_emit_extended
    char error [120];
    int64_t time;               //  its "time", 0 if none
    int64_t stamp;              //  time input: "reached" once it is counted
    uint64_t watched;           //  the link's position when last looked at
    uint64_t gaps;              //  its gap count when the position last moved
    int64_t still_since;        //  wall ms: entries waiting, position unmoved
} s_input_t;

struct _nd_inputs_t {
    bool event_time;
    nd_inputs_gate_fn *gate;    //  whether a head may go now
    void *gate_arg;
    s_input_t inputs [ND_INPUTS_MAX];
    size_t count;
    size_t turn;                //  wall mode: the input read next
};

nd_inputs_t *nd_inputs_new (bool event_time)
{
    nd_inputs_t *self = (nd_inputs_t *) zmalloc (sizeof *self);
    self->event_time = event_time;
    return self;
}

static void s_drop_head (s_input_t *input)
{
    if (input->has_head)
        zmq_msg_close (&input->raw);
    json_decref (input->body);
    input->body = NULL;
    input->has_head = false;
}

void nd_input_msg_close (nd_input_msg_t *msg)
{
    json_decref (msg->msg.body);
    msg->msg.body = NULL;
    zmq_msg_close (&msg->raw);
}

void nd_inputs_destroy (nd_inputs_t **self_p)
{
    nd_inputs_t *self = *self_p;
    if (self) {
        for (size_t i = 0; i < self->count; i++) {
            s_drop_head (&self->inputs [i]);
            nd_inlink_destroy (&self->inputs [i].link);
        }
        free (self);
        *self_p = NULL;
    }
}

int nd_inputs_add (nd_inputs_t *self, nd_inlink_t *link, bool keeps_time, bool sibling)
{
    if (self->count == ND_INPUTS_MAX)
        return -1;
    self->inputs [self->count++] = (s_input_t) { .link = link, .keeps_time = keeps_time,
                                                 .sibling = sibling };
    return 0;
}

void nd_inputs_set_gate (nd_inputs_t *self, nd_inputs_gate_fn *gate, void *arg)
{
    self->gate = gate;
    self->gate_arg = arg;
}

//  A head the gate holds back (a move.in whose move has not arrived).
static bool s_gated (nd_inputs_t *self, const s_input_t *input)
{
    return self->gate && input->body && !self->gate (self->gate_arg, input->topic, input->body);
}

size_t nd_inputs_count (nd_inputs_t *self)
{
    return self->count;
}

nd_inlink_t *nd_inputs_link (nd_inputs_t *self, size_t index)
{
    return self->inputs [index].link;
}

void nd_inputs_rearm (nd_inputs_t *self)
{
    for (size_t i = 0; i < self->count; i++)
        self->inputs [i].drained = false;
}

//  Reads the next message of an input into its head: topic, body, time.
//  An input found empty is not read again until the loop has polled
//  (nd_inputs_rearm): a read of an empty socket costs libzmq a poll(2),
//  and a stage with idle feedback inputs paid one each per message.
static bool s_read_head (s_input_t *input)
{
    nd_rawmsg_t raw;
    if (input->drained)
        return false;
    if (nd_inlink_recv (input->link, &raw) != 1) {
        input->drained = true;
        return false;
    }
    size_t size = zmq_msg_size (&raw.topic) < TOPIC_MAX - 1 ? zmq_msg_size (&raw.topic) : TOPIC_MAX - 1;
    memcpy (input->topic, zmq_msg_data (&raw.topic), size);
    input->topic [size] = 0;
    input->seq = raw.seq;
    input->time = 0;
    input->error [0] = 0;
    input->body = nd_json_parse ((const char *) zmq_msg_data (&raw.body), zmq_msg_size (&raw.body),
                                 input->error, sizeof input->error);
    if (input->body && !json_is_object (input->body)) {
        json_decref (input->body);
        input->body = NULL;
        snprintf (input->error, sizeof input->error, "not an object");
    }
    const char *time = json_string_value (json_object_get (input->body, "time"));
    if (time)
        nd_time_parse (time, &input->time);
    if (input->keeps_time && input->time > input->reached)
        input->reached = input->time;
    input->stamp = input->reached;
    input->has_head = true;
    zmq_msg_init (&input->raw);
    zmq_msg_move (&input->raw, &raw.body);
    nd_rawmsg_close (&raw);
    return true;
}

//  Hands an input's head over: the caller owns msg->body.
static int s_take (s_input_t *input, nd_input_msg_t *msg, int64_t clock)
{
    nd_inlink_release (input->link);
    *msg = (nd_input_msg_t) { .clock = clock, .keeps_time = input->keeps_time,
                              .sibling = input->sibling, .error = input->error };
    zmq_msg_init (&msg->raw);
    zmq_msg_move (&msg->raw, &input->raw);
    msg->msg = (nd_msg_t) { nd_inlink_upstream (input->link), input->seq, input->topic,
                            input->body, input->time, (const char *) zmq_msg_data (&msg->raw),
                            zmq_msg_size (&msg->raw) };
    zmq_msg_close (&input->raw);
    input->body = NULL;
    input->has_head = false;
    return 1;
}

//  Wall clock: the inputs in turn, a message each, so a busy one (the
//  segmenter's stream) cannot keep another (the senders' feedback) waiting.
static int s_next_wall (nd_inputs_t *self, nd_input_msg_t *msg)
{
    for (size_t tried = 0; tried < self->count; tried++) {
        s_input_t *input = &self->inputs [self->turn];
        self->turn = (self->turn + 1) % self->count;
        if (!input->has_head && s_read_head (input))
            nd_inlink_hold (input->link);
        if (input->has_head && !s_gated (self, input))
            return s_take (input, msg, 0);
    }
    return 0;
}

//  A time input's head may go when every other time input has got at
//  least as far: nothing earlier can come from them any more.
static bool s_time_head_ready (nd_inputs_t *self, size_t index)
{
    s_input_t *head = &self->inputs [index];
    for (size_t j = 0; j < self->count; j++) {
        s_input_t *other = &self->inputs [j];
        if (j != index && other->keeps_time
        &&  (other->has_head ? other->stamp : other->reached) < head->stamp)
            return false;
    }
    return true;
}

int nd_inputs_next (nd_inputs_t *self, int64_t now, bool busy, nd_input_msg_t *msg)
{
    if (!self->event_time)
        return s_next_wall (self, msg);
    for (size_t i = 0; i < self->count; i++) {
        s_input_t *input = &self->inputs [i];
        if (!input->has_head && s_read_head (input))
            nd_inlink_hold (input->link);
    }
    //  The time input's message that would go next; while the stage is
    //  busy, only one that leaves the clock where it is
    s_input_t *next = NULL;
    for (size_t i = 0; i < self->count; i++) {
        s_input_t *input = &self->inputs [i];
        //  A sibling's move waits for no clock: a move.in may wait for it
        if (input->sibling && input->has_head)
            return s_take (input, msg, 0);
        if (input->keeps_time && input->has_head && (!next || input->stamp < next->stamp)
        &&  s_time_head_ready (self, i) && !s_gated (self, input))
            next = input;
    }
    if (next && busy && next->stamp > now)
        next = NULL;
    //  Anything from the other inputs that is due by then goes first, at
    //  its own time (never past where the time inputs have got); a
    //  message that cannot parse goes at once
    int64_t bound = next && next->stamp > now ? next->stamp : now;
    s_input_t *side = NULL;
    for (size_t i = 0; i < self->count; i++) {
        s_input_t *input = &self->inputs [i];
        if (input->keeps_time || !input->has_head)
            continue;
        if (!input->body)
            return s_take (input, msg, 0);
        if (input->time <= bound && (!side || input->time < side->time))
            side = input;
    }
    if (side)
        return s_take (side, msg, side->time);
    if (next)
        return s_take (next, msg, next->stamp);
    return 0;
}

//  The socket of an input worth polling: none while its head waits (its
//  socket stays readable and would spin the loop).
void *nd_inputs_socket (nd_inputs_t *self, size_t index)
{
    s_input_t *input = &self->inputs [index];
    return input->has_head ? NULL : nd_inlink_socket (input->link);
}

/* ------------------------------------------------------------ stalls -- */

//  A time input's head that may go by the other inputs but waits for the
//  stage's work due now (nd_stage_busy_when): the clock waits for that
//  work, which should take moments, not minutes.
static bool s_held_by_work (nd_inputs_t *self, size_t index, int64_t now, bool busy)
{
    s_input_t *input = &self->inputs [index];
    return busy && input->keeps_time && input->has_head && input->stamp > now
        && s_time_head_ready (self, index);
}

static uint64_t s_link_gaps (nd_inlink_t *link)
{
    json_t *stats = json_object ();
    nd_inlink_stats (link, stats);
    json_t *gaps = json_object_get (json_object_get (stats, nd_inlink_upstream (link)), "gaps");
    uint64_t count = (uint64_t) json_integer_value (gaps);
    json_decref (stats);
    return count;
}

//  Entries are known to wait on an input when its upstream sent some past
//  our position (a gap: the link asks again, and the position should
//  move), or when its head could go but for the stage's work. Messages
//  that wait for the clock (side inputs, a time input ahead of the
//  others) are not stalled: event time holds them on purpose.
void nd_inputs_watch (nd_inputs_t *self, int64_t wall_now, int64_t now, bool busy, bool paused)
{
    for (size_t i = 0; i < self->count; i++) {
        s_input_t *input = &self->inputs [i];
        uint64_t position = nd_inlink_position (input->link);
        uint64_t gaps = s_link_gaps (input->link);
        if (paused || position != input->watched) {
            input->watched = position;
            input->gaps = gaps;
            input->still_since = 0;
            continue;
        }
        bool waiting = gaps > input->gaps || s_held_by_work (self, i, now, busy);
        if (!waiting)
            input->still_since = 0;
        else
        if (!input->still_since)
            input->still_since = wall_now;
    }
}

bool nd_inputs_stalled (nd_inputs_t *self, int64_t wall_now, int64_t after, char *reason,
                        size_t size, int64_t *since)
{
    for (size_t i = 0; i < self->count; i++) {
        s_input_t *input = &self->inputs [i];
        if (!input->still_since || wall_now - input->still_since < after
        ||  nd_inlink_position (input->link) != input->watched)
            continue;               //  not for long enough, or moved since the last look
        bool gapped = s_link_gaps (input->link) > input->gaps;
        snprintf (reason, size, "input %s: position %llu has not moved for %llds while %s",
                  nd_inlink_upstream (input->link), (unsigned long long) input->watched,
                  (long long) ((wall_now - input->still_since) / 1000),
                  gapped ? "its upstream has entries after it (they arrive out of sequence)"
                         : "its next entry waits for the stage's work due now");
        *since = input->still_since;
        return true;
    }
    return false;
}

void nd_inputs_aborted (nd_inputs_t *self)
{
    //  The heads were not applied and are not committed: the upstreams
    //  send them again
    for (size_t i = 0; i < self->count; i++) {
        s_drop_head (&self->inputs [i]);
        nd_inlink_aborted (self->inputs [i].link);
    }
}
