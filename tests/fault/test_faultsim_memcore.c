/*
 * test_faultsim_memcore.c — SQLite faultsim-style sweep over every memcore
 * module that takes memory from a pluggable source.
 *
 * For each module a scenario (create, a representative mix of operations,
 * destroy) is first run clean through a counting wrapper to learn k, the
 * number of requests it makes; it is then rerun for N = 1 … k with the Nth
 * request failing — once ("transient") and from the Nth on ("persistent",
 * SQLite's "benign" / "persist" modes). At every N: the failing call returns a
 * clean rm_status_t (or NULL where the API says so) and nothing else fails,
 * the module's counters stay consistent (allocs − frees = live, nothing
 * half-inserted, data already written reads back), the scenario carries on
 * or unwinds, and at destroy the source's outstanding bytes are back to 0
 * (LeakSanitizer covers malloc'd metadata in the ASan build).
 *
 * Sources: page-source modules (slab, arena, large, bufpool incl. its policy
 * simulator, session scratch) go through rm_pagesrc_faulty_t; the record
 * allocator modules (session records, mvcc, plancache) go through a faulty
 * rm_recalloc_t defined here with the same countdown semantics; and every
 * scenario runs a third time under the malloc shim (faultsim_malloc.c: the
 * modules' own malloc/calloc/realloc/posix_memalign/strdup calls — control
 * structures, hash tables, extent nodes), together with the malloc-only
 * modules poolsizer, pressure and knobs. Under the shim a run can end before
 * the Nth call (lazily allocated per-thread state, first-use caches): such
 * runs are counted as "not reached".
 *
 * The number of faults injected per module is printed to stderr.
 */
#include "faultsim_malloc.c"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "faultsim_assert.h"

#include "rustymem/arena.h"
#include "rustymem/bufpool.h"
#include "rustymem/knobs.h"
#include "rustymem/poolsizer.h"
#include "rustymem/pressure.h"
#include "rustymem/large.h"
#include "rustymem/mvcc.h"
#include "rustymem/pagesrc.h"
#include "rustymem/plancache.h"
#include "rustymem/recalloc.h"
#include "rustymem/session.h"
#include "rustymem/slab.h"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>
#define HAVE_LSAN 1
#else
#define HAVE_LSAN 0
#endif

#define KiB ((size_t)1 << 10)
#define MiB ((size_t)1 << 20)

/* ---- a faulty record allocator (same semantics as rm_pagesrc_faulty_t) ---- */

typedef struct faulty_ra {
    rm_recalloc_t ra;
    long countdown;          /* calls until the failure; <= 0 disarmed */
    int repeat;
    uint64_t calls, failures;
    int64_t outstanding;     /* bytes allocated and not yet freed */
} faulty_ra_t;

static void *
fra_alloc(void *ctx, size_t size)
{
    faulty_ra_t *f = ctx;
    __atomic_fetch_add(&f->calls, 1, __ATOMIC_RELAXED);
    if (__atomic_load_n(&f->countdown, __ATOMIC_ACQUIRE) > 0 &&
        __atomic_sub_fetch(&f->countdown, 1, __ATOMIC_ACQ_REL) == 0) {
        if (f->repeat)
            __atomic_store_n(&f->countdown, 1, __ATOMIC_RELEASE);
        __atomic_fetch_add(&f->failures, 1, __ATOMIC_RELAXED);
        return NULL;
    }
    void *p = malloc(size);
    if (p)
        __atomic_fetch_add(&f->outstanding, (int64_t)size, __ATOMIC_RELAXED);
    return p;
}

static void
fra_free(void *ctx, void *p, size_t size)
{
    faulty_ra_t *f = ctx;
    if (p)
        __atomic_fetch_sub(&f->outstanding, (int64_t)size, __ATOMIC_RELAXED);
    free(p);
}

static void
fra_init(faulty_ra_t *f)
{
    memset(f, 0, sizeof *f);
    f->ra.alloc = fra_alloc;
    f->ra.free = fra_free;
    f->ra.ctx = f;
}

static void
fra_arm(faulty_ra_t *f, long nth, int repeat)
{
    f->repeat = repeat;
    __atomic_store_n(&f->countdown, nth, __ATOMIC_RELEASE);
}

/* ---- the sweep driver ---------------------------------------------------- */

/* One run of a scenario: both sources are handed in; the scenario uses the
 * one its module takes. It must assert its own invariants. */
enum { SRC_PAGES = 0, SRC_RECALLOC = 1, SRC_MALLOC = 2 };
static const char *const src_name[] = {"pagesrc", "recalloc", "malloc"};

typedef struct fault_env {
    rm_pagesrc_faulty_t ps;
    faulty_ra_t ra;
    int src;                 /* the swept source: SRC_* */
    uint64_t m_calls, m_failures;   /* SRC_MALLOC, after the run */
} fault_env_t;

typedef void (*scenario_fn)(fault_env_t *env);

static uint64_t
env_calls(const fault_env_t *e)
{
    return e->src == SRC_MALLOC ? e->m_calls : e->src == SRC_RECALLOC ? e->ra.calls : e->ps.calls;
}

static uint64_t
env_failures(const fault_env_t *e)
{
    return e->src == SRC_MALLOC ? e->m_failures : e->src == SRC_RECALLOC ? e->ra.failures
                                                                          : e->ps.failures;
}

