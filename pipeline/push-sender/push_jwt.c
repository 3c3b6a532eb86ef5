/*  push_jwt - JSON Web Tokens (RFC 7519) signed the way push services
    want them: ES256 for VAPID (RFC 8292) and APNs, RS256 for the OAuth 2
    assertion that buys an FCM access token (RFC 7523).

        header.claims.signature, each base64url without padding

    ES256's signature is JOSE's r || s (RFC 7518 section 3.4), 32 bytes
    each, not the DER OpenSSL gives; RS256 is PKCS #1 v1.5 with SHA-256.
    The key's type picks the algorithm the header must name.            */
#include <assert.h>
#include <string.h>
#include <czmq.h>
#include <openssl/ecdsa.h>
#include <openssl/pem.h>
#include "push.h"

//  ECDSA gives DER; JOSE wants r || s.
static int s_es256 (EVP_PKEY *key, const char *input, uint8_t *signature, size_t *size)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new ();
    uint8_t der [80];
    size_t der_size = sizeof der;
    int rc = ctx && EVP_DigestSignInit (ctx, NULL, EVP_sha256 (), NULL, key) == 1
          && EVP_DigestSign (ctx, der, &der_size, (const uint8_t *) input, strlen (input)) == 1
          ? 0 : -1;
    EVP_MD_CTX_free (ctx);
    const uint8_t *p = der;
    ECDSA_SIG *sig = rc == 0 ? d2i_ECDSA_SIG (NULL, &p, (long) der_size) : NULL;
    rc = sig && BN_bn2binpad (ECDSA_SIG_get0_r (sig), signature, 32) == 32
             && BN_bn2binpad (ECDSA_SIG_get0_s (sig), signature + 32, 32) == 32 ? 0 : -1;
    ECDSA_SIG_free (sig);
    *size = 64;
    return rc;
}

static int s_rs256 (EVP_PKEY *key, const char *input, uint8_t *signature, size_t *size)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new ();
    int rc = ctx && EVP_DigestSignInit (ctx, NULL, EVP_sha256 (), NULL, key) == 1
          && EVP_DigestSign (ctx, signature, size, (const uint8_t *) input, strlen (input)) == 1
          ? 0 : -1;
    EVP_MD_CTX_free (ctx);
    return rc;
}

//  Appends base64url (text) to out at *used; -1 when it does not fit.
static int s_append (char *out, size_t size, size_t *used, const uint8_t *data, size_t length)
{
    size_t wrote = nd_b64url_encode (data, length, out + *used, size - *used);
    if (!wrote && length)
        return -1;
    *used += wrote;
    return 0;
}

int push_jwt_sign (EVP_PKEY *key, const json_t *header, const json_t *claims, char *jwt,
                   size_t size)
{
    bool rsa = EVP_PKEY_get_base_id (key) == EVP_PKEY_RSA;
    const char *alg = json_string_value (json_object_get (header, "alg"));
    if (!alg || !streq (alg, rsa ? "RS256" : "ES256"))
        return -1;
    char *parts [2] = { json_dumps (header, JSON_COMPACT), json_dumps (claims, JSON_COMPACT) };
    size_t used = 0;
    int rc = parts [0] && parts [1] ? 0 : -1;
    for (int i = 0; rc == 0 && i < 2; i++) {
        rc = s_append (jwt, size, &used, (const uint8_t *) parts [i], strlen (parts [i]));
        if (rc == 0 && used + 1 < size)
            jwt [used++] = '.';
        else
            rc = -1;
    }
    free (parts [0]);
    free (parts [1]);
    uint8_t signature [1024];               //  RSA up to 8192 bits
    size_t length = sizeof signature;
    if (rc || used >= size)
        return -1;
    jwt [used - 1] = 0;                     //  what is signed: header.claims
    rc = rsa ? s_rs256 (key, jwt, signature, &length) : s_es256 (key, jwt, signature, &length);
    jwt [used - 1] = '.';
    if (rc == 0)
        rc = s_append (jwt, size, &used, signature, length);
    OPENSSL_cleanse (signature, sizeof signature);
    return rc;
}

EVP_PKEY *push_jwt_rsa_parse (const char *pem)
{
    BIO *bio = BIO_new_mem_buf (pem, -1);
    EVP_PKEY *key = bio ? PEM_read_bio_PrivateKey (bio, NULL, NULL, NULL) : NULL;
    BIO_free (bio);
    if (key && EVP_PKEY_get_base_id (key) != EVP_PKEY_RSA) {
        EVP_PKEY_free (key);
        key = NULL;
    }
    return key;
}

