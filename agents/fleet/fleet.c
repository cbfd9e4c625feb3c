/*
 * fleet.c — the controller core: the node set, the poll schedule (a heap of
 * next-poll times served by a fixed pool of threads, ADR 0026), the discovery
 * thread, and the early-response policy.
 *
 * Design note: a poll is Health, then MemoryStats, then the level — from the
 * agent's ForecastService when it answers, otherwise derived from usage_ratio
 * against the agent's own pressure.* knobs (TuningService.GetKnobs, re-read on
 * every poll so threshold changes show at once). Every call has the per-call
 * deadline of the node's channel, and nothing is locked while a call runs, so
 * the view stays readable; a dead node holds one pool thread for at most one
 * deadline (Health fails first and ends the poll). After a
 * failed poll the next one waits poll_ms × 2^(failures-1), capped at
 * backoff_max_ms; one success resets it. gRPC's channel keeps its own
 * reconnect backoff underneath; ours bounds the load a dead fleet puts on the
 * controller. Key statistics are copied generically from every numeric field
 * of MemoryStats (via the protobuf-c descriptors), so fields added to the API
 * appear in the fleet view without code here.
 */
#define _GNU_SOURCE 1
#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <grpc/grpc.h>
#include <grpc/support/time.h>

#include "fleet_internal.h"
#include "grpc/health/v1/health.pb-c.h"
#include "rustymem/v1/emergency.pb-c.h"
#include "rustymem/v1/forecast.pb-c.h"
#include "rustymem/v1/memory.pb-c.h"
#include "rustymem/v1/tuning.pb-c.h"
#include "rm_clock.h"
#include "rm_tsan.h"
#include "rustymem/mix.h"

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
    e->unix_ms = rm_wall_ms();
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
    const char *key[FLEET_STATS_MAX];   /* interned */
    double val[FLEET_STATS_MAX];
} stats_acc_t;

/*
 * Stat keys are interned: every agent of one version reports the same few
 * dozen keys, so each node keeps pointers (0.5 KiB) instead of 64 copies
 * (4 KiB; 40 MiB at 10 000 agents). The table lives as long as the process
 * and holds at most FLEET_KEYS_MAX keys (keys of repeated entries carry the
 * agent's own names); beyond that a new key is left out of the view.
 */
#define FLEET_KEYS_MAX 16384
#define FLEET_KEYS_SLOTS (2 * FLEET_KEYS_MAX) /* a power of two */
static pthread_mutex_t keys_mu = PTHREAD_MUTEX_INITIALIZER;
static char **keys_slot;   /* FLEET_KEYS_SLOTS, open addressing; under keys_mu */
static size_t keys_n;

static const char *
key_intern(const char *k)
{
    uint64_t h = rm_hash_str(k, 0);
    const char *out = NULL;
    pthread_mutex_lock(&keys_mu);
    if (!keys_slot)
        keys_slot = calloc(FLEET_KEYS_SLOTS, sizeof *keys_slot);
    if (keys_slot) {
        for (size_t i = (size_t)h & (FLEET_KEYS_SLOTS - 1);; i = (i + 1) & (FLEET_KEYS_SLOTS - 1)) {
            if (!keys_slot[i]) {
                if (keys_n < FLEET_KEYS_MAX && (keys_slot[i] = strdup(k))) {
                    keys_n++;
                    out = keys_slot[i];
                }
                break;
            }
            if (strcmp(keys_slot[i], k) == 0) {
                out = keys_slot[i];
                break;
            }
        }
    }
    pthread_mutex_unlock(&keys_mu);
    return out;
}

