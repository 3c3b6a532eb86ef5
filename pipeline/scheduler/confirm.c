/*  confirm.c - double opt-in: the confirmation a claimed contact gets.

    Layer: rules: calls templates.c and the store (people.c, counters.c);
    its send orders go out as send.c's do.

    The sessionizer announces contact.claimed when a browser (a public
    write key) gives an e-mail address or a phone number the profile does
    not hold. Nothing is sent to it but this, once, now:

      e-mail  send.email, template "confirm/email", data confirm_url:
              <confirm-url>?t=TOKEN, the token nd_token_sign (secret,
              "confirm", "email\n<id>\n<address>\n<expiry epoch s>") where
              <id> is "a:<anonymousId>" or "u:<userId>" of the claim;
              the collector's POST /confirm checks it and sends the
              identify that makes the address a fact.
      SMS     send.sms, template "confirm/sms", data code: six digits,
              nd_token_code (secret, "sms-code", "<id>\n<phone>\n<day>")
              with <id> the claim's anonymousId (else its userId) as is
              and <day> the UTC day number: the collector's POST
              /v1/confirm accepts today's and yesterday's.

    The secret is the pipeline's unsubscribe-secret; without it claims are
    only counted. A confirmation is transactional: it is not counted in
    the frequency caps, has no holdout or split, and ignores quiet hours
    (the person has just typed the address and waits for it). It is
    bounded instead: one per address per 24 h (whoever claims it: a page
    cannot mail one stranger many times), confirm-per-day per person (a
    page cannot mail many), none to an address the person is opted out
    of or that bounced. An SMS code that could not go out within an hour
    is not sent (not_after).

    Its idempotency key, "confirm/<channel>/<epoch>/<day>/<hash>", names
    no journey instance (feedback.c counts its feedback only).

    State, in "confirms": i64 day + 'a' + channel + address -> i64 time
    (when the address was sent one), i64 day + 'u' + user -> u64 count;
    entries older than yesterday are trimmed as new ones are written.  */
#include <openssl/sha.h>
#include "confirm.h"
#include "counters.h"
#include "people.h"
#include "templates.h"
#include "nd_token.h"

#define DAY_MS 86400000LL
#define ADDRESS_MAX 254
#define TRIM_PER_WRITE 64
#define SMS_WITHIN_MS 3600000LL

int confirm_setup (scheduler_t *self, MDB_txn *txn)
{
    nd_stage_t *stage = self->stage;
    self->confirm_url = nd_stage_option (stage, "confirm-url", "http://127.0.0.1:8080/confirm");
    if (nd_stage_option_duration (stage, "confirm-valid", "48h", &self->confirm_valid)
    ||  nd_stage_option_int (stage, "confirm-per-day", "3", &self->confirm_per_day))
        return -1;
    if (self->confirm_valid < 60000)
        return nd_stage_config_error (stage, "confirm-valid", "must be at least 1m");
    if (self->confirm_per_day < 1)
        return nd_stage_config_error (stage, "confirm-per-day", "must be at least 1");
    if (strncmp (self->confirm_url, "http://", 7) && strncmp (self->confirm_url, "https://", 8))
        return nd_stage_config_error (stage, "confirm-url", "not an http(s) URL");
    if (nd_db_open (txn, "confirms", &self->confirms))
        return -1;
    const char *name = nd_stage_option (stage, "unsubscribe-secret", NULL);
    char reason [200];
    if (!name) {
        nd_log ("no unsubscribe-secret: contacts a browser claims get no confirmation");
        return 0;
    }
    if (!(self->confirm_secret = nd_secret_load (name, true, reason, sizeof reason)))
        return nd_stage_config_error (stage, "unsubscribe-secret", reason);
    return 0;
}

int confirm_check (scheduler_t *self, templates_t *templates, char **error)
{
    for (channel_t channel = CHANNEL_SMS; self->confirm_secret && channel <= CHANNEL_EMAIL;
         channel++) {
        char id [32];
        snprintf (id, sizeof id, "confirm/%s", channel_name (channel));
        if (templates_check (templates, id, channel, error)) {
            char *said = zsys_sprintf ("%s (the double opt-in needs confirm/email and "
                                       "confirm/sms)", *error);
            free (*error);
            *error = said;
            return -1;
        }
    }
    return 0;
}

