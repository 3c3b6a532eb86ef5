/*  journey.c - journeys as data: every conf/journeys (one .zpl file per journey), read at start.

    Layer: rules: calls cond.c and templates.c.

    A journey file is one ZPL section (see conf/journeys/abandoned-cart.zpl
    and nudge-journey(5) for every option):

        journey
            name = abandoned-cart
            trigger
                topic = cart.abandoned
                when = "cart.value > 0"
            qualify
                segment = known-contact
                not-segment = staff
            reentry
                key = cart.items.product_id
                every = 7d
            active = update
            exit = order.completed
            limits
                cap = "1/16h, 3/7d"
                quiet-hours = 21:00-09:00
            steps
                split = test
                    holdout = 10%
                    variant = a
                        weight = 50
                wait = after-leaving
                    for = 1h
                branch = kind
                    arm = hesitating
                        when = "in segment hesitating"
                        send = reminder-1
                            channels = "push, email"
                    default
                        send = reminder-1
                            channels = "push, sms, email"

    The steps are one array: the top-level ones first, in file order, so
    a goto names its place among them; then each branch's arms' steps,
    named "<step>.<arm>". Every step says which comes after it (next):
    the next in its list, after an arm's last the step after its branch.

    Anything wrong - an unknown option, a bad duration, a goto to no step,
    a template missing or not compiling - stops the program at start with
    "<file>:<line>: <reason>": a journey half understood would message
    real people. (An empty error: the runtime's ZPL loader has logged it.) */
#include <assert.h>
#include <dirent.h>
#include <stdarg.h>
#include "journey.h"
#include "cond.h"
#include "templates.h"

struct _journeys_t {
    journey_t **items;
    size_t size;
};

typedef struct {
    const char *file;
    zconfig_t **nodes;          //  every node in file order...
    int *lines;                 //  ...and the line it is on
    size_t count;
    templates_t *templates;
    char **error;
    zconfig_t **step_nodes;     //  each step's node, by its index
    int base;                   //  index of the first step of the list read
    const char *arm;            //  while an arm's steps are read: its name
} s_loader_t;

/* ------------------------------------------------------------- lines -- */

static void s_collect (s_loader_t *loader, zconfig_t *node, size_t *index)
{
    for (zconfig_t *child = zconfig_child (node); child; child = zconfig_next (child)) {
        if (*index < loader->count)
            loader->nodes [(*index)++] = child;
        s_collect (loader, child, index);
    }
}

//  zconfig keeps no line numbers, but it makes one node per line that is
//  not blank or a comment, in file order; pairing them up gives each node
//  its line.
static void s_map_lines (s_loader_t *loader, zconfig_t *root)
{
    FILE *file = fopen (loader->file, "r");
    char text [1024];
    int number = 0;
    size_t capacity = 64;
    loader->lines = (int *) zmalloc (capacity * sizeof (int));
    while (file && fgets (text, sizeof text, file)) {
        number++;
        const char *p = text + strspn (text, " \t");
        if (*p == '#' || *p == '\n' || *p == '\r' || *p == 0)
            continue;
        if (loader->count == capacity) {
            capacity *= 2;
            loader->lines = (int *) realloc (loader->lines, capacity * sizeof (int));
        }
        loader->lines [loader->count++] = number;
    }
    if (file)
        fclose (file);
    loader->nodes = (zconfig_t **) zmalloc ((loader->count + 1) * sizeof (zconfig_t *));
    size_t index = 0;
    s_collect (loader, root, &index);
}

static int s_line (s_loader_t *loader, zconfig_t *node)
{
    for (size_t i = 0; i < loader->count; i++)
        if (loader->nodes [i] == node)
            return loader->lines [i];
    return 0;
}

static int s_fail (s_loader_t *loader, zconfig_t *node, const char *format, ...)
{
    char reason [400];
    va_list args;
    va_start (args, format);
    vsnprintf (reason, sizeof reason, format, args);
    va_end (args);
    if (!*loader->error)
        *loader->error = zsys_sprintf ("%s:%d: %s", loader->file, s_line (loader, node), reason);
    return -1;
}

//  The runtime's loader logs a syntax error as "file:line: reason" itself;
//  an empty *error says that has been done.
static zconfig_t *s_load_file (const char *file, char **error)
{
    zconfig_t *root = nd_zpl_load (file);
    if (!root)
        *error = strdup ("");
    return root;
}

/* ------------------------------------------------------------ values -- */

static const char *s_value (zconfig_t *node)
{
    const char *value = zconfig_value (node);
    return value ? value : "";
}

static bool s_name_ok (const char *name)
{
    size_t length = strlen (name);
    return length > 0 && length < NAME_MAX_LEN
        && strspn (name, "abcdefghijklmnopqrstuvwxyz0123456789-_") == length;
}

