/*
 * suite_soak.c — load and soak: a real rustymemd under a mixed workload for N
 * minutes while an operator pokes at it, and whether its memory stays flat.
 *
 *   rustymem-bench soak --minutes N [--json] [--agent PATH] [--threads N]
 *       [--sessions N] [--seed S] [--sample-seconds S] [--set NAME=VALUE]...
 *
 * What runs. A fresh rustymemd (--agent PATH, else $RM_BUILD_DIR/agents/node/
 * rustymemd, else ../../agents/node/rustymemd beside this binary) on an
 * ephemeral loopback port (--port-file) with a temporary data directory.
 * Its tables are first filled (every key the workload touches exists, so
 * the data set does not grow during the run); then for N minutes:
 *   - workload threads (--threads, default 4) run the mixed profile of
 *     rustymem-load --profile mixed over SessionService on --sessions
 *     sessions (default 200): 70 % OLTP (2 gets + 2 puts), 20 % OLAP (a
 *     100-row low-priority scan), 10 % bulk (100 puts into a bounded key
 *     ring), with deletes (re-inserted later), savepoints + RollbackTo and
 *     explicit rollbacks mixed in, and session churn (a session is closed and
 *     a new one opened every ~100 transactions of a thread);
 *   - one operator thread at seeded random (exponential) times:
 *       stats polls: every read RPC of MemoryService (including a short
 *         WatchStats stream) and ForecastService (including a short
 *         WatchPressure stream), TuningService ListKnobs/GetKnobs and
 *         ApplyProfile(validate_only), and grpc.health.v1 Check;
 *       knob changes: a live knob (or an ordered group, e.g. the four
 *         pressure thresholds) set to a valid value within its range through
 *         TuningService.SetKnobs, reverted to the value read before 2-10 s
 *         later (every change is reverted before the agent is stopped);
 *       emergency actions: EvictBufferPool (1-10 %), ForceGarbageCollection,
 *         ClearPlanCache, KillOrphanedTransactions, KillLongRunningQueries,
 *         CoalesceLargeObjects, TriggerResponse (gentle/aggressive, rarely
 *         emergency) and SetAdmission off for 0.5-2 s then on again;
 *   - the main thread samples the agent's RSS from /proc/<pid>/statm and its
 *     GetMemoryStats / GetEngineStats every --sample-seconds (default 2).
 * At the end the agent gets SIGTERM and must exit 0 within 30 s.
 *
 * Errors. Every call's status is counted per RPC. A status is "expected" when
 * the protocol promises it for what the soak does on purpose: ABORTED for
 * write conflicts inside a transaction, CANCELLED for a scan cancelled by
 * KillLongRunningQueries or the aggressive response, UNAVAILABLE from Begin
 * when every pooled connection is busy (or the pool was just shrunk),
 * RESOURCE_EXHAUSTED from OpenSession/Begin when admission is closed at the
 * end of the call or reopened less than 2 s before, DEADLINE_EXCEEDED (or CANCELLED, when the server sees the expired
 * deadline first) ending the short WatchPressure stream. Anything
 * else is unexpected and fails the run, with the first messages in
 * unexpected_error_samples.
 *
 * RSS drift. The warm-up is the first 20 % of the run or 30 s, whichever is
 * larger: the first seconds grow the gRPC stack, the slab depots, the arena
 * block cache, the plan cache and the allocator's dirty pages to their working
 * set, which is not a leak and would dominate a short fit. Over the samples
 * after the warm-up a least-squares line rss(t) = a + b t is fitted;
 *   rss_drift_pct_per_hour = b * 3600 / mean(rss) * 100.
 * It is null when fewer than 3 samples follow the warm-up (runs of about 30 s
 * or less). The same fit is made for every byte and count series of
 * GetMemoryStats (per memcore component, jemalloc) and GetEngineStats
 * (gauges), reported in growth_after_warmup, so that a drift can be traced to
 * the component that grows. leak_alert is true if ForecastService ever
 * reported the "leak" alert (ListAlerts, or an alert_raised event).
 *
 * Exit status non-zero when the agent died, an unexpected error occurred, or
 * the agent did not exit 0 on SIGTERM (the JSON is still printed on stdout).
 * targets_met adds the target for a long run: drift < 1 %/h (a
 * shrinking RSS meets it) and no leak alert (it does not change the exit
 * status).
 */
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "client.h"
#include "grpc/health/v1/health.pb-c.h"
#include "rustymem/v1/common.pb-c.h"
#include "rustymem/v1/emergency.pb-c.h"
#include "rustymem/v1/forecast.pb-c.h"
#include "rustymem/v1/memory.pb-c.h"
#include "rustymem/v1/session.pb-c.h"
#include "rustymem/v1/tuning.pb-c.h"

#define CODES 17
#define BIT(c) (1u << (c))
#define ADMISSION (1u << 31)   /* expect mask: RESOURCE_EXHAUSTED while admission is (just) closed */
#define TABLES 8
#define KEYS 2000          /* per table */
#define BULK_RING 1000     /* bulk keys per worker */
#define MAX_THREADS 64
#define MAX_SAMPLES_KEPT 20

/* ---- the RPCs the soak calls, and their counters --------------------------------- */

#define MS "/rustymem.v1.MemoryService/"
#define FS "/rustymem.v1.ForecastService/"
#define TS "/rustymem.v1.TuningService/"
#define ES "/rustymem.v1.EmergencyService/"
#define SS "/rustymem.v1.SessionService/"

typedef enum rpc_id {
    R_OPEN, R_CLOSE, R_BEGIN, R_GET, R_PUT, R_DELETE, R_SCAN, R_SAVEPOINT, R_ROLLBACK_TO, R_COMMIT, R_ROLLBACK,
    R_MEM, R_SLAB, R_ARENA, R_BUFPOOL, R_LARGE, R_FRAG, R_TXNS, R_ENGINE, R_WATCH_STATS,
    R_FORECAST, R_EVENTS, R_ALERTS, R_WATCH_PRESSURE,
    R_LIST_KNOBS, R_GET_KNOBS, R_SET_KNOBS, R_APPLY_PROFILE,
    R_GC, R_CLEAR_PLANS, R_KILL_ORPHANS, R_KILL_QUERIES, R_COALESCE, R_EVICT, R_ADMISSION, R_TRIGGER,
    R_HEALTH,
    R_N
} rpc_id_t;

typedef struct rpc_def {
    const char *path;
    const ProtobufCMessageDescriptor *resp;
} rpc_def_t;

static const rpc_def_t rpcs[R_N] = {
    [R_OPEN] = {SS "OpenSession", &rustymem__v1__open_session_response__descriptor},
    [R_CLOSE] = {SS "CloseSession", &rustymem__v1__close_session_response__descriptor},
    [R_BEGIN] = {SS "Begin", &rustymem__v1__begin_response__descriptor},
    [R_GET] = {SS "Get", &rustymem__v1__get_response__descriptor},
    [R_PUT] = {SS "Put", &rustymem__v1__put_response__descriptor},
    [R_DELETE] = {SS "Delete", &rustymem__v1__delete_response__descriptor},
    [R_SCAN] = {SS "Scan", &rustymem__v1__scan_response__descriptor},
    [R_SAVEPOINT] = {SS "Savepoint", &rustymem__v1__savepoint_response__descriptor},
    [R_ROLLBACK_TO] = {SS "RollbackTo", &rustymem__v1__rollback_to_response__descriptor},
    [R_COMMIT] = {SS "Commit", &rustymem__v1__commit_response__descriptor},
    [R_ROLLBACK] = {SS "Rollback", &rustymem__v1__rollback_response__descriptor},
    [R_MEM] = {MS "GetMemoryStats", &rustymem__v1__memory_stats__descriptor},
    [R_SLAB] = {MS "GetSlabStats", &rustymem__v1__slab_stats__descriptor},
    [R_ARENA] = {MS "GetArenaStats", &rustymem__v1__arena_stats__descriptor},
    [R_BUFPOOL] = {MS "GetBufferPoolStats", &rustymem__v1__buffer_pool_stats__descriptor},
    [R_LARGE] = {MS "GetLargeObjectStats", &rustymem__v1__large_object_stats__descriptor},
    [R_FRAG] = {MS "GetFragmentationStats", &rustymem__v1__fragmentation_stats__descriptor},
    [R_TXNS] = {MS "ListTransactions", &rustymem__v1__list_transactions_response__descriptor},
    [R_ENGINE] = {MS "GetEngineStats", &rustymem__v1__engine_stats__descriptor},
    [R_WATCH_STATS] = {MS "WatchStats", &rustymem__v1__memory_stats__descriptor},
    [R_FORECAST] = {FS "GetForecast", &rustymem__v1__forecast__descriptor},
    [R_EVENTS] = {FS "ListPressureEvents", &rustymem__v1__list_pressure_events_response__descriptor},
    [R_ALERTS] = {FS "ListAlerts", &rustymem__v1__list_alerts_response__descriptor},
    [R_WATCH_PRESSURE] = {FS "WatchPressure", &rustymem__v1__pressure_event__descriptor},
    [R_LIST_KNOBS] = {TS "ListKnobs", &rustymem__v1__list_knobs_response__descriptor},
    [R_GET_KNOBS] = {TS "GetKnobs", &rustymem__v1__get_knobs_response__descriptor},
    [R_SET_KNOBS] = {TS "SetKnobs", &rustymem__v1__set_knobs_response__descriptor},
    [R_APPLY_PROFILE] = {TS "ApplyProfile", &rustymem__v1__set_knobs_response__descriptor},
    [R_GC] = {ES "ForceGarbageCollection", &rustymem__v1__action_result__descriptor},
    [R_CLEAR_PLANS] = {ES "ClearPlanCache", &rustymem__v1__action_result__descriptor},
    [R_KILL_ORPHANS] = {ES "KillOrphanedTransactions", &rustymem__v1__action_result__descriptor},
    [R_KILL_QUERIES] = {ES "KillLongRunningQueries", &rustymem__v1__action_result__descriptor},
    [R_COALESCE] = {ES "CoalesceLargeObjects", &rustymem__v1__action_result__descriptor},
    [R_EVICT] = {ES "EvictBufferPool", &rustymem__v1__action_result__descriptor},
    [R_ADMISSION] = {ES "SetAdmission", &rustymem__v1__action_result__descriptor},
    [R_TRIGGER] = {ES "TriggerResponse", &rustymem__v1__action_result__descriptor},
    [R_HEALTH] = {"/grpc.health.v1.Health/Check", &grpc__health__v1__health_check_response__descriptor},
};

