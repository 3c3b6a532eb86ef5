/*  nd_log - one line per notable thing, to stderr, with a UTC timestamp and
    the stage's name. Programs run in the foreground under a supervisor,
    which keeps the log; nothing here writes files or daemonizes.

    A line said again and again (a stuck commit, a flood of one bad input)
    is written once; its repeats are counted and told as "the line above
    was repeated N times" when another line comes, or every
    s_REPEAT_REPORT_MS while they go on, so a log stays readable and a
    disk is not filled at thousands of lines a second.                   */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "nd.h"

#define s_REPEAT_REPORT_MS 10000

/*  The process's own name, its last line and the count of its repeats: set
    by log calls, read by every log line. They are process-wide by nature
    (like the program name and stderr itself), not per-object state.      */
static char s_name [64] = "nudge";
static char s_last [2048];
static uint64_t s_repeats;
static int64_t s_reported;      //  wall ms the repeats were last told
static bool s_plain;            //  --check: the line alone

void nd_log_set_name (const char *name)
{
    snprintf (s_name, sizeof s_name, "%s", name);
}

void nd_log_set_plain (bool plain)
{
    s_plain = plain;
}

const char *nd_log_last (void)
{
    return s_last;
}

static void s_write (int64_t now, const char *line)
{
    char stamp [32];
    if (s_plain)
        fprintf (stderr, "%s\n", line);
    else
        fprintf (stderr, "%s %s: %s\n", nd_time_format (now, stamp), s_name, line);
}

static void s_tell_repeats (int64_t now)
{
    char line [96];
    snprintf (line, sizeof line, "the line above was repeated %llu time%s",
              (unsigned long long) s_repeats, s_repeats == 1 ? "" : "s");
    s_write (now, line);
    s_repeats = 0;
    s_reported = now;
}

void nd_log (const char *fmt, ...)
{
    char line [2048];
    va_list args;
    va_start (args, fmt);
    vsnprintf (line, sizeof line, fmt, args);
    va_end (args);
    //  Control characters from input must not forge extra log lines
    for (char *c = line; *c; c++)
        if ((unsigned char) *c < 0x20)
            *c = ' ';
    int64_t now = nd_wall_ms ();
    if (*s_last && strcmp (line, s_last) == 0) {
        s_repeats++;
        if (now - s_reported >= s_REPEAT_REPORT_MS)
            s_tell_repeats (now);
        return;
    }
    if (s_repeats)
        s_tell_repeats (now);
    memcpy (s_last, line, sizeof s_last);
    s_reported = now;
    s_write (now, line);
}

void nd_version_arg (int argc, char **argv, const char *name)
{
    for (int i = 1; i < argc; i++)
        if (strcmp (argv [i], "--version") == 0) {
            printf ("%s (nudge) %s\n", name, ND_VERSION);
            exit (0);
        }
}
