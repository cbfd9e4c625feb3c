/*
 * large.c — the large-object allocator (extents in segments, immediate
 * coalescing, best/first/worst fit in O(log n), huge pages, release to OS).
 *
 * Design note.
 *
 *   segment [base ............................................. base+size)
 *            | obj A | free (dirty) | obj B |   free (clean, released)    |
 *   extents   ◄─aprev/anext─►  (address order, covers the segment exactly)
 *
 * Invariants (checked by rm_large_check):
 *   - the extents of a segment tile it exactly, in address order;
 *   - no two free extents are adjacent (coalescing is immediate on free);
 *   - every extent is in the address treap; exactly the free ones are in the
 *     size treap; max_free of an address-treap node = the largest free size in
 *     its subtree (0 for none);
 *   - used = Σ allocated sizes, dirty = Σ free extents' dirty bytes.
 *
 * Both indexes are treaps over the same nodes (l/r per index, one priority),
 * implemented with split/merge; expected depth O(log n). Best fit is a
 * lower_bound on (size, address), worst fit the rightmost node, first fit a
 * descent on the address treap guided by max_free. The freed extent is
 * released (MADV_DONTNEED, at the segment's page granularity) in aggressive
 * mode or when dirty bytes pass the dirty limit; whole free segments are
 * unmapped in aggressive mode, by coalesce_all and by release_free.
 *
 * "dirty" of a free extent is an upper bound of its resident bytes: a split
 * hands the remainder min(dirty, size) because we do not track where inside
 * the extent the resident pages are.
 *
 * Locking: l->mu guards everything except the configuration words and the
 * counters the registry callback reads, which are written with relaxed
 * atomic stores under mu and read without it.
 */
#include "rustymem/large.h"
#include "rustymem/stats.h"
#include "rm_internal.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define LD(p)     __atomic_load_n((p), __ATOMIC_RELAXED)
#define ST(p, v)  __atomic_store_n((p), (v), __ATOMIC_RELAXED)

#define HUGE_2M ((size_t)2 << 20)
#define HUGE_1G ((size_t)1 << 30)
#define NODE_SPARE_MAX 256

typedef struct seg seg_t;

typedef struct ext {
    struct ext *l[2], *r[2];  /* [0] address treap, [1] size treap */
    uint32_t prio;
    uint8_t is_free;
    uintptr_t addr;
    size_t size;              /* bytes, page multiple */
    size_t max_free;          /* bytes; address-treap augmentation */
    size_t dirty;             /* bytes possibly resident while free */
    struct ext *aprev, *anext;/* neighbours in the segment; anext links the node freelist */
    seg_t *seg;
} ext_t;

struct seg {
    uintptr_t base;
    size_t size;              /* bytes */
    size_t gran;              /* release granularity: the backing page size */
    rm_page_backing_t backing;
    seg_t *prev, *next;
    ext_t *first;
};

struct rm_large {
    rm_pagesrc_t src;
    pthread_mutex_t mu;
    ext_t *aroot, *sroot;     /* guarded by mu */
    seg_t *segs;              /* guarded by mu */
    ext_t *spare;             /* node freelist; guarded by mu */
    size_t nspare;
    uint64_t rng;
    /* configuration: atomic words */
    size_t threshold;
    int strategy;
    int aggressive;
    int huge;
    size_t seg_bytes;
    uint64_t dirty_limit;     /* 0 = auto */
    /* counters: guarded by mu; those marked (a) written atomically */
    uint64_t used;            /* (a) bytes */
    uint64_t dirty;           /* (a) bytes */
    uint64_t mapped;          /* (a) bytes */
    uint64_t nodes;           /* nodes malloc'd (incl. spares) */
    uint64_t live, nfree, nsegs;
    uint64_t by_backing[4], huge_fallbacks;
    uint64_t allocs, frees, coalesces, invalid_frees, released, segs_unmapped;
    rm_stats_handle_t *reg;
};

/* ---- treaps --------------------------------------------------------------- */

static inline int
lt(int w, const ext_t *a, const ext_t *b)
{
    if (w == 0)
        return a->addr < b->addr;
    return a->size < b->size || (a->size == b->size && a->addr < b->addr);
}

