/*
 * slab.c — size-class object caches with per-thread magazines, per-node
 * depots and node-local slabs.
 *
 * Design note (details and measurements: docs/adr/0002-slab-magazines.md).
 *
 *   thread T ── tc[c->slot] ── loaded magazine (objs[0..n)) + previous magazine
 *                   │  miss: loaded empty (alloc) / loaded and previous full (free)
 *                   ▼
 *   depot of node N (N = node of the CPU T runs on):  full list, empty list
 *                   │  miss: no full magazine (alloc) / depot saturated (free)
 *                   ▼
 *   slabs of node N: partial, full and empty lists (256 KiB, 256 KiB-aligned)
 *
 * Fast paths. rm_slab_alloc pops tc->objs[--n]; rm_slab_free pushes while
 * n < tc->cap. tc lives in initial-exec TLS, indexed by the cache's slot, so
 * both are a handful of instructions with no atomic read-modify-write and no
 * lock. Counters (allocs, frees, misses) are per thread, written with relaxed
 * atomic stores by their owner only and summed by readers at snapshot time.
 *
 * Slow paths follow Bonwick: alloc swaps in the previous magazine when it has
 * objects, else trades the empty loaded magazine for a full one from the
 * depot, else fills the loaded magazine straight from slabs. Free swaps in
 * the previous magazine when it is empty, else parks the previous (full)
 * magazine in the depot and takes an empty one; when the depot already holds
 * RM_DEPOT_MAX_FULL magazines the previous magazine is emptied into its slabs
 * instead, which bounds both the memory parked in depots and the magazine
 * count.
 *
 * Live capacity. A magazine always has room for RM_SLAB_MAGAZINE_MAX
 * pointers; the capacity is only the fill limit. The setter stores the new
 * limit into every attached thread's tc->cap (relaxed); a magazine that holds
 * more than a lowered limit keeps its objects, goes down the free slow path
 * at the next free and travels through the depot with its own count. Objects
 * are therefore never dropped or duplicated by a resize.
 *
 * Failure. A thread that cannot get magazines (their chunk cannot be mapped)
 * allocates and frees straight on the slabs (alloc_direct, give_back) and
 * tries to attach again at its next slow path; a free never needs memory.
 *
 * Locks and their order: g.mu (caches table, thread list, tc attach/detach,
 * capacity) → node_t.mu (depot lists and slab lists of one node; several
 * node locks are never held together) → cache.mag_mu (magazine chunks) →
 * cache.dbg_mu (debug slab registry). The accounting callback runs under the
 * registry's lock and takes g.mu; registration happens under g.reg_mu only,
 * never under g.mu, so the two orders cannot meet.
 *
 * Invariants: an object is in exactly one of: a caller's hands, a magazine
 * (thread or depot), a slab free list, or a slab's uncarved tail.
 * For each slab, nfree = free-list length + (nobjs − ncarved). Per node,
 * objects_out = Σ(nobjs − nfree) over its slabs.
 */
#include "rustymem/slab.h"
#include "rustymem/stats.h"
#include "rm_internal.h"

#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifdef RM_HAVE_NUMA
#include <numa.h>
#endif

#define RM_SLAB_MAGIC       0x52534c4142484452ull   /* "RSLABHDR" */
#define RM_DEPOT_MAX_FULL   16u                      /* full magazines parked per node and cache */
#define RM_MAG_CHUNK_BYTES  (16u * 1024u)            /* magazine memory is mapped in chunks of this */

#define LOAD(x)     __atomic_load_n(&(x), __ATOMIC_RELAXED)
#define STORE(x, v) __atomic_store_n(&(x), (v), __ATOMIC_RELAXED)
#define ADD(x, v)   ((void)__atomic_fetch_add(&(x), (v), __ATOMIC_RELAXED))
/* Owner-only counter bump: a plain add the readers may observe atomically. */
#define BUMP(x)     STORE((x), (x) + 1)

/*
 * The intrusive free-list link lives in the first word of a free object,
 * which the tools otherwise see as inaccessible: open it around each access.
 */
#define FL_OPEN(o)                                                  \
    do {                                                            \
        RM_UNPOISON((o), sizeof(void *));                           \
        if (config_debug)                                           \
            VALGRIND_MAKE_MEM_DEFINED((o), sizeof(void *));         \
    } while (0)
#define FL_CLOSE(o)                                                 \
    do {                                                            \
        RM_POISON((o), sizeof(void *));                             \
        if (config_debug)                                           \
            VALGRIND_MAKE_MEM_NOACCESS((o), sizeof(void *));        \
    } while (0)

/* ---- types ----------------------------------------------------------------- */

typedef struct mag {
    struct mag *next;                  /* depot list link; guarded by the node's mu */
    uint32_t n;                        /* objects held; owner thread, or node mu while parked */
    uint32_t pad_;
    void *objs[RM_SLAB_MAGAZINE_MAX];  /* objs[0..n) */
} mag_t;

typedef struct mag_chunk {
    struct mag_chunk *next;            /* guarded by cache.mag_mu */
    size_t bytes;
} mag_chunk_t;

enum { LIST_NONE = 0, LIST_PARTIAL, LIST_FULL, LIST_EMPTY };

/*
 * Slab layout (RM_SLAB_SLAB_BYTES, aligned to the same):
 *   [slab_hdr_t | live bitmap | pad to object alignment][obj 0][obj 1]…[tail]
 */
typedef struct slab_hdr {
    uint64_t magic;                    /* RM_SLAB_MAGIC */
    rm_slab_cache_t *cache;            /* owner; constant */
    struct slab_hdr *prev, *next;      /* node list; guarded by node mu */
    void *free;                        /* intrusive free list; guarded by node mu */
    char *objs;                        /* first object; constant */
    uint32_t nobjs;                    /* objects in the slab; constant */
    uint32_t nfree;                    /* free list + uncarved; guarded by node mu */
    uint32_t ncarved;                  /* objects ever carved from the tail; guarded by node mu */
    uint16_t node;                     /* depot index; constant */
    uint8_t list;                      /* LIST_*; guarded by node mu */
    uint8_t pad_;
    uint64_t live[];                   /* debug: bit set while an object is in a caller's hands (atomic) */
} slab_hdr_t;

typedef struct node {
    pthread_mutex_t mu;
    mag_t *full;                       /* guarded by mu */
    mag_t *empty;                      /* guarded by mu */
    uint32_t nfull, nempty;            /* magazines; guarded by mu */
    uint64_t full_objs;                /* objects in full list; guarded by mu */
    slab_hdr_t *lists[4];              /* by LIST_*; guarded by mu */
    uint64_t slabs;                    /* guarded by mu */
    uint64_t objects_out;              /* guarded by mu */
    uint64_t depot_gets, depot_puts;   /* magazines; guarded by mu */
    uint64_t refills, flushes, reaped; /* guarded by mu */
} RM_ALIGNED_CL node_t;

