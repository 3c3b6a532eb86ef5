/*  groups.c - the built-in visitor groups the journeys start from.

    just_looking    this session: browsing, nothing added to the cart,
                    nothing ordered
    came_to_buy     this session: first cart add within the first
                    came-to-buy-events events and came-to-buy-within
    hesitating      came back to products or categories seen in earlier
                    sessions (hesitating-returns), or left a cart behind
                    in hesitating-abandons sessions
    customer        at least one order
    loyal           at least loyal-orders orders
    lapsed          a customer with no order for lapsed-after
    new_subscriber  reachable by e-mail or SMS with consent, since less
                    than subscriber-for
    birthday        it is their birthday, midnight to midnight in their
                    time zone (birthday.c)

    The session groups describe the current session, or the last one
    until the next begins: a cart abandoned after the visitor left still
    belongs to someone who came to buy. lapsed, new_subscriber and
    birthday change with time alone; seg_groups_next_change says when.   */
#include <assert.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include "nd_json.h"
#include "segmenter.h"

static const char *const s_names [] = {
    "just_looking", "came_to_buy", "hesitating", "customer", "loyal", "lapsed",
    "new_subscriber", "birthday", NULL
};

static const struct {
    const char *path;
    const char *fallback;
    bool duration;
    size_t offset;
} s_options [] = {
    { "came-to-buy-events", "5", false, offsetof (seg_thresholds_t, came_to_buy_events) },
    { "came-to-buy-within", "10m", true, offsetof (seg_thresholds_t, came_to_buy_within) },
    { "hesitating-returns", "2", false, offsetof (seg_thresholds_t, hesitating_returns) },
    { "hesitating-abandons", "2", false, offsetof (seg_thresholds_t, hesitating_abandons) },
    { "loyal-orders", "3", false, offsetof (seg_thresholds_t, loyal_orders) },
    { "lapsed-after", "90d", true, offsetof (seg_thresholds_t, lapsed_after) },
    { "subscriber-for", "30d", true, offsetof (seg_thresholds_t, subscriber_for) },
};

int seg_groups_configure (nd_stage_t *stage, seg_thresholds_t *thresholds)
{
    for (size_t i = 0; i < sizeof s_options / sizeof s_options [0]; i++) {
        int64_t *value = (int64_t *) ((char *) thresholds + s_options [i].offset);
        int rc = s_options [i].duration
               ? nd_stage_option_duration (stage, s_options [i].path, s_options [i].fallback, value)
               : nd_stage_option_int (stage, s_options [i].path, s_options [i].fallback, value);
        if (rc)
            return -1;
        //  A zero threshold would put every visitor in the group.
        if (*value < 1)
            return nd_stage_config_error (stage, s_options [i].path, "must be more than 0");
    }
    thresholds->tz = nd_tz_new (nd_stage_option (stage, "zoneinfo", "/usr/share/zoneinfo"));
    thresholds->timezone = nd_stage_option (stage, "timezone", "UTC");
    if (!nd_tz_known (thresholds->tz, thresholds->timezone))
        return nd_stage_config_error (stage, "timezone", "not a time zone in the zoneinfo directory");
    return 0;
}

const char *const *seg_groups_names (void)
{
    return s_names;
}

//  What the groups read of a profile, read once for all eight: each
//  read is a lookup by name, and the groups run on every message.
typedef struct {
    double orders, returns, abandoned;
    bool session, added, ordered, subscribed;
    int64_t events, add_events, add_after, last_order, subscribed_at;
} s_facts_t;

static void s_facts_read (const json_t *profile, s_facts_t *f)
{
    f->orders = seg_profile_number (profile, "orders");
    f->returns = seg_profile_number (profile, "returns");
    f->abandoned = seg_profile_number (profile, "abandoned_carts");
    f->session = json_object_get (profile, "session") != NULL;
    f->added = seg_profile_session (profile, "added");
    f->ordered = seg_profile_session (profile, "ordered");
    f->events = seg_profile_session (profile, "events");
    f->add_events = seg_profile_session (profile, "add_events");
    f->add_after = seg_profile_session (profile, "add_after");
    f->last_order = seg_profile_time (profile, "last_order");
    f->subscribed = json_object_get (profile, "subscribed") != NULL;
    f->subscribed_at = seg_profile_time (profile, "subscribed");
}

