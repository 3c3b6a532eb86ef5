/*  nd_p256.h - P-256 keys as Web Push writes them.

    The push-sender signs with the shop's VAPID key (RFC 8292) and
    encrypts to each browser's key (RFC 8291); the collector tells the
    shop's pages the VAPID key's public half (GET /v1/push/key), which
    they subscribe with (applicationServerKey); nd-vapid makes the key.
    All of them read keys through here:

        char reason [200], public_key [ND_P256_TEXT];
        EVP_PKEY *key = nd_p256_load ("file:var/vapid.key", reason, sizeof reason);
        nd_p256_public_text (key, public_key, sizeof public_key);  */
#ifndef ND_P256_H_INCLUDED
#define ND_P256_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <openssl/evp.h>
#include "nd_codec.h"               /* the keys' text: nd_b64url_* */

#define ND_P256_POINT 65        //  uncompressed P-256 point: 0x04 || X || Y
#define ND_P256_SCALAR 32       //  P-256 private key
#define ND_P256_TEXT 90         //  room for a point in base64url (87 characters)


EVP_PKEY *nd_p256_generate (void);
EVP_PKEY *nd_p256_from_private (const uint8_t d [ND_P256_SCALAR]);
/*  NULL unless point is on the curve.                                   */
EVP_PKEY *nd_p256_from_public (const uint8_t point [ND_P256_POINT]);
int nd_p256_public (EVP_PKEY *key, uint8_t point [ND_P256_POINT]);
int nd_p256_private (EVP_PKEY *key, uint8_t d [ND_P256_SCALAR]);
/*  The public point as base64url (Web Push's applicationServerKey).
    Returns 0, or -1.                                                    */
int nd_p256_public_text (EVP_PKEY *key, char *text, size_t size);
/*  A private key as base64url of its 32 bytes (what nd-vapid and the
    web-push libraries print) or PEM (PKCS#8 or "EC PRIVATE KEY").      */
EVP_PKEY *nd_p256_parse (const char *text, char *reason, size_t size);
/*  The private key an option names ("file:PATH" or "env:NAME", as
    nd_secret_load reads them; a PEM file whole). Warns when the file is
    readable by others. NULL with a one-line reason; the key text is
    never logged and is wiped from memory once parsed.                   */
EVP_PKEY *nd_p256_load (const char *name, char *reason, size_t size);
void nd_p256_test (bool verbose);

#endif
