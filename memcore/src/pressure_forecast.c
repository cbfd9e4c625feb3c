/*
 * pressure_forecast.c — the forecasting models behind rm_pressure_t.
 *
 * Design note: three local-trend models and their median. All work on at most
 * RM_PRESSURE_HISTORY_MAX samples and allocate nothing (the caller passes
 * scratch), so a forecast never fails under memory pressure — the one moment
 * it matters most.
 *   linear     ordinary least squares over the whole history;
 *   holt       Holt's double exponential smoothing (alpha 0.3, beta 0.1 per
 *              sample), sigma = RMS of one-step-ahead errors;
 *   theil_sen  median of pairwise slopes (pairs thinned to ≤ ~8k for long
 *              histories), intercept = median(y − slope·t), sigma = 1.4826·MAD;
 *   ensemble   median of the three levels, slopes and sigmas.
 * The backtest that chose the default is in docs/adr/0005-pressure-forecasting.md.
 */
#include "pressure_internal.h"

#include <math.h>
#include <string.h>

#define HOLT_ALPHA 0.3
#define HOLT_BETA  0.1
#define TS_MAX_PAIRS 8192
#define MIN_FIT_SAMPLES 3
#define RW_KAPPA 6.0

static void
swap_d(double *a, double *b)
{
    double t = *a;
    *a = *b;
    *b = t;
}

/* Quickselect (Wirth's algorithm): the k-th smallest of v[0..n). */
static double
select_kth(double *v, size_t n, size_t k)
{
    long l = 0, m = (long)n - 1, kk = (long)k;
    while (l < m) {
        double x = v[kk];
        long i = l, j = m;
        do {
            while (v[i] < x)
                i++;
            while (x < v[j])
                j--;
            if (i <= j) {
                swap_d(&v[i], &v[j]);
                i++;
                j--;
            }
        } while (i <= j);
        if (j < kk)
            l = i;
        if (kk < i)
            m = j;
    }
    return v[kk];
}

double
rm__pressure_median(double *v, size_t n)
{
    if (n == 0)
        return 0.0;
    double hi = select_kth(v, n, n / 2);
    if (n % 2)
        return hi;
    double lo = v[0];
    for (size_t i = 1; i < n / 2; i++)
        if (v[i] > lo)
            lo = v[i];
    return (lo + hi) / 2.0;
}

static double
med3(double a, double b, double c)
{
    if (a > b)
        swap_d(&a, &b);
    if (b > c)
        swap_d(&b, &c);
    return a > b ? a : b;
}

size_t
rm__pressure_regime_start(const double *y, size_t n, double jump)
{
    for (size_t i = n >= 3 ? n - 3 : 0; i >= 3; i--) {
        double before = med3(y[i - 3], y[i - 2], y[i - 1]), after = med3(y[i], y[i + 1], y[i + 2]);
        if (fabs(after - before) >= jump)
            return i;
    }
    return 0;
}

size_t
rm__pressure_scratch_len(size_t n)
{
    size_t pairs = n * (n - 1) / 2;
    if (pairs > TS_MAX_PAIRS + n)
        pairs = TS_MAX_PAIRS + n;
    return (pairs > n ? pairs : n) + 8;
}

void
rm__pressure_linfit(const double *t, const double *y, size_t n, double *slope, double *intercept,
                    double *r2)
{
    *slope = *intercept = *r2 = 0.0;
    if (n < 2)
        return;
    double st = 0, sy = 0;
    for (size_t i = 0; i < n; i++) {
        st += t[i];
        sy += y[i];
    }
    double tb = st / (double)n, yb = sy / (double)n, sxx = 0, sxy = 0, syy = 0;
    for (size_t i = 0; i < n; i++) {
        double dt = t[i] - tb, dy = y[i] - yb;
        sxx += dt * dt;
        sxy += dt * dy;
        syy += dy * dy;
    }
    if (sxx <= 0)
        return;
    *slope = sxy / sxx;
    *intercept = yb - *slope * tb;
    *r2 = syy > 0 ? (sxy * sxy) / (sxx * syy) : 0.0;
}

static void
fit_geometry(const double *t, size_t n, rm__fc_fit_t *f)
{
    double st = 0;
    for (size_t i = 0; i < n; i++)
        st += t[i];
    f->n = (double)n;
    f->tbar = st / (double)n;
    f->sxx = 0;
    for (size_t i = 0; i < n; i++)
        f->sxx += (t[i] - f->tbar) * (t[i] - f->tbar);
}

static void
fit_linear(const double *t, const double *y, size_t n, rm__fc_fit_t *f)
{
    double slope, icpt, r2;
    rm__pressure_linfit(t, y, n, &slope, &icpt, &r2);
    double ss = 0;
    for (size_t i = 0; i < n; i++) {
        double r = y[i] - (icpt + slope * t[i]);
        ss += r * r;
    }
    f->level = icpt;
    f->slope = slope;
    f->sigma = n > 2 ? sqrt(ss / (double)(n - 2)) : 0.0;
}

static void
fit_holt(const double *t, const double *y, size_t n, rm__fc_fit_t *f)
{
    double lvl = y[0], trend = 0.0, ss = 0.0;
    size_t m = 0;
    if (n > 1 && t[1] > t[0])
        trend = (y[1] - y[0]) / (t[1] - t[0]);
    for (size_t i = 1; i < n; i++) {
        double dt = t[i] - t[i - 1];
        if (dt <= 0)
            dt = 1.0;
        double pred = lvl + trend * dt;
        double e = y[i] - pred;
        if (i >= 2) {
            ss += e * e;
            m++;
        }
        double nl = HOLT_ALPHA * y[i] + (1.0 - HOLT_ALPHA) * pred;
        trend = HOLT_BETA * (nl - lvl) / dt + (1.0 - HOLT_BETA) * trend;
        lvl = nl;
    }
    f->level = lvl;
    f->slope = trend;
    f->sigma = m ? sqrt(ss / (double)m) : 0.0;
}

