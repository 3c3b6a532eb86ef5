/*  nd_pipefile - the pipeline file: the one reader of it.

    Layer: runtime, the pipeline file's reader, the class itself: its
    stages (a section, or one partition of one) and every lookup on them,
    over the ZPL reading (nd_pipefile_zpl.c). Every stage (through
    nd_config, its view of its own section) and every operator tool reads
    the file here, so a stage is found exactly where it listens, with one
    set of defaults. See nd_pipefile.h for the rules and
    man/nudge-pipeline.5 for the format. Loading and checking the file is
    nd_pipefile_load.c, the tools' side nd_pipefile_tools.c.
*/
#include <czmq.h>
#include "nd_pipefile_private.h"

static nd_pipefile_stage_t *s_find (nd_pipefile_t *self, const char *name)
{
    for (size_t index = 0; index < self->size; index++)
        if (streq (self->stages [index].name, name))
            return &self->stages [index];
    return NULL;
}

//  The first stage made from the section called name, NULL if none.
static nd_pipefile_stage_t *s_find_section (nd_pipefile_t *self, const char *name)
{
    for (size_t index = 0; index < self->size; index++)
        if (streq (zconfig_name (self->stages [index].section), name))
            return &self->stages [index];
    return NULL;
}

/*  The finders for loading (nd_pipefile_load.c). The lookups below keep
    calling the static ones, which the compiler folds into them as it did
    when this was one file: a stage looks an option up here on each
    nd_config_get, so the split leaves that path as it was.               */
nd_pipefile_stage_t *
nd_pipefile_find (nd_pipefile_t *self, const char *name)
{
    return s_find (self, name);
}

nd_pipefile_stage_t *
nd_pipefile_find_section (nd_pipefile_t *self, const char *name)
{
    return s_find_section (self, name);
}

int nd_pipefile_line (nd_pipefile_t *self, const char *section, const char *path, size_t nth)
{
    //  A partition's lines are its section's
    nd_pipefile_stage_t *stage = s_find (self, section);
    if (stage)
        section = zconfig_name (stage->section);
    char want [512];
    snprintf (want, sizeof want, "%s%s%s", section, path ? "/" : "", path ? path : "");
    return nd_pipefile_line_of (self->path, want, nth);
}

void
nd_pipefile_destroy (nd_pipefile_t **self_p)
{
    assert (self_p);
    nd_pipefile_t *self = *self_p;
    if (self) {
        zconfig_destroy (&self->root);
        for (size_t index = 0; index < self->size; index++)
            free (self->stages [index].name);
        free (self->stages);
        free (self->path);
        free (self);
        *self_p = NULL;
    }
}

const char *
nd_pipefile_path (nd_pipefile_t *self)
{
    return self->path;
}

size_t
nd_pipefile_size (nd_pipefile_t *self)
{
    return self->size;
}

const char *
nd_pipefile_stage (nd_pipefile_t *self, size_t index)
{
    return index < self->size? self->stages [index].name: NULL;
}

static zconfig_t *
s_stage_section (nd_pipefile_t *self, const char *stage)
{
    nd_pipefile_stage_t *found = s_find (self, stage);
    return found? found->section: NULL;
}

//  A partition's own section ("partition-K" in its stage's), NULL if none.
static zconfig_t *
s_partition_section (nd_pipefile_t *self, const char *stage)
{
    nd_pipefile_stage_t *found = s_find (self, stage);
    if (!found || found->part < 0)
        return NULL;
    char name [32];
    snprintf (name, sizeof name, "partition-%d", found->part);
    return zconfig_locate (found->section, name);
}

int
nd_pipefile_partition (nd_pipefile_t *self, const char *stage, int *parts)
{
    nd_pipefile_stage_t *found = s_find (self, stage);
    *parts = found? found->parts: 1;
    return found? found->part: -1;
}

const char *
nd_pipefile_section_name (nd_pipefile_t *self, const char *stage)
{
    nd_pipefile_stage_t *found = s_find (self, stage);
    return found? zconfig_name (found->section): stage;
}

