/*
 * fleet.c — the controller core: the node set, one poller thread per node,
 * the discovery thread, and the early-response policy.
 *
 * Design note: a poll is Health, then MemoryStats, then the level — from the
 * agent's ForecastService when it answers, otherwise derived from usage_ratio
 * against the agent's own pressure.* knobs (TuningService.GetKnobs, re-read on
 * every poll so threshold changes show at once). Every call has the per-call
 * deadline of the node's channel, and nothing is locked while a call runs, so
 * the view stays readable and a dead node costs only its own thread. After a
 * failed poll the next one waits poll_ms × 2^(failures-1), capped at
 * backoff_max_ms; one success resets it. gRPC's channel keeps its own
 * reconnect backoff underneath; ours bounds the load a dead fleet puts on the
 * controller. Key statistics are copied generically from every numeric field
 * of MemoryStats (via the protobuf-c descriptors), so fields added to the API
 * appear in the fleet view without code here.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "fleet_internal.h"
#include "grpc/health/v1/health.pb-c.h"
#include "rustymem/v1/emergency.pb-c.h"
#include "rustymem/v1/forecast.pb-c.h"
#include "rustymem/v1/memory.pb-c.h"
#include "rustymem/v1/tuning.pb-c.h"

/* ---- small helpers --------------------------------------------------------- */

void
rm__fleet_log(struct rm_fleet *f, const char *level, const char *fmt, ...)
{
    if (!f->o.log)
        return;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    f->o.log(f->o.log_ctx, level, msg);
}

void
rm__fleet_fmt(char *dst, size_t cap, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(dst, cap, fmt, ap);
    va_end(ap);
}

int64_t
rm__fleet_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
deadline_after(struct timespec *ts, int64_t ms)
{
    clock_gettime(CLOCK_MONOTONIC, ts);
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (ms % 1000) * 1000000;
    if (ts->tv_nsec >= 1000000000) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000;
    }
}

static void
cond_init_mono(pthread_cond_t *cv)
{
    pthread_condattr_t a;
    pthread_condattr_init(&a);
    pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
    pthread_cond_init(cv, &a);
    pthread_condattr_destroy(&a);
}

static void
event_locked(node_t *n, const char *kind, const char *status, const char *detail)
{
    fleet_event_t *e = &n->view.events[n->view.ev_next];
    e->unix_ms = rm__fleet_now_ms();
    rm__fleet_copy(e->kind, sizeof e->kind, kind);
    rm__fleet_copy(e->status, sizeof e->status, status);
    rm__fleet_copy(e->detail, sizeof e->detail, detail);
    n->view.ev_next = (n->view.ev_next + 1) % FLEET_EVENTS;
    if (n->view.n_events < FLEET_EVENTS)
        n->view.n_events++;
}

