/*  nd_pipefile_load - loading the pipeline file: its stages, then checks.

    Layer: runtime, the pipeline file's reader, above the class's lookups
    (nd_pipefile.c): the checks ask the same questions a stage asks (its
    program, its endpoints, its inputs), so they are made through them.

    The checks here are the ones that need no stage: the file parses
    (czmq's ZPL), stage names are usable as file and program names,
    endpoints look like endpoints and no two stages claim the same one,
    and (unless a stage reads the file for itself at start) every "input"
    names a stage. Each error says file:line when the line is known.
*/
#include <czmq.h>
#include "nd_pipefile_private.h"

static const char *s_kinds [] = { "out", "pub", "ctl" };

/* ------------------------------------------------------------- checks */

//  "<file>:<line>: <stage>: <reason>", the line being where the stage sets
//  path, else where [pipeline] does, else the stage's own line.
static char *s_error_at (nd_pipefile_t *self, const char *stage, const char *path,
                         const char *reason)
{
    int line = path ? nd_pipefile_line (self, stage, path, 0) : 0;
    if (!line && path)
        line = nd_pipefile_line (self, "pipeline", path, 0);
    if (!line)
        line = nd_pipefile_line (self, stage, NULL, 0);
    char *said = zsys_sprintf ("%s: %s", stage, reason);
    char *error = nd_pipefile_error (self->path, line, said);
    free (said);
    return error;
}

bool
nd_pipefile_simple_name (const char *name)
{
    if (!*name || *name == '.' || *name == '-')
        return false;
    for (const char *c = name; *c; c++)
        if (!isalnum ((unsigned char) *c) && !strchr ("._-", *c))
            return false;
    return true;
}

//  "partitions = N" and its "partition-K" sections; sets *parts or says why not.
static char *s_partitions (zconfig_t *section, int *parts)
{
    const char *value = zconfig_get (section, "partitions", "1");
    char *end;
    long count = strtol (value, &end, 10);
    if (*end || end == value || count < 1 || count > ND_PARTITIONS_MAX)
        return zsys_sprintf ("partitions = '%s': a number from 1 to %d", value, ND_PARTITIONS_MAX);
    *parts = (int) count;
    for (zconfig_t *c = zconfig_child (section); c; c = zconfig_next (c)) {
        const char *name = zconfig_name (c);
        if (strncmp (name, "partition-", 10))
            continue;
        long part = strtol (name + 10, &end, 10);
        if (*end || end == name + 10 || part < 0 || part >= count || count == 1)
            return zsys_sprintf ("%s: this stage has partitions 0 to %ld only", name, count - 1);
    }
    return NULL;
}

static char *s_add_stage (nd_pipefile_t *self, zconfig_t *section, int part, int parts)
{
    const char *name = zconfig_name (section);
    char *instance = part < 0 ? strdup (name) : zsys_sprintf ("%s.%d", name, part);
    if (nd_pipefile_find (self, instance)) {
        char *reason = zsys_sprintf ("stage '%s' appears twice", instance);
        free (instance);
        return reason;
    }
    self->stages [self->size++] = (nd_pipefile_stage_t) { section, instance, part, parts };
    return NULL;
}

static char *
s_index_section (nd_pipefile_t *self, zconfig_t *section)
{
    const char *name = zconfig_name (section);
    int line = nd_pipefile_line (self, name, NULL, 0), parts = 1;
    char *reason = NULL;
    if (*zconfig_value (section))
        reason = zsys_sprintf ("'%s = %s' at top level: options belong under a stage or 'pipeline'",
                               name, zconfig_value (section));
    else
    if (streq (name, "pipeline")) {
        if (self->defaults) {
            reason = zsys_sprintf ("section 'pipeline' appears twice");
            line = nd_pipefile_line (self, name, NULL, 1);
        }
        self->defaults = section;
    }
    else
    if (!nd_pipefile_simple_name (name))
        reason = zsys_sprintf ("stage name '%s': use letters, digits, '.', '_' and '-'", name);
    else
    if (nd_pipefile_find_section (self, name)) {
        reason = zsys_sprintf ("stage '%s' appears twice", name);
        line = nd_pipefile_line (self, name, NULL, 1);
    }
    else
    if ((reason = s_partitions (section, &parts))) {
        int at = nd_pipefile_line (self, name, "partitions", 0);
        line = at ? at : line;
    }
    else
    if (parts == 1)
        reason = s_add_stage (self, section, -1, 1);
    else
        for (int part = 0; part < parts && !reason; part++)
            reason = s_add_stage (self, section, part, parts);
    if (!reason)
        return NULL;
    char *error = nd_pipefile_error (self->path, line, reason);
    free (reason);
    return error;
}

