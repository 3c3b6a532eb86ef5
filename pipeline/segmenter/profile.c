/*  profile.c - one visitor's history, as counters the segments test.

    A profile counts what the sessionizer reports (sessions started,
    product views, cart adds, abandoned carts, orders and spend), keeps the
    times that age (first and last seen, last order, when the visitor
    became reachable with consent) and the progress of the current
    session, which the session groups (just_looking, came_to_buy) read.
    It is plain JSON so the segmenter stores it as it is; this file knows
    nothing of LMDB, which keeps it testable on its own.

    Amounts are added as the shop sends them: nudge does not convert
    currencies, so a shop selling in several should send one.           */
#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "segmenter.h"

//  What a rule can test by name; each is a number in the profile.
static const char *const s_counters [] = {
    "visits", "orders", "spend", "cart_value", "product_views", "cart_adds",
    "abandoned_carts", "returns", NULL
};

//  Times kept in the profile, as a rule names their age in days.
static const char *const s_ages [][2] = {
    { "days_since_last_order", "last_order" },
    { "days_since_first_seen", "first_seen" },
    { "days_since_last_seen", "last_seen" },
    { "days_since_subscribed", "subscribed" },
    { NULL, NULL }
};

/* ------------------------------------------------------------ readers -- */

double seg_profile_number (const json_t *profile, const char *field)
{
    return json_number_value (json_object_get (profile, field));
}

int64_t seg_profile_time (const json_t *profile, const char *field)
{
    return json_integer_value (json_object_get (profile, field));
}

bool seg_profile_days_since (const json_t *profile, const char *field, int64_t now,
                             int64_t *days)
{
    json_t *value = json_object_get (profile, field);
    if (!json_is_integer (value))
        return false;
    int64_t age = now - json_integer_value (value);
    *days = age >= 0 ? age / SEG_DAY_MS : -((-age + SEG_DAY_MS - 1) / SEG_DAY_MS);
    return true;
}

int64_t seg_profile_session (const json_t *profile, const char *field)
{
    json_t *session = json_object_get (profile, "session");
    json_t *value = json_object_get (session, field);
    return json_is_true (value) ? 1 : json_integer_value (value);
}

bool seg_profile_is_counter (const char *name)
{
    for (const char *const *counter = s_counters; *counter; counter++)
        if (strcmp (*counter, name) == 0)
            return true;
    return false;
}

const char *seg_profile_age_field (const char *name)
{
    for (size_t i = 0; s_ages [i][0]; i++)
        if (strcmp (s_ages [i][0], name) == 0)
            return s_ages [i][1];
    return NULL;
}

const char *seg_profile_names (void)
{
    return "visits, orders, spend, cart_value, product_views, cart_adds, abandoned_carts, "
           "returns, days_since_last_order, days_since_first_seen, days_since_last_seen, "
           "days_since_subscribed, category.NAME, trait.NAME";
}

/* ------------------------------------------------------------ writers -- */

static void s_add (json_t *record, const char *field, double delta)
{
    json_t *value = json_object_get (record, field);
    if (json_is_real (value) || floor (delta) != delta)
        json_object_set_new (record, field, json_real (json_number_value (value) + delta));
    else
        json_object_set_new (record, field,
                             json_integer (json_integer_value (value) + (json_int_t) delta));
}

static void s_set_time (json_t *record, const char *field, int64_t time)
{
    json_object_set_new (record, field, json_integer (time));
}

//  Keeps the earlier (or later) of the stored time and time.
static void s_keep_time (json_t *record, const char *field, int64_t time, bool later)
{
    json_t *value = json_object_get (record, field);
    if (time && (!json_is_integer (value)
             ||  (later ? time > json_integer_value (value) : time < json_integer_value (value))))
        s_set_time (record, field, time);
}

json_t *seg_profile_new (int64_t time)
{
    json_t *profile = json_object ();
    for (const char *const *counter = s_counters; *counter; counter++)
        json_object_set_new (profile, *counter, json_integer (0));
    s_set_time (profile, "first_seen", time);
    s_set_time (profile, "last_seen", time);
    json_object_set_new (profile, "categories", json_object ());
    json_object_set_new (profile, "traits", json_object ());
    json_object_set_new (profile, "segments", json_array ());
    return profile;
}

