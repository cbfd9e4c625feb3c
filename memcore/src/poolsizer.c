/*
 * poolsizer.c — adaptive pool sizing controller (see poolsizer.h).
 *
 * Design note. Two locks: `mu` guards the controller state and is held only
 * to decide; `apply_mu` is held across decide + apply so that apply calls
 * happen in decision order and a failed apply can restore the previous target
 * before anyone else decides. Lock order: apply_mu → mu. The callback runs
 * with apply_mu only, so it may take the session multiplexer's lock.
 */
#include "rustymem/poolsizer.h"
#include "rustymem/stats.h"
#include "rm_internal.h"

#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define POOL_LIMIT 100000u

struct rm_poolsizer {
    pthread_mutex_t apply_mu;     /* serialises decisions with their apply */
    pthread_mutex_t mu;           /* guards everything below */
    uint32_t target, min_size, max_size;
    double down, up, grow;
    uint64_t up_window, down_window;   /* ns */
    bool high, low;               /* inside a high / low run */
    uint64_t high_since, low_since;    /* ns; valid when high / low */
    uint32_t low_peak;            /* peak demand during the low run */
    double last_u, avg_u;
    uint64_t samples, ups, downs, apply_failures;
    rm_poolsizer_apply_fn apply;
    void *apply_ctx;
    uint64_t (*now_fn)(void *);
    void *now_ctx;
    rm_stats_handle_t *stats_h;
};

static void
report(void *ctx, rm_component_usage_t *out)
{
    out->nested = 1;
    out->used_bytes = sizeof(struct rm_poolsizer);
    out->held_bytes = sizeof(struct rm_poolsizer);
}

static inline uint32_t
clamp_size(uint64_t v, uint32_t lo, uint32_t hi)
{
    return v < lo ? lo : v > hi ? hi : (uint32_t)v;
}

static inline double
midpoint(const rm_poolsizer_t *ps)
{
    return (ps->up + ps->down) / 2.0;
}

rm_status_t
rm_poolsizer_create(const rm_poolsizer_config_t *cfg, rm_poolsizer_t **out)
{
    RM__CREATE_ARGS_OR_EINVAL(cfg, out);
    uint32_t mn = cfg->min_size ? cfg->min_size : RM_POOLSIZER_DEFAULT_MIN;
    uint32_t mx = cfg->max_size ? cfg->max_size : RM_POOLSIZER_DEFAULT_MAX;
    double down = cfg->scale_down_threshold > 0 ? cfg->scale_down_threshold : RM_POOLSIZER_DEFAULT_DOWN;
    double up = cfg->scale_up_threshold > 0 ? cfg->scale_up_threshold : RM_POOLSIZER_DEFAULT_UP;
    double grow = cfg->grow_factor != 0 ? cfg->grow_factor : RM_POOLSIZER_DEFAULT_GROW;
    if (mn > mx || mx > POOL_LIMIT || !(down > 0 && down < up && up <= 1.0) || !(grow > 1.0))
        return RM_EINVAL;
    rm_poolsizer_t *ps = calloc(1, sizeof *ps);
    if (!ps)
        return RM_ENOMEM;
    ps->min_size = mn;
    ps->max_size = mx;
    ps->down = down;
    ps->up = up;
    ps->grow = grow;
    ps->up_window = cfg->scale_up_window_ns ? cfg->scale_up_window_ns : RM_POOLSIZER_DEFAULT_UP_WINDOW;
    ps->down_window = cfg->scale_down_window_ns ? cfg->scale_down_window_ns
                                                : RM_POOLSIZER_DEFAULT_DOWN_WINDOW;
    ps->target = clamp_size(cfg->initial_size ? cfg->initial_size : mn, mn, mx);
    ps->apply = cfg->apply;
    ps->apply_ctx = cfg->apply_ctx;
    ps->now_fn = cfg->now_ns ? cfg->now_ns : rm__now_ns_hook;
    ps->now_ctx = cfg->now_ctx;
    pthread_mutex_init(&ps->mu, NULL);
    pthread_mutex_init(&ps->apply_mu, NULL);
    rm_status_t rc = rm_stats_register("pool", report, ps, &ps->stats_h);
    if (rc != RM_OK) {
        pthread_mutex_destroy(&ps->mu);
        pthread_mutex_destroy(&ps->apply_mu);
        free(ps);
        return rc;
    }
    *out = ps;
    return RM_OK;
}

