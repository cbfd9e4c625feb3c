/*
 * sqlite_adapter.c — sqlite3_pcache_methods2 and sqlite3_mem_methods on memcore
 * (integrations/sqlite/include/rustymem/sqlite.h, docs/adr/0017-sqlite-integration.md).
 */
#include "rustymem/sqlite.h"
#include "sqlite_internal.h"

#include <errno.h>
#ifdef RM_SQLITE_JE_PRIVATE
/* The preload links a private copy of jemalloc (libjemalloc_pic.a, its public
 * names renamed rmje_* at build time, integrations/sqlite/CMakeLists.txt):
 * no libjemalloc.so.2 and no libstdc++ loaded into the host (ADR 0023). */
#define mallocx rmje_mallocx
#define rallocx rmje_rallocx
#define sallocx rmje_sallocx
#define nallocx rmje_nallocx
#define dallocx rmje_dallocx
#define sdallocx rmje_sdallocx
#define xallocx rmje_xallocx
#define mallctl rmje_mallctl
#define mallctlnametomib rmje_mallctlnametomib
#define mallctlbymib rmje_mallctlbymib
#define malloc_stats_print rmje_malloc_stats_print
#define malloc_usable_size rmje_malloc_usable_size
#endif
#include <jemalloc/jemalloc.h>
#include <pthread.h>
#ifdef RM_SQLITE_JE_PRIVATE
/* The private jemalloc's options, read at its first call (malloc_conf renamed
 * rmje_malloc_conf). It serves SQLite only, so its own arena 0 takes the
 * settings the shared jemalloc gets in an arena of ours (below): freed pages
 * go back at once (decay 0), and no second arena is created: its metadata
 * stayed resident in every host (ADR 0023). One arena (jemalloc's default
 * would make one per 4 CPUs' threads lazily). Thread caches stay on:
 * tcache:false made speedtest1 ~10 % slower (CPU 3.77 vs 3.42 s at cache 688,
 * interleaved runs) although SQLite makes few allocations in jemalloc's range. */
const char *rmje_malloc_conf = "narenas:1,dirty_decay_ms:0,muzzy_decay_ms:0";
/* Read after MALLOC_CONF and /etc/malloc.conf (jemalloc 5.3's last word): the
 * copy never profiles. Its backtrace references (_Unwind_*) are weak so that
 * libgcc_s is not loaded for it (CMakeLists): a host's MALLOC_CONF=prof:true,
 * meant for its own jemalloc, must not reach them. */
const char *rmje_malloc_conf_2_conf_harder = "prof:false";
#endif
#include <sqlite3.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "rustymem/large.h"
#include "rustymem/pagesrc.h"
#include "rustymem/slab.h"

_Static_assert(sizeof(sqlite3_pcache_page) == sizeof(rm_pcache_page_t), "pcache page layout");
_Static_assert(offsetof(sqlite3_pcache_page, pBuf) == offsetof(rm_pcache_page_t, buf), "pBuf");
_Static_assert(offsetof(sqlite3_pcache_page, pExtra) == offsetof(rm_pcache_page_t, extra), "pExtra");

/* ---- who owns a pointer: a map of 256 KiB chunks ---------------------------
 * memcore's slabs (256 KiB, 256 KiB aligned) and large-object segments (whole
 * multiples of 2 MiB, aligned here to 256 KiB at least) are mapped through the
 * page sources below, which mark their chunks. Any other pointer SQLite hands
 * back came from jemalloc. Two levels: 2^14 roots × 2^16 one-byte entries
 * cover 2^30 chunks = 256 TiB (x86-64's 47-bit user space). Readers are
 * lock-free (acquire loads); leaves are created under a mutex and never freed. */
#define CHUNK_SHIFT 18u
#define CHUNK_BYTES ((size_t)1 << CHUNK_SHIFT)
#define LEAF_BITS 16u
#define ROOT_BITS 14u
#define KIND_NONE 0u
#define KIND_LARGE 1u
#define KIND_SLAB0 2u   /* KIND_SLAB0 + i: a slab of class i (each class has
                         * its own marking source), so a slab object's class
                         * and cache come from the map alone: xSize and xFree
                         * read no slab header (ADR 0023, session 11) */

static _Atomic(uint8_t *) g_chunk_root[1u << ROOT_BITS];
static pthread_mutex_t g_chunk_mu = PTHREAD_MUTEX_INITIALIZER;

static inline unsigned
chunk_kind(const void *p)
{
    uintptr_t idx = (uintptr_t)p >> CHUNK_SHIFT;
    uintptr_t r = idx >> LEAF_BITS;
    if (r >= (1u << ROOT_BITS))
        return KIND_NONE;
    uint8_t *leaf = atomic_load_explicit(&g_chunk_root[r], memory_order_acquire);
    if (!leaf)
        return KIND_NONE;
    return __atomic_load_n(&leaf[idx & ((1u << LEAF_BITS) - 1)], __ATOMIC_ACQUIRE);
}

/* Mark [addr, addr+bytes) (chunk aligned) as `kind`; 0 on success, -1 when a
 * leaf could not be mapped (nothing marked). */
