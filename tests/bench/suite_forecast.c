/*
 * suite_forecast.c — `rustymem-bench forecast`: closed-loop evaluation of the
 * pressure forecaster and responder (issue 6, item 5).
 *
 * Design note: the simulation drives the REAL rm_pressure_t (forecaster,
 * level machine, responder, reclaimer registry) through rm_pressure_feed()
 * with simulated time; only the world is simulated. The world is a database
 * process against a hard limit: non-reclaimable application memory (the
 * trace), a buffer pool, a plan cache, MVCC version chains and query working
 * memory, each with a simulated reclaimer that frees what the real component
 * would at each level (seed: Gentle eviction +20 %, compact idle chains, oldest
 * 10 % plans; Aggressive +50 %, compact all, 50 % plans, cancel low-priority
 * queries; Emergency max eviction, clear caches, kill long-running queries).
 * Definitions (OOM, crossing, alarm, false alarm, lead, flap) are in
 * docs/adr/0005-pressure-forecasting.md and in the comments below.
 *
 * Three policies run over exactly the same traces: none (no response; the
 * forecaster watches open-loop, which is where alarms are scored), reactive
 * (the same responder, act_on_forecast = 0, response_floor = Emergency: act
 * only once usage crosses critical, like kubelet/earlyoom), and rustymem.
 */
#include "bench.h"
#include "trace_io.h"
#include "rustymem/pressure.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SIM_LIMIT_BYTES (4ull << 30)
#define SIM_T_MAX 1800            /* seconds per run */
#define BP_TARGET_START 0.38   /* buffer pool + plan cache + version chains at start */
#define ALARM_DEBOUNCE_SEC 30     /* warnings closer than this belong to one alarm */

enum family {
    FAM_LEAK_MVCC,      /* version chains of a forgotten transaction grow linearly (reclaimable) */
    FAM_LEAK_BASE,      /* non-reclaimable memory grows linearly; caches must make room */
    FAM_BURST,          /* ramped step bursts (batch jobs); half is query memory */
    FAM_SAWTOOTH,       /* growth then collection */
    FAM_RANDOM_WALK,    /* noisy random walk */
    FAM_DAILY,          /* periodic load */
    FAM_SPIKE,          /* sudden spikes in 1–3 s: no forecaster can see them coming */
    FAM_N
};
static const char *fam_name[FAM_N] = {"leak_mvcc", "leak_base", "burst", "sawtooth",
                                      "random_walk", "daily", "spike"};
/* ramps: families whose critical crossings are approached gradually (leaks,
 * sawtooth growth, daily load); step bursts, spikes and random walks are not */
static const int fam_ramp[FAM_N] = {1, 1, 0, 1, 0, 1, 0};

/* ---- deterministic PRNG ---------------------------------------------------- */

typedef struct {
    uint64_t s;
} rng_t;

static uint64_t
rng_next(rng_t *r)
{
    r->s ^= r->s >> 12;
    r->s ^= r->s << 25;
    r->s ^= r->s >> 27;
    return r->s * 2685821657736338717ull;
}

static double
rng_u(rng_t *r, double lo, double hi)
{
    return lo + (hi - lo) * ((double)(rng_next(r) >> 11) / 9007199254740992.0);
}

static double
rng_gauss(rng_t *r)
{
    double u1 = rng_u(r, 1e-12, 1), u2 = rng_u(r, 0, 1);
    return sqrt(-2 * log(u1)) * cos(2 * M_PI * u2);
}

/* ---- traces ------------------------------------------------------------------ */

typedef struct trace {
    int fam;
    int T;
    double base[SIM_T_MAX];    /* non-reclaimable, fraction of limit */
    double query[SIM_T_MAX];   /* query working memory (cancellable), fraction */
    double mvg[SIM_T_MAX];     /* MVCC growth this second, fraction */
    double noise[SIM_T_MAX];   /* measurement noise added to the observation */
} trace_t;

