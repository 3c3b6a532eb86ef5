/*  cart.c - nd_cart, the lines of one shopper's cart.

    Layer: store: calls nothing of the sessionizer's.

    Segment's e-commerce events describe a cart two ways: "Product Added"
    and "Product Removed" change one line by a quantity, while "Cart
    Viewed" and "Checkout Started" carry products[], the whole cart as the
    shop sees it. The first keeps the cart current between views; the
    second repairs it when an add or remove was never tracked.

    Two lines are the same article when their product_id match and
    neither sku nor variant tells them apart (a "Product Removed" often
    carries less detail than the "Product Added" did); without product_id
    they match by sku, then by name.
*/
#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "nd.h"
#include "cart.h"

//  Quantities beyond this are typos or attacks, not shopping.
#define QUANTITY_MAX 100000

struct _nd_cart_t {
    json_t *items;              //  lines, each an nd_cart_product with "quantity"
    char *currency;             //  as the shop named it, or NULL
    char *fallback;             //  the configured currency
};

//  What a reminder needs to show an article; all kept as text.
static const char *s_text_fields [] = {
    "product_id", "sku", "name", "brand", "variant", "category", "url", "image_url", NULL
};

//  Ids come as strings or, from some SDKs, as numbers.
static json_t *s_text (const json_t *value)
{
    if (json_is_string (value) && json_string_length (value) > 0)
        return json_string (json_string_value (value));
    if (json_is_integer (value)) {
        char text [32];
        snprintf (text, sizeof text, "%" JSON_INTEGER_FORMAT, json_integer_value (value));
        return json_string (text);
    }
    return NULL;
}

//  Prices and quantities come as numbers or as numeric strings.
static double s_number (const json_t *value, double fallback)
{
    if (json_is_number (value))
        return json_number_value (value);
    if (json_is_string (value)) {
        const char *text = json_string_value (value);
        char *end;
        double number = strtod (text, &end);
        if (end != text && *end == 0 && isfinite (number))
            return number;
    }
    return fallback;
}

static int64_t s_quantity (const json_t *line)
{
    return json_integer_value (json_object_get (line, "quantity"));
}

//  The quantity an event names, or fallback when it names none we can use.
static int64_t s_event_quantity (const json_t *product, int64_t fallback)
{
    double quantity = s_number (json_object_get (product, "quantity"), NAN);
    if (!(quantity >= 0))
        return fallback;
    return quantity > QUANTITY_MAX ? QUANTITY_MAX : (int64_t) quantity;
}

//  A product's links end up in messages' href and src, and the events
//  they come from are only claims (a browser's write key is public):
//  only an http(s) URL with nothing but visible characters goes on. A
//  "javascript:" link would run where the message is shown.
static bool s_link_ok (const char *link)
{
    if (strncasecmp (link, "https://", 8) && strncasecmp (link, "http://", 7))
        return false;
    for (const unsigned char *c = (const unsigned char *) link; *c; c++)
        if (*c <= ' ' || *c == 0x7f)
            return false;
    return true;
}

static bool s_is_link_field (const char *field)
{
    return strcmp (field, "url") == 0 || strcmp (field, "image_url") == 0;
}

json_t *nd_cart_product (const json_t *properties)
{
    if (!json_is_object (properties))
        return NULL;
    json_t *product = json_object ();
    for (int i = 0; s_text_fields [i]; i++) {
        const char *field = s_text_fields [i];
        json_t *text = s_text (json_object_get (properties, field));
        if (text && s_is_link_field (field) && !s_link_ok (json_string_value (text))) {
            //  What it said is not logged: it is anybody's text
            nd_log ("dropped a product's %s: not an http(s) link", field);
            json_decref (text);
            text = NULL;
        }
        if (text)
            json_object_set_new (product, field, text);
    }
    if (!json_object_get (product, "product_id") && !json_object_get (product, "sku")
    &&  !json_object_get (product, "name")) {
        json_decref (product);
        return NULL;
    }
    double price = s_number (json_object_get (properties, "price"), NAN);
    if (price >= 0)
        json_object_set_new (product, "price", json_real (price));
    return product;
}

//  absent_matches: whether a field one side lacks can still match.
static bool s_same_field (const json_t *a, const json_t *b, const char *field, bool absent_matches)
{
    const char *x = json_string_value (json_object_get (a, field));
    const char *y = json_string_value (json_object_get (b, field));
    if (!x || !y)
        return absent_matches;
    return strcmp (x, y) == 0;
}

static bool s_both_have (const json_t *a, const json_t *b, const char *field)
{
    return json_object_get (a, field) && json_object_get (b, field);
}

bool nd_cart_same_product (const json_t *a, const json_t *b)
{
    if (s_both_have (a, b, "product_id"))
        return s_same_field (a, b, "product_id", false)
            && s_same_field (a, b, "sku", true)
            && s_same_field (a, b, "variant", true);
    if (s_both_have (a, b, "sku"))
        return s_same_field (a, b, "sku", false);
    return s_same_field (a, b, "name", false);
}

