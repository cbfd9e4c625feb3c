/*
 * test_arena.c — transaction arenas: profiles, growth limits, children,
 * mark/rollback, reset, stats, listing, page-source failures.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <pthread.h>
#include <string.h>

#include <cmocka.h>

#include "rustymem/arena.h"
#include "rustymem/pagesrc.h"
#include "rustymem/stats.h"

#define KiB ((size_t)1 << 10)
#define MiB ((size_t)1 << 20)

static rm_arena_mgr_t *
mgr_new(const rm_pagesrc_t *src)
{
    rm_arena_mgr_t *m = NULL;
    assert_int_equal(rm_arena_mgr_create(NULL, src, &m), RM_OK);
    return m;
}

static void
test_arena_profiles_match_seed(void **state)
{
    (void)state;
    const size_t init[] = {4096, 32768, 262144, 2097152, 16777216};
    const size_t max[] = {65536, 524288, 4194304, 33554432, 268435456};
    for (int p = 0; p < RM_ARENA_PROFILE_COUNT; p++) {
        size_t i = 0, x = 0;
        assert_int_equal(rm_arena_profile_sizes((rm_arena_profile_t)p, &i, &x), RM_OK);
        assert_int_equal(i, init[p]);
        assert_int_equal(x, max[p]);
    }
    assert_int_equal(rm_arena_profile_sizes(RM_ARENA_PROFILE_AUTO, NULL, NULL), RM_EINVAL);
}

static void
test_arena_profile_for_hint_2mb_is_medium(void **state)
{
    (void)state;
    assert_int_equal(rm_arena_profile_for_hint(2000000), RM_ARENA_PROFILE_MEDIUM);
    assert_int_equal(rm_arena_profile_for_hint(1), RM_ARENA_PROFILE_TINY);
    assert_int_equal(rm_arena_profile_for_hint(48 * KiB), RM_ARENA_PROFILE_TINY);
    assert_int_equal(rm_arena_profile_for_hint(48 * KiB + 1), RM_ARENA_PROFILE_SMALL);
    assert_int_equal(rm_arena_profile_for_hint(3 * MiB), RM_ARENA_PROFILE_MEDIUM);
    assert_int_equal(rm_arena_profile_for_hint(20 * MiB), RM_ARENA_PROFILE_LARGE);
    assert_int_equal(rm_arena_profile_for_hint(90 * MiB), RM_ARENA_PROFILE_HUGE);
    assert_int_equal(rm_arena_profile_for_hint(300 * MiB), RM_ARENA_PROFILE_HUGE);
    assert_int_equal(rm_arena_profile_for_hint(0), RM_ARENA_PROFILE_AUTO);
}

static void
test_arena_create_with_hint_picks_profile(void **state)
{
    (void)state;
    rm_arena_mgr_t *m = mgr_new(NULL);
    rm_arena_t *a = NULL;
    assert_int_equal(rm_arena_create(m, 7, 2000000, &a), RM_OK);
    assert_int_equal(rm_arena_profile(a), RM_ARENA_PROFILE_MEDIUM);
    rm_arena_stats_t st;
    rm_arena_stats(a, &st);
    assert_int_equal(st.txn_id, 7);
    assert_int_equal(st.held_bytes, 256 * KiB);   /* first block mapped at create */
    assert_int_equal(st.max_bytes, 4 * MiB);
    rm_arena_destroy(a);
    rm_arena_mgr_destroy(m);
}

static void
test_arena_profile_from_first_alloc_when_no_hint(void **state)
{
    (void)state;
    rm_arena_mgr_t *m = mgr_new(NULL);
    rm_arena_t *a = NULL, *b = NULL;
    assert_int_equal(rm_arena_create(m, 1, 0, &a), RM_OK);
    assert_int_equal(rm_arena_create(m, 2, 0, &b), RM_OK);
    assert_int_equal(rm_arena_profile(a), RM_ARENA_PROFILE_AUTO);
    assert_non_null(rm_arena_alloc(a, 100));
    assert_non_null(rm_arena_alloc(b, 40 * KiB));
    assert_int_equal(rm_arena_profile(a), RM_ARENA_PROFILE_TINY);
    assert_int_equal(rm_arena_profile(b), RM_ARENA_PROFILE_MEDIUM);
    rm_arena_mgr_stats_t ms;
    rm_arena_mgr_stats(m, &ms);
    assert_int_equal(ms.live_by_profile[RM_ARENA_PROFILE_TINY], 1);
    assert_int_equal(ms.live_by_profile[RM_ARENA_PROFILE_MEDIUM], 1);
    rm_arena_destroy(a);
    rm_arena_destroy(b);
    rm_arena_mgr_destroy(m);
}

