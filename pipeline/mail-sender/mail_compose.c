/*  mail_compose - a send order in, a complete RFC 5322 message out.

    Templates: <templates>/<id>/<locale>/email.{subject,text,html}.mustache,
    as the scheduler checks them at its start (html optional), loaded,
    looked up and reloaded by nd_templates as every sender's are
    (nudge-templates(5)). The order names id and locale; a locale without
    an e-mail falls back to its language ("pt-BR" -> "pt"), then to the
    default locale. A message holds the set it began with, so a reload
    meanwhile does not mix two sets in one message. With click-url, the
    links of both parts become signed click redirects (nd_links.h).

    An order may instead bring "subject" and "text" of its own and no
    "template" (the chat-bridge's question for support): sent as one
    text/plain part, without List-Unsubscribe. An order's "reply_to"
    (and "reply_to_name") replaces the configured Reply-To.

    The message: Date, From, Reply-To, To, Subject, Message-ID (a hash of
    the idempotency key, so every retry of one order carries the same
    id and a receiver can drop a duplicate), MIME-Version, List-Unsubscribe
    and List-Unsubscribe-Post (RFC 8058 one-click, with a signed token),
    then (for nd-render --send-test's orders, "test": true) X-Nudge-Test,
    then multipart/alternative: text/plain and text/html in UTF-8,
    quoted-printable. With a DKIM key the message is signed last.      */
#include "nd_templates.h"
#include "nd_links.h"
#include "nd_token.h"
#include "mail.h"

struct _mail_composer_t {
    char *from_name, *from_address;
    char *reply_name, *reply_address;
    char *return_path;
    char *id_domain;
    char *default_locale;
    nd_templates_t *templates;  //  the e-mail parts; reloaded on SIGHUP
    char *unsubscribe_url;
    char *unsubscribe_mailto;
    char *secret;
    mail_dkim_t *dkim;
};

/* --------------------------------------------------------------- setup */

//  "Display Name <addr>" or "addr", from the pipeline file.
static int s_mailbox (nd_stage_t *stage, const char *path, const char *value,
                      char **name, char **address)
{
    const char *open = strrchr (value, '<');
    char *display = open ? strndup (value, (size_t) (open - value)) : strdup ("");
    char *addr = open ? strndup (open + 1, strcspn (open + 1, ">")) : strdup (value);
    char clean [256];
    mime_clean (display, clean, sizeof clean);
    free (display);
    if (!mime_address_ok (addr)) {
        free (addr);
        return nd_stage_config_error (stage, path, "expected \"Name <address@domain>\"");
    }
    *name = strdup (clean);
    *address = addr;
    return 0;
}

static int s_load_templates (mail_composer_t *self, nd_stage_t *stage)
{
    char reason [400];
    const char *root = nd_stage_option (stage, "templates", "conf/templates");
    self->templates = nd_templates_new (root, "email", self->default_locale, reason, sizeof reason);
    if (!self->templates) {
        nd_log ("%s", reason);
        return nd_stage_config_error (stage, "templates", strstr (reason, "not a directory")
                                      ? "not a directory" : "a template does not compile");
    }
    if (nd_templates_size (self->templates) == 0)
        nd_log ("no e-mail templates under %s: every send order will bounce", root);
    return nd_links_attach (stage, self->templates);
}

int mail_composer_reload (mail_composer_t *self, char *said, size_t size)
{
    return nd_templates_reload (self->templates, said, size);
}

