/*  together.h - products bought together.

    Layer: store; together.c calls only the base.                       */
#ifndef TOGETHER_H_INCLUDED
#define TOGETHER_H_INCLUDED

#include "base.h"

int together_product (sessionizer_t *self, MDB_txn *txn, const json_t *product,
                      const char *currency);
int together_order (sessionizer_t *self, MDB_txn *txn, const json_t *items, const char *currency);
/*  Up to most products that go with the cart's items, best first.      */
json_t *together_goes_with (sessionizer_t *self, MDB_txn *txn, const json_t *items, size_t most);

#endif
