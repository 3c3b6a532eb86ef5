/*  funnel.c - filled by the funnel aggregates. Until then there is no
    funnel to show, and the report says so (funnel.h).                  */
#include "funnel.h"

json_t *funnel_report (const char *state_dir, const char *from, const char *to,
                       char *err, size_t errlen)
{
    (void) state_dir; (void) from; (void) to;
    if (err && errlen)
        *err = 0;
    return NULL;
}
