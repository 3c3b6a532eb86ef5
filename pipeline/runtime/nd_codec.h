/*  nd_codec.h - the small text codecs every stage writes the same way.

    base64url (RFC 4648 section 5, no padding) for whatever goes into a
    URL or a header as is: Web Push keys and VAPID's JWT (push-sender,
    collector, nd-vapid), signed tokens (nd_token). One codec, one
    alphabet, so a key or a token one program writes every other reads.

    E.164 (ITU-T) for phone numbers: "+", then 8 to 15 digits, the first
    not 0. The scheduler asks it before it sends an SMS order, the
    sms-sender before it calls a provider and when a webhook names a
    number: one rule, so nothing the scheduler lets through is refused
    downstream for a different reason.

        char text [ND_B64URL_SIZE (32)];
        nd_b64url_encode (key, 32, text, sizeof text);
        if (nd_phone_e164 (json_string_value (phone))) ...             */
#ifndef ND_CODEC_H_INCLUDED
#define ND_CODEC_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*  Room for size bytes in base64url, with the NUL.                      */
#define ND_B64URL_SIZE(size) (((size) * 4 + 2) / 3 + 1)

/*  Encodes without padding; out gets a NUL. Returns the length, or 0 if
    out is too small (check ND_B64URL_SIZE first when size may be 0).    */
size_t nd_b64url_encode (const uint8_t *data, size_t size, char *out, size_t out_size);

/*  Decodes text written by someone else (a browser's key, a pasted VAPID
    key): base64url or plain base64, padded or not. Returns the length, or
    -1 if it is neither or does not fit.                                  */
int nd_b64url_decode (const char *text, uint8_t *out, size_t out_size);

/*  Decodes length characters that nudge wrote itself (a token's parts):
    only the base64url alphabet, no padding. Returns the length, or -1.  */
int nd_b64url_decode_strict (const char *text, size_t length, uint8_t *out, size_t out_size);

/*  Room for size bytes in base32, with the NUL.                         */
#define ND_B32_SIZE(size) (((size) * 8 + 4) / 5 + 1)

/*  base32 (RFC 4648 section 6) in lower case, without padding: for a
    token that must outlive a system folding case on the way back, such
    as the local part of a return path (VERP). Encodes; out gets a NUL.
    Returns the length, or 0 if out is too small.                        */
size_t nd_b32_encode (const uint8_t *data, size_t size, char *out, size_t out_size);

/*  Decodes length characters of either case. Returns the length, or -1
    on another character, leftover bits that are not zero, or no room.  */
int nd_b32_decode (const char *text, size_t length, uint8_t *out, size_t out_size);

/*  True if phone is an E.164 number: "+", 8 to 15 digits, the first not
    0, nothing else (no spaces, no dashes). NULL is not.                 */
bool nd_phone_e164 (const char *phone);

void nd_codec_test (bool verbose);

#endif
