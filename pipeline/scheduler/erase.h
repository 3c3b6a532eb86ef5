/*  erase.h - forgetting a person: person.erased and visitor.forgotten.

    Layer: engine; erase.c calls confirm.c, journeys.c and the store.

    State: "erased"  'e' | 'p' + hex keyed hash of an erased person's
    address -> i64 time of the erasure.                                   */
#ifndef ERASE_H_INCLUDED
#define ERASE_H_INCLUDED

#include "base.h"

/*  person.erased and visitor.forgotten drop what is kept for the user;
    erase_recall keeps an erased address from marketing until its consent
    is given again (after a message that carried traits).                 */
int erase_person (scheduler_t *self, MDB_txn *txn, const nd_msg_t *msg);
int erase_recall (scheduler_t *self, MDB_txn *txn, const char *user);
/*  erased.hashes from another partition: its erased addresses' hashes.  */
int erase_hashes (scheduler_t *self, MDB_txn *txn, const nd_msg_t *msg);

#endif