static void
make_trace(trace_t *tr, int fam, uint64_t seed)
{
    rng_t r = {seed * 0x9E3779B97F4A7C15ull + 1};
    for (int i = 0; i < 4; i++)
        rng_next(&r);
    tr->fam = fam;
    tr->T = SIM_T_MAX;
    double b0 = rng_u(&r, 0.38, 0.48);
    for (int t = 0; t < tr->T; t++) {
        tr->base[t] = b0;
        tr->query[t] = 0;
        tr->mvg[t] = 0;
        tr->noise[t] = 0.003 * rng_gauss(&r);
    }
    switch (fam) {
    case FAM_LEAK_MVCC: {
        double slope = rng_u(&r, 0.0002, 0.003);
        int t0 = (int)rng_u(&r, 60, 600);
        for (int t = t0; t < tr->T; t++)
            tr->mvg[t] = slope * (1 + 0.2 * rng_gauss(&r));
        break;
    }
    case FAM_LEAK_BASE: {
        double slope = rng_u(&r, 0.0001, 0.0006);
        int t0 = (int)rng_u(&r, 60, 600);
        double cap = rng_u(&r, 0.30, 0.40);
        for (int t = t0; t < tr->T; t++) {
            double g = slope * (t - t0);
            tr->base[t] = b0 + (g < cap ? g : cap);
        }
        break;
    }
    case FAM_BURST: {
        int nb = 1 + (int)rng_u(&r, 0, 3), t = (int)rng_u(&r, 60, 300);
        for (int k = 0; k < nb && t < tr->T; k++) {
            double a = rng_u(&r, 0.12, 0.32);
            int ramp = (int)rng_u(&r, 10, 60), hold = (int)rng_u(&r, 60, 300);
            for (int i = 0; i < ramp + hold + ramp && t + i < tr->T; i++) {
                double f = i < ramp ? (double)i / ramp
                           : i < ramp + hold ? 1.0
                                             : 1.0 - (double)(i - ramp - hold) / ramp;
                tr->base[t + i] += a * f;
                tr->query[t + i] += 0.5 * a * f;
            }
            t += ramp * 2 + hold + (int)rng_u(&r, 120, 400);
        }
        break;
    }
    case FAM_SAWTOOTH: {
        double rate = rng_u(&r, 0.0004, 0.002), amp = rng_u(&r, 0.15, 0.35);
        double g = 0;
        for (int t = 0; t < tr->T; t++) {
            g += rate;
            if (g >= amp)
                g = 0;   /* collection */
            tr->base[t] = b0 + g;
        }
        break;
    }
    case FAM_RANDOM_WALK: {
        double x = b0;
        for (int t = 0; t < tr->T; t++) {
            x += 0.002 * rng_gauss(&r) + 0.002 * (b0 - x);
            if (x < 0.25)
                x = 0.25;
            if (x > 0.62)
                x = 0.62;
            tr->base[t] = x;
        }
        break;
    }
    case FAM_DAILY: {
        double per = rng_u(&r, 600, 1800), amp = rng_u(&r, 0.08, 0.22), ph = -M_PI / 2;   /* start of the day: the trough */
        for (int t = 0; t < tr->T; t++)
            tr->base[t] = b0 + amp * (1 + sin(2 * M_PI * t / per + ph)) / 2;
        break;
    }
    case FAM_SPIKE: {
        int t = (int)rng_u(&r, 100, 500);
        while (t < tr->T) {
            double a = rng_u(&r, 0.06, 0.22);
            int rise = 1 + (int)rng_u(&r, 0, 3), dur = (int)rng_u(&r, 20, 60);
            for (int i = 0; i < rise + dur && t + i < tr->T; i++) {
                double f = i < rise ? (double)(i + 1) / rise : 1.0;
                tr->base[t + i] += a * f;
                tr->query[t + i] += 0.5 * a * f;
            }
            t += rise + dur + (int)rng_u(&r, 200, 600);
        }
        break;
    }
    }
    /* a run must start alive and below critical (warm caches ≈ 0.38): shift
     * the whole trace down when its first second would not be */
    double start = tr->base[0] + BP_TARGET_START;
    if (start > 0.85)
        for (int t = 0; t < tr->T; t++)
            tr->base[t] -= start - 0.85;
}

/* ---- the simulated world and its reclaimers --------------------------------- */

typedef struct world {
    const trace_t *tr;
    double bp, pc, mv, qkill;      /* buffer pool, plan cache, version chains, killed query share */
    rm_pressure_level_t level;     /* as told through on_level */
    int t;                         /* current second */
    uint64_t freed_bytes;
} world_t;

#define BP_TARGET 0.30
#define BP_MIN 0.02
#define BP_GROW 0.0015
#define PC_TARGET 0.05
#define PC_GROW 0.0003
#define MV_BG_CAP 0.04

static double
frac_of(uint64_t bytes)
{
    return (double)bytes / (double)SIM_LIMIT_BYTES;
}

static uint64_t
bytes_of(double f)
{
    return f <= 0 ? 0 : (uint64_t)(f * (double)SIM_LIMIT_BYTES);
}

/* Buffer pool: each call evicts a slice per level (eviction boost). */
static uint64_t
bp_reclaim(void *ctx, rm_pressure_level_t lv, uint64_t target)
{
    world_t *w = ctx;
    double share = lv >= RM_PRESSURE_EMERGENCY ? 1.0 : lv == RM_PRESSURE_AGGRESSIVE ? 0.5 : 0.2;
    double can = (w->bp - BP_MIN) * share, want = frac_of(target);
    double f = can < want ? can : want;
    if (f <= 0)
        return 0;
    w->bp -= f;
    return bytes_of(f);
}

static uint64_t
bp_estimate(void *ctx, rm_pressure_level_t lv)
{
    world_t *w = ctx;
    return bytes_of(w->bp - BP_MIN);
}

/* Plan cache: oldest 10 % / 50 % / all. */
static uint64_t
pc_reclaim(void *ctx, rm_pressure_level_t lv, uint64_t target)
{
    world_t *w = ctx;
    double share = lv >= RM_PRESSURE_EMERGENCY ? 1.0 : lv == RM_PRESSURE_AGGRESSIVE ? 0.5 : 0.1;
    double f = w->pc * share;
    w->pc -= f;
    return bytes_of(f);
}

/* Version chains: idle chains (30 %) / all chains (70 %) / forced + kill long-running (all). */
static uint64_t
mv_reclaim(void *ctx, rm_pressure_level_t lv, uint64_t target)
{
    world_t *w = ctx;
    double share = lv >= RM_PRESSURE_EMERGENCY ? 1.0 : lv == RM_PRESSURE_AGGRESSIVE ? 0.7 : 0.3;
    double f = w->mv * share;
    w->mv -= f;
    return bytes_of(f);
}

