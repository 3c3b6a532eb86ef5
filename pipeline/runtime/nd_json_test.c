/*  nd_json_test.c - nd_json's self-test (nd_json_test), for the parser
    (nd_json.c) and the writer (nd_json_dump.c) together: most cases read
    a text and write it back, each compared with what jansson does. Apart
    from the code it tests, so that each of those reads as what runs.
*/
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "nd_json.h"

/*  Parses text; with error NULL it must be read as jansson reads it and
    written back as json_dumps writes it, else fail with exactly error.   */
static void
s_expect (const char *text, size_t size, const char *error)
{
    char reason [80] = "";
    json_t *ours = nd_json_parse (text, size, reason, sizeof (reason));
    if (error) {
        assert (!ours);
        assert (strcmp (reason, error) == 0);
        return;
    }
    json_t *theirs = json_loadb (text, size, 0, NULL);
    assert (ours && theirs && json_equal (ours, theirs));
    size_t len;
    char *written = nd_json_dump (ours, &len);
    char *expected = json_dumps (theirs, JSON_COMPACT);
    assert (written && expected);
    assert (strcmp (written, expected) == 0 && len == strlen (expected));
    free (written);
    free (expected);
    json_decref (ours);
    json_decref (theirs);
}

static void
s_expect_real (double value, const char *text)
{
    json_t *array = json_pack ("[f]", value);
    char *written = nd_json_dump (array, NULL);
    char *expected = json_dumps (array, JSON_COMPACT);
    assert (written && expected && strcmp (written, expected) == 0);
    assert (strncmp (written + 1, text, strlen (text)) == 0 && written [strlen (text) + 1] == ']');
    free (written);
    free (expected);
    json_decref (array);
}

/*  n arrays inside each other, with a 0 in the innermost if scalar.      */
static char *
s_nested (size_t n, bool scalar, size_t *size)
{
    char *text = malloc (2 * n + 1);
    assert (text);
    memset (text, '[', n);
    text [n] = '0';
    memset (text + n + scalar, ']', n);
    *size = 2 * n + scalar;
    return text;
}

/*  Inputs past the stack scratch, and nesting at and past the limit.    */
static void
s_test_limits (void)
{
    //  Past S_SCRATCH_STACK bytes (nd_json.c), escaped strings decode on the heap;
    //  each in its own slot, so a key outlives the value after it
    char *large = malloc (20 * 400 + 2);
    assert (large);
    size_t size = 0;
    large [size++] = '[';
    for (int i = 0; i < 400; i++)
        size += (size_t) sprintf (large + size, i % 2? "\"caf\\u00e9 \\\"%03d\",":
                                  "{\"k\\t%03d\":\"\\/\"},", i);
    large [size - 1] = ']';
    s_expect (large, size, NULL);
    free (large);

    //  Nesting: 2048 values deep is the limit, counting the innermost
    //  scalar; far deeper input fails without exhausting the stack
    char *deep = s_nested (2048, false, &size);
    s_expect (deep, size, NULL);
    free (deep);
    deep = s_nested (2048, true, &size);
    s_expect (deep, size, "maximum nesting depth reached at byte 2048");
    free (deep);
    deep = s_nested (100000, false, &size);
    s_expect (deep, size, "maximum nesting depth reached at byte 2048");
    free (deep);
}

static void
s_test_writer (void)
{
    //  Reals are written as jansson writes them, fast path or printf
    s_expect_real (0.1, "0.10000000000000001");
    s_expect_real (19.99, "19.989999999999998");
    s_expect_real (100, "100.0");
    s_expect_real (-0.0, "-0.0");
    s_expect_real (1e16, "10000000000000000.0");
    s_expect_real (1e17, "1e17");
    s_expect_real (0.0001, "0.0001");
    s_expect_real (1e-5, "1.0000000000000001e-5");
    s_expect_real (1125899906842624.25, "1125899906842624.2");    /* a tie: to even */
    s_expect_real (1125899906842624.75, "1125899906842624.8");
    s_expect_real (1e300, "1.0000000000000001e300");
    s_expect_real (5e-324, "4.9406564584124654e-324");

    //  json_dumps refuses a scalar, a value that contains itself and a
    //  string that is not UTF-8; so do we
    json_t *value = json_integer (1);
    char *text = nd_json_dump (value, NULL);
    assert (!text);
    free (text);
    json_decref (value);
    value = json_array ();
    json_array_append_new (value, json_pack ("{s:O}", "outer", value));
    text = nd_json_dump (value, NULL);
    assert (!text);
    free (text);
    json_array_clear (value);   /* breaks the cycle */
    json_array_append_new (value, json_stringn_nocheck ("\xff", 1));
    text = nd_json_dump (value, NULL);
    assert (!text);
    free (text);
    json_decref (value);
}

