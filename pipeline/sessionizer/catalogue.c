/*  catalogue.c - the shop's products as the sessionizer knows them.

    Layer: store: calls only the base.

    The sessionizer sees every product event, so it owns the catalogue:
    Segment's product properties as events arrive, the shop's feed posted
    to the collector (catalogue.product, alerts.c) and the catalogue-file
    read at start all merge here. Tables (keys through nd_key_*):

      products   product key -> {"product_id", "sku", "name", "url",
                 "image_url", "category", "brand", "price", "currency",
                 "regular_price", "stock", "source": "shop" | "browser",
                 "orders", "watchers", "history": [{"time", "price",
                 "stock"}], the last HISTORY_MAX changes of price or stock}
      popular    category + u64 (~orders) + product key -> "": a
                 category's products, most ordered first
      watchers   product key + visitor -> {"kind": "viewed" | "carted",
                 "price" seen, "time", "sent": {"back_in_stock": true,
                 "price_dropped": true}, "bought": true}; at most
                 WATCHERS_MAX per product
      watching   visitor + product key -> "": the same, by visitor, for
                 an erasure, a forgotten visitor or a merge; at most
                 WATCHING_MAX per visitor

    Only http(s) links are kept: a product's url and image_url go into
    messages. What a browser claims (its write key is public) never
    moves a price or a stock the shop set, so it cannot set off alerts. */
#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <czmq.h>
#include "nd_feed.h"
#include "nd_json.h"
#include "catalogue.h"

#define HISTORY_MAX 32              //  price and stock changes kept per product
#define WATCHERS_MAX 1000           //  people watching one product
#define WATCHING_MAX 50             //  products one person watches

static const char *s_text_fields [] = { "product_id", "sku", "name", "category", "brand", NULL };
static const char *s_link_fields [] = { "url", "image_url", NULL };
static const char *s_shown_fields [] = {
    "product_id", "name", "url", "image_url", "price", "currency", "regular_price", "category",
    "brand", NULL
};

const char *catalogue_key (const json_t *product, char *text, size_t size)
{
    const char *id = json_string_value (json_object_get (product, "product_id"));
    const char *sku = json_string_value (json_object_get (product, "sku"));
    if (id && *id)
        snprintf (text, size, "%s", id);
    else
    if (sku && *sku)
        snprintf (text, size, "sku:%s", sku);
    else
        return NULL;
    return strlen (text) < size - 1 ? text : NULL;
}

static void s_key (nd_key_t *key, const char *first, const char *second)
{
    nd_key_init (key);
    nd_key_str (key, first);
    if (second)
        nd_key_str (key, second);
}

//  A product is read for most events that name it and for every
//  recommendation: the records stay parsed (nd_jcache.h).
json_t *catalogue_get (sessionizer_t *self, MDB_txn *txn, const char *key)
{
    nd_key_t k;
    s_key (&k, key, NULL);
    json_t *record = NULL;
    return nd_jcache_get (self->parsed, txn, self->products, &k, &record) == 0
         ? record : NULL;
}

//  The record of key to change and put back, or NULL.
static json_t *s_take (sessionizer_t *self, MDB_txn *txn, const char *key)
{
    nd_key_t k;
    s_key (&k, key, NULL);
    json_t *record = NULL;
    return nd_jcache_take (self->parsed, txn, self->products, &k, &record) == 0
         ? record : NULL;
}

//  record is the catalogue's once put: not to be changed after.
static int s_put (sessionizer_t *self, MDB_txn *txn, const char *key, json_t *record)
{
    nd_key_t k;
    s_key (&k, key, NULL);
    return nd_jcache_put (self->parsed, txn, self->products, &k, record);
}

json_t *catalogue_shown (sessionizer_t *self, MDB_txn *txn, const char *key)
{
    json_t *record = catalogue_get (self, txn, key);
    const char *stock = json_string_value (json_object_get (record, "stock"));
    if (!record || !json_object_get (record, "name") || (stock && streq (stock, "out_of_stock"))) {
        json_decref (record);
        return NULL;
    }
    json_t *shown = json_object ();
    for (int i = 0; s_shown_fields [i]; i++)
        if (json_object_get (record, s_shown_fields [i]))
            json_object_set (shown, s_shown_fields [i], json_object_get (record, s_shown_fields [i]));
    json_decref (record);
    return shown;
}

