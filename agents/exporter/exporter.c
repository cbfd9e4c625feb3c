/*
 * exporter.c — the agent connection, the /metrics scrape and the REST
 * handlers of rustymem-exporter.
 *
 * Design note: the scrape calls each stats RPC once, in a fixed order, and
 * hands every answer to the generic converter (exp_metrics.c); only alerts
 * (a count per severity) and knobs (string values → numbers) get a few lines
 * of their own. When GetMemoryStats finds the agent unreachable the other
 * RPCs are not tried, so a down agent costs one deadline per scrape, not ten.
 * The shared channel is reference counted: a request thread that saw
 * UNAVAILABLE swaps in a fresh channel (at most once a second) and the old one
 * is destroyed by whoever drops its last reference.
 */
#include "exporter.h"

#include <dirent.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "grpc/health/v1/health.pb-c.h"
#include "log.h"
#include "rustymem/v1/forecast.pb-c.h"
#include "rustymem/v1/memory.pb-c.h"
#include "rustymem/v1/tuning.pb-c.h"

#define REFRESH_MIN_NS 1000000000ull /* a fresh channel at most once a second */
#define N_CODES 17

/* Every RPC the exporter makes; index = row of the call counters. */
typedef struct rpc_def {
    const char *name;   /* short name: label value rpc="…" */
    const char *path;
    const ProtobufCMessageDescriptor *req, *resp;
    const char *family; /* metric family after rustymem_; NULL = handled apart */
} rpc_def_t;

