/*  json_diff.c - differential test of nd_json against jansson.

    nd_json_parse must accept exactly what json_loadb (flags 0) accepts and
    build the same values; nd_json_dump must write exactly what json_dumps
    (JSON_COMPACT) writes. "The same value" is checked strictly: json_equal,
    and json_dumps of both giving the same bytes, which also tells -0.0 from
    0.0 and notices key order. Inputs:
      1. hand-written cases around every rule (escapes, surrogates, UTF-8,
         numbers, literals, structure, duplicate keys, nesting depth);
      2. random documents built as jansson values and written by json_dumps
         in several styles, plus random text written here with the syntax
         jansson never writes (lower-case escapes, "1E+05", long digits);
      3. random byte mutations of both kinds of document;
      4. random reals, for the writer's number formatting alone.
    Every input is parsed from its own malloc'd buffer of exactly its size,
    so a read past the end is an ASan error. The PRNG is seeded: a failure
    reproduces.
*/
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include "nd_json.h"
#include "tests.h"

#define S_RANDOM_DOCS   200000  /* jansson-written documents */
#define S_RANDOM_TEXTS  100000  /* documents written here */
#define S_MUTATIONS     200000
#define S_RANDOM_REALS  200000
#define S_SHOWN_FAILURES 20

typedef struct {
    uint64_t seed;              /* xorshift64* state */
    int passed;
    int failed;
    bool verbose;
} s_diff_t;

/*  Text being written, growing as needed.                                */
typedef struct {
    char *data;
    size_t size;
    size_t cap;
} s_text_t;

/* ------------------------------------------------------------- plumbing */

static uint64_t
s_random (s_diff_t *self)
{
    self->seed ^= self->seed >> 12;
    self->seed ^= self->seed << 25;
    self->seed ^= self->seed >> 27;
    return self->seed * 0x2545F4914F6CDD1DULL;
}

/*  Uniform in [0, limit).                                                */
static uint32_t
s_below (s_diff_t *self, uint32_t limit)
{
    return (uint32_t) ((s_random (self) >> 32) % limit);
}

static void
s_put (s_text_t *text, const char *bytes, size_t size)
{
    if (text->size + size + 1 > text->cap) {
        text->cap = (text->size + size + 1) * 2;
        text->data = realloc (text->data, text->cap);
        if (!text->data) {
            fprintf (stderr, "json diff: out of memory\n");
            exit (1);
        }
    }
    memcpy (text->data + text->size, bytes, size);
    text->size += size;
    text->data [text->size] = 0;
}

/*  Prints input readably, cut short when long.                           */
static void
s_show (const char *label, const char *data, size_t size)
{
    printf ("  %s (%zu bytes): ", label, size);
    for (size_t i = 0; i < size && i < 160; i++) {
        unsigned char c = (unsigned char) data [i];
        if (c >= 0x20 && c < 0x7F)
            putchar (c);
        else
            printf ("\\x%02x", c);
    }
    printf ("%s\n", size > 160? "...": "");
}

static void
s_record (s_diff_t *self, bool same, const char *what, const char *data, size_t size)
{
    if (same) {
        self->passed++;
        return;
    }
    if (++self->failed <= S_SHOWN_FAILURES) {
        printf ("FAIL json diff: %s\n", what);
        if (self->verbose && data)
            s_show ("input", data, size);
    }
}

/* ---------------------------------------------------------- comparisons */

/*  Our writer against jansson's on value, expected being what json_dumps
    wrote: the same bytes, or both NULL.                                  */
static void
s_compare_dump (s_diff_t *self, const json_t *value, const char *expected, const char *what)
{
    size_t size = 0;
    char *written = nd_json_dump (value, &size);
    bool same = expected && written
              ? size == strlen (expected) && memcmp (written, expected, size) == 0
              : expected == written;
    s_record (self, same, what, expected? expected: written, expected? strlen (expected): size);
    if (!same && self->verbose && self->failed <= S_SHOWN_FAILURES && written)
        s_show ("nd_json wrote", written, size);
    free (written);
}

static void
s_check_dump (s_diff_t *self, const json_t *value, const char *what)
{
    char *expected = json_dumps (value, JSON_COMPACT);
    s_compare_dump (self, value, expected, what);
    free (expected);
}

/*  Both parsers on data: the same verdict and, when both accept, strictly
    the same value: json_equal, and jansson writes both alike. Then our
    writer on what jansson read.                                          */
