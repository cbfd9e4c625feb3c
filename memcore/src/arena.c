/*
 * arena.c — transaction arenas (memory contexts with profiles, savepoint
 * children, O(1) mark/rollback) and their manager.
 *
 * Design note.
 *
 *   context ──first──► [blk]◄─►[blk]◄─►[blk] ◄──tail   (address of allocation
 *                                         │ptr..end      order, oldest first)
 *           ──spare──► [blk]──►[blk]                   (kept after rollback)
 *
 * Each block is one page-source mapping (or a reused cached one) whose first
 * BLK_HDR bytes hold its header; chunks are bumped out of the tail block. The
 * chain is in allocation order, so everything allocated after a mark lives in
 * the mark's block past mark.ptr or in the blocks after it: rollback cuts the
 * chain after mark.block and splices the cut sub-list onto the spare list in
 * O(1) — no unmapping, no touching of the pages. Spares are reused before new
 * blocks are mapped, released when the tree hits max_size (to make room) and
 * returned at reset/destroy.
 *
 * Block sizes double from the context's initial size up to max(initial,
 * max_size/4), and a request larger than that gets a block of its own size.
 * The tree (root + descendants) may hold at most the profile's max_size bytes
 * of blocks; past that allocation fails with RM_ELIMIT and nothing changes.
 *
 * Locking. A tree is owned by one thread at a time and its allocation path
 * takes no lock. Counters that other threads read (used, held, blocks,
 * rollbacks …) are written by the owner with relaxed atomic stores and read
 * with relaxed loads. tree->mu guards the parent/child/sibling links of the
 * tree's contexts (taken by child create/destroy and by the listing);
 * mgr->mu guards the list of live trees; mgr->cache_mu guards the block
 * cache. Lock order: registry → mgr->mu → tree->mu → mgr->cache_mu.
 */
#include "rustymem/arena.h"
#include "rustymem/stats.h"
#include "rm_internal.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define KiB ((size_t)1 << 10)
#define MiB ((size_t)1 << 20)

static const struct {
    const char *name;
    size_t initial;   /* bytes */
    size_t max;       /* bytes */
} profiles[RM_ARENA_PROFILE_COUNT] = {
    {"Tiny", 4 * KiB, 64 * KiB},
    {"Small", 32 * KiB, 512 * KiB},
    {"Medium", 256 * KiB, 4 * MiB},
    {"Large", 2 * MiB, 32 * MiB},
    {"Huge", 16 * MiB, 256 * MiB},
};

typedef struct blk {
    struct blk *prev;   /* chain only; unused on the spare list */
    struct blk *next;
    size_t size;        /* bytes of the whole mapping, header included */
} blk_t;

#define BLK_HDR rm__align_up(sizeof(blk_t), RM_ARENA_ALIGN)
#define CACHE_CLASSES 48

typedef struct tree {
    rm_arena_mgr_t *mgr;
    uint64_t txn_id;
    int profile;              /* rm_arena_profile_t; atomic (owner writes once) */
    size_t max_bytes;         /* bytes; 0 until the profile is chosen */
    size_t initial_bytes;     /* bytes */
    uint64_t held;            /* bytes of blocks in the tree; atomic */
    uint64_t base;            /* bytes handed out in closed (non-tail) blocks, Σ ctx->closed; atomic */
    uint64_t peak_used;       /* bytes; atomic */
    uint64_t rollbacks;       /* atomic */
    uint64_t limit_hits;      /* atomic */
    uint32_t contexts;        /* atomic */
    uint32_t blocks;          /* atomic */
    pthread_mutex_t mu;       /* guards the links of every context below */
    rm_arena_t *root;
    struct tree *mprev, *mnext;  /* guarded by mgr->mu */
} tree_t;

struct rm_arena {
    rm_arena_hot_t hot;       /* ptr/end of the tail block: must come first (inline alloc) */
    char *start;              /* data start of the tail block, NULL if none; atomic */
    uint64_t closed;          /* bytes handed out in chain blocks before the tail; atomic */
    tree_t *tree;
    blk_t *first, *tail, *spare;   /* owner only */
    size_t next_block;        /* bytes of the next standard block; 0 = not set */
    uint64_t held;            /* bytes of this context's blocks; atomic */
    uint32_t nblocks;         /* atomic */
    uint32_t level;
    uint64_t epoch;           /* unique per context and per reset */
    rm_arena_t *parent, *child, *sib_prev, *sib_next;  /* guarded by tree->mu */
    char name[RM_ARENA_NAME_MAX];
};