/* ------------------------------------------------------------ counting -- */

//  A number the shop may have sent as text.
static bool s_amount (const json_t *value, double *amount)
{
    if (json_is_number (value)) {
        *amount = json_number_value (value);
        return true;
    }
    char *end;
    const char *text = json_string_value (value);
    if (text && *text && (*amount = strtod (text, &end), *end == 0))
        return true;
    return false;
}

//  The sessionizer puts the amount it settled on in "value" and copies
//  Segment's "total" and "revenue"; a body from elsewhere may nest them.
static double s_order_total (const json_t *body)
{
    static const char *const fields [] = { "value", "total", "revenue", NULL };
    const json_t *places [] = {
        body, json_object_get (body, "order"), json_object_get (body, "properties"), NULL
    };
    double amount;
    for (size_t p = 0; places [p]; p++)
        for (size_t f = 0; fields [f]; f++)
            if (s_amount (json_object_get (places [p], fields [f]), &amount))
                return amount;
    return 0;
}

static void s_count_category (json_t *profile, const json_t *properties)
{
    const char *category = json_string_value (json_object_get (properties, "category"));
    if (category && *category)
        s_add (json_object_get (profile, "categories"), category, 1);
}

//  The first cart add of a session says how straight the visitor went
//  for it: how many events and how long after the session began.
static void s_count_add (json_t *profile, json_t *session, int64_t time)
{
    s_add (profile, "cart_adds", 1);
    if (!session || json_is_true (json_object_get (session, "added")))
        return;
    json_object_set_new (session, "added", json_true ());
    json_object_set (session, "add_events", json_object_get (session, "events"));
    json_object_set_new (session, "add_after",
                         json_integer (time - seg_profile_time (session, "started")));
}

static void s_count_event (json_t *profile, const char *topic, const json_t *body,
                           int64_t time, bool revisit)
{
    const char *type = topic + strlen ("event.");
    bool browsing = !strcmp (type, "track") || !strcmp (type, "page") || !strcmp (type, "screen");
    json_t *session = json_object_get (profile, "session");
    if (browsing && session)
        s_add (session, "events", 1);
    const char *name = json_string_value (json_object_get (body, "event"));
    if (strcmp (type, "track") || !name)
        return;
    json_t *properties = json_object_get (body, "properties");
    if (!strcmp (name, "Product Viewed")) {
        s_add (profile, "product_views", 1);
        if (revisit)
            s_add (profile, "returns", 1);
    }
    else
    if (!strcmp (name, "Product Added"))
        s_count_add (profile, session, time);
    else
    if (strcmp (name, "Product List Viewed") && strcmp (name, "Product Clicked"))
        return;
    s_count_category (profile, properties);
}

//  A session may report both its cart and its checkout abandoned: count
//  sessions, not reports.
static void s_count_abandon (json_t *profile, const json_t *body)
{
    json_t *session = json_object_get (body, "session");
    json_t *last = json_object_get (profile, "abandoned_session");
    if (json_is_string (session) && last && json_equal (session, last))
        return;
    s_add (profile, "abandoned_carts", 1);
    if (json_is_string (session))
        json_object_set (profile, "abandoned_session", session);
}

//  Reachable by e-mail or SMS as the sessionizer judges it (an address,
//  consent not withdrawn): the visitor subscribed when that became true.
static void s_count_profile (json_t *profile, const json_t *body, int64_t time)
{
    json_t *traits = json_object_get (body, "traits");
    if (json_is_object (traits))
        json_object_set_new (profile, "traits", json_deep_copy (traits));
    json_t *contact = json_object_get (body, "contact");
    if (!json_is_object (contact))
        return;
    bool reachable = json_is_true (json_object_get (contact, "email"))
                  || json_is_true (json_object_get (contact, "sms"));
    if (!reachable)
        json_object_del (profile, "subscribed");
    else
    if (!json_object_get (profile, "subscribed"))
        s_set_time (profile, "subscribed", time);
}

