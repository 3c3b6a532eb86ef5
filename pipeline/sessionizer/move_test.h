/*  move_test.h - the self-test of a person's move (move.c).

    Layer: store; move_test.c calls move.c and the base.                 */
#ifndef MOVE_TEST_H_INCLUDED
#define MOVE_TEST_H_INCLUDED

#include "base.h"

/*  --selftest. With SESSIONIZER_MOVE_FROM, SESSIONIZER_MOVE_TO (state
    directories of stopped sessionizers, the second may be empty),
    SESSIONIZER_MOVE_PERSON and SESSIONIZER_MOVE_RETENTION (the stage's
    visitor-retention) in the environment, moves that person from one to
    the other instead, and prints what it saw as one JSON line:
    tests/integration/test_sessionizer_move.py reads it.                  */
void sessionizer_person_test (bool verbose);

#endif