/* An RPC of rustymem.v1.SVC: NAME, its path, the request and response descriptors (protobuf-c names). */
#define V1(svc, name, req, resp, family)                                                                     \
    {#name, "/rustymem.v1." #svc "/" #name, &rustymem__v1__##req##__descriptor,                              \
     &rustymem__v1__##resp##__descriptor, family}
static const rpc_def_t rpcs[] = {
    V1(MemoryService, GetMemoryStats, get_memory_stats_request, memory_stats, "memory"),
    V1(MemoryService, GetFragmentationStats, get_fragmentation_stats_request, fragmentation_stats,
       "fragmentation"),
    V1(MemoryService, GetSlabStats, get_slab_stats_request, slab_stats, "slab"),
    V1(MemoryService, GetArenaStats, get_arena_stats_request, arena_stats, "arena"),
    V1(MemoryService, GetBufferPoolStats, get_buffer_pool_stats_request, buffer_pool_stats, "buffer_pool"),
    V1(MemoryService, GetLargeObjectStats, get_large_object_stats_request, large_object_stats,
       "large_object"),
    V1(ForecastService, GetForecast, get_forecast_request, forecast, "forecast"),
    V1(ForecastService, ListAlerts, list_alerts_request, list_alerts_response, NULL),
    V1(TuningService, ListKnobs, list_knobs_request, list_knobs_response, NULL),
    V1(MemoryService, GetEngineStats, get_engine_stats_request, engine_stats, "engine"),
    {"Check", "/grpc.health.v1.Health/Check", &grpc__health__v1__health_check_request__descriptor,
     &grpc__health__v1__health_check_response__descriptor, NULL},
};
#undef V1
#define N_RPCS (sizeof rpcs / sizeof rpcs[0])
#define RPC_SCRAPED (N_RPCS - 1) /* Check is for /readyz only */
#define RPC_MEMORY 0
#define RPC_FRAGMENTATION 1
#define RPC_BUFFER_POOL 4
#define RPC_FORECAST 6
#define RPC_ALERTS 7
#define RPC_KNOBS 8
#define RPC_CHECK 10

static const char *const http_paths[] = {"/metrics",
                                         "/api/v1/stats/memory",
                                         "/api/v1/stats/memory/forecast",
                                         "/api/v1/stats/buffer_pool",
                                         "/healthz",
                                         "/readyz",
                                         "/",
                                         "other"};
#define N_PATHS (sizeof http_paths / sizeof http_paths[0])
static const int http_codes[] = {200, 400, 404, 405, 413, 500, 502, 503};
#define N_HCODES (sizeof http_codes / sizeof http_codes[0])

/*
 * Why a scrape could not read (all of) the agent: the value of the code label
 * of rustymem_scrape_error and rustymem_exporter_scrape_errors_total. A small
 * fixed set so the series are always present and bounded.
 */
enum { SE_UNAUTHENTICATED, SE_PERMISSION_DENIED, SE_UNAVAILABLE, SE_DEADLINE_EXCEEDED, SE_OTHER, N_SCRAPE_ERRORS };
static const char *const scrape_error_names[N_SCRAPE_ERRORS] = {"unauthenticated", "permission_denied",
                                                                "unavailable", "deadline_exceeded", "other"};

/* The class of a failed call, or -1 when it is no scrape error (OK, UNIMPLEMENTED). */
static int
scrape_error_class(grpc_status_code code)
{
    switch (code) {
    case GRPC_STATUS_OK:
    case GRPC_STATUS_UNIMPLEMENTED: return -1; /* an agent without the RPC: rustymem_scrape_rpc_up says so */
    case GRPC_STATUS_UNAUTHENTICATED: return SE_UNAUTHENTICATED;
    case GRPC_STATUS_PERMISSION_DENIED: return SE_PERMISSION_DENIED;
    case GRPC_STATUS_UNAVAILABLE:
    case GRPC_STATUS_CANCELLED: return SE_UNAVAILABLE; /* the agent cancels calls while it stops */
    case GRPC_STATUS_DEADLINE_EXCEEDED: return SE_DEADLINE_EXCEEDED;
    default: return SE_OTHER;
    }
}

typedef struct chan {
    rm_client_t *client;
    int refs;          /* guarded by exporter mu */
    int retired;       /* guarded by exporter mu */
    uint64_t born_ns;  /* monotonic */
} chan_t;

struct rm_exporter {
    pthread_mutex_t mu;
    chan_t *cur;                            /* guarded by mu */
    rm_client_opts_t copts;                 /* strings owned below */
    char *target, *token, *ca, *cert, *key, *server_name;
    const char *version;
    uint64_t calls[N_RPCS][N_CODES];        /* guarded by mu */
    uint64_t http[N_PATHS][N_HCODES];       /* guarded by mu */
    uint64_t scrapes;                       /* guarded by mu */
    uint64_t refreshes;                     /* guarded by mu */
    int last_up;                            /* guarded by mu; -1 unknown */
    int last_auth[N_RPCS];                  /* guarded by mu; last OK/UNAUTHENTICATED/PERMISSION_DENIED per RPC */
    uint64_t scrape_errors[N_SCRAPE_ERRORS];/* guarded by mu; scrapes that saw each error class */
};

static uint64_t
now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static char *
dup_opt(const char *s, int *oom)
{
    if (!s)
        return NULL;
    char *d = strdup(s);
    if (!d)
        *oom = 1;
    return d;
}

static chan_t *
chan_new(rm_exporter_t *e, char *err, size_t errcap, rm_status_t *st)
{
    chan_t *c = calloc(1, sizeof *c);
    if (!c) {
        *st = RM_ENOMEM;
        snprintf(err, errcap, "out of memory");
        return NULL;
    }
    *st = rm_client_create(&e->copts, &c->client, err, errcap);
    if (*st != RM_OK) {
        free(c);
        return NULL;
    }
    c->born_ns = now_ns();
    return c;
}

/* Free e with its copies of the options (the channel and the mutex are the caller's to release first). */
static void
free_exporter(rm_exporter_t *e)
{
    free(e->target);
    free(e->token);
    free(e->ca);
    free(e->cert);
    free(e->key);
    free(e->server_name);
    free(e);
}

rm_status_t
rm_exporter_create(const rm_exporter_opts_t *o, rm_exporter_t **out, char *err, size_t errcap)
{
    *out = NULL;
    rm_exporter_t *e = calloc(1, sizeof *e);
    if (!e) {
        snprintf(err, errcap, "out of memory");
        return RM_ENOMEM;
    }
    int oom = 0;
    e->target = dup_opt(o->client.target, &oom);
    e->token = dup_opt(o->client.token, &oom);
    e->ca = dup_opt(o->client.tls_ca_file, &oom);
    e->cert = dup_opt(o->client.tls_cert_file, &oom);
    e->key = dup_opt(o->client.tls_key_file, &oom);
    e->server_name = dup_opt(o->client.tls_server_name, &oom);
    e->copts = (rm_client_opts_t){.target = e->target, .timeout_ms = o->client.timeout_ms, .token = e->token,
                                  .tls_ca_file = e->ca, .tls_cert_file = e->cert, .tls_key_file = e->key,
                                  .tls_server_name = e->server_name};
    e->version = o->version ? o->version : "dev";
    e->last_up = -1;
    rm_status_t st = RM_ENOMEM;
    if (oom)
        snprintf(err, errcap, "out of memory");
    else
        e->cur = chan_new(e, err, errcap, &st);
    if (!e->cur) {
        free_exporter(e);
        return st;
    }
    pthread_mutex_init(&e->mu, NULL);
    *out = e;
    return RM_OK;
}

void
rm_exporter_destroy(rm_exporter_t *e)
{
    if (!e)
        return;
    if (e->cur) {
        rm_client_destroy(e->cur->client);
        free(e->cur);
    }
    pthread_mutex_destroy(&e->mu);
    free_exporter(e);
}

static chan_t *
chan_get(rm_exporter_t *e)
{
    pthread_mutex_lock(&e->mu);
    chan_t *c = e->cur;
    c->refs++;
    pthread_mutex_unlock(&e->mu);
    return c;
}

static void
chan_put(rm_exporter_t *e, chan_t *c, int unreachable)
{
    chan_t *dead = NULL;
    pthread_mutex_lock(&e->mu);
    if (unreachable && c == e->cur && now_ns() - c->born_ns >= REFRESH_MIN_NS) {
        char err[256];
        rm_status_t st;
        chan_t *fresh = chan_new(e, err, sizeof err, &st);
        if (fresh) { /* else keep the old channel: it reconnects by itself, only later */
            c->retired = 1;
            e->cur = fresh;
            e->refreshes++;
        }
    }
    if (--c->refs == 0 && c->retired)
        dead = c;
    pthread_mutex_unlock(&e->mu);
    if (dead) {
        rm_client_destroy(dead->client);
        free(dead);
    }
}

static size_t
rpc_index(const char *path)
{
    for (size_t i = 0; i < N_RPCS; i++)
        if (strcmp(rpcs[i].path, path) == 0)
            return i;
    return N_RPCS;
}

grpc_status_code
rm_exporter_call(rm_exporter_t *e, const char *path, const ProtobufCMessage *req,
                 const ProtobufCMessageDescriptor *resp_desc, ProtobufCMessage **resp, rm_call_status_t *st)
{
    chan_t *c = chan_get(e);
    grpc_status_code code = rm_client_unary(c->client, path, req, resp_desc, resp, st);
    chan_put(e, c, code == GRPC_STATUS_UNAVAILABLE);
    size_t i = rpc_index(path);
    if (i < N_RPCS && (unsigned)code < N_CODES) {
        /* Credentials refused or accepted again: say so once per change and RPC, naming the agent. */
        int auth = code == GRPC_STATUS_UNAUTHENTICATED || code == GRPC_STATUS_PERMISSION_DENIED ? (int)code
                   : code == GRPC_STATUS_OK                                                      ? 0
                                                                                                 : -1;
        pthread_mutex_lock(&e->mu);
        e->calls[i][code]++;
        int was = e->last_auth[i];
        if (auth >= 0)
            e->last_auth[i] = auth;
        pthread_mutex_unlock(&e->mu);
        int unauth = auth == GRPC_STATUS_UNAUTHENTICATED;
        if (auth > 0 && auth != was)
            rm_log("WARN", "agent %s: %s: %s refused the exporter's %s (%s: %s); %s", e->target,
                   unauth ? "unauthenticated" : "permission denied", rpcs[i].name,
                   e->token ? "bearer token" : "call without a token", rm_client_status_name(code),
                   st ? st->message : "",
                   unauth ? "give a token the agent's --auth-file knows (--token, --token-file or "
                            "RUSTYMEM_TOKEN)"
                          : "the token needs the reader role");
        else if (auth == 0 && was > 0)
            rm_log("INFO", "agent %s: %s accepts the exporter's credentials again", e->target, rpcs[i].name);
    }
    return code;
}

void
rm_exporter_count_http(rm_exporter_t *e, const char *path, int status)
{
    size_t p = N_PATHS - 1, k;
    for (size_t i = 0; i + 1 < N_PATHS; i++)
        if (path && strcmp(path, http_paths[i]) == 0)
            p = i;
    for (k = 0; k < N_HCODES; k++)
        if (http_codes[k] == status)
            break;
    if (k == N_HCODES)
        return;
    pthread_mutex_lock(&e->mu);
    e->http[p][k]++;
    pthread_mutex_unlock(&e->mu);
}

/* Call rpcs[i] with an empty request. */
static grpc_status_code
call_empty(rm_exporter_t *e, size_t i, ProtobufCMessage **resp, rm_call_status_t *st)
{
    *resp = NULL;
    ProtobufCMessage *req = calloc(1, rpcs[i].req->sizeof_message);
    if (!req) {
        snprintf(st->message, sizeof st->message, "out of memory");
        st->code = GRPC_STATUS_RESOURCE_EXHAUSTED;
        return st->code;
    }
    protobuf_c_message_init(rpcs[i].req, req);
    grpc_status_code code = rm_exporter_call(e, rpcs[i].path, req, rpcs[i].resp, resp, st);
    free(req);
    return code;
}

static int
unreachable(grpc_status_code code)
{
    /* CANCELLED: the agent cancels calls while it shuts down */
    return code == GRPC_STATUS_UNAVAILABLE || code == GRPC_STATUS_DEADLINE_EXCEEDED ||
           code == GRPC_STATUS_CANCELLED;
}

static void
add_alerts(rm_exp_reg_t *reg, const Rustymem__V1__ListAlertsResponse *r)
{
    static const char *const sev[] = {"warning", "critical"};
    rm_exp_convert(reg, &r->base, "", "rustymem.v1.ForecastService/ListAlerts", NULL);
    for (size_t s = 0; s < 2; s++) {
        size_t n = 0;
        for (size_t i = 0; i < r->n_alerts; i++)
            if (r->alerts[i]->severity && strcmp(r->alerts[i]->severity, sev[s]) == 0)
                n++;
        char l[64] = "";
        rm_exp_label_append(l, sizeof l, "severity", sev[s]);
        rm_exp_reg_add(reg, "rustymem_alerts_active", RM_EXP_GAUGE,
                       "Alerts the agent currently raises, by severity", l, (double)n);
    }
}

static void
add_knobs(rm_exp_reg_t *reg, const Rustymem__V1__ListKnobsResponse *r)
{
    for (size_t i = 0; i < r->n_knobs; i++) {
        const Rustymem__V1__KnobInfo *k = r->knobs[i];
        char l[RM_EXP_LABELS_MAX] = "";
        double v;
        if (rm_exp_label_append(l, sizeof l, "knob", k->name) != RM_OK)
            continue;
        if (rm_exp_parse_knob_value(k->type, k->value, &v) == RM_OK) {
            rm_exp_reg_add(reg, "rustymem_knob_value", RM_EXP_GAUGE,
                           "Current value of each numeric or bool knob in base units (bytes, ratio, count; "
                           "bool 1/0)",
                           l, v);
            rm_exp_reg_add(reg, "rustymem_knob_pending_restart", RM_EXP_GAUGE,
                           "1 when a changed knob takes effect only after a restart",
                           l, k->pending_restart ? 1 : 0);
        } else if (k->value && strlen(k->value) <= 128 &&
                   rm_exp_label_append(l, sizeof l, "value", k->value) == RM_OK) {
            rm_exp_reg_add(reg, "rustymem_knob_info", RM_EXP_GAUGE,
                           "Enum and list knobs with their current value as a label; always 1",
                           l, 1);
        }
    }
}

static void
add_own_counters(rm_exporter_t *e, rm_exp_reg_t *reg)
{
    pthread_mutex_lock(&e->mu);
    for (size_t i = 0; i < N_RPCS; i++)
        for (size_t c = 0; c < N_CODES; c++) {
            if (!e->calls[i][c])
                continue;
            char l[128] = "";
            rm_exp_label_append(l, sizeof l, "rpc", rpcs[i].name);
            rm_exp_label_append(l, sizeof l, "code", rm_client_status_name((grpc_status_code)c));
            rm_exp_reg_add(reg, "rustymem_exporter_grpc_calls_total", RM_EXP_COUNTER,
                           "gRPC calls the exporter made to the agent, by RPC and status code", l,
                           (double)e->calls[i][c]);
        }
    for (size_t p = 0; p < N_PATHS; p++)
        for (size_t k = 0; k < N_HCODES; k++) {
            if (!e->http[p][k])
                continue;
            char l[128] = "", code[8];
            snprintf(code, sizeof code, "%d", http_codes[k]);
            rm_exp_label_append(l, sizeof l, "path", http_paths[p]);
            rm_exp_label_append(l, sizeof l, "code", code);
            rm_exp_reg_add(reg, "rustymem_exporter_http_requests_total", RM_EXP_COUNTER,
                           "HTTP requests the exporter answered, by path (unknown paths as \"other\") and "
                           "status code",
                           l, (double)e->http[p][k]);
        }
    rm_exp_reg_add(reg, "rustymem_exporter_scrapes_total", RM_EXP_COUNTER,
                   "Scrapes of /metrics served since the exporter started", NULL, (double)e->scrapes);
    for (size_t k = 0; k < N_SCRAPE_ERRORS; k++) {
        char l[64] = "";
        rm_exp_label_append(l, sizeof l, "code", scrape_error_names[k]);
        rm_exp_reg_add(reg, "rustymem_exporter_scrape_errors_total", RM_EXP_COUNTER,
                       "Scrapes in which an RPC to the agent failed, by reason (see rustymem_scrape_error)", l,
                       (double)e->scrape_errors[k]);
    }
    rm_exp_reg_add(reg, "rustymem_exporter_channel_refreshes_total", RM_EXP_COUNTER,
                   "Times the exporter replaced its gRPC channel after the agent was unreachable", NULL,
                   (double)e->refreshes);
    pthread_mutex_unlock(&e->mu);
    char l[512] = "";
    rm_exp_label_append(l, sizeof l, "version", e->version);
    rm_exp_label_append(l, sizeof l, "agent", e->target);
    rm_exp_reg_add(reg, "rustymem_exporter_build_info", RM_EXP_GAUGE,
                   "rustymem-exporter version and the agent address it reads; always 1", l, 1);
}

/*
 * rustymem_agent_process_start_time_seconds from MemoryStats (its RSS and
 * virtual size come from the converter's renames): the answer's time minus
 * the agent's uptime, so it changes only when the agent restarts.
 */
static void
add_agent_process(rm_exp_reg_t *reg, const Rustymem__V1__MemoryStats *m)
{
    if (m->timestamp_unix_ms <= 0 || m->uptime_seconds <= 0)
        return;
    char help[256];
    rm_exp_help("rustymem_agent_process_start_time_seconds", 0, help, sizeof help);
    rm_exp_reg_add(reg, "rustymem_agent_process_start_time_seconds", RM_EXP_GAUGE, help, NULL,
                   floor((double)m->timestamp_unix_ms / 1e3 - m->uptime_seconds));
}

/*
 * The standard process_* metrics of the exporter itself (as every Prometheus
 * client library exports them), from /proc/self: CPU time, resident and
 * virtual memory, start time, open and maximum file descriptors.
 */
static void
add_own_process(rm_exp_reg_t *reg)
{
    long tck = sysconf(_SC_CLK_TCK), page = sysconf(_SC_PAGESIZE);
    FILE *f = fopen("/proc/self/stat", "r");
    if (f && tck > 0 && page > 0) {
        char buf[1024];
        size_t n = fread(buf, 1, sizeof buf - 1, f);
        buf[n] = '\0';
        /* fields after the command name "(…)", which may contain spaces */
        const char *p = strrchr(buf, ')');
        unsigned long utime = 0, stime = 0, vsize = 0;
        unsigned long long start = 0;
        long rss = 0;
        if (p && sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu %*d %*d %*d %*d %*d %*d %llu %lu %ld",
                        &utime, &stime, &start, &vsize, &rss) == 5) {
            rm_exp_reg_add(reg, "process_cpu_seconds_total", RM_EXP_COUNTER,
                           "User and system CPU time the exporter process spent, in seconds", NULL,
                           (double)(utime + stime) / (double)tck);
            rm_exp_reg_add(reg, "process_resident_memory_bytes", RM_EXP_GAUGE,
                           "Resident memory of the exporter process, in bytes", NULL, (double)rss * (double)page);
            rm_exp_reg_add(reg, "process_virtual_memory_bytes", RM_EXP_GAUGE,
                           "Virtual memory size of the exporter process, in bytes", NULL, (double)vsize);
            FILE *u = fopen("/proc/stat", "r");
            char line[256];
            double btime = -1;
            while (u && fgets(line, sizeof line, u))
                if (strncmp(line, "btime ", 6) == 0)
                    btime = strtod(line + 6, NULL);
            if (u)
                fclose(u);
            if (btime >= 0)
                rm_exp_reg_add(reg, "process_start_time_seconds", RM_EXP_GAUGE,
                               "When the exporter process started, as Unix time in seconds", NULL,
                               btime + (double)start / (double)tck);
        }
    }
    if (f)
        fclose(f);
    DIR *d = opendir("/proc/self/fd");
    if (d) {
        double fds = -1; /* not counted: the descriptor opendir holds */
        while (readdir(d))
            fds++;
        closedir(d);
        rm_exp_reg_add(reg, "process_open_fds", RM_EXP_GAUGE, "File descriptors the exporter process has open",
                       NULL, fds - 2); /* minus "." and ".." */
    }
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
        rm_exp_reg_add(reg, "process_max_fds", RM_EXP_GAUGE,
                       "Most file descriptors the exporter process may open", NULL, (double)rl.rlim_cur);
}

