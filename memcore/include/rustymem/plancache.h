/*
 * plancache.h — the query plan cache: an LRU keyed by statement text,
 * bounded both by entry count (plan_cache.max_plans) and by bytes
 * (plan_cache.max_bytes), trimmable by fraction for the pressure responder.
 *
 * Design note. An entry is one allocation from the record allocator: a header,
 * the statement text and the plan bytes, and that whole size is its charge
 * against max_bytes — so the bound is on memory, not on payload. Plans are
 * opaque byte strings copied in at insert and copied out at lookup (a plan for
 * this engine is a few dozen bytes; copying keeps no pointer into the cache
 * alive across an eviction). One mutex guards the table and the LRU list:
 * a hit moves the entry to the MRU end, which every lookup must do anyway,
 * and a single lock keeps both bounds exact. Both bounds are enforced on
 * every insert and when a setter lowers them.
 *
 * Accounting: "plan_cache" (used = charges of live entries; held = used +
 * bucket array + the cache itself).
 */
#ifndef RUSTYMEM_PLANCACHE_H
#define RUSTYMEM_PLANCACHE_H

#include <stddef.h>
#include <stdint.h>

#include "rustymem/recalloc.h"
#include "rustymem/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define RM_PLANCACHE_DEFAULT_MAX_PLANS 10000u
#define RM_PLANCACHE_DEFAULT_MAX_BYTES (100ull << 20)
#define RM_PLANCACHE_TEXT_MAX          (1u << 20)   /* statement bytes */
#define RM_PLANCACHE_PLAN_MAX          (16u << 20)  /* plan bytes */

typedef struct rm_plancache rm_plancache_t;

typedef struct rm_plancache_config {
    uint64_t max_plans;           /* 0 = 10 000 */
    uint64_t max_bytes;           /* 0 = 100 MiB */
    const rm_recalloc_t *alloc;   /* entries; NULL = malloc; copied */
} rm_plancache_config_t;

typedef struct rm_plancache_stats {
    uint64_t plans;               /* entries now */
    uint64_t bytes;               /* sum of entry charges (header + text + plan) */
    uint64_t held_bytes;          /* bytes + bucket array + cache struct */
    uint64_t max_plans, max_bytes;
    uint64_t hits, misses;
    uint64_t inserts;             /* successful inserts (replacements included) */
    uint64_t evictions;           /* entries pushed out by either bound */
    uint64_t trimmed;             /* entries removed by trim/clear */
    uint64_t invalidations;       /* entries removed by invalidate */
    uint64_t rejected;            /* inserts refused: larger than max_bytes */
} rm_plancache_stats_t;

/*
 * Create a cache. cfg may be NULL. RM_OK and *out owned by the caller;
 * RM_EINVAL (NULL out, allocator with a NULL method), RM_ENOMEM, RM_ELIMIT
 * (accounting registry full) with nothing created.
 */
rm_status_t rm_plancache_create(const rm_plancache_config_t *cfg, rm_plancache_t **out);

/* Free every entry and the cache. NULL is a no-op. No concurrent calls. */
void rm_plancache_destroy(rm_plancache_t *pc);

/*
 * Look up the plan for `text` (tlen bytes). On a hit copies it into
 * buf[0..cap), sets *plen, moves the entry to the MRU end and returns RM_OK;
 * RM_ELIMIT when cap < *plen (nothing copied, still a hit); RM_ENOENT on a
 * miss. buf may be NULL when cap is 0. Thread-safe.
 */
rm_status_t rm_plancache_lookup(rm_plancache_t *pc, const void *text, size_t tlen,
                                void *buf, size_t cap, size_t *plen);

/*
 * Insert or replace the plan for `text` (both copied), evicting least
 * recently used entries until both bounds hold. RM_OK; RM_ELIMIT when the
 * entry alone exceeds max_bytes (nothing changes); RM_ENOMEM (nothing changes:
 * the allocation happens before any eviction); RM_EINVAL for bad arguments.
 * Thread-safe.
 */
rm_status_t rm_plancache_insert(rm_plancache_t *pc, const void *text, size_t tlen,
                                const void *plan, size_t plen);

/* Remove the entry for `text`. RM_OK or RM_ENOENT. Thread-safe. */
rm_status_t rm_plancache_invalidate(rm_plancache_t *pc, const void *text, size_t tlen);

/*
 * Evict the oldest ceil(fraction × plans) entries (responder: 0.10 Gentle,
 * 0.50 Aggressive, 1.0 Emergency). *bytes_freed (may be NULL) receives the
 * charges freed. RM_EINVAL when fraction is not in [0, 1] (nothing evicted).
 * Never allocates. Thread-safe.
 */
rm_status_t rm_plancache_trim(rm_plancache_t *pc, double fraction, uint64_t *bytes_freed);

/* Evict everything (seed: clear_plan_cache()). Thread-safe. */
void rm_plancache_clear(rm_plancache_t *pc, uint64_t *bytes_freed);

/*
 * Live setters for plan_cache.max_plans / plan_cache.max_bytes (≥ 1).
 * Lowering evicts LRU entries at once until the bound holds. RM_EINVAL for 0
 * (unchanged). Thread-safe.
 */
rm_status_t rm_plancache_set_max_plans(rm_plancache_t *pc, uint64_t n);
rm_status_t rm_plancache_set_max_bytes(rm_plancache_t *pc, uint64_t n);

/* Fill *out. Thread-safe. */
void rm_plancache_stats(rm_plancache_t *pc, rm_plancache_stats_t *out);

#ifdef __cplusplus
}
#endif
#endif /* RUSTYMEM_PLANCACHE_H */
