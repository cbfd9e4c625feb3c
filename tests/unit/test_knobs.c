/*
 * test_knobs.c — the knob registry: definitions, parsing, atomic validated
 * sets, restart-only knobs, subscribers, persistence hand-off, profiles, the
 * generated reference (docs/knobs.md) and lock-free readers under a writer.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <pthread.h>

#include "rustymem/bufpool.h"
#include "rustymem/knobs.h"

#define SET1(k, name, value, err)                                                             \
    rm_knobs_set((k), (rm_knob_assign_t[]){{(name), (value)}}, 1, 0, (err))

static int
setup(void **state)
{
    rm_knobs_t *k;
    if (rm_knobs_create(&k) != RM_OK)
        return -1;
    *state = k;
    return 0;
}

static int
teardown(void **state)
{
    rm_knobs_destroy(*state);
    return 0;
}

/* ---- definitions ---- */

static void
test_knobs_defs_are_complete_and_defaults_valid(void **state)
{
    (void)state;
    assert_int_equal(rm_knobs_count(), RM_KNOB_COUNT);
    for (size_t i = 0; i < rm_knobs_count(); i++) {
        const rm_knob_def_t *d = rm_knobs_def((rm_knob_id_t)i);
        assert_non_null(d);
        assert_int_equal(d->id, i);
        assert_non_null(strchr(d->name, '.'));
        assert_null(strchr(strchr(d->name, '.') + 1, '.'));
        assert_true(strlen(d->name) < RM_KNOB_NAME_MAX);
        assert_true(d->description && *d->description);
        assert_non_null(d->unit);
        assert_true(d->seed && *d->seed);
        char text[RM_KNOB_TEXT_MAX], why[160];
        rm_knob_value_t v;
        rm_knobs_format(d, &d->def, text, sizeof text);
        assert_int_equal(rm_knobs_parse(d, text, &v, why, sizeof why), RM_OK);
        assert_true(rm_knobs_value_equal(d, &v, &d->def));
        rm_knob_id_t id;
        assert_int_equal(rm_knobs_lookup(d->name, &id), RM_OK);
        assert_int_equal(id, i);
    }
    assert_null(rm_knobs_def(RM_KNOB_COUNT));
}

static void
test_knobs_defaults_match_seed(void **state)
{
    rm_knobs_t *k = *state;
    assert_true(rm_knobs_get_double(k, RM_KNOB_PRESSURE_WARNING_THRESHOLD) == 0.70);
    assert_true(rm_knobs_get_double(k, RM_KNOB_PRESSURE_HIGH_PRESSURE_THRESHOLD) == 0.80);
    assert_true(rm_knobs_get_double(k, RM_KNOB_PRESSURE_CRITICAL_THRESHOLD) == 0.90);
    assert_true(rm_knobs_get_double(k, RM_KNOB_PRESSURE_EMERGENCY_THRESHOLD) == 0.95);
    assert_true(rm_knobs_get_double(k, RM_KNOB_PRESSURE_MIN_CONFIDENCE) == 0.7);
    assert_int_equal(rm_knobs_get_i64(k, RM_KNOB_PRESSURE_HISTORY_SIZE), 60);
    int64_t h[RM_KNOB_LIST_MAX];
    assert_int_equal(rm_knobs_get_list(k, RM_KNOB_PRESSURE_FORECAST_HORIZONS, h, 8), 3);
    assert_int_equal(h[0], 30);
    assert_int_equal(h[1], 60);
    assert_int_equal(h[2], 120);
    assert_int_equal(rm_knobs_get_i64(k, RM_KNOB_SLAB_LOCK_ENTRY_MAGAZINE), 128);
    assert_int_equal(rm_knobs_get_i64(k, RM_KNOB_SLAB_SMALL_ROW_MAGAZINE), 96);
    assert_int_equal(rm_knobs_get_i64(k, RM_KNOB_SLAB_INDEX_NODE_MAGAZINE), 16);
    assert_int_equal(rm_knobs_get_i64(k, RM_KNOB_LARGE_OBJECT_THRESHOLD_BYTES), 2 << 20);
    assert_int_equal(rm_knobs_get_enum(k, RM_KNOB_LARGE_OBJECT_STRATEGY), 0);
    assert_false(rm_knobs_get_bool(k, RM_KNOB_LARGE_OBJECT_AGGRESSIVE_COALESCING));
    assert_int_equal(rm_knobs_get_i64(k, RM_KNOB_BUFFER_POOL_PAGE_SIZE), 4096);
    assert_int_equal(rm_knobs_get_i64(k, RM_KNOB_BUFFER_POOL_NUM_FRAMES), 0);
    assert_int_equal(rm_knobs_get_i64(k, RM_KNOB_MEMORY_BUDGET_BYTES), 0);
    assert_int_equal(rm_knobs_get_i64(k, RM_KNOB_SESSION_MAX_CONNECTIONS), 1000);
    assert_int_equal(rm_knobs_get_i64(k, RM_KNOB_SESSION_MAX_SESSIONS), 10000);
    assert_int_equal(rm_knobs_get_i64(k, RM_KNOB_SESSION_SESSION_RATIO), 10);
    assert_int_equal(rm_knobs_get_i64(k, RM_KNOB_MVCC_MAX_VERSIONS_PER_KEY), 1000);
    assert_int_equal(rm_knobs_get_i64(k, RM_KNOB_PLAN_CACHE_MAX_PLANS), 10000);
    assert_int_equal(rm_knobs_get_i64(k, RM_KNOB_PLAN_CACHE_MAX_BYTES), 100 << 20);
    assert_int_equal(rm_knobs_get_i64(k, RM_KNOB_POOL_MIN_SIZE), 10);
    assert_int_equal(rm_knobs_get_i64(k, RM_KNOB_POOL_MAX_SIZE), 500);
    assert_true(rm_knobs_get_double(k, RM_KNOB_POOL_SCALE_DOWN_THRESHOLD) == 0.40);
    assert_int_equal(rm_knobs_get_i64(k, RM_KNOB_ARENA_DISABLE_ABOVE_BYTES), 100 << 20);
    assert_true(rm_knobs_def(RM_KNOB_BUFFER_POOL_PAGE_SIZE)->restart);
    assert_false(rm_knobs_def(RM_KNOB_PRESSURE_WARNING_THRESHOLD)->restart);
}

static void
test_knobs_lookup_fails_when_unknown(void **state)
{
    (void)state;
    rm_knob_id_t id = RM_KNOB_COUNT;
    assert_int_equal(rm_knobs_lookup("pressure.nope", &id), RM_ENOENT);
    assert_int_equal(rm_knobs_lookup(NULL, &id), RM_ENOENT);
    assert_int_equal(id, RM_KNOB_COUNT);
}

/* ---- parsing ---- */

static int64_t
parse_bytes_ok(const char *text)
{
    rm_knob_value_t v;
    char why[160];
    const rm_knob_def_t *d = rm_knobs_def(RM_KNOB_PLAN_CACHE_MAX_BYTES);
    assert_int_equal(rm_knobs_parse(d, text, &v, why, sizeof why), RM_OK);
    return v.i;
}

static void
test_knobs_parse_bytes_with_unit_suffixes(void **state)
{
    (void)state;
    assert_int_equal(parse_bytes_ok("100MiB"), 100 << 20);
    assert_int_equal(parse_bytes_ok("2MB"), 2000000);
    assert_int_equal(parse_bytes_ok("4096000"), 4096000);
    assert_int_equal(parse_bytes_ok(" 1.5 GiB "), 3 << 29);
    assert_int_equal(parse_bytes_ok("64kib"), 65536);
    assert_int_equal(parse_bytes_ok("10_000_000B"), 10000000);
}