struct rm_arena_mgr {
    rm_pagesrc_t src;
    pthread_mutex_t mu;             /* guards trees */
    tree_t *trees;
    uint64_t disable_above;         /* bytes; atomic */
    uint64_t bypasses;              /* atomic */
    uint64_t created;               /* atomic */
    uint64_t retired_rollbacks;     /* atomic */
    uint64_t retired_limit_hits;    /* atomic */
    uint64_t held;                  /* bytes of all blocks incl. cache; atomic */
    uint64_t peak_held;             /* bytes; atomic */
    uint64_t epoch_seq;             /* atomic */
    pthread_mutex_t cache_mu;       /* guards cache, cached */
    blk_t *cache[CACHE_CLASSES];    /* free blocks of size 2^i */
    uint64_t cached;                /* bytes in cache; guarded by cache_mu, read atomically */
    uint64_t cache_cap;             /* bytes; atomic */
    rm_stats_handle_t *reg;
};

#define LD(p)     __atomic_load_n((p), __ATOMIC_RELAXED)
#define ST(p, v)  __atomic_store_n((p), (v), __ATOMIC_RELAXED)
#define ADD(p, v) __atomic_fetch_add((p), (v), __ATOMIC_RELAXED)
#define SUB(p, v) __atomic_fetch_sub((p), (v), __ATOMIC_RELAXED)

/* ---- profiles ------------------------------------------------------------ */

const char *
rm_arena_profile_name(rm_arena_profile_t p)
{
    if (p == RM_ARENA_PROFILE_AUTO)
        return "Auto";
    if ((int)p < 0 || p >= RM_ARENA_PROFILE_COUNT)
        return "Unknown";
    return profiles[p].name;
}

rm_status_t
rm_arena_profile_sizes(rm_arena_profile_t p, size_t *initial_bytes, size_t *max_bytes)
{
    if ((int)p < 0 || p >= RM_ARENA_PROFILE_COUNT)
        return RM_EINVAL;
    if (initial_bytes)
        *initial_bytes = profiles[p].initial;
    if (max_bytes)
        *max_bytes = profiles[p].max;
    return RM_OK;
}

rm_arena_profile_t
rm_arena_profile_for_hint(size_t hint_bytes)
{
    if (hint_bytes == 0)
        return RM_ARENA_PROFILE_AUTO;
    /* a hint is an estimate: keep a quarter of max_size as headroom for
     * block tails and underestimates (2 000 000 still gives Medium) */
    for (int p = 0; p < RM_ARENA_PROFILE_COUNT; p++)
        if (hint_bytes <= profiles[p].max - profiles[p].max / 4)
            return (rm_arena_profile_t)p;
    return RM_ARENA_PROFILE_HUGE;
}

rm_arena_profile_t
rm_arena_profile_for_first_alloc(size_t bytes)
{
    size_t need = rm__align_up(bytes, RM_ARENA_ALIGN) + BLK_HDR;
    if (bytes > SIZE_MAX / 2)
        return RM_ARENA_PROFILE_HUGE;
    for (int p = 0; p < RM_ARENA_PROFILE_COUNT; p++)
        if (need <= profiles[p].initial)
            return (rm_arena_profile_t)p;
    return RM_ARENA_PROFILE_HUGE;
}

/* ---- blocks ---------------------------------------------------------------- */

/* Mark [p, p+n) as free memory: 0x55 in debug builds, poisoned for ASan. */
static void
retire_range(void *p, size_t n)
{
    if (config_debug) {
        RM_UNPOISON(p, n);
        memset(p, RM_FILL_FREE, n);
    }
    RM_POISON(p, n);
}

static int
cache_class(size_t size)
{
    if (!rm__is_pow2(size))
        return -1;
    int c = __builtin_ctzll((unsigned long long)size);
    return c < CACHE_CLASSES ? c : -1;
}

static void
held_add(rm_arena_mgr_t *m, uint64_t bytes)
{
    uint64_t now = ADD(&m->held, bytes) + bytes;
    uint64_t peak = LD(&m->peak_held);
    while (now > peak &&
           !__atomic_compare_exchange_n(&m->peak_held, &peak, now, 1, __ATOMIC_RELAXED,
                                        __ATOMIC_RELAXED))
        ;
}

/* A block of exactly `size` bytes (page multiple), header initialised and the
 * data area poisoned; NULL when the page source fails. */
static blk_t *
block_get(rm_arena_mgr_t *m, size_t size)
{
    blk_t *b = NULL;
    int c = cache_class(size);
    if (c >= 0 && LD(&m->cached) >= size) {
        pthread_mutex_lock(&m->cache_mu);
        b = m->cache[c];
        if (b) {
            m->cache[c] = b->next;
            ST(&m->cached, m->cached - size);
        }
        pthread_mutex_unlock(&m->cache_mu);
    }
    if (!b) {
        b = m->src.methods->map(m->src.ctx, size, rm_page_size(), -1, 0, NULL);
        if (!b)
            return NULL;
        held_add(m, size);
    }
    RM_UNPOISON(b, BLK_HDR);
    b->prev = b->next = NULL;
    b->size = size;
    RM_POISON((char *)b + BLK_HDR, size - BLK_HDR);
    return b;
}

