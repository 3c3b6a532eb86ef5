/*  recommend.h - products to show beside a cart, an order or a product.

    Layer: rules; recommend.c calls the store (together.c, catalogue.c). */
#ifndef RECOMMEND_H_INCLUDED
#define RECOMMEND_H_INCLUDED

#include "base.h"

/*  Products that go with items (the cart's form), at most RECOMMEND_MAX. */
#define RECOMMEND_MAX 4
json_t *recommend (sessionizer_t *self, MDB_txn *txn, const json_t *items);

#endif
