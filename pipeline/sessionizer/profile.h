/*  profile.h - who a visitor is: their ids and their traits, as a
    JSON record.

    Layer: rules; profile.c calls claim.c and the store.                 */
#ifndef PROFILE_H_INCLUDED
#define PROFILE_H_INCLUDED

#include "base.h"

int profile_update (sessionizer_t *self, MDB_txn *txn, visitor_t *visitor,
                    const event_t *event, bool session_started);
bool profile_add_id (json_t *profile, const char *list, const char *id);
bool profile_merge (json_t *profile, const json_t *other);
/*  Lists loser, and the visitors merged into it before, in the profile's
    "merged": their records stay behind as pointers to this visitor, and
    a move of the person to another partition takes them (move.c). Not
    announced: no stage downstream needs it.                              */
bool profile_add_merged (json_t *profile, const json_t *other, const char *loser);
void profile_test (bool verbose);

#endif