rm_status_t
rm_exporter_scrape(rm_exporter_t *e, char **text, size_t *len)
{
    *text = NULL;
    *len = 0;
    uint64_t t0 = now_ns();
    rm_exp_reg_t *reg;
    if (rm_exp_reg_create(&reg) != RM_OK)
        return RM_ENOMEM;
    int up = 0, down = 0;
    int err_seen[N_SCRAPE_ERRORS] = {0};
    grpc_status_code mem_code = GRPC_STATUS_OK;
    int rpc_up[N_RPCS] = {0};
    double rpc_secs[N_RPCS] = {0};
    for (size_t i = 0; i < RPC_SCRAPED; i++) {
        if (down)
            continue;
        ProtobufCMessage *resp = NULL;
        rm_call_status_t st = {0};
        uint64_t c0 = now_ns();
        grpc_status_code code = call_empty(e, i, &resp, &st);
        rpc_secs[i] = (double)(now_ns() - c0) / 1e9;
        if (i == RPC_MEMORY)
            mem_code = code;
        if (code != GRPC_STATUS_OK) {
            int cls = scrape_error_class(code);
            if (cls >= 0)
                err_seen[cls] = 1;
            /*
             * The rest would only wait for their deadlines, or be refused the
             * same way: every scraped RPC needs the reader role that a denied
             * GetMemoryStats shows the token lacks.
             */
            if (unreachable(code) || code == GRPC_STATUS_UNAUTHENTICATED ||
                (i == RPC_MEMORY && code == GRPC_STATUS_PERMISSION_DENIED))
                down = 1;
            continue;
        }
        rpc_up[i] = 1;
        if (i == RPC_MEMORY)
            up = 1;
        char source[128];
        snprintf(source, sizeof source, "%s", rpcs[i].path + 1);
        if (rpcs[i].family)
            rm_exp_convert(reg, resp, rpcs[i].family, source, NULL);
        if (i == RPC_MEMORY)
            add_agent_process(reg, (const Rustymem__V1__MemoryStats *)resp);
        else if (i == RPC_ALERTS)
            add_alerts(reg, (const Rustymem__V1__ListAlertsResponse *)resp);
        else if (i == RPC_KNOBS)
            add_knobs(reg, (const Rustymem__V1__ListKnobsResponse *)resp);
        protobuf_c_message_free_unpacked(resp, NULL);
    }
    rm_exp_reg_add(reg, "rustymem_up", RM_EXP_GAUGE,
                   "1 when this scrape could read the agent's memory statistics (GetMemoryStats OK), else 0",
                   NULL, up);
    for (size_t i = 0; i < RPC_SCRAPED; i++) {
        char l[128] = "";
        rm_exp_label_append(l, sizeof l, "rpc", rpcs[i].name);
        rm_exp_reg_add(reg, "rustymem_scrape_rpc_up", RM_EXP_GAUGE,
                       "1 when the RPC answered OK in this scrape; 0 when it failed, is not implemented by "
                       "this agent (its metrics are then absent) or was skipped because the agent is down",
                       l, rpc_up[i]);
        if (rpc_secs[i] > 0)
            rm_exp_reg_add(reg, "rustymem_scrape_rpc_duration_seconds", RM_EXP_GAUGE,
                           "Time the RPC took in this scrape", l, rpc_secs[i]);
    }
    for (size_t k = 0; k < N_SCRAPE_ERRORS; k++) {
        char l[64] = "";
        rm_exp_label_append(l, sizeof l, "code", scrape_error_names[k]);
        rm_exp_reg_add(reg, "rustymem_scrape_error", RM_EXP_GAUGE,
                       "1 when an RPC of this scrape failed for this reason (unauthenticated: the agent does "
                       "not know the exporter's token; permission_denied: the token lacks the reader role; "
                       "unavailable, deadline_exceeded, other), else 0",
                       l, err_seen[k]);
    }
    pthread_mutex_lock(&e->mu);
    e->scrapes++;
    for (size_t k = 0; k < N_SCRAPE_ERRORS; k++)
        e->scrape_errors[k] += (uint64_t)err_seen[k];
    int was = e->last_up;
    e->last_up = up;
    pthread_mutex_unlock(&e->mu);
    if (was != up) {
        const char *why = mem_code == GRPC_STATUS_UNAUTHENTICATED    ? "unreadable: unauthenticated (rustymem_up 0)"
                          : mem_code == GRPC_STATUS_PERMISSION_DENIED ? "unreadable: permission denied (rustymem_up 0)"
                          : unreachable(mem_code)                     ? "down (rustymem_up 0)"
                                                                      : "unreadable (rustymem_up 0)";
        if (up)
            rm_log("INFO", "agent %s is up", e->target);
        else
            rm_log("WARN", "agent %s is %s: GetMemoryStats %s", e->target, why,
                   rm_client_status_name(mem_code));
    }
    add_own_counters(e, reg);
    add_own_process(reg);
    rm_exp_reg_add(reg, "rustymem_scrape_duration_seconds", RM_EXP_GAUGE,
                   "Time this scrape took, all RPCs included", NULL, (double)(now_ns() - t0) / 1e9);
    rm_status_t st = rm_exp_reg_render(reg, text, len);
    rm_exp_reg_destroy(reg);
    return st;
}

