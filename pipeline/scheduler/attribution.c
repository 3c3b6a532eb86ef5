/*  attribution.c - which journey, variant, step and channel an order
    owes to, and the counters nd-report reads.

    Layer: engine: calls the rules (journeys.c, journey.c) and the store
    (codes.c, counters.c, instance.c).

    Two views of one order, both kept, and both only for messages that
    reached the person: feedback.delivered (every channel sends it: the
    push service or SMS provider accepted it, the SMTP relay took it, the
    page first showed it), or a click, which implies it. A message sent
    but never delivered earns nothing, so a journey that delivered nothing
    is credited with nothing.

    - per journey group, for uplift: every instance the person entered
      that reached them before the order ("reached": the send time of its
      first delivered message; for the holdout, of the first message it
      would have got, "held"), and whose window (entry until the
      attribution window after it ended) holds the order, counts the
      order and its revenue, and counts once as converted. Holdout and
      variants are compared on converted / entered: the holdout goes
      through the same steps without the messages, so "would have got"
      stands for "delivered";
    - last touch, for the messages: the person's latest message sent
      before the order, if the order came within the attribution window
      after it (default 5 days), is credited with the order (journey,
      variant, step and channel) once it is known to have been delivered.
      A journey with attribution = "clicked 3d" credits its last touch
      only if the message was clicked (feedback.clicked, at the click's
      own time) before the order and at most that long before it; the
      group view stays as above, so uplift is measured the same way.

    Feedback travels its own link and does not move the clock, so the
    delivery of a message sent before an order may be heard after the
    order. Such an order waits in its instance ("pending") and is credited
    when the delivery comes, on the order's day; when its last touch is
    one of the instance's messages not yet heard of, the instance's whole
    credit waits for it (a failure credits the group alone). So the
    figures and the conversion messages do not depend on which was heard
    first, and a replay at full speed matches the live run. The instance's
    clean-up waits for its pending orders, an attribution window at a
    time, ten at most (instance.c); then they go with it.

    Each credited instance gets a "conversion" message downstream.

    Counters are u64 under journey + variant + step + channel + metric
    (empty parts where they do not apply); revenue in cents. Totals for
    STATS sit under an empty journey. A journey's counters are also kept
    per UTC day of the scheduler's clock: the same key followed by an
    i64 day number (days since 1970-01-01), bumped in the same
    transaction as the total.                                            */
#include <math.h>
#include "attribution.h"
#include "codes.h"
#include "counters.h"
#include "instance.h"
#include "journey.h"
#include "journeys.h"

static void s_user_key (nd_key_t *key, const char *user)
{
    nd_key_init (key);
    nd_key_str (key, user);
}

int attribution_touch (scheduler_t *self, MDB_txn *txn, const instance_t *instance,
                       const char *step, channel_t channel, const char *key, int64_t time)
{
    char id [48];
    json_t *touch = json_pack ("{s:I, s:s, s:s, s:s, s:I, s:s, s:s, s:s}", "time", (json_int_t) time,
        "journey", instance->journey->name, "variant", record_str (instance->record, "variant"),
        "instance", instance_name (self, instance, id), "id", (json_int_t) instance->id,
        "step", step, "channel", channel_name (channel), "key", key);
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
} s_order_t;

static limits_t s_limits (scheduler_t *self, const char *journey_name)
{
    journey_t *journey = journey_name ? journeys_find (self->journeys, journey_name) : NULL;
    limits_t limits = self->limits;
    if (journey)
        policy_limits (self, journey, &limits);
    return limits;
}

static int64_t s_window (scheduler_t *self, const char *journey_name)
{
    return s_limits (self, journey_name).attribution;
}

//  Credits one instance with an order: its group (conversion, revenue)
//  when group, and touch's step and channel as the order's last touch when
//  touch is not NULL. One "conversion" message says what was credited.
static int s_settle (scheduler_t *self, MDB_txn *txn, const s_order_t *order, instance_t *instance,
                     bool group, const json_t *touch)
{
    char id [48];
    json_t *record = instance->record;
    const char *journey = record_str (record, "journey"), *variant = record_str (record, "variant");
    int rc = 0;
    if (group) {
        bool first = !json_is_true (json_object_get (record, "converted"));
        json_object_set_new (record, "converted", json_true ());
        rc = counter_add_at (self, txn, order->time, journey, variant, "", "", "orders", 1)
          || counter_add_at (self, txn, order->time, journey, variant, "", "", "revenue",
                           (uint64_t) llround (order->revenue * 100))
          || (first && counter_add_at (self, txn, order->time, journey, variant, "", "", "converted", 1))
          ? -1 : 0;
    }
    if (rc == 0 && touch) {
        const char *step = record_str (touch, "step"), *channel = record_str (touch, "channel");
        rc = counter_add_at (self, txn, order->time, journey, variant, step, channel, "attributed", 1)
          || counter_add_at (self, txn, order->time, journey, variant, step, channel,
                           "attributed-revenue", (uint64_t) llround (order->revenue * 100))
          || counter_add (self, txn, "", "", "", "", "conversions", 1) ? -1 : 0;
    }
    if (rc || (!group && !touch))
        return rc;
    json_t *body = json_pack ("{s:s, s:s, s:f, s:O, s:s, s:s, s:s, s:b}", "user", order->user,
        "order_id", order->order, "revenue", order->revenue, "currency", order->currency,
        "journey", journey, "variant", variant, "instance", instance_name (self, instance, id),
        "last_touch", touch != NULL);
    if (touch) {
        json_object_set (body, "step", json_object_get (touch, "step"));
        json_object_set (body, "channel", json_object_get (touch, "channel"));
        json_object_set (body, "idempotency_key", json_object_get (touch, "key"));
    }
    rc = nd_emit (self->stage, txn, "conversion", body);
    json_decref (body);
    return rc;
}