typedef struct soak {
    rm_client_t *work, *admin;         /* workload channel; operator + sampler channel */
    pid_t agent_pid;
    uint32_t threads, sessions;
    uint64_t seed;
    _Atomic int stop;                  /* workers and operator end */
    _Atomic int agent_dead;

    _Atomic uint64_t ok[R_N];
    _Atomic uint64_t expected[R_N][CODES];
    _Atomic uint64_t unexpected[R_N][CODES];

    /* admission window: OpenSession/Begin may be refused while closed and 2 s after */
    _Atomic uint64_t admission_closed_ns;   /* 0 = open */
    _Atomic uint64_t admission_reopened_ns;

    _Atomic uint64_t transactions, committed, rolled_back, session_churn;
    _Atomic uint64_t knob_changes, knob_reverts, emergency_actions, stats_polls;
    _Atomic int leak_alert;

    pthread_mutex_t mu;                /* guards samples and leak_detail */
    json_t *unexpected_samples;        /* [{rpc, code, message, t_s}] */
    char leak_detail[256];
    uint64_t t0_ns;
} soak_t;

static soak_t S;

static double
since_start_s(void)
{
    return (double)(rm_bench_now_ns() - S.t0_ns) / 1e9;
}

static uint64_t
xorshift(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static double
uniform(uint64_t *s, double lo, double hi)
{
    return lo + (hi - lo) * ((double)(xorshift(s) >> 11) / 9007199254740992.0);
}

/* Exponential inter-arrival time with the given mean. */
static double
exp_wait(uint64_t *s, double mean)
{
    double u = uniform(s, 1e-9, 1.0);
    return -mean * log(u);
}

static int
in_admission_window(void)
{
    uint64_t closed = atomic_load(&S.admission_closed_ns), reopened = atomic_load(&S.admission_reopened_ns);
    return closed != 0 || (reopened && rm_bench_now_ns() - reopened < 2000000000ull);
}

static void
record(rpc_id_t r, grpc_status_code c, unsigned expect_mask, const rm_call_status_t *st)
{
    if (c == GRPC_STATUS_OK) {
        atomic_fetch_add(&S.ok[r], 1);
        return;
    }
    unsigned k = (unsigned)c < CODES ? (unsigned)c : GRPC_STATUS_UNKNOWN;
    /* judged when the call has ended: admission may have closed while it ran */
    if ((expect_mask & ADMISSION) && in_admission_window())
        expect_mask |= BIT(GRPC_STATUS_RESOURCE_EXHAUSTED);
    if (expect_mask & BIT(k)) {
        atomic_fetch_add(&S.expected[r][k], 1);
        return;
    }
    atomic_fetch_add(&S.unexpected[r][k], 1);
    pthread_mutex_lock(&S.mu);
    if (json_array_size(S.unexpected_samples) < MAX_SAMPLES_KEPT)
        json_array_append_new(S.unexpected_samples,
                              json_pack("{s:s, s:s, s:s, s:f}", "rpc", rpcs[r].path, "code",
                                        rm_client_status_name((grpc_status_code)k), "message",
                                        st ? st->message : "", "t_s", since_start_s()));
    pthread_mutex_unlock(&S.mu);
}

/*
 * One unary call of rpc r on channel cl; counts it. On OK *resp (if given)
 * owns the response, else it is freed. expect_mask: status codes that are
 * expected for this call (BIT(GRPC_STATUS_ABORTED) …).
 */
static grpc_status_code
call(rm_client_t *cl, rpc_id_t r, const ProtobufCMessage *req, ProtobufCMessage **resp, unsigned expect_mask)
{
    ProtobufCMessage *out = NULL;
    rm_call_status_t st;
    st.message[0] = '\0';
    grpc_status_code c = rm_client_unary(cl, rpcs[r].path, req, rpcs[r].resp, &out, &st);
    record(r, c, expect_mask, &st);
    if (resp)
        *resp = out;
    else if (out)
        protobuf_c_message_free_unpacked(out, NULL);
    return c;
}

/* ---- workload ------------------------------------------------------------------- */

typedef struct worker {
    pthread_t th;
    uint32_t index;
    uint64_t rng;
    uint64_t *sids;            /* this worker's sessions */
    uint32_t n_sids;
    uint32_t bulk_pos;
    uint64_t txns;
} worker_t;

static uint64_t
open_session(rm_client_t *cl)
{
    Rustymem__V1__OpenSessionRequest q = RUSTYMEM__V1__OPEN_SESSION_REQUEST__INIT;
    q.client_name = "rustymem-bench-soak";
    ProtobufCMessage *r = NULL;
    if (call(cl, R_OPEN, &q.base, &r, ADMISSION) != GRPC_STATUS_OK)
        return 0;
    uint64_t id = ((Rustymem__V1__OpenSessionResponse *)r)->session_id;
    protobuf_c_message_free_unpacked(r, NULL);
    return id;
}

static void
close_session(rm_client_t *cl, uint64_t sid)
{
    Rustymem__V1__CloseSessionRequest q = RUSTYMEM__V1__CLOSE_SESSION_REQUEST__INIT;
    q.session_id = sid;
    (void)call(cl, R_CLOSE, &q.base, NULL, 0);
}

/* Inside a transaction: conflicts (and a transaction ended by an emergency
 * action) answer ABORTED. */
#define IN_TXN BIT(GRPC_STATUS_ABORTED)

static grpc_status_code
put(rm_client_t *cl, uint64_t sid, const char *table, const char *key, const uint8_t *val, size_t vlen)
{
    Rustymem__V1__PutRequest q = RUSTYMEM__V1__PUT_REQUEST__INIT;
    q.session_id = sid;
    q.table = (char *)table;
    q.key.data = (uint8_t *)key;
    q.key.len = strlen(key);
    q.value.data = (uint8_t *)val;
    q.value.len = vlen;
    return call(cl, R_PUT, &q.base, NULL, IN_TXN);
}

static grpc_status_code
get(rm_client_t *cl, uint64_t sid, const char *table, const char *key)
{
    Rustymem__V1__GetRequest q = RUSTYMEM__V1__GET_REQUEST__INIT;
    q.session_id = sid;
    q.table = (char *)table;
    q.key.data = (uint8_t *)key;
    q.key.len = strlen(key);
    return call(cl, R_GET, &q.base, NULL, IN_TXN);
}

static grpc_status_code
del(rm_client_t *cl, uint64_t sid, const char *table, const char *key)
{
    Rustymem__V1__DeleteRequest q = RUSTYMEM__V1__DELETE_REQUEST__INIT;
    q.session_id = sid;
    q.table = (char *)table;
    q.key.data = (uint8_t *)key;
    q.key.len = strlen(key);
    return call(cl, R_DELETE, &q.base, NULL, IN_TXN);
}

static grpc_status_code
scan(rm_client_t *cl, uint64_t sid, const char *table, const char *start)
{
    Rustymem__V1__ScanRequest q = RUSTYMEM__V1__SCAN_REQUEST__INIT;
    q.session_id = sid;
    q.table = (char *)table;
    q.start_key.data = (uint8_t *)start;
    q.start_key.len = strlen(start);
    q.limit = 100;
    q.priority = RUSTYMEM__V1__QUERY_PRIORITY__QUERY_PRIORITY_LOW;
    return call(cl, R_SCAN, &q.base, NULL, IN_TXN | BIT(GRPC_STATUS_CANCELLED));
}

static void
fill_value(uint64_t *rng, uint8_t *val, size_t n)
{
    for (size_t i = 0; i < n; i++)
        val[i] = (uint8_t)('a' + xorshift(rng) % 26);
}

/* One transaction of the mixed profile. Returns 1 when committed. */
static int
transaction(worker_t *w, uint64_t sid)
{
    rm_client_t *cl = S.work;
    uint64_t x = xorshift(&w->rng) % 100;
    int kind = x < 70 ? 0 : x < 90 ? 1 : 2;   /* oltp, olap, bulk */
    Rustymem__V1__BeginRequest b = RUSTYMEM__V1__BEGIN_REQUEST__INIT;
    b.session_id = sid;
    b.size_hint_bytes = kind == 2 ? 1u << 20 : 0;
    grpc_status_code c = call(cl, R_BEGIN, &b.base, NULL, BIT(GRPC_STATUS_UNAVAILABLE) | ADMISSION);
    atomic_fetch_add(&S.transactions, 1);
    if (c != GRPC_STATUS_OK) {
        usleep(1000);
        return 0;
    }
    char table[16], key[48];
    uint8_t val[100];
    snprintf(table, sizeof table, "t%" PRIu64, xorshift(&w->rng) % TABLES);
    int explicit_rollback = xorshift(&w->rng) % 100 < 3;
    if (kind == 0) {
        for (int i = 0; i < 2 && c == GRPC_STATUS_OK; i++) {
            snprintf(key, sizeof key, "key%06" PRIu64, xorshift(&w->rng) % KEYS);
            c = get(cl, sid, table, key);
        }
        if (c == GRPC_STATUS_OK && xorshift(&w->rng) % 100 < 5) {
            Rustymem__V1__SavepointRequest sp = RUSTYMEM__V1__SAVEPOINT_REQUEST__INIT;
            sp.session_id = sid;
            sp.name = "sp1";
            c = call(cl, R_SAVEPOINT, &sp.base, NULL, IN_TXN);
            if (c == GRPC_STATUS_OK) {
                snprintf(key, sizeof key, "key%06" PRIu64, xorshift(&w->rng) % KEYS);
                fill_value(&w->rng, val, sizeof val);
                c = put(cl, sid, table, key, val, sizeof val);
            }
            if (c == GRPC_STATUS_OK) {
                Rustymem__V1__RollbackToRequest rt = RUSTYMEM__V1__ROLLBACK_TO_REQUEST__INIT;
                rt.session_id = sid;
                rt.name = "sp1";
                c = call(cl, R_ROLLBACK_TO, &rt.base, NULL, IN_TXN);
            }
        }
        for (int i = 0; i < 2 && c == GRPC_STATUS_OK; i++) {
            snprintf(key, sizeof key, "key%06" PRIu64, xorshift(&w->rng) % KEYS);
            /* 5 % of the writes delete; the key comes back with a later put */
            if (xorshift(&w->rng) % 100 < 5) {
                c = del(cl, sid, table, key);
            } else {
                fill_value(&w->rng, val, sizeof val);
                c = put(cl, sid, table, key, val, sizeof val);
            }
        }
    } else if (kind == 1) {
        snprintf(key, sizeof key, "key%06" PRIu64, xorshift(&w->rng) % KEYS);
        c = scan(cl, sid, table, key);
    } else {
        fill_value(&w->rng, val, sizeof val);
        for (int i = 0; i < 100 && c == GRPC_STATUS_OK && !atomic_load(&S.stop); i++) {
            snprintf(key, sizeof key, "bulk-w%02u-%05u", w->index, w->bulk_pos);
            w->bulk_pos = (w->bulk_pos + 1) % BULK_RING;
            val[i % sizeof val] = (uint8_t)('a' + i % 26);
            c = put(cl, sid, "bulk", key, val, sizeof val);
        }
    }
    if (c == GRPC_STATUS_OK && !explicit_rollback) {
        Rustymem__V1__CommitRequest q = RUSTYMEM__V1__COMMIT_REQUEST__INIT;
        q.session_id = sid;
        c = call(cl, R_COMMIT, &q.base, NULL, IN_TXN);
        if (c == GRPC_STATUS_OK) {
            atomic_fetch_add(&S.committed, 1);
            return 1;
        }
        if (c == GRPC_STATUS_ABORTED)
            return 0;   /* a failed commit ends the transaction */
    }
    /* explicit rollback, or after a failed call; "no open transaction"
     * (FAILED_PRECONDITION) is expected when the failure already ended it */
    Rustymem__V1__RollbackRequest q = RUSTYMEM__V1__ROLLBACK_REQUEST__INIT;
    q.session_id = sid;
    (void)call(cl, R_ROLLBACK, &q.base, NULL, c == GRPC_STATUS_OK ? 0 : BIT(GRPC_STATUS_FAILED_PRECONDITION));
    atomic_fetch_add(&S.rolled_back, 1);
    return 0;
}

static void *
worker_main(void *arg)
{
    worker_t *w = arg;
    uint32_t i = 0;
    while (!atomic_load(&S.stop)) {
        uint64_t sid = w->sids[i];
        if (!sid) {
            w->sids[i] = sid = open_session(S.work);
            if (!sid) {
                usleep(10000);
                i = (i + 1) % w->n_sids;
                continue;
            }
        }
        (void)transaction(w, sid);
        w->txns++;
        /* session churn: about every 100 transactions one session is replaced */
        if (xorshift(&w->rng) % 100 == 0) {
            uint32_t k = (uint32_t)(xorshift(&w->rng) % w->n_sids);
            if (w->sids[k]) {
                close_session(S.work, w->sids[k]);
                w->sids[k] = 0;
                atomic_fetch_add(&S.session_churn, 1);
            }
        }
        i = (i + 1) % w->n_sids;
    }
    return NULL;
}

/* Fill every key the workload touches, so the data set is flat during the run. */
static int
prefill(uint32_t threads)
{
    uint64_t sid = open_session(S.work);
    if (!sid)
        return -1;
    uint64_t rng = S.seed ^ 0x5bd1e995u;
    uint8_t val[100];
    char key[48], table[16];
    int rc = 0;
    for (int t = 0; t <= TABLES && rc == 0; t++) {
        uint32_t nkeys = t < TABLES ? KEYS : threads * BULK_RING;
        for (uint32_t k0 = 0; k0 < nkeys && rc == 0; k0 += 200) {
            Rustymem__V1__BeginRequest b = RUSTYMEM__V1__BEGIN_REQUEST__INIT;
            b.session_id = sid;
            if (call(S.work, R_BEGIN, &b.base, NULL, 0) != GRPC_STATUS_OK) {
                rc = -1;
                break;
            }
            for (uint32_t k = k0; k < k0 + 200 && k < nkeys && rc == 0; k++) {
                fill_value(&rng, val, sizeof val);
                if (t < TABLES) {
                    snprintf(table, sizeof table, "t%d", t);
                    snprintf(key, sizeof key, "key%06u", k);
                } else {
                    snprintf(table, sizeof table, "bulk");
                    snprintf(key, sizeof key, "bulk-w%02u-%05u", k / BULK_RING, k % BULK_RING);
                }
                if (put(S.work, sid, table, key, val, sizeof val) != GRPC_STATUS_OK)
                    rc = -1;
            }
            Rustymem__V1__CommitRequest q = RUSTYMEM__V1__COMMIT_REQUEST__INIT;
            q.session_id = sid;
            if (rc == 0 && call(S.work, R_COMMIT, &q.base, NULL, 0) != GRPC_STATUS_OK)
                rc = -1;
        }
    }
    close_session(S.work, sid);
    return rc;
}

static uint64_t statm_rss(pid_t pid);

/* ---- the operator: stats polls, knob changes, emergency actions -------------------- */

typedef struct knob_change {
    int active;
    uint64_t revert_at_ns;
    size_t n;
    char name[4][64];
    char old_value[4][64];
} knob_change_t;

static void
note_leak(const char *what)
{
    if (!atomic_exchange(&S.leak_alert, 1)) {
        pthread_mutex_lock(&S.mu);
        snprintf(S.leak_detail, sizeof S.leak_detail, "t=%.0fs %s", since_start_s(), what);
        pthread_mutex_unlock(&S.mu);
        fprintf(stderr, "soak: leak alert: %s\n", what);
    }
}

/* A short server stream: read up to `want` messages within timeout_ms. */
static void
short_stream(rpc_id_t r, const ProtobufCMessage *req, int want, int timeout_ms, unsigned expect_end)
{
    rm_client_stream_t *s = NULL;
    rm_call_status_t st;
    st.message[0] = '\0';
    grpc_status_code c = rm_client_stream_open(S.admin, rpcs[r].path, req, timeout_ms, &s, &st);
    if (c != GRPC_STATUS_OK) {
        record(r, c, 0, &st);
        return;
    }
    int got = 0, bad = 0;
    ProtobufCMessage *m;
    while (got < want) {
        int k = rm_client_stream_next(s, rpcs[r].resp, &m);
        if (k <= 0) {
            bad = k < 0;
            break;
        }
        if (r == R_WATCH_PRESSURE) {
            const Rustymem__V1__PressureEvent *ev = (const void *)m;
            if (ev->kind && strcmp(ev->kind, "alert_raised") == 0 && ev->detail && strstr(ev->detail, "leak"))
                note_leak(ev->detail);
        }
        protobuf_c_message_free_unpacked(m, NULL);
        got++;
    }
    int ended = got < want;   /* the server ended it (or the deadline did) */
    rm_client_stream_finish(s, &st);
    if (bad)
        record(r, GRPC_STATUS_INTERNAL, 0, &(rm_call_status_t){GRPC_STATUS_INTERNAL, "undecodable stream message"});
    else if (!ended || st.code == GRPC_STATUS_OK)
        record(r, GRPC_STATUS_OK, 0, &st);
    else
        record(r, st.code, expect_end, &st);
}

static uint64_t event_cursor;

static void
stats_poll(uint64_t *rng)
{
    atomic_fetch_add(&S.stats_polls, 1);
    Rustymem__V1__GetMemoryStatsRequest m = RUSTYMEM__V1__GET_MEMORY_STATS_REQUEST__INIT;
    Rustymem__V1__GetSlabStatsRequest sl = RUSTYMEM__V1__GET_SLAB_STATS_REQUEST__INIT;
    Rustymem__V1__GetArenaStatsRequest ar = RUSTYMEM__V1__GET_ARENA_STATS_REQUEST__INIT;
    Rustymem__V1__GetBufferPoolStatsRequest bp = RUSTYMEM__V1__GET_BUFFER_POOL_STATS_REQUEST__INIT;
    Rustymem__V1__GetLargeObjectStatsRequest lo = RUSTYMEM__V1__GET_LARGE_OBJECT_STATS_REQUEST__INIT;
    Rustymem__V1__GetFragmentationStatsRequest fr = RUSTYMEM__V1__GET_FRAGMENTATION_STATS_REQUEST__INIT;
    Rustymem__V1__ListTransactionsRequest lt = RUSTYMEM__V1__LIST_TRANSACTIONS_REQUEST__INIT;
    Rustymem__V1__GetEngineStatsRequest en = RUSTYMEM__V1__GET_ENGINE_STATS_REQUEST__INIT;
    Rustymem__V1__WatchStatsRequest ws = RUSTYMEM__V1__WATCH_STATS_REQUEST__INIT;
    Rustymem__V1__GetForecastRequest fc = RUSTYMEM__V1__GET_FORECAST_REQUEST__INIT;
    Rustymem__V1__ListPressureEventsRequest ev = RUSTYMEM__V1__LIST_PRESSURE_EVENTS_REQUEST__INIT;
    Rustymem__V1__ListAlertsRequest al = RUSTYMEM__V1__LIST_ALERTS_REQUEST__INIT;
    Rustymem__V1__WatchPressureRequest wp = RUSTYMEM__V1__WATCH_PRESSURE_REQUEST__INIT;
    Rustymem__V1__ListKnobsRequest lk = RUSTYMEM__V1__LIST_KNOBS_REQUEST__INIT;
    Rustymem__V1__GetKnobsRequest gk = RUSTYMEM__V1__GET_KNOBS_REQUEST__INIT;
    Rustymem__V1__ApplyProfileRequest ap = RUSTYMEM__V1__APPLY_PROFILE_REQUEST__INIT;
    Grpc__Health__V1__HealthCheckRequest hc = GRPC__HEALTH__V1__HEALTH_CHECK_REQUEST__INIT;

    (void)call(S.admin, R_MEM, &m.base, NULL, 0);
    (void)call(S.admin, R_SLAB, &sl.base, NULL, 0);
    ar.include_contexts = xorshift(rng) & 1;
    (void)call(S.admin, R_ARENA, &ar.base, NULL, 0);
    (void)call(S.admin, R_BUFPOOL, &bp.base, NULL, 0);
    (void)call(S.admin, R_LARGE, &lo.base, NULL, 0);
    (void)call(S.admin, R_FRAG, &fr.base, NULL, 0);
    lt.orphaned_only = xorshift(rng) & 1;
    (void)call(S.admin, R_TXNS, &lt.base, NULL, 0);
    (void)call(S.admin, R_ENGINE, &en.base, NULL, 0);
    ws.interval_ms = 100;
    short_stream(R_WATCH_STATS, &ws.base, 2, 15000, 0);
    (void)call(S.admin, R_FORECAST, &fc.base, NULL, 0);

    ProtobufCMessage *r = NULL;
    ev.after_id = event_cursor;
    ev.limit = 1000;
    if (call(S.admin, R_EVENTS, &ev.base, &r, 0) == GRPC_STATUS_OK) {
        const Rustymem__V1__ListPressureEventsResponse *e = (const void *)r;
        for (size_t i = 0; i < e->n_events; i++) {
            if (e->events[i]->id > event_cursor)
                event_cursor = e->events[i]->id;
            if (e->events[i]->kind && strcmp(e->events[i]->kind, "alert_raised") == 0 && e->events[i]->detail &&
                strstr(e->events[i]->detail, "leak"))
                note_leak(e->events[i]->detail);
        }
        protobuf_c_message_free_unpacked(r, NULL);
    }
    if (call(S.admin, R_ALERTS, &al.base, &r, 0) == GRPC_STATUS_OK) {
        const Rustymem__V1__ListAlertsResponse *a = (const void *)r;
        for (size_t i = 0; i < a->n_alerts; i++)
            if (a->alerts[i]->name && strcmp(a->alerts[i]->name, "leak") == 0)
                note_leak(a->alerts[i]->message ? a->alerts[i]->message : "leak");
        protobuf_c_message_free_unpacked(r, NULL);
    }
    /* replay from the last seen event; ends by the deadline when nothing is new */
    wp.after_id = event_cursor > 3 ? event_cursor - 3 : 0;
    /* the deadline ends it: DEADLINE_EXCEEDED, or CANCELLED when the server
     * notices the expired call first ("pressure stream cancelled") */
    short_stream(R_WATCH_PRESSURE, &wp.base, 3, 300, BIT(GRPC_STATUS_DEADLINE_EXCEEDED) | BIT(GRPC_STATUS_CANCELLED));

    lk.prefix = (xorshift(rng) & 1) ? "pressure." : "";
    (void)call(S.admin, R_LIST_KNOBS, &lk.base, NULL, 0);
    char *names[] = {"pool.max_size", "plan_cache.max_plans", "pressure.warning_threshold"};
    gk.names = names;
    gk.n_names = 3;
    (void)call(S.admin, R_GET_KNOBS, &gk.base, NULL, 0);
    ap.workload = (Rustymem__V1__Workload)(1 + xorshift(rng) % 3);
    ap.environment = (Rustymem__V1__Environment)(1 + xorshift(rng) % 3);
    ap.validate_only = 1;
    (void)call(S.admin, R_APPLY_PROFILE, &ap.base, NULL, 0);
    (void)call(S.admin, R_HEALTH, &hc.base, NULL, 0);
}

/* Read the current values of the named knobs. */
static int
read_knobs(knob_change_t *kc)
{
    Rustymem__V1__GetKnobsRequest q = RUSTYMEM__V1__GET_KNOBS_REQUEST__INIT;
    char *names[4];
    for (size_t i = 0; i < kc->n; i++)
        names[i] = kc->name[i];
    q.names = names;
    q.n_names = kc->n;
    ProtobufCMessage *r = NULL;
    if (call(S.admin, R_GET_KNOBS, &q.base, &r, 0) != GRPC_STATUS_OK)
        return -1;
    const Rustymem__V1__GetKnobsResponse *g = (const void *)r;
    int rc = g->n_knobs == kc->n ? 0 : -1;
    for (size_t i = 0; rc == 0 && i < g->n_knobs; i++)
        snprintf(kc->old_value[i], sizeof kc->old_value[i], "%s", g->knobs[i]->value);
    protobuf_c_message_free_unpacked(r, NULL);
    return rc;
}

static int
set_knobs(size_t n, char names[][64], char values[][64])
{
    Rustymem__V1__SetKnobsRequest q = RUSTYMEM__V1__SET_KNOBS_REQUEST__INIT;
    Rustymem__V1__KnobAssignment as[4], *ap[4];
    for (size_t i = 0; i < n; i++) {
        rustymem__v1__knob_assignment__init(&as[i]);
        as[i].name = names[i];
        as[i].value = values[i];
        ap[i] = &as[i];
    }
    q.assignments = ap;
    q.n_assignments = n;
    ProtobufCMessage *r = NULL;
    if (call(S.admin, R_SET_KNOBS, &q.base, &r, 0) != GRPC_STATUS_OK)
        return -1;
    int applied = ((Rustymem__V1__SetKnobsResponse *)r)->applied;
    protobuf_c_message_free_unpacked(r, NULL);
    return applied ? 0 : -1;
}

/*
 * Pick a knob (or an ordered group) and a valid new value within its range.
 * The table keeps clear of values that would change what the soak measures
 * on purpose (the memory budget stays at 4-8 times the RSS, so it never
 * creates pressure; session and pool limits stay above what the workload uses).
 */
static void
knob_change(uint64_t *rng, knob_change_t *kc)
{
    static const char *const magazines[] = {"slab.lock_entry_magazine", "slab.page_header_magazine",
                                            "slab.version_record_magazine", "slab.small_row_magazine",
                                            "slab.txn_metadata_magazine", "slab.medium_row_magazine",
                                            "slab.large_row_magazine", "slab.index_node_magazine",
                                            "slab.page_magazine"};
    static const char *const strategies[] = {"best_fit", "first_fit", "worst_fit"};
    char nv[4][64];
    int relative = 0;
    memset(kc, 0, sizeof *kc);
    kc->n = 1;
    switch (xorshift(rng) % 14) {
    case 0:
    case 1:
        snprintf(kc->name[0], 64, "%s", magazines[xorshift(rng) % 9]);
        snprintf(nv[0], 64, "%" PRIu64, 1 + xorshift(rng) % 256);
        break;
    case 2:
        snprintf(kc->name[0], 64, "large_object.strategy");
        snprintf(nv[0], 64, "%s", strategies[xorshift(rng) % 3]);
        break;
    case 3:
        snprintf(kc->name[0], 64, "large_object.threshold_bytes");
        snprintf(nv[0], 64, "%" PRIu64, (uint64_t)262144 << (xorshift(rng) % 6));
        break;
    case 4:
        snprintf(kc->name[0], 64, "arena.disable_above_bytes");
        snprintf(nv[0], 64, "%" PRIu64 "MiB", 1 + xorshift(rng) % 200);
        break;
    case 5: {
        static const char *const t[] = {"pressure.warning_threshold", "pressure.high_pressure_threshold",
                                        "pressure.critical_threshold", "pressure.emergency_threshold"};
        double w = uniform(rng, 0.60, 0.75);
        double v[4] = {w, w + 0.08, w + 0.15, w + 0.19};
        kc->n = 4;
        for (int i = 0; i < 4; i++) {
            snprintf(kc->name[i], 64, "%s", t[i]);
            snprintf(nv[i], 64, "%.3f", v[i]);
        }
        break;
    }
    case 6:
        snprintf(kc->name[0], 64, "pressure.history_size");
        snprintf(nv[0], 64, "%" PRIu64, 10 + xorshift(rng) % 600);
        break;
    case 7:
        snprintf(kc->name[0], 64, "pressure.min_confidence");
        snprintf(nv[0], 64, "%.2f", uniform(rng, 0.3, 0.95));
        break;
    case 8: {
        static const char *const h[] = {"30,60,120", "15,60,300", "60", "10,30,120,600"};   /* at most 4 */
        snprintf(kc->name[0], 64, "pressure.forecast_horizons");
        snprintf(nv[0], 64, "%s", h[xorshift(rng) % 4]);
        break;
    }
    case 9: {
        double w = uniform(rng, 0.15, 0.30);
        kc->n = 2;
        snprintf(kc->name[0], 64, "alerts.fragmentation_warning");
        snprintf(kc->name[1], 64, "alerts.fragmentation_critical");
        snprintf(nv[0], 64, "%.3f", w);
        snprintf(nv[1], 64, "%.3f", w + 0.10);
        break;
    }
    case 10:
        snprintf(kc->name[0], 64, "plan_cache.%s", (xorshift(rng) & 1) ? "max_plans" : "max_bytes");
        if (strstr(kc->name[0], "max_plans"))
            snprintf(nv[0], 64, "%" PRIu64, 100 + xorshift(rng) % 10000);
        else
            snprintf(nv[0], 64, "%" PRIu64 "MiB", 1 + xorshift(rng) % 100);
        break;
    case 11:
        kc->n = 3;
        snprintf(kc->name[0], 64, "pool.min_size");
        snprintf(kc->name[1], 64, "pool.max_size");
        snprintf(kc->name[2], 64, "pool.scale_down_threshold");
        snprintf(nv[0], 64, "%" PRIu64, 4 + xorshift(rng) % 17);
        snprintf(nv[1], 64, "%" PRIu64, 64 + xorshift(rng) % 437);
        snprintf(nv[2], 64, "%.2f", uniform(rng, 0.2, 0.6));
        break;
    case 12:
        /* between half and twice the value in force (which --set may have lowered) */
        snprintf(kc->name[0], 64, "mvcc.max_versions_per_key");
        relative = 1;
        break;
    default:
        kc->n = 2;
        snprintf(kc->name[0], 64, "session.max_sessions");
        snprintf(kc->name[1], 64, "memory.budget_bytes");
        /* at least session.max_connections (1000, a restart knob) and twice the sessions used */
        snprintf(nv[0], 64, "%" PRIu64,
                 (S.sessions * 2u > 1000u ? (uint64_t)S.sessions * 2 : 1000) + xorshift(rng) % 9000);
        /* 4 to 8 times the RSS now (at least 1 GiB): a budget change, not pressure */
        snprintf(nv[1], 64, "%" PRIu64 "MiB",
                 ((statm_rss(S.agent_pid) >> 20) + 256) * (4 + xorshift(rng) % 5));
        break;
    }
    if (read_knobs(kc) != 0)
        return;
    if (relative) {
        uint64_t cur = strtoull(kc->old_value[0], NULL, 10);
        cur = cur ? cur : 1;
        snprintf(nv[0], 64, "%" PRIu64, cur / 2 + 1 + xorshift(rng) % (cur + cur / 2 + 1));
    }
    if (set_knobs(kc->n, kc->name, nv) != 0)
        return;
    atomic_fetch_add(&S.knob_changes, 1);
    kc->active = 1;
    kc->revert_at_ns = rm_bench_now_ns() + (uint64_t)(uniform(rng, 2.0, 10.0) * 1e9);
}

static void
knob_revert(knob_change_t *kc)
{
    if (!kc->active)
        return;
    kc->active = 0;
    if (set_knobs(kc->n, kc->name, kc->old_value) == 0)
        atomic_fetch_add(&S.knob_reverts, 1);
}

static void
set_admission(int open)
{
    Rustymem__V1__SetAdmissionRequest q = RUSTYMEM__V1__SET_ADMISSION_REQUEST__INIT;
    q.accept_new_connections = open;
    if (!open)
        atomic_store(&S.admission_closed_ns, rm_bench_now_ns());
    (void)call(S.admin, R_ADMISSION, &q.base, NULL, 0);
    if (open) {
        atomic_store(&S.admission_reopened_ns, rm_bench_now_ns());
        atomic_store(&S.admission_closed_ns, 0);
    }
}

/* Returns the time at which admission must be reopened (0 = nothing to do). */
static uint64_t
emergency_action(uint64_t *rng)
{
    atomic_fetch_add(&S.emergency_actions, 1);
    uint64_t reopen_at = 0;
    switch (xorshift(rng) % 9) {
    case 0: {
        Rustymem__V1__EvictBufferPoolRequest q = RUSTYMEM__V1__EVICT_BUFFER_POOL_REQUEST__INIT;
        q.fraction = uniform(rng, 0.01, 0.10);
        (void)call(S.admin, R_EVICT, &q.base, NULL, 0);
        break;
    }
    case 1: {
        Rustymem__V1__ForceGarbageCollectionRequest q = RUSTYMEM__V1__FORCE_GARBAGE_COLLECTION_REQUEST__INIT;
        (void)call(S.admin, R_GC, &q.base, NULL, 0);
        break;
    }
    case 2: {
        Rustymem__V1__ClearPlanCacheRequest q = RUSTYMEM__V1__CLEAR_PLAN_CACHE_REQUEST__INIT;
        q.fraction = (xorshift(rng) & 1) ? 0.0 : uniform(rng, 0.1, 1.0);
        (void)call(S.admin, R_CLEAR_PLANS, &q.base, NULL, 0);
        break;
    }
    case 3: {
        Rustymem__V1__KillOrphanedTransactionsRequest q = RUSTYMEM__V1__KILL_ORPHANED_TRANSACTIONS_REQUEST__INIT;
        (void)call(S.admin, R_KILL_ORPHANS, &q.base, NULL, 0);
        break;
    }
    case 4: {
        Rustymem__V1__KillLongRunningQueriesRequest q = RUSTYMEM__V1__KILL_LONG_RUNNING_QUERIES_REQUEST__INIT;
        q.older_than_seconds = (xorshift(rng) & 1) ? 0.0001 : 10.0;
        (void)call(S.admin, R_KILL_QUERIES, &q.base, NULL, 0);
        break;
    }
    case 5: {
        Rustymem__V1__CoalesceLargeObjectsRequest q = RUSTYMEM__V1__COALESCE_LARGE_OBJECTS_REQUEST__INIT;
        q.release_to_os = xorshift(rng) & 1;
        (void)call(S.admin, R_COALESCE, &q.base, NULL, 0);
        break;
    }
    case 6:
    case 7: {
        Rustymem__V1__TriggerResponseRequest q = RUSTYMEM__V1__TRIGGER_RESPONSE_REQUEST__INIT;
        uint64_t x = xorshift(rng) % 10;
        q.level = x < 5 ? RUSTYMEM__V1__PRESSURE_LEVEL__PRESSURE_LEVEL_GENTLE
                  : x < 9 ? RUSTYMEM__V1__PRESSURE_LEVEL__PRESSURE_LEVEL_AGGRESSIVE
                          : RUSTYMEM__V1__PRESSURE_LEVEL__PRESSURE_LEVEL_EMERGENCY;
        if (q.level == RUSTYMEM__V1__PRESSURE_LEVEL__PRESSURE_LEVEL_EMERGENCY) {
            /* the emergency response closes admission: open it again shortly */
            atomic_store(&S.admission_closed_ns, rm_bench_now_ns());
            reopen_at = rm_bench_now_ns() + 1000000000ull;
        }
        (void)call(S.admin, R_TRIGGER, &q.base, NULL, 0);
        break;
    }
    default:
        set_admission(0);
        reopen_at = rm_bench_now_ns() + (uint64_t)(uniform(rng, 0.5, 2.0) * 1e9);
        break;
    }
    return reopen_at;
}

static void *
operator_main(void *arg)
{
    uint64_t rng = S.seed * 0x9E3779B97F4A7C15ull + 7;
    knob_change_t kc = {0};
    uint64_t now = rm_bench_now_ns();
    uint64_t next_poll = now + (uint64_t)(exp_wait(&rng, 3.0) * 1e9);
    uint64_t next_knob = now + (uint64_t)(exp_wait(&rng, 10.0) * 1e9);
    uint64_t next_emerg = now + (uint64_t)(exp_wait(&rng, 6.0) * 1e9);
    uint64_t reopen_at = 0;
    while (!atomic_load(&S.stop)) {
        now = rm_bench_now_ns();
        if (reopen_at && now >= reopen_at) {
            set_admission(1);
            reopen_at = 0;
        }
        if (kc.active && now >= kc.revert_at_ns)
            knob_revert(&kc);
        if (now >= next_poll) {
            stats_poll(&rng);
            next_poll = rm_bench_now_ns() + (uint64_t)(exp_wait(&rng, 3.0) * 1e9);
        }
        if (now >= next_knob) {
            if (!kc.active)
                knob_change(&rng, &kc);
            next_knob = rm_bench_now_ns() + (uint64_t)(exp_wait(&rng, 10.0) * 1e9);
        }
        if (now >= next_emerg) {
            uint64_t r = emergency_action(&rng);
            if (r && (!reopen_at || r > reopen_at))
                reopen_at = r;
            next_emerg = rm_bench_now_ns() + (uint64_t)(exp_wait(&rng, 6.0) * 1e9);
        }
        usleep(20000);
    }
    /* leave the agent as found */
    knob_revert(&kc);
    if (reopen_at || atomic_load(&S.admission_closed_ns))
        set_admission(1);
    (void)arg;
    return NULL;
}

/* ---- agent process, RSS samples, fits ------------------------------------------------ */

static int
find_agent(const rm_bench_opts_t *o, char out[PATH_MAX], size_t cap)
{
    const char *a = rm_bench_arg(o, "--agent");
    if (a) {
        snprintf(out, cap, "%s", a);
        return access(out, X_OK) == 0 ? 0 : -1;
    }
    const char *b = getenv("RM_BUILD_DIR");
    if (b && *b) {
        snprintf(out, cap, "%s/agents/node/rustymemd", b);
        if (access(out, X_OK) == 0)
            return 0;
    }
    char self[PATH_MAX - 32];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0)
        return -1;
    self[n] = '\0';
    char *slash = strrchr(self, '/');
    if (!slash)
        return -1;
    *slash = '\0';
    snprintf(out, cap, "%s/../../agents/node/rustymemd", self);
    return access(out, X_OK) == 0 ? 0 : -1;
}

