/*  chat_inbox - other threads ask, the loop applies, the commit answers.

    A shopper's message must be on disk before the widget hears 200, and
    an operator's reply before the channel moves past it (Telegram's
    update offset). So a request thread queues its events as a ticket,
    wakes the loop and waits; the loop applies every waiting ticket in its
    transaction and, after the commit, wakes them with the outcome. The
    same lock and condition carry the transcripts' version, which long
    polls and event streams wait on.                                     */
#define _GNU_SOURCE
#include <assert.h>
#include <pthread.h>
#include <time.h>
#include "chat.h"

#define s_WAIT_MS 20000

typedef struct _s_ticket_t {
    chat_event_t *events;
    size_t count;
    int state;                  //  0 waiting, 1 taken by the loop, 2 done
    int rc;
    bool detached;              //  posted: nobody waits, the inbox frees it
    struct _s_ticket_t *next;
} s_ticket_t;

struct _chat_inbox_t {
    nd_stage_t *stage;
    pthread_mutex_t lock;
    pthread_cond_t done;        //  tickets finished, or the version moved
    s_ticket_t *waiting;        //  newest first
    s_ticket_t *taken;
    uint64_t version;
    bool closing;
};

void chat_event_clear (chat_event_t *event)
{
    char **fields [] = { &event->conversation, &event->token, &event->anonymous_id,
                         &event->user_id, &event->text, &event->email, &event->client_id,
                         &event->channel, &event->operator, &event->operator_name,
                         &event->answer };
    for (size_t i = 0; i < sizeof fields / sizeof *fields; i++) {
        free (*fields [i]);
        *fields [i] = NULL;
    }
}

char *chat_strdup (const char *text)
{
    return text ? strdup (text) : NULL;
}

chat_inbox_t *chat_inbox_new (nd_stage_t *stage)
{
    chat_inbox_t *self = (chat_inbox_t *) zmalloc (sizeof *self);
    self->stage = stage;
    self->version = 1;
    pthread_mutex_init (&self->lock, NULL);
    pthread_cond_init (&self->done, NULL);
    return self;
}

static void s_ticket_free (s_ticket_t *ticket)
{
    for (size_t i = 0; i < ticket->count; i++)
        chat_event_clear (&ticket->events [i]);
    free (ticket->events);
    free (ticket);
}

//  Wakes every waiting request with rc (the lock is held).
static void s_finish_taken (chat_inbox_t *self, int rc)
{
    for (s_ticket_t *t = self->taken; t; ) {
        s_ticket_t *next = t->next;
        t->rc = rc ? rc : t->rc;
        t->state = 2;
        t->next = NULL;
        if (t->detached)
            s_ticket_free (t);
        t = next;
    }
    self->taken = NULL;
    pthread_cond_broadcast (&self->done);
}

void chat_inbox_close (chat_inbox_t *self)
{
    pthread_mutex_lock (&self->lock);
    self->closing = true;
    s_finish_taken (self, -1);
    pthread_mutex_unlock (&self->lock);
}

void chat_inbox_destroy (chat_inbox_t **self_p)
{
    chat_inbox_t *self = *self_p;
    if (!self)
        return;
    chat_inbox_close (self);
    while (self->waiting) {
        s_ticket_t *next = self->waiting->next;
        if (self->waiting->detached)
            s_ticket_free (self->waiting);
        self->waiting = next;
    }
    pthread_cond_destroy (&self->done);
    pthread_mutex_destroy (&self->lock);
    free (self);
    *self_p = NULL;
}

static void s_queue (chat_inbox_t *self, s_ticket_t *ticket)
{
    pthread_mutex_lock (&self->lock);
    ticket->next = self->waiting;
    self->waiting = ticket;
    pthread_mutex_unlock (&self->lock);
    nd_stage_wake (self->stage);
}

int chat_inbox_submit (chat_inbox_t *self, chat_event_t *events, size_t count)
{
    s_ticket_t ticket = { events, count, 0, 0, false, NULL };
    struct timespec until;
    clock_gettime (CLOCK_REALTIME, &until);
    until.tv_sec += s_WAIT_MS / 1000;
    pthread_mutex_lock (&self->lock);
    if (self->closing) {
        pthread_mutex_unlock (&self->lock);
        return -1;
    }
    pthread_mutex_unlock (&self->lock);
    s_queue (self, &ticket);
    pthread_mutex_lock (&self->lock);
    int rc = 0;
    while (ticket.state != 2 && rc == 0 && !self->closing)
        rc = pthread_cond_timedwait (&self->done, &self->lock, &until);
    if (ticket.state == 0) {
        //  Never taken: withdraw it
        for (s_ticket_t **p = &self->waiting; *p; p = &(*p)->next)
            if (*p == &ticket) {
                *p = ticket.next;
                break;
            }
    }
    else
    while (ticket.state == 1)           //  taken: the loop finishes it soon
        pthread_cond_wait (&self->done, &self->lock);
    int outcome = ticket.state == 2 ? ticket.rc : -1;
    pthread_mutex_unlock (&self->lock);
    return outcome;
}

void chat_inbox_post (chat_inbox_t *self, chat_event_t *event)
{
    s_ticket_t *ticket = (s_ticket_t *) zmalloc (sizeof *ticket);
    ticket->events = (chat_event_t *) zmalloc (sizeof *event);
    ticket->events [0] = *event;
    memset (event, 0, sizeof *event);
    ticket->count = 1;
    ticket->detached = true;
    s_queue (self, ticket);
}

int chat_inbox_drain (chat_inbox_t *self, MDB_txn *txn, chat_apply_fn *apply, void *arg)
{
    pthread_mutex_lock (&self->lock);
    s_ticket_t *tickets = self->waiting, *ordered = NULL;
    self->waiting = NULL;
    while (tickets) {                   //  oldest first, as they came
        s_ticket_t *next = tickets->next;
        tickets->next = ordered;
        tickets->state = 1;
        ordered = tickets;
        tickets = next;
    }
    pthread_mutex_unlock (&self->lock);
    int rc = 0;
    s_ticket_t *last = NULL;
    for (s_ticket_t *t = ordered; t; t = t->next) {
        t->rc = 0;
        for (size_t i = 0; t->rc == 0 && i < t->count; i++)
            t->rc = apply (arg, txn, &t->events [i]);
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

void chat_inbox_committed (chat_inbox_t *self, int rc, bool fresh)
{
    pthread_mutex_lock (&self->lock);
    if (rc == 0 && fresh)
        self->version++;
    s_finish_taken (self, rc);
    pthread_mutex_unlock (&self->lock);
}

uint64_t chat_inbox_version (chat_inbox_t *self)
{
    pthread_mutex_lock (&self->lock);
    uint64_t version = self->closing ? 0 : self->version;
    pthread_mutex_unlock (&self->lock);
    return version;
}

uint64_t chat_inbox_wait (chat_inbox_t *self, uint64_t seen, int64_t timeout_ms)
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
