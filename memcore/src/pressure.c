/*
 * pressure.c — sampler, levels with hysteresis, graduated responder, event
 * log and alerts (rustymem/pressure.h).
 *
 * Design note:
 *  - Locks. tick_mu serialises ticks, reclaimer (un)registration and config
 *    changes; it guards the history, the level machine, the reclaimer list and
 *    the alert state, and is held while reclaimer callbacks run (so a removed
 *    reclaimer is never called after remove returns). pub_mu guards the
 *    published copies (config, last forecast, active alerts, stats) that the
 *    management plane reads, so a GetForecast never waits for a slow
 *    reclaimer. ev_mu + ev_cv guard the event ring and wake WatchPressure
 *    streams. Order: tick_mu → pub_mu → ev_mu, and tick_mu → snap_mu.
 *    Allocation failures are counted with an atomic so allocators can report
 *    without a lock.
 *  - The snapshot (rm_pressure_snapshot, ADR 0025). snap_mu serialises the
 *    writers (ticks and fresh reads) only; readers take no lock. A reader
 *    pins the current slot (snap_readers[i]++), re-checks that it is still
 *    current (else unpins and retries), copies, unpins. A writer fills a slot
 *    that is neither current nor pinned, then stores snap_cur. All four
 *    atomic operations are sequentially consistent: a reader that pinned a
 *    slot and then saw it current is seen pinned by every later writer, so no
 *    slot is written while a reader copies it (the Dekker argument in the
 *    ADR). A writer finding every other slot pinned yields and looks again.
 *  - Memory. Everything is allocated at create (history of
 *    RM_PRESSURE_HISTORY_MAX samples, forecaster scratch, event ring): a tick
 *    never allocates, because it runs exactly when memory is short.
 *  - Levels. desired = max(level of present usage, level asked for by
 *    confident forecasts on forecast_persist_samples samples in a row). A
 *    forecast at horizon index k (ascending) asks for predicted-level − k, but
 *    at least Gentle: far, uncertain futures get gentle measures, near ones
 *    strong measures. The forecast is of usage minus what the reclaimers say
 *    they could free (caches), plus that reclaimable part as it is now: a
 *    buffer pool warming up or refilling after an eviction rose 0.2 %/s with
 *    confidence 1.0 under the demo load, and every 120 s forecast of that
 *    bounded, reclaimable growth raised Gentle, whose eviction started the
 *    next refill (ADR 0005 §5). Up is immediate once persisted; down is one
 *    step at a time, only when neither the present usage nor a confident
 *    forecast reaches within `hysteresis` of the current level's threshold,
 *    and that has held for step_down_hold_sec (the dwell).
 *  - Responder. At level ≥ response_floor the target is the present excess
 *    over target_fraction of the budget; when a forecast set the level, plus
 *    the excess predicted at the triggering horizon h paced over h (a 120 s
 *    forecast asks for 1/120 of it per second, not all of it at once);
 *    reclaimers eligible at the level run in priority order until the target
 *    is met.
 */
#include "rustymem/pressure.h"
#include "rustymem/stats.h"
#include "pressure_internal.h"
#include "rm_internal.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define NS_PER_SEC 1000000000ull
#define LEAK_BUCKETS RM__PRESSURE_LEAK_BUCKETS
#define ESC_RING 64
#define HOUR_NS (3600ull * NS_PER_SEC)

struct rm_pressure_reclaimer {
    rm_pressure_reclaimer_def_t def;       /* as registered, but def.name points at name */
    char name[RM_PRESSURE_NAME_MAX];
    uint64_t calls, bytes;                 /* guarded by tick_mu */
    struct rm_pressure_reclaimer *next;    /* guarded by tick_mu; sorted by priority */
};

struct rm_pressure {
    pthread_mutex_t tick_mu;
    rm_pressure_config_t cfg;              /* guarded by tick_mu (writes also hold pub_mu) */
    char proc_root[RM_SYSINFO_PATH_MAX];   /* immutable after create */
    char cgroup_root[RM_SYSINFO_PATH_MAX];
    int has_paths;

    /* history ring: time (s) and used bytes; guarded by tick_mu */
    double hist_t[RM_PRESSURE_HISTORY_MAX];
    double hist_used[RM_PRESSURE_HISTORY_MAX];
    double hist_recl[RM_PRESSURE_HISTORY_MAX];   /* reclaimable bytes at that sample */
    uint32_t hist_n, hist_head;            /* head = next slot */
    double fit_t[RM_PRESSURE_HISTORY_MAX], fit_y[RM_PRESSURE_HISTORY_MAX];
    double fit_r[RM_PRESSURE_HISTORY_MAX]; /* (used − reclaimable) / budget: the level's forecast series */
    double *scratch;                       /* rm__pressure_scratch_len(HISTORY_MAX) */
    uint64_t last_t_ns;
    int have_last;

    /* leak detector: bucket means over leak_window_sec; guarded by tick_mu */
    double leak_t[LEAK_BUCKETS], leak_y[LEAK_BUCKETS];
    uint32_t leak_n, leak_head;
    uint64_t leak_bucket_start_ns;
    double leak_sum;
    uint32_t leak_cnt;

    /* level machine; guarded by tick_mu */
    rm_pressure_level_t level;
    rm_pressure_trigger_t trigger;
    uint64_t below_since_ns;               /* 0 = not holding for a step down */
    rm__fc_state_t fcs;                    /* the forecaster's memory between samples */
    uint64_t esc_t[ESC_RING];              /* times of upward level changes */
    uint32_t esc_head;

    rm_pressure_reclaimer_t *reclaimers;   /* guarded by tick_mu */
    uint32_t n_reclaimers;

    /* alerts; guarded by tick_mu */
    rm_pressure_alert_t alert[RM_ALERT_KINDS];
    int alert_active[RM_ALERT_KINDS];
    uint32_t alert_streak[RM_ALERT_KINDS]; /* consecutive samples that asked for another state */
    uint64_t alloc_fail_seen;
    uint64_t alloc_fail_last_ns;

    /* alerts the host raises (rm_pressure_set_host_alert); guarded by tick_mu */
    rm_pressure_alert_t host_alert[RM_PRESSURE_HOST_ALERTS_MAX];
    int host_active[RM_PRESSURE_HOST_ALERTS_MAX];

    rm_pressure_event_fn ev_fn;            /* guarded by tick_mu */
    void *ev_ctx;

    rm_pressure_stats_t st;                /* guarded by tick_mu; published copy in pub_st */
    uint64_t alloc_failures;               /* atomic */
    uint64_t rejudge_req;                  /* atomic: rm_pressure_rejudge calls */
    uint64_t rejudge_seen, rejudge_done;   /* guarded by tick_mu: rejudge_req when the sample began; applied */
    int th_kick;                           /* guarded by th_mu: rm_pressure_kick since the last tick */

    pthread_mutex_t pub_mu;
    rm_pressure_config_t pub_cfg;          /* guarded by pub_mu */
    rm_pressure_forecast_t pub_fc;         /* guarded by pub_mu */
    rm_pressure_alert_t pub_alerts[RM_ALERT_KINDS + RM_PRESSURE_HOST_ALERTS_MAX];   /* guarded by pub_mu */
    size_t pub_n_alerts;
    rm_pressure_stats_t pub_st;            /* guarded by pub_mu */

    pthread_mutex_t ev_mu;
    pthread_cond_t ev_cv;
    rm_pressure_event_t *ev;               /* ring of ev_cap; guarded by ev_mu */
    uint32_t ev_cap;
    uint64_t ev_next_seq;                  /* guarded by ev_mu; first event is 1 */
    uint64_t ev_wake_gen;                  /* guarded by ev_mu */

    pthread_mutex_t th_mu;
    pthread_cond_t th_cv;
    pthread_t th;
    int th_running, th_stop;               /* guarded by th_mu */

    /* the published snapshot (see the design note) */
    pthread_mutex_t snap_mu;               /* writers only */
    uint32_t snap_cur;                     /* atomic: index of the current slot */
    uint32_t snap_readers[RM_PRESSURE_SNAPSHOT_SLOTS];   /* atomic: readers pinning each slot */
    rm_pressure_snapshot_t snap[RM_PRESSURE_SNAPSHOT_SLOTS];   /* written only by a snap_mu holder, only
                                                                * while neither current nor pinned */
    uint64_t snap_seq;                     /* guarded by snap_mu */
    uint64_t fresh_last_ns;                /* atomic: start of the last fresh read (the rate limit) */
    const rm_pressure_snapshot_t *tick_sys;/* guarded by tick_mu: a tick's reading, published with its forecast */
    rm_pressure_snapshot_t tick_snap;      /* guarded by tick_mu: where tick_sys points during a tick */
};

/* ---- names and configuration ------------------------------------------- */

/* The name functions of pressure.h: names[v], or `unknown` out of range. */
#define NAME_FN(FN, T, UNKNOWN, ...)                                                          \
    const char *FN(T v)                                                                       \
    {                                                                                         \
        static const char *const n[] = {__VA_ARGS__};                                         \
        return (unsigned)v < RM_ARRAY_LEN(n) ? n[v] : UNKNOWN;                                \
    }

