/*  nd_stats - comparing two conversion rates: the A/B figures nd-report
    prints for each variant against the journey's holdout.

    The difference of two proportions p1 - p2 (x1 of n1 against x2 of n2)
    with Newcombe's hybrid score interval (Newcombe 1998, method 10: the
    Wilson score intervals of each proportion, combined), which keeps its
    coverage near small counts and rates near 0 or 1 where the Wald
    interval does not, and the two-sided p-value of the pooled
    two-proportion z-test. "significant" means the interval leaves out 0. */
#ifndef ND_STATS_H_INCLUDED
#define ND_STATS_H_INCLUDED

#include <stdbool.h>
#include <stdint.h>

typedef struct {
    double diff;                /* p1 - p2 */
    double lo, hi;              /* 95 % interval of diff */
    double p;                   /* two-sided, pooled z-test; 1 when undefined */
    bool significant;           /* the interval leaves out 0 */
} nd_stats_diff_t;

/*  Wilson score interval of x of n at z (1.959964 for 95 %); n > 0.      */
void nd_stats_wilson (uint64_t x, uint64_t n, double z, double *lo, double *hi);
/*  x1 of n1 against x2 of n2, 95 %. Returns 0, or -1 when a side is
    empty (n = 0) or x > n: no comparison.                                */
int nd_stats_diff (uint64_t x1, uint64_t n1, uint64_t x2, uint64_t n2, nd_stats_diff_t *result);
void nd_stats_test (bool verbose);

#endif