static void
block_unmap(rm_arena_mgr_t *m, blk_t *b)
{
    size_t size = b->size;
    RM_UNPOISON(b, size);  /* shadow must be clean before the range is reused */
    m->src.methods->unmap(m->src.ctx, b, size);
    SUB(&m->held, size);
}

static void
block_put(rm_arena_mgr_t *m, blk_t *b)
{
    int c = cache_class(b->size);
    if (c >= 0) {
        pthread_mutex_lock(&m->cache_mu);
        uint64_t cap = LD(&m->cache_cap);
        /* Blocks up to cap/8 only: a few big blocks would crowd out the
         * small ones that OLTP transactions recycle all the time. And never
         * keep more idle than live arenas hold (at least 1 MiB): when the
         * load falls the cache shrinks with it, without a timer. */
        uint64_t live = LD(&m->held) - m->cached;
        uint64_t lim = live > ((uint64_t)1 << 20) ? live : ((uint64_t)1 << 20);
        if (lim < cap)
            cap = lim;
        if (b->size <= LD(&m->cache_cap) / 8 && m->cached + b->size <= cap) {
            retire_range((char *)b + BLK_HDR, b->size - BLK_HDR);
            b->next = m->cache[c];
            m->cache[c] = b;
            ST(&m->cached, m->cached + b->size);
            pthread_mutex_unlock(&m->cache_mu);
            return;
        }
        pthread_mutex_unlock(&m->cache_mu);
    }
    block_unmap(m, b);
}

/* Give a block of context `a` back to the manager and uncount it. */
static void
ctx_drop_block(rm_arena_t *a, blk_t *b)
{
    tree_t *t = a->tree;
    ST(&a->held, a->held - b->size);
    ST(&t->held, t->held - b->size);
    ST(&a->nblocks, a->nblocks - 1);
    ST(&t->blocks, t->blocks - 1);
    block_put(t->mgr, b);
}

static void
ctx_drop_spares(rm_arena_t *a)
{
    while (a->spare) {
        blk_t *b = a->spare;
        a->spare = b->next;
        ctx_drop_block(a, b);
    }
}

/* Bytes handed out in the tail block; safe from any thread (a torn view of
 * ptr/start during a block change gives 0 for the tail). */
static uint64_t
tail_used(const rm_arena_t *a)
{
    char *s = LD(&a->start), *p = LD(&a->hot.ptr), *e = LD(&a->hot.end);
    return s && p >= s && p <= e ? (uint64_t)(p - s) : 0;
}

static uint64_t
ctx_used(const rm_arena_t *a)
{
    return LD(&a->closed) + tail_used(a);
}

static rm_arena_t *dfs_next(rm_arena_t *a, rm_arena_t *root);

/* Σ used over the tree's contexts; caller holds t->mu. */
static uint64_t
tree_used_locked(tree_t *t)
{
    RM_ASSERT_LOCKED(&t->mu);
    uint64_t u = LD(&t->base);
    for (rm_arena_t *x = t->root; x; x = dfs_next(x, t->root))
        u += tail_used(x);
    return u;
}

/* Sample the tree's used bytes for peak_used (lower bound: counts the tail
 * of `a` only, closed blocks of every context). */
static void
note_peak(tree_t *t, const rm_arena_t *a)
{
    uint64_t u = LD(&t->base) + tail_used(a);
    if (u > t->peak_used)
        ST(&t->peak_used, u);
}

/* ---- manager ---------------------------------------------------------------- */

static void
report_arena(void *ctx, rm_component_usage_t *out)
{
    rm_arena_mgr_t *m = ctx;
    uint64_t used = 0;
    pthread_mutex_lock(&m->mu);
    for (tree_t *t = m->trees; t; t = t->mnext) {
        pthread_mutex_lock(&t->mu);
        used += tree_used_locked(t);
        pthread_mutex_unlock(&t->mu);
    }
    pthread_mutex_unlock(&m->mu);
    out->used_bytes = used;
    out->held_bytes = LD(&m->held);
    if (out->held_bytes < used)
        out->held_bytes = used;
    /* Bump allocation leaves no gaps between live objects: what a live
     * arena's blocks do not use yet is its transaction's reservation, given
     * back whole at commit or rollback, and the block cache is kept for the
     * next transaction. Held, but not fragmentation (seed: arenas "already
     * minimize fragmentation"). */
    out->reserved_bytes = out->held_bytes - used;
}

