/*  collector_stdin - Segment events as JSON lines on stdin (--stdin).

    For replaying an export or a test data set: one event object a line,
    with its "type", checked like an HTTP event; {"type":"tick","time":...}
    moves event time. A thread reads whatever has arrived, commits those
    lines as one ticket through the same queue the HTTP threads use, and
    only then reads on, so a large file is held on disk, not in memory.
    Bad lines are logged with their number and skipped.
*/
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "collector.h"

#define READ_SIZE 65536
#define LOGGED_LINES_MAX 100        //  bad lines logged one by one, then counted
#define RETRY_MS 1000               //  after a failed commit (state full?)

struct _collector_stdin_t {
    int fd;
    int stop [2];               //  a pipe: readable when we must stop
    pthread_t thread;
    bool started;
    const collector_limits_t *limits;
    collector_queue_t *queue;
    collector_counters_t *counters;
    char *buffer;               //  the start of a line not yet complete
    size_t size;
    size_t capacity;
    bool skipping;              //  inside a line too long to keep
    uint64_t lines, accepted, rejected;
};

static void s_reject (collector_stdin_t *self, uint64_t line, const char *reason)
{
    self->rejected++;
    atomic_fetch_add (&self->counters->rejected, 1);
    if (self->rejected <= LOGGED_LINES_MAX)
        nd_log ("stdin: line %" PRIu64 ": %s%s", line, reason,
                self->rejected == LOGGED_LINES_MAX ? " (further bad lines only counted)" : "");
}

static void s_line (collector_stdin_t *self, const char *text, size_t size,
                    collector_ticket_t *ticket)
{
    self->lines++;
    while (size && strchr (" \t\r", text [size - 1]))
        size--;
    if (size == 0)
        return;
    json_error_t error;
    json_t *event = json_loadb (text, size, 0, &error);
    char reason [COLLECTOR_REASON_MAX], topic [32];
    int64_t time;
    collector_envelope_t envelope = { .limits = self->limits, .received = nd_wall_ms () };
    //  jansson's text quotes the input, which may hold contact details
    if (!event)
        snprintf (reason, sizeof reason, "malformed JSON at column %d", error.column);
    else
    if (streq (json_string_value (json_object_get (event, "type")) ?: "", "tick")) {
        if (!self->limits->event_time)
            snprintf (reason, sizeof reason, "ticks need the event-time clock (--clock event)");
        else
        if (nd_time_parse (json_string_value (json_object_get (event, "time")) ?: "", &time))
            snprintf (reason, sizeof reason, "tick needs \"time\", an ISO 8601 time");
        else {
            collector_ticket_add (ticket, "tick", collector_tick_new (time), time);
            json_decref (event);
            return;
        }
    }
    else
    if (collector_event_normalize (event, NULL, &envelope, topic, sizeof topic, &time,
                                   reason) == 0) {
        collector_ticket_add (ticket, topic, event, time);
        return;
    }
    json_decref (event);
    s_reject (self, self->lines, reason);
}

//  Hands every complete line in the buffer to s_line and keeps the rest.
static void s_split (collector_stdin_t *self, collector_ticket_t *ticket)
{
    char *start = self->buffer, *end = self->buffer + self->size, *newline;
    while ((newline = (char *) memchr (start, '\n', (size_t) (end - start)))) {
        if (self->skipping)
            self->lines++;
        else
            s_line (self, start, (size_t) (newline - start), ticket);
        self->skipping = false;
        start = newline + 1;
    }
    self->size = (size_t) (end - start);
    memmove (self->buffer, start, self->size);
    if (self->size > self->limits->max_event && !self->skipping) {
        char reason [COLLECTOR_REASON_MAX];
        snprintf (reason, sizeof reason, "line longer than max-event %zu bytes, skipped",
                  self->limits->max_event);
        s_reject (self, self->lines + 1, reason);
        self->skipping = true;  //  until its newline, which counts the line
    }
    if (self->skipping)
        self->size = 0;
}

