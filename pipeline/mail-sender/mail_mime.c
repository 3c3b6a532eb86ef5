/*  mail_mime - the encoders a message is built with.

    Headers: every value passes mime_clean first, which turns CR, LF and
    every other control character into a space, so nothing a shop or a
    visitor typed can end a header and start another. Text that is not
    plain ASCII becomes RFC 2047 encoded-words ("=?UTF-8?B?...?="), cut
    between UTF-8 characters, so that no line passes 76 as RFC 2047 asks.
    A display name gets the longest words RFC 2047 allows (45 bytes, so a
    name of up to 22 Cyrillic or 15 Japanese characters is one word):
    some parsers, Python's email package among them, wrongly keep the
    space between two encoded-words in an address header. Folding is one
    function for every header: tokens joined by spaces, a CRLF before the
    token that would pass 76 columns.

    Bodies: quoted-printable, lines of at most 76 characters; '=' and
    every byte that is not printable ASCII are escaped, and so are a '.'
    or "From " opening a line, which some relays and mailbox formats
    mangle. A quoted-printable body never contains "=_", which is why the
    MIME boundary starts with it.                                         */
#include <stdarg.h>
#include <openssl/evp.h>
#include "mail.h"

#define s_WORD_BYTES 39         //  UTF-8 bytes per encoded-word: 52 base64 chars
#define s_PHRASE_BYTES 45       //  in a display name: 60, the most RFC 2047 allows
#define s_QP_LINE 76

/* ---------------------------------------------------------------- text */

void mail_text_add (mail_text_t *text, const char *data, size_t size)
{
    if (text->size + size + 1 > text->capacity) {
        size_t capacity = text->capacity ? text->capacity : 1024;
        while (capacity < text->size + size + 1)
            capacity *= 2;
        text->data = (char *) realloc (text->data, capacity);
        assert (text->data);
        text->capacity = capacity;
    }
    memcpy (text->data + text->size, data, size);
    text->size += size;
    text->data [text->size] = 0;
}

void mail_text_printf (mail_text_t *text, const char *format, ...)
{
    char line [1024];
    va_list args;
    va_start (args, format);
    int size = vsnprintf (line, sizeof line, format, args);
    va_end (args);
    if (size >= (int) sizeof line) {
        char *long_line = (char *) malloc ((size_t) size + 1);
        assert (long_line);
        va_start (args, format);
        vsnprintf (long_line, (size_t) size + 1, format, args);
        va_end (args);
        mail_text_add (text, long_line, (size_t) size);
        free (long_line);
    }
    else
    if (size > 0)
        mail_text_add (text, line, (size_t) size);
}

void mail_text_free (mail_text_t *text)
{
    free (text->data);
    *text = (mail_text_t) { NULL, 0, 0 };
}

/* ---------------------------------------------------------------- utf-8 */

//  Length of the valid UTF-8 sequence at p, or 0.
static size_t s_utf8_length (const unsigned char *p)
{
    if (p [0] < 0x80)
        return 1;
    size_t length = p [0] >= 0xF0 && p [0] <= 0xF4 ? 4 : p [0] >= 0xE0 ? 3 : p [0] >= 0xC2 ? 2 : 0;
    if (length == 4 && p [0] > 0xF4)
        return 0;
    for (size_t i = 1; i < length; i++)
        if ((p [i] & 0xC0) != 0x80)
            return 0;
    //  No overlong forms and no UTF-16 surrogates
    if ((p [0] == 0xE0 && p [1] < 0xA0) || (p [0] == 0xED && p [1] >= 0xA0)
    ||  (p [0] == 0xF0 && p [1] < 0x90) || (p [0] == 0xF4 && p [1] >= 0x90))
        return 0;
    return length;
}

//  C0 and C1 controls, DEL, and the Unicode line and paragraph separators.
static bool s_is_control (const unsigned char *p, size_t length)
{
    return (length == 1 && (p [0] < 0x20 || p [0] == 0x7F))
        || (length == 2 && p [0] == 0xC2 && p [1] < 0xA0)
        || (length == 3 && p [0] == 0xE2 && p [1] == 0x80 && (p [2] == 0xA8 || p [2] == 0xA9));
}

