/*  confirm.h - double opt-in: a link or code for a claimed contact.

    Layer: rules; confirm.c calls templates.c, people.c, counters.c.    */
#ifndef CONFIRM_H_INCLUDED
#define CONFIRM_H_INCLUDED

#include "base.h"

/*  Options (confirm-url, confirm-valid, confirm-per-day) and the secret,
    read at start.                                                        */
int confirm_setup (scheduler_t *self, MDB_txn *txn);
/*  With a secret, templates must have confirm/email and confirm/sms: at
    start and on reload. 0, or -1 with *error (the caller's).             */
int confirm_check (scheduler_t *self, templates_t *templates, char **error);
void confirm_teardown (scheduler_t *self);
/*  contact.claimed: the confirmation, unless a bound forbids it.        */
int confirm_claimed (scheduler_t *self, MDB_txn *txn, const nd_msg_t *msg);
/*  Whether key is a confirmation's idempotency key.                     */
bool confirm_key (const char *key);

#endif
