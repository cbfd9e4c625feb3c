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
 *
 * It also plugs the engine into the management plane: rm_node_host() fills
 * the node's rm_host_t (service/host.h) with the engine's methods table, so
 * the handlers reach the engine only through it (docs/adr/0018).
 */
#include "engine_node.h"

#include <stdio.h>
#include <stdlib.h>
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
        .arenas = node->host.arenas,
        .slab = node->host.slab,
        .large = node->host.large,
        .pressure = node->host.pressure,
        .bufpool = node->host.bufpool,
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
        /* the growth gate reads the cgroup itself every 20 ms while Puts flow (ADR 0012 § 5):
         * 50 small reads a second at most, and a late sampler tick cannot hide growth */
        .gate_fresh_read_ns = 20 * 1000000ull,
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

/* ---- the engine behind the management plane's host interface (service/host.h) ---- */

_Static_assert(RM_HOST_ERR_MAX == RM_ENGINE_ERR_MAX, "the handlers' error buffers fit the engine's messages");
_Static_assert(RM_HOST_PRINCIPAL_MAX == RM_ENGINE_PRINCIPAL_MAX, "one principal bound for handlers and engine");
_Static_assert((int)RM_HOST_PRIO_NORMAL == (int)RM_ENGINE_PRIO_NORMAL && (int)RM_HOST_PRIO_LOW == (int)RM_ENGINE_PRIO_LOW &&
                   (int)RM_HOST_PRIO_HIGH == (int)RM_ENGINE_PRIO_HIGH,
               "query priorities map one to one");

static rm_status_t
m_open_session(void *dp, const char *principal, rm_session_id_t *id, char *err)
{
    return rm_engine_open_session(dp, principal, id, err);
}

static rm_status_t
m_session_owned(void *dp, rm_session_id_t id, const char *principal, char *err)
{
    return rm_engine_session_owned(dp, id, principal, err);
}

static rm_status_t
m_close_session(void *dp, rm_session_id_t id, bool *rolled_back, char *err)
{
    return rm_engine_close_session(dp, id, rolled_back, err);
}

static rm_status_t
m_begin(void *dp, rm_session_id_t id, uint64_t size_hint_bytes, uint64_t *txn_id, char *err)
{
    return rm_engine_begin(dp, id, size_hint_bytes, txn_id, err);
}

static rm_status_t
m_get(void *dp, rm_session_id_t id, const char *table, const void *key, size_t klen, rm_host_alloc_fn alloc,
      void *alloc_ctx, bool *found, void **val, size_t *vlen, char *err)
{
    return rm_engine_get(dp, id, table, key, klen, alloc, alloc_ctx, found, val, vlen, err);
}

static rm_status_t
m_put(void *dp, rm_session_id_t id, const char *table, const void *key, size_t klen, const void *val, size_t vlen,
      char *err)
{
    return rm_engine_put(dp, id, table, key, klen, val, vlen, err);
}

static rm_status_t
m_del(void *dp, rm_session_id_t id, const char *table, const void *key, size_t klen, bool *found, char *err)
{
    return rm_engine_delete(dp, id, table, key, klen, found, err);
}

static rm_status_t
m_scan(void *dp, rm_session_id_t id, const char *table, const void *start, size_t slen, const void *end, size_t elen,
       uint32_t limit, rm_host_priority_t prio, rm_host_row_fn visit, void *visit_ctx, bool *truncated, char *err)
{
    return rm_engine_scan(dp, id, table, start, slen, end, elen, limit, (rm_engine_priority_t)prio, visit, visit_ctx,
                          truncated, err);
}

static rm_status_t
m_savepoint(void *dp, rm_session_id_t id, const char *name, char *err)
{
    return rm_engine_savepoint(dp, id, name, err);
}

static rm_status_t
m_rollback_to(void *dp, rm_session_id_t id, const char *name, char *err)
{
    return rm_engine_rollback_to(dp, id, name, err);
}

static rm_status_t
m_commit(void *dp, rm_session_id_t id, uint64_t *commit_seq, char *err)
{
    return rm_engine_commit(dp, id, commit_seq, err);
}

static rm_status_t
m_rollback(void *dp, rm_session_id_t id, char *err)
{
    return rm_engine_rollback(dp, id, err);
}

