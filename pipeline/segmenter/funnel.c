/*  funnel.c - where buyers leave: daily funnel counts, kept as they come.

    Layer: store (LMDB "funnel" and "funnel-keys"), under segmenter.c,
    beside profile.c; it reads a profile's segments and session, nothing
    above. nd-report --funnel reads what it writes (nd-report(1)).

    The segmenter keeps them because it is the one stage that sees both a
    session's end (session.ended, with how far the visit got) and the
    visitor's session group at that moment; the sessionizer knows the
    step but not the group.

    A session is counted once, when it ends, at its furthest funnel step,
    on the UTC day it started: in the total, under its session group
    (came_to_buy, else hesitating, else just_looking, else none), its
    device class (desktop, mobile, tablet, bot-or-unknown: Segment's
    context.device, else the user agent), its traffic source
    ("utm_source/utm_medium/utm_campaign" from context.campaign or the
    landing page's query, "-" for a missing part, "direct" when none) and
    its referrer's domain ("direct" when none or the shop's own). A
    session that ends merged into another is not counted: the visit goes
    on in that one, which takes its furthest step. cart.abandoned adds
    one, per product in the cart, to the day's products left in carts.

    Each record is (i64 day, u8 dimension, name) -> a JSON array of
    sessions per furthest step (none, browse, product, cart, checkout,
    payment, order), or, for a product left in carts, {"name", "count"}.
    Bounded: a day keeps at most funnel-keys (default 50) names per
    dimension; later new names are counted under "other", so a flood of
    random UTM tags cannot grow the state. "funnel-keys" holds the count
    per day and dimension.

    Redelivery: the profile remembers the last session counted at its end
    and the last whose cart was counted, in the transaction that counts
    them, so the same message twice counts once.                        */
#define _GNU_SOURCE         //  strcasestr
#include <assert.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "nd_json.h"
#include "segmenter.h"

#define NAME_MAX_BYTES 200      //  a longer name is cut (keys stay small)

struct _seg_funnel_t {
    MDB_dbi counts;             //  day, dimension, name -> counts
    MDB_dbi keys;               //  day, dimension -> u64 names kept
    int64_t keys_max;
};

static const char *const s_steps [SEG_FUNNEL_STEPS] = {
    "none", "browse", "product", "cart", "checkout", "payment", "order"
};

const char *const *seg_funnel_steps (void)
{
    return s_steps;
}

seg_funnel_t *seg_funnel_new (nd_stage_t *stage, MDB_txn *txn)
{
    seg_funnel_t *self = (seg_funnel_t *) calloc (1, sizeof *self);
    if (!self)
        return NULL;
    int rc = nd_db_open (txn, "funnel", &self->counts)
          || nd_db_open (txn, "funnel-keys", &self->keys)
          || nd_stage_option_int (stage, "funnel-keys", "50", &self->keys_max) ? -1 : 0;
    if (rc == 0 && self->keys_max < 1)
        rc = nd_stage_config_error (stage, "funnel-keys", "must be more than 0");
    if (rc)
        seg_funnel_destroy (&self);
    return self;
}

void seg_funnel_destroy (seg_funnel_t **self_p)
{
    if (*self_p) {
        free (*self_p);
        *self_p = NULL;
    }
}

/* ------------------------------------------------------------ origin -- */

static bool s_has_word (const char *text, const char *word)
{
    return text && strcasestr (text, word) != NULL;
}

