/*  report_model.c - the scheduler's counters as one report object (see
    report_model.h). Shape, for --json and the renderers:

    {"from", "to"          days or null (open),
     "totals"              the stage's own totals (sent, conversions, ...),
     "journeys": [{"name",
        "variants": [{"name", "entered", "sent", "held", "delivered",
                      "clicked", "failed", "converted", "orders",
                      "revenue", "conv_rate", "revenue_per_entered",
                      "vs_holdout": {"diff", "ci": [lo, hi], "p",
                                     "significant"} or null}],
        "steps": [{"step", "variant", "channel", "sent", "delivered",
                   "clicked", "failed", "attributed", "attributed_revenue",
                   "counts": {every metric, deferred:REASON, ...}}],
        "daily": [{"day", "entered", "sent", "delivered", "clicked",
                   "converted", "revenue"}],
        "lost_to": [{"step", "to", "deferred", "skipped"}]}],  what the
                   caps gave another journey: this journey's step was
                   deferred or skipped behind a message of journey "to"
                   (the counters cap-deferred-behind:J, cap-skipped-behind:J)
     "counters": {journey: {variant: {"group": {...}, "steps": {step:
                  {channel: {...}}}}}}   every counter as read}

    Revenue in the shop's currency units (counters keep cents).

    Every counter is a sum of increments (counters.c bumps, never sets),
    and a partitioned scheduler counts each person's in their partition,
    so the partitions' counters add up to one scheduler's; the model reads
    them one after another into the same sums.                            */
#include <czmq.h>
#include "nd.h"
#include "nd_stats.h"
#include "report_model.h"

#define DAY_MS 86400000LL

int report_day_parse (const char *text, int64_t *day)
{
    char iso [32];
    int64_t ms;
    unsigned y, m, d;
    int used = 0;
    if (!text || strlen (text) != 10 || sscanf (text, "%4u-%2u-%2u%n", &y, &m, &d, &used) != 3
    ||  used != 10)
        return -1;
    snprintf (iso, sizeof iso, "%sT00:00:00Z", text);
    if (nd_time_parse (iso, &ms))
        return -1;
    *day = ms / DAY_MS;
    return 0;
}

const char *report_day_format (int64_t day, char *buf)
{
    char stamp [32];
    nd_time_format (day * DAY_MS, stamp);
    memcpy (buf, stamp, 10);
    buf [10] = 0;
    return buf;
}

/* ------------------------------------------------------------- read -- */

static json_t *s_child (json_t *parent, const char *name)
{
    json_t *child = json_object_get (parent, name);
    if (!child)
        json_object_set_new (parent, name, child = json_object ());
    return child;
}

static void s_add (json_t *object, const char *metric, uint64_t value)
{
    json_int_t before = json_integer_value (json_object_get (object, metric));
    json_object_set_new (object, metric, json_integer (before + (json_int_t) value));
}

static uint64_t s_get (const json_t *object, const char *metric)
{
    return (uint64_t) json_integer_value (json_object_get (object, metric));
}

//  One counter into a variant's {"group", "steps"}: a step's sent,
//  delivered... also sum into the group; its deferrals and skips do not.
static void s_fold (json_t *variant, const char *step, const char *channel, const char *metric,
                    uint64_t value)
{
    json_t *group = s_child (variant, "group");
    if (*step) {
        s_add (s_child (s_child (s_child (variant, "steps"), step), *channel ? channel : "-"),
               metric, value);
        if (*channel || streq (metric, "held"))
            s_add (group, metric, value);
    }
    else
        s_add (group, metric, value);
}

typedef struct {
    int64_t from, to;
    bool ranged;                //  totals from the daily counters
    json_t *counters;           //  journey -> variant -> group, steps
    json_t *daily;              //  journey -> day -> group
    json_t *totals;
} s_read_t;

//  Key: journey, variant, step, channel, metric, each NUL-terminated;
//  then nothing (the total) or an i64 day.
static void s_counter (s_read_t *read, const MDB_val *key, const MDB_val *data)
{
    const char *parts [5], *p = (const char *) key->mv_data, *end = p + key->mv_size;
    for (int i = 0; i < 5; i++) {
        const char *nul = memchr (p, 0, (size_t) (end - p));
        if (!nul)
            return;
        parts [i] = p;
        p = nul + 1;
    }
    size_t rest = (size_t) (end - p);
    if (rest != 0 && rest != 8)
        return;
    uint64_t value = nd_key_get_u64 (data, 0);
    if (!*parts [0]) {
        if (rest == 0)
            s_add (read->totals, parts [4], value);
        return;
    }
    if (rest == 8) {
        int64_t day = nd_key_get_i64 (key, key->mv_size - 8);
        if (day < read->from || day > read->to)
            return;
        char name [16];
        snprintf (name, sizeof name, "%" PRId64, day);
        s_fold (s_child (s_child (read->daily, parts [0]), name), parts [2], parts [3], parts [4],
                value);
    }
    if ((rest == 8) == read->ranged)
        s_fold (s_child (s_child (read->counters, parts [0]), parts [1]), parts [2], parts [3],
                parts [4], value);
}

