/*  segmenter.h - what the segmenter's source files share.

    Private to pipeline/segmenter: other stages know the segmenter only by
    its messages (segmenter(1), README "Wire format").

    A profile is one JSON record per visitor (LMDB "profiles"): counters,
    times in ms since the epoch, traits, the current session's progress
    and the segments the visitor is in. profile.c keeps the counters and
    knows nothing of LMDB; groups.c and rules.c decide membership from a
    profile and the clock; funnel.c keeps the daily funnel counts;
    segmenter.c stores, indexes and announces; move.c hands one visitor's
    rows to another partition of the stage (issue #15).                 */
#ifndef SEGMENTER_H_INCLUDED
#define SEGMENTER_H_INCLUDED

#include "nd.h"
#include "nd_jcache.h"
#include "nd_tz.h"

#define SEG_DAY_MS 86400000LL

/* ------------------------------------------------------------ profile */

/*  A new profile, first seen at time.                                    */
json_t *seg_profile_new (int64_t time);
/*  Counts one input message (topic, body) that happened at time.
    revisit: it is a product view of a product or category the visitor
    also viewed in an earlier session (segmenter.c keeps that index).    */
void seg_profile_apply (json_t *profile, const char *topic, const json_t *body,
                        int64_t time, bool revisit);
/*  What a product view is about, for the revisit index: product id and
    category, each NULL when absent. Returns false if body is no view.   */
bool seg_profile_viewed (const char *topic, const json_t *body,
                         const char **product, const char **category);
/*  loser turned out to be the same person as profile: adds its history. */
void seg_profile_merge (json_t *profile, const json_t *loser);
/*  The counters for messages downstream; a new reference.               */
json_t *seg_profile_summary (const json_t *profile, int64_t now);

/*  Readers for groups.c and rules.c; absent fields read as 0 / false.   */
double seg_profile_number (const json_t *profile, const char *field);
int64_t seg_profile_time (const json_t *profile, const char *field);
/*  Whole days since the time in field; false when it never happened.   */
bool seg_profile_days_since (const json_t *profile, const char *field, int64_t now,
                             int64_t *days);
/*  The session counter (integer) in the current session, or 0.          */
int64_t seg_profile_session (const json_t *profile, const char *field);

/*  Names a rule may test, for rules.c: counters, and the days since a
    profile time ("days_since_last_order" -> "last_order").              */
bool seg_profile_is_counter (const char *name);
const char *seg_profile_age_field (const char *name);
/*  "visits, orders, ..." for error messages.                             */
const char *seg_profile_names (void);

void seg_profile_test (bool verbose);

/* ------------------------------------------------------------- groups */

/*  Thresholds of the built-in visitor groups (pipeline file options).   */
typedef struct {
    int64_t came_to_buy_events;     //  first cart add within this many events
    int64_t came_to_buy_within;     //  ... and this long after the session began (ms)
    int64_t hesitating_returns;     //  revisits of products seen in earlier sessions
    int64_t hesitating_abandons;    //  or sessions that left a cart behind
    int64_t loyal_orders;
    int64_t lapsed_after;           //  ms without an order
    int64_t subscriber_for;         //  ms a new subscriber stays new
    const char *timezone;           //  birthday: the zone of who names none
    nd_tz_t *tz;                    //  the zones, from the zoneinfo directory
} seg_thresholds_t;

/*  Reads the thresholds; -1 (logged with file and line) on a bad value.
    thresholds->tz is then the caller's to destroy (nd_tz_destroy).       */
int seg_groups_configure (nd_stage_t *stage, seg_thresholds_t *thresholds);
/*  The built-in groups' names, NULL-terminated.                          */
const char *const *seg_groups_names (void);
/*  Appends the names of the groups profile is in at now to members.     */
void seg_groups_match (const seg_thresholds_t *thresholds, const json_t *profile,
                       int64_t now, json_t *members);
/*  The first time after now at which a group may change with no new
    event (lapsed, new_subscriber, birthday), or 0 if none.               */
int64_t seg_groups_next_change (const seg_thresholds_t *thresholds, const json_t *profile,
                                int64_t now);
void seg_groups_test (bool verbose);

/* ----------------------------------------------------------- birthday */

/*  True if it is the birthday (trait birthday) of profile's visitor at
    now, in their zone (trait timezone, else zone); *next: the next moment
    after now at which that changes, or 0 if it never does (no birthday). */
bool seg_birthday (nd_tz_t *tz, const char *zone, const json_t *profile, int64_t now,
                   int64_t *next);
void seg_birthday_test (bool verbose);

/* ------------------------------------------------------------- funnel */

/*  Daily funnel counts in LMDB (funnel.c; read by nd-report --funnel).   */
typedef struct _seg_funnel_t seg_funnel_t;
#define SEG_FUNNEL_STEPS 7      //  none, browse, product, cart, checkout, payment, order

