/*  nd_stats - the difference of two proportions: Newcombe's interval and
    the two-proportion z-test (see nd_stats.h).                          */
#include <assert.h>
#include <math.h>
#include <stdio.h>
#include "nd_stats.h"

#define Z95 1.959963984540054

void nd_stats_wilson (uint64_t x, uint64_t n, double z, double *lo, double *hi)
{
    double p = (double) x / (double) n, z2 = z * z, nn = (double) n;
    double centre = (p + z2 / (2 * nn)) / (1 + z2 / nn);
    double half = z / (1 + z2 / nn) * sqrt (p * (1 - p) / nn + z2 / (4 * nn * nn));
    *lo = x == 0 ? 0 : centre - half;
    *hi = x == n ? 1 : centre + half;
}

int nd_stats_diff (uint64_t x1, uint64_t n1, uint64_t x2, uint64_t n2, nd_stats_diff_t *result)
{
    if (n1 == 0 || n2 == 0 || x1 > n1 || x2 > n2)
        return -1;
    double p1 = (double) x1 / (double) n1, p2 = (double) x2 / (double) n2;
    double l1, u1, l2, u2;
    nd_stats_wilson (x1, n1, Z95, &l1, &u1);
    nd_stats_wilson (x2, n2, Z95, &l2, &u2);
    result->diff = p1 - p2;
    result->lo = result->diff - sqrt ((p1 - l1) * (p1 - l1) + (u2 - p2) * (u2 - p2));
    result->hi = result->diff + sqrt ((u1 - p1) * (u1 - p1) + (p2 - l2) * (p2 - l2));
    double pooled = (double) (x1 + x2) / (double) (n1 + n2);
    double se = sqrt (pooled * (1 - pooled) * (1.0 / (double) n1 + 1.0 / (double) n2));
    //  Both sides all 0 or all 1: no evidence of a difference either way
    result->p = se > 0 ? erfc (fabs (result->diff) / se / sqrt (2)) : 1;
    result->significant = result->lo > 0 || result->hi < 0;
    return 0;
}

static bool s_near (double a, double b, double tolerance)
{
    return fabs (a - b) <= tolerance;
}

void nd_stats_test (bool verbose)
{
    if (verbose)
        printf (" * nd_stats: ");
    //  Newcombe (1998), Statistics in Medicine 17:873, table II, method 10
    nd_stats_diff_t d;
    assert (nd_stats_diff (56, 70, 48, 80, &d) == 0);
    assert (s_near (d.diff, 0.2, 1e-12));
    assert (s_near (d.lo, 0.0524, 5e-5) && s_near (d.hi, 0.3339, 5e-5));
    assert (d.significant);
    //  z = 0.2 / sqrt (104/150 * 46/150 * (1/70 + 1/80)) = 2.6501: p = 0.00805
    assert (s_near (d.p, 0.00805, 5e-5));
    assert (nd_stats_diff (9, 10, 3, 10, &d) == 0);
    assert (s_near (d.lo, 0.1705, 5e-5) && s_near (d.hi, 0.8090, 5e-5));
    assert (nd_stats_diff (6, 7, 2, 7, &d) == 0);
    assert (s_near (d.lo, 0.0582, 5e-5) && s_near (d.hi, 0.8062, 5e-5));
    assert (nd_stats_diff (5, 56, 0, 29, &d) == 0);
    assert (s_near (d.lo, -0.0381, 5e-5) && s_near (d.hi, 0.1926, 5e-5));
    assert (!d.significant);
    assert (nd_stats_diff (0, 10, 0, 20, &d) == 0);
    assert (s_near (d.lo, -0.1611, 5e-5) && s_near (d.hi, 0.2775, 5e-5));
    assert (nd_stats_diff (10, 10, 0, 20, &d) == 0);
    assert (s_near (d.lo, 0.6791, 5e-5) && s_near (d.hi, 1, 5e-5));
    //  Wilson for 0 of 10 (Newcombe 1998, single proportion): 0 to 0.2775
    double lo, hi;
    nd_stats_wilson (0, 10, Z95, &lo, &hi);
    assert (lo == 0 && s_near (hi, 0.2775, 5e-5));
    //  No effect: 100 of 1000 each side, the interval holds 0, p = 1
    assert (nd_stats_diff (100, 1000, 100, 1000, &d) == 0);
    assert (d.diff == 0 && d.lo < 0 && d.hi > 0 && !d.significant && s_near (d.p, 1, 1e-12));
    //  Nobody converted anywhere: p is 1, not NaN
    assert (nd_stats_diff (0, 50, 0, 50, &d) == 0 && d.p == 1 && !d.significant);
    assert (nd_stats_diff (1, 0, 0, 5, &d) == -1 && nd_stats_diff (6, 5, 0, 5, &d) == -1);
    if (verbose)
        printf ("OK\n");
}
