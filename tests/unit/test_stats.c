/*
 * test_stats.c — the accounting registry: merging by name, nested components
 * left out of memcore totals (no double counting of records that live in slab
 * pages), fragmentation ratios.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "rustymem/arena.h"
#include "rustymem/stats.h"

typedef struct fake {
    uint64_t used, held;
    uint8_t nested;
} fake_t;

static void
report_fake(void *ctx, rm_component_usage_t *out)
{
    const fake_t *f = ctx;
    out->used_bytes = f->used;
    out->held_bytes = f->held;
    out->nested = f->nested;
}

static const rm_component_usage_t *
find(const rm_component_usage_t *c, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(c[i].name, name) == 0)
            return &c[i];
    return NULL;
}

static void
test_stats_totals_leave_out_nested_components(void **state)
{
    (void)state;
    fake_t slab = {900, 1000, 0}, mvcc = {700, 720, 1}, large = {50, 100, 0};
    rm_stats_handle_t *h1, *h2, *h3;
    assert_int_equal(rm_stats_register("t_slab", report_fake, &slab, &h1), RM_OK);
    assert_int_equal(rm_stats_register("t_mvcc", report_fake, &mvcc, &h2), RM_OK);
    assert_int_equal(rm_stats_register("t_large", report_fake, &large, &h3), RM_OK);
    rm_component_usage_t c[RM_COMPONENTS_MAX];
    size_t n = 0;
    rm_stats_components(c, RM_COMPONENTS_MAX, &n);
    const rm_component_usage_t *m = find(c, n, "t_mvcc");
    assert_non_null(m);
    assert_int_equal(m->nested, 1);
    assert_int_equal(m->used_bytes, 700);   /* still listed with its own figures */
    uint64_t used = 0, held = 0;
    rm_stats_totals(c, n, &used, &held);
    assert_int_equal(used, 950);
    assert_int_equal(held, 1100);
    rm_stats_unregister(h1);
    rm_stats_unregister(h2);
    rm_stats_unregister(h3);
}

static void
test_stats_merge_by_name_keeps_nested_flag(void **state)
{
    (void)state;
    fake_t a = {10, 20, 1}, b = {5, 5, 1};
    rm_stats_handle_t *h1, *h2;
    assert_int_equal(rm_stats_register("t_pool", report_fake, &a, &h1), RM_OK);
    assert_int_equal(rm_stats_register("t_pool", report_fake, &b, &h2), RM_OK);
    rm_component_usage_t c[RM_COMPONENTS_MAX];
    size_t n = 0;
    rm_stats_components(c, RM_COMPONENTS_MAX, &n);
    const rm_component_usage_t *p = find(c, n, "t_pool");
    assert_non_null(p);
    assert_int_equal(p->used_bytes, 15);
    assert_int_equal(p->held_bytes, 25);
    assert_int_equal(p->nested, 1);
    uint64_t held = 1;
    rm_stats_totals(c, n, NULL, &held);
    assert_int_equal(held, 0);
    rm_stats_unregister(h1);
    rm_stats_unregister(h2);
}

static void
test_stats_register_rejects_bad_arguments(void **state)
{
    (void)state;
    rm_stats_handle_t *h = NULL;
    assert_int_equal(rm_stats_register("", report_fake, NULL, &h), RM_EINVAL);
    assert_int_equal(rm_stats_register(NULL, report_fake, NULL, &h), RM_EINVAL);
    assert_int_equal(rm_stats_register("x", NULL, NULL, &h), RM_EINVAL);
    assert_null(h);
}

static void
test_stats_fragmentation_ratio_and_status(void **state)
{
    (void)state;
    assert_true(rm_stats_fragmentation(0, 0) == 0.0);
    assert_true(rm_stats_fragmentation(75, 100) > 0.249 && rm_stats_fragmentation(75, 100) < 0.251);
    assert_string_equal(rm_stats_fragmentation_status(0.1), "Good");
    assert_string_equal(rm_stats_fragmentation_status(0.25), "Fair");
    assert_string_equal(rm_stats_fragmentation_status(0.5), "Poor");
}

/* Reserved bytes (an arena's unused blocks) are held but not fragmentation;
 * they merge by name like used and held. */
static void
test_stats_component_fragmentation_leaves_out_reserved_bytes(void **state)
{
    (void)state;
    rm_component_usage_t c = {.used_bytes = 11u << 10, .held_bytes = 2u << 20,
                              .reserved_bytes = (2u << 20) - (11u << 10)};
    assert_true(rm_stats_fragmentation(c.used_bytes, c.held_bytes) > 0.99);   /* what used to alert */
    assert_true(rm_stats_component_fragmentation(&c) == 0.0);
    c.reserved_bytes = 1u << 20;   /* half reserved, the rest holes between objects */
    double f = rm_stats_component_fragmentation(&c);
    assert_true(f > 0.989 && f < 0.99);   /* 1 - 11 KiB / 1 MiB */
    c.reserved_bytes = 3u << 20;   /* more than held: never negative */
    assert_true(rm_stats_component_fragmentation(&c) == 0.0);
}

/* A real arena under load: its held bytes are its reservation, fragmentation 0. */
static void
test_stats_arena_reports_its_unused_blocks_as_reserved(void **state)
{
    (void)state;
    rm_arena_mgr_t *m;
    assert_int_equal(rm_arena_mgr_create(NULL, NULL, &m), RM_OK);
    rm_arena_t *a;
    assert_int_equal(rm_arena_create(m, 1, 40000, &a), RM_OK);
    assert_non_null(rm_arena_alloc(a, 100));
    rm_component_usage_t u[RM_COMPONENTS_MAX];
    size_t n = 0;
    rm_stats_components(u, RM_COMPONENTS_MAX, &n);
    int seen = 0;
    for (size_t i = 0; i < n; i++)
        if (strcmp(u[i].name, "arena") == 0) {
            seen = 1;
            assert_true(u[i].held_bytes > u[i].used_bytes);
            assert_int_equal(u[i].reserved_bytes, u[i].held_bytes - u[i].used_bytes);
            assert_true(rm_stats_component_fragmentation(&u[i]) == 0.0);
        }
    assert_true(seen);
    rm_arena_destroy(a);
    rm_arena_mgr_destroy(m);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stats_totals_leave_out_nested_components),
        cmocka_unit_test(test_stats_merge_by_name_keeps_nested_flag),
        cmocka_unit_test(test_stats_register_rejects_bad_arguments),
        cmocka_unit_test(test_stats_fragmentation_ratio_and_status),
        cmocka_unit_test(test_stats_component_fragmentation_leaves_out_reserved_bytes),
        cmocka_unit_test(test_stats_arena_reports_its_unused_blocks_as_reserved),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
