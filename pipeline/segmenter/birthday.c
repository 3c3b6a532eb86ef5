/*  birthday.c - the built-in group birthday: it is the visitor's birthday,
    in their own time zone.

    The day comes from the trait birthday (Segment's reserved trait: an
    ISO 8601 date such as "1990-05-17", or a date and time of which the
    date counts, or "--05-17" without the year), the zone from the trait
    timezone (an IANA name), else the segmenter's timezone option. The
    birthday runs from local midnight to the next local midnight; someone
    born on February 29 has it on February 28 in the other years.

    Membership changes with time alone, so seg_birthday also says when it
    changes next: the next local midnight that begins or ends a birthday.
    Dates are turned into times with timegm and the runtime's nd_tz, which
    touch no process-global time zone state.                              */
#define _DEFAULT_SOURCE
#include <assert.h>
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include "segmenter.h"

static bool s_leap (int year)
{
    return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
}

static int s_month_days (int year, int month)
{
    static const int days [] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    return month == 2 && s_leap (year) ? 29 : days [month - 1];
}

static bool s_digits (const char *text, int count, int *value)
{
    *value = 0;
    for (int i = 0; i < count; i++) {
        if (!isdigit ((unsigned char) text [i]))
            return false;
        *value = *value * 10 + text [i] - '0';
    }
    return true;
}

//  The month and day of "YYYY-MM-DD[Thh:mm...]" or "--MM-DD"; false for
//  anything else, or a day the month does not have.
static bool s_month_day (const char *text, int *month, int *day)
{
    int year = 2000;            //  a leap year: "--02-29" is a birthday
    if (!text)
        return false;
    if (text [0] == '-' && text [1] == '-')
        text += 2;
    else
    if (s_digits (text, 4, &year) && text [4] == '-')
        text += 5;
    else
        return false;
    if (!s_digits (text, 2, month) || text [2] != '-' || !s_digits (text + 3, 2, day)
    ||  (text [5] && text [5] != 'T' && text [5] != ' '))
        return false;
    return *month >= 1 && *month <= 12 && *day >= 1 && *day <= s_month_days (year, *month);
}

//  Midnight of year-month-day as local wall time (ms as if local were
//  UTC); a day past the month's end runs into the next month.
static int64_t s_midnight (int year, int month, int day)
{
    struct tm date = { .tm_year = year - 1900, .tm_mon = month - 1, .tm_mday = day };
    return (int64_t) timegm (&date) * 1000;
}

bool seg_birthday (nd_tz_t *tz, const char *zone, const json_t *profile, int64_t now,
                   int64_t *next)
{
    *next = 0;
    json_t *traits = json_object_get (profile, "traits");
    int month, day;
    if (!s_month_day (json_string_value (json_object_get (traits, "birthday")), &month, &day))
        return false;
    const char *own = json_string_value (json_object_get (traits, "timezone"));
    if (own && nd_tz_known (tz, own))
        zone = own;
    int32_t offset = 0;
    nd_tz_offset (tz, zone, now, &offset);
    int64_t local = now + (int64_t) offset * 1000;
    time_t seconds = (time_t) (local >= 0 ? local / 1000 : (local - 999) / 1000);
    struct tm today;
    gmtime_r (&seconds, &today);
    //  Last year's, this year's and next year's: around New Year the one
    //  that matters may be in either neighbour.
    bool member = false;
    for (int year = today.tm_year + 1899; year <= today.tm_year + 1901; year++) {
        int date = month == 2 && day == 29 && !s_leap (year) ? 28 : day;
        int64_t moments [2] = {
            nd_tz_to_utc (tz, zone, s_midnight (year, month, date)),
            nd_tz_to_utc (tz, zone, s_midnight (year, month, date + 1))
        };
        if (moments [0] <= now && now < moments [1])
            member = true;
        for (int i = 0; i < 2; i++)
            if (moments [i] > now && (*next == 0 || moments [i] < *next))
                *next = moments [i];
    }
    return member;
}

/* ------------------------------------------------------------ selftest -- */

static int64_t s_at (const char *text)
{
    int64_t ms = 0;
    assert (nd_time_parse (text, &ms) == 0);
    return ms;
}

static json_t *s_person (const char *birthday, const char *zone)
{
    json_t *profile = seg_profile_new (0);
    json_t *traits = json_object_get (profile, "traits");
    if (birthday)
        json_object_set_new (traits, "birthday", json_string (birthday));
    if (zone)
        json_object_set_new (traits, "timezone", json_string (zone));
    return profile;
}

void seg_birthday_test (bool verbose)
{
    if (verbose)
        printf (" * seg_birthday: ");
    nd_tz_t *tz = nd_tz_new ("/usr/share/zoneinfo");
    int64_t next;
    //  Tokyo is UTC+9: 17 May there begins at 15:00 UTC on 16 May.
    json_t *profile = s_person ("1990-05-17", "Asia/Tokyo");
    assert (!seg_birthday (tz, "UTC", profile, s_at ("2026-05-16T14:59:59.999Z"), &next));
    assert (next == s_at ("2026-05-16T15:00:00Z"));
    assert (seg_birthday (tz, "UTC", profile, next, &next));
    assert (next == s_at ("2026-05-17T15:00:00Z"));
    assert (!seg_birthday (tz, "UTC", profile, next, &next));
    assert (next == s_at ("2027-05-16T15:00:00Z"));
    json_decref (profile);

    //  No zone of their own (or one nobody knows): the stage's.
    profile = s_person ("1990-05-17T00:00:00Z", "Mars/Olympus");
    assert (seg_birthday (tz, "Europe/Warsaw", profile, s_at ("2026-05-16T22:00:00Z"), &next));
    assert (next == s_at ("2026-05-17T22:00:00Z"));
    json_decref (profile);

    //  Born on 29 February: 28 February in other years, 29th in leap ones.
    profile = s_person ("2000-02-29", NULL);
    assert (seg_birthday (tz, "UTC", profile, s_at ("2027-02-28T12:00:00Z"), &next));
    assert (next == s_at ("2027-03-01T00:00:00Z"));
    assert (!seg_birthday (tz, "UTC", profile, next, &next));
    assert (next == s_at ("2028-02-29T00:00:00Z"));
    assert (!seg_birthday (tz, "UTC", profile, s_at ("2028-02-28T12:00:00Z"), &next));
    json_decref (profile);

    //  New Year's Eve and Day around the turn of the year.
    profile = s_person ("--01-01", NULL);
    assert (!seg_birthday (tz, "UTC", profile, s_at ("2026-12-31T23:00:00Z"), &next));
    assert (next == s_at ("2027-01-01T00:00:00Z"));
    json_decref (profile);

    //  Not a date, a day the month lacks, or no birthday (NULL): never.
    const char *bad [] = { "", "17.05.1990", "1990-13-01", "1990-02-30", "1991-02-29",
                           "1990-5-17", "1990-05-17x", "--02-30", NULL };
    for (size_t i = 0; i < sizeof bad / sizeof bad [0]; i++) {
        profile = s_person (bad [i], "UTC");
        assert (!seg_birthday (tz, "UTC", profile, s_at ("1990-05-17T12:00:00Z"), &next));
        assert (next == 0);
        json_decref (profile);
    }
    nd_tz_destroy (&tz);
    if (verbose)
        printf ("OK\n");
}
