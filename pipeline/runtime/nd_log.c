/*  nd_log - one line per notable thing, to stderr, with a UTC timestamp and
    the stage's name. Programs run in the foreground under a supervisor,
    which keeps the log; nothing here writes files or daemonizes.         */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include "nd.h"

/*  The process's own name: set once at start, read by every log line. It is
    process-wide by nature (like the program name), not per-object state.  */
static char s_name [64] = "nudge";

void nd_log_set_name (const char *name)
{
    snprintf (s_name, sizeof s_name, "%s", name);
}

void nd_log (const char *fmt, ...)
{
    char stamp [32], line [2048];
    va_list args;
    va_start (args, fmt);
    vsnprintf (line, sizeof line, fmt, args);
    va_end (args);
    //  Control characters from input must not forge extra log lines
    for (char *c = line; *c; c++)
        if ((unsigned char) *c < 0x20)
            *c = ' ';
    fprintf (stderr, "%s %s: %s\n", nd_time_format (nd_wall_ms (), stamp), s_name, line);
}
