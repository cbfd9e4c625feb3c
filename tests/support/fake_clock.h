/*
 * fake_clock.h — a clock the test sets by hand, for modules that take a
 * now_ns(ctx) hook (mvcc, session). Header-only.
 */
#ifndef RUSTYMEM_TESTS_FAKE_CLOCK_H
#define RUSTYMEM_TESTS_FAKE_CLOCK_H

#include <stdint.h>

typedef struct fclock {
    uint64_t ns;   /* the time now_ns answers (ns); the test advances it */
} fclock_t;

/* now_ns hook: ctx is an fclock_t *. */
static inline uint64_t
fclock_now(void *ctx)
{
    return ((fclock_t *)ctx)->ns;
}

#endif /* RUSTYMEM_TESTS_FAKE_CLOCK_H */