rm_status_t
rm_arena_mgr_create(const rm_arena_mgr_config_t *cfg, const rm_pagesrc_t *src, rm_arena_mgr_t **out)
{
    if (!out)
        return RM_EINVAL;
    rm_arena_mgr_t *m = calloc(1, sizeof *m);
    if (!m)
        return RM_ENOMEM;
    m->src = src ? *src : *rm_pagesrc_default();
    m->disable_above = cfg && cfg->disable_above_bytes ? cfg->disable_above_bytes
                                                       : RM_ARENA_DISABLE_ABOVE_DEFAULT;
    m->cache_cap = cfg && cfg->block_cache_bytes ? cfg->block_cache_bytes : RM_ARENA_BLOCK_CACHE_DEFAULT;
    if (cfg && cfg->block_cache_bytes == UINT64_MAX)
        m->cache_cap = 0;
    pthread_mutex_init(&m->mu, NULL);
    pthread_mutex_init(&m->cache_mu, NULL);
    rm_status_t st = rm_stats_register("arena", report_arena, m, &m->reg);
    if (st != RM_OK)
        goto fail;
    *out = m;
    return RM_OK;
fail:
    pthread_mutex_destroy(&m->cache_mu);
    pthread_mutex_destroy(&m->mu);
    free(m);
    return st;
}

uint64_t
rm_arena_mgr_release_cached(rm_arena_mgr_t *m)
{
    if (!m)
        return 0;
    blk_t *list = NULL;
    pthread_mutex_lock(&m->cache_mu);
    for (int c = 0; c < CACHE_CLASSES; c++) {
        while (m->cache[c]) {
            blk_t *b = m->cache[c];
            m->cache[c] = b->next;
            b->next = list;
            list = b;
        }
    }
    ST(&m->cached, 0);
    pthread_mutex_unlock(&m->cache_mu);
    uint64_t freed = 0;
    while (list) {
        blk_t *b = list;
        list = b->next;
        freed += b->size;
        block_unmap(m, b);
    }
    return freed;
}

void
rm_arena_mgr_destroy(rm_arena_mgr_t *m)
{
    if (!m)
        return;
    rm_stats_unregister(m->reg);
    for (;;) {
        pthread_mutex_lock(&m->mu);
        tree_t *t = m->trees;
        pthread_mutex_unlock(&m->mu);
        if (!t)
            break;
        rm_arena_destroy(t->root);
    }
    rm_arena_mgr_release_cached(m);
    pthread_mutex_destroy(&m->cache_mu);
    pthread_mutex_destroy(&m->mu);
    free(m);
}

rm_status_t
rm_arena_mgr_set_disable_above_bytes(rm_arena_mgr_t *m, uint64_t bytes)
{
    if (!m || bytes == 0)
        return RM_EINVAL;
    ST(&m->disable_above, bytes);
    return RM_OK;
}

uint64_t
rm_arena_mgr_disable_above_bytes(const rm_arena_mgr_t *m)
{
    return m ? LD(&m->disable_above) : 0;
}

void
rm_arena_mgr_set_block_cache_bytes(rm_arena_mgr_t *m, uint64_t bytes)
{
    if (!m)
        return;
    ST(&m->cache_cap, bytes);
    if (LD(&m->cached) > bytes)
        rm_arena_mgr_release_cached(m);
}

int
rm_arena_mgr_use_large(rm_arena_mgr_t *m, uint64_t bytes)
{
    if (!m || bytes <= LD(&m->disable_above))
        return 0;
    ADD(&m->bypasses, 1);
    return 1;
}

void
rm_arena_mgr_stats(rm_arena_mgr_t *m, rm_arena_mgr_stats_t *out)
{
    memset(out, 0, sizeof *out);
    if (!m)
        return;
    pthread_mutex_lock(&m->mu);
    for (tree_t *t = m->trees; t; t = t->mnext) {
        int p = LD(&t->profile);
        if (p >= 0 && p < RM_ARENA_PROFILE_COUNT)
            out->live_by_profile[p]++;
        else
            out->live_auto++;
        pthread_mutex_lock(&t->mu);
        out->used_bytes += tree_used_locked(t);
        pthread_mutex_unlock(&t->mu);
        out->rollbacks += LD(&t->rollbacks);
        out->limit_hits += LD(&t->limit_hits);
    }
    out->rollbacks += LD(&m->retired_rollbacks);
    out->limit_hits += LD(&m->retired_limit_hits);
    pthread_mutex_unlock(&m->mu);
    out->created = LD(&m->created);
    out->held_bytes = LD(&m->held);
    out->cached_bytes = LD(&m->cached);
    out->peak_held_bytes = LD(&m->peak_held);
    out->bypasses = LD(&m->bypasses);
    out->disable_above_bytes = LD(&m->disable_above);
}