static json_t *s_find (const nd_cart_t *self, const json_t *product, size_t *index)
{
    for (size_t i = 0; i < json_array_size (self->items); i++) {
        json_t *line = json_array_get (self->items, i);
        if (nd_cart_same_product (line, product)) {
            *index = i;
            return line;
        }
    }
    return NULL;
}

//  Adds a line (stolen) to the cart, joining it with the same article.
//  The newer line wins on details: the latest event knows today's price.
static void s_add_line (nd_cart_t *self, json_t *line)
{
    size_t index;
    json_t *old = s_find (self, line, &index);
    if (!old) {
        json_array_append_new (self->items, line);
        return;
    }
    int64_t quantity = s_quantity (old) + s_quantity (line);
    json_object_update_missing (line, old);
    json_object_set_new (line, "quantity",
                         json_integer (quantity > QUANTITY_MAX ? QUANTITY_MAX : quantity));
    json_array_set_new (self->items, index, line);
}

static json_t *s_line_new (const json_t *product, int64_t quantity)
{
    json_t *line = nd_cart_product (product);
    if (line)
        json_object_set_new (line, "quantity", json_integer (quantity));
    return line;
}

nd_cart_t *nd_cart_new (json_t *record, const char *currency)
{
    nd_cart_t *self = (nd_cart_t *) calloc (1, sizeof *self);
    assert (self);
    json_t *items = json_object_get (record, "items");
    self->items = json_is_array (items) ? json_incref (items) : json_array ();
    const char *named = json_string_value (json_object_get (record, "currency"));
    self->currency = named ? strdup (named) : NULL;
    self->fallback = strdup (currency ? currency : "USD");
    json_decref (record);
    return self;
}

void nd_cart_destroy (nd_cart_t **self_p)
{
    assert (self_p);
    nd_cart_t *self = *self_p;
    if (self) {
        json_decref (self->items);
        free (self->currency);
        free (self->fallback);
        free (self);
        *self_p = NULL;
    }
}

bool nd_cart_add (nd_cart_t *self, const json_t *product)
{
    int64_t quantity = s_event_quantity (product, 1);
    json_t *line = quantity > 0 ? s_line_new (product, quantity) : NULL;
    if (!line)
        return false;
    s_add_line (self, line);
    return true;
}

bool nd_cart_remove (nd_cart_t *self, const json_t *product)
{
    json_t *probe = nd_cart_product (product);
    size_t index;
    json_t *line = probe ? s_find (self, probe, &index) : NULL;
    json_decref (probe);
    if (!line)
        return false;
    //  Without a quantity the shopper removed the whole line.
    int64_t left = s_quantity (line) - s_event_quantity (product, INT64_MAX / 2);
    if (left == s_quantity (line))
        return false;
    if (left > 0)
        json_object_set_new (line, "quantity", json_integer (left));
    else
        json_array_remove (self->items, index);
    return true;
}

bool nd_cart_replace (nd_cart_t *self, const json_t *products)
{
    if (!json_is_array (products))
        return false;
    nd_cart_t *fresh = nd_cart_new (NULL, self->fallback);
    size_t index;
    json_t *product;
    json_array_foreach (products, index, product)
        nd_cart_add (fresh, product);
    bool changed = !json_equal (fresh->items, self->items);
    if (changed) {
        json_t *swap = self->items;
        self->items = fresh->items;
        fresh->items = swap;
    }
    nd_cart_destroy (&fresh);
    return changed;
}

bool nd_cart_merge (nd_cart_t *self, const nd_cart_t *other)
{
    size_t index;
    json_t *line;
    json_array_foreach (other->items, index, line)
        s_add_line (self, json_deep_copy (line));
    if (!self->currency && other->currency)
        self->currency = strdup (other->currency);
    return json_array_size (other->items) > 0;
}

bool nd_cart_empty (nd_cart_t *self)
{
    if (json_array_size (self->items) == 0)
        return false;
    json_array_clear (self->items);
    return true;
}

bool nd_cart_set_currency (nd_cart_t *self, const char *currency)
{
    if (!currency || !*currency || (self->currency && strcmp (self->currency, currency) == 0))
        return false;
    free (self->currency);
    self->currency = strdup (currency);
    return true;
}

bool nd_cart_is_empty (const nd_cart_t *self)
{
    return json_array_size (self->items) == 0;
}

int64_t nd_cart_quantity (const nd_cart_t *self)
{
    int64_t quantity = 0;
    size_t index;
    json_t *line;
    json_array_foreach (self->items, index, line)
        quantity += s_quantity (line);
    return quantity;
}

double nd_cart_value (const nd_cart_t *self)
{
    double value = 0;
    size_t index;
    json_t *line;
    json_array_foreach (self->items, index, line)
        value += json_number_value (json_object_get (line, "price")) * (double) s_quantity (line);
    return round (value * 100) / 100;
}

