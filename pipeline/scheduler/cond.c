/*  cond.c - rules layer: the facts a journey's conditions are asked about.

    Layer: rules: calls nothing of the scheduler's.

    The language is the runtime's (nd_cond, nudge-conditions(5)); a
    journey asks it of a JSON document: a trigger's "when" of the message
    that starts the journey, a check step's "if" of the person's view
    (engine.c). A path is a path into that document ("trait.NAME" reads
    its "traits", as a segment rule would), and "in segment NAME" asks
    its "segments", which the segmenter fills.                           */
#include <assert.h>
#include "nd_json.h"
#include "cond.h"

cond_t *cond_new (const char *text, char **error)
{
    return nd_cond_new (text, error);
}

void cond_destroy (cond_t **self_p)
{
    nd_cond_destroy (self_p);
}

//  "trait.NAME" is a trait, as in the segments file; the document keeps
//  them under "traits".
static json_t *s_value (void *doc, const char *path)
{
    if (strncmp (path, "trait.", 6) == 0 && !json_object_get ((const json_t *) doc, "trait"))
        return nd_cond_path (json_object_get ((const json_t *) doc, "traits"), path + 6);
    return nd_cond_path ((const json_t *) doc, path);
}

static bool s_in_segment (void *doc, const char *name)
{
    return nd_json_has_string (json_object_get ((const json_t *) doc, "segments"), name);
}

bool cond_eval (const cond_t *self, const json_t *doc)
{
    nd_cond_facts_t facts = { s_value, s_in_segment, (void *) doc };
    return nd_cond_eval (self, &facts);
}

json_t *path_get (const json_t *doc, const char *path)
{
    return nd_cond_path (doc, path);
}

void cond_test (bool verbose)
{
    if (verbose)
        printf (" * cond: ");
    json_t *doc = json_loads ("{\"cart\": {\"value\": 25.5, \"items\": [{\"category\": \"shoes\"}]},"
                              "\"segments\": [\"vip\", 3], \"ordered\": false,"
                              "\"traits\": {\"email\": \"a@example.com\"}}", 0, NULL);
    const struct { const char *text; bool holds; } cases [] = {
        { "cart.value > 20 and not ordered", true }, { "in segment vip", true },
        { "in segment staff", false }, { "cart.items.category has shoes", true },
        { "not in segment vip or ordered", false }, { "trait.email exists", true },
        { "traits.email has example", true }, { "trait.phone exists", false }, { NULL, false }
    };
    for (int i = 0; cases [i].text; i++) {
        char *error = NULL;
        cond_t *cond = cond_new (cases [i].text, &error);
        assert (cond && cond_eval (cond, doc) == cases [i].holds);
        cond_destroy (&cond);
        cond_destroy (&cond);
    }
    json_t *none = json_object ();
    char *error = NULL;
    cond_t *cond = cond_new ("in segment vip", &error);
    assert (cond && !cond_eval (cond, none));
    cond_destroy (&cond);
    json_decref (none);
    json_decref (doc);
    if (verbose)
        printf ("OK\n");
}
