/*  shop.c - what e-commerce events mean for a visit and a cart.

    Layer: rules: calls alerts.c, recommend.c and the store (visitor.c,
    cart.c, viewed.c, together.c).

    Event names are Segment's E-commerce Spec v2, matched regardless of
    case. Each moves the visit's funnel step forward, never back, and
    some change the cart. Names the table does not know are browsing.

    Products viewed in the open session are kept (up to VIEWED_MAX
    distinct articles, with a count each) for browse.abandoned.

    cart.browsing: cart-browsing-views product views after the session's
    last add, the cart not empty, no checkout begun; once a session.
    cart.returned: a session begins with the cart of an earlier one still
    full. Both carry the cart, the person's last anonymous ids (for
    on-site messages) and "recommended", products that go with the cart
    (recommend.c; for cart.browsing also as "goes_with").

    The products an event names go into the catalogue, and the visitor
    watches those they view or add (alerts.c); an order's are bought.

    Orders and payment: Order Completed is an order paid (order.completed,
    which ends the cart journeys and earns the credit) unless its
    payment_status or financial_status says it is not paid yet
    ("pending", "unpaid", "awaiting_payment", "partially_paid"): then, as
    for Order Placed, it is order.placed - the cart is gone (the visit
    ordered) but nothing is earned yet. Order Paid, or an Order Placed,
    Order Completed or Order Updated whose status is paid ("paid",
    "authorized", "captured", ...), is order.completed for that order;
    Order Cancelled, or an Order Updated whose status is cancelled
    ("cancelled", "voided", "failed", "expired"), is order.cancelled.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "shop.h"
#include "cart.h"
#include "alerts.h"
#include "recommend.h"
#include "together.h"
#include "viewed.h"
#include "visitor.h"

//  Beyond this many distinct articles a visit is a crawl, not a browse.
//  Anonymous ids a cart trigger names; products it says go with the cart.
#define TRIGGER_IDS_MAX 5

typedef enum {
    DO_NOTHING, DO_VIEW, DO_ADD, DO_REMOVE, DO_SHOW_CART, DO_CHECKOUT, DO_ORDER,
    DO_PLACE, DO_PAY, DO_UPDATE, DO_CANCEL
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
    //  Not Segment's, but what shops with deferred payment send (orders.c)
    { "Order Placed",                   STEP_ORDER,    DO_PLACE },
    { "Order Paid",                     STEP_NONE,     DO_PAY },
    { "Order Updated",                  STEP_NONE,     DO_UPDATE },
    { "Order Cancelled",                STEP_NONE,     DO_CANCEL },
    { "Order Canceled",                 STEP_NONE,     DO_CANCEL },
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

//  Each product viewed in the open session is its own key (visitor id,
//  then product_id, "sku:..." or "name:..."), so a view costs one small
//  read and write however many products the visit has seen.
static bool s_viewed_key (nd_key_t *key, const char *visitor, const json_t *product)
{
    char text [SHOP_ID_MAX + 8];
    const char *id = json_string_value (json_object_get (product, "product_id"));
    const char *sku = json_string_value (json_object_get (product, "sku"));
    const char *name = json_string_value (json_object_get (product, "name"));
    if (id)
        snprintf (text, sizeof text, "%s", id);
    else
        snprintf (text, sizeof text, "%s:%s", sku ? "sku" : "name", sku ? sku : name ? name : "");
    nd_key_init (key);
    nd_key_str (key, visitor);
    nd_key_str (key, text);
    return !key->overflow;
}

//  Counts views of product (borrowed) for the visitor's open session.
static int s_count_view (sessionizer_t *self, MDB_txn *txn, visitor_t *visitor,
                         const json_t *product, int64_t views)
{
    nd_key_t key;
    if (!s_viewed_key (&key, visitor->id, product))
        return 0;
    json_t *known = NULL;
    int rc = nd_db_get_json (txn, self->viewed, &key, &known);
    if (rc < 0)
        return -1;
    if (rc == ND_NOTFOUND) {
        if (visitor->session.distinct_views >= VIEWED_MAX)
            return 0;
        visitor->session.distinct_views++;
        known = json_deep_copy (product);
        json_object_del (known, "views");
    }
    record_add (known, "views", views);
    rc = nd_db_put_json (txn, self->viewed, &key, known);
    json_decref (known);
    return rc;
}

/* -------------------------------------------------------------- products */

//  The product an event names, with what the catalogue also reads from
//  it: its stock (Segment's spec has none; shops send one of these).
static json_t *s_product (const json_t *properties)
{
    json_t *product = nd_cart_product (properties);
    const char *stock [] = { "stock", "availability", "in_stock", NULL };
    for (int i = 0; product && stock [i]; i++)
        if (json_object_get (properties, stock [i]))
            json_object_set (product, stock [i], json_object_get (properties, stock [i]));
    return product;
}