/* ---- contexts ----------------------------------------------------------------- */

static uint64_t
new_epoch(rm_arena_mgr_t *m)
{
    return ADD(&m->epoch_seq, 1) + 1;
}

static rm_arena_t *
ctx_new(tree_t *t, rm_arena_t *parent, const char *name)
{
    rm_arena_t *a = calloc(1, sizeof *a);
    if (!a)
        return NULL;
    a->tree = t;
    a->parent = parent;
    a->level = parent ? parent->level + 1 : 0;
    a->epoch = new_epoch(t->mgr);
    strncpy(a->name, name, sizeof a->name - 1);
    return a;
}

/* Choose the tree's profile (once). */
static void
tree_set_profile(tree_t *t, rm_arena_profile_t p)
{
    t->initial_bytes = profiles[p].initial;
    t->max_bytes = profiles[p].max;
    ST(&t->profile, (int)p);
}

/* Attach a new block of at least `need` bytes (header included) to `a`. */
static rm_status_t
ctx_grow(rm_arena_t *a, size_t need)
{
    tree_t *t = a->tree;
    size_t ps = rm_page_size();
    blk_t *b;

    /* a spare kept by an earlier rollback comes first: it is already held */
    if (a->spare && a->spare->size >= need) {
        b = a->spare;
        a->spare = b->next;
        RM_POISON((char *)b + BLK_HDR, b->size - BLK_HDR);
        goto attach;
    }
    if (a->next_block == 0)
        a->next_block = a->parent ? (t->initial_bytes / 8 > 4 * KiB ? t->initial_bytes / 8 : 4 * KiB)
                                  : t->initial_bytes;
    size_t cap = t->max_bytes / 4 > a->next_block ? t->max_bytes / 4 : a->next_block;
    size_t size = a->next_block;
    int standard = 1;
    if (need > size) {
        size = rm__align_up(need, ps);
        standard = 0;
    }
    if (t->held + size > t->max_bytes) {
        ctx_drop_spares(a);  /* spares are budget we can give back first */
        if (t->held + size > t->max_bytes) {
            size = rm__align_up(need, ps);
            standard = 0;
            if (size < need || t->held + size > t->max_bytes) {
                ST(&t->limit_hits, t->limit_hits + 1);
                return RM_ELIMIT;
            }
        }
    }
    b = block_get(t->mgr, size);
    if (!b)
        return RM_ENOMEM;
    ST(&a->held, a->held + size);
    ST(&t->held, t->held + size);
    ST(&a->nblocks, a->nblocks + 1);
    ST(&t->blocks, t->blocks + 1);
    if (standard && a->next_block < cap)
        a->next_block = a->next_block * 2 < cap ? a->next_block * 2 : cap;
attach:
    note_peak(t, a);
    if (a->start) {
        /* close the tail: what it handed out moves into closed/base */
        uint64_t consumed = (uint64_t)(a->hot.ptr - a->start);
        ST(&a->closed, a->closed + consumed);
        ST(&t->base, t->base + consumed);
    }
    b->next = NULL;
    b->prev = a->tail;
    if (a->tail)
        a->tail->next = b;
    else
        a->first = b;
    a->tail = b;
    ST(&a->start, (char *)b + BLK_HDR);
    ST(&a->hot.ptr, (char *)b + BLK_HDR);
    ST(&a->hot.end, (char *)b + b->size);
    return RM_OK;
}

static rm_status_t
alloc_status(rm_arena_t *a, size_t bytes, void **out)
{
    if (bytes == 0)
        return RM_EINVAL;
    tree_t *t = a->tree;
    if (bytes > SIZE_MAX / 4) {
        ST(&t->limit_hits, t->limit_hits + 1);
        return RM_ELIMIT;
    }
    size_t n = rm__align_up(bytes, RM_ARENA_ALIGN);
    if (t->max_bytes == 0)
        tree_set_profile(t, rm_arena_profile_for_first_alloc(bytes));
    if ((size_t)(a->hot.end - a->hot.ptr) < n) {
        rm_status_t st = ctx_grow(a, n + BLK_HDR);
        if (st != RM_OK)
            return st;
    }
    char *p = a->hot.ptr;
    ST(&a->hot.ptr, p + n);
    RM_UNPOISON(p, n);
    if (config_debug)
        memset(p, RM_FILL_ALLOC, n);
    *out = p;
    return RM_OK;
}

void *
rm__arena_alloc_slow(rm_arena_t *a, size_t bytes)
{
    void *out = NULL;
    return alloc_status(a, bytes, &out) == RM_OK ? out : NULL;
}

