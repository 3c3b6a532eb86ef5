/*  send.c - one send step: ask the policy, then emit the send order.

    Layer: engine: calls attribution.c, the rules (policy.c, templates.c) and
    the store (codes.c, counters.c, instance.c, people.c, timers.c).

    A send order goes out on topic "send.<channel>" in the same
    transaction as everything it records: the person's message history
    (caps), their last touch (attribution), the instance's progress and
    any discount code. So a crash either loses the step's state and its
    order together - the timer is still there and fires again - or keeps
    both; the order's idempotency key ("<journey>/<instance>/<step>/
    <channel>") lets the sender drop what it has already delivered.

    People in a holdout go through the same steps and the same policy, so
    their timeline matches those who get messages; where a message would
    go, it is counted ("held") instead.

    A fallback is the same step on the channels after the one that
    failed, once: its own idempotency key, the same code and data.       */
#include <math.h>
#include "nd_templates.h"
#include "send.h"
#include "attribution.h"
#include "codes.h"
#include "counters.h"
#include "instance.h"
#include "people.h"
#include "policy.h"
#include "templates.h"
#include "timers.h"

/* --------------------------------------------------------------- data -- */

//  The code as a template shows it: its expiry also as the person's own
//  wall-clock time, "2026-03-05 13:06" (expires_local) and the date alone
//  (expires_date), which every locale reads; "expires" stays UTC ISO 8601.
static json_t *s_code_shown (scheduler_t *self, person_t *person, json_t *code)
{
    json_t *shown = json_deep_copy (code);
    int64_t expires;
    const char *text = json_string_value (json_object_get (code, "expires"));
    if (!text || nd_time_parse (text, &expires))
        return shown;
    int32_t offset = 0;
    nd_tz_offset (self->tz, person_timezone (self, person), expires, &offset);
    char stamp [32], local [24];
    nd_time_format (expires + (int64_t) offset * 1000, stamp);    //  2026-03-05T13:06:00.000Z
    snprintf (local, sizeof local, "%.10s %.5s", stamp, stamp + 11);
    json_object_set_new (shown, "expires_local", json_string (local));
    json_object_set_new (shown, "expires_date", json_stringn (local, 10));
    return shown;
}

//  What a template sees: the trigger's data (the cart with prices as
//  text), the person's name, the code, the shop.
static json_t *s_template_data (scheduler_t *self, const instance_t *instance,
                                person_t *person, json_t *code, const char *locale,
                                char *name, size_t name_size)
{
    json_t *data = json_deep_copy (json_object_get (instance->record, "data"));
    if (!json_is_object (data)) {
        json_decref (data);
        data = json_object ();
    }
    nd_templates_context (self->formats, data, json_object_get (person->record, "traits"), locale);
    snprintf (name, name_size, "%s", json_string_value (json_object_get (data, "name")));
    if (code)
        json_object_set_new (data, "code", s_code_shown (self, person, code));
    //  The code's expiry and an order's date for the locale, in their zone
    nd_templates_dates (self->formats, data, locale, person_timezone (self, person));
    json_object_set (data, "shop", self->shop);
    return data;
}

/* ------------------------------------------------------------- order -- */

static json_t *s_code (scheduler_t *self, MDB_txn *txn, const instance_t *instance,
                       const step_t *step, json_t *sent, int64_t now)
{
    if (!step->code)
        return NULL;
    json_t *code = json_object_get (sent, "code");
    return code ? json_incref (code) : codes_issue (self, txn, instance, step, now);
}

//  Where the message must not arrive after: the person's next quiet hours.
static void s_not_after (scheduler_t *self, const instance_t *instance, person_t *person,
                         int64_t now, json_t *body)
{
    limits_t limits;
    policy_limits (self, instance->journey, &limits);
    if (!limits.quiet.set || limits.quiet.start == limits.quiet.end)
        return;
    char stamp [32];
    int64_t limit = policy_next_local (self, person, now, limits.quiet.start);
    json_object_set_new (body, "not_after", json_string (nd_time_format (limit, stamp)));
}

