/*
 * session.h — the session multiplexer: many cheap client sessions on a
 * bounded set of connection slots, bound only for the length of a
 * transaction (transaction pooling, as PgBouncer's pool_mode=transaction).
 *
 * Design note. A session is a small record (RM_SESSION_RECORD_BYTES, taken
 * from the record allocator) plus a 16-byte table entry and an 8-byte share of
 * an id map. It names itself by a random 64-bit id from the kernel CSPRNG
 * (getrandom(2)): ids are unguessable and unrelated to each other (no index,
 * no sequence), looked up in O(1) through an open-addressing map, and a stale
 * id (closed session) is detected (RM_ENOENT) and never reaches a recycled
 * record. Who may use an id is the host's business: the engine records the
 * owning principal as the session's `user`. A connection slot is a backend context:
 * its scratch memory (scratch_bytes, mapped through the page source) and
 * whatever the engine attaches through on_slot_open (its transaction arena).
 * rm_session_begin binds an idle slot to the session, opening a new one while
 * fewer than the pool size are open, or waits up to a timeout when all are
 * busy; rm_session_end unbinds it. The pool size is set by the adaptive pool
 * sizer (rm_session_pool_apply); shrinking closes idle slots at once and busy
 * ones when they are released, giving their scratch memory back to the OS.
 * All state is guarded by one mutex: every call holds it for a few hundred
 * nanoseconds and never across a callback, a page mapping, the random source
 * or a wait; the one allocation under it is the table and map doubling
 * (amortised O(1) per open).
 *
 * Limits: the session limit is min(max_sessions, max_connections ×
 * session_ratio); beyond it rm_session_open returns RM_ELIMIT. Admission
 * control (rm_session_set_admission) makes rm_session_open return RM_EREJECTED
 * while existing sessions keep working.
 *
 * Accounting: "session" (session records, table, id map, the multiplexer itself) and
 * "pool" (slot records, slot tables, scratch memory).
 */
#ifndef RUSTYMEM_SESSION_H
#define RUSTYMEM_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rustymem/pagesrc.h"
#include "rustymem/recalloc.h"
#include "rustymem/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define RM_SESSION_DEFAULT_MAX_CONNECTIONS 1000u
#define RM_SESSION_DEFAULT_MAX_SESSIONS    10000u
#define RM_SESSION_DEFAULT_RATIO           10u
#define RM_SESSION_DEFAULT_SCRATCH_BYTES   (64u * 1024u)
#define RM_SESSION_MAX_CONNECTIONS_LIMIT   100000u     /* setter upper bound */
#define RM_SESSION_MAX_SESSIONS_LIMIT      10000000u   /* setter upper bound */
#define RM_SESSION_RECORD_BYTES            64u         /* bytes per session record */

typedef uint64_t rm_session_id_t;     /* 0 is never a valid id */
typedef struct rm_session_mux rm_session_mux_t;

/* What a bound session sees of its connection slot. */
typedef struct rm_session_conn {
    uint32_t slot;          /* slot index in [0, max_connections) */
    void *scratch;          /* scratch_bytes of page-aligned memory owned by the slot */
    size_t scratch_bytes;
    void *user;             /* what on_slot_open stored for the slot */
} rm_session_conn_t;

typedef struct rm_session_callbacks {
    /*
     * A slot is being opened (first use, or after a shrink). May store a
     * per-slot pointer in *user (the engine's transaction arena). A non-OK
     * return fails the rm_session_begin that opened it with that status and
     * nothing opened. Called without the multiplexer lock. May be NULL.
     */
    rm_status_t (*on_slot_open)(void *ctx, uint32_t slot, void **user);
    /* A slot is closed (pool shrink, max_connections lowered, destroy): free
     * what on_slot_open made. Called without the lock. May be NULL. */
    void (*on_slot_close)(void *ctx, uint32_t slot, void *user);
    /*
     * The session is being closed while bound (mid-transaction): roll its
     * transaction back. The slot is released after the call returns. Called
     * without the lock; must not call rm_session_* on this session. May be NULL.
     */
    void (*on_abandon)(void *ctx, rm_session_id_t id, void *session_user,
                       const rm_session_conn_t *conn);
    void *ctx;
} rm_session_callbacks_t;

