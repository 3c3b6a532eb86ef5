/*  fuzz_json - nd_json_parse, the hand-written parser every stage reads
    messages with: no input may crash it, and what it accepts must come
    out of nd_json_dump as JSON it reads back to an equal value.         */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include "nd_json.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    char error [160];
    json_t *value = nd_json_parse ((const char *) data, size, error, sizeof error);
    if (!value)
        return 0;
    size_t length;
    char *text = nd_json_dump (value, &length);
    assert (text);
    json_t *again = nd_json_parse (text, length, error, sizeof error);
    assert (again && json_equal (value, again));
    json_decref (again);
    json_decref (value);
    free (text);
    return 0;
}
