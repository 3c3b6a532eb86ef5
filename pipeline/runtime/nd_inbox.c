/*  nd_inbox - other threads ask, the loop applies, the commit answers.

    A ticket is one request's events. Its state moves 0 (waiting) -> 1
    (taken by the loop) -> 2 (done) under the lock; a submitter's ticket
    lives on its stack, so a request that gives up withdraws its ticket
    while it still waits, and one taken is always finished by the loop
    (or by close) before its owner returns.                            */
#define _GNU_SOURCE
#include <assert.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <czmq.h>
#include "nd_inbox.h"

#define s_WAITING 0
#define s_TAKEN 1
#define s_DONE 2

typedef struct _s_ticket_t {
    void *events;
    size_t count;
    int state;
    int rc;
    bool detached;              //  posted: nobody waits, the inbox frees it
    struct _s_ticket_t *next;
} s_ticket_t;

struct _nd_inbox_t {
    nd_stage_t *stage;
    size_t event_size;
    nd_inbox_clear_fn *clear;
    pthread_mutex_t lock;
    pthread_cond_t done;        //  tickets finished, or the version moved
    s_ticket_t *waiting;        //  newest first
    s_ticket_t *taken;
    size_t waiting_count;
    uint64_t version;
    bool closing;
};

nd_inbox_t *nd_inbox_new (nd_stage_t *stage, size_t event_size, nd_inbox_clear_fn *clear)
{
    nd_inbox_t *self = (nd_inbox_t *) zmalloc (sizeof *self);
    self->stage = stage;
    self->event_size = event_size;
    self->clear = clear;
    self->version = 1;
    pthread_mutex_init (&self->lock, NULL);
    pthread_cond_init (&self->done, NULL);
    return self;
}

static void *s_event (nd_inbox_t *self, s_ticket_t *ticket, size_t index)
{
    return (char *) ticket->events + index * self->event_size;
}

static void s_ticket_free (nd_inbox_t *self, s_ticket_t *ticket)
{
    for (size_t i = 0; self->clear && i < ticket->count; i++)
        self->clear (s_event (self, ticket, i));
    free (ticket->events);
    free (ticket);
}

//  Wakes every request the loop took with rc (the lock is held). A
//  request whose own events failed fails even if the rest committed.
static void s_finish_taken (nd_inbox_t *self, int rc)
{
    for (s_ticket_t *t = self->taken; t; ) {
        s_ticket_t *next = t->next;
        t->rc = rc ? rc : t->rc;
        t->state = s_DONE;
        t->next = NULL;
        if (t->detached)
            s_ticket_free (self, t);
        t = next;
    }
    self->taken = NULL;
    pthread_cond_broadcast (&self->done);
}

void nd_inbox_close (nd_inbox_t *self)
{
    pthread_mutex_lock (&self->lock);
    self->closing = true;
    s_finish_taken (self, -1);
    pthread_mutex_unlock (&self->lock);
}

void nd_inbox_destroy (nd_inbox_t **self_p)
{
    nd_inbox_t *self = *self_p;
    if (!self)
        return;
    nd_inbox_close (self);
    while (self->waiting) {
        s_ticket_t *next = self->waiting->next;
        if (self->waiting->detached)
            s_ticket_free (self, self->waiting);
        self->waiting = next;
    }
    pthread_cond_destroy (&self->done);
    pthread_mutex_destroy (&self->lock);
    free (self);
    *self_p = NULL;
}

static void s_queue (nd_inbox_t *self, s_ticket_t *ticket)
{
    pthread_mutex_lock (&self->lock);
    ticket->next = self->waiting;
    self->waiting = ticket;
    self->waiting_count++;
    pthread_mutex_unlock (&self->lock);
    if (self->stage)
        nd_stage_wake (self->stage);
}

