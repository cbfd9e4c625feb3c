/*
 * recalloc.h — the record allocator interface shared by session, mvcc and
 * plancache: how those modules take their fixed-size records, so the engine
 * can route them to slab classes by size (ADR 0010, ADR 0011).
 */
#ifndef RUSTYMEM_RECALLOC_H
#define RUSTYMEM_RECALLOC_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * alloc returns NULL on failure (nothing allocated); free receives the size
 * given to alloc (so a slab-backed implementation needs no header). Both
 * must be thread-safe. ctx is passed to both.
 */
typedef struct rm_recalloc {
    void *(*alloc)(void *ctx, size_t size);
    void (*free)(void *ctx, void *p, size_t size);
    void *ctx;
} rm_recalloc_t;

#ifdef __cplusplus
}
#endif
#endif /* RUSTYMEM_RECALLOC_H */
