/*
 * pcache.h — the buffer pool's page-cache mode: frames that the host fills and
 * writes itself (no page files, no I/O), for hosts such as SQLite that keep
 * their own files and want a page cache (SQLITE_CONFIG_PCACHE2).
 *
 * A pool (rm_pcache_pool_t) owns one global budget in bytes. Caches created in
 * it (one per database connection, typically) each have their own page size,
 * extra bytes per page and cache size, and share that budget. Every page costs
 * page_size + extra_size bytes of the budget while it is resident, pinned or
 * not. Replacement inside a cache is the file-backed pool's Enhanced ARC (the
 * same code: T1/T2 clocks, ghost lists B1/B2, the adaptive target p, the
 * frequency duel at the door); a pinned page is never evicted. When the pool's
 * budget is full, a page is taken from the cache that holds the most bytes
 * above its share of the budget (shares are proportional to the caches'
 * cache sizes), chosen there by that cache's policy
 * (docs/adr/0014-page-cache-mode.md).
 *
 * The calls map one to one onto sqlite3_pcache_methods2:
 *   xCreate(szPage, szExtra, bPurgeable)  rm_pcache_create
 *   xCachesize(n)                         rm_pcache_set_cachesize
 *   xPagecount()                          rm_pcache_pagecount
 *   xFetch(key, createFlag)               rm_pcache_fetch (mode = createFlag), or its
 *                                         forms without an out-pointer: rm_pcache_fetch_page,
 *                                         rm_pcache_fetch_result
 *   xUnpin(page, discard)                 rm_pcache_unpin
 *   xRekey(page, old, new)                rm_pcache_rekey
 *   xTruncate(iLimit)                     rm_pcache_truncate
 *   xDestroy()                            rm_pcache_destroy
 *   xShrink()                             rm_pcache_shrink
 * and rm_pcache_page_t has sqlite3_pcache_page's layout ({pBuf, pExtra}).
 *
 * Pins are not counted (SQLite's rule): fetching a pinned page again returns
 * it, still pinned once; one unpin releases it.
 *
 * Thread-safety: every function is thread-safe unless it says otherwise. A
 * fetch that finds its page resident takes no lock; misses, evictions and
 * structural changes are serialised by one pool mutex. A pool created with
 * serialized_caches = 1 relaxes this for calls on one cache (see there).
 */
#ifndef RUSTYMEM_PCACHE_H
#define RUSTYMEM_PCACHE_H

#include <stddef.h>
#include <stdint.h>

#include "rustymem/pagesrc.h"
#include "rustymem/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define RM_PCACHE_PAGE_SIZE_MIN 512u          /* bytes (SQLite's smallest page) */
#define RM_PCACHE_PAGE_SIZE_MAX 65536u        /* bytes (SQLite's largest page) */
#define RM_PCACHE_EXTRA_MAX 1024u             /* bytes of extra storage per page (SQLite: < 250) */
#define RM_PCACHE_FRAMES_MAX (16u << 20)      /* pages one cache can hold (16 Mi) */
#define RM_PCACHE_CACHESIZE_MIN 2u            /* a smaller cache size acts as this */
#define RM_PCACHE_CACHESIZE_DEFAULT RM_PCACHE_FRAMES_MAX /* no limit of its own: only the budget */
#define RM_PCACHE_BUDGET_MAX (1ull << 40)     /* bytes (1 TiB) */

typedef struct rm_pcache_pool rm_pcache_pool_t;
typedef struct rm_pcache rm_pcache_t;

/* One resident page. Same layout as sqlite3_pcache_page. Owned by the cache;
 * valid while the page is pinned (and, unpinned, until it is evicted). */
typedef struct rm_pcache_page {
    void *buf;     /* page_size bytes; contents undefined on a new page: the host fills them */
    void *extra;   /* extra_size bytes (NULL when extra_size is 0); on a new page the first
                    * rm_pcache_set_extra_zero bytes (all by default) are zeroed, the rest
                    * undefined */
} rm_pcache_page_t;

/* What fetch does when the page is not resident (SQLite's createFlag). */
typedef enum rm_pcache_create {
    RM_PCACHE_LOOKUP = 0,        /* never create: RM_ENOENT */
    RM_PCACHE_CREATE_CHEAP = 1,  /* create when it is cheap (see rm_pcache_fetch) */
    RM_PCACHE_CREATE_FORCE = 2,  /* create at any cost but a pinned page */
} rm_pcache_create_t;

