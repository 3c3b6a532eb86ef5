/*  mail_compose - a send order in, a complete RFC 5322 message out.

    Templates: <templates>/<id>/<locale>/email.{subject,text,html}.mustache,
    as the scheduler checks them at its start (html optional). The order
    names id and locale; a locale without an e-mail falls back to its
    language ("pt-BR" -> "pt"), then to the default locale. All are read
    at start into a JSON object (lookups there never write, so worker
    threads share it without a lock) and compiled once to refuse a broken
    one with its file name; each message compiles its own copy, because a
    compiled template must not be shared between threads. A reload reads
    them into a new object and swaps the pointer under a lock; a message
    takes its own reference under it (jansson counts atomically), so one
    being built finishes with the texts it began with.

    An order may instead bring "subject" and "text" of its own and no
    "template" (the chat-bridge's question for support): sent as one
    text/plain part, without List-Unsubscribe. An order's "reply_to"
    (and "reply_to_name") replaces the configured Reply-To.

    The message: Date, From, Reply-To, To, Subject, Message-ID (a hash of
    the idempotency key, so every retry of one order carries the same
    id and a receiver can drop a duplicate), MIME-Version, List-Unsubscribe
    and List-Unsubscribe-Post (RFC 8058 one-click, with a signed token),
    then multipart/alternative: text/plain and text/html in UTF-8,
    quoted-printable. With a DKIM key the message is signed last.      */
#include "nd_mustache.h"
#include "nd_token.h"
#include "mail.h"

