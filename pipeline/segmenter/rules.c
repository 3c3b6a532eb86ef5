/*  rules.c - rule segments: conditions over a profile, read from a ZPL file.

    Each top-level section of the file (conf/segments.zpl) is a segment;
    the visitor is in it when every item under it holds. An item is a
    condition, "match = COND", or a group of items: "all" (every one
    holds), "any" (at least one) or "none" (not one). COND is the one
    condition language (runtime nd_cond, nudge-conditions(5)); this file
    supplies its facts from a profile: counters (spend), whole days since
    a time (days_since_last_order), category.NAME, trait.PATH, and "in
    segment NAME" for a built-in group or a segment above.
    nudge-segments(5) is the manual of the file.

    The file is checked whole at start: a bad rule stops the segmenter
    with "file:line: reason". zconfig keeps no line numbers, so the parser
    remembers where it is as sibling ordinals from the top and s_line_of
    walks the file with ZPL's indentation rules to find that line.      */
#include <assert.h>
#include <czmq.h>
#include <math.h>
#include "nd_cond.h"
#include "nd_json.h"
#include "segmenter.h"

#define S_DEPTH 8               //  nesting a rule file may use

typedef enum { NODE_ALL, NODE_ANY, NODE_NONE, NODE_TEST } s_kind_t;

typedef struct _s_node_t s_node_t;
struct _s_node_t {
    s_kind_t kind;
    s_node_t **children;        //  all, any, none
    size_t count;
    nd_cond_t *cond;            //  test
};

typedef struct {
    char *name;
    s_node_t *root;
} s_segment_t;

struct _seg_rules_t {
    s_segment_t *segments;
    size_t count;
};

typedef struct {
    const char *file;
    seg_rules_t *rules;
    int path [S_DEPTH];         //  sibling ordinals of the item being read
    int depth;
    char *error;                //  the first "file:line: reason"
} s_parser_t;

/* ------------------------------------------------------------- nodes -- */

static s_node_t *s_node_new (s_kind_t kind)
{
    s_node_t *node = (s_node_t *) zmalloc (sizeof *node);
    node->kind = kind;
    return node;
}

static void s_node_destroy (s_node_t **node_p)
{
    s_node_t *node = *node_p;
    if (node) {
        for (size_t i = 0; i < node->count; i++)
            s_node_destroy (&node->children [i]);
        free (node->children);
        nd_cond_destroy (&node->cond);
        free (node);
        *node_p = NULL;
    }
}

static void s_node_append (s_node_t *node, s_node_t *child)
{
    node->children = (s_node_t **) realloc (node->children, (node->count + 1) * sizeof child);
    assert (node->children);
    node->children [node->count++] = child;
}

void seg_rules_destroy (seg_rules_t **self_p)
{
    seg_rules_t *self = *self_p;
    if (self) {
        for (size_t i = 0; i < self->count; i++) {
            free (self->segments [i].name);
            s_node_destroy (&self->segments [i].root);
        }
        free (self->segments);
        free (self);
        *self_p = NULL;
    }
}

size_t seg_rules_size (seg_rules_t *self)
{
    return self->count;
}

const char *seg_rules_name (seg_rules_t *self, size_t index)
{
    return index < self->count ? self->segments [index].name : NULL;
}

/* ------------------------------------------------------------ errors -- */

//  The line of the item at path, or 0. Comment and blank lines are not
//  items; every other line is one, 4 spaces deeper than its parent.
static int s_line_of (const char *file, const int *path, int depth)
{
    FILE *in = fopen (file, "r");
    if (!in)
        return 0;
    int ordinal [S_DEPTH], number = 0, found = 0;
    for (int level = 0; level < S_DEPTH; level++)
        ordinal [level] = -1;
    char text [1024];
    bool line_start = true;
    while (!found && fgets (text, sizeof text, in)) {
        bool at_start = line_start;
        line_start = strchr (text, '\n') != NULL;
        if (!at_start)
            continue;           //  the rest of a long line
        number++;
        size_t indent = strspn (text, " ");
        if (strchr ("#\r\n", text [indent]) || indent / 4 >= S_DEPTH)
            continue;
        int level = (int) (indent / 4);
        ordinal [level]++;
        for (int deeper = level + 1; deeper < S_DEPTH; deeper++)
            ordinal [deeper] = -1;
        if (level + 1 == depth && memcmp (ordinal, path, depth * sizeof (int)) == 0)
            found = number;
    }
    fclose (in);
    return found;
}