NAME_FN(rm_pressure_level_name, rm_pressure_level_t, "Unknown",
        "Monitor", "Gentle", "Aggressive", "Emergency", "OOMPrevention")
NAME_FN(rm_pressure_action_name, rm_pressure_level_t, "Unknown",
        "None", "GentleEviction", "AggressiveEviction", "EmergencyCleanup", "OomPrevention")
NAME_FN(rm_forecast_model_name, rm_forecast_model_t, "unknown", "linear", "holt", "theil_sen", "ensemble")
NAME_FN(rm_pressure_trigger_name, rm_pressure_trigger_t, "unknown", "current", "forecast", "manual")
NAME_FN(rm_pressure_event_kind_name, rm_pressure_event_kind_t, "unknown",
        "level_change", "reclaim", "escalate", "alert_raised", "alert_cleared")
NAME_FN(rm_alert_kind_name, rm_alert_kind_t, "unknown",
        "usage_high", "fragmentation", "pressure_events", "alloc_failures", "low_free", "leak",
        "oom_prevention")

const char *
rm_alert_severity_name(rm_alert_severity_t s)
{
    return s == RM_ALERT_CRITICAL ? "critical" : "warning";
}

void
rm_pressure_config_default(rm_pressure_config_t *out)
{
    static const rm_pressure_config_t defaults = {
        .warning_threshold = 0.70,
        .high_pressure_threshold = 0.80,
        .critical_threshold = 0.90,
        .emergency_threshold = 0.95,
        .history_size = 60,
        .n_horizons = 3,
        .horizons_sec = {30, 60, 120},
        .min_confidence = 0.7,
        .confidence_tolerance = 0.05,
        .model = RM_FORECAST_THEIL_SEN,
        .budget_bytes = 0,
        .hysteresis = 0.05,
        .step_down_hold_sec = 30,
        .forecast_persist_samples = 5,
        .warning_min_probability = 0.95,
        .warning_persist_samples = 10,
        .act_on_forecast = 1,
        .response_floor = RM_PRESSURE_GENTLE,
        .target_fraction = 0.675,
        .leak_window_sec = 600,
        .leak_min_r2 = 0.90,
        .leak_min_growth = 0.05,
        .frag_min_held_bytes = 1024.0 * 1024.0,
        .frag_warning = 0.20,
        .frag_critical = 0.35,
        .frag_persist_samples = 10,
        .events_per_hour = 5,
        .event_capacity = 1024,
        .period_ms = 1000,
    };
    *out = defaults;
}

rm_status_t
rm_pressure_config_profile(rm_pressure_profile_t profile, rm_pressure_config_t *out)
{
    static const struct {
        double w, h, c, e;
        uint32_t hist;
    } tab[] = {
        /* warning, critical and history are the seed's; high is the midpoint of
         * warning and critical, emergency critical + half the headroom left — the
         * same rule as the knob registry's environment profiles (knobs_defs.c). */
        [RM_PRESSURE_PROFILE_DEVELOPMENT] = {0.80, 0.875, 0.95, 0.975, 60},
        [RM_PRESSURE_PROFILE_PRODUCTION] = {0.70, 0.80, 0.90, 0.95, 60},
        [RM_PRESSURE_PROFILE_MISSION_CRITICAL] = {0.60, 0.725, 0.85, 0.925, 120},
    };
    if (!out || (unsigned)profile >= RM_ARRAY_LEN(tab))
        return RM_EINVAL;
    rm_pressure_config_default(out);
    out->warning_threshold = tab[profile].w;
    out->high_pressure_threshold = tab[profile].h;
    out->critical_threshold = tab[profile].c;
    out->emergency_threshold = tab[profile].e;
    out->history_size = tab[profile].hist;
    out->target_fraction = tab[profile].w - out->hysteresis / 2;
    return RM_OK;
}

rm_status_t
rm_pressure_profile_from_name(const char *name, rm_pressure_profile_t *out)
{
    if (!name || !out)
        return RM_EINVAL;
    if (strcmp(name, "development") == 0)
        *out = RM_PRESSURE_PROFILE_DEVELOPMENT;
    else if (strcmp(name, "production") == 0)
        *out = RM_PRESSURE_PROFILE_PRODUCTION;
    else if (strcmp(name, "mission_critical") == 0 || strcmp(name, "mission-critical") == 0)
        *out = RM_PRESSURE_PROFILE_MISSION_CRITICAL;
    else
        return RM_ENOENT;
    return RM_OK;
}

rm_status_t
rm_pressure_config_validate(const rm_pressure_config_t *c)
{
    if (!c)
        return RM_EINVAL;
    if (!(c->warning_threshold > 0 && c->warning_threshold < c->high_pressure_threshold &&
          c->high_pressure_threshold < c->critical_threshold &&
          c->critical_threshold < c->emergency_threshold && c->emergency_threshold <= 1.0))
        return RM_EINVAL;
    if (c->history_size < 8 || c->history_size > RM_PRESSURE_HISTORY_MAX)
        return RM_EINVAL;
    if (c->n_horizons < 1 || c->n_horizons > RM_PRESSURE_HORIZONS_MAX)
        return RM_EINVAL;
    for (uint32_t i = 0; i < c->n_horizons; i++)
        if (c->horizons_sec[i] == 0 || c->horizons_sec[i] > 86400 ||
            (i && c->horizons_sec[i] <= c->horizons_sec[i - 1]))
            return RM_EINVAL;
    if (!(c->min_confidence >= 0 && c->min_confidence <= 1) ||
        !(c->confidence_tolerance > 0 && c->confidence_tolerance <= 1))
        return RM_EINVAL;
    if ((unsigned)c->model > RM_FORECAST_ENSEMBLE)
        return RM_EINVAL;
    if (!(c->hysteresis >= 0 && c->hysteresis < c->warning_threshold))
        return RM_EINVAL;
    if ((unsigned)c->response_floor > RM_PRESSURE_OOM_PREVENTION ||
        c->response_floor == RM_PRESSURE_MONITOR)
        return RM_EINVAL;
    if (!(c->target_fraction > 0 && c->target_fraction < c->critical_threshold))
        return RM_EINVAL;
    if (c->leak_window_sec < LEAK_BUCKETS || !(c->leak_min_r2 >= 0 && c->leak_min_r2 <= 1) ||
        !(c->leak_min_growth > 0))
        return RM_EINVAL;
    if (c->event_capacity < 16 || c->event_capacity > (1u << 20))
        return RM_EINVAL;
    if (!(c->warning_min_probability > 0 && c->warning_min_probability < 1))
        return RM_EINVAL;
    if (c->warning_persist_samples < 1 || c->warning_persist_samples > 3600)
        return RM_EINVAL;
    if (c->forecast_persist_samples < 1 || c->forecast_persist_samples > 3600 ||
        c->step_down_hold_sec > 86400)
        return RM_EINVAL;
    if (c->period_ms < 10 || c->period_ms > 600000)
        return RM_EINVAL;
    if (!(c->frag_min_held_bytes >= 0))
        return RM_EINVAL;
    if (!(c->frag_warning > 0 && c->frag_warning < c->frag_critical && c->frag_critical <= 1) ||
        c->events_per_hour < 1 || c->frag_persist_samples < 1 || c->frag_persist_samples > 3600)
        return RM_EINVAL;
    return RM_OK;
}

/* ---- create / destroy -------------------------------------------------- */

rm_status_t
rm_pressure_create(const rm_pressure_config_t *cfg, const rm_sysinfo_paths_t *paths,
                   rm_pressure_t **out)
{
    rm_pressure_config_t c;
    rm_status_t rc = RM_ENOMEM;
    if (!out)
        return RM_EINVAL;
    if (cfg)
        c = *cfg;
    else
        rm_pressure_config_default(&c);
    if (rm_pressure_config_validate(&c) != RM_OK)
        return RM_EINVAL;

    rm_pressure_t *p = calloc(1, sizeof *p);
    if (!p)
        return RM_ENOMEM;
    p->scratch = malloc(rm__pressure_scratch_len(RM_PRESSURE_HISTORY_MAX) * sizeof(double));
    if (!p->scratch)
        goto fail_scratch;
    p->ev_cap = c.event_capacity;
    p->ev = calloc(p->ev_cap, sizeof *p->ev);
    if (!p->ev)
        goto fail_ev;
    if (pthread_mutex_init(&p->tick_mu, NULL))
        goto fail_tick;
    if (pthread_mutex_init(&p->pub_mu, NULL))
        goto fail_pub;
    if (pthread_mutex_init(&p->ev_mu, NULL))
        goto fail_evmu;
    if (pthread_cond_init(&p->ev_cv, NULL))
        goto fail_evcv;
    if (pthread_mutex_init(&p->th_mu, NULL))
        goto fail_thmu;
    if (pthread_cond_init(&p->th_cv, NULL))
        goto fail_thcv;
    if (pthread_mutex_init(&p->snap_mu, NULL))
        goto fail_snap;

    if (paths) {
        p->has_paths = 1;
        snprintf(p->proc_root, sizeof p->proc_root, "%s", paths->proc_root ? paths->proc_root : "/proc");
        snprintf(p->cgroup_root, sizeof p->cgroup_root, "%s",
                 paths->cgroup_root ? paths->cgroup_root : "/sys/fs/cgroup");
    }
    p->cfg = c;
    p->pub_cfg = c;
    p->ev_next_seq = 1;
    p->level = RM_PRESSURE_MONITOR;
    p->st.usage_source = p->pub_st.usage_source = "none";
    p->st.budget_source = p->pub_st.budget_source = "none";
    *out = p;
    return RM_OK;

fail_snap:
    pthread_cond_destroy(&p->th_cv);
fail_thcv:
    pthread_mutex_destroy(&p->th_mu);
fail_thmu:
    pthread_cond_destroy(&p->ev_cv);
fail_evcv:
    pthread_mutex_destroy(&p->ev_mu);
fail_evmu:
    pthread_mutex_destroy(&p->pub_mu);
fail_pub:
    pthread_mutex_destroy(&p->tick_mu);
fail_tick:
    free(p->ev);
fail_ev:
    free(p->scratch);
fail_scratch:
    free(p);
    return rc;
}

