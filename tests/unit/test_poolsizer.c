/*
 * test_poolsizer.c — adaptive pool sizing with an injected clock: growth
 * under sustained load, shrink after a low window, hysteresis, bounds,
 * setters, apply failures, and the wiring to the session multiplexer
 * (a shrink closes idle connection slots and unmaps their scratch memory).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "rustymem/pagesrc.h"
#include "rustymem/poolsizer.h"
#include "rustymem/session.h"

#define SEC 1000000000ull

typedef struct rig {
    uint64_t now;
    uint32_t applied[64];
    int napplied;
    rm_status_t apply_rc;
    rm_poolsizer_t *ps;
} rig_t;

static uint64_t
rig_now(void *ctx)
{
    return ((rig_t *)ctx)->now;
}

static rm_status_t
rig_apply(void *ctx, uint32_t target)
{
    rig_t *r = ctx;
    if (r->apply_rc != RM_OK)
        return r->apply_rc;
    if (r->napplied < 64)
        r->applied[r->napplied++] = target;
    return RM_OK;
}

static rig_t *
mk(uint32_t mn, uint32_t mx)
{
    rig_t *r = calloc(1, sizeof *r);
    r->now = 1000;
    rm_poolsizer_config_t cfg = {
        .min_size = mn, .max_size = mx, .scale_down_threshold = 0.40,
        .scale_up_window_ns = 5 * SEC, .scale_down_window_ns = 60 * SEC,
        .apply = rig_apply, .apply_ctx = r, .now_ns = rig_now, .now_ctx = r,
    };
    assert_int_equal(rm_poolsizer_create(&cfg, &r->ps), RM_OK);
    return r;
}

static void
done(rig_t *r)
{
    rm_poolsizer_destroy(r->ps);
    free(r);
}

/* Feed the same sample every second for `secs` seconds. */
static uint32_t
feed(rig_t *r, uint32_t busy, uint32_t waiting, int secs)
{
    uint32_t t = 0;
    for (int i = 0; i < secs; i++) {
        r->now += SEC;
        assert_int_equal(rm_poolsizer_observe(r->ps, busy, waiting, 0, &t), RM_OK);
    }
    return t;
}

static void
test_poolsizer_defaults_match_seed(void **state)
{
    rm_poolsizer_t *ps;
    assert_int_equal(rm_poolsizer_create(NULL, &ps), RM_OK);
    rm_poolsizer_stats_t st;
    rm_poolsizer_stats(ps, &st);
    assert_int_equal(st.min_size, 10);
    assert_int_equal(st.max_size, 500);
    assert_true(st.scale_down_threshold == 0.40);
    assert_int_equal(st.target, 10);   /* starts at min_size */
    rm_poolsizer_destroy(ps);
}

static void
test_poolsizer_grows_after_sustained_high_utilisation(void **state)
{
    rig_t *r = mk(10, 500);
    assert_int_equal(feed(r, 10, 0, 5), 10);   /* 100 % for 4 s after the first sample */
    assert_int_equal(r->napplied, 0);
    uint32_t t = feed(r, 10, 0, 1);   /* 5 s: grow to max(×1.5 = 15, demand 10 / 0.6 = 17) */
    assert_int_equal(t, 17);
    assert_int_equal(r->napplied, 1);
    assert_int_equal(r->applied[0], 17);
    t = feed(r, 14, 0, 6);            /* 14/17 = 82 %: the grow factor binds: ⌈17 × 1.5⌉ = 26 */
    assert_int_equal(t, 26);
    rm_poolsizer_stats_t st;
    rm_poolsizer_stats(r->ps, &st);
    assert_int_equal(st.scale_ups, 2);
    done(r);
}

static void
test_poolsizer_grows_to_cover_waiting_demand(void **state)
{
    rig_t *r = mk(10, 500);
    uint32_t t = feed(r, 10, 110, 6);   /* demand 120 → 120 / 0.6 = 200 */
    assert_int_equal(t, 200);
    done(r);
}

static void
test_poolsizer_does_not_grow_when_high_utilisation_not_sustained(void **state)
{
    rig_t *r = mk(10, 500);
    for (int i = 0; i < 10; i++) {
        feed(r, 10, 0, 3);
        feed(r, 6, 0, 1);   /* 60 %: middle band resets the window */
    }
    assert_int_equal(rm_poolsizer_target(r->ps), 10);
    assert_int_equal(r->napplied, 0);
    done(r);
}

