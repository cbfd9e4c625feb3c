/*
 * emergency.c — rustymem.v1.EmergencyService: actions an operator
 * (or the fleet controller) takes under memory pressure. Every action reports
 * what it did (bytes/objects freed, transactions killed, …) and is audited.
 *
 * A method whose module this server does not host answers UNIMPLEMENTED with
 * the module's name; bad arguments answer INVALID_ARGUMENT naming the field
 * and its range, and change nothing.
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "host.h"
#include "rm_clock.h"
#include "rpc_internal.h"
#include "rustymem/v1/common.pb-c.h"
#include "rustymem/v1/emergency.pb-c.h"

/*
 * Every action's answer: its name, the seconds since t0 (t0 < 0: not timed)
 * and a one-line summary, which is also the audit line.
 */
static grpc_status_code __attribute__((format(printf, 5, 6)))
action_done(rm_rpc_ctx_t *ctx, Rustymem__V1__ActionResult *r, const char *action, double t0, const char *fmt,
            ...)
{
    r->action = (char *)action;
    if (t0 >= 0)
        r->duration_seconds = rm_mono_s() - t0;
    char buf[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    r->summary = rm_rpc_strdup(ctx, buf);
    rm_host_audit(ctx, "%s", buf);
    return GRPC_STATUS_OK;
}

/* Prologue: the host runs the memcore module host->field_, else the RPC answers UNIMPLEMENTED
 * "RPC: this server hosts no WHAT" (rm_host_unimplemented). */
#define NEED_MODULE(field_, what_)                                                                           \
    rm_host_t *host = rm_host_of(ctx);                                                                       \
    if (!host || !host->field_)                                                                              \
        return rm_host_unimplemented(ctx, "this server hosts no %s", what_)

/* seed: CALL force_garbage_collection() — give every cache and free page back. */
static grpc_status_code
force_gc(rm_rpc_ctx_t *ctx, const ProtobufCMessage *req, ProtobufCMessage *resp_)
{
    Rustymem__V1__ActionResult *r = (void *)resp_;
    rm_host_t *host = rm_host_of(ctx);
    double t0 = rm_mono_s();
    uint64_t slab = 0, arena = 0, large = 0;
    if (host && host->slab)
        (void)rm_slab_reap(host->slab, &slab);
    if (host && host->arenas)
        arena = rm_arena_mgr_release_cached(host->arenas);
    if (host && host->large)
        large = rm_large_release_free(host->large, UINT64_MAX);
    if (host && host->malloc_purge)
        (void)host->malloc_purge();
    r->bytes_freed = slab + arena + large;
    return action_done(ctx, r, "force_garbage_collection", t0,
                       "released %llu B: slab %llu, arena block cache %llu, large-object free extents %llu",
                       (unsigned long long)r->bytes_freed, (unsigned long long)slab,
                       (unsigned long long)arena, (unsigned long long)large);
}

/* seed: optimizer.coalesce_all() — merge free extents, optionally release them. */
static grpc_status_code
coalesce_large(rm_rpc_ctx_t *ctx, const ProtobufCMessage *req_, ProtobufCMessage *resp_)
{
    const Rustymem__V1__CoalesceLargeObjectsRequest *req = (const void *)req_;
    Rustymem__V1__ActionResult *r = (void *)resp_;
    NEED_MODULE(large, "large-object allocator");
    double t0 = rm_mono_s();
    r->extents_coalesced = rm_large_coalesce_all(host->large);
    if (req->release_to_os)
        r->bytes_freed = rm_large_release_free(host->large, UINT64_MAX);
    return action_done(ctx, r, "coalesce_large_objects", t0, "coalesced %llu extents, released %llu B",
                       (unsigned long long)r->extents_coalesced, (unsigned long long)r->bytes_freed);
}

/*
 * Run the graduated response at a level now. Unlike the automatic responder,
 * which aims usage at the target fraction of the budget, an operator's trigger
 * asks every reclaimer of that level (and below) for all it can free.
 */
static grpc_status_code
trigger_response(rm_rpc_ctx_t *ctx, const ProtobufCMessage *req_, ProtobufCMessage *resp_)
{
    const Rustymem__V1__TriggerResponseRequest *req = (const void *)req_;
    Rustymem__V1__ActionResult *r = (void *)resp_;
    NEED_MODULE(pressure, "pressure responder");
    if (req->level < RUSTYMEM__V1__PRESSURE_LEVEL__PRESSURE_LEVEL_GENTLE ||
        req->level > RUSTYMEM__V1__PRESSURE_LEVEL__PRESSURE_LEVEL_OOM_PREVENTION)
        return rm_rpc_fail(ctx, GRPC_STATUS_INVALID_ARGUMENT,
                           "level = %d: expected PRESSURE_LEVEL_GENTLE (2) .. PRESSURE_LEVEL_OOM_PREVENTION (5)",
                           (int)req->level);
    rm_pressure_level_t level = (rm_pressure_level_t)(req->level - 1);
    uint64_t now = rm_mono_ns();
    double t0 = rm_mono_s();
    /* no minimum: the target is what the level's reclaimers aim for (rm_pressure_trigger_ex) */
    rm_pressure_trigger_result_t res;
    rm_status_t st = rm_pressure_trigger_ex(host->pressure, level, 0, now, &res);
    if (st != RM_OK)
        return rm_rpc_fail(ctx, rm_rpc_status_from_rm(st), "TriggerResponse: %s", rm_strerror(st));
    r->bytes_freed = res.freed_bytes;
    return action_done(ctx, r, "trigger_response", t0,
                       "ran the %s response at level %s: reclaimed %llu of a %llu B target",
                       rm_pressure_level_name(res.level), rm_pressure_level_name(res.from_level),
                       (unsigned long long)res.freed_bytes, (unsigned long long)res.target_bytes);
}

/* ---- the data plane's actions (service/host.h methods; rustymemd: the engine) ---- */

/* The host's data-plane methods, or NULL (*dp its first argument). */
static const rm_host_methods_t *
methods_of(rm_rpc_ctx_t *ctx, void **dp)
{
    rm_host_t *host = rm_host_of(ctx);
    *dp = host ? host->data_plane : NULL;
    return host ? host->methods : NULL;
}

/* Prologue: m (with e, its first argument) has the method fn_, else the RPC answers UNIMPLEMENTED
 * "RPC: this server hosts no WHAT" (rm_host_unimplemented). */
#define NEED_METHOD(fn_, what_)                                                                              \
    void *e;                                                                                                 \
    const rm_host_methods_t *m = methods_of(ctx, &e);                                                        \
    if (!m || !m->fn_)                                                                                       \
        return rm_host_unimplemented(ctx, "this server hosts no %s", what_)

/* seed: CALL clear_plan_cache() — or evict the oldest fraction. */
static grpc_status_code
clear_plan_cache(rm_rpc_ctx_t *ctx, const ProtobufCMessage *req_, ProtobufCMessage *resp_)
{
    const Rustymem__V1__ClearPlanCacheRequest *req = (const void *)req_;
    Rustymem__V1__ActionResult *r = (void *)resp_;
    NEED_METHOD(trim_plans, "plan cache");
    double f = req->fraction == 0.0 ? 1.0 : req->fraction;
    if (!(f > 0.0 && f <= 1.0))
        return rm_rpc_fail(ctx, GRPC_STATUS_INVALID_ARGUMENT, "fraction = %g: expected 0 < fraction <= 1 (0 = all)",
                           req->fraction);
    double t0 = rm_mono_s();
    uint64_t bytes = 0, plans = 0;
    (void)m->trim_plans(e, f, &bytes, &plans);
    r->bytes_freed = bytes;
    r->objects_freed = plans;
    return action_done(ctx, r, "clear_plan_cache", t0, "evicted %llu plans (%.0f%%), %llu B",
                       (unsigned long long)plans, f * 100.0, (unsigned long long)bytes);
}

/* seed: CALL kill_orphaned_transactions(). */
static grpc_status_code
kill_orphans(rm_rpc_ctx_t *ctx, const ProtobufCMessage *req_, ProtobufCMessage *resp_)
{
    Rustymem__V1__ActionResult *r = (void *)resp_;
    NEED_METHOD(kill_orphans, "transaction engine");
    double t0 = rm_mono_s();
    uint64_t k = 0;
    m->kill_orphans(e, &k);
    r->transactions_killed = k;
    return action_done(ctx, r, "kill_orphaned_transactions", t0, "rolled back %llu orphaned transactions",
                       (unsigned long long)k);
}

static grpc_status_code
kill_long_queries(rm_rpc_ctx_t *ctx, const ProtobufCMessage *req_, ProtobufCMessage *resp_)
{
    const Rustymem__V1__KillLongRunningQueriesRequest *req = (const void *)req_;
    Rustymem__V1__ActionResult *r = (void *)resp_;
    NEED_METHOD(kill_queries, "query engine");
    if (!(req->older_than_seconds > 0.0) || req->older_than_seconds > 1e9)
        return rm_rpc_fail(ctx, GRPC_STATUS_INVALID_ARGUMENT, "older_than_seconds = %g: expected > 0",
                           req->older_than_seconds);
    double t0 = rm_mono_s();
    uint64_t k = m->kill_queries(e, (uint64_t)(req->older_than_seconds * 1e9));
    r->queries_killed = k;
    return action_done(ctx, r, "kill_long_running_queries", t0,
                       "asked %llu queries running for %g s or more to cancel", (unsigned long long)k,
                       req->older_than_seconds);
}

static grpc_status_code
set_admission(rm_rpc_ctx_t *ctx, const ProtobufCMessage *req_, ProtobufCMessage *resp_)
{
    const Rustymem__V1__SetAdmissionRequest *req = (const void *)req_;
    Rustymem__V1__ActionResult *r = (void *)resp_;
    void *e;
    const rm_host_methods_t *m = methods_of(ctx, &e);
    if (!m || !m->admission_open || !m->set_admission)
        return rm_host_unimplemented(ctx, "this server hosts no session multiplexer");
    bool before = m->admission_open(e);
    m->set_admission(e, req->accept_new_connections);
    return action_done(ctx, r, "set_admission", -1, "admission of new sessions: %s -> %s",
                       before ? "open" : "closed", req->accept_new_connections ? "open" : "closed");
}

/* Evict a fraction of the resident buffer-pool pages now (dirty ones written first). */
static grpc_status_code
evict_buffer_pool(rm_rpc_ctx_t *ctx, const ProtobufCMessage *req_, ProtobufCMessage *resp_)
{
    const Rustymem__V1__EvictBufferPoolRequest *req = (const void *)req_;
    Rustymem__V1__ActionResult *r = (void *)resp_;
    rm_host_t *host = rm_host_of(ctx);
    if (!host || (!host->bufpool && !(host->methods && host->methods->bufpool_evict)))
        return rm_host_unimplemented(ctx, "this server hosts no buffer pool");
    if (!(req->fraction > 0.0 && req->fraction <= 1.0))
        return rm_rpc_fail(ctx, GRPC_STATUS_INVALID_ARGUMENT, "fraction = %g is out of range: allowed (0, 1]",
                           req->fraction);
    double t0 = rm_mono_s();
    uint64_t evicted = 0, bytes = 0;
    rm_status_t st = host->bufpool ? rm_bufpool_evict(host->bufpool, req->fraction, &evicted)
                                   : host->methods->bufpool_evict(host->data_plane, req->fraction, &evicted, &bytes);
    if (st != RM_OK && st != RM_EIO)
        return rm_rpc_fail(ctx, rm_rpc_status_from_rm(st), "EvictBufferPool: %s", rm_strerror(st));
    r->pages_evicted = evicted;
    r->bytes_freed = host->bufpool ? evicted * rm_bufpool_page_size(host->bufpool) : bytes;
    return action_done(ctx, r, "evict_buffer_pool", t0, "evicted %llu pages (%.0f %% asked)%s",
                       (unsigned long long)evicted, req->fraction * 100.0,
                       st == RM_EIO ? "; some dirty pages could not be written and stay" : "");
}

/* Every EmergencyService RPC changes the node (admin) and answers an ActionResult. */
#define ACTION(name, request, fn)                                                                            \
    RM_RPC_UNARY_METHOD("/rustymem.v1.EmergencyService/" #name, rustymem__v1__##request##__descriptor,       \
                        rustymem__v1__action_result__descriptor, RM_ROLE_ADMIN, fn)
static const rm_rpc_method_t emergency_methods[] = {
    ACTION(ForceGarbageCollection, force_garbage_collection_request, force_gc),
    ACTION(ClearPlanCache, clear_plan_cache_request, clear_plan_cache),
    ACTION(KillOrphanedTransactions, kill_orphaned_transactions_request, kill_orphans),
    ACTION(KillLongRunningQueries, kill_long_running_queries_request, kill_long_queries),
    ACTION(CoalesceLargeObjects, coalesce_large_objects_request, coalesce_large),
    ACTION(EvictBufferPool, evict_buffer_pool_request, evict_buffer_pool),
    ACTION(SetAdmission, set_admission_request, set_admission),
    ACTION(TriggerResponse, trigger_response_request, trigger_response),
};
#undef ACTION

const rm_rpc_service_t rm_emergency_service =
    RM_RPC_SERVICE("rustymem.v1.EmergencyService", emergency_methods);
