/*
 * test_pressure.c — the pressure monitor: configuration and profiles, the
 * forecasting models, levels and hysteresis, the graduated responder, the
 * event log with cursors, alerts, rm_pressure_tick over recorded cgroupfs
 * files, and the sampler thread. Time is simulated (rm_pressure_feed).
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "pressure_internal.h"
#include "rustymem/knobs.h"
#include "rustymem/pressure.h"
#include "rustymem/stats.h"

#define GIB (1ull << 30)
#define SEC 1000000000ull

static rm_status_t
feed(rm_pressure_t *p, uint64_t t_sec, double usage)
{
    rm_pressure_sample_t s;
    memset(&s, 0, sizeof s);
    s.t_ns = t_sec * SEC;
    s.used_bytes = (uint64_t)(usage * (double)GIB);
    s.budget_bytes = GIB;
    return rm_pressure_feed(p, &s);
}

static rm_pressure_t *
make(const rm_pressure_config_t *c)
{
    rm_pressure_t *p = NULL;
    assert_int_equal(rm_pressure_create(c, NULL, &p), RM_OK);
    return p;
}

static rm_pressure_forecast_t
forecast(rm_pressure_t *p)
{
    rm_pressure_forecast_t fc;
    rm_pressure_get_forecast(p, &fc);
    return fc;
}

/* ---- configuration ------------------------------------------------------ */

static void
test_pressure_default_config_is_seed_early_warning_config(void **state)
{
    (void)state;
    rm_pressure_config_t c;
    rm_pressure_config_default(&c);
    assert_true(c.warning_threshold == 0.70 && c.high_pressure_threshold == 0.80);
    assert_true(c.critical_threshold == 0.90 && c.emergency_threshold == 0.95);
    assert_int_equal(c.history_size, 60);
    assert_int_equal(c.n_horizons, 3);
    assert_int_equal(c.horizons_sec[0], 30);
    assert_int_equal(c.horizons_sec[1], 60);
    assert_int_equal(c.horizons_sec[2], 120);
    assert_true(c.min_confidence == 0.7);
    assert_int_equal(c.budget_bytes, 0);
    assert_int_equal(rm_pressure_config_validate(&c), RM_OK);
}

static void
test_pressure_profiles_follow_seed_table(void **state)
{
    (void)state;
    rm_pressure_config_t c;
    assert_int_equal(rm_pressure_config_profile(RM_PRESSURE_PROFILE_DEVELOPMENT, &c), RM_OK);
    assert_true(c.warning_threshold == 0.80 && c.critical_threshold == 0.95);
    assert_int_equal(rm_pressure_config_validate(&c), RM_OK);
    assert_int_equal(rm_pressure_config_profile(RM_PRESSURE_PROFILE_PRODUCTION, &c), RM_OK);
    assert_true(c.warning_threshold == 0.70 && c.critical_threshold == 0.90);
    assert_int_equal(rm_pressure_config_profile(RM_PRESSURE_PROFILE_MISSION_CRITICAL, &c), RM_OK);
    assert_true(c.warning_threshold == 0.60 && c.critical_threshold == 0.85);
    assert_int_equal(c.history_size, 120);
    assert_int_equal(rm_pressure_config_validate(&c), RM_OK);
    assert_int_equal(rm_pressure_config_profile((rm_pressure_profile_t)9, &c), RM_EINVAL);
}

/* One meaning per profile name: memcore's pressure profiles and the knob
 * registry's environment profiles (what an agent applies) give the same
 * thresholds and history. */
static void
test_pressure_profiles_match_knob_environment_profiles(void **state)
{
    (void)state;
    static const struct {
        rm_pressure_profile_t p;
        rm_knobs_environment_t e;
    } pairs[] = {
        {RM_PRESSURE_PROFILE_DEVELOPMENT, RM_ENV_DEVELOPMENT},
        {RM_PRESSURE_PROFILE_PRODUCTION, RM_ENV_PRODUCTION},
        {RM_PRESSURE_PROFILE_MISSION_CRITICAL, RM_ENV_MISSION_CRITICAL},
    };
    for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++) {
        rm_pressure_config_t c;
        assert_int_equal(rm_pressure_config_profile(pairs[i].p, &c), RM_OK);
        size_t n = 0, seen = 0;
        const rm_knobs_profile_entry_t *t = rm_knobs_environment_table(pairs[i].e, &n);
        assert_non_null(t);
        for (size_t j = 0; j < n; j++) {
            double want;
            switch (t[j].id) {
            case RM_KNOB_PRESSURE_WARNING_THRESHOLD: want = c.warning_threshold; break;
            case RM_KNOB_PRESSURE_HIGH_PRESSURE_THRESHOLD: want = c.high_pressure_threshold; break;
            case RM_KNOB_PRESSURE_CRITICAL_THRESHOLD: want = c.critical_threshold; break;
            case RM_KNOB_PRESSURE_EMERGENCY_THRESHOLD: want = c.emergency_threshold; break;
            case RM_KNOB_PRESSURE_HISTORY_SIZE: want = c.history_size; break;
            default: continue;
            }
            seen++;
            if (fabs(strtod(t[j].value, NULL) - want) > 1e-9)
                fail_msg("profile %zu knob %d: knob table %s, pressure profile %g", i, (int)t[j].id, t[j].value,
                         want);
        }
        assert_int_equal(seen, 5);
    }
}

static void
test_pressure_profile_from_name(void **state)
{
    (void)state;
    rm_pressure_profile_t pr;
    assert_int_equal(rm_pressure_profile_from_name("mission_critical", &pr), RM_OK);
    assert_int_equal(pr, RM_PRESSURE_PROFILE_MISSION_CRITICAL);
    assert_int_equal(rm_pressure_profile_from_name("development", &pr), RM_OK);
    assert_int_equal(pr, RM_PRESSURE_PROFILE_DEVELOPMENT);
    assert_int_equal(rm_pressure_profile_from_name("staging", &pr), RM_ENOENT);
}

static void
test_pressure_create_rejects_unordered_thresholds(void **state)
{
    (void)state;
    rm_pressure_config_t c;
    rm_pressure_config_default(&c);
    c.high_pressure_threshold = 0.65;
    rm_pressure_t *p = (rm_pressure_t *)0x1;
    assert_int_equal(rm_pressure_create(&c, NULL, &p), RM_EINVAL);
    assert_ptr_equal(p, (rm_pressure_t *)0x1);   /* untouched */
    rm_pressure_config_default(&c);
    c.horizons_sec[1] = 20;   /* not increasing */
    assert_int_equal(rm_pressure_config_validate(&c), RM_EINVAL);
}

static void
test_pressure_live_setters_validate_and_keep_config_on_error(void **state)
{
    (void)state;
    rm_pressure_t *p = make(NULL);
    assert_int_equal(rm_pressure_set_thresholds(p, 0.5, 0.6, 0.7, 0.8), RM_OK);
    assert_int_equal(rm_pressure_set_thresholds(p, 0.9, 0.6, 0.7, 0.8), RM_EINVAL);
    assert_int_equal(rm_pressure_set_min_confidence(p, 1.5), RM_EINVAL);
    uint32_t hz[2] = {10, 40};
    assert_int_equal(rm_pressure_set_horizons(p, hz, 2), RM_OK);
    assert_int_equal(rm_pressure_set_budget_bytes(p, 123456789), RM_OK);
    rm_pressure_config_t c;
    rm_pressure_get_config(p, &c);
    assert_true(c.warning_threshold == 0.5 && c.emergency_threshold == 0.8);
    assert_true(c.min_confidence == 0.7);
    assert_int_equal(c.n_horizons, 2);
    assert_int_equal(c.horizons_sec[1], 40);
    assert_int_equal(c.budget_bytes, 123456789);
    assert_true(c.target_fraction < c.warning_threshold);
    rm_pressure_destroy(p);
}

/* ---- forecasting models -------------------------------------------------- */

static void
test_pressure_models_recover_a_clean_trend(void **state)
{
    (void)state;
    double t[60], y[60], scratch[4096];
    for (int i = 0; i < 60; i++) {
        t[i] = i - 59;
        y[i] = 0.5 + 0.002 * t[i];
    }
    for (int m = RM_FORECAST_LINEAR; m <= RM_FORECAST_ENSEMBLE; m++) {
        rm__fc_fit_t f;
        rm__pressure_fit((rm_forecast_model_t)m, t, y, 60, scratch, &f);
        assert_true(f.ok);
        assert_true(fabs(f.slope - 0.002) < 2e-4);
        assert_true(fabs(rm__pressure_predict(&f, 60) - 0.62) < 0.01);
        assert_true(rm__pressure_confidence(&f, 60, 0.05) > 0.95);
    }
}

static void
test_pressure_theil_sen_ignores_outliers(void **state)
{
    (void)state;
    double t[60], y[60], scratch[4096];
    for (int i = 0; i < 60; i++) {
        t[i] = i - 59;
        y[i] = 0.4 + 0.001 * t[i];
    }
    y[50] = 0.95;   /* one wild sample */
    y[55] = 0.05;
    rm__fc_fit_t ts, lin;
    rm__pressure_fit(RM_FORECAST_THEIL_SEN, t, y, 60, scratch, &ts);
    rm__pressure_fit(RM_FORECAST_LINEAR, t, y, 60, scratch, &lin);
    assert_true(fabs(ts.slope - 0.001) < 1e-4);
    assert_true(fabs(ts.level - 0.4) < 0.005);
    assert_true(fabs(lin.slope - 0.001) > fabs(ts.slope - 0.001));
}

static void
test_pressure_confidence_falls_with_noise_and_horizon(void **state)
{
    (void)state;
    double t[60], y[60], scratch[4096];
    unsigned seed = 7;
    for (int i = 0; i < 60; i++) {
        t[i] = i - 59;
        seed = seed * 1103515245u + 12345u;
        y[i] = 0.5 + 0.06 * ((double)(seed >> 16 & 0x7fff) / 32768.0 - 0.5);
    }
    rm__fc_fit_t f;
    rm__pressure_fit(RM_FORECAST_LINEAR, t, y, 60, scratch, &f);
    double c30 = rm__pressure_confidence(&f, 30, 0.05), c120 = rm__pressure_confidence(&f, 120, 0.05);
    assert_true(c30 < 0.999);
    assert_true(c120 < c30);
    rm__fc_fit_t few;
    rm__pressure_fit(RM_FORECAST_LINEAR, t + 58, y + 58, 2, scratch, &few);
    assert_false(few.ok);
    assert_true(rm__pressure_confidence(&few, 30, 0.05) == 0.0);
}

