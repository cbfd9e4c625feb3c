/*
 * suite_arena.c — transaction arenas vs malloc+free, and O(1) rollback.
 *
 * Design note.
 *  - ratio_vs_malloc: a transaction allocates K chunks of log-uniform sizes
 *    (16–512 B, the OLTP mix), writes one byte of each, and ends. rustymem:
 *    rm_arena_create (no hint) + K × rm_arena_alloc + rm_arena_destroy.
 *    Peers: K × malloc then K × free of the same sizes. ns per chunk, the
 *    whole transaction included (creation and teardown amortised), best of
 *    five runs. `malloc` in rustymem-bench is jemalloc (linked), so
 *    ratio_vs_malloc compares with jemalloc's malloc/free; ratio_vs_glibc
 *    with glibc malloc/free (rm_bench_glibc_*: dlsym in libc.so.6).
 *  - rollback_ratio_64m_vs_1m: mark, allocate 1 MiB (resp. 64 MiB) in 1 KiB
 *    chunks, time rm_arena_rollback alone; median over repetitions. O(1)
 *    rollback gives ≈ 1. For scale, the peer equivalent (freeing every chunk
 *    with free()) is reported as malloc_free_ratio_64m_vs_1m.
 */
#include "bench.h"

#include "rustymem/arena.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


