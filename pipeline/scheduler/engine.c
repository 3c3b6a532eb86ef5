/*  engine.c - runs an instance's steps until it waits or ends.

    Layer: engine: calls send.c, the rules (journey.c, cond.c, policy.c) and
    the store (instance.c, people.c).

    Steps run one after another in the same transaction until one makes
    the instance wait: a wait step (its timer), or a send step deferred by
    the policy (browsing, quiet hours, caps: a timer at the moment to look
    again). A wait counts from when the step before it finished: the
    trigger's time for the first, the moment a message went for the next,
    so a scheduler that was down sends late but keeps the journey's
    spacing. A branch goes on with the first step of the arm it takes; the
    last step of an arm goes on after the branch (step->next). A journey
    file's goto cannot make the engine spin: it runs at most
    ENGINE_STEPS_MAX steps without waiting, then ends the instance.       */
#include "engine.h"
#include "cond.h"
#include "instance.h"
#include "journey.h"
#include "people.h"
#include "policy.h"
#include "send.h"

#define ENGINE_STEPS_MAX 128

static int64_t s_wait_due (scheduler_t *self, MDB_txn *txn, const instance_t *instance,
                           const step_t *step, int64_t at)
{
    int64_t due = at + step->wait_for;
    if (step->until >= 0) {
        person_t *person = person_load (self, txn, record_str (instance->record, "user"));
        if (person)
            due = policy_next_local (self, person, due, step->until);
        person_destroy (&person);
    }
    return due;
}

//  What a check step's conditions see.
static json_t *s_check_view (scheduler_t *self, MDB_txn *txn, const instance_t *instance)
{
    json_t *record = instance->record;
    person_t *person = person_load (self, txn, record_str (record, "user"));
    json_t *view = person ? person_view (person) : json_object ();
    bool ordered = person && journey_ordered (instance->journey, person->last_order,
                                              record_int (record, "entered"));
    json_object_set_new (view, "ordered", json_boolean (ordered));
    json_object_set_new (view, "clicked", json_boolean (json_is_true (json_object_get (record, "clicked"))));
    json_object_set_new (view, "sent", json_integer ((json_int_t) record_int (record, "sent")));
    json_object_set (view, "data", json_object_get (record, "data"));
    json_object_set (view, "variant", json_object_get (record, "variant"));
    json_object_set (view, "arm", json_object_get (record, "arm"));
    person_destroy (&person);
    return view;
}

static bool s_holds (cond_t **conds, size_t count, json_t *view)
{
    bool holds = true;
    for (size_t i = 0; holds && i < count; i++)
        holds = cond_eval (conds [i], view);
    return holds;
}

static bool s_check (scheduler_t *self, MDB_txn *txn, const instance_t *instance, const step_t *step)
{
    json_t *view = s_check_view (self, txn, instance);
    bool holds = s_holds (step->conds, step->cond_count, view);
    json_decref (view);
    return holds;
}

//  A branch takes the first arm whose conditions hold. It sees what a
//  check sees, but "in segment" asks the segments the trigger came with
//  (the latest trigger's, with active = update): they are as of a time,
//  so a replay at any speed takes the same arm; the person's, updated by
//  every message, may be ahead of the clock. The record keeps the arm for
//  later checks ("arm = hesitating").
static int s_branch (scheduler_t *self, MDB_txn *txn, instance_t *instance, const step_t *step)
{
    json_t *view = s_check_view (self, txn, instance);
    json_t *segments = json_object_get (instance->record, "segments");
    if (json_is_array (segments))
        json_object_set (view, "segments", segments);
    const arm_t *arm = NULL;
    for (size_t i = 0; !arm && i < step->arm_count; i++)
        if (s_holds (step->arms [i].conds, step->arms [i].cond_count, view))
            arm = &step->arms [i];
    json_decref (view);
    if (!arm)
        return step->next;
    json_object_set_new (instance->record, "arm", json_string (arm->name));
    return arm->first;
}

