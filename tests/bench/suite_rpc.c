/*
 * suite_rpc.c — the management plane's unary gRPC cost over loopback
 * (issue 20, docs/adr/0025).
 *
 * Starts a real rustymemd on an ephemeral loopback port (or uses --addr) and
 * drives it with the C client library. Per concurrency level (1 and 16) it
 * measures, in one run and interleaved level by level, grpc.health.v1 Check
 * (the transport alone: the floor) and MemoryService.GetMemoryStats,
 * GetBufferPoolStats, ForecastService.GetForecast and TuningService.SetKnobs
 * on a live knob that resizes nothing (alerts.pressure_events_per_hour,
 * alternating two values, so every call commits and persists). Each method
 * reports p50/p99 latency in microseconds, calls per second, and its ratios
 * to Check's p50 and calls per second measured right before it: on a shared,
 * loaded machine the ratios are what compare.
 *
 * "knob latency during a resize" (skipped with --no-resize or --addr): a
 * second agent with 64 KiB pages and a pool of --resize-mib MiB (1024) is
 * filled with committed values of one page each (dirty frames), then one
 * thread shrinks buffer_pool.num_frames to 64 (the pool writes every dirty
 * victim) while another calls SetKnobs on an unrelated live knob in a loop;
 * reported: the dirty frames before, the shrink's own duration, and
 * p50/p99/max of the unrelated SetKnobs calls made while it ran (they do not
 * wait for the knob writer's fsyncs, docs/adr/0031); then the latency of one
 * SetKnobs with wait_persisted, which replies once its change is on disk.
 *
 * "WatchStats cost" (skipped with --no-watch or --addr): the agent's own CPU
 * time (utime + stime from /proc/PID/stat) over --watch-seconds (default 20,
 * --quick 5) idle, then over as long with --watch-streams (default 50)
 * WatchStats streams at 100 ms each, every message read and decoded by the
 * bench; reported as percent of one core, idle, streaming and the increment,
 * with the messages received per second against the 10 per stream expected.
 *
 * Options: --addr HOST:PORT (use a running agent; no resize or watch part), --calls N
 * (per method and level; default 20000, --quick 3000; SetKnobs at most
 * --knob-calls, default 2000, --quick 300, GetBufferPoolStats a quarter of
 * that), --resize-mib M (16..4096; default 1024, --quick 64), --no-resize.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../integration/agent_proc.h"
#include "bench.h"
#include "client.h"
#include "grpc/health/v1/health.pb-c.h"
#include "rustymem/v1/forecast.pb-c.h"
#include "rustymem/v1/memory.pb-c.h"
#include "rustymem/v1/session.pb-c.h"
#include "rustymem/v1/tuning.pb-c.h"

typedef struct rpc_job {
    rm_client_t *client;
    const char *path;
    const ProtobufCMessage *req, *alt_req; /* alt_req: every other call (NULL = always req) */
    const ProtobufCMessageDescriptor *resp_desc;
    int calls;
    double *lat_us; /* calls entries */
    int errors;
    char first_error[160];
    volatile int *stop; /* optional: stop early when set (lat_us then holds `calls` done) */
} rpc_job_t;

static void *
rpc_worker(void *arg)
{
    rpc_job_t *j = arg;
    int done = 0;
    for (int i = 0; i < j->calls; i++) {
        if (j->stop && __atomic_load_n(j->stop, __ATOMIC_ACQUIRE))
            break;
        ProtobufCMessage *resp;
        rm_call_status_t st;
        const ProtobufCMessage *req = j->alt_req && (i & 1) ? j->alt_req : j->req;
        uint64_t t0 = rm_bench_now_ns();
        grpc_status_code c = rm_client_unary(j->client, j->path, req, j->resp_desc, &resp, &st);
        j->lat_us[i] = (double)(rm_bench_now_ns() - t0) / 1000.0;
        done++;
        if (c == GRPC_STATUS_OK) {
            protobuf_c_message_free_unpacked(resp, NULL);
        } else {
            if (!j->errors)
                snprintf(j->first_error, sizeof j->first_error, "%.60s: %d %.80s", j->path, (int)c, st.message);
            j->errors++;
        }
    }
    j->calls = done;
    return NULL;
}

typedef struct method {
    const char *name, *path;
    const ProtobufCMessage *req, *alt_req;
    const ProtobufCMessageDescriptor *resp_desc;
    int max_calls; /* 0 = --calls */
} method_t;

