/*  onsite_render - a send order becomes the message a page shows.

    The step's templates, as the other channels have them:
    <templates>/<template>/<locale>/onsite.<part>.mustache, parts

      title, body   required; plain text: what Mustache escapes for HTML
                    is given back as it was, so the page puts it in as
                    text (textContent), never as markup
      url           where a click goes; optional
      image         a picture for a banner; optional
      kind          "banner" or "card" (default card)
      products      the path in the order's data of the products to show
                    ("goes_with", "cart.items"); default the first of
                    goes_with, products, cart.items that has any

    Links (url, image, each product's url and image_url) are kept only
    when they are http(s) and carry nothing that could end an HTML
    attribute; anything else is dropped with a log line. Texts (title,
    body, a product's name) are text for the page to set as text: the
    answer is JSON, and markup in them is shown, not run.               */
#include <assert.h>
#include <ctype.h>
#include <openssl/sha.h>
#include "onsite.h"

void onsite_message_id (const char *key, char *id)
{
    uint8_t digest [SHA256_DIGEST_LENGTH];
    SHA256 ((const uint8_t *) key, strlen (key), digest);
    for (int i = 0; i < (ONSITE_ID_SIZE - 1) / 2; i++)
        snprintf (id + 2 * i, 3, "%02x", digest [i]);
}

bool onsite_link_ok (const char *text)
{
    if (!text || (strncmp (text, "https://", 8) && strncmp (text, "http://", 7)))
        return false;
    for (const unsigned char *p = (const unsigned char *) text; *p; p++)
        if (*p <= ' ' || *p == 0x7f || strchr ("\"'<>\\`", *p))
            return false;
    return strlen (text) > strlen ("https://") && strlen (text) <= 2000;
}

//  Mustache's HTML escaping undone, in place: the five entities it
//  writes become their characters again (the result is never longer).
static void s_unescape (char *text)
{
    static const char *entities [] = { "&amp;", "&lt;", "&gt;", "&quot;", "&#39;", NULL };
    static const char characters [] = "&<>\"'";
    char *to = text;
    for (const char *from = text; *from; ) {
        int i = 0;
        while (entities [i] && strncmp (from, entities [i], strlen (entities [i])))
            i++;
        if (entities [i]) {
            *to++ = characters [i];
            from += strlen (entities [i]);
        }
        else
            *to++ = *from++;
    }
    *to = 0;
}

//  Leading and trailing white space off, in place.
static char *s_trim (char *text)
{
    char *start = text;
    while (isspace ((unsigned char) *start))
        start++;
    size_t size = strlen (start);
    while (size && isspace ((unsigned char) start [size - 1]))
        start [--size] = 0;
    memmove (text, start, size + 1);
    return text;
}

static const json_t *s_path (const json_t *doc, const char *path)
{
    char *copy = strdup (path), *save = NULL;
    for (char *name = strtok_r (copy, ".", &save); name && doc; name = strtok_r (NULL, ".", &save))
        doc = json_object_get (doc, name);
    free (copy);
    return doc;
}

//  A link worth keeping, or "" (and a log line naming the order).
static const char *s_link (const char *text, const char *what, const char *key)
{
    if (!text || !*text || onsite_link_ok (text))
        return text ? text : "";
    nd_log ("%s: dropped a %s that is not an http(s) link", key, what);
    return "";
}

static json_t *s_products (const json_t *list, const char *key)
{
    json_t *products = json_array ();
    size_t index;
    json_t *item;
    json_array_foreach (list, index, item) {
        const char *name = json_string_value (json_object_get (item, "name"));
        if (!name || json_array_size (products) == ONSITE_PRODUCTS_MAX)
            continue;
        json_t *price = json_object_get (item, "price");
        const char *currency = json_string_value (json_object_get (item, "currency"));
        json_t *product = json_pack ("{s:s, s:s, s:s, s:O, s:s}", "name", name,
            "url", s_link (json_string_value (json_object_get (item, "url")), "product url", key),
            "image_url", s_link (json_string_value (json_object_get (item, "image_url")),
                                 "product image", key),
            "price", json_is_number (price) ? price : json_null (),
            "currency", currency && strlen (currency) == 3 ? currency : "");
        json_array_append_new (products, product);
    }
    return products;
}