static int s_duration (s_loader_t *loader, zconfig_t *node, int64_t *ms)
{
    if (nd_duration_parse (s_value (node), ms) || *ms < 0)
        return s_fail (loader, node, "%s: not a duration such as 30m, 24h or 7d",
                       zconfig_name (node));
    return 0;
}

//  "10%", "2.5%" or "10" into basis points.
static int s_share (s_loader_t *loader, zconfig_t *node, int64_t *points)
{
    char *end;
    double value = strtod (s_value (node), &end);
    if (end == s_value (node) || (*end && !streq (end, "%")) || value < 0 || value > 100)
        return s_fail (loader, node, "%s: not a share such as 10%%", zconfig_name (node));
    *points = (int64_t) (value * 100 + 0.5);
    return 0;
}

static int s_number (s_loader_t *loader, zconfig_t *node, int64_t low, int64_t high,
                     int64_t *value)
{
    char *end;
    long long number = strtoll (s_value (node), &end, 10);
    if (end == s_value (node) || (*end && !streq (end, "%")) || number < low || number > high)
        return s_fail (loader, node, "%s: not a whole number from %lld to %lld",
                       zconfig_name (node), (long long) low, (long long) high);
    *value = number;
    return 0;
}

static int s_cond (s_loader_t *loader, zconfig_t *node, cond_t ***conds, size_t *count)
{
    char *reason = NULL;
    cond_t *cond = cond_new (s_value (node), &reason);
    if (!cond) {
        s_fail (loader, node, "%s: %s", zconfig_name (node), reason);
        free (reason);
        return -1;
    }
    //  The spelling of the release before still works, for one release.
    if (nd_cond_modern (cond))
        nd_log ("%s:%d: \"%s\" is the old spelling; write \"%s\"", loader->file,
                s_line (loader, node), s_value (node), nd_cond_modern (cond));
    *conds = (cond_t **) realloc (*conds, (*count + 1) * sizeof (cond_t *));
    (*conds) [(*count)++] = cond;
    return 0;
}

//  Appends to a NULL-terminated list of strings.
static void s_list_add (char ***list, const char *value)
{
    size_t count = 0;
    while (*list && (*list) [count])
        count++;
    *list = (char **) realloc (*list, (count + 2) * sizeof (char *));
    (*list) [count] = strdup (value);
    (*list) [count + 1] = NULL;
}

static void s_list_free (char ***list)
{
    for (size_t i = 0; *list && (*list) [i]; i++)
        free ((*list) [i]);
    free (*list);
    *list = NULL;
}

/* ------------------------------------------------------------- steps -- */

static int s_channels (s_loader_t *loader, zconfig_t *node, step_t *step)
{
    char *list = strdup (s_value (node)), *save = NULL;
    int rc = 0;
    for (char *name = strtok_r (list, ", ", &save); rc == 0 && name;
         name = strtok_r (NULL, ", ", &save)) {
        channel_t channel;
        if (channel_parse (name, &channel))
            rc = s_fail (loader, node, "channels: unknown channel '%s' (push, sms, email, onsite, whatsapp)", name);
        for (size_t i = 0; rc == 0 && i < step->channel_count; i++)
            if (step->channels [i] == channel)
                rc = s_fail (loader, node, "channels: '%s' twice", name);
        if (rc == 0)
            step->channels [step->channel_count++] = channel;
    }
    free (list);
    if (rc == 0 && step->channel_count == 0)
        rc = s_fail (loader, node, "channels: name at least one of push, sms, email, onsite, whatsapp");
    return rc;
}

static int s_late (s_loader_t *loader, zconfig_t *node, late_t *late)
{
    if (streq (s_value (node), "defer") || streq (s_value (node), "skip")) {
        *late = streq (s_value (node), "defer") ? LATE_DEFER : LATE_SKIP;
        return 0;
    }
    return s_fail (loader, node, "%s: must be defer or skip", zconfig_name (node));
}

static int s_code (s_loader_t *loader, zconfig_t *node, step_t *step)
{
    step->code = true;
    step->code_percent = 10;
    step->code_valid = 48 * 3600000LL;
    step->code_prefix = strdup ("NUDGE");
    for (zconfig_t *c = zconfig_child (node); c; c = zconfig_next (c)) {
        const char *name = zconfig_name (c);
        int rc = streq (name, "percent") ? s_number (loader, c, 1, 100, &step->code_percent)
               : streq (name, "valid") ? s_duration (loader, c, &step->code_valid)
               : streq (name, "prefix") ? 0
               : s_fail (loader, c, "code: unknown option '%s' (percent, valid, prefix)", name);
        if (rc)
            return -1;
        if (streq (name, "prefix")) {
            size_t length = strlen (s_value (c));
            if (length == 0 || length > 12
            ||  strspn (s_value (c), "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") != length)
                return s_fail (loader, c, "prefix: 1 to 12 capital letters or digits");
            free (step->code_prefix);
            step->code_prefix = strdup (s_value (c));
        }
    }
    if (step->code_valid <= 0)
        return s_fail (loader, node, "code: valid must be longer than 0");
    return 0;
}

