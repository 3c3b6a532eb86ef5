/*  json_bench - parse and serialise rates, jansson against nd_json.

    SYNOPSIS
        build/bench/json_bench [BODY.json ...]      (make bench-json)

    DESCRIPTION
        Times json_loadb against nd_json_parse and json_dumps (JSON_COMPACT)
        against nd_json_dump on the same bodies in the same run: the files
        given (make bench-json gives real wire bodies that
        bench/json_bodies.py takes from a small replay: a track event, the
        sessionizer's cart.abandoned, the segmenter's with a profile), or
        two built-in ones. Each figure is the best of ROUNDS rounds;
        freeing the results is left out of the timing, as it costs the
        same for both. Also gives json_deep_copy of the parsed value: the
        cost of building the values alone, the floor for any parser that
        makes json_t values. Prints MB/s and messages/s for each; exits 1
        if the two parsers disagree on a value.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <jansson.h>
#include "nd_json.h"

#define BATCH   16
#define BATCHES 100
#define ROUNDS  20

static const char *segment_event =
    "{\"type\":\"track\",\"event\":\"Product Added\",\"userId\":\"u_84721\","
    "\"anonymousId\":\"5b2e6d1c-3f0a-4c8e-9a77-1f2d3c4b5a69\","
    "\"messageId\":\"ajs-next-1718801234567-8f3c2b1a\",\"timestamp\":\"2024-06-19T12:47:14.567Z\","
    "\"context\":{\"ip\":\"203.0.113.42\",\"locale\":\"de-DE\",\"page\":{"
    "\"url\":\"https://shop.example.com/p/wool-socks?utm_source=mail\","
    "\"title\":\"Wool socks \\u2013 Example Shop\"}},"
    "\"properties\":{\"product_id\":\"sku-1042\",\"price\":19.99,\"quantity\":2,"
    "\"currency\":\"EUR\"}}";

/*  A cart item, formatted with its position to make each one differ.     */
static const char *cart_item =
    "{\"product_id\":\"sku-%d042\",\"sku\":\"WS-%d-BLK-42\",\"name\":\"Merino wool socks, pack of %d\","
    "\"brand\":\"Example\",\"category\":\"Apparel/Socks\",\"variant\":\"black / 42\","
    "\"price\":%d.95,\"quantity\":%d,\"coupon\":null,\"position\":%d,"
    "\"url\":\"https://shop.example.com/p/wool-socks-%d\","
    "\"image_url\":\"https://cdn.example.com/img/ws-%d.jpg\"}";

/*  The ~2 KB cart event: a few fields around six items.                  */
static char *
s_cart_event (void)
{
    size_t cap = 4096;
    char *text = malloc (cap);
    if (!text)
        exit (1);
    size_t len = (size_t) snprintf (text, cap,
        "{\"type\":\"track\",\"event\":\"Cart Viewed\",\"userId\":\"u_84721\","
        "\"timestamp\":\"2024-06-19T12:49:02.101Z\",\"properties\":{\"cart_id\":\"c-99812\","
        "\"currency\":\"EUR\",\"value\":143.7,\"products\":[");
    for (int i = 1; i <= 6; i++) {
        if (i > 1)
            text [len++] = ',';
        len += (size_t) snprintf (text + len, cap - len, cart_item, i, i, i, i + 10, i, i, i, i);
    }
    snprintf (text + len, cap - len, "]}}");
    return text;
}

static double
s_now_us (void)
{
    struct timespec now;
    clock_gettime (CLOCK_MONOTONIC, &now);
    return now.tv_sec * 1e6 + now.tv_nsec / 1e3;
}

/*  What is timed: a call that makes something from the event, and what
    frees it afterwards, outside the timing.                              */
typedef struct {
    const char *text;
    size_t size;
    json_t *value;
} s_event_t;

typedef void *(s_make_fn) (const s_event_t *event);

static void *
s_jansson_parse (const s_event_t *event)
{
    return json_loadb (event->text, event->size, 0, NULL);
}

static void *
s_nd_json_parse (const s_event_t *event)
{
    return nd_json_parse (event->text, event->size, NULL, 0);
}

/*  json_deep_copy makes the same values a parser makes, so its time is
    the floor for any parser that hands out json_t values.                */
static void *
s_deep_copy (const s_event_t *event)
{
    return json_deep_copy (event->value);
}

static void *
s_jansson_dump (const s_event_t *event)
{
    return json_dumps (event->value, JSON_COMPACT);
}

static void *
s_nd_json_dump (const s_event_t *event)
{
    return nd_json_dump (event->value, NULL);
}

