/*  nd_codec - base64url, base32 and E.164; see nd_codec.h.

    base64url by hand rather than through OpenSSL's EVP_EncodeBlock: that
    one writes the other alphabet with padding, which every caller then
    had to translate (and nd_token and nd_p256 each did, differently).  */
#include <assert.h>
#include <stdio.h>
#include <string.h>
#include "nd_codec.h"

static const char s_alphabet [] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

size_t nd_b64url_encode (const uint8_t *data, size_t size, char *out, size_t out_size)
{
    if (ND_B64URL_SIZE (size) > out_size)
        return 0;
    size_t o = 0;
    for (size_t i = 0; i < size; i += 3) {
        uint32_t n = (uint32_t) data [i] << 16;
        if (i + 1 < size)
            n |= (uint32_t) data [i + 1] << 8;
        if (i + 2 < size)
            n |= data [i + 2];
        out [o++] = s_alphabet [(n >> 18) & 63];
        out [o++] = s_alphabet [(n >> 12) & 63];
        if (i + 1 < size)
            out [o++] = s_alphabet [(n >> 6) & 63];
        if (i + 2 < size)
            out [o++] = s_alphabet [n & 63];
    }
    out [o] = 0;
    return o;
}

//  A character's six bits, or -1; strict takes only base64url's.
static int s_sextet (char c, bool strict)
{
    return c >= 'A' && c <= 'Z' ? c - 'A' : c >= 'a' && c <= 'z' ? c - 'a' + 26
         : c >= '0' && c <= '9' ? c - '0' + 52 : c == '-' ? 62 : c == '_' ? 63
         : strict ? -1 : c == '+' ? 62 : c == '/' ? 63 : -1;
}

//  length characters of text, then (unless strict) '=' padding to the end.
static int s_decode (const char *text, size_t length, bool strict, uint8_t *out, size_t out_size)
{
    uint32_t bits = 0;
    int count = 0;
    size_t o = 0, i = 0;
    for (; i < length && text [i] != '='; i++) {
        int value = s_sextet (text [i], strict);
        if (value < 0)
            return -1;
        bits = (bits << 6) | (uint32_t) value;
        if (++count == 4) {
            if (o + 3 > out_size)
                return -1;
            out [o++] = (uint8_t) (bits >> 16);
            out [o++] = (uint8_t) (bits >> 8);
            out [o++] = (uint8_t) bits;
            bits = 0;
            count = 0;
        }
    }
    if (strict && i < length)
        return -1;
    while (i < length && text [i] == '=')
        i++;
    if (i < length || count == 1 || o + (size_t) (count ? count - 1 : 0) > out_size)
        return -1;
    if (count == 2)
        out [o++] = (uint8_t) (bits >> 4);
    else
    if (count == 3) {
        out [o++] = (uint8_t) (bits >> 10);
        out [o++] = (uint8_t) (bits >> 2);
    }
    return (int) o;
}

int nd_b64url_decode (const char *text, uint8_t *out, size_t out_size)
{
    return text ? s_decode (text, strlen (text), false, out, out_size) : -1;
}

int nd_b64url_decode_strict (const char *text, size_t length, uint8_t *out, size_t out_size)
{
    return text ? s_decode (text, length, true, out, out_size) : -1;
}

size_t nd_b32_encode (const uint8_t *data, size_t size, char *out, size_t out_size)
{
    static const char alphabet [] = "abcdefghijklmnopqrstuvwxyz234567";
    if (ND_B32_SIZE (size) > out_size)
        return 0;
    size_t o = 0;
    uint32_t bits = 0;
    int count = 0;
    for (size_t i = 0; i < size; i++) {
        bits = (bits << 8) | data [i];
        for (count += 8; count >= 5; count -= 5)
            out [o++] = alphabet [(bits >> (count - 5)) & 31];
    }
    if (count)
        out [o++] = alphabet [(bits << (5 - count)) & 31];
    out [o] = 0;
    return o;
}

