/*  nd_stage_batch - one batch: the write transaction and the event clock.

    Layer: runtime, the skeleton (nd_stage.c), below the loop and setup,
    above emitting. The loop reads inputs into one transaction, the clock
    stopping at each due time on the way (event time), and commits state,
    outputs, input positions and the clock together, or none of them. It
    stands apart from the loop so the rule "one batch, one transaction" is
    read in one place; the keys it stores positions and the clock under
    are here too, and setup reads them back with the same builders.        */
#include "nd_private.h"

int nd_stage_input_key (nd_key_t *key, const char *upstream)
{
    nd_key_init (key);
    nd_key_str (key, "in");
    nd_key_str (key, upstream);
    return 0;
}

//  Event time survives a restart: a stage that comes back resumes at the
//  time it had reached (its timers and outboxes are due by it), not at 0.
void nd_stage_clock_key (nd_key_t *key)
{
    nd_key_init (key);
    nd_key_str (key, "clock");
}

/* -------------------------------------------------------------- batch -- */

int nd_stage_begin (nd_stage_t *stage)
{
    if (stage->txn)
        return 0;
    int rc = mdb_txn_begin (stage->env, NULL, 0, &stage->txn);
    if (rc) {
        stage->txn = NULL;
        return nd_db_error (rc, "begin");
    }
    return 0;
}

void nd_stage_run_timers (nd_stage_t *stage)
{
    if (stage->def->timers && nd_stage_begin (stage) == 0)
        stage->def->timers (stage, stage->self, stage->txn, nd_clock_now (stage->clock));
}

//  Event time: the clock stops at each due time before until (the next
//  message's time) and fires what is due there. A stage whose timers
//  leave something due (a batch limit) is passed by: the rest fire at
//  until, as before. Bounded, so a timers callback that keeps a due time
//  in the past cannot hold the loop.
static void s_step_to (nd_stage_t *stage, int64_t until)
{
    if (!nd_clock_is_event (stage->clock) || !stage->def->next_due || !stage->def->timers)
        return;
    for (int step = 0; step < ND_DUE_STEPS_MAX && nd_stage_begin (stage) == 0; step++) {
        int64_t due = stage->def->next_due (stage, stage->self, stage->txn);
        if (due <= nd_clock_now (stage->clock) || due >= until)
            return;
        nd_clock_advance (stage->clock, due);
        nd_stage_run_timers (stage);
    }
}

//  Each tick time goes downstream once: two inputs may carry the same
//  tick, and in a cycle (scheduler -> sender -> scheduler, for feedback)
//  a tick passed on every time would go round for ever. In event time a
//  tick says how far this stage's clock has got, so only a time input's
//  tick is passed on, as the clock it brought us to.
static void s_forward_tick (nd_stage_t *stage, const nd_input_msg_t *in)
{
    bool event = nd_clock_is_event (stage->clock);
    if (event && !in->keeps_time)
        return;
    int64_t time = event ? nd_clock_now (stage->clock) : in->msg.time;
    if (time <= stage->tick_forwarded)
        return;
    stage->tick_forwarded = time;
    char id [48], stamp [32];
    snprintf (id, sizeof id, "tick-%lld", (long long) time);
    json_t *body = json_pack ("{s:s, s:s, s:s}", "id", id, "user", "",
                              "time", nd_time_format (time, stamp));
    nd_emit (stage, stage->txn, "tick", body);
    json_decref (body);
}

//  One message from an upstream journal: move the clock where the inputs
//  say, fire what became due, then let the stage apply it.
static void s_apply_input (nd_stage_t *stage, nd_input_msg_t *in)
{
    if (!in->msg.body) {
        char reason [200];
        snprintf (reason, sizeof reason, "body is not a JSON object: %s", in->error);
        nd_stage_reject (stage, &in->msg, reason);
        return;
    }
    int64_t before = nd_clock_now (stage->clock);
    s_step_to (stage, in->clock);
    nd_clock_advance (stage->clock, in->clock);
    if (nd_clock_is_event (stage->clock) && nd_clock_now (stage->clock) > before)
        nd_stage_run_timers (stage);
    if (in->sibling && !streq (in->msg.topic, "move.out") && !streq (in->msg.topic, "move.pass"))
        ;   //  a sibling partition is read for its moves alone
    else
    if (streq (in->msg.topic, "tick"))
        s_forward_tick (stage, in);
    else
    if (strncmp (in->msg.topic, "move.", 5) == 0) {
        if (nd_moves_apply (stage->moves, stage, stage->txn, &in->msg, in->sibling) == 0)
            stage->applied++;
    }
    else
    if (stage->def->apply && stage->def->apply (stage, stage->self, stage->txn, &in->msg) == 0)
        stage->applied++;
}

