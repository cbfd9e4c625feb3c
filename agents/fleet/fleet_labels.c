/*
 * fleet_labels.c — a node's labels: its discovery source's (agents file) and
 * the ones the agent reports about itself (MemoryStats.labels: rustymemd
 * --label, --labels-file), so selectors work with DNS discovery (ADR 0027).
 */
#include <string.h>

#include "fleet_internal.h"

size_t
rm__fleet_node_labels(const node_t *n, rm_fleet_label_t *out)
{
    size_t k = n->target.n_labels < RM_FLEET_MAX_LABELS ? n->target.n_labels : RM_FLEET_MAX_LABELS;
    memcpy(out, n->target.labels, k * sizeof *out);
    for (size_t i = 0; i < n->view.n_agent_labels && k < RM_FLEET_MAX_LABELS; i++) {
        size_t j = 0;
        while (j < n->target.n_labels && strcmp(n->target.labels[j].key, n->view.agent_labels[i].key) != 0)
            j++;
        if (j == n->target.n_labels)
            out[k++] = n->view.agent_labels[i];
    }
    return k;
}
