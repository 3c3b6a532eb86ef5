/*  loader.h - reading a journey file: the reader's state, and the tools
    every part of the reader shares (journeys.c, steps.c).

    Layer: rules; loader.c calls cond.c and the base.                    */
#ifndef LOADER_H_INCLUDED
#define LOADER_H_INCLUDED

#include "base.h"

typedef struct {
    const char *file;
    zconfig_t **nodes;          //  every node in file order...
    int *lines;                 //  ...and the line it is on
    size_t count;
    templates_t *templates;
    char **error;
    zconfig_t **step_nodes;     //  each step's node, by its index
    int base;                   //  index of the first step of the list read
    const char *arm;            //  while an arm's steps are read: its name
} loader_t;

/*  Gives each node under root the line it is on in loader->file.        */
void loader_map_lines (loader_t *loader, zconfig_t *root);
/*  Sets *loader->error to "<file>:<line>: <reason>" (the first reason
    given wins) and returns -1.                                          */
int loader_fail (loader_t *loader, zconfig_t *node, const char *format, ...);
/*  The node's value, "" for none.                                        */
const char *loader_value (zconfig_t *node);
/*  A journey's, step's, variant's or arm's name: a-z, 0-9, -, _.         */
bool loader_name_ok (const char *name);
/*  A duration such as 30m, 24h or 7d, into ms.                           */
int loader_duration (loader_t *loader, zconfig_t *node, int64_t *ms);
/*  Appends the node's condition to conds.                               */
int loader_cond (loader_t *loader, zconfig_t *node, cond_t ***conds, size_t *count);

#endif
