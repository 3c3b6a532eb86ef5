/*  nd_cond.h - the condition language of segments and journeys.

    One language answers "does this hold?" wherever nudge asks it: a rule
    segment's match (conf/segments.zpl), a journey trigger's when and a
    check step's if (conf/journeys). nudge-conditions(5) is its manual:

        cond   := and { "or" and }
        and    := unary { "and" unary }
        unary  := "not" unary | "(" cond ")" | test
        test   := "in" "segment" NAME
                | PATH                      the value is there and not false,
                                            null, 0, "" or empty
                | PATH "exists"             the value is there and not null,
                                            false or ""
                | PATH OP VALUE             OP: = != < <= > >= has
        VALUE  := number | true | false | null | "text" | 'text' | word

    The language knows nothing of profiles or people: the evaluator asks
    the stage for the value at a PATH and for segment membership through
    nd_cond_facts_t, so the segmenter answers from a profile and the
    scheduler from a message or a person, and the parser lives once.

    The spellings of the release before (segmenter "trait:email exists",
    "segment:customer", "==") are still read, for one release: the
    condition then knows its new spelling (nd_cond_modern) so the loader
    can warn with it.                                                    */
#ifndef ND_COND_H_INCLUDED
#define ND_COND_H_INCLUDED

#include <stdbool.h>
#include <jansson.h>

typedef struct _nd_cond_t nd_cond_t;

/*  Where a condition gets its facts; both functions may be NULL (no value,
    in no segment).                                                       */
typedef struct {
    /*  The value at path (dot-separated, as written): a new reference, or
        NULL when there is none.                                          */
    json_t *(*value) (void *context, const char *path);
    /*  True if whoever the condition is about is in the segment name.    */
    bool (*in_segment) (void *context, const char *name);
    void *context;
} nd_cond_facts_t;

/*  One test of a condition, for a stage that checks names at load or
    looks for tests on time: either segment (in segment NAME) or path,
    with op ("" alone, "exists", "=", "!=", "<", "<=", ">", ">=", "has")
    and value (NULL when op takes none).                                  */
typedef struct {
    const char *segment;
    const char *path;
    const char *op;
    const json_t *value;
} nd_cond_test_t;

/*  Parses text; NULL with *error (the caller's) as "column N: reason" if
    it is not a condition.                                                */
nd_cond_t *nd_cond_new (const char *text, char **error);
void nd_cond_destroy (nd_cond_t **self_p);
/*  Whether the condition holds for facts.                                */
bool nd_cond_eval (const nd_cond_t *self, const nd_cond_facts_t *facts);
/*  The new spelling of text if it used an old one ("trait:email exists"
    gives "trait.email exists"), else NULL. Not the caller's.             */
const char *nd_cond_modern (const nd_cond_t *self);
/*  Calls fn for every test in the condition, in the order written, until
    fn returns non-zero; returns that, or 0.                              */
int nd_cond_tests (const nd_cond_t *self,
                   int (*fn) (void *context, const nd_cond_test_t *test), void *context);

/*  The value at a dot-separated path into doc, a new reference or NULL. A
    number picks an array item ("items.0"); a name applied to an array
    maps over its items, one level flat ("cart.items.category" is every
    line's category).                                                     */
json_t *nd_cond_path (const json_t *doc, const char *path);

void nd_cond_test (bool verbose);

#endif