void
rm_pressure_destroy(rm_pressure_t *p)
{
    if (!p)
        return;
    rm_pressure_stop(p);
    rm_pressure_reclaimer_t *r = p->reclaimers;
    while (r) {
        rm_pressure_reclaimer_t *n = r->next;
        free(r);
        r = n;
    }
    pthread_mutex_destroy(&p->snap_mu);
    pthread_cond_destroy(&p->th_cv);
    pthread_mutex_destroy(&p->th_mu);
    pthread_cond_destroy(&p->ev_cv);
    pthread_mutex_destroy(&p->ev_mu);
    pthread_mutex_destroy(&p->pub_mu);
    pthread_mutex_destroy(&p->tick_mu);
    free(p->ev);
    free(p->scratch);
    free(p);
}

void
rm_pressure_get_config(rm_pressure_t *p, rm_pressure_config_t *out)
{
    pthread_mutex_lock(&p->pub_mu);
    *out = p->pub_cfg;
    pthread_mutex_unlock(&p->pub_mu);
}

rm_status_t
rm_pressure_set_config(rm_pressure_t *p, const rm_pressure_config_t *cfg)
{
    if (!p || rm_pressure_config_validate(cfg) != RM_OK)
        return RM_EINVAL;
    pthread_mutex_lock(&p->tick_mu);
    uint32_t cap = p->cfg.event_capacity;
    p->cfg = *cfg;
    p->cfg.event_capacity = cap;   /* the ring is sized at create */
    if (p->hist_n > p->cfg.history_size)
        p->hist_n = p->cfg.history_size;   /* keep the newest */
    pthread_mutex_lock(&p->pub_mu);
    p->pub_cfg = p->cfg;
    pthread_mutex_unlock(&p->pub_mu);
    pthread_mutex_unlock(&p->tick_mu);
    return RM_OK;
}

/* Apply `edit` to a copy of the config and install it if valid. */
#define EDIT_CONFIG(p, stmt)                                                   \
    do {                                                                       \
        if (!(p))                                                              \
            return RM_EINVAL;                                                  \
        rm_pressure_config_t c_;                                               \
        rm_pressure_get_config((p), &c_);                                      \
        stmt;                                                                  \
        return rm_pressure_set_config((p), &c_);                               \
    } while (0)

rm_status_t
rm_pressure_set_budget_bytes(rm_pressure_t *p, uint64_t bytes)
{
    EDIT_CONFIG(p, c_.budget_bytes = bytes);
}

rm_status_t
rm_pressure_set_thresholds(rm_pressure_t *p, double warning, double high, double critical,
                           double emergency)
{
    EDIT_CONFIG(p, (c_.warning_threshold = warning, c_.high_pressure_threshold = high,
                    c_.critical_threshold = critical, c_.emergency_threshold = emergency,
                    c_.target_fraction = c_.target_fraction < warning ? c_.target_fraction
                                                                       : warning - c_.hysteresis / 2));
}

rm_status_t
rm_pressure_set_min_confidence(rm_pressure_t *p, double conf)
{
    EDIT_CONFIG(p, c_.min_confidence = conf);
}

rm_status_t
rm_pressure_set_horizons(rm_pressure_t *p, const uint32_t *sec, uint32_t n)
{
    if (!sec || n == 0 || n > RM_PRESSURE_HORIZONS_MAX)
        return RM_EINVAL;
    EDIT_CONFIG(p, (c_.n_horizons = n, memcpy(c_.horizons_sec, sec, n * sizeof *sec)));
}

/* ---- events ------------------------------------------------------------ */

static void
record_event_locked(rm_pressure_t *p, rm_pressure_event_t *ev)
{
    RM_ASSERT_LOCKED(&p->tick_mu);
    pthread_mutex_lock(&p->ev_mu);
    ev->seq = p->ev_next_seq++;
    p->ev[(ev->seq - 1) % p->ev_cap] = *ev;
    pthread_cond_broadcast(&p->ev_cv);
    pthread_mutex_unlock(&p->ev_mu);
    p->st.events_recorded++;
    if (p->ev_fn)
        p->ev_fn(p->ev_ctx, ev);
}

static void
emit(rm_pressure_t *p, uint64_t t_ns, rm_pressure_event_kind_t kind, rm_pressure_level_t prev,
     const char *name, uint64_t target, uint64_t freed, double usage, double pred, uint32_t hz)
{
    rm_pressure_event_t ev;
    memset(&ev, 0, sizeof ev);
    ev.t_ns = t_ns;
    ev.kind = kind;
    /* a reclaim reports the level it ran at (the requested one for a manual
     * trigger) and, as prev_level, the responder's level at the time; every
     * other event the level in force */
    ev.level = kind == RM_EVENT_RECLAIM ? prev : p->level;
    ev.prev_level = kind == RM_EVENT_RECLAIM ? p->level : prev;
    ev.trigger = p->trigger;
    if (name)
        snprintf(ev.name, sizeof ev.name, "%s", name);
    ev.target_bytes = target;
    ev.bytes_reclaimed = freed;
    ev.usage = usage;
    ev.predicted_usage = pred;
    ev.horizon_sec = hz;
    record_event_locked(p, &ev);
}

void
rm_pressure_events_read(rm_pressure_t *p, uint64_t *cursor, rm_pressure_event_t *out, size_t cap,
                        size_t *n, uint64_t *dropped)
{
    size_t k = 0;
    uint64_t lost = 0;
    pthread_mutex_lock(&p->ev_mu);
    uint64_t oldest = p->ev_next_seq > p->ev_cap ? p->ev_next_seq - p->ev_cap : 1;
    uint64_t s = *cursor < 1 ? 1 : *cursor;
    if (s < oldest) {
        lost = *cursor < 1 ? 0 : oldest - s;
        s = oldest;
    }
    for (; s < p->ev_next_seq && k < cap; s++)
        out[k++] = p->ev[(s - 1) % p->ev_cap];
    pthread_mutex_unlock(&p->ev_mu);
    *cursor = s;
    if (n)
        *n = k;
    if (dropped)
        *dropped = lost;
}

uint64_t
rm_pressure_events_head(rm_pressure_t *p)
{
    return RM_LOCKED_READ(&p->ev_mu, p->ev_next_seq);
}

rm_status_t
rm_pressure_events_wait(rm_pressure_t *p, uint64_t cursor, uint32_t timeout_ms)
{
    struct timespec dl = rm__deadline_after_ns(CLOCK_REALTIME, (uint64_t)timeout_ms * 1000000ull);
    rm_status_t rc = RM_OK;
    pthread_mutex_lock(&p->ev_mu);
    uint64_t gen = p->ev_wake_gen;
    while (p->ev_next_seq <= cursor) {
        if (p->ev_wake_gen != gen) {
            rc = RM_ECANCELED;
            break;
        }
        if (pthread_cond_timedwait(&p->ev_cv, &p->ev_mu, &dl) == ETIMEDOUT) {
            rc = p->ev_next_seq > cursor ? RM_OK : RM_ETIMEDOUT;
            break;
        }
    }
    pthread_mutex_unlock(&p->ev_mu);
    return rc;
}

void
rm_pressure_events_wake(rm_pressure_t *p)
{
    pthread_mutex_lock(&p->ev_mu);
    p->ev_wake_gen++;
    pthread_cond_broadcast(&p->ev_cv);
    pthread_mutex_unlock(&p->ev_mu);
}

void
rm_pressure_set_event_callback(rm_pressure_t *p, rm_pressure_event_fn fn, void *ctx)
{
    pthread_mutex_lock(&p->tick_mu);
    p->ev_fn = fn;
    p->ev_ctx = fn ? ctx : NULL;
    pthread_mutex_unlock(&p->tick_mu);
}

/* ---- reclaimers -------------------------------------------------------- */