/* Run `total` calls spread over `conc` threads; fill p50/p99/rps into obj. */
static int
run_level(rm_client_t *client, const method_t *m, int conc, int total, json_t *obj)
{
    if (m->max_calls && total > m->max_calls)
        total = m->max_calls;
    int per = total / conc;
    rpc_job_t jobs[64];
    pthread_t th[64];
    double *lat = calloc((size_t)per * (size_t)conc + 200, sizeof *lat);
    if (!lat)
        return -1;
    /* warm-up: connection, HTTP/2 windows, allocator caches */
    rpc_job_t warm = {client, m->path, m->req, m->alt_req, m->resp_desc, 100, lat, 0, "", NULL};
    rpc_worker(&warm);

    uint64_t t0 = rm_bench_now_ns();
    for (int i = 0; i < conc; i++) {
        jobs[i] = (rpc_job_t){client, m->path, m->req, m->alt_req, m->resp_desc, per,
                              lat + (size_t)i * (size_t)per, 0, "", NULL};
        pthread_create(&th[i], NULL, rpc_worker, &jobs[i]);
    }
    int errors = warm.errors;
    const char *first = warm.errors ? warm.first_error : NULL;
    for (int i = 0; i < conc; i++) {
        pthread_join(th[i], NULL);
        errors += jobs[i].errors;
        if (!first && jobs[i].errors)
            first = jobs[i].first_error;
    }
    double secs = (double)(rm_bench_now_ns() - t0) / 1e9;
    size_t n = (size_t)per * (size_t)conc;
    json_object_set_new(obj, "calls", json_integer((json_int_t)n));
    json_object_set_new(obj, "errors", json_integer(errors));
    json_object_set_new(obj, "p50_us", json_real(rm_bench_percentile(lat, n, 50)));
    json_object_set_new(obj, "p99_us", json_real(rm_bench_percentile(lat, n, 99)));
    json_object_set_new(obj, "rps", json_real((double)n / secs));
    if (first)
        fprintf(stderr, "rustymem-bench rpc: %s\n", first);
    free(lat);
    return errors ? -1 : 0;
}

static double
num(json_t *o, const char *k)
{
    return json_number_value(json_object_get(o, k));
}

/* ---- knob latency during a resize ---------------------------------------- */

#define RESIZE_PAGE 65536
#define RESIZE_VALUE 60000 /* one value per 64 KiB page (the heap's whole-page class) */

static int
unary_ok(rm_client_t *c, const char *path, const ProtobufCMessage *req, const ProtobufCMessageDescriptor *d,
         ProtobufCMessage **out)
{
    ProtobufCMessage *resp = NULL;
    rm_call_status_t st;
    grpc_status_code code = rm_client_unary(c, path, req, d, &resp, &st);
    if (code != GRPC_STATUS_OK) {
        fprintf(stderr, "rustymem-bench rpc: %s: %d %s\n", path, (int)code, st.message);
        return -1;
    }
    if (out)
        *out = resp;
    else
        protobuf_c_message_free_unpacked(resp, NULL);
    return 0;
}

typedef struct filler {
    rm_client_t *client;
    int id, values;
    int rc;
} filler_t;

#define SS "/rustymem.v1.SessionService/"

static void *
fill_main(void *arg)
{
    filler_t *f = arg;
    ProtobufCMessage *r;
    Rustymem__V1__OpenSessionRequest oq = RUSTYMEM__V1__OPEN_SESSION_REQUEST__INIT;
    oq.client_name = "bench-rpc-fill";
    if (unary_ok(f->client, SS "OpenSession", &oq.base, &rustymem__v1__open_session_response__descriptor, &r)) {
        f->rc = -1;
        return NULL;
    }
    uint64_t sid = ((Rustymem__V1__OpenSessionResponse *)r)->session_id;
    protobuf_c_message_free_unpacked(r, NULL);
    uint8_t *val = malloc(RESIZE_VALUE);
    if (!val) {
        f->rc = -1;
        return NULL;
    }
    for (int i = 0; i < f->values && f->rc == 0; i += 8) {
        Rustymem__V1__BeginRequest b = RUSTYMEM__V1__BEGIN_REQUEST__INIT;
        b.session_id = sid;
        b.size_hint_bytes = 16u * RESIZE_PAGE;   /* 8 values of 60000 B and their records */
        f->rc |= unary_ok(f->client, SS "Begin", &b.base, &rustymem__v1__begin_response__descriptor, NULL);
        for (int k = i; k < i + 8 && k < f->values && f->rc == 0; k++) {
            char key[32];
            snprintf(key, sizeof key, "f%02d-%07d", f->id, k);
            memset(val, 'a' + (k % 26), RESIZE_VALUE);
            Rustymem__V1__PutRequest p = RUSTYMEM__V1__PUT_REQUEST__INIT;
            p.session_id = sid;
            p.table = "bench_rpc_resize";
            p.key = (ProtobufCBinaryData){strlen(key), (uint8_t *)key};
            p.value = (ProtobufCBinaryData){RESIZE_VALUE, val};
            f->rc |= unary_ok(f->client, SS "Put", &p.base, &rustymem__v1__put_response__descriptor, NULL);
        }
        Rustymem__V1__CommitRequest cq = RUSTYMEM__V1__COMMIT_REQUEST__INIT;
        cq.session_id = sid;
        f->rc |= unary_ok(f->client, SS "Commit", &cq.base, &rustymem__v1__commit_response__descriptor, NULL);
    }
    free(val);
    return NULL;
}

