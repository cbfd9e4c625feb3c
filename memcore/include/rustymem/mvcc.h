/*
 * mvcc.h — the MVCC version store: per-key version chains, snapshot reads,
 * first-updater-wins conflict detection, and compaction that keeps exactly the
 * versions an active snapshot can still see.
 *
 * Design note. Keys are byte strings in a hash table whose buckets are guarded
 * by striped mutexes (RM_MVCC_STRIPES), so writers to different keys rarely
 * meet. Each key has a chain of fixed-size version records (RM_MVCC_VERSION_BYTES,
 * the slab's 192 B class), newest first; values up to RM_MVCC_INLINE_MAX bytes
 * live inside the record, longer ones in a separate allocation. A transaction
 * takes its snapshot timestamp at begin and writes uncommitted versions at the
 * head of each chain; commit stamps them with one commit timestamp under a
 * commit mutex and then publishes the clock, so a snapshot sees a commit whole
 * or not at all. A version is needed iff it is uncommitted, or some active
 * snapshot (or the current clock, standing for every future snapshot) falls in
 * [its commit_ts, the next newer version's commit_ts); compaction drops the
 * rest. A chain is compacted when a write pushes it past max_versions_per_key,
 * and on demand (compact_idle / compact_all) for the pressure responder.
 * Reads copy values out, so no pointer into a chain ever escapes a lock.
 *
 * Lock order: commit_mu → stripe → registry → txn refcount (atomic). A txn's
 * own mutex (txn->mu) is taken first by every operation on that txn.
 *
 * Records are taken from an rm_recalloc_t (malloc by default; the engine plugs
 * in the slab); long values may live in a value store instead (see
 * rm_mvcc_valstore_t). Bytes are reported to the accounting registry as
 * "mvcc" (a stored value's bytes belong to its store).
 */
#ifndef RUSTYMEM_MVCC_H
#define RUSTYMEM_MVCC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rustymem/recalloc.h"
#include "rustymem/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define RM_MVCC_VERSION_BYTES   192u     /* bytes per version record (slab class) */
#define RM_MVCC_INLINE_MAX      160u     /* bytes of value stored inside the record */
#define RM_MVCC_KEY_MAX         4096u    /* bytes; longer keys are RM_EINVAL */
#define RM_MVCC_VALUE_MAX       (64u << 20) /* bytes; longer values are RM_EINVAL */
#define RM_MVCC_STRIPES         64u      /* bucket lock stripes */
#define RM_MVCC_DEFAULT_MAX_VERSIONS 1000u

typedef struct rm_mvcc rm_mvcc_t;
typedef struct rm_mvcc_txn rm_mvcc_txn_t;

/*
 * An optional store for values too long for the version record (more than
 * RM_MVCC_INLINE_MAX bytes, at most max_bytes): the engine plugs in a heap of
 * buffer-pool pages so that row data can be paged out. Without one (or for a
 * value the store refuses, or longer than max_bytes) the value is a separate
 * allocation from the record allocator, as before.
 *
 * put   stores vlen bytes (copied) and returns a handle; any status other
 *       than RM_OK makes the store fall back to memory for that value.
 * get   copies the value named by `handle` (vlen bytes) into buf; RM_OK, or
 *       an error (RM_EIO, RM_ECORRUPT, RM_EBUSY …) that rm_mvcc_get and
 *       rm_mvcc_scan pass to their caller unchanged.
 * free  releases a handle. Called with a store lock held and from the
 *       compaction path that runs under memory pressure: it must not block
 *       on I/O and must not call back into this store.
 * All three must be thread-safe. get runs with the key's stripe lock held, so
 * a handle is never freed while it is being read.
 */
typedef struct rm_mvcc_valstore {
    rm_status_t (*put)(void *ctx, const void *val, size_t vlen, uint64_t *handle);
    rm_status_t (*get)(void *ctx, uint64_t handle, void *buf, size_t vlen);
    void (*free)(void *ctx, uint64_t handle, size_t vlen);
    void *ctx;
    size_t max_bytes;     /* longest value the store takes, bytes */
} rm_mvcc_valstore_t;

typedef struct rm_mvcc_config {
    uint32_t max_versions_per_key;  /* chain length that triggers compaction; 0 = 1000 */
    size_t initial_buckets;         /* hash buckets at start (rounded to a power of two ≥ 64); 0 = 4096 */
    const rm_recalloc_t *alloc;     /* NULL = malloc; copied at create */
    uint64_t (*now_ns)(void *ctx);  /* monotonic clock for idle tracking; NULL = CLOCK_MONOTONIC */
    void *now_ctx;
    const rm_mvcc_valstore_t *valstore; /* NULL = long values stay in memory; copied at create */
} rm_mvcc_config_t;

/* Transaction states as reported by rm_mvcc_txn_info_t. */
typedef enum rm_mvcc_txn_state {
    RM_MVCC_TXN_ACTIVE = 0,
    RM_MVCC_TXN_KILLED = 1,     /* aborted by rm_mvcc_kill*: owner still has to end it */
} rm_mvcc_txn_state_t;

