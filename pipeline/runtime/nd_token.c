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
#include <pthread.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
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

/* ------------------------------------------------------------------ MAC */

//  HMAC () fetches HMAC and SHA-256 from the provider and hashes the key
//  into a new context on every call, which costs more than the MAC itself
//  (the mail-sender signs every link of every message). So a secret's keyed
//  context is made once and kept, and each MAC works on a copy of it:
//  EVP_MAC_CTX_dup only reads the kept one, so threads (the senders'
//  workers, the collector's connections) share it without a lock, and
//  the lock guards only finding it. The callers pass secrets they hold
//  for the whole run, a few each, so what is kept is never dropped; past
//  s_KEYS_MAX secrets a context is keyed for each call.
#define s_KEYS_MAX 16

static struct {
    pthread_mutex_t lock;
    EVP_MAC *hmac;
    size_t count;
    char *secret [s_KEYS_MAX];
    EVP_MAC_CTX *keyed [s_KEYS_MAX];
} s_keys = { .lock = PTHREAD_MUTEX_INITIALIZER };

static EVP_MAC_CTX *s_new_keyed (EVP_MAC *hmac, const char *secret)
{
    char digest [] = "SHA256";
    OSSL_PARAM params [] = {
        OSSL_PARAM_construct_utf8_string (OSSL_MAC_PARAM_DIGEST, digest, 0),
        OSSL_PARAM_construct_end ()
    };
    EVP_MAC_CTX *context = hmac ? EVP_MAC_CTX_new (hmac) : NULL;
    if (context
    &&  !EVP_MAC_init (context, (const unsigned char *) secret, strlen (secret), params)) {
        EVP_MAC_CTX_free (context);
        context = NULL;
    }
    return context;
}

//  A context keyed with secret for one MAC; the caller frees it.
static EVP_MAC_CTX *s_keyed (const char *secret)
{
    pthread_mutex_lock (&s_keys.lock);
    if (!s_keys.hmac)
        s_keys.hmac = EVP_MAC_fetch (NULL, "HMAC", NULL);
    size_t index = 0;
    while (index < s_keys.count && strcmp (s_keys.secret [index], secret))
        index++;
    if (index == s_keys.count && index < s_KEYS_MAX
    &&  (s_keys.keyed [index] = s_new_keyed (s_keys.hmac, secret))) {
        s_keys.secret [index] = strdup (secret);
        assert (s_keys.secret [index]);
        s_keys.count++;
    }
    const EVP_MAC_CTX *kept = index < s_keys.count ? s_keys.keyed [index] : NULL;
    EVP_MAC *hmac = s_keys.hmac;
    pthread_mutex_unlock (&s_keys.lock);
    return kept ? EVP_MAC_CTX_dup (kept) : s_new_keyed (hmac, secret);
}

//  HMAC-SHA256 (secret, "nudge-<purpose>\0<payload>"), with "\0<more>"
//  after it when more is given. A MAC that cannot be computed (no memory)
//  stops the program: the caller could only compare against garbage.
static void s_mac (const char *secret, const char *purpose, const char *payload,
                   const char *more, unsigned char *mac)
{
    EVP_MAC_CTX *context = s_keyed (secret);
    size_t size = 0;
    bool done = context
        &&  EVP_MAC_update (context, (const unsigned char *) "nudge-", 6)
        &&  EVP_MAC_update (context, (const unsigned char *) purpose, strlen (purpose) + 1)
        &&  EVP_MAC_update (context, (const unsigned char *) payload, strlen (payload) + (more != NULL))
        &&  (!more || EVP_MAC_update (context, (const unsigned char *) more, strlen (more)))
        &&  EVP_MAC_final (context, mac, &size, s_MAC_SIZE) && size == s_MAC_SIZE;
    EVP_MAC_CTX_free (context);
    if (!done) {
        fprintf (stderr, "nd_token: cannot compute HMAC-SHA256 (out of memory?)\n");
        abort ();
    }
}