//  Segment's context.device names the kind in "type" (mobile SDKs say
//  ios or android); a browser sends only its user agent.
const char *seg_funnel_device (const json_t *device, const char *agent)
{
    const char *type = json_string_value (json_object_get (device, "type"));
    const char *model = json_string_value (json_object_get (device, "model"));
    if (type && *type) {
        if (s_has_word (type, "tablet") || s_has_word (model, "ipad")
        ||  s_has_word (model, "tablet"))
            return "tablet";
        if (s_has_word (type, "mobile") || s_has_word (type, "phone")
        ||  !strcasecmp (type, "ios") || !strcasecmp (type, "android"))
            return "mobile";
        if (s_has_word (type, "desktop") || !strcasecmp (type, "pc") || !strcasecmp (type, "computer"))
            return "desktop";
    }
    static const char *const robots [] = {
        "bot", "crawl", "spider", "slurp", "headless", "curl/", "wget", "python-", NULL
    };
    if (!agent || !*agent)
        return "bot-or-unknown";
    for (size_t i = 0; robots [i]; i++)
        if (s_has_word (agent, robots [i]))
            return "bot-or-unknown";
    if (s_has_word (agent, "ipad") || s_has_word (agent, "tablet")
    || (s_has_word (agent, "android") && !s_has_word (agent, "mobile")))
        return "tablet";
    if (s_has_word (agent, "mobi") || s_has_word (agent, "iphone") || s_has_word (agent, "android"))
        return "mobile";
    if (s_has_word (agent, "windows") || s_has_word (agent, "macintosh")
    ||  s_has_word (agent, "x11") || s_has_word (agent, "cros") || s_has_word (agent, "linux"))
        return "desktop";
    return "bot-or-unknown";
}

//  Cuts text to NAME_MAX_BYTES at a character boundary (keys stay UTF-8).
static void s_cut (char *text)
{
    size_t size = strlen (text);
    if (size <= NAME_MAX_BYTES)
        return;
    size = NAME_MAX_BYTES;
    while (size > 0 && ((unsigned char) text [size] & 0xC0) == 0x80)
        size--;
    text [size] = 0;
}

//  The value of field in a URL's query, percent-decoded, into value.
static bool s_query (const char *url, const char *field, char *value, size_t size)
{
    const char *query = url ? strchr (url, '?') : NULL;
    size_t length = strlen (field);
    for (const char *p = query; p && *p; p = strchr (p, '&')) {
        p++;
        if (strncmp (p, field, length) || p [length] != '=')
            continue;
        size_t out = 0;
        for (p += length + 1; *p && *p != '&' && *p != '#' && out + 1 < size; p++) {
            unsigned hex;
            if (*p == '%' && isxdigit ((unsigned char) p [1]) && isxdigit ((unsigned char) p [2])
            &&  sscanf (p + 1, "%2x", &hex) == 1 && hex >= 0x20) {
                value [out++] = (char) hex;
                p += 2;
            }
            else
                value [out++] = *p == '+' ? ' ' : *p;
        }
        value [out] = 0;
        return out > 0;
    }
    return false;
}

//  "source/medium/campaign": Segment's context.campaign, else the
//  landing page's utm_ tags; "direct" when neither has any.
void seg_funnel_source (const json_t *campaign, const char *url, char *source, size_t size)
{
    static const char *const fields [3][2] = {
        { "source", "utm_source" }, { "medium", "utm_medium" }, { "name", "utm_campaign" }
    };
    char parts [3][NAME_MAX_BYTES + 1];
    bool any = false;
    for (int i = 0; i < 3; i++) {
        const char *tag = json_string_value (json_object_get (campaign, fields [i][0]));
        if (tag && *tag)
            snprintf (parts [i], sizeof parts [i], "%s", tag);
        else
        if (!s_query (url, fields [i][1], parts [i], sizeof parts [i]))
            snprintf (parts [i], sizeof parts [i], "-");
        any = any || strcmp (parts [i], "-");
    }
    if (any)
        snprintf (source, size, "%s/%s/%s", parts [0], parts [1], parts [2]);
    else
        snprintf (source, size, "direct");
    s_cut (source);
}

//  The host of a URL, lower case, without "www." and port, into host.
static bool s_host (const char *url, char *host, size_t size)
{
    const char *start = url ? strstr (url, "://") : NULL;
    if (!start)
        return false;
    start += 3;
    const char *at = strpbrk (start, "@/?#");
    if (at && *at == '@')
        start = at + 1;
    size_t length = strcspn (start, ":/?#");
    if (length == 0 || length >= size)
        return false;
    for (size_t i = 0; i < length; i++)
        host [i] = (char) tolower ((unsigned char) start [i]);
    host [length] = 0;
    if (strncmp (host, "www.", 4) == 0)
        memmove (host, host + 4, length - 3);
    return *host != 0;
}