static void
fit_theil_sen(const double *t, const double *y, size_t n, double *scratch, rm__fc_fit_t *f)
{
    size_t pairs = n * (n - 1) / 2, step = 1, k = 0;
    while (pairs / (step * step) > TS_MAX_PAIRS)
        step++;
    for (size_t i = 0; i < n; i += step)
        for (size_t j = i + 1; j < n; j += step)
            if (t[j] > t[i])
                scratch[k++] = (y[j] - y[i]) / (t[j] - t[i]);
    double slope = rm__pressure_median(scratch, k);
    for (size_t i = 0; i < n; i++)
        scratch[i] = y[i] - slope * t[i];
    double icpt = rm__pressure_median(scratch, n);
    for (size_t i = 0; i < n; i++)
        scratch[i] = fabs(y[i] - (icpt + slope * t[i]));
    double mad = rm__pressure_median(scratch, n);
    f->level = icpt;
    f->slope = slope;
    f->sigma = 1.4826 * mad;
}

/*
 * Variance-ratio estimate of a random-walk component in the residuals around
 * the fitted line: white noise has E(r[i+k] − r[i])² flat in k, a random walk
 * grows linearly. Without it, a wandering series looks like a confident trend
 * (spurious regression) and the forecaster raises false alarms.
 */
static double
rw_variance(const double *t, const double *y, size_t n, const rm__fc_fit_t *f)
{
    size_t k = n / 4;
    if (k < 2)
        return 0.0;
    double v1 = 0, vk = 0, dt = (t[n - 1] - t[0]) / (double)(n - 1);
    size_t n1 = 0, nk = 0;
    for (size_t i = 0; i + 1 < n; i++) {
        double a = y[i] - (f->level + f->slope * t[i]);
        double b = y[i + 1] - (f->level + f->slope * t[i + 1]);
        v1 += (b - a) * (b - a);
        n1++;
        if (i + k < n) {
            double c = y[i + k] - (f->level + f->slope * t[i + k]);
            vk += (c - a) * (c - a);
            nk++;
        }
    }
    v1 /= (double)n1;
    vk /= (double)nk;
    double rw = (vk - v1) / (double)(k - 1);
    if (rw <= 0 || dt <= 0)
        return 0.0;
    return rw / dt;
}

void
rm__pressure_fit(rm_forecast_model_t model, const double *t, const double *y, size_t n,
                 double *scratch, rm__fc_fit_t *out)
{
    memset(out, 0, sizeof *out);
    if (n == 0)
        return;
    if (n < MIN_FIT_SAMPLES) {
        out->level = y[n - 1];
        out->n = (double)n;
        return;
    }
    fit_geometry(t, n, out);
    out->ok = 1;
    switch (model) {
    case RM_FORECAST_LINEAR:
        fit_linear(t, y, n, out);
        break;
    case RM_FORECAST_HOLT:
        fit_holt(t, y, n, out);
        break;
    case RM_FORECAST_THEIL_SEN:
        fit_theil_sen(t, y, n, scratch, out);
        break;
    case RM_FORECAST_ENSEMBLE:
    default: {
        rm__fc_fit_t a = *out, b = *out, c = *out;
        fit_linear(t, y, n, &a);
        fit_holt(t, y, n, &b);
        fit_theil_sen(t, y, n, scratch, &c);
        double lv[3] = {a.level, b.level, c.level};
        double sl[3] = {a.slope, b.slope, c.slope};
        double sg[3] = {a.sigma, b.sigma, c.sigma};
        out->level = rm__pressure_median(lv, 3);
        out->slope = rm__pressure_median(sl, 3);
        out->sigma = rm__pressure_median(sg, 3);
        break;
    }
    }
    out->rw_var = rw_variance(t, y, n, out);
}

double
rm__pressure_predict(const rm__fc_fit_t *f, double h)
{
    double v = f->level + f->slope * h;
    return v < 0 ? 0 : v;
}

static double
pred_se(const rm__fc_fit_t *f, double h)
{
    double d = h - f->tbar;
    double v = f->sigma * f->sigma * (1.0 + 1.0 / f->n + d * d / f->sxx) + f->rw_var * RW_KAPPA * (h > 0 ? h : 0);
    double se = sqrt(v);
    return se < 1e-4 ? 1e-4 : se;
}

double
rm__pressure_prob_above(const rm__fc_fit_t *f, double h, double thr)
{
    if (!f->ok || f->sxx <= 0)
        return 0.0;
    double z = (rm__pressure_predict(f, h) - thr) / pred_se(f, h);
    double pr = 0.5 * erfc(-z / M_SQRT2);
    if (f->n < 10)
        pr *= f->n / 10.0;
    return pr;
}

double
rm__pressure_confidence(const rm__fc_fit_t *f, double h, double tol)
{
    if (!f->ok || f->sxx <= 0)
        return 0.0;
    double se = pred_se(f, h);   /* floored so a flat history is not "certain" forever */
    double c = erf(tol / (se * M_SQRT2));
    /* short histories earn proportionally less trust */
    if (f->n < 10)
        c *= f->n / 10.0;
    return c < 0 ? 0 : c > 1 ? 1 : c;
}
