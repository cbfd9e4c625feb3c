/*
 * engine.h — the small transactional engine that loads the memory core:
 * multiplexed sessions, MVCC tables with ordered indexes, transactions with
 * savepoints on transaction arenas, queries with priorities and cooperative
 * cancellation, a plan cache and adaptive pool sizing.
 *
 * Design note. A session is only its multiplexer record (rm_session_*): an
 * idle session costs no engine memory at all. Everything a transaction needs
 * lives in the connection slot bound to the session while the transaction
 * runs (transaction pooling): the slot's transaction arena, its write journal
 * and savepoint stack, its MVCC transaction and the descriptor of the query it
 * is running. Calls on one session are serialised by a striped mutex keyed by
 * the session id, so a slot's arena tree is only ever used by one thread at a
 * time (what the arena requires) and close/kill never races an operation.
 *
 * Writes are deferred: Put/Delete append to the journal (in the arena, newest
 * first) and reads look there before the MVCC snapshot; Commit applies the
 * journal to an MVCC transaction begun at Begin (first-updater-wins conflicts
 * surface as RM_ECONFLICT at commit). This is what makes rollback to a
 * savepoint O(1): a savepoint is a child arena context plus the journal head
 * at that moment; rolling back resets the child and restores the head.
 *
 * Rows live in the MVCC store under (table id, key); every table keeps an
 * ordered skiplist of its keys (a superset of the live keys: deleted and
 * rolled-back keys are filtered by the snapshot read), so range scans come
 * out in key order although MVCC scans are unordered. Version records and
 * values are allocated through the engine's record allocator: slab classes
 * up to 4 KiB, the large-object allocator at and above its threshold, malloc
 * in between.
 *
 * Sessions are owned. rm_engine_open_session takes the caller's principal
 * (the auth layer's identity, or the peer address on an open server) and
 * interns it: one refcounted entry per principal with open sessions (freed
 * with its last session, so the table is bounded by the session count),
 * passed to the multiplexer as the session's `user`. The entry counts the
 * principal's sessions for the per-principal quota; rm_engine_session_owned
 * compares it with the caller's principal under the session's stripe, and a
 * foreign session is answered exactly as a nonexistent one (RM_ENOENT, same
 * message), so ids cannot be probed. Housekeeping closes sessions idle for
 * session_idle_close_ns (rolling back an open transaction), rechecking the
 * idleness under the stripe so a session that just woke up is never closed.
 *
 * Lock order: session stripe → table index (rwlock) → MVCC → plan cache →
 * registry mutex (slots array); principals mutex is a leaf (taken with a
 * stripe held, or alone, never around another engine lock). The housekeeping
 * thread takes no stripe while holding another engine lock.
 */
#ifndef RUSTYMEM_ENGINE_H
#define RUSTYMEM_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine_heap.h"
#include "rustymem/arena.h"
#include "rustymem/bufpool.h"
#include "rustymem/large.h"
#include "rustymem/mvcc.h"
#include "rustymem/plancache.h"
#include "rustymem/poolsizer.h"
#include "rustymem/pressure.h"
#include "rustymem/session.h"
#include "rustymem/slab.h"
#include "rustymem/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define RM_ENGINE_ERR_MAX        192u     /* bytes of an error message, incl. NUL */
#define RM_ENGINE_TABLE_NAME_MAX 64u      /* bytes of a table name, excl. NUL */
#define RM_ENGINE_TABLES_MAX     1024u    /* tables per engine */
#define RM_ENGINE_SAVEPOINT_NAME_MAX 63u  /* bytes of a savepoint name */
#define RM_ENGINE_KEY_MAX        (RM_MVCC_KEY_MAX - 4u) /* bytes; the MVCC key carries a 4-byte table id */
#define RM_ENGINE_SCAN_DEFAULT_LIMIT 1000u
#define RM_ENGINE_SCAN_MAX_LIMIT 100000u
#define RM_ENGINE_PRINCIPAL_MAX  320u     /* bytes of a principal name, excl. NUL */

