/*  nd_cond.c - the condition language of segments and journeys: parser,
    evaluator and paths into JSON (nd_cond.h has the grammar,
    nudge-conditions(5) the manual).

    The text is cut into tokens first, then read by recursive descent, one
    function per level of the grammar, so "or" binds loosest and "not"
    tightest. Old spellings are rewritten while cutting: the parser sees
    only the new language, and the rewritten text is the new spelling the
    loader warns with.                                                   */
#include <assert.h>
#include <ctype.h>
#include <czmq.h>
#include "nd_cond.h"

typedef enum { T_END, T_WORD, T_TEXT, T_OP, T_OPEN, T_CLOSE } s_token_kind_t;

typedef struct {
    s_token_kind_t kind;
    char *text;                 //  a word, an operator, or quoted text unquoted
    int column;                 //  1-based, in the text as written
} s_token_t;

typedef enum {
    OP_TRUTHY, OP_EXISTS, OP_EQ, OP_NE, OP_LT, OP_LE, OP_GT, OP_GE, OP_HAS
} s_op_t;

static const char *const s_op_text [] = { "", "exists", "=", "!=", "<", "<=", ">", ">=", "has" };

typedef enum { NODE_OR, NODE_AND, NODE_NOT, NODE_SEGMENT, NODE_TEST } s_node_kind_t;

typedef struct _s_node_t s_node_t;
struct _s_node_t {
    s_node_kind_t kind;
    s_node_t *left, *right;     //  or, and: both; not: left
    char *name;                 //  test: the path; segment: its name
    s_op_t op;
    json_t *value;              //  what op compares with, or NULL
};

struct _nd_cond_t {
    s_node_t *root;
    char *modern;               //  the new spelling, if the text used an old one
};

typedef struct {
    const char *source;
    s_token_t *tokens;
    size_t count;
    size_t at;                  //  the parser's next token
    char *modern;               //  the text rewritten into the new spelling...
    size_t modern_length;
    size_t copied;              //  ...up to this offset of source
    bool old;
    int depth;                  //  nots and parentheses open
    char *error;
} s_parser_t;

#define S_MAX_DEPTH 32          //  deeper is a mistake, and must not run the stack out

static const char *const s_reserved [] = { "and", "or", "not", "in", "exists", "has", NULL };

/* ------------------------------------------------------------- nodes -- */

static s_node_t *s_node_new (s_node_kind_t kind, s_node_t *left, s_node_t *right)
{
    s_node_t *node = (s_node_t *) zmalloc (sizeof *node);
    node->kind = kind;
    node->left = left;
    node->right = right;
    return node;
}

static void s_node_destroy (s_node_t **node_p)
{
    s_node_t *node = *node_p;
    if (node) {
        s_node_destroy (&node->left);
        s_node_destroy (&node->right);
        free (node->name);
        json_decref (node->value);
        free (node);
        *node_p = NULL;
    }
}

/* ------------------------------------------------------------ tokens -- */

static int s_fail (s_parser_t *p, int column, const char *format, ...)
{
    if (p->error)
        return -1;
    char reason [256];
    va_list args;
    va_start (args, format);
    vsnprintf (reason, sizeof reason, format, args);
    va_end (args);
    p->error = zsys_sprintf ("column %d: %s", column, reason);
    return -1;
}

static void s_push (s_parser_t *p, s_token_kind_t kind, const char *text, size_t length,
                    int column)
{
    p->tokens = (s_token_t *) realloc (p->tokens, (p->count + 1) * sizeof (s_token_t));
    assert (p->tokens);
    p->tokens [p->count++] = (s_token_t) { kind, strndup (text, length), column };
}

//  Writes replacement for source [offset, offset + length) into the new
//  spelling, with what came before it as written.
static void s_rewrite (s_parser_t *p, size_t offset, size_t length, const char *replacement)
{
    size_t before = offset - p->copied;
    p->modern = (char *) realloc (p->modern, p->modern_length + before + strlen (replacement) + 1);
    assert (p->modern);
    memcpy (p->modern + p->modern_length, p->source + p->copied, before);
    p->modern_length += before;
    strcpy (p->modern + p->modern_length, replacement);
    p->modern_length += strlen (replacement);
    p->copied = offset + length;
    p->old = true;
}

static bool s_word_char (char c)
{
    return isalnum ((unsigned char) c) || (c & 0x80) || strchr ("_-.+:@/", c);
}