static int s_error (s_parser_t *p, const char *format, ...)
{
    char reason [512];
    va_list args;
    va_start (args, format);
    vsnprintf (reason, sizeof reason, format, args);
    va_end (args);
    int line = s_line_of (p->file, p->path, p->depth);
    if (!p->error)
        p->error = line ? zsys_sprintf ("%s:%d: %s", p->file, line, reason)
                        : zsys_sprintf ("%s: %s", p->file, reason);
    return -1;
}

/* ------------------------------------------------------------- tests -- */

static bool s_known_segment (s_parser_t *p, const char *name)
{
    for (const char *const *group = seg_groups_names (); *group; group++)
        if (streq (*group, name))
            return true;
    for (size_t i = 0; i < p->rules->count; i++)
        if (streq (p->rules->segments [i].name, name))
            return true;
    return false;
}

//  The tests a condition makes, against the names a profile has.
static int s_check_test (void *context, const nd_cond_test_t *test)
{
    s_parser_t *p = (s_parser_t *) context;
    if (test->segment)
        return s_known_segment (p, test->segment) ? 0
             : s_error (p, "'in segment %s': no built-in group or segment above has that name",
                        test->segment);
    const char *dot = strchr (test->path, '.');
    size_t root = dot ? (size_t) (dot - test->path) : strlen (test->path);
    if (strncmp (test->path, "trait", root) == 0 && root == 5)
        return dot ? 0 : s_error (p, "'trait' needs a name after it: trait.NAME");
    bool category = strncmp (test->path, "category", root) == 0 && root == 8;
    if (category && !dot)
        return s_error (p, "'category' needs a name after it: category.NAME");
    if (!category && !seg_profile_age_field (test->path) && !seg_profile_is_counter (test->path))
        return s_error (p, "unknown name '%s' (known: %s)", test->path, seg_profile_names ());
    if (streq (test->op, "has"))
        return s_error (p, "'%s' is a number: 'has' looks into text and lists", test->path);
    if (test->value && !json_is_number (test->value))
        return s_error (p, "'%s' is a number, '%s' is not", test->path,
                        json_is_string (test->value) ? json_string_value (test->value) : "that");
    return 0;
}

static s_node_t *s_parse_test (s_parser_t *p, const char *text)
{
    char *reason = NULL;
    nd_cond_t *cond = nd_cond_new (text ? text : "", &reason);
    if (!cond) {
        s_error (p, "match \"%s\": %s", text ? text : "", reason);
        free (reason);
        return NULL;
    }
    if (nd_cond_tests (cond, s_check_test, p)) {
        nd_cond_destroy (&cond);
        return NULL;
    }
    //  The spelling of the release before still works, for one release.
    if (nd_cond_modern (cond))
        nd_log ("%s:%d: \"%s\" is the old spelling; write \"%s\"", p->file,
                s_line_of (p->file, p->path, p->depth), text, nd_cond_modern (cond));
    s_node_t *node = s_node_new (NODE_TEST);
    node->cond = cond;
    return node;
}

/* -------------------------------------------------------------- items -- */

static int s_parse_item (s_parser_t *p, zconfig_t *item, s_node_t *parent, bool top);

//  Reads every item under config into node, keeping p->path in step.
static int s_parse_items (s_parser_t *p, zconfig_t *config, s_node_t *node, bool top)
{
    if (p->depth >= S_DEPTH)
        return s_error (p, "nested deeper than %d levels", S_DEPTH);
    int rc = 0, ordinal = 0;
    for (zconfig_t *item = zconfig_child (config); rc == 0 && item;
         item = zconfig_next (item), ordinal++) {
        p->path [p->depth++] = ordinal;
        rc = s_parse_item (p, item, node, top);
        p->depth--;
    }
    if (rc == 0 && node->count == 0)
        rc = s_error (p, "'%s' has no tests under it", zconfig_name (config));
    return rc;
}

static int s_parse_item (s_parser_t *p, zconfig_t *item, s_node_t *parent, bool top)
{
    static const char *const groups [] = { "all", "any", "none", NULL };
    const char *name = zconfig_name (item);
    const char *value = zconfig_value (item);
    if (top && streq (name, "description"))
        return 0;
    if (streq (name, "match")) {
        if (zconfig_child (item))
            return s_error (p, "a match has nothing under it");
        s_node_t *test = s_parse_test (p, value);
        if (test)
            s_node_append (parent, test);
        return test ? 0 : -1;
    }
    for (int kind = 0; groups [kind]; kind++)
        if (streq (name, groups [kind])) {
            if (value && *value)
                return s_error (p, "'%s' takes no value: put its tests under it", name);
            s_node_t *group = s_node_new ((s_kind_t) kind);
            s_node_append (parent, group);
            return s_parse_items (p, item, group, false);
        }
    return s_error (p, "unknown item '%s' (expected match, all, any, none%s)",
                    name, top ? " or description" : "");
}