static json_t *s_order (scheduler_t *self, const instance_t *instance, const step_t *step,
                        person_t *person, channel_t channel, const char *key, json_t *code,
                        int64_t now)
{
    char template [160], locale [32], name [200], id [48];
    json_t *record = instance->record;
    const char *variant = record_str (record, "variant");
    templates_resolve (self->templates, step->template_id, variant, channel,
                       person_locale (person), template, locale);
    json_t *data = s_template_data (self, instance, person, code, locale, name, sizeof name);
    json_t *body = json_pack ("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:O, s:s, s:s, s:o, s:s}",
        "user", person->user, "idempotency_key", key, "journey", instance->journey->name,
        "instance", instance_name (self, instance, id), "step", step->name, "variant", variant,
        "channel", channel_name (channel), "to", person_contact (person, channel),
        "locale", locale, "template", template, "data", data, "name", name);
    if (channel != CHANNEL_ONSITE)          //  quiet hours are not the page's
        s_not_after (self, instance, person, now, body);
    return body;
}

static int s_emit (scheduler_t *self, MDB_txn *txn, instance_t *instance, const step_t *step,
                   person_t *person, const decision_t *decision, const attempt_t *attempt,
                   int64_t now)
{
    json_t *sends = json_object_get (instance->record, "sends");
    json_t *sent = json_object_get (sends, step->name);
    char key [256], id [48], topic [32];
    snprintf (key, sizeof key, "%s/%s/%s/%s", instance->journey->name,
              instance_name (self, instance, id), step->name, channel_name (decision->channel));
    json_t *code = s_code (self, txn, instance, step, sent, now);
    if (step->code && !code)
        return -1;
    json_t *body = s_order (self, instance, step, person, decision->channel, key, code, now);
    if (attempt->fallback_of)
        json_object_set_new (body, "fallback_of", json_string (attempt->fallback_of));
    snprintf (topic, sizeof topic, "send.%s", channel_name (decision->channel));
    int rc = nd_emit (self->stage, txn, topic, body);
    json_decref (body);
    const char *variant = record_str (instance->record, "variant");
    if (rc == 0)
        rc = policy_record (self, txn, person->user, now, key, decision->channel)
          || attribution_touch (self, txn, instance, step->name, decision->channel, key, now)
          || counter_add (self, txn, instance->journey->name, variant, step->name,
                          channel_name (decision->channel), "sent", 1)
          || counter_add (self, txn, "", "", "", "", "sent", 1) ? -1 : 0;
    json_t *entry = json_pack ("{s:s, s:s, s:I, s:b}", "channel", channel_name (decision->channel),
                               "key", key, "time", (json_int_t) now, "fallback",
                               attempt->fallback_of != NULL);
    if (code)
        json_object_set_new (entry, "code", code);
    json_object_set_new (sends, step->name, entry);
    json_object_set_new (instance->record, "sent",
                         json_integer (record_int (instance->record, "sent") + 1));
    return rc;
}

static int s_count (scheduler_t *self, MDB_txn *txn, const instance_t *instance,
                    const step_t *step, const char *what, const char *reason)
{
    char metric [64];
    snprintf (metric, sizeof metric, "%s%s%s", what, reason ? ":" : "", reason ? reason : "");
    return counter_add (self, txn, instance->journey->name, record_str (instance->record, "variant"),
                        step->name, "", metric, 1);
}

//  The holdout's stand-in for a delivery: the first message it would have
//  got marks the instance reached, as feedback.delivered does a variant's.
static int s_hold (scheduler_t *self, MDB_txn *txn, instance_t *instance, const step_t *step,
                   int64_t now)
{
    if (!record_int (instance->record, "reached"))
        json_object_set_new (instance->record, "reached", json_integer (now));
    return s_count (self, txn, instance, step, "held", NULL);
}