typedef struct rm_pcache_pool_config {
    uint64_t budget_bytes;        /* 1..RM_PCACHE_BUDGET_MAX: resident page bytes of all caches */
    const rm_pagesrc_t *pagesrc;  /* frames and metadata come from here; NULL = default */
    /* 1: the host promises that the calls on one cache that pin or drop its
     * pages (fetch, unpin, rekey, truncate, destroy) never overlap — SQLite's
     * contract: a cache belongs to one pager, used under its connection's
     * (or shared cache's) mutex; pcache1 keeps such caches without any lock.
     * The hit path then updates the cache's own counters (hits, pinned pages)
     * with plain stores instead of locked instructions. Calls on different
     * caches, pool calls and statistics stay thread-safe against everything.
     * 0 (default): every call is thread-safe, on the same cache too. */
    int serialized_caches;
} rm_pcache_pool_config_t;

/* Fill *c with defaults: 64 MiB budget, default page source, serialized_caches 0. */
void rm_pcache_pool_config_default(rm_pcache_pool_config_t *c);

/*
 * Create a pool. Registers with the accounting registry as "page_cache".
 * Returns RM_OK and the pool in *out; RM_EINVAL for a NULL argument or a
 * budget outside 1..RM_PCACHE_BUDGET_MAX; RM_ENOMEM; RM_ELIMIT when the
 * registry is full. On failure nothing is left behind.
 */
rm_status_t rm_pcache_pool_create(const rm_pcache_pool_config_t *cfg, rm_pcache_pool_t **out);

/*
 * Destroy a pool whose caches have all been destroyed. NULL is a no-op
 * returning RM_OK. RM_EBUSY if a cache remains (nothing changes). Not
 * thread-safe against other calls on the pool.
 */
rm_status_t rm_pcache_pool_destroy(rm_pcache_pool_t *pool);

/*
 * Set the budget live (the buffer-pool knobs size it). A smaller budget is
 * reached at once by evicting unpinned pages of purgeable caches, from the
 * caches most above their share first, and the memory of the pages evicted
 * is given back to the page source (release) where the page size allows it.
 * Returns RM_OK; RM_EINVAL for a value outside 1..RM_PCACHE_BUDGET_MAX (the
 * budget is unchanged); RM_EBUSY when pinned pages and pages of
 * non-purgeable caches alone exceed the new budget: the budget is set all the
 * same, every unpinned purgeable page is gone, and pages above the budget are
 * evicted as they are unpinned.
 */
rm_status_t rm_pcache_pool_set_budget(rm_pcache_pool_t *pool, uint64_t budget_bytes);
uint64_t rm_pcache_pool_budget(const rm_pcache_pool_t *pool);   /* bytes */

/*
 * xCreate. A cache of pages of `page_size` bytes (a power of two in
 * [RM_PCACHE_PAGE_SIZE_MIN, RM_PCACHE_PAGE_SIZE_MAX]) each with `extra_size`
 * (0..RM_PCACHE_EXTRA_MAX) bytes of extra storage. `purgeable` 0 (SQLite's
 * in-memory databases): the cache never loses a page to eviction — its pages
 * leave only by discard, truncate, rekey onto them or destroy — and its cache
 * size is not applied; its pages still count against the budget. The cache
 * size starts at RM_PCACHE_CACHESIZE_DEFAULT. No memory for pages is taken
 * until a page is created.
 * Returns RM_OK and *out; RM_EINVAL (bad sizes, NULL pointers); RM_ENOMEM
 * (nothing changes).
 */
rm_status_t rm_pcache_create(rm_pcache_pool_t *pool, size_t page_size, size_t extra_size,
                             int purgeable, rm_pcache_t **out);

/*
 * xDestroy. Drops every page (pinned ones too: their pointers become invalid),
 * gives the memory back and frees the cache. NULL is a no-op. Not
 * thread-safe against other calls on the same cache; safe against calls on
 * other caches of the pool.
 */
void rm_pcache_destroy(rm_pcache_t *c);

/*
 * xCachesize. The most pages the cache keeps before it recycles its own
 * (0..RM_PCACHE_FRAMES_MAX; below RM_PCACHE_CACHESIZE_MIN acts as the minimum).
 * Lowering it evicts unpinned pages down to it at once. Ignored (RM_OK, only
 * recorded) for a non-purgeable cache. RM_EINVAL for a value above the
 * maximum (nothing changes).
 */
rm_status_t rm_pcache_set_cachesize(rm_pcache_t *c, size_t pages);