typedef struct rm_engine rm_engine_t;

typedef enum rm_engine_priority {
    RM_ENGINE_PRIO_NORMAL = 0,
    RM_ENGINE_PRIO_LOW = 1,
    RM_ENGINE_PRIO_HIGH = 2,
} rm_engine_priority_t;

typedef struct rm_engine_config {
    /* memcore modules the engine runs on; arenas is required, the others may
     * be NULL (then records come from malloc and no reclaimers are added).
     * Not owned; must outlive the engine. */
    rm_arena_mgr_t *arenas;
    rm_slab_t *slab;
    rm_large_t *large;
    rm_pressure_t *pressure;
    /* Row values longer than a version record (RM_MVCC_INLINE_MAX) live in pages of
     * this pool (file "engine.heap", started empty: the engine keeps no data across
     * restarts) and are read back through it, so they can be paged out; NULL = in
     * memory. Not owned; must outlive the engine. */
    rm_bufpool_t *bufpool;
    /* session.* (0 = the module defaults) */
    uint32_t max_connections, max_sessions, session_ratio;
    /* session.max_sessions_per_principal: open sessions one principal may hold;
     * 0 = no quota (only the session limit). Live: rm_engine_set_max_sessions_per_principal. */
    uint32_t max_sessions_per_principal;
    size_t scratch_bytes;                  /* per connection slot; 0 = 16 KiB */
    /* mvcc.max_versions_per_key; 0 = 1000 */
    uint32_t max_versions_per_key;
    /* mvcc.vacuum_chains_per_second: chains the engine thread compacts per second
     * (spread over its ticks); 0 = no background vacuum (only the pressure reclaimers) */
    uint64_t vacuum_chains_per_second;
    /* plan_cache.*; 0 = defaults */
    uint64_t plan_cache_max_plans, plan_cache_max_bytes;
    /* pool.*; 0 = defaults */
    uint32_t pool_min_size, pool_max_size;
    double pool_scale_down_threshold;
    uint64_t pool_scale_down_window_ns;    /* 0 = 60 s */
    /* housekeeping */
    uint32_t tick_ms;                      /* pool sizer period, 100..1000; 0 = 250; with no_thread unused */
    bool no_thread;                        /* tests: no housekeeping thread (call rm_engine_tick) */
    uint64_t orphan_idle_ns;               /* a transaction idle this long is orphaned; 0 = 60 s */
    uint64_t session_idle_close_ns;        /* sessions idle this long are closed by housekeeping (an open
                                            * transaction is rolled back); 0 = never. Live:
                                            * rm_engine_set_session_idle_timeout */
    uint64_t long_query_ns;                /* responder's "long-running" bound; 0 = 10 s */
    /* The growth gate reads the system itself (rm_pressure_refresh, the
     * pressure monitor's usage measure, CLOCK_MONOTONIC) at most this often while
     * Puts flow, so a sampler tick that is late or slow to publish (a loaded
     * machine; a responder reclaiming between its reading and its publication)
     * cannot hide growth from it; each read is a few small /proc and cgroup
     * files, done by the Put that finds the reading older. 0 = the gate uses
     * the sampler's published samples only (hosts that feed samples). */
    uint64_t gate_fresh_read_ns;
    uint64_t (*now_ns)(void *ctx);         /* clock; NULL = CLOCK_MONOTONIC */
    void *now_ctx;
} rm_engine_config_t;