int send_step (scheduler_t *self, MDB_txn *txn, instance_t *instance, const step_t *step,
               const attempt_t *attempt, int64_t now, send_result_t *result, int64_t *until)
{
    person_t *person = person_load (self, txn, record_str (instance->record, "user"));
    if (!person)
        return -1;
    decision_t decision;
    int rc = policy_decide (self, txn, instance, step, person, attempt, now, &decision);
    *result = decision.verdict;
    *until = decision.until;
    bool held = streq (record_str (instance->record, "variant"), "holdout");
    if (rc == 0 && decision.verdict == SENT)
        rc = held ? s_hold (self, txn, instance, step, now)
                  : s_emit (self, txn, instance, step, person, &decision, attempt, now);
    else
    if (rc == 0 && decision.verdict != EXITED)
        rc = s_count (self, txn, instance, step,
                      decision.verdict == DEFERRED ? "deferred" : "skipped", decision.reason);
    //  What the cap gave to which journey instead (nd-report's "lost to")
    if (rc == 0 && (decision.verdict == DEFERRED || decision.verdict == SKIPPED)
    &&  *decision.behind)
        rc = s_count (self, txn, instance, step, decision.verdict == DEFERRED
                      ? "cap-deferred-behind" : "cap-skipped-behind", decision.behind);
    person_destroy (&person);
    return rc;
}

/* ---------------------------------------------------------- fallback -- */

static const step_t *s_step_named (const journey_t *journey, const char *name)
{
    for (size_t i = 0; name && i < journey->step_count; i++)
        if (streq (journey->steps [i].name, name))
            return &journey->steps [i];
    return NULL;
}

//  Tries the step from attempt on; a deferral keeps the fallback pending
//  under its own timer, apart from the instance's step timer.
static int s_fallback_try (scheduler_t *self, MDB_txn *txn, instance_t *instance,
                           const step_t *step, const attempt_t *attempt, int64_t now)
{
    send_result_t result;
    int64_t until;
    if (send_step (self, txn, instance, step, attempt, now, &result, &until))
        return -1;
    if (result != DEFERRED)
        return instance_store (self, txn, instance);
    json_object_set_new (instance->record, "fallback", json_pack ("{s:s, s:I, s:s, s:I, s:I}",
        "step", step->name, "first", (json_int_t) attempt->first, "failed", attempt->fallback_of,
        "since", (json_int_t) attempt->since, "due", (json_int_t) until));
    if (timers_add (self->timers, txn, until, instance->id, TIMER_FALLBACK))
        return -1;
    if (until <= now)
        scheduler_wake (self);
    return instance_store (self, txn, instance);
}

int send_fallback (scheduler_t *self, MDB_txn *txn, instance_t *instance, const char *key,
                   channel_t channel, int64_t now)
{
    json_t *record = instance->record;
    const char *state = record_str (record, "state");
    json_t *sends = json_object_get (record, "sends");
    const char *name;
    json_t *sent = NULL;
    json_object_foreach (sends, name, sent)
        if (streq (record_str (sent, "key") ? record_str (sent, "key") : "", key))
            break;
    if (!name)
        sent = NULL;                    //  no message of this instance has that key
    const step_t *step = instance->journey && sent ? s_step_named (instance->journey, name) : NULL;
    //  Once per step: not for a fallback's own failure, not twice.
    if (!step || streq (state, "exited") || json_is_true (json_object_get (sent, "fallback"))
    ||  json_is_true (json_object_get (sent, "fell_back")))
        return 0;
    json_object_set_new (sent, "fell_back", json_true ());
    //  The failed message reached nobody: it does not count against the caps.
    if (policy_forget (self, txn, record_str (record, "user"), record_int (sent, "time"), key))
        return -1;
    size_t first = 0;
    while (first < step->channel_count && step->channels [first] != channel)
        first++;
    attempt_t attempt = { first + 1, key, now };
    if (attempt.first >= step->channel_count) {
        if (s_count (self, txn, instance, step, "skipped", "no-fallback"))
            return -1;
        return instance_store (self, txn, instance);
    }
    return s_fallback_try (self, txn, instance, step, &attempt, now);
}

int send_fallback_fire (scheduler_t *self, MDB_txn *txn, instance_t *instance, int64_t now)
{
    json_t *fallback = json_incref (json_object_get (instance->record, "fallback"));
    const step_t *step = fallback && instance->journey
                       ? s_step_named (instance->journey, record_str (fallback, "step")) : NULL;
    int rc = 0;
    json_object_del (instance->record, "fallback");
    if (step && !streq (record_str (instance->record, "state"), "exited")) {
        attempt_t attempt = { (size_t) record_int (fallback, "first"),
                              record_str (fallback, "failed"), record_int (fallback, "since") };
        rc = s_fallback_try (self, txn, instance, step, &attempt, now);
    }
    json_decref (fallback);
    return rc;
}