static void
test_knobs_parse_bytes_rejects_garbage(void **state)
{
    (void)state;
    const rm_knob_def_t *d = rm_knobs_def(RM_KNOB_PLAN_CACHE_MAX_BYTES);
    rm_knob_value_t v;
    char why[160];
    assert_int_equal(rm_knobs_parse(d, "-1MiB", &v, why, sizeof why), RM_EINVAL);
    assert_int_equal(rm_knobs_parse(d, "5XB", &v, why, sizeof why), RM_EINVAL);
    assert_non_null(strstr(why, "unknown unit"));
    assert_int_equal(rm_knobs_parse(d, "1.0000001KiB", &v, why, sizeof why), RM_EINVAL);
    assert_int_equal(rm_knobs_parse(d, "99999999999TiB", &v, why, sizeof why), RM_EINVAL);
    assert_int_equal(rm_knobs_parse(d, "", &v, why, sizeof why), RM_EINVAL);
    assert_int_equal(rm_knobs_parse(d, "1KiB", &v, why, sizeof why), RM_EINVAL);
    assert_string_equal(why, "out of range [64KiB, 64GiB]");
}

static void
test_knobs_parse_double_reports_range(void **state)
{
    (void)state;
    const rm_knob_def_t *d = rm_knobs_def(RM_KNOB_PRESSURE_WARNING_THRESHOLD);
    rm_knob_value_t v;
    char why[160];
    assert_int_equal(rm_knobs_parse(d, "1.7", &v, why, sizeof why), RM_EINVAL);
    assert_string_equal(why, "out of range [0.05, 0.99]");
    assert_int_equal(rm_knobs_parse(d, "65%", &v, why, sizeof why), RM_OK);
    assert_true(v.d == 0.65);
    assert_int_equal(rm_knobs_parse(d, "nan", &v, why, sizeof why), RM_EINVAL);
    assert_int_equal(rm_knobs_parse(d, "0.7x", &v, why, sizeof why), RM_EINVAL);
}

static void
test_knobs_parse_list_checks_entries_and_order(void **state)
{
    (void)state;
    const rm_knob_def_t *d = rm_knobs_def(RM_KNOB_PRESSURE_FORECAST_HORIZONS);
    rm_knob_value_t v;
    char why[160];
    assert_int_equal(rm_knobs_parse(d, "15, 45,90", &v, why, sizeof why), RM_OK);
    assert_int_equal(v.list.n, 3);
    assert_int_equal(v.list.v[2], 90);
    assert_int_equal(rm_knobs_parse(d, "60,30", &v, why, sizeof why), RM_EINVAL);
    assert_string_equal(why, "entries must be strictly increasing");
    assert_int_equal(rm_knobs_parse(d, "30,5000", &v, why, sizeof why), RM_EINVAL);
    assert_string_equal(why, "entry 5000 out of range [1, 3600]");
    assert_int_equal(rm_knobs_parse(d, "1,2,3,4,5,6,7,8,9", &v, why, sizeof why), RM_EINVAL);
    assert_int_equal(rm_knobs_parse(d, "30,,60", &v, why, sizeof why), RM_EINVAL);
}

static void
test_knobs_parse_bool_enum_and_checks(void **state)
{
    (void)state;
    rm_knob_value_t v;
    char why[160];
    const rm_knob_def_t *b = rm_knobs_def(RM_KNOB_LARGE_OBJECT_AGGRESSIVE_COALESCING);
    assert_int_equal(rm_knobs_parse(b, "ON", &v, why, sizeof why), RM_OK);
    assert_true(v.b);
    assert_int_equal(rm_knobs_parse(b, "maybe", &v, why, sizeof why), RM_EINVAL);
    const rm_knob_def_t *e = rm_knobs_def(RM_KNOB_LARGE_OBJECT_STRATEGY);
    assert_int_equal(rm_knobs_parse(e, "worst_fit", &v, why, sizeof why), RM_OK);
    assert_int_equal(v.e, 2);
    assert_int_equal(rm_knobs_parse(e, "next_fit", &v, why, sizeof why), RM_EINVAL);
    assert_string_equal(why, "must be one of best_fit, first_fit, worst_fit");
    const rm_knob_def_t *p = rm_knobs_def(RM_KNOB_BUFFER_POOL_PAGE_SIZE);
    assert_int_equal(rm_knobs_parse(p, "12KiB", &v, why, sizeof why), RM_EINVAL);
    assert_string_equal(why, "must be a power of two");
    const rm_knob_def_t *m = rm_knobs_def(RM_KNOB_MEMORY_BUDGET_BYTES);
    assert_int_equal(rm_knobs_parse(m, "1MiB", &v, why, sizeof why), RM_EINVAL);
    assert_int_equal(rm_knobs_parse(m, "8GiB", &v, why, sizeof why), RM_OK);
}

/* buffer_pool.num_frames takes exactly what rm_bufpool_create/resize take (or 0 = auto):
 * a value the pool would refuse must not be committed */
static void
test_knobs_num_frames_matches_what_the_pool_accepts(void **state)
{
    (void)state;
    rm_knob_value_t v;
    char why[160];
    char text[32];
    const rm_knob_def_t *f = rm_knobs_def(RM_KNOB_BUFFER_POOL_NUM_FRAMES);
    assert_int_equal(rm_knobs_parse(f, "0", &v, why, sizeof why), RM_OK);
    snprintf(text, sizeof text, "%u", RM_BUFPOOL_FRAMES_MIN - 1);
    assert_int_equal(rm_knobs_parse(f, text, &v, why, sizeof why), RM_EINVAL);
    assert_string_equal(why, "must be 0 (auto) or at least 8");
    snprintf(text, sizeof text, "%u", RM_BUFPOOL_FRAMES_MIN);
    assert_int_equal(rm_knobs_parse(f, text, &v, why, sizeof why), RM_OK);
    snprintf(text, sizeof text, "%u", RM_BUFPOOL_FRAMES_MAX);
    assert_int_equal(rm_knobs_parse(f, text, &v, why, sizeof why), RM_OK);
    snprintf(text, sizeof text, "%u", RM_BUFPOOL_FRAMES_MAX + 1);
    assert_int_equal(rm_knobs_parse(f, text, &v, why, sizeof why), RM_EINVAL);
}

/* ---- sets ---- */

static void
test_knobs_set_applies_several_together(void **state)
{
    rm_knobs_t *k = *state;
    rm_knob_assign_t a[] = {{"pressure.warning_threshold", "0.6"},
                            {"pressure.critical_threshold", "0.85"}};
    rm_knob_error_t err;
    uint64_t gen = rm_knobs_generation(k);
    assert_int_equal(rm_knobs_set(k, a, 2, 0, &err), RM_OK);
    assert_int_equal(err.status, RM_OK);
    assert_int_equal(err.pending_restart, 0);
    assert_true(rm_knobs_get_double(k, RM_KNOB_PRESSURE_WARNING_THRESHOLD) == 0.6);
    assert_true(rm_knobs_get_double(k, RM_KNOB_PRESSURE_CRITICAL_THRESHOLD) == 0.85);
    assert_int_equal(rm_knobs_generation(k), gen + 1);
}

static void
test_knobs_set_changes_nothing_when_one_value_bad(void **state)
{
    rm_knobs_t *k = *state;
    rm_knob_assign_t a[] = {{"pool.min_size", "20"}, {"pressure.warning_threshold", "1.7"}};
    rm_knob_error_t err;
    uint64_t gen = rm_knobs_generation(k);
    assert_int_equal(rm_knobs_set(k, a, 2, 0, &err), RM_EINVAL);
    assert_int_equal(err.status, RM_EINVAL);
    assert_int_equal(err.index, 1);
    assert_string_equal(err.knob, "pressure.warning_threshold");
    assert_string_equal(err.message,
                        "pressure.warning_threshold = 1.7: out of range [0.05, 0.99]");
    assert_int_equal(rm_knobs_get_i64(k, RM_KNOB_POOL_MIN_SIZE), 10);
    assert_true(rm_knobs_get_double(k, RM_KNOB_PRESSURE_WARNING_THRESHOLD) == 0.70);
    assert_int_equal(rm_knobs_generation(k), gen);
}

