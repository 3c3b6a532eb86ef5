/*  cart.h - nd_cart, the lines of one shopper's cart.

    A class over the cart's JSON record ({"items": [...], "currency": "EUR"})
    so the sessionizer can store it as it is; it knows nothing of LMDB or
    of messages, which keeps it testable on its own (nd_cart_test).

    Layer: store (base.h names the layers); cart.c calls nothing of the
    sessionizer's.                                                        */
#ifndef ND_CART_H_INCLUDED
#define ND_CART_H_INCLUDED

#include <stdbool.h>
#include <stdint.h>
#include <jansson.h>

typedef struct _nd_cart_t nd_cart_t;

/*  Takes ownership of record (as stored; NULL for an empty cart).
    currency is shown when no event ever named one.                      */
nd_cart_t *nd_cart_new (json_t *record, const char *currency);
void nd_cart_destroy (nd_cart_t **self_p);

/*  Each change returns true when the cart is now different.             */
/*  properties of "Product Added": adds "quantity" (default 1) of it.    */
bool nd_cart_add (nd_cart_t *self, const json_t *product);
/*  properties of "Product Removed": takes "quantity" off, or the line.  */
bool nd_cart_remove (nd_cart_t *self, const json_t *product);
/*  products[] of "Cart Viewed" or "Checkout Started": the whole cart.   */
bool nd_cart_replace (nd_cart_t *self, const json_t *products);
/*  Adds other's lines (two devices of one person become one cart).      */
bool nd_cart_merge (nd_cart_t *self, const nd_cart_t *other);
bool nd_cart_empty (nd_cart_t *self);
bool nd_cart_set_currency (nd_cart_t *self, const char *currency);

bool nd_cart_is_empty (const nd_cart_t *self);
/*  Pieces in the cart (the sum of the lines' quantities).               */
int64_t nd_cart_quantity (const nd_cart_t *self);
/*  Sum of price x quantity, rounded to cents.                            */
double nd_cart_value (const nd_cart_t *self);
/*  The record to store. Caller owns the reference.                      */
json_t *nd_cart_record (const nd_cart_t *self);
/*  {"items": [...], "value": 12.5, "currency": "EUR"} for a message; a
    copy the caller owns.                                                 */
json_t *nd_cart_json (const nd_cart_t *self);

/*  A product as the sessionizer keeps it (product_id, sku, name, brand,
    variant, category, url, image_url as text, price as a number) from
    event properties, or NULL when nothing identifies it. Caller owns.   */
json_t *nd_cart_product (const json_t *properties);
/*  Whether two products made by nd_cart_product are the same article.   */
bool nd_cart_same_product (const json_t *a, const json_t *b);

void nd_cart_test (bool verbose);

#endif
