/*  base.h - the words every file of the sessionizer shares: the stage's
    state, one input event, a visitor and their open session, the
    counters, and how an output is made.

    Layer: base. The sessionizer's files form layers that only call
    downward: base, then the store (LMDB records: visitor.c, cart.c,
    due.c, viewed.c, catalogue.c, together.c), then the rules (claim.c,
    phone.c, profile.c, recommend.c, alerts.c, shop.c), then the engine (session.c, identity.c, retention.c), then
    the stage file (sessionizer.c, with main). Each
    file includes the headers of its own and lower layers only
    (tests/integration/test_layers.py). base.c calls nothing of the
    sessionizer's.

    Private to pipeline/sessionizer: other stages know the sessionizer
    only by its messages (sessionizer(1), README "Wire format").

    State, one LMDB database each (keys through nd_key_*):
      ids        kind ('a' anonymousId, 'u' userId) + id  -> visitor id
      visitors   visitor id -> hot record (binary, visitor.c): counters,
                 userId, the open session; or only "merged into" a survivor
      profiles   visitor id -> {userIds, anonymousIds, traits, merged: the
                 visitors merged into it, whose records point here}
      carts      visitor id -> {items, currency}
      viewed     visitor id + product key -> a product viewed in the open
                 session, with its count
      expiry     i64 expiry + visitor id -> "" (open sessions, by time)
      idle       i64 deadline + visitor id -> "" (anonymous visitors, by
                 when visitor-retention forgets them; retention.c)
      claims     i64 day + visitor id + channel + address -> "" (the
                 contacts a browser claimed today and yesterday; claim.c)
      together   product key -> {"partners": {key: count}}, bought
                 together (together.c)
      products   product key -> the catalogue's record: details, price,
                 stock, their history, orders (catalogue.c)
      popular    category + u64 ~orders + product key -> "" (catalogue.c)
      watchers   product key + visitor -> who viewed or carted it, what
                 they were told (catalogue.c)
      watching   visitor + product key -> "" (catalogue.c)
      counters   "counters" -> COUNT_MAX native u64s, for STATS;
                 "next-visitor" -> the last visitor number minted     */
#ifndef BASE_H_INCLUDED
#define BASE_H_INCLUDED

#include "nd.h"
#include "nd_jcache.h"

typedef struct _nd_cart_t nd_cart_t;

#define VISITOR_ID_MAX 32       /* "v-" and a counter */
#define SHOP_ID_MAX 400         /* a userId / anonymousId; keys stay under 511 */
/*  The ids map knows every id; a profile lists the latest this many of
    each kind, so a list this long may have let older ones go (move.c). */
#define PROFILE_IDS_MAX 50

/*  How far a visit got, in the order a shopper moves through the shop.  */
typedef enum {
    STEP_NONE, STEP_BROWSE, STEP_PRODUCT, STEP_CART, STEP_CHECKOUT, STEP_PAYMENT, STEP_ORDER
} funnel_step_t;

typedef enum {
    EVENT_TRACK, EVENT_PAGE, EVENT_SCREEN, EVENT_IDENTIFY, EVENT_GROUP, EVENT_ALIAS
} event_type_t;

/*  One input event, read and checked before any state changes.          */
typedef struct {
    const nd_msg_t *msg;
    event_type_t type;
    const char *name;           /* track: "Product Added", ... */
    const char *anonymous_id;   /* alias: the previousId */
    const char *user_id;
    int64_t time;
    json_t *properties;         /* borrowed from msg->body, or NULL */
    json_t *traits;
    json_t *context;
    char number [2][32];        /* ids the SDK sent as numbers, as text */
    bool browser;               /* "via": "browser": contact traits are claims */
} event_t;

typedef enum {
    COUNT_APPLIED, COUNT_FORWARDED, COUNT_VISITORS, COUNT_MERGES,
    COUNT_SESSIONS_STARTED, COUNT_SESSIONS_ENDED, COUNT_CARTS_UPDATED,
    COUNT_CARTS_ABANDONED, COUNT_CHECKOUTS_ABANDONED, COUNT_BROWSES_ABANDONED,
    COUNT_ORDERS, COUNT_PROFILES_UPDATED, COUNT_VISITORS_FORGOTTEN, COUNT_CONTACTS_CLAIMED,
    COUNT_CARTS_BROWSING, COUNT_CARTS_RETURNED, COUNT_VISITORS_ERASED,
    COUNT_PRODUCTS_UPDATED, COUNT_BACK_IN_STOCK, COUNT_PRICE_DROPPED, COUNT_PHONES_NORMALISED,
    COUNT_PHONES_INVALID, COUNT_STAMP_MISMATCHES, COUNT_MAX
} counter_t;

