/*
 * memcore's binding of the pressure monitor to the knob registry
 * (rustymem/pressure_knobs.h), shared by rustymemd and the SQLite host:
 * the configuration built from the registry, a live change followed, a
 * combination the monitor rejects vetoed with nothing changed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "rustymem/knobs.h"
#include "rustymem/pressure.h"
#include "rustymem/pressure_knobs.h"

typedef struct {
    rm_knobs_t *k;
    rm_pressure_t *p;
    rm_pressure_knobs_t *b;
} fix_t;

static int
setup(void **state)
{
    static fix_t f;
    memset(&f, 0, sizeof f);
    assert_int_equal(rm_knobs_create(&f.k), RM_OK);
    rm_knobs_mark_started(f.k);
    rm_pressure_config_t cfg;
    rm_pressure_config_default(&cfg);
    rm_pressure_config_from_knobs(f.k, &cfg);
    assert_int_equal(rm_pressure_create(&cfg, NULL, &f.p), RM_OK);
    assert_int_equal(rm_pressure_follow_knobs(f.p, f.k, &f.b), RM_OK);
    *state = &f;
    return 0;
}

static int
teardown(void **state)
{
    fix_t *f = *state;
    rm_pressure_unfollow_knobs(f->b);
    rm_pressure_destroy(f->p);
    rm_knobs_destroy(f->k);
    return 0;
}

static rm_status_t
set1(rm_knobs_t *k, const char *name, const char *value, rm_knob_error_t *err)
{
    rm_knob_assign_t a = {name, value};
    return rm_knobs_set(k, &a, 1, 0, err);
}

/* the registry's defaults are the monitor's configuration: warning 0.7 … horizons 30,60,120 (docs/knobs.md) */
static void
test_pressure_knobs_config_is_the_registry_defaults(void **state)
{
    fix_t *f = *state;
    rm_pressure_config_t cfg;
    rm_pressure_get_config(f->p, &cfg);
    assert_float_equal(cfg.warning_threshold, rm_knobs_get_double(f->k, RM_KNOB_PRESSURE_WARNING_THRESHOLD), 1e-12);
    assert_float_equal(cfg.critical_threshold, rm_knobs_get_double(f->k, RM_KNOB_PRESSURE_CRITICAL_THRESHOLD), 1e-12);
    assert_int_equal(cfg.n_horizons, 3);
    assert_int_equal(cfg.horizons_sec[0], 30);
    assert_int_equal(cfg.horizons_sec[2], 120);
    /* reclaim aims just under the warning line */
    assert_float_equal(cfg.target_fraction, cfg.warning_threshold - cfg.hysteresis / 2, 1e-12);
}

static void
test_pressure_knobs_live_change_is_followed(void **state)
{
    fix_t *f = *state;
    rm_knob_error_t err;
    assert_int_equal(set1(f->k, "pressure.forecast_horizons", "20,40,80,160", &err), RM_OK);
    assert_int_equal(set1(f->k, "memory.budget_bytes", "1073741824", &err), RM_OK);
    rm_pressure_config_t cfg;
    rm_pressure_get_config(f->p, &cfg);
    assert_int_equal(cfg.n_horizons, 4);
    assert_int_equal(cfg.horizons_sec[3], 160);
    assert_int_equal(cfg.budget_bytes, 1073741824ull);
}

/* Values the registry's own checks accept but the monitor would refuse are vetoed, naming why, and
 * nothing moves: a warning threshold at the hysteresis (0.05: the monitor needs hysteresis < warning),
 * five horizons (the knob takes up to 8, the monitor keeps RM_PRESSURE_HORIZONS_MAX = 4). */
static void
test_pressure_knobs_rejected_combination_is_vetoed_and_changes_nothing(void **state)
{
    fix_t *f = *state;
    rm_pressure_config_t before, after;
    rm_pressure_get_config(f->p, &before);
    rm_knob_error_t err;
    memset(&err, 0, sizeof err);
    assert_int_equal(set1(f->k, "pressure.warning_threshold", "0.05", &err), RM_EINVAL);
    assert_non_null(strstr(err.message, "pressure monitor rejects"));
    memset(&err, 0, sizeof err);
    assert_int_equal(set1(f->k, "pressure.forecast_horizons", "10,20,30,40,50", &err), RM_EINVAL);
    assert_non_null(strstr(err.message, "at most 4 horizons"));
    rm_pressure_get_config(f->p, &after);
    assert_float_equal(after.warning_threshold, before.warning_threshold, 1e-12);
    assert_int_equal(after.n_horizons, before.n_horizons);
    assert_float_equal(rm_knobs_get_double(f->k, RM_KNOB_PRESSURE_WARNING_THRESHOLD), before.warning_threshold,
                       1e-12);
}

static void
test_pressure_knobs_bad_arguments(void **state)
{
    fix_t *f = *state;
    rm_pressure_knobs_t *b = (rm_pressure_knobs_t *)0x1;
    assert_int_equal(rm_pressure_follow_knobs(NULL, f->k, &b), RM_EINVAL);
    assert_int_equal(rm_pressure_follow_knobs(f->p, NULL, &b), RM_EINVAL);
    assert_int_equal(rm_pressure_follow_knobs(f->p, f->k, NULL), RM_EINVAL);
    assert_ptr_equal(b, (rm_pressure_knobs_t *)0x1);
    rm_pressure_unfollow_knobs(NULL);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_pressure_knobs_config_is_the_registry_defaults, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pressure_knobs_live_change_is_followed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pressure_knobs_rejected_combination_is_vetoed_and_changes_nothing,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_pressure_knobs_bad_arguments, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
