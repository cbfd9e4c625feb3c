/*
 * rustymem-load — a load generator for rustymemd's SessionService.
 *
 * Design note. All sessions are opened up front (in parallel by the worker
 * threads), then a fixed pool of worker threads cycles through them: worker w
 * runs one transaction at a time on sessions w, w + W, w + 2W, … so at most W
 * transactions (and so W connections) are in flight while every session is
 * used. A transaction is the profile's mix of RPCs between Begin and Commit;
 * its latency is measured from Begin to Commit. --rate spreads transactions
 * evenly over the workers (each worker keeps its own schedule). Errors are
 * counted by gRPC status code; after a failed call inside a transaction the
 * worker rolls back (ignoring "no open transaction") and moves on. The main
 * thread prints a progress line every second on stderr and the summary at
 * the end (text, or JSON with --json). Exit 0 when the run completed (errors
 * are reported, not fatal), 1 when it could not run (agent unreachable, no
 * session opened), 2 on a usage error.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "client.h"
#include "rm_clock.h"
#include "rustymem/v1/session.pb-c.h"

#define SS "/rustymem.v1.SessionService/"
#define CODES 17

typedef enum profile { P_OLTP, P_OLAP, P_BULK, P_MIXED } profile_t;
static const char *const profile_names[] = {"oltp", "olap", "bulk", "mixed"};

typedef struct opts {
    const char *addr;
    profile_t profile;
    uint32_t sessions, threads, tables, keys, value_bytes;
    double rate, duration;
    int json, keep_sessions, timeout_ms;
} opts_t;

typedef struct worker {
    pthread_t th;
    uint32_t index;
    uint64_t *lat_us;            /* transaction latencies */
    size_t n_lat, cap_lat;
    uint64_t rng;
    uint64_t bulk_seq;           /* bulk loads insert fresh keys: w<index>-<seq> */
} worker_t;

static opts_t o = {
    .addr = NULL, .profile = P_OLTP, .sessions = 100, .threads = 8, .tables = 8,
    .keys = 10000, .value_bytes = 100, .rate = 0, .duration = 10, .timeout_ms = 10000,
};
static rm_client_t *client;
static uint64_t *session_ids;
static _Atomic uint32_t sessions_opened;
static _Atomic uint64_t errors[CODES];
static _Atomic uint64_t committed, aborted, rpcs;
static _Atomic int stop;
static double t_start;

static uint64_t
rnd(worker_t *w)
{
    w->rng ^= w->rng << 13;
    w->rng ^= w->rng >> 7;
    w->rng ^= w->rng << 17;
    return w->rng;
}

static void
count_error(grpc_status_code c)
{
    atomic_fetch_add(&errors[(unsigned)c < CODES ? (unsigned)c : GRPC_STATUS_UNKNOWN], 1);
}

/* One unary call; frees the response unless *keep is given. Counts errors
 * unless quiet. */
static grpc_status_code
call(const char *method, const ProtobufCMessage *req, const ProtobufCMessageDescriptor *rd,
     ProtobufCMessage **keep, int quiet)
{
    char path[96];
    snprintf(path, sizeof path, SS "%s", method);
    ProtobufCMessage *resp = NULL;
    rm_call_status_t st;
    grpc_status_code c = rm_client_unary(client, path, req, rd, &resp, &st);
    atomic_fetch_add(&rpcs, 1);
    if (c != GRPC_STATUS_OK) {
        if (!quiet)
            count_error(c);
        return c;
    }
    if (keep)
        *keep = resp;
    else
        protobuf_c_message_free_unpacked(resp, NULL);
    return c;
}

static void
make_key(worker_t *w, char *buf, size_t cap)
{
    snprintf(buf, cap, "key%08" PRIu64, rnd(w) % o.keys);
}

/* The bytes of a key in buf, as a request's key field (valid while buf is). */
static ProtobufCBinaryData
key_bytes(const char *buf)
{
    return (ProtobufCBinaryData){.len = strlen(buf), .data = (uint8_t *)buf};
}

