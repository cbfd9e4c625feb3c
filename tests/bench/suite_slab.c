/*
 * suite_slab.c — `rustymem-bench slab`: ns per alloc+free pair per size class
 * for the rustymem slab, jemalloc, mimalloc and glibc, in one process.
 *
 * Method. Every allocator runs the same loop shape, written out once per
 * allocator by a macro so each call is a direct call (no function-pointer
 * indirection that would flatten the differences): rounds of BATCH allocations
 * into an array, then BATCH frees in allocation order. Every pointer is folded
 * into a sink that is published through a volatile store, so no pair can be
 * elided. jemalloc is reached through mallocx/sdallocx (its sized fast path),
 * mimalloc through mi_malloc/mi_free, glibc through its own __libc_malloc/
 * __libc_free found with dlsym (see resolve_glibc: one indirect call).
 * Each figure is the minimum over several repetitions, interleaved across
 * allocators so machine noise falls on all of them alike.
 *
 * Producer/consumer: one thread allocates objects and hands them, in
 * batches of XFER_BATCH pointers, through a single-producer single-consumer
 * ring to a second thread that frees them. ns per pair = wall time / objects.
 *
 * metadata_overhead_ratio: a fresh set of caches holds a working set of
 * objects in every class; ratio = Σ metadata bytes / Σ object bytes held
 * (rm_slab_stats_t.metadata_bytes / object_bytes_held).
 *
 * The headline ratios use --batch N (default 8: within every peer's thread
 * cache except glibc's 7-entry tcache). Because a batch size can favour one
 * design, the suite also reports the same geometric means at batch 1 (every
 * allocator's best case: LIFO reuse of one object) and batch 32
 * ("batch_sensitivity" in the JSON).
 *
 * Options: --quick (fewer pairs, fewer repetitions), --batch N (1 … 1024).
 */
#include "bench.h"

#include <dlfcn.h>
#include <jemalloc/jemalloc.h>
#include <mimalloc.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rustymem/slab.h"

/*
 * glibc. Declaring __libc_malloc/__libc_free and linking is not enough:
 * libmimalloc (linked into this binary, ahead of libc) exports its own
 * __libc_malloc/__libc_free overrides, so the plain names would measure
 * mimalloc twice. Resolve glibc's own definitions from the libc handle.
 */
static void *(*gl_malloc)(size_t);
static void (*gl_free)(void *);

static int
resolve_glibc(void)
{
    if (!rm_bench_glibc_ok())
        return -1;
    gl_malloc = rm_bench_glibc_malloc;
    gl_free = rm_bench_glibc_free;
    return 0;
}

enum { A_RUSTYMEM, A_JEMALLOC, A_MIMALLOC, A_GLIBC, A_COUNT };
static const char *const alloc_names[A_COUNT] = {"rustymem", "jemalloc", "mimalloc", "glibc"};

#define BATCH_MAX 1024
static volatile uintptr_t g_sink;

/* ---- single-threaded hot loops ------------------------------------------------ */

#define HOT_LOOP(fname, ALLOC, FREE)                                      \
    static double fname(rm_slab_cache_t *c, size_t sz, long rounds, int batch) \
    {                                                                     \
        void *v[BATCH_MAX];                                               \
        uintptr_t sink = 0;                                               \
        (void)c;                                                          \
        (void)sz;                                                         \
        uint64_t t0 = rm_bench_now_ns();                                  \
        for (long r = 0; r < rounds; r++) {                               \
            for (int i = 0; i < batch; i++)                               \
                v[i] = ALLOC;                                             \
            for (int i = 0; i < batch; i++) {                             \
                sink ^= (uintptr_t)v[i];                                  \
                FREE(v[i]);                                               \
            }                                                             \
        }                                                                 \
        uint64_t t1 = rm_bench_now_ns();                                  \
        g_sink = sink;                                                    \
        return (double)(t1 - t0) / ((double)rounds * batch);              \
    }

#define RM_FREE(p) rm_slab_free(c, (p))
#define JE_FREE(p) sdallocx((p), sz, 0)
#define MI_FREE(p) mi_free(p)
#define GL_FREE(p) gl_free(p)

HOT_LOOP(hot_rustymem, rm_slab_alloc(c), RM_FREE)
HOT_LOOP(hot_jemalloc, mallocx(sz, 0), JE_FREE)
HOT_LOOP(hot_mimalloc, mi_malloc(sz), MI_FREE)
HOT_LOOP(hot_glibc, gl_malloc(sz), GL_FREE)

