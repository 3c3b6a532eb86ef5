/*  move_test.h - move.c's self-test.

    Layer: store; move_test.c calls move.c, codes.c, timers.c, instance.c. */
#ifndef MOVE_TEST_H_INCLUDED
#define MOVE_TEST_H_INCLUDED

#include "base.h"

/*  --selftest: the empty cases, an unindexed code; with
    SCHEDULER_MOVE_TEST="DIR-A DIR-B PERSON" in the environment
    (tests/integration/test_scheduler_move.py), moves PERSON from the
    state in DIR-A to the one in DIR-B and prints what the test compares. */
void scheduler_person_test (bool verbose);

#endif
