/*
 * engine_index.c — the per-table ordered key index: a skiplist of byte-string
 * keys under a reader/writer lock.
 *
 * Design note. MVCC chains live in a hash table, so an ordered range scan
 * needs its own ordered structure. The index holds every key ever written to
 * the table (deleted and rolled-back keys stay: the snapshot read filters
 * them), so inserts are idempotent and nothing ever has to be unlinked while
 * readers walk it. Readers (scans) take the lock shared and copy a batch of
 * keys out; writers (first Put of a key) take it exclusively. Nodes come from
 * the engine's record allocator (slab classes by size). Heights are drawn
 * from a per-thread xorshift generator with p = 1/4, at most
 * RM_EIDX_MAX_HEIGHT levels.
 */
#include "engine_internal.h"

#include <stdlib.h>
#include <string.h>

#define RM_EIDX_MAX_HEIGHT 16

typedef struct eidx_node {
    uint32_t klen;
    uint32_t height;
    struct eidx_node *next[];   /* height pointers, then klen key bytes */
} eidx_node_t;

static inline unsigned char *
node_key(eidx_node_t *n)
{
    return (unsigned char *)&n->next[n->height];
}

static inline size_t
node_size(uint32_t height, size_t klen)
{
    return sizeof(eidx_node_t) + height * sizeof(eidx_node_t *) + klen;
}

static int
keycmp(const void *a, size_t alen, const void *b, size_t blen)
{
    size_t n = alen < blen ? alen : blen;
    int c = n ? memcmp(a, b, n) : 0;
    if (c)
        return c;
    return alen < blen ? -1 : alen > blen;
}

static uint32_t
random_height(void)
{
    static __thread uint64_t x;
    if (!x)
        x = (uint64_t)(uintptr_t)&x ^ 0x9E3779B97F4A7C15ull;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    uint32_t h = 1;
    uint64_t r = x;
    while (h < RM_EIDX_MAX_HEIGHT && (r & 3) == 0) {
        h++;
        r >>= 2;
    }
    return h;
}

rm_status_t
rm__eidx_init(rm__eidx_t *ix, const rm_recalloc_t *ra)
{
    memset(ix, 0, sizeof *ix);
    ix->ra = *ra;
    size_t hs = node_size(RM_EIDX_MAX_HEIGHT, 0);
    ix->head = ra->alloc(ra->ctx, hs);
    if (!ix->head)
        return RM_ENOMEM;
    memset(ix->head, 0, hs);
    ((eidx_node_t *)ix->head)->height = RM_EIDX_MAX_HEIGHT;
    if (pthread_rwlock_init(&ix->mu, NULL) != 0) {
        ra->free(ra->ctx, ix->head, hs);
        ix->head = NULL;
        return RM_ENOMEM;
    }
    return RM_OK;
}

void
rm__eidx_destroy(rm__eidx_t *ix)
{
    if (!ix->head)
        return;
    eidx_node_t *n = ((eidx_node_t *)ix->head)->next[0];
    while (n) {
        eidx_node_t *next = n->next[0];
        ix->ra.free(ix->ra.ctx, n, node_size(n->height, n->klen));
        n = next;
    }
    ix->ra.free(ix->ra.ctx, ix->head, node_size(RM_EIDX_MAX_HEIGHT, 0));
    ix->head = NULL;
    pthread_rwlock_destroy(&ix->mu);
}

/* Fill prev[] with the last node < key at each level; return the node at
 * level 0 after it (≥ key) or NULL. Lock held (either mode). */
static eidx_node_t *
seek_locked(rm__eidx_t *ix, const void *key, size_t klen, eidx_node_t **prev)
{
    eidx_node_t *x = ix->head;
    for (int lvl = RM_EIDX_MAX_HEIGHT - 1; lvl >= 0; lvl--) {
        eidx_node_t *n;
        while ((n = x->next[lvl]) && keycmp(node_key(n), n->klen, key, klen) < 0)
            x = n;
        if (prev)
            prev[lvl] = x;
    }
    return x->next[0];
}

rm_status_t
rm__eidx_insert(rm__eidx_t *ix, const void *key, size_t klen)
{
    eidx_node_t *prev[RM_EIDX_MAX_HEIGHT];
    pthread_rwlock_rdlock(&ix->mu);
    eidx_node_t *n = seek_locked(ix, key, klen, NULL);
    bool present = n && keycmp(node_key(n), n->klen, key, klen) == 0;
    pthread_rwlock_unlock(&ix->mu);
    if (present)
        return RM_OK;
    uint32_t h = random_height();
    size_t sz = node_size(h, klen);
    eidx_node_t *nn = ix->ra.alloc(ix->ra.ctx, sz);
    if (!nn)
        return RM_ENOMEM;
    nn->klen = (uint32_t)klen;
    nn->height = h;
    memcpy(node_key(nn), key, klen);
    pthread_rwlock_wrlock(&ix->mu);
    n = seek_locked(ix, key, klen, prev);
    if (n && keycmp(node_key(n), n->klen, key, klen) == 0) {   /* lost a race */
        pthread_rwlock_unlock(&ix->mu);
        ix->ra.free(ix->ra.ctx, nn, sz);
        return RM_OK;
    }
    for (uint32_t l = 0; l < h; l++) {
        nn->next[l] = prev[l]->next[l];
        prev[l]->next[l] = nn;
    }
    ix->keys++;
    ix->bytes += sz;
    pthread_rwlock_unlock(&ix->mu);
    return RM_OK;
}

size_t
rm__eidx_batch(rm__eidx_t *ix, const void *from, size_t flen, bool inclusive, size_t max_keys,
               size_t max_bytes, rm__eidx_copy_fn copy, void *ctx)
{
    size_t got = 0, bytes = 0;
    pthread_rwlock_rdlock(&ix->mu);
    eidx_node_t *n = seek_locked(ix, from, flen, NULL);
    if (n && !inclusive && keycmp(node_key(n), n->klen, from, flen) == 0)
        n = n->next[0];
    for (; n && got < max_keys && bytes < max_bytes; n = n->next[0]) {
        if (copy(ctx, node_key(n), n->klen) != 0)
            break;
        got++;
        bytes += n->klen;
    }
    pthread_rwlock_unlock(&ix->mu);
    return got;
}

void
rm__eidx_usage(rm__eidx_t *ix, uint64_t *keys, uint64_t *bytes)
{
    pthread_rwlock_rdlock(&ix->mu);
    *keys = ix->keys;
    *bytes = ix->bytes;
    pthread_rwlock_unlock(&ix->mu);
}

int
rm__eidx_keycmp(const void *a, size_t alen, const void *b, size_t blen)
{
    return keycmp(a, alen, b, blen);
}
