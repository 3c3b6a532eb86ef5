/*  nd_formats - ICU's formatters for money and dates, kept; see
    nd_formats.h.

    One table of open formatters keyed by what each was opened for:
    "m|<locale>|<currency>" a UNumberFormat with that currency set on it,
    "d|<locale>|<zone>|<t or d>" a UDateFormat. A key ICU could not open
    keeps NULL, so a bad locale or zone is asked of ICU once, not per
    price. The currency is set on the formatter when it opens, never
    changed: unum_formatDoubleCurrency clones the whole formatter for a
    currency not its own, and changing it drops what the formatter has
    built for itself.                                                    */
#include <czmq.h>
#include "nd.h"
#include "nd_formats.h"
#include <unicode/uloc.h>
#include <unicode/udat.h>
#include <unicode/unum.h>
#include <unicode/ustring.h>

typedef struct {
    bool date;                  //  a UDateFormat, else a UNumberFormat
    void *format;               //  NULL: ICU could not open it
    uint64_t used;              //  self->uses when last asked for
} s_entry_t;

struct _nd_formats_t {
    zhashx_t *entries;          //  key -> s_entry_t
    uint64_t uses;              //  lookups so far: the entries' clock
};

static void s_entry_destroy (void **item_p)
{
    s_entry_t *entry = (s_entry_t *) *item_p;
    if (entry) {
        if (entry->date)
            udat_close ((UDateFormat *) entry->format);
        else
            unum_close ((UNumberFormat *) entry->format);
        free (entry);
        *item_p = NULL;
    }
}

nd_formats_t *nd_formats_new (void)
{
    nd_formats_t *self = (nd_formats_t *) zmalloc (sizeof *self);
    self->entries = zhashx_new ();
    zhashx_set_destructor (self->entries, s_entry_destroy);
    return self;
}

void nd_formats_destroy (nd_formats_t **self_p)
{
    nd_formats_t *self = *self_p;
    if (self) {
        zhashx_destroy (&self->entries);
        free (self);
        *self_p = NULL;
    }
}

size_t nd_formats_size (nd_formats_t *self)
{
    return zhashx_size (self->entries);
}

//  Makes room for one more: closes the formatter used longest ago.
static void s_evict (nd_formats_t *self)
{
    const char *oldest = NULL;
    uint64_t when = UINT64_MAX;
    for (s_entry_t *entry = (s_entry_t *) zhashx_first (self->entries); entry;
         entry = (s_entry_t *) zhashx_next (self->entries))
        if (entry->used < when) {
            when = entry->used;
            oldest = (const char *) zhashx_cursor (self->entries);
        }
    if (oldest)
        zhashx_delete (self->entries, oldest);
}

//  ICU's locale id for a BCP 47 tag ("pt-BR" -> "pt_BR"); -1 if none.
static int s_locale_id (const char *locale, char *id, size_t size)
{
    UErrorCode status = U_ZERO_ERROR;
    uloc_forLanguageTag (locale, id, (int32_t) size, NULL, &status);
    return U_SUCCESS (status) ? 0 : -1;
}

static void *s_open_money (const char *locale, const char *currency)
{
    char id [ULOC_FULLNAME_CAPACITY];
    if (s_locale_id (locale, id, sizeof id))
        return NULL;
    UErrorCode status = U_ZERO_ERROR;
    UNumberFormat *format = unum_open (UNUM_CURRENCY, NULL, 0, id, NULL, &status);
    UChar code [4];
    u_charsToUChars (currency, code, 4);
    if (U_SUCCESS (status))
        unum_setTextAttribute (format, UNUM_CURRENCY_CODE, code, 3, &status);
    if (U_FAILURE (status)) {
        unum_close (format);
        format = NULL;
    }
    return format;
}

static void *s_open_date (const char *locale, const char *zone, bool with_time)
{
    char id [ULOC_FULLNAME_CAPACITY];
    if (s_locale_id (locale, id, sizeof id))
        return NULL;
    UChar name [80];
    u_uastrcpy (name, zone);
    UErrorCode status = U_ZERO_ERROR;
    UDateFormat *format = udat_open (with_time ? UDAT_SHORT : UDAT_NONE, UDAT_LONG, id, name,
                                     -1, NULL, 0, &status);
    if (U_FAILURE (status)) {
        udat_close (format);
        format = NULL;
    }
    return format;
}

//  The formatter for key, opened on first use; NULL when ICU has none.
static void *s_format (nd_formats_t *self, const char *key, const char *locale,
                       const char *detail, bool date, bool with_time)
{
    s_entry_t *entry = (s_entry_t *) zhashx_lookup (self->entries, key);
    if (!entry) {
        if (zhashx_size (self->entries) >= ND_FORMATS_MAX)
            s_evict (self);
        entry = (s_entry_t *) zmalloc (sizeof *entry);
        entry->date = date;
        entry->format = date ? s_open_date (locale, detail, with_time)
                             : s_open_money (locale, detail);
        zhashx_insert (self->entries, key, entry);
    }
    entry->used = ++self->uses;
    return entry->format;
}

