/*  codecs - nd_codec's base64url and E.164 check against what others
    write: OpenSSL's base64 (the other alphabet, padded) on random bytes
    of every length, the RFC 4648 vectors, and phone numbers as shops
    and providers spell them.                                           */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include "nd_codec.h"
#include "tests.h"

static int s_failed;

static void s_check (bool ok, const char *what, const char *detail)
{
    if (!ok) {
        printf ("codecs: not ok - %s (%s)\n", what, detail);
        s_failed++;
    }
}

//  OpenSSL's base64, made base64url as the codec should write it.
static void s_reference (const uint8_t *data, size_t size, char *out)
{
    int length = EVP_EncodeBlock ((unsigned char *) out, data, (int) size);
    while (length > 0 && out [length - 1] == '=')
        out [--length] = 0;
    for (char *p = out; *p; p++)
        *p = *p == '+' ? '-' : *p == '/' ? '_' : *p;
}

static void s_base64url (void)
{
    //  RFC 4648 section 10, unpadded
    const char *vectors [][2] = { { "", "" }, { "f", "Zg" }, { "fo", "Zm8" }, { "foo", "Zm9v" },
                                  { "foob", "Zm9vYg" }, { "fooba", "Zm9vYmE" }, { "foobar", "Zm9vYmFy" } };
    char text [512];
    uint8_t bytes [300], again [300];
    for (size_t i = 0; i < sizeof vectors / sizeof vectors [0]; i++) {
        size_t size = strlen (vectors [i][0]);
        size_t length = nd_b64url_encode ((const uint8_t *) vectors [i][0], size, text, sizeof text);
        s_check (length == strlen (vectors [i][1]) && strcmp (text, vectors [i][1]) == 0,
                 "RFC 4648 vector encodes", vectors [i][0]);
        int decoded = nd_b64url_decode_strict (vectors [i][1], strlen (vectors [i][1]), bytes, sizeof bytes);
        s_check (decoded == (int) size && memcmp (bytes, vectors [i][0], size) == 0,
                 "RFC 4648 vector decodes", vectors [i][1]);
    }
    //  Random bytes of every length up to 256: as OpenSSL writes them,
    //  read back by both decoders, and the padded standard form by the lenient one
    for (size_t size = 0; size <= 256; size++) {
        char expected [512], padded [512];
        assert (RAND_bytes (bytes, (int) size) == 1 || size == 0);
        s_reference (bytes, size, expected);
        size_t length = nd_b64url_encode (bytes, size, text, sizeof text);
        s_check (length == strlen (expected) && strcmp (text, expected) == 0, "encodes as OpenSSL", text);
        s_check (ND_B64URL_SIZE (size) == length + 1, "ND_B64URL_SIZE is exact", text);
        s_check (nd_b64url_encode (bytes, size, text, length) == 0 || size == 0,
                 "refuses a buffer one short", text);
        nd_b64url_encode (bytes, size, text, sizeof text);
        s_check (nd_b64url_decode_strict (text, length, again, sizeof again) == (int) size
                 && memcmp (again, bytes, size) == 0, "strict round trip", text);
        s_check (nd_b64url_decode (text, again, sizeof again) == (int) size
                 && memcmp (again, bytes, size) == 0, "lenient round trip", text);
        EVP_EncodeBlock ((unsigned char *) padded, bytes, (int) size);
        s_check (nd_b64url_decode (padded, again, sizeof again) == (int) size
                 && memcmp (again, bytes, size) == 0, "reads OpenSSL's padded base64", padded);
        s_check (!strpbrk (padded, "+/=") || nd_b64url_decode_strict (padded, strlen (padded),
                 again, sizeof again) == -1, "strict refuses the other alphabet", padded);
        s_check (size == 0 || nd_b64url_decode_strict (text, length, again, size - 1) == -1,
                 "refuses a buffer one short when decoding", text);
    }
    const char *bad [] = { "Y", "YW=J", "a b", "YW\nJj", "Zm9v!", NULL };
    for (size_t i = 0; bad [i]; i++)
        s_check (nd_b64url_decode (bad [i], bytes, sizeof bytes) == -1
                 && nd_b64url_decode_strict (bad [i], strlen (bad [i]), bytes, sizeof bytes) == -1,
                 "refuses text that is not base64", bad [i]);
}

static void s_phones (void)
{
    const char *good [] = { "+48600100200", "+12025550123", "+4412345678", "+123456789012345", NULL };
    const char *bad [] = { "48600100200", "+0600100200", "+4860010020a", "+1234567",
                           "+1234567890123456", "+48 600 100 200", "+48-600-100-200", "",
                           "+", "++48600100200", "+48600100200 ", "00486001002", NULL };
    for (size_t i = 0; good [i]; i++)
        s_check (nd_phone_e164 (good [i]), "an E.164 number is taken", good [i]);
    for (size_t i = 0; bad [i]; i++)
        s_check (!nd_phone_e164 (bad [i]), "not E.164, refused", bad [i]);
    s_check (!nd_phone_e164 (NULL), "NULL refused", "NULL");
}

int codecs_run (bool verbose)
{
    s_failed = 0;
    s_base64url ();
    s_phones ();
    if (verbose || s_failed)
        printf ("codecs: %s\n", s_failed ? "FAILED" : "ok");
    return s_failed;
}
