/*  nd_mustache_private.h - what nd_mustache's files share: the compiled
    node tree, which the parser (nd_mustache_parse.c) builds and the
    renderer (nd_mustache.c) walks, and the parser's entry points.

    Layer: runtime, inside nd_mustache alone; nothing else includes it.
*/
#ifndef ND_MUSTACHE_PRIVATE_H_INCLUDED
#define ND_MUSTACHE_PRIVATE_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <string.h>
#include "nd_mustache.h"

#define streq(s1,s2) (strcmp ((s1), (s2)) == 0)

typedef enum {
    ND_MUSTACHE_TEXT, ND_MUSTACHE_ESCAPED, ND_MUSTACHE_RAW,
    ND_MUSTACHE_SECTION, ND_MUSTACHE_INVERTED, ND_MUSTACHE_PARTIAL
} nd_mustache_kind_t;

typedef struct _nd_mustache_node_t nd_mustache_node_t;

typedef struct {
    nd_mustache_node_t *item;
    size_t size;
    size_t cap;
} nd_mustache_nodes_t;

struct _nd_mustache_node_t {
    nd_mustache_kind_t kind;
    char *text;                 /* text, or the tag's name */
    size_t len;                 /* length of text */
    bool bol;                   /* text node that begins a source line */
    char *indent;               /* standalone partial: its line's indent */
    nd_mustache_nodes_t children; /* section and inverted section body */
};

/*  Parses src into nodes. On error returns -1 with *error set (if error
    is not NULL) and nodes empty.                                         */
int nd_mustache_compile (const char *src, nd_mustache_nodes_t *nodes, char **error);

/*  Frees what nodes holds and leaves it empty; nodes itself is the
    caller's.                                                             */
void nd_mustache_nodes_free (nd_mustache_nodes_t *nodes);

/*  printf into a string of its own (the caller's), NULL if out of memory. */
char *nd_mustache_format (const char *fmt, ...)
    __attribute__ ((format (printf, 1, 2)));

#endif
