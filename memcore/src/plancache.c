/*
 * plancache.c — LRU plan cache bounded by count and bytes (see plancache.h).
 *
 * Design note. Chained hash table (power-of-two buckets, doubled when the
 * load factor passes 1; a failed grow is ignored — longer chains, still
 * correct) plus an intrusive doubly linked LRU list, oldest at `lru_head`.
 * Entry layout, one allocation of `charge` bytes:
 *
 *   +-------------------+------------+------------+
 *   | struct entry      | text[tlen] | plan[plen] |
 *   +-------------------+------------+------------+
 *
 * Invariants (under mu): nplans ≤ max_plans and bytes ≤ max_bytes after
 * every public call returns; bytes = Σ charge.
 */
#include "rustymem/plancache.h"
#include "rustymem/stats.h"
#include "rm_internal.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct entry {
    struct entry *hnext;          /* bucket chain */
    struct entry *prev, *next;    /* LRU list; prev = older */
    uint64_t hash;
    size_t charge;                /* bytes of this allocation */
    uint32_t tlen, plen;
    unsigned char data[];         /* text then plan */
};

struct rm_plancache {
    pthread_mutex_t mu;
    struct entry **buckets;       /* guarded by mu */
    size_t nbuckets;              /* power of two; guarded by mu */
    struct entry *lru_head, *lru_tail;   /* oldest / newest; guarded by mu */
    uint64_t nplans, bytes;       /* guarded by mu */
    uint64_t max_plans, max_bytes;/* guarded by mu */
    uint64_t hits, misses, inserts, evictions, trimmed, invalidations, rejected;  /* mu */
    rm_recalloc_t ra;
    rm_stats_handle_t *stats_h;
};

static struct entry **
find_link_locked(rm_plancache_t *pc, const void *text, size_t tlen, uint64_t h)
{
    RM_ASSERT_LOCKED(&pc->mu);
    struct entry **l = &pc->buckets[h & (pc->nbuckets - 1)];
    for (; *l; l = &(*l)->hnext) {
        struct entry *e = *l;
        if (e->hash == h && e->tlen == tlen && memcmp(e->data, text, tlen) == 0)
            break;
    }
    return l;
}

static void
lru_unlink_locked(rm_plancache_t *pc, struct entry *e)
{
    RM_ASSERT_LOCKED(&pc->mu);
    RM_DLIST_UNLINK_HT(pc->lru_head, pc->lru_tail, e, prev, next);
    e->prev = e->next = NULL;
}

static void
lru_push_newest_locked(rm_plancache_t *pc, struct entry *e)
{
    RM_ASSERT_LOCKED(&pc->mu);
    RM_DLIST_APPEND_HT(pc->lru_head, pc->lru_tail, e, prev, next);
}

/* Unlink e from table and LRU and free it; returns its charge. */
static size_t
remove_locked(rm_plancache_t *pc, struct entry *e)
{
    RM_ASSERT_LOCKED(&pc->mu);
    struct entry **l = &pc->buckets[e->hash & (pc->nbuckets - 1)];
    while (*l != e)
        l = &(*l)->hnext;
    *l = e->hnext;
    lru_unlink_locked(pc, e);
    size_t charge = e->charge;
    pc->nplans--;
    pc->bytes -= charge;
    if (config_debug)
        memset(e, RM_FILL_FREE, charge);
    pc->ra.free(pc->ra.ctx, e, charge);
    return charge;
}

/* Evict oldest entries until nplans + add_plans ≤ max_plans and
 * bytes + add_bytes ≤ max_bytes. Returns bytes freed. */
static uint64_t
evict_to_fit_locked(rm_plancache_t *pc, uint64_t add_plans, uint64_t add_bytes)
{
    RM_ASSERT_LOCKED(&pc->mu);
    uint64_t freed = 0;
    while (pc->lru_head &&
           (pc->nplans + add_plans > pc->max_plans || pc->bytes + add_bytes > pc->max_bytes)) {
        freed += remove_locked(pc, pc->lru_head);
        pc->evictions++;
    }
    return freed;
}

static void
maybe_grow_locked(rm_plancache_t *pc)
{
    RM_ASSERT_LOCKED(&pc->mu);
    if (pc->nplans <= pc->nbuckets || pc->nbuckets >= ((size_t)1 << 28))
        return;
    size_t n = pc->nbuckets * 2;
    struct entry **nb = calloc(n, sizeof *nb);
    if (!nb)
        return;   /* keep the old table: longer chains, still correct */
    for (size_t b = 0; b < pc->nbuckets; b++) {
        struct entry *e = pc->buckets[b];
        while (e) {
            struct entry *next = e->hnext;
            e->hnext = nb[e->hash & (n - 1)];
            nb[e->hash & (n - 1)] = e;
            e = next;
        }
    }
    free(pc->buckets);
    pc->buckets = nb;
    pc->nbuckets = n;
}

