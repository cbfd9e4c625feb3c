/*
 * pressure_forecast.c — the forecaster behind rm_pressure_t: the models and
 * the forecast step of each sample (rm__pressure_forecast_step: horizons,
 * persisted asks, the warning with its views and gates, time to critical),
 * which pressure.c's feed runs between the history and the level machine.
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
#include <stdint.h>
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

/* ---- the forecast step of a sample (rm__pressure_forecast_step) ---------- */

#define NS_PER_SEC 1000000000ull
#define LEAK_BUCKETS RM__PRESSURE_LEAK_BUCKETS
#define REGIME_JUMP 0.05          /* level shift: median of 3 samples moves this much (fraction) */
#define REGIME_MIN_SAMPLES 10     /* a regime needs this many samples to call a trend */
#define RW_TAU_SEC 300.0          /* time constant of the running random-walk variance */

rm_pressure_level_t
rm__pressure_level_of(const rm_pressure_config_t *c, double u)
{
    if (u >= c->emergency_threshold)
        return RM_PRESSURE_OOM_PREVENTION;
    if (u >= c->critical_threshold)
        return RM_PRESSURE_EMERGENCY;
    if (u >= c->high_pressure_threshold)
        return RM_PRESSURE_AGGRESSIVE;
    if (u >= c->warning_threshold)
        return RM_PRESSURE_GENTLE;
    return RM_PRESSURE_MONITOR;
}

/* The level a forecast of level `pl` at horizon index i asks for: pl − i, but
 * at least Gentle (Monitor when pl is Monitor). */
static int
asked_level(rm_pressure_level_t pl, uint32_t i)
{
    if (pl == RM_PRESSURE_MONITOR)
        return RM_PRESSURE_MONITOR;
    int lv = (int)pl - (int)i;
    return lv < RM_PRESSURE_GENTLE ? RM_PRESSURE_GENTLE : lv;
}

/* Step 1: every horizon's prediction of the non-reclaimable fit plus the
 * reclaimable part as it is now (recl_u), and the levels the confident ones
 * ask for. raw: the level this sample's confident forecasts ask for; hold:
 * the same with every threshold `hysteresis` lower (a forecast that keeps the
 * level from stepping down); ask_h[i]: what horizon i asks for. */
static void
predict_horizons(const rm_pressure_config_t *c, const rm__fc_fit_t *fit, double recl_u, double b,
                 rm_pressure_forecast_t *fc, int *ask_h, int *raw, int *hold)
{
    *raw = RM_PRESSURE_MONITOR;
    *hold = RM_PRESSURE_MONITOR;
    for (uint32_t i = 0; i < c->n_horizons; i++) {
        rm_pressure_horizon_t *h = &fc->horizons[i];
        h->horizon_sec = c->horizons_sec[i];
        h->predicted_usage = recl_u + rm__pressure_predict(fit, h->horizon_sec);
        h->predicted_bytes = (uint64_t)(h->predicted_usage * b);
        h->confidence = rm__pressure_confidence(fit, h->horizon_sec, c->confidence_tolerance);
        h->predicted_level = rm__pressure_level_of(c, h->predicted_usage);
        ask_h[i] = RM_PRESSURE_MONITOR;
        if (c->act_on_forecast && fit->slope > 0 && h->confidence >= c->min_confidence) {
            ask_h[i] = asked_level(h->predicted_level, i);
            int hv = asked_level(rm__pressure_level_of(c, h->predicted_usage + c->hysteresis), i);
            if (ask_h[i] > *raw)
                *raw = ask_h[i];
            if (hv > *hold)
                *hold = hv;
        }
    }
}

/* Step 2: persistence. A forecast-driven level needs forecasts asking for it
 * (or more) on forecast_persist_samples consecutive samples; one confident
 * sample of a noisy or bending series is not a trend. Returns the shortest
 * horizon asking for the persisted level (it asks now: runs reset), -1 none. */