/* Queries: cancel low-priority (Aggressive, 30 % of query memory), kill long-running (Emergency, 60 %). */
static uint64_t
q_reclaim(void *ctx, rm_pressure_level_t lv, uint64_t target)
{
    world_t *w = ctx;
    double q = w->tr->query[w->t];
    if (q < 0.005)
        return 0;
    double share = lv >= RM_PRESSURE_EMERGENCY ? 0.6 : 0.3;
    double before = w->qkill;
    w->qkill = 1 - (1 - w->qkill) * (1 - share);
    return bytes_of(q * (w->qkill - before));
}

static void
world_on_level(void *ctx, rm_pressure_level_t old, rm_pressure_level_t nw)
{
    world_t *w = ctx;
    w->level = nw;
}

static double
world_usage(const world_t *w, int t)
{
    return w->tr->base[t] - w->tr->query[t] * w->qkill + w->bp + w->pc + w->mv;
}

/* Advance the world to second t (component growth, trace). */
static void
world_step(world_t *w, int t)
{
    if (w->level == RM_PRESSURE_MONITOR) {
        w->bp += BP_TARGET - w->bp < BP_GROW ? BP_TARGET - w->bp : BP_GROW;
        w->pc += PC_TARGET - w->pc < PC_GROW ? PC_TARGET - w->pc : PC_GROW;
    }
    if (w->tr->fam == FAM_LEAK_MVCC)
        w->mv += w->tr->mvg[t];
    else if (w->mv < MV_BG_CAP)
        w->mv += 0.0002;
    if (w->tr->query[t] < 0.005)
        w->qkill = 0;
}

/* ---- running one policy over one trace ------------------------------------- */

enum policy { POL_NONE, POL_REACTIVE, POL_RUSTYMEM, POL_N };
static const char *pol_name[POL_N] = {"none", "reactive", "rustymem"};

typedef struct run_result {
    int oom;                       /* usage exceeded the limit */
    int oom_t;
    double usage[SIM_T_MAX];       /* true usage per second (until OOM) */
    int warn[SIM_T_MAX];           /* open-loop: forecast warning at t */
    char view[SIM_T_MAX];          /* first letter of fc.warning_view at t ('-' none), for --diag */
    int level[SIM_T_MAX];          /* responder level at t */
    double pred[SIM_T_MAX][RM_PRESSURE_HORIZONS_MAX];
    int T;                         /* seconds simulated */
    int flaps, level_changes;
    uint64_t reclaimed;
} run_result_t;

static int
make_monitor(enum policy pol, rm_forecast_model_t model, world_t *w, rm_pressure_t **out)
{
    rm_pressure_config_t c;
    rm_pressure_config_default(&c);
    c.model = model;
    if (pol == POL_REACTIVE) {
        c.act_on_forecast = 0;
        c.response_floor = RM_PRESSURE_EMERGENCY;
    }
    if (rm_pressure_create(&c, NULL, out) != RM_OK)
        return -1;
    if (pol == POL_NONE)
        return 0;
    rm_pressure_reclaimer_def_t defs[] = {
        {"buffer_pool", 10, RM_PRESSURE_GENTLE, bp_estimate, bp_reclaim, world_on_level, w},
        {"plan_cache", 20, RM_PRESSURE_GENTLE, NULL, pc_reclaim, NULL, w},
        {"mvcc", 30, RM_PRESSURE_GENTLE, NULL, mv_reclaim, NULL, w},
        {"queries", 40, RM_PRESSURE_AGGRESSIVE, NULL, q_reclaim, NULL, w},
    };
    for (size_t i = 0; i < sizeof defs / sizeof defs[0]; i++)
        if (rm_pressure_reclaimer_add(*out, &defs[i], NULL) != RM_OK)
            return -1;
    return 0;
}

static int
run_policy(const trace_t *tr, enum policy pol, rm_forecast_model_t model, run_result_t *res)
{
    world_t w = {.tr = tr, .bp = BP_TARGET, .pc = PC_TARGET, .mv = 0.03, .level = RM_PRESSURE_MONITOR};
    rm_pressure_t *p = NULL;
    if (make_monitor(pol, model, &w, &p) != 0)
        return -1;
    rm_pressure_config_t c;
    rm_pressure_get_config(p, &c);
    res->oom = 0;
    res->oom_t = -1;
    res->flaps = res->level_changes = 0;
    int last_change_t = -1000000;
    rm_pressure_level_t prev_level = RM_PRESSURE_MONITOR, before_prev = RM_PRESSURE_MONITOR;
    int t;
    for (t = 0; t < tr->T; t++) {
        w.t = t;
        world_step(&w, t);
        double u = world_usage(&w, t);
        res->usage[t] = u;
        if (u > 1.0) {   /* the kernel's OOM killer would act here */
            res->oom = 1;
            res->oom_t = t;
            t++;
            break;
        }
        rm_pressure_sample_t s;
        memset(&s, 0, sizeof s);
        s.t_ns = (uint64_t)(t + 1) * 1000000000ull;
        double obs = u + tr->noise[t];
        s.used_bytes = bytes_of(obs);
        s.budget_bytes = SIM_LIMIT_BYTES;
        s.usage_source = "injected";
        double q_before = w.qkill;
        rm_pressure_feed(p, &s);
        (void)q_before;
        rm_pressure_forecast_t fc;
        rm_pressure_get_forecast(p, &fc);
        /* open-loop warning: a confident forecast of a critical crossing */
        res->warn[t] = fc.warning;
        res->view[t] = fc.warning_view ? fc.warning_view[0] : '-';
        res->level[t] = fc.level;
        for (uint32_t i = 0; i < fc.n_horizons; i++)
            res->pred[t][i] = fc.horizons[i].predicted_usage;
        if (fc.level != prev_level) {
            res->level_changes++;
            /* flap: this change undoes the previous one within 30 s */
            if (fc.level == before_prev && t - last_change_t <= 30)
                res->flaps++;
            before_prev = prev_level;
            prev_level = fc.level;
            last_change_t = t;
        }
    }
    res->T = t;
    rm_pressure_stats_t st;
    rm_pressure_get_stats(p, &st);
    res->reclaimed = st.bytes_reclaimed;
    rm_pressure_destroy(p);
    return 0;
}

