/*  segmenter - who each visitor is to the shop, decided on every event.

NAME
    segmenter - keeps each visitor's counters and segment membership and
    annotates the sessionizer's output with them

SYNOPSIS
    segmenter [-c FILE] [-n NAME] [--clock wall|event] [--notify-fd N]
    segmenter --selftest [-v]

DESCRIPTION
    Reads the sessionizer's output over a durable link and keeps, per
    visitor, in its own LMDB state: visits (sessions started), orders,
    spend, last order, first and last seen, product views, cart adds,
    cart value, interest per category, sessions that left a cart behind,
    returns to products or categories seen in an earlier session, the
    current session's progress and the segments the visitor is in.

    On every message it updates the visitor's counters, decides the
    visitor's segments again and, in the same transaction, passes the
    message on (same topic, same body) with "segments" (the current list)
    and "profile" (the counters) added, then emits segment.exited and
    segment.entered for each change:

        {"id", "user", "visitor", "time", "segment", "segments", "cause"}

    The segments are the built-in groups (just_looking, came_to_buy,
    hesitating, customer, loyal, lapsed, new_subscriber, birthday;
    thresholds are options in its section of the pipeline file) and the
    rule segments of the file named by "segments" (conf/segments.zpl).
    visitor.forgotten (an anonymous visitor past the sessionizer's
    visitor-retention) deletes the visitor's counters: it leaves its
    segments and the message is passed on with none.
    Membership that changes with time alone (lapsed 90 days after the
    last order, new_subscriber, birthday from local midnight to midnight,
    rules on days_since_*) flips when the clock passes that moment, event
    or not: each profile's next such moment sits in a time-ordered index
    the runtime's timers walk. A bad rule stops the program at start with
    "file:line: reason".

    STATS adds "profiles", "timers" (profiles waiting for a moment) and
    "segments" (members per segment). See segmenter(1).

    It also counts, per UTC day, the sessions that reached each funnel
    step by session group, device, traffic source and referrer, and the
    products left in abandoned carts (funnel.c; nd-report --funnel).
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "nd_json.h"
#include "segmenter.h"

#define VISITOR_MAX 400         //  bytes; visitor ids are LMDB keys
//  Profiles kept parsed: a session's messages come close together, so a
//  couple of thousand cover the visitors under way (~7 KB each parsed).
#define PARSED_SLOTS 2048

/* ------------------------------------------------------------- state -- */

//  A visitor's profile.
static void s_name_key (nd_key_t *key, const char *name)
{
    nd_key_init (key);
    nd_key_str (key, name);
}

//  0 and the stored profile, ND_NOTFOUND and a new one first seen at
//  time, or -1.
static int s_profile_load (segmenter_t *self, MDB_txn *txn, const char *visitor, int64_t time,
                           json_t **profile)
{
    nd_key_t key;
    s_name_key (&key, visitor);
    int rc = nd_jcache_take (self->parsed, txn, self->profiles, &key, profile);
    if (rc == ND_NOTFOUND)
        *profile = seg_profile_new (time);
    return rc;
}

//  Moves the profile's entry in the time-ordered index to next (0: none).
static int s_reschedule (segmenter_t *self, MDB_txn *txn, const char *visitor,
                         json_t *profile, int64_t next)
{
    int64_t due = json_integer_value (json_object_get (profile, "due"));
    if (due == next)
        return 0;
    nd_key_t key;
    seg_due_key (&key, due, visitor);
    if (due && nd_db_del (txn, self->due, &key) < 0)
        return -1;
    json_object_set_new (profile, "due", json_integer (next));
    seg_due_key (&key, next, visitor);
    return next ? nd_db_put_raw (txn, self->due, &key, "", 0) : 0;
}