/* ---- REST ---------------------------------------------------------------- */

/* curl prints the body; end it with a newline like every other CLI output. */
static char *
with_newline(char *s)
{
    if (!s)
        return NULL;
    size_t n = strlen(s);
    char *t = realloc(s, n + 2);
    if (!t) {
        free(s);
        return NULL;
    }
    t[n] = '\n';
    t[n + 1] = '\0';
    return t;
}

char *
rm_exporter_json_error(int status, const char *msg, grpc_status_code code, const char *detail)
{
    json_t *j = json_pack("{s:s, s:i}", "error", msg, "status", status);
    if (!j)
        return NULL;
    if (code != GRPC_STATUS_OK) {
        json_object_set_new(j, "grpc_code", json_string(rm_client_status_name(code)));
        if (detail && *detail)
            json_object_set_new(j, "grpc_message", json_string(detail));
    }
    char *s = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(12));
    json_decref(j);
    return with_newline(s);
}

/* The HTTP answer for a failed RPC. `what` names the capability. */
static void
rpc_error(const char *what, const rm_call_status_t *st, int *status, char **body)
{
    char msg[256];
    if (st->code == GRPC_STATUS_UNIMPLEMENTED) {
        *status = 503;
        snprintf(msg, sizeof msg, "%s is not available: this rustymemd does not provide it yet", what);
    } else if (unreachable(st->code)) {
        *status = 503;
        snprintf(msg, sizeof msg, "the rustymem agent is unavailable (is rustymemd running?)");
    } else if (st->code == GRPC_STATUS_UNAUTHENTICATED) {
        *status = 502;
        snprintf(msg, sizeof msg,
                 "unauthenticated: the rustymem agent does not accept the exporter's credentials for %s (give "
                 "rustymem-exporter a token from the agent's --auth-file: --token-file or RUSTYMEM_TOKEN)",
                 what);
    } else if (st->code == GRPC_STATUS_PERMISSION_DENIED) {
        *status = 502;
        snprintf(msg, sizeof msg,
                 "permission denied: the exporter's token lacks the reader role the agent requires for %s", what);
    } else {
        *status = 502;
        snprintf(msg, sizeof msg, "the rustymem agent refused the request for %s", what);
    }
    *body = rm_exporter_json_error(*status, msg, st->code, st->message);
}

