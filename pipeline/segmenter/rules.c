/*  rules.c - rule segments: tests over a profile, read from a ZPL file.

    Each top-level section of the file (conf/segments.zpl) is a segment;
    the visitor is in it when every item under it holds. An item is a
    test, "match = TEST", or a group of items: "all" (every one holds),
    "any" (at least one) or "none" (not one). segmenter(1) has the
    grammar; in short a TEST is "NAME [OP VALUE]" where NAME is a counter
    (spend), an age in days (days_since_last_order), category:NAME,
    trait:NAME or segment:NAME, and OP is >=, >, <=, <, ==, != or exists.

    The file is checked whole at start: a bad rule stops the segmenter
    with "file:line: reason". zconfig keeps no line numbers, so the parser
    remembers where it is as sibling ordinals from the top and s_line_of
    walks the file with ZPL's indentation rules to find that line.      */
#include <assert.h>
#include <czmq.h>
#include <math.h>
#include "segmenter.h"

#define S_DEPTH 8               //  nesting a rule file may use

typedef enum { NODE_ALL, NODE_ANY, NODE_NONE, NODE_TEST } s_kind_t;
typedef enum {
    OPERAND_COUNTER, OPERAND_AGE, OPERAND_CATEGORY, OPERAND_TRAIT, OPERAND_SEGMENT
} s_operand_t;
typedef enum { OP_HOLDS, OP_GE, OP_GT, OP_LE, OP_LT, OP_EQ, OP_NE } s_op_t;

