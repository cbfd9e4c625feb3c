/*
 * sqlite.h — SQLite's page cache and allocator on memcore (librustymem_sqlite).
 *
 * Two ways in:
 *  1. An application that links librustymem_sqlite calls rm_sqlite_install()
 *     before SQLite is initialised (before the first sqlite3_open*,
 *     sqlite3_initialize or any call that initialises SQLite).
 *  2. An existing binary (the sqlite3 CLI, python3, speedtest1) runs with
 *     LD_PRELOAD=librustymem_sqlite.so: a constructor reads the RUSTYMEM_SQLITE_*
 *     environment variables (rm_sqlite_opts_from_env) and installs before
 *     main(). The preload links libsqlite3 itself, so sqlite3_config resolves
 *     even in a program (python3) that loads libsqlite3 later with dlopen; the
 *     later dlopen finds the copy already loaded and configured.
 *     See docs/sqlite.md.
 *
 * What is installed (each part optional):
 *  - page cache (SQLITE_CONFIG_PCACHE2): one memcore page-cache pool
 *    (rustymem/pcache.h) with a budget in bytes shared by every purgeable
 *    cache (file databases, temp files); caches of non-purgeable databases
 *    (":memory:") live in a second pool whose budget is separate (default:
 *    unbounded, as with SQLite's pcache1), so a large in-memory database
 *    never evicts file pages and the file cache budget never fails it.
 *  - allocator (SQLITE_CONFIG_MALLOC): requests up to 4096 bytes go to
 *    memcore slab classes (64 … 4096 B), requests at or above the large-object
 *    threshold to memcore's large-object allocator, the rest to jemalloc
 *    (mallocx). xSize is the exact usable size of the block (class size,
 *    jemalloc's sallocx, the large object's page-rounded size), xRoundup the
 *    size that xMalloc will really hand out for a request, so
 *    sqlite3_status(SQLITE_STATUS_MEMORY_USED) counts real bytes. Every
 *    function is thread-safe (SQLite's serialized and multi-thread modes).
 *    The owner of a pointer is found without a header: memcore's slabs and
 *    large segments are mapped through a page source of this library that
 *    records them in a lock-free map of 256 KiB chunks.
 *
 * Budget and pinned pages: SQLite keeps a dirty page pinned until it is
 * written and spills dirty pages only above its own cache_spill size, not
 * above our budget. When every page in the file pool's budget is pinned, a
 * create-at-any-cost fetch (createFlag 2) raises the budget by the page it
 * needs rather than fail (pcache1, which has no global cap, would allocate);
 * each later unpin lowers it again by one page, evicting down to it, until it
 * is back at the configured value. rm_sqlite_stats counts these
 * (overshoots, overshoot_bytes). In-memory databases' pool is capped hard:
 * SQLITE_NOMEM at its budget.
 *
 * Failure: install fails with nothing installed (SQLite keeps its defaults)
 * when SQLite is already initialised (sqlite3_config answers SQLITE_MISUSE),
 * when the run-time libsqlite3 is older than RM_SQLITE_MIN_VERSION or of
 * another major version than this library was built against, when an option
 * is out of range, or when memory for the pools cannot be had. The preload
 * writes exactly one line to stderr then (starting "rustymem-sqlite: ") and
 * the program runs on SQLite's defaults.
 *
 * Process-wide state: at most one install per process; the pools live until
 * the process ends (sqlite3_shutdown does not destroy them, so a later
 * sqlite3_initialize finds them again).
 */
#ifndef RUSTYMEM_SQLITE_H
#define RUSTYMEM_SQLITE_H

#include <stddef.h>
#include <stdint.h>

#include "rustymem/pcache.h"
#include "rustymem/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Exported from librustymem_sqlite.so (everything else in it is hidden, memcore included). */
#define RM_SQLITE_API __attribute__((visibility("default")))

#define RM_SQLITE_MIN_VERSION 3008000          /* sqlite3_libversion_number() at least 3.8.0 */
#define RM_SQLITE_CACHE_BYTES_DEFAULT (256ull << 20) /* bytes: file-database page budget */
#define RM_SQLITE_MEMDB_BYTES_DEFAULT RM_PCACHE_BUDGET_MAX /* bytes: in-memory databases */

typedef struct rm_sqlite_opts {
    int pcache;                 /* 1: install the page cache (SQLITE_CONFIG_PCACHE2) */
    int malloc;                 /* 1: install the allocator (SQLITE_CONFIG_MALLOC) */
    uint64_t cache_bytes;       /* budget of the purgeable pool, 1..RM_PCACHE_BUDGET_MAX bytes */
    uint64_t memdb_bytes;       /* budget of the non-purgeable pool, 1..RM_PCACHE_BUDGET_MAX bytes */
    size_t large_threshold;     /* bytes at and above which memcore's large allocator serves;
                                   0 = RM_LARGE_THRESHOLD_DEFAULT, else RM_LARGE_THRESHOLD_MIN..MAX */
    const char *trace_path;     /* NULL = none; else every page reference (xFetch) of purgeable
                                   caches is appended to this file, one number per line
                                   (rustymem-bench bufpool --trace format): the page key, plus
                                   the cache's creation ordinal << 32 (0 for the first cache, the
                                   main database). A CREATE_CHEAP fetch that is refused is not
                                   written (SQLite asks again). Diagnostics: one mutex per fetch. */
} rm_sqlite_opts_t;

