/*  nd_mustache.c - Mustache templates over jansson values.

    A template is parsed once into a tree of nodes: text, variables,
    sections, inverted sections and partials. Comments and set-delimiter
    tags leave nothing behind. Rendering walks the tree with a stack of
    contexts, innermost last.

    Standalone tags (a section, inverted, closing, comment, partial or
    set-delimiter tag alone on its line but for spaces and tabs) are taken
    out of the output with their whole line, which is why the parser looks
    at the line around each tag.

    A standalone partial is indented: every non-blank line of the
    partial's source gets the whitespace that stood before its tag. The parser marks the
    text nodes that begin a source line (bol); a tag that begins a line and
    is not standalone gets an empty bol text node before it, so indenting
    at render time means writing the indent before each bol node and after
    each newline inside a text node.
*/
#include <assert.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "nd_mustache.h"

/*  Limits that turn a runaway template or self-including partial into an
    error rather than a crash.                                            */
#define S_MAX_NESTING 100
#define S_MAX_PARTIAL_DEPTH 100

#define streq(s1,s2) (strcmp ((s1), (s2)) == 0)

typedef enum {
    S_TEXT, S_ESCAPED, S_RAW, S_SECTION, S_INVERTED, S_PARTIAL
} s_kind_t;

typedef struct _s_node_t s_node_t;

typedef struct {
    s_node_t *item;
    size_t size;
    size_t cap;
} s_nodes_t;

struct _s_node_t {
    s_kind_t kind;
    char *text;                 /* text, or the tag's name */
    size_t len;                 /* length of text */
    bool bol;                   /* text node that begins a source line */
    char *indent;               /* standalone partial: its line's indent */
    s_nodes_t children;         /* section and inverted section body */
};

/*  A partial as last compiled; recompiled when its source changes.       */
typedef struct {
    char *name;
    char *source;
    s_nodes_t nodes;
} s_partial_t;

struct _nd_mustache_t {
    s_nodes_t nodes;
    s_partial_t **partial;      /* pointers: nodes must not move while a
                                   recursive partial renders */
    size_t partial_count;
    size_t partial_cap;
};

/* --------------------------------------------------------------- helpers */

static char *
s_vformat (const char *fmt, va_list args)
{
    va_list copy;
    va_copy (copy, args);
    int len = vsnprintf (NULL, 0, fmt, copy);
    va_end (copy);
    char *text = len < 0? NULL: malloc ((size_t) len + 1);
    if (text)
        vsnprintf (text, (size_t) len + 1, fmt, args);
    return text;
}

static char *
s_format (const char *fmt, ...)
{
    va_list args;
    va_start (args, fmt);
    char *text = s_vformat (fmt, args);
    va_end (args);
    return text;
}

static bool
s_is_blank (char c)
{
    return c == ' ' || c == '\t';
}