/* ---- scoring ------------------------------------------------------------------ */

typedef struct score {
    int runs, ooms;
    int alarms, false_alarms;
    int crossings, crossings_warned;
    double *leads;
    size_t n_leads, cap_leads;
    double abs_err[RM_PRESSURE_HORIZONS_MAX];
    long n_err[RM_PRESSURE_HORIZONS_MAX];
    double hours;
    int flaps, level_changes;
} score_t;

static void
push_lead(score_t *s, double v)
{
    if (s->n_leads == s->cap_leads) {
        s->cap_leads = s->cap_leads ? s->cap_leads * 2 : 256;
        s->leads = realloc(s->leads, s->cap_leads * sizeof *s->leads);
    }
    s->leads[s->n_leads++] = v;
}

/*
 * Open-loop scoring on a no-response run:
 *  crossing  usage goes from below critical to at/above it (re-armed after
 *            falling hysteresis below critical);
 *  alarm     a maximal stretch of forecast warnings (fc.warning; gaps up to
 *            ALARM_DEBOUNCE_SEC merged); it is FALSE when usage does not
 *            reach critical (nor the run OOM) within the longest horizon of
 *            its start; alarms whose horizon outlives the run are not judged;
 *  lead      crossing time − the first warning in the H seconds before it
 *            (a warning claims "critical within H"); 0 when there was none
 *            (a miss, which counts in the median).
 */
static void
score_open_loop(const run_result_t *r, const rm_pressure_config_t *c, int ramp, score_t *s)
{
    double crit = c->critical_threshold;
    int H = (int)c->horizons_sec[c->n_horizons - 1];
    int cross[SIM_T_MAX], nc = 0, armed = 1;
    for (int t = 0; t < r->T; t++) {
        if (armed && r->usage[t] >= crit) {
            cross[nc++] = t;
            armed = 0;
        } else if (!armed && r->usage[t] < crit - c->hysteresis) {
            armed = 1;
        }
    }
    /* alarms: true when usage reaches critical (or the run OOMs) within H of the start */
    int start = -1, last = -1000;
    for (int t = 0; t < r->T; t++) {
        if (!r->warn[t])
            continue;
        if (start < 0 || t - last > ALARM_DEBOUNCE_SEC) {
            start = t;
            int ok = 0;
            for (int u = t; u < r->T && u <= t + H && !ok; u++)
                ok = r->usage[u] >= crit;
            if (!ok && r->oom && r->oom_t <= t + H)
                ok = 1;
            if (ok || t + H < r->T) {   /* alarms whose horizon outlives the run are not judged */
                s->alarms++;
                s->false_alarms += !ok;
            }
        }
        last = t;
    }
    /* leads on ramps */
    for (int k = 0; k < nc; k++) {
        s->crossings++;
        int tc = cross[k], first = -1;
        for (int t = tc - H > 0 ? tc - H : 0; t < tc && first < 0; t++)
            if (r->warn[t])
                first = t;
        if (first >= 0)
            s->crossings_warned++;
        if (ramp)
            push_lead(s, first >= 0 ? (double)(tc - first) : 0.0);
    }
    /* per-horizon mean absolute error */
    for (uint32_t i = 0; i < c->n_horizons; i++) {
        int h = (int)c->horizons_sec[i];
        for (int t = 60; t + h < r->T; t++) {
            double a = r->usage[t + h] > 1.0 ? 1.0 : r->usage[t + h];
            double p = r->pred[t][i] > 1.5 ? 1.5 : r->pred[t][i];
            s->abs_err[i] += fabs(p - a);
            s->n_err[i]++;
        }
    }
}

/*
 * --diag: one stderr line per ramp crossing warned less than 30 s ahead and per
 * false alarm of the open-loop run, with the context that explains it: the
 * seconds since the approach began (usage last 0.10 below critical, or the
 * last collection, whichever is later) and the peak within the horizon.
 */
