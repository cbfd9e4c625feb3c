/*
 * node_mem.h — the memcore modules rustymemd hosts, built from the knob
 * registry and kept in step with it (live knobs are applied through
 * subscriptions).
 */
#ifndef RUSTYMEM_NODE_MEM_H
#define RUSTYMEM_NODE_MEM_H

#include <stddef.h>

#include "node.h"

/*
 * Create every hosted module from node->knobs (which must be loaded) and
 * subscribe to its knobs. On failure returns the status, writes one line to
 * err, and leaves nothing created. Call before serving.
 */
rm_status_t rm_node_mem_start(rm_node_t *node, char *err, size_t errcap);

/* Unsubscribe and destroy the modules (after the server has stopped). */
void rm_node_mem_stop(rm_node_t *node);

#endif /* RUSTYMEM_NODE_MEM_H */
