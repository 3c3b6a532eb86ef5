/*  shop.h - e-commerce events: carts, views, orders.

    Layer: rules; shop.c calls the store.                                */
#ifndef SHOP_H_INCLUDED
#define SHOP_H_INCLUDED

#include "base.h"

int shop_apply (sessionizer_t *self, MDB_txn *txn, visitor_t *visitor, const event_t *event);
const char *shop_step_name (int64_t step);
int shop_viewed_merge (sessionizer_t *self, MDB_txn *txn, visitor_t *into, const char *from);

/*  A new session for a visitor whose cart is still full.      */
int shop_returned (sessionizer_t *self, MDB_txn *txn, visitor_t *visitor, const event_t *event);

#endif
