/*
 * pressure_internal.h — the forecaster (pressure_forecast.c): its fitting
 * functions and the per-sample forecast step, shared by pressure.c (the
 * sampler, level machine and responder) and the unit tests. Never installed.
 *
 * Design note: every model reduces a history (t_i ≤ 0 seconds relative to the
 * newest sample, y_i = usage as a fraction of the budget) to a local linear
 * trend: a level at t = 0, a slope per second and a residual scale sigma.
 * Predictions are level + slope·h. Confidence is the probability, under a
 * normal error with the regression's prediction standard error at h, that the
 * prediction lies within ±tol of the truth — so a noisy or short history
 * earns low confidence and a clean trend high confidence. See ADR 0005.
 */
#ifndef RUSTYMEM_PRESSURE_INTERNAL_H
#define RUSTYMEM_PRESSURE_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "rustymem/pressure.h"

/* Buckets of the leak detector's long view (bucket means over leak_window_sec). */
#define RM__PRESSURE_LEAK_BUCKETS 60

typedef struct rm__fc_fit {
    int ok;            /* 0: too few samples, level = last y, slope 0 */
    double level;      /* fitted usage at t = 0 (fraction) */
    double slope;      /* fraction per second */
    double sigma;      /* residual scale (fraction) */
    double n;          /* samples used */
    double tbar;       /* mean of t (seconds, ≤ 0) */
    double sxx;        /* Σ (t − tbar)² */
    double rw_var;     /* random-walk variance per second of the detrended residuals (≥ 0) */
} rm__fc_fit_t;

/* Scratch doubles needed by rm__pressure_fit for n samples. */
size_t rm__pressure_scratch_len(size_t n);

/* Fit `model` to (t[i], y[i]), i < n, t increasing, t[n-1] = 0. `scratch`
 * holds rm__pressure_scratch_len(n) doubles. Pure; never fails. */
void rm__pressure_fit(rm_forecast_model_t model, const double *t, const double *y, size_t n,
                      double *scratch, rm__fc_fit_t *out);

/* Usage predicted h seconds ahead. */
double rm__pressure_predict(const rm__fc_fit_t *f, double h);

/* Confidence in [0, 1] of the prediction h seconds ahead, tolerance tol. */
double rm__pressure_confidence(const rm__fc_fit_t *f, double h, double tol);

/* Probability that usage h seconds ahead is at or above `thr` (normal error
 * with the prediction standard error). 0 without a fit. */
double rm__pressure_prob_above(const rm__fc_fit_t *f, double h, double thr);

/* Ordinary least squares: slope, intercept (at t = 0) and R² (0 when y is
 * constant). n < 2 gives zeros. */
void rm__pressure_linfit(const double *t, const double *y, size_t n, double *slope,
                         double *intercept, double *r2);

/* Start of the current regime of y[0..n): the index of the first sample after
 * the newest level shift, a change of at least `jump` between the medians of
 * three consecutive samples and of the three before them (a collection, a
 * cache drop, a step); the newest index where that holds, so a clean step at
 * s gives s + 1 (late by one sample, never early). 0 when there is none.
 * Robust to one wild sample; a jump in the newest sample alone is not yet a
 * shift. Pure. */
size_t rm__pressure_regime_start(const double *y, size_t n, double jump);

/* Median of v[0..n) (reorders v). 0 for n = 0. */
double rm__pressure_median(double *v, size_t n);

/* The level of usage u (fraction of the budget) under c's thresholds. Pure. */
rm_pressure_level_t rm__pressure_level_of(const rm_pressure_config_t *c, double u);

/* The forecaster's memory between samples. Zeroed at create; owned by the
 * rm_pressure_t and guarded by its tick_mu (the forecast step runs under it). */
typedef struct rm__fc_state {
    uint32_t fc_run[RM_PRESSURE_LEVELS];   /* consecutive samples whose forecasts asked for ≥ that level */
    uint32_t warn_run;                     /* consecutive samples with a raw forecast warning */
    uint32_t warn_off_run;                 /* consecutive samples without one */
    int warning;                           /* the published warning (with hysteresis) */
    uint32_t warning_h;                    /* horizon of the last raw warning (s) */
    const char *warning_view;              /* static; view of the last raw warning */
    double rw_mean;                        /* running mean of the regime's random-walk variance (fraction²/s) */
    double rw_t;                           /* time of its last update (s) */
    int rw_have;
    double run_max;                        /* usage maximum since the last collection (fraction) */
    uint64_t run_max_t_ns;
    double ceil_v[2];                      /* the last two collection peaks (fraction), 0 = none */
} rm__fc_state_t;

/* One sample as the forecast step sees it. Borrowed for the call. */
typedef struct rm__fc_input {
    const rm_pressure_config_t *cfg;
    uint64_t t_ns;                         /* the sample's time (ns) */
    uint64_t used_bytes, budget_bytes;     /* budget_bytes > 0 */
    uint64_t reclaimable_bytes;            /* ≤ used_bytes */
    /* the history, oldest first, n ≥ 1 samples: t (s, relative to t_ns, ≤ 0),
     * usage and usage minus the reclaimable part (fractions of the budget) */
    const double *fit_t, *fit_y, *fit_r;
    size_t n;
    int recl_seen;                         /* some sample of the history had a reclaimable part */
    /* the leak detector's ring of RM__PRESSURE_LEAK_BUCKETS bucket means:
     * time (s, absolute) and used bytes; leak_n filled, leak_head next slot */
    const double *leak_t, *leak_y;
    uint32_t leak_n, leak_head;
    double *scratch;                       /* rm__pressure_scratch_len(RM_PRESSURE_HISTORY_MAX) doubles */
} rm__fc_input_t;

/* What the level machine needs of a forecast besides rm_pressure_forecast_t. */
typedef struct rm__fc_asks {
    int hold;     /* the level confident forecasts hold (thresholds lowered by hysteresis) */
    int trig_h;   /* index of the shortest horizon asking for fc->predicted_level; -1 none */
} rm__fc_asks_t;

/* The forecast step of one sample: fit the models, predict every horizon,
 * persist the levels forecasts ask for, raise or lower the warning (window,
 * recent and long views, three gates, hysteresis) and the time to critical.
 * Fills every field of *fc except level, trigger, recommended_action and
 * sample (the level machine's), and *asks; updates *st. Allocates nothing;
 * never fails. */
void rm__pressure_forecast_step(rm__fc_state_t *st, const rm__fc_input_t *in,
                                rm_pressure_forecast_t *fc, rm__fc_asks_t *asks);

#endif /* RUSTYMEM_PRESSURE_INTERNAL_H */
