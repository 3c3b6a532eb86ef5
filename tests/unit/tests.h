/*  Self-tests for nd-selftest that live outside the runtime classes. */
#ifndef ND_TESTS_H_INCLUDED
#define ND_TESTS_H_INCLUDED
#include <stdbool.h>

/*  Runs the Mustache spec's core files in dir against nd_mustache; prints
    each failing case and "mustache spec: N passed, N failed". Returns the
    number of failures.                                                   */
int mustache_spec_run (const char *dir, bool verbose);
#endif