void seg_profile_apply (json_t *profile, const char *topic, const json_t *body,
                        int64_t time, bool revisit)
{
    s_keep_time (profile, "first_seen", time, false);
    s_keep_time (profile, "last_seen", time, true);
    if (!strncmp (topic, "event.", 6))
        s_count_event (profile, topic, body, time, revisit);
    else
    if (!strcmp (topic, "session.started")) {
        s_add (profile, "visits", 1);
        json_object_set_new (profile, "session", json_pack ("{s:I, s:i, s:b}",
            "started", (json_int_t) time, "events", 0, "added", 0));
    }
    else
    if (!strcmp (topic, "cart.updated")) {
        double value = 0;
        s_amount (json_object_get (json_object_get (body, "cart"), "value"), &value);
        json_object_set_new (profile, "cart_value", json_real (value));
    }
    else
    if (!strcmp (topic, "cart.abandoned") || !strcmp (topic, "checkout.abandoned"))
        s_count_abandon (profile, body);
    else
    if (!strcmp (topic, "order.completed")) {
        json_t *session = json_object_get (profile, "session");
        if (session)
            json_object_set_new (session, "ordered", json_true ());
        s_add (profile, "orders", 1);
        s_add (profile, "spend", s_order_total (body));
        s_keep_time (profile, "last_order", time, true);
    }
    else
    if (!strcmp (topic, "profile.updated"))
        s_count_profile (profile, body, time);
}

bool seg_profile_viewed (const char *topic, const json_t *body,
                         const char **product, const char **category)
{
    const char *name = json_string_value (json_object_get (body, "event"));
    if (strcmp (topic, "event.track") || !name || strcmp (name, "Product Viewed"))
        return false;
    json_t *properties = json_object_get (body, "properties");
    *product = json_string_value (json_object_get (properties, "product_id"));
    if (!*product)
        *product = json_string_value (json_object_get (properties, "sku"));
    *category = json_string_value (json_object_get (properties, "category"));
    return true;
}

/* ------------------------------------------------------ merge, summary -- */

void seg_profile_merge (json_t *profile, const json_t *loser)
{
    for (const char *const *counter = s_counters; *counter; counter++)
        if (strcmp (*counter, "cart_value"))
            s_add (profile, *counter, seg_profile_number (loser, *counter));
    //  The sessionizer merges the carts and reports the result next.
    if (seg_profile_number (loser, "cart_value") > seg_profile_number (profile, "cart_value"))
        json_object_set (profile, "cart_value", json_object_get (loser, "cart_value"));
    json_t *categories = json_object_get (profile, "categories");
    const char *name;
    json_t *value;
    json_object_foreach (json_object_get (loser, "categories"), name, value)
        s_add (categories, name, json_number_value (value));
    s_keep_time (profile, "first_seen", seg_profile_time (loser, "first_seen"), false);
    s_keep_time (profile, "last_seen", seg_profile_time (loser, "last_seen"), true);
    s_keep_time (profile, "last_order", seg_profile_time (loser, "last_order"), true);
    s_keep_time (profile, "subscribed", seg_profile_time (loser, "subscribed"), false);
    if (!json_object_get (profile, "session") && json_object_get (loser, "session"))
        json_object_set_new (profile, "session",
                             json_deep_copy (json_object_get (loser, "session")));
}

//  Made for every message passed on: the names are this file's, known
//  good UTF-8, so they are not checked again (json_object_set does).
json_t *seg_profile_summary (const json_t *profile, int64_t now)
{
    json_t *summary = json_object ();
    for (const char *const *counter = s_counters; *counter; counter++)
        json_object_set_new_nocheck (summary, *counter, json_incref (json_object_get (profile, *counter)));
    for (size_t i = 0; s_ages [i][0]; i++) {
        char stamp [32];
        int64_t days;
        if (strcmp (s_ages [i][1], "subscribed") == 0
        ||  !seg_profile_days_since (profile, s_ages [i][1], now, &days))
            continue;
        json_object_set_new_nocheck (summary, s_ages [i][1],
            json_string_nocheck (nd_time_format (seg_profile_time (profile, s_ages [i][1]), stamp)));
        json_object_set_new_nocheck (summary, s_ages [i][0], json_integer (days));
    }
    json_object_set_new_nocheck (summary, "categories",
                                 json_incref (json_object_get (profile, "categories")));
    return summary;
}

