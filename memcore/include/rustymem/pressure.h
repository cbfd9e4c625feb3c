/*
 * pressure.h — memory-pressure sampling, forecasting, graduated response,
 * pressure events and alerts.
 *
 * One rm_pressure_t watches one memory budget. Once a period (1 s by default)
 * a sample is taken — either by rm_pressure_tick() (reads rm_sysinfo and the
 * accounting registry), by the optional sampler thread (rm_pressure_start),
 * or injected with rm_pressure_feed() (simulation, tests). Each sample:
 *
 *   1. goes into a history of `history_size` samples;
 *   2. the forecaster fits the history (model chosen by backtesting, see
 *      docs/adr/0005-pressure-forecasting.md) and predicts usage at each
 *      horizon with a confidence, plus time_to_critical_sec;
 *   3. the level (Monitor → Gentle → Aggressive → Emergency → OOM prevention)
 *      is derived from the present usage and from confident forecasts that
 *      persisted (forecast_persist_samples), with hysteresis in ratio and in
 *      time (step_down_hold_sec, the dwell) on the way down;
 *   4. the responder runs registered reclaimers in priority order, passing the
 *      level and a target in bytes; each component decides what the level
 *      means for it (eviction +20 % / +50 % / max, trim plans, reject
 *      connections, …);
 *   5. every level change and reclaim action is appended to a bounded event
 *      log that readers follow with a cursor (WatchPressure);
 *   6. alerts (usage, free memory, fragmentation, pressure events per hour,
 *      allocation failures, leaks) are re-evaluated.
 *
 * memcore never logs: "escalate" (OOM-prevention level) means an event, an
 * alert and a call of the event callback, which the agent may use to log.
 *
 * Time is always a caller-supplied CLOCK_MONOTONIC value in nanoseconds, so
 * simulations and tests are deterministic.
 */
#ifndef RUSTYMEM_PRESSURE_H
#define RUSTYMEM_PRESSURE_H

#include <stddef.h>
#include <stdint.h>

#include "rustymem/status.h"
#include "rustymem/sysinfo.h"

