/*
 * host.h — what the management plane's handlers need from the program that
 * hosts them (docs/adr/0018-engine-library-and-host-interface.md).
 *
 * The program owns one rm_host_t, fills it before the server starts and hands
 * it to the server as the application pointer (rm_server_opts_t.app, read back
 * with rm_rpc_app()). Handlers only read it: pointers and the methods table are
 * set before serving and not changed while the server runs; the fields that
 * change at run time are atomics (budget_override_bytes).
 *
 * Design note. The data plane (sessions, transactions, queries, plan cache,
 * admission) is reached through ONE methods table, as PostgreSQL's
 * MemoryContextMethods or SQLite's sqlite3_pcache_methods2: the handlers never
 * know which data plane they serve. rustymemd plugs in its engine
 * (agents/node/engine_node.c); a host without a data plane leaves `methods`
 * NULL, and a host with another one fills only what it can serve. A NULL method
 * makes its RPC answer UNIMPLEMENTED with a message naming what the host lacks
 * ("OpenSession: this host has no transaction engine"). The memcore objects
 * (slab, arenas, large, pressure, bufpool, knobs) are plain pointers: NULL =
 * not hosted, and the RPCs that need one answer UNIMPLEMENTED too. Health and
 * GetMemoryStats work with an all-zero host (rm_host_t host = {0}).
 *
 * Every method receives `data_plane` as its first argument and must be
 * thread-safe (handlers run on several completion-queue threads). `err`
 * arguments are RM_HOST_ERR_MAX bytes; on failure the method writes a one-line
 * message there (or leaves it empty) and returns the status the handler maps
 * to gRPC (RM_ENOENT NOT_FOUND, RM_ESTATE FAILED_PRECONDITION, RM_ECONFLICT /
 * RM_ECANCELED ABORTED, RM_EBUSY UNAVAILABLE, RM_EREJECTED / RM_ELIMIT
 * RESOURCE_EXHAUSTED, RM_EINVAL INVALID_ARGUMENT).
 */
#ifndef RUSTYMEM_SERVICE_HOST_H
#define RUSTYMEM_SERVICE_HOST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rpc.h"
#include "rustymem/arena.h"
#include "rustymem/bufpool.h"
#include "rustymem/knobs.h"
#include "rustymem/large.h"
#include "rustymem/mvcc.h"
#include "rustymem/plancache.h"
#include "rustymem/poolsizer.h"
#include "rustymem/pressure.h"
#include "rustymem/session.h"
#include "rustymem/slab.h"
#include "rustymem/sysinfo.h"

