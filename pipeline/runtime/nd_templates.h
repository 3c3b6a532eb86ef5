/*  nd_templates.h - a channel's message templates, read once at start.

    Layout (as the scheduler checks it at its start, scheduler(1)):
    <root>/<id>/<locale>/<channel>.<part>.mustache, where id names the
    step ("abandoned-cart/reminder-1", or "...reminder-1.b" for an A/B
    variant's wording) and locale is a BCP 47 tag ("en", "pt-BR").

    A file's last newline (editors add one) is not part of the text.
    Every file of the channel is read and compiled at start, so a broken
    one stops the sender with its file name, not at 3 a.m. Lookups never
    write, so the outbox's worker threads share one nd_templates_t without
    a lock; each render compiles its own copy of the text, because a
    compiled nd_mustache_t must not be shared between threads.          */
#ifndef ND_TEMPLATES_H_INCLUDED
#define ND_TEMPLATES_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <jansson.h>

typedef struct _nd_templates_t nd_templates_t;

/*  Loads every <channel>.<part>.mustache under root. Returns NULL with a
    one-line reason ("<file>: line 3: unclosed section") when root is not
    a directory or a template does not compile.                          */
nd_templates_t *nd_templates_new (const char *root, const char *channel,
                                  const char *default_locale, char *reason, size_t size);
void nd_templates_destroy (nd_templates_t **self_p);

/*  How many templates were loaded.                                      */
size_t nd_templates_size (nd_templates_t *self);

/*  The first locale that has every part in required (NULL-terminated) for
    id: wanted, its language ("pt-BR" -> "pt"), the default. Writes it to
    locale and returns 0, or -1 when none has them all.                  */
int nd_templates_locale (nd_templates_t *self, const char *id, const char *wanted,
                         const char *const *required, char *locale, size_t size);

/*  Renders one part with data. Returns the text (the caller's), or NULL:
    with reason "" when the part does not exist, else why it failed.    */
char *nd_templates_render (nd_templates_t *self, const char *id, const char *locale,
                           const char *part, const json_t *data, char *reason, size_t size);

void nd_templates_test (bool verbose);

#endif
