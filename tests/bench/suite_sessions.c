/*
 * suite_sessions.c — what sessions and connections cost, measured in a real
 * rustymemd, and whether throughput holds with 10x the sessions.
 *
 * Starts rustymemd (pool.min_size = pool.max_size = 1000 so 1000 connection
 * slots can be open) and reads the agent's RSS through GetMemoryStats:
 *   bytes_per_idle_session  RSS growth / sessions while opening 10 000 idle
 *                           sessions (gRPC warmed first with as many
 *                           OpenSession calls refused by closed admission, so
 *                           the growth is the engine's, not the RPC stack's);
 *   bytes_per_connection    RSS growth / 1 000 while binding 1 000 of those
 *                           sessions to connection slots, each writing one row
 *                           (scratch, transaction arena, slot records);
 *   rss_bytes_10k_sessions  agent RSS with the 10 000 sessions on 1 000 open
 *                           connections;
 *   tps_ratio_10k_vs_1k, p99_ms_10k
 *                           rustymem-load --profile oltp with 1 000 and then
 *                           10 000 sessions (same threads, same duration).
 * Options: --sessions N (default 10000; --quick 2000), --duration S of each
 * OLTP run (default 10; --quick 3).
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../integration/agent_proc.h"
#include "bench.h"
#include "client.h"
#include "rustymem/v1/emergency.pb-c.h"
#include "rustymem/v1/memory.pb-c.h"
#include "rustymem/v1/session.pb-c.h"

#define SS "/rustymem.v1.SessionService/"
#define THREADS 8

typedef struct job {
    rm_client_t *cl;
    uint64_t *ids;
    size_t n, from, step;
    int op;             /* 0 open, 1 begin+put+commit-less, 2 commit, 3 close, 4 refused open */
    uint64_t errors;
} job_t;

static grpc_status_code
unary(rm_client_t *cl, const char *path, const ProtobufCMessage *req, const ProtobufCMessageDescriptor *rd,
      ProtobufCMessage **resp)
{
    rm_call_status_t st;
    ProtobufCMessage *r = NULL;
    grpc_status_code c = rm_client_unary(cl, path, req, rd, &r, &st);
    if (resp)
        *resp = r;
    else if (r)
        protobuf_c_message_free_unpacked(r, NULL);
    return c;
}

static void *
job_main(void *arg)
{
    job_t *j = arg;
    for (size_t i = j->from; i < j->n; i += j->step) {
        grpc_status_code c = GRPC_STATUS_OK;
        if (j->op == 0 || j->op == 4) {
            Rustymem__V1__OpenSessionRequest q = RUSTYMEM__V1__OPEN_SESSION_REQUEST__INIT;
            ProtobufCMessage *r = NULL;
            c = unary(j->cl, SS "OpenSession", &q.base, &rustymem__v1__open_session_response__descriptor, &r);
            if (c == GRPC_STATUS_OK) {
                j->ids[i] = ((Rustymem__V1__OpenSessionResponse *)r)->session_id;
                protobuf_c_message_free_unpacked(r, NULL);
            }
            if (j->op == 4)
                c = c == GRPC_STATUS_RESOURCE_EXHAUSTED ? GRPC_STATUS_OK : GRPC_STATUS_UNKNOWN;
        } else if (j->op == 1) {
            Rustymem__V1__BeginRequest b = RUSTYMEM__V1__BEGIN_REQUEST__INIT;
            b.session_id = j->ids[i];
            c = unary(j->cl, SS "Begin", &b.base, &rustymem__v1__begin_response__descriptor, NULL);
            if (c == GRPC_STATUS_OK) {
                char key[32], val[100];
                snprintf(key, sizeof key, "conn%06zu", i);
                memset(val, 'v', sizeof val);
                Rustymem__V1__PutRequest p = RUSTYMEM__V1__PUT_REQUEST__INIT;
                p.session_id = j->ids[i];
                p.table = "bench";
                p.key.data = (uint8_t *)key;
                p.key.len = strlen(key);
                p.value.data = (uint8_t *)val;
                p.value.len = sizeof val;
                c = unary(j->cl, SS "Put", &p.base, &rustymem__v1__put_response__descriptor, NULL);
            }
        } else if (j->op == 2) {
            Rustymem__V1__CommitRequest q = RUSTYMEM__V1__COMMIT_REQUEST__INIT;
            q.session_id = j->ids[i];
            c = unary(j->cl, SS "Commit", &q.base, &rustymem__v1__commit_response__descriptor, NULL);
        } else {
            Rustymem__V1__CloseSessionRequest q = RUSTYMEM__V1__CLOSE_SESSION_REQUEST__INIT;
            q.session_id = j->ids[i];
            c = unary(j->cl, SS "CloseSession", &q.base, &rustymem__v1__close_session_response__descriptor, NULL);
        }
        if (c != GRPC_STATUS_OK)
            j->errors++;
    }
    return NULL;
}