typedef struct agent {
    pid_t pid;
    char dir[64];
    char addr[64];
    char log[PATH_MAX];
} agent_t;

/* Start the agent with the suite's "--set NAME=VALUE" options passed on. */
static int
agent_launch(const char *bin, const rm_bench_opts_t *o, agent_t *a)
{
    snprintf(a->dir, sizeof a->dir, "/tmp/rm-soak-XXXXXX");
    if (!mkdtemp(a->dir))
        return -1;
    char port[128], data[128];
    snprintf(port, sizeof port, "%s/port", a->dir);
    snprintf(data, sizeof data, "%s/data", a->dir);
    snprintf(a->log, sizeof a->log, "%s/agent.log", a->dir);
    a->pid = fork();
    if (a->pid < 0)
        return -1;
    if (a->pid == 0) {
        FILE *lf = freopen(a->log, "w", stderr);
        (void)lf;
        dup2(2, 1);
        const char *argv[64] = {bin, "--listen", "127.0.0.1:0", "--port-file", port, "--data-dir", data};
        int n = 7;
        for (int i = 0; i + 1 < o->argc && n < 61; i++)
            if (strcmp(o->argv[i], "--set") == 0) {
                argv[n++] = "--set";
                argv[n++] = o->argv[++i];
            }
        argv[n] = NULL;
        execv(bin, (char *const *)argv);
        _exit(127);
    }
    for (int i = 0; i < 400; i++) {
        FILE *f = fopen(port, "re");
        int p = 0;
        if (f) {
            int ok = fscanf(f, "%d", &p) == 1;
            fclose(f);
            if (ok && p > 0) {
                snprintf(a->addr, sizeof a->addr, "127.0.0.1:%d", p);
                return 0;
            }
        }
        if (waitpid(a->pid, NULL, WNOHANG) == a->pid) {
            a->pid = 0;
            return -1;
        }
        usleep(25000);
    }
    kill(a->pid, SIGKILL);
    waitpid(a->pid, NULL, 0);
    a->pid = 0;
    return -1;
}