static double
hot(int a, rm_slab_cache_t *c, size_t sz, long rounds, int batch)
{
    switch (a) {
    case A_RUSTYMEM: return hot_rustymem(c, sz, rounds, batch);
    case A_JEMALLOC: return hot_jemalloc(c, sz, rounds, batch);
    case A_MIMALLOC: return hot_mimalloc(c, sz, rounds, batch);
    default: return hot_glibc(c, sz, rounds, batch);
    }
}

/* Minimum ns per pair over `reps` interleaved repetitions, per class and allocator. */
static void
measure_hot(rm_slab_t *s, int batch, long pairs, int reps, double out[RM_SLAB_NUM_CLASSES][A_COUNT])
{
    long rounds = pairs / batch + 1;
    for (unsigned k = 0; k < RM_SLAB_NUM_CLASSES; k++) {
        size_t sz = rm_slab_class_size(k);
        rm_slab_cache_t *c = rm_slab_cache_at(s, k);
        for (int a = 0; a < A_COUNT; a++) {
            (void)hot(a, c, sz, rounds / 10 + 1, batch);   /* warm caches and thread state */
            out[k][a] = 1e30;
        }
        for (int r = 0; r < reps; r++)
            for (int a = 0; a < A_COUNT; a++) {
                double ns = hot(a, c, sz, rounds, batch);
                if (ns < out[k][a])
                    out[k][a] = ns;
            }
    }
}

static double
geo_ratio(double ns[RM_SLAB_NUM_CLASSES][A_COUNT], int peer)
{
    double r[RM_SLAB_NUM_CLASSES];
    for (unsigned k = 0; k < RM_SLAB_NUM_CLASSES; k++)
        r[k] = ns[k][A_RUSTYMEM] / ns[k][peer];
    return rm_bench_geomean(r, RM_SLAB_NUM_CLASSES);
}

/* ---- producer / consumer ------------------------------------------------------ */

#define XFER_BATCH 256
#define XFER_SLOTS 16

typedef struct xfer {
    int alloc;
    rm_slab_cache_t *c;
    size_t sz;
    long batches;
    void *ring[XFER_SLOTS][XFER_BATCH];
    long head __attribute__((aligned(64)));   /* batches published; atomic */
    long tail __attribute__((aligned(64)));   /* batches consumed; atomic */
    int failed;
} xfer_t;

static void
spin_pause(unsigned *spins)
{
    if (++*spins > 64) {
        sched_yield();
        *spins = 0;
    } else {
        __builtin_ia32_pause();
    }
}

#define PRODUCE(ALLOC)                                                                 \
    for (long b = 0; b < x->batches; b++) {                                            \
        unsigned spins = 0;                                                            \
        while (b - __atomic_load_n(&x->tail, __ATOMIC_ACQUIRE) >= XFER_SLOTS)          \
            spin_pause(&spins);                                                        \
        void **slot = x->ring[b % XFER_SLOTS];                                         \
        for (int i = 0; i < XFER_BATCH; i++)                                           \
            if (!(slot[i] = ALLOC))                                                    \
                x->failed = 1;                                                         \
        __atomic_store_n(&x->head, b + 1, __ATOMIC_RELEASE);                           \
    }

#define CONSUME(FREE)                                                                  \
    for (long b = 0; b < x->batches; b++) {                                            \
        unsigned spins = 0;                                                            \
        while (__atomic_load_n(&x->head, __ATOMIC_ACQUIRE) <= b)                       \
            spin_pause(&spins);                                                        \
        void **slot = x->ring[b % XFER_SLOTS];                                         \
        for (int i = 0; i < XFER_BATCH; i++)                                           \
            FREE(slot[i]);                                                             \
        __atomic_store_n(&x->tail, b + 1, __ATOMIC_RELEASE);                           \
    }

static void *
producer(void *arg)
{
    xfer_t *x = arg;
    rm_slab_cache_t *c = x->c;
    size_t sz = x->sz;
    switch (x->alloc) {
    case A_RUSTYMEM: PRODUCE(rm_slab_alloc(c)); break;
    case A_JEMALLOC: PRODUCE(mallocx(sz, 0)); break;
    case A_MIMALLOC: PRODUCE(mi_malloc(sz)); break;
    default: PRODUCE(gl_malloc(sz)); break;
    }
    return NULL;
}