void mime_clean (const char *text, char *out, size_t size)
{
    const unsigned char *p = (const unsigned char *) (text ? text : "");
    size_t used = 0;
    bool space = true;          //  drops leading spaces and runs of them
    while (*p && size > 0) {
        size_t length = s_utf8_length (p);
        const char *piece = length ? (const char *) p : "?";
        size_t piece_size = length ? length : 1;
        if (length && (s_is_control (p, length) || *p == ' ')) {
            piece = " ";
            piece_size = 1;
        }
        p += length ? length : 1;
        if (*piece == ' ' && space)
            continue;
        if (used + piece_size >= size)
            break;
        memcpy (out + used, piece, piece_size);
        used += piece_size;
        space = *piece == ' ';
    }
    while (used > 0 && out [used - 1] == ' ')
        used--;
    if (size > 0)
        out [used] = 0;
}

/* -------------------------------------------------------------- headers */

//  "Name:" then the tokens, a space before each, folding before a token
//  that would pass the line limit.
static void s_fold (mail_text_t *text, const char *name, const char **tokens, size_t count)
{
    mail_text_printf (text, "%s:", name);
    size_t column = strlen (name) + 1;
    for (size_t i = 0; i < count; i++) {
        size_t length = strlen (tokens [i]);
        //  Even the first token moves to a line of its own if that is
        //  where it fits: "From:" CRLF SP token is a legal fold
        if (column + 1 + length > MIME_LINE_MAX && (i > 0 || 1 + length <= MIME_LINE_MAX)) {
            mail_text_add (text, "\r\n", 2);
            column = 0;
        }
        mail_text_add (text, " ", 1);
        mail_text_add (text, tokens [i], length);
        column += 1 + length;
    }
    mail_text_add (text, "\r\n", 2);
}

static bool s_plain_ascii (const char *text)
{
    for (const unsigned char *p = (const unsigned char *) text; *p; p++)
        if (*p < 0x20 || *p > 0x7E)
            return false;
    return !strstr (text, "=?");        //  would read as an encoded-word
}

//  Splits text into encoded-words of at most bytes UTF-8 bytes, whole
//  characters; returns how many, each malloc'ed into words (at most max).
static size_t s_encoded_words (const char *text, size_t bytes, char **words, size_t max)
{
    size_t count = 0, length = strlen (text);
    const unsigned char *p = (const unsigned char *) text;
    while (length > 0 && count < max) {
        size_t chunk = length < bytes ? length : bytes;
        while (chunk < length && chunk > 0 && (p [chunk] & 0xC0) == 0x80)
            chunk--;            //  never cut a character in two
        unsigned char encoded [s_PHRASE_BYTES * 2];
        int size = EVP_EncodeBlock (encoded, p, (int) chunk);
        words [count] = zsys_sprintf ("=?UTF-8?B?%.*s?=", size, (char *) encoded);
        count++;
        p += chunk;
        length -= chunk;
    }
    return count;
}

//  Splits a cleaned (single-spaced) ASCII text at its spaces.
static size_t s_split_words (char *text, char **words, size_t max)
{
    size_t count = 0;
    char *save = NULL;
    for (char *word = strtok_r (text, " ", &save); word && count < max;
         word = strtok_r (NULL, " ", &save))
        words [count++] = strdup (word);
    return count;
}

static void s_free_words (char **words, size_t count)
{
    for (size_t i = 0; i < count; i++)
        free (words [i]);
}

#define s_WORDS_MAX 256

void mime_header_text (mail_text_t *text, const char *name, const char *value)
{
    char clean [2048];
    mime_clean (value, clean, sizeof clean);
    char *words [s_WORDS_MAX];
    bool ascii = s_plain_ascii (clean);
    size_t count = 0;
    if (ascii) {
        count = s_split_words (clean, words, s_WORDS_MAX);
        for (size_t i = 0; i < count && ascii; i++)
            ascii = strlen (words [i]) + strlen (name) + 2 <= MIME_LINE_MAX;
        if (!ascii) {           //  a word too long to fold: encode it all
            s_free_words (words, count);
            mime_clean (value, clean, sizeof clean);
        }
    }
    if (!ascii)
        count = s_encoded_words (clean, s_WORD_BYTES, words, s_WORDS_MAX);
    s_fold (text, name, (const char **) words, count);
    s_free_words (words, count);
}