//  ICU's UTF-16 text as UTF-8 in text, whole: 0, or -1.
static int s_utf8 (const UChar *shown, int32_t length, UErrorCode status,
                   char *text, size_t size)
{
    int32_t written = 0;
    u_strToUTF8 (text, (int32_t) size, &written, shown, length, &status);
    return U_SUCCESS (status) && (size_t) written < size ? 0 : -1;
}

int nd_formats_money (nd_formats_t *self, const char *locale, const char *currency,
                      double amount, char *text, size_t size)
{
    if (!currency || strlen (currency) != 3)
        return -1;
    locale = locale && *locale ? locale : "en";
    char *key = zsys_sprintf ("m|%s|%s", locale, currency);
    UNumberFormat *format = (UNumberFormat *) s_format (self, key, locale, currency, false, false);
    zstr_free (&key);
    if (!format)
        return -1;
    UErrorCode status = U_ZERO_ERROR;
    UChar shown [64];
    int32_t length = unum_formatDouble (format, amount, shown, 64, NULL, &status);
    return s_utf8 (shown, length, status, text, size);
}

int nd_formats_date (nd_formats_t *self, const char *locale, const char *timezone,
                     bool with_time, int64_t ms, char *text, size_t size)
{
    locale = locale && *locale ? locale : "en";
    const char *zone = timezone && *timezone && strlen (timezone) < 80 ? timezone : "UTC";
    char *key = zsys_sprintf ("d|%s|%s|%c", locale, zone, with_time ? 't' : 'd');
    UDateFormat *format = (UDateFormat *) s_format (self, key, locale, zone, true, with_time);
    zstr_free (&key);
    if (!format)
        return -1;
    UErrorCode status = U_ZERO_ERROR;
    UChar shown [160];
    int32_t length = udat_format (format, (UDate) ms, shown, 160, NULL, &status);
    return s_utf8 (shown, length, status, text, size);
}

/* ----------------------------------------------------------- self-test -- */

void nd_formats_test (bool verbose)
{
    if (verbose)
        printf (" * nd_formats: ");
    nd_formats_t *formats = nd_formats_new ();
    char text [480];
    //  Each (locale, currency) its own formatter, kept: asked again, the
    //  same text from the same one
    for (int round = 0; round < 2; round++) {
        assert (nd_formats_money (formats, "pl", "PLN", 12, text, sizeof text) == 0
                && streq (text, "12,00\u00A0zł"));
        assert (nd_formats_money (formats, "pl", "EUR", 12, text, sizeof text) == 0
                && streq (text, "12,00\u00A0€"));
        assert (nd_formats_money (formats, NULL, "JPY", 1200, text, sizeof text) == 0
                && streq (text, "¥1,200"));
        assert (nd_formats_size (formats) == 3);
    }
    //  Not a currency code: no text, and nothing opened for it
    assert (nd_formats_money (formats, "en", "EURO", 1, text, sizeof text) == -1);
    assert (nd_formats_money (formats, "en", NULL, 1, text, sizeof text) == -1);
    assert (nd_formats_size (formats) == 3);
    //  Dates in the zone asked for: 2026-03-05T12:06Z is 13:06 in Warsaw
    int64_t ms = 1772712360000;
    assert (nd_formats_date (formats, "pl", "Europe/Warsaw", true, ms, text, sizeof text) == 0
            && strstr (text, "5 marca 2026") && strstr (text, "13:06"));
    assert (nd_formats_date (formats, "en", NULL, false, ms, text, sizeof text) == 0
            && streq (text, "March 5, 2026"));
    //  A text that does not fit is refused, not cut
    assert (nd_formats_date (formats, "en", NULL, false, ms, text, 5) == -1);
    assert (nd_formats_size (formats) == 5);
    //  Bounded: past ND_FORMATS_MAX the one used longest ago is closed,
    //  and opened again when asked for
    for (int minute = 0; minute < ND_FORMATS_MAX + 10; minute++) {
        char zone [16];
        snprintf (zone, sizeof zone, "Etc/GMT%+d", minute % 25 - 12);
        const char *locales [] = { "en", "de", "fr", "ja", "pl", "es" };
        assert (nd_formats_date (formats, locales [minute / 25], zone, minute % 2, ms, text,
                                 sizeof text) == 0);
        assert (nd_formats_money (formats, "pl", "PLN", 12, text, sizeof text) == 0);
        assert (nd_formats_size (formats) <= ND_FORMATS_MAX);
    }
    assert (nd_formats_size (formats) == ND_FORMATS_MAX);
    assert (nd_formats_money (formats, NULL, "JPY", 1200, text, sizeof text) == 0
            && streq (text, "¥1,200"));
    nd_formats_destroy (&formats);
    nd_formats_destroy (&formats);
    if (verbose)
        printf ("OK\n");
}