int nd_inbox_submit (nd_inbox_t *self, void *events, size_t count)
{
    s_ticket_t ticket = { events, count, s_WAITING, 0, false, NULL };
    struct timespec until;
    clock_gettime (CLOCK_REALTIME, &until);
    until.tv_sec += ND_INBOX_WAIT_MS / 1000;
    pthread_mutex_lock (&self->lock);
    if (self->closing) {
        pthread_mutex_unlock (&self->lock);
        return -1;
    }
    pthread_mutex_unlock (&self->lock);
    s_queue (self, &ticket);
    pthread_mutex_lock (&self->lock);
    int rc = 0;
    while (ticket.state != s_DONE && rc == 0 && !self->closing)
        rc = pthread_cond_timedwait (&self->done, &self->lock, &until);
    if (ticket.state == s_WAITING) {
        //  Never taken: withdraw it
        for (s_ticket_t **p = &self->waiting; *p; p = &(*p)->next)
            if (*p == &ticket) {
                *p = ticket.next;
                self->waiting_count--;
                break;
            }
    }
    else
    while (ticket.state == s_TAKEN)     //  taken: the loop finishes it soon
        pthread_cond_wait (&self->done, &self->lock);
    int outcome = ticket.state == s_DONE ? ticket.rc : -1;
    pthread_mutex_unlock (&self->lock);
    return outcome;
}

void nd_inbox_post (nd_inbox_t *self, void *event)
{
    s_ticket_t *ticket = (s_ticket_t *) zmalloc (sizeof *ticket);
    ticket->events = zmalloc (self->event_size);
    memcpy (ticket->events, event, self->event_size);
    memset (event, 0, self->event_size);
    ticket->count = 1;
    ticket->detached = true;
    s_queue (self, ticket);
}

int nd_inbox_drain (nd_inbox_t *self, MDB_txn *txn, nd_inbox_apply_fn *apply, void *arg)
{
    pthread_mutex_lock (&self->lock);
    s_ticket_t *tickets = self->waiting, *ordered = NULL;
    self->waiting = NULL;
    self->waiting_count = 0;
    while (tickets) {                   //  oldest first, as they came
        s_ticket_t *next = tickets->next;
        tickets->next = ordered;
        tickets->state = s_TAKEN;
        ordered = tickets;
        tickets = next;
    }
    pthread_mutex_unlock (&self->lock);
    int rc = 0;
    s_ticket_t *last = NULL;
    for (s_ticket_t *t = ordered; t; t = t->next) {
        t->rc = 0;
        for (size_t i = 0; t->rc == 0 && i < t->count; i++)
            t->rc = apply (arg, txn, s_event (self, t, i));
        rc = t->rc ? -1 : rc;
        last = t;
    }
    if (last) {
        pthread_mutex_lock (&self->lock);
        last->next = self->taken;
        self->taken = ordered;
        pthread_mutex_unlock (&self->lock);
    }
    return rc;
}

void nd_inbox_committed (nd_inbox_t *self, int rc, bool changed)
{
    pthread_mutex_lock (&self->lock);
    if (rc == 0 && changed)
        self->version++;
    s_finish_taken (self, rc);
    pthread_mutex_unlock (&self->lock);
}

uint64_t nd_inbox_version (nd_inbox_t *self)
{
    pthread_mutex_lock (&self->lock);
    uint64_t version = self->closing ? 0 : self->version;
    pthread_mutex_unlock (&self->lock);
    return version;
}

uint64_t nd_inbox_wait (nd_inbox_t *self, uint64_t seen, int64_t timeout_ms)
{
    struct timespec until;
    clock_gettime (CLOCK_REALTIME, &until);
    until.tv_sec += timeout_ms / 1000;
    until.tv_nsec += (timeout_ms % 1000) * 1000000;
    if (until.tv_nsec >= 1000000000) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000;
    }
    pthread_mutex_lock (&self->lock);
    int rc = 0;
    while (self->version == seen && !self->closing && rc == 0)
        rc = pthread_cond_timedwait (&self->done, &self->lock, &until);
    uint64_t version = self->closing ? 0 : self->version;
    pthread_mutex_unlock (&self->lock);
    return version;
}

size_t nd_inbox_waiting (nd_inbox_t *self)
{
    pthread_mutex_lock (&self->lock);
    size_t count = self->waiting_count;
    pthread_mutex_unlock (&self->lock);
    return count;
}

/* ------------------------------------------------------------ self-test */

typedef struct {
    int value;                  //  apply fails on a negative one
    char *note;                 //  owned by a posted event
} s_test_event_t;

typedef struct {
    nd_inbox_t *inbox;
    s_test_event_t events [2];
    size_t count;
    int rc;
} s_test_request_t;

static void s_test_clear (void *event_)
{
    s_test_event_t *event = (s_test_event_t *) event_;
    free (event->note);
    event->note = NULL;
}