/* ------------------------------------------------------------ popular -- */

static void s_popular_key (nd_key_t *key, const char *category, json_int_t orders,
                           const char *product)
{
    nd_key_init (key);
    nd_key_str (key, category);
    nd_key_u64 (key, ~(uint64_t) orders);
    nd_key_str (key, product);
}

//  Moves product's entry from (category, orders) to (category', orders').
static int s_popular_move (sessionizer_t *self, MDB_txn *txn, const char *product,
                           const char *was, json_int_t was_orders,
                           const char *now, json_int_t now_orders)
{
    nd_key_t key;
    if (was && was_orders > 0) {
        s_popular_key (&key, was, was_orders, product);
        if (nd_db_del (txn, self->popular, &key) < 0)
            return -1;
    }
    if (now && now_orders > 0) {
        s_popular_key (&key, now, now_orders, product);
        if (!key.overflow && nd_db_put_raw (txn, self->popular, &key, "", 0))
            return -1;
    }
    return 0;
}

int catalogue_ordered (sessionizer_t *self, MDB_txn *txn, const char *key)
{
    json_t *record = s_take (self, txn, key);
    if (!record)
        return 0;
    json_int_t orders = record_int (record, "orders");
    const char *category = json_string_value (json_object_get (record, "category"));
    json_object_set_new (record, "orders", json_integer (orders + 1));
    int rc = s_popular_move (self, txn, key, category, orders, category, orders + 1)
          || s_put (self, txn, key, record) ? -1 : 0;
    json_decref (record);
    return rc;
}

typedef struct {
    size_t prefix, most;
    json_t *keys;
} s_popular_scan_t;

static int s_popular_take (const MDB_val *key, const MDB_val *data, void *arg)
{
    (void) data;
    s_popular_scan_t *scan = (s_popular_scan_t *) arg;
    const char *product = (const char *) key->mv_data + scan->prefix + 8;
    if (key->mv_size > scan->prefix + 9 && ((const char *) key->mv_data) [key->mv_size - 1] == 0)
        json_array_append_new (scan->keys, json_string (product));
    return json_array_size (scan->keys) >= scan->most;
}

int catalogue_popular (sessionizer_t *self, MDB_txn *txn, const char *category, size_t most,
                       json_t *keys)
{
    nd_key_t prefix;
    s_key (&prefix, category, NULL);
    s_popular_scan_t scan = { prefix.size, most, keys };
    return most && nd_db_scan (txn, self->popular, &prefix, s_popular_take, &scan) < 0 ? -1 : 0;
}

/* ------------------------------------------------------------- update -- */

//  Segment has no stock field; shops send "stock" (a count or Google's
//  word), "availability" or "in_stock" (true / false).
static const char *s_stock_of (const json_t *update)
{
    json_t *stock = json_object_get (update, "stock");
    if (json_is_number (stock))
        return json_number_value (stock) > 0 ? "in_stock" : "out_of_stock";
    json_t *flag = json_object_get (update, "in_stock");
    if (json_is_boolean (flag))
        return json_is_true (flag) ? "in_stock" : "out_of_stock";
    const char *word = json_string_value (stock);
    if (!word)
        word = json_string_value (json_object_get (update, "availability"));
    const char *known [] = { "in_stock", "out_of_stock", "preorder", "backorder", NULL };
    for (int i = 0; word && known [i]; i++)
        if (streq (word, known [i]))
            return known [i];
    return NULL;
}

static void s_history (json_t *record, int64_t time)
{
    //  record shares its members with the catalogue's (catalogue_update):
    //  the history it adds to is a copy
    json_t *history = json_object_get (record, "history");
    history = json_is_array (history) ? json_copy (history) : json_array ();
    json_object_set_new (record, "history", history);
    char text [32];
    json_t *entry = json_pack ("{s:s}", "time", nd_time_format (time, text));
    if (json_object_get (record, "price"))
        json_object_set (entry, "price", json_object_get (record, "price"));
    if (json_object_get (record, "stock"))
        json_object_set (entry, "stock", json_object_get (record, "stock"));
    json_array_append_new (history, entry);
    while (json_array_size (history) > HISTORY_MAX)
        json_array_remove (history, 0);
}