static void
test_arena_create_fails_when_hint_above_disable_bytes(void **state)
{
    (void)state;
    rm_arena_mgr_t *m = mgr_new(NULL);
    rm_arena_t *a = (rm_arena_t *)0x1;
    assert_int_equal(rm_arena_create(m, 1, 150 * 1000 * 1000, &a), RM_ELIMIT);
    assert_ptr_equal(a, (rm_arena_t *)0x1);
    assert_int_equal(rm_arena_mgr_use_large(m, 150 * 1000 * 1000), 1);
    assert_int_equal(rm_arena_mgr_use_large(m, 50 * 1000 * 1000), 0);
    assert_int_equal(rm_arena_mgr_set_disable_above_bytes(m, 0), RM_EINVAL);
    assert_int_equal(rm_arena_mgr_set_disable_above_bytes(m, 10 * MiB), RM_OK);
    assert_int_equal(rm_arena_mgr_use_large(m, 20 * MiB), 1);
    rm_arena_mgr_stats_t ms;
    rm_arena_mgr_stats(m, &ms);
    assert_int_equal(ms.bypasses, 3);
    assert_int_equal(ms.created, 0);
    rm_arena_mgr_destroy(m);
}

static void
test_arena_alloc_fails_with_elimit_and_stays_usable(void **state)
{
    (void)state;
    rm_arena_mgr_t *m = mgr_new(NULL);
    rm_arena_t *a = NULL;
    assert_int_equal(rm_arena_create_profile(m, 1, RM_ARENA_PROFILE_TINY, &a), RM_OK);
    size_t got = 0;
    void *p;
    while ((p = rm_arena_alloc(a, 1000)) != NULL) {
        memset(p, 1, 1000);
        got += 1000;
    }
    assert_true(got > 50 * KiB && got <= 64 * KiB);
    rm_arena_stats_t st;
    rm_arena_stats(a, &st);
    assert_true(st.held_bytes <= 64 * KiB);
    assert_int_equal(st.limit_hits, 1);
    void *q = NULL;
    assert_int_equal(rm_arena_alloc_ex(a, 100 * KiB, &q), RM_ELIMIT);
    assert_null(q);
    assert_int_equal(rm_arena_check(a), RM_OK);
    /* still usable: a smaller request that fits and a reset arena succeed */
    rm_arena_reset(a);
    assert_non_null(rm_arena_alloc(a, 1000));
    assert_int_equal(rm_arena_check(a), RM_OK);
    rm_arena_destroy(a);
    rm_arena_mgr_destroy(m);
}

static void
test_arena_rollback_restores_position(void **state)
{
    (void)state;
    rm_arena_mgr_t *m = mgr_new(NULL);
    rm_arena_t *a = NULL;
    assert_int_equal(rm_arena_create_profile(m, 1, RM_ARENA_PROFILE_SMALL, &a), RM_OK);
    assert_non_null(rm_arena_alloc(a, 100));
    rm_arena_mark_t mk;
    rm_arena_mark(a, &mk);
    void *first = rm_arena_alloc(a, 64);
    for (int i = 0; i < 200; i++)
        assert_non_null(rm_arena_alloc(a, 1000));   /* spills into more blocks */
    rm_arena_stats_t before;
    rm_arena_stats(a, &before);
    assert_true(before.blocks > 1);
    assert_int_equal(rm_arena_rollback(a, &mk), RM_OK);
    rm_arena_stats_t after;
    rm_arena_stats(a, &after);
    assert_int_equal(after.used_bytes, 112);
    assert_int_equal(after.held_bytes, before.held_bytes);   /* zero-copy: blocks kept */
    assert_int_equal(after.rollbacks, 1);
    assert_true(after.peak_used_bytes >= before.used_bytes);
    assert_ptr_equal(rm_arena_alloc(a, 64), first);
    assert_int_equal(rm_arena_check(a), RM_OK);
    rm_arena_destroy(a);
    rm_arena_mgr_destroy(m);
}