/* ---------------------------------------------------------- compute -- */

static uint64_t s_failed (const json_t *counts)
{
    return s_get (counts, "failed") + s_get (counts, "bounced") + s_get (counts, "unreachable");
}

static json_t *s_vs_holdout (const json_t *group, const json_t *holdout)
{
    nd_stats_diff_t d;
    if (!holdout || nd_stats_diff (s_get (group, "converted"), s_get (group, "entered"),
                                   s_get (holdout, "converted"), s_get (holdout, "entered"), &d))
        return json_null ();
    return json_pack ("{s:f, s:[f, f], s:f, s:b}", "diff", d.diff, "ci", d.lo, d.hi, "p", d.p,
                      "significant", d.significant);
}

static json_t *s_variant (const char *name, const json_t *group, const json_t *holdout)
{
    double entered = (double) s_get (group, "entered");
    double revenue = (double) s_get (group, "revenue") / 100;
    return json_pack ("{s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:f, s:f, s:f, s:o}",
        "name", name, "entered", (json_int_t) s_get (group, "entered"),
        "sent", (json_int_t) s_get (group, "sent"), "held", (json_int_t) s_get (group, "held"),
        "delivered", (json_int_t) s_get (group, "delivered"),
        "clicked", (json_int_t) s_get (group, "clicked"), "failed", (json_int_t) s_failed (group),
        "converted", (json_int_t) s_get (group, "converted"),
        "orders", (json_int_t) s_get (group, "orders"), "revenue", revenue,
        "conv_rate", entered > 0 ? (double) s_get (group, "converted") / entered : 0.0,
        "revenue_per_entered", entered > 0 ? revenue / entered : 0.0,
        "vs_holdout", streq (name, "holdout") ? json_null () : s_vs_holdout (group, holdout));
}

static void s_steps (json_t *steps, const char *variant_name, json_t *variant)
{
    const char *step_name, *channel_name;
    json_t *step, *channel;
    json_object_foreach (json_object_get (variant, "steps"), step_name, step)
        json_object_foreach (step, channel_name, channel)
            json_array_append_new (steps, json_pack (
                "{s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:f, s:O}", "step", step_name,
                "variant", variant_name, "channel", channel_name,
                "sent", (json_int_t) s_get (channel, "sent"),
                "delivered", (json_int_t) s_get (channel, "delivered"),
                "clicked", (json_int_t) s_get (channel, "clicked"),
                "failed", (json_int_t) s_failed (channel),
                "attributed", (json_int_t) s_get (channel, "attributed"),
                "attributed_revenue", (double) s_get (channel, "attributed-revenue") / 100,
                "counts", channel));
}

static json_t *s_daily (json_t *days)
{
    json_t *daily = json_array ();
    const char *name;
    json_t *day;
    json_object_foreach (days, name, day) {
        json_t *group = json_object_get (day, "group");
        char text [16];
        json_array_append_new (daily, json_pack ("{s:s, s:I, s:I, s:I, s:I, s:I, s:f}",
            "day", report_day_format (strtoll (name, NULL, 10), text),
            "entered", (json_int_t) s_get (group, "entered"),
            "sent", (json_int_t) s_get (group, "sent"),
            "delivered", (json_int_t) s_get (group, "delivered"),
            "clicked", (json_int_t) s_get (group, "clicked"),
            "converted", (json_int_t) s_get (group, "converted"),
            "revenue", (double) s_get (group, "revenue") / 100));
    }
    return daily;
}

//  What a journey lost to which, from its steps' counters
//  cap-deferred-behind:JOURNEY and cap-skipped-behind:JOURNEY, summed
//  over variants and channels: [{"step", "to", "deferred", "skipped"}].
static json_t *s_lost_to (json_t *variants)
{
    static const char *kinds [][2] = { { "cap-deferred-behind:", "deferred" },
                                       { "cap-skipped-behind:", "skipped" } };
    json_t *lost = json_object (), *list = json_array ();
    const char *variant_name, *step_name, *channel_name, *metric;
    json_t *variant, *step, *channel, *value;
    json_object_foreach (variants, variant_name, variant)
        json_object_foreach (json_object_get (variant, "steps"), step_name, step)
            json_object_foreach (step, channel_name, channel)
                json_object_foreach (channel, metric, value)
                    for (size_t k = 0; k < 2; k++) {
                        size_t length = strlen (kinds [k][0]);
                        if (strncmp (metric, kinds [k][0], length))
                            continue;
                        json_t *row = s_child (s_child (lost, step_name), metric + length);
                        s_add (row, kinds [k][1], (uint64_t) json_integer_value (value));
                    }
    const char *to;
    json_t *row;
    json_object_foreach (lost, step_name, step)
        json_object_foreach (step, to, row)
            json_array_append_new (list, json_pack ("{s:s, s:s, s:I, s:I}", "step", step_name,
                                   "to", to, "deferred", (json_int_t) s_get (row, "deferred"),
                                   "skipped", (json_int_t) s_get (row, "skipped")));
    json_decref (lost);
    return list;
}

