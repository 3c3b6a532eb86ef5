/*  nd_json.c - a fast JSON parser for jansson values (and the writer's and
    the self-test's home: nd_json_dump.c, nd_json_test.c).

    jansson reads through a stream callback per byte, keeps a copy of each
    token and decodes strings in a second pass; it writes through a callback
    per token. For our few-hundred-byte messages that is most of the cost.
    Here the parser walks the input once and the writer (nd_json_dump.c)
    appends to one growing buffer; both go through jansson's public
    constructors and iterators, so the values are jansson's own. What both
    scan strings with is inline, in nd_private.h, so neither pays a call
    across files for each run of plain bytes.

    Parser: recursive descent, one call per value, with jansson's depth
    limit so that a hostile document cannot exhaust the stack. A string
    without escapes goes to jansson straight from the input. A string with
    escapes is decoded into scratch space at the same offset its source has
    in the input: decoding never lengthens text, so every string has its own
    slot, and a decoded key stays intact while its value is parsed. The
    two lookups at the end read values as the parser made them.
*/
#include <errno.h>
#include <locale.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "nd_json.h"
#include "nd_private.h"

#define S_SCRATCH_STACK 4096    /* inputs up to this size decode on the stack */

typedef struct {
    const char *data;           /* start of input, for byte offsets */
    const char *pos;
    const char *end;
    size_t depth;
    char *error;                /* caller's, may be NULL */
    size_t error_size;
    char *scratch;              /* decoded strings; NULL until needed */
    char *heap;                 /* scratch, when the input is too big for stack */
    char stack [S_SCRATCH_STACK];
} s_parser_t;

/*  Powers of ten that are exact doubles.                                 */
static const double s_pow10 [] = {
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
    1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22
};

/* --------------------------------------------------------------- parser */

/*  Says why parsing stopped. Every caller returns at once, so this runs
    once per failed parse.                                                */
static int
s_fail (s_parser_t *self, const char *reason, const char *at)
{
    if (self->error && self->error_size)
        snprintf (self->error, self->error_size, "%s at byte %zu",
                  reason, (size_t) (at - self->data));
    return -1;
}

/*  Skips whitespace; returns the next byte, or -1 at the end of input.   */
static inline int
s_next (s_parser_t *self)
{
    const char *p = self->pos;
    while (p < self->end && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t'))
        p++;
    self->pos = p;
    return p < self->end? (unsigned char) *p: -1;
}

static long
s_hex4 (const char *p, const char *end)
{
    if (end - p < 4)
        return -1;
    long value = 0;
    for (int i = 0; i < 4; i++) {
        int c = p [i];
        int digit = nd_json_is_digit (c)? c - '0'
                  : c >= 'a' && c <= 'f'? c - 'a' + 10
                  : c >= 'A' && c <= 'F'? c - 'A' + 10: -1;
        if (digit < 0)
            return -1;
        value = value * 16 + digit;
    }
    return value;
}

static char *
s_utf8_encode (char *out, long code)
{
    unsigned char *p = (unsigned char *) out;
    if (code < 0x80)
        *p++ = (unsigned char) code;
    else
    if (code < 0x800) {
        *p++ = (unsigned char) (0xC0 | code >> 6);
        *p++ = (unsigned char) (0x80 | (code & 0x3F));
    }
    else
    if (code < 0x10000) {
        *p++ = (unsigned char) (0xE0 | code >> 12);
        *p++ = (unsigned char) (0x80 | (code >> 6 & 0x3F));
        *p++ = (unsigned char) (0x80 | (code & 0x3F));
    }
    else {
        *p++ = (unsigned char) (0xF0 | code >> 18);
        *p++ = (unsigned char) (0x80 | (code >> 12 & 0x3F));
        *p++ = (unsigned char) (0x80 | (code >> 6 & 0x3F));
        *p++ = (unsigned char) (0x80 | (code & 0x3F));
    }
    return (char *) p;
}

/*  Decodes \uXXXX at p (the backslash), with its low surrogate if it is a
    high one, into *out_p. Advances *p_p past what it read.               */
static int
s_unescape_unicode (s_parser_t *self, const char **p_p, char **out_p)
{
    const char *p = *p_p;
    long code = s_hex4 (p + 2, self->end);
    if (code < 0)
        return s_fail (self, "invalid escape", p);
    if (code >= 0xD800 && code <= 0xDBFF) {
        long low = self->end - p >= 8 && p [6] == '\\' && p [7] == 'u'
                 ? s_hex4 (p + 8, self->end): -1;
        if (low < 0xDC00 || low > 0xDFFF)
            return s_fail (self, "unpaired surrogate escape", p);
        code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00);
        p += 6;
    }
    else
    if (code >= 0xDC00 && code <= 0xDFFF)
        return s_fail (self, "unpaired surrogate escape", p);
    else
    if (code == 0)
        return s_fail (self, "\\u0000 not allowed", p);
    *out_p = s_utf8_encode (*out_p, code);
    *p_p = p + 6;
    return 0;
}