void
rm__fleet_event(node_t *n, const char *kind, const char *status, const char *fmt, ...)
{
    char detail[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    pthread_mutex_lock(&n->mu);
    event_locked(n, kind, status, detail);
    pthread_mutex_unlock(&n->mu);
}

void
rm__fleet_view(node_t *n, node_view_t *out)
{
    pthread_mutex_lock(&n->mu);
    *out = n->view;
    pthread_mutex_unlock(&n->mu);
}

/* ---- generic key statistics -------------------------------------------------- */

typedef struct stats_acc {
    size_t n;
    char key[FLEET_STATS_MAX][64];
    double val[FLEET_STATS_MAX];
} stats_acc_t;

static int
scalar_value(const ProtobufCFieldDescriptor *fd, const void *p, double *out)
{
    switch (fd->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
    case PROTOBUF_C_TYPE_ENUM: *out = *(const int32_t *)p; return 1;
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32: *out = *(const uint32_t *)p; return 1;
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64: *out = (double)*(const int64_t *)p; return 1;
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64: *out = (double)*(const uint64_t *)p; return 1;
    case PROTOBUF_C_TYPE_FLOAT: *out = *(const float *)p; return 1;
    case PROTOBUF_C_TYPE_DOUBLE: *out = *(const double *)p; return 1;
    case PROTOBUF_C_TYPE_BOOL: *out = *(const protobuf_c_boolean *)p ? 1 : 0; return 1;
    default: return 0;
    }
}

static void
stats_add(stats_acc_t *acc, const char *prefix, const char *name, double v)
{
    if (acc->n == FLEET_STATS_MAX)
        return;
    rm__fleet_fmt(acc->key[acc->n], sizeof acc->key[0], "%s%s", prefix, name);
    acc->val[acc->n++] = v;
}

/* The first string field of a message, used to key repeated entries. */
static const char *
first_string(const ProtobufCMessage *m)
{
    for (unsigned i = 0; i < m->descriptor->n_fields; i++) {
        const ProtobufCFieldDescriptor *fd = &m->descriptor->fields[i];
        if (fd->type == PROTOBUF_C_TYPE_STRING && fd->label != PROTOBUF_C_LABEL_REPEATED) {
            const char *s = *(char *const *)((const char *)m + fd->offset);
            return s && *s ? s : NULL;
        }
    }
    return NULL;
}

static void
flatten(stats_acc_t *acc, const ProtobufCMessage *m, const char *prefix, int depth)
{
    if (!m || depth > 3)
        return;
    for (unsigned i = 0; i < m->descriptor->n_fields; i++) {
        const ProtobufCFieldDescriptor *fd = &m->descriptor->fields[i];
        const char *p = (const char *)m + fd->offset;
        double v;
        char sub[64];
        if (fd->label == PROTOBUF_C_LABEL_REPEATED) {
            if (fd->type != PROTOBUF_C_TYPE_MESSAGE)
                continue;
            size_t cnt = *(const size_t *)((const char *)m + fd->quantifier_offset);
            ProtobufCMessage *const *arr = *(ProtobufCMessage *const *const *)p;
            for (size_t j = 0; j < cnt; j++) {
                const char *key = first_string(arr[j]);
                if (!key)
                    continue;
                rm__fleet_fmt(sub, sizeof sub, "%s%s.%s.", prefix, fd->name, key);
                flatten(acc, arr[j], sub, depth + 1);
            }
        } else if (fd->type == PROTOBUF_C_TYPE_MESSAGE) {
            rm__fleet_fmt(sub, sizeof sub, "%s%s.", prefix, fd->name);
            flatten(acc, *(ProtobufCMessage *const *)p, sub, depth + 1);
        } else if (scalar_value(fd, p, &v)) {
            stats_add(acc, prefix, fd->name, v);
        }
    }
}

/* ---- one poll ------------------------------------------------------------------ */

#define HEALTH_CHECK "/grpc.health.v1.Health/Check"
#define GET_MEMORY_STATS "/rustymem.v1.MemoryService/GetMemoryStats"
#define GET_FORECAST "/rustymem.v1.ForecastService/GetForecast"
#define GET_KNOBS "/rustymem.v1.TuningService/GetKnobs"
#define TRIGGER_RESPONSE "/rustymem.v1.EmergencyService/TriggerResponse"

static const char *const threshold_knobs[4] = {"pressure.warning_threshold", "pressure.high_pressure_threshold",
                                               "pressure.critical_threshold", "pressure.emergency_threshold"};

/* Read the agent's pressure thresholds; defaults (and 0) when it cannot say. */
static int
read_thresholds(rm_client_t *c, rm_fleet_thresholds_t *t, rm_call_status_t *st)
{
    *t = rm_fleet_default_thresholds();
    Rustymem__V1__GetKnobsRequest req = RUSTYMEM__V1__GET_KNOBS_REQUEST__INIT;
    req.names = (char **)threshold_knobs;
    req.n_names = 4;
    ProtobufCMessage *resp = NULL;
    if (rm_client_unary(c, GET_KNOBS, &req.base, &rustymem__v1__get_knobs_response__descriptor, &resp, st) !=
        GRPC_STATUS_OK)
        return 0;
    const Rustymem__V1__GetKnobsResponse *r = (const void *)resp;
    double *slots[4] = {&t->warning, &t->high, &t->critical, &t->emergency};
    for (size_t i = 0; i < r->n_knobs; i++)
        for (int j = 0; j < 4; j++)
            if (r->knobs[i]->name && strcmp(r->knobs[i]->name, threshold_knobs[j]) == 0 && r->knobs[i]->value)
                *slots[j] = strtod(r->knobs[i]->value, NULL);
    protobuf_c_message_free_unpacked(resp, NULL);
    return 1;
}

static void
early_response(struct rm_fleet *f, node_t *n)
{
    node_view_t v;
    rm__fleet_view(n, &v);
    if (!v.reachable || f->o.no_early_response || !rm__fleet_may_act(f)) /* only the leader triggers (ADR 0027) */
        return;
    char why[256];
    int act = rm_fleet_policy_decide(&v.pressure, f->o.trigger_level, f->o.trigger_confidence,
                                     f->o.trigger_ttc_seconds, why, sizeof why);
    if (!act)
        return;
    int64_t now = rm__fleet_now_ms();
    if (v.last_trigger_ms && now - v.last_trigger_ms < f->o.trigger_cooldown_ms && act <= v.last_trigger_level)
        return;
    Rustymem__V1__TriggerResponseRequest req = RUSTYMEM__V1__TRIGGER_RESPONSE_REQUEST__INIT;
    req.level = (Rustymem__V1__PressureLevel)act;
    ProtobufCMessage *resp = NULL;
    rm_call_status_t st;
    grpc_status_code code = rm_client_unary(n->client, TRIGGER_RESPONSE, &req.base,
                                            &rustymem__v1__action_result__descriptor, &resp, &st);
    char detail[256];
    if (code == GRPC_STATUS_OK) {
        const Rustymem__V1__ActionResult *ar = (const void *)resp;
        rm__fleet_fmt(detail, sizeof detail, "TriggerResponse(%s): %s; %s", rm_fleet_level_name(act), why,
                 ar->summary && *ar->summary ? ar->summary : "done");
        protobuf_c_message_free_unpacked(resp, NULL);
    } else {
        rm__fleet_fmt(detail, sizeof detail, "TriggerResponse(%s): %s; %s", rm_fleet_level_name(act), why, st.message);
    }
    pthread_mutex_lock(&n->mu);
    n->view.last_trigger_ms = now;
    n->view.last_trigger_level = act;
    rm__fleet_copy(n->view.cap_emergency, sizeof n->view.cap_emergency,
                   code == GRPC_STATUS_OK ? "available"
                   : code == GRPC_STATUS_UNIMPLEMENTED ? "unimplemented"
                                                        : "unknown");
    event_locked(n, "early_response", rm_client_status_name(code), detail);
    pthread_mutex_unlock(&n->mu);
    rm__fleet_log(f, code == GRPC_STATUS_OK ? "INFO" : "WARN", "node %s: early response %s: %s",
                  n->target.name, rm_client_status_name(code), detail);
}

void
rm__fleet_poll(struct rm_fleet *f, node_t *n, int run_policy)
{
    rm_call_status_t st;
    char err[FLEET_ERR_MAX] = "";
    ProtobufCMessage *resp = NULL;

    /* 1. Health: answers at all = reachable. */
    Grpc__Health__V1__HealthCheckRequest hreq = GRPC__HEALTH__V1__HEALTH_CHECK_REQUEST__INIT;
    hreq.service = (char *)"";
    grpc_status_code code = rm_client_unary(n->client, HEALTH_CHECK, &hreq.base,
                                            &grpc__health__v1__health_check_response__descriptor, &resp, &st);
    if (code != GRPC_STATUS_OK) {
        pthread_mutex_lock(&n->mu);
        int was = n->view.reachable || !n->view.polled;
        n->view.polled = 1;
        n->view.reachable = 0;
        n->view.serving = 0;
        n->view.failures++;
        rm__fleet_fmt(n->view.last_error, sizeof n->view.last_error, "Health: %s: %s", rm_client_status_name(code),
                 st.message);
        if (was)
            event_locked(n, "unreachable", rm_client_status_name(code), n->view.last_error);
        pthread_mutex_unlock(&n->mu);
        if (was)
            rm__fleet_log(f, "WARN", "node %s (%s) unreachable: %s", n->target.name, n->target.address, st.message);
        return;
    }
    int serving = ((Grpc__Health__V1__HealthCheckResponse *)resp)->status ==
                  GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING;
    protobuf_c_message_free_unpacked(resp, NULL);
    if (!serving)
        rm__fleet_fmt(err, sizeof err, "Health: NOT_SERVING");

    /* 2. Memory statistics. */
    static stats_acc_t acc_zero;
    stats_acc_t *acc = malloc(sizeof *acc);
    if (acc)
        *acc = acc_zero;
    double usage = 0;
    uint64_t rss = 0, budget = 0, used = 0;
    int64_t sampled_at = 0;
    char agent_name[RM_FLEET_NAME_MAX] = "", version[64] = "", usage_src[16] = "", budget_src[16] = "";
    int have_stats = 0;
    rm_fleet_label_t alabels[RM_FLEET_MAX_LABELS];
    size_t n_alabels = 0;
    Rustymem__V1__GetMemoryStatsRequest mreq = RUSTYMEM__V1__GET_MEMORY_STATS_REQUEST__INIT;
    code = rm_client_unary(n->client, GET_MEMORY_STATS, &mreq.base, &rustymem__v1__memory_stats__descriptor, &resp,
                           &st);
    if (code == GRPC_STATUS_OK) {
        const Rustymem__V1__MemoryStats *ms = (const void *)resp;
        have_stats = 1;
        usage = ms->usage_ratio;   /* the pressure measure, = Forecast.usage_ratio (ADR 0013) */
        rss = ms->rss_bytes;
        budget = ms->budget_bytes;
        used = ms->used_bytes;
        sampled_at = ms->sampled_at_unix_ms;
        rm__fleet_copy(usage_src, sizeof usage_src, ms->usage_source ? ms->usage_source : "");
        rm__fleet_copy(budget_src, sizeof budget_src, ms->budget_source ? ms->budget_source : "");
        if (ms->node_name)
            rm__fleet_copy(agent_name, sizeof agent_name, ms->node_name);
        if (ms->version)
            rm__fleet_copy(version, sizeof version, ms->version);
        for (size_t i = 0; i < ms->n_labels && n_alabels < RM_FLEET_MAX_LABELS; i++) { /* agent labels, ADR 0027 */
            rm__fleet_copy(alabels[n_alabels].key, sizeof alabels[n_alabels].key, ms->labels[i]->key);
            rm__fleet_copy(alabels[n_alabels].value, sizeof alabels[n_alabels].value, ms->labels[i]->value);
            n_alabels++;
        }
        if (acc)
            flatten(acc, resp, "", 0);
        protobuf_c_message_free_unpacked(resp, NULL);
    } else if (!*err) {
        rm__fleet_fmt(err, sizeof err, "GetMemoryStats: %s: %s", rm_client_status_name(code), st.message);
    }

    /* 3. Level: the agent's forecast, else derived from usage_ratio. */
    rm_fleet_pressure_t pr = {0};
    int level = 0, predicted = 0, has_ttc = 0;
    double conf = 0, ttc = 0;
    const char *source = "usage_ratio", *cap_forecast = "unknown";
    Rustymem__V1__GetForecastRequest freq = RUSTYMEM__V1__GET_FORECAST_REQUEST__INIT;
    code = rm_client_unary(n->client, GET_FORECAST, &freq.base, &rustymem__v1__forecast__descriptor, &resp, &st);
    if (code == GRPC_STATUS_OK) {
        const Rustymem__V1__Forecast *fc = (const void *)resp;
        source = "forecast";
        cap_forecast = "available";
        level = fc->current_level;
        predicted = level;
        conf = 1.0;
        if (!have_stats) {
            usage = fc->usage_ratio;
            budget = fc->budget_bytes;
            used = fc->used_bytes;
            sampled_at = fc->sampled_at_unix_ms;
            rm__fleet_copy(usage_src, sizeof usage_src, fc->usage_source ? fc->usage_source : "");
            rm__fleet_copy(budget_src, sizeof budget_src, fc->budget_source ? fc->budget_source : "");
        }
        pr.level = level;
        double best_conf = 0;
        for (size_t i = 0; i < fc->n_horizons; i++) {
            const Rustymem__V1__HorizonForecast *h = fc->horizons[i];
            if (pr.n_horizons < 8) {
                pr.horizons[pr.n_horizons].horizon_seconds = h->horizon_seconds;
                pr.horizons[pr.n_horizons].predicted_level = h->predicted_level;
                pr.horizons[pr.n_horizons].confidence = h->confidence;
                pr.n_horizons++;
            }
            if (h->confidence > best_conf)
                best_conf = h->confidence;
            if (h->confidence >= f->o.trigger_confidence && (int)h->predicted_level > predicted) {
                predicted = h->predicted_level;
                conf = h->confidence;
            }
        }
        has_ttc = fc->has_time_to_critical;
        ttc = fc->time_to_critical_seconds;
        pr.has_ttc = has_ttc;
        pr.ttc_seconds = ttc;
        pr.ttc_confidence = best_conf;
        protobuf_c_message_free_unpacked(resp, NULL);
    } else {
        if (code == GRPC_STATUS_UNIMPLEMENTED)
            cap_forecast = "unimplemented";
        else if (!*err)
            rm__fleet_fmt(err, sizeof err, "GetForecast: %s: %s", rm_client_status_name(code), st.message);
        rm_fleet_thresholds_t t;
        if (!read_thresholds(n->client, &t, &st) && !*err)
            rm__fleet_fmt(err, sizeof err, "GetKnobs: %s (using the default thresholds)", st.message);
        if (have_stats || code != GRPC_STATUS_UNIMPLEMENTED) {
            level = have_stats ? rm_fleet_level_from_ratio(usage, &t) : 0;
            predicted = level;
            conf = have_stats ? 1.0 : 0;
            if (have_stats && usage >= t.critical) {
                has_ttc = 1;
                ttc = 0;
            }
        }
        pr.level = level;
        pr.has_ttc = has_ttc;
        pr.ttc_seconds = ttc;
        pr.ttc_confidence = conf;
    }

    pthread_mutex_lock(&n->mu);
    int was_unreachable = n->view.polled && !n->view.reachable;
    node_view_t *v = &n->view;
    v->polled = 1;
    v->reachable = 1;
    v->serving = serving;
    v->failures = 0;
    v->level = level;
    v->predicted_level = predicted;
    v->confidence = conf;
    rm__fleet_copy(v->level_source, sizeof v->level_source, level ? source : "");
    v->usage_ratio = usage;
    v->used_bytes = used;
    v->sampled_at_ms = sampled_at;
    rm__fleet_copy(v->usage_source, sizeof v->usage_source, usage_src);
    rm__fleet_copy(v->budget_source, sizeof v->budget_source, budget_src);
    v->has_ttc = has_ttc;
    v->ttc_seconds = ttc;
    if (have_stats) {
        v->rss_bytes = rss;
        v->budget_bytes = budget;
        rm__fleet_copy(v->agent_name, sizeof v->agent_name, agent_name);
        rm__fleet_copy(v->version, sizeof v->version, version);
        v->n_agent_labels = n_alabels;
        memcpy(v->agent_labels, alabels, n_alabels * sizeof *alabels);
        if (acc) {
            v->n_stats = acc->n;
            memcpy(v->stat_key, acc->key, sizeof acc->key);
            memcpy(v->stat_val, acc->val, sizeof acc->val);
        }
    }
    v->last_contact_ms = rm__fleet_now_ms();
    rm__fleet_copy(v->last_error, sizeof v->last_error, err);
    rm__fleet_copy(v->cap_forecast, sizeof v->cap_forecast, cap_forecast);
    if (!v->cap_emergency[0])
        rm__fleet_copy(v->cap_emergency, sizeof v->cap_emergency, "unknown");
    v->pressure = pr;
    if (was_unreachable)
        event_locked(n, "reachable", "OK", "answering again");
    pthread_mutex_unlock(&n->mu);
    free(acc);
    if (was_unreachable)
        rm__fleet_log(f, "INFO", "node %s (%s) reachable again", n->target.name, n->target.address);

    if (run_policy)
        early_response(f, n);
}

/* ---- nodes and pollers ---------------------------------------------------------- */

static void *
poller_main(void *arg)
{
    node_t *n = arg;
    struct rm_fleet *f = n->fleet;
    for (;;) {
        pthread_mutex_lock(&n->mu);
        int stop = n->stop;
        pthread_mutex_unlock(&n->mu);
        if (stop)
            break;
        rm__fleet_poll(f, n, 1);
        pthread_mutex_lock(&n->mu);
        int64_t wait = f->o.poll_ms;
        for (unsigned i = 1; i < n->view.failures && wait < f->o.backoff_max_ms; i++)
            wait *= 2;
        if (wait > f->o.backoff_max_ms)
            wait = f->o.backoff_max_ms;
        n->view.next_poll_ms = wait;
        struct timespec dl;
        deadline_after(&dl, wait);
        while (!n->stop && pthread_cond_timedwait(&n->cv, &n->mu, &dl) != ETIMEDOUT)
            ;
        pthread_mutex_unlock(&n->mu);
    }
    return NULL;
}

static void
node_free(node_t *n)
{
    rm_client_destroy(n->client);
    pthread_mutex_destroy(&n->mu);
    pthread_cond_destroy(&n->cv);
    free(n);
}

static node_t *
node_create(struct rm_fleet *f, const rm_fleet_target_t *t)
{
    node_t *n = calloc(1, sizeof *n);
    if (!n)
        return NULL;
    n->target = *t;
    n->fleet = f;
    n->refs = 1;
    pthread_mutex_init(&n->mu, NULL);
    cond_init_mono(&n->cv);
    rm__fleet_copy(n->view.cap_forecast, sizeof n->view.cap_forecast, "unknown");
    rm__fleet_copy(n->view.cap_emergency, sizeof n->view.cap_emergency, "unknown");
    rm_client_opts_t co = {
        .target = t->address,
        .timeout_ms = f->o.rpc_timeout_ms,
        .token = f->o.token,
        .tls_ca_file = f->o.tls_ca_file,
        .tls_cert_file = f->o.tls_cert_file,
        .tls_key_file = f->o.tls_key_file,
        .tls_server_name = f->o.tls_server_name,
    };
    char err[256];
    if (rm_client_create(&co, &n->client, err, sizeof err) != RM_OK) {
        rm__fleet_log(f, "ERROR", "node %s: %s", t->name, err);
        pthread_mutex_destroy(&n->mu);
        pthread_cond_destroy(&n->cv);
        free(n);
        return NULL;
    }
    return n;
}

static void
node_stop(node_t *n)
{
    pthread_mutex_lock(&n->mu);
    n->stop = 1;
    pthread_cond_broadcast(&n->cv);
    pthread_mutex_unlock(&n->mu);
    if (n->thread_started) {
        pthread_join(n->thread, NULL);
        n->thread_started = 0;
    }
}

void
rm__fleet_release(struct rm_fleet *f, node_t **nodes, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        pthread_mutex_lock(&f->mu);
        int last = --nodes[i]->refs == 0;
        pthread_mutex_unlock(&f->mu);
        if (last)
            node_free(nodes[i]);
    }
    free(nodes);
}

