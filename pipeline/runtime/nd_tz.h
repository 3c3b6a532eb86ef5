/*  nd_tz.h - UTC offsets of IANA time zones, from the system's TZif files.

    For whatever a stage decides in a person's own time: the scheduler's
    quiet hours and local send times, the sms-sender's last quiet-hours
    guard, the chat-bridge's opening hours. Each zone is read once and
    cached in the nd_tz_t; no process-global state (no TZ, no tzset), so
    any thread that owns its nd_tz_t may use it.

        nd_tz_t *tz = nd_tz_new ("/usr/share/zoneinfo");
        int32_t offset;
        if (nd_tz_offset (tz, "Europe/Warsaw", now_ms, &offset) == 0)
            ...                         //  7200 in summer, 3600 in winter
        nd_tz_destroy (&tz);                                              */
#ifndef ND_TZ_H_INCLUDED
#define ND_TZ_H_INCLUDED

#include <stdbool.h>
#include <stdint.h>

typedef struct _nd_tz_t nd_tz_t;
nd_tz_t *nd_tz_new (const char *zoneinfo_dir);
void nd_tz_destroy (nd_tz_t **self_p);
/*  True if name is a zone found in the zoneinfo directory.               */
bool nd_tz_known (nd_tz_t *self, const char *name);
/*  Seconds east of UTC in zone name at utc_ms; -1 for an unknown zone.   */
int nd_tz_offset (nd_tz_t *self, const char *name, int64_t utc_ms, int32_t *offset);
/*  Local wall time (ms since the epoch as if local were UTC) to UTC.     */
int64_t nd_tz_to_utc (nd_tz_t *self, const char *name, int64_t local_ms);
void nd_tz_test (bool verbose);

#endif
