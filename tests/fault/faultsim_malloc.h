/*
 * faultsim_malloc.h — a malloc fault shim for test binaries (SQLite
 * test_malloc.c style): fail the Nth allocation made by the arming thread.
 *
 * Design note: the shim defines malloc, calloc, realloc, free,
 * posix_memalign, aligned_alloc, memalign, strdup and strndup in the test
 * executable, so every call from the executable and from the shared
 * libraries it loads (the executable comes first in symbol lookup) reaches
 * it; each passes through to the next definition, found with
 * dlsym(RTLD_NEXT) — glibc's allocator, or the sanitizer's in an ASan build,
 * so ASan/LSan keep working. strdup/strndup are defined here because
 * sanitizers intercept them without going through malloc. The countdown is
 * thread-local: only calls made by the thread that armed it count or fail,
 * so gRPC's and memcore's background threads are never tripped. Test
 * binaries do not link jemalloc (only rustymemd and rustymem-bench do).
 *
 * Use: #include "faultsim_malloc.c" in exactly one test source (the test
 * build compiles one file per binary).
 */
#ifndef RUSTYMEM_FAULTSIM_MALLOC_H
#define RUSTYMEM_FAULTSIM_MALLOC_H

#include <stdint.h>

/*
 * Start counting this thread's allocation calls from 0. nth ≥ 1: the nth
 * call from now fails (returns NULL / ENOMEM); with `repeat` every call after
 * it fails as well. nth = 0 only counts. Thread-local; no effect on other
 * threads.
 */
void rm_faultsim_malloc_arm(long nth, int repeat);

/* Stop counting and failing on this thread. */
void rm_faultsim_malloc_disarm(void);

/* Suspend (1) or resume (0) counting and failing on this thread without
 * losing the countdown: brackets the test's own (client-side) allocations. */
void rm_faultsim_malloc_suspend(int on);

/* Allocation calls seen / failed on purpose on this thread since the last arm. */
uint64_t rm_faultsim_malloc_calls(void);
uint64_t rm_faultsim_malloc_failures(void);

#endif /* RUSTYMEM_FAULTSIM_MALLOC_H */
