/*  chat_limits - how often the widget may ask, and how much it may cost.

    Layer: policy, below chat_talk. The widget's endpoints are open to
    anyone, so one client could open thousands of conversations and turn
    each into a mail to support. Four limits, each "N/PERIOD" ("30/1m",
    "200/1h") or "none":

        rate-per-ip         POSTs from one client address     429 + Retry-After
        rate-per-visitor    POSTs naming one anonymousId or    429 + Retry-After
                            userId
        max-conversations   conversations opened across the    503 + Retry-After,
                            shop in each period                nothing stored
        max-support-mails   questions mailed one by one in     the rest wait for
                            each period                        one digest mail

    The rates are token buckets (nd_bucket: N tokens at most, N more each
    PERIOD) in memory, on the stage's clock, so a test in event time needs
    no sleep; a restart forgets them, which only makes them milder. When
    the table of buckets is full the idle ones go, and if none is idle all
    of them: a flood from many addresses costs no memory, and the caps
    below still hold.

    The caps count in fixed periods (aligned to the epoch on the stage's
    clock) in LMDB, in the transaction of what they count, so a kill -9
    neither forgets nor double-counts them. Database "limits":
        cap name -> i64 period start, u64 count                           */
#include <assert.h>
#include "chat.h"

#define s_BUCKETS_MAX 20000

typedef struct {
    int64_t count;              //  0: no limit
    int64_t period;             //  ms
} s_rate_t;

struct _chat_limits_t {
    s_rate_t per_ip, per_visitor;
    s_rate_t caps [2];
    MDB_dbi dbi;
    zhashx_t *buckets;          //  "i:" address or "v:" id -> nd_bucket_t
    uint64_t limited, capped [2];
};

static const char *s_cap_names [] = { "conversations", "mails" };

static void s_bucket_free (void **bucket_p)
{
    free (*bucket_p);
    *bucket_p = NULL;
}

/*  "N/PERIOD" or "none" (or "0"). 0 / -1.                               */
static int s_rate_parse (const char *text, s_rate_t *rate)
{
    *rate = (s_rate_t) { 0, 0 };
    if (streq (text, "none") || streq (text, "0"))
        return 0;
    char *end;
    long long count = strtoll (text, &end, 10);
    int64_t period;
    if (end == text || *end != '/' || count < 1 || count > 1000000000
    ||  nd_duration_parse (end + 1, &period) || period < 1)
        return -1;
    *rate = (s_rate_t) { count, period };
    return 0;
}

static int s_rate_option (nd_stage_t *stage, const char *name, const char *fallback,
                          s_rate_t *rate)
{
    if (s_rate_parse (nd_stage_option (stage, name, fallback), rate))
        return nd_stage_config_error (stage, name, "want N/PERIOD (\"30/1m\", \"200/1h\") or none");
    return 0;
}

chat_limits_t *chat_limits_new (nd_stage_t *stage, MDB_txn *txn)
{
    chat_limits_t *self = (chat_limits_t *) zmalloc (sizeof *self);
    self->buckets = zhashx_new ();
    zhashx_set_destructor (self->buckets, s_bucket_free);
    if (s_rate_option (stage, "rate-per-ip", "60/1m", &self->per_ip)
    ||  s_rate_option (stage, "rate-per-visitor", "20/1m", &self->per_visitor)
    ||  s_rate_option (stage, "max-conversations", "200/1h", &self->caps [CHAT_CAP_CONVERSATIONS])
    ||  s_rate_option (stage, "max-support-mails", "20/1h", &self->caps [CHAT_CAP_MAILS])
    ||  nd_db_open (txn, "limits", &self->dbi))
        chat_limits_destroy (&self);
    return self;
}

void chat_limits_destroy (chat_limits_t **self_p)
{
    chat_limits_t *self = *self_p;
    if (self) {
        zhashx_destroy (&self->buckets);
        free (self);
        *self_p = NULL;
    }
}

/* --------------------------------------------------------------- rates */

//  Makes room in a full table: the buckets full again first, else all.
static void s_prune (chat_limits_t *self, int64_t now)
{
    zlist_t *idle = zlist_new ();
    for (nd_bucket_t *bucket = (nd_bucket_t *) zhashx_first (self->buckets); bucket;
         bucket = (nd_bucket_t *) zhashx_next (self->buckets)) {
        //  A bucket idle for a whole period of the slower rate is full
        int64_t period = self->per_ip.period > self->per_visitor.period
                       ? self->per_ip.period : self->per_visitor.period;
        if (now - bucket->refilled >= period)
            zlist_append (idle, (void *) zhashx_cursor (self->buckets));
    }
    for (const char *key = (const char *) zlist_first (idle); key;
         key = (const char *) zlist_next (idle))
        zhashx_delete (self->buckets, key);
    zlist_destroy (&idle);
    if (zhashx_size (self->buckets) >= s_BUCKETS_MAX)
        zhashx_purge (self->buckets);
}

