/*  shop.c - what e-commerce events mean for a visit and a cart.

    Event names are Segment's E-commerce Spec v2, matched regardless of
    case. Each moves the visit's funnel step forward, never back, and
    some change the cart. Names the table does not know are browsing.

    Products viewed in the open session are kept per visitor (up to
    VIEWED_MAX distinct articles, with a count each) for browse.abandoned.
*/
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include "sessionizer.h"

//  Beyond this many distinct articles a visit is a crawl, not a browse.
#define VIEWED_MAX 50

typedef enum {
    DO_NOTHING, DO_VIEW, DO_ADD, DO_REMOVE, DO_SHOW_CART, DO_CHECKOUT, DO_ORDER
} shop_action_t;

static const struct {
    const char *name;
    funnel_step_t step;
    shop_action_t action;
} s_events [] = {
    { "Products Searched",              STEP_BROWSE,   DO_NOTHING },
    { "Product List Viewed",            STEP_BROWSE,   DO_NOTHING },
    { "Product List Filtered",          STEP_BROWSE,   DO_NOTHING },
    { "Promotion Viewed",               STEP_BROWSE,   DO_NOTHING },
    { "Promotion Clicked",              STEP_BROWSE,   DO_NOTHING },
    { "Product Clicked",                STEP_PRODUCT,  DO_NOTHING },
    { "Product Viewed",                 STEP_PRODUCT,  DO_VIEW },
    { "Product Shared",                 STEP_PRODUCT,  DO_NOTHING },
    { "Product Reviewed",               STEP_PRODUCT,  DO_NOTHING },
    { "Product Added to Wishlist",      STEP_PRODUCT,  DO_NOTHING },
    { "Product Removed from Wishlist",  STEP_PRODUCT,  DO_NOTHING },
    { "Wishlist Product Added to Cart", STEP_CART,     DO_ADD },
    { "Product Added",                  STEP_CART,     DO_ADD },
    { "Product Removed",                STEP_CART,     DO_REMOVE },
    { "Cart Viewed",                    STEP_CART,     DO_SHOW_CART },
    { "Cart Shared",                    STEP_CART,     DO_NOTHING },
    { "Coupon Entered",                 STEP_CART,     DO_NOTHING },
    { "Coupon Applied",                 STEP_CART,     DO_NOTHING },
    { "Coupon Denied",                  STEP_CART,     DO_NOTHING },
    { "Coupon Removed",                 STEP_CART,     DO_NOTHING },
    { "Checkout Started",               STEP_CHECKOUT, DO_CHECKOUT },
    { "Checkout Step Viewed",           STEP_CHECKOUT, DO_NOTHING },
    { "Checkout Step Completed",        STEP_CHECKOUT, DO_NOTHING },
    { "Payment Info Entered",           STEP_PAYMENT,  DO_NOTHING },
    { "Order Completed",                STEP_ORDER,    DO_ORDER },
    { NULL,                             STEP_BROWSE,   DO_NOTHING }
};

static const char *s_step_names [] = {
    "none", "browse", "product", "cart", "checkout", "payment", "order"
};

const char *shop_step_name (int64_t step)
{
    return step >= STEP_NONE && step <= STEP_ORDER ? s_step_names [step] : "none";
}

/* ------------------------------------------------------- products viewed */

//  Counts views of product (stolen) in the viewed list.
static void s_count_view (json_t *viewed, json_t *product, int64_t views)
{
    size_t index;
    json_t *known;
    json_array_foreach (viewed, index, known)
        if (nd_cart_same_product (known, product)) {
            json_object_set_new (known, "views", json_integer (record_int (known, "views") + views));
            json_decref (product);
            return;
        }
    if (json_array_size (viewed) < VIEWED_MAX) {
        json_object_set_new (product, "views", json_integer (views));
        json_array_append_new (viewed, product);
    }
    else
        json_decref (product);
}

json_t *shop_viewed (sessionizer_t *self, MDB_txn *txn, const char *visitor)
{
    nd_key_t key;
    visitor_key (&key, visitor);
    json_t *viewed = NULL;
    int rc = nd_db_get_json (txn, self->viewed, &key, &viewed);
    if (rc == ND_NOTFOUND || (rc == 0 && !json_is_array (viewed))) {
        json_decref (viewed);
        viewed = json_array ();
    }
    return viewed;
}

static int s_view (sessionizer_t *self, MDB_txn *txn, visitor_t *visitor, json_t *session,
                   const json_t *properties)
{
    record_add (session, "product_views", 1);
    json_t *product = nd_cart_product (properties);
    if (!product)
        return 0;
    json_t *viewed = shop_viewed (self, txn, visitor->id);
    if (!viewed) {
        json_decref (product);
        return -1;
    }
    s_count_view (viewed, product, 1);
    nd_key_t key;
    visitor_key (&key, visitor->id);
    int rc = nd_db_put_json (txn, self->viewed, &key, viewed);
    json_decref (viewed);
    return rc;
}