static void
s_check_parse (s_diff_t *self, const char *data, size_t size, const char *what)
{
    char *exact = malloc (size? size: 1);
    if (!exact)
        exit (1);
    memcpy (exact, data, size);
    char error [128] = "";
    json_t *ours = nd_json_parse (exact, size, error, sizeof (error));
    json_t *theirs = json_loadb (exact, size, 0, NULL);
    char *expected = theirs? json_dumps (theirs, JSON_COMPACT): NULL;
    bool same = ours == theirs;
    if (ours && theirs) {
        char *ours_text = json_dumps (ours, JSON_COMPACT);
        same = json_equal (ours, theirs) && ours_text && expected
            && strcmp (ours_text, expected) == 0;
        free (ours_text);
    }
    s_record (self, same, what, data, size);
    if (!same && self->verbose && self->failed <= S_SHOWN_FAILURES)
        printf ("  nd_json %s, jansson %s\n", ours? "accepted": error,
                theirs? "accepted": "refused");
    if (theirs)
        s_compare_dump (self, theirs, expected, what);
    free (expected);
    json_decref (ours);
    json_decref (theirs);
    free (exact);
}

/* ------------------------------------------------------ 1. hand-written */

#define S_CASE(text) { text, sizeof (text) - 1 }

static const struct {
    const char *text;
    size_t size;
} s_corpus [] = {
    //  Structure and whitespace
    S_CASE ("{}"), S_CASE ("[]"), S_CASE (" \t\r\n{ }\n"), S_CASE ("[ 1 ,\n2\t,\r3 ]"),
    S_CASE ("{\"a\":{\"b\":[true,false,null,{}]}}"), S_CASE ("{ \"a\" : 1 , \"b\" : [ ] }"),
    S_CASE (""), S_CASE (" "), S_CASE ("["), S_CASE ("]"), S_CASE ("{"), S_CASE ("}"),
    S_CASE ("[1,]"), S_CASE ("[,1]"), S_CASE ("[1,,2]"), S_CASE ("[1 2]"), S_CASE ("[}"),
    S_CASE ("{]"), S_CASE ("[[]"), S_CASE ("[]]"), S_CASE ("{}}"), S_CASE ("[][]"),
    S_CASE ("[] []"), S_CASE ("{} x"), S_CASE ("[]garbage"), S_CASE ("[1]\f"), S_CASE ("[1]\v"),
    S_CASE ("\xef\xbb\xbf[]"), S_CASE ("[1] \0"), S_CASE ("\0[]"), S_CASE ("[\0]"),
    S_CASE ("{\"a\"}"), S_CASE ("{\"a\":}"), S_CASE ("{\"a\" 1}"), S_CASE ("{\"a\":1,}"),
    S_CASE ("{,}"), S_CASE ("{1:2}"), S_CASE ("{\"a\":1 \"b\":2}"), S_CASE ("{\"a\"::1}"),
    S_CASE ("{'a':1}"), S_CASE ("[\"unterminated]"), S_CASE ("[\xc3\xa9]"), S_CASE ("[/**/]"),
    //  Top-level scalars are refused
    S_CASE ("\"string\""), S_CASE ("1"), S_CASE ("-1"), S_CASE ("1.5"), S_CASE ("true"),
    S_CASE ("null"), S_CASE (" false "),
    //  Escapes
    S_CASE ("[\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"]"), S_CASE ("[\"\\u0041\\u00e9\\u20AC\\uFFFF\\uffff\"]"),
    S_CASE ("[\"\\u00E9\\u00e9\\u07ff\\u0800\\ud7ff\\ue000\\u0001\\u001F\"]"),
    S_CASE ("[\"\\x\"]"), S_CASE ("[\"\\U0041\"]"), S_CASE ("[\"\\u12\"]"), S_CASE ("[\"\\u12G4\"]"),
    S_CASE ("[\"\\\"]"), S_CASE ("[\"\\"), S_CASE ("[\"\\u"), S_CASE ("[\"\\u00"), S_CASE ("[\"\\'\"]"),
    S_CASE ("[\"\\a\"]"), S_CASE ("[\"\\0\"]"), S_CASE ("[\"\\ \"]"), S_CASE ("[\"\\\n\"]"),
    S_CASE ("[\"\\u0000\"]"), S_CASE ("[\"a\\u0000b\"]"), S_CASE ("{\"\\u0000\":1}"),
    S_CASE ("{\"a\\u0000\":1}"), S_CASE ("[\"\\u0080\\u0100\"]"),
    //  Surrogate pairs and lone surrogates
    S_CASE ("[\"\\uD83D\\uDE00\"]"), S_CASE ("[\"\\ud83d\\ude00\"]"), S_CASE ("[\"\\uD83d\\uDe00\"]"),
    S_CASE ("[\"\\ud800\\udc00\\udbff\\udfff\"]"), S_CASE ("[\"\\ud800\"]"), S_CASE ("[\"\\ud800x\"]"),
    S_CASE ("[\"\\ud800\\ud800\"]"), S_CASE ("[\"\\udc00\"]"), S_CASE ("[\"\\udc00\\ud800\"]"),
    S_CASE ("[\"\\ud800\\n\"]"), S_CASE ("[\"\\ud800\""), S_CASE ("[\"\\ud800\\u\"]"),
    S_CASE ("[\"\\ud800\\u12\"]"), S_CASE ("[\"\\ud800\\uzzzz\"]"), S_CASE ("[\"\\udfff\"]"),
    S_CASE ("[\"\\ud800\\ue000\"]"), S_CASE ("[\"\\ud800\\u0041\"]"), S_CASE ("{\"\\ud83d\\ude00\":1}"),
    S_CASE ("{\"\\ud83d\":1}"),
    //  UTF-8: valid, overlong, surrogates, out of range, truncated, raw controls
    S_CASE ("[\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"]"), S_CASE ("[\"\xf4\x8f\xbf\xbf\"]"),
    S_CASE ("[\"\xc2\x80\xdf\xbf\xe0\xa0\x80\xef\xbf\xbf\xf0\x90\x80\x80\"]"),
    S_CASE ("[\"\xed\x9f\xbf\xee\x80\x80\"]"), S_CASE ("[\"\x80\"]"), S_CASE ("[\"\xbf\"]"),
    S_CASE ("[\"\xc0\x80\"]"), S_CASE ("[\"\xc1\xbf\"]"), S_CASE ("[\"\xe0\x80\xaf\"]"),
    S_CASE ("[\"\xe0\x9f\xbf\"]"), S_CASE ("[\"\xf0\x80\x80\xaf\"]"), S_CASE ("[\"\xf0\x8f\xbf\xbf\"]"),
    S_CASE ("[\"\xed\xa0\x80\"]"), S_CASE ("[\"\xed\xbf\xbf\"]"), S_CASE ("[\"\xed\xa0\xbd\xed\xb8\x80\"]"),
    S_CASE ("[\"\xf4\x90\x80\x80\"]"), S_CASE ("[\"\xf5\x80\x80\x80\"]"), S_CASE ("[\"\xf8\x88\x80\x80\x80\"]"),
    S_CASE ("[\"\xfe\"]"), S_CASE ("[\"\xff\"]"), S_CASE ("[\"\xc3\"]"), S_CASE ("[\"\xe2\x82\"]"),
    S_CASE ("[\"\xf0\x9f\x98\"]"), S_CASE ("[\"\xc3"), S_CASE ("[\"\xf0\x9f\x98"),
    S_CASE ("[\"\xc3\x28\"]"), S_CASE ("[\"\xe2\x28\xa1\"]"), S_CASE ("[\"\xf0\x28\x8c\xbc\"]"),
    S_CASE ("[\"\x01\"]"), S_CASE ("[\"\x1f\"]"), S_CASE ("[\"\x7f\"]"), S_CASE ("[\"a\0b\"]"),
    S_CASE ("[\"a\nb\"]"), S_CASE ("[\"a\tb\"]"), S_CASE ("{\"\xc3\xa9\":\"\xc3\xa9\"}"),
    S_CASE ("{\"\xff\":1}"), S_CASE ("[\"0123456789abcdef\xc3\xa9" "0123456789abcdef\"]"),
    //  Numbers
    S_CASE ("[0]"), S_CASE ("[-0]"), S_CASE ("[-0.0]"), S_CASE ("[0.0]"), S_CASE ("[-0e0]"),
    S_CASE ("[0e0]"), S_CASE ("[0E+0]"), S_CASE ("[1E2]"), S_CASE ("[1e+2]"), S_CASE ("[1e-2]"),
    S_CASE ("[1.5e308]"), S_CASE ("[1e308]"), S_CASE ("[1.7976931348623157e308]"),
    S_CASE ("[1.7976931348623158e308]"), S_CASE ("[1.7976931348623159e308]"), S_CASE ("[1e400]"),
    S_CASE ("[-1e400]"), S_CASE ("[1e-400]"), S_CASE ("[-1e-400]"), S_CASE ("[4.9e-324]"),
    S_CASE ("[2.4703282292062327e-324]"), S_CASE ("[2.4703282292062328e-324]"),
    S_CASE ("[2.2250738585072011e-308]"), S_CASE ("[2.2250738585072014e-308]"),
    S_CASE ("[9223372036854775807]"), S_CASE ("[9223372036854775808]"),
    S_CASE ("[-9223372036854775808]"), S_CASE ("[-9223372036854775809]"),
    S_CASE ("[18446744073709551616]"), S_CASE ("[12345678901234567890123]"),
    S_CASE ("[-12345678901234567890123]"), S_CASE ("[00]"), S_CASE ("[01]"), S_CASE ("[-01]"),
    S_CASE ("[-00]"), S_CASE ("[0.]"), S_CASE ("[1.]"), S_CASE ("[.5]"), S_CASE ("[1.e5]"),
    S_CASE ("[1e]"), S_CASE ("[1e+]"), S_CASE ("[1e-]"), S_CASE ("[-]"), S_CASE ("[+1]"),
    S_CASE ("[- 1]"), S_CASE ("[1.5.3]"), S_CASE ("[0x10]"), S_CASE ("[1_000]"),
    S_CASE ("[Infinity]"), S_CASE ("[NaN]"), S_CASE ("[-Infinity]"), S_CASE ("[1e5x]"),
    S_CASE ("[123abc]"), S_CASE ("[0.1]"), S_CASE ("[0.30000000000000004]"),
    S_CASE ("[123456789012345678901234567890.5]"), S_CASE ("[9007199254740993]"),
    S_CASE ("[9007199254740993.0]"), S_CASE ("[9007199254740992.0]"), S_CASE ("[9007199254740991.0]"),
    S_CASE ("[1e22]"), S_CASE ("[1e23]"), S_CASE ("[1.0e-22]"), S_CASE ("[123456789e-22]"),
    S_CASE ("[3.0e-23]"), S_CASE ("[10000000000000000000000e-22]"),
    S_CASE ("[0.0000000000000000000000000001]"), S_CASE ("[1e-7]"), S_CASE ("[19.99]"),
    S_CASE ("[1.00000000000000011102230246251565404236316680908203125]"),
    S_CASE ("[1.00000000000000011102230246251565404236316680908203124]"),
    S_CASE ("[1e0000000000000000000000000000000001]"), S_CASE ("[1e-99999999999999999999]"),
    S_CASE ("[0e99999999999999999999]"), S_CASE ("[1e99999999999999999999]"),
    S_CASE ("[1234567890123456789]"), S_CASE ("[1234567890123456789.0]"),
    S_CASE ("[12345678901234567890.0]"), S_CASE ("[0.1e1,1e-1,100e-2,-5E-1]"),
    //  Literals
    S_CASE ("[true,false,null]"), S_CASE ("[True]"), S_CASE ("[nul]"), S_CASE ("[truex]"),
    S_CASE ("[true1]"), S_CASE ("[nulll]"), S_CASE ("[t]"), S_CASE ("[fals]"), S_CASE ("[null"),
    //  Duplicate keys: the last value wins, in the first key's place
    S_CASE ("{\"a\":1,\"a\":2}"), S_CASE ("{\"a\":1,\"b\":2,\"a\":3}"),
    S_CASE ("{\"a\":{\"x\":1},\"a\":[2]}"), S_CASE ("{\"\":1,\"\":2}"),
    S_CASE ("{\"a\\u0062\":1,\"ab\":2,\"c\":3}"), S_CASE ("{\"\\u00e9\":1,\"\xc3\xa9\":2}"),
};