/* Per thread, per cache. Exactly one cache line. */
typedef struct tc {
    void **objs;                       /* loaded magazine's objs; owner only */
    uint32_t n;                        /* objects in loaded; owner writes (relaxed), readers load */
    uint32_t cap;                      /* fill limit; written under g.mu, owner loads (relaxed); 0 = detached */
    mag_t *prev;                       /* previous magazine; owner only */
    rm_slab_cache_t *cache;            /* attached cache; written under g.mu */
    uint64_t allocs, frees, misses;    /* owner writes (relaxed), readers load */
    uint32_t prev_n;                   /* mirror of prev->n for readers (relaxed) */
    uint32_t pad_;
} tc_t;

_Static_assert(sizeof(tc_t) == 64, "tc_t must be one cache line");

typedef struct tstate {
    tc_t tc[RM_SLAB_MAX_CACHES];
    struct tstate *next, *prev;        /* guarded by g.mu */
    int registered;                    /* guarded by g.mu */
} tstate_t;

struct rm_slab_cache {
    /* read by the fast paths; constant after create */
    uint32_t slot;
    uint32_t size;                     /* bytes */
    uint32_t cap;                      /* objects; written under g.mu (relaxed) */
    uint32_t nobjs;                    /* objects per slab */
    uint32_t hdr_bytes;                /* slab header + padding */
    uint32_t nnodes;                   /* depots in use */
    const rm_pagesrc_t *src;
    char name[RM_SLAB_NAME_MAX];

    pthread_mutex_t mag_mu;
    mag_chunk_t *chunks;               /* guarded by mag_mu */
    char *chunk_cur;                   /* next unused magazine; guarded by mag_mu */
    size_t chunk_left;                 /* magazines left in current chunk; guarded by mag_mu */
    uint64_t chunk_bytes;              /* guarded by mag_mu; read relaxed */

    /* folded counters of detached threads and magazine-less frees (relaxed atomics) */
    uint64_t ret_allocs, ret_frees, ret_misses;
    uint64_t alloc_failures, double_frees, foreign_frees;
    uint32_t threads;                  /* attached threads; guarded by g.mu */

    pthread_mutex_t dbg_mu;            /* debug builds: slab registry */
    uintptr_t *dbg_tab;                /* open addressing; 0 empty, 1 tombstone; guarded by dbg_mu */
    size_t dbg_cap, dbg_used;          /* guarded by dbg_mu */

    node_t nodes[RM_SLAB_MAX_NODES];
};

struct rm_slab {
    rm_slab_cache_t *c[RM_SLAB_NUM_CLASSES];
};

static __thread tstate_t tls __attribute__((tls_model("initial-exec")));

static struct {
    pthread_mutex_t mu;
    rm_slab_cache_t *caches[RM_SLAB_MAX_CACHES];  /* guarded by mu */
    tstate_t *threads;                            /* guarded by mu */
    pthread_once_t once;
    pthread_key_t key;
    int key_ok;
    int numa;                                     /* constant after once */
    uint32_t nnodes;                              /* constant after once */
    int ncpus;                                    /* constant after once */
    uint16_t *cpu_node;                           /* constant after once; may be NULL */

    pthread_mutex_t reg_mu;
    int reg_refs;                                 /* guarded by reg_mu */
    rm_stats_handle_t *reg;                       /* guarded by reg_mu */
} g = {
    .mu = PTHREAD_MUTEX_INITIALIZER,
    .once = PTHREAD_ONCE_INIT,
    .reg_mu = PTHREAD_MUTEX_INITIALIZER,
    .nnodes = 1,
};

/* ---- size classes, defaults, profiles ------------------------------------------ */

static const uint32_t class_sizes[RM_SLAB_NUM_CLASSES] = {64, 128, 192, 256, 384, 512, 1024, 2048, 4096};
static const uint32_t class_defaults[RM_SLAB_NUM_CLASSES] = {128, 128, 128, 96, 96, 64, 64, 16, 64};
static const uint32_t role_class[RM_SLAB_ROLE_COUNT] = {64, 256, 512, 2048};
static const char *const role_knob[RM_SLAB_ROLE_COUNT] = {
    "slab.lock_entry_magazine", "slab.small_row_magazine",
    "slab.medium_row_magazine", "slab.index_node_magazine"};

size_t
rm_slab_class_size(unsigned index)
{
    return index < RM_SLAB_NUM_CLASSES ? class_sizes[index] : 0;
}

int
rm_slab_class_index(size_t size)
{
    if (size == 0 || size > RM_SLAB_MAX_SIZE)
        return -1;
    for (int i = 0; i < RM_SLAB_NUM_CLASSES; i++)
        if (size <= class_sizes[i])
            return i;
    return -1;
}

size_t
rm_slab_size_class(size_t size)
{
    int i = rm_slab_class_index(size);
    return i < 0 ? 0 : class_sizes[i];
}

static int
exact_class_index(size_t class_size)
{
    int i = rm_slab_class_index(class_size);
    return (i >= 0 && class_sizes[i] == class_size) ? i : -1;
}

size_t
rm_slab_role_class(rm_slab_role_t role)
{
    return (unsigned)role < RM_SLAB_ROLE_COUNT ? role_class[role] : 0;
}

const char *
rm_slab_role_knob(rm_slab_role_t role)
{
    return (unsigned)role < RM_SLAB_ROLE_COUNT ? role_knob[role] : NULL;
}

uint32_t
rm_slab_default_magazine(size_t class_size)
{
    int i = exact_class_index(class_size);
    return i < 0 ? 0 : class_defaults[i];
}

rm_status_t
rm_slab_profile_magazine(rm_slab_profile_t profile, size_t class_size, uint32_t *out)
{
    uint32_t v = rm_slab_default_magazine(class_size);
    if (v == 0 || !out)
        return RM_EINVAL;
    switch (profile) {
    case RM_SLAB_PROFILE_DEFAULT:
        break;
    case RM_SLAB_PROFILE_OLTP:
        if (class_size == 64)
            v = 256;
        break;
    case RM_SLAB_PROFILE_ROW_HEAVY:
        if (class_size == 256)
            v = 128;
        else if (class_size == 512)
            v = 64;
        break;
    case RM_SLAB_PROFILE_INDEX_HEAVY:
        if (class_size == 2048)
            v = 32;
        break;
    default:
        return RM_EINVAL;
    }
    *out = v;
    return RM_OK;
}

