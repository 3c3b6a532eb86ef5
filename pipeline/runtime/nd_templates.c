/*  nd_templates - a channel's message templates; see nd_templates.h.

    All templates sit in one set, "<id>|<locale>|<part>" -> the compiled
    template, built whole, sorted, and only read afterwards: each file is
    compiled once when read, not on every render (a render without
    partials only reads the compiled form, so threads share it). A reload
    builds another set and swaps the pointer under the lock; readers take
    their own reference to the set under it (counted atomically), so the
    old one is freed by whoever lets go of it last.                      */
#define _GNU_SOURCE
#include <assert.h>
#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <czmq.h>
#include "nd.h"
#include "nd_mustache.h"
#include "nd_templates.h"
#include "nd_links.h"
#include "nd_formats.h"

typedef struct {
    char *key;                  //  "<id>|<locale>|<part>"
    nd_mustache_t *compiled;
} s_text_t;

typedef struct {
    int refs;                   //  the sets that use it, atomic
    size_t size, cap;
    s_text_t *text;             //  sorted by key once loaded
} s_texts_t;

struct _nd_templates_t {
    char *root;                 //  NULL in a held set: it never reloads
    char *channel;
    char *default_locale;
    pthread_mutex_t lock;       //  guards texts (the pointer, not the set)
    s_texts_t *texts;
    nd_links_t *links;          //  or NULL; a held set borrows its root's
    bool owns_links;
};

static s_texts_t *s_texts_new (void)
{
    s_texts_t *texts = (s_texts_t *) zmalloc (sizeof *texts);
    texts->refs = 1;
    //  Never NULL, even for a set without a file: qsort and bsearch
    //  must not be given NULL
    texts->cap = 64;
    texts->text = (s_text_t *) zmalloc (texts->cap * sizeof (s_text_t));
    return texts;
}

static void s_texts_release (s_texts_t **texts_p)
{
    s_texts_t *texts = *texts_p;
    if (texts && __atomic_sub_fetch (&texts->refs, 1, __ATOMIC_ACQ_REL) == 0) {
        for (size_t i = 0; i < texts->size; i++) {
            free (texts->text [i].key);
            nd_mustache_destroy (&texts->text [i].compiled);
        }
        free (texts->text);
        free (texts);
    }
    *texts_p = NULL;
}

static void s_texts_add (s_texts_t *texts, char *key, nd_mustache_t *compiled)
{
    if (texts->size == texts->cap) {
        texts->cap *= 2;
        texts->text = (s_text_t *) realloc (texts->text, texts->cap * sizeof (s_text_t));
        assert (texts->text);
    }
    texts->text [texts->size++] = (s_text_t) { key, compiled };
}

static int s_text_compare (const void *a, const void *b)
{
    return strcmp (((const s_text_t *) a)->key, ((const s_text_t *) b)->key);
}

//  One file: 0 taken or not the channel's, -1 does not compile.
static int s_load (nd_templates_t *self, const char *root, const char *path,
                   char *reason, size_t size)
{
    const char *relative = path + strlen (root) + (path [strlen (root)] == '/');
    const char *base = strrchr (relative, '/');
    size_t prefix = strlen (self->channel);
    if (!base || strncmp (base + 1, self->channel, prefix) || base [1 + prefix] != '.')
        return 0;
    const char *part = base + 2 + prefix;
    const char *suffix = strstr (part, ".mustache");
    if (!suffix || suffix [9] || suffix == part || memchr (part, '.', (size_t) (suffix - part)))
        return 0;
    const char *locale = base;
    while (locale > relative && locale [-1] != '/')
        locale--;
    if (locale == relative)
        return 0;               //  <root>/<locale>/file: no id
    zchunk_t *chunk = zchunk_slurp (path, 0);
    char *text = chunk ? strndup ((char *) zchunk_data (chunk), zchunk_size (chunk)) : NULL;
    zchunk_destroy (&chunk);
    //  The newline an editor ends a file with is not part of the message
    size_t length = text ? strlen (text) : 0;
    if (length && text [length - 1] == '\n')
        text [--length] = 0;
    if (length && text [length - 1] == '\r')
        text [--length] = 0;
    char *error = NULL;
    nd_mustache_t *compiled = text ? nd_mustache_new (text, &error) : NULL;
    int rc = 0;
    if (compiled)
        s_texts_add (self->texts, zsys_sprintf ("%.*s|%.*s|%.*s", (int) (locale - 1 - relative),
                                                relative, (int) (base - locale), locale,
                                                (int) (suffix - part), part), compiled);
    else {
        snprintf (reason, size, "%s: %s", path, error ? error : "cannot read");
        rc = -1;
    }
    free (error);
    free (text);
    return rc;
}

