/*  nd_token - signed unsubscribe tokens and secrets; see nd_token.h.    */
#define _GNU_SOURCE
#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include "nd_codec.h"
#include "nd_token.h"

#define s_MAC_SIZE 32
#define s_PAYLOAD_MAX 480

/* ------------------------------------------------------------ base64url */

//  URL-safe, unpadded: a token goes into a URL and a mail header as is.
static int s_encode (const unsigned char *data, size_t size, char *out, size_t out_size)
{
    if (ND_B64URL_SIZE (size) > out_size)
        return -1;
    return (int) nd_b64url_encode (data, size, out, out_size);
}

/* ---------------------------------------------------------------- token */

static void s_mac (const char *secret, const char *channel, const char *user,
                   unsigned char *mac)
{
    char message [s_PAYLOAD_MAX + 32];
    int size = snprintf (message, sizeof message, "nudge-unsubscribe%c%s%c%s", 0, channel, 0, user);
    unsigned int mac_size = s_MAC_SIZE;
    HMAC (EVP_sha256 (), secret, (int) strlen (secret), (const unsigned char *) message,
          (size_t) size, mac, &mac_size);
}

//  A token is its payload and its MAC, each in base64url, with a dot
//  between: "payload.mac".
static int s_seal (const char *payload, const unsigned char *mac, char *token, size_t size)
{
    int used = s_encode ((const unsigned char *) payload, strlen (payload), token, size);
    if (used < 0 || (size_t) used + 2 > size)
        return -1;
    token [used++] = '.';
    return s_encode (mac, s_MAC_SIZE, token + used, size - (size_t) used) < 0 ? -1 : 0;
}

//  The MAC is compared as text, so only its one canonical spelling is
//  accepted (base64 leaves spare bits in the last character).
static bool s_mac_matches (const unsigned char *mac, const char *text)
{
    char expected [s_MAC_SIZE * 2];
    size_t length = (size_t) s_encode (mac, s_MAC_SIZE, expected, sizeof expected);
    return strlen (text) == length && CRYPTO_memcmp (expected, text, length) == 0;
}

int nd_token_make (const char *secret, const char *user, const char *channel,
                   char *token, size_t size)
{
    char payload [s_PAYLOAD_MAX];
    if (strchr (channel, ':') || strlen (channel) >= ND_TOKEN_CHANNEL_MAX
    ||  snprintf (payload, sizeof payload, "%s:%s", channel, user) >= (int) sizeof payload)
        return -1;
    unsigned char mac [s_MAC_SIZE];
    s_mac (secret, channel, user, mac);
    return s_seal (payload, mac, token, size);
}

int nd_token_verify (const char *secret, const char *token,
                     char *user, size_t user_size, char *channel, size_t channel_size)
{
    const char *dot = token ? strchr (token, '.') : NULL;
    unsigned char payload [s_PAYLOAD_MAX + 4], mac [s_MAC_SIZE];
    int size = dot ? nd_b64url_decode_strict (token, (size_t) (dot - token), payload, sizeof payload - 1) : -1;
    if (size <= 0)
        return -1;
    payload [size] = 0;
    char *colon = memchr (payload, ':', (size_t) size);
    if (!colon || strlen ((char *) payload) != (size_t) size)
        return -1;              //  no channel, or a NUL inside
    *colon = 0;
    const char *name = (const char *) payload, *who = colon + 1;
    s_mac (secret, name, who, mac);
    if (!s_mac_matches (mac, dot + 1) || strlen (name) >= channel_size || strlen (who) >= user_size)
        return -1;
    strcpy (channel, name);
    strcpy (user, who);
    return 0;
}

/* ------------------------------------------------- tokens for a purpose */

static void s_purpose_mac (const char *secret, const char *purpose, const char *payload,
                           unsigned char *mac)
{
    size_t purpose_size = strlen (purpose), payload_size = strlen (payload);
    size_t size = 6 + purpose_size + 1 + payload_size;
    unsigned char *message = malloc (size);
    assert (message);
    memcpy (message, "nudge-", 6);
    memcpy (message + 6, purpose, purpose_size);
    message [6 + purpose_size] = 0;
    memcpy (message + 7 + purpose_size, payload, payload_size);
    unsigned int mac_size = s_MAC_SIZE;
    HMAC (EVP_sha256 (), secret, (int) strlen (secret), message, size, mac, &mac_size);
    free (message);
}

int nd_token_sign (const char *secret, const char *purpose, const char *payload,
                   char *token, size_t size)
{
    if (strlen (payload) > s_PAYLOAD_MAX)
        return -1;
    unsigned char mac [s_MAC_SIZE];
    s_purpose_mac (secret, purpose, payload, mac);
    return s_seal (payload, mac, token, size);
}

