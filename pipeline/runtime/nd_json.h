/*  nd_json.h - a fast JSON parser and compact writer for jansson values.

    Every stage reads and writes message bodies as JSON and works on them
    through jansson. jansson's own json_loadb and json_dumps cost several
    times what building the values does, because they move each byte
    through a callback; these two do the same job over one flat buffer and
    still produce and consume ordinary json_t values.

    nd_json_parse accepts exactly what json_loadb (data, size, 0, ...)
    accepts and builds the same values:
      - the top level must be an object or an array; whitespace may follow
        it, nothing else may;
      - integers that fit json_int_t become integers, larger ones are an
        error (not reals); "-0" is the integer 0, "-0.0" the real -0.0;
        reals are what strtod gives, and one that overflows is an error;
      - strings must be valid UTF-8 (no overlong forms, no UTF-16
        surrogates, nothing past U+10FFFF); \uXXXX escapes must pair their
        surrogates; \u0000 is refused, as without JSON_ALLOW_NUL;
      - a repeated key keeps the last value, in the first key's place;
      - values nest at most JSON_PARSER_MAX_DEPTH (2048) deep, counting
        the innermost scalar as jansson does.

    nd_json_dump writes the same bytes as json_dumps (value, JSON_COMPACT):
    keys in insertion order, reals as "%.17g" with ".0" added to whole
    numbers and the exponent's "+" and leading zeros dropped, no escaping
    of "/" or of non-ASCII. Like json_dumps it returns NULL for a top level
    that is not an object or array, for a string that is not valid UTF-8
    and for a value that contains itself. It differs from json_dumps in
    two corners only reachable by building values by hand: it refuses a
    value nested deeper than the parser reads (which is also how it stops
    on a value that contains itself), and a key that is not valid UTF-8
    makes it return NULL where json_dumps writes a broken key.
*/
#ifndef ND_JSON_H_INCLUDED
#define ND_JSON_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <jansson.h>

/*  Parses exactly one JSON object or array from data [0 .. size); data
    need not be NUL-terminated. Returns a new reference, or NULL with the
    reason and its byte offset written to error (one line, e.g. "invalid
    escape at byte 17"), which may be NULL when the reason is not wanted.  */
json_t *nd_json_parse (const char *data, size_t size, char *error, size_t error_size);

/*  Serializes an object or array as json_dumps (value, JSON_COMPACT) does.
    Returns the text, NUL-terminated and the caller's to free, and its
    length in *size when size is not NULL; or NULL.                       */
char *nd_json_dump (const json_t *value, size_t *size);

/*  True when array (a jansson array, or NULL) holds the string text.  */
bool nd_json_has_string (const json_t *array, const char *text);
/*  A Segment id (userId, anonymousId, previousId) as text: a string, or a
    number as some SDKs send it (written into buffer); NULL for "" and
    anything else. The collector's router and the sessionizer read ids
    alike through this.                                                   */
const char *nd_json_segment_id (const json_t *value, char *buffer, size_t size);

void nd_json_test (bool verbose);

#endif