static int s_parse_segment (s_parser_t *p, zconfig_t *section)
{
    const char *name = zconfig_name (section);
    const char *value = zconfig_value (section);
    if (value && *value)
        return s_error (p, "segment '%s' takes no value: put its tests under it", name);
    if (s_known_segment (p, name))
        return s_error (p, "segment '%s' is defined twice, or is a built-in group", name);
    s_node_t *root = s_node_new (NODE_ALL);
    if (s_parse_items (p, section, root, true)) {
        s_node_destroy (&root);
        return -1;
    }
    seg_rules_t *rules = p->rules;
    rules->segments = (s_segment_t *) realloc (rules->segments,
                                               (rules->count + 1) * sizeof (s_segment_t));
    assert (rules->segments);
    rules->segments [rules->count++] = (s_segment_t) { strdup (name), root };
    return 0;
}

seg_rules_t *seg_rules_load (const char *file, char **error)
{
    seg_rules_t *self = (seg_rules_t *) zmalloc (sizeof *self);
    *error = NULL;
    if (!file)
        return self;
    s_parser_t parser = { .file = file, .rules = self, .depth = 1 };
    zconfig_t *root = nd_zpl_parse (file, &parser.error);
    int rc = root ? 0 : -1, ordinal = 0;
    for (zconfig_t *section = root ? zconfig_child (root) : NULL; rc == 0 && section;
         section = zconfig_next (section), ordinal++) {
        parser.path [0] = ordinal;
        rc = s_parse_segment (&parser, section);
    }
    zconfig_destroy (&root);
    if (rc)
        seg_rules_destroy (&self);
    *error = parser.error;
    return self;
}

/* --------------------------------------------------------- evaluation -- */

//  What a rule asks about one visitor, at one time.
typedef struct {
    const json_t *profile;
    int64_t now;
    const json_t *members;
} s_facts_t;

static json_t *s_value (void *context, const char *path)
{
    s_facts_t *facts = (s_facts_t *) context;
    if (strncmp (path, "trait.", 6) == 0)
        return nd_cond_path (json_object_get (facts->profile, "traits"), path + 6);
    if (strncmp (path, "category.", 9) == 0)
        return json_real (seg_profile_number (json_object_get (facts->profile, "categories"),
                                              path + 9));
    const char *age = seg_profile_age_field (path);
    int64_t days;
    if (age)        //  someone who never ordered has no days_since_last_order
        return seg_profile_days_since (facts->profile, age, facts->now, &days)
             ? json_integer ((json_int_t) days) : NULL;
    return json_real (seg_profile_number (facts->profile, path));
}

static bool s_in_segment (void *context, const char *name)
{
    return nd_json_has_string (((s_facts_t *) context)->members, name);
}

static bool s_holds (const s_node_t *node, const nd_cond_facts_t *facts)
{
    if (node->kind == NODE_TEST)
        return nd_cond_eval (node->cond, facts);
    for (size_t i = 0; i < node->count; i++) {
        bool holds = s_holds (node->children [i], facts);
        if (node->kind == NODE_ANY && holds)
            return true;
        if (node->kind != NODE_ANY && holds == (node->kind == NODE_NONE))
            return false;
    }
    return node->kind != NODE_ANY;
}

void seg_rules_match (seg_rules_t *self, const json_t *profile, int64_t now, json_t *members)
{
    s_facts_t facts = { profile, now, members };
    nd_cond_facts_t ask = { s_value, s_in_segment, &facts };
    for (size_t i = 0; i < self->count; i++)
        if (s_holds (self->segments [i].root, &ask))
            json_array_append_new (members, json_string (self->segments [i].name));
}

typedef struct {
    const json_t *profile;
    int64_t now;
    int64_t next;
} s_change_t;

//  A test on days_since_X flips only when the day count crosses its
//  value: at X + floor(value) days or the day after.
static int s_next_change_test (void *context, const nd_cond_test_t *test)
{
    s_change_t *change = (s_change_t *) context;
    const char *field = test->path ? seg_profile_age_field (test->path) : NULL;
    if (!field || !json_is_number (test->value) || !json_object_get (change->profile, field)
    ||  fabs (json_number_value (test->value)) > 1e6)
        return 0;
    double value = json_number_value (test->value);
    int64_t base = seg_profile_time (change->profile, field);
    for (int64_t day = (int64_t) floor (value); day <= floor (value) + 1; day++) {
        int64_t when = base + day * SEG_DAY_MS;
        if (when > change->now && (change->next == 0 || when < change->next))
            change->next = when;
    }
    return 0;
}