static void
test_arena_nested_rollback(void **state)
{
    (void)state;
    rm_arena_mgr_t *m = mgr_new(NULL);
    rm_arena_t *a = NULL;
    assert_int_equal(rm_arena_create_profile(m, 1, RM_ARENA_PROFILE_TINY, &a), RM_OK);
    rm_arena_mark_t m1, m2;
    rm_arena_mark(a, &m1);
    for (int i = 0; i < 10; i++)
        assert_non_null(rm_arena_alloc(a, 1000));
    rm_arena_mark(a, &m2);
    for (int i = 0; i < 20; i++)
        assert_non_null(rm_arena_alloc(a, 1000));
    assert_int_equal(rm_arena_rollback(a, &m2), RM_OK);
    rm_arena_stats_t st;
    rm_arena_stats(a, &st);
    assert_int_equal(st.used_bytes, 10 * 1008);
    assert_int_equal(rm_arena_rollback(a, &m1), RM_OK);
    rm_arena_stats(a, &st);
    assert_int_equal(st.used_bytes, 0);
    /* m2 lies past the current position now: refused, nothing changes */
    assert_int_equal(rm_arena_rollback(a, &m2), RM_ESTATE);
    /* spares are reused: the same volume again maps nothing new */
    uint64_t held = st.held_bytes;
    for (int i = 0; i < 30; i++)
        assert_non_null(rm_arena_alloc(a, 1000));
    rm_arena_stats(a, &st);
    assert_int_equal(st.held_bytes, held);
    assert_int_equal(rm_arena_check(a), RM_OK);
    rm_arena_destroy(a);
    rm_arena_mgr_destroy(m);
}

static void
test_arena_rollback_refuses_mark_when_reset_since(void **state)
{
    (void)state;
    rm_arena_mgr_t *m = mgr_new(NULL);
    rm_arena_t *a = NULL, *b = NULL;
    assert_int_equal(rm_arena_create_profile(m, 1, RM_ARENA_PROFILE_TINY, &a), RM_OK);
    assert_int_equal(rm_arena_create_profile(m, 2, RM_ARENA_PROFILE_TINY, &b), RM_OK);
    assert_non_null(rm_arena_alloc(a, 10));
    rm_arena_mark_t mk;
    rm_arena_mark(a, &mk);
    assert_int_equal(rm_arena_rollback(b, &mk), RM_ESTATE);   /* another context */
    rm_arena_reset(a);
    assert_int_equal(rm_arena_rollback(a, &mk), RM_ESTATE);
    assert_int_equal(rm_arena_check(a), RM_OK);
    rm_arena_destroy(a);
    rm_arena_destroy(b);
    rm_arena_mgr_destroy(m);
}

static void
test_arena_reset_keeps_first_block(void **state)
{
    (void)state;
    rm_arena_mgr_t *m = mgr_new(NULL);
    rm_arena_t *a = NULL;
    assert_int_equal(rm_arena_create_profile(m, 1, RM_ARENA_PROFILE_SMALL, &a), RM_OK);
    for (int i = 0; i < 300; i++)
        assert_non_null(rm_arena_alloc(a, 1000));
    rm_arena_reset(a);
    rm_arena_stats_t st;
    rm_arena_stats(a, &st);
    assert_int_equal(st.blocks, 1);
    assert_int_equal(st.held_bytes, 32 * KiB);
    assert_int_equal(st.used_bytes, 0);
    assert_int_equal(rm_arena_check(a), RM_OK);
    rm_arena_destroy(a);
    rm_arena_mgr_destroy(m);
}

static void
test_arena_reset_cascades_to_children(void **state)
{
    (void)state;
    rm_arena_mgr_t *m = mgr_new(NULL);
    rm_arena_t *a = NULL, *sp1 = NULL, *sp2 = NULL, *sp3 = NULL;
    assert_int_equal(rm_arena_create_profile(m, 1, RM_ARENA_PROFILE_SMALL, &a), RM_OK);
    assert_int_equal(rm_arena_create_child(a, "sp1", &sp1), RM_OK);
    assert_int_equal(rm_arena_create_child(sp1, "sp2", &sp2), RM_OK);
    assert_int_equal(rm_arena_create_child(a, "sp3", &sp3), RM_OK);
    assert_non_null(rm_arena_alloc(sp2, 5000));
    assert_non_null(rm_arena_alloc(sp3, 5000));
    rm_arena_stats_t st;
    rm_arena_stats(a, &st);
    assert_int_equal(st.contexts, 4);
    assert_int_equal(rm_arena_check(a), RM_OK);
    rm_arena_reset(a);
    rm_arena_stats(a, &st);
    assert_int_equal(st.contexts, 1);
    assert_int_equal(st.used_bytes, 0);
    assert_int_equal(st.held_bytes, 32 * KiB);
    assert_int_equal(rm_arena_check(a), RM_OK);
    rm_arena_destroy(a);
    rm_arena_mgr_destroy(m);
}

