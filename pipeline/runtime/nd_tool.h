/*  nd_tool - the command-line glue the operator tools share.

    A tool's main starts with nd_tool_start (--version, --check, then the
    tool's own parser); its parser hands each option to nd_tool_option
    first, which takes the ones most tools have alike: -h/--help,
    -c/--config, --cert, -t/--timeout and getopt's '?'. A tool that talks
    to a stage finds it with nd_tool_endpoint. Messages go to stderr as
    "NAME: reason", one line.                                            */
#ifndef ND_TOOL_H_INCLUDED
#define ND_TOOL_H_INCLUDED

#include <getopt.h>

/*  What the shared options set; the tool fills name, usage and the
    defaults before parsing.                                             */
typedef struct {
    const char *name;           //  the tool, for messages
    const char *usage;          //  --help's text
    const char *config;         //  -c, --config FILE
    const char *cert;           //  --cert FILE: a CURVE keypair, or NULL
    long timeout;               //  -t, --timeout MS
} nd_tool_args_t;

/*  getopt_long table rows for the shared options.                       */
#define ND_TOOL_CONFIG  { "config",  required_argument, NULL, 'c' }
#define ND_TOOL_CERT    { "cert",    required_argument, NULL, 'C' }
#define ND_TOOL_TIMEOUT { "timeout", required_argument, NULL, 't' }
#define ND_TOOL_HELP    { "help",    no_argument,       NULL, 'h' }

/*  A tool's parser: 0 to run, 1 when --help was shown, 2 on a usage
    error.                                                               */
typedef int (nd_tool_parse_fn) (int argc, char **argv, void *args);

/*  Handles --version and --check (nd_version_arg, nd_check_arg), then
    runs parse; like them, exits when there is nothing more to do: 0
    after --help, EX_USAGE (64) on a usage error.                        */
void nd_tool_start (int argc, char **argv, const char *name,
                   nd_tool_parse_fn *parse, void *args);

/*  Takes option (getopt_long's answer, value its optarg) when it is a
    shared one: returns 0 when taken, 1 after printing --help, 2 on a
    usage error (said on stderr), -1 when the option is the tool's own.  */
int nd_tool_option (nd_tool_args_t *tool, int option, const char *value);

/*  Prints "NAME: try 'NAME --help'" and returns 2, for a parser's own
    usage errors.                                                        */
int nd_tool_usage_error (const nd_tool_args_t *tool);

/*  The endpoint of kind ("ctl", "pub", ...) of target, a stage of the
    pipeline file or an endpoint as is (nd_pipefile_target_curve), with
    *curve_public set for a stage that uses CURVE. On failure prints
    "NAME: reason" and returns NULL. Both strings are the caller's.      */
char *nd_tool_endpoint (const nd_tool_args_t *tool, const char *target, const char *kind,
                        char **curve_public);

/*  Prepares socket for target as nd_pipefile_secure does, with the
    tool's --cert. Returns 0, or -1 after printing "NAME: reason".       */
int nd_tool_secure (const nd_tool_args_t *tool, void *socket, const char *target,
                    const char *curve_public);

/*  Prints "NAME: error", frees error and returns 1 (a tool's failure
    exit status).                                                        */
int nd_tool_fail (const char *name, char *error);

#endif
