/*  funnel.h - nd-report --funnel: where buyers leave, from the segmenter's
    daily funnel counts (pipeline/segmenter/funnel.c writes them).        */
#ifndef FUNNEL_H_INCLUDED
#define FUNNEL_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <jansson.h>

/*  The funnel of the days from_day to to_day ("YYYY-MM-DD", inclusive;
    NULL: from the first / to the last day counted), read-only from the
    segmenter's LMDB directories dirs (count of them: the partitions of a
    partitioned segmenter, whose counts add up to one segmenter's):
      {"steps": ["product", "cart", "checkout", "payment", "order"],
       "from", "to", "total": {"reached": [5], "dropoff": [4]},
       "by_day", "by_segment", "by_device", "by_source", "by_referrer":
           [{"key", "reached", "dropoff"}...],
       "left_in_cart": [{"product_id", "name", "count"}...]}
    reached[i]: sessions whose furthest step was step i or later;
    dropoff[i] = 1 - reached[i+1] / reached[i], null when reached[i] is 0.
    Rows run from the most sessions at the first step down. Over more
    than one partition, "capped": [field...] names the dimensions with an
    "other" row: each partition keeps its own funnel-keys names a day, so
    which names were kept apart from "other" is not one segmenter's (the
    totals are). NULL with a one-line reason in err on a bad day or
    unreadable state.                                                     */
json_t *funnel_report (const char *const *dirs, size_t count, const char *from_day,
                       const char *to_day, char *err, size_t errlen);

/*  The report as a plain text table on stdout.                           */
void funnel_print (const json_t *funnel);

/*  nd-report --funnel: prints funnel (taking it), as {"funnel": ...}
    with json, else as the table; returns the exit status, 0.            */
int funnel_print_as (json_t *funnel, bool json);

#endif