const char *
rm_slab_profile_name(rm_slab_profile_t profile)
{
    switch (profile) {
    case RM_SLAB_PROFILE_DEFAULT: return "default";
    case RM_SLAB_PROFILE_OLTP: return "oltp";
    case RM_SLAB_PROFILE_ROW_HEAVY: return "row_heavy";
    case RM_SLAB_PROFILE_INDEX_HEAVY: return "index_heavy";
    }
    return NULL;
}

/* ---- process-wide set-up ---------------------------------------------------- */

static void thread_exit(void *arg);

static void
global_init(void)
{
    g.key_ok = pthread_key_create(&g.key, thread_exit) == 0;
#ifdef RM_HAVE_NUMA
    if (numa_available() >= 0) {
        int maxnode = numa_max_node();
        int ncpus = numa_num_configured_cpus();
        uint16_t *map = ncpus > 0 ? calloc((size_t)ncpus, sizeof *map) : NULL;
        if (map) {
            for (int cpu = 0; cpu < ncpus; cpu++) {
                int nd = numa_node_of_cpu(cpu);
                if (nd < 0)
                    nd = 0;
                if (nd >= RM_SLAB_MAX_NODES)
                    nd = RM_SLAB_MAX_NODES - 1;
                map[cpu] = (uint16_t)nd;
            }
            g.cpu_node = map;
            g.ncpus = ncpus;
            g.numa = 1;
            g.nnodes = (uint32_t)(maxnode + 1 > RM_SLAB_MAX_NODES ? RM_SLAB_MAX_NODES : maxnode + 1);
        }
    }
#endif
}

int
rm_slab_numa_available(void)
{
    pthread_once(&g.once, global_init);
    return g.numa;
}

/* Depot index of the CPU the caller runs on. */
static unsigned
cur_node(const rm_slab_cache_t *c)
{
    if (c->nnodes <= 1)
        return 0;
    int cpu = sched_getcpu();
    if (cpu < 0 || cpu >= g.ncpus)
        return 0;
    unsigned nd = g.cpu_node[cpu];
    return nd < c->nnodes ? nd : 0;
}

/* ---- accounting registration (refcounted, one "slab" component) -------------- */

static void report_all(void *ctx, rm_component_usage_t *out);

static rm_status_t
reg_ref(void)
{
    rm_status_t st = RM_OK;
    pthread_mutex_lock(&g.reg_mu);
    if (g.reg_refs == 0)
        st = rm_stats_register("slab", report_all, NULL, &g.reg);
    if (st == RM_OK)
        g.reg_refs++;
    pthread_mutex_unlock(&g.reg_mu);
    return st;
}

static void
reg_unref(void)
{
    pthread_mutex_lock(&g.reg_mu);
    if (--g.reg_refs == 0) {
        rm_stats_unregister(g.reg);
        g.reg = NULL;
    }
    pthread_mutex_unlock(&g.reg_mu);
}

/* ---- debug slab registry (foreign-pointer detection) ------------------------- */

static size_t
dbg_hash(uintptr_t v, size_t cap)
{
    return (size_t)((v / RM_SLAB_SLAB_BYTES) * 0x9E3779B97F4A7C15ull) & (cap - 1);
}

static int
dbg_insert_raw(uintptr_t *tab, size_t cap, uintptr_t v)
{
    for (size_t i = dbg_hash(v, cap);; i = (i + 1) & (cap - 1))
        if (tab[i] <= 1) {
            int fresh = tab[i] == 0;
            tab[i] = v;
            return fresh;
        }
}

/* Returns 0, or -1 when the table cannot grow (nothing changed). */
static int
dbg_add(rm_slab_cache_t *c, uintptr_t base)
{
    int rc = 0;
    pthread_mutex_lock(&c->dbg_mu);
    if ((c->dbg_used + 1) * 2 > c->dbg_cap) {
        size_t ncap = c->dbg_cap ? c->dbg_cap * 2 : 64;
        uintptr_t *nt = calloc(ncap, sizeof *nt);
        if (!nt) {
            rc = -1;
            goto out;
        }
        size_t used = 0;
        for (size_t i = 0; i < c->dbg_cap; i++)
            if (c->dbg_tab[i] > 1) {
                dbg_insert_raw(nt, ncap, c->dbg_tab[i]);
                used++;
            }
        free(c->dbg_tab);
        c->dbg_tab = nt;
        c->dbg_cap = ncap;
        c->dbg_used = used;
    }
    if (dbg_insert_raw(c->dbg_tab, c->dbg_cap, base))
        c->dbg_used++;
out:
    pthread_mutex_unlock(&c->dbg_mu);
    return rc;
}

static void
dbg_del(rm_slab_cache_t *c, uintptr_t base)
{
    pthread_mutex_lock(&c->dbg_mu);
    if (c->dbg_cap)
        for (size_t i = dbg_hash(base, c->dbg_cap); c->dbg_tab[i] != 0; i = (i + 1) & (c->dbg_cap - 1))
            if (c->dbg_tab[i] == base) {
                c->dbg_tab[i] = 1;
                break;
            }
    pthread_mutex_unlock(&c->dbg_mu);
}

/* dbg_mu held. */
static int
dbg_has_locked(rm_slab_cache_t *c, uintptr_t base)
{
    RM_ASSERT_LOCKED(&c->dbg_mu);
    if (c->dbg_cap)
        for (size_t i = dbg_hash(base, c->dbg_cap); c->dbg_tab[i] != 0; i = (i + 1) & (c->dbg_cap - 1))
            if (c->dbg_tab[i] == base)
                return 1;
    return 0;
}

static inline slab_hdr_t *
slab_of(const void *p)
{
    return (slab_hdr_t *)((uintptr_t)p & ~(uintptr_t)(RM_SLAB_SLAB_BYTES - 1));
}

/* Debug: mark p live; fill and annotate. */
static void
dbg_on_alloc(rm_slab_cache_t *c, void *p)
{
    slab_hdr_t *s = slab_of(p);
    size_t i = (size_t)((char *)p - s->objs) / c->size;
    __atomic_fetch_or(&s->live[i / 64], 1ull << (i % 64), __ATOMIC_RELAXED);
    VALGRIND_MEMPOOL_ALLOC(c, p, c->size);
    memset(p, RM_FILL_ALLOC, c->size);
}

/*
 * Debug: returns 1 when p may be freed (and fills it), 0 for a foreign
 * pointer or a double free (counted; nothing else changes). The registry
 * lock is held across the header checks so a concurrent reap cannot unmap
 * the slab between "registered" and "read its header".
 */
