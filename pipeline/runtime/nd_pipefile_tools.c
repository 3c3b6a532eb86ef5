/*  nd_pipefile_tools - the pipeline file as the operator tools use it.

    Layer: runtime, the pipeline file's reader, its top: over loading
    (nd_pipefile_load.c), for tap, nd-ctl, nd-supervisor and the rest.
    A tool names a stage and gets an endpoint it can connect to, and the
    CURVE keys to do it with; --check loads the file as a tool does and
    exits. No stage calls these: they stand apart from what a stage reads.
*/
#include <czmq.h>
#include <sys/stat.h>
#include <sysexits.h>
#include "nd_pipefile_private.h"

static char *
s_stage_list (nd_pipefile_t *self)
{
    char *list = strdup ("");
    for (size_t index = 0; index < self->size; index++) {
        char *longer = zsys_sprintf ("%s%s%s", list, index? ", ": "",
                                     nd_pipefile_stage (self, index));
        free (list);
        list = longer;
    }
    return list;
}

/*  A stage binds tcp on "*" port N; a tool on the same host connects to
    127.0.0.1 port N.                                                     */
static char *
s_connectable (char *endpoint)
{
    const char *hosts [] = { "tcp://*:", "tcp://0.0.0.0:" };
    for (size_t h = 0; h < sizeof hosts / sizeof *hosts; h++) {
        size_t size = strlen (hosts [h]);
        if (strncmp (endpoint, hosts [h], size) == 0) {
            char *local = zsys_sprintf ("tcp://127.0.0.1:%s", endpoint + size);
            free (endpoint);
            return local;
        }
    }
    return endpoint;
}

char *
nd_pipefile_target (const char *config, const char *target,
                    const char *kind, char **error)
{
    return nd_pipefile_target_curve (config, target, kind, NULL, error);
}

char *
nd_pipefile_target_curve (const char *config, const char *target, const char *kind,
                          char **curve_public, char **error)
{
    *error = NULL;
    if (curve_public)
        *curve_public = NULL;
    if (strstr (target, "://"))
        return strdup (target);
    nd_pipefile_t *self = nd_pipefile_load (config, error);
    if (!self)
        return NULL;
    char *endpoint = NULL;
    const char *curve = nd_pipefile_has (self, target)
                      ? nd_pipefile_option (self, target, "curve", NULL): NULL;
    if (curve && curve_public
    && !(*curve_public = nd_curve_public_file (curve,
                            nd_pipefile_option (self, target, "curve-public", NULL))))
        *error = zsys_sprintf ("%s: %s uses CURVE but its public certificate is unknown: "
                               "set its curve-public", config, target);
    else
    if (nd_pipefile_has (self, target))
        endpoint = s_connectable (nd_pipefile_endpoint (self, target, kind));
    else {
        char *list = s_stage_list (self);
        *error = zsys_sprintf ("unknown stage '%s' in %s (stages: %s)", target, config, list);
        free (list);
    }
    nd_pipefile_destroy (&self);
    return endpoint;
}

int
nd_pipefile_secure (void *socket, const char *target, const char *curve_public,
                    const char *cert, char **error)
{
    *error = NULL;
    if (curve_public && !cert)
        *error = zsys_sprintf ("%s uses CURVE: give your client certificate with --cert FILE "
                               "(nd-cert makes one; its .pub goes in the stage's curve-clients)",
                               target);
    else
    if (cert && !curve_public)
        *error = strstr (target, "://")
               ? zsys_sprintf ("--cert needs a stage name, not an endpoint: the stage's "
                               "public key is found through the pipeline file")
               : zsys_sprintf ("%s does not use CURVE (no curve option); leave out --cert", target);
    else
    if (cert)
        nd_curve_client_files (socket, cert, curve_public, error);
    return *error? -1: 0;
}

bool
nd_pipefile_ipc_absent (const char *endpoint)
{
    struct stat st;
    return strncmp (endpoint, "ipc://", 6) == 0 && stat (endpoint + 6, &st) == -1;
}

/* -------------------------------------------------------------- --check */

//  The value of option name (long "--config", short 'c' or 0) in argv:
//  "--config F", "--config=F", "-c F", "-cF". NULL when not given.
static const char *
s_arg_value (int argc, char **argv, const char *name, char letter)
{
    size_t size = strlen (name);
    for (int i = 1; i < argc; i++) {
        const char *arg = argv [i];
        if (streq (arg, "--"))
            break;
        if (strncmp (arg, name, size) == 0 && arg [size] == '=')
            return arg + size + 1;
        if ((streq (arg, name) || (letter && arg [0] == '-' && arg [1] == letter && !arg [2]))
        &&  i + 1 < argc)
            return argv [i + 1];
        if (letter && arg [0] == '-' && arg [1] == letter && arg [2])
            return arg + 2;
    }
    return NULL;
}

void
nd_check_arg (int argc, char **argv, const char *name)
{
    bool check = false;
    for (int i = 1; i < argc && !check; i++)
        check = streq (argv [i], "--check");
    if (!check)
        return;
    const char *config = s_arg_value (argc, argv, "--config", 'c');
    const char *root = s_arg_value (argc, argv, "--root", 0);
    const char *cert = s_arg_value (argc, argv, "--cert", 0);
    char *path = zsys_sprintf ("%s%s", root ? root : "", config ? config : "conf/pipeline.zpl");
    char *error = NULL;
    nd_pipefile_t *self = nd_pipefile_load (path, &error);
    char public_key [ND_CURVE_KEY], secret_key [ND_CURVE_KEY];
    if (self && cert)
        nd_curve_read (strncmp (cert, "file:", 5) ? cert : cert + 5, public_key, secret_key, &error);
    if (error)
        fprintf (stderr, "%s\n", error);
    else
        printf ("%s: %s: configuration ok\n", name, path);
    nd_pipefile_destroy (&self);
    free (path);
    int rc = error ? EX_CONFIG : 0;
    free (error);
    exit (rc);
}