static void
stats_add(stats_acc_t *acc, const char *prefix, const char *name, double v)
{
    if (acc->n == FLEET_STATS_MAX)
        return;
    char key[64];
    rm__fleet_fmt(key, sizeof key, "%s%s", prefix, name);
    if (!(acc->key[acc->n] = key_intern(key)))
        return;
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
        } else if (rm_pb_number(fd, p, &v)) {
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

/*
 * The calls of one poll, in order: Health, GetMemoryStats, GetForecast, and
 * GetKnobs (the thresholds) only when the forecast does not answer. The same
 * requests and the same decisions serve the blocking poll (rm__fleet_poll:
 * rollout gates) and the asynchronous one (the pool, ADR 0026).
 */
enum { CALL_HEALTH, CALL_STATS, CALL_FORECAST, CALL_KNOBS, CALL_TRIGGER, N_CALLS };

typedef struct poll_res {
    int made[N_CALLS];
    grpc_status_code code[N_CALLS];
    rm_call_status_t st[N_CALLS];
    ProtobufCMessage *resp[N_CALLS];
} poll_res_t;

static const char *const call_path[N_CALLS] = {HEALTH_CHECK, GET_MEMORY_STATS, GET_FORECAST, GET_KNOBS,
                                               TRIGGER_RESPONSE};
static const ProtobufCMessageDescriptor *const call_resp[N_CALLS] = {
    &grpc__health__v1__health_check_response__descriptor, &rustymem__v1__memory_stats__descriptor,
    &rustymem__v1__forecast__descriptor, &rustymem__v1__get_knobs_response__descriptor,
    &rustymem__v1__action_result__descriptor};

/* The request of a poll call (not the trigger); static: the calls only read them. */
static const ProtobufCMessage *
call_request(int call)
{
    static Grpc__Health__V1__HealthCheckRequest hreq = {PROTOBUF_C_MESSAGE_INIT(
                                                            &grpc__health__v1__health_check_request__descriptor),
                                                        (char *)""};
    static const Rustymem__V1__GetMemoryStatsRequest mreq = RUSTYMEM__V1__GET_MEMORY_STATS_REQUEST__INIT;
    static const Rustymem__V1__GetForecastRequest freq = RUSTYMEM__V1__GET_FORECAST_REQUEST__INIT;
    static Rustymem__V1__GetKnobsRequest kreq = {PROTOBUF_C_MESSAGE_INIT(&rustymem__v1__get_knobs_request__descriptor),
                                                 4, (char **)threshold_knobs};
    switch (call) {
    case CALL_HEALTH: return &hreq.base;
    case CALL_STATS: return &mreq.base;
    case CALL_FORECAST: return &freq.base;
    default: return &kreq.base;
    }
}

/* The call to make after `done` (-1 = none yet), or -1 when the poll is complete. */
static int
next_call(const poll_res_t *r, int done)
{
    switch (done) {
    case -1: return CALL_HEALTH;
    case CALL_HEALTH: return r->code[CALL_HEALTH] == GRPC_STATUS_OK ? CALL_STATS : -1;
    case CALL_STATS: return CALL_FORECAST;
    case CALL_FORECAST: return r->code[CALL_FORECAST] == GRPC_STATUS_OK ? -1 : CALL_KNOBS;
    default: return -1;
    }
}

static void
poll_res_free(poll_res_t *r)
{
    for (int i = 0; i < N_CALLS; i++)
        if (r->resp[i])
            protobuf_c_message_free_unpacked(r->resp[i], NULL);
}

/* The agent's pressure thresholds from the GetKnobs answer; defaults (and 0) when it could not say. */
static int
read_thresholds(const poll_res_t *res, rm_fleet_thresholds_t *t)
{
    *t = rm_fleet_default_thresholds();
    if (res->code[CALL_KNOBS] != GRPC_STATUS_OK)
        return 0;
    const Rustymem__V1__GetKnobsResponse *r = (const void *)res->resp[CALL_KNOBS];
    double *slots[4] = {&t->warning, &t->high, &t->critical, &t->emergency};
    for (size_t i = 0; i < r->n_knobs; i++)
        for (int j = 0; j < 4; j++)
            if (r->knobs[i]->name && strcmp(r->knobs[i]->name, threshold_knobs[j]) == 0 && r->knobs[i]->value)
                *slots[j] = strtod(r->knobs[i]->value, NULL);
    return 1;
}

/* Early response, step 1: the level to ask for (0 = none) and why. */
static int
early_decide(struct rm_fleet *f, node_t *n, char *why, size_t whycap)
{
    if (f->o.no_early_response || !rm__fleet_may_act(f)) /* only the leader triggers (ADR 0027) */
        return 0;
    /* Only what the policy reads: a whole view copy per poll would cost more than the decision. */
    pthread_mutex_lock(&n->mu);
    int reachable = n->view.reachable, last_level = n->view.last_trigger_level;
    int64_t last_ms = n->view.last_trigger_ms;
    rm_fleet_pressure_t pr = n->view.pressure;
    pthread_mutex_unlock(&n->mu);
    if (!reachable)
        return 0;
    int act = rm_fleet_policy_decide(&pr, f->o.trigger_level, f->o.trigger_confidence, f->o.trigger_ttc_seconds,
                                     why, whycap);
    int64_t now = rm_wall_ms();
    if (act && last_ms && now - last_ms < f->o.trigger_cooldown_ms && act <= last_level)
        act = 0;
    return act;
}

/* Early response, step 2: record what TriggerResponse(act) answered. */
static void
early_record(struct rm_fleet *f, node_t *n, int act, const char *why, grpc_status_code code,
             const rm_call_status_t *st, const ProtobufCMessage *resp)
{
    char detail[256];
    if (code == GRPC_STATUS_OK) {
        const Rustymem__V1__ActionResult *ar = (const void *)resp;
        rm__fleet_fmt(detail, sizeof detail, "TriggerResponse(%s): %s; %s", rm_fleet_level_name(act), why,
                 ar->summary && *ar->summary ? ar->summary : "done");
    } else {
        rm__fleet_fmt(detail, sizeof detail, "TriggerResponse(%s): %s; %s", rm_fleet_level_name(act), why, st->message);
    }
    pthread_mutex_lock(&n->mu);
    n->view.last_trigger_ms = rm_wall_ms();
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

static void
trigger_request(int act, Rustymem__V1__TriggerResponseRequest *req)
{
    rustymem__v1__trigger_response_request__init(req);
    req->level = (Rustymem__V1__PressureLevel)act;
}

static void
early_response(struct rm_fleet *f, node_t *n)
{
    char why[256];
    int act = early_decide(f, n, why, sizeof why);
    if (!act)
        return;
    Rustymem__V1__TriggerResponseRequest req;
    trigger_request(act, &req);
    ProtobufCMessage *resp = NULL;
    rm_call_status_t st;
    grpc_status_code code = rm_client_unary(n->client, TRIGGER_RESPONSE, &req.base,
                                            &rustymem__v1__action_result__descriptor, &resp, &st);
    early_record(f, n, act, why, code, &st, resp);
    if (resp)
        protobuf_c_message_free_unpacked(resp, NULL);
}

/* Fold the answers of one poll into the node's view. */
static void
poll_apply(struct rm_fleet *f, node_t *n, const poll_res_t *res)
{
    char err[FLEET_ERR_MAX] = "";
    const ProtobufCMessage *resp = res->resp[CALL_HEALTH];
    const rm_call_status_t *stp = &res->st[CALL_HEALTH];

    /* 1. Health: answers at all = reachable. */
    grpc_status_code code = res->code[CALL_HEALTH];
    if (code != GRPC_STATUS_OK) {
        pthread_mutex_lock(&n->mu);
        int was = n->view.reachable || !n->view.polled;
        n->view.polled = 1;
        n->view.reachable = 0;
        n->view.serving = 0;
        n->view.failures++;
        rm__fleet_fmt(n->view.last_error, sizeof n->view.last_error, "Health: %s: %s", rm_client_status_name(code),
                 stp->message);
        if (was)
            event_locked(n, "unreachable", rm_client_status_name(code), n->view.last_error);
        pthread_mutex_unlock(&n->mu);
        if (was)
            rm__fleet_log(f, "WARN", "node %s (%s) unreachable: %s", n->target.name, n->target.address, stp->message);
        return;
    }
    int serving = ((Grpc__Health__V1__HealthCheckResponse *)resp)->status ==
                  GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING;
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
    code = res->code[CALL_STATS];
    resp = res->resp[CALL_STATS];
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
    } else if (!*err) {
        rm__fleet_fmt(err, sizeof err, "GetMemoryStats: %s: %s", rm_client_status_name(code),
                      res->st[CALL_STATS].message);
    }

    /* 3. Level: the agent's forecast, else derived from usage_ratio. */
    rm_fleet_pressure_t pr = {0};
    int level = 0, predicted = 0, has_ttc = 0;
    double conf = 0, ttc = 0;
    const char *source = "usage_ratio", *cap_forecast = "unknown";
    code = res->code[CALL_FORECAST];
    resp = res->resp[CALL_FORECAST];
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
    } else {
        if (code == GRPC_STATUS_UNIMPLEMENTED)
            cap_forecast = "unimplemented";
        else if (!*err)
            rm__fleet_fmt(err, sizeof err, "GetForecast: %s: %s", rm_client_status_name(code),
                          res->st[CALL_FORECAST].message);
        rm_fleet_thresholds_t t;
        if (!read_thresholds(res, &t) && !*err)
            rm__fleet_fmt(err, sizeof err, "GetKnobs: %s (using the default thresholds)",
                          res->st[CALL_KNOBS].message);
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
            memcpy(v->stat_key, acc->key, acc->n * sizeof acc->key[0]);
            memcpy(v->stat_val, acc->val, acc->n * sizeof acc->val[0]);
        }
    }
    v->last_contact_ms = rm_wall_ms();
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

}

