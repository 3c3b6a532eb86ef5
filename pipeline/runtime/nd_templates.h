/*  nd_templates.h - a channel's message templates, read at start and on reload:
    the one loader of every sender (mail, sms, push, onsite) and nd-render.

    Layout (as the scheduler checks it at its start; nudge-templates(5)
    for operators):
    <root>/<id>/<locale>/<channel>.<part>.mustache, where id names the
    step ("abandoned-cart/reminder-1", or "...reminder-1.b" for an A/B
    variant's wording) and locale is a BCP 47 tag ("en", "pt-BR").

    A file's last newline (editors add one) is not part of the text.
    Every file of the channel is read and compiled at start, so a broken
    one stops the sender with its file name, not at 3 a.m. A set once read
    never changes; nd_templates_reload (SIGHUP) reads the directory again
    and, if all of it compiles, replaces the whole set at once. A worker
    thread renders one message from one set: nd_templates_hold gives it the
    set in use, which stays whole until it lets go, whatever a reload does
    meanwhile. Each file is compiled once, when read: renders of it on
    any thread share the compiled form, which they only read.           */
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

/*  Reads root again, as nd_templates_new did. If every file compiles, the
    new set replaces the old for every later lookup (held sets stay as
    they were) and said tells what was read ("12 push templates from
    conf/templates"); else nothing changes and said is why. On the thread
    that made self (the stage's loop). Returns 0 / -1.                   */
int nd_templates_reload (nd_templates_t *self, char *said, size_t size);

/*  The set in use now, for one message on any thread: its lookups all see
    that set, whatever a reload does meanwhile. The caller destroys it
    (cheap: the texts are shared, not copied). Thread-safe.              */
nd_templates_t *nd_templates_hold (nd_templates_t *self);

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

/*  Links in what this set renders for a send order become signed click
    redirects (nd_links.h): self takes links (NULL: none) and every set
    held from it uses them. nd_templates_render_order renders as
    nd_templates_render, then wraps the links of the parts people click:
    email html and text, sms text, push url (a push url the shop may not
    be sent to is left out: NULL with reason ""). order: the send order
    (its key, user, journey, step, variant, channel).                    */
typedef struct _nd_links_t nd_links_t;
void nd_templates_set_links (nd_templates_t *self, nd_links_t *links);
char *nd_templates_render_order (nd_templates_t *self, const json_t *order, const char *id,
                                 const char *locale, const char *part, const json_t *data,
                                 char *reason, size_t size);

/*  What every send order's templates see besides the trigger's data
    (nudge-templates(5)), added to data: the cart's and the products'
    prices as text for locale (a BCP 47 tag, the template's; NULL: en),
    by ICU ("12,00 zł" in pl, "￥1,200" in ja: price_text, total_text,
    value_text; and price_text, previous_price_text,
    regular_price_text of each "recommended" product and of "product",
    each in its own currency),
    cart.first_item, first_product and first_recommended (Mustache has
    no [0]), and from the
    person's traits first_name, last_name and name ("" when unknown). The
    scheduler makes each send order's data with it; nd-render --person
    the same. formats: ICU's formatters, kept by the caller (nd_formats.h;
    one per thread), or NULL to open them for this call alone.           */
typedef struct _nd_formats_t nd_formats_t;
void nd_templates_context (nd_formats_t *formats, json_t *data, const json_t *traits,
                           const char *locale);

/*  Dates as people of locale read them, in timezone (an IANA name; NULL:
    UTC), by ICU's udat: each ISO 8601 time of data.placed (an unpaid
    order's) and data.code.expires (a discount code's) gets a _text
    beside it, the date long and the time short ("March 5, 2026 at
    1:06 PM", "5 marca 2026 13:06", "2026年3月5日 13:06"; placed_text the
    date alone). The scheduler calls it once the code is in the data; a
    time that does not parse is left as it is. formats as for
    nd_templates_context.                                                */
void nd_templates_dates (nd_formats_t *formats, json_t *data, const char *locale,
                         const char *timezone);

void nd_templates_test (bool verbose);

#endif