static void
diag_open_loop(const run_result_t *r, const rm_pressure_config_t *c, int fam, int k)
{
    double crit = c->critical_threshold;
    int H = (int)c->horizons_sec[c->n_horizons - 1], armed = 1;
    for (int t = 0; t < r->T; t++) {
        if (armed && r->usage[t] >= crit) {
            armed = 0;
            int first = -1, from = 0;
            for (int u = t - H > 0 ? t - H : 0; u < t && first < 0; u++)
                if (r->warn[u])
                    first = u;
            for (int u = t; u > 0; u--)
                if (r->usage[u] < crit - 0.10 || r->usage[u - 1] - r->usage[u] >= 0.05) {
                    from = u;
                    break;
                }
            int lead = first >= 0 ? t - first : 0;
            if (fam_ramp[fam] && lead < 30)
                fprintf(stderr, "diag short-lead %-11s run %3d  t %4d lead %3d approach %4d s  u(t-60) %.3f\n",
                        fam_name[fam], k, t, lead, t - from, t >= 60 ? r->usage[t - 60] : 0);
        } else if (!armed && r->usage[t] < crit - c->hysteresis) {
            armed = 1;
        }
    }
    int start = -1, last = -1000;
    for (int t = 0; t < r->T; t++) {
        if (!r->warn[t])
            continue;
        if (start < 0 || t - last > ALARM_DEBOUNCE_SEC) {
            start = t;
            double peak = 0;
            for (int u = t; u < r->T && u <= t + H; u++)
                peak = r->usage[u] > peak ? r->usage[u] : peak;
            if (peak < crit && !(r->oom && r->oom_t <= t + H) && t + H < r->T)
                fprintf(stderr, "diag false-alarm %-11s run %3d  t %4d view %c u %.3f peak %.3f pred %.3f/%.3f/%.3f\n",
                        fam_name[fam], k, t, r->view[t], r->usage[t], peak, r->pred[t][0], r->pred[t][1],
                        r->pred[t][2]);
        }
        last = t;
    }
}

static json_t *
horizons_obj(const rm_pressure_config_t *c, const double *vals)
{
    json_t *o = json_object();
    char k[16];
    for (uint32_t i = 0; i < c->n_horizons; i++) {
        snprintf(k, sizeof k, "%u", c->horizons_sec[i]);
        json_object_set_new(o, k, json_real(vals[i]));
    }
    return o;
}

/* ---- --trace FILE ---------------------------------------------------------------- */

/* "--key NAME" as an index into names[0..n) (dflt when absent); -1 after one
 * line naming the option and the choices when NAME is not among them. */
static int
name_arg(const rm_bench_opts_t *o, const char *key, const char *(*name_of)(int), int n, int dflt, int *out)
{
    const char *v = rm_bench_arg(o, key);
    *out = dflt;
    if (!v)
        return 0;
    for (int i = 0; i < n; i++)
        if (strcmp(v, name_of(i)) == 0) {
            *out = i;
            return 0;
        }
    fprintf(stderr, "rustymem-bench forecast: %s %s: expected one of", key, v);
    for (int i = 0; i < n; i++)
        fprintf(stderr, "%s %s", i ? "," : "", name_of(i));
    fprintf(stderr, "\n");
    return -1;
}

static const char *
model_name_of(int i)
{
    return rm_forecast_model_name((rm_forecast_model_t)i);
}

static const char *
fam_name_of(int i)
{
    return fam_name[i];
}

static const char *
pol_name_of(int i)
{
    return pol_name[i];
}

