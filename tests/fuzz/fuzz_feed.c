/*  fuzz_feed - a product feed (POST /v1/catalogue, catalogue-file) read by
    nd_feed_read: no body may crash it; every line it reads gives either a
    product with an id or a reason, and line numbers only grow.         */
#include <assert.h>
#include <stdint.h>
#include <string.h>
#include <jansson.h>
#include "nd_feed.h"

static int s_line (void *arg, size_t line, const json_t *product, const char *reason)
{
    size_t *last = (size_t *) arg;
    assert (line > *last);
    *last = line;
    assert (product ? json_is_string (json_object_get (product, "product_id")) != 0
                    : reason && *reason);
    return 0;
}

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    char reason [160];
    size_t last = 0;
    if (nd_feed_read ((const char *) data, size, s_line, &last, reason, sizeof reason))
        assert (*reason);
    return 0;
}
