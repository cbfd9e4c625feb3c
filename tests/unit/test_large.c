/*
 * test_large.c — the large-object allocator: coalescing (with a property
 * test), every fit strategy, knobs, release to the OS, huge-page fallback,
 * page-source failures.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "rustymem/large.h"
#include "rustymem/pagesrc.h"
#include "rustymem/stats.h"

#define KiB ((size_t)1 << 10)
#define MiB ((size_t)1 << 20)

static rm_large_t *
large_new(const rm_pagesrc_t *src, rm_large_strategy_t s)
{
    rm_large_config_t c = {.strategy = s, .no_huge_pages = 1, .segment_bytes = 4 * MiB,
                           .dirty_limit_bytes = UINT64_MAX};
    rm_large_t *l = NULL;
    assert_int_equal(rm_large_create(&c, src, &l), RM_OK);
    return l;
}

static void
test_large_alloc_rounds_to_pages(void **state)
{
    (void)state;
    rm_large_t *l = large_new(NULL, RM_LARGE_BEST_FIT);
    char *p = rm_large_alloc(l, 300 * KiB + 1);
    assert_non_null(p);
    assert_int_equal((uintptr_t)p % rm_page_size(), 0);
    assert_int_equal(rm_large_usable_size(l, p), 300 * KiB + rm_page_size());
    memset(p, 7, 300 * KiB + 1);
    rm_large_stats_t st;
    rm_large_stats(l, &st);
    assert_int_equal(st.used_bytes, 300 * KiB + rm_page_size());
    assert_int_equal(st.mapped_bytes, 4 * MiB);
    assert_int_equal(st.live_objects, 1);
    rm_large_free(l, p);
    assert_int_equal(rm_large_usable_size(l, p), 0);
    assert_int_equal(rm_large_check(l), RM_OK);
    rm_large_destroy(l);
}

static void
test_large_free_coalesces_neighbours(void **state)
{
    (void)state;
    rm_large_t *l = large_new(NULL, RM_LARGE_BEST_FIT);
    void *a = rm_large_alloc(l, 256 * KiB);
    void *b = rm_large_alloc(l, 256 * KiB);
    void *c = rm_large_alloc(l, 256 * KiB);
    rm_large_stats_t st;
    rm_large_free(l, a);
    rm_large_free(l, c);   /* merges with the segment's free tail */
    rm_large_stats(l, &st);
    assert_int_equal(st.free_extents, 2);
    rm_large_free(l, b);   /* merges both sides: one extent = the segment */
    rm_large_stats(l, &st);
    assert_int_equal(st.free_extents, 1);
    assert_int_equal(st.largest_free_bytes, 4 * MiB);
    assert_int_equal(st.coalesces, 3);
    assert_int_equal(rm_large_check(l), RM_OK);
    rm_large_destroy(l);
}

static void
test_large_free_ignores_invalid_pointer(void **state)
{
    (void)state;
    rm_large_t *l = large_new(NULL, RM_LARGE_BEST_FIT);
    char *a = rm_large_alloc(l, 256 * KiB);
    rm_large_free(l, a + 4096);
    rm_large_free(l, a);
    rm_large_free(l, a);   /* double free */
    rm_large_stats_t st;
    rm_large_stats(l, &st);
    assert_int_equal(st.invalid_frees, 2);
    assert_int_equal(st.used_bytes, 0);
    assert_int_equal(rm_large_check(l), RM_OK);
    rm_large_destroy(l);
}

/* Holes at low addresses: 64K, 32K, 128K (in that order), then the tail. */
static void
make_holes(rm_large_t *l, char **h64, char **h32, char **h128)
{
    char *a = rm_large_alloc(l, 64 * KiB);
    assert_non_null(rm_large_alloc(l, 16 * KiB));
    char *c = rm_large_alloc(l, 32 * KiB);
    assert_non_null(rm_large_alloc(l, 16 * KiB));
    char *e = rm_large_alloc(l, 128 * KiB);
    assert_non_null(rm_large_alloc(l, 16 * KiB));
    rm_large_free(l, a);
    rm_large_free(l, c);
    rm_large_free(l, e);
    *h64 = a;
    *h32 = c;
    *h128 = e;
}