nd_templates_t *nd_templates_new (const char *root, const char *channel,
                                  const char *default_locale, char *reason, size_t size)
{
    zdir_t *dir = zdir_new (root, NULL);
    if (!dir) {
        snprintf (reason, size, "%s: not a directory", root);
        return NULL;
    }
    nd_templates_t *self = (nd_templates_t *) calloc (1, sizeof *self);
    assert (self);
    pthread_mutex_init (&self->lock, NULL);
    self->root = strdup (root);
    self->channel = strdup (channel);
    self->default_locale = strdup (default_locale);
    self->texts = s_texts_new ();
    zfile_t **files = zdir_flatten (dir);
    int rc = 0;
    for (size_t i = 0; files [i] && rc == 0; i++)
        rc = s_load (self, root, zfile_filename (files [i], NULL), reason, size);
    zdir_flatten_free (&files);
    zdir_destroy (&dir);
    qsort (self->texts->text, self->texts->size, sizeof (s_text_t), s_text_compare);
    if (rc)
        nd_templates_destroy (&self);
    return self;
}

void nd_templates_destroy (nd_templates_t **self_p)
{
    nd_templates_t *self = *self_p;
    if (self) {
        s_texts_release (&self->texts);
        if (self->owns_links)
            nd_links_destroy (&self->links);
        pthread_mutex_destroy (&self->lock);
        free (self->root);
        free (self->channel);
        free (self->default_locale);
        free (self);
        *self_p = NULL;
    }
}

//  The texts in use, the caller's reference.
static s_texts_t *s_texts (nd_templates_t *self)
{
    pthread_mutex_lock (&self->lock);
    s_texts_t *texts = self->texts;
    __atomic_add_fetch (&texts->refs, 1, __ATOMIC_ACQ_REL);
    pthread_mutex_unlock (&self->lock);
    return texts;
}

int nd_templates_reload (nd_templates_t *self, char *said, size_t size)
{
    if (!self->root) {
        snprintf (said, size, "a held set does not reload");
        return -1;
    }
    nd_templates_t *fresh = nd_templates_new (self->root, self->channel, self->default_locale,
                                              said, size);
    if (!fresh)
        return -1;
    snprintf (said, size, "%zu %s templates from %s", fresh->texts->size,
              streq (self->channel, "email") ? "e-mail" : self->channel, self->root);
    pthread_mutex_lock (&self->lock);
    s_texts_t *old = self->texts;
    self->texts = fresh->texts;
    fresh->texts = old;
    pthread_mutex_unlock (&self->lock);
    nd_templates_destroy (&fresh);     //  frees the old texts unless held
    return 0;
}

nd_templates_t *nd_templates_hold (nd_templates_t *self)
{
    nd_templates_t *held = (nd_templates_t *) calloc (1, sizeof *held);
    assert (held);
    pthread_mutex_init (&held->lock, NULL);
    held->channel = strdup (self->channel);
    held->default_locale = strdup (self->default_locale);
    held->texts = s_texts (self);
    held->links = self->links;
    return held;
}

size_t nd_templates_size (nd_templates_t *self)
{
    s_texts_t *texts = s_texts (self);
    size_t size = texts->size;
    s_texts_release (&texts);
    return size;
}

static nd_mustache_t *s_text (const s_texts_t *texts, const char *id, const char *locale,
                              const char *part)
{
    char key [600];
    snprintf (key, sizeof key, "%s|%s|%s", id, locale, part);
    s_text_t wanted = { key, NULL };
    s_text_t *found = (s_text_t *) bsearch (&wanted, texts->text, texts->size,
                                            sizeof (s_text_t), s_text_compare);
    return found ? found->compiled : NULL;
}