//  The referrer's domain; "direct" when none, or the shop's own pages.
void seg_funnel_referrer (const char *referrer, const char *url, char *domain, size_t size)
{
    char own [256];
    if (!s_host (referrer, domain, size)
    ||  (s_host (url, own, sizeof own) && strcmp (own, domain) == 0))
        snprintf (domain, size, "direct");
}

static void s_remember_origin (json_t *profile, const json_t *body)
{
    json_t *session = json_object_get (profile, "session");
    if (!session)
        return;
    const char *url = json_string_value (json_object_get (body, "url"));
    char source [NAME_MAX_BYTES * 3 + 3], referrer [256];
    seg_funnel_source (json_object_get (body, "campaign"), url, source, sizeof source);
    seg_funnel_referrer (json_string_value (json_object_get (body, "referrer")), url,
                         referrer, sizeof referrer);
    const char *device = seg_funnel_device (json_object_get (body, "device"),
                                            json_string_value (json_object_get (body, "user_agent")));
    json_t *id = json_object_get (body, "session");
    json_object_set_new (session, "origin", json_pack ("{s:O?, s:s, s:s, s:s}",
        "session", id, "device", device, "source", source, "referrer", referrer));
}

/* ------------------------------------------------------------ counts -- */

static void s_key (nd_key_t *key, int64_t day, char dimension, const char *name)
{
    nd_key_init (key);
    nd_key_i64 (key, day);
    nd_key_u8 (key, (uint8_t) dimension);
    if (name)
        nd_key_str (key, name);
}

//  The record of name on day (NULL when new) and its key; or, when the
//  day has funnel-keys names already and name is new, those of "other".
//  *other says which. 0, or -1.
static int s_record (seg_funnel_t *self, MDB_txn *txn, int64_t day, char dimension,
                     const char *name, nd_key_t *key, json_t **record, bool *other)
{
    char cut [NAME_MAX_BYTES + 1];
    snprintf (cut, sizeof cut, "%s", name);
    s_cut (cut);
    *other = strcmp (cut, "other") == 0;
    s_key (key, day, dimension, cut);
    int rc = nd_db_get_json (txn, self->counts, key, record);
    if (rc != ND_NOTFOUND || *other)
        return rc < 0 ? -1 : 0;
    nd_key_t names_key;
    s_key (&names_key, day, dimension, NULL);
    uint64_t names = 0;
    if (nd_db_get_u64 (txn, self->keys, &names_key, &names) < 0)
        return -1;
    if (names < (uint64_t) self->keys_max)
        return nd_db_put_u64 (txn, self->keys, &names_key, names + 1);
    *other = true;
    s_key (key, day, dimension, "other");
    return nd_db_get_json (txn, self->counts, key, record) < 0 ? -1 : 0;
}

static int s_count_step (seg_funnel_t *self, MDB_txn *txn, int64_t day, char dimension,
                         const char *name, int step)
{
    nd_key_t key;
    json_t *counts = NULL;
    bool other;
    if (s_record (self, txn, day, dimension, name, &key, &counts, &other))
        return -1;
    if (!json_is_array (counts) || json_array_size (counts) != SEG_FUNNEL_STEPS) {
        json_decref (counts);
        counts = json_array ();
        for (int i = 0; i < SEG_FUNNEL_STEPS; i++)
            json_array_append_new (counts, json_integer (0));
    }
    json_array_set_new (counts, (size_t) step,
                        json_integer (json_integer_value (json_array_get (counts, (size_t) step)) + 1));
    int rc = nd_db_put_json (txn, self->counts, &key, counts);
    json_decref (counts);
    return rc;
}

static int s_count_left (seg_funnel_t *self, MDB_txn *txn, int64_t day, const char *product,
                         const char *name)
{
    nd_key_t key;
    json_t *record = NULL;
    bool other;
    if (s_record (self, txn, day, 'l', product, &key, &record, &other))
        return -1;
    if (!json_is_object (record)) {
        json_decref (record);
        record = json_pack ("{s:s, s:i}", "name", "", "count", 0);
    }
    if (name && *name && !other)
        json_object_set_new (record, "name", json_string (name));
    json_object_set_new (record, "count",
                         json_integer (json_integer_value (json_object_get (record, "count")) + 1));
    int rc = nd_db_put_json (txn, self->counts, &key, record);
    json_decref (record);
    return rc;
}