//  An order that waits for a delivery: the instance keeps it until the
//  delivery is heard (attribution_delivered) or the instance is cleaned
//  up. Whichever comes first, the order or the delivery, the credit is the
//  same: a replay at full speed gives the live run's figures.
static void s_pend (instance_t *instance, const s_order_t *order, bool group, const char *touch_key)
{
    json_t *pending = json_object_get (instance->record, "pending");
    if (!pending)
        json_object_set_new (instance->record, "pending", pending = json_array ());
    json_array_append_new (pending, json_pack ("{s:s, s:I, s:f, s:O, s:b, s:s?}",
        "order", order->order, "time", (json_int_t) order->time, "revenue", order->revenue,
        "currency", order->currency, "group", group, "touch", touch_key));
}

//  The send time of the message with idempotency key, if it was delivered
//  (or clicked); 0 if not heard yet.
static int64_t s_delivered (const json_t *record, const char *key)
{
    return key ? json_integer_value (json_object_get (json_object_get (record, "delivered"), key))
               : 0;
}

//  When the message with key was first clicked (the click's own time), 0
//  if it was not (yet).
static int64_t s_clicked (const json_t *record, const char *key)
{
    return key ? json_integer_value (json_object_get (json_object_get (record, "clicks"), key))
               : 0;
}

//  A click at clicked earns the order under "clicked within N days".
static bool s_click_earns (const limits_t *limits, int64_t clicked, int64_t order_time)
{
    return clicked && clicked <= order_time && order_time - clicked <= limits->attribution;
}

//  One instance the person owns, and whether it holds the order's last
//  touch: credit now what its deliveries allow, keep the rest pending.
static int s_credit (scheduler_t *self, MDB_txn *txn, const s_order_t *order, uint64_t id,
                     const json_t *touch)
{
    instance_t *instance = instance_load (self, txn, id);
    if (!instance)
        return 0;
    json_t *record = instance->record;
    const char *journey = record_str (record, "journey");
    //  A journey an order started is not converted by that order
    int64_t entered = record_int (record, "entered"), ended = record_int (record, "ended");
    bool after = instance->journey ? journey_ordered (instance->journey, order->time, entered)
                                   : order->time >= entered;
    bool inside = after && (!ended || order->time <= ended + s_window (self, journey));
    //  Reached before the order: a message delivered, or for the holdout
    //  one it would have got
    int64_t reached = record_int (record, "reached");
    bool group_now = inside && reached && reached <= order->time;
    bool is_touch = touch && (uint64_t) record_int (touch, "id") == id;
    const char *touch_key = is_touch ? record_str (touch, "key") : NULL;
    bool touch_now = is_touch && s_delivered (record, touch_key);
    bool touch_later = is_touch && !touch_now;
    //  attribution = "clicked 3d": the last touch must have been clicked
    //  before the order, within the window; one not clicked yet waits for
    //  a click (a later one, or none, earns nothing)
    limits_t limits = s_limits (self, journey);
    if (is_touch && limits.attribution_clicked) {
        int64_t clicked = s_clicked (record, touch_key);
        touch_now = s_click_earns (&limits, clicked, order->time);
        touch_later = !clicked;
    }
    //  Waiting for the last touch's delivery, the instance's whole credit
    //  waits with it, so that one conversion message says it all
    bool group_later = inside && (!group_now || touch_later);
    group_now = group_now && !touch_later;
    int rc = s_settle (self, txn, order, instance, group_now, touch_now ? touch : NULL);
    if (rc == 0 && (group_later || touch_later))
        s_pend (instance, order, group_later, touch_later ? touch_key : NULL);
    if (rc == 0 && (group_now || touch_now || group_later || touch_later))
        rc = instance_store (self, txn, instance);
    instance_destroy (&instance);
    return rc;
}

static int s_credit_instances (scheduler_t *self, MDB_txn *txn, const s_order_t *order,
                               const json_t *touch)
{
    zlistx_t *ids = instance_owned (self, txn, order->user);
    int rc = ids ? 0 : -1;
    for (void *id = ids ? zlistx_first (ids) : NULL; rc == 0 && id; id = zlistx_next (ids))
        rc = s_credit (self, txn, order, (uint64_t) (uintptr_t) id, touch);
    zlistx_destroy (&ids);
    return rc;
}

static const char *s_text (const json_t *record, const char *field)
{
    const char *text = record_str (record, field);
    return text ? text : "";
}