//  A word, with the old "trait:NAME", "category:NAME" and "segment:NAME"
//  rewritten as "trait.NAME", "category.NAME" and "in segment NAME".
static void s_word (s_parser_t *p, size_t offset, size_t length)
{
    const char *word = p->source + offset;
    int column = (int) offset + 1;
    if (length > 8 && strncmp (word, "segment:", 8) == 0) {
        char *name = strndup (word + 8, length - 8);
        char *modern = zsys_sprintf ("in segment %s", name);
        s_rewrite (p, offset, length, modern);
        s_push (p, T_WORD, "in", 2, column);
        s_push (p, T_WORD, "segment", 7, column);
        s_push (p, T_WORD, name, strlen (name), column + 8);
        free (modern);
        free (name);
        return;
    }
    s_push (p, T_WORD, word, length, column);
    const char *prefix = length > 6 && strncmp (word, "trait:", 6) == 0 ? "trait."
                       : length > 9 && strncmp (word, "category:", 9) == 0 ? "category." : NULL;
    if (prefix) {
        char *modern = zsys_sprintf ("%s%.*s", prefix, (int) (length - strlen (prefix)),
                                     word + strlen (prefix));
        s_rewrite (p, offset, length, modern);
        free (p->tokens [p->count - 1].text);
        p->tokens [p->count - 1].text = modern;
    }
}

static int s_operator (s_parser_t *p, size_t offset)
{
    static const char *const known [] = { "=", "!=", "<", "<=", ">", ">=", NULL };
    const char *text = p->source + offset;
    size_t length = strspn (text, "=!<>");
    if (length == 2 && strncmp (text, "==", 2) == 0) {
        s_rewrite (p, offset, 2, "=");
        s_push (p, T_OP, "=", 1, (int) offset + 1);
        return 2;
    }
    for (size_t i = 0; known [i]; i++)
        if (strlen (known [i]) == length && strncmp (known [i], text, length) == 0) {
            s_push (p, T_OP, text, length, (int) offset + 1);
            return (int) length;
        }
    return s_fail (p, (int) offset + 1, "unknown operator '%.*s' (= != < <= > >= has exists)",
                   (int) length, text);
}

static int s_tokenize (s_parser_t *p)
{
    const char *text = p->source;
    size_t at = 0;
    while (true) {
        at += strspn (text + at, " \t\r\n");
        char c = text [at];
        int column = (int) at + 1;
        if (c == 0)
            break;
        if (c == '(' || c == ')') {
            s_push (p, c == '(' ? T_OPEN : T_CLOSE, text + at, 1, column);
            at++;
        }
        else
        if (c == '"' || c == '\'') {
            const char *end = strchr (text + at + 1, c);
            if (!end)
                return s_fail (p, column, "text opened with %c is not closed", c);
            s_push (p, T_TEXT, text + at + 1, (size_t) (end - text - at - 1), column);
            at = (size_t) (end - text) + 1;
        }
        else
        if (strchr ("=!<>", c)) {
            int length = s_operator (p, at);
            if (length < 0)
                return -1;
            at += (size_t) length;
        }
        else
        if (s_word_char (c)) {
            size_t length = 0;
            while (text [at + length] && s_word_char (text [at + length]))
                length++;
            s_word (p, at, length);
            at += length;
        }
        else {
            size_t length = 1;
            while (ispunct ((unsigned char) text [at + length]) && !strchr ("()\"'", text [at + length])
               &&  !s_word_char (text [at + length]))
                length++;
            return s_fail (p, column, "unknown operator '%.*s' (= != < <= > >= has exists)",
                           (int) length, text + at);
        }
    }
    s_push (p, T_END, "", 0, (int) at + 1);
    if (p->old)
        s_rewrite (p, at, 0, "");
    return 0;
}

/* ------------------------------------------------------------ parser -- */

static s_token_t *s_peek (s_parser_t *p)
{
    return &p->tokens [p->at];
}

static bool s_is_reserved (const s_token_t *token)
{
    for (size_t i = 0; s_reserved [i]; i++)
        if (token->kind == T_WORD && streq (token->text, s_reserved [i]))
            return true;
    return false;
}

static bool s_keyword (s_parser_t *p, const char *word)
{
    s_token_t *token = s_peek (p);
    return token->kind == T_WORD && streq (token->text, word);
}

