/*  nd_stage_emit - what a stage emits: into the journal, then onto the tap.

    Layer: runtime, the skeleton (nd_stage.c), its bottom but for the
    options. nd_emit and its kin append to the output journal inside the
    batch, routed by the message's "user" for partitioned readers; what
    taps listen for waits here until the batch commits (or is dropped with
    it). It stands apart because stages call it from every apply, while
    the loop, setup and control are the skeleton's own business.           */
#include "nd_private.h"
#include "nd_json.h"

typedef struct {
    char *topic;
    char *text;
} s_publication_t;

//  Takes text: into the journal, and onto the tap after the commit.
static int s_append (nd_stage_t *stage, MDB_txn *txn, const char *topic, char *text, size_t size,
                     const uint32_t *keys, size_t count, int64_t time)
{
    uint64_t seq;
    if (!stage->outbox)
        nd_log ("%s: nothing is emitted while the stage does not run", topic);
    if (!text || !stage->outbox
    ||  nd_outbox_append (stage->outbox, txn, topic, text, size, keys, count, time, &seq)) {
        free (text);
        return -1;
    }
    stage->batch_emitted++;
    if (stage->listened <= 0) {
        free (text);
        return 0;
    }
    s_publication_t *p = (s_publication_t *) zmalloc (sizeof *p);
    p->topic = strdup (topic);
    p->text = text;
    zlist_append (stage->publications, p);
    return 0;
}

uint32_t nd_route_key (const char *id)
{
    uint32_t hash = 2166136261u;
    for (const unsigned char *c = (const unsigned char *) id; *c; c++)
        hash = (hash ^ *c) * 16777619u;
    return hash;
}

int nd_stage_pass_moved (nd_stage_t *stage, MDB_txn *txn, const nd_msg_t *msg, const char *user)
{
    return stage->moves ? nd_moves_pass (stage->moves, stage, txn, msg, user) : 0;
}

int nd_stage_pass_all (nd_stage_t *stage, MDB_txn *txn, const char *topic, json_t *message)
{
    return stage->moves ? nd_moves_pass_all (stage->moves, stage, txn, topic, message) : 0;
}

//  A message is about its "user": a partitioned stage reading this one
//  gets it in the partition that owns them (README "Partitioned stages").
static size_t s_user_key (const json_t *body, uint32_t *key)
{
    const char *user = json_string_value (json_object_get (body, "user"));
    if (!user || !*user)
        return 0;
    *key = nd_route_key (user);
    return 1;
}

int nd_emit (nd_stage_t *stage, MDB_txn *txn, const char *topic, json_t *body)
{
    uint32_t key;
    return nd_emit_routed (stage, txn, topic, body, &key, s_user_key (body, &key));
}

int nd_emit_routed (nd_stage_t *stage, MDB_txn *txn, const char *topic, json_t *body,
                    const uint32_t *keys, size_t count)
{
    char stamp [32];
    if (count > ND_ROUTE_KEYS)
        return -1;
    if (!json_object_get (body, "id")) {
        char id [128];
        snprintf (id, sizeof id, "%s-%llu", stage->name,
                  (unsigned long long) nd_outbox_next_seq (stage->outbox));
        json_object_set_new (body, "id", json_string (id));
    }
    if (!json_object_get (body, "time"))
        json_object_set_new (body, "time",
                             json_string (nd_time_format (nd_clock_now (stage->clock), stamp)));
    size_t size;
    char *text = nd_json_dump (body, &size);
    int64_t time = 0;
    if (count)
        nd_time_parse (json_string_value (json_object_get (body, "time")), &time);
    return s_append (stage, txn, topic, text, size, keys, count, time);
}

//  The received text with extra's members before its closing brace, or
//  NULL when the text does not end as an object does.
static char *s_extend (const nd_msg_t *msg, const char *members, size_t members_size,
                       size_t *size)
{
    size_t end = msg->size;
    while (end > 0 && (msg->text [end - 1] == ' ' || msg->text [end - 1] == '\t'
                    || msg->text [end - 1] == '\r' || msg->text [end - 1] == '\n'))
        end--;
    if (end == 0 || msg->text [end - 1] != '}')
        return NULL;
    end--;
    bool comma = json_object_size (msg->body) > 0 && members_size > 0;
    *size = end + comma + members_size + 1;
    char *text = (char *) malloc (*size + 1);
    if (!text)
        return NULL;
    memcpy (text, msg->text, end);
    if (comma)
        text [end] = ',';
    memcpy (text + end + comma, members, members_size);
    text [*size - 1] = '}';
    text [*size] = 0;
    return text;
}

int nd_emit_extended (nd_stage_t *stage, MDB_txn *txn, const char *topic, const nd_msg_t *msg,
                      const json_t *extra)
{
    bool whole = !msg->text || !json_object_get (msg->body, "id")
              || !json_object_get (msg->body, "time");
    const char *key;
    json_t *value;
    json_object_foreach ((json_t *) extra, key, value)
        whole = whole || json_object_get (msg->body, key);
    char *text = NULL;
    size_t size = 0;
    if (!whole && !extra)
        text = s_extend (msg, "", 0, &size);
    else
    if (!whole) {
        //  extra written alone is "{members}": its members go in as they are
        size_t extra_size;
        char *members = nd_json_dump (extra, &extra_size);
        if (!members)
            return -1;
        text = s_extend (msg, members + 1, extra_size - 2, &size);
        free (members);
    }
    uint32_t route;
    if (text)
        return s_append (stage, txn, topic, text, size, &route, s_user_key (msg->body, &route),
                         msg->time);
    json_t *body = json_copy (msg->body);
    int rc = body && (!extra || json_object_update (body, (json_t *) extra) == 0)
           ? nd_emit (stage, txn, topic, body) : -1;
    json_decref (body);
    return rc;
}

//  Counts the subscriptions taps made or dropped: an XPUB passes on the
//  first subscription to a prefix and the last one's end, so while the
//  count is 0 nobody listens, and nothing is kept for taps (s_append).
void nd_stage_taps (nd_stage_t *stage)
{
    zmq_msg_t frame;
    zmq_msg_init (&frame);
    while (zmq_msg_recv (&frame, zsock_resolve (stage->pub), ZMQ_DONTWAIT) >= 0)
        if (zmq_msg_size (&frame) > 0)
            stage->listened += *(byte *) zmq_msg_data (&frame) == 1 ? 1 : -1;
    zmq_msg_close (&frame);
}

//  After a commit (committed) the batch's messages are counted and shown
//  to taps; after an abort they never were.
void nd_stage_publish_all (nd_stage_t *stage, bool committed)
{
    void *pub = stage->pub ? zsock_resolve (stage->pub) : NULL;
    bool send = committed && pub;
    if (committed)
        stage->emitted += stage->batch_emitted;
    stage->batch_emitted = 0;
    s_publication_t *p;
    while ((p = (s_publication_t *) zlist_pop (stage->publications))) {
        if (send) {
            zmq_send (pub, p->topic, strlen (p->topic), ZMQ_SNDMORE | ZMQ_DONTWAIT);
            zmq_send (pub, p->text, strlen (p->text), ZMQ_DONTWAIT);
        }
        free (p->topic);
        free (p->text);
        free (p);
    }
}