static int
persist_levels(rm__fc_state_t *st, const rm_pressure_config_t *c, int raw, const int *ask_h,
               rm_pressure_forecast_t *fc)
{
    for (int l = RM_PRESSURE_GENTLE; l < RM_PRESSURE_LEVELS; l++) {
        st->fc_run[l] = raw >= l ? st->fc_run[l] + 1 : 0;
        if (st->fc_run[l] >= c->forecast_persist_samples)
            fc->predicted_level = (rm_pressure_level_t)l;
    }
    int trig_h = -1;
    for (uint32_t i = 0; i < c->n_horizons && fc->predicted_level > RM_PRESSURE_MONITOR && trig_h < 0; i++)
        if (ask_h[i] >= (int)fc->predicted_level)
            trig_h = (int)i;
    return trig_h;
}

/* The first horizon at which view f (a rising fit) crosses the critical
 * threshold with at least warning_min_probability, confidently: recorded in
 * fc as seen by view; 1 then, 0 when no horizon does. */
static int
view_warns(const rm_pressure_config_t *c, const rm__fc_fit_t *f, const char *view, rm_pressure_forecast_t *fc)
{
    if (!(f->slope > 0))
        return 0;
    for (uint32_t i = 0; i < c->n_horizons; i++) {
        double pr = rm__pressure_prob_above(f, c->horizons_sec[i], c->critical_threshold);
        if (pr >= c->warning_min_probability &&
            rm__pressure_confidence(f, c->horizons_sec[i], c->confidence_tolerance) >= c->min_confidence) {
            fc->warning_horizon_sec = c->horizons_sec[i];
            fc->warning_probability = pr;
            fc->warning_view = view;
            return 1;
        }
    }
    return 0;
}

/* Step 3: the raw warning, a probable critical crossing within a horizon, as
 * the window, recent and long views see it, then the three gates. The views
 * see only the current regime: the samples since the newest level shift (a
 * collection, a cache drop, a step), so a drop neither hides the next rise
 * behind a falling window nor inflates the random-walk estimate; without a
 * shift the regime is the whole window. Returns 1 when a raw warning stands
 * (fc->warning_horizon_sec, warning_probability and warning_view set). */
