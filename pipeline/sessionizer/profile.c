/*  profile.c - who a visitor is: their ids and their traits.

    Layer: rules: calls claim.c (a browser's contact details are claims)
    and the store (visitor.c: profile_new, profile_describe).

    Traits come from identify calls (traits, and context.traits) and from
    the context of the first event of each session (context.traits, and
    context.timezone when no trait names a timezone). Only then: SDKs such
    as RudderStack repeat context.traits on every event, and reading the
    profile for each would cost more than the rest of the event does.

    Traits are kept as the shop sends them: Segment's reserved names
    (email, phone, firstName, lastName, birthday, timezone, ...) and
    nudge's own (email_consent, sms_consent, push_consent,
    push_subscription, push). A trait sent as null is forgotten.

    App push tokens: traits.push.fcm and traits.push.apns, or what
    Segment's mobile SDKs send, context.device.token with
    context.device.type "android" (an FCM token) or "ios" (an APNs
    token), on an identify or a session's first event. "push" merges
    key by key, so a person's iPhone and Android tablet are both kept;
    {"push": {"fcm": null}} forgets one. A token is taken through the
    browser's public key too: like a web push subscription, it is an
    address that only reaches the device that made it, never someone
    else's contact, so it is not a claim (push_consent false stops it).

    Profiles hold e-mail addresses and phone numbers: they travel in
    message bodies, which downstream stages need, and never in log lines.

    An event that came through a browser's public write key ("via":
    "browser") does not set the contact traits (email, phone and their
    consent): claim.c turns them into contact.claimed, and only the
    confirmed address comes back, through the collector, as a fact.
*/
#include <assert.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include "profile.h"
#include "claim.h"
#include "phone.h"
#include "visitor.h"

static json_t *s_member (json_t *profile, const char *field, json_t *(*make) (void))
{
    json_t *value = json_object_get (profile, field);
    if (!value) {
        value = make ();
        json_object_set_new (profile, field, value);
    }
    return value;
}

bool profile_add_id (json_t *profile, const char *list, const char *id)
{
    json_t *ids = s_member (profile, list, json_array);
    size_t index;
    json_t *known;
    json_array_foreach (ids, index, known)
        if (json_is_string (known) && strcmp (json_string_value (known), id) == 0)
            return false;
    if (json_array_size (ids) >= PROFILE_IDS_MAX)
        json_array_remove (ids, 0);
    json_array_append_new (ids, json_string (id));
    return true;
}

#define s_TOKEN_MAX 4096

//  traits.push, merged key by key: {"fcm": token, "apns": token}.
static bool s_set_push (json_t *traits, json_t *old, const json_t *update)
{
    if (!json_is_object (old)) {
        old = json_object ();
        json_object_set_new (traits, "push", old);
    }
    bool changed = false;
    const char *kinds [] = { "fcm", "apns", NULL };
    for (int i = 0; kinds [i]; i++) {
        json_t *value = json_object_get (update, kinds [i]);
        json_t *known = json_object_get (old, kinds [i]);
        if (json_is_null (value) && known) {
            json_object_del (old, kinds [i]);
            changed = true;
        }
        else
        if (json_is_string (value) && json_string_length (value) > 0
        &&  json_string_length (value) <= s_TOKEN_MAX && !json_equal (value, known)) {
            json_object_set (old, kinds [i], value);
            changed = true;
        }
    }
    if (json_object_size (old) == 0)
        json_object_del (traits, "push");
    return changed;
}

//  Segment's mobile SDKs: context.device {token, type}.
static bool s_device_token (json_t *traits, const json_t *context)
{
    json_t *device = json_object_get (context, "device");
    json_t *token = json_object_get (device, "token");
    const char *type = json_string_value (json_object_get (device, "type"));
    const char *kind = !type ? NULL : strcasecmp (type, "android") == 0 ? "fcm"
                     : strcasecmp (type, "ios") == 0 ? "apns" : NULL;
    if (!kind || !json_is_string (token))
        return false;
    json_t *update = json_pack ("{s:O}", kind, token);
    bool changed = s_set_push (traits, json_object_get (traits, "push"), update);
    json_decref (update);
    return changed;
}

