/*  nd-supervisor - writes supervisord or systemd configs for a pipeline.

    NAME
        nd-supervisor - generate supervisor configurations from the
        pipeline file

    SYNOPSIS
        nd-supervisor [-c CONFIG] [-f supervisord|include|systemd] [--bin DIR]
                      [--dir WORKDIR] [--user USER] [--root DIR] [-o OUT]
        nd-supervisor --help | --selftest

    DESCRIPTION
        Reads the pipeline file and writes what a real supervisor needs to
        run every stage in it: the stages run in the foreground, log to
        stderr and never daemonize, so the supervisor starts them, collects
        their logs and restarts them when they die.

        Each stage runs as
            BIN/PROGRAM --config CONFIG --name STAGE
        in WORKDIR, PROGRAM being the stage's "program" option (default its
        name). CONFIG is written as an absolute path: a relative CONFIG is
        read from the current directory but named relative to WORKDIR,
        where the stages run, so the output for --dir /srv/nudge names
        /srv/nudge/conf/pipeline.zpl. As installed (make install, the
        Debian package), CONFIG is /etc/nudge/pipeline.zpl and WORKDIR
        /var/lib/nudge.

        supervisord (default): one file with a [program:STAGE] per stage
        (autorestart, TERM to stop, output to supervisord's own stdout so
        "supervisord -n" shows every log line in the foreground), and the
        [supervisord], [unix_http_server], [supervisorctl] and
        [rpcinterface:supervisor] sections, so that
        "supervisorctl -c FILE status" works. supervisord keeps its pid
        file and socket in WORKDIR/var/run and its log in WORKDIR/var/log;
        those directories must exist.

        include: only the [program:STAGE] sections and a [group:nudge]
        that holds them, for an existing supervisord's conf.d
        (supervisorctl status nudge:; the program names are nudge:STAGE).

        systemd: nudge-STAGE.service for each stage (Type=notify,
        Restart=always but not after exit 64 or 78 (bad arguments, bad
        configuration), environment from /etc/nudge/nudge.env if present,
        and a sandbox: UMask=0077, ProtectSystem=strict with ReadWritePaths
        the stage's state, run, spool and Maildir directories and where it
        makes its unsubscribe-secret, no capabilities, @system-service
        system calls, AF_UNIX/INET/INET6, ExecReload sends SIGHUP:
        "systemctl reload nudge-STAGE" has the stage read its journeys,
        segments or templates again) and nudge.target, which wants them
        all:
            systemctl enable --now nudge.target
        Of those directories, one under /var/lib/NAME or /run/NAME (as
        installed: /var/lib/nudge, /run/nudge) is given to systemd as
        StateDirectory=NAME or RuntimeDirectory=NAME, mode 0700: systemd
        makes it for the unit's user before the start, and keeps /run/NAME
        when one stage stops (the others' sockets are in it).

    OPTIONS
        -c, --config FILE   pipeline file (default conf/pipeline.zpl)
        -f, --format NAME   supervisord (default), include or systemd
        -b, --bin DIR       where the programs are (default: the directory
                            nd-supervisor itself is in)
        -d, --dir WORKDIR   where the stages run (default: the current one)
        -u, --user USER     run the stages as USER
        -r, --root DIR      CONFIG, BIN and WORKDIR are paths on a system
                            whose / is DIR here (an install's DESTDIR): the
                            output names them as they are, CONFIG is read
                            and BIN looked at under DIR
        -o, --output OUT    supervisord: the file to write; systemd: the
                            directory to write the units in. Default:
                            standard output. Files are replaced whole.
            --check         check the pipeline file (-c) and exit
        -h, --help          this text
            --selftest      run the pipeline file reader's self-test

    EXIT STATUS
        0 when written; 1 on a bad pipeline file ("FILE: reason" or
        "FILE:LINE: reason") or when the output cannot be written; 64 on
        usage errors.
*/
#include <czmq.h>
#include <getopt.h>
#include <sysexits.h>
#include <sys/stat.h>
#include "nd_tool.h"
#include "nd_pipefile.h"
#include "nd.h"

