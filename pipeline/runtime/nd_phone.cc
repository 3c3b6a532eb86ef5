/*  nd_phone - phone numbers made E.164 through libphonenumber; see
    nd_phone.h.

    The only C++ in nudge: a shim, so the stages stay C. No exception
    leaves it (libphonenumber reports through return values; an allocation
    failure in std::string is the one that could, and ends the process as
    a failed malloc would elsewhere). libphonenumber's own logger stays
    the silent one: its messages can quote the number.                   */
#include <assert.h>
#include <stdio.h>
#include <string.h>
#include <string>
#include <phonenumbers/logger.h>
#include <phonenumbers/phonenumberutil.h>
extern "C" {
#include "nd_codec.h"
}
#include "nd_phone.h"

using i18n::phonenumbers::PhoneNumber;
using i18n::phonenumbers::PhoneNumberUtil;

//  Longer than any number written with spaces and an extension; what is
//  longer is not a phone number (and libphonenumber stops at 250).
#define TEXT_MAX 64

static const char *s_parse_error (PhoneNumberUtil::ErrorType error)
{
    switch (error) {
        case PhoneNumberUtil::INVALID_COUNTRY_CODE_ERROR:
            return "no country code and no default region, or an unknown one";
        case PhoneNumberUtil::TOO_SHORT_AFTER_IDD:
        case PhoneNumberUtil::TOO_SHORT_NSN:
            return "too short";
        case PhoneNumberUtil::TOO_LONG_NSN:
            return "too long";
        default:
            return "not a phone number";
    }
}

static const char *s_impossible (PhoneNumberUtil::ValidationResult result)
{
    switch (result) {
        case PhoneNumberUtil::IS_POSSIBLE:
            return NULL;
        case PhoneNumberUtil::IS_POSSIBLE_LOCAL_ONLY:
            return "a local number without its area code";
        case PhoneNumberUtil::INVALID_COUNTRY_CODE:
            return "unknown country code";
        case PhoneNumberUtil::TOO_SHORT:
            return "too short";
        case PhoneNumberUtil::TOO_LONG:
            return "too long";
        default:
            return "the wrong length for its country";
    }
}

const char *nd_phone_normalise (const char *text, const char *region, char *out, size_t out_size)
{
    assert (out && out_size > 0);
    *out = 0;
    if (!text || !*text)
        return "empty";
    if (strlen (text) > TEXT_MAX)
        return "too long to be a phone number";
    if (region && !nd_phone_region (region))
        return "unknown default region";
    const PhoneNumberUtil *util = PhoneNumberUtil::GetInstance ();
    PhoneNumber number;
    PhoneNumberUtil::ErrorType error = util->Parse (text, region ? region : "ZZ", &number);
    if (error != PhoneNumberUtil::NO_PARSING_ERROR)
        return s_parse_error (error);
    const char *impossible = s_impossible (util->IsPossibleNumberWithReason (number));
    if (impossible)
        return impossible;
    //  Possible by its length, but in no range the country gives out
    if (!util->IsValidNumber (number))
        return "not a number in use in its country";
    std::string e164;
    util->Format (number, PhoneNumberUtil::E164, &e164);
    if (e164.size () >= out_size || !nd_phone_e164 (e164.c_str ()))
        return "not E.164 once formatted";
    memcpy (out, e164.c_str (), e164.size () + 1);
    return NULL;
}

bool nd_phone_region (const char *region)
{
    if (!region || strlen (region) != 2 || region [0] < 'A' || region [0] > 'Z'
    ||  region [1] < 'A' || region [1] > 'Z')
        return false;
    return PhoneNumberUtil::GetInstance ()->GetCountryCodeForRegion (region) != 0;
}

void nd_phone_tail (const char *text, char *out, size_t out_size)
{
    assert (out && out_size >= 3);
    char digits [3] = "";
    size_t count = 0;
    for (const char *p = text; p && *p; p++)
        if (*p >= '0' && *p <= '9') {
            digits [0] = digits [1];
            digits [1] = *p;
            count++;
        }
    snprintf (out, out_size, "%s", count >= 4 ? digits : "");
}

/* ----------------------------------------------------------- self-test -- */

void nd_phone_test (bool verbose)
{
    if (verbose)
        printf (" * nd_phone: ");
    char e164 [ND_PHONE_MAX];
    //  The three ways a Polish shopper writes one number
    assert (!nd_phone_normalise ("600 100 200", "PL", e164, sizeof e164)
            && strcmp (e164, "+48600100200") == 0);
    assert (!nd_phone_normalise ("+48 600-100-200", "PL", e164, sizeof e164)
            && strcmp (e164, "+48600100200") == 0);
    assert (!nd_phone_normalise ("0048600100200", "PL", e164, sizeof e164)
            && strcmp (e164, "+48600100200") == 0);
    //  A country code wins over the default region
    assert (!nd_phone_normalise ("+49 151 12345678", "PL", e164, sizeof e164)
            && strcmp (e164, "+4915112345678") == 0);
    assert (!nd_phone_normalise ("+48600100200", NULL, e164, sizeof e164));
    assert (nd_phone_normalise ("600 100 200", NULL, e164, sizeof e164) && !*e164);
    assert (nd_phone_normalise ("call me", "PL", e164, sizeof e164));
    assert (nd_phone_normalise ("12", "PL", e164, sizeof e164));
    assert (nd_phone_normalise ("600 100 2000", "PL", e164, sizeof e164));
    assert (nd_phone_normalise ("", "PL", e164, sizeof e164));
    assert (nd_phone_normalise ("600 100 200", "XX", e164, sizeof e164));
    assert (nd_phone_normalise ("+48600100200", "PL", e164, 5) && !*e164);
    assert (nd_phone_region ("PL") && nd_phone_region ("US"));
    assert (!nd_phone_region ("pl") && !nd_phone_region ("XX") && !nd_phone_region ("POL")
            && !nd_phone_region (NULL));
    char tail [3];
    nd_phone_tail ("600 100 2x09", tail, sizeof tail);
    assert (strcmp (tail, "09") == 0);
    nd_phone_tail ("12", tail, sizeof tail);
    assert (strcmp (tail, "") == 0);
    if (verbose)
        printf ("OK\n");
}