#ifdef __cplusplus
extern "C" {
#endif

#define RM_PRESSURE_HORIZONS_MAX   4
#define RM_PRESSURE_HISTORY_MAX    1024   /* upper bound for history_size */
#define RM_PRESSURE_NAME_MAX       32     /* reclaimer names, incl. NUL */

/* The seed's graduated levels; the numeric order is the severity order. */
typedef enum rm_pressure_level {
    RM_PRESSURE_MONITOR        = 0,   /* < warning: normal operation */
    RM_PRESSURE_GENTLE         = 1,   /* warning..high: eviction +20 %, compact idle chains, oldest 10 % plans */
    RM_PRESSURE_AGGRESSIVE     = 2,   /* high..critical: eviction +50 %, compact all, 50 % plans, cancel low-priority */
    RM_PRESSURE_EMERGENCY      = 3,   /* critical..emergency: max eviction, clear caches, reject connections, kill long queries */
    RM_PRESSURE_OOM_PREVENTION = 4,   /* ≥ emergency: keep shedding and escalate */
} rm_pressure_level_t;

#define RM_PRESSURE_LEVELS 5

/* "Monitor", "Gentle", "Aggressive", "Emergency", "OOMPrevention"; static. */
const char *rm_pressure_level_name(rm_pressure_level_t level);
/* The seed's recommended action for a level: "None", "GentleEviction",
 * "AggressiveEviction", "EmergencyCleanup", "OomPrevention"; static. */
const char *rm_pressure_action_name(rm_pressure_level_t level);

/* Forecasting models (the backtest in rustymem-bench forecast compares them). */
typedef enum rm_forecast_model {
    RM_FORECAST_LINEAR    = 0,   /* least-squares trend over the history */
    RM_FORECAST_HOLT      = 1,   /* Holt's double exponential smoothing */
    RM_FORECAST_THEIL_SEN = 2,   /* median of pairwise slopes (robust) */
    RM_FORECAST_ENSEMBLE  = 3,   /* median of the three predictions */
} rm_forecast_model_t;

/* "linear", "holt", "theil_sen", "ensemble"; static. */
const char *rm_forecast_model_name(rm_forecast_model_t m);

typedef enum rm_pressure_profile {
    RM_PRESSURE_PROFILE_DEVELOPMENT      = 0,
    RM_PRESSURE_PROFILE_PRODUCTION       = 1,
    RM_PRESSURE_PROFILE_MISSION_CRITICAL = 2,
} rm_pressure_profile_t;

/*
 * Configuration. Fractions are of the budget. Thresholds must be strictly
 * increasing in (0, 1]. Start from rm_pressure_config_default() or
 * rm_pressure_config_profile() and change fields.
 */
typedef struct rm_pressure_config {
    double warning_threshold;          /* 0.70: Gentle from here */
    double high_pressure_threshold;    /* 0.80: Aggressive */
    double critical_threshold;         /* 0.90: Emergency */
    double emergency_threshold;        /* 0.95: OOM prevention */
    uint32_t history_size;             /* samples kept for the forecaster, 8..RM_PRESSURE_HISTORY_MAX (60) */
    uint32_t n_horizons;               /* 1..RM_PRESSURE_HORIZONS_MAX (3) */
    uint32_t horizons_sec[RM_PRESSURE_HORIZONS_MAX];   /* increasing, seconds (30, 60, 120) */
    double min_confidence;             /* a horizon is acted on at or above this confidence (0.7) */
    double confidence_tolerance;       /* confidence = P(|error| ≤ this fraction of budget) (0.05) */
    rm_forecast_model_t model;         /* see ADR 0005 */
    uint64_t budget_bytes;             /* memory.budget_bytes; 0 = auto (cgroup limit, else MemTotal);
                                        * never taken above the cgroup limit or MemTotal */
    double hysteresis;                 /* fraction of budget below a level's threshold before stepping down (0.05);
                                        * also how far below its threshold a usage or fragmentation alert
                                        * (or its critical severity) must fall to clear */
    uint32_t step_down_hold_sec;       /* dwell: seconds the reasons to leave a level must hold, without a
                                        * break, before each step down (30); so no level is left sooner
                                        * than this after it was entered. Knob pressure.dwell_seconds */
    uint32_t forecast_persist_samples; /* a forecast-driven escalation to a level needs confident forecasts
                                        * asking for it (or higher) on this many consecutive samples (5),
                                        * 1..3600. Knob pressure.forecast_persist_samples */
    uint32_t warning_persist_samples;  /* a forecast warning needs this many consecutive confident samples (10) */
    double warning_min_probability;    /* a forecast warning needs P(usage ≥ critical at h) ≥ this (0.95) */
    int act_on_forecast;               /* 1: confident forecasts raise the level; 0: purely reactive */
    rm_pressure_level_t response_floor;/* reclaimers run only at or above this level (Gentle) */
    double target_fraction;            /* reclaim aims for usage at this fraction (warning − hysteresis/2 = 0.675):
                                        * each sample asks for the present excess over it, plus — when a
                                        * forecast set the level — the excess predicted at the triggering
                                        * horizon h paced over h (× seconds since the last sample / h) */
    uint32_t leak_window_sec;          /* leak alert window (600 s) */
    double leak_min_r2;                /* leak: linear fit R² at least this (0.90) */
    double leak_min_growth;            /* leak: growth over the window at least this fraction (0.05) */
    double frag_min_held_bytes;        /* components holding less are ignored by fragmentation alerts (1 MiB) */
    double frag_warning;               /* fragmentation alert: warning above this ratio (0.20) */
    double frag_critical;              /* … critical above this one (0.35); frag_warning < frag_critical ≤ 1 */
    uint32_t frag_persist_samples;     /* a fragmentation alert is raised, changes severity or clears only
                                        * after this many consecutive samples ask for it (10), 1..3600 */
    uint32_t events_per_hour;          /* pressure_events alert above this many escalations an hour (5), ≥ 1 */
    uint32_t event_capacity;           /* events kept in the log (1024), ≥ 16 */
    uint32_t period_ms;                /* sampler thread period (1000) */
} rm_pressure_config_t;

/* Production profile (the seed's EarlyWarningConfig defaults). Never fails. */
void rm_pressure_config_default(rm_pressure_config_t *out);

/*
 * The seed's environment profiles (table in ADR 0005):
 *   development      warning 0.80 high 0.875 critical 0.95 emergency 0.975 history 60
 *   production       warning 0.70 high 0.80  critical 0.90 emergency 0.95  history 60
 *   mission-critical warning 0.60 high 0.725 critical 0.85 emergency 0.925 history 120
 * (high = midpoint of warning and critical, emergency = critical + half the
 * headroom left: the knob registry's environment profiles give the same.)
 * Other fields as rm_pressure_config_default(). RM_EINVAL for an unknown
 * profile or NULL out (then *out is untouched).
 */
rm_status_t rm_pressure_config_profile(rm_pressure_profile_t profile, rm_pressure_config_t *out);

/* "development", "production", "mission_critical" → profile; RM_ENOENT otherwise. */
rm_status_t rm_pressure_profile_from_name(const char *name, rm_pressure_profile_t *out);

/* RM_OK when the configuration is consistent, else RM_EINVAL. */
rm_status_t rm_pressure_config_validate(const rm_pressure_config_t *cfg);

/* One observation. Fields a source could not provide are 0 with has_* = 0. */
typedef struct rm_pressure_sample {
    uint64_t t_ns;                 /* CLOCK_MONOTONIC, ns */
    uint64_t t_unix_ns;            /* CLOCK_REALTIME when rm_pressure_tick read the system, ns; 0 = unknown
                                    * (injected): lets every reader name the same sample by the same time */
    uint64_t used_bytes;           /* usage measured against the budget (rm_sysinfo_usage for ticks) */
    uint64_t budget_bytes;         /* 0 = use the configured budget */
    int has_rss;
    uint64_t rss_bytes;
    int cgroup_version;            /* 0 none, 1, 2 */
    uint64_t cgroup_usage_bytes;   /* as read (v1 usage_in_bytes / v2 memory.current) */
    uint64_t cgroup_working_set_bytes; /* usage − inactive file cache */
    uint64_t cgroup_limit_bytes;   /* 0 = unlimited */
    uint64_t cgroup_oom_kills;
    int has_meminfo;
    uint64_t mem_total_bytes, mem_available_bytes;
    int has_psi;
    double psi_some_avg10, psi_full_avg10, psi_some_avg60, psi_full_avg60;   /* percent */
    uint64_t memcore_used_bytes;   /* sum over the accounting registry */
    uint64_t memcore_held_bytes;
    double fragmentation;          /* worst component's 1 − used/held (≥ frag_min_held_bytes) */
    char frag_component[32];       /* that component, "" if none */
    const char *usage_source;      /* static: "cgroup", "rss", "memcore" (rm_sysinfo_usage), "injected" */
    const char *budget_source;     /* static: "knob", "cgroup_v1", "cgroup_v2", "memtotal", "memavailable"
                                    * (rm_sysinfo_usage); NULL in an injected sample = "injected" when it
                                    * carries budget_bytes, "knob" when the configured budget is used */
} rm_pressure_sample_t;

typedef struct rm_pressure_horizon {
    uint32_t horizon_sec;
    double predicted_usage;        /* fraction of budget (may exceed 1) */
    uint64_t predicted_bytes;
    double confidence;             /* [0, 1] */
    rm_pressure_level_t predicted_level;
} rm_pressure_horizon_t;

typedef enum rm_pressure_trigger {
    RM_TRIGGER_CURRENT  = 0,   /* the present usage asked for the level */
    RM_TRIGGER_FORECAST = 1,   /* a confident forecast raised it */
    RM_TRIGGER_MANUAL   = 2,   /* rm_pressure_trigger() (EmergencyService.TriggerResponse) */
} rm_pressure_trigger_t;

/* "current", "forecast", "manual"; static. */
const char *rm_pressure_trigger_name(rm_pressure_trigger_t t);

typedef struct rm_pressure_forecast {
    uint64_t t_ns;                 /* time of the sample it is based on; 0 = no sample yet */
    uint32_t samples;              /* samples in the history */
    uint64_t used_bytes, budget_bytes;
    double usage;                  /* used/budget */
    uint64_t reclaimable_bytes;    /* what the reclaimers eligible at response_floor estimate they could
                                      free now (caches: the buffer pool's resident pages, …); 0 without
                                      estimates. The per-horizon predictions are this plus the forecast
                                      of the rest: a cache warming up to its size (or refilling after an
                                      eviction) is bounded and is given back on demand, so its growth
                                      is not extrapolated into a pressure level (ADR 0005 §5) */
    double slope_per_sec;          /* fitted trend of usage − reclaimable, fraction of budget per second */
    rm_forecast_model_t model;
    uint32_t n_horizons;
    rm_pressure_horizon_t horizons[RM_PRESSURE_HORIZONS_MAX];
    double time_to_critical_sec;   /* 0 when at/above critical; -1 when not approaching */
    double time_to_critical_confidence;
    int warning;                   /* 1: the forecaster warns of a critical crossing within a horizon:
                                      usage below critical and, for some horizon h, confidence ≥
                                      min_confidence and P(usage ≥ critical at h) ≥
                                      warning_min_probability, for warning_persist_samples samples in
                                      a row (then held until as many samples without) */
    uint32_t warning_horizon_sec;  /* the shortest horizon giving the warning, 0 if none */
    double warning_probability;    /* P(usage ≥ critical) at that horizon (max over horizons if none) */
    rm_pressure_level_t current_level;   /* from the present usage alone, no hysteresis */
    rm_pressure_level_t predicted_level; /* the level confident forecasts ask for (graduated by horizon) and
                                            have asked for on forecast_persist_samples samples in a row */
    rm_pressure_level_t level;           /* the responder's level (with hysteresis) */
    rm_pressure_trigger_t trigger;       /* why `level` is what it is */
    rm_pressure_level_t recommended_action; /* action for `level` (rm_pressure_action_name) */
    rm_pressure_sample_t sample;         /* the sample itself (sources, PSI, accounting) */
    const char *warning_view;      /* static; which view gave the last raw warning behind `warning`:
                                      "window", "recent" or "long" (ADR 0005 §4); NULL if none */
} rm_pressure_forecast_t;

/* ---- the object ---------------------------------------------------------- */

typedef struct rm_pressure rm_pressure_t;

/*
 * Create a pressure monitor. `cfg` NULL = defaults; copied. `paths` (NULL =
 * live /proc and /sys/fs/cgroup) is copied, strings included; used by
 * rm_pressure_tick. Returns RM_OK and *out, RM_EINVAL for a bad config or NULL
 * out, RM_ENOMEM (nothing allocated). No thread is started.
 */
rm_status_t rm_pressure_create(const rm_pressure_config_t *cfg, const rm_sysinfo_paths_t *paths,
                               rm_pressure_t **out);

/* Stop the thread if running, then free everything. Reclaimers must not be
 * running (i.e. no concurrent tick). NULL is a no-op. */
void rm_pressure_destroy(rm_pressure_t *p);

/* Copy of the current configuration. Thread-safe. */
void rm_pressure_get_config(rm_pressure_t *p, rm_pressure_config_t *out);

/*
 * Replace the configuration live (knob changes). The history is kept; a
 * changed history_size keeps the newest samples; a changed event_capacity
 * takes effect on the next create only. RM_EINVAL (config unchanged) when
 * invalid. Thread-safe; waits for a running tick to finish.
 */
rm_status_t rm_pressure_set_config(rm_pressure_t *p, const rm_pressure_config_t *cfg);

/* Live setters for single knobs; RM_EINVAL (unchanged) when out of range. */
rm_status_t rm_pressure_set_budget_bytes(rm_pressure_t *p, uint64_t bytes);      /* 0 = auto */
rm_status_t rm_pressure_set_thresholds(rm_pressure_t *p, double warning, double high,
                                       double critical, double emergency);
rm_status_t rm_pressure_set_min_confidence(rm_pressure_t *p, double c);         /* [0, 1] */
rm_status_t rm_pressure_set_horizons(rm_pressure_t *p, const uint32_t *sec, uint32_t n);

/*
 * Take one sample from the system (rm_sysinfo_read with the paths given at
 * create, plus rm_stats_components) at time now_ns and process it as
 * rm_pressure_feed does. used_bytes, budget_bytes and both sources are
 * rm_sysinfo_usage() of that reading with the configured budget_bytes and
 * memcore's held bytes: the one usage measure of ADR 0013. Returns RM_OK, or
 * RM_ENOENT when no budget can be determined (no budget_bytes, no cgroup
 * limit, no MemTotal) — the sample is then dropped and state is unchanged.
 * Thread-safe (ticks are serialised).
 */
rm_status_t rm_pressure_tick(rm_pressure_t *p, uint64_t now_ns);

/*
 * Process one injected sample: history, forecast, level, responder, events,
 * alerts. s->t_ns must not go backwards (RM_EINVAL, unchanged). s->budget_bytes
 * 0 means the configured budget; if that is 0 too, RM_ENOENT. Reclaimer and
 * event callbacks run on the calling thread. Thread-safe (serialised).
 */
rm_status_t rm_pressure_feed(rm_pressure_t *p, const rm_pressure_sample_t *s);

/* Start / stop the sampler thread calling rm_pressure_tick every period_ms.
 * start: RM_EBUSY if already running, RM_ENOMEM if the thread cannot be
 * created. stop waits for the thread; no-op when not running. */
rm_status_t rm_pressure_start(rm_pressure_t *p);
void rm_pressure_stop(rm_pressure_t *p);

/*
 * Wake the sampler thread for a tick now instead of at the end of its period:
 * the host learnt that memory moved (a memory cgroup's usage threshold
 * notification fired). Rate-limited: a kicked tick starts no sooner than
 * RM_PRESSURE_KICK_MIN_MS after the previous tick ended, and any number of
 * kicks before it makes one tick, so a storm of kicks cannot spin the sampler
 * (at most 1000 / RM_PRESSURE_KICK_MIN_MS ticks a second). The next periodic
 * tick is then a full period after the kicked one. No effect on the level
 * rules (a kicked tick is an ordinary sample) and none while the thread is
 * not running (the kick is remembered for its first wait). Thread-safe; takes
 * a mutex, so async-signal-unsafe: call it from a thread (an eventfd reader),
 * not from a signal handler. NULL is a no-op.
 */
#define RM_PRESSURE_KICK_MIN_MS 50u
void rm_pressure_kick(rm_pressure_t *p);

/*
 * rm_pressure_kick, and the first sample that begins after this call
 * re-derives the level from its own usage: a level above what that usage
 * keeps (with the ratio hysteresis) is left at once, without the step-down
 * dwell. For the host after it changed the budget or what the usage measure
 * counts (the limit was lowered and the host shrank its buffer pool to the new
 * limit): a sample taken between the new limit and the shrink judged the old
 * pool against the new limit, and the dwell would otherwise hold that stale
 * level for step_down_hold_sec per level. Levels go up as always. Thread-safe,
 * async-signal-unsafe; NULL is a no-op.
 */
void rm_pressure_rejudge(rm_pressure_t *p);

/* The latest forecast (zeroed, t_ns 0, before the first sample). Never blocks
 * on a running responder. Thread-safe. */
void rm_pressure_get_forecast(rm_pressure_t *p, rm_pressure_forecast_t *out);

/* What one rm_pressure_trigger_ex() did. */
typedef struct rm_pressure_trigger_result {
    rm_pressure_level_t from_level;   /* the responder's level when it ran (unchanged by the trigger) */
    rm_pressure_level_t level;        /* the level the response ran at (the requested one) */
    uint64_t target_bytes;            /* what it aimed to free (see rm_pressure_trigger_ex) */
    uint64_t freed_bytes;             /* what the reclaimers freed */
} rm_pressure_trigger_result_t;

/* Share of the eligible reclaimers' estimate a manual trigger aims for at a
 * level: Gentle 10 %, Aggressive 50 %, Emergency and OOM prevention 100 % (the
 * seed's plan-cache shares; eviction +20 %/+50 %/max ends in the same order). */
double rm_pressure_manual_share(rm_pressure_level_t level);

/*
 * Force a response at `level` (Gentle..OOM prevention) now
 * (EmergencyService.TriggerResponse): runs the reclaimers eligible at `level`
 * once, in priority order, until the target is met. The target, in bytes, is
 * the largest of
 *   - min_bytes (0 = no minimum),
 *   - the present excess over target_fraction of the budget (what the
 *     automatic responder would ask for), and
 *   - rm_pressure_manual_share(level) × what the reclaimers eligible at
 *     `level` estimate they could free (rm_pressure_reclaimable),
 * capped at the bytes in use at the last sample (nothing can free more;
 * before the first sample at budget_bytes, else at the estimate), so it is
 * always a real number. Events, trigger "manual", time now_ns: one
 * RECLAIM event per reclaimer that freed bytes, or, when none did (or none is
 * registered), one RECLAIM event named "manual" with 0 bytes reclaimed, so an
 * operator action is always on record; each has level = `level`, prev_level =
 * the responder's level at the time (a manual trigger does not change it)
 * and target_bytes = what that reclaimer was asked for. *out (may be NULL)
 * receives what was done. RM_EINVAL for a bad level (nothing recorded, *out
 * untouched). Thread-safe (serialised with ticks).
 */
rm_status_t rm_pressure_trigger_ex(rm_pressure_t *p, rm_pressure_level_t level, uint64_t min_bytes,
                                   uint64_t now_ns, rm_pressure_trigger_result_t *out);

/* rm_pressure_trigger_ex() with only the bytes freed in *freed (may be NULL). */
rm_status_t rm_pressure_trigger(rm_pressure_t *p, rm_pressure_level_t level, uint64_t min_bytes,
                                uint64_t now_ns, uint64_t *freed);

/* ---- reclaimers --------------------------------------------------------- */

/*
 * A component's estimate of what it could free at `level`, in bytes. Called
 * on every sample with level = response_floor (the level's forecast leaves
 * this reclaimable part out of the trend it extrapolates: report caches that
 * stop at their size and give memory back on demand, not memory a leak could
 * grow), by manual triggers and by rm_pressure_reclaimable; serialised with
 * ticks. Must be quick.
 */
typedef uint64_t (*rm_reclaim_estimate_fn)(void *ctx, rm_pressure_level_t level);

/*
 * Free memory for `level`, aiming for about `target_bytes` (components may
 * free more or less: the level says how hard to try). Returns the bytes freed.
 * Called on the ticking thread; must not call rm_pressure_* except the
 * readers and rm_pressure_note_alloc_failure.
 */
typedef uint64_t (*rm_reclaim_fn)(void *ctx, rm_pressure_level_t level, uint64_t target_bytes);

/* Told on every level change (also downwards): restore eviction rate, resume
 * admission, … May be NULL. Same calling rules as rm_reclaim_fn. */
typedef void (*rm_level_fn)(void *ctx, rm_pressure_level_t old_level, rm_pressure_level_t new_level);

typedef struct rm_pressure_reclaimer_def {
    const char *name;              /* copied, truncated to RM_PRESSURE_NAME_MAX-1 */
    int priority;                  /* lower runs first; ties in registration order */
    rm_pressure_level_t start_level;   /* runs at this level and above (≥ Gentle) */
    rm_reclaim_estimate_fn estimate;   /* may be NULL (= unknown, treated as 0 in estimates) */
    rm_reclaim_fn reclaim;         /* required unless on_level is given (pure admission hooks) */
    rm_level_fn on_level;          /* may be NULL */
    void *ctx;
} rm_pressure_reclaimer_def_t;

typedef struct rm_pressure_reclaimer rm_pressure_reclaimer_t;

/*
 * Register a reclaimer. RM_EINVAL (bad def: NULL name, no callbacks, start
 * level Monitor), RM_ENOMEM; on failure nothing is registered. Thread-safe;
 * waits for a running tick. *out (may be NULL) receives the handle.
 */
rm_status_t rm_pressure_reclaimer_add(rm_pressure_t *p, const rm_pressure_reclaimer_def_t *def,
                                      rm_pressure_reclaimer_t **out);

/* Unregister and free; after return no callback of it runs. NULL no-op. */
void rm_pressure_reclaimer_remove(rm_pressure_t *p, rm_pressure_reclaimer_t *r);

/* Sum of the estimates of reclaimers eligible at `level`. Thread-safe. */
uint64_t rm_pressure_reclaimable(rm_pressure_t *p, rm_pressure_level_t level);

/* Components call this when an allocation failed (any allocator). Lock-free. */
void rm_pressure_note_alloc_failure(rm_pressure_t *p);

/* ---- events -------------------------------------------------------------- */

typedef enum rm_pressure_event_kind {
    RM_EVENT_LEVEL_CHANGE  = 0,   /* level → new level (prev_level holds the old one) */
    RM_EVENT_RECLAIM       = 1,   /* one reclaimer ran */
    RM_EVENT_ESCALATE      = 2,   /* OOM-prevention: the agent should log/page */
    RM_EVENT_ALERT_RAISED  = 3,
    RM_EVENT_ALERT_CLEARED = 4,
} rm_pressure_event_kind_t;

/* "level_change", "reclaim", "escalate", "alert_raised", "alert_cleared"; static. */
const char *rm_pressure_event_kind_name(rm_pressure_event_kind_t k);

typedef struct rm_pressure_event {
    uint64_t seq;                  /* 1, 2, 3, … gap-free over the monitor's life */
    uint64_t t_ns;
    rm_pressure_event_kind_t kind;
    rm_pressure_level_t level;     /* level in force; RECLAIM: the level the response ran at
                                      (the requested one for a manual trigger) */
    rm_pressure_level_t prev_level;/* LEVEL_CHANGE: the old level; RECLAIM: the responder's level when it
                                      ran (differs from `level` for a manual trigger); else = level */
    rm_pressure_trigger_t trigger;
    char name[RM_PRESSURE_NAME_MAX];   /* reclaimer or alert name, "" otherwise */
    uint64_t target_bytes;         /* RECLAIM: asked for */
    uint64_t bytes_reclaimed;      /* RECLAIM: freed; LEVEL_CHANGE: 0 */
    double usage;                  /* usage at the time */
    double predicted_usage;        /* at the triggering horizon (FORECAST), else usage */
    uint32_t horizon_sec;          /* triggering horizon, 0 for current/manual */
} rm_pressure_event_t;

/*
 * Read events with seq ≥ *cursor into out[0..cap). *n receives the count,
 * *cursor advances past the last one returned. *dropped (may be NULL) receives
 * how many wanted events had already been overwritten (the reader was too
 * slow); reading then resumes at the oldest kept. Start with *cursor = 0 for
 * everything kept, or rm_pressure_events_head() to follow only new ones.
 * Thread-safe, never blocks on a tick.
 */
void rm_pressure_events_read(rm_pressure_t *p, uint64_t *cursor, rm_pressure_event_t *out,
                             size_t cap, size_t *n, uint64_t *dropped);

/* The seq the next event will get. */
uint64_t rm_pressure_events_head(rm_pressure_t *p);

/*
 * Block until an event with seq ≥ cursor exists, timeout_ms passes, or
 * rm_pressure_events_wake() is called. Returns RM_OK (events available),
 * RM_ETIMEDOUT, or RM_ECANCELED (woken). For WatchPressure streams.
 */
rm_status_t rm_pressure_events_wait(rm_pressure_t *p, uint64_t cursor, uint32_t timeout_ms);

/* Wake every waiter (stream shutdown). */
void rm_pressure_events_wake(rm_pressure_t *p);

/* Called after each event is recorded, on the ticking thread, for logging by
 * the agent. Same calling rules as rm_reclaim_fn. NULL fn removes it. */
typedef void (*rm_pressure_event_fn)(void *ctx, const rm_pressure_event_t *ev);
void rm_pressure_set_event_callback(rm_pressure_t *p, rm_pressure_event_fn fn, void *ctx);

/* ---- alerts -------------------------------------------------------------- */

typedef enum rm_alert_kind {
    RM_ALERT_USAGE_HIGH       = 0,   /* warning > 70 %, critical > 90 % (cleared hysteresis below) */
    RM_ALERT_FRAGMENTATION    = 1,   /* warning > frag_warning (20 %), critical > frag_critical (35 %)
                                      * (cleared hysteresis below) */
    RM_ALERT_PRESSURE_EVENTS  = 2,   /* warning: > events_per_hour (5) level escalations in the last hour */
    RM_ALERT_ALLOC_FAILURES   = 3,   /* warning: any allocation failure in the last hour */
    RM_ALERT_LOW_FREE         = 4,   /* critical: < 5 % of the budget free */
    RM_ALERT_LEAK             = 5,   /* critical: sustained linear growth */
    RM_ALERT_OOM_PREVENTION   = 6,   /* critical: OOM-prevention level (escalation) */
} rm_alert_kind_t;
#define RM_ALERT_KINDS 7

typedef enum rm_alert_severity {
    RM_ALERT_WARNING  = 1,
    RM_ALERT_CRITICAL = 2,
} rm_alert_severity_t;

/* "usage_high", "fragmentation", …; static. */
const char *rm_alert_kind_name(rm_alert_kind_t k);
/* "warning", "critical"; static. */
const char *rm_alert_severity_name(rm_alert_severity_t s);

typedef struct rm_pressure_alert {
    rm_alert_kind_t kind;
    rm_alert_severity_t severity;
    uint64_t since_ns;             /* raised at (severity changes keep it) */
    uint64_t updated_ns;           /* last evaluation */
    double value;                  /* the measured value (fraction, count, slope/s) */
    double threshold;              /* the threshold it crossed */
    char subject[RM_PRESSURE_NAME_MAX];   /* component for fragmentation, "" otherwise */
    char message[128];             /* one human line */
    char name[RM_PRESSURE_NAME_MAX];      /* a host alert's name (kind RM_ALERT_HOST); "" for the
                                           * built-in kinds: use rm_pressure_alert_name() */
} rm_pressure_alert_t;

/* Active alerts into out[0..cap); *n = number active (may exceed cap).
 * Thread-safe, never blocks on a tick. */
void rm_pressure_alerts_list(rm_pressure_t *p, rm_pressure_alert_t *out, size_t cap, size_t *n);

/*
 * Alerts the host raises. The monitor's own alerts follow memory samples; a
 * host hosts more than memory (the buffer pool's disk, for one), and its
 * alerts belong in the same list (ListAlerts, the alert_raised/alert_cleared
 * events). They have kind RM_ALERT_HOST and carry their name.
 *
 * rm_pressure_set_host_alert raises alert `name` (1..RM_PRESSURE_NAME_MAX-1
 * bytes of [a-z0-9_]) at `sev`, or updates it when already active (an
 * alert_raised event only when new or its severity changed; since_ns kept).
 * `message` (one line, truncated to 127 bytes) and `subject` (may be NULL)
 * are copied; value/threshold are reported as given. Returns RM_OK; RM_EINVAL
 * for a bad name, severity or NULL message (nothing changes); RM_ELIMIT when
 * RM_PRESSURE_HOST_ALERTS_MAX other host alerts are active.
 * rm_pressure_clear_host_alert clears it (alert_cleared event); RM_OK also
 * when it was not active; RM_EINVAL for a NULL name.
 * Both take the tick lock (wait for a running tick); event callbacks run on
 * the calling thread. Thread-safe.
 */
#define RM_ALERT_HOST ((rm_alert_kind_t)64)   /* kind of an alert raised by the host */
#define RM_PRESSURE_HOST_ALERTS_MAX 8
rm_status_t rm_pressure_set_host_alert(rm_pressure_t *p, const char *name, rm_alert_severity_t sev,
                                       const char *subject, const char *message, double value,
                                       double threshold);
rm_status_t rm_pressure_clear_host_alert(rm_pressure_t *p, const char *name);

/* An alert's name: its own for a host alert, rm_alert_kind_name() otherwise. Static or a->name. */
const char *rm_pressure_alert_name(const rm_pressure_alert_t *a);

/* ---- stats --------------------------------------------------------------- */

typedef struct rm_pressure_stats {
    uint64_t samples;              /* samples processed */
    uint64_t samples_dropped;      /* ticks without a budget */
    uint64_t level_changes;
    uint64_t escalations;          /* upward level changes since create (what the pressure_events alert counts) */
    uint64_t escalations_last_hour;/* upward level changes in the last hour */
    uint64_t reclaim_calls;
    uint64_t bytes_reclaimed;      /* total */
    uint64_t bytes_reclaimed_by_level[RM_PRESSURE_LEVELS];
    uint64_t alloc_failures;       /* rm_pressure_note_alloc_failure total */
    uint64_t events_recorded;
    uint32_t reclaimers;
    int thread_running;
    int has_rss, has_meminfo, has_psi;   /* last tick's sources ("degrades cleanly") */
    int cgroup_version;
    const char *usage_source;      /* static, last sample: "cgroup", "rss", "memcore", "injected", "none" */
    const char *budget_source;     /* static, last sample: "knob", "cgroup_v1", "cgroup_v2", "memtotal",
                                    * "memavailable", "injected", "none" (no budget: sample dropped) */
} rm_pressure_stats_t;

void rm_pressure_get_stats(rm_pressure_t *p, rm_pressure_stats_t *out);

/* ---- the published snapshot ------------------------------------------- */

/*
 * The published snapshot (docs/adr/0025-stats-snapshot-and-async-knobs.md).
 *
 * Every tick (and every fresh read, below) publishes one immutable snapshot:
 * the system reading it was based on (process, cgroup, PSI, MemTotal), the one
 * usage measure of that reading (ADR 0013), memcore's accounting totals and
 * the latest forecast. Readers copy it without taking any lock a writer holds:
 * the monitor keeps RM_PRESSURE_SNAPSHOT_SLOTS slots, a reader pins the
 * current slot with a per-slot reader count (and retries if the current slot
 * moved while it pinned), and a writer only fills a slot that is neither
 * current nor pinned, then swaps the current index. A reader never waits for
 * a tick, a responder or /proc.
 */
#define RM_PRESSURE_SNAPSHOT_SLOTS 8
#define RM_PRESSURE_FRESH_MIN_MS   100   /* the default rate limit of rm_pressure_refresh (GetMemoryStats fresh) */

typedef struct rm_pressure_snapshot {
    uint64_t seq;                  /* 1, 2, … per publication; 0 = nothing published yet */
    uint64_t sampled_ns;           /* CLOCK_MONOTONIC when `sys` was read, ns */
    uint64_t sampled_unix_ns;      /* CLOCK_REALTIME of the same moment, ns */
    int fresh;                     /* 1: `sys` comes from rm_pressure_refresh, 0: from a tick */
    rm_sysinfo_t sys;              /* the reading (has_* say what was available) */
    rm_sysinfo_usage_t usage;      /* rm_sysinfo_usage(sys, budget knob, memcore held): budget 0 = none */
    uint64_t memcore_used_bytes;   /* accounting registry totals at the reading */
    uint64_t memcore_held_bytes;
    rm_pressure_forecast_t fc;     /* the latest forecast (t_ns 0 before the first accepted sample); it
                                    * may be older than `sys` after a fresh read: fc.sample.t_unix_ns */
    rm_pressure_stats_t st;        /* rm_pressure_get_stats() as of the last tick, trigger or alert change */
} rm_pressure_snapshot_t;

/*
 * Copy the current snapshot into *out. RM_OK; RM_ENOENT when nothing was
 * published yet (*out zeroed, seq 0); RM_EINVAL for NULL arguments. Lock-free
 * for readers (never blocks on a tick, a fresh read or the responder); copies
 * about 2 KiB. Thread-safe.
 */
rm_status_t rm_pressure_snapshot(rm_pressure_t *p, rm_pressure_snapshot_t *out);

/*
 * A fresh read: read the system now (rm_sysinfo_read, the accounting registry,
 * the usage measure with the configured budget) at now_ns (CLOCK_MONOTONIC)
 * and publish it as the snapshot's system part (the forecast part is kept:
 * a fresh read does not feed the forecaster, so it never changes a level or
 * a persistence count). Rate-limited: when the current reading is younger
 * than min_interval_ns, or another fresh read started less than
 * min_interval_ns ago, nothing is read and the current snapshot is copied.
 * *refreshed (may be NULL) is 1 when this call read the system. *out may be
 * NULL. Returns RM_OK, RM_ENOENT when nothing could be published (no reading
 * yet and this call was rate-limited), RM_EINVAL for a NULL p. Does file I/O
 * when it refreshes; never takes the tick lock. Thread-safe.
 */
rm_status_t rm_pressure_refresh(rm_pressure_t *p, uint64_t now_ns, uint64_t min_interval_ns,
                                rm_pressure_snapshot_t *out, int *refreshed);

#ifdef __cplusplus
}
#endif
#endif /* RUSTYMEM_PRESSURE_H */