typedef struct rm_session_config {
    uint32_t max_connections;      /* slots; 0 = 1000 */
    uint32_t max_sessions;         /* 0 = 10000 */
    uint32_t session_ratio;        /* sessions per connection; 0 = 10 */
    uint32_t pool_size;            /* slots that may be open at start; 0 = max_connections */
    size_t scratch_bytes;          /* per slot, rounded up to the page size; 0 = 64 KiB */
    const rm_pagesrc_t *pages;     /* scratch memory source; NULL = rm_pagesrc_default() */
    const rm_recalloc_t *alloc;    /* session and slot records; NULL = malloc; copied */
    rm_session_callbacks_t cb;     /* copied */
    uint64_t (*now_ns)(void *ctx); /* clock for idle tracking; NULL = CLOCK_MONOTONIC */
    void *now_ctx;
    /* Source of session ids: fill buf with n random bytes, RM_OK or an error
     * status (rm_session_open then fails with it). Called without the lock,
     * from any thread. NULL = getrandom(2), the kernel CSPRNG, asked for 32
     * ids at a time; an injected source is asked for one id (8 bytes) per
     * call, so tests inject failures and collisions draw by draw. Production
     * code must not set it. */
    rm_status_t (*fill_random)(void *ctx, void *buf, size_t n);
    void *random_ctx;
} rm_session_config_t;

typedef struct rm_session_info {
    rm_session_id_t id;
    void *user;               /* as given to rm_session_open */
    uint64_t opened_ns;       /* clock at open */
    uint64_t last_active_ns;  /* clock at the last open/begin/end/touch */
    uint64_t txns;            /* transactions begun */
    int32_t slot;             /* bound slot, or -1 when idle */
} rm_session_info_t;

typedef struct rm_session_stats {
    uint64_t sessions;             /* open sessions */
    uint64_t sessions_active;      /* bound to a slot (in a transaction) */
    uint64_t sessions_idle;
    uint64_t session_limit;        /* min(max_sessions, max_connections × session_ratio) */
    uint64_t connections_open;     /* slots open (scratch mapped), busy or idle */
    uint64_t connections_busy;
    uint64_t connections_waiting;  /* rm_session_begin calls waiting for a slot now */
    uint64_t pool_size;            /* slots allowed open (≤ max_connections) */
    uint32_t max_connections, max_sessions, session_ratio;
    bool admission_open;
    uint64_t session_bytes;        /* records + table */
    uint64_t connection_bytes;     /* slot records + scratch + slot tables */
    uint64_t bytes_per_session;    /* session_bytes / sessions (0 when none) */
    uint64_t bytes_per_connection; /* per open slot: record + scratch */
    uint64_t opened_total, closed_total;
    uint64_t rejected_admission;   /* RM_EREJECTED from rm_session_open */
    uint64_t rejected_limit;       /* RM_ELIMIT from rm_session_open */
    uint64_t busy_failures;        /* RM_EBUSY / RM_ETIMEDOUT from rm_session_begin */
    uint64_t waits;                /* begins that had to wait */
    uint64_t abandoned_txns;       /* sessions closed mid-transaction (rolled back) */
    uint64_t slots_opened, slots_closed;
    uint64_t id_redraws;           /* random ids drawn again (0, or equal to a live id) */
    uint64_t id_failures;          /* opens failed by the random source */
} rm_session_stats_t;

/*
 * Create a multiplexer. cfg may be NULL (defaults). No slot is opened yet.
 * RM_OK and *out owned by the caller; RM_EINVAL (NULL out, limits out of range,
 * allocator with a NULL method), RM_ENOMEM, RM_ELIMIT (accounting registry
 * full) with nothing created. Not thread-safe against use of *out.
 */
rm_status_t rm_session_mux_create(const rm_session_config_t *cfg, rm_session_mux_t **out);

/*
 * Close every session (on_abandon for bound ones), every slot (on_slot_close)
 * and free everything. NULL is a no-op. No other call may run or wait
 * concurrently.
 */
void rm_session_mux_destroy(rm_session_mux_t *m);

/*
 * Open a session carrying `user` (not owned). RM_OK and *id, a random non-zero
 * id that no live session has (unpredictable from any other id); RM_EREJECTED
 * when admission is closed; RM_ELIMIT at the session limit; RM_ENOMEM; the
 * random source's error (getrandom(2) failing: RM_EIO, or RM_ENOTSUP without
 * the system call), also RM_EIO when it answered 0 or a live id 16 times in a
 * row. On failure nothing is opened (the rejection and id_failures counters
 * move). One getrandom(2) call per 32 opens, made without the lock. Thread-safe.
 */
