/*  phone.c - phone numbers made E.164 where they enter nudge.

    Layer: rules: calls only the base and the runtime (nd_phone); profile.c
    calls it.

    A checkout form gives "600 100 200", a CRM "0048 600-100-200": the
    same phone, which an SMS or WhatsApp provider reaches only as
    "+48600100200". The traits an identify (or a session's first
    context.traits) brings are made E.164 here, once, with the
    sessionizer's phone-region for numbers written without a country code,
    before the profile keeps them or a browser's claim is announced; so
    the profile, contact.claimed and every stage downstream hold one
    spelling, the one the collector's /v1/confirm and the sms-sender's
    webhooks compare with. The forwarded event stays as the shop sent it.

    Every number is parsed, even one written as E.164 already: only
    libphonenumber knows whether "+48 123..." is a number anyone can
    have. A number that can't be made E.164 is not kept as the phone: the
    profile gets "phone": null (an older number is forgotten, as it is no
    longer the one the shop knows) and "phone_invalid": {"reason",
    "given"}, which nd-person shows, and a log line with the reason and
    the last two digits. A later good number removes the mark.           */
#include <assert.h>
#include <stdio.h>
#include <string.h>
#include "nd_codec.h"
#include "nd_phone.h"
#include "phone.h"

json_t *phone_traits (sessionizer_t *self, const char *visitor, json_t *traits,
                      const json_t *held)
{
    json_t *given = json_object_get (traits, "phone");
    const char *text = json_string_value (given);
    //  Absent, or null (forget it): nothing to do
    if (!text)
        return json_incref (traits);
    //  What the profile holds already, good or not: as it was judged then
    //  (a phone kept by an older nudge, before this file, is parsed anew)
    const char *phone = json_string_value (json_object_get (held, "phone"));
    if (!nd_phone_e164 (phone))
        phone = NULL;
    json_t *invalid = json_object_get (held, "phone_invalid");
    const char *before = json_string_value (json_object_get (invalid, "given"));
    if ((phone && strcmp (phone, text) == 0) || (before && strcmp (before, text) == 0)) {
        json_t *copy = json_copy (traits);
        json_object_set (copy, "phone", phone && strcmp (phone, text) == 0 ? given : json_null ());
        json_object_set (copy, "phone_invalid", phone && strcmp (phone, text) == 0 ? json_null ()
                                                                                   : invalid);
        return copy;
    }
    json_t *copy = json_copy (traits);
    char e164 [ND_PHONE_MAX];
    const char *reason = nd_phone_normalise (text, self->phone_region, e164, sizeof e164);
    if (!reason) {
        json_object_set_new (copy, "phone", json_string (e164));
        json_object_set_new (copy, "phone_invalid", json_null ());
        sessionizer_count (self, COUNT_PHONES_NORMALISED);
        return copy;
    }
    char tail [3];
    nd_phone_tail (text, tail, sizeof tail);
    nd_log ("%s: a phone number%s%s not taken: %s", visitor, *tail ? " ending " : "", tail,
            reason);
    json_object_set_new (copy, "phone_invalid", json_pack ("{s:s, s:O}", "reason", reason,
                                                           "given", given));
    json_object_set_new (copy, "phone", json_null ());
    sessionizer_count (self, COUNT_PHONES_INVALID);
    return copy;
}

/* ------------------------------------------------------------- selftest */

void phone_test (bool verbose)
{
    if (verbose)
        printf (" * phone: ");
    sessionizer_t self = { .phone_region = (char *) "PL" };
    json_t *traits = json_pack ("{s:s, s:b}", "phone", "600 100 200", "sms_consent", 1);
    json_t *made = phone_traits (&self, "v-1", traits, NULL);
    assert (made != traits);
    assert (strcmp (json_string_value (json_object_get (made, "phone")), "+48600100200") == 0);
    assert (json_is_null (json_object_get (made, "phone_invalid")));
    assert (json_is_true (json_object_get (made, "sms_consent")));
    assert (strcmp (json_string_value (json_object_get (traits, "phone")), "600 100 200") == 0);
    json_decref (made);
    json_object_del (traits, "phone");
    made = phone_traits (&self, "v-1", traits, NULL);
    assert (made == traits);
    json_decref (made);
    json_object_set_new (traits, "phone", json_string ("call me maybe"));
    made = phone_traits (&self, "v-1", traits, NULL);
    assert (json_is_null (json_object_get (made, "phone")));
    json_t *invalid = json_object_get (made, "phone_invalid");
    assert (json_string_value (json_object_get (invalid, "reason")));
    assert (strcmp (json_string_value (json_object_get (invalid, "given")), "call me maybe") == 0);
    assert (self.delta [COUNT_PHONES_INVALID] == 1 && self.delta [COUNT_PHONES_NORMALISED] == 1);
    //  The same again, against a profile that holds it: judged as before, not parsed
    json_t *again = phone_traits (&self, "v-1", traits, made);
    assert (json_equal (json_object_get (again, "phone_invalid"), invalid)
            && json_is_null (json_object_get (again, "phone")));
    json_decref (again);
    json_t *held = json_pack ("{s:s}", "phone", "+48600100200");
    json_object_set_new (traits, "phone", json_string ("+48600100200"));
    again = phone_traits (&self, "v-1", traits, held);
    assert (strcmp (json_string_value (json_object_get (again, "phone")), "+48600100200") == 0);
    assert (self.delta [COUNT_PHONES_INVALID] == 1 && self.delta [COUNT_PHONES_NORMALISED] == 1);
    json_decref (again);
    json_decref (held);
    json_decref (made);
    json_decref (traits);
    if (verbose)
        printf ("OK\n");
}
