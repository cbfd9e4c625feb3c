/*
 * fleet_service.c — rustymem.v1.FleetService on the controller.
 *
 * Design note: the handlers translate between protobuf-c and the library
 * (rm_fleet_*); every string and array of a response lives in the call's
 * scratch memory (rm_rpc_alloc), so nothing here frees. Reads (ListNodes,
 * GetFleetStats, GetFleetForecast) only copy the cached view and answer at
 * once whatever state the agents are in. ApplyProfile blocks its
 * completion-queue thread for the rollout's waits (rustymem-fleet runs
 * several), aborts and rolls back when the caller goes away, and must be
 * called with a deadline longer than the waits. Nodes are listed sorted by
 * name, which is also the rollout order.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fleet_ha.h"
#include "fleet_internal.h"
#include "rustymem/v1/fleet.pb-c.h"

#define FS "/rustymem.v1.FleetService/"
#define OOM(ctx) rm_rpc_fail((ctx), GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory")

/* Selector from the request; *labels in scratch memory. Returns OK or INVALID_ARGUMENT. */
static grpc_status_code
to_selector(rm_rpc_ctx_t *ctx, const Rustymem__V1__NodeSelector *in, rm_fleet_selector_t *out)
{
    memset(out, 0, sizeof *out);
    if (!in)
        return GRPC_STATUS_OK;
    out->names = (const char *const *)in->names;
    out->n_names = in->n_names;
    if (!in->n_labels)
        return GRPC_STATUS_OK;
    rm_fleet_label_t *l = rm_rpc_alloc(ctx, in->n_labels * sizeof *l);
    if (!l)
        return OOM(ctx);
    for (size_t i = 0; i < in->n_labels; i++) {
        const char *k = in->labels[i]->key ? in->labels[i]->key : "";
        const char *v = in->labels[i]->value ? in->labels[i]->value : "";
        if (strlen(k) >= RM_FLEET_LABEL_KEY_MAX || strlen(v) >= RM_FLEET_LABEL_VALUE_MAX)
            return rm_rpc_fail(ctx, GRPC_STATUS_INVALID_ARGUMENT,
                               "selector.labels[%s]: key must be < %d and value < %d bytes", k,
                               RM_FLEET_LABEL_KEY_MAX, RM_FLEET_LABEL_VALUE_MAX);
        rm__fleet_copy(l[i].key, sizeof l[i].key, k);
        rm__fleet_copy(l[i].value, sizeof l[i].value, v);
    }
    out->labels = l;
    out->n_labels = in->n_labels;
    return GRPC_STATUS_OK;
}

static grpc_status_code
select_nodes(rm_rpc_ctx_t *ctx, struct rm_fleet *f, const Rustymem__V1__NodeSelector *sel, node_t ***nodes,
             size_t *n)
{
    rm_fleet_selector_t s;
    grpc_status_code code = to_selector(ctx, sel, &s);
    if (code != GRPC_STATUS_OK)
        return code;
    ssize_t k = rm__fleet_select(f, &s, nodes);
    if (k < 0)
        return OOM(ctx);
    *n = (size_t)k;
    return GRPC_STATUS_OK;
}

