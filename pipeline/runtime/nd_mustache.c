/*  nd_mustache.c - Mustache templates over jansson values: the class and
    its renderer.

    Layer: runtime, the class's top: nd_mustache_new compiles through the
    parser (nd_mustache_parse.c, below it) into the tree of nodes of
    nd_mustache_private.h, and rendering walks that tree with a stack of
    contexts, innermost last. Partials are compiled on first use and kept
    with the template. The self-test is nd_mustache_test.c.

    A standalone partial is indented: the parser marks the text nodes
    that begin a source line (bol), so indenting at render time means
    writing the indent before each bol node and after each newline inside
    a text node.
*/
#include <assert.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "nd_mustache_private.h"

/*  A limit that turns a self-including partial into an error rather than
    a crash.                                                              */
#define S_MAX_PARTIAL_DEPTH 100

/*  A partial as last compiled; recompiled when its source changes.       */
typedef struct {
    char *name;
    char *source;
    nd_mustache_nodes_t nodes;
} s_partial_t;

struct _nd_mustache_t {
    nd_mustache_nodes_t nodes;
    s_partial_t **partial;      /* pointers: nodes must not move while a
                                   recursive partial renders */
    size_t partial_count;
    size_t partial_cap;
};

/* ---------------------------------------------------------------- output */

typedef struct {
    char *data;
    size_t size;
    size_t cap;
    bool failed;                /* out of memory; data is incomplete */
} s_buf_t;

static void
s_put (s_buf_t *buf, const char *data, size_t len)
{
    if (buf->failed)
        return;
    if (buf->size + len + 1 > buf->cap) {
        size_t cap = buf->cap? buf->cap: 256;
        while (cap < buf->size + len + 1)
            cap *= 2;
        char *grown = realloc (buf->data, cap);
        if (!grown) {
            buf->failed = true;
            return;
        }
        buf->data = grown;
        buf->cap = cap;
    }
    memcpy (buf->data + buf->size, data, len);
    buf->size += len;
    buf->data [buf->size] = '\0';
}

/*  The spec asks for & < > "; ' too, so a value is safe inside a
    single-quoted HTML attribute as well.                                 */
static void
s_put_escaped (s_buf_t *buf, const char *text, size_t len)
{
    size_t from = 0;
    for (size_t i = 0; i < len; i++) {
        const char *entity = text [i] == '&'?  "&amp;"
                           : text [i] == '<'?  "&lt;"
                           : text [i] == '>'?  "&gt;"
                           : text [i] == '"'?  "&quot;"
                           : text [i] == '\''? "&#39;": NULL;
        if (entity) {
            s_put (buf, text + from, i - from);
            s_put (buf, entity, strlen (entity));
            from = i + 1;
        }
    }
    s_put (buf, text + from, len - from);
}

static bool
s_is_blank_line (const char *line, const char *end)
{
    return (line < end && line [0] == '\n')
        || (line + 1 < end && line [0] == '\r' && line [1] == '\n');
}

/*  Template text, indented when it belongs to a standalone partial: the
    indent goes before each line of the partial's source that is not
    empty (as in mustache.js, so blank lines get no trailing blanks).
    Interpolated values are never indented: they are not the partial's
    lines.                                                                */
static void
s_put_text (s_buf_t *buf, const nd_mustache_node_t *node, const char *indent)
{
    if (!indent || !*indent) {
        s_put (buf, node->text, node->len);
        return;
    }
    const char *line = node->text;
    const char *end = node->text + node->len;
    bool line_start = node->bol;
    while (true) {
        if (line_start && !s_is_blank_line (line, end))
            s_put (buf, indent, strlen (indent));
        const char *newline = memchr (line, '\n', (size_t) (end - line));
        if (!newline)
            break;
        s_put (buf, line, (size_t) (newline + 1 - line));
        line = newline + 1;
        //  a line that starts after this node is the next node's to indent
        line_start = line < end;
    }
    s_put (buf, line, (size_t) (end - line));
}

