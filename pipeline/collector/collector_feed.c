/*  collector_feed - POST /v1/catalogue: the shop's product feed.

    A feed (CSV or JSON lines with Google Merchant's fields, nd_feed.h)
    comes with a server write key in the Authorization header: a browser
    key is public, and whoever holds it must not set prices or stock (a
    price drop would message everyone who viewed the product). Each good
    line becomes one event on the journal, committed before the answer
    like any other, for the sessionizer, which owns the catalogue:

      catalogue.product  {"id": "catalogue-<request>-<line>", "user": "",
                          "line": n, "product": {...}, "time"}

    A bad line is refused with its number and why, and the others are
    kept: {"success": true, "accepted": n, "rejected": [{"line", "reason"}]}
    (at most REJECTED_LISTED listed). A feed where no line is good is a 400.
*/
#include <stdio.h>
#include <string.h>
#include <czmq.h>
#include "nd_feed.h"
#include "collector.h"

#define REJECTED_LISTED 100

typedef struct {
    collector_ticket_t *ticket;
    json_t *rejected;
    size_t refused;
    char request [40];
} s_feed_t;

static int s_line (void *arg, size_t line, const json_t *product, const char *reason)
{
    s_feed_t *feed = (s_feed_t *) arg;
    if (!product) {
        if (feed->refused++ < REJECTED_LISTED)
            json_array_append_new (feed->rejected, json_pack ("{s:I, s:s}", "line", (json_int_t) line,
                                                              "reason", reason));
        return 0;
    }
    char id [80];
    snprintf (id, sizeof id, "catalogue-%s-%zu", feed->request, line);
    json_t *body = json_pack ("{s:s, s:s, s:I, s:O}", "id", id, "user", "",
                              "line", (json_int_t) line, "product", product);
    collector_ticket_add (feed->ticket, "catalogue.product", body, 0);
    return 0;
}

int collector_feed_take (const char *text, size_t size, collector_ticket_t *ticket,
                         json_t *rejected, size_t *refused, char *reason)
{
    s_feed_t feed = { ticket, rejected, 0, "" };
    zuuid_t *uuid = zuuid_new ();
    snprintf (feed.request, sizeof feed.request, "%s", zuuid_str_canonical (uuid));
    zuuid_destroy (&uuid);
    int rc = nd_feed_read (text, size, s_line, &feed, reason, COLLECTOR_REASON_MAX);
    *refused = feed.refused;
    if (rc == 0 && collector_ticket_size (ticket) == 0) {
        snprintf (reason, COLLECTOR_REASON_MAX, "no line of the feed is a product, first: line %lld: %s",
                  (long long) json_integer_value (json_object_get (json_array_get (rejected, 0), "line")),
                  json_string_value (json_object_get (json_array_get (rejected, 0), "reason")));
        rc = -1;
    }
    return rc;
}