rm_status_t
rm_pressure_reclaimer_add(rm_pressure_t *p, const rm_pressure_reclaimer_def_t *def,
                          rm_pressure_reclaimer_t **out)
{
    if (!p || !def || !def->name || !*def->name || (!def->reclaim && !def->on_level) ||
        def->start_level < RM_PRESSURE_GENTLE || def->start_level > RM_PRESSURE_OOM_PREVENTION)
        return RM_EINVAL;
    rm_pressure_reclaimer_t *r = calloc(1, sizeof *r);
    if (!r)
        return RM_ENOMEM;
    snprintf(r->name, sizeof r->name, "%s", def->name);
    r->def = *def;
    r->def.name = r->name;

    pthread_mutex_lock(&p->tick_mu);
    rm_pressure_reclaimer_t **pp = &p->reclaimers;
    while (*pp && (*pp)->def.priority <= r->def.priority)
        pp = &(*pp)->next;
    r->next = *pp;
    *pp = r;
    p->n_reclaimers++;
    p->st.reclaimers = p->n_reclaimers;
    pthread_mutex_unlock(&p->tick_mu);
    if (out)
        *out = r;
    return RM_OK;
}

void
rm_pressure_reclaimer_remove(rm_pressure_t *p, rm_pressure_reclaimer_t *r)
{
    if (!p || !r)
        return;
    pthread_mutex_lock(&p->tick_mu);
    for (rm_pressure_reclaimer_t **pp = &p->reclaimers; *pp; pp = &(*pp)->next)
        if (*pp == r) {
            *pp = r->next;
            p->n_reclaimers--;
            p->st.reclaimers = p->n_reclaimers;
            break;
        }
    pthread_mutex_unlock(&p->tick_mu);
    free(r);
}

static uint64_t
reclaimable_locked(rm_pressure_t *p, rm_pressure_level_t level)
{
    RM_ASSERT_LOCKED(&p->tick_mu);
    uint64_t sum = 0;
    for (rm_pressure_reclaimer_t *r = p->reclaimers; r; r = r->next)
        if (r->def.estimate && r->def.start_level <= level)
            sum += r->def.estimate(r->def.ctx, level);
    return sum;
}

uint64_t
rm_pressure_reclaimable(rm_pressure_t *p, rm_pressure_level_t level)
{
    return RM_LOCKED_READ(&p->tick_mu, reclaimable_locked(p, level));
}

void
rm_pressure_note_alloc_failure(rm_pressure_t *p)
{
    if (p)
        __atomic_fetch_add(&p->alloc_failures, 1, __ATOMIC_RELAXED);
}

/* Run eligible reclaimers in priority order until `target` is met. */
static uint64_t
respond_locked(rm_pressure_t *p, uint64_t t_ns, rm_pressure_level_t level, uint64_t target,
               double usage, double pred, uint32_t hz)
{
    RM_ASSERT_LOCKED(&p->tick_mu);
    uint64_t total = 0;
    for (rm_pressure_reclaimer_t *r = p->reclaimers; r && total < target; r = r->next) {
        if (!r->def.reclaim || r->def.start_level > level)
            continue;
        uint64_t want = target - total;
        uint64_t freed = r->def.reclaim(r->def.ctx, level, want);
        r->calls++;
        r->bytes += freed;
        p->st.reclaim_calls++;
        p->st.bytes_reclaimed += freed;
        p->st.bytes_reclaimed_by_level[level] += freed;
        total += freed;
        if (freed)
            emit(p, t_ns, RM_EVENT_RECLAIM, level, r->name, want, freed, usage, pred, hz);
    }
    return total;
}

static void
notify_level_locked(rm_pressure_t *p, rm_pressure_level_t old, rm_pressure_level_t nw)
{
    RM_ASSERT_LOCKED(&p->tick_mu);
    for (rm_pressure_reclaimer_t *r = p->reclaimers; r; r = r->next)
        if (r->def.on_level)
            r->def.on_level(r->def.ctx, old, nw);
}

/* ---- levels ------------------------------------------------------------ */

static uint64_t
escalations_last_hour_locked(rm_pressure_t *p, uint64_t now)
{
    RM_ASSERT_LOCKED(&p->tick_mu);
    uint64_t n = 0;
    for (uint32_t i = 0; i < ESC_RING; i++)
        if (p->esc_t[i] && now - p->esc_t[i] < HOUR_NS)
            n++;
    return n;
}

static void
change_level_locked(rm_pressure_t *p, uint64_t t_ns, rm_pressure_level_t nl,
                    rm_pressure_trigger_t trig, double usage, double pred, uint32_t hz)
{
    RM_ASSERT_LOCKED(&p->tick_mu);
    rm_pressure_level_t old = p->level;
    if (nl == old)
        return;
    p->level = nl;
    p->trigger = trig;
    p->st.level_changes++;
    if (nl > old) {
        p->st.escalations++;
        p->esc_t[p->esc_head] = t_ns ? t_ns : 1;
        p->esc_head = (p->esc_head + 1) % ESC_RING;
    }
    emit(p, t_ns, RM_EVENT_LEVEL_CHANGE, old, rm_pressure_level_name(nl), 0, 0, usage, pred, hz);
    if (nl == RM_PRESSURE_OOM_PREVENTION)
        emit(p, t_ns, RM_EVENT_ESCALATE, old, "oom_prevention", 0, 0, usage, pred, hz);
    notify_level_locked(p, old, nl);
}

/* ---- alerts ------------------------------------------------------------ */

/*
 * Bring alert k to (on, sev). With persist > 1 a change (raise, clear or a new
 * severity) takes effect only after `persist` consecutive samples ask for it;
 * until then the alert keeps its state and, if active, its value is refreshed.
 */
static void
set_alert_persist_locked(rm_pressure_t *p, uint64_t t_ns, rm_alert_kind_t k, int on, rm_alert_severity_t sev,
                         double value, double thr, const char *subject, const char *msg, uint32_t persist)
{
    RM_ASSERT_LOCKED(&p->tick_mu);
    rm_pressure_alert_t *a = &p->alert[k];
    int same = on ? p->alert_active[k] && a->severity == sev : !p->alert_active[k];
    if (same) {
        p->alert_streak[k] = 0;
    } else if (++p->alert_streak[k] < persist) {
        if (p->alert_active[k]) {
            a->updated_ns = t_ns;
            a->value = value;
        }
        return;
    } else {
        p->alert_streak[k] = 0;
    }
    if (!on) {
        if (p->alert_active[k]) {
            p->alert_active[k] = 0;
            emit(p, t_ns, RM_EVENT_ALERT_CLEARED, p->level, rm_alert_kind_name(k), 0, 0, 0, 0, 0);
        }
        return;
    }
    int raise = !p->alert_active[k] || a->severity != sev;
    if (!p->alert_active[k])
        a->since_ns = t_ns;
    p->alert_active[k] = 1;
    a->kind = k;
    a->severity = sev;
    a->updated_ns = t_ns;
    a->value = value;
    a->threshold = thr;
    snprintf(a->subject, sizeof a->subject, "%s", subject ? subject : "");
    snprintf(a->message, sizeof a->message, "%s", msg);
    if (raise)
        emit(p, t_ns, RM_EVENT_ALERT_RAISED, p->level, rm_alert_kind_name(k), 0, 0, value, 0, 0);
}

static void
set_alert_locked(rm_pressure_t *p, uint64_t t_ns, rm_alert_kind_t k, int on, rm_alert_severity_t sev,
                 double value, double thr, const char *subject, const char *msg)
{
    RM_ASSERT_LOCKED(&p->tick_mu);
    set_alert_persist_locked(p, t_ns, k, on, sev, value, thr, subject, msg, 1);
}

static void
leak_update_locked(rm_pressure_t *p, uint64_t t_ns, double used)
{
    RM_ASSERT_LOCKED(&p->tick_mu);
    uint64_t blen = (uint64_t)p->cfg.leak_window_sec * NS_PER_SEC / LEAK_BUCKETS;
    if (p->leak_cnt == 0)
        p->leak_bucket_start_ns = t_ns;
    p->leak_sum += used;
    p->leak_cnt++;
    if (t_ns - p->leak_bucket_start_ns >= blen) {
        p->leak_t[p->leak_head] = (double)t_ns / 1e9;
        p->leak_y[p->leak_head] = p->leak_sum / p->leak_cnt;
        p->leak_head = (p->leak_head + 1) % LEAK_BUCKETS;
        if (p->leak_n < LEAK_BUCKETS)
            p->leak_n++;
        p->leak_sum = 0;
        p->leak_cnt = 0;
    }
}

/*
 * value > thr for alert kind k at severity sev — or, while that alert is
 * already active at sev or above, value > thr − hysteresis: a value that hovers
 * at a line (slab fragmentation under load did) must not raise and clear the
 * alert at every sample.
 */
static int
over_locked(const rm_pressure_t *p, rm_alert_kind_t k, rm_alert_severity_t sev, double value, double thr)
{
    RM_ASSERT_LOCKED(&p->tick_mu);
    return value > thr || (p->alert_active[k] && p->alert[k].severity >= sev && value > thr - p->cfg.hysteresis);
}

