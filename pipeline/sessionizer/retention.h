/*  retention.h - forgetting anonymous visitors nobody will hear from
    again.

    Layer: engine; retention.c calls the store.                       */
#ifndef RETENTION_H_INCLUDED
#define RETENTION_H_INCLUDED

#include "base.h"

int retention_expire (sessionizer_t *self, MDB_txn *txn, int64_t now);
void retention_committed (sessionizer_t *self, int rc);

#endif