/*  Shortest "%g" form that reads back as the same double: 1.5 -> "1.5",
    0.1 -> "0.1", not "0.10000000000000001".                              */
static void
s_format_real (char *text, size_t size, double value)
{
    for (int precision = 1; precision <= 17; precision++) {
        snprintf (text, size, "%.*g", precision, value);
        if (strtod (text, NULL) == value)
            break;
    }
}

static void
s_put_value (s_buf_t *buf, const json_t *value, bool escape)
{
    char number [40];
    const char *text = number;
    size_t len = 0;
    char *json = NULL;
    switch (value? json_typeof (value): JSON_NULL) {
        case JSON_NULL:
            return;
        case JSON_STRING:
            text = json_string_value (value);
            len = json_string_length (value);
            break;
        case JSON_INTEGER:
            snprintf (number, sizeof (number), "%" JSON_INTEGER_FORMAT,
                      json_integer_value (value));
            len = strlen (number);
            break;
        case JSON_REAL:
            s_format_real (number, sizeof (number), json_real_value (value));
            len = strlen (number);
            break;
        case JSON_TRUE:
        case JSON_FALSE:
            text = json_is_true (value)? "true": "false";
            len = strlen (text);
            break;
        default:
            text = json = json_dumps (value, JSON_COMPACT | JSON_ENCODE_ANY);
            if (!json) {
                buf->failed = true;
                return;
            }
            len = strlen (json);
    }
    if (escape)
        s_put_escaped (buf, text, len);
    else
        s_put (buf, text, len);
    free (json);
}

/* ---------------------------------------------------------------- render */

typedef struct {
    nd_mustache_t *template;    /* holds the compiled partials */
    const json_t *partials;
    s_buf_t out;
    const json_t **context;     /* the context stack, innermost last */
    size_t context_size;
    size_t context_cap;
    size_t partial_depth;
    char *error;                /* NULL with out.failed: out of memory */
    json_t *missing;            /* names of variables with nothing to print, or NULL */
} s_render_t;

static int s_render_nodes (s_render_t *self, const nd_mustache_nodes_t *nodes,
                           const char *indent);

/*  The spec's "!!data": what JavaScript calls falsy, as mustache.js does,
    so {{#unread}}...{{/unread}} hides a count of 0 and an empty name.    */
static bool
s_truthy (const json_t *value)
{
    switch (value? json_typeof (value): JSON_NULL) {
        case JSON_NULL:
        case JSON_FALSE:   return false;
        case JSON_ARRAY:   return json_array_size (value) > 0;
        case JSON_STRING:  return json_string_length (value) > 0;
        case JSON_INTEGER: return json_integer_value (value) != 0;
        case JSON_REAL:    return json_real_value (value) != 0.0;
        default:           return true;
    }
}

/*  "." is the innermost context. Otherwise the first part of a dotted
    name is looked for from the innermost context out, and a key that is
    there with a null value stops the search; the other parts are looked
    for only inside what the part before them found.                      */
static const json_t *
s_lookup (s_render_t *self, const char *name)
{
    if (streq (name, "."))
        return self->context_size? self->context [self->context_size - 1]: NULL;
    const char *dot = strchr (name, '.');
    size_t len = dot? (size_t) (dot - name): strlen (name);
    const json_t *value = NULL;
    for (size_t i = self->context_size; i-- > 0 && !value;)
        value = json_object_getn (self->context [i], name, len);
    while (value && dot) {
        name = dot + 1;
        dot = strchr (name, '.');
        len = dot? (size_t) (dot - name): strlen (name);
        value = json_object_getn (value, name, len);
    }
    return value;
}

