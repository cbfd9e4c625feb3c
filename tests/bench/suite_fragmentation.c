/*
 * suite_fragmentation.c — replay a seeded 30-day database churn trace
 * through rustymem, glibc malloc and jemalloc, each in its own child process,
 * and measure fragmentation = 1 − live bytes / resident bytes at the end of
 * every simulated day.
 *
 * Design note (method; docs/adr/0003 repeats it):
 *  - One simulated minute is a tick, 1440 ticks a day. Load follows a daily
 *    cycle f = 0.25 … 1.0 (trough at midnight, peak at noon).
 *  - Streams (all decided by one xorshift generator from --seed, never by
 *    allocator results, so every child replays the identical trace):
 *      table rows/index nodes: 400 000 objects loaded on day 0, then inserts,
 *        deletes of uniformly random rows and updates (free + alloc);
 *      version records / lock entries / page headers: Pareto lifetimes
 *        (alpha 1.2, xm 2 ticks: heavy-tailed);
 *      transactions of every arena profile (Tiny … Huge), lasting 1–60
 *        ticks, 15 % rolling back to a savepoint;
 *      large objects 256 KiB – 64 MiB (log-uniform), Pareto lifetimes
 *        (alpha 1.1, xm 30 ticks);
 *      a bulk load every 7 days (200 MB of 3 MiB buffers for 90 ticks).
 *    Small objects have the seed's class sizes minus 0–6 % (the structs are
 *    designed for their classes); all seed classes are also jemalloc classes.
 *  - Every allocated byte range is written (first/last byte and one byte per
 *    4 KiB page), so resident memory is real.
 *  - live = Σ requested bytes of live objects. resident = RSS (statm) now −
 *    RSS just before the replay, after all bookkeeping arrays of the replay
 *    were allocated and touched. The same method for all three; allocator
 *    metadata (jemalloc's, glibc's headers, rustymem's extent/run headers
 *    which come from malloc) counts as resident, as it should.
 *  - rustymem path: transaction memory in arenas (rm_arena_*), large objects
 *    and bulk buffers in rm_large (threshold 256 KiB), small objects in a
 *    size-class run pool written here (the slab is not available to this
 *    branch): seed classes, runs of 1–16 pages carved from 2 MiB chunks of
 *    the memcore page source, fullest-run-first allocation, empty runs
 *    released to the OS at once (up to 8 cached per class). Huge pages off for
 *    the large allocator (THP would make partially touched 2 MiB pages
 *    resident; the peers do not use THP either).
 *  - glibc: glibc malloc/free (rm_bench_glibc_*: dlsym in libc.so.6); jemalloc: mallocx/sdallocx with its
 *    default configuration (dirty decay 10 s of *real* time — the replay
 *    compresses a day into about a second). No allocator gets an explicit
 *    purge/trim in the main keys; the *_purged_* keys repeat the measurement
 *    after an explicit purge (jemalloc arena purge, glibc malloc_trim,
 *    rustymem release_free/release_cached) for the record.
 */
#include "bench.h"

#include "rustymem/arena.h"
#include "rustymem/large.h"
#include "rustymem/pagesrc.h"
#include "rustymem/stats.h"

#include <jemalloc/jemalloc.h>
#include <malloc.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>


#define TICKS_PER_DAY 1440
#define MAX_OBJS (1u << 21)
#define MAX_TXN 256
#define ITEM_CHUNK 1024
#define N_ITEM_CHUNKS 4096
#define KiB ((size_t)1 << 10)
#define MiB ((size_t)1 << 20)

static const size_t classes[9] = {64, 128, 192, 256, 384, 512, 1024, 2048, 4096};

/* ---- deterministic trace randomness ------------------------------------- */

static uint64_t rng_state;

static uint64_t
rnd(void)
{
    uint64_t x = rng_state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    rng_state = x;
    return x * 0x2545F4914F6CDD1Dull;
}

static double
unif(void)
{
    return (double)(rnd() >> 11) * (1.0 / 9007199254740992.0);
}

static size_t
log_uniform(size_t lo, size_t hi)
{
    return (size_t)exp(log((double)lo) + unif() * (log((double)hi) - log((double)lo)));
}

static double
pareto(double alpha, double xm)
{
    double u = unif();
    if (u < 1e-12)
        u = 1e-12;
    return xm / pow(u, 1.0 / alpha);
}

