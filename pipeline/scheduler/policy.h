/*  policy.h - send-time rules: order, browsing, chat, channel,
    quiet hours, frequency caps.

    Layer: rules; policy.c calls journey.c, the store and the base.     */
#ifndef POLICY_H_INCLUDED
#define POLICY_H_INCLUDED

#include "base.h"
#include "instance.h"
#include "people.h"

typedef enum { SENT, DEFERRED, SKIPPED, EXITED } send_result_t;
/*  One try at a send step: from which of its channels, for a fallback
    the message that failed, and since when the step has been due.      */
typedef struct {
    size_t first;
    const char *fallback_of;
    int64_t since;
} attempt_t;
typedef struct {
    send_result_t verdict;      //  SENT means "may send now"
    channel_t channel;
    size_t channel_index;
    int64_t until;              //  DEFERRED: look again then
    const char *reason;         //  why not now
    char behind [NAME_MAX_LEN]; //  cap: the journey that has or takes the slot
} decision_t;
int policy_decide (scheduler_t *self, MDB_txn *txn, const instance_t *instance,
                   const step_t *step, person_t *person, const attempt_t *attempt,
                   int64_t now, decision_t *decision);
/*  Records a message in the person's history for the caps.              */
int policy_record (scheduler_t *self, MDB_txn *txn, const char *user, int64_t time,
                   const char *key, channel_t channel);
int policy_forget (scheduler_t *self, MDB_txn *txn, const char *user, int64_t time,
                   const char *key);
/*  Next moment >= base at local time of day minutes in the person's zone. */
int64_t policy_next_local (scheduler_t *self, person_t *person, int64_t base, int minutes);
void policy_test (bool verbose);

#endif