static json_t *s_journey (const char *name, json_t *variants, json_t *days)
{
    json_t *holdout = json_object_get (json_object_get (variants, "holdout"), "group");
    json_t *list = json_array (), *steps = json_array ();
    const char *variant_name;
    json_t *variant;
    json_object_foreach (variants, variant_name, variant) {
        json_array_append_new (list, s_variant (variant_name, s_child (variant, "group"), holdout));
        s_steps (steps, variant_name, variant);
    }
    return json_pack ("{s:s, s:o, s:o, s:o, s:o}", "name", name, "variants", list,
                      "steps", steps, "daily", s_daily (days), "lost_to", s_lost_to (variants));
}

static int s_name_cmp (const void *a, const void *b)
{
    return strcmp (*(const char * const *) a, *(const char * const *) b);
}

//  A copy of object with its members, and theirs, in name order: the
//  order one state's keys come in, whatever order partitions added them.
static json_t *s_by_name (json_t *object)
{
    if (!json_is_object (object))
        return json_incref (object);
    const char **names = (const char **) zmalloc ((json_object_size (object) + 1) * sizeof *names);
    size_t count = 0;
    const char *name;
    json_t *value;
    json_object_foreach (object, name, value)
        names [count++] = name;
    qsort (names, count, sizeof *names, s_name_cmp);
    json_t *sorted = json_object ();
    for (size_t i = 0; i < count; i++)
        json_object_set_new (sorted, names [i], s_by_name (json_object_get (object, names [i])));
    free (names);
    return sorted;
}

static int s_day_cmp (const void *a, const void *b)
{
    long long x = strtoll (*(const char * const *) a, NULL, 10);
    long long y = strtoll (*(const char * const *) b, NULL, 10);
    return (x > y) - (x < y);
}

static void s_read_counters (s_read_t *read, MDB_txn *txn, MDB_dbi counters)
{
    MDB_cursor *cursor;
    MDB_val key, data;
    if (mdb_cursor_open (txn, counters, &cursor) == 0) {
        for (int rc = mdb_cursor_get (cursor, &key, &data, MDB_FIRST); rc == 0;
             rc = mdb_cursor_get (cursor, &key, &data, MDB_NEXT))
            s_counter (read, &key, &data);
        mdb_cursor_close (cursor);
    }
}

json_t *report_model (size_t count, MDB_txn *const *txns, const MDB_dbi *counters,
                      int64_t from, int64_t to)
{
    s_read_t read = { from, to, from != INT64_MIN || to != INT64_MAX, json_object (),
                      json_object (), json_object () };
    for (size_t i = 0; i < count; i++)
        s_read_counters (&read, txns [i], counters [i]);
    json_t *unsorted = read.counters;
    read.counters = s_by_name (unsorted);
    json_decref (unsorted);
    //  Daily series in day order (the keys' order is per counter)
    json_t *journeys = json_array ();
    const char *name;
    json_t *variants;
    json_object_foreach (read.counters, name, variants) {
        json_t *days = s_child (read.daily, name);
        const char **order = (const char **) zmalloc ((json_object_size (days) + 1) * sizeof *order);
        size_t count = 0;
        const char *day;
        json_t *value;
        json_object_foreach (days, day, value)
            order [count++] = day;
        qsort (order, count, sizeof *order, s_day_cmp);
        json_t *sorted = json_object ();
        for (size_t i = 0; i < count; i++)
            json_object_set (sorted, order [i], json_object_get (days, order [i]));
        free (order);
        json_array_append_new (journeys, s_journey (name, variants, sorted));
        json_decref (sorted);
    }
    char text [16];
    json_t *model = json_pack ("{s:o, s:o, s:o, s:o, s:o}",
        "from", from == INT64_MIN ? json_null () : json_string (report_day_format (from, text)),
        "to", to == INT64_MAX ? json_null () : json_string (report_day_format (to, text)),
        "totals", read.totals, "journeys", journeys, "counters", read.counters);
    json_decref (read.daily);
    return model;
}
