/*  together.c - products bought together, learned from orders.

    Layer: store: calls the catalogue (catalogue.c) and the base.

    What other shoppers put in the same order is what "goes with" a
    product:

      together   product key -> {"partners": {key: count}}: for each
                 product at most TOGETHER_KEEP partners; a new one, when
                 full, takes the place of the least counted and starts
                 from its count plus one (the space-saving sketch), so a
                 partner that keeps coming rises and a rare one falls out

    The products' details (what a message shows) are the catalogue's. An
    order teaches at most ORDER_PRODUCTS_MAX of its products.

    together_goes_with: for the cart's products, their partners' counts
    summed, best first, without what is already in the cart, and only
    products the catalogue can show (a name, not out of stock).          */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <czmq.h>
#include "catalogue.h"
#include "together.h"

#define TOGETHER_KEEP 16            //  partners kept per product
#define ORDER_PRODUCTS_MAX 20       //  products of one order that teach

static void s_key (nd_key_t *key, const char *text)
{
    nd_key_init (key);
    nd_key_str (key, text);
}

//  One more order of product with partner.
static int s_pair (sessionizer_t *self, MDB_txn *txn, const char *product, const char *partner)
{
    nd_key_t key;
    s_key (&key, product);
    json_t *record = NULL;
    int rc = nd_jcache_take (self->parsed, txn, self->together, &key, &record);
    if (rc < 0)
        return -1;
    if (rc == ND_NOTFOUND || !json_is_object (json_object_get (record, "partners"))) {
        json_decref (record);
        record = json_pack ("{s:{}}", "partners");
    }
    json_t *partners = json_object_get (record, "partners");
    json_int_t count = json_integer_value (json_object_get (partners, partner));
    if (!count && json_object_size (partners) >= TOGETHER_KEEP) {
        const char *name, *least = NULL;
        json_t *value;
        json_int_t fewest = 0;
        json_object_foreach (partners, name, value)
            if (!least || json_integer_value (value) < fewest) {
                least = name;
                fewest = json_integer_value (value);
            }
        count = fewest;
        json_object_del (partners, least);
    }
    json_object_set_new (partners, partner, json_integer (count + 1));
    rc = nd_jcache_put (self->parsed, txn, self->together, &key, record);
    json_decref (record);
    return rc;
}

int together_order (sessionizer_t *self, MDB_txn *txn, const json_t *items)
{
    char keys [ORDER_PRODUCTS_MAX][CATALOGUE_KEY_MAX];
    size_t count = 0, index;
    json_t *item;
    json_array_foreach (items, index, item) {
        if (count == ORDER_PRODUCTS_MAX)
            break;
        if (!catalogue_key (item, keys [count], sizeof keys [count]))
            continue;
        bool again = false;
        for (size_t i = 0; i < count && !again; i++)
            again = streq (keys [i], keys [count]);
        if (again)
            continue;
        if (catalogue_ordered (self, txn, keys [count]))
            return -1;
        count++;
    }
    for (size_t i = 0; i < count; i++)
        for (size_t j = 0; j < count; j++)
            if (i != j && s_pair (self, txn, keys [i], keys [j]))
                return -1;
    return 0;
}

typedef struct {
    const char *key;
    json_int_t score;
} s_candidate_t;

static int s_by_score (const void *a, const void *b)
{
    const s_candidate_t *x = (const s_candidate_t *) a, *y = (const s_candidate_t *) b;
    return x->score < y->score ? 1 : x->score > y->score ? -1 : strcmp (x->key, y->key);
}

json_t *together_goes_with (sessionizer_t *self, MDB_txn *txn, const json_t *items, size_t most)
{
    zhashx_t *in_cart = zhashx_new ();
    json_t *scores = json_object ();
    json_t *records = json_array ();
    size_t index;
    json_t *item;
    char text [CATALOGUE_KEY_MAX];
    json_array_foreach (items, index, item)
        if (catalogue_key (item, text, sizeof text))
            zhashx_insert (in_cart, text, (void *) 1);
    json_array_foreach (items, index, item) {
        nd_key_t key;
        json_t *record = NULL;
        if (!catalogue_key (item, text, sizeof text))
            continue;
        s_key (&key, text);
        //  Read for every trigger that recommends: kept parsed (nd_jcache.h)
        if (nd_jcache_get (self->parsed, txn, self->together, &key, &record) == 0) {
            const char *partner;
            json_t *count;
            json_object_foreach (json_object_get (record, "partners"), partner, count)
                if (!zhashx_lookup (in_cart, partner))
                    json_object_set_new (scores, partner, json_integer (
                        json_integer_value (json_object_get (scores, partner))
                        + json_integer_value (count)));
            json_array_append_new (records, record);
        }
    }
    size_t size = json_object_size (scores), n = 0;
    s_candidate_t *candidates = (s_candidate_t *) calloc (size + 1, sizeof *candidates);
    const char *partner;
    json_t *score;
    json_object_foreach (scores, partner, score)
        candidates [n++] = (s_candidate_t) { partner, json_integer_value (score) };
    qsort (candidates, n, sizeof *candidates, s_by_score);
    json_t *goes_with = json_array ();
    for (size_t i = 0; i < n && json_array_size (goes_with) < most; i++) {
        json_t *shown = catalogue_shown (self, txn, candidates [i].key);
        if (shown)
            json_array_append_new (goes_with, shown);
    }
    free (candidates);
    json_decref (records);
    json_decref (scores);
    zhashx_destroy (&in_cart);
    return goes_with;
}