//  The UTC day a session started on (its "started", else time), in ms.
static int64_t s_day (const json_t *body, int64_t time)
{
    const char *started = json_string_value (json_object_get (body, "started"));
    int64_t ms;
    if (!started || nd_time_parse (started, &ms))
        ms = time;
    return ms >= 0 ? ms / SEG_DAY_MS * SEG_DAY_MS : -((-ms + SEG_DAY_MS - 1) / SEG_DAY_MS) * SEG_DAY_MS;
}

//  The session group a session is counted under: one, the first that
//  holds in this order.
static const char *s_group (const json_t *profile)
{
    static const char *const groups [] = { "came_to_buy", "hesitating", "just_looking", NULL };
    const json_t *members = json_object_get (profile, "segments");
    for (size_t g = 0; groups [g]; g++)
        if (nd_json_has_string (members, groups [g]))
            return groups [g];
    return "none";
}

//  True the first time session is seen under mark; then remembers it.
static bool s_first_time (json_t *profile, const char *mark, const char *session)
{
    json_t *marks = json_object_get (profile, "funnel");
    if (!json_is_object (marks))
        json_object_set_new (profile, "funnel", marks = json_object ());
    const char *last = json_string_value (json_object_get (marks, mark));
    if (last && strcmp (last, session) == 0)
        return false;
    json_object_set_new (marks, mark, json_string (session));
    return true;
}

static int s_ended (seg_funnel_t *self, MDB_txn *txn, json_t *profile, const nd_msg_t *msg)
{
    const char *session = json_string_value (json_object_get (msg->body, "session"));
    const char *reason = json_string_value (json_object_get (msg->body, "reason"));
    const char *reached = json_string_value (json_object_get (msg->body, "funnel_step"));
    if (!session || (reason && strcmp (reason, "merged") == 0)
    ||  !s_first_time (profile, "ended", session))
        return 0;
    int step = 0;
    for (int i = 0; reached && i < SEG_FUNNEL_STEPS; i++)
        if (strcmp (s_steps [i], reached) == 0)
            step = i;
    json_t *origin = json_object_get (json_object_get (profile, "session"), "origin");
    const char *of = json_string_value (json_object_get (origin, "session"));
    if (!of || strcmp (of, session))
        origin = NULL;              //  its start was not seen here
    const char *device = json_string_value (json_object_get (origin, "device"));
    const char *source = json_string_value (json_object_get (origin, "source"));
    const char *referrer = json_string_value (json_object_get (origin, "referrer"));
    int64_t day = s_day (msg->body, msg->time);
    return s_count_step (self, txn, day, 't', "", step)
        || s_count_step (self, txn, day, 'g', s_group (profile), step)
        || s_count_step (self, txn, day, 'd', device ? device : "bot-or-unknown", step)
        || s_count_step (self, txn, day, 's', source ? source : "direct", step)
        || s_count_step (self, txn, day, 'r', referrer ? referrer : "direct", step) ? -1 : 0;
}

static int s_left (seg_funnel_t *self, MDB_txn *txn, json_t *profile, const nd_msg_t *msg)
{
    const char *session = json_string_value (json_object_get (msg->body, "session"));
    if (!session || !s_first_time (profile, "left", session))
        return 0;
    int64_t day = s_day (msg->body, msg->time);
    json_t *seen = json_object ();
    size_t index;
    json_t *item;
    int rc = 0;
    json_array_foreach (json_object_get (json_object_get (msg->body, "cart"), "items"), index, item) {
        const char *id = json_string_value (json_object_get (item, "product_id"));
        if (!id || !*id)
            id = json_string_value (json_object_get (item, "sku"));
        if (!id || !*id || json_object_get (seen, id))
            continue;
        json_object_set_new (seen, id, json_true ());
        if ((rc = s_count_left (self, txn, day, id,
                                json_string_value (json_object_get (item, "name")))))
            break;
    }
    json_decref (seen);
    return rc;
}

