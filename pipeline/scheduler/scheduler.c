/*  scheduler - the journey engine: who gets which message, when, where.

    Layer: stage: calls every layer below; nothing calls it.

    NAME
        scheduler - run journeys: turn shop events into send orders

    SYNOPSIS
        scheduler [--config FILE] [--name NAME] [--clock wall|event]
        scheduler --selftest

    DESCRIPTION
        Reads the segmenter's output (or the sessionizer's: the same
        bodies without "segments") and the senders' feedback over durable
        links, and runs the journeys defined in conf/journeys (one .zpl file per journey): a
        trigger (topic and filter) starts an instance for a person who
        qualifies (segments, re-entry rules); its steps wait (a duration,
        or until a local time of day), check conditions, split people into
        A/B variants and a holdout, and send messages on the first channel
        that reaches the person, falling back to the next when a sender
        reports failure. An exit event (order.completed for the abandoned
        cart) ends it.

        Every send is checked again when it is due, inside the
        transaction that would emit it: not ordered since the journey
        began, not browsing right now (defer until they leave), not in an
        open chat, not opted out, not in the person's quiet hours (their
        own time zone), within the frequency caps across every channel and
        journey. Each send order goes out on "send.<channel>" with an
        idempotency key; discount codes on "code.issued"; credited orders
        on "conversion".

        Timers are an LMDB index ordered by due time: millions pending
        cost disk, not RAM; none fires twice or is lost across kill -9;
        one that came due while the stage was down fires when it starts.

        Options (its section of the pipeline file; defaults in brackets):
        input [segmenter], journeys [conf/journeys], templates
        [conf/templates], locale [en], timezone [UTC], zoneinfo
        [/usr/share/zoneinfo], session-timeout [30m], chat-recheck [15m],
        max-delay [24h], attribution [5d], cap [1/16h, 3/7d], cap-push,
        cap-sms, cap-email, cap-whatsapp [none], cap-onsite [2/1d], quiet-hours [21:00-09:00], fire-batch
        [20000], release-pages [10s; 0 never], shop-name, shop-url,
        confirm-url [http://127.0.0.1:8080/confirm], confirm-valid [48h],
        confirm-per-day [3], unsubscribe-secret (usually from [pipeline]).
        See scheduler(1) for the journey file format, the send order and
        the feedback it reads.

        Partitioned ("partitions = N"): each partition runs the journeys
        of its people; a merge across partitions moves the loser's state
        (move.c), feedback naming the loser follows them, erasures reach
        every partition; instances and codes are numbered apart. See
        scheduler(1), PARTITIONS.

        contact.claimed (an address a browser gave, sessionizer(1)) gets
        a confirmation instead of any journey: a link by e-mail or a code
        by SMS (confirm.c).                                            */
#define _GNU_SOURCE
#include <fcntl.h>
#include <openssl/rand.h>
#include "attribution.h"
#include "codes.h"
#include "cond.h"
#include "confirm.h"
#include "erase.h"
#include "feedback.h"
#include "journeys.h"
#include "lifecycle.h"
#include "move.h"
#include "move_test.h"
#include "people.h"
#include "policy.h"
#include "templates.h"
#include "timers.h"

/* ------------------------------------------------------------- state -- */

static void s_meta_key (nd_key_t *key, const char *name)
{
    nd_key_init (key);
    nd_key_str (key, name);
}

//  A value drawn once, when the state is created, then read back: the
//  epoch that keeps idempotency keys unique and the code secret.
static int s_meta_random (scheduler_t *self, MDB_txn *txn, const char *name, uint8_t *out,
                          size_t size)
{
    nd_key_t key;
    s_meta_key (&key, name);
    MDB_val k = nd_key_val (&key), data;
    int rc = mdb_get (txn, self->meta, &k, &data);
    if (rc == 0 && data.mv_size == size) {
        memcpy (out, data.mv_data, size);
        return 0;
    }
    if (rc && rc != MDB_NOTFOUND)
        return nd_db_error (rc, name);
    if (RAND_bytes (out, (int) size) != 1) {
        nd_log ("cannot draw random bytes for %s", name);
        return -1;
    }
    return nd_db_put_raw (txn, self->meta, &key, out, size);
}

static int s_meta_u64 (scheduler_t *self, MDB_txn *txn, const char *name, uint64_t *value)
{
    nd_key_t key;
    s_meta_key (&key, name);
    *value = 0;
    return nd_db_get_u64 (txn, self->meta, &key, value) < 0 ? -1 : 0;
}