/* Exit code as a shell reports it: status, 128+signal, -1 if it had to be killed. */
static int
exit_code_of(int st)
{
    if (WIFEXITED(st))
        return WEXITSTATUS(st);
    if (WIFSIGNALED(st))
        return 128 + WTERMSIG(st);
    return -1;
}

static int
agent_terminate(agent_t *a, double timeout_s)
{
    kill(a->pid, SIGTERM);
    uint64_t t0 = rm_bench_now_ns();
    int st = 0;
    for (;;) {
        pid_t r = waitpid(a->pid, &st, WNOHANG);
        if (r == a->pid)
            return exit_code_of(st);
        if ((double)(rm_bench_now_ns() - t0) / 1e9 > timeout_s) {
            kill(a->pid, SIGKILL);
            waitpid(a->pid, NULL, 0);
            return -1;
        }
        usleep(20000);
    }
}

static void
agent_log_tail(const agent_t *a)
{
    char cmd[PATH_MAX + 32];
    snprintf(cmd, sizeof cmd, "tail -n 20 '%s' >&2", a->log);
    if (system(cmd) != 0)
        fprintf(stderr, "soak: no agent log\n");
}

static void
agent_cleanup(agent_t *a)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", a->dir);
    if (a->dir[0] && system(cmd) != 0)
        fprintf(stderr, "soak: cannot remove %s\n", a->dir);
}