static void
test_knobs_set_validate_only_changes_nothing(void **state)
{
    rm_knobs_t *k = *state;
    rm_knob_error_t err;
    uint64_t gen = rm_knobs_generation(k);
    rm_knob_assign_t a[] = {{"pool.min_size", "20"}};
    assert_int_equal(rm_knobs_set(k, a, 1, 1, &err), RM_OK);
    assert_int_equal(rm_knobs_get_i64(k, RM_KNOB_POOL_MIN_SIZE), 10);
    assert_int_equal(rm_knobs_generation(k), gen);
    rm_knob_assign_t bad[] = {{"pool.min_size", "0"}};
    assert_int_equal(rm_knobs_set(k, bad, 1, 1, &err), RM_EINVAL);
    assert_string_equal(err.message, "pool.min_size = 0: out of range [1, 100000]");
}

static void
test_knobs_set_rejects_unknown_and_duplicate_knobs(void **state)
{
    rm_knobs_t *k = *state;
    rm_knob_error_t err;
    rm_knob_assign_t a[] = {{"pool.min_size", "20"}, {"pool.nope", "1"}};
    assert_int_equal(rm_knobs_set(k, a, 2, 0, &err), RM_ENOENT);
    assert_int_equal(err.index, 1);
    assert_string_equal(err.message, "pool.nope: unknown knob");
    rm_knob_assign_t d[] = {{"pool.min_size", "20"}, {"pool.min_size", "30"}};
    assert_int_equal(rm_knobs_set(k, d, 2, 0, &err), RM_EINVAL);
    assert_int_equal(rm_knobs_set(k, d, 0, 0, &err), RM_EINVAL);
    assert_int_equal(rm_knobs_get_i64(k, RM_KNOB_POOL_MIN_SIZE), 10);
}

static void
test_knobs_set_rejects_threshold_order_violation(void **state)
{
    rm_knobs_t *k = *state;
    rm_knob_error_t err;
    assert_int_equal(SET1(k, "pressure.warning_threshold", "0.85", &err), RM_EINVAL);
    assert_string_equal(err.message, "pressure.warning_threshold = 0.85: must be < "
                                     "pressure.high_pressure_threshold (0.8)");
    assert_int_equal(SET1(k, "pressure.emergency_threshold", "0.9", &err), RM_EINVAL);
    assert_string_equal(err.message, "pressure.emergency_threshold = 0.9: must be > "
                                     "pressure.critical_threshold (0.9)");
    /* valid as a whole: the would-be state is checked, not each step */
    rm_knob_assign_t a[] = {{"pressure.warning_threshold", "0.85"},
                            {"pressure.high_pressure_threshold", "0.88"}};
    assert_int_equal(rm_knobs_set(k, a, 2, 0, &err), RM_OK);
    assert_true(rm_knobs_get_double(k, RM_KNOB_PRESSURE_WARNING_THRESHOLD) == 0.85);
}

static void
test_knobs_set_rejects_pool_and_session_violations(void **state)
{
    rm_knobs_t *k = *state;
    rm_knob_error_t err;
    assert_int_equal(SET1(k, "pool.min_size", "600", &err), RM_EINVAL);
    assert_string_equal(err.message, "pool.min_size = 600: must be <= pool.max_size (500)");
    assert_int_equal(SET1(k, "session.max_sessions", "999", &err), RM_EINVAL);
    assert_string_equal(err.message,
                        "session.max_sessions = 999: must be >= session.max_connections (1000)");
    assert_int_equal(SET1(k, "pool.max_size", "1001", &err), RM_EINVAL);
    assert_int_equal(SET1(k, "alerts.fragmentation_critical", "0.1", &err), RM_EINVAL);
    rm_knob_assign_t fit[] = {{"memory.budget_bytes", "1GiB"},
                              {"buffer_pool.num_frames", "300000"}};
    assert_int_equal(rm_knobs_set(k, fit, 2, 0, &err), RM_EINVAL);
    assert_string_equal(err.knob, "buffer_pool.num_frames");
    assert_non_null(strstr(err.message, "must fit in memory.budget_bytes (1GiB)"));
    fit[1].value = "200000";
    assert_int_equal(rm_knobs_set(k, fit, 2, 0, &err), RM_OK);
    assert_int_equal(rm_knobs_get_i64(k, RM_KNOB_POOL_MIN_SIZE), 10);
}

static void
test_knobs_restart_knob_applies_directly_while_booting(void **state)
{
    rm_knobs_t *k = *state;
    rm_knob_error_t err;
    assert_int_equal(SET1(k, "buffer_pool.page_size", "8KiB", &err), RM_OK);
    assert_int_equal(err.pending_restart, 0);
    assert_int_equal(rm_knobs_get_i64(k, RM_KNOB_BUFFER_POOL_PAGE_SIZE), 8192);
    assert_false(rm_knobs_pending_restart(k, RM_KNOB_BUFFER_POOL_PAGE_SIZE));
}

static void
test_knobs_restart_knob_is_pending_when_started(void **state)
{
    rm_knobs_t *k = *state;
    rm_knob_error_t err;
    rm_knobs_mark_started(k);
    assert_int_equal(SET1(k, "buffer_pool.page_size", "16384", &err), RM_OK);
    assert_int_equal(err.pending_restart, 1);
    assert_int_equal(rm_knobs_get_i64(k, RM_KNOB_BUFFER_POOL_PAGE_SIZE), 4096);
    assert_true(rm_knobs_pending_restart(k, RM_KNOB_BUFFER_POOL_PAGE_SIZE));
    char run[64], conf[64];
    bool pending = false;
    assert_int_equal(rm_knobs_get_text(k, "buffer_pool.page_size", run, sizeof run, conf,
                                       sizeof conf, &pending),
                     RM_OK);
    assert_string_equal(run, "4KiB");
    assert_string_equal(conf, "16KiB");
    assert_true(pending);
    /* setting it back clears the pending state */
    assert_int_equal(SET1(k, "buffer_pool.page_size", "4096", &err), RM_OK);
    assert_int_equal(err.pending_restart, 0);
    assert_false(rm_knobs_pending_restart(k, RM_KNOB_BUFFER_POOL_PAGE_SIZE));
}

static void
test_knobs_set_checks_running_state_when_restart_pending(void **state)
{
    rm_knobs_t *k = *state;
    rm_knob_error_t err;
    rm_knobs_mark_started(k);
    assert_int_equal(SET1(k, "session.max_connections", "2000", &err), RM_OK);
    assert_int_equal(err.pending_restart, 1);
    /* valid after the restart, but not with the 1000 connections running now */
    rm_knob_assign_t a[] = {{"pool.max_size", "1500"}, {"session.max_sessions", "20000"}};
    assert_int_equal(rm_knobs_set(k, a, 2, 0, &err), RM_EINVAL);
    assert_non_null(strstr(err.message, "pool.max_size = 1500: must be <= "
                                        "session.max_connections (1000)"));
    assert_int_equal(rm_knobs_get_i64(k, RM_KNOB_POOL_MAX_SIZE), 500);
}

/* ---- subscribers ---- */

typedef struct probe {
    int calls;
    size_t n;
    rm_knob_change_t last[RM_KNOB_COUNT];
    int veto;
} probe_t;

static void
probe_apply(void *ctx, const rm_knob_change_t *c, size_t n)
{
    probe_t *p = ctx;
    p->calls++;
    p->n = n;
    memcpy(p->last, c, n * sizeof *c);
}

