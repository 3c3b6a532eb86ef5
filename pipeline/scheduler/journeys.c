/*  journeys.c - journeys as data: every conf/journeys (one .zpl file per
    journey), read at start.

    Layer: rules: calls steps.c (a journey's steps), loader.c (the
    reader's tools), cond.c and templates.c.

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

    The steps are one array: steps.c says how they are read.

    Anything wrong - an unknown option, a bad duration, a goto to no step,
    a template missing or not compiling - stops the program at start with
    "<file>:<line>: <reason>": a journey half understood would message
    real people. (An empty error: the runtime's ZPL loader has logged it.) */
#include <dirent.h>
#include "journeys.h"
#include "cond.h"
#include "loader.h"
#include "steps.h"
#include "templates.h"

struct _journeys_t {
    journey_t **items;
    size_t size;
};

/* ------------------------------------------------------------- lists -- */

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

/* ----------------------------------------------------------- journey -- */

static int s_trigger (loader_t *loader, zconfig_t *node, journey_t *journey)
{
    for (zconfig_t *c = zconfig_child (node); c; c = zconfig_next (c)) {
        const char *name = zconfig_name (c);
        int rc = streq (name, "when") ? loader_cond (loader, c, &journey->when, &journey->when_count)
               : streq (name, "topic") ? 0
               : loader_fail (loader, c, "trigger: unknown option '%s' (topic, when)", name);
        if (rc)
            return -1;
        if (streq (name, "topic"))
            journey->topic = strdup (loader_value (c));
    }
    if (!journey->topic || !*journey->topic)
        return loader_fail (loader, node, "trigger: needs a topic, such as cart.abandoned");
    return 0;
}

static int s_qualify (loader_t *loader, zconfig_t *node, journey_t *journey)
{
    for (zconfig_t *c = zconfig_child (node); c; c = zconfig_next (c)) {
        const char *name = zconfig_name (c);
        if (!*loader_value (c))
            return loader_fail (loader, c, "%s: needs a segment name", name);
        if (streq (name, "segment"))
            s_list_add (&journey->segments, loader_value (c));
        else
        if (streq (name, "not-segment"))
            s_list_add (&journey->not_segments, loader_value (c));
        else
            return loader_fail (loader, c, "qualify: unknown option '%s' (segment, not-segment)", name);
    }
    return 0;
}

static int s_reentry (loader_t *loader, zconfig_t *node, journey_t *journey)
{
    for (zconfig_t *c = zconfig_child (node); c; c = zconfig_next (c)) {
        const char *name = zconfig_name (c);
        int rc = streq (name, "every") ? loader_duration (loader, c, &journey->reentry_every)
               : streq (name, "key") ? (*loader_value (c) ? 0
                                        : loader_fail (loader, c, "key: needs a path"))
               : loader_fail (loader, c, "reentry: unknown option '%s' (key, every)", name);
        if (rc)
            return -1;
        if (streq (name, "key"))
            journey->reentry_key = strdup (loader_value (c));
    }
    return 0;
}

static int s_cap (loader_t *loader, zconfig_t *node, cap_t *cap)
{
    if (cap_parse (loader_value (node), cap))
        return loader_fail (loader, node, "%s: not a cap such as \"1/16h, 3/7d\" or none",
                            zconfig_name (node));
    return 0;
}

//  attribution = 5d, "delivered 5d" or "clicked 3d" (attribution.c).
static int s_attribution (loader_t *loader, zconfig_t *node, limits_t *limits)
{
    const char *value = loader_value (node);
    limits->attribution_clicked = strncmp (value, "clicked ", 8) == 0;
    const char *window = limits->attribution_clicked ? value + 8
                       : strncmp (value, "delivered ", 10) == 0 ? value + 10 : value;
    if (nd_duration_parse (window, &limits->attribution) || limits->attribution <= 0)
        return loader_fail (loader, node, "attribution: not such as 5d, \"delivered 5d\" "
                            "or \"clicked 3d\"");
    return 0;
}

static int s_limits (loader_t *loader, zconfig_t *node, journey_t *journey)
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
            rc = quiet_parse (loader_value (c), &limits->quiet)
               ? loader_fail (loader, c, "quiet-hours: not such as 21:00-09:00 or none") : 0;
        else
        if (streq (name, "attribution"))
            rc = s_attribution (loader, c, limits);
        else
            rc = loader_fail (loader, c, "limits: unknown option '%s' (cap, cap-push, cap-sms,"
                              " cap-email, cap-onsite, quiet-hours, attribution)", name);
        if (rc)
            return -1;
    }
    return 0;
}

