/*
 * exp_metrics.h — Prometheus text exposition (format 0.0.4) for
 * rustymem-exporter, and the generic protobuf-c → metrics conversion.
 *
 * Design note: a scrape collects samples into an rm_exp_reg_t, which groups
 * them by family (all samples of one family must be contiguous, with one HELP
 * and one TYPE line) while the descriptor walk produces them in message
 * order, where families interleave (one line per repeated element). Rendering
 * then prints families in first-seen order. The conversion reads nothing but
 * the protobuf-c descriptors, so a field added to a .proto, or an RPC that
 * starts answering, shows up in /metrics without a change here. This file
 * knows nothing of gRPC or HTTP so that unit tests can drive it with
 * hand-built messages.
 *
 * Naming rules (docs/adr/0007-exporter-metrics.md): rustymem_<family>_<path>;
 * nested messages flatten with '_'; *_percent / percentage become *_ratio
 * (÷100), *_ms become *_seconds (÷1000), *_unix_ms become *_timestamp_seconds;
 * *_total fields are counters, every other number, bool (0/1) and enum (its
 * number) a gauge; repeated messages become one series per element, labelled
 * by their identifying fields; other strings go into an *_info gauge.
 * HELP texts come from rm_exp_help (ADR 0028), and the few names that broke
 * Prometheus' naming guide are renamed, the old name kept one release.
 */
#ifndef RUSTYMEM_EXP_METRICS_H
#define RUSTYMEM_EXP_METRICS_H

#include <protobuf-c/protobuf-c.h>
#include <stddef.h>

#include "rm_base.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum rm_exp_type {
    RM_EXP_GAUGE = 0,
    RM_EXP_COUNTER = 1,
} rm_exp_type_t;

typedef struct rm_exp_reg rm_exp_reg_t;

/* Longest metric name and longest rendered label set we produce (bytes). */
#define RM_EXP_NAME_MAX 200
#define RM_EXP_LABELS_MAX 1024

/*
 * Create an empty registry. Returns RM_OK with *out, or RM_ENOMEM (*out NULL).
 * One registry belongs to one scrape (one thread); it is not thread-safe.
 */
rm_status_t rm_exp_reg_create(rm_exp_reg_t **out);
/* Free the registry and every sample. NULL is a no-op. */
void rm_exp_reg_destroy(rm_exp_reg_t *reg);

/*
 * Add one sample. `name` is the full metric name (must match
 * [a-zA-Z_:][a-zA-Z0-9_:]*, checked), `help` one line of text (copied; only
 * the first non-NULL help of a family is kept), `labels` an already rendered
 * label set without braces ("a=\"x\",b=\"y\"", build it with
 * rm_exp_label_append) or NULL/"" for none. Returns RM_OK, RM_EINVAL (bad
 * name, or the family exists with another type: the sample is dropped) or
 * RM_ENOMEM (dropped; the registry stays usable).
 */
rm_status_t rm_exp_reg_add(rm_exp_reg_t *reg, const char *name, rm_exp_type_t type, const char *help,
                           const char *labels, double value);

/*
 * Append name="value" (value escaped per the exposition format: \\, \", \n)
 * to the label set in buf (NUL-terminated, capacity cap bytes), with a comma
 * when buf is not empty. Returns RM_OK, or RM_ELIMIT when it would not fit
 * (buf unchanged).
 */
rm_status_t rm_exp_label_append(char *buf, size_t cap, const char *name, const char *value);

/* Number of families / samples collected so far. */
size_t rm_exp_reg_families(const rm_exp_reg_t *reg);
size_t rm_exp_reg_samples(const rm_exp_reg_t *reg);
/* 1 when a family of that name holds at least one sample. */
int rm_exp_reg_has(const rm_exp_reg_t *reg, const char *name);

/*
 * Render every family (HELP, TYPE, samples) in first-seen order. On RM_OK
 * *out is a malloc'ed NUL-terminated text the caller frees and *len its
 * length; on RM_ENOMEM *out is NULL.
 */
rm_status_t rm_exp_reg_render(const rm_exp_reg_t *reg, char **out, size_t *len);

/*
 * Convert a decoded message into samples, descriptor-driven (rules above).
 * `family` is the name part after "rustymem_" ("memory", "slab"; "" for
 * none), `source` a short text naming the RPC (kept for callers; HELP lines
 * come from rm_exp_help and name no RPC),
 * `base_labels` labels put on every sample (NULL/"" for none). Samples that
 * cannot be added (OOM, limits) are skipped; returns the number of samples
 * added.
 */
size_t rm_exp_convert(rm_exp_reg_t *reg, const ProtobufCMessage *msg, const char *family, const char *source,
                      const char *base_labels);

/*
 * Normalise a field name to Prometheus base units: writes the metric suffix
 * to out (capacity cap) and the factor the value must be multiplied by.
 * "used_percent" → "used_ratio" ×0.01, "since_unix_ms" →
 * "since_timestamp_seconds" ×0.001, "latency_ms_total" →
 * "latency_seconds_total" ×0.001; other names unchanged ×1.
 */
void rm_exp_unit_name(const char *field, char *out, size_t cap, double *scale);

/*
 * The HELP text of a metric family, written for people: what it measures and
 * in what unit (a hand-written text for the families on dashboards and in
 * alerts, else one derived from the name's subject and unit suffix; never a
 * protobuf path). `is_bool` adds "(1 = yes, 0 = no)" to a derived text.
 * Always NUL-terminates out (cap > 0).
 */
void rm_exp_help(const char *name, int is_bool, char *out, size_t cap);

/*
 * Renamed families (CHANGELOG.md): for a deprecated old name, the new name,
 * "" when it has no one-to-one replacement; NULL when the name is current.
 * rm_exp_convert serves a deprecated name next to its replacement for one
 * release, with a HELP text that starts "Deprecated".
 */
const char *rm_exp_renamed_to(const char *old_name);

/*
 * Parse a knob value as TuningService renders it ("0.7", "128", "100MiB",
 * "true") into a number. Returns RM_OK with *out, or RM_EINVAL for
 * non-numeric values (enums, lists).
 */
rm_status_t rm_exp_parse_knob_value(const char *type, const char *value, double *out);

#ifdef __cplusplus
}
#endif
#endif /* RUSTYMEM_EXP_METRICS_H */