static bool
s_is_space (char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

/*  First place from `from` where `brace` (if not 0) is followed by the
    delimiter; returns where brace or delimiter starts, or NULL.          */
static const char *
s_find (const char *from, char brace, const char *delim, size_t len)
{
    char first = brace? brace: delim [0];
    size_t skip = brace? 1: 0;
    for (from = strchr (from, first); from; from = strchr (from + 1, first))
        if (strncmp (from + skip, delim, len) == 0)
            return from;
    return NULL;
}

static size_t
s_line (const char *src, const char *at)
{
    size_t line = 1;
    for (; src < at; src++)
        line += *src == '\n';
    return line;
}

/* ----------------------------------------------------------------- nodes */

static s_node_t *
s_nodes_add (s_nodes_t *nodes, s_kind_t kind, const char *text, size_t len)
{
    if (nodes->size == nodes->cap) {
        size_t cap = nodes->cap? nodes->cap * 2: 8;
        s_node_t *item = realloc (nodes->item, cap * sizeof (s_node_t));
        if (!item)
            return NULL;
        nodes->item = item;
        nodes->cap = cap;
    }
    char *copy = strndup (text, len);
    if (!copy)
        return NULL;
    s_node_t *node = &nodes->item [nodes->size++];
    memset (node, 0, sizeof (*node));
    node->kind = kind;
    node->text = copy;
    node->len = len;
    return node;
}

static void
s_nodes_free (s_nodes_t *nodes)
{
    for (size_t i = 0; i < nodes->size; i++) {
        free (nodes->item [i].text);
        free (nodes->item [i].indent);
        s_nodes_free (&nodes->item [i].children);
    }
    free (nodes->item);
    memset (nodes, 0, sizeof (*nodes));
}

/* ---------------------------------------------------------------- parser */

typedef struct {
    const char *src;
    const char *pos;            /* first character not yet parsed */
    const char *prev_end;       /* a tag after this on its line is not standalone */
    const char *open;           /* delimiters: literals, or set in src */
    size_t open_len;
    const char *close;
    size_t close_len;
    s_nodes_t *root;
    s_node_t *section [S_MAX_NESTING];          /* open sections */
    const char *section_at [S_MAX_NESTING];     /* their tags, for errors */
    size_t depth;
    char *error;
} s_parser_t;

/*  One tag as found in the source.                                       */
typedef struct {
    const char *start;          /* its opening delimiter */
    char sigil;                 /* # ^ / ! > & { = < $, or 0 for a variable */
    const char *name;           /* trimmed, not NUL-terminated */
    size_t name_len;
    const char *after;          /* where parsing resumes */
    const char *line_start;     /* where the blanks before the tag begin */
    bool standalone;
} s_tag_t;

static int
s_fail (s_parser_t *self, const char *at, const char *fmt, ...)
{
    va_list args;
    va_start (args, fmt);
    char *reason = s_vformat (fmt, args);
    va_end (args);
    free (self->error);
    self->error = s_format ("line %zu: %s", s_line (self->src, at),
                            reason? reason: "out of memory");
    free (reason);
    return -1;
}

static s_nodes_t *
s_current (s_parser_t *self)
{
    return self->depth? &self->section [self->depth - 1]->children: self->root;
}

/*  A tag alone on its line but for blanks vanishes with the whole line;
    variables never do, they always produce their value.                  */
static void
s_tag_check_standalone (s_parser_t *self, s_tag_t *tag)
{
    const char *start = tag->start;
    while (start > self->prev_end && s_is_blank (start [-1]))
        start--;
    tag->line_start = start;
    if (!tag->sigil || tag->sigil == '&' || tag->sigil == '{')
        return;
    if (start > self->src && start [-1] != '\n')
        return;
    const char *end = tag->after;
    while (s_is_blank (*end))
        end++;
    if (end [0] == '\r' && end [1] == '\n')
        end += 2;
    else
    if (end [0] == '\n')
        end++;
    else
    if (end [0])
        return;
    tag->standalone = true;
    tag->after = end;
}

/*  Finds the next tag. Returns 0 with tag filled in, 1 when there is no
    further tag, -1 when a tag is not closed.                             */
static int
s_tag_find (s_parser_t *self, s_tag_t *tag)
{
    memset (tag, 0, sizeof (*tag));
    const char *start = s_find (self->pos, 0, self->open, self->open_len);
    if (!start)
        return 1;
    const char *body = start + self->open_len;
    char sigil = *body && strchr ("#^/!>&{=<$", *body)? *body: 0;
    if (sigil)
        body++;
    //  {{{name}}} and {{=a b=}} close with their own character first
    char brace = sigil == '{'? '}': sigil == '='? '=': 0;
    const char *end = s_find (body, brace, self->close, self->close_len);
    if (!end)
        return s_fail (self, start, "unclosed tag");
    tag->start = start;
    tag->sigil = sigil;
    tag->after = end + (brace? 1: 0) + self->close_len;
    while (body < end && s_is_space (*body))
        body++;
    while (end > body && s_is_space (end [-1]))
        end--;
    tag->name = body;
    tag->name_len = (size_t) (end - body);
    s_tag_check_standalone (self, tag);
    return 0;
}

/*  Adds source text from self->pos up to end, if any.                   */
static int
s_add_text (s_parser_t *self, const char *end)
{
    if (end == self->pos)
        return 0;
    s_node_t *node = s_nodes_add (s_current (self), S_TEXT, self->pos,
                                  (size_t) (end - self->pos));
    if (!node)
        return s_fail (self, self->pos, "out of memory");
    node->bol = self->pos == self->src || self->pos [-1] == '\n';
    return 0;
}

static int
s_set_delimiters (s_parser_t *self, const s_tag_t *tag)
{
    const char *scan = tag->name;
    const char *end = tag->name + tag->name_len;
    const char *open = scan;
    while (scan < end && !s_is_space (*scan))
        scan++;
    size_t open_len = (size_t) (scan - open);
    while (scan < end && s_is_space (*scan))
        scan++;
    const char *close = scan;
    while (scan < end && !s_is_space (*scan))
        scan++;
    size_t close_len = (size_t) (scan - close);
    if (open_len == 0 || close_len == 0 || scan != end
    ||  memchr (open, '=', open_len) || memchr (close, '=', close_len))
        return s_fail (self, tag->start,
            "set-delimiter tag needs two delimiters without spaces or '='");
    self->open = open;
    self->open_len = open_len;
    self->close = close;
    self->close_len = close_len;
    return 0;
}

static int
s_section_close (s_parser_t *self, const s_tag_t *tag)
{
    int len = (int) tag->name_len;
    if (self->depth == 0)
        return s_fail (self, tag->start,
            "closing tag '%.*s' without an open section", len, tag->name);
    const s_node_t *open = self->section [self->depth - 1];
    if (open->len != tag->name_len || memcmp (open->text, tag->name, open->len))
        return s_fail (self, tag->start, "section '%s' (line %zu) closed by '%.*s'",
            open->text, s_line (self->src, self->section_at [self->depth - 1]),
            len, tag->name);
    self->depth--;
    return 0;
}

static int
s_tag_apply (s_parser_t *self, const s_tag_t *tag)
{
    if (tag->sigil == '!')
        return 0;
    if (tag->sigil == '=')
        return s_set_delimiters (self, tag);
    if (tag->sigil == '<' || tag->sigil == '$')
        return s_fail (self, tag->start, "template inheritance is not supported");
    if (tag->name_len == 0)
        return s_fail (self, tag->start, "empty tag name");
    if (tag->sigil == '/')
        return s_section_close (self, tag);

    s_kind_t kind = tag->sigil == '#'? S_SECTION
                  : tag->sigil == '^'? S_INVERTED
                  : tag->sigil == '>'? S_PARTIAL
                  : tag->sigil?        S_RAW: S_ESCAPED;
    if ((kind == S_SECTION || kind == S_INVERTED) && self->depth == S_MAX_NESTING)
        return s_fail (self, tag->start, "sections nested deeper than %d", S_MAX_NESTING);
    s_node_t *node = s_nodes_add (s_current (self), kind, tag->name, tag->name_len);
    if (!node)
        return s_fail (self, tag->start, "out of memory");
    if (kind == S_PARTIAL && tag->standalone) {
        node->indent = strndup (tag->line_start, (size_t) (tag->start - tag->line_start));
        if (!node->indent)
            return s_fail (self, tag->start, "out of memory");
    }
    if (kind == S_SECTION || kind == S_INVERTED) {
        self->section_at [self->depth] = tag->start;
        self->section [self->depth++] = node;
    }
    return 0;
}

static int
s_parse (s_parser_t *self)
{
    while (true) {
        s_tag_t tag;
        int rc = s_tag_find (self, &tag);
        if (rc == -1)
            return -1;
        if (rc == 1)
            return s_add_text (self, strchr (self->pos, '\0'));
        if (s_add_text (self, tag.standalone? tag.line_start: tag.start))
            return -1;
        //  The line's indent, should this source be a partial, goes here
        bool bol = tag.start == self->src || tag.start [-1] == '\n';
        if (bol && !tag.standalone) {
            s_node_t *marker = s_nodes_add (s_current (self), S_TEXT, "", 0);
            if (!marker)
                return s_fail (self, tag.start, "out of memory");
            marker->bol = true;
        }
        self->pos = self->prev_end = tag.after;
        if (s_tag_apply (self, &tag))
            return -1;
    }
}

/*  Parses src into nodes. On error returns -1 with *error set (if error
    is not NULL) and nodes empty.                                         */
static int
s_compile (const char *src, s_nodes_t *nodes, char **error)
{
    s_parser_t parser = {
        .src = src, .pos = src, .prev_end = src,
        .open = "{{", .open_len = 2, .close = "}}", .close_len = 2,
        .root = nodes
    };
    int rc = s_parse (&parser);
    if (rc == 0 && parser.depth > 0) {
        size_t top = parser.depth - 1;
        rc = s_fail (&parser, parser.section_at [top], "unclosed section '%s'",
                     parser.section [top]->text);
    }
    if (rc)
        s_nodes_free (nodes);
    if (rc && error)
        *error = parser.error;
    else
        free (parser.error);
    return rc;
}

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
s_put_text (s_buf_t *buf, const s_node_t *node, const char *indent)
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

static int s_render_nodes (s_render_t *self, const s_nodes_t *nodes, const char *indent);

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
s_render_in (s_render_t *self, const json_t *value, const s_nodes_t *nodes,
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
s_render_section (s_render_t *self, const s_node_t *node, const char *indent)
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
static const s_nodes_t *
s_partial_compiled (s_render_t *self, const char *name, const char *source)
{
    s_partial_t *partial = s_partial_find (self->template, name);
    if (!partial) {
        self->out.failed = true;
        return NULL;
    }
    if (partial->source && streq (partial->source, source))
        return &partial->nodes;
    s_nodes_t nodes = { 0 };
    char *reason = NULL;
    if (s_compile (source, &nodes, &reason)) {
        self->error = s_format ("partial '%s': %s", name,
                                reason? reason: "out of memory");
        free (reason);
        return NULL;
    }
    char *copy = strdup (source);
    if (!copy) {
        s_nodes_free (&nodes);
        self->out.failed = true;
        return NULL;
    }
    free (partial->source);
    partial->source = copy;
    s_nodes_free (&partial->nodes);
    partial->nodes = nodes;
    return &partial->nodes;
}

/*  A standalone partial adds its line's indent to the one it is in; an
    inline partial is not indented at all.                                */
static int
s_render_partial (s_render_t *self, const s_node_t *node, const char *indent)
{
    const json_t *source = json_object_get (self->partials, node->text);
    if (!json_is_string (source))
        return 0;
    if (self->partial_depth == S_MAX_PARTIAL_DEPTH) {
        self->error = s_format ("partials nested deeper than %d at '%s'",
                                S_MAX_PARTIAL_DEPTH, node->text);
        return -1;
    }
    const s_nodes_t *nodes = s_partial_compiled (self, node->text,
                                                 json_string_value (source));
    if (!nodes)
        return -1;
    char *joined = NULL;
    if (indent && node->indent) {
        joined = s_format ("%s%s", indent, node->indent);
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
s_render_nodes (s_render_t *self, const s_nodes_t *nodes, const char *indent)
{
    for (size_t i = 0; i < nodes->size; i++) {
        const s_node_t *node = &nodes->item [i];
        int rc = 0;
        switch (node->kind) {
            case S_TEXT:
                s_put_text (&self->out, node, indent);
                break;
            case S_ESCAPED:
            case S_RAW:
                s_put_value (&self->out, s_lookup (self, node->text),
                             node->kind == S_ESCAPED);
                if (self->missing)
                    s_note_missing (self, node->text);
                break;
            case S_SECTION:
                rc = s_render_section (self, node, indent);
                break;
            case S_INVERTED:
                if (!s_truthy (s_lookup (self, node->text)))
                    rc = s_render_nodes (self, &node->children, indent);
                break;
            case S_PARTIAL:
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
    if (s_compile (template, &self->nodes, error))
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
    s_nodes_free (&self->nodes);
    for (size_t i = 0; i < self->partial_count; i++) {
        free (self->partial [i]->name);
        free (self->partial [i]->source);
        s_nodes_free (&self->partial [i]->nodes);
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

/* ------------------------------------------------------------- self-test */

static void
s_expect (const char *template, const char *data, const char *expected)
{
    json_t *json = json_loads (data, JSON_DECODE_ANY, NULL);
    assert (json);
    char *error = NULL;
    char *text = nd_mustache_render (template, json, NULL, &error);
    assert (text);
    assert (streq (text, expected));
    free (text);
    json_decref (json);
}

static void
s_expect_error (const char *template, const char *expected)
{
    char *error = NULL;
    nd_mustache_t *self = nd_mustache_new (template, &error);
    assert (self == NULL);
    assert (error && streq (error, expected));
    free (error);
}

void
nd_mustache_test (bool verbose)
{
    if (verbose)
        printf (" * nd_mustache: ");

    s_expect ("Hi {{name}}!", "{\"name\": \"<Ann & 'Bo'>\"}",
              "Hi &lt;Ann &amp; &#39;Bo&#39;&gt;!");
    //  What prints nothing is named, once, wherever it is
    json_t *missing = json_array ();
    json_t *sample = json_pack ("{s:s, s:n, s:{}, s:[{s:i}, {}]}", "name", "Ann", "gone", "shop",
                              "items", "qty", 2);
    char *shown = nd_mustache_render_missing ("{{name}} {{gone}} {{shop}} {{shop.url}}"
                                             "{{#items}}{{qty}}{{sku}}{{/items}}{{^none}}{{/none}}",
                                             sample, NULL, missing, NULL);
    assert (shown && streq (shown, "Ann  {} 2"));
    char *names = json_dumps (missing, JSON_COMPACT);
    assert (names && streq (names, "[\"gone\",\"shop\",\"shop.url\",\"sku\",\"qty\"]"));
    free (names);
    free (shown);
    json_decref (missing);
    json_decref (sample);
    s_expect ("{{{name}}}/{{& name}}", "{\"name\": \"<b>\"}", "<b>/<b>");
    s_expect ("{{n}} {{r}} {{s}} {{t}}", "{\"n\": 3, \"r\": 1.5, \"s\": 0.1, \"t\": true}",
              "3 1.5 0.1 true");
    s_expect ("{{#cart.items}}{{sku}}x{{qty}},{{/cart.items}}{{^cart.items}}empty{{/cart.items}}",
              "{\"cart\": {\"items\": [{\"sku\": \"A\", \"qty\": 2}, {\"sku\": \"B\", \"qty\": 1}]}}",
              "Ax2,Bx1,");
    s_expect ("{{#unread}}{{.}} new{{/unread}}{{^unread}}none{{/unread}}",
              "{\"unread\": 0}", "none");
    s_expect ("{{=<% %>=}}<% user.name %> {{kept}}", "{\"user\": {\"name\": \"Jo\"}}",
              "Jo {{kept}}");

    //  A compiled template renders many times; partials are compiled once
    //  and again only when their source changes.
    char *error = NULL;
    nd_mustache_t *self = nd_mustache_new ("<ul>\n  {{>item}}\n</ul>\n", &error);
    assert (self);
    json_t *data = json_pack ("{s:[s,s]}", "items", "a", "b");
    json_t *partials = json_pack ("{s:s}", "item", "{{#items}}\n<li>{{.}}</li>\n{{/items}}\n");
    for (int round = 0; round < 2; round++) {
        char *text = nd_mustache_render_with (self, data, partials, &error);
        assert (text);
        assert (streq (text, "<ul>\n  <li>a</li>\n  <li>b</li>\n</ul>\n"));
        free (text);
    }
    json_object_set_new (partials, "item", json_string ("{{#items}}\n{{.}}\n\n{{/items}}\n"));
    char *text = nd_mustache_render_with (self, data, partials, &error);
    assert (text && streq (text, "<ul>\n  a\n\n  b\n\n</ul>\n"));
    free (text);
    json_object_set_new (partials, "item", json_string ("{{#items}}{{/oops}}"));
    assert (nd_mustache_render_with (self, data, partials, &error) == NULL);
    assert (streq (error, "partial 'item': line 1: section 'items' (line 1) closed by 'oops'"));
    free (error);
    json_object_set_new (partials, "item", json_string ("{{>item}}"));
    assert (nd_mustache_render_with (self, data, partials, &error) == NULL);
    assert (streq (error, "partials nested deeper than 100 at 'item'"));
    free (error);
    json_decref (partials);
    json_decref (data);
    nd_mustache_destroy (&self);
    nd_mustache_destroy (&self);
    assert (self == NULL);

    s_expect_error ("a\n{{#items}}\nb", "line 2: unclosed section 'items'");
    s_expect_error ("{{/items}}", "line 1: closing tag 'items' without an open section");
    s_expect_error ("a\n{{name", "line 2: unclosed tag");
    s_expect_error ("{{= | =}}", "line 1: set-delimiter tag needs two delimiters without spaces or '='");
    s_expect_error ("{{<base}}{{/base}}", "line 1: template inheritance is not supported");
    s_expect_error ("{{ }}", "line 1: empty tag name");

    if (verbose)
        printf ("OK\n");
}