typedef struct _s_node_t s_node_t;
struct _s_node_t {
    s_kind_t kind;
    s_node_t **children;        //  all, any, none
    size_t count;
    s_operand_t operand;        //  test
    char *name;                 //  counter, profile time, category, trait path or segment
    s_op_t op;
    char *text;                 //  the value as written, unquoted
    bool is_number;
    double number;
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

static const struct {
    const char *text;
    s_op_t op;
} s_ops [] = {
    { ">=", OP_GE }, { ">", OP_GT }, { "<=", OP_LE }, { "<", OP_LT },
    { "==", OP_EQ }, { "=", OP_EQ }, { "!=", OP_NE }, { "exists", OP_HOLDS },
};

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
        free (node->name);
        free (node->text);
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

static int s_parse_operand (s_parser_t *p, s_node_t *node, const char *word)
{
    static const char *const prefixes [] = { "category:", "trait:", "segment:", NULL };
    static const s_operand_t kinds [] = { OPERAND_CATEGORY, OPERAND_TRAIT, OPERAND_SEGMENT };
    for (size_t i = 0; prefixes [i]; i++)
        if (strncmp (word, prefixes [i], strlen (prefixes [i])) == 0) {
            node->operand = kinds [i];
            node->name = strdup (word + strlen (prefixes [i]));
            if (!*node->name)
                return s_error (p, "'%s' needs a name after the colon", word);
            if (node->operand == OPERAND_SEGMENT && !s_known_segment (p, node->name))
                return s_error (p, "'%s': no built-in group or segment above has that name", word);
            return 0;
        }
    const char *age = seg_profile_age_field (word);
    if (!age && !seg_profile_is_counter (word))
        return s_error (p, "unknown name '%s' (known: %s)", word, seg_profile_names ());
    node->operand = age ? OPERAND_AGE : OPERAND_COUNTER;
    node->name = strdup (age ? age : word);
    return 0;
}

static int s_parse_op (s_parser_t *p, s_node_t *node, const char *word)
{
    node->op = OP_HOLDS;
    if (!*word)
        return 0;
    for (size_t i = 0; i < sizeof s_ops / sizeof s_ops [0]; i++)
        if (streq (word, s_ops [i].text)) {
            node->op = s_ops [i].op;
            return 0;
        }
    return s_error (p, "unknown comparison '%s' (use >=, >, <=, <, ==, != or exists)", word);
}

//  The value: the rest of the line, a number unless it is quoted.
static int s_parse_value (s_parser_t *p, s_node_t *node, const char *rest, const char *word)
{
    size_t length = strlen (rest);
    while (length && isspace ((unsigned char) rest [length - 1]))
        length--;
    bool quoted = length >= 2 && (rest [0] == '\'' || rest [0] == '"')
               && rest [length - 1] == rest [0];
    node->text = quoted ? strndup (rest + 1, length - 2) : strndup (rest, length);
    char *end;
    node->number = strtod (node->text, &end);
    node->is_number = !quoted && *node->text && *end == 0;
    bool numeric = node->operand != OPERAND_TRAIT && node->operand != OPERAND_SEGMENT;
    if (node->op == OP_HOLDS)
        return length ? s_error (p, "'%s' takes no value after it", word) : 0;
    if (node->operand == OPERAND_SEGMENT)
        return s_error (p, "'%s' takes no comparison: write it alone, or under none", word);
    if (!length)
        return s_error (p, "'%s' needs a value to compare with", word);
    if (numeric && !node->is_number)
        return s_error (p, "'%s' is not a number", node->text);
    if (!node->is_number && node->op != OP_EQ && node->op != OP_NE)
        return s_error (p, "only == and != compare text");
    return 0;
}

//  Reads the next space-separated word of *cursor into word.
static void s_word (const char **cursor, char *word, size_t size)
{
    const char *start = *cursor + strspn (*cursor, " \t");
    size_t length = strcspn (start, " \t");
    snprintf (word, size, "%.*s", (int) length, start);
    *cursor = start + length;
}

static s_node_t *s_parse_test (s_parser_t *p, const char *text)
{
    s_node_t *node = s_node_new (NODE_TEST);
    char operand [256], op [16];
    const char *cursor = text ? text : "";
    s_word (&cursor, operand, sizeof operand);
    s_word (&cursor, op, sizeof op);
    int rc = *operand ? 0 : s_error (p, "match needs a test, such as \"orders >= 1\"");
    if (rc == 0)
        rc = s_parse_operand (p, node, operand);
    if (rc == 0)
        rc = s_parse_op (p, node, op);
    if (rc == 0)
        rc = s_parse_value (p, node, cursor + strspn (cursor, " \t"), operand);
    if (rc)
        s_node_destroy (&node);
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

static bool s_compare (s_op_t op, double a, double b)
{
    switch (op) {
        case OP_GE: return a >= b;
        case OP_GT: return a > b;
        case OP_LE: return a <= b;
        case OP_LT: return a < b;
        case OP_EQ: return a == b;
        case OP_NE: return a != b;
        default:    return a != 0;
    }
}

//  traits, then each dot-separated part of path.
static const json_t *s_trait (const json_t *profile, const char *path)
{
    const json_t *value = json_object_get (profile, "traits");
    char part [256];
    while (value && *path) {
        size_t length = strcspn (path, ".");
        snprintf (part, sizeof part, "%.*s", (int) length, path);
        value = json_object_get (value, part);
        path += length + (path [length] == '.');
    }
    return value;
}

//  A missing trait fails every comparison, != included.
static bool s_test_trait (const s_node_t *node, const json_t *value)
{
    if (!value || json_is_null (value))
        return false;
    if (node->op == OP_HOLDS)
        return !json_is_false (value) && !(json_is_string (value) && !json_string_length (value));
    double number;
    char *end;
    const char *text = json_string_value (value);
    bool numeric = json_is_number (value) || (text && *text && (strtod (text, &end), *end == 0));
    if (node->is_number && numeric) {
        number = text ? strtod (text, NULL) : json_number_value (value);
        return s_compare (node->op, number, node->number);
    }
    const char *truth = json_is_true (value) ? "true" : "false";
    bool equal = json_is_boolean (value) ? streq (node->text, truth)
               : text ? streq (node->text, text) : false;
    return node->op == OP_EQ ? equal : node->op == OP_NE ? !equal : false;
}

static bool s_member (const json_t *members, const char *name)
{
    size_t index;
    json_t *member;
    json_array_foreach (members, index, member)
        if (streq (json_string_value (member), name))
            return true;
    return false;
}

static bool s_test (const s_node_t *node, const json_t *profile, int64_t now,
                    const json_t *members)
{
    double value = 0;
    int64_t days;
    switch (node->operand) {
        case OPERAND_SEGMENT:
            return s_member (members, node->name);
        case OPERAND_TRAIT:
            return s_test_trait (node, s_trait (profile, node->name));
        case OPERAND_AGE:
            //  Someone who never ordered has no days_since_last_order.
            if (!seg_profile_days_since (profile, node->name, now, &days))
                return false;
            if (node->op == OP_HOLDS)
                return true;
            value = (double) days;
            break;
        case OPERAND_CATEGORY:
            value = seg_profile_number (json_object_get (profile, "categories"), node->name);
            break;
        case OPERAND_COUNTER:
            value = seg_profile_number (profile, node->name);
            break;
    }
    return s_compare (node->op, value, node->number);
}

static bool s_holds (const s_node_t *node, const json_t *profile, int64_t now,
                     const json_t *members)
{
    if (node->kind == NODE_TEST)
        return s_test (node, profile, now, members);
    for (size_t i = 0; i < node->count; i++) {
        bool holds = s_holds (node->children [i], profile, now, members);
        if (node->kind == NODE_ANY && holds)
            return true;
        if (node->kind != NODE_ANY && holds == (node->kind == NODE_NONE))
            return false;
    }
    return node->kind != NODE_ANY;
}

void seg_rules_match (seg_rules_t *self, const json_t *profile, int64_t now, json_t *members)
{
    for (size_t i = 0; i < self->count; i++)
        if (s_holds (self->segments [i].root, profile, now, members))
            json_array_append_new (members, json_string (self->segments [i].name));
}

//  A test on days_since_X flips only when the day count crosses its
//  value: at X + floor(value) days or the day after.
static void s_next_change (const s_node_t *node, const json_t *profile, int64_t now,
                           int64_t *next)
{
    for (size_t i = 0; i < node->count; i++)
        s_next_change (node->children [i], profile, now, next);
    if (node->kind != NODE_TEST || node->operand != OPERAND_AGE || node->op == OP_HOLDS
    ||  !json_object_get (profile, node->name) || fabs (node->number) > 1e6)
        return;
    int64_t base = seg_profile_time (profile, node->name);
    for (int64_t day = (int64_t) floor (node->number); day <= floor (node->number) + 1; day++) {
        int64_t when = base + day * SEG_DAY_MS;
        if (when > now && (*next == 0 || when < *next))
            *next = when;
    }
}

int64_t seg_rules_next_change (seg_rules_t *self, const json_t *profile, int64_t now)
{
    int64_t next = 0;
    for (size_t i = 0; i < self->count; i++)
        s_next_change (self->segments [i].root, profile, now, &next);
    return next;
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
    bool in = s_member (members, name);
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
        "    any\n"
        "        match = \"category:shoes >= 3\"\n"
        "        match = \"trait:address.city == 'Oslo'\"\n"
        "    none\n"
        "        match = segment:big_spender\n"
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
        "a\n    match = \"segment:b\"\n", "a\n    all\n", "customer\n    match = orders\n",
        "a\n    match = \"trait:x > abc\"\n", "a\n    maybe = 1\n", "a\n   match = 1\n", NULL
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
