/*
 * test_pressure_forecast.c — the forecaster of pressure_forecast.c on its
 * own: the level map, least squares, the linear model's fit, prediction,
 * confidence and crossing probability, and the per-sample forecast step
 * (horizons, persisted asks, the warning's gates and hysteresis, time to
 * critical). Series are exact lines so every expectation is computed by hand
 * in the comments; the integrated behaviour is in test_pressure.c.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "pressure_internal.h"
#include "rustymem/pressure.h"

#define EPS 1e-9

static void
assert_near(double got, double want, double eps)
{
    if (!(got >= want - eps && got <= want + eps))
        fail_msg("got %.12g, want %.12g ± %g", got, want, eps);
}

static void
test_pressure_forecast_level_of_follows_thresholds(void **state)
{
    rm_pressure_config_t c;
    rm_pressure_config_default(&c);   /* 0.70 / 0.80 / 0.90 / 0.95 */
    assert_int_equal(rm__pressure_level_of(&c, 0.0), RM_PRESSURE_MONITOR);
    assert_int_equal(rm__pressure_level_of(&c, 0.6999), RM_PRESSURE_MONITOR);
    assert_int_equal(rm__pressure_level_of(&c, 0.70), RM_PRESSURE_GENTLE);
    assert_int_equal(rm__pressure_level_of(&c, 0.7999), RM_PRESSURE_GENTLE);
    assert_int_equal(rm__pressure_level_of(&c, 0.80), RM_PRESSURE_AGGRESSIVE);
    assert_int_equal(rm__pressure_level_of(&c, 0.90), RM_PRESSURE_EMERGENCY);
    assert_int_equal(rm__pressure_level_of(&c, 0.95), RM_PRESSURE_OOM_PREVENTION);
    assert_int_equal(rm__pressure_level_of(&c, 1.5), RM_PRESSURE_OOM_PREVENTION);
}

static void
test_pressure_forecast_linfit_of_a_line_and_a_constant(void **state)
{
    /* y = 0.7 + 0.2 t at t = -3..0: slope 0.2, intercept 0.7, R² 1 */
    const double t[] = {-3, -2, -1, 0}, y[] = {0.1, 0.3, 0.5, 0.7};
    double slope, icpt, r2;
    rm__pressure_linfit(t, y, 4, &slope, &icpt, &r2);
    assert_near(slope, 0.2, EPS);
    assert_near(icpt, 0.7, EPS);
    assert_near(r2, 1.0, EPS);
    /* constant: slope 0, intercept the constant, R² 0 by definition */
    const double k[] = {0.4, 0.4, 0.4, 0.4};
    rm__pressure_linfit(t, k, 4, &slope, &icpt, &r2);
    assert_near(slope, 0.0, EPS);
    assert_near(icpt, 0.4, EPS);
    assert_near(r2, 0.0, EPS);
    /* fewer than two samples: zeros */
    rm__pressure_linfit(t, y, 1, &slope, &icpt, &r2);
    assert_near(slope, 0.0, 0);
    assert_near(icpt, 0.0, 0);
    assert_near(r2, 0.0, 0);
}

/* y = level + slope·t at t = -(n-1)..0 */
static void
line(double *t, double *y, size_t n, double level, double slope)
{
    for (size_t i = 0; i < n; i++) {
        t[i] = (double)i - (double)(n - 1);
        y[i] = level + slope * t[i];
    }
}

