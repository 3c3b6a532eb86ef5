/*  Self-tests for nd-selftest that live outside the runtime classes. */
#ifndef ND_TESTS_H_INCLUDED
#define ND_TESTS_H_INCLUDED
#include <stdbool.h>

/*  Runs the Mustache spec's core files in dir against nd_mustache; prints
    each failing case and "mustache spec: N passed, N failed". Returns the
    number of failures.                                                   */
int mustache_spec_run (const char *dir, bool verbose);

/*  Differential test of nd_json against jansson: hand-written cases, random
    documents and random mutations of them, parsed and written by both;
    prints each difference and "json diff: N passed, N failed". Returns the
    number of failures. ND_JSON_DIFF_SEED in the environment picks another
    seed.                                                                 */
int json_diff_run (bool verbose);

/*  nd_codec's base64url against OpenSSL and RFC 4648's vectors, and its
    E.164 check on numbers as people write them; prints each failure.
    Returns the number of failures.                                       */
int codecs_run (bool verbose);
#endif
