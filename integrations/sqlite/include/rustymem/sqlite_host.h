/*
 * sqlite_host.h — the management plane inside a SQLite process (issue 22,
 * docs/adr/0029-sqlite-embedded-agent.md, docs/sqlite.md "Operating a SQLite
 * process").
 *
 * After rm_sqlite_install(), rm_sqlite_serve() starts the same gRPC services
 * as rustymemd (Health, MemoryService, ForecastService, TuningService,
 * EmergencyService; SessionService answers UNIMPLEMENTED) on the adapter's
 * memcore objects: the page cache shown as the buffer pool, SQLite's
 * allocations in the slab and large-object stats, a pressure sampler and
 * forecaster on this process, the knob registry (buffer_pool.num_frames
 * resizes the page cache live), and emergency actions mapped to SQLite
 * (evict → shrink the page cache; garbage collection → sqlite3_release_memory,
 * page-cache shrink and slab reap; kill long-running queries →
 * sqlite3_interrupt; admission off → new sqlite3_open* refused).
 * The agent's preload (librustymem_sqlite_agent.so) starts it when RUSTYMEM_LISTEN
 * is set (rm_sqlite_serve_opts_from_env). rm_sqlite_serve* are in that library and
 * in rustymem_sqlite_static, not in librustymem_sqlite.so (no gRPC: ADR 0023).
 *
 * Threads: one gRPC server pool (cq_threads) and the pressure sampler, started
 * once and stopped at exit (atexit); a management call never takes a
 * connection's mutex, so the application's threads are never blocked by it.
 */
#ifndef RUSTYMEM_SQLITE_HOST_H
#define RUSTYMEM_SQLITE_HOST_H

#include <stddef.h>

#include "rustymem/sqlite.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct rm_sqlite_serve_opts {
    const char *listen;         /* "127.0.0.1:PORT" (0 = ephemeral), "[::1]:PORT", "unix:/path"; required */
    const char *port_file;      /* NULL = none; else "PORT\n" is written there once serving */
    const char *auth_file;      /* rustymemd's --auth-file format; NULL = none */
    const char *tls_cert, *tls_key, *tls_client_ca;   /* PEM paths; NULL = plaintext / no mTLS */
    const char *audit_file;     /* NULL = no audit; else one line per mutating call is appended */
    const char *node_name;      /* NULL = the host name */
    int insecure;               /* 1: plaintext on a non-loopback address is allowed */
    int allow_unauthenticated;  /* 1: no auth on a non-loopback address is allowed */
    int threads;                /* completion-queue threads, 1..16 (default 2) */
    int sql;                    /* 1: register the SQL surface (memory_stats() …) on every connection */
} rm_sqlite_serve_opts_t;

/*
 * From the environment: RUSTYMEM_LISTEN (required: RM_ENOENT when unset),
 * RUSTYMEM_PORT_FILE, RUSTYMEM_AUTH_FILE, RUSTYMEM_TLS_CERT, RUSTYMEM_TLS_KEY,
 * RUSTYMEM_TLS_CLIENT_CA, RUSTYMEM_AUDIT_FILE, RUSTYMEM_NODE_NAME,
 * RUSTYMEM_INSECURE=0|1, RUSTYMEM_ALLOW_UNAUTHENTICATED=0|1,
 * RUSTYMEM_SERVER_THREADS=1..16. Pointers into the environment. RM_EINVAL
 * with one line in err naming the variable for a bad value.
 */
RM_SQLITE_API rm_status_t rm_sqlite_serve_opts_from_env(rm_sqlite_serve_opts_t *o, char *err, size_t errlen);

/*
 * Start the embedded agent (once per process; after rm_sqlite_install, before
 * or after connections are opened — connections opened earlier are not
 * registered, so they cannot be interrupted or listed). Returns RM_OK;
 * RM_ENOENT when the adapter is not installed; RM_EBUSY when already serving;
 * RM_EINVAL (bad option, non-loopback address without TLS/auth or the
 * explicit opt-outs); RM_EIO (cannot bind, unreadable TLS/auth file);
 * RM_ENOMEM. On failure nothing runs and err has one line.
 */
RM_SQLITE_API rm_status_t rm_sqlite_serve(const rm_sqlite_serve_opts_t *o, char *err, size_t errlen);

/* The bound TCP port (0 before serving or for unix:). */
RM_SQLITE_API int rm_sqlite_serve_port(void);

/* Stop serving (graceful, 500 ms) and free the agent; also run at exit. Idempotent. */
RM_SQLITE_API void rm_sqlite_serve_stop(void);

/*
 * Register the SQL surface (eponymous virtual tables memory_stats,
 * slab_allocator_stats, transaction_arena_stats, buffer_pool_stats,
 * large_object_stats, fragmentation_stats, orphaned_transactions; functions
 * force_garbage_collection(), clear_plan_cache(), kill_orphaned_transactions(),
 * memory_forecast()) on every connection opened from now on, and follow those
 * connections for the emergency actions. rm_sqlite_serve calls it; the preload
 * calls it unless RUSTYMEM_SQLITE_SQL=0. Idempotent. RM_ENOENT before install.
 */
RM_SQLITE_API rm_status_t rm_sqlite_sql_install(char *err, size_t errlen);

#ifdef __cplusplus
}
#endif
#endif /* RUSTYMEM_SQLITE_HOST_H */