static uint64_t
xs(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

#define K 256

static double
run_arena(rm_arena_mgr_t *m, const uint32_t *sizes, int txns)
{
    uint64_t t0 = rm_bench_now_ns();
    for (int t = 0; t < txns; t++) {
        rm_arena_t *a = NULL;
        if (rm_arena_create(m, (uint64_t)t, 0, &a) != RM_OK)
            return -1;
        const uint32_t *sz = sizes + (size_t)(t % 64) * K;
        for (int i = 0; i < K; i++) {
            char *p = rm_arena_alloc(a, sz[i]);
            if (!p)
                return -1;
            p[0] = (char)i;
        }
        rm_arena_destroy(a);
    }
    return (double)(rm_bench_now_ns() - t0) / ((double)txns * K);
}

static double
run_malloc(void *(*al)(size_t), void (*fr)(void *), const uint32_t *sizes, int txns)
{
    char *ptrs[K];
    uint64_t t0 = rm_bench_now_ns();
    for (int t = 0; t < txns; t++) {
        const uint32_t *sz = sizes + (size_t)(t % 64) * K;
        for (int i = 0; i < K; i++) {
            ptrs[i] = al(sz[i]);
            if (!ptrs[i])
                return -1;
            ptrs[i][0] = (char)i;
        }
        for (int i = 0; i < K; i++)
            fr(ptrs[i]);
    }
    return (double)(rm_bench_now_ns() - t0) / ((double)txns * K);
}

static void *sys_malloc(size_t n) { return malloc(n); }
static void sys_free(void *p) { free(p); }

/* median ns of rm_arena_rollback after allocating `bytes` in 1 KiB chunks */
static double
rollback_ns(rm_arena_t *a, size_t bytes, int reps)
{
    double *v = calloc((size_t)reps, sizeof *v);
    if (!v)
        return -1;
    for (int r = 0; r < reps; r++) {
        rm_arena_mark_t mk;
        rm_arena_mark(a, &mk);
        for (size_t done = 0; done < bytes; done += 1024)
            if (!rm_arena_alloc(a, 1024)) {
                free(v);
                return -1;
            }
        uint64_t t0 = rm_bench_now_ns();
        rm_status_t st = rm_arena_rollback(a, &mk);
        v[r] = (double)(rm_bench_now_ns() - t0);
        if (st != RM_OK) {
            free(v);
            return -1;
        }
    }
    double med = rm_bench_percentile(v, (size_t)reps, 50);
    free(v);
    return med;
}

static double
free_all_ns(size_t bytes, int reps)
{
    size_t n = bytes / 1024;
    char **p = malloc(n * sizeof *p);
    double *v = calloc((size_t)reps, sizeof *v);
    if (!p || !v) {
        free(p);
        free(v);
        return -1;
    }
    for (int r = 0; r < reps; r++) {
        for (size_t i = 0; i < n; i++)
            p[i] = rm_bench_glibc_malloc(1024);
        uint64_t t0 = rm_bench_now_ns();
        for (size_t i = 0; i < n; i++)
            rm_bench_glibc_free(p[i]);
        v[r] = (double)(rm_bench_now_ns() - t0);
    }
    double med = rm_bench_percentile(v, (size_t)reps, 50);
    free(p);
    free(v);
    return med;
}

static int
run_arena_suite(const rm_bench_opts_t *o, json_t *result)
{
    int txns = o->quick ? 4000 : 40000;
    uint32_t *sizes = malloc(sizeof *sizes * 64 * K);
    if (!sizes)
        return 1;
    uint64_t s = 0x5eed;
    for (int i = 0; i < 64 * K; i++)
        sizes[i] = (uint32_t)exp(log(16.0) + (double)(xs(&s) % 10000) / 10000.0 * (log(512.0) - log(16.0)));

    rm_arena_mgr_t *m = NULL;
    if (rm_arena_mgr_create(NULL, NULL, &m) != RM_OK) {
        fprintf(stderr, "arena: manager create failed\n");
        free(sizes);
        return 1;
    }
    double best_a = 1e9, best_j = 1e9, best_g = 1e9;
    for (int rep = 0; rep < 5; rep++) {
        double a = run_arena(m, sizes, txns);
        double j = run_malloc(sys_malloc, sys_free, sizes, txns);
        double g = run_malloc(rm_bench_glibc_malloc, rm_bench_glibc_free, sizes, txns);
        if (a < 0 || j < 0 || g < 0) {
            fprintf(stderr, "arena: allocation failed\n");
            rm_arena_mgr_destroy(m);
            free(sizes);
            return 1;
        }
        best_a = fmin(best_a, a);
        best_j = fmin(best_j, j);
        best_g = fmin(best_g, g);
    }
    fprintf(stderr, "arena: %.2f ns/alloc, malloc(jemalloc)+free %.2f ns, glibc %.2f ns\n", best_a,
            best_j, best_g);
    json_object_set_new(result, "arena_ns_per_alloc", json_real(best_a));
    json_object_set_new(result, "malloc_free_ns", json_real(best_j));
    json_object_set_new(result, "glibc_malloc_free_ns", json_real(best_g));
    json_object_set_new(result, "ratio_vs_malloc", json_real(best_a / best_j));
    json_object_set_new(result, "ratio_vs_glibc", json_real(best_a / best_g));

    /* rollback: one Huge arena so 64 MiB fits */
    rm_arena_t *a = NULL;
    if (rm_arena_create_profile(m, 1, RM_ARENA_PROFILE_HUGE, &a) != RM_OK) {
        fprintf(stderr, "arena: huge arena create failed\n");
        rm_arena_mgr_destroy(m);
        free(sizes);
        return 1;
    }
    int reps = o->quick ? 31 : 201;
    double r1 = rollback_ns(a, 1 << 20, reps);
    double r64 = rollback_ns(a, 64u << 20, o->quick ? 11 : 41);
    r1 = rollback_ns(a, 1 << 20, reps);   /* again, after the spares exist */
    if (r1 <= 0 || r64 <= 0) {
        fprintf(stderr, "arena: rollback failed\n");
        rm_arena_destroy(a);
        rm_arena_mgr_destroy(m);
        free(sizes);
        return 1;
    }
    double f1 = free_all_ns(1 << 20, 11), f64 = free_all_ns(64u << 20, 5);
    fprintf(stderr, "arena: rollback after 1 MiB %.0f ns, after 64 MiB %.0f ns; free() of the same: %.0f / %.0f ns\n",
            r1, r64, f1, f64);
    json_object_set_new(result, "rollback_1m_ns", json_real(r1));
    json_object_set_new(result, "rollback_64m_ns", json_real(r64));
    json_object_set_new(result, "rollback_ratio_64m_vs_1m", json_real(r64 / r1));
    json_object_set_new(result, "malloc_free_ratio_64m_vs_1m", json_real(f64 / f1));
    rm_arena_destroy(a);
    rm_arena_mgr_destroy(m);
    free(sizes);
    return 0;
}

RM_BENCH_SUITE(arena, "ns per arena allocation vs malloc+free; O(1) rollback after 1 vs 64 MiB", "",
               run_arena_suite);
