/*  move.h - one person's state out of this scheduler and into another:
    partitioned schedulers (issue #15) and the re-partition tool.

    Layer: store; move.c calls instance.c, codes.c, timers.c and the base. */
#ifndef MOVE_H_INCLUDED
#define MOVE_H_INCLUDED

#include "base.h"

/*  Everything the scheduler holds about person (a visitor id), as one
    JSON object, removed from the state in txn. *state NULL and 0 when it
    holds nothing of person; -1 on an LMDB error (logged).               */
int scheduler_person_export (scheduler_t *self, MDB_txn *txn, const char *person,
                             json_t **state);
/*  Puts an exported person back in txn, as they were; their rows already
    there are overwritten. Refuses (-1, logged) to overwrite an instance
    or a code reminder of someone else: those are numbered per state.    */
int scheduler_person_import (scheduler_t *self, MDB_txn *txn, const json_t *state);
/*  Raises next-instance and next-code to at least numbers [0] and [1],
    then writes the state's (the larger) back there (nd_repartition). */
int scheduler_numbers (scheduler_t *self, MDB_txn *txn, uint64_t *numbers);
/*  Calls fn once for every person the state holds (any order); stops and
    returns fn's value when that is not 0. Returns 0 / -1.               */
int scheduler_person_each (scheduler_t *self, MDB_txn *txn,
                           int (*fn) (const char *person, void *arg), void *arg);

#endif