//  A product viewed again in a later visit than the last time it (or
//  its category) was: what hesitating shoppers do.
static int s_revisit (segmenter_t *self, MDB_txn *txn, const char *visitor,
                      const json_t *profile, const nd_msg_t *msg, bool *revisit)
{
    const char *ids [2];
    *revisit = false;
    if (!seg_profile_viewed (msg->topic, msg->body, &ids [0], &ids [1]))
        return 0;
    uint64_t visit = (uint64_t) seg_profile_number (profile, "visits");
    for (int i = 0; i < 2; i++) {
        if (!ids [i] || !*ids [i])
            continue;
        nd_key_t key;
        s_name_key (&key, visitor);
        nd_key_u8 (&key, i ? 'c' : 'p');
        nd_key_str (&key, ids [i]);
        if (key.overflow)
            continue;           //  an id too long to index counts as new
        uint64_t seen;
        int rc = nd_db_get_u64 (txn, self->revisits, &key, &seen);
        if (rc < 0)
            return -1;
        if (rc == 0 && seen < visit)
            *revisit = true;
        //  Seen in this visit already: the row says so, no need to write it
        if ((rc != 0 || seen != visit) && nd_db_put_u64 (txn, self->revisits, &key, visit))
            return -1;
    }
    return 0;
}

/* ---------------------------------------------------------- messages -- */

//  segment.entered or segment.exited for every name in a and not in b.
static int s_announce (segmenter_t *self, MDB_txn *txn, const char *visitor, const json_t *a,
                       const json_t *b, const json_t *members, const nd_msg_t *msg, bool entered)
{
    char stamp [32];
    const char *time = msg ? json_string_value (json_object_get (msg->body, "time")) : NULL;
    const char *cause = msg ? json_string_value (json_object_get (msg->body, "id")) : NULL;
    const char *topic = entered ? "segment.entered" : "segment.exited";
    if (!time)
        time = nd_time_format (nd_stage_now (self->stage), stamp);
    size_t index;
    json_t *name;
    json_array_foreach (a, index, name) {
        if (nd_json_has_string (b, json_string_value (name)))
            continue;
        json_t *body = json_pack ("{s:s, s:s, s:s, s:O, s:O, s:s}", "user", visitor,
                                  "visitor", visitor, "time", time, "segment", name,
                                  "segments", members, "cause", cause ? cause : "clock");
        int rc = body ? nd_emit (self->stage, txn, topic, body) : -1;
        json_decref (body);
        if (rc || seg_count_member (self, txn, json_string_value (name), entered ? 1 : -1))
            return -1;
    }
    return 0;
}

//  The input, same topic and body, with what the segmenter knows added.
//  The body goes on as it came (most of what a message carries is the
//  shop's event), so only the additions are written.
static int s_pass_on (segmenter_t *self, MDB_txn *txn, const nd_msg_t *msg,
                      json_t *members, const json_t *profile, int64_t now)
{
    json_t *extra = json_object ();
    json_object_set_new (extra, "segments", members ? json_incref (members) : json_array ());
    if (profile)
        json_object_set_new (extra, "profile", seg_profile_summary (profile, now));
    int rc = nd_emit_extended (self->stage, txn, msg->topic, msg, extra);
    json_decref (extra);
    return rc;
}

//  Decides the profile's segments at now and commits to them: stores the
//  profile, passes msg on (if any) and announces every change.
static int s_settle (segmenter_t *self, MDB_txn *txn, const char *visitor, json_t *profile,
                     int64_t now, const nd_msg_t *msg)
{
    json_t *members = json_array ();
    seg_groups_match (&self->thresholds, profile, now, members);
    seg_rules_match (self->rules, profile, now, members);
    int64_t next = seg_groups_next_change (&self->thresholds, profile, now);
    int64_t rule_next = seg_rules_next_change (self->rules, profile, now);
    if (rule_next && (!next || rule_next < next))
        next = rule_next;
    json_t *before = json_incref (json_object_get (profile, "segments"));
    json_object_set (profile, "segments", members);
    nd_key_t key;
    s_name_key (&key, visitor);
    int rc = s_reschedule (self, txn, visitor, profile, next)
          || nd_jcache_put (self->parsed, txn, self->profiles, &key, profile)
          || (msg && s_pass_on (self, txn, msg, members, profile, now))
          || s_announce (self, txn, visitor, before, members, members, msg, false)
          || s_announce (self, txn, visitor, members, before, members, msg, true) ? -1 : 0;
    json_decref (before);
    json_decref (members);
    return rc;
}

