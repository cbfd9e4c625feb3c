/*
 * memory.c — rustymem.v1.MemoryService.
 *
 * GetMemoryStats combines what the OS says (RSS, cgroup, PSI, MemTotal), what
 * jemalloc says (mallctl stats.*) and what memcore's components report to the
 * accounting registry. The OS figures and the one usage measure (ADR 0013,
 * rm_sysinfo_usage: usage_ratio, used_bytes, budget_bytes and their sources)
 * come from the pressure monitor's published snapshot (ADR 0025): a copy,
 * no file read and no lock, so MemoryStats, Forecast, the exporter, the fleet
 * and the responder name the same reading (sampled_at_unix_ms, sample_age_ms).
 * fresh = true asks the monitor for a rate-limited fresh read. A host without
 * a monitor (or before its first reading) reads the system here. The
 * per-component accounting is cheap and stays live. jemalloc's statistics are
 * not (advancing its epoch merges every arena's counters, then seven mallctl
 * name lookups): they are read at most once per MALLOC_STATS_MAX_AGE_MS per
 * process and copied otherwise.
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "host.h"
#include "rm_clock.h"
#include "rpc_internal.h"
#include "rustymem/stats.h"
#include "rustymem/v1/memory.pb-c.h"

#define MEMORY_WATCH_FLOOR_MS 100
#define MEMORY_WATCH_DEFAULT_MS 1000

#define MALLOC_STATS_MAX_AGE_MS 100

/* The process allocator's statistics, read by one caller at a time at most
 * once per MALLOC_STATS_MAX_AGE_MS; je_mu is held only to copy the cache
 * (never across the read), so a caller never waits for mallctl. */
static pthread_mutex_t je_mu = PTHREAD_MUTEX_INITIALIZER;
static rm_jemalloc_stats_t je_cache;                 /* guarded by je_mu */
static void (*je_fn)(rm_jemalloc_stats_t *);         /* guarded by je_mu: who read je_cache */
static uint64_t je_at_ns;                            /* guarded by je_mu: when; 0 = never */
static int je_refreshing;                            /* guarded by je_mu */

static void
malloc_stats_cached(void (*fn)(rm_jemalloc_stats_t *), uint64_t now, rm_jemalloc_stats_t *out)
{
    pthread_mutex_lock(&je_mu);
    int have = je_fn == fn && je_at_ns != 0;
    int young = have && now - je_at_ns < MALLOC_STATS_MAX_AGE_MS * 1000000ull;
    int refresh = !young && !je_refreshing;
    if (young || (have && !refresh))
        *out = je_cache;   /* fresh enough, or another caller is reading: the last reading */
    if (refresh)
        je_refreshing = 1;
    pthread_mutex_unlock(&je_mu);
    if (young || (have && !refresh))
        return;
    fn(out);
    if (!refresh)
        return;
    pthread_mutex_lock(&je_mu);
    je_cache = *out;
    je_fn = fn;
    je_at_ns = now;
    je_refreshing = 0;
    pthread_mutex_unlock(&je_mu);
}

/* Fill `out`; strings and arrays come from the call's scratch memory.
 * `fresh`: ask the monitor for a fresh reading (rate-limited). */
