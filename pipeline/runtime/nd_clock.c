/*  nd_clock - "now" for a stage: the wall clock, or event time that only
    moves forward as event timestamps and tick messages drive it.        */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include "nd.h"

struct _nd_clock_t {
    bool event_time;
    int64_t now;                //  event mode: the latest time seen
};

nd_clock_t *nd_clock_new (bool event_time)
{
    nd_clock_t *self = calloc (1, sizeof *self);
    assert (self);
    self->event_time = event_time;
    return self;
}

void nd_clock_destroy (nd_clock_t **self_p)
{
    if (*self_p) {
        free (*self_p);
        *self_p = NULL;
    }
}

int64_t nd_clock_now (nd_clock_t *self)
{
    return self->event_time ? self->now : nd_wall_ms ();
}

bool nd_clock_is_event (nd_clock_t *self)
{
    return self->event_time;
}

void nd_clock_advance (nd_clock_t *self, int64_t ms)
{
    if (self->event_time && ms > self->now)
        self->now = ms;
}

void nd_clock_test (bool verbose)
{
    if (verbose)
        printf (" * nd_clock: ");
    nd_clock_t *clock = nd_clock_new (true);
    assert (nd_clock_now (clock) == 0);
    nd_clock_advance (clock, 5000);
    nd_clock_advance (clock, 1000);         //  time never runs backwards
    assert (nd_clock_now (clock) == 5000);
    nd_clock_destroy (&clock);
    nd_clock_destroy (&clock);
    assert (clock == NULL);
    clock = nd_clock_new (false);
    nd_clock_advance (clock, 5000);
    assert (nd_clock_now (clock) > 1700000000000LL);
    nd_clock_destroy (&clock);
    if (verbose)
        printf ("OK\n");
}