void
rm_poolsizer_destroy(rm_poolsizer_t *ps)
{
    if (!ps)
        return;
    rm_stats_unregister(ps->stats_h);
    pthread_mutex_destroy(&ps->mu);
    pthread_mutex_destroy(&ps->apply_mu);
    free(ps);
}

/*
 * Apply `next` if it differs from `prev` (the target before the decision,
 * already replaced by `next` under mu). Needs apply_mu, not mu. On failure
 * restores prev. Returns the callback's status.
 */
static rm_status_t
apply_change(rm_poolsizer_t *ps, uint32_t prev, uint32_t next)
{
    if (prev == next || !ps->apply)
        return RM_OK;
    rm_status_t rc = ps->apply(ps->apply_ctx, next);
    if (rc != RM_OK) {
        pthread_mutex_lock(&ps->mu);
        ps->target = prev;
        ps->apply_failures++;
        pthread_mutex_unlock(&ps->mu);
    }
    return rc;
}

rm_status_t
rm_poolsizer_observe(rm_poolsizer_t *ps, uint32_t busy, uint32_t waiting, uint32_t total,
                     uint32_t *target)
{
    if (!ps)
        return RM_EINVAL;
    pthread_mutex_lock(&ps->apply_mu);
    pthread_mutex_lock(&ps->mu);
    uint64_t now = ps->now_fn(ps->now_ctx);
    uint64_t demand = (uint64_t)busy + waiting;
    uint32_t prev = ps->target;
    uint32_t pool = total ? total : ps->target;
    double u = pool ? (double)demand / pool : (demand ? 1.0 : 0.0);
    if (u > 1.0)
        u = 1.0;
    ps->samples++;
    ps->last_u = u;
    ps->avg_u = ps->samples == 1 ? u : 0.2 * u + 0.8 * ps->avg_u;
    double mid = midpoint(ps);

    if (u >= ps->up) {
        ps->low = false;
        if (!ps->high) {
            ps->high = true;
            ps->high_since = now;
        }
        if (now - ps->high_since >= ps->up_window && ps->target < ps->max_size) {
            uint64_t next = (uint64_t)ps->target + 1;
            uint64_t by_factor = (uint64_t)ceil(ps->target * ps->grow);
            uint64_t by_demand = (uint64_t)ceil((double)demand / mid);
            if (by_factor > next)
                next = by_factor;
            if (by_demand > next)
                next = by_demand;
            ps->target = clamp_size(next, ps->min_size, ps->max_size);
            ps->ups++;
            ps->high_since = now;   /* the next move needs another full window */
        }
    } else if (u < ps->down) {
        ps->high = false;
        if (!ps->low) {
            ps->low = true;
            ps->low_since = now;
            ps->low_peak = (uint32_t)(demand > UINT32_MAX ? UINT32_MAX : demand);
        } else if (demand > ps->low_peak) {
            ps->low_peak = (uint32_t)(demand > UINT32_MAX ? UINT32_MAX : demand);
        }
        if (now - ps->low_since >= ps->down_window && ps->target > ps->min_size) {
            uint64_t next = (uint64_t)ceil((double)ps->low_peak / mid);
            next = clamp_size(next, ps->min_size, ps->max_size);
            if (next < ps->target) {
                ps->target = (uint32_t)next;
                ps->downs++;
            }
            ps->low_since = now;
            ps->low_peak = (uint32_t)(demand > UINT32_MAX ? UINT32_MAX : demand);
        }
    } else {
        ps->high = ps->low = false;   /* the middle band: hold */
    }
    uint32_t next = ps->target;
    pthread_mutex_unlock(&ps->mu);
    rm_status_t rc = apply_change(ps, prev, next);
    if (target)
        *target = rm_poolsizer_target(ps);
    pthread_mutex_unlock(&ps->apply_mu);
    return rc;
}

