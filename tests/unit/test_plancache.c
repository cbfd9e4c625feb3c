/*
 * test_plancache.c — the plan cache: hits and misses, LRU order, both
 * bounds on insert and on lowering, trim by fraction, invalidate/clear,
 * allocation failure, accounting, and a multi-threaded stress test.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>

#include <cmocka.h>

#include "rustymem/plancache.h"
#include "rustymem/stats.h"

#include "../support/fail_alloc.h"

static rm_plancache_t *
mk(uint64_t plans, uint64_t bytes, falloc_t *fa, rm_recalloc_t *ra)
{
    rm_plancache_config_t cfg = {.max_plans = plans, .max_bytes = bytes};
    if (fa) {
        *ra = falloc_recalloc(fa);
        cfg.alloc = ra;
    }
    rm_plancache_t *pc = NULL;
    assert_int_equal(rm_plancache_create(&cfg, &pc), RM_OK);
    return pc;
}

static rm_status_t
ins(rm_plancache_t *pc, const char *text, const char *plan)
{
    return rm_plancache_insert(pc, text, strlen(text), plan, strlen(plan));
}

static int
has(rm_plancache_t *pc, const char *text)
{
    char buf[256];
    size_t n;
    return rm_plancache_lookup(pc, text, strlen(text), buf, sizeof buf, &n) == RM_OK;
}

static rm_plancache_stats_t
stats(rm_plancache_t *pc)
{
    rm_plancache_stats_t st;
    rm_plancache_stats(pc, &st);
    return st;
}

static void
test_plancache_lookup_hit_after_insert_and_miss_before(void **state)
{
    rm_plancache_t *pc = mk(0, 0, NULL, NULL);
    char buf[64];
    size_t n = 0;
    assert_int_equal(rm_plancache_lookup(pc, "SELECT 1", 8, buf, sizeof buf, &n), RM_ENOENT);
    assert_int_equal(ins(pc, "SELECT 1", "plan-one"), RM_OK);
    assert_int_equal(rm_plancache_lookup(pc, "SELECT 1", 8, buf, sizeof buf, &n), RM_OK);
    assert_int_equal(n, 8);
    assert_memory_equal(buf, "plan-one", 8);
    assert_int_equal(rm_plancache_lookup(pc, "SELECT 1", 8, buf, 3, &n), RM_ELIMIT);
    assert_int_equal(n, 8);
    rm_plancache_stats_t st = stats(pc);
    assert_int_equal(st.hits, 2);
    assert_int_equal(st.misses, 1);
    assert_int_equal(st.plans, 1);
    assert_int_equal(st.max_plans, RM_PLANCACHE_DEFAULT_MAX_PLANS);
    assert_int_equal(st.max_bytes, RM_PLANCACHE_DEFAULT_MAX_BYTES);
    rm_plancache_destroy(pc);
}

static void
test_plancache_insert_replaces_existing_plan(void **state)
{
    rm_plancache_t *pc = mk(0, 0, NULL, NULL);
    assert_int_equal(ins(pc, "q", "old"), RM_OK);
    uint64_t b1 = stats(pc).bytes;
    assert_int_equal(ins(pc, "q", "newer"), RM_OK);
    char buf[16];
    size_t n;
    assert_int_equal(rm_plancache_lookup(pc, "q", 1, buf, sizeof buf, &n), RM_OK);
    assert_memory_equal(buf, "newer", 5);
    rm_plancache_stats_t st = stats(pc);
    assert_int_equal(st.plans, 1);
    assert_int_equal(st.bytes, b1 + 2);
    assert_int_equal(st.evictions, 0);
    rm_plancache_destroy(pc);
}

static void
test_plancache_evicts_least_recently_used_when_max_plans_reached(void **state)
{
    rm_plancache_t *pc = mk(3, 0, NULL, NULL);
    assert_int_equal(ins(pc, "a", "1"), RM_OK);
    assert_int_equal(ins(pc, "b", "2"), RM_OK);
    assert_int_equal(ins(pc, "c", "3"), RM_OK);
    assert_true(has(pc, "a"));   /* a becomes the newest; b is now the oldest */
    assert_int_equal(ins(pc, "d", "4"), RM_OK);
    assert_false(has(pc, "b"));
    assert_true(has(pc, "a") && has(pc, "c") && has(pc, "d"));
    rm_plancache_stats_t st = stats(pc);
    assert_int_equal(st.plans, 3);
    assert_int_equal(st.evictions, 1);
    rm_plancache_destroy(pc);
}