void
rm__fleet_poll(struct rm_fleet *f, node_t *n, int run_policy)
{
    poll_res_t *res = calloc(1, sizeof *res);
    if (!res)
        return;
    for (int c = next_call(res, -1); c >= 0; c = next_call(res, c)) {
        res->made[c] = 1;
        res->code[c] = rm_client_unary(n->client, call_path[c], call_request(c), call_resp[c], &res->resp[c],
                                       &res->st[c]);
    }
    poll_apply(f, n, res);
    poll_res_free(res);
    free(res);
    if (run_policy)
        early_response(f, n);
}



/* ---- the poll schedule: a heap of due times, a fixed pool of threads ------------ */

/* xorshift64*: the interval jitter (no quality needed; never 0 state). Under sched_mu. */
static double
jitter01(struct rm_fleet *f)
{
    uint64_t x = f->jitter_state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    f->jitter_state = x;
    return (double)((x * 2685821657736338717ULL) >> 11) / 9007199254740992.0;
}

static void
heap_swap(struct rm_fleet *f, size_t i, size_t j)
{
    node_t *t = f->heap[i];
    f->heap[i] = f->heap[j];
    f->heap[j] = t;
    f->heap[i]->heap_idx = (ssize_t)i;
    f->heap[j]->heap_idx = (ssize_t)j;
}

static void
heap_up(struct rm_fleet *f, size_t i)
{
    while (i > 0 && f->heap[(i - 1) / 2]->due_ms > f->heap[i]->due_ms) {
        heap_swap(f, i, (i - 1) / 2);
        i = (i - 1) / 2;
    }
}

static void
heap_down(struct rm_fleet *f, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < f->heap_n && f->heap[l]->due_ms < f->heap[m]->due_ms)
            m = l;
        if (r < f->heap_n && f->heap[r]->due_ms < f->heap[m]->due_ms)
            m = r;
        if (m == i)
            return;
        heap_swap(f, i, m);
        i = m;
    }
}