#ifdef __cplusplus
extern "C" {
#endif

#define RM_HOST_ERR_MAX       192u   /* bytes of a method's error message, incl. NUL */
#define RM_HOST_PRINCIPAL_MAX 320u   /* bytes of a principal name, excl. NUL */

/* A query's priority (SessionService Scan). */
typedef enum rm_host_priority {
    RM_HOST_PRIO_NORMAL = 0,
    RM_HOST_PRIO_LOW = 1,
    RM_HOST_PRIO_HIGH = 2,
} rm_host_priority_t;

/* Get's value buffer: n bytes from the call's arena (NULL = out of memory). */
typedef void *(*rm_host_alloc_fn)(void *ctx, size_t bytes);
/* Scan's row visitor: non-zero stops the scan. */
typedef int (*rm_host_row_fn)(void *ctx, const void *key, size_t klen, const void *val, size_t vlen);

/* One open transaction (MemoryService ListTransactions). */
typedef struct rm_host_txn_info {
    uint64_t txn_id;
    uint64_t session_id;
    double age_seconds;
    double idle_seconds;          /* since the session's last activity */
    bool orphaned;
    const char *orphan_reason;    /* static string; "" when not orphaned */
    uint64_t journal_bytes;       /* bytes the transaction holds */
    bool killed;
} rm_host_txn_info_t;

/* The data plane's figures (MemoryService GetEngineStats); zero what it lacks. */
typedef struct rm_host_engine_stats {
    rm_session_stats_t session;
    rm_mvcc_stats_t mvcc;
    rm_plancache_stats_t plans;
    rm_poolsizer_stats_t pool;
    uint64_t tables, index_keys, index_bytes, journal_bytes;
    uint64_t txns_begun, txns_committed, txns_rolled_back, txns_conflicted;
    uint64_t orphans_killed;
    uint64_t queries_running, queries_total, queries_cancelled;
    uint64_t savepoints, rollbacks_to_savepoint;
    bool writes_refused;
    uint64_t writes_refused_total;
    uint64_t low_priority_scans_refused_total;
    bool heap_enabled;
    uint64_t heap_pages, heap_slot_bytes, heap_read_errors;
} rm_host_engine_stats_t;

/* The data plane's methods. Any may be NULL (that RPC answers UNIMPLEMENTED). */
typedef struct rm_host_methods {
    /* SessionService. Every session RPC also needs session_owned (the owner
     * check before anything else: a foreign session answers as a nonexistent
     * one, RM_ENOENT with the same message). */
    rm_status_t (*open_session)(void *dp, const char *principal, rm_session_id_t *id, char *err);
    rm_status_t (*session_owned)(void *dp, rm_session_id_t id, const char *principal, char *err);
    rm_status_t (*close_session)(void *dp, rm_session_id_t id, bool *rolled_back, char *err);
    rm_status_t (*begin)(void *dp, rm_session_id_t id, uint64_t size_hint_bytes, uint64_t *txn_id, char *err);
    rm_status_t (*get)(void *dp, rm_session_id_t id, const char *table, const void *key, size_t klen,
                       rm_host_alloc_fn alloc, void *alloc_ctx, bool *found, void **val, size_t *vlen, char *err);
    rm_status_t (*put)(void *dp, rm_session_id_t id, const char *table, const void *key, size_t klen, const void *val,
                       size_t vlen, char *err);
    rm_status_t (*del)(void *dp, rm_session_id_t id, const char *table, const void *key, size_t klen, bool *found,
                       char *err);
    /* RM_ECANCELED with "cancelled" in err: the query was cancelled (CANCELLED). */
    rm_status_t (*scan)(void *dp, rm_session_id_t id, const char *table, const void *start, size_t slen,
                        const void *end, size_t elen, uint32_t limit, rm_host_priority_t prio, rm_host_row_fn visit,
                        void *visit_ctx, bool *truncated, char *err);
    rm_status_t (*savepoint)(void *dp, rm_session_id_t id, const char *name, char *err);
    rm_status_t (*rollback_to)(void *dp, rm_session_id_t id, const char *name, char *err);
    rm_status_t (*commit)(void *dp, rm_session_id_t id, uint64_t *commit_seq, char *err);
    rm_status_t (*rollback)(void *dp, rm_session_id_t id, char *err);
    /* MemoryService */
    void (*engine_stats)(void *dp, rm_host_engine_stats_t *out);
    /* Open transactions, oldest first, into out[0..cap); *n the total.
     * RM_OK, or RM_ENOMEM with nothing written. */
    rm_status_t (*list_txns)(void *dp, bool orphaned_only, rm_host_txn_info_t *out, size_t cap, size_t *n);
    /* EmergencyService */
    rm_status_t (*trim_plans)(void *dp, double fraction, uint64_t *bytes_freed, uint64_t *plans_freed);
    void (*kill_orphans)(void *dp, uint64_t *killed);
    uint64_t (*kill_queries)(void *dp, uint64_t older_than_ns);
    bool (*admission_open)(void *dp);                 /* needed by SetAdmission with set_admission */
    void (*set_admission)(void *dp, bool open);
    /* A buffer pool the host serves in another form than an rm_bufpool_t (SQLite's page
     * cache on rm_pcache_pool_t): used by GetBufferPoolStats and EvictBufferPool only when
     * rm_host_t.bufpool is NULL. stats fills the file-backed pool's words (zero what has no
     * meaning); evict drops `fraction` (0, 1] of the unpinned pages, *pages and *bytes freed. */
    rm_status_t (*bufpool_stats)(void *dp, rm_bufpool_stats_t *out);
    rm_status_t (*bufpool_evict)(void *dp, double fraction, uint64_t *pages, uint64_t *bytes);
} rm_host_methods_t;

/* jemalloc's stats.* (GetMemoryStats). available = 0 when the host reads none. */
typedef struct rm_jemalloc_stats {
    int available;       /* mallctl found */
    int active;          /* malloc() resolves to jemalloc */
    uint64_t allocated, active_bytes, resident, metadata, retained, mapped;   /* bytes */
    char version[64];
} rm_jemalloc_stats_t;

#define RM_HOST_MAX_LABELS 16

typedef struct rm_host {
    char node_name[128];             /* host or Kubernetes node name */
    /* Identity labels reported in MemoryStats.labels (rustymemd --label, --labels-file): keys unique */
    size_t n_labels;
    char label_key[RM_HOST_MAX_LABELS][64];
    char label_value[RM_HOST_MAX_LABELS][128];
    const char *version;             /* the program's version string (static) */
    uint64_t start_ns;               /* CLOCK_MONOTONIC at start */
    rm_sysinfo_paths_t sysinfo_paths; /* NULL roots = live system */
    uint64_t budget_override_bytes;  /* memory.budget_bytes knob; 0 = auto; atomic */
    rm_knobs_t *knobs;               /* the knob registry; NULL = TuningService unavailable */
    /* memcore modules the host runs (NULL = not hosted) */
    rm_slab_t *slab;
    rm_arena_mgr_t *arenas;
    rm_large_t *large;
    rm_pressure_t *pressure;
    rm_bufpool_t *bufpool;
    /* the data plane: methods NULL = none; data_plane is every method's first argument */
    const rm_host_methods_t *methods;
    void *data_plane;
    /* the process allocator's statistics and purge (NULL = not read / no purge) */
    void (*malloc_stats)(rm_jemalloc_stats_t *out);
    uint64_t (*malloc_purge)(void);   /* returns the drop of resident bytes */
    /*
     * Audit sink for every mutating call (identity, RPC, what changed as
     * "before -> after", result). NULL = no audit. Must be thread-safe.
     */
    void (*audit)(void *audit_ctx, const char *identity, const char *rpc, const char *detail);
    void *audit_ctx;
} rm_host_t;

/* Report a mutating call to the host's audit sink with the caller's identity, the
 * RPC and " peer=ADDRESS" appended (no-op when unset). audit.c */
void rm_host_audit(rm_rpc_ctx_t *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* UNIMPLEMENTED with "<Method>: <reason>" for an RPC whose part of the host
 * is missing ("GetSlabStats: this server hosts no slab allocator"); the
 * method's name comes from the call, so no handler spells its own. Returns
 * the status for the handler to return. services.c */
grpc_status_code rm_host_unimplemented(rm_rpc_ctx_t *ctx, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* The services the management plane serves (health is added by the server). */
extern const rm_rpc_service_t rm_memory_service;
extern const rm_rpc_service_t rm_tuning_service;
extern const rm_rpc_service_t rm_emergency_service;
extern const rm_rpc_service_t rm_forecast_service;
extern const rm_rpc_service_t rm_session_service;

/*
 * The full list of services for rm_server_create(): the ones that are
 * implemented plus, for every service of the API whose capability has not
 * landed yet, a table built from its protobuf-c descriptor whose methods answer
 * UNIMPLEMENTED with a message saying so. Writes up to `cap` pointers to `out`
 * and returns the count, or -1 on OOM (nothing left allocated). Free the
 * list with rm_node_services_free() after the server is destroyed.
 */
int rm_node_services(const rm_rpc_service_t **out, size_t cap);
void rm_node_services_free(const rm_rpc_service_t **svcs, size_t n);

/*
 * Build a service table from a protobuf-c service descriptor in which every
 * method answers UNIMPLEMENTED with "<Service>/<Method>: <reason>". Returns
 * NULL on OOM. `desc` and `reason` must outlive the table; free it with
 * rm_pending_service_free(). Every method requires `role`.
 */
const rm_rpc_service_t *rm_pending_service(const ProtobufCServiceDescriptor *desc, const char *reason,
                                           rm_rpc_role_t role);
void rm_pending_service_free(const rm_rpc_service_t *svc);

/* The host of a call (rm_rpc_app()), or NULL. */
static inline rm_host_t *
rm_host_of(rm_rpc_ctx_t *ctx)
{
    return (rm_host_t *)rm_rpc_app(ctx);
}

#ifdef __cplusplus
}
#endif
#endif /* RUSTYMEM_SERVICE_HOST_H */