/* ------------------------------------------------------------ selftest -- */

static json_t *s_track (const char *event, const char *product, const char *category)
{
    return json_pack ("{s:s, s:{s:s, s:s}}", "event", event,
                      "properties", "product_id", product, "category", category);
}

void seg_profile_test (bool verbose)
{
    if (verbose)
        printf (" * seg_profile: ");
    int64_t t0 = 1767225600000LL;          //  2026-01-01
    json_t *profile = seg_profile_new (t0);
    json_t *body = json_pack ("{s:s}", "session", "s1");
    seg_profile_apply (profile, "session.started", body, t0, false);
    json_decref (body);
    body = s_track ("Product Viewed", "P1", "shoes");
    const char *product, *category;
    assert (seg_profile_viewed ("event.track", body, &product, &category));
    assert (!strcmp (product, "P1") && !strcmp (category, "shoes"));
    seg_profile_apply (profile, "event.track", body, t0 + 1000, true);
    json_decref (body);
    body = s_track ("Product Added", "P1", "shoes");
    seg_profile_apply (profile, "event.track", body, t0 + 60000, false);
    seg_profile_apply (profile, "event.track", body, t0 + 70000, false);
    json_decref (body);
    assert (seg_profile_number (profile, "visits") == 1);
    assert (seg_profile_number (profile, "product_views") == 1);
    assert (seg_profile_number (profile, "returns") == 1);
    assert (seg_profile_number (profile, "cart_adds") == 2);
    assert (seg_profile_number (json_object_get (profile, "categories"), "shoes") == 3);
    assert (seg_profile_session (profile, "added") == 1);
    assert (seg_profile_session (profile, "add_events") == 2);
    assert (seg_profile_session (profile, "add_after") == 60000);

    body = json_pack ("{s:s, s:{s:f}}", "session", "s1", "order", "total", 120.5);
    seg_profile_apply (profile, "order.completed", body, t0 + 90000, false);
    seg_profile_apply (profile, "cart.abandoned", body, t0 + 90000, false);
    seg_profile_apply (profile, "checkout.abandoned", body, t0 + 90000, false);
    json_decref (body);
    assert (seg_profile_number (profile, "orders") == 1);
    assert (seg_profile_number (profile, "spend") == 120.5);
    assert (seg_profile_number (profile, "abandoned_carts") == 1);
    int64_t days;
    assert (seg_profile_days_since (profile, "last_order", t0 + 3 * SEG_DAY_MS, &days));
    assert (days == 2);
    assert (!seg_profile_days_since (profile, "subscribed", t0, &days));

    body = json_pack ("{s:{s:s}, s:{s:b, s:b}}", "traits", "email", "a@example.com",
                      "contact", "email", 1, "sms", 0);
    seg_profile_apply (profile, "profile.updated", body, t0 + 5000, false);
    seg_profile_apply (profile, "profile.updated", body, t0 + 9000, false);
    json_decref (body);
    assert (seg_profile_time (profile, "subscribed") == t0 + 5000);

    json_t *loser = seg_profile_new (t0 - 1000);
    json_object_set_new (loser, "orders", json_integer (2));
    json_object_set_new (loser, "spend", json_real (10));
    seg_profile_merge (profile, loser);
    json_decref (loser);
    assert (seg_profile_number (profile, "orders") == 3);
    assert (seg_profile_number (profile, "spend") == 130.5);
    assert (seg_profile_time (profile, "first_seen") == t0 - 1000);

    json_t *summary = seg_profile_summary (profile, t0 + 10 * SEG_DAY_MS);
    assert (json_integer_value (json_object_get (summary, "days_since_last_order")) == 9);
    assert (json_object_get (summary, "last_order"));
    json_decref (summary);
    json_decref (profile);
    assert (seg_profile_is_counter ("spend") && !seg_profile_is_counter ("spent"));
    assert (!strcmp (seg_profile_age_field ("days_since_last_order"), "last_order"));
    if (verbose)
        printf ("OK\n");
}