//  atext of RFC 5322, and the space between atoms.
static bool s_atom_text (const char *text)
{
    for (const char *p = text; *p; p++)
        if (!isalnum ((unsigned char) *p) && !strchr ("!#$%&'*+-/=?^_`{|}~ ", *p))
            return false;
    return true;
}

void mime_header_mailbox (mail_text_t *text, const char *name, const char *display,
                          const char *address)
{
    char clean [512], quoted [1100];
    mime_clean (display, clean, sizeof clean);
    char *words [s_WORDS_MAX];
    size_t count = 0;
    if (!*clean)
        count = 0;
    else
    if (s_plain_ascii (clean) && s_atom_text (clean))
        count = s_split_words (clean, words, s_WORDS_MAX - 1);
    else
    if (s_plain_ascii (clean)) {
        size_t used = 0;
        quoted [used++] = '"';
        for (const char *p = clean; *p; p++) {
            if (*p == '"' || *p == '\\')
                quoted [used++] = '\\';
            quoted [used++] = *p;
        }
        quoted [used++] = '"';
        quoted [used] = 0;
        words [count++] = strdup (quoted);
    }
    else
        count = s_encoded_words (clean, s_PHRASE_BYTES, words, s_WORDS_MAX - 1);
    words [count++] = zsys_sprintf ("<%s>", address);
    s_fold (text, name, (const char **) words, count);
    s_free_words (words, count);
}

void mime_header_list (mail_text_t *text, const char *name, const char **tokens)
{
    size_t count = 0;
    while (tokens [count])
        count++;
    s_fold (text, name, tokens, count);
}

/* ------------------------------------------------------------- addresses */

static bool s_dot_atom (const char *text, size_t length, const char *allowed)
{
    if (length == 0 || text [0] == '.' || text [length - 1] == '.')
        return false;
    for (size_t i = 0; i < length; i++)
        if ((text [i] == '.' && text [i + 1] == '.')
        ||  (!isalnum ((unsigned char) text [i]) && !strchr (allowed, text [i])))
            return false;
    return true;
}

bool mime_address_ok (const char *address)
{
    const char *at = address ? strchr (address, '@') : NULL;
    if (!at || strchr (at + 1, '@') || strlen (address) > 254)
        return false;
    size_t local = (size_t) (at - address);
    return local <= 64
        && s_dot_atom (address, local, ".!#$%&'*+-/=?^_`{|}~")
        && s_dot_atom (at + 1, strlen (at + 1), ".-")
        && strchr (at + 1, '.') != NULL;
}

/* ------------------------------------------------------------------ body */

//  An output line is built on the stack and added whole: adding it a
//  character at a time, with snprintf for each escape, was most of what
//  the encoder cost.
static void s_qp_line (mail_text_t *text, const char *line, size_t length)
{
    static const char hex [] = "0123456789ABCDEF";
    char out [s_QP_LINE + 4];
    size_t column = 0;
    for (size_t i = 0; i < length; i++) {
        unsigned char c = (unsigned char) line [i];
        bool last = i + 1 == length;
        bool escape = c == '=' || c > 126 || (c < 32 && c != '\t')
                   || ((c == ' ' || c == '\t') && last)
                   || (column == 0 && (c == '.' || (c == 'F' && strncmp (line + i, "From ", 5) == 0)));
        size_t size = escape ? 3 : 1;
        //  Room for the piece, and for the "=" of a soft break unless the
        //  line ends right after it
        if (column + size + (last ? 0 : 1) > s_QP_LINE) {
            memcpy (out + column, "=\r\n", 3);
            mail_text_add (text, out, column + 3);
            column = 0;
        }
        if (escape) {
            out [column] = '=';
            out [column + 1] = hex [c >> 4];
            out [column + 2] = hex [c & 15];
        }
        else
            out [column] = (char) c;
        column += size;
    }
    memcpy (out + column, "\r\n", 2);
    mail_text_add (text, out, column + 2);
}

