/*  json_bench - microseconds per parse and per dump, jansson against nd_json.

    SYNOPSIS
        gcc -O2 -I pipeline/runtime bench/json_bench.c pipeline/runtime/nd_json.c -ljansson
        ./a.out

    DESCRIPTION
        Times json_loadb against nd_json_parse and json_dumps (JSON_COMPACT)
        against nd_json_dump on two bodies the pipeline sees: a ~400-byte
        Segment track event and a ~2 KB cart event. Each figure is the best
        of several rounds of BATCH calls; freeing the results is left out
        of the timing, as it costs the same for both. Prints one JSON line:
        {"segment":{"bytes":N,"parse_us":{"jansson":J,"nd_json":N},
        "dump_us":{...}},"cart":{...}}. Exits 1 if the two disagree.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <jansson.h>
#include "nd_json.h"

#define BATCH  1000
#define ROUNDS 30

static const char *segment_event =
    "{\"type\":\"track\",\"event\":\"Product Added\",\"userId\":\"u_84721\","
    "\"anonymousId\":\"5b2e6d1c-3f0a-4c8e-9a77-1f2d3c4b5a69\","
    "\"messageId\":\"ajs-next-1718801234567-8f3c2b1a\","
    "\"timestamp\":\"2024-06-19T12:47:14.567Z\",\"sentAt\":\"2024-06-19T12:47:14.601Z\","
    "\"context\":{\"ip\":\"203.0.113.42\",\"locale\":\"de-DE\",\"page\":{"
    "\"path\":\"/p/wool-socks\",\"url\":\"https://shop.example.com/p/wool-socks?utm_source=mail\","
    "\"title\":\"Wool socks \\u2013 Example Shop\"}},"
    "\"properties\":{\"product_id\":\"sku-1042\",\"price\":19.99,\"quantity\":2,"
    "\"currency\":\"EUR\",\"in_stock\":true}}";

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

/*  Best time per call over the rounds; values [] and texts [] hold what
    one batch made, freed between rounds outside the timing.              */
static double
s_time_parse (const char *text, bool ours)
{
    json_t *values [BATCH];
    size_t size = strlen (text);
    double best = 1e9;
    for (int round = 0; round < ROUNDS; round++) {
        double start = s_now_us ();
        for (int i = 0; i < BATCH; i++)
            values [i] = ours? nd_json_parse (text, size, NULL, 0)
                             : json_loadb (text, size, 0, NULL);
        double elapsed = (s_now_us () - start) / BATCH;
        best = elapsed < best? elapsed: best;
        for (int i = 0; i < BATCH; i++)
            json_decref (values [i]);
    }
    return best;
}

static double
s_time_dump (const json_t *value, bool ours)
{
    char *texts [BATCH];
    double best = 1e9;
    for (int round = 0; round < ROUNDS; round++) {
        double start = s_now_us ();
        for (int i = 0; i < BATCH; i++)
            texts [i] = ours? nd_json_dump (value, NULL): json_dumps (value, JSON_COMPACT);
        double elapsed = (s_now_us () - start) / BATCH;
        best = elapsed < best? elapsed: best;
        for (int i = 0; i < BATCH; i++)
            free (texts [i]);
    }
    return best;
}

/*  Both parsers must agree on the value and both writers on the bytes.   */
static int
s_check (const char *text)
{
    json_t *theirs = json_loads (text, 0, NULL);
    json_t *ours = nd_json_parse (text, strlen (text), NULL, 0);
    char *expected = json_dumps (theirs, JSON_COMPACT);
    char *written = nd_json_dump (ours, NULL);
    int rc = theirs && ours && json_equal (theirs, ours) && expected && written
          && strcmp (expected, written) == 0? 0: -1;
    json_decref (theirs);
    json_decref (ours);
    free (expected);
    free (written);
    return rc;
}

static int
s_bench (const char *name, const char *text, bool last)
{
    if (s_check (text)) {
        fprintf (stderr, "json_bench: jansson and nd_json disagree on the %s event\n", name);
        return -1;
    }
    json_t *value = json_loads (text, 0, NULL);
    printf ("\"%s\":{\"bytes\":%zu,\"parse_us\":{\"jansson\":%.2f,\"nd_json\":%.2f},"
            "\"dump_us\":{\"jansson\":%.2f,\"nd_json\":%.2f}}%s",
            name, strlen (text), s_time_parse (text, false), s_time_parse (text, true),
            s_time_dump (value, false), s_time_dump (value, true), last? "": ",");
    json_decref (value);
    return 0;
}

int
main (void)
{
    char *cart = s_cart_event ();
    printf ("{");
    int rc = s_bench ("segment", segment_event, false) || s_bench ("cart", cart, true);
    printf ("}\n");
    free (cart);
    return rc? 1: 0;
}