static void
alerts_update_locked(rm_pressure_t *p, const rm_pressure_sample_t *s, double usage, uint64_t budget)
{
    RM_ASSERT_LOCKED(&p->tick_mu);
    const rm_pressure_config_t *c = &p->cfg;
    uint64_t t = s->t_ns;
    char msg[128];

    snprintf(msg, sizeof msg, "memory usage %.1f%% of the %llu-byte budget", usage * 100,
             (unsigned long long)budget);
    if (over_locked(p, RM_ALERT_USAGE_HIGH, RM_ALERT_CRITICAL, usage, c->critical_threshold))
        set_alert_locked(p, t, RM_ALERT_USAGE_HIGH, 1, RM_ALERT_CRITICAL, usage,
                         c->critical_threshold, NULL, msg);
    else
        set_alert_locked(p, t, RM_ALERT_USAGE_HIGH,
                         over_locked(p, RM_ALERT_USAGE_HIGH, RM_ALERT_WARNING, usage, c->warning_threshold),
                         RM_ALERT_WARNING, usage, c->warning_threshold, NULL, msg);

    snprintf(msg, sizeof msg, "fragmentation %.1f%% in %s", s->fragmentation * 100,
             s->frag_component[0] ? s->frag_component : "memcore");
    /* fragmentation must persist (frag_persist_samples): a transaction's arena
     * or a refilled block cache takes a component across frag_min_held_bytes
     * and back within a second, which raised and cleared the alert each time */
    if (over_locked(p, RM_ALERT_FRAGMENTATION, RM_ALERT_CRITICAL, s->fragmentation, c->frag_critical))
        set_alert_persist_locked(p, t, RM_ALERT_FRAGMENTATION, 1, RM_ALERT_CRITICAL, s->fragmentation,
                                 c->frag_critical, s->frag_component, msg, c->frag_persist_samples);
    else
        set_alert_persist_locked(
            p, t, RM_ALERT_FRAGMENTATION,
            over_locked(p, RM_ALERT_FRAGMENTATION, RM_ALERT_WARNING, s->fragmentation, c->frag_warning),
            RM_ALERT_WARNING, s->fragmentation, c->frag_warning, s->frag_component, msg, c->frag_persist_samples);

    uint64_t esc = escalations_last_hour_locked(p, t);
    p->st.escalations_last_hour = esc;
    snprintf(msg, sizeof msg, "%llu pressure events in the last hour", (unsigned long long)esc);
    set_alert_locked(p, t, RM_ALERT_PRESSURE_EVENTS, esc > c->events_per_hour, RM_ALERT_WARNING, (double)esc,
                     c->events_per_hour, NULL, msg);

    uint64_t fails = __atomic_load_n(&p->alloc_failures, __ATOMIC_RELAXED);
    p->st.alloc_failures = fails;
    if (fails != p->alloc_fail_seen) {
        p->alloc_fail_seen = fails;
        p->alloc_fail_last_ns = t ? t : 1;
    }
    snprintf(msg, sizeof msg, "%llu allocation failures (last within the hour)",
             (unsigned long long)fails);
    set_alert_locked(p, t, RM_ALERT_ALLOC_FAILURES,
                     p->alloc_fail_last_ns && t - p->alloc_fail_last_ns < HOUR_NS, RM_ALERT_WARNING,
                     (double)fails, 0, NULL, msg);

    double free_frac = 1.0 - usage;
    snprintf(msg, sizeof msg, "only %.1f%% of the budget free: OOM imminent", free_frac * 100);
    set_alert_locked(p, t, RM_ALERT_LOW_FREE, free_frac < 0.05, RM_ALERT_CRITICAL, free_frac, 0.05,
                     NULL, msg);

    int leak = 0;
    double slope = 0, icpt = 0, r2 = 0, growth = 0;
    if (p->leak_n == LEAK_BUCKETS) {
        double tt[LEAK_BUCKETS], yy[LEAK_BUCKETS];
        double t0 = p->leak_t[(p->leak_head + LEAK_BUCKETS - 1) % LEAK_BUCKETS];
        for (uint32_t i = 0; i < LEAK_BUCKETS; i++) {
            uint32_t j = (p->leak_head + i) % LEAK_BUCKETS;
            tt[i] = p->leak_t[j] - t0;
            yy[i] = p->leak_y[j] / (double)budget;
        }
        rm__pressure_linfit(tt, yy, LEAK_BUCKETS, &slope, &icpt, &r2);
        growth = slope * (tt[LEAK_BUCKETS - 1] - tt[0]);
        leak = slope > 0 && r2 >= c->leak_min_r2 && growth >= c->leak_min_growth;
    }
    snprintf(msg, sizeof msg, "sustained growth: +%.1f%% of budget over %us (R2 %.2f)", growth * 100,
             c->leak_window_sec, r2);
    set_alert_locked(p, t, RM_ALERT_LEAK, leak, RM_ALERT_CRITICAL, slope, c->leak_min_growth, NULL,
                     msg);

    snprintf(msg, sizeof msg, "OOM prevention: usage %.1f%%, escalate to the administrator",
             usage * 100);
    set_alert_locked(p, t, RM_ALERT_OOM_PREVENTION, p->level == RM_PRESSURE_OOM_PREVENTION,
                     RM_ALERT_CRITICAL, usage, c->emergency_threshold, NULL, msg);
}

/* ---- the snapshot ------------------------------------------------------ */

/*
 * Publish a new snapshot: the current one with its system part replaced by
 * `sys` (unless `sys` is older than the current reading: a tick that read
 * /proc before a fresh read finished must not move sampled_at back) and its
 * forecast by `fc` and its stats by `st`; each may be NULL. Takes snap_mu.
 */
static void
snapshot_publish(rm_pressure_t *p, const rm_pressure_snapshot_t *sys, const rm_pressure_forecast_t *fc,
                 const rm_pressure_stats_t *st)
{
    if (!sys && !fc && !st)
        return;
    pthread_mutex_lock(&p->snap_mu);
    uint32_t cur = __atomic_load_n(&p->snap_cur, __ATOMIC_SEQ_CST);
    uint32_t j;
    for (;;) {
        for (j = 0; j < RM_PRESSURE_SNAPSHOT_SLOTS; j++)
            if (j != cur && __atomic_load_n(&p->snap_readers[j], __ATOMIC_SEQ_CST) == 0)
                break;
        if (j < RM_PRESSURE_SNAPSHOT_SLOTS)
            break;
        sched_yield();   /* every other slot pinned: readers copy 2 KiB, this is short */
    }
    rm_pressure_snapshot_t *n = &p->snap[j];
    *n = p->snap[cur];   /* only writers (serialised) write slots; readers of `cur` only read */
    if (sys && (!p->snap_seq || sys->sampled_ns >= n->sampled_ns)) {
        n->sampled_ns = sys->sampled_ns;
        n->sampled_unix_ns = sys->sampled_unix_ns;
        n->fresh = sys->fresh;
        n->sys = sys->sys;
        n->usage = sys->usage;
        n->memcore_used_bytes = sys->memcore_used_bytes;
        n->memcore_held_bytes = sys->memcore_held_bytes;
    }
    if (fc)
        n->fc = *fc;
    if (st)
        n->st = *st;
    n->seq = ++p->snap_seq;
    __atomic_store_n(&p->snap_cur, j, __ATOMIC_SEQ_CST);
    pthread_mutex_unlock(&p->snap_mu);
}

rm_status_t
rm_pressure_snapshot(rm_pressure_t *p, rm_pressure_snapshot_t *out)
{
    if (!p || !out)
        return RM_EINVAL;
    uint32_t i;
    for (;;) {
        i = __atomic_load_n(&p->snap_cur, __ATOMIC_SEQ_CST);
        __atomic_fetch_add(&p->snap_readers[i], 1, __ATOMIC_SEQ_CST);
        if (__atomic_load_n(&p->snap_cur, __ATOMIC_SEQ_CST) == i)
            break;
        __atomic_fetch_sub(&p->snap_readers[i], 1, __ATOMIC_SEQ_CST);
    }
    *out = p->snap[i];
    __atomic_fetch_sub(&p->snap_readers[i], 1, __ATOMIC_SEQ_CST);
    return out->seq ? RM_OK : RM_ENOENT;
}

/* memcore's components now (the first RM_COMPONENTS_MAX of them) into comp,
 * and their totals; returns how many were written. */
static size_t
read_components(rm_component_usage_t *comp, uint64_t *used_bytes, uint64_t *held_bytes)
{
    size_t nc = 0;
    rm_stats_components(comp, RM_COMPONENTS_MAX, &nc);
    if (nc > RM_COMPONENTS_MAX)
        nc = RM_COMPONENTS_MAX;
    rm_stats_totals(comp, nc, used_bytes, held_bytes);
    return nc;
}

/* Read the system into the system part of *s (sampled at now_ns). */
static void
read_system(const rm_pressure_t *p, uint64_t now_ns, uint64_t budget_knob, rm_pressure_snapshot_t *s)
{
    rm_sysinfo_paths_t paths = {p->proc_root, p->cgroup_root};
    memset(s, 0, sizeof *s);
    rm_sysinfo_read(p->has_paths ? &paths : NULL, &s->sys);
    s->sampled_ns = now_ns;
    struct timespec rt;
    if (clock_gettime(CLOCK_REALTIME, &rt) == 0 && rt.tv_sec > 0)
        s->sampled_unix_ns = (uint64_t)rt.tv_sec * NS_PER_SEC + (uint64_t)rt.tv_nsec;
    rm_component_usage_t comp[RM_COMPONENTS_MAX];
    (void)read_components(comp, &s->memcore_used_bytes, &s->memcore_held_bytes);
    rm_sysinfo_usage(&s->sys, budget_knob, s->memcore_held_bytes, &s->usage);
}

