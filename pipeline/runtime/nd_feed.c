/*  nd_feed - a shop's product feed (Google Merchant fields); see nd_feed.h.

    Line by line, so a feed of any size costs one line's memory besides
    what the caller keeps, and a bad line costs only itself.             */
#include <assert.h>
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <czmq.h>
#include "nd.h"
#include "nd_feed.h"

#define COLUMNS_MAX 64

typedef struct {
    char delimiter;             //  ',' or '\t'; 0 for JSON lines
    size_t columns;
    char *names [COLUMNS_MAX];  //  lower-case header names
} s_format_t;

bool nd_feed_link_ok (const char *url)
{
    if (!url || (strncasecmp (url, "https://", 8) && strncasecmp (url, "http://", 7)))
        return false;
    for (const unsigned char *c = (const unsigned char *) url; *c; c++)
        if (*c <= ' ' || *c == 0x7f || *c == '"' || *c == '<' || *c == '>')
            return false;
    return strlen (url) < 2048;
}

int nd_feed_price (const char *text, double *amount, char *currency)
{
    if (!text)
        return -1;
    char *end;
    double value = strtod (text, &end);
    if (end == text || !isfinite (value) || value < 0 || value > 1e12 || *end != ' ')
        return -1;
    end++;
    for (int i = 0; i < 3; i++)
        if (!isupper ((unsigned char) end [i]))
            return -1;
    if (end [3])
        return -1;
    *amount = value;
    memcpy (currency, end, 3);
    currency [3] = 0;
    return 0;
}

//  Google's availability, or NULL.
static const char *s_stock (const char *text)
{
    static const char *known [] = { "in_stock", "out_of_stock", "preorder", "backorder", NULL };
    char word [24];
    size_t i = 0;
    for (; text [i] && i < sizeof word - 1; i++)
        word [i] = text [i] == ' ' ? '_' : (char) tolower ((unsigned char) text [i]);
    word [i] = 0;
    for (int k = 0; known [k]; k++)
        if (strcmp (known [k], word) == 0)
            return known [k];
    return NULL;
}

static const char *s_field (const json_t *fields, const char *name)
{
    const char *value = json_string_value (json_object_get (fields, name));
    return value && *value ? value : NULL;
}

//  Google's Content API writes a price as {"value": "12.00", "currency": "EUR"}.
static const char *s_price_text (const json_t *fields, const char *name, char *text, size_t size)
{
    json_t *price = json_object_get (fields, name);
    if (json_is_object (price)) {
        const char *value = json_string_value (json_object_get (price, "value"));
        const char *currency = json_string_value (json_object_get (price, "currency"));
        snprintf (text, size, "%s %s", value ? value : "", currency ? currency : "");
        return text;
    }
    return s_field (fields, name);
}

json_t *nd_feed_product (const json_t *fields, char *reason, size_t size)
{
    const char *id = s_field (fields, "id");
    if (!id || strlen (id) > 400) {
        snprintf (reason, size, "no id (or one longer than 400 bytes)");
        return NULL;
    }
    json_t *product = json_pack ("{s:s}", "product_id", id);
    const char *text [][2] = {
        { "title", "name" }, { "product_type", "category" }, { "brand", "brand" }, { NULL, NULL }
    };
    for (int i = 0; text [i][0]; i++) {
        const char *value = s_field (fields, text [i][0]);
        if (value && strlen (value) < 1000)
            json_object_set_new (product, text [i][1], json_string (value));
    }
    const char *links [][2] = { { "link", "url" }, { "image_link", "image_url" }, { NULL, NULL } };
    for (int i = 0; links [i][0]; i++) {
        const char *value = s_field (fields, links [i][0]);
        if (value && !nd_feed_link_ok (value)) {
            snprintf (reason, size, "%s is not an http(s) URL", links [i][0]);
            json_decref (product);
            return NULL;
        }
        if (value)
            json_object_set_new (product, links [i][1], json_string (value));
    }
    char buffer [2][80], currency [2][4];
    double amount [2];
    const char *price = s_price_text (fields, "price", buffer [0], sizeof buffer [0]);
    const char *sale = s_price_text (fields, "sale_price", buffer [1], sizeof buffer [1]);
    if ((price && nd_feed_price (price, &amount [0], currency [0]))
    ||  (sale && nd_feed_price (sale, &amount [1], currency [1]))) {
        snprintf (reason, size, "%s is not an amount and a currency such as \"12.00 EUR\"",
                  price && nd_feed_price (price, &amount [0], currency [0]) ? "price" : "sale_price");
        json_decref (product);
        return NULL;
    }
    if (sale && price && strcmp (currency [0], currency [1])) {
        snprintf (reason, size, "sale_price is not in the currency of price");
        json_decref (product);
        return NULL;
    }
    if (sale) {
        json_object_set_new (product, "price", json_real (amount [1]));
        json_object_set_new (product, "currency", json_string (currency [1]));
        if (price && amount [0] > amount [1])
            json_object_set_new (product, "regular_price", json_real (amount [0]));
    }
    else
    if (price) {
        json_object_set_new (product, "price", json_real (amount [0]));
        json_object_set_new (product, "currency", json_string (currency [0]));
    }
    const char *availability = s_field (fields, "availability");
    if (availability && !s_stock (availability)) {
        snprintf (reason, size, "availability is not in_stock, out_of_stock, preorder or backorder");
        json_decref (product);
        return NULL;
    }
    if (availability)
        json_object_set_new (product, "stock", json_string (s_stock (availability)));
    return product;
}