rm_status_t rm_session_open(rm_session_mux_t *m, void *user, rm_session_id_t *id);

/*
 * Close a session. If it is bound, on_abandon runs first (rollback) and the
 * slot is released. RM_OK or RM_ENOENT (unknown or stale id). O(1): the id's
 * map entry is removed by backward-shift deletion. Thread-safe.
 */
rm_status_t rm_session_close(rm_session_mux_t *m, rm_session_id_t id);

/*
 * Bind a connection slot to the session for a transaction. Takes an idle open
 * slot, else opens one while fewer than the pool size are open (mapping its
 * scratch memory and calling on_slot_open, without the lock), else waits:
 * timeout_ns = 0 returns RM_EBUSY at once; otherwise waits up to timeout_ns
 * (CLOCK_MONOTONIC) and returns RM_ETIMEDOUT. *conn receives the slot.
 * RM_ESTATE when the session is already bound; RM_ENOENT when it does not
 * exist (a session closed during the wait is noticed at the next wakeup or at
 * the deadline, whichever comes first); RM_ENOMEM (or on_slot_open's error)
 * when a new slot could not be opened. On failure the session stays unbound
 * and no slot stays reserved. Thread-safe.
 */
rm_status_t rm_session_begin(rm_session_mux_t *m, rm_session_id_t id, uint64_t timeout_ns,
                             rm_session_conn_t *conn);

/*
 * Release the session's slot (after the engine committed or rolled back).
 * The slot goes back to the idle set, or is closed when the pool has shrunk
 * below the open count. RM_OK, RM_ENOENT, RM_ESTATE (not bound). Thread-safe.
 */
rm_status_t rm_session_end(rm_session_mux_t *m, rm_session_id_t id);

/* Mark activity (idle tracking). RM_OK or RM_ENOENT. Thread-safe. */
rm_status_t rm_session_touch(rm_session_mux_t *m, rm_session_id_t id);

/* Fill *out for one session. RM_OK or RM_ENOENT. Thread-safe. */
rm_status_t rm_session_get(rm_session_mux_t *m, rm_session_id_t id, rm_session_info_t *out);

/* True when the session exists. Signature matches rm_mvcc_owner_alive_fn so it
 * can be passed with the multiplexer as context. Thread-safe. */
bool rm_session_owner_alive(void *mux, uint64_t id);

/*
 * List sessions idle (no activity) for at least idle_ns into out[0..cap);
 * *n receives the total count. Bound and unbound sessions both count (a bound
 * idle session is an orphan candidate). Thread-safe; O(sessions).
 */
void rm_session_list_idle(rm_session_mux_t *m, uint64_t idle_ns, rm_session_info_t *out,
                          size_t cap, size_t *n);

/* Admission control for the responder ("reject new connections"). Thread-safe. */
void rm_session_set_admission(rm_session_mux_t *m, bool open);
bool rm_session_admission_open(rm_session_mux_t *m);

/*
 * Live setters. RM_EINVAL for 0 or above the *_LIMIT constants (unchanged).
 * Lowering max_connections closes idle slots at or above the new bound at
 * once and busy ones at release; raising it may need memory (RM_ENOMEM,
 * unchanged). Lowering the session limit never closes sessions: new opens
 * fail until the count is below it. Thread-safe.
 */
rm_status_t rm_session_set_max_connections(rm_session_mux_t *m, uint32_t n);
rm_status_t rm_session_set_max_sessions(rm_session_mux_t *m, uint32_t n);
rm_status_t rm_session_set_session_ratio(rm_session_mux_t *m, uint32_t n);

/*
 * Set the pool size (slots allowed open), clamped to [1, max_connections].
 * Shrinking closes idle slots above it now (scratch unmapped, on_slot_close)
 * and busy ones when released; growing wakes waiters. RM_EINVAL for 0.
 * Thread-safe.
 */
rm_status_t rm_session_set_pool_size(rm_session_mux_t *m, uint32_t n);

/* rm_session_set_pool_size with a void * context: the poolsizer's apply
 * callback (rm_poolsizer_apply_fn). */
rm_status_t rm_session_pool_apply(void *mux, uint32_t target);

/* Fill *out. Thread-safe. */
void rm_session_stats(rm_session_mux_t *m, rm_session_stats_t *out);

#ifdef __cplusplus
}
#endif
#endif /* RUSTYMEM_SESSION_H */
