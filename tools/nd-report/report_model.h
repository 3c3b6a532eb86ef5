/*  report_model - the one model of a report: the scheduler's counters for
    a date range, as the JSON object nd-report --json prints. The text and
    HTML renderers (report_text.c, report_html.c) read only this object,
    so the three outputs cannot disagree.

    Layer: reads the scheduler's LMDB counters (attribution.c's keys);
    calls nd_stats for the A/B figures.                                  */
#ifndef REPORT_MODEL_H_INCLUDED
#define REPORT_MODEL_H_INCLUDED

#include <stdbool.h>
#include <stdint.h>
#include <lmdb.h>
#include <jansson.h>

/*  "YYYY-MM-DD" to days since 1970-01-01: 0, or -1 if not such a day.    */
int report_day_parse (const char *text, int64_t *day);
/*  Day number to "YYYY-MM-DD" into buf (at least 11 bytes).             */
const char *report_day_format (int64_t day, char *buf);

/*  The model of counters (the scheduler's "counters" database, in count
    states: txns [i] and counters [i], one per partition of a partitioned
    scheduler, each counter summed over them) from day from to day to,
    both included; INT64_MIN / INT64_MAX for open ends. With both open
    the totals are the scheduler's own; with a range they are summed from
    the daily counters. Never NULL.                                       */
json_t *report_model (size_t count, MDB_txn *const *txns, const MDB_dbi *counters,
                      int64_t from, int64_t to);

/*  The text renderer: the table nd-report prints (steps: a line per step
    and channel too).                                                     */
void report_text (FILE *out, const json_t *model, bool steps);
/*  The HTML renderer: one self-contained page (inline SVG, no scripts,
    nothing fetched). Returns a string the caller frees.                  */
char *report_html (const json_t *model);

#endif
