/*  journey.h - what the scheduler asks of a journey once it is read.

    Layer: rules; journey.c calls only the base.                        */
#ifndef JOURNEY_H_INCLUDED
#define JOURNEY_H_INCLUDED

#include "base.h"

/*  Whether the person ordered after the instance began: at or after its
    start, or for a post-order journey (started by the order) after it.  */
bool journey_ordered (const journey_t *journey, int64_t last_order, int64_t entered);
/*  True if topic is an exit topic of journey.                            */
bool journey_exits_on (const journey_t *journey, const char *topic);
/*  The variant (or "holdout") of user in journey; "" without a split.    */
const char *journey_assign (const journey_t *journey, const char *user);
const variant_t *journey_variant (const journey_t *journey, const char *name);

#endif
