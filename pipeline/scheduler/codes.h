/*  codes.h - unique expiring discount codes.

    Layer: store; codes.c calls instance.c, counters.c and the base.    */
#ifndef CODES_H_INCLUDED
#define CODES_H_INCLUDED

#include "base.h"
#include "instance.h"

/*  Issues a new code for the instance's step; emits code.issued. Returns
    {"code", "percent", "expires"} (the caller's) or NULL.               */
json_t *codes_issue (scheduler_t *self, MDB_txn *txn, const instance_t *instance,
                     const step_t *step, int64_t now);
/*  The code numbered n (its TIMER_CODE, a day before it expires), once:
    *code is its record (the caller's) if it is still unused, else NULL.
    Returns 0, or -1 on error.                                           */
int codes_expiring (scheduler_t *self, MDB_txn *txn, uint64_t n, json_t **code);
/*  When the reminder of a code that expires then is due (its TIMER_CODE,
    set only for a code valid three days or more).                       */
int64_t codes_reminder_due (int64_t expires);
/*  meta: "code-due" + u64 n -> {"code"}: the code TIMER_CODE n names.   */
void codes_due_key (nd_key_t *key, uint64_t n);
/*  user-codes: user + code -> u64 n of its reminder (0: none).          */
void codes_user_key (nd_key_t *key, const char *user, const char *code);
/*  Indexes the codes by person if a state from before user-codes has
    codes and no index yet (at setup). Returns 0 / -1.                   */
int codes_index (scheduler_t *self, MDB_txn *txn);
/*  An order used code: marks it redeemed.                                */
int codes_redeem (scheduler_t *self, MDB_txn *txn, const char *code, const char *order,
                  int64_t time);
/*  The code for counter n under secret, into buf (at least 32 bytes);
    in partition part of parts (0 of 1: unpartitioned), one that no other
    partition gives.                                                      */
const char *codes_make (const uint8_t *secret, uint64_t n, int part, int parts,
                        const char *prefix, char *buf);
void codes_test (bool verbose);

#endif