/*  Arrays (or objects with key "k") nested depth deep around an optional
    scalar, possibly left unclosed.                                        */
static void
s_check_nested (s_diff_t *self, size_t depth, bool objects, bool scalar, bool closed)
{
    s_text_t text = { NULL, 0, 0 };
    for (size_t i = 0; i < depth; i++)
        s_put (&text, objects? "{\"k\":": "[", objects? 5: 1);
    if (scalar || objects)
        s_put (&text, "0", 1);
    for (size_t i = 0; closed && i < depth; i++)
        s_put (&text, objects? "}": "]", 1);
    char what [80];
    snprintf (what, sizeof (what), "%zu deep %s%s%s", depth, objects? "objects": "arrays",
              scalar? " with a scalar": "", closed? "": " unclosed");
    s_check_parse (self, text.data, text.size, what);
    free (text.data);
}

static void
s_run_corpus (s_diff_t *self)
{
    for (size_t i = 0; i < sizeof (s_corpus) / sizeof (s_corpus [0]); i++) {
        char what [80];
        snprintf (what, sizeof (what), "corpus case %zu", i);
        s_check_parse (self, s_corpus [i].text, s_corpus [i].size, what);
    }
    const size_t depths [] = { 1, 2047, 2048, 2049, 3000 };
    for (size_t i = 0; i < sizeof (depths) / sizeof (depths [0]); i++)
        for (int variant = 0; variant < 8; variant++)
            s_check_nested (self, depths [i], variant & 1, variant & 2, variant & 4);
}

