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
    rm_knobs_sub_t *arena_sub;
    rm_knobs_sub_t *large_sub;
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

/* ---- transaction arenas ------------------------------------------------------ */

static void
arena_apply(void *ctx, const rm_knob_change_t *changes, size_t n)
{
    rm_node_t *node = ctx;
    for (size_t i = 0; i < n; i++)
        if (changes[i].id == RM_KNOB_ARENA_DISABLE_ABOVE_BYTES)
            (void)rm_arena_mgr_set_disable_above_bytes(node->arenas, (uint64_t)changes[i].new_value.i);
}

static rm_status_t
arena_start(rm_node_t *node, char *err, size_t errcap)
{
    rm_arena_mgr_config_t cfg = {
        .disable_above_bytes = (uint64_t)rm_knobs_get_i64(node->knobs, RM_KNOB_ARENA_DISABLE_ABOVE_BYTES),
    };
    rm_status_t st = rm_arena_mgr_create(&cfg, NULL, &node->arenas);
    if (st != RM_OK) {
        snprintf(err, errcap, "cannot create the arena manager: %s", rm_strerror(st));
        return st;
    }
    st = rm_knobs_subscribe(node->knobs, "arena.", NULL, arena_apply, node, &mem.arena_sub);
    if (st != RM_OK) {
        snprintf(err, errcap, "cannot subscribe to arena knobs: %s", rm_strerror(st));
        rm_arena_mgr_destroy(node->arenas);
        node->arenas = NULL;
    }
    return st;
}

/* ---- large objects --------------------------------------------------------- */

static rm_large_strategy_t
large_strategy_of(rm_knobs_t *k)
{
    const rm_knob_def_t *d = rm_knobs_def(RM_KNOB_LARGE_OBJECT_STRATEGY);
    rm_large_strategy_t s = RM_LARGE_BEST_FIT;
    (void)rm_large_strategy_parse(d->enum_names[rm_knobs_get_enum(k, RM_KNOB_LARGE_OBJECT_STRATEGY)], &s);
    return s;
}

static void
large_apply(void *ctx, const rm_knob_change_t *changes, size_t n)
{
    rm_node_t *node = ctx;
    for (size_t i = 0; i < n; i++) {
        switch (changes[i].id) {
        case RM_KNOB_LARGE_OBJECT_THRESHOLD_BYTES:
            (void)rm_large_set_threshold(node->large, (size_t)changes[i].new_value.i);
            break;
        case RM_KNOB_LARGE_OBJECT_STRATEGY:
            (void)rm_large_set_strategy(node->large, large_strategy_of(node->knobs));
            break;
        case RM_KNOB_LARGE_OBJECT_AGGRESSIVE_COALESCING:
            rm_large_set_aggressive_coalescing(node->large, changes[i].new_value.b);
            break;
        default:
            break;
        }
    }
}

static rm_status_t
large_start(rm_node_t *node, char *err, size_t errcap)
{
    rm_large_config_t cfg = {
        .threshold_bytes = (size_t)rm_knobs_get_i64(node->knobs, RM_KNOB_LARGE_OBJECT_THRESHOLD_BYTES),
        .strategy = large_strategy_of(node->knobs),
        .aggressive_coalescing = rm_knobs_get_bool(node->knobs, RM_KNOB_LARGE_OBJECT_AGGRESSIVE_COALESCING),
    };
    rm_status_t st = rm_large_create(&cfg, NULL, &node->large);
    if (st != RM_OK) {
        snprintf(err, errcap, "cannot create the large-object allocator: %s", rm_strerror(st));
        return st;
    }
    st = rm_knobs_subscribe(node->knobs, "large_object.", NULL, large_apply, node, &mem.large_sub);
    if (st != RM_OK) {
        snprintf(err, errcap, "cannot subscribe to large_object knobs: %s", rm_strerror(st));
        rm_large_destroy(node->large);
        node->large = NULL;
    }
    return st;
}

rm_status_t
rm_node_mem_start(rm_node_t *node, char *err, size_t errcap)
{
    rm_status_t st = slab_start(node, err, errcap);
    if (st == RM_OK)
        st = arena_start(node, err, errcap);
    if (st == RM_OK)
        st = large_start(node, err, errcap);
    if (st != RM_OK)
        rm_node_mem_stop(node);
    return st;
}

static void
unsubscribe(rm_node_t *node, rm_knobs_sub_t **sub)
{
    if (*sub) {
        rm_knobs_unsubscribe(node->knobs, *sub);
        *sub = NULL;
    }
}

void
rm_node_mem_stop(rm_node_t *node)
{
    unsubscribe(node, &mem.large_sub);
    unsubscribe(node, &mem.arena_sub);
    unsubscribe(node, &mem.slab_sub);
    rm_large_destroy(node->large);
    node->large = NULL;
    rm_arena_mgr_destroy(node->arenas);
    node->arenas = NULL;
    rm_slab_destroy(node->slab);
    node->slab = NULL;
}