static rm_status_t
probe_veto(void *ctx, const rm_knob_change_t *c, size_t n, char *why, size_t len)
{
    probe_t *p = ctx;
    p->calls++;
    if (p->veto) {
        snprintf(why, len, "the slab refuses");
        return RM_EBUSY;
    }
    return RM_OK;
}

static void
test_knobs_subscriber_gets_old_and_new_values_by_prefix(void **state)
{
    rm_knobs_t *k = *state;
    probe_t pp = {0}, ps = {0};
    rm_knobs_sub_t *sp, *ss;
    assert_int_equal(rm_knobs_subscribe(k, "pressure.", NULL, probe_apply, &pp, &sp), RM_OK);
    assert_int_equal(rm_knobs_subscribe(k, "slab.", NULL, probe_apply, &ps, &ss), RM_OK);
    rm_knob_assign_t a[] = {{"pressure.warning_threshold", "0.65"},
                            {"pool.min_size", "11"},
                            {"pressure.history_size", "60"}};
    rm_knob_error_t err;
    assert_int_equal(rm_knobs_set(k, a, 3, 0, &err), RM_OK);
    assert_int_equal(pp.calls, 1);
    assert_int_equal(pp.n, 1); /* history_size did not change */
    assert_int_equal(pp.last[0].id, RM_KNOB_PRESSURE_WARNING_THRESHOLD);
    assert_true(pp.last[0].old_value.d == 0.70);
    assert_true(pp.last[0].new_value.d == 0.65);
    assert_int_equal(ps.calls, 0);
    rm_knobs_unsubscribe(k, sp);
    assert_int_equal(SET1(k, "pressure.warning_threshold", "0.6", &err), RM_OK);
    assert_int_equal(pp.calls, 1);
    rm_knobs_unsubscribe(k, ss);
}

static void
test_knobs_subscriber_not_applied_for_pending_restart(void **state)
{
    rm_knobs_t *k = *state;
    probe_t p = {0};
    rm_knobs_sub_t *s;
    rm_knobs_mark_started(k);
    assert_int_equal(rm_knobs_subscribe(k, "", NULL, probe_apply, &p, &s), RM_OK);
    rm_knob_error_t err;
    assert_int_equal(SET1(k, "large_object.aggressive_coalescing", "on", &err), RM_OK);
    assert_int_equal(p.calls, 0);
    rm_knobs_unsubscribe(k, s);
}

static void
test_knobs_veto_rejects_whole_set(void **state)
{
    rm_knobs_t *k = *state;
    probe_t v = {.veto = 1}, a = {0};
    rm_knobs_sub_t *sv, *sa;
    assert_int_equal(rm_knobs_subscribe(k, "slab.", probe_veto, NULL, &v, &sv), RM_OK);
    assert_int_equal(rm_knobs_subscribe(k, "", NULL, probe_apply, &a, &sa), RM_OK);
    rm_knob_assign_t set[] = {{"pool.min_size", "20"}, {"slab.lock_entry_magazine", "256"}};
    rm_knob_error_t err;
    assert_int_equal(rm_knobs_set(k, set, 2, 0, &err), RM_EBUSY);
    assert_string_equal(err.message, "slab.lock_entry_magazine = 256: the slab refuses");
    assert_int_equal(err.index, 1);
    assert_int_equal(rm_knobs_get_i64(k, RM_KNOB_POOL_MIN_SIZE), 10);
    assert_int_equal(rm_knobs_get_i64(k, RM_KNOB_SLAB_LOCK_ENTRY_MAGAZINE), 128);
    assert_int_equal(a.calls, 0);
    /* the veto runs for validate_only too, and not for knobs outside its prefix */
    assert_int_equal(rm_knobs_set(k, set, 2, 1, &err), RM_EBUSY);
    assert_int_equal(rm_knobs_set(k, set, 1, 0, &err), RM_OK);
    assert_int_equal(v.calls, 2);
    rm_knobs_unsubscribe(k, sv);
    rm_knobs_unsubscribe(k, sa);
}

static void
test_knobs_subscribe_rejects_bad_arguments(void **state)
{
    rm_knobs_t *k = *state;
    rm_knobs_sub_t *s = NULL;
    assert_int_equal(rm_knobs_subscribe(k, "x", NULL, NULL, NULL, &s), RM_EINVAL);
    assert_int_equal(rm_knobs_subscribe(k, NULL, probe_veto, NULL, NULL, &s), RM_EINVAL);
    assert_null(s);
}

/* ---- persistence hand-off ---- */

typedef struct store {
    int calls;
    int fail;
    char text[4096];
} store_t;

static rm_status_t
store_persist(void *ctx, const char *text, size_t len, char *why, size_t why_len)
{
    store_t *s = ctx;
    s->calls++;
    if (s->fail) {
        snprintf(why, why_len, "disk full");
        return RM_EIO;
    }
    snprintf(s->text, sizeof s->text, "%.*s", (int)len, text);
    return RM_OK;
}

static void
test_knobs_persister_gets_runtime_changes_as_ini(void **state)
{
    rm_knobs_t *k = *state;
    store_t s = {0};
    rm_knobs_set_persister(k, store_persist, &s);
    rm_knob_assign_t a[] = {{"pressure.warning_threshold", "0.6"},
                            {"pressure.critical_threshold", "0.85"},
                            {"plan_cache.max_bytes", "10485760"}};
    rm_knob_error_t err;
    assert_int_equal(rm_knobs_set(k, a, 3, 0, &err), RM_OK);
    assert_int_equal(s.calls, 1);
    assert_non_null(strstr(s.text, "\n[pressure]\nwarning_threshold = 0.6\n"
                                   "critical_threshold = 0.85\n"));
    assert_non_null(strstr(s.text, "\n[plan_cache]\nmax_bytes = 10MiB\n"));
    assert_null(strstr(s.text, "pool"));
    /* a no-op set does not rewrite; a validate_only never writes */
    assert_int_equal(rm_knobs_set(k, a, 3, 0, &err), RM_OK);
    assert_int_equal(rm_knobs_set(k, a, 1, 1, &err), RM_OK);
    assert_int_equal(s.calls, 1);
    rm_knobs_set_persister(k, NULL, NULL);
}

static void
test_knobs_set_changes_nothing_when_persist_fails(void **state)
{
    rm_knobs_t *k = *state;
    store_t s = {.fail = 1};
    probe_t p = {0};
    rm_knobs_sub_t *sub;
    assert_int_equal(rm_knobs_subscribe(k, "", NULL, probe_apply, &p, &sub), RM_OK);
    rm_knobs_set_persister(k, store_persist, &s);
    rm_knob_error_t err;
    uint64_t gen = rm_knobs_generation(k);
    assert_int_equal(SET1(k, "pool.min_size", "20", &err), RM_EIO);
    assert_string_equal(err.message, "cannot persist the knobs: disk full");
    assert_int_equal(rm_knobs_get_i64(k, RM_KNOB_POOL_MIN_SIZE), 10);
    assert_int_equal(rm_knobs_generation(k), gen);
    assert_int_equal(p.calls, 0);
    char *text;
    assert_int_equal(rm_knobs_format_ini(k, RM_KNOBS_INI_PERSISTED, &text, NULL), RM_OK);
    assert_null(strstr(text, "min_size"));
    free(text);
    rm_knobs_unsubscribe(k, sub);
}