/* ------------------------------------------- 2. random jansson documents */

/*  A code point: mostly ASCII, with quotes, backslashes, controls, two-,
    three- and four-byte characters. NUL is rare: it makes jansson's
    reader refuse the whole document.                                      */
static uint32_t
s_random_code (s_diff_t *self)
{
    uint32_t kind = s_below (self, 100);
    if (kind < 55)
        return 0x20 + s_below (self, 0x5F);
    if (kind < 62)
        return (uint32_t) "\"\\/\b\f\n\r\t\x7f" [s_below (self, 9)];
    if (kind < 66)
        return s_below (self, 2000)? 1 + s_below (self, 0x1F): 0;
    if (kind < 76)
        return 0x80 + s_below (self, 0x780);
    if (kind < 88) {
        uint32_t code = 0x800 + s_below (self, 0xF800);
        return code >= 0xD800 && code <= 0xDFFF? code + 0x800: code;
    }
    return 0x10000 + s_below (self, 0x100000);
}

static size_t
s_encode (char *out, uint32_t code)
{
    if (code < 0x80) {
        out [0] = (char) code;
        return 1;
    }
    if (code < 0x800) {
        out [0] = (char) (0xC0 | code >> 6);
        out [1] = (char) (0x80 | (code & 0x3F));
        return 2;
    }
    if (code < 0x10000) {
        out [0] = (char) (0xE0 | code >> 12);
        out [1] = (char) (0x80 | (code >> 6 & 0x3F));
        out [2] = (char) (0x80 | (code & 0x3F));
        return 3;
    }
    out [0] = (char) (0xF0 | code >> 18);
    out [1] = (char) (0x80 | (code >> 12 & 0x3F));
    out [2] = (char) (0x80 | (code >> 6 & 0x3F));
    out [3] = (char) (0x80 | (code & 0x3F));
    return 4;
}