static void
test_large_best_fit_takes_smallest_hole(void **state)
{
    (void)state;
    rm_large_t *l = large_new(NULL, RM_LARGE_BEST_FIT);
    char *h64, *h32, *h128;
    make_holes(l, &h64, &h32, &h128);
    assert_ptr_equal(rm_large_alloc(l, 30 * KiB), h32);
    assert_ptr_equal(rm_large_alloc(l, 60 * KiB), h64);
    assert_int_equal(rm_large_check(l), RM_OK);
    rm_large_destroy(l);
}

static void
test_large_first_fit_takes_lowest_hole(void **state)
{
    (void)state;
    rm_large_t *l = large_new(NULL, RM_LARGE_FIRST_FIT);
    char *h64, *h32, *h128;
    make_holes(l, &h64, &h32, &h128);
    assert_ptr_equal(rm_large_alloc(l, 30 * KiB), h64);
    assert_ptr_equal(rm_large_alloc(l, 100 * KiB), h128);
    assert_int_equal(rm_large_check(l), RM_OK);
    rm_large_destroy(l);
}

static void
test_large_worst_fit_takes_largest_extent(void **state)
{
    (void)state;
    rm_large_t *l = large_new(NULL, RM_LARGE_WORST_FIT);
    char *h64, *h32, *h128;
    make_holes(l, &h64, &h32, &h128);
    char *p = rm_large_alloc(l, 30 * KiB);
    assert_true(p > h128);   /* the big free tail of the segment */
    assert_int_equal(rm_large_check(l), RM_OK);
    rm_large_destroy(l);
}

static void
test_large_strategy_switches_live(void **state)
{
    (void)state;
    rm_large_t *l = large_new(NULL, RM_LARGE_BEST_FIT);
    char *h64, *h32, *h128;
    make_holes(l, &h64, &h32, &h128);
    assert_int_equal(rm_large_set_strategy(l, RM_LARGE_FIRST_FIT), RM_OK);
    assert_ptr_equal(rm_large_alloc(l, 30 * KiB), h64);
    assert_int_equal(rm_large_set_strategy(l, (rm_large_strategy_t)7), RM_EINVAL);
    rm_large_stats_t st;
    rm_large_stats(l, &st);
    assert_int_equal(st.strategy, RM_LARGE_FIRST_FIT);
    rm_large_strategy_t s;
    assert_int_equal(rm_large_strategy_parse("worst_fit", &s), RM_OK);
    assert_int_equal(s, RM_LARGE_WORST_FIT);
    assert_int_equal(rm_large_strategy_parse("random", &s), RM_EINVAL);
    rm_large_destroy(l);
}

static void
test_large_threshold_range(void **state)
{
    (void)state;
    rm_large_t *l = NULL;
    assert_int_equal(rm_large_create(NULL, NULL, &l), RM_OK);
    assert_int_equal(rm_large_threshold(l), 2 * MiB);
    assert_int_equal(rm_large_set_threshold(l, 100 * KiB), RM_EINVAL);
    assert_int_equal(rm_large_set_threshold(l, 65 * MiB), RM_EINVAL);
    assert_int_equal(rm_large_threshold(l), 2 * MiB);
    assert_int_equal(rm_large_set_threshold(l, 256 * KiB), RM_OK);
    assert_int_equal(rm_large_wants(l, 256 * KiB), 1);
    assert_int_equal(rm_large_wants(l, 255 * KiB), 0);
    rm_large_destroy(l);
    rm_large_config_t c = {.threshold_bytes = 1000};
    assert_int_equal(rm_large_create(&c, NULL, &l), RM_EINVAL);
}

static size_t
pround(size_t n)
{
    size_t ps = rm_page_size();
    return (n + ps - 1) / ps * ps;
}