static void
test_knobs_no_persist_flag_skips_persister(void **state)
{
    rm_knobs_t *k = *state;
    store_t s = {0};
    rm_knobs_set_persister(k, store_persist, &s);
    rm_knob_error_t err;
    rm_knob_assign_t a[] = {{"pool.min_size", "20"}};
    assert_int_equal(rm_knobs_set_ex(k, a, 1, RM_KNOBS_NO_PERSIST, &err), RM_OK);
    assert_int_equal(s.calls, 0);
    assert_int_equal(rm_knobs_get_i64(k, RM_KNOB_POOL_MIN_SIZE), 20);
    char *text;
    assert_int_equal(rm_knobs_format_ini(k, RM_KNOBS_INI_PERSISTED, &text, NULL), RM_OK);
    assert_null(strstr(text, "min_size"));
    free(text);
    assert_int_equal(rm_knobs_format_ini(k, RM_KNOBS_INI_NONDEFAULT, &text, NULL), RM_OK);
    assert_non_null(strstr(text, "[pool]\nmin_size = 20\n"));
    free(text);
}

static void
test_knobs_load_persisted_is_kept_by_later_writes(void **state)
{
    rm_knobs_t *k = *state;
    store_t s = {0};
    rm_knob_error_t err;
    rm_knob_assign_t p[] = {{"mvcc.max_versions_per_key", "5000"}};
    assert_int_equal(rm_knobs_load_persisted(k, p, 1, &err), RM_OK);
    /* recorded only: the running value is not touched */
    assert_int_equal(rm_knobs_get_i64(k, RM_KNOB_MVCC_MAX_VERSIONS_PER_KEY), 1000);
    rm_knobs_set_persister(k, store_persist, &s);
    assert_int_equal(SET1(k, "pool.min_size", "20", &err), RM_OK);
    assert_non_null(strstr(s.text, "[mvcc]\nmax_versions_per_key = 5000\n"));
    assert_non_null(strstr(s.text, "[pool]\nmin_size = 20\n"));
    rm_knob_assign_t bad[] = {{"mvcc.max_versions_per_key", "0"}};
    assert_int_equal(rm_knobs_load_persisted(k, bad, 1, &err), RM_EINVAL);
}

/* Source bookkeeping: the boot layers recorded by rm_knobs_set_base, a
 * runtime set over them, the restart-override warning, and a reset that
 * returns value and source and forgets the persisted value. */
static void
test_knobs_sources_reset_and_override_warning(void **state)
{
    rm_knobs_t *k = *state;
    store_t s = {0};
    rm_knob_error_t err;
    rm_knob_source_info_t si;
    char warn[512] = "";
    /* boot: file sets warning_threshold, env sets min_size, a flag sets max_size */
    rm_knob_assign_t boot[] = {{"pressure.warning_threshold", "0.6"},
                               {"pool.min_size", "20"},
                               {"pool.max_size", "300"}};
    assert_int_equal(rm_knobs_set_ex(k, boot, 3, RM_KNOBS_NO_PERSIST, &err), RM_OK);
    rm_knob_base_t base[] = {
        {"pressure.warning_threshold", RM_KNOB_SRC_FILE, "/etc/rustymem.ini:7", "0.6"},
        {"pool.min_size", RM_KNOB_SRC_ENV, "RUSTYMEM_POOL_MIN_SIZE", "20"},
        {"pool.max_size", RM_KNOB_SRC_FLAG, "--set", "300"}};
    assert_int_equal(rm_knobs_set_base(k, base, 3, &err), RM_OK);
    assert_int_equal(rm_knobs_get_source(k, "pressure.warning_threshold", &si), RM_OK);
    assert_int_equal(si.source, RM_KNOB_SRC_FILE);
    assert_string_equal(si.text, "/etc/rustymem.ini:7");
    assert_string_equal(si.reset_value, "0.6");
    assert_int_equal(rm_knobs_get_source(k, "pool.min_size", &si), RM_OK);
    assert_string_equal(si.text, "env RUSTYMEM_POOL_MIN_SIZE");
    assert_int_equal(rm_knobs_get_source(k, "pool.max_size", &si), RM_OK);
    assert_string_equal(si.text, "flag");
    assert_int_equal(rm_knobs_get_source(k, "mvcc.max_versions_per_key", &si), RM_OK);
    assert_int_equal(si.source, RM_KNOB_SRC_DEFAULT);
    assert_string_equal(si.text, "default");
    assert_string_equal(si.reset_value, "1000");
    assert_false(si.pending_restart);

    /* runtime sets, persisted */
    rm_knobs_set_persister(k, store_persist, &s);
    rm_knob_assign_t rt[] = {{"pressure.warning_threshold", "0.65"}, {"pool.min_size", "30"}};
    assert_int_equal(rm_knobs_set(k, rt, 2, 0, &err), RM_OK);
    assert_int_equal(rm_knobs_get_source(k, "pressure.warning_threshold", &si), RM_OK);
    assert_int_equal(si.source, RM_KNOB_SRC_RUNTIME);
    assert_true(si.persisted);
    assert_string_equal(si.text, "runtime (persisted)");
    assert_int_equal(si.reset_source, RM_KNOB_SRC_FILE);
    assert_string_equal(si.reset_value, "0.6");
    /* the file's value loses to a persisted one: no warning; the env's wins: warning */
    assert_false(rm_knobs_restart_override(k, "pressure.warning_threshold", warn, sizeof warn));
    assert_true(rm_knobs_restart_override(k, "pool.min_size", warn, sizeof warn));
    assert_non_null(strstr(warn, "env RUSTYMEM_POOL_MIN_SIZE sets 20"));
    assert_false(rm_knobs_restart_override(k, "no.such_knob", warn, sizeof warn));

    /* reset: unknown name changes nothing and names it */
    int calls = s.calls;
    const char *bad[] = {"pressure.warning_threshold", "pool.no_such"};
    assert_int_equal(rm_knobs_reset(k, bad, 2, 0, &err), RM_ENOENT);
    assert_string_equal(err.knob, "pool.no_such");
    assert_int_equal(s.calls, calls);
    assert_true(rm_knobs_get_double(k, RM_KNOB_PRESSURE_WARNING_THRESHOLD) == 0.65);
    /* reset returns value and source and rewrites the persisted text without it */
    const char *names[] = {"pressure.warning_threshold"};
    assert_int_equal(rm_knobs_reset(k, names, 1, 0, &err), RM_OK);
    assert_true(rm_knobs_get_double(k, RM_KNOB_PRESSURE_WARNING_THRESHOLD) == 0.6);
    assert_int_equal(rm_knobs_get_source(k, "pressure.warning_threshold", &si), RM_OK);
    assert_string_equal(si.text, "/etc/rustymem.ini:7");
    assert_int_equal(s.calls, calls + 1);
    assert_null(strstr(s.text, "warning_threshold"));
    assert_non_null(strstr(s.text, "min_size = 30"));

    /* a runtime value without a persister: "not persisted", warned */
    rm_knobs_set_persister(k, NULL, NULL);
    assert_int_equal(SET1(k, "mvcc.max_versions_per_key", "2000", &err), RM_OK);
    assert_int_equal(rm_knobs_get_source(k, "mvcc.max_versions_per_key", &si), RM_OK);
    assert_string_equal(si.text, "runtime (not persisted)");
    assert_true(rm_knobs_restart_override(k, "mvcc.max_versions_per_key", warn, sizeof warn));
    assert_non_null(strstr(warn, "returns to 1000 (default)"));

    /* a persisted value read back at start is "runtime (persisted)" unless env/flag beat it */
    rm_knob_assign_t p[] = {{"pool.min_size", "30"}};
    assert_int_equal(rm_knobs_load_persisted(k, p, 1, &err), RM_OK);
    assert_int_equal(rm_knobs_set_base(k, base, 3, &err), RM_OK);
    assert_int_equal(rm_knobs_get_source(k, "pool.min_size", &si), RM_OK);
    assert_string_equal(si.text, "env RUSTYMEM_POOL_MIN_SIZE"); /* the env beats it at boot */
    assert_int_equal(rm_knobs_set_base(k, base, 1, &err), RM_OK); /* no env: 30 == persisted */
    assert_int_equal(rm_knobs_get_source(k, "pool.min_size", &si), RM_OK);
    assert_string_equal(si.text, "runtime (persisted)");
    assert_int_equal(rm_knobs_get_source(k, "pool.max_size", &si), RM_OK);
    assert_string_equal(si.text, "default"); /* not in the new record */
    /* bad records change nothing */
    rm_knob_base_t wrong[] = {{"pool.max_size", RM_KNOB_SRC_RUNTIME, "", "300"}};
    assert_int_equal(rm_knobs_set_base(k, wrong, 1, &err), RM_EINVAL);
    rm_knob_base_t range[] = {{"pool.max_size", RM_KNOB_SRC_FILE, "f:1", "-1"}};
    assert_int_equal(rm_knobs_set_base(k, range, 1, &err), RM_EINVAL);
    assert_int_equal(rm_knobs_get_source(k, "pressure.warning_threshold", &si), RM_OK);
    assert_string_equal(si.text, "/etc/rustymem.ini:7");
}