static void
test_poolsizer_never_exceeds_max_size(void **state)
{
    rig_t *r = mk(10, 40);
    uint32_t t = feed(r, 1000, 1000, 100);
    assert_int_equal(t, 40);
    done(r);
}

static void
test_poolsizer_shrinks_after_low_window_to_peak_over_midpoint(void **state)
{
    rig_t *r = mk(10, 500);
    feed(r, 200, 0, 6);                      /* grow: 10 → max(15, 200/0.6=334) */
    assert_int_equal(rm_poolsizer_target(r->ps), 334);
    feed(r, 30, 0, 60);                      /* 9 %: below 0.40 for 59 s */
    assert_int_equal(rm_poolsizer_target(r->ps), 334);
    feed(r, 60, 0, 1);                       /* 60 s low, peak 60 → 60/0.6 = 100 */
    assert_int_equal(rm_poolsizer_target(r->ps), 100);
    assert_int_equal(r->applied[r->napplied - 1], 100);
    rm_poolsizer_stats_t st;
    rm_poolsizer_stats(r->ps, &st);
    assert_int_equal(st.scale_downs, 1);
    done(r);
}

static void
test_poolsizer_never_shrinks_below_min_size(void **state)
{
    rig_t *r = mk(10, 500);
    feed(r, 100, 0, 6);
    uint32_t t = feed(r, 0, 0, 600);
    assert_int_equal(t, 10);
    done(r);
}

static void
test_poolsizer_holds_when_utilisation_in_middle_band(void **state)
{
    rig_t *r = mk(10, 500);
    feed(r, 100, 0, 6);                 /* → 167 */
    uint32_t t0 = rm_poolsizer_target(r->ps);
    feed(r, 30, 0, 50);                 /* 18 %: low run starts */
    feed(r, (uint32_t)(t0 * 0.5), 0, 1);/* 50 %: middle band resets the low run */
    feed(r, 30, 0, 50);                 /* 50 s more: still under the 60 s window */
    assert_int_equal(rm_poolsizer_target(r->ps), t0);
    done(r);
}

static void
test_poolsizer_apply_failure_keeps_previous_target(void **state)
{
    rig_t *r = mk(10, 500);
    r->apply_rc = RM_ENOMEM;
    for (int i = 0; i < 6; i++) {
        r->now += SEC;
        uint32_t t = 0;
        rm_status_t rc = rm_poolsizer_observe(r->ps, 10, 0, 0, &t);
        assert_int_equal(t, 10);
        if (i == 5)
            assert_int_equal(rc, RM_ENOMEM);
    }
    rm_poolsizer_stats_t st;
    rm_poolsizer_stats(r->ps, &st);
    assert_int_equal(st.apply_failures, 1);
    assert_int_equal(st.target, 10);
    done(r);
}

static void
test_poolsizer_setters_validate_and_clamp(void **state)
{
    rig_t *r = mk(10, 500);
    feed(r, 100, 0, 6);
    assert_int_equal(rm_poolsizer_target(r->ps), 167);
    assert_int_equal(rm_poolsizer_set_max_size(r->ps, 100), RM_OK);
    assert_int_equal(rm_poolsizer_target(r->ps), 100);
    assert_int_equal(r->applied[r->napplied - 1], 100);
    assert_int_equal(rm_poolsizer_set_min_size(r->ps, 200), RM_EINVAL);   /* > max */
    assert_int_equal(rm_poolsizer_set_min_size(r->ps, 0), RM_EINVAL);
    assert_int_equal(rm_poolsizer_set_min_size(r->ps, 100), RM_OK);
    assert_int_equal(rm_poolsizer_set_scale_down_threshold(r->ps, 0.9), RM_EINVAL);   /* ≥ up */
    assert_int_equal(rm_poolsizer_set_scale_down_threshold(r->ps, 0.0), RM_EINVAL);
    assert_int_equal(rm_poolsizer_set_scale_down_threshold(r->ps, 0.30), RM_OK);
    assert_int_equal(rm_poolsizer_set_scale_up_threshold(r->ps, 0.2), RM_EINVAL);
    assert_int_equal(rm_poolsizer_set_scale_up_threshold(r->ps, 1.1), RM_EINVAL);
    assert_int_equal(rm_poolsizer_set_windows(r->ps, 0, 1), RM_EINVAL);
    assert_int_equal(rm_poolsizer_set_windows(r->ps, 1, 1), RM_OK);
    rm_poolsizer_stats_t st;
    rm_poolsizer_stats(r->ps, &st);
    assert_int_equal(st.min_size, 100);
    assert_int_equal(st.max_size, 100);
    assert_true(st.scale_down_threshold == 0.30);
    rm_poolsizer_config_t bad = {.min_size = 20, .max_size = 10};
    rm_poolsizer_t *ps;
    assert_int_equal(rm_poolsizer_create(&bad, &ps), RM_EINVAL);
    bad = (rm_poolsizer_config_t){.scale_down_threshold = 0.9, .scale_up_threshold = 0.8};
    assert_int_equal(rm_poolsizer_create(&bad, &ps), RM_EINVAL);
    done(r);
}