static int
poisson_count(double mean)
{
    int n = (int)mean;
    if (unif() < mean - n)
        n++;
    return n;
}

/* ---- allocator vtable -------------------------------------------------- */

typedef struct ops {
    const char *name;
    void (*init)(void);
    void *(*small_alloc)(size_t);
    void (*small_free)(void *, size_t);
    void *(*large_alloc)(size_t);
    void (*large_free)(void *, size_t);
    /* transactions: rustymem uses arenas, peers malloc each item */
    int arenas;
    void (*purge)(void);
} ops_t;

/* --- glibc --- */
static void g_init(void) {}
static void *g_alloc(size_t n) { return rm_bench_glibc_malloc(n); }
static void g_free(void *p, size_t n) { (void)n; rm_bench_glibc_free(p); }
static void g_purge(void) { malloc_trim(0); }

/* --- jemalloc --- */
static void j_init(void) {}
static void *j_alloc(size_t n) { return mallocx(n, 0); }
static void j_free(void *p, size_t n) { sdallocx(p, n, 0); }
/* jemalloc with dirty/muzzy decay 0: the replay compresses a day into about
 * a second, so the default 10 s decay never gets to act; decay 0 is the
 * time-scaled equivalent (opt-in: --jemalloc-decay0). */
static void
j_init_decay0(void)
{
    ssize_t zero = 0;
    unsigned n = 0;
    size_t sz = sizeof n;
    char cmd[64];
    mallctl("arenas.dirty_decay_ms", NULL, NULL, &zero, sizeof zero);
    mallctl("arenas.muzzy_decay_ms", NULL, NULL, &zero, sizeof zero);
    if (mallctl("arenas.narenas", &n, &sz, NULL, 0) == 0)
        for (unsigned i = 0; i < n; i++) {
            snprintf(cmd, sizeof cmd, "arena.%u.dirty_decay_ms", i);
            mallctl(cmd, NULL, NULL, &zero, sizeof zero);
            snprintf(cmd, sizeof cmd, "arena.%u.muzzy_decay_ms", i);
            mallctl(cmd, NULL, NULL, &zero, sizeof zero);
        }
}

static void
j_purge(void)
{
    mallctl("arena.4096.purge", NULL, NULL, NULL, 0);   /* 4096 = MALLCTL_ARENAS_ALL */
}

/* --- rustymem: size-class run pool over the page source ---------------- */

#define CHUNK (2 * MiB)
#define PAGE 4096
#define CHUNK_PAGES (CHUNK / PAGE)
#define RESERVED_PAGES 2
#define NBUCKET 4

typedef struct run run_t;
typedef struct chunk {
    uint64_t bitmap[CHUNK_PAGES / 64];  /* used pages */
    run_t *run_of_page[CHUNK_PAGES];
    uint32_t free_pages;
    struct chunk *next;
} chunk_t;

struct run {
    chunk_t *chunk;
    char *base;
    void *freelist;
    uint32_t cls, npages, cap, used, bump, first_page;
    int bucket;               /* -1: not listed (full or cached) */
    run_t *prev, *next;
};

static const uint32_t run_pages[9] = {1, 1, 3, 1, 3, 2, 4, 8, 16};

static struct {
    const rm_pagesrc_t *src;
    uint64_t run_bytes;     /* bytes of runs in use or cached */
    uint64_t obj_bytes;     /* bytes of class-sized slots handed out */
    chunk_t *chunks;
    run_t *lists[9][NBUCKET];
    run_t *cached[9];       /* empty runs kept per class (linked by next) */
    int ncached[9];
} pool;

#define POOL_CACHED_RUNS 8

static int
class_of(size_t n)
{
    for (int c = 0; c < 9; c++)
        if (n <= classes[c])
            return c;
    return -1;
}

static int
bucket_of(const run_t *r)
{
    if (r->used == r->cap)
        return -1;
    return (int)((uint64_t)r->used * NBUCKET / r->cap);
}

static void
list_del(run_t *r)
{
    if (r->bucket < 0)
        return;
    if (r->prev)
        r->prev->next = r->next;
    else
        pool.lists[r->cls][r->bucket] = r->next;
    if (r->next)
        r->next->prev = r->prev;
    r->bucket = -1;
}

static void
list_add(run_t *r)
{
    int b = bucket_of(r);
    r->bucket = b;
    if (b < 0)
        return;
    r->prev = NULL;
    r->next = pool.lists[r->cls][b];
    if (r->next)
        r->next->prev = r;
    pool.lists[r->cls][b] = r;
}

