/*  collector_route.h - the person router: which visitor each event is
    about, decided before the sessionizer sees it (collector_route.c).

    Layer: store and rules of the collector.                              */
#ifndef COLLECTOR_ROUTE_H_INCLUDED
#define COLLECTOR_ROUTE_H_INCLUDED

#include "collector.h"

//  A visitor id ("v-" and a counter), as the sessionizer's VISITOR_ID_MAX.
#define COLLECTOR_VISITOR_MAX 32

typedef struct _collector_route_t collector_route_t;

/*  What an event did besides naming its visitor: loser merged into
    survivor (loser "" when it merged nothing).                           */
typedef struct {
    char loser [COLLECTOR_VISITOR_MAX];
    char survivor [COLLECTOR_VISITOR_MAX];
} collector_merge_t;

/*  How many partitions the collector's partitioned consumers run in, from
    the pipeline file at config: *parts 1 when none is partitioned (the
    router stays off). -1 after logging file:line when two partitioned
    consumers disagree, or the file does not load.                        */
int collector_route_parts (const char *config, const char *stage, int *parts);

/*  Opens the router's tables in txn; parts is the consumers' count (> 1). */
collector_route_t *collector_route_new (MDB_txn *txn, int parts);
void collector_route_destroy (collector_route_t **self_p);
/*  A router that has named nobody yet takes the people a sessionizer of
    one partition named, from the seed nd-repartition left at path
    (sessionizer seed.c: JSON lines), in txn. Nothing to do (0) when the
    router has named people already (it took the seed then) or there is
    no file. The people taken, or -1 (a line it cannot read:
    path:line: reason, logged; nothing taken).                           */
long collector_route_seed (collector_route_t *self, MDB_txn *txn, const char *path);

/*  Resolves an event (topic, body as stored) to its visitor exactly as the
    sessionizer's identity_resolve will, minting as it would; sets
    "visitor" in body, *key to the visitor's routing key, and *merge.
    0, or ND_NOTFOUND for a message the sessionizer resolves to no one
    (not a Segment event, or one it rejects), or -1 on a store error.    */
int collector_route_event (collector_route_t *self, MDB_txn *txn, const char *topic,
                           json_t *body, uint32_t *key, collector_merge_t *merge);

/*  A message about a visitor by its "user" (a click, a push report, an
    unsubscribe): *key the routing key of the person that visitor is now,
    merges followed. ND_NOTFOUND when it names no one; -1 on an error.   */
int collector_route_user (collector_route_t *self, MDB_txn *txn, const json_t *body,
                          uint32_t *key);

/*  True when merge moves a person from one partition to another.        */
bool collector_route_crosses (collector_route_t *self, const collector_merge_t *merge);

/*  person.erase of visitor: forgets the visitor it leads to, the ids that
    lead there and the visitors merged into it. keys (2 at most) get the
    partitions of the id asked and of the person erased. 0 or -1.        */
int collector_route_erase (collector_route_t *self, MDB_txn *txn, const char *visitor,
                           uint32_t *keys, size_t *count);

/*  route_ids, route_visitors, route_owned: rows in the router's tables. */
void collector_route_stats (collector_route_t *self, MDB_txn *txn, json_t *stats);

void collector_route_test (bool verbose);

#endif