static int
raw_warning(rm__fc_state_t *st, const rm__fc_input_t *in, const rm__fc_fit_t *fit,
            rm_pressure_forecast_t *fc)
{
    const rm_pressure_config_t *c = in->cfg;
    size_t n = in->n;
    double tnow = (double)in->t_ns / 1e9, b = (double)in->budget_bytes;
    size_t r0 = rm__pressure_regime_start(in->fit_y, n, REGIME_JUMP);
    size_t rn = n - r0;
    const double *rt = in->fit_t + r0, *ry = in->fit_y + r0;
    rm__fc_fit_t wf = *fit;
    if (r0 > 0 || in->recl_seen)   /* the warning is about the whole usage, caches included */
        rm__pressure_fit(c->model, rt, ry, rn, in->scratch, &wf);
    /* one window's random-walk estimate is noisy (it is 0 about as often as
     * it is twice the truth); a wander that fooled one window fools the
     * next: use the larger of the window's and its running mean over
     * RW_TAU_SEC of ticks */
    {
        double a = st->rw_have ? (tnow - st->rw_t) / RW_TAU_SEC : 1.0;
        if (a > 1)
            a = 1;
        if (a < 0)
            a = 0;
        st->rw_mean += a * (wf.rw_var - st->rw_mean);
        st->rw_t = tnow;
        st->rw_have = 1;
        if (st->rw_mean > wf.rw_var)
            wf.rw_var = st->rw_mean;
    }
    int raw_warn = 0;
    for (uint32_t i = 0; i < c->n_horizons; i++) {
        double pr = rm__pressure_prob_above(&wf, c->horizons_sec[i], c->critical_threshold);
        if (fc->usage < c->critical_threshold && wf.slope > 0 && pr >= c->warning_min_probability &&
            rm__pressure_confidence(&wf, c->horizons_sec[i], c->confidence_tolerance) >=
                c->min_confidence &&
            !raw_warn) {
            raw_warn = 1;
            fc->warning_horizon_sec = c->horizons_sec[i];
            fc->warning_probability = pr;
            fc->warning_view = "window";
        } else if (!raw_warn && pr > fc->warning_probability) {
            fc->warning_probability = pr;
        }
    }
    /* the short view: the newest quarter of the regime (≥ 10 samples)
     * catches a trend that started recently, which the full window still
     * averages with the flat past */
    if (!raw_warn && rn >= 20 && fc->usage < c->critical_threshold) {
        size_t m = rn / 4 < 10 ? 10 : rn / 4;
        rm__fc_fit_t sf;
        rm__pressure_fit(RM_FORECAST_LINEAR, rt + (rn - m), ry + (rn - m), m, in->scratch, &sf);
        /* ten samples cannot tell a wander from a trend: borrow the regime's
         * random-walk estimate when it is larger */
        if (wf.rw_var > sf.rw_var)
            sf.rw_var = wf.rw_var;
        raw_warn = view_warns(c, &sf, "recent", fc);
    }
    /* the long view: the leak detector's bucket means (leak_window_sec) see
     * slow trends that are lost in the noise of history_size samples, and
     * tell a trend from an excursion of a wandering series */
    rm__fc_fit_t lf;
    memset(&lf, 0, sizeof lf);
    if (in->leak_n >= LEAK_BUCKETS / 4) {
        double lt[LEAK_BUCKETS], ly[LEAK_BUCKETS];
        uint32_t ln = in->leak_n;
        for (uint32_t i = 0; i < ln; i++) {
            uint32_t j = (in->leak_head + LEAK_BUCKETS - ln + i) % LEAK_BUCKETS;
            lt[i] = in->leak_t[j] - tnow;
            ly[i] = in->leak_y[j] / b;
        }
        rm__pressure_fit(RM_FORECAST_LINEAR, lt, ly, ln, in->scratch, &lf);
    }
    if (!raw_warn && lf.ok && wf.slope > 0 && fc->usage < c->critical_threshold)
        raw_warn = view_warns(c, &lf, "long", fc);
    /* gate 1: enough history to call a trend: half the history at start-up,
     * REGIME_MIN_SAMPLES after a level shift (the shift itself told us the
     * old level is gone; the pre-shift window says how noisy samples are) */
    if (r0 > 0 ? rn < REGIME_MIN_SAMPLES : (n < 10 || n < c->history_size / 2))
        raw_warn = 0;
    /* gate 2: the trend is still under way: the recent quarter of the regime
     * does not rise significantly slower than half the regime's slope (a
     * step or a spike that has levelled off leaves a long-window slope
     * behind it, not a rising series) */
    if (raw_warn) {
        size_t m = rn / 4 < 10 ? 10 : rn / 4;
        if (m > rn)
            m = rn;
        rm__fc_fit_t rf;
        rm__pressure_fit(RM_FORECAST_LINEAR, rt + (rn - m), ry + (rn - m), m, in->scratch, &rf);
        /* a deceleration must be significant: the recent slope's upper
         * one-sided 95 % bound below half the regime's slope (a dozen noisy
         * samples cannot tell a slow trend from a flat one) */
        double se = rf.sxx > 0 ? rf.sigma / sqrt(rf.sxx) : 0;
        if (rf.slope + 1.645 * se < 0.5 * wf.slope)
            raw_warn = 0;
    }
    /* gate 3: collection ceiling. When the last two sharp drops (collections)
     * started from about the same peak below critical, usage has a ceiling:
     * no warning until usage passes it. */
    if (fc->usage > st->run_max) {
        st->run_max = fc->usage;
        st->run_max_t_ns = in->t_ns;
    } else if (st->run_max - fc->usage >= 0.05 && in->t_ns - st->run_max_t_ns <= 5 * NS_PER_SEC) {
        st->ceil_v[0] = st->ceil_v[1];
        st->ceil_v[1] = st->run_max;
        st->run_max = fc->usage;
        st->run_max_t_ns = in->t_ns;
    } else if (in->t_ns - st->run_max_t_ns > 5 * NS_PER_SEC && fc->usage < st->run_max - 0.05) {
        st->run_max = fc->usage;   /* a slow decline is not a collection */
        st->run_max_t_ns = in->t_ns;
    }
    if (raw_warn && st->ceil_v[0] > 0 && fabs(st->ceil_v[0] - st->ceil_v[1]) <= 0.02) {
        double ceil = st->ceil_v[0] > st->ceil_v[1] ? st->ceil_v[0] : st->ceil_v[1];
        if (ceil < c->critical_threshold && fc->usage < ceil + 0.01)
            raw_warn = 0;
    }
    return raw_warn;
}