static int s_open_state (scheduler_t *self, MDB_txn *txn)
{
    if (scheduler_tables_open (self, txn))
        return -1;
    uint8_t epoch [4];
    uint64_t now = 0;
    if (s_meta_random (self, txn, "epoch", epoch, sizeof epoch)
    ||  s_meta_random (self, txn, "secret", self->secret, sizeof self->secret)
    ||  s_meta_u64 (self, txn, "next-instance", &self->next_instance)
    ||  s_meta_u64 (self, txn, "next-code", &self->next_code)
    ||  s_meta_u64 (self, txn, "now", &now))
        return -1;
    snprintf (self->epoch, sizeof self->epoch, "%02x%02x%02x%02x",
              epoch [0], epoch [1], epoch [2], epoch [3]);
    //  Event time survives a restart: timers that came due before the
    //  crash fire at start, not at the next event.
    self->saved_now = (int64_t) now;
    nd_clock_advance (nd_stage_clock (self->stage), (int64_t) now);
    self->timers = timers_new (txn);
    return self->timers && codes_index (self, txn) == 0 ? 0 : -1;
}

/* ----------------------------------------------------------- options -- */

static int s_cap_option (scheduler_t *self, const char *name, const char *fallback, cap_t *cap)
{
    if (cap_parse (nd_stage_option (self->stage, name, fallback), cap))
        return nd_stage_config_error (self->stage, name, "not a cap such as \"1/16h, 3/7d\" or none");
    return 0;
}

static int s_limits (scheduler_t *self)
{
    limits_t *limits = &self->limits;
    if (s_cap_option (self, "cap", "1/16h, 3/7d", &limits->cap)
    ||  s_cap_option (self, "cap-push", "none", &limits->channel_cap [CHANNEL_PUSH])
    ||  s_cap_option (self, "cap-sms", "none", &limits->channel_cap [CHANNEL_SMS])
    ||  s_cap_option (self, "cap-whatsapp", "none", &limits->channel_cap [CHANNEL_WHATSAPP])
    ||  s_cap_option (self, "cap-email", "none", &limits->channel_cap [CHANNEL_EMAIL])
    ||  s_cap_option (self, "cap-onsite", "2/1d", &limits->channel_cap [CHANNEL_ONSITE]))
        return -1;
    if (quiet_parse (nd_stage_option (self->stage, "quiet-hours", "21:00-09:00"), &limits->quiet))
        return nd_stage_config_error (self->stage, "quiet-hours", "not such as 21:00-09:00 or none");
    return nd_stage_option_duration (self->stage, "attribution", "5d", &limits->attribution);
}

static int s_options (scheduler_t *self)
{
    nd_stage_t *stage = self->stage;
    if (nd_stage_option_duration (stage, "session-timeout", "30m", &self->session_timeout)
    ||  nd_stage_option_duration (stage, "chat-recheck", "15m", &self->chat_recheck)
    ||  nd_stage_option_duration (stage, "max-delay", "24h", &self->max_delay)
    ||  nd_stage_option_int (stage, "fire-batch", "20000", &self->fire_batch)
    ||  nd_stage_option_duration (stage, "release-pages", "10s", &self->release_every)
    ||  s_limits (self))
        return -1;
    if (self->fire_batch < 1)
        return nd_stage_config_error (stage, "fire-batch", "must be at least 1");
    if (self->chat_recheck <= 0)
        return nd_stage_config_error (stage, "chat-recheck", "must be longer than 0");
    self->tz = nd_tz_new (nd_stage_option (stage, "zoneinfo", "/usr/share/zoneinfo"));
    self->timezone = nd_stage_option (stage, "timezone", "UTC");
    if (!nd_tz_known (self->tz, self->timezone))
        return nd_stage_config_error (stage, "timezone", "not a time zone in the zoneinfo directory");
    self->shop = json_pack ("{s:s, s:s}", "name", nd_stage_option (stage, "shop-name", ""),
                            "url", nd_stage_option (stage, "shop-url", ""));
    self->formats = nd_formats_new ();
    return 0;
}

//  Message history is kept as long as the longest cap looks back.
static int64_t s_history_keep (scheduler_t *self, journeys_t *journeys)
{
    int64_t keep = 86400000LL;
    for (size_t i = 0; i <= journeys_size (journeys); i++) {
        limits_t limits = self->limits;
        if (i < journeys_size (journeys))
            policy_limits (self, journeys_get (journeys, i), &limits);
        for (int c = 0; c <= CHANNEL_COUNT; c++) {
            int64_t longest = cap_longest (c < CHANNEL_COUNT ? &limits.channel_cap [c] : &limits.cap);
            keep = longest > keep ? longest : keep;
        }
    }
    return keep;
}

