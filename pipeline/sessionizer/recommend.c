/*  recommend.c - products to show beside a cart, an order or a product:
    what the triggers carry as "recommended" (and cart.browsing also as
    "goes_with"), for every template ({{#recommended}}, nudge-templates(5)).

    Layer: rules: calls the store (together.c, catalogue.c).

    First the products most often bought together with the items
    (together.c), then, while there is room, the most ordered products of
    the items' categories. Never one of the items, never one out of stock
    or without a name to show; at most RECOMMEND_MAX.                    */
#include <czmq.h>
#include "recommend.h"
#include "catalogue.h"
#include "together.h"

//  The popular products of the items' categories, after those chosen.
static int s_fill (sessionizer_t *self, MDB_txn *txn, const json_t *items, zhashx_t *excluded,
                   json_t *chosen)
{
    size_t index;
    json_t *item;
    char key [CATALOGUE_KEY_MAX];
    json_array_foreach (items, index, item) {
        if (json_array_size (chosen) >= RECOMMEND_MAX)
            break;
        json_t *record = catalogue_key (item, key, sizeof key) ? catalogue_get (self, txn, key) : NULL;
        const char *category = json_string_value (json_object_get (record, "category"));
        json_t *keys = json_array ();
        int rc = category ? catalogue_popular (self, txn, category,
                                               RECOMMEND_MAX + zhashx_size (excluded), keys) : 0;
        json_decref (record);
        size_t i;
        json_t *candidate;
        json_array_foreach (keys, i, candidate) {
            const char *text = json_string_value (candidate);
            if (json_array_size (chosen) >= RECOMMEND_MAX || zhashx_lookup (excluded, text))
                continue;
            json_t *shown = catalogue_shown (self, txn, text);
            if (shown) {
                json_array_append_new (chosen, shown);
                zhashx_insert (excluded, text, (void *) 1);
            }
        }
        json_decref (keys);
        if (rc)
            return -1;
    }
    return 0;
}

json_t *recommend (sessionizer_t *self, MDB_txn *txn, const json_t *items)
{
    zhashx_t *excluded = zhashx_new ();
    size_t index;
    json_t *item;
    char key [CATALOGUE_KEY_MAX];
    json_array_foreach (items, index, item)
        if (catalogue_key (item, key, sizeof key))
            zhashx_insert (excluded, key, (void *) 1);
    json_t *chosen = together_goes_with (self, txn, items, RECOMMEND_MAX);
    json_array_foreach (chosen, index, item)
        if (catalogue_key (item, key, sizeof key))
            zhashx_insert (excluded, key, (void *) 1);
    if (json_array_size (chosen) < RECOMMEND_MAX && s_fill (self, txn, items, excluded, chosen)) {
        json_decref (chosen);
        chosen = NULL;
    }
    zhashx_destroy (&excluded);
    return chosen;
}
