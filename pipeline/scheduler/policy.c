/*  policy.c - may this message go now? Checked at send time, inside the
    transaction that would emit it, so nothing changes between the check
    and the send order:

    Layer: rules: calls journey.c and the store (people.c, instance.c).

    1. the person has not ordered since the journey began (else it ends);
    2. the step is not too late (max-delay; else it is skipped);
    3. the person is not browsing right now: their last activity is older
       than the session timeout, or their session has ended (else wait
       until they leave);
    4. they are not in an open chat (else look again later);
    5. a channel of the step reaches them: push with a live subscription,
       SMS with a phone and SMS consent, e-mail not suppressed, on-site
       with an anonymous id, and none opted out (else the step is skipped);
    6. it is not their quiet hours, in their own time zone (defer to the
       end, or skip, as the step says);
    7. the frequency caps hold: across every channel and journey, and per
       channel (defer until the window frees, or skip);
    8. priority: it would not take the slot a higher-priority journey's
       next send of the same person needs when it comes due (else it is
       deferred until then, or skipped, as the cap's own rule says).

    A message the caps hold (7, 8) also says behind which journey: the
    one whose message fills the slot, or is given it.

    On-site messages are the exception. A banner or card on the page the
    person is looking at is not a message that reaches them elsewhere:
    when the first reachable channel of the step is onsite, rules 3 and 6
    do not apply (browsing is when it is meant to be seen, and they are
    on the site), and an on-site message is neither held by nor counted
    in the cross-channel cap; its own cap-onsite (default 2/1d) bounds it. */
#include <assert.h>
#include "policy.h"
#include "instance.h"
#include "journey.h"
#include "people.h"
#include "cond.h"

/* -------------------------------------------------------- local time -- */

static int64_t s_offset_ms (scheduler_t *self, const char *zone, int64_t utc)
{
    int32_t offset = 0;
    nd_tz_offset (self->tz, zone, utc, &offset);
    return (int64_t) offset * 1000;
}

int64_t policy_next_local (scheduler_t *self, person_t *person, int64_t base, int minutes)
{
    const char *zone = person_timezone (self, person);
    int64_t local = base + s_offset_ms (self, zone, base);
    int64_t day = 86400000LL, midnight = local - ((local % day) + day) % day;
    int64_t candidate = midnight + (int64_t) minutes * 60000;
    if (candidate <= local)
        candidate += day;
    int64_t utc = nd_tz_to_utc (self->tz, zone, candidate);
    return utc > base ? utc : utc + day;        //  a clock change can swallow the hour
}

static bool s_quiet (scheduler_t *self, person_t *person, const quiet_t *quiet, int64_t now,
                     int64_t *until)
{
    if (!quiet->set || quiet->start == quiet->end)
        return false;
    int64_t local = now + s_offset_ms (self, person_timezone (self, person), now);
    int minute = (int) ((((local / 60000) % 1440) + 1440) % 1440);
    bool inside = quiet->start < quiet->end ? minute >= quiet->start && minute < quiet->end
                                            : minute >= quiet->start || minute < quiet->end;
    if (inside)
        *until = policy_next_local (self, person, now, quiet->end);
    return inside;
}

/* -------------------------------------------------------------- caps -- */

#define HISTORY_MAX 256

typedef struct {
    int64_t time [HISTORY_MAX];
    channel_t channel [HISTORY_MAX];
    char journey [HISTORY_MAX][NAME_MAX_LEN];  //  from the idempotency key
    size_t size;
} s_history_t;

static void s_history_key (nd_key_t *key, const char *user, int64_t time, const char *id)
{
    nd_key_init (key);
    nd_key_str (key, user);
    nd_key_i64 (key, time);
    nd_key_str (key, id);
}