typedef struct rm_mvcc_txn_info {
    uint64_t id;              /* unique per store, ≥ 1 */
    uint64_t owner;           /* the owner tag given at begin (engine: session id) */
    uint64_t snapshot_ts;     /* logical timestamp of the snapshot */
    uint64_t begin_ns;        /* clock at begin, ns */
    uint64_t last_active_ns;  /* clock at the last operation, ns */
    uint64_t writes;          /* keys written */
    rm_mvcc_txn_state_t state;
} rm_mvcc_txn_info_t;

typedef struct rm_mvcc_stats {
    uint64_t keys;                 /* chains */
    uint64_t versions;             /* version records */
    uint64_t longest_chain;        /* versions in the longest chain (scan at snapshot time) */
    uint64_t used_bytes;           /* records + chain heads + external values + txns */
    uint64_t held_bytes;           /* used + bucket array */
    uint64_t txns_active;          /* begun, not yet ended (killed ones included) */
    uint64_t oldest_snapshot_ts;   /* GC horizon: oldest active snapshot, or the clock */
    uint64_t clock;                /* last commit timestamp */
    uint64_t commits, aborts, conflicts, kills;   /* totals */
    uint64_t compactions;          /* chains compacted */
    uint64_t versions_dropped;     /* by compaction, total */
    uint64_t bytes_compacted;      /* freed by compaction, total */
    uint64_t stored_values;        /* values held by the value store (not in used_bytes) */
    uint64_t stored_bytes;         /* their bytes */
    uint64_t store_fallbacks;      /* values the store refused, kept in memory instead; total */
    uint32_t max_versions_per_key;
} rm_mvcc_stats_t;

/*
 * Create a store. `cfg` may be NULL (defaults). On RM_OK *out owns the store
 * and its "mvcc" accounting registration. RM_EINVAL for a NULL out or an
 * allocator with a NULL method; RM_ENOMEM / RM_ELIMIT (accounting registry
 * full) with nothing created. Not thread-safe against use of *out.
 */
rm_status_t rm_mvcc_create(const rm_mvcc_config_t *cfg, rm_mvcc_t **out);

/*
 * Destroy the store, its chains and any transaction objects still alive
 * (their handles become invalid). NULL is a no-op. No other call may run
 * concurrently.
 */
void rm_mvcc_destroy(rm_mvcc_t *s);

/*
 * Begin a transaction with a snapshot of everything committed so far.
 * `owner` is an opaque tag (the engine's session id) used by orphan detection.
 * On RM_OK *out is a handle owned by the caller until rm_mvcc_commit or
 * rm_mvcc_abort. RM_ENOMEM with nothing registered. Thread-safe.
 * A transaction handle must be used by one thread at a time (the killer
 * functions below are the exception and synchronise internally).
 */
rm_status_t rm_mvcc_begin(rm_mvcc_t *s, uint64_t owner, rm_mvcc_txn_t **out);

/*
 * Read `key` as of the transaction's snapshot (its own writes included).
 * Copies the value into buf[0..cap) and sets *len to its length (bytes).
 * RM_OK; RM_ENOENT when no version is visible or the visible one is a delete;
 * RM_ELIMIT when cap < length (*len set, nothing copied); RM_ECANCELED when the
 * txn was killed; RM_EINVAL for bad arguments; the value store's error
 * (RM_EIO, RM_ECORRUPT, …) when it could not read the value (*len set, buf
 * contents undefined).
 * buf may be NULL when cap is 0.
 * Never changes the store. Thread-safe.
 */
rm_status_t rm_mvcc_get(rm_mvcc_txn_t *t, const void *key, size_t klen,
                        void *buf, size_t cap, size_t *len);

/*
 * Write `val` (vlen bytes, copied) under `key` in the transaction. The first
 * updater wins: RM_ECONFLICT when another transaction has an uncommitted
 * version of the key or committed one after this snapshot (the caller should
 * abort). RM_ENOMEM, RM_EINVAL, RM_ECANCELED (killed). On any error the store
 * and the transaction are unchanged. May compact the key's chain when it
 * passes max_versions_per_key. Thread-safe.
 */
rm_status_t rm_mvcc_put(rm_mvcc_txn_t *t, const void *key, size_t klen,
                        const void *val, size_t vlen);

/*
 * Delete `key` (writes a tombstone). RM_ENOENT when the snapshot sees no
 * value (nothing written); otherwise as rm_mvcc_put. Thread-safe.
 */
rm_status_t rm_mvcc_delete(rm_mvcc_txn_t *t, const void *key, size_t klen);

