/*  collector_queue - where intake threads wait for their events to commit.

    The collector may only say 200 once the events are in LMDB, and only the
    loop's thread writes LMDB. So an intake thread queues a ticket (one
    request's events), wakes the loop, and sleeps on a condition variable;
    the loop takes every waiting ticket into one write transaction and, after
    the commit, wakes them all. Concurrent requests thus share one commit
    (group commit), which is what makes fsync per commit affordable.

    Each ticket has a semaphore of its own that the loop posts once the
    outcome is known: a commit wakes exactly the requests it carried, and
    none of them queues for the queue's lock on the way out (a broadcast
    on one condition woke every waiting thread to fight for that lock, the
    ones still waiting too, and the replies left one at a time).

    A batch is not closed the moment the loop is free. The requests the
    last commit answered are most often back within a fraction of a
    commit (an SDK's next event on its kept-alive connection); taking the
    queue at once would leave them for the commit after, and the clients
    would settle into two halves, each waiting out two commits. So the
    loop first waits for as many tickets as were in play at the last
    commit (those it answered and those that waited meanwhile), for at
    most as long as that commit took and never past GATHER_MAX_MS: at
    worst a lone request waits that much longer; when they come, every
    commit carries them all (PostgreSQL's commit_delay, bounded by
    measure instead of by a setting). One request at a time never waits.

    The queue has its own eventfd for the loop to poll (the stage's
    source_fd), readable while tickets wait; it exists from the start, so
    the HTTP server can run before the loop does.
*/
#define _GNU_SOURCE             //  sem_clockwait: a deadline on the monotonic clock
#include <assert.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>
#include "collector.h"

#define GATHER_MAX_MS 2         //  the longest a batch is held open for more

#define s_IDLE 0                //  owned by its intake thread alone
#define s_WAITING 1             //  in the queue; may be withdrawn
#define s_TAKEN 2               //  in the loop's transaction
#define s_DONE 3                //  outcome known, back with its owner

struct _collector_ticket_t {
    collector_item_t *items;
    size_t size;
    size_t capacity;
    int state;                  //  guarded by the queue's lock once queued
    int rc;
    sem_t done;                 //  posted when state becomes s_DONE
    collector_ticket_t *next;
};

struct _collector_queue_t {
    int fd;                     //  eventfd: readable while tickets wait
    pthread_mutex_t lock;
    pthread_cond_t gathered;    //  the tickets the loop gathers for are in
    bool gathering;             //  the loop waits on gathered
    size_t expected;            //  tickets in play at the last commit
    int64_t taken_at;           //  monotonic us of the last take
    int64_t commit_took;        //  us from that take to its outcome
    int64_t hold_most;          //  us a batch is held open at most
    collector_ticket_t *head;
    collector_ticket_t *tail;
    size_t pending;
    bool closed;
};

/* --------------------------------------------------------------- ticket */

collector_ticket_t *collector_ticket_new (void)
{
    collector_ticket_t *self = (collector_ticket_t *) zmalloc (sizeof *self);
    sem_init (&self->done, 0, 0);
    return self;
}

void collector_ticket_destroy (collector_ticket_t **self_p)
{
    collector_ticket_t *self = *self_p;
    if (self) {
        assert (self->state != s_WAITING && self->state != s_TAKEN);
        for (size_t i = 0; i < self->size; i++)
            json_decref (self->items [i].body);
        free (self->items);
        sem_destroy (&self->done);
        free (self);
        *self_p = NULL;
    }
}

void collector_ticket_add (collector_ticket_t *self, const char *topic, json_t *body,
                           int64_t time)
{
    if (self->size == self->capacity) {
        self->capacity = self->capacity ? self->capacity * 2 : 8;
        self->items = (collector_item_t *) realloc (self->items,
                                                    self->capacity * sizeof *self->items);
        assert (self->items);
    }
    collector_item_t *item = &self->items [self->size++];
    snprintf (item->topic, sizeof item->topic, "%s", topic);
    item->body = body;
    item->time = time;
}

size_t collector_ticket_size (collector_ticket_t *self)
{
    return self->size;
}

collector_item_t *collector_ticket_item (collector_ticket_t *self, size_t index)
{
    return index < self->size ? &self->items [index] : NULL;
}

collector_ticket_t *collector_ticket_next (collector_ticket_t *self)
{
    return self->next;
}

collector_ticket_t *collector_ticket_join (collector_ticket_t *list, collector_ticket_t *more)
{
    if (!list)
        return more;
    collector_ticket_t *last = list;
    while (last->next)
        last = last->next;
    last->next = more;
    return list;
}

