/*
 * bufpool_map.c — the buffer pool's metadata memory and its key → index map.
 *
 *   rm__bp_mem_alloc/free  zeroed, page-rounded mappings from the pool's page
 *                          source: every piece of pool metadata (policy lists,
 *                          ghost directory, sketch, page tables, descriptors)
 *                          comes from here, so it is accounted where the
 *                          pages are. A few small pieces of the default
 *                          source are kept for reuse (below).
 *   rm__bp_map_*           open-addressing map u64 key → u32 value with
 *                          backward-shift deletion (no tombstones); not
 *                          thread-safe: its users hold the pool mutex.
 *
 * Moved out of bufpool_arc.c unchanged (issue 18 item 6).
 */
#include "bufpool_internal.h"

#include <pthread.h>
#include <string.h>

/* ---- memory ------------------------------------------------------------------ */

/* Small pieces kept for reuse. SQLite creates a page cache for every temporary
 * b-tree (DISTINCT, GROUP BY or ORDER BY without an index, IN lists, …) and
 * destroys it when the statement ends; each cache and its policy are about
 * eight single-page pieces. Mapped and unmapped one by one, that was sixteen
 * syscalls, eight page faults and the TLB shootdowns of eight munmaps per such
 * statement (ADR 0023, session 15). Pieces of the default source of at most
 * RECYCLE_MAX_BYTES are kept here instead, at most RECYCLE_SLOTS of them
 * (≤ 256 KiB, resident: they were in use), and handed out again zeroed by a
 * memset, the newest first. They stay counted as mapped
 * (rm_pagesrc_default_mapped_bytes) while kept. Other sources (a pool's own,
 * the fault injector) are never kept: their map and unmap calls stay one to
 * one. */
#define RECYCLE_SLOTS 16u
#define RECYCLE_MAX_BYTES ((size_t)16 * 1024)

static struct {
    pthread_mutex_t mu;
    unsigned n;
    struct {
        void *p;
        size_t bytes;
    } slot[RECYCLE_SLOTS];
} recycled = {.mu = PTHREAD_MUTEX_INITIALIZER};

/* A kept piece of exactly `bytes` (page-rounded), or NULL. */
static void *
recycle_take(size_t bytes)
{
    void *p = NULL;
    pthread_mutex_lock(&recycled.mu);
    for (unsigned i = recycled.n; i-- > 0;) {
        if (recycled.slot[i].bytes == bytes) {
            p = recycled.slot[i].p;
            recycled.slot[i] = recycled.slot[--recycled.n];
            break;
        }
    }
    pthread_mutex_unlock(&recycled.mu);
    return p;
}

/* 1 if p (page-rounded `bytes`) was kept, 0 if the caller unmaps it. */
static int
recycle_put(void *p, size_t bytes)
{
    int kept = 0;
    pthread_mutex_lock(&recycled.mu);
    if (recycled.n < RECYCLE_SLOTS) {
        recycled.slot[recycled.n].p = p;
        recycled.slot[recycled.n].bytes = bytes;
        recycled.n++;
        kept = 1;
    }
    pthread_mutex_unlock(&recycled.mu);
    return kept;
}

void *
rm__bp_mem_alloc(const rm_pagesrc_t *src, size_t bytes)
{
    const rm_pagesrc_t *def = rm_pagesrc_default();
    if (!src)
        src = def;
    size_t ps = rm_page_size();
    if (bytes == 0)
        bytes = 1;
    bytes = rm__align_up(bytes, ps);
    if (src == def && bytes <= RECYCLE_MAX_BYTES) {
        void *p = recycle_take(bytes);
        if (p) {
            memset(p, 0, bytes);
            return p;
        }
    }
    void *p = src->methods->map(src->ctx, bytes, ps, -1, 0, NULL);
    return p;
}

void
rm__bp_mem_free(const rm_pagesrc_t *src, void *p, size_t bytes)
{
    if (!p)
        return;
    const rm_pagesrc_t *def = rm_pagesrc_default();
    if (!src)
        src = def;
    if (bytes == 0)
        bytes = 1;
    bytes = rm__align_up(bytes, rm_page_size());
    if (src == def && bytes <= RECYCLE_MAX_BYTES && recycle_put(p, bytes))
        return;
    src->methods->unmap(src->ctx, p, bytes);
}

uint64_t
rm__bp_mem_release_kept(void)
{
    void *p[RECYCLE_SLOTS];
    size_t b[RECYCLE_SLOTS];
    pthread_mutex_lock(&recycled.mu);
    unsigned n = recycled.n;
    for (unsigned i = 0; i < n; i++) {
        p[i] = recycled.slot[i].p;
        b[i] = recycled.slot[i].bytes;
    }
    recycled.n = 0;
    pthread_mutex_unlock(&recycled.mu);
    const rm_pagesrc_t *def = rm_pagesrc_default();
    uint64_t total = 0;
    for (unsigned i = 0; i < n; i++) {
        def->methods->unmap(def->ctx, p[i], b[i]);
        total += b[i];
    }
    return total;
}

/* ---- map ----------------------------------------------------------------------- */

rm_status_t
rm__bp_map_init(rm__bp_map_t *m, size_t max_entries, const rm_pagesrc_t *src)
{
    size_t cap = 16;
    while (cap < max_entries * 2 + 2)
        cap <<= 1;
    memset(m, 0, sizeof *m);
    m->src = src;
    m->bytes = cap * (sizeof(uint64_t) + sizeof(uint32_t));
    void *mem = rm__bp_mem_alloc(src, m->bytes);
    if (!mem)
        return RM_ENOMEM;
    m->keys = mem;
    m->vals = (uint32_t *)(m->keys + cap);
    memset(m->keys, 0xff, cap * sizeof(uint64_t));
    m->mask = cap - 1;
    m->shift = 64u - (unsigned)__builtin_ctzll((unsigned long long)cap);
    return RM_OK;
}

void
rm__bp_map_fini(rm__bp_map_t *m)
{
    rm__bp_mem_free(m->src, m->keys, m->bytes);
    memset(m, 0, sizeof *m);
}

uint32_t
rm__bp_map_get(const rm__bp_map_t *m, uint64_t key)
{
    return rm__bp_map_get_inline(m, key);
}

void
rm__bp_map_put(rm__bp_map_t *m, uint64_t key, uint32_t val)
{
    rm__bp_map_put_inline(m, key, val);
}

void
rm__bp_map_del(rm__bp_map_t *m, uint64_t key)
{
    rm__bp_map_del_inline(m, key);
}
