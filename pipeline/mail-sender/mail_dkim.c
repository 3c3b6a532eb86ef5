/*  mail_dkim - DKIM signatures (RFC 6376), rsa-sha256, relaxed/relaxed.

    Relaxed canonicalization for both header and body: relays re-fold long
    headers and touch whitespace now and then, and "simple" breaks on the
    first such change while relaxed survives it; relaxed/relaxed is also
    what the large mailbox providers sign with themselves.

    The signature covers From, To, Subject, Date, Message-ID, Reply-To,
    MIME-Version, Content-Type and both List-Unsubscribe headers; From,
    Subject and List-Unsubscribe are listed once more than they occur
    ("oversigned"), so nobody can add a second one without breaking it.
    The DKIM-Signature header is canonicalized exactly as it is written,
    folds included, so what the verifier rebuilds is what was signed.   */
#include <openssl/evp.h>
#include <openssl/pem.h>
#include "mail.h"

static const char *s_signed [] = {
    "from", "to", "subject", "date", "message-id", "reply-to", "mime-version",
    "content-type", "list-unsubscribe", "list-unsubscribe-post", NULL
};
static const char *s_oversigned [] = { "from", "subject", "list-unsubscribe", NULL };

struct _mail_dkim_t {
    EVP_PKEY *key;
    char *domain;
    char *selector;
};

mail_dkim_t *mail_dkim_new (const char *key_file, const char *domain, const char *selector,
                            char *reason, size_t reason_size)
{
    FILE *file = fopen (key_file, "r");
    EVP_PKEY *key = file ? PEM_read_PrivateKey (file, NULL, NULL, NULL) : NULL;
    if (file)
        fclose (file);
    if (!key || EVP_PKEY_get_base_id (key) != EVP_PKEY_RSA) {
        snprintf (reason, reason_size, "%s: %s", key_file,
                  !file ? strerror (errno) : !key ? "not a PEM private key" : "not an RSA key");
        EVP_PKEY_free (key);
        return NULL;
    }
    mail_dkim_t *self = (mail_dkim_t *) zmalloc (sizeof *self);
    self->key = key;
    self->domain = strdup (domain);
    self->selector = strdup (selector);
    return self;
}

void mail_dkim_destroy (mail_dkim_t **self_p)
{
    mail_dkim_t *self = *self_p;
    if (self) {
        EVP_PKEY_free (self->key);
        free (self->domain);
        free (self->selector);
        free (self);
        *self_p = NULL;
    }
}

/* -------------------------------------------------------- canonical form */

static bool s_wsp (char c)
{
    return c == ' ' || c == '\t';
}

//  One header field (name ":" value, folds included, no final CRLF), in
//  relaxed form: name lower-cased, unfolded, runs of blanks as one space,
//  none around the colon or at the end; then CRLF unless last.
static void s_relaxed_header (mail_text_t *out, const char *field, size_t size, bool crlf)
{
    const char *colon = memchr (field, ':', size);
    size_t name = colon ? (size_t) (colon - field) : size;
    while (name > 0 && s_wsp (field [name - 1]))
        name--;
    for (size_t i = 0; i < name; i++) {
        char c = (char) tolower ((unsigned char) field [i]);
        mail_text_add (out, &c, 1);
    }
    mail_text_add (out, ":", 1);
    bool blank = false, started = false;    //  no blanks after the colon
    for (const char *p = colon ? colon + 1 : field + size; p < field + size; p++) {
        if (*p == '\r' || *p == '\n' || s_wsp (*p)) {
            blank = started;
            continue;
        }
        if (blank)
            mail_text_add (out, " ", 1);
        blank = false;
        started = true;
        mail_text_add (out, p, 1);
    }
    if (crlf)
        mail_text_add (out, "\r\n", 2);
}

static void s_relaxed_body (mail_text_t *out, const char *body)
{
    size_t empty_lines = 0;
    for (const char *line = body; *line; ) {
        size_t length = strcspn (line, "\r\n");
        mail_text_t text = { 0 };
        bool blank = false;
        for (size_t i = 0; i < length; i++) {
            if (s_wsp (line [i])) {
                blank = true;
                continue;
            }
            if (blank)
                mail_text_add (&text, " ", 1);
            blank = false;
            mail_text_add (&text, line + i, 1);
        }
        if (text.size == 0)
            empty_lines++;
        else {
            for (; empty_lines > 0; empty_lines--)
                mail_text_add (out, "\r\n", 2);
            mail_text_add (out, text.data, text.size);
            mail_text_add (out, "\r\n", 2);
        }
        mail_text_free (&text);
        line += length;
        line += *line == '\r' && line [1] == '\n' ? 2 : *line ? 1 : 0;
    }
}

/* -------------------------------------------------------------- signing */