rm_status_t
rm_arena_alloc_ex(rm_arena_t *a, size_t bytes, void **out)
{
    if (!a || !out)
        return RM_EINVAL;
    return alloc_status(a, bytes, out);
}

void
rm_arena_free(rm_arena_t *a, void *p, size_t bytes)
{
    size_t n = rm__align_up(bytes, RM_ARENA_ALIGN);
    if (!a || !p || n < bytes || !a->start)
        return;
    if ((char *)p < a->start || (char *)p + n != a->hot.ptr)
        return;   /* not the most recent chunk */
    note_peak(a->tree, a);
    ST(&a->hot.ptr, (char *)p);
    retire_range(p, n);
}

static rm_status_t
root_create(rm_arena_mgr_t *m, uint64_t txn_id, rm_arena_profile_t p, rm_arena_t **out)
{
    rm_status_t st = RM_ENOMEM;
    tree_t *t = calloc(1, sizeof *t);
    if (!t)
        return RM_ENOMEM;
    t->mgr = m;
    t->txn_id = txn_id;
    t->profile = RM_ARENA_PROFILE_AUTO;
    t->contexts = 1;
    pthread_mutex_init(&t->mu, NULL);
    rm_arena_t *a = ctx_new(t, NULL, "TopTransactionContext");
    if (!a)
        goto fail_tree;
    t->root = a;
    if (p != RM_ARENA_PROFILE_AUTO) {
        tree_set_profile(t, p);
        st = ctx_grow(a, t->initial_bytes);
        if (st != RM_OK)
            goto fail_ctx;
    }
    pthread_mutex_lock(&m->mu);
    RM_DLIST_PUSH(m->trees, t, mprev, mnext);
    pthread_mutex_unlock(&m->mu);
    ADD(&m->created, 1);
    *out = a;
    return RM_OK;
fail_ctx:
    free(a);
fail_tree:
    pthread_mutex_destroy(&t->mu);
    free(t);
    return st;
}

rm_status_t
rm_arena_create_profile(rm_arena_mgr_t *m, uint64_t txn_id, rm_arena_profile_t p, rm_arena_t **out)
{
    if (!m || !out || (p != RM_ARENA_PROFILE_AUTO && ((int)p < 0 || p >= RM_ARENA_PROFILE_COUNT)))
        return RM_EINVAL;
    return root_create(m, txn_id, p, out);
}

rm_status_t
rm_arena_create(rm_arena_mgr_t *m, uint64_t txn_id, size_t size_hint, rm_arena_t **out)
{
    if (!m || !out)
        return RM_EINVAL;
    if (size_hint > LD(&m->disable_above)) {
        ADD(&m->bypasses, 1);
        return RM_ELIMIT;
    }
    return root_create(m, txn_id, rm_arena_profile_for_hint(size_hint), out);
}

rm_status_t
rm_arena_create_child(rm_arena_t *parent, const char *name, rm_arena_t **out)
{
    if (!parent || !out)
        return RM_EINVAL;
    tree_t *t = parent->tree;
    rm_arena_t *a = ctx_new(t, parent, name ? name : "child");
    if (!a)
        return RM_ENOMEM;
    pthread_mutex_lock(&t->mu);
    RM_DLIST_PUSH(parent->child, a, sib_prev, sib_next);
    ST(&t->contexts, t->contexts + 1);
    pthread_mutex_unlock(&t->mu);
    *out = a;
    return RM_OK;
}

/* Release every block of `a` except, with keep_first, its first one. */
static void
ctx_release_blocks(rm_arena_t *a, int keep_first)
{
    note_peak(a->tree, a);
    ctx_drop_spares(a);
    blk_t *b = a->first;
    blk_t *keep = NULL;
    if (keep_first && b) {
        keep = b;
        b = b->next;
    }
    while (b) {
        blk_t *next = b->next;
        ctx_drop_block(a, b);
        b = next;
    }
    tree_t *t = a->tree;
    a->first = a->tail = keep;
    ST(&t->base, t->base - a->closed);
    ST(&a->closed, 0);
    if (keep) {
        keep->next = NULL;
        keep->prev = NULL;
        char *d = (char *)keep + BLK_HDR;
        ST(&a->start, d);
        ST(&a->hot.ptr, d);
        ST(&a->hot.end, (char *)keep + keep->size);
        retire_range(d, keep->size - BLK_HDR);
    } else {
        ST(&a->start, (char *)NULL);
        ST(&a->hot.ptr, (char *)NULL);
        ST(&a->hot.end, (char *)NULL);
    }
}

