/*
 * engine_internal.h — private pieces shared by the engine's files: the
 * ordered key index (engine_index.c).
 */
#ifndef RUSTYMEM_ENGINE_INTERNAL_H
#define RUSTYMEM_ENGINE_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine.h"

/* An ordered set of byte-string keys (skiplist). Thread-safe. */
typedef struct rm__eidx {
    pthread_rwlock_t mu;
    void *head;              /* sentinel node; guarded by mu */
    uint64_t keys;           /* guarded by mu */
    uint64_t bytes;          /* node bytes; guarded by mu */
    rm_recalloc_t ra;        /* node allocator */
} rm__eidx_t;

/* Returns non-zero to stop the batch (the key is then not counted). */
typedef int (*rm__eidx_copy_fn)(void *ctx, const void *key, size_t klen);

/* RM_OK or RM_ENOMEM (nothing initialised). */
rm_status_t rm__eidx_init(rm__eidx_t *ix, const rm_recalloc_t *ra);
void rm__eidx_destroy(rm__eidx_t *ix);
/* Insert key (copied) if absent. RM_OK or RM_ENOMEM (index unchanged). */
rm_status_t rm__eidx_insert(rm__eidx_t *ix, const void *key, size_t klen);
/* Hand up to max_keys keys (stopping once max_bytes of keys were handed) in
 * order, starting at the first key ≥ from (> from when !inclusive), to copy,
 * under the shared lock. Returns the number handed. */
size_t rm__eidx_batch(rm__eidx_t *ix, const void *from, size_t flen, bool inclusive, size_t max_keys,
                      size_t max_bytes, rm__eidx_copy_fn copy, void *ctx);
void rm__eidx_usage(rm__eidx_t *ix, uint64_t *keys, uint64_t *bytes);
int rm__eidx_keycmp(const void *a, size_t alen, const void *b, size_t blen);

#endif /* RUSTYMEM_ENGINE_INTERNAL_H */
