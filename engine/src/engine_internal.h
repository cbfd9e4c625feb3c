/*
 * engine_internal.h — private pieces shared by the engine's files: the
 * ordered key index (engine_index.c), the engine's state (struct rm_engine,
 * connection slots, journal, savepoints, principals, tables), small helpers
 * and the functions one file defines for another (rm__e_*):
 *   engine.c          lifecycle: create/destroy, housekeeping, reclaimers, accounting
 *   engine_session.c  sessions and connections: slot callbacks, binding, principals
 *   engine_txn.c      transactions and savepoints: Begin, Savepoint/RollbackTo, Commit/Rollback
 *   engine_query.c    queries and scans: query registry, plans, tables, Get/Put/Delete, Scan
 *   engine_mgmt.c     management: listings, kills, cancellation, plan trim, admission, stats
 * Not installed; nothing outside engine/src includes it.
 */
#ifndef RUSTYMEM_ENGINE_INTERNAL_H
#define RUSTYMEM_ENGINE_INTERNAL_H

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine.h"
#include "rustymem/stats.h"

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

/* ---- the engine's state, shared by its files (engine*.c) ------------------- */

#define STRIPES        256u
#define MKEY_OFF       0u
#define CURSOR_OFF     4096u
#define VALBUF_OFF     8192u
#define SCRATCH_DEFAULT (16u * 1024u)
#define SCAN_BATCH_KEYS 64u
#define SCAN_BATCH_BYTES (32u * 1024u)
#define RECLAIMERS     6

enum { Q_NONE = 0, Q_GET, Q_SCAN, Q_PUT, Q_DELETE, Q_COMMIT };

/* The slot scratch (handed out by rm_session_begin), kept for the bound
 * session's later calls. */
typedef struct conn_scratch {
    void *p;
    size_t n;
} conn_scratch_t;

typedef struct jentry {
    struct jentry *prev;   /* older entry */
    uint32_t table_id;
    uint32_t klen;
    uint32_t vlen;
    uint32_t del;          /* 1 = tombstone */
    unsigned char data[];  /* key, then value */
} jentry_t;

typedef struct savepoint {
    struct savepoint *prev;  /* older savepoint */
    rm_arena_t *ctx;         /* child context: what was allocated after the savepoint */
    rm_arena_t *parent;      /* context current when it was taken */
    jentry_t *head;          /* journal head at the savepoint */
    uint64_t count, jbytes;
    char name[RM_ENGINE_SAVEPOINT_NAME_MAX + 1];
} savepoint_t;

/* A connection slot. Transaction fields are used only by the thread holding
 * the bound session's stripe; q_* are atomics read by the query registry. */
typedef struct conn {
    uint32_t slot;
    rm_arena_t *root;          /* the slot's transaction arena */
    rm_arena_t *own;           /* a per-transaction arena for a large size hint, or NULL */
    bool bypass;               /* hint above arena.disable_above_bytes: journal entries come from
                                * e->ra (large-object allocator) one by one, not from an arena */
    rm_arena_t *cur;           /* innermost context */
    rm_mvcc_txn_t *txn;        /* NULL when no transaction */
    uint64_t txn_id;
    rm_session_id_t sid;
    uint64_t begin_ns;
    jentry_t *head;            /* newest journal entry */
    uint64_t count;            /* journal entries */
    _Atomic uint64_t jbytes;   /* journal bytes */
    savepoint_t *sp;           /* newest savepoint */
    void *rbuf;                /* a value read that outgrew the scratch buffer (e->ra), or NULL */
    size_t rbuf_bytes;
    conn_scratch_t scr;        /* set at Begin */
    _Atomic uint64_t q_id;     /* running query, 0 = none */
    _Atomic uint64_t q_start_ns;
    _Atomic int q_kind, q_prio, q_cancel;
    _Atomic uint64_t q_sid;
} conn_t;

/* A principal with open sessions (the sessions' `user`). Freed with its last
 * session; name is immutable, so an owner check under the session's stripe
 * may read it without prin_mu (the session, hence the entry, cannot go away
 * while the stripe is held). */
typedef struct principal {
    struct principal *next;    /* hash chain; guarded by prin_mu */
    uint64_t hash;
    uint32_t sessions;         /* open sessions (+ opens in flight); guarded by prin_mu */
    char name[];               /* NUL-terminated */
} principal_t;

typedef struct table {
    uint32_t id;
    char name[RM_ENGINE_TABLE_NAME_MAX + 1];
    rm__eidx_t index;
} table_t;

