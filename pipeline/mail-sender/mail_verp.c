/*  mail_verp - a return path per message, so a late bounce names it.

    Layer: message (pure, read-only after setup; the SMTP workers share it).

    A bounce or a complaint that comes days after the SMTP session goes
    to the envelope sender. With "return-path = bounces@shop.example" in
    the mail-sender's section, every message's envelope sender is

        bounces+TOKEN@shop.example

    (VERP), TOKEN being nd_token_sign (secret, "bounce", "<time> <key>"):
    the send order's time (ms, as the scheduler stamped it) and its
    idempotency key ("<journey>/<epoch>-<n>/<step>/email"), which name the
    journey, instance and step; the person and the address stay in the
    mail-sender's state (mail_intake), never in the token. The secret is
    "unsubscribe-secret", kept apart from unsubscribe tokens by the
    purpose. base64url and '.' are dot-atom characters, so the address
    needs no quoting; it is longer than RFC 5321's 64-byte local part,
    which the common MTAs (Postfix, Exim, Sendmail) accept, as VERP
    mailers have long relied on.

    Without return-path the envelope sender is the From address, as
    before, and bounces after the session cannot be placed.            */
#include "nd_token.h"
#include "mail.h"

#define s_PURPOSE "bounce"

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
    if (!mime_address_ok (path) || !at || strchr (path, '+')) {
        nd_stage_config_error (stage, "return-path", "an address without '+', e.g. bounces@shop.example");
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

int mail_verp_sender (mail_verp_t *self, const json_t *order, const char *fallback,
                      char *out, size_t size)
{
    const char *key = json_string_value (json_object_get (order, "idempotency_key"));
    char payload [400], token [ND_TOKEN_MAX];
    if (!self->local || !key
    ||  snprintf (payload, sizeof payload, "%" PRId64 " %s", mail_verp_order_time (order), key)
        >= (int) sizeof payload
    ||  nd_token_sign (self->secret, s_PURPOSE, payload, token, sizeof token)
    ||  snprintf (out, size, "%s+%s@%s", self->local, token, self->domain) >= (int) size) {
        snprintf (out, size, "%s", fallback);
        return -1;
    }
    return 0;
}

int mail_verp_open (mail_verp_t *self, const char *token, int64_t *time, char *key, size_t size)
{
    char payload [400];
    int length = self->secret ? nd_token_open (self->secret, s_PURPOSE, token, payload,
                                               sizeof payload) : -1;
    char *space = length > 0 ? strchr (payload, ' ') : NULL;
    if (!space || (size_t) (length - (space - payload)) > size)
        return -1;
    *space = 0;
    char *end;
    *time = strtoll (payload, &end, 10);
    if (*end)
        return -1;
    snprintf (key, size, "%s", space + 1);
    return 0;
}

void mail_verp_test (bool verbose)
{
    if (verbose)
        printf (" * mail_verp: ");
    mail_verp_t verp = { (char *) "bounces", (char *) "shop.example", (char *) "s3cret" };
    json_t *order = json_pack ("{s:s, s:s}", "idempotency_key", "cart/e1-7/remind/email",
                               "time", "2026-03-02T12:00:00.000Z");
    char address [ND_TOKEN_MAX + 100], key [200];
    int64_t time;
    assert (mail_verp_sender (&verp, order, "shop@shop.example", address, sizeof address) == 0);
    assert (strncmp (address, "bounces+", 8) == 0 && strstr (address, "@shop.example")
            && strspn (address + 8, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.")
               == strlen (address) - 8 - strlen ("@shop.example"));
    char *token = strndup (address + 8, (size_t) (strchr (address, '@') - address - 8));
    assert (mail_verp_open (&verp, token, &time, key, sizeof key) == 0);
    assert (streq (key, "cart/e1-7/remind/email") && time == 1772452800000);
    token [2] ^= 1;             //  altered: refused
    assert (mail_verp_open (&verp, token, &time, key, sizeof key) == -1);
    free (token);
    //  Off: the fallback, unchanged
    mail_verp_t off = { NULL, NULL, NULL };
    assert (mail_verp_sender (&off, order, "shop@shop.example", address, sizeof address) == -1
            && streq (address, "shop@shop.example"));
    json_decref (order);
    if (verbose)
        printf ("OK\n");
}