static int s_send (s_loader_t *loader, zconfig_t *node, journey_t *journey, step_t *step)
{
    step->max_delay = -1;
    for (zconfig_t *c = zconfig_child (node); c; c = zconfig_next (c)) {
        const char *name = zconfig_name (c);
        int rc = streq (name, "channels") ? s_channels (loader, c, step)
               : streq (name, "quiet-hours") ? s_late (loader, c, &step->quiet)
               : streq (name, "over-cap") ? s_late (loader, c, &step->capped)
               : streq (name, "max-delay") ? s_duration (loader, c, &step->max_delay)
               : streq (name, "code") ? s_code (loader, c, step)
               : streq (name, "template") ? 0
               : s_fail (loader, c, "send: unknown option '%s' (channels, template, quiet-hours,"
                         " over-cap, max-delay, code)", name);
        if (rc)
            return -1;
        if (streq (name, "template"))
            step->template_id = strdup (s_value (c));
    }
    if (step->channel_count == 0)
        return s_fail (loader, node, "send %s: needs channels", step->name);
    if (!step->template_id)
        step->template_id = zsys_sprintf ("%s/%s", journey->name, step->name);
    return 0;
}

static int s_wait (s_loader_t *loader, zconfig_t *node, step_t *step)
{
    for (zconfig_t *c = zconfig_child (node); c; c = zconfig_next (c)) {
        const char *name = zconfig_name (c);
        int rc = streq (name, "for") ? s_duration (loader, c, &step->wait_for) : 0;
        if (streq (name, "until") && (step->until = clock_parse (s_value (c))) < 0)
            rc = s_fail (loader, c, "until: not a local time of day such as 10:00");
        if (!streq (name, "for") && !streq (name, "until"))
            rc = s_fail (loader, c, "wait: unknown option '%s' (for, until)", name);
        if (rc)
            return -1;
    }
    if (step->wait_for == 0 && step->until < 0)
        return s_fail (loader, node, "wait %s: needs 'for' or 'until'", step->name);
    return 0;
}

//  Step names a goto or else may name; resolved once all steps are read.
//  Inside a branch's arm, the steps of that arm (its "when" lines are no
//  steps): a jump out of an arm would skip what the branch decided.
static int s_jump (s_loader_t *loader, zconfig_t *node, journey_t *journey, zconfig_t *steps)
{
    const char *target = s_value (node);
    int index = loader->base;
    for (zconfig_t *s = zconfig_child (steps); s; s = zconfig_next (s)) {
        if (streq (zconfig_name (s), "when"))
            continue;
        if (streq (s_value (s), target))
            return index;
        index++;
    }
    if (streq (zconfig_name (node), "else") && streq (target, "exit"))
        return -1;
    if (loader->arm)
        s_fail (loader, node, "%s: arm %s has no step '%s' (a goto or else in an arm stays in"
                " it)", zconfig_name (node), *loader->arm ? loader->arm : "default", target);
    else
        s_fail (loader, node, "%s: journey %s has no step '%s'", zconfig_name (node),
                journey->name, target);
    return -2;
}

static int s_check (s_loader_t *loader, zconfig_t *node, journey_t *journey, step_t *step,
                    zconfig_t *steps)
{
    step->otherwise = -1;
    for (zconfig_t *c = zconfig_child (node); c; c = zconfig_next (c)) {
        const char *name = zconfig_name (c);
        int rc = 0;
        if (streq (name, "if"))
            rc = s_cond (loader, c, &step->conds, &step->cond_count);
        else
        if (streq (name, "else"))
            rc = (step->otherwise = s_jump (loader, c, journey, steps)) == -2 ? -1 : 0;
        else
            rc = s_fail (loader, c, "check: unknown option '%s' (if, else)", name);
        if (rc)
            return -1;
    }
    if (step->cond_count == 0)
        return s_fail (loader, node, "check %s: needs at least one 'if'", step->name);
    return 0;
}

static int s_variant (s_loader_t *loader, zconfig_t *node, journey_t *journey, step_t *step,
                      zconfig_t *steps)
{
    const char *name = s_value (node);
    if (!s_name_ok (name) || streq (name, "holdout"))
        return s_fail (loader, node, "variant: '%s' is not a name (a-z, 0-9, -, _; not holdout)",
                       name);
    step->variants = (variant_t *) realloc (step->variants,
                                            (step->variant_count + 1) * sizeof (variant_t));
    variant_t *variant = &step->variants [step->variant_count++];
    *variant = (variant_t) { strdup (name), 1, -1 };
    for (zconfig_t *c = zconfig_child (node); c; c = zconfig_next (c)) {
        int rc = streq (zconfig_name (c), "weight") ? s_number (loader, c, 0, 1000000, &variant->weight)
               : streq (zconfig_name (c), "goto") ? ((variant->jump = s_jump (loader, c, journey, steps)) < -1 ? -1 : 0)
               : s_fail (loader, c, "variant: unknown option '%s' (weight, goto)", zconfig_name (c));
        if (rc)
            return -1;
    }
    return 0;
}

