/*  move.h - one person's state, out of this partition and into another.

    Layer: store; move.c calls visitor.c, due.c, catalogue.c and the base.

    A person is a surviving visitor id (what the sessionizer puts in
    "user"); the visitors merged into it go with it.                      */
#ifndef MOVE_H_INCLUDED
#define MOVE_H_INCLUDED

#include "base.h"

/*  Everything this stage holds about person (their rows in every per
    person table; not the catalogue, together or counters), as one JSON
    object, removed from the state in txn. *state NULL and 0 when the
    stage holds nothing about person (or person is a merged-away id: its
    record goes with its survivor). -1 on an LMDB error (logged).         */
int sessionizer_person_export (sessionizer_t *self, MDB_txn *txn, const char *person,
                               json_t **state);
/*  Deletes everything sessionizer_person_export would take for person,
    keeping nothing (an erasure, a forgotten visitor): every id that
    leads to them, also those older than the profile lists, and the
    records of the visitors merged into them. 0 / -1.                    */
int sessionizer_person_drop (sessionizer_t *self, MDB_txn *txn, const char *person);
/*  Puts an exported person back into this stage's state in txn, as it
    was; rows already there under the same keys are overwritten. 0 / -1. */
int sessionizer_person_import (sessionizer_t *self, MDB_txn *txn, const json_t *state);
/*  Calls fn once for every person this stage holds (in id order), in a
    read or write txn (fn may export the person it is given); stops and
    returns fn's value when fn returns non-zero. 0 / -1.                 */
int sessionizer_person_each (sessionizer_t *self, MDB_txn *txn,
                             int (*fn) (const char *person, void *arg), void *arg);
/*  The visitor id that an anonymousId (kind 'a') or userId (kind 'u')
    belongs to, following merges to the survivor, into buf (size bytes).
    0, ND_NOTFOUND, or -1.                                                */
int sessionizer_person_of (sessionizer_t *self, MDB_txn *txn, char kind, const char *id,
                           char *buf, size_t size);
#endif
