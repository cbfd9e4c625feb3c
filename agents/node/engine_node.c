/*
 * engine_node.c — host the engine in rustymemd: create it from the knob
 * registry on the node's memcore modules, and wire the live knobs
 * (session.max_sessions, session.session_ratio, session.idle_timeout,
 * session.max_sessions_per_principal, mvcc.max_versions_per_key,
 * plan_cache.*, pool.*) to its setters.
 *
 * Design note: as node_mem.c, one subscription per knob prefix, with a veto
 * that asks the module whether it can take the value before the registry
 * commits (so a SetKnobs changes registry and engine together or neither).
 * session.max_connections is restart-only: it sizes the slot table.
 */
#include "engine_node.h"

#include <stdio.h>
#include <string.h>

typedef struct engine_node {
    rm_knobs_sub_t *subs[4];
} engine_node_t;

static engine_node_t en;

static rm_status_t
apply_one(rm_engine_t *e, const rm_knob_change_t *c)
{
    const rm_knob_value_t *v = &c->new_value;
    switch (c->id) {
    case RM_KNOB_SESSION_MAX_SESSIONS: return rm_engine_set_max_sessions(e, (uint32_t)v->i);
    case RM_KNOB_SESSION_SESSION_RATIO: return rm_engine_set_session_ratio(e, (uint32_t)v->i);
    case RM_KNOB_SESSION_IDLE_TIMEOUT: return rm_engine_set_session_idle_timeout(e, (uint64_t)v->i * 1000000000ull);
    case RM_KNOB_SESSION_MAX_SESSIONS_PER_PRINCIPAL:
        return rm_engine_set_max_sessions_per_principal(e, (uint32_t)v->i);
    case RM_KNOB_MVCC_MAX_VERSIONS_PER_KEY: return rm_engine_set_max_versions_per_key(e, (uint32_t)v->i);
    case RM_KNOB_MVCC_VACUUM_CHAINS_PER_SECOND: return rm_engine_set_vacuum_rate(e, (uint64_t)v->i);
    case RM_KNOB_PLAN_CACHE_MAX_PLANS: return rm_engine_set_plan_cache_max_plans(e, (uint64_t)v->i);
    case RM_KNOB_PLAN_CACHE_MAX_BYTES: return rm_engine_set_plan_cache_max_bytes(e, (uint64_t)v->i);
    case RM_KNOB_POOL_MIN_SIZE: return rm_engine_set_pool_min_size(e, (uint32_t)v->i);
    case RM_KNOB_POOL_MAX_SIZE: return rm_engine_set_pool_max_size(e, (uint32_t)v->i);
    case RM_KNOB_POOL_SCALE_DOWN_THRESHOLD: return rm_engine_set_pool_scale_down_threshold(e, v->d);
    default: return RM_OK;
    }
}

/* pool.min_size / max_size must stay ordered and within session.max_connections. */
static rm_status_t
pool_veto(void *ctx, const rm_knob_change_t *changes, size_t n, char *why, size_t why_len)
{
    rm_node_t *node = ctx;
    int64_t mn = rm_knobs_get_i64(node->knobs, RM_KNOB_POOL_MIN_SIZE);
    int64_t mx = rm_knobs_get_i64(node->knobs, RM_KNOB_POOL_MAX_SIZE);
    for (size_t i = 0; i < n; i++) {
        if (changes[i].id == RM_KNOB_POOL_MIN_SIZE)
            mn = changes[i].new_value.i;
        if (changes[i].id == RM_KNOB_POOL_MAX_SIZE)
            mx = changes[i].new_value.i;
    }
    if (mn > mx) {
        snprintf(why, why_len, "pool.min_size (%lld) must not exceed pool.max_size (%lld)", (long long)mn,
                 (long long)mx);
        return RM_EINVAL;
    }
    return RM_OK;
}

