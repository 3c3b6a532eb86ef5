/*  visitor.h - loading and storing one visitor.

    Layer: store; visitor.c calls cart.c, due.c and viewed.c.           */
#ifndef VISITOR_H_INCLUDED
#define VISITOR_H_INCLUDED

#include "base.h"

visitor_t *visitor_load (sessionizer_t *self, MDB_txn *txn, const char *id, bool *moved);
/*  The record of id itself, a merged one too (merged_into set): one hop
    of the chain visitor_load follows. A missing one comes back empty.   */
visitor_t *visitor_load_one (sessionizer_t *self, MDB_txn *txn, const char *id);
/*  A new visitor: the id stamp names (the collector's router, "v-N"),
    unless it is no such id or taken, else the counter's next. The counter
    stays past every id minted either way.                              */
visitor_t *visitor_mint (sessionizer_t *self, MDB_txn *txn, int64_t time, const char *stamp);
json_t *visitor_profile (sessionizer_t *self, MDB_txn *txn, visitor_t *visitor);
nd_cart_t *visitor_cart (sessionizer_t *self, MDB_txn *txn, visitor_t *visitor);
void visitor_set_text (char **field, const char *value);
void visitor_seen (visitor_t *visitor, int64_t time);
int visitor_store (sessionizer_t *self, MDB_txn *txn, visitor_t *visitor);
int visitor_retire (sessionizer_t *self, MDB_txn *txn, visitor_t *visitor, const char *survivor);
void visitor_destroy (visitor_t **self_p);
/*  For the self-tests: a visitor held in memory alone, its profile and
    cart empty and already read, so that no call needs them from state. */
visitor_t *visitor_test_new (sessionizer_t *self, const char *id);

/*  An empty profile, and the parts of profile.updated a profile gives:
    ids, traits, and on which channels the person can be reached.       */
json_t *profile_new (void);
void profile_describe (const json_t *profile, json_t *body);

#endif
