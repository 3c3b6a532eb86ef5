/*  journey.c - what the scheduler asks of a journey once journeys.c has
    read it: did the person order since it began, does this topic end it,
    which variant of its split is a person's.

    Layer: rules: calls only the base.                                   */
#include "journey.h"

bool journey_ordered (const journey_t *journey, int64_t last_order, int64_t entered)
{
    if (!last_order)
        return false;
    return journey->post_order ? last_order > entered : last_order >= entered;
}

bool journey_exits_on (const journey_t *journey, const char *topic)
{
    for (size_t i = 0; journey->exits && journey->exits [i]; i++)
        if (streq (journey->exits [i], topic))
            return true;
    return false;
}

//  FNV-1a: the same person lands in the same variant on every machine
//  and after every restart, with no state to keep.
static uint64_t s_hash (const char *journey, const char *user)
{
    uint64_t hash = 14695981039346656037ULL;
    for (const char *p = journey; *p; p++)
        hash = (hash ^ (uint8_t) *p) * 1099511628211ULL;
    hash = (hash ^ 0xff) * 1099511628211ULL;
    for (const char *p = user; *p; p++)
        hash = (hash ^ (uint8_t) *p) * 1099511628211ULL;
    return hash;
}

const char *journey_assign (const journey_t *journey, const char *user)
{
    if (journey->split < 0)
        return "";
    const step_t *split = &journey->steps [journey->split];
    uint64_t hash = s_hash (journey->name, user);
    if ((int64_t) (hash % 10000) < split->holdout)
        return "holdout";
    int64_t total = 0;
    for (size_t i = 0; i < split->variant_count; i++)
        total += split->variants [i].weight;
    int64_t pick = (int64_t) ((hash / 10000) % (uint64_t) total);
    for (size_t i = 0; i < split->variant_count; i++) {
        if (pick < split->variants [i].weight)
            return split->variants [i].name;
        pick -= split->variants [i].weight;
    }
    return split->variants [0].name;
}

const variant_t *journey_variant (const journey_t *journey, const char *name)
{
    if (journey->split < 0)
        return NULL;
    const step_t *split = &journey->steps [journey->split];
    for (size_t i = 0; i < split->variant_count; i++)
        if (streq (split->variants [i].name, name))
            return &split->variants [i];
    return NULL;
}
