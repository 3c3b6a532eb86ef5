/*  nd_phone.h - phone numbers as people write them, made E.164.

    A checkout form gives "600 100 200", a CRM "0048 600-100-200", an app
    "+48600100200": each is the same phone, and only the last one reaches
    it through an SMS or WhatsApp provider. The sessionizer turns every
    number into E.164 where it enters nudge, with the shop's default
    region for numbers written without a country code, so nothing
    downstream guesses; nd_phone_e164 (nd_codec.h) stays the one check of
    the written form that every later stage asks.

    Google's libphonenumber does the work (the Debian package, C++):
    dialling prefixes, trunk zeros and each country's number plan are
    data it keeps up to date, rules nudge would only get wrong by hand.
    This C interface is all the runtime sees of it (nd_phone.cc).

        char e164 [ND_PHONE_MAX];
        const char *reason = nd_phone_normalise ("600 100 200", "PL", e164, sizeof e164);
        if (reason)
            nd_log ("phone ending %s: %s", tail, reason);                */
#ifndef ND_PHONE_H_INCLUDED
#define ND_PHONE_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/*  Room for an E.164 number: "+", 15 digits, the NUL.                   */
#define ND_PHONE_MAX 17

/*  Writes text as E.164 into out and returns NULL; or returns why it is
    not a number that can be reached ("not a phone number", "too short",
    "no country code and no default region", "not a number in use", ...),
    a constant that never holds the number, and out is "". region is an
    ISO 3166 alpha-2 code (nd_phone_region) for numbers written without
    a country code, or NULL for none.                                    */
const char *nd_phone_normalise (const char *text, const char *region, char *out,
                                size_t out_size);

/*  True if region is an ISO 3166 alpha-2 code libphonenumber has a
    number plan for ("PL", "DE"; upper case, as the standard writes it). */
bool nd_phone_region (const char *region);

/*  What a log line may say of a number: its last two digits ("00"), or
    "" when it has fewer than four. out holds at least 3 bytes.          */
void nd_phone_tail (const char *text, char *out, size_t out_size);

void nd_phone_test (bool verbose);

#ifdef __cplusplus
}
#endif

#endif