/*  Random UTF-8 of up to max_codes code points; some long plain runs.    */
static void
s_random_utf8 (s_diff_t *self, s_text_t *text, uint32_t max_codes)
{
    uint32_t codes = s_below (self, max_codes + 1);
    bool plain = s_below (self, 4) == 0;
    for (uint32_t i = 0; i < codes; i++) {
        char bytes [4];
        uint32_t code = plain? 'a' + s_below (self, 26): s_random_code (self);
        s_put (text, bytes, s_encode (bytes, code));
    }
}

/*  10^power for power in -40 .. 49; near enough for picking magnitudes. */
static double
s_power_of_ten (int power)
{
    double value = 1;
    for (int i = 0; i < (power < 0? -power: power); i++)
        value *= 10;
    return power < 0? 1 / value: value;
}

/*  The next double away from or towards zero.                           */
static double
s_neighbour (double value, bool away)
{
    uint64_t bits;
    memcpy (&bits, &value, sizeof (bits));
    if (value == 0)
        bits = away? 1: bits;
    else
        bits += away? 1: (uint64_t) -1;
    memcpy (&value, &bits, sizeof (value));
    return value;
}

static double
s_random_real (s_diff_t *self)
{
    static const double specials [] = {
        0.0, -0.0, 1e-6, 1e-5, 1e16, 1e17, 1e37, 1e38, 1e-300, 1e308,
        5e-324, 2.2250738585072014e-308, 1.7976931348623157e308, 0.5, 9007199254740993.0,
        1125899906842624.25, 1125899906842624.75, 99999999999999999.0, 0.1, 1e21, 1e-7
    };
    uint32_t kind = s_below (self, 100);
    double value;
    if (kind < 30) {
        uint64_t bits = s_random (self);
        memcpy (&value, &bits, sizeof (value));
        if (!isfinite (value))
            value = (double) (bits >> 11);
    }
    else
    if (kind < 65)              /* prices and the like */
        value = (double) ((int64_t) s_below (self, 2000000) - 1000000)
              / s_power_of_ten ((int) s_below (self, 5));
    else
    if (kind < 90)              /* any magnitude, mostly the fast path's */
        value = ((double) s_below (self, 1u << 30) / (1u << 30))
              * s_power_of_ten ((int) s_below (self, 90) - 40);
    else {
        value = specials [s_below (self, sizeof (specials) / sizeof (specials [0]))];
        if (s_below (self, 2))
            value = s_neighbour (value, s_below (self, 2));
    }
    return isfinite (value)? value: 0;
}

