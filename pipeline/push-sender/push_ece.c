/*  push_ece - RFC 8291 message encryption for Web Push.

    A push service must not read what a shop tells its visitors, so each
    message is encrypted to the browser's subscription keys:

      ecdh   = ECDH (a fresh key pair of ours, the subscription's p256dh)
      ikm    = HKDF (salt = auth, ikm = ecdh,
                     info = "WebPush: info" 0x00 ua_public as_public, 32)
      salt   = 16 random bytes
      cek    = HKDF (salt, ikm, "Content-Encoding: aes128gcm" 0x00, 16)
      nonce  = HKDF (salt, ikm, "Content-Encoding: nonce" 0x00, 12)
      body   = salt || rs (4096, 4 bytes) || 65 || as_public
               || AES-128-GCM (cek, nonce, message || 0x02) || tag

    One record, no padding beyond the 0x02 delimiter (RFC 8188 section 2:
    the last record ends with 2). The fetched HKDF and AES-GCM
    implementations are kept, so a message costs two key operations
    (keygen, derive) and no algorithm lookups; they are immutable and
    shared by every worker thread.                                       */
#include <assert.h>
#include <string.h>
#include <openssl/core_names.h>
#include <openssl/kdf.h>
#include <openssl/rand.h>
#include "push.h"

struct _push_ece_t {
    EVP_KDF *hkdf;
    EVP_CIPHER *aes;
};

push_ece_t *push_ece_new (void)
{
    push_ece_t *self = (push_ece_t *) calloc (1, sizeof *self);
    assert (self);
    self->hkdf = EVP_KDF_fetch (NULL, "HKDF", NULL);
    self->aes = EVP_CIPHER_fetch (NULL, "AES-128-GCM", NULL);
    if (!self->hkdf || !self->aes)
        push_ece_destroy (&self);
    return self;
}

void push_ece_destroy (push_ece_t **self_p)
{
    push_ece_t *self = *self_p;
    if (self) {
        EVP_KDF_free (self->hkdf);
        EVP_CIPHER_free (self->aes);
        free (self);
        *self_p = NULL;
    }
}

static int s_hkdf (push_ece_t *self, const uint8_t *salt, size_t salt_size,
                   const uint8_t *ikm, size_t ikm_size, const uint8_t *info, size_t info_size,
                   uint8_t *out, size_t out_size)
{
    EVP_KDF_CTX *ctx = EVP_KDF_CTX_new (self->hkdf);
    OSSL_PARAM params [] = {
        OSSL_PARAM_construct_utf8_string (OSSL_KDF_PARAM_DIGEST, (char *) "SHA256", 0),
        OSSL_PARAM_construct_octet_string (OSSL_KDF_PARAM_SALT, (void *) salt, salt_size),
        OSSL_PARAM_construct_octet_string (OSSL_KDF_PARAM_KEY, (void *) ikm, ikm_size),
        OSSL_PARAM_construct_octet_string (OSSL_KDF_PARAM_INFO, (void *) info, info_size),
        OSSL_PARAM_construct_end ()
    };
    int rc = ctx && EVP_KDF_derive (ctx, out, out_size, params) == 1 ? 0 : -1;
    EVP_KDF_CTX_free (ctx);
    return rc;
}

static int s_ecdh (EVP_PKEY *ours, EVP_PKEY *theirs, uint8_t secret [32])
{
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new (ours, NULL);
    size_t length = 32;
    int rc = ctx && EVP_PKEY_derive_init (ctx) == 1 && EVP_PKEY_derive_set_peer (ctx, theirs) == 1
          && EVP_PKEY_derive (ctx, secret, &length) == 1 && length == 32 ? 0 : -1;
    EVP_PKEY_CTX_free (ctx);
    return rc;
}