/* -------------------------------------------------------------- stage -- */

//  The sessionizer found two visitors to be one person: the survivor
//  takes the other's history; the other leaves its segments, so what
//  downstream started for that id stops.
static int s_merge (segmenter_t *self, MDB_txn *txn, const char *visitor, json_t *profile,
                    const nd_msg_t *msg)
{
    const char *loser = json_string_value (json_object_get (msg->body, "merged"));
    nd_key_t key;
    s_name_key (&key, loser ? loser : "");
    json_t *gone = NULL;
    int rc = loser && *loser && strcmp (loser, visitor) != 0
           ? nd_db_get_json (txn, self->profiles, &key, &gone) : ND_NOTFOUND;
    if (rc)
        return rc < 0 ? -1 : 0;
    seg_profile_merge (profile, gone);
    json_t *none = json_array ();
    rc = s_announce (self, txn, loser, json_object_get (gone, "segments"), none, none, msg, false)
      || seg_person_remove (self, txn, loser) ? -1 : 0;
    json_decref (none);
    json_decref (gone);
    return rc;
}

//  The sessionizer forgot an anonymous visitor (visitor-retention) or
//  erased a person (person.erased): so does the segmenter. The visitor
//  leaves the segments it was in, so what downstream keeps stops, and
//  then the message goes on with no segments.
static int s_forgotten (segmenter_t *self, MDB_txn *txn, const char *visitor,
                        const nd_msg_t *msg, int64_t now)
{
    nd_key_t key;
    s_name_key (&key, visitor);
    json_t *gone = NULL;
    int rc = nd_db_get_json (txn, self->profiles, &key, &gone);
    if (rc < 0)
        return -1;
    //  The exits go first: after the message nothing may name the visitor,
    //  or a stage downstream would keep them again
    json_t *none = json_array ();
    rc = (gone && (s_announce (self, txn, visitor, json_object_get (gone, "segments"), none, none,
                               msg, false)
                   || seg_person_remove (self, txn, visitor)))
      || s_pass_on (self, txn, msg, none, NULL, now)
       ? -1 : 0;
    json_decref (none);
    json_decref (gone);
    return rc;
}

static int s_apply (nd_stage_t *stage, void *self_, MDB_txn *txn, const nd_msg_t *msg)
{
    segmenter_t *self = (segmenter_t *) self_;
    const char *visitor = json_string_value (json_object_get (msg->body, "user"));
    int64_t now = nd_stage_now (stage);
    if (!visitor || !*visitor)
        return s_pass_on (self, txn, msg, NULL, NULL, now);
    if (strlen (visitor) > VISITOR_MAX) {
        nd_stage_reject (stage, msg, "user longer than 400 bytes");
        return -1;
    }
    if (strcmp (msg->topic, "visitor.forgotten") == 0 || strcmp (msg->topic, "person.erased") == 0)
        return s_forgotten (self, txn, visitor, msg, now);
    int64_t time = msg->time ? msg->time : now;
    json_t *profile = NULL;
    bool revisit = false;
    int rc = s_profile_load (self, txn, visitor, time, &profile) < 0 ? -1 : 0;
    if (rc == 0 && strcmp (msg->topic, "visitor.merged") == 0)
        rc = s_merge (self, txn, visitor, profile, msg);
    if (rc == 0)
        rc = s_revisit (self, txn, visitor, profile, msg, &revisit);
    if (rc == 0) {
        seg_profile_apply (profile, msg->topic, msg->body, time, revisit);
        rc = seg_funnel_apply (self->funnel, txn, profile, msg);
    }
    if (rc == 0)
        rc = s_settle (self, txn, visitor, profile, now, msg);
    json_decref (profile);
    return rc;
}

