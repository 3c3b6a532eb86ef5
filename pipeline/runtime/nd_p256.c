/*  nd_p256 - P-256 keys as Web Push writes them.

    Browsers give a subscription's keys as base64url without padding
    (PushSubscription.toJSON, read with nd_codec), and the shop's page
    needs the server's public key the same way (applicationServerKey).
    OpenSSL 3 builds EC keys from parameters, hence these helpers.       */
#include <assert.h>
#include <string.h>
#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <sys/stat.h>
#include <czmq.h>
#include "nd.h"
#include "nd_p256.h"
#include "nd_token.h"

/* ---------------------------------------------------------------- keys -- */

EVP_PKEY *nd_p256_generate (void)
{
    return EVP_PKEY_Q_keygen (NULL, NULL, "EC", "P-256");
}

static EVP_PKEY *s_from_params (OSSL_PARAM_BLD *build, int selection)
{
    OSSL_PARAM *params = OSSL_PARAM_BLD_to_param (build);
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name (NULL, "EC", NULL);
    EVP_PKEY *key = NULL;
    if (params && ctx && EVP_PKEY_fromdata_init (ctx) == 1)
        EVP_PKEY_fromdata (ctx, &key, selection, params);
    EVP_PKEY_CTX_free (ctx);
    OSSL_PARAM_free (params);
    return key;
}

//  d * G: OpenSSL 3 imports a private key without computing its public half.
static int s_public_of (const BIGNUM *d, uint8_t point [ND_P256_POINT])
{
    EC_GROUP *group = EC_GROUP_new_by_curve_name (NID_X9_62_prime256v1);
    EC_POINT *p = group ? EC_POINT_new (group) : NULL;
    int rc = p && EC_POINT_mul (group, p, d, NULL, NULL, NULL) == 1
          && EC_POINT_point2oct (group, p, POINT_CONVERSION_UNCOMPRESSED, point,
                                 ND_P256_POINT, NULL) == ND_P256_POINT ? 0 : -1;
    EC_POINT_free (p);
    EC_GROUP_free (group);
    return rc;
}

EVP_PKEY *nd_p256_from_private (const uint8_t d [ND_P256_SCALAR])
{
    BIGNUM *scalar = BN_bin2bn (d, ND_P256_SCALAR, NULL);
    uint8_t point [ND_P256_POINT];
    EVP_PKEY *key = NULL;
    if (scalar && !BN_is_zero (scalar) && s_public_of (scalar, point) == 0) {
        OSSL_PARAM_BLD *build = OSSL_PARAM_BLD_new ();
        OSSL_PARAM_BLD_push_utf8_string (build, OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0);
        OSSL_PARAM_BLD_push_BN (build, OSSL_PKEY_PARAM_PRIV_KEY, scalar);
        OSSL_PARAM_BLD_push_octet_string (build, OSSL_PKEY_PARAM_PUB_KEY, point, sizeof point);
        key = s_from_params (build, EVP_PKEY_KEYPAIR);
        OSSL_PARAM_BLD_free (build);
    }
    BN_clear_free (scalar);
    return key;
}

EVP_PKEY *nd_p256_from_public (const uint8_t point [ND_P256_POINT])
{
    if (point [0] != 0x04)
        return NULL;
    OSSL_PARAM_BLD *build = OSSL_PARAM_BLD_new ();
    OSSL_PARAM_BLD_push_utf8_string (build, OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0);
    OSSL_PARAM_BLD_push_octet_string (build, OSSL_PKEY_PARAM_PUB_KEY, point, ND_P256_POINT);
    //  Decoding the point checks that it is on the curve
    EVP_PKEY *key = s_from_params (build, EVP_PKEY_PUBLIC_KEY);
    OSSL_PARAM_BLD_free (build);
    return key;
}

int nd_p256_public (EVP_PKEY *key, uint8_t point [ND_P256_POINT])
{
    size_t length = 0;
    //  Keys from PEM may prefer the compressed form; ask for the full point
    EVP_PKEY_set_utf8_string_param (key, OSSL_PKEY_PARAM_EC_POINT_CONVERSION_FORMAT, "uncompressed");
    return EVP_PKEY_get_octet_string_param (key, OSSL_PKEY_PARAM_PUB_KEY, point,
                                            ND_P256_POINT, &length) == 1
        && length == ND_P256_POINT && point [0] == 0x04 ? 0 : -1;
}

int nd_p256_private (EVP_PKEY *key, uint8_t d [ND_P256_SCALAR])
{
    BIGNUM *scalar = NULL;
    int rc = EVP_PKEY_get_bn_param (key, OSSL_PKEY_PARAM_PRIV_KEY, &scalar) == 1
          && BN_bn2binpad (scalar, d, ND_P256_SCALAR) == ND_P256_SCALAR ? 0 : -1;
    BN_clear_free (scalar);
    return rc;
}