/* Defaults: both parts, RM_SQLITE_CACHE_BYTES_DEFAULT, RM_SQLITE_MEMDB_BYTES_DEFAULT,
 * the large allocator's default threshold, no trace. */
RM_SQLITE_API void rm_sqlite_opts_default(rm_sqlite_opts_t *o);

/*
 * Fill *o from the environment, starting from the defaults:
 *   RUSTYMEM_SQLITE_PCACHE=0|1         page cache part (default 1)
 *   RUSTYMEM_SQLITE_MALLOC=0|1         allocator part (default 1)
 *   RUSTYMEM_SQLITE_CACHE_BYTES=N[k|m|g]  purgeable pool budget (default 256m)
 *   RUSTYMEM_SQLITE_MEMDB_BYTES=N[k|m|g]  non-purgeable pool budget (default 1t = unbounded)
 *   RUSTYMEM_SQLITE_LARGE_THRESHOLD=N[k|m|g] large-object threshold (default 2m)
 *   RUSTYMEM_SQLITE_TRACE=FILE         page-reference trace (trace_path; default none)
 * (suffixes are powers of 1024). Returns RM_OK, or RM_EINVAL for a value that
 * does not parse or is out of range: then `err` (may be NULL, errlen bytes)
 * receives one line naming the variable and *o holds the defaults.
 */
RM_SQLITE_API rm_status_t rm_sqlite_opts_from_env(rm_sqlite_opts_t *o, char *err, size_t errlen);

/*
 * Configure SQLite (SQLITE_CONFIG_PCACHE2 and/or SQLITE_CONFIG_MALLOC) with
 * opts (NULL = defaults). Must run before SQLite is initialised; not
 * thread-safe against SQLite's initialisation (call it from main's start or a
 * constructor). Returns:
 *   RM_OK       installed (also when both parts are off: nothing to do);
 *   RM_EINVAL   an option out of range;
 *   RM_EBUSY    SQLite is already initialised (SQLITE_MISUSE) or a previous
 *               install succeeded;
 *   RM_ENOTSUP  the run-time libsqlite3 does not fit (version);
 *   RM_ENOMEM   the pools or allocators could not be created;
 *   RM_EIO      trace_path could not be opened for append.
 * On any failure nothing is installed and SQLite's configuration is as before;
 * `err` (may be NULL) receives one line that says why.
 */
RM_SQLITE_API rm_status_t rm_sqlite_install(const rm_sqlite_opts_t *opts, char *err, size_t errlen);

/* 1 once rm_sqlite_install succeeded in this process (either way in). */
RM_SQLITE_API int rm_sqlite_installed(void);

/* Adapter statistics (bytes and pages; counters since install). */
typedef struct rm_sqlite_stats {
    int pcache, malloc;               /* parts installed */
    rm_pcache_stats_t file_pool;      /* the purgeable pool (rm_pcache_pool_stats) */
    rm_pcache_stats_t memdb_pool;     /* the non-purgeable pool */
    uint64_t slab_bytes, jemalloc_bytes, large_bytes; /* live bytes by route (usable sizes) */
    uint64_t slab_allocs, jemalloc_allocs, large_allocs; /* allocations by route */
    uint64_t alloc_failures;          /* xMalloc/xRealloc that returned NULL */
    uint64_t overshoots;              /* FORCE fetches served above the file budget (all pinned) */
    uint64_t overshoot_bytes;         /* file budget now above the configured one, bytes */
} rm_sqlite_stats_t;

/* Snapshot the adapter's statistics. RM_EINVAL for NULL; RM_ENOENT before an
 * install. Thread-safe. */
RM_SQLITE_API rm_status_t rm_sqlite_stats(rm_sqlite_stats_t *out);

/*
 * Resize the file-database budget live (what RUSTYMEM_SQLITE_CACHE_BYTES set).
 * A smaller value evicts unpinned pages down to it at once (rm_pcache_pool_set_budget).
 * Any raise above the budget for pinned pages is forgotten: the new value is
 * the one given back to. Returns RM_OK; RM_EINVAL outside 1..RM_PCACHE_BUDGET_MAX
 * (nothing changes); RM_ENOENT when the page cache is not installed; RM_EBUSY
 * when pinned pages alone exceed it (set all the same; they are evicted as
 * they are unpinned). Thread-safe.
 */
RM_SQLITE_API rm_status_t rm_sqlite_set_cache_bytes(uint64_t bytes);

/* The pools (NULL before an install or when the page cache part is off), for
 * statistics and for the in-memory pool's budget; resize the file pool with
 * rm_sqlite_set_cache_bytes, not rm_pcache_pool_set_budget (which the
 * pinned-page raise would then lower again by what it had raised). */
RM_SQLITE_API rm_pcache_pool_t *rm_sqlite_file_pool(void);
RM_SQLITE_API rm_pcache_pool_t *rm_sqlite_memdb_pool(void);

#ifdef __cplusplus
}
#endif
#endif /* RUSTYMEM_SQLITE_H */