//  Sets record's field to the text value, unless it holds that already:
//  most events name a product as the catalogue knows it. True if set.
static bool s_set_text (json_t *record, const char *field, const char *value)
{
    json_t *was = json_object_get (record, field);
    if (json_is_string (was) && json_string_length (was) == strlen (value)
    &&  memcmp (json_string_value (was), value, json_string_length (was)) == 0)
        return false;
    json_object_set_new (record, field, json_string (value));
    return true;
}

//  The same for a real number, the same bits.
static bool s_set_real (json_t *record, const char *field, double value)
{
    json_t *was = json_object_get (record, field);
    double had = json_real_value (was);
    if (json_is_real (was) && memcmp (&had, &value, sizeof value) == 0)
        return false;
    json_object_set_new (record, field, json_real (value));
    return true;
}

//  The fields of update a source may write into record; true if any was
//  written.
static bool s_merge (json_t *record, const json_t *update, const char *currency, bool may_move)
{
    bool set = false;
    for (int i = 0; s_text_fields [i]; i++) {
        const char *value = json_string_value (json_object_get (update, s_text_fields [i]));
        if (value && *value && strlen (value) < 1000 && (may_move || !json_object_get (record, s_text_fields [i])))
            set |= s_set_text (record, s_text_fields [i], value);
    }
    for (int i = 0; s_link_fields [i]; i++) {
        const char *value = json_string_value (json_object_get (update, s_link_fields [i]));
        if (nd_feed_link_ok (value) && (may_move || !json_object_get (record, s_link_fields [i])))
            set |= s_set_text (record, s_link_fields [i], value);
    }
    if (!may_move)
        return set;
    json_t *price = json_object_get (update, "price");
    if (json_is_number (price) && json_number_value (price) >= 0 && isfinite (json_number_value (price))) {
        set |= s_set_real (record, "price", json_number_value (price));
        const char *named = json_string_value (json_object_get (update, "currency"));
        if (!named)
            named = currency;
        if (named && strlen (named) == 3)
            set |= s_set_text (record, "currency", named);
        json_t *regular = json_object_get (update, "regular_price");
        if (json_is_number (regular))
            set |= s_set_real (record, "regular_price", json_number_value (regular));
        else
            set |= json_object_del (record, "regular_price") == 0;
    }
    const char *stock = s_stock_of (update);
    if (stock)
        set |= s_set_text (record, "stock", stock);
    return set;
}

int catalogue_update (sessionizer_t *self, MDB_txn *txn, const json_t *update,
                      const char *currency, bool trusted, int64_t time,
                      catalogue_change_t *change, json_t **product)
{
    char key [CATALOGUE_KEY_MAX];
    if (change)
        memset (change, 0, sizeof *change);
    if (product)
        *product = NULL;
    if (!catalogue_key (update, key, sizeof key))
        return 0;
    json_t *known = catalogue_get (self, txn, key);
    //  A shallow copy: s_merge only replaces members and s_history copies
    //  the list it grows, so known (the catalogue's, shared) stays as it was
    json_t *record = known ? json_copy (known) : json_object ();
    const char *source = json_string_value (json_object_get (known, "source"));
    bool shop_set = source && streq (source, "shop");
    bool set = s_merge (record, update, currency, trusted || !shop_set);
    set |= s_set_text (record, "source", trusted || shop_set ? "shop" : "browser");
    json_t *was_price = json_object_get (known, "price"), *price = json_object_get (record, "price");
    const char *was_stock = json_string_value (json_object_get (known, "stock"));
    const char *stock = json_string_value (json_object_get (record, "stock"));
    bool price_moved = price && (!was_price || json_number_value (was_price) != json_number_value (price));
    bool stock_moved = stock && (!was_stock || !streq (was_stock, stock));
    if (price_moved || stock_moved)
        s_history (record, time);
    //  Only a change from what the shop itself said counts: a browser may
    //  have named a product first, with any price.
    if (change && trusted && shop_set) {
        change->back_in_stock = stock_moved && was_stock && streq (was_stock, "out_of_stock")
                             && streq (stock, "in_stock");
        const char *was_currency = json_string_value (json_object_get (known, "currency"));
        const char *now_currency = json_string_value (json_object_get (record, "currency"));
        change->price_fell = price_moved && was_price
                          && json_number_value (price) < json_number_value (was_price)
                          && was_currency && now_currency && streq (was_currency, now_currency);
        change->old_price = json_number_value (was_price);
    }
    int rc = 0;
    //  Nothing set: record is known, member for member
    if (!known || (set && !json_equal (known, record))) {
        const char *was_category = json_string_value (json_object_get (known, "category"));
        const char *category = json_string_value (json_object_get (record, "category"));
        json_int_t orders = record_int (record, "orders");
        if (orders && !(was_category && category && streq (was_category, category)))
            rc = s_popular_move (self, txn, key, was_category, orders, category, orders);
        if (rc == 0)
            rc = s_put (self, txn, key, record);
    }
    json_decref (known);
    if (product && rc == 0)
        *product = json_incref (record);
    json_decref (record);
    return rc ? -1 : 0;
}

