/*  nd_time - milliseconds since the epoch, ISO 8601 in and out, durations
    and sizes as operators write them in the pipeline file.              */
#include <assert.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "nd.h"

int64_t nd_wall_ms (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_REALTIME, &ts);
    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

//  Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar
//  (Howard Hinnant's days_from_civil), so no timezone state is touched.
static int64_t s_days_from_civil (int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static int s_digits (const char **p, int count, int *value)
{
    *value = 0;
    for (int i = 0; i < count; i++, (*p)++) {
        if (!isdigit ((unsigned char) **p))
            return -1;
        *value = *value * 10 + (**p - '0');
    }
    return 0;
}

int nd_time_parse (const char *text, int64_t *ms)
{
    if (!text)
        return -1;
    const char *p = text;
    int y, mo, d, h = 0, mi = 0, s = 0, frac = 0;
    if (s_digits (&p, 4, &y) || *p++ != '-' || s_digits (&p, 2, &mo)
    ||  *p++ != '-' || s_digits (&p, 2, &d))
        return -1;
    if (*p == 'T' || *p == 't' || *p == ' ') {
        p++;
        if (s_digits (&p, 2, &h) || *p++ != ':' || s_digits (&p, 2, &mi))
            return -1;
        if (*p == ':') {
            p++;
            if (s_digits (&p, 2, &s))
                return -1;
            if (*p == '.' || *p == ',') {
                p++;
                int scale = 100, count = 0;
                while (isdigit ((unsigned char) *p)) {
                    frac += (*p - '0') * scale;
                    scale /= 10;
                    p++;
                    count++;
                }
                if (count == 0)
                    return -1;
            }
        }
    }
    int offset = 0;
    if (*p == 'Z' || *p == 'z')
        p++;
    else
    if (*p == '+' || *p == '-') {
        int sign = *p++ == '-' ? -1 : 1, oh, om = 0;
        if (s_digits (&p, 2, &oh))
            return -1;
        if (*p == ':')
            p++;
        if (*p && s_digits (&p, 2, &om))
            return -1;
        if (oh > 23 || om > 59)
            return -1;
        offset = sign * (oh * 60 + om);
    }
    static const int month_days [] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (*p || mo < 1 || mo > 12 || d < 1 || d > month_days [mo - 1]
    ||  (mo == 2 && d == 29 && !leap) || h > 23 || mi > 59 || s > 60)
        return -1;              //  2026-02-30 is no day

    int64_t days = s_days_from_civil (y, mo, d);
    *ms = ((days * 24 + h) * 60 + mi - offset) * 60000 + (int64_t) s * 1000 + frac;
    return 0;
}

//  The C library's way, for the years nd_time_format does not write by
//  hand (and to check it against, in the self-test).
static const char *s_format_gmtime (int64_t ms, char *buf)
{
    time_t secs = (time_t) (ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
    int millis = (int) (ms - (int64_t) secs * 1000);
    struct tm tm;
    gmtime_r (&secs, &tm);
    char text [96];
    snprintf (text, sizeof text, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
              tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
              tm.tm_hour, tm.tm_min, tm.tm_sec, millis);
    snprintf (buf, 32, "%.31s", text);
    return buf;
}

//  y-m-d of a day count from 1970-01-01: days_from_civil inverted
//  (Howard Hinnant's civil_from_days).
static void s_civil_from_days (int64_t days, int64_t *y, int *m, int *d)
{
    days += 719468;
    int64_t era = (days >= 0 ? days : days - 146096) / 146097;
    int64_t doe = days - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (int) (doy - (153 * mp + 2) / 5 + 1);
    *m = (int) (mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

static char *s_put_digits (char *p, int64_t value, int count)
{
    for (int i = count - 1; i >= 0; i--, value /= 10)
        p [i] = (char) ('0' + value % 10);
    return p + count;
}

//  Every stage stamps several times per message: the digits are written
//  by hand (snprintf and gmtime_r's lock were 4 % of the segmenter's
//  CPU). Years past 9999 or before 0 take the slow road, as before.
const char *nd_time_format (int64_t ms, char *buf)
{
    int64_t days = ms / 86400000 - (ms % 86400000 < 0);
    int64_t in_day = ms - days * 86400000, y;
    int m, d;
    s_civil_from_days (days, &y, &m, &d);
    if (y >= 0 && y <= 9999) {
        char *p = s_put_digits (buf, y, 4);
        *p++ = '-';
        p = s_put_digits (p, m, 2);
        *p++ = '-';
        p = s_put_digits (p, d, 2);
        *p++ = 'T';
        p = s_put_digits (p, in_day / 3600000, 2);
        *p++ = ':';
        p = s_put_digits (p, in_day / 60000 % 60, 2);
        *p++ = ':';
        p = s_put_digits (p, in_day / 1000 % 60, 2);
        *p++ = '.';
        p = s_put_digits (p, in_day % 1000, 3);
        memcpy (p, "Z", 2);
        return buf;
    }
    return s_format_gmtime (ms, buf);
}

//  A number followed by an optional unit from the table, scaled, below
//  max (a value cast that does not fit is undefined; NaN is not below
//  anything); returns 0 / -1.
static int s_scaled (const char *text, const char *const units [],
                     const double scales [], double max, double *out)
{
    if (!text || !*text)
        return -1;
    char *end;
    double value = strtod (text, &end);
    if (end == text || value < 0)
        return -1;
    while (*end == ' ')
        end++;
    for (int i = 0; units [i]; i++)
        if (strcmp (end, units [i]) == 0) {
            *out = value * scales [i];
            return *out < max ? 0 : -1;
        }
    return -1;
}

int nd_duration_parse (const char *text, int64_t *ms)
{
    static const char *const units [] = { "", "ms", "s", "m", "min", "h", "d", "w", NULL };
    static const double scales [] = { 1000, 1, 1000, 60000, 60000, 3600000, 86400000, 604800000 };
    double value;
    if (s_scaled (text, units, scales, 9223372036854775808.0, &value))   //  2^63
        return -1;
    *ms = (int64_t) value;
    return 0;
}

int nd_size_parse (const char *text, uint64_t *bytes)
{
    static const char *const units [] = { "", "k", "K", "KB", "M", "MB", "G", "GB", "T", NULL };
    static const double scales [] = { 1, 1024, 1024, 1024, 1048576, 1048576,
                                      1073741824.0, 1073741824.0, 1099511627776.0 };
    double value;
    if (s_scaled (text, units, scales, 18446744073709551616.0, &value))  //  2^64
        return -1;
    *bytes = (uint64_t) value;
    return 0;
}

void nd_time_test (bool verbose)
{
    if (verbose)
        printf (" * nd_time: ");
    int64_t ms;
    char buf [32];
    assert (nd_time_parse ("1970-01-01T00:00:00Z", &ms) == 0 && ms == 0);
    assert (nd_time_parse ("2026-11-23T19:20:01.123Z", &ms) == 0);
    assert (strcmp (nd_time_format (ms, buf), "2026-11-23T19:20:01.123Z") == 0);
    assert (nd_time_parse ("2026-11-23T21:20:01.123+02:00", &ms) == 0);
    assert (strcmp (nd_time_format (ms, buf), "2026-11-23T19:20:01.123Z") == 0);
    assert (nd_time_parse ("2024-02-29", &ms) == 0);
    assert (strcmp (nd_time_format (ms, buf), "2024-02-29T00:00:00.000Z") == 0);
    //  The digits written by hand are the C library's, over four
    //  centuries either side of the epoch and across the years' ends
    char slow [32];
    for (int64_t t = -12622780800000LL; t < 12622780800000LL; t += 86399999LL * 7 + 1234) {
        assert (strcmp (nd_time_format (t, buf), s_format_gmtime (t, slow)) == 0);
        assert (strcmp (nd_time_format (t - 1, buf), s_format_gmtime (t - 1, slow)) == 0);
    }
    assert (nd_time_parse ("9999-12-31T23:59:59.999Z", &ms) == 0);
    assert (strcmp (nd_time_format (ms, buf), "9999-12-31T23:59:59.999Z") == 0);
    assert (strcmp (nd_time_format (ms + 1, buf), s_format_gmtime (ms + 1, slow)) == 0);
    assert (strcmp (nd_time_format (-62167219200001LL, buf),
                    s_format_gmtime (-62167219200001LL, slow)) == 0);   //  year -1
    assert (nd_time_parse ("2026-11-23T19:20:01.5Z", &ms) == 0 && ms % 1000 == 500);
    assert (nd_time_parse ("yesterday", &ms) == -1);
    assert (nd_time_parse ("2026-13-01T00:00:00Z", &ms) == -1);
    assert (nd_time_parse ("2026-02-30", &ms) == -1);
    assert (nd_time_parse ("2026-02-29", &ms) == -1);
    assert (nd_time_parse ("2000-02-29", &ms) == 0);
    assert (nd_time_parse ("1900-02-29", &ms) == -1);
    assert (nd_time_parse ("2026-04-31T00:00:00Z", &ms) == -1);
    assert (nd_time_parse ("2026-11-23T19:20:01+24:00", &ms) == -1);
    assert (nd_time_parse ("2026-11-23T19:20:01+05:60", &ms) == -1);
    assert (nd_time_parse ("2026-11-23T19:20:01+23:59", &ms) == 0);
    assert (nd_time_parse ("2026-11-23T19:20:01Zjunk", &ms) == -1);
    assert (nd_duration_parse ("30m", &ms) == 0 && ms == 1800000);
    assert (nd_duration_parse ("250ms", &ms) == 0 && ms == 250);
    assert (nd_duration_parse ("90", &ms) == 0 && ms == 90000);
    assert (nd_duration_parse ("7d", &ms) == 0 && ms == 604800000);
    assert (nd_duration_parse ("soon", &ms) == -1);
    //  Found by fuzz_journey: what does not fit was cast anyway (UB)
    assert (nd_duration_parse ("4e60d", &ms) == -1);
    assert (nd_duration_parse ("nan", &ms) == -1 && nd_duration_parse ("inf", &ms) == -1);
    assert (nd_duration_parse ("106751991168d", &ms) == -1);
    assert (nd_duration_parse ("106751991d", &ms) == 0 && ms == 106751991LL * 86400000);
    uint64_t bytes;
    assert (nd_size_parse ("4G", &bytes) == 0 && bytes == 4294967296ULL);
    assert (nd_size_parse ("32768", &bytes) == 0 && bytes == 32768);
    assert (nd_size_parse ("lots", &bytes) == -1);
    assert (nd_size_parse ("1e30G", &bytes) == -1 && nd_size_parse ("nan", &bytes) == -1);
    if (verbose)
        printf ("OK\n");
}