/*  Renders nodes with value as the innermost context.                    */
static int
s_render_in (s_render_t *self, const json_t *value, const nd_mustache_nodes_t *nodes,
             const char *indent)
{
    if (self->context_size == self->context_cap) {
        size_t cap = self->context_cap? self->context_cap * 2: 16;
        const json_t **grown = realloc (self->context, cap * sizeof (json_t *));
        if (!grown) {
            self->out.failed = true;
            return -1;
        }
        self->context = grown;
        self->context_cap = cap;
    }
    self->context [self->context_size++] = value;
    int rc = s_render_nodes (self, nodes, indent);
    self->context_size--;
    return rc;
}

static int
s_render_section (s_render_t *self, const nd_mustache_node_t *node, const char *indent)
{
    const json_t *value = s_lookup (self, node->text);
    if (!s_truthy (value))
        return 0;
    if (!json_is_array (value))
        return s_render_in (self, value, &node->children, indent);
    for (size_t i = 0; i < json_array_size (value); i++)
        if (s_render_in (self, json_array_get (value, i), &node->children, indent))
            return -1;
    return 0;
}

static s_partial_t *
s_partial_find (nd_mustache_t *self, const char *name)
{
    for (size_t i = 0; i < self->partial_count; i++)
        if (streq (self->partial [i]->name, name))
            return self->partial [i];
    if (self->partial_count == self->partial_cap) {
        size_t cap = self->partial_cap? self->partial_cap * 2: 8;
        s_partial_t **grown = realloc (self->partial, cap * sizeof (s_partial_t *));
        if (!grown)
            return NULL;
        self->partial = grown;
        self->partial_cap = cap;
    }
    s_partial_t *partial = calloc (1, sizeof (s_partial_t));
    if (partial)
        partial->name = strdup (name);
    if (partial && partial->name)
        return self->partial [self->partial_count++] = partial;
    free (partial);
    return NULL;
}

/*  The compiled partial, compiled on first use and again whenever the
    source handed in differs from the one compiled last time.             */
static const nd_mustache_nodes_t *
s_partial_compiled (s_render_t *self, const char *name, const char *source)
{
    s_partial_t *partial = s_partial_find (self->template, name);
    if (!partial) {
        self->out.failed = true;
        return NULL;
    }
    if (partial->source && streq (partial->source, source))
        return &partial->nodes;
    nd_mustache_nodes_t nodes = { 0 };
    char *reason = NULL;
    if (nd_mustache_compile (source, &nodes, &reason)) {
        self->error = nd_mustache_format ("partial '%s': %s", name,
                                          reason? reason: "out of memory");
        free (reason);
        return NULL;
    }
    char *copy = strdup (source);
    if (!copy) {
        nd_mustache_nodes_free (&nodes);
        self->out.failed = true;
        return NULL;
    }
    free (partial->source);
    partial->source = copy;
    nd_mustache_nodes_free (&partial->nodes);
    partial->nodes = nodes;
    return &partial->nodes;
}

/*  A standalone partial adds its line's indent to the one it is in; an
    inline partial is not indented at all.                                */
static int
s_render_partial (s_render_t *self, const nd_mustache_node_t *node, const char *indent)
{
    const json_t *source = json_object_get (self->partials, node->text);
    if (!json_is_string (source))
        return 0;
    if (self->partial_depth == S_MAX_PARTIAL_DEPTH) {
        self->error = nd_mustache_format ("partials nested deeper than %d at '%s'",
                                          S_MAX_PARTIAL_DEPTH, node->text);
        return -1;
    }
    const nd_mustache_nodes_t *nodes = s_partial_compiled (self, node->text,
                                                 json_string_value (source));
    if (!nodes)
        return -1;
    char *joined = NULL;
    if (indent && node->indent) {
        joined = nd_mustache_format ("%s%s", indent, node->indent);
        if (!joined) {
            self->out.failed = true;
            return -1;
        }
    }
    self->partial_depth++;
    int rc = s_render_nodes (self, nodes, joined? joined: node->indent);
    self->partial_depth--;
    free (joined);
    return rc;
}

/*  A variable that prints nothing a person could read: no such name,
    null, or an object or array (printed as JSON). Each name once.       */