typedef struct rm_engine_stats {
    rm_session_stats_t session;
    rm_mvcc_stats_t mvcc;
    rm_plancache_stats_t plans;
    rm_poolsizer_stats_t pool;
    uint64_t tables;
    uint64_t index_keys;          /* keys in all ordered indexes */
    uint64_t index_bytes;         /* bytes of index nodes */
    uint64_t queries_running;
    uint64_t queries_total;
    uint64_t queries_cancelled;   /* cancelled by kill/pressure */
    uint64_t txns_begun, txns_committed, txns_rolled_back, txns_conflicted, txns_killed;
    uint64_t orphans_killed;
    uint64_t sessions_idle_closed;   /* closed by housekeeping after session_idle_close_ns */
    uint64_t sessions_idle_rolled_back; /* of those, closed with an open transaction (rolled back) */
    uint64_t sessions_quota_refused; /* opens refused by max_sessions_per_principal */
    uint64_t principals;             /* distinct principals holding open sessions */
    uint32_t max_sessions_per_principal; /* 0 = no quota */
    uint64_t session_idle_close_ns;  /* 0 = never */
    uint64_t savepoints, rollbacks_to_savepoint;
    uint64_t journal_bytes;       /* deferred writes of open transactions */
    bool writes_refused;          /* OOM prevention level: Put is refused (RM_EREJECTED) while usage ≥ critical */
    uint64_t writes_refused_total;
    uint64_t low_priority_scans_refused_total; /* scans at RM_ENGINE_PRIO_LOW refused (RM_EREJECTED) while the
                                                * responder is at Aggressive or above */
    bool heap_enabled;            /* values in the buffer pool (cfg.bufpool set) */
    rm_eheap_stats_t heap;        /* zero when !heap_enabled; mvcc.stored_* count the values */
} rm_engine_stats_t;

typedef struct rm_engine_txn_info {
    uint64_t txn_id;
    uint64_t session_id;
    double age_seconds;
    double idle_seconds;          /* since the session's last activity */
    bool orphaned;
    const char *orphan_reason;    /* static: "" / "session closed" / "idle past timeout" */
    uint64_t journal_bytes;
    bool killed;
} rm_engine_txn_info_t;

typedef struct rm_engine_query_info {
    uint64_t query_id;
    uint64_t session_id;
    const char *kind;             /* static: "get", "scan", "put", "delete", "commit" */
    rm_engine_priority_t priority;
    double running_seconds;
    bool cancel_requested;
} rm_engine_query_info_t;

/*
 * Create the engine: the session multiplexer (slot callbacks wired), the MVCC
 * store, the plan cache and the pool sizer, the pressure reclaimers (when
 * cfg->pressure is set) and, unless cfg->no_thread, the housekeeping thread.
 * RM_OK and *out owned by the caller; RM_EINVAL (NULL cfg/out/arenas, a
 * setting a module refuses; err says which), RM_ENOMEM, RM_ELIMIT (accounting
 * registry full), with nothing created. err (may be NULL) receives a message
 * of at most RM_ENGINE_ERR_MAX bytes on failure.
 */
rm_status_t rm_engine_create(const rm_engine_config_t *cfg, rm_engine_t **out, char *err);

/* Stop the thread, remove the reclaimers, roll back every open transaction,
 * free everything. NULL is a no-op. No other call may run concurrently. */
void rm_engine_destroy(rm_engine_t *e);

/*
 * Session and transaction calls. All are thread-safe; calls on one session
 * are serialised. err (may be NULL) receives a one-line message on failure.
 * Common failures: RM_ENOENT (unknown session), RM_ESTATE (no open
 * transaction, or already in one for Begin), RM_EINVAL (argument; err names
 * the field). After a failure the session and its transaction are unchanged
 * unless stated.
 */
/*
 * Open a session owned by `principal` (NUL-terminated, at most
 * RM_ENGINE_PRINCIPAL_MAX bytes, copied; NULL = "" — in-process callers).
 * RM_EREJECTED: admission closed; RM_ELIMIT: the session limit, or the
 * principal already holds max_sessions_per_principal sessions (err names the
 * quota and the principal); RM_EINVAL: principal too long; RM_ENOMEM; the
 * multiplexer's id source failing (RM_EIO). Nothing opened on failure.
 */