/* Pointer array + element block in scratch memory, elements initialised by `init`. */
static grpc_status_code
fill_node(rm_rpc_ctx_t *ctx, node_t *n, Rustymem__V1__NodeInfo *ni)
{
    node_view_t *v = malloc(sizeof *v);
    if (!v)
        return OOM(ctx);
    rm__fleet_view(n, v);
    rm_fleet_target_t t;
    pthread_mutex_lock(&n->mu); /* labels change under mu */
    t = n->target;
    t.n_labels = rm__fleet_node_labels(n, t.labels); /* with the agent's own labels (ADR 0027) */
    pthread_mutex_unlock(&n->mu);
    grpc_status_code code = GRPC_STATUS_OK;
    ni->name = rm_rpc_strdup(ctx, t.name);
    ni->address = rm_rpc_strdup(ctx, t.address);
    ni->reachable = v->reachable;
    ni->level = (Rustymem__V1__PressureLevel)v->level;
    ni->usage_ratio = v->usage_ratio;
    ni->has_time_to_critical = v->has_ttc;
    ni->time_to_critical_seconds = v->ttc_seconds;
    ni->rss_bytes = v->rss_bytes;
    ni->budget_bytes = v->budget_bytes;
    ni->used_bytes = v->used_bytes;
    ni->sampled_at_unix_ms = v->sampled_at_ms;
    ni->usage_source = rm_rpc_strdup(ctx, v->usage_source);
    ni->budget_source = rm_rpc_strdup(ctx, v->budget_source);
    ni->last_contact_unix_ms = v->last_contact_ms;
    ni->last_error = rm_rpc_strdup(ctx, v->polled ? v->last_error : "not polled yet");
    ni->level_source = rm_rpc_strdup(ctx, v->level_source);
    ni->predicted_level = (Rustymem__V1__PressureLevel)v->predicted_level;
    ni->forecast_confidence = v->confidence;
    ni->serving = v->serving;
    ni->agent_name = rm_rpc_strdup(ctx, v->agent_name);
    ni->version = rm_rpc_strdup(ctx, v->version);
    ni->consecutive_failures = v->failures;
    ni->next_poll_seconds = (double)v->next_poll_ms / 1000.0;
    if (!ni->name || !ni->address || !ni->last_error || !ni->level_source || !ni->agent_name || !ni->version ||
        !ni->usage_source || !ni->budget_source)
        goto oom;

    Rustymem__V1__NodeInfo__LabelsEntry **le = ni->labels =
        rm_rpc_alloc_messages(ctx, &rustymem__v1__node_info__labels_entry__descriptor, t.n_labels);
    if (!le)
        goto oom;
    for (size_t i = 0; i < t.n_labels; i++) {
        le[i]->key = rm_rpc_strdup(ctx, t.labels[i].key);
        le[i]->value = rm_rpc_strdup(ctx, t.labels[i].value);
        if (!le[i]->key || !le[i]->value)
            goto oom;
    }
    ni->n_labels = t.n_labels;

    Rustymem__V1__NodeInfo__StatsEntry **se = ni->stats =
        rm_rpc_alloc_messages(ctx, &rustymem__v1__node_info__stats_entry__descriptor, v->n_stats);
    if (!se)
        goto oom;
    for (size_t i = 0; i < v->n_stats; i++) {
        se[i]->key = rm_rpc_strdup(ctx, v->stat_key[i]);
        se[i]->value = v->stat_val[i];
        if (!se[i]->key)
            goto oom;
    }
    ni->n_stats = v->n_stats;

    Rustymem__V1__NodeInfo__CapabilitiesEntry **ce = ni->capabilities =
        rm_rpc_alloc_messages(ctx, &rustymem__v1__node_info__capabilities_entry__descriptor, 2);
    if (!ce)
        goto oom;
    const char *ck[2] = {"forecast", "emergency"}, *cv[2] = {v->cap_forecast, v->cap_emergency};
    for (size_t i = 0; i < 2; i++) {
        ce[i]->key = (char *)ck[i];
        ce[i]->value = rm_rpc_strdup(ctx, cv[i]);
        if (!ce[i]->value)
            goto oom;
    }
    ni->n_capabilities = 2;

    Rustymem__V1__NodeEvent **ev = ni->events =
        rm_rpc_alloc_messages(ctx, &rustymem__v1__node_event__descriptor, v->n_events);
    if (!ev)
        goto oom;
    for (size_t i = 0; i < v->n_events; i++) {
        const fleet_event_t *e = &v->events[(v->ev_next + FLEET_EVENTS - v->n_events + i) % FLEET_EVENTS];
        ev[i]->timestamp_unix_ms = e->unix_ms;
        ev[i]->kind = rm_rpc_strdup(ctx, e->kind);
        ev[i]->status = rm_rpc_strdup(ctx, e->status);
        ev[i]->detail = rm_rpc_strdup(ctx, e->detail);
        if (!ev[i]->kind || !ev[i]->status || !ev[i]->detail)
            goto oom;
    }
    ni->n_events = v->n_events;
    free(v);
    return code;
oom:
    free(v);
    return OOM(ctx);
}