static void
test_pressure_median_handles_even_and_odd(void **state)
{
    (void)state;
    double a[] = {5, 1, 3}, b[] = {4, 1, 3, 2};
    assert_true(rm__pressure_median(a, 3) == 3.0);
    assert_true(rm__pressure_median(b, 4) == 2.5);
    assert_true(rm__pressure_median(b, 0) == 0.0);
}

/* ---- sampling, forecast, levels ----------------------------------------- */

static void
test_pressure_feed_without_budget_is_enoent_and_state_unchanged(void **state)
{
    (void)state;
    rm_pressure_t *p = make(NULL);
    rm_pressure_sample_t s;
    memset(&s, 0, sizeof s);
    s.t_ns = SEC;
    s.used_bytes = 100;
    assert_int_equal(rm_pressure_feed(p, &s), RM_ENOENT);
    rm_pressure_stats_t st;
    rm_pressure_get_stats(p, &st);
    assert_int_equal(st.samples, 0);
    assert_int_equal(st.samples_dropped, 1);
    assert_int_equal(forecast(p).t_ns, 0);
    rm_pressure_destroy(p);
}

static void
test_pressure_feed_rejects_time_going_backwards(void **state)
{
    (void)state;
    rm_pressure_t *p = make(NULL);
    assert_int_equal(feed(p, 10, 0.3), RM_OK);
    assert_int_equal(feed(p, 9, 0.3), RM_EINVAL);
    assert_int_equal(forecast(p).t_ns, 10 * SEC);
    rm_pressure_destroy(p);
}

static void
test_pressure_ramp_predicts_horizons_and_time_to_critical(void **state)
{
    (void)state;
    rm_pressure_t *p = make(NULL);
    for (int t = 0; t < 60; t++)
        feed(p, (uint64_t)t, 0.30 + 0.002 * t);   /* reaches 0.90 at t = 300 */
    rm_pressure_forecast_t fc = forecast(p);
    assert_int_equal(fc.samples, 60);
    assert_int_equal(fc.n_horizons, 3);
    assert_int_equal(fc.horizons[2].horizon_sec, 120);
    assert_true(fabs(fc.horizons[0].predicted_usage - (0.30 + 0.002 * 89)) < 0.005);
    assert_true(fabs(fc.horizons[2].predicted_usage - (0.30 + 0.002 * 179)) < 0.005);
    assert_true(fc.horizons[2].confidence >= 0.7);
    assert_true(fabs(fc.time_to_critical_sec - 241) < 3);
    assert_int_equal(fc.horizons[2].predicted_level, RM_PRESSURE_MONITOR);   /* 0.658 */
    assert_int_equal(fc.current_level, RM_PRESSURE_MONITOR);
    rm_pressure_destroy(p);
}

static void
test_pressure_flat_series_is_not_approaching(void **state)
{
    (void)state;
    rm_pressure_t *p = make(NULL);
    for (int t = 0; t < 60; t++)
        feed(p, (uint64_t)t, 0.40);
    rm_pressure_forecast_t fc = forecast(p);
    assert_true(fc.time_to_critical_sec == -1);
    assert_int_equal(fc.level, RM_PRESSURE_MONITOR);
    assert_int_equal(fc.warning, 0);
    assert_int_equal(fc.recommended_action, RM_PRESSURE_MONITOR);
    assert_string_equal(rm_pressure_action_name(fc.recommended_action), "None");
    rm_pressure_destroy(p);
}

static void
test_pressure_level_rises_immediately_with_current_trigger(void **state)
{
    (void)state;
    rm_pressure_t *p = make(NULL);
    for (int t = 0; t < 30; t++)
        feed(p, (uint64_t)t, 0.40);
    feed(p, 30, 0.83);
    rm_pressure_forecast_t fc = forecast(p);
    assert_int_equal(fc.level, RM_PRESSURE_AGGRESSIVE);
    assert_int_equal(fc.trigger, RM_TRIGGER_CURRENT);
    assert_string_equal(rm_pressure_action_name(fc.recommended_action), "AggressiveEviction");
    rm_pressure_destroy(p);
}

static void
test_pressure_confident_forecast_raises_level_before_threshold(void **state)
{
    (void)state;
    rm_pressure_t *p = make(NULL);
    /* 0.005/s: at t = 59 usage is 0.595 and reaches 0.90 in ~60 s */
    for (int t = 0; t < 60; t++)
        feed(p, (uint64_t)t, 0.30 + 0.005 * t);
    rm_pressure_forecast_t fc = forecast(p);
    assert_int_equal(fc.current_level, RM_PRESSURE_MONITOR);
    assert_true(fc.level >= RM_PRESSURE_GENTLE);
    assert_int_equal(fc.trigger, RM_TRIGGER_FORECAST);
    assert_int_equal(fc.warning, 1);
    assert_true(fc.warning_horizon_sec == 60 || fc.warning_horizon_sec == 120);
    rm_pressure_destroy(p);
}

static void
test_pressure_regime_start_is_newest_level_shift(void **state)
{
    (void)state;
    double y[40];
    for (int i = 0; i < 40; i++)
        y[i] = i < 15 ? 0.60 : i < 30 ? 0.80 : 0.70;   /* up at 15, down at 30 */
    /* a clean step at s is found at s + 1: the regime starts late by one sample, never early */
    assert_int_equal(rm__pressure_regime_start(y, 40, 0.05), 31);
    assert_int_equal(rm__pressure_regime_start(y, 30, 0.05), 16);
    /* one wild sample is not a shift, nor is a jump seen in the newest sample only */
    for (int i = 0; i < 40; i++)
        y[i] = 0.60;
    y[20] = 0.95;
    y[39] = 0.90;
    assert_int_equal(rm__pressure_regime_start(y, 40, 0.05), 0);
}

static void
test_pressure_warns_soon_after_collection_when_rise_resumes(void **state)
{
    (void)state;
    rm_pressure_t *p = make(NULL);
    /* a slow rise that does not warn, a collection at t = 120, then a rise
     * reaching critical ~85 s later: the warning views fit only the new
     * regime, so the warning comes while the drop is still in the window */
    uint64_t t = 0;
    for (; t < 120; t++)
        feed(p, t, 0.50 + 0.001 * (double)t);
    assert_int_equal(forecast(p).warning, 0);
    for (; t < 145; t++)
        feed(p, t, 0.56 + 0.004 * (double)(t - 120));
    rm_pressure_forecast_t fc = forecast(p);
    assert_true(fc.usage < 0.70);
    assert_int_equal(fc.warning, 1);
    assert_non_null(fc.warning_view);
    rm_pressure_destroy(p);
}

static void
test_pressure_reactive_config_ignores_forecasts(void **state)
{
    (void)state;
    rm_pressure_config_t c;
    rm_pressure_config_default(&c);
    c.act_on_forecast = 0;
    rm_pressure_t *p = make(&c);
    for (int t = 0; t < 60; t++)
        feed(p, (uint64_t)t, 0.30 + 0.005 * t);
    assert_int_equal(forecast(p).level, RM_PRESSURE_MONITOR);
    rm_pressure_destroy(p);
}

static void
test_pressure_steps_down_only_after_hold_below_hysteresis(void **state)
{
    (void)state;
    rm_pressure_t *p = make(NULL);   /* hysteresis 0.05, hold 30 s */
    uint64_t t = 0;
    for (; t < 20; t++)
        feed(p, t, 0.40);
    feed(p, t++, 0.85);
    assert_int_equal(forecast(p).level, RM_PRESSURE_AGGRESSIVE);
    /* 0.77 is below 0.80 but inside the band: stays */
    for (int i = 0; i < 60; i++)
        feed(p, t++, 0.77);
    assert_int_equal(forecast(p).level, RM_PRESSURE_AGGRESSIVE);
    /* 0.50: one step per hold period */
    for (int i = 0; i < 29; i++)
        feed(p, t++, 0.50);
    assert_int_equal(forecast(p).level, RM_PRESSURE_AGGRESSIVE);
    for (int i = 0; i < 3; i++)
        feed(p, t++, 0.50);
    assert_int_equal(forecast(p).level, RM_PRESSURE_GENTLE);
    for (int i = 0; i < 31; i++)
        feed(p, t++, 0.50);
    assert_int_equal(forecast(p).level, RM_PRESSURE_MONITOR);
    rm_pressure_destroy(p);
}

/* ---- responder ---------------------------------------------------------- */

typedef struct fake_comp {
    uint64_t held;                  /* bytes it could free */
    int calls;
    rm_pressure_level_t last_level;
    uint64_t last_target;
    int order;                      /* global call order stamp */
    rm_pressure_level_t notified;
    int notifications;
} fake_comp_t;

static int call_stamp;

static uint64_t
fake_reclaim(void *ctx, rm_pressure_level_t lv, uint64_t target)
{
    fake_comp_t *c = ctx;
    c->calls++;
    c->last_level = lv;
    c->last_target = target;
    c->order = ++call_stamp;
    uint64_t f = target < c->held ? target : c->held;
    c->held -= f;
    return f;
}

static uint64_t
fake_estimate(void *ctx, rm_pressure_level_t lv)
{
    return ((fake_comp_t *)ctx)->held;
}

static void
fake_on_level(void *ctx, rm_pressure_level_t old, rm_pressure_level_t nw)
{
    fake_comp_t *c = ctx;
    c->notified = nw;
    c->notifications++;
}

static void
add(rm_pressure_t *p, const char *name, int prio, rm_pressure_level_t start, fake_comp_t *c,
    rm_pressure_reclaimer_t **out)
{
    rm_pressure_reclaimer_def_t d = {name, prio, start, fake_estimate, fake_reclaim, fake_on_level, c};
    assert_int_equal(rm_pressure_reclaimer_add(p, &d, out), RM_OK);
}

