/*
 * clock.c — monotonic time for memcore's internal use.
 */
#include "rm_internal.h"

#include <time.h>

uint64_t
rm__now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint64_t
rm__now_ns_hook(void *ctx)
{
    (void)ctx;
    return rm__now_ns();
}
