/*
 * The pressure monitor configured by the knob registry
 * (include/rustymem/pressure_knobs.h): one binding for every host.
 */
#include <stdio.h>
#include <stdlib.h>

#include "rustymem/pressure_knobs.h"

struct rm_pressure_knobs {
    rm_pressure_t *p;
    rm_knobs_t *k;
    rm_knobs_sub_t *subs[3];
};

void
rm_pressure_config_from_knobs(rm_knobs_t *k, rm_pressure_config_t *cfg)
{
    cfg->warning_threshold = rm_knobs_get_double(k, RM_KNOB_PRESSURE_WARNING_THRESHOLD);
    cfg->high_pressure_threshold = rm_knobs_get_double(k, RM_KNOB_PRESSURE_HIGH_PRESSURE_THRESHOLD);
    cfg->critical_threshold = rm_knobs_get_double(k, RM_KNOB_PRESSURE_CRITICAL_THRESHOLD);
    cfg->emergency_threshold = rm_knobs_get_double(k, RM_KNOB_PRESSURE_EMERGENCY_THRESHOLD);
    cfg->history_size = (uint32_t)rm_knobs_get_i64(k, RM_KNOB_PRESSURE_HISTORY_SIZE);
    cfg->min_confidence = rm_knobs_get_double(k, RM_KNOB_PRESSURE_MIN_CONFIDENCE);
    cfg->forecast_persist_samples = (uint32_t)rm_knobs_get_i64(k, RM_KNOB_PRESSURE_FORECAST_PERSIST_SAMPLES);
    cfg->step_down_hold_sec = (uint32_t)rm_knobs_get_i64(k, RM_KNOB_PRESSURE_DWELL_SECONDS);
    cfg->budget_bytes = (uint64_t)rm_knobs_get_i64(k, RM_KNOB_MEMORY_BUDGET_BYTES);
    /* reclaim aims just under the warning line, as the profiles set it (rm_pressure_config_profile);
     * left at the default 0.675, any critical threshold at or below it was refused as "the
     * pressure monitor rejects this combination" */
    cfg->target_fraction = cfg->warning_threshold - cfg->hysteresis / 2;
    cfg->frag_warning = rm_knobs_get_double(k, RM_KNOB_ALERTS_FRAGMENTATION_WARNING);
    cfg->frag_critical = rm_knobs_get_double(k, RM_KNOB_ALERTS_FRAGMENTATION_CRITICAL);
    cfg->events_per_hour = (uint32_t)rm_knobs_get_i64(k, RM_KNOB_ALERTS_PRESSURE_EVENTS_PER_HOUR);
    int64_t h[RM_KNOB_LIST_MAX];
    size_t n = rm_knobs_get_list(k, RM_KNOB_PRESSURE_FORECAST_HORIZONS, h, RM_KNOB_LIST_MAX);
    if (n > RM_PRESSURE_HORIZONS_MAX)
        n = RM_PRESSURE_HORIZONS_MAX;
    cfg->n_horizons = (uint32_t)n;
    for (size_t i = 0; i < n; i++)
        cfg->horizons_sec[i] = (uint32_t)h[i];
}

