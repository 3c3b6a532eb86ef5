/*  mail_verp - a return path per message, so a late bounce names it.

    Layer: message (pure, read-only after setup; the SMTP workers share it).

    A bounce or a complaint that comes days after the SMTP session goes
    to the envelope sender. With "return-path = bounces@shop.example" in
    the mail-sender's section, every message's envelope sender is

        bounces+TOKEN@shop.example

    (VERP), TOKEN naming the message and nothing else: 22 bytes in
    base32, lower case, 36 characters:

        6 bytes   the send order's time (ms, as the scheduler stamped it)
        8 bytes   the first 8 of SHA-256 of its idempotency key
                  ("<journey>/<epoch>-<n>/<step>/email")
        8 bytes   the first 8 of HMAC-SHA256 (secret, "bounce" NUL and
                  the 14 bytes before): forging one takes 2^64 tries

    mail_intake keeps, per message, the journey, step, person and address
    under the first 14 bytes; the token carries none of them. The secret is
    "unsubscribe-secret", kept apart from unsubscribe tokens by the
    purpose. With "bounces" the local part is 44 characters, inside RFC
    5321's 64 (section 4.5.3.1.1): a receiving MTA may refuse a longer
    envelope sender, and base32 still reads right when a system on the
    way back folds the address to one case.

    Without return-path the envelope sender is the From address, as
    before, and bounces after the session cannot be placed.            */
#include <ctype.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>
#include "nd_codec.h"
#include "mail.h"

#define s_PURPOSE "bounce"
#define s_NAME 14               //  time and id: what the MAC covers
#define s_MAC 8
#define s_TOKEN (s_NAME + s_MAC)
#define s_LOCAL_MAX 64          //  RFC 5321 4.5.3.1.1

struct _mail_verp_t {
    char *local;                //  "bounces", or NULL: VERP off
    char *domain;               //  "shop.example"
    char *secret;
};

mail_verp_t *mail_verp_new (nd_stage_t *stage)
{
    mail_verp_t *self = (mail_verp_t *) zmalloc (sizeof *self);
    const char *path = nd_stage_option (stage, "return-path", NULL);
    if (!path)
        return self;
    const char *at = strrchr (path, '@');
    const char *secret = nd_stage_option (stage, "unsubscribe-secret", NULL);
    char reason [200] = "VERP signs with unsubscribe-secret: name it (env:NAME or file:PATH)";
    if (!mime_address_ok (path) || !at || strchr (path, '+')
    ||  (size_t) (at - path) + 1 + ND_B32_SIZE (s_TOKEN) - 1 > s_LOCAL_MAX) {
        nd_stage_config_error (stage, "return-path", "an address without '+' and a local part of "
                               "at most 27 characters (with +TOKEN it must fit RFC 5321's 64), "
                               "e.g. bounces@shop.example");
        mail_verp_destroy (&self);
    }
    else
    if (!secret || !(self->secret = nd_secret_load (secret, true, reason, sizeof reason))) {
        nd_stage_config_error (stage, "unsubscribe-secret", reason);
        mail_verp_destroy (&self);
    }
    else {
        self->local = strndup (path, (size_t) (at - path));
        self->domain = strdup (at + 1);
    }
    return self;
}

void mail_verp_destroy (mail_verp_t **self_p)
{
    mail_verp_t *self = *self_p;
    if (self) {
        if (self->secret)
            OPENSSL_cleanse (self->secret, strlen (self->secret));
        free (self->secret);
        free (self->local);
        free (self->domain);
        free (self);
        *self_p = NULL;
    }
}

bool mail_verp_on (mail_verp_t *self)
{
    return self->local != NULL;
}

int64_t mail_verp_order_time (const json_t *order)
{
    int64_t time = 0;
    const char *text = json_string_value (json_object_get (order, "time"));
    if (text && nd_time_parse (text, &time))
        time = 0;
    return time;
}

uint64_t mail_verp_id (const char *idempotency_key)
{
    uint8_t digest [SHA256_DIGEST_LENGTH];
    SHA256 ((const unsigned char *) idempotency_key, strlen (idempotency_key), digest);
    uint64_t id = 0;
    for (int i = 0; i < 8; i++)
        id = id << 8 | digest [i];
    return id;
}