struct _mail_composer_t {
    char *from_name, *from_address;
    char *reply_name, *reply_address;
    char *return_path;
    char *id_domain;
    char *default_locale;
    char *root;                 //  the templates directory
    pthread_mutex_t lock;       //  guards the templates pointer
    json_t *templates;          //  "<id>|<locale>|<part>" -> text
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

//  One file into templates: 0 taken or not an e-mail part, -1 (with
//  reason) does not compile.
static int s_load_template (json_t *templates, const char *root, zfile_t *file,
                            char *reason, size_t size)
{
    //  <root>/<id>/<locale>/email.<part>.mustache
    const char *path = zfile_filename (file, NULL);
    const char *relative = path + strlen (root) + (path [strlen (root)] == '/');
    const char *base = strrchr (relative, '/');
    char part [16];
    if (!base || sscanf (base + 1, "email.%15[a-z].mustache", part) != 1
    ||  !streq (base + 1 + 6 + strlen (part), ".mustache"))
        return 0;
    const char *locale = base;
    while (locale > relative && locale [-1] != '/')
        locale--;
    if (locale == relative)
        return 0;
    char *key = zsys_sprintf ("%.*s|%.*s|%s", (int) (locale - 1 - relative), relative,
                              (int) (base - locale), locale, part);
    zchunk_t *chunk = zchunk_slurp (path, 0);
    char *text = chunk ? strndup ((char *) zchunk_data (chunk), zchunk_size (chunk)) : NULL;
    zchunk_destroy (&chunk);
    char *error = NULL;
    nd_mustache_t *compiled = text ? nd_mustache_new (text, &error) : NULL;
    int rc = 0;
    if (!compiled) {
        snprintf (reason, size, "%s: %s", path, error ? error : "cannot read");
        rc = -1;
    }
    else
        json_object_set_new (templates, key, json_string (text));
    nd_mustache_destroy (&compiled);
    free (error);
    free (text);
    zstr_free (&key);
    return rc;
}

//  Every e-mail template under root, or NULL with reason.
static json_t *s_read_templates (const char *root, char *reason, size_t size)
{
    zdir_t *dir = zdir_new (root, NULL);
    if (!dir) {
        snprintf (reason, size, "%s: not a directory", root);
        return NULL;
    }
    json_t *templates = json_object ();
    zfile_t **files = zdir_flatten (dir);
    int rc = 0;
    for (size_t i = 0; files [i] && rc == 0; i++)
        rc = s_load_template (templates, root, files [i], reason, size);
    zdir_flatten_free (&files);
    zdir_destroy (&dir);
    if (rc == 0 && json_object_size (templates) == 0)
        nd_log ("no e-mail templates under %s: every send order will bounce", root);
    if (rc)
        json_decref (templates);
    return rc ? NULL : templates;
}

static int s_load_templates (mail_composer_t *self, nd_stage_t *stage)
{
    char reason [400];
    self->root = strdup (nd_stage_option (stage, "templates", "conf/templates"));
    self->templates = s_read_templates (self->root, reason, sizeof reason);
    if (self->templates)
        return 0;
    nd_log ("%s", reason);
    return nd_stage_config_error (stage, "templates", strstr (reason, "not a directory")
                                  ? "not a directory" : "a template does not compile");
}

int mail_composer_reload (mail_composer_t *self, char *said, size_t size)
{
    json_t *fresh = s_read_templates (self->root, said, size);
    if (!fresh)
        return -1;
    snprintf (said, size, "%zu e-mail templates from %s", json_object_size (fresh), self->root);
    pthread_mutex_lock (&self->lock);
    json_t *old = self->templates;
    self->templates = fresh;
    pthread_mutex_unlock (&self->lock);
    json_decref (old);
    return 0;
}

int mail_templates_check (nd_stage_t *stage)
{
    char reason [400];
    json_t *templates = s_read_templates (nd_stage_option (stage, "templates", "conf/templates"),
                                          reason, sizeof reason);
    if (!templates) {
        nd_log ("%s", reason);
        return nd_stage_config_refused (stage);
    }
    json_decref (templates);
    return 0;
}

//  The templates in use, the caller's reference.
static json_t *s_templates (mail_composer_t *self)
{
    pthread_mutex_lock (&self->lock);
    json_t *templates = json_incref (self->templates);
    pthread_mutex_unlock (&self->lock);
    return templates;
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
    pthread_mutex_init (&self->lock, NULL);
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
        json_decref (self->templates);
        pthread_mutex_destroy (&self->lock);
        free (self->root);
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

/* ------------------------------------------------------------ templates */

static const char *s_part (const json_t *templates, const char *id, const char *locale,
                           const char *part)
{
    char key [512];
    snprintf (key, sizeof key, "%s|%s|%s", id, locale, part);
    return json_string_value (json_object_get (templates, key));
}

//  The first locale that has a whole e-mail: the order's, its language,
//  the default.
static const char *s_locale (mail_composer_t *self, const json_t *templates, const char *id,
                             const char *wanted, char *language, size_t size)
{
    snprintf (language, size, "%s", wanted ? wanted : "");
    language [strcspn (language, "-_")] = 0;
    const char *candidates [] = { wanted, language, self->default_locale };
    for (int i = 0; i < 3; i++)
        if (candidates [i] && *candidates [i]
        &&  s_part (templates, id, candidates [i], "subject")
        &&  s_part (templates, id, candidates [i], "text"))
            return candidates [i];
    return NULL;
}

static char *s_render (const char *template, const json_t *data, char *reason, size_t size)
{
    char *error = NULL;
    char *text = nd_mustache_render (template, data, NULL, &error);
    if (!text)
        snprintf (reason, size, "template does not render: %s", error ? error : "?");
    free (error);
    return text;
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

int mail_composer_build (mail_composer_t *self, const json_t *order, int64_t when,
                         mail_text_t *message, char *reason, size_t reason_size)
{
    const char *to = json_string_value (json_object_get (order, "to"));
    const char *id = json_string_value (json_object_get (order, "template"));
    const char *user = json_string_value (json_object_get (order, "user"));
    char language [32], token [ND_TOKEN_MAX], hash [65];
    //  An order without a template brings its own subject and text: a
    //  message written for the shop (the chat-bridge's question for
    //  support), not a campaign, so it has no unsubscribe link
    const char *own_subject = json_string_value (json_object_get (order, "subject"));
    const char *own_text = json_string_value (json_object_get (order, "text"));
    const char *reply_to = json_string_value (json_object_get (order, "reply_to"));
    bool own = !id && own_subject && own_text;
    json_t *templates = s_templates (self);
    const char *locale = id ? s_locale (self, templates, id, json_string_value (
                                        json_object_get (order, "locale")), language,
                                        sizeof language) : NULL;
    if (!mime_address_ok (to) || (json_object_get (order, "reply_to") && !mime_address_ok (reply_to))) {
        snprintf (reason, reason_size, "%s is not an address nudge sends to",
                  mime_address_ok (to) ? "reply_to" : "to");
        json_decref (templates);
        return -1;
    }
    if (!locale && !own) {
        snprintf (reason, reason_size, "no e-mail template \"%.200s\"", id ? id : "");
        json_decref (templates);
        return -1;
    }
    bool signed_link = !own && self->secret && nd_token_make (self->secret, user, "email", token,
                                                              sizeof token) == 0;
    mime_sha256_hex (json_string_value (json_object_get (order, "idempotency_key")), hash);
    json_t *data = s_data (self, order, signed_link ? token : NULL);
    const char *html_template = own ? NULL : s_part (templates, id, locale, "html");
    char *subject = own ? strdup (own_subject)
                  : s_render (s_part (templates, id, locale, "subject"), data, reason, reason_size);
    char *text = !subject ? NULL : own ? strdup (own_text)
               : s_render (s_part (templates, id, locale, "text"), data, reason, reason_size);
    char *html = text && html_template ? s_render (html_template, data, reason, reason_size) : NULL;
    int rc = subject && text && (html || !html_template) ? 0 : -1;
    if (rc == 0) {
        s_headers (self, message, order, when, subject, signed_link ? token : NULL, hash);
        s_body (message, text, html, hash);
        if (self->dkim && mail_dkim_sign (self->dkim, message)) {
            snprintf (reason, reason_size, "DKIM signing failed");
            rc = -1;
        }
    }
    json_decref (data);
    json_decref (templates);
    free (subject);
    free (text);
    free (html);
    return rc;
}
