/*  alerts.h - what a change in the catalogue means for the people who
    viewed or carted a product: back-in-stock and price-drop triggers.

    Layer: rules; alerts.c calls the store (catalogue.c) and recommend.c. */
#ifndef ALERTS_H_INCLUDED
#define ALERTS_H_INCLUDED

#include "base.h"

/*  A product an event names (Segment's properties; borrowed): into the
    catalogue, alerts for what moved, and the visitor watches it as kind
    ("viewed", "carted"). trusted: not a browser's claim.               */
int alerts_product_seen (sessionizer_t *self, MDB_txn *txn, const json_t *product,
                         const char *currency, bool trusted, int64_t time,
                         const char *visitor, const char *kind);
/*  An order's items (the cart's form): bought, so never an alert.      */
int alerts_bought (sessionizer_t *self, MDB_txn *txn, const json_t *items, const char *visitor,
                   int64_t time);
/*  catalogue.product from the collector (the shop's feed, trusted).     */
int alerts_feed_apply (sessionizer_t *self, MDB_txn *txn, const nd_msg_t *msg);
/*  The catalogue-file, read at start (a feed, nd_feed.h). -1 with the
    reason logged when it cannot be read; its bad lines are logged.      */
int alerts_load_file (sessionizer_t *self, MDB_txn *txn, const char *path);
/*  The same file read for --check: -1 when it is no feed at all.        */
int alerts_check_file (const char *path);

#endif