static void
test_pressure_forecast_linear_fit_of_an_exact_line(void **state)
{
    double t[10], y[10];
    double *scratch = calloc(rm__pressure_scratch_len(10), sizeof *scratch);
    assert_non_null(scratch);
    line(t, y, 10, 0.5, 0.01);
    rm__fc_fit_t f;
    rm__pressure_fit(RM_FORECAST_LINEAR, t, y, 10, scratch, &f);
    assert_true(f.ok);
    assert_near(f.level, 0.5, EPS);
    assert_near(f.slope, 0.01, EPS);
    assert_near(f.sigma, 0.0, 1e-9);
    assert_near(f.n, 10, 0);
    assert_near(f.tbar, -4.5, EPS);              /* mean of -9..0 */
    assert_near(f.sxx, 82.5, EPS);               /* Σ (t + 4.5)² = 2·(0.25+2.25+6.25+12.25+20.25) */
    assert_near(rm__pressure_predict(&f, 30), 0.8, EPS);   /* 0.5 + 0.01·30 */
    /* no residual: the standard error is floored at 1e-4, so at ±0.05
     * confidence is erf(0.05 / (1e-4·√2)) = 1 and a crossing 0.01 below the
     * prediction is certain, one 0.01 above impossible */
    assert_near(rm__pressure_confidence(&f, 30, 0.05), 1.0, EPS);
    assert_near(rm__pressure_prob_above(&f, 30, 0.79), 1.0, EPS);
    assert_near(rm__pressure_prob_above(&f, 30, 0.81), 0.0, EPS);
    /* a falling line predicts no less than 0 */
    line(t, y, 10, 0.1, -0.01);
    rm__pressure_fit(RM_FORECAST_LINEAR, t, y, 10, scratch, &f);
    assert_near(rm__pressure_predict(&f, 30), 0.0, 0);   /* 0.1 − 0.3 → 0 */
    free(scratch);
}

static void
test_pressure_forecast_short_history_earns_proportional_trust(void **state)
{
    double t[5], y[5];
    double *scratch = calloc(rm__pressure_scratch_len(5), sizeof *scratch);
    assert_non_null(scratch);
    line(t, y, 5, 0.5, 0.01);
    rm__fc_fit_t f;
    rm__pressure_fit(RM_FORECAST_LINEAR, t, y, 5, scratch, &f);
    assert_true(f.ok);
    /* n = 5 < 10: confidence and probability are scaled by n/10 = 0.5 */
    assert_near(rm__pressure_confidence(&f, 30, 0.05), 0.5, EPS);
    assert_near(rm__pressure_prob_above(&f, 30, 0.79), 0.5, EPS);
    /* two samples: no fit; the level is the newest sample, no slope, no trust */
    rm__pressure_fit(RM_FORECAST_LINEAR, t + 3, y + 3, 2, scratch, &f);
    assert_false(f.ok);
    assert_near(f.level, 0.5, EPS);
    assert_near(f.slope, 0.0, 0);
    assert_near(f.n, 2, 0);
    assert_near(rm__pressure_confidence(&f, 30, 0.05), 0.0, 0);
    assert_near(rm__pressure_prob_above(&f, 30, 0.1), 0.0, 0);
    free(scratch);
}

/* ---- the forecast step ------------------------------------------------------ */

typedef struct step_fixture {
    rm_pressure_config_t cfg;
    rm__fc_state_t st;
    double t[RM_PRESSURE_HISTORY_MAX], y[RM_PRESSURE_HISTORY_MAX];
    double leak_t[RM__PRESSURE_LEAK_BUCKETS], leak_y[RM__PRESSURE_LEAK_BUCKETS];
    double *scratch;
    rm__fc_input_t in;
} step_fixture_t;

/* A history of n samples, one a second, usage = level + slope·t (t ≤ 0),
 * nothing reclaimable, budget 1 000 000 bytes, linear model, no leak buckets. */
static step_fixture_t *
mk_step(size_t n, double level, double slope)
{
    step_fixture_t *f = calloc(1, sizeof *f);
    assert_non_null(f);
    rm_pressure_config_default(&f->cfg);
    f->cfg.model = RM_FORECAST_LINEAR;
    f->scratch = calloc(rm__pressure_scratch_len(RM_PRESSURE_HISTORY_MAX), sizeof *f->scratch);
    assert_non_null(f->scratch);
    line(f->t, f->y, n, level, slope);
    f->in = (rm__fc_input_t){
        .cfg = &f->cfg,
        .t_ns = 1000ull * 1000000000ull,
        .used_bytes = (uint64_t)(level * 1e6 + 0.5),
        .budget_bytes = 1000000,
        .reclaimable_bytes = 0,
        .fit_t = f->t, .fit_y = f->y, .fit_r = f->y,
        .n = n,
        .leak_t = f->leak_t, .leak_y = f->leak_y,
        .scratch = f->scratch,
    };
    return f;
}

