/*  nd_pipefile - the pipeline file: the one reader of it.

    Layer: the runtime's configuration. Every stage (through nd_config,
    its view of its own section) and every operator tool reads the file
    here, so a stage is found exactly where it listens, with one set of
    defaults. See nd_pipefile.h for the rules and man/nudge-pipeline.5
    for the format.

    The checks here are the ones that need no stage: the file parses
    (czmq's ZPL), stage names are usable as file and program names,
    endpoints look like endpoints and no two stages claim the same one,
    and (unless a stage reads the file for itself at start) every "input"
    names a stage. Each error says file:line when the line is known.
*/
#include <czmq.h>
#include <sys/stat.h>
#include <sysexits.h>
#include "nd_private.h"

/*  A stage as it runs: a section, or one partition of a section that
    says "partitions = N" (named SECTION.K, K from 0).                    */
typedef struct {
    zconfig_t *section;
    char *name;
    int part;                   /* its partition, -1: the stage has none */
    int parts;                  /* its stage's partitions, 1: none */
} s_stage_t;

struct _nd_pipefile_t {
    char *path;
    zconfig_t *root;
    zconfig_t *defaults;        /* the "pipeline" section, or NULL */
    s_stage_t *stages;          /* the stages in file order */
    size_t size;
};

static const char *s_kinds [] = { "out", "pub", "ctl" };

static s_stage_t *s_find (nd_pipefile_t *self, const char *name);

/* ------------------------------------------------------------------ ZPL */

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

//  The line where path ("stage", "stage/option", "stage/list/child") is
//  set, its nth time (from 0) for a repeated child, found by walking the
//  file with ZPL's own indentation rule (4 spaces a level). 0: not found.
static int s_line_of (const char *file, const char *want, size_t nth)
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

int nd_pipefile_line (nd_pipefile_t *self, const char *section, const char *path, size_t nth)
{
    //  A partition's lines are its section's
    s_stage_t *stage = s_find (self, section);
    if (stage)
        section = zconfig_name (stage->section);
    char want [512];
    snprintf (want, sizeof want, "%s%s%s", section, path ? "/" : "", path ? path : "");
    return s_line_of (self->path, want, nth);
}

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
    char *error = s_error (self->path, line, said);
    free (said);
    return error;
}

/* ------------------------------------------------------------- checks */

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

static s_stage_t *s_find (nd_pipefile_t *self, const char *name)
{
    for (size_t index = 0; index < self->size; index++)
        if (streq (self->stages [index].name, name))
            return &self->stages [index];
    return NULL;
}

