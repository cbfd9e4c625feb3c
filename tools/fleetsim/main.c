/*
 * rustymem-fleetsim — a simulated fleet for scale tests of rustymem-fleet.
 * A test tool: never shipped or run as an agent.
 *
 * One process, one port, N agents. The fleet addresses agent "PREFIX<i>" as
 * HOST:PORT/PREFIX<i> in its agents file (ADR 0026): its channel then sends
 * :authority PREFIX<i>, and every call here answers as that agent. It serves
 * what the controller uses of rustymemd: Health (the runtime's, gated by the
 * auth hook below), MemoryService.GetMemoryStats, ForecastService.GetForecast,
 * TuningService.GetKnobs/SetKnobs/ApplyProfile and
 * EmergencyService.TriggerResponse. Per agent it keeps a few bytes: its
 * scripted level, down/slow state, two profile knobs and counters.
 *
 * Scripting: --down-frac, --slow-frac/--slow-ms and --level-frac/--level
 * pick agents by a seeded hash of their index (the same agents every run);
 * --script FILE ("NAME|all level=N down=0|1 slow_ms=N" per line) is applied
 * after them and re-read on SIGHUP. A down agent answers every call (Health
 * too) with UNAVAILABLE; a slow one holds the call's completion-queue thread
 * for slow_ms (give it --threads to spare).
 */
#define _GNU_SOURCE 1
#include <dlfcn.h>
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <stdarg.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "rm_clock.h"
#include "rpc.h"
#include "server.h"
#include "rustymem/v1/emergency.pb-c.h"
#include "rustymem/v1/forecast.pb-c.h"
#include "rustymem/v1/memory.pb-c.h"
#include "rustymem/v1/tuning.pb-c.h"

#define MAX_AGENTS 100000

typedef struct sim_agent {
    unsigned char level;      /* PressureLevel 1..5 */
    unsigned char down;
    unsigned char workload, environment;
    unsigned short slow_ms;
    unsigned calls;           /* every call answered (atomic) */
    unsigned triggers;        /* TriggerResponse calls (atomic) */
} sim_agent_t;

typedef struct sim {
    const char *prefix;
    size_t prefix_len;
    size_t n;
    sim_agent_t *a;
    uint64_t budget;
} sim_t;

static sim_t S;

