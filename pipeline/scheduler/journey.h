/*  journey.h - journeys as data: conf/journeys, one .zpl file per
    journey, checked at start.

    Layer: rules; journey.c calls cond.c and templates.c, and the base.   */
#ifndef JOURNEY_H_INCLUDED
#define JOURNEY_H_INCLUDED

#include "base.h"
#include "cond.h"
#include "templates.h"

/*  Whether the person ordered after the instance began: at or after its
    start, or for a post-order journey (started by the order) after it.  */
bool journey_ordered (const journey_t *journey, int64_t last_order, int64_t entered);

/*  Loads every *.zpl in dir; checks each send step's templates. On error
    returns NULL and sets *error: "<file>:<line>: <reason>".             */
journeys_t *journeys_load (const char *dir, templates_t *templates, char **error);
void journeys_destroy (journeys_t **self_p);
size_t journeys_size (journeys_t *self);
journey_t *journeys_get (journeys_t *self, size_t index);
journey_t *journeys_find (journeys_t *self, const char *name);
/*  True if topic is an exit topic of journey.                            */
bool journey_exits_on (const journey_t *journey, const char *topic);
/*  The variant (or "holdout") of user in journey; "" without a split.    */
const char *journey_assign (const journey_t *journey, const char *user);
const variant_t *journey_variant (const journey_t *journey, const char *name);

#endif