static grpc_status_code
list_nodes(rm_rpc_ctx_t *ctx, const ProtobufCMessage *req_, ProtobufCMessage *resp_)
{
    const Rustymem__V1__ListNodesRequest *req = (const void *)req_;
    Rustymem__V1__ListNodesResponse *resp = (void *)resp_;
    struct rm_fleet *f = rm_rpc_app(ctx);
    node_t **nodes = NULL;
    size_t n = 0;
    grpc_status_code code = select_nodes(ctx, f, req->selector, &nodes, &n);
    if (code != GRPC_STATUS_OK)
        return code;
    resp->nodes = rm_rpc_alloc_messages(ctx, &rustymem__v1__node_info__descriptor, n);
    if (!resp->nodes) {
        code = OOM(ctx);
        goto out;
    }
    for (size_t i = 0; i < n && code == GRPC_STATUS_OK; i++)
        code = fill_node(ctx, nodes[i], resp->nodes[i]);
    resp->n_nodes = n;
out:
    rm__fleet_release(f, nodes, n);
    return code;
}

static grpc_status_code
get_fleet_stats(rm_rpc_ctx_t *ctx, const ProtobufCMessage *req_, ProtobufCMessage *resp_)
{
    (void)req_;
    Rustymem__V1__FleetStats *resp = (void *)resp_;
    struct rm_fleet *f = rm_rpc_app(ctx);
    node_t **nodes = NULL;
    ssize_t k = rm__fleet_select(f, NULL, &nodes);
    if (k < 0)
        return OOM(ctx);
    uint32_t by_level[7] = {0}; /* 0..5 levels, 6 = unreachable */
    for (ssize_t i = 0; i < k; i++) {
        node_view_t *v = malloc(sizeof *v);
        if (!v) {
            rm__fleet_release(f, nodes, (size_t)k);
            return OOM(ctx);
        }
        rm__fleet_view(nodes[i], v);
        resp->nodes++;
        if (v->reachable) {
            resp->reachable_nodes++;
            resp->rss_bytes += v->rss_bytes;
            resp->budget_bytes += v->budget_bytes;
            by_level[v->level >= 0 && v->level <= 5 ? v->level : 0]++;
        } else {
            by_level[6]++;
        }
        free(v);
    }
    rm__fleet_release(f, nodes, (size_t)k);
    Rustymem__V1__FleetStats__NodesByLevelEntry **e = resp->nodes_by_level =
        rm_rpc_alloc_messages(ctx, &rustymem__v1__fleet_stats__nodes_by_level_entry__descriptor, 7);
    if (!e)
        return OOM(ctx);
    size_t m = 0;
    for (int l = 0; l < 7; l++) {
        if (!by_level[l])
            continue;
        e[m]->key = (char *)(l == 6 ? "UNREACHABLE" : rm_fleet_level_name(l));
        e[m]->value = by_level[l];
        m++;
    }
    resp->n_nodes_by_level = m;

    rm_fleet_poll_summary_t ps;
    if (rm_fleet_poll_summary(f, &ps) != RM_OK)
        return OOM(ctx);
    resp->poll_threads = (uint32_t)ps.poll_threads;
    resp->poll_interval_ms = (uint32_t)ps.poll_ms;
    resp->polls_total = ps.polls;
    resp->poll_failures_total = ps.poll_failures;
    resp->poll_latency_p50_ms = ps.latency_p50_ms;
    resp->poll_latency_p99_ms = ps.latency_p99_ms;
    resp->poll_lag_p99_ms = ps.lag_p99_ms;
    resp->staleness_p50_ms = ps.staleness_p50_ms;
    resp->staleness_p99_ms = ps.staleness_p99_ms;
    resp->staleness_max_ms = ps.staleness_max_ms;
    resp->fresh_nodes = (uint32_t)ps.fresh;
    const char *sk[4] = {"reachable", "unreachable", "backoff", "pending"};
    size_t sv[4] = {ps.reachable, ps.unreachable, ps.backoff, ps.pending};
    Rustymem__V1__FleetStats__NodesByStateEntry **se = resp->nodes_by_state =
        rm_rpc_alloc_messages(ctx, &rustymem__v1__fleet_stats__nodes_by_state_entry__descriptor, 4);
    if (!se)
        return OOM(ctx);
    for (int i = 0; i < 4; i++) {
        se[i]->key = (char *)sk[i];
        se[i]->value = (uint32_t)sv[i];
    }
    resp->n_nodes_by_state = 4;

    char leader[RM_FLEET_NAME_MAX];
    resp->may_act = rm_fleet_is_leader(f, leader, sizeof leader) != 0;
    if (f->ha && (!(resp->replica_id = rm_rpc_strdup(ctx, f->ha->id)) ||
                  !(resp->leader_id = rm_rpc_strdup(ctx, leader))))
        return OOM(ctx);
    return GRPC_STATUS_OK;
}