//  The products the message shows: at the path the template names, or
//  the first list that has any.
static json_t *s_products_of (const json_t *data, const char *path, const json_t *order,
                              const char *key)
{
    const char *defaults [] = { "goes_with", "products", "cart.items", NULL };
    const json_t *list = NULL;
    if (path && *path)
        list = s_path (data, path);
    for (int i = 0; !path && defaults [i] && !json_array_size (list); i++)
        list = s_path (data, defaults [i]);
    json_t *products = s_products (list, key);
    //  Lines of a cart carry no currency: the cart's is theirs
    const char *currency = json_string_value (s_path (data, "cart.currency"));
    if (!currency)
        currency = json_string_value (json_object_get (data, "currency"));
    size_t index;
    json_t *product;
    json_array_foreach (products, index, product)
        if (!*json_string_value (json_object_get (product, "currency")) && currency
        &&  strlen (currency) == 3)
            json_object_set_new (product, "currency", json_string (currency));
    (void) order;
    return products;
}

json_t *onsite_render (nd_templates_t *templates, const json_t *order, char *reason,
                       size_t size)
{
    const char *template = json_string_value (json_object_get (order, "template"));
    const char *wanted = json_string_value (json_object_get (order, "locale"));
    const char *key = json_string_value (json_object_get (order, "idempotency_key"));
    const json_t *data = json_object_get (order, "data");
    const char *required [] = { "title", "body", NULL };
    char locale [64];
    if (!template || nd_templates_locale (templates, template, wanted ? wanted : "", required,
                                          locale, sizeof locale)) {
        snprintf (reason, size, "no onsite template %s", template ? template : "(none named)");
        return NULL;
    }
    const char *parts [] = { "title", "body", "url", "image", "kind", "products", NULL };
    char *text [6] = { NULL };
    for (int i = 0; parts [i]; i++) {
        char why [200] = "";
        text [i] = nd_templates_render (templates, template, locale, parts [i], data ? data
                                        : json_object_get (order, "no-data"), why, sizeof why);
        if (!text [i] && *why) {
            snprintf (reason, size, "%s/%s/onsite.%s: %s", template, locale, parts [i], why);
            for (int j = 0; j < i; j++)
                free (text [j]);
            return NULL;
        }
        if (text [i]) {
            s_unescape (text [i]);
            s_trim (text [i]);
        }
    }
    const char *kind = text [4] && streq (text [4], "banner") ? "banner" : "card";
    json_t *message = json_pack ("{s:s, s:s, s:s, s:s, s:s, s:o}", "kind", kind,
        "title", text [0], "body", text [1],
        "url", s_link (text [2], "url", key ? key : "?"),
        "image", s_link (text [3], "image", key ? key : "?"),
        "products", s_products_of (data, text [5], order, key ? key : "?"));
    for (int i = 0; parts [i]; i++)
        free (text [i]);
    return message;
}

void onsite_render_test (bool verbose)
{
    if (verbose)
        printf (" * onsite_render: ");
    assert (onsite_link_ok ("https://shop.example/cart?a=1&b=2"));
    assert (onsite_link_ok ("http://127.0.0.1:8000/p/1"));
    assert (!onsite_link_ok ("javascript:alert(1)"));
    assert (!onsite_link_ok ("https://x.example/\"onmouseover=alert(1)"));
    assert (!onsite_link_ok ("https://"));
    assert (!onsite_link_ok ("//evil.example"));
    char text [] = "&lt;b&gt;&quot;Tom &amp;amp; Jerry&#39;s&quot;&lt;/b&gt; &copy;";
    s_unescape (text);
    assert (streq (text, "<b>\"Tom &amp; Jerry's\"</b> &copy;"));
    char id [ONSITE_ID_SIZE], again [ONSITE_ID_SIZE];
    onsite_message_id ("cart-browsing/e-1/goes-with/onsite", id);
    onsite_message_id ("cart-browsing/e-1/goes-with/onsite", again);
    assert (strlen (id) == 24 && streq (id, again));
    json_t *data = json_pack ("{s:{s:s, s:[{s:s, s:f, s:s}]}, s:[]}", "cart", "currency", "EUR",
                              "items", "name", "<Shoe>", "price", 10.5, "url", "javascript:x",
                              "goes_with");
    json_t *products = s_products_of (data, NULL, NULL, "test");
    json_t *first = json_array_get (products, 0);
    assert (json_array_size (products) == 1);
    assert (streq (json_string_value (json_object_get (first, "name")), "<Shoe>"));
    assert (streq (json_string_value (json_object_get (first, "url")), ""));
    assert (streq (json_string_value (json_object_get (first, "currency")), "EUR"));
    json_decref (products);
    json_decref (data);
    if (verbose)
        printf ("OK\n");
}