//  One pending order, now that the message with key is delivered (or
//  failed, when !delivered): its group is credited if the instance reached
//  the person before the order, its last touch if that is key. An order
//  whose last touch is another message goes on waiting for that one.
//  Returns 1 if nothing of it is left pending, 0 if some is, -1 on error.
static int s_settle_pending (scheduler_t *self, MDB_txn *txn, instance_t *instance, json_t *entry,
                             const json_t *touch, bool delivered, bool clicked)
{
    s_order_t order = { record_str (instance->record, "user"), record_str (entry, "order"),
        json_object_get (entry, "currency"), json_number_value (json_object_get (entry, "revenue")),
        record_int (entry, "time") };
    order.currency = order.currency ? order.currency : json_null ();
    const char *pending_key = s_text (entry, "touch");
    bool ours = *pending_key && streq (pending_key, s_text (touch, "key"));
    if (*pending_key && !ours)
        return 0;
    bool earns = ours && delivered;
    limits_t limits = s_limits (self, record_str (instance->record, "journey"));
    if (ours && limits.attribution_clicked) {
        //  Clicked mode: only a click earns it; a delivery leaves it waiting
        earns = clicked && s_click_earns (&limits, s_clicked (instance->record, pending_key),
                                          order.time);
        ours = clicked || !delivered;
    }
    int64_t reached = record_int (instance->record, "reached");
    bool group = json_is_true (json_object_get (entry, "group")) && reached && reached <= order.time;
    if (s_settle (self, txn, &order, instance, group, earns ? touch : NULL))
        return -1;
    if (group)
        json_object_set_new (entry, "group", json_false ());
    if (ours)
        json_object_del (entry, "touch");
    return !json_is_true (json_object_get (entry, "group")) && !json_object_get (entry, "touch");
}

//  A delivery (or a click) marks the instance reached, as of the send:
//  when it was sent, not when that was heard, is the same in a replay.
static void s_reached (instance_t *instance, const char *step, const char *key, int64_t time)
{
    json_t *record = instance->record;
    json_t *delivered = json_object_get (record, "delivered");
    if (!delivered)
        json_object_set_new (record, "delivered", delivered = json_object ());
    json_t *sent_entry = json_object_get (json_object_get (record, "sends"), step);
    int64_t sent = streq (s_text (sent_entry, "key"), key) ? record_int (sent_entry, "time") : time;
    json_object_set_new (delivered, key, json_integer (sent));
    int64_t reached = record_int (record, "reached");
    if (!reached || sent < reached)
        json_object_set_new (record, "reached", json_integer (sent));
}

int attribution_feedback (scheduler_t *self, MDB_txn *txn, instance_t *instance, const char *kind,
                          const char *step, channel_t channel, const char *key, int64_t time)
{
    bool clicked = streq (kind, "clicked");
    bool delivered = streq (kind, "delivered") || clicked;
    bool failed = streq (kind, "failed") || streq (kind, "bounced") || streq (kind, "unreachable");
    json_t *record = instance->record;
    bool known = json_object_get (json_object_get (record, "delivered"), key) != NULL;
    //  The first click of each message, at its own time (clicked mode)
    bool first_click = clicked && key && !s_clicked (record, key);
    if (first_click) {
        json_t *clicks = json_object_get (record, "clicks");
        if (!clicks)
            json_object_set_new (record, "clicks", clicks = json_object ());
        json_object_set_new (clicks, key, json_integer (time));
    }
    if ((!delivered && !failed) || !key || (known && !first_click))
        return 0;                           //  nothing new (a delivery after a click)
    if (delivered && !known)
        s_reached (instance, step, key, time);
    char id [48];
    json_t *touch = json_pack ("{s:s, s:s, s:s, s:s}", "instance", instance_name (self, instance, id),
                               "step", step, "channel", channel_name (channel), "key", key);
    json_t *pending = json_object_get (record, "pending");
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < json_array_size (pending); ) {
        int settled = s_settle_pending (self, txn, instance, json_array_get (pending, i), touch,
                                        delivered, clicked);
        rc = settled < 0 ? -1 : 0;
        if (settled == 1)
            json_array_remove (pending, i);
        else
            i++;
    }
    json_decref (touch);
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
        msg->time ? msg->time : nd_stage_now (self->stage) };
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
    //  The last message sent before the order, within its window, is the
    //  last touch; it is credited once it is known to have been delivered
    nd_key_t key;
    json_t *touch = NULL;
    s_user_key (&key, order.user);
    if (record_get (txn, self->touch, &key, &touch) < 0)
        return -1;
    int64_t since = touch ? order.time - record_int (touch, "time") : -1;
    limits_t limits = s_limits (self, touch ? record_str (touch, "journey") : NULL);
    //  Clicked mode counts the window from the click (s_credit)
    if (touch && (since < 0 || (!limits.attribution_clicked && since > limits.attribution))) {
        json_decref (touch);
        touch = NULL;
    }
    int rc = s_credit_instances (self, txn, &order, touch);
    json_decref (touch);
    return rc;
}