json_t *nd_cart_record (const nd_cart_t *self)
{
    json_t *record = json_pack ("{s:O}", "items", self->items);
    if (self->currency)
        json_object_set_new (record, "currency", json_string (self->currency));
    return record;
}

json_t *nd_cart_json (const nd_cart_t *self)
{
    return json_pack ("{s:o, s:f, s:s}", "items", json_deep_copy (self->items),
                      "value", nd_cart_value (self),
                      "currency", self->currency ? self->currency : self->fallback);
}

/* ------------------------------------------------------------- selftest */

static json_t *s_product (const char *text)
{
    json_t *product = json_loads (text, 0, NULL);
    assert (product);
    return product;
}

static void s_apply (nd_cart_t *cart, bool (*change) (nd_cart_t *, const json_t *), const char *text)
{
    json_t *product = s_product (text);
    change (cart, product);
    json_decref (product);
}

void nd_cart_test (bool verbose)
{
    if (verbose)
        printf (" * nd_cart: ");
    nd_cart_t *cart = nd_cart_new (NULL, "EUR");
    assert (nd_cart_is_empty (cart));
    s_apply (cart, nd_cart_add, "{\"product_id\": \"p1\", \"name\": \"Boots\", \"price\": 50}");
    s_apply (cart, nd_cart_add, "{\"product_id\": \"p1\", \"quantity\": 2, \"price\": 45.5}");
    s_apply (cart, nd_cart_add, "{\"product_id\": 7, \"sku\": \"S-7\", \"price\": \"2.25\"}");
    assert (nd_cart_quantity (cart) == 4);
    assert (nd_cart_value (cart) == 3 * 45.5 + 2.25);
    json_t *json = nd_cart_json (cart);
    json_t *boots = json_array_get (json_object_get (json, "items"), 0);
    assert (strcmp (json_string_value (json_object_get (boots, "name")), "Boots") == 0);
    assert (strcmp (json_string_value (json_object_get (json, "currency")), "EUR") == 0);
    json_decref (json);

    //  A remove with less detail still finds the line; without a
    //  quantity it takes the whole line; unknown articles change nothing.
    s_apply (cart, nd_cart_remove, "{\"product_id\": \"p1\", \"quantity\": 1}");
    assert (nd_cart_quantity (cart) == 3);
    json_t *unknown = s_product ("{\"product_id\": \"p9\"}");
    assert (!nd_cart_remove (cart, unknown));
    json_decref (unknown);
    s_apply (cart, nd_cart_remove, "{\"sku\": \"S-7\"}");
    assert (nd_cart_quantity (cart) == 2);
    //  Variants of one product are separate lines.
    s_apply (cart, nd_cart_add, "{\"product_id\": \"p3\", \"variant\": \"red\"}");
    s_apply (cart, nd_cart_add, "{\"product_id\": \"p3\", \"variant\": \"blue\"}");
    s_apply (cart, nd_cart_remove, "{\"product_id\": \"p3\", \"variant\": \"red\"}");
    json = nd_cart_json (cart);
    assert (json_array_size (json_object_get (json, "items")) == 2);
    json_decref (json);
    assert (nd_cart_quantity (cart) == 3);
    //  Only http(s) links with nothing invisible in them are kept
    json_t *linked = s_product ("{\"product_id\": \"p5\", \"url\": \"HTTPS://shop.example/p/1\","
                                " \"image_url\": \"https://shop.example/i 1.jpg\"}");
    json_t *links = nd_cart_product (linked);
    assert (strcmp (json_string_value (json_object_get (links, "url")), "HTTPS://shop.example/p/1") == 0);
    assert (!json_object_get (links, "image_url"));
    json_decref (links);
    json_decref (linked);
    json_t *script = s_product ("{\"product_id\": \"p4\", \"url\": \"javascript:alert(1)\"}");
    json_t *line = nd_cart_product (script);
    assert (line && !json_object_get (line, "url"));
    json_decref (line);
    json_decref (script);
    json_t *nothing = s_product ("{\"price\": 3}");
    assert (!nd_cart_add (cart, nothing));
    json_decref (nothing);

    //  Stored and loaded again, the cart is the same.
    nd_cart_t *copy = nd_cart_new (nd_cart_record (cart), "USD");
    assert (nd_cart_quantity (copy) == 3);
    assert (nd_cart_merge (copy, cart));
    assert (nd_cart_quantity (copy) == 6);
    nd_cart_destroy (&copy);

    json_t *products = s_product ("[{\"product_id\": \"p2\", \"quantity\": 2, \"price\": 10}]");
    assert (nd_cart_replace (cart, products));
    assert (!nd_cart_replace (cart, products));
    assert (nd_cart_value (cart) == 20);
    json_decref (products);
    assert (nd_cart_set_currency (cart, "SEK"));
    assert (!nd_cart_set_currency (cart, "SEK"));
    assert (nd_cart_empty (cart));
    assert (!nd_cart_empty (cart));
    nd_cart_destroy (&cart);
    nd_cart_destroy (&cart);
    if (verbose)
        printf ("OK\n");
}