/*
 * How many of a new page's extra bytes rm_pcache_fetch (and every fetch
 * entry) zeroes: the first `bytes`, capped at extra_size; the rest of a new
 * page's extra is undefined (whatever the frame held). The default is all of
 * them. A host that initialises its extra itself asks for what it reads
 * before writing: SQLite needs only its PgHdr's first pointer (pPage) NULL on
 * a new page — pcache1 zeroes just those 8 bytes, and SQLite's
 * pcacheFetchFinishWithInit sets up the rest — so the SQLite adapter asks for
 * sizeof(void *). Applies to pages created after the call. Takes the pool's
 * mutex: safe against every other call. NULL is a no-op.
 */
void rm_pcache_set_extra_zero(rm_pcache_t *c, size_t bytes);

/* xPagecount: pages resident in the cache, pinned and unpinned. Lock-free. 0 for NULL. */
size_t rm_pcache_pagecount(const rm_pcache_t *c);

/*
 * xFetch. Pin page `key` (any 32-bit value) and return it in *out.
 * Resident: RM_OK with contents intact (a hit; no lock is taken).
 * Not resident, by `mode`:
 *   RM_PCACHE_LOOKUP: RM_ENOENT.
 *   RM_PCACHE_CREATE_CHEAP (pcache1's meaning of "easy and convenient"):
 *     RM_EBUSY (a refusal; SQLite then spills dirty pages and asks again with
 *     FORCE) when the cache already holds more pages than its cache size, when
 *     90 % of its cache size is pinned, or when it is at its cache size and
 *     every page of it is pinned. Otherwise as FORCE, except that it never
 *     grows the cache beyond its cache size.
 *   RM_PCACHE_CREATE_FORCE: a page is found in this order — a free frame
 *     when the cache is below its cache size and the budget has room; at its
 *     cache size, the cache's own victim by its policy; room in the budget
 *     (beyond the cache size: it is advisory); a victim from the cache most
 *     above its share of the budget (possibly this one). RM_EBUSY only when
 *     the budget is full and every purgeable page in the pool is pinned;
 *     RM_ENOMEM when new frame memory could not be had and nothing could be
 *     recycled.
 * A new page's extra bytes are zeroed (the first rm_pcache_set_extra_zero
 * bytes of them; all unless that was lowered); its buf is not. On any failure *out is
 * NULL and the cache is unchanged (a refusal or failure may have evicted
 * unpinned pages while looking for room). RM_EINVAL for NULL pointers or a bad
 * mode.
 */
rm_status_t rm_pcache_fetch(rm_pcache_t *c, uint32_t key, rm_pcache_create_t mode,
                            rm_pcache_page_t **out);

/*
 * rm_pcache_fetch for a caller that needs only the page (the SQLite adapter's
 * xFetch for lookups and CREATE_CHEAP): the same call with the same effects
 * and counts, returning the page where rm_pcache_fetch returns RM_OK and NULL
 * for every other status (NULL `c` or a bad mode included: nothing changes).
 * The page is pinned as by rm_pcache_fetch. Thread-safety as rm_pcache_fetch.
 */
rm_pcache_page_t *rm_pcache_fetch_page(rm_pcache_t *c, uint32_t key, rm_pcache_create_t mode);

/*
 * rm_pcache_fetch with both answers returned in registers (no out-pointer,
 * so a caller needs no stack slot for them): `page` is what rm_pcache_fetch
 * stores in *out and `status` what it returns (RM_EINVAL with page NULL for a
 * NULL `c` or a bad mode). The same call with the same effects and counts;
 * thread-safety as rm_pcache_fetch.
 */
typedef struct rm_pcache_fetch_result {
    rm_pcache_page_t *page;
    rm_status_t status;
} rm_pcache_fetch_result_t;
rm_pcache_fetch_result_t rm_pcache_fetch_result(rm_pcache_t *c, uint32_t key, rm_pcache_create_t mode);

/*
 * xUnpin. Release the pin on `page` (one call, however many fetches pinned
 * it). `discard` non-zero drops the page now (its frame is reused; counted in
 * `discards`); otherwise it stays resident and evictable — unless the cache
 * holds more than its cache size or the pool is over its budget, in which
 * case unpinned pages are evicted at once down to them. A non-purgeable
 * cache's unpinned page stays resident until discarded. Lock-free unless it
 * drops or evicts. RM_EINVAL (nothing changes) when `page` is not a pinned
 * page of this cache.
 */
