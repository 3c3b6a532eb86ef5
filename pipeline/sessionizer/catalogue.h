/*  catalogue.h - the shop's products, their price and stock history, how
    often each was ordered, and who viewed or carted which.

    Layer: store; catalogue.c calls only the base.                      */
#ifndef CATALOGUE_H_INCLUDED
#define CATALOGUE_H_INCLUDED

#include "base.h"

#define CATALOGUE_KEY_MAX (SHOP_ID_MAX + 8)

/*  What an update changed, for the alerts (alerts.c).                  */
typedef struct {
    bool back_in_stock;         //  out_of_stock before, in_stock now
    bool price_fell;            //  a lower price in the same currency
    double old_price;
} catalogue_change_t;

/*  The product's key text (its product_id, else "sku:" and its SKU), or
    NULL when nothing identifies it.                                     */
const char *catalogue_key (const json_t *product, char *text, size_t size);

/*  Merges update (Segment's product properties or a feed's product,
    borrowed) into the catalogue at time; currency applies when update
    names none. A trusted update (the shop's server, its feed or file)
    may change anything; a browser's only fills in what is not known yet
    and never moves a price or a stock the shop set. *change says what
    moved (NULL: not asked); *product (NULL: not asked) gets the record.
    0, or -1.                                                            */
int catalogue_update (sessionizer_t *self, MDB_txn *txn, const json_t *update,
                      const char *currency, bool trusted, int64_t time,
                      catalogue_change_t *change, json_t **product);
/*  The record of key (price, stock, history...), or NULL: a reference to
    the record the catalogue keeps parsed, to read and not to change.    */
json_t *catalogue_get (sessionizer_t *self, MDB_txn *txn, const char *key);
/*  What a message shows of a product: name, url, image_url, price,
    currency (and regular_price, category, brand); NULL when it has no
    name to show or is out of stock.                                     */
json_t *catalogue_shown (sessionizer_t *self, MDB_txn *txn, const char *key);
/*  One more order of key, for its category's popular products.          */
int catalogue_ordered (sessionizer_t *self, MDB_txn *txn, const char *key);
/*  Up to most product keys of category, most ordered first, into keys
    (an array of strings).                                               */
int catalogue_popular (sessionizer_t *self, MDB_txn *txn, const char *category, size_t most,
                       json_t *keys);

/*  The visitor viewed ("viewed") or carted ("carted") key at price (or
    a negative price: unknown). Bounded per product and per visitor.     */
int catalogue_watch (sessionizer_t *self, MDB_txn *txn, const char *key, const char *visitor,
                     const char *kind, double price, int64_t time);
/*  The visitor bought key: no alert about it ever.                      */
int catalogue_bought (sessionizer_t *self, MDB_txn *txn, const char *key, const char *visitor,
                      int64_t time);
/*  Everyone watching key, at most WATCHERS_MAX: an object visitor ->
    their record ({"kind", "price", "time", "sent": {...}, "bought"}).  */
json_t *catalogue_watchers (sessionizer_t *self, MDB_txn *txn, const char *key);
/*  Writes back one watcher's record.                                    */
int catalogue_watcher_put (sessionizer_t *self, MDB_txn *txn, const char *key,
                           const char *visitor, const json_t *record);
/*  Drops one watcher (gone stale), or all of a visitor's (erased,
    forgotten); moves from's onto into (a merge).                        */
int catalogue_unwatch (sessionizer_t *self, MDB_txn *txn, const char *key, const char *visitor);
int catalogue_forget (sessionizer_t *self, MDB_txn *txn, const char *visitor);
int catalogue_merge (sessionizer_t *self, MDB_txn *txn, const char *into, const char *from);
/*  Adds delta to the count of key's watchers kept with the product (its
    WATCHERS_MAX bound), never below 0: a watcher row moved to another
    partition (move.c) leaves this one's count.                          */
int catalogue_watchers_add (sessionizer_t *self, MDB_txn *txn, const char *key, int delta);
/*  Every product's watcher count made 0 (a partition new to the people
    moving into it, nd_repartition.c). 0 / -1.                          */
int catalogue_watchers_clear (sessionizer_t *self, MDB_txn *txn);

void catalogue_test (bool verbose);

#endif