static void
test_pressure_responder_runs_in_priority_order_until_target(void **state)
{
    (void)state;
    rm_pressure_t *p = make(NULL);
    fake_comp_t a = {.held = GIB / 100}, b = {.held = GIB}, c = {.held = GIB};
    call_stamp = 0;
    add(p, "second", 20, RM_PRESSURE_GENTLE, &b, NULL);
    add(p, "first", 10, RM_PRESSURE_GENTLE, &a, NULL);
    add(p, "third", 30, RM_PRESSURE_GENTLE, &c, NULL);
    for (uint64_t t = 0; t < 10; t++)
        feed(p, t, 0.40);
    feed(p, 10, 0.75);   /* Gentle; target = 0.75 − 0.675 of the budget */
    assert_int_equal(a.calls, 1);
    assert_int_equal(b.calls, 1);
    assert_int_equal(c.calls, 0);   /* target met before it */
    assert_true(a.order < b.order);
    assert_int_equal(a.last_level, RM_PRESSURE_GENTLE);
    uint64_t want = (uint64_t)(0.75 * GIB) - (uint64_t)(0.675 * GIB);
    assert_true(a.last_target >= want - 2 && a.last_target <= want + 2);
    assert_int_equal(rm_pressure_reclaimable(p, RM_PRESSURE_GENTLE), a.held + b.held + c.held);
    rm_pressure_stats_t st;
    rm_pressure_get_stats(p, &st);
    assert_int_equal(st.reclaim_calls, 2);
    assert_true(st.bytes_reclaimed_by_level[RM_PRESSURE_GENTLE] >= want - 2);
    rm_pressure_destroy(p);
}

static void
test_pressure_responder_respects_start_level(void **state)
{
    (void)state;
    rm_pressure_t *p = make(NULL);
    fake_comp_t q = {.held = GIB};
    add(p, "kill_queries", 10, RM_PRESSURE_EMERGENCY, &q, NULL);
    for (uint64_t t = 0; t < 10; t++)
        feed(p, t, 0.40);
    feed(p, 10, 0.85);
    assert_int_equal(q.calls, 0);
    feed(p, 11, 0.92);
    assert_int_equal(q.calls, 1);
    assert_int_equal(q.last_level, RM_PRESSURE_EMERGENCY);
    rm_pressure_destroy(p);
}

static void
test_pressure_on_level_told_of_changes_both_ways(void **state)
{
    (void)state;
    rm_pressure_t *p = make(NULL);
    fake_comp_t a = {.held = 0};
    add(p, "admission", 10, RM_PRESSURE_EMERGENCY, &a, NULL);
    uint64_t t = 0;
    for (; t < 10; t++)
        feed(p, t, 0.40);
    feed(p, t++, 0.93);
    assert_int_equal(a.notified, RM_PRESSURE_EMERGENCY);
    for (int i = 0; i < 200; i++)
        feed(p, t++, 0.30);
    assert_int_equal(a.notified, RM_PRESSURE_MONITOR);
    assert_int_equal(a.notifications, 4);   /* up once, down three steps */
    rm_pressure_destroy(p);
}

static void
test_pressure_removed_reclaimer_is_never_called(void **state)
{
    (void)state;
    rm_pressure_t *p = make(NULL);
    fake_comp_t a = {.held = GIB};
    rm_pressure_reclaimer_t *r;
    add(p, "gone", 10, RM_PRESSURE_GENTLE, &a, &r);
    rm_pressure_reclaimer_remove(p, r);
    feed(p, 1, 0.93);
    assert_int_equal(a.calls, 0);
    assert_int_equal(a.notifications, 0);
    rm_pressure_reclaimer_def_t bad = {"x", 1, RM_PRESSURE_MONITOR, NULL, fake_reclaim, NULL, &a};
    assert_int_equal(rm_pressure_reclaimer_add(p, &bad, NULL), RM_EINVAL);
    rm_pressure_stats_t st;
    rm_pressure_get_stats(p, &st);
    assert_int_equal(st.reclaimers, 0);
    rm_pressure_destroy(p);
}

static void
test_pressure_manual_trigger_records_manual_events(void **state)
{
    (void)state;
    rm_pressure_t *p = make(NULL);
    fake_comp_t a = {.held = GIB / 4};
    add(p, "cache", 10, RM_PRESSURE_GENTLE, &a, NULL);
    feed(p, 1, 0.40);
    uint64_t freed = 0, cur = rm_pressure_events_head(p);
    /* Aggressive, usage below the aim: the target is 50 % of the estimate (a min_bytes below it) */
    assert_int_equal(rm_pressure_trigger(p, RM_PRESSURE_AGGRESSIVE, 4096, 2 * SEC, &freed), RM_OK);
    assert_int_equal(freed, GIB / 8);
    rm_pressure_event_t ev[4];
    size_t n;
    rm_pressure_events_read(p, &cur, ev, 4, &n, NULL);
    assert_int_equal(n, 1);
    assert_int_equal(ev[0].kind, RM_EVENT_RECLAIM);
    assert_int_equal(ev[0].trigger, RM_TRIGGER_MANUAL);
    assert_string_equal(ev[0].name, "cache");
    assert_int_equal(ev[0].bytes_reclaimed, GIB / 8);
    assert_int_equal(ev[0].target_bytes, GIB / 8);
    /* the level it ran at, and the responder's level it ran from */
    assert_int_equal(ev[0].level, RM_PRESSURE_AGGRESSIVE);
    assert_int_equal(ev[0].prev_level, RM_PRESSURE_MONITOR);
    assert_int_equal(rm_pressure_trigger(p, RM_PRESSURE_MONITOR, 1, 0, NULL), RM_EINVAL);
    rm_pressure_destroy(p);
}

static void
test_pressure_manual_trigger_target_is_defined_and_never_the_maximum(void **state)
{
    (void)state;
    rm_pressure_t *p = make(NULL);
    fake_comp_t a = {.held = GIB / 2};
    add(p, "cache", 10, RM_PRESSURE_GENTLE, &a, NULL);
    feed(p, 1, 0.60);
    rm_pressure_trigger_result_t r;
    uint64_t cur = rm_pressure_events_head(p);
    /* Gentle with no minimum, usage below the aim: 10 % of what the reclaimers estimate */
    assert_int_equal(rm_pressure_trigger_ex(p, RM_PRESSURE_GENTLE, 0, 2 * SEC, &r), RM_OK);
    assert_int_equal(r.from_level, RM_PRESSURE_MONITOR);
    assert_int_equal(r.level, RM_PRESSURE_GENTLE);
    assert_int_equal(r.target_bytes, GIB / 20);
    assert_int_equal(r.freed_bytes, GIB / 20);
    /* a minimum above everything in use is capped at the bytes in use, never UINT64_MAX */
    assert_int_equal(rm_pressure_trigger_ex(p, RM_PRESSURE_EMERGENCY, UINT64_MAX, 3 * SEC, &r), RM_OK);
    assert_int_equal(r.target_bytes, (uint64_t)(0.60 * (double)GIB));
    rm_pressure_event_t ev[8];
    size_t n;
    rm_pressure_events_read(p, &cur, ev, 8, &n, NULL);
    assert_int_equal(n, 2);
    for (size_t i = 0; i < n; i++) {
        assert_true(ev[i].target_bytes < UINT64_MAX);
        assert_int_equal(ev[i].prev_level, RM_PRESSURE_MONITOR);
    }
    assert_int_equal(ev[1].level, RM_PRESSURE_EMERGENCY);
    /* above the aim the present excess counts (Gentle's 10 % is less) */
    fake_comp_t b = {.held = GIB / 100};
    rm_pressure_t *q = make(NULL);
    add(q, "small", 10, RM_PRESSURE_GENTLE, &b, NULL);
    feed(q, 1, 0.775);
    assert_int_equal(rm_pressure_trigger_ex(q, RM_PRESSURE_GENTLE, 0, 2 * SEC, &r), RM_OK);
    uint64_t want = (uint64_t)(0.775 * GIB) - (uint64_t)(0.675 * GIB);
    assert_true(r.target_bytes >= want - 2 && r.target_bytes <= want + 2);
    assert_int_equal(r.from_level, RM_PRESSURE_GENTLE);   /* 0.775 ≥ warning: the automatic level */
    rm_pressure_destroy(q);
    rm_pressure_destroy(p);
}

static void
test_pressure_manual_trigger_records_event_when_nothing_freed(void **state)
{
    (void)state;
    rm_pressure_t *p = make(NULL);
    feed(p, 1, 0.40);
    uint64_t freed = 1, cur = rm_pressure_events_head(p);
    assert_int_equal(rm_pressure_trigger(p, RM_PRESSURE_EMERGENCY, 0, 7 * SEC, &freed), RM_OK);
    assert_int_equal(freed, 0);
    rm_pressure_event_t ev[4];
    size_t n;
    rm_pressure_events_read(p, &cur, ev, 4, &n, NULL);
    assert_int_equal(n, 1);
    assert_int_equal(ev[0].kind, RM_EVENT_RECLAIM);
    assert_int_equal(ev[0].trigger, RM_TRIGGER_MANUAL);
    assert_int_equal(ev[0].level, RM_PRESSURE_EMERGENCY);
    assert_int_equal(ev[0].prev_level, RM_PRESSURE_MONITOR);
    assert_int_equal(ev[0].t_ns, 7 * SEC);
    assert_int_equal(ev[0].bytes_reclaimed, 0);
    assert_int_equal(ev[0].target_bytes, 0);   /* nothing registered: nothing to aim for */
    assert_string_equal(ev[0].name, "manual");
    /* the automatic level is untouched by the operator's action */
    assert_int_equal(forecast(p).level, RM_PRESSURE_MONITOR);
    rm_pressure_destroy(p);
}

/* ---- stability under a steady load (issue 16 item 6) ---------------------- */

/* A cache the forecaster is told about through its estimate (the buffer pool). */
typedef struct warm_cache {
    double bytes, cap;   /* resident, size limit */
    int calls;
    uint64_t freed;
} warm_cache_t;

static uint64_t
warm_estimate(void *ctx, rm_pressure_level_t lv)
{
    (void)lv;
    return (uint64_t)((warm_cache_t *)ctx)->bytes;
}

static uint64_t
warm_reclaim(void *ctx, rm_pressure_level_t lv, uint64_t target)
{
    warm_cache_t *w = ctx;
    (void)lv;
    double f = (double)target < w->bytes ? (double)target : w->bytes;
    w->bytes -= f;
    w->calls++;
    w->freed += (uint64_t)f;
    return (uint64_t)f;
}