//  Whether the visitor is in group s_names [group].
static bool s_in_group (const seg_thresholds_t *t, const s_facts_t *f, const json_t *profile,
                        int64_t now, size_t group)
{
    int64_t next;
    switch (group) {
        case 0:     //  just_looking
            return f->session && !f->added && !f->ordered && f->events > 0;
        case 1:     //  came_to_buy
            return f->added && f->add_events <= t->came_to_buy_events
                            && f->add_after <= t->came_to_buy_within;
        case 2:     //  hesitating
            return f->returns >= t->hesitating_returns
                || f->abandoned >= t->hesitating_abandons;
        case 3:     //  customer
            return f->orders >= 1;
        case 4:     //  loyal
            return f->orders >= t->loyal_orders;
        case 5:     //  lapsed
            return f->orders >= 1 && now - f->last_order >= t->lapsed_after;
        case 6:     //  new_subscriber
            return f->subscribed && now - f->subscribed_at < t->subscriber_for;
        default:    //  birthday
            assert (group == 7);
            return seg_birthday (t->tz, t->timezone, profile, now, &next);
    }
}

void seg_groups_match (const seg_thresholds_t *thresholds, const json_t *profile,
                       int64_t now, json_t *members)
{
    s_facts_t facts;
    s_facts_read (profile, &facts);
    for (size_t group = 0; s_names [group]; group++)
        if (s_in_group (thresholds, &facts, profile, now, group))
            json_array_append_new (members, json_string (s_names [group]));
}

int64_t seg_groups_next_change (const seg_thresholds_t *thresholds, const json_t *profile,
                                int64_t now)
{
    int64_t next = 0, due [3] = { 0, 0, 0 };
    if (seg_profile_number (profile, "orders") >= 1)
        due [0] = seg_profile_time (profile, "last_order") + thresholds->lapsed_after;
    if (json_object_get (profile, "subscribed"))
        due [1] = seg_profile_time (profile, "subscribed") + thresholds->subscriber_for;
    seg_birthday (thresholds->tz, thresholds->timezone, profile, now, &due [2]);
    for (size_t i = 0; i < 3; i++)
        if (due [i] > now && (next == 0 || due [i] < next))
            next = due [i];
    return next;
}

/* ------------------------------------------------------------ selftest -- */

static json_t *s_members (const seg_thresholds_t *t, const json_t *profile, int64_t now)
{
    json_t *members = json_array ();
    seg_groups_match (t, profile, now, members);
    return members;
}

void seg_groups_test (bool verbose)
{
    if (verbose)
        printf (" * seg_groups: ");
    seg_thresholds_t t = { 5, 600000, 2, 2, 3, 90 * SEG_DAY_MS, 30 * SEG_DAY_MS, "UTC",
                           nd_tz_new ("/usr/share/zoneinfo") };
    int64_t t0 = 1767225600000LL;
    json_t *profile = seg_profile_new (t0);
    json_t *body = json_pack ("{s:s}", "event", "Product Viewed");
    seg_profile_apply (profile, "session.started", body, t0, false);
    seg_profile_apply (profile, "event.track", body, t0, false);
    json_t *members = s_members (&t, profile, t0);
    assert (json_array_size (members) == 1 && nd_json_has_string (members, "just_looking"));
    json_decref (members);
    json_object_set_new (body, "event", json_string ("Product Added"));
    seg_profile_apply (profile, "event.track", body, t0 + 1000, false);
    json_decref (body);
    members = s_members (&t, profile, t0);
    assert (json_array_size (members) == 1 && nd_json_has_string (members, "came_to_buy"));
    json_decref (members);

    body = json_pack ("{s:f}", "total", 10.0);
    for (int order = 0; order < 3; order++)
        seg_profile_apply (profile, "order.completed", body, t0 + 2000, false);
    json_decref (body);
    members = s_members (&t, profile, t0 + 2000);
    assert (nd_json_has_string (members, "customer") && nd_json_has_string (members, "loyal") && !nd_json_has_string (members, "lapsed"));
    json_decref (members);
    int64_t due = seg_groups_next_change (&t, profile, t0 + 2000);
    assert (due == t0 + 2000 + 90 * SEG_DAY_MS);
    members = s_members (&t, profile, due);
    assert (nd_json_has_string (members, "lapsed"));
    json_decref (members);
    assert (seg_groups_next_change (&t, profile, due) == 0);

    //  2026-03-31 is day 89 after t0: a birthday then comes first.
    json_object_set_new (json_object_get (profile, "traits"), "birthday",
                         json_string ("1990-03-31"));
    int64_t birthday = t0 + 89 * SEG_DAY_MS;
    assert (seg_groups_next_change (&t, profile, t0 + 2000) == birthday);
    members = s_members (&t, profile, birthday);
    assert (nd_json_has_string (members, "birthday") && !nd_json_has_string (members, "lapsed"));
    json_decref (members);
    assert (seg_groups_next_change (&t, profile, birthday) == birthday + SEG_DAY_MS);
    json_decref (profile);
    nd_tz_destroy (&t.tz);
    if (verbose)
        printf ("OK\n");
}
