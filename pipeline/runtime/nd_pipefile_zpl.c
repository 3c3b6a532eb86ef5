/*  nd_pipefile_zpl - reading a ZPL file, with file:line in its errors.

    Layer: runtime, the pipeline file's reader (nd_pipefile.c), its lowest
    step: text to a zconfig tree and back to line numbers. It knows ZPL,
    not stages, so the other ZPL readers (nd_curve's key files, the
    scheduler's journeys, the segmenter's rules, nd-render) parse here
    too, and every one of them says "<file>:<line>: <reason>" the same way.
*/
#include <czmq.h>
#include <sys/stat.h>
#include "nd_pipefile_private.h"

char *nd_pipefile_error (const char *path, int line, const char *reason)
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
        *error = nd_pipefile_error (path, 0, strerror (errno));
        return NULL;
    }
    if (!S_ISREG (st.st_mode)) {
        *error = nd_pipefile_error (path, 0, "not a regular file");
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
            *error = nd_pipefile_error (path, line, reason);
            free (reason);
        }
        else
            *error = nd_pipefile_error (path, 0, "not a valid ZPL file");
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

//  The line where path ("stage", "stage/option", "stage/list/child") is
//  set, its nth time (from 0) for a repeated child, found by walking the
//  file with ZPL's own indentation rule (4 spaces a level). 0: not found.
int nd_pipefile_line_of (const char *file, const char *want, size_t nth)
{
    char stack [8][128] = {{0}};
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