int shop_viewed_merge (sessionizer_t *self, MDB_txn *txn, const char *into, const char *from)
{
    json_t *lost = shop_viewed (self, txn, from);
    if (!lost || json_array_size (lost) == 0) {
        json_decref (lost);
        return lost ? 0 : -1;
    }
    json_t *kept = shop_viewed (self, txn, into);
    int rc = kept ? 0 : -1;
    if (kept) {
        size_t index;
        json_t *product;
        json_array_foreach (lost, index, product)
            s_count_view (kept, json_deep_copy (product), record_int (product, "views"));
        nd_key_t key;
        visitor_key (&key, into);
        rc = nd_db_put_json (txn, self->viewed, &key, kept);
        visitor_key (&key, from);
        if (rc == 0)
            rc = nd_db_del (txn, self->viewed, &key) < 0 ? -1 : 0;
    }
    json_decref (kept);
    json_decref (lost);
    return rc;
}

/* ------------------------------------------------------------- orders */

static const char *s_order_fields [] = {
    "order_id", "checkout_id", "affiliation", "total", "revenue", "subtotal", "shipping",
    "tax", "discount", "coupon", NULL
};

//  The order's products come as the cart's items do; when the event
//  lists none, the cart it empties is what was ordered.
static int s_order (sessionizer_t *self, MDB_txn *txn, visitor_t *visitor, const event_t *event,
                    nd_cart_t *cart)
{
    const json_t *properties = event->properties;
    const char *order_id = json_string_value (json_object_get (properties, "order_id"));
    const char *last = json_string_value (json_object_get (visitor->record, "last_order"));
    //  The shop's browser and its server often both report one order.
    if (order_id && last && strcmp (order_id, last) == 0)
        return 0;
    record_add (visitor->record, "orders", 1);
    if (order_id)
        json_object_set_new (visitor->record, "last_order", json_string (order_id));
    json_t *body = sessionizer_body (NULL, visitor->id, event->time);
    const char *user_id = visitor_user_id (visitor), *session = session_id (visitor);
    if (user_id)
        json_object_set_new (body, "userId", json_string (user_id));
    if (session)
        json_object_set_new (body, "session", json_string (session));
    for (int i = 0; s_order_fields [i]; i++) {
        json_t *value = json_object_get (properties, s_order_fields [i]);
        if (value)
            json_object_set_new (body, s_order_fields [i], json_deep_copy (value));
    }
    nd_cart_t *order = nd_cart_new (nd_cart_record (cart), self->currency);
    nd_cart_replace (order, json_object_get (properties, "products"));
    nd_cart_set_currency (order, json_string_value (json_object_get (properties, "currency")));
    json_t *summary = nd_cart_json (order);
    nd_cart_destroy (&order);
    json_t *value = json_object_get (properties, "total");
    if (!json_is_number (value))
        value = json_object_get (properties, "revenue");
    if (!json_is_number (value))
        value = json_object_get (summary, "value");
    json_object_set (body, "value", value);
    json_object_set (body, "currency", json_object_get (summary, "currency"));
    json_object_set (body, "products", json_object_get (summary, "items"));
    json_decref (summary);
    sessionizer_count (self, COUNT_ORDERS);
    return sessionizer_emit (self, txn, "order.completed", body);
}

/* -------------------------------------------------------------- events */

static void s_remember_checkout (json_t *session, const json_t *properties)
{
    json_t *id = json_object_get (properties, "checkout_id");
    if (!json_is_string (id))
        id = json_object_get (properties, "order_id");
    if (json_is_string (id))
        json_object_set (session, "checkout_id", id);
}

//  The cart side of an event: true when the cart changed.
static bool s_change_cart (shop_action_t action, nd_cart_t *cart, json_t *session,
                           const json_t *properties)
{
    json_t *products = json_object_get (properties, "products");
    bool changed = nd_cart_set_currency (cart, json_string_value (json_object_get (properties, "currency")));
    switch (action) {
        case DO_ADD:
            if (nd_cart_add (cart, properties)) {
                record_add (session, "added", 1);
                changed = true;
            }
            break;
        case DO_REMOVE:
            changed = nd_cart_remove (cart, properties) || changed;
            break;
        case DO_SHOW_CART:
            changed = nd_cart_replace (cart, products) || changed;
            break;
        case DO_CHECKOUT:
            //  An empty list here means the SDK left it out, not an empty cart.
            if (json_array_size (products))
                changed = nd_cart_replace (cart, products) || changed;
            s_remember_checkout (session, properties);
            break;
        default:
            break;
    }
    return changed;
}

int shop_apply (sessionizer_t *self, MDB_txn *txn, visitor_t *visitor, const event_t *event)
{
    json_t *session = json_object_get (visitor->record, "session");
    int i = 0;
    while (s_events [i].name && strcasecmp (s_events [i].name, event->name))
        i++;
    if (!session || !s_events [i].name)
        return 0;
    if ((int64_t) s_events [i].step > record_int (session, "step"))
        json_object_set_new (session, "step", json_integer (s_events [i].step));
    shop_action_t action = s_events [i].action;
    if (action == DO_NOTHING)
        return 0;
    if (action == DO_VIEW)
        return s_view (self, txn, visitor, session, event->properties);
    nd_cart_t *cart = visitor_cart (self, txn, visitor);
    if (!cart)
        return -1;
    if (action == DO_ORDER) {
        json_object_set_new (session, "ordered", json_true ());
        if (s_order (self, txn, visitor, event, cart))
            return -1;
        if (nd_cart_empty (cart))
            visitor->cart_changed = true;
        return 0;
    }
    if (s_change_cart (action, cart, session, event->properties))
        visitor->cart_changed = true;
    return 0;
}