rm_status_t rm_engine_open_session(rm_engine_t *e, const char *principal, rm_session_id_t *id, char *err);
/*
 * RM_OK when session `id` exists and was opened by `principal` (NULL = "");
 * otherwise RM_ENOENT with the message a nonexistent session gets, so a caller
 * cannot tell another principal's session from none. No allocation; takes the
 * session's stripe. Callers acting for a remote principal check this first.
 */
rm_status_t rm_engine_session_owned(rm_engine_t *e, rm_session_id_t id, const char *principal, char *err);
/* Rolls back an open transaction (*rolled_back, may be NULL). */
rm_status_t rm_engine_close_session(rm_engine_t *e, rm_session_id_t id, bool *rolled_back, char *err);
/* Bind a connection and begin. RM_EBUSY: every pooled connection is busy
 * (retry); RM_ENOMEM. size_hint_bytes > the slot arena's budget gives the
 * transaction its own arena of that profile. *txn_id (may be NULL). */
rm_status_t rm_engine_begin(rm_engine_t *e, rm_session_id_t id, uint64_t size_hint_bytes,
                            uint64_t *txn_id, char *err);
/*
 * Point read. On RM_OK *found says whether the key is visible; when found,
 * *val is a copy of *vlen bytes taken from alloc(alloc_ctx, n) (not freed by
 * the engine; alloc returning NULL gives RM_ENOMEM). RM_ECANCELED (ABORTED
 * semantics: the transaction was killed; it is ended).
 */
typedef void *(*rm_engine_alloc_fn)(void *ctx, size_t bytes);
rm_status_t rm_engine_get(rm_engine_t *e, rm_session_id_t id, const char *table, const void *key,
                          size_t klen, rm_engine_alloc_fn alloc, void *alloc_ctx, bool *found,
                          void **val, size_t *vlen, char *err);
/* Deferred write (copied into the transaction arena). RM_ELIMIT: the
 * transaction arena is full (Begin with a size hint). */
rm_status_t rm_engine_put(rm_engine_t *e, rm_session_id_t id, const char *table, const void *key,
                          size_t klen, const void *val, size_t vlen, char *err);
/* Deferred delete; *found (may be NULL) whether the key was visible (nothing
 * is written when it was not). */
rm_status_t rm_engine_delete(rm_engine_t *e, rm_session_id_t id, const char *table, const void *key,
                             size_t klen, bool *found, char *err);
/*
 * Ordered range scan of [start, end) (empty = open end), at most limit rows
 * (0 = RM_ENGINE_SCAN_DEFAULT_LIMIT; above RM_ENGINE_SCAN_MAX_LIMIT is
 * RM_EINVAL). visit runs once per visible row in key order, with no engine
 * lock held; a non-zero return stops the scan (RM_OK, *truncated true).
 * RM_ECANCELED when the query was cancelled (kill, pressure): rows already
 * visited stand, the transaction stays open. *truncated (may be NULL): more
 * rows exist past the limit.
 */
typedef int (*rm_engine_row_fn)(void *ctx, const void *key, size_t klen, const void *val, size_t vlen);
rm_status_t rm_engine_scan(rm_engine_t *e, rm_session_id_t id, const char *table, const void *start,
                           size_t slen, const void *end, size_t elen, uint32_t limit,
                           rm_engine_priority_t prio, rm_engine_row_fn visit, void *visit_ctx,
                           bool *truncated, char *err);
/* Savepoint `name` (1..63 bytes; reusing a name moves it). RollbackTo undoes
 * every write after it in O(1) and keeps it; RM_ENOENT for an unknown name. */
rm_status_t rm_engine_savepoint(rm_engine_t *e, rm_session_id_t id, const char *name, char *err);
rm_status_t rm_engine_rollback_to(rm_engine_t *e, rm_session_id_t id, const char *name, char *err);
/* Commit; RM_ECONFLICT (the transaction is rolled back and ended), RM_ECANCELED
 * (killed; ended). *commit_seq (may be NULL): the engine's commit sequence. */