static int s_split (s_loader_t *loader, zconfig_t *node, journey_t *journey, step_t *step,
                    zconfig_t *steps)
{
    for (zconfig_t *c = zconfig_child (node); c; c = zconfig_next (c)) {
        int rc = streq (zconfig_name (c), "holdout") ? s_share (loader, c, &step->holdout)
               : streq (zconfig_name (c), "variant") ? s_variant (loader, c, journey, step, steps)
               : s_fail (loader, c, "split: unknown option '%s' (holdout, variant)", zconfig_name (c));
        if (rc)
            return -1;
    }
    int64_t total = 0;
    for (size_t i = 0; i < step->variant_count; i++)
        total += step->variants [i].weight;
    if (step->variant_count == 0 || total == 0)
        return s_fail (loader, node, "split %s: needs a variant with a weight", step->name);
    for (size_t i = 0; i < step->variant_count; i++)
        for (size_t j = i + 1; j < step->variant_count; j++)
            if (streq (step->variants [i].name, step->variants [j].name))
                return s_fail (loader, node, "split %s: variant '%s' twice", step->name,
                               step->variants [i].name);
    return 0;
}

static int s_step (s_loader_t *loader, zconfig_t *node, journey_t *journey, step_t *step,
                   zconfig_t *steps)
{
    const char *kind = zconfig_name (node);
    step->name = strdup (s_value (node));
    step->until = -1;
    loader->step_nodes [step - journey->steps] = node;
    if (!s_name_ok (step->name))
        return s_fail (loader, node, "%s: step name '%s' is not a name (a-z, 0-9, -, _)",
                       kind, step->name);
    for (zconfig_t *s = zconfig_child (steps); s != node; s = zconfig_next (s))
        if (!streq (zconfig_name (s), "when") && streq (s_value (s), step->name))
            return s_fail (loader, node, "step name '%s' used twice", step->name);
    //  An arm's steps are "<step>.<arm>" in counters, reports and template
    //  folders; an unnamed default's keep their names (see s_arms).
    if (loader->arm && *loader->arm) {
        char *qualified = zsys_sprintf ("%s.%s", step->name, loader->arm);
        free (step->name);
        step->name = qualified;
    }
    for (const step_t *s = journey->steps; loader->arm && s < step; s++)
        if (streq (s->name, step->name))
            return s_fail (loader, node, "step name '%s' used twice", step->name);
    if (streq (kind, "wait"))
        return step->kind = STEP_WAIT, s_wait (loader, node, step);
    if (streq (kind, "send"))
        return step->kind = STEP_SEND, s_send (loader, node, journey, step);
    if (streq (kind, "check"))
        return step->kind = STEP_CHECK, s_check (loader, node, journey, step, steps);
    if (loader->arm && (streq (kind, "split") || streq (kind, "branch")))
        return s_fail (loader, node, "%s %s: a branch's arm holds no %s (a split stays at the"
                       " top, to measure the whole journey)", kind, s_value (node), kind);
    if (streq (kind, "branch"))
        return step->kind = STEP_BRANCH, 0;     //  its arms: s_arms, once the top is read
    if (streq (kind, "split")) {
        if (journey->split >= 0)
            return s_fail (loader, node, "a journey has at most one split");
        journey->split = (int) (step - journey->steps);
        return step->kind = STEP_SPLIT, s_split (loader, node, journey, step, steps);
    }
    return s_fail (loader, node, "unknown step '%s' (wait, send, check, split, branch)", kind);
}