static int
chunk_find(chunk_t *c, uint32_t n)
{
    uint32_t run = 0;
    for (uint32_t i = RESERVED_PAGES; i < CHUNK_PAGES; i++) {
        if (c->bitmap[i / 64] & (1ull << (i % 64))) {
            run = 0;
            continue;
        }
        if (++run == n)
            return (int)(i + 1 - n);
    }
    return -1;
}

static run_t *
run_new(int cls)
{
    uint32_t np = run_pages[cls];
    chunk_t *c;
    int at = -1;
    for (c = pool.chunks; c; c = c->next)
        if (c->free_pages >= np && (at = chunk_find(c, np)) >= 0)
            break;
    if (!c) {
        c = pool.src->methods->map(pool.src->ctx, CHUNK, CHUNK, -1, 0, NULL);
        if (!c)
            return NULL;
        memset(c, 0, sizeof *c);
        c->free_pages = CHUNK_PAGES - RESERVED_PAGES;
        c->next = pool.chunks;
        pool.chunks = c;
        at = RESERVED_PAGES;
    }
    run_t *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    for (uint32_t i = 0; i < np; i++) {
        c->bitmap[(at + i) / 64] |= 1ull << ((at + i) % 64);
        c->run_of_page[at + i] = r;
    }
    c->free_pages -= np;
    pool.run_bytes += (uint64_t)np * PAGE;
    r->chunk = c;
    r->base = (char *)c + (size_t)at * PAGE;
    r->cls = (uint32_t)cls;
    r->npages = np;
    r->first_page = (uint32_t)at;
    r->cap = (uint32_t)(np * PAGE / classes[cls]);
    r->bucket = -1;
    return r;
}

static void
run_release(run_t *r)
{
    chunk_t *c = r->chunk;
    pool.src->methods->release(pool.src->ctx, r->base, (size_t)r->npages * PAGE);
    for (uint32_t i = 0; i < r->npages; i++) {
        uint32_t p = r->first_page + i;
        c->bitmap[p / 64] &= ~(1ull << (p % 64));
        c->run_of_page[p] = NULL;
    }
    c->free_pages += r->npages;
    pool.run_bytes -= (uint64_t)r->npages * PAGE;
    free(r);
}

static void *
pool_alloc(size_t n)
{
    int cls = class_of(n);
    run_t *r = NULL;
    for (int b = NBUCKET - 1; b >= 0 && !r; b--)
        r = pool.lists[cls][b];
    if (!r) {
        r = pool.cached[cls];
        if (r) {
            pool.cached[cls] = r->next;
            pool.ncached[cls]--;
        } else if (!(r = run_new(cls))) {
            return NULL;
        }
    } else {
        list_del(r);
    }
    void *p;
    if (r->freelist) {
        p = r->freelist;
        r->freelist = *(void **)p;
    } else {
        p = r->base + (size_t)r->bump++ * classes[cls];
    }
    r->used++;
    pool.obj_bytes += classes[cls];
    list_add(r);
    return p;
}

static void
pool_free(void *p, size_t n)
{
    (void)n;
    chunk_t *c = (chunk_t *)((uintptr_t)p & ~(uintptr_t)(CHUNK - 1));
    run_t *r = c->run_of_page[((uintptr_t)p - (uintptr_t)c) / PAGE];
    list_del(r);
    *(void **)p = r->freelist;
    r->freelist = p;
    r->used--;
    pool.obj_bytes -= classes[r->cls];
    if (r->used == 0) {
        if (pool.ncached[r->cls] < POOL_CACHED_RUNS) {
            r->next = pool.cached[r->cls];
            pool.cached[r->cls] = r;
            pool.ncached[r->cls]++;
        } else {
            run_release(r);
        }
        return;
    }
    list_add(r);
}

static rm_arena_mgr_t *r_mgr;
static rm_large_t *r_large;

static void
r_init(void)
{
    pool.src = rm_pagesrc_default();
    rm_arena_mgr_create(NULL, NULL, &r_mgr);
    rm_large_config_t c = {.threshold_bytes = 256 * KiB, .no_huge_pages = 1};
    rm_large_create(&c, NULL, &r_large);
}
static void *r_large_alloc(size_t n) { return rm_large_alloc(r_large, n); }
static void r_large_free(void *p, size_t n) { (void)n; rm_large_free(r_large, p); }
static void
r_purge(void)
{
    rm_large_release_free(r_large, UINT64_MAX);
    rm_arena_mgr_release_cached(r_mgr);
    for (int c = 0; c < 9; c++) {
        while (pool.cached[c]) {
            run_t *r = pool.cached[c];
            pool.cached[c] = r->next;
            run_release(r);
        }
        pool.ncached[c] = 0;
    }
}