static void
env_init(fault_env_t *e, int src, long nth, int repeat)
{
    rm_pagesrc_faulty_init(&e->ps, NULL);
    fra_init(&e->ra);
    e->src = src;
    e->m_calls = e->m_failures = 0;
    if (src == SRC_MALLOC)
        rm_faultsim_malloc_arm(nth, repeat);   /* counts from here (nth 0: count only) */
    else if (nth > 0 && src == SRC_RECALLOC)
        fra_arm(&e->ra, nth, repeat);
    else if (nth > 0)
        rm_pagesrc_faulty_arm(&e->ps, nth, repeat);
}

/* After the scenario: stop the shim (its counters are thread-local). */
static void
env_done(fault_env_t *e)
{
    if (e->src == SRC_MALLOC) {
        e->m_calls = rm_faultsim_malloc_calls();
        e->m_failures = rm_faultsim_malloc_failures();
        rm_faultsim_malloc_disarm();
    }
}

static void
leak_check(const char *module, long n, int repeat)
{
#if HAVE_LSAN
    if (__lsan_do_recoverable_leak_check() != 0)
        fail_msg("leak after %s N=%ld repeat=%d", module, n, repeat);
#else
    (void)module;
    (void)n;
    (void)repeat;
#endif
}

static void
env_check_released(const fault_env_t *e)
{
    assert_int_equal(e->ps.mapped_bytes, 0);
    assert_int_equal(e->ra.outstanding, 0);
}

/* Sample N when k is large so one module stays within a few seconds under
 * ASan: every N up to 64, then a stride covering the rest (the last N
 * always included). */
static long
next_n(long n, long k)
{
    if (n < 64 || k <= 256)
        return n + 1;
    long stride = (k - 64) / 192 + 1;
    return n + stride > k && n < k ? k : n + stride;
}

static void
sweep(const char *module, scenario_fn fn, int src)
{
    fault_env_t env;
    /* two clean runs: the first warms one-time allocations (thread state) */
    for (int warm = 0; warm < 2; warm++) {
        env_init(&env, src, 0, 0);
        fn(&env);
        env_done(&env);
        env_check_released(&env);
    }
    long k = (long)env_calls(&env);
    assert_true(k >= 1);
    uint64_t injected[2] = {0, 0}, runs = 0, not_reached = 0;
    long sampled = 0;
    for (long n = 1; n <= k; n = next_n(n, k)) {
        sampled++;
        for (int repeat = 0; repeat <= 1; repeat++) {
            env_init(&env, src, n, repeat);
            fn(&env);
            env_done(&env);
            env_check_released(&env);
            uint64_t fl = env_failures(&env);
            if (fl == 0) {
                /* only under the shim may a run make fewer calls than the
                 * clean one (first-use allocations, timing-dependent paths) */
                assert_int_equal(src, SRC_MALLOC);
                assert_true((long)env_calls(&env) < n);
                not_reached++;
            } else if (!repeat) {
                /* up to the Nth call the run is the clean run: exactly one */
                assert_int_equal(fl, 1);
            }
            injected[repeat] += fl;
            runs++;
        }
        if (src == SRC_MALLOC)
            leak_check(module, n, 1);
    }
    fprintf(stderr,
            "faultsim %-10s source=%-8s k=%ld N-sampled=%ld runs=%llu not-reached=%llu faults-injected=%llu "
            "(transient %llu, persistent %llu)\n",
            module, src_name[src], k, sampled, (unsigned long long)runs, (unsigned long long)not_reached,
            (unsigned long long)(injected[0] + injected[1]), (unsigned long long)injected[0],
            (unsigned long long)injected[1]);
}

/* ---- slab ---------------------------------------------------------------- */

static void
check_slab_counters(rm_slab_t *s)
{
    rm_slab_stats_t st[RM_SLAB_NUM_CLASSES];
    assert_int_equal(rm_slab_stats(s, st), RM_OK);
    for (unsigned i = 0; i < RM_SLAB_NUM_CLASSES; i++) {
        assert_int_equal(st[i].allocs - st[i].frees, st[i].active_objects);
        assert_int_equal(st[i].bytes_in_use, st[i].active_objects * st[i].object_size);
        assert_true(st[i].object_bytes_held >= st[i].bytes_in_use);
    }
}