ssize_t
rm__fleet_select(struct rm_fleet *f, const rm_fleet_selector_t *sel, node_t ***out)
{
    *out = NULL;
    pthread_mutex_lock(&f->mu);
    node_t **arr = f->n_nodes ? malloc(f->n_nodes * sizeof *arr) : NULL;
    if (f->n_nodes && !arr) {
        pthread_mutex_unlock(&f->mu);
        return -1;
    }
    size_t k = 0;
    for (size_t i = 0; i < f->n_nodes; i++) {
        node_t *n = f->nodes[i];
        int match = 1;
        if (sel) {
            rm_fleet_label_t labels[RM_FLEET_MAX_LABELS];
            pthread_mutex_lock(&n->mu);
            size_t nl = rm__fleet_node_labels(n, labels); /* the source's and the agent's (ADR 0027) */
            match = rm_fleet_selector_match(sel->names, sel->n_names, sel->labels, sel->n_labels, n->target.name,
                                            n->view.agent_name, labels, nl);
            pthread_mutex_unlock(&n->mu);
        }
        if (match) {
            n->refs++;
            arr[k++] = n;
        }
    }
    pthread_mutex_unlock(&f->mu);
    if (!k) {
        free(arr);
        arr = NULL;
    }
    *out = arr;
    return (ssize_t)k;
}