static int
chunk_mark(void *addr, size_t bytes, unsigned kind)
{
    uintptr_t first = (uintptr_t)addr >> CHUNK_SHIFT;
    uintptr_t last = ((uintptr_t)addr + bytes - 1) >> CHUNK_SHIFT;
    if ((last >> LEAF_BITS) >= (1u << ROOT_BITS))
        return -1;
    if (kind != KIND_NONE) {
        pthread_mutex_lock(&g_chunk_mu);
        for (uintptr_t r = first >> LEAF_BITS; r <= last >> LEAF_BITS; r++) {
            if (atomic_load_explicit(&g_chunk_root[r], memory_order_relaxed))
                continue;
            void *leaf = mmap(NULL, (size_t)1 << LEAF_BITS, PROT_READ | PROT_WRITE,
                              MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
            if (leaf == MAP_FAILED) {
                pthread_mutex_unlock(&g_chunk_mu);
                return -1;
            }
            atomic_store_explicit(&g_chunk_root[r], (uint8_t *)leaf, memory_order_release);
        }
        pthread_mutex_unlock(&g_chunk_mu);
    }
    for (uintptr_t i = first; i <= last; i++) {
        uint8_t *leaf = atomic_load_explicit(&g_chunk_root[i >> LEAF_BITS], memory_order_acquire);
        if (leaf)
            __atomic_store_n(&leaf[i & ((1u << LEAF_BITS) - 1)], (uint8_t)kind, __ATOMIC_RELEASE);
    }
    return 0;
}

typedef struct marking_src {
    rm_pagesrc_t src;            /* handed to memcore */
    const rm_pagesrc_t *inner;
    unsigned kind;
} marking_src_t;

static size_t
round_chunk(size_t n)
{
    return (n + CHUNK_BYTES - 1) & ~(CHUNK_BYTES - 1);
}

static void *
msrc_map(void *ctx, size_t bytes, size_t align, int node, unsigned flags, rm_page_backing_t *backing)
{
    marking_src_t *m = ctx;
    if (m->kind == KIND_LARGE) {
        /* every segment is marked whole: chunk aligned, chunk rounded */
        if (align < CHUNK_BYTES)
            align = CHUNK_BYTES;
        bytes = round_chunk(bytes);
    }
    void *p = m->inner->methods->map(m->inner->ctx, bytes, align, node, flags, backing);
    if (!p)
        return NULL;
    /* slab: only the slabs (256 KiB at 256 KiB); magazines and thread state
     * are smaller, never handed to SQLite and may share a chunk with others */
    if (align >= CHUNK_BYTES && bytes % CHUNK_BYTES == 0 && ((uintptr_t)p & (CHUNK_BYTES - 1)) == 0) {
        if (chunk_mark(p, bytes, m->kind) != 0) {
            m->inner->methods->unmap(m->inner->ctx, p, bytes);
            return NULL;
        }
    }
    return p;
}

static void
msrc_unmap(void *ctx, void *addr, size_t bytes)
{
    marking_src_t *m = ctx;
    if (m->kind == KIND_LARGE)
        bytes = round_chunk(bytes);
    if (bytes % CHUNK_BYTES == 0 && ((uintptr_t)addr & (CHUNK_BYTES - 1)) == 0)
        chunk_mark(addr, bytes, KIND_NONE);
    m->inner->methods->unmap(m->inner->ctx, addr, bytes);
}

static void
msrc_release(void *ctx, void *addr, size_t bytes)
{
    marking_src_t *m = ctx;
    if (m->inner->methods->release)
        m->inner->methods->release(m->inner->ctx, addr, bytes);
    else
        madvise(addr, bytes, MADV_DONTNEED);
}

static const rm_pagesrc_methods_t msrc_methods = {msrc_map, msrc_unmap, msrc_release};

/* ---- process state -------------------------------------------------------- */

typedef struct route_ctr {
    _Atomic uint64_t bytes, allocs;
} route_ctr_t;

static struct {
    pthread_mutex_t mu;
    int installed;
    int pcache, malloc;
    rm_pcache_pool_t *file_pool, *memdb_pool;
    /* the slab route, read by every xMalloc/xFree/xSize/xRoundup (constant
     * after install): without calls into slab.c's class search (a loop over
     * the classes) — every class size is a multiple of 64 bytes, so entry
     * (n + 63) / 64 of by64_cache / by64_size is the cache / class size of an
     * n-byte request (n ≥ 1), and a slab object's chunk mark gives its class
     * index for slab_cache / slab_size */
    rm_slab_cache_t *by64_cache[RM_SLAB_MAX_SIZE / 64 + 1];
    uint32_t by64_size[RM_SLAB_MAX_SIZE / 64 + 1];
    rm_slab_cache_t *slab_cache[RM_SLAB_NUM_CLASSES];
    uint32_t slab_size[RM_SLAB_NUM_CLASSES];
    rm_slab_t *slab;
    rm_large_t *large;
    int je_flags;                     /* MALLOCX_ARENA(our arena) | MALLOCX_TCACHE_NONE, or 0 */
    marking_src_t slab_src[RM_SLAB_NUM_CLASSES], large_src;
    /* jemalloc and large routes; the slab route's figures are slab.c's own
     * per-thread counters (rm_slab_stats), not a locked add per call */
    route_ctr_t je_ctr, large_ctr;
    _Atomic uint64_t alloc_failures;
    /* pinned pages above the file pool's budget (see pc_fetch) */
    pthread_mutex_t over_mu;
    _Atomic uint64_t over_bytes;      /* budget raised above the configured one, bytes */
    _Atomic uint64_t overshoots;      /* FORCE fetches served by raising it */
    /* page-reference trace (opts.trace_path) */
    FILE *trace;
    pthread_mutex_t trace_mu;
    uint64_t trace_next;              /* next cache ordinal */
    struct { const void *cache; uint64_t ord; } trace_caches[256];
} g = {.mu = PTHREAD_MUTEX_INITIALIZER, .over_mu = PTHREAD_MUTEX_INITIALIZER,
       .trace_mu = PTHREAD_MUTEX_INITIALIZER};

/* The trace: caches are numbered in creation order (slots reused after destroy). */
static void
trace_cache(const void *c, int add)
{
    pthread_mutex_lock(&g.trace_mu);
    for (unsigned i = 0; i < 256; i++) {
        if (add && !g.trace_caches[i].cache) {
            g.trace_caches[i].cache = c;
            g.trace_caches[i].ord = g.trace_next++;
            break;
        }
        if (!add && g.trace_caches[i].cache == c) {
            g.trace_caches[i].cache = NULL;
            break;
        }
    }
    pthread_mutex_unlock(&g.trace_mu);
}

static void
trace_ref(const void *c, unsigned key)
{
    pthread_mutex_lock(&g.trace_mu);
    for (unsigned i = 0; i < 256; i++)
        if (g.trace_caches[i].cache == c) {   /* purgeable caches only */
            fprintf(g.trace, "%llu\n", (unsigned long long)((g.trace_caches[i].ord << 32) | key));
            break;
        }
    pthread_mutex_unlock(&g.trace_mu);
}

/* ---- sqlite3_mem_methods ---------------------------------------------------- */

static inline size_t
page_round(size_t n)
{
    size_t ps = rm_page_size();
    return (n + ps - 1) & ~(ps - 1);
}

static inline void
ctr_add(route_ctr_t *c, size_t bytes)
{
    atomic_fetch_add_explicit(&c->bytes, bytes, memory_order_relaxed);
    atomic_fetch_add_explicit(&c->allocs, 1, memory_order_relaxed);
}

static inline void
ctr_sub(route_ctr_t *c, size_t bytes)
{
    atomic_fetch_sub_explicit(&c->bytes, bytes, memory_order_relaxed);
}

/* Usable size of a live block p of chunk kind k (exact: what xMalloc handed
 * out). */
static size_t
block_size(void *p, unsigned k)
{
    if (k >= KIND_SLAB0)
        return g.slab_size[k - KIND_SLAB0];
    if (k == KIND_LARGE)
        return rm_large_usable_size(g.large, p);
    return sallocx(p, g.je_flags);
}

#define RM_HOT(x) __builtin_expect(!!(x), 1)

/* n in 1 … RM_SLAB_MAX_SIZE (n an int or size_t; one compare) */
#define SLAB_SIZED(n) ((size_t)(n) - 1u < (size_t)RM_SLAB_MAX_SIZE)
#define BY64(n) (((size_t)(n) + 63u) >> 6)

/* The routes other than the slab's: 0 bytes, jemalloc, large. A failed slab
 * allocation is counted by slab.c (rm_slab_stats_t.alloc_failures, summed
 * into rm_sqlite_stats), the others here. */
static __attribute__((noinline)) void *
mem_malloc_other(size_t n)
{
    void *p;
    if (n == 0)
        return rm_slab_alloc(g.by64_cache[1]);
    if (rm_large_wants(g.large, n)) {
        p = rm_large_alloc(g.large, n);
        if (p)
            ctr_add(&g.large_ctr, page_round(n));
    } else {
        p = mallocx(n, g.je_flags);
        if (p)
            ctr_add(&g.je_ctr, sallocx(p, g.je_flags));
    }
    if (!p)
        atomic_fetch_add_explicit(&g.alloc_failures, 1, memory_order_relaxed);
    return p;
}

static inline void *
mem_malloc_sz(size_t n)
{
    if (RM_HOT(SLAB_SIZED(n)))
        return rm_slab_alloc(g.by64_cache[BY64(n)]);
    return mem_malloc_other(n);
}

/* SQLite calls xRoundup, xMalloc and xSize for every sqlite3_malloc, xSize
 * and xFree for every sqlite3_free (its memory statistics): each of these is
 * one table load (and a tail call into slab.c) on the slab route. */
static void *
mem_malloc(int n)
{
    if (RM_HOT(SLAB_SIZED(n)))
        return rm_slab_alloc(g.by64_cache[BY64(n)]);
    if (n < 0)
        return NULL;
    return mem_malloc_other((size_t)n);
}

static __attribute__((noinline)) void
mem_free_other(void *p, unsigned kind)
{
    if (!p)
        return;
    if (kind == KIND_LARGE) {
        ctr_sub(&g.large_ctr, rm_large_usable_size(g.large, p));
        rm_large_free(g.large, p);
    } else {
        ctr_sub(&g.je_ctr, sallocx(p, g.je_flags));
        dallocx(p, g.je_flags);
    }
}

/* NULL needs no test on the hot route: chunk 0 ([0, 256 KiB)) is never
 * marked (a slab or large segment there would have to start at address 0),
 * so NULL is KIND_NONE and goes the other way. */
static void
mem_free(void *p)
{
    unsigned k = chunk_kind(p);
    if (RM_HOT(k >= KIND_SLAB0)) {
        rm_slab_free(g.slab_cache[k - KIND_SLAB0], p);
        return;
    }
    mem_free_other(p, k);
}

static __attribute__((noinline)) int
mem_size_other(void *p, unsigned kind)
{
    return p ? (int)block_size(p, kind) : 0;
}

static int
mem_size(void *p)
{
    unsigned k = chunk_kind(p);
    if (RM_HOT(k >= KIND_SLAB0))
        return (int)g.slab_size[k - KIND_SLAB0];
    return mem_size_other(p, k);
}

static size_t
roundup_sz(size_t n)
{
    if (n == 0)
        n = 1;
    if (n <= RM_SLAB_MAX_SIZE)
        return g.by64_size[BY64(n)];
    if (rm_large_wants(g.large, n))
        return page_round(n);
    size_t r = nallocx(n, g.je_flags);
    if (r == 0)
        return n;
    /* a jemalloc class at or above the threshold is served by the large
     * allocator, which hands out whole pages (jemalloc's large classes are
     * page multiples, so this is r itself) */
    return rm_large_wants(g.large, r) ? page_round(r) : r;
}

static __attribute__((noinline)) int
mem_roundup_other(int n)
{
    if (n <= 0)
        return n < 0 ? n : (int)roundup_sz(1);
    size_t r = roundup_sz((size_t)n);
    return r > 0x7fffffffu ? n : (int)r;
}

static int
mem_roundup(int n)
{
    if (RM_HOT(SLAB_SIZED(n)))
        return (int)g.by64_size[BY64(n)];
    return mem_roundup_other(n);
}

/* Growing a big jemalloc block that cannot grow in place: a new block, the
 * old one copied into it RELAY_STEP bytes at a time, each copied step of the
 * old block given back to the kernel (MADV_DONTNEED on its whole pages) before
 * the next is copied, then the old block freed. rallocx copies the whole
 * block first, so old and new were resident together: SQLite's sorter grows
 * its list memory by doubling up to cache size × page size, and at cache 344
 * pages a 768 KiB → 1.75 MiB move was speedtest1's peak RSS (glibc moves such
 * blocks with mremap, without a copy). Blocks from RELAY_MIN bytes are
 * jemalloc's large extents (page aligned, nothing else on their pages), so
 * dropping pages inside [p, p + old) touches no other object; their contents
 * are not needed after the copy, and the freed extent's pages are purged
 * anyway (decay 0). NULL (p intact) when the new block cannot be had. */
#define RELAY_MIN ((size_t)256 << 10)
#define RELAY_STEP ((size_t)64 << 10)

static void *
je_grow_relay(void *p, size_t old, size_t want)
{
    if (xallocx(p, want, 0, g.je_flags) >= want)
        return p;   /* grown in place */
    char *q = mallocx(want, g.je_flags);
    if (!q)
        return NULL;
    size_t ps = rm_page_size();
    for (size_t off = 0; off < old; off += RELAY_STEP) {
        size_t len = old - off < RELAY_STEP ? old - off : RELAY_STEP;
        memcpy(q + off, (char *)p + off, len);
        uintptr_t a = ((uintptr_t)p + off + ps - 1) & ~(uintptr_t)(ps - 1);
        uintptr_t e = ((uintptr_t)p + off + len) & ~(uintptr_t)(ps - 1);
        if (e > a)
            (void)madvise((void *)a, e - a, MADV_DONTNEED);
    }
    dallocx(p, g.je_flags);
    return q;
}

static void *
mem_realloc(void *p, int n)
{
    if (!p)
        return mem_malloc(n);
    if (n <= 0)
        return NULL;
    size_t want = (size_t)n;
    unsigned kind = chunk_kind(p);
    size_t old = block_size(p, kind);
    if (kind >= KIND_SLAB0 && want <= RM_SLAB_MAX_SIZE && g.by64_size[BY64(want)] == old)
        return p;
    if (kind == KIND_LARGE && rm_large_wants(g.large, want) && page_round(want) == old)
        return p;
    /* A jemalloc block stays with jemalloc when it grows, even past the large
     * threshold: rallocx grows it in place where it can, while moving it to
     * the large allocator copies it and holds old and new at once. SQLite
     * grows its big buffers by realloc (the sorter's PMA up to cache size ×
     * page size): at cache 688 pages the copies were ~2 MiB of speedtest1's
     * peak RSS (ADR 0023). Up to RM_LARGE_THRESHOLD_MAX; xSize stays exact. */
    if (kind == KIND_NONE && want > RM_SLAB_MAX_SIZE && want <= RM_LARGE_THRESHOLD_MAX) {
        void *q = want > old && old >= RELAY_MIN ? je_grow_relay(p, old, want) : rallocx(p, want, g.je_flags);
        if (!q) {
            atomic_fetch_add_explicit(&g.alloc_failures, 1, memory_order_relaxed);
            return NULL;
        }
        size_t now = sallocx(q, g.je_flags);
        atomic_fetch_add_explicit(&g.je_ctr.bytes, now - old, memory_order_relaxed); /* wraps right */
        return q;
    }
    void *q = mem_malloc_sz(want);
    if (!q)
        return NULL;   /* p stays valid, as realloc(); counted by the route */
    memcpy(q, p, old < want ? old : want);
    mem_free(p);
    return q;
}

static int
mem_init(void *arg)
{
    return SQLITE_OK;   /* the allocators exist since install */
}

static void
mem_shutdown(void *arg)
{
    /* kept: blocks of an earlier initialisation may outlive sqlite3_shutdown
     * (sqlite3_free after shutdown is allowed for some objects) */
}

static const sqlite3_mem_methods rm_mem_methods = {
    mem_malloc, mem_free, mem_realloc, mem_size, mem_roundup, mem_init, mem_shutdown, NULL,
};

/* ---- sqlite3_pcache_methods2 ----------------------------------------------- */

static int
pc_init(void *arg)
{
    rm_sqlite__on_init();   /* conns.c: the connection hook is to be registered (again) */
    return SQLITE_OK;   /* the pools exist since install and outlive shutdown */
}

static void
pc_shutdown(void *arg)
{
}

static sqlite3_pcache *
pc_create(int szPage, int szExtra, int bPurgeable)
{
    if (szPage <= 0 || szExtra < 0)
        return NULL;
    rm_sqlite__on_create();   /* conns.c: register the connection hook on the first open */
    rm_pcache_t *c = NULL;
    rm_pcache_pool_t *pool = bPurgeable ? g.file_pool : g.memdb_pool;
    if (rm_pcache_create(pool, (size_t)szPage, (size_t)szExtra, bPurgeable ? 1 : 0, &c) != RM_OK)
        return NULL;
    /* a new page's extra: SQLite reads only its PgHdr's first pointer (pPage)
     * before writing — NULL tells pcacheFetchFinishWithInit to set up the
     * rest (PgHdr, and the first 8 bytes of the pager's extra behind it) —
     * so only those bytes are zeroed, as pcache1 does (its
     * `*(void **)pPage->page.pExtra = 0`), not the whole szExtra (≈ 10 M
     * instructions of memset in speedtest1's 5 % run; ADR 0023, session 14) */
    rm_pcache_set_extra_zero(c, sizeof(void *));
    if (g.trace && bPurgeable)
        trace_cache(c, 1);
    return (sqlite3_pcache *)c;
}

static void
pc_cachesize(sqlite3_pcache *p, int n)
{
    size_t pages = n < 0 ? 0 : (size_t)n;
    if (pages > RM_PCACHE_FRAMES_MAX)
        pages = RM_PCACHE_FRAMES_MAX;
    (void)rm_pcache_set_cachesize((rm_pcache_t *)p, pages);
}

static int
pc_pagecount(sqlite3_pcache *p)
{
    return (int)rm_pcache_pagecount((rm_pcache_t *)p);
}

/* pc_fetch's rare routes: a FORCE fetch refused over a full budget, and
 * the reference trace. Out of line, so that the usual call (a hit, or a
 * miss that got its page) is a call and a test (ADR 0023, session 12:
 * with these inline pc_fetch kept a 0.5 KiB frame and six registers). */
static __attribute__((noinline)) sqlite3_pcache_page *
pc_fetch_slow(sqlite3_pcache *p, unsigned key, rm_pcache_create_t mode, rm_status_t st, rm_pcache_page_t *pg)
{
    rm_pcache_stats_t cs;
    if (st == RM_EBUSY && mode == RM_PCACHE_CREATE_FORCE && g.file_pool &&
        rm_pcache_stats((rm_pcache_t *)p, &cs) == RM_OK && cs.purgeable == 1) {
        /* The budget is full of pinned pages. SQLite keeps dirty pages pinned
         * until they are written, and spills them only above its own cache
         * size, not above our budget; pcache1 (no global cap) would allocate.
         * So a FORCE fetch of a purgeable cache may go above the budget by
         * the pages it needs, as pcache1's group goes above nMaxPage; the
         * excess is taken back one page per unpin (pc_unpin). In-memory
         * databases (the other pool) are capped hard: SQLITE_NOMEM. */
        rm_pcache_t *c = (rm_pcache_t *)p;
        uint64_t pb = rm_pcache_page_size(c) + rm_pcache_extra_size(c);
        pthread_mutex_lock(&g.over_mu);
        for (int tries = 0; tries < 16 && st == RM_EBUSY; tries++) {
            /* pinned pages may already exceed a budget lowered by unpins */
            rm_pcache_stats_t ps;
            uint64_t b = rm_pcache_pool_budget(g.file_pool);
            if (rm_pcache_pool_stats(g.file_pool, &ps) != RM_OK)
                break;
            uint64_t nb = (ps.used_bytes > b ? ps.used_bytes : b) + pb;
            if (nb > RM_PCACHE_BUDGET_MAX || rm_pcache_pool_set_budget(g.file_pool, nb) != RM_OK)
                break;
            atomic_fetch_add_explicit(&g.over_bytes, nb - b, memory_order_relaxed);
            st = rm_pcache_fetch(c, key, mode, &pg);
        }
        if (st == RM_OK)
            atomic_fetch_add_explicit(&g.overshoots, 1, memory_order_relaxed);
        pthread_mutex_unlock(&g.over_mu);
    }
    if (g.trace && (st == RM_OK || mode != RM_PCACHE_CREATE_CHEAP))
        trace_ref(p, key);
    if (st != RM_OK)
        return NULL;
    return (sqlite3_pcache_page *)pg;
}

/* pc_fetch while the trace is on: the status decides the route. */
static __attribute__((noinline)) sqlite3_pcache_page *
pc_fetch_status(sqlite3_pcache *p, unsigned key, int createFlag)
{
    rm_pcache_page_t *pg;   /* rm_pcache_fetch sets it on every route */
    /* createFlag 0, 1, 2 are RM_PCACHE_LOOKUP, _CREATE_CHEAP, _CREATE_FORCE */
    _Static_assert(RM_PCACHE_LOOKUP == 0 && RM_PCACHE_CREATE_CHEAP == 1 && RM_PCACHE_CREATE_FORCE == 2,
                   "createFlag maps onto rm_pcache_create_t");
    rm_pcache_create_t mode = (unsigned)createFlag <= 2u ? (rm_pcache_create_t)createFlag : RM_PCACHE_CREATE_FORCE;
    rm_status_t st = rm_pcache_fetch((rm_pcache_t *)p, key, mode, &pg);
    if (__builtin_expect(st == RM_OK && !g.trace, 1))
        return (sqlite3_pcache_page *)pg;
    if (st != RM_OK && !g.trace && (st != RM_EBUSY || mode != RM_PCACHE_CREATE_FORCE))
        return NULL;   /* a refusal or a lookup's miss: nothing else to do */
    return pc_fetch_slow(p, key, mode, st, pg);
}

/* pc_fetch's FORCE fetches (createFlag 2 or above) without the trace: both
 * answers come back in registers; only a FORCE refused over a full budget
 * goes on to pc_fetch_slow. */
static __attribute__((noinline)) sqlite3_pcache_page *
pc_fetch_force(sqlite3_pcache *p, unsigned key)
{
    rm_pcache_fetch_result_t r = rm_pcache_fetch_result((rm_pcache_t *)p, key, RM_PCACHE_CREATE_FORCE);
    if (__builtin_expect(r.page != NULL || r.status != RM_EBUSY, 1))
        return (sqlite3_pcache_page *)r.page;
    return pc_fetch_slow(p, key, RM_PCACHE_CREATE_FORCE, r.status, NULL);
}

/* SQLite's xFetch. Without the trace: a lookup (0) or a CREATE_CHEAP fetch
 * (1) needs no status — a NULL is a miss or a refusal either way — so it is
 * one tail call (no frame, no status, no second argument check here); a FORCE
 * fetch is pc_fetch_force (ADR 0023, session 13, second round). */
static sqlite3_pcache_page *
pc_fetch(sqlite3_pcache *p, unsigned key, int createFlag)
{
    if (__builtin_expect(g.trace != NULL, 0))
        return pc_fetch_status(p, key, createFlag);
    if ((unsigned)createFlag < 2u)
        return (sqlite3_pcache_page *)rm_pcache_fetch_page((rm_pcache_t *)p, key, (rm_pcache_create_t)createFlag);
    return pc_fetch_force(p, key);
}

/* Lower the file pool's budget by up to `bytes` of what pc_fetch raised it
 * (the budget may stay above the pinned pages; set_budget evicts unpinned
 * pages down to it and says RM_EBUSY while pinned ones exceed it). */
static void
give_back_overshoot(uint64_t bytes)
{
    if (atomic_load_explicit(&g.over_bytes, memory_order_relaxed) == 0)
        return;
    pthread_mutex_lock(&g.over_mu);
    uint64_t over = atomic_load_explicit(&g.over_bytes, memory_order_relaxed);
    uint64_t give = over < bytes ? over : bytes;
    uint64_t b = rm_pcache_pool_budget(g.file_pool);
    if (give > 0 && b > give) {
        (void)rm_pcache_pool_set_budget(g.file_pool, b - give);
        atomic_store_explicit(&g.over_bytes, over - give, memory_order_relaxed);
    }
    pthread_mutex_unlock(&g.over_mu);
}

static void
pc_unpin(sqlite3_pcache *p, sqlite3_pcache_page *pg, int discard)
{
    /* the usual case, no overshoot to give back: one tail call. Read before
     * the unpin: the unpin never raises it (only pc_fetch_slow does), so a
     * caller's own fetch that raised it is seen here either way. */
    if (__builtin_expect(atomic_load_explicit(&g.over_bytes, memory_order_relaxed) == 0, 1)) {
        (void)rm_pcache_unpin((rm_pcache_t *)p, (rm_pcache_page_t *)pg, discard);
        return;
    }
    (void)rm_pcache_unpin((rm_pcache_t *)p, (rm_pcache_page_t *)pg, discard);
    rm_pcache_t *c = (rm_pcache_t *)p;
    give_back_overshoot(rm_pcache_page_size(c) + rm_pcache_extra_size(c));
}

static void
pc_rekey(sqlite3_pcache *p, sqlite3_pcache_page *pg, unsigned oldKey, unsigned newKey)
{
    (void)rm_pcache_rekey((rm_pcache_t *)p, (rm_pcache_page_t *)pg, oldKey, newKey);
}

static void
pc_truncate(sqlite3_pcache *p, unsigned limit)
{
    (void)rm_pcache_truncate((rm_pcache_t *)p, limit, NULL);
}

static void
pc_destroy(sqlite3_pcache *p)
{
    if (g.trace)
        trace_cache(p, 0);
    rm_pcache_destroy((rm_pcache_t *)p);
    give_back_overshoot(UINT64_MAX);   /* its pages are gone */
}

static void
pc_shrink(sqlite3_pcache *p)
{
    (void)rm_pcache_shrink((rm_pcache_t *)p, NULL);
}

static const sqlite3_pcache_methods2 rm_pcache_methods2 = {
    1, NULL, pc_init, pc_shutdown, pc_create, pc_cachesize, pc_pagecount, pc_fetch,
    pc_unpin, pc_rekey, pc_truncate, pc_destroy, pc_shrink,
};

/* ---- options ---------------------------------------------------------------- */

void
rm_sqlite_opts_default(rm_sqlite_opts_t *o)
{
    if (!o)
        return;
    memset(o, 0, sizeof *o);
    o->pcache = 1;
    o->malloc = 1;
    o->cache_bytes = RM_SQLITE_CACHE_BYTES_DEFAULT;
    o->memdb_bytes = RM_SQLITE_MEMDB_BYTES_DEFAULT;
    o->large_threshold = 0;
}

void
rm_sqlite__say(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || errlen == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* "N" or "N[kKmMgGtT]" (powers of 1024) into *out; -1 when malformed or overflowing. */
static int
parse_bytes(const char *s, uint64_t *out)
{
    if (!s || *s < '0' || *s > '9')
        return -1;
    errno = 0;
    char *end = NULL;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s)
        return -1;
    unsigned shift = 0;
    if (*end) {
        switch (*end) {
        case 'k': case 'K': shift = 10; break;
        case 'm': case 'M': shift = 20; break;
        case 'g': case 'G': shift = 30; break;
        case 't': case 'T': shift = 40; break;
        default: return -1;
        }
        if (end[1] != '\0')
            return -1;
    }
    if (shift && v > (UINT64_MAX >> shift))
        return -1;
    *out = (uint64_t)v << shift;
    return 0;
}

static int
parse_bool(const char *s, int *out)
{
    if (!s || (s[0] != '0' && s[0] != '1') || s[1] != '\0')
        return -1;
    *out = s[0] - '0';
    return 0;
}

static rm_status_t
check_opts(const rm_sqlite_opts_t *o, char *err, size_t errlen)
{
    if ((o->pcache != 0 && o->pcache != 1) || (o->malloc != 0 && o->malloc != 1)) {
        rm_sqlite__say(err, errlen, "pcache and malloc must be 0 or 1");
        return RM_EINVAL;
    }
    if (o->cache_bytes < 1 || o->cache_bytes > RM_PCACHE_BUDGET_MAX) {
        rm_sqlite__say(err, errlen, "cache_bytes %llu is outside 1..%llu",
            (unsigned long long)o->cache_bytes, (unsigned long long)RM_PCACHE_BUDGET_MAX);
        return RM_EINVAL;
    }
    if (o->memdb_bytes < 1 || o->memdb_bytes > RM_PCACHE_BUDGET_MAX) {
        rm_sqlite__say(err, errlen, "memdb_bytes %llu is outside 1..%llu",
            (unsigned long long)o->memdb_bytes, (unsigned long long)RM_PCACHE_BUDGET_MAX);
        return RM_EINVAL;
    }
    if (o->trace_path && !*o->trace_path) {
        rm_sqlite__say(err, errlen, "trace_path is empty");
        return RM_EINVAL;
    }
    if (o->large_threshold != 0 &&
        (o->large_threshold < RM_LARGE_THRESHOLD_MIN || o->large_threshold > RM_LARGE_THRESHOLD_MAX)) {
        rm_sqlite__say(err, errlen, "large_threshold %zu is outside %u..%u", o->large_threshold,
            RM_LARGE_THRESHOLD_MIN, RM_LARGE_THRESHOLD_MAX);
        return RM_EINVAL;
    }
    return RM_OK;
}

rm_status_t
rm_sqlite_opts_from_env(rm_sqlite_opts_t *o, char *err, size_t errlen)
{
    if (!o) {
        rm_sqlite__say(err, errlen, "NULL options");
        return RM_EINVAL;
    }
    rm_sqlite_opts_t t;
    rm_sqlite_opts_default(&t);
    rm_sqlite_opts_default(o);
    const char *v;
    if ((v = getenv("RUSTYMEM_SQLITE_PCACHE")) && parse_bool(v, &t.pcache)) {
        rm_sqlite__say(err, errlen, "RUSTYMEM_SQLITE_PCACHE='%s': expected 0 or 1", v);
        return RM_EINVAL;
    }
    if ((v = getenv("RUSTYMEM_SQLITE_MALLOC")) && parse_bool(v, &t.malloc)) {
        rm_sqlite__say(err, errlen, "RUSTYMEM_SQLITE_MALLOC='%s': expected 0 or 1", v);
        return RM_EINVAL;
    }
    static const struct {
        const char *name;
        uint64_t lo, hi;
    } sz[] = {
        {"RUSTYMEM_SQLITE_CACHE_BYTES", 1, RM_PCACHE_BUDGET_MAX},
        {"RUSTYMEM_SQLITE_MEMDB_BYTES", 1, RM_PCACHE_BUDGET_MAX},
        {"RUSTYMEM_SQLITE_LARGE_THRESHOLD", RM_LARGE_THRESHOLD_MIN, RM_LARGE_THRESHOLD_MAX},
    };
    for (unsigned i = 0; i < 3; i++) {
        if (!(v = getenv(sz[i].name)))
            continue;
        uint64_t b = 0;
        if (parse_bytes(v, &b) || b < sz[i].lo || b > sz[i].hi) {
            rm_sqlite__say(err, errlen, "%s='%s': expected bytes %llu..%llu (suffix k, m, g, t allowed)",
                sz[i].name, v, (unsigned long long)sz[i].lo, (unsigned long long)sz[i].hi);
            return RM_EINVAL;
        }
        if (i == 0)
            t.cache_bytes = b;
        else if (i == 1)
            t.memdb_bytes = b;
        else
            t.large_threshold = (size_t)b;
    }
    if ((v = getenv("RUSTYMEM_SQLITE_TRACE"))) {
        if (!*v) {
            rm_sqlite__say(err, errlen, "RUSTYMEM_SQLITE_TRACE is empty: expected a file name");
            return RM_EINVAL;
        }
        t.trace_path = v;
    }
    *o = t;
    return RM_OK;
}

/* ---- install ------------------------------------------------------------------ */

static void
teardown_locked(void)
{
    rm_pcache_pool_destroy(g.file_pool);
    rm_pcache_pool_destroy(g.memdb_pool);
    rm_large_destroy(g.large);
    rm_slab_destroy(g.slab);
    g.file_pool = g.memdb_pool = NULL;
    g.large = NULL;
    g.slab = NULL;
}

static rm_status_t
build_locked(const rm_sqlite_opts_t *o, char *err, size_t errlen)
{
    rm_status_t st = RM_OK;
    if (o->pcache) {
        rm_pcache_pool_config_t pc;
        rm_pcache_pool_config_default(&pc);
        /* SQLite never calls one cache from two threads at once (a pager's
         * cache, under its connection's or shared cache's mutex; pcache1's
         * separate caches take no lock): the hit path may skip locked
         * instructions for the cache's own counters (pcache.h) */
        pc.serialized_caches = 1;
        pc.budget_bytes = o->cache_bytes;
        if ((st = rm_pcache_pool_create(&pc, &g.file_pool)) != RM_OK) {
            rm_sqlite__say(err, errlen, "page-cache pool: %s", rm_strerror(st));
            goto fail;
        }
        pc.budget_bytes = o->memdb_bytes;
        if ((st = rm_pcache_pool_create(&pc, &g.memdb_pool)) != RM_OK) {
            rm_sqlite__say(err, errlen, "in-memory page-cache pool: %s", rm_strerror(st));
            goto fail;
        }
    }
    if (o->malloc) {
        /* one marking source per class: the chunk map then names a slab
         * object's class (KIND_SLAB0 + i) */
        const rm_pagesrc_t *srcs[RM_SLAB_NUM_CLASSES];
        for (unsigned i = 0; i < RM_SLAB_NUM_CLASSES; i++) {
            g.slab_src[i] = (marking_src_t){{&msrc_methods, &g.slab_src[i]}, rm_pagesrc_default(), KIND_SLAB0 + i};
            srcs[i] = &g.slab_src[i].src;
        }
        g.large_src = (marking_src_t){{&msrc_methods, &g.large_src}, rm_pagesrc_default(), KIND_LARGE};
        if ((st = rm_slab_create_sources(srcs, &g.slab)) != RM_OK) {
            rm_sqlite__say(err, errlen, "slab classes: %s", rm_strerror(st));
            goto fail;
        }
        for (unsigned i = 0; i < RM_SLAB_NUM_CLASSES; i++) {
            g.slab_cache[i] = rm_slab_cache_at(g.slab, i);
            g.slab_size[i] = (uint32_t)rm_slab_cache_object_size(g.slab_cache[i]);
        }
        for (unsigned k = 0; k <= RM_SLAB_MAX_SIZE / 64; k++) {
            int ci = rm_slab_class_index(k ? (size_t)k * 64 : 1);
            g.by64_cache[k] = ci < 0 ? NULL : g.slab_cache[ci];
            g.by64_size[k] = ci < 0 ? 0 : g.slab_size[ci];
        }
        for (size_t n = 1; n <= RM_SLAB_MAX_SIZE; n++) {
            /* the table must give slab.c's own class for every size */
            int ci = rm_slab_class_index(n);
            if (ci < 0 || !g.slab_cache[ci] || g.by64_cache[BY64(n)] != g.slab_cache[ci] ||
                g.by64_size[BY64(n)] != g.slab_size[ci]) {
                rm_sqlite__say(err, errlen, "slab classes: class of %zu bytes not on a 64-byte boundary", n);
                st = RM_EINVAL;
                goto fail;
            }
        }
        /* jemalloc: an arena of our own that returns freed pages at once
         * (dirty/muzzy decay 0) and no thread cache, so SQLite's blocks do not
         * stay resident after a free (jemalloc's default keeps them ~10 s:
         * +3 MiB peak RSS on speedtest1 --size 100) and an application whose
         * malloc is jemalloc keeps its own settings. If the arena cannot be
         * made, jemalloc's defaults serve. */
        g.je_flags = 0;
#ifndef RM_SQLITE_JE_PRIVATE   /* the private copy: its arena 0 is ours (rmje_malloc_conf) */
        unsigned ind = 0;
        size_t isz = sizeof ind;
        if (mallctl("arenas.create", &ind, &isz, NULL, 0) == 0) {
            char name[64];
            ssize_t zero = 0;
            snprintf(name, sizeof name, "arena.%u.dirty_decay_ms", ind);
            (void)mallctl(name, NULL, NULL, &zero, sizeof zero);
            snprintf(name, sizeof name, "arena.%u.muzzy_decay_ms", ind);
            (void)mallctl(name, NULL, NULL, &zero, sizeof zero);
            g.je_flags = (int)MALLOCX_ARENA(ind);
        }
#endif
        rm_large_config_t lc = {0};
        lc.threshold_bytes = o->large_threshold;
        if ((st = rm_large_create(&lc, &g.large_src.src, &g.large)) != RM_OK) {
            rm_sqlite__say(err, errlen, "large-object allocator: %s", rm_strerror(st));
            goto fail;
        }
    }
    return RM_OK;
fail:
    teardown_locked();
    return st;
}

rm_status_t
rm_sqlite_install(const rm_sqlite_opts_t *opts, char *err, size_t errlen)
{
    rm_sqlite_opts_t o;
    if (opts)
        o = *opts;
    else
        rm_sqlite_opts_default(&o);
    rm_status_t st = check_opts(&o, err, errlen);
    if (st != RM_OK)
        return st;
    int lib = sqlite3_libversion_number();
    if (lib < RM_SQLITE_MIN_VERSION || lib / 1000000 != SQLITE_VERSION_NUMBER / 1000000) {
        rm_sqlite__say(err, errlen, "libsqlite3 %s does not fit (built against %s, need %d.%d.%d or later of major %d)",
            sqlite3_libversion(), SQLITE_VERSION, RM_SQLITE_MIN_VERSION / 1000000,
            RM_SQLITE_MIN_VERSION / 1000 % 1000, RM_SQLITE_MIN_VERSION % 1000, SQLITE_VERSION_NUMBER / 1000000);
        return RM_ENOTSUP;
    }
    pthread_mutex_lock(&g.mu);
    if (g.installed) {
        pthread_mutex_unlock(&g.mu);
        rm_sqlite__say(err, errlen, "already installed in this process");
        return RM_EBUSY;
    }
    /* Probe: every sqlite3_config op answers SQLITE_MISUSE once SQLite is
     * initialised. The GET ops also save what to restore on a failure. */
    sqlite3_mem_methods saved_mem;
    sqlite3_pcache_methods2 saved_pc;
    if (sqlite3_config(SQLITE_CONFIG_GETMALLOC, &saved_mem) != SQLITE_OK ||
        sqlite3_config(SQLITE_CONFIG_GETPCACHE2, &saved_pc) != SQLITE_OK) {
        pthread_mutex_unlock(&g.mu);
        rm_sqlite__say(err, errlen, "SQLite is already initialised (sqlite3_config: SQLITE_MISUSE); nothing installed");
        return RM_EBUSY;
    }
    if (!o.pcache && !o.malloc) {
        pthread_mutex_unlock(&g.mu);
        return RM_OK;
    }
    if ((st = build_locked(&o, err, errlen)) != RM_OK) {
        pthread_mutex_unlock(&g.mu);
        return st;
    }
    if (o.trace_path && o.pcache && !(g.trace = fopen(o.trace_path, "a"))) {
        rm_sqlite__say(err, errlen, "trace_path '%s': %s; nothing installed", o.trace_path, strerror(errno));
        teardown_locked();
        pthread_mutex_unlock(&g.mu);
        return RM_EIO;
    }
    int rc = SQLITE_OK;
    if (o.malloc && (rc = sqlite3_config(SQLITE_CONFIG_MALLOC, &rm_mem_methods)) != SQLITE_OK) {
        rm_sqlite__say(err, errlen, "sqlite3_config(SQLITE_CONFIG_MALLOC): %s; nothing installed", sqlite3_errstr(rc));
        goto undo;
    }
    if (o.pcache && (rc = sqlite3_config(SQLITE_CONFIG_PCACHE2, &rm_pcache_methods2)) != SQLITE_OK) {
        rm_sqlite__say(err, errlen, "sqlite3_config(SQLITE_CONFIG_PCACHE2): %s; nothing installed", sqlite3_errstr(rc));
        goto undo;
    }
    g.pcache = o.pcache;
    g.malloc = o.malloc;
    g.installed = 1;
    pthread_mutex_unlock(&g.mu);
    return RM_OK;
undo:
    if (g.trace) {
        fclose(g.trace);
        g.trace = NULL;
    }
    (void)sqlite3_config(SQLITE_CONFIG_MALLOC, &saved_mem);
    (void)sqlite3_config(SQLITE_CONFIG_PCACHE2, &saved_pc);
    teardown_locked();
    pthread_mutex_unlock(&g.mu);
    return rc == SQLITE_MISUSE ? RM_EBUSY : RM_ENOTSUP;
}

int
rm_sqlite_installed(void)
{
    pthread_mutex_lock(&g.mu);
    int r = g.installed;
    pthread_mutex_unlock(&g.mu);
    return r;
}

rm_status_t
rm_sqlite_stats(rm_sqlite_stats_t *out)
{
    if (!out)
        return RM_EINVAL;
    memset(out, 0, sizeof *out);
    pthread_mutex_lock(&g.mu);
    int inst = g.installed;
    pthread_mutex_unlock(&g.mu);
    if (!inst)
        return RM_ENOENT;
    out->pcache = g.pcache;
    out->malloc = g.malloc;
    if (g.file_pool)
        rm_pcache_pool_stats(g.file_pool, &out->file_pool);
    if (g.memdb_pool)
        rm_pcache_pool_stats(g.memdb_pool, &out->memdb_pool);
    if (g.slab) {
        rm_slab_stats_t ss[RM_SLAB_NUM_CLASSES];
        if (rm_slab_stats(g.slab, ss) == RM_OK)
            for (unsigned i = 0; i < RM_SLAB_NUM_CLASSES; i++) {
                out->slab_bytes += ss[i].bytes_in_use;
                out->slab_allocs += ss[i].allocs;
                out->alloc_failures += ss[i].alloc_failures;
            }
    }
    out->jemalloc_bytes = atomic_load(&g.je_ctr.bytes);
    out->jemalloc_allocs = atomic_load(&g.je_ctr.allocs);
    out->large_bytes = atomic_load(&g.large_ctr.bytes);
    out->large_allocs = atomic_load(&g.large_ctr.allocs);
    out->alloc_failures += atomic_load(&g.alloc_failures);
    out->overshoots = atomic_load(&g.overshoots);
    out->overshoot_bytes = atomic_load(&g.over_bytes);
    return RM_OK;
}

rm_status_t
rm_sqlite_set_cache_bytes(uint64_t bytes)
{
    if (!g.file_pool)
        return RM_ENOENT;
    if (bytes == 0 || bytes > RM_PCACHE_BUDGET_MAX)
        return RM_EINVAL;
    pthread_mutex_lock(&g.over_mu);
    rm_status_t st = rm_pcache_pool_set_budget(g.file_pool, bytes);
    atomic_store_explicit(&g.over_bytes, 0, memory_order_relaxed);   /* the new value is the reference */
    pthread_mutex_unlock(&g.over_mu);
    return st;
}

rm_pcache_pool_t *
rm_sqlite_file_pool(void)
{
    return g.file_pool;
}

rm_pcache_pool_t *
rm_sqlite_memdb_pool(void)
{
    return g.memdb_pool;
}

/* ---- for the embedded agent and the SQL surface (sqlite_internal.h) -------- */

rm_slab_t *
rm_sqlite__slab(void)
{
    return g.slab;
}

rm_large_t *
rm_sqlite__large(void)
{
    return g.large;
}
