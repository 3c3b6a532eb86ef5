/*  journeys.h - journeys as data: conf/journeys, one .zpl file per
    journey, checked at start.

    Layer: rules; journeys.c calls steps.c, loader.c, cond.c and
    templates.c, and the base.                                           */
#ifndef JOURNEYS_H_INCLUDED
#define JOURNEYS_H_INCLUDED

#include "base.h"
#include "templates.h"

/*  Loads every *.zpl in dir; checks each send step's templates. On error
    returns NULL and sets *error: "<file>:<line>: <reason>".             */
journeys_t *journeys_load (const char *dir, templates_t *templates, char **error);
void journeys_destroy (journeys_t **self_p);
size_t journeys_size (journeys_t *self);
journey_t *journeys_get (journeys_t *self, size_t index);
journey_t *journeys_find (journeys_t *self, const char *name);

#endif
