/*  nd_sender_workers - the threads that hand orders to the provider.

    Layer: runtime, the outbox (nd_sender.c), its bottom beside the
    store: a worker never touches LMDB, so nothing here calls the store.

    Threads: only the loop's thread touches LMDB. It marks orders sending
    inside its transaction and keeps them on a "marked" list; after the
    commit they go on the work queue. Workers take batches (within the rate
    limit), call the provider outside any transaction, put the batch on the
    results queue and wake the loop, whose source_drain applies them.

    Here too are the lists that carry orders between the loop and the
    workers, the rate limit in live time (event time keeps it in
    dispatch), and the mask every reason passes through on a worker
    before the loop sees it (providers use it too).                       */
#define _GNU_SOURCE
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <czmq.h>
#include "nd_sender_private.h"

/* --------------------------------------------------------------- lists -- */

void nd_sender_list_push (nd_sender_list_t *list, nd_sender_item_t *item)
{
    item->next = NULL;
    if (list->tail)
        list->tail->next = item;
    else
        list->head = item;
    list->tail = item;
    list->size++;
}

nd_sender_item_t *nd_sender_list_pop (nd_sender_list_t *list)
{
    nd_sender_item_t *item = list->head;
    if (item) {
        list->head = item->next;
        if (!list->head)
            list->tail = NULL;
        list->size--;
        item->next = NULL;
    }
    return item;
}

//  Moves every item of more to the end of list.
void nd_sender_list_join (nd_sender_list_t *list, nd_sender_list_t *more)
{
    if (!more->head)
        return;
    if (list->tail)
        list->tail->next = more->head;
    else
        list->head = more->head;
    list->tail = more->tail;
    list->size += more->size;
    *more = (nd_sender_list_t) { NULL, NULL, 0 };
}

static void s_item_destroy (nd_sender_item_t **item_p)
{
    nd_sender_item_t *item = *item_p;
    if (item) {
        free (item->key);
        json_decref (item->order);
        json_decref (item->result.extra);
        free (item);
        *item_p = NULL;
    }
}

void nd_sender_list_purge (nd_sender_list_t *list)
{
    nd_sender_item_t *item;
    while ((item = nd_sender_list_pop (list)))
        s_item_destroy (&item);
}

/* ------------------------------------------------------------- workers -- */

//  How many orders the rate limit lets go now (SIZE_MAX: no limit).
static size_t s_allowance (nd_sender_t *self, int64_t *wait_ms)
{
    if (self->rate <= 0 || self->event_time)
        return SIZE_MAX;        //  event time: nd_sender_dispatch keeps the rate
    *wait_ms = nd_bucket_refill (&self->bucket, self->rate, self->burst, zclock_mono ());
    return *wait_ms ? 0 : (size_t) self->bucket.tokens;
}

static void s_wait (nd_sender_t *self, int64_t ms)
{
    struct timespec until;
    clock_gettime (CLOCK_MONOTONIC, &until);
    until.tv_sec += ms / 1000;
    until.tv_nsec += (ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_cond_timedwait (&self->work_ready, &self->lock, &until);
}

//  Blocks until there is work the rate limit allows; 0 when stopping.
static size_t s_take (nd_sender_t *self, nd_sender_item_t **items)
{
    size_t count = 0;
    pthread_mutex_lock (&self->lock);
    while (!self->stopping && count == 0) {
        int64_t wait_ms = 0;
        size_t allowed = self->work.head ? s_allowance (self, &wait_ms) : 0;
        if (!self->work.head)
            pthread_cond_wait (&self->work_ready, &self->lock);
        else
        if (allowed == 0)
            s_wait (self, wait_ms);
        while (count < allowed && count < self->batch && self->work.head)
            items [count++] = nd_sender_list_pop (&self->work);
        if (self->rate > 0 && !self->event_time)
            self->bucket.tokens -= (double) count;
    }
    pthread_mutex_unlock (&self->lock);
    return count;
}

//  Keeps a provider's reason to one line and free of addresses.
static void s_clean_reason (nd_send_result_t *result)
{
    char clean [ND_SEND_REASON_MAX];
    nd_sender_mask (result->reason, clean, sizeof clean);
    memcpy (result->reason, clean, sizeof clean);
    result->topic [ND_SEND_TOPIC_MAX - 1] = 0;
    if (result->outcome == ND_SEND_PERMANENT && strspn (result->topic,
            "abcdefghijklmnopqrstuvwxyz-_") != strlen (result->topic))
        snprintf (result->topic, sizeof result->topic, "bounced");
}

void *nd_sender_worker (void *arg)
{
    nd_sender_t *self = (nd_sender_t *) arg;
    nd_sender_item_t **items = (nd_sender_item_t **) calloc (self->batch, sizeof *items);
    nd_send_job_t *jobs = (nd_send_job_t *) calloc (self->batch, sizeof *jobs);
    assert (items && jobs);
    size_t count;
    while ((count = s_take (self, items))) {
        for (size_t i = 0; i < count; i++)
            jobs [i] = (nd_send_job_t) { items [i]->order, items [i]->key, items [i]->attempt,
                                         items [i]->result, items [i]->time };
        self->provider->deliver (self->provider_self, jobs, count);
        pthread_mutex_lock (&self->lock);
        for (size_t i = 0; i < count; i++) {
            items [i]->result = jobs [i].result;
            s_clean_reason (&items [i]->result);
            nd_sender_list_push (&self->results, items [i]);
        }
        pthread_mutex_unlock (&self->lock);
        nd_stage_wake (self->stage);
    }
    free (items);
    free (jobs);
    return NULL;
}

/* ---------------------------------------------------------------- mask -- */

static bool s_local_char (char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
        || (c && strchr (".!#$%&'*+/=?^_`{|}~-", c));
}

void nd_sender_mask (const char *text, char *out, size_t size)
{
    size_t used = 0, local = 0;         //  local: length of the word before '@'
    for (const char *p = text ? text : ""; *p && used + 1 < size; p++) {
        char c = *p == '\r' || *p == '\n' || *p == '\t' ? ' ' : *p;
        if (c == '@' && local > 0) {
            used -= local - 1;          //  keep the first character
            if (used + 4 >= size)
                break;
            memcpy (out + used, "***", 3);
            used += 3;
        }
        local = s_local_char (c) ? local + 1 : 0;
        out [used++] = c;
    }
    out [used] = 0;
}