rm_status_t
rm_pressure_refresh(rm_pressure_t *p, uint64_t now_ns, uint64_t min_interval_ns, rm_pressure_snapshot_t *out,
                    int *refreshed)
{
    if (refreshed)
        *refreshed = 0;
    if (!p)
        return RM_EINVAL;
    rm_pressure_snapshot_t cur;
    rm_status_t rc = rm_pressure_snapshot(p, &cur);
    int young = rc == RM_OK && now_ns >= cur.sampled_ns && now_ns - cur.sampled_ns < min_interval_ns;
    uint64_t last = __atomic_load_n(&p->fresh_last_ns, __ATOMIC_SEQ_CST);
    int recent = last && now_ns >= last && now_ns - last < min_interval_ns;
    /* one winner per interval: the CAS claims it, a loser copies what is there */
    if (young || recent ||
        !__atomic_compare_exchange_n(&p->fresh_last_ns, &last, now_ns ? now_ns : 1, 0, __ATOMIC_SEQ_CST,
                                     __ATOMIC_SEQ_CST)) {
        if (out)
            *out = cur;
        return rc;
    }
    rm_pressure_config_t c;
    rm_pressure_get_config(p, &c);
    rm_pressure_snapshot_t s;
    read_system(p, now_ns, c.budget_bytes, &s);
    s.fresh = 1;
    snapshot_publish(p, &s, NULL, NULL);
    if (refreshed)
        *refreshed = 1;
    if (out)
        return rm_pressure_snapshot(p, out);
    return RM_OK;
}

/* ---- the tick ---------------------------------------------------------- */

static void
publish_locked(rm_pressure_t *p, const rm_pressure_forecast_t *fc)
{
    RM_ASSERT_LOCKED(&p->tick_mu);
    /* one snapshot per tick: its reading together with the forecast made of it */
    snapshot_publish(p, p->tick_sys, fc, &p->st);
    p->tick_sys = NULL;
    pthread_mutex_lock(&p->pub_mu);
    if (fc)
        p->pub_fc = *fc;
    size_t k = 0;
    for (int i = 0; i < RM_ALERT_KINDS; i++)
        if (p->alert_active[i])
            p->pub_alerts[k++] = p->alert[i];
    for (int i = 0; i < RM_PRESSURE_HOST_ALERTS_MAX; i++)
        if (p->host_active[i])
            p->pub_alerts[k++] = p->host_alert[i];
    p->pub_n_alerts = k;
    p->pub_st = p->st;
    pthread_mutex_unlock(&p->pub_mu);
}

/* Feed step 1: accept the sample (time never goes back; a budget from the
 * sample or the knob) and count it. *dt: seconds since the previous sample
 * (the pace of a forecast-driven reclaim). */
static rm_status_t
accept_sample_locked(rm_pressure_t *p, const rm_pressure_sample_t *s, uint64_t *budget, double *dt)
{
    RM_ASSERT_LOCKED(&p->tick_mu);
    const rm_pressure_config_t *c = &p->cfg;
    if (p->have_last && s->t_ns < p->last_t_ns)
        return RM_EINVAL;
    *budget = s->budget_bytes ? s->budget_bytes : c->budget_bytes;
    if (!*budget) {
        p->st.samples_dropped++;
        return RM_ENOENT;
    }
    p->st.budget_source = !s->budget_bytes ? "knob" : s->budget_source ? s->budget_source : "injected";
    *dt = p->have_last ? (double)(s->t_ns - p->last_t_ns) / 1e9 : (double)c->period_ms / 1e3;
    p->last_t_ns = s->t_ns;
    p->have_last = 1;
    p->st.samples++;
    return RM_OK;
}

/* Feed step 2: the history ring, its view relative to now as fractions of the
 * budget (fit_t, fit_y, fit_r) and the leak detector's buckets. Returns
 * whether some sample of the history has a reclaimable part. */
static int
record_history_locked(rm_pressure_t *p, const rm_pressure_sample_t *s, uint64_t budget, uint64_t recl)
{
    RM_ASSERT_LOCKED(&p->tick_mu);
    const rm_pressure_config_t *c = &p->cfg;
    p->hist_t[p->hist_head] = (double)s->t_ns / 1e9;
    p->hist_used[p->hist_head] = (double)s->used_bytes;
    p->hist_recl[p->hist_head] = (double)recl;
    p->hist_head = (p->hist_head + 1) % RM_PRESSURE_HISTORY_MAX;
    if (p->hist_n < c->history_size)
        p->hist_n++;
    size_t n = p->hist_n;
    double tnow = (double)s->t_ns / 1e9, b = (double)budget;
    int recl_seen = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t j = (p->hist_head + RM_PRESSURE_HISTORY_MAX - n + i) % RM_PRESSURE_HISTORY_MAX;
        p->fit_t[i] = p->hist_t[j] - tnow;
        p->fit_y[i] = p->hist_used[j] / b;
        p->fit_r[i] = (p->hist_used[j] - p->hist_recl[j]) / b;
        recl_seen |= p->hist_recl[j] > 0;
    }
    leak_update_locked(p, s->t_ns, (double)s->used_bytes);
    return recl_seen;
}

/* Feed step 3: the forecaster (pressure_forecast.c) over the history. */
static void
forecast_locked(rm_pressure_t *p, const rm_pressure_sample_t *s, uint64_t budget, uint64_t recl,
                int recl_seen, rm_pressure_forecast_t *fc, rm__fc_asks_t *asks)
{
    RM_ASSERT_LOCKED(&p->tick_mu);
    rm__fc_input_t in = {
        .cfg = &p->cfg,
        .t_ns = s->t_ns,
        .used_bytes = s->used_bytes,
        .budget_bytes = budget,
        .reclaimable_bytes = recl,
        .fit_t = p->fit_t,
        .fit_y = p->fit_y,
        .fit_r = p->fit_r,
        .n = p->hist_n,
        .recl_seen = recl_seen,
        .leak_t = p->leak_t,
        .leak_y = p->leak_y,
        .leak_n = p->leak_n,
        .leak_head = p->leak_head,
        .scratch = p->scratch,
    };
    rm__pressure_forecast_step(&p->fcs, &in, fc, asks);
}

/* The usage and horizon a level change or a reclaim names: the triggering
 * horizon's prediction, or the present usage (horizon 0) without one. */
static void
trigger_point(const rm_pressure_forecast_t *fc, const rm__fc_asks_t *asks, double *pred_u, uint32_t *hz)
{
    *pred_u = asks->trig_h >= 0 ? fc->horizons[asks->trig_h].predicted_usage : fc->usage;
    *hz = asks->trig_h >= 0 ? fc->horizons[asks->trig_h].horizon_sec : 0;
}

/* Feed step 4: the level with hysteresis. Up at once to the larger of the
 * present and the persisted forecast level; down one step at a time after
 * step_down_hold_sec below what keeps the level. */
static void
update_level_locked(rm_pressure_t *p, uint64_t t_ns, const rm_pressure_forecast_t *fc,
                    const rm__fc_asks_t *asks)
{
    RM_ASSERT_LOCKED(&p->tick_mu);
    const rm_pressure_config_t *c = &p->cfg;
    rm_pressure_level_t desired =
        fc->predicted_level > fc->current_level ? fc->predicted_level : fc->current_level;
    /* rm_pressure_rejudge before this sample: the budget changed, so the level
     * is re-derived from it at once instead of stepping down per dwell */
    int rejudge = p->rejudge_seen != p->rejudge_done;
    p->rejudge_done = p->rejudge_seen;
    double pred_u;
    uint32_t hz;
    trigger_point(fc, asks, &pred_u, &hz);
    rm_pressure_trigger_t trig =
        fc->predicted_level > fc->current_level ? RM_TRIGGER_FORECAST : RM_TRIGGER_CURRENT;
    /* what keeps the level: the present usage or a confident forecast (persisted
     * or not) within `hysteresis` of its threshold */
    int stay = (int)rm__pressure_level_of(c, fc->usage + c->hysteresis);
    if (asks->hold > stay)
        stay = asks->hold;
    if (desired > p->level) {
        change_level_locked(p, t_ns, desired, trig, fc->usage, pred_u, hz);
        p->below_since_ns = 0;
    } else if (stay < (int)p->level && rejudge) {
        change_level_locked(p, t_ns, (rm_pressure_level_t)stay, trig, fc->usage, pred_u, hz);
        p->below_since_ns = 0;
    } else if (stay < (int)p->level) {
        if (!p->below_since_ns)
            p->below_since_ns = t_ns ? t_ns : 1;
        if (t_ns - p->below_since_ns >= (uint64_t)c->step_down_hold_sec * NS_PER_SEC) {
            change_level_locked(p, t_ns, p->level - 1, trig, fc->usage, pred_u, hz);
            p->below_since_ns = p->level > desired ? t_ns : 0;
        }
    } else {
        p->below_since_ns = 0;
        if (desired == p->level && p->level > RM_PRESSURE_MONITOR)
            p->trigger = trig;
    }
}

