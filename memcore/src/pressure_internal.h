/*
 * pressure_internal.h — the forecaster's fitting functions, shared by
 * pressure.c and the unit tests. Never installed.
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

#include "rustymem/pressure.h"

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

#endif /* RUSTYMEM_PRESSURE_INTERNAL_H */