static inline void
pull(int w, ext_t *t)
{
    if (w)
        return;
    size_t m = t->is_free ? t->size : 0;
    if (t->l[0] && t->l[0]->max_free > m)
        m = t->l[0]->max_free;
    if (t->r[0] && t->r[0]->max_free > m)
        m = t->r[0]->max_free;
    t->max_free = m;
}

/* a: nodes < key, b: nodes ≥ key */
static void
tsplit(int w, ext_t *t, const ext_t *key, ext_t **a, ext_t **b)
{
    if (!t) {
        *a = *b = NULL;
        return;
    }
    if (lt(w, t, key)) {
        tsplit(w, t->r[w], key, &t->r[w], b);
        *a = t;
    } else {
        tsplit(w, t->l[w], key, a, &t->l[w]);
        *b = t;
    }
    pull(w, t);
}

static ext_t *
tmerge(int w, ext_t *a, ext_t *b)
{
    if (!a)
        return b;
    if (!b)
        return a;
    if (a->prio > b->prio) {
        a->r[w] = tmerge(w, a->r[w], b);
        pull(w, a);
        return a;
    }
    b->l[w] = tmerge(w, a, b->l[w]);
    pull(w, b);
    return b;
}

/* The link of t (in treap w) under which n's key lies. */
static inline ext_t **
child_toward(int w, ext_t *t, const ext_t *n)
{
    return lt(w, n, t) ? &t->l[w] : &t->r[w];
}

static ext_t *
tinsert(int w, ext_t *t, ext_t *n)
{
    if (!t || n->prio > t->prio) {
        tsplit(w, t, n, &n->l[w], &n->r[w]);
        pull(w, n);
        return n;
    }
    ext_t **c = child_toward(w, t, n);
    *c = tinsert(w, *c, n);
    pull(w, t);
    return t;
}

/* `n` must be in the treap, with the key it was inserted with. */
static ext_t *
terase(int w, ext_t *t, ext_t *n)
{
    if (t == n)
        return tmerge(w, t->l[w], t->r[w]);
    ext_t **c = child_toward(w, t, n);
    *c = terase(w, *c, n);
    pull(w, t);
    return t;
}

/* Recompute max_free on the path to `n` in the address treap. */
static void
trefresh(ext_t *t, ext_t *n)
{
    if (t != n)
        trefresh(*child_toward(0, t, n), n);
    pull(0, t);
}

static ext_t *
find_addr(ext_t *t, uintptr_t addr)
{
    while (t) {
        if (addr == t->addr)
            return t;
        t = addr < t->addr ? t->l[0] : t->r[0];
    }
    return NULL;
}

static ext_t *
fit_best(ext_t *t, size_t n)
{
    ext_t *cand = NULL;
    while (t) {
        if (t->size >= n) {
            cand = t;
            t = t->l[1];
        } else {
            t = t->r[1];
        }
    }
    return cand;
}

static ext_t *
fit_worst(ext_t *t, size_t n)
{
    if (!t)
        return NULL;
    while (t->r[1])
        t = t->r[1];
    return t->size >= n ? t : NULL;
}

static ext_t *
fit_first(ext_t *t, size_t n)
{
    while (t && t->max_free >= n) {
        if (t->l[0] && t->l[0]->max_free >= n)
            t = t->l[0];
        else if (t->is_free && t->size >= n)
            return t;
        else
            t = t->r[0];
    }
    return NULL;
}

/* ---- nodes and segments ---------------------------------------------------- */

static uint32_t
next_prio(rm_large_t *l)
{
    uint64_t x = l->rng;   /* xorshift64 */
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    l->rng = x;
    return (uint32_t)(x >> 32);
}

static int
reserve_nodes_locked(rm_large_t *l, size_t want)
{
    RM_ASSERT_LOCKED(&l->mu);
    while (l->nspare < want) {
        ext_t *e = malloc(sizeof *e);
        if (!e)
            return 0;
        e->anext = l->spare;
        l->spare = e;
        l->nspare++;
        l->nodes++;
    }
    return 1;
}

static ext_t *
node_pop_locked(rm_large_t *l)
{
    RM_ASSERT_LOCKED(&l->mu);
    ext_t *e = l->spare;
    assert(e);
    l->spare = e->anext;
    l->nspare--;
    memset(e, 0, sizeof *e);
    e->prio = next_prio(l);
    return e;
}