//  The first stage made from the section called name, NULL if none.
static s_stage_t *s_find_section (nd_pipefile_t *self, const char *name)
{
    for (size_t index = 0; index < self->size; index++)
        if (streq (zconfig_name (self->stages [index].section), name))
            return &self->stages [index];
    return NULL;
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
    if (s_find (self, instance)) {
        char *reason = zsys_sprintf ("stage '%s' appears twice", instance);
        free (instance);
        return reason;
    }
    self->stages [self->size++] = (s_stage_t) { section, instance, part, parts };
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
    if (s_find_section (self, name)) {
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
    char *error = s_error (self->path, line, reason);
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
    self->stages = (s_stage_t *) zmalloc ((count + 1) * sizeof (s_stage_t));
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
    const s_stage_t *me = &self->stages [index];
    char *inputs = strdup (nd_pipefile_option (self, stage, "input", ""));
    char *error = NULL;
    for (char *save = NULL, *input = strtok_r (inputs, ", \t", &save);
         input && !error; input = strtok_r (NULL, ", \t", &save)) {
        char *reason = NULL;
        const s_stage_t *up = s_find_section (self, input);
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
    s_stage_t *found = s_find (self, stage);
    return found? found->section: NULL;
}

//  A partition's own section ("partition-K" in its stage's), NULL if none.
static zconfig_t *
s_partition_section (nd_pipefile_t *self, const char *stage)
{
    s_stage_t *found = s_find (self, stage);
    if (!found || found->part < 0)
        return NULL;
    char name [32];
    snprintf (name, sizeof name, "partition-%d", found->part);
    return zconfig_locate (found->section, name);
}

int
nd_pipefile_partition (nd_pipefile_t *self, const char *stage, int *parts)
{
    s_stage_t *found = s_find (self, stage);
    *parts = found? found->parts: 1;
    return found? found->part: -1;
}

const char *
nd_pipefile_section_name (nd_pipefile_t *self, const char *stage)
{
    s_stage_t *found = s_find (self, stage);
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
    s_stage_t *me = s_find (self, stage);
    char *inputs = strdup (nd_pipefile_option (self, stage, "input", "")), *save = NULL;
    for (char *name = strtok_r (inputs, ", \t", &save); name; name = strtok_r (NULL, ", \t", &save)) {
        s_stage_t *up = s_find_section (self, name);
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

//  A stage reading the file for itself lets an upstream stand in with no
//  section; the tools and --check do not.
static void
s_test_stage_read (void)
{
    char path [] = "/tmp/nd-pipefile-test-XXXXXX";
    s_test_write (path, "b\n    input = a\n");
    char *error = NULL;
    nd_pipefile_t *self = nd_pipefile_load_stage (path, &error);
    assert (self && !error);
    zlist_t *consumers = nd_pipefile_consumers (self, "a");
    assert (zlist_size (consumers) == 1 && streq ((char *) zlist_first (consumers), "b"));
    zlist_destroy (&consumers);
    assert (nd_pipefile_line (self, "b", "input", 0) == 2);
    assert (nd_pipefile_line (self, "b", NULL, 0) == 1);
    assert (nd_pipefile_line (self, "b", "output", 0) == 0);
    nd_pipefile_destroy (&self);
    assert (!nd_pipefile_load (path, &error) && strstr (error, ":2: b: input 'a' is not a stage"));
    zstr_free (&error);
    unlink (path);
}

static void s_test_refuses (const char *text, const char *reason);

static char *
s_test_list (zlist_t *list)
{
    char *text = strdup ("");
    for (const char *item = (const char *) zlist_first (list); item;
         item = (const char *) zlist_next (list)) {
        char *longer = zsys_sprintf ("%s%s%s", text, *text ? " " : "", item);
        free (text);
        text = longer;
    }
    return text;
}

//  A partitioned stage is N stages with their own names, endpoints and
//  state; it reads a partitioned input partition by partition, and an
//  unpartitioned reader reads every partition.
static void
s_test_partitions (void)
{
    char *error = NULL;
    nd_pipefile_t *self = s_test_load (
        "collector\n"
        "sessionizer\n    input = collector\n    partitions = 2\n"
        "    partition-1\n        out = tcp://h2:7101\n"
        "segmenter\n    input = sessionizer\n    partitions = 2\n"
        "chat\n    input = segmenter, collector\n", &error);
    assert (self && !error);
    assert (nd_pipefile_size (self) == 6);
    assert (streq (nd_pipefile_stage (self, 1), "sessionizer.0"));
    assert (streq (nd_pipefile_stage (self, 4), "segmenter.1"));
    assert (!nd_pipefile_has (self, "sessionizer") && nd_pipefile_has (self, "sessionizer.1"));
    int parts;
    assert (nd_pipefile_partition (self, "segmenter.1", &parts) == 1 && parts == 2);
    assert (nd_pipefile_partition (self, "chat", &parts) == -1 && parts == 1);
    assert (streq (nd_pipefile_section_name (self, "segmenter.1"), "segmenter"));
    assert (streq (nd_pipefile_program (self, "segmenter.1"), "segmenter"));
    assert (streq (nd_pipefile_option (self, "sessionizer.1", "input", ""), "collector"));
    char *text = nd_pipefile_endpoint (self, "sessionizer.1", "out");
    assert (streq (text, "tcp://h2:7101"));
    zstr_free (&text);
    text = nd_pipefile_endpoint (self, "sessionizer.0", "out");
    assert (streq (text, "ipc://var/run/sessionizer.0.out"));
    zstr_free (&text);
    text = nd_pipefile_state_dir (self, "segmenter.0");
    assert (streq (text, "var/state/segmenter.0"));
    zstr_free (&text);
    zlist_t *list = nd_pipefile_inputs (self, "segmenter.1");
    text = s_test_list (list);
    assert (streq (text, "sessionizer.1 segmenter.0"));
    zstr_free (&text);
    zlist_destroy (&list);
    list = nd_pipefile_inputs (self, "chat");
    text = s_test_list (list);
    assert (streq (text, "segmenter.0 segmenter.1 collector"));
    zstr_free (&text);
    zlist_destroy (&list);
    list = nd_pipefile_consumers (self, "sessionizer.0");
    text = s_test_list (list);
    assert (streq (text, "sessionizer.1 segmenter.0"));
    zstr_free (&text);
    zlist_destroy (&list);
    list = nd_pipefile_consumers (self, "collector");
    text = s_test_list (list);
    assert (streq (text, "sessionizer.0 sessionizer.1 chat"));
    zstr_free (&text);
    zlist_destroy (&list);
    nd_pipefile_destroy (&self);
    s_test_refuses ("a\n    partitions = 0\n", ":2: partitions = '0': a number from 1 to 64");
    s_test_refuses ("a\n    partitions = 2\n    partition-2\n        out = ipc://x\n",
                    "partition-2: this stage has partitions 0 to 1 only");
    s_test_refuses ("a\n    partitions = 2\nb\n    input = a\n    partitions = 3\n",
                    ":4: b.0: it has 3 partitions and its input a has 2");
    s_test_refuses ("a\n    partitions = 2\n    out = ipc://o\n", "a.0 and a.1 both use ipc://o");
    s_test_refuses ("a\n    partitions = 2\na.1\n", "stage 'a.1' appears twice");
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
    s_test_refuses ("a\nb\n    input = c\n", ":3: b: input 'c' is not a stage");
    s_test_refuses ("a\n    pub = x\n", ":2: a: pub = 'x' is not an endpoint");
    s_test_refuses ("a\n    pub = ipc://p\nb\n    ctl = ipc://p\n", ":4: b: a and b both use ipc://p");
    s_test_refuses ("a\na\n", ":2: stage 'a' appears twice");
    s_test_refuses ("a\n    program = ../x\n", ":2: a: program '../x' is not a program name");
    s_test_refuses ("run = x\n", ":1: 'run = x' at top level");
    s_test_stage_read ();
    s_test_partitions ();
    assert (!nd_pipefile_load ("/nonexistent/pipeline.zpl", &error));
    assert (streq (error, "/nonexistent/pipeline.zpl: No such file or directory"));
    zstr_free (&error);
    if (verbose)
        printf ("(checked defaults, overrides and eight bad files) ");
    printf ("OK\n");
}