static const ops_t ops_rustymem = {"rustymem", r_init, pool_alloc, pool_free,
                                   r_large_alloc, r_large_free, 1, r_purge};
static const ops_t ops_glibc = {"glibc", g_init, g_alloc, g_free, g_alloc, g_free, 0, g_purge};
static const ops_t ops_jemalloc = {"jemalloc", j_init, j_alloc, j_free, j_alloc, j_free, 0, j_purge};
static const ops_t ops_jemalloc_decay0 = {"jemalloc_decay0", j_init_decay0, j_alloc, j_free,
                                          j_alloc, j_free, 0, j_purge};

/* ---- replay ---------------------------------------------------------------- */

typedef struct obj {
    void *p;
    uint32_t size;     /* bytes requested (large objects: KiB units when big) */
    int32_t next;      /* death list / free list */
    int32_t table_pos; /* index in table[] or -1 */
    uint8_t large;
} obj_t;

typedef struct item {
    void *p;
    size_t size;
} item_t;

typedef struct txn {
    int active;
    int profile;
    size_t target, done;        /* bytes */
    size_t lo, hi;              /* item size range */
    int ticks_left, ticks_total;
    int savepoint_state;        /* 0 none planned, 1 planned, 2 marked, 3 done */
    size_t mark_done;
    rm_arena_t *arena;
    rm_arena_mark_t mark;
    /* peers: chunked item list */
    int32_t chunks[256];
    int nchunks;
    size_t nitems, mark_items;
} txn_t;

typedef struct day_result {
    double live, resident, frag, frag_purged, failures;
} day_result_t;

static obj_t *objs;
static int32_t obj_free_head;
static int32_t *table;
static uint32_t table_n;
static int32_t *death_head;
static item_t *items;       /* N_ITEM_CHUNKS * ITEM_CHUNK */
static int32_t *item_chunk_free;
static int item_chunk_top;
static txn_t *txns;
static uint64_t live_bytes;
static const ops_t *A;
static int verbose;
static long total_ticks;

static size_t
rss_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long size = 0, res = 0;
    if (f) {
        if (fscanf(f, "%lu %lu", &size, &res) != 2)
            res = 0;
        fclose(f);
    }
    return (size_t)res * (size_t)sysconf(_SC_PAGESIZE);
}

static void
touch(void *p, size_t n)
{
    volatile char *c = p;
    c[0] = 1;
    for (size_t off = 4096; off < n; off += 4096)
        c[off] = 1;
    c[n - 1] = 1;
}

static int32_t
obj_new(void)
{
    int32_t i = obj_free_head;
    if (i < 0)
        return -1;
    obj_free_head = objs[i].next;
    objs[i].next = -1;
    objs[i].table_pos = -1;
    return i;
}

static void
obj_release(int32_t i)
{
    obj_t *o = &objs[i];
    if (o->large)
        A->large_free(o->p, o->size);
    else
        A->small_free(o->p, o->size);
    live_bytes -= o->size;
    o->p = NULL;
    o->next = obj_free_head;
    obj_free_head = i;
}

static void
schedule_death(int32_t i, long now, double life)
{
    long when = now + 1 + (long)life;
    if (when >= total_ticks)
        return;   /* outlives the replay */
    objs[i].next = death_head[when];
    death_head[when] = i;
}

static size_t
small_size(const double *mix)
{
    double u = unif(), acc = 0;
    int c = 8;
    for (int k = 0; k < 9; k++) {
        acc += mix[k];
        if (u < acc) {
            c = k;
            break;
        }
    }
    size_t s = classes[c];
    return s - (size_t)(unif() * 0.06 * (double)s);
}

static int32_t
alloc_obj(size_t size, int large)
{
    int32_t i = obj_new();
    if (i < 0)
        return -1;
    void *p = large ? A->large_alloc(size) : A->small_alloc(size);
    if (!p) {
        objs[i].next = obj_free_head;
        obj_free_head = i;
        return -1;
    }
    touch(p, size);
    objs[i].p = p;
    objs[i].size = (uint32_t)size;
    objs[i].large = (uint8_t)large;
    live_bytes += size;
    return i;
}

