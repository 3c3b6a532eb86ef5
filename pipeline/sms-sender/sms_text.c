/*  sms_text - what an SMS costs and what a reply to one means.

    An SMS is billed per segment. A text the GSM 03.38 default alphabet
    can write goes as GSM-7: 160 septets in one message, 153 per segment
    once it needs more (the user data header takes 7). Ten characters of
    the extension table ( ^ { } \ [ ~ ] | euro, form feed ) are an escape
    and a septet, so they count 2. One character outside both tables -
    an emoji, a Japanese kana, a Polish "ł" - turns the whole text to
    UCS-2 (UTF-16 on today's handsets): 70 units, or 67 per segment, an
    astral character taking 2. Segments never split an escape pair or a
    surrogate pair, so a split text may need one more than the division
    says; this counts as the handset packs.                             */
#include <assert.h>
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include "sms.h"

const char *sms_phone_mask (const char *phone, char *out, size_t size)
{
    size_t length = phone ? strlen (phone) : 0;
    size_t used = 0;
    for (size_t i = 0; i < length && used + 1 < size; i++)
        out [used++] = i < 5 || i + 2 >= length ? phone [i] : '*';
    out [used] = 0;
    if (length < 8 && size > 4)             //  too short to show any of it
        snprintf (out, size, "+***");
    return out;
}

char *sms_render (nd_templates_t *templates, const json_t *order, char *reason, size_t size)
{
    static const char *const required [] = { "text", NULL };
    const char *id = json_string_value (json_object_get (order, "template"));
    const char *wanted = json_string_value (json_object_get (order, "locale"));
    char locale [64];
    //  The locale and the text from one set, whatever a reload does meanwhile
    nd_templates_t *held = nd_templates_hold (templates);
    char *text = NULL;
    if (nd_templates_locale (held, id, wanted, required, locale, sizeof locale))
        snprintf (reason, size, "no sms.text template \"%.120s\"", id ? id : "");
    else
        text = nd_templates_render_order (held, order, id, locale, "text",
                                          json_object_get (order, "data"), reason, size);
    nd_templates_destroy (&held);
    return text;
}

/* ----------------------------------------------------------- encoding -- */

//  1 for the default alphabet, 2 for the extension table, 0 for neither.
static int s_gsm_width (uint32_t c)
{
    if (c == '\n' || c == '\r')
        return 1;
    if (c == '\f' || c == '^' || c == '{' || c == '}' || c == '\\' || c == '[' || c == '~'
    ||  c == ']' || c == '|' || c == 0x20AC)
        return 2;
    if (c >= 0x20 && c < 0x7F)
        return c == '`' ? 0 : 1;
    static const uint16_t latin_greek [] = {
        0x00A3, 0x00A5, 0x00E8, 0x00E9, 0x00F9, 0x00EC, 0x00F2, 0x00C7, 0x00D8, 0x00F8,
        0x00C5, 0x00E5, 0x0394, 0x03A6, 0x0393, 0x039B, 0x03A9, 0x03A0, 0x03A8, 0x03A3,
        0x0398, 0x039E, 0x00C6, 0x00E6, 0x00DF, 0x00C9, 0x00A4, 0x00A1, 0x00C4, 0x00D6,
        0x00D1, 0x00DC, 0x00A7, 0x00BF, 0x00E4, 0x00F6, 0x00F1, 0x00FC, 0x00E0, 0 };
    for (size_t i = 0; latin_greek [i]; i++)
        if (c == latin_greek [i])
            return 1;
    return 0;
}