static void
test_knobs_format_ini_all_reads_back(void **state)
{
    rm_knobs_t *k = *state;
    char *text;
    size_t len;
    assert_int_equal(rm_knobs_format_ini(k, RM_KNOBS_INI_ALL, &text, &len), RM_OK);
    assert_int_equal(strlen(text), len);
    /* every knob appears once under its section, with its description */
    for (size_t i = 0; i < rm_knobs_count(); i++) {
        const rm_knob_def_t *d = rm_knobs_def((rm_knob_id_t)i);
        char key[80];
        snprintf(key, sizeof key, "\n%s = ", strchr(d->name, '.') + 1);
        assert_non_null(strstr(text, key));
    }
    assert_non_null(strstr(text, "\n[large_object]\n"));
    assert_non_null(strstr(text, "\nforecast_horizons = 30,60,120\n"));
    free(text);
}

/* ---- profiles ---- */

static void
test_knobs_profile_names_parse(void **state)
{
    (void)state;
    rm_knobs_workload_t w;
    rm_knobs_environment_t e;
    assert_int_equal(rm_knobs_workload_from_name("OLAP", &w), RM_OK);
    assert_int_equal(w, RM_WORKLOAD_OLAP);
    assert_int_equal(rm_knobs_environment_from_name("mission-critical", &e), RM_OK);
    assert_int_equal(e, RM_ENV_MISSION_CRITICAL);
    assert_int_equal(rm_knobs_environment_from_name("staging", &e), RM_EINVAL);
    assert_null(rm_knobs_workload_name(RM_WORKLOAD_COUNT));
}

static void
test_knobs_profile_mission_critical_oltp_values(void **state)
{
    rm_knobs_t *k = *state;
    rm_knob_error_t err;
    assert_int_equal(rm_knobs_apply_profile(k, RM_WORKLOAD_OLTP, RM_ENV_MISSION_CRITICAL, 0, &err),
                     RM_OK);
    assert_true(rm_knobs_get_double(k, RM_KNOB_PRESSURE_WARNING_THRESHOLD) == 0.60);
    assert_true(rm_knobs_get_double(k, RM_KNOB_PRESSURE_CRITICAL_THRESHOLD) == 0.85);
    assert_int_equal(rm_knobs_get_i64(k, RM_KNOB_PRESSURE_HISTORY_SIZE), 120);
    assert_int_equal(rm_knobs_get_i64(k, RM_KNOB_SLAB_LOCK_ENTRY_MAGAZINE), 256);
    assert_int_equal(rm_knobs_get_i64(k, RM_KNOB_MVCC_MAX_VERSIONS_PER_KEY), 100);
    assert_int_equal(rm_knobs_get_i64(k, RM_KNOB_PLAN_CACHE_MAX_PLANS), 1000);
    assert_int_equal(rm_knobs_get_i64(k, RM_KNOB_PLAN_CACHE_MAX_BYTES), 10 << 20);
    int64_t ratio = rm_knobs_get_i64(k, RM_KNOB_SESSION_SESSION_RATIO);
    assert_true(ratio >= 10 && ratio <= 20);
}

static void
test_knobs_profile_development_olap_values(void **state)
{
    rm_knobs_t *k = *state;
    rm_knob_error_t err;
    assert_int_equal(rm_knobs_apply_profile(k, RM_WORKLOAD_OLAP, RM_ENV_DEVELOPMENT, 0, &err),
                     RM_OK);
    assert_true(rm_knobs_get_double(k, RM_KNOB_PRESSURE_WARNING_THRESHOLD) == 0.80);
    assert_true(rm_knobs_get_double(k, RM_KNOB_PRESSURE_CRITICAL_THRESHOLD) == 0.95);
    assert_int_equal(rm_knobs_get_i64(k, RM_KNOB_SESSION_SESSION_RATIO), 2);
    assert_int_equal(rm_knobs_get_i64(k, RM_KNOB_PLAN_CACHE_MAX_PLANS), 100);
    assert_int_equal(rm_knobs_get_i64(k, RM_KNOB_MVCC_MAX_VERSIONS_PER_KEY), 10000);
    assert_true(rm_knobs_get_double(k, RM_KNOB_BUFFER_POOL_AUTO_FRACTION) == 0.5);
    /* switching back to production/mixed restores every default it touched */
    assert_int_equal(rm_knobs_apply_profile(k, RM_WORKLOAD_MIXED, RM_ENV_PRODUCTION, 0, &err),
                     RM_OK);
    for (size_t i = 0; i < rm_knobs_count(); i++) {
        const rm_knob_def_t *d = rm_knobs_def((rm_knob_id_t)i);
        if (i == RM_KNOB_BUFFER_POOL_AUTO_FRACTION)
            continue; /* mixed: 0.35 */
        rm_knob_value_t v;
        rm_knob_id_t id = (rm_knob_id_t)i;
        rm_knobs_read(k, &id, 1, &v);
        assert_true(rm_knobs_value_equal(d, &v, &d->def));
    }
}

static void
test_knobs_every_profile_is_valid_from_defaults(void **state)
{
    (void)state;
    for (int w = 0; w < RM_WORKLOAD_COUNT; w++)
        for (int e = 0; e < RM_ENV_COUNT; e++) {
            rm_knobs_t *k;
            rm_knob_error_t err;
            assert_int_equal(rm_knobs_create(&k), RM_OK);
            rm_knobs_mark_started(k);
            assert_int_equal(rm_knobs_apply_profile(k, (rm_knobs_workload_t)w,
                                                    (rm_knobs_environment_t)e, 0, &err),
                             RM_OK);
            assert_int_equal(err.pending_restart, 0);
            rm_knobs_destroy(k);
        }
}

static void
test_knobs_profile_changes_nothing_when_it_violates_a_constraint(void **state)
{
    rm_knobs_t *k = *state;
    rm_knob_error_t err;
    rm_knob_assign_t a[] = {{"session.max_connections", "3000"},
                            {"session.max_sessions", "30000"}};
    assert_int_equal(rm_knobs_set(k, a, 2, 0, &err), RM_OK);
    uint64_t gen = rm_knobs_generation(k);
    /* OLAP sets max_sessions 2000 < 3000 connections */
    assert_int_equal(rm_knobs_apply_profile(k, RM_WORKLOAD_OLAP, RM_ENV_MISSION_CRITICAL, 0, &err),
                     RM_EINVAL);
    assert_string_equal(err.knob, "session.max_sessions");
    assert_int_equal(rm_knobs_generation(k), gen);
    assert_true(rm_knobs_get_double(k, RM_KNOB_PRESSURE_WARNING_THRESHOLD) == 0.70);
    assert_int_equal(rm_knobs_get_i64(k, RM_KNOB_PRESSURE_HISTORY_SIZE), 60);
    /* validate_only reports the same without trying to commit */
    assert_int_equal(rm_knobs_apply_profile(k, RM_WORKLOAD_OLTP, RM_ENV_DEVELOPMENT, 1, &err),
                     RM_OK);
    assert_int_equal(rm_knobs_get_i64(k, RM_KNOB_SLAB_LOCK_ENTRY_MAGAZINE), 128);
    assert_int_equal(rm_knobs_apply_profile(k, RM_WORKLOAD_COUNT, RM_ENV_DEVELOPMENT, 0, &err),
                     RM_EINVAL);
}