/* Refuse knob values the monitor cannot take (e.g. more horizons than it keeps). */
static rm_status_t
pressure_veto(void *ctx, const rm_knob_change_t *changes, size_t n, char *why, size_t why_len)
{
    rm_pressure_knobs_t *b = ctx;
    rm_pressure_config_t cfg;
    rm_pressure_get_config(b->p, &cfg);
    rm_pressure_config_from_knobs(b->k, &cfg);
    for (size_t i = 0; i < n; i++) {
        const rm_knob_value_t *v = &changes[i].new_value;
        switch (changes[i].id) {
        case RM_KNOB_PRESSURE_WARNING_THRESHOLD: cfg.warning_threshold = v->d; break;
        case RM_KNOB_PRESSURE_HIGH_PRESSURE_THRESHOLD: cfg.high_pressure_threshold = v->d; break;
        case RM_KNOB_PRESSURE_CRITICAL_THRESHOLD: cfg.critical_threshold = v->d; break;
        case RM_KNOB_PRESSURE_EMERGENCY_THRESHOLD: cfg.emergency_threshold = v->d; break;
        case RM_KNOB_PRESSURE_HISTORY_SIZE: cfg.history_size = (uint32_t)v->i; break;
        case RM_KNOB_PRESSURE_MIN_CONFIDENCE: cfg.min_confidence = v->d; break;
        case RM_KNOB_PRESSURE_FORECAST_PERSIST_SAMPLES: cfg.forecast_persist_samples = (uint32_t)v->i; break;
        case RM_KNOB_PRESSURE_DWELL_SECONDS: cfg.step_down_hold_sec = (uint32_t)v->i; break;
        case RM_KNOB_ALERTS_FRAGMENTATION_WARNING: cfg.frag_warning = v->d; break;
        case RM_KNOB_ALERTS_FRAGMENTATION_CRITICAL: cfg.frag_critical = v->d; break;
        case RM_KNOB_ALERTS_PRESSURE_EVENTS_PER_HOUR: cfg.events_per_hour = (uint32_t)v->i; break;
        case RM_KNOB_PRESSURE_FORECAST_HORIZONS:
            if (v->list.n > RM_PRESSURE_HORIZONS_MAX) {
                snprintf(why, why_len, "at most %d horizons", RM_PRESSURE_HORIZONS_MAX);
                return RM_EINVAL;
            }
            cfg.n_horizons = (uint32_t)v->list.n;
            for (int64_t j = 0; j < v->list.n; j++)
                cfg.horizons_sec[j] = (uint32_t)v->list.v[j];
            break;
        default: break;
        }
    }
    cfg.target_fraction = cfg.warning_threshold - cfg.hysteresis / 2;   /* as rm_pressure_config_from_knobs */
    if (rm_pressure_config_validate(&cfg) != RM_OK) {
        snprintf(why, why_len, "the pressure monitor rejects this combination");
        return RM_EINVAL;
    }
    return RM_OK;
}

static void
pressure_apply(void *ctx, const rm_knob_change_t *changes, size_t n)
{
    rm_pressure_knobs_t *b = ctx;
    rm_pressure_config_t cfg;
    rm_pressure_get_config(b->p, &cfg);
    rm_pressure_config_from_knobs(b->k, &cfg);
    (void)rm_pressure_set_config(b->p, &cfg);
    for (size_t i = 0; i < n; i++)   /* a new budget: judge the level against it at once */
        if (changes[i].id == RM_KNOB_MEMORY_BUDGET_BYTES)
            rm_pressure_rejudge(b->p);
}

rm_status_t
rm_pressure_follow_knobs(rm_pressure_t *p, rm_knobs_t *k, rm_pressure_knobs_t **out)
{
    if (!p || !k || !out)
        return RM_EINVAL;
    rm_pressure_knobs_t *b = calloc(1, sizeof *b);
    if (!b)
        return RM_ENOMEM;
    b->p = p;
    b->k = k;
    /* memory.budget_bytes is the monitor's budget: no veto of ours (the registry checks its range) */
    static const char *const prefixes[3] = {"pressure.", "memory.", "alerts."};
    rm_status_t st = RM_OK;
    for (int i = 0; i < 3 && st == RM_OK; i++)
        st = rm_knobs_subscribe(k, prefixes[i], i == 1 ? NULL : pressure_veto, pressure_apply, b, &b->subs[i]);
    if (st != RM_OK) {
        rm_pressure_unfollow_knobs(b);
        return st;
    }
    *out = b;
    return RM_OK;
}

void
rm_pressure_unfollow_knobs(rm_pressure_knobs_t *b)
{
    if (!b)
        return;
    for (int i = 0; i < 3; i++)
        if (b->subs[i])
            rm_knobs_unsubscribe(b->k, b->subs[i]);
    free(b);
}