int nd_token_open (const char *secret, const char *purpose, const char *token,
                   char *payload, size_t size)
{
    const char *dot = token ? strchr (token, '.') : NULL;
    unsigned char text [s_PAYLOAD_MAX + 4], mac [s_MAC_SIZE];
    int length = dot ? nd_b64url_decode_strict (token, (size_t) (dot - token), text, sizeof text - 1) : -1;
    if (length < 0)
        return -1;
    text [length] = 0;
    if (strlen ((char *) text) != (size_t) length || (size_t) length >= size)
        return -1;              //  a NUL inside, or no room
    s_purpose_mac (secret, purpose, (char *) text, mac);
    if (!s_mac_matches (mac, dot + 1))
        return -1;
    memcpy (payload, text, (size_t) length + 1);
    return length;
}

void nd_token_code (const char *secret, const char *purpose, const char *payload,
                    int digits, char *code, size_t size)
{
    unsigned char mac [s_MAC_SIZE];
    s_purpose_mac (secret, purpose, payload, mac);
    uint64_t number = 0;
    for (int i = 0; i < 8; i++)
        number = number << 8 | mac [i];
    uint64_t modulus = 1;
    digits = digits < 1 ? 1 : digits > 9 ? 9 : digits;
    for (int i = 0; i < digits; i++)
        modulus *= 10;
    snprintf (code, size, "%0*llu", digits, (unsigned long long) (number % modulus));
}

bool nd_token_code_ok (const char *secret, const char *purpose, const char *payload,
                       int digits, const char *code)
{
    char expected [16];
    nd_token_code (secret, purpose, payload, digits, expected, sizeof expected);
    size_t length = strlen (expected);
    return code && strlen (code) == length && CRYPTO_memcmp (expected, code, length) == 0;
}

/* --------------------------------------------------------------- secret */

void nd_token_address_hash (const char *secret, const char *address, char *hex)
{
    char lower [512];
    size_t i = 0;
    for (; address [i] && i < sizeof lower - 1; i++)
        lower [i] = (char) tolower ((unsigned char) address [i]);
    lower [i] = 0;
    unsigned char mac [32];
    s_purpose_mac (secret, "suppress", lower, mac);
    for (i = 0; i < sizeof mac; i++)
        snprintf (hex + 2 * i, 3, "%02x", mac [i]);
}

static char *s_read_first_line (const char *path)
{
    char line [512] = "";
    FILE *file = fopen (path, "r");
    if (!file)
        return NULL;
    if (!fgets (line, sizeof line, file))
        *line = 0;
    fclose (file);
    line [strcspn (line, "\r\n")] = 0;
    return *line ? strdup (line) : NULL;
}