static int
dbg_on_free(rm_slab_cache_t *c, void *p)
{
    slab_hdr_t *s = slab_of(p);
    int verdict = 1;   /* 1 ok, 0 foreign, -1 double free */
    pthread_mutex_lock(&c->dbg_mu);
    if (!dbg_has_locked(c, (uintptr_t)s) || s->magic != RM_SLAB_MAGIC || s->cache != c ||
        (char *)p < s->objs) {
        verdict = 0;
    } else {
        size_t off = (size_t)((char *)p - s->objs);
        if (off % c->size || off / c->size >= s->nobjs) {
            verdict = 0;
        } else {
            size_t i = off / c->size;
            uint64_t bit = 1ull << (i % 64);
            uint64_t old = __atomic_fetch_and(&s->live[i / 64], ~bit, __ATOMIC_RELAXED);
            if (!(old & bit))
                verdict = -1;
        }
    }
    pthread_mutex_unlock(&c->dbg_mu);
    if (verdict == 0) {
        ADD(c->foreign_frees, 1);
        return 0;
    }
    if (verdict < 0) {
        ADD(c->double_frees, 1);
        return 0;
    }
    memset(p, RM_FILL_FREE, c->size);
    VALGRIND_MEMPOOL_FREE(c, p);
    return 1;
}

/* ---- magazines ------------------------------------------------------------ */

/* A fresh empty magazine from the cache's chunks; NULL when no memory. */
static mag_t *
mag_new(rm_slab_cache_t *c)
{
    mag_t *m = NULL;
    pthread_mutex_lock(&c->mag_mu);
    if (c->chunk_left == 0) {
        void *p = c->src->methods->map(c->src->ctx, RM_MAG_CHUNK_BYTES, rm_page_size(), -1, 0, NULL);
        if (!p)
            goto out;
        mag_chunk_t *ch = p;
        ch->next = c->chunks;
        ch->bytes = RM_MAG_CHUNK_BYTES;
        c->chunks = ch;
        size_t first = rm__align_up(sizeof *ch, RM_CACHELINE);
        c->chunk_cur = (char *)p + first;
        c->chunk_left = (RM_MAG_CHUNK_BYTES - first) / sizeof(mag_t);
        STORE(c->chunk_bytes, c->chunk_bytes + RM_MAG_CHUNK_BYTES);
    }
    m = (mag_t *)c->chunk_cur;
    c->chunk_cur += sizeof(mag_t);
    c->chunk_left--;
    m->next = NULL;
    m->n = 0;
out:
    pthread_mutex_unlock(&c->mag_mu);
    return m;
}

/* ---- slabs ---------------------------------------------------------------- */

static void
list_del_locked(node_t *d, slab_hdr_t *s)
{
    RM_ASSERT_LOCKED(&d->mu);
    RM_DLIST_UNLINK(d->lists[s->list], s, prev, next);
    s->prev = s->next = NULL;
    s->list = LIST_NONE;
}

static void
list_add_locked(node_t *d, slab_hdr_t *s, int list)
{
    RM_ASSERT_LOCKED(&d->mu);
    s->list = (uint8_t)list;
    RM_DLIST_PUSH(d->lists[list], s, prev, next);
}

/* Put s on the list its fill level calls for. */
static void
relist_locked(node_t *d, slab_hdr_t *s)
{
    RM_ASSERT_LOCKED(&d->mu);
    int want = s->nfree == 0 ? LIST_FULL : s->nfree == s->nobjs ? LIST_EMPTY : LIST_PARTIAL;
    if (s->list != want) {
        list_del_locked(d, s);
        list_add_locked(d, s, want);
    }
}

/* Map and initialise a slab for node `node`; not yet on a list. NULL when the
 * page source fails (nothing changed). */
static slab_hdr_t *
slab_new(rm_slab_cache_t *c, unsigned node)
{
    unsigned flags = g.numa ? RM_PAGES_NODE_LOCAL : 0;
    void *p = c->src->methods->map(c->src->ctx, RM_SLAB_SLAB_BYTES, RM_SLAB_SLAB_BYTES,
                                   g.numa ? (int)node : -1, flags, NULL);
    if (!p)
        return NULL;
    if (config_debug && dbg_add(c, (uintptr_t)p) != 0) {
        c->src->methods->unmap(c->src->ctx, p, RM_SLAB_SLAB_BYTES);
        return NULL;
    }
    slab_hdr_t *s = p;
    memset(s, 0, c->hdr_bytes);
    s->magic = RM_SLAB_MAGIC;
    s->cache = c;
    s->objs = (char *)p + c->hdr_bytes;
    s->nobjs = c->nobjs;
    s->nfree = c->nobjs;
    s->node = (uint16_t)node;
    RM_POISON(s->objs, (size_t)c->nobjs * c->size);
    if (config_debug)
        VALGRIND_MAKE_MEM_NOACCESS(s->objs, (size_t)c->nobjs * c->size);
    return s;
}

static void
slab_unmap(rm_slab_cache_t *c, slab_hdr_t *s)
{
    if (config_debug)
        dbg_del(c, (uintptr_t)s);
    RM_UNPOISON(s, RM_SLAB_SLAB_BYTES);
    c->src->methods->unmap(c->src->ctx, s, RM_SLAB_SLAB_BYTES);
}

/* Take up to `want` objects from node d's slabs into out[]; returns how many. */
static uint32_t
take_locked(rm_slab_cache_t *c, node_t *d, void **out, uint32_t want)
{
    RM_ASSERT_LOCKED(&d->mu);
    uint32_t got = 0;
    while (got < want) {
        slab_hdr_t *s = d->lists[LIST_PARTIAL] ? d->lists[LIST_PARTIAL] : d->lists[LIST_EMPTY];
        if (!s)
            break;
        while (got < want && s->nfree) {
            void *o;
            if (s->free) {
                o = s->free;
                FL_OPEN(o);
                s->free = *(void **)o;
                FL_CLOSE(o);
            } else {
                o = s->objs + (size_t)s->ncarved++ * c->size;
            }
            s->nfree--;
            out[got++] = o;
        }
        relist_locked(d, s);
    }
    d->objects_out += got;
    return got;
}

/* Return n objects to their slabs (any node). Takes node locks one at a time. */
static void
give_back(rm_slab_cache_t *c, void *const *objs, uint32_t n)
{
    node_t *held = NULL;
    for (uint32_t i = 0; i < n; i++) {
        void *o = objs[i];
        slab_hdr_t *s = slab_of(o);
        node_t *d = &c->nodes[s->node];
        if (d != held) {
            if (held)
                pthread_mutex_unlock(&held->mu);
            pthread_mutex_lock(&d->mu);
            held = d;
        }
        FL_OPEN(o);
        *(void **)o = s->free;
        FL_CLOSE(o);
        s->free = o;
        s->nfree++;
        d->objects_out--;
        if (s->nfree == 1 || s->nfree == s->nobjs)
            relist_locked(d, s);
    }
    if (held)
        pthread_mutex_unlock(&held->mu);
}

