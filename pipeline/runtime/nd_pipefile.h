/*  nd_pipefile - the pipeline file (czmq ZPL), the one reader of it.

    Every stage (through nd_config) and every tool reads conf/pipeline.zpl
    here, so that tap, nd-ctl and nd-supervisor find a stage exactly where
    the stage itself listens (nudge-pipeline(5) is the operator's page):

    - every top-level section other than "pipeline" is a stage;
    - an option is looked up in the stage's section, then in "pipeline";
    - a stage's program is option "program", default the stage's name;
    - its endpoints are options "out", "pub" and "ctl", default
      ipc://<run>/<stage>.out, .pub and .ctl, <run> being option "run"
      (default var/run);
    - its LMDB lives in <state>/<stage>, <state> being option "state"
      (default var/state).
    - a stage whose section says "partitions = N" (N > 1) runs as N
      stages, NAME.0 to NAME.(N-1), each owning a share of the people
      (README "Partitioned stages"); a section "partition-K" inside the
      stage's overrides its options for partition K (its endpoints, on
      another host). A partitioned stage reads a partitioned input
      partition by partition (both have as many); any other reads all of
      an input's partitions.

    Relative paths are relative to the directory the programs run in.
*/
#ifndef ND_PIPEFILE_H_INCLUDED
#define ND_PIPEFILE_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>

typedef struct _nd_pipefile_t nd_pipefile_t;

/*  Loads and checks the pipeline file at path. On failure returns NULL and
    sets *error to one line "<path>[:<line>]: <reason>" (the caller's).   */
nd_pipefile_t *nd_pipefile_load (const char *path, char **error);
/*  The same, as a stage reads the file for itself at start: an "input"
    need not be a section (an upstream may stand in at its default
    endpoints). --check and the tools use nd_pipefile_load.              */
nd_pipefile_t *nd_pipefile_load_stage (const char *path, char **error);
void nd_pipefile_destroy (nd_pipefile_t **self_p);

const char *nd_pipefile_path (nd_pipefile_t *self);
/*  The stages in file order.                                             */
size_t nd_pipefile_size (nd_pipefile_t *self);
const char *nd_pipefile_stage (nd_pipefile_t *self, size_t index);
bool nd_pipefile_has (nd_pipefile_t *self, const char *stage);

#define ND_PARTITIONS_MAX 64
/*  A stage's partition (from 0), and *parts its stage's count; -1 and
    *parts 1 for a stage that has none.                                   */
int nd_pipefile_partition (nd_pipefile_t *self, const char *stage, int *parts);
/*  The section a stage comes from: NAME for NAME.K, else the stage.      */
const char *nd_pipefile_section_name (nd_pipefile_t *self, const char *stage);
/*  The stages stage reads: its "input", each partitioned input made its
    partitions (only the same partition, for a stage partitioned as it
    is). An input that is no section stays as named. Caller destroys.     */
typedef struct _zlist_t zlist_t;
zlist_t *nd_pipefile_inputs (nd_pipefile_t *self, const char *stage);

/*  An option of a stage by path ("http", "write-keys/key"), or fallback. */
const char *nd_pipefile_option (nd_pipefile_t *self, const char *stage,
                                const char *path, const char *fallback);
const char *nd_pipefile_program (nd_pipefile_t *self, const char *stage);
/*  kind is "out", "pub" or "ctl". Returns the caller's string.           */
char *nd_pipefile_endpoint (nd_pipefile_t *self, const char *stage, const char *kind);
/*  The stage's LMDB directory. Returns the caller's string.              */
char *nd_pipefile_state_dir (nd_pipefile_t *self, const char *stage);
/*  The line that sets section/path (path NULL: the section's own line),
    its nth time (from 0) for a repeated child; 0 when not found.         */
int nd_pipefile_line (nd_pipefile_t *self, const char *section, const char *path, size_t nth);

/*  Resolves a tool's command-line target. One containing "://" is an
    endpoint and returned as is; any other names a stage in the pipeline
    file at config, and its endpoint of kind is returned, ready to connect
    to (a tcp wildcard bind, host "*" or "0.0.0.0", becomes a connect to
    127.0.0.1 on the same port). On failure returns NULL and sets *error to one
    line (the caller's).                                                  */
char *nd_pipefile_target (const char *config, const char *target,
                          const char *kind, char **error);
/*  The same, and *curve_public set to the public certificate of a stage
    that uses CURVE (option "curve"), the file a client needs to reach it
    (see nd_curve_public_file); NULL for a stage without "curve" and for
    an endpoint given as is. Both strings are the caller's.              */
char *nd_pipefile_target_curve (const char *config, const char *target, const char *kind,
                                char **curve_public, char **error);
/*  Prepares a tool's socket to connect to a target resolved above: with
    curve_public (the stage uses CURVE), a CURVE client with the keypair in
    cert, else plain (and cert must be NULL). Returns 0, or -1 with *error
    saying what the operator has to give (the caller's).                 */
int nd_pipefile_secure (void *socket, const char *target, const char *curve_public,
                        const char *cert, char **error);
/*  True when endpoint is ipc:// and nothing exists at its path: no stage
    has bound it, so connecting would only wait.                          */
bool nd_pipefile_ipc_absent (const char *endpoint);

/*  True when name keeps to letters, digits, '.', '_' and '-' and does
    not start with '.' or '-': names end up in socket paths, LMDB
    directories, supervisor program names and key files, so they keep to
    what is safe in all of them.                                          */
bool nd_pipefile_simple_name (const char *name);

/*  For a tool's main, before its own options, as nd_version_arg: with
    "--check" among the arguments, loads and checks the pipeline file its
    -c/--config (under --root, if given) names, default
    conf/pipeline.zpl, and the key file its --cert names; prints
    "NAME: FILE: configuration ok" and exits 0, or prints the first error
    as FILE:LINE: reason on stderr and exits 78 (EX_CONFIG).             */
void nd_check_arg (int argc, char **argv, const char *name);

void nd_pipefile_test (bool verbose);

#endif