uint32_t
rm_poolsizer_target(rm_poolsizer_t *ps)
{
    return RM_LOCKED_READ(&ps->mu, ps->target);
}

/* Set the range and re-clamp the target, applying a change. */
static rm_status_t
set_range(rm_poolsizer_t *ps, int which, uint32_t n)
{
    if (!ps || n == 0 || n > POOL_LIMIT)
        return RM_EINVAL;
    pthread_mutex_lock(&ps->apply_mu);
    pthread_mutex_lock(&ps->mu);
    uint32_t mn = which == 0 ? n : ps->min_size;
    uint32_t mx = which == 1 ? n : ps->max_size;
    if (mn > mx) {
        pthread_mutex_unlock(&ps->mu);
        pthread_mutex_unlock(&ps->apply_mu);
        return RM_EINVAL;
    }
    ps->min_size = mn;
    ps->max_size = mx;
    uint32_t prev = ps->target;
    ps->target = clamp_size(prev, mn, mx);
    uint32_t next = ps->target;
    pthread_mutex_unlock(&ps->mu);
    rm_status_t rc = apply_change(ps, prev, next);
    pthread_mutex_unlock(&ps->apply_mu);
    return rc == RM_OK ? RM_OK : rc;
}

rm_status_t
rm_poolsizer_set_min_size(rm_poolsizer_t *ps, uint32_t n)
{
    return set_range(ps, 0, n);
}

rm_status_t
rm_poolsizer_set_max_size(rm_poolsizer_t *ps, uint32_t n)
{
    return set_range(ps, 1, n);
}

/* Set one threshold (which: 0 scale-down, 1 scale-up), keeping the rule
 * rm_poolsizer_create checks: 0 < down < up <= 1. */
static rm_status_t
set_threshold(rm_poolsizer_t *ps, int which, double t)
{
    if (!ps)
        return RM_EINVAL;
    pthread_mutex_lock(&ps->mu);
    double down = which == 0 ? t : ps->down;
    double up = which == 1 ? t : ps->up;
    rm_status_t rc = RM_EINVAL;
    if (down > 0 && down < up && up <= 1.0) {
        ps->down = down;
        ps->up = up;
        rc = RM_OK;
    }
    pthread_mutex_unlock(&ps->mu);
    return rc;
}

rm_status_t
rm_poolsizer_set_scale_down_threshold(rm_poolsizer_t *ps, double t)
{
    return set_threshold(ps, 0, t);
}

rm_status_t
rm_poolsizer_set_scale_up_threshold(rm_poolsizer_t *ps, double t)
{
    return set_threshold(ps, 1, t);
}

rm_status_t
rm_poolsizer_set_windows(rm_poolsizer_t *ps, uint64_t up_ns, uint64_t down_ns)
{
    if (!ps || up_ns == 0 || down_ns == 0)
        return RM_EINVAL;
    pthread_mutex_lock(&ps->mu);
    ps->up_window = up_ns;
    ps->down_window = down_ns;
    pthread_mutex_unlock(&ps->mu);
    return RM_OK;
}

void
rm_poolsizer_stats(rm_poolsizer_t *ps, rm_poolsizer_stats_t *o)
{
    memset(o, 0, sizeof *o);
    pthread_mutex_lock(&ps->mu);
    o->target = ps->target;
    o->min_size = ps->min_size;
    o->max_size = ps->max_size;
    o->scale_down_threshold = ps->down;
    o->scale_up_threshold = ps->up;
    o->last_utilisation = ps->last_u;
    o->avg_utilisation = ps->avg_u;
    o->samples = ps->samples;
    o->scale_ups = ps->ups;
    o->scale_downs = ps->downs;
    o->apply_failures = ps->apply_failures;
    pthread_mutex_unlock(&ps->mu);
}
