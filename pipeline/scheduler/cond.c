/*  cond.c - conditions in journey files, and paths into JSON.

    Layer: rules: calls nothing of the scheduler's.

    One small language serves a trigger's filter ("when"), a check step
    ("if") and re-entry keys, so an operator learns it once:

        [not] PATH [OP VALUE]       OP: = != > >= < <= has

    PATH is dot-separated names into the message (or the check's view);
    a name applied to an array maps over its items, so
    "cart.items.category has shoes" asks whether any line is a shoe.
    Without OP the condition holds when the value is there and is not
    false, null, 0, "" or empty. VALUE is a number, true, false, null, a
    "quoted" string or a bare word.                                      */
#include <assert.h>
#include <ctype.h>
#include "cond.h"

typedef enum { OP_TRUTHY, OP_EQ, OP_NE, OP_GT, OP_GE, OP_LT, OP_LE, OP_HAS } op_t;

struct _cond_t {
    bool negate;
    char *path;
    op_t op;
    json_t *value;
};

static const struct { const char *text; op_t op; } s_ops [] = {
    { "=", OP_EQ }, { "==", OP_EQ }, { "!=", OP_NE }, { ">", OP_GT }, { ">=", OP_GE },
    { "<", OP_LT }, { "<=", OP_LE }, { "has", OP_HAS }, { NULL, OP_TRUTHY }
};

static json_t *s_literal (const char *text, char **error)
{
    size_t length = strlen (text);
    if (length >= 2 && (text [0] == '"' || text [0] == '\'') && text [length - 1] == text [0])
        return json_stringn (text + 1, length - 2);
    if (streq (text, "true") || streq (text, "false"))
        return json_boolean (streq (text, "true"));
    if (streq (text, "null"))
        return json_null ();
    char *end;
    double number = strtod (text, &end);
    if (end != text && *end == 0)
        return json_real (number);
    if (strpbrk (text, " \t\"'")) {
        *error = zsys_sprintf ("value '%s' needs quotes", text);
        return NULL;
    }
    return json_string (text);
}

//  Splits "[not] path [op value]" into its parts.
static int s_parse (cond_t *self, char *text, char **error)
{
    char *save = NULL, *word = strtok_r (text, " \t", &save);
    if (word && streq (word, "not")) {
        self->negate = true;
        word = strtok_r (NULL, " \t", &save);
    }
    if (!word) {
        *error = strdup ("empty condition");
        return -1;
    }
    self->path = strdup (word);
    char *op = strtok_r (NULL, " \t", &save);
    if (!op)
        return 0;
    int i;
    for (i = 0; s_ops [i].text && !streq (s_ops [i].text, op); i++)
        ;
    if (!s_ops [i].text) {
        *error = zsys_sprintf ("unknown operator '%s' (= != > >= < <= has)", op);
        return -1;
    }
    self->op = s_ops [i].op;
    char *rest = save ? save + strspn (save, " \t") : NULL;
    if (!rest || !*rest) {
        *error = zsys_sprintf ("operator '%s' needs a value", op);
        return -1;
    }
    for (char *end = rest + strlen (rest); end > rest && isspace ((unsigned char) end [-1]); )
        *--end = 0;
    self->value = s_literal (rest, error);
    if (self->value && self->op >= OP_GT && self->op <= OP_LE && !json_is_number (self->value)) {
        *error = zsys_sprintf ("operator '%s' needs a number", op);
        return -1;
    }
    return self->value ? 0 : -1;
}

cond_t *cond_new (const char *text, char **error)
{
    cond_t *self = (cond_t *) zmalloc (sizeof *self);
    char *copy = strdup (text);
    *error = NULL;
    if (s_parse (self, copy, error))
        cond_destroy (&self);
    free (copy);
    return self;
}

void cond_destroy (cond_t **self_p)
{
    cond_t *self = *self_p;
    if (self) {
        free (self->path);
        json_decref (self->value);
        free (self);
        *self_p = NULL;
    }
}

static json_t *s_get (const json_t *doc, char **parts, size_t index, size_t count)
{
    if (index == count)
        return json_incref ((json_t *) doc);
    const char *part = parts [index];
    if (json_is_object (doc)) {
        json_t *child = json_object_get (doc, part);
        return child ? s_get (child, parts, index + 1, count) : NULL;
    }
    if (!json_is_array (doc))
        return NULL;
    if (isdigit ((unsigned char) *part) && strspn (part, "0123456789") == strlen (part)) {
        json_t *item = json_array_get (doc, (size_t) atol (part));
        return item ? s_get (item, parts, index + 1, count) : NULL;
    }
    //  A name applied to an array maps over its items, one level flat.
    json_t *mapped = json_array ();
    size_t i;
    json_t *item;
    json_array_foreach (doc, i, item) {
        json_t *value = s_get (item, parts, index, count);
        if (json_is_array (value))
            json_array_extend (mapped, value);
        else
        if (value)
            json_array_append (mapped, value);
        json_decref (value);
    }
    return mapped;
}