static uint64_t
statm_rss(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/statm", (int)pid);
    FILE *f = fopen(path, "re");
    if (!f)
        return 0;
    unsigned long size = 0, res = 0;
    int ok = fscanf(f, "%lu %lu", &size, &res) == 2;
    fclose(f);
    return ok ? (uint64_t)res * (uint64_t)sysconf(_SC_PAGESIZE) : 0;
}

/* Flatten the numeric leaves of GetMemoryStats / GetEngineStats into series. */
static void
flatten(json_t *out, const char *prefix, json_t *v)
{
    const char *k;
    json_t *x;
    char name[160];
    if (json_is_object(v)) {
        json_object_foreach(v, k, x) {
            snprintf(name, sizeof name, "%s.%s", prefix, k);
            flatten(out, name, x);
        }
    } else if (json_is_array(v)) {
        size_t i;
        json_array_foreach(v, i, x) {
            const char *c = json_string_value(json_object_get(x, "component"));
            if (!c)
                continue;
            json_t *y;
            json_object_foreach(x, k, y) {
                if (json_is_integer(y)) {
                    snprintf(name, sizeof name, "%s.%s.%s", prefix, c, k);
                    json_object_set_new(out, name, json_real((double)json_integer_value(y)));
                }
            }
        }
    } else if (json_is_integer(v)) {
        /* counters (_total) and clocks grow by definition */
        if (strstr(prefix, "_total") || strstr(prefix, "timestamp") || strstr(prefix, "uptime") ||
            strstr(prefix, "_ms"))
            return;
        json_object_set_new(out, prefix, json_real((double)json_integer_value(v)));
    }
}