int nd_b32_decode (const char *text, size_t length, uint8_t *out, size_t out_size)
{
    uint32_t bits = 0;
    int count = 0;
    size_t o = 0;
    for (size_t i = 0; text && i < length; i++) {
        char c = text [i];
        int value = c >= 'a' && c <= 'z' ? c - 'a' : c >= 'A' && c <= 'Z' ? c - 'A'
                  : c >= '2' && c <= '7' ? c - '2' + 26 : -1;
        if (value < 0)
            return -1;
        bits = (bits << 5) | (uint32_t) value;
        if ((count += 5) >= 8) {
            if (o == out_size)
                return -1;
            out [o++] = (uint8_t) (bits >> (count - 8));
            count -= 8;
        }
    }
    //  What is left is padding bits: fewer than 5, all zero
    return text && count < 5 && !(bits & ((1u << count) - 1)) ? (int) o : -1;
}

bool nd_phone_e164 (const char *phone)
{
    if (!phone || phone [0] != '+')
        return false;
    size_t digits = strspn (phone + 1, "0123456789");
    return digits >= 8 && digits <= 15 && phone [1] != '0' && phone [1 + digits] == 0;
}

/* ----------------------------------------------------------- self-test -- */

void nd_codec_test (bool verbose)
{
    if (verbose)
        printf (" * nd_codec: ");
    char text [16];
    uint8_t bytes [8];
    assert (nd_b64url_encode ((const uint8_t *) "\xfb\xff", 2, text, sizeof text) == 3
            && strcmp (text, "-_8") == 0);
    assert (nd_b64url_encode ((const uint8_t *) "", 0, text, sizeof text) == 0 && !*text);
    assert (nd_b64url_encode ((const uint8_t *) "abc", 3, text, 4) == 0);
    assert (nd_b64url_decode ("-_8", bytes, sizeof bytes) == 2 && bytes [0] == 0xfb);
    assert (nd_b64url_decode ("+/8=", bytes, sizeof bytes) == 2 && bytes [1] == 0xff);
    assert (nd_b64url_decode ("YWJj", bytes, sizeof bytes) == 3 && memcmp (bytes, "abc", 3) == 0);
    assert (nd_b64url_decode ("YWJj", bytes, 2) == -1);
    assert (nd_b64url_decode ("YW=J", bytes, sizeof bytes) == -1);
    assert (nd_b64url_decode ("a b", bytes, sizeof bytes) == -1);
    assert (nd_b64url_decode ("Y", bytes, sizeof bytes) == -1);
    assert (nd_b64url_decode_strict ("-_8", 3, bytes, sizeof bytes) == 2);
    assert (nd_b64url_decode_strict ("+/8", 3, bytes, sizeof bytes) == -1);
    assert (nd_b64url_decode_strict ("YQ==", 4, bytes, sizeof bytes) == -1);
    assert (nd_b64url_decode_strict ("YWJj.xx", 4, bytes, sizeof bytes) == 3);
    //  base32: RFC 4648's test vectors, lower case, without padding
    assert (nd_b32_encode ((const uint8_t *) "foobar", 6, text, sizeof text) == 10
            && strcmp (text, "mzxw6ytboi") == 0);
    assert (nd_b32_encode ((const uint8_t *) "f", 1, text, sizeof text) == 2 && strcmp (text, "my") == 0);
    assert (nd_b32_encode ((const uint8_t *) "foobar", 6, text, 10) == 0);
    assert (nd_b32_decode ("MZXW6YTBOI", 10, bytes, sizeof bytes) == 6 && memcmp (bytes, "foobar", 6) == 0);
    assert (nd_b32_decode ("my", 2, bytes, sizeof bytes) == 1 && bytes [0] == 'f');
    assert (nd_b32_decode ("mz", 2, bytes, sizeof bytes) == -1);     //  bits left over
    assert (nd_b32_decode ("m1", 2, bytes, sizeof bytes) == -1);
    assert (nd_b32_decode ("mzxw6ytboi", 10, bytes, 5) == -1);
    assert (nd_phone_e164 ("+48600100200") && !nd_phone_e164 ("+0600100200"));
    assert (!nd_phone_e164 ("+") && !nd_phone_e164 ("") && !nd_phone_e164 (NULL));
    if (verbose)
        printf ("OK\n");
}