static char *
dump(json_t *j)
{
    if (!j)
        return NULL;
    char *s = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(12));
    json_decref(j);
    return with_newline(s);
}

/* Call rpcs[i] for a REST answer: the reply, or NULL with the HTTP error for `what` in *status and *body. */
static ProtobufCMessage *
rest_call(rm_exporter_t *e, size_t i, const char *what, int *status, char **body)
{
    ProtobufCMessage *m = NULL;
    rm_call_status_t st = {0};
    if (call_empty(e, i, &m, &st) != GRPC_STATUS_OK) {
        rpc_error(what, &st, status, body);
        return NULL;
    }
    return m;
}

/* Answer 200 with `j` (consumed) and free the reply `m` it was built from. */
static void
rest_ok(json_t *j, ProtobufCMessage *m, int *status, char **body)
{
    *status = 200;
    *body = dump(j);
    protobuf_c_message_free_unpacked(m, NULL);
}

static double
round2(double v)
{
    return round(v * 100.0) / 100.0;
}

static double
mib(uint64_t b)
{
    return round2((double)b / 1048576.0);
}

static int
by_memory_desc(const void *a, const void *b)
{
    double x = json_real_value(json_object_get(*(json_t *const *)a, "memory_mb"));
    double y = json_real_value(json_object_get(*(json_t *const *)b, "memory_mb"));
    return x < y ? 1 : x > y ? -1 : 0;
}