static void
node_push_locked(rm_large_t *l, ext_t *e)
{
    RM_ASSERT_LOCKED(&l->mu);
    if (l->nspare >= NODE_SPARE_MAX) {
        free(e);
        l->nodes--;
        return;
    }
    e->anext = l->spare;
    l->spare = e;
    l->nspare++;
}

static void
set_used(rm_large_t *l, uint64_t v)
{
    ST(&l->used, v);
}

static void
set_dirty(rm_large_t *l, uint64_t v)
{
    ST(&l->dirty, v);
}

static seg_t *
seg_new_locked(rm_large_t *l, size_t n)
{
    RM_ASSERT_LOCKED(&l->mu);
    size_t seg_bytes = LD(&l->seg_bytes);
    size_t size = rm__align_up(n, HUGE_2M);
    if (size < n)
        return NULL;
    if (size < seg_bytes)
        size = seg_bytes;
    seg_t *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    unsigned flags = 0;
    size_t align = rm_page_size();
    if (LD(&l->huge)) {
        flags = RM_PAGES_HUGE_2M | RM_PAGES_THP;
        if (size % HUGE_1G == 0)
            flags |= RM_PAGES_HUGE_1G;
        align = HUGE_2M;
    }
    rm_page_backing_t backing = RM_BACKING_NORMAL;
    void *p = l->src.methods->map(l->src.ctx, size, align, -1, flags, &backing);
    if (!p) {
        free(s);
        return NULL;
    }
    s->base = (uintptr_t)p;
    s->size = size;
    s->backing = backing;
    s->gran = backing == RM_BACKING_HUGE_1G ? HUGE_1G
              : backing == RM_BACKING_HUGE_2M ? HUGE_2M : rm_page_size();
    l->by_backing[backing & 3]++;
    if ((flags & (RM_PAGES_HUGE_2M | RM_PAGES_HUGE_1G)) && backing != RM_BACKING_HUGE_2M &&
        backing != RM_BACKING_HUGE_1G)
        l->huge_fallbacks++;

    ext_t *e = node_pop_locked(l);
    e->addr = s->base;
    e->size = size;
    e->is_free = 1;
    e->dirty = 0;   /* never touched */
    e->seg = s;
    s->first = e;
    l->aroot = tinsert(0, l->aroot, e);
    l->sroot = tinsert(1, l->sroot, e);
    l->nfree++;
    s->next = l->segs;
    if (l->segs)
        l->segs->prev = s;
    l->segs = s;
    l->nsegs++;
    ST(&l->mapped, l->mapped + size);
    return s;
}

/* Unmap segment `s`, which must be one free extent. */
static void
seg_unmap_locked(rm_large_t *l, seg_t *s)
{
    RM_ASSERT_LOCKED(&l->mu);
    ext_t *e = s->first;
    assert(e && e->is_free && e->size == s->size);
    l->aroot = terase(0, l->aroot, e);
    l->sroot = terase(1, l->sroot, e);
    set_dirty(l, l->dirty - e->dirty);
    l->released += e->dirty;
    l->nfree--;
    node_push_locked(l, e);
    RM_DLIST_UNLINK(l->segs, s, prev, next);
    l->nsegs--;
    l->segs_unmapped++;
    ST(&l->mapped, l->mapped - s->size);
    l->src.methods->unmap(l->src.ctx, (void *)s->base, s->size);
    free(s);
}

/* MADV_DONTNEED the granule-aligned interior of free extent `e`; returns the
 * dirty bytes given back. */
static uint64_t
release_ext_locked(rm_large_t *l, ext_t *e)
{
    RM_ASSERT_LOCKED(&l->mu);
    if (!e->dirty || !l->src.methods->release)
        return 0;
    size_t g = e->seg->gran;
    uintptr_t start = rm__align_up(e->addr, g);
    uintptr_t end = (e->addr + e->size) & ~(uintptr_t)(g - 1);
    if (end <= start)
        return 0;
    l->src.methods->release(l->src.ctx, (void *)start, end - start);
    size_t left = e->size - (end - start);
    size_t nd = e->dirty < left ? e->dirty : left;
    uint64_t gave = e->dirty - nd;
    set_dirty(l, l->dirty - gave);
    e->dirty = nd;
    l->released += gave;
    return gave;
}