static void
s_note_missing (s_render_t *self, const char *name)
{
    const json_t *value = s_lookup (self, name);
    if (value && !json_is_null (value) && !json_is_object (value) && !json_is_array (value))
        return;
    for (size_t i = 0; i < json_array_size (self->missing); i++)
        if (streq (json_string_value (json_array_get (self->missing, i)), name))
            return;
    json_array_append_new (self->missing, json_string (name));
}

static int
s_render_nodes (s_render_t *self, const nd_mustache_nodes_t *nodes, const char *indent)
{
    for (size_t i = 0; i < nodes->size; i++) {
        const nd_mustache_node_t *node = &nodes->item [i];
        int rc = 0;
        switch (node->kind) {
            case ND_MUSTACHE_TEXT:
                s_put_text (&self->out, node, indent);
                break;
            case ND_MUSTACHE_ESCAPED:
            case ND_MUSTACHE_RAW:
                s_put_value (&self->out, s_lookup (self, node->text),
                             node->kind == ND_MUSTACHE_ESCAPED);
                if (self->missing)
                    s_note_missing (self, node->text);
                break;
            case ND_MUSTACHE_SECTION:
                rc = s_render_section (self, node, indent);
                break;
            case ND_MUSTACHE_INVERTED:
                if (!s_truthy (s_lookup (self, node->text)))
                    rc = s_render_nodes (self, &node->children, indent);
                break;
            case ND_MUSTACHE_PARTIAL:
                rc = s_render_partial (self, node, indent);
                break;
        }
        if (rc || self->out.failed)
            return -1;
    }
    return 0;
}

/* ------------------------------------------------------------ public API */

static void
s_set_error (char **error, char *reason)
{
    if (error)
        *error = reason? reason: strdup ("out of memory");
    else
        free (reason);
}

nd_mustache_t *
nd_mustache_new (const char *template, char **error)
{
    assert (template);
    nd_mustache_t *self = calloc (1, sizeof (nd_mustache_t));
    if (!self) {
        s_set_error (error, NULL);
        return NULL;
    }
    if (nd_mustache_compile (template, &self->nodes, error))
        nd_mustache_destroy (&self);
    return self;
}

void
nd_mustache_destroy (nd_mustache_t **self_p)
{
    assert (self_p);
    nd_mustache_t *self = *self_p;
    if (!self)
        return;
    nd_mustache_nodes_free (&self->nodes);
    for (size_t i = 0; i < self->partial_count; i++) {
        free (self->partial [i]->name);
        free (self->partial [i]->source);
        nd_mustache_nodes_free (&self->partial [i]->nodes);
        free (self->partial [i]);
    }
    free (self->partial);
    free (self);
    *self_p = NULL;
}

static char *
s_render_with (nd_mustache_t *self, const json_t *data, const json_t *partials,
               json_t *missing, char **error)
{
    assert (self);
    s_render_t render = { .template = self, .partials = partials, .missing = missing };
    int rc = data? s_render_in (&render, data, &self->nodes, NULL)
                 : s_render_nodes (&render, &self->nodes, NULL);
    s_put (&render.out, "", 0);     //  an empty result is "", not NULL
    free (render.context);
    if (rc == 0 && !render.out.failed)
        return render.out.data;
    free (render.out.data);
    s_set_error (error, render.error);
    return NULL;
}

char *
nd_mustache_render_with (nd_mustache_t *self, const json_t *data,
                         const json_t *partials, char **error)
{
    return s_render_with (self, data, partials, NULL, error);
}

char *
nd_mustache_render_missing (const char *template, const json_t *data,
                            const json_t *partials, json_t *missing, char **error)
{
    nd_mustache_t *self = nd_mustache_new (template, error);
    if (!self)
        return NULL;
    char *text = s_render_with (self, data, partials, missing, error);
    nd_mustache_destroy (&self);
    return text;
}

char *
nd_mustache_render (const char *template, const json_t *data,
                    const json_t *partials, char **error)
{
    return nd_mustache_render_missing (template, data, partials, NULL, error);
}