typedef struct {
    const char *config;
    const char *format;
    const char *bin;
    const char *dir;
    const char *user;
    const char *root;
    const char *output;
} sv_args_t;

/*  What every generated file is made of, all paths absolute.             */
typedef struct {
    nd_pipefile_t *pipeline;
    bool systemd;
    bool include;               //  programs and a group only
    char *config;
    char *bin;
    char *dir;
    const char *user;
    const char *root;           //  where / of the target system is here, or NULL
} sv_plan_t;

static const char *s_usage =
    "usage: nd-supervisor [-c CONFIG] [-f supervisord|systemd] [--bin DIR] [--dir WORKDIR]\n"
    "                     [--user USER] [--root DIR] [-o OUT]\n"
    "Writes a supervisord config, or systemd units, that run every stage of the pipeline.\n"
    "  -c, --config FILE   pipeline file (default conf/pipeline.zpl)\n"
    "  -f, --format NAME   supervisord (default), include or systemd\n"
    "  -b, --bin DIR       where the programs are (default: beside nd-supervisor)\n"
    "  -d, --dir WORKDIR   where the stages run (default: the current directory)\n"
    "  -u, --user USER     run the stages as USER\n"
    "  -r, --root DIR      CONFIG, BIN, WORKDIR name paths on the system whose / is DIR\n"
    "  -o, --output OUT    supervisord: file; systemd: directory (default: stdout)\n"
    "      --check         check the pipeline file (-c) and exit: 0 good, 78 not\n"
    "  -h, --help          this text\n"
    "      --selftest      run the pipeline file reader's self-test\n";

/*  Returns 0 to run, 1 when --help was shown, 2 on a usage error.       */
static int
s_parse_args (int argc, char **argv, void *args_)
{
    static const struct option options [] = {
        { "config", required_argument, NULL, 'c' }, { "format", required_argument, NULL, 'f' },
        { "bin",    required_argument, NULL, 'b' }, { "dir",    required_argument, NULL, 'd' },
        { "user",   required_argument, NULL, 'u' }, { "output", required_argument, NULL, 'o' },
        { "root",   required_argument, NULL, 'r' },
        { "help",   no_argument,       NULL, 'h' }, { "selftest", no_argument, NULL, 'T' },
        { NULL, 0, NULL, 0 }
    };
    sv_args_t *args = (sv_args_t *) args_;
    *args = (sv_args_t) { .config = "conf/pipeline.zpl", .format = "supervisord" };
    int option;
    while ((option = getopt_long (argc, argv, "c:f:b:d:u:r:o:h", options, NULL)) != -1) {
        switch (option) {
            case 'c': args->config = optarg; break;
            case 'f': args->format = optarg; break;
            case 'b': args->bin = optarg; break;
            case 'd': args->dir = optarg; break;
            case 'u': args->user = optarg; break;
            case 'r': args->root = optarg; break;
            case 'o': args->output = streq (optarg, "-")? NULL: optarg; break;
            case 'h': fputs (s_usage, stdout); return 1;
            case 'T': nd_pipefile_test (false); return 1;
            default: fprintf (stderr, "nd-supervisor: try 'nd-supervisor --help'\n"); return 2;
        }
    }
    if (optind < argc)
        return fprintf (stderr, "nd-supervisor: unexpected '%s'; try 'nd-supervisor --help'\n",
                        argv [optind]), 2;
    if (!streq (args->format, "supervisord") && !streq (args->format, "systemd")
    &&  !streq (args->format, "include"))
        return fprintf (stderr, "nd-supervisor: --format is supervisord, include or systemd, not '%s'\n",
                        args->format), 2;
    if (args->root && (*args->config != '/' || (args->bin && *args->bin != '/')
                   ||  !args->dir || *args->dir != '/'))
        return fprintf (stderr, "nd-supervisor: with --root, --config, --bin and --dir are "
                        "absolute paths on that system\n"), 2;
    return 0;
}

static char *
s_absolute (const char *path, const char *base)
{
    if (*path == '/')
        return strdup (path);
    if (streq (path, "."))
        return strdup (base);
    return zsys_sprintf ("%s/%s", base, path);
}