static int s_test_apply (void *arg, MDB_txn *txn, void *event_)
{
    (void) txn;
    zlist_t *applied = (zlist_t *) arg;
    s_test_event_t *event = (s_test_event_t *) event_;
    zlist_append (applied, (void *) (intptr_t) event->value);
    return event->value < 0 ? -1 : 0;
}

static void *s_test_submit (void *arg)
{
    s_test_request_t *request = (s_test_request_t *) arg;
    request->rc = nd_inbox_submit (request->inbox, request->events, request->count);
    return NULL;
}

static void s_test_wait_for (nd_inbox_t *inbox, size_t count)
{
    while (nd_inbox_waiting (inbox) < count)
        zclock_sleep (1);
}

void nd_inbox_test (bool verbose)
{
    if (verbose)
        printf (" * nd_inbox: ");
    nd_inbox_t *inbox = nd_inbox_new (NULL, sizeof (s_test_event_t), s_test_clear);
    zlist_t *applied = zlist_new ();
    assert (nd_inbox_version (inbox) == 1);

    //  Two requests in one transaction, oldest first; the one whose own
    //  event failed fails, the other commits
    s_test_request_t requests [2] = {
        { inbox, { { 1, NULL }, { 2, NULL } }, 2, 99 },
        { inbox, { { -3, NULL }, { 4, NULL } }, 2, 99 }
    };
    pthread_t threads [2];
    for (int i = 0; i < 2; i++) {
        pthread_create (&threads [i], NULL, s_test_submit, &requests [i]);
        s_test_wait_for (inbox, (size_t) i + 1);
    }
    assert (nd_inbox_drain (inbox, NULL, s_test_apply, applied) == -1);
    assert (nd_inbox_waiting (inbox) == 0);
    assert (zlist_size (applied) == 3);         //  4 never ran: -3 stopped its ticket
    assert ((intptr_t) zlist_pop (applied) == 1);
    assert ((intptr_t) zlist_pop (applied) == 2);
    assert ((intptr_t) zlist_pop (applied) == -3);
    nd_inbox_committed (inbox, 0, true);
    for (int i = 0; i < 2; i++)
        pthread_join (threads [i], NULL);
    assert (requests [0].rc == 0 && requests [1].rc == -1);
    assert (nd_inbox_version (inbox) == 2);

    //  A failed commit fails every request in it, and the version stays
    requests [0].rc = 99;
    pthread_create (&threads [0], NULL, s_test_submit, &requests [0]);
    s_test_wait_for (inbox, 1);
    assert (nd_inbox_drain (inbox, NULL, s_test_apply, applied) == 0);
    nd_inbox_committed (inbox, -1, true);
    pthread_join (threads [0], NULL);
    assert (requests [0].rc == -1 && nd_inbox_version (inbox) == 2);
    zlist_purge (applied);

    //  A posted event is the inbox's: applied, then freed with its note
    s_test_event_t posted = { 5, strdup ("note") };
    nd_inbox_post (inbox, &posted);
    assert (posted.note == NULL && nd_inbox_waiting (inbox) == 1);
    assert (nd_inbox_drain (inbox, NULL, s_test_apply, applied) == 0);
    nd_inbox_committed (inbox, 0, false);
    assert ((intptr_t) zlist_pop (applied) == 5);
    assert (nd_inbox_wait (inbox, 2, 10) == 2);             //  timed out

    //  Closing fails whoever waits, and whoever comes later at once
    requests [0].rc = 99;
    pthread_create (&threads [0], NULL, s_test_submit, &requests [0]);
    s_test_wait_for (inbox, 1);
    nd_inbox_close (inbox);
    pthread_join (threads [0], NULL);
    assert (requests [0].rc == -1 && nd_inbox_waiting (inbox) == 0);
    assert (nd_inbox_submit (inbox, requests [0].events, 1) == -1);
    assert (nd_inbox_version (inbox) == 0 && nd_inbox_wait (inbox, 2, 1000) == 0);

    //  A posted event nobody drained is freed with the inbox
    posted.note = strdup ("never applied");
    nd_inbox_post (inbox, &posted);
    nd_inbox_destroy (&inbox);
    nd_inbox_destroy (&inbox);
    assert (inbox == NULL);
    zlist_destroy (&applied);
    if (verbose)
        printf ("OK\n");
}