static json_int_t
s_random_integer (s_diff_t *self)
{
    static const json_int_t specials [] = {
        0, 1, -1, INT64_MAX, INT64_MIN, INT64_MAX - 1, INT64_MIN + 1,
        9007199254740992LL, 9007199254740993LL, -9007199254740993LL
    };
    uint32_t kind = s_below (self, 10);
    if (kind < 5)
        return (json_int_t) s_below (self, 2001) - 1000;
    if (kind < 8)
        return (json_int_t) s_random (self);
    return specials [s_below (self, sizeof (specials) / sizeof (specials [0]))];
}

static json_t *s_random_value (s_diff_t *self, int depth);

static json_t *
s_random_container (s_diff_t *self, int depth, bool object)
{
    json_t *container = object? json_object (): json_array ();
    //  Now and then a document past nd_json's 4 KB of stack scratch
    uint32_t size = depth == 0 && s_below (self, 100) == 0? 30 + s_below (self, 30)
                  : s_below (self, depth < 2? 9: 5);
    for (uint32_t i = 0; i < size; i++) {
        json_t *item = s_random_value (self, depth + 1);
        if (!object) {
            json_array_append_new (container, item);
            continue;
        }
        s_text_t key = { NULL, 0, 0 };
        s_put (&key, "", 0);
        s_random_utf8 (self, &key, s_below (self, 3)? 8: 1);
        //  Keys with NUL cannot be read back; keep them out
        if (memchr (key.data, 0, key.size))
            key.size = 0;
        json_object_setn_new (container, key.data, key.size, item);
        free (key.data);
    }
    return container;
}

static json_t *
s_random_value (s_diff_t *self, int depth)
{
    uint32_t kind = depth == 0? s_below (self, 30): s_below (self, 100);
    bool nested = depth < 5;
    if (kind < 15 && nested)
        return s_random_container (self, depth, true);
    if (kind < 30 && nested)
        return s_random_container (self, depth, false);
    if (kind < 60) {
        s_text_t text = { NULL, 0, 0 };
        s_put (&text, "", 0);
        s_random_utf8 (self, &text, s_below (self, 5)? 12: 60);
        json_t *string = json_stringn (text.data, text.size);
        free (text.data);
        return string;
    }
    if (kind < 75)
        return json_integer (s_random_integer (self));
    if (kind < 90)
        return json_real (s_random_real (self));
    return kind < 93? json_true (): kind < 96? json_false (): json_null ();
}

/*  The styles jansson writes in: indented, spaced, ASCII-only with
    surrogate-pair escapes, escaped slashes, sorted keys, short reals.    */
static size_t
s_random_flags (s_diff_t *self)
{
    static const size_t styles [] = {
        JSON_COMPACT, 0, JSON_INDENT (2), JSON_INDENT (1) | JSON_ENSURE_ASCII,
        JSON_COMPACT | JSON_ENSURE_ASCII, JSON_COMPACT | JSON_ESCAPE_SLASH,
        JSON_SORT_KEYS | JSON_INDENT (4), JSON_COMPACT | JSON_REAL_PRECISION (6)
    };
    return styles [s_below (self, sizeof (styles) / sizeof (styles [0]))];
}

/*  One random document, written by jansson. Returns the text (ours to
    free) and, through value_p, the value it was written from.            */
static char *
s_random_document (s_diff_t *self, json_t **value_p)
{
    json_t *value = s_random_value (self, 0);
    char *text = json_dumps (value, s_random_flags (self));
    if (value_p)
        *value_p = value;
    else
        json_decref (value);
    return text;
}

static void
s_run_documents (s_diff_t *self)
{
    for (int i = 0; i < S_RANDOM_DOCS; i++) {
        json_t *value;
        char *text = s_random_document (self, &value);
        s_check_dump (self, value, "random document, written");
        if (text)
            s_check_parse (self, text, strlen (text), "random document, read");
        free (text);
        json_decref (value);
    }
}

/* ---------------------------------------------- 2. random text, our own */

static void
s_text_space (s_diff_t *self, s_text_t *text)
{
    static const char *spaces [] = { "", "", "", "", " ", "\n", "\t", "\r\n  " };
    const char *space = spaces [s_below (self, 8)];
    s_put (text, space, strlen (space));
}