static uint64_t
run_jobs(rm_client_t *cl, uint64_t *ids, size_t n, int op)
{
    pthread_t th[THREADS];
    job_t jobs[THREADS];
    uint64_t errors = 0;
    for (size_t t = 0; t < THREADS; t++) {
        jobs[t] = (job_t){cl, ids, n, t, THREADS, op, 0};
        pthread_create(&th[t], NULL, job_main, &jobs[t]);
    }
    for (size_t t = 0; t < THREADS; t++) {
        pthread_join(th[t], NULL);
        errors += jobs[t].errors;
    }
    return errors;
}

static uint64_t
agent_rss(rm_client_t *cl)
{
    usleep(200000);   /* let the agent's threads settle */
    Rustymem__V1__GetMemoryStatsRequest q = RUSTYMEM__V1__GET_MEMORY_STATS_REQUEST__INIT;
    ProtobufCMessage *r = NULL;
    if (unary(cl, "/rustymem.v1.MemoryService/GetMemoryStats", &q.base, &rustymem__v1__memory_stats__descriptor,
              &r) != GRPC_STATUS_OK)
        return 0;
    uint64_t rss = ((Rustymem__V1__MemoryStats *)r)->rss_bytes;
    protobuf_c_message_free_unpacked(r, NULL);
    return rss;
}

static int
admission(rm_client_t *cl, int open)
{
    Rustymem__V1__SetAdmissionRequest q = RUSTYMEM__V1__SET_ADMISSION_REQUEST__INIT;
    q.accept_new_connections = open;
    return unary(cl, "/rustymem.v1.EmergencyService/SetAdmission", &q.base, &rustymem__v1__action_result__descriptor,
                 NULL) == GRPC_STATUS_OK
               ? 0
               : -1;
}

/* Run rustymem-load and parse its JSON summary into *out (caller decrefs). */
static int
run_load(const char *addr, uint32_t sessions, double duration, json_t **out)
{
    char cmd[PATH_MAX + 256];
    snprintf(cmd, sizeof cmd, "%s/tools/load/rustymem-load --addr %s --profile oltp --sessions %u --threads 8 "
                              "--duration %g --json 2>/dev/null",
             getenv("RM_BUILD_DIR"), addr, sessions, duration);
    FILE *p = popen(cmd, "r");
    if (!p)
        return -1;
    json_error_t je;
    *out = json_loadf(p, 0, &je);
    int rc = pclose(p);
    return *out && rc == 0 ? 0 : -1;
}