static const double table_mix[9] = {.05, .10, .10, .25, .05, .20, .15, .07, .03};
static const double version_mix[9] = {.40, .20, .30, 0, .10, 0, 0, 0, 0};

static void
table_insert(void)
{
    int32_t i = alloc_obj(small_size(table_mix), 0);
    if (i < 0)
        return;
    objs[i].table_pos = (int32_t)table_n;
    table[table_n++] = i;
}

static void
table_delete(void)
{
    if (!table_n)
        return;
    uint32_t k = (uint32_t)(rnd() % table_n);
    int32_t i = table[k];
    table[k] = table[--table_n];
    objs[table[k]].table_pos = (int32_t)k;
    obj_release(i);
}

/* --- transactions --- */

static const struct {
    double share;
    size_t lo, hi;     /* item sizes */
    int tmin, tmax;    /* duration in ticks */
} txn_kinds[5] = {
    {0.700, 16, 512, 1, 5},
    {0.220, 32, 2048, 1, 8},
    {0.0695, 64, 8192, 2, 15},
    {0.0100, 256, 64 * 1024, 5, 40},
    {0.0005, 4096, 256 * 1024, 10, 60},
};

static int
txn_item_push(txn_t *t, void *p, size_t n)
{
    size_t k = t->nitems;
    size_t ci = k / ITEM_CHUNK;
    if ((int)ci >= t->nchunks) {
        if (item_chunk_top == 0 || t->nchunks == 256)
            return -1;
        t->chunks[t->nchunks++] = item_chunk_free[--item_chunk_top];
    }
    item_t *it = &items[(size_t)t->chunks[ci] * ITEM_CHUNK + k % ITEM_CHUNK];
    it->p = p;
    it->size = n;
    t->nitems++;
    return 0;
}

/* Items of list-path transactions: pages-sized ones go to the large path. */
static void *
item_alloc(size_t n)
{
    return n > 4096 ? A->large_alloc(n) : A->small_alloc(n);
}

static void
item_free(void *p, size_t n)
{
    if (n > 4096)
        A->large_free(p, n);
    else
        A->small_free(p, n);
}

static void
txn_free_items_from(txn_t *t, size_t from)
{
    for (size_t k = t->nitems; k-- > from;) {
        item_t *it = &items[(size_t)t->chunks[k / ITEM_CHUNK] * ITEM_CHUNK + k % ITEM_CHUNK];
        item_free(it->p, it->size);
    }
    t->nitems = from;
    int keep = (int)((from + ITEM_CHUNK - 1) / ITEM_CHUNK);
    while (t->nchunks > keep)
        item_chunk_free[item_chunk_top++] = t->chunks[--t->nchunks];
}

static uint64_t alloc_failures;

static void
txn_begin(uint64_t id)
{
    txn_t *t = NULL;
    for (int k = 0; k < MAX_TXN; k++)
        if (!txns[k].active) {
            t = &txns[k];
            break;
        }
    double u = unif(), acc = 0;
    int p = 0;
    for (int k = 0; k < 5; k++) {
        acc += txn_kinds[k].share;
        if (u < acc) {
            p = k;
            break;
        }
    }
    size_t maxb = 0;
    rm_arena_profile_sizes((rm_arena_profile_t)p, NULL, &maxb);
    size_t target = (size_t)((0.1 + 0.6 * unif()) * (double)maxb);
    int dur = txn_kinds[p].tmin + (int)(rnd() % (uint64_t)(txn_kinds[p].tmax - txn_kinds[p].tmin + 1));
    int sp = unif() < 0.15;
    if (!t)
        return;   /* all slots busy: the trace still consumed the same randomness */
    memset(t, 0, offsetof(txn_t, chunks));
    t->nchunks = 0;
    t->nitems = 0;
    t->active = 1;
    t->profile = p;
    t->target = target;
    t->lo = txn_kinds[p].lo;
    t->hi = txn_kinds[p].hi;
    t->ticks_left = t->ticks_total = dur;
    t->savepoint_state = sp;
    if (A->arenas) {
        /* Tiny OLTP transactions give no hint (profile from the first
         * allocation); larger ones pass their expected size. Above
         * disable_above_bytes creation fails and the transaction takes the
         * list path (pool + large-object allocator), as the seed says. */
        size_t hint = p >= 1 ? target : 0;
        if (rm_arena_create(r_mgr, id, hint, &t->arena) != RM_OK)
            t->arena = NULL;
    }
}