static void
make_table(worker_t *w, char *buf, size_t cap)
{
    snprintf(buf, cap, "t%" PRIu64, rnd(w) % o.tables);
}

static grpc_status_code
do_put(worker_t *w, uint64_t sid, const char *table, unsigned char *val, size_t vlen, int fresh)
{
    char key[48];
    if (fresh)
        snprintf(key, sizeof key, "bulk-w%04u-%012" PRIu64, w->index, w->bulk_seq++);
    else
        make_key(w, key, sizeof key);
    for (size_t i = 0; i < vlen; i++)
        val[i] = (unsigned char)('a' + (rnd(w) % 26));
    Rustymem__V1__PutRequest r = RUSTYMEM__V1__PUT_REQUEST__INIT;
    r.session_id = sid;
    r.table = (char *)table;
    r.key = key_bytes(key);
    r.value.data = val;
    r.value.len = vlen;
    return call("Put", &r.base, &rustymem__v1__put_response__descriptor, NULL, 0);
}

static grpc_status_code
do_get(worker_t *w, uint64_t sid, const char *table)
{
    char key[32];
    make_key(w, key, sizeof key);
    Rustymem__V1__GetRequest r = RUSTYMEM__V1__GET_REQUEST__INIT;
    r.session_id = sid;
    r.table = (char *)table;
    r.key = key_bytes(key);
    return call("Get", &r.base, &rustymem__v1__get_response__descriptor, NULL, 0);
}

static grpc_status_code
do_scan(worker_t *w, uint64_t sid, const char *table)
{
    char start[32];
    make_key(w, start, sizeof start);
    Rustymem__V1__ScanRequest r = RUSTYMEM__V1__SCAN_REQUEST__INIT;
    r.session_id = sid;
    r.table = (char *)table;
    r.start_key = key_bytes(start);
    r.limit = 100;
    r.priority = RUSTYMEM__V1__QUERY_PRIORITY__QUERY_PRIORITY_LOW;
    return call("Scan", &r.base, &rustymem__v1__scan_response__descriptor, NULL, 0);
}

/* One transaction of the profile on session sid. Returns 1 when committed. */
static int
transaction(worker_t *w, uint64_t sid, profile_t p)
{
    if (p == P_MIXED) {
        uint64_t x = rnd(w) % 100;
        p = x < 70 ? P_OLTP : x < 90 ? P_OLAP : P_BULK;
    }
    Rustymem__V1__BeginRequest b = RUSTYMEM__V1__BEGIN_REQUEST__INIT;
    b.session_id = sid;
    b.size_hint_bytes = p == P_BULK ? 4u << 20 : 0;
    grpc_status_code c = call("Begin", &b.base, &rustymem__v1__begin_response__descriptor, NULL, 0);
    if (c != GRPC_STATUS_OK) {
        if (c == GRPC_STATUS_UNAVAILABLE)
            usleep(1000);   /* every pooled connection busy: back off */
        return 0;
    }
    unsigned char val[4096];
    size_t vlen = o.value_bytes < sizeof val ? o.value_bytes : sizeof val;
    char table[32];
    make_table(w, table, sizeof table);
    switch (p) {
    case P_OLTP:
        for (int i = 0; i < 2 && c == GRPC_STATUS_OK; i++)
            c = do_get(w, sid, table);
        for (int i = 0; i < 2 && c == GRPC_STATUS_OK; i++)
            c = do_put(w, sid, table, val, vlen, 0);
        break;
    case P_OLAP:
        c = do_scan(w, sid, table);
        break;
    default:
        for (int i = 0; i < 100 && c == GRPC_STATUS_OK && !atomic_load(&stop); i++)
            c = do_put(w, sid, table, val, vlen, 1);
        break;
    }
    if (c == GRPC_STATUS_OK) {
        Rustymem__V1__CommitRequest cr = RUSTYMEM__V1__COMMIT_REQUEST__INIT;
        cr.session_id = sid;
        c = call("Commit", &cr.base, &rustymem__v1__commit_response__descriptor, NULL, 0);
        if (c == GRPC_STATUS_OK)
            return 1;
        if (c == GRPC_STATUS_ABORTED)
            atomic_fetch_add(&aborted, 1);
        return 0;
    }
    Rustymem__V1__RollbackRequest rr = RUSTYMEM__V1__ROLLBACK_REQUEST__INIT;
    rr.session_id = sid;
    (void)call("Rollback", &rr.base, &rustymem__v1__rollback_response__descriptor, NULL, 1);
    return 0;
}