int nd_templates_locale (nd_templates_t *self, const char *id, const char *wanted,
                         const char *const *required, char *locale, size_t size)
{
    char language [64];
    snprintf (language, sizeof language, "%s", wanted ? wanted : "");
    language [strcspn (language, "-_")] = 0;
    const char *candidates [] = { wanted, language, self->default_locale };
    s_texts_t *texts = s_texts (self);
    int rc = -1;
    for (int i = 0; rc && id && i < 3; i++) {
        if (!candidates [i] || !*candidates [i])
            continue;
        bool complete = true;
        for (size_t p = 0; complete && required [p]; p++)
            complete = s_text (texts, id, candidates [i], required [p]) != NULL;
        if (complete) {
            snprintf (locale, size, "%s", candidates [i]);
            rc = 0;
        }
    }
    s_texts_release (&texts);
    return rc;
}

char *nd_templates_render (nd_templates_t *self, const char *id, const char *locale,
                           const char *part, const json_t *data, char *reason, size_t size)
{
    s_texts_t *texts = s_texts (self);
    nd_mustache_t *compiled = s_text (texts, id, locale, part);
    *reason = 0;
    char *error = NULL;
    char *rendered = compiled ? nd_mustache_render_with (compiled, data, NULL, &error) : NULL;
    if (compiled && !rendered)
        snprintf (reason, size, "template %s/%s/%s.%s does not render: %s", id, locale,
                  self->channel, part, error ? error : "?");
    free (error);
    s_texts_release (&texts);
    return rendered;
}

void nd_templates_set_links (nd_templates_t *self, nd_links_t *links)
{
    if (self->owns_links)
        nd_links_destroy (&self->links);
    self->links = links;
    self->owns_links = true;
}

char *nd_templates_render_order (nd_templates_t *self, const json_t *order, const char *id,
                                 const char *locale, const char *part, const json_t *data,
                                 char *reason, size_t size)
{
    char *text = nd_templates_render (self, id, locale, part, data, reason, size);
    if (!text || !self->links)
        return text;
    int kind = streq (self->channel, "email") && streq (part, "html") ? ND_LINKS_HTML
             : streq (self->channel, "email") && streq (part, "text") ? ND_LINKS_TEXT
             : streq (self->channel, "sms") && streq (part, "text") ? ND_LINKS_TEXT
             : streq (self->channel, "push") && streq (part, "url") ? ND_LINKS_URL : -1;
    if (kind < 0)
        return text;
    char *wrapped = nd_links_wrap (self->links, order, (nd_links_kind_t) kind, text);
    if (!wrapped)
        nd_log ("%s: the %s.%s of %s goes to a host not in link-hosts: left out",
                self->channel, self->channel, part, id);
    free (text);
    return wrapped;
}

/* ------------------------------------------------------------ context -- */

//  One send order's prices: the formatters, the template's locale.
typedef struct {
    nd_formats_t *formats;
    const char *locale;         //  BCP 47; NULL: en
} s_money_t;

//  Money as people read it: ICU's, else "19.90 EUR" (no cents for
//  currencies without).
static json_t *s_money (s_money_t *money, double amount, const char *currency)
{
    char shown [192];
    if (nd_formats_money (money->formats, money->locale, currency, amount, shown,
                          sizeof shown) == 0)
        return json_string (shown);
    const char *whole [] = { "JPY", "KRW", "HUF", "CLP", "ISK", "VND", NULL };
    int decimals = 2;
    for (int i = 0; currency && whole [i]; i++)
        if (streq (currency, whole [i]))
            decimals = 0;
    char text [64];
    snprintf (text, sizeof text, "%.*f%s%s", decimals, amount, currency ? " " : "",
              currency ? currency : "");
    return json_string (text);
}

static void s_prices (s_money_t *money, json_t *items, const char *currency)
{
    size_t i;
    json_t *item;
    json_array_foreach (items, i, item) {
        json_t *price = json_object_get (item, "price");
        if (!json_is_number (price))
            continue;
        json_int_t quantity = json_integer_value (json_object_get (item, "quantity"));
        json_object_set_new (item, "price_text", s_money (money, json_number_value (price), currency));
        json_object_set_new (item, "total_text",
            s_money (money, json_number_value (price) * (quantity > 0 ? quantity : 1), currency));
    }
}

