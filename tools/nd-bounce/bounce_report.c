/*  bounce_report - what a bounce or a complaint says, read from its MIME.

    Pure: text in, a bounce_report_t out. Reads only what nudge needs:

    RFC 3464 DSN: multipart/report; report-type=delivery-status, whose
    message/delivery-status part is a per-message block (Reporting-MTA,
    Original-Envelope-Id) and then one block per recipient (Final-
    Recipient, Action, Status, Diagnostic-Code). Action "failed" with
    Status 5.x.x is a hard bounce; "failed" with 4.x.x, or "delayed", a
    soft one; "delivered", "relayed" and "expanded" are no failure.

    RFC 5965 ARF: multipart/report; report-type=feedback-report, whose
    message/feedback-report part has Feedback-Type (abuse, fraud, ...)
    and Original-Mail-From, and whose third part (message/rfc822 or
    text/rfc822-headers) is the original message, with its Return-Path.

    The token is the "+TOKEN" of the return path nudge sent with (VERP),
    looked for in this order: the envelope recipient the MTA names
    (--recipient), Delivered-To, X-Original-To, To; then, for a
    complaint, Original-Mail-From and the original's Return-Path.      */
#include <ctype.h>
#include <openssl/evp.h>
#include "bounce.h"

#define s_DEPTH_MAX 4

//  A header block: lower-cased name -> [values], unfolded and trimmed.
//  Returns where the block ends (after its blank line).
static const char *s_headers (const char *text, const char *end, json_t *headers)
{
    const char *p = text;
    json_t *last = NULL;
    while (p < end) {
        const char *eol = memchr (p, '\n', (size_t) (end - p));
        const char *next = eol ? eol + 1 : end;
        size_t length = (size_t) ((eol ? eol : end) - p);
        if (length && p [length - 1] == '\r')
            length--;
        if (length == 0)
            return next;
        if ((*p == ' ' || *p == '\t') && last) {
            const char *value = json_string_value (last);
            char *joined = zsys_sprintf ("%s %.*s", value, (int) length, p);
            json_string_set_nocheck (last, joined);
            free (joined);
        }
        else {
            const char *colon = memchr (p, ':', length);
            last = NULL;
            if (colon && colon > p) {
                char name [64];
                size_t name_size = (size_t) (colon - p) < sizeof name ? (size_t) (colon - p)
                                                                       : sizeof name - 1;
                for (size_t i = 0; i < name_size; i++)
                    name [i] = (char) tolower ((unsigned char) p [i]);
                name [name_size] = 0;
                json_t *values = json_object_get (headers, name);
                if (!values)
                    json_object_set_new (headers, name, values = json_array ());
                json_array_append_new (values, json_stringn_nocheck (colon + 1,
                                                             (size_t) (p + length - colon - 1)));
                last = json_array_get (values, json_array_size (values) - 1);
            }
        }
        p = next;
    }
    return end;
}

//  The nth value of a header, trimmed, into out ("" when absent).
static const char *s_value (json_t *headers, const char *name, size_t nth, char *out, size_t size)
{
    const char *value = json_string_value (json_array_get (json_object_get (headers, name), nth));
    *out = 0;
    if (!value)
        return NULL;
    while (*value == ' ' || *value == '\t')
        value++;
    snprintf (out, size, "%s", value);
    size_t length = strlen (out);
    while (length && (out [length - 1] == ' ' || out [length - 1] == '\t'))
        out [--length] = 0;
    return out;
}

//  "type/subtype" of a Content-Type, lower-cased.
static void s_media_type (const char *value, char *out, size_t size)
{
    size_t i = 0;
    for (; value [i] && value [i] != ';' && i < size - 1; i++)
        out [i] = (char) tolower ((unsigned char) value [i]);
    out [i] = 0;
    while (i && isspace ((unsigned char) out [i - 1]))
        out [--i] = 0;
}

//  A parameter of a Content-Type (boundary, report-type), unquoted.
static void s_param (const char *value, const char *name, char *out, size_t size)
{
    *out = 0;
    size_t name_size = strlen (name);
    for (const char *p = strchr (value, ';'); p; p = strchr (p + 1, ';')) {
        const char *q = p + 1;
        while (isspace ((unsigned char) *q))
            q++;
        if (strncasecmp (q, name, name_size) || q [name_size] != '=')
            continue;
        q += name_size + 1;
        size_t i = 0;
        bool quoted = *q == '"';
        for (q += quoted; *q && i < size - 1; q++) {
            if (quoted ? *q == '"' : (*q == ';' || isspace ((unsigned char) *q)))
                break;
            out [i++] = *q;
        }
        out [i] = 0;
        return;
    }
}