static int64_t s_take (chat_limits_t *self, const s_rate_t *rate, char kind, const char *who,
                       int64_t now)
{
    if (!rate->count || !who || !*who)
        return 0;
    char key [CHAT_ID_MAX + 4];
    snprintf (key, sizeof key, "%c:%s", kind, who);
    double per_second = (double) rate->count * 1000.0 / (double) rate->period;
    nd_bucket_t *bucket = (nd_bucket_t *) zhashx_lookup (self->buckets, key);
    if (!bucket) {
        if (zhashx_size (self->buckets) >= s_BUCKETS_MAX)
            s_prune (self, now);
        bucket = (nd_bucket_t *) zmalloc (sizeof *bucket);
        *bucket = (nd_bucket_t) { (double) rate->count, now };
        zhashx_insert (self->buckets, key, bucket);
    }
    return nd_bucket_take (bucket, per_second, (double) rate->count, now);
}

int64_t chat_limits_request (chat_limits_t *self, const char *client, const char *visitor,
                             int64_t now)
{
    //  A refusal for the visitor gives the address its token back
    nd_bucket_t *ip;
    int64_t wait = s_take (self, &self->per_ip, 'i', client, now);
    if (wait == 0) {
        wait = s_take (self, &self->per_visitor, 'v', visitor, now);
        if (wait && client && self->per_ip.count) {
            char key [CHAT_ID_MAX + 4];
            snprintf (key, sizeof key, "i:%s", client);
            if ((ip = (nd_bucket_t *) zhashx_lookup (self->buckets, key)))
                ip->tokens += 1;        //  the address's token back
        }
    }
    if (wait)
        self->limited++;
    return wait;
}

/* ---------------------------------------------------------------- caps */

int chat_limits_take (chat_limits_t *self, MDB_txn *txn, chat_cap_t cap, int64_t now,
                      int64_t *ends)
{
    const s_rate_t *rate = &self->caps [cap];
    *ends = 0;
    if (!rate->count)
        return 0;
    int64_t start = now - (now % rate->period + rate->period) % rate->period;
    *ends = start + rate->period;
    nd_key_t key;
    nd_key_init (&key);
    nd_key_str (&key, s_cap_names [cap]);
    MDB_val k = nd_key_val (&key), data;
    uint64_t count = 0;
    int rc = mdb_get (txn, self->dbi, &k, &data);
    if (rc && rc != MDB_NOTFOUND)
        return nd_db_error (rc, "limits");
    if (rc == 0 && data.mv_size == 16 && nd_key_get_i64 (&data, 0) == start)
        count = nd_key_get_u64 (&data, 8);
    if (count >= (uint64_t) rate->count) {
        self->capped [cap]++;
        return 1;
    }
    nd_key_t value;
    nd_key_init (&value);
    nd_key_i64 (&value, start);
    nd_key_u64 (&value, count + 1);
    return nd_db_put_raw (txn, self->dbi, &key, value.data, value.size) ? -1 : 0;
}

int64_t chat_limits_period (chat_limits_t *self, chat_cap_t cap)
{
    return self->caps [cap].period;
}

void chat_limits_stats (chat_limits_t *self, json_t *stats)
{
    json_object_set_new (stats, "limits", json_pack ("{s:I, s:I, s:I}",
        "rate_limited", (json_int_t) self->limited,
        "conversations_refused", (json_int_t) self->capped [CHAT_CAP_CONVERSATIONS],
        "mails_held_for_digest", (json_int_t) self->capped [CHAT_CAP_MAILS]));
}

void chat_limits_test (bool verbose)
{
    if (verbose)
        printf (" * chat_limits: ");
    s_rate_t rate;
    assert (s_rate_parse ("200/1h", &rate) == 0 && rate.count == 200 && rate.period == 3600000);
    assert (s_rate_parse ("none", &rate) == 0 && rate.count == 0);
    assert (s_rate_parse ("200", &rate) == -1 && s_rate_parse ("x/1h", &rate) == -1
         && s_rate_parse ("5/", &rate) == -1 && s_rate_parse ("-1/1h", &rate) == -1);
    chat_limits_t limits = { .per_ip = { 3, 60000 }, .per_visitor = { 2, 60000 } };
    limits.buckets = zhashx_new ();
    zhashx_set_destructor (limits.buckets, s_bucket_free);
    //  Two for the visitor, then the third waits; the address kept its token
    assert (chat_limits_request (&limits, "10.0.0.1", "a-1", 1000) == 0);
    assert (chat_limits_request (&limits, "10.0.0.1", "a-1", 1000) == 0);
    assert (chat_limits_request (&limits, "10.0.0.1", "a-1", 1000) == 30000);
    assert (chat_limits_request (&limits, "10.0.0.1", "a-2", 1000) == 0);
    assert (chat_limits_request (&limits, "10.0.0.1", "a-3", 1000) == 20000);
    //  Event time moves: a token back
    assert (chat_limits_request (&limits, "10.0.0.1", "a-3", 21000) == 0);
    //  Many addresses cost no memory
    char who [32];
    for (int i = 0; i < s_BUCKETS_MAX + 100; i++) {
        snprintf (who, sizeof who, "192.0.2.%d", i);
        chat_limits_request (&limits, who, NULL, 100000 + i);
    }
    assert (zhashx_size (limits.buckets) <= s_BUCKETS_MAX);
    zhashx_destroy (&limits.buckets);
    if (verbose)
        printf ("OK\n");
}
