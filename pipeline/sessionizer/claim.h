/*  claim.h - contact details from a browser.

    Layer: rules; claim.c calls only the base.                           */
#ifndef CLAIM_H_INCLUDED
#define CLAIM_H_INCLUDED

#include "base.h"

/*  Whether name is one of the traits a browser may only claim.          */
bool claim_trait (const char *name);
/*  Removes those traits from traits (an object, or nothing is done).    */
void claim_strip (json_t *traits);
/*  Announces the contacts in update (a browser's traits) that traits (the
    profile's) does not hold, each at most once a day.                   */
int claim_contacts (sessionizer_t *self, MDB_txn *txn, visitor_t *visitor, const event_t *event,
                    const json_t *update, const json_t *traits);

#endif