typedef struct shrinker {
    rm_client_t *client;
    double took_s;
    int rc;
    volatile int done;
    int applying;
} shrinker_t;

static void *
shrink_main(void *arg)
{
    shrinker_t *s = arg;
    Rustymem__V1__KnobAssignment a = RUSTYMEM__V1__KNOB_ASSIGNMENT__INIT;
    a.name = "buffer_pool.num_frames";
    a.value = "64";
    Rustymem__V1__KnobAssignment *ap = &a;
    Rustymem__V1__SetKnobsRequest q = RUSTYMEM__V1__SET_KNOBS_REQUEST__INIT;
    q.n_assignments = 1;
    q.assignments = &ap;
    uint64_t t0 = rm_bench_now_ns();
    ProtobufCMessage *r = NULL;
    s->rc = unary_ok(s->client, "/rustymem.v1.TuningService/SetKnobs", &q.base,
                     &rustymem__v1__set_knobs_response__descriptor, &r);
    s->took_s = (double)(rm_bench_now_ns() - t0) / 1e9;
    if (r) {
        s->applying = ((Rustymem__V1__SetKnobsResponse *)r)->applying;
        protobuf_c_message_free_unpacked(r, NULL);
    }
    __atomic_store_n(&s->done, 1, __ATOMIC_RELEASE);
    return NULL;
}

static uint64_t
dirty_frames(rm_client_t *c, uint64_t *total)
{
    Rustymem__V1__GetBufferPoolStatsRequest q = RUSTYMEM__V1__GET_BUFFER_POOL_STATS_REQUEST__INIT;
    ProtobufCMessage *r;
    if (unary_ok(c, "/rustymem.v1.MemoryService/GetBufferPoolStats", &q.base,
                 &rustymem__v1__buffer_pool_stats__descriptor, &r))
        return 0;
    uint64_t d = ((Rustymem__V1__BufferPoolStats *)r)->dirty_frames;
    if (total)
        *total = ((Rustymem__V1__BufferPoolStats *)r)->total_frames;
    protobuf_c_message_free_unpacked(r, NULL);
    return d;
}