/*  By default the stages are the programs installed next to this one.   */
static char *
s_own_directory (void)
{
    char path [4096];
    ssize_t size = readlink ("/proc/self/exe", path, sizeof path - 1);
    if (size <= 0)
        return NULL;
    path [size] = 0;
    *strrchr (path, '/') = 0;
    return strdup (path);
}

/*  Builds the plan. Returns -1 after saying why on one line.            */
static int
s_plan (sv_plan_t *plan, const sv_args_t *args)
{
    char *error = NULL;
    *plan = (sv_plan_t) { .systemd = streq (args->format, "systemd"),
                          .include = streq (args->format, "include"), .user = args->user,
                          .root = args->root };
    char *read_from = args->root ? zsys_sprintf ("%s%s", args->root, args->config)
                                 : strdup (args->config);
    plan->pipeline = nd_pipefile_load (read_from, &error);
    free (read_from);
    if (!plan->pipeline) {
        fprintf (stderr, "nd-supervisor: %s\n", error);
        free (error);
        return -1;
    }
    char here [4096];
    if (!getcwd (here, sizeof here))
        return fprintf (stderr, "nd-supervisor: cannot tell the current directory: %s\n",
                        strerror (errno)), -1;
    plan->dir = s_absolute (args->dir? args->dir: ".", here);
    plan->config = s_absolute (args->config, plan->dir);
    plan->bin = args->bin? s_absolute (args->bin, here): s_own_directory ();
    if (!plan->bin)
        return fprintf (stderr, "nd-supervisor: cannot tell where the programs are; use --bin\n"), -1;
    const char *paths [] = { plan->dir, plan->config, plan->bin, plan->user? plan->user: "" };
    for (size_t i = 0; i < sizeof paths / sizeof *paths; i++)
        if (strpbrk (paths [i], "\n\r"))
            return fprintf (stderr, "nd-supervisor: a path with a line break cannot go in a config\n"), -1;
    return 0;
}

static void
s_plan_end (sv_plan_t *plan)
{
    nd_pipefile_destroy (&plan->pipeline);
    free (plan->config);
    free (plan->bin);
    free (plan->dir);
}

/*  Both formats expand %-specifiers (supervisord %(name)s, systemd %n);
    systemd also expands $VAR in commands; both split commands the POSIX
    shell way, so a word with blanks or quotes goes in double quotes.     */
static char *
s_escape (const char *text, bool systemd, bool word)
{
    bool quote = word && (strpbrk (text, " \t\"'\\") || !*text);
    char *escaped = (char *) zmalloc (strlen (text) * 2 + 3);
    char *to = escaped;
    if (quote)
        *to++ = '"';
    for (const char *from = text; *from; from++) {
        if (*from == '%' || (systemd && word && *from == '$'))
            *to++ = *from;
        else
        if (quote && (*from == '"' || *from == '\\'))
            *to++ = '\\';
        *to++ = *from;
    }
    if (quote)
        *to++ = '"';
    return escaped;
}

/*  Writes "BIN/PROGRAM --config CONFIG --name STAGE", escaped.           */
static void
s_put_command (FILE *out, const sv_plan_t *plan, const char *stage)
{
    const char *program = nd_pipefile_program (plan->pipeline, stage);
    char *path = zsys_sprintf ("%s/%s", plan->bin, program);
    const char *words [] = { path, "--config", plan->config, "--name", stage };
    for (size_t i = 0; i < sizeof words / sizeof *words; i++) {
        char *word = s_escape (words [i], plan->systemd, true);
        fprintf (out, "%s%s", i? " ": "", word);
        free (word);
    }
    fputc ('\n', out);
    free (path);
}

/*  A program that is not there would only show as a supervisor retrying
    and giving up; say so now when the bin directory exists here.         */