static void s_next_change (const s_node_t *node, s_change_t *change)
{
    for (size_t i = 0; i < node->count; i++)
        s_next_change (node->children [i], change);
    if (node->kind == NODE_TEST)
        nd_cond_tests (node->cond, s_next_change_test, change);
}

int64_t seg_rules_next_change (seg_rules_t *self, const json_t *profile, int64_t now)
{
    s_change_t change = { profile, now, 0 };
    for (size_t i = 0; i < self->count; i++)
        s_next_change (self->segments [i].root, &change);
    return change.next;
}

/* ------------------------------------------------------------ selftest -- */

//  Writes text to a temporary file and loads it.
static seg_rules_t *s_load_text (const char *text)
{
    char file [] = "/tmp/seg-rules-test-XXXXXX";
    int fd = mkstemp (file);
    assert (fd >= 0);
    assert (write (fd, text, strlen (text)) == (ssize_t) strlen (text));
    close (fd);
    char *error = NULL;
    seg_rules_t *rules = seg_rules_load (file, &error);
    assert (rules ? !error : error && strstr (error, file));
    zstr_free (&error);
    unlink (file);
    return rules;
}

static bool s_in (seg_rules_t *rules, const json_t *profile, int64_t now, const char *name)
{
    json_t *members = json_pack ("[s]", "customer");
    seg_rules_match (rules, profile, now, members);
    bool in = nd_json_has_string (members, name);
    json_decref (members);
    return in;
}

void seg_rules_test (bool verbose)
{
    if (verbose)
        printf (" * seg_rules: ");
    seg_rules_t *rules = s_load_text (
        "#   test rules\n"
        "big_spender\n"
        "    description = \"spent a lot\"\n"
        "    match = \"spend >= 500\"\n"
        "shoe_fan\n"
        "    match = \"(category.shoes >= 3 or trait.address.city = 'Oslo')"
        " and not in segment big_spender\"\n"
        "win_back\n"
        "    match = segment:customer\n"
        "    match = \"days_since_last_order > 30\"\n"
        "    match = trait:email exists\n");
    assert (rules && seg_rules_size (rules) == 3);
    assert (streq (seg_rules_name (rules, 1), "shoe_fan"));
    int64_t t0 = 1767225600000LL;
    json_t *profile = seg_profile_new (t0);
    json_object_set_new (profile, "spend", json_real (499.5));
    json_object_set_new (profile, "traits", json_pack ("{s:{s:s}, s:s}",
                         "address", "city", "Oslo", "email", "a@example.com"));
    assert (!s_in (rules, profile, t0, "big_spender") && s_in (rules, profile, t0, "shoe_fan"));
    json_object_set_new (profile, "spend", json_integer (500));
    assert (s_in (rules, profile, t0, "big_spender") && !s_in (rules, profile, t0, "shoe_fan"));
    assert (!s_in (rules, profile, t0, "win_back"));
    json_object_set_new (profile, "last_order", json_integer (t0));
    assert (seg_rules_next_change (rules, profile, t0) == t0 + 30 * SEG_DAY_MS);
    assert (!s_in (rules, profile, t0 + 30 * SEG_DAY_MS, "win_back"));
    assert (seg_rules_next_change (rules, profile, t0 + 30 * SEG_DAY_MS) == t0 + 31 * SEG_DAY_MS);
    assert (s_in (rules, profile, t0 + 31 * SEG_DAY_MS, "win_back"));
    json_decref (profile);
    seg_rules_destroy (&rules);
    seg_rules_destroy (&rules);

    const char *bad [] = {
        "a\n    match = \"spnd >= 1\"\n", "a\n    match = \"spend >= lots\"\n",
        "a\n    match = \"in segment b\"\n", "a\n    all\n", "customer\n    match = orders\n",
        "a\n    match = \"trait.x > abc\"\n", "a\n    maybe = 1\n", "a\n   match = 1\n",
        "a\n    match = \"orders = many\"\n", "a\n    match = \"trait exists\"\n",
        "a\n    match = \"category = 3\"\n", "a\n    match = \"spend has 3\"\n",
        "a\n    match = \"spend > 1 and\"\n", NULL
    };
    for (size_t i = 0; bad [i]; i++)
        assert (s_load_text (bad [i]) == NULL);
    char *error;
    assert (seg_rules_load ("/nonexistent/segments.zpl", &error) == NULL
            && strstr (error, "/nonexistent/segments.zpl"));
    zstr_free (&error);
    rules = seg_rules_load (NULL, &error);
    assert (rules && seg_rules_size (rules) == 0 && !error);
    seg_rules_destroy (&rules);
    if (verbose)
        printf ("OK\n");
}
