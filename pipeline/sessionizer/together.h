/*  together.h - products bought together.

    Layer: store; together.c calls the catalogue and the base.          */
#ifndef TOGETHER_H_INCLUDED
#define TOGETHER_H_INCLUDED

#include "base.h"

/*  An order's items (the cart's form) teach which go together, and each
    counts as ordered once for its category's popular products.        */
int together_order (sessionizer_t *self, MDB_txn *txn, const json_t *items);
/*  Up to most products (as catalogue_shown gives them) that go with
    items, best first; none of the items.                                */
json_t *together_goes_with (sessionizer_t *self, MDB_txn *txn, const json_t *items, size_t most);

#endif