static void
s_warn_missing (const sv_plan_t *plan)
{
    struct stat st;
    char *bin = zsys_sprintf ("%s%s", plan->root ? plan->root : "", plan->bin);
    if (stat (bin, &st) == -1 || !S_ISDIR (st.st_mode)) {
        free (bin);
        return;
    }
    for (size_t index = 0; index < nd_pipefile_size (plan->pipeline); index++) {
        const char *stage = nd_pipefile_stage (plan->pipeline, index);
        char *path = zsys_sprintf ("%s/%s", bin, nd_pipefile_program (plan->pipeline, stage));
        if (access (path, X_OK) == -1)
            fprintf (stderr, "nd-supervisor: warning: %s: no program %s\n", stage, path);
        free (path);
    }
    free (bin);
}

/* ---------------------------------------------------------- supervisord */

static void
s_put_supervisord_program (FILE *out, const sv_plan_t *plan, size_t index)
{
    const char *stage = nd_pipefile_stage (plan->pipeline, index);
    char *dir = s_escape (plan->dir, false, false);
    fprintf (out, "\n[program:%s]\ncommand=", stage);
    s_put_command (out, plan, stage);
    fprintf (out, "directory=%s\n", dir);
    if (plan->user)
        fprintf (out, "user=%s\n", plan->user);
    //  Upstream first at start, and so last at stop (supervisord stops in
    //  reverse priority order).
    fprintf (out,
        "priority=%zu\n"
        "autostart=true\n"
        "autorestart=true\n"
        "startsecs=1\n"
        "startretries=5\n"
        "stopsignal=TERM\n"
        "stopwaitsecs=30\n"
        "redirect_stderr=true\n", 100 + index * 10);
    //  Its own file: every log line in the foreground of "supervisord -n";
    //  included in a daemon's config, supervisord's log files (childlogdir)
    if (!plan->include)
        fprintf (out, "stdout_logfile=/dev/stdout\nstdout_logfile_maxbytes=0\n");
    free (dir);
}

static void
s_put_supervisord (FILE *out, const sv_plan_t *plan)
{
    char *dir = s_escape (plan->dir, false, false);
    fprintf (out,
        "; nudge under supervisord, generated by nd-supervisor from %s.\n"
        "; Regenerate rather than edit. Run: supervisord -n -c THIS-FILE\n"
        "; Control: supervisorctl -c THIS-FILE status | restart STAGE | stop all\n"
        "\n[supervisord]\n"
        "nodaemon=true\n"
        "directory=%s\n"
        "pidfile=%s/var/run/supervisord.pid\n"
        "logfile=%s/var/log/supervisord.log\n"
        "childlogdir=%s/var/log\n"
        "\n[unix_http_server]\n"
        "file=%s/var/run/supervisord.sock\n"
        "chmod=0700\n"
        "\n[supervisorctl]\n"
        "serverurl=unix://%s/var/run/supervisord.sock\n"
        "\n[rpcinterface:supervisor]\n"
        "supervisor.rpcinterface_factory=supervisor.rpcinterface:make_main_rpcinterface\n",
        plan->config, dir, dir, dir, dir, dir, dir);
    for (size_t index = 0; index < nd_pipefile_size (plan->pipeline); index++)
        s_put_supervisord_program (out, plan, index);
    free (dir);
}

/* -------------------------------------------------------------- systemd */

//  Where a stage writes (its state, its sockets, its spool or Maildir, the
//  unsubscribe-secret it makes at first start): a relative path by its
//  first part in WORKDIR (var/state -> WORKDIR/var), an absolute one as
//  is (a secret's: its directory), each once.
static zlistx_t *
s_writable (const sv_plan_t *plan, const char *stage)
{
    const char *options [] = { "state", "run", "spool", "maildir", "unsubscribe-secret", NULL };
    const char *fallbacks [] = { "var/state", "var/run", NULL, NULL, NULL };
    zlistx_t *paths = zlistx_new ();
    zlistx_set_destructor (paths, (zlistx_destructor_fn *) zstr_free);
    zlistx_set_comparator (paths, (zlistx_comparator_fn *) strcmp);
    for (int i = 0; options [i]; i++) {
        const char *value = nd_pipefile_option (plan->pipeline, stage, options [i], fallbacks [i]);
        bool secret = streq (options [i], "unsubscribe-secret");
        if (secret && value && strncmp (value, "file:", 5) == 0)
            value += 5;
        else
        if (secret)
            continue;           //  env:NAME: nothing to write
        if (!value || !*value)
            continue;
        char *path = *value != '/' ? zsys_sprintf ("%s/%.*s", plan->dir, (int) strcspn (value, "/"), value)
                   : secret ? zsys_sprintf ("%.*s", (int) (strrchr (value, '/') - value), value)
                   : strdup (value);
        if (!*path || zlistx_find (paths, path))
            zstr_free (&path);
        else
            zlistx_add_end (paths, path);
    }
    return paths;
}