static void
rm_step(step_fixture_t *f)
{
    free(f->scratch);
    free(f);
}

static void
test_pressure_forecast_step_first_sample_predicts_the_present(void **state)
{
    step_fixture_t *f = mk_step(1, 0.5, 0);
    rm_pressure_forecast_t fc;
    rm__fc_asks_t asks;
    rm__pressure_forecast_step(&f->st, &f->in, &fc, &asks);
    assert_int_equal(fc.samples, 1);
    assert_int_equal(fc.used_bytes, 500000);
    assert_int_equal(fc.budget_bytes, 1000000);
    assert_near(fc.usage, 0.5, EPS);
    assert_near(fc.slope_per_sec, 0, 0);
    assert_int_equal(fc.n_horizons, 3);
    static const uint32_t hz[3] = {30, 60, 120};
    for (int i = 0; i < 3; i++) {
        assert_int_equal(fc.horizons[i].horizon_sec, hz[i]);
        assert_near(fc.horizons[i].predicted_usage, 0.5, EPS);   /* one sample: no trend */
        assert_int_equal(fc.horizons[i].predicted_bytes, 500000);
        assert_near(fc.horizons[i].confidence, 0, 0);
        assert_int_equal(fc.horizons[i].predicted_level, RM_PRESSURE_MONITOR);
    }
    assert_int_equal(fc.current_level, RM_PRESSURE_MONITOR);
    assert_int_equal(fc.predicted_level, RM_PRESSURE_MONITOR);
    assert_false(fc.warning);
    assert_int_equal(fc.warning_horizon_sec, 0);
    assert_null(fc.warning_view);
    assert_near(fc.time_to_critical_sec, -1, 0);   /* no slope: never */
    assert_int_equal(asks.hold, RM_PRESSURE_MONITOR);
    assert_int_equal(asks.trig_h, -1);
    /* state: no run, one sample without a warning, the maximum seen */
    for (int l = 0; l < RM_PRESSURE_LEVELS; l++)
        assert_int_equal(f->st.fc_run[l], 0);
    assert_int_equal(f->st.warn_off_run, 1);
    assert_near(f->st.run_max, 0.5, EPS);
    rm_step(f);
}

static void
test_pressure_forecast_step_persists_asks_before_raising_the_level(void **state)
{
    /* 10 samples of usage 0.60 + 0.004 t: at 30 s 0.72 (Gentle), at 60 s
     * 0.84 (Aggressive), at 120 s 1.08 (OOM prevention). Asked: Gentle − 0,
     * Aggressive − 1 = Gentle, OOM − 2 = Aggressive: raw Aggressive. Held
     * (+0.05): 0.77 Gentle, 0.89 Aggressive − 1, 1.13 OOM − 2: Aggressive. */
    step_fixture_t *f = mk_step(10, 0.60, 0.004);
    f->cfg.forecast_persist_samples = 3;
    rm_pressure_forecast_t fc;
    rm__fc_asks_t asks;
    for (int k = 1; k <= 3; k++) {
        rm__pressure_forecast_step(&f->st, &f->in, &fc, &asks);
        assert_near(fc.horizons[0].predicted_usage, 0.72, EPS);
        assert_near(fc.horizons[1].predicted_usage, 0.84, EPS);
        assert_near(fc.horizons[2].predicted_usage, 1.08, EPS);
        assert_int_equal(fc.horizons[0].predicted_level, RM_PRESSURE_GENTLE);
        assert_int_equal(fc.horizons[1].predicted_level, RM_PRESSURE_AGGRESSIVE);
        assert_int_equal(fc.horizons[2].predicted_level, RM_PRESSURE_OOM_PREVENTION);
        assert_near(fc.horizons[2].confidence, 1.0, EPS);
        assert_int_equal(asks.hold, RM_PRESSURE_AGGRESSIVE);
        assert_int_equal(f->st.fc_run[RM_PRESSURE_GENTLE], (uint32_t)k);
        assert_int_equal(f->st.fc_run[RM_PRESSURE_AGGRESSIVE], (uint32_t)k);
        assert_int_equal(f->st.fc_run[RM_PRESSURE_EMERGENCY], 0);
        if (k < 3) {
            assert_int_equal(fc.predicted_level, RM_PRESSURE_MONITOR);
            assert_int_equal(asks.trig_h, -1);
        }
    }
    /* the third sample in a row persists it; the shortest horizon asking for
     * Aggressive is 120 s (index 2) */
    assert_int_equal(fc.predicted_level, RM_PRESSURE_AGGRESSIVE);
    assert_int_equal(asks.trig_h, 2);
    assert_int_equal(fc.current_level, RM_PRESSURE_MONITOR);
    /* time to critical: (0.90 − 0.60) / 0.004 = 75 s */
    assert_near(fc.time_to_critical_sec, 75.0, 1e-6);
    assert_near(fc.time_to_critical_confidence, 1.0, EPS);
    /* a sample without the asks resets the runs */
    f->cfg.act_on_forecast = 0;
    rm__pressure_forecast_step(&f->st, &f->in, &fc, &asks);
    assert_int_equal(f->st.fc_run[RM_PRESSURE_GENTLE], 0);
    assert_int_equal(fc.predicted_level, RM_PRESSURE_MONITOR);
    assert_int_equal(asks.hold, RM_PRESSURE_MONITOR);
    rm_step(f);
}

