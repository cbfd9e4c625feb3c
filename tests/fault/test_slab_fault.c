/*
 * test_slab_fault.c — the slab allocator under page-source failures.
 *
 * rm_pagesrc_faulty_t makes the Nth map() fail. Every failed allocation must
 * return NULL with the cache's counts unchanged, frees must keep working when
 * no magazine can be had, and once the faults stop everything is returned
 * (mapped bytes back to zero after destroy).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <pthread.h>

#include "rustymem/pagesrc.h"
#include "rustymem/slab.h"

static rm_slab_stats_t
stats_of(rm_slab_cache_t *c)
{
    rm_slab_stats_t st;
    assert_int_equal(rm_slab_cache_stats(c, &st), RM_OK);
    return st;
}

/* Fail the nth map (n = 1 … 12) of a workload that needs several slabs and
 * magazines; every NULL leaves the counts exact. */
static void
test_slab_fault_every_nth_map_leaves_counts_exact(void **state)
{
    (void)state;
    enum { N = 600 };
    for (long nth = 1; nth <= 12; nth++) {
        rm_pagesrc_faulty_t f;
        rm_pagesrc_faulty_init(&f, NULL);
        rm_slab_cache_t *c = NULL;
        assert_int_equal(rm_slab_cache_create(2048, NULL, &f.src, &c), RM_OK);
        rm_pagesrc_faulty_arm(&f, nth, 0);
        void **v = calloc(N, sizeof *v);
        assert_non_null(v);
        uint64_t ok = 0, failed = 0;
        for (int i = 0; i < N; i++) {
            v[i] = rm_slab_alloc(c);
            if (v[i]) {
                ok++;
                memset(v[i], 0x11, 2048);
            } else {
                failed++;
            }
            rm_slab_stats_t st = stats_of(c);
            assert_int_equal(st.allocs, ok);
            assert_int_equal(st.active_objects, ok);
            assert_int_equal(st.alloc_failures, failed);
        }
        assert_true(failed <= 1);   /* a single armed failure */
        for (int i = 0; i < N; i++)
            rm_slab_free(c, v[i]);
        assert_int_equal(stats_of(c).active_objects, 0);
        rm_slab_cache_thread_flush(c);
        assert_int_equal(rm_slab_cache_reap(c, NULL), RM_OK);
        assert_int_equal(stats_of(c).slabs, 0);
        rm_slab_cache_destroy(c);
        assert_int_equal(f.mapped_bytes, 0);
        free(v);
    }
}

typedef struct frees_arg {
    rm_slab_cache_t *c;
    void **v;
    int n;
} frees_arg_t;

static void *
free_all(void *arg)
{
    frees_arg_t *a = arg;
    for (int i = 0; i < a->n; i++)
        rm_slab_free(a->c, a->v[i]);
    return NULL;
}

/* A thread that cannot get magazines still frees: straight to the slabs. */
static void
test_slab_fault_free_works_when_no_magazine(void **state)
{
    (void)state;
    enum { N = 2000 };
    rm_pagesrc_faulty_t f;
    rm_pagesrc_faulty_init(&f, NULL);
    rm_slab_cache_t *c = NULL;
    assert_int_equal(rm_slab_cache_create(64, NULL, &f.src, &c), RM_OK);
    void **v = calloc(N, sizeof *v);
    assert_non_null(v);
    for (int i = 0; i < N; i++)
        assert_non_null(v[i] = rm_slab_alloc(c));
    rm_slab_cache_thread_flush(c);
    rm_pagesrc_faulty_arm(&f, 1, 1);   /* no more maps at all */
    frees_arg_t a = {c, v, N};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, free_all, &a), 0);
    pthread_join(t, NULL);
    rm_slab_stats_t st = stats_of(c);
    assert_int_equal(st.frees, N);
    assert_int_equal(st.active_objects, 0);
    assert_int_equal(rm_slab_cache_reap(c, NULL), RM_OK);
    assert_int_equal(stats_of(c).slabs, 0);
    rm_pagesrc_faulty_disarm(&f);
    rm_slab_cache_destroy(c);
    assert_int_equal(f.mapped_bytes, 0);
    free(v);
}