static json_t *
sample_series(void)
{
    json_t *s = json_object();
    Rustymem__V1__GetMemoryStatsRequest m = RUSTYMEM__V1__GET_MEMORY_STATS_REQUEST__INIT;
    Rustymem__V1__GetEngineStatsRequest e = RUSTYMEM__V1__GET_ENGINE_STATS_REQUEST__INIT;
    ProtobufCMessage *r = NULL;
    if (call(S.admin, R_MEM, &m.base, &r, 0) == GRPC_STATUS_OK) {
        json_t *j = rm_pb_to_json(r);
        json_object_del(j, "cgroup");
        json_object_del(j, "psi");
        json_object_del(j, "mem_available_bytes");
        json_object_del(j, "mem_total_bytes");
        flatten(s, "memory", j);
        json_decref(j);
        protobuf_c_message_free_unpacked(r, NULL);
    }
    if (call(S.admin, R_ENGINE, &e.base, &r, 0) == GRPC_STATUS_OK) {
        json_t *j = rm_pb_to_json(r);
        flatten(s, "engine", j);
        json_decref(j);
        protobuf_c_message_free_unpacked(r, NULL);
    }
    return s;
}

/* Least-squares slope of y over t (per second) and mean of y; 0 when n < 2. */
static void
fit(const double *t, const double *y, size_t n, double *slope, double *mean)
{
    double st = 0, sy = 0;
    for (size_t i = 0; i < n; i++) {
        st += t[i];
        sy += y[i];
    }
    *slope = 0;
    *mean = n ? sy / (double)n : 0;
    if (n < 2)
        return;
    double mt = st / (double)n, num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        num += (t[i] - mt) * (y[i] - *mean);
        den += (t[i] - mt) * (t[i] - mt);
    }
    *slope = den > 0 ? num / den : 0;
}