static void
report(void *ctx, rm_component_usage_t *out)
{
    rm_plancache_t *pc = ctx;
    pthread_mutex_lock(&pc->mu);
    out->nested = 1;   /* plans come from the record allocator (slab classes) or the heap */
    out->used_bytes = pc->bytes;
    out->held_bytes = pc->bytes + pc->nbuckets * sizeof(struct entry *) + sizeof *pc;
    pthread_mutex_unlock(&pc->mu);
}

rm_status_t
rm_plancache_create(const rm_plancache_config_t *cfg, rm_plancache_t **out)
{
    RM__CREATE_ARGS_OR_EINVAL(cfg, out);
    if (!rm__recalloc_valid(cfg->alloc))
        return RM_EINVAL;
    rm_plancache_t *pc = calloc(1, sizeof *pc);
    if (!pc)
        return RM_ENOMEM;
    pc->nbuckets = 256;
    pc->buckets = calloc(pc->nbuckets, sizeof *pc->buckets);
    if (!pc->buckets) {
        free(pc);
        return RM_ENOMEM;
    }
    pc->max_plans = cfg->max_plans ? cfg->max_plans : RM_PLANCACHE_DEFAULT_MAX_PLANS;
    pc->max_bytes = cfg->max_bytes ? cfg->max_bytes : RM_PLANCACHE_DEFAULT_MAX_BYTES;
    pc->ra = rm__recalloc_or_malloc(cfg->alloc);
    pthread_mutex_init(&pc->mu, NULL);
    rm_status_t rc = rm_stats_register("plan_cache", report, pc, &pc->stats_h);
    if (rc != RM_OK) {
        pthread_mutex_destroy(&pc->mu);
        free(pc->buckets);
        free(pc);
        return rc;
    }
    *out = pc;
    return RM_OK;
}

void
rm_plancache_destroy(rm_plancache_t *pc)
{
    if (!pc)
        return;
    rm_stats_unregister(pc->stats_h);
    struct entry *e = pc->lru_head;
    while (e) {
        struct entry *next = e->next;
        pc->ra.free(pc->ra.ctx, e, e->charge);
        e = next;
    }
    free(pc->buckets);
    pthread_mutex_destroy(&pc->mu);
    free(pc);
}

rm_status_t
rm_plancache_lookup(rm_plancache_t *pc, const void *text, size_t tlen, void *buf, size_t cap,
                    size_t *plen)
{
    if (!pc || !text || !plen || tlen > RM_PLANCACHE_TEXT_MAX || (cap && !buf))
        return RM_EINVAL;
    uint64_t h = rm__hash_bytes(text, tlen);
    rm_status_t rc = RM_ENOENT;
    pthread_mutex_lock(&pc->mu);
    struct entry *e = *find_link_locked(pc, text, tlen, h);
    if (!e) {
        pc->misses++;
    } else {
        pc->hits++;
        lru_unlink_locked(pc, e);
        lru_push_newest_locked(pc, e);
        *plen = e->plen;
        if (cap < e->plen) {
            rc = RM_ELIMIT;
        } else {
            memcpy(buf, e->data + e->tlen, e->plen);
            rc = RM_OK;
        }
    }
    pthread_mutex_unlock(&pc->mu);
    return rc;
}