static void
test_pressure_cache_warming_below_warning_keeps_the_level(void **state)
{
    (void)state;
    /* the demo load at 1 GiB: the buffer pool fills at 0.15 %/s up to 30 % of the budget
     * while the rest grows 0.02 %/s from 0.20: usage 0.20 → ~0.56 in 400 s, a confident
     * ramp whose 120 s forecast crossed 0.70 (Gentle) and evicted the pool on main */
    rm_pressure_t *p = make(NULL);
    warm_cache_t w = {0, 0.30 * (double)GIB, 0, 0};
    rm_pressure_reclaimer_def_t d = {"buffer_pool", 50, RM_PRESSURE_GENTLE, warm_estimate, warm_reclaim, NULL, &w};
    assert_int_equal(rm_pressure_reclaimer_add(p, &d, NULL), RM_OK);
    double maxu = 0;
    for (uint64_t t = 0; t < 400; t++) {
        w.bytes += 0.0015 * (double)GIB;
        if (w.bytes > w.cap)
            w.bytes = w.cap;
        double u = 0.20 + 0.0002 * (double)t + w.bytes / (double)GIB;
        maxu = u > maxu ? u : maxu;
        feed(p, t, u);
        assert_int_equal(forecast(p).level, RM_PRESSURE_MONITOR);
    }
    assert_true(maxu > 0.55 && maxu < 0.70);
    assert_int_equal(w.calls, 0);
    rm_pressure_stats_t st;
    rm_pressure_get_stats(p, &st);
    assert_int_equal(st.level_changes, 0);
    assert_int_equal(st.bytes_reclaimed, 0);
    /* the same ramp without the estimate is a confident forecast of Gentle */
    rm_pressure_t *q = make(NULL);
    int raised = 0;
    for (uint64_t t = 0; t < 400 && !raised; t++) {
        double c = 0.0015 * (double)(t + 1);
        double u = 0.20 + 0.0002 * (double)t + (c < 0.30 ? c : 0.30);
        feed(q, t, u);
        raised = forecast(q).level > RM_PRESSURE_MONITOR;
    }
    assert_int_equal(raised, 1);
    assert_int_equal(forecast(q).trigger, RM_TRIGGER_FORECAST);
    rm_pressure_destroy(q);
    rm_pressure_destroy(p);
}

/* Level reached by a steep ramp with persistence `persist`, and the sample it was reached at. */
static uint64_t
first_forecast_escalation(uint32_t persist)
{
    rm_pressure_config_t c;
    rm_pressure_config_default(&c);
    c.forecast_persist_samples = persist;
    rm_pressure_t *p = make(&c);
    uint64_t t;
    for (t = 0; t < 200; t++) {
        feed(p, t, 0.30 + 0.004 * (double)t);
        if (forecast(p).level > RM_PRESSURE_MONITOR)
            break;
    }
    assert_int_equal(forecast(p).trigger, RM_TRIGGER_FORECAST);
    rm_pressure_destroy(p);
    return t;
}

static void
test_pressure_forecast_escalation_needs_persisting_forecasts(void **state)
{
    (void)state;
    uint64_t t1 = first_forecast_escalation(1), t5 = first_forecast_escalation(5);
    /* a steadily confident ramp: the forecast asks on every sample, so 4 samples later */
    assert_int_equal(t5, t1 + 4);
    /* after 4 asking samples the forecast is published as Monitor still */
    rm_pressure_t *p = make(NULL);
    for (uint64_t t = 0; t <= t1 + 3; t++)
        feed(p, t, 0.30 + 0.004 * (double)t);
    assert_int_equal(forecast(p).predicted_level, RM_PRESSURE_MONITOR);
    assert_int_equal(forecast(p).level, RM_PRESSURE_MONITOR);
    assert_true(forecast(p).horizons[2].predicted_level > RM_PRESSURE_MONITOR);
    rm_pressure_config_t c;
    rm_pressure_config_default(&c);
    c.forecast_persist_samples = 0;
    assert_int_equal(rm_pressure_config_validate(&c), RM_EINVAL);
    rm_pressure_destroy(p);
}

static void
test_pressure_forecast_level_dwells_before_stepping_down(void **state)
{
    (void)state;
    rm_pressure_config_t c;
    rm_pressure_config_default(&c);
    c.step_down_hold_sec = 45;
    rm_pressure_t *p = make(&c);
    uint64_t t = 0;
    while (forecast(p).level == RM_PRESSURE_MONITOR && t < 200) {
        feed(p, t, 0.30 + 0.004 * (double)t);
        t++;
    }
    uint64_t entered = t - 1;
    double u = forecast(p).usage;
    assert_true(u < 0.70);   /* forecast-driven, below the warning threshold */
    /* the rise stops: the usage is far below every threshold, yet the level holds for the dwell */
    for (;; t++) {
        feed(p, t, u);
        if (forecast(p).level == RM_PRESSURE_MONITOR)
            break;
        assert_true(t < entered + 200);
    }
    assert_true(t - entered >= 45);
    rm_pressure_stats_t st;
    rm_pressure_get_stats(p, &st);
    assert_int_equal(st.level_changes, 2);
    assert_int_equal(st.escalations, 1);   /* only the way up counts */
    rm_pressure_destroy(p);
}

static void
test_pressure_forecast_reclaim_is_paced_over_the_horizon(void **state)
{
    (void)state;
    rm_pressure_t *p = make(NULL);
    fake_comp_t a = {.held = GIB};
    rm_pressure_reclaimer_def_t d = {"cache", 10, RM_PRESSURE_GENTLE, NULL, fake_reclaim, NULL, &a};
    assert_int_equal(rm_pressure_reclaimer_add(p, &d, NULL), RM_OK);
    uint64_t t = 0;
    while (forecast(p).level == RM_PRESSURE_MONITOR && t < 200) {
        feed(p, t, 0.30 + 0.004 * (double)t);
        t++;
    }
    rm_pressure_forecast_t fc = forecast(p);
    assert_int_equal(fc.trigger, RM_TRIGGER_FORECAST);
    assert_true(fc.usage < 0.675);   /* below the aim: only the forecast asks */
    assert_int_equal(a.calls, 1);
    /* the excess predicted at the triggering horizon, paced over it (1 s of h) */
    int h = -1;
    for (uint32_t i = 0; i < fc.n_horizons && h < 0; i++)
        if (fc.horizons[i].predicted_level >= RM_PRESSURE_GENTLE)
            h = (int)i;
    assert_true(h >= 0);
    double fx = fc.horizons[h].predicted_usage * (double)GIB - 0.675 * (double)GIB;
    double want = fx / (double)fc.horizons[h].horizon_sec;
    assert_true(fx > 0);
    assert_true((double)a.last_target <= want * 1.01 + 1 && (double)a.last_target >= want * 0.99 - 1);
    assert_true((double)a.last_target < fx / 10);
    rm_pressure_destroy(p);
}

/* ---- events ------------------------------------------------------------- */

static void
test_pressure_events_record_level_change_and_reclaim(void **state)
{
    (void)state;
    rm_pressure_t *p = make(NULL);
    fake_comp_t a = {.held = GIB};
    add(p, "bufpool", 10, RM_PRESSURE_GENTLE, &a, NULL);
    for (uint64_t t = 0; t < 10; t++)
        feed(p, t, 0.40);
    feed(p, 10, 0.75);
    uint64_t cur = 0;
    rm_pressure_event_t ev[16];
    size_t n;
    rm_pressure_events_read(p, &cur, ev, 16, &n, NULL);
    int saw_change = 0, saw_reclaim = 0;
    for (size_t i = 0; i < n; i++) {
        if (ev[i].kind == RM_EVENT_LEVEL_CHANGE) {
            saw_change = 1;
            assert_int_equal(ev[i].prev_level, RM_PRESSURE_MONITOR);
            assert_int_equal(ev[i].level, RM_PRESSURE_GENTLE);
            assert_int_equal(ev[i].trigger, RM_TRIGGER_CURRENT);
            assert_int_equal(ev[i].t_ns, 10 * SEC);
        }
        if (ev[i].kind == RM_EVENT_RECLAIM) {
            saw_reclaim = 1;
            assert_string_equal(ev[i].name, "bufpool");
            assert_true(ev[i].bytes_reclaimed > 0);
        }
        if (i)
            assert_int_equal(ev[i].seq, ev[i - 1].seq + 1);
    }
    assert_true(saw_change && saw_reclaim);
    assert_int_equal(cur, rm_pressure_events_head(p));
    rm_pressure_destroy(p);
}

static void
test_pressure_events_cursor_reports_dropped_when_overwritten(void **state)
{
    (void)state;
    rm_pressure_config_t c;
    rm_pressure_config_default(&c);
    c.event_capacity = 16;
    rm_pressure_t *p = make(&c);
    uint64_t t = 0;
    /* alternate usage to make many level changes */
    for (int i = 0; i < 40; i++) {
        feed(p, t, 0.96);
        t += 100;
        for (int k = 0; k < 4; k++, t += 40)
            feed(p, t, 0.10);
    }
    uint64_t head = rm_pressure_events_head(p);
    assert_true(head > 17);
    uint64_t cur = 1, dropped = 0;
    rm_pressure_event_t ev[32];
    size_t n;
    rm_pressure_events_read(p, &cur, ev, 32, &n, &dropped);
    assert_int_equal(n, 16);
    assert_int_equal(dropped, head - 1 - 16);
    assert_int_equal(ev[0].seq, head - 16);
    assert_int_equal(cur, head);
    rm_pressure_events_read(p, &cur, ev, 32, &n, &dropped);
    assert_int_equal(n, 0);
    assert_int_equal(dropped, 0);
    rm_pressure_destroy(p);
}

static void
test_pressure_events_wait_times_out_without_events(void **state)
{
    (void)state;
    rm_pressure_t *p = make(NULL);
    assert_int_equal(rm_pressure_events_wait(p, rm_pressure_events_head(p), 20), RM_ETIMEDOUT);
    feed(p, 1, 0.93);
    assert_int_equal(rm_pressure_events_wait(p, 1, 20), RM_OK);
    rm_pressure_destroy(p);
}

static void *
waker(void *arg)
{
    usleep(20000);
    rm_pressure_events_wake(arg);
    return NULL;
}

static void
test_pressure_events_wait_is_cancelled_by_wake(void **state)
{
    (void)state;
    rm_pressure_t *p = make(NULL);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, waker, p), 0);
    assert_int_equal(rm_pressure_events_wait(p, rm_pressure_events_head(p), 10000), RM_ECANCELED);
    pthread_join(th, NULL);
    rm_pressure_destroy(p);
}

typedef struct cb_log {
    int n, escalations;
} cb_log_t;

static void
on_event(void *ctx, const rm_pressure_event_t *ev)
{
    cb_log_t *l = ctx;
    l->n++;
    if (ev->kind == RM_EVENT_ESCALATE)
        l->escalations++;
}