/*  Decodes the escape at p (a backslash) into *out_p.                    */
static int
s_unescape (s_parser_t *self, const char **p_p, char **out_p)
{
    const char *p = *p_p;
    char c = self->end - p >= 2? p [1]: 0;
    char plain = c == '"' || c == '\\' || c == '/'? c
               : c == 'b'? '\b': c == 'f'? '\f': c == 'n'? '\n'
               : c == 'r'? '\r': c == 't'? '\t': 0;
    if (c == 'u')
        return s_unescape_unicode (self, p_p, out_p);
    if (!plain)
        return s_fail (self, "invalid escape", p);
    *(*out_p)++ = plain;
    *p_p = p + 2;
    return 0;
}

/*  Where the decoded form of the string starting at start goes.          */
static char *
s_slot (s_parser_t *self, const char *start)
{
    if (!self->scratch)
        self->scratch = self->heap = malloc ((size_t) (self->end - self->data));
    return self->scratch? self->scratch + (start - self->data): NULL;
}

/*  Reads the string whose opening quote is at self->pos. Sets *text and
    *len to its value: in the input when it has no escapes, else decoded
    into its slot. out stays NULL until the first escape.                 */
static int
s_scan_string (s_parser_t *self, const char **text, size_t *len)
{
    const char *start = self->pos + 1;
    const char *p = start;
    char *slot = NULL;
    char *out = NULL;
    while (true) {
        const char *run = p;
        p = nd_json_plain_run (p, self->end, out);
        if (out)                //  NULL + 0 is undefined too
            out += p - run;
        if (p == self->end)
            return s_fail (self, "unterminated string", start - 1);
        unsigned char c = (unsigned char) *p;
        if (c == '"')
            break;
        if (c == '\\') {
            if (!out) {
                if ((slot = s_slot (self, start)) == NULL)
                    return s_fail (self, "out of memory", p);
                memcpy (slot, start, (size_t) (p - start));
                out = slot + (p - start);
            }
            if (s_unescape (self, &p, &out))
                return -1;
            continue;
        }
        if (c < 0x20)
            return s_fail (self, "control character in string", p);
        size_t length = nd_json_utf8_length (p, self->end);
        if (!length)
            return s_fail (self, "invalid UTF-8", p);
        if (out) {
            memcpy (out, p, length);
            out += length;
        }
        p += length;
    }
    *text = slot? slot: start;
    *len = slot? (size_t) (out - slot): (size_t) (p - start);
    self->pos = p + 1;
    return 0;
}

static json_t *
s_parse_string (s_parser_t *self)
{
    const char *text;
    size_t len;
    if (s_scan_string (self, &text, &len))
        return NULL;
    json_t *string = json_stringn_nocheck (text, len);
    if (!string)
        s_fail (self, "out of memory", self->pos);
    return string;
}

/*  json_int_t as jansson reads it (strtoll): out of range is an error.   */
static json_t *
s_parse_integer (s_parser_t *self, const char *start, const char *end)
{
    bool negative = *start == '-';
    const char *p = negative? start + 1: start;
    uint64_t value = 0;
    if (end - p > 19)           /* no leading zeros: 20 digits are >= 1e19 */
        value = UINT64_MAX;
    else
        for (; p < end; p++)
            value = value * 10 + (uint64_t) (*p - '0');
    uint64_t limit = negative? (uint64_t) INT64_MAX + 1: INT64_MAX;
    if (value > limit) {
        s_fail (self, negative? "too big negative integer": "too big integer", start);
        return NULL;
    }
    json_int_t number = negative? -(json_int_t) (value - 1) - 1: (json_int_t) value;
    json_t *integer = json_integer (number);
    if (!integer)
        s_fail (self, "out of memory", start);
    return integer;
}

