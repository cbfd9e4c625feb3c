/*
 * large.h — the large-object allocator: page-granular extents carved from
 * big segments, with immediate coalescing and switchable fit strategies.
 *
 * Design note. Segments (default 32 MiB, or a multiple of 2 MiB fitting the
 * request) come from the page source, asking for huge pages (MAP_HUGETLB
 * 1 GiB/2 MiB, then THP madvise, then normal pages — the outcome is counted).
 * A segment is cut into extents kept in address order; freeing an extent
 * merges it at once with free neighbours, so no two free extents are ever
 * adjacent. Free extents are indexed twice: by (size, address) for best- and
 * worst-fit and by address (augmented with the largest free size below each
 * node) for first-fit, so every search is O(log n). Free extents stay
 * "dirty" (resident) until released to the OS with MADV_DONTNEED: at once in
 * aggressive-coalescing mode or when dirty bytes exceed the dirty limit, or on
 * demand through rm_large_release_free() (the pressure responder's hook).
 *
 * Metadata lives outside the objects (malloc'd extent nodes), so object pages
 * are never touched by the allocator and can be released freely.
 *
 * Threading: every function is thread-safe (one mutex per allocator; large
 * objects are rare and expensive compared to the lock). The registry callback
 * reads atomics only.
 */
#ifndef RUSTYMEM_LARGE_H
#define RUSTYMEM_LARGE_H

#include <stddef.h>
#include <stdint.h>

#include "rustymem/allocator.h"
#include "rustymem/pagesrc.h"
#include "rustymem/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define RM_LARGE_THRESHOLD_DEFAULT (2u << 20)    /* bytes: large_object.threshold_bytes */
#define RM_LARGE_THRESHOLD_MIN     (256u << 10)  /* bytes */
#define RM_LARGE_THRESHOLD_MAX     (64u << 20)   /* bytes */
#define RM_LARGE_SEGMENT_DEFAULT   (32u << 20)   /* bytes mapped at a time */

typedef enum rm_large_strategy {
    RM_LARGE_BEST_FIT = 0,   /* smallest free extent that fits (default) */
    RM_LARGE_FIRST_FIT = 1,  /* lowest-addressed free extent that fits */
    RM_LARGE_WORST_FIT = 2,  /* largest free extent */
} rm_large_strategy_t;

/* "best_fit" / "first_fit" / "worst_fit"; static, never NULL. */
const char *rm_large_strategy_name(rm_large_strategy_t s);
/* Parse the names above; RM_EINVAL for anything else (*out untouched). */
rm_status_t rm_large_strategy_parse(const char *name, rm_large_strategy_t *out);

typedef struct rm_large_config {
    size_t threshold_bytes;      /* 0 = default 2 MiB; else 256 KiB … 64 MiB */
    rm_large_strategy_t strategy;
    int aggressive_coalescing;   /* release free extents and empty segments at once */
    int no_huge_pages;           /* 1 = map plain pages only */
    size_t segment_bytes;        /* 0 = default 32 MiB; multiple of 2 MiB */
    uint64_t dirty_limit_bytes;  /* 0 = auto: max(2 MiB, used/32) */
} rm_large_config_t;

typedef struct rm_large rm_large_t;

/*
 * Create an allocator. cfg NULL = defaults; src NULL = rm_pagesrc_default()
 * (a non-NULL src must outlive the allocator). Registers component
 * "large_object". Returns RM_OK and *out; RM_EINVAL for a NULL out or a value
 * out of range; RM_ENOMEM; RM_ELIMIT when the registry is full. No segment is
 * mapped until the first allocation. On failure nothing is allocated.
 */
rm_status_t rm_large_create(const rm_large_config_t *cfg, const rm_pagesrc_t *src, rm_large_t **out);

/* Unmap every segment (live objects included), unregister, free. NULL is a
 * no-op. No concurrent call on `l` may run. */
void rm_large_destroy(rm_large_t *l);

/*
 * Allocate `bytes` (> 0), rounded up to the page size, page-aligned. Returns
 * NULL when the page source or metadata allocation fails, with the allocator
 * unchanged. Any size is accepted; routing objects by size is the caller's
 * job (rm_large_wants). Thread-safe.
 */
