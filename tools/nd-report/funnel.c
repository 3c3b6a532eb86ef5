/*  funnel.c - nd-report --funnel: at which step do buyers leave?

    Reads the daily funnel counts the segmenter keeps (its LMDB
    "funnel", written by pipeline/segmenter/funnel.c, which says what is
    counted and how), read-only, and adds up the days asked for. Nothing
    is rescanned: a day is a few dozen records whatever the traffic.

    A record's key is (i64 day in ms, u8 dimension, name NUL): dimension
    't' total, 'g' session group, 'd' device, 's' traffic source, 'r'
    referrer, each worth a JSON array of sessions per furthest step
    (none, browse, product, cart, checkout, payment, order); 'l' a
    product left in carts, worth {"name", "count"}. See funnel.h.

    A partitioned segmenter keeps each session in the partition of its
    person, counted once there: the partitions' records add up, key by
    key, to what one segmenter would hold. Only the bound on names per
    day (funnel-keys, then "other") is each partition's own.             */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "nd.h"
#include "nd_state.h"
#include "funnel.h"

#define DAY_MS 86400000LL
#define STEPS 7                 //  as the segmenter counts them
#define FIRST 2                 //  the report starts at "product"
#define SHOWN (STEPS - FIRST)

static const char *const s_shown [SHOWN] = { "product", "cart", "checkout", "payment", "order" };

static const struct {
    char dimension;
    const char *field;
} s_dimensions [] = {
    { 'g', "by_segment" }, { 'd', "by_device" }, { 's', "by_source" }, { 'r', "by_referrer" },
    { 0, NULL }
};

//  "YYYY-MM-DD" (1970 on) as ms at its UTC midnight, or -1 for none;
//  false if text is no such day.
static bool s_parse_day (const char *text, int64_t *ms)
{
    char stamp [32];
    *ms = -1;
    if (!text)
        return true;
    if (strlen (text) != 10 || text [4] != '-' || text [7] != '-')
        return false;
    snprintf (stamp, sizeof stamp, "%sT00:00:00Z", text);
    return nd_time_parse (stamp, ms) == 0 && *ms >= 0;
}

static void s_format_day (int64_t ms, char *day)
{
    char stamp [32];
    snprintf (day, 11, "%s", nd_time_format (ms, stamp));
}

//  Adds a record's per-step counts to sums [name] (an array of STEPS).
static void s_add_steps (json_t *sums, const char *name, const json_t *counts)
{
    json_t *sum = json_object_get (sums, name);
    if (!sum) {
        sum = json_array ();
        for (int i = 0; i < STEPS; i++)
            json_array_append_new (sum, json_integer (0));
        json_object_set_new (sums, name, sum);
    }
    for (size_t i = 0; i < STEPS; i++)
        json_array_set_new (sum, i, json_integer (json_integer_value (json_array_get (sum, i))
                                                  + json_integer_value (json_array_get (counts, i))));
}

static void s_add_left (json_t *left, const char *product, const json_t *record)
{
    json_t *sum = json_object_get (left, product);
    if (!sum)
        json_object_set_new (left, product, sum = json_pack ("{s:s, s:i}", "name", "", "count", 0));
    const char *name = json_string_value (json_object_get (record, "name"));
    if (name && *name)
        json_object_set_new (sum, "name", json_string (name));
    json_object_set_new (sum, "count", json_integer (json_integer_value (json_object_get (sum, "count"))
                                                     + json_integer_value (json_object_get (record, "count"))));
}

//  {"reached", "dropoff"} of per-step counts: reached[i] counts the
//  sessions whose furthest step is i or later.
static json_t *s_funnel (const json_t *counts)
{
    json_int_t reached [SHOWN] = { 0 };
    for (int step = STEPS - 1; step >= FIRST; step--)
        reached [step - FIRST] = json_integer_value (json_array_get (counts, (size_t) step))
                               + (step < STEPS - 1 ? reached [step - FIRST + 1] : 0);
    json_t *row = json_pack ("{s:[], s:[]}", "reached", "dropoff");
    for (int i = 0; i < SHOWN; i++) {
        json_array_append_new (json_object_get (row, "reached"), json_integer (reached [i]));
        if (i + 1 < SHOWN)
            json_array_append_new (json_object_get (row, "dropoff"), reached [i] == 0 ? json_null ()
                : json_real (1.0 - (double) reached [i + 1] / (double) reached [i]));
    }
    return row;
}

static json_int_t s_first_step (const json_t *row)
{
    return json_integer_value (json_array_get (json_object_get (row, "reached"), 0));
}

static int s_by_key (const void *a, const void *b)
{
    const json_t *x = *(json_t *const *) a, *y = *(json_t *const *) b;
    return strcmp (json_string_value (json_object_get (x, "key")),
                   json_string_value (json_object_get (y, "key")));
}

//  Most sessions at the first step first; then by key.
static int s_by_size (const void *a, const void *b)
{
    json_int_t nx = s_first_step (*(json_t *const *) a), ny = s_first_step (*(json_t *const *) b);
    if (nx != ny)
        return nx > ny ? -1 : 1;
    return s_by_key (a, b);
}