/*  \u and four hex digits, each in either case.                          */
static void
s_text_escape (s_diff_t *self, s_text_t *text, uint32_t code)
{
    char escape [6] = { '\\', 'u' };
    for (int i = 0; i < 4; i++) {
        uint32_t digit = code >> (12 - 4 * i) & 15;
        escape [2 + i] = (s_below (self, 2)? "0123456789abcdef": "0123456789ABCDEF") [digit];
    }
    s_put (text, escape, 6);
}

/*  One piece of a string literal: a plain run (long ones too, for the
    word-at-a-time scan), a raw multi-byte character, a short or \u
    escape, a surrogate pair; rarely a lone surrogate or \u0000.          */
static void
s_text_string_piece (s_diff_t *self, s_text_t *text)
{
    uint32_t kind = s_below (self, 100);
    if (kind < 35) {
        for (uint32_t n = s_below (self, 40); n > 0; n--) {
            char c = (char) (0x20 + s_below (self, 0x5F));
            s_put (text, c == '"' || c == '\\'? "x": &c, 1);
        }
    }
    else
    if (kind < 50) {
        uint32_t code = s_random_code (self);
        char bytes [4];
        s_put (text, bytes, s_encode (bytes, code < 0x80? 0xE9: code));
    }
    else
    if (kind < 70)
        s_put (text, (char []) { '\\', "\"\\/bfnrt" [s_below (self, 8)] }, 2);
    else
    if (kind < 90) {
        uint32_t code = s_random_code (self);
        s_text_escape (self, text, code > 0xFFFF? 0xFFFD: code);
    }
    else
    if (kind < 98) {
        uint32_t astral = s_below (self, 0x100000);     /* code point - 0x10000 */
        s_text_escape (self, text, 0xD800 + (astral >> 10));
        s_text_escape (self, text, 0xDC00 + (astral & 0x3FF));
    }
    else
        s_text_escape (self, text, s_below (self, 4)? 0xD800 + s_below (self, 0x800): 0);
}

static void
s_text_string (s_diff_t *self, s_text_t *text)
{
    s_put (text, "\"", 1);
    for (uint32_t n = s_below (self, 6); n > 0; n--)
        s_text_string_piece (self, text);
    s_put (text, "\"", 1);
}

/*  Keys from a small pool collide, "\u0061" with "a" too.                */
static void
s_text_key (s_diff_t *self, s_text_t *text)
{
    static const char *pool [] = { "\"a\"", "\"b\"", "\"\\u0061\"", "\"id\"", "\"\"" };
    if (s_below (self, 3))
        s_text_string (self, text);
    else {
        const char *key = pool [s_below (self, 5)];
        s_put (text, key, strlen (key));
    }
}

static void
s_text_digits (s_diff_t *self, s_text_t *text, uint32_t count)
{
    for (uint32_t i = 0; i < count; i++)
        s_put (text, &"0123456789" [s_below (self, 10)], 1);
}

/*  Numbers in every form the grammar allows, some too big for json_int_t
    or for a double.                                                      */
static void
s_text_number (s_diff_t *self, s_text_t *text)
{
    if (s_below (self, 3) == 0)
        s_put (text, "-", 1);
    uint32_t digits = s_below (self, 50)? 1 + s_below (self, 8): 1 + s_below (self, 25);
    if (digits == 1)
        s_text_digits (self, text, 1);
    else {
        s_put (text, &"123456789" [s_below (self, 9)], 1);
        s_text_digits (self, text, digits - 1);
    }
    if (s_below (self, 5) < 2) {
        s_put (text, ".", 1);
        s_text_digits (self, text, 1 + (s_below (self, 10)? s_below (self, 8): s_below (self, 30)));
    }
    if (s_below (self, 4) == 0) {
        s_put (text, s_below (self, 2)? "e": "E", 1);
        uint32_t sign = s_below (self, 3);
        s_put (text, sign == 0? "+": "-", sign < 2);
        s_text_digits (self, text, 1 + s_below (self, 3));
    }
}

static void s_text_value (s_diff_t *self, s_text_t *text, int depth);

static void
s_text_container (s_diff_t *self, s_text_t *text, int depth, bool object)
{
    s_put (text, object? "{": "[", 1);
    uint32_t size = s_below (self, 6);
    for (uint32_t i = 0; i < size; i++) {
        if (i)
            s_put (text, ",", 1);
        s_text_space (self, text);
        if (object) {
            s_text_key (self, text);
            s_text_space (self, text);
            s_put (text, ":", 1);
            s_text_space (self, text);
        }
        s_text_value (self, text, depth + 1);
        s_text_space (self, text);
    }
    s_put (text, object? "}": "]", 1);
}

