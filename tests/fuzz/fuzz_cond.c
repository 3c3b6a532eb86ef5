/*  fuzz_cond - the journeys' conditions (when, if, exit), as operators
    write them: no text may crash the parser or the evaluator.           */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "cond.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    char *text = (char *) malloc (size + 1);
    memcpy (text, data, size);
    text [size] = 0;
    char *error = NULL;
    cond_t *cond = cond_new (text, &error);
    free (error);
    if (cond) {
        json_t *doc = json_pack ("{s:[s, s], s:{s:f, s:i}, s:b, s:s}",
                                 "segments", "loyal", "came_to_buy", "cart", "value", 44.5,
                                 "items", 2, "ordered", 0, "channel", "email");
        cond_eval (cond, doc);
        json_decref (doc);
        cond_destroy (&cond);
    }
    free (text);
    return 0;
}