/*
 * The seed's memory_stats() over REST. Total, used and usage_pct are the one
 * usage measure (MemoryStats.budget_bytes, used_bytes, usage_ratio: ADR 0013),
 * the figures the agent's responder and alerts use. Components carry
 * "nested": true when their memory is drawn from another component (records
 * in slab classes or large objects) or the heap; the memcore_* totals add up
 * the components that are not nested, so no byte is counted twice, and
 * other_memory_* is the part of used_memory that no component holds.
 */
void
rm_exporter_rest_memory(rm_exporter_t *e, int *status, char **body)
{
    ProtobufCMessage *m = rest_call(e, RPC_MEMORY, "memory statistics", status, body), *f = NULL;
    rm_call_status_t fst = {0};
    if (!m)
        return;
    call_empty(e, RPC_FRAGMENTATION, &f, &fst); /* fragmentation is optional */
    const Rustymem__V1__MemoryStats *ms = (const void *)m;
    const Rustymem__V1__FragmentationStats *fs = (const void *)f;
    uint64_t total = ms->budget_bytes, used = ms->used_bytes, avail = total > used ? total - used : 0;
    uint64_t top_used = 0, top_held = 0;
    json_t *j = json_object();
    json_t *comps = json_array();
    json_t *arr[64];
    size_t n = ms->n_components < 64 ? ms->n_components : 64;
    for (size_t i = 0; i < n; i++) {
        const Rustymem__V1__ComponentUsage *c = ms->components[i];
        json_t *o = json_object();
        json_object_set_new(o, "component", json_string(c->component ? c->component : ""));
        json_object_set_new(o, "memory_mb", json_real(mib(c->used_bytes)));
        json_object_set_new(o, "percentage", json_real(round2(c->percentage)));
        json_object_set_new(o, "used_bytes", rm_json_u64(c->used_bytes));
        json_object_set_new(o, "held_bytes", rm_json_u64(c->held_bytes));
        json_object_set_new(o, "held_mb", json_real(mib(c->held_bytes)));
        json_object_set_new(o, "nested", json_boolean(c->nested));
        if (!c->nested) {
            top_used += c->used_bytes;
            top_held += c->held_bytes;
        }
        json_t *fr = json_null(), *fst_s = json_null();
        for (size_t k = 0; fs && k < fs->n_components; k++) {
            const Rustymem__V1__ComponentFragmentation *cf = fs->components[k];
            if (cf->component && c->component && strcmp(cf->component, c->component) == 0) {
                fr = json_real(cf->fragmentation_ratio);
                fst_s = json_string(cf->status ? cf->status : "");
            }
        }
        json_object_set_new(o, "fragmentation", fr);
        json_object_set_new(o, "fragmentation_status", fst_s);
        arr[i] = o;
    }
    qsort(arr, n, sizeof arr[0], by_memory_desc);
    for (size_t i = 0; i < n; i++)
        json_array_append_new(comps, arr[i]);
    uint64_t other = used > top_held ? used - top_held : 0;
    json_object_set_new(j, "node_name", json_string(ms->node_name ? ms->node_name : ""));
    json_object_set_new(j, "timestamp_unix_ms", rm_json_i64(ms->timestamp_unix_ms));
    json_object_set_new(j, "sampled_at_unix_ms", rm_json_i64(ms->sampled_at_unix_ms));
    json_object_set_new(j, "total_memory_bytes", rm_json_u64(total));
    json_object_set_new(j, "used_memory_bytes", rm_json_u64(used));
    json_object_set_new(j, "available_memory_bytes", rm_json_u64(avail));
    json_object_set_new(j, "total_memory_mb", json_real(mib(total)));
    json_object_set_new(j, "used_memory_mb", json_real(mib(used)));
    json_object_set_new(j, "available_memory_mb", json_real(mib(avail)));
    json_object_set_new(j, "usage_ratio", json_real(ms->usage_ratio));
    json_object_set_new(j, "usage_pct", json_real(round2(ms->usage_ratio * 100.0)));
    json_object_set_new(j, "usage_source", json_string(ms->usage_source ? ms->usage_source : ""));
    json_object_set_new(j, "budget_source", json_string(ms->budget_source ? ms->budget_source : ""));
    json_object_set_new(j, "rss_bytes", rm_json_u64(ms->rss_bytes));
    json_object_set_new(j, "rss_budget_ratio", json_real(ms->rss_budget_ratio));
    json_object_set_new(j, "memcore_used_bytes", rm_json_u64(top_used));
    json_object_set_new(j, "memcore_held_bytes", rm_json_u64(top_held));
    json_object_set_new(j, "memcore_used_mb", json_real(mib(top_used)));
    json_object_set_new(j, "memcore_held_mb", json_real(mib(top_held)));
    json_object_set_new(j, "other_memory_bytes", rm_json_u64(other));
    json_object_set_new(j, "other_memory_mb", json_real(mib(other)));
    json_object_set_new(j, "components", comps);
    if (fs)
        json_object_set_new(j, "fragmentation", json_pack("{s:f, s:s}", "overall_ratio", fs->overall_ratio,
                                                          "overall_status", fs->overall_status ? fs->overall_status : ""));
    else
        json_object_set_new(j, "fragmentation", json_null());
    json_object_set_new(j, "details", rm_pb_to_json(m));
    rest_ok(j, m, status, body);
    if (f)
        protobuf_c_message_free_unpacked(f, NULL);
}

