/*
 * node.h — what the service handlers of rustymemd need from the agent.
 *
 * The agent owns one rm_node_t, fills it at start-up and hands it to the server
 * as the application pointer (rm_rpc_app()). Handlers only read it; fields
 * that change at run time are atomics or have their own lock.
 */
#ifndef RUSTYMEM_SERVICE_NODE_H
#define RUSTYMEM_SERVICE_NODE_H

#include <stdint.h>

#include "rpc.h"
#include "rustymem/arena.h"
#include "rustymem/bufpool.h"
#include "rustymem/knobs.h"
#include "rustymem/large.h"
#include "rustymem/pressure.h"
#include "rustymem/slab.h"
#include "rustymem/sysinfo.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct rm_node {
    char node_name[128];             /* host or Kubernetes node name */
    const char *version;             /* rustymemd version string (static) */
    uint64_t start_ns;               /* CLOCK_MONOTONIC at start */
    rm_sysinfo_paths_t sysinfo_paths; /* NULL roots = live system */
    uint64_t budget_override_bytes;  /* memory.budget_bytes knob; 0 = auto; atomic */
    rm_knobs_t *knobs;               /* the knob registry; NULL = TuningService unavailable */
    /* memcore modules hosted by the agent (NULL = not hosted); set before serving, then read-only */
    rm_slab_t *slab;
    rm_arena_mgr_t *arenas;
    rm_large_t *large;
    rm_pressure_t *pressure;
    rm_bufpool_t *bufpool;
    char data_dir[512];              /* the agent's state directory (page files live in DATA/pages) */
    struct rm_engine *engine;        /* engine/include/engine.h: sessions, MVCC, plan cache; NULL = not hosted */
    /*
     * Audit sink for every mutating call (identity, RPC, what changed as
     * "before -> after", result). NULL = no audit. Must be thread-safe.
     */
    void (*audit)(void *audit_ctx, const char *identity, const char *rpc, const char *detail);
    void *audit_ctx;
} rm_node_t;

/* Report a mutating call to the node's audit sink (no-op when unset). */
void rm_node_audit(rm_rpc_ctx_t *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The services rustymemd serves (health is added by the server itself). */
extern const rm_rpc_service_t rm_memory_service;
extern const rm_rpc_service_t rm_tuning_service;
extern const rm_rpc_service_t rm_emergency_service;
extern const rm_rpc_service_t rm_forecast_service;
extern const rm_rpc_service_t rm_session_service;

/*
 * The full list of rustymemd's services for rm_server_create(): the ones that
 * are implemented plus, for every service of the API whose capability has not
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

/* jemalloc's stats.* through mallctl (found with dlsym, so no link-time
 * dependency). *active is 0 when the process's malloc is not jemalloc. */
typedef struct rm_jemalloc_stats {
    int available;       /* mallctl found */
    int active;          /* malloc() resolves to jemalloc */
    uint64_t allocated, active_bytes, resident, metadata, retained, mapped;   /* bytes */
    char version[64];
} rm_jemalloc_stats_t;

void rm_jemalloc_read(rm_jemalloc_stats_t *out);

/* Ask jemalloc (when present) to return the dirty pages of every arena to the
 * OS. Returns the drop of stats.resident in bytes (0 without jemalloc). */
uint64_t rm_jemalloc_purge(void);

#ifdef __cplusplus
}
#endif
#endif /* RUSTYMEM_SERVICE_NODE_H */
