/*  nd_stage_control - the control socket: STATS, HEALTH, PAUSE, RESUME,
    RELOAD, and the reload SIGHUP asks for too.

    Layer: runtime, the skeleton (nd_stage.c), below the loop, which calls
    it between batches. It reads the stage's counters and steers it from
    outside (nd-ctl, the supervisor); it stands apart from the loop
    because what an operator may ask is one list, read in one place.       */
#include "nd_private.h"

/* ------------------------------------------------------------ reload -- */

//  Between batches only (no transaction open): a reload never sees half a
//  batch, and a batch never sees half a set. The stage's hook loads and
//  checks the whole new set before it puts it in place, so a bad file
//  changes nothing and stops nothing.
int nd_stage_reload (nd_stage_t *stage, const char *by, char *what, size_t size)
{
    assert (!stage->txn);
    const nd_stage_def_t *def = stage->def;
    if (!def->reload) {
        snprintf (what, size, "%s has nothing to reload", def->name);
        nd_log ("%s: %s; running on", by, what);
        return -1;
    }
    *what = 0;
    int rc = def->reload (stage, stage->self, what, size);
    const char *reloads = def->reloads ? def->reloads : "files";
    if (rc == 0) {
        stage->reloads++;
        *stage->reload_refused = 0;
        nd_log ("reloaded: %s", what);
    }
    else {
        stage->reloads_refused++;
        snprintf (stage->reload_refused, sizeof stage->reload_refused, "%s", what);
        nd_log ("reload refused: %s; still running the previous %s", what, reloads);
    }
    return rc;
}

/* ----------------------------------------------------------- control -- */

//  A stage whose commits fail (state full, a disk error) takes nothing in
//  and says so, rather than "ok" while its upstream piles up; so does one
//  with an input that has had entries waiting for "stall-after" while its
//  position stood still. A paused stage is not stuck: it was asked to wait.
static json_t *s_health (nd_stage_t *stage)
{
    char since [32], reason [256];
    int64_t stalled;
    if (stage->failing)
        return json_pack ("{s:s, s:s, s:s, s:I, s:s}", "status", "stuck", "stage", stage->name,
                          "reason", stage->failing_reason, "failed_commits",
                          (json_int_t) stage->failing,
                          "since", nd_time_format (stage->failing_since, since));
    if (!stage->paused && nd_inputs_stalled (stage->inputs, nd_wall_ms (), stage->stall_after,
                                             reason, sizeof reason, &stalled))
        return json_pack ("{s:s, s:s, s:s, s:s}", "status", "stuck", "stage", stage->name,
                          "reason", reason, "since", nd_time_format (stalled, since));
    json_t *answer = json_pack ("{s:s, s:s}", "status", "ok", "stage", stage->name);
    if (stage->paused)
        json_object_set_new (answer, "paused", json_true ());
    return answer;
}

void nd_stage_control (nd_stage_t *stage)
{
    char *command = zstr_recv_nowait (stage->control);
    if (!command)
        return;
    json_t *answer;
    if (streq (command, "HEALTH") || streq (command, "health"))
        answer = s_health (stage);
    else
    if (streq (command, "PAUSE") || streq (command, "RESUME")) {
        //  Not kept across a restart: a stage always starts reading
        bool pause = streq (command, "PAUSE");
        if (pause != stage->paused)
            nd_log ("%s by the control socket", pause ? "inputs paused" : "inputs resumed");
        stage->paused = pause;
        answer = json_pack ("{s:s, s:b}", "stage", stage->name, "paused", pause);
    }
    else
    if (streq (command, "RELOAD")) {
        char what [512];
        int rc = nd_stage_reload (stage, "RELOAD", what, sizeof what);
        answer = json_pack ("{s:s, s:b, s:s}", "stage", stage->name, "reloaded", rc == 0,
                            rc == 0 ? "what" : "error", what);
    }
    else
    if (streq (command, "STATS") || streq (command, "stats")) {
        char stamp [32];
        answer = json_pack ("{s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:I}",
            "stage", stage->name,
            "clock", nd_clock_is_event (stage->clock) ? "event" : "wall",
            "now", nd_time_format (nd_clock_now (stage->clock), stamp),
            "uptime_ms", (json_int_t) (zclock_mono () - stage->started),
            "applied_since_start", (json_int_t) stage->applied, "rejected", (json_int_t) stage->rejected,
            "emitted", (json_int_t) stage->emitted, "commits", (json_int_t) stage->commits,
            "failed_commits", (json_int_t) stage->failed_commits);
        json_object_set_new (answer, "paused", json_boolean (stage->paused));
        json_object_set_new (answer, "reloads", json_pack ("{s:I, s:I, s:s}",
            "done", (json_int_t) stage->reloads, "refused", (json_int_t) stage->reloads_refused,
            "last_refused", stage->reload_refused));
        json_t *inputs = json_object ();
        for (size_t i = 0; i < nd_inputs_count (stage->inputs); i++)
            nd_inlink_stats (nd_inputs_link (stage->inputs, i), inputs);
        json_object_set_new (answer, "inputs", inputs);
        nd_outbox_stats (stage->outbox, answer);
        if (stage->def->stats)
            stage->def->stats (stage->self, answer);
    }
    else
        answer = json_pack ("{s:s}", "error",
                            "unknown command; try STATS, HEALTH, PAUSE, RESUME or RELOAD");
    char *text = json_dumps (answer, JSON_COMPACT);
    zstr_send (stage->control, text);
    free (text);
    json_decref (answer);
    zstr_free (&command);
}
