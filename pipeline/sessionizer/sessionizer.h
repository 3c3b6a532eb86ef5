/*  sessionizer.h - what the sessionizer's source files share.

    Private to pipeline/sessionizer: other stages know the sessionizer
    only by its messages (sessionizer(1), README "Wire format").

    State, one LMDB database each (keys through nd_key_*):
      ids        kind ('a' anonymousId, 'u' userId) + id  -> visitor id
      visitors   visitor id -> hot record (binary, visitor.c): counters,
                 userId, the open session; or only "merged into" a survivor
      profiles   visitor id -> {userIds, anonymousIds, traits}
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
      products   product key -> its last known details (together.c)
      counters   "counters" -> COUNT_MAX native u64s, for STATS;
                 "next-visitor" -> the last visitor number minted     */
#ifndef SESSIONIZER_H_INCLUDED
#define SESSIONIZER_H_INCLUDED

#include "nd.h"
#include "cart.h"

#define VISITOR_ID_MAX 32       /* "v-" and a counter */
#define SHOP_ID_MAX 400         /* a userId / anonymousId; keys stay under 511 */

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
    COUNT_CARTS_BROWSING, COUNT_CARTS_RETURNED, COUNT_VISITORS_ERASED, COUNT_MAX
} counter_t;

typedef struct {
    nd_stage_t *stage;
    MDB_dbi ids, visitors, profiles, carts, viewed, expiry, idle, claims, together, products,
            counters;
    int64_t timeout;            /* session-timeout, ms */
    int64_t retention;          /* visitor-retention, ms; 0 keeps everyone */
    int64_t retention_slack;    /* deadlines are rounded up to this */
    uint64_t forgotten_in_txn;  /* for the log line after the commit */
    int64_t forgotten_last;     /* the latest activity among them */
    int64_t browse_views;       /* product views, nothing added: a browse */
    int64_t cart_browsing_views;    /* product views after an add: cart.browsing */
    char *currency;             /* for carts whose events name none */
    uint64_t delta [COUNT_MAX]; /* counted in this apply / timers call */
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
    nd_cart_t *cart;
    bool profile_changed;           /* store the profile */
    bool profile_announce;          /* and emit profile.updated */
    bool cart_changed;              /* store the cart, emit cart.updated */
    int64_t time;                   /* when the changes happened */
} visitor_t;

/*  sessionizer.c: outputs and counters.                                 */
json_t *sessionizer_body (const char *id, const char *visitor, int64_t time);
int sessionizer_emit (sessionizer_t *self, MDB_txn *txn, const char *topic, json_t *body);
void sessionizer_count (sessionizer_t *self, counter_t counter);

/*  visitor.c                                                            */
void visitor_key (nd_key_t *key, const char *id);
visitor_t *visitor_load (sessionizer_t *self, MDB_txn *txn, const char *id, bool *moved);
visitor_t *visitor_mint (sessionizer_t *self, MDB_txn *txn, int64_t time);
json_t *visitor_profile (sessionizer_t *self, MDB_txn *txn, visitor_t *visitor);
nd_cart_t *visitor_cart (sessionizer_t *self, MDB_txn *txn, visitor_t *visitor);
void visitor_set_text (char **field, const char *value);
void visitor_seen (visitor_t *visitor, int64_t time);
int visitor_store (sessionizer_t *self, MDB_txn *txn, visitor_t *visitor);
int visitor_retire (sessionizer_t *self, MDB_txn *txn, visitor_t *visitor, const char *survivor);
void visitor_destroy (visitor_t **self_p);
int64_t record_int (const json_t *record, const char *field);
void record_add (json_t *record, const char *field, int64_t delta);

/*  retention.c                                                          */
int64_t retention_slack (int64_t retention);
int retention_arm (sessionizer_t *self, MDB_txn *txn, visitor_t *visitor);
int retention_expire (sessionizer_t *self, MDB_txn *txn, int64_t now);
void retention_committed (sessionizer_t *self, int rc);

/*  erase.c: person.erase -> everything kept for the visitor goes,
    person.erased goes on.                                               */
int erase_apply (sessionizer_t *self, MDB_txn *txn, const nd_msg_t *msg);

/*  identity.c                                                           */
visitor_t *identity_resolve (sessionizer_t *self, MDB_txn *txn, const event_t *event);

/*  session.c                                                            */
/*  The time-ordered indexes (session expiry, idle visitors): i64 due +
    visitor id, no value. due_first gives the first entry due at now:
    1 with entry, id and due filled, 0 when none is due, -1 on error.    */
void due_key (nd_key_t *key, int64_t due, const char *visitor);
int due_first (MDB_txn *txn, MDB_dbi dbi, const char *what, int64_t now, nd_key_t *entry,
               char *id, int64_t *due);
int session_touch (sessionizer_t *self, MDB_txn *txn, visitor_t *visitor,
                   const event_t *event, bool *started);
const char *session_id (const visitor_t *visitor);
int session_end (sessionizer_t *self, MDB_txn *txn, visitor_t *visitor,
                 int64_t end, const char *merged_into);
int session_merge (sessionizer_t *self, MDB_txn *txn, visitor_t *survivor,
                   visitor_t *loser, int64_t time);
int session_expire (sessionizer_t *self, MDB_txn *txn, int64_t now);

/*  shop.c: e-commerce events                                            */
int shop_apply (sessionizer_t *self, MDB_txn *txn, visitor_t *visitor, const event_t *event);
const char *shop_step_name (int64_t step);
json_t *shop_viewed (sessionizer_t *self, MDB_txn *txn, const char *visitor);
int shop_viewed_forget (sessionizer_t *self, MDB_txn *txn, const char *visitor);
int shop_viewed_merge (sessionizer_t *self, MDB_txn *txn, visitor_t *into, const char *from);

/*  shop.c: a new session for a visitor whose cart is still full.      */
int shop_returned (sessionizer_t *self, MDB_txn *txn, visitor_t *visitor, const event_t *event);

/*  together.c: products bought together                                 */
int together_product (sessionizer_t *self, MDB_txn *txn, const json_t *product,
                      const char *currency);
int together_order (sessionizer_t *self, MDB_txn *txn, const json_t *items, const char *currency);
/*  Up to most products that go with the cart's items, best first.      */
json_t *together_goes_with (sessionizer_t *self, MDB_txn *txn, const json_t *items, size_t most);

/*  profile.c                                                            */
int profile_update (sessionizer_t *self, MDB_txn *txn, visitor_t *visitor,
                    const event_t *event, bool session_started);
json_t *profile_new (void);
bool profile_add_id (json_t *profile, const char *list, const char *id);
bool profile_merge (json_t *profile, const json_t *other);
void profile_describe (const json_t *profile, json_t *body);
void profile_test (bool verbose);

/*  claim.c: contact details from a browser                              */
/*  Whether name is one of the traits a browser may only claim.          */
bool claim_trait (const char *name);
/*  Removes those traits from traits (an object, or nothing is done).    */
void claim_strip (json_t *traits);
/*  Announces the contacts in update (a browser's traits) that traits (the
    profile's) does not hold, each at most once a day.                   */
int claim_contacts (sessionizer_t *self, MDB_txn *txn, visitor_t *visitor, const event_t *event,
                    const json_t *update, const json_t *traits);

#endif
