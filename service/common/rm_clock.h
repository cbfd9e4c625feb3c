/*
 * rm_clock.h — the monotonic clock as the service, its clients and the hosts
 * read it (CLOCK_MONOTONIC: not the wall clock, never goes back). Header
 * only, no state; thread-safe.
 */
#ifndef RUSTYMEM_RM_CLOCK_H
#define RUSTYMEM_RM_CLOCK_H

#include <stdint.h>
#include <time.h>

/* CLOCK_MONOTONIC in nanoseconds. */
static inline uint64_t
rm_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* CLOCK_MONOTONIC in milliseconds (deadlines, schedules). */
static inline int64_t
rm_mono_ms(void)
{
    return (int64_t)(rm_mono_ns() / 1000000u);
}

/* CLOCK_MONOTONIC in seconds (for durations). */
static inline double
rm_mono_s(void)
{
    return (double)rm_mono_ns() / 1e9;
}

#endif /* RUSTYMEM_RM_CLOCK_H */
