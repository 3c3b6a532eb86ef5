/*  nd_feed.h - a shop's product feed, as Google Merchant Center reads one:
    the one reader of the collector's POST /v1/catalogue and of the
    sessionizer's catalogue-file.

    A feed is CSV (or TSV) with a header line naming its columns, or JSON
    lines (one object a line, Google's field names). Either way, the fields
    read are Google's: id, title, link, image_link, price ("12.00 EUR"),
    sale_price, availability (in_stock, out_of_stock, preorder, backorder;
    "in stock" with a space too), product_type, brand; other columns are
    ignored. Each good line becomes a product as Segment's E-commerce spec
    names its properties, the catalogue's form:

      {"product_id", "name", "url", "image_url", "price", "currency",
       "regular_price" (when a sale_price is the price), "stock",
       "category", "brand"}

    with only the fields the line gave. A bad line (no id, a price that is
    not "<amount> <ISO 4217 code>", a link that is not http(s), an unknown
    availability, a CSV line with an unclosed quote or a JSON line that
    does not parse) is reported with its number (from 1, the header
    included) and why, and the others are still read. A quoted CSV field
    may not span lines.                                                  */
#ifndef ND_FEED_H_INCLUDED
#define ND_FEED_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <jansson.h>

#define ND_FEED_LINE_MAX 32768      /* bytes in one line */

/*  Called for each line that is not blank: product (borrowed) is the
    line's, or NULL with reason why it was refused. Non-zero stops.      */
typedef int (nd_feed_fn) (void *arg, size_t line, const json_t *product, const char *reason);

/*  Reads a whole feed. Returns 0 (fn saw every line; its first non-zero
    return, if any), or -1 with reason when the feed as a whole cannot be
    read (empty, a CSV header without an "id" column).                   */
int nd_feed_read (const char *text, size_t size, nd_feed_fn *fn, void *arg,
                  char *reason, size_t reason_size);

/*  One product from Google's fields (an object of strings): a new object
    in the catalogue's form, or NULL with reason.                        */
json_t *nd_feed_product (const json_t *fields, char *reason, size_t reason_size);

/*  "12.00 EUR" into 12.0 and "EUR": 0, or -1.                           */
int nd_feed_price (const char *text, double *amount, char *currency);

/*  A link a message may carry: http or https, no spaces or controls.    */
bool nd_feed_link_ok (const char *url);

void nd_feed_test (bool verbose);

#endif