static void
test_pressure_oom_prevention_escalates_event_alert_and_callback(void **state)
{
    (void)state;
    rm_pressure_t *p = make(NULL);
    cb_log_t log = {0};
    rm_pressure_set_event_callback(p, on_event, &log);
    feed(p, 1, 0.40);
    feed(p, 2, 0.97);
    assert_int_equal(forecast(p).level, RM_PRESSURE_OOM_PREVENTION);
    assert_int_equal(log.escalations, 1);
    assert_true(log.n >= 3);
    rm_pressure_alert_t al[RM_ALERT_KINDS];
    size_t n;
    rm_pressure_alerts_list(p, al, RM_ALERT_KINDS, &n);
    int oom = 0;
    for (size_t i = 0; i < n; i++)
        if (al[i].kind == RM_ALERT_OOM_PREVENTION)
            oom = al[i].severity == RM_ALERT_CRITICAL;
    assert_true(oom);
    rm_pressure_destroy(p);
}

/* ---- alerts ------------------------------------------------------------- */

static const rm_pressure_alert_t *
find_alert(const rm_pressure_alert_t *al, size_t n, rm_alert_kind_t k)
{
    for (size_t i = 0; i < n; i++)
        if (al[i].kind == k)
            return &al[i];
    return NULL;
}

/* Severity of the active alert of kind k, or 0 when it is not active. */
static int
alert_severity(rm_pressure_t *p, rm_alert_kind_t k)
{
    rm_pressure_alert_t al[RM_ALERT_KINDS];
    size_t n;
    rm_pressure_alerts_list(p, al, RM_ALERT_KINDS, &n);
    const rm_pressure_alert_t *a = find_alert(al, n, k);
    return a ? (int)a->severity : 0;
}

static void
test_pressure_usage_alerts_warning_and_critical(void **state)
{
    (void)state;
    rm_pressure_t *p = make(NULL);
    feed(p, 1, 0.60);
    assert_int_equal(alert_severity(p, RM_ALERT_USAGE_HIGH), 0);
    feed(p, 2, 0.72);
    assert_int_equal(alert_severity(p, RM_ALERT_USAGE_HIGH), RM_ALERT_WARNING);
    feed(p, 3, 0.91);
    assert_int_equal(alert_severity(p, RM_ALERT_USAGE_HIGH), RM_ALERT_CRITICAL);
    assert_int_equal(alert_severity(p, RM_ALERT_LOW_FREE), 0);
    feed(p, 4, 0.96);
    assert_int_equal(alert_severity(p, RM_ALERT_LOW_FREE), RM_ALERT_CRITICAL);
    feed(p, 5, 0.30);
    assert_int_equal(alert_severity(p, RM_ALERT_USAGE_HIGH), 0);
    assert_int_equal(alert_severity(p, RM_ALERT_LOW_FREE), 0);
    rm_pressure_destroy(p);
}

/* a sample at 25 % of a 1 GiB budget whose worst component is `component` */
static rm_pressure_sample_t
frag_sample(const char *component)
{
    rm_pressure_sample_t s;
    memset(&s, 0, sizeof s);
    s.used_bytes = GIB / 4;
    s.budget_bytes = GIB;
    snprintf(s.frag_component, sizeof s.frag_component, "%s", component);
    return s;
}

typedef struct frag_step {
    double frag;
    int active;   /* expected after the sample: 0 no alert, 1 warning, 2 critical */
    double threshold;   /* expected alert threshold when active; 0 = not checked */
} frag_step_t;

/* Feed each step's fragmentation in s, one sample a second from t0, and check
 * the fragmentation alert after each. */
static void
check_frag_steps(rm_pressure_t *p, rm_pressure_sample_t s, uint64_t t0, const frag_step_t *steps, size_t n)
{
    rm_pressure_alert_t al[RM_ALERT_KINDS];
    size_t na;
    for (size_t i = 0; i < n; i++) {
        s.t_ns = (t0 + i) * SEC;
        s.fragmentation = steps[i].frag;
        rm_pressure_feed(p, &s);
        int want = steps[i].active == 2 ? RM_ALERT_CRITICAL : steps[i].active ? RM_ALERT_WARNING : 0;
        assert_int_equal(alert_severity(p, RM_ALERT_FRAGMENTATION), want);
        if (want && steps[i].threshold > 0) {
            rm_pressure_alerts_list(p, al, RM_ALERT_KINDS, &na);
            assert_true(find_alert(al, na, RM_ALERT_FRAGMENTATION)->threshold == steps[i].threshold);
        }
    }
}

/* the default config with fragmentation alerts acting on one sample */
static rm_pressure_t *
make_frag_immediate(void)
{
    rm_pressure_config_t c;
    rm_pressure_config_default(&c);
    c.frag_persist_samples = 1;
    return make(&c);
}

static void
test_pressure_fragmentation_alerts_name_component(void **state)
{
    (void)state;
    rm_pressure_t *p = make_frag_immediate();
    rm_pressure_sample_t s = frag_sample("large_object");
    s.t_ns = SEC;
    s.fragmentation = 0.25;
    rm_pressure_feed(p, &s);
    rm_pressure_alert_t al[RM_ALERT_KINDS];
    size_t n;
    rm_pressure_alerts_list(p, al, RM_ALERT_KINDS, &n);
    const rm_pressure_alert_t *a = find_alert(al, n, RM_ALERT_FRAGMENTATION);
    assert_non_null(a);
    assert_int_equal(a->severity, RM_ALERT_WARNING);
    assert_string_equal(a->subject, "large_object");
    s.t_ns = 2 * SEC;
    s.fragmentation = 0.40;
    rm_pressure_feed(p, &s);
    rm_pressure_alerts_list(p, al, RM_ALERT_KINDS, &n);
    assert_int_equal(find_alert(al, n, RM_ALERT_FRAGMENTATION)->severity, RM_ALERT_CRITICAL);
    rm_pressure_destroy(p);
}

/* A fragmentation alert needs frag_persist_samples (10) samples in a row to be
 * raised, to change severity or to clear: an arena block appearing for one
 * second used to raise and clear it every second under the demo load. */
static void
test_pressure_fragmentation_alert_must_persist(void **state)
{
    (void)state;
    rm_pressure_t *p = make(NULL);
    frag_step_t steps[50];
    size_t n = 0;
    for (int i = 0; i < 30; i++)            /* flapping 0.95 / 0.0: never raised */
        steps[n++] = (frag_step_t){i % 2 ? 0.0 : 0.95, 0, 0};
    for (int i = 1; i <= 10; i++)           /* sustained: raised on the 10th sample */
        steps[n++] = (frag_step_t){0.95, i == 10 ? 2 : 0, 0};
    for (int i = 1; i <= 10; i++)           /* a dip clears it on its 10th sample, not before */
        steps[n++] = (frag_step_t){0.0, i == 10 ? 0 : 2, 0};
    check_frag_steps(p, frag_sample("arena"), 1, steps, n);
    rm_pressure_destroy(p);
}

/* alerts.fragmentation_warning / _critical / pressure_events_per_hour reach the
 * monitor (they were knobs that nothing read: the thresholds were constants) */
static void
test_pressure_alert_thresholds_come_from_the_config(void **state)
{
    (void)state;
    rm_pressure_config_t c;
    rm_pressure_config_default(&c);
    assert_true(c.frag_warning == 0.20 && c.frag_critical == 0.35 && c.events_per_hour == 5);
    c.frag_warning = 0.50;
    c.frag_critical = 0.80;
    c.frag_persist_samples = 1;
    rm_pressure_t *p = make(&c);
    static const frag_step_t steps[] = {{0.40, 0, 0}, {0.55, 1, 0.50}, {0.85, 2, 0.80}};
    check_frag_steps(p, frag_sample("slab"), 1, steps, sizeof steps / sizeof steps[0]);
    rm_pressure_destroy(p);
    rm_pressure_config_default(&c);
    c.frag_warning = 0.4;
    c.frag_critical = 0.3;
    assert_int_equal(rm_pressure_config_validate(&c), RM_EINVAL);
    rm_pressure_config_default(&c);
    c.events_per_hour = 0;
    assert_int_equal(rm_pressure_config_validate(&c), RM_EINVAL);
}

/* An alert clears `hysteresis` (0.05) below its threshold, not at it: a value
 * hovering at 0.20 raised and cleared the fragmentation alert every second
 * under the demo load. The usage alert and both severities behave alike. */
static void
test_pressure_host_alert_is_listed_until_cleared(void **state)
{
    (void)state;
    rm_pressure_t *p = make(NULL);
    /* bad input changes nothing */
    assert_int_equal(rm_pressure_set_host_alert(p, "", RM_ALERT_CRITICAL, NULL, "m", 0, 0), RM_EINVAL);
    assert_int_equal(rm_pressure_set_host_alert(p, "Bad Name", RM_ALERT_CRITICAL, NULL, "m", 0, 0), RM_EINVAL);
    assert_int_equal(rm_pressure_set_host_alert(p, "x", (rm_alert_severity_t)7, NULL, "m", 0, 0), RM_EINVAL);
    assert_int_equal(rm_pressure_set_host_alert(p, "x", RM_ALERT_WARNING, NULL, NULL, 0, 0), RM_EINVAL);
    rm_pressure_alert_t al[RM_ALERT_KINDS + RM_PRESSURE_HOST_ALERTS_MAX];
    size_t n = 99;
    rm_pressure_alerts_list(p, al, sizeof al / sizeof al[0], &n);
    assert_int_equal(n, 0);

    assert_int_equal(rm_pressure_set_host_alert(p, "buffer_pool_write_failing", RM_ALERT_CRITICAL, "/data/pages",
                                                "cannot write: No space left on device", 8, 0),
                     RM_OK);
    /* raised again with a new value: one alert, one raised event, since kept */
    assert_int_equal(rm_pressure_set_host_alert(p, "buffer_pool_write_failing", RM_ALERT_CRITICAL, "/data/pages",
                                                "cannot write: No space left on device", 12, 0),
                     RM_OK);
    rm_pressure_alerts_list(p, al, sizeof al / sizeof al[0], &n);
    assert_int_equal(n, 1);
    assert_int_equal(al[0].kind, RM_ALERT_HOST);
    assert_string_equal(rm_pressure_alert_name(&al[0]), "buffer_pool_write_failing");
    assert_int_equal(al[0].severity, RM_ALERT_CRITICAL);
    assert_string_equal(al[0].subject, "/data/pages");
    assert_true(strstr(al[0].message, "No space left") != NULL);
    assert_true(al[0].value == 12);
    assert_true(al[0].since_ns > 0 && al[0].since_ns <= al[0].updated_ns);

    /* a full table of other host alerts is RM_ELIMIT */
    char name[32];
    for (int i = 1; i < RM_PRESSURE_HOST_ALERTS_MAX; i++) {
        snprintf(name, sizeof name, "host_%d", i);
        assert_int_equal(rm_pressure_set_host_alert(p, name, RM_ALERT_WARNING, NULL, "m", 0, 0), RM_OK);
    }
    assert_int_equal(rm_pressure_set_host_alert(p, "one_too_many", RM_ALERT_WARNING, NULL, "m", 0, 0), RM_ELIMIT);
    rm_pressure_alerts_list(p, al, sizeof al / sizeof al[0], &n);
    assert_int_equal(n, RM_PRESSURE_HOST_ALERTS_MAX);
    for (int i = 1; i < RM_PRESSURE_HOST_ALERTS_MAX; i++) {
        snprintf(name, sizeof name, "host_%d", i);
        assert_int_equal(rm_pressure_clear_host_alert(p, name), RM_OK);
    }

    assert_int_equal(rm_pressure_clear_host_alert(p, "buffer_pool_write_failing"), RM_OK);
    assert_int_equal(rm_pressure_clear_host_alert(p, "buffer_pool_write_failing"), RM_OK);   /* not active: fine */
    rm_pressure_alerts_list(p, al, sizeof al / sizeof al[0], &n);
    assert_int_equal(n, 0);

    /* the events name the alert: raised once, cleared once */
    uint64_t cur = 0;
    rm_pressure_event_t ev[32];
    rm_pressure_events_read(p, &cur, ev, sizeof ev / sizeof ev[0], &n, NULL);
    int raised = 0, cleared = 0;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(ev[i].name, "buffer_pool_write_failing") != 0)
            continue;
        raised += ev[i].kind == RM_EVENT_ALERT_RAISED;
        cleared += ev[i].kind == RM_EVENT_ALERT_CLEARED;
    }
    assert_int_equal(raised, 1);
    assert_int_equal(cleared, 1);
    rm_pressure_destroy(p);
}