static int
seg_all_free(const seg_t *s)
{
    return s->first && s->first->is_free && s->first->size == s->size;
}

static uint64_t
dirty_limit(const rm_large_t *l)
{
    uint64_t lim = LD(&l->dirty_limit);
    if (lim)
        return lim;
    uint64_t auto_lim = l->used / 32;
    return auto_lim > (2u << 20) ? auto_lim : (2u << 20);
}

/* ---- public ------------------------------------------------------------------ */

const char *
rm_large_strategy_name(rm_large_strategy_t s)
{
    switch (s) {
    case RM_LARGE_BEST_FIT: return "best_fit";
    case RM_LARGE_FIRST_FIT: return "first_fit";
    case RM_LARGE_WORST_FIT: return "worst_fit";
    }
    return "unknown";
}

rm_status_t
rm_large_strategy_parse(const char *name, rm_large_strategy_t *out)
{
    if (!name || !out)
        return RM_EINVAL;
    for (int s = 0; s <= RM_LARGE_WORST_FIT; s++)
        if (strcmp(name, rm_large_strategy_name((rm_large_strategy_t)s)) == 0) {
            *out = (rm_large_strategy_t)s;
            return RM_OK;
        }
    return RM_EINVAL;
}

static void
report_large(void *ctx, rm_component_usage_t *out)
{
    rm_large_t *l = ctx;
    out->used_bytes = LD(&l->used);
    out->held_bytes = out->used_bytes + LD(&l->dirty);
}

static int
threshold_ok(size_t b)
{
    return b >= RM_LARGE_THRESHOLD_MIN && b <= RM_LARGE_THRESHOLD_MAX;
}

rm_status_t
rm_large_create(const rm_large_config_t *cfg, const rm_pagesrc_t *src, rm_large_t **out)
{
    if (!out)
        return RM_EINVAL;
    rm_large_config_t c = {0};
    if (cfg)
        c = *cfg;
    if (!c.threshold_bytes)
        c.threshold_bytes = RM_LARGE_THRESHOLD_DEFAULT;
    if (!c.segment_bytes)
        c.segment_bytes = RM_LARGE_SEGMENT_DEFAULT;
    if (!threshold_ok(c.threshold_bytes) || (unsigned)c.strategy > RM_LARGE_WORST_FIT ||
        c.segment_bytes % HUGE_2M)
        return RM_EINVAL;
    rm_large_t *l = calloc(1, sizeof *l);
    if (!l)
        return RM_ENOMEM;
    l->src = src ? *src : *rm_pagesrc_default();
    l->threshold = c.threshold_bytes;
    l->strategy = (int)c.strategy;
    l->aggressive = !!c.aggressive_coalescing;
    l->huge = !c.no_huge_pages;
    l->seg_bytes = c.segment_bytes;
    l->dirty_limit = c.dirty_limit_bytes;
    l->rng = 0x9e3779b97f4a7c15ull ^ (uint64_t)(uintptr_t)l;
    pthread_mutex_init(&l->mu, NULL);
    rm_status_t st = rm_stats_register("large_object", report_large, l, &l->reg);
    if (st != RM_OK) {
        pthread_mutex_destroy(&l->mu);
        free(l);
        return st;
    }
    *out = l;
    return RM_OK;
}

static void
drop_all_locked(rm_large_t *l)
{
    RM_ASSERT_LOCKED(&l->mu);
    while (l->segs) {
        seg_t *s = l->segs;
        l->segs = s->next;
        for (ext_t *e = s->first; e;) {
            ext_t *nx = e->anext;
            free(e);
            l->nodes--;
            e = nx;
        }
        l->src.methods->unmap(l->src.ctx, (void *)s->base, s->size);
        free(s);
    }
    l->aroot = l->sroot = NULL;
    set_used(l, 0);
    set_dirty(l, 0);
    ST(&l->mapped, 0);
    l->live = l->nfree = l->nsegs = 0;
}

void
rm_large_destroy(rm_large_t *l)
{
    if (!l)
        return;
    rm_stats_unregister(l->reg);
    pthread_mutex_lock(&l->mu);
    drop_all_locked(l);
    while (l->spare) {
        ext_t *e = l->spare;
        l->spare = e->anext;
        free(e);
    }
    pthread_mutex_unlock(&l->mu);
    pthread_mutex_destroy(&l->mu);
    free(l);
}