static void
txn_alloc_bytes(txn_t *t, size_t budget)
{
    while (budget > 0 && t->done < t->target) {
        size_t n = log_uniform(t->lo, t->hi);
        void *p;
        if (t->arena) {
            p = rm_arena_alloc(t->arena, n);
        } else {
            p = item_alloc(n);
            if (p && txn_item_push(t, p, n) != 0) {
                item_free(p, n);
                p = NULL;
            }
        }
        if (!p) {
            alloc_failures++;
            break;
        }
        touch(p, n);
        t->done += n;
        live_bytes += n;
        budget = budget > n ? budget - n : 0;
    }
}

static void
txn_end(txn_t *t)
{
    if (t->arena)
        rm_arena_destroy(t->arena);
    else
        txn_free_items_from(t, 0);
    t->arena = NULL;
    live_bytes -= t->done;
    t->active = 0;
}

static void
txn_tick(txn_t *t)
{
    size_t per_tick = t->target / (size_t)t->ticks_total + 1;
    if (t->savepoint_state == 1 && t->ticks_left * 2 <= t->ticks_total) {
        t->savepoint_state = 2;
        t->mark_done = t->done;
        if (t->arena)
            rm_arena_mark(t->arena, &t->mark);
        else
            t->mark_items = t->nitems;
    }
    txn_alloc_bytes(t, per_tick);
    if (t->savepoint_state == 2 && t->ticks_left * 4 <= t->ticks_total) {
        /* ROLLBACK TO SAVEPOINT */
        t->savepoint_state = 3;
        if (t->arena)
            rm_arena_rollback(t->arena, &t->mark);
        else
            txn_free_items_from(t, t->mark_items);
        live_bytes -= t->done - t->mark_done;
        t->done = t->mark_done;
    }
    if (--t->ticks_left <= 0)
        txn_end(t);
}

/* --- bulk loads --- */
static int32_t bulk_objs[128];
static int bulk_n;

static void *
bulk_alloc(size_t n)
{
    if (A->arenas && !rm_arena_mgr_use_large(r_mgr, 200 * 1000 * 1000))
        return NULL;   /* not reached: 200 MB is above disable_above_bytes */
    return A->large_alloc(n);
}

