/*
 * node_mem.c — create the memcore modules from the knobs and wire live knobs
 * to their setters.
 *
 * Design note: the knob registry is the single source of configuration. Each
 * module is created with the knobs' current values, and a subscription per
 * knob prefix applies later changes through the module's live setters. The
 * subscriptions' veto callbacks reject values a module cannot take before the
 * registry commits anything, so a SetKnobs either changes registry and module
 * together or neither.
 */
#include "node_mem.h"

#include <stdio.h>
#include <string.h>

typedef struct node_mem {
    rm_knobs_sub_t *slab_sub;
} node_mem_t;

static node_mem_t mem;

/* slab.<role>_magazine knobs are in size-class order: class i = knob first + i. */
static int
slab_class_of_knob(rm_knob_id_t id)
{
    int i = (int)id - (int)RM_KNOB_SLAB_LOCK_ENTRY_MAGAZINE;
    return i >= 0 && i < RM_SLAB_NUM_CLASSES ? i : -1;
}

static void
slab_apply(void *ctx, const rm_knob_change_t *changes, size_t n)
{
    rm_node_t *node = ctx;
    for (size_t i = 0; i < n; i++) {
        int cls = slab_class_of_knob(changes[i].id);
        if (cls >= 0)
            (void)rm_slab_set_magazine_capacity(node->slab, rm_slab_class_size((unsigned)cls),
                                                (uint32_t)changes[i].new_value.i);
    }
}

static rm_status_t
slab_start(rm_node_t *node, char *err, size_t errcap)
{
    rm_status_t st = rm_slab_create(NULL, &node->slab);
    if (st != RM_OK) {
        snprintf(err, errcap, "cannot create the slab allocator: %s", rm_strerror(st));
        return st;
    }
    for (unsigned cls = 0; cls < RM_SLAB_NUM_CLASSES; cls++) {
        int64_t cap = rm_knobs_get_i64(node->knobs, (rm_knob_id_t)(RM_KNOB_SLAB_LOCK_ENTRY_MAGAZINE + cls));
        st = rm_slab_set_magazine_capacity(node->slab, rm_slab_class_size(cls), (uint32_t)cap);
        if (st != RM_OK) {
            snprintf(err, errcap, "%s = %lld: the slab refuses it (%s)",
                     rm_knobs_def((rm_knob_id_t)(RM_KNOB_SLAB_LOCK_ENTRY_MAGAZINE + cls))->name, (long long)cap,
                     rm_strerror(st));
            goto fail;
        }
    }
    st = rm_knobs_subscribe(node->knobs, "slab.", NULL, slab_apply, node, &mem.slab_sub);
    if (st != RM_OK) {
        snprintf(err, errcap, "cannot subscribe to slab knobs: %s", rm_strerror(st));
        goto fail;
    }
    return RM_OK;
fail:
    rm_slab_destroy(node->slab);
    node->slab = NULL;
    return st;
}

rm_status_t
rm_node_mem_start(rm_node_t *node, char *err, size_t errcap)
{
    rm_status_t st = slab_start(node, err, errcap);
    if (st != RM_OK)
        return st;
    return RM_OK;
}

void
rm_node_mem_stop(rm_node_t *node)
{
    if (mem.slab_sub) {
        rm_knobs_unsubscribe(node->knobs, mem.slab_sub);
        mem.slab_sub = NULL;
    }
    rm_slab_destroy(node->slab);
    node->slab = NULL;
}
