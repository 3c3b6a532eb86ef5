/*  nd_formats.h - ICU's formatters for money and dates, opened once and
    kept: what nd_templates_context and nd_templates_dates write prices
    and times with.

    Opening one costs ICU far more than using it (udat_open reads the
    locale's patterns and the zone's rules; a number formatter builds its
    pipeline anew on each of its first uses and keeps it only from the
    third), and a stage that makes send orders asks for the same few
    locales, zones and currencies again and again: as many opens as
    prices and dates were a sixth of the scheduler's time (perf, issue
    15). So an nd_formats_t keeps each formatter it opens, keyed by what
    it was opened for, at most ND_FORMATS_MAX of them; past that the one
    used longest ago is closed.

    ICU's formatters must not be shared between threads, so neither may
    an nd_formats_t: one per thread, for as long as it likes.

        nd_formats_t *formats = nd_formats_new ();
        char text [128];
        if (nd_formats_money (formats, "pl", "PLN", 12, text, sizeof text) == 0)
            ...                         //  "12,00 zł"
        nd_formats_destroy (&formats);                                    */
#ifndef ND_FORMATS_H_INCLUDED
#define ND_FORMATS_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ND_FORMATS_MAX 128

typedef struct _nd_formats_t nd_formats_t;
nd_formats_t *nd_formats_new (void);
void nd_formats_destroy (nd_formats_t **self_p);

/*  amount in currency (ISO 4217, "EUR") as people of locale (a BCP 47
    tag; NULL or "": en) read it, by ICU's rules for both: "12,00 zł" (pl,
    PLN), "￥1,200" (ja, JPY), "$12.00". Writes UTF-8 to text and returns
    0, or -1 when ICU has no text for it (the caller writes its own).    */
int nd_formats_money (nd_formats_t *self, const char *locale, const char *currency,
                      double amount, char *text, size_t size);

/*  The time ms (since the epoch) as people of locale read it in timezone
    (an IANA name; NULL, "" or a name of 80 bytes or more: UTC): the date
    long, and with_time the time short ("March 5, 2026 at 1:06 PM"; "March
    5, 2026" without). Writes UTF-8 to text and returns 0, or -1.        */
int nd_formats_date (nd_formats_t *self, const char *locale, const char *timezone,
                     bool with_time, int64_t ms, char *text, size_t size);

/*  How many formatters self holds open.                                 */
size_t nd_formats_size (nd_formats_t *self);

void nd_formats_test (bool verbose);

#endif
