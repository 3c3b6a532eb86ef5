/*  claim.c - contact details a browser gave: claims, not facts.

    Layer: rules: calls only the base; profile.c calls it.

    A browser's write key is public, so anyone can send an identify with
    someone else's e-mail address or phone number and "consent". Such an
    event (the collector marks it "via": "browser") never sets email,
    phone, email_consent or sms_consent in the profile: an address the
    profile does not already hold, or holds without the consent now
    given, is announced as contact.claimed

        {id, user, time, visitor, channel: "email" | "sms", address,
         locale?, anonymousId?, userId?}

    and the scheduler asks its owner to confirm it (a link by e-mail, a
    code by SMS). The confirmation comes back as an identify from the
    collector itself, with no "via", and is merged as any other.

    E-mail is claimed unless email_consent is false, as e-mail may be sent
    unless it is; a phone only with sms_consent true, as SMS needs it. An
    address the profile holds already, with its consent, is nothing new:
    no claim (consent sent again through a browser is ignored).

    At most one claim per visitor, channel and address per day (UTC), so a
    page sending the same identify on every view asks once. The claims
    database holds only today's and yesterday's, trimmed as claims are
    added:  i64 day + visitor + channel + address -> "".               */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include "claim.h"

#define ADDRESS_MAX 254             /* RFC 5321's longest path; phones are shorter */
#define TRIM_PER_CLAIM 64           /* old claims deleted per new one, at most */
#define DAY_MS 86400000LL

//  whatsapp_consent: WhatsApp's opt-in, from a server key alone (no
//  confirmation flow for it yet: a browser's is dropped, never claimed)
static const char *s_contact_traits [] = {
    "email", "phone", "email_consent", "sms_consent", "whatsapp_consent", NULL
};

bool claim_trait (const char *name)
{
    for (int i = 0; s_contact_traits [i]; i++)
        if (strcmp (s_contact_traits [i], name) == 0)
            return true;
    return false;
}

void claim_strip (json_t *traits)
{
    for (int i = 0; json_is_object (traits) && s_contact_traits [i]; i++)
        json_object_del (traits, s_contact_traits [i]);
}

static void s_key (nd_key_t *key, int64_t day, const char *visitor, const char *channel,
                   const char *address)
{
    nd_key_init (key);
    nd_key_i64 (key, day);
    nd_key_str (key, visitor);
    nd_key_str (key, channel);
    nd_key_str (key, address);
}

//  Claims from before yesterday are no longer needed to tell "today".
static int s_trim (sessionizer_t *self, MDB_txn *txn, int64_t today)
{
    return nd_db_trim_before (txn, self->claims, today - 1, TRIM_PER_CLAIM, "claims trim");
}

//  1 if this claim is new today (now recorded), 0 if made already, -1.
static int s_first_today (sessionizer_t *self, MDB_txn *txn, const char *visitor,
                          const char *channel, const char *address, int64_t time)
{
    int64_t today = time / DAY_MS;
    nd_key_t key;
    s_key (&key, today, visitor, channel, address);
    if (key.size > ND_KEY_MAX)
        return 0;
    MDB_val k = nd_key_val (&key), data;
    int rc = mdb_get (txn, self->claims, &k, &data);
    if (rc == 0)
        return 0;
    if (rc != MDB_NOTFOUND)
        return nd_db_error (rc, "claims");
    return s_trim (self, txn, today) || nd_db_put_raw (txn, self->claims, &key, "", 0) ? -1 : 1;
}

//  Whether the profile holds address with its consent already.
static bool s_held (const json_t *traits, const char *field, const char *address,
                    const char *consent, bool consent_needed)
{
    const char *held = json_string_value (json_object_get (traits, field));
    json_t *given = json_object_get (traits, consent);
    return held && strcasecmp (held, address) == 0
        && (consent_needed ? json_is_true (given) : !json_is_false (given));
}

static const char *s_locale (const event_t *event, const json_t *update, const json_t *traits)
{
    const char *locale = json_string_value (json_object_get (update, "locale"));
    if (!locale)
        locale = json_string_value (json_object_get (traits, "locale"));
    if (!locale)
        locale = json_string_value (json_object_get (event->context, "locale"));
    return locale && strlen (locale) < 36 ? locale : NULL;
}

static int s_claim (sessionizer_t *self, MDB_txn *txn, visitor_t *visitor, const event_t *event,
                    const json_t *update, const json_t *traits, const char *channel,
                    const char *given)
{
    char address [ADDRESS_MAX + 1];
    size_t length = strlen (given);
    if (length == 0 || length > ADDRESS_MAX)
        return 0;
    for (size_t i = 0; i <= length; i++)      //  e-mail addresses compare without case
        address [i] = strcmp (channel, "email") == 0 ? (char) tolower ((unsigned char) given [i])
                                                      : given [i];
    int first = s_first_today (self, txn, visitor->id, channel, address, event->time);
    if (first <= 0)
        return first;
    json_t *body = sessionizer_body (NULL, visitor->id, event->time);
    json_object_set_new (body, "channel", json_string (channel));
    json_object_set_new (body, "address", json_string (address));
    const char *locale = s_locale (event, update, traits);
    if (locale)
        json_object_set_new (body, "locale", json_string (locale));
    if (event->anonymous_id)
        json_object_set_new (body, "anonymousId", json_string (event->anonymous_id));
    if (event->user_id)
        json_object_set_new (body, "userId", json_string (event->user_id));
    sessionizer_count (self, COUNT_CONTACTS_CLAIMED);
    return sessionizer_emit (self, txn, "contact.claimed", body);
}

int claim_contacts (sessionizer_t *self, MDB_txn *txn, visitor_t *visitor, const event_t *event,
                    const json_t *update, const json_t *traits)
{
    const char *email = json_string_value (json_object_get (update, "email"));
    json_t *email_consent = json_object_get (update, "email_consent");
    if (email && strchr (email, '@') && !json_is_false (email_consent)
    &&  !s_held (traits, "email", email, "email_consent", false)
    &&  s_claim (self, txn, visitor, event, update, traits, "email", email))
        return -1;
    const char *phone = json_string_value (json_object_get (update, "phone"));
    if (phone && json_is_true (json_object_get (update, "sms_consent"))
    &&  !s_held (traits, "phone", phone, "sms_consent", true)
    &&  s_claim (self, txn, visitor, event, update, traits, "sms", phone))
        return -1;
    return 0;
}
