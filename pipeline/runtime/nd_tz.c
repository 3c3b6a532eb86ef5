/*  nd_tz - UTC offsets of IANA time zones, read from the system's TZif
    files (RFC 8536) by this small reader.

    Why not localtime_r with TZ set per person: TZ is process-global
    state, setenv is not thread-safe, and glibc re-reads the zone file
    each time TZ changes, so a scheduler handling people in 300 zones
    would spend its time in tzset. Here each zone is parsed once into a
    table (transitions, then the file's POSIX TZ rule for times after the
    last transition), cached in the nd_tz_t the stage owns, and looked up
    by binary search: no global state, safe from any thread that owns its
    nd_tz_t, and the same answers as glibc (nd_tz_test compares them).   */
#define _DEFAULT_SOURCE
#include <assert.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <czmq.h>
#include "nd_tz.h"

#define TZIF_MAX 1048576
#define TZ_UNKNOWN_MAX 1024     /* names cached as "no such zone" */

typedef struct {
    char kind;                  //  'M' month.week.day, 'J' Julian 1-365, 'N' 0-365
    int month, week, day;
    int32_t time;               //  seconds after local midnight
} s_when_t;

typedef struct {
    int32_t std, dst;           //  seconds east of UTC
    bool has_dst;
    s_when_t start, end;
} s_rule_t;

typedef struct {
    bool valid;
    int64_t *times;
    uint8_t *index;
    size_t count;
    int32_t *offsets;
    size_t types;
    bool has_rule;
    s_rule_t rule;
} s_zone_t;

struct _nd_tz_t {
    char *dir;
    zhash_t *zones;
    size_t unknown;             //  names cached as not a zone
};

/* ------------------------------------------------------ POSIX TZ rule -- */

static const char *s_name (const char *p)
{
    if (*p == '<') {
        p = strchr (p, '>');
        return p ? p + 1 : NULL;
    }
    const char *start = p;
    while (isalpha ((unsigned char) *p))
        p++;
    return p - start >= 3 ? p : NULL;
}

//  [+-]hh[:mm[:ss]] into seconds.
static const char *s_hms (const char *p, int32_t *seconds)
{
    int sign = 1;
    if (*p == '+' || *p == '-')
        sign = *p++ == '-' ? -1 : 1;
    if (!isdigit ((unsigned char) *p))
        return NULL;
    int32_t value = 0;
    for (int part = 0; part < 3; part++) {
        int32_t number = 0;
        while (isdigit ((unsigned char) *p))
            number = number * 10 + (*p++ - '0');
        value += number * (part == 0 ? 3600 : part == 1 ? 60 : 1);
        if (*p != ':' || part == 2)
            break;
        p++;
    }
    *seconds = sign * value;
    return p;
}

static const char *s_when (const char *p, s_when_t *when)
{
    when->time = 7200;
    if (*p == 'M') {
        when->kind = 'M';
        if (sscanf (p + 1, "%d.%d.%d", &when->month, &when->week, &when->day) != 3)
            return NULL;
        p += 1 + strspn (p + 1, "0123456789.");
    }
    else {
        when->kind = *p == 'J' ? 'J' : 'N';
        p += *p == 'J';
        if (!isdigit ((unsigned char) *p))
            return NULL;
        when->day = atoi (p);
        p += strspn (p, "0123456789");
    }
    if (*p == '/')
        p = s_hms (p + 1, &when->time);
    return p;
}

//  "CET-1CEST,M3.5.0,M10.5.0/3": offsets are west of UTC in the text.
static int s_rule_parse (const char *p, s_rule_t *rule)
{
    int32_t west;
    if (!(p = s_name (p)) || !(p = s_hms (p, &west)))
        return -1;
    rule->std = rule->dst = -west;
    if (*p == 0)
        return 0;
    if (!(p = s_name (p)))
        return -1;
    rule->has_dst = true;
    rule->dst = rule->std + 3600;
    if (*p && *p != ',') {
        if (!(p = s_hms (p, &west)))
            return -1;
        rule->dst = -west;
    }
    if (*p == 0)
        p = ",M3.2.0,M11.1.0";          //  POSIX's default rule
    if (*p != ',' || !(p = s_when (p + 1, &rule->start)) || *p != ','
    ||  !(p = s_when (p + 1, &rule->end)))
        return -1;
    return *p ? -1 : 0;
}

