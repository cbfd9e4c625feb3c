/*
 * test_arena_fault.c — SQLite-style fault sweep over arenas and the
 * large-object allocator: for n = 1, 2, … make the nth page-source request
 * fail (once, and from then on) while a scripted workload runs, and check
 * that every failure is a clean error, the invariants hold afterwards, the
 * structures stay usable, and every page is unmapped at the end.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "rustymem/arena.h"
#include "rustymem/large.h"
#include "rustymem/pagesrc.h"

#define KiB ((size_t)1 << 10)
#define MiB ((size_t)1 << 20)

/* Returns the number of page requests the workload made. */
static uint64_t
arena_workload(rm_pagesrc_faulty_t *f, long nth, int repeat)
{
    rm_arena_mgr_config_t cfg = {.block_cache_bytes = UINT64_MAX};   /* every block is a request */
    rm_arena_mgr_t *m = NULL;
    assert_int_equal(rm_arena_mgr_create(&cfg, &f->src, &m), RM_OK);
    if (nth > 0)
        rm_pagesrc_faulty_arm(f, nth, repeat);
    uint64_t calls0 = f->calls;
    rm_arena_t *a = NULL, *c = NULL;
    if (rm_arena_create(m, 1, 100 * KiB, &a) == RM_OK) {
        rm_arena_mark_t mk;
        rm_arena_mark(a, &mk);
        for (int i = 0; i < 200; i++) {
            void *p = NULL;
            rm_status_t st = rm_arena_alloc_ex(a, 1500, &p);
            assert_true(st == RM_OK || st == RM_ENOMEM || st == RM_ELIMIT);
            if (st == RM_OK)
                memset(p, 1, 1500);
        }
        assert_int_equal(rm_arena_check(a), RM_OK);
        assert_int_equal(rm_arena_rollback(a, &mk), RM_OK);
        if (rm_arena_create_child(a, "sp", &c) == RM_OK) {
            for (int i = 0; i < 50; i++) {
                void *p = NULL;
                rm_status_t st = rm_arena_alloc_ex(c, 3000, &p);
                assert_true(st == RM_OK || st == RM_ENOMEM || st == RM_ELIMIT);
            }
        }
        assert_int_equal(rm_arena_check(a), RM_OK);
        rm_arena_reset(a);
        assert_int_equal(rm_arena_check(a), RM_OK);
        rm_arena_destroy(a);
    }
    uint64_t calls = f->calls - calls0;
    rm_pagesrc_faulty_disarm(f);
    rm_arena_mgr_destroy(m);
    assert_int_equal(f->mapped_bytes, 0);
    return calls;
}

static void
test_arena_fault_sweep(void **state)
{
    (void)state;
    rm_pagesrc_faulty_t f;
    rm_pagesrc_faulty_init(&f, NULL);
    uint64_t total = arena_workload(&f, 0, 0);
    assert_true(total > 3);
    for (long n = 1; n <= (long)total + 1; n++) {
        arena_workload(&f, n, 0);
        arena_workload(&f, n, 1);
    }
}

static uint64_t
large_workload(rm_pagesrc_faulty_t *f, long nth, int repeat)
{
    rm_large_config_t cfg = {.segment_bytes = 2 * MiB, .no_huge_pages = 1, .aggressive_coalescing = 1};
    rm_large_t *l = NULL;
    assert_int_equal(rm_large_create(&cfg, &f->src, &l), RM_OK);
    if (nth > 0)
        rm_pagesrc_faulty_arm(f, nth, repeat);
    uint64_t calls0 = f->calls;
    void *obj[24] = {0};
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < 24; i++) {
            if (obj[i] && (i + round) % 3 == 0) {
                rm_large_free(l, obj[i]);
                obj[i] = NULL;
            } else if (!obj[i]) {
                rm_large_stats_t before, after;
                rm_large_stats(l, &before);
                void *p = NULL;
                rm_status_t st = rm_large_alloc_ex(l, (size_t)(1 + (i * 7 + round) % 9) * 256 * KiB, &p);
                assert_true(st == RM_OK || st == RM_ENOMEM);
                if (st == RM_ENOMEM) {
                    rm_large_stats(l, &after);
                    assert_int_equal(after.used_bytes, before.used_bytes);
                    assert_int_equal(after.mapped_bytes, before.mapped_bytes);
                }
                obj[i] = p;
            }
        }
        assert_int_equal(rm_large_check(l), RM_OK);
    }
    for (int i = 0; i < 24; i++)
        rm_large_free(l, obj[i]);
    assert_int_equal(rm_large_check(l), RM_OK);
    uint64_t calls = f->calls - calls0;
    rm_pagesrc_faulty_disarm(f);
    rm_large_destroy(l);
    assert_int_equal(f->mapped_bytes, 0);
    return calls;
}

static void
test_large_fault_sweep(void **state)
{
    (void)state;
    rm_pagesrc_faulty_t f;
    rm_pagesrc_faulty_init(&f, NULL);
    uint64_t total = large_workload(&f, 0, 0);
    assert_true(total > 2);
    for (long n = 1; n <= (long)total + 1; n++) {
        large_workload(&f, n, 0);
        large_workload(&f, n, 1);
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_arena_fault_sweep),
        cmocka_unit_test(test_large_fault_sweep),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