static void
test_plancache_evicts_when_max_bytes_reached(void **state)
{
    rm_plancache_t *pc = mk(1000, 0, NULL, NULL);
    assert_int_equal(ins(pc, "probe", ""), RM_OK);
    uint64_t overhead = stats(pc).bytes - 5;   /* entry header */
    rm_plancache_clear(pc, NULL);
    char plan[100];
    memset(plan, 'p', sizeof plan);
    uint64_t charge = overhead + 2 + sizeof plan;
    assert_int_equal(rm_plancache_set_max_bytes(pc, 3 * charge + charge / 2), RM_OK);
    char text[8];
    for (int i = 0; i < 10; i++) {
        snprintf(text, sizeof text, "q%d", i);
        assert_int_equal(rm_plancache_insert(pc, text, 2, plan, sizeof plan), RM_OK);
        rm_plancache_stats_t st = stats(pc);
        assert_true(st.bytes <= st.max_bytes);
    }
    rm_plancache_stats_t st = stats(pc);
    assert_int_equal(st.plans, 3);
    assert_int_equal(st.bytes, 3 * charge);
    assert_int_equal(st.evictions, 7);
    assert_true(has(pc, "q9") && has(pc, "q8") && has(pc, "q7"));
    rm_plancache_destroy(pc);
}

static void
test_plancache_insert_elimit_when_entry_exceeds_max_bytes(void **state)
{
    rm_plancache_t *pc = mk(10, 512, NULL, NULL);
    assert_int_equal(ins(pc, "small", "x"), RM_OK);
    char big[1024];
    memset(big, 'b', sizeof big);
    assert_int_equal(rm_plancache_insert(pc, "big", 3, big, sizeof big), RM_ELIMIT);
    assert_true(has(pc, "small"));   /* nothing evicted for it */
    rm_plancache_stats_t st = stats(pc);
    assert_int_equal(st.plans, 1);
    assert_int_equal(st.rejected, 1);
    assert_int_equal(st.evictions, 0);
    rm_plancache_destroy(pc);
}

static void
test_plancache_insert_enomem_leaves_cache_unchanged(void **state)
{
    falloc_t fa = {0};
    rm_recalloc_t ra;
    rm_plancache_t *pc = mk(2, 0, &fa, &ra);
    assert_int_equal(ins(pc, "a", "1"), RM_OK);
    assert_int_equal(ins(pc, "b", "2"), RM_OK);
    rm_plancache_stats_t before = stats(pc);
    long live = fa.live_bytes;
    fa.countdown = 1;
    assert_int_equal(ins(pc, "c", "3"), RM_ENOMEM);   /* would have evicted "a" */
    rm_plancache_stats_t after = stats(pc);
    assert_int_equal(after.plans, before.plans);
    assert_int_equal(after.bytes, before.bytes);
    assert_int_equal(after.evictions, 0);
    assert_int_equal(fa.live_bytes, live);
    assert_true(has(pc, "a") && has(pc, "b"));
    rm_plancache_destroy(pc);
    assert_int_equal(fa.live_bytes, 0);
}

static void
test_plancache_invalidate_removes_entry(void **state)
{
    rm_plancache_t *pc = mk(0, 0, NULL, NULL);
    assert_int_equal(ins(pc, "a", "1"), RM_OK);
    assert_int_equal(rm_plancache_invalidate(pc, "a", 1), RM_OK);
    assert_int_equal(rm_plancache_invalidate(pc, "a", 1), RM_ENOENT);
    assert_false(has(pc, "a"));
    rm_plancache_stats_t st = stats(pc);
    assert_int_equal(st.plans, 0);
    assert_int_equal(st.bytes, 0);
    assert_int_equal(st.invalidations, 1);
    rm_plancache_destroy(pc);
}