//  One arm of a branch: its conditions, then its steps, appended to the
//  journey's; the last goes on after the branch.
static int s_arm (s_loader_t *loader, zconfig_t *node, journey_t *journey, step_t *branch,
                  arm_t *arm)
{
    bool fallback = streq (zconfig_name (node), "default");
    const char *name = s_value (node);
    if (!fallback && !streq (zconfig_name (node), "arm"))
        return s_fail (loader, node, "branch: unknown option '%s' (arm, default)",
                       zconfig_name (node));
    if ((*name || !fallback) && !s_name_ok (name))
        return s_fail (loader, node, "%s: '%s' is not a name (a-z, 0-9, -, _)",
                       zconfig_name (node), name);
    //  templates/<journey>/<step>.<name> would be both's folder
    if (*name && journey_variant (journey, name))
        return s_fail (loader, node, "%s: '%s' is a variant's name too", zconfig_name (node), name);
    for (const arm_t *other = branch->arms; other < arm; other++)
        if (streq (other->name, name))
            return s_fail (loader, node, "branch %s: arm '%s' twice", branch->name, name);
    arm->name = strdup (name);
    arm->first = (int) journey->step_count;
    loader->arm = arm->name;
    loader->base = arm->first;
    for (zconfig_t *c = zconfig_child (node); c; c = zconfig_next (c)) {
        int rc = !streq (zconfig_name (c), "when")
               ? s_step (loader, c, journey, &journey->steps [journey->step_count++], node)
               : fallback ? s_fail (loader, c, "default: takes no 'when' (it is for whoever no"
                                    " arm took)")
               : s_cond (loader, c, &arm->conds, &arm->cond_count);
        if (rc)
            return -1;
    }
    if (!fallback && arm->cond_count == 0)
        return s_fail (loader, node, "arm %s: needs at least one 'when'", name);
    for (size_t i = (size_t) arm->first; i < journey->step_count; i++)
        journey->steps [i].next = i + 1 < journey->step_count ? (int) i + 1 : branch->next;
    if ((size_t) arm->first == journey->step_count)
        arm->first = branch->next;
    loader->arm = NULL;
    loader->base = 0;
    return 0;
}