/* Step 4: hysteresis on the warning: raised after warning_persist_samples raw
 * warnings in a row, lowered after as many samples without one (or at once
 * when usage reaches critical, where the warning has done its job). */
static void
publish_warning(rm__fc_state_t *st, const rm_pressure_config_t *c, int raw_warn,
                rm_pressure_forecast_t *fc)
{
    st->warn_run = raw_warn ? st->warn_run + 1 : 0;
    st->warn_off_run = raw_warn ? 0 : st->warn_off_run + 1;
    if (!st->warning && st->warn_run >= c->warning_persist_samples)
        st->warning = 1;
    else if (st->warning && (st->warn_off_run >= c->warning_persist_samples ||
                             fc->usage >= c->critical_threshold))
        st->warning = 0;
    fc->warning = st->warning;
    if (fc->warning && !raw_warn && st->warning_h) {
        fc->warning_horizon_sec = st->warning_h;   /* held over from the last raw warning */
        fc->warning_view = st->warning_view;
    }
    if (raw_warn) {
        st->warning_h = fc->warning_horizon_sec;
        st->warning_view = fc->warning_view;
    }
    if (!fc->warning) {
        fc->warning_horizon_sec = 0;
        fc->warning_view = NULL;
    }
}

/* Step 5: time to critical along the non-reclaimable trend, from the larger
 * of the fitted level (plus the reclaimable part) and the present usage. */
static void
time_to_critical(const rm_pressure_config_t *c, const rm__fc_fit_t *fit, double recl_u,
                 rm_pressure_forecast_t *fc)
{
    if (fc->usage >= c->critical_threshold) {
        fc->time_to_critical_sec = 0;
        fc->time_to_critical_confidence = 1;
    } else if (fit->slope > 1e-9) {
        double from = fit->level + recl_u > fc->usage ? fit->level + recl_u : fc->usage;
        double ttc = (c->critical_threshold - from) / fit->slope;
        fc->time_to_critical_sec = ttc < 0 ? 0 : ttc;
        fc->time_to_critical_confidence =
            rm__pressure_confidence(fit, fc->time_to_critical_sec, c->confidence_tolerance);
    } else {
        fc->time_to_critical_sec = -1;
    }
}

void
rm__pressure_forecast_step(rm__fc_state_t *st, const rm__fc_input_t *in, rm_pressure_forecast_t *fc,
                           rm__fc_asks_t *asks)
{
    const rm_pressure_config_t *c = in->cfg;
    double b = (double)in->budget_bytes;
    /* the forecast is of the usage that is not reclaimable (the fit of
     * fit_r), plus the reclaimable part as it is now. Without estimates (no
     * reclaimers, or none with an estimate) fit_r is the usage itself. */
    rm__fc_fit_t fit;
    rm__pressure_fit(c->model, in->fit_t, in->fit_r, in->n, in->scratch, &fit);
    double recl_u = (double)in->reclaimable_bytes / b;
    memset(fc, 0, sizeof *fc);
    fc->t_ns = in->t_ns;
    fc->samples = (uint32_t)in->n;
    fc->used_bytes = in->used_bytes;
    fc->budget_bytes = in->budget_bytes;
    fc->usage = (double)in->used_bytes / b;
    fc->reclaimable_bytes = in->reclaimable_bytes;
    fc->slope_per_sec = fit.slope;
    fc->model = c->model;
    fc->n_horizons = c->n_horizons;
    fc->current_level = rm__pressure_level_of(c, fc->usage);
    fc->predicted_level = RM_PRESSURE_MONITOR;

    int raw, ask_h[RM_PRESSURE_HORIZONS_MAX];
    predict_horizons(c, &fit, recl_u, b, fc, ask_h, &raw, &asks->hold);
    asks->trig_h = persist_levels(st, c, raw, ask_h, fc);
    publish_warning(st, c, raw_warning(st, in, &fit, fc), fc);
    time_to_critical(c, &fit, recl_u, fc);
}