static int s_unsubscribe_options (mail_composer_t *self, nd_stage_t *stage)
{
    const char *url = nd_stage_option (stage, "unsubscribe-url", NULL);
    const char *mailto = nd_stage_option (stage, "unsubscribe-mailto", NULL);
    const char *secret = nd_stage_option (stage, "unsubscribe-secret", NULL);
    if (!url && !mailto) {
        nd_log ("no unsubscribe-url: messages go out without List-Unsubscribe");
        return 0;
    }
    if (url && strncmp (url, "https://", 8) && strncmp (url, "http://", 7))
        return nd_stage_config_error (stage, "unsubscribe-url", "not an http(s):// URL");
    if (mailto && !mime_address_ok (mailto))
        return nd_stage_config_error (stage, "unsubscribe-mailto", "not an e-mail address");
    char reason [200];
    if (!secret || !(self->secret = nd_secret_load (secret, true, reason, sizeof reason)))
        return nd_stage_config_error (stage, "unsubscribe-secret",
                                      secret ? reason : "needed with unsubscribe-url");
    self->unsubscribe_url = url ? strdup (url) : NULL;
    self->unsubscribe_mailto = mailto ? strdup (mailto) : NULL;
    return 0;
}

static int s_dkim_options (mail_composer_t *self, nd_stage_t *stage)
{
    const char *key = nd_stage_option (stage, "dkim-key", NULL);
    const char *selector = nd_stage_option (stage, "dkim-selector", "nudge");
    const char *domain = nd_stage_option (stage, "dkim-domain",
                                          strchr (self->from_address, '@') + 1);
    if (!key)
        return 0;
    char reason [300];
    if (strncmp (key, "file:", 5) == 0)
        key += 5;
    self->dkim = mail_dkim_new (key, domain, selector, reason, sizeof reason);
    return self->dkim ? 0 : nd_stage_config_error (stage, "dkim-key", reason);
}

static int s_options (mail_composer_t *self, nd_stage_t *stage)
{
    const char *reply = nd_stage_option (stage, "reply-to", NULL);
    if (s_mailbox (stage, "from", nd_stage_option (stage, "from", "nudge <nudge@example.com>"),
                   &self->from_name, &self->from_address)
    ||  (reply && s_mailbox (stage, "reply-to", reply, &self->reply_name, &self->reply_address)))
        return -1;
    const char *domain = strchr (self->from_address, '@') + 1;
    self->return_path = strdup (nd_stage_option (stage, "return-path", self->from_address));
    self->id_domain = strdup (nd_stage_option (stage, "message-id-domain", domain));
    self->default_locale = strdup (nd_stage_option (stage, "locale", "en"));
    if (!mime_address_ok (self->return_path))
        return nd_stage_config_error (stage, "return-path", "not an e-mail address");
    return s_unsubscribe_options (self, stage) || s_dkim_options (self, stage)
        || s_load_templates (self, stage) ? -1 : 0;
}

mail_composer_t *mail_composer_new (nd_stage_t *stage)
{
    mail_composer_t *self = (mail_composer_t *) zmalloc (sizeof *self);
    if (s_options (self, stage))
        mail_composer_destroy (&self);
    return self;
}

void mail_composer_destroy (mail_composer_t **self_p)
{
    mail_composer_t *self = *self_p;
    if (self) {
        free (self->from_name);
        free (self->from_address);
        free (self->reply_name);
        free (self->reply_address);
        free (self->return_path);
        free (self->id_domain);
        free (self->default_locale);
        nd_templates_destroy (&self->templates);
        free (self->unsubscribe_url);
        free (self->unsubscribe_mailto);
        if (self->secret)
            OPENSSL_cleanse (self->secret, strlen (self->secret));
        free (self->secret);
        mail_dkim_destroy (&self->dkim);
        free (self);
        *self_p = NULL;
    }
}

const char *mail_composer_return_path (mail_composer_t *self)
{
    return self->return_path;
}

/* -------------------------------------------------------------- message */