rm_status_t
rm_large_alloc_ex(rm_large_t *l, size_t bytes, void **out)
{
    if (!l || !out || bytes == 0)
        return RM_EINVAL;
    size_t n = rm__align_up(bytes, rm_page_size());
    if (n < bytes)
        return RM_ENOMEM;
    pthread_mutex_lock(&l->mu);
    rm_status_t st = RM_ENOMEM;
    if (!reserve_nodes_locked(l, 2))
        goto out;
    ext_t *e;
    switch (LD(&l->strategy)) {
    case RM_LARGE_FIRST_FIT: e = fit_first(l->aroot, n); break;
    case RM_LARGE_WORST_FIT: e = fit_worst(l->sroot, n); break;
    default: e = fit_best(l->sroot, n); break;
    }
    if (!e) {
        seg_t *s = seg_new_locked(l, n);
        if (!s)
            goto out;
        e = s->first;
    }
    /* carve [addr, addr+n) out of free extent e */
    l->sroot = terase(1, l->sroot, e);
    uint64_t dirty = l->dirty - e->dirty;
    if (e->size > n) {
        ext_t *r = node_pop_locked(l);
        r->addr = e->addr + n;
        r->size = e->size - n;
        r->is_free = 1;
        r->dirty = e->dirty < r->size ? e->dirty : r->size;
        r->seg = e->seg;
        r->aprev = e;
        r->anext = e->anext;
        if (e->anext)
            e->anext->aprev = r;
        e->anext = r;
        dirty += r->dirty;
        e->size = n;
        l->aroot = tinsert(0, l->aroot, r);
        l->sroot = tinsert(1, l->sroot, r);
    } else {
        l->nfree--;
    }
    e->is_free = 0;
    e->dirty = 0;
    trefresh(l->aroot, e);
    set_dirty(l, dirty);
    set_used(l, l->used + n);
    l->live++;
    l->allocs++;
    *out = (void *)e->addr;
    st = RM_OK;
out:
    pthread_mutex_unlock(&l->mu);
    return st;
}

void *
rm_large_alloc(rm_large_t *l, size_t bytes)
{
    void *p = NULL;
    return rm_large_alloc_ex(l, bytes, &p) == RM_OK ? p : NULL;
}

/* Merge free extent `nx` (in both treaps) into its free left neighbour `e`
 * (in the address treap only). */
static void
absorb_locked(rm_large_t *l, ext_t *e, ext_t *nx)
{
    RM_ASSERT_LOCKED(&l->mu);
    l->sroot = terase(1, l->sroot, nx);
    l->aroot = terase(0, l->aroot, nx);
    e->size += nx->size;
    e->dirty += nx->dirty;
    e->anext = nx->anext;
    if (nx->anext)
        nx->anext->aprev = e;
    node_push_locked(l, nx);
    l->nfree--;
    l->coalesces++;
}

void
rm_large_free(rm_large_t *l, void *p)
{
    if (!l || !p)
        return;
    pthread_mutex_lock(&l->mu);
    ext_t *e = find_addr(l->aroot, (uintptr_t)p);
    if (!e || e->is_free) {
        l->invalid_frees++;
        goto out;
    }
    set_used(l, l->used - e->size);
    l->live--;
    l->frees++;
    e->is_free = 1;
    e->dirty = e->size;
    set_dirty(l, l->dirty + e->size);
    l->nfree++;
    ext_t *pv = e->aprev;
    if (pv && pv->is_free) {
        /* pv absorbs e: take pv out of the size treap, e out of both */
        l->sroot = terase(1, l->sroot, pv);
        l->sroot = tinsert(1, l->sroot, e);  /* so absorb can erase it uniformly */
        absorb_locked(l, pv, e);
        e = pv;
    }
    ext_t *nx = e->anext;
    if (nx && nx->is_free)
        absorb_locked(l, e, nx);
    l->sroot = tinsert(1, l->sroot, e);
    trefresh(l->aroot, e);
    seg_t *s = e->seg;
    int aggressive = LD(&l->aggressive);
    if (aggressive && seg_all_free(s) && l->nsegs > 1)
        seg_unmap_locked(l, s);
    else if (aggressive || l->dirty > dirty_limit(l))
        release_ext_locked(l, e);
out:
    pthread_mutex_unlock(&l->mu);
}

