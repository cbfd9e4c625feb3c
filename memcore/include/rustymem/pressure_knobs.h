/*
 * pressure_knobs — the pressure monitor configured by the knob registry.
 *
 * Every host of a pressure monitor (rustymemd, the SQLite integration) binds
 * the same knobs to it: pressure.* (thresholds, history, confidence, horizons,
 * persistence, dwell), memory.budget_bytes and alerts.* (fragmentation and
 * pressure-event alert thresholds). This module is that binding, once: it
 * builds a configuration from the registry, refuses a change the monitor
 * would reject (a veto, so SetKnobs answers INVALID_ARGUMENT and changes
 * nothing), and applies accepted changes live.
 */
#ifndef RUSTYMEM_PRESSURE_KNOBS_H
#define RUSTYMEM_PRESSURE_KNOBS_H

#include "rustymem/knobs.h"
#include "rustymem/pressure.h"
#include "rustymem/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Overwrite the knob-backed fields of *cfg (thresholds, history_size,
 * min_confidence, forecast_persist_samples, step_down_hold_sec,
 * budget_bytes, target_fraction, the alert thresholds, the horizons) with
 * the registry's current values; other fields are left as they are (start
 * from rm_pressure_config_default or rm_pressure_get_config).
 * Thread-safe (the registry's readers take no lock). Never fails; the result
 * may still be refused by rm_pressure_config_validate.
 */
void rm_pressure_config_from_knobs(rm_knobs_t *k, rm_pressure_config_t *cfg);

typedef struct rm_pressure_knobs rm_pressure_knobs_t;

/*
 * Keep monitor `p` configured from registry `k`: subscribes to "pressure.",
 * "memory." and "alerts." with a veto that refuses a combination the monitor
 * rejects (why names it) and an apply step that calls rm_pressure_set_config
 * (and rm_pressure_rejudge when memory.budget_bytes changed: the level is
 * judged against the new budget at the next sample, not after the dwell).
 * Does not change p's current configuration (create it from
 * rm_pressure_config_from_knobs first). *out is owned by the caller and must
 * be released with rm_pressure_unfollow_knobs before p or k is destroyed.
 * RM_OK; RM_EINVAL (NULL argument); RM_ENOMEM (nothing subscribed then).
 */
rm_status_t rm_pressure_follow_knobs(rm_pressure_t *p, rm_knobs_t *k, rm_pressure_knobs_t **out);

/* Unsubscribe and free. NULL is a no-op. Not concurrent with itself. */
void rm_pressure_unfollow_knobs(rm_pressure_knobs_t *b);

#ifdef __cplusplus
}
#endif
#endif /* RUSTYMEM_PRESSURE_KNOBS_H */