static void *
consumer(void *arg)
{
    xfer_t *x = arg;
    rm_slab_cache_t *c = x->c;
    size_t sz = x->sz;
    (void)c;
    (void)sz;
    switch (x->alloc) {
    case A_RUSTYMEM: CONSUME(RM_FREE); break;
    case A_JEMALLOC: CONSUME(JE_FREE); break;
    case A_MIMALLOC: CONSUME(MI_FREE); break;
    default: CONSUME(GL_FREE); break;
    }
    return NULL;
}

/* ns per pair, or a negative value when a thread could not start or an
 * allocation failed. */
static double
cross(int a, rm_slab_cache_t *c, size_t sz, long objects)
{
    xfer_t *x = calloc(1, sizeof *x);
    if (!x)
        return -1;
    x->alloc = a;
    x->c = c;
    x->sz = sz;
    x->batches = objects / XFER_BATCH;
    pthread_t p, q;
    uint64_t t0 = rm_bench_now_ns();
    if (pthread_create(&q, NULL, consumer, x) != 0) {
        free(x);
        return -1;
    }
    if (pthread_create(&p, NULL, producer, x) != 0) {
        /* let the consumer finish on an empty run */
        x->batches = 0;
        pthread_join(q, NULL);
        free(x);
        return -1;
    }
    pthread_join(p, NULL);
    pthread_join(q, NULL);
    uint64_t t1 = rm_bench_now_ns();
    double ns = x->failed ? -1 : (double)(t1 - t0) / (double)(x->batches * XFER_BATCH);
    free(x);
    return ns;
}

/* ---- design alternative: per-CPU magazines (ADR 0002) ---------------------------
 *
 * A per-CPU magazine in user space needs the CPU id on every call and, without
 * restartable sequences, a lock (the thread can be preempted and migrated
 * mid-operation). These loops measure that shape with 64-B objects next to
 * the per-thread design (same loop: one alloc then its free) so the ADR's
 * choice can be re-checked on any machine ("design_alternatives" in the JSON).
 */
typedef struct pc_mag {
    int lock;                          /* atomic spinlock */
    uint32_t n;
    void *objs[256];
} __attribute__((aligned(64))) pc_mag_t;

#define PC_CPUS 1024
static pc_mag_t *pc_mags;

static __attribute__((noinline)) void *
pc_alloc(int locked)
{
    int cpu = sched_getcpu();
    pc_mag_t *m = &pc_mags[(unsigned)cpu % PC_CPUS];
    if (locked)
        while (__atomic_exchange_n(&m->lock, 1, __ATOMIC_ACQUIRE))
            ;
    void *o = m->objs[--m->n];
    if (locked)
        __atomic_store_n(&m->lock, 0, __ATOMIC_RELEASE);
    return o;
}

static __attribute__((noinline)) void
pc_free(int locked, void *o)
{
    int cpu = sched_getcpu();
    pc_mag_t *m = &pc_mags[(unsigned)cpu % PC_CPUS];
    if (locked)
        while (__atomic_exchange_n(&m->lock, 1, __ATOMIC_ACQUIRE))
            ;
    m->objs[m->n++] = o;
    if (locked)
        __atomic_store_n(&m->lock, 0, __ATOMIC_RELEASE);
}

/* ns per pair for: [0] per-CPU + lock, [1] per-CPU without lock (unsafe),
 * [2] one sched_getcpu() call. Single thread; returns -1 on no memory. */
static int
percpu_alternative(long pairs, int reps, double out[3])
{
    static char objs[128][64];
    pc_mags = calloc(PC_CPUS, sizeof *pc_mags);
    if (!pc_mags)
        return -1;
    for (int c = 0; c < PC_CPUS; c++) {
        pc_mags[c].n = 128;
        for (int i = 0; i < 128; i++)
            pc_mags[c].objs[i] = objs[i];
    }
    uintptr_t sink = 0;
    out[0] = out[1] = out[2] = 1e30;
    for (int r = 0; r < reps; r++) {
        for (int locked = 1; locked >= 0; locked--) {
            uint64_t t0 = rm_bench_now_ns();
            for (long i = 0; i < pairs; i++) {
                void *o = pc_alloc(locked);
                sink ^= (uintptr_t)o;
                pc_free(locked, o);
            }
            double ns = (double)(rm_bench_now_ns() - t0) / (double)pairs;
            if (ns < out[!locked])
                out[!locked] = ns;
        }
        uint64_t t0 = rm_bench_now_ns();
        for (long i = 0; i < pairs; i++)
            sink += (uintptr_t)sched_getcpu();
        double ns = (double)(rm_bench_now_ns() - t0) / (double)pairs;
        if (ns < out[2])
            out[2] = ns;
    }
    g_sink = sink;
    free(pc_mags);
    pc_mags = NULL;
    return 0;
}

