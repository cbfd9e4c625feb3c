/*
 * cdf_pick.h — draw from a discrete distribution given its cumulative weights
 * (a Zipf CDF in the buffer-pool tests and the bufpool bench). Header-only.
 */
#ifndef RUSTYMEM_TESTS_CDF_PICK_H
#define RUSTYMEM_TESTS_CDF_PICK_H

#include <stddef.h>

/* The first index i of cdf[0..n) (non-decreasing, n ≥ 1) with cdf[i] ≥ u;
 * n − 1 when u is above them all. O(log n). */
static inline size_t
cdf_pick(const double *cdf, size_t n, double u)
{
    size_t lo = 0, hi = n - 1;
    while (lo < hi) {
        size_t m = (lo + hi) / 2;
        if (cdf[m] < u)
            lo = m + 1;
        else
            hi = m;
    }
    return lo;
}

#endif