//  The content encryption key and nonce for this message.
static int s_keys (push_ece_t *self, EVP_PKEY *as_key, const uint8_t *as_public,
                   EVP_PKEY *ua_key, const uint8_t *ua_public, const uint8_t *auth,
                   const uint8_t *salt, uint8_t cek [16], uint8_t nonce [12])
{
    static const char key_label [] = "WebPush: info";       //  with its NUL
    static const char cek_info [] = "Content-Encoding: aes128gcm";
    static const char nonce_info [] = "Content-Encoding: nonce";
    uint8_t secret [32], ikm [32], info [sizeof key_label + 2 * ND_P256_POINT];
    memcpy (info, key_label, sizeof key_label);
    memcpy (info + sizeof key_label, ua_public, ND_P256_POINT);
    memcpy (info + sizeof key_label + ND_P256_POINT, as_public, ND_P256_POINT);
    int rc = s_ecdh (as_key, ua_key, secret)
          || s_hkdf (self, auth, PUSH_AUTH_SIZE, secret, 32, info, sizeof info, ikm, 32)
          || s_hkdf (self, salt, 16, ikm, 32, (const uint8_t *) cek_info, sizeof cek_info, cek, 16)
          || s_hkdf (self, salt, 16, ikm, 32, (const uint8_t *) nonce_info, sizeof nonce_info,
                     nonce, 12) ? -1 : 0;
    OPENSSL_cleanse (secret, sizeof secret);
    OPENSSL_cleanse (ikm, sizeof ikm);
    return rc;
}

static int s_seal (push_ece_t *self, const uint8_t cek [16], const uint8_t nonce [12],
                   const uint8_t *plain, size_t size, uint8_t *out)
{
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new ();
    int length = 0, more = 0, last = 0;
    int rc = ctx && EVP_EncryptInit_ex2 (ctx, self->aes, cek, nonce, NULL) == 1
          && EVP_EncryptUpdate (ctx, out, &length, plain, (int) size) == 1
          && EVP_EncryptUpdate (ctx, out + length, &more, (const uint8_t *) "\x02", 1) == 1
          && EVP_EncryptFinal_ex (ctx, out + length + more, &last) == 1
          && EVP_CIPHER_CTX_ctrl (ctx, EVP_CTRL_GCM_GET_TAG, PUSH_ECE_TAG,
                                  out + length + more + last) == 1 ? 0 : -1;
    EVP_CIPHER_CTX_free (ctx);
    return rc;
}

int push_ece_encrypt (push_ece_t *self, const uint8_t ua_public [ND_P256_POINT],
                      const uint8_t auth [PUSH_AUTH_SIZE], const uint8_t *plain, size_t size,
                      const push_ece_fixed_t *fixed, uint8_t *out, char *reason,
                      size_t reason_size)
{
    if (size > PUSH_ECE_PLAIN_MAX) {
        snprintf (reason, reason_size, "message of %zu bytes: a push message holds at most %d",
                  size, PUSH_ECE_PLAIN_MAX);
        return -1;
    }
    EVP_PKEY *ua_key = nd_p256_from_public (ua_public);
    if (!ua_key) {
        snprintf (reason, reason_size, "the subscription's p256dh is not a P-256 public key");
        return -1;
    }
    EVP_PKEY *as_key = fixed ? nd_p256_from_private (fixed->as_private) : nd_p256_generate ();
    uint8_t *salt = out, *as_public = out + 21, cek [16], nonce [12];
    int rc = as_key && nd_p256_public (as_key, as_public) == 0 ? 0 : -1;
    if (fixed)
        memcpy (salt, fixed->salt, 16);
    else
    if (rc == 0)
        rc = RAND_bytes (salt, 16) == 1 ? 0 : -1;
    out [16] = 0;
    out [17] = 0;
    out [18] = PUSH_ECE_RECORD >> 8;
    out [19] = PUSH_ECE_RECORD & 0xff;
    out [20] = ND_P256_POINT;
    if (rc == 0)
        rc = s_keys (self, as_key, as_public, ua_key, ua_public, auth, salt, cek, nonce)
          || s_seal (self, cek, nonce, plain, size, out + PUSH_ECE_HEADER) ? -1 : 0;
    OPENSSL_cleanse (cek, sizeof cek);
    EVP_PKEY_free (as_key);
    EVP_PKEY_free (ua_key);
    if (rc) {
        snprintf (reason, reason_size, "encryption failed (OpenSSL)");
        return -1;
    }
    return (int) (PUSH_ECE_HEADER + size + 1 + PUSH_ECE_TAG);
}

