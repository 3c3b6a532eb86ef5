/*  attribution.c - which journey, variant, step and channel an order
    owes to, and the counters nd-report reads.

    Layer: engine: calls the rules (journey.c) and the store (codes.c,
    counters.c, instance.c).

    Two views of one order, both kept:

    - per journey group, for uplift: every instance (holdout included)
      the person entered, whose window (entry until the attribution window
      after it ended) holds the order, counts the order and its revenue,
      and counts once as converted. Holdout and variants are compared on
      converted / entered, which is fair because the holdout went through
      the same steps without the messages;
    - last touch, for the messages: the person's latest message, if the
      order came within the attribution window after it (default 5 days),
      is credited with the order: journey, variant, step and channel.

    Each credited instance gets a "conversion" message downstream.

    Counters are u64 under journey + variant + step + channel + metric
    (empty parts where they do not apply); revenue in cents. Totals for
    STATS sit under an empty journey.                                    */
#include <math.h>
#include "attribution.h"
#include "codes.h"
#include "counters.h"
#include "instance.h"
#include "journey.h"

static void s_user_key (nd_key_t *key, const char *user)
{
    nd_key_init (key);
    nd_key_str (key, user);
}

int attribution_touch (scheduler_t *self, MDB_txn *txn, const instance_t *instance,
                       const char *step, channel_t channel, const char *key, int64_t time)
{
    char id [48];
    json_t *touch = json_pack ("{s:I, s:s, s:s, s:s, s:s, s:s, s:s}", "time", (json_int_t) time,
        "journey", instance->journey->name, "variant", record_str (instance->record, "variant"),
        "instance", instance_name (self, instance, id), "step", step,
        "channel", channel_name (channel), "key", key);
    nd_key_t k;
    s_user_key (&k, record_str (instance->record, "user"));
    int rc = record_put (txn, self->touch, &k, touch);
    json_decref (touch);
    return rc;
}

/* ------------------------------------------------------------ orders -- */

#define ORDER_ID_MAX 100        /* with the user, under LMDB's key size */

typedef struct {
    const char *user;
    const char *order;
    json_t *currency;
    double revenue;
    int64_t time;
    json_t *touch;              //  the last touch, if the order is in its window
    bool touch_credited;
} s_order_t;

static int64_t s_window (scheduler_t *self, const char *journey_name)
{
    journey_t *journey = journey_name ? journeys_find (self->journeys, journey_name) : NULL;
    limits_t limits = self->limits;
    if (journey)
        policy_limits (self, journey, &limits);
    return limits.attribution;
}

static int s_emit (scheduler_t *self, MDB_txn *txn, s_order_t *order, const instance_t *instance)
{
    char id [48];
    json_t *record = instance->record;
    json_t *body = json_pack ("{s:s, s:s, s:f, s:O, s:s, s:s, s:s, s:b}", "user", order->user,
        "order_id", order->order, "revenue", order->revenue, "currency", order->currency,
        "journey", record_str (record, "journey"), "variant", record_str (record, "variant"),
        "instance", instance_name (self, instance, id), "last_touch", 0);
    if (order->touch && streq (record_str (order->touch, "instance"), id)) {
        json_object_set_new (body, "last_touch", json_true ());
        json_object_set (body, "step", json_object_get (order->touch, "step"));
        json_object_set (body, "channel", json_object_get (order->touch, "channel"));
        json_object_set (body, "idempotency_key", json_object_get (order->touch, "key"));
        order->touch_credited = true;
    }
    int rc = nd_emit (self->stage, txn, "conversion", body);
    json_decref (body);
    return rc;
}

//  One instance the person owns: credit it if the order is in its window.
static int s_credit (scheduler_t *self, MDB_txn *txn, s_order_t *order, uint64_t id)
{
    instance_t *instance = instance_load (self, txn, id);
    if (!instance)
        return 0;
    json_t *record = instance->record;
    int64_t ended = record_int (record, "ended");
    const char *journey = record_str (record, "journey"), *variant = record_str (record, "variant");
    //  A journey an order started is not converted by that order
    int64_t entered = record_int (record, "entered");
    bool after = instance->journey ? journey_ordered (instance->journey, order->time, entered)
                                   : order->time >= entered;
    bool inside = after && (!ended || order->time <= ended + s_window (self, journey));
    int rc = 0;
    if (inside) {
        bool first = !json_is_true (json_object_get (record, "converted"));
        json_object_set_new (record, "converted", json_true ());
        rc = counter_add (self, txn, journey, variant, "", "", "orders", 1)
          || counter_add (self, txn, journey, variant, "", "", "revenue",
                          (uint64_t) llround (order->revenue * 100))
          || (first && counter_add (self, txn, journey, variant, "", "", "converted", 1))
          || instance_store (self, txn, instance) || s_emit (self, txn, order, instance) ? -1 : 0;
    }
    instance_destroy (&instance);
    return rc;
}