/* When the depot needs a new magazine and none can be mapped, the free path
 * empties a magazine into its slabs instead; nothing is lost. */
static void
test_slab_fault_free_flushes_when_magazine_map_fails(void **state)
{
    (void)state;
    enum { N = 20000 };
    rm_pagesrc_faulty_t f;
    rm_pagesrc_faulty_init(&f, NULL);
    rm_slab_cache_t *c = NULL;
    assert_int_equal(rm_slab_cache_create(64, NULL, &f.src, &c), RM_OK);
    assert_int_equal(rm_slab_cache_set_magazine_capacity(c, 4), RM_OK);
    void **v = calloc(N, sizeof *v);
    assert_non_null(v);
    for (int i = 0; i < N; i++)
        assert_non_null(v[i] = rm_slab_alloc(c));
    rm_pagesrc_faulty_arm(&f, 1, 1);
    for (int i = 0; i < N; i++)
        rm_slab_free(c, v[i]);
    rm_slab_stats_t st = stats_of(c);
    assert_int_equal(st.active_objects, 0);
    assert_true(st.slab_flushes > 0);
    rm_slab_cache_thread_flush(c);
    assert_int_equal(rm_slab_cache_reap(c, NULL), RM_OK);
    assert_int_equal(stats_of(c).slabs, 0);
    rm_pagesrc_faulty_disarm(&f);
    rm_slab_cache_destroy(c);
    assert_int_equal(f.mapped_bytes, 0);
    free(v);
}

/* When no magazine can be mapped the thread still allocates, straight from
 * the slabs, and attaches later once magazines can be had. */
static void
test_slab_fault_alloc_works_when_magazine_map_fails(void **state)
{
    (void)state;
    rm_pagesrc_faulty_t f;
    rm_pagesrc_faulty_init(&f, NULL);
    rm_slab_cache_t *c = NULL;
    assert_int_equal(rm_slab_cache_create(256, NULL, &f.src, &c), RM_OK);
    rm_pagesrc_faulty_arm(&f, 1, 0);   /* the first map is the magazine chunk */
    void *p = rm_slab_alloc(c);
    assert_non_null(p);
    assert_int_equal(f.failures, 1);
    rm_slab_stats_t st = stats_of(c);
    assert_int_equal(st.allocs, 1);
    assert_int_equal(st.threads, 0);
    assert_int_equal(st.alloc_failures, 0);
    void *q = rm_slab_alloc(c);   /* now magazines can be had */
    assert_non_null(q);
    st = stats_of(c);
    assert_int_equal(st.threads, 1);
    assert_int_equal(st.active_objects, 2);
    rm_slab_free(c, p);
    rm_slab_free(c, q);
    assert_int_equal(stats_of(c).active_objects, 0);
    rm_slab_cache_destroy(c);
    assert_int_equal(f.mapped_bytes, 0);
}

/* Creating caches maps nothing, so a failing source cannot fail creation;
 * the first allocation reports the failure. */
static void
test_slab_fault_set_create_maps_nothing(void **state)
{
    (void)state;
    rm_pagesrc_faulty_t f;
    rm_pagesrc_faulty_init(&f, NULL);
    rm_pagesrc_faulty_arm(&f, 1, 1);
    rm_slab_t *s = NULL;
    assert_int_equal(rm_slab_create(&f.src, &s), RM_OK);
    assert_int_equal(f.calls, 0);
    assert_null(rm_slab_alloc(rm_slab_cache_for(s, 100)));
    rm_slab_stats_t st[RM_SLAB_NUM_CLASSES];
    assert_int_equal(rm_slab_stats(s, st), RM_OK);
    assert_int_equal(st[1].alloc_failures, 1);
    assert_int_equal(st[1].slabs, 0);
    rm_slab_destroy(s);
    assert_int_equal(f.mapped_bytes, 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_slab_fault_every_nth_map_leaves_counts_exact),
        cmocka_unit_test(test_slab_fault_free_works_when_no_magazine),
        cmocka_unit_test(test_slab_fault_free_flushes_when_magazine_map_fails),
        cmocka_unit_test(test_slab_fault_alloc_works_when_magazine_map_fails),
        cmocka_unit_test(test_slab_fault_set_create_maps_nothing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