/* ---- metadata overhead ------------------------------------------------------------ */

static int
metadata_overhead(size_t bytes_per_class, double *ratio, json_t *per_class)
{
    rm_slab_t *s = NULL;
    rm_status_t st = rm_slab_create(NULL, &s);
    if (st != RM_OK) {
        fprintf(stderr, "slab: rm_slab_create: %s\n", rm_strerror(st));
        return -1;
    }
    uint64_t meta = 0, held = 0;
    int rc = 0;
    for (unsigned k = 0; k < RM_SLAB_NUM_CLASSES && rc == 0; k++) {
        rm_slab_cache_t *c = rm_slab_cache_at(s, k);
        size_t sz = rm_slab_class_size(k);
        size_t n = bytes_per_class / sz;
        void **v = malloc(n * sizeof *v);
        if (!v) {
            rc = -1;
            break;
        }
        for (size_t i = 0; i < n; i++)
            if (!(v[i] = rm_slab_alloc(c)))
                rc = -1;
        rm_slab_stats_t ss;
        rm_slab_cache_stats(c, &ss);
        meta += ss.metadata_bytes;
        held += ss.object_bytes_held;
        json_array_append_new(per_class,
                              json_pack("{s:I, s:I, s:I, s:f}", "size", (json_int_t)sz,
                                        "metadata_bytes", (json_int_t)ss.metadata_bytes,
                                        "object_bytes_held", (json_int_t)ss.object_bytes_held,
                                        "ratio", ss.object_bytes_held
                                            ? (double)ss.metadata_bytes / (double)ss.object_bytes_held : 0.0));
        for (size_t i = 0; i < n; i++)
            rm_slab_free(c, v[i]);
        free(v);
    }
    rm_slab_thread_flush(s);
    rm_slab_destroy(s);
    *ratio = held ? (double)meta / (double)held : 0.0;
    return rc;
}

/* ---- the suite ------------------------------------------------------------------- */