//  The arms in their order, the default (if any) last whatever its place.
static int s_arms (s_loader_t *loader, zconfig_t *node, journey_t *journey, step_t *branch)
{
    size_t count = 0;
    for (zconfig_t *c = zconfig_child (node); c; c = zconfig_next (c))
        count++;
    if (count == 0)
        return s_fail (loader, node, "branch %s: needs an arm", branch->name);
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
static int s_steps (s_loader_t *loader, zconfig_t *node, journey_t *journey)
{
    size_t top = 0, count = 0;
    for (zconfig_t *s = zconfig_child (node); s; s = zconfig_next (s), top++, count++)
        for (zconfig_t *a = streq (zconfig_name (s), "branch") ? zconfig_child (s) : NULL; a;
             a = zconfig_next (a))
            for (zconfig_t *c = zconfig_child (a); c; c = zconfig_next (c))
                count += !streq (zconfig_name (c), "when");
    if (top == 0 || count > 64)
        return s_fail (loader, node, "steps: between 1 and 64 steps (an arm's count too)");
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

/* ----------------------------------------------------------- journey -- */

static int s_trigger (s_loader_t *loader, zconfig_t *node, journey_t *journey)
{
    for (zconfig_t *c = zconfig_child (node); c; c = zconfig_next (c)) {
        const char *name = zconfig_name (c);
        int rc = streq (name, "when") ? s_cond (loader, c, &journey->when, &journey->when_count)
               : streq (name, "topic") ? 0
               : s_fail (loader, c, "trigger: unknown option '%s' (topic, when)", name);
        if (rc)
            return -1;
        if (streq (name, "topic"))
            journey->topic = strdup (s_value (c));
    }
    if (!journey->topic || !*journey->topic)
        return s_fail (loader, node, "trigger: needs a topic, such as cart.abandoned");
    return 0;
}

static int s_qualify (s_loader_t *loader, zconfig_t *node, journey_t *journey)
{
    for (zconfig_t *c = zconfig_child (node); c; c = zconfig_next (c)) {
        const char *name = zconfig_name (c);
        if (!*s_value (c))
            return s_fail (loader, c, "%s: needs a segment name", name);
        if (streq (name, "segment"))
            s_list_add (&journey->segments, s_value (c));
        else
        if (streq (name, "not-segment"))
            s_list_add (&journey->not_segments, s_value (c));
        else
            return s_fail (loader, c, "qualify: unknown option '%s' (segment, not-segment)", name);
    }
    return 0;
}

static int s_reentry (s_loader_t *loader, zconfig_t *node, journey_t *journey)
{
    for (zconfig_t *c = zconfig_child (node); c; c = zconfig_next (c)) {
        const char *name = zconfig_name (c);
        int rc = streq (name, "every") ? s_duration (loader, c, &journey->reentry_every)
               : streq (name, "key") ? (*s_value (c) ? 0 : s_fail (loader, c, "key: needs a path"))
               : s_fail (loader, c, "reentry: unknown option '%s' (key, every)", name);
        if (rc)
            return -1;
        if (streq (name, "key"))
            journey->reentry_key = strdup (s_value (c));
    }
    return 0;
}

static int s_cap (s_loader_t *loader, zconfig_t *node, cap_t *cap)
{
    if (cap_parse (s_value (node), cap))
        return s_fail (loader, node, "%s: not a cap such as \"1/16h, 3/7d\" or none",
                       zconfig_name (node));
    return 0;
}

//  attribution = 5d, "delivered 5d" or "clicked 3d" (attribution.c).
static int s_attribution (s_loader_t *loader, zconfig_t *node, limits_t *limits)
{
    const char *value = s_value (node);
    limits->attribution_clicked = strncmp (value, "clicked ", 8) == 0;
    const char *window = limits->attribution_clicked ? value + 8
                       : strncmp (value, "delivered ", 10) == 0 ? value + 10 : value;
    if (nd_duration_parse (window, &limits->attribution) || limits->attribution <= 0)
        return s_fail (loader, node, "attribution: not such as 5d, \"delivered 5d\" "
                       "or \"clicked 3d\"");
    return 0;
}

static int s_limits (s_loader_t *loader, zconfig_t *node, journey_t *journey)
{
    limits_t *limits = &journey->limits;
    for (zconfig_t *c = zconfig_child (node); c; c = zconfig_next (c)) {
        const char *name = zconfig_name (c);
        channel_t channel;
        int rc;
        if (streq (name, "cap"))
            rc = s_cap (loader, c, &limits->cap);
        else
        if (strncmp (name, "cap-", 4) == 0 && channel_parse (name + 4, &channel) == 0)
            rc = s_cap (loader, c, &limits->channel_cap [channel]);
        else
        if (streq (name, "quiet-hours"))
            rc = quiet_parse (s_value (c), &limits->quiet)
               ? s_fail (loader, c, "quiet-hours: not such as 21:00-09:00 or none") : 0;
        else
        if (streq (name, "attribution"))
            rc = s_attribution (loader, c, limits);
        else
            rc = s_fail (loader, c, "limits: unknown option '%s' (cap, cap-push, cap-sms,"
                         " cap-email, cap-onsite, quiet-hours, attribution)", name);
        if (rc)
            return -1;
    }
    return 0;
}

static int s_active (s_loader_t *loader, zconfig_t *node, journey_t *journey)
{
    const char *value = s_value (node);
    if (streq (value, "update"))
        journey->active = ACTIVE_UPDATE;
    else
    if (streq (value, "ignore"))
        journey->active = ACTIVE_IGNORE;
    else
    if (streq (value, "restart"))
        journey->active = ACTIVE_RESTART;
    else
        return s_fail (loader, node, "active: must be update, ignore or restart");
    return 0;
}

//  after-order: what an order since the journey began means to it.
static int s_after_order (s_loader_t *loader, zconfig_t *node, journey_t *journey)
{
    const char *value = s_value (node);
    if (streq (value, "exit"))
        journey->post_order = false;
    else
    if (streq (value, "continue"))
        journey->post_order = true;
    else
        return s_fail (loader, node, "after-order: must be exit or continue");
    return 0;
}

//  priority: 0 to 100, or a named level.
static int s_priority (s_loader_t *loader, zconfig_t *node, journey_t *journey)
{
    static const struct { const char *name; int64_t level; } levels [] = {
        { "low", 25 }, { "normal", PRIORITY_NORMAL }, { "high", 75 } };
    for (size_t i = 0; i < sizeof levels / sizeof levels [0]; i++)
        if (streq (s_value (node), levels [i].name)) {
            journey->priority = levels [i].level;
            return 0;
        }
    char *end;
    long long number = strtoll (s_value (node), &end, 10);
    if (end == s_value (node) || *end || number < 0 || number > 100)
        return s_fail (loader, node, "priority: not low, normal, high or a whole number"
                       " from 0 to 100");
    journey->priority = number;
    return 0;
}

bool journey_ordered (const journey_t *journey, int64_t last_order, int64_t entered)
{
    if (!last_order)
        return false;
    return journey->post_order ? last_order > entered : last_order >= entered;
}

static int s_option (s_loader_t *loader, zconfig_t *c, journey_t *journey)
{
    const char *name = zconfig_name (c);
    if (streq (name, "name"))
        return 0;
    if (streq (name, "description"))
        return 0;
    if (streq (name, "trigger"))
        return s_trigger (loader, c, journey);
    if (streq (name, "qualify"))
        return s_qualify (loader, c, journey);
    if (streq (name, "reentry"))
        return s_reentry (loader, c, journey);
    if (streq (name, "active"))
        return s_active (loader, c, journey);
    if (streq (name, "after-order"))
        return s_after_order (loader, c, journey);
    if (streq (name, "priority"))
        return s_priority (loader, c, journey);
    if (streq (name, "limits"))
        return s_limits (loader, c, journey);
    if (streq (name, "steps"))
        return s_steps (loader, c, journey);
    if (streq (name, "exit")) {
        if (!*s_value (c))
            return s_fail (loader, c, "exit: needs a topic, such as order.completed");
        s_list_add (&journey->exits, s_value (c));
        return 0;
    }
    return s_fail (loader, c, "journey: unknown option '%s' (name, description, trigger,"
                   " qualify, reentry, active, after-order, priority, exit, limits, steps)", name);
}

//  Every template a send step may use, in every channel it names.
static int s_templates (s_loader_t *loader, journey_t *journey)
{
    for (size_t i = 0; i < journey->step_count; i++) {
        const step_t *step = &journey->steps [i];
        zconfig_t *node = loader->step_nodes [i];
        for (size_t c = 0; step->kind == STEP_SEND && c < step->channel_count; c++) {
            char *reason = NULL;
            int rc = templates_check (loader->templates, step->template_id, step->channels [c],
                                      &reason);
            const step_t *split = journey->split >= 0 ? &journey->steps [journey->split] : NULL;
            for (size_t v = 0; rc == 0 && split && v < split->variant_count; v++)
                rc = templates_check_variant (loader->templates, step->template_id,
                                              split->variants [v].name, step->channels [c],
                                              &reason);
            if (rc) {
                s_fail (loader, node, "send %s: template %s", step->name, reason);
                free (reason);
                return -1;
            }
        }
    }
    return 0;
}

//  An option is read once: given twice, it was read twice (a second
//  steps section went on counting from the first, past its end; a second
//  topic or template leaked the first). Lists may repeat: when, segment,
//  not-segment, exit, if, variant, and the steps themselves.
static int s_once (s_loader_t *loader, zconfig_t *node)
{
    static const char *lists [] = { "when", "segment", "not-segment", "exit", "if", "variant",
                                    "arm", NULL };
    bool steps = streq (zconfig_name (node), "steps") || streq (zconfig_name (node), "arm")
              || streq (zconfig_name (node), "default");
    for (zconfig_t *c = zconfig_child (node); c; c = zconfig_next (c)) {
        bool list = steps;
        for (size_t i = 0; !list && lists [i]; i++)
            list = streq (zconfig_name (c), lists [i]);
        for (zconfig_t *s = zconfig_child (node); !list && s != c; s = zconfig_next (s))
            if (streq (zconfig_name (s), zconfig_name (c)))
                return s_fail (loader, c, "%s: given twice", zconfig_name (c));
        if (s_once (loader, c))
            return -1;
    }
    return 0;
}

static void s_journey_free (journey_t **journey_p);

static journey_t *s_journey (s_loader_t *loader, zconfig_t *root)
{
    zconfig_t *section = zconfig_child (root);
    if (!section || !streq (zconfig_name (section), "journey") || zconfig_next (section)) {
        s_fail (loader, section ? section : root, "a journey file holds one 'journey' section");
        return NULL;
    }
    journey_t *journey = (journey_t *) zmalloc (sizeof *journey);
    journey->file = strdup (loader->file);
    journey->split = -1;
    journey->priority = PRIORITY_NORMAL;
    zconfig_t *name = zconfig_locate (section, "name"), *steps = zconfig_locate (section, "steps");
    journey->name = strdup (name ? s_value (name) : "");
    int rc = s_name_ok (journey->name) ? 0
           : s_fail (loader, name ? name : section, "name: a journey needs a name (a-z, 0-9, -, _)");
    if (rc == 0)
        rc = s_once (loader, section);
    for (zconfig_t *c = zconfig_child (section); rc == 0 && c; c = zconfig_next (c))
        rc = s_option (loader, c, journey);
    if (rc == 0 && !journey->topic)
        rc = s_fail (loader, section, "journey %s: needs a trigger", journey->name);
    if (rc == 0 && !steps)
        rc = s_fail (loader, section, "journey %s: needs steps", journey->name);
    if (rc == 0)
        rc = s_templates (loader, journey);
    if (rc)
        s_journey_free (&journey);
    return journey;
}

static journey_t *s_load_journey (const char *file, templates_t *templates, char **error)
{
    zconfig_t *root = s_load_file (file, error);
    if (!root)
        return NULL;
    s_loader_t loader = { file, NULL, NULL, 0, templates, error, NULL, 0, NULL };
    s_map_lines (&loader, root);
    journey_t *journey = s_journey (&loader, root);
    free (loader.step_nodes);
    free (loader.nodes);
    free (loader.lines);
    zconfig_destroy (&root);
    return journey;
}

static void s_step_free (step_t *step)
{
    free (step->name);
    free (step->template_id);
    free (step->code_prefix);
    for (size_t i = 0; i < step->cond_count; i++)
        cond_destroy (&step->conds [i]);
    free (step->conds);
    for (size_t i = 0; i < step->variant_count; i++)
        free (step->variants [i].name);
    free (step->variants);
    for (size_t i = 0; i < step->arm_count; i++) {
        free (step->arms [i].name);
        for (size_t c = 0; c < step->arms [i].cond_count; c++)
            cond_destroy (&step->arms [i].conds [c]);
        free (step->arms [i].conds);
    }
    free (step->arms);
}

static void s_journey_free (journey_t **journey_p)
{
    journey_t *journey = *journey_p;
    if (!journey)
        return;
    for (size_t i = 0; i < journey->step_count; i++)
        s_step_free (&journey->steps [i]);
    free (journey->steps);
    for (size_t i = 0; i < journey->when_count; i++)
        cond_destroy (&journey->when [i]);
    free (journey->when);
    s_list_free (&journey->segments);
    s_list_free (&journey->not_segments);
    s_list_free (&journey->exits);
    free (journey->reentry_key);
    free (journey->topic);
    free (journey->name);
    free (journey->file);
    free (journey);
    *journey_p = NULL;
}

/* ---------------------------------------------------------- journeys -- */

static int s_compare (const void *a, const void *b)
{
    return strcmp (*(char *const *) a, *(char *const *) b);
}

//  The *.zpl files in dir, sorted so journeys load in a stable order.
static char **s_files (const char *dir, size_t *count, char **error)
{
    DIR *listing = opendir (dir);
    if (!listing) {
        *error = zsys_sprintf ("%s: %s", dir, strerror (errno));
        return NULL;
    }
    char **files = NULL;
    *count = 0;
    struct dirent *entry;
    while ((entry = readdir (listing))) {
        size_t length = strlen (entry->d_name);
        if (entry->d_name [0] == '.' || length < 5 || !streq (entry->d_name + length - 4, ".zpl"))
            continue;
        files = (char **) realloc (files, (*count + 1) * sizeof (char *));
        files [(*count)++] = zsys_sprintf ("%s/%s", dir, entry->d_name);
    }
    closedir (listing);
    if (*count)
        qsort (files, *count, sizeof (char *), s_compare);
    return files;
}

journeys_t *journeys_load (const char *dir, templates_t *templates, char **error)
{
    *error = NULL;
    size_t count = 0;
    char **files = s_files (dir, &count, error);
    if (*error)
        return NULL;
    journeys_t *self = (journeys_t *) zmalloc (sizeof *self);
    self->items = (journey_t **) zmalloc ((count + 1) * sizeof (journey_t *));
    for (size_t i = 0; i < count && !*error; i++) {
        journey_t *journey = s_load_journey (files [i], templates, error);
        if (journey && journeys_find (self, journey->name)) {
            *error = zsys_sprintf ("%s: journey '%s' is already defined in %s", files [i],
                                   journey->name, journeys_find (self, journey->name)->file);
            s_journey_free (&journey);
        }
        if (journey)
            self->items [self->size++] = journey;
    }
    for (size_t i = 0; i < count; i++)
        free (files [i]);
    free (files);
    if (*error)
        journeys_destroy (&self);
    return self;
}

void journeys_destroy (journeys_t **self_p)
{
    journeys_t *self = *self_p;
    if (self) {
        for (size_t i = 0; i < self->size; i++)
            s_journey_free (&self->items [i]);
        free (self->items);
        free (self);
        *self_p = NULL;
    }
}

size_t journeys_size (journeys_t *self)
{
    return self->size;
}

journey_t *journeys_get (journeys_t *self, size_t index)
{
    return index < self->size ? self->items [index] : NULL;
}

journey_t *journeys_find (journeys_t *self, const char *name)
{
    for (size_t i = 0; i < self->size; i++)
        if (streq (self->items [i]->name, name))
            return self->items [i];
    return NULL;
}

bool journey_exits_on (const journey_t *journey, const char *topic)
{
    for (size_t i = 0; journey->exits && journey->exits [i]; i++)
        if (streq (journey->exits [i], topic))
            return true;
    return false;
}

//  FNV-1a: the same person lands in the same variant on every machine
//  and after every restart, with no state to keep.
static uint64_t s_hash (const char *journey, const char *user)
{
    uint64_t hash = 14695981039346656037ULL;
    for (const char *p = journey; *p; p++)
        hash = (hash ^ (uint8_t) *p) * 1099511628211ULL;
    hash = (hash ^ 0xff) * 1099511628211ULL;
    for (const char *p = user; *p; p++)
        hash = (hash ^ (uint8_t) *p) * 1099511628211ULL;
    return hash;
}

const char *journey_assign (const journey_t *journey, const char *user)
{
    if (journey->split < 0)
        return "";
    const step_t *split = &journey->steps [journey->split];
    uint64_t hash = s_hash (journey->name, user);
    if ((int64_t) (hash % 10000) < split->holdout)
        return "holdout";
    int64_t total = 0;
    for (size_t i = 0; i < split->variant_count; i++)
        total += split->variants [i].weight;
    int64_t pick = (int64_t) ((hash / 10000) % (uint64_t) total);
    for (size_t i = 0; i < split->variant_count; i++) {
        if (pick < split->variants [i].weight)
            return split->variants [i].name;
        pick -= split->variants [i].weight;
    }
    return split->variants [0].name;
}

const variant_t *journey_variant (const journey_t *journey, const char *name)
{
    if (journey->split < 0)
        return NULL;
    const step_t *split = &journey->steps [journey->split];
    for (size_t i = 0; i < split->variant_count; i++)
        if (streq (split->variants [i].name, name))
            return &split->variants [i];
    return NULL;
}