//  The MAC of a token's first s_NAME bytes, into its last s_MAC.
static void s_mac (const char *secret, uint8_t *token)
{
    uint8_t message [sizeof s_PURPOSE + s_NAME], mac [EVP_MAX_MD_SIZE];
    unsigned int mac_size = 0;
    memcpy (message, s_PURPOSE, sizeof s_PURPOSE);      //  with its NUL
    memcpy (message + sizeof s_PURPOSE, token, s_NAME);
    HMAC (EVP_sha256 (), secret, (int) strlen (secret), message, sizeof message, mac, &mac_size);
    memcpy (token + s_NAME, mac, s_MAC);
}

int mail_verp_sender (mail_verp_t *self, const json_t *order, const char *fallback,
                      char *out, size_t size)
{
    const char *key = json_string_value (json_object_get (order, "idempotency_key"));
    int64_t time = mail_verp_order_time (order);
    uint8_t token [s_TOKEN];
    char text [ND_B32_SIZE (s_TOKEN)];
    if (!self->local || !key || time < 0 || time >= (int64_t) 1 << 48) {
        snprintf (out, size, "%s", fallback);
        return -1;
    }
    uint64_t id = mail_verp_id (key);
    for (int i = 0; i < 6; i++)
        token [i] = (uint8_t) (time >> (8 * (5 - i)));
    for (int i = 0; i < 8; i++)
        token [6 + i] = (uint8_t) (id >> (8 * (7 - i)));
    s_mac (self->secret, token);
    nd_b32_encode (token, sizeof token, text, sizeof text);
    if (snprintf (out, size, "%s+%s@%s", self->local, text, self->domain) >= (int) size) {
        snprintf (out, size, "%s", fallback);
        return -1;
    }
    return 0;
}

int mail_verp_open (mail_verp_t *self, const char *token, int64_t *time, uint64_t *id)
{
    uint8_t bytes [s_TOKEN + 1], mac [s_MAC];
    if (!self->secret || !token
    ||  nd_b32_decode (token, strlen (token), bytes, sizeof bytes) != s_TOKEN)
        return -1;
    memcpy (mac, bytes + s_NAME, s_MAC);
    s_mac (self->secret, bytes);
    if (CRYPTO_memcmp (mac, bytes + s_NAME, s_MAC))
        return -1;
    *time = 0;
    for (int i = 0; i < 6; i++)
        *time = *time << 8 | bytes [i];
    *id = 0;
    for (int i = 0; i < 8; i++)
        *id = *id << 8 | bytes [6 + i];
    return 0;
}

void mail_verp_test (bool verbose)
{
    if (verbose)
        printf (" * mail_verp: ");
    mail_verp_t verp = { (char *) "bounces", (char *) "shop.example", (char *) "s3cret" };
    json_t *order = json_pack ("{s:s, s:s}", "idempotency_key", "cart/e1-7/remind/email",
                               "time", "2026-03-02T12:00:00.000Z");
    char address [200];
    int64_t time;
    uint64_t id;
    assert (mail_verp_sender (&verp, order, "shop@shop.example", address, sizeof address) == 0);
    //  bounces+ and 36 characters of lower-case base32: 44, inside 64
    assert (strncmp (address, "bounces+", 8) == 0 && strstr (address, "@shop.example")
            && strchr (address, '@') - address == 44
            && strspn (address + 8, "abcdefghijklmnopqrstuvwxyz234567") == 36);
    char *token = strndup (address + 8, 36);
    assert (mail_verp_open (&verp, token, &time, &id) == 0);
    assert (id == mail_verp_id ("cart/e1-7/remind/email") && time == 1772452800000);
    for (char *c = token; *c; c++)     //  folded to upper case on the way back: still read
        *c = (char) toupper (*c);
    assert (mail_verp_open (&verp, token, &time, &id) == 0 && time == 1772452800000);
    token [2] = token [2] == 'A' ? 'B' : 'A';       //  altered: refused
    assert (mail_verp_open (&verp, token, &time, &id) == -1);
    token [2] = 0;
    assert (mail_verp_open (&verp, token, &time, &id) == -1);
    free (token);
    mail_verp_t other = { (char *) "bounces", (char *) "shop.example", (char *) "other" };
    mail_verp_sender (&verp, order, "shop@shop.example", address, sizeof address);
    address [44] = 0;
    assert (mail_verp_open (&other, address + 8, &time, &id) == -1);
    //  Off: the fallback, unchanged
    mail_verp_t off = { NULL, NULL, NULL };
    assert (mail_verp_sender (&off, order, "shop@shop.example", address, sizeof address) == -1
            && streq (address, "shop@shop.example"));
    json_decref (order);
    if (verbose)
        printf ("OK\n");
}