//  The journey a message of the history came from: its idempotency key
//  begins "<journey>/" (send.c); "" for another kind of key.
static void s_history_journey (const MDB_val *key, size_t offset, char *journey)
{
    const char *id = (const char *) key->mv_data + offset;
    size_t size = key->mv_size - offset;
    const char *slash = memchr (id, '/', size);
    size_t length = slash ? (size_t) (slash - id) : 0;
    length = length < NAME_MAX_LEN ? length : 0;
    memcpy (journey, id, length);
    journey [length] = 0;
}

//  Reads the person's recent messages, oldest first, and drops those too
//  old for any cap to count.
static int s_history (scheduler_t *self, MDB_txn *txn, const char *user, int64_t now,
                      s_history_t *history)
{
    history->size = 0;
    MDB_cursor *cursor;
    int rc = mdb_cursor_open (txn, self->history, &cursor);
    if (rc)
        return nd_db_error (rc, "history cursor");
    nd_key_t prefix;
    nd_key_init (&prefix);
    nd_key_str (&prefix, user);
    MDB_val key = nd_key_val (&prefix), data;
    for (rc = mdb_cursor_get (cursor, &key, &data, MDB_SET_RANGE); rc == 0;
         rc = mdb_cursor_get (cursor, &key, &data, MDB_NEXT)) {
        if (key.mv_size < prefix.size + 8 || memcmp (key.mv_data, prefix.data, prefix.size))
            break;
        int64_t time = nd_key_get_i64 (&key, prefix.size);
        if (time <= now - self->history_keep)
            rc = mdb_cursor_del (cursor, 0);
        else
        if (history->size < HISTORY_MAX) {
            char name [8] = "";
            snprintf (name, sizeof name, "%.*s", (int) data.mv_size, (char *) data.mv_data);
            history->time [history->size] = time;
            s_history_journey (&key, prefix.size + 8, history->journey [history->size]);
            if (channel_parse (name, &history->channel [history->size]) == 0)
                history->size++;
        }
        if (rc)
            break;
    }
    mdb_cursor_close (cursor);
    return rc && rc != MDB_NOTFOUND ? nd_db_error (rc, "history") : 0;
}

//  The earliest moment cap allows one more message counted over the
//  messages on channel (or all but onsite, if channel is CHANNEL_COUNT);
//  0 if now. If by is not NULL, it gets the index in history of the
//  message whose leaving the window frees the slot (the one the held
//  message waits behind), or -1.
static int64_t s_cap_until (const cap_t *cap, const s_history_t *history, channel_t channel,
                            int64_t now, int *by)
{
    int64_t until = 0;
    if (by)
        *by = -1;
    for (size_t r = 0; r < cap->size; r++) {
        int index [HISTORY_MAX];
        int64_t count = 0;
        for (size_t i = 0; i < history->size; i++)
            if ((channel == CHANNEL_COUNT ? history->channel [i] != CHANNEL_ONSITE
                                          : history->channel [i] == channel)
            &&  history->time [i] > now - cap->rule [r].window && history->time [i] <= now)
                index [count++] = (int) i;
        if (count >= cap->rule [r].count) {
            int first = index [count - cap->rule [r].count];
            int64_t frees = history->time [first] + cap->rule [r].window;
            if (frees > until && by)
                *by = first;
            until = frees > until ? frees : until;
        }
    }
    return until;
}

//  When the caps of limits let one more message go on channel: 0 if now.
static int64_t s_caps_until (const limits_t *limits, const s_history_t *history,
                             channel_t channel, int64_t now, int *by)
{
    int by_all = -1, by_channel = -1;
    int64_t until = channel == CHANNEL_ONSITE
                  ? 0 : s_cap_until (&limits->cap, history, CHANNEL_COUNT, now, &by_all);
    int64_t channel_until = s_cap_until (&limits->channel_cap [channel], history, channel,
                                         now, &by_channel);
    if (by)
        *by = channel_until > until ? by_channel : by_all;
    return channel_until > until ? channel_until : until;
}