size_t
rm_fleet_node_count(rm_fleet_t *f)
{
    pthread_mutex_lock(&f->mu);
    size_t n = f->n_nodes;
    pthread_mutex_unlock(&f->mu);
    return n;
}

static int
cmp_node(const void *a, const void *b)
{
    return strcmp((*(node_t *const *)a)->target.name, (*(node_t *const *)b)->target.name);
}

static int
labels_equal(const rm_fleet_target_t *a, const rm_fleet_target_t *b)
{
    if (a->n_labels != b->n_labels)
        return 0;
    for (size_t i = 0; i < a->n_labels; i++)
        if (strcmp(a->labels[i].key, b->labels[i].key) || strcmp(a->labels[i].value, b->labels[i].value))
            return 0;
    return 1;
}

rm_status_t
rm_fleet_set_targets(rm_fleet_t *f, const rm_fleet_target_t *targets, size_t nt)
{
    rm_status_t st = RM_OK;
    pthread_mutex_lock(&f->set_mu);
    node_t **next = calloc(nt ? nt : 1, sizeof *next);
    node_t **gone = NULL;
    size_t n_next = 0, n_gone = 0;
    if (!next) {
        pthread_mutex_unlock(&f->set_mu);
        return RM_ENOMEM;
    }
    /* Old list: only this function changes it (set_mu), so reading it without mu is safe. */
    gone = calloc(f->n_nodes ? f->n_nodes : 1, sizeof *gone);
    if (!gone) {
        free(next);
        pthread_mutex_unlock(&f->set_mu);
        return RM_ENOMEM;
    }
    for (size_t i = 0; i < f->n_nodes; i++) {
        node_t *n = f->nodes[i];
        const rm_fleet_target_t *t = NULL;
        for (size_t j = 0; j < nt; j++)
            if (strcmp(targets[j].name, n->target.name) == 0) {
                t = &targets[j];
                break;
            }
        if (t && strcmp(t->address, n->target.address) == 0) {
            if (!labels_equal(t, &n->target)) {
                pthread_mutex_lock(&n->mu);
                n->target.n_labels = t->n_labels;
                memcpy(n->target.labels, t->labels, sizeof t->labels);
                pthread_mutex_unlock(&n->mu);
            }
            next[n_next++] = n;
        } else {
            gone[n_gone++] = n;
        }
    }
    size_t kept = n_next;
    node_t **started = calloc(nt ? nt : 1, sizeof *started);
    size_t n_started = 0;
    for (size_t j = 0; j < nt && started; j++) {
        size_t i;
        for (i = 0; i < kept && strcmp(next[i]->target.name, targets[j].name) != 0; i++)
            ;
        if (i < kept)
            continue;
        node_t *n = node_create(f, &targets[j]);
        if (!n) {
            st = RM_ENOMEM;
            continue;
        }
        next[n_next++] = n;
        started[n_started++] = n;
    }
    if (!started)
        st = RM_ENOMEM;
    qsort(next, n_next, sizeof *next, cmp_node);
    pthread_mutex_lock(&f->mu);
    node_t **old = f->nodes;
    f->nodes = next;
    f->n_nodes = n_next;
    pthread_mutex_unlock(&f->mu);
    free(old);
    for (size_t i = 0; i < n_started; i++) {
        node_t *n = started[i];
        if (pthread_create(&n->thread, NULL, poller_main, n) == 0)
            n->thread_started = 1;
        else
            rm__fleet_log(f, "ERROR", "node %s: cannot start its poller thread", n->target.name);
        rm__fleet_log(f, "INFO", "node %s (%s) added", n->target.name, n->target.address);
    }
    free(started);
    for (size_t i = 0; i < n_gone; i++) {
        rm__fleet_log(f, "INFO", "node %s (%s) removed", gone[i]->target.name, gone[i]->target.address);
        node_stop(gone[i]);
    }
    pthread_mutex_unlock(&f->set_mu);
    /* Drop the list's reference; handlers may still hold theirs. */
    rm__fleet_release(f, gone, n_gone);
    return st;
}