//  browser: leaves the contact traits out (claim.c).
static bool s_set_traits (json_t *traits, const json_t *update, bool browser)
{
    bool changed = false;
    const char *name;
    json_t *value;
    json_object_foreach ((json_t *) update, name, value) {
        if (browser && claim_trait (name))
            continue;
        json_t *old = json_object_get (traits, name);
        if (strcmp (name, "push") == 0 && json_is_object (value)) {
            changed = s_set_push (traits, old, value) || changed;
            continue;
        }
        if (json_is_null (value)) {
            if (old) {
                json_object_del (traits, name);
                changed = true;
            }
        }
        else
        if (!old || !json_equal (old, value)) {
            json_object_set_new (traits, name, json_deep_copy (value));
            changed = true;
        }
    }
    return changed;
}

int profile_update (sessionizer_t *self, MDB_txn *txn, visitor_t *visitor,
                    const event_t *event, bool session_started)
{
    bool identify = event->type == EVENT_IDENTIFY;
    json_t *context_traits = json_object_get (event->context, "traits");
    const char *timezone = json_string_value (json_object_get (event->context, "timezone"));
    json_t *device = json_object_get (json_object_get (event->context, "device"), "token");
    if (!identify && !(session_started && (json_object_size (context_traits) || timezone
                                           || device)))
        return 0;
    json_t *profile = visitor_profile (self, txn, visitor);
    if (!profile)
        return -1;
    json_t *traits = s_member (profile, "traits", json_object);
    bool changed = false;
    //  Phone numbers in E.164 from here on (phone.c)
    json_t *given [2] = {
        json_is_object (context_traits) ? phone_traits (self, visitor->id, context_traits, traits)
                                        : NULL,
        identify && json_is_object (event->traits)
            ? phone_traits (self, visitor->id, event->traits, traits) : NULL
    };
    //  Claims are judged against the profile as it was before this event
    int rc = 0;
    for (int i = 0; i < 2 && rc == 0; i++)
        if (event->browser && given [i])
            rc = claim_contacts (self, txn, visitor, event, given [i], traits);
    for (int i = 0; i < 2 && rc == 0; i++)
        if (given [i])
            changed = s_set_traits (traits, given [i], event->browser) || changed;
    json_decref (given [0]);
    json_decref (given [1]);
    if (rc)
        return -1;
    if (device)
        changed = s_device_token (traits, event->context) || changed;
    if (timezone && *timezone && !json_object_get (traits, "timezone")) {
        json_object_set_new (traits, "timezone", json_string (timezone));
        changed = true;
    }
    if (changed)
        visitor->profile_changed = visitor->profile_announce = true;
    return 0;
}

//  Two visitors turned out to be one person: profile (the survivor's)
//  keeps its traits and takes the other's only where it has none.
bool profile_merge (json_t *profile, const json_t *other)
{
    bool changed = false;
    const char *lists [] = { "userIds", "anonymousIds", NULL };
    for (int i = 0; lists [i]; i++) {
        size_t index;
        json_t *id;
        json_array_foreach (json_object_get (other, lists [i]), index, id)
            if (json_is_string (id))
                changed = profile_add_id (profile, lists [i], json_string_value (id)) || changed;
    }
    json_t *traits = s_member (profile, "traits", json_object);
    const char *name;
    json_t *value;
    json_object_foreach (json_object_get (other, "traits"), name, value)
        if (!json_object_get (traits, name)) {
            json_object_set_new (traits, name, json_deep_copy (value));
            changed = true;
        }
    return changed;
}

bool profile_add_merged (json_t *profile, const json_t *other, const char *loser)
{
    bool changed = false;
    size_t index;
    json_t *id;
    json_array_foreach (json_object_get (other, "merged"), index, id)
        if (json_is_string (id))
            changed = profile_add_id (profile, "merged", json_string_value (id)) || changed;
    return profile_add_id (profile, "merged", loser) || changed;
}