int policy_record (scheduler_t *self, MDB_txn *txn, const char *user, int64_t time,
                   const char *id, channel_t channel)
{
    nd_key_t key;
    s_history_key (&key, user, time, id);
    return nd_db_put_raw (txn, self->history, &key, channel_name (channel),
                          strlen (channel_name (channel)));
}

int policy_forget (scheduler_t *self, MDB_txn *txn, const char *user, int64_t time,
                   const char *id)
{
    nd_key_t key;
    s_history_key (&key, user, time, id);
    return nd_db_del (txn, self->history, &key) < 0 ? -1 : 0;
}

/* ------------------------------------------------------------ decide -- */

static int s_verdict (decision_t *decision, send_result_t verdict, int64_t until,
                      const char *reason)
{
    decision->verdict = verdict;
    decision->until = until;
    decision->reason = reason;
    return 0;
}

//  The first channel from first on that reaches the person.
static bool s_channel (const step_t *step, person_t *person, size_t first, decision_t *decision)
{
    for (size_t i = first; i < step->channel_count; i++)
        if (person_contact (person, step->channels [i])) {
            decision->channel = step->channels [i];
            decision->channel_index = i;
            return true;
        }
    return false;
}

/* ---------------------------------------------------------- priority -- */

//  The arm a branch would take for instance: as the engine decides, on
//  the person's facts and the segments the trigger came with (checks
//  before it are taken as passing, so "ordered" is false here).
static int s_arm (const instance_t *instance, person_t *person, const step_t *branch)
{
    json_t *view = person_view (person);
    json_t *segments = json_object_get (instance->record, "segments");
    if (json_is_array (segments))
        json_object_set (view, "segments", segments);
    json_object_set_new (view, "ordered", json_false ());
    json_object_set (view, "data", json_object_get (instance->record, "data"));
    json_object_set (view, "variant", json_object_get (instance->record, "variant"));
    int next = branch->next;
    for (size_t i = 0; i < branch->arm_count; i++) {
        bool holds = true;
        for (size_t c = 0; holds && c < branch->arms [i].cond_count; c++)
            holds = cond_eval (branch->arms [i].conds [c], view);
        if (holds) {
            next = branch->arms [i].first;
            break;
        }
    }
    json_decref (view);
    return next;
}

//  The send step an instance makes when its timer fires: its current step
//  if that is a send (deferred), else the first send after checks, splits
//  and branches, the checks taken as passing, a split as the instance's
//  variant, a branch as the arm it would take; NULL when a wait comes
//  first.
static const step_t *s_next_send (const instance_t *instance, person_t *person)
{
    const journey_t *journey = instance->journey;
    if (!journey || !streq (record_str (instance->record, "state"), "waiting"))
        return NULL;
    int64_t i = record_int (instance->record, "step");
    for (size_t hops = 0; i >= 0 && (size_t) i < journey->step_count && hops < journey->step_count;
         hops++) {
        const step_t *step = &journey->steps [i];
        if (step->kind == STEP_SEND)
            return step;
        if (step->kind == STEP_WAIT)
            return NULL;
        if (step->kind == STEP_BRANCH)
            i = s_arm (instance, person, step);
        else
        if (step->kind == STEP_SPLIT) {
            const variant_t *variant = journey_variant (journey, record_str (instance->record, "variant"));
            i = variant && variant->jump >= 0 ? variant->jump : step->next;
        }
        else
            i = step->next;
    }
    return NULL;
}

//  Whether other's next send, of a higher priority than priority, needs
//  the slot the message at history's last entry would take: the caps let
//  it go when it is due without that message, and not with it. *due:
//  when it is due (now at the earliest).
static bool s_needs_slot (scheduler_t *self, const instance_t *other, person_t *person,
                          s_history_t *history, int64_t priority, int64_t now, int64_t *due)
{
    const step_t *step = s_next_send (other, person);
    decision_t theirs;
    if (!step || other->journey->priority <= priority
    ||  streq (record_str (other->record, "variant"), "holdout")     //  it takes no slot
    ||  !s_channel (step, person, 0, &theirs))
        return false;
    limits_t limits;
    policy_limits (self, other->journey, &limits);
    *due = record_int (other->record, "due") > now ? record_int (other->record, "due") : now;
    history->size--;
    bool free_without = s_caps_until (&limits, history, theirs.channel, *due, NULL) <= *due;
    history->size++;
    return free_without && s_caps_until (&limits, history, theirs.channel, *due, NULL) > *due;
}