static void
scenario_slab(fault_env_t *env)
{
    rm_slab_t *s = NULL;
    rm_status_t st = rm_slab_create(&env->ps.src, &s);
    if (st != RM_OK) {
        assert_int_equal(st, RM_ENOMEM);
        assert_null(s);
        return;
    }
    static const size_t sizes[] = {64, 192, 1000, 4096};
    void *obj[4][300];
    memset(obj, 0, sizeof obj);
    for (int round = 0; round < 2; round++) {
        for (unsigned c = 0; c < 4; c++) {
            rm_slab_cache_t *cache = rm_slab_cache_for(s, sizes[c]);
            for (int i = 0; i < 300; i++) {
                if (obj[c][i])
                    continue;
                rm_slab_stats_t before, after;
                assert_int_equal(rm_slab_cache_stats(cache, &before), RM_OK);
                obj[c][i] = rm_slab_alloc(cache);
                assert_int_equal(rm_slab_cache_stats(cache, &after), RM_OK);
                if (obj[c][i]) {
                    memset(obj[c][i], c + 1, sizes[c]);
                    assert_int_equal(after.allocs, before.allocs + 1);
                } else {
                    assert_int_equal(after.allocs, before.allocs);
                    assert_int_equal(after.active_objects, before.active_objects);
                    assert_int_equal(after.alloc_failures, before.alloc_failures + 1);
                }
            }
            /* free every other object, the rest stays live */
            for (int i = round; i < 300; i += 2) {
                if (obj[c][i]) {
                    assert_int_equal(*(unsigned char *)obj[c][i], c + 1);
                    rm_slab_free(cache, obj[c][i]);
                    obj[c][i] = NULL;
                }
            }
        }
        check_slab_counters(s);
        rm_slab_thread_flush(s);
        uint64_t released = 0;
        assert_int_equal(rm_slab_reap(s, &released), RM_OK);
        check_slab_counters(s);
    }
    /* a standalone cache on the same source */
    rm_slab_cache_t *own = NULL;
    st = rm_slab_cache_create(300, "faultsim-300", &env->ps.src, &own);
    if (st == RM_OK) {
        void *p[50] = {0};
        for (int i = 0; i < 50; i++)
            p[i] = rm_slab_alloc(own);
        for (int i = 0; i < 50; i++)
            rm_slab_free(own, p[i]);
        rm_slab_stats_t cs;
        assert_int_equal(rm_slab_cache_stats(own, &cs), RM_OK);
        assert_int_equal(cs.active_objects, 0);
        rm_slab_cache_destroy(own);
    } else {
        assert_int_equal(st, RM_ENOMEM);
    }
    for (unsigned c = 0; c < 4; c++)
        for (int i = 0; i < 300; i++)
            if (obj[c][i]) {
                assert_int_equal(*(unsigned char *)obj[c][i], c + 1);
                rm_slab_free(rm_slab_cache_for(s, sizes[c]), obj[c][i]);
            }
    check_slab_counters(s);
    rm_slab_destroy(s);
}

static void
test_faultsim_slab(void **state)
{
    sweep("slab", scenario_slab, SRC_PAGES);
    sweep("slab", scenario_slab, SRC_MALLOC);
}

/* ---- arena --------------------------------------------------------------- */

static void
scenario_arena(fault_env_t *env)
{
    rm_arena_mgr_config_t cfg = {.block_cache_bytes = 2 * MiB};
    rm_arena_mgr_t *m = NULL;
    rm_status_t st = rm_arena_mgr_create(&cfg, &env->ps.src, &m);
    if (st != RM_OK) {
        assert_int_equal(st, RM_ENOMEM);
        return;
    }
    for (uint64_t txn = 1; txn <= 3; txn++) {
        rm_arena_t *a = NULL;
        st = rm_arena_create(m, txn, (size_t)txn * 64 * KiB, &a);
        if (st != RM_OK) {
            assert_int_equal(st, RM_ENOMEM);
            assert_null(a);
            continue;
        }
        rm_arena_mark_t mk;
        rm_arena_mark(a, &mk);
        uint64_t ok_bytes = 0;
        for (int i = 0; i < 150; i++) {
            void *p = NULL;
            size_t sz = 200 + (size_t)(i % 7) * 700;
            rm_arena_stats_t b, after;
            rm_arena_stats(a, &b);
            st = rm_arena_alloc_ex(a, sz, &p);
            rm_arena_stats(a, &after);
            /* RM_ELIMIT: the profile's max_size (chosen by the first
             * allocation), a configured limit, not a fault */
            assert_true(st == RM_OK || st == RM_ENOMEM || st == RM_ELIMIT);
            if (st == RM_OK) {
                memset(p, 0x11, sz);
                ok_bytes += sz;
            } else {
                assert_null(p);
                assert_int_equal(after.used_bytes, b.used_bytes);
            }
        }
        assert_int_equal(rm_arena_check(a), RM_OK);
        rm_arena_t *child = NULL;
        st = rm_arena_create_child(a, "savepoint", &child);
        if (st == RM_OK) {
            for (int i = 0; i < 40; i++) {
                void *p = NULL;
                st = rm_arena_alloc_ex(child, 5000, &p);
                assert_true(st == RM_OK || st == RM_ENOMEM || st == RM_ELIMIT);
            }
            assert_int_equal(rm_arena_check(a), RM_OK);
            rm_arena_destroy(child);
        } else {
            assert_int_equal(st, RM_ENOMEM);
        }
        assert_int_equal(rm_arena_check(a), RM_OK);
        assert_int_equal(rm_arena_rollback(a, &mk), RM_OK);
        rm_arena_stats_t as;
        rm_arena_stats(a, &as);
        assert_int_equal(as.used_bytes, 0);
        assert_int_equal(rm_arena_check(a), RM_OK);
        (void)ok_bytes;
        if (txn == 2)
            rm_arena_reset(a);
        rm_arena_destroy(a);
    }
    rm_arena_mgr_stats_t ms;
    rm_arena_mgr_stats(m, &ms);
    assert_int_equal(ms.used_bytes, 0);
    assert_int_equal(ms.held_bytes, ms.cached_bytes);   /* no live arena holds a block */
    rm_arena_mgr_destroy(m);
}

static void
test_faultsim_arena(void **state)
{
    sweep("arena", scenario_arena, SRC_PAGES);
    sweep("arena", scenario_arena, SRC_MALLOC);
}