/* ---- discovery --------------------------------------------------------------- */

/* Read the source; *changed = 0 when a file source has not changed since the last read. */
static rm_status_t
discover(struct rm_fleet *f, int force, char *err, size_t errcap)
{
    rm_fleet_target_t *t = NULL;
    size_t n = 0;
    rm_status_t st;
    switch (f->o.source) {
    case RM_FLEET_SOURCE_LIST:
        st = rm_fleet_parse_list(f->o.source_spec, &t, &n, err, errcap);
        break;
    case RM_FLEET_SOURCE_FILE: {
        struct stat sb;
        if (stat(f->o.source_spec, &sb) < 0) {
            rm__fleet_fmt(err, errcap, "cannot read agents file %s: %s", f->o.source_spec, strerror(errno));
            return RM_EIO;
        }
        int64_t mt = (int64_t)sb.st_mtim.tv_sec * 1000000000 + sb.st_mtim.tv_nsec;
        if (!force && mt == f->file_mtime_ns && (int64_t)sb.st_size == f->file_size &&
            (uint64_t)sb.st_ino == f->file_ino)
            return RM_OK;
        st = rm_fleet_read_file(f->o.source_spec, &t, &n, err, errcap);
        if (st == RM_OK) {
            f->file_mtime_ns = mt;
            f->file_size = (int64_t)sb.st_size;
            f->file_ino = (uint64_t)sb.st_ino;
            rm__fleet_log(f, "INFO", "agents file %s: %zu agents", f->o.source_spec, n);
        }
        break;
    }
    case RM_FLEET_SOURCE_DNS:
        st = rm_fleet_resolve_dns(f->o.source_spec, &t, &n, err, errcap);
        break;
    default:
        return RM_OK;
    }
    if (st == RM_OK)
        st = rm_fleet_set_targets(f, t, n);
    free(t);
    return st;
}