/* Park magazine m in depot `nd`: empty list, full list, or (depot saturated)
 * emptied into its slabs and then parked empty. */
static void
depot_put(rm_slab_cache_t *c, unsigned nd, mag_t *m)
{
    node_t *d = &c->nodes[nd];
    pthread_mutex_lock(&d->mu);
    if (m->n > 0 && d->nfull >= RM_DEPOT_MAX_FULL) {
        d->flushes++;
        pthread_mutex_unlock(&d->mu);
        give_back(c, m->objs, m->n);
        m->n = 0;
        pthread_mutex_lock(&d->mu);
    }
    if (m->n > 0) {
        m->next = d->full;
        d->full = m;
        d->nfull++;
        d->full_objs += m->n;
        d->depot_puts++;
    } else {
        m->next = d->empty;
        d->empty = m;
        d->nempty++;
    }
    pthread_mutex_unlock(&d->mu);
}

/* An empty magazine from depot nd, or a new one; NULL when none can be had. */
static mag_t *
depot_get_empty(rm_slab_cache_t *c, unsigned nd)
{
    node_t *d = &c->nodes[nd];
    pthread_mutex_lock(&d->mu);
    mag_t *m = d->empty;
    if (m) {
        d->empty = m->next;
        d->nempty--;
    }
    pthread_mutex_unlock(&d->mu);
    return m ? m : mag_new(c);
}

/* ---- per-thread attach/detach ------------------------------------------------ */

static inline mag_t *
loaded_of(tc_t *tc)
{
    return (mag_t *)((char *)tc->objs - offsetof(mag_t, objs));
}

/* Give tc's magazines back and fold its counters into c. g.mu held. */
static void
tc_detach_locked(rm_slab_cache_t *c, tc_t *tc)
{
    RM_ASSERT_LOCKED(&g.mu);
    if (!tc->cache)
        return;
    unsigned nd = cur_node(c);
    mag_t *l = loaded_of(tc);
    l->n = tc->n;
    depot_put(c, nd, l);
    depot_put(c, nd, tc->prev);
    ADD(c->ret_allocs, tc->allocs);
    ADD(c->ret_frees, tc->frees);
    ADD(c->ret_misses, tc->misses);
    c->threads--;
    memset(tc, 0, sizeof *tc);
}

/* Give this thread's magazines their cache: two empty magazines, the current
 * capacity, and the thread on g.threads. RM_ENOMEM (no magazine memory) or
 * RM_ELIMIT (no thread-exit key) with nothing changed; the caller then works
 * straight on the slabs. */
static rm_status_t
tc_attach(rm_slab_cache_t *c, tc_t *tc)
{
    rm_status_t st = RM_OK;
    pthread_mutex_lock(&g.mu);
    if (tc->cache == c)
        goto out;
    if (!g.key_ok) {
        /* without the exit hook the thread could not be unlinked: no magazines */
        st = RM_ELIMIT;
        goto out;
    }
    unsigned nd = cur_node(c);
    mag_t *a = depot_get_empty(c, nd);
    mag_t *b = a ? depot_get_empty(c, nd) : NULL;
    if (!b) {
        if (a)
            depot_put(c, nd, a);
        st = RM_ENOMEM;
        goto out;
    }
    if (!tls.registered) {
        tls.registered = 1;
        RM_DLIST_PUSH(g.threads, &tls, prev, next);
        pthread_setspecific(g.key, &tls);
    }
    memset(tc, 0, sizeof *tc);
    tc->objs = a->objs;
    tc->prev = b;
    tc->cache = c;
    STORE(tc->cap, LOAD(c->cap));
    c->threads++;
out:
    pthread_mutex_unlock(&g.mu);
    return st;
}

static void
thread_exit(void *arg)
{
    tstate_t *ts = arg;
    pthread_mutex_lock(&g.mu);
    for (int i = 0; i < RM_SLAB_MAX_CACHES; i++)
        if (ts->tc[i].cache)
            tc_detach_locked(ts->tc[i].cache, &ts->tc[i]);
    if (ts->registered) {
        RM_DLIST_UNLINK(g.threads, ts, prev, next);
        ts->registered = 0;
    }
    pthread_mutex_unlock(&g.mu);
}

void
rm_slab_cache_thread_flush(rm_slab_cache_t *c)
{
    if (!c)
        return;
    pthread_mutex_lock(&g.mu);
    tc_detach_locked(c, &tls.tc[c->slot]);
    pthread_mutex_unlock(&g.mu);
}

/* ---- alloc / free ------------------------------------------------------------ */

/* One object straight from the slabs, for a thread that has no magazines
 * (none could be mapped). NULL when no slab can be had either. */
static void *
alloc_direct(rm_slab_cache_t *c)
{
    void *p = NULL;
    unsigned nd = cur_node(c);
    node_t *d = &c->nodes[nd];
    pthread_mutex_lock(&d->mu);
    if (take_locked(c, d, &p, 1) == 0) {
        pthread_mutex_unlock(&d->mu);
        slab_hdr_t *s = slab_new(c, nd);
        if (!s)
            return NULL;
        pthread_mutex_lock(&d->mu);
        list_add_locked(d, s, LIST_EMPTY);
        d->slabs++;
        (void)take_locked(c, d, &p, 1);
    }
    pthread_mutex_unlock(&d->mu);
    ADD(c->ret_allocs, 1);
    RM_UNPOISON(p, c->size);
    if (config_debug)
        dbg_on_alloc(c, p);
    return p;
}

/* Hand out the top object of the thread's magazine, which holds n > 0: the
 * end of both the fast path and the slow path of rm_slab_alloc. */
static inline __attribute__((always_inline)) void *
tc_pop(rm_slab_cache_t *c, tc_t *tc, uint32_t n)
{
    void *p = tc->objs[--n];
    STORE(tc->n, n);
    BUMP(tc->allocs);
    RM_UNPOISON(p, c->size);
    if (config_debug)
        dbg_on_alloc(c, p);
    return p;
}

