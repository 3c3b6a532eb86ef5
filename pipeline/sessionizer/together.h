/*  together.h - products bought together.

    Layer: store; together.c calls the catalogue and the base.          */
#ifndef TOGETHER_H_INCLUDED
#define TOGETHER_H_INCLUDED

#include <czmq.h>
#include "base.h"

/*  An order's items (the cart's form) teach which go together, and each
    counts as ordered once for its category's popular products.        */
int together_order (sessionizer_t *self, MDB_txn *txn, const json_t *items);
/*  Up to most products (as catalogue_shown gives them) that go with
    items, best first; none in items or in excluded (keys; may be NULL). */
json_t *together_goes_with (sessionizer_t *self, MDB_txn *txn, const json_t *items,
                            zhashx_t *excluded, size_t most);

#endif