static void
s_text_value (s_diff_t *self, s_text_t *text, int depth)
{
    static const char *literals [] = { "true", "false", "null" };
    uint32_t kind = depth == 0? s_below (self, 20): s_below (self, 100);
    if (kind < 10 && depth < 5)
        s_text_container (self, text, depth, true);
    else
    if (kind < 20 && depth < 5)
        s_text_container (self, text, depth, false);
    else
    if (kind < 50)
        s_text_string (self, text);
    else
    if (kind < 85)
        s_text_number (self, text);
    else {
        const char *literal = literals [s_below (self, 3)];
        s_put (text, literal, strlen (literal));
    }
}

static void
s_random_text (s_diff_t *self, s_text_t *text)
{
    s_text_space (self, text);
    s_text_value (self, text, 0);
    s_text_space (self, text);
}

static void
s_run_texts (s_diff_t *self)
{
    for (int i = 0; i < S_RANDOM_TEXTS; i++) {
        s_text_t text = { NULL, 0, 0 };
        s_random_text (self, &text);
        s_check_parse (self, text.data, text.size, "random text");
        free (text.data);
    }
}

/* ------------------------------------------------------- 3. mutations */

/*  Replaces, inserts, deletes or flips one byte, truncates, or copies a
    slice elsewhere. New bytes are random or ones that matter to JSON.    */
static void
s_mutate (s_diff_t *self, s_text_t *text)
{
    static const char telling [] = "\"\\u{}[],:09-.eE+ \n\0\x1f\x7f\x80\xbf\xc0\xc3\xe0\xed\xf0\xf4\xf5\xff";
    char byte = s_below (self, 2)? (char) s_below (self, 256)
                                 : telling [s_below (self, sizeof (telling) - 1)];
    size_t at = text->size? s_below (self, (uint32_t) text->size): 0;
    uint32_t kind = s_below (self, 6);
    if (kind == 1 || kind == 4 || text->size == 0) {
        size_t size = kind == 4? s_below (self, (uint32_t) (text->size - at) + 1): 1;
        char *insert = malloc (size);
        if (!insert)
            exit (1);
        memcpy (insert, kind == 4? text->data + at: &byte, size);
        size_t where = s_below (self, (uint32_t) text->size + 1);
        s_put (text, insert, size);     /* grows; then moved into place */
        memmove (text->data + where + size, text->data + where, text->size - size - where);
        memcpy (text->data + where, insert, size);
        free (insert);
    }
    else
    if (kind == 0)
        text->data [at] = byte;
    else
    if (kind == 2) {
        memmove (text->data + at, text->data + at + 1, text->size - at - 1);
        text->size--;
    }
    else
    if (kind == 3)
        text->size = at;
    else
        text->data [at] ^= (char) (1 << s_below (self, 8));
}

static void
s_run_mutations (s_diff_t *self)
{
    for (int i = 0; i < S_MUTATIONS; i++) {
        s_text_t text = { NULL, 0, 0 };
        if (i & 1)
            s_random_text (self, &text);
        else {
            char *document = s_random_document (self, NULL);
            if (document)
                s_put (&text, document, strlen (document));
            free (document);
        }
        for (uint32_t n = 1 + s_below (self, 3); n > 0; n--)
            s_mutate (self, &text);
        s_check_parse (self, text.data, text.size, "mutated document");
        free (text.data);
    }
}

/* ----------------------------------------------------------- 4. reals */

static void
s_run_reals (s_diff_t *self)
{
    json_t *array = json_array ();
    for (int i = 0; i < S_RANDOM_REALS; i++) {
        json_array_clear (array);
        json_array_append_new (array, json_real (s_random_real (self)));
        s_check_dump (self, array, "random real, written");
    }
    json_decref (array);
}

int
json_diff_run (bool verbose)
{
    const char *seed = getenv ("ND_JSON_DIFF_SEED");
    s_diff_t self = {
        .seed = (seed? strtoull (seed, NULL, 0) * 0x9E3779B97F4A7C15ULL: 0x9E3779B97F4A7C15ULL) | 1,
        .verbose = verbose
    };
    s_run_corpus (&self);
    s_run_documents (&self);
    s_run_texts (&self);
    s_run_mutations (&self);
    s_run_reals (&self);
    printf ("json diff: %d passed, %d failed\n", self.passed, self.failed);
    return self.failed;
}