//  NAME when path is PREFIX/NAME or below it, else NULL.
static char *
s_directory_under (const char *path, const char *prefix)
{
    size_t size = strlen (prefix);
    if (strncmp (path, prefix, size) || !path [size] || path [size] == '/')
        return NULL;
    return zsys_sprintf ("%.*s", (int) strcspn (path + size, "/"), path + size);
}

//  Under /var/lib/NAME and /run/NAME, systemd makes the directory for the
//  unit's user before the start (StateDirectory=, RuntimeDirectory=,
//  writable in the sandbox); /run/NAME is kept when the unit stops, as
//  the other stages' sockets are in it. Any other path is made writable
//  as is (ReadWritePaths, "-": one not made yet does not stop the unit).
static void
s_put_writable (FILE *out, const sv_plan_t *plan, const char *stage)
{
    zlistx_t *paths = s_writable (plan, stage);
    char *state = NULL, *runtime = NULL;
    const char *separator = "ReadWritePaths=";
    //  One of each kind (a second /var/lib/OTHER is a ReadWritePaths)
    for (char *path = (char *) zlistx_first (paths); path; path = (char *) zlistx_next (paths)) {
        char *name = s_directory_under (path, "/var/lib/");
        if (name && (!state || streq (state, name))) {
            free (state);
            state = name;
            *path = 0;
            continue;
        }
        free (name);
        name = s_directory_under (path, "/run/");
        if (name && (!runtime || streq (runtime, name))) {
            free (runtime);
            runtime = name;
            *path = 0;
            continue;
        }
        free (name);
    }
    if (state)
        fprintf (out, "StateDirectory=%s\nStateDirectoryMode=0700\n", state);
    if (runtime)
        fprintf (out, "RuntimeDirectory=%s\nRuntimeDirectoryMode=0700\n"
                      "RuntimeDirectoryPreserve=yes\n", runtime);
    for (char *path = (char *) zlistx_first (paths); path; path = (char *) zlistx_next (paths)) {
        if (!*path)
            continue;           //  given to systemd above
        //  Quoted if it has blanks; % doubled, $ not (no variables here)
        char *escaped = s_escape (path, false, true);
        fprintf (out, "%s-%s", separator, escaped);
        free (escaped);
        separator = " ";
    }
    if (*separator == ' ')
        fprintf (out, "\n");
    free (state);
    free (runtime);
    zlistx_destroy (&paths);
}