/*
 * Visit every key visible to the snapshot, in no particular order. `fn` runs
 * with a stripe lock held: it must not call into this store, and key/val are
 * valid only during the call. A non-zero return stops the scan, which then
 * returns RM_ECANCELED (cooperative cancellation). RM_OK after a full scan;
 * with a value store, RM_ENOMEM when its read buffer cannot be had (nothing
 * visited) and the value store's error when a stored value cannot be read
 * (the scan stops there). Thread-safe.
 */
typedef int (*rm_mvcc_visit_fn)(void *ctx, const void *key, size_t klen,
                                const void *val, size_t vlen);
rm_status_t rm_mvcc_scan(rm_mvcc_txn_t *t, rm_mvcc_visit_fn fn, void *ctx);

/*
 * Commit: all writes become visible atomically at a new timestamp.
 * RM_OK and the handle is freed; RM_ECANCELED when the transaction was killed
 * (its writes were already undone) and the handle is freed as well.
 * Never fails for lack of memory. Thread-safe.
 */
rm_status_t rm_mvcc_commit(rm_mvcc_txn_t *t);

/* Abort: undo every write and free the handle. NULL is a no-op. Thread-safe. */
void rm_mvcc_abort(rm_mvcc_txn_t *t);

/* Copy one transaction's bookkeeping into *out (writes = keys written so
 * far). NULL t or out is a no-op. Works on killed transactions too.
 * Thread-safe (takes the txn's mutex). */
void rm_mvcc_txn_get_info(rm_mvcc_txn_t *t, rm_mvcc_txn_info_t *out);

/*
 * List transactions begun and not yet ended (killed ones included, state
 * KILLED), oldest snapshot first, into out[0..cap); out may be NULL when cap
 * is 0. *n (may be NULL) receives the total count, which may exceed cap.
 * `writes` is reported as 0 here (it needs each txn's mutex; use
 * rm_mvcc_txn_get_info). Thread-safe.
 */
void rm_mvcc_list_txns(rm_mvcc_t *s, rm_mvcc_txn_info_t *out, size_t cap, size_t *n);

/*
 * Orphan predicate: a live (not killed) transaction is orphaned when it has
 * been idle (no operation) for at least idle_ns, or when owner_alive is given
 * and returns false for its owner. owner_alive is called without store locks
 * held except the registry's: it must not call into this store.
 */
typedef bool (*rm_mvcc_owner_alive_fn)(void *ctx, uint64_t owner);

/* List orphans as above (seed: orphaned_transactions()). Thread-safe. */
void rm_mvcc_list_orphans(rm_mvcc_t *s, uint64_t idle_ns, rm_mvcc_owner_alive_fn alive,
                          void *alive_ctx, rm_mvcc_txn_info_t *out, size_t cap, size_t *n);

/*
 * Kill orphans (seed: kill_orphaned_transactions()): undo their writes and
 * drop their snapshots so compaction can advance. The owner's handle stays
 * valid; its next operation returns RM_ECANCELED and commit/abort frees it.
 * *killed (may be NULL) receives the number killed. Thread-safe.
 */
void rm_mvcc_kill_orphans(rm_mvcc_t *s, uint64_t idle_ns, rm_mvcc_owner_alive_fn alive,
                          void *alive_ctx, uint64_t *killed);

/* Kill one transaction by id: RM_OK, RM_ENOENT (no such live txn). Thread-safe. */
rm_status_t rm_mvcc_kill(rm_mvcc_t *s, uint64_t txn_id);

/*
 * Compact chains whose last write is at least idle_ns old, visiting at most
 * max_chains chains (0 = all) from a cursor that persists between calls.
 * Drops every version no active snapshot can see. *bytes_freed (may be NULL)
 * receives the bytes returned to the allocator. Never allocates. Thread-safe.
 * (Responder: Gentle — "compact idle version chains".)
 */
void rm_mvcc_compact_idle(rm_mvcc_t *s, uint64_t idle_ns, size_t max_chains,
                          uint64_t *bytes_freed);

/* Compact every chain (Aggressive/Emergency — "compact all"). Thread-safe. */
void rm_mvcc_compact_all(rm_mvcc_t *s, uint64_t *bytes_freed);

/*
 * Live setter for mvcc.max_versions_per_key (≥ 1). Takes effect at the next
 * write of each key. RM_EINVAL for 0 (unchanged). Thread-safe.
 */
rm_status_t rm_mvcc_set_max_versions_per_key(rm_mvcc_t *s, uint32_t n);

/* Versions in key's chain (all of them, visible or not), for tests and tools.
 * RM_ENOENT when the key has no chain. Thread-safe. */
rm_status_t rm_mvcc_chain_length(rm_mvcc_t *s, const void *key, size_t klen, size_t *out);

/* Fill *out (all counters since create). Takes every stripe lock in turn and
 * walks each stripe's chains for longest_chain: O(keys), management-plane
 * use only. Thread-safe. */
void rm_mvcc_stats(rm_mvcc_t *s, rm_mvcc_stats_t *out);

#ifdef __cplusplus
}
#endif
#endif /* RUSTYMEM_MVCC_H */
