/*  nd_mustache.h - Mustache templates over jansson values.

    Senders turn a message into the text a person reads with a Mustache
    template (https://mustache.github.io/mustache.5.html). This renderer
    passes the six core files of the official spec (comments, delimiters,
    interpolation, inverted, partials, sections). Lambdas, inheritance
    ({{<parent}} {{$block}}, a parse error here) and dynamic partial names
    are not supported.

    Values: strings as they are; integers as integers; reals in the
    shortest form that reads back the same (1.5 -> "1.5", 2.0 -> "2",
    1e300 -> "1e+300"); true / false as "true" / "false"; null and missing
    names as nothing; arrays and objects as compact JSON. {{name}} escapes
    & < > " ' for HTML; {{{name}}} and {{& name}} do not.

    Sections: false, null, a missing name, an empty array, "" and 0 are
    falsy (the spec's "!!data", as in mustache.js). An array repeats the
    section once per item; any other truthy value is pushed as the context.

    Partials come from a JSON object mapping name to template text; an
    unknown name renders as nothing. A partial tag alone on its line
    indents each non-blank line of the partial by the blanks before it.

    A compiled template remembers its compiled partials, so render it with
    partials from one thread at a time; to share across threads, compile
    one per thread. Rendered without partials (NULL), it is only read, and
    any number of threads may render it at once (nd_templates does).
*/
#ifndef ND_MUSTACHE_H_INCLUDED
#define ND_MUSTACHE_H_INCLUDED

#include <stdbool.h>
#include <jansson.h>

typedef struct _nd_mustache_t nd_mustache_t;

/*  Compiles template. Returns NULL and sets *error (the caller's, one
    line, e.g. "line 3: unclosed section 'items'") if it does not parse.
    error may be NULL when the reason is not wanted.                      */
nd_mustache_t *nd_mustache_new (const char *template, char **error);

void nd_mustache_destroy (nd_mustache_t **self_p);

/*  Renders with data as the root context. partials is an object of name
    -> template string, or NULL. Returns the text (the caller's), or NULL
    with *error set (a partial that does not parse, or partials nested
    deeper than 100).                                                     */
char *nd_mustache_render_with (nd_mustache_t *self, const json_t *data,
                               const json_t *partials, char **error);

/*  Compiles, renders once and throws the compiled form away.             */
char *nd_mustache_render (const char *template, const json_t *data,
                          const json_t *partials, char **error);

/*  As nd_mustache_render, and appends to missing (an array, or NULL) the
    name of each variable that printed nothing a person reads - a name
    the data lacks, null, an object or an array - once each: how a test
    or nd-render --mustache proves a template has all its data.          */
char *nd_mustache_render_missing (const char *template, const json_t *data,
                                  const json_t *partials, json_t *missing, char **error);

void nd_mustache_test (bool verbose);

#endif