static json_t *
codes_object(_Atomic uint64_t (*m)[CODES], uint64_t *total)
{
    json_t *o = json_object();
    uint64_t sum[CODES] = {0};
    for (int r = 0; r < R_N; r++)
        for (int c = 0; c < CODES; c++)
            sum[c] += atomic_load(&m[r][c]);
    *total = 0;
    for (int c = 1; c < CODES; c++)
        if (sum[c]) {
            json_object_set_new(o, rm_client_status_name((grpc_status_code)c), json_integer((json_int_t)sum[c]));
            *total += sum[c];
        }
    return o;
}

static json_t *
requests_object(json_t **by_rpc)
{
    json_t *fam = json_object();
    *by_rpc = json_object();
    uint64_t total = 0;
    for (int r = 0; r < R_N; r++) {
        uint64_t n = atomic_load(&S.ok[r]);
        total += n;
        const char *p = rpcs[r].path + 1;
        const char *slash = strchr(p, '/');
        const char *dot = slash;
        while (dot > p && dot[-1] != '.')
            dot--;
        char family[64];
        snprintf(family, sizeof family, "%.*s", (int)(slash - dot), dot);
        json_int_t prev = json_integer_value(json_object_get(fam, family));
        json_object_set_new(fam, family, json_integer(prev + (json_int_t)n));
        char key[96];
        snprintf(key, sizeof key, "%s/%s", family, slash + 1);
        json_t *per = json_object();
        json_object_set_new(per, "ok", json_integer((json_int_t)n));
        for (int c = 1; c < CODES; c++) {
            uint64_t e = atomic_load(&S.expected[r][c]) + atomic_load(&S.unexpected[r][c]);
            if (e)
                json_object_set_new(per, rm_client_status_name((grpc_status_code)c), json_integer((json_int_t)e));
        }
        json_object_set_new(*by_rpc, key, per);
    }
    json_object_set_new(fam, "total", json_integer((json_int_t)total));
    return fam;
}

