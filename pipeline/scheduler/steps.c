/*  steps.c - a journey's steps section, read: wait, send, check, split,
    and a branch with its arms (engine.c runs them).

    Layer: rules: calls loader.c, journey.c (an arm's name must not be a
    variant's) and the base.

    The steps are one array: the top-level ones first, in file order, so
    a goto names its place among them; then each branch's arms' steps,
    named "<step>.<arm>". Every step says which comes after it (next):
    the next in its list, after an arm's last the step after its branch. */
#include <assert.h>
#include "steps.h"
#include "journey.h"
#include "loader.h"

/* ------------------------------------------------------------ values -- */

//  "10%", "2.5%" or "10" into basis points.
static int s_share (loader_t *loader, zconfig_t *node, int64_t *points)
{
    char *end;
    double value = strtod (loader_value (node), &end);
    if (end == loader_value (node) || (*end && !streq (end, "%")) || value < 0 || value > 100)
        return loader_fail (loader, node, "%s: not a share such as 10%%", zconfig_name (node));
    *points = (int64_t) (value * 100 + 0.5);
    return 0;
}

static int s_number (loader_t *loader, zconfig_t *node, int64_t low, int64_t high,
                     int64_t *value)
{
    char *end;
    long long number = strtoll (loader_value (node), &end, 10);
    if (end == loader_value (node) || (*end && !streq (end, "%")) || number < low || number > high)
        return loader_fail (loader, node, "%s: not a whole number from %lld to %lld",
                            zconfig_name (node), (long long) low, (long long) high);
    *value = number;
    return 0;
}

/* ------------------------------------------------------------- steps -- */

static int s_channels (loader_t *loader, zconfig_t *node, step_t *step)
{
    char *list = strdup (loader_value (node)), *save = NULL;
    int rc = 0;
    for (char *name = strtok_r (list, ", ", &save); rc == 0 && name;
         name = strtok_r (NULL, ", ", &save)) {
        channel_t channel;
        if (channel_parse (name, &channel))
            rc = loader_fail (loader, node,
                              "channels: unknown channel '%s' (push, sms, email, onsite, whatsapp)", name);
        for (size_t i = 0; rc == 0 && i < step->channel_count; i++)
            if (step->channels [i] == channel)
                rc = loader_fail (loader, node, "channels: '%s' twice", name);
        if (rc == 0)
            step->channels [step->channel_count++] = channel;
    }
    free (list);
    if (rc == 0 && step->channel_count == 0)
        rc = loader_fail (loader, node,
                          "channels: name at least one of push, sms, email, onsite, whatsapp");
    return rc;
}

static int s_late (loader_t *loader, zconfig_t *node, late_t *late)
{
    if (streq (loader_value (node), "defer") || streq (loader_value (node), "skip")) {
        *late = streq (loader_value (node), "defer") ? LATE_DEFER : LATE_SKIP;
        return 0;
    }
    return loader_fail (loader, node, "%s: must be defer or skip", zconfig_name (node));
}

static int s_code (loader_t *loader, zconfig_t *node, step_t *step)
{
    step->code = true;
    step->code_percent = 10;
    step->code_valid = 48 * 3600000LL;
    step->code_prefix = strdup ("NUDGE");
    for (zconfig_t *c = zconfig_child (node); c; c = zconfig_next (c)) {
        const char *name = zconfig_name (c);
        int rc = streq (name, "percent") ? s_number (loader, c, 1, 100, &step->code_percent)
               : streq (name, "valid") ? loader_duration (loader, c, &step->code_valid)
               : streq (name, "prefix") ? 0
               : loader_fail (loader, c, "code: unknown option '%s' (percent, valid, prefix)", name);
        if (rc)
            return -1;
        if (streq (name, "prefix")) {
            size_t length = strlen (loader_value (c));
            if (length == 0 || length > 12
            ||  strspn (loader_value (c), "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") != length)
                return loader_fail (loader, c, "prefix: 1 to 12 capital letters or digits");
            free (step->code_prefix);
            step->code_prefix = strdup (loader_value (c));
        }
    }
    if (step->code_valid <= 0)
        return loader_fail (loader, node, "code: valid must be longer than 0");
    return 0;
}

