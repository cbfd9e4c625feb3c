/*
 * node.h — rustymemd's top-level state (docs/adr/0018).
 *
 * The agent owns one rm_node_t (agents/node/main.c), fills it at start-up
 * (knobs, then the memcore modules in node_mem.c, then the engine in
 * engine_node.c) and hands the management plane its view of it: the rm_host_t
 * inside (service/host.h), filled by rm_node_host() once everything is
 * started and before the server starts. Handlers read only the host; fields
 * that change at run time are atomics or have their own lock.
 */
#ifndef RUSTYMEM_NODE_NODE_H
#define RUSTYMEM_NODE_NODE_H

#include <stdint.h>

#include "host.h"
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
    rm_sysinfo_paths_t sysinfo_paths; /* NULL roots = live system */
    rm_knobs_t *knobs;               /* the knob registry; NULL = TuningService unavailable */
    char data_dir[512];              /* the agent's state directory (page files live in DATA/pages) */
    struct rm_engine *engine;        /* engine/include/engine.h: sessions, MVCC, plan cache; NULL = not hosted */
    /*
     * The management plane's view (the server's application pointer). The
     * memcore modules the agent hosts live here (host.slab, arenas, large,
     * pressure, bufpool; NULL = not hosted): node_mem.c creates them in place
     * before serving, then they are read-only. The agent sets its identity
     * (host.node_name, version, start_ns) and audit sink (host.audit,
     * audit_ctx) here directly; rm_node_host() copies in the rest. host.budget_override_bytes (memory.budget_bytes, 0 = auto) is the
     * one field written while serving (atomic, by the knob subscriber in main.c).
     */
    rm_host_t host;
} rm_node_t;

/*
 * Fill node->host from the node (sysinfo paths, knobs, jemalloc's stats and
 * purge) and plug in the engine's methods when
 * node->engine is set (engine_node.c). Call after rm_node_mem_start and
 * rm_engine_node_start, before the server starts; again after a module or the
 * engine changes, with the server stopped. Returns &node->host. Not
 * thread-safe (boot).
 */
rm_host_t *rm_node_host(rm_node_t *node);

/* jemalloc's stats.* through mallctl (found with dlsym, so no link-time
 * dependency). out->active is 0 when the process's malloc is not jemalloc.
 * jemalloc_stats.c */
void rm_jemalloc_read(rm_jemalloc_stats_t *out);

/* Ask jemalloc (when present) to return the dirty pages of every arena to the
 * OS. Returns the drop of stats.resident in bytes (0 without jemalloc). */
uint64_t rm_jemalloc_purge(void);

#ifdef __cplusplus
}
#endif
#endif /* RUSTYMEM_NODE_NODE_H */