//  The journeys and every template they (and the double opt-in) name,
//  read and checked whole: 0 with both set, or -1 with *error (the
//  caller's; "" when already logged) and neither.
static int s_read_journeys (scheduler_t *self, templates_t **templates, journeys_t **journeys,
                            char **error)
{
    const char *dir = nd_stage_option (self->stage, "journeys", "conf/journeys");
    *templates = templates_new (nd_stage_option (self->stage, "templates", "conf/templates"),
                                nd_stage_option (self->stage, "locale", "en"));
    *error = NULL;
    *journeys = journeys_load (dir, *templates, error);
    if (*journeys && confirm_check (self, *templates, error))
        journeys_destroy (journeys);
    if (!*journeys)
        templates_destroy (templates);
    return *journeys ? 0 : -1;
}

static int s_journeys (scheduler_t *self)
{
    char *error = NULL;
    if (s_read_journeys (self, &self->templates, &self->journeys, &error)) {
        if (error && *error)
            nd_log ("%s", error);
        free (error);
        return nd_stage_config_refused (self->stage);
    }
    self->history_keep = s_history_keep (self, self->journeys);
    return 0;
}

//  SIGHUP, between batches: the new journeys and templates replace the old
//  only if all of them check as they would at start. Instances running
//  then carry on as after a restart: each finds its journey by name at
//  its next step (engine.c), keeps its step by name, and ends
//  ("journey-changed", "journey-removed") if that is gone.
static int s_reload (nd_stage_t *stage, void *self_, char *what, size_t size)
{
    scheduler_t *self = (scheduler_t *) self_;
    templates_t *templates;
    journeys_t *journeys;
    char *error = NULL;
    if (s_read_journeys (self, &templates, &journeys, &error)) {
        snprintf (what, size, "%s", error && *error ? error : "journeys do not load");
        free (error);
        return -1;
    }
    journeys_destroy (&self->journeys);
    templates_destroy (&self->templates);
    self->journeys = journeys;
    self->templates = templates;
    self->history_keep = s_history_keep (self, journeys);
    snprintf (what, size, "%zu journeys from %s, templates from %s", journeys_size (journeys),
              nd_stage_option (stage, "journeys", "conf/journeys"),
              nd_stage_option (stage, "templates", "conf/templates"));
    return 0;
}

static void s_teardown (void **self_p);

static int s_setup (nd_stage_t *stage, MDB_txn *txn, void **self_p)
{
    scheduler_t *self = (scheduler_t *) zmalloc (sizeof *self);
    self->stage = stage;
    self->env = nd_stage_env (stage);
    self->journey_find = journeys_find;
    self->wake [0] = self->wake [1] = -1;
    self->part = nd_stage_partition (stage, &self->parts);
    int rc = s_options (self) || confirm_setup (self, txn) || s_journeys (self)
          || s_open_state (self, txn) ? -1 : 0;
    if (rc == 0 && pipe2 (self->wake, O_NONBLOCK | O_CLOEXEC))
        rc = -1;
    if (rc) {
        s_teardown ((void **) &self);
        return -1;
    }
    for (size_t i = 0; i < journeys_size (self->journeys); i++)
        nd_log ("journey %s from %s", journeys_get (self->journeys, i)->name,
                journeys_get (self->journeys, i)->file);
    nd_log ("%zu timers pending, state epoch %s", timers_pending (self->timers, txn), self->epoch);
    if (self->parts > 1 && !self->confirm_secret)
        nd_log ("partition %d of %d without unsubscribe-secret: an erased address is remembered "
                "in the partition that erased it alone", self->part, self->parts);
    scheduler_wake (self);              //  fire what came due while we were down
    *self_p = self;
    return 0;
}

static void s_teardown (void **self_p)
{
    scheduler_t *self = (scheduler_t *) *self_p;
    if (!self)
        return;
    journeys_destroy (&self->journeys);
    templates_destroy (&self->templates);
    timers_destroy (&self->timers);
    nd_tz_destroy (&self->tz);
    nd_formats_destroy (&self->formats);
    json_decref (self->shop);
    confirm_teardown (self);
    for (int i = 0; i < 2; i++)
        if (self->wake [i] >= 0)
            close (self->wake [i]);
    free (self);
    *self_p = NULL;
}