static grpc_status_code
fill_memory_stats(rm_rpc_ctx_t *ctx, Rustymem__V1__MemoryStats *out, int fresh)
{
    rm_host_t *host = rm_host_of(ctx);
    /* the snapshot is ~2 KiB: in the call's scratch memory, not on the stack of every call */
    rm_pressure_snapshot_t *sn = rm_rpc_alloc(ctx, sizeof *sn);
    if (!sn)
        return rm_rpc_fail(ctx, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
    int have = 0, refreshed = 0;
    uint64_t now = rm_mono_ns();
    if (host && host->pressure) {
        rm_status_t rs = fresh ? rm_pressure_refresh(host->pressure, now, RM_PRESSURE_FRESH_MIN_MS * 1000000ull,
                                                     sn, &refreshed)
                               : rm_pressure_snapshot(host->pressure, sn);
        have = rs == RM_OK && sn->sampled_ns != 0;
    }
    if (!have) {
        /* no monitor, or no reading published yet: read the system here */
        memset(sn, 0, sizeof *sn);
        rm_sysinfo_read(host ? &host->sysinfo_paths : NULL, &sn->sys);
        sn->sampled_ns = now;
        refreshed = 1;
    }
    const rm_sysinfo_t *si = &sn->sys;

    out->rss_bytes = si->rss_bytes;
    out->vm_size_bytes = si->vm_size_bytes;
    out->mem_total_bytes = si->mem_total_bytes;
    out->mem_available_bytes = si->mem_available_bytes;

    rm_component_usage_t comps[RM_COMPONENTS_MAX];
    size_t n = 0;
    rm_stats_components(comps, RM_COMPONENTS_MAX, &n);
    if (n > RM_COMPONENTS_MAX)
        n = RM_COMPONENTS_MAX;
    rm_stats_totals(comps, n, &out->memcore_used_bytes, &out->memcore_held_bytes);

    if (have && sn->usage.budget_bytes && sn->usage.usage_source && sn->usage.budget_source) {
        out->used_bytes = sn->usage.used_bytes;
        out->budget_bytes = sn->usage.budget_bytes;
        out->usage_ratio = sn->usage.usage_ratio;
        out->usage_source = (char *)sn->usage.usage_source;
        out->budget_source = (char *)sn->usage.budget_source;
        out->sampled_at_unix_ms = sn->sampled_unix_ns ? (int64_t)(sn->sampled_unix_ns / 1000000u)
                                                      : rm_unix_ms_of_mono(sn->sampled_ns);
    } else {
        uint64_t override = host ? __atomic_load_n(&host->budget_override_bytes, __ATOMIC_RELAXED) : 0;
        rm_sysinfo_usage_t u;
        rm_sysinfo_usage(si, override, out->memcore_held_bytes, &u);
        out->used_bytes = u.used_bytes;
        out->budget_bytes = u.budget_bytes;
        out->usage_ratio = u.usage_ratio;
        out->usage_source = (char *)u.usage_source;
        out->budget_source = (char *)u.budget_source;
        out->sampled_at_unix_ms = have ? (sn->sampled_unix_ns ? (int64_t)(sn->sampled_unix_ns / 1000000u)
                                                             : rm_unix_ms_of_mono(sn->sampled_ns))
                                       : rm_wall_ms();
    }
    out->sample_age_ms = now > sn->sampled_ns ? (now - sn->sampled_ns) / 1000000u : 0;
    out->fresh_read = refreshed != 0;
    out->rss_budget_ratio = out->budget_bytes ? (double)si->rss_bytes / (double)out->budget_bytes : 0.0;

    Rustymem__V1__CgroupStats *cg = rm_rpc_alloc(ctx, sizeof *cg);
    Rustymem__V1__PsiStats *psi = rm_rpc_alloc(ctx, sizeof *psi);
    Rustymem__V1__JemallocStats *je = rm_rpc_alloc(ctx, sizeof *je);
    if (!cg || !psi || !je)
        return rm_rpc_fail(ctx, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
    rustymem__v1__cgroup_stats__init(cg);
    cg->version = (uint32_t)si->cgroup_version;
    cg->path = sn->sys.cgroup_dir;   /* sn lives in the call's scratch memory */
    cg->usage_bytes = si->cgroup_usage_bytes;
    cg->limit_bytes = si->cgroup_limit_bytes;
    cg->high_bytes = si->cgroup_high_bytes;
    cg->oom_kills_total = si->cgroup_oom_kills;
    cg->failcnt_total = si->cgroup_failcnt;
    out->cgroup = cg;

    rustymem__v1__psi_stats__init(psi);
    psi->available = si->has_psi;
    psi->some_avg10_percent = si->psi.some_avg10;
    psi->some_avg60_percent = si->psi.some_avg60;
    psi->full_avg10_percent = si->psi.full_avg10;
    psi->full_avg60_percent = si->psi.full_avg60;
    out->psi = psi;

    rm_jemalloc_stats_t js = {0};
    if (host && host->malloc_stats)
        malloc_stats_cached(host->malloc_stats, now, &js);
    rustymem__v1__jemalloc_stats__init(je);
    je->active = js.active;
    je->allocated_bytes = js.allocated;
    je->active_bytes = js.active_bytes;
    je->resident_bytes = js.resident;
    je->metadata_bytes = js.metadata;
    je->retained_bytes = js.retained;
    je->mapped_bytes = js.mapped;
    je->version = rm_rpc_strdup(ctx, js.version);
    out->jemalloc = je;

    out->components = rm_rpc_alloc_messages(ctx, &rustymem__v1__component_usage__descriptor, n);
    if (!out->components)
        return rm_rpc_fail(ctx, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
    for (size_t i = 0; i < n; i++) {
        Rustymem__V1__ComponentUsage *cu = out->components[i];
        cu->component = rm_rpc_strdup(ctx, comps[i].name);
        cu->used_bytes = comps[i].used_bytes;
        cu->held_bytes = comps[i].held_bytes;
        cu->percentage =
            out->budget_bytes ? 100.0 * (double)comps[i].used_bytes / (double)out->budget_bytes : 0.0;
        cu->nested = comps[i].nested != 0;
    }
    out->n_components = n;

    out->uptime_seconds = host ? (double)(rm_mono_ns() - host->start_ns) / 1e9 : 0.0;
    out->timestamp_unix_ms = rm_wall_ms();
    out->node_name = rm_rpc_strdup(ctx, host ? host->node_name : "");
    out->version = rm_rpc_strdup(ctx, host && host->version ? host->version : "");
    if (host && host->n_labels) {
        size_t nl = host->n_labels < RM_HOST_MAX_LABELS ? host->n_labels : RM_HOST_MAX_LABELS;
        out->labels = rm_rpc_alloc_messages(ctx, &rustymem__v1__memory_stats__labels_entry__descriptor, nl);
        if (!out->labels)
            return rm_rpc_fail(ctx, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
        for (size_t i = 0; i < nl; i++) {
            Rustymem__V1__MemoryStats__LabelsEntry *le = out->labels[i];
            le->key = rm_rpc_strdup(ctx, host->label_key[i]);
            le->value = rm_rpc_strdup(ctx, host->label_value[i]);
            if (!le->key || !le->value)
                return rm_rpc_fail(ctx, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
        }
        out->n_labels = nl;
    }
    return GRPC_STATUS_OK;
}

static grpc_status_code
get_memory_stats(rm_rpc_ctx_t *ctx, const ProtobufCMessage *req, ProtobufCMessage *resp)
{
    const Rustymem__V1__GetMemoryStatsRequest *r = (const void *)req;
    return fill_memory_stats(ctx, (Rustymem__V1__MemoryStats *)resp, r->fresh);
}

static grpc_status_code
watch_stats(rm_rpc_ctx_t *ctx, const ProtobufCMessage *req_)
{
    const Rustymem__V1__WatchStatsRequest *req = (const void *)req_;
    uint32_t interval = req->interval_ms ? req->interval_ms : MEMORY_WATCH_DEFAULT_MS;
    if (interval < MEMORY_WATCH_FLOOR_MS || interval > 3600000)
        return rm_rpc_fail(ctx, GRPC_STATUS_INVALID_ARGUMENT,
                           "interval_ms = %u is out of range: allowed 0 (= %d) or %d..3600000",
                           req->interval_ms, MEMORY_WATCH_DEFAULT_MS, MEMORY_WATCH_FLOOR_MS);
    while (!rm_rpc_cancelled(ctx)) {
        Rustymem__V1__MemoryStats st = RUSTYMEM__V1__MEMORY_STATS__INIT;
        /* Each message gets fresh scratch memory; release the previous one. */
        rm__rpc_ctx_release(ctx);
        grpc_status_code code = fill_memory_stats(ctx, &st, 0);
        if (code != GRPC_STATUS_OK)
            return code;
        if (rm_rpc_stream_send(ctx, &st.base) < 0)
            break;
        rm_rpc_wait(ctx, interval);
    }
    rm__rpc_ctx_release(ctx);
    if (rm_rpc_shutting_down(ctx))
        return rm_rpc_fail(ctx, GRPC_STATUS_UNAVAILABLE, "rustymemd is shutting down");
    return rm_rpc_fail(ctx, GRPC_STATUS_CANCELLED, "stats stream cancelled");
}

static grpc_status_code
get_fragmentation_stats(rm_rpc_ctx_t *ctx, const ProtobufCMessage *req, ProtobufCMessage *resp_)
{
    Rustymem__V1__FragmentationStats *resp = (void *)resp_;
    rm_component_usage_t comps[RM_COMPONENTS_MAX];
    size_t n = 0;
    rm_stats_components(comps, RM_COMPONENTS_MAX, &n);
    if (n > RM_COMPONENTS_MAX)
        n = RM_COMPONENTS_MAX;
    resp->components = rm_rpc_alloc_messages(ctx, &rustymem__v1__component_fragmentation__descriptor, n);
    if (!resp->components)
        return rm_rpc_fail(ctx, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
    uint64_t used = 0, held = 0;
    for (size_t i = 0; i < n; i++) {
        Rustymem__V1__ComponentFragmentation *cf = resp->components[i];
        cf->component = rm_rpc_strdup(ctx, comps[i].name);
        cf->used_bytes = comps[i].used_bytes;
        cf->held_bytes = comps[i].held_bytes;
        cf->fragmentation_ratio = rm_stats_component_fragmentation(&comps[i]);
        cf->status = (char *)rm_stats_fragmentation_status(cf->fragmentation_ratio);
        used += comps[i].used_bytes;
        held += comps[i].held_bytes - (comps[i].reserved_bytes < comps[i].held_bytes ? comps[i].reserved_bytes
                                                                                     : comps[i].held_bytes);
    }
    resp->n_components = n;
    resp->overall_ratio = rm_stats_fragmentation(used, held);   /* reserved bytes left out, as per component */
    resp->overall_status = (char *)rm_stats_fragmentation_status(resp->overall_ratio);
    return GRPC_STATUS_OK;
}

/* "slab.lock_entry_magazine" → "lock_entry": the seed's use of a size class. */
static char *
slab_role_name(rm_rpc_ctx_t *ctx, unsigned cls)
{
    const rm_knob_def_t *d = rm_knobs_def((rm_knob_id_t)(RM_KNOB_SLAB_LOCK_ENTRY_MAGAZINE + cls));
    const char *start = strchr(d->name, '.') + 1, *end = strstr(d->name, "_magazine");
    char buf[64];
    snprintf(buf, sizeof buf, "%.*s", (int)(end ? end - start : (long)strlen(start)), start);
    return rm_rpc_strdup(ctx, buf);
}

static grpc_status_code
get_slab_stats(rm_rpc_ctx_t *ctx, const ProtobufCMessage *req, ProtobufCMessage *resp_)
{
    Rustymem__V1__SlabStats *resp = (void *)resp_;
    rm_host_t *host = rm_host_of(ctx);
    if (!host || !host->slab)
        return rm_host_unimplemented(ctx, "this server hosts no slab allocator");
    rm_slab_stats_t st[RM_SLAB_NUM_CLASSES];
    rm_status_t rs = rm_slab_stats(host->slab, st);
    if (rs != RM_OK)
        return rm_rpc_fail(ctx, rm_rpc_status_from_rm(rs), "slab statistics: %s", rm_strerror(rs));
    resp->numa_available = rm_slab_numa_available();
    resp->classes =
        rm_rpc_alloc_messages(ctx, &rustymem__v1__slab_class_stats__descriptor, RM_SLAB_NUM_CLASSES);
    if (!resp->classes)
        return rm_rpc_fail(ctx, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
    for (unsigned i = 0; i < RM_SLAB_NUM_CLASSES; i++) {
        Rustymem__V1__SlabClassStats *c = resp->classes[resp->n_classes++];
        c->object_size_bytes = st[i].object_size;
        c->name = slab_role_name(ctx, i);
        c->magazine_capacity = st[i].magazine_capacity;
        c->allocs_total = st[i].allocs;
        c->frees_total = st[i].frees;
        c->active_objects = st[i].active_objects;
        c->slabs = st[i].slabs;
        c->used_bytes = st[i].bytes_in_use;
        c->held_bytes = st[i].bytes_held;
        c->magazine_hit_ratio = st[i].magazine_hit_ratio;
        c->depot_gets_total = st[i].depot_gets;
        c->depot_puts_total = st[i].depot_puts;
        c->nodes = rm_rpc_alloc_messages(ctx, &rustymem__v1__slab_node_stats__descriptor, st[i].nodes);
        if (!c->nodes)
            return rm_rpc_fail(ctx, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
        for (uint32_t n = 0; n < st[i].nodes && n < RM_SLAB_MAX_NODES; n++) {
            Rustymem__V1__SlabNodeStats *ns = c->nodes[c->n_nodes++];
            ns->numa_node = st[i].node[n].node;
            ns->slabs = st[i].node[n].slabs;
            ns->held_bytes = st[i].node[n].bytes_held;
            ns->depot_full_magazines = st[i].node[n].depot_full;
            ns->depot_empty_magazines = st[i].node[n].depot_empty;
        }
        if (st[i].nodes > resp->numa_nodes)
            resp->numa_nodes = st[i].nodes;
        resp->metadata_bytes += st[i].metadata_bytes;
        resp->reaped_bytes_total += st[i].reaped_slabs * (uint64_t)RM_SLAB_SLAB_BYTES;
    }
    return GRPC_STATUS_OK;
}

static grpc_status_code
get_arena_stats(rm_rpc_ctx_t *ctx, const ProtobufCMessage *req_, ProtobufCMessage *resp_)
{
    const Rustymem__V1__GetArenaStatsRequest *req = (const void *)req_;
    Rustymem__V1__ArenaStats *resp = (void *)resp_;
    rm_host_t *host = rm_host_of(ctx);
    if (!host || !host->arenas)
        return rm_host_unimplemented(ctx, "this server hosts no arena manager");
    rm_arena_mgr_stats_t ms;
    rm_arena_mgr_stats(host->arenas, &ms);
    resp->profiles =
        rm_rpc_alloc_messages(ctx, &rustymem__v1__arena_profile_stats__descriptor, RM_ARENA_PROFILE_COUNT);
    if (!resp->profiles)
        return rm_rpc_fail(ctx, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
    for (int p = 0; p < RM_ARENA_PROFILE_COUNT; p++) {
        Rustymem__V1__ArenaProfileStats *ps = resp->profiles[resp->n_profiles++];
        size_t initial = 0, max = 0;
        (void)rm_arena_profile_sizes((rm_arena_profile_t)p, &initial, &max);
        ps->profile = (char *)rm_arena_profile_name((rm_arena_profile_t)p);
        ps->initial_bytes = initial;
        ps->max_bytes = max;
        ps->live_arenas = ms.live_by_profile[p];
        resp->live_arenas += ms.live_by_profile[p];
    }
    resp->live_arenas += ms.live_auto;
    resp->allocated_bytes = ms.used_bytes;
    resp->held_bytes = ms.held_bytes;
    resp->peak_held_bytes = ms.peak_held_bytes;
    resp->rollbacks_total = ms.rollbacks;
    resp->limit_hits_total = ms.limit_hits;
    resp->disable_above_bytes = ms.disable_above_bytes;
    resp->created_total = ms.created;
    resp->bypasses_total = ms.bypasses;
    resp->cached_bytes = ms.cached_bytes;
    if (req->include_contexts) {
        size_t n = 0;
        rm_arena_mgr_contexts(host->arenas, NULL, 0, &n);
        if (n > 10000)
            n = 10000; /* bounded response; the count of live arenas is above */
        rm_arena_context_info_t *info = rm_rpc_alloc(ctx, (n ? n : 1) * sizeof *info);
        if (!info)
            return rm_rpc_fail(ctx, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
        size_t got = 0;
        rm_arena_mgr_contexts(host->arenas, info, n, &got);
        if (got > n)
            got = n;
        resp->contexts = rm_rpc_alloc_messages(ctx, &rustymem__v1__arena_context__descriptor, got);
        if (!resp->contexts)
            return rm_rpc_fail(ctx, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
        for (size_t i = 0; i < got; i++) {
            Rustymem__V1__ArenaContext *c = resp->contexts[resp->n_contexts++];
            c->name = rm_rpc_strdup(ctx, info[i].name);
            c->parent = rm_rpc_strdup(ctx, info[i].parent);
            c->level = info[i].level;
            c->total_bytes = info[i].total_bytes;
            c->used_bytes = info[i].used_bytes;
            c->free_bytes = info[i].free_bytes;
            c->blocks = info[i].blocks;
        }
    }
    return GRPC_STATUS_OK;
}

static grpc_status_code
get_large_object_stats(rm_rpc_ctx_t *ctx, const ProtobufCMessage *req, ProtobufCMessage *resp_)
{
    Rustymem__V1__LargeObjectStats *resp = (void *)resp_;
    rm_host_t *host = rm_host_of(ctx);
    if (!host || !host->large)
        return rm_host_unimplemented(ctx, "this server hosts no large-object allocator");
    rm_large_stats_t ls;
    rm_large_stats(host->large, &ls);
    resp->threshold_bytes = ls.threshold_bytes;
    resp->strategy = (char *)rm_large_strategy_name(ls.strategy);
    resp->aggressive_coalescing = ls.aggressive_coalescing;
    resp->live_objects = ls.live_objects;
    resp->used_bytes = ls.used_bytes;
    resp->held_bytes = ls.held_bytes;
    resp->free_extents = ls.free_extents;
    resp->largest_free_extent_bytes = ls.largest_free_bytes;
    resp->allocs_total = ls.allocs;
    resp->frees_total = ls.frees;
    resp->coalesces_total = ls.coalesces;
    resp->normal_mappings = ls.segments_by_backing[RM_BACKING_NORMAL];
    resp->huge_2m_mappings = ls.segments_by_backing[RM_BACKING_HUGE_2M];
    resp->huge_1g_mappings = ls.segments_by_backing[RM_BACKING_HUGE_1G];
    resp->thp_mappings = ls.segments_by_backing[RM_BACKING_THP];
    resp->fragmentation_ratio = ls.fragmentation_ratio;
    resp->released_bytes_total = ls.released_bytes;
    return GRPC_STATUS_OK;
}

/* ---- the data plane (service/host.h methods; rustymemd: the engine) ------------- */

static grpc_status_code
get_engine_stats(rm_rpc_ctx_t *ctx, const ProtobufCMessage *req, ProtobufCMessage *resp_)
{
    Rustymem__V1__EngineStats *r = (void *)resp_;
    rm_host_t *host = rm_host_of(ctx);
    if (!host || !host->methods || !host->methods->engine_stats)
        return rm_host_unimplemented(ctx, "this server hosts no engine");
    rm_host_engine_stats_t s;
    host->methods->engine_stats(host->data_plane, &s);
    r->sessions = s.session.sessions;
    r->sessions_active = s.session.sessions_active;
    r->sessions_idle = s.session.sessions_idle;
    r->session_limit = s.session.session_limit;
    r->connections_open = s.session.connections_open;
    r->connections_busy = s.session.connections_busy;
    r->connections_waiting = s.session.connections_waiting;
    r->max_connections = s.session.max_connections;
    r->max_sessions = s.session.max_sessions;
    r->admission_open = s.session.admission_open;
    r->session_bytes = s.session.session_bytes;
    r->connection_bytes = s.session.connection_bytes;
    r->bytes_per_session = s.session.bytes_per_session;
    r->bytes_per_connection = s.session.bytes_per_connection;
    r->sessions_opened_total = s.session.opened_total;
    r->sessions_closed_total = s.session.closed_total;
    r->rejected_admission_total = s.session.rejected_admission;
    r->rejected_limit_total = s.session.rejected_limit;
    r->busy_failures_total = s.session.busy_failures;
    r->abandoned_transactions_total = s.session.abandoned_txns;
    r->pool_size = s.session.pool_size;
    r->pool_min_size = s.pool.min_size;
    r->pool_max_size = s.pool.max_size;
    r->pool_utilisation = s.pool.last_utilisation;
    r->pool_avg_utilisation = s.pool.avg_utilisation;
    r->pool_scale_ups_total = s.pool.scale_ups;
    r->pool_scale_downs_total = s.pool.scale_downs;
    r->mvcc_keys = s.mvcc.keys;
    r->mvcc_versions = s.mvcc.versions;
    r->mvcc_longest_chain = s.mvcc.longest_chain;
    r->mvcc_used_bytes = s.mvcc.used_bytes;
    r->mvcc_held_bytes = s.mvcc.held_bytes;
    r->mvcc_transactions_active = s.mvcc.txns_active;
    r->mvcc_commits_total = s.mvcc.commits;
    r->mvcc_aborts_total = s.mvcc.aborts;
    r->mvcc_conflicts_total = s.mvcc.conflicts;
    r->mvcc_kills_total = s.mvcc.kills;
    r->mvcc_compactions_total = s.mvcc.compactions;
    r->mvcc_versions_dropped_total = s.mvcc.versions_dropped;
    r->mvcc_bytes_compacted_total = s.mvcc.bytes_compacted;
    r->mvcc_max_versions_per_key = s.mvcc.max_versions_per_key;
    r->plan_cache_plans = s.plans.plans;
    r->plan_cache_bytes = s.plans.bytes;
    r->plan_cache_max_plans = s.plans.max_plans;
    r->plan_cache_max_bytes = s.plans.max_bytes;
    r->plan_cache_hits_total = s.plans.hits;
    r->plan_cache_misses_total = s.plans.misses;
    r->plan_cache_evictions_total = s.plans.evictions;
    r->plan_cache_hit_ratio =
        s.plans.hits + s.plans.misses ? (double)s.plans.hits / (double)(s.plans.hits + s.plans.misses) : 0.0;
    r->tables = s.tables;
    r->index_keys = s.index_keys;
    r->index_bytes = s.index_bytes;
    r->journal_bytes = s.journal_bytes;
    r->transactions_begun_total = s.txns_begun;
    r->transactions_committed_total = s.txns_committed;
    r->transactions_rolled_back_total = s.txns_rolled_back;
    r->transactions_conflicted_total = s.txns_conflicted;
    r->orphans_killed_total = s.orphans_killed;
    r->queries_running = s.queries_running;
    r->queries_total = s.queries_total;
    r->queries_cancelled_total = s.queries_cancelled;
    r->savepoints_total = s.savepoints;
    r->rollbacks_to_savepoint_total = s.rollbacks_to_savepoint;
    r->writes_refused = s.writes_refused;
    r->writes_refused_total = s.writes_refused_total;
    r->low_priority_scans_refused_total = s.low_priority_scans_refused_total;
    r->heap_enabled = s.heap_enabled;
    r->mvcc_stored_values = s.mvcc.stored_values;
    r->mvcc_stored_bytes = s.mvcc.stored_bytes;
    r->mvcc_store_fallbacks_total = s.mvcc.store_fallbacks;
    r->heap_pages = s.heap_pages;
    r->heap_slot_bytes = s.heap_slot_bytes;
    r->heap_read_errors_total = s.heap_read_errors;
    return GRPC_STATUS_OK;
}

/* seed: orphaned_transactions() is ListTransactions(orphaned_only = true). */
static grpc_status_code
list_transactions(rm_rpc_ctx_t *ctx, const ProtobufCMessage *req_, ProtobufCMessage *resp_)
{
    const Rustymem__V1__ListTransactionsRequest *req = (const void *)req_;
    Rustymem__V1__ListTransactionsResponse *resp = (void *)resp_;
    rm_host_t *host = rm_host_of(ctx);
    if (!host || !host->methods || !host->methods->list_txns)
        return rm_host_unimplemented(ctx, "this server hosts no transaction engine");
    if (req->limit > 100000)
        return rm_rpc_fail(ctx, GRPC_STATUS_INVALID_ARGUMENT, "limit = %u: at most 100000 (0 = 1000)", req->limit);
    size_t cap = req->limit ? req->limit : 1000, n = 0;
    rm_host_txn_info_t *ti = rm_rpc_alloc(ctx, cap * sizeof *ti);
    if (!ti)
        return rm_rpc_fail(ctx, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
    if (host->methods->list_txns(host->data_plane, req->orphaned_only, ti, cap, &n) != RM_OK)
        return rm_rpc_fail(ctx, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
    if (n > cap)
        n = cap;
    resp->transactions = rm_rpc_alloc_messages(ctx, &rustymem__v1__transaction_info__descriptor, n);
    if (!resp->transactions)
        return rm_rpc_fail(ctx, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
    for (size_t i = 0; i < n; i++) {
        Rustymem__V1__TransactionInfo *t = resp->transactions[resp->n_transactions++];
        t->txn_id = ti[i].txn_id;
        t->session_id = ti[i].session_id;
        t->age_seconds = ti[i].age_seconds;
        t->idle_seconds = ti[i].idle_seconds;
        t->orphaned = ti[i].orphaned;
        t->orphan_reason = (char *)ti[i].orphan_reason;
        t->arena_bytes = ti[i].journal_bytes;
        t->state = ti[i].killed ? "killed" : "active";
    }
    return GRPC_STATUS_OK;
}

static grpc_status_code
get_buffer_pool_stats(rm_rpc_ctx_t *ctx, const ProtobufCMessage *req, ProtobufCMessage *resp_)
{
    Rustymem__V1__BufferPoolStats *r = (void *)resp_;
    rm_host_t *host = rm_host_of(ctx);
    bool hosted = host && (host->bufpool || (host->methods && host->methods->bufpool_stats));
    if (!hosted)
        return rm_host_unimplemented(ctx, "this server hosts no buffer pool");
    rm_bufpool_stats_t st;
    rm_status_t rs = host->bufpool ? rm_bufpool_stats(host->bufpool, &st)
                                   : host->methods->bufpool_stats(host->data_plane, &st);
    if (rs != RM_OK)
        return rm_rpc_fail(ctx, rm_rpc_status_from_rm(rs), "buffer pool statistics: %s", rm_strerror(rs));
    r->total_frames = st.total_frames;
    r->used_frames = st.used_frames;
    r->utilization_ratio = st.utilization;
    r->hit_ratio = st.hit_ratio;
    r->hits_total = st.hits;
    r->misses_total = st.misses;
    r->reads_total = st.reads;
    r->writes_total = st.writes;
    r->evictions_total = st.evictions;
    r->discards_total = st.discards;
    r->dirty_frames = st.dirty;
    r->pinned_frames = st.pinned;
    r->arc_t1 = st.t1_size;
    r->arc_t2 = st.t2_size;
    r->arc_b1 = st.b1_size;
    r->arc_b2 = st.b2_size;
    r->arc_ghost_hits_total = st.b1_ghost_hits + st.b2_ghost_hits;
    r->arc_target_p = (double)st.arc_p;
    r->prefetch_issued_total = st.prefetch_issued;
    r->prefetch_used_total = st.prefetch_used;
    r->prefetch_wasted_total = st.prefetch_wasted;
    r->checksum_failures_total = st.checksum_failures;
    r->page_size_bytes = (uint32_t)st.page_size;
    r->eviction_boost_ratio = (double)st.eviction_boost_pct / 100.0;
    r->recommended_num_frames = (int64_t)st.recommended_frames;
    r->io_errors_total = st.io_errors;
    r->last_io_error = rm_rpc_strdup(ctx, st.last_io_error);
    r->last_checksum_failure_file = rm_rpc_strdup(ctx, st.last_corrupt_name);
    r->last_checksum_failure_page = st.checksum_failures ? st.last_corrupt_page : 0;
    r->write_errors_total = st.write_errors;
    r->last_write_error = rm_rpc_strdup(ctx, st.last_write_error);
    r->writes_failing = st.writes_failing != 0;
    r->writes_failing_since_unix_ms = (int64_t)(st.writes_failing_since_ns / 1000000u);
    r->unwritable_pages = st.unwritable_pages;
    r->directory = rm_rpc_strdup(ctx, host->bufpool ? rm_bufpool_dir(host->bufpool) : "");
    if (!r->last_io_error || !r->last_checksum_failure_file || !r->last_write_error || !r->directory)
        return rm_rpc_fail(ctx, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory building the reply");
    switch (st.advice) {
    case RM_BUFPOOL_GROW:
        r->recommendation = "grow by 25 % (hit ratio below 85 % with utilisation above 90 %)";
        break;
    case RM_BUFPOOL_SHRINK:
        r->recommendation = "shrink by 25 % (hit ratio above 95 %)";
        break;
    default:
        r->recommendation = "keep (hit ratio within 85-95 %, or not enough traffic yet)";
        break;
    }
    return GRPC_STATUS_OK;
}

#define MS "/rustymem.v1.MemoryService/"
static const rm_rpc_method_t memory_methods[] = {
    RM_RPC_UNARY_METHOD(MS "GetMemoryStats", rustymem__v1__get_memory_stats_request__descriptor,
                        rustymem__v1__memory_stats__descriptor, RM_ROLE_READER, get_memory_stats),
    RM_RPC_UNARY_METHOD(MS "GetSlabStats", rustymem__v1__get_slab_stats_request__descriptor,
                        rustymem__v1__slab_stats__descriptor, RM_ROLE_READER, get_slab_stats),
    RM_RPC_UNARY_METHOD(MS "GetArenaStats", rustymem__v1__get_arena_stats_request__descriptor,
                        rustymem__v1__arena_stats__descriptor, RM_ROLE_READER, get_arena_stats),
    RM_RPC_UNARY_METHOD(MS "GetBufferPoolStats", rustymem__v1__get_buffer_pool_stats_request__descriptor,
                        rustymem__v1__buffer_pool_stats__descriptor, RM_ROLE_READER,
                        get_buffer_pool_stats),
    RM_RPC_UNARY_METHOD(MS "GetLargeObjectStats", rustymem__v1__get_large_object_stats_request__descriptor,
                        rustymem__v1__large_object_stats__descriptor, RM_ROLE_READER,
                        get_large_object_stats),
    RM_RPC_UNARY_METHOD(MS "GetFragmentationStats", rustymem__v1__get_fragmentation_stats_request__descriptor,
                        rustymem__v1__fragmentation_stats__descriptor, RM_ROLE_READER,
                        get_fragmentation_stats),
    RM_RPC_UNARY_METHOD(MS "ListTransactions", rustymem__v1__list_transactions_request__descriptor,
                        rustymem__v1__list_transactions_response__descriptor, RM_ROLE_READER, list_transactions),
    RM_RPC_STREAM_METHOD(MS "WatchStats", rustymem__v1__watch_stats_request__descriptor,
                         rustymem__v1__memory_stats__descriptor, RM_ROLE_READER, watch_stats),
    RM_RPC_UNARY_METHOD(MS "GetEngineStats", rustymem__v1__get_engine_stats_request__descriptor,
                        rustymem__v1__engine_stats__descriptor, RM_ROLE_READER, get_engine_stats),
};
#undef MS

const rm_rpc_service_t rm_memory_service = RM_RPC_SERVICE("rustymem.v1.MemoryService", memory_methods);