//  The token in an address "local+TOKEN@domain" (with or without <>,
//  a display name, or a "rfc822;" type), if it looks like one of ours.
static bool s_token (const char *address, char *token, size_t size)
{
    const char *start = strchr (address, '<');
    start = start ? start + 1 : strchr (address, ';') ? strchr (address, ';') + 1 : address;
    while (isspace ((unsigned char) *start))
        start++;
    const char *at = strchr (start, '@');
    const char *plus = at ? memchr (start, '+', (size_t) (at - start)) : NULL;
    if (!plus)
        return false;
    //  mail_verp.c's: 22 bytes in base32, in either case
    size_t length = (size_t) (at - plus - 1);
    if (length != 36 || length >= size)
        return false;
    for (size_t i = 0; i < length; i++)
        if (!strchr ("abcdefghijklmnopqrstuvwxyz234567", tolower ((unsigned char) plus [1 + i])))
            return false;
    memcpy (token, plus + 1, length);
    token [length] = 0;
    return true;
}

static void s_token_from (bounce_report_t *report, json_t *headers, const char *name)
{
    char value [1024];
    for (size_t i = 0; !*report->token && s_value (headers, name, i, value, sizeof value); i++)
        s_token (value, report->token, sizeof report->token);
}

/* ---------------------------------------------------------------- parts */

typedef struct {
    bounce_report_t *report;
    const char *report_type;    //  "delivery-status", "feedback-report"
    bool failure;               //  a recipient failed or was delayed
    char original_from [1024];  //  ARF Original-Mail-From
    char return_path [1024];    //  the attached original's
} s_walk_t;

//  One recipient block of a DSN; the worst one found wins (hard).
static void s_recipient (s_walk_t *walk, json_t *block)
{
    bounce_report_t *report = walk->report;
    char action [32], status [32], diagnostic [512];
    s_value (block, "action", 0, action, sizeof action);
    s_value (block, "status", 0, status, sizeof status);
    s_value (block, "diagnostic-code", 0, diagnostic, sizeof diagnostic);
    for (char *p = action; *p; p++)
        *p = (char) tolower ((unsigned char) *p);
    bool failed = streq (action, "failed"), delayed = streq (action, "delayed");
    if ((!failed && !delayed) || (walk->failure && streq (report->kind, "hard")))
        return;
    bool hard = failed && status [0] == '5';
    walk->failure = true;
    snprintf (report->type, sizeof report->type, "bounce");
    snprintf (report->kind, sizeof report->kind, "%s", hard ? "hard" : "soft");
    snprintf (report->action, sizeof report->action, "%s", action);
    snprintf (report->status, sizeof report->status, "%s", status);
    snprintf (report->reason, sizeof report->reason, "%s", *diagnostic ? diagnostic : status);
}

static void s_delivery_status (s_walk_t *walk, const char *body, const char *end)
{
    json_t *block = json_object ();
    const char *p = s_headers (body, end, block);       //  per-message
    json_decref (block);
    while (p < end) {
        block = json_object ();
        p = s_headers (p, end, block);
        if (json_object_size (block))
            s_recipient (walk, block);
        json_decref (block);
    }
}

static void s_feedback_report (s_walk_t *walk, const char *body, const char *end)
{
    json_t *block = json_object ();
    s_headers (body, end, block);
    bounce_report_t *report = walk->report;
    snprintf (report->type, sizeof report->type, "complaint");
    s_value (block, "feedback-type", 0, report->feedback_type, sizeof report->feedback_type);
    s_value (block, "original-mail-from", 0, walk->original_from, sizeof walk->original_from);
    snprintf (report->reason, sizeof report->reason, "feedback report: %s",
              *report->feedback_type ? report->feedback_type : "unnamed");
    json_decref (block);
}

static void s_entity (s_walk_t *walk, const char *text, const char *end, int depth);

static void s_multipart (s_walk_t *walk, const char *body, const char *end, const char *boundary,
                         int depth)
{
    size_t size = strlen (boundary);
    const char *part = NULL;
    for (const char *p = body; p < end; ) {
        const char *eol = memchr (p, '\n', (size_t) (end - p));
        const char *next = eol ? eol + 1 : end;
        if ((size_t) (end - p) >= size + 2 && p [0] == '-' && p [1] == '-'
        &&  strncmp (p + 2, boundary, size) == 0) {
            //  The line break before a delimiter belongs to it
            if (part) {
                const char *stop = p;
                if (stop > part && stop [-1] == '\n')
                    stop--;
                if (stop > part && stop [-1] == '\r')
                    stop--;
                s_entity (walk, part, stop, depth + 1);
            }
            if (p + 2 + size + 1 < end && p [2 + size] == '-' && p [3 + size] == '-')
                return;
            part = next;
        }
        p = next;
    }
}