//  Finds the last header named name above the body that is not yet used.
static const char *s_find (const char *headers, size_t headers_size, const char *name,
                           const char **used, size_t used_count, size_t *size)
{
    const char *found = NULL;
    size_t name_size = strlen (name);
    for (const char *line = headers; line < headers + headers_size; ) {
        const char *end = line;
        do      //  a field ends at a CRLF not followed by a blank
            end = strstr (end, "\r\n") + 2;
        while (end < headers + headers_size && s_wsp (*end));
        bool taken = false;
        for (size_t i = 0; i < used_count; i++)
            taken |= used [i] == line;
        if (!taken && strncasecmp (line, name, name_size) == 0 && line [name_size] == ':') {
            found = line;
            *size = (size_t) (end - line) - 2;
        }
        line = end;
    }
    return found;
}

static int s_digest_base64 (const char *data, size_t size, char *out)
{
    unsigned char digest [32];
    unsigned int digest_size = 0;
    if (!EVP_Digest (data, size, digest, &digest_size, EVP_sha256 (), NULL))
        return -1;
    EVP_EncodeBlock ((unsigned char *) out, digest, (int) digest_size);
    return 0;
}

//  The header being added, up to "b=": folded at its "; " separators.
static void s_signature_header (mail_dkim_t *self, mail_text_t *out, const char *body_hash,
                                const char *names)
{
    mail_text_printf (out, "DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=%s;\r\n"
                           "\ts=%s; t=%lld;\r\n\th=%s;\r\n\tbh=%s;\r\n\tb=",
                      self->domain, self->selector, (long long) time (NULL), names, body_hash);
}

static int s_sign (mail_dkim_t *self, const mail_text_t *data, mail_text_t *signature)
{
    EVP_MD_CTX *context = EVP_MD_CTX_new ();
    size_t size = 0;
    unsigned char *raw = NULL;
    int rc = context && EVP_DigestSignInit (context, NULL, EVP_sha256 (), NULL, self->key) == 1
          && EVP_DigestSign (context, NULL, &size, (const unsigned char *) data->data, data->size) == 1
          ? 0 : -1;
    if (rc == 0 && (raw = (unsigned char *) malloc (size))
    &&  EVP_DigestSign (context, raw, &size, (const unsigned char *) data->data, data->size) == 1) {
        char *text = (char *) malloc (4 * ((size + 2) / 3) + 1);
        int length = EVP_EncodeBlock ((unsigned char *) text, raw, (int) size);
        //  Folded every 72 characters; the verifier ignores blanks in b=
        for (int i = 0; i < length; i += 72)
            mail_text_printf (signature, "%s%.*s", i ? "\r\n\t " : "", 72, text + i);
        free (text);
    }
    else
        rc = -1;
    free (raw);
    EVP_MD_CTX_free (context);
    return rc;
}

int mail_dkim_sign (mail_dkim_t *self, mail_text_t *message)
{
    const char *split = strstr (message->data, "\r\n\r\n");
    if (!split)
        return -1;
    size_t headers_size = (size_t) (split - message->data) + 2;
    mail_text_t body = { 0 }, data = { 0 }, header = { 0 }, names = { 0 };
    s_relaxed_body (&body, split + 4);
    char body_hash [64];
    const char *used [32];
    size_t used_count = 0;
    s_digest_base64 (body.data ? body.data : "", body.size, body_hash);
    for (int pass = 0; pass < 2; pass++) {
        const char **list = pass ? s_oversigned : s_signed;
        for (int i = 0; list [i]; i++) {
            size_t size = 0;
            const char *field = s_find (message->data, headers_size, list [i], used,
                                        used_count, &size);
            if (field) {
                s_relaxed_header (&data, field, size, true);
                used [used_count++] = field;
            }
            //  An oversigned name is listed even when absent: it signs that
            //  there is no (other) such header
            //  Folded after a colon before the line passes 72 columns
            size_t line = names.data ? strlen (strrchr (names.data, '\t') ?: names.data) : 0;
            if (field || pass)
                mail_text_printf (&names, "%s%s", !names.size ? ""
                                  : line + strlen (list [i]) > 64 ? ":\r\n\t " : ":", list [i]);
        }
    }
    s_signature_header (self, &header, body_hash, names.data);
    s_relaxed_header (&data, header.data, header.size, false);
    int rc = s_sign (self, &data, &header);
    if (rc == 0) {
        mail_text_add (&header, "\r\n", 2);
        mail_text_add (&header, message->data, message->size);
        mail_text_free (message);
        *message = header;
    }
    else
        mail_text_free (&header);
    mail_text_free (&body);
    mail_text_free (&data);
    mail_text_free (&names);
    return rc;
}

/* ------------------------------------------------------------ self-test */

void mail_dkim_test (bool verbose)
{
    if (verbose)
        printf (" * mail_dkim: ");
    mail_text_t out = { 0 };
    const char *field = "Subject :  Hello \r\n\t World: a:\r\n b  ";
    s_relaxed_header (&out, field, strlen (field), true);
    assert (streq (out.data, "subject:Hello World: a: b\r\n"));
    mail_text_free (&out);
    s_relaxed_body (&out, " a  b \r\n\r\nc\t\r\n\r\n\r\n");
    assert (streq (out.data, " a b\r\n\r\nc\r\n"));
    mail_text_free (&out);
    s_relaxed_body (&out, "\r\n\r\n");
    assert (out.size == 0);
    if (verbose)
        printf ("OK\n");
}