static void
test_plancache_trim_evicts_oldest_fraction(void **state)
{
    rm_plancache_t *pc = mk(0, 0, NULL, NULL);
    char text[16];
    for (int i = 0; i < 100; i++) {
        snprintf(text, sizeof text, "q%03d", i);
        assert_int_equal(ins(pc, text, "plan"), RM_OK);
    }
    uint64_t per = stats(pc).bytes / 100;
    uint64_t freed = 0;
    assert_int_equal(rm_plancache_trim(pc, 0.10, &freed), RM_OK);   /* Gentle */
    assert_int_equal(stats(pc).plans, 90);
    assert_int_equal(freed, 10 * per);
    assert_false(has(pc, "q009"));
    assert_true(has(pc, "q010"));
    assert_int_equal(rm_plancache_trim(pc, 0.50, &freed), RM_OK);   /* Aggressive */
    assert_int_equal(stats(pc).plans, 45);
    assert_true(has(pc, "q010"));   /* it was refreshed by the lookup above */
    assert_int_equal(rm_plancache_trim(pc, 1.5, &freed), RM_EINVAL);
    assert_int_equal(rm_plancache_trim(pc, NAN, &freed), RM_EINVAL);
    assert_int_equal(stats(pc).plans, 45);
    assert_int_equal(rm_plancache_trim(pc, 1.0, &freed), RM_OK);    /* Emergency */
    assert_int_equal(freed, 45 * per);
    rm_plancache_stats_t st = stats(pc);
    assert_int_equal(st.plans, 0);
    assert_int_equal(st.bytes, 0);
    assert_int_equal(st.trimmed, 100);
    rm_plancache_destroy(pc);
}

static void
test_plancache_clear_empties_cache(void **state)
{
    rm_plancache_t *pc = mk(0, 0, NULL, NULL);
    assert_int_equal(ins(pc, "a", "1"), RM_OK);
    assert_int_equal(ins(pc, "b", "2"), RM_OK);
    uint64_t bytes = stats(pc).bytes, freed = 0;
    rm_plancache_clear(pc, &freed);
    assert_int_equal(freed, bytes);
    assert_int_equal(stats(pc).plans, 0);
    rm_plancache_destroy(pc);
}

static void
test_plancache_lowering_bounds_evicts_at_once(void **state)
{
    rm_plancache_t *pc = mk(0, 0, NULL, NULL);
    char text[16];
    for (int i = 0; i < 50; i++) {
        snprintf(text, sizeof text, "q%d", i);
        assert_int_equal(ins(pc, text, "plan"), RM_OK);
    }
    assert_int_equal(rm_plancache_set_max_plans(pc, 20), RM_OK);
    assert_int_equal(stats(pc).plans, 20);
    uint64_t per = stats(pc).bytes / 20;
    assert_int_equal(rm_plancache_set_max_bytes(pc, 5 * per + 1), RM_OK);
    rm_plancache_stats_t st = stats(pc);
    assert_int_equal(st.plans, 5);
    assert_true(has(pc, "q49"));
    assert_int_equal(rm_plancache_set_max_plans(pc, 0), RM_EINVAL);
    assert_int_equal(rm_plancache_set_max_bytes(pc, 0), RM_EINVAL);
    assert_int_equal(stats(pc).max_plans, 20);
    rm_plancache_destroy(pc);
}

static void
test_plancache_random_ops_keep_both_bounds(void **state)
{
    rm_plancache_t *pc = mk(64, 8192, NULL, NULL);
    unsigned seed = 42;
    char text[32], plan[300];
    memset(plan, 'x', sizeof plan);
    for (int i = 0; i < 20000; i++) {
        snprintf(text, sizeof text, "SELECT * FROM t WHERE k = %u", rand_r(&seed) % 500);
        unsigned op = rand_r(&seed) % 100;
        if (op < 50) {
            rm_status_t rc = rm_plancache_insert(pc, text, strlen(text), plan, rand_r(&seed) % 300);
            assert_int_equal(rc, RM_OK);
        } else if (op < 90) {
            size_t n;
            rm_plancache_lookup(pc, text, strlen(text), plan, sizeof plan, &n);
        } else if (op < 95) {
            rm_plancache_invalidate(pc, text, strlen(text));
        } else if (op < 97) {
            rm_plancache_trim(pc, (rand_r(&seed) % 11) / 10.0, NULL);
        } else {
            rm_plancache_set_max_plans(pc, 1 + rand_r(&seed) % 128);
            rm_plancache_set_max_bytes(pc, 4096 + rand_r(&seed) % 8192);
        }
        rm_plancache_stats_t st = stats(pc);
        assert_true(st.plans <= st.max_plans);
        assert_true(st.bytes <= st.max_bytes);
    }
    rm_plancache_destroy(pc);
}

static void
test_plancache_accounting_reports_plan_cache(void **state)
{
    rm_plancache_t *pc = mk(0, 0, NULL, NULL);
    assert_int_equal(ins(pc, "a", "1"), RM_OK);
    rm_component_usage_t comps[RM_COMPONENTS_MAX];
    size_t n = 0;
    rm_stats_components(comps, RM_COMPONENTS_MAX, &n);
    int found = 0;
    for (size_t i = 0; i < n; i++)
        if (strcmp(comps[i].name, "plan_cache") == 0) {
            found = 1;
            assert_int_equal(comps[i].used_bytes, stats(pc).bytes);
            assert_true(comps[i].held_bytes > comps[i].used_bytes);
        }
    assert_true(found);
    rm_plancache_destroy(pc);
}