static void
m_engine_stats(void *dp, rm_host_engine_stats_t *out)
{
    rm_engine_stats_t s;
    rm_engine_stats(dp, &s);
    *out = (rm_host_engine_stats_t){
        .session = s.session,
        .mvcc = s.mvcc,
        .plans = s.plans,
        .pool = s.pool,
        .tables = s.tables,
        .index_keys = s.index_keys,
        .index_bytes = s.index_bytes,
        .journal_bytes = s.journal_bytes,
        .txns_begun = s.txns_begun,
        .txns_committed = s.txns_committed,
        .txns_rolled_back = s.txns_rolled_back,
        .txns_conflicted = s.txns_conflicted,
        .orphans_killed = s.orphans_killed,
        .queries_running = s.queries_running,
        .queries_total = s.queries_total,
        .queries_cancelled = s.queries_cancelled,
        .savepoints = s.savepoints,
        .rollbacks_to_savepoint = s.rollbacks_to_savepoint,
        .writes_refused = s.writes_refused,
        .writes_refused_total = s.writes_refused_total,
        .low_priority_scans_refused_total = s.low_priority_scans_refused_total,
        .heap_enabled = s.heap_enabled,
        .heap_pages = s.heap.pages,
        .heap_slot_bytes = s.heap.slot_bytes,
        .heap_read_errors = s.heap.read_errors,
    };
}

/* The engine's rows are copied into the caller's array (the call's arena):
 * the two types are separate so the handlers never see the engine's. */
static rm_status_t
m_list_txns(void *dp, bool orphaned_only, rm_host_txn_info_t *out, size_t cap, size_t *n)
{
    rm_engine_txn_info_t *ti = malloc((cap ? cap : 1) * sizeof *ti);
    if (!ti)
        return RM_ENOMEM;
    size_t total = 0;
    rm_engine_list_txns(dp, orphaned_only, ti, cap, &total);
    for (size_t i = 0; i < total && i < cap; i++)
        out[i] = (rm_host_txn_info_t){
            .txn_id = ti[i].txn_id,
            .session_id = ti[i].session_id,
            .age_seconds = ti[i].age_seconds,
            .idle_seconds = ti[i].idle_seconds,
            .orphaned = ti[i].orphaned,
            .orphan_reason = ti[i].orphan_reason,
            .journal_bytes = ti[i].journal_bytes,
            .killed = ti[i].killed,
        };
    free(ti);
    *n = total;
    return RM_OK;
}

static rm_status_t
m_trim_plans(void *dp, double fraction, uint64_t *bytes_freed, uint64_t *plans_freed)
{
    return rm_engine_trim_plans(dp, fraction, bytes_freed, plans_freed);
}

static void
m_kill_orphans(void *dp, uint64_t *killed)
{
    rm_engine_kill_orphans(dp, killed);
}

static uint64_t
m_kill_queries(void *dp, uint64_t older_than_ns)
{
    return rm_engine_kill_queries(dp, older_than_ns);
}

static bool
m_admission_open(void *dp)
{
    return rm_session_admission_open(rm_engine_mux(dp));
}

static void
m_set_admission(void *dp, bool open)
{
    rm_engine_set_admission(dp, open);
}

static const rm_host_methods_t engine_methods = {
    .open_session = m_open_session,
    .session_owned = m_session_owned,
    .close_session = m_close_session,
    .begin = m_begin,
    .get = m_get,
    .put = m_put,
    .del = m_del,
    .scan = m_scan,
    .savepoint = m_savepoint,
    .rollback_to = m_rollback_to,
    .commit = m_commit,
    .rollback = m_rollback,
    .engine_stats = m_engine_stats,
    .list_txns = m_list_txns,
    .trim_plans = m_trim_plans,
    .kill_orphans = m_kill_orphans,
    .kill_queries = m_kill_queries,
    .admission_open = m_admission_open,
    .set_admission = m_set_admission,
};

rm_host_t *
rm_node_host(rm_node_t *node)
{
    rm_host_t *h = &node->host;
    h->sysinfo_paths = node->sysinfo_paths;
    h->knobs = node->knobs;
    h->methods = node->engine ? &engine_methods : NULL;
    h->data_plane = node->engine;
    h->malloc_stats = rm_jemalloc_read;
    h->malloc_purge = rm_jemalloc_purge;
    return h;
}