zconfig_t *
nd_pipefile_section (nd_pipefile_t *self, const char *stage)
{
    return s_stage_section (self, stage);
}

bool
nd_pipefile_has (nd_pipefile_t *self, const char *stage)
{
    return s_stage_section (self, stage) != NULL;
}

/*  An empty value counts as unset, as in the runtime, so "run =" falls
    back to the default rather than naming the root directory.            */
static const char *
s_value (zconfig_t *section, const char *path)
{
    zconfig_t *item = section? zconfig_locate (section, path): NULL;
    const char *value = item? zconfig_value (item): NULL;
    return value && *value? value: NULL;
}

const char *
nd_pipefile_option (nd_pipefile_t *self, const char *stage,
                    const char *path, const char *fallback)
{
    const char *value = s_value (s_partition_section (self, stage), path);
    if (!value)
        value = s_value (s_stage_section (self, stage), path);
    if (!value)
        value = s_value (self->defaults, path);
    return value? value: fallback;
}

zconfig_t *
nd_pipefile_item (nd_pipefile_t *self, const char *stage, const char *path)
{
    zconfig_t *partition = s_partition_section (self, stage);
    zconfig_t *section = s_stage_section (self, stage);
    zconfig_t *item = partition ? zconfig_locate (partition, path) : NULL;
    if (!item && section)
        item = zconfig_locate (section, path);
    if (!item && self->defaults)
        item = zconfig_locate (self->defaults, path);
    return item;
}

zlist_t *
nd_pipefile_inputs (nd_pipefile_t *self, const char *stage)
{
    zlist_t *names = zlist_new ();
    zlist_autofree (names);
    nd_pipefile_stage_t *me = s_find (self, stage);
    char *inputs = strdup (nd_pipefile_option (self, stage, "input", "")), *save = NULL;
    for (char *name = strtok_r (inputs, ", \t", &save); name; name = strtok_r (NULL, ", \t", &save)) {
        nd_pipefile_stage_t *up = s_find_section (self, name);
        if (!up || up->parts == 1)
            zlist_append (names, name);
        else
        if (me && me->parts == up->parts) {
            char *part = zsys_sprintf ("%s.%d", name, me->part);
            zlist_append (names, part);
            free (part);
        }
        else
            for (int part = 0; part < up->parts; part++)
                zlist_append (names, up [part].name);
    }
    free (inputs);
    //  A partition also reads its siblings, for the people moved to it
    //  (nd_moves.c)
    for (int part = 0; me && me->parts > 1 && part < me->parts; part++)
        if (part != me->part)
            zlist_append (names, me [part - me->part].name);
    return names;
}

zlist_t *
nd_pipefile_consumers (nd_pipefile_t *self, const char *stage)
{
    zlist_t *consumers = zlist_new ();
    zlist_autofree (consumers);
    for (size_t index = 0; index < self->size; index++) {
        const char *consumer = nd_pipefile_stage (self, index);
        zlist_t *inputs = nd_pipefile_inputs (self, consumer);
        for (const char *name = (const char *) zlist_first (inputs); name;
             name = (const char *) zlist_next (inputs))
            if (streq (name, stage))
                zlist_append (consumers, (void *) consumer);
        zlist_destroy (&inputs);
    }
    return consumers;
}

const char *
nd_pipefile_program (nd_pipefile_t *self, const char *stage)
{
    return nd_pipefile_option (self, stage, "program", nd_pipefile_section_name (self, stage));
}

char *
nd_pipefile_endpoint (nd_pipefile_t *self, const char *stage, const char *kind)
{
    const char *endpoint = nd_pipefile_option (self, stage, kind, NULL);
    if (endpoint)
        return strdup (endpoint);
    const char *run = nd_pipefile_option (self, stage, "run", "var/run");
    return zsys_sprintf ("ipc://%s/%s.%s", run, stage, kind);
}

char *
nd_pipefile_state_dir (nd_pipefile_t *self, const char *stage)
{
    const char *state = nd_pipefile_option (self, stage, "state", "var/state");
    return zsys_sprintf ("%s/%s", state, stage);
}