static grpc_status_code
get_fleet_forecast(rm_rpc_ctx_t *ctx, const ProtobufCMessage *req_, ProtobufCMessage *resp_)
{
    (void)req_;
    Rustymem__V1__FleetForecast *resp = (void *)resp_;
    struct rm_fleet *f = rm_rpc_app(ctx);
    node_t **nodes = NULL;
    ssize_t k = rm__fleet_select(f, NULL, &nodes);
    if (k < 0)
        return OOM(ctx);
    grpc_status_code code = GRPC_STATUS_OK;
    Rustymem__V1__NodeForecast **nf = resp->nodes =
        rm_rpc_alloc_messages(ctx, &rustymem__v1__node_forecast__descriptor, (size_t)k);
    if (!nf) {
        code = OOM(ctx);
        goto out;
    }
    for (ssize_t i = 0; i < k; i++) {
        node_view_t *v = malloc(sizeof *v);
        if (!v) {
            code = OOM(ctx);
            goto out;
        }
        rm__fleet_view(nodes[i], v);
        nf[i]->name = rm_rpc_strdup(ctx, nodes[i]->target.name);
        nf[i]->current_level = (Rustymem__V1__PressureLevel)v->level;
        nf[i]->predicted_level = (Rustymem__V1__PressureLevel)v->predicted_level;
        nf[i]->has_time_to_critical = v->has_ttc;
        nf[i]->time_to_critical_seconds = v->ttc_seconds;
        nf[i]->confidence = v->confidence;
        nf[i]->source = rm_rpc_strdup(ctx, v->level_source);
        nf[i]->reachable = v->reachable;
        free(v);
        if (!nf[i]->name || !nf[i]->source) {
            code = OOM(ctx);
            goto out;
        }
        resp->n_nodes = (size_t)i + 1;
    }
out:
    rm__fleet_release(f, nodes, (size_t)k);
    return code;
}

static grpc_status_code
to_steps(rm_rpc_ctx_t *ctx, const rm_fleet_result_t *r, Rustymem__V1__RolloutStep ***out, size_t *n_out)
{
    Rustymem__V1__RolloutStep **p =
        rm_rpc_alloc_messages(ctx, &rustymem__v1__rollout_step__descriptor, r->n_steps);
    if (!p)
        return OOM(ctx);
    for (size_t i = 0; i < r->n_steps; i++) {
        Rustymem__V1__RolloutStep *s = p[i];
        s->node = rm_rpc_strdup(ctx, r->steps[i].node);
        s->phase = rm_rpc_strdup(ctx, r->steps[i].phase);
        s->ok = r->steps[i].ok;
        s->detail = rm_rpc_strdup(ctx, r->steps[i].detail);
        s->status = rm_rpc_strdup(ctx, r->steps[i].status);
        if (!s->node || !s->phase || !s->detail || !s->status)
            return OOM(ctx);
    }
    *out = p;
    *n_out = r->n_steps;
    return GRPC_STATUS_OK;
}

static int
call_cancelled(void *ctx)
{
    return rm_rpc_cancelled(ctx);
}