static int
run_resize(uint64_t mib, const ProtobufCMessage *knob_a, const ProtobufCMessage *knob_b, json_t *out)
{
    char frames[64], page[64];
    uint64_t values = mib * (1024 * 1024 / RESIZE_PAGE);
    snprintf(frames, sizeof frames, "buffer_pool.num_frames=%llu", (unsigned long long)(values + 256));
    snprintf(page, sizeof page, "buffer_pool.page_size=%d", RESIZE_PAGE);
    const char *extra[] = {"--set", page, "--set", frames, NULL};
    agent_proc_t agent = {0};
    if (agent_start(&agent, extra) < 0) {
        fprintf(stderr, "rustymem-bench rpc: cannot start rustymemd for the resize part\n");
        return -1;
    }
    rm_client_t *client;
    char err[256] = "";
    rm_client_opts_t co = {.target = agent.addr, .timeout_ms = 600000};
    if (rm_client_create(&co, &client, err, sizeof err) != RM_OK) {
        fprintf(stderr, "rustymem-bench rpc: %s\n", err);
        agent_stop(&agent, SIGKILL, 10.0, NULL);
        return -1;
    }
    int rc = 0;
    enum { FILLERS = 4 };
    filler_t fl[FILLERS];
    pthread_t th[FILLERS];
    uint64_t t0 = rm_bench_now_ns();
    for (int i = 0; i < FILLERS; i++) {
        fl[i] = (filler_t){client, i, (int)(values / FILLERS), 0};
        pthread_create(&th[i], NULL, fill_main, &fl[i]);
    }
    for (int i = 0; i < FILLERS; i++) {
        pthread_join(th[i], NULL);
        rc |= fl[i].rc;
    }
    double fill_s = (double)(rm_bench_now_ns() - t0) / 1e9;
    uint64_t total = 0, dirty = dirty_frames(client, &total);
    fprintf(stderr, "resize: %llu values of %d B in %.1f s; pool %llu frames of %d B, %llu dirty (%.0f MiB)\n",
            (unsigned long long)values, RESIZE_VALUE, fill_s, (unsigned long long)total, RESIZE_PAGE,
            (unsigned long long)dirty, (double)dirty * RESIZE_PAGE / 1048576.0);

    /* the shrink, and the unrelated knob in a loop while it runs */
    shrinker_t sh = {client, 0, 0, 0, 0};
    enum { MAXCALLS = 200000 };
    double *lat = calloc(MAXCALLS, sizeof *lat);
    if (!lat || rc) {
        free(lat);
        rm_client_destroy(client);
        agent_stop(&agent, SIGTERM, 30.0, NULL);
        return -1;
    }
    pthread_t sht;
    pthread_create(&sht, NULL, shrink_main, &sh);
    /* a head start of 100 ms, so that the shrink's SetKnobs has reached the
     * agent (and, before ADR 0025, taken the registry lock) when the loop starts */
    struct timespec head = {0, 100000000};
    nanosleep(&head, NULL);
    rpc_job_t j = {client, "/rustymem.v1.TuningService/SetKnobs", knob_a, knob_b,
                   &rustymem__v1__set_knobs_response__descriptor, MAXCALLS, lat, 0, "", &sh.done};
    rpc_worker(&j);
    pthread_join(sht, NULL);
    rc |= sh.rc | (j.errors ? -1 : 0);
    if (j.errors)
        fprintf(stderr, "rustymem-bench rpc: %s\n", j.first_error);
    /* then one change that asks to wait until it is on disk (docs/adr/0031):
     * what a caller needing durability pays once the shrink is over */
    Rustymem__V1__SetKnobsRequest dq = *(const Rustymem__V1__SetKnobsRequest *)knob_a;
    dq.wait_persisted = 1;
    ProtobufCMessage *dr = NULL;
    uint64_t d0 = rm_bench_now_ns();
    rc |= unary_ok(client, "/rustymem.v1.TuningService/SetKnobs", &dq.base,
                   &rustymem__v1__set_knobs_response__descriptor, &dr);
    double durable_us = (double)(rm_bench_now_ns() - d0) / 1e3;
    int durable = dr && ((Rustymem__V1__SetKnobsResponse *)dr)->persisted;
    if (dr)
        protobuf_c_message_free_unpacked(dr, NULL);
    size_t n = (size_t)j.calls;
    double mx = 0;
    for (size_t i = 0; i < n; i++)
        mx = lat[i] > mx ? lat[i] : mx;
    json_object_set_new(out, "pool_mib", json_integer((json_int_t)mib));
    json_object_set_new(out, "page_size_bytes", json_integer(RESIZE_PAGE));
    json_object_set_new(out, "dirty_frames_before", json_integer((json_int_t)dirty));
    json_object_set_new(out, "fill_seconds", json_real(fill_s));
    json_object_set_new(out, "shrink_seconds", json_real(sh.took_s));
    json_object_set_new(out, "shrink_reply_applying", json_boolean(sh.applying));
    json_object_set_new(out, "unrelated_setknobs_calls", json_integer((json_int_t)n));
    json_object_set_new(out, "unrelated_setknobs_errors", json_integer(j.errors));
    json_object_set_new(out, "unrelated_setknobs_p50_us", json_real(n ? rm_bench_percentile(lat, n, 50) : 0));
    json_object_set_new(out, "unrelated_setknobs_p99_us", json_real(n ? rm_bench_percentile(lat, n, 99) : 0));
    json_object_set_new(out, "unrelated_setknobs_max_us", json_real(mx));
    json_object_set_new(out, "wait_persisted_setknobs_us", json_real(durable_us));
    json_object_set_new(out, "wait_persisted_setknobs_persisted", json_boolean(durable));
    fprintf(stderr, "resize: shrink to 64 frames took %.2f s; %zu unrelated SetKnobs meanwhile: p50 %.0f us p99 %.0f us "
            "max %.0f us\n", sh.took_s, n, num(out, "unrelated_setknobs_p50_us"), num(out, "unrelated_setknobs_p99_us"),
            mx);
    fprintf(stderr, "resize: then one SetKnobs with wait_persisted: %.0f us, persisted %s\n", durable_us,
            durable ? "true" : "false (an agent without the knob writer ignores wait_persisted)");
    free(lat);
    rm_client_destroy(client);
    agent_stop(&agent, SIGTERM, 60.0, NULL);
    return rc;
}

