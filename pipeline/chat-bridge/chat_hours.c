/*  chat_hours - when the shop's people answer chats.

        hours = "mon-fri 09:00-18:00, sat 10:00-14:00"
        timezone = Europe/Warsaw

    Days are mon tue wed thu fri sat sun, a range of them ("mon-fri",
    "sat-mon") or "daily"; times are the shop's local wall clock, an
    interval that ends at or before it starts runs past midnight.
    "always" and "never" say what they mean. Zone offsets come from the
    runtime's TZif reader (nd_tz), so every stage agrees on every zone. */
#include <assert.h>
#include "nd_tz.h"
#include "chat.h"

#define s_DAY_MS (86400 * 1000LL)
#define s_SPANS_MAX 14

typedef struct {
    uint8_t days;               //  bit 0 Monday .. bit 6 Sunday
    int start, end;             //  minutes after local midnight
} s_span_t;

struct _chat_hours_t {
    nd_tz_t *tz;
    char *zone;
    bool always;
    s_span_t spans [s_SPANS_MAX];
    size_t count;
};

static const char *s_days [] = { "mon", "tue", "wed", "thu", "fri", "sat", "sun" };

static int s_day (const char *text)
{
    for (int i = 0; i < 7; i++)
        if (strncmp (text, s_days [i], 3) == 0)
            return i;
    return -1;
}

//  "mon-fri 09:00-18:00"
static int s_span (const char *text, s_span_t *span)
{
    char days [16];
    int sh, sm, eh, em, used = 0;
    if (sscanf (text, " %15[a-z-] %d:%d-%d:%d %n", days, &sh, &sm, &eh, &em, &used) != 5
    ||  text [used] || sh < 0 || sh > 24 || eh < 0 || eh > 24 || sm < 0 || sm > 59
    ||  em < 0 || em > 59)
        return -1;
    span->start = sh * 60 + sm;
    span->end = eh * 60 + em;
    if (streq (days, "daily")) {
        span->days = 0x7f;
        return 0;
    }
    int first = s_day (days), last = first;
    if (strlen (days) == 7 && days [3] == '-')
        last = s_day (days + 4);
    else
    if (strlen (days) != 3)
        return -1;
    if (first < 0 || last < 0)
        return -1;
    span->days = 0;
    for (int d = first; ; d = (d + 1) % 7) {
        span->days |= (uint8_t) (1 << d);
        if (d == last)
            break;
    }
    return 0;
}

chat_hours_t *chat_hours_new (const char *spec, const char *zone, char *reason, size_t size)
{
    chat_hours_t *self = (chat_hours_t *) zmalloc (sizeof *self);
    self->tz = nd_tz_new ("/usr/share/zoneinfo");
    self->zone = strdup (zone ? zone : "UTC");
    if (!nd_tz_known (self->tz, self->zone)) {
        snprintf (reason, size, "\"%s\" is not a zone in /usr/share/zoneinfo", self->zone);
        chat_hours_destroy (&self);
        return NULL;
    }
    if (streq (spec, "always")) {
        self->always = true;
        return self;
    }
    if (streq (spec, "never"))
        return self;
    char *copy = strdup (spec), *save = NULL;
    for (char *part = strtok_r (copy, ",;", &save); part && self; part = strtok_r (NULL, ",;", &save)) {
        if (self->count == s_SPANS_MAX || s_span (part, &self->spans [self->count++])) {
            snprintf (reason, size, "\"%s\" is not like \"mon-fri 09:00-18:00\"", part);
            chat_hours_destroy (&self);
        }
    }
    free (copy);
    if (self && self->count == 0) {
        snprintf (reason, size, "want \"always\", \"never\" or \"mon-fri 09:00-18:00, ...\"");
        chat_hours_destroy (&self);
    }
    return self;
}

void chat_hours_destroy (chat_hours_t **self_p)
{
    chat_hours_t *self = *self_p;
    if (self) {
        nd_tz_destroy (&self->tz);
        free (self->zone);
        free (self);
        *self_p = NULL;
    }
}

bool chat_hours_open (chat_hours_t *self, int64_t utc_ms)
{
    if (self->always)
        return true;
    int32_t offset = 0;
    if (nd_tz_offset (self->tz, self->zone, utc_ms, &offset))
        return false;
    int64_t local = utc_ms + (int64_t) offset * 1000;
    int64_t day = local >= 0 ? local / s_DAY_MS : (local - s_DAY_MS + 1) / s_DAY_MS;
    int minute = (int) ((local - day * s_DAY_MS) / 60000);
    int weekday = (int) (((day + 3) % 7 + 7) % 7);        //  1970-01-01 was a Thursday
    int yesterday = (weekday + 6) % 7;
    for (size_t i = 0; i < self->count; i++) {
        const s_span_t *span = &self->spans [i];
        if (span->start < span->end) {
            if ((span->days & (1 << weekday)) && minute >= span->start && minute < span->end)
                return true;
        }
        else
        if (((span->days & (1 << weekday)) && minute >= span->start)
        ||  ((span->days & (1 << yesterday)) && minute < span->end))
            return true;
    }
    return false;
}

void chat_hours_test (bool verbose)
{
    if (verbose)
        printf (" * chat_hours: ");
    char reason [200];
    assert (!chat_hours_new ("mon-fri 9-18", "UTC", reason, sizeof reason));
    assert (!chat_hours_new ("always", "Mars/Olympus", reason, sizeof reason));
    assert (!chat_hours_new ("", "UTC", reason, sizeof reason));
    chat_hours_t *hours = chat_hours_new ("mon-fri 09:00-18:00, sat 10:00-14:00",
                                          "Europe/Warsaw", reason, sizeof reason);
    assert (hours);
    int64_t monday_noon = 1772452800000LL;          //  2026-03-02T12:00:00Z, 13:00 in Warsaw
    assert (chat_hours_open (hours, monday_noon));
    assert (!chat_hours_open (hours, monday_noon + 6 * 3600 * 1000LL));    //  19:00 there
    assert (!chat_hours_open (hours, monday_noon - 4 * 3600 * 1000LL - 60000));    //  08:59
    assert (chat_hours_open (hours, monday_noon - 4 * 3600 * 1000LL));              //  09:00
    assert (chat_hours_open (hours, monday_noon + 5 * s_DAY_MS - 2 * 3600 * 1000LL));  //  Sat 11:00
    assert (!chat_hours_open (hours, monday_noon + 6 * s_DAY_MS));                     //  Sunday
    chat_hours_destroy (&hours);
    chat_hours_destroy (&hours);
    hours = chat_hours_new ("daily 22:00-02:00", "UTC", reason, sizeof reason);
    assert (chat_hours_open (hours, monday_noon + 11 * 3600 * 1000LL));    //  23:00
    assert (chat_hours_open (hours, monday_noon + 13 * 3600 * 1000LL));    //  01:00
    assert (!chat_hours_open (hours, monday_noon));
    chat_hours_destroy (&hours);
    if (verbose)
        printf ("OK\n");
}