static void
test_poolsizer_shrink_releases_idle_session_slots(void **state)
{
    rm_pagesrc_faulty_t pages;
    rm_pagesrc_faulty_init(&pages, NULL);
    rm_session_config_t scfg = {.max_connections = 64, .max_sessions = 640, .pool_size = 10,
                                .scratch_bytes = 8192, .pages = &pages.src};
    rm_session_mux_t *m;
    assert_int_equal(rm_session_mux_create(&scfg, &m), RM_OK);
    rig_t *r = calloc(1, sizeof *r);
    rm_poolsizer_config_t cfg = {
        .min_size = 10, .max_size = 64, .scale_up_window_ns = RM_POOLSIZER_IMMEDIATE,
        .scale_down_window_ns = 60 * SEC, .apply = rm_session_pool_apply, .apply_ctx = m,
        .now_ns = rig_now, .now_ctx = r,
    };
    assert_int_equal(rm_poolsizer_create(&cfg, &r->ps), RM_OK);

    /* 30 sessions in transactions at once: 10 bind, 20 are refused and show up as demand. */
    rm_session_id_t ids[30];
    rm_session_conn_t c;
    int bound = 0;
    for (int i = 0; i < 30; i++) {
        assert_int_equal(rm_session_open(m, NULL, &ids[i]), RM_OK);
        if (rm_session_begin(m, ids[i], 0, &c) == RM_OK)
            bound++;
    }
    assert_int_equal(bound, 10);
    rm_session_stats_t ss;
    for (int i = 0; i < 3; i++) {   /* the sampler loop */
        r->now += SEC;
        rm_session_stats(m, &ss);
        rm_poolsizer_observe(r->ps, (uint32_t)ss.connections_busy, 20, (uint32_t)ss.pool_size, NULL);
    }
    rm_session_stats(m, &ss);
    assert_int_equal(ss.pool_size, 50);   /* demand 30 / 0.6 */
    for (int i = 10; i < 30; i++)
        assert_int_equal(rm_session_begin(m, ids[i], 0, &c), RM_OK);
    for (int i = 0; i < 30; i++)
        assert_int_equal(rm_session_end(m, ids[i]), RM_OK);
    rm_session_stats(m, &ss);
    assert_int_equal(ss.connections_open, 30);
    assert_int_equal(pages.mapped_bytes, 30 * 8192);

    /* Idle for a minute: the pool shrinks to min and the idle slots are unmapped. */
    for (int i = 0; i < 61; i++) {
        r->now += SEC;
        rm_session_stats(m, &ss);
        rm_poolsizer_observe(r->ps, (uint32_t)ss.connections_busy, 0, (uint32_t)ss.pool_size, NULL);
    }
    rm_session_stats(m, &ss);
    assert_int_equal(ss.pool_size, 10);
    assert_int_equal(ss.connections_open, 10);
    assert_int_equal(pages.mapped_bytes, 10 * 8192);
    rm_poolsizer_destroy(r->ps);
    free(r);
    rm_session_mux_destroy(m);
    assert_int_equal(pages.mapped_bytes, 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_poolsizer_defaults_match_seed),
        cmocka_unit_test(test_poolsizer_grows_after_sustained_high_utilisation),
        cmocka_unit_test(test_poolsizer_grows_to_cover_waiting_demand),
        cmocka_unit_test(test_poolsizer_does_not_grow_when_high_utilisation_not_sustained),
        cmocka_unit_test(test_poolsizer_never_exceeds_max_size),
        cmocka_unit_test(test_poolsizer_shrinks_after_low_window_to_peak_over_midpoint),
        cmocka_unit_test(test_poolsizer_never_shrinks_below_min_size),
        cmocka_unit_test(test_poolsizer_holds_when_utilisation_in_middle_band),
        cmocka_unit_test(test_poolsizer_apply_failure_keeps_previous_target),
        cmocka_unit_test(test_poolsizer_setters_validate_and_clamp),
        cmocka_unit_test(test_poolsizer_shrink_releases_idle_session_slots),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
