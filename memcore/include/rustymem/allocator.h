/*
 * rustymem/allocator.h — the one methods table every memcore allocator fills
 * (STYLE.md; PostgreSQL's MemoryContextMethods, SQLite's sqlite3_mem_methods).
 *
 * A caller holding an rm_allocator_methods_t and its `self` can allocate,
 * free, reset, destroy, size, count and check without knowing which allocator
 * it has. Today the arena (rm_arena_methods, self = rm_arena_t *) and the
 * large-object allocator (rm_large_methods, self = rm_large_t *) fill it; the
 * buffer pool and the forecaster are not allocators and do not.
 *
 * Contract of every entry (each implementation's header adds its specifics):
 *  - alloc(self, bytes): a block of at least `bytes` bytes, owned by the
 *    caller until free/reset/destroy; NULL when the allocator cannot serve it
 *    (no memory, over a limit, bytes = 0 where the allocator refuses it), and
 *    then nothing changed.
 *  - free(self, p): give p back; p = NULL is a no-op. An allocator without
 *    per-block headers (the arena) frees nothing until reset.
 *  - reset(self): every block of self is freed at once; outstanding pointers
 *    become invalid; self stays usable. Never fails.
 *  - destroy(self): reset and free self itself; self is invalid after.
 *  - usable_size(self, p): bytes usable at p (≥ what alloc was asked), 0 when
 *    the allocator does not record sizes.
 *  - stats(self, out): fills the allocator's own stats struct (rm_arena_stats_t,
 *    rm_large_stats_t); out is owned by the caller.
 *  - check(self): RM_OK or RM_ECORRUPT (invariants broken); changes nothing.
 *  - Units: bytes. Thread-safety: that of the underlying allocator (an arena
 *    is single-threaded by its owner; the large-object allocator is safe from
 *    any thread). The table itself is a constant: share it freely.
 */
#ifndef RUSTYMEM_ALLOCATOR_H
#define RUSTYMEM_ALLOCATOR_H

#include <stddef.h>

#include "rustymem/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct rm_allocator_methods {
    void *(*alloc)(void *self, size_t bytes);
    void (*free)(void *self, void *p);
    void (*reset)(void *self);
    void (*destroy)(void *self);
    size_t (*usable_size)(void *self, const void *p);
    void (*stats)(void *self, void *out);
    rm_status_t (*check)(void *self);
} rm_allocator_methods_t;

#ifdef __cplusplus
}
#endif
#endif /* RUSTYMEM_ALLOCATOR_H */