void confirm_teardown (scheduler_t *self)
{
    free (self->confirm_secret);
    self->confirm_secret = NULL;
}

bool confirm_key (const char *key)
{
    return key && (strncmp (key, "confirm/email/", 14) == 0 || strncmp (key, "confirm/sms/", 12) == 0);
}

/* ------------------------------------------------------------ bounds -- */

static void s_key (nd_key_t *key, int64_t day, char kind, const char *a, const char *b)
{
    nd_key_init (key);
    nd_key_i64 (key, day);
    nd_key_u8 (key, (uint8_t) kind);
    nd_key_str (key, a);
    if (b)
        nd_key_str (key, b);
}

static int s_trim (scheduler_t *self, MDB_txn *txn, int64_t today)
{
    return nd_db_trim_before (txn, self->confirms, today - 1, TRIM_PER_WRITE, "confirms trim");
}

//  Why no confirmation may go to address now, or NULL.
static const char *s_bounded (scheduler_t *self, MDB_txn *txn, const char *user,
                              const char *channel, const char *address, int64_t now)
{
    int64_t today = now / DAY_MS;
    for (int64_t day = today - 1; day <= today; day++) {
        nd_key_t key;
        s_key (&key, day, 'a', channel, address);
        uint64_t sent;
        if (nd_db_get_u64 (txn, self->confirms, &key, &sent) == 0 && (int64_t) sent > now - DAY_MS)
            return "address";
    }
    nd_key_t key;
    s_key (&key, today, 'u', user, NULL);
    uint64_t count = 0;
    nd_db_get_u64 (txn, self->confirms, &key, &count);
    return (int64_t) count >= self->confirm_per_day ? "person" : NULL;
}

static int s_record (scheduler_t *self, MDB_txn *txn, const char *user, const char *channel,
                     const char *address, int64_t now)
{
    int64_t today = now / DAY_MS;
    nd_key_t key;
    s_key (&key, today, 'u', user, NULL);
    uint64_t count = 0;
    if (nd_db_get_u64 (txn, self->confirms, &key, &count) < 0
    ||  nd_db_put_u64 (txn, self->confirms, &key, count + 1))
        return -1;
    s_key (&key, today, 'a', channel, address);
    return nd_db_put_u64 (txn, self->confirms, &key, (uint64_t) now) || s_trim (self, txn, today)
         ? -1 : 0;
}

/* ------------------------------------------------------------- order -- */

//  The link or the code, into data.
static int s_proof (scheduler_t *self, const char *channel, const char *address,
                    const char *anonymous, const char *user_id, int64_t now, json_t *data)
{
    char payload [1024], token [ND_TOKEN_MAX + ADDRESS_MAX * 2];
    if (streq (channel, "email")) {
        snprintf (payload, sizeof payload, "email\n%s:%s\n%s\n%lld", anonymous ? "a" : "u",
                  anonymous ? anonymous : user_id, address,
                  (long long) ((now + self->confirm_valid) / 1000));
        if (nd_token_sign (self->confirm_secret, "confirm", payload, token, sizeof token))
            return -1;
        char *url = zsys_sprintf ("%s?t=%s", self->confirm_url, token);
        json_object_set_new (data, "confirm_url", json_string (url));
        json_object_set_new (data, "valid_hours",
                             json_integer ((json_int_t) (self->confirm_valid / 3600000)));
        zstr_free (&url);
    }
    else {
        char code [16];
        snprintf (payload, sizeof payload, "%s\n%s\n%lld", anonymous ? anonymous : user_id,
                  address, (long long) (now / DAY_MS));
        nd_token_code (self->confirm_secret, "sms-code", payload, 6, code, sizeof code);
        json_object_set_new (data, "code", json_string (code));
    }
    return 0;
}