/* ------------------------------------------------------------- lines -- */

//  Splits one CSV line (RFC 4180 quoting, within the line) into fields;
//  the number of fields, or -1 for an unclosed quote.
static int s_split (char *line, char delimiter, char **fields, int most)
{
    int count = 0;
    char *read = line;
    while (count < most) {
        char *write = read, *start = read;
        if (*read == '"') {
            read++;
            while (true) {
                if (!*read)
                    return -1;
                if (*read == '"' && read [1] == '"') {
                    *write++ = '"';
                    read += 2;
                }
                else
                if (*read == '"') {
                    read++;
                    break;
                }
                else
                    *write++ = *read++;
            }
            while (*read && *read != delimiter)
                read++;             //  text after the closing quote: dropped
        }
        else {
            while (*read && *read != delimiter)
                *write++ = *read++;
        }
        bool more = *read == delimiter;
        *write = 0;
        //  Surrounding blanks are not part of a value
        while (*start == ' ')
            memmove (start, start + 1, strlen (start));
        size_t length = strlen (start);
        while (length && start [length - 1] == ' ')
            start [--length] = 0;
        fields [count++] = start;
        if (!more)
            break;
        read++;
    }
    return count;
}

static int s_header (s_format_t *format, char *line, char *reason, size_t size)
{
    format->delimiter = strchr (line, '\t') ? '\t' : ',';
    char *fields [COLUMNS_MAX];
    int count = s_split (line, format->delimiter, fields, COLUMNS_MAX);
    bool id = false;
    for (int i = 0; i < count; i++) {
        for (char *c = fields [i]; *c; c++)
            *c = (char) tolower ((unsigned char) *c);
        format->names [i] = strdup (fields [i]);
        id = id || strcmp (fields [i], "id") == 0;
    }
    format->columns = count > 0 ? (size_t) count : 0;
    if (!id)
        snprintf (reason, size, "line 1: the header names no \"id\" column");
    return id ? 0 : -1;
}

//  One data line as Google's fields, or NULL with reason.
static json_t *s_fields (s_format_t *format, char *line, char *reason, size_t size)
{
    if (!format->delimiter) {
        json_error_t error;
        json_t *fields = json_loads (line, JSON_REJECT_DUPLICATES, &error);
        if (!json_is_object (fields)) {
            snprintf (reason, size, "not a JSON object");
            json_decref (fields);
            return NULL;
        }
        return fields;
    }
    char *values [COLUMNS_MAX];
    int count = s_split (line, format->delimiter, values, COLUMNS_MAX);
    if (count < 0) {
        snprintf (reason, size, "a quote is not closed");
        return NULL;
    }
    json_t *fields = json_object ();
    for (size_t i = 0; i < (size_t) count && i < format->columns; i++)
        if (*values [i])
            json_object_set_new (fields, format->names [i], json_string (values [i]));
    return fields;
}

int nd_feed_read (const char *text, size_t size, nd_feed_fn *fn, void *arg,
                  char *reason, size_t reason_size)
{
    s_format_t format = { 0 };
    bool started = false;
    size_t number = 0, offset = 0;
    int rc = 0;
    char *line = (char *) malloc (ND_FEED_LINE_MAX + 1);
    if (!line) {
        snprintf (reason, reason_size, "out of memory");
        return -1;
    }
    while (offset < size && rc == 0) {
        const char *end = (const char *) memchr (text + offset, '\n', size - offset);
        size_t length = (end ? (size_t) (end - text) : size) - offset;
        const char *start = text + offset;
        offset += length + 1;
        number++;
        if (length && start [length - 1] == '\r')
            length--;
        if (number == 1 && length >= 3 && memcmp (start, "\xef\xbb\xbf", 3) == 0) {
            start += 3;                 //  a byte order mark
            length -= 3;
        }
        bool blank = true;
        for (size_t i = 0; i < length && blank; i++)
            blank = isspace ((unsigned char) start [i]);
        if (blank)
            continue;
        bool too_long = length > ND_FEED_LINE_MAX || memchr (start, 0, length);
        if (!too_long) {
            memcpy (line, start, length);
            line [length] = 0;
        }
        if (!started) {
            started = true;
            if (!too_long && line [strspn (line, " \t")] == '{')
                format.delimiter = 0;   //  JSON lines: no header
            else {
                if (too_long || s_header (&format, line, reason, reason_size))
                    rc = -1;
                if (too_long)
                    snprintf (reason, reason_size, "line 1: the header is too long");
                continue;
            }
        }
        char why [160] = "";
        json_t *fields = too_long ? NULL : s_fields (&format, line, why, sizeof why);
        if (too_long)
            snprintf (why, sizeof why, "longer than %d bytes", ND_FEED_LINE_MAX);
        json_t *product = fields ? nd_feed_product (fields, why, sizeof why) : NULL;
        rc = fn (arg, number, product, product ? NULL : why);
        json_decref (product);
        json_decref (fields);
    }
    if (!started && rc == 0) {
        snprintf (reason, reason_size, "the feed is empty");
        rc = -1;
    }
    for (size_t i = 0; i < format.columns; i++)
        free (format.names [i]);
    free (line);
    return rc < 0 ? -1 : 0;
}