static void
test_pressure_forecast_step_warning_needs_history_and_persistence(void **state)
{
    /* the same trend crosses critical (0.90) within 120 s with probability 1
     * (prediction 1.08, error floored at 1e-4): a raw warning in the window
     * view. With 10 samples gate 1 (half of history_size 60) drops it. */
    step_fixture_t *f = mk_step(10, 0.60, 0.004);
    rm_pressure_forecast_t fc;
    rm__fc_asks_t asks;
    rm__pressure_forecast_step(&f->st, &f->in, &fc, &asks);
    assert_false(fc.warning);
    assert_near(fc.warning_probability, 1.0, EPS);
    assert_int_equal(fc.warning_horizon_sec, 0);
    assert_int_equal(f->st.warn_run, 0);
    rm_step(f);

    /* 20 samples with history_size 20: gate 1 passes (n ≥ 10), gate 2 (the
     * newest 10 rise as fast as all 20) and gate 3 (no collections seen)
     * too. warning_persist_samples 2: raised on the second raw warning. */
    f = mk_step(20, 0.60, 0.004);
    f->cfg.history_size = 20;
    f->cfg.warning_persist_samples = 2;
    rm__pressure_forecast_step(&f->st, &f->in, &fc, &asks);
    assert_int_equal(f->st.warn_run, 1);
    assert_false(fc.warning);
    assert_int_equal(fc.warning_horizon_sec, 0);
    rm__pressure_forecast_step(&f->st, &f->in, &fc, &asks);
    assert_int_equal(f->st.warn_run, 2);
    assert_true(fc.warning);
    assert_int_equal(fc.warning_horizon_sec, 120);   /* 30 s: 0.72, 60 s: 0.84 stay below */
    assert_string_equal(fc.warning_view, "window");
    assert_near(fc.warning_probability, 1.0, EPS);
    /* at critical the warning has done its job: lowered at once */
    line(f->t, f->y, 20, 0.92, 0.004);
    f->in.used_bytes = 920000;
    rm__pressure_forecast_step(&f->st, &f->in, &fc, &asks);
    assert_false(fc.warning);
    assert_null(fc.warning_view);
    assert_near(fc.time_to_critical_sec, 0, 0);
    assert_near(fc.time_to_critical_confidence, 1, 0);
    rm_step(f);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pressure_forecast_level_of_follows_thresholds),
        cmocka_unit_test(test_pressure_forecast_linfit_of_a_line_and_a_constant),
        cmocka_unit_test(test_pressure_forecast_linear_fit_of_an_exact_line),
        cmocka_unit_test(test_pressure_forecast_short_history_earns_proportional_trust),
        cmocka_unit_test(test_pressure_forecast_step_first_sample_predicts_the_present),
        cmocka_unit_test(test_pressure_forecast_step_persists_asks_before_raising_the_level),
        cmocka_unit_test(test_pressure_forecast_step_warning_needs_history_and_persistence),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
