/*
 * rm_clock.h — the monotonic clock as the service, its clients and the hosts
 * read it (CLOCK_MONOTONIC: not the wall clock, never goes back), and the
 * wall clock for the Unix-time stamps they report. Header only, no state;
 * thread-safe.
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

/* The absolute time ms milliseconds (>= 0) from now on `clock`, for
 * pthread_cond_timedwait: CLOCK_REALTIME for a condition variable with the
 * default attributes, CLOCK_MONOTONIC for one set up with
 * pthread_condattr_setclock. */
static inline void
rm_deadline_ts(clockid_t clock, int64_t ms, struct timespec *ts)
{
    clock_gettime(clock, ts);
    ts->tv_sec += (time_t)(ms / 1000);
    ts->tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

/* CLOCK_REALTIME in milliseconds since the Unix epoch (timestamps shown to
 * people and reported over the API; may jump: never for durations). */
static inline int64_t
rm_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A CLOCK_MONOTONIC time (ns) as Unix milliseconds: when it happened on the
 * wall clock as it reads now (for a sample that carries no wall time). */
static inline int64_t
rm_unix_ms_of_mono(uint64_t mono_ns)
{
    struct timespec m, r;
    clock_gettime(CLOCK_MONOTONIC, &m);
    clock_gettime(CLOCK_REALTIME, &r);
    int64_t now_mono = (int64_t)m.tv_sec * 1000000000ll + m.tv_nsec;
    int64_t now_real = (int64_t)r.tv_sec * 1000000000ll + r.tv_nsec;
    return (now_real - (now_mono - (int64_t)mono_ns)) / 1000000;
}

#endif /* RUSTYMEM_RM_CLOCK_H */
