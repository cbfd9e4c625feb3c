/*
 * knobs_internal.h — the knob definition table, the cross-knob constraints and
 * the profile tables, shared by knobs.c (the registry), knobs_defs.c (the
 * data) and knobs_doc.c (the Markdown reference). Never installed.
 */
#ifndef RUSTYMEM_KNOBS_INTERNAL_H
#define RUSTYMEM_KNOBS_INTERNAL_H

#include "rustymem/knobs.h"

/* Cross-knob constraint kinds. */
typedef enum rm__knob_rel {
    RM__REL_LT,         /* a <  b (INT64/BYTES/DOUBLE) */
    RM__REL_LE,         /* a <= b */
    RM__REL_FRAMES_FIT, /* a (frames) * b (page bytes) <= c (budget bytes) when a and c != 0 */
} rm__knob_rel_t;

typedef struct rm__knob_constraint {
    rm__knob_rel_t rel;
    rm_knob_id_t a, b, c;   /* c used by RM__REL_FRAMES_FIT only */
    const char *why;        /* the reason, for docs */
} rm__knob_constraint_t;

extern const rm_knob_def_t rm__knob_defs[RM_KNOB_COUNT];
extern const rm__knob_constraint_t rm__knob_constraints[];
extern const size_t rm__knob_constraint_count;

/* "[min, max]" of a numeric knob in its own units (bytes with a suffix),
 * into buf of len bytes (truncated, always terminated). */
void rm__knobs_format_range(const rm_knob_def_t *def, char *buf, size_t len);

/* When a change of the knob applies: "restart" or "live". */
static inline const char *
rm__knob_context(const rm_knob_def_t *def)
{
    return def->restart ? "restart" : "live";
}

#endif /* RUSTYMEM_KNOBS_INTERNAL_H */