/* Feed step 5: respond. The present excess over the aim; a forecast-driven
 * level adds the excess predicted at its horizon h, paced over h (dt/h of it
 * per sample): proportional to the distance to the aim and to the time left,
 * so a forecast 120 s out never evicts its whole excess at once. */
static void
respond_step_locked(rm_pressure_t *p, const rm_pressure_sample_t *s, uint64_t budget, double dt,
                    const rm_pressure_forecast_t *fc, const rm__fc_asks_t *asks)
{
    RM_ASSERT_LOCKED(&p->tick_mu);
    const rm_pressure_config_t *c = &p->cfg;
    if (p->level < c->response_floor)
        return;
    double b = (double)budget;
    double pred_u;
    uint32_t hz;
    trigger_point(fc, asks, &pred_u, &hz);
    int trig_h = asks->trig_h;
    double aim = c->target_fraction * b;
    double now_x = (double)s->used_bytes - aim;
    double excess = now_x > 0 ? now_x : 0;
    if (p->trigger == RM_TRIGGER_FORECAST && trig_h >= 0) {
        double fx = fc->horizons[trig_h].predicted_usage * b - aim;
        double hs = (double)fc->horizons[trig_h].horizon_sec;
        double pace = dt <= 0 ? 0 : dt >= hs ? 1 : dt / hs;
        if (fx > excess)
            excess += (fx - excess) * pace;
    }
    if (excess >= 1)
        respond_locked(p, s->t_ns, p->level, (uint64_t)excess, fc->usage, pred_u, hz);
}

/* Feed step 6: the forecast's level fields, alerts, stats, publication. */
static void
finish_sample_locked(rm_pressure_t *p, const rm_pressure_sample_t *s, uint64_t budget,
                     rm_pressure_forecast_t *fc)
{
    RM_ASSERT_LOCKED(&p->tick_mu);
    fc->level = p->level;
    fc->trigger = p->trigger;
    fc->recommended_action = p->level;
    fc->sample = *s;
    fc->sample.budget_source = p->st.budget_source;
    alerts_update_locked(p, s, fc->usage, budget);
    p->st.has_rss = s->has_rss;
    p->st.has_meminfo = s->has_meminfo;
    p->st.has_psi = s->has_psi;
    p->st.cgroup_version = s->cgroup_version;
    p->st.usage_source = s->usage_source ? s->usage_source : "injected";
    publish_locked(p, fc);
}

static rm_status_t
feed_locked(rm_pressure_t *p, const rm_pressure_sample_t *s)
{
    RM_ASSERT_LOCKED(&p->tick_mu);
    uint64_t budget;
    double dt;
    rm_status_t rc = accept_sample_locked(p, s, &budget, &dt);
    if (rc != RM_OK)
        return rc;
    uint64_t recl = reclaimable_locked(p, p->cfg.response_floor);
    if (recl > s->used_bytes)
        recl = s->used_bytes;
    int recl_seen = record_history_locked(p, s, budget, recl);
    rm_pressure_forecast_t fc;
    rm__fc_asks_t asks;
    forecast_locked(p, s, budget, recl, recl_seen, &fc, &asks);
    update_level_locked(p, s->t_ns, &fc, &asks);
    respond_step_locked(p, s, budget, dt, &fc, &asks);
    finish_sample_locked(p, s, budget, &fc);
    return RM_OK;
}

rm_status_t
rm_pressure_feed(rm_pressure_t *p, const rm_pressure_sample_t *s)
{
    if (!p || !s)
        return RM_EINVAL;
    pthread_mutex_lock(&p->tick_mu);
    p->rejudge_seen = __atomic_load_n(&p->rejudge_req, __ATOMIC_SEQ_CST);
    rm_status_t rc = feed_locked(p, s);
    if (rc != RM_OK)
        publish_locked(p, NULL);
    pthread_mutex_unlock(&p->tick_mu);
    return rc;
}

static void
fill_from_system(const rm_sysinfo_t *si, const rm_pressure_config_t *c, rm_pressure_sample_t *s)
{
    s->has_rss = si->has_rss;
    s->rss_bytes = si->rss_bytes;
    s->cgroup_version = si->cgroup_version;
    s->cgroup_usage_bytes = si->cgroup_usage_bytes;
    s->cgroup_working_set_bytes = si->cgroup_working_set_bytes;
    s->cgroup_limit_bytes = si->cgroup_limit_bytes;
    s->cgroup_oom_kills = si->cgroup_oom_kills;
    s->has_meminfo = si->has_meminfo;
    s->mem_total_bytes = si->mem_total_bytes;
    s->mem_available_bytes = si->mem_available_bytes;
    s->has_psi = si->has_psi;
    s->psi_some_avg10 = si->psi.some_avg10;
    s->psi_full_avg10 = si->psi.full_avg10;
    s->psi_some_avg60 = si->psi.some_avg60;
    s->psi_full_avg60 = si->psi.full_avg60;

    rm_component_usage_t comp[RM_COMPONENTS_MAX];
    size_t nc = read_components(comp, &s->memcore_used_bytes, &s->memcore_held_bytes);
    for (size_t i = 0; i < nc; i++) {
        if ((double)comp[i].held_bytes < c->frag_min_held_bytes)
            continue;
        double f = rm_stats_component_fragmentation(&comp[i]);
        if (f > s->fragmentation) {
            s->fragmentation = f;
            memcpy(s->frag_component, comp[i].name, sizeof s->frag_component);
            s->frag_component[sizeof s->frag_component - 1] = '\0';
        }
    }

    /* The one usage measure (ADR 0013): the cgroup's working set against its
     * limit, else RSS against the budget capped at what the host can give;
     * memory.budget_bytes never takes the budget above either (1 TiB on a
     * 24 GiB machine kept the ratio under 3 % until the kernel's OOM killer
     * acted instead of the responder). */
    rm_sysinfo_usage_t u;
    rm_sysinfo_usage(si, c->budget_bytes, s->memcore_held_bytes, &u);
    s->used_bytes = u.used_bytes;
    s->budget_bytes = u.budget_bytes;
    s->usage_source = u.usage_source;
    s->budget_source = u.budget_source;
}

rm_status_t
rm_pressure_tick(rm_pressure_t *p, uint64_t now_ns)
{
    if (!p)
        return RM_EINVAL;
    uint64_t rejudge = __atomic_load_n(&p->rejudge_req, __ATOMIC_SEQ_CST);   /* before reading anything */
    rm_sysinfo_paths_t paths = {p->proc_root, p->cgroup_root};
    rm_sysinfo_t si;
    rm_sysinfo_read(p->has_paths ? &paths : NULL, &si);

    rm_pressure_sample_t s;
    memset(&s, 0, sizeof s);
    s.t_ns = now_ns;
    struct timespec rt;
    if (clock_gettime(CLOCK_REALTIME, &rt) == 0 && rt.tv_sec > 0)
        s.t_unix_ns = (uint64_t)rt.tv_sec * NS_PER_SEC + (uint64_t)rt.tv_nsec;
    pthread_mutex_lock(&p->tick_mu);
    fill_from_system(&si, &p->cfg, &s);
    /* the snapshot's system part: this very reading and its usage measure */
    rm_pressure_snapshot_t *sys = &p->tick_snap;
    memset(sys, 0, sizeof *sys);
    sys->sampled_ns = now_ns;
    sys->sampled_unix_ns = s.t_unix_ns;
    sys->sys = si;
    sys->usage.used_bytes = s.used_bytes;
    sys->usage.budget_bytes = s.budget_bytes;
    sys->usage.usage_ratio = s.budget_bytes ? (double)s.used_bytes / (double)s.budget_bytes : 0.0;
    sys->usage.usage_source = s.usage_source;
    sys->usage.budget_source = s.budget_source;
    sys->memcore_used_bytes = s.memcore_used_bytes;
    sys->memcore_held_bytes = s.memcore_held_bytes;
    p->tick_sys = sys;
    rm_status_t rc;
    if (!s.budget_bytes) {
        p->st.samples_dropped++;
        p->st.has_rss = s.has_rss;
        p->st.has_meminfo = s.has_meminfo;
        p->st.has_psi = s.has_psi;
        p->st.cgroup_version = s.cgroup_version;
        p->st.budget_source = "none";
        rc = RM_ENOENT;
    } else {
        p->rejudge_seen = rejudge;
        rc = feed_locked(p, &s);
    }
    publish_locked(p, NULL);
    pthread_mutex_unlock(&p->tick_mu);
    return rc;
}

double
rm_pressure_manual_share(rm_pressure_level_t level)
{
    return level >= RM_PRESSURE_EMERGENCY ? 1.0 : level == RM_PRESSURE_AGGRESSIVE ? 0.5 : 0.1;
}