//  What the token is, for an error: its text, or "the end".
static const char *s_what (const s_token_t *token, char *buffer, size_t size)
{
    if (token->kind == T_END)
        return "the end";
    snprintf (buffer, size, "'%s'", token->text);
    return buffer;
}

static bool s_path_ok (const char *path)
{
    if (!isalpha ((unsigned char) *path) && *path != '_')
        return false;
    for (const char *c = path; *c; c++)
        if (!(isalnum ((unsigned char) *c) || *c == '_' || *c == '-' || *c == '.')
        ||  (*c == '.' && (c [1] == '.' || c [1] == 0)))
            return false;
    return true;
}

static json_t *s_literal (const s_token_t *token)
{
    if (token->kind == T_TEXT)
        return json_string (token->text);
    if (streq (token->text, "true") || streq (token->text, "false"))
        return json_boolean (streq (token->text, "true"));
    if (streq (token->text, "null"))
        return json_null ();
    char *end;
    double number = strtod (token->text, &end);
    if (end != token->text && *end == 0)
        return json_real (number);
    return json_string (token->text);
}

static s_node_t *s_or (s_parser_t *p);

//  PATH [exists | OP VALUE], or in segment NAME.
static s_node_t *s_test (s_parser_t *p)
{
    char what [160];
    s_token_t *token = s_peek (p);
    if (s_keyword (p, "in")) {
        p->at++;
        if (!s_keyword (p, "segment")) {
            s_fail (p, s_peek (p)->column, "'in' is followed by 'segment NAME'");
            return NULL;
        }
        p->at++;
        token = s_peek (p);
        if (token->kind != T_WORD || s_is_reserved (token) || !s_path_ok (token->text)
        ||  strchr (token->text, '.')) {
            s_fail (p, token->column, "'in segment' needs a segment's name, not %s",
                    s_what (token, what, sizeof what));
            return NULL;
        }
        p->at++;
        s_node_t *node = s_node_new (NODE_SEGMENT, NULL, NULL);
        node->name = strdup (token->text);
        return node;
    }
    if (token->kind != T_WORD || s_is_reserved (token) || !s_path_ok (token->text)) {
        s_fail (p, token->column, token->kind == T_WORD && !s_is_reserved (token)
                ? "%s is not a path such as cart.value" : "expected a test, found %s",
                s_what (token, what, sizeof what));
        return NULL;
    }
    p->at++;
    s_node_t *node = s_node_new (NODE_TEST, NULL, NULL);
    node->name = strdup (token->text);
    node->op = OP_TRUTHY;
    s_token_t *op = s_peek (p);
    if (s_keyword (p, "exists")) {
        node->op = OP_EXISTS;
        p->at++;
        return node;
    }
    if (op->kind != T_OP && !s_keyword (p, "has"))
        return node;
    for (int i = OP_EQ; i <= OP_HAS; i++)
        if (streq (s_op_text [i], op->text))
            node->op = (s_op_t) i;
    p->at++;
    token = s_peek (p);
    if ((token->kind != T_WORD && token->kind != T_TEXT) || s_is_reserved (token)) {
        s_fail (p, token->column, "'%s' needs a value to compare with, found %s", op->text,
                s_what (token, what, sizeof what));
        s_node_destroy (&node);
        return NULL;
    }
    p->at++;
    node->value = s_literal (token);
    if (node->op >= OP_LT && node->op <= OP_GE && !json_is_number (node->value)) {
        s_fail (p, token->column, "'%s' compares numbers; %s is not one", op->text,
                s_what (token, what, sizeof what));
        s_node_destroy (&node);
    }
    return node;
}

static s_node_t *s_unary (s_parser_t *p);

//  What follows a "not" or a "(" at column.
static s_node_t *s_nested (s_parser_t *p, bool parenthesis, int column)
{
    if (p->depth == S_MAX_DEPTH) {
        s_fail (p, column, "nested deeper than %d", S_MAX_DEPTH);
        return NULL;
    }
    p->depth++;
    s_node_t *node = parenthesis ? s_or (p) : s_unary (p);
    p->depth--;
    return node;
}

static s_node_t *s_unary (s_parser_t *p)
{
    if (s_keyword (p, "not")) {
        int column = s_peek (p)->column;
        p->at++;
        s_node_t *child = s_nested (p, false, column);
        return child ? s_node_new (NODE_NOT, child, NULL) : NULL;
    }
    s_token_t *open = s_peek (p);
    if (open->kind != T_OPEN)
        return s_test (p);
    p->at++;
    s_node_t *inner = s_nested (p, true, open->column);
    if (inner && s_peek (p)->kind != T_CLOSE) {
        s_fail (p, s_peek (p)->column, "the '(' at column %d is not closed", open->column);
        s_node_destroy (&inner);
    }
    if (inner)
        p->at++;
    return inner;
}

