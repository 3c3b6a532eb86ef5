/*  fuzz_mime - header and body encoding with text from shoppers' events
    (names, product names in a subject): no input may crash the encoders
    or start a header of its own (a CR or LF not followed by folding
    white space).                                                         */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "mail.h"

static void s_no_injection (const mail_text_t *text)
{
    for (size_t i = 0; i < text->size; i++)
        if (text->data [i] == '\r' || text->data [i] == '\n') {
            assert (text->data [i] == '\r' && i + 1 < text->size && text->data [i + 1] == '\n');
            assert (i + 2 == text->size || text->data [i + 2] == ' ' || text->data [i + 2] == '\t');
            i++;
        }
}

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    char *value = (char *) malloc (size + 1);
    memcpy (value, data, size);
    value [size] = 0;
    char clean [256];
    mime_clean (value, clean, sizeof clean);
    assert (!strchr (clean, '\r') && !strchr (clean, '\n'));
    mime_address_ok (value);
    mail_text_t text = { 0 };
    mime_header_text (&text, "Subject", value);
    s_no_injection (&text);
    mail_text_free (&text);
    memset (&text, 0, sizeof text);
    mime_header_mailbox (&text, "To", value, "pia@example.com");
    s_no_injection (&text);
    mail_text_free (&text);
    memset (&text, 0, sizeof text);
    mime_quoted_printable (&text, value);
    mail_text_free (&text);
    free (value);
    return 0;
}