/* ---- the generated reference ---- */

static char *
slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *p = malloc((size_t)n + 1);
    size_t got = fread(p, 1, (size_t)n, f);
    fclose(f);
    p[got] = '\0';
    *len = got;
    return p;
}

static void
test_knobs_docs_reference_is_up_to_date(void **state)
{
    (void)state;
    const char *data = getenv("RM_TEST_DATA");
    if (!data)
        skip();
    char path[4096];
    snprintf(path, sizeof path, "%s/../../docs/knobs.md", data);
    char *gen = NULL;
    size_t gen_len = 0;
    FILE *m = open_memstream(&gen, &gen_len);
    assert_non_null(m);
    assert_int_equal(rm_knobs_write_markdown(m), RM_OK);
    fclose(m);
    if (getenv("RM_UPDATE_DOCS")) {
        FILE *f = fopen(path, "wb");
        assert_non_null(f);
        assert_int_equal(fwrite(gen, 1, gen_len, f), gen_len);
        fclose(f);
    }
    size_t len = 0;
    char *cur = slurp(path, &len);
    if (!cur || len != gen_len || memcmp(cur, gen, len) != 0)
        fail_msg("%s is out of date: run RM_UPDATE_DOCS=1 ctest --test-dir build -R test_knobs", path);
    free(cur);
    free(gen);
}

/* ---- readers under a writer ---- */

typedef struct race {
    rm_knobs_t *k;
    int stop;
    long bad;
    long reads;
} race_t;

static void *
race_reader(void *arg)
{
    race_t *r = arg;
    const rm_knob_id_t ids[] = {RM_KNOB_PRESSURE_WARNING_THRESHOLD,
                                RM_KNOB_PRESSURE_CRITICAL_THRESHOLD,
                                RM_KNOB_PRESSURE_FORECAST_HORIZONS};
    while (!__atomic_load_n(&r->stop, __ATOMIC_ACQUIRE)) {
        rm_knob_value_t v[3];
        rm_knobs_read(r->k, ids, 3, v);
        /* only two states are ever committed: A = (0.7, 0.9, 30/60/120) and
         * B = (0.6, 0.85, 10/20/40/80) */
        int a = v[0].d == 0.7 && v[1].d == 0.9 && v[2].list.n == 3 && v[2].list.v[2] == 120;
        int b = v[0].d == 0.6 && v[1].d == 0.85 && v[2].list.n == 4 && v[2].list.v[3] == 80;
        if (!a && !b)
            r->bad++;
        double w = rm_knobs_get_double(r->k, RM_KNOB_PRESSURE_WARNING_THRESHOLD);
        if (w != 0.7 && w != 0.6)
            r->bad++;
        r->reads++;
    }
    return NULL;
}

static void
test_knobs_readers_see_whole_commits_while_writer_runs(void **state)
{
    rm_knobs_t *k = *state;
    race_t r[2] = {{.k = k}, {.k = k}};
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&t[i], NULL, race_reader, &r[i]), 0);
    rm_knob_assign_t A[] = {{"pressure.warning_threshold", "0.7"},
                            {"pressure.critical_threshold", "0.9"},
                            {"pressure.forecast_horizons", "30,60,120"}};
    rm_knob_assign_t B[] = {{"pressure.warning_threshold", "0.6"},
                            {"pressure.critical_threshold", "0.85"},
                            {"pressure.forecast_horizons", "10,20,40,80"}};
    for (int i = 0; i < 2000; i++)
        assert_int_equal(rm_knobs_set(k, (i & 1) ? A : B, 3, 0, NULL), RM_OK);
    for (int i = 0; i < 2; i++) {
        __atomic_store_n(&r[i].stop, 1, __ATOMIC_RELEASE);
        pthread_join(t[i], NULL);
        assert_int_equal(r[i].bad, 0);
    }
}

/* ---- apply outside the lock (ADR 0025) ---- */

typedef struct slow_apply {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int entered, release;             /* the slow apply is running / may finish */
    char log[8][RM_KNOB_NAME_MAX];    /* knobs in apply order */
    int n_log;
    rm_knob_change_t last;            /* the fast subscriber's last change */
    int fast_calls;
} slow_apply_t;

static void
slow_apply_fn(void *ctx, const rm_knob_change_t *c, size_t n)
{
    slow_apply_t *sa = ctx;
    pthread_mutex_lock(&sa->mu);
    for (size_t i = 0; i < n && sa->n_log < 8; i++)
        snprintf(sa->log[sa->n_log++], RM_KNOB_NAME_MAX, "%s", c[i].def->name);
    sa->entered = 1;
    pthread_cond_broadcast(&sa->cv);
    while (!sa->release)   /* a buffer-pool resize waiting on I/O, controlled by the test */
        pthread_cond_wait(&sa->cv, &sa->mu);
    pthread_mutex_unlock(&sa->mu);
}

static void
fast_apply_fn(void *ctx, const rm_knob_change_t *c, size_t n)
{
    slow_apply_t *sa = ctx;
    pthread_mutex_lock(&sa->mu);
    for (size_t i = 0; i < n && sa->n_log < 8; i++)
        snprintf(sa->log[sa->n_log++], RM_KNOB_NAME_MAX, "%s", c[i].def->name);
    sa->last = c[n - 1];
    sa->fast_calls++;
    pthread_mutex_unlock(&sa->mu);
}

typedef struct set_thread {
    rm_knobs_t *k;
    rm_knob_assign_t a;
    rm_status_t st;
    rm_knob_error_t err;
} set_thread_t;

static void *
set_thread_main(void *arg)
{
    set_thread_t *t = arg;
    t->st = rm_knobs_set(t->k, &t->a, 1, 0, &t->err);
    return NULL;
}