/* ---- WatchStats: the agent's CPU with many streams ------------------------ */

typedef struct watcher {
    rm_client_t *client;
    volatile int *stop;
    uint64_t messages;
    int rc;
} watcher_t;

static void *
watch_main(void *arg)
{
    watcher_t *w = arg;
    Rustymem__V1__WatchStatsRequest req = RUSTYMEM__V1__WATCH_STATS_REQUEST__INIT;
    req.interval_ms = 100;
    rm_client_stream_t *s = NULL;
    rm_call_status_t st = {0};
    if (rm_client_stream_open(w->client, "/rustymem.v1.MemoryService/WatchStats", &req.base, 0, &s, &st) !=
        GRPC_STATUS_OK) {
        w->rc = -1;
        return NULL;
    }
    ProtobufCMessage *m = NULL;
    int r;
    while (!*w->stop && (r = rm_client_stream_next(s, &rustymem__v1__memory_stats__descriptor, &m)) == 1) {
        protobuf_c_message_free_unpacked(m, NULL);
        w->messages++;
    }
    if (!*w->stop)
        w->rc = -1; /* the stream ended or failed before the bench stopped it */
    rm_client_stream_finish(s, NULL);
    return NULL;
}

static int
run_watch(const agent_proc_t *agent, rm_client_t *client, int streams, double seconds, json_t *out)
{
    struct timespec span = {(time_t)seconds, (long)((seconds - (double)(time_t)seconds) * 1e9)};
    double c0 = rm_bench_proc_cpu_s(agent->pid);
    uint64_t t0 = rm_bench_now_ns();
    nanosleep(&span, NULL);
    double c1 = rm_bench_proc_cpu_s(agent->pid);
    double idle_wall = (double)(rm_bench_now_ns() - t0) / 1e9;
    if (c0 < 0 || c1 < 0) {
        fprintf(stderr, "rustymem-bench rpc: cannot read /proc/%d/stat\n", (int)agent->pid);
        return -1;
    }
    volatile int stop = 0;
    watcher_t *w = calloc((size_t)streams, sizeof *w);
    pthread_t *th = calloc((size_t)streams, sizeof *th);
    if (!w || !th) {
        free(w);
        free(th);
        return -1;
    }
    for (int i = 0; i < streams; i++) {
        w[i] = (watcher_t){client, &stop, 0, 0};
        pthread_create(&th[i], NULL, watch_main, &w[i]);
    }
    /* one second for the streams to open, then the measured span */
    struct timespec settle = {1, 0};
    nanosleep(&settle, NULL);
    uint64_t m0 = 0, m1 = 0;
    for (int i = 0; i < streams; i++)
        m0 += w[i].messages;
    double c2 = rm_bench_proc_cpu_s(agent->pid);
    uint64_t t1 = rm_bench_now_ns();
    nanosleep(&span, NULL);
    double c3 = rm_bench_proc_cpu_s(agent->pid);
    double watch_wall = (double)(rm_bench_now_ns() - t1) / 1e9;
    for (int i = 0; i < streams; i++)
        m1 += w[i].messages;
    stop = 1;
    int rc = 0;
    /* each stream's next message (100 ms) wakes its reader, which then sees stop */
    for (int i = 0; i < streams; i++) {
        pthread_join(th[i], NULL);
        rc |= w[i].rc;
    }
    free(w);
    free(th);
    double idle_pct = 100.0 * (c1 - c0) / idle_wall, watch_pct = 100.0 * (c3 - c2) / watch_wall;
    double mps = (double)(m1 - m0) / watch_wall;
    json_object_set_new(out, "streams", json_integer(streams));
    json_object_set_new(out, "interval_ms", json_integer(100));
    json_object_set_new(out, "seconds", json_real(seconds));
    json_object_set_new(out, "agent_cpu_pct_of_core_idle", json_real(idle_pct));
    json_object_set_new(out, "agent_cpu_pct_of_core_streaming", json_real(watch_pct));
    json_object_set_new(out, "agent_cpu_pct_of_core_added", json_real(watch_pct - idle_pct));
    json_object_set_new(out, "messages_per_s", json_real(mps));
    json_object_set_new(out, "messages_per_s_expected", json_real(streams * 10.0));
    json_object_set_new(out, "stream_errors", json_integer(rc ? 1 : 0));
    fprintf(stderr, "watch: agent CPU %.2f %% of a core idle, %.2f %% with %d WatchStats streams at 100 ms "
            "(+%.2f %%), %.0f msg/s of %d expected\n", idle_pct, watch_pct, streams, watch_pct - idle_pct, mps,
            streams * 10);
    return rc;
}

