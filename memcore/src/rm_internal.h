/*
 * rm_internal.h — helpers shared by memcore's sources. Never installed.
 *
 * config_debug follows jemalloc: debug-only code is written as
 * `if (config_debug) { … }` so it always compiles and is removed by the
 * optimiser in release builds.
 */
#ifndef RUSTYMEM_RM_INTERNAL_H
#define RUSTYMEM_RM_INTERNAL_H

#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <unistd.h>

#include "rm_mix.h"
#include "rustymem/recalloc.h"
#include "rustymem/status.h"

#ifdef RM_DEBUG
#define config_debug 1
#else
#define config_debug 0
#endif

/*
 * RM_ASSERT_LOCKED(mu): a `_locked` function states that its caller holds the
 * pthread mutex `mu` (STYLE.md). Debug builds (RM_DEBUG) check that the
 * calling thread owns it and assert otherwise; release builds compile the
 * check away (config_debug is 0: the optimiser drops it), so a release build
 * never aborts on it. Ownership is glibc's owner field (the kernel thread id
 * the lock records for every mutex kind); elsewhere the check falls back to
 * "held by some thread" (trylock answers EBUSY).
 */
static inline int
rm__mutex_held_by_self(pthread_mutex_t *mu)
{
#if defined(__GLIBC__)
    return mu->__data.__owner == (int)gettid();
#else
    return pthread_mutex_trylock(mu) == EBUSY;
#endif
}

#define RM_ASSERT_LOCKED(mu)                                                     \
    do {                                                                         \
        if (config_debug)                                                        \
            assert(rm__mutex_held_by_self((pthread_mutex_t *)(mu)));             \
    } while (0)

/*
 * The value of expr evaluated with mu held: locks mu, evaluates expr once,
 * unlocks, yields the value (of expr's type). For the readers that copy one
 * guarded value out; expr may call *_locked functions of mu.
 */
#define RM_LOCKED_READ(mu, expr)                                                 \
    __extension__({                                                              \
        pthread_mutex_lock(mu);                                                  \
        __typeof__(expr) rm__locked_v = (expr);                                  \
        pthread_mutex_unlock(mu);                                                \
        rm__locked_v;                                                            \
    })

#define RM_LIKELY(x)   __builtin_expect(!!(x), 1)
#define RM_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define RM_CACHELINE   64
#define RM_ALIGNED_CL  __attribute__((aligned(RM_CACHELINE)))
#define RM_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/*
 * RM__CREATE_ARGS_OR_EINVAL(cfg, out): the argument checks every
 * rm_X_create(const rm_X_config_t *cfg, rm_X_t **out) starts with. Returns
 * RM_EINVAL from the enclosing function when out is NULL; a NULL cfg means
 * "every default": cfg then points to a zeroed config of its own type, which
 * lives until the end of the enclosing function's block.
 */
#define RM__CREATE_ARGS_OR_EINVAL(cfg, out)                                      \
    __typeof__(*(cfg)) rm__all_defaults = {0};                                   \
    if (!(out))                                                                  \
        return RM_EINVAL;                                                        \
    if (!(cfg))                                                                  \
        (cfg) = &rm__all_defaults

/*
 * The time ns nanoseconds after now on clock clk, as an absolute deadline for
 * pthread_cond_timedwait (which reads it on the condition variable's clock:
 * CLOCK_REALTIME unless the variable was created with another).
 */
static inline struct timespec
rm__deadline_after_ns(clockid_t clk, uint64_t ns)
{
    struct timespec t;
    clock_gettime(clk, &t);
    uint64_t sub = (uint64_t)t.tv_nsec + ns % 1000000000ull;
    t.tv_sec += (time_t)(ns / 1000000000ull + sub / 1000000000ull);
    t.tv_nsec = (long)(sub % 1000000000ull);
    return t;
}

/*
 * Intrusive doubly linked lists, NULL-terminated, named by their head (and
 * tail) lvalues; prev and next name the node's link fields for that list (a
 * node may sit on several lists). RM_DLIST_UNLINK takes node out of the list
 * whose first element is head; RM_DLIST_UNLINK_HT out of one that also keeps
 * its last element in tail. The node's own links are left as they were. The
 * caller holds whatever lock guards the list.
 */
#define RM_DLIST_UNLINK(head, node, prev, next)                                  \
    RM__DLIST_UNLINK(head, node, prev, next, (void)0)
#define RM_DLIST_UNLINK_HT(head, tail, node, prev, next)                         \
    RM__DLIST_UNLINK(head, node, prev, next, (tail) = (node)->prev)
#define RM__DLIST_UNLINK(head, node, prev, next, when_last)                      \
    do {                                                                         \
        if ((node)->prev)                                                        \
            (node)->prev->next = (node)->next;                                   \
        else                                                                     \
            (head) = (node)->next;                                               \
        if ((node)->next)                                                        \
            (node)->next->prev = (node)->prev;                                   \
        else                                                                     \
            when_last;                                                           \
    } while (0)

