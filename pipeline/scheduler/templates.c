/*  templates.c - which message templates exist, checked at start.

    Layer: rules: calls only the base.

    The senders render; the scheduler only names the template and locale
    in each send order. It still reads every template at start, so that a
    journey whose message is missing or does not compile stops the
    program with the file and line, not a sender at 3 a.m.

    Layout: <templates>/<id>/<locale>/<channel>.<part>.mustache, where id
    is "<journey>/<step>" (or "<journey>/<step>.<variant>" for an A/B
    variant's own wording), locale a BCP 47 tag ("en", "pl", "pt-BR").

      push    push.title  push.body   [push.url]
      sms     sms.text
      email   email.subject  email.text  [email.html]
      onsite  onsite.title  onsite.body  [onsite.url  onsite.image
              onsite.kind  onsite.products]  (onsite(1))

    The default locale must have every required part; another locale is
    offered for a channel only when it has them all.                     */
#include <dirent.h>
#include <sys/stat.h>
#include "nd_mustache.h"
#include "templates.h"

typedef struct {
    const char *part;
    bool required;
} s_part_t;

static const s_part_t s_push [] = { { "title", true }, { "body", true }, { "url", false }, { NULL, false } };
static const s_part_t s_sms [] = { { "text", true }, { NULL, false } };
//  WhatsApp: the approved template (first contact, or 24 h after their last
//  message) and the session text; both, as either may be the one sent
static const s_part_t s_whatsapp [] = { { "template", true }, { "text", true },
                                        { "variables", false }, { NULL, false } };
static const s_part_t s_email [] = { { "subject", true }, { "text", true }, { "html", false }, { NULL, false } };
static const s_part_t s_onsite [] = { { "title", true }, { "body", true }, { "url", false },
                                      { "image", false }, { "kind", false }, { "products", false },
                                      { NULL, false } };

struct _templates_t {
    char *dir;
    char *default_locale;
    zhash_t *offered;           //  "<id>|<channel>|<locale>" complete and compiled
};

static const s_part_t *s_parts (channel_t channel)
{
    return channel == CHANNEL_PUSH ? s_push : channel == CHANNEL_SMS ? s_sms
         : channel == CHANNEL_ONSITE ? s_onsite : channel == CHANNEL_WHATSAPP ? s_whatsapp
         : s_email;
}

templates_t *templates_new (const char *dir, const char *default_locale)
{
    templates_t *self = (templates_t *) zmalloc (sizeof *self);
    self->dir = strdup (dir);
    self->default_locale = strdup (default_locale);
    self->offered = zhash_new ();
    return self;
}

void templates_destroy (templates_t **self_p)
{
    templates_t *self = *self_p;
    if (self) {
        zhash_destroy (&self->offered);
        free (self->dir);
        free (self->default_locale);
        free (self);
        *self_p = NULL;
    }
}

//  Compiles one part if present. 1 present and good, 0 absent, -1 bad.
static int s_compile (const char *path, char **error)
{
    char *text = NULL;
    zfile_t *file = zfile_new (NULL, path);
    if (zfile_is_readable (file) && zfile_input (file) == 0) {
        zchunk_t *chunk = zfile_read (file, zfile_cursize (file), 0);
        text = chunk ? strndup ((char *) zchunk_data (chunk), zchunk_size (chunk)) : NULL;
        zchunk_destroy (&chunk);
        zfile_close (file);
    }
    zfile_destroy (&file);
    if (!text)
        return 0;
    char *reason = NULL;
    nd_mustache_t *compiled = nd_mustache_new (text, &reason);
    free (text);
    if (!compiled) {
        *error = zsys_sprintf ("%s: %s", path, reason ? reason : "does not compile");
        free (reason);
        return -1;
    }
    nd_mustache_destroy (&compiled);
    return 1;
}

