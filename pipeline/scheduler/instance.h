/*  instance.h - journey instances as records: load, store, end,
    clean up, rehome; and JSON records in LMDB.

    Layer: store; instance.c calls timers.c, counters.c and the base.   */
#ifndef INSTANCE_H_INCLUDED
#define INSTANCE_H_INCLUDED

#include "base.h"
#include "timers.h"
#include "counters.h"

/*  One journey instance, loaded: its id and its JSON record.            */
typedef struct {
    uint64_t id;
    json_t *record;
    const journey_t *journey;
} instance_t;

instance_t *instance_load (scheduler_t *self, MDB_txn *txn, uint64_t id);
int instance_store (scheduler_t *self, MDB_txn *txn, instance_t *instance);
void instance_destroy (instance_t **self_p);
/*  "<epoch>-<n>", the instance's name in keys and messages.             */
const char *instance_name (scheduler_t *self, const instance_t *instance, char *buf);
int instance_sleep (scheduler_t *self, MDB_txn *txn, instance_t *instance, int64_t due);
/*  Ends the instance: reason is "done" or why it stopped.               */
int instance_finish (scheduler_t *self, MDB_txn *txn, instance_t *instance,
                     const char *reason, int64_t now);
int instance_cleanup (scheduler_t *self, MDB_txn *txn, uint64_t id);
/*  The loser's instances become the survivor's (visitor.merged).        */
int instance_rehome (scheduler_t *self, MDB_txn *txn, const char *loser, const char *survivor,
                     int64_t now);
/*  The instance this user runs in journey, 0 if none; the keys of the
    active and owned indexes (lifecycle.c starts instances).             */
uint64_t instance_active (scheduler_t *self, MDB_txn *txn, const char *user, const char *journey);
void instance_active_key (nd_key_t *key, const char *user, const char *journey);
void instance_owned_key (nd_key_t *key, const char *user, uint64_t id);
/*  The ids of the instances user owns ("owned"), as u64 in the list's
    void * items, in id order; NULL on a database error.                  */
zlistx_t *instance_owned (scheduler_t *self, MDB_txn *txn, const char *user);
/*  A JSON record in dbi: as nd_db_get_json / nd_db_put_json.            */
int record_get (MDB_txn *txn, MDB_dbi dbi, const nd_key_t *key, json_t **record);
int record_put (MDB_txn *txn, MDB_dbi dbi, const nd_key_t *key, const json_t *record);
int64_t record_int (const json_t *record, const char *field);
const char *record_str (const json_t *record, const char *field);

#endif