static void
s_drop_value (void *value)
{
    json_decref (value);
}

/*  Best microseconds per call over ROUNDS rounds of BATCHES batches. Only
    BATCH results live at once, so the heap stays in cache as it does in a
    stage that handles one message at a time.                             */
static double
s_time (s_make_fn *make, void (*drop) (void *), const s_event_t *event)
{
    double best = 1e9;
    for (int round = 0; round < ROUNDS; round++) {
        double elapsed = 0;
        for (int batch = 0; batch < BATCHES; batch++) {
            void *made [BATCH];
            double start = s_now_us ();
            for (int i = 0; i < BATCH; i++)
                made [i] = make (event);
            elapsed += s_now_us () - start;
            for (int i = 0; i < BATCH; i++)
                drop (made [i]);
        }
        elapsed /= BATCH * BATCHES;
        best = elapsed < best? elapsed: best;
    }
    return best;
}

/*  Both parsers must agree on the value; the writers' bytes are compared
    and a difference told (number formatting may differ, the value not). */
static int
s_check (const char *name, const char *text, size_t size)
{
    json_t *theirs = json_loadb (text, size, 0, NULL);
    json_t *ours = nd_json_parse (text, size, NULL, 0);
    char *expected = theirs? json_dumps (theirs, JSON_COMPACT): NULL;
    char *written = ours? nd_json_dump (ours, NULL): NULL;
    int rc = theirs && ours && json_equal (theirs, ours) && expected && written? 0: -1;
    if (rc)
        fprintf (stderr, "json_bench: jansson and nd_json disagree on %s\n", name);
    else
    if (strcmp (expected, written))
        fprintf (stderr, "json_bench: %s: the same value, written differently\n", name);
    json_decref (theirs);
    json_decref (ours);
    free (expected);
    free (written);
    return rc;
}

static void
s_line (const char *what, size_t size, double jansson_us, double nd_json_us)
{
    printf ("    %-9s jansson %7.1f MB/s %9.0f msg/s   nd_json %7.1f MB/s %9.0f msg/s   "
            "nd_json/jansson %.2fx\n", what,
            size / jansson_us, 1e6 / jansson_us, size / nd_json_us, 1e6 / nd_json_us,
            jansson_us / nd_json_us);
}

static int
s_bench (const char *name, const char *text, size_t size)
{
    if (s_check (name, text, size))
        return -1;
    s_event_t event = { text, size, json_loadb (text, size, 0, NULL) };
    double parse_jansson = s_time (s_jansson_parse, s_drop_value, &event);
    double parse_nd_json = s_time (s_nd_json_parse, s_drop_value, &event);
    double deep_copy = s_time (s_deep_copy, s_drop_value, &event);
    double dump_jansson = s_time (s_jansson_dump, free, &event);
    double dump_nd_json = s_time (s_nd_json_dump, free, &event);
    printf ("  %s (%zu bytes)\n", name, size);
    s_line ("parse", size, parse_jansson, parse_nd_json);
    s_line ("serialise", size, dump_jansson, dump_nd_json);
    printf ("    (json_deep_copy of the parsed value, the floor for any parser making json_t: "
            "%.0f msg/s)\n", 1e6 / deep_copy);
    json_decref (event.value);
    return 0;
}

static char *
s_slurp (const char *path, size_t *size)
{
    FILE *file = fopen (path, "rb");
    char *text = NULL;
    long length = file && fseek (file, 0, SEEK_END) == 0? ftell (file): -1;
    if (length > 0 && fseek (file, 0, SEEK_SET) == 0 && (text = malloc ((size_t) length + 1))
    &&  fread (text, 1, (size_t) length, file) != (size_t) length) {
        free (text);
        text = NULL;
    }
    if (file)
        fclose (file);
    if (text) {
        text [length] = 0;
        *size = (size_t) length;
    }
    else
        fprintf (stderr, "json_bench: cannot read %s\n", path);
    return text;
}

int
main (int argc, char **argv)
{
    printf ("JSON, best of %d rounds, each body parsed and written by both in this run:\n",
            ROUNDS);
    int rc = 0;
    if (argc < 2) {
        char *cart = s_cart_event ();
        rc = s_bench ("segment (built in)", segment_event, strlen (segment_event))
          || s_bench ("cart (built in)", cart, strlen (cart));
        free (cart);
    }
    for (int i = 1; i < argc && rc == 0; i++) {
        size_t size;
        char *text = s_slurp (argv [i], &size);
        rc = text? s_bench (argv [i], text, size): -1;
        free (text);
    }
    return rc? 1: 0;
}
