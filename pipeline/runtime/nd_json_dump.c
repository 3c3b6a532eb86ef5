/*  nd_json_dump.c - nd_json's compact writer for jansson values.

    It stands apart from the parser (nd_json.c) because the two share only
    the string scanning (inline, nd_private.h) and the depth limit: the
    writer's real-number digits and its growing buffer are its own.

    Writer: printf takes ~300 ns per real, half of what writing a whole
    Segment event takes otherwise, so reals from 1e-6 to 1e38 get their 17
    digits exactly from 128-bit integer arithmetic; the rest come from
    snprintf. Both feed one routine that lays the digits out as jansson
    does. Strings are copied eight bytes at a time until one needs a look.
*/
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "nd_json.h"
#include "nd_private.h"

#define S_DUMP_START    1024    /* first size of the writer's buffer */

typedef struct {
    char *data;
    size_t size;
    size_t cap;
    size_t depth;
} s_writer_t;

static const uint64_t s_pow10_int [] = {
    1ULL, 10ULL, 100ULL, 1000ULL, 10000ULL, 100000ULL, 1000000ULL, 10000000ULL,
    100000000ULL, 1000000000ULL, 10000000000ULL, 100000000000ULL,
    1000000000000ULL, 10000000000000ULL, 100000000000000ULL,
    1000000000000000ULL, 10000000000000000ULL, 100000000000000000ULL,
    1000000000000000000ULL, 10000000000000000000ULL
};

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
        p = nd_json_plain_run (p, end, self->data + self->size);
        self->size += (size_t) (p - run);
        if (p == end)
            break;
        unsigned char c = (unsigned char) *p;
        if (c > 0x7F) {
            size_t length = nd_json_utf8_length (p, end);
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
        if (nd_json_is_digit (*p))
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
    if (!value || ++self->depth > ND_JSON_MAX_DEPTH)
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