/* ----------------------------------------------------------- watchers -- */

static int s_count (const MDB_val *key, const MDB_val *data, void *arg)
{
    (void) key, (void) data;
    return ++*(size_t *) arg >= WATCHING_MAX;
}

int catalogue_watchers_add (sessionizer_t *self, MDB_txn *txn, const char *key, int delta)
{
    json_t *record = s_take (self, txn, key);
    if (!record)
        record = json_pack ("{s:s}", "product_id", key);
    json_int_t count = record_int (record, "watchers") + delta;
    json_object_set_new (record, "watchers", json_integer (count > 0 ? count : 0));
    int rc = s_put (self, txn, key, record);
    json_decref (record);
    return rc;
}

//  A partition made by nd-repartition copies the catalogue of an old
//  one, whose watcher counts were that one's people's: they start at 0,
//  and each watcher moved in counts again (move.c).
int catalogue_watchers_clear (sessionizer_t *self, MDB_txn *txn)
{
    MDB_cursor *cursor;
    int rc = mdb_cursor_open (txn, self->products, &cursor);
    if (rc)
        return nd_db_error (rc, "products");
    MDB_val k, v;
    for (rc = mdb_cursor_get (cursor, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get (cursor, &k, &v, MDB_NEXT)) {
        char reason [80];
        json_t *record = nd_json_parse ((const char *) v.mv_data, v.mv_size, reason, sizeof reason);
        if (record && record_int (record, "watchers")) {
            json_object_set_new (record, "watchers", json_integer (0));
            size_t size;
            char *text = nd_json_dump (record, &size);
            MDB_val data = { size, text };
            rc = text ? mdb_cursor_put (cursor, &k, &data, MDB_CURRENT) : ENOMEM;
            free (text);
        }
        json_decref (record);
        if (rc)
            break;
    }
    mdb_cursor_close (cursor);
    return rc == MDB_NOTFOUND ? 0 : nd_db_error (rc, "products");
}

//  The visitor's record for key, a new one when there is room (1), none
//  when there is not (0), or -1; *record is the caller's only with 1.
static int s_watcher (sessionizer_t *self, MDB_txn *txn, const char *key, const char *visitor,
                      int64_t time, json_t **record)
{
    nd_key_t k;
    s_key (&k, key, visitor);
    if (k.overflow)
        return 0;
    int rc = nd_db_get_json (txn, self->watchers, &k, record);
    if (rc <= 0)
        return rc < 0 ? -1 : 1;
    json_t *product = catalogue_get (self, txn, key);
    bool full = record_int (product, "watchers") >= WATCHERS_MAX;
    json_decref (product);
    size_t watching = 0;
    nd_key_t prefix;
    s_key (&prefix, visitor, NULL);
    if (full || nd_db_scan (txn, self->watching, &prefix, s_count, &watching) < 0
    ||  watching >= WATCHING_MAX)
        return 0;
    nd_key_t back;
    s_key (&back, visitor, key);
    //  The record is made once the puts went in: a put that fails (state
    //  full) returns -1 with nothing for the caller to free
    if (nd_db_put_raw (txn, self->watching, &back, "", 0) || catalogue_watchers_add (self, txn, key, 1))
        return -1;
    char text [32];
    *record = json_pack ("{s:s}", "time", nd_time_format (time, text));
    return 1;
}

int catalogue_watcher_put (sessionizer_t *self, MDB_txn *txn, const char *key,
                           const char *visitor, const json_t *record)
{
    nd_key_t k;
    s_key (&k, key, visitor);
    return nd_db_put_json (txn, self->watchers, &k, record);
}

int catalogue_watch (sessionizer_t *self, MDB_txn *txn, const char *key, const char *visitor,
                     const char *kind, double price, int64_t time)
{
    json_t *record = NULL;
    int rc = s_watcher (self, txn, key, visitor, time, &record);
    if (rc <= 0)
        return rc;
    char text [32];
    const char *was = json_string_value (json_object_get (record, "kind"));
    if (!was || !streq (was, "carted"))         //  carted says more than viewed
        json_object_set_new (record, "kind", json_string (kind));
    if (price >= 0)
        json_object_set_new (record, "price", json_real (price));
    json_object_set_new (record, "time", json_string (nd_time_format (time, text)));
    rc = catalogue_watcher_put (self, txn, key, visitor, record);
    json_decref (record);
    return rc;
}

int catalogue_bought (sessionizer_t *self, MDB_txn *txn, const char *key, const char *visitor,
                      int64_t time)
{
    json_t *record = NULL;
    int rc = s_watcher (self, txn, key, visitor, time, &record);
    if (rc <= 0)
        return rc;
    json_object_set_new (record, "bought", json_true ());
    rc = catalogue_watcher_put (self, txn, key, visitor, record);
    json_decref (record);
    return rc;
}

typedef struct {
    size_t prefix;
    json_t *found;
} s_scan_t;

static int s_watcher_take (const MDB_val *key, const MDB_val *data, void *arg)
{
    s_scan_t *scan = (s_scan_t *) arg;
    const char *visitor = (const char *) key->mv_data + scan->prefix;
    json_t *record = nd_json_parse ((const char *) data->mv_data, data->mv_size, NULL, 0);
    if (record && key->mv_size > scan->prefix && ((const char *) key->mv_data) [key->mv_size - 1] == 0)
        json_object_set_new (scan->found, visitor, record);
    else
        json_decref (record);
    return json_object_size (scan->found) >= WATCHERS_MAX;
}

json_t *catalogue_watchers (sessionizer_t *self, MDB_txn *txn, const char *key)
{
    nd_key_t prefix;
    s_key (&prefix, key, NULL);
    s_scan_t scan = { prefix.size, json_object () };
    if (nd_db_scan (txn, self->watchers, &prefix, s_watcher_take, &scan) < 0)
        json_decref (scan.found), scan.found = NULL;
    return scan.found;
}

int catalogue_unwatch (sessionizer_t *self, MDB_txn *txn, const char *key, const char *visitor)
{
    nd_key_t k, back;
    s_key (&k, key, visitor);
    s_key (&back, visitor, key);
    int rc = nd_db_del (txn, self->watchers, &k);
    if (rc < 0 || nd_db_del (txn, self->watching, &back) < 0)
        return -1;
    return rc == 0 ? catalogue_watchers_add (self, txn, key, -1) : 0;
}

static int s_product_take (const MDB_val *key, const MDB_val *data, void *arg)
{
    (void) data;
    s_scan_t *scan = (s_scan_t *) arg;
    if (key->mv_size > scan->prefix && ((const char *) key->mv_data) [key->mv_size - 1] == 0)
        json_array_append_new (scan->found, json_string ((const char *) key->mv_data + scan->prefix));
    return 0;
}

//  The product keys the visitor watches (at most WATCHING_MAX).
static json_t *s_watched_by (sessionizer_t *self, MDB_txn *txn, const char *visitor)
{
    nd_key_t prefix;
    s_key (&prefix, visitor, NULL);
    s_scan_t scan = { prefix.size, json_array () };
    if (nd_db_scan (txn, self->watching, &prefix, s_product_take, &scan) < 0)
        json_decref (scan.found), scan.found = NULL;
    return scan.found;
}

int catalogue_forget (sessionizer_t *self, MDB_txn *txn, const char *visitor)
{
    json_t *keys = s_watched_by (self, txn, visitor);
    size_t index;
    json_t *key;
    int rc = keys ? 0 : -1;
    json_array_foreach (keys, index, key)
        if (rc == 0)
            rc = catalogue_unwatch (self, txn, json_string_value (key), visitor);
    json_decref (keys);
    return rc;
}

int catalogue_merge (sessionizer_t *self, MDB_txn *txn, const char *into, const char *from)
{
    json_t *keys = s_watched_by (self, txn, from);
    size_t index;
    json_t *key;
    int rc = keys ? 0 : -1;
    json_array_foreach (keys, index, key) {
        const char *product = json_string_value (key);
        nd_key_t k;
        s_key (&k, product, from);
        json_t *theirs = NULL, *ours = NULL;
        if (rc == 0 && nd_db_get_json (txn, self->watchers, &k, &theirs) < 0)
            rc = -1;
        if (rc == 0)
            rc = catalogue_unwatch (self, txn, product, from);
        int64_t time = 0;
        const char *when = json_string_value (json_object_get (theirs, "time"));
        if (when && nd_time_parse (when, &time))
            time = 0;
        int found = rc == 0 && theirs ? s_watcher (self, txn, product, into, time, &ours) : 0;
        if (found < 0)
            rc = -1;
        if (found > 0) {
            //  What either was told or bought holds for the one person
            const char *field;
            json_t *value;
            json_object_foreach (theirs, field, value)
                if (!json_object_get (ours, field) || streq (field, "bought"))
                    json_object_set (ours, field, value);
            json_t *sent = json_object_get (theirs, "sent");
            if (json_is_object (sent) && json_is_object (json_object_get (ours, "sent")))
                json_object_update (json_object_get (ours, "sent"), sent);
            rc = catalogue_watcher_put (self, txn, product, into, ours);
        }
        json_decref (theirs);
        json_decref (ours);
    }
    json_decref (keys);
    return rc;
}

/* ------------------------------------------------------------- selftest */

void catalogue_test (bool verbose)
{
    if (verbose)
        printf (" * catalogue: ");
    char dir [] = "/tmp/nd-catalogue-test-XXXXXX";
    sessionizer_t self = { .watch_for = 1000 };
    MDB_env *env = sessionizer_test_state (&self, dir);
    MDB_txn *txn;
    assert (mdb_txn_begin (env, NULL, 0, &txn) == 0);
    json_t *mug = json_pack ("{s:s, s:s, s:f}", "product_id", "p-1", "name", "Mug", "price", 5.0);
    assert (catalogue_update (&self, txn, mug, "EUR", true, 1000, NULL, NULL) == 0);
    json_decref (mug);
    assert (catalogue_watch (&self, txn, "p-1", "v-1", "viewed", 5.0, 2000) == 0);
    json_t *watchers = catalogue_watchers (&self, txn, "p-1");
    assert (json_object_size (watchers) == 1 && json_object_get (watchers, "v-1"));
    json_decref (watchers);
    assert (mdb_txn_commit (txn) == 0);

    //  A new watcher whose puts fail, as they do when the state is full:
    //  -1, and the record made for it is not left behind. A read-only
    //  transaction reads as usual and refuses every put.
    sessionizer_test_count_json (true);
    assert (mdb_txn_begin (env, NULL, MDB_RDONLY, &txn) == 0);
    int64_t live = sessionizer_test_json_live ();
    assert (catalogue_watch (&self, txn, "p-1", "v-2", "viewed", 5.0, 3000) == -1);
    assert (sessionizer_test_json_live () == live);
    assert (catalogue_bought (&self, txn, "p-1", "v-3", 3000) == -1);
    assert (sessionizer_test_json_live () == live);
    mdb_txn_abort (txn);
    sessionizer_test_count_json (false);
    sessionizer_test_state_destroy (&env, dir);
    if (verbose)
        printf ("OK\n");
}