static int s_send (loader_t *loader, zconfig_t *node, journey_t *journey, step_t *step)
{
    step->max_delay = -1;
    for (zconfig_t *c = zconfig_child (node); c; c = zconfig_next (c)) {
        const char *name = zconfig_name (c);
        int rc = streq (name, "channels") ? s_channels (loader, c, step)
               : streq (name, "quiet-hours") ? s_late (loader, c, &step->quiet)
               : streq (name, "over-cap") ? s_late (loader, c, &step->capped)
               : streq (name, "max-delay") ? loader_duration (loader, c, &step->max_delay)
               : streq (name, "code") ? s_code (loader, c, step)
               : streq (name, "template") ? 0
               : loader_fail (loader, c, "send: unknown option '%s' (channels, template, quiet-hours,"
                              " over-cap, max-delay, code)", name);
        if (rc)
            return -1;
        if (streq (name, "template"))
            step->template_id = strdup (loader_value (c));
    }
    if (step->channel_count == 0)
        return loader_fail (loader, node, "send %s: needs channels", step->name);
    if (!step->template_id)
        step->template_id = zsys_sprintf ("%s/%s", journey->name, step->name);
    return 0;
}

static int s_wait (loader_t *loader, zconfig_t *node, step_t *step)
{
    for (zconfig_t *c = zconfig_child (node); c; c = zconfig_next (c)) {
        const char *name = zconfig_name (c);
        int rc = streq (name, "for") ? loader_duration (loader, c, &step->wait_for) : 0;
        if (streq (name, "until") && (step->until = clock_parse (loader_value (c))) < 0)
            rc = loader_fail (loader, c, "until: not a local time of day such as 10:00");
        if (!streq (name, "for") && !streq (name, "until"))
            rc = loader_fail (loader, c, "wait: unknown option '%s' (for, until)", name);
        if (rc)
            return -1;
    }
    if (step->wait_for == 0 && step->until < 0)
        return loader_fail (loader, node, "wait %s: needs 'for' or 'until'", step->name);
    return 0;
}

//  Step names a goto or else may name; resolved once all steps are read.
//  Inside a branch's arm, the steps of that arm (its "when" lines are no
//  steps): a jump out of an arm would skip what the branch decided.
static int s_jump (loader_t *loader, zconfig_t *node, journey_t *journey, zconfig_t *steps)
{
    const char *target = loader_value (node);
    int index = loader->base;
    for (zconfig_t *s = zconfig_child (steps); s; s = zconfig_next (s)) {
        if (streq (zconfig_name (s), "when"))
            continue;
        if (streq (loader_value (s), target))
            return index;
        index++;
    }
    if (streq (zconfig_name (node), "else") && streq (target, "exit"))
        return -1;
    if (loader->arm)
        loader_fail (loader, node, "%s: arm %s has no step '%s' (a goto or else in an arm stays in"
                     " it)", zconfig_name (node), *loader->arm ? loader->arm : "default", target);
    else
        loader_fail (loader, node, "%s: journey %s has no step '%s'", zconfig_name (node),
                     journey->name, target);
    return -2;
}

static int s_check (loader_t *loader, zconfig_t *node, journey_t *journey, step_t *step,
                    zconfig_t *steps)
{
    step->otherwise = -1;
    for (zconfig_t *c = zconfig_child (node); c; c = zconfig_next (c)) {
        const char *name = zconfig_name (c);
        int rc = 0;
        if (streq (name, "if"))
            rc = loader_cond (loader, c, &step->conds, &step->cond_count);
        else
        if (streq (name, "else"))
            rc = (step->otherwise = s_jump (loader, c, journey, steps)) == -2 ? -1 : 0;
        else
            rc = loader_fail (loader, c, "check: unknown option '%s' (if, else)", name);
        if (rc)
            return -1;
    }
    if (step->cond_count == 0)
        return loader_fail (loader, node, "check %s: needs at least one 'if'", step->name);
    return 0;
}

static int s_variant (loader_t *loader, zconfig_t *node, journey_t *journey, step_t *step,
                      zconfig_t *steps)
{
    const char *name = loader_value (node);
    if (!loader_name_ok (name) || streq (name, "holdout"))
        return loader_fail (loader, node, "variant: '%s' is not a name (a-z, 0-9, -, _; not holdout)",
                            name);
    step->variants = (variant_t *) realloc (step->variants,
                                            (step->variant_count + 1) * sizeof (variant_t));
    variant_t *variant = &step->variants [step->variant_count++];
    *variant = (variant_t) { strdup (name), 1, -1 };
    for (zconfig_t *c = zconfig_child (node); c; c = zconfig_next (c)) {
        const char *option = zconfig_name (c);
        int rc = streq (option, "weight") ? s_number (loader, c, 0, 1000000, &variant->weight)
               : streq (option, "goto") ? ((variant->jump = s_jump (loader, c, journey, steps)) < -1 ? -1 : 0)
               : loader_fail (loader, c, "variant: unknown option '%s' (weight, goto)", option);
        if (rc)
            return -1;
    }
    return 0;
}

