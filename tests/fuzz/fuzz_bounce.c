/*  fuzz_bounce - nd-bounce's reader with mail from anywhere: a DSN or an
    ARF report comes from any server on the internet. No input may crash
    it, and what it finds must be what it promises: a token made only of
    base64url and '.', a known type and kind, strings within their size. */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "bounce.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    //  The message may hold NULs; the reader is given its size
    char *message = (char *) malloc (size + 1);
    memcpy (message, data, size);
    message [size] = 0;
    bounce_report_t report;
    int found = bounce_parse (message, size, size > 0 && data [0] & 1 ? "b+x.y@shop.example" : NULL,
                              &report);
    assert (found >= -1 && found <= 1);
    if (found == 1) {
        assert (*report.token);
        assert (strspn (report.token, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                      "0123456789-_.") == strlen (report.token));
        assert (streq (report.type, "bounce") || streq (report.type, "complaint"));
        assert (!streq (report.type, "bounce") || streq (report.kind, "hard")
                || streq (report.kind, "soft"));
    }
    else
        assert (*report.why);
    free (message);
    return 0;
}