/* A follower replica (ADR 0027): rollouts and triggers go to the leader. */
static grpc_status_code
not_leader(rm_rpc_ctx_t *ctx, struct rm_fleet *f)
{
    char leader[RM_FLEET_NAME_MAX];
    rm_fleet_is_leader(f, leader, sizeof leader);
    return rm_rpc_fail(ctx, GRPC_STATUS_FAILED_PRECONDITION,
                       "this replica is not the leader (leader: %s); rollouts and triggers run on the leader",
                       leader[0] ? leader : "none yet");
}

static grpc_status_code
apply_profile(rm_rpc_ctx_t *ctx, const ProtobufCMessage *req_, ProtobufCMessage *resp_)
{
    const Rustymem__V1__FleetApplyProfileRequest *req = (const void *)req_;
    Rustymem__V1__FleetApplyProfileResponse *resp = (void *)resp_;
    struct rm_fleet *f = rm_rpc_app(ctx);
    if (req->workload < 1 || req->workload > 3)
        return rm_rpc_fail(ctx, GRPC_STATUS_INVALID_ARGUMENT,
                           "workload = %d: expected WORKLOAD_OLTP, WORKLOAD_OLAP or WORKLOAD_MIXED", (int)req->workload);
    if (req->environment < 1 || req->environment > 3)
        return rm_rpc_fail(ctx, GRPC_STATUS_INVALID_ARGUMENT,
                           "environment = %d: expected ENVIRONMENT_DEVELOPMENT, ENVIRONMENT_PRODUCTION or "
                           "ENVIRONMENT_MISSION_CRITICAL",
                           (int)req->environment);
    if (req->canary_wait_seconds < 0 || req->canary_wait_seconds > 3600 || req->batch_wait_seconds < 0 ||
        req->batch_wait_seconds > 3600)
        return rm_rpc_fail(ctx, GRPC_STATUS_INVALID_ARGUMENT,
                           "canary_wait_seconds and batch_wait_seconds must be in 0..3600 (0 = controller default)");
    if (req->batch_size > RM_FLEET_MAX_TARGETS)
        return rm_rpc_fail(ctx, GRPC_STATUS_INVALID_ARGUMENT, "batch_size = %u: expected 0..%d (0 = controller default)",
                           req->batch_size, RM_FLEET_MAX_TARGETS);
    if ((int)req->max_level < 0 || (int)req->max_level > 5)
        return rm_rpc_fail(ctx, GRPC_STATUS_INVALID_ARGUMENT,
                           "max_level = %d: expected PRESSURE_LEVEL_MONITOR..PRESSURE_LEVEL_OOM_PREVENTION",
                           (int)req->max_level);
    rm_fleet_rollout_t ro = {
        .workload = req->workload,
        .environment = req->environment,
        .canary_wait_seconds = req->canary_wait_seconds,
        .batch_wait_seconds = req->batch_wait_seconds,
        .batch_size = req->batch_size,
        .max_level = (int)req->max_level,
        .cancelled = call_cancelled,
        .cancel_ctx = ctx,
    };
    grpc_status_code code = to_selector(ctx, req->selector, &ro.selector);
    if (code != GRPC_STATUS_OK)
        return code;
    rm_fleet_result_t r;
    rm_status_t st = rm_fleet_apply_profile(f, &ro, &r);
    switch (st) {
    case RM_OK: break;
    case RM_EBUSY: return rm_rpc_fail(ctx, GRPC_STATUS_ABORTED, "another rollout is in progress; retry when it ends");
    case RM_ENOENT: return rm_rpc_fail(ctx, GRPC_STATUS_NOT_FOUND, "selector matches no node");
    case RM_ESTATE: return not_leader(ctx, f);
    default: return rm_rpc_fail(ctx, rm_rpc_status_from_rm(st), "rollout: %s", rm_strerror(st));
    }
    resp->completed = r.completed;
    resp->rolled_back = r.rolled_back;
    resp->stopped_reason = rm_rpc_strdup(ctx, r.stopped_reason);
    code = resp->stopped_reason ? to_steps(ctx, &r, &resp->steps, &resp->n_steps) : OOM(ctx);
    if (code == GRPC_STATUS_OK && r.n_changed) {
        resp->changed_nodes = rm_rpc_alloc(ctx, r.n_changed * sizeof *resp->changed_nodes);
        if (!resp->changed_nodes)
            code = OOM(ctx);
        for (size_t i = 0; code == GRPC_STATUS_OK && i < r.n_changed; i++)
            if (!(resp->changed_nodes[i] = rm_rpc_strdup(ctx, r.changed[i])))
                code = OOM(ctx);
        if (code == GRPC_STATUS_OK)
            resp->n_changed_nodes = r.n_changed;
    }
    rm__fleet_log(f, "AUDIT", "%s ApplyProfile workload=%d environment=%d: %s%s peer=%s",
                  *rm_rpc_identity(ctx) ? rm_rpc_identity(ctx) : "-", (int)req->workload, (int)req->environment,
                  r.completed ? "completed" : "stopped: ", r.stopped_reason, rm_rpc_peer(ctx));
    rm_fleet_result_free(&r);
    return code;
}

