/*  loader.c - the tools of the journey files' reader (journeys.c, steps.c):
    the line each node is on, for errors, and the values that options of
    several kinds take.

    Layer: rules: calls cond.c.                                          */
#include <stdarg.h>
#include "loader.h"
#include "cond.h"

/* ------------------------------------------------------------- lines -- */

static void s_collect (loader_t *loader, zconfig_t *node, size_t *index)
{
    for (zconfig_t *child = zconfig_child (node); child; child = zconfig_next (child)) {
        if (*index < loader->count)
            loader->nodes [(*index)++] = child;
        s_collect (loader, child, index);
    }
}

//  zconfig keeps no line numbers, but it makes one node per line that is
//  not blank or a comment, in file order; pairing them up gives each node
//  its line.
void loader_map_lines (loader_t *loader, zconfig_t *root)
{
    FILE *file = fopen (loader->file, "r");
    char text [1024];
    int number = 0;
    size_t capacity = 64;
    loader->lines = (int *) zmalloc (capacity * sizeof (int));
    while (file && fgets (text, sizeof text, file)) {
        number++;
        const char *p = text + strspn (text, " \t");
        if (*p == '#' || *p == '\n' || *p == '\r' || *p == 0)
            continue;
        if (loader->count == capacity) {
            capacity *= 2;
            loader->lines = (int *) realloc (loader->lines, capacity * sizeof (int));
        }
        loader->lines [loader->count++] = number;
    }
    if (file)
        fclose (file);
    loader->nodes = (zconfig_t **) zmalloc ((loader->count + 1) * sizeof (zconfig_t *));
    size_t index = 0;
    s_collect (loader, root, &index);
}

static int s_line (loader_t *loader, zconfig_t *node)
{
    for (size_t i = 0; i < loader->count; i++)
        if (loader->nodes [i] == node)
            return loader->lines [i];
    return 0;
}

int loader_fail (loader_t *loader, zconfig_t *node, const char *format, ...)
{
    char reason [400];
    va_list args;
    va_start (args, format);
    vsnprintf (reason, sizeof reason, format, args);
    va_end (args);
    if (!*loader->error)
        *loader->error = zsys_sprintf ("%s:%d: %s", loader->file, s_line (loader, node), reason);
    return -1;
}

/* ------------------------------------------------------------ values -- */

const char *loader_value (zconfig_t *node)
{
    const char *value = zconfig_value (node);
    return value ? value : "";
}

bool loader_name_ok (const char *name)
{
    size_t length = strlen (name);
    return length > 0 && length < NAME_MAX_LEN
        && strspn (name, "abcdefghijklmnopqrstuvwxyz0123456789-_") == length;
}

int loader_duration (loader_t *loader, zconfig_t *node, int64_t *ms)
{
    if (nd_duration_parse (loader_value (node), ms) || *ms < 0)
        return loader_fail (loader, node, "%s: not a duration such as 30m, 24h or 7d",
                            zconfig_name (node));
    return 0;
}

int loader_cond (loader_t *loader, zconfig_t *node, cond_t ***conds, size_t *count)
{
    char *reason = NULL;
    cond_t *cond = cond_new (loader_value (node), &reason);
    if (!cond) {
        loader_fail (loader, node, "%s: %s", zconfig_name (node), reason);
        free (reason);
        return -1;
    }
    //  The spelling of the release before still works, for one release.
    if (nd_cond_modern (cond))
        nd_log ("%s:%d: \"%s\" is the old spelling; write \"%s\"", loader->file,
                s_line (loader, node), loader_value (node), nd_cond_modern (cond));
    *conds = (cond_t **) realloc (*conds, (*count + 1) * sizeof (cond_t *));
    (*conds) [(*count)++] = cond;
    return 0;
}