void *rm_large_alloc(rm_large_t *l, size_t bytes);

/* As rm_large_alloc with a reason: RM_OK and *out; RM_EINVAL (0 bytes, NULL);
 * RM_ENOMEM. */
rm_status_t rm_large_alloc_ex(rm_large_t *l, size_t bytes, void **out);

/* Free an object returned by rm_large_alloc. NULL is a no-op; a pointer that
 * is not a live object is ignored and counted in stats.invalid_frees. */
void rm_large_free(rm_large_t *l, void *p);

/* Usable bytes of a live object (its page-rounded size), 0 if `p` is not one. */
size_t rm_large_usable_size(rm_large_t *l, const void *p);

/* 1 when an object of `bytes` belongs here (bytes ≥ threshold), else 0.
 * Lock-free. */
int rm_large_wants(const rm_large_t *l, size_t bytes);

/* Live setters (thread-safe). Threshold out of [256 KiB, 64 MiB] or an
 * unknown strategy give RM_EINVAL with the value unchanged. */
rm_status_t rm_large_set_threshold(rm_large_t *l, size_t bytes);
size_t rm_large_threshold(const rm_large_t *l);
rm_status_t rm_large_set_strategy(rm_large_t *l, rm_large_strategy_t s);
void rm_large_set_aggressive_coalescing(rm_large_t *l, int on);
void rm_large_set_dirty_limit(rm_large_t *l, uint64_t bytes);   /* 0 = auto */
void rm_large_set_huge_pages(rm_large_t *l, int on);            /* affects new segments */

/*
 * The seed's coalesce_all(): merge any adjacent free extents (normally none:
 * coalescing is immediate) and unmap segments that are entirely free.
 * Returns the number of merges plus segments unmapped. Thread-safe.
 */
size_t rm_large_coalesce_all(rm_large_t *l);

/*
 * Give free memory back to the OS (pressure responder hook): unmap entirely
 * free segments and MADV_DONTNEED dirty free extents until at least
 * `max_bytes` were returned (UINT64_MAX = everything). Returns the bytes
 * returned. Objects are untouched. Thread-safe.
 */
uint64_t rm_large_release_free(rm_large_t *l, uint64_t max_bytes);

/* Statistics; sizes in bytes. */
typedef struct rm_large_stats {
    uint64_t used_bytes;          /* live objects (page-rounded) */
    uint64_t held_bytes;          /* used + dirty free bytes: what may be resident */
    uint64_t mapped_bytes;        /* all segments */
    uint64_t dirty_bytes;         /* free but not yet released */
    uint64_t free_bytes;          /* mapped − used */
    uint64_t largest_free_bytes;
    uint64_t metadata_bytes;      /* extent/segment nodes */
    uint64_t live_objects;
    uint64_t free_extents;
    uint64_t segments;
    uint64_t segments_by_backing[4];  /* index rm_page_backing_t, segments ever mapped */
    uint64_t huge_fallbacks;      /* segments that asked for huge pages and got less */
    uint64_t allocs, frees, coalesces, invalid_frees;
    uint64_t released_bytes;      /* total given back to the OS */
    uint64_t segments_unmapped;
    double fragmentation_ratio;   /* 1 − used/held (registry definition) */
    double external_fragmentation;/* 1 − largest_free/free (0 when nothing free) */
    rm_large_strategy_t strategy;
    size_t threshold_bytes;
    int aggressive_coalescing;
} rm_large_stats_t;

void rm_large_stats(rm_large_t *l, rm_large_stats_t *out);

/* Verify invariants: address order, no adjacent free extents, both indexes
 * hold exactly the free extents, counters balance. RM_OK or RM_ECORRUPT. */
rm_status_t rm_large_check(rm_large_t *l);

/* The common allocator methods table (rustymem/allocator.h) filled by the large-object
 * allocator; `self` is an rm_large_t *. reset frees every object and unmaps
 * every segment (outstanding pointers become invalid); stats fills an
 * rm_large_stats_t. */
extern const rm_allocator_methods_t rm_large_methods;

#ifdef __cplusplus
}
#endif
#endif /* RUSTYMEM_LARGE_H */
