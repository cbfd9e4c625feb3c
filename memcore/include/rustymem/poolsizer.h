/*
 * poolsizer.h — adaptive connection-pool sizing between pool.min_size and
 * pool.max_size: grow under sustained high utilisation, shrink when
 * utilisation stays below pool.scale_down_threshold for a window.
 *
 * Design note. The sizer is a pure controller: it is fed samples
 * (rm_poolsizer_observe: busy, waiting, pool size) by whoever owns the clock
 * loop (the engine's sampler), keeps a target size, and pushes every change
 * through an apply callback — wired to rm_session_pool_apply, which closes
 * idle slots and unmaps their scratch memory on a shrink. Utilisation u =
 * (busy + waiting) / pool size, capped at 1.
 *  - Grow: u ≥ scale_up_threshold in every sample for scale_up_window_ns →
 *    target = max(target + 1, ⌈target × grow_factor⌉, ⌈demand / mid⌉).
 *  - Shrink: u < scale_down_threshold in every sample for
 *    scale_down_window_ns → target = max(min_size, ⌈peak demand in the
 *    window / mid⌉), where mid = (up + down) / 2, so that after a move
 *    utilisation lands between the two thresholds and does not bounce.
 *  - A sample in the middle band resets both windows (hysteresis); each move
 *    restarts its window, so consecutive moves are a window apart.
 * Time comes from an injectable clock, so tests are deterministic.
 */
#ifndef RUSTYMEM_POOLSIZER_H
#define RUSTYMEM_POOLSIZER_H

#include <stdint.h>

#include "rustymem/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define RM_POOLSIZER_DEFAULT_MIN        10u
#define RM_POOLSIZER_DEFAULT_MAX        500u
#define RM_POOLSIZER_DEFAULT_DOWN       0.40
#define RM_POOLSIZER_DEFAULT_UP         0.80
#define RM_POOLSIZER_DEFAULT_UP_WINDOW  (1ull * 1000000000ull)    /* ns */
#define RM_POOLSIZER_DEFAULT_DOWN_WINDOW (60ull * 1000000000ull)  /* ns */
#define RM_POOLSIZER_DEFAULT_GROW       1.5

/*
 * Apply a new target pool size (connections). Called without the sizer's
 * state lock but serialised with other apply calls, in decision order.
 * A non-OK return leaves the sizer's target at its previous value.
 */
typedef rm_status_t (*rm_poolsizer_apply_fn)(void *ctx, uint32_t target);

typedef struct rm_poolsizer rm_poolsizer_t;

typedef struct rm_poolsizer_config {
    uint32_t min_size;              /* pool.min_size; 0 = 10 */
    uint32_t max_size;              /* pool.max_size; 0 = 500 */
    double scale_down_threshold;    /* pool.scale_down_threshold; 0 = 0.40 */
    double scale_up_threshold;      /* 0 = 0.80; must exceed the down threshold */
    uint64_t scale_up_window_ns;    /* 0 = 1 s; use RM_POOLSIZER_IMMEDIATE for none */
    uint64_t scale_down_window_ns;  /* 0 = 60 s */
    double grow_factor;             /* > 1; 0 = 1.5 */
    uint32_t initial_size;          /* 0 = min_size; clamped to [min, max] */
    rm_poolsizer_apply_fn apply;    /* may be NULL (then read rm_poolsizer_target) */
    void *apply_ctx;
    uint64_t (*now_ns)(void *ctx);  /* NULL = CLOCK_MONOTONIC */
    void *now_ctx;
} rm_poolsizer_config_t;

#define RM_POOLSIZER_IMMEDIATE 1ull   /* a 1 ns window: act on the next sample */

typedef struct rm_poolsizer_stats {
    uint32_t target;               /* current pool size */
    uint32_t min_size, max_size;
    double scale_down_threshold, scale_up_threshold;
    double last_utilisation;       /* of the last sample, [0, 1] */
    double avg_utilisation;        /* EWMA (α = 0.2) over samples */
    uint64_t samples, scale_ups, scale_downs, apply_failures;
} rm_poolsizer_stats_t;

/*
 * Create a sizer. cfg may be NULL (defaults). RM_EINVAL for min > max, a
 * threshold outside (0, 1], down ≥ up, grow_factor ≤ 1 or NULL out; RM_ENOMEM;
 * RM_ELIMIT (accounting registry full). The initial target is not applied:
 * create the pool with rm_poolsizer_target().
 */
rm_status_t rm_poolsizer_create(const rm_poolsizer_config_t *cfg, rm_poolsizer_t **out);

/* NULL is a no-op. No concurrent calls. */
void rm_poolsizer_destroy(rm_poolsizer_t *ps);

/*
 * Feed one sample: `busy` connections in use, `waiting` requests waiting for
 * one, against a pool of `total` connections (0 = the sizer's own target).
 * May change the target and call apply. *target (may be NULL) receives the
 * target after the sample. Returns RM_OK, or the apply callback's error (the
 * target then stays where it was). Thread-safe.
 */
rm_status_t rm_poolsizer_observe(rm_poolsizer_t *ps, uint32_t busy, uint32_t waiting,
                                 uint32_t total, uint32_t *target);

/* Current target. Thread-safe. */
uint32_t rm_poolsizer_target(rm_poolsizer_t *ps);

/*
 * Live setters. min/max: 1 ≤ min ≤ max ≤ 100000, else RM_EINVAL (unchanged);
 * a target outside the new range is clamped and applied. Thresholds:
 * 0 < down < up ≤ 1, else RM_EINVAL. Windows in ns (0 = RM_EINVAL).
 * Thread-safe.
 */
rm_status_t rm_poolsizer_set_min_size(rm_poolsizer_t *ps, uint32_t n);
rm_status_t rm_poolsizer_set_max_size(rm_poolsizer_t *ps, uint32_t n);
rm_status_t rm_poolsizer_set_scale_down_threshold(rm_poolsizer_t *ps, double t);
rm_status_t rm_poolsizer_set_scale_up_threshold(rm_poolsizer_t *ps, double t);
rm_status_t rm_poolsizer_set_windows(rm_poolsizer_t *ps, uint64_t up_ns, uint64_t down_ns);

/* Fill *out. Thread-safe. */
void rm_poolsizer_stats(rm_poolsizer_t *ps, rm_poolsizer_stats_t *out);

#ifdef __cplusplus
}
#endif
#endif /* RUSTYMEM_POOLSIZER_H */