/* RM_DLIST_APPEND_HT: node becomes the last element of a list with a tail. */
#define RM_DLIST_APPEND_HT(head, tail, node, prev, next)                         \
    do {                                                                         \
        (node)->next = NULL;                                                     \
        (node)->prev = (tail);                                                   \
        if (tail)                                                                \
            (tail)->next = (node);                                               \
        else                                                                     \
            (head) = (node);                                                     \
        (tail) = (node);                                                         \
    } while (0)

/* RM_DLIST_PUSH: node becomes the first element of the list headed by head. */
#define RM_DLIST_PUSH(head, node, prev, next)                                    \
    do {                                                                         \
        (node)->prev = NULL;                                                     \
        (node)->next = (head);                                                   \
        if (head)                                                                \
            (head)->prev = (node);                                               \
        (head) = (node);                                                         \
    } while (0)

/*
 * A module's background thread (the buffer pool's writer, the pressure
 * sampler): fn(arg) runs until it sees *stop set; mu guards *running and
 * *stop, and the thread waits on cv. rm__thread_start creates it unless it
 * runs (RM_EBUSY then; RM_ENOMEM when it cannot be created). rm__thread_stop
 * sets *stop, wakes it, joins it without holding mu and clears *running;
 * nothing when it is not running. Neither may be called from the thread.
 */
static inline rm_status_t
rm__thread_start(pthread_mutex_t *mu, pthread_t *th, int *running, int *stop, void *(*fn)(void *), void *arg)
{
    rm_status_t st = RM_OK;
    pthread_mutex_lock(mu);
    if (*running) {
        st = RM_EBUSY;
    } else {
        *stop = 0;
        if (pthread_create(th, NULL, fn, arg) != 0)
            st = RM_ENOMEM;
        else
            *running = 1;
    }
    pthread_mutex_unlock(mu);
    return st;
}

static inline void
rm__thread_stop(pthread_mutex_t *mu, pthread_cond_t *cv, const pthread_t *th, int *running, int *stop)
{
    pthread_mutex_lock(mu);
    if (!*running) {
        pthread_mutex_unlock(mu);
        return;
    }
    *stop = 1;
    pthread_cond_broadcast(cv);
    pthread_t t = *th;
    pthread_mutex_unlock(mu);
    pthread_join(t, NULL);
    pthread_mutex_lock(mu);
    *running = 0;
    pthread_mutex_unlock(mu);
}

/* Debug fill patterns (STYLE.md): fresh memory 0xAA, freed memory 0x55. */
#define RM_FILL_ALLOC 0xAA
#define RM_FILL_FREE  0x55

/*
 * Tell AddressSanitizer (and Valgrind, when its headers are present) about
 * memory that our allocators hand out and take back, so they can see through
 * pools the way they see through malloc.
 */
#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#define RM_POISON(p, n)   ASAN_POISON_MEMORY_REGION((p), (n))
#define RM_UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#define RM_POISON(p, n)   ((void)(p), (void)(n))
#define RM_UNPOISON(p, n) ((void)(p), (void)(n))
#endif

#if defined(__has_include)
#if __has_include(<valgrind/memcheck.h>)
#include <valgrind/memcheck.h>
#define RM_HAVE_VALGRIND 1
#endif
#endif
#ifndef RM_HAVE_VALGRIND
#define VALGRIND_CREATE_MEMPOOL(pool, rz, zeroed) ((void)0)
#define VALGRIND_DESTROY_MEMPOOL(pool)            ((void)0)
#define VALGRIND_MEMPOOL_ALLOC(pool, addr, size)  ((void)0)
#define VALGRIND_MEMPOOL_FREE(pool, addr)         ((void)0)
#define VALGRIND_MAKE_MEM_NOACCESS(addr, size)    ((void)0)
#define VALGRIND_MAKE_MEM_UNDEFINED(addr, size)   ((void)0)
#define VALGRIND_MAKE_MEM_DEFINED(addr, size)     ((void)0)
#endif

static inline size_t
rm__align_up(size_t v, size_t a)
{
    return (v + a - 1) & ~(a - 1);
}

static inline int
rm__is_pow2(size_t v)
{
    return v && (v & (v - 1)) == 0;
}

/* rm_hash_bytes (rustymem/mix.h) with seed 0: for hash tables keyed by byte
 * strings. Pure. */
static inline uint64_t
rm__hash_bytes(const void *p, size_t n)
{
    return rm_hash_bytes(p, n, 0);
}

/* Monotonic clock in nanoseconds. */
uint64_t rm__now_ns(void);
/* rm__now_ns as a config's clock hook (now_ns(now_ctx)); ctx is ignored. */
uint64_t rm__now_ns_hook(void *ctx);

/* A config's record allocator: *given, or one over malloc/free when given is
 * NULL (recalloc.c). The caller has checked it with rm__recalloc_valid. */
rm_recalloc_t rm__recalloc_or_malloc(const rm_recalloc_t *given);
/* 1 if a config's record allocator is usable: NULL (the default) or one with
 * both alloc and free; 0 otherwise (the create call answers RM_EINVAL). */
static inline int
rm__recalloc_valid(const rm_recalloc_t *given)
{
    return !given || (given->alloc && given->free);
}

#endif /* RUSTYMEM_RM_INTERNAL_H */