/* Schedule n at due_ms (under sched_mu). 0, or -1 when the heap cannot grow. */
static int
heap_push(struct rm_fleet *f, node_t *n)
{
    if (f->heap_n == f->heap_cap) {
        size_t cap = f->heap_cap ? f->heap_cap * 2 : 64;
        node_t **h = realloc(f->heap, cap * sizeof *h);
        if (!h)
            return -1;
        f->heap = h;
        f->heap_cap = cap;
    }
    n->heap_idx = (ssize_t)f->heap_n;
    f->heap[f->heap_n++] = n;
    heap_up(f, f->heap_n - 1);
    if (n->heap_idx == 0)
        pthread_cond_signal(&f->sched_cv);
    return 0;
}

static void
heap_remove(struct rm_fleet *f, node_t *n)
{
    if (n->heap_idx < 0)
        return;
    size_t i = (size_t)n->heap_idx;
    n->heap_idx = -1;
    f->heap_n--;
    if (i == f->heap_n)
        return;
    f->heap[i] = f->heap[f->heap_n];
    f->heap[i]->heap_idx = (ssize_t)i;
    heap_up(f, i);
    heap_down(f, (size_t)f->heap[i]->heap_idx);
}

static void
hist_add(uint64_t *h, double ms)
{
    int i = 0;
    for (double edge = 0.1; i < FLEET_LAT_BUCKETS - 1 && ms > edge; edge *= 1.25)
        i++;
    h[i]++;
}

static double
hist_quantile(const uint64_t *h, double q)
{
    uint64_t total = 0;
    for (int i = 0; i < FLEET_LAT_BUCKETS; i++)
        total += h[i];
    if (!total)
        return 0;
    uint64_t want = (uint64_t)(q * (double)total + 0.5), seen = 0;
    if (want < 1)
        want = 1;
    double edge = 0.1;
    for (int i = 0; i < FLEET_LAT_BUCKETS; i++, edge *= 1.25) {
        seen += h[i];
        if (seen >= want)
            return edge;
    }
    return edge;
}

/*
 * One poll in flight: the node, which call runs, the answers so far. The
 * completion queue hands it back (it is the tag) after each call.
 */
typedef struct poll_op {
    struct poll_op *prev, *next;    /* f->ops while a call is in flight; under sched_mu */
    int64_t deadline_ms;            /* CLOCK_MONOTONIC ms; the scheduler cancels the call after it */
    int cancelled;
    node_t *n;
    int call;                       /* the call in flight (CALL_*) */
    rm_client_async_t *async;
    struct timespec t0;
    int act;                        /* early response: the level asked for */
    char why[256];
    poll_res_t res;
} poll_op_t;

static void op_complete(struct rm_fleet *f, poll_op_t *op);

/* Start call `c` of op; a call that cannot start counts as failed, then the next one. */
static void
op_start(struct rm_fleet *f, poll_op_t *op, int c)
{
    for (; c >= 0; c = next_call(&op->res, c)) {
        op->call = c;
        op->res.made[c] = 1;
        Rustymem__V1__TriggerResponseRequest treq;
        const ProtobufCMessage *req = call_request(c);
        if (c == CALL_TRIGGER) {
            trigger_request(op->act, &treq);
            req = &treq.base;
        }
        /* Our deadline, not gRPC's: a gRPC timer per call was 17 % of the CPU at 10 000 agents. The
         * call is started and linked under sched_mu so its completion cannot unlink it first. */
        pthread_mutex_lock(&f->sched_mu);
        int started = rm_client_async_start(op->n->client, f->cq, op, call_path[c], req, -1, &op->async,
                                            &op->res.st[c]) == 0;
        if (started) {
            op->deadline_ms = rm_mono_ms() + f->o.rpc_timeout_ms;
            op->cancelled = 0;
            op->prev = NULL;
            op->next = f->ops;
            if (f->ops)
                f->ops->prev = op;
            f->ops = op;
        }
        pthread_mutex_unlock(&f->sched_mu);
        if (started)
            return;   /* op may already be in another thread's hands */
        op->res.code[c] = op->res.st[c].code;
        if (c == CALL_TRIGGER)
            break;
    }
    if (c == CALL_TRIGGER) {
        early_record(f, op->n, op->act, op->why, op->res.code[c], &op->res.st[c], NULL);
        op_complete(f, op);
        return;
    }
    /* The poll's calls are done: fold them in, then maybe the early response. */
    poll_apply(f, op->n, &op->res);
    op->act = early_decide(f, op->n, op->why, sizeof op->why);
    if (op->act) {
        op->call = CALL_TRIGGER;
        op_start(f, op, CALL_TRIGGER);
        return;
    }
    op_complete(f, op);
}

