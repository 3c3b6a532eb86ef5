/*  cond.h - journey conditions ("cart.value > 20") over JSON documents.

    Layer: rules. cond.c calls nothing of the scheduler's.               */
#ifndef COND_H_INCLUDED
#define COND_H_INCLUDED

#include "base.h"

/*  A condition in the language of nudge-conditions(5), compiled; its
    facts are the JSON document cond_eval is given.                       */
cond_t *cond_new (const char *text, char **error);
void cond_destroy (cond_t **self_p);
bool cond_eval (const cond_t *self, const json_t *doc);
/*  The value at path in doc (a new reference), or NULL.                  */
json_t *path_get (const json_t *doc, const char *path);
void cond_test (bool verbose);

#endif