static char *
s_index (nd_pipefile_t *self)
{
    size_t count = 0;
    for (zconfig_t *s = zconfig_child (self->root); s; s = zconfig_next (s)) {
        const char *parts = zconfig_get (s, "partitions", "1");
        count += atoi (parts) > 1 && atoi (parts) <= ND_PARTITIONS_MAX ? atoi (parts) : 1;
    }
    self->stages = (nd_pipefile_stage_t *) zmalloc ((count + 1) * sizeof (nd_pipefile_stage_t));
    for (zconfig_t *s = zconfig_child (self->root); s; s = zconfig_next (s)) {
        char *error = s_index_section (self, s);
        if (error)
            return error;
    }
    if (self->size == 0)
        return zsys_sprintf ("%s: no stages (a stage is a top-level section other than 'pipeline')",
                             self->path);
    return NULL;
}

/*  Two stages binding one endpoint would fail at run time with "address
    in use" on whichever starts second; say so before anything runs.       */
static char *
s_check_endpoints (nd_pipefile_t *self, size_t index, zhashx_t *seen)
{
    const char *stage = nd_pipefile_stage (self, index);
    for (size_t k = 0; k < sizeof s_kinds / sizeof *s_kinds; k++) {
        char *endpoint = nd_pipefile_endpoint (self, stage, s_kinds [k]);
        char *error = NULL;
        const char *other = (const char *) zhashx_lookup (seen, endpoint);
        if (!strstr (endpoint, "://")) {
            char *reason = zsys_sprintf ("%s = '%s' is not an endpoint (ipc://PATH or tcp://HOST:PORT)",
                                         s_kinds [k], endpoint);
            error = s_error_at (self, stage, s_kinds [k], reason);
            free (reason);
        }
        else
        if (other) {
            char *reason = zsys_sprintf ("%s and %s both use %s", other, stage, endpoint);
            error = s_error_at (self, stage, s_kinds [k], reason);
            free (reason);
        }
        else
            zhashx_insert (seen, endpoint, (void *) stage);
        free (endpoint);
        if (error)
            return error;
    }
    return NULL;
}

static char *
s_check_program (nd_pipefile_t *self, size_t index)
{
    const char *stage = nd_pipefile_stage (self, index);
    const char *program = nd_pipefile_program (self, stage);
    if (nd_pipefile_simple_name (program))
        return NULL;
    char *reason = zsys_sprintf ("program '%s' is not a program name (no paths: see nd-supervisor --bin)",
                                 program);
    char *error = s_error_at (self, stage, "program", reason);
    free (reason);
    return error;
}

//  "input" lists upstream stages, separated by commas or spaces. A
//  partitioned stage reads a partitioned one partition by partition, so
//  both have as many.
static char *
s_check_inputs (nd_pipefile_t *self, size_t index)
{
    const char *stage = nd_pipefile_stage (self, index);
    const nd_pipefile_stage_t *me = &self->stages [index];
    char *inputs = strdup (nd_pipefile_option (self, stage, "input", ""));
    char *error = NULL;
    for (char *save = NULL, *input = strtok_r (inputs, ", \t", &save);
         input && !error; input = strtok_r (NULL, ", \t", &save)) {
        char *reason = NULL;
        const nd_pipefile_stage_t *up = nd_pipefile_find_section (self, input);
        if (!up)
            reason = zsys_sprintf ("input '%s' is not a stage in this file", input);
        else
        if (up->section == me->section)
            reason = zsys_sprintf ("a stage cannot be its own input");
        else
        if (me->parts > 1 && up->parts > 1 && me->parts != up->parts)
            reason = zsys_sprintf ("it has %d partitions and its input %s has %d: a partitioned stage "
                                   "reads one with as many partitions, or one with none",
                                   me->parts, input, up->parts);
        if (reason)
            error = s_error_at (self, stage, "input", reason);
        free (reason);
    }
    free (inputs);
    return error;
}

static char *
s_check (nd_pipefile_t *self, bool inputs)
{
    zhashx_t *seen = zhashx_new ();
    char *error = NULL;
    for (size_t index = 0; index < self->size && !error; index++) {
        error = s_check_program (self, index);
        if (!error && inputs)
            error = s_check_inputs (self, index);
        if (!error)
            error = s_check_endpoints (self, index, seen);
    }
    zhashx_destroy (&seen);
    return error;
}

static nd_pipefile_t *
s_load (const char *path, bool inputs, char **error)
{
    assert (path && error);
    *error = NULL;
    zconfig_t *root = nd_zpl_parse (path, error);
    if (!root)
        return NULL;
    nd_pipefile_t *self = (nd_pipefile_t *) zmalloc (sizeof (nd_pipefile_t));
    self->path = strdup (path);
    self->root = root;
    *error = s_index (self);
    if (!*error)
        *error = s_check (self, inputs);
    if (*error)
        nd_pipefile_destroy (&self);
    return self;
}

nd_pipefile_t *
nd_pipefile_load (const char *path, char **error)
{
    return s_load (path, true, error);
}

nd_pipefile_t *
nd_pipefile_load_stage (const char *path, char **error)
{
    return s_load (path, false, error);
}