static void *
open_worker(void *arg)
{
    worker_t *w = arg;
    for (uint32_t i = w->index; i < o.sessions; i += o.threads) {
        Rustymem__V1__OpenSessionRequest r = RUSTYMEM__V1__OPEN_SESSION_REQUEST__INIT;
        r.client_name = "rustymem-load";
        ProtobufCMessage *resp = NULL;
        if (call("OpenSession", &r.base, &rustymem__v1__open_session_response__descriptor, &resp, 0) ==
            GRPC_STATUS_OK) {
            session_ids[i] = ((Rustymem__V1__OpenSessionResponse *)resp)->session_id;
            protobuf_c_message_free_unpacked(resp, NULL);
            atomic_fetch_add(&sessions_opened, 1);
        }
    }
    return NULL;
}

static void *
close_worker(void *arg)
{
    worker_t *w = arg;
    for (uint32_t i = w->index; i < o.sessions; i += o.threads) {
        if (!session_ids[i])
            continue;
        Rustymem__V1__CloseSessionRequest r = RUSTYMEM__V1__CLOSE_SESSION_REQUEST__INIT;
        r.session_id = session_ids[i];
        (void)call("CloseSession", &r.base, &rustymem__v1__close_session_response__descriptor, NULL, 1);
    }
    return NULL;
}

static void *
run_worker(void *arg)
{
    worker_t *w = arg;
    double period = o.rate > 0 ? (double)o.threads / o.rate : 0, next = rm_mono_s();
    uint32_t i = w->index;
    while (!atomic_load(&stop)) {
        if (period > 0) {
            double t = rm_mono_s();
            if (t < next) {
                double d = next - t;
                struct timespec ts = {(time_t)d, (long)((d - floor(d)) * 1e9)};
                nanosleep(&ts, NULL);
                if (atomic_load(&stop))
                    break;
            }
            next += period;
        }
        /* next session of this worker's share that opened */
        uint32_t tries = 0;
        while (!session_ids[i] && tries++ < o.sessions) {
            i += o.threads;
            if (i >= o.sessions)
                i = w->index;
        }
        uint64_t sid = session_ids[i];
        i += o.threads;
        if (i >= o.sessions)
            i = w->index;
        if (!sid)
            break;   /* none of this worker's sessions opened */
        double t0 = rm_mono_s();
        if (transaction(w, sid, o.profile)) {
            atomic_fetch_add(&committed, 1);
            if (w->n_lat == w->cap_lat) {
                size_t nc = w->cap_lat ? w->cap_lat * 2 : 4096;
                uint64_t *p = realloc(w->lat_us, nc * sizeof *p);
                if (!p)
                    continue;
                w->lat_us = p;
                w->cap_lat = nc;
            }
            w->lat_us[w->n_lat++] = (uint64_t)((rm_mono_s() - t0) * 1e6);
        }
    }
    return NULL;
}

static int
cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static int
run_pool(void *(*fn)(void *), worker_t *ws)
{
    for (uint32_t i = 0; i < o.threads; i++)
        if (pthread_create(&ws[i].th, NULL, fn, &ws[i]) != 0) {
            for (uint32_t j = 0; j < i; j++)
                pthread_join(ws[j].th, NULL);
            return -1;
        }
    return 0;
}

static void
join_pool(worker_t *ws)
{
    for (uint32_t i = 0; i < o.threads; i++)
        pthread_join(ws[i].th, NULL);
}

