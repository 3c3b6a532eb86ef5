/*  erase.h - a person's erasure: person.erase in, person.erased out.

    Layer: engine; erase.c calls session.c, the rules and the store.     */
#ifndef ERASE_H_INCLUDED
#define ERASE_H_INCLUDED

#include "base.h"

/*  person.erase -> everything kept for the visitor goes, person.erased
    goes on.                                                              */
int erase_apply (sessionizer_t *self, MDB_txn *txn, const nd_msg_t *msg);

#endif