static void
test_pressure_alerts_clear_with_hysteresis(void **state)
{
    (void)state;
    rm_pressure_t *p = make_frag_immediate();
    static const frag_step_t steps[] = {{0.21, 1, 0}, {0.19, 1, 0}, {0.21, 1, 0}, {0.16, 1, 0}, {0.14, 0, 0},
                                        {0.19, 0, 0}, {0.21, 1, 0}, {0.36, 2, 0}, {0.33, 2, 0}, {0.31, 2, 0},
                                        {0.29, 1, 0}, {0.31, 1, 0}, {0.36, 2, 0}, {0.10, 0, 0}};
    check_frag_steps(p, frag_sample("slab"), 1, steps, sizeof steps / sizeof steps[0]);
    /* usage: warning at 0.72, kept at 0.68, cleared at 0.64 */
    feed(p, 100, 0.72);
    assert_int_equal(alert_severity(p, RM_ALERT_USAGE_HIGH), RM_ALERT_WARNING);
    feed(p, 101, 0.68);
    assert_int_equal(alert_severity(p, RM_ALERT_USAGE_HIGH), RM_ALERT_WARNING);
    feed(p, 102, 0.64);
    assert_int_equal(alert_severity(p, RM_ALERT_USAGE_HIGH), 0);
    rm_pressure_destroy(p);
}

static void
test_pressure_alloc_failure_raises_warning(void **state)
{
    (void)state;
    rm_pressure_t *p = make(NULL);
    feed(p, 1, 0.30);
    rm_pressure_alert_t al[RM_ALERT_KINDS];
    size_t n;
    rm_pressure_alerts_list(p, al, RM_ALERT_KINDS, &n);
    assert_null(find_alert(al, n, RM_ALERT_ALLOC_FAILURES));
    rm_pressure_note_alloc_failure(p);
    feed(p, 2, 0.30);
    rm_pressure_alerts_list(p, al, RM_ALERT_KINDS, &n);
    assert_non_null(find_alert(al, n, RM_ALERT_ALLOC_FAILURES));
    feed(p, 2 + 3601, 0.30);   /* an hour later it has aged out */
    rm_pressure_alerts_list(p, al, RM_ALERT_KINDS, &n);
    assert_null(find_alert(al, n, RM_ALERT_ALLOC_FAILURES));
    rm_pressure_stats_t st;
    rm_pressure_get_stats(p, &st);
    assert_int_equal(st.alloc_failures, 1);
    rm_pressure_destroy(p);
}

static void
test_pressure_more_than_five_events_an_hour_warns(void **state)
{
    (void)state;
    rm_pressure_t *p = make(NULL);
    uint64_t t = 0;
    for (int i = 0; i < 6; i++) {
        feed(p, t, 0.75);   /* escalation to Gentle */
        t += 1;
        for (int k = 0; k < 40; k++)
            feed(p, t++, 0.30);   /* back to Monitor after the hold */
    }
    rm_pressure_alert_t al[RM_ALERT_KINDS];
    size_t n;
    rm_pressure_alerts_list(p, al, RM_ALERT_KINDS, &n);
    const rm_pressure_alert_t *a = find_alert(al, n, RM_ALERT_PRESSURE_EVENTS);
    assert_non_null(a);
    assert_true(a->value == 6);
    rm_pressure_destroy(p);
}

static void
test_pressure_leak_alert_on_sustained_linear_growth_only(void **state)
{
    (void)state;
    rm_pressure_config_t c;
    rm_pressure_config_default(&c);
    c.leak_window_sec = 120;
    rm_pressure_t *leaky = make(&c), *flat = make(&c);
    unsigned seed = 3;
    for (uint64_t t = 0; t < 200; t++) {
        seed = seed * 1103515245u + 12345u;
        double noise = 0.01 * ((double)(seed >> 16 & 0x7fff) / 32768.0 - 0.5);
        feed(leaky, t, 0.20 + 0.001 * t + noise);   /* +12 % over the window */
        feed(flat, t, 0.40 + 4 * noise);
    }
    rm_pressure_alert_t al[RM_ALERT_KINDS];
    size_t n;
    rm_pressure_alerts_list(leaky, al, RM_ALERT_KINDS, &n);
    const rm_pressure_alert_t *a = find_alert(al, n, RM_ALERT_LEAK);
    assert_non_null(a);
    assert_int_equal(a->severity, RM_ALERT_CRITICAL);
    rm_pressure_alerts_list(flat, al, RM_ALERT_KINDS, &n);
    assert_null(find_alert(al, n, RM_ALERT_LEAK));
    rm_pressure_destroy(leaky);
    rm_pressure_destroy(flat);
}

/* ---- tick over recorded files, thread ----------------------------------- */

static void
report_held_150m(void *ctx, rm_component_usage_t *out)
{
    (void)ctx;
    out->used_bytes = 150u << 20;
    out->held_bytes = 150u << 20;
}

static rm_sysinfo_paths_t
case_paths(const char *name, char *proc, char *cg)
{
    const char *base = getenv("RM_TEST_DATA");
    snprintf(proc, 512, "%s/sysinfo/%s/proc", base ? base : "tests/data", name);
    snprintf(cg, 512, "%s/sysinfo/%s/cgroup", base ? base : "tests/data", name);
    rm_sysinfo_paths_t p = {proc, cg};
    return p;
}

static void
test_pressure_tick_uses_cgroup_v2_working_set_against_limit(void **state)
{
    (void)state;
    char proc[512], cg[512];
    rm_sysinfo_paths_t paths = case_paths("v2_limit", proc, cg);
    rm_pressure_t *p = NULL;
    assert_int_equal(rm_pressure_create(NULL, &paths, &p), RM_OK);
    assert_int_equal(rm_pressure_tick(p, SEC), RM_OK);
    rm_pressure_forecast_t fc = forecast(p);
    assert_int_equal(fc.budget_bytes, 536870912);
    assert_true(fc.used_bytes >= 62914560 - 8388608);
    assert_string_equal(fc.sample.usage_source, "cgroup");
    assert_int_equal(fc.sample.cgroup_version, 2);
    assert_int_equal(fc.sample.has_psi, 1);
    rm_pressure_stats_t st;
    rm_pressure_get_stats(p, &st);
    assert_string_equal(st.budget_source, "cgroup_v2");
    assert_string_equal(fc.sample.budget_source, "cgroup_v2");
    assert_int_equal(st.has_psi, 1);
    rm_pressure_destroy(p);
}

static void
test_pressure_tick_uses_cgroup_v1_limit(void **state)
{
    (void)state;
    char proc[512], cg[512];
    rm_sysinfo_paths_t paths = case_paths("v1_limit", proc, cg);
    rm_pressure_t *p = NULL;
    assert_int_equal(rm_pressure_create(NULL, &paths, &p), RM_OK);
    assert_int_equal(rm_pressure_tick(p, SEC), RM_OK);
    rm_pressure_forecast_t fc = forecast(p);
    assert_int_equal(fc.budget_bytes, 268435456);
    assert_int_equal(fc.sample.cgroup_version, 1);
    assert_int_equal(fc.sample.cgroup_oom_kills, 2);
    rm_pressure_destroy(p);
}

/* memory.budget_bytes above the cgroup limit is capped at the limit: a budget
 * the process cannot have kept the ratio low until the kernel's OOM killer
 * acted; at or below the limit the knob wins. Either way the usage is the
 * cgroup's working set (ADR 0013), never RSS beside a cgroup budget. */
static void
test_pressure_budget_above_the_cgroup_limit_is_capped(void **state)
{
    (void)state;
    char proc[512], cg[512];
    rm_sysinfo_paths_t paths = case_paths("v1_limit", proc, cg);
    rm_pressure_config_t c;
    rm_pressure_config_default(&c);
    c.budget_bytes = 1ull << 40;
    rm_pressure_t *p = NULL;
    assert_int_equal(rm_pressure_create(&c, &paths, &p), RM_OK);
    assert_int_equal(rm_pressure_tick(p, SEC), RM_OK);
    assert_int_equal(forecast(p).budget_bytes, 268435456);
    rm_pressure_stats_t st;
    rm_pressure_get_stats(p, &st);
    assert_string_equal(st.budget_source, "cgroup_v1");
    assert_string_equal(forecast(p).sample.usage_source, "cgroup");
    assert_int_equal(forecast(p).used_bytes, 58720256 - 6291456);
    assert_int_equal(rm_pressure_set_budget_bytes(p, 128u << 20), RM_OK);
    assert_int_equal(rm_pressure_tick(p, 2 * SEC), RM_OK);
    assert_int_equal(forecast(p).budget_bytes, 128u << 20);
    assert_string_equal(forecast(p).sample.usage_source, "cgroup");
    rm_pressure_get_stats(p, &st);
    assert_string_equal(st.budget_source, "knob");
    rm_pressure_destroy(p);
}

