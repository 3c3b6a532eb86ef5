/*  viewed.c - the products viewed in a visitor's open session.

    Layer: store: calls only the base.

    Each product viewed is its own key (visitor id, then product_id,
    "sku:..." or "name:..."; shop.c counts the views), so a view costs
    one small read and write however many products the visit has seen;
    at most VIEWED_MAX are kept. The list goes out with a session's end
    (browse.abandoned) and goes when the session or the visitor does.    */
#include <stdlib.h>
#include <string.h>
#include "nd_json.h"
#include "viewed.h"

//  The first viewed entry of visitor, or 0 when there is none (-1 error).
//  product NULL: only the key is wanted (a delete), the record is not read.
int shop_viewed_first (sessionizer_t *self, MDB_txn *txn, const char *visitor,
                       nd_key_t *key, json_t **product)
{
    nd_key_t prefix;
    visitor_key (&prefix, visitor);
    MDB_cursor *cursor;
    int rc = mdb_cursor_open (txn, self->viewed, &cursor);
    if (rc)
        return nd_db_error (rc, "viewed cursor");
    MDB_val k = nd_key_val (&prefix), data;
    rc = mdb_cursor_get (cursor, &k, &data, MDB_SET_RANGE);
    int found = rc == 0 && k.mv_size > prefix.size && k.mv_size <= ND_KEY_MAX
             && memcmp (k.mv_data, prefix.data, prefix.size) == 0;
    if (rc && rc != MDB_NOTFOUND)
        found = nd_db_error (rc, "viewed");
    if (found == 1) {
        nd_key_init (key);
        memcpy (key->data, k.mv_data, k.mv_size);
        key->size = k.mv_size;
        if (product)
            *product = nd_json_parse (data.mv_data, data.mv_size, NULL, 0);
        if (product && !*product)
            *product = json_object ();
    }
    mdb_cursor_close (cursor);
    return found;
}
int shop_viewed_forget (sessionizer_t *self, MDB_txn *txn, const char *visitor)
{
    nd_key_t key;
    int rc;
    while ((rc = shop_viewed_first (self, txn, visitor, &key, NULL)) == 1) {
        if (nd_db_del (txn, self->viewed, &key) < 0)
            return -1;
    }
    return rc;
}
static int s_by_views (const void *a, const void *b)
{
    int64_t x = record_int (*(json_t * const *) a, "views");
    int64_t y = record_int (*(json_t * const *) b, "views");
    return x < y ? 1 : x > y ? -1 : 0;
}
static int s_collect (const MDB_val *key, const MDB_val *data, void *arg)
{
    (void) key;
    json_t *product = nd_json_parse (data->mv_data, data->mv_size, NULL, 0);
    if (product)
        json_array_append_new ((json_t *) arg, product);
    return 0;
}
//  The products viewed in the visitor's open session, most viewed first.
json_t *shop_viewed (sessionizer_t *self, MDB_txn *txn, const char *visitor)
{
    nd_key_t prefix;
    visitor_key (&prefix, visitor);
    json_t *viewed = json_array ();
    if (nd_db_scan (txn, self->viewed, &prefix, s_collect, viewed)) {
        json_decref (viewed);
        return NULL;
    }
    size_t count = json_array_size (viewed);
    json_t *products [VIEWED_MAX];
    for (size_t i = 0; i < count && i < VIEWED_MAX; i++)
        products [i] = json_incref (json_array_get (viewed, i));
    count = count < VIEWED_MAX ? count : VIEWED_MAX;
    qsort (products, count, sizeof products [0], s_by_views);
    json_array_clear (viewed);
    for (size_t i = 0; i < count; i++)
        json_array_append_new (viewed, products [i]);
    return viewed;
}