static int s_split (loader_t *loader, zconfig_t *node, journey_t *journey, step_t *step,
                    zconfig_t *steps)
{
    for (zconfig_t *c = zconfig_child (node); c; c = zconfig_next (c)) {
        int rc = streq (zconfig_name (c), "holdout") ? s_share (loader, c, &step->holdout)
               : streq (zconfig_name (c), "variant") ? s_variant (loader, c, journey, step, steps)
               : loader_fail (loader, c, "split: unknown option '%s' (holdout, variant)",
                              zconfig_name (c));
        if (rc)
            return -1;
    }
    int64_t total = 0;
    for (size_t i = 0; i < step->variant_count; i++)
        total += step->variants [i].weight;
    if (step->variant_count == 0 || total == 0)
        return loader_fail (loader, node, "split %s: needs a variant with a weight", step->name);
    for (size_t i = 0; i < step->variant_count; i++)
        for (size_t j = i + 1; j < step->variant_count; j++)
            if (streq (step->variants [i].name, step->variants [j].name))
                return loader_fail (loader, node, "split %s: variant '%s' twice", step->name,
                                    step->variants [i].name);
    return 0;
}

static int s_step (loader_t *loader, zconfig_t *node, journey_t *journey, step_t *step,
                   zconfig_t *steps)
{
    const char *kind = zconfig_name (node);
    step->name = strdup (loader_value (node));
    step->until = -1;
    loader->step_nodes [step - journey->steps] = node;
    if (!loader_name_ok (step->name))
        return loader_fail (loader, node, "%s: step name '%s' is not a name (a-z, 0-9, -, _)",
                            kind, step->name);
    for (zconfig_t *s = zconfig_child (steps); s != node; s = zconfig_next (s))
        if (!streq (zconfig_name (s), "when") && streq (loader_value (s), step->name))
            return loader_fail (loader, node, "step name '%s' used twice", step->name);
    //  An arm's steps are "<step>.<arm>" in counters, reports and template
    //  folders; an unnamed default's keep their names (see s_arms).
    if (loader->arm && *loader->arm) {
        char *qualified = zsys_sprintf ("%s.%s", step->name, loader->arm);
        free (step->name);
        step->name = qualified;
    }
    for (const step_t *s = journey->steps; loader->arm && s < step; s++)
        if (streq (s->name, step->name))
            return loader_fail (loader, node, "step name '%s' used twice", step->name);
    if (streq (kind, "wait"))
        return step->kind = STEP_WAIT, s_wait (loader, node, step);
    if (streq (kind, "send"))
        return step->kind = STEP_SEND, s_send (loader, node, journey, step);
    if (streq (kind, "check"))
        return step->kind = STEP_CHECK, s_check (loader, node, journey, step, steps);
    if (loader->arm && (streq (kind, "split") || streq (kind, "branch")))
        return loader_fail (loader, node, "%s %s: a branch's arm holds no %s (a split stays at the"
                            " top, to measure the whole journey)", kind, loader_value (node), kind);
    if (streq (kind, "branch"))
        return step->kind = STEP_BRANCH, 0;     //  its arms: s_arms, once the top is read
    if (streq (kind, "split")) {
        if (journey->split >= 0)
            return loader_fail (loader, node, "a journey has at most one split");
        journey->split = (int) (step - journey->steps);
        return step->kind = STEP_SPLIT, s_split (loader, node, journey, step, steps);
    }
    return loader_fail (loader, node, "unknown step '%s' (wait, send, check, split, branch)", kind);
}