//  The earliest entry of the time-ordered index if it is due at now.
static bool s_next_due (segmenter_t *self, MDB_txn *txn, int64_t now, int64_t *due,
                        char *visitor)
{
    MDB_cursor *cursor;
    MDB_val k, v;
    if (mdb_cursor_open (txn, self->due, &cursor))
        return false;
    bool found = mdb_cursor_get (cursor, &k, &v, MDB_FIRST) == 0 && k.mv_size > 8
              && (int64_t) nd_key_get_u64 (&k, 0) <= now;
    if (found) {
        *due = (int64_t) nd_key_get_u64 (&k, 0);
        snprintf (visitor, VISITOR_MAX + 1, "%.*s", (int) (k.mv_size - 9), (char *) k.mv_data + 8);
    }
    mdb_cursor_close (cursor);
    return found;
}

//  When the first entry of that index is due, for the clock to stop there.
static int64_t s_first_due (nd_stage_t *stage, void *self_, MDB_txn *txn)
{
    (void) stage;
    char visitor [VISITOR_MAX + 1];
    int64_t due;
    return s_next_due ((segmenter_t *) self_, txn, INT64_MAX, &due, visitor) ? due : INT64_MAX;
}

static int s_timers (nd_stage_t *stage, void *self_, MDB_txn *txn, int64_t now)
{
    (void) stage;
    segmenter_t *self = (segmenter_t *) self_;
    char visitor [VISITOR_MAX + 1];
    int64_t due;
    while (s_next_due (self, txn, now, &due, visitor)) {
        nd_key_t key;
        seg_due_key (&key, due, visitor);
        json_t *profile = NULL;
        if (nd_db_del (txn, self->due, &key) < 0)
            return -1;
        int rc = s_profile_load (self, txn, visitor, now, &profile);
        if (rc == 0) {
            json_object_set_new (profile, "due", json_integer (0));
            rc = s_settle (self, txn, visitor, profile, now, NULL);
        }
        else
        if (rc == ND_NOTFOUND)
            rc = 0;             //  merged away since; nothing to decide
        json_decref (profile);
        if (rc)
            return -1;
    }
    return 0;
}

//  SIGHUP, between batches: the rule segments as the file says now, if
//  all of it is good. Membership is judged again by the new rules as
//  each visitor's next event or moment comes, as after a restart: a
//  member of a segment the file no longer has leaves it (segment.exited)
//  then; a new segment's members enter as their events come. The
//  built-in groups' thresholds are options in the pipeline file and stay.
static int s_reload (nd_stage_t *stage, void *self_, char *what, size_t size)
{
    segmenter_t *self = (segmenter_t *) self_;
    const char *file = nd_stage_option (stage, "segments", NULL);
    char *error = NULL;
    seg_rules_t *rules = seg_rules_load (file, &error);
    if (!rules) {
        snprintf (what, size, "%s", error);
        free (error);
        return -1;
    }
    seg_rules_destroy (&self->rules);
    self->rules = rules;
    snprintf (what, size, "%zu rule segments from %s", seg_rules_size (rules),
              file ? file : "(no segments file)");
    return 0;
}

static int s_count_segment (const MDB_val *key, const MDB_val *data, void *arg)
{
    json_object_set_new ((json_t *) arg, (const char *) key->mv_data,
                         json_integer ((json_int_t) nd_key_get_u64 (data, 0)));
    return 0;
}

static void s_stats (void *self_, json_t *stats)
{
    segmenter_t *self = (segmenter_t *) self_;
    json_t *segments = json_object ();
    for (const char *const *group = seg_groups_names (); *group; group++)
        json_object_set_new (segments, *group, json_integer (0));
    for (size_t i = 0; i < seg_rules_size (self->rules); i++)
        json_object_set_new (segments, seg_rules_name (self->rules, i), json_integer (0));
    MDB_txn *txn;
    MDB_stat profiles = { 0 }, due = { 0 };
    if (mdb_txn_begin (nd_stage_env (self->stage), NULL, MDB_RDONLY, &txn) == 0) {
        nd_key_t all;
        nd_key_init (&all);
        mdb_stat (txn, self->profiles, &profiles);
        mdb_stat (txn, self->due, &due);
        nd_db_scan (txn, self->members, &all, s_count_segment, segments);
        mdb_txn_abort (txn);
    }
    json_object_set_new (stats, "profiles", json_integer ((json_int_t) profiles.ms_entries));
    json_object_set_new (stats, "timers", json_integer ((json_int_t) due.ms_entries));
    json_object_set_new (stats, "segments", segments);
}