/* --------------------------------------------------------- cart triggers */

//  A cart trigger's body: the cart, the session, the last anonymous ids.
static json_t *s_cart_body (sessionizer_t *self, MDB_txn *txn, visitor_t *visitor,
                            const event_t *event, nd_cart_t *cart)
{
    json_t *profile = visitor_profile (self, txn, visitor);
    if (!profile)
        return NULL;
    json_t *body = sessionizer_body (NULL, visitor->id, event->time);
    if (visitor->user_id)
        json_object_set_new (body, "userId", json_string (visitor->user_id));
    if (visitor->in_session)
        json_object_set_new (body, "session", json_string (visitor->session.id));
    if (event->anonymous_id)
        json_object_set_new (body, "anonymousId", json_string (event->anonymous_id));
    json_t *all = json_object_get (profile, "anonymousIds"), *ids = json_array ();
    size_t size = json_array_size (all);
    for (size_t i = size > TRIGGER_IDS_MAX ? size - TRIGGER_IDS_MAX : 0; i < size; i++)
        json_array_append (ids, json_array_get (all, i));
    json_object_set_new (body, "anonymousIds", ids);
    json_t *summary = nd_cart_json (cart);
    json_t *recommended = recommend (self, txn, json_object_get (summary, "items"));
    json_object_set_new (body, "cart", summary);
    if (!recommended) {
        json_decref (body);
        return NULL;
    }
    json_object_set_new (body, "recommended", recommended);
    return body;
}

int shop_returned (sessionizer_t *self, MDB_txn *txn, visitor_t *visitor, const event_t *event)
{
    nd_cart_t *cart = visitor_cart (self, txn, visitor);
    if (!cart)
        return -1;
    if (nd_cart_is_empty (cart))
        return 0;
    json_t *body = s_cart_body (self, txn, visitor, event, cart);
    if (!body)
        return -1;
    sessionizer_count (self, COUNT_CARTS_RETURNED);
    return sessionizer_emit (self, txn, "cart.returned", body);
}

//  Still browsing with a full cart after adding to it: once a session.
static int s_browsing (sessionizer_t *self, MDB_txn *txn, visitor_t *visitor,
                       const event_t *event)
{
    session_t *session = &visitor->session;
    if (session->browsing_announced || !session->added || session->ordered
    ||  session->step >= STEP_CHECKOUT
    ||  session->views_since_add < (uint64_t) self->cart_browsing_views)
        return 0;
    nd_cart_t *cart = visitor_cart (self, txn, visitor);
    if (!cart)
        return -1;
    if (nd_cart_is_empty (cart))
        return 0;
    session->browsing_announced = true;
    json_t *body = s_cart_body (self, txn, visitor, event, cart);
    if (!body)
        return -1;
    json_object_set (body, "goes_with", json_object_get (body, "recommended"));
    sessionizer_count (self, COUNT_CARTS_BROWSING);
    return sessionizer_emit (self, txn, "cart.browsing", body);
}

//  The currency an event names for its price, or NULL (then the one
//  known for the product stays).
static const char *s_currency (const json_t *properties)
{
    return json_string_value (json_object_get (properties, "currency"));
}

static int s_view (sessionizer_t *self, MDB_txn *txn, visitor_t *visitor, const event_t *event)
{
    const json_t *properties = event->properties;
    visitor->session.product_views++;
    if (visitor->session.added)
        visitor->session.views_since_add++;
    json_t *product = s_product (properties);
    int rc = product ? s_count_view (self, txn, visitor, product, 1) : 0;
    if (rc == 0 && product)
        rc = alerts_product_seen (self, txn, product, s_currency (properties), !event->browser,
                                  event->time, visitor->id, "viewed");
    json_decref (product);
    return rc ? rc : s_browsing (self, txn, visitor, event);
}

//  Takes from's viewed products over into into's open session.
int shop_viewed_merge (sessionizer_t *self, MDB_txn *txn, visitor_t *into, const char *from)
{
    nd_key_t key;
    json_t *product;
    int rc;
    while ((rc = shop_viewed_first (self, txn, from, &key, &product)) == 1) {
        rc = s_count_view (self, txn, into, product, record_int (product, "views"));
        json_decref (product);
        if (rc || nd_db_del (txn, self->viewed, &key) < 0)
            return -1;
    }
    return rc;
}

/* ------------------------------------------------------------- orders */

static const char *s_order_fields [] = {
    "order_id", "checkout_id", "affiliation", "total", "revenue", "subtotal", "shipping",
    "tax", "discount", "coupon", "payment_status", "payment_method", NULL
};