static int s_active (loader_t *loader, zconfig_t *node, journey_t *journey)
{
    const char *value = loader_value (node);
    if (streq (value, "update"))
        journey->active = ACTIVE_UPDATE;
    else
    if (streq (value, "ignore"))
        journey->active = ACTIVE_IGNORE;
    else
    if (streq (value, "restart"))
        journey->active = ACTIVE_RESTART;
    else
        return loader_fail (loader, node, "active: must be update, ignore or restart");
    return 0;
}

//  after-order: what an order since the journey began means to it.
static int s_after_order (loader_t *loader, zconfig_t *node, journey_t *journey)
{
    const char *value = loader_value (node);
    if (streq (value, "exit"))
        journey->post_order = false;
    else
    if (streq (value, "continue"))
        journey->post_order = true;
    else
        return loader_fail (loader, node, "after-order: must be exit or continue");
    return 0;
}

//  priority: 0 to 100, or a named level.
static int s_priority (loader_t *loader, zconfig_t *node, journey_t *journey)
{
    static const struct { const char *name; int64_t level; } levels [] = {
        { "low", 25 }, { "normal", PRIORITY_NORMAL }, { "high", 75 } };
    for (size_t i = 0; i < sizeof levels / sizeof levels [0]; i++)
        if (streq (loader_value (node), levels [i].name)) {
            journey->priority = levels [i].level;
            return 0;
        }
    char *end;
    long long number = strtoll (loader_value (node), &end, 10);
    if (end == loader_value (node) || *end || number < 0 || number > 100)
        return loader_fail (loader, node, "priority: not low, normal, high or a whole number"
                            " from 0 to 100");
    journey->priority = number;
    return 0;
}

static int s_option (loader_t *loader, zconfig_t *c, journey_t *journey)
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
        return steps_read (loader, c, journey);
    if (streq (name, "exit")) {
        if (!*loader_value (c))
            return loader_fail (loader, c, "exit: needs a topic, such as order.completed");
        s_list_add (&journey->exits, loader_value (c));
        return 0;
    }
    return loader_fail (loader, c, "journey: unknown option '%s' (name, description, trigger,"
                        " qualify, reentry, active, after-order, priority, exit, limits, steps)", name);
}

//  Every template a send step may use, in every channel it names.
static int s_templates (loader_t *loader, journey_t *journey)
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
                loader_fail (loader, node, "send %s: template %s", step->name, reason);
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
static int s_once (loader_t *loader, zconfig_t *node)
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
                return loader_fail (loader, c, "%s: given twice", zconfig_name (c));
        if (s_once (loader, c))
            return -1;
    }
    return 0;
}

static void s_journey_free (journey_t **journey_p);

static journey_t *s_journey (loader_t *loader, zconfig_t *root)
{
    zconfig_t *section = zconfig_child (root);
    if (!section || !streq (zconfig_name (section), "journey") || zconfig_next (section)) {
        loader_fail (loader, section ? section : root, "a journey file holds one 'journey' section");
        return NULL;
    }
    journey_t *journey = (journey_t *) zmalloc (sizeof *journey);
    journey->file = strdup (loader->file);
    journey->split = -1;
    journey->priority = PRIORITY_NORMAL;
    zconfig_t *name = zconfig_locate (section, "name"), *steps = zconfig_locate (section, "steps");
    journey->name = strdup (name ? loader_value (name) : "");
    int rc = loader_name_ok (journey->name) ? 0
           : loader_fail (loader, name ? name : section,
                          "name: a journey needs a name (a-z, 0-9, -, _)");
    if (rc == 0)
        rc = s_once (loader, section);
    for (zconfig_t *c = zconfig_child (section); rc == 0 && c; c = zconfig_next (c))
        rc = s_option (loader, c, journey);
    if (rc == 0 && !journey->topic)
        rc = loader_fail (loader, section, "journey %s: needs a trigger", journey->name);
    if (rc == 0 && !steps)
        rc = loader_fail (loader, section, "journey %s: needs steps", journey->name);
    if (rc == 0)
        rc = s_templates (loader, journey);
    if (rc)
        s_journey_free (&journey);
    return journey;
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

static journey_t *s_load_journey (const char *file, templates_t *templates, char **error)
{
    zconfig_t *root = s_load_file (file, error);
    if (!root)
        return NULL;
    loader_t loader = { file, NULL, NULL, 0, templates, error, NULL, 0, NULL };
    loader_map_lines (&loader, root);
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