//  The next code point of UTF-8 text at *p, or -1 for invalid UTF-8.
static int64_t s_next (const unsigned char **p)
{
    const unsigned char *s = *p;
    uint32_t c = s [0];
    int more = c < 0x80 ? 0 : (c & 0xE0) == 0xC0 ? 1 : (c & 0xF0) == 0xE0 ? 2
             : (c & 0xF8) == 0xF0 ? 3 : -1;
    if (more < 0)
        return -1;
    c &= more == 0 ? 0x7F : more == 1 ? 0x1F : more == 2 ? 0x0F : 0x07;
    for (int i = 1; i <= more; i++) {
        if ((s [i] & 0xC0) != 0x80)
            return -1;
        c = (c << 6) | (s [i] & 0x3F);
    }
    static const uint32_t least [] = { 0, 0x80, 0x800, 0x10000 };
    if (c < least [more] || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
        return -1;
    *p = s + more + 1;
    return c;
}

//  Packs widths into segments of single (one message) or part units.
static size_t s_segments (const char *text, bool gsm, size_t total, size_t single, size_t part)
{
    if (total <= single)
        return 1;
    size_t segments = 1, used = 0;
    const unsigned char *p = (const unsigned char *) text;
    while (*p) {
        int64_t c = s_next (&p);
        size_t width = gsm ? (size_t) s_gsm_width ((uint32_t) c) : c > 0xFFFF ? 2 : 1;
        if (used + width > part) {
            segments++;
            used = 0;
        }
        used += width;
    }
    return segments;
}

int sms_count (const char *text, sms_count_t *count)
{
    size_t septets = 0, units = 0;
    bool gsm = true;
    for (const unsigned char *p = (const unsigned char *) text; *p; ) {
        int64_t c = s_next (&p);
        if (c < 0)
            return -1;
        int width = s_gsm_width ((uint32_t) c);
        gsm = gsm && width > 0;
        septets += (size_t) width;
        units += c > 0xFFFF ? 2 : 1;
    }
    count->encoding = gsm ? SMS_GSM7 : SMS_UCS2;
    count->units = gsm ? septets : units;
    count->segments = gsm ? s_segments (text, true, septets, 160, 153)
                          : s_segments (text, false, units, 70, 67);
    return 0;
}

const char *sms_encoding_name (sms_encoding_t encoding)
{
    return encoding == SMS_GSM7 ? "GSM-7" : "UCS-2";
}

/* ----------------------------------------------------------- keywords -- */

static bool s_in (const char *word, const char *const *list)
{
    for (size_t i = 0; list [i]; i++)
        if (strcasecmp (word, list [i]) == 0)
            return true;
    return false;
}

sms_keyword_t sms_keyword (const char *text)
{
    static const char *const stop [] = { "STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END",
                                         "QUIT", "OPTOUT", "REVOKE", "ARRET", "STOPP", NULL };
    static const char *const start [] = { "START", "YES", "UNSTOP", NULL };
    static const char *const help [] = { "HELP", "INFO", NULL };
    char whole [64], first [64];
    while (text && isspace ((unsigned char) *text))
        text++;
    snprintf (whole, sizeof whole, "%s", text ? text : "");
    size_t length = strlen (whole);
    //  "Stop!" and "STOP." are STOP
    while (length && (isspace ((unsigned char) whole [length - 1]) || strchr (".!", whole [length - 1])))
        whole [--length] = 0;
    snprintf (first, sizeof first, "%.*s", (int) strcspn (whole, " \t\r\n.,!"), whole);
    if (s_in (whole, stop) || s_in (first, stop) || strcasecmp (whole, "STOP ALL") == 0)
        return SMS_KEYWORD_STOP;
    if (s_in (whole, start))
        return SMS_KEYWORD_START;
    if (s_in (whole, help))
        return SMS_KEYWORD_HELP;
    return SMS_KEYWORD_NONE;
}

/* ----------------------------------------------------------- self-test -- */

static void s_expect (const char *text, sms_encoding_t encoding, size_t units, size_t segments)
{
    sms_count_t count;
    assert (sms_count (text, &count) == 0);
    if (count.encoding != encoding || count.units != units || count.segments != segments)
        fprintf (stderr, "sms_count (\"%.40s\"): %s %zu units %zu segments\n", text,
                 sms_encoding_name (count.encoding), count.units, count.segments);
    assert (count.encoding == encoding && count.units == units && count.segments == segments);
}

//  A text of length times letter (one or more bytes), counted as above.
static void s_expect_run (const char *letter, size_t length, sms_encoding_t encoding,
                          size_t segments)
{
    char text [700] = "";
    for (size_t i = 0; i < length; i++)
        strcat (text, letter);
    s_expect (text, encoding, length, segments);
}

void sms_text_test (bool verbose)
{
    if (verbose)
        printf (" * sms_text: ");
    char out [32], text [400];
    assert (strcmp (sms_phone_mask ("+48600100200", out, sizeof out), "+4860*****00") == 0);
    assert (strcmp (sms_phone_mask ("+123", out, sizeof out), "+***") == 0);
    s_expect ("", SMS_GSM7, 0, 1);
    s_expect ("Hello @ £5 ÄÖÜ èé", SMS_GSM7, 17, 1);
    s_expect ("Price: 10€ {now}", SMS_GSM7, 19, 1);          //  € { } count 2
    s_expect ("tab\there", SMS_UCS2, 8, 1);                   //  no tab in GSM-7
    s_expect ("Zażółć", SMS_UCS2, 6, 1);
    s_expect ("カートに商品が残っています", SMS_UCS2, 13, 1);
    s_expect ("hi 😀", SMS_UCS2, 5, 1);                       //  a surrogate pair
    //  GSM-7: 160 in one, 161 in two, 306 in two, 307 in three
    s_expect_run ("a", 160, SMS_GSM7, 1);
    s_expect_run ("a", 161, SMS_GSM7, 2);
    s_expect_run ("a", 306, SMS_GSM7, 2);
    s_expect_run ("a", 307, SMS_GSM7, 3);
    //  152 septets then an escape pair: it moves whole to segment 2
    memset (text, 'a', 152);
    strcpy (text + 152, "€");
    memset (text + 155, 'a', 152);
    text [307] = 0;
    s_expect (text, SMS_GSM7, 306, 3);
    //  UCS-2: 70 in one, 71 in two, 134 in two, 135 in three
    s_expect_run ("ł", 70, SMS_UCS2, 1);
    s_expect_run ("ł", 71, SMS_UCS2, 2);
    s_expect_run ("ł", 134, SMS_UCS2, 2);
    s_expect_run ("ł", 135, SMS_UCS2, 3);
    sms_count_t count;
    assert (sms_count ("bad \xC3\x28", &count) == -1);
    assert (sms_count ("\xED\xA0\x80", &count) == -1);        //  a lone surrogate
    assert (sms_count ("\xC0\xAF", &count) == -1);            //  overlong
    assert (sms_keyword ("STOP") == SMS_KEYWORD_STOP && sms_keyword (" stop! ") == SMS_KEYWORD_STOP);
    assert (sms_keyword ("Unsubscribe") == SMS_KEYWORD_STOP && sms_keyword ("QUIT.") == SMS_KEYWORD_STOP);
    assert (sms_keyword ("stop sending these") == SMS_KEYWORD_STOP);
    assert (sms_keyword ("STOP ALL") == SMS_KEYWORD_STOP && sms_keyword ("end") == SMS_KEYWORD_STOP);
    assert (sms_keyword ("start") == SMS_KEYWORD_START && sms_keyword ("UNSTOP") == SMS_KEYWORD_START);
    assert (sms_keyword ("Yes") == SMS_KEYWORD_START && sms_keyword ("yes please") == SMS_KEYWORD_NONE);
    assert (sms_keyword ("help") == SMS_KEYWORD_HELP && sms_keyword ("INFO") == SMS_KEYWORD_HELP);
    assert (sms_keyword ("Where is my order?") == SMS_KEYWORD_NONE && sms_keyword ("") == SMS_KEYWORD_NONE);
    assert (sms_keyword ("stopwatch") == SMS_KEYWORD_NONE);
    if (verbose)
        printf ("OK\n");
}