static int s_credit_instances (scheduler_t *self, MDB_txn *txn, s_order_t *order)
{
    nd_key_t prefix;
    s_user_key (&prefix, order->user);
    zlistx_t *ids = zlistx_new ();
    MDB_cursor *cursor;
    int rc = mdb_cursor_open (txn, self->owned, &cursor);
    MDB_val key = nd_key_val (&prefix), data;
    for (int get = rc ? rc : mdb_cursor_get (cursor, &key, &data, MDB_SET_RANGE); get == 0;
         get = mdb_cursor_get (cursor, &key, &data, MDB_NEXT)) {
        if (key.mv_size != prefix.size + 8 || memcmp (key.mv_data, prefix.data, prefix.size))
            break;
        zlistx_add_end (ids, (void *) (uintptr_t) nd_key_get_u64 (&key, prefix.size));
    }
    if (rc == 0)
        mdb_cursor_close (cursor);
    for (void *id = zlistx_first (ids); rc == 0 && id; id = zlistx_next (ids))
        rc = s_credit (self, txn, order, (uint64_t) (uintptr_t) id);
    zlistx_destroy (&ids);
    return rc;
}

static int s_credit_touch (scheduler_t *self, MDB_txn *txn, s_order_t *order)
{
    json_t *touch = order->touch;
    const char *journey = record_str (touch, "journey"), *variant = record_str (touch, "variant");
    const char *step = record_str (touch, "step"), *channel = record_str (touch, "channel");
    if (counter_add (self, txn, journey, variant, step, channel, "attributed", 1)
    ||  counter_add (self, txn, journey, variant, step, channel, "attributed-revenue",
                     (uint64_t) llround (order->revenue * 100))
    ||  counter_add (self, txn, "", "", "", "", "conversions", 1))
        return -1;
    if (order->touch_credited)
        return 0;
    //  Its instance is gone or was not in the window: say so on its own.
    json_t *body = json_pack ("{s:s, s:s, s:f, s:O, s:O, s:O, s:O, s:b, s:O, s:O, s:O}",
        "user", order->user, "order_id", order->order, "revenue", order->revenue,
        "currency", order->currency, "journey", json_object_get (touch, "journey"),
        "variant", json_object_get (touch, "variant"), "instance", json_object_get (touch, "instance"),
        "last_touch", 1, "step", json_object_get (touch, "step"),
        "channel", json_object_get (touch, "channel"), "idempotency_key", json_object_get (touch, "key"));
    int rc = nd_emit (self->stage, txn, "conversion", body);
    json_decref (body);
    return rc;
}

static double s_revenue (const json_t *body)
{
    const char *fields [] = { "revenue", "total", "value", NULL };
    for (int i = 0; fields [i]; i++)
        if (json_is_number (json_object_get (body, fields [i])))
            return json_number_value (json_object_get (body, fields [i]));
    return 0;
}

//  1 if this person's order id was credited before, else 0 (remembered
//  from now on), -1 on error. An order without an id, or with one longer
//  than a key allows, is taken as new.
static int s_order_seen (scheduler_t *self, MDB_txn *txn, const s_order_t *order)
{
    if (!*order->order || strlen (order->order) > ORDER_ID_MAX)
        return 0;
    nd_key_t key;
    s_user_key (&key, order->user);
    nd_key_str (&key, order->order);
    uint64_t first;
    int rc = nd_db_get_u64 (txn, self->orders, &key, &first);
    if (rc != ND_NOTFOUND)
        return rc == 0 ? 1 : -1;
    return nd_db_put_u64 (txn, self->orders, &key, (uint64_t) order->time) ? -1 : 0;
}

int attribution_order (scheduler_t *self, MDB_txn *txn, const nd_msg_t *msg)
{
    s_order_t order = { json_string_value (json_object_get (msg->body, "user")),
        json_string_value (json_object_get (msg->body, "order_id")),
        json_object_get (msg->body, "currency"), s_revenue (msg->body),
        msg->time ? msg->time : nd_stage_now (self->stage), NULL, false };
    if (!order.user || !*order.user || strlen (order.user) > SCHEDULER_USER_MAX)
        return 0;
    order.order = order.order ? order.order : "";
    order.currency = order.currency ? order.currency : json_null ();
    //  Shops report an order more than once (the page, then the server):
    //  an order id is credited the first time only
    int seen = s_order_seen (self, txn, &order);
    if (seen != 0)
        return seen < 0 ? -1 : 0;
    const char *coupon = json_string_value (json_object_get (msg->body, "coupon"));
    if (coupon && codes_redeem (self, txn, coupon, order.order, order.time))
        return -1;
    nd_key_t key;
    s_user_key (&key, order.user);
    if (record_get (txn, self->touch, &key, &order.touch) < 0)
        return -1;
    int64_t since = order.touch ? order.time - record_int (order.touch, "time") : -1;
    if (order.touch && (since < 0 || since > s_window (self, record_str (order.touch, "journey")))) {
        json_decref (order.touch);
        order.touch = NULL;
    }
    int rc = s_credit_instances (self, txn, &order)
          || (order.touch && s_credit_touch (self, txn, &order)) ? -1 : 0;
    json_decref (order.touch);
    return rc;
}