static void
s_put_systemd_service (FILE *out, const sv_plan_t *plan, size_t index)
{
    const char *stage = nd_pipefile_stage (plan->pipeline, index);
    char *dir = s_escape (plan->dir, true, false);
    fprintf (out,
        "# nudge's %s stage, generated by nd-supervisor from %s.\n"
        "# Regenerate rather than edit.\n"
        "[Unit]\n"
        "Description=nudge %s stage\n"
        "PartOf=nudge.target\n"
        "Wants=network-online.target\n"
        "After=network-online.target", stage, plan->config, stage);
    //  Start after the stages whose time it reads (clock-inputs, default
    //  the first input): not needed for correctness (links reconnect and
    //  catch up) but it keeps the logs in a sensible order. Not after
    //  feedback inputs: the scheduler reads the senders that read it, and
    //  systemd refuses a cycle.
    const char *inputs = nd_pipefile_option (plan->pipeline, stage, "input", "");
    char *copy = strdup (inputs);
    const char *clock = nd_pipefile_option (plan->pipeline, stage, "clock-inputs", NULL);
    if (clock) {
        free (copy);
        copy = strdup (clock);
    }
    else
        copy [strcspn (copy, ", \t")] = 0;
    //  A partitioned input is its partitions (the same one, for a stage
    //  partitioned alike)
    zlist_t *instances = nd_pipefile_inputs (plan->pipeline, stage);
    for (char *save = NULL, *input = strtok_r (copy, ", \t", &save); input;
         input = strtok_r (NULL, ", \t", &save))
        for (const char *up = (const char *) zlist_first (instances); up;
             up = (const char *) zlist_next (instances))
            if (streq (nd_pipefile_section_name (plan->pipeline, up), input))
                fprintf (out, " nudge-%s.service", up);
    zlist_destroy (&instances);
    free (copy);
    //  Ready once it has opened its state and bound its sockets: the
    //  stage says READY=1 on $NOTIFY_SOCKET (sd_notify's protocol)
    fprintf (out, "\n\n[Service]\nType=notify\nNotifyAccess=main\nWorkingDirectory=%s\nExecStart=", dir);
    s_put_command (out, plan, stage);
    //  SIGHUP reloads journeys, segments and templates (nd_stage.c); a
    //  stage with nothing to reload logs so and runs on
    fprintf (out, "ExecReload=/bin/kill -HUP $MAINPID\n");
    if (plan->user)
        fprintf (out, "User=%s\nGroup=%s\n", plan->user, plan->user);
    fprintf (out,
        "# Secrets (provider keys, SMTP passwords) from the environment, not the repo.\n"
        "EnvironmentFile=-/etc/nudge/nudge.env\n"
        "Restart=always\n"
        "RestartSec=1\n"
        "# 64: bad arguments, 78: a pipeline file the stage refused (its log says\n"
        "# file:line); a restart would not mend either.\n"
        "RestartPreventExitStatus=64 78\n"
        "KillSignal=SIGTERM\n"
        "TimeoutStopSec=30\n"
        "LimitNOFILE=65536\n"
        "# What a stage may touch: its files, the network, nothing else.\n"
        "UMask=0077\n");
    s_put_writable (out, plan, stage);
    fprintf (out,
        "ProtectSystem=strict\n"
        "ProtectHome=yes\n"
        "PrivateTmp=yes\n"
        "PrivateDevices=yes\n"
        "PrivateUsers=yes\n"
        "NoNewPrivileges=yes\n"
        "CapabilityBoundingSet=\n"
        "AmbientCapabilities=\n"
        "ProtectKernelTunables=yes\n"
        "ProtectKernelModules=yes\n"
        "ProtectKernelLogs=yes\n"
        "ProtectControlGroups=yes\n"
        "ProtectClock=yes\n"
        "ProtectHostname=yes\n"
        "ProtectProc=invisible\n"
        "ProcSubset=pid\n"
        "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6\n"
        "RestrictNamespaces=yes\n"
        "RestrictRealtime=yes\n"
        "RestrictSUIDSGID=yes\n"
        "LockPersonality=yes\n"
        "MemoryDenyWriteExecute=yes\n"
        "RemoveIPC=yes\n"
        "PrivateMounts=yes\n"
        "DevicePolicy=closed\n"
        "SystemCallArchitectures=native\n"
        "SystemCallFilter=@system-service\n"
        "SystemCallFilter=~@privileged\n"
        "SystemCallErrorNumber=EPERM\n"
        "\n[Install]\n"
        "WantedBy=nudge.target\n");
    free (dir);
}

static void
s_put_systemd_target (FILE *out, const sv_plan_t *plan)
{
    fprintf (out,
        "# nudge, all stages, generated by nd-supervisor from %s.\n"
        "# systemctl enable --now nudge.target; systemctl restart nudge.target\n"
        "[Unit]\n"
        "Description=nudge pipeline\n"
        "Wants=", plan->config);
    for (size_t index = 0; index < nd_pipefile_size (plan->pipeline); index++)
        fprintf (out, "%snudge-%s.service", index? " ": "",
                 nd_pipefile_stage (plan->pipeline, index));
    fprintf (out, "\n\n[Install]\nWantedBy=multi-user.target\n");
}

