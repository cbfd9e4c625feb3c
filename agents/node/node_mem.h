/*
 * node_mem.h — the memcore modules rustymemd hosts, built from the knob
 * registry and kept in step with it (live knobs are applied through
 * subscriptions).
 */
#ifndef RUSTYMEM_NODE_MEM_H
#define RUSTYMEM_NODE_MEM_H

#include <stddef.h>

#include "node.h"
#include "server.h"

/*
 * Create every hosted module in node->host (host.slab, arenas, large,
 * pressure, bufpool) from node->knobs (which must be loaded) and
 * subscribe to its knobs. On failure returns the status, writes one line to
 * err, and leaves nothing created. Call before serving.
 */
rm_status_t rm_node_mem_start(rm_node_t *node, char *err, size_t errcap);

/* Unsubscribe and destroy the modules (after the server has stopped). */
void rm_node_mem_stop(rm_node_t *node);

/*
 * Watch whether the buffer pool can write its dirty pages (a thread polling
 * rm_bufpool_write_state every RM_NODE_DISK_WATCH_MS). While it cannot, the
 * data plane's Health (RM_NODE_DATA_PLANE_SERVICE) answers NOT_SERVING — a
 * readiness signal: send new work elsewhere — while the server's "" entry stays
 * SERVING (liveness: the agent is alive and still serves every page it holds;
 * a restart would lose the pages kept dirty in memory), the pressure monitor
 * lists the critical alert RM_NODE_DISK_ALERT, and the log says why. All of it
 * clears when the pages are written again. The same thread makes an
 * auto-sized pool follow the effective budget (then re-judges the pressure
 * level: rm_pressure_rejudge) and keeps the memory cgroup's notifications
 * armed — v1 usage thresholds at the pressure levels' lines, v2 a PSI trigger
 * and memory.events — waking the pressure sampler (rm_pressure_kick) when one
 * fires (ADR 0012 §5). Start after the server serves (it
 * sets every service SERVING at start); stop before the server shuts down.
 * Returns RM_OK (also without a buffer pool: nothing to watch) or RM_ENOMEM
 * when the thread or its wake-up eventfd cannot be created. Stop is a no-op when not started.
 */
#define RM_NODE_DISK_WATCH_MS 250u
#define RM_NODE_DATA_PLANE_SERVICE "rustymem.v1.SessionService"
#define RM_NODE_DISK_ALERT "buffer_pool_write_failing"
rm_status_t rm_node_mem_watch_start(rm_node_t *node, rm_server_t *srv);
void rm_node_mem_watch_stop(void);

#endif /* RUSTYMEM_NODE_MEM_H */