static grpc_status_code
trigger_response(rm_rpc_ctx_t *ctx, const ProtobufCMessage *req_, ProtobufCMessage *resp_)
{
    const Rustymem__V1__FleetTriggerResponseRequest *req = (const void *)req_;
    Rustymem__V1__FleetTriggerResponseResponse *resp = (void *)resp_;
    struct rm_fleet *f = rm_rpc_app(ctx);
    if ((int)req->level < 2 || (int)req->level > 5)
        return rm_rpc_fail(ctx, GRPC_STATUS_INVALID_ARGUMENT,
                           "level = %d: expected PRESSURE_LEVEL_GENTLE..PRESSURE_LEVEL_OOM_PREVENTION",
                           (int)req->level);
    rm_fleet_selector_t sel;
    grpc_status_code code = to_selector(ctx, req->selector, &sel);
    if (code != GRPC_STATUS_OK)
        return code;
    rm_fleet_result_t r;
    rm_status_t st = rm_fleet_trigger_response(f, &sel, (int)req->level, &r);
    if (st == RM_ENOENT)
        return rm_rpc_fail(ctx, GRPC_STATUS_NOT_FOUND, "selector matches no node");
    if (st == RM_ESTATE)
        return not_leader(ctx, f);
    if (st != RM_OK)
        return rm_rpc_fail(ctx, rm_rpc_status_from_rm(st), "trigger: %s", rm_strerror(st));
    rm__fleet_log(f, "AUDIT", "%s TriggerResponse level=%s on %zu nodes peer=%s",
                  *rm_rpc_identity(ctx) ? rm_rpc_identity(ctx) : "-", rm_fleet_level_name((int)req->level),
                  r.n_steps, rm_rpc_peer(ctx));
    code = to_steps(ctx, &r, &resp->results, &resp->n_results);
    rm_fleet_result_free(&r);
    return code;
}

static const rm_rpc_method_t fleet_methods[] = {
    RM_RPC_UNARY_METHOD(FS "ListNodes", rustymem__v1__list_nodes_request__descriptor,
                        rustymem__v1__list_nodes_response__descriptor, RM_ROLE_READER, list_nodes),
    RM_RPC_UNARY_METHOD(FS "GetFleetStats", rustymem__v1__get_fleet_stats_request__descriptor,
                        rustymem__v1__fleet_stats__descriptor, RM_ROLE_READER, get_fleet_stats),
    RM_RPC_UNARY_METHOD(FS "GetFleetForecast", rustymem__v1__get_fleet_forecast_request__descriptor,
                        rustymem__v1__fleet_forecast__descriptor, RM_ROLE_READER, get_fleet_forecast),
    RM_RPC_UNARY_WAITING_METHOD(FS "ApplyProfile", rustymem__v1__fleet_apply_profile_request__descriptor,
                                rustymem__v1__fleet_apply_profile_response__descriptor, RM_ROLE_ADMIN, apply_profile),
    RM_RPC_UNARY_WAITING_METHOD(FS "TriggerResponse", rustymem__v1__fleet_trigger_response_request__descriptor,
                                rustymem__v1__fleet_trigger_response_response__descriptor, RM_ROLE_ADMIN, trigger_response),
};

const rm_rpc_service_t rm_fleet_service = RM_RPC_SERVICE("rustymem.v1.FleetService", fleet_methods);