/* --------------------------------------------------------------- output */

typedef void (sv_put_fn) (FILE *out, const sv_plan_t *plan, size_t index);

/*  Writes one file whole: to a temporary name, then renamed, so that a
    supervisor never reads half a config. path NULL means stdout.         */
static int
s_write (const char *path, sv_put_fn *put, const sv_plan_t *plan, size_t index)
{
    if (!path) {
        put (stdout, plan, index);
        return fflush (stdout) == 0? 0: -1;
    }
    char *temporary = zsys_sprintf ("%s.tmp", path);
    FILE *out = fopen (temporary, "w");
    int rc = -1;
    if (out) {
        put (out, plan, index);
        rc = ferror (out)? -1: 0;
        rc = fclose (out) == 0 && rc == 0? rename (temporary, path): -1;
    }
    if (rc == -1) {
        fprintf (stderr, "nd-supervisor: cannot write %s: %s\n", path, strerror (errno));
        unlink (temporary);
    }
    free (temporary);
    return rc;
}

static void
s_put_supervisord_file (FILE *out, const sv_plan_t *plan, size_t index)
{
    (void) index;
    s_put_supervisord (out, plan);
}

//  For an existing supervisord (its conf.d): the programs, and a group
//  that starts, stops and shows them together ("supervisorctl status
//  nudge:"), nothing of the daemon's own sections.
static void
s_put_include_file (FILE *out, const sv_plan_t *plan, size_t index)
{
    (void) index;
    fprintf (out, "; nudge's stages for an existing supervisord (include it from its conf.d),\n"
                  "; generated by nd-supervisor from %s. Regenerate rather than edit.\n"
                  "; Control: supervisorctl status nudge: | restart nudge:STAGE | stop nudge:\n"
                  "\n[group:nudge]\nprograms=", plan->config);
    for (size_t i = 0; i < nd_pipefile_size (plan->pipeline); i++)
        fprintf (out, "%s%s", i ? "," : "", nd_pipefile_stage (plan->pipeline, i));
    fprintf (out, "\n");
    for (size_t i = 0; i < nd_pipefile_size (plan->pipeline); i++)
        s_put_supervisord_program (out, plan, i);
}

static void
s_put_target_file (FILE *out, const sv_plan_t *plan, size_t index)
{
    (void) index;
    s_put_systemd_target (out, plan);
}

/*  One unit file per stage and the target, into directory (or stdout,
    each after a "# ==> NAME <==" line).                                  */
static int
s_write_systemd (const char *directory, const sv_plan_t *plan)
{
    if (directory && mkdir (directory, 0755) == -1 && errno != EEXIST)
        return fprintf (stderr, "nd-supervisor: cannot create %s: %s\n",
                        directory, strerror (errno)), -1;
    size_t size = nd_pipefile_size (plan->pipeline);
    int rc = 0;
    for (size_t index = 0; index <= size && rc == 0; index++) {
        char *name = index < size
            ? zsys_sprintf ("nudge-%s.service", nd_pipefile_stage (plan->pipeline, index))
            : strdup ("nudge.target");
        char *path = directory? zsys_sprintf ("%s/%s", directory, name): NULL;
        if (!directory)
            printf ("%s# ==> %s <==\n", index? "\n": "", name);
        rc = s_write (path, index < size? s_put_systemd_service: s_put_target_file, plan, index);
        free (path);
        free (name);
    }
    return rc;
}

int
main (int argc, char **argv)
{
    sv_args_t args;
    nd_tool_start (argc, argv, "nd-supervisor", s_parse_args, &args);
    int rc;
    sv_plan_t plan;
    if (s_plan (&plan, &args) == 0) {
        s_warn_missing (&plan);
        if (plan.systemd)
            rc = s_write_systemd (args.output, &plan);
        else
            rc = s_write (args.output, streq (args.format, "include") ? s_put_include_file
                                                                      : s_put_supervisord_file,
                          &plan, 0);
    }
    else
        rc = -1;
    s_plan_end (&plan);
    return rc == 0? 0: 1;
}