typedef enum { PAY_UNKNOWN, PAY_UNPAID, PAY_PAID, PAY_CANCELLED } s_payment_t;

//  What the event says of the order's payment: payment_status, else
//  Shopify's financial_status; PAY_UNKNOWN when neither is there or known.
static s_payment_t s_payment (const json_t *properties)
{
    static const struct { const char *status; s_payment_t means; } known [] = {
        { "pending", PAY_UNPAID }, { "unpaid", PAY_UNPAID }, { "awaiting_payment", PAY_UNPAID },
        { "awaiting payment", PAY_UNPAID }, { "partially_paid", PAY_UNPAID },
        { "paid", PAY_PAID }, { "authorized", PAY_PAID }, { "captured", PAY_PAID },
        { "succeeded", PAY_PAID }, { "completed", PAY_PAID }, { "complete", PAY_PAID },
        { "cancelled", PAY_CANCELLED }, { "canceled", PAY_CANCELLED }, { "voided", PAY_CANCELLED },
        { "failed", PAY_CANCELLED }, { "expired", PAY_CANCELLED }, { NULL, PAY_UNKNOWN }
    };
    const char *status = json_string_value (json_object_get (properties, "payment_status"));
    if (!status)
        status = json_string_value (json_object_get (properties, "financial_status"));
    for (int i = 0; status && known [i].status; i++)
        if (strcasecmp (status, known [i].status) == 0)
            return known [i].means;
    return PAY_UNKNOWN;
}

//  Partitioned, what goes together and what is popular is learned from
//  every partition's orders: the others learn from this one too, from the
//  fields a product's key is made of (catalogue_key) and nothing else.
static int s_teach_partitions (sessionizer_t *self, MDB_txn *txn, const json_t *items)
{
    int parts;
    nd_stage_partition (self->stage, &parts);
    if (parts < 2)
        return 0;
    json_t *keys = json_array ();
    size_t index;
    json_t *item;
    json_array_foreach (items, index, item) {
        json_t *key = json_object ();
        const char *fields [] = { "product_id", "sku", NULL };
        for (int i = 0; fields [i]; i++)
            if (json_object_get (item, fields [i]))
                json_object_set (key, fields [i], json_object_get (item, fields [i]));
        json_array_append_new (keys, key);
    }
    json_t *body = json_pack ("{s:o}", "items", keys);
    int rc = body ? nd_stage_pass_all (self->stage, txn, "order.learned", body) : -1;
    json_decref (body);
    return rc;
}

//  An order's envelope and the fields it names, for any order topic.
static json_t *s_order_body (visitor_t *visitor, const event_t *event)
{
    json_t *body = sessionizer_body (NULL, visitor->id, event->time);
    if (visitor->user_id)
        json_object_set_new (body, "userId", json_string (visitor->user_id));
    if (visitor->in_session)
        json_object_set_new (body, "session", json_string (visitor->session.id));
    for (int i = 0; s_order_fields [i]; i++) {
        json_t *value = json_object_get (event->properties, s_order_fields [i]);
        if (value)
            json_object_set_new (body, s_order_fields [i], json_deep_copy (value));
    }
    return body;
}

//  The order's products come as the cart's items do; when the event
//  lists none, the cart it empties is what was ordered.
static int s_order (sessionizer_t *self, MDB_txn *txn, visitor_t *visitor, const event_t *event,
                    nd_cart_t *cart, bool paid)
{
    const json_t *properties = event->properties;
    const char *order_id = json_string_value (json_object_get (properties, "order_id"));
    //  The shop's browser and its server often both report one order.
    if (order_id && visitor->last_order && strcmp (order_id, visitor->last_order) == 0)
        return 0;
    if (paid) {
        visitor->orders++;
        if (order_id)
            visitor_set_text (&visitor->last_order, order_id);
    }
    json_t *body = s_order_body (visitor, event);
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
    json_t *items = json_object_get (summary, "items");
    const char *currency = json_string_value (json_object_get (summary, "currency"));
    if (!paid) {                //  for the reminder: when, and where to pay
        char stamp [32];
        json_object_set_new (body, "placed", json_string (nd_time_format (event->time, stamp)));
        json_t *url = json_object_get (properties, "payment_url");
        if (json_is_string (url))
            json_object_set (body, "payment_url", url);
    }
    size_t index;
    json_t *item;
    int rc = 0;
    json_array_foreach (items, index, item)
        if (rc == 0)
            //  An order's line may carry a discount: its price is not the
            //  catalogue's, so it only fills in what is not known yet.
            rc = alerts_product_seen (self, txn, item, currency, false, event->time,
                                      visitor->id, "carted");
    //  Bought (no more alerts, and what goes together) once it is paid
    if (rc == 0 && paid)
        rc = alerts_bought (self, txn, items, visitor->id, event->time)
          || together_order (self, txn, items) || s_teach_partitions (self, txn, items) ? -1 : 0;
    json_t *recommended = rc == 0 ? recommend (self, txn, items) : NULL;
    json_decref (summary);
    if (!recommended) {
        json_decref (body);
        return -1;
    }
    json_object_set_new (body, "recommended", recommended);
    if (paid)
        sessionizer_count (self, COUNT_ORDERS);
    return sessionizer_emit (self, txn, paid ? "order.completed" : "order.placed", body);
}

