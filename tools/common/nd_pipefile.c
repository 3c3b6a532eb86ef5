/*  nd_pipefile - the pipeline file as the operator tools read it.
    See nd_pipefile.h for the rules. The checks here are the ones a tool
    can make without running a stage: the file parses, stage names are
    usable as file and program names, endpoints look like endpoints and no
    two stages claim the same one, every "input" names a stage.
*/
#include <czmq.h>
#include <sys/stat.h>
#include "../common/nd_pipefile.h"
#include "nd.h"

struct _nd_pipefile_t {
    char *path;
    zconfig_t *root;
    zconfig_t *defaults;        /* the "pipeline" section, or NULL */
    zconfig_t **stages;         /* top-level sections in file order */
    size_t size;
};

static const char *s_kinds [] = { "out", "pub", "ctl" };

/*  Names end up in socket paths, LMDB directories and supervisor program
    names, so keep them to what is safe in all three.                     */
static bool
s_is_simple_name (const char *name)
{
    if (!*name || *name == '.' || *name == '-')
        return false;
    for (const char *c = name; *c; c++)
        if (!isalnum ((unsigned char) *c) && !strchr ("._-", *c))
            return false;
    return true;
}

static char *
s_index_section (nd_pipefile_t *self, zconfig_t *section)
{
    const char *name = zconfig_name (section);
    if (*zconfig_value (section))
        return zsys_sprintf ("%s: '%s = %s' at top level: options belong under a stage or 'pipeline'",
                             self->path, name, zconfig_value (section));
    if (streq (name, "pipeline")) {
        if (self->defaults)
            return zsys_sprintf ("%s: section 'pipeline' appears twice", self->path);
        self->defaults = section;
        return NULL;
    }
    if (!s_is_simple_name (name))
        return zsys_sprintf ("%s: stage name '%s': use letters, digits, '.', '_' and '-'",
                             self->path, name);
    if (nd_pipefile_has (self, name))
        return zsys_sprintf ("%s: stage '%s' appears twice", self->path, name);
    self->stages [self->size++] = section;
    return NULL;
}

static char *
s_index (nd_pipefile_t *self)
{
    size_t count = 0;
    for (zconfig_t *s = zconfig_child (self->root); s; s = zconfig_next (s))
        count++;
    self->stages = (zconfig_t **) zmalloc ((count + 1) * sizeof (zconfig_t *));
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
        if (!strstr (endpoint, "://"))
            error = zsys_sprintf ("%s: %s: %s = '%s' is not an endpoint (ipc://PATH or tcp://HOST:PORT)",
                                  self->path, stage, s_kinds [k], endpoint);
        else
        if (other)
            error = zsys_sprintf ("%s: %s and %s both use %s", self->path, other, stage, endpoint);
        else
            zhashx_insert (seen, endpoint, (void *) stage);
        free (endpoint);
        if (error)
            return error;
    }
    return NULL;
}

static char *
s_check_stage (nd_pipefile_t *self, size_t index)
{
    const char *stage = nd_pipefile_stage (self, index);
    const char *program = nd_pipefile_program (self, stage);
    if (!s_is_simple_name (program))
        return zsys_sprintf ("%s: %s: program '%s' is not a program name (no paths: see nd-supervisor --bin)",
                             self->path, stage, program);
    //  "input" lists upstream stages, separated by commas or spaces.
    char *inputs = strdup (nd_pipefile_option (self, stage, "input", ""));
    char *error = NULL;
    for (char *save = NULL, *input = strtok_r (inputs, ", \t", &save);
         input && !error; input = strtok_r (NULL, ", \t", &save)) {
        if (!nd_pipefile_has (self, input))
            error = zsys_sprintf ("%s: %s: input '%s' is not a stage in this file",
                                  self->path, stage, input);
        else
        if (streq (input, stage))
            error = zsys_sprintf ("%s: %s: a stage cannot be its own input", self->path, stage);
    }
    free (inputs);
    return error;
}

static char *
s_check (nd_pipefile_t *self)
{
    zhashx_t *seen = zhashx_new ();
    char *error = NULL;
    for (size_t index = 0; index < self->size && !error; index++) {
        error = s_check_stage (self, index);
        if (!error)
            error = s_check_endpoints (self, index, seen);
    }
    zhashx_destroy (&seen);
    return error;
}

nd_pipefile_t *
nd_pipefile_load (const char *path, char **error)
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
        *error = s_check (self);
    if (*error)
        nd_pipefile_destroy (&self);
    return self;
}