static void *
disco_main(void *arg)
{
    struct rm_fleet *f = arg;
    char last_err[512] = "";
    pthread_mutex_lock(&f->disco_mu);
    while (!f->stopping) {
        struct timespec dl;
        deadline_after(&dl, f->o.poll_ms);
        while (!f->stopping && pthread_cond_timedwait(&f->disco_cv, &f->disco_mu, &dl) != ETIMEDOUT)
            ;
        if (f->stopping)
            break;
        pthread_mutex_unlock(&f->disco_mu);
        char err[512] = "";
        if (discover(f, 0, err, sizeof err) != RM_OK) {
            /* Keep the fleet we have: a typo or a DNS hiccup must not drop every node. */
            if (strcmp(err, last_err) != 0)
                rm__fleet_log(f, "WARN", "discovery: %s (keeping the %zu known nodes)", err,
                              rm_fleet_node_count(f));
            rm__fleet_copy(last_err, sizeof last_err, err);
        } else {
            last_err[0] = '\0';
        }
        pthread_mutex_lock(&f->disco_mu);
    }
    pthread_mutex_unlock(&f->disco_mu);
    return NULL;
}

/* ---- lifecycle ------------------------------------------------------------------ */

rm_status_t
rm_fleet_create(const rm_fleet_opts_t *opts, rm_fleet_t **out, char *err, size_t errcap)
{
    *out = NULL;
    rm_fleet_opts_t o = *opts;
    if (!o.poll_ms)
        o.poll_ms = 2000;
    if (!o.rpc_timeout_ms)
        o.rpc_timeout_ms = 2000;
    if (!o.backoff_max_ms)
        o.backoff_max_ms = 30000;
    if (!o.trigger_level)
        o.trigger_level = 4;
    if (o.trigger_confidence <= 0)
        o.trigger_confidence = 0.7;
    if (o.trigger_ttc_seconds <= 0)
        o.trigger_ttc_seconds = 60;
    if (!o.trigger_cooldown_ms)
        o.trigger_cooldown_ms = 60000;
    if (o.canary_wait_seconds <= 0)
        o.canary_wait_seconds = 30;
    if (o.batch_wait_seconds <= 0)
        o.batch_wait_seconds = 10;
    if (!o.batch_size)
        o.batch_size = 2;
    if (!o.gate_max_level)
        o.gate_max_level = 2;
    if (o.poll_ms < 10 || o.rpc_timeout_ms < 10 || o.backoff_max_ms < o.poll_ms) {
        rm__fleet_fmt(err, errcap, "poll interval and RPC timeout must be >= 10 ms and the backoff cap >= the poll interval");
        return RM_EINVAL;
    }
    if (o.trigger_level < 1 || o.trigger_level > 5 || o.gate_max_level < 1 || o.gate_max_level > 5 ||
        o.trigger_confidence > 1) {
        rm__fleet_fmt(err, errcap, "levels must be MONITOR..OOM_PREVENTION and the confidence in 0..1");
        return RM_EINVAL;
    }
    if (o.source != RM_FLEET_SOURCE_NONE && (!o.source_spec || !*o.source_spec)) {
        rm__fleet_fmt(err, errcap, "the agent source needs a value");
        return RM_EINVAL;
    }
    struct rm_fleet *f = calloc(1, sizeof *f);
    if (!f) {
        rm__fleet_fmt(err, errcap, "out of memory");
        return RM_ENOMEM;
    }
    f->o = o;
    pthread_mutex_init(&f->mu, NULL);
    pthread_mutex_init(&f->set_mu, NULL);
    pthread_mutex_init(&f->rollout_mu, NULL);
    pthread_mutex_init(&f->disco_mu, NULL);
    cond_init_mono(&f->disco_cv);
    *out = f;
    return RM_OK;
}