static json_t *s_order (scheduler_t *self, person_t *person, channel_t channel,
                        const char *address, const char *wanted_locale, json_t *data,
                        int64_t now)
{
    char template [160], locale [32], key [128], stamp [32], id [32];
    unsigned char digest [SHA256_DIGEST_LENGTH];
    SHA256 ((const unsigned char *) address, strlen (address), digest);
    snprintf (key, sizeof key, "confirm/%s/%s/%lld/%02x%02x%02x%02x%02x%02x%02x%02x",
              channel_name (channel), self->epoch, (long long) (now / DAY_MS), digest [0],
              digest [1], digest [2], digest [3], digest [4], digest [5], digest [6], digest [7]);
    snprintf (id, sizeof id, "confirm/%s", channel_name (channel));
    templates_resolve (self->templates, id, "", channel,
                       wanted_locale ? wanted_locale : person_locale (person), template, locale);
    json_object_set (data, "shop", self->shop);
    json_t *body = json_pack ("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:o, s:s}",
        "user", person->user, "idempotency_key", key, "journey", "confirm", "instance", "",
        "step", channel_name (channel), "variant", "", "channel", channel_name (channel), "to", address,
        "locale", locale, "template", template, "data", data, "name", "");
    if (channel == CHANNEL_SMS)
        json_object_set_new (body, "not_after",
                             json_string (nd_time_format (now + SMS_WITHIN_MS, stamp)));
    return body;
}

//  The address as the log may show it: its first character and domain.
static void s_masked (const char *address, char *text, size_t size)
{
    const char *at = strchr (address, '@');
    size_t length = strlen (address);
    if (at)
        snprintf (text, size, "%.1s***%s", address, at);
    else
        snprintf (text, size, "***%s", length > 2 ? address + length - 2 : "");
}

static int s_skip (scheduler_t *self, MDB_txn *txn, const char *user, const char *channel,
                   const char *address, const char *why)
{
    char masked [80];
    s_masked (address, masked, sizeof masked);
    nd_log ("%s claimed %s %s: no confirmation (%s)", user, channel, masked, why);
    char metric [64];
    snprintf (metric, sizeof metric, "confirm-skipped:%s", why);
    return counter_add (self, txn, "", "", "", "", metric, 1);
}

int confirm_claimed (scheduler_t *self, MDB_txn *txn, const nd_msg_t *msg)
{
    json_t *body = msg->body;
    const char *user = json_string_value (json_object_get (body, "user"));
    const char *name = json_string_value (json_object_get (body, "channel"));
    const char *address = json_string_value (json_object_get (body, "address"));
    const char *anonymous = json_string_value (json_object_get (body, "anonymousId"));
    const char *user_id = json_string_value (json_object_get (body, "userId"));
    channel_t channel;
    if (!user || !*user || !name || channel_parse (name, &channel) || channel == CHANNEL_PUSH
    ||  !address || strlen (address) > ADDRESS_MAX || (!anonymous && !user_id)) {
        nd_stage_reject (self->stage, msg, "contact.claimed without user, channel, address or ids");
        return 0;
    }
    if (!self->confirm_secret)
        return counter_add (self, txn, "", "", "", "", "confirm-skipped:no-secret", 1);
    bool valid = channel == CHANNEL_EMAIL ? strchr (address, '@') && !strpbrk (address, " \r\n")
                                          : nd_phone_e164 (address);
    if (!valid)
        return s_skip (self, txn, user, name, address, "not an address");
    int64_t now = nd_stage_now (self->stage);
    person_t *person = person_load (self, txn, user);
    if (!person)
        return -1;
    const char *why = person_blocked (person, channel, address) ? "opted out or bounced"
                    : s_bounded (self, txn, user, name, address, now);
    int rc = 0;
    if (why)
        rc = s_skip (self, txn, user, name, address, why);
    else {
        json_t *data = json_object ();
        json_t *order = NULL;
        //  A token has room for any address, and for an id of 200 bytes
        if (s_proof (self, name, address, anonymous, user_id, now, data) == 0)
            order = s_order (self, person, channel, address,
                             json_string_value (json_object_get (body, "locale")),
                             json_incref (data), now);
        json_decref (data);
        if (!order) {
            rc = s_skip (self, txn, user, name, address, "id too long");
            person_destroy (&person);
            return rc;
        }
        char topic [32];
        snprintf (topic, sizeof topic, "send.%s", name);
        rc = nd_emit (self->stage, txn, topic, order);
        json_decref (order);
        if (rc == 0)
            rc = s_record (self, txn, user, name, address, now)
              || counter_add (self, txn, "", "", "", "", "confirm-sent", 1) ? -1 : 0;
    }
    person_destroy (&person);
    return rc;
}