static void
test_arena_destroy_child_cascades(void **state)
{
    (void)state;
    rm_arena_mgr_t *m = mgr_new(NULL);
    rm_arena_t *a = NULL, *sp1 = NULL, *sp2 = NULL;
    assert_int_equal(rm_arena_create_profile(m, 1, RM_ARENA_PROFILE_TINY, &a), RM_OK);
    assert_int_equal(rm_arena_create_child(a, "sp1", &sp1), RM_OK);
    assert_int_equal(rm_arena_create_child(sp1, "sp2", &sp2), RM_OK);
    assert_non_null(rm_arena_alloc(sp1, 100));
    assert_non_null(rm_arena_alloc(sp2, 100));
    rm_arena_destroy(sp1);
    rm_arena_stats_t st;
    rm_arena_stats(a, &st);
    assert_int_equal(st.contexts, 1);
    assert_int_equal(st.used_bytes, 0);
    assert_int_equal(st.held_bytes, 4 * KiB);
    assert_int_equal(rm_arena_check(a), RM_OK);
    rm_arena_destroy(a);
    rm_arena_mgr_destroy(m);
}

static void
test_arena_children_share_max_size(void **state)
{
    (void)state;
    rm_arena_mgr_t *m = mgr_new(NULL);
    rm_arena_t *a = NULL, *c = NULL;
    assert_int_equal(rm_arena_create_profile(m, 1, RM_ARENA_PROFILE_TINY, &a), RM_OK);
    assert_int_equal(rm_arena_create_child(a, "c", &c), RM_OK);
    assert_non_null(rm_arena_alloc(a, 30 * KiB));
    void *p = NULL;
    assert_int_equal(rm_arena_alloc_ex(c, 40 * KiB, &p), RM_ELIMIT);
    assert_non_null(rm_arena_alloc(c, 20 * KiB));
    assert_int_equal(rm_arena_check(a), RM_OK);
    rm_arena_destroy(a);
    rm_arena_mgr_destroy(m);
}

static void
test_arena_free_returns_last_chunk_only(void **state)
{
    (void)state;
    rm_arena_mgr_t *m = mgr_new(NULL);
    rm_arena_t *a = NULL;
    assert_int_equal(rm_arena_create_profile(m, 1, RM_ARENA_PROFILE_TINY, &a), RM_OK);
    void *x = rm_arena_alloc(a, 32);
    void *y = rm_arena_alloc(a, 32);
    rm_arena_free(a, x, 32);   /* not the last: no-op */
    rm_arena_stats_t st;
    rm_arena_stats(a, &st);
    assert_int_equal(st.used_bytes, 64);
    rm_arena_free(a, y, 32);
    rm_arena_stats(a, &st);
    assert_int_equal(st.used_bytes, 32);
    assert_ptr_equal(rm_arena_alloc(a, 16), y);
    rm_arena_destroy(a);
    rm_arena_mgr_destroy(m);
}

static void
test_arena_alloc_rejects_zero_bytes(void **state)
{
    (void)state;
    rm_arena_mgr_t *m = mgr_new(NULL);
    rm_arena_t *a = NULL;
    assert_int_equal(rm_arena_create_profile(m, 1, RM_ARENA_PROFILE_TINY, &a), RM_OK);
    void *p = NULL;
    assert_int_equal(rm_arena_alloc_ex(a, 0, &p), RM_EINVAL);
    assert_null(rm_arena_alloc(a, 0));
    rm_arena_destroy(a);
    rm_arena_mgr_destroy(m);
}

static void
test_arena_contexts_listing(void **state)
{
    (void)state;
    rm_arena_mgr_t *m = mgr_new(NULL);
    rm_arena_t *a = NULL, *sp = NULL;
    assert_int_equal(rm_arena_create_profile(m, 42, RM_ARENA_PROFILE_TINY, &a), RM_OK);
    assert_int_equal(rm_arena_create_child(a, "savepoint_1", &sp), RM_OK);
    assert_non_null(rm_arena_alloc(sp, 1000));
    rm_arena_context_info_t rows[8];
    size_t n = 0;
    rm_arena_mgr_contexts(m, rows, 8, &n);
    assert_int_equal(n, 2);
    assert_string_equal(rows[0].name, "TopTransactionContext");
    assert_string_equal(rows[0].parent, "");
    assert_int_equal(rows[0].level, 0);
    assert_int_equal(rows[0].txn_id, 42);
    assert_int_equal(rows[0].total_bytes, 4 * KiB);
    assert_string_equal(rows[1].name, "savepoint_1");
    assert_string_equal(rows[1].parent, "TopTransactionContext");
    assert_int_equal(rows[1].level, 1);
    assert_int_equal(rows[1].used_bytes, 1008);
    assert_int_equal(rows[1].blocks, 1);
    assert_int_equal(rows[1].free_bytes, rows[1].total_bytes - 1008);
    rm_arena_mgr_contexts(m, NULL, 0, &n);
    assert_int_equal(n, 2);
    rm_arena_destroy(a);
    rm_arena_mgr_destroy(m);
}

