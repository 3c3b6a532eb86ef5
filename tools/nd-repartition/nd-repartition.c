/*  nd-repartition - changes how many partitions stages run as, offline.

    NAME
        nd-repartition - move the people of partitioned stages to a new count

    SYNOPSIS
        nd-repartition [-c CONFIG] [-b DIR] --from N STAGE...

    DESCRIPTION
        Run with the pipeline stopped after it has drained, once the
        pipeline file says the new count ("partitions = M" in each
        STAGE's section, or none for 1). For each STAGE, in the order
        given (the sessionizer, then the segmenter), runs the stage's own
        program with --repartition-from N: its state in N partitions
        (STATE/STAGE for 1, STATE/STAGE.0 .. STAGE.N-1) moves to the M
        partitions the file names, each person to the partition that
        owns their visitor id, with the stage's own export and import.
        A stage refuses when its journal holds what a reader has not
        acknowledged, or a move is on its way: start the pipeline, let
        it drain, stop it, run this again. Running it again after a
        crash finishes the job. Then start the pipeline on the new file
        (nd-supervisor writes the new programs or units). README
        "Partitioned stages".

    OPTIONS
        -c, --config FILE   pipeline file, with the new counts (default
                            conf/pipeline.zpl)
        -b, --bin DIR       where the programs are (default: beside
                            nd-repartition)
            --from N        the count the state has now
            --check         check the pipeline file (-c) and exit
        -h, --help          this text

    EXIT STATUS
        0 done; 1 a stage refused or failed (its log line says why); 64 a
        usage error; 78 a bad pipeline file.                            */
#include <czmq.h>
#include <getopt.h>
#include <sys/wait.h>
#include <sysexits.h>
#include "nd_tool.h"
#include "nd_pipefile.h"

typedef struct {
    nd_tool_args_t tool;
    const char *bin;
    int from;
} repartition_args_t;

static const char *s_usage =
    "usage: nd-repartition [-c CONFIG] [-b DIR] --from N STAGE...\n"
    "Moves the people of each partitioned STAGE from N partitions to the count the\n"
    "pipeline file says now; run it with the pipeline stopped after it drained.\n"
    "  -c, --config FILE   pipeline file, with the new counts (default conf/pipeline.zpl)\n"
    "  -b, --bin DIR       where the programs are (default: beside nd-repartition)\n"
    "      --from N        the number of partitions the state has now\n"
    "      --check         check the pipeline file (-c) and exit: 0 good, 78 not\n"
    "  -h, --help          this text\n"
    "See nd-repartition(1).\n";

static int s_args (int argc, char **argv, void *args_)
{
    static const struct option options [] = {
        ND_TOOL_CONFIG, { "bin", required_argument, NULL, 'b' },
        { "from", required_argument, NULL, 'f' }, ND_TOOL_HELP, { NULL, 0, NULL, 0 } };
    repartition_args_t *args = (repartition_args_t *) args_;
    *args = (repartition_args_t) { { "nd-repartition", s_usage, "conf/pipeline.zpl", NULL, 0 },
                                   NULL, 0 };
    int option;
    while ((option = getopt_long (argc, argv, "c:b:h", options, NULL)) != -1) {
        int rc = nd_tool_option (&args->tool, option, optarg);
        if (rc > 0)
            return rc;
        if (option == 'b')
            args->bin = optarg;
        if (option == 'f')
            args->from = atoi (optarg);
    }
    if (args->from < 1 || args->from > ND_PARTITIONS_MAX) {
        fprintf (stderr, "nd-repartition: --from N, the partitions the state has now (1 to %d)\n",
                 ND_PARTITIONS_MAX);
        return 2;
    }
    if (optind == argc)
        return fprintf (stderr, "nd-repartition: name a STAGE; try 'nd-repartition --help'\n"), 2;
    return 0;
}

//  The directory this program is in: the stages' programs are beside it.
static char *s_own_directory (void)
{
    char path [4096];
    ssize_t size = readlink ("/proc/self/exe", path, sizeof path - 1);
    if (size <= 0)
        return strdup (".");
    path [size] = 0;
    char *slash = strrchr (path, '/');
    if (slash)
        *slash = 0;
    return strdup (path);
}

//  The stage a section runs as first: NAME, or NAME.0 when partitioned.
static char *s_first (nd_pipefile_t *file, const char *section)
{
    if (nd_pipefile_has (file, section))
        return strdup (section);
    char *first = zsys_sprintf ("%s.0", section);
    if (nd_pipefile_has (file, first))
        return first;
    free (first);
    return NULL;
}

static int s_run (const char *program, const char *config, const char *stage, int from)
{
    char count [16];
    snprintf (count, sizeof count, "%d", from);
    pid_t pid = fork ();
    if (pid == 0) {
        execl (program, program, "--config", config, "--name", stage, "--repartition-from", count,
               (char *) NULL);
        fprintf (stderr, "nd-repartition: cannot run %s: %s\n", program, strerror (errno));
        _exit (127);
    }
    int status = 0;
    if (pid < 0 || waitpid (pid, &status, 0) < 0)
        return -1;
    return WIFEXITED (status) ? WEXITSTATUS (status) : 1;
}

int main (int argc, char **argv)
{
    repartition_args_t args;
    nd_tool_start (argc, argv, "nd-repartition", s_args, &args);
    char *error = NULL;
    nd_pipefile_t *file = nd_pipefile_load (args.tool.config, &error);
    if (!file) {
        fprintf (stderr, "nd-repartition: %s\n", error);
        free (error);
        return EX_CONFIG;
    }
    char *bin = args.bin ? strdup (args.bin) : s_own_directory ();
    int rc = 0;
    for (int i = optind; rc == 0 && i < argc; i++) {
        char *stage = s_first (file, argv [i]);
        if (!stage) {
            fprintf (stderr, "nd-repartition: %s: no such stage in %s\n", argv [i], args.tool.config);
            rc = EX_USAGE;
            break;
        }
        char *program = zsys_sprintf ("%s/%s", bin, nd_pipefile_program (file, stage));
        rc = s_run (program, args.tool.config, stage, args.from);
        if (rc)
            fprintf (stderr, "nd-repartition: %s: stopped (exit %d); nothing after it was done\n",
                     argv [i], rc);
        free (program);
        free (stage);
    }
    free (bin);
    nd_pipefile_destroy (&file);
    return rc ? (rc == EX_USAGE ? EX_USAGE : 1) : 0;
}