/* ---- large --------------------------------------------------------------- */

static void
check_large(rm_large_t *l, const fault_env_t *env)
{
    rm_large_stats_t s;
    rm_large_stats(l, &s);
    assert_int_equal(rm_large_check(l), RM_OK);
    assert_int_equal(s.allocs - s.frees, s.live_objects);
    assert_int_equal(s.mapped_bytes, (uint64_t)env->ps.mapped_bytes);
}

static void
scenario_large(fault_env_t *env)
{
    rm_large_config_t cfg = {.segment_bytes = 4 * MiB, .no_huge_pages = 1};
    rm_large_t *l = NULL;
    rm_status_t st = rm_large_create(&cfg, &env->ps.src, &l);
    if (st != RM_OK) {
        assert_int_equal(st, RM_ENOMEM);
        return;
    }
    void *obj[20] = {0};
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < 20; i++) {
            if (obj[i] && (i + round) % 3 == 0) {
                assert_int_equal(*(unsigned char *)obj[i], (unsigned char)i);
                rm_large_free(l, obj[i]);
                obj[i] = NULL;
            } else if (!obj[i]) {
                rm_large_stats_t before, after;
                rm_large_stats(l, &before);
                size_t sz = (size_t)(1 + (i * 5 + round) % 11) * 512 * KiB;
                st = rm_large_alloc_ex(l, sz, &obj[i]);
                assert_true(st == RM_OK || st == RM_ENOMEM);
                if (st == RM_OK) {
                    memset(obj[i], i, 4096);
                } else {
                    assert_null(obj[i]);
                    rm_large_stats(l, &after);
                    assert_int_equal(after.used_bytes, before.used_bytes);
                    assert_int_equal(after.live_objects, before.live_objects);
                }
            }
        }
        check_large(l, env);
        if (round == 1) {
            rm_large_set_aggressive_coalescing(l, 1);
            (void)rm_large_release_free(l, UINT64_MAX);
            check_large(l, env);
        }
    }
    for (int i = 0; i < 20; i++)
        rm_large_free(l, obj[i]);
    check_large(l, env);
    rm_large_destroy(l);
}

static void
test_faultsim_large(void **state)
{
    sweep("large", scenario_large, SRC_PAGES);
    sweep("large", scenario_large, SRC_MALLOC);
}

/* ---- bufpool ------------------------------------------------------------- */

static char bp_dir[256];