/* A call of op finished (on a completion-queue thread). */
static void
op_advance(struct rm_fleet *f, poll_op_t *op)
{
    int c = op->call;
    pthread_mutex_lock(&f->sched_mu);
    if (op->prev)
        op->prev->next = op->next;
    else
        f->ops = op->next;
    if (op->next)
        op->next->prev = op->prev;
    pthread_mutex_unlock(&f->sched_mu);
    op->res.code[c] = rm_client_async_finish(op->async, call_resp[c], &op->res.resp[c], &op->res.st[c]);
    op->async = NULL;
    if (c == CALL_TRIGGER) {
        early_record(f, op->n, op->act, op->why, op->res.code[c], &op->res.st[c], op->res.resp[c]);
        op_complete(f, op);
        return;
    }
    int next = next_call(&op->res, c);
    if (next >= 0) {
        op_start(f, op, next);
        return;
    }
    poll_apply(f, op->n, &op->res);
    op->act = early_decide(f, op->n, op->why, sizeof op->why);
    if (op->act)
        op_start(f, op, CALL_TRIGGER);
    else
        op_complete(f, op);
}

/*
 * The poll is over: put the node back at its start + interval (fixed rate),
 * or at now + interval × 2^(failures-1) after failures (capped); ±10 %
 * jitter so nodes added together drift apart instead of polling in bursts.
 */
static void
op_complete(struct rm_fleet *f, poll_op_t *op)
{
    node_t *n = op->n;
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double took = (double)(t1.tv_sec - op->t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - op->t0.tv_nsec) / 1e6;
    pthread_mutex_lock(&n->mu);
    int64_t wait = f->o.poll_ms;
    for (unsigned i = 1; i < n->view.failures && wait < f->o.backoff_max_ms; i++)
        wait *= 2;
    if (wait > f->o.backoff_max_ms)
        wait = f->o.backoff_max_ms;
    n->view.next_poll_ms = wait;
    int failed = !n->view.reachable;
    pthread_mutex_unlock(&n->mu);
    struct timespec op_t0 = op->t0;
    poll_res_free(&op->res);
    free(op);

    pthread_mutex_lock(&f->sched_mu);
    f->pstats.polls++;
    f->pstats.failures += failed;
    hist_add(f->pstats.lat, took);
    n->in_poll = 0;
    f->inflight--;
    if (!n->stop_sched) {
        /* A good poll: due one (jittered) interval after this one started, so the time a poll takes
         * does not add to the interval (staleness ~ one interval, not interval + latency); a late
         * one is due at once. After failures: the back-off counts from now. */
        int64_t now = rm_mono_ms(), from = failed ? now : (int64_t)op_t0.tv_sec * 1000 + op_t0.tv_nsec / 1000000;
        n->due_ms = from + (int64_t)((double)wait * (0.9 + 0.2 * jitter01(f)));
        if (n->due_ms < now)
            n->due_ms = now;
        if (heap_push(f, n) < 0)
            rm__fleet_log(f, "ERROR", "node %s: out of memory scheduling its next poll", n->target.name);
    }
    pthread_cond_broadcast(&f->sched_done_cv);
    pthread_cond_signal(&f->sched_cv);
    pthread_mutex_unlock(&f->sched_mu);
}

/*
 * Scheduler thread: start the poll of every node that is due (at most
 * FLEET_MAX_INFLIGHT at once); it never waits for an agent. The completion
 * queue threads run the rest.
 */
static void *
sched_main(void *arg)
{
    struct rm_fleet *f = arg;
    int64_t next_scan = 0;
    pthread_mutex_lock(&f->sched_mu);
    while (!f->sched_stop) {
        int64_t now = rm_mono_ms();
        if (f->ops && now >= next_scan) {
            /* Deadlines of the calls in flight, checked every FLEET_DEADLINE_TICK_MS. */
            for (poll_op_t *op = f->ops; op; op = op->next)
                if (!op->cancelled && op->deadline_ms <= now) {
                    op->cancelled = 1;
                    rm_client_async_cancel(op->async);
                }
            next_scan = now + FLEET_DEADLINE_TICK_MS;
        }
        int64_t wake = f->ops ? next_scan : INT64_MAX;
        node_t *n = f->heap_n ? f->heap[0] : NULL;
        if (!n || f->inflight >= FLEET_MAX_INFLIGHT || n->due_ms > now) {
            if (n && f->inflight < FLEET_MAX_INFLIGHT && n->due_ms < wake)
                wake = n->due_ms;
            if (wake == INT64_MAX) {
                pthread_cond_wait(&f->sched_cv, &f->sched_mu);
            } else {
                struct timespec dl;
                rm_deadline_ts(CLOCK_MONOTONIC, wake > now ? wake - now : 0, &dl);
                pthread_cond_timedwait(&f->sched_cv, &f->sched_mu, &dl);
            }
            continue;
        }
        poll_op_t *op = calloc(1, sizeof *op);
        if (!op) {
            n->due_ms = now + f->o.poll_ms;   /* try again later */
            heap_down(f, 0);
            continue;
        }
        heap_remove(f, n);
        n->in_poll = 1;
        f->inflight++;
        hist_add(f->pstats.lag, (double)(now - n->due_ms));
        pthread_mutex_unlock(&f->sched_mu);
        op->n = n;
        clock_gettime(CLOCK_MONOTONIC, &op->t0);
        op_start(f, op, next_call(&op->res, -1));
        pthread_mutex_lock(&f->sched_mu);
    }
    pthread_mutex_unlock(&f->sched_mu);
    return NULL;
}