/* ----------------------------------------------------------- self-test -- */

static size_t s_decode (const char *text, uint8_t *out, size_t size)
{
    int length = nd_b64url_decode (text, out, size);
    assert (length > 0);
    return (size_t) length;
}

void push_ece_test (bool verbose)
{
    if (verbose)
        printf (" * push_ece: ");
    //  RFC 8291 appendix A
    const char *plain = "When I grow up, I want to be a watermelon";
    uint8_t as_private [32], ua_public [65], auth [16], salt [16], expected [256], out [PUSH_ECE_RECORD];
    s_decode ("yfWPiYE-n46HLnH0KqZOF1fJJU3MYrct3AELtAQ-oRw", as_private, sizeof as_private);
    s_decode ("BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4",
              ua_public, sizeof ua_public);
    s_decode ("BTBZMqHH6r4Tts7J_aSIgg", auth, sizeof auth);
    s_decode ("DGv6ra1nlYgDCS1FRnbzlw", salt, sizeof salt);
    size_t expected_size = s_decode (
        "DGv6ra1nlYgDCS1FRnbzlwAAEABBBP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS"
        "6TlzAC8wEqKK6PBru3jl7A_yl95bQpu6cVPTpK4Mqgkf1CXztLVBSt2Ks3oZwbuwXPXLWyouBWLVWGNWQexSgSxsj_Qulcy4a-fN",
        expected, sizeof expected);
    push_ece_t *ece = push_ece_new ();
    assert (ece);
    char reason [128];
    push_ece_fixed_t fixed = { as_private, salt };
    int size = push_ece_encrypt (ece, ua_public, auth, (const uint8_t *) plain, strlen (plain),
                                 &fixed, out, reason, sizeof reason);
    assert (size == (int) expected_size && memcmp (out, expected, expected_size) == 0);
    //  A fresh key and salt each time: two encryptions never look alike
    uint8_t again [PUSH_ECE_RECORD];
    size = push_ece_encrypt (ece, ua_public, auth, (const uint8_t *) plain, strlen (plain),
                             NULL, out, reason, sizeof reason);
    assert (size == (int) expected_size);
    assert (push_ece_encrypt (ece, ua_public, auth, (const uint8_t *) plain, strlen (plain),
                              NULL, again, reason, sizeof reason) == size);
    assert (memcmp (out, again, 16) && memcmp (out + 21, again + 21, 65));
    //  Limits: 3993 bytes fit in one 4096-byte body, 3994 do not
    uint8_t big [PUSH_ECE_PLAIN_MAX + 1];
    memset (big, 'x', sizeof big);
    assert (push_ece_encrypt (ece, ua_public, auth, big, PUSH_ECE_PLAIN_MAX, NULL, out,
                              reason, sizeof reason) == PUSH_ECE_RECORD);
    assert (push_ece_encrypt (ece, ua_public, auth, big, sizeof big, NULL, out,
                              reason, sizeof reason) == -1 && strstr (reason, "3993"));
    ua_public [64] ^= 1;
    assert (push_ece_encrypt (ece, ua_public, auth, big, 10, NULL, out, reason, sizeof reason) == -1
            && strstr (reason, "p256dh"));
    push_ece_destroy (&ece);
    push_ece_destroy (&ece);
    if (verbose)
        printf ("OK\n");
}
