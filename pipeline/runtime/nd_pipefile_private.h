/*  nd_pipefile_private.h - what the files of nd_pipefile share.

    Layer: runtime, the pipeline file's reader, inside it only. The
    reader is one class in five files, each one step (nd_pipefile_zpl.c,
    nd_pipefile.c, nd_pipefile_load.c, nd_pipefile_tools.c and
    nd_pipefile_test.c, lowest first); this header holds the class's
    state and the helpers that cross between its files, so no other
    runtime file sees them. The public side is nd_pipefile.h, and
    nd_private.h for nd_config.                                           */
#ifndef ND_PIPEFILE_PRIVATE_H_INCLUDED
#define ND_PIPEFILE_PRIVATE_H_INCLUDED
#include "nd_private.h"

/*  A stage as it runs: a section, or one partition of a section that
    says "partitions = N" (named SECTION.K, K from 0).                    */
typedef struct {
    zconfig_t *section;
    char *name;
    int part;                   /* its partition, -1: the stage has none */
    int parts;                  /* its stage's partitions, 1: none */
} nd_pipefile_stage_t;

struct _nd_pipefile_t {
    char *path;
    zconfig_t *root;
    zconfig_t *defaults;        /* the "pipeline" section, or NULL */
    nd_pipefile_stage_t *stages;    /* the stages in file order */
    size_t size;
};

/*  nd_pipefile_zpl.c: "<path>:<line>: <reason>", or "<path>: <reason>"
    when line is 0. Returns the caller's string.                          */
char *nd_pipefile_error (const char *path, int line, const char *reason);
/*  The line where path ("stage", "stage/option", "stage/list/child") is
    set in file, its nth time (from 0) for a repeated child. 0: not found. */
int nd_pipefile_line_of (const char *file, const char *want, size_t nth);

/*  nd_pipefile.c: the stage called name, NULL if none.                   */
nd_pipefile_stage_t *nd_pipefile_find (nd_pipefile_t *self, const char *name);
/*  The first stage made from the section called name, NULL if none.     */
nd_pipefile_stage_t *nd_pipefile_find_section (nd_pipefile_t *self, const char *name);

#endif