static void
test_arena_reports_to_registry(void **state)
{
    (void)state;
    rm_arena_mgr_t *m = mgr_new(NULL);
    rm_arena_t *a = NULL;
    assert_int_equal(rm_arena_create_profile(m, 1, RM_ARENA_PROFILE_SMALL, &a), RM_OK);
    assert_non_null(rm_arena_alloc(a, 4000));
    rm_component_usage_t rows[RM_COMPONENTS_MAX];
    size_t n = 0;
    rm_stats_components(rows, RM_COMPONENTS_MAX, &n);
    int found = 0;
    for (size_t i = 0; i < n && i < RM_COMPONENTS_MAX; i++)
        if (strcmp(rows[i].name, "arena") == 0) {
            found = 1;
            assert_int_equal(rows[i].used_bytes, 4000);
            assert_int_equal(rows[i].held_bytes, 32 * KiB);
        }
    assert_true(found);
    rm_arena_destroy(a);
    rm_arena_mgr_stats_t ms;
    rm_arena_mgr_stats(m, &ms);
    assert_int_equal(ms.cached_bytes, 32 * KiB);   /* kept for the next transaction */
    assert_int_equal(rm_arena_mgr_release_cached(m), 32 * KiB);
    rm_arena_mgr_stats(m, &ms);
    assert_int_equal(ms.held_bytes, 0);
    rm_arena_mgr_destroy(m);
}

static void
test_arena_create_fails_cleanly_when_pagesrc_fails(void **state)
{
    (void)state;
    rm_pagesrc_faulty_t f;
    rm_pagesrc_faulty_init(&f, NULL);
    rm_arena_mgr_t *m = mgr_new(&f.src);
    rm_arena_t *a = NULL;
    rm_pagesrc_faulty_arm(&f, 1, 0);
    assert_int_equal(rm_arena_create_profile(m, 1, RM_ARENA_PROFILE_SMALL, &a), RM_ENOMEM);
    assert_null(a);
    rm_arena_mgr_stats_t ms;
    rm_arena_mgr_stats(m, &ms);
    assert_int_equal(ms.created, 0);
    assert_int_equal(ms.held_bytes, 0);
    assert_int_equal(f.mapped_bytes, 0);
    rm_arena_mgr_destroy(m);
}

static void
test_arena_grow_fails_cleanly_when_pagesrc_fails(void **state)
{
    (void)state;
    rm_pagesrc_faulty_t f;
    rm_pagesrc_faulty_init(&f, NULL);
    rm_arena_mgr_t *m = mgr_new(&f.src);
    rm_arena_t *a = NULL;
    assert_int_equal(rm_arena_create_profile(m, 1, RM_ARENA_PROFILE_TINY, &a), RM_OK);
    assert_non_null(rm_arena_alloc(a, 3000));
    rm_arena_stats_t before, after;
    rm_arena_stats(a, &before);
    rm_pagesrc_faulty_arm(&f, 1, 1);
    void *p = NULL;
    assert_int_equal(rm_arena_alloc_ex(a, 3000, &p), RM_ENOMEM);
    assert_null(p);
    rm_arena_stats(a, &after);
    assert_int_equal(after.used_bytes, before.used_bytes);
    assert_int_equal(after.held_bytes, before.held_bytes);
    assert_int_equal(rm_arena_check(a), RM_OK);
    assert_non_null(rm_arena_alloc(a, 500));   /* fits the current block */
    rm_pagesrc_faulty_disarm(&f);
    assert_non_null(rm_arena_alloc(a, 3000));
    assert_int_equal(rm_arena_check(a), RM_OK);
    rm_arena_destroy(a);
    rm_arena_mgr_destroy(m);
    assert_int_equal(f.mapped_bytes, 0);
}