static __attribute__((noinline)) void *
alloc_slow(rm_slab_cache_t *c, tc_t *tc)
{
    if (!tc->cache && tc_attach(c, tc) != RM_OK) {
        void *p = alloc_direct(c);
        if (!p)
            ADD(c->alloc_failures, 1);
        return p;
    }
    BUMP(tc->misses);
    uint32_t n = tc->n;
    if (n == 0 && tc->prev->n > 0) {
        mag_t *l = loaded_of(tc);
        l->n = 0;
        mag_t *p = tc->prev;
        tc->prev = l;
        STORE(tc->prev_n, 0);
        tc->objs = p->objs;
        n = p->n;
    }
    if (n == 0) {
        unsigned nd = cur_node(c);
        node_t *d = &c->nodes[nd];
        pthread_mutex_lock(&d->mu);
        mag_t *m = d->full;
        if (m) {
            d->full = m->next;
            d->nfull--;
            d->full_objs -= m->n;
            d->depot_gets++;
            mag_t *l = loaded_of(tc);
            l->n = 0;
            l->next = d->empty;
            d->empty = l;
            d->nempty++;
            tc->objs = m->objs;
            n = m->n;
        } else {
            uint32_t want = LOAD(tc->cap);
            n = take_locked(c, d, tc->objs, want);
            if (n == 0) {
                pthread_mutex_unlock(&d->mu);
                slab_hdr_t *s = slab_new(c, nd);
                if (!s) {
                    ADD(c->alloc_failures, 1);
                    return NULL;
                }
                pthread_mutex_lock(&d->mu);
                list_add_locked(d, s, LIST_EMPTY);
                d->slabs++;
                n = take_locked(c, d, tc->objs, want);
            }
            d->refills++;
        }
        pthread_mutex_unlock(&d->mu);
    }
    return tc_pop(c, tc, n);
}

void *
rm_slab_alloc(rm_slab_cache_t *c)
{
    tc_t *tc = &tls.tc[c->slot];
    uint32_t n = tc->n;
    if (RM_LIKELY(n != 0))
        return tc_pop(c, tc, n);
    return alloc_slow(c, tc);
}

static __attribute__((noinline)) void
free_slow(rm_slab_cache_t *c, tc_t *tc, void *p)
{
    if (!tc->cache && tc_attach(c, tc) != RM_OK) {
        /* No magazine to be had: straight back to the slab. */
        give_back(c, &p, 1);
        ADD(c->ret_frees, 1);
        return;
    }
    BUMP(tc->misses);
    uint32_t n = tc->n;
    if (n >= LOAD(tc->cap)) {
        mag_t *l = loaded_of(tc);
        l->n = n;
        if (tc->prev->n == 0) {
            /* swap: the empty previous magazine becomes the loaded one */
            mag_t *e = tc->prev;
            tc->prev = l;
            STORE(tc->prev_n, l->n);
            tc->objs = e->objs;
        } else {
            /* park the previous (full) magazine, take an empty one */
            unsigned nd = cur_node(c);
            node_t *d = &c->nodes[nd];
            mag_t *full = tc->prev;
            mag_t *e = NULL;
            pthread_mutex_lock(&d->mu);
            if (d->nfull < RM_DEPOT_MAX_FULL) {
                e = d->empty;
                if (e) {
                    d->empty = e->next;
                    d->nempty--;
                } else {
                    e = mag_new(c);
                }
                if (e) {
                    full->next = d->full;
                    d->full = full;
                    d->nfull++;
                    d->full_objs += full->n;
                    d->depot_puts++;
                }
            }
            if (!e)
                d->flushes++;
            pthread_mutex_unlock(&d->mu);
            if (!e) {
                give_back(c, full->objs, full->n);
                full->n = 0;
                e = full;
            }
            tc->prev = l;
            STORE(tc->prev_n, l->n);
            tc->objs = e->objs;
        }
        n = 0;
    }
    RM_POISON(p, c->size);
    tc->objs[n] = p;
    STORE(tc->n, n + 1);
    BUMP(tc->frees);
}

void
rm_slab_free(rm_slab_cache_t *c, void *p)
{
    if (RM_UNLIKELY(p == NULL))
        return;
    if (config_debug && !dbg_on_free(c, p))
        return;
    tc_t *tc = &tls.tc[c->slot];
    uint32_t n = tc->n;
    if (RM_LIKELY(n < LOAD(tc->cap))) {
        RM_POISON(p, c->size);
        tc->objs[n] = p;
        STORE(tc->n, n + 1);
        BUMP(tc->frees);
        return;
    }
    free_slow(c, tc, p);
}

rm_slab_cache_t *
rm_slab_cache_of(const void *p)
{
    return p ? slab_of(p)->cache : NULL;
}

size_t
rm_slab_cache_object_size(const rm_slab_cache_t *c)
{
    return c ? c->size : 0;
}

const char *
rm_slab_cache_name(const rm_slab_cache_t *c)
{
    return c ? c->name : NULL;
}

/* ---- create / destroy -------------------------------------------------------- */

rm_status_t
rm_slab_cache_create(size_t object_size, const char *name, const rm_pagesrc_t *src,
                     rm_slab_cache_t **out)
{
    int ci = rm_slab_class_index(object_size);
    if (ci < 0 || !out)
        return RM_EINVAL;
    pthread_once(&g.once, global_init);

    rm_status_t st = reg_ref();
    if (st != RM_OK)
        return st;

    rm_slab_cache_t *c = NULL;
    if (posix_memalign((void **)&c, RM_CACHELINE, sizeof *c) != 0) {
        st = RM_ENOMEM;
        goto fail_reg;
    }
    memset(c, 0, sizeof *c);
    uint32_t size = class_sizes[ci];
    size_t align = rm__is_pow2(size) ? size : RM_CACHELINE;
    size_t maxobjs = RM_SLAB_SLAB_BYTES / size;
    size_t hdr = sizeof(slab_hdr_t) + (maxobjs + 63) / 64 * sizeof(uint64_t);
    c->size = size;
    c->hdr_bytes = (uint32_t)rm__align_up(hdr, align);
    c->nobjs = (RM_SLAB_SLAB_BYTES - c->hdr_bytes) / size;
    c->cap = class_defaults[ci];
    c->src = src ? src : rm_pagesrc_default();
    c->nnodes = g.nnodes;
    if (name && *name)
        snprintf(c->name, sizeof c->name, "%s", name);
    else
        snprintf(c->name, sizeof c->name, "slab-%u", size);
    pthread_mutex_init(&c->mag_mu, NULL);
    pthread_mutex_init(&c->dbg_mu, NULL);
    for (unsigned i = 0; i < RM_SLAB_MAX_NODES; i++)
        pthread_mutex_init(&c->nodes[i].mu, NULL);

    pthread_mutex_lock(&g.mu);
    int slot = -1;
    for (int i = 0; i < RM_SLAB_MAX_CACHES; i++)
        if (!g.caches[i]) {
            slot = i;
            break;
        }
    if (slot < 0) {
        pthread_mutex_unlock(&g.mu);
        st = RM_ELIMIT;
        goto fail_free;
    }
    c->slot = (uint32_t)slot;
    g.caches[slot] = c;
    pthread_mutex_unlock(&g.mu);

    if (config_debug)
        VALGRIND_CREATE_MEMPOOL(c, 0, 0);
    *out = c;
    return RM_OK;

fail_free:
    for (unsigned i = 0; i < RM_SLAB_MAX_NODES; i++)
        pthread_mutex_destroy(&c->nodes[i].mu);
    pthread_mutex_destroy(&c->dbg_mu);
    pthread_mutex_destroy(&c->mag_mu);
    free(c);
fail_reg:
    reg_unref();
    return st;
}

