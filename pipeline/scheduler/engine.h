/*  engine.h - running an instance's steps: wait, check, split, send.

    Layer: engine; engine.c calls send.c, the rules and the store.      */
#ifndef ENGINE_H_INCLUDED
#define ENGINE_H_INCLUDED

#include "base.h"
#include "instance.h"

/*  engine.c: runs steps from the instance's current one until it waits
    or ends. at: when this run happens (entry time or now).              */
int engine_run (scheduler_t *self, MDB_txn *txn, instance_t *instance, int64_t at);

#endif