/* ------------------------------------------------------------- selftest */

void profile_test (bool verbose)
{
    if (verbose)
        printf (" * profile: ");
    json_t *profile = profile_new ();
    assert (profile_add_id (profile, "anonymousIds", "A1"));
    assert (!profile_add_id (profile, "anonymousIds", "A1"));
    char id [16];
    for (int i = 0; i < PROFILE_IDS_MAX + 5; i++) {
        snprintf (id, sizeof id, "B%d", i);
        profile_add_id (profile, "anonymousIds", id);
    }
    assert (json_array_size (json_object_get (profile, "anonymousIds")) == PROFILE_IDS_MAX);

    json_t *traits = json_object_get (profile, "traits");
    json_t *update = json_pack ("{s:s, s:s, s:b}", "email", "a@example.com",
                                "phone", "+4712345678", "sms_consent", 0);
    assert (s_set_traits (traits, update, false));
    assert (!s_set_traits (traits, update, false));
    json_decref (update);
    //  Through a browser: contact traits are claims, the rest merges
    update = json_pack ("{s:s, s:b, s:s}", "email", "x@example.com", "email_consent", 1,
                        "firstName", "Eve");
    assert (s_set_traits (traits, update, true));
    assert (strcmp (json_string_value (json_object_get (traits, "email")), "a@example.com") == 0);
    assert (!json_object_get (traits, "email_consent"));
    json_object_del (traits, "firstName");
    json_decref (update);
    update = json_pack ("{s:n}", "phone");
    assert (s_set_traits (traits, update, false));
    assert (!json_object_get (traits, "phone"));
    json_decref (update);

    //  App tokens merge by kind, a null forgets one, through a browser too
    update = json_pack ("{s:{s:s}}", "push", "fcm", "f1");
    assert (s_set_traits (traits, update, true) && !s_set_traits (traits, update, true));
    json_decref (update);
    json_t *context = json_pack ("{s:{s:s, s:s}}", "device", "token", "a1b2", "type", "ios");
    assert (s_device_token (traits, context) && !s_device_token (traits, context));
    json_decref (context);
    json_t *push = json_object_get (traits, "push");
    assert (json_object_size (push) == 2
            && strcmp (json_string_value (json_object_get (push, "apns")), "a1b2") == 0);
    update = json_pack ("{s:{s:n}}", "push", "fcm");
    assert (s_set_traits (traits, update, false) && json_object_size (push) == 1);
    json_decref (update);
    update = json_pack ("{s:{s:n}}", "push", "apns");
    assert (s_set_traits (traits, update, false) && !json_object_get (traits, "push"));
    json_decref (update);

    json_t *other = json_pack ("{s:[s], s:[], s:{s:s, s:s}}", "userIds", "U1", "anonymousIds",
                               "traits", "email", "old@example.com", "firstName", "Ada");
    assert (profile_merge (profile, other));
    assert (!profile_merge (profile, other));
    assert (strcmp (json_string_value (json_object_get (traits, "email")), "a@example.com") == 0);
    assert (json_object_get (traits, "firstName"));
    json_decref (other);
    //  A loser and the visitors merged into it before are listed, once
    other = json_pack ("{s:[s]}", "merged", "v-2");
    assert (profile_add_merged (profile, other, "v-3") && !profile_add_merged (profile, other, "v-3"));
    assert (json_array_size (json_object_get (profile, "merged")) == 2);
    json_decref (other);

    json_t *body = json_object ();
    profile_describe (profile, body);
    json_t *contact = json_object_get (body, "contact");
    assert (json_is_true (json_object_get (contact, "email")));
    assert (json_is_false (json_object_get (contact, "sms")));
    assert (strcmp (json_string_value (json_object_get (body, "anonymousId")), id) == 0);
    json_decref (body);
    json_decref (profile);
    if (verbose)
        printf ("OK\n");
}
