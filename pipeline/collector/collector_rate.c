/*  collector_rate - requests a second per client address and per write key.

    Layer: the collector's HTTP intake (collector_reply.c per address,
    collector_segment.c per write key) asks before it reads a request;
    one over the rate is answered 429 with Retry-After, which the
    Segment and RudderStack SDKs honour, so nothing is lost.

    One token bucket (nd_bucket) per address (or key): rate tokens a
    second, up to twice that in a burst. The buckets live in a fixed table, so a flood
    from many addresses costs no memory: a bucket whose slot is needed is
    forgotten (its client starts again with a full bucket, which only
    makes the limit milder, never wrong for anyone else).                 */
#include <assert.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "collector.h"

#define s_WHO_MAX 64            //  an IPv6 address in text, or a key's first bytes
#define s_PROBE 8               //  slots looked at for one client

typedef struct {
    char who [s_WHO_MAX];
    nd_bucket_t bucket;         //  refilled 0: the slot is free
} s_slot_t;

struct _collector_rate_t {
    double rate;                //  tokens a second
    double burst;
    s_slot_t *buckets;
    size_t slots;
    pthread_mutex_t lock;
};

collector_rate_t *collector_rate_new (double rate, size_t slots)
{
    return collector_rate_new_burst (rate, rate * 2 < 1 ? 1 : rate * 2, slots);
}

collector_rate_t *collector_rate_new_burst (double rate, double burst, size_t slots)
{
    if (rate <= 0)
        return NULL;            //  no limit: nothing to keep
    collector_rate_t *self = (collector_rate_t *) calloc (1, sizeof *self);
    assert (self);
    self->rate = rate;
    self->burst = burst < 1 ? 1 : burst;
    self->slots = slots < s_PROBE ? s_PROBE : slots;
    self->buckets = (s_slot_t *) calloc (self->slots, sizeof *self->buckets);
    assert (self->buckets);
    pthread_mutex_init (&self->lock, NULL);
    return self;
}

void collector_rate_destroy (collector_rate_t **self_p)
{
    collector_rate_t *self = *self_p;
    if (self) {
        pthread_mutex_destroy (&self->lock);
        free (self->buckets);
        free (self);
        *self_p = NULL;
    }
}

//  FNV-1a: the slot where a client's probe starts.
static size_t s_hash (const char *who)
{
    uint64_t hash = 14695981039346656037ULL;
    for (const unsigned char *c = (const unsigned char *) who; *c; c++)
        hash = (hash ^ *c) * 1099511628211ULL;
    return (size_t) hash;
}

//  The client's bucket, or a free or the stalest slot near it, made new.
static nd_bucket_t *s_bucket (collector_rate_t *self, const char *who, int64_t now)
{
    size_t start = s_hash (who) % self->slots;
    s_slot_t *stalest = NULL;
    for (size_t i = 0; i < s_PROBE; i++) {
        s_slot_t *slot = &self->buckets [(start + i) % self->slots];
        if (slot->bucket.refilled && strncmp (slot->who, who, s_WHO_MAX - 1) == 0)
            return &slot->bucket;
        if (!stalest || slot->bucket.refilled < stalest->bucket.refilled)
            stalest = slot;
    }
    snprintf (stalest->who, s_WHO_MAX, "%s", who);
    stalest->bucket = (nd_bucket_t) { self->burst, now };
    return &stalest->bucket;
}

int64_t collector_rate_take (collector_rate_t *self, const char *who, int64_t now)
{
    if (!self)
        return 0;
    pthread_mutex_lock (&self->lock);
    int64_t wait = nd_bucket_take (s_bucket (self, who, now), self->rate, self->burst, now);
    pthread_mutex_unlock (&self->lock);
    return wait;
}

void collector_rate_test (bool verbose)
{
    if (verbose)
        printf (" * collector_rate: ");
    assert (!collector_rate_new (0, 16));           //  0: no limit
    assert (collector_rate_take (NULL, "1.2.3.4", 1000) == 0);
    collector_rate_t *rate = collector_rate_new (10, 16);
    //  A burst of twice the rate, then one every 100 ms
    for (int i = 0; i < 20; i++)
        assert (collector_rate_take (rate, "10.0.0.1", 1000) == 0);
    assert (collector_rate_take (rate, "10.0.0.1", 1000) == 100);
    assert (collector_rate_take (rate, "10.0.0.1", 1050) == 50);
    assert (collector_rate_take (rate, "10.0.0.1", 1100) == 0);
    //  Another client has a bucket of its own
    assert (collector_rate_take (rate, "10.0.0.2", 1100) == 0);
    //  Many clients cost no memory: the table of 16 is reused, stalest first
    char who [32];
    for (int i = 0; i < 1000; i++) {
        snprintf (who, sizeof who, "192.0.2.%d", i);
        assert (collector_rate_take (rate, who, 2000 + i) == 0);
    }
    collector_rate_destroy (&rate);
    collector_rate_destroy (&rate);
    if (verbose)
        printf ("OK\n");
}