//  Priority under the caps: the message the caps would let go now yields
//  when it would take the slot of a higher-priority message of the same
//  person that is due before the slot frees (a running instance of
//  theirs whose next step is a send). *until becomes when that one is
//  due (a moment later if due now), decision->behind its journey; the
//  step's over-cap rule then defers or skips this one. The first such
//  instance in the order of the active index (journey name) decides, so
//  a replay decides the same.
static int s_yield (scheduler_t *self, MDB_txn *txn, const instance_t *instance,
                    person_t *person, s_history_t *history, decision_t *decision, int64_t now,
                    int64_t *until)
{
    if (history->size >= HISTORY_MAX)
        return 0;
    history->time [history->size] = now;             //  this message, as if it went
    history->channel [history->size] = decision->channel;
    history->journey [history->size][0] = 0;
    history->size++;
    MDB_cursor *cursor;
    int rc = mdb_cursor_open (txn, self->active, &cursor);
    if (rc)
        return nd_db_error (rc, "active cursor");
    nd_key_t prefix;
    nd_key_init (&prefix);
    nd_key_str (&prefix, person->user);
    MDB_val key = nd_key_val (&prefix), data;
    for (rc = mdb_cursor_get (cursor, &key, &data, MDB_SET_RANGE); rc == 0 && *until <= now;
         rc = mdb_cursor_get (cursor, &key, &data, MDB_NEXT)) {
        if (key.mv_size <= prefix.size || memcmp (key.mv_data, prefix.data, prefix.size))
            break;
        uint64_t id = nd_key_get_u64 (&data, 0);
        instance_t *other = id != instance->id ? instance_load (self, txn, id) : NULL;
        int64_t due = 0;
        if (other && s_needs_slot (self, other, person, history, instance->journey->priority,
                                   now, &due)) {
            *until = due > now ? due : now + 1;
            snprintf (decision->behind, sizeof decision->behind, "%s", other->journey->name);
        }
        instance_destroy (&other);
    }
    mdb_cursor_close (cursor);
    history->size--;
    return rc && rc != MDB_NOTFOUND ? nd_db_error (rc, "active") : 0;
}

int policy_decide (scheduler_t *self, MDB_txn *txn, const instance_t *instance,
                   const step_t *step, person_t *person, const attempt_t *attempt,
                   int64_t now, decision_t *decision)
{
    limits_t limits;
    policy_limits (self, instance->journey, &limits);
    decision->behind [0] = 0;
    int64_t entered = record_int (instance->record, "entered");
    int64_t since = attempt->since;
    int64_t max_delay = step->max_delay >= 0 ? step->max_delay : self->max_delay;
    int64_t until = 0;
    //  A post-order journey began with an order: later ones are for its checks
    if (!instance->journey->post_order
    &&  journey_ordered (instance->journey, person->last_order, entered))
        return s_verdict (decision, EXITED, 0, "ordered");
    if (since && max_delay > 0 && now - since > max_delay)
        return s_verdict (decision, SKIPPED, 0, "expired");
    //  The channel it would go on, if the rules below let it
    bool onsite = s_channel (step, person, attempt->first, decision)
               && decision->channel == CHANNEL_ONSITE;
    if (!onsite && person->last_event > person->session_ended
    &&  now - person->last_event < self->session_timeout)
        return s_verdict (decision, DEFERRED, person->last_event + self->session_timeout,
                          "browsing");
    if (person->chat_since)
        return s_verdict (decision, DEFERRED, now + self->chat_recheck, "chat");
    if (!s_channel (step, person, attempt->first, decision))
        return s_verdict (decision, SKIPPED, 0, "unreachable");
    if (!onsite && s_quiet (self, person, &limits.quiet, now, &until))
        return s_verdict (decision, step->quiet == LATE_SKIP ? SKIPPED : DEFERRED, until,
                          "quiet-hours");
    s_history_t *history = (s_history_t *) malloc (sizeof *history);
    if (!history || s_history (self, txn, person->user, now, history)) {
        free (history);
        return -1;
    }
    int by = -1;
    until = s_caps_until (&limits, history, decision->channel, now, &by);
    int rc = 0;
    if (until > now && by >= 0)
        snprintf (decision->behind, sizeof decision->behind, "%s", history->journey [by]);
    else
    if (until <= now)
        rc = s_yield (self, txn, instance, person, history, decision, now, &until);
    free (history);
    if (rc)
        return -1;
    if (until > now)
        return s_verdict (decision, step->capped == LATE_SKIP ? SKIPPED : DEFERRED, until, "cap");
    return s_verdict (decision, SENT, 0, NULL);
}

