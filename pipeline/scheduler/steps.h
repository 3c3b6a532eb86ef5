/*  steps.h - a journey's steps section, read.

    Layer: rules; steps.c calls loader.c, journey.c and the base.        */
#ifndef STEPS_H_INCLUDED
#define STEPS_H_INCLUDED

#include "base.h"
#include "loader.h"

/*  Reads the steps under node into journey->steps, each step's node into
    loader->step_nodes; -1 (loader_fail) on anything wrong.              */
int steps_read (loader_t *loader, zconfig_t *node, journey_t *journey);

#endif