//  A body in base64 is decoded (into a buffer the caller frees).
static char *s_decoded (json_t *headers, const char **body, const char **end)
{
    char encoding [64];
    s_value (headers, "content-transfer-encoding", 0, encoding, sizeof encoding);
    if (strcasecmp (encoding, "base64"))
        return NULL;
    size_t size = (size_t) (*end - *body);
    char *clean = (char *) malloc (size + 1), *out = (char *) malloc (size + 4);
    size_t n = 0;
    for (const char *p = *body; p < *end; p++)
        if (isalnum ((unsigned char) *p) || *p == '+' || *p == '/' || *p == '=')
            clean [n++] = *p;
    n -= n % 4;
    int length = EVP_DecodeBlock ((unsigned char *) out, (unsigned char *) clean, (int) n);
    //  EVP_DecodeBlock counts the padding's bytes as data
    for (size_t i = n; length > 0 && i > 0 && clean [i - 1] == '='; i--)
        length--;
    free (clean);
    length = length < 0 ? 0 : length;
    out [length] = 0;
    *body = out;
    *end = out + length;
    return out;
}

static void s_entity (s_walk_t *walk, const char *text, const char *end, int depth)
{
    if (depth > s_DEPTH_MAX)
        return;
    json_t *headers = json_object ();
    const char *body = s_headers (text, end, headers);
    char content_type [1024], type [128];
    s_value (headers, "content-type", 0, content_type, sizeof content_type);
    s_media_type (*content_type ? content_type : "text/plain", type, sizeof type);
    char *decoded = s_decoded (headers, &body, &end);
    if (depth == 0) {
        s_token_from (walk->report, headers, "delivered-to");
        s_token_from (walk->report, headers, "x-original-to");
        s_token_from (walk->report, headers, "to");
    }
    if (strncmp (type, "multipart/", 10) == 0) {
        char boundary [256];
        s_param (content_type, "boundary", boundary, sizeof boundary);
        if (streq (type, "multipart/report") && !walk->report_type) {
            char report_type [64];
            s_param (content_type, "report-type", report_type, sizeof report_type);
            walk->report_type = strcasecmp (report_type, "delivery-status") == 0 ? "delivery-status"
                              : strcasecmp (report_type, "feedback-report") == 0 ? "feedback-report"
                              : NULL;
        }
        if (*boundary)
            s_multipart (walk, body, end, boundary, depth);
    }
    else
    if ((streq (type, "message/delivery-status") || streq (type, "message/global-delivery-status"))
    &&  walk->report_type && streq (walk->report_type, "delivery-status"))
        s_delivery_status (walk, body, end);
    else
    if (streq (type, "message/feedback-report")
    &&  walk->report_type && streq (walk->report_type, "feedback-report"))
        s_feedback_report (walk, body, end);
    else
    if (streq (type, "message/rfc822") || streq (type, "text/rfc822-headers")
    ||  streq (type, "message/rfc822-headers")) {
        json_t *original = json_object ();
        s_headers (body, end, original);
        if (!*walk->return_path)
            s_value (original, "return-path", 0, walk->return_path, sizeof walk->return_path);
        json_decref (original);
    }
    free (decoded);
    json_decref (headers);
}

//  What goes on to the mail-sender is one line of printable ASCII: a
//  remote server's text may be in any charset, or none.
static void s_printable (char *text)
{
    for (; *text; text++)
        if ((unsigned char) *text < 0x20 || (unsigned char) *text > 0x7e)
            *text = '?';
}

int bounce_parse (const char *message, size_t size, const char *recipient, bounce_report_t *report)
{
    memset (report, 0, sizeof *report);
    s_walk_t walk = { report, NULL, false, "", "" };
    if (recipient)
        s_token (recipient, report->token, sizeof report->token);
    s_entity (&walk, message, message + size, 0);
    if (!walk.report_type) {
        snprintf (report->why, sizeof report->why,
                  "not a delivery or feedback report (multipart/report): ignored");
        return 0;
    }
    if (streq (walk.report_type, "delivery-status") && !walk.failure) {
        snprintf (report->why, sizeof report->why, "a delivery report with no failed recipient: ignored");
        return 0;
    }
    if (streq (walk.report_type, "feedback-report") && !*report->type) {
        snprintf (report->why, sizeof report->why, "a feedback report without its message/feedback-report part");
        return -1;
    }
    s_printable (report->action);
    s_printable (report->status);
    s_printable (report->feedback_type);
    s_printable (report->reason);
    if (!*report->token && *walk.original_from)
        s_token (walk.original_from, report->token, sizeof report->token);
    if (!*report->token && *walk.return_path)
        s_token (walk.return_path, report->token, sizeof report->token);
    if (!*report->token) {
        snprintf (report->why, sizeof report->why,
                  "no return-path token (address+TOKEN@...) in the recipient or the report: not about a message nudge sent");
        return -1;
    }
    return 1;
}