static int
run_sessions(const rm_bench_opts_t *o, json_t *result)
{
    const char *ns = rm_bench_arg(o, "--sessions"), *ds = rm_bench_arg(o, "--duration");
    size_t n = ns ? (size_t)atol(ns) : (o->quick ? 2000 : 10000);
    double dur = ds ? atof(ds) : (o->quick ? 3 : 10);
    size_t conns = n / 10 ? n / 10 : 1;
    if (n < 10 || n > 1000000 || dur <= 0) {
        fprintf(stderr, "rustymem-bench sessions: --sessions 10..1000000, --duration > 0\n");
        return 1;
    }
    if (!getenv("RM_BUILD_DIR")) {
        static char build[PATH_MAX];
        ssize_t k = readlink("/proc/self/exe", build, sizeof build - 1);
        if (k > 0) {
            build[k] = '\0';
            char *p = strstr(build, "/tests/bench/");
            if (p) {
                *p = '\0';
                setenv("RM_BUILD_DIR", build, 1);
            }
        }
    }
    char pool[64], maxs[64];
    snprintf(pool, sizeof pool, "pool.max_size=%zu", conns < 1000 ? (size_t)1000 : conns);
    snprintf(maxs, sizeof maxs, "pool.min_size=%zu", conns < 1000 ? (size_t)1000 : conns);
    const char *extra[] = {"--set", pool, "--set", maxs, NULL};
    agent_proc_t agent = {0};
    if (agent_start(&agent, extra) < 0) {
        fprintf(stderr, "rustymem-bench sessions: cannot start rustymemd (set RM_BUILD_DIR)\n");
        return 1;
    }
    rm_client_t *cl = NULL;
    char err[256];
    rm_client_opts_t co = {.target = agent.addr, .timeout_ms = 20000};
    uint64_t *ids = calloc(n, sizeof *ids);
    int rc = 1;
    if (!ids || rm_client_create(&co, &cl, err, sizeof err) != RM_OK)
        goto out;
    /* warm the RPC path with as many refused opens */
    if (admission(cl, 0) != 0 || run_jobs(cl, ids, n, 4) != 0 || admission(cl, 1) != 0) {
        fprintf(stderr, "rustymem-bench sessions: warm-up failed\n");
        goto out;
    }
    uint64_t rss0 = agent_rss(cl);
    if (run_jobs(cl, ids, n, 0) != 0) {
        fprintf(stderr, "rustymem-bench sessions: opening %zu sessions failed\n", n);
        goto out;
    }
    uint64_t rss1 = agent_rss(cl);
    if (run_jobs(cl, ids, conns, 1) != 0) {
        fprintf(stderr, "rustymem-bench sessions: binding %zu connections failed\n", conns);
        goto out;
    }
    uint64_t rss2 = agent_rss(cl);
    (void)run_jobs(cl, ids, conns, 2);
    uint64_t rss3 = agent_rss(cl);
    double per_session = rss1 > rss0 ? (double)(rss1 - rss0) / (double)n : 0.0;
    double per_conn = rss2 > rss1 ? (double)(rss2 - rss1) / (double)conns : 0.0;
    fprintf(stderr, "RSS: %.1f MiB warm, %.1f MiB with %zu sessions, %.1f MiB with %zu connections bound, "
                    "%.1f MiB after commit\n",
            rss0 / 1048576.0, rss1 / 1048576.0, n, rss2 / 1048576.0, conns, rss3 / 1048576.0);
    fprintf(stderr, "bytes per idle session %.0f, per connection %.0f\n", per_session, per_conn);
    (void)run_jobs(cl, ids, n, 3);

    json_t *l1 = NULL, *l10 = NULL;
    if (run_load(agent.addr, (uint32_t)conns, dur, &l1) != 0 || run_load(agent.addr, (uint32_t)n, dur, &l10) != 0) {
        fprintf(stderr, "rustymem-bench sessions: rustymem-load failed\n");
        json_decref(l1);
        json_decref(l10);
        goto out;
    }
    double tps1 = json_number_value(json_object_get(l1, "tps"));
    double tps10 = json_number_value(json_object_get(l10, "tps"));
    double p99_10 = json_number_value(json_object_get(json_object_get(l10, "latency_ms"), "p99"));
    double p99_1 = json_number_value(json_object_get(json_object_get(l1, "latency_ms"), "p99"));
    fprintf(stderr, "OLTP: %zu sessions %.0f tx/s p99 %.2f ms | %zu sessions %.0f tx/s p99 %.2f ms | ratio %.3f\n",
            conns, tps1, p99_1, n, tps10, p99_10, tps1 > 0 ? tps10 / tps1 : 0);
    json_object_set_new(result, "sessions", json_integer((json_int_t)n));
    json_object_set_new(result, "connections", json_integer((json_int_t)conns));
    json_object_set_new(result, "bytes_per_idle_session", json_real(per_session));
    json_object_set_new(result, "bytes_per_connection", json_real(per_conn));
    json_object_set_new(result, "rss_bytes_10k_sessions", json_integer((json_int_t)rss2));
    json_object_set_new(result, "rss_bytes_warm", json_integer((json_int_t)rss0));
    json_object_set_new(result, "tps_1k", json_real(tps1));
    json_object_set_new(result, "tps_10k", json_real(tps10));
    json_object_set_new(result, "tps_ratio_10k_vs_1k", json_real(tps1 > 0 ? tps10 / tps1 : 0));
    json_object_set_new(result, "p99_ms_1k", json_real(p99_1));
    json_object_set_new(result, "p99_ms_10k", json_real(p99_10));
    json_object_set_new(result, "load_1k", l1);
    json_object_set_new(result, "load_10k", l10);
    json_object_set_new(result, "targets_met",
                        json_boolean(per_session <= 2048 && rss2 <= (1ull << 30) && tps1 > 0 && tps10 / tps1 >= 0.8));
    rc = 0;
out:
    if (cl)
        rm_client_destroy(cl);
    free(ids);
    agent_stop(&agent, SIGTERM, 10.0, NULL);
    return rc;
}

RM_BENCH_SUITE(sessions,
               "RSS per idle session and per connection in a real rustymemd (10 000 sessions on 1 000 "
               "connections) and OLTP throughput with 1 000 vs 10 000 sessions",
               "--sessions N --duration SECONDS", run_sessions)