static uint64_t
rnd(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* Property: after any sequence of allocs and frees, no two free extents are
 * adjacent, both indexes agree, accounting balances, and live objects never
 * overlap (each keeps its fill pattern). */
static void
property_run(rm_large_strategy_t strategy, uint64_t seed, int aggressive)
{
    rm_large_t *l = large_new(NULL, strategy);
    rm_large_set_aggressive_coalescing(l, aggressive);
    enum { SLOTS = 64 };
    unsigned char *obj[SLOTS] = {0};
    size_t len[SLOTS] = {0};
    uint64_t s = seed;
    uint64_t live = 0;
    for (int step = 0; step < 1500; step++) {
        int i = (int)(rnd(&s) % SLOTS);
        if (obj[i]) {
            assert_int_equal(obj[i][0], (unsigned char)i);
            assert_int_equal(obj[i][len[i] - 1], (unsigned char)i);
            rm_large_free(l, obj[i]);
            live -= pround(len[i]);
            obj[i] = NULL;
        } else {
            len[i] = 4096 * (1 + rnd(&s) % 300) - (rnd(&s) % 4096);
            obj[i] = rm_large_alloc(l, len[i]);
            assert_non_null(obj[i]);
            obj[i][0] = obj[i][len[i] - 1] = (unsigned char)i;
            live += pround(len[i]);
        }
        if (step % 50 == 0) {
            assert_int_equal(rm_large_check(l), RM_OK);
            rm_large_stats_t st;
            rm_large_stats(l, &st);
            assert_int_equal(st.used_bytes, live);
            assert_int_equal(st.free_bytes + st.used_bytes, st.mapped_bytes);
        }
    }
    rm_large_coalesce_all(l);
    assert_int_equal(rm_large_check(l), RM_OK);
    for (int i = 0; i < SLOTS; i++)
        rm_large_free(l, obj[i]);
    assert_int_equal(rm_large_check(l), RM_OK);
    rm_large_stats_t st;
    rm_large_stats(l, &st);
    assert_int_equal(st.used_bytes, 0);
    assert_int_equal(st.free_extents, st.segments);   /* fully coalesced */
    rm_large_destroy(l);
}

static void
test_large_property_coalescing_best_fit(void **state)
{
    (void)state;
    property_run(RM_LARGE_BEST_FIT, 0x1234567, 0);
}

static void
test_large_property_coalescing_first_fit(void **state)
{
    (void)state;
    property_run(RM_LARGE_FIRST_FIT, 0xabcdef1, 0);
}

static void
test_large_property_coalescing_worst_fit(void **state)
{
    (void)state;
    property_run(RM_LARGE_WORST_FIT, 0x7777777, 0);
}

static void
test_large_property_coalescing_when_aggressive(void **state)
{
    (void)state;
    property_run(RM_LARGE_BEST_FIT, 0x5151515, 1);
}

static void
test_large_release_free_returns_dirty_bytes(void **state)
{
    (void)state;
    rm_large_t *l = large_new(NULL, RM_LARGE_BEST_FIT);
    void *a = rm_large_alloc(l, 1 * MiB);
    void *b = rm_large_alloc(l, 1 * MiB);
    void *big = rm_large_alloc(l, 6 * MiB);   /* a second segment */
    rm_large_free(l, a);
    rm_large_free(l, big);
    rm_large_stats_t st;
    rm_large_stats(l, &st);
    assert_int_equal(st.dirty_bytes, 7 * MiB);
    assert_int_equal(st.segments, 2);
    uint64_t gave = rm_large_release_free(l, UINT64_MAX);
    assert_int_equal(gave, 7 * MiB);
    rm_large_stats(l, &st);
    assert_int_equal(st.dirty_bytes, 0);
    assert_int_equal(st.segments, 1);        /* the all-free segment is unmapped */
    assert_int_equal(st.held_bytes, 1 * MiB);
    assert_int_equal(rm_large_check(l), RM_OK);
    rm_large_free(l, b);
    rm_large_destroy(l);
}

static void
test_large_aggressive_mode_releases_on_free(void **state)
{
    (void)state;
    rm_large_t *l = large_new(NULL, RM_LARGE_BEST_FIT);
    rm_large_set_aggressive_coalescing(l, 1);
    void *a = rm_large_alloc(l, 1 * MiB);
    void *b = rm_large_alloc(l, 1 * MiB);
    rm_large_free(l, a);
    rm_large_stats_t st;
    rm_large_stats(l, &st);
    assert_int_equal(st.dirty_bytes, 0);
    assert_int_equal(st.released_bytes, 1 * MiB);
    assert_int_equal(st.aggressive_coalescing, 1);
    rm_large_free(l, b);
    assert_int_equal(rm_large_check(l), RM_OK);
    rm_large_destroy(l);
}

static void
test_large_dirty_limit_triggers_release(void **state)
{
    (void)state;
    rm_large_t *l = large_new(NULL, RM_LARGE_BEST_FIT);
    rm_large_set_dirty_limit(l, 512 * KiB);
    void *a = rm_large_alloc(l, 256 * KiB);
    void *k = rm_large_alloc(l, 256 * KiB);
    void *b = rm_large_alloc(l, 1 * MiB);
    void *k2 = rm_large_alloc(l, 256 * KiB);
    rm_large_free(l, a);   /* 256 KiB dirty: under the limit, kept */
    rm_large_stats_t st;
    rm_large_stats(l, &st);
    assert_int_equal(st.dirty_bytes, 256 * KiB);
    rm_large_free(l, b);   /* over the limit: released */
    rm_large_stats(l, &st);
    assert_int_equal(st.dirty_bytes, 256 * KiB);
    assert_int_equal(rm_large_check(l), RM_OK);
    rm_large_free(l, k);
    rm_large_free(l, k2);
    rm_large_destroy(l);
}

static void
test_large_coalesce_all_unmaps_free_segments(void **state)
{
    (void)state;
    rm_large_t *l = large_new(NULL, RM_LARGE_BEST_FIT);
    void *a = rm_large_alloc(l, 3 * MiB);
    void *b = rm_large_alloc(l, 3 * MiB);   /* second segment */
    rm_large_free(l, a);
    rm_large_free(l, b);
    assert_int_equal(rm_large_coalesce_all(l), 2);
    rm_large_stats_t st;
    rm_large_stats(l, &st);
    assert_int_equal(st.segments, 0);
    assert_int_equal(st.mapped_bytes, 0);
    assert_int_equal(rm_large_check(l), RM_OK);
    rm_large_destroy(l);
}

/* A page source that pretends huge pages were not (or were) available. */
typedef struct fake_src {
    rm_pagesrc_t src;
    rm_page_backing_t give;
    unsigned last_flags;
} fake_src_t;

static void *
fake_map(void *ctx, size_t bytes, size_t align, int node, unsigned flags, rm_page_backing_t *b)
{
    fake_src_t *f = ctx;
    f->last_flags = flags;
    const rm_pagesrc_t *d = rm_pagesrc_default();
    void *p = d->methods->map(d->ctx, bytes, align, node, 0, NULL);
    if (p && b)
        *b = f->give;
    return p;
}

static void
fake_unmap(void *ctx, void *addr, size_t bytes)
{
    const rm_pagesrc_t *d = rm_pagesrc_default();
    d->methods->unmap(d->ctx, addr, bytes);
}

static void
fake_release(void *ctx, void *addr, size_t bytes)
{
    const rm_pagesrc_t *d = rm_pagesrc_default();
    d->methods->release(d->ctx, addr, bytes);
}

static const rm_pagesrc_methods_t fake_methods = {fake_map, fake_unmap, fake_release};

/* The real page source, asked for huge pages on a machine that may have none
 * reserved (nr_hugepages = 0 here): what it returns must be safe to touch.
 * MAP_HUGETLB | MAP_NORESERVE mapped fine and the first write was a SIGBUS
 * (a 3 MiB value committed through the engine killed rustymemd). */
static void
test_large_huge_request_is_safe_to_touch(void **state)
{
    (void)state;
    const rm_pagesrc_t *src = rm_pagesrc_default();
    rm_page_backing_t got = RM_BACKING_NORMAL;
    unsigned char *p = src->methods->map(src->ctx, 4 * MiB, 2 * MiB, -1,
                                         RM_PAGES_HUGE_2M, &got);
    assert_non_null(p);
    memset(p, 0xa5, 4 * MiB);                   /* SIGBUS before the fix */
    assert_int_equal(p[4 * MiB - 1], 0xa5);
    src->methods->unmap(src->ctx, p, 4 * MiB);

    rm_large_t *l = NULL;
    assert_int_equal(rm_large_create(NULL, NULL, &l), RM_OK);
    size_t sizes[] = {2 * MiB, 3 * MiB, 4 * MiB, 6 * MiB};
    void *a[4];
    for (int i = 0; i < 4; i++) {
        a[i] = rm_large_alloc(l, sizes[i]);
        assert_non_null(a[i]);
        memset(a[i], i + 1, sizes[i]);
    }
    for (int i = 0; i < 4; i++)
        rm_large_free(l, a[i]);
    rm_large_destroy(l);
}

static void
test_large_counts_huge_page_fallback(void **state)
{
    (void)state;
    fake_src_t f = {.src = {&fake_methods, &f}, .give = RM_BACKING_THP};
    rm_large_config_t c = {.segment_bytes = 4 * MiB};
    rm_large_t *l = NULL;
    assert_int_equal(rm_large_create(&c, &f.src, &l), RM_OK);
    void *a = rm_large_alloc(l, 1 * MiB);
    assert_non_null(a);
    assert_true(f.last_flags & RM_PAGES_HUGE_2M);
    f.give = RM_BACKING_NORMAL;
    void *b = rm_large_alloc(l, 4 * MiB);
    f.give = RM_BACKING_HUGE_2M;
    void *c2 = rm_large_alloc(l, 4 * MiB);
    rm_large_stats_t st;
    rm_large_stats(l, &st);
    assert_int_equal(st.segments_by_backing[RM_BACKING_THP], 1);
    assert_int_equal(st.segments_by_backing[RM_BACKING_NORMAL], 1);
    assert_int_equal(st.segments_by_backing[RM_BACKING_HUGE_2M], 1);
    assert_int_equal(st.huge_fallbacks, 2);
    rm_large_set_huge_pages(l, 0);
    void *d = rm_large_alloc(l, 5 * MiB);
    assert_int_equal(f.last_flags & (RM_PAGES_HUGE_2M | RM_PAGES_HUGE_1G | RM_PAGES_THP), 0);
    rm_large_free(l, a);
    rm_large_free(l, b);
    rm_large_free(l, c2);
    rm_large_free(l, d);
    assert_int_equal(rm_large_check(l), RM_OK);
    rm_large_destroy(l);
}

static void
test_large_alloc_fails_cleanly_when_pagesrc_fails(void **state)
{
    (void)state;
    rm_pagesrc_faulty_t f;
    rm_pagesrc_faulty_init(&f, NULL);
    rm_large_t *l = large_new(&f.src, RM_LARGE_BEST_FIT);
    void *a = rm_large_alloc(l, 3 * MiB);
    assert_non_null(a);
    rm_large_stats_t before, after;
    rm_large_stats(l, &before);
    rm_pagesrc_faulty_arm(&f, 1, 1);
    void *p = (void *)0x1;
    assert_int_equal(rm_large_alloc_ex(l, 2 * MiB, &p), RM_ENOMEM);
    assert_ptr_equal(p, (void *)0x1);
    rm_large_stats(l, &after);
    assert_int_equal(after.used_bytes, before.used_bytes);
    assert_int_equal(after.mapped_bytes, before.mapped_bytes);
    assert_int_equal(after.free_extents, before.free_extents);
    assert_int_equal(rm_large_check(l), RM_OK);
    assert_non_null(rm_large_alloc(l, 512 * KiB));   /* fits the existing segment */
    rm_pagesrc_faulty_disarm(&f);
    assert_non_null(rm_large_alloc(l, 2 * MiB));
    assert_int_equal(rm_large_check(l), RM_OK);
    rm_large_destroy(l);
    assert_int_equal(f.mapped_bytes, 0);
}

static void
test_large_reports_to_registry(void **state)
{
    (void)state;
    rm_large_t *l = large_new(NULL, RM_LARGE_BEST_FIT);
    void *a = rm_large_alloc(l, 1 * MiB);
    void *b = rm_large_alloc(l, 1 * MiB);
    rm_large_free(l, a);
    rm_component_usage_t rows[RM_COMPONENTS_MAX];
    size_t n = 0;
    rm_stats_components(rows, RM_COMPONENTS_MAX, &n);
    int found = 0;
    for (size_t i = 0; i < n && i < RM_COMPONENTS_MAX; i++)
        if (strcmp(rows[i].name, "large_object") == 0) {
            found = 1;
            assert_int_equal(rows[i].used_bytes, 1 * MiB);
            assert_int_equal(rows[i].held_bytes, 2 * MiB);
        }
    assert_true(found);
    rm_large_stats_t st;
    rm_large_stats(l, &st);
    assert_true(st.fragmentation_ratio > 0.49 && st.fragmentation_ratio < 0.51);
    rm_large_free(l, b);
    rm_large_destroy(l);
}

static void
test_large_methods_table(void **state)
{
    (void)state;
    rm_large_t *l = large_new(NULL, RM_LARGE_BEST_FIT);
    const rm_allocator_methods_t *mt = &rm_large_methods;
    void *p = mt->alloc(l, 300 * KiB);
    assert_non_null(p);
    assert_int_equal(mt->usable_size(l, p), 300 * KiB);
    assert_int_equal(mt->check(l), RM_OK);
    mt->reset(l);
    rm_large_stats_t st;
    mt->stats(l, &st);
    assert_int_equal(st.used_bytes, 0);
    assert_int_equal(st.mapped_bytes, 0);
    assert_int_equal(mt->check(l), RM_OK);
    mt->destroy(l);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_large_alloc_rounds_to_pages),
        cmocka_unit_test(test_large_free_coalesces_neighbours),
        cmocka_unit_test(test_large_free_ignores_invalid_pointer),
        cmocka_unit_test(test_large_best_fit_takes_smallest_hole),
        cmocka_unit_test(test_large_first_fit_takes_lowest_hole),
        cmocka_unit_test(test_large_worst_fit_takes_largest_extent),
        cmocka_unit_test(test_large_strategy_switches_live),
        cmocka_unit_test(test_large_threshold_range),
        cmocka_unit_test(test_large_property_coalescing_best_fit),
        cmocka_unit_test(test_large_property_coalescing_first_fit),
        cmocka_unit_test(test_large_property_coalescing_worst_fit),
        cmocka_unit_test(test_large_property_coalescing_when_aggressive),
        cmocka_unit_test(test_large_release_free_returns_dirty_bytes),
        cmocka_unit_test(test_large_aggressive_mode_releases_on_free),
        cmocka_unit_test(test_large_dirty_limit_triggers_release),
        cmocka_unit_test(test_large_coalesce_all_unmaps_free_segments),
        cmocka_unit_test(test_large_counts_huge_page_fallback),
        cmocka_unit_test(test_large_huge_request_is_safe_to_touch),
        cmocka_unit_test(test_large_alloc_fails_cleanly_when_pagesrc_fails),
        cmocka_unit_test(test_large_reports_to_registry),
        cmocka_unit_test(test_large_methods_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