rm_status_t rm_engine_commit(rm_engine_t *e, rm_session_id_t id, uint64_t *commit_seq, char *err);
rm_status_t rm_engine_rollback(rm_engine_t *e, rm_session_id_t id, char *err);

/* ---- management (thread-safe) ---- */
void rm_engine_stats(rm_engine_t *e, rm_engine_stats_t *out);
/* Open transactions, oldest first, into out[0..cap); *n the total. */
void rm_engine_list_txns(rm_engine_t *e, bool orphaned_only, rm_engine_txn_info_t *out, size_t cap,
                         size_t *n);
/* Roll back and end every orphaned transaction (session gone, or idle for
 * orphan_idle_ns), releasing its connection. *killed (may be NULL). */
void rm_engine_kill_orphans(rm_engine_t *e, uint64_t *killed);
/* Running queries into out[0..cap); *n the total. */
void rm_engine_list_queries(rm_engine_t *e, rm_engine_query_info_t *out, size_t cap, size_t *n);
/* Request cancellation of queries running for at least older_than_ns
 * (any priority) / of every low-priority query. Returns the number asked. */
uint64_t rm_engine_kill_queries(rm_engine_t *e, uint64_t older_than_ns);
uint64_t rm_engine_cancel_low_priority(rm_engine_t *e);
/* Trim the plan cache: fraction in (0, 1] (1 = clear). RM_EINVAL otherwise. */
rm_status_t rm_engine_trim_plans(rm_engine_t *e, double fraction, uint64_t *bytes_freed, uint64_t *plans_freed);
/* Admission control (new sessions rejected while closed). */
void rm_engine_set_admission(rm_engine_t *e, bool open);
/* Compact MVCC chains: all, or idle ones. Returns the bytes freed. */
uint64_t rm_engine_compact(rm_engine_t *e, bool all);
/* One housekeeping step (pool sizing; background vacuum; at most once a second,
 * closing sessions idle for session_idle_close_ns): the thread calls it every
 * tick_ms; tests call it directly. */
void rm_engine_tick(rm_engine_t *e);

/* Live setters (knobs). RM_EINVAL as the underlying module. */
rm_status_t rm_engine_set_max_sessions(rm_engine_t *e, uint32_t n);
rm_status_t rm_engine_set_session_ratio(rm_engine_t *e, uint32_t n);
/* session.idle_timeout in ns (0 = never) / session.max_sessions_per_principal
 * (0 = no quota). Always RM_OK; the next tick / open sees the new value.
 * Lowering the quota closes no session: the principal's opens fail until it
 * is below. Thread-safe. */
rm_status_t rm_engine_set_session_idle_timeout(rm_engine_t *e, uint64_t ns);
rm_status_t rm_engine_set_max_sessions_per_principal(rm_engine_t *e, uint32_t n);
rm_status_t rm_engine_set_max_versions_per_key(rm_engine_t *e, uint32_t n);
/* Live setter for mvcc.vacuum_chains_per_second (0 = off). Always RM_OK. Thread-safe. */
rm_status_t rm_engine_set_vacuum_rate(rm_engine_t *e, uint64_t chains_per_second);
rm_status_t rm_engine_set_plan_cache_max_plans(rm_engine_t *e, uint64_t n);
rm_status_t rm_engine_set_plan_cache_max_bytes(rm_engine_t *e, uint64_t n);
rm_status_t rm_engine_set_pool_min_size(rm_engine_t *e, uint32_t n);
rm_status_t rm_engine_set_pool_max_size(rm_engine_t *e, uint32_t n);
rm_status_t rm_engine_set_pool_scale_down_threshold(rm_engine_t *e, double t);

/* The multiplexer and store, for tests and tools (owned by the engine). */
rm_session_mux_t *rm_engine_mux(rm_engine_t *e);
rm_mvcc_t *rm_engine_mvcc(rm_engine_t *e);

#ifdef __cplusplus
}
#endif
#endif /* RUSTYMEM_ENGINE_H */