static int s_by_count (const void *a, const void *b)
{
    const json_t *x = *(json_t *const *) a, *y = *(json_t *const *) b;
    json_int_t nx = json_integer_value (json_object_get (x, "count"));
    json_int_t ny = json_integer_value (json_object_get (y, "count"));
    if (nx != ny)
        return nx > ny ? -1 : 1;
    return strcmp (json_string_value (json_object_get (x, "product_id")),
                   json_string_value (json_object_get (y, "product_id")));
}

//  An array of the objects rows gives, in the order compare says.
static json_t *s_sorted (json_t **rows, size_t count, int (*compare) (const void *, const void *))
{
    qsort (rows, count, sizeof *rows, compare);
    json_t *array = json_array ();
    for (size_t i = 0; i < count; i++)
        json_array_append_new (array, rows [i]);
    return array;
}

//  The rows of a dimension: one per name, keyed, in the order compare
//  says (by_day: by key, which is the day; partitions each add their days).
static json_t *s_rows (const json_t *sums, int (*compare) (const void *, const void *))
{
    size_t count = json_object_size (sums), i = 0;
    json_t **rows = (json_t **) calloc (count + 1, sizeof *rows);
    const char *name;
    json_t *counts;
    json_object_foreach ((json_t *) sums, name, counts) {
        rows [i] = s_funnel (counts);
        json_object_set_new (rows [i++], "key", json_string (name));
    }
    json_t *array = s_sorted (rows, count, compare);
    free (rows);
    return array;
}

static json_t *s_left_rows (const json_t *left)
{
    size_t count = json_object_size (left), i = 0;
    json_t **rows = (json_t **) calloc (count + 1, sizeof *rows);
    const char *product;
    json_t *sum;
    json_object_foreach ((json_t *) left, product, sum)
        rows [i++] = json_pack ("{s:s, s:O, s:O}", "product_id", product,
                                "name", json_object_get (sum, "name"),
                                "count", json_object_get (sum, "count"));
    json_t *array = s_sorted (rows, count, s_by_count);
    free (rows);
    return array;
}

//  Sums every record from the first day to the last (-1: no bound) into
//  sums: "t" the total, "day" per day, one object per dimension, "l".
static void s_read (MDB_txn *txn, MDB_dbi dbi, int64_t first, int64_t last, json_t *sums,
                    int64_t *seen_first, int64_t *seen_last)
{
    MDB_cursor *cursor;
    if (mdb_cursor_open (txn, dbi, &cursor))
        return;
    nd_key_t start;
    nd_key_init (&start);
    nd_key_i64 (&start, first < 0 ? INT64_MIN : first);
    MDB_val key = nd_key_val (&start), data;
    for (int rc = mdb_cursor_get (cursor, &key, &data, MDB_SET_RANGE); rc == 0;
         rc = mdb_cursor_get (cursor, &key, &data, MDB_NEXT)) {
        const char *bytes = (const char *) key.mv_data;
        if (key.mv_size < 10 || bytes [key.mv_size - 1] != 0)
            continue;               //  not a record of ours
        int64_t day = nd_key_get_i64 (&key, 0);
        if (last >= 0 && day > last)
            break;
        json_t *value = json_loadb ((const char *) data.mv_data, data.mv_size, 0, NULL);
        char dimension [2] = { bytes [8], 0 }, stamp [11];
        const char *name = bytes + 9;
        if (*seen_first < 0 || day < *seen_first)
            *seen_first = day;      //  the states are read one after another
        if (day > *seen_last)
            *seen_last = day;
        if (dimension [0] == 'l')
            s_add_left (json_object_get (sums, "l"), name, value);
        else
        if (json_object_get (sums, dimension)) {
            s_add_steps (json_object_get (sums, dimension), name, value);
            if (dimension [0] == 't') {
                s_format_day (day, stamp);
                s_add_steps (json_object_get (sums, "day"), stamp, value);
            }
        }
        json_decref (value);
    }
    mdb_cursor_close (cursor);
}

//  Adds one state's records to sums: 0, or -1 with the reason in err.
static int s_read_state (const char *dir, int64_t first, int64_t last, json_t *sums,
                         int64_t *seen_first, int64_t *seen_last, char *err, size_t errlen)
{
    char *error = NULL;
    MDB_dbi dbi;
    nd_state_t *state = nd_state_open (NULL, NULL, dir, &error);
    int rc = state && nd_state_dbi (state, "funnel", &dbi, &error) == 0 ? 0 : -1;
    if (rc == 0)
        s_read (nd_state_txn (state), dbi, first, last, sums, seen_first, seen_last);
    else
        snprintf (err, errlen, "%s", error ? error : "cannot read the state");
    free (error);
    nd_state_destroy (&state);
    return rc;
}

//  The dimensions of report with an "other" row, when partitions each
//  kept their own names: {"capped": [field...]}; nothing otherwise.
static void s_capped (json_t *report, size_t count)
{
    json_t *capped = json_array ();
    for (size_t i = 0; count > 1 && s_dimensions [i].field; i++) {
        size_t index;
        json_t *row;
        json_array_foreach (json_object_get (report, s_dimensions [i].field), index, row)
            if (strcmp (json_string_value (json_object_get (row, "key")), "other") == 0) {
                json_array_append_new (capped, json_string (s_dimensions [i].field));
                break;
            }
    }
    if (json_array_size (capped))
        json_object_set_new (report, "capped", capped);
    else
        json_decref (capped);
}

