/*  nd_tool - the command-line glue the operator tools share (nd_tool.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sysexits.h>
#include "nd.h"
#include "nd_pipefile.h"
#include "nd_tool.h"

void nd_tool_start (int argc, char **argv, const char *name,
                    nd_tool_parse_fn *parse, void *args)
{
    nd_version_arg (argc, argv, name);
    nd_check_arg (argc, argv, name);
    int rc = parse (argc, argv, args);
    if (rc)
        exit (rc == 1 ? 0 : EX_USAGE);
}

int nd_tool_usage_error (const nd_tool_args_t *tool)
{
    fprintf (stderr, "%s: try '%s --help'\n", tool->name, tool->name);
    return 2;
}

int nd_tool_option (nd_tool_args_t *tool, int option, const char *value)
{
    char *end = NULL;
    switch (option) {
        case 'h':
            fputs (tool->usage, stdout);
            return 1;
        case 'c':
            tool->config = value;
            return 0;
        case 'C':
            tool->cert = value;
            return 0;
        case 't':
            errno = 0;
            tool->timeout = strtol (value, &end, 10);
            if (errno == 0 && end != value && *end == 0 && tool->timeout > 0)
                return 0;
            fprintf (stderr, "%s: --timeout wants milliseconds, not '%s'\n", tool->name, value);
            return 2;
        case '?':
            return nd_tool_usage_error (tool);
        default:
            return -1;
    }
}

char *nd_tool_endpoint (const nd_tool_args_t *tool, const char *target, const char *kind,
                        char **curve_public)
{
    char *error = NULL;
    char *endpoint = nd_pipefile_target_curve (tool->config, target, kind, curve_public, &error);
    if (!endpoint)
        nd_tool_fail (tool->name, error);
    return endpoint;
}

int nd_tool_secure (const nd_tool_args_t *tool, void *socket, const char *target,
                    const char *curve_public)
{
    char *error = NULL;
    if (nd_pipefile_secure (socket, target, curve_public, tool->cert, &error) == 0)
        return 0;
    nd_tool_fail (tool->name, error);
    return -1;
}

int nd_tool_fail (const char *name, char *error)
{
    fprintf (stderr, "%s: %s\n", name, error);
    free (error);
    return 1;
}
