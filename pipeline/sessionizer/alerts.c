/*  alerts.c - the catalogue's inputs, and what their changes mean for the
    people who viewed or carted a product.

    Layer: rules: calls the store (catalogue.c) and recommend.c.

    The catalogue is fed three ways, each a product in the same form:
    Segment's product properties as events arrive (shop.c), the shop's
    feed posted to the collector (catalogue.product {"id", "product",
    "line"}) and the catalogue-file read at start (nd_feed.h's format).

    When a trusted change (not a browser's claim) puts an out-of-stock
    product back in stock, or lowers its price, each person watching it
    (catalogue.c: viewed or carted it within watch-for) gets a trigger:

      product.back_in_stock  {"id", "user", "visitor", "time", "product",
                              "recommended"}
      product.price_dropped  the same, and "previous_price" (what they
                              saw) and "drop_percent"

    A price drop counts only if the price fell by at least price-drop
    (a share: 10% by default) of what the person saw. Each person hears of
    each product once for each kind, and never after they bought it.    */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <czmq.h>
#include "nd_feed.h"
#include "alerts.h"
#include "catalogue.h"
#include "recommend.h"

static json_t *s_product_shown (const json_t *record)
{
    const char *fields [] = {
        "product_id", "name", "url", "image_url", "price", "currency", "regular_price", "category",
        "brand", "stock", NULL
    };
    json_t *shown = json_object ();
    for (int i = 0; fields [i]; i++)
        if (json_object_get (record, fields [i]))
            json_object_set (shown, fields [i], json_object_get (record, fields [i]));
    return shown;
}

//  One person's trigger about the product; marks it sent in watcher.
static int s_alert (sessionizer_t *self, MDB_txn *txn, const char *topic, const char *kind,
                    const char *visitor, json_t *watcher, const json_t *record,
                    json_t *recommended, double seen, int64_t time)
{
    char id [VISITOR_ID_MAX + CATALOGUE_KEY_MAX + 64];
    snprintf (id, sizeof id, "%s:%s:%s:%lld", visitor, kind,
              json_string_value (json_object_get (record, "product_id")), (long long) time);
    json_t *body = sessionizer_body (id, visitor, time);
    json_object_set_new (body, "product", s_product_shown (record));
    json_object_set (body, "recommended", recommended);
    if (seen > 0) {
        double now = json_number_value (json_object_get (record, "price"));
        json_object_set_new (json_object_get (body, "product"), "previous_price", json_real (seen));
        json_object_set_new (body, "drop_percent", json_integer ((json_int_t) floor ((seen - now) / seen * 100 + 0.5)));
    }
    json_t *sent = json_object_get (watcher, "sent");
    if (!json_is_object (sent)) {
        sent = json_object ();
        json_object_set_new (watcher, "sent", sent);
    }
    json_object_set_new (sent, kind, json_true ());
    sessionizer_count (self, streq (kind, "back_in_stock") ? COUNT_BACK_IN_STOCK : COUNT_PRICE_DROPPED);
    return sessionizer_emit (self, txn, topic, body);
}

//  Everyone watching the product hears of what changed, once.
static int s_alerts (sessionizer_t *self, MDB_txn *txn, const char *key, const json_t *record,
                     const catalogue_change_t *change, int64_t time)
{
    if (!change->back_in_stock && !change->price_fell)
        return 0;
    json_t *watchers = catalogue_watchers (self, txn, key);
    if (!watchers)
        return -1;
    //  What goes with the product is looked up once someone is told: a
    //  price that moves often finds most watchers told already.
    json_t *recommended = NULL;
    double price = json_number_value (json_object_get (record, "price"));
    const char *visitor;
    json_t *watcher;
    int rc = 0;
    json_object_foreach (watchers, visitor, watcher) {
        if (rc)
            break;
        int64_t since = 0;
        const char *when = json_string_value (json_object_get (watcher, "time"));
        if (!when || nd_time_parse (when, &since) || since + self->watch_for < time) {
            rc = catalogue_unwatch (self, txn, key, visitor);      //  stale: forget it
            continue;
        }
        json_t *sent = json_object_get (watcher, "sent");
        if (json_is_true (json_object_get (watcher, "bought")))
            continue;
        bool told = false;
        bool due = (change->back_in_stock && !json_object_get (sent, "back_in_stock"))
                || (change->price_fell && !json_object_get (sent, "price_dropped"));
        if (due && !recommended) {
            json_t *items = json_pack ("[O]", record);
            recommended = recommend (self, txn, items);
            json_decref (items);
            if (!recommended) {
                rc = -1;
                break;
            }
        }
        if (change->back_in_stock && !json_object_get (sent, "back_in_stock")) {
            rc = s_alert (self, txn, "product.back_in_stock", "back_in_stock", visitor, watcher,
                          record, recommended, 0, time);
            told = true;
        }
        json_t *seen_value = json_object_get (watcher, "price");
        double seen = json_is_number (seen_value) ? json_number_value (seen_value) : change->old_price;
        if (rc == 0 && change->price_fell && seen > 0 && price <= seen * (1 - self->price_drop) + 1e-9
        &&  !json_object_get (json_object_get (watcher, "sent"), "price_dropped")) {
            rc = s_alert (self, txn, "product.price_dropped", "price_dropped", visitor, watcher,
                          record, recommended, seen, time);
            told = true;
        }
        if (rc == 0 && told)
            rc = catalogue_watcher_put (self, txn, key, visitor, watcher);
    }
    json_decref (recommended);
    json_decref (watchers);
    return rc;
}