static void
test_knobs_set_never_waits_for_another_knobs_slow_apply(void **state)
{
    rm_knobs_t *k = *state;
    slow_apply_t sa = {.n_log = 0};
    pthread_mutex_init(&sa.mu, NULL);
    pthread_cond_init(&sa.cv, NULL);
    rm_knobs_sub_t *s1, *s2;
    assert_int_equal(rm_knobs_subscribe(k, "buffer_pool.", NULL, slow_apply_fn, &sa, &s1), RM_OK);
    assert_int_equal(rm_knobs_subscribe(k, "pressure.", NULL, fast_apply_fn, &sa, &s2), RM_OK);
    rm_knobs_mark_started(k);

    set_thread_t slow = {.k = k, .a = {"buffer_pool.auto_fraction", "0.4"}};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, set_thread_main, &slow), 0);
    /* wait (bounded) until the slow apply runs */
    struct timespec dl;
    clock_gettime(CLOCK_REALTIME, &dl);
    dl.tv_sec += 30;
    pthread_mutex_lock(&sa.mu);
    while (!sa.entered)
        assert_int_not_equal(pthread_cond_timedwait(&sa.cv, &sa.mu, &dl), ETIMEDOUT);
    pthread_mutex_unlock(&sa.mu);
    /* committed before its apply: readers see the target already */
    assert_true(rm_knobs_get_double(k, RM_KNOB_BUFFER_POOL_AUTO_FRACTION) == 0.4);
    assert_true(rm_knobs_applying(k, RM_KNOB_BUFFER_POOL_AUTO_FRACTION));

    /* an unrelated knob: returns while the slow apply is still blocked */
    rm_knob_assign_t a = {"pressure.warning_threshold", "0.65"};
    rm_knob_error_t err;
    assert_int_equal(rm_knobs_set(k, &a, 1, 0, &err), RM_OK);
    assert_int_equal(err.applying, 1);
    assert_true(rm_knobs_get_double(k, RM_KNOB_PRESSURE_WARNING_THRESHOLD) == 0.65);
    assert_true(rm_knobs_applying(k, RM_KNOB_PRESSURE_WARNING_THRESHOLD));
    /* a second change of the same knob supersedes the queued one */
    a.value = "0.6";
    assert_int_equal(rm_knobs_set(k, &a, 1, 0, &err), RM_OK);
    assert_int_equal(err.applying, 1);
    /* validation still answers at once, and a failing set changes nothing */
    rm_knob_assign_t bad = {"pressure.warning_threshold", "0.95"};
    assert_int_equal(rm_knobs_set(k, &bad, 1, 0, &err), RM_EINVAL);
    assert_true(rm_knobs_get_double(k, RM_KNOB_PRESSURE_WARNING_THRESHOLD) == 0.6);
    assert_int_equal(rm_knobs_wait_applied(k, 10), RM_ETIMEDOUT);
    pthread_mutex_lock(&sa.mu);
    assert_int_equal(sa.release, 0);   /* all of the above happened during the slow apply */
    assert_int_equal(sa.fast_calls, 0);
    sa.release = 1;
    pthread_cond_broadcast(&sa.cv);
    pthread_mutex_unlock(&sa.mu);

    pthread_join(th, NULL);
    assert_int_equal(slow.st, RM_OK);
    /* the slow setter ran the queue behind its own apply, so nothing was left applying */
    assert_int_equal(slow.err.applying, 0);
    assert_int_equal(rm_knobs_wait_applied(k, 30000), RM_OK);
    assert_false(rm_knobs_applying(k, RM_KNOB_BUFFER_POOL_AUTO_FRACTION));
    assert_false(rm_knobs_applying(k, RM_KNOB_PRESSURE_WARNING_THRESHOLD));
    /* commit order; the superseded 0.65 was never applied: one call 0.70 -> 0.6 */
    assert_int_equal(sa.n_log, 2);
    assert_string_equal(sa.log[0], "buffer_pool.auto_fraction");
    assert_string_equal(sa.log[1], "pressure.warning_threshold");
    assert_int_equal(sa.fast_calls, 1);
    assert_true(sa.last.old_value.d == 0.70);
    assert_true(sa.last.new_value.d == 0.6);

    /* uncontended, a set applies before it returns, as before */
    a.value = "0.55";
    assert_int_equal(rm_knobs_set(k, &a, 1, 0, &err), RM_OK);
    assert_int_equal(err.applying, 0);
    assert_int_equal(sa.fast_calls, 2);
    rm_knobs_unsubscribe(k, s1);
    rm_knobs_unsubscribe(k, s2);
    pthread_cond_destroy(&sa.cv);
    pthread_mutex_destroy(&sa.mu);
}

/* An unsubscribed subscriber's queued apply is dropped, never called. */
static void
test_knobs_unsubscribe_drops_queued_applies(void **state)
{
    rm_knobs_t *k = *state;
    slow_apply_t sa = {.n_log = 0};
    pthread_mutex_init(&sa.mu, NULL);
    pthread_cond_init(&sa.cv, NULL);
    rm_knobs_sub_t *s1, *s2;
    assert_int_equal(rm_knobs_subscribe(k, "buffer_pool.", NULL, slow_apply_fn, &sa, &s1), RM_OK);
    assert_int_equal(rm_knobs_subscribe(k, "pressure.", NULL, fast_apply_fn, &sa, &s2), RM_OK);
    rm_knobs_mark_started(k);
    set_thread_t slow = {.k = k, .a = {"buffer_pool.auto_fraction", "0.4"}};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, set_thread_main, &slow), 0);
    struct timespec dl;
    clock_gettime(CLOCK_REALTIME, &dl);
    dl.tv_sec += 30;
    pthread_mutex_lock(&sa.mu);
    while (!sa.entered)
        assert_int_not_equal(pthread_cond_timedwait(&sa.cv, &sa.mu, &dl), ETIMEDOUT);
    pthread_mutex_unlock(&sa.mu);
    rm_knob_assign_t a = {"pressure.warning_threshold", "0.65"};
    rm_knob_error_t err;
    assert_int_equal(rm_knobs_set(k, &a, 1, 0, &err), RM_OK);
    assert_int_equal(err.applying, 1);
    rm_knobs_unsubscribe(k, s2);   /* returns at once: its job is queued, not running */
    assert_false(rm_knobs_applying(k, RM_KNOB_PRESSURE_WARNING_THRESHOLD));
    pthread_mutex_lock(&sa.mu);
    sa.release = 1;
    pthread_cond_broadcast(&sa.cv);
    pthread_mutex_unlock(&sa.mu);
    pthread_join(th, NULL);
    assert_int_equal(rm_knobs_wait_applied(k, 30000), RM_OK);
    assert_int_equal(sa.fast_calls, 0);
    assert_int_equal(sa.n_log, 1);
    rm_knobs_unsubscribe(k, s1);
    pthread_cond_destroy(&sa.cv);
    pthread_mutex_destroy(&sa.mu);
}

int
main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_knobs_defs_are_complete_and_defaults_valid),
        T(test_knobs_defaults_match_seed),
        T(test_knobs_lookup_fails_when_unknown),
        T(test_knobs_parse_bytes_with_unit_suffixes),
        T(test_knobs_parse_bytes_rejects_garbage),
        T(test_knobs_parse_double_reports_range),
        T(test_knobs_parse_list_checks_entries_and_order),
        T(test_knobs_parse_bool_enum_and_checks),
        T(test_knobs_num_frames_matches_what_the_pool_accepts),
        T(test_knobs_set_applies_several_together),
        T(test_knobs_set_changes_nothing_when_one_value_bad),
        T(test_knobs_set_validate_only_changes_nothing),
        T(test_knobs_set_rejects_unknown_and_duplicate_knobs),
        T(test_knobs_set_rejects_threshold_order_violation),
        T(test_knobs_set_rejects_pool_and_session_violations),
        T(test_knobs_restart_knob_applies_directly_while_booting),
        T(test_knobs_restart_knob_is_pending_when_started),
        T(test_knobs_set_checks_running_state_when_restart_pending),
        T(test_knobs_subscriber_gets_old_and_new_values_by_prefix),
        T(test_knobs_subscriber_not_applied_for_pending_restart),
        T(test_knobs_veto_rejects_whole_set),
        T(test_knobs_subscribe_rejects_bad_arguments),
        T(test_knobs_persister_gets_runtime_changes_as_ini),
        T(test_knobs_set_changes_nothing_when_persist_fails),
        T(test_knobs_no_persist_flag_skips_persister),
        T(test_knobs_load_persisted_is_kept_by_later_writes),
        T(test_knobs_sources_reset_and_override_warning),
    T(test_knobs_format_ini_all_reads_back),
        T(test_knobs_profile_names_parse),
        T(test_knobs_profile_mission_critical_oltp_values),
        T(test_knobs_profile_development_olap_values),
        T(test_knobs_every_profile_is_valid_from_defaults),
        T(test_knobs_profile_changes_nothing_when_it_violates_a_constraint),
        T(test_knobs_docs_reference_is_up_to_date),
        T(test_knobs_readers_see_whole_commits_while_writer_runs),
        T(test_knobs_set_never_waits_for_another_knobs_slow_apply),
        T(test_knobs_unsubscribe_drops_queued_applies),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
