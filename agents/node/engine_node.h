/*
 * engine_node.h — create rustymemd's engine from the knobs (after
 * rm_node_mem_start) and destroy it (before rm_node_mem_stop).
 */
#ifndef RUSTYMEM_ENGINE_NODE_H
#define RUSTYMEM_ENGINE_NODE_H

#include <stdbool.h>
#include <stddef.h>

#include "engine.h"
#include "node.h"

/*
 * Create node->engine on node->host's arenas/slab/large/pressure with the knobs'
 * current values and subscribe the live engine knobs. no_thread: no
 * housekeeping thread (tests). RM_OK, or an error with a message in err and
 * node->engine NULL. Not thread-safe (boot).
 */
rm_status_t rm_engine_node_start(rm_node_t *node, bool no_thread, char *err, size_t errcap);

/* Unsubscribe and destroy node->engine (NULL-safe; after the server stopped). */
void rm_engine_node_stop(rm_node_t *node);

#endif /* RUSTYMEM_ENGINE_NODE_H */