void policy_test (bool verbose)
{
    if (verbose)
        printf (" * policy: ");
    cap_t cap;
    assert (cap_parse ("1/16h, 3/7d", &cap) == 0 && cap.size == 2);
    assert (cap.rule [0].count == 1 && cap.rule [0].window == 16 * 3600000LL);
    assert (cap.rule [1].count == 3 && cap.rule [1].window == 7 * 86400000LL);
    assert (cap_longest (&cap) == 7 * 86400000LL);
    assert (cap_parse ("none", &cap) == 0 && cap.size == 0 && cap.set);
    assert (cap_parse ("1 per day", &cap) == -1);
    assert (cap_parse ("0/1h", &cap) == -1);
    s_history_t history = { .time = { 1000, 2000, 3000 },
                            .channel = { CHANNEL_EMAIL, CHANNEL_SMS, CHANNEL_EMAIL }, .size = 3 };
    cap_parse ("2/10s", &cap);
    int by = -1;
    assert (s_cap_until (&cap, &history, CHANNEL_COUNT, 3500, &by) == 12000 && by == 1);
    assert (s_cap_until (&cap, &history, CHANNEL_COUNT, 20000, &by) == 0 && by == -1);
    char journey [NAME_MAX_LEN];
    MDB_val key = { 13, (void *) "u\0welcome/1/h" };
    s_history_journey (&key, 2, journey);
    assert (streq (journey, "welcome"));
    key.mv_size = 9;                            //  "u\0welcome": no slash, no journey
    s_history_journey (&key, 2, journey);
    assert (streq (journey, ""));
    assert (s_cap_until (&cap, &history, CHANNEL_SMS, 3500, NULL) == 0);
    assert (s_cap_until (&cap, &history, CHANNEL_COUNT, 20000, NULL) == 0);
    s_history_t onsite = { .time = { 1000, 2000, 3000 },
                           .channel = { CHANNEL_ONSITE, CHANNEL_SMS, CHANNEL_ONSITE }, .size = 3 };
    assert (s_cap_until (&cap, &onsite, CHANNEL_COUNT, 3500, NULL) == 0);
    assert (s_cap_until (&cap, &onsite, CHANNEL_ONSITE, 3500, NULL) == 11000);
    quiet_t quiet;
    assert (quiet_parse ("21:00-09:00", &quiet) == 0 && quiet.start == 1260 && quiet.end == 540);
    assert (quiet_parse ("none", &quiet) == 0 && quiet.start == quiet.end);
    assert (quiet_parse ("9pm-9am", &quiet) == -1);
    assert (clock_parse ("24:00") == -1 && clock_parse ("07:30") == 450);
    channel_t channel;
    assert (channel_parse ("sms", &channel) == 0 && channel == CHANNEL_SMS);
    assert (channel_parse ("fax", &channel) == -1);
    if (verbose)
        printf ("OK\n");
}
