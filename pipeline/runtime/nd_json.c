/*  nd_json.c - a fast JSON parser and compact writer for jansson values.

    jansson reads through a stream callback per byte, keeps a copy of each
    token and decodes strings in a second pass; it writes through a callback
    per token. For our few-hundred-byte messages that is most of the cost.
    Here the parser walks the input once and the writer appends to one
    growing buffer; both go through jansson's public constructors and
    iterators, so the values are jansson's own.

    Parser: recursive descent, one call per value, with jansson's depth
    limit so that a hostile document cannot exhaust the stack. A string
    without escapes goes to jansson straight from the input. A string with
    escapes is decoded into scratch space at the same offset its source has
    in the input: decoding never lengthens text, so every string has its own
    slot, and a decoded key stays intact while its value is parsed.

    Writer: printf takes ~300 ns per real, half of what writing a whole
    Segment event takes otherwise, so reals from 1e-6 to 1e38 get their 17
    digits exactly from 128-bit integer arithmetic; the rest come from
    snprintf. Both feed one routine that lays the digits out as jansson
    does. Strings are copied eight bytes at a time until one needs a look.
*/
#include <assert.h>
#include <errno.h>
#include <locale.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "nd_json.h"

#define S_MAX_DEPTH     JSON_PARSER_MAX_DEPTH
#define S_SCRATCH_STACK 4096    /* inputs up to this size decode on the stack */
#define S_DUMP_START    1024    /* first size of the writer's buffer */

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

typedef struct {
    char *data;
    size_t size;
    size_t cap;
    size_t depth;
} s_writer_t;

/*  Powers of ten that are exact doubles.                                 */
static const double s_pow10 [] = {
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
    1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22
};

static const uint64_t s_pow10_int [] = {
    1ULL, 10ULL, 100ULL, 1000ULL, 10000ULL, 100000ULL, 1000000ULL, 10000000ULL,
    100000000ULL, 1000000000ULL, 10000000000ULL, 100000000000ULL,
    1000000000000ULL, 10000000000000ULL, 100000000000000ULL,
    1000000000000000ULL, 10000000000000000ULL, 100000000000000000ULL,
    1000000000000000000ULL, 10000000000000000000ULL
};

/* ---------------------------------------------------------- shared bits */

static inline bool
s_is_digit (int c)
{
    return c >= '0' && c <= '9';
}

/*  A byte a JSON string carries as it is: printable ASCII (and DEL), but
    not " or \.                                                           */
static inline bool
s_is_plain (unsigned char c)
{
    return c >= 0x20 && c < 0x80 && c != '"' && c != '\\';
}

/*  A mark (0x80) on each byte of the word that is ", \, below 0x20 or
    above 0x7F: the classic has-zero-byte tests, on the word and on it
    xor'ed with " and with \. A borrow only carries up from a byte that
    is marked rightly, so the lowest mark is always a byte that is not
    plain; marks above it may be wrong.                                   */
static inline uint64_t
s_word_marks (uint64_t word)
{
    const uint64_t ones = 0x0101010101010101ULL;
    uint64_t quote = word ^ (ones * '"');
    uint64_t slash = word ^ (ones * '\\');
    uint64_t special = ((quote - ones) & ~quote)
                     | ((slash - ones) & ~slash)
                     | ((word - ones * 0x20) & ~word)
                     | word;
    return special & ones * 0x80;
}

/*  Returns the first byte from p that is not plain, having copied the
    plain ones to out unless out is NULL. Eight at a time while eight
    remain: the lowest mark says where the run ends, so no byte of the
    word is looked at again (out may get up to 7 bytes past the run,
    which the next write covers: every caller has room there for what is
    left of the input).                                                   */
static inline const char *
s_plain_run (const char *p, const char *end, char *out)
{
    while (end - p >= 8) {
        uint64_t word;
        memcpy (&word, p, 8);
        uint64_t marks = s_word_marks (word);
#if defined (__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
        if (out) {
            memcpy (out, &word, 8);
            out += 8;
        }
        if (marks)
            return p + __builtin_ctzll (marks) / 8;
#else
        if (marks)
            break;
        if (out) {
            memcpy (out, &word, 8);
            out += 8;
        }
#endif
        p += 8;
    }
    for (; p < end && s_is_plain ((unsigned char) *p); p++)
        if (out)
            *out++ = *p;
    return p;
}