size_t
rm_large_usable_size(rm_large_t *l, const void *p)
{
    if (!l || !p)
        return 0;
    pthread_mutex_lock(&l->mu);
    ext_t *e = find_addr(l->aroot, (uintptr_t)p);
    size_t n = e && !e->is_free ? e->size : 0;
    pthread_mutex_unlock(&l->mu);
    return n;
}

int
rm_large_wants(const rm_large_t *l, size_t bytes)
{
    return l && bytes >= LD(&l->threshold);
}

rm_status_t
rm_large_set_threshold(rm_large_t *l, size_t bytes)
{
    if (!l || !threshold_ok(bytes))
        return RM_EINVAL;
    ST(&l->threshold, bytes);
    return RM_OK;
}

size_t
rm_large_threshold(const rm_large_t *l)
{
    return l ? LD(&l->threshold) : 0;
}

rm_status_t
rm_large_set_strategy(rm_large_t *l, rm_large_strategy_t s)
{
    if (!l || (unsigned)s > RM_LARGE_WORST_FIT)
        return RM_EINVAL;
    ST(&l->strategy, (int)s);
    return RM_OK;
}

void
rm_large_set_aggressive_coalescing(rm_large_t *l, int on)
{
    if (l)
        ST(&l->aggressive, !!on);
}

void
rm_large_set_dirty_limit(rm_large_t *l, uint64_t bytes)
{
    if (l)
        ST(&l->dirty_limit, bytes);
}

void
rm_large_set_huge_pages(rm_large_t *l, int on)
{
    if (l)
        ST(&l->huge, !!on);
}

size_t
rm_large_coalesce_all(rm_large_t *l)
{
    if (!l)
        return 0;
    size_t n = 0;
    pthread_mutex_lock(&l->mu);
    for (seg_t *s = l->segs, *sn; s; s = sn) {
        sn = s->next;
        for (ext_t *e = s->first; e; e = e->anext) {
            while (e->is_free && e->anext && e->anext->is_free) {
                l->sroot = terase(1, l->sroot, e);
                absorb_locked(l, e, e->anext);
                l->sroot = tinsert(1, l->sroot, e);
                trefresh(l->aroot, e);
                n++;
            }
        }
        if (seg_all_free(s)) {
            seg_unmap_locked(l, s);
            n++;
        }
    }
    pthread_mutex_unlock(&l->mu);
    return n;
}

uint64_t
rm_large_release_free(rm_large_t *l, uint64_t max_bytes)
{
    if (!l)
        return 0;
    uint64_t gave = 0;
    pthread_mutex_lock(&l->mu);
    for (seg_t *s = l->segs, *sn; s && gave < max_bytes; s = sn) {
        sn = s->next;
        if (seg_all_free(s)) {
            gave += s->first->dirty;
            seg_unmap_locked(l, s);
            continue;
        }
        for (ext_t *e = s->first; e && gave < max_bytes; e = e->anext)
            if (e->is_free)
                gave += release_ext_locked(l, e);
    }
    pthread_mutex_unlock(&l->mu);
    return gave;
}

void
rm_large_stats(rm_large_t *l, rm_large_stats_t *out)
{
    memset(out, 0, sizeof *out);
    if (!l)
        return;
    pthread_mutex_lock(&l->mu);
    out->used_bytes = l->used;
    out->dirty_bytes = l->dirty;
    out->held_bytes = l->used + l->dirty;
    out->mapped_bytes = l->mapped;
    out->free_bytes = l->mapped - l->used;
    out->largest_free_bytes = l->aroot ? l->aroot->max_free : 0;
    out->metadata_bytes = l->nodes * sizeof(ext_t) + l->nsegs * sizeof(seg_t);
    out->live_objects = l->live;
    out->free_extents = l->nfree;
    out->segments = l->nsegs;
    memcpy(out->segments_by_backing, l->by_backing, sizeof l->by_backing);
    out->huge_fallbacks = l->huge_fallbacks;
    out->allocs = l->allocs;
    out->frees = l->frees;
    out->coalesces = l->coalesces;
    out->invalid_frees = l->invalid_frees;
    out->released_bytes = l->released;
    out->segments_unmapped = l->segs_unmapped;
    /* the live setters store these without the mutex (atomics): read them the same way */
    out->strategy = (rm_large_strategy_t)LD(&l->strategy);
    out->threshold_bytes = LD(&l->threshold);
    out->aggressive_coalescing = LD(&l->aggressive);
    pthread_mutex_unlock(&l->mu);
    out->fragmentation_ratio = rm_stats_fragmentation(out->used_bytes, out->held_bytes);
    out->external_fragmentation =
        out->free_bytes ? 1.0 - (double)out->largest_free_bytes / (double)out->free_bytes : 0.0;
}