/* ---------------------------------------------------------------- token */

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
    s_mac (secret, "unsubscribe", channel, user, mac);
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
    s_mac (secret, "unsubscribe", name, who, mac);
    if (!s_mac_matches (mac, dot + 1) || strlen (name) >= channel_size || strlen (who) >= user_size)
        return -1;
    strcpy (channel, name);
    strcpy (user, who);
    return 0;
}

/* ------------------------------------------------- tokens for a purpose */

int nd_token_sign (const char *secret, const char *purpose, const char *payload,
                   char *token, size_t size)
{
    if (strlen (payload) > s_PAYLOAD_MAX)
        return -1;
    unsigned char mac [s_MAC_SIZE];
    s_mac (secret, purpose, payload, NULL, mac);
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
    s_mac (secret, purpose, (char *) text, NULL, mac);
    if (!s_mac_matches (mac, dot + 1))
        return -1;
    memcpy (payload, text, (size_t) length + 1);
    return length;
}

void nd_token_code (const char *secret, const char *purpose, const char *payload,
                    int digits, char *code, size_t size)
{
    unsigned char mac [s_MAC_SIZE];
    s_mac (secret, purpose, payload, NULL, mac);
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
    s_mac (secret, "suppress", lower, NULL, mac);
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

//  What HMAC () made before the keyed contexts were kept (the same as
//  `printf 'nudge-unsubscribe\0email\0v-42:x' | openssl dgst -sha256
//  -hmac s3cret`): links already sent must keep working.
static void s_test_known (const char *secret)
{
    char token [ND_TOKEN_MAX], code [16], hash [65];
    assert (nd_token_make (secret, "v-42:x", "email", token, sizeof token) == 0);
    assert (strcmp (token, "ZW1haWw6di00Mjp4.vrUk4O4LURkBHVfejz3-viR_g7d0IPd7Sx7cWYLmG_0") == 0);
    assert (nd_token_sign (secret, "confirm", "email\nv-1\na@b.example\n1800000000",
                           token, sizeof token) == 0);
    assert (strcmp (token, "ZW1haWwKdi0xCmFAYi5leGFtcGxlCjE4MDAwMDAwMDA"
                          ".V0uMffOBA0vVYFy7u-F_K6Aum0zpt9sWASNsuK_738Y") == 0);
    assert (nd_token_sign (secret, "confirm", "", token, sizeof token) == 0);
    assert (strcmp (token, ".ihRnF-OE3Czpm4dSJESjDJFhtgo9veDq13jpO1PRYWQ") == 0);
    nd_token_code (secret, "sms-code", "v-1\n+48600100200", 6, code, sizeof code);
    assert (strcmp (code, "809257") == 0);
    nd_token_address_hash (secret, "Ewa@Example.com", hash);
    assert (strcmp (hash, "f40a9d77958d3c8aac064a8c62e89a8a4d3045f651766a9537ebef4f5d753996") == 0);
}

static void *s_test_thread (void *secret)
{
    for (int round = 0; round < 50; round++)
        s_test_known (secret);
    return NULL;
}

//  The same bytes as ever: from a new secret, a kept one, from threads
//  at once, and past the secrets kept (each call keyed anew)
static void s_test_kept_keys (void)
{
    s_test_known ("s3cret");
    s_test_known ("s3cret");
    pthread_t threads [4];
    int started = 0;
    while (started < 4 && pthread_create (&threads [started], NULL, s_test_thread, "s3cret") == 0)
        started++;
    assert (started == 4);
    while (started)
        pthread_join (threads [--started], NULL);
    char token [ND_TOKEN_MAX], secret [32];
    for (int i = 0; i < s_KEYS_MAX + 2; i++) {
        snprintf (secret, sizeof secret, "secret-%d", i);
        assert (nd_token_sign (secret, "test", "payload", token, sizeof token) == 0);
    }
    char opened [16];
    assert (nd_token_open ("secret-0", "test", token, opened, sizeof opened) == -1);
    assert (nd_token_open (secret, "test", token, opened, sizeof opened) == 7);
    s_test_known ("s3cret");
}

void nd_token_test (bool verbose)
{
    if (verbose)
        printf (" * nd_token: ");
    s_test_kept_keys ();
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