/* ---------------------------------------------------------- messages -- */

static int s_apply (nd_stage_t *stage, void *self_, MDB_txn *txn, const nd_msg_t *msg)
{
    scheduler_t *self = (scheduler_t *) self_;
    const char *topic = msg->topic;
    const char *user = json_string_value (json_object_get (msg->body, "user"));
    //  Feedback about a message sent before a merge names the loser: if
    //  they moved to another partition, it goes on there with them
    int rc = nd_stage_pass_moved (stage, txn, msg, user);
    if (rc)
        return rc < 0 ? -1 : 0;
    if (strncmp (topic, "feedback.", 9) == 0)
        rc = feedback_apply (self, txn, msg);
    else
    if (streq (topic, "contact.claimed"))
        rc = confirm_claimed (self, txn, msg);
    else
    if (streq (topic, "person.erased") || streq (topic, "visitor.forgotten"))
        rc = erase_person (self, txn, msg);
    else
    if (streq (topic, "erased.hashes"))
        rc = nd_stage_is_sibling (stage, msg->link) ? erase_hashes (self, txn, msg) : 0;
    else {
        //  Order matters: what the message says of the person first, then
        //  credit an order before it ends the journeys it exits.
        rc = people_observe (self, txn, msg);
        if (rc == 0 && json_is_object (json_object_get (msg->body, "traits")))
            rc = erase_recall (self, txn, user);
        if (rc == 0 && streq (topic, "order.completed"))
            rc = attribution_order (self, txn, msg);
        if (rc == 0 && user && *user)
            rc = instance_exit_on (self, txn, user, topic, nd_stage_now (stage));
        for (size_t i = 0; rc == 0 && i < journeys_size (self->journeys); i++) {
            journey_t *journey = journeys_get (self->journeys, i);
            if (streq (journey->topic, topic))
                rc = instance_enter (self, txn, journey, msg);
        }
    }
    //  A failure here is LMDB's (state full, say): it poisons the whole
    //  transaction, so the batch is retried and nothing half-done commits.
    if (rc)
        nd_stage_reject (stage, msg, "could not apply (see the line before)");
    return rc;
}

/* ------------------------------------------------------------ timers -- */

//  Fires due timers, at most fire-batch per transaction so one commit
//  stays small however many came due; the rest after this commit.
static int s_fire (scheduler_t *self, MDB_txn *txn, int64_t now)
{
    while (self->fired_in_txn < self->fire_batch) {
        int64_t due;
        uint64_t id;
        timer_kind_t kind;
        int rc = timers_pop (self->timers, txn, now, &due, &id, &kind);
        if (rc <= 0)
            return rc;
        self->fired_in_txn++;
        if (instance_fire (self, txn, id, kind, now)) {
            nd_log ("timer of instance %llu failed", (unsigned long long) id);
            return -1;
        }
    }
    scheduler_wake (self);
    return 0;
}

static int s_timers (nd_stage_t *stage, void *self_, MDB_txn *txn, int64_t now)
{
    scheduler_t *self = (scheduler_t *) self_;
    if (nd_clock_is_event (nd_stage_clock (stage)) && now > self->saved_now) {
        nd_key_t key;
        s_meta_key (&key, "now");
        if (nd_db_put_u64 (txn, self->meta, &key, (uint64_t) now))
            return -1;
        self->saved_now = now;
    }
    return s_fire (self, txn, now);
}

static int64_t s_next_due (nd_stage_t *stage, void *self_, MDB_txn *txn)
{
    (void) stage;
    return timers_next (((scheduler_t *) self_)->timers, txn);
}

static int s_wake_fd (void *self_)
{
    return ((scheduler_t *) self_)->wake [0];
}

static int s_drain (nd_stage_t *stage, void *self_, MDB_txn *txn)
{
    scheduler_t *self = (scheduler_t *) self_;
    char buffer [64];
    while (read (self->wake [0], buffer, sizeof buffer) > 0)
        ;
    return s_fire (self, txn, nd_stage_now (stage));
}

static void s_committed (nd_stage_t *stage, void *self_, int rc)
{
    (void) rc;
    scheduler_t *self = (scheduler_t *) self_;
    self->fired_in_txn = 0;
    if (self->release_every > 0 && zclock_mono () - self->released >= self->release_every) {
        timers_release (nd_stage_env (stage));
        self->released = zclock_mono ();
    }
}

/* ------------------------------------------------------------- stats -- */