static void
logf_(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void
logf_(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("rustymem-fleetsim: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

/* The agent a name ("sim-42") designates, or NULL. */
static sim_agent_t *
agent_by_name(const char *name, size_t *idx)
{
    if (strncmp(name, S.prefix, S.prefix_len) != 0)
        return NULL;
    const char *d = name + S.prefix_len;
    if (*d < '0' || *d > '9')
        return NULL;
    char *end;
    unsigned long i = strtoul(d, &end, 10);
    if (*end || i >= S.n)
        return NULL;
    if (idx)
        *idx = i;
    return &S.a[i];
}

static sim_agent_t *
agent_of(rm_rpc_ctx_t *ctx, size_t *idx)
{
    return agent_by_name(rm_rpc_authority(ctx), idx);
}

/* The auth hook runs before every call, Health included: unknown, down and slow agents. */
static grpc_status_code
gate(void *unused, rm_rpc_ctx_t *ctx)
{
    (void)unused;
    sim_agent_t *a = agent_of(ctx, NULL);
    if (!a)
        return rm_rpc_fail(ctx, GRPC_STATUS_NOT_FOUND, "no simulated agent '%s' (expected %s0..%s%zu as :authority)",
                           rm_rpc_authority(ctx), S.prefix, S.prefix, S.n - 1);
    __atomic_add_fetch(&a->calls, 1, __ATOMIC_RELAXED);
    if (__atomic_load_n(&a->down, __ATOMIC_RELAXED))
        return rm_rpc_fail(ctx, GRPC_STATUS_UNAVAILABLE, "simulated agent %s is down", rm_rpc_authority(ctx));
    unsigned short ms = __atomic_load_n(&a->slow_ms, __ATOMIC_RELAXED);
    if (ms) {
        struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
    }
    return GRPC_STATUS_OK;
}

/* Usage ratio in the middle of the level's band of the default thresholds (0.70/0.80/0.90/0.95). */
static double
ratio_of(int level)
{
    static const double r[6] = {0.5, 0.5, 0.75, 0.85, 0.92, 0.97};
    return r[level >= 1 && level <= 5 ? level : 1];
}

static grpc_status_code
get_memory_stats(rm_rpc_ctx_t *ctx, const ProtobufCMessage *req, ProtobufCMessage *resp_)
{
    (void)req;
    size_t i;
    sim_agent_t *a = agent_of(ctx, &i);
    Rustymem__V1__MemoryStats *r = (void *)resp_;
    double ratio = ratio_of(__atomic_load_n(&a->level, __ATOMIC_RELAXED));
    r->budget_bytes = S.budget;
    r->used_bytes = (uint64_t)(ratio * (double)S.budget);
    r->rss_bytes = r->used_bytes;
    r->usage_ratio = ratio;
    r->usage_source = (char *)"rss";
    r->budget_source = (char *)"knob";
    r->node_name = (char *)rm_rpc_authority(ctx);
    r->version = (char *)"fleetsim";
    r->sampled_at_unix_ms = rm_wall_ms();
    return GRPC_STATUS_OK;
}

static grpc_status_code
get_forecast(rm_rpc_ctx_t *ctx, const ProtobufCMessage *req, ProtobufCMessage *resp_)
{
    (void)req;
    sim_agent_t *a = agent_of(ctx, NULL);
    Rustymem__V1__Forecast *r = (void *)resp_;
    int level = __atomic_load_n(&a->level, __ATOMIC_RELAXED);
    r->budget_bytes = S.budget;
    r->usage_ratio = ratio_of(level);
    r->used_bytes = (uint64_t)(r->usage_ratio * (double)S.budget);
    r->current_level = (Rustymem__V1__PressureLevel)level;
    r->recommended_level = r->current_level;
    r->responder_level = r->current_level;
    r->model = (char *)"fleetsim";
    r->trigger = (char *)"current";
    r->sampled_at_unix_ms = rm_wall_ms();
    return GRPC_STATUS_OK;
}

/* The knobs a simulated agent has: the pressure thresholds (read-only here) and two a profile sets. */
static const char *const knob_names[6] = {"pressure.warning_threshold", "pressure.high_pressure_threshold",
                                          "pressure.critical_threshold", "pressure.emergency_threshold",
                                          "profile.workload", "profile.environment"};

static int
knob_index(const char *name)
{
    for (int k = 0; k < 6; k++)
        if (strcmp(name, knob_names[k]) == 0)
            return k;
    return -1;
}

static void
knob_value(const sim_agent_t *a, int k, char *buf, size_t cap)
{
    static const char *const th[4] = {"0.7", "0.8", "0.9", "0.95"};
    if (k < 4)
        snprintf(buf, cap, "%s", th[k]);
    else
        snprintf(buf, cap, "%u", __atomic_load_n(k == 4 ? &a->workload : &a->environment, __ATOMIC_RELAXED));
}

static grpc_status_code
get_knobs(rm_rpc_ctx_t *ctx, const ProtobufCMessage *req_, ProtobufCMessage *resp_)
{
    sim_agent_t *a = agent_of(ctx, NULL);
    const Rustymem__V1__GetKnobsRequest *req = (const void *)req_;
    Rustymem__V1__GetKnobsResponse *r = (void *)resp_;
    size_t want = req->n_names ? req->n_names : 6;
    r->knobs = rm_rpc_alloc(ctx, want * sizeof *r->knobs);
    Rustymem__V1__KnobInfo *ki = rm_rpc_alloc(ctx, want * sizeof *ki);
    if (!r->knobs || !ki)
        return rm_rpc_fail(ctx, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
    for (size_t i = 0; i < want; i++) {
        int k = req->n_names ? knob_index(req->names[i]) : (int)i;
        if (k < 0)
            return rm_rpc_fail(ctx, GRPC_STATUS_NOT_FOUND, "names[%zu]: unknown knob '%s'", i, req->names[i]);
        char v[32];
        knob_value(a, k, v, sizeof v);
        rustymem__v1__knob_info__init(&ki[i]);
        ki[i].name = (char *)knob_names[k];
        ki[i].type = (char *)(k < 4 ? "double" : "int");
        ki[i].value = rm_rpc_strdup(ctx, v);
        ki[i].live = 1;
        r->knobs[i] = &ki[i];
    }
    r->n_knobs = want;
    return GRPC_STATUS_OK;
}

/* Set profile.* knobs (0..255) on `a`, all or nothing; the changes into r. */
static grpc_status_code
set_values(rm_rpc_ctx_t *ctx, sim_agent_t *a, const int *ks, const unsigned *vals, size_t n, int validate_only,
           Rustymem__V1__SetKnobsResponse *r)
{
    r->changes = rm_rpc_alloc(ctx, (n ? n : 1) * sizeof *r->changes);
    Rustymem__V1__KnobChange *ch = rm_rpc_alloc(ctx, (n ? n : 1) * sizeof *ch);
    if (!r->changes || !ch)
        return rm_rpc_fail(ctx, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
    for (size_t i = 0; i < n; i++) {
        char old[32], nv[32];
        knob_value(a, ks[i], old, sizeof old);
        snprintf(nv, sizeof nv, "%u", vals[i]);
        rustymem__v1__knob_change__init(&ch[i]);
        ch[i].name = (char *)knob_names[ks[i]];
        ch[i].old_value = rm_rpc_strdup(ctx, old);
        ch[i].new_value = rm_rpc_strdup(ctx, nv);
        r->changes[i] = &ch[i];
    }
    r->n_changes = n;
    if (!validate_only) {
        for (size_t i = 0; i < n; i++) {
            __atomic_store_n(ks[i] == 4 ? &a->workload : &a->environment, (unsigned char)vals[i], __ATOMIC_RELAXED);
        }
        r->applied = 1;
    }
    return GRPC_STATUS_OK;
}

static grpc_status_code
set_knobs(rm_rpc_ctx_t *ctx, const ProtobufCMessage *req_, ProtobufCMessage *resp_)
{
    sim_agent_t *a = agent_of(ctx, NULL);
    const Rustymem__V1__SetKnobsRequest *req = (const void *)req_;
    int ks[8];
    unsigned vals[8];
    if (req->n_assignments > 8)
        return rm_rpc_fail(ctx, GRPC_STATUS_INVALID_ARGUMENT, "assignments: at most 8 on a simulated agent");
    for (size_t i = 0; i < req->n_assignments; i++) {
        const Rustymem__V1__KnobAssignment *as = req->assignments[i];
        ks[i] = knob_index(as->name ? as->name : "");
        if (ks[i] < 0)
            return rm_rpc_fail(ctx, GRPC_STATUS_NOT_FOUND, "assignments[%zu].name: unknown knob '%s'", i,
                               as->name ? as->name : "");
        if (ks[i] < 4)
            return rm_rpc_fail(ctx, GRPC_STATUS_INVALID_ARGUMENT,
                               "assignments[%zu].name: %s is read-only on a simulated agent", i, as->name);
        char *end;
        unsigned long v = strtoul(as->value ? as->value : "", &end, 10);
        if (!as->value || !*as->value || *end || v > 255)
            return rm_rpc_fail(ctx, GRPC_STATUS_INVALID_ARGUMENT, "assignments[%zu].value: '%s' is not 0..255", i,
                               as->value ? as->value : "");
        vals[i] = (unsigned)v;
    }
    return set_values(ctx, a, ks, vals, req->n_assignments, req->validate_only, (void *)resp_);
}

static grpc_status_code
apply_profile(rm_rpc_ctx_t *ctx, const ProtobufCMessage *req_, ProtobufCMessage *resp_)
{
    sim_agent_t *a = agent_of(ctx, NULL);
    const Rustymem__V1__ApplyProfileRequest *req = (const void *)req_;
    if (req->workload <= 0 || req->workload > 255)
        return rm_rpc_fail(ctx, GRPC_STATUS_INVALID_ARGUMENT, "workload: must be set");
    if (req->environment < 0 || req->environment > 255)
        return rm_rpc_fail(ctx, GRPC_STATUS_INVALID_ARGUMENT, "environment: out of range");
    int ks[2] = {4, 5};
    unsigned vals[2] = {(unsigned)req->workload, (unsigned)req->environment};
    return set_values(ctx, a, ks, vals, 2, req->validate_only, (void *)resp_);
}

static grpc_status_code
trigger_response(rm_rpc_ctx_t *ctx, const ProtobufCMessage *req_, ProtobufCMessage *resp_)
{
    sim_agent_t *a = agent_of(ctx, NULL);
    const Rustymem__V1__TriggerResponseRequest *req = (const void *)req_;
    if (req->level < 2 || req->level > 5)
        return rm_rpc_fail(ctx, GRPC_STATUS_INVALID_ARGUMENT, "level: must be GENTLE..OOM_PREVENTION");
    __atomic_add_fetch(&a->triggers, 1, __ATOMIC_RELAXED);
    Rustymem__V1__ActionResult *r = (void *)resp_;
    r->action = (char *)"trigger_response";
    r->summary = (char *)"simulated response";
    return GRPC_STATUS_OK;
}

#define MS "/rustymem.v1.MemoryService/"
#define FS "/rustymem.v1.ForecastService/"
#define TS "/rustymem.v1.TuningService/"
#define ES "/rustymem.v1.EmergencyService/"
static const rm_rpc_method_t mem_m[] = {RM_RPC_UNARY_METHOD(
    MS "GetMemoryStats", rustymem__v1__get_memory_stats_request__descriptor, rustymem__v1__memory_stats__descriptor,
    RM_ROLE_READER, get_memory_stats)};
static const rm_rpc_method_t fc_m[] = {RM_RPC_UNARY_METHOD(FS "GetForecast",
                                                           rustymem__v1__get_forecast_request__descriptor,
                                                           rustymem__v1__forecast__descriptor, RM_ROLE_READER,
                                                           get_forecast)};
static const rm_rpc_method_t tu_m[] = {
    RM_RPC_UNARY_METHOD(TS "GetKnobs", rustymem__v1__get_knobs_request__descriptor,
                        rustymem__v1__get_knobs_response__descriptor, RM_ROLE_READER, get_knobs),
    RM_RPC_UNARY_METHOD(TS "SetKnobs", rustymem__v1__set_knobs_request__descriptor,
                        rustymem__v1__set_knobs_response__descriptor, RM_ROLE_ADMIN, set_knobs),
    RM_RPC_UNARY_METHOD(TS "ApplyProfile", rustymem__v1__apply_profile_request__descriptor,
                        rustymem__v1__set_knobs_response__descriptor, RM_ROLE_ADMIN, apply_profile),
};
static const rm_rpc_method_t em_m[] = {RM_RPC_UNARY_METHOD(ES "TriggerResponse",
                                                           rustymem__v1__trigger_response_request__descriptor,
                                                           rustymem__v1__action_result__descriptor, RM_ROLE_ADMIN,
                                                           trigger_response)};
static const rm_rpc_service_t svc_mem = RM_RPC_SERVICE("rustymem.v1.MemoryService", mem_m);
static const rm_rpc_service_t svc_fc = RM_RPC_SERVICE("rustymem.v1.ForecastService", fc_m);
static const rm_rpc_service_t svc_tu = RM_RPC_SERVICE("rustymem.v1.TuningService", tu_m);
static const rm_rpc_service_t svc_em = RM_RPC_SERVICE("rustymem.v1.EmergencyService", em_m);

/* ---- scripting -------------------------------------------------------------- */

/* Deterministic per-index draw in [0,1) for fraction `what` (splitmix64). */
static double
draw(uint64_t seed, size_t i, unsigned what)
{
    uint64_t z = seed + (uint64_t)i * 0x9E3779B97F4A7C15ULL + (uint64_t)what * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    z ^= z >> 31;
    return (double)(z >> 11) / 9007199254740992.0;
}

/* Apply a script file; 0, or -1 with a message naming the line. */
static int
apply_script(const char *path)
{
    FILE *fp = fopen(path, "r");
    if (!fp) {
        logf_("--script %s: %s", path, strerror(errno));
        return -1;
    }
    char line[1024];
    unsigned lineno = 0;
    int rc = 0;
    while (fgets(line, sizeof line, fp)) {
        lineno++;
        char *hash = strchr(line, '#');
        if (hash)
            *hash = '\0';
        char *save = NULL, *name = strtok_r(line, " \t\r\n", &save);
        if (!name)
            continue;
        int all = strcmp(name, "all") == 0;
        sim_agent_t *a = all ? NULL : agent_by_name(name, NULL);
        if (!all && !a) {
            logf_("%s:%u: no agent '%s'", path, lineno, name);
            rc = -1;
            continue;
        }
        for (char *kv; (kv = strtok_r(NULL, " \t\r\n", &save));) {
            char *eq = strchr(kv, '=');
            long v = eq ? strtol(eq + 1, NULL, 10) : -1;
            int field = !eq ? -1 : !strncmp(kv, "level=", 6) ? 0 : !strncmp(kv, "down=", 5) ? 1
                                 : !strncmp(kv, "slow_ms=", 8) ? 2 : -1;
            long lo[3] = {1, 0, 0}, hi[3] = {5, 1, 60000};
            if (field < 0 || v < lo[field] || v > hi[field]) {
                logf_("%s:%u: '%s': expected level=1..5, down=0|1 or slow_ms=0..60000", path, lineno, kv);
                rc = -1;
                continue;
            }
            for (size_t i = all ? 0 : (size_t)(a - S.a); i < (all ? S.n : (size_t)(a - S.a) + 1); i++) {
                if (field == 0)
                    __atomic_store_n(&S.a[i].level, (unsigned char)v, __ATOMIC_RELAXED);
                else if (field == 1)
                    __atomic_store_n(&S.a[i].down, (unsigned char)v, __ATOMIC_RELAXED);
                else
                    __atomic_store_n(&S.a[i].slow_ms, (unsigned short)v, __ATOMIC_RELAXED);
            }
        }
    }
    fclose(fp);
    return rc;
}

static void
usage(FILE *f)
{
    fprintf(f,
            "usage: rustymem-fleetsim --agents N [options]\n"
            "A simulated fleet for scale tests of rustymem-fleet (a test tool, never an agent): one port\n"
            "answers as N agents, each addressed by the :authority PREFIX<i> (fleet agents-file entry\n"
            "\"PREFIX<i> HOST:PORT/PREFIX<i>\").\n"
            "  --agents N            number of agents, 1..%d (required)\n"
            "  --listen ADDR         address to serve on (default 127.0.0.1:0)\n"
            "  --port-file FILE      write the bound port there once serving\n"
            "  --agents-file FILE    write the fleet's agents file there (zone=z<i%%4> labels)\n"
            "  --prefix P            agent name prefix (default sim-)\n"
            "  --threads N           completion-queue threads (default 4, 1..64)\n"
            "  --level L             level of every agent not picked below (1..5, default 1)\n"
            "  --level-frac F --level-at L   a fraction F of the agents at level L\n"
            "  --down-frac F         a fraction answers UNAVAILABLE to everything\n"
            "  --slow-frac F --slow-ms MS    a fraction answers after MS ms (default 200)\n"
            "  --seed S              which agents the fractions pick (default 1)\n"
            "  --script FILE         lines \"NAME|all level=N down=0|1 slow_ms=N\", applied after the\n"
            "                        fractions and again on SIGHUP\n"
            "SIGTERM/SIGINT: stop; the per-agent call and trigger counts go to stderr as a summary.\n",
            MAX_AGENTS);
}

static int
num(const char *flag, const char *s, double lo, double hi, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !(v >= lo && v <= hi)) { /* NaN fails both */
        logf_("%s: '%s' is not a number in %g..%g", flag, s, lo, hi);
        return -1;
    }
    *out = v;
    return 0;
}

int
main(int argc, char **argv)
{
    const char *listen = "127.0.0.1:0", *port_file = NULL, *agents_file = NULL, *script = NULL;
    double n = 0, threads = 4, level = 1, level_frac = 0, level_at = 4, down_frac = 0, slow_frac = 0, slow_ms = 200,
           seed = 1;
    S.prefix = "sim-";
    enum { O_AGENTS = 256, O_LISTEN, O_PORTFILE, O_AFILE, O_PREFIX, O_THREADS, O_LEVEL, O_LFRAC, O_LAT, O_DOWN,
           O_SFRAC, O_SMS, O_SEED, O_SCRIPT, O_HELP };
    static const struct option lo[] = {
        {"agents", required_argument, 0, O_AGENTS},     {"listen", required_argument, 0, O_LISTEN},
        {"port-file", required_argument, 0, O_PORTFILE}, {"agents-file", required_argument, 0, O_AFILE},
        {"prefix", required_argument, 0, O_PREFIX},     {"threads", required_argument, 0, O_THREADS},
        {"level", required_argument, 0, O_LEVEL},       {"level-frac", required_argument, 0, O_LFRAC},
        {"level-at", required_argument, 0, O_LAT},      {"down-frac", required_argument, 0, O_DOWN},
        {"slow-frac", required_argument, 0, O_SFRAC},   {"slow-ms", required_argument, 0, O_SMS},
        {"seed", required_argument, 0, O_SEED},         {"script", required_argument, 0, O_SCRIPT},
        {"help", no_argument, 0, O_HELP},               {0, 0, 0, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
        int bad = 0;
        switch (c) {
        case O_AGENTS: bad = num("--agents", optarg, 1, MAX_AGENTS, &n); break;
        case O_LISTEN: listen = optarg; break;
        case O_PORTFILE: port_file = optarg; break;
        case O_AFILE: agents_file = optarg; break;
        case O_PREFIX: S.prefix = optarg; break;
        case O_THREADS: bad = num("--threads", optarg, 1, 64, &threads); break;
        case O_LEVEL: bad = num("--level", optarg, 1, 5, &level); break;
        case O_LFRAC: bad = num("--level-frac", optarg, 0, 1, &level_frac); break;
        case O_LAT: bad = num("--level-at", optarg, 1, 5, &level_at); break;
        case O_DOWN: bad = num("--down-frac", optarg, 0, 1, &down_frac); break;
        case O_SFRAC: bad = num("--slow-frac", optarg, 0, 1, &slow_frac); break;
        case O_SMS: bad = num("--slow-ms", optarg, 0, 60000, &slow_ms); break;
        case O_SEED: bad = num("--seed", optarg, 0, 1e15, &seed); break;
        case O_SCRIPT: script = optarg; break;
        case O_HELP: usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
        if (bad)
            return 2;
    }
    if (optind < argc || n < 1) {
        logf_(optind < argc ? "unexpected argument '%s'" : "--agents N is required%s", optind < argc ? argv[optind] : "");
        return 2;
    }
    if (!*S.prefix || strpbrk(S.prefix, " \t/#")) {
        logf_("--prefix: '%s' must be non-empty without blanks, '/' or '#'", S.prefix);
        return 2;
    }
    S.prefix_len = strlen(S.prefix);
    S.n = (size_t)n;
    S.budget = 4ULL << 30;
    S.a = calloc(S.n, sizeof *S.a);
    if (!S.a) {
        logf_("out of memory for %zu agents", S.n);
        return 1;
    }
    for (size_t i = 0; i < S.n; i++) {
        S.a[i].level = (unsigned char)level;
        if (draw((uint64_t)seed, i, 1) < level_frac)
            S.a[i].level = (unsigned char)level_at;
        if (draw((uint64_t)seed, i, 2) < down_frac)
            S.a[i].down = 1;
        if (draw((uint64_t)seed, i, 3) < slow_frac)
            S.a[i].slow_ms = (unsigned short)slow_ms;
    }
    if (script && apply_script(script) < 0)
        return 2;

    /* One TCP connection per agent channel can mean N descriptors: take the hard limit. */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (rlim_t)S.n + 64)
        logf_("warning: the descriptor limit %llu is below %zu agents + 64", (unsigned long long)rl.rlim_cur, S.n);

    /* As in rustymem-fleet (ADR 0026): Debian's Abseil mutex deadlock detection costs a global graph
     * lookup per lock that grows with the number of connections; kIgnore = 0. */
    void (*absl_dd)(int) = (void (*)(int))dlsym(
        RTLD_DEFAULT, "_ZN4absl7debian329SetMutexDeadlockDetectionModeENS0_15OnDeadlockCycleE");
    if (absl_dd)
        absl_dd(0);

    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, NULL);

    static const rm_rpc_service_t *const services[] = {&svc_mem, &svc_fc, &svc_tu, &svc_em};
    /* The simulator shares the box with the controller it measures: no BDP pings (and their timer
     * per connection), no channelz, a small HPACK table — what the controller's agent channels
     * also go without (ADR 0026). */
    static grpc_arg sim_arg_list[] = {
        {.type = GRPC_ARG_INTEGER, .key = GRPC_ARG_HTTP2_BDP_PROBE, .value.integer = 0},
        {.type = GRPC_ARG_INTEGER, .key = GRPC_ARG_ENABLE_CHANNELZ, .value.integer = 0},
        {.type = GRPC_ARG_INTEGER, .key = GRPC_ARG_HTTP2_HPACK_TABLE_SIZE_DECODER, .value.integer = 512},
    };
    static const grpc_channel_args sim_args = {.num_args = sizeof sim_arg_list / sizeof sim_arg_list[0],
                                               .args = sim_arg_list};
    rm_server_opts_t so = {.listen = listen, .cq_threads = (int)threads, .auth = gate, .shutdown_grace_ms = 1000,
                           .extra_args = &sim_args};
    rm_server_t *srv = NULL;
    char err[512];
    if (rm_server_create(&so, services, 4, &srv, err, sizeof err) != RM_OK) {
        logf_("%s", err);
        return 1;
    }
    if (rm_server_start(srv) != RM_OK) {
        logf_("cannot start the server threads");
        return 1;
    }
    int port = rm_server_port(srv);
    if (agents_file) {
        char tmp[4096];
        snprintf(tmp, sizeof tmp, "%s.tmp", agents_file);
        FILE *fp = fopen(tmp, "w");
        const char *colon = strrchr(listen, ':');
        int hl = colon ? (int)(colon - listen) : (int)strlen(listen);
        for (size_t i = 0; fp && i < S.n; i++)
            fprintf(fp, "%s%zu %.*s:%d/%s%zu zone=z%zu\n", S.prefix, i, hl, listen, port, S.prefix, i, i % 4);
        if (!fp || fclose(fp) != 0 || rename(tmp, agents_file) != 0) {
            logf_("--agents-file %s: %s", agents_file, strerror(errno));
            return 1;
        }
    }
    if (port_file) {
        char tmp[4096];
        snprintf(tmp, sizeof tmp, "%s.tmp", port_file);
        FILE *fp = fopen(tmp, "w");
        if (!fp || fprintf(fp, "%d\n", port) < 0 || fclose(fp) != 0 || rename(tmp, port_file) != 0) {
            logf_("--port-file %s: %s", port_file, strerror(errno));
            return 1;
        }
    }
    logf_("serving %zu agents on %s (port %d)", S.n, listen, port);
    int sig;
    for (;;) {
        if (sigwait(&set, &sig) != 0)
            continue;
        if (sig != SIGHUP)
            break;
        if (script)
            (void)apply_script(script);
        logf_("SIGHUP: script %s applied", script ? script : "(none)");
    }
    rm_server_shutdown(srv);
    rm_server_wait(srv);
    rm_server_destroy(srv);
    uint64_t calls = 0, trig = 0;
    size_t never = 0;
    for (size_t i = 0; i < S.n; i++) {
        calls += S.a[i].calls;
        trig += S.a[i].triggers;   /* the server has stopped: no more writers */
        never += S.a[i].calls == 0;
    }
    logf_("stopped: %llu calls, %llu TriggerResponse, %zu agents never called",
          (unsigned long long)calls, (unsigned long long)trig, never);
    free(S.a);
    return 0;
}