/* Without a cgroup limit the monitor measures the process's RSS against what
 * the host can give: the same rm_sysinfo_usage() figures MemoryStats shows */
static void
test_pressure_tick_uses_rss_against_what_the_host_can_give_without_cgroup(void **state)
{
    (void)state;
    char proc[512], cg[512];
    rm_sysinfo_paths_t paths = case_paths("none", proc, cg);
    rm_pressure_t *p = NULL;
    assert_int_equal(rm_pressure_create(NULL, &paths, &p), RM_OK);
    assert_int_equal(rm_pressure_tick(p, SEC), RM_OK);
    rm_pressure_forecast_t fc = forecast(p);
    uint64_t rss = 15000ull * (uint64_t)sysconf(_SC_PAGESIZE);
    assert_int_equal(fc.budget_bytes, rss + 24403968ull * 1024);
    assert_string_equal(fc.sample.usage_source, "rss");
    assert_string_equal(fc.sample.budget_source, "memavailable");
    assert_int_equal(fc.used_bytes, rss);
    rm_pressure_stats_t st;
    rm_pressure_get_stats(p, &st);
    assert_int_equal(st.has_psi, 0);
    assert_int_equal(st.cgroup_version, 0);
    assert_string_equal(st.usage_source, "rss");
    assert_string_equal(st.budget_source, "memavailable");
    rm_pressure_destroy(p);
}

/* A host that other processes squeezed down to 200 MiB available: the same
 * agent RSS is now a large share of what it can still get, and the level
 * rises although MemTotal is 24 GiB and the knob says 1 GiB */
static void
test_pressure_tick_on_a_tight_host_raises_the_ratio(void **state)
{
    (void)state;
    char proc[512], cg[512];
    rm_sysinfo_paths_t paths = case_paths("host_tight", proc, cg);
    rm_pressure_config_t c;
    rm_pressure_config_default(&c);
    c.budget_bytes = GIB;
    rm_pressure_t *p = NULL;
    assert_int_equal(rm_pressure_create(&c, &paths, &p), RM_OK);
    rm_stats_handle_t *h;
    assert_int_equal(rm_stats_register("unit_held", report_held_150m, NULL, &h), RM_OK);
    assert_int_equal(rm_pressure_tick(p, SEC), RM_OK);
    rm_pressure_forecast_t fc = forecast(p);
    /* memcore holds 150 MiB (more than the 58.6 MiB RSS of the recording) */
    assert_int_equal(fc.used_bytes, fc.sample.memcore_held_bytes);
    assert_string_equal(fc.sample.usage_source, "memcore");
    assert_int_equal(fc.budget_bytes, fc.used_bytes + 204800ull * 1024);
    assert_string_equal(fc.sample.budget_source, "memavailable");
    assert_true(fc.usage >= 0.40);
    assert_true(fc.usage == (double)fc.used_bytes / (double)fc.budget_bytes);
    rm_pressure_destroy(p);
    rm_stats_unregister(h);
}

static void
test_pressure_tick_without_any_budget_is_enoent(void **state)
{
    (void)state;
    char proc[512], cg[512];
    rm_sysinfo_paths_t paths = case_paths("empty", proc, cg);
    rm_pressure_t *p = NULL;
    assert_int_equal(rm_pressure_create(NULL, &paths, &p), RM_OK);
    assert_int_equal(rm_pressure_tick(p, SEC), RM_ENOENT);
    assert_int_equal(forecast(p).t_ns, 0);
    /* a configured budget makes it work (usage then comes from memcore's own accounting) */
    assert_int_equal(rm_pressure_set_budget_bytes(p, GIB), RM_OK);
    assert_int_equal(rm_pressure_tick(p, 2 * SEC), RM_OK);
    assert_int_equal(forecast(p).budget_bytes, GIB);
    rm_pressure_destroy(p);
}

static void
report_frag(void *ctx, rm_component_usage_t *out)
{
    out->used_bytes = 3u << 20;
    out->held_bytes = 8u << 20;
}

static void
test_pressure_tick_reads_fragmentation_from_accounting(void **state)
{
    (void)state;
    char proc[512], cg[512];
    rm_sysinfo_paths_t paths = case_paths("v2_limit", proc, cg);
    rm_stats_handle_t *h;
    assert_int_equal(rm_stats_register("unit_frag", report_frag, NULL, &h), RM_OK);
    rm_pressure_t *p = NULL;
    assert_int_equal(rm_pressure_create(NULL, &paths, &p), RM_OK);
    assert_int_equal(rm_pressure_tick(p, SEC), RM_OK);
    rm_pressure_forecast_t fc = forecast(p);
    assert_string_equal(fc.sample.frag_component, "unit_frag");
    assert_true(fabs(fc.sample.fragmentation - 0.625) < 1e-9);
    assert_true(fc.sample.memcore_held_bytes >= 8u << 20);
    rm_pressure_alert_t al[RM_ALERT_KINDS];
    size_t n;
    rm_pressure_alerts_list(p, al, RM_ALERT_KINDS, &n);
    assert_null(find_alert(al, n, RM_ALERT_FRAGMENTATION));   /* not yet: it must persist */
    for (uint64_t t = 2; t <= 10; t++)
        assert_int_equal(rm_pressure_tick(p, t * SEC), RM_OK);
    rm_pressure_alerts_list(p, al, RM_ALERT_KINDS, &n);
    assert_int_equal(find_alert(al, n, RM_ALERT_FRAGMENTATION)->severity, RM_ALERT_CRITICAL);
    rm_pressure_destroy(p);
    rm_stats_unregister(h);
}

static void
test_pressure_thread_samples_until_stopped(void **state)
{
    (void)state;
    char proc[512], cg[512];
    rm_sysinfo_paths_t paths = case_paths("v1_limit", proc, cg);
    rm_pressure_config_t c;
    rm_pressure_config_default(&c);
    c.period_ms = 10;
    rm_pressure_t *p = NULL;
    assert_int_equal(rm_pressure_create(&c, &paths, &p), RM_OK);
    assert_int_equal(rm_pressure_start(p), RM_OK);
    assert_int_equal(rm_pressure_start(p), RM_EBUSY);
    rm_pressure_stats_t st;
    for (int i = 0; i < 500; i++) {   /* bounded wait, not a timing assertion */
        rm_pressure_get_stats(p, &st);
        if (st.samples >= 3)
            break;
        usleep(10000);
    }
    assert_true(st.samples >= 3);
    assert_int_equal(st.thread_running, 1);
    rm_pressure_stop(p);
    rm_pressure_get_stats(p, &st);
    assert_int_equal(st.thread_running, 0);
    uint64_t s1 = st.samples;
    usleep(30000);
    rm_pressure_get_stats(p, &st);
    assert_int_equal(st.samples, s1);
    rm_pressure_stop(p);   /* idempotent */
    rm_pressure_destroy(p);
}

/* ---- the published snapshot (ADR 0025) ----------------------------------- */

#define MS_NS 1000000ull

static void
test_pressure_snapshot_is_the_ticks_reading_and_forecast(void **state)
{
    (void)state;
    char proc[512], cg[512];
    rm_sysinfo_paths_t paths = case_paths("v2_limit", proc, cg);
    rm_pressure_t *p = NULL;
    assert_int_equal(rm_pressure_create(NULL, &paths, &p), RM_OK);
    rm_pressure_snapshot_t sn;
    assert_int_equal(rm_pressure_snapshot(p, &sn), RM_ENOENT);
    assert_int_equal(sn.seq, 0);
    assert_int_equal(rm_pressure_snapshot(NULL, &sn), RM_EINVAL);
    assert_int_equal(rm_pressure_tick(p, SEC), RM_OK);
    assert_int_equal(rm_pressure_snapshot(p, &sn), RM_OK);
    assert_true(sn.seq >= 1);
    assert_int_equal(sn.sampled_ns, SEC);
    assert_true(sn.sampled_unix_ns > 0);
    assert_int_equal(sn.fresh, 0);
    assert_int_equal(sn.sys.cgroup_version, 2);
    assert_int_equal(sn.sys.has_psi, 1);
    assert_int_equal(sn.usage.budget_bytes, 536870912);
    assert_string_equal(sn.usage.usage_source, "cgroup");
    assert_string_equal(sn.usage.budget_source, "cgroup_v2");
    /* one sample: the forecast is of the very reading the snapshot carries */
    assert_int_equal(sn.fc.t_ns, SEC);
    assert_int_equal(sn.fc.used_bytes, sn.usage.used_bytes);
    assert_int_equal(sn.fc.sample.t_unix_ns, sn.sampled_unix_ns);
    uint64_t seq1 = sn.seq;
    assert_int_equal(rm_pressure_tick(p, 2 * SEC), RM_OK);
    assert_int_equal(rm_pressure_snapshot(p, &sn), RM_OK);
    assert_true(sn.seq > seq1);
    assert_int_equal(sn.sampled_ns, 2 * SEC);
    assert_int_equal(sn.fc.t_ns, 2 * SEC);
    rm_pressure_destroy(p);
}