//  One arm of a branch: its conditions, then its steps, appended to the
//  journey's; the last goes on after the branch.
static int s_arm (loader_t *loader, zconfig_t *node, journey_t *journey, step_t *branch,
                  arm_t *arm)
{
    bool fallback = streq (zconfig_name (node), "default");
    const char *name = loader_value (node);
    if (!fallback && !streq (zconfig_name (node), "arm"))
        return loader_fail (loader, node, "branch: unknown option '%s' (arm, default)",
                            zconfig_name (node));
    if ((*name || !fallback) && !loader_name_ok (name))
        return loader_fail (loader, node, "%s: '%s' is not a name (a-z, 0-9, -, _)",
                            zconfig_name (node), name);
    //  templates/<journey>/<step>.<name> would be both's folder
    if (*name && journey_variant (journey, name))
        return loader_fail (loader, node, "%s: '%s' is a variant's name too", zconfig_name (node), name);
    for (const arm_t *other = branch->arms; other < arm; other++)
        if (streq (other->name, name))
            return loader_fail (loader, node, "branch %s: arm '%s' twice", branch->name, name);
    arm->name = strdup (name);
    arm->first = (int) journey->step_count;
    loader->arm = arm->name;
    loader->base = arm->first;
    for (zconfig_t *c = zconfig_child (node); c; c = zconfig_next (c)) {
        int rc = !streq (zconfig_name (c), "when")
               ? s_step (loader, c, journey, &journey->steps [journey->step_count++], node)
               : fallback ? loader_fail (loader, c, "default: takes no 'when' (it is for whoever no"
                                         " arm took)")
               : loader_cond (loader, c, &arm->conds, &arm->cond_count);
        if (rc)
            return -1;
    }
    if (!fallback && arm->cond_count == 0)
        return loader_fail (loader, node, "arm %s: needs at least one 'when'", name);
    for (size_t i = (size_t) arm->first; i < journey->step_count; i++)
        journey->steps [i].next = i + 1 < journey->step_count ? (int) i + 1 : branch->next;
    if ((size_t) arm->first == journey->step_count)
        arm->first = branch->next;
    loader->arm = NULL;
    loader->base = 0;
    return 0;
}

//  The arms in their order, the default (if any) last whatever its place.
static int s_arms (loader_t *loader, zconfig_t *node, journey_t *journey, step_t *branch)
{
    size_t count = 0;
    for (zconfig_t *c = zconfig_child (node); c; c = zconfig_next (c))
        count++;
    if (count == 0)
        return loader_fail (loader, node, "branch %s: needs an arm", branch->name);
    branch->arms = (arm_t *) zmalloc (count * sizeof (arm_t));
    for (zconfig_t *c = zconfig_child (node); c; c = zconfig_next (c))
        if (s_arm (loader, c, journey, branch, &branch->arms [branch->arm_count++]))
            return -1;
    for (size_t i = 0; i + 1 < count; i++)
        if (branch->arms [i].cond_count == 0) {
            arm_t fallback = branch->arms [i];
            memmove (&branch->arms [i], &branch->arms [i + 1], (count - i - 1) * sizeof (arm_t));
            branch->arms [count - 1] = fallback;
            break;
        }
    return 0;
}

//  The top-level steps first, each going on to the one after it, so a
//  goto names its place among them; then each branch's arms, after them.
int steps_read (loader_t *loader, zconfig_t *node, journey_t *journey)
{
    size_t top = 0, count = 0;
    for (zconfig_t *s = zconfig_child (node); s; s = zconfig_next (s), top++, count++)
        for (zconfig_t *a = streq (zconfig_name (s), "branch") ? zconfig_child (s) : NULL; a;
             a = zconfig_next (a))
            for (zconfig_t *c = zconfig_child (a); c; c = zconfig_next (c))
                count += !streq (zconfig_name (c), "when");
    if (top == 0 || count > 64)
        return loader_fail (loader, node, "steps: between 1 and 64 steps (an arm's count too)");
    journey->steps = (step_t *) zmalloc (count * sizeof (step_t));
    loader->step_nodes = (zconfig_t **) zmalloc (count * sizeof (zconfig_t *));
    for (zconfig_t *s = zconfig_child (node); s; s = zconfig_next (s))
        if (s_step (loader, s, journey, &journey->steps [journey->step_count++], node))
            return -1;
    for (size_t i = 0; i < top; i++)
        journey->steps [i].next = i + 1 < top ? (int) i + 1 : (int) count;
    zconfig_t *s = zconfig_child (node);
    for (size_t i = 0; i < top; i++, s = zconfig_next (s))
        if (journey->steps [i].kind == STEP_BRANCH
        &&  s_arms (loader, s, journey, &journey->steps [i]))
            return -1;
    assert (journey->step_count == count);
    return 0;
}