json_t *path_get (const json_t *doc, const char *path)
{
    char *copy = strdup (path), *parts [32], *save = NULL;
    size_t count = 0;
    for (char *part = strtok_r (copy, ".", &save); part && count < 32;
         part = strtok_r (NULL, ".", &save))
        parts [count++] = part;
    json_t *value = count ? s_get (doc, parts, 0, count) : NULL;
    free (copy);
    return value;
}

static bool s_truthy (const json_t *value)
{
    switch (json_typeof (value)) {
        case JSON_OBJECT: return json_object_size (value) > 0;
        case JSON_ARRAY: return json_array_size (value) > 0;
        case JSON_STRING: return json_string_length (value) > 0;
        case JSON_INTEGER:
        case JSON_REAL: return json_number_value (value) != 0;
        case JSON_TRUE: return true;
        default: return false;
    }
}

static bool s_equal (const json_t *a, const json_t *b)
{
    if (json_is_number (a) && json_is_number (b))
        return json_number_value (a) == json_number_value (b);
    return json_equal ((json_t *) a, (json_t *) b);
}

static bool s_compare (op_t op, const json_t *have, const json_t *want)
{
    switch (op) {
        case OP_EQ: return s_equal (have, want);
        case OP_NE: return !s_equal (have, want);
        case OP_HAS:
            if (json_is_string (have) && json_is_string (want))
                return strstr (json_string_value (have), json_string_value (want)) != NULL;
            if (json_is_array (have)) {
                size_t i;
                json_t *item;
                json_array_foreach (have, i, item)
                    if (s_equal (item, want))
                        return true;
            }
            return false;
        default:
            break;
    }
    if (!json_is_number (have))
        return false;
    double a = json_number_value (have), b = json_number_value (want);
    return op == OP_GT ? a > b : op == OP_GE ? a >= b : op == OP_LT ? a < b : a <= b;
}

bool cond_eval (const cond_t *self, const json_t *doc)
{
    json_t *have = path_get (doc, self->path);
    bool holds;
    if (self->op == OP_TRUTHY)
        holds = have && s_truthy (have);
    else
        holds = have ? s_compare (self->op, have, self->value)
                     : self->op == OP_NE;       //  absent differs from anything
    json_decref (have);
    return self->negate ? !holds : holds;
}

void cond_test (bool verbose)
{
    if (verbose)
        printf (" * cond: ");
    json_t *doc = json_loads ("{\"cart\": {\"value\": 25.5, \"currency\": \"EUR\", \"items\": ["
                              "{\"name\": \"Shoe\", \"category\": \"shoes\"},"
                              "{\"name\": \"Hat\", \"category\": \"hats\"}]},"
                              "\"segments\": [\"vip\"], \"ordered\": false}", 0, NULL);
    const struct { const char *text; bool holds; } cases [] = {
        { "cart.value > 20", true }, { "cart.value <= 20", false },
        { "cart.currency = EUR", true }, { "cart.currency != \"EUR\"", false },
        { "cart.items.category has shoes", true }, { "cart.items.category has socks", false },
        { "segments has vip", true }, { "not segments has staff", true },
        { "cart.items", true }, { "ordered", false }, { "not ordered", true },
        { "cart.items.1.name = Hat", true }, { "missing.thing", false },
        { "missing != 3", true }, { NULL, false }
    };
    for (int i = 0; cases [i].text; i++) {
        char *error = NULL;
        cond_t *cond = cond_new (cases [i].text, &error);
        assert (cond);
        assert (cond_eval (cond, doc) == cases [i].holds);
        cond_destroy (&cond);
        cond_destroy (&cond);
    }
    const char *bad [] = { "", "a ~ b", "a >", "a > big", "a = two words", NULL };
    for (int i = 0; bad [i]; i++) {
        char *error = NULL;
        assert (cond_new (bad [i], &error) == NULL && error);
        free (error);
    }
    json_t *names = path_get (doc, "cart.items.name");
    assert (json_array_size (names) == 2);
    json_decref (names);
    json_decref (doc);
    if (verbose)
        printf ("OK\n");
}