rm_status_t
rm_pressure_trigger_ex(rm_pressure_t *p, rm_pressure_level_t level, uint64_t min_bytes, uint64_t now_ns,
                       rm_pressure_trigger_result_t *out)
{
    if (!p || level < RM_PRESSURE_GENTLE || level > RM_PRESSURE_OOM_PREVENTION)
        return RM_EINVAL;
    pthread_mutex_lock(&p->tick_mu);
    rm_pressure_forecast_t fc;
    pthread_mutex_lock(&p->pub_mu);
    fc = p->pub_fc;
    pthread_mutex_unlock(&p->pub_mu);
    /* the target (pressure.h): max(min_bytes, present excess over the aim, the
     * level's share of what its reclaimers could free), capped at the bytes in use */
    uint64_t target = min_bytes;
    if (fc.budget_bytes) {
        double aim = p->cfg.target_fraction * (double)fc.budget_bytes;
        if ((double)fc.used_bytes > aim && (uint64_t)((double)fc.used_bytes - aim) > target)
            target = (uint64_t)((double)fc.used_bytes - aim);
    }
    uint64_t recl = reclaimable_locked(p, level);
    uint64_t share = (uint64_t)(rm_pressure_manual_share(level) * (double)recl);
    if (share > target)
        target = share;
    uint64_t cap = fc.used_bytes ? fc.used_bytes : p->cfg.budget_bytes ? p->cfg.budget_bytes : recl;
    if (target > cap)
        target = cap;
    rm_pressure_level_t from = p->level;
    rm_pressure_trigger_t saved = p->trigger;
    p->trigger = RM_TRIGGER_MANUAL;
    uint64_t f = respond_locked(p, now_ns, level, target, fc.usage, fc.usage, 0);
    /* an operator action is always on record: when no reclaimer freed
     * anything (so none recorded an event), one "manual" reclaim of 0 B */
    if (f == 0)
        emit(p, now_ns, RM_EVENT_RECLAIM, level, "manual", target, 0, fc.usage, fc.usage, 0);
    p->trigger = saved;
    publish_locked(p, NULL);
    pthread_mutex_unlock(&p->tick_mu);
    if (out) {
        out->from_level = from;
        out->level = level;
        out->target_bytes = target;
        out->freed_bytes = f;
    }
    return RM_OK;
}

/* ---- alerts the host raises -------------------------------------------- */

static int
host_alert_name_ok(const char *name)
{
    if (!name || !name[0] || strlen(name) >= RM_PRESSURE_NAME_MAX)
        return 0;
    for (const char *c = name; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '_'))
            return 0;
    return 1;
}

/* Index of the active host alert `name`, or -1. Requires tick_mu. */
static int
host_alert_find_locked(const rm_pressure_t *p, const char *name)
{
    RM_ASSERT_LOCKED(&p->tick_mu);
    for (int i = 0; i < RM_PRESSURE_HOST_ALERTS_MAX; i++)
        if (p->host_active[i] && strcmp(p->host_alert[i].name, name) == 0)
            return i;
    return -1;
}

rm_status_t
rm_pressure_set_host_alert(rm_pressure_t *p, const char *name, rm_alert_severity_t sev, const char *subject,
                           const char *message, double value, double threshold)
{
    if (!p || !host_alert_name_ok(name) || !message || (sev != RM_ALERT_WARNING && sev != RM_ALERT_CRITICAL))
        return RM_EINVAL;
    uint64_t t = rm__now_ns();
    pthread_mutex_lock(&p->tick_mu);
    int i = host_alert_find_locked(p, name), raise = 0;
    if (i < 0) {
        for (i = 0; i < RM_PRESSURE_HOST_ALERTS_MAX && p->host_active[i]; i++)
            ;
        if (i == RM_PRESSURE_HOST_ALERTS_MAX) {
            pthread_mutex_unlock(&p->tick_mu);
            return RM_ELIMIT;
        }
        memset(&p->host_alert[i], 0, sizeof p->host_alert[i]);
        p->host_alert[i].since_ns = t;
        p->host_active[i] = 1;
        raise = 1;
    }
    rm_pressure_alert_t *a = &p->host_alert[i];
    raise |= a->severity != sev;
    a->kind = RM_ALERT_HOST;
    a->severity = sev;
    a->updated_ns = t;
    a->value = value;
    a->threshold = threshold;
    snprintf(a->name, sizeof a->name, "%s", name);
    snprintf(a->subject, sizeof a->subject, "%s", subject ? subject : "");
    snprintf(a->message, sizeof a->message, "%s", message);
    if (raise)
        emit(p, t, RM_EVENT_ALERT_RAISED, p->level, name, 0, 0, value, 0, 0);
    publish_locked(p, NULL);
    pthread_mutex_unlock(&p->tick_mu);
    return RM_OK;
}

rm_status_t
rm_pressure_clear_host_alert(rm_pressure_t *p, const char *name)
{
    if (!p || !name)
        return RM_EINVAL;
    pthread_mutex_lock(&p->tick_mu);
    int i = host_alert_find_locked(p, name);
    if (i >= 0) {
        p->host_active[i] = 0;
        emit(p, rm__now_ns(), RM_EVENT_ALERT_CLEARED, p->level, name, 0, 0, 0, 0, 0);
        publish_locked(p, NULL);
    }
    pthread_mutex_unlock(&p->tick_mu);
    return RM_OK;
}

const char *
rm_pressure_alert_name(const rm_pressure_alert_t *a)
{
    return a->kind == RM_ALERT_HOST ? a->name : rm_alert_kind_name(a->kind);
}

rm_status_t
rm_pressure_trigger(rm_pressure_t *p, rm_pressure_level_t level, uint64_t min_bytes, uint64_t now_ns,
                    uint64_t *freed)
{
    rm_pressure_trigger_result_t r;
    rm_status_t st = rm_pressure_trigger_ex(p, level, min_bytes, now_ns, &r);
    if (st == RM_OK && freed)
        *freed = r.freed_bytes;
    return st;
}

/* ---- readers ----------------------------------------------------------- */

void
rm_pressure_get_forecast(rm_pressure_t *p, rm_pressure_forecast_t *out)
{
    pthread_mutex_lock(&p->pub_mu);
    *out = p->pub_fc;
    pthread_mutex_unlock(&p->pub_mu);
}

void
rm_pressure_alerts_list(rm_pressure_t *p, rm_pressure_alert_t *out, size_t cap, size_t *n)
{
    pthread_mutex_lock(&p->pub_mu);
    for (size_t i = 0; i < p->pub_n_alerts && i < cap; i++)
        out[i] = p->pub_alerts[i];
    if (n)
        *n = p->pub_n_alerts;
    pthread_mutex_unlock(&p->pub_mu);
}

void
rm_pressure_get_stats(rm_pressure_t *p, rm_pressure_stats_t *out)
{
    pthread_mutex_lock(&p->pub_mu);
    *out = p->pub_st;
    pthread_mutex_unlock(&p->pub_mu);
    out->alloc_failures = __atomic_load_n(&p->alloc_failures, __ATOMIC_RELAXED);
    pthread_mutex_lock(&p->th_mu);
    out->thread_running = p->th_running;
    pthread_mutex_unlock(&p->th_mu);
}

/* ---- sampler thread ---------------------------------------------------- */

static void *
sampler_main(void *arg)
{
    rm_pressure_t *p = arg;
    pthread_mutex_lock(&p->th_mu);
    while (!p->th_stop) {
        pthread_mutex_unlock(&p->th_mu);
        (void)rm_pressure_tick(p, rm__now_ns());
        rm_pressure_config_t c;
        rm_pressure_get_config(p, &c);
        struct timespec dl = rm__deadline_after_ns(CLOCK_REALTIME, (uint64_t)c.period_ms * 1000000ull);
        /* rm_pressure_kick: a tick now, but not sooner than this */
        struct timespec kdl = rm__deadline_after_ns(CLOCK_REALTIME, RM_PRESSURE_KICK_MIN_MS * 1000000ull);
        int k_first = kdl.tv_sec < dl.tv_sec || (kdl.tv_sec == dl.tv_sec && kdl.tv_nsec < dl.tv_nsec);
        pthread_mutex_lock(&p->th_mu);
        while (!p->th_stop) {
            if (pthread_cond_timedwait(&p->th_cv, &p->th_mu, p->th_kick && k_first ? &kdl : &dl) == ETIMEDOUT)
                break;
        }
        p->th_kick = 0;
    }
    pthread_mutex_unlock(&p->th_mu);
    return NULL;
}

rm_status_t
rm_pressure_start(rm_pressure_t *p)
{
    if (!p)
        return RM_EINVAL;
    return rm__thread_start(&p->th_mu, &p->th, &p->th_running, &p->th_stop, sampler_main, p);
}

void
rm_pressure_kick(rm_pressure_t *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->th_mu);
    p->th_kick = 1;
    pthread_cond_broadcast(&p->th_cv);
    pthread_mutex_unlock(&p->th_mu);
}

void
rm_pressure_rejudge(rm_pressure_t *p)
{
    if (!p)
        return;
    __atomic_add_fetch(&p->rejudge_req, 1, __ATOMIC_SEQ_CST);
    rm_pressure_kick(p);
}

void
rm_pressure_stop(rm_pressure_t *p)
{
    if (p)
        rm__thread_stop(&p->th_mu, &p->th_cv, &p->th, &p->th_running, &p->th_stop);
}