static const char *
level_name(int level)
{
    const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value(&rustymem__v1__pressure_level__descriptor, level);
    static const char prefix[] = "PRESSURE_LEVEL_";
    if (!v)
        return "unknown";
    return strncmp(v->name, prefix, sizeof prefix - 1) == 0 ? v->name + sizeof prefix - 1 : v->name;
}

void
rm_exporter_rest_forecast(rm_exporter_t *e, int *status, char **body)
{
    ProtobufCMessage *m = rest_call(e, RPC_FORECAST, "forecasting", status, body);
    if (!m)
        return;
    const Rustymem__V1__Forecast *f = (const void *)m;
    json_t *j = rm_pb_to_json(m);
    if (j) {
        json_object_set_new(j, "current_level_name", json_string(level_name(f->current_level)));
        json_object_set_new(j, "usage_pct", json_real(round2(f->usage_ratio * 100.0)));
        json_t *hs = json_object_get(j, "horizons");
        for (size_t i = 0; hs && i < json_array_size(hs) && i < f->n_horizons; i++)
            json_object_set_new(json_array_get(hs, i), "predicted_level_name",
                                json_string(level_name(f->horizons[i]->predicted_level)));
        if (!f->has_time_to_critical)
            json_object_set_new(j, "time_to_critical_seconds", json_null());
    }
    rest_ok(j, m, status, body);
}