static void
replay(int days, uint64_t seed, day_result_t *out)
{
    rng_state = seed ? seed : 0x9E3779B97F4A7C15ull;
    total_ticks = (long)days * TICKS_PER_DAY;

    /* bookkeeping, allocated and touched before the baseline */
    objs = mmap(NULL, MAX_OBJS * sizeof *objs, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    table = mmap(NULL, MAX_OBJS * sizeof *table, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    death_head = mmap(NULL, (size_t)(total_ticks + 1) * sizeof *death_head, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    items = mmap(NULL, (size_t)N_ITEM_CHUNKS * ITEM_CHUNK * sizeof *items, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    item_chunk_free = calloc(N_ITEM_CHUNKS, sizeof *item_chunk_free);
    txns = calloc(MAX_TXN, sizeof *txns);
    if (objs == MAP_FAILED || table == MAP_FAILED || death_head == MAP_FAILED || items == MAP_FAILED ||
        !item_chunk_free || !txns)
        _exit(3);
    for (uint32_t i = 0; i < MAX_OBJS; i++) {
        objs[i].next = (int32_t)i + 1 < (int32_t)MAX_OBJS ? (int32_t)i + 1 : -1;
        table[i] = 0;
    }
    obj_free_head = 0;
    for (long i = 0; i <= total_ticks; i++)
        death_head[i] = -1;
    memset(items, 0, (size_t)N_ITEM_CHUNKS * ITEM_CHUNK * sizeof *items);
    for (int i = 0; i < N_ITEM_CHUNKS; i++)
        item_chunk_free[i] = i;
    item_chunk_top = N_ITEM_CHUNKS;
    A->init();

    size_t base = rss_bytes();
    uint64_t txn_id = 1;

    for (int i = 0; i < 400000; i++)
        table_insert();

    for (long now = 0; now < total_ticks; now++) {
        long minute = now % TICKS_PER_DAY;
        int day = (int)(now / TICKS_PER_DAY);
        double f = 0.25 + 0.75 * (0.5 - 0.5 * cos(2.0 * M_PI * (double)minute / TICKS_PER_DAY));

        /* deaths due now */
        for (int32_t i = death_head[now]; i >= 0;) {
            int32_t nx = objs[i].next;
            obj_release(i);
            i = nx;
        }
        death_head[now] = -1;

        /* table churn */
        int n = poisson_count(40 * f);
        for (int k = 0; k < n; k++)
            table_insert();
        n = poisson_count(30 * f);
        for (int k = 0; k < n; k++)
            table_delete();
        n = poisson_count(60 * f);
        for (int k = 0; k < n; k++) {
            table_delete();
            table_insert();
        }
        /* versions, locks, page headers: heavy-tailed lifetimes */
        n = poisson_count(400 * f);
        for (int k = 0; k < n; k++) {
            size_t sz = small_size(version_mix);
            double life = pareto(1.2, 2.0);
            int32_t i = alloc_obj(sz, 0);
            if (i >= 0)
                schedule_death(i, now, life);
        }
        /* large objects */
        n = poisson_count(0.1 * f);
        for (int k = 0; k < n; k++) {
            size_t sz = log_uniform(256 * KiB, 64 * MiB);
            double life = pareto(1.1, 30.0);
            int32_t i = alloc_obj(sz, 1);
            if (i >= 0)
                schedule_death(i, now, life);
        }
        /* bulk load every 7 days at 02:00, buffers freed 90 ticks later */
        if (day % 7 == 3 && minute == 120) {
            for (bulk_n = 0; bulk_n < 64; bulk_n++) {
                int32_t i = obj_new();
                void *p = i >= 0 ? bulk_alloc(3 * MiB + 123 * 1024) : NULL;
                if (!p) {
                    if (i >= 0) {
                        objs[i].next = obj_free_head;
                        obj_free_head = i;
                    }
                    break;
                }
                touch(p, 3 * MiB + 123 * 1024);
                objs[i].p = p;
                objs[i].size = 3 * MiB + 123 * 1024;
                objs[i].large = 1;
                live_bytes += objs[i].size;
                bulk_objs[bulk_n] = i;
            }
        }
        if (day % 7 == 3 && minute == 210) {
            for (int k = 0; k < bulk_n; k++)
                obj_release(bulk_objs[k]);
            bulk_n = 0;
        }
        /* transactions */
        n = poisson_count(8 * f);
        for (int k = 0; k < n; k++)
            txn_begin(txn_id++);
        for (int k = 0; k < MAX_TXN; k++)
            if (txns[k].active)
                txn_tick(&txns[k]);

        if (minute == TICKS_PER_DAY - 1) {
            size_t rss = rss_bytes();
            double res = rss > base ? (double)(rss - base) : 1.0;
            day_result_t *d = &out[day];
            d->live = (double)live_bytes;
            if (verbose && A->arenas) {
                rm_component_usage_t u[RM_COMPONENTS_MAX];
                size_t nc = 0;
                rm_stats_components(u, RM_COMPONENTS_MAX, &nc);
                fprintf(stderr, "    day %d rss %.1f MiB live %.1f MiB | pool slots %.1f runs %.1f",
                        day + 1, res / MiB, (double)live_bytes / MiB, (double)pool.obj_bytes / MiB,
                        (double)pool.run_bytes / MiB);
                for (size_t k = 0; k < nc && k < RM_COMPONENTS_MAX; k++)
                    fprintf(stderr, " | %s used %.1f held %.1f", u[k].name,
                            (double)u[k].used_bytes / MiB, (double)u[k].held_bytes / MiB);
                fprintf(stderr, "\n");
            }
            d->resident = res;
            d->frag = res > d->live ? 1.0 - d->live / res : 0.0;
            A->purge();
            rss = rss_bytes();
            res = rss > base ? (double)(rss - base) : 1.0;
            d->frag_purged = res > d->live ? 1.0 - d->live / res : 0.0;
            d->failures = (double)alloc_failures;
        }
    }
}

/* Runs `o` in a child; fills out[days]. Returns 0 or -1. */
static int
run_child(const ops_t *o, int days, uint64_t seed, day_result_t *out, double *secs)
{
    int fd[2];
    if (pipe(fd) != 0)
        return -1;
    uint64_t t0 = rm_bench_now_ns();
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        close(fd[0]);
        A = o;
        day_result_t *res = mmap(NULL, (size_t)days * sizeof *res, PROT_READ | PROT_WRITE,
                                 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (res == MAP_FAILED)
            _exit(3);
        replay(days, seed, res);
        size_t left = (size_t)days * sizeof *res;
        const char *p = (const char *)res;
        while (left) {
            ssize_t w = write(fd[1], p, left);
            if (w <= 0)
                _exit(4);
            p += w;
            left -= (size_t)w;
        }
        _exit(0);
    }
    close(fd[1]);
    size_t left = (size_t)days * sizeof *out;
    char *p = (char *)out;
    while (left) {
        ssize_t r = read(fd[0], p, left);
        if (r <= 0)
            break;
        p += r;
        left -= (size_t)r;
    }
    close(fd[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    *secs = (double)(rm_bench_now_ns() - t0) / 1e9;
    if (left || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "fragmentation: %s child failed (status %d)\n", o->name, status);
        return -1;
    }
    return 0;
}

static int
run_fragmentation(const rm_bench_opts_t *o, json_t *result)
{
    const char *d = rm_bench_arg(o, "--days");
    const char *s = rm_bench_arg(o, "--seed");
    int days = d ? atoi(d) : (o->quick ? 3 : 30);   /* --quick: 3 days */
    uint64_t seed = s ? strtoull(s, NULL, 0) : 20260101;
    if (days < 1 || days > 365) {
        fprintf(stderr, "fragmentation: --days must be 1..365\n");
        return 1;
    }
    const ops_t *all[4] = {&ops_rustymem, &ops_glibc, &ops_jemalloc, &ops_jemalloc_decay0};
    int nall = 3;
    for (int i = 0; i < o->argc; i++) {
        if (strcmp(o->argv[i], "--jemalloc-decay0") == 0)
            nall = 4;
        if (strcmp(o->argv[i], "--verbose") == 0)
            verbose = 1;   /* rustymem's per-component breakdown each day */
    }
    json_object_set_new(result, "days", json_integer(days));
    json_object_set_new(result, "seed", json_integer((json_int_t)seed));
    json_object_set_new(result, "method",
                        json_string("fragmentation = 1 - live/resident at the end of each simulated day; "
                                    "resident = RSS delta from a pre-replay baseline; one child per allocator"));
    for (int k = 0; k < nall; k++) {
        day_result_t *r = calloc((size_t)days, sizeof *r);
        double secs = 0;
        if (!r || run_child(all[k], days, seed, r, &secs) != 0) {
            free(r);
            return 1;
        }
        double maxf = 0, maxp = 0;
        json_t *series = json_array();
        for (int i = 0; i < days; i++) {
            if (r[i].frag > maxf)
                maxf = r[i].frag;
            if (r[i].frag_purged > maxp)
                maxp = r[i].frag_purged;
            json_array_append_new(series, json_real(round(r[i].frag * 10000) / 10000));
            fprintf(stderr, "  %-9s day %2d  live %7.1f MiB  resident %7.1f MiB  frag %.3f  (purged %.3f)\n",
                    all[k]->name, i + 1, r[i].live / MiB, r[i].resident / MiB, r[i].frag,
                    r[i].frag_purged);
        }
        char key[64];
        snprintf(key, sizeof key, "%s_max_fragmentation", all[k]->name);
        json_object_set_new(result, key, json_real(maxf));
        snprintf(key, sizeof key, "%s_final_fragmentation", all[k]->name);
        json_object_set_new(result, key, json_real(r[days - 1].frag));
        snprintf(key, sizeof key, "%s_purged_max_fragmentation", all[k]->name);
        json_object_set_new(result, key, json_real(maxp));
        snprintf(key, sizeof key, "%s_daily_fragmentation", all[k]->name);
        json_object_set_new(result, key, series);
        snprintf(key, sizeof key, "%s_alloc_failures", all[k]->name);
        json_object_set_new(result, key, json_integer((json_int_t)r[days - 1].failures));
        snprintf(key, sizeof key, "%s_seconds", all[k]->name);
        json_object_set_new(result, key, json_real(secs));
        fprintf(stderr, "fragmentation: %s max %.3f final %.3f (%.1f s)\n", all[k]->name, maxf,
                r[days - 1].frag, secs);
        free(r);
    }
    return 0;
}

RM_BENCH_SUITE(fragmentation, "30-day churn trace: 1 - live/resident per day, rustymem vs glibc vs jemalloc",
               "--days N --seed N --jemalloc-decay0 --verbose", run_fragmentation);
