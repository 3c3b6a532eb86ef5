/*  nd_config - the pipeline file (czmq ZPL) as one stage sees it.

    Options are looked up in the stage's own section, then in [pipeline].
    Every option a stage asks for is remembered, so that a misspelt option
    in the stage's section stops the program at start with file and line
    instead of being silently ignored.                                   */
#include <stdio.h>
#include <string.h>
#include "nd_private.h"

struct _nd_config_t {
    char *file;
    char *stage;
    zconfig_t *root;
    zconfig_t *section;         //  the stage's own section (may be NULL)
    zhash_t *asked;             //  option paths the stage asked for
};

//  zconfig reports a syntax error on stdout (czmq's zclock_log), as
//  "E (zconfig): (LINE) reason"; catch it there so the operator sees one
//  "file:line: reason" line on stderr, where the log goes.
zconfig_t *nd_zpl_load (const char *file)
{
    if (access (file, R_OK)) {
        nd_log ("%s: %s", file, strerror (errno));
        return NULL;
    }
    FILE *capture = tmpfile ();
    int saved = capture ? dup (STDOUT_FILENO) : -1;
    fflush (stdout);
    if (saved >= 0)
        dup2 (fileno (capture), STDOUT_FILENO);
    //  zconfig_load leaks its zfile when the text does not parse (czmq 4.2.1)
    zchunk_t *text = zchunk_slurp (file, 0);
    zconfig_t *root = text ? zconfig_chunk_load (text) : NULL;
    zchunk_destroy (&text);
    fflush (stdout);
    if (saved >= 0) {
        dup2 (saved, STDOUT_FILENO);
        close (saved);
    }
    if (!root) {
        char output [512] = "", reason [256] = "not a ZPL file";
        int line = 0;
        if (capture) {
            rewind (capture);
            output [fread (output, 1, sizeof output - 1, capture)] = 0;
        }
        const char *paren = strstr (output, "(zconfig): (");
        if (paren && sscanf (paren, "(zconfig): (%d) %255[^\n]", &line, reason) == 2)
            nd_log ("%s:%d: %s", file, line, reason);
        else
            nd_log ("%s: %s", file, reason);
    }
    if (capture)
        fclose (capture);
    return root;
}

nd_config_t *nd_config_load (const char *file, const char *stage)
{
    zconfig_t *root = nd_zpl_load (file);
    if (!root)
        return NULL;
    nd_config_t *self = (nd_config_t *) zmalloc (sizeof *self);
    self->file = strdup (file);
    self->stage = strdup (stage);
    self->root = root;
    self->section = zconfig_locate (root, stage);
    self->asked = zhash_new ();
    zhash_insert (self->asked, "program", (void *) 1);
    return self;
}

void nd_config_destroy (nd_config_t **self_p)
{
    nd_config_t *self = *self_p;
    if (self) {
        zconfig_destroy (&self->root);
        zhash_destroy (&self->asked);
        free (self->file);
        free (self->stage);
        free (self);
        *self_p = NULL;
    }
}

const char *nd_config_file (nd_config_t *self)
{
    return self->file;
}

static zconfig_t *s_find (nd_config_t *self, const char *section, const char *path)
{
    char full [256];
    snprintf (full, sizeof full, "%s/%s", section, path);
    return zconfig_locate (self->root, full);
}

const char *nd_config_get (nd_config_t *self, const char *path, const char *fallback)
{
    zhash_insert (self->asked, path, (void *) 1);
    zconfig_t *item = s_find (self, self->stage, path);
    if (!item)
        item = s_find (self, "pipeline", path);
    const char *value = item ? zconfig_value (item) : NULL;
    return value && *value ? value : fallback;
}

const char **nd_config_list (nd_config_t *self, const char *path, const char *child)
{
    zhash_insert (self->asked, path, (void *) 1);
    zconfig_t *parent = s_find (self, self->stage, path);
    if (!parent)
        parent = s_find (self, "pipeline", path);
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

char *nd_config_endpoint (nd_config_t *self, const char *stage, const char *kind)
{
    if (streq (stage, self->stage))
        zhash_insert (self->asked, kind, (void *) 1);
    zconfig_t *item = s_find (self, stage, kind);
    if (item && zconfig_value (item) && *zconfig_value (item))
        return strdup (zconfig_value (item));
    zconfig_t *run = s_find (self, "pipeline", "run");
    return zsys_sprintf ("ipc://%s/%s.%s",
                         run && *zconfig_value (run) ? zconfig_value (run) : "var/run",
                         stage, kind);
}

zlist_t *nd_config_consumers (nd_config_t *self)
{
    zlist_t *consumers = zlist_new ();
    zlist_autofree (consumers);
    for (zconfig_t *s = zconfig_child (self->root); s; s = zconfig_next (s)) {
        zconfig_t *input = zconfig_locate (s, "input");
        if (!input || !zconfig_value (input))
            continue;
        char *inputs = strdup (zconfig_value (input)), *save = NULL;
        for (char *name = strtok_r (inputs, ", ", &save); name; name = strtok_r (NULL, ", ", &save))
            if (streq (name, self->stage))
                zlist_append (consumers, zconfig_name (s));
        free (inputs);
    }
    return consumers;
}

//  Finds the line where section/path is set, by walking the file with the
//  same indentation rules ZPL uses (4 spaces a level). 0 if not found.
static int s_line_of (const char *file, const char *section, const char *path)
{
    char want [512], stack [8][128] = {{0}};
    snprintf (want, sizeof want, "%s/%s", section, path);
    FILE *in = fopen (file, "r");
    if (!in)
        return 0;
    char text [1024];
    int number = 0, found = 0;
    while (!found && fgets (text, sizeof text, in)) {
        number++;
        size_t indent = strspn (text, " ");
        size_t length = strcspn (text + indent, " =#\r\n");
        if (length == 0 || indent % 4 || indent / 4 >= 8)
            continue;
        size_t level = indent / 4;
        snprintf (stack [level], sizeof stack [level], "%.*s", (int) length, text + indent);
        char have [1024] = "";
        for (size_t i = 0; i <= level; i++)
            snprintf (have + strlen (have), sizeof have - strlen (have), "%s%s",
                      i ? "/" : "", stack [i]);
        found = streq (have, want) ? number : 0;
    }
    fclose (in);
    return found;
}

int nd_config_error (nd_config_t *self, const char *path, const char *reason)
{
    int line = s_line_of (self->file, self->stage, path);
    const char *section = self->stage;
    if (!line && (line = s_line_of (self->file, "pipeline", path)))
        section = "pipeline";
    if (line)
        nd_log ("%s:%d: %s/%s: %s", self->file, line, section, path, reason);
    else
        nd_log ("%s: %s/%s: %s", self->file, self->stage, path, reason);
    return -1;
}

int nd_config_check_unknown (nd_config_t *self)
{
    for (zconfig_t *c = self->section ? zconfig_child (self->section) : NULL; c; c = zconfig_next (c))
        if (!zhash_lookup (self->asked, zconfig_name (c)))
            return nd_config_error (self, zconfig_name (c), "unknown option");
    return 0;
}