static int
run_trace_file(const rm_bench_opts_t *o, const char *file, json_t *result)
{
    char *buf, err[256];
    size_t len;
    rm_trace_csv_t tr;
    if (rm_trace_read_file(file, &buf, &len, err, sizeof err) != 0) {
        fprintf(stderr, "forecast: %s\n", err);
        return 1;
    }
    int prc = rm_trace_parse_csv(buf, len, &tr, err, sizeof err);
    free(buf);
    if (prc != 0) {
        fprintf(stderr, "forecast: trace %s: %s\n", file, err);
        return 1;
    }
    size_t n = tr.n;
    const double *tt = tr.t_seconds;
    const uint64_t *used = tr.used_bytes, *lim = tr.limit_bytes;
    double *uu = malloc(n * sizeof *uu);
    if (!uu) {
        rm_trace_csv_free(&tr);
        fprintf(stderr, "forecast: out of memory\n");
        return 1;
    }
    for (size_t i = 0; i < n; i++)
        uu[i] = (double)used[i] / (double)lim[i];
    rm_pressure_config_t c;
    rm_pressure_config_default(&c);
    int mi;
    if (name_arg(o, "--model", model_name_of, RM_FORECAST_ENSEMBLE + 1, (int)c.model, &mi) != 0) {
        free(uu);
        rm_trace_csv_free(&tr);
        return 1;
    }
    c.model = (rm_forecast_model_t)mi;
    rm_pressure_t *p;
    double (*pred)[RM_PRESSURE_HORIZONS_MAX] = calloc(n, sizeof *pred);
    int *warn = calloc(n, sizeof *warn);
    if (!pred || !warn || rm_pressure_create(&c, NULL, &p) != RM_OK) {
        fprintf(stderr, "forecast: cannot create the monitor\n");
        free(pred);
        free(warn);
        free(uu);
        rm_trace_csv_free(&tr);
        return 1;
    }
    for (size_t i = 0; i < n; i++) {
        rm_pressure_sample_t s;
        memset(&s, 0, sizeof s);
        s.t_ns = (uint64_t)(tt[i] * 1e9);
        s.used_bytes = used[i];
        s.budget_bytes = lim[i];
        rm_pressure_feed(p, &s);
        rm_pressure_forecast_t fc;
        rm_pressure_get_forecast(p, &fc);
        for (uint32_t h = 0; h < fc.n_horizons; h++)
            pred[i][h] = fc.horizons[h].predicted_usage;
        warn[i] = fc.warning;
    }
    rm_pressure_destroy(p);
    /* MAE: prediction at t_i for t_i + h against the interpolated actual */
    double mae[RM_PRESSURE_HORIZONS_MAX] = {0};
    long cnt[RM_PRESSURE_HORIZONS_MAX] = {0};
    for (uint32_t h = 0; h < c.n_horizons; h++) {
        size_t j = 0;
        for (size_t i = 0; i < n; i++) {
            double target = tt[i] + c.horizons_sec[h];
            while (j < n && tt[j] < target)
                j++;
            if (j >= n)
                break;
            double a = uu[j];
            if (j > 0 && tt[j] > tt[j - 1])
                a = uu[j - 1] + (uu[j] - uu[j - 1]) * (target - tt[j - 1]) / (tt[j] - tt[j - 1]);
            mae[h] += fabs(pred[i][h] - a);
            cnt[h]++;
        }
        mae[h] = cnt[h] ? mae[h] / cnt[h] : 0;
    }
    json_t *crossings = json_array();
    int armed = 1;
    for (size_t i = 0; i < n; i++) {
        if (armed && uu[i] >= c.critical_threshold) {
            armed = 0;
            double first = -1;
            for (size_t k = i; k-- > 0;) {
                if (tt[i] - tt[k] > c.horizons_sec[c.n_horizons - 1] + ALARM_DEBOUNCE_SEC)
                    break;
                if (warn[k])
                    first = tt[k];
            }
            json_t *e = json_object();
            json_object_set_new(e, "t_seconds", json_real(tt[i]));
            json_object_set_new(e, "lead_seconds", json_real(first >= 0 ? tt[i] - first : 0));
            json_array_append_new(crossings, e);
            fprintf(stderr, "crossing at t=%.0fs lead %.0fs\n", tt[i], first >= 0 ? tt[i] - first : 0);
        } else if (!armed && uu[i] < c.critical_threshold - c.hysteresis) {
            armed = 1;
        }
    }
    /* Alarms, as score_open_loop judges them on generated traces: a maximal
     * stretch of warnings (gaps up to ALARM_DEBOUNCE_SEC merged) is FALSE when
     * usage does not reach critical within the longest horizon of its start;
     * an alarm whose horizon outlives the trace cannot be judged. A trace that
     * plateaus below critical after a climb shows its warnings here. */
    double H = c.horizons_sec[c.n_horizons - 1];
    int alarms = 0, false_alarms = 0, unjudged = 0;
    json_t *false_at = json_array();
    double last_warn = -1e300;
    for (size_t i = 0; i < n; i++) {
        if (!warn[i])
            continue;
        if (tt[i] - last_warn > ALARM_DEBOUNCE_SEC) {
            int ok = 0;
            for (size_t u = i; u < n && tt[u] <= tt[i] + H && !ok; u++)
                ok = uu[u] >= c.critical_threshold;
            if (!ok && tt[n - 1] < tt[i] + H) {
                unjudged++;
            } else {
                alarms++;
                if (!ok) {
                    false_alarms++;
                    json_array_append_new(false_at, json_real(tt[i]));
                    fprintf(stderr, "false alarm at t=%.0fs: usage stayed below %.2f for the next %.0fs\n", tt[i],
                            c.critical_threshold, H);
                }
            }
        }
        last_warn = tt[i];
    }
    json_object_set_new(result, "trace", json_string(file));
    json_object_set_new(result, "model", json_string(rm_forecast_model_name(c.model)));
    json_object_set_new(result, "alarms", json_integer(alarms));
    json_object_set_new(result, "false_alarms", json_integer(false_alarms));
    json_object_set_new(result, "false_alarm_ratio", json_real(alarms ? (double)false_alarms / alarms : 0));
    json_object_set_new(result, "false_alarm_t_seconds", false_at);
    json_object_set_new(result, "unjudged_alarms", json_integer(unjudged));
    json_object_set_new(result, "samples", json_integer((json_int_t)n));
    json_object_set_new(result, "mae_by_horizon", horizons_obj(&c, mae));
    json_object_set_new(result, "critical_crossings", crossings);
    for (uint32_t h = 0; h < c.n_horizons; h++)
        fprintf(stderr, "horizon %4us  MAE %.4f of limit (%ld points)\n", c.horizons_sec[h], mae[h],
                cnt[h]);
    free(pred);
    free(warn);
    free(uu);
    rm_trace_csv_free(&tr);
    return 0;
}

/* ---- main --------------------------------------------------------------------------- */

static double
median_of(double *v, size_t n)
{
    return n ? rm_bench_percentile(v, n, 50) : 0;
}