//  A product of the catalogue (one of the sessionizer's "recommended",
//  or the "product" of product.back_in_stock / price_dropped) names its
//  own currency.
static void s_product_prices (s_money_t *money, json_t *product)
{
    const char *currency = json_string_value (json_object_get (product, "currency"));
    const char *fields [][2] = {
        { "price", "price_text" }, { "previous_price", "previous_price_text" },
        { "regular_price", "regular_price_text" }, { NULL, NULL }
    };
    for (int i = 0; json_is_object (product) && fields [i][0]; i++) {
        json_t *amount = json_object_get (product, fields [i][0]);
        if (json_is_number (amount))
            json_object_set_new (product, fields [i][1],
                                 s_money (money, json_number_value (amount), currency));
    }
}

//  The cart in one line, "Trail shoe × 1, Wool socks × 2 · €114.90", and
//  the same percent-encoded (RFC 3986: all but the unreserved) for a link
//  that opens the shop's chat with the cart as its context (the chat
//  widget reads #nudge-chat=...). Names come from the shop's events: the
//  encoding keeps them inert in a URL, the widget shows them as text.
#define CART_SUMMARY_ITEMS 5
static void s_cart_summary (json_t *cart)
{
    json_t *items = json_object_get (cart, "items");
    if (!json_is_array (items))
        return;
    zchunk_t *text = zchunk_new (NULL, 256);
    size_t i;
    json_t *item;
    json_array_foreach (items, i, item) {
        const char *name = json_string_value (json_object_get (item, "name"));
        if (i == CART_SUMMARY_ITEMS) {
            zchunk_extend (text, ", …", strlen (", …"));
            break;
        }
        char line [160];
        json_int_t quantity = json_integer_value (json_object_get (item, "quantity"));
        snprintf (line, sizeof line, "%s%.100s × %lld", i ? ", " : "", name ? name : "?",
                  (long long) (quantity > 0 ? quantity : 1));
        zchunk_extend (text, line, strlen (line));
    }
    const char *total = json_string_value (json_object_get (cart, "value_text"));
    if (total) {
        zchunk_extend (text, " · ", strlen (" · "));
        zchunk_extend (text, total, strlen (total));
    }
    char *summary = strndup ((char *) zchunk_data (text), zchunk_size (text));
    //  %.100s may have cut a character in two: drop its leading bytes
    json_t *value = json_string (summary);
    for (size_t length = strlen (summary); !value && length > 0; length--) {
        summary [length - 1] = 0;
        value = json_string (summary);
    }
    if (value)
        json_object_set_new (cart, "summary", value);
    const char *plain = value ? json_string_value (value) : "";
    char *encoded = (char *) zmalloc (strlen (plain) * 3 + 1), *out = encoded;
    for (const unsigned char *c = (const unsigned char *) plain; *c; c++)
        if (isalnum (*c) || strchr ("-._~", *c))
            *out++ = (char) *c;
        else
            out += sprintf (out, "%%%02X", *c);
    json_object_set_new (cart, "summary_encoded", json_string (encoded));
    free (encoded);
    free (summary);
    zchunk_destroy (&text);
}

static const char *s_trait (const json_t *traits, const char *camel, const char *snake)
{
    const char *value = json_string_value (json_object_get (traits, camel));
    return value ? value : json_string_value (json_object_get (traits, snake));
}

