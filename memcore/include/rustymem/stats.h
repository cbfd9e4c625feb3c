/*
 * stats.h — the accounting registry every memcore component reports into.
 *
 * A component (slab, arena, large_object, buffer_pool, …) registers a report
 * callback once. A snapshot calls every callback and collects bytes used (held
 * by live objects) and bytes held (taken from the OS or a parent allocator,
 * used or not). Callbacks read the component's own counters — typically
 * per-CPU counters summed at snapshot time — so the allocation hot paths never
 * touch a shared lock or cache line on account of statistics.
 *
 * The words follow jemalloc's vocabulary: "used" ≈ allocated, "held" ≈ active
 * + retained metadata that the component owns. fragmentation = 1 − used/held.
 */
#ifndef RUSTYMEM_STATS_H
#define RUSTYMEM_STATS_H

#include <stddef.h>
#include <stdint.h>

#include "rustymem/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define RM_COMPONENT_NAME_MAX 32   /* bytes, including the terminating NUL */
#define RM_COMPONENTS_MAX     32   /* components that can be registered at once */

typedef struct rm_component_usage {
    char name[RM_COMPONENT_NAME_MAX];
    uint64_t used_bytes;   /* bytes in live objects */
    uint64_t held_bytes;   /* bytes the component holds (≥ used_bytes) */
    uint8_t nested;        /* 1: the memory is drawn from another registered component (records in
                            * slab classes or large objects) or the process heap: listed on its own,
                            * but left out of memcore totals, where it would be counted twice */
    uint64_t reserved_bytes; /* of held_bytes, kept free on purpose and given back whole, never
                              * a gap between live objects (≤ held_bytes - used_bytes): an arena's
                              * unused block space (the transaction's reservation, freed at commit
                              * or rollback) and its block cache. Not fragmentation. */
} rm_component_usage_t;

/*
 * Fills *out for the component. Called with the registry's lock held: it must
 * not register or unregister, and should be quick (sum counters, no I/O).
 */
typedef void (*rm_stats_report_fn)(void *ctx, rm_component_usage_t *out);

typedef struct rm_stats_handle rm_stats_handle_t;

/*
 * Register a component. `name` is copied (truncated to RM_COMPONENT_NAME_MAX-1
 * bytes). Several instances may share a name; snapshots merge them by name.
 * Returns RM_OK and a handle in *out, RM_EINVAL for a NULL/empty name or NULL
 * fn, RM_ELIMIT when RM_COMPONENTS_MAX registrations exist, RM_ENOMEM if the
 * handle cannot be allocated. On failure nothing is registered.
 * Thread-safe.
 */
rm_status_t rm_stats_register(const char *name, rm_stats_report_fn fn, void *ctx,
                              rm_stats_handle_t **out);

/* Remove a registration; NULL is a no-op. After return `fn` is never called
 * again for it. Thread-safe. */
void rm_stats_unregister(rm_stats_handle_t *h);

/*
 * Snapshot every registered component into out[0..cap), merged by name and
 * in registration order of first appearance. *n receives the number of
 * distinct components (which may exceed cap: then only cap are written).
 * Thread-safe; takes the registry lock, never a hot-path lock.
 */
void rm_stats_components(rm_component_usage_t *out, size_t cap, size_t *n);

/*
 * memcore totals of a snapshot: sums of used and held bytes over the components
 * that are not nested (the allocators that take memory from the OS). Either
 * out-pointer may be NULL. Pure function; thread-safe.
 */
void rm_stats_totals(const rm_component_usage_t *comps, size_t n, uint64_t *used_bytes, uint64_t *held_bytes);

/* Fragmentation ratio 1 − used/held in [0, 1]; 0 when held is 0. */
double rm_stats_fragmentation(uint64_t used_bytes, uint64_t held_bytes);

/*
 * A component's fragmentation: rm_stats_fragmentation over the memory that
 * is not reserved on purpose (used / (held - reserved)). An arena's unused
 * blocks are its transactions' reservation, so an arena under load reads 0
 * here, not the 99.9 % that used / held gives (2 MiB of initial blocks holding
 * 11 KiB of records raised a critical fragmentation alert). Pure function.
 */
double rm_stats_component_fragmentation(const rm_component_usage_t *c);

/* The seed's status word for a fragmentation ratio: "Good" (< 0.20),
 * "Fair" (< 0.35), else "Poor". Static string. */
const char *rm_stats_fragmentation_status(double ratio);

#ifdef __cplusplus
}
#endif
#endif /* RUSTYMEM_STATS_H */