void
rm_arena_destroy(rm_arena_t *a)
{
    if (!a)
        return;
    tree_t *t = a->tree;
    while (a->child)
        rm_arena_destroy(a->child);
    ctx_release_blocks(a, 0);
    if (a->parent) {
        pthread_mutex_lock(&t->mu);
        RM_DLIST_UNLINK(a->parent->child, a, sib_prev, sib_next);
        ST(&t->contexts, t->contexts - 1);
        pthread_mutex_unlock(&t->mu);
        free(a);
        return;
    }
    rm_arena_mgr_t *m = t->mgr;
    pthread_mutex_lock(&m->mu);
    RM_DLIST_UNLINK(m->trees, t, mprev, mnext);
    ADD(&m->retired_rollbacks, t->rollbacks);
    ADD(&m->retired_limit_hits, t->limit_hits);
    pthread_mutex_unlock(&m->mu);
    pthread_mutex_destroy(&t->mu);
    free(t);
    free(a);
}

void
rm_arena_reset(rm_arena_t *a)
{
    if (!a)
        return;
    while (a->child)
        rm_arena_destroy(a->child);
    ctx_release_blocks(a, 1);
    a->next_block = 0;  /* growth restarts from the initial block size */
    a->epoch = new_epoch(a->tree->mgr);
}

void
rm_arena_mark(rm_arena_t *a, rm_arena_mark_t *mk)
{
    mk->block = a->tail;
    mk->ptr = a->hot.ptr;
    mk->closed = a->closed;
    mk->used = a->closed + (a->start ? (uint64_t)(a->hot.ptr - a->start) : 0);
    mk->epoch = a->epoch;
}

/* Debug-only: is `b` in a's chain? O(blocks). */
static int
chain_has(const rm_arena_t *a, const blk_t *b)
{
    if (!b)
        return 1;
    for (const blk_t *x = a->first; x; x = x->next)
        if (x == b)
            return 1;
    return 0;
}

rm_status_t
rm_arena_rollback(rm_arena_t *a, const rm_arena_mark_t *mk)
{
    if (!a || !mk)
        return RM_EINVAL;
    if (mk->epoch != a->epoch || mk->used > ctx_used(a) || mk->closed > a->closed)
        return RM_ESTATE;
    if (config_debug && !chain_has(a, mk->block))
        return RM_ESTATE;
    blk_t *mb = mk->block;
    tree_t *t = a->tree;
    blk_t *cut = mb ? mb->next : a->first;
    note_peak(t, a);
    if (mb)
        retire_range(mk->ptr, (size_t)((char *)mb + mb->size - mk->ptr));
    if (cut) {
        /* O(1) splice of cut..tail onto the spare list */
#if defined(__SANITIZE_ADDRESS__) || defined(RM_DEBUG)
        for (blk_t *x = cut; x; x = x->next)
            retire_range((char *)x + BLK_HDR, x->size - BLK_HDR);
#endif
        a->tail->next = a->spare;
        a->spare = cut;
        if (mb)
            mb->next = NULL;
        else
            a->first = NULL;
        a->tail = mb;
    }
    ST(&t->base, t->base - (a->closed - mk->closed));
    ST(&a->closed, mk->closed);
    ST(&a->start, mb ? (char *)mb + BLK_HDR : (char *)NULL);
    ST(&a->hot.ptr, mk->ptr);
    ST(&a->hot.end, mb ? (char *)mb + mb->size : (char *)NULL);
    ST(&t->rollbacks, t->rollbacks + 1);
    return RM_OK;
}

rm_arena_profile_t
rm_arena_profile(const rm_arena_t *a)
{
    return a ? (rm_arena_profile_t)LD(&a->tree->profile) : RM_ARENA_PROFILE_AUTO;
}

void
rm_arena_stats(const rm_arena_t *a, rm_arena_stats_t *out)
{
    memset(out, 0, sizeof *out);
    if (!a)
        return;
    tree_t *t = a->tree;
    out->txn_id = t->txn_id;
    out->profile = (rm_arena_profile_t)LD(&t->profile);
    out->max_bytes = out->profile == RM_ARENA_PROFILE_AUTO ? 0 : profiles[out->profile].max;
    pthread_mutex_lock(&t->mu);
    out->used_bytes = tree_used_locked(t);
    pthread_mutex_unlock(&t->mu);
    out->held_bytes = LD(&t->held);
    uint64_t peak = LD(&t->peak_used);
    out->peak_used_bytes = peak > out->used_bytes ? peak : out->used_bytes;
    out->rollbacks = LD(&t->rollbacks);
    out->limit_hits = LD(&t->limit_hits);
    out->contexts = LD(&t->contexts);
    out->blocks = LD(&t->blocks);
}

/* Next context in depth-first order within the tree rooted at `root`. */
static rm_arena_t *
dfs_next(rm_arena_t *a, rm_arena_t *root)
{
    if (a->child)
        return a->child;
    while (a != root) {
        if (a->sib_next)
            return a->sib_next;
        a = a->parent;
    }
    return NULL;
}