/*  Strings are scanned a word at a time: a byte that ends a plain run
    (an escape, non-ASCII, the closing quote) at every place in and
    across the words, read and written back byte for byte.                */
static void
s_test_runs (void)
{
    const char *breaks [] = { "\\n", "\\\"", "\xc3\xa9", "\xe6\x97\xa5", "\\u00e9", NULL };
    for (size_t b = 0; breaks [b]; b++)
        for (size_t length = 0; length < 20; length++)
            for (size_t at = 0; at <= length; at++) {
                char text [64];
                int size = snprintf (text, sizeof text, "[\"%.*s%s%.*s\"]", (int) at,
                                     "abcdefghijklmnopqrst", breaks [b], (int) (length - at),
                                     "ABCDEFGHIJKLMNOPQRST");
                json_t *value = nd_json_parse (text, (size_t) size, NULL, 0);
                assert (value);
                const char *string = json_string_value (json_array_get (value, 0));
                size_t decoded = json_string_length (json_array_get (value, 0));
                assert (strncmp (string, "abcdefghijklmnopqrst", at) == 0);
                assert (strncmp (string + decoded - (length - at), "ABCDEFGHIJKLMNOPQRST",
                                 length - at) == 0);
                size_t written;
                char *again = nd_json_dump (value, &written);
                //  \u00e9 comes back as the UTF-8 it stands for
                if (b == 4)
                    assert (again && written == (size_t) size - 4);
                else
                    assert (again && written == (size_t) size && memcmp (again, text, written) == 0);
                free (again);
                json_decref (value);
            }
}

void
nd_json_test (bool verbose)
{
    if (verbose)
        printf (" * nd_json: ");

    json_t *list = json_pack ("[s, i, s]", "customer", 7, "loyal");
    assert (nd_json_has_string (list, "loyal") && !nd_json_has_string (list, "7"));
    assert (!nd_json_has_string (list, "lapsed") && !nd_json_has_string (NULL, "loyal"));
    json_decref (list);

    //  A Segment-style event, escapes and astral characters included
    const char *event =
        "{\"type\":\"track\",\"event\":\"Order Completed\",\"userId\":\"u-17\",\"properties\":"
        "{\"total\":19.99,\"items\":[1,-2,3.5e10,-0,-0.0],\"coupon\":null,\"gift\":false,"
        "\"note\":\"caf\\u00e9 \\ud83d\\ude00 \\\"q\\\" \\/ \\u001f\\n\\t\",\"ok\":true}}";
    s_expect (event, strlen (event), NULL);
    const char *spaced = " [ 1 , {\"a\" : [ ] , \"a\" : { } } ]\r\n\t";
    s_expect (spaced, strlen (spaced), NULL);

    //  Only size bytes are read; the reasons say what and where
    s_expect ("[1]garbage", 3, NULL);
    s_expect ("[1] x", 5, "end of input expected at byte 4");
    s_expect ("\"text\"", 6, "'{' or '[' expected at byte 0");
    s_expect ("", 0, "'{' or '[' expected at byte 0");
    s_expect ("[\"a\\x\"]", 7, "invalid escape at byte 3");
    s_expect ("[\"\\ud800\"]", 10, "unpaired surrogate escape at byte 2");
    s_expect ("[\"\\u0000\"]", 10, "\\u0000 not allowed at byte 2");
    s_expect ("[\"\xc0\xaf\"]", 6, "invalid UTF-8 at byte 2");
    s_expect ("[\"\xed\xa0\x80\"]", 7, "invalid UTF-8 at byte 2");
    s_expect ("[\"a\tb\"]", 7, "control character in string at byte 3");
    s_expect ("[9223372036854775807,-9223372036854775808]", 42, NULL);
    s_expect ("[9223372036854775808]", 21, "too big integer at byte 1");
    s_expect ("[1e400]", 7, "real number overflow at byte 1");
    s_expect ("[1e-400,0.1e1,123456789012345678901234567890]", 45,
              "too big integer at byte 14");
    s_expect ("[01]", 4, "invalid number at byte 1");
    s_expect ("{\"a\":1,}", 8, "string expected at byte 7");
    s_expect ("[tru]", 5, "invalid literal at byte 1");

    //  jansson drops one NUL right after a number or literal, nowhere else
    s_expect ("[1\0,true\0]", 10, NULL);
    s_expect ("[1\0\0]", 5, "',' or ']' expected at byte 3");
    s_expect ("[\"a\"\0]", 6, "',' or ']' expected at byte 4");

    s_test_limits ();
    s_test_writer ();
    s_test_runs ();

    if (verbose)
        printf ("OK\n");
}
