/*  seed.h - what the collector's router must know of the people this
    sessionizer named before it had partitions.

    Layer: store; seed.c calls visitor.c and the base.                    */
#ifndef SEED_H_INCLUDED
#define SEED_H_INCLUDED

#include <stdio.h>
#include "base.h"

/*  Writes the identity graph as JSON lines to out, in txn: one
    {"next": N} (the visitor counter), a {"visitor", "userId",
    "mergedInto"} per visitor record ("" for none), and a {"kind": "a" or
    "u", "id", "visitor"} per id, as the ids table binds it. 0 / -1.      */
int sessionizer_seed_write (sessionizer_t *self, MDB_txn *txn, FILE *out);
#endif