static int
run_slab(const rm_bench_opts_t *o, json_t *result)
{
    int batch = 8;
    const char *bs = rm_bench_arg(o, "--batch");
    if (bs)
        batch = atoi(bs);
    if (batch < 1 || batch > BATCH_MAX) {
        fprintf(stderr, "slab: --batch must be 1..%d\n", BATCH_MAX);
        return 1;
    }
    long pairs = o->quick ? 400000 : 4000000;   /* per single-threaded measurement */
    int reps = o->quick ? 3 : 7;
    long xfer_objects = o->quick ? 100000 : 800000;
    int xreps = o->quick ? 2 : 3;
    if (resolve_glibc() != 0) {
        fprintf(stderr, "slab: cannot resolve glibc's __libc_malloc/__libc_free\n");
        return 1;
    }

    rm_slab_t *s = NULL;
    rm_status_t st = rm_slab_create(NULL, &s);
    if (st != RM_OK) {
        fprintf(stderr, "slab: rm_slab_create: %s\n", rm_strerror(st));
        return 1;
    }

    double hot_ns[RM_SLAB_NUM_CLASSES][A_COUNT], x_ns[RM_SLAB_NUM_CLASSES][A_COUNT];
    measure_hot(s, batch, pairs, reps, hot_ns);
    fprintf(stderr, "slab: single-threaded runs done (batch %d)\n", batch);
    for (unsigned k = 0; k < RM_SLAB_NUM_CLASSES; k++) {
        size_t sz = rm_slab_class_size(k);
        rm_slab_cache_t *c = rm_slab_cache_at(s, k);
        for (int a = 0; a < A_COUNT; a++) {
            x_ns[k][a] = 1e30;
            (void)cross(a, c, sz, XFER_BATCH * XFER_SLOTS * 4);   /* warm-up */
        }
        for (int r = 0; r < xreps; r++)
            for (int a = 0; a < A_COUNT; a++) {
                double ns = cross(a, c, sz, xfer_objects);
                if (ns < 0) {
                    fprintf(stderr, "slab: producer/consumer run failed (%s, %zu B)\n", alloc_names[a], sz);
                    rm_slab_destroy(s);
                    return 1;
                }
                if (ns < x_ns[k][a])
                    x_ns[k][a] = ns;
            }
        fprintf(stderr, "slab: class %4zu B done\n", sz);
    }

    /* stats of the caches after the runs: magazine behaviour of the hot loops */
    rm_slab_stats_t ss[RM_SLAB_NUM_CLASSES];
    rm_slab_stats(s, ss);

    /* the same single-threaded comparison at other batch sizes */
    static const int other_batches[] = {1, 8, 32};
    json_t *sens = json_array();
    for (unsigned b = 0; b < sizeof other_batches / sizeof other_batches[0]; b++) {
        if (other_batches[b] == batch)
            continue;
        double ns[RM_SLAB_NUM_CLASSES][A_COUNT];
        measure_hot(s, other_batches[b], pairs / 2, reps, ns);
        double j = geo_ratio(ns, A_JEMALLOC), m = geo_ratio(ns, A_MIMALLOC), gl = geo_ratio(ns, A_GLIBC);
        fprintf(stderr, "slab: batch %2d: ratio_vs_jemalloc %.3f  ratio_vs_mimalloc %.3f  ratio_vs_glibc %.3f\n",
                other_batches[b], j, m, gl);
        json_array_append_new(sens, json_pack("{s:i, s:f, s:f, s:f}", "batch", other_batches[b],
                                              "ratio_vs_jemalloc", j, "ratio_vs_mimalloc", m,
                                              "ratio_vs_glibc", gl));
    }

    double rj[RM_SLAB_NUM_CLASSES], rmi[RM_SLAB_NUM_CLASSES], rg[RM_SLAB_NUM_CLASSES];
    double xj[RM_SLAB_NUM_CLASSES], xmi[RM_SLAB_NUM_CLASSES], xg[RM_SLAB_NUM_CLASSES];
    json_t *classes = json_array();
    fprintf(stderr, "\n%-6s | %-39s | %-39s\n", "", "single-threaded ns/pair (batch)", "producer/consumer ns/pair");
    fprintf(stderr, "%-6s | %8s %9s %9s %9s | %8s %9s %9s %9s | hit%%\n", "class", "rusty", "jemalloc",
            "mimalloc", "glibc", "rusty", "jemalloc", "mimalloc", "glibc");
    for (unsigned k = 0; k < RM_SLAB_NUM_CLASSES; k++) {
        size_t sz = rm_slab_class_size(k);
        rj[k] = hot_ns[k][A_RUSTYMEM] / hot_ns[k][A_JEMALLOC];
        rmi[k] = hot_ns[k][A_RUSTYMEM] / hot_ns[k][A_MIMALLOC];
        rg[k] = hot_ns[k][A_RUSTYMEM] / hot_ns[k][A_GLIBC];
        xj[k] = x_ns[k][A_RUSTYMEM] / x_ns[k][A_JEMALLOC];
        xmi[k] = x_ns[k][A_RUSTYMEM] / x_ns[k][A_MIMALLOC];
        xg[k] = x_ns[k][A_RUSTYMEM] / x_ns[k][A_GLIBC];
        fprintf(stderr, "%-6zu | %8.2f %9.2f %9.2f %9.2f | %8.2f %9.2f %9.2f %9.2f | %.2f\n", sz,
                hot_ns[k][0], hot_ns[k][1], hot_ns[k][2], hot_ns[k][3], x_ns[k][0], x_ns[k][1],
                x_ns[k][2], x_ns[k][3], 100.0 * ss[k].magazine_hit_ratio);
        json_t *h = json_object(), *x = json_object();
        for (int a = 0; a < A_COUNT; a++) {
            json_object_set_new(h, alloc_names[a], json_real(hot_ns[k][a]));
            json_object_set_new(x, alloc_names[a], json_real(x_ns[k][a]));
        }
        json_array_append_new(classes,
                              json_pack("{s:I, s:I, s:o, s:o, s:f, s:f, s:f, s:f, s:f}", "size",
                                        (json_int_t)sz, "magazine_capacity",
                                        (json_int_t)ss[k].magazine_capacity, "single_thread_ns", h,
                                        "producer_consumer_ns", x, "ratio_vs_jemalloc", rj[k],
                                        "ratio_vs_mimalloc", rmi[k], "ratio_vs_glibc", rg[k],
                                        "cross_thread_ratio_vs_jemalloc", xj[k],
                                        "magazine_hit_ratio", ss[k].magazine_hit_ratio));
    }
    /* the per-thread design in the same loop shape as the per-CPU alternative */
    double per_thread = 1e30;
    for (int r = 0; r < reps; r++) {
        double ns = hot(A_RUSTYMEM, rm_slab_cache_at(s, 0), 64, pairs / 2, 1);
        if (ns < per_thread)
            per_thread = ns;
    }
    rm_slab_destroy(s);

    double meta_ratio = 0;
    json_t *meta_classes = json_array();
    if (metadata_overhead(o->quick ? (size_t)4 << 20 : (size_t)16 << 20, &meta_ratio, meta_classes) != 0) {
        fprintf(stderr, "slab: metadata measurement failed\n");
        json_decref(classes);
        json_decref(meta_classes);
        json_decref(sens);
        return 1;
    }

    double alt[3];
    if (percpu_alternative(pairs / 2, reps, alt) != 0) {
        fprintf(stderr, "slab: per-CPU alternative: out of memory\n");
        json_decref(classes);
        json_decref(meta_classes);
        json_decref(sens);
        return 1;
    }
    fprintf(stderr, "slab: design alternatives, 64 B pair: per-thread (rustymem) %.2f ns, per-CPU+lock %.2f ns, "
            "per-CPU unlocked %.2f ns, sched_getcpu %.2f ns\n",
            per_thread, alt[0], alt[1], alt[2]);

    double gj = rm_bench_geomean(rj, RM_SLAB_NUM_CLASSES);
    double gm = rm_bench_geomean(rmi, RM_SLAB_NUM_CLASSES);
    double gg = rm_bench_geomean(rg, RM_SLAB_NUM_CLASSES);
    double gxj = rm_bench_geomean(xj, RM_SLAB_NUM_CLASSES);
    double gxm = rm_bench_geomean(xmi, RM_SLAB_NUM_CLASSES);
    double gxg = rm_bench_geomean(xg, RM_SLAB_NUM_CLASSES);
    fprintf(stderr,
            "\nratio_vs_jemalloc %.3f (target <= 0.6)  ratio_vs_mimalloc %.3f (<= 0.8)  ratio_vs_glibc %.3f\n"
            "cross_thread_ratio_vs_jemalloc %.3f (<= 1.0)  vs mimalloc %.3f  vs glibc %.3f\n"
            "metadata_overhead_ratio %.4f (<= 0.02)\n",
            gj, gm, gg, gxj, gxm, gxg, meta_ratio);

    json_object_set_new(result, "ratio_vs_jemalloc", json_real(gj));
    json_object_set_new(result, "ratio_vs_mimalloc", json_real(gm));
    json_object_set_new(result, "ratio_vs_glibc", json_real(gg));
    json_object_set_new(result, "cross_thread_ratio_vs_jemalloc", json_real(gxj));
    json_object_set_new(result, "metadata_overhead_ratio", json_real(meta_ratio));
    json_object_set_new(result, "cross_thread_ratio_vs_mimalloc", json_real(gxm));
    json_object_set_new(result, "cross_thread_ratio_vs_glibc", json_real(gxg));
    json_object_set_new(result, "classes", classes);
    json_object_set_new(result, "metadata_per_class", meta_classes);
    json_object_set_new(result, "batch", json_integer(batch));
    json_object_set_new(result, "batch_sensitivity", sens);
    json_object_set_new(result, "producer_consumer_batch", json_integer(XFER_BATCH));
    json_object_set_new(result, "numa_available", json_boolean(rm_slab_numa_available()));
    json_object_set_new(result, "quick", json_boolean(o->quick));
    json_object_set_new(result, "design_alternatives",
                        json_pack("{s:f, s:f, s:f, s:f}", "per_thread_magazine_ns_64", per_thread,
                                  "per_cpu_locked_magazine_ns_64", alt[0],
                                  "per_cpu_unlocked_magazine_ns_64", alt[1], "sched_getcpu_ns", alt[2]));
    return 0;
}

RM_BENCH_SUITE(slab, "ns per alloc+free pair per size class vs jemalloc/mimalloc/glibc", "--batch N", run_slab)
