/*  identity.h - which visitor an event is: the identity graph.

    Layer: engine; identity.c calls session.c and the store.            */
#ifndef IDENTITY_H_INCLUDED
#define IDENTITY_H_INCLUDED

#include "base.h"

visitor_t *identity_resolve (sessionizer_t *self, MDB_txn *txn, const event_t *event);

void identity_test (bool verbose);

#endif