typedef struct {
    nd_stage_t *stage;
    MDB_dbi ids, visitors, profiles, carts, viewed, expiry, idle, claims, together, products,
            popular, watchers, watching, counters;
    int64_t timeout;            /* session-timeout, ms */
    int64_t retention;          /* visitor-retention, ms; 0 keeps everyone */
    int64_t retention_slack;    /* deadlines are rounded up to this */
    uint64_t forgotten_in_txn;  /* for the log line after the commit */
    int64_t forgotten_last;     /* the latest activity among them */
    int64_t browse_views;       /* product views, nothing added: a browse */
    int64_t cart_browsing_views;    /* product views after an add: cart.browsing */
    char *currency;             /* for carts whose events name none */
    double price_drop;          /* price-drop: the share a price must fall */
    int64_t watch_for;          /* watch-for, ms: a view older says nothing */
    char *phone_region;         /* ISO 3166 alpha-2 for numbers without a country code, or NULL */
    uint64_t delta [COUNT_MAX]; /* counted in this apply / timers call */
    nd_jcache_t *parsed;        /* products and together, kept parsed; NULL in self-tests */
} sessionizer_t;

/*  A visitor's open session.                                          */
typedef struct {
    char id [VISITOR_ID_MAX + 24];  /* "<visitor>.s<n>"; kept through a merge */
    int64_t started, last;          /* first and last activity */
    int64_t expiry;                 /* as indexed; the real one is last + timeout */
    uint32_t events, pages;
    uint32_t product_views, distinct_views, added;
    uint32_t step;                  /* funnel_step_t */
    uint32_t views_since_add;       /* product views after the last add */
    bool browsing_announced;        /* cart.browsing sent this session */
    bool ordered;
    char *checkout_id;              /* or NULL */
} session_t;

/*  A visitor as one event or timer sees it. The hot part (ids, counters,
    the open session) is read and written for every event, so it is
    stored as a small binary record (visitor.c), not JSON. The profile
    and cart are read once something asks for them and written back,
    with the messages that announce them, by visitor_store.            */
typedef struct {
    char id [VISITOR_ID_MAX];
    char *merged_into;              /* only a pointer to the survivor is left */
    char *user_id;                  /* the first userId it was given */
    char *last_order;               /* the last order_id announced */
    int64_t first, last;
    int64_t armed_last;             /* "last" as the idle index has it */
    uint64_t events, sessions, orders;
    bool in_session;
    session_t session;              /* valid while in_session */
    json_t *profile;
    nd_cart_t *cart;                /* cart.h */
    bool profile_changed;           /* store the profile */
    bool profile_announce;          /* and emit profile.updated */
    bool cart_changed;              /* store the cart, emit cart.updated */
    int64_t time;                   /* when the changes happened */
} visitor_t;

/*  Outputs and counters (base.c).                                       */
json_t *sessionizer_body (const char *id, const char *visitor, int64_t time);
int sessionizer_emit (sessionizer_t *self, MDB_txn *txn, const char *topic, json_t *body);
void sessionizer_count (sessionizer_t *self, counter_t counter);

/*  An integer field of a JSON record (0 when absent), and adding to one. */
int64_t record_int (const json_t *record, const char *field);
void record_add (json_t *record, const char *field, int64_t delta);
/*  A visitor's key in visitors, profiles and carts, and the prefix of
    their rows in viewed.                                                */
void visitor_key (nd_key_t *key, const char *id);

/*  Opens every database of the sessionizer's state in txn (setup).      */
int sessionizer_open_state (sessionizer_t *self, MDB_txn *txn);

/*  For the self-tests of the layers above: a state of their own in a
    temporary directory, with the databases open in self. A small map,
    so that sessionizer_test_full makes txn as a full state leaves it:
    one put refused with MDB_MAP_FULL, then every call MDB_BAD_TXN.
    sessionizer_test_json_live counts the jansson values alive between
    sessionizer_test_count_json (true) and (false), to tell that a call
    which failed left none behind (a leak shows without ASan).          */
MDB_env *sessionizer_test_state (sessionizer_t *self, char *dir);
void sessionizer_test_full (MDB_txn *txn, sessionizer_t *self);
void sessionizer_test_state_destroy (MDB_env **env_p, const char *dir);
void sessionizer_test_count_json (bool on);
int64_t sessionizer_test_json_live (void);

#endif