static void s_unsubscribe_headers (mail_composer_t *self, mail_text_t *message,
                                   const char *token)
{
    const char *tokens [3] = { NULL, NULL, NULL };
    char *url = self->unsubscribe_url
              ? zsys_sprintf ("<%s%stoken=%s>%s", self->unsubscribe_url,
                              strchr (self->unsubscribe_url, '?') ? "&" : "?", token,
                              self->unsubscribe_mailto ? "," : "") : NULL;
    char *mailto = self->unsubscribe_mailto
                 ? zsys_sprintf ("<mailto:%s?subject=unsubscribe%%20%s>",
                                 self->unsubscribe_mailto, token) : NULL;
    tokens [0] = url ? url : mailto;
    tokens [1] = url ? mailto : NULL;
    mime_header_list (message, "List-Unsubscribe", tokens);
    //  RFC 8058: only an https (here also http, for development) URL can
    //  take the one-click POST
    if (url)
        mail_text_printf (message, "List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n");
    zstr_free (&url);
    zstr_free (&mailto);
}

static void s_headers (mail_composer_t *self, mail_text_t *message, const json_t *order,
                       int64_t when, const char *subject, const char *token, const char *hash)
{
    char date [64];
    time_t now = (time_t) (when / 1000);
    struct tm utc;
    gmtime_r (&now, &utc);
    strftime (date, sizeof date, "%a, %d %b %Y %H:%M:%S +0000", &utc);
    mail_text_printf (message, "Date: %s\r\n", date);
    mime_header_mailbox (message, "From", self->from_name, self->from_address);
    const char *reply_to = json_string_value (json_object_get (order, "reply_to"));
    if (reply_to)
        mime_header_mailbox (message, "Reply-To",
                             json_string_value (json_object_get (order, "reply_to_name")), reply_to);
    else
    if (self->reply_address)
        mime_header_mailbox (message, "Reply-To", self->reply_name, self->reply_address);
    mime_header_mailbox (message, "To", json_string_value (json_object_get (order, "name")),
                         json_string_value (json_object_get (order, "to")));
    mime_header_text (message, "Subject", subject);
    mail_text_printf (message, "Message-ID: <%.32s@%s>\r\nMIME-Version: 1.0\r\n",
                      hash, self->id_domain);
    //  nd-render --send-test: a person reading it knows it was a test
    if (json_is_true (json_object_get (order, "test")))
        mail_text_printf (message, "X-Nudge-Test: nd-render\r\n");
    if (token)
        s_unsubscribe_headers (self, message, token);
}

static void s_part_text (mail_text_t *message, const char *boundary, const char *type,
                         const char *body)
{
    if (boundary)
        mail_text_printf (message, "\r\n--%s\r\n", boundary);
    mail_text_printf (message, "Content-Type: text/%s; charset=UTF-8\r\n"
                               "Content-Transfer-Encoding: quoted-printable\r\n\r\n", type);
    mime_quoted_printable (message, body);
}

static void s_body (mail_text_t *message, const char *text, const char *html, const char *hash)
{
    if (!html) {
        s_part_text (message, NULL, "plain", text);
        return;
    }
    char boundary [48];
    snprintf (boundary, sizeof boundary, "=_nd_%.24s", hash + 32);
    mail_text_printf (message, "Content-Type: multipart/alternative; boundary=\"%s\"\r\n\r\n"
                               "This is a message in MIME format.\r\n", boundary);
    s_part_text (message, boundary, "plain", text);
    s_part_text (message, boundary, "html", html);
    mail_text_printf (message, "\r\n--%s--\r\n", boundary);
}

//  What the templates see: the order's data, and the unsubscribe link.
static json_t *s_data (mail_composer_t *self, const json_t *order, const char *token)
{
    json_t *data = json_copy (json_object_get (order, "data"));
    if (!json_is_object (data)) {
        json_decref (data);
        data = json_object ();
    }
    if (token && self->unsubscribe_url)
        json_object_set_new (data, "unsubscribe_url", json_sprintf ("%s%stoken=%s",
            self->unsubscribe_url, strchr (self->unsubscribe_url, '?') ? "&" : "?", token));
    if (!json_object_get (data, "name") && json_is_string (json_object_get (order, "name")))
        json_object_set (data, "name", json_object_get (order, "name"));
    return data;
}