static void
test_pressure_fresh_read_is_rate_limited_and_does_not_feed_the_forecaster(void **state)
{
    (void)state;
    char proc[512], cg[512];
    rm_sysinfo_paths_t paths = case_paths("v2_limit", proc, cg);
    rm_pressure_t *p = NULL;
    assert_int_equal(rm_pressure_create(NULL, &paths, &p), RM_OK);
    const uint64_t lim = RM_PRESSURE_FRESH_MIN_MS * MS_NS;
    rm_pressure_snapshot_t sn;
    int refreshed = -1;
    /* before any tick a fresh read is what publishes the first reading */
    assert_int_equal(rm_pressure_refresh(p, SEC / 2, lim, &sn, &refreshed), RM_OK);
    assert_int_equal(refreshed, 1);
    assert_int_equal(sn.fresh, 1);
    assert_int_equal(sn.sampled_ns, SEC / 2);
    assert_int_equal(sn.fc.t_ns, 0);   /* no forecast yet: a fresh read is not a sample */
    assert_int_equal(sn.usage.budget_bytes, 536870912);

    assert_int_equal(rm_pressure_tick(p, SEC), RM_OK);
    rm_pressure_stats_t st;
    rm_pressure_get_stats(p, &st);
    uint64_t samples = st.samples;
    /* 50 ms after the tick's reading: too young, nothing is read */
    assert_int_equal(rm_pressure_refresh(p, SEC + 50 * MS_NS, lim, &sn, &refreshed), RM_OK);
    assert_int_equal(refreshed, 0);
    assert_int_equal(sn.sampled_ns, SEC);
    assert_int_equal(sn.fresh, 0);
    /* 150 ms after: read and published, the forecast part kept */
    uint64_t seq = sn.seq;
    assert_int_equal(rm_pressure_refresh(p, SEC + 150 * MS_NS, lim, &sn, &refreshed), RM_OK);
    assert_int_equal(refreshed, 1);
    assert_int_equal(sn.fresh, 1);
    assert_int_equal(sn.sampled_ns, SEC + 150 * MS_NS);
    assert_true(sn.seq > seq);
    assert_int_equal(sn.fc.t_ns, SEC);
    rm_pressure_snapshot_t again;
    assert_int_equal(rm_pressure_snapshot(p, &again), RM_OK);
    assert_int_equal(again.seq, sn.seq);   /* the fresh read was published for every reader */
    /* a second fresh read 60 ms later is rate-limited */
    assert_int_equal(rm_pressure_refresh(p, SEC + 210 * MS_NS, lim, &sn, &refreshed), RM_OK);
    assert_int_equal(refreshed, 0);
    assert_int_equal(sn.sampled_ns, SEC + 150 * MS_NS);
    rm_pressure_get_stats(p, &st);
    assert_int_equal(st.samples, samples);   /* never a forecaster sample */

    /* a tick whose reading is older than the published fresh one keeps sampled_at */
    assert_int_equal(rm_pressure_refresh(p, 5 * SEC, lim, &sn, &refreshed), RM_OK);
    assert_int_equal(refreshed, 1);
    assert_int_equal(rm_pressure_tick(p, 4 * SEC), RM_OK);
    assert_int_equal(rm_pressure_snapshot(p, &sn), RM_OK);
    assert_int_equal(sn.sampled_ns, 5 * SEC);
    assert_int_equal(sn.fc.t_ns, 4 * SEC);
    /* a newer tick replaces it */
    assert_int_equal(rm_pressure_tick(p, 6 * SEC), RM_OK);
    assert_int_equal(rm_pressure_snapshot(p, &sn), RM_OK);
    assert_int_equal(sn.sampled_ns, 6 * SEC);
    assert_int_equal(sn.fresh, 0);
    assert_int_equal(rm_pressure_refresh(NULL, SEC, lim, &sn, &refreshed), RM_EINVAL);
    rm_pressure_destroy(p);
}

typedef struct snap_reader {
    rm_pressure_t *p;
    volatile int *stop;
    uint64_t reads, torn, backwards;
} snap_reader_t;

static void *
snap_reader_main(void *arg)
{
    snap_reader_t *r = arg;
    uint64_t last = 0;
    while (!__atomic_load_n(r->stop, __ATOMIC_ACQUIRE)) {
        rm_pressure_snapshot_t sn;
        if (rm_pressure_snapshot(r->p, &sn) != RM_OK)
            continue;
        r->reads++;
        /* every tick publishes its reading with the forecast made of it: a
         * copy mixing two publications breaks these equalities */
        if (sn.sampled_ns != sn.fc.t_ns || sn.fc.sample.t_ns != sn.fc.t_ns ||
            sn.usage.used_bytes != sn.fc.used_bytes || sn.sampled_unix_ns != sn.fc.sample.t_unix_ns)
            r->torn++;
        if (sn.seq < last)
            r->backwards++;
        last = sn.seq;
    }
    return NULL;
}

static void
test_pressure_snapshot_readers_never_see_a_torn_copy(void **state)
{
    (void)state;
    char proc[512], cg[512];
    rm_sysinfo_paths_t paths = case_paths("v2_limit", proc, cg);
    rm_pressure_t *p = NULL;
    assert_int_equal(rm_pressure_create(NULL, &paths, &p), RM_OK);
    assert_int_equal(rm_pressure_tick(p, SEC), RM_OK);
    volatile int stop = 0;
    enum { READERS = 4 };
    snap_reader_t rd[READERS];
    pthread_t th[READERS];
    for (int i = 0; i < READERS; i++) {
        rd[i] = (snap_reader_t){p, &stop, 0, 0, 0};
        assert_int_equal(pthread_create(&th[i], NULL, snap_reader_main, &rd[i]), 0);
    }
    /* Valgrind runs one thread at a time: four spinning readers made 1500 ticks take minutes
     * (test_pressure ~9 min of the 10-min limit); 100 ticks still interleave thousands of reads */
    const uint64_t ticks = getenv("RM_VALGRIND") ? 100 : 1500;
    for (uint64_t t = 2; t <= ticks; t++)
        assert_int_equal(rm_pressure_tick(p, t * SEC), RM_OK);
    __atomic_store_n(&stop, 1, __ATOMIC_RELEASE);
    uint64_t reads = 0;
    for (int i = 0; i < READERS; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(rd[i].torn, 0);
        assert_int_equal(rd[i].backwards, 0);
        reads += rd[i].reads;
    }
    assert_true(reads > 0);
    rm_pressure_snapshot_t sn;
    assert_int_equal(rm_pressure_snapshot(p, &sn), RM_OK);
    assert_int_equal(sn.sampled_ns, ticks * SEC);
    rm_pressure_destroy(p);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pressure_default_config_is_seed_early_warning_config),
        cmocka_unit_test(test_pressure_profiles_follow_seed_table),
        cmocka_unit_test(test_pressure_profiles_match_knob_environment_profiles),
        cmocka_unit_test(test_pressure_profile_from_name),
        cmocka_unit_test(test_pressure_create_rejects_unordered_thresholds),
        cmocka_unit_test(test_pressure_live_setters_validate_and_keep_config_on_error),
        cmocka_unit_test(test_pressure_models_recover_a_clean_trend),
        cmocka_unit_test(test_pressure_theil_sen_ignores_outliers),
        cmocka_unit_test(test_pressure_confidence_falls_with_noise_and_horizon),
        cmocka_unit_test(test_pressure_median_handles_even_and_odd),
        cmocka_unit_test(test_pressure_feed_without_budget_is_enoent_and_state_unchanged),
        cmocka_unit_test(test_pressure_feed_rejects_time_going_backwards),
        cmocka_unit_test(test_pressure_ramp_predicts_horizons_and_time_to_critical),
        cmocka_unit_test(test_pressure_flat_series_is_not_approaching),
        cmocka_unit_test(test_pressure_level_rises_immediately_with_current_trigger),
        cmocka_unit_test(test_pressure_confident_forecast_raises_level_before_threshold),
        cmocka_unit_test(test_pressure_regime_start_is_newest_level_shift),
        cmocka_unit_test(test_pressure_warns_soon_after_collection_when_rise_resumes),
        cmocka_unit_test(test_pressure_reactive_config_ignores_forecasts),
        cmocka_unit_test(test_pressure_steps_down_only_after_hold_below_hysteresis),
        cmocka_unit_test(test_pressure_responder_runs_in_priority_order_until_target),
        cmocka_unit_test(test_pressure_responder_respects_start_level),
        cmocka_unit_test(test_pressure_on_level_told_of_changes_both_ways),
        cmocka_unit_test(test_pressure_removed_reclaimer_is_never_called),
        cmocka_unit_test(test_pressure_cache_warming_below_warning_keeps_the_level),
        cmocka_unit_test(test_pressure_forecast_escalation_needs_persisting_forecasts),
        cmocka_unit_test(test_pressure_forecast_level_dwells_before_stepping_down),
        cmocka_unit_test(test_pressure_forecast_reclaim_is_paced_over_the_horizon),
        cmocka_unit_test(test_pressure_manual_trigger_records_manual_events),
        cmocka_unit_test(test_pressure_manual_trigger_target_is_defined_and_never_the_maximum),
        cmocka_unit_test(test_pressure_manual_trigger_records_event_when_nothing_freed),
        cmocka_unit_test(test_pressure_events_record_level_change_and_reclaim),
        cmocka_unit_test(test_pressure_events_cursor_reports_dropped_when_overwritten),
        cmocka_unit_test(test_pressure_events_wait_times_out_without_events),
        cmocka_unit_test(test_pressure_events_wait_is_cancelled_by_wake),
        cmocka_unit_test(test_pressure_oom_prevention_escalates_event_alert_and_callback),
        cmocka_unit_test(test_pressure_usage_alerts_warning_and_critical),
        cmocka_unit_test(test_pressure_fragmentation_alerts_name_component),
        cmocka_unit_test(test_pressure_alerts_clear_with_hysteresis),
        cmocka_unit_test(test_pressure_host_alert_is_listed_until_cleared),
        cmocka_unit_test(test_pressure_alert_thresholds_come_from_the_config),
        cmocka_unit_test(test_pressure_fragmentation_alert_must_persist),
        cmocka_unit_test(test_pressure_alloc_failure_raises_warning),
        cmocka_unit_test(test_pressure_more_than_five_events_an_hour_warns),
        cmocka_unit_test(test_pressure_leak_alert_on_sustained_linear_growth_only),
        cmocka_unit_test(test_pressure_tick_uses_cgroup_v2_working_set_against_limit),
        cmocka_unit_test(test_pressure_tick_uses_cgroup_v1_limit),
        cmocka_unit_test(test_pressure_tick_uses_rss_against_what_the_host_can_give_without_cgroup),
        cmocka_unit_test(test_pressure_tick_on_a_tight_host_raises_the_ratio),
        cmocka_unit_test(test_pressure_budget_above_the_cgroup_limit_is_capped),
        cmocka_unit_test(test_pressure_tick_without_any_budget_is_enoent),
        cmocka_unit_test(test_pressure_tick_reads_fragmentation_from_accounting),
        cmocka_unit_test(test_pressure_thread_samples_until_stopped),
        cmocka_unit_test(test_pressure_snapshot_is_the_ticks_reading_and_forecast),
        cmocka_unit_test(test_pressure_fresh_read_is_rate_limited_and_does_not_feed_the_forecaster),
        cmocka_unit_test(test_pressure_snapshot_readers_never_see_a_torn_copy),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