json_t *funnel_report (const char *const *dirs, size_t count, const char *from_day,
                       const char *to_day, char *err, size_t errlen)
{
    int64_t first, last;
    const char *bad = !s_parse_day (from_day, &first) ? from_day
                    : !s_parse_day (to_day, &last) ? to_day : NULL;
    if (bad) {
        snprintf (err, errlen, "%s: not a day (YYYY-MM-DD)", bad);
        return NULL;
    }
    json_t *sums = json_pack ("{s:{}, s:{}, s:{}, s:{}, s:{}, s:{}, s:{}}",
                              "t", "day", "g", "d", "s", "r", "l");
    int64_t seen_first = -1, seen_last = -1;
    for (size_t i = 0; i < count; i++)
        if (s_read_state (dirs [i], first, last, sums, &seen_first, &seen_last, err, errlen)) {
            json_decref (sums);
            return NULL;
        }

    char from [11], to [11];
    json_t *report = json_pack ("{s:[s, s, s, s, s]}", "steps", s_shown [0], s_shown [1],
                                s_shown [2], s_shown [3], s_shown [4]);
    if (first >= 0 || seen_first >= 0)
        s_format_day (first >= 0 ? first : seen_first, from);
    if (last >= 0 || seen_last >= 0)
        s_format_day (last >= 0 ? last : seen_last, to);
    json_object_set_new (report, "from", first >= 0 || seen_first >= 0 ? json_string (from) : json_null ());
    json_object_set_new (report, "to", last >= 0 || seen_last >= 0 ? json_string (to) : json_null ());
    json_t *none = json_array ();
    json_t *total = json_object_get (json_object_get (sums, "t"), "");
    json_object_set_new (report, "total", s_funnel (total ? total : none));
    json_decref (none);
    json_object_set_new (report, "by_day", s_rows (json_object_get (sums, "day"), s_by_key));
    for (size_t i = 0; s_dimensions [i].field; i++) {
        char dimension [2] = { s_dimensions [i].dimension, 0 };
        json_object_set_new (report, s_dimensions [i].field,
                             s_rows (json_object_get (sums, dimension), s_by_size));
    }
    json_object_set_new (report, "left_in_cart", s_left_rows (json_object_get (sums, "l")));
    s_capped (report, count);
    json_decref (sums);
    return report;
}

/* ------------------------------------------------------------- print -- */

static void s_print_row (const char *key, const json_t *row)
{
    printf ("  %-26.26s", key);
    for (size_t i = 0; i < SHOWN; i++)
        printf (" %9lld", (long long) json_integer_value (json_array_get (json_object_get (row, "reached"), i)));
    printf (" ");
    for (size_t i = 0; i + 1 < SHOWN; i++) {
        json_t *dropoff = json_array_get (json_object_get (row, "dropoff"), i);
        if (json_is_number (dropoff))
            printf (" %8.1f%%", json_number_value (dropoff) * 100);
        else
            printf (" %9s", "-");
    }
    printf ("\n");
}

void funnel_print (const json_t *funnel)
{
    const char *from = json_string_value (json_object_get (funnel, "from"));
    const char *to = json_string_value (json_object_get (funnel, "to"));
    printf ("funnel %s .. %s: sessions that reached each step; then, lost after each\n"
            "step, the share of those who went no further\n\n", from ? from : "-", to ? to : "-");
    printf ("  %-26s %9s %9s %9s %9s %9s  %9s %9s %9s %9s\n", "", "product", "cart", "checkout",
            "payment", "order", "product", "cart", "checkout", "payment");
    s_print_row ("total", json_object_get (funnel, "total"));
    static const char *const parts [] = {
        "by_day", "by_segment", "by_device", "by_source", "by_referrer", NULL
    };
    for (size_t p = 0; parts [p]; p++) {
        printf ("%s\n", parts [p]);
        size_t index;
        json_t *row;
        json_array_foreach (json_object_get (funnel, parts [p]), index, row)
            s_print_row (json_string_value (json_object_get (row, "key")), row);
    }
    printf ("left in abandoned carts (sessions)\n");
    size_t index;
    json_t *row;
    json_array_foreach (json_object_get (funnel, "left_in_cart"), index, row)
        printf ("  %9lld  %-24s %s\n", (long long) json_integer_value (json_object_get (row, "count")),
                json_string_value (json_object_get (row, "product_id")),
                json_string_value (json_object_get (row, "name")));
}

int funnel_print_as (json_t *funnel, bool json)
{
    if (json) {
        json_t *report = json_pack ("{s:o}", "funnel", funnel);
        char *text = json_dumps (report, JSON_COMPACT);
        printf ("%s\n", text);
        free (text);
        json_decref (report);
    }
    else {
        funnel_print (funnel);
        json_decref (funnel);
    }
    return 0;
}
