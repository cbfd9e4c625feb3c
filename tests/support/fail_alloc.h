/*
 * fail_alloc.h — a record allocator (rm_recalloc_t) that fails the nth
 * allocation and counts what is live, for the failure-path tests of the
 * modules that take one (mvcc, session, plancache). Header-only; malloc
 * underneath. Thread-safe: the stress tests allocate from several threads
 * (the counters are atomics; ThreadSanitizer caught the plain ones).
 */
#ifndef RUSTYMEM_TESTS_FAIL_ALLOC_H
#define RUSTYMEM_TESTS_FAIL_ALLOC_H

#include <stdlib.h>

#include "rustymem/recalloc.h"

typedef struct falloc {
    long countdown;    /* the nth alloc from now fails (n ≥ 1); ≤ 0: never */
    long live_bytes;   /* bytes allocated and not yet freed */
    long allocs;       /* successful allocations */
} falloc_t;

static inline void *
falloc_alloc(void *ctx, size_t n)
{
    falloc_t *f = ctx;
    long c = __atomic_load_n(&f->countdown, __ATOMIC_RELAXED);
    while (c > 0 && !__atomic_compare_exchange_n(&f->countdown, &c, c - 1, 0, __ATOMIC_RELAXED, __ATOMIC_RELAXED))
        ;
    if (c == 1)   /* this call took the countdown to 0: the nth allocation fails */
        return NULL;
    __atomic_fetch_add(&f->allocs, 1, __ATOMIC_RELAXED);
    __atomic_fetch_add(&f->live_bytes, (long)n, __ATOMIC_RELAXED);
    return malloc(n);
}

static inline void
falloc_free(void *ctx, void *p, size_t n)
{
    falloc_t *f = ctx;
    __atomic_fetch_sub(&f->live_bytes, (long)n, __ATOMIC_RELAXED);
    free(p);
}

/* An rm_recalloc_t over f. */
static inline rm_recalloc_t
falloc_recalloc(falloc_t *f)
{
    return (rm_recalloc_t){.alloc = falloc_alloc, .free = falloc_free, .ctx = f};
}

/* The two incomplete allocators a create call must refuse (RM_EINVAL):
 * half[0] without free, half[1] without alloc. */
static inline void
falloc_halves(falloc_t *f, rm_recalloc_t half[2])
{
    half[0] = half[1] = falloc_recalloc(f);
    half[0].free = NULL;
    half[1].alloc = NULL;
}

#endif /* RUSTYMEM_TESTS_FAIL_ALLOC_H */