void
nd_pipefile_destroy (nd_pipefile_t **self_p)
{
    assert (self_p);
    nd_pipefile_t *self = *self_p;
    if (self) {
        zconfig_destroy (&self->root);
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
    return index < self->size? zconfig_name (self->stages [index]): NULL;
}

static zconfig_t *
s_stage_section (nd_pipefile_t *self, const char *stage)
{
    for (size_t index = 0; index < self->size; index++)
        if (streq (zconfig_name (self->stages [index]), stage))
            return self->stages [index];
    return NULL;
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
    const char *value = s_value (s_stage_section (self, stage), path);
    if (!value)
        value = s_value (self->defaults, path);
    return value? value: fallback;
}

const char *
nd_pipefile_program (nd_pipefile_t *self, const char *stage)
{
    return nd_pipefile_option (self, stage, "program", stage);
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

/* ---------------------------------------------------------------- test */

static void
s_test_write (char *path, const char *text)
{
    int fd = mkstemp (path);
    assert (fd != -1);
    assert (write (fd, text, strlen (text)) == (ssize_t) strlen (text));
    close (fd);
}

static nd_pipefile_t *
s_test_load (const char *text, char **error)
{
    char path [] = "/tmp/nd-pipefile-test-XXXXXX";
    s_test_write (path, text);
    nd_pipefile_t *self = nd_pipefile_load (path, error);
    unlink (path);
    return self;
}

static void
s_test_target (void)
{
    char path [] = "/tmp/nd-pipefile-test-XXXXXX";
    s_test_write (path, "collector\n    pub = tcp://*:7001\nsessionizer\n"
                        "    curve = file:/c/sess.secret\n");
    char *error = NULL;
    char *text = nd_pipefile_target (path, "collector", "pub", &error);
    assert (streq (text, "tcp://127.0.0.1:7001") && !error);
    zstr_free (&text);
    text = nd_pipefile_target (path, "sessionizer", "ctl", &error);
    assert (streq (text, "ipc://var/run/sessionizer.ctl"));
    zstr_free (&text);
    assert (!nd_pipefile_target (path, "segmenter", "pub", &error));
    assert (strstr (error, "unknown stage 'segmenter'"));
    assert (strstr (error, "(stages: collector, sessionizer)"));
    zstr_free (&error);
    char *key = NULL;
    text = nd_pipefile_target_curve (path, "sessionizer", "out", &key, &error);
    assert (streq (text, "ipc://var/run/sessionizer.out") && streq (key, "/c/sess.pub"));
    zstr_free (&text);
    zstr_free (&key);
    text = nd_pipefile_target_curve (path, "collector", "out", &key, &error);
    assert (text && !key);
    zstr_free (&text);
    text = nd_pipefile_target ("/nonexistent", "tcp://h:1", "pub", &error);
    assert (streq (text, "tcp://h:1") && !error);
    zstr_free (&text);
    unlink (path);
}

static void
s_test_refuses (const char *text, const char *reason)
{
    char *error = NULL;
    nd_pipefile_t *self = s_test_load (text, &error);
    assert (!self);
    assert (error && strstr (error, "/tmp/nd-pipefile-test-"));
    if (!strstr (error, reason)) {
        fprintf (stderr, "expected '%s' in '%s'\n", reason, error);
        assert (false);
    }
    free (error);
}

void
nd_pipefile_test (bool verbose)
{
    printf (" * nd_pipefile: ");
    char *error = NULL;
    nd_pipefile_t *self = s_test_load (
        "pipeline\n    run = /r\n    state = /s\n"
        "collector\n    pub = tcp://*:7001\n"
        "sessionizer\n    input = collector\n    run = /other\n    program = sess\n", &error);
    assert (self && !error);
    assert (nd_pipefile_size (self) == 2);
    assert (streq (nd_pipefile_stage (self, 1), "sessionizer"));
    assert (nd_pipefile_stage (self, 2) == NULL);
    assert (!nd_pipefile_has (self, "pipeline"));
    assert (streq (nd_pipefile_program (self, "collector"), "collector"));
    assert (streq (nd_pipefile_program (self, "sessionizer"), "sess"));
    char *text = nd_pipefile_endpoint (self, "collector", "pub");
    assert (streq (text, "tcp://*:7001"));
    zstr_free (&text);
    text = nd_pipefile_endpoint (self, "collector", "ctl");
    assert (streq (text, "ipc:///r/collector.ctl"));
    zstr_free (&text);
    text = nd_pipefile_endpoint (self, "sessionizer", "out");
    assert (streq (text, "ipc:///other/sessionizer.out"));
    zstr_free (&text);
    text = nd_pipefile_state_dir (self, "sessionizer");
    assert (streq (text, "/s/sessionizer"));
    zstr_free (&text);
    nd_pipefile_destroy (&self);
    nd_pipefile_destroy (&self);

    s_test_target ();
    assert (nd_pipefile_ipc_absent ("ipc:///nonexistent/x.ctl"));
    assert (!nd_pipefile_ipc_absent ("ipc:///tmp"));
    assert (!nd_pipefile_ipc_absent ("tcp://h:1"));

    s_test_refuses ("a\n   b = 1\n", ":2: indent 4 spaces at once");
    s_test_refuses ("pipeline\n    run = x\n", "no stages");
    s_test_refuses ("a\nb\n    input = c\n", "b: input 'c' is not a stage");
    s_test_refuses ("a\n    pub = x\n", "a: pub = 'x' is not an endpoint");
    s_test_refuses ("a\n    pub = ipc://p\nb\n    ctl = ipc://p\n", "a and b both use ipc://p");
    s_test_refuses ("a\na\n", "stage 'a' appears twice");
    s_test_refuses ("a\n    program = ../x\n", "is not a program name");
    s_test_refuses ("run = x\n", "at top level");
    assert (!nd_pipefile_load ("/nonexistent/pipeline.zpl", &error));
    assert (streq (error, "/nonexistent/pipeline.zpl: No such file or directory"));
    zstr_free (&error);
    if (verbose)
        printf ("(checked defaults, overrides and eight bad files) ");
    printf ("OK\n");
}