//  In event time a stage with work due now (a sender whose orders are
//  out with its workers) takes nothing that would move its clock until
//  that work is done: the clock waits for it, as the wall clock would
//  barely have moved.
bool nd_stage_busy (nd_stage_t *stage)
{
    return nd_clock_is_event (stage->clock) && stage->busy && stage->busy (stage->busy_arg);
}

void nd_stage_read_inputs (nd_stage_t *stage)
{
    size_t budget = ND_BATCH_MAX * nd_inputs_count (stage->inputs);
    nd_input_msg_t in;
    nd_inputs_rearm (stage->inputs);
    while (budget-- > 0
       &&  nd_inputs_next (stage->inputs, nd_clock_now (stage->clock), nd_stage_busy (stage), &in) == 1) {
        if (nd_stage_begin (stage) == 0)
            s_apply_input (stage, &in);
        nd_input_msg_close (&in);
    }
    for (size_t i = 0; i < nd_inputs_count (stage->inputs); i++)
        if (nd_inlink_dirty (nd_inputs_link (stage->inputs, i)))
            nd_stage_begin (stage);
}

//  Commits state, outputs and input positions together, or none of them.
int nd_stage_commit (nd_stage_t *stage)
{
    if (!stage->txn)
        return 0;
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < nd_inputs_count (stage->inputs); i++) {
        nd_inlink_t *link = nd_inputs_link (stage->inputs, i);
        if (nd_inlink_dirty (link)) {
            nd_key_t key;
            nd_stage_input_key (&key, nd_inlink_upstream (link));
            rc = nd_db_put_u64 (stage->txn, stage->meta, &key, nd_inlink_position (link));
        }
    }
    int64_t now = nd_clock_now (stage->clock);
    if (rc == 0 && nd_clock_is_event (stage->clock) && now != stage->clock_saved) {
        nd_key_t key;
        nd_stage_clock_key (&key);
        rc = nd_db_put_u64 (stage->txn, stage->meta, &key, (uint64_t) now);
    }
    if (rc == 0)
        rc = nd_outbox_seal (stage->outbox, stage->txn);
    if (rc == 0) {
        int mdb_rc = mdb_txn_commit (stage->txn);
        rc = mdb_rc ? nd_db_error (mdb_rc, "commit") : 0;
    }
    else
        mdb_txn_abort (stage->txn);
    stage->txn = NULL;
    if (rc == 0) {
        if (stage->failing)
            nd_log ("committing again after %llu failed commits",
                    (unsigned long long) stage->failing);
        stage->failing = 0;
        stage->commits++;
        stage->clock_saved = now;
        nd_outbox_committed (stage->outbox);
        for (size_t i = 0; i < nd_inputs_count (stage->inputs); i++)
            nd_inlink_committed (nd_inputs_link (stage->inputs, i));
    }
    else {
        stage->failed_commits++;
        if (stage->failing++ == 0) {
            stage->failing_since = nd_wall_ms ();
            snprintf (stage->failing_reason, sizeof stage->failing_reason, "%s", nd_log_last ());
        }
        nd_outbox_aborted (stage->outbox);
        nd_inputs_aborted (stage->inputs);
        nd_moves_reload (stage->moves, stage->env);
    }
    nd_stage_publish_all (stage, rc == 0);
    if (stage->def->source_committed)
        stage->def->source_committed (stage, stage->self, rc);
    return rc;
}

void nd_stage_reject (nd_stage_t *stage, const nd_msg_t *msg, const char *reason)
{
    stage->rejected++;
    nd_log ("rejected %s #%llu from %s: %s", msg->topic, (unsigned long long) msg->seq,
            msg->link ? msg->link : "input", reason);
}
