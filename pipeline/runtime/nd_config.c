/*  nd_config - the pipeline file (czmq ZPL) as one stage sees it.

    Options are looked up in the stage's own section, then in [pipeline].
    Every option a stage asks for is remembered, so that a misspelt option
    in the stage's section stops the program at start with file and line
    instead of being silently ignored.                                   */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include "nd_private.h"

struct _nd_config_t {
    char *file;
    char *stage;
    zconfig_t *root;
    zconfig_t *section;         //  the stage's own section (may be NULL)
    zhash_t *asked;             //  option paths the stage asked for
    int errors;                 //  nd_config_error calls: the start is refused
};

static char *s_error (const char *path, int line, const char *reason)
{
    return line > 0 ? zsys_sprintf ("%s:%d: %s", path, line, reason)
                    : zsys_sprintf ("%s: %s", path, reason);
}

//  zconfig writes its syntax errors to stdout ("... E (zconfig): (LINE)
//  REASON"), where they would mix with a tool's output and lose the file
//  name. Catch that text so it can be told as "<file>:<line>: <reason>".
static zconfig_t *s_load_capturing (const char *path, char *said, size_t size)
{
    fflush (stdout);
    int saved = dup (STDOUT_FILENO);
    FILE *capture = saved == -1 ? NULL : tmpfile ();
    if (capture)
        dup2 (fileno (capture), STDOUT_FILENO);
    //  zconfig_load leaks its file handle on a syntax error; a chunk does not.
    zchunk_t *chunk = zchunk_slurp (path, 0);
    zconfig_t *root = chunk ? zconfig_chunk_load (chunk) : NULL;
    zchunk_destroy (&chunk);
    if (capture) {
        fflush (stdout);
        dup2 (saved, STDOUT_FILENO);
        rewind (capture);
        if (!fgets (said, (int) size, capture))
            said [0] = 0;
        fclose (capture);
    }
    if (saved != -1)
        close (saved);
    return root;
}

zconfig_t *nd_zpl_parse (const char *path, char **error)
{
    struct stat st;
    if (stat (path, &st) == -1 || access (path, R_OK) == -1) {
        *error = s_error (path, 0, strerror (errno));
        return NULL;
    }
    if (!S_ISREG (st.st_mode)) {
        *error = s_error (path, 0, "not a regular file");
        return NULL;
    }
    char said [512] = "";
    zconfig_t *root = s_load_capturing (path, said, sizeof said);
    if (!root) {
        int line = 0, offset = 0;
        const char *tail = strstr (said, "(zconfig): ");
        if (tail && sscanf (tail, "(zconfig): (%d) %n", &line, &offset) == 1 && offset) {
            char *reason = strdup (tail + offset);
            reason [strcspn (reason, "\r\n")] = 0;
            *error = s_error (path, line, reason);
            free (reason);
        }
        else
            *error = s_error (path, 0, "not a valid ZPL file");
    }
    return root;
}

zconfig_t *nd_zpl_load (const char *file)
{
    char *error = NULL;
    zconfig_t *root = nd_zpl_parse (file, &error);
    if (!root)
        nd_log ("%s", error);
    zstr_free (&error);
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

const char *nd_config_nth (nd_config_t *self, const char *path, const char *child, size_t nth,
                           const char *sub, const char **sub_value)
{
    zhash_insert (self->asked, path, (void *) 1);
    zconfig_t *parent = s_find (self, self->stage, path);
    if (!parent)
        parent = s_find (self, "pipeline", path);
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
    //  Same rules as tools/common/nd_pipefile.c: the stage's own value,
    //  else ipc://<run>/<stage>.<kind> with run from the stage or [pipeline].
    if (streq (stage, self->stage))
        zhash_insert (self->asked, kind, (void *) 1);
    zconfig_t *item = s_find (self, stage, kind);
    if (item && zconfig_value (item) && *zconfig_value (item))
        return strdup (zconfig_value (item));
    zconfig_t *run = s_find (self, stage, "run");
    if (!run || !*zconfig_value (run))
        run = s_find (self, "pipeline", "run");
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

//  Finds the line where section/path is set (its nth time, from 0, for a
//  repeated child), by walking the file with the same indentation rules
//  ZPL uses (4 spaces a level). 0 if not found.
static int s_line_of (const char *file, const char *section, const char *path, size_t nth)
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
        if (streq (have, want) && nth-- == 0)
            found = number;
    }
    fclose (in);
    return found;
}

static int s_error_at (nd_config_t *self, const char *stage, const char *path, size_t nth,
                       const char *reason)
{
    self->errors++;
    int line = s_line_of (self->file, stage, path, nth);
    const char *section = stage;
    if (!line && (line = s_line_of (self->file, "pipeline", path, nth)))
        section = "pipeline";
    if (line)
        nd_log ("%s:%d: %s/%s: %s", self->file, line, section, path, reason);
    else
        nd_log ("%s: %s/%s: %s", self->file, stage, path, reason);
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
    zconfig_t *item = s_find (self, stage, path);
    if (!item || !zconfig_value (item) || !*zconfig_value (item))
        item = s_find (self, "pipeline", path);
    const char *value = item ? zconfig_value (item) : NULL;
    return value && *value ? value : NULL;
}

int nd_config_check_unknown (nd_config_t *self)
{
    for (zconfig_t *c = self->section ? zconfig_child (self->section) : NULL; c; c = zconfig_next (c))
        if (!zhash_lookup (self->asked, zconfig_name (c)))
            return nd_config_error (self, zconfig_name (c), "unknown option");
    return 0;
}
