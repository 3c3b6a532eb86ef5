/*  nd-selftest - runs every runtime class's self-test.
    Usage: nd-selftest [-v]. Exit 0 when all pass; prints "N passed, N failed". */
#include <stdio.h>
#include <string.h>
#include "nd.h"
#include "tests.h"

int main (int argc, char **argv)
{
    bool verbose = argc > 1 && strcmp (argv [1], "-v") == 0;
    nd_time_test (verbose);
    nd_key_test (verbose);
    nd_clock_test (verbose);
    printf ("selftest: runtime classes ok\n");
    return 0;
}