/*  Opens the funnel's databases in txn and reads funnel-keys; NULL (the
    reason logged with file and line) on a bad value.                     */
seg_funnel_t *seg_funnel_new (nd_stage_t *stage, MDB_txn *txn);
void seg_funnel_destroy (seg_funnel_t **self_p);
/*  The step names, in funnel order, SEG_FUNNEL_STEPS of them.            */
const char *const *seg_funnel_steps (void);
/*  Counts what msg means for the funnel, in txn: session.started
    remembers the visit's origin in profile's session, session.ended
    counts the session (under profile's segments as they stand, before
    this message settles them), cart.abandoned its products. Marks the
    profile so the same message again counts nothing. 0, or -1.          */
int seg_funnel_apply (seg_funnel_t *self, MDB_txn *txn, json_t *profile, const nd_msg_t *msg);
/*  Origin, for the tests: device class; "source/medium/campaign" or
    "direct"; the referrer's domain or "direct".                         */
const char *seg_funnel_device (const json_t *device, const char *agent);
void seg_funnel_source (const json_t *campaign, const char *url, char *source, size_t size);
void seg_funnel_referrer (const char *referrer, const char *url, char *domain, size_t size);
void seg_funnel_test (bool verbose);

/* -------------------------------------------------------------- rules */

/*  Rule segments from a file such as conf/segments.zpl (nudge-segments(5)). */
typedef struct _seg_rules_t seg_rules_t;

/*  Loads and checks file; NULL with *error "file:line: reason" (the
    caller's) if any rule is bad. file NULL: no rule segments.           */
seg_rules_t *seg_rules_load (const char *file, char **error);
void seg_rules_destroy (seg_rules_t **self_p);
size_t seg_rules_size (seg_rules_t *self);
const char *seg_rules_name (seg_rules_t *self, size_t index);
/*  Appends the rule segments profile is in at now to members, which
    holds the built-in groups already ("segment:customer" tests them).   */
void seg_rules_match (seg_rules_t *self, const json_t *profile, int64_t now, json_t *members);
/*  As seg_groups_next_change, for tests on days_since_*.                */
int64_t seg_rules_next_change (seg_rules_t *self, const json_t *profile, int64_t now);
void seg_rules_test (bool verbose);

/* --------------------------------------------------------------- move */

/*  The stage's state. Per visitor: profiles, revisits and due; members
    and the funnel's are totals over everyone.                           */
typedef struct {
    nd_stage_t *stage;
    MDB_dbi profiles;           //  visitor -> profile (profile.c)
    MDB_dbi revisits;           //  visitor, 'p' | 'c', product or category -> visit seen in
    MDB_dbi due;                //  u64 time, visitor -> "": look at the profile again then
    MDB_dbi members;            //  segment -> u64 member count
    seg_thresholds_t thresholds;
    seg_rules_t *rules;
    seg_funnel_t *funnel;       //  daily funnel counts (funnel.c)
    nd_jcache_t *parsed;        //  profiles kept parsed between a visitor's messages
} segmenter_t;

/*  Opens profiles, revisits, due and members in txn. 0, or -1.          */
int seg_person_open (segmenter_t *self, MDB_txn *txn);
/*  The key of visitor's entry in the time-ordered index "due".          */
void seg_due_key (nd_key_t *key, int64_t due, const char *visitor);
/*  Adds delta to a segment's member count (never below 0). 0, or -1.    */
int seg_count_member (segmenter_t *self, MDB_txn *txn, const char *segment, int delta);
/*  Deletes every row visitor has in profiles, revisits and due (the
    entry its profile names); member counts stay. 0, or -1.              */
int seg_person_remove (segmenter_t *self, MDB_txn *txn, const char *visitor);

/*  Everything the segmenter holds about person (its rows in profiles,
    revisits and due, byte for byte), as one JSON object, removed from the
    state in txn; the person's segments lose it from their member counts.
    *state NULL and 0 when it holds nothing about person; -1 on an LMDB
    error (logged).                                                       */
int seg_person_export (segmenter_t *self, MDB_txn *txn, const char *person, json_t **state);
/*  Puts an exported person back in txn as it was, in place of whatever
    the state held about that person, and counts it in its segments.
    0, or -1 (logged) on an LMDB error or a state it cannot read.        */
int seg_person_import (segmenter_t *self, MDB_txn *txn, const json_t *state);
/*  Calls fn once for every person the state holds (one per profile, in
    key order) in a read or write txn; fn may export the person it is
    given. Stops and returns fn's value when it is non-zero. 0, or -1.   */
int seg_person_each (segmenter_t *self, MDB_txn *txn,
                     int (*fn) (const char *person, void *arg), void *arg);
/*  --selftest move FROM TO PERSON: exports person from the state
    directory FROM, imports it into TO and prints what each step saw as
    one JSON object (tests/integration/test_segmenter_move.py). Exit code. */
int seg_person_move_test (const char *from, const char *to, const char *person);
void seg_person_test (bool verbose);

#endif