//  Writes a new random secret beside path, then links it into place:
//  link() fails if another stage got there first, and nobody ever reads
//  a half-written file.
static void s_create_secret (const char *path)
{
    unsigned char random [32];
    char hex [sizeof random * 2 + 2], temp [4096];
    if (RAND_bytes (random, sizeof random) != 1
    ||  snprintf (temp, sizeof temp, "%s.%d.tmp", path, (int) getpid ()) >= (int) sizeof temp)
        return;
    for (size_t i = 0; i < sizeof random; i++)
        sprintf (hex + 2 * i, "%02x", random [i]);
    strcat (hex, "\n");
    int fd = open (temp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return;
    bool written = write (fd, hex, strlen (hex)) == (ssize_t) strlen (hex) && fsync (fd) == 0;
    close (fd);
    if (written && link (temp, path) && errno != EEXIST)
        written = false;
    unlink (temp);
}

char *nd_secret_load (const char *value, bool create, char *reason, size_t reason_size)
{
    char *secret = NULL;
    if (value && strncmp (value, "env:", 4) == 0) {
        const char *text = getenv (value + 4);
        secret = text && *text ? strdup (text) : NULL;
        if (!secret)
            snprintf (reason, reason_size, "environment variable %s is not set", value + 4);
    }
    else
    if (value && strncmp (value, "file:", 5) == 0) {
        if (create && access (value + 5, F_OK))
            s_create_secret (value + 5);
        secret = s_read_first_line (value + 5);
        if (!secret)
            snprintf (reason, reason_size, "cannot read a secret from %s", value + 5);
    }
    else
        snprintf (reason, reason_size, "name the secret as env:NAME or file:PATH, "
                  "never the secret itself");
    return secret;
}

/* ------------------------------------------------------------ self-test */

void nd_token_test (bool verbose)
{
    if (verbose)
        printf (" * nd_token: ");
    //  An address's hash: the same without regard to case, another with
    //  another address or secret, and never the address itself
    char hash [65], same [65], differ [65];
    nd_token_address_hash ("s3cret", "Ewa@Example.com", hash);
    nd_token_address_hash ("s3cret", "ewa@example.COM", same);
    assert (strlen (hash) == 64 && strcmp (hash, same) == 0 && !strstr (hash, "ewa"));
    nd_token_address_hash ("s3cret", "ewb@example.com", differ);
    assert (strcmp (hash, differ));
    nd_token_address_hash ("other", "ewa@example.com", differ);
    assert (strcmp (hash, differ));
    char token [ND_TOKEN_MAX], user [400], channel [ND_TOKEN_CHANNEL_MAX];
    assert (nd_token_make ("s3cret", "v-42:x", "email", token, sizeof token) == 0);
    assert (strspn (token, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.")
            == strlen (token));
    assert (nd_token_verify ("s3cret", token, user, sizeof user, channel, sizeof channel) == 0);
    assert (strcmp (user, "v-42:x") == 0 && strcmp (channel, "email") == 0);
    //  Another secret, a changed payload or a changed MAC: refused
    assert (nd_token_verify ("other", token, user, sizeof user, channel, sizeof channel) == -1);
    char forged [ND_TOKEN_MAX], other [ND_TOKEN_MAX];
    assert (nd_token_make ("s3cret", "v-43", "email", other, sizeof other) == 0);
    snprintf (forged, sizeof forged, "%.*s%s", (int) (strchr (other, '.') - other), other,
              strchr (token, '.'));
    assert (nd_token_verify ("s3cret", forged, user, sizeof user, channel, sizeof channel) == -1);
    token [strlen (token) - 1] ^= 1;
    assert (nd_token_verify ("s3cret", token, user, sizeof user, channel, sizeof channel) == -1);
    assert (nd_token_verify ("s3cret", "", user, sizeof user, channel, sizeof channel) == -1);
    assert (nd_token_verify ("s3cret", "a.b", user, sizeof user, channel, sizeof channel) == -1);
    assert (nd_token_make ("s3cret", "u", "e:mail", token, sizeof token) == -1);
    assert (nd_token_make ("s3cret", "u", "email", token, 20) == -1);

    //  Tokens for a purpose: bound to it, to the secret and to the payload
    char payload [200];
    assert (nd_token_sign ("s3cret", "confirm", "email\nv-1\na@b.example\n1800000000",
                           token, sizeof token) == 0);
    assert (nd_token_open ("s3cret", "confirm", token, payload, sizeof payload) == 32);
    assert (strcmp (payload, "email\nv-1\na@b.example\n1800000000") == 0);
    assert (nd_token_open ("s3cret", "push-event", token, payload, sizeof payload) == -1);
    assert (nd_token_open ("other", "confirm", token, payload, sizeof payload) == -1);
    assert (nd_token_open ("s3cret", "confirm", token, payload, 10) == -1);
    assert (nd_token_sign ("s3cret", "confirm", "", token, sizeof token) == 0);
    assert (nd_token_open ("s3cret", "confirm", token, payload, sizeof payload) == 0);
    //  An unsubscribe token is not a token for any purpose, nor the reverse
    assert (nd_token_make ("s3cret", "v-1", "email", other, sizeof other) == 0);
    assert (nd_token_open ("s3cret", "unsubscribe", other, payload, sizeof payload) == -1);
    assert (nd_token_sign ("s3cret", "unsubscribe", "email:v-1", token, sizeof token) == 0);
    assert (nd_token_verify ("s3cret", token, user, sizeof user, channel, sizeof channel) == -1);
    //  Codes: digits, the same for the same payload, another for another
    char code [16], code2 [16];
    nd_token_code ("s3cret", "sms-code", "v-1\n+48600100200", 6, code, sizeof code);
    nd_token_code ("s3cret", "sms-code", "v-1\n+48600100201", 6, code2, sizeof code2);
    assert (strlen (code) == 6 && strspn (code, "0123456789") == 6 && strcmp (code, code2));
    assert (nd_token_code_ok ("s3cret", "sms-code", "v-1\n+48600100200", 6, code));
    assert (!nd_token_code_ok ("s3cret", "sms-code", "v-1\n+48600100200", 6, code2));
    assert (!nd_token_code_ok ("s3cret", "sms-code", "v-1\n+48600100200", 6, "12345"));
    assert (!nd_token_code_ok ("s3cret", "sms-code", "v-1\n+48600100200", 6, NULL));

    char reason [200];
    assert (!nd_secret_load ("literal", false, reason, sizeof reason));
    setenv ("ND_TOKEN_TEST_SECRET", "abc", 1);
    char *secret = nd_secret_load ("env:ND_TOKEN_TEST_SECRET", false, reason, sizeof reason);
    assert (secret && strcmp (secret, "abc") == 0);
    free (secret);
    char path [64];
    snprintf (path, sizeof path, "/tmp/nd-token-test-%d", (int) getpid ());
    char file [80];
    snprintf (file, sizeof file, "file:%s", path);
    assert (!nd_secret_load (file, false, reason, sizeof reason));
    char *made = nd_secret_load (file, true, reason, sizeof reason);
    char *again = nd_secret_load (file, true, reason, sizeof reason);
    assert (made && again && strlen (made) == 64 && strcmp (made, again) == 0);
    free (made);
    free (again);
    unlink (path);
    if (verbose)
        printf ("OK\n");
}