/* ---------------------------------------------------------------- queue */

collector_queue_t *collector_queue_new (void)
{
    collector_queue_t *self = (collector_queue_t *) zmalloc (sizeof *self);
    self->fd = eventfd (0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (self->fd < 0) {
        nd_log ("cannot create an eventfd: %s", strerror (errno));
        free (self);
        return NULL;
    }
    self->hold_most = GATHER_MAX_MS * 1000;
    pthread_mutex_init (&self->lock, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init (&attr);
    pthread_condattr_setclock (&attr, CLOCK_MONOTONIC);
    pthread_cond_init (&self->gathered, &attr);
    pthread_condattr_destroy (&attr);
    return self;
}

void collector_queue_destroy (collector_queue_t **self_p)
{
    collector_queue_t *self = *self_p;
    if (self) {
        collector_queue_close (self);
        close (self->fd);
        pthread_cond_destroy (&self->gathered);
        pthread_mutex_destroy (&self->lock);
        free (self);
        *self_p = NULL;
    }
}

static void s_unlink (collector_queue_t *self, collector_ticket_t *ticket)
{
    collector_ticket_t **link = &self->head, *previous = NULL;
    while (*link && *link != ticket) {
        previous = *link;
        link = &(*link)->next;
    }
    if (*link) {
        *link = ticket->next;
        if (self->tail == ticket)
            self->tail = previous;
        self->pending--;
    }
}

static int64_t s_now_us (void)
{
    struct timespec now;
    clock_gettime (CLOCK_MONOTONIC, &now);
    return (int64_t) now.tv_sec * 1000000 + now.tv_nsec / 1000;
}

static struct timespec s_deadline_us (int64_t timeout_us)
{
    int64_t at = s_now_us () + timeout_us;
    return (struct timespec) { .tv_sec = at / 1000000, .tv_nsec = (long) (at % 1000000) * 1000 };
}

static struct timespec s_deadline (int timeout_ms)
{
    return s_deadline_us ((int64_t) timeout_ms * 1000);
}

//  Waits for the ticket's outcome until deadline (0), or for good (NULL).
static int s_wait_done (collector_ticket_t *ticket, const struct timespec *deadline)
{
    while (true) {
        int rc = deadline ? sem_clockwait (&ticket->done, CLOCK_MONOTONIC, deadline)
                          : sem_wait (&ticket->done);
        if (rc == 0 || errno != EINTR)
            return rc;
    }
}

//  A ticket the loop has not taken by the deadline is withdrawn, so the
//  client hears 503 and retries instead of hanging; once taken, its
//  transaction is under way and the outcome is only a commit away.
int collector_queue_commit (collector_queue_t *self, collector_ticket_t *ticket, int timeout_ms)
{
    pthread_mutex_lock (&self->lock);
    if (self->closed) {
        pthread_mutex_unlock (&self->lock);
        return COLLECTOR_CLOSED;
    }
    ticket->state = s_WAITING;
    ticket->next = NULL;
    if (self->tail)
        self->tail->next = ticket;
    else {
        //  The first ticket into an empty queue wakes the loop; the rest
        //  ride along without a system call
        uint64_t one = 1;
        if (write (self->fd, &one, sizeof one) < 0)
            nd_log ("cannot wake the loop: %s", strerror (errno));
        self->head = ticket;
    }
    self->tail = ticket;
    self->pending++;
    if (self->gathering && self->pending >= self->expected)
        pthread_cond_signal (&self->gathered);
    pthread_mutex_unlock (&self->lock);

    struct timespec deadline = s_deadline (timeout_ms);
    if (s_wait_done (ticket, &deadline)) {
        pthread_mutex_lock (&self->lock);
        bool withdrawn = ticket->state == s_WAITING;
        if (withdrawn) {
            s_unlink (self, ticket);
            ticket->rc = COLLECTOR_TIMEOUT;
        }
        pthread_mutex_unlock (&self->lock);
        if (!withdrawn)
            s_wait_done (ticket, NULL);
    }
    ticket->state = s_IDLE;
    return ticket->rc;
}

int collector_queue_fd (collector_queue_t *self)
{
    return self->fd;
}

//  Holds the batch open until the tickets in play at the last commit are
//  back, or for as long as that commit took (at most GATHER_MAX_MS).
static void s_gather (collector_queue_t *self)
{
    if (self->expected < 2 || self->pending >= self->expected || self->closed)
        return;
    int64_t hold = self->commit_took < self->hold_most ? self->commit_took : self->hold_most;
    struct timespec deadline = s_deadline_us (hold);
    self->gathering = true;
    while (self->pending < self->expected && !self->closed
    &&     pthread_cond_timedwait (&self->gathered, &self->lock, &deadline) != ETIMEDOUT)
        ;
    self->gathering = false;
}

collector_ticket_t *collector_queue_take (collector_queue_t *self)
{
    pthread_mutex_lock (&self->lock);
    s_gather (self);
    uint64_t count;
    if (read (self->fd, &count, sizeof count) < 0 && errno != EAGAIN)
        nd_log ("cannot read the queue's eventfd: %s", strerror (errno));
    collector_ticket_t *tickets = self->head;
    for (collector_ticket_t *ticket = tickets; ticket; ticket = ticket->next)
        ticket->state = s_TAKEN;
    self->head = self->tail = NULL;
    self->pending = 0;
    self->taken_at = s_now_us ();
    pthread_mutex_unlock (&self->lock);
    return tickets;
}

//  Tells each ticket of a list its outcome. Once posted, a ticket is its
//  owner's again (and may be freed at once), so the next is read first.
static void s_finish (collector_ticket_t *tickets, int rc)
{
    collector_ticket_t *next;
    for (collector_ticket_t *ticket = tickets; ticket; ticket = next) {
        next = ticket->next;
        ticket->rc = rc;
        ticket->state = s_DONE;
        sem_post (&ticket->done);
    }
}

//  Taken tickets are the loop's alone until posted, so they are posted
//  without the lock; what the next batch gathers for is counted under it.
void collector_queue_finish (collector_queue_t *self, collector_ticket_t *tickets, int rc)
{
    size_t answered = 0;
    for (collector_ticket_t *ticket = tickets; ticket; ticket = ticket->next)
        answered++;
    pthread_mutex_lock (&self->lock);
    self->expected = answered + self->pending;
    self->commit_took = s_now_us () - self->taken_at;
    pthread_mutex_unlock (&self->lock);
    s_finish (tickets, rc == 0 ? COLLECTOR_COMMITTED : COLLECTOR_FAILED);
}

void collector_queue_close (collector_queue_t *self)
{
    pthread_mutex_lock (&self->lock);
    self->closed = true;
    pthread_cond_signal (&self->gathered);
    s_finish (self->head, COLLECTOR_CLOSED);
    self->head = self->tail = NULL;
    self->pending = 0;
    pthread_mutex_unlock (&self->lock);
}

size_t collector_queue_pending (collector_queue_t *self)
{
    pthread_mutex_lock (&self->lock);
    size_t pending = self->pending;
    pthread_mutex_unlock (&self->lock);
    return pending;
}

/* ------------------------------------------------------------ self-test */

typedef struct {
    collector_queue_t *queue;
    collector_ticket_t *ticket;
    int timeout_ms;
    int rc;
} s_client_t;

static void *s_client (void *arg)
{
    s_client_t *client = (s_client_t *) arg;
    client->rc = collector_queue_commit (client->queue, client->ticket, client->timeout_ms);
    return NULL;
}

//  A client that starts once the loop holds the batch open for it.
typedef struct {
    s_client_t *client;
    pthread_t *thread;
} s_late_t;

static void *s_late (void *arg)
{
    s_late_t *late = (s_late_t *) arg;
    collector_queue_t *queue = late->client->queue;
    for (int tries = 0; tries < 10000; tries++) {
        pthread_mutex_lock (&queue->lock);
        bool gathering = queue->gathering;
        pthread_mutex_unlock (&queue->lock);
        if (gathering)
            break;
        zclock_sleep (1);
    }
    pthread_create (late->thread, NULL, s_client, late->client);
    return NULL;
}

//  As if the last commit had taken commit_took us, holding at most most us.
static void s_set_hold (collector_queue_t *queue, int64_t commit_took, int64_t most)
{
    pthread_mutex_lock (&queue->lock);
    queue->commit_took = commit_took;
    queue->hold_most = most;
    pthread_mutex_unlock (&queue->lock);
}

static void s_wait_pending (collector_queue_t *queue, size_t count)
{
    while (collector_queue_pending (queue) < count)
        zclock_sleep (1);
}

void collector_queue_test (bool verbose)
{
    if (verbose)
        printf (" * collector_queue: ");
    collector_queue_t *queue = collector_queue_new ();
    s_client_t clients [2] = {
        { queue, collector_ticket_new (), 10000, 99 },
        { queue, collector_ticket_new (), 10000, 99 }
    };
    collector_ticket_add (clients [0].ticket, "event.page", json_object (), 0);
    pthread_t threads [2];
    for (int i = 0; i < 2; i++)
        pthread_create (&threads [i], NULL, s_client, &clients [i]);
    s_wait_pending (queue, 2);

    //  Both requests share one transaction
    struct pollfd item = { collector_queue_fd (queue), POLLIN, 0 };
    assert (poll (&item, 1, 0) == 1);
    collector_ticket_t *tickets = collector_queue_take (queue);
    assert (tickets && collector_ticket_next (tickets));
    assert (!collector_ticket_next (collector_ticket_next (tickets)));
    assert (poll (&item, 1, 0) == 0);
    collector_queue_finish (queue, tickets, 0);
    for (int i = 0; i < 2; i++) {
        pthread_join (threads [i], NULL);
        assert (clients [i].rc == COLLECTOR_COMMITTED);
        collector_ticket_destroy (&clients [i].ticket);
    }

    //  Nobody takes it: withdrawn after the timeout
    clients [0].ticket = collector_ticket_new ();
    clients [0].timeout_ms = 20;
    s_client (&clients [0]);
    assert (clients [0].rc == COLLECTOR_TIMEOUT && collector_queue_pending (queue) == 0);
    collector_ticket_destroy (&clients [0].ticket);

    //  Two requests answered by one commit: the next batch waits for both
    //  to be back, though the second comes while the loop already waits.
    //  (The holds are made long here, so that the outcome is not a race.)
    clients [0].timeout_ms = clients [1].timeout_ms = 60000;
    for (int i = 0; i < 2; i++) {
        clients [i].ticket = collector_ticket_new ();
        pthread_create (&threads [i], NULL, s_client, &clients [i]);
    }
    s_wait_pending (queue, 2);
    tickets = collector_queue_take (queue);
    collector_queue_finish (queue, tickets, 0);
    for (int i = 0; i < 2; i++) {
        pthread_join (threads [i], NULL);
        collector_ticket_destroy (&clients [i].ticket);
        clients [i].ticket = collector_ticket_new ();
    }
    s_set_hold (queue, 60000000, 60000000);
    pthread_create (&threads [0], NULL, s_client, &clients [0]);
    s_wait_pending (queue, 1);
    s_late_t late = { &clients [1], &threads [1] };
    pthread_t starter;
    pthread_create (&starter, NULL, s_late, &late);
    tickets = collector_queue_take (queue);
    assert (tickets && collector_ticket_next (tickets));
    pthread_join (starter, NULL);
    collector_queue_finish (queue, tickets, 0);
    for (int i = 0; i < 2; i++) {
        pthread_join (threads [i], NULL);
        assert (clients [i].rc == COLLECTOR_COMMITTED);
        collector_ticket_destroy (&clients [i].ticket);
    }
    //  ... but not for one that does not come back: the hold, no more
    s_set_hold (queue, 60000000, 20000);
    clients [0].ticket = collector_ticket_new ();
    pthread_create (&threads [0], NULL, s_client, &clients [0]);
    s_wait_pending (queue, 1);
    int64_t started = zclock_usecs ();
    tickets = collector_queue_take (queue);
    int64_t held = zclock_usecs () - started;
    assert (tickets && !collector_ticket_next (tickets) && held >= 20000 && held < 30000000);
    collector_queue_finish (queue, tickets, 0);
    pthread_join (threads [0], NULL);
    collector_ticket_destroy (&clients [0].ticket);
    //  and one request at a time is never held
    s_set_hold (queue, 60000000, 60000000);
    clients [0].ticket = collector_ticket_new ();
    pthread_create (&threads [0], NULL, s_client, &clients [0]);
    s_wait_pending (queue, 1);
    started = zclock_usecs ();
    tickets = collector_queue_take (queue);
    held = zclock_usecs () - started;
    collector_queue_finish (queue, tickets, 0);
    pthread_join (threads [0], NULL);
    collector_ticket_destroy (&clients [0].ticket);
    assert (held < 30000000);

    //  Stopping fails whoever still waits
    clients [0].ticket = collector_ticket_new ();
    clients [0].timeout_ms = 10000;
    pthread_create (&threads [0], NULL, s_client, &clients [0]);
    s_wait_pending (queue, 1);
    collector_queue_close (queue);
    pthread_join (threads [0], NULL);
    assert (clients [0].rc == COLLECTOR_CLOSED);
    assert (collector_queue_commit (queue, clients [0].ticket, 10) == COLLECTOR_CLOSED);
    collector_ticket_destroy (&clients [0].ticket);
    collector_queue_destroy (&queue);
    collector_queue_destroy (&queue);
    if (verbose)
        printf ("OK\n");
}