static int s_split (const instance_t *instance, const step_t *step, int next)
{
    const variant_t *variant = journey_variant (instance->journey,
                                                record_str (instance->record, "variant"));
    (void) step;
    return variant && variant->jump >= 0 ? variant->jump : next;
}

//  One send step: 1 to go on, 0 when the instance now waits or ended.
static int s_send (scheduler_t *self, MDB_txn *txn, instance_t *instance, const step_t *step,
                   int64_t *at)
{
    int64_t now = nd_stage_now (self->stage);
    if (!json_object_get (instance->record, "since"))
        json_object_set_new (instance->record, "since", json_integer (now));
    send_result_t result;
    int64_t until = 0;
    attempt_t attempt = { 0, NULL, record_int (instance->record, "since") };
    if (send_step (self, txn, instance, step, &attempt, now, &result, &until))
        return -1;
    if (result == DEFERRED)
        return instance_sleep (self, txn, instance, until) ? -1 : 0;
    if (result == EXITED)
        return instance_finish (self, txn, instance, "ordered", now) ? -1 : 0;
    json_object_del (instance->record, "since");
    if (result == SENT)
        *at = now > *at ? now : *at;
    return 1;
}

//  The step the instance is on. Records keep its name as well as its
//  place, so an instance survives an operator inserting a step before
//  it; -1 if the journey no longer has that step.
static int64_t s_current (const journey_t *journey, json_t *record)
{
    int64_t index = record_int (record, "step");
    const char *name = record_str (record, "step_name");
    if (!name || !*name || (index >= 0 && (size_t) index < journey->step_count
                            && streq (journey->steps [index].name, name)))
        return index;
    for (size_t i = 0; i < journey->step_count; i++)
        if (streq (journey->steps [i].name, name))
            return (int64_t) i;
    return -1;
}

static void s_goto (const journey_t *journey, json_t *record, int index)
{
    json_object_set_new (record, "step", json_integer (index));
    json_object_set_new (record, "step_name", json_string (
        index >= 0 && (size_t) index < journey->step_count ? journey->steps [index].name : ""));
}

int engine_run (scheduler_t *self, MDB_txn *txn, instance_t *instance, int64_t at)
{
    const journey_t *journey = instance->journey;
    json_t *record = instance->record;
    for (int count = 0; count < ENGINE_STEPS_MAX; count++) {
        int64_t index = s_current (journey, record);
        if (index < 0)
            return instance_finish (self, txn, instance, "journey-changed", nd_stage_now (self->stage));
        if ((size_t) index >= journey->step_count)
            return instance_finish (self, txn, instance, "done", nd_stage_now (self->stage));
        const step_t *step = &journey->steps [index];
        int next = step->next, rc;
        switch (step->kind) {
            case STEP_WAIT:
                s_goto (journey, record, next);
                return instance_sleep (self, txn, instance, s_wait_due (self, txn, instance, step, at));
            case STEP_CHECK:
                next = s_check (self, txn, instance, step) ? next : step->otherwise;
                if (next < 0) {
                    char reason [80];
                    snprintf (reason, sizeof reason, "check:%s", step->name);
                    return instance_finish (self, txn, instance, reason, nd_stage_now (self->stage));
                }
                break;
            case STEP_SPLIT:
                next = s_split (instance, step, next);
                break;
            case STEP_BRANCH:
                next = s_branch (self, txn, instance, step);
                break;
            case STEP_SEND:
                if ((rc = s_send (self, txn, instance, step, &at)) <= 0)
                    return rc;
                break;
        }
        s_goto (journey, record, next);
    }
    nd_log ("journey %s: more than %d steps without a wait; ending the instance",
            journey->name, ENGINE_STEPS_MAX);
    return instance_finish (self, txn, instance, "loop", nd_stage_now (self->stage));
}