rm_status_t
rm_plancache_insert(rm_plancache_t *pc, const void *text, size_t tlen, const void *plan,
                    size_t plen)
{
    if (!pc || !text || tlen > RM_PLANCACHE_TEXT_MAX || plen > RM_PLANCACHE_PLAN_MAX ||
        (plen && !plan))
        return RM_EINVAL;
    size_t charge = sizeof(struct entry) + tlen + plen;
    uint64_t h = rm__hash_bytes(text, tlen);

    pthread_mutex_lock(&pc->mu);
    uint64_t max_bytes = pc->max_bytes;
    if (charge > max_bytes) {
        pc->rejected++;
        pthread_mutex_unlock(&pc->mu);
        return RM_ELIMIT;
    }
    pthread_mutex_unlock(&pc->mu);

    /* Allocate and fill before touching the cache, so failure changes nothing. */
    struct entry *e = pc->ra.alloc(pc->ra.ctx, charge);
    if (!e)
        return RM_ENOMEM;
    memset(e, 0, sizeof *e);
    e->hash = h;
    e->charge = charge;
    e->tlen = (uint32_t)tlen;
    e->plen = (uint32_t)plen;
    memcpy(e->data, text, tlen);
    if (plen)
        memcpy(e->data + tlen, plan, plen);

    pthread_mutex_lock(&pc->mu);
    if (charge > pc->max_bytes) {   /* lowered meanwhile */
        pc->rejected++;
        pthread_mutex_unlock(&pc->mu);
        pc->ra.free(pc->ra.ctx, e, charge);
        return RM_ELIMIT;
    }
    struct entry *old = *find_link_locked(pc, text, tlen, h);
    if (old)
        remove_locked(pc, old);
    evict_to_fit_locked(pc, 1, charge);
    struct entry **l = &pc->buckets[h & (pc->nbuckets - 1)];
    e->hnext = *l;
    *l = e;
    lru_push_newest_locked(pc, e);
    pc->nplans++;
    pc->bytes += charge;
    pc->inserts++;
    maybe_grow_locked(pc);
    pthread_mutex_unlock(&pc->mu);
    return RM_OK;
}

rm_status_t
rm_plancache_invalidate(rm_plancache_t *pc, const void *text, size_t tlen)
{
    if (!pc || !text || tlen > RM_PLANCACHE_TEXT_MAX)
        return RM_EINVAL;
    uint64_t h = rm__hash_bytes(text, tlen);
    pthread_mutex_lock(&pc->mu);
    struct entry *e = *find_link_locked(pc, text, tlen, h);
    if (e) {
        remove_locked(pc, e);
        pc->invalidations++;
    }
    pthread_mutex_unlock(&pc->mu);
    return e ? RM_OK : RM_ENOENT;
}

rm_status_t
rm_plancache_trim(rm_plancache_t *pc, double fraction, uint64_t *bytes_freed)
{
    if (!pc || !(fraction >= 0.0 && fraction <= 1.0))
        return RM_EINVAL;
    uint64_t freed = 0;
    pthread_mutex_lock(&pc->mu);
    uint64_t n = (uint64_t)ceil(fraction * (double)pc->nplans);
    if (n > pc->nplans)
        n = pc->nplans;
    for (uint64_t i = 0; i < n; i++) {
        freed += remove_locked(pc, pc->lru_head);
        pc->trimmed++;
    }
    pthread_mutex_unlock(&pc->mu);
    if (bytes_freed)
        *bytes_freed = freed;
    return RM_OK;
}

void
rm_plancache_clear(rm_plancache_t *pc, uint64_t *bytes_freed)
{
    rm_plancache_trim(pc, 1.0, bytes_freed);
}

/* Set one limit (which: 0 max_plans, 1 max_bytes) and evict down to it. */
static rm_status_t
set_limit(rm_plancache_t *pc, int which, uint64_t n)
{
    if (!pc || n == 0)
        return RM_EINVAL;
    pthread_mutex_lock(&pc->mu);
    if (which == 0)
        pc->max_plans = n;
    else
        pc->max_bytes = n;
    evict_to_fit_locked(pc, 0, 0);
    pthread_mutex_unlock(&pc->mu);
    return RM_OK;
}

rm_status_t
rm_plancache_set_max_plans(rm_plancache_t *pc, uint64_t n)
{
    return set_limit(pc, 0, n);
}

rm_status_t
rm_plancache_set_max_bytes(rm_plancache_t *pc, uint64_t n)
{
    return set_limit(pc, 1, n);
}

void
rm_plancache_stats(rm_plancache_t *pc, rm_plancache_stats_t *o)
{
    memset(o, 0, sizeof *o);
    pthread_mutex_lock(&pc->mu);
    o->plans = pc->nplans;
    o->bytes = pc->bytes;
    o->held_bytes = pc->bytes + pc->nbuckets * sizeof(struct entry *) + sizeof *pc;
    o->max_plans = pc->max_plans;
    o->max_bytes = pc->max_bytes;
    o->hits = pc->hits;
    o->misses = pc->misses;
    o->inserts = pc->inserts;
    o->evictions = pc->evictions;
    o->trimmed = pc->trimmed;
    o->invalidations = pc->invalidations;
    o->rejected = pc->rejected;
    pthread_mutex_unlock(&pc->mu);
}