void nd_templates_context (nd_formats_t *formats, json_t *data, const json_t *traits,
                           const char *locale)
{
    nd_formats_t *own_formats = formats ? NULL : nd_formats_new ();
    json_t *cart = json_object_get (data, "cart");
    const char *currency = json_string_value (json_object_get (cart, "currency"));
    s_money_t money = { formats ? formats : own_formats, locale };
    s_prices (&money, json_object_get (cart, "items"), currency);
    if (json_is_number (json_object_get (cart, "value")))
        json_object_set_new (cart, "value_text",
                             s_money (&money, json_number_value (json_object_get (cart, "value")), currency));
    const char *own = json_string_value (json_object_get (data, "currency"));
    s_prices (&money, json_object_get (data, "products"), own);
    size_t index;
    json_t *product;
    json_array_foreach (json_object_get (data, "recommended"), index, product)
        s_product_prices (&money, product);
    s_product_prices (&money, json_object_get (data, "product"));
    //  An order's total (unpaid-order's), beside its articles
    if (own && json_is_number (json_object_get (data, "value")))
        json_object_set_new (data, "value_text",
                             s_money (&money, json_number_value (json_object_get (data, "value")), own));
    nd_formats_destroy (&own_formats);
    s_cart_summary (cart);
    //  Mustache has no [0]: the first line, for "your <item> is waiting".
    if (json_array_size (json_object_get (cart, "items")))
        json_object_set (cart, "first_item", json_array_get (json_object_get (cart, "items"), 0));
    if (json_array_size (json_object_get (data, "products")))
        json_object_set (data, "first_product", json_array_get (json_object_get (data, "products"), 0));
    if (json_array_size (json_object_get (data, "recommended")))
        json_object_set (data, "first_recommended",
                         json_array_get (json_object_get (data, "recommended"), 0));
    const char *first = s_trait (traits, "firstName", "first_name");
    const char *last = s_trait (traits, "lastName", "last_name");
    const char *full = json_string_value (json_object_get (traits, "name"));
    json_object_set_new (data, "first_name", json_string (first ? first : ""));
    json_object_set_new (data, "last_name", json_string (last ? last : ""));
    json_object_set_new (data, "name", json_sprintf ("%s%s%s", first ? first : full ? full : "",
                                                     first && last ? " " : "",
                                                     first && last ? last : ""));
}

/* -------------------------------------------------------------- dates -- */

static void s_date (nd_formats_t *formats, json_t *object, const char *field,
                    const char *locale, const char *timezone, bool with_time)
{
    const char *text = json_string_value (json_object_get (object, field));
    int64_t ms;
    char shown [480];
    if (text && nd_time_parse (text, &ms) == 0
    &&  nd_formats_date (formats, locale, timezone, with_time, ms, shown, sizeof shown) == 0) {
        char name [64];
        snprintf (name, sizeof name, "%s_text", field);
        json_object_set_new (object, name, json_string (shown));
    }
}

void nd_templates_dates (nd_formats_t *formats, json_t *data, const char *locale,
                         const char *timezone)
{
    nd_formats_t *own_formats = formats ? NULL : nd_formats_new ();
    formats = formats ? formats : own_formats;
    s_date (formats, data, "placed", locale, timezone, false);
    json_t *code = json_object_get (data, "code");
    if (json_is_object (code))
        s_date (formats, code, "expires", locale, timezone, true);
    nd_formats_destroy (&own_formats);
}

/* ----------------------------------------------------------- self-test -- */

static void s_write (const char *root, const char *path, const char *text)
{
    char *full = zsys_sprintf ("%s/%s", root, path);
    char *dir = strdup (full);
    *strrchr (dir, '/') = 0;
    zsys_dir_create ("%s", dir);
    FILE *file = fopen (full, "w");
    assert (file);
    fputs (text, file);
    fclose (file);
    free (dir);
    zstr_free (&full);
}

//  A worker's renders of one compiled template, shared with another
//  worker and with reloads on the stage's thread: each must read whole.
static void *s_render_worker (void *arg)
{
    nd_templates_t *templates = (nd_templates_t *) arg;
    json_t *data = json_pack ("{s:s}", "name", "Ann");
    char reason [256];
    long wrong = 0;
    for (int i = 0; i < 2000; i++) {
        nd_templates_t *held = nd_templates_hold (templates);
        char *text = nd_templates_render (held, "cart/one", "en", "text", data, reason,
                                          sizeof reason);
        wrong += !text || !streq (text, "Hello Ann");
        free (text);
        nd_templates_destroy (&held);
    }
    json_decref (data);
    return (void *) wrong;
}