/*  Clinger's fast path: a mantissa below 2^53 and a power of ten up to
    1e22 are both exact doubles, so one multiply or divide rounds
    correctly, to the double strtod gives. Returns -1 when strtod must.   */
static int
s_real_fast (const char *p, const char *end, double *value)
{
    bool negative = *p == '-';
    p += negative;
    uint64_t mantissa = 0;
    int digits = 0;
    int before_point = -1;              /* digits before the '.', if any */
    for (; p < end && (nd_json_is_digit (*p) || *p == '.'); p++) {
        if (*p == '.')
            before_point = digits;
        else {
            mantissa = mantissa * 10 + (uint64_t) (*p - '0');
            digits++;
        }
    }
    int exponent = before_point < 0? 0: before_point - digits;
    if (p < end) {                      /* e or E, sign, digits */
        bool below = *++p == '-';
        p += *p == '-' || *p == '+';
        int power = 0;
        for (; p < end && power < 100000; p++)
            power = power * 10 + (*p - '0');
        exponent += below? -power: power;
    }
    if (digits > 19 || mantissa > (1ULL << 53) || exponent < -22 || exponent > 22)
        return -1;
    double number = exponent < 0? (double) mantissa / s_pow10 [-exponent]
                                : (double) mantissa * s_pow10 [exponent];
    *value = negative? -number: number;
    return 0;
}

/*  strtod wants a C string with the locale's decimal point, as jansson's
    jsonp_strtod gives it. Overflow is an error, underflow is not.        */
static json_t *
s_parse_real (s_parser_t *self, const char *start, const char *end)
{
    double number;
    if (s_real_fast (start, end, &number)) {
        char stack [64];
        size_t len = (size_t) (end - start);
        char *text = len < sizeof (stack)? stack: malloc (len + 1);
        if (!text) {
            s_fail (self, "out of memory", start);
            return NULL;
        }
        memcpy (text, start, len);
        text [len] = 0;
        char *dot = strchr (text, '.');
        if (dot)
            *dot = *localeconv ()->decimal_point;
        errno = 0;
        number = strtod (text, NULL);
        bool overflow = errno == ERANGE && (number == HUGE_VAL || number == -HUGE_VAL);
        if (text != stack)
            free (text);
        if (overflow) {
            s_fail (self, "real number overflow", start);
            return NULL;
        }
    }
    json_t *real = json_real (number);
    if (!real)
        s_fail (self, "out of memory", start);
    return real;
}

/*  jansson's reader drops a NUL byte that directly follows a number or a
    literal: its one-byte pushback takes NUL to mean "empty". So it reads
    "[1\0]" as [1]; we skip that byte too, to accept the same inputs.     */
static void
s_skip_dropped_nul (s_parser_t *self)
{
    if (self->pos < self->end && *self->pos == 0)
        self->pos++;
}

static const char *
s_skip_digits (const char *p, const char *end)
{
    while (p < end && nd_json_is_digit (*p))
        p++;
    return p;
}

/*  Checks the number's grammar, then reads it as an integer or a real.   */
static json_t *
s_parse_number (s_parser_t *self)
{
    const char *start = self->pos;
    const char *end = self->end;
    const char *p = start + (*start == '-');
    const char *digits = p;
    p = p < end && *p == '0'? p + 1: s_skip_digits (p, end);
    bool real = false;
    if (p == digits || (*digits == '0' && p < end && nd_json_is_digit (*p)))
        goto invalid;
    if (p < end && *p == '.') {
        const char *decimals = ++p;
        if ((p = s_skip_digits (p, end)) == decimals)
            goto invalid;
        real = true;
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        p += p + 1 < end && (p [1] == '+' || p [1] == '-')? 2: 1;
        const char *power = p;
        if ((p = s_skip_digits (p, end)) == power)
            goto invalid;
        real = true;
    }
    self->pos = p;
    s_skip_dropped_nul (self);
    return real? s_parse_real (self, start, p): s_parse_integer (self, start, p);
invalid:
    s_fail (self, "invalid number", start);
    return NULL;
}

static json_t *
s_parse_literal (s_parser_t *self, const char *word, json_t *value)
{
    size_t len = strlen (word);
    if ((size_t) (self->end - self->pos) < len || memcmp (self->pos, word, len)) {
        s_fail (self, "invalid literal", self->pos);
        return NULL;
    }
    self->pos += len;
    s_skip_dropped_nul (self);
    return value;
}

static json_t *s_parse_value (s_parser_t *self);