//  Waits for input or for the stop pipe: bytes read, 0 at end of input,
//  -1 when stopping or on a read error.
static ssize_t s_read (collector_stdin_t *self)
{
    while (true) {
        struct pollfd items [2] = { { self->fd, POLLIN, 0 }, { self->stop [0], POLLIN, 0 } };
        if (poll (items, 2, -1) < 0 && errno != EINTR)
            return -1;
        if (items [1].revents)
            return -1;
        if (!items [0].revents)
            continue;
        ssize_t got = read (self->fd, self->buffer + self->size, self->capacity - self->size);
        if (got >= 0)
            return got;
        if (errno != EINTR && errno != EAGAIN) {
            nd_log ("stdin: %s", strerror (errno));
            return -1;
        }
    }
}

static bool s_stopping (collector_stdin_t *self, int wait_ms)
{
    struct pollfd item = { self->stop [0], POLLIN, 0 };
    return poll (&item, 1, wait_ms) > 0;
}

//  Commits the ticket; a failure is retried, since lines cannot be re-read.
static int s_commit (collector_stdin_t *self, collector_ticket_t *ticket)
{
    size_t count = collector_ticket_size (ticket);
    for (bool warned = false; count; warned = true) {
        int rc = collector_queue_commit (self->queue, ticket, 20000);
        if (rc == COLLECTOR_COMMITTED)
            break;
        if (rc == COLLECTOR_CLOSED || s_stopping (self, RETRY_MS))
            return -1;
        if (!warned)
            nd_log ("stdin: could not store lines up to %" PRIu64 ", retrying", self->lines);
    }
    self->accepted += count;
    return 0;
}

static void *s_reader (void *arg)
{
    collector_stdin_t *self = (collector_stdin_t *) arg;
    ssize_t got;
    int rc = 0;
    while (rc == 0 && (got = s_read (self)) != 0) {
        if (got < 0) {
            rc = -1;
            break;
        }
        collector_ticket_t *ticket = collector_ticket_new ();
        self->size += (size_t) got;
        s_split (self, ticket);
        rc = s_commit (self, ticket);
        collector_ticket_destroy (&ticket);
    }
    if (rc == 0) {              //  end of input: the last line needs no newline
        collector_ticket_t *ticket = collector_ticket_new ();
        if (self->size && !self->skipping)
            s_line (self, self->buffer, self->size, ticket);
        rc = s_commit (self, ticket);
        collector_ticket_destroy (&ticket);
    }
    nd_log ("stdin: %s%" PRIu64 " lines, %" PRIu64 " accepted, %" PRIu64 " rejected",
            rc ? "stopped after " : "", self->lines, self->accepted, self->rejected);
    return NULL;
}

collector_stdin_t *collector_stdin_new (int fd, const collector_limits_t *limits,
                                        collector_queue_t *queue,
                                        collector_counters_t *counters)
{
    collector_stdin_t *self = (collector_stdin_t *) zmalloc (sizeof *self);
    self->fd = fd;
    self->limits = limits;
    self->queue = queue;
    self->counters = counters;
    self->capacity = limits->max_event + 1 + READ_SIZE;
    self->buffer = (char *) malloc (self->capacity);
    if (!self->buffer || pipe (self->stop)
    ||  pthread_create (&self->thread, NULL, s_reader, self)) {
        nd_log ("stdin: cannot start the reader: %s", strerror (errno));
        collector_stdin_destroy (&self);
        return NULL;
    }
    self->started = true;
    return self;
}

//  The queue must be closed first, so a reader waiting on a commit wakes.
void collector_stdin_destroy (collector_stdin_t **self_p)
{
    collector_stdin_t *self = *self_p;
    if (self) {
        if (self->started) {
            if (write (self->stop [1], "s", 1) < 0)
                nd_log ("stdin: cannot stop the reader: %s", strerror (errno));
            pthread_join (self->thread, NULL);
        }
        if (self->stop [0] > 0) {
            close (self->stop [0]);
            close (self->stop [1]);
        }
        free (self->buffer);
        free (self);
        *self_p = NULL;
    }
}