struct rm_engine {
    rm_engine_config_t cfg;
    rm_recalloc_t ra;
    rm_session_mux_t *mux;
    rm_mvcc_t *mvcc;
    rm_eheap_t *heap;                       /* values in cfg.bufpool's pages; NULL = in memory */
    rm_plancache_t *plans;
    rm_poolsizer_t *sizer;
    pthread_mutex_t stripes[STRIPES];
    pthread_mutex_t reg_mu;                 /* guards writes of conns[] */
    _Atomic(conn_t *) *conns;               /* [max_connections] */
    uint32_t nconns;
    pthread_rwlock_t tables_mu;
    table_t *tables[RM_ENGINE_TABLES_MAX];  /* guarded by tables_mu */
    uint32_t ntables;
    pthread_t thread;
    bool thread_started;
    pthread_mutex_t thr_mu;
    pthread_cond_t thr_cv;
    bool stop;                              /* guarded by thr_mu */
    uint64_t last_idle_check_ns;
    rm_pressure_reclaimer_t *reclaimers[RECLAIMERS];
    _Atomic int pressure_closed;            /* admission closed by the responder */
    _Atomic int writes_refused;             /* OOM prevention: Put refused (Redis maxmemory noeviction) */
    _Atomic uint64_t vacuum_rate;           /* mvcc.vacuum_chains_per_second; 0 = off */
    _Atomic uint64_t writes_refused_total;  /* Puts refused so far */
    _Atomic int shed_low_priority;          /* Aggressive and above: LOW-priority scans refused (low_prio_level) */
    _Atomic uint64_t low_priority_scans_refused_total;
    /* the growth gate (growth_gate_closed): bytes accepted by Put so far, and as of the newest
     * pressure sample the engine has seen: its time, the count then, and the growth room left
     * below the OOM-prevention threshold; a Put may refresh them (races are benign: atomics) */
    _Atomic uint64_t put_bytes_total;
    _Atomic uint64_t gate_checked_ns, gate_sample_ns, gate_base_bytes, gate_room_bytes;
    rm_stats_handle_t *stats_h;
    _Atomic uint64_t queries_total, queries_cancelled, query_seq, commit_seq;
    _Atomic uint64_t txns_begun, txns_committed, txns_rolled_back, txns_conflicted, txns_killed;
    _Atomic uint64_t orphans_killed, sessions_idle_closed, savepoints, rollbacks_to;
    _Atomic uint64_t journal_bytes;
    /* principals (sessions' owners) */
    pthread_mutex_t prin_mu;
    principal_t **prin_buckets;             /* prin_nbuckets chains; guarded by prin_mu */
    uint32_t prin_nbuckets, prin_count;     /* guarded by prin_mu */
    uint64_t prin_bytes;                    /* entries + chains array; guarded by prin_mu */
    uint64_t prin_seed;                     /* random hash seed (immutable) */
    _Atomic uint32_t max_per_principal;     /* 0 = no quota */
    _Atomic uint64_t idle_close_ns;         /* 0 = never */
    _Atomic uint64_t quota_refused, idle_rolled_back;
};

static inline conn_scratch_t *
scratch_of(rm_engine_t *e, conn_t *c)
{
    (void)e;
    return &c->scr;
}

/* ---- small helpers ---------------------------------------------------------- */

static inline uint64_t
now_ns(rm_engine_t *e)
{
    return e->cfg.now_ns(e->cfg.now_ctx);
}

static inline rm_status_t
fail(char *err, rm_status_t st, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, RM_ENGINE_ERR_MAX, fmt, ap);
        va_end(ap);
    }
    return st;
}

static inline pthread_mutex_t *
stripe(rm_engine_t *e, rm_session_id_t id)
{
    uint64_t h = id * 0x9E3779B97F4A7C15ull;
    return &e->stripes[(h >> 32) % STRIPES];
}

/* The one answer for a session the caller cannot use: never opened, closed,
 * closed after idling, or another principal's. */
static inline rm_status_t
no_session(char *err, rm_session_id_t id)
{
    return fail(err, RM_ENOENT,
                "session %" PRIu64 " does not exist (never opened, closed, or closed after idling)", id);
}

/* ---- functions shared between the engine's files (defined where named) ----- */

rm_status_t rm__e_bound_conn(rm_engine_t *e, rm_session_id_t id, conn_t **out, char *err);
rm_status_t rm__e_close_striped(rm_engine_t *e, rm_session_id_t id, uint64_t idle_ns, bool *rolled_back);
void rm__e_journal_free_to(rm_engine_t *e, conn_t *c, jentry_t *stop);
rm_status_t rm__e_killed(rm_engine_t *e, rm_session_id_t id, conn_t *c, char *err);
size_t rm__e_mkey(const rm_session_conn_t *unused, void *scratch, uint32_t tid, const void *key, size_t klen);
void rm__e_on_abandon(void *ctx, rm_session_id_t id, void *session_user, const rm_session_conn_t *sc);
void rm__e_on_slot_close(void *ctx, uint32_t slot, void *user);
rm_status_t rm__e_on_slot_open(void *ctx, uint32_t slot, void **user);
void rm__e_query_end(conn_t *c);
void rm__e_query_start(rm_engine_t *e, conn_t *c, rm_session_id_t sid, int kind, rm_engine_priority_t prio);
const char *rm__e_read_error(rm_engine_t *e, rm_status_t st, char *buf, size_t cap);
void rm__e_release(rm_engine_t *e, rm_session_id_t id, conn_t *c);
void rm__e_txn_abort(rm_engine_t *e, conn_t *c);
void rm__e_txn_reset(rm_engine_t *e, conn_t *c);
bool rm__e_usage_critical(rm_engine_t *e);
/* CLOCK_MONOTONIC in ns, whatever cfg.now_ns is (the default clock; the gate's
 * fresh reads, which the pressure monitor stamps on this clock). ctx unused. */
uint64_t rm__e_mono_ns(void *ctx);

/* Lock id's stripe and find the connection bound to its open transaction
 * (rm__e_bound_conn: RM_ENOENT no such session, RM_ESTATE no transaction; err
 * filled, *c NULL). The stripe is locked whatever the status: the caller
 * unlocks *mu. */
static inline rm_status_t
rm__e_lock_bound(rm_engine_t *e, rm_session_id_t id, pthread_mutex_t **mu, conn_t **c, char *err)
{
    *mu = stripe(e, id);
    pthread_mutex_lock(*mu);
    *c = NULL;
    return rm__e_bound_conn(e, id, c, err);
}

#endif /* RUSTYMEM_ENGINE_INTERNAL_H */