void nd_templates_test (bool verbose)
{
    if (verbose)
        printf (" * nd_templates: ");
    char root [] = "/tmp/nd-templates-XXXXXX", reason [256], locale [32];
    assert (mkdtemp (root));
    s_write (root, "cart/one/en/sms.text.mustache", "Hi {{name}}\n");
    s_write (root, "cart/one/pt/sms.text.mustache", "Ola {{name}}");
    s_write (root, "cart/one/en/push.title.mustache", "Title");
    s_write (root, "cart/one/en/sms.text.mustache~", "a backup file");
    nd_templates_t *templates = nd_templates_new (root, "sms", "en", reason, sizeof reason);
    assert (templates && nd_templates_size (templates) == 2);
    const char *text [] = { "text", NULL };
    assert (nd_templates_locale (templates, "cart/one", "pt-BR", text, locale, sizeof locale) == 0
            && streq (locale, "pt"));
    assert (nd_templates_locale (templates, "cart/one", "ja", text, locale, sizeof locale) == 0
            && streq (locale, "en"));
    json_t *name = json_pack ("{s:s}", "name", "Ann");
    char *hi = nd_templates_render (templates, "cart/one", "en", "text", name, reason, sizeof reason);
    assert (hi && streq (hi, "Hi Ann"));          //  without the file's last newline
    free (hi);
    json_decref (name);
    assert (nd_templates_locale (templates, "cart/two", "en", text, locale, sizeof locale) == -1);
    json_t *data = json_pack ("{s:s}", "name", "Ana & Bo");
    char *out = nd_templates_render (templates, "cart/one", "pt", "text", data, reason, sizeof reason);
    assert (out && streq (out, "Ola Ana &amp; Bo"));
    free (out);
    assert (!nd_templates_render (templates, "cart/one", "pt", "title", data, reason, sizeof reason)
            && !*reason);
    json_decref (data);
    //  A reload replaces the set; one held before keeps the old texts
    nd_templates_t *held = nd_templates_hold (templates);
    s_write (root, "cart/one/en/sms.text.mustache", "Hello {{name}}");
    s_write (root, "cart/two/en/sms.text.mustache", "Two");
    assert (nd_templates_reload (templates, reason, sizeof reason) == 0
            && nd_templates_size (templates) == 3 && nd_templates_size (held) == 2);
    name = json_pack ("{s:s}", "name", "Ann");
    hi = nd_templates_render (templates, "cart/one", "en", "text", name, reason, sizeof reason);
    char *old = nd_templates_render (held, "cart/one", "en", "text", name, reason, sizeof reason);
    assert (hi && streq (hi, "Hello Ann") && old && streq (old, "Hi Ann"));
    free (hi);
    free (old);
    //  A broken file: refused, and the set in use stays whole
    s_write (root, "cart/two/en/sms.text.mustache", "Two {{#open}}");
    assert (nd_templates_reload (templates, reason, sizeof reason) == -1
            && strstr (reason, "cart/two/en/sms.text.mustache"));
    assert (nd_templates_reload (held, reason, sizeof reason) == -1);
    hi = nd_templates_render (templates, "cart/one", "en", "text", name, reason, sizeof reason);
    assert (hi && streq (hi, "Hello Ann") && nd_templates_size (templates) == 3);
    free (hi);
    json_decref (name);
    //  Two threads render the one compiled template while the set reloads
    pthread_t workers [2];
    for (int i = 0; i < 2; i++)
        assert (pthread_create (&workers [i], NULL, s_render_worker, templates) == 0);
    s_write (root, "cart/two/en/sms.text.mustache", "Two");
    for (int i = 0; i < 20; i++)
        assert (nd_templates_reload (templates, reason, sizeof reason) == 0);
    for (int i = 0; i < 2; i++) {
        void *wrong;
        assert (pthread_join (workers [i], &wrong) == 0 && wrong == NULL);
    }
    nd_templates_destroy (&held);
    nd_templates_destroy (&templates);
    nd_templates_destroy (&templates);
    s_write (root, "cart/one/en/sms.text.mustache", "Hi {{#name}}");
    assert (!nd_templates_new (root, "sms", "en", reason, sizeof reason)
            && strstr (reason, "sms.text.mustache"));
    assert (!nd_templates_new ("/nonexistent/nd", "sms", "en", reason, sizeof reason));
    //  A channel without a file: an empty set, asked for nothing it has
    //  (under UBSan: no NULL handed to qsort or bsearch)
    nd_templates_t *none = nd_templates_new (root, "whatsapp", "en", reason, sizeof reason);
    assert (none && nd_templates_size (none) == 0);
    assert (nd_templates_locale (none, "cart/one", "en", text, locale, sizeof locale) == -1);
    assert (!nd_templates_render (none, "cart/one", "en", "text", NULL, reason, sizeof reason)
            && !*reason);
    nd_templates_destroy (&none);
    //  The context: prices as text, the first line, the name
    json_t *context = json_pack ("{s:{s:s, s:f, s:[{s:s, s:f, s:i}]}}", "cart", "currency", "JPY",
                                 "value", 2400.0, "items", "name", "Cup", "price", 1200.0, "quantity", 2);
    json_t *traits = json_pack ("{s:s, s:s}", "firstName", "Hana", "last_name", "Sato");
    nd_templates_context (NULL, context, traits, "ja");
    char *seen = json_dumps (context, JSON_COMPACT | JSON_SORT_KEYS);
    assert (seen && strstr (seen, "\"value_text\":\"￥2,400\"")
            && strstr (seen, "\"total_text\":\"￥2,400\"") && strstr (seen, "\"first_item\":{")
            && strstr (seen, "\"name\":\"Hana Sato\"") && strstr (seen, "\"first_name\":\"Hana\""));
    free (seen);
    //  The cart in one line for the chat link, and encoded for a URL
    json_t *cart = json_object_get (context, "cart");
    assert (streq (json_string_value (json_object_get (cart, "summary")), "Cup × 2 · ￥2,400"));
    assert (streq (json_string_value (json_object_get (cart, "summary_encoded")),
                   "Cup%20%C3%97%202%20%C2%B7%20%EF%BF%A52%2C400"));
    json_decref (traits);
    json_decref (context);
    //  Each locale's own way with money, by ICU: no rules of ours; one
    //  set of formatters serves them all, each locale its own
    nd_formats_t *formats = nd_formats_new ();
    const char *money [][4] = {
        { "pl", "PLN", "12", "12,00\u00A0zł" }, { "ja", "JPY", "1200", "￥1,200" },
        { "en", "USD", "1234.5", "$1,234.50" }, { "de", "EUR", "12", "12,00\u00A0€" },
        { "en-US", "XYZ", "3", "XYZ\u00A03.00" }, { NULL, "EUR", "5", "€5.00" } };
    for (size_t i = 0; i < sizeof money / sizeof money [0]; i++) {
        context = json_pack ("{s:{s:s, s:f}}", "cart", "currency", money [i][1], "value",
                             atof (money [i][2]));
        nd_templates_context (formats, context, NULL, money [i][0]);
        const char *shown = json_string_value (json_object_get (json_object_get (context, "cart"),
                                                                "value_text"));
        const char *expected = money [i][3];
        if (!shown || !streq (shown, expected))
            fprintf (stderr, "nd_templates_context: %s %s %s gave \"%s\"\n", money [i][0],
                     money [i][1], money [i][2], shown ? shown : "(none)");
        assert (shown && streq (shown, expected));
        json_decref (context);
    }
    //  Links for a send order: wrapped where people click them (sms
    //  text, push url), left alone elsewhere (push title); a push url to
    //  another host is left out
    char *links_root = zsys_sprintf ("/tmp/nd-templates-links-%d", (int) getpid ());
    s_write (links_root, "j/s/en/sms.text.mustache", "Back: {{{url}}} now\n");
    s_write (links_root, "j/s/en/push.url.mustache", "{{{url}}}\n");
    s_write (links_root, "j/s/en/push.title.mustache", "See {{{url}}}\n");
    json_t *order = json_pack ("{s:s, s:s, s:s, s:s, s:s, s:s}", "idempotency_key", "j/e-1/s/sms",
                               "user", "u-1", "journey", "j", "step", "s", "variant", "",
                               "channel", "sms");
    json_t *shop = json_pack ("{s:s}", "url", "https://shop.example/cart");
    json_t *evil = json_pack ("{s:s}", "url", "https://evil.example/");
    const char *channels [] = { "sms", "push" };
    for (int i = 0; i < 2; i++) {
        nd_templates_t *set = nd_templates_new (links_root, channels [i], "en", reason, sizeof reason);
        assert (set);
        nd_templates_set_links (set, nd_links_new ("https://c.example/c/", "shop.example", "s",
                                                   reason, sizeof reason));
        nd_templates_t *held = nd_templates_hold (set);
        const char *part = i == 0 ? "text" : "url";
        char *out = nd_templates_render_order (held, order, "j/s", "en", part, shop, reason,
                                               sizeof reason);
        assert (out && strstr (out, "https://c.example/c/") && !strstr (out, "shop.example/cart"));
        free (out);
        out = nd_templates_render_order (held, order, "j/s", "en", part, evil, reason, sizeof reason);
        assert (i == 0 ? out && streq (out, "Back:  now") : !out && !*reason);
        free (out);
        if (i == 1) {
            out = nd_templates_render_order (held, order, "j/s", "en", "title", shop, reason,
                                             sizeof reason);
            assert (out && streq (out, "See https://shop.example/cart"));
            free (out);
        }
        nd_templates_destroy (&held);
        nd_templates_destroy (&set);
    }
    json_decref (order);
    json_decref (shop);
    json_decref (evil);
    char *remove = zsys_sprintf ("rm -rf '%s'", links_root);
    assert (system (remove) == 0);
    zstr_free (&remove);
    zstr_free (&links_root);

    //  Dates for the locale, in the person's zone: 2026-03-05T12:06Z is
    //  13:06 in Warsaw, 21:06 in Tokyo
    const char *dates [][4] = {
        { "en", "UTC", "March 5, 2026", "12:06" },
        { "pl", "Europe/Warsaw", "5 marca 2026", "13:06" },
        { "ja", "Asia/Tokyo", "2026年3月5日", "21:06" }
    };
    for (size_t i = 0; i < sizeof dates / sizeof dates [0]; i++) {
        context = json_pack ("{s:s, s:{s:s}}", "placed", "2026-03-05T12:06:00.000Z", "code",
                             "expires", "2026-03-05T12:06:00.000Z");
        nd_templates_dates (formats, context, dates [i][0], dates [i][1]);
        const char *placed = json_string_value (json_object_get (context, "placed_text"));
        const char *expires = json_string_value (json_object_get (json_object_get (context, "code"),
                                                                  "expires_text"));
        if (!placed || !expires || !strstr (expires, dates [i][2]) || !strstr (expires, dates [i][3]))
            fprintf (stderr, "nd_templates_dates: %s gave \"%s\", \"%s\"\n", dates [i][0],
                     placed ? placed : "(none)", expires ? expires : "(none)");
        assert (placed && streq (placed, dates [i][2]));
        assert (expires && strstr (expires, dates [i][2]) && strstr (expires, dates [i][3]));
        json_decref (context);
    }
    //  A time that does not parse: nothing added
    context = json_pack ("{s:s}", "placed", "yesterday");
    nd_templates_dates (formats, context, "en", NULL);
    assert (!json_object_get (context, "placed_text"));
    json_decref (context);
    //  One formatter serves an order's prices in two currencies: each
    //  price in its own (the formatter's currency is set per currency)
    context = json_pack ("{s:{s:s, s:f, s:[{s:f}]}, s:s, s:[{s:f}]}", "cart", "currency", "PLN",
                         "value", 12.0, "items", "price", 3.5, "currency", "EUR",
                         "products", "price", 4.0);
    nd_templates_context (formats, context, NULL, "de");
    seen = json_dumps (context, JSON_COMPACT | JSON_SORT_KEYS);
    assert (seen && strstr (seen, "\"value_text\":\"12,00\u00A0PLN\"")
            && strstr (seen, "\"price_text\":\"3,50\u00A0PLN\"")
            && strstr (seen, "\"price_text\":\"4,00\u00A0€\""));
    free (seen);
    json_decref (context);
    nd_formats_destroy (&formats);
    char *command = zsys_sprintf ("rm -rf '%s'", root);
    assert (system (command) == 0);
    zstr_free (&command);
    if (verbose)
        printf ("OK\n");
}
