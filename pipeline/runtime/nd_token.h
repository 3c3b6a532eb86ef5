/*  nd_token.h - signed unsubscribe tokens, and secrets kept out of files.

    A token names a person and a channel and proves that nudge made it:

        base64url ("<channel>:<user>") "." base64url (HMAC-SHA256 (secret,
            "nudge-unsubscribe\0<channel>\0<user>"))

    The mail-sender puts one in every List-Unsubscribe URL; the collector's
    POST /unsubscribe?token=... checks it with the same secret and so needs
    no state and no login: without the secret nobody can make a token for
    someone else, and a token cannot be turned into another person's.

    Secrets are named in the pipeline file, never written there:
    "env:NAME" (an environment variable) or "file:PATH" (the first line of
    a file outside the repository).                                      */
#ifndef ND_TOKEN_H_INCLUDED
#define ND_TOKEN_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>

#define ND_TOKEN_MAX 700            /* room for any token of a 400-byte user */
#define ND_TOKEN_CHANNEL_MAX 32

/*  Writes the token for user on channel ("email") into token. Returns 0,
    or -1 if it does not fit or channel holds ':'.                        */
int nd_token_make (const char *secret, const char *user, const char *channel,
                   char *token, size_t size);

/*  Checks token. Returns 0 and fills user and channel if nudge made it
    with this secret, -1 otherwise (the MAC compared in constant time).   */
int nd_token_verify (const char *secret, const char *token,
                     char *user, size_t user_size, char *channel, size_t channel_size);

/*  Reads a secret named by an option value: "env:NAME" or "file:PATH".
    With create, a file that does not exist yet is made with 32 random
    bytes (hex, mode 0600, atomically, so two stages starting together
    agree): `make run` then works with no set-up. Returns the secret (the
    caller frees it), or NULL with a one-line reason (a literal value is
    refused: secrets do not belong in the pipeline file).                */
char *nd_secret_load (const char *value, bool create, char *reason, size_t reason_size);

/*  Tokens for any purpose ("confirm", "push-event", ...): the payload is
    text of the caller's (fields joined by '\n', say, with an expiry time
    among them when the token must expire), signed as
    HMAC-SHA256 (secret, "nudge-<purpose>\0<payload>"), so a token made for
    one purpose is refused for every other. The token is
    base64url (payload) "." base64url (MAC), safe in a URL as is.
    nd_token_sign returns 0, or -1 if it does not fit in size;
    nd_token_open returns the payload's length, written into payload, or
    -1 if the token was not made with this secret for this purpose.      */
int nd_token_sign (const char *secret, const char *purpose, const char *payload,
                   char *token, size_t size);
int nd_token_open (const char *secret, const char *purpose, const char *token,
                   char *payload, size_t size);

/*  A code of digits (at most 9) a person can type: the first bytes of
    HMAC-SHA256 (secret, "nudge-<purpose>\0<payload>") taken as a number,
    zero-padded. Nothing is stored: whoever has the secret and the payload
    computes it again to check it (nd_token_code_ok, constant time).     */
void nd_token_code (const char *secret, const char *purpose, const char *payload,
                    int digits, char *code, size_t size);
bool nd_token_code_ok (const char *secret, const char *purpose, const char *payload,
                       int digits, const char *code);

/*  What a suppression list keeps of an address it must not hold (an
    erased person's e-mail or phone): HMAC-SHA256 (secret,
    "nudge-suppress\0<address, lower case>") in hex, into hex (65
    bytes). Whoever has the secret and the address finds the entry; the
    entry alone does not give the address back.                          */
void nd_token_address_hash (const char *secret, const char *address, char *hex);

void nd_token_test (bool verbose);

#endif