void
rm_exporter_rest_buffer_pool(rm_exporter_t *e, int *status, char **body)
{
    ProtobufCMessage *m = rest_call(e, RPC_BUFFER_POOL, "the buffer pool", status, body);
    if (!m)
        return;
    const Rustymem__V1__BufferPoolStats *b = (const void *)m;
    json_t *j = json_object();
    json_object_set_new(j, "total_frames", rm_json_u64(b->total_frames));
    json_object_set_new(j, "used_frames", rm_json_u64(b->used_frames));
    double util = b->total_frames ? 100.0 * (double)b->used_frames / (double)b->total_frames : 0.0;
    json_object_set_new(j, "utilization_pct", json_real(round2(util)));
    json_object_set_new(j, "hit_ratio", json_real(b->hit_ratio));
    json_object_set_new(j, "details", rm_pb_to_json(m));
    rest_ok(j, m, status, body);
}

void
rm_exporter_readyz(rm_exporter_t *e, int *status, char **body)
{
    ProtobufCMessage *m = NULL;
    rm_call_status_t st = {0};
    grpc_status_code code = call_empty(e, RPC_CHECK, &m, &st);
    if (code != GRPC_STATUS_OK) {
        *status = 503;
        *body = rm_exporter_json_error(503, "not ready: the agent's health check failed", code, st.message);
        return;
    }
    const Grpc__Health__V1__HealthCheckResponse *h = (const void *)m;
    const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value(
        &grpc__health__v1__health_check_response__serving_status__descriptor, h->status);
    const char *name = v ? v->name : "UNKNOWN";
    int serving = h->status == GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING;
    if (serving) {
        /*
         * Health is open to anyone, so SERVING alone does not mean the
         * exporter can read the agent: ready = the call rustymem_up depends
         * on succeeds with the exporter's credentials.
         */
        ProtobufCMessage *ms = NULL;
        rm_call_status_t mst = {0};
        grpc_status_code mcode = call_empty(e, RPC_MEMORY, &ms, &mst);
        if (ms)
            protobuf_c_message_free_unpacked(ms, NULL);
        if (mcode != GRPC_STATUS_OK) {
            char msg[256];
            snprintf(msg, sizeof msg, "not ready: the agent is serving but the exporter cannot read it (%s)",
                     mcode == GRPC_STATUS_UNAUTHENTICATED    ? "unauthenticated: its token is not accepted"
                     : mcode == GRPC_STATUS_PERMISSION_DENIED ? "permission denied: its token lacks the reader role"
                                                             : rm_client_status_name(mcode));
            *status = 503;
            *body = rm_exporter_json_error(503, msg, mcode, mst.message);
            protobuf_c_message_free_unpacked(m, NULL);
            return;
        }
    }
    *status = serving ? 200 : 503;
    json_t *j = json_pack("{s:s, s:s}", "status", serving ? "ready" : "not ready", "agent", name);
    *body = dump(j);
    protobuf_c_message_free_unpacked(m, NULL);
}