void
rm_slab_cache_destroy(rm_slab_cache_t *c)
{
    if (!c)
        return;
    pthread_mutex_lock(&g.mu);
    /* Other threads' magazines die with the chunks below; only forget them. */
    for (tstate_t *ts = g.threads; ts; ts = ts->next) {
        tc_t *tc = &ts->tc[c->slot];
        if (tc->cache == c) {
            STORE(tc->cap, 0);
            STORE(tc->n, 0);
            tc->objs = NULL;
            tc->prev = NULL;
            tc->cache = NULL;
        }
    }
    g.caches[c->slot] = NULL;
    pthread_mutex_unlock(&g.mu);

    for (unsigned i = 0; i < RM_SLAB_MAX_NODES; i++) {
        node_t *d = &c->nodes[i];
        /* no other thread can reach c any more; the lock is for the
         * _locked contract (RM_ASSERT_LOCKED), uncontended */
        pthread_mutex_lock(&d->mu);
        for (int l = LIST_PARTIAL; l <= LIST_EMPTY; l++)
            while (d->lists[l]) {
                slab_hdr_t *s = d->lists[l];
                list_del_locked(d, s);
                slab_unmap(c, s);
            }
        pthread_mutex_unlock(&d->mu);
        pthread_mutex_destroy(&d->mu);
    }
    while (c->chunks) {
        mag_chunk_t *ch = c->chunks;
        c->chunks = ch->next;
        c->src->methods->unmap(c->src->ctx, ch, ch->bytes);
    }
    if (config_debug)
        VALGRIND_DESTROY_MEMPOOL(c);
    free(c->dbg_tab);
    pthread_mutex_destroy(&c->dbg_mu);
    pthread_mutex_destroy(&c->mag_mu);
    free(c);
    reg_unref();
}

/* ---- tuning ------------------------------------------------------------------- */

rm_status_t
rm_slab_cache_set_magazine_capacity(rm_slab_cache_t *c, uint32_t capacity)
{
    if (!c || capacity < RM_SLAB_MAGAZINE_MIN || capacity > RM_SLAB_MAGAZINE_MAX)
        return RM_EINVAL;
    pthread_mutex_lock(&g.mu);
    STORE(c->cap, capacity);
    for (tstate_t *ts = g.threads; ts; ts = ts->next)
        if (ts->tc[c->slot].cache == c)
            STORE(ts->tc[c->slot].cap, capacity);
    pthread_mutex_unlock(&g.mu);
    return RM_OK;
}

uint32_t
rm_slab_cache_magazine_capacity(const rm_slab_cache_t *c)
{
    return c ? LOAD(c->cap) : 0;
}

/* ---- reap --------------------------------------------------------------------- */

rm_status_t
rm_slab_cache_reap(rm_slab_cache_t *c, uint64_t *released_bytes)
{
    if (!c)
        return RM_EINVAL;
    uint64_t released = 0;
    for (unsigned i = 0; i < c->nnodes; i++) {
        node_t *d = &c->nodes[i];
        /* 1. empty the parked full magazines into their slabs */
        pthread_mutex_lock(&d->mu);
        mag_t *full = d->full;
        d->full = NULL;
        d->nfull = 0;
        d->full_objs = 0;
        pthread_mutex_unlock(&d->mu);
        while (full) {
            mag_t *m = full;
            full = m->next;
            give_back(c, m->objs, m->n);
            m->n = 0;
            pthread_mutex_lock(&d->mu);
            d->flushes++;
            m->next = d->empty;
            d->empty = m;
            d->nempty++;
            pthread_mutex_unlock(&d->mu);
        }
        /* 2. unmap empty slabs (outside the lock) */
        pthread_mutex_lock(&d->mu);
        slab_hdr_t *empties = d->lists[LIST_EMPTY];
        d->lists[LIST_EMPTY] = NULL;
        uint64_t k = 0;
        for (slab_hdr_t *s = empties; s; s = s->next)
            k++;
        d->slabs -= k;
        d->reaped += k;
        pthread_mutex_unlock(&d->mu);
        while (empties) {
            slab_hdr_t *s = empties;
            empties = s->next;
            slab_unmap(c, s);
            released += RM_SLAB_SLAB_BYTES;
        }
    }
    if (released_bytes)
        *released_bytes = released;
    return RM_OK;
}

/* ---- statistics ------------------------------------------------------------- */

