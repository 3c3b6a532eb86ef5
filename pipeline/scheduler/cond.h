/*  cond.h - conditions ("cart.value > 20") and paths into JSON.

    Layer: rules. cond.c calls nothing of the scheduler's.               */
#ifndef COND_H_INCLUDED
#define COND_H_INCLUDED

#include "base.h"

/*  A compiled condition: [not] path [op value], op one of = != > >= < <=
    has. Paths are dot-separated; a name applied to an array maps over
    its items ("cart.items.category has shoes").                          */
cond_t *cond_new (const char *text, char **error);
void cond_destroy (cond_t **self_p);
bool cond_eval (const cond_t *self, const json_t *doc);
/*  The value at path in doc (a new reference), or NULL.                  */
json_t *path_get (const json_t *doc, const char *path);
void cond_test (bool verbose);

#endif
