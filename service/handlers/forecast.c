/*
 * forecast.c — rustymem.v1.ForecastService over the pressure
 * monitor (memcore/include/rustymem/pressure.h): the forecast per horizon,
 * the pressure-event log (list and stream) and the active alerts.
 * Seed REST: /api/v1/stats/memory/forecast.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "host.h"
#include "rm_clock.h"
#include "rpc_internal.h"
#include "rustymem/v1/forecast.pb-c.h"

#define EVENTS_DEFAULT_LIMIT 100
#define EVENTS_MAX_LIMIT 1000

/* memcore levels are 0..4; the API's are 1..5 (0 = unspecified). */
static Rustymem__V1__PressureLevel
api_level(rm_pressure_level_t l)
{
    return (Rustymem__V1__PressureLevel)((int)l + 1);
}

#define NEED_PRESSURE(ctx, p)                                                                       \
    rm_host_t *host_ = rm_host_of(ctx);                                                             \
    rm_pressure_t *p = host_ ? host_->pressure : NULL;                                              \
    if (!p)                                                                                         \
        return rm_host_unimplemented(ctx, "this server hosts no pressure monitor");

static grpc_status_code
get_forecast(rm_rpc_ctx_t *ctx, const ProtobufCMessage *req, ProtobufCMessage *resp_)
{
    Rustymem__V1__Forecast *r = (void *)resp_;
    NEED_PRESSURE(ctx, p);
    /* the published snapshot (ADR 0025): a copy, no lock; ~2 KiB, so in scratch memory */
    rm_pressure_snapshot_t *sn = rm_rpc_alloc(ctx, sizeof *sn);
    if (!sn)
        return rm_rpc_fail(ctx, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
    if (rm_pressure_snapshot(p, sn) != RM_OK) {
        /* nothing published yet: the monitor's (empty) state, as before the first sample */
        rm_pressure_get_forecast(p, &sn->fc);
        rm_pressure_get_stats(p, &sn->st);
    }
    const rm_pressure_forecast_t fc = sn->fc;
    const rm_pressure_stats_t ps = sn->st;
    r->used_bytes = fc.used_bytes;
    r->budget_bytes = fc.budget_bytes;
    r->usage_ratio = fc.usage;
    r->current_level = api_level(fc.current_level);
    r->horizons = rm_rpc_alloc_messages(ctx, &rustymem__v1__horizon_forecast__descriptor, fc.n_horizons);
    if (!r->horizons)
        return rm_rpc_fail(ctx, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
    for (uint32_t i = 0; i < fc.n_horizons && fc.samples > 0; i++) {
        Rustymem__V1__HorizonForecast *h = r->horizons[r->n_horizons++];
        h->horizon_seconds = fc.horizons[i].horizon_sec;
        h->predicted_used_bytes = fc.horizons[i].predicted_bytes;
        h->predicted_usage_ratio = fc.horizons[i].predicted_usage;
        h->confidence = fc.horizons[i].confidence;
        h->predicted_level = api_level(fc.horizons[i].predicted_level);
    }
    r->has_time_to_critical = fc.samples > 0 && fc.time_to_critical_sec >= 0;
    r->time_to_critical_seconds = r->has_time_to_critical ? fc.time_to_critical_sec : 0;
    r->time_to_critical_confidence = fc.time_to_critical_confidence;
    r->recommended_level = api_level(fc.recommended_action);
    r->recommended_action = (char *)rm_pressure_action_name(fc.recommended_action);
    r->model = (char *)rm_forecast_model_name(fc.model);
    r->samples = fc.samples;
    r->responder_level = api_level(fc.level);
    r->trigger = (char *)rm_pressure_trigger_name(fc.trigger);
    r->warning = fc.warning;
    r->warning_horizon_seconds = fc.warning_horizon_sec;
    r->warning_view = rm_rpc_strdup(ctx, fc.warning_view ? fc.warning_view : "");
    r->slope_per_second_ratio = fc.slope_per_sec;
    /* the sample's own sources, not the stats': they name the figures above
     * even when a later tick was dropped (ADR 0013) */
    r->usage_source = (char *)(fc.t_ns && fc.sample.usage_source ? fc.sample.usage_source : "none");
    r->budget_source = (char *)(fc.t_ns && fc.sample.budget_source ? fc.sample.budget_source : "none");
    r->sampled_at_unix_ms = !fc.t_ns ? 0 : fc.sample.t_unix_ns ? (int64_t)(fc.sample.t_unix_ns / 1000000u)
                                                               : rm_unix_ms_of_mono(fc.t_ns);
    struct timespec m;
    clock_gettime(CLOCK_MONOTONIC, &m);
    uint64_t now = (uint64_t)m.tv_sec * 1000000000ull + (uint64_t)m.tv_nsec;
    r->sample_age_ms = fc.t_ns && now > fc.t_ns ? (now - fc.t_ns) / 1000000u : 0;
    r->level_changes_total = ps.level_changes;
    r->escalations_last_hour = ps.escalations_last_hour;
    r->escalations_total = ps.escalations;
    r->alloc_failures_total = ps.alloc_failures;
    r->reclaim_calls_total = ps.reclaim_calls;
    r->bytes_reclaimed_total = ps.bytes_reclaimed;
    return GRPC_STATUS_OK;
}

/* Fill one API event from a memcore event (strings in scratch memory). */
static Rustymem__V1__PressureEvent *
api_event(rm_rpc_ctx_t *ctx, const rm_pressure_event_t *ev)
{
    Rustymem__V1__PressureEvent *e = rm_rpc_alloc(ctx, sizeof *e);
    if (!e)
        return NULL;
    rustymem__v1__pressure_event__init(e);
    e->id = ev->seq;
    e->timestamp_unix_ms = rm_unix_ms_of_mono(ev->t_ns);
    /* level change: old → new; reclaim: the responder's level → the level it ran at (they differ
     * for a manual trigger at another level); others: the level in force */
    e->from_level = api_level(ev->kind == RM_EVENT_LEVEL_CHANGE || ev->kind == RM_EVENT_RECLAIM ? ev->prev_level
                                                                                               : ev->level);
    e->to_level = api_level(ev->level);
    e->trigger = (char *)rm_pressure_trigger_name(ev->trigger);
    e->kind = (char *)rm_pressure_event_kind_name(ev->kind);
    e->bytes_reclaimed = ev->bytes_reclaimed;
    e->target_bytes = ev->target_bytes;
    e->usage_ratio = ev->usage;
    e->predicted_usage_ratio = ev->predicted_usage;
    e->horizon_seconds = ev->horizon_sec;
    char detail[256];
    switch (ev->kind) {
    case RM_EVENT_LEVEL_CHANGE:
        snprintf(detail, sizeof detail, "%s -> %s (%s%s)", rm_pressure_level_name(ev->prev_level),
                 rm_pressure_level_name(ev->level), rm_pressure_trigger_name(ev->trigger),
                 ev->horizon_sec ? ", forecast horizon" : "");
        break;
    case RM_EVENT_RECLAIM:
        if (ev->trigger == RM_TRIGGER_MANUAL)
            snprintf(detail, sizeof detail, "%s freed %llu of %llu B (manual %s response at level %s)", ev->name,
                     (unsigned long long)ev->bytes_reclaimed, (unsigned long long)ev->target_bytes,
                     rm_pressure_level_name(ev->level), rm_pressure_level_name(ev->prev_level));
        else
            snprintf(detail, sizeof detail, "%s freed %llu of %llu B", ev->name,
                     (unsigned long long)ev->bytes_reclaimed, (unsigned long long)ev->target_bytes);
        break;
    default:
        snprintf(detail, sizeof detail, "%s%s%s", rm_pressure_event_kind_name(ev->kind), ev->name[0] ? ": " : "",
                 ev->name);
        break;
    }
    e->detail = rm_rpc_strdup(ctx, detail);
    if (ev->name[0]) {
        e->actions = rm_rpc_alloc(ctx, sizeof *e->actions);
        if (!e->actions)
            return NULL;
        e->actions[0] = rm_rpc_strdup(ctx, ev->name);
        e->n_actions = 1;
    }
    return e;
}

static grpc_status_code
list_events(rm_rpc_ctx_t *ctx, const ProtobufCMessage *req_, ProtobufCMessage *resp_)
{
    const Rustymem__V1__ListPressureEventsRequest *req = (const void *)req_;
    Rustymem__V1__ListPressureEventsResponse *r = (void *)resp_;
    NEED_PRESSURE(ctx, p);
    uint32_t limit = req->limit ? req->limit : EVENTS_DEFAULT_LIMIT;
    if (limit > EVENTS_MAX_LIMIT)
        return rm_rpc_fail(ctx, GRPC_STATUS_INVALID_ARGUMENT, "limit = %u is out of range: allowed 0 (= %d) or 1..%d",
                           req->limit, EVENTS_DEFAULT_LIMIT, EVENTS_MAX_LIMIT);
    rm_pressure_event_t *evs = rm_rpc_alloc(ctx, limit * sizeof *evs);
    r->events = rm_rpc_alloc(ctx, limit * sizeof *r->events);
    if (!evs || !r->events)
        return rm_rpc_fail(ctx, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
    uint64_t cursor = req->after_id + 1;
    size_t n = 0;
    rm_pressure_events_read(p, &cursor, evs, limit, &n, NULL);
    for (size_t i = 0; i < n; i++) {
        r->events[i] = api_event(ctx, &evs[i]);
        if (!r->events[i])
            return rm_rpc_fail(ctx, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
    }
    r->n_events = n;
    return GRPC_STATUS_OK;
}

static grpc_status_code
list_alerts(rm_rpc_ctx_t *ctx, const ProtobufCMessage *req, ProtobufCMessage *resp_)
{
    Rustymem__V1__ListAlertsResponse *r = (void *)resp_;
    NEED_PRESSURE(ctx, p);
    rm_pressure_alert_t al[RM_ALERT_KINDS * 8];
    size_t n = 0;
    rm_pressure_alerts_list(p, al, sizeof al / sizeof al[0], &n);
    if (n > sizeof al / sizeof al[0])
        n = sizeof al / sizeof al[0];
    r->alerts = rm_rpc_alloc_messages(ctx, &rustymem__v1__alert__descriptor, n);
    if (!r->alerts)
        return rm_rpc_fail(ctx, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
    for (size_t i = 0; i < n; i++) {
        Rustymem__V1__Alert *a = r->alerts[r->n_alerts++];
        a->name = rm_rpc_strdup(ctx, rm_pressure_alert_name(&al[i]));
        a->severity = (char *)rm_alert_severity_name(al[i].severity);
        a->message = rm_rpc_strdup(ctx, al[i].message);
        a->value = al[i].value;
        a->threshold = al[i].threshold;
        a->since_unix_ms = rm_unix_ms_of_mono(al[i].since_ns);
        a->subject = rm_rpc_strdup(ctx, al[i].subject);
    }
    return GRPC_STATUS_OK;
}

static grpc_status_code
watch_pressure(rm_rpc_ctx_t *ctx, const ProtobufCMessage *req_)
{
    const Rustymem__V1__WatchPressureRequest *req = (const void *)req_;
    NEED_PRESSURE(ctx, p);
    uint64_t cursor = req->after_id ? req->after_id + 1 : rm_pressure_events_head(p);
    while (!rm_rpc_cancelled(ctx)) {
        rm_pressure_event_t evs[32];
        size_t n = 0;
        rm_pressure_events_read(p, &cursor, evs, 32, &n, NULL);
        for (size_t i = 0; i < n; i++) {
            rm__rpc_ctx_release(ctx);
            Rustymem__V1__PressureEvent *e = api_event(ctx, &evs[i]);
            if (!e)
                return rm_rpc_fail(ctx, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
            if (rm_rpc_stream_send(ctx, &e->base) < 0)
                goto out;
        }
        if (n == 0)
            (void)rm_pressure_events_wait(p, cursor, 200);
    }
out:
    rm__rpc_ctx_release(ctx);
    if (rm_rpc_shutting_down(ctx))
        return rm_rpc_fail(ctx, GRPC_STATUS_UNAVAILABLE, "rustymemd is shutting down");
    return rm_rpc_fail(ctx, GRPC_STATUS_CANCELLED, "pressure stream cancelled");
}

#define FS "/rustymem.v1.ForecastService/"
static const rm_rpc_method_t forecast_methods[] = {
    RM_RPC_UNARY_METHOD(FS "GetForecast", rustymem__v1__get_forecast_request__descriptor,
                        rustymem__v1__forecast__descriptor, RM_ROLE_READER, get_forecast),
    RM_RPC_UNARY_METHOD(FS "ListPressureEvents", rustymem__v1__list_pressure_events_request__descriptor,
                        rustymem__v1__list_pressure_events_response__descriptor, RM_ROLE_READER, list_events),
    RM_RPC_UNARY_METHOD(FS "ListAlerts", rustymem__v1__list_alerts_request__descriptor,
                        rustymem__v1__list_alerts_response__descriptor, RM_ROLE_READER, list_alerts),
    RM_RPC_STREAM_METHOD(FS "WatchPressure", rustymem__v1__watch_pressure_request__descriptor,
                         rustymem__v1__pressure_event__descriptor, RM_ROLE_READER, watch_pressure),
};
#undef FS

const rm_rpc_service_t rm_forecast_service = RM_RPC_SERVICE("rustymem.v1.ForecastService", forecast_methods);