static int
run_forecast(const rm_bench_opts_t *o, json_t *result)
{
    const char *file = rm_bench_arg(o, "--trace");
    if (file)
        return run_trace_file(o, file, result);

    const char *wt = rm_bench_arg(o, "--write-trace");
    if (wt) {
        /* --write-trace FILE [--family NAME] [--index K]: the no-response run as a CSV trace */
        int fam, pol;
        uint64_t k, sdv;
        if (name_arg(o, "--family", fam_name_of, FAM_N, 0, &fam) != 0 ||
            name_arg(o, "--policy", pol_name_of, POL_N, POL_NONE, &pol) != 0 ||
            rm_bench_arg_u64(o, "forecast", "--index", 0, 1000000, 0, &k) != 0 ||
            rm_bench_arg_u64(o, "forecast", "--seed", 0, UINT64_MAX, 42, &sdv) != 0)
            return 1;
        trace_t *t1 = malloc(sizeof *t1);
        run_result_t *r1 = malloc(sizeof *r1);
        FILE *f = fopen(wt, "w");
        if (!t1 || !r1 || !f) {
            fprintf(stderr, "forecast: cannot write %s\n", wt);
            return 1;
        }
        make_trace(t1, fam, sdv * 1000003ull + (uint64_t)fam * 7919ull + k);
        rm_pressure_config_t dc;
        rm_pressure_config_default(&dc);
        run_policy(t1, (enum policy)pol, dc.model, r1);
        fprintf(f, "t_seconds,used_bytes,limit_bytes\n");
        for (int t = 0; t < r1->T; t++) {
            fprintf(f, "%d,%llu,%llu\n", t + 1, (unsigned long long)bytes_of(r1->usage[t] + t1->noise[t]),
                    (unsigned long long)SIM_LIMIT_BYTES);
            if (rm_bench_flag(o, "--verbose"))
                fprintf(stderr, "%d %.4f warn=%d level=%d\n", t + 1, r1->usage[t], r1->warn[t],
                        r1->level[t]);
        }
        fclose(f);
        json_object_set_new(result, "written", json_string(wt));
        json_object_set_new(result, "family", json_string(fam_name[fam]));
        free(t1);
        free(r1);
        return 0;
    }

    uint64_t runs_u, seed;
    if (rm_bench_arg_u64(o, "forecast", "--runs", 1, 100000, o->quick ? 6 : 30, &runs_u) != 0 ||
        rm_bench_arg_u64(o, "forecast", "--seed", 0, UINT64_MAX, 42, &seed) != 0)
        return 1;
    int runs = (int)runs_u;
    int backtest = !o->quick && !rm_bench_flag(o, "--no-backtest");
    int diag = rm_bench_flag(o, "--diag");   /* per-crossing / per-false-alarm lines on stderr */

    rm_pressure_config_t c;
    rm_pressure_config_default(&c);
    int mi;
    if (name_arg(o, "--model", model_name_of, RM_FORECAST_ENSEMBLE + 1, (int)c.model, &mi) != 0)
        return 1;
    rm_forecast_model_t model = (rm_forecast_model_t)mi;

    trace_t *tr = malloc(sizeof *tr);
    run_result_t *res = malloc(sizeof *res);
    score_t sc[POL_N][FAM_N];
    score_t bt[RM_FORECAST_ENSEMBLE + 1];
    memset(sc, 0, sizeof sc);
    memset(bt, 0, sizeof bt);
    if (!tr || !res)
        return 1;

    for (int fam = 0; fam < FAM_N; fam++) {
        for (int k = 0; k < runs; k++) {
            make_trace(tr, fam, seed * 1000003ull + (uint64_t)fam * 7919ull + (uint64_t)k);
            for (int pol = 0; pol < POL_N; pol++) {
                if (run_policy(tr, pol, model, res) != 0) {
                    fprintf(stderr, "forecast: simulation setup failed\n");
                    return 1;
                }
                score_t *s = &sc[pol][fam];
                s->runs++;
                s->ooms += res->oom;
                s->hours += res->T / 3600.0;
                s->flaps += res->flaps;
                s->level_changes += res->level_changes;
                if (pol == POL_NONE) {
                    score_open_loop(res, &c, fam_ramp[fam], s);
                    if (diag)
                        diag_open_loop(res, &c, fam, k);
                }
            }
            if (backtest)
                for (int m = 0; m <= RM_FORECAST_ENSEMBLE; m++) {
                    run_policy(tr, POL_NONE, (rm_forecast_model_t)m, res);
                    score_open_loop(res, &c, fam_ramp[fam], &bt[m]);
                }
        }
        fprintf(stderr, "%-12s runs %3d  OOM none %3d reactive %3d rustymem %3d  alarms %3d false %3d\n",
                fam_name[fam], runs, sc[POL_NONE][fam].ooms, sc[POL_REACTIVE][fam].ooms,
                sc[POL_RUSTYMEM][fam].ooms, sc[POL_NONE][fam].alarms, sc[POL_NONE][fam].false_alarms);
    }

    /* totals */
    int ooms[POL_N] = {0}, alarms = 0, falses = 0, flaps = 0, changes = 0, crossings = 0, warned = 0;
    double hours = 0;
    size_t nl = 0;
    for (int fam = 0; fam < FAM_N; fam++) {
        for (int pol = 0; pol < POL_N; pol++)
            ooms[pol] += sc[pol][fam].ooms;
        alarms += sc[POL_NONE][fam].alarms;
        falses += sc[POL_NONE][fam].false_alarms;
        crossings += sc[POL_NONE][fam].crossings;
        warned += sc[POL_NONE][fam].crossings_warned;
        nl += sc[POL_NONE][fam].n_leads;
        flaps += sc[POL_RUSTYMEM][fam].flaps;
        changes += sc[POL_RUSTYMEM][fam].level_changes;
        hours += sc[POL_RUSTYMEM][fam].hours;
    }
    double *leads = malloc((nl ? nl : 1) * sizeof *leads);
    size_t li = 0;
    for (int fam = 0; fam < FAM_N; fam++)
        for (size_t i = 0; i < sc[POL_NONE][fam].n_leads; i++)
            leads[li++] = sc[POL_NONE][fam].leads[i];

    double base = ooms[POL_NONE] ? (double)ooms[POL_NONE] : 1.0;
    json_object_set_new(result, "oom_prevented_ratio", json_real(1.0 - ooms[POL_RUSTYMEM] / base));
    json_object_set_new(result, "oom_prevented_ratio_reactive",
                        json_real(1.0 - ooms[POL_REACTIVE] / base));
    json_object_set_new(result, "median_lead_seconds", json_real(median_of(leads, nl)));
    json_object_set_new(result, "false_alarm_ratio", json_real(alarms ? (double)falses / alarms : 0));
    json_object_set_new(result, "flaps_per_hour", json_real(hours > 0 ? flaps / hours : 0));
    json_object_set_new(result, "level_changes_per_hour", json_real(hours > 0 ? changes / hours : 0));
    json_object_set_new(result, "model", json_string(rm_forecast_model_name(model)));
    json_object_set_new(result, "runs", json_integer(runs * FAM_N));
    json_object_set_new(result, "seed", json_integer((json_int_t)seed));
    json_object_set_new(result, "ooms_none", json_integer(ooms[POL_NONE]));
    json_object_set_new(result, "ooms_reactive", json_integer(ooms[POL_REACTIVE]));
    json_object_set_new(result, "ooms_rustymem", json_integer(ooms[POL_RUSTYMEM]));
    json_object_set_new(result, "alarms", json_integer(alarms));
    json_object_set_new(result, "false_alarms", json_integer(falses));
    json_object_set_new(result, "critical_crossings", json_integer(crossings));
    json_object_set_new(result, "critical_crossings_warned", json_integer(warned));

    json_t *fams = json_object();
    for (int fam = 0; fam < FAM_N; fam++) {
        json_t *f = json_object();
        for (int pol = 0; pol < POL_N; pol++) {
            char k[32];
            snprintf(k, sizeof k, "ooms_%s", pol_name[pol]);
            json_object_set_new(f, k, json_integer(sc[pol][fam].ooms));
        }
        json_object_set_new(f, "alarms", json_integer(sc[POL_NONE][fam].alarms));
        json_object_set_new(f, "false_alarms", json_integer(sc[POL_NONE][fam].false_alarms));
        json_object_set_new(f, "critical_crossings", json_integer(sc[POL_NONE][fam].crossings));
        json_object_set_new(f, "critical_crossings_warned", json_integer(sc[POL_NONE][fam].crossings_warned));
        double *fl = sc[POL_NONE][fam].leads;
        json_object_set_new(f, "median_lead_seconds",
                            json_real(fam_ramp[fam] ? median_of(fl, sc[POL_NONE][fam].n_leads) : 0));
        json_object_set_new(f, "flaps", json_integer(sc[POL_RUSTYMEM][fam].flaps));
        json_object_set_new(fams, fam_name[fam], f);
    }
    json_object_set_new(result, "families", fams);

    if (backtest) {
        json_t *b = json_object();
        for (int m = 0; m <= RM_FORECAST_ENSEMBLE; m++) {
            json_t *e = json_object();
            double mae[RM_PRESSURE_HORIZONS_MAX];
            for (uint32_t i = 0; i < c.n_horizons; i++)
                mae[i] = bt[m].n_err[i] ? bt[m].abs_err[i] / bt[m].n_err[i] : 0;
            json_object_set_new(e, "mae_by_horizon", horizons_obj(&c, mae));
            json_object_set_new(e, "false_alarm_ratio",
                                json_real(bt[m].alarms ? (double)bt[m].false_alarms / bt[m].alarms : 0));
            json_object_set_new(e, "alarms", json_integer(bt[m].alarms));
            json_object_set_new(e, "median_lead_seconds", json_real(median_of(bt[m].leads, bt[m].n_leads)));
            json_object_set_new(e, "crossings_warned_ratio",
                                json_real(bt[m].crossings ? (double)bt[m].crossings_warned / bt[m].crossings : 0));
            json_object_set_new(b, rm_forecast_model_name((rm_forecast_model_t)m), e);
            fprintf(stderr, "backtest %-10s MAE30 %.4f MAE60 %.4f MAE120 %.4f  false %.3f lead %.0f warned %.3f\n",
                    rm_forecast_model_name((rm_forecast_model_t)m), mae[0], mae[1], mae[2],
                    bt[m].alarms ? (double)bt[m].false_alarms / bt[m].alarms : 0,
                    median_of(bt[m].leads, bt[m].n_leads),
                    bt[m].crossings ? (double)bt[m].crossings_warned / bt[m].crossings : 0);
            free(bt[m].leads);
        }
        json_object_set_new(result, "backtest", b);
    }
    for (int pol = 0; pol < POL_N; pol++)
        for (int fam = 0; fam < FAM_N; fam++)
            free(sc[pol][fam].leads);
    free(leads);
    free(tr);
    free(res);
    return 0;
}

RM_BENCH_SUITE(forecast, "OOM prevention, lead time, false alarms of the pressure forecaster (simulated)",
               "--runs N --seed N --model NAME --no-backtest --diag --trace FILE --write-trace FILE --family NAME "
               "--index K --policy NAME --verbose",
               run_forecast);
