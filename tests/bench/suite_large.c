/*
 * suite_large.c — large-object allocation with 10 000 free extents, for each
 * fit strategy.
 *
 * Design note. 20 001 objects of 4–256 KiB (whole pages, seeded) are
 * allocated back to back and every other one is freed, leaving 10 000 free
 * extents that cannot coalesce (live neighbours on both sides) plus the
 * segments' free tails. The timed loop allocates a random size from the same
 * distribution and frees it again: the free re-merges the carved piece with
 * its hole, so the number of free extents stays at 10 000 throughout. ns per
 * alloc+free pair, median of batches. Pages are never touched (the index,
 * not the memory, is measured). jemalloc mallocx/sdallocx of the same sizes
 * (its own state, not 10 000 holes) is given for scale.
 */
#include "bench.h"

#include "rustymem/large.h"

#include <jemalloc/jemalloc.h>
#include <stdio.h>
#include <stdlib.h>

#define HOLES 10000

static uint64_t
xs(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static size_t
rnd_size(uint64_t *s)
{
    return (size_t)(1 + xs(s) % 64) * 4096;
}

static double
measure(rm_large_strategy_t strat, int iters, double *extents_out)
{
    rm_large_config_t c = {.strategy = strat, .no_huge_pages = 1, .segment_bytes = 64u << 20,
                           .dirty_limit_bytes = UINT64_MAX};
    rm_large_t *l = NULL;
    if (rm_large_create(&c, NULL, &l) != RM_OK)
        return -1;
    void **objs = calloc(2 * HOLES + 1, sizeof *objs);
    if (!objs) {
        rm_large_destroy(l);
        return -1;
    }
    uint64_t s = 0xC0FFEE;
    for (int i = 0; i < 2 * HOLES + 1; i++)
        if (!(objs[i] = rm_large_alloc(l, rnd_size(&s))))
            goto fail;
    for (int i = 1; i < 2 * HOLES + 1; i += 2)
        rm_large_free(l, objs[i]);
    rm_large_stats_t st;
    rm_large_stats(l, &st);
    *extents_out = (double)st.free_extents;

    enum { BATCH = 1000 };
    int batches = iters / BATCH;
    double *v = calloc((size_t)batches, sizeof *v);
    if (!v)
        goto fail;
    for (int b = 0; b < batches; b++) {
        uint64_t t0 = rm_bench_now_ns();
        for (int i = 0; i < BATCH; i++) {
            void *p = rm_large_alloc(l, rnd_size(&s));
            if (!p) {
                free(v);
                goto fail;
            }
            rm_large_free(l, p);
        }
        v[b] = (double)(rm_bench_now_ns() - t0) / BATCH;
    }
    double med = rm_bench_percentile(v, (size_t)batches, 50);
    free(v);
    if (rm_large_check(l) != RM_OK) {
        fprintf(stderr, "large: invariant check failed\n");
        goto fail;
    }
    rm_large_destroy(l);
    free(objs);
    return med;
fail:
    rm_large_destroy(l);
    free(objs);
    return -1;
}

static int
run_large(const rm_bench_opts_t *o, json_t *result)
{
    int iters = o->quick ? 20000 : 200000;
    const char *keys[3] = {"best_fit_ns", "first_fit_ns", "worst_fit_ns"};
    for (int k = 0; k < 3; k++) {
        double ext = 0;
        double ns = measure((rm_large_strategy_t)k, iters, &ext);
        if (ns < 0) {
            fprintf(stderr, "large: %s failed\n", keys[k]);
            return 1;
        }
        fprintf(stderr, "large: %-9s %.0f ns per alloc+free with %.0f free extents\n",
                rm_large_strategy_name((rm_large_strategy_t)k), ns, ext);
        json_object_set_new(result, keys[k], json_real(ns));
        if (k == 0)
            json_object_set_new(result, "free_extents", json_integer((json_int_t)ext));
    }
    /* jemalloc for scale */
    uint64_t s = 0xC0FFEE;
    uint64_t t0 = rm_bench_now_ns();
    for (int i = 0; i < iters; i++) {
        size_t n = rnd_size(&s);
        void *p = mallocx(n, 0);
        if (!p)
            return 1;
        sdallocx(p, n, 0);
    }
    double jn = (double)(rm_bench_now_ns() - t0) / iters;
    fprintf(stderr, "large: jemalloc mallocx+sdallocx %.0f ns\n", jn);
    json_object_set_new(result, "jemalloc_ns", json_real(jn));
    return 0;
}

RM_BENCH_SUITE(large, "ns per large alloc+free with 10 000 free extents, per fit strategy", "", run_large);