//  The UTC second a rule's change happens in year; local_offset is the
//  offset in force just before it (the rule's time is local time).
static int64_t s_change (const s_when_t *when, int year, int32_t local_offset)
{
    struct tm tm = { .tm_year = year - 1900, .tm_mon = 0, .tm_mday = 1 };
    bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    int64_t day;
    if (when->kind == 'J')
        day = timegm (&tm) / 86400 + when->day - 1 + (leap && when->day >= 60);
    else
    if (when->kind == 'N')
        day = timegm (&tm) / 86400 + when->day;
    else {
        static const int lengths [] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
        tm.tm_mon = when->month - 1;
        time_t first = timegm (&tm);
        struct tm parts;
        gmtime_r (&first, &parts);
        int length = lengths [tm.tm_mon] + (tm.tm_mon == 1 && leap);
        day = (int64_t) first / 86400 + (when->day - parts.tm_wday + 7) % 7 + (when->week - 1) * 7;
        while (day >= (int64_t) first / 86400 + length)
            day -= 7;
    }
    return day * 86400 + when->time - local_offset;
}

static int32_t s_rule_offset (const s_rule_t *rule, int64_t t)
{
    if (!rule->has_dst)
        return rule->std;
    time_t local = (time_t) (t + rule->std);
    struct tm parts;
    gmtime_r (&local, &parts);
    int year = parts.tm_year + 1900;
    int64_t start = s_change (&rule->start, year, rule->std);
    int64_t end = s_change (&rule->end, year, rule->dst);
    bool dst = start < end ? t >= start && t < end : !(t >= end && t < start);
    return dst ? rule->dst : rule->std;
}

/* ------------------------------------------------------------ TZif -- */

static int64_t s_be (const uint8_t *p, int size)
{
    uint64_t value = 0;
    for (int i = 0; i < size; i++)
        value = (value << 8) | p [i];
    return size == 4 ? (int64_t) (int32_t) (uint32_t) value : (int64_t) value;
}

static void s_zone_free (void *item)
{
    s_zone_t *zone = (s_zone_t *) item;
    free (zone->times);
    free (zone->index);
    free (zone->offsets);
    free (zone);
}

//  One data block (v1 with 4-byte times or v2+ with 8-byte times) from
//  p; returns the size of the block, or 0 if the file is short.
static size_t s_block (s_zone_t *zone, const uint8_t *p, size_t size, int width)
{
    if (size < 44 || memcmp (p, "TZif", 4))
        return 0;
    int64_t isut = s_be (p + 20, 4), isstd = s_be (p + 24, 4), leap = s_be (p + 28, 4);
    int64_t count = s_be (p + 32, 4), types = s_be (p + 36, 4), chars = s_be (p + 40, 4);
    if (count < 0 || types < 1 || types > 256 || chars < 0 || leap < 0 || isut < 0 || isstd < 0)
        return 0;
    size_t need = 44 + (size_t) (count * width + count + types * 6 + chars
                               + leap * (width + 4) + isstd + isut);
    if (need > size)
        return 0;
    zone->count = (size_t) count;
    zone->types = (size_t) types;
    zone->times = (int64_t *) zmalloc ((zone->count + 1) * sizeof (int64_t));
    zone->index = (uint8_t *) zmalloc (zone->count + 1);
    zone->offsets = (int32_t *) zmalloc (zone->types * sizeof (int32_t));
    const uint8_t *q = p + 44;
    for (size_t i = 0; i < zone->count; i++, q += width)
        zone->times [i] = s_be (q, width);
    for (size_t i = 0; i < zone->count; i++, q++)
        zone->index [i] = *q < types ? *q : 0;
    for (size_t i = 0; i < zone->types; i++, q += 6)
        zone->offsets [i] = (int32_t) s_be (q, 4);
    return need;
}

