/*  nd_state - a stage's LMDB state, opened read-only by an operator tool.

    The stage owns its environment; a tool only reads, in one short read
    transaction, while the stage runs (LMDB readers never block the
    writer). The state is found as the stage finds it: <state>/<stage>
    from the pipeline file, or a directory given outright. A section with
    "partitions = N" runs as N stages, each with its own state: a tool
    that reports on the section reads them all (nd_state_stages).       */
#ifndef ND_STATE_H_INCLUDED
#define ND_STATE_H_INCLUDED

#include <stdbool.h>
#include <stdint.h>
#include <lmdb.h>

typedef struct _nd_state_t nd_state_t;
typedef struct _zlist_t zlist_t;

/*  The stages name stands for in the pipeline file at config: a stage as
    it is ("segmenter", or one partition "segmenter.1" alone), or each
    partition of a partitioned section, NAME.0 to NAME.(N-1) in order.
    A list of strings (the caller destroys it); NULL with *error set when
    name is neither a stage nor a section.                               */
zlist_t *nd_state_stages (const char *config, const char *name, char **error);

/*  Opens stage's state, from dir if not NULL, else from the pipeline file
    config. On failure returns NULL and sets *error (one line, caller's). */
nd_state_t *nd_state_open (const char *config, const char *stage, const char *dir,
                           char **error);
void nd_state_destroy (nd_state_t **self_p);
/*  The read transaction, open until destroy.                             */
MDB_txn *nd_state_txn (nd_state_t *self);
/*  A named database of the state: 0, or -1 with *error set.              */
int nd_state_dbi (nd_state_t *self, const char *name, MDB_dbi *dbi, char **error);
const char *nd_state_dir (nd_state_t *self);
/*  "now" as the stage sees it: on the event clock (the pipeline file says
    clock = event, or, for a directory given outright, the stage saved an
    event time) the event time its state has reached, else the wall clock;
    *event says which.                                                    */
int64_t nd_state_now (nd_state_t *self, bool *event);

#endif