/* In-order walk of one treap checking order and augmentation; counts nodes. */
static int
check_tree(int w, const ext_t *t, const ext_t **prev, uint64_t *count)
{
    if (!t)
        return 1;
    if (t->l[w] && t->l[w]->prio > t->prio)
        return 0;
    if (t->r[w] && t->r[w]->prio > t->prio)
        return 0;
    if (!check_tree(w, t->l[w], prev, count))
        return 0;
    if (*prev && !lt(w, *prev, t))
        return 0;
    if (w == 1 && !t->is_free)
        return 0;
    if (w == 0) {
        size_t m = t->is_free ? t->size : 0;
        if (t->l[0] && t->l[0]->max_free > m)
            m = t->l[0]->max_free;
        if (t->r[0] && t->r[0]->max_free > m)
            m = t->r[0]->max_free;
        if (m != t->max_free)
            return 0;
    }
    *prev = t;
    (*count)++;
    return check_tree(w, t->r[w], prev, count);
}

rm_status_t
rm_large_check(rm_large_t *l)
{
    if (!l)
        return RM_EINVAL;
    rm_status_t st = RM_ECORRUPT;
    pthread_mutex_lock(&l->mu);
    uint64_t used = 0, dirty = 0, mapped = 0, nfree = 0, next = 0, live = 0, nsegs = 0;
    for (const seg_t *s = l->segs; s; s = s->next) {
        nsegs++;
        mapped += s->size;
        uintptr_t at = s->base;
        const ext_t *prev = NULL;
        for (const ext_t *e = s->first; e; prev = e, e = e->anext) {
            if (e->addr != at || e->aprev != prev || e->seg != s || e->size == 0)
                goto out;
            if (e->is_free) {
                if (prev && prev->is_free)
                    goto out;
                if (e->dirty > e->size)
                    goto out;
                nfree++;
                dirty += e->dirty;
            } else {
                used += e->size;
                live++;
            }
            at += e->size;
            next++;
        }
        if (at != s->base + s->size)
            goto out;
    }
    const ext_t *p = NULL;
    uint64_t na = 0, ns = 0;
    if (!check_tree(0, l->aroot, &p, &na))
        goto out;
    p = NULL;
    if (!check_tree(1, l->sroot, &p, &ns))
        goto out;
    if (na != next || ns != nfree || nfree != l->nfree || used != l->used || dirty != l->dirty ||
        mapped != l->mapped || live != l->live || nsegs != l->nsegs)
        goto out;
    st = RM_OK;
out:
    pthread_mutex_unlock(&l->mu);
    return st;
}

/* ---- methods table ----------------------------------------------------------------- */

static void *m_alloc(void *self, size_t bytes) { return rm_large_alloc(self, bytes); }
static void m_free(void *self, void *p) { rm_large_free(self, p); }
static void
m_reset(void *self)
{
    rm_large_t *l = self;
    pthread_mutex_lock(&l->mu);
    drop_all_locked(l);
    pthread_mutex_unlock(&l->mu);
}
static void m_destroy(void *self) { rm_large_destroy(self); }
static size_t m_usable_size(void *self, const void *p) { return rm_large_usable_size(self, p); }
static void m_stats(void *self, void *out) { rm_large_stats(self, out); }
static rm_status_t m_check(void *self) { return rm_large_check(self); }

const rm_allocator_methods_t rm_large_methods = {
    .alloc = m_alloc,
    .free = m_free,
    .reset = m_reset,
    .destroy = m_destroy,
    .usable_size = m_usable_size,
    .stats = m_stats,
    .check = m_check,
};
