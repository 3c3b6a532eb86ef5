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

void nd_token_test (bool verbose);

#endif