/* Sum c's counters into *out. g.mu held. */
static void
stats_locked(rm_slab_cache_t *c, rm_slab_stats_t *out)
{
    RM_ASSERT_LOCKED(&g.mu);
    memset(out, 0, sizeof *out);
    snprintf(out->name, sizeof out->name, "%s", c->name);
    out->object_size = c->size;
    out->magazine_capacity = LOAD(c->cap);
    out->numa_available = g.numa;
    out->nodes = c->nnodes;
    out->threads = c->threads;

    /* frees first: a free counted here had its alloc counted before it */
    uint64_t frees = LOAD(c->ret_frees), allocs, misses = LOAD(c->ret_misses), cached = 0;
    for (tstate_t *ts = g.threads; ts; ts = ts->next) {
        tc_t *tc = &ts->tc[c->slot];
        if (tc->cache == c)
            frees += LOAD(tc->frees);
    }
    allocs = LOAD(c->ret_allocs);
    for (tstate_t *ts = g.threads; ts; ts = ts->next) {
        tc_t *tc = &ts->tc[c->slot];
        if (tc->cache == c) {
            allocs += LOAD(tc->allocs);
            misses += LOAD(tc->misses);
            cached += LOAD(tc->n) + LOAD(tc->prev_n);
        }
    }
    out->allocs = allocs;
    out->frees = frees;
    out->active_objects = allocs > frees ? allocs - frees : 0;
    out->bytes_in_use = out->active_objects * c->size;
    out->magazine_misses = misses;
    out->magazine_hits = allocs + frees > misses ? allocs + frees - misses : 0;
    out->magazine_hit_ratio = out->magazine_hits + misses
        ? (double)out->magazine_hits / (double)(out->magazine_hits + misses) : 1.0;
    out->alloc_failures = LOAD(c->alloc_failures);
    out->double_frees = LOAD(c->double_frees);
    out->foreign_frees = LOAD(c->foreign_frees);

    for (unsigned i = 0; i < c->nnodes; i++) {
        node_t *d = &c->nodes[i];
        rm_slab_node_stats_t *ns = &out->node[i];
        pthread_mutex_lock(&d->mu);
        ns->node = (int)i;
        ns->slabs = d->slabs;
        ns->objects_out = d->objects_out;
        ns->depot_full = d->nfull;
        ns->depot_empty = d->nempty;
        ns->depot_gets = d->depot_gets;
        ns->depot_puts = d->depot_puts;
        cached += d->full_objs;
        out->slab_refills += d->refills;
        out->slab_flushes += d->flushes;
        out->reaped_slabs += d->reaped;
        pthread_mutex_unlock(&d->mu);
        ns->bytes_held = ns->slabs * RM_SLAB_SLAB_BYTES;
        out->slabs += ns->slabs;
        out->depot_gets += ns->depot_gets;
        out->depot_puts += ns->depot_puts;
    }
    out->cached_objects = cached;
    uint64_t slab_bytes = out->slabs * RM_SLAB_SLAB_BYTES;
    out->object_bytes_held = out->slabs * (uint64_t)c->nobjs * c->size;
    out->metadata_bytes = (slab_bytes - out->object_bytes_held) + LOAD(c->chunk_bytes) +
                          (uint64_t)c->threads * sizeof(tc_t) + sizeof *c;
    out->bytes_held = out->object_bytes_held + out->metadata_bytes;
}

rm_status_t
rm_slab_cache_stats(rm_slab_cache_t *c, rm_slab_stats_t *out)
{
    if (!c || !out)
        return RM_EINVAL;
    pthread_mutex_lock(&g.mu);
    stats_locked(c, out);
    pthread_mutex_unlock(&g.mu);
    return RM_OK;
}

static void
report_all(void *ctx, rm_component_usage_t *out)
{
    (void)ctx;
    rm_slab_stats_t st;
    pthread_mutex_lock(&g.mu);
    for (int i = 0; i < RM_SLAB_MAX_CACHES; i++)
        if (g.caches[i]) {
            stats_locked(g.caches[i], &st);
            out->used_bytes += st.bytes_in_use;
            out->held_bytes += st.bytes_held;
        }
    pthread_mutex_unlock(&g.mu);
}

/* ---- the per-class set ------------------------------------------------------ */

rm_status_t
rm_slab_create(const rm_pagesrc_t *src, rm_slab_t **out)
{
    const rm_pagesrc_t *srcs[RM_SLAB_NUM_CLASSES];
    for (unsigned i = 0; i < RM_SLAB_NUM_CLASSES; i++)
        srcs[i] = src;
    return rm_slab_create_sources(srcs, out);
}

rm_status_t
rm_slab_create_sources(const rm_pagesrc_t *const src[RM_SLAB_NUM_CLASSES], rm_slab_t **out)
{
    if (!out || !src)
        return RM_EINVAL;
    rm_slab_t *s = calloc(1, sizeof *s);
    if (!s)
        return RM_ENOMEM;
    for (unsigned i = 0; i < RM_SLAB_NUM_CLASSES; i++) {
        rm_status_t st = rm_slab_cache_create(class_sizes[i], NULL, src[i], &s->c[i]);
        if (st != RM_OK) {
            rm_slab_destroy(s);
            return st;
        }
    }
    *out = s;
    return RM_OK;
}

void
rm_slab_destroy(rm_slab_t *s)
{
    if (!s)
        return;
    for (unsigned i = 0; i < RM_SLAB_NUM_CLASSES; i++)
        rm_slab_cache_destroy(s->c[i]);
    free(s);
}

rm_slab_cache_t *
rm_slab_cache_at(rm_slab_t *s, unsigned i)
{
    return s && i < RM_SLAB_NUM_CLASSES ? s->c[i] : NULL;
}

rm_slab_cache_t *
rm_slab_cache_for(rm_slab_t *s, size_t size)
{
    int i = rm_slab_class_index(size);
    return s && i >= 0 ? s->c[i] : NULL;
}

rm_status_t
rm_slab_set_magazine_capacity(rm_slab_t *s, size_t class_size, uint32_t capacity)
{
    int i = exact_class_index(class_size);
    if (!s || i < 0)
        return RM_EINVAL;
    return rm_slab_cache_set_magazine_capacity(s->c[i], capacity);
}

rm_status_t
rm_slab_set_role_magazine(rm_slab_t *s, rm_slab_role_t role, uint32_t capacity)
{
    size_t cls = rm_slab_role_class(role);
    if (cls == 0)
        return RM_EINVAL;
    return rm_slab_set_magazine_capacity(s, cls, capacity);
}

rm_status_t
rm_slab_apply_profile(rm_slab_t *s, rm_slab_profile_t profile)
{
    uint32_t caps[RM_SLAB_NUM_CLASSES];
    if (!s)
        return RM_EINVAL;
    for (unsigned i = 0; i < RM_SLAB_NUM_CLASSES; i++)
        if (rm_slab_profile_magazine(profile, class_sizes[i], &caps[i]) != RM_OK)
            return RM_EINVAL;
    for (unsigned i = 0; i < RM_SLAB_NUM_CLASSES; i++)
        (void)rm_slab_cache_set_magazine_capacity(s->c[i], caps[i]);
    return RM_OK;
}

rm_status_t
rm_slab_stats(rm_slab_t *s, rm_slab_stats_t out[RM_SLAB_NUM_CLASSES])
{
    if (!s || !out)
        return RM_EINVAL;
    for (unsigned i = 0; i < RM_SLAB_NUM_CLASSES; i++)
        rm_slab_cache_stats(s->c[i], &out[i]);
    return RM_OK;
}

rm_status_t
rm_slab_reap(rm_slab_t *s, uint64_t *released_bytes)
{
    if (!s)
        return RM_EINVAL;
    uint64_t total = 0, r;
    for (unsigned i = 0; i < RM_SLAB_NUM_CLASSES; i++) {
        rm_slab_cache_reap(s->c[i], &r);
        total += r;
    }
    if (released_bytes)
        *released_bytes = total;
    return RM_OK;
}

void
rm_slab_thread_flush(rm_slab_t *s)
{
    if (!s)
        return;
    for (unsigned i = 0; i < RM_SLAB_NUM_CLASSES; i++)
        rm_slab_cache_thread_flush(s->c[i]);
}
