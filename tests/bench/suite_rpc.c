/*
 * suite_rpc.c — unary gRPC latency and throughput over loopback.
 *
 * Starts a real rustymemd on an ephemeral loopback port (or uses --addr) and
 * drives it with the C client library at concurrency 1 and 16. Reports, per
 * concurrency, p50/p99 latency in microseconds and calls per second for
 * MemoryService.GetMemoryStats, and the same for grpc.health.v1 Check as the
 * baseline of the transport alone (ratio = GetMemoryStats / Check at p50).
 *
 * Options: --addr HOST:PORT (use a running agent), --calls N (per concurrency
 * level; default 20000, --quick 3000).
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "../integration/agent_proc.h"
#include "bench.h"
#include "client.h"
#include "grpc/health/v1/health.pb-c.h"
#include "rustymem/v1/memory.pb-c.h"

typedef struct rpc_job {
    rm_client_t *client;
    const char *path;
    const ProtobufCMessage *req;
    const ProtobufCMessageDescriptor *resp_desc;
    int calls;
    double *lat_us;       /* calls entries */
    int errors;
} rpc_job_t;

static void *
rpc_worker(void *arg)
{
    rpc_job_t *j = arg;
    for (int i = 0; i < j->calls; i++) {
        ProtobufCMessage *resp;
        rm_call_status_t st;
        uint64_t t0 = rm_bench_now_ns();
        grpc_status_code c = rm_client_unary(j->client, j->path, j->req, j->resp_desc, &resp, &st);
        j->lat_us[i] = (double)(rm_bench_now_ns() - t0) / 1000.0;
        if (c == GRPC_STATUS_OK)
            protobuf_c_message_free_unpacked(resp, NULL);
        else
            j->errors++;
    }
    return NULL;
}

/* Run `total` calls spread over `conc` threads; fill p50/p99/rps into obj. */
static int
run_level(rm_client_t *client, const char *path, const ProtobufCMessage *req,
          const ProtobufCMessageDescriptor *resp_desc, int conc, int total, json_t *obj)
{
    int per = total / conc;
    rpc_job_t jobs[64];
    pthread_t th[64];
    double *lat = calloc((size_t)per * (size_t)conc, sizeof *lat);
    if (!lat)
        return -1;
    /* warm-up: connection, HTTP/2 windows, allocator caches */
    rpc_job_t warm = {client, path, req, resp_desc, 200, lat, 0};
    rpc_worker(&warm);

    uint64_t t0 = rm_bench_now_ns();
    for (int i = 0; i < conc; i++) {
        jobs[i] = (rpc_job_t){client, path, req, resp_desc, per, lat + (size_t)i * (size_t)per, 0};
        pthread_create(&th[i], NULL, rpc_worker, &jobs[i]);
    }
    int errors = 0;
    for (int i = 0; i < conc; i++) {
        pthread_join(th[i], NULL);
        errors += jobs[i].errors;
    }
    double secs = (double)(rm_bench_now_ns() - t0) / 1e9;
    size_t n = (size_t)per * (size_t)conc;
    json_object_set_new(obj, "calls", json_integer((json_int_t)n));
    json_object_set_new(obj, "errors", json_integer(errors));
    json_object_set_new(obj, "p50_us", json_real(rm_bench_percentile(lat, n, 50)));
    json_object_set_new(obj, "p99_us", json_real(rm_bench_percentile(lat, n, 99)));
    json_object_set_new(obj, "rps", json_real((double)n / secs));
    free(lat);
    return errors ? -1 : 0;
}

static int
run_rpc(const rm_bench_opts_t *o, json_t *result)
{
    const char *addr = rm_bench_arg(o, "--addr");
    const char *calls_s = rm_bench_arg(o, "--calls");
    int total = calls_s ? atoi(calls_s) : (o->quick ? 3000 : 20000);
    if (total < 16) {
        fprintf(stderr, "rustymem-bench rpc: --calls must be at least 16\n");
        return 1;
    }
    agent_proc_t agent = {0};
    char target[128];
    if (addr) {
        snprintf(target, sizeof target, "%s", addr);
    } else {
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
    Rustymem__V1__GetMemoryStatsRequest mreq = RUSTYMEM__V1__GET_MEMORY_STATS_REQUEST__INIT;
    Grpc__Health__V1__HealthCheckRequest hreq = GRPC__HEALTH__V1__HEALTH_CHECK_REQUEST__INIT;
    int rc = 0;
    const int levels[] = {1, 16};
    for (size_t i = 0; i < 2 && rc == 0; i++) {
        char key[32];
        json_t *m = json_object(), *h = json_object();
        rc |= run_level(client, "/rustymem.v1.MemoryService/GetMemoryStats", &mreq.base,
                        &rustymem__v1__memory_stats__descriptor, levels[i], total, m);
        rc |= run_level(client, "/grpc.health.v1.Health/Check", &hreq.base,
                        &grpc__health__v1__health_check_response__descriptor, levels[i], total, h);
        json_object_set_new(m, "health_check_baseline", h);
        double mp50 = json_real_value(json_object_get(m, "p50_us"));
        double hp50 = json_real_value(json_object_get(h, "p50_us"));
        json_object_set_new(m, "p50_ratio_vs_health_check", json_real(hp50 > 0 ? mp50 / hp50 : 0));
        fprintf(stderr, "concurrency %2d: GetMemoryStats p50 %.0f us p99 %.0f us %.0f rps | Check p50 %.0f us\n",
                levels[i], mp50, json_real_value(json_object_get(m, "p99_us")),
                json_real_value(json_object_get(m, "rps")), hp50);
        snprintf(key, sizeof key, "concurrency_%d", levels[i]);
        json_object_set_new(result, key, m);
    }
    rm_client_destroy(client);
    if (!addr)
        agent_stop(&agent, SIGTERM, 10.0, NULL);
    if (rc)
        fprintf(stderr, "rustymem-bench rpc: some calls failed\n");
    return rc ? 1 : 0;
}

RM_BENCH_SUITE(rpc, "unary GetMemoryStats over loopback gRPC at concurrency 1 and 16 (p50/p99/rps)",
               "--addr HOST:PORT --calls N", run_rpc)