//  left { word right }: "and" over unary, "or" over "and".
static s_node_t *s_chain (s_parser_t *p, const char *word, s_node_kind_t kind,
                          s_node_t *(*operand) (s_parser_t *))
{
    s_node_t *left = operand (p);
    while (left && s_keyword (p, word)) {
        p->at++;
        s_node_t *right = operand (p);
        left = right ? s_node_new (kind, left, right) : (s_node_destroy (&left), NULL);
    }
    return left;
}

static s_node_t *s_and (s_parser_t *p)
{
    return s_chain (p, "and", NODE_AND, s_unary);
}

static s_node_t *s_or (s_parser_t *p)
{
    return s_chain (p, "or", NODE_OR, s_and);
}

nd_cond_t *nd_cond_new (const char *text, char **error)
{
    s_parser_t parser = { .source = text ? text : "" };
    s_node_t *root = NULL;
    if (s_tokenize (&parser) == 0) {
        root = s_or (&parser);
        s_token_t *rest = s_peek (&parser);
        if (root && rest->kind != T_END) {
            s_fail (&parser, rest->column, rest->kind == T_CLOSE
                    ? "')' without a '(' before it"
                    : "'%s' follows a whole test: join tests with and / or, quote text "
                      "with spaces", rest->text);
            s_node_destroy (&root);
        }
    }
    for (size_t i = 0; i < parser.count; i++)
        free (parser.tokens [i].text);
    free (parser.tokens);
    *error = parser.error;
    if (!root) {
        free (parser.modern);
        return NULL;
    }
    nd_cond_t *self = (nd_cond_t *) zmalloc (sizeof *self);
    self->root = root;
    self->modern = parser.old ? parser.modern : (free (parser.modern), NULL);
    return self;
}

void nd_cond_destroy (nd_cond_t **self_p)
{
    nd_cond_t *self = *self_p;
    if (self) {
        s_node_destroy (&self->root);
        free (self->modern);
        free (self);
        *self_p = NULL;
    }
}

const char *nd_cond_modern (const nd_cond_t *self)
{
    return self->modern;
}

/* -------------------------------------------------------- evaluation -- */

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

//  A number, or text that is one whole number ("42" in a trait).
static bool s_number (const json_t *value, double *number)
{
    if (json_is_number (value)) {
        *number = json_number_value (value);
        return true;
    }
    const char *text = json_string_value (value);
    char *end;
    if (!text || !*text)
        return false;
    *number = strtod (text, &end);
    return *end == 0;
}

static bool s_equal (const json_t *have, const json_t *want)
{
    double a, b;
    if ((json_is_number (have) || json_is_number (want))
    &&  s_number (have, &a) && s_number (want, &b))
        return a == b;
    return json_equal ((json_t *) have, (json_t *) want);
}