static bool s_is_p256 (EVP_PKEY *key)
{
    char group [32] = "";
    return EVP_PKEY_is_a (key, "EC")
        && EVP_PKEY_get_utf8_string_param (key, OSSL_PKEY_PARAM_GROUP_NAME, group,
                                           sizeof group, NULL) == 1
        && (strcmp (group, "prime256v1") == 0 || strcmp (group, "P-256") == 0);
}

EVP_PKEY *nd_p256_parse (const char *text, char *reason, size_t size)
{
    EVP_PKEY *key = NULL;
    if (strstr (text, "-----BEGIN")) {
        BIO *bio = BIO_new_mem_buf (text, -1);
        key = bio ? PEM_read_bio_PrivateKey (bio, NULL, NULL, NULL) : NULL;
        BIO_free (bio);
        ERR_clear_error ();
        if (key && !s_is_p256 (key)) {
            EVP_PKEY_free (key);
            snprintf (reason, size, "the PEM key is not a P-256 (prime256v1) EC key");
            return NULL;
        }
        if (!key)
            snprintf (reason, size, "the PEM text holds no private key OpenSSL can read");
        return key;
    }
    char clean [128];
    snprintf (clean, sizeof clean, "%.*s", (int) strcspn (text, " \t\r\n"), text);
    uint8_t d [ND_P256_SCALAR + 3];
    if (nd_b64url_decode (clean, d, sizeof d) == ND_P256_SCALAR)
        key = nd_p256_from_private (d);
    OPENSSL_cleanse (d, sizeof d);
    OPENSSL_cleanse (clean, sizeof clean);
    if (!key)
        snprintf (reason, size, "not a P-256 private key: expected 32 bytes in base64url "
                  "(as nd-vapid prints it) or PEM");
    return key;
}

int nd_p256_public_text (EVP_PKEY *key, char *text, size_t size)
{
    uint8_t point [ND_P256_POINT];
    return key && nd_p256_public (key, point) == 0
        && nd_b64url_encode (point, sizeof point, text, size) ? 0 : -1;
}

EVP_PKEY *nd_p256_load (const char *name, char *reason, size_t size)
{
    char *text = nd_secret_load (name, false, reason, size);
    if (text && strncmp (name, "file:", 5) == 0 && strncmp (text, "-----BEGIN", 10) == 0) {
        zchunk_t *chunk = zchunk_slurp (name + 5, 0);       //  PEM spans lines
        OPENSSL_cleanse (text, strlen (text));
        free (text);
        text = chunk ? strndup ((char *) zchunk_data (chunk), zchunk_size (chunk)) : NULL;
        if (chunk)
            OPENSSL_cleanse (zchunk_data (chunk), zchunk_size (chunk));
        zchunk_destroy (&chunk);
        if (!text)
            snprintf (reason, size, "cannot read %s", name + 5);
    }
    struct stat st;
    if (text && strncmp (name, "file:", 5) == 0 && stat (name + 5, &st) == 0 && (st.st_mode & 077))
        nd_log ("warning: %s is readable by others than its owner (chmod 600)", name + 5);
    EVP_PKEY *key = text ? nd_p256_parse (text, reason, size) : NULL;
    if (text) {
        OPENSSL_cleanse (text, strlen (text));
        free (text);
    }
    return key;
}

/* ----------------------------------------------------------- self-test -- */

void nd_p256_test (bool verbose)
{
    if (verbose)
        printf (" * nd_p256: ");
    char text [128];
    //  A generated key survives private -> public -> key again
    EVP_PKEY *key = nd_p256_generate ();
    uint8_t d [ND_P256_SCALAR], point [ND_P256_POINT], again [ND_P256_POINT];
    assert (key && nd_p256_private (key, d) == 0 && nd_p256_public (key, point) == 0);
    EVP_PKEY *copy = nd_p256_from_private (d);
    assert (copy && nd_p256_public (copy, again) == 0 && memcmp (point, again, sizeof point) == 0);
    EVP_PKEY_free (copy);
    copy = nd_p256_from_public (point);
    assert (copy);
    EVP_PKEY_free (copy);
    point [40] ^= 1;                    //  off the curve now
    assert (!nd_p256_from_public (point));
    char reason [160];
    nd_b64url_encode (d, sizeof d, text, sizeof text);
    copy = nd_p256_parse (text, reason, sizeof reason);
    assert (copy);
    EVP_PKEY_free (copy);
    BIO *bio = BIO_new (BIO_s_mem ());
    PEM_write_bio_PrivateKey (bio, key, NULL, NULL, 0, NULL, NULL);
    char pem [1024] = "";
    BIO_read (bio, pem, sizeof pem - 1);
    BIO_free (bio);
    copy = nd_p256_parse (pem, reason, sizeof reason);
    assert (copy && nd_p256_public (copy, again) == 0);
    EVP_PKEY_free (copy);
    assert (!nd_p256_parse ("c2hvcnQ", reason, sizeof reason));
    EVP_PKEY_free (key);
    if (verbose)
        printf ("OK\n");
}
