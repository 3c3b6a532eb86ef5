/*  push_vapid - RFC 8292 voluntary application server identification.

    Push services accept a message only with proof that it comes from the
    server whose public key the page subscribed with: a JWT signed with
    ES256 (ECDSA P-256, SHA-256; the signature as JOSE's r || s, not DER),
    claims aud (the push service's origin), exp (at most 24 h ahead) and
    sub (how the push service can reach the operator), sent as

        Authorization: vapid t=<jwt>, k=<public key, base64url>

    (push_jwt.c signs it.) A signature costs tens of microseconds and a
    push service sees the same token for every message anyway, so tokens
    are kept per origin and renewed when less than a tenth of their
    lifetime remains.                                                    */
#include <assert.h>
#include <pthread.h>
#include <string.h>
#include <czmq.h>
#include "push.h"

#define s_JWT_MAX 600

struct _push_vapid_t {
    EVP_PKEY *key;
    char *subject;
    int64_t lifetime_ms;
    char public_key [100];
    pthread_mutex_t lock;
    zhashx_t *tokens;           //  origin -> s_token_t
};

typedef struct {
    char jwt [s_JWT_MAX];
    int64_t expires_ms;
} s_token_t;

static void s_token_free (void **item)
{
    free (*item);
    *item = NULL;
}

push_vapid_t *push_vapid_new (EVP_PKEY *key, const char *subject, int64_t lifetime_ms)
{
    push_vapid_t *self = (push_vapid_t *) calloc (1, sizeof *self);
    assert (self);
    self->key = key;
    self->subject = strdup (subject);
    self->lifetime_ms = lifetime_ms;
    pthread_mutex_init (&self->lock, NULL);
    self->tokens = zhashx_new ();
    zhashx_set_destructor (self->tokens, s_token_free);
    uint8_t point [ND_P256_POINT];
    if (!key || nd_p256_public (key, point)
    ||  !nd_b64url_encode (point, sizeof point, self->public_key, sizeof self->public_key))
        push_vapid_destroy (&self);
    return self;
}

void push_vapid_destroy (push_vapid_t **self_p)
{
    push_vapid_t *self = *self_p;
    if (self) {
        EVP_PKEY_free (self->key);
        free (self->subject);
        zhashx_destroy (&self->tokens);
        pthread_mutex_destroy (&self->lock);
        free (self);
        *self_p = NULL;
    }
}

const char *push_vapid_public (push_vapid_t *self)
{
    return self->public_key;
}

static int s_token (push_vapid_t *self, const char *origin, int64_t expires_ms,
                    char *jwt, size_t size)
{
    json_t *header = json_pack ("{s:s, s:s}", "typ", "JWT", "alg", "ES256");
    json_t *claims = json_pack ("{s:s, s:I, s:s}", "aud", origin,
                                "exp", (json_int_t) (expires_ms / 1000), "sub", self->subject);
    int rc = push_jwt_sign (self->key, header, claims, jwt, size);
    json_decref (header);
    json_decref (claims);
    return rc;
}

int push_vapid_authorization (push_vapid_t *self, const char *endpoint, int64_t now_ms,
                              char *header, size_t size)
{
    char origin [256];
    if (nd_http_origin (endpoint, origin, sizeof origin))
        return -1;
    pthread_mutex_lock (&self->lock);
    s_token_t *token = (s_token_t *) zhashx_lookup (self->tokens, origin);
    if (!token || token->expires_ms - now_ms < self->lifetime_ms / 10) {
        s_token_t fresh;
        fresh.expires_ms = now_ms + self->lifetime_ms;
        if (s_token (self, origin, fresh.expires_ms, fresh.jwt, sizeof fresh.jwt))
            token = NULL;
        else {
            s_token_t *copy = (s_token_t *) malloc (sizeof *copy);
            assert (copy);
            *copy = fresh;
            zhashx_update (self->tokens, origin, copy);
            token = copy;
        }
    }
    int rc = token && snprintf (header, size, "Authorization: vapid t=%s, k=%s", token->jwt,
                                self->public_key) < (int) size ? 0 : -1;
    pthread_mutex_unlock (&self->lock);
    return rc;
}

/* ----------------------------------------------------------- self-test -- */

void push_vapid_test (bool verbose)
{
    if (verbose)
        printf (" * push_vapid: ");
    EVP_PKEY *key = nd_p256_generate ();
    push_vapid_t *vapid = push_vapid_new (key, "mailto:ops@shop.example", 12 * 3600 * 1000LL);
    assert (vapid && strlen (push_vapid_public (vapid)) == 87);
    char header [PUSH_VAPID_HEADER_MAX], again [PUSH_VAPID_HEADER_MAX];
    int64_t now = 1800000000000LL;
    assert (push_vapid_authorization (vapid, "https://push.example.net/x/y", now, header,
                                      sizeof header) == 0);
    const char *prefix = "Authorization: vapid t=eyJ0eXAiOiJKV1QiLCJhbGciOiJFUzI1NiJ9.";
    assert (strncmp (header, prefix, strlen (prefix)) == 0);
    assert (strstr (header, push_vapid_public (vapid)));
    //  The claims say who, where and until when
    const char *claims = header + strlen (prefix);
    char encoded [400];
    snprintf (encoded, sizeof encoded, "%.*s", (int) strcspn (claims, "."), claims);
    uint8_t text [300];
    int length = nd_b64url_decode (encoded, text, sizeof text - 1);
    assert (length > 0);
    text [length] = 0;
    assert (strcmp ((char *) text, "{\"aud\":\"https://push.example.net\",\"exp\":1800043200,"
                                   "\"sub\":\"mailto:ops@shop.example\"}") == 0);
    //  The same origin reuses its token; another origin gets its own
    assert (push_vapid_authorization (vapid, "https://push.example.net/z", now + 1000, again,
                                      sizeof again) == 0 && strcmp (header, again) == 0);
    assert (push_vapid_authorization (vapid, "https://other.example/z", now, again,
                                      sizeof again) == 0 && strcmp (header, again));
    //  Renewed near expiry
    assert (push_vapid_authorization (vapid, "https://push.example.net/z", now + 11 * 3600 * 1000LL,
                                      again, sizeof again) == 0 && strcmp (header, again));
    assert (push_vapid_authorization (vapid, "not a url", now, again, sizeof again) == -1);
    push_vapid_destroy (&vapid);
    push_vapid_destroy (&vapid);
    if (verbose)
        printf ("OK\n");
}
