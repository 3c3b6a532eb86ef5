/*  nd_jcache - JSON records of an LMDB table kept parsed between messages.

    A stage that reads the same record for message after message (a
    visitor's profile through a session, a product many people view)
    parses it once: the cache keeps the parsed value beside a copy of
    the bytes it came from, and a read compares those with the bytes the
    transaction sees. An entry whose bytes differ is parsed again, so an
    aborted transaction, a row written by other code (a move, an erase)
    or a restart never shows a stale record. Values read or written back
    match what nd_db_get_json would parse: nd_json writes reals with the
    17 digits that read back to the same double.

    Direct-mapped: slots entries, a key's slot by its hash; a key that
    lands on a taken slot pushes the other out. A NULL cache is no
    cache: each call is its nd_db_* counterpart (a self-test's state).   */
#ifndef ND_JCACHE_H_INCLUDED
#define ND_JCACHE_H_INCLUDED

#include "nd.h"

typedef struct _nd_jcache_t nd_jcache_t;

nd_jcache_t *nd_jcache_new (size_t slots);
void nd_jcache_destroy (nd_jcache_t **self_p);

/*  As nd_db_get_json, for a value the caller changes and stores back
    with nd_jcache_put: *value is the caller's alone.                    */
int nd_jcache_take (nd_jcache_t *self, MDB_txn *txn, MDB_dbi dbi, const nd_key_t *key,
                    json_t **value);
/*  As nd_db_get_json, for a value the caller only reads: *value is a
    new reference to what the cache keeps, which nobody may change.      */
int nd_jcache_get (nd_jcache_t *self, MDB_txn *txn, MDB_dbi dbi, const nd_key_t *key,
                   json_t **value);
/*  As nd_db_put_json, and keeps value for the next read: the caller
    may go on reading value but must not change it any more.             */
int nd_jcache_put (nd_jcache_t *self, MDB_txn *txn, MDB_dbi dbi, const nd_key_t *key,
                   json_t *value);
/*  Reads that found the value parsed, and all reads, for STATS.         */
void nd_jcache_counts (nd_jcache_t *self, uint64_t *hits, uint64_t *reads);

void nd_jcache_test (bool verbose);

#endif