/* ---- the suite ----------------------------------------------------------- */

static int
run_rpc(const rm_bench_opts_t *o, json_t *result)
{
    const char *addr = rm_bench_arg(o, "--addr");
    uint64_t total64, knob_calls, resize_mib, watch_streams, watch_seconds;
    if (rm_bench_arg_u64(o, "rpc", "--watch-streams", 1, 1000, 50, &watch_streams) ||
        rm_bench_arg_u64(o, "rpc", "--watch-seconds", 1, 3600, o->quick ? 5 : 20, &watch_seconds) ||
        rm_bench_arg_u64(o, "rpc", "--calls", 16, 10000000, o->quick ? 3000 : 20000, &total64) ||
        rm_bench_arg_u64(o, "rpc", "--knob-calls", 16, 10000000, o->quick ? 300 : 2000, &knob_calls) ||
        rm_bench_arg_u64(o, "rpc", "--resize-mib", 16, 4096, o->quick ? 64 : 1024, &resize_mib))
        return 1;
    int total = (int)total64;
    agent_proc_t agent = {0};
    char target[128];
    if (!getenv("RM_BUILD_DIR")) {
        /* rustymem-bench lives in <build>/tests/bench: find the agent from there. */
        static char build[PATH_MAX];
        ssize_t n = readlink("/proc/self/exe", build, sizeof build - 1);
        if (n > 0) {
            build[n] = '\0';
            char *p = strstr(build, "/tests/bench/");
            if (p) {
                *p = '\0';
                setenv("RM_BUILD_DIR", build, 1);
            }
        }
    }
    if (addr) {
        snprintf(target, sizeof target, "%s", addr);
    } else {
        if (agent_start(&agent, NULL) < 0) {
            fprintf(stderr, "rustymem-bench rpc: cannot start rustymemd (set RM_BUILD_DIR or use --addr)\n");
            return 1;
        }
        snprintf(target, sizeof target, "%s", agent.addr);
    }
    rm_client_t *client;
    char err[256] = "";
    rm_client_opts_t co = {.target = target, .timeout_ms = 10000};
    if (rm_client_create(&co, &client, err, sizeof err) != RM_OK) {
        fprintf(stderr, "rustymem-bench rpc: %s\n", err);
        return 1;
    }
    Grpc__Health__V1__HealthCheckRequest hreq = GRPC__HEALTH__V1__HEALTH_CHECK_REQUEST__INIT;
    Rustymem__V1__GetMemoryStatsRequest mreq = RUSTYMEM__V1__GET_MEMORY_STATS_REQUEST__INIT;
    Rustymem__V1__GetBufferPoolStatsRequest breq = RUSTYMEM__V1__GET_BUFFER_POOL_STATS_REQUEST__INIT;
    Rustymem__V1__GetForecastRequest freq = RUSTYMEM__V1__GET_FORECAST_REQUEST__INIT;
    /* a live knob that resizes nothing, two values so every call commits */
    Rustymem__V1__KnobAssignment ka = RUSTYMEM__V1__KNOB_ASSIGNMENT__INIT, kb = RUSTYMEM__V1__KNOB_ASSIGNMENT__INIT;
    ka.name = kb.name = "alerts.pressure_events_per_hour";
    ka.value = "6";
    kb.value = "5";
    Rustymem__V1__KnobAssignment *kap = &ka, *kbp = &kb;
    Rustymem__V1__SetKnobsRequest sa = RUSTYMEM__V1__SET_KNOBS_REQUEST__INIT, sb = RUSTYMEM__V1__SET_KNOBS_REQUEST__INIT;
    sa.n_assignments = sb.n_assignments = 1;
    sa.assignments = &kap;
    sb.assignments = &kbp;
    const method_t health = {"Health/Check", "/grpc.health.v1.Health/Check", &hreq.base, NULL,
                             &grpc__health__v1__health_check_response__descriptor, 0};
    const method_t methods[] = {
        {"GetMemoryStats", "/rustymem.v1.MemoryService/GetMemoryStats", &mreq.base, NULL,
         &rustymem__v1__memory_stats__descriptor, 0},
        /* counts dirty and pinned frames by walking every frame (bufpool.c): milliseconds on
         * a default-sized pool, so fewer calls */
        {"GetBufferPoolStats", "/rustymem.v1.MemoryService/GetBufferPoolStats", &breq.base, NULL,
         &rustymem__v1__buffer_pool_stats__descriptor, (int)knob_calls / 4},
        {"GetForecast", "/rustymem.v1.ForecastService/GetForecast", &freq.base, NULL,
         &rustymem__v1__forecast__descriptor, 0},
        {"SetKnobs", "/rustymem.v1.TuningService/SetKnobs", &sa.base, &sb.base,
         &rustymem__v1__set_knobs_response__descriptor, (int)knob_calls},
    };
    int rc = 0;
    const int levels[] = {1, 16};
    for (size_t i = 0; i < 2 && rc == 0; i++) {
        char key[32];
        json_t *lv = json_object();
        for (size_t m = 0; m < sizeof methods / sizeof methods[0] && rc == 0; m++) {
            /* Check right before each method: the floor under the same load */
            json_t *h = json_object(), *r = json_object();
            rc |= run_level(client, &health, levels[i], total, h);
            rc |= run_level(client, &methods[m], levels[i], total, r);
            json_object_set_new(r, "p50_ratio_vs_health_check", json_real(num(h, "p50_us") > 0 ? num(r, "p50_us") / num(h, "p50_us") : 0));
            json_object_set_new(r, "rps_ratio_vs_health_check", json_real(num(h, "rps") > 0 ? num(r, "rps") / num(h, "rps") : 0));
            fprintf(stderr, "concurrency %2d: %-18s p50 %6.0f us p99 %6.0f us %6.0f cps | Check p50 %4.0f us %6.0f cps | "
                    "ratio p50 %.2f cps %.2f\n", levels[i], methods[m].name, num(r, "p50_us"), num(r, "p99_us"),
                    num(r, "rps"), num(h, "p50_us"), num(h, "rps"), num(r, "p50_ratio_vs_health_check"),
                    num(r, "rps_ratio_vs_health_check"));
            json_object_set_new(r, "health_check", h);
            json_object_set_new(lv, methods[m].name, r);
        }
        snprintf(key, sizeof key, "concurrency_%d", levels[i]);
        json_object_set_new(result, key, lv);
    }
    if (rc == 0 && !addr && !rm_bench_flag(o, "--no-watch")) {
        json_t *wj = json_object();
        rc |= run_watch(&agent, client, (int)watch_streams, (double)watch_seconds, wj);
        json_object_set_new(result, "watch_stats_cost", wj);
    }
    rm_client_destroy(client);
    if (!addr)
        agent_stop(&agent, SIGTERM, 10.0, NULL);
    if (rc == 0 && !addr && !rm_bench_flag(o, "--no-resize")) {
        json_t *rz = json_object();
        rc |= run_resize(resize_mib, &sa.base, &sb.base, rz);
        json_object_set_new(result, "knob_latency_during_resize", rz);
    }
    json_object_set_new(result, "loadavg_1m_after", json_real(rm_bench_loadavg1()));
    if (rc)
        fprintf(stderr, "rustymem-bench rpc: some calls failed\n");
    return rc ? 1 : 0;
}

RM_BENCH_SUITE(rpc,
               "management-plane unary RPCs vs Health/Check at concurrency 1 and 16 (p50/p99/cps, ratios); "
               "SetKnobs latency during a dirty buffer-pool shrink; agent CPU with 50 WatchStats streams",
               "--addr HOST:PORT --calls N --knob-calls N --resize-mib M --no-resize --watch-streams N "
               "--watch-seconds S --no-watch",
               run_rpc)