//  One part into *out (the caller's): 0, or -1 with reason. A part the
//  template lacks leaves *out NULL and is no error.
static int s_render (nd_templates_t *held, const json_t *order, const char *id, const char *locale,
                     const char *part, const json_t *data, char **out, char *reason,
                     size_t reason_size)
{
    *out = nd_templates_render_order (held, order, id, locale, part, data, reason, reason_size);
    return *out || !*reason ? 0 : -1;
}

int mail_composer_render (mail_composer_t *self, const json_t *order, mail_parts_t *parts,
                          char *reason, size_t reason_size)
{
    static const char *const required [] = { "subject", "text", NULL };
    memset (parts, 0, sizeof *parts);
    const char *to = json_string_value (json_object_get (order, "to"));
    const char *id = json_string_value (json_object_get (order, "template"));
    const char *user = json_string_value (json_object_get (order, "user"));
    //  An order without a template brings its own subject and text: a
    //  message written for the shop (the chat-bridge's question for
    //  support), not a campaign, so it has no unsubscribe link
    const char *own_subject = json_string_value (json_object_get (order, "subject"));
    const char *own_text = json_string_value (json_object_get (order, "text"));
    const char *reply_to = json_string_value (json_object_get (order, "reply_to"));
    bool own = !id && own_subject && own_text;
    if (!mime_address_ok (to) || (json_object_get (order, "reply_to") && !mime_address_ok (reply_to))) {
        snprintf (reason, reason_size, "%s is not an address nudge sends to",
                  mime_address_ok (to) ? "reply_to" : "to");
        return -1;
    }
    if (own) {
        parts->subject = strdup (own_subject);
        parts->text = strdup (own_text);
        return 0;
    }
    //  The locale and every part from one set, whatever a reload does meanwhile
    nd_templates_t *held = nd_templates_hold (self->templates);
    if (!id || nd_templates_locale (held, id, json_string_value (json_object_get (order, "locale")),
                                    required, parts->locale, sizeof parts->locale)) {
        snprintf (reason, reason_size, "no e-mail template \"%.200s\"", id ? id : "");
        nd_templates_destroy (&held);
        return -1;
    }
    if (self->secret && nd_token_make (self->secret, user, "email", parts->token,
                                       sizeof parts->token))
        *parts->token = 0;
    json_t *data = s_data (self, order, *parts->token ? parts->token : NULL);
    int rc = s_render (held, order, id, parts->locale, "subject", data, &parts->subject, reason,
                       reason_size)
          || s_render (held, order, id, parts->locale, "text", data, &parts->text, reason, reason_size)
          || s_render (held, order, id, parts->locale, "html", data, &parts->html, reason, reason_size)
           ? -1 : 0;
    json_decref (data);
    nd_templates_destroy (&held);
    if (rc)
        mail_parts_free (parts);
    return rc;
}

void mail_parts_free (mail_parts_t *parts)
{
    zstr_free (&parts->subject);
    zstr_free (&parts->text);
    zstr_free (&parts->html);
}

int mail_composer_build (mail_composer_t *self, const json_t *order, int64_t when,
                         mail_text_t *message, char *reason, size_t reason_size)
{
    mail_parts_t parts;
    if (mail_composer_render (self, order, &parts, reason, reason_size))
        return -1;
    char hash [65];
    mime_sha256_hex (json_string_value (json_object_get (order, "idempotency_key")), hash);
    s_headers (self, message, order, when, parts.subject, *parts.token ? parts.token : NULL, hash);
    s_body (message, parts.text, parts.html, hash);
    mail_parts_free (&parts);
    if (self->dkim && mail_dkim_sign (self->dkim, message)) {
        snprintf (reason, reason_size, "DKIM signing failed");
        return -1;
    }
    return 0;
}