/* ----------------------------------------------------------- self-test -- */

static int s_collect (void *arg, size_t line, const json_t *product, const char *reason)
{
    json_t *all = (json_t *) arg;
    if (product)
        json_array_append_new (all, json_pack ("{s:i, s:O}", "line", (int) line, "product", product));
    else
        json_array_append_new (all, json_pack ("{s:i, s:s}", "line", (int) line, "reason", reason));
    return 0;
}

void nd_feed_test (bool verbose)
{
    if (verbose)
        printf (" * nd_feed: ");
    double amount;
    char currency [4], reason [160];
    assert (nd_feed_price ("12.00 EUR", &amount, currency) == 0 && amount == 12.0
            && streq (currency, "EUR"));
    assert (nd_feed_price ("12.00", &amount, currency) == -1);
    assert (nd_feed_price ("12.00 eur", &amount, currency) == -1);
    assert (nd_feed_price ("-1 EUR", &amount, currency) == -1);
    assert (nd_feed_link_ok ("https://shop.example/p/1"));
    assert (!nd_feed_link_ok ("javascript:alert(1)") && !nd_feed_link_ok ("https://a b"));

    const char *csv =
        "\xef\xbb\xbfid,title,link,price,sale_price,availability,product_type,brand\r\n"
        "p-1,\"Tea, green\",https://shop.example/p/1,12.00 EUR,,in stock,Tea,Leaf\r\n"
        "\r\n"
        "p-2,\"Cup \"\"Ume\"\"\",https://shop.example/p/2,10.00 EUR,8.00 EUR,out_of_stock,Cups,\r\n"
        ",no id,,,,,,\n"
        "p-4,Bad,javascript:x,1.00 EUR,,,,\n"
        "p-5,Bad price,,12 euros,,,,\n"
        "p-6,\"open,,,,,,\n"
        "p-7,Bad stock,,,,sold,,\n";
    json_t *all = json_array ();
    assert (nd_feed_read (csv, strlen (csv), s_collect, all, reason, sizeof reason) == 0);
    assert (json_array_size (all) == 7);
    json_t *first = json_object_get (json_array_get (all, 0), "product");
    assert (streq (json_string_value (json_object_get (first, "name")), "Tea, green"));
    assert (streq (json_string_value (json_object_get (first, "stock")), "in_stock"));
    assert (streq (json_string_value (json_object_get (first, "category")), "Tea"));
    json_t *second = json_object_get (json_array_get (all, 1), "product");
    assert (json_integer_value (json_object_get (json_array_get (all, 1), "line")) == 4);
    assert (streq (json_string_value (json_object_get (second, "name")), "Cup \"Ume\""));
    assert (json_number_value (json_object_get (second, "price")) == 8.0
            && json_number_value (json_object_get (second, "regular_price")) == 10.0);
    assert (!json_object_get (second, "brand"));
    for (size_t i = 2; i < 7; i++)
        assert (json_object_get (json_array_get (all, i), "reason"));
    assert (json_integer_value (json_object_get (json_array_get (all, 2), "line")) == 5);
    assert (strstr (json_string_value (json_object_get (json_array_get (all, 3), "reason")), "link"));
    assert (strstr (json_string_value (json_object_get (json_array_get (all, 5), "reason")), "quote"));
    json_decref (all);

    const char *lines =
        "{\"id\":\"p-9\",\"title\":\"Pot\",\"price\":{\"value\":\"30\",\"currency\":\"PLN\"},"
        "\"availability\":\"backorder\"}\n"
        "{not json\n";
    all = json_array ();
    assert (nd_feed_read (lines, strlen (lines), s_collect, all, reason, sizeof reason) == 0);
    assert (json_array_size (all) == 2);
    json_t *pot = json_object_get (json_array_get (all, 0), "product");
    assert (streq (json_string_value (json_object_get (pot, "currency")), "PLN")
            && streq (json_string_value (json_object_get (pot, "stock")), "backorder"));
    assert (json_object_get (json_array_get (all, 1), "reason"));
    json_decref (all);

    all = json_array ();
    assert (nd_feed_read ("title,price\nx,1 EUR\n", 20, s_collect, all, reason, sizeof reason) == -1
            && strstr (reason, "id"));
    assert (nd_feed_read ("\n\n", 2, s_collect, all, reason, sizeof reason) == -1);
    json_decref (all);
    if (verbose)
        printf ("OK\n");
}