int seg_funnel_apply (seg_funnel_t *self, MDB_txn *txn, json_t *profile, const nd_msg_t *msg)
{
    if (strcmp (msg->topic, "session.started") == 0)
        s_remember_origin (profile, msg->body);
    else
    if (strcmp (msg->topic, "session.ended") == 0)
        return s_ended (self, txn, profile, msg);
    else
    if (strcmp (msg->topic, "cart.abandoned") == 0)
        return s_left (self, txn, profile, msg);
    return 0;
}

/* ------------------------------------------------------------ selftest -- */

void seg_funnel_test (bool verbose)
{
    if (verbose)
        printf (" * seg_funnel: ");
    const char *phone = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Mobile/15E148";
    const char *pad = "Mozilla/5.0 (iPad; CPU OS 17_0 like Mac OS X) Mobile/15E148";
    const char *tab = "Mozilla/5.0 (Linux; Android 13; SM-X700) Chrome/120.0";
    const char *desk = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/120.0";
    const char *bot = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)";
    assert (!strcmp (seg_funnel_device (NULL, phone), "mobile"));
    assert (!strcmp (seg_funnel_device (NULL, pad), "tablet"));
    assert (!strcmp (seg_funnel_device (NULL, tab), "tablet"));
    assert (!strcmp (seg_funnel_device (NULL, desk), "desktop"));
    assert (!strcmp (seg_funnel_device (NULL, bot), "bot-or-unknown"));
    assert (!strcmp (seg_funnel_device (NULL, NULL), "bot-or-unknown"));
    json_t *device = json_pack ("{s:s, s:s}", "type", "ios", "model", "iPad7,1");
    assert (!strcmp (seg_funnel_device (device, desk), "tablet"));
    json_object_set_new (device, "model", json_string ("iPhone15,2"));
    assert (!strcmp (seg_funnel_device (device, NULL), "mobile"));
    json_decref (device);

    char text [700];
    json_t *campaign = json_pack ("{s:s, s:s}", "source", "news", "name", "spring");
    seg_funnel_source (campaign, NULL, text, sizeof text);
    assert (!strcmp (text, "news/-/spring"));
    json_decref (campaign);
    seg_funnel_source (NULL, "https://shop.example/p?x=1&utm_source=g%6Fogle&utm_medium=cpc"
                             "&utm_campaign=big+sale#top", text, sizeof text);
    assert (!strcmp (text, "google/cpc/big sale"));
    seg_funnel_source (NULL, "https://shop.example/?utm_sourcex=a", text, sizeof text);
    assert (!strcmp (text, "direct"));
    seg_funnel_referrer ("https://WWW.Search.example:443/q?s=1", "https://shop.example/",
                         text, sizeof text);
    assert (!strcmp (text, "search.example"));
    seg_funnel_referrer ("https://shop.example/cart", "https://www.shop.example/", text, sizeof text);
    assert (!strcmp (text, "direct"));
    seg_funnel_referrer ("", NULL, text, sizeof text);
    assert (!strcmp (text, "direct"));
    char long_name [NAME_MAX_BYTES + 10];
    memset (long_name, 'a', sizeof long_name);
    memcpy (long_name + NAME_MAX_BYTES - 1, "\xc3\xa9", 2);     //  é across the cut
    long_name [sizeof long_name - 1] = 0;
    s_cut (long_name);
    assert (strlen (long_name) == NAME_MAX_BYTES - 1);

    json_t *profile = json_pack ("{s:[s, s]}", "segments", "customer", "hesitating");
    assert (!strcmp (s_group (profile), "hesitating"));
    assert (s_first_time (profile, "ended", "v-1.s1"));
    assert (!s_first_time (profile, "ended", "v-1.s1"));
    assert (s_first_time (profile, "ended", "v-1.s2"));
    json_decref (profile);
    json_t *body = json_pack ("{s:s}", "started", "2026-11-01T23:59:00.000Z");
    assert (s_day (body, 0) == 1793491200000LL);
    json_decref (body);
    if (verbose)
        printf ("OK\n");
}