/*  Returns the length of the valid UTF-8 sequence at text, whose first byte
    is over 0x7F, or 0. Valid as jansson's utf8_check_full has it: no
    overlong forms, no surrogates, nothing past U+10FFFF.                 */
static size_t
s_utf8_length (const char *text, const char *end)
{
    const unsigned char *p = (const unsigned char *) text;
    size_t avail = (size_t) (end - text);
    size_t length = p [0] >= 0xC2 && p [0] <= 0xDF? 2
                  : p [0] >= 0xE0 && p [0] <= 0xEF? 3
                  : p [0] >= 0xF0 && p [0] <= 0xF4? 4: 0;
    if (length == 0 || avail < length)
        return 0;
    for (size_t i = 1; i < length; i++)
        if ((p [i] & 0xC0) != 0x80)
            return 0;
    if ((p [0] == 0xE0 && p [1] < 0xA0)         /* overlong */
    ||  (p [0] == 0xED && p [1] >= 0xA0)        /* surrogate */
    ||  (p [0] == 0xF0 && p [1] < 0x90)         /* overlong */
    ||  (p [0] == 0xF4 && p [1] >= 0x90))       /* past U+10FFFF */
        return 0;
    return length;
}

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
        int digit = s_is_digit (c)? c - '0'
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
        p = s_plain_run (p, self->end, out);
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
        size_t length = s_utf8_length (p, self->end);
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
    for (; p < end && (s_is_digit (*p) || *p == '.'); p++) {
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
    while (p < end && s_is_digit (*p))
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
    if (p == digits || (*digits == '0' && p < end && s_is_digit (*p)))
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
    if (++self->depth > S_MAX_DEPTH) {
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
    if (c == '-' || s_is_digit (c))
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

/* --------------------------------------------------------------- writer */

static int
s_grow (s_writer_t *self, size_t more)
{
    size_t cap = self->cap * 2;
    while (cap - self->size < more)
        cap *= 2;
    char *data = realloc (self->data, cap);
    if (!data)
        return -1;
    self->data = data;
    self->cap = cap;
    return 0;
}

static inline int
s_reserve (s_writer_t *self, size_t more)
{
    return self->cap - self->size >= more? 0: s_grow (self, more);
}

static inline int
s_put (s_writer_t *self, const char *text, size_t len)
{
    if (s_reserve (self, len))
        return -1;
    memcpy (self->data + self->size, text, len);
    self->size += len;
    return 0;
}

/*  Writes the escape for c, a control character, " or \; returns its
    length. Other control characters are \u00XX, upper case as jansson.   */
static size_t
s_escape (char *out, unsigned char c)
{
    char short_form = c == '"'? '"': c == '\\'? '\\': c == '\b'? 'b'
                    : c == '\f'? 'f': c == '\n'? 'n': c == '\r'? 'r'
                    : c == '\t'? 't': 0;
    out [0] = '\\';
    if (short_form) {
        out [1] = short_form;
        return 2;
    }
    memcpy (out + 1, "u00", 3);
    out [4] = "0123456789ABCDEF" [c >> 4];
    out [5] = "0123456789ABCDEF" [c & 15];
    return 6;
}

/*  Room is reserved for the string as it is and its quotes; each escape
    reserves what it adds.                                                */
static int
s_write_string (s_writer_t *self, const char *text, size_t len)
{
    if (s_reserve (self, len + 2))
        return -1;
    const char *p = text;
    const char *end = text + len;
    self->data [self->size++] = '"';
    while (true) {
        const char *run = p;
        p = s_plain_run (p, end, self->data + self->size);
        self->size += (size_t) (p - run);
        if (p == end)
            break;
        unsigned char c = (unsigned char) *p;
        if (c > 0x7F) {
            size_t length = s_utf8_length (p, end);
            if (!length)
                return -1;      /* not UTF-8: json_dumps fails too */
            memcpy (self->data + self->size, p, length);
            self->size += length;
            p += length;
        }
        else {
            if (s_reserve (self, (size_t) (end - p) + 6))
                return -1;      /* up to 6 bytes for this one */
            self->size += s_escape (self->data + self->size, c);
            p++;
        }
    }
    self->data [self->size++] = '"';
    return 0;
}

static int
s_write_integer (s_writer_t *self, json_int_t value)
{
    char digits [24];
    char *p = digits + sizeof (digits);
    uint64_t magnitude = value < 0? 0 - (uint64_t) value: (uint64_t) value;
    do
        *--p = (char) ('0' + magnitude % 10);
    while (magnitude /= 10);
    if (value < 0)
        *--p = '-';
    return s_put (self, p, (size_t) (digits + sizeof (digits) - p));
}

static unsigned __int128
s_pow10_wide (int power)
{
    return power <= 19? s_pow10_int [power]
                      : (unsigned __int128) s_pow10_int [19] * s_pow10_int [power - 19];
}

/*  The 17 significant digits "%.17g" prints for value (> 0), rounded half
    to even from the exact binary value, and the decimal exponent of the
    first. Exact where value * 10^(16 - exponent) fits 128 bits, which the
    range 1e-6 .. 1e38 does; returns -1 outside it.                       */
static int
s_digits_exact (double value, uint64_t *digits, int *exponent)
{
    const uint64_t low = s_pow10_int [16];
    if (!(value >= 1e-6 && value < 1e38))
        return -1;
    uint64_t bits;
    memcpy (&bits, &value, sizeof (bits));
    unsigned __int128 m = (bits & ((1ULL << 52) - 1)) | 1ULL << 52;
    int power2 = (int) (bits >> 52) - 1075;     /* value = m * 2^power2 */
    int e2 = power2 + 52;
    //  floor (e2 * log10 (2)), which may be one short; the loop corrects it
    int power10 = e2 >= 0? (e2 * 78913) >> 18: -((-e2 * 78913) >> 18) - 1;
    for (int tries = 0; tries < 3; tries++) {
        int scale = 16 - power10;
        if (scale > 22 || (scale < 0 && power2 < 0))
            return -1;
        unsigned __int128 q, n, rest;
        int above;              /* the rest against half a unit: -1, 0, 1 */
        if (scale >= 0 && power2 >= 0) {
            q = (m * s_pow10_wide (scale)) << power2;
            above = -1;
        }
        else
        if (scale >= 0) {
            n = m * s_pow10_wide (scale);
            q = n >> -power2;
            rest = n - (q << -power2);
            unsigned __int128 half = (unsigned __int128) 1 << (-power2 - 1);
            above = rest < half? -1: rest > half;
        }
        else {
            unsigned __int128 unit = s_pow10_wide (-scale);
            n = m << power2;
            q = n / unit;
            rest = (n % unit) * 2;
            above = rest < unit? -1: rest > unit;
        }
        if (q < low || q >= low * 10) {
            power10 += q < low? -1: 1;
            continue;
        }
        q += above > 0 || (above == 0 && (q & 1));
        *digits = q == low * 10? low: (uint64_t) q;
        *exponent = q == low * 10? power10 + 1: power10;
        return 0;
    }
    return -1;
}

/*  The same digits from printf's "%.16e" (17 significant, as "%.17g"),
    for the reals s_digits_exact does not cover. Only digits are read, so
    the locale's decimal point does not matter.                           */
static int
s_digits_printf (double value, uint64_t *digits, int *exponent)
{
    char text [40];
    int len = snprintf (text, sizeof (text), "%.16e", value);
    if (len < 0 || (size_t) len >= sizeof (text))
        return -1;
    const char *p = text;
    for (*digits = 0; *p && *p != 'e'; p++)
        if (s_is_digit (*p))
            *digits = *digits * 10 + (uint64_t) (*p - '0');
    if (*p != 'e')
        return -1;              /* "inf" or "nan": json_real refuses both */
    *exponent = atoi (p + 1);
    return 0;
}

/*  Lays out 17 digits as "%.17g" would, then as jansson's jsonp_dtostr
    amends that: ".0" after a whole number, and no "+" or leading zeros in
    the exponent. out has room for 32 bytes; returns the length.          */
static size_t
s_format_real (char *out, bool negative, uint64_t digits, int exponent)
{
    char d [17];
    for (int i = 16; i >= 0; i--, digits /= 10)
        d [i] = (char) ('0' + digits % 10);
    int n = 17;                 /* digits up to the last non-zero one */
    while (n > 1 && d [n - 1] == '0')
        n--;
    char *p = out;
    if (negative)
        *p++ = '-';
    if (exponent >= 17 || exponent < -4) {
        *p++ = d [0];
        if (n > 1) {
            *p++ = '.';
            memcpy (p, d + 1, (size_t) n - 1);
            p += n - 1;
        }
        *p++ = 'e';
        if (exponent < 0)
            *p++ = '-';
        int power = abs (exponent);
        if (power >= 100)
            *p++ = (char) ('0' + power / 100);
        if (power >= 10)
            *p++ = (char) ('0' + power / 10 % 10);
        *p++ = (char) ('0' + power % 10);
    }
    else
    if (exponent >= 0) {
        memcpy (p, d, (size_t) exponent + 1);
        p += exponent + 1;
        *p++ = '.';
        int decimals = n - exponent - 1;
        if (decimals > 0)
            memcpy (p, d + exponent + 1, (size_t) decimals);
        else
            *p = '0';
        p += decimals > 0? decimals: 1;
    }
    else {
        memcpy (p, "0.0000", (size_t) (1 - exponent));
        p += 1 - exponent;
        memcpy (p, d, (size_t) n);
        p += n;
    }
    return (size_t) (p - out);
}

static int
s_write_real (s_writer_t *self, double value)
{
    uint64_t digits = 0;
    int exponent = 0;
    double magnitude = signbit (value)? -value: value;
    if (magnitude != 0
    &&  s_digits_exact (magnitude, &digits, &exponent)
    &&  s_digits_printf (magnitude, &digits, &exponent))
        return -1;
    if (s_reserve (self, 32))
        return -1;
    self->size += s_format_real (self->data + self->size, signbit (value), digits, exponent);
    return 0;
}

static int s_write_value (s_writer_t *self, const json_t *value);

static int
s_write_object (s_writer_t *self, json_t *object)
{
    if (s_put (self, "{", 1))
        return -1;
    void *iter = json_object_iter (object);
    for (bool first = true; iter; iter = json_object_iter_next (object, iter), first = false)
        if ((!first && s_put (self, ",", 1))
        ||  s_write_string (self, json_object_iter_key (iter), json_object_iter_key_len (iter))
        ||  s_put (self, ":", 1)
        ||  s_write_value (self, json_object_iter_value (iter)))
            return -1;
    return s_put (self, "}", 1);
}

static int
s_write_array (s_writer_t *self, const json_t *array)
{
    if (s_put (self, "[", 1))
        return -1;
    size_t size = json_array_size (array);
    for (size_t index = 0; index < size; index++)
        if ((index && s_put (self, ",", 1))
        ||  s_write_value (self, json_array_get (array, index)))
            return -1;
    return s_put (self, "]", 1);
}

/*  The depth limit is the parser's, so what we write we can read back; it
    also ends the descent into a value that contains itself.              */
static int
s_write_value (s_writer_t *self, const json_t *value)
{
    if (!value || ++self->depth > S_MAX_DEPTH)
        return -1;
    int rc = -1;
    switch (json_typeof (value)) {
        case JSON_OBJECT:
            rc = s_write_object (self, (json_t *) value);
            break;
        case JSON_ARRAY:
            rc = s_write_array (self, value);
            break;
        case JSON_STRING:
            rc = s_write_string (self, json_string_value (value), json_string_length (value));
            break;
        case JSON_INTEGER:
            rc = s_write_integer (self, json_integer_value (value));
            break;
        case JSON_REAL:
            rc = s_write_real (self, json_real_value (value));
            break;
        case JSON_TRUE:
            rc = s_put (self, "true", 4);
            break;
        case JSON_FALSE:
            rc = s_put (self, "false", 5);
            break;
        case JSON_NULL:
            rc = s_put (self, "null", 4);
            break;
    }
    self->depth--;
    return rc;
}

char *
nd_json_dump (const json_t *value, size_t *size)
{
    if (!json_is_object (value) && !json_is_array (value))
        return NULL;
    s_writer_t self = { .data = malloc (S_DUMP_START), .cap = S_DUMP_START };
    if (!self.data)
        return NULL;
    if (s_write_value (&self, value) || s_reserve (&self, 1)) {
        free (self.data);
        return NULL;
    }
    self.data [self.size] = 0;
    if (size)
        *size = self.size;
    return self.data;
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

/* ------------------------------------------------------------ self-test */

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
    //  Past S_SCRATCH_STACK bytes, escaped strings decode on the heap;
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
