/*  viewed.h - the products viewed in a visitor's open session.

    Layer: store; viewed.c calls only the base.                         */
#ifndef VIEWED_H_INCLUDED
#define VIEWED_H_INCLUDED

#include "base.h"

/*  Products viewed in the open session kept at most.                   */
#define VIEWED_MAX 50

/*  The products viewed in the visitor's open session, most viewed first. */
json_t *shop_viewed (sessionizer_t *self, MDB_txn *txn, const char *visitor);
int shop_viewed_forget (sessionizer_t *self, MDB_txn *txn, const char *visitor);
/*  The first viewed entry of visitor, or 0 when there is none (-1 error);
    product NULL: the key alone, the record left unread.                  */
int shop_viewed_first (sessionizer_t *self, MDB_txn *txn, const char *visitor,
                       nd_key_t *key, json_t **product);

#endif