rm_status_t rm_pcache_unpin(rm_pcache_t *c, rm_pcache_page_t *page, int discard);

/*
 * xRekey. The resident page `page`, now `old_key`, becomes `new_key`. A page
 * already resident as `new_key` is dropped first (counted in `discards`);
 * if that page is pinned the call returns RM_EBUSY and nothing changes
 * (SQLite guarantees it is not). The page keeps its pin state and contents;
 * the policy sees it as newly admitted under its new key. RM_OK also when
 * old_key == new_key. RM_EINVAL when `page` is not a resident page of this
 * cache with key `old_key` (nothing changes).
 */
rm_status_t rm_pcache_rekey(rm_pcache_t *c, rm_pcache_page_t *page, uint32_t old_key,
                            uint32_t new_key);

/*
 * xTruncate. Drop every page whose key is ≥ `limit`, pinned ones included
 * (SQLite: they are implicitly unpinned; their pointers become invalid).
 * *dropped (may be NULL) receives the count, also counted in `discards`.
 * Never fails for a valid cache; RM_EINVAL for NULL.
 */
rm_status_t rm_pcache_truncate(rm_pcache_t *c, uint32_t limit, uint64_t *dropped);

/*
 * xShrink. Evict every unpinned page of a purgeable cache (by its policy, so
 * the ghosts remember them) and give the memory of its free frames back to
 * the page source where the page size allows (page_size ≥ the system page).
 * *evicted (may be NULL) receives the count. RM_EINVAL for NULL.
 */
rm_status_t rm_pcache_shrink(rm_pcache_t *c, uint64_t *evicted);

size_t rm_pcache_page_size(const rm_pcache_t *c);    /* bytes */
size_t rm_pcache_extra_size(const rm_pcache_t *c);   /* bytes */

/* Counters use the file-backed pool's words (rm_bufpool_stats_t). */
typedef struct rm_pcache_stats {
    uint64_t page_size, extra_size;  /* bytes (0 in pool stats) */
    uint64_t cachesize;              /* pages (0 in pool stats) */
    int purgeable;                   /* 1 / 0 (-1 in pool stats) */
    uint64_t pages;                  /* resident pages, pinned and unpinned */
    uint64_t pinned;                 /* pinned pages */
    uint64_t parked;                 /* of those, pinned pages taken off the policy's hands: an eviction
                                      * met them pinned twice; each goes back to the policy (T1) at its
                                      * unpin, so evictions never walk long-pinned (dirty) pages */
    uint64_t used_bytes;             /* pages × (page_size + extra_size): what counts against the budget */
    uint64_t held_bytes;             /* frame memory mapped and not given back + metadata, bytes */
    uint64_t budget_bytes;           /* the pool's budget, bytes */
    uint64_t hits, misses;           /* fetches that found the page / did not (refusals excluded) */
    double hit_ratio;                /* hits / (hits + misses); 0 before any fetch */
    uint64_t evictions;              /* pages evicted by the policy (own limit, budget, shrink) */
    uint64_t stolen;                 /* of those, pages taken for another cache (pool stats: total) */
    uint64_t discards;               /* pages dropped by the host: unpin discard, truncate, rekey */
    uint64_t create_refused;         /* CREATE_CHEAP fetches refused (RM_EBUSY) */
    uint64_t create_failed;          /* FORCE fetches that failed (RM_EBUSY / RM_ENOMEM) */
    uint64_t win_size, t1_size, t2_size, b1_size, b2_size; /* policy lists, pages (as rm_bufpool_stats_t) */
    uint64_t b1_ghost_hits, b2_ghost_hits;
    uint64_t arc_p;                  /* ARC's target for T1, pages */
    uint64_t admission_rejects;      /* window candidates that lost the frequency duel */
    uint64_t caches;                 /* pool stats: caches in the pool (1 in cache stats) */
} rm_pcache_stats_t;

/* Statistics of one cache. Takes the pool mutex briefly. RM_EINVAL for NULL. */
rm_status_t rm_pcache_stats(rm_pcache_t *c, rm_pcache_stats_t *out);

/* Statistics of the pool: sums over its caches (counters include caches
 * already destroyed), policy list sizes summed. Takes the pool mutex
 * briefly. RM_EINVAL for NULL. */
rm_status_t rm_pcache_pool_stats(rm_pcache_pool_t *pool, rm_pcache_stats_t *out);

#ifdef __cplusplus
}
#endif
#endif /* RUSTYMEM_PCACHE_H */
