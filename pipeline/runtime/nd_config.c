/*  nd_config - the pipeline file as one stage sees it.

    Layer: the runtime's configuration, over nd_pipefile (the one reader
    of the file, which the tools use too). Options are looked up in the
    stage's own section, then in [pipeline]. Every option a stage asks
    for is remembered, so that a misspelt option in the stage's section
    stops the program at start with file and line instead of being
    silently ignored.                                                    */
#include <stdio.h>
#include <string.h>
#include "nd_private.h"

struct _nd_config_t {
    nd_pipefile_t *file;
    char *stage;
    zhash_t *asked;             //  option paths the stage asked for
    int errors;                 //  nd_config_error calls: the start is refused
};

nd_config_t *nd_config_load (const char *file, const char *stage, bool whole)
{
    char *error = NULL;
    nd_pipefile_t *pipefile = whole ? nd_pipefile_load (file, &error)
                                    : nd_pipefile_load_stage (file, &error);
    if (!pipefile) {
        nd_log ("%s", error);
        free (error);
        return NULL;
    }
    nd_config_t *self = (nd_config_t *) zmalloc (sizeof *self);
    self->file = pipefile;
    self->stage = strdup (stage);
    self->asked = zhash_new ();
    zhash_insert (self->asked, "program", (void *) 1);
    return self;
}

void nd_config_destroy (nd_config_t **self_p)
{
    nd_config_t *self = *self_p;
    if (self) {
        nd_pipefile_destroy (&self->file);
        zhash_destroy (&self->asked);
        free (self->stage);
        free (self);
        *self_p = NULL;
    }
}

const char *nd_config_file (nd_config_t *self)
{
    return nd_pipefile_path (self->file);
}

const char *nd_config_get (nd_config_t *self, const char *path, const char *fallback)
{
    zhash_insert (self->asked, path, (void *) 1);
    return nd_pipefile_option (self->file, self->stage, path, fallback);
}

const char **nd_config_list (nd_config_t *self, const char *path, const char *child)
{
    zhash_insert (self->asked, path, (void *) 1);
    zconfig_t *parent = nd_pipefile_item (self->file, self->stage, path);
    size_t count = 0;
    for (zconfig_t *c = parent ? zconfig_child (parent) : NULL; c; c = zconfig_next (c))
        count++;
    const char **list = (const char **) zmalloc ((count + 1) * sizeof *list);
    count = 0;
    for (zconfig_t *c = parent ? zconfig_child (parent) : NULL; c; c = zconfig_next (c))
        if (streq (zconfig_name (c), child) && zconfig_value (c) && *zconfig_value (c))
            list [count++] = zconfig_value (c);
    return list;
}

const char *nd_config_nth (nd_config_t *self, const char *path, const char *child, size_t nth,
                           const char *sub, const char **sub_value)
{
    zhash_insert (self->asked, path, (void *) 1);
    zconfig_t *parent = nd_pipefile_item (self->file, self->stage, path);
    *sub_value = NULL;
    for (zconfig_t *c = parent ? zconfig_child (parent) : NULL; c; c = zconfig_next (c))
        if (streq (zconfig_name (c), child) && nth-- == 0) {
            zconfig_t *item = sub ? zconfig_locate (c, sub) : NULL;
            if (item && zconfig_value (item) && *zconfig_value (item))
                *sub_value = zconfig_value (item);
            return zconfig_value (c) ? zconfig_value (c) : "";
        }
    return NULL;
}

char *nd_config_endpoint (nd_config_t *self, const char *stage, const char *kind)
{
    if (streq (stage, self->stage))
        zhash_insert (self->asked, kind, (void *) 1);
    return nd_pipefile_endpoint (self->file, stage, kind);
}

zlist_t *nd_config_inputs (nd_config_t *self)
{
    zhash_insert (self->asked, "input", (void *) 1);
    return nd_pipefile_inputs (self->file, self->stage);
}

int nd_config_partition (nd_config_t *self, int *parts)
{
    return nd_pipefile_partition (self->file, self->stage, parts);
}

const char *nd_config_program (nd_config_t *self, const char *stage)
{
    return nd_pipefile_program (self->file, stage);
}

const char *nd_config_section_name (nd_config_t *self, const char *stage)
{
    return nd_pipefile_section_name (self->file, stage);
}

zlist_t *nd_config_consumers (nd_config_t *self)
{
    return nd_pipefile_consumers (self->file, self->stage);
}

static int s_error_at (nd_config_t *self, const char *stage, const char *path, size_t nth,
                       const char *reason)
{
    self->errors++;
    const char *file = nd_pipefile_path (self->file);
    int line = nd_pipefile_line (self->file, stage, path, nth);
    const char *section = stage;
    if (!line && (line = nd_pipefile_line (self->file, "pipeline", path, nth)))
        section = "pipeline";
    if (line)
        nd_log ("%s:%d: %s/%s: %s", file, line, section, path, reason);
    else
        nd_log ("%s: %s/%s: %s", file, stage, path, reason);
    return -1;
}

void nd_config_refused (nd_config_t *self)
{
    self->errors++;
}

int nd_config_errors (nd_config_t *self)
{
    return self->errors;
}

int nd_config_error_in (nd_config_t *self, const char *stage, const char *path, const char *reason)
{
    return s_error_at (self, stage, path, 0, reason);
}

int nd_config_error_nth (nd_config_t *self, const char *path, size_t nth, const char *reason)
{
    return s_error_at (self, self->stage, path, nth, reason);
}

int nd_config_error (nd_config_t *self, const char *path, const char *reason)
{
    return nd_config_error_in (self, self->stage, path, reason);
}

const char *nd_config_of (nd_config_t *self, const char *stage, const char *path)
{
    return nd_pipefile_option (self->file, stage, path, NULL);
}

int nd_config_check_unknown (nd_config_t *self)
{
    zconfig_t *section = nd_pipefile_section (self->file, self->stage);
    //  "partitions" and "partition-K" are the file's own, checked there
    for (zconfig_t *c = section ? zconfig_child (section) : NULL; c; c = zconfig_next (c))
        if (!zhash_lookup (self->asked, zconfig_name (c))
        &&  !streq (zconfig_name (c), "partitions") && strncmp (zconfig_name (c), "partition-", 10))
            return nd_config_error (self, zconfig_name (c), "unknown option");
    return 0;
}