/* Completion-queue thread: advance whichever poll a finished call belongs to. */
static void *
cq_main(void *arg)
{
    struct rm_fleet *f = arg;
    for (;;) {
        grpc_event ev = grpc_completion_queue_next(f->cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
        if (ev.type == GRPC_QUEUE_SHUTDOWN)
            break;
        if (ev.type == GRPC_OP_COMPLETE) {
            RM_TSAN_ACQUIRE(ev.tag);   /* released in rm_client_async_start (rm_tsan.h) */
            op_advance(f, ev.tag);
        }
    }
    return NULL;
}

/* First poll of a new node: soon, spread over one interval so a large fleet does not start in one burst. */
static void
node_schedule(struct rm_fleet *f, node_t *n)
{
    pthread_mutex_lock(&f->sched_mu);
    n->due_ms = rm_mono_ms() + (int64_t)(jitter01(f) * (double)f->o.poll_ms);
    if (heap_push(f, n) < 0)
        rm__fleet_log(f, "ERROR", "node %s: out of memory scheduling its first poll", n->target.name);
    pthread_mutex_unlock(&f->sched_mu);
}

static void
node_free(node_t *n)
{
    rm_client_destroy(n->client);
    pthread_mutex_destroy(&n->mu);
    free(n);
}

/*
 * One channel per agent, thousands of them, each carrying a few small unary
 * calls every poll interval (ADR 0026, "What a channel costs"):
 *  - no client idle filter: it arms a timer each time the channel's call
 *    count drops to 0 — after every call of every poll, ~15 000 timer
 *    arms/cancels a second at 10 000 agents, which kept gRPC's timer threads
 *    busy (and walking the timer table of Debian's assert-enabled build);
 *  - no BDP probe: its pings and timers size windows for bulk transfers; our
 *    answers are a few KiB;
 *  - no channelz accounting per call and per channel;
 *  - a 512-byte HPACK decoder table (default 4 KiB): the agent's few response
 *    headers need no more, and the table is allocated per connection — this
 *    alone was ~150 MiB of the controller's RSS at 10 000 agents;
 *  - smaller TCP reads: 2 KiB chunks to start, 64 KiB at most (default 8 KiB
 *    growing to 4 MiB), per connection.
 */
static grpc_arg agent_arg_list[] = {
    {.type = GRPC_ARG_INTEGER, .key = GRPC_ARG_CLIENT_IDLE_TIMEOUT_MS, .value.integer = INT_MAX},
    {.type = GRPC_ARG_INTEGER, .key = GRPC_ARG_HTTP2_BDP_PROBE, .value.integer = 0},
    {.type = GRPC_ARG_INTEGER, .key = GRPC_ARG_ENABLE_CHANNELZ, .value.integer = 0},
    {.type = GRPC_ARG_INTEGER, .key = GRPC_ARG_HTTP2_HPACK_TABLE_SIZE_DECODER, .value.integer = 512},
    {.type = GRPC_ARG_INTEGER, .key = GRPC_ARG_TCP_READ_CHUNK_SIZE, .value.integer = 2048},
    {.type = GRPC_ARG_INTEGER, .key = GRPC_ARG_TCP_MAX_READ_CHUNK_SIZE, .value.integer = 65536},
};
static const grpc_channel_args agent_channel_args = {.num_args = sizeof agent_arg_list / sizeof agent_arg_list[0],
                                                     .args = agent_arg_list};

/* "ipv4:A.B.C.D:PORT" / "ipv6:[X::Y]:PORT" for a numeric HOST:PORT; 0 for a name (or anything else). */
static int
ip_literal_target(const char *hp, char *out, size_t cap)
{
    const char *colon = strrchr(hp, ':');
    if (!colon || strchr(hp, '/') || strncmp(hp, "unix", 4) == 0 || strncmp(hp, "dns:", 4) == 0 ||
        strncmp(hp, "ipv", 3) == 0)
        return 0;
    char host[INET6_ADDRSTRLEN + 2];
    size_t hl = (size_t)(colon - hp);
    int v6 = hp[0] == '[';
    if (v6 && (hl < 3 || hp[hl - 1] != ']'))
        return 0;
    const char *h = v6 ? hp + 1 : hp;
    size_t len = v6 ? hl - 2 : hl;
    if (len == 0 || len >= sizeof host)
        return 0;
    memcpy(host, h, len);
    host[len] = '\0';
    unsigned char buf[sizeof(struct in6_addr)];
    if (inet_pton(v6 ? AF_INET6 : AF_INET, host, buf) != 1)
        return 0;
    return snprintf(out, cap, "%s:%s", v6 ? "ipv6" : "ipv4", hp) < (int)cap;
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
    n->heap_idx = -1;
    n->added_ms = rm_wall_ms();
    pthread_mutex_init(&n->mu, NULL);
    rm__fleet_copy(n->view.cap_forecast, sizeof n->view.cap_forecast, "unknown");
    rm__fleet_copy(n->view.cap_emergency, sizeof n->view.cap_emergency, "unknown");
    char hostport[RM_FLEET_ADDR_MAX], authority[RM_FLEET_NAME_MAX];
    if (!rm__fleet_split_address(t->address, hostport, sizeof hostport, authority, sizeof authority))
        rm__fleet_copy(hostport, sizeof hostport, t->address); /* rm_client_create names the problem */
    /* A numeric address needs no resolver: "ipv4:"/"ipv6:" targets skip gRPC's DNS resolution (a
     * blocking lookup per channel, 10 000 at start-up). The :authority stays HOST:PORT, what the dns:
     * target sent (and what TLS checks). */
    char literal[RM_FLEET_ADDR_MAX + 8];
    if (ip_literal_target(hostport, literal, sizeof literal)) {
        if (!authority[0])
            rm__fleet_copy(authority, sizeof authority, hostport);
        rm__fleet_copy(hostport, sizeof hostport, literal);
    }
    rm_client_opts_t co = {
        .target = hostport,
        .timeout_ms = f->o.rpc_timeout_ms,
        .token = f->o.token,
        .tls_ca_file = f->o.tls_ca_file,
        .tls_cert_file = f->o.tls_cert_file,
        .tls_key_file = f->o.tls_key_file,
        .tls_server_name = f->o.tls_server_name,
        .authority = authority[0] ? authority : NULL,
    };
    co.extra_args = &agent_channel_args;
    char err[256];
    if (rm_client_create(&co, &n->client, err, sizeof err) != RM_OK) {
        rm__fleet_log(f, "ERROR", "node %s: %s", t->name, err);
        pthread_mutex_destroy(&n->mu);
        free(n);
        return NULL;
    }
    return n;
}

/* Unschedule n and wait until no pool thread polls it. */
static void
node_stop(struct rm_fleet *f, node_t *n)
{
    pthread_mutex_lock(&f->sched_mu);
    n->stop_sched = 1;
    heap_remove(f, n);
    while (n->in_poll)
        pthread_cond_wait(&f->sched_done_cv, &f->sched_mu);
    pthread_mutex_unlock(&f->sched_mu);
}

static int
cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

rm_status_t
rm_fleet_poll_summary(rm_fleet_t *f, rm_fleet_poll_summary_t *out)
{
    memset(out, 0, sizeof *out);
    out->poll_threads = f->n_pollers;
    out->poll_ms = f->o.poll_ms;
    pthread_mutex_lock(&f->sched_mu);
    rm_fleet_poll_stats_t ps = f->pstats;
    pthread_mutex_unlock(&f->sched_mu);
    out->polls = ps.polls;
    out->poll_failures = ps.failures;
    out->latency_p50_ms = hist_quantile(ps.lat, 0.50);
    out->latency_p99_ms = hist_quantile(ps.lat, 0.99);
    out->lag_p99_ms = hist_quantile(ps.lag, 0.99);

    node_t **nodes = NULL;
    ssize_t k = rm__fleet_select(f, NULL, &nodes);
    if (k < 0)
        return RM_ENOMEM;
    double *stale = k ? malloc((size_t)k * sizeof *stale) : NULL;
    if (k && !stale) {
        rm__fleet_release(f, nodes, (size_t)k);
        return RM_ENOMEM;
    }
    int64_t now = rm_wall_ms();
    for (ssize_t i = 0; i < k; i++) {
        node_t *n = nodes[i];
        pthread_mutex_lock(&n->mu);
        int polled = n->view.polled, reach = n->view.reachable;
        int64_t last = n->view.last_contact_ms, next = n->view.next_poll_ms;
        pthread_mutex_unlock(&n->mu);
        if (!polled)
            out->pending++;
        else if (reach)
            out->reachable++;
        else {
            out->unreachable++;
            if (next > f->o.poll_ms)
                out->backoff++;
        }
        double s = (double)(now - (last ? last : n->added_ms));
        stale[i] = s < 0 ? 0 : s;
        if (stale[i] <= 2.0 * f->o.poll_ms)
            out->fresh++;
    }
    rm__fleet_release(f, nodes, (size_t)k);
    out->nodes = (size_t)k;
    if (k) {
        qsort(stale, (size_t)k, sizeof *stale, cmp_double);
        out->staleness_p50_ms = stale[(size_t)((double)(k - 1) * 0.50)];
        out->staleness_p99_ms = stale[(size_t)((double)(k - 1) * 0.99)];
        out->staleness_max_ms = stale[k - 1];
    }
    free(stale);
    return RM_OK;
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
        node_schedule(f, n);
        rm__fleet_log(f, "INFO", "node %s (%s) added", n->target.name, n->target.address);
    }
    free(started);
    for (size_t i = 0; i < n_gone; i++) {
        rm__fleet_log(f, "INFO", "node %s (%s) removed", gone[i]->target.name, gone[i]->target.address);
        node_stop(f, gone[i]);
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

void
rm_fleet_discover_tick(rm_fleet_t *f)
{
    if (f->o.source != RM_FLEET_SOURCE_FILE && f->o.source != RM_FLEET_SOURCE_DNS)
        return;
    char err[512] = "";
    if (discover(f, 0, err, sizeof err) != RM_OK) {
        /* Keep the fleet we have: a typo or a DNS hiccup must not drop every node. */
        if (strcmp(err, f->disco_last_err) != 0)
            rm__fleet_log(f, "WARN", "discovery: %s (keeping the %zu known nodes)", err, rm_fleet_node_count(f));
        rm__fleet_copy(f->disco_last_err, sizeof f->disco_last_err, err);
    } else {
        f->disco_last_err[0] = '\0';
    }
}

static void *
disco_main(void *arg)
{
    struct rm_fleet *f = arg;
    pthread_mutex_lock(&f->disco_mu);
    while (!f->stopping) {
        struct timespec dl;
        rm_deadline_ts(CLOCK_MONOTONIC, f->o.poll_ms, &dl);
        while (!f->stopping && pthread_cond_timedwait(&f->disco_cv, &f->disco_mu, &dl) != ETIMEDOUT)
            ;
        if (f->stopping)
            break;
        pthread_mutex_unlock(&f->disco_mu);
        rm_fleet_discover_tick(f);
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
    if (!o.poll_threads)
        o.poll_threads = 1;   /* one thread served 10 000 agents best (ADR 0026): no hand-offs between pollers */
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
    if (o.poll_threads < 1 || o.poll_threads > RM_FLEET_MAX_POLL_THREADS) {
        rm__fleet_fmt(err, errcap, "poll threads must be 1..%d", RM_FLEET_MAX_POLL_THREADS);
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
    pthread_mutex_init(&f->sched_mu, NULL);
    cond_init_mono(&f->sched_cv);
    pthread_cond_init(&f->sched_done_cv, NULL);
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    f->jitter_state = ((uint64_t)ts.tv_nsec << 20) ^ (uint64_t)ts.tv_sec ^ 0x9E3779B97F4A7C15ULL;
    *out = f;
    return RM_OK;
}

static void
pool_stop(struct rm_fleet *f)
{
    pthread_mutex_lock(&f->sched_mu);
    f->sched_stop = 1;
    pthread_cond_broadcast(&f->sched_cv);
    pthread_mutex_unlock(&f->sched_mu);
    if (f->sched_started) {
        pthread_join(f->sched, NULL);
        f->sched_started = 0;
    }
    /* Every node is stopped by now (no call in flight): the queue drains at once. */
    if (f->cq)
        grpc_completion_queue_shutdown(f->cq);
    for (int i = 0; i < f->n_pollers; i++)
        pthread_join(f->pollers[i], NULL);
    free(f->pollers);
    f->pollers = NULL;
    f->n_pollers = 0;
    if (f->cq) {
        grpc_completion_queue_destroy(f->cq);
        f->cq = NULL;
        grpc_shutdown();
    }
}

/*
 * Debian's Abseil keeps absl::Mutex deadlock detection on: every lock of
 * every gRPC mutex looks itself up in one global graph whose hash chains
 * grow with the number of mutexes — with 10 000 channels that lookup was 28 %
 * of the controller's CPU (perf, ADR 0026). Turn it off (kIgnore = 0) through
 * the C++ symbol when the library exports it; without it nothing changes.
 */
static void
absl_deadlock_detection_off(void)
{
    static const char *const names[] = {
        "_ZN4absl7debian329SetMutexDeadlockDetectionModeENS0_15OnDeadlockCycleE",
        "_ZN4absl29SetMutexDeadlockDetectionModeENS_15OnDeadlockCycleE",
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        void (*set)(int) = (void (*)(int))dlsym(RTLD_DEFAULT, names[i]);
        if (set) {
            set(0);
            return;
        }
    }
}

rm_status_t
rm_fleet_start(rm_fleet_t *f, char *err, size_t errcap)
{
    absl_deadlock_detection_off();
    grpc_init();
    f->cq = grpc_completion_queue_create_for_next(NULL);
    f->pollers = calloc((size_t)f->o.poll_threads, sizeof *f->pollers);
    if (!f->cq || !f->pollers) {
        pool_stop(f);
        rm__fleet_fmt(err, errcap, "out of memory");
        return RM_ENOMEM;
    }
    for (int i = 0; i < f->o.poll_threads; i++) {
        if (pthread_create(&f->pollers[i], NULL, cq_main, f) != 0) {
            pool_stop(f);
            rm__fleet_fmt(err, errcap, "cannot start the poll threads");
            return RM_ENOMEM;
        }
        f->n_pollers++;
    }
    if (pthread_create(&f->sched, NULL, sched_main, f) != 0) {
        pool_stop(f);
        rm__fleet_fmt(err, errcap, "cannot start the poll scheduler thread");
        return RM_ENOMEM;
    }
    f->sched_started = 1;
    rm_status_t st = discover(f, 1, err, errcap);
    if (st != RM_OK && !(f->o.source == RM_FLEET_SOURCE_DNS && st == RM_ENOENT))
        return st;
    if (st != RM_OK)
        rm__fleet_log(f, "WARN", "%s (will retry every %d ms)", err, f->o.poll_ms);
    if ((f->o.source == RM_FLEET_SOURCE_FILE || f->o.source == RM_FLEET_SOURCE_DNS) && !f->o.discovery_by_caller) {
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
    pool_stop(f);
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
    pthread_mutex_destroy(&f->sched_mu);
    pthread_cond_destroy(&f->sched_cv);
    pthread_cond_destroy(&f->sched_done_cv);
    free(f->heap);
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