static void
rm_rf(const char *dir)
{
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

static int
write_page(rm_bufpool_t *bp, uint32_t fid, uint64_t page, uint32_t tag)
{
    rm_bufpool_frame_t *f = NULL;
    rm_status_t st = rm_bufpool_pin(bp, fid, page, RM_BUFPOOL_EXCLUSIVE, &f);
    if (st != RM_OK) {
        assert_null(f);
        return st;
    }
    uint32_t *d = rm_bufpool_frame_data(f);
    d[0] = tag;
    d[1] = (uint32_t)page;
    rm_bufpool_unpin(bp, f, RM_BUFPOOL_EXCLUSIVE, 1);
    return RM_OK;
}

static void
check_page(rm_bufpool_t *bp, uint32_t fid, uint64_t page, uint32_t tag)
{
    rm_bufpool_frame_t *f = NULL;
    assert_int_equal(rm_bufpool_pin(bp, fid, page, RM_BUFPOOL_SHARED, &f), RM_OK);
    const uint32_t *d = rm_bufpool_frame_data(f);
    assert_int_equal(d[0], tag);
    assert_int_equal(d[1], (uint32_t)page);
    rm_bufpool_unpin(bp, f, RM_BUFPOOL_SHARED, 0);
}

static void
check_bufpool(rm_bufpool_t *bp, const fault_env_t *env)
{
    rm_bufpool_stats_t s;
    assert_int_equal(rm_bufpool_stats(bp, &s), RM_OK);
    assert_true(s.used_frames <= s.total_frames);
    assert_int_equal(s.pinned, 0);
    assert_int_equal(s.checksum_failures, 0);
    assert_true(env->ps.mapped_bytes > 0);
}

static void
scenario_bufpool(fault_env_t *env)
{
    rm_faultsim_malloc_suspend(1);   /* the test's own system("rm -rf") */
    rm_rf(bp_dir);
    rm_faultsim_malloc_suspend(0);
    rm_bufpool_config_t cfg;
    rm_bufpool_config_default(&cfg);
    cfg.dir = bp_dir;
    cfg.num_frames = 16;
    cfg.durable = 0;
    cfg.start_writer = 0;
    cfg.pagesrc = &env->ps.src;
    rm_bufpool_t *bp = NULL;
    rm_status_t st = rm_bufpool_create(&cfg, &bp);
    if (st != RM_OK) {
        assert_int_equal(st, RM_ENOMEM);
        assert_null(bp);
        return;
    }
    check_bufpool(bp, env);
    uint32_t fid = 0;
    assert_int_equal(rm_bufpool_open_file(bp, "faultsim.pages", &fid), RM_OK);
    for (uint64_t p = 0; p < 40; p++)   /* more pages than frames: evictions write back */
        assert_int_equal(write_page(bp, fid, p, 1000 + (uint32_t)p), RM_OK);
    assert_int_equal(rm_bufpool_checkpoint(bp), RM_OK);
    check_bufpool(bp, env);
    /* grow: maps new frames; a failure leaves the size unchanged */
    rm_bufpool_stats_t b, a;
    assert_int_equal(rm_bufpool_stats(bp, &b), RM_OK);
    st = rm_bufpool_resize(bp, 48);
    assert_int_equal(rm_bufpool_stats(bp, &a), RM_OK);
    if (st == RM_OK) {
        assert_int_equal(a.total_frames, 48);
    } else {
        assert_int_equal(st, RM_ENOMEM);
        assert_int_equal(a.total_frames, b.total_frames);
    }
    check_bufpool(bp, env);
    for (uint64_t p = 0; p < 40; p++) {
        check_page(bp, fid, p, 1000 + (uint32_t)p);
        if (p % 3 == 0)
            assert_int_equal(write_page(bp, fid, p, 2000 + (uint32_t)p), RM_OK);
    }
    uint64_t evicted = 0;
    assert_int_equal(rm_bufpool_evict(bp, 0.5, &evicted), RM_OK);
    st = rm_bufpool_resize(bp, 12);
    assert_int_equal(st, RM_OK);
    check_bufpool(bp, env);
    for (uint64_t p = 0; p < 40; p++)
        check_page(bp, fid, p, (p % 3 == 0 ? 2000 : 1000) + (uint32_t)p);
    /* the policy simulator takes the same source */
    uint64_t trace[512];
    for (size_t i = 0; i < 512; i++)
        trace[i] = (i * 7919) % 97;
    uint64_t hits = 0;
    st = rm_bufpool_simulate(RM_BUFPOOL_POLICY_RUSTYMEM, trace, 512, 32, &env->ps.src, &hits);
    assert_true(st == RM_OK || st == RM_ENOMEM);
    st = rm_bufpool_simulate(RM_BUFPOOL_POLICY_OPT, trace, 512, 32, &env->ps.src, &hits);
    assert_true(st == RM_OK || st == RM_ENOMEM);
    check_bufpool(bp, env);
    assert_int_equal(rm_bufpool_destroy(bp), RM_OK);
    /* everything written is on disk: a clean pool (no fault: the test's
     * own check) reads it back */
    rm_faultsim_malloc_suspend(1);
    cfg.pagesrc = NULL;
    assert_int_equal(rm_bufpool_create(&cfg, &bp), RM_OK);
    assert_int_equal(rm_bufpool_open_file(bp, "faultsim.pages", &fid), RM_OK);
    for (uint64_t p = 0; p < 40; p++)
        check_page(bp, fid, p, (p % 3 == 0 ? 2000 : 1000) + (uint32_t)p);
    assert_int_equal(rm_bufpool_destroy(bp), RM_OK);
    rm_faultsim_malloc_suspend(0);
}

static void
test_faultsim_bufpool(void **state)
{
    snprintf(bp_dir, sizeof bp_dir, "/tmp/rm-faultsim-bp.%ld", (long)getpid());
    sweep("bufpool", scenario_bufpool, SRC_PAGES);
    sweep("bufpool", scenario_bufpool, SRC_MALLOC);
    rm_rf(bp_dir);
}

/* ---- session (scratch from the page source, records from recalloc) ------- */

static int slot_users;   /* on_slot_open minus on_slot_close */

static rm_status_t
slot_open(void *ctx, uint32_t slot, void **user)
{
    slot_users++;
    *user = (void *)(uintptr_t)(slot + 1);
    return RM_OK;
}

static void
slot_close(void *ctx, uint32_t slot, void *user)
{
    assert_ptr_equal(user, (void *)(uintptr_t)(slot + 1));
    slot_users--;
}

static void
check_session(rm_session_mux_t *m)
{
    rm_session_stats_t s;
    rm_session_stats(m, &s);
    assert_int_equal(s.sessions, s.sessions_active + s.sessions_idle);
    assert_int_equal(s.connections_open, (uint64_t)slot_users);
    assert_true(s.connections_busy <= s.connections_open);
    assert_int_equal(s.sessions_active, s.connections_busy);
    assert_int_equal(s.opened_total - s.closed_total, s.sessions);
}

static void
scenario_session(fault_env_t *env)
{
    rm_session_config_t cfg = {
        .max_connections = 6,
        .max_sessions = 200,
        .session_ratio = 100,
        .scratch_bytes = 16 * KiB,
        .pages = &env->ps.src,
        .alloc = &env->ra.ra,
        .cb = {.on_slot_open = slot_open, .on_slot_close = slot_close},
    };
    slot_users = 0;
    rm_session_mux_t *m = NULL;
    rm_status_t st = rm_session_mux_create(&cfg, &m);
    if (st != RM_OK) {
        assert_int_equal(st, RM_ENOMEM);
        return;
    }
    rm_session_id_t ids[40] = {0};
    for (int i = 0; i < 40; i++) {
        st = rm_session_open(m, NULL, &ids[i]);
        if (st != RM_OK) {
            assert_int_equal(st, RM_ENOMEM);
            ids[i] = 0;
        }
    }
    check_session(m);
    for (int round = 0; round < 2; round++) {
        /* bind up to six sessions at once so several slots (scratch) open */
        for (int base = 0; base < 40; base += 6) {
            int bound[6] = {0};
            for (int i = base; i < base + 6 && i < 40; i++) {
                if (!ids[i])
                    continue;
                rm_session_conn_t conn;
                st = rm_session_begin(m, ids[i], 0, &conn);
                if (st == RM_OK) {
                    memset(conn.scratch, i, conn.scratch_bytes);
                    bound[i - base] = 1;
                } else {
                    assert_true(st == RM_ENOMEM || st == RM_EBUSY);
                    rm_session_info_t info;
                    assert_int_equal(rm_session_get(m, ids[i], &info), RM_OK);
                    assert_int_equal(info.slot, -1);     /* stays unbound */
                }
                check_session(m);
            }
            for (int i = base; i < base + 6 && i < 40; i++) {
                if (!bound[i - base])
                    continue;
                if (i % 5 == 4) {
                    /* abandon mid-transaction */
                    assert_int_equal(rm_session_close(m, ids[i]), RM_OK);
                    ids[i] = 0;
                } else {
                    assert_int_equal(rm_session_end(m, ids[i]), RM_OK);
                }
                check_session(m);
            }
            /* shrink then grow the pool: idle slots are closed and reopened */
            assert_int_equal(rm_session_set_pool_size(m, 1), RM_OK);
            check_session(m);
            assert_int_equal(rm_session_set_pool_size(m, 6), RM_OK);
        }
        for (int i = 0; i < 10; i++) {
            rm_session_id_t extra = 0;
            st = rm_session_open(m, NULL, &extra);
            if (st == RM_OK)
                assert_int_equal(rm_session_close(m, extra), RM_OK);
            else
                assert_int_equal(st, RM_ENOMEM);
        }
        check_session(m);
    }
    /* raise max_connections (may need memory) */
    st = rm_session_set_max_connections(m, 64);
    assert_true(st == RM_OK || st == RM_ENOMEM);
    check_session(m);
    for (int i = 0; i < 40; i += 2)
        if (ids[i])
            assert_int_equal(rm_session_close(m, ids[i]), RM_OK);
    check_session(m);
    rm_session_mux_destroy(m);
    assert_int_equal(slot_users, 0);
}

static void
test_faultsim_session_scratch(void **state)
{
    sweep("session", scenario_session, SRC_PAGES);
}

static void
test_faultsim_session_records(void **state)
{
    sweep("session", scenario_session, SRC_RECALLOC);
    sweep("session", scenario_session, SRC_MALLOC);
}

/* ---- mvcc (records and external values from recalloc) -------------------- */

static void
scenario_mvcc(fault_env_t *env)
{
    rm_mvcc_config_t cfg = {.max_versions_per_key = 4, .initial_buckets = 64, .alloc = &env->ra.ra};
    rm_mvcc_t *s = NULL;
    rm_status_t st = rm_mvcc_create(&cfg, &s);
    if (st != RM_OK) {
        assert_int_equal(st, RM_ENOMEM);
        return;
    }
    /* committed[k] = the last committed value tag of key k (0 = absent) */
    int committed[24] = {0};
    char big[600];
    for (int round = 1; round <= 6; round++) {
        rm_mvcc_txn_t *t = NULL;
        st = rm_mvcc_begin(s, 7, &t);
        if (st != RM_OK) {
            assert_int_equal(st, RM_ENOMEM);
            continue;
        }
        int pending[24];
        memcpy(pending, committed, sizeof pending);
        for (int k = 0; k < 24; k++) {
            char key[16];
            snprintf(key, sizeof key, "key-%02d", k);
            if ((k + round) % 4 == 0 && committed[k]) {
                st = rm_mvcc_delete(t, key, strlen(key));
                if (st == RM_OK)
                    pending[k] = 0;
                else
                    assert_int_equal(st, RM_ENOMEM);
                continue;
            }
            /* every third value is external (longer than the inline limit) */
            size_t vlen = (k % 3 == 0) ? sizeof big : 8;
            memset(big, 'a' + round, sizeof big);
            big[0] = (char)round;
            big[1] = (char)k;
            st = rm_mvcc_put(t, key, strlen(key), big, vlen);
            if (st == RM_OK)
                pending[k] = round;
            else
                assert_int_equal(st, RM_ENOMEM);
            /* the transaction sees exactly what it wrote successfully */
            char buf[sizeof big];
            size_t len = 0;
            st = rm_mvcc_get(t, key, strlen(key), buf, sizeof buf, &len);
            if (pending[k]) {
                assert_int_equal(st, RM_OK);
                assert_int_equal(buf[0], (char)pending[k]);
            } else {
                assert_int_equal(st, RM_ENOENT);
            }
        }
        if (round % 3 == 0) {
            rm_mvcc_abort(t);
        } else {
            assert_int_equal(rm_mvcc_commit(t), RM_OK);
            memcpy(committed, pending, sizeof committed);
        }
        /* a fresh reader sees the committed state */
        rm_mvcc_txn_t *r = NULL;
        if (rm_mvcc_begin(s, 8, &r) == RM_OK) {
            for (int k = 0; k < 24; k++) {
                char key[16], buf[sizeof big];
                size_t len = 0;
                snprintf(key, sizeof key, "key-%02d", k);
                st = rm_mvcc_get(r, key, strlen(key), buf, sizeof buf, &len);
                if (committed[k]) {
                    assert_int_equal(st, RM_OK);
                    assert_int_equal(buf[0], (char)committed[k]);
                    assert_int_equal(buf[1], (char)k);
                } else {
                    assert_int_equal(st, RM_ENOENT);
                }
            }
            rm_mvcc_abort(r);
        }
        rm_mvcc_stats_t ms;
        rm_mvcc_stats(s, &ms);
        assert_int_equal(ms.txns_active, 0);
        assert_true(ms.versions >= ms.keys);
    }
    uint64_t freed = 0;
    rm_mvcc_compact_all(s, &freed);
    rm_mvcc_destroy(s);
}

static void
test_faultsim_mvcc(void **state)
{
    sweep("mvcc", scenario_mvcc, SRC_RECALLOC);
    sweep("mvcc", scenario_mvcc, SRC_MALLOC);
}

/* ---- plancache (entries from recalloc) ----------------------------------- */

static void
scenario_plancache(fault_env_t *env)
{
    rm_plancache_config_t cfg = {.max_plans = 20, .max_bytes = 64 * KiB, .alloc = &env->ra.ra};
    rm_plancache_t *pc = NULL;
    rm_status_t st = rm_plancache_create(&cfg, &pc);
    if (st != RM_OK) {
        assert_int_equal(st, RM_ENOMEM);
        return;
    }
    int present[40] = {0};
    for (int round = 0; round < 2; round++) {
        for (int i = 0; i < 40; i++) {
            char text[32], plan[200];
            snprintf(text, sizeof text, "SELECT %d", i);
            memset(plan, 'p', sizeof plan);
            plan[0] = (char)(i + round);
            rm_plancache_stats_t b, a;
            rm_plancache_stats(pc, &b);
            st = rm_plancache_insert(pc, text, strlen(text), plan, sizeof plan);
            rm_plancache_stats(pc, &a);
            if (st == RM_OK) {
                present[i] = round + 1;
            } else {
                assert_int_equal(st, RM_ENOMEM);
                /* nothing changes: no eviction, no half-inserted entry */
                assert_int_equal(a.plans, b.plans);
                assert_int_equal(a.bytes, b.bytes);
                assert_int_equal(a.evictions, b.evictions);
            }
            assert_true(a.plans <= 20);
            assert_true(a.bytes <= 64 * KiB);
        }
        /* whatever is resident is the latest version inserted */
        for (int i = 0; i < 40; i++) {
            char text[32], buf[200];
            size_t len = 0;
            snprintf(text, sizeof text, "SELECT %d", i);
            st = rm_plancache_lookup(pc, text, strlen(text), buf, sizeof buf, &len);
            if (st == RM_OK)
                assert_int_equal(buf[0], (char)(i + present[i] - 1));
            else
                assert_int_equal(st, RM_ENOENT);
        }
        uint64_t freed = 0;
        assert_int_equal(rm_plancache_trim(pc, 0.5, &freed), RM_OK);
        assert_int_equal(rm_plancache_set_max_plans(pc, 10), RM_OK);
        assert_int_equal(rm_plancache_set_max_plans(pc, 20), RM_OK);
    }
    rm_plancache_stats_t s;
    rm_plancache_stats(pc, &s);
    assert_true(s.plans <= 20);
    rm_plancache_destroy(pc);
}

static void
test_faultsim_plancache(void **state)
{
    sweep("plancache", scenario_plancache, SRC_RECALLOC);
    sweep("plancache", scenario_plancache, SRC_MALLOC);
}

/* ---- malloc-only modules: poolsizer, pressure, knobs ---------------------- */

static rm_status_t
apply_ok(void *ctx, uint32_t target)
{
    *(uint32_t *)ctx = target;
    return RM_OK;
}

static void
scenario_poolsizer(fault_env_t *env)
{
    uint32_t applied = 0;
    rm_poolsizer_config_t cfg = {.min_size = 2, .max_size = 50, .scale_up_window_ns = RM_POOLSIZER_IMMEDIATE,
                                 .scale_down_window_ns = RM_POOLSIZER_IMMEDIATE, .apply = apply_ok,
                                 .apply_ctx = &applied};
    rm_poolsizer_t *ps = NULL;
    rm_status_t st = rm_poolsizer_create(&cfg, &ps);
    if (st != RM_OK) {
        assert_int_equal(st, RM_ENOMEM);
        return;
    }
    uint32_t target = 0;
    for (uint32_t i = 0; i < 40; i++)
        assert_int_equal(rm_poolsizer_observe(ps, i % 20, i % 3, 20, &target), RM_OK);
    assert_int_equal(rm_poolsizer_set_max_size(ps, 30), RM_OK);
    assert_int_equal(rm_poolsizer_set_min_size(ps, 4), RM_OK);
    rm_poolsizer_stats_t s;
    rm_poolsizer_stats(ps, &s);
    assert_true(s.target >= s.min_size && s.target <= s.max_size);
    rm_poolsizer_destroy(ps);
}

static void
test_faultsim_poolsizer(void **state)
{
    sweep("poolsizer", scenario_poolsizer, SRC_MALLOC);
}

static uint64_t
reclaim_some(void *ctx, rm_pressure_level_t level, uint64_t target)
{
    return target / 2;
}

static uint64_t
estimate_some(void *ctx, rm_pressure_level_t level)
{
    return 1u << 20;
}

static void
scenario_pressure(fault_env_t *env)
{
    rm_pressure_config_t cfg;
    rm_pressure_config_default(&cfg);
    cfg.budget_bytes = 1ull << 30;
    rm_pressure_t *p = NULL;
    rm_status_t st = rm_pressure_create(&cfg, NULL, &p);
    if (st != RM_OK) {
        assert_int_equal(st, RM_ENOMEM);
        return;
    }
    rm_pressure_reclaimer_t *r[3] = {NULL, NULL, NULL};
    static const char *const names[] = {"faultsim-a", "faultsim-b", "faultsim-c"};
    for (int i = 0; i < 3; i++) {
        rm_pressure_reclaimer_def_t def = {.name = names[i], .priority = i, .start_level = RM_PRESSURE_GENTLE,
                                           .estimate = estimate_some, .reclaim = reclaim_some};
        st = rm_pressure_reclaimer_add(p, &def, &r[i]);
        if (st != RM_OK) {
            assert_int_equal(st, RM_ENOMEM);
            r[i] = NULL;
        }
    }
    uint64_t t = 1000000000ull;
    for (int i = 0; i < 30; i++) {
        rm_pressure_sample_t smp = {.t_ns = t + (uint64_t)i * 100000000ull,
                                    .used_bytes = (uint64_t)(300 + i * 25) << 20,
                                    .budget_bytes = 1ull << 30, .usage_source = "injected"};
        st = rm_pressure_feed(p, &smp);
        assert_true(st == RM_OK || st == RM_ENOMEM);
    }
    uint64_t freed = 0;
    st = rm_pressure_trigger(p, RM_PRESSURE_AGGRESSIVE, 1 << 20, t + 4000000000ull, &freed);
    assert_true(st == RM_OK || st == RM_ENOMEM);
    uint32_t hz[3] = {30, 60, 300};
    st = rm_pressure_set_horizons(p, hz, 3);
    assert_true(st == RM_OK || st == RM_ENOMEM);
    rm_pressure_event_t ev[16];
    uint64_t cursor = 0, dropped = 0;
    size_t n = 0;
    rm_pressure_events_read(p, &cursor, ev, 16, &n, &dropped);
    for (int i = 0; i < 3; i++)
        rm_pressure_reclaimer_remove(p, r[i]);
    rm_pressure_destroy(p);
}

static void
test_faultsim_pressure(void **state)
{
    sweep("pressure", scenario_pressure, SRC_MALLOC);
}

static int knob_applies;

static void
knob_apply(void *ctx, const rm_knob_change_t *changes, size_t n)
{
    knob_applies += (int)n;
}

static void
scenario_knobs(fault_env_t *env)
{
    rm_knobs_t *k = NULL;
    rm_status_t st = rm_knobs_create(&k);
    if (st != RM_OK) {
        assert_int_equal(st, RM_ENOMEM);
        return;
    }
    rm_knobs_sub_t *sub = NULL;
    st = rm_knobs_subscribe(k, "plan_cache.", NULL, knob_apply, NULL, &sub);
    assert_true(st == RM_OK || st == RM_ENOMEM);
    rm_knobs_mark_started(k);
    for (int i = 0; i < 4; i++) {
        char v[16];
        snprintf(v, sizeof v, "%d", 100 + i);
        rm_knob_assign_t a[2] = {{"plan_cache.max_plans", v}, {"pressure.warning_threshold", "0.66"}};
        rm_knob_error_t err;
        int64_t before = rm_knobs_get_i64(k, RM_KNOB_PLAN_CACHE_MAX_PLANS);
        st = rm_knobs_set(k, a, 2, 0, &err);
        if (st == RM_OK) {
            assert_int_equal(rm_knobs_get_i64(k, RM_KNOB_PLAN_CACHE_MAX_PLANS), 100 + i);
        } else {
            /* all or nothing */
            assert_int_equal(st, RM_ENOMEM);
            assert_int_equal(rm_knobs_get_i64(k, RM_KNOB_PLAN_CACHE_MAX_PLANS), before);
        }
    }
    char *ini = NULL;
    size_t len = 0;
    st = rm_knobs_format_ini(k, RM_KNOBS_INI_ALL, &ini, &len);
    if (st == RM_OK) {
        assert_true(len > 0 && strstr(ini, "[plan_cache]") != NULL);
        free(ini);
    } else {
        assert_int_equal(st, RM_ENOMEM);
        assert_null(ini);
    }
    char text[64];
    assert_int_equal(rm_knobs_get_text(k, "plan_cache.max_plans", text, sizeof text, NULL, 0, NULL), RM_OK);
    rm_knobs_unsubscribe(k, sub);
    rm_knobs_destroy(k);
}

static void
test_faultsim_knobs(void **state)
{
    sweep("knobs", scenario_knobs, SRC_MALLOC);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_faultsim_slab),
        cmocka_unit_test(test_faultsim_arena),
        cmocka_unit_test(test_faultsim_large),
        cmocka_unit_test(test_faultsim_bufpool),
        cmocka_unit_test(test_faultsim_session_scratch),
        cmocka_unit_test(test_faultsim_session_records),
        cmocka_unit_test(test_faultsim_mvcc),
        cmocka_unit_test(test_faultsim_plancache),
        cmocka_unit_test(test_faultsim_poolsizer),
        cmocka_unit_test(test_faultsim_pressure),
        cmocka_unit_test(test_faultsim_knobs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