static void
apply(void *ctx, const rm_knob_change_t *changes, size_t n)
{
    rm_node_t *node = ctx;
    if (!node->engine)
        return;
    /* Raise max before min so an increase of both never trips min > max. */
    for (size_t i = 0; i < n; i++)
        if (changes[i].id != RM_KNOB_POOL_MIN_SIZE)
            (void)apply_one(node->engine, &changes[i]);
    for (size_t i = 0; i < n; i++)
        if (changes[i].id == RM_KNOB_POOL_MIN_SIZE)
            (void)apply_one(node->engine, &changes[i]);
}

rm_status_t
rm_engine_node_start(rm_node_t *node, bool no_thread, char *err, size_t errcap)
{
    rm_knobs_t *k = node->knobs;
    rm_engine_config_t cfg = {
        .arenas = node->arenas,
        .slab = node->slab,
        .large = node->large,
        .pressure = node->pressure,
        .bufpool = node->bufpool,
        .max_connections = (uint32_t)rm_knobs_get_i64(k, RM_KNOB_SESSION_MAX_CONNECTIONS),
        .max_sessions = (uint32_t)rm_knobs_get_i64(k, RM_KNOB_SESSION_MAX_SESSIONS),
        .session_ratio = (uint32_t)rm_knobs_get_i64(k, RM_KNOB_SESSION_SESSION_RATIO),
        .max_sessions_per_principal = (uint32_t)rm_knobs_get_i64(k, RM_KNOB_SESSION_MAX_SESSIONS_PER_PRINCIPAL),
        .session_idle_close_ns = (uint64_t)rm_knobs_get_i64(k, RM_KNOB_SESSION_IDLE_TIMEOUT) * 1000000000ull,
        .max_versions_per_key = (uint32_t)rm_knobs_get_i64(k, RM_KNOB_MVCC_MAX_VERSIONS_PER_KEY),
        .vacuum_chains_per_second = (uint64_t)rm_knobs_get_i64(k, RM_KNOB_MVCC_VACUUM_CHAINS_PER_SECOND),
        .plan_cache_max_plans = (uint64_t)rm_knobs_get_i64(k, RM_KNOB_PLAN_CACHE_MAX_PLANS),
        .plan_cache_max_bytes = (uint64_t)rm_knobs_get_i64(k, RM_KNOB_PLAN_CACHE_MAX_BYTES),
        .pool_min_size = (uint32_t)rm_knobs_get_i64(k, RM_KNOB_POOL_MIN_SIZE),
        .pool_max_size = (uint32_t)rm_knobs_get_i64(k, RM_KNOB_POOL_MAX_SIZE),
        .pool_scale_down_threshold = rm_knobs_get_double(k, RM_KNOB_POOL_SCALE_DOWN_THRESHOLD),
        .no_thread = no_thread,
    };
    char e_err[RM_ENGINE_ERR_MAX] = "";
    rm_status_t st = rm_engine_create(&cfg, &node->engine, e_err);
    if (st != RM_OK) {
        snprintf(err, errcap, "cannot create the engine: %s", e_err);
        return st;
    }
    static const char *const prefixes[4] = {"session.", "mvcc.", "plan_cache.", "pool."};
    for (int i = 0; i < 4 && st == RM_OK; i++)
        st = rm_knobs_subscribe(k, prefixes[i], i == 3 ? pool_veto : NULL, apply, node, &en.subs[i]);
    if (st != RM_OK) {
        snprintf(err, errcap, "cannot subscribe to engine knobs: %s", rm_strerror(st));
        rm_engine_node_stop(node);
    }
    return st;
}

void
rm_engine_node_stop(rm_node_t *node)
{
    for (int i = 0; i < 4; i++)
        if (en.subs[i]) {
            rm_knobs_unsubscribe(node->knobs, en.subs[i]);
            en.subs[i] = NULL;
        }
    rm_engine_destroy(node->engine);
    node->engine = NULL;
}