static void s_zone_parse (s_zone_t *zone, const uint8_t *data, size_t size)
{
    size_t used = s_block (zone, data, size, 4);
    if (!used)
        return;
    if (data [4] >= '2') {
        free (zone->times);
        free (zone->index);
        free (zone->offsets);
        size_t more = s_block (zone, data + used, size - used, 8);
        if (!more) {
            zone->times = NULL, zone->index = NULL, zone->offsets = NULL;
            return;
        }
        const char *footer = (const char *) data + used + more;
        size_t rest = size - used - more;
        if (rest > 2 && footer [0] == '\n') {
            char *rule = strndup (footer + 1, rest - 1);
            rule [strcspn (rule, "\n")] = 0;
            zone->has_rule = *rule && s_rule_parse (rule, &zone->rule) == 0;
            free (rule);
        }
    }
    zone->valid = true;
}

static bool s_name_ok (const char *name)
{
    size_t length = strlen (name);
    return length > 0 && length < 64 && name [0] != '/' && !strstr (name, "..")
        && strspn (name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_+-/")
           == length;
}

static s_zone_t *s_zone (nd_tz_t *self, const char *name)
{
    s_zone_t *zone = (s_zone_t *) zhash_lookup (self->zones, name);
    if (zone)
        return zone->valid ? zone : NULL;
    if (!s_name_ok (name))
        return NULL;                //  costs nothing to refuse again
    zone = (s_zone_t *) zmalloc (sizeof *zone);
    {
        char *path = zsys_sprintf ("%s/%s", self->dir, name);
        FILE *file = fopen (path, "rb");
        uint8_t *data = (uint8_t *) malloc (TZIF_MAX);
        size_t size = file && data ? fread (data, 1, TZIF_MAX, file) : 0;
        s_zone_parse (zone, data, size);
        if (file)
            fclose (file);
        free (data);
        zstr_free (&path);
    }
    //  Zone names come from shoppers' profiles: remember a bounded number
    //  of unknown ones, so junk cannot grow the cache without end
    if (!zone->valid && self->unknown >= TZ_UNKNOWN_MAX) {
        s_zone_free (zone);
        return NULL;
    }
    self->unknown += !zone->valid;
    zhash_insert (self->zones, name, zone);
    zhash_freefn (self->zones, name, s_zone_free);
    return zone->valid ? zone : NULL;
}

/* ------------------------------------------------------------ class -- */

nd_tz_t *nd_tz_new (const char *zoneinfo_dir)
{
    nd_tz_t *self = (nd_tz_t *) zmalloc (sizeof *self);
    self->dir = strdup (zoneinfo_dir);
    self->zones = zhash_new ();
    return self;
}

void nd_tz_destroy (nd_tz_t **self_p)
{
    nd_tz_t *self = *self_p;
    if (self) {
        zhash_destroy (&self->zones);
        free (self->dir);
        free (self);
        *self_p = NULL;
    }
}

bool nd_tz_known (nd_tz_t *self, const char *name)
{
    return name && s_zone (self, name) != NULL;
}

int nd_tz_offset (nd_tz_t *self, const char *name, int64_t utc_ms, int32_t *offset)
{
    s_zone_t *zone = name ? s_zone (self, name) : NULL;
    if (!zone)
        return -1;
    int64_t t = utc_ms >= 0 ? utc_ms / 1000 : (utc_ms - 999) / 1000;
    if (zone->count == 0 || t < zone->times [0])
        *offset = zone->count == 0 && zone->has_rule ? s_rule_offset (&zone->rule, t)
                                                     : zone->offsets [0];
    else
    if (t >= zone->times [zone->count - 1] && zone->has_rule)
        *offset = s_rule_offset (&zone->rule, t);
    else {
        size_t low = 0, high = zone->count - 1;     //  last transition <= t
        while (low < high) {
            size_t middle = (low + high + 1) / 2;
            if (zone->times [middle] <= t)
                low = middle;
            else
                high = middle - 1;
        }
        *offset = zone->offsets [zone->index [low]];
    }
    return 0;
}

int64_t nd_tz_to_utc (nd_tz_t *self, const char *name, int64_t local_ms)
{
    int32_t first = 0, second = 0;
    if (nd_tz_offset (self, name, local_ms, &first))
        return local_ms;
    nd_tz_offset (self, name, local_ms - (int64_t) first * 1000, &second);
    return local_ms - (int64_t) second * 1000;
}

/* ------------------------------------------------------------ test -- */

//  Compares with glibc, which reads the same files: only here, where a
//  single-threaded test may set TZ.
static void s_compare_glibc (nd_tz_t *tz, const char *zone)
{
    char *saved = getenv ("TZ") ? strdup (getenv ("TZ")) : NULL;
    char value [80];
    snprintf (value, sizeof value, ":%s", zone);
    setenv ("TZ", value, 1);
    tzset ();
    uint64_t seed = 12345;
    for (int i = 0; i < 3000; i++) {
        seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
        //  1950 .. 2080: before, during and after the transition table
        int64_t t = -631152000LL + (int64_t) ((seed >> 16) % 4102444800ULL);
        time_t secs = (time_t) t;
        struct tm parts;
        localtime_r (&secs, &parts);
        int32_t offset;
        assert (nd_tz_offset (tz, zone, t * 1000, &offset) == 0);
        if (offset != parts.tm_gmtoff) {
            fprintf (stderr, "tz: %s at %lld: %d, glibc %ld\n", zone, (long long) t,
                     offset, parts.tm_gmtoff);
            assert (false);
        }
    }
    if (saved)
        setenv ("TZ", saved, 1);
    else
        unsetenv ("TZ");
    tzset ();
    free (saved);
}

void nd_tz_test (bool verbose)
{
    if (verbose)
        printf (" * nd_tz: ");
    nd_tz_t *tz = nd_tz_new ("/usr/share/zoneinfo");
    const char *zones [] = { "Europe/Warsaw", "America/New_York", "Asia/Tokyo",
        "Australia/Sydney", "Pacific/Chatham", "Asia/Kolkata", "America/Sao_Paulo",
        "Europe/Dublin", "Africa/Casablanca", "UTC", NULL };
    for (int i = 0; zones [i]; i++)
        s_compare_glibc (tz, zones [i]);
    assert (!nd_tz_known (tz, "Mars/Olympus_Mons"));
    assert (!nd_tz_known (tz, "../../etc/passwd"));
    assert (nd_tz_known (tz, "Europe/Warsaw"));
    //  Junk names from profiles are remembered up to a bound, no further
    for (int i = 0; i < 3 * TZ_UNKNOWN_MAX; i++) {
        char name [32];
        snprintf (name, sizeof name, "Nowhere/Place_%d", i);
        assert (!nd_tz_known (tz, name));
    }
    assert (tz->unknown == TZ_UNKNOWN_MAX);
    assert (zhash_size (tz->zones) <= TZ_UNKNOWN_MAX + 16);
    assert (nd_tz_known (tz, "Asia/Tokyo") && !nd_tz_known (tz, "Nowhere/Place_5000"));
    //  2026-07-01 12:00 in Warsaw (CEST, +2) is 10:00 UTC
    int64_t local = 1782907200000LL;
    assert (nd_tz_to_utc (tz, "Europe/Warsaw", local) == local - 7200000);
    s_rule_t rule = { 0 };
    assert (s_rule_parse ("<+0545>-5:45", &rule) == 0 && rule.std == 20700 && !rule.has_dst);
    assert (s_rule_parse ("EST5EDT", &rule) == 0 && rule.has_dst && rule.start.month == 3);
    assert (s_rule_parse ("X", &rule) == -1);
    nd_tz_destroy (&tz);
    nd_tz_destroy (&tz);
    if (verbose)
        printf ("OK\n");
}