/* ----------------------------------------------------------- self-test -- */

//  Checks jwt's signature with key's public half; the claims, decoded, into out.
static int s_verify (EVP_PKEY *key, const char *jwt, char *out, size_t size)
{
    const char *dot = strchr (jwt, '.'), *last = strrchr (jwt, '.');
    assert (dot && last && dot != last);
    char input [2048], encoded [1024];
    snprintf (input, sizeof input, "%.*s", (int) (last - jwt), jwt);
    snprintf (encoded, sizeof encoded, "%.*s", (int) (last - dot - 1), dot + 1);
    int length = nd_b64url_decode (encoded, (uint8_t *) out, size - 1);
    assert (length > 0);
    out [length] = 0;
    uint8_t signature [1024];
    int sig_size = nd_b64url_decode (last + 1, signature, sizeof signature);
    assert (sig_size > 0);
    uint8_t der [80];
    size_t der_size = (size_t) sig_size;
    const uint8_t *checked = signature;
    if (EVP_PKEY_get_base_id (key) != EVP_PKEY_RSA) {
        ECDSA_SIG *sig = ECDSA_SIG_new ();
        ECDSA_SIG_set0 (sig, BN_bin2bn (signature, 32, NULL), BN_bin2bn (signature + 32, 32, NULL));
        uint8_t *p = der;
        der_size = (size_t) i2d_ECDSA_SIG (sig, &p);
        ECDSA_SIG_free (sig);
        checked = der;
    }
    EVP_MD_CTX *ctx = EVP_MD_CTX_new ();
    int ok = EVP_DigestVerifyInit (ctx, NULL, EVP_sha256 (), NULL, key) == 1
          && EVP_DigestVerify (ctx, checked, der_size, (const uint8_t *) input,
                               strlen (input)) == 1;
    EVP_MD_CTX_free (ctx);
    return ok ? 0 : -1;
}

void push_jwt_test (bool verbose)
{
    if (verbose)
        printf (" * push_jwt: ");
    char jwt [2048], claims [1024];
    json_t *header = json_pack ("{s:s, s:s}", "alg", "ES256", "kid", "ABC123DEFG");
    json_t *body = json_pack ("{s:s, s:I}", "iss", "DEF123GHIJ", "iat", (json_int_t) 1800000000);
    EVP_PKEY *ec = nd_p256_generate ();
    assert (push_jwt_sign (ec, header, body, jwt, sizeof jwt) == 0);
    assert (strncmp (jwt, "eyJhbGciOiJFUzI1NiIsImtpZCI6IkFCQzEyM0RFRkcifQ.", 47) == 0);
    assert (s_verify (ec, jwt, claims, sizeof claims) == 0);
    assert (streq (claims, "{\"iss\":\"DEF123GHIJ\",\"iat\":1800000000}"));
    char *changed = jwt + strlen (jwt) - 2;  //  a changed signature does not verify
    *changed = *changed == 'A' ? 'B' : 'A';
    assert (s_verify (ec, jwt, claims, sizeof claims) == -1);
    assert (push_jwt_sign (ec, header, body, jwt, 60) == -1);       //  no room
    //  RS256, and a key never signs under the other algorithm's name
    EVP_PKEY *rsa = EVP_RSA_gen (2048);
    assert (rsa && push_jwt_sign (rsa, header, body, jwt, sizeof jwt) == -1);
    json_object_set_new (header, "alg", json_string ("RS256"));
    assert (push_jwt_sign (ec, header, body, jwt, sizeof jwt) == -1);
    assert (push_jwt_sign (rsa, header, body, jwt, sizeof jwt) == 0);
    assert (s_verify (rsa, jwt, claims, sizeof claims) == 0);
    //  PEM in, RSA only
    BIO *bio = BIO_new (BIO_s_mem ());
    PEM_write_bio_PrivateKey (bio, rsa, NULL, NULL, 0, NULL, NULL);
    char *pem = NULL;
    long length = BIO_get_mem_data (bio, &pem);
    char *text = strndup (pem, (size_t) length);
    EVP_PKEY *parsed = push_jwt_rsa_parse (text);
    assert (parsed && EVP_PKEY_eq (parsed, rsa) == 1);
    assert (!push_jwt_rsa_parse ("-----BEGIN PRIVATE KEY-----\nnonsense\n"));
    free (text);
    BIO_free (bio);
    EVP_PKEY_free (parsed);
    EVP_PKEY_free (rsa);
    EVP_PKEY_free (ec);
    json_decref (header);
    json_decref (body);
    if (verbose)
        printf ("OK\n");
}
