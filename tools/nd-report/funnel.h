/*  funnel - the shop's checkout funnel for a date range (the
    sessionizer's steps reached), as nd-report shows it beside the
    journeys:

    {"steps": [5 names], "total": {"reached": [5 ints], "dropoff": [4
    fractions or null]}, "by_day": [{"key", "reached", "dropoff"}],
    "by_segment", "by_device", "by_source", "by_referrer": [...],
    "left_in_cart": [{"product_id", "name", "count"}]}

    state_dir is the pipeline's state directory (the one holding each
    stage's); from and to are "YYYY-MM-DD" or NULL for open. Returns NULL
    when there is no funnel to show (err says why if it is an error).     */
#ifndef FUNNEL_H_INCLUDED
#define FUNNEL_H_INCLUDED

#include <stddef.h>
#include <jansson.h>

json_t *funnel_report (const char *state_dir, const char *from, const char *to,
                       char *err, size_t errlen);

#endif