static bool s_compare (s_op_t op, const json_t *have, const json_t *want)
{
    double a, b;
    switch (op) {
        case OP_TRUTHY: return s_truthy (have);
        case OP_EXISTS:
            return !json_is_null (have) && !json_is_false (have)
                && !(json_is_string (have) && json_string_length (have) == 0);
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
    if (!s_number (have, &a) || !s_number (want, &b))
        return false;
    return op == OP_LT ? a < b : op == OP_LE ? a <= b : op == OP_GT ? a > b : a >= b;
}

static bool s_holds (const s_node_t *node, const nd_cond_facts_t *facts)
{
    switch (node->kind) {
        case NODE_OR:
            return s_holds (node->left, facts) || s_holds (node->right, facts);
        case NODE_AND:
            return s_holds (node->left, facts) && s_holds (node->right, facts);
        case NODE_NOT:
            return !s_holds (node->left, facts);
        case NODE_SEGMENT:
            return facts->in_segment && facts->in_segment (facts->context, node->name);
        case NODE_TEST:
            break;
    }
    json_t *have = facts->value ? facts->value (facts->context, node->name) : NULL;
    //  What is not there differs from anything, and is nothing else.
    bool holds = have ? s_compare (node->op, have, node->value) : node->op == OP_NE;
    json_decref (have);
    return holds;
}

bool nd_cond_eval (const nd_cond_t *self, const nd_cond_facts_t *facts)
{
    return s_holds (self->root, facts);
}

static int s_tests (const s_node_t *node,
                    int (*fn) (void *context, const nd_cond_test_t *test), void *context)
{
    if (!node)
        return 0;
    if (node->kind == NODE_SEGMENT)
        return fn (context, &(nd_cond_test_t) { node->name, NULL, "", NULL });
    if (node->kind == NODE_TEST)
        return fn (context, &(nd_cond_test_t) { NULL, node->name, s_op_text [node->op],
                                                node->value });
    int rc = s_tests (node->left, fn, context);
    return rc ? rc : s_tests (node->right, fn, context);
}

int nd_cond_tests (const nd_cond_t *self,
                   int (*fn) (void *context, const nd_cond_test_t *test), void *context)
{
    return s_tests (self->root, fn, context);
}

/* ------------------------------------------------------------- paths -- */

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

json_t *nd_cond_path (const json_t *doc, const char *path)
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

/* ---------------------------------------------------------- selftest -- */

static json_t *s_test_value (void *context, const char *path)
{
    return nd_cond_path ((const json_t *) context, path);
}

static bool s_test_in_segment (void *context, const char *name)
{
    json_t *members = nd_cond_path ((const json_t *) context, "segments");
    json_t *want = json_string (name);
    bool in = s_compare (OP_HAS, members, want);
    json_decref (want);
    json_decref (members);
    return in;
}

static int s_count_tests (void *context, const nd_cond_test_t *test)
{
    (*(int *) context)++;
    return test->segment && streq (test->segment, "stop") ? 7 : 0;
}

void nd_cond_test (bool verbose)
{
    if (verbose)
        printf (" * nd_cond: ");
    json_t *doc = json_loads ("{\"cart\": {\"value\": 25.5, \"currency\": \"EUR\", \"items\": ["
                              "{\"name\": \"Shoe\", \"category\": \"shoes\"},"
                              "{\"name\": \"Hat\", \"category\": \"hats\"}]},"
                              "\"segments\": [\"vip\", \"loyal\"], \"ordered\": false,"
                              "\"trait\": {\"email\": \"a@example.com\", \"age\": \"42\","
                              " \"city\": \"New York\", \"nick\": \"\", \"fax\": null},"
                              "\"visits\": 0, \"a\": true, \"b\": true, \"c\": false}", 0, NULL);
    nd_cond_facts_t facts = { s_test_value, s_test_in_segment, doc };
    const struct { const char *text; bool holds; } cases [] = {
        //  every operator
        { "cart.value > 20", true }, { "cart.value > 25.5", false },
        { "cart.value >= 25.5", true }, { "cart.value < 25.5", false },
        { "cart.value <= 25.5", true }, { "cart.value < 30", true },
        { "cart.value = 25.5", true }, { "cart.value != 25.5", false },
        { "cart.currency = EUR", true }, { "cart.currency != \"EUR\"", false },
        { "trait.city = 'New York'", true }, { "trait.age = 42", true },
        { "trait.age > 41", true }, { "cart.currency > 3", false },
        { "cart.items.category has shoes", true }, { "cart.items.category has socks", false },
        { "trait.email has example", true }, { "cart.value has 2", false },
        { "trait.email exists", true }, { "trait.nick exists", false },
        { "trait.fax exists", false }, { "trait.phone exists", false },
        { "visits exists", true }, { "visits", false }, { "cart.items", true },
        { "ordered", false }, { "not ordered", true }, { "ordered = false", true },
        { "cart.items.1.name = Hat", true }, { "missing.thing", false },
        { "missing != 3", true }, { "missing = 3", false }, { "missing < 3", false },
        { "in segment vip", true }, { "in segment staff", false },
        { "not in segment staff", true }, { "segments has loyal", true },
        //  precedence: not over and over or; parentheses
        { "a or b and c", true }, { "(a or b) and c", false },
        { "not a or b", true }, { "not (a or b)", false }, { "not a and b", false },
        { "c and a or b", true }, { "c and (a or b)", false },
        { "not not a", true }, { "((a))", true }, { "a and b and not c", true },
        { "c or c or a", true },
        //  old spellings, read as the new
        { "trait:email exists", true }, { "segment:vip", true }, { "visits == 0", true },
        { NULL, false }
    };
    for (int i = 0; cases [i].text; i++) {
        char *error = NULL;
        nd_cond_t *cond = nd_cond_new (cases [i].text, &error);
        if (!cond || nd_cond_eval (cond, &facts) != cases [i].holds)
            printf ("nd_cond: '%s' (%s)\n", cases [i].text, error ? error : "wrong");
        assert (cond && !error);
        assert (nd_cond_eval (cond, &facts) == cases [i].holds);
        nd_cond_destroy (&cond);
        nd_cond_destroy (&cond);
    }
    //  Errors name the column
    const struct { const char *text, *error; } bad [] = {
        { "", "column 1: expected a test, found the end" },
        { "a ~ b", "column 3: unknown operator '~'" },
        { "a ~= b", "column 3: unknown operator '~='" },
        { "a >", "column 4: '>' needs a value to compare with, found the end" },
        { "a > big", "column 5: '>' compares numbers; 'big' is not one" },
        { "a = two words", "column 9: 'words' follows a whole test" },
        { "a =< 3", "column 3: unknown operator '=<'" },
        { "(a or b", "column 8: the '(' at column 1 is not closed" },
        { "a)", "column 2: ')' without a '(' before it" },
        { "a and", "column 6: expected a test, found the end" },
        { "in vip", "column 4: 'in' is followed by 'segment NAME'" },
        { "in segment", "column 11: 'in segment' needs a segment's name" },
        { "a = 'open", "column 5: text opened with ' is not closed" },
        { "3 > a", "column 1: '3' is not a path" },
        { "a.. = 1", "column 1: 'a..' is not a path" },
        { "not", "column 4: expected a test" },
        { "a = and", "column 5: '=' needs a value" },
        { "((((((((((((((((((((((((((((((((a))))))))))))))))))))))))))))))))", NULL },
        { "(((((((((((((((((((((((((((((((((a)))))))))))))))))))))))))))))))))",
          "column 33: nested deeper than 32" },
        { NULL, NULL }
    };
    for (int i = 0; bad [i].text; i++) {
        char *error = NULL;
        nd_cond_t *cond = nd_cond_new (bad [i].text, &error);
        if (!bad [i].error) {           //  as deep as it may be
            assert (cond && !error);
            nd_cond_destroy (&cond);
            continue;
        }
        if (cond || !error || strncmp (error, bad [i].error, strlen (bad [i].error)))
            printf ("nd_cond: '%s' gave '%s'\n", bad [i].text, error ? error : "no error");
        assert (!cond && error && strncmp (error, bad [i].error, strlen (bad [i].error)) == 0);
        free (error);
    }
    //  Old spellings know their new one; new ones have none
    const struct { const char *old, *modern; } spellings [] = {
        { "trait:email exists", "trait.email exists" },
        { "segment:customer", "in segment customer" },
        { "orders == 0", "orders = 0" },
        { "category:shoes >= 3", "category.shoes >= 3" },
        { "trait:favorite_category == 'New York'", "trait.favorite_category = 'New York'" },
        { "not segment:customer  and x", "not in segment customer  and x" },
        { NULL, NULL }
    };
    for (int i = 0; spellings [i].old; i++) {
        char *error = NULL;
        nd_cond_t *cond = nd_cond_new (spellings [i].old, &error);
        assert (cond && nd_cond_modern (cond) && streq (nd_cond_modern (cond), spellings [i].modern));
        nd_cond_destroy (&cond);
        cond = nd_cond_new (spellings [i].modern, &error);
        assert (cond && !nd_cond_modern (cond));
        nd_cond_destroy (&cond);
    }
    //  The tests in order, and a visitor that stops
    char *error = NULL;
    nd_cond_t *cond = nd_cond_new ("a and (in segment x or not b > 2) and in segment stop and c",
                                   &error);
    int seen = 0;
    assert (cond && nd_cond_tests (cond, s_count_tests, &seen) == 7 && seen == 4);
    nd_cond_destroy (&cond);
    //  No facts: nothing is there, in no segment
    cond = nd_cond_new ("x != 1 and not in segment y", &error);
    assert (cond && nd_cond_eval (cond, &(nd_cond_facts_t) { NULL, NULL, NULL }));
    nd_cond_destroy (&cond);
    json_t *names = nd_cond_path (doc, "cart.items.name");
    assert (json_array_size (names) == 2);
    json_decref (names);
    json_decref (doc);
    if (verbose)
        printf ("OK\n");
}