static void
test_arena_methods_table(void **state)
{
    (void)state;
    rm_arena_mgr_t *m = mgr_new(NULL);
    rm_arena_t *a = NULL;
    assert_int_equal(rm_arena_create_profile(m, 1, RM_ARENA_PROFILE_TINY, &a), RM_OK);
    const rm_allocator_methods_t *mt = &rm_arena_methods;
    assert_non_null(mt->alloc(a, 10));
    assert_int_equal(mt->check(a), RM_OK);
    assert_int_equal(mt->usable_size(a, NULL), 0);
    rm_arena_stats_t st;
    mt->stats(a, &st);
    assert_int_equal(st.used_bytes, 16);
    mt->reset(a);
    mt->stats(a, &st);
    assert_int_equal(st.used_bytes, 0);
    mt->destroy(a);
    rm_arena_mgr_destroy(m);
}

typedef struct reader_arg {
    rm_arena_mgr_t *m;
    int stop;
    uint64_t snapshots;
} reader_arg_t;

static void *
reader_main(void *p)
{
    reader_arg_t *r = p;
    rm_arena_context_info_t rows[16];
    while (!__atomic_load_n(&r->stop, __ATOMIC_ACQUIRE)) {
        rm_arena_mgr_stats_t ms;
        size_t n = 0;
        rm_arena_mgr_stats(r->m, &ms);
        rm_arena_mgr_contexts(r->m, rows, 16, &n);
        rm_component_usage_t u[RM_COMPONENTS_MAX];
        rm_stats_components(u, RM_COMPONENTS_MAX, &n);
        r->snapshots++;
    }
    return NULL;
}

static void
test_arena_stats_readable_while_owner_allocates(void **state)
{
    (void)state;
    rm_arena_mgr_t *m = mgr_new(NULL);
    reader_arg_t r = {.m = m};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, reader_main, &r), 0);
    for (int t = 0; t < 300; t++) {
        rm_arena_t *a = NULL, *c = NULL;
        assert_int_equal(rm_arena_create(m, (uint64_t)t, 0, &a), RM_OK);
        rm_arena_mark_t mk;
        rm_arena_mark(a, &mk);
        for (int i = 0; i < 100; i++)
            assert_non_null(rm_arena_alloc(a, 100));
        assert_int_equal(rm_arena_rollback(a, &mk), RM_OK);
        assert_int_equal(rm_arena_create_child(a, "sp", &c), RM_OK);
        for (int i = 0; i < 50; i++)
            assert_non_null(rm_arena_alloc(c, 200));
        rm_arena_destroy(a);
    }
    __atomic_store_n(&r.stop, 1, __ATOMIC_RELEASE);
    pthread_join(th, NULL);
    rm_arena_mgr_stats_t ms;
    rm_arena_mgr_stats(m, &ms);
    assert_int_equal(ms.rollbacks, 300);
    assert_int_equal(ms.used_bytes, 0);
    rm_arena_mgr_destroy(m);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_arena_profiles_match_seed),
        cmocka_unit_test(test_arena_profile_for_hint_2mb_is_medium),
        cmocka_unit_test(test_arena_create_with_hint_picks_profile),
        cmocka_unit_test(test_arena_profile_from_first_alloc_when_no_hint),
        cmocka_unit_test(test_arena_create_fails_when_hint_above_disable_bytes),
        cmocka_unit_test(test_arena_alloc_fails_with_elimit_and_stays_usable),
        cmocka_unit_test(test_arena_rollback_restores_position),
        cmocka_unit_test(test_arena_nested_rollback),
        cmocka_unit_test(test_arena_rollback_refuses_mark_when_reset_since),
        cmocka_unit_test(test_arena_reset_keeps_first_block),
        cmocka_unit_test(test_arena_reset_cascades_to_children),
        cmocka_unit_test(test_arena_destroy_child_cascades),
        cmocka_unit_test(test_arena_children_share_max_size),
        cmocka_unit_test(test_arena_free_returns_last_chunk_only),
        cmocka_unit_test(test_arena_alloc_rejects_zero_bytes),
        cmocka_unit_test(test_arena_contexts_listing),
        cmocka_unit_test(test_arena_reports_to_registry),
        cmocka_unit_test(test_arena_create_fails_cleanly_when_pagesrc_fails),
        cmocka_unit_test(test_arena_grow_fails_cleanly_when_pagesrc_fails),
        cmocka_unit_test(test_arena_methods_table),
        cmocka_unit_test(test_arena_stats_readable_while_owner_allocates),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