void mime_quoted_printable (mail_text_t *text, const char *body)
{
    const char *line = body ? body : "";
    while (*line) {
        size_t length = strcspn (line, "\n");
        size_t content = length > 0 && line [length - 1] == '\r' ? length - 1 : length;
        s_qp_line (text, line, content);
        line += length;
        if (*line == '\n')
            line++;
    }
}

void mime_sha256_hex (const char *data, char *hex)
{
    unsigned char digest [32];
    unsigned int size = 0;
    EVP_Digest (data, strlen (data), digest, &size, EVP_sha256 (), NULL);
    for (unsigned int i = 0; i < size; i++)
        sprintf (hex + 2 * i, "%02x", digest [i]);
    hex [64] = 0;
}

/* ------------------------------------------------------------- self-test */

static bool s_lines_short (const char *text, size_t limit)
{
    for (const char *line = text; *line; ) {
        size_t length = strcspn (line, "\r");
        if (length > limit)
            return false;
        line += length;
        line += strspn (line, "\r\n");
    }
    return true;
}

void mime_test (bool verbose)
{
    if (verbose)
        printf (" * mail_mime: ");
    char clean [64];
    mime_clean ("  Hello\r\nBcc: evil@example.com\t x ", clean, sizeof clean);
    assert (streq (clean, "Hello Bcc: evil@example.com x"));
    mime_clean ("a\xff" "b\xc2\x85" "c\xe2\x80\xa8" "d", clean, sizeof clean);
    assert (streq (clean, "a?b c d"));
    mime_clean ("日本語", clean, 7);
    assert (streq (clean, "日本"));           //  cut between characters

    mail_text_t text = { 0 };
    mime_header_text (&text, "Subject", "Your cart\r\nBcc: x@example.com");
    assert (streq (text.data, "Subject: Your cart Bcc: x@example.com\r\n"));
    mail_text_free (&text);
    mime_header_text (&text, "Subject", "カートに商品が残っています。今ならクーポンで割引になります。お早めにどうぞ");
    assert (strncmp (text.data, "Subject: =?UTF-8?B?", 19) == 0);
    assert (s_lines_short (text.data, 76) && strstr (text.data, "?=\r\n =?UTF-8?B?"));
    mail_text_free (&text);
    mime_header_mailbox (&text, "To", "Zażółć \"Gęślą\"", "jan@example.pl");
    assert (strncmp (text.data, "To: =?UTF-8?B?", 14) == 0 && strstr (text.data, " <jan@example.pl>\r\n"));
    mail_text_free (&text);
    mime_header_mailbox (&text, "From", "Shop, Inc.", "shop@example.com");
    assert (streq (text.data, "From: \"Shop, Inc.\" <shop@example.com>\r\n"));
    mail_text_free (&text);

    assert (mime_address_ok ("anna.k+cart@mail.example.co.jp"));
    assert (!mime_address_ok ("anna@example.com>\r\nBcc: x@y.z"));
    assert (!mime_address_ok ("a@b@example.com") && !mime_address_ok ("a..b@example.com"));
    assert (!mime_address_ok ("\"a b\"@example.com") && !mime_address_ok ("a@localhost"));

    mime_quoted_printable (&text, ".dot\nFrom here\n= tail \nżółw\r\n");
    assert (streq (text.data, "=2Edot\r\n=46rom here\r\n=3D tail=20\r\n=C5=BC=C3=B3=C5=82w\r\n"));
    mail_text_free (&text);
    char long_line [300];
    memset (long_line, 'x', sizeof long_line - 1);
    long_line [sizeof long_line - 1] = 0;
    mime_quoted_printable (&text, long_line);
    assert (s_lines_short (text.data, 76) && !strstr (text.data, "=_"));
    mail_text_free (&text);
    if (verbose)
        printf ("OK\n");
}
