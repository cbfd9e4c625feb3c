/*
 * pagesrc.h — where memcore's allocators get their pages.
 *
 * Every memcore allocator (slab, arena, large-object, buffer pool frames) takes
 * memory from a page source rather than calling mmap() directly. That gives one
 * place to count mapped bytes, to ask for a NUMA node or huge pages, and — in
 * the SQLite faultsim style — to make the Nth request fail so that tests can
 * prove every caller survives a failed page request with its state unchanged.
 *
 * A page source is a constant methods table plus a context pointer. The default
 * source maps anonymous memory with mmap(2). rm_pagesrc_faulty() wraps any
 * source and fails on request.
 */
#ifndef RUSTYMEM_PAGESRC_H
#define RUSTYMEM_PAGESRC_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Flags for rm_pagesrc_methods_t.map. */
#define RM_PAGES_NODE_LOCAL  0x1u  /* prefer the NUMA node given in `node` */
#define RM_PAGES_HUGE_2M     0x2u  /* try MAP_HUGETLB with 2 MiB pages */
#define RM_PAGES_HUGE_1G     0x4u  /* try MAP_HUGETLB with 1 GiB pages */
#define RM_PAGES_THP         0x8u  /* madvise(MADV_HUGEPAGE) on the mapping */

/* How a mapping was finally backed; reported through *backing. */
typedef enum rm_page_backing {
    RM_BACKING_NORMAL  = 0,
    RM_BACKING_HUGE_2M = 1,
    RM_BACKING_HUGE_1G = 2,
    RM_BACKING_THP     = 3,
} rm_page_backing_t;

typedef struct rm_pagesrc_methods {
    /*
     * Map `bytes` (a multiple of the system page size; of the huge page size
     * when a huge flag is honoured) aligned to at least `align` bytes (a power
     * of two ≥ the page size). Returns the address, or NULL with nothing
     * mapped. `node` is a NUMA node or -1. *backing (may be NULL) receives what
     * was obtained, which can be weaker than what `flags` asked for.
     * Must be thread-safe.
     */
    void *(*map)(void *ctx, size_t bytes, size_t align, int node, unsigned flags,
                 rm_page_backing_t *backing);
    /* Unmap exactly what one map() call returned. Must be thread-safe. */
    void (*unmap)(void *ctx, void *addr, size_t bytes);
    /*
     * Give the physical memory of [addr, addr+bytes) back to the OS while
     * keeping the range mapped (MADV_DONTNEED semantics: it reads back as
     * zeros). May be NULL, in which case callers unmap instead.
     */
    void (*release)(void *ctx, void *addr, size_t bytes);
} rm_pagesrc_methods_t;

typedef struct rm_pagesrc {
    const rm_pagesrc_methods_t *methods;
    void *ctx;
} rm_pagesrc_t;

/*
 * The process-wide default source: anonymous mmap(), NUMA binding through
 * libnuma's mbind when built with it and asked for, huge pages with fallback
 * (MAP_HUGETLB 1 GiB → 2 MiB → THP madvise → normal pages). Never NULL; the
 * returned object is static and thread-safe.
 */
const rm_pagesrc_t *rm_pagesrc_default(void);

/* Bytes currently mapped through the default source. Thread-safe, lock-free. */
uint64_t rm_pagesrc_default_mapped_bytes(void);

/* System page size in bytes (cached sysconf(_SC_PAGESIZE)). */
size_t rm_page_size(void);

/*
 * A fault-injecting wrapper around `inner` (SQLite test_malloc.c style).
 * After rm_pagesrc_faulty_arm(f, n, repeat): the nth map() from now fails
 * (n ≥ 1), and with `repeat` every map() after it fails as well, until
 * rm_pagesrc_faulty_disarm(). unmap/release always pass through.
 * The wrapper counts calls and failures. Not meant for production use; it is
 * thread-safe so stress tests can use it.
 */
typedef struct rm_pagesrc_faulty {
    rm_pagesrc_t src;            /* hand &f->src to the allocator under test */
    const rm_pagesrc_t *inner;
    long countdown;              /* map() calls until the next failure; <= 0: disarmed */
    int repeat;                  /* keep failing after the first failure */
    uint64_t calls;              /* map() calls seen */
    uint64_t failures;           /* map() calls failed on purpose */
    int64_t mapped_bytes;        /* bytes mapped through this wrapper and not yet unmapped */
} rm_pagesrc_faulty_t;

/* Initialise `f` around `inner` (NULL = default source), disarmed. */
void rm_pagesrc_faulty_init(rm_pagesrc_faulty_t *f, const rm_pagesrc_t *inner);
void rm_pagesrc_faulty_arm(rm_pagesrc_faulty_t *f, long nth, int repeat);
void rm_pagesrc_faulty_disarm(rm_pagesrc_faulty_t *f);

#ifdef __cplusplus
}
#endif
#endif /* RUSTYMEM_PAGESRC_H */
