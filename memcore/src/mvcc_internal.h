/*
 * mvcc_internal.h — record layouts of the MVCC version store, shared with the
 * white-box unit tests. Never installed.
 *
 *   chain (sizeof(struct rm__mvcc_chain) + klen bytes, from the record allocator)
 *   +------+------+---------------+------+-----------+------+----------+
 *   | next | hash | last_write_ns | head | nversions | klen | key[...] |
 *   +------+------+---------------+------+-----------+------+----------+
 *                                    |
 *                                    v  newest first
 *   version (RM_MVCC_VERSION_BYTES = 192, the slab's 192 B class)
 *   +-------+-----------+--------+------+-------+----------------------------+
 *   | older | commit_ts | writer | vlen | flags | value[160], ext ptr, handle |
 *   +-------+-----------+--------+------+-------+----------------------------+
 */
#ifndef RUSTYMEM_MVCC_INTERNAL_H
#define RUSTYMEM_MVCC_INTERNAL_H

#include <stdint.h>

#include "rustymem/mvcc.h"

#define RM__MVCC_TOMBSTONE 0x1u   /* the version records a delete */
#define RM__MVCC_EXTERNAL  0x2u   /* the value lives in v.ext (vlen bytes) */
#define RM__MVCC_STORED    0x4u   /* the value lives in the value store under v.handle */

struct rm__mvcc_version {
    struct rm__mvcc_version *older;   /* next older version; guarded by the stripe */
    uint64_t commit_ts;               /* 0 while uncommitted; guarded by the stripe */
    rm_mvcc_txn_t *writer;            /* owner while uncommitted, else NULL */
    uint32_t vlen;                    /* value bytes */
    uint16_t flags;                   /* RM__MVCC_* */
    uint16_t reserved;
    union {
        unsigned char inl[RM_MVCC_INLINE_MAX];
        unsigned char *ext;
        uint64_t handle;
    } v;
};

struct rm__mvcc_chain {
    struct rm__mvcc_chain *next;      /* bucket list; guarded by the stripe */
    uint64_t hash;                    /* of the key; immutable */
    uint64_t last_write_ns;           /* clock at the last write; guarded by the stripe */
    struct rm__mvcc_version *head;    /* newest version; guarded by the stripe */
    uint32_t nversions;               /* versions in the chain; guarded by the stripe */
    uint32_t klen;                    /* key bytes; immutable */
    unsigned char key[];
};

_Static_assert(sizeof(struct rm__mvcc_version) == RM_MVCC_VERSION_BYTES,
               "version records must fill the slab's 192 B class exactly");

#endif /* RUSTYMEM_MVCC_INTERNAL_H */