static void s_teardown (void **self_p)
{
    segmenter_t *self = (segmenter_t *) *self_p;
    if (self) {
        seg_rules_destroy (&self->rules);
        seg_funnel_destroy (&self->funnel);
        nd_jcache_destroy (&self->parsed);
        nd_tz_destroy (&self->thresholds.tz);
        free (self);
        *self_p = NULL;
    }
}

static int s_setup (nd_stage_t *stage, MDB_txn *txn, void **self_p)
{
    segmenter_t *self = (segmenter_t *) calloc (1, sizeof *self);
    if (!self)
        return -1;
    self->stage = stage;
    const char *file = nd_stage_option (stage, "segments", NULL);
    int rc = !(self->parsed = nd_jcache_new (PARSED_SLOTS))
          || seg_person_open (self, txn)
          || seg_groups_configure (stage, &self->thresholds)
          || !(self->funnel = seg_funnel_new (stage, txn)) ? -1 : 0;
    char *error = NULL;
    if (rc == 0 && !(self->rules = seg_rules_load (file, &error))) {
        nd_log ("%s", error);
        rc = nd_stage_config_refused (stage);
    }
    free (error);
    if (rc) {
        s_teardown ((void **) &self);
        return -1;
    }
    if (file)
        nd_log ("%zu rule segments from %s", seg_rules_size (self->rules), file);
    *self_p = self;
    return 0;
}

//  --check: the groups' options and the rule segments, as setup reads them.
static int s_check_config (nd_stage_t *stage)
{
    seg_thresholds_t thresholds = { 0 };
    char *error = NULL;
    int rc = seg_groups_configure (stage, &thresholds);
    nd_tz_destroy (&thresholds.tz);
    if (rc)
        return -1;
    seg_rules_t *rules = seg_rules_load (nd_stage_option (stage, "segments", NULL), &error);
    if (!rules)
        nd_log ("%s", error);
    free (error);
    if (!rules)
        return nd_stage_config_refused (stage);
    seg_rules_destroy (&rules);
    return 0;
}

static void s_selftest (bool verbose)
{
    seg_profile_test (verbose);
    seg_groups_test (verbose);
    seg_birthday_test (verbose);
    seg_rules_test (verbose);
    seg_funnel_test (verbose);
    seg_person_test (verbose);
}

//  Partitions (nd_moves.c): a visitor's profile and indexes leave with
//  it and arrive as they were (move.c).
static int s_person_export (nd_stage_t *stage, void *self, MDB_txn *txn, const char *person,
                            json_t **state)
{
    (void) stage;
    return seg_person_export ((segmenter_t *) self, txn, person, state);
}

static int s_person_each (nd_stage_t *stage, void *self, MDB_txn *txn,
                          int (*fn) (const char *person, void *arg), void *arg)
{
    (void) stage;
    return seg_person_each ((segmenter_t *) self, txn, fn, arg);
}

static int s_person_import (nd_stage_t *stage, void *self, MDB_txn *txn, const json_t *state)
{
    (void) stage;
    return seg_person_import ((segmenter_t *) self, txn, state);
}

int main (int argc, char **argv)
{
    //  A test's hand on the export and import, not an operator's option
    if (argc == 6 && strcmp (argv [1], "--selftest") == 0 && strcmp (argv [2], "move") == 0)
        return seg_person_move_test (argv [3], argv [4], argv [5]);
    nd_stage_def_t def = {
        .name = "segmenter",
        .summary = "Keeps each visitor's counters and segments; "
                   "annotates the sessionizer's output.",
        .selftest = s_selftest,
        .setup = s_setup,
        .apply = s_apply,
        .timers = s_timers,
        .next_due = s_first_due,
        .reload = s_reload,
        .reloads = "rule segments",
        .check = s_check_config,
        .stats = s_stats,
        .teardown = s_teardown,
        .person_export = s_person_export,
        .person_import = s_person_import,
        .person_each = s_person_each,
        .partitioned = true,
    };
    return nd_stage_main (argc, argv, &def);
}