static int
run_soak(const rm_bench_opts_t *o, json_t *result)
{
    const char *ms = rm_bench_arg(o, "--minutes"), *ts = rm_bench_arg(o, "--threads"),
               *ss = rm_bench_arg(o, "--sessions"), *sd = rm_bench_arg(o, "--seed"),
               *si = rm_bench_arg(o, "--sample-seconds");
    double minutes = ms ? atof(ms) : (o->quick ? 0.5 : 3.0);
    double sample_s = si ? atof(si) : 2.0;
    S.threads = ts ? (uint32_t)atoi(ts) : 4;
    S.sessions = ss ? (uint32_t)atoi(ss) : 200;
    S.seed = sd ? strtoull(sd, NULL, 0) : 1;
    if (!(minutes > 0 && minutes <= 24 * 60) || S.threads < 1 || S.threads > MAX_THREADS ||
        S.sessions < S.threads || S.sessions > 5000 || !(sample_s >= 0.2 && sample_s <= 60) || S.seed == 0) {
        fprintf(stderr, "rustymem-bench soak: --minutes (0, 1440], --threads 1..%d, --sessions threads..5000, "
                        "--sample-seconds 0.2..60, --seed != 0\n", MAX_THREADS);
        return 1;
    }
    char bin[PATH_MAX];
    if (find_agent(o, bin, sizeof bin) != 0) {
        fprintf(stderr, "rustymem-bench soak: no rustymemd found (--agent PATH or RM_BUILD_DIR)\n");
        return 1;
    }
    pthread_mutex_init(&S.mu, NULL);
    S.unexpected_samples = json_array();
    agent_t ag = {0};
    if (agent_launch(bin, o, &ag) != 0) {
        fprintf(stderr, "rustymem-bench soak: cannot start %s\n", bin);
        if (ag.dir[0])
            agent_log_tail(&ag);
        agent_cleanup(&ag);
        return 1;
    }
    S.agent_pid = ag.pid;
    fprintf(stderr, "soak: %s on %s (pid %d), %.2f min, %u threads, %u sessions, seed %" PRIu64 "\n", bin, ag.addr,
            (int)ag.pid, minutes, S.threads, S.sessions, S.seed);
    char err[256];
    rm_client_opts_t co = {.target = ag.addr, .timeout_ms = 30000};
    int rc = 1, agent_exit = -1, died = 0;
    worker_t ws[MAX_THREADS];
    memset(ws, 0, sizeof ws);
    pthread_t op;
    uint32_t started = 0;
    int op_started = 0;
    size_t ns = 0, cap = 0;
    double *st = NULL, *srss = NULL;
    json_t **series = NULL;
    S.t0_ns = rm_bench_now_ns();
    if (rm_client_create(&co, &S.work, err, sizeof err) != RM_OK ||
        rm_client_create(&co, &S.admin, err, sizeof err) != RM_OK) {
        fprintf(stderr, "rustymem-bench soak: %s\n", err);
        goto out;
    }
    if (prefill(S.threads) != 0) {
        fprintf(stderr, "rustymem-bench soak: filling the tables failed\n");
        goto out;
    }
    fprintf(stderr, "soak: tables filled (%d x %d keys + %u bulk keys) in %.1f s\n", TABLES, KEYS,
            S.threads * BULK_RING, since_start_s());

    S.t0_ns = rm_bench_now_ns();
    for (uint32_t i = 0; i < S.threads; i++) {
        ws[i].index = i;
        ws[i].rng = (S.seed + i + 1) * 0x2545F4914F6CDD1Dull;
        ws[i].n_sids = S.sessions / S.threads;
        ws[i].sids = calloc(ws[i].n_sids, sizeof *ws[i].sids);
        if (!ws[i].sids || pthread_create(&ws[i].th, NULL, worker_main, &ws[i]) != 0) {
            free(ws[i].sids);
            ws[i].sids = NULL;
            atomic_store(&S.stop, 1);
            goto joined;
        }
        started++;
    }
    if (pthread_create(&op, NULL, operator_main, NULL) != 0) {
        atomic_store(&S.stop, 1);
        goto joined;
    }
    op_started = 1;

    double duration = minutes * 60.0, next_sample = 0, next_line = 10;
    while (since_start_s() < duration) {
        int wst;
        if (waitpid(ag.pid, &wst, WNOHANG) == ag.pid) {
            died = 1;
            agent_exit = exit_code_of(wst);
            ag.pid = 0;
            fprintf(stderr, "soak: the agent died at %.1f s (exit %d)\n", since_start_s(), agent_exit);
            break;
        }
        double t = since_start_s();
        if (t >= next_sample) {
            if (ns == cap) {
                cap = cap ? cap * 2 : 256;
                double *a = realloc(st, cap * sizeof *st), *b = realloc(srss, cap * sizeof *srss);
                json_t **c = realloc(series, cap * sizeof *series);
                if (a)
                    st = a;
                if (b)
                    srss = b;
                if (c)
                    series = c;
                if (!a || !b || !c) {
                    fprintf(stderr, "soak: out of memory\n");
                    break;
                }
            }
            st[ns] = t;
            srss[ns] = (double)statm_rss(ag.pid);
            series[ns] = sample_series();
            ns++;
            next_sample += sample_s;
        }
        if (t >= next_line) {
            fprintf(stderr, "[%6.0fs] rss %.1f MiB  txns %" PRIu64 " committed %" PRIu64 "  polls %" PRIu64
                            "  knob changes %" PRIu64 "  emergency %" PRIu64 "\n",
                    t, ns ? srss[ns - 1] / 1048576.0 : 0.0, atomic_load(&S.transactions),
                    atomic_load(&S.committed), atomic_load(&S.stats_polls), atomic_load(&S.knob_changes),
                    atomic_load(&S.emergency_actions));
            next_line += 30;
        }
        usleep(50000);
    }
    atomic_store(&S.stop, 1);
joined:
    for (uint32_t i = 0; i < started; i++)
        pthread_join(ws[i].th, NULL);
    if (op_started)
        pthread_join(op, NULL);
    double elapsed = since_start_s();
    /* close the sessions still open, then a last look at the alerts */
    if (!died) {
        for (uint32_t i = 0; i < started; i++)
            for (uint32_t k = 0; k < ws[i].n_sids; k++)
                if (ws[i].sids[k])
                    close_session(S.work, ws[i].sids[k]);
        uint64_t rng = S.seed;
        stats_poll(&rng);
    }
    for (uint32_t i = 0; i < started; i++)
        free(ws[i].sids);

    /* the fits after the warm-up */
    double warmup = fmax(0.2 * elapsed, 30.0);
    size_t first = 0;
    while (first < ns && st[first] < warmup)
        first++;
    size_t nfit = ns - first;
    double slope = 0, mean = 0;
    json_t *drift = json_null(), *growth = json_object();
    if (nfit >= 3) {
        fit(st + first, srss + first, nfit, &slope, &mean);
        drift = json_real(mean > 0 ? slope * 3600.0 / mean * 100.0 : 0.0);
        /* every series, same window */
        double *y = malloc(nfit * sizeof *y), *tt = malloc(nfit * sizeof *tt);
        const char *k;
        json_t *v;
        json_object_foreach(series[ns - 1], k, v) {
            size_t m = 0;
            for (size_t i = first; i < ns && y && tt; i++) {
                json_t *x = json_object_get(series[i], k);
                if (x) {
                    tt[m] = st[i];
                    y[m++] = json_real_value(x);
                }
            }
            if (m < 3)
                continue;
            double sl, mn;
            fit(tt, y, m, &sl, &mn);
            json_object_set_new(growth, k,
                                json_pack("{s:f, s:f, s:f}", "first", y[0], "last", y[m - 1], "slope_per_hour",
                                          sl * 3600.0));
        }
        free(y);
        free(tt);
    }
    json_t *samples = json_array();
    for (size_t i = 0; i < ns; i++)
        json_array_append_new(samples, json_pack("[f, I]", st[i], (json_int_t)srss[i]));

    if (!died && ag.pid) {
        agent_exit = agent_terminate(&ag, 30.0);
        ag.pid = 0;
    }
    if (agent_exit != 0)
        agent_log_tail(&ag);

    uint64_t n_exp = 0, n_unexp = 0;
    json_t *by_rpc;
    json_t *req = requests_object(&by_rpc);
    json_t *exp_codes = codes_object(S.expected, &n_exp);
    json_t *unexp_codes = codes_object(S.unexpected, &n_unexp);
    json_t *all = json_deep_copy(exp_codes);
    const char *k;
    json_t *v;
    json_object_foreach(unexp_codes, k, v) {
        json_int_t prev = json_integer_value(json_object_get(all, k));
        json_object_set_new(all, k, json_integer(prev + json_integer_value(v)));
    }
    json_object_set_new(result, "minutes", json_real(minutes));
    json_object_set_new(result, "duration_seconds", json_real(elapsed));
    json_object_set_new(result, "seed", json_integer((json_int_t)S.seed));
    json_object_set_new(result, "threads", json_integer(S.threads));
    json_object_set_new(result, "sessions", json_integer(S.sessions));
    json_object_set_new(result, "agent", json_string(bin));
    json_t *sets = json_array();
    for (int i = 0; i + 1 < o->argc; i++)
        if (strcmp(o->argv[i], "--set") == 0)
            json_array_append_new(sets, json_string(o->argv[++i]));
    json_object_set_new(result, "agent_settings", sets);
    json_object_set_new(result, "requests_served", req);
    json_object_set_new(result, "requests_by_rpc", by_rpc);
    json_object_set_new(result, "errors_by_code", all);
    json_object_set_new(result, "expected_errors_by_code", exp_codes);
    json_object_set_new(result, "unexpected_errors_by_code", unexp_codes);
    json_object_set_new(result, "expected_errors", json_integer((json_int_t)n_exp));
    json_object_set_new(result, "unexpected_errors", json_integer((json_int_t)n_unexp));
    json_object_set_new(result, "unexpected_error_samples", S.unexpected_samples);
    json_object_set_new(result, "operations",
                        json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "transactions",
                                  (json_int_t)atomic_load(&S.transactions), "committed",
                                  (json_int_t)atomic_load(&S.committed), "rolled_back",
                                  (json_int_t)atomic_load(&S.rolled_back), "sessions_replaced",
                                  (json_int_t)atomic_load(&S.session_churn), "stats_polls",
                                  (json_int_t)atomic_load(&S.stats_polls), "knob_changes",
                                  (json_int_t)atomic_load(&S.knob_changes), "knob_reverts",
                                  (json_int_t)atomic_load(&S.knob_reverts), "emergency_actions",
                                  (json_int_t)atomic_load(&S.emergency_actions)));
    json_object_set_new(result, "sample_seconds", json_real(sample_s));
    json_object_set_new(result, "rss_samples", samples);
    json_object_set_new(result, "warmup_seconds", json_real(warmup));
    json_object_set_new(result, "rss_fit_samples", json_integer((json_int_t)nfit));
    json_object_set_new(result, "rss_mean_bytes_after_warmup", json_real(mean));
    json_object_set_new(result, "rss_slope_bytes_per_hour", json_real(slope * 3600.0));
    json_object_set_new(result, "rss_drift_pct_per_hour", drift);
    json_object_set_new(result, "growth_after_warmup", growth);
    json_object_set_new(result, "leak_alert", json_boolean(atomic_load(&S.leak_alert)));
    if (atomic_load(&S.leak_alert))
        json_object_set_new(result, "leak_alert_detail", json_string(S.leak_detail));
    json_object_set_new(result, "agent_died", json_boolean(died));
    json_object_set_new(result, "agent_exit_code", json_integer(agent_exit));
    int pass = !died && n_unexp == 0 && agent_exit == 0;
    json_object_set_new(result, "passed", json_boolean(pass));
    /* the target for a long run: drift under 1 %/h after the warm-up, no leak alert */
    json_object_set_new(result, "targets_met",
                        json_boolean(pass && nfit >= 3 && json_real_value(drift) < 1.0 &&
                                     !atomic_load(&S.leak_alert)));
    S.unexpected_samples = NULL;

    fprintf(stderr, "soak: %.0f s, %" PRIu64 " transactions (%" PRIu64 " committed), %" JSON_INTEGER_FORMAT
                    " requests served, %" PRIu64 " expected / %" PRIu64 " unexpected errors\n",
            elapsed, atomic_load(&S.transactions), atomic_load(&S.committed),
            json_integer_value(json_object_get(req, "total")), n_exp, n_unexp);
    if (nfit >= 3)
        fprintf(stderr, "soak: RSS after %.0f s warm-up: mean %.1f MiB, slope %+.2f MiB/h = %+.3f %%/h (%zu samples)\n",
                warmup, mean / 1048576.0, slope * 3600.0 / 1048576.0, mean > 0 ? slope * 360000.0 / mean : 0.0,
                nfit);
    else
        fprintf(stderr, "soak: run too short for a drift figure (warm-up %.0f s)\n", warmup);
    fprintf(stderr, "soak: leak alert %s, agent exit %d\n", atomic_load(&S.leak_alert) ? "RAISED" : "none",
            agent_exit);
    if (n_unexp) {
        char *s = json_dumps(json_object_get(result, "unexpected_error_samples"), JSON_COMPACT);
        fprintf(stderr, "soak: unexpected errors: %s\n", s ? s : "?");
        free(s);
    }
    /* the JSON is printed even on failure: bench_main prints only when run() returns 0 */
    if (!pass && o->json) {
        char *s = json_dumps(result, JSON_INDENT(2) | JSON_REAL_PRECISION(6));
        if (s)
            puts(s);
        free(s);
    }
    rc = pass ? 0 : 1;
out:
    if (S.work)
        rm_client_destroy(S.work);
    if (S.admin)
        rm_client_destroy(S.admin);
    S.work = S.admin = NULL;
    if (ag.pid) {
        int x = agent_terminate(&ag, 30.0);
        if (rc == 1 && x != 0)
            agent_log_tail(&ag);
    }
    agent_cleanup(&ag);
    for (size_t i = 0; i < ns; i++)
        json_decref(series[i]);
    free(series);
    free(st);
    free(srss);
    json_decref(S.unexpected_samples);
    S.unexpected_samples = NULL;
    return rc;
}

RM_BENCH_SUITE(soak,
               "N minutes of mixed SessionService load plus stats polls, knob changes and emergency actions on a "
               "real rustymemd: errors by code, RSS drift %/h after warm-up, leak alert, clean exit",
               "--agent PATH --minutes M --threads N --sessions N --seed N --sample-seconds S --set NAME=VALUE",
               run_soak)