typedef struct stress {
    rm_plancache_t *pc;
    atomic_int stop;
    atomic_long bad;
} stress_t;

static void *
stress_worker(void *arg)
{
    stress_t *s = arg;
    unsigned seed = (unsigned)(uintptr_t)pthread_self();
    char text[48], plan[64], buf[64];
    for (int i = 0; i < 20000; i++) {
        unsigned k = rand_r(&seed) % 300;
        snprintf(text, sizeof text, "SELECT v FROM t WHERE k = %u", k);
        snprintf(plan, sizeof plan, "plan-for-%u", k);
        size_t n;
        rm_status_t rc = rm_plancache_lookup(s->pc, text, strlen(text), buf, sizeof buf, &n);
        if (rc == RM_OK && (n != strlen(plan) || memcmp(buf, plan, n) != 0))
            atomic_fetch_add(&s->bad, 1);   /* a plan must match its statement */
        else if (rc == RM_ENOENT)
            rm_plancache_insert(s->pc, text, strlen(text), plan, strlen(plan));
    }
    return NULL;
}

static void *
stress_responder(void *arg)
{
    stress_t *s = arg;
    unsigned seed = 3;
    while (!atomic_load(&s->stop)) {
        rm_plancache_trim(s->pc, 0.1, NULL);
        rm_plancache_set_max_plans(s->pc, 50 + rand_r(&seed) % 200);
        rm_plancache_stats_t st;
        rm_plancache_stats(s->pc, &st);
        if (st.plans > st.max_plans || st.bytes > st.max_bytes)
            atomic_fetch_add(&s->bad, 1);
        rm_component_usage_t comps[RM_COMPONENTS_MAX];
        size_t n;
        rm_stats_components(comps, RM_COMPONENTS_MAX, &n);
    }
    return NULL;
}

static void
test_plancache_concurrent_lookups_inserts_and_trims(void **state)
{
    stress_t s = {.pc = mk(200, 0, NULL, NULL)};
    pthread_t w[3], r;
    for (int i = 0; i < 3; i++)
        pthread_create(&w[i], NULL, stress_worker, &s);
    pthread_create(&r, NULL, stress_responder, &s);
    for (int i = 0; i < 3; i++)
        pthread_join(w[i], NULL);
    atomic_store(&s.stop, 1);
    pthread_join(r, NULL);
    assert_int_equal(atomic_load(&s.bad), 0);
    rm_plancache_stats_t st = stats(s.pc);
    assert_true(st.hits > 0 && st.misses > 0);
    rm_plancache_destroy(s.pc);
}

/* rm__recalloc_valid: an allocator without alloc or free is refused, *out untouched */
static void
test_plancache_create_einval_on_incomplete_allocator(void **state)
{
    falloc_t fa = {0};
    rm_recalloc_t half[2];
    falloc_halves(&fa, half);
    for (int i = 0; i < 2; i++) {
        rm_plancache_config_t cfg = {.alloc = &half[i]};
        rm_plancache_t *pc = NULL;
        assert_int_equal(rm_plancache_create(&cfg, &pc), RM_EINVAL);
        assert_null(pc);
    }
    assert_int_equal(fa.allocs, 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plancache_create_einval_on_incomplete_allocator),
        cmocka_unit_test(test_plancache_lookup_hit_after_insert_and_miss_before),
        cmocka_unit_test(test_plancache_insert_replaces_existing_plan),
        cmocka_unit_test(test_plancache_evicts_least_recently_used_when_max_plans_reached),
        cmocka_unit_test(test_plancache_evicts_when_max_bytes_reached),
        cmocka_unit_test(test_plancache_insert_elimit_when_entry_exceeds_max_bytes),
        cmocka_unit_test(test_plancache_insert_enomem_leaves_cache_unchanged),
        cmocka_unit_test(test_plancache_invalidate_removes_entry),
        cmocka_unit_test(test_plancache_trim_evicts_oldest_fraction),
        cmocka_unit_test(test_plancache_clear_empties_cache),
        cmocka_unit_test(test_plancache_lowering_bounds_evicts_at_once),
        cmocka_unit_test(test_plancache_random_ops_keep_both_bounds),
        cmocka_unit_test(test_plancache_accounting_reports_plan_cache),
        cmocka_unit_test(test_plancache_concurrent_lookups_inserts_and_trims),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