//  One locale of one channel: 1 complete, 0 not offered, -1 bad.
static int s_check_locale (templates_t *self, const char *id, channel_t channel,
                           const char *locale, char **error)
{
    const s_part_t *parts = s_parts (channel);
    int present = 0, missing = 0;
    char *first_missing = NULL;
    for (int i = 0; parts [i].part; i++) {
        char *path = zsys_sprintf ("%s/%s/%s/%s.%s.mustache", self->dir, id, locale,
                                   channel_name (channel), parts [i].part);
        int rc = s_compile (path, error);
        if (rc < 0) {
            zstr_free (&path);
            zstr_free (&first_missing);
            return -1;
        }
        present += rc;
        if (rc == 0 && parts [i].required) {
            missing++;
            if (!first_missing)
                first_missing = strdup (path);
        }
        zstr_free (&path);
    }
    int rc = missing == 0 ? 1 : 0;
    if (missing && (present || streq (locale, self->default_locale))) {
        *error = zsys_sprintf ("%s: missing (every %s template needs it)", first_missing,
                               channel_name (channel));
        rc = -1;
    }
    free (first_missing);
    return rc;
}

int templates_check (templates_t *self, const char *id, channel_t channel, char **error)
{
    char *dir = zsys_sprintf ("%s/%s", self->dir, id);
    DIR *listing = opendir (dir);
    int rc = 0;
    bool has_default = false;
    struct dirent *entry;
    while (rc == 0 && listing && (entry = readdir (listing))) {
        if (entry->d_name [0] == '.')
            continue;
        int complete = s_check_locale (self, id, channel, entry->d_name, error);
        rc = complete < 0 ? -1 : 0;
        if (complete == 1) {
            char key [600];
            snprintf (key, sizeof key, "%s|%s|%s", id, channel_name (channel), entry->d_name);
            zhash_insert (self->offered, key, (void *) 1);
            has_default = has_default || streq (entry->d_name, self->default_locale);
        }
    }
    if (listing)
        closedir (listing);
    if (rc == 0 && !has_default) {
        *error = zsys_sprintf ("%s/%s/%s.*.mustache: missing (no %s template in the default"
                               " locale)", dir, self->default_locale, channel_name (channel),
                               channel_name (channel));
        rc = -1;
    }
    zstr_free (&dir);
    return rc;
}

int templates_check_variant (templates_t *self, const char *id, const char *variant,
                             channel_t channel, char **error)
{
    char *dir = zsys_sprintf ("%s/%s.%s", self->dir, id, variant);
    bool exists = zsys_file_exists (dir);
    zstr_free (&dir);
    if (!exists)
        return 0;
    char *full = zsys_sprintf ("%s.%s", id, variant);
    int rc = templates_check (self, full, channel, error);
    zstr_free (&full);
    return rc;
}

static bool s_offered (templates_t *self, const char *id, channel_t channel, const char *locale)
{
    char key [600];
    snprintf (key, sizeof key, "%s|%s|%s", id, channel_name (channel), locale);
    return zhash_lookup (self->offered, key) != NULL;
}

//  "pt_BR" -> "pt-BR", and the wanted tag's language alone ("pt").
static void s_locale_choices (const char *wanted, char *full, char *language)
{
    snprintf (full, 32, "%s", wanted ? wanted : "");
    for (char *p = full; *p; p++)
        if (*p == '_')
            *p = '-';
    snprintf (language, 32, "%.*s", (int) strcspn (full, "-"), full);
    for (char *p = language; *p; p++)
        *p = (char) tolower ((unsigned char) *p);
}

void templates_resolve (templates_t *self, const char *id, const char *variant,
                        channel_t channel, const char *wanted, char *template, char *locale)
{
    snprintf (template, 160, "%s", id);
    if (variant && *variant) {
        char candidate [160];
        snprintf (candidate, sizeof candidate, "%s.%s", id, variant);
        if (s_offered (self, candidate, channel, self->default_locale))
            snprintf (template, 160, "%s", candidate);
    }
    char full [32], language [32];
    s_locale_choices (wanted, full, language);
    if (*full && s_offered (self, template, channel, full))
        snprintf (locale, 32, "%s", full);
    else
    if (*language && s_offered (self, template, channel, language))
        snprintf (locale, 32, "%s", language);
    else
        snprintf (locale, 32, "%s", self->default_locale);
}