//  Merges one product and tells the watchers of what moved.
static int s_update (sessionizer_t *self, MDB_txn *txn, const json_t *product,
                     const char *currency, bool trusted, int64_t time, json_t **record)
{
    catalogue_change_t change;
    char key [CATALOGUE_KEY_MAX];
    if (catalogue_update (self, txn, product, currency, trusted, time, &change, record))
        return -1;
    sessionizer_count (self, COUNT_PRODUCTS_UPDATED);
    return *record && catalogue_key (*record, key, sizeof key)
         ? s_alerts (self, txn, key, *record, &change, time) : 0;
}

int alerts_product_seen (sessionizer_t *self, MDB_txn *txn, const json_t *product,
                         const char *currency, bool trusted, int64_t time,
                         const char *visitor, const char *kind)
{
    json_t *record = NULL;
    char key [CATALOGUE_KEY_MAX];
    int rc = s_update (self, txn, product, currency, trusted, time, &record);
    if (rc == 0 && record && catalogue_key (record, key, sizeof key)) {
        //  The price they saw counts only if the shop set it: a browser may
        //  have named the product first, at any price
        json_t *price = json_object_get (record, "price");
        const char *source = json_string_value (json_object_get (record, "source"));
        bool shop_price = json_is_number (price) && source && streq (source, "shop");
        rc = catalogue_watch (self, txn, key, visitor, kind,
                              shop_price ? json_number_value (price) : -1, time);
    }
    json_decref (record);
    return rc;
}

int alerts_bought (sessionizer_t *self, MDB_txn *txn, const json_t *items, const char *visitor,
                   int64_t time)
{
    size_t index;
    json_t *item;
    char key [CATALOGUE_KEY_MAX];
    json_array_foreach (items, index, item)
        if (catalogue_key (item, key, sizeof key) && catalogue_bought (self, txn, key, visitor, time))
            return -1;
    return 0;
}

int alerts_feed_apply (sessionizer_t *self, MDB_txn *txn, const nd_msg_t *msg)
{
    const json_t *product = json_object_get (msg->body, "product");
    char key [CATALOGUE_KEY_MAX];
    if (!json_is_object (product) || !catalogue_key (product, key, sizeof key)) {
        nd_stage_reject (self->stage, msg, "catalogue.product needs \"product\" with a product_id");
        return -1;
    }
    json_t *record = NULL;
    int rc = s_update (self, txn, product, NULL, true,
                       msg->time ? msg->time : nd_stage_now (self->stage), &record);
    json_decref (record);
    return rc;
}

typedef struct {
    sessionizer_t *self;            //  NULL: only checking
    MDB_txn *txn;
    const char *path;
    int64_t time;
    size_t good, bad;
} s_load_t;

static int s_load_line (void *arg, size_t line, const json_t *product, const char *reason)
{
    s_load_t *load = (s_load_t *) arg;
    if (!product) {
        if (load->bad++ < 10)
            nd_log ("%s:%zu: %s", load->path, line, reason);
        return 0;
    }
    if (!load->self) {
        load->good++;
        return 0;
    }
    json_t *record = NULL;
    int rc = s_update (load->self, load->txn, product, NULL, true, load->time, &record);
    json_decref (record);
    load->good++;
    return rc;
}

static int s_read_file (sessionizer_t *self, MDB_txn *txn, const char *path)
{
    zchunk_t *chunk = zchunk_slurp (path, 0);
    if (!chunk) {
        nd_log ("catalogue-file %s: cannot be read", path);
        return -1;
    }
    char reason [160];
    s_load_t load = { self, txn, path, self ? nd_stage_now (self->stage) : 0, 0, 0 };
    int rc = nd_feed_read ((const char *) zchunk_data (chunk), zchunk_size (chunk), s_load_line,
                           &load, reason, sizeof reason);
    zchunk_destroy (&chunk);
    if (rc)
        nd_log ("catalogue-file %s: %s", path, reason);
    else
        nd_log ("catalogue-file %s: %zu products read, %zu lines refused", path, load.good, load.bad);
    return rc;
}

int alerts_load_file (sessionizer_t *self, MDB_txn *txn, const char *path)
{
    return s_read_file (self, txn, path);
}

int alerts_check_file (const char *path)
{
    return s_read_file (NULL, NULL, path);
}