static void s_stats (void *self_, json_t *stats)
{
    scheduler_t *self = (scheduler_t *) self_;
    MDB_txn *txn;
    if (mdb_txn_begin (self->env, NULL, MDB_RDONLY, &txn))
        return;
    MDB_stat active, instances;
    mdb_stat (txn, self->active, &active);
    mdb_stat (txn, self->instances, &instances);
    json_t *journeys = json_array ();
    for (size_t i = 0; i < journeys_size (self->journeys); i++)
        json_array_append_new (journeys, json_string (journeys_get (self->journeys, i)->name));
    const char *totals [] = { "sent", "conversions", "codes-issued", "feedback.delivered",
        "feedback.failed", "feedback.bounced", "feedback.unreachable", "feedback.unsubscribed",
        "feedback.resubscribed", "feedback.clicked", "confirm-sent", NULL };
    json_t *counts = json_object ();
    for (int i = 0; totals [i]; i++)
        json_object_set_new (counts, totals [i], json_integer ((json_int_t)
            counter_get (self, txn, "", "", "", "", totals [i])));
    int64_t next = timers_next (self->timers, txn);
    char stamp [32];
    json_object_set_new (stats, "scheduler", json_pack ("{s:o, s:I, s:s?, s:I, s:I, s:o, s:s}",
        "journeys", journeys, "timers", (json_int_t) timers_pending (self->timers, txn),
        "next_due", next == INT64_MAX ? NULL : nd_time_format (next, stamp),
        "running", (json_int_t) active.ms_entries, "instances", (json_int_t) instances.ms_entries,
        "counts", counts, "epoch", self->epoch));
    json_object_set_new (stats, "sent", json_integer ((json_int_t)
        counter_get (self, txn, "", "", "", "", "sent")));
    mdb_txn_abort (txn);
}

/* ------------------------------------------------------------- moves -- */

//  A person moving between partitions (nd_moves.c): their instances,
//  timers, history, codes and marks as raw rows (move.c).
static int s_person_export (nd_stage_t *stage, void *self, MDB_txn *txn, const char *person,
                            json_t **state)
{
    (void) stage;
    return scheduler_person_export ((scheduler_t *) self, txn, person, state);
}

static int s_person_each (nd_stage_t *stage, void *self, MDB_txn *txn,
                          int (*fn) (const char *person, void *arg), void *arg)
{
    (void) stage;
    return scheduler_person_each ((scheduler_t *) self, txn, fn, arg);
}

static int s_numbers (nd_stage_t *stage, void *self, MDB_txn *txn, uint64_t *numbers)
{
    (void) stage;
    return scheduler_numbers ((scheduler_t *) self, txn, numbers);
}

static const char *s_shared [] = { "erased", NULL };

static int s_person_import (nd_stage_t *stage, void *self_, MDB_txn *txn, const json_t *state)
{
    (void) stage;
    scheduler_t *self = (scheduler_t *) self_;
    int rc = scheduler_person_import (self, txn, state);
    //  Their timers may be due already
    if (rc == 0)
        scheduler_wake (self);
    return rc;
}

/* -------------------------------------------------------------- main -- */

//  --check: the options and the journeys with their templates, read as
//  setup reads them, with no state opened.
static int s_check_config (nd_stage_t *stage)
{
    scheduler_t *self = (scheduler_t *) zmalloc (sizeof *self);
    self->stage = stage;
    self->wake [0] = self->wake [1] = -1;
    int rc = s_options (self) || s_journeys (self) ? -1 : 0;
    s_teardown ((void **) &self);
    return rc;
}

static void s_selftest (bool verbose)
{
    cond_test (verbose);
    policy_test (verbose);
    timers_test (verbose);
    codes_test (verbose);
    scheduler_person_test (verbose);
}

int main (int argc, char **argv)
{
    nd_stage_def_t def = {
        .name = "scheduler",
        .summary = "Runs the journeys in conf/journeys: turns shop events into send orders.",
        .selftest = s_selftest,
        .setup = s_setup,
        .apply = s_apply,
        .timers = s_timers,
        .next_due = s_next_due,
        .source_fd = s_wake_fd,
        .source_drain = s_drain,
        .source_committed = s_committed,
        .reload = s_reload,
        .reloads = "journeys and templates",
        .check = s_check_config,
        .stats = s_stats,
        .teardown = s_teardown,
        .person_export = s_person_export,
        .person_import = s_person_import,
        .person_each = s_person_each,
        .shared_tables = s_shared,
        .numbers = s_numbers,
        .partitioned = true,
    };
    return nd_stage_main (argc, argv, &def);
}