static void
usage(FILE *f)
{
    fprintf(f,
            "usage: rustymem-load [options]\n"
            "Drive a running rustymemd over SessionService and report throughput, latency and errors.\n"
            "  --addr HOST:PORT      agent address (default $RUSTYMEM_ADDR, else 127.0.0.1:50051)\n"

            "  --profile P           oltp (2 gets + 2 puts), olap (100-row low-priority scan),\n"
            "                        bulk (100 inserts of fresh keys), mixed (70/20/10 of those); default oltp\n"
            "  --sessions N          sessions opened up front (default 100, 1..10000000)\n"
            "  --threads N           worker threads = transactions in flight (default 8, 1..1024)\n"
            "  --rate TPS            target transactions per second, 0 = unthrottled (default 0)\n"
            "  --duration SECONDS    length of the run (default 10)\n"
            "  --tables N            tables used (default 8)\n"
            "  --keys N              key space per table (default 10000)\n"
            "  --value-bytes N       bytes per written value (default 100, at most 4096)\n"
            "  --timeout-ms N        deadline of each call (default 10000)\n"
            "  --keep-sessions       do not close the sessions at the end\n"
            "  --json                print the summary as JSON on stdout\n"
            "  --help                this text\n"
            "credentials (the same flags as rustymemctl; the token needs the client role):\n");
    rm_client_creds_help(f, "tls", 24);
    fprintf(f,
            "Progress goes to stderr every second. Exit 0 when the run completed (errors are\n"
            "reported by status code), 1 when it could not run, 2 on a usage error.\n");
}

static int
parse_num(const char *flag, const char *arg, double lo, double hi, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(arg, &end);
    if (errno || *end || end == arg || !(v >= lo && v <= hi)) {
        fprintf(stderr, "rustymem-load: %s %s: expected a number in [%g, %g]\n", flag, arg, lo, hi);
        return -1;
    }
    *out = v;
    return 0;
}