//  An order's payment or cancellation, heard after it was placed: the
//  paid order is order.completed (whatever the cart holds now), a
//  cancelled one order.cancelled; the cart is not touched.
static int s_order_later (sessionizer_t *self, MDB_txn *txn, visitor_t *visitor,
                          const event_t *event, shop_action_t action)
{
    s_payment_t payment = action == DO_PAY ? PAY_PAID : action == DO_CANCEL ? PAY_CANCELLED
                        : s_payment (event->properties);
    if (payment == PAY_CANCELLED)
        return sessionizer_emit (self, txn, "order.cancelled", s_order_body (visitor, event));
    if (payment != PAY_PAID)
        return 0;
    nd_cart_t *none = nd_cart_new (NULL, self->currency);
    int rc = s_order (self, txn, visitor, event, none, true);
    nd_cart_destroy (&none);
    return rc;
}

/* -------------------------------------------------------------- events */

static void s_remember_checkout (session_t *session, const json_t *properties)
{
    const char *id = json_string_value (json_object_get (properties, "checkout_id"));
    if (!id)
        id = json_string_value (json_object_get (properties, "order_id"));
    if (id)
        visitor_set_text (&session->checkout_id, id);
}

//  The cart side of an event: true when the cart changed.
static bool s_change_cart (shop_action_t action, nd_cart_t *cart, session_t *session,
                           const json_t *properties)
{
    json_t *products = json_object_get (properties, "products");
    bool changed = nd_cart_set_currency (cart, json_string_value (json_object_get (properties, "currency")));
    switch (action) {
        case DO_ADD:
            if (nd_cart_add (cart, properties)) {
                session->added++;
                session->views_since_add = 0;
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
            changed = nd_cart_replace (cart, products) || changed;
            break;
        default:
            break;
    }
    return changed;
}

int shop_apply (sessionizer_t *self, MDB_txn *txn, visitor_t *visitor, const event_t *event)
{
    session_t *session = &visitor->session;
    int i = 0;
    while (s_events [i].name && strcasecmp (s_events [i].name, event->name))
        i++;
    if (!visitor->in_session || !s_events [i].name)
        return 0;
    if (s_events [i].step > session->step)
        session->step = s_events [i].step;
    shop_action_t action = s_events [i].action;
    if (action == DO_PAY || action == DO_UPDATE || action == DO_CANCEL)
        return s_order_later (self, txn, visitor, event, action);
    json_t *products = json_object_get (event->properties, "products");
    if (action == DO_CHECKOUT)
        s_remember_checkout (session, event->properties);
    if (action == DO_VIEW)
        return s_view (self, txn, visitor, event);
    //  Only a list that is there, and for a checkout not empty, is the
    //  cart: SDKs leave products[] out of events that mention the cart.
    if (action == DO_NOTHING || (action == DO_SHOW_CART && !json_is_array (products))
    ||  (action == DO_CHECKOUT && json_array_size (products) == 0))
        return 0;
    nd_cart_t *cart = visitor_cart (self, txn, visitor);
    if (!cart)
        return -1;
    if (action == DO_ORDER || action == DO_PLACE) {
        //  Placed but not paid: the cart is ordered all the same
        s_payment_t payment = s_payment (event->properties);
        bool paid = action == DO_ORDER ? payment != PAY_UNPAID : payment == PAY_PAID;
        session->ordered = true;
        if (s_order (self, txn, visitor, event, cart, paid))
            return -1;
        if (nd_cart_empty (cart))
            visitor->cart_changed = true;
        return 0;
    }
    if (s_change_cart (action, cart, session, event->properties))
        visitor->cart_changed = true;
    json_t *product = action == DO_ADD ? s_product (event->properties) : NULL;
    int rc = product ? alerts_product_seen (self, txn, product, s_currency (event->properties),
                                            !event->browser, event->time, visitor->id, "carted")
                     : 0;
    json_decref (product);
    return rc;
}