void
rm_arena_mgr_contexts(rm_arena_mgr_t *m, rm_arena_context_info_t *out, size_t cap, size_t *n)
{
    size_t k = 0;
    if (m) {
        pthread_mutex_lock(&m->mu);
        for (tree_t *t = m->trees; t; t = t->mnext) {
            pthread_mutex_lock(&t->mu);
            for (rm_arena_t *a = t->root; a; a = dfs_next(a, t->root), k++) {
                if (k >= cap)
                    continue;
                rm_arena_context_info_t *r = &out[k];
                memset(r, 0, sizeof *r);
                memcpy(r->name, a->name, sizeof r->name);
                if (a->parent)
                    memcpy(r->parent, a->parent->name, sizeof r->parent);
                r->level = a->level;
                r->txn_id = t->txn_id;
                r->profile = (rm_arena_profile_t)LD(&t->profile);
                r->total_bytes = LD(&a->held);
                r->used_bytes = ctx_used(a);
                r->free_bytes = r->total_bytes > r->used_bytes ? r->total_bytes - r->used_bytes : 0;
                r->blocks = LD(&a->nblocks);
            }
            pthread_mutex_unlock(&t->mu);
        }
        pthread_mutex_unlock(&m->mu);
    }
    if (n)
        *n = k;
}

static rm_status_t
check_ctx(const rm_arena_t *a, uint64_t *held, uint64_t *used, uint32_t *blocks)
{
    uint64_t h = 0, consumed = 0;
    uint32_t nb = 0;
    const blk_t *prev = NULL;
    for (const blk_t *b = a->first; b; prev = b, b = b->next) {
        if (b->prev != prev || b->size <= BLK_HDR)
            return RM_ECORRUPT;
        h += b->size;
        nb++;
        if (b->next)
            consumed += b->size - BLK_HDR;  /* upper bound of what a closed block handed out */
    }
    if (prev != a->tail)
        return RM_ECORRUPT;
    if (a->tail) {
        if (a->start != (char *)a->tail + BLK_HDR || a->hot.ptr < a->start ||
            a->hot.ptr > a->hot.end || a->hot.end != (char *)a->tail + a->tail->size)
            return RM_ECORRUPT;
        if (a->closed > consumed)
            return RM_ECORRUPT;
        consumed += (uint64_t)(a->hot.ptr - a->start);
    } else if (a->hot.ptr || a->hot.end || a->start || a->closed) {
        return RM_ECORRUPT;
    }
    for (const blk_t *b = a->spare; b; b = b->next) {
        h += b->size;
        nb++;
    }
    if (h != a->held || nb != a->nblocks)
        return RM_ECORRUPT;
    *held += h;
    *used += a->closed;
    *blocks += nb;
    return RM_OK;
}

rm_status_t
rm_arena_check(const rm_arena_t *a)
{
    if (!a)
        return RM_EINVAL;
    tree_t *t = a->tree;
    uint64_t held = 0, used = 0;
    uint32_t blocks = 0, contexts = 0;
    pthread_mutex_lock(&t->mu);
    rm_status_t st = RM_OK;
    for (rm_arena_t *x = t->root; x && st == RM_OK; x = dfs_next(x, t->root)) {
        contexts++;
        if (x->child && x->child->parent != x)
            st = RM_ECORRUPT;
        else if (x->parent && x->level != x->parent->level + 1)
            st = RM_ECORRUPT;
        else
            st = check_ctx(x, &held, &used, &blocks);
    }
    pthread_mutex_unlock(&t->mu);
    if (st != RM_OK)
        return st;
    if (held != t->held || used != t->base || blocks != t->blocks || contexts != t->contexts)
        return RM_ECORRUPT;
    if (t->max_bytes && held > t->max_bytes)
        return RM_ECORRUPT;
    return RM_OK;
}

/* ---- methods table --------------------------------------------------------------- */

static void *m_alloc(void *self, size_t bytes) { return rm__arena_alloc_slow(self, bytes); }
static void m_free(void *self, void *p) { (void)self; (void)p; }
static void m_reset(void *self) { rm_arena_reset(self); }
static void m_destroy(void *self) { rm_arena_destroy(self); }
static size_t m_usable_size(void *self, const void *p) { return 0; }
static void m_stats(void *self, void *out) { rm_arena_stats(self, out); }
static rm_status_t m_check(void *self) { return rm_arena_check(self); }

const rm_allocator_methods_t rm_arena_methods = {
    .alloc = m_alloc,
    .free = m_free,
    .reset = m_reset,
    .destroy = m_destroy,
    .usable_size = m_usable_size,
    .stats = m_stats,
    .check = m_check,
};