static int
s_parse_element (s_parser_t *self, json_t *array)
{
    json_t *value = s_parse_value (self);
    if (!value)
        return -1;
    if (json_array_append_new (array, value))
        return s_fail (self, "out of memory", self->pos);
    return 0;
}

static int
s_parse_member (s_parser_t *self, json_t *object)
{
    const char *key;
    size_t key_len;
    if (s_next (self) != '"')
        return s_fail (self, "string expected", self->pos);
    if (s_scan_string (self, &key, &key_len))
        return -1;
    if (s_next (self) != ':')
        return s_fail (self, "':' expected", self->pos);
    self->pos++;
    json_t *value = s_parse_value (self);
    if (!value)
        return -1;
    //  Our keys are valid UTF-8 without NUL; jansson copies key_len bytes
    if (json_object_setn_new_nocheck (object, key, key_len, value))
        return s_fail (self, "out of memory", self->pos);
    return 0;
}

/*  Reads an array's elements or an object's members, each by parse_item,
    up to the closing bracket. container is new, or NULL if out of memory. */
static json_t *
s_parse_container (s_parser_t *self, json_t *container, int close,
                   int (*parse_item) (s_parser_t *self, json_t *container))
{
    if (!container) {
        s_fail (self, "out of memory", self->pos);
        return NULL;
    }
    self->pos++;
    int c = s_next (self);
    while (c != close) {
        if (parse_item (self, container))
            goto failed;
        c = s_next (self);
        if (c != ',' && c != close) {
            s_fail (self, close == ']'? "',' or ']' expected": "',' or '}' expected", self->pos);
            goto failed;
        }
        self->pos += c == ',';
    }
    self->pos++;
    return container;
failed:
    json_decref (container);
    return NULL;
}

/*  Depth counts every value, scalars too, as jansson's parse_value does. */
static json_t *
s_parse_value (s_parser_t *self)
{
    int c = s_next (self);
    if (++self->depth > ND_JSON_MAX_DEPTH) {
        s_fail (self, "maximum nesting depth reached", self->pos);
        return NULL;
    }
    json_t *value = NULL;
    if (c == '{')
        value = s_parse_container (self, json_object (), '}', s_parse_member);
    else
    if (c == '[')
        value = s_parse_container (self, json_array (), ']', s_parse_element);
    else
    if (c == '"')
        value = s_parse_string (self);
    else
    if (c == '-' || nd_json_is_digit (c))
        value = s_parse_number (self);
    else
    if (c == 't')
        value = s_parse_literal (self, "true", json_true ());
    else
    if (c == 'f')
        value = s_parse_literal (self, "false", json_false ());
    else
    if (c == 'n')
        value = s_parse_literal (self, "null", json_null ());
    else
        s_fail (self, c < 0? "premature end of input": "unexpected character", self->pos);
    self->depth--;
    return value;
}

json_t *
nd_json_parse (const char *data, size_t size, char *error, size_t error_size)
{
    if (!data) {
        if (error && error_size)
            snprintf (error, error_size, "no input");
        return NULL;
    }
    s_parser_t self;            /* not zeroed: scratch is big and unread */
    self.data = self.pos = data;
    self.end = data + size;
    self.depth = 0;
    self.error = error;
    self.error_size = error_size;
    self.scratch = size <= sizeof (self.stack)? self.stack: NULL;
    self.heap = NULL;
    json_t *value = NULL;
    int c = s_next (&self);
    if (c != '{' && c != '[')
        s_fail (&self, "'{' or '[' expected", self.pos);
    else
    if ((value = s_parse_value (&self)) && s_next (&self) != -1) {
        s_fail (&self, "end of input expected", self.pos);
        json_decref (value);
        value = NULL;
    }
    free (self.heap);
    return value;
}

/* -------------------------------------------------------------- lookup */

const char *
nd_json_segment_id (const json_t *value, char *buffer, size_t size)
{
    if (json_is_integer (value)) {
        snprintf (buffer, size, "%" JSON_INTEGER_FORMAT, json_integer_value (value));
        return buffer;
    }
    const char *text = json_string_value (value);
    return text && *text ? text : NULL;
}

bool
nd_json_has_string (const json_t *array, const char *text)
{
    size_t index;
    json_t *item;
    json_array_foreach (array, index, item)
        if (json_is_string (item) && strcmp (json_string_value (item), text) == 0)
            return true;
    return false;
}

