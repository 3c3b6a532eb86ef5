/*  nd_mustache_parse.c - nd_mustache's parser: template text into a tree
    of nodes.

    Layer: runtime, below the renderer (nd_mustache.c), which compiles a
    template and each partial through nd_mustache_compile and walks what
    it builds (the tree's types are in nd_mustache_private.h). It stands
    apart because parsing is its own idea: tags, delimiters and which
    lines vanish are settled here once, so rendering is a plain walk.

    A template is parsed once into a tree of nodes: text, variables,
    sections, inverted sections and partials. Comments and set-delimiter
    tags leave nothing behind.

    Standalone tags (a section, inverted, closing, comment, partial or
    set-delimiter tag alone on its line but for spaces and tabs) are taken
    out of the output with their whole line, which is why the parser looks
    at the line around each tag.

    A standalone partial is indented: every non-blank line of the
    partial's source gets the whitespace that stood before its tag. The
    parser marks the text nodes that begin a source line (bol); a tag that
    begins a line and is not standalone gets an empty bol text node before
    it, so indenting at render time means writing the indent before each
    bol node and after each newline inside a text node.
*/
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "nd_mustache_private.h"

/*  A limit that turns a runaway template into an error rather than a
    crash.                                                                */
#define S_MAX_NESTING 100

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

//  The renderer's error messages use it too
char *
nd_mustache_format (const char *fmt, ...)
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

static nd_mustache_node_t *
s_nodes_add (nd_mustache_nodes_t *nodes, nd_mustache_kind_t kind,
             const char *text, size_t len)
{
    if (nodes->size == nodes->cap) {
        size_t cap = nodes->cap? nodes->cap * 2: 8;
        nd_mustache_node_t *item = realloc (nodes->item, cap * sizeof (nd_mustache_node_t));
        if (!item)
            return NULL;
        nodes->item = item;
        nodes->cap = cap;
    }
    char *copy = strndup (text, len);
    if (!copy)
        return NULL;
    nd_mustache_node_t *node = &nodes->item [nodes->size++];
    memset (node, 0, sizeof (*node));
    node->kind = kind;
    node->text = copy;
    node->len = len;
    return node;
}

void
nd_mustache_nodes_free (nd_mustache_nodes_t *nodes)
{
    for (size_t i = 0; i < nodes->size; i++) {
        free (nodes->item [i].text);
        free (nodes->item [i].indent);
        nd_mustache_nodes_free (&nodes->item [i].children);
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
    nd_mustache_nodes_t *root;
    nd_mustache_node_t *section [S_MAX_NESTING];  /* open sections */
    const char *section_at [S_MAX_NESTING];       /* their tags, for errors */
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
    self->error = nd_mustache_format ("line %zu: %s", s_line (self->src, at),
                                      reason? reason: "out of memory");
    free (reason);
    return -1;
}

static nd_mustache_nodes_t *
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
    nd_mustache_node_t *node = s_nodes_add (s_current (self), ND_MUSTACHE_TEXT,
                                            self->pos, (size_t) (end - self->pos));
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
    const nd_mustache_node_t *open = self->section [self->depth - 1];
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

    nd_mustache_kind_t kind = tag->sigil == '#'? ND_MUSTACHE_SECTION
                            : tag->sigil == '^'? ND_MUSTACHE_INVERTED
                            : tag->sigil == '>'? ND_MUSTACHE_PARTIAL
                            : tag->sigil?        ND_MUSTACHE_RAW: ND_MUSTACHE_ESCAPED;
    if ((kind == ND_MUSTACHE_SECTION || kind == ND_MUSTACHE_INVERTED)
    &&  self->depth == S_MAX_NESTING)
        return s_fail (self, tag->start, "sections nested deeper than %d", S_MAX_NESTING);
    nd_mustache_node_t *node = s_nodes_add (s_current (self), kind,
                                            tag->name, tag->name_len);
    if (!node)
        return s_fail (self, tag->start, "out of memory");
    if (kind == ND_MUSTACHE_PARTIAL && tag->standalone) {
        node->indent = strndup (tag->line_start, (size_t) (tag->start - tag->line_start));
        if (!node->indent)
            return s_fail (self, tag->start, "out of memory");
    }
    if (kind == ND_MUSTACHE_SECTION || kind == ND_MUSTACHE_INVERTED) {
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
            nd_mustache_node_t *marker = s_nodes_add (s_current (self),
                                                      ND_MUSTACHE_TEXT, "", 0);
            if (!marker)
                return s_fail (self, tag.start, "out of memory");
            marker->bol = true;
        }
        self->pos = self->prev_end = tag.after;
        if (s_tag_apply (self, &tag))
            return -1;
    }
}

int
nd_mustache_compile (const char *src, nd_mustache_nodes_t *nodes, char **error)
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
        nd_mustache_nodes_free (nodes);
    if (rc && error)
        *error = parser.error;
    else
        free (parser.error);
    return rc;
}