rm_status_t
rm_fleet_start(rm_fleet_t *f, char *err, size_t errcap)
{
    rm_status_t st = discover(f, 1, err, errcap);
    if (st != RM_OK && !(f->o.source == RM_FLEET_SOURCE_DNS && st == RM_ENOENT))
        return st;
    if (st != RM_OK)
        rm__fleet_log(f, "WARN", "%s (will retry every %d ms)", err, f->o.poll_ms);
    if (f->o.source == RM_FLEET_SOURCE_FILE || f->o.source == RM_FLEET_SOURCE_DNS) {
        if (pthread_create(&f->disco, NULL, disco_main, f) != 0) {
            rm__fleet_fmt(err, errcap, "cannot start the discovery thread");
            return RM_ENOMEM;
        }
        f->disco_started = 1;
    }
    return RM_OK;
}

void
rm_fleet_stop(rm_fleet_t *f)
{
    pthread_mutex_lock(&f->disco_mu);
    f->stopping = 1;
    pthread_cond_broadcast(&f->disco_cv);
    pthread_mutex_unlock(&f->disco_mu);
    if (f->disco_started) {
        pthread_join(f->disco, NULL);
        f->disco_started = 0;
    }
    rm_fleet_set_targets(f, NULL, 0);
}

void
rm_fleet_destroy(rm_fleet_t *f)
{
    if (!f)
        return;
    rm_fleet_stop(f);
    free(f->nodes);
    pthread_mutex_destroy(&f->mu);
    pthread_mutex_destroy(&f->set_mu);
    pthread_mutex_destroy(&f->rollout_mu);
    pthread_mutex_destroy(&f->disco_mu);
    pthread_cond_destroy(&f->disco_cv);
    free(f);
}

void
rm_fleet_result_free(rm_fleet_result_t *r)
{
    if (!r)
        return;
    free(r->steps);
    free(r->changed);
    memset(r, 0, sizeof *r);
}