int
main(int argc, char **argv)
{
    enum { O_ADDR = 256, O_PROFILE, O_SESSIONS, O_THREADS, O_RATE, O_DURATION, O_TABLES, O_KEYS, O_VBYTES,
           O_TIMEOUT, O_KEEP, O_JSON, O_HELP, O_CRED };
    static const struct option longopts[] = {
        {"addr", required_argument, 0, O_ADDR}, RM_CLIENT_CRED_LONGOPTS("tls", O_CRED),
        {"profile", required_argument, 0, O_PROFILE}, {"sessions", required_argument, 0, O_SESSIONS},
        {"threads", required_argument, 0, O_THREADS}, {"rate", required_argument, 0, O_RATE},
        {"duration", required_argument, 0, O_DURATION}, {"tables", required_argument, 0, O_TABLES},
        {"keys", required_argument, 0, O_KEYS}, {"value-bytes", required_argument, 0, O_VBYTES},
        {"timeout-ms", required_argument, 0, O_TIMEOUT}, {"keep-sessions", no_argument, 0, O_KEEP},
        {"json", no_argument, 0, O_JSON}, {"help", no_argument, 0, O_HELP}, {0, 0, 0, 0},
    };
    o.addr = getenv("RUSTYMEM_ADDR") && *getenv("RUSTYMEM_ADDR") ? getenv("RUSTYMEM_ADDR") : "127.0.0.1:50051";
    static rm_client_creds_t creds;
    int c;
    double v;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        int bad = 0;
        switch (c) {
        case O_ADDR: o.addr = optarg; break;
        case O_PROFILE: {
            int k = -1;
            for (int i = 0; i < 4; i++)
                if (strcmp(optarg, profile_names[i]) == 0)
                    k = i;
            if (k < 0) {
                fprintf(stderr, "rustymem-load: --profile %s: expected oltp, olap, bulk or mixed\n", optarg);
                return 2;
            }
            o.profile = (profile_t)k;
            break;
        }
        case O_SESSIONS: bad = parse_num("--sessions", optarg, 1, 10000000, &v); o.sessions = (uint32_t)v; break;
        case O_THREADS: bad = parse_num("--threads", optarg, 1, 1024, &v); o.threads = (uint32_t)v; break;
        case O_RATE: bad = parse_num("--rate", optarg, 0, 1e9, &o.rate); break;
        case O_DURATION: bad = parse_num("--duration", optarg, 0.1, 1e7, &o.duration); break;
        case O_TABLES: bad = parse_num("--tables", optarg, 1, 1000, &v); o.tables = (uint32_t)v; break;
        case O_KEYS: bad = parse_num("--keys", optarg, 1, 1e9, &v); o.keys = (uint32_t)v; break;
        case O_VBYTES: bad = parse_num("--value-bytes", optarg, 0, 4096, &v); o.value_bytes = (uint32_t)v; break;
        case O_TIMEOUT: bad = parse_num("--timeout-ms", optarg, 1, 3600000, &v); o.timeout_ms = (int)v; break;
        case O_KEEP: o.keep_sessions = 1; break;
        case O_JSON: o.json = 1; break;
        case O_HELP: usage(stdout); return 0;
        default:
            if (c >= O_CRED && c < O_CRED + RM_CRED_N_FLAGS) {
                rm_client_creds_set(&creds, (rm_client_cred_flag_t)(c - O_CRED), optarg);
                break;
            }
            fprintf(stderr, "rustymem-load: unknown or incomplete option '%s' (see rustymem-load --help)\n",
                    argv[optind - 1]);
            return 2;
        }
        if (bad)
            return 2;
    }
    if (optind < argc) {
        fprintf(stderr, "rustymem-load: unexpected argument '%s' (see rustymem-load --help)\n", argv[optind]);
        return 2;
    }
    if (o.threads > o.sessions)
        o.threads = o.sessions;

    char err[512];
    rm_client_opts_t co = {.target = o.addr, .timeout_ms = o.timeout_ms};
    rm_status_t cst = rm_client_creds_apply(&creds, getenv("RUSTYMEM_TOKEN"), &co, err, sizeof err);
    if (cst != RM_OK) {
        fprintf(stderr, "rustymem-load: %s\n", err);
        return cst == RM_EINVAL ? 2 : 1;
    }
    if (rm_client_create(&co, &client, err, sizeof err) != RM_OK) {
        fprintf(stderr, "rustymem-load: %s\n", err);
        return 1;
    }
    session_ids = calloc(o.sessions, sizeof *session_ids);
    worker_t *ws = calloc(o.threads, sizeof *ws);
    if (!session_ids || !ws) {
        fprintf(stderr, "rustymem-load: out of memory\n");
        return 1;
    }
    for (uint32_t i = 0; i < o.threads; i++) {
        ws[i].index = i;
        ws[i].rng = 0x9E3779B97F4A7C15ull * (i + 1) ^ (uint64_t)time(NULL);
    }
    double t_open = rm_mono_s();
    if (run_pool(open_worker, ws) != 0) {
        fprintf(stderr, "rustymem-load: cannot start worker threads\n");
        free(ws);
        free(session_ids);
        return 1;
    }
    join_pool(ws);
    uint32_t opened = atomic_load(&sessions_opened);
    double open_s = rm_mono_s() - t_open;
    fprintf(stderr, "rustymem-load: opened %u of %u sessions in %.2f s on %s\n", opened, o.sessions, open_s, o.addr);
    if (opened == 0) {
        fprintf(stderr, "rustymem-load: no session could be opened (is rustymemd running at %s? errors: ", o.addr);
        for (int k = 0; k < CODES; k++)
            if (atomic_load(&errors[k]))
                fprintf(stderr, "%s %" PRIu64 " ", rm_client_status_name((grpc_status_code)k), atomic_load(&errors[k]));
        fprintf(stderr, ")\n");
        rm_client_destroy(client);
        free(ws);
        free(session_ids);
        return 1;
    }
    uint64_t open_errors = 0;
    for (int k = 0; k < CODES; k++)
        open_errors += atomic_load(&errors[k]);

    t_start = rm_mono_s();
    if (run_pool(run_worker, ws) != 0) {
        fprintf(stderr, "rustymem-load: cannot start worker threads\n");
        return 1;
    }
    uint64_t last = 0;
    double last_t = t_start;
    while (rm_mono_s() - t_start < o.duration) {
        double left = o.duration - (rm_mono_s() - t_start);
        usleep((useconds_t)((left < 1.0 ? left : 1.0) * 1e6));
        double t = rm_mono_s();
        uint64_t n = atomic_load(&committed), e = 0;
        for (int k = 0; k < CODES; k++)
            e += atomic_load(&errors[k]);
        fprintf(stderr, "[%6.1fs] %8.0f tx/s  committed %" PRIu64 "  errors %" PRIu64 "  sessions %u\n",
                t - t_start, t > last_t ? (double)(n - last) / (t - last_t) : 0.0, n, e, opened);
        last = n;
        last_t = t;
    }
    atomic_store(&stop, 1);
    join_pool(ws);
    double elapsed = rm_mono_s() - t_start;
    if (!o.keep_sessions) {
        if (run_pool(close_worker, ws) == 0)
            join_pool(ws);
    }

    size_t total = 0;
    for (uint32_t i = 0; i < o.threads; i++)
        total += ws[i].n_lat;
    uint64_t *all = malloc((total ? total : 1) * sizeof *all);
    size_t k = 0;
    for (uint32_t i = 0; i < o.threads; i++) {
        if (all && ws[i].n_lat)
            memcpy(all + k, ws[i].lat_us, ws[i].n_lat * sizeof *all);
        k += ws[i].n_lat;
        free(ws[i].lat_us);
    }
    double p50 = 0, p99 = 0, pmax = 0;
    if (all && total) {
        qsort(all, total, sizeof *all, cmp_u64);
        p50 = (double)all[(size_t)(0.50 * (double)(total - 1))] / 1000.0;
        p99 = (double)all[(size_t)(0.99 * (double)(total - 1))] / 1000.0;
        pmax = (double)all[total - 1] / 1000.0;
    }
    free(all);
    uint64_t n = atomic_load(&committed);
    double tps = elapsed > 0 ? (double)n / elapsed : 0;
    json_t *errs = json_object();
    uint64_t err_total = 0;
    for (int i = 1; i < CODES; i++) {
        uint64_t e = atomic_load(&errors[i]);
        if (e) {
            json_object_set_new(errs, rm_client_status_name((grpc_status_code)i), json_integer((json_int_t)e));
            err_total += e;
        }
    }
    if (o.json) {
        json_t *r = json_pack("{s:s, s:s, s:I, s:I, s:I, s:f, s:f, s:f, s:I, s:I, s:I, s:f, s:{s:f, s:f, s:f}, s:I, s:O}",
                              "profile", profile_names[o.profile], "addr", o.addr, "sessions", (json_int_t)o.sessions,
                              "sessions_opened", (json_int_t)opened, "threads", (json_int_t)o.threads,
                              "rate_target", o.rate, "duration_seconds", elapsed, "open_seconds", open_s,
                              "transactions", (json_int_t)n, "aborted", (json_int_t)atomic_load(&aborted),
                              "rpcs", (json_int_t)atomic_load(&rpcs), "tps", tps, "latency_ms", "p50", p50, "p99",
                              p99, "max", pmax, "errors_total", (json_int_t)err_total, "errors", errs);
        if (r) {
            char *s = json_dumps(r, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
            if (s)
                printf("%s\n", s);
            free(s);
            json_decref(r);
        }
    } else {
        printf("profile %s: %u sessions (%u opened in %.2f s), %u threads, %.1f s\n", profile_names[o.profile],
               o.sessions, opened, open_s, o.threads, elapsed);
        printf("throughput   %.0f tx/s (%" PRIu64 " committed, %" PRIu64 " aborted by conflicts)\n", tps, n,
               atomic_load(&aborted));
        printf("latency      p50 %.3f ms  p99 %.3f ms  max %.3f ms\n", p50, p99, pmax);
        printf("errors       %" PRIu64, err_total);
        const char *key;
        json_t *val;
        json_object_foreach(errs, key, val)
            printf("  %s %" JSON_INTEGER_FORMAT, key, json_integer_value(val));
        printf("\n");
    }
    json_decref(errs);
    (void)open_errors;
    free(session_ids);
    free(ws);
    rm_client_destroy(client);
    return 0;
}
