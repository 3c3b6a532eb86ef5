/*  sms_quiet - the last guard against texting someone at night.

    The scheduler already keeps messages out of a person's quiet hours.
    But an SMS can wait in this outbox - a provider's outage, a 429 - and
    a retry could land at 3 a.m. local time, which people remember. So
    before each try, an order that names the person's time zone ("tz",
    or "tz" / "timezone" in its data) is held until their quiet hours
    end; an order without one is sent as the scheduler decided.

    Zone offsets come from the runtime's TZif reader (nd_tz), the one
    the scheduler uses, so both stages agree on every zone.             */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include "nd_tz.h"
#include "sms.h"

#define s_DAY_MS (86400 * 1000LL)

struct _sms_quiet_t {
    nd_tz_t *tz;
    int start, end;             //  minutes after local midnight
};

sms_quiet_t *sms_quiet_new (const char *zoneinfo, const char *hours)
{
    int sh, sm, eh, em, used = 0;
    if (!hours || sscanf (hours, "%d:%d-%d:%d%n", &sh, &sm, &eh, &em, &used) != 4 || hours [used]
    ||  sh < 0 || sh > 23 || eh < 0 || eh > 23 || sm < 0 || sm > 59 || em < 0 || em > 59)
        return NULL;
    sms_quiet_t *self = (sms_quiet_t *) calloc (1, sizeof *self);
    assert (self);
    self->tz = nd_tz_new (zoneinfo);
    self->start = sh * 60 + sm;
    self->end = eh * 60 + em;
    return self;
}

void sms_quiet_destroy (sms_quiet_t **self_p)
{
    sms_quiet_t *self = *self_p;
    if (self) {
        nd_tz_destroy (&self->tz);
        free (self);
        *self_p = NULL;
    }
}

int64_t sms_quiet_wait (sms_quiet_t *self, const char *zone, int64_t now_ms)
{
    int32_t offset;
    if (!zone || nd_tz_offset (self->tz, zone, now_ms, &offset))
        return -1;
    int64_t local = now_ms + (int64_t) offset * 1000;
    int64_t midnight = local - ((local % s_DAY_MS) + s_DAY_MS) % s_DAY_MS;
    int minute = (int) ((local - midnight) / 60000);
    bool quiet = self->start < self->end ? minute >= self->start && minute < self->end
               : self->start > self->end && (minute >= self->start || minute < self->end);
    if (!quiet)
        return 0;
    int64_t until = midnight + (int64_t) self->end * 60000;
    if (until <= local)
        until += s_DAY_MS;
    int64_t wait = nd_tz_to_utc (self->tz, zone, until) - now_ms;
    return wait > 0 ? wait : 1;
}

void sms_quiet_test (bool verbose)
{
    if (verbose)
        printf (" * sms_quiet: ");
    assert (!sms_quiet_new ("/usr/share/zoneinfo", "21-9"));
    assert (!sms_quiet_new ("/usr/share/zoneinfo", "25:00-09:00"));
    sms_quiet_t *quiet = sms_quiet_new ("/usr/share/zoneinfo", "21:00-09:00");
    assert (quiet);
    int64_t noon_utc = 1772452800000LL;                 //  2026-03-02T12:00:00Z
    assert (sms_quiet_wait (quiet, "Europe/Warsaw", noon_utc) == 0);       //  13:00 there
    //  21:00 in Tokyo; quiet until 09:00, 12 hours
    assert (sms_quiet_wait (quiet, "Asia/Tokyo", noon_utc) == 12 * 3600 * 1000LL);
    //  07:00 in New York (UTC-5 in early March): two hours to go
    assert (sms_quiet_wait (quiet, "America/New_York", noon_utc) == 2 * 3600 * 1000LL);
    assert (sms_quiet_wait (quiet, "Mars/Olympus", noon_utc) == -1);
    assert (sms_quiet_wait (quiet, NULL, noon_utc) == -1);
    sms_quiet_destroy (&quiet);
    sms_quiet_destroy (&quiet);
    if (verbose)
        printf ("OK\n");
}
