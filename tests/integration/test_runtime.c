/*
 * test_runtime.c — the gRPC runtime end to end on loopback: an in-process
 * server (service/server.c) and the client library (service/client), with
 * real HTTP/2 between them.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "client.h"
#include "grpc/health/v1/health.pb-c.h"
#include "host.h"
#include "rpc_internal.h"
#include "rustymem/v1/memory.pb-c.h"
#include "rustymem/v1/tuning.pb-c.h"
#include "server.h"

/* test.Svc/Slow sleeps `prefix` milliseconds (as text); test.Svc/Whoami echoes authorization. */
static grpc_status_code
slow_handler(rm_rpc_ctx_t *ctx, const ProtobufCMessage *req_, ProtobufCMessage *resp)
{
    const Rustymem__V1__ListKnobsRequest *req = (const void *)req_;
    usleep((useconds_t)atoi(req->prefix) * 1000);
    return GRPC_STATUS_OK;
}

static grpc_status_code
whoami_handler(rm_rpc_ctx_t *ctx, const ProtobufCMessage *req, ProtobufCMessage *resp_)
{
    Rustymem__V1__ListKnobsResponse *resp = (void *)resp_;
    size_t len = 0;
    const char *v = rm_rpc_metadata(ctx, "authorization", &len);
    if (!v)
        return rm_rpc_fail(ctx, GRPC_STATUS_UNAUTHENTICATED, "no authorization metadata");
    Rustymem__V1__KnobInfo *k = rm_rpc_alloc(ctx, sizeof *k);
    rustymem__v1__knob_info__init(k);
    k->name = rm_rpc_alloc(ctx, len + 1);
    memcpy(k->name, v, len);
    resp->knobs = rm_rpc_alloc(ctx, sizeof *resp->knobs);
    resp->knobs[0] = k;
    resp->n_knobs = 1;
    return GRPC_STATUS_OK;
}

/* test.Svc/Park (a may_wait method) waits until the test opens the gate (at
 * most 20 s), counting how many calls wait in it at once. */
static struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int inside, open;
} park = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0};

static grpc_status_code
park_handler(rm_rpc_ctx_t *ctx, const ProtobufCMessage *req, ProtobufCMessage *resp)
{
    (void)ctx, (void)req, (void)resp;
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 20;
    pthread_mutex_lock(&park.mu);
    park.inside++;
    pthread_cond_broadcast(&park.cv);
    while (!park.open && pthread_cond_timedwait(&park.cv, &park.mu, &until) == 0) {
    }
    park.inside--;
    int opened = park.open;
    pthread_mutex_unlock(&park.mu);
    return opened ? GRPC_STATUS_OK : rm_rpc_fail(ctx, GRPC_STATUS_DEADLINE_EXCEEDED, "the gate never opened");
}

static const rm_rpc_method_t test_methods[] = {
    RM_RPC_UNARY_WAITING_METHOD("/test.Svc/Park", rustymem__v1__list_knobs_request__descriptor,
                                rustymem__v1__list_knobs_response__descriptor, RM_ROLE_READER, park_handler),
    RM_RPC_UNARY_METHOD("/test.Svc/Slow", rustymem__v1__list_knobs_request__descriptor,
                        rustymem__v1__list_knobs_response__descriptor, RM_ROLE_READER, slow_handler),
    RM_RPC_UNARY_METHOD("/test.Svc/Whoami", rustymem__v1__list_knobs_request__descriptor,
                        rustymem__v1__list_knobs_response__descriptor, RM_ROLE_READER, whoami_handler),
};
static const rm_rpc_service_t test_service = RM_RPC_SERVICE("test.Svc", test_methods);

typedef struct fixture {
    rm_server_t *srv;
    rm_host_t node;
    char addr[64];
    rm_client_t *client;
} fixture_t;

/* 1 while the second group runs: every test again on the lean unary path */
static int registered;

static int
setup(void **state)
{
    fixture_t *f = calloc(1, sizeof *f);
    snprintf(f->node.node_name, sizeof f->node.node_name, "itest");
    const rm_rpc_service_t *svcs[] = {&rm_memory_service, &test_service};
    rm_server_opts_t o = {.listen = "127.0.0.1:0", .cq_threads = 2, .max_request_bytes = 1024,
                          .shutdown_grace_ms = 1000, .app = &f->node, .max_streams = 4,
                          .max_streams_per_principal = 4, .registered_methods = registered};
    static const rm_rpc_service_t *svc_store[2];
    memcpy(svc_store, svcs, sizeof svcs);
    char err[256];
    if (rm_server_create(&o, svc_store, 2, &f->srv, err, sizeof err) != RM_OK) {
        fprintf(stderr, "server: %s\n", err);
        return -1;
    }
    if (rm_server_start(f->srv) != RM_OK)
        return -1;
    snprintf(f->addr, sizeof f->addr, "127.0.0.1:%d", rm_server_port(f->srv));
    rm_client_opts_t co = {.target = f->addr, .timeout_ms = 5000, .token = "s3cret"};
    if (rm_client_create(&co, &f->client, err, sizeof err) != RM_OK)
        return -1;
    *state = f;
    return 0;
}

static int
teardown(void **state)
{
    fixture_t *f = *state;
    rm_client_destroy(f->client);
    rm_server_shutdown(f->srv);
    rm_server_wait(f->srv);
    rm_server_destroy(f->srv);
    free(f);
    return 0;
}

static void
test_runtime_get_memory_stats_over_loopback(void **state)
{
    fixture_t *f = *state;
    Rustymem__V1__GetMemoryStatsRequest req = RUSTYMEM__V1__GET_MEMORY_STATS_REQUEST__INIT;
    ProtobufCMessage *resp;
    rm_call_status_t st;
    assert_int_equal(rm_client_unary(f->client, "/rustymem.v1.MemoryService/GetMemoryStats", &req.base,
                                     &rustymem__v1__memory_stats__descriptor, &resp, &st),
                     GRPC_STATUS_OK);
    Rustymem__V1__MemoryStats *s = (void *)resp;
    assert_true(s->rss_bytes > 0);
    assert_string_equal(s->node_name, "itest");
    protobuf_c_message_free_unpacked(resp, NULL);
}

static void
test_runtime_unknown_method_is_unimplemented(void **state)
{
    fixture_t *f = *state;
    Rustymem__V1__GetMemoryStatsRequest req = RUSTYMEM__V1__GET_MEMORY_STATS_REQUEST__INIT;
    ProtobufCMessage *resp;
    rm_call_status_t st;
    assert_int_equal(rm_client_unary(f->client, "/rustymem.v1.MemoryService/NoSuchThing", &req.base,
                                     &rustymem__v1__memory_stats__descriptor, &resp, &st),
                     GRPC_STATUS_UNIMPLEMENTED);
    assert_null(resp);
    assert_non_null(strstr(st.message, "NoSuchThing"));
}

static void
test_runtime_oversize_request_is_resource_exhausted(void **state)
{
    fixture_t *f = *state;
    char big[4096];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    Rustymem__V1__ListKnobsRequest req = RUSTYMEM__V1__LIST_KNOBS_REQUEST__INIT;
    req.prefix = big;
    ProtobufCMessage *resp;
    rm_call_status_t st;
    assert_int_equal(rm_client_unary(f->client, "/test.Svc/Whoami", &req.base,
                                     &rustymem__v1__list_knobs_response__descriptor, &resp, &st),
                     GRPC_STATUS_RESOURCE_EXHAUSTED);
    assert_null(resp);
}

static void
test_runtime_malformed_request_is_invalid_argument(void **state)
{
    fixture_t *f = *state;
    /* field 1, length-delimited, claims 100 bytes but carries 2 */
    const uint8_t bad[] = {0x0a, 0x64, 'a', 'b'};
    uint8_t *resp;
    size_t resp_len;
    rm_call_status_t st;
    assert_int_equal(rm_client_unary_bytes(f->client, "/rustymem.v1.MemoryService/GetArenaStats", bad, sizeof bad,
                                           &resp, &resp_len, &st),
                     GRPC_STATUS_INVALID_ARGUMENT);
    assert_null(resp);
    assert_non_null(strstr(st.message, "malformed rustymem.v1.GetArenaStatsRequest"));
}

static void
test_runtime_deadline_is_honoured(void **state)
{
    fixture_t *f = *state;
    rm_client_t *c;
    char err[128];
    rm_client_opts_t co = {.target = f->addr, .timeout_ms = 100};
    assert_int_equal(rm_client_create(&co, &c, err, sizeof err), RM_OK);
    Rustymem__V1__ListKnobsRequest req = RUSTYMEM__V1__LIST_KNOBS_REQUEST__INIT;
    req.prefix = "600";
    ProtobufCMessage *resp;
    rm_call_status_t st;
    assert_int_equal(rm_client_unary(c, "/test.Svc/Slow", &req.base,
                                     &rustymem__v1__list_knobs_response__descriptor, &resp, &st),
                     GRPC_STATUS_DEADLINE_EXCEEDED);
    rm_client_destroy(c);
}

static void
test_runtime_handler_reads_request_metadata(void **state)
{
    fixture_t *f = *state;
    Rustymem__V1__ListKnobsRequest req = RUSTYMEM__V1__LIST_KNOBS_REQUEST__INIT;
    ProtobufCMessage *resp;
    rm_call_status_t st;
    assert_int_equal(rm_client_unary(f->client, "/test.Svc/Whoami", &req.base,
                                     &rustymem__v1__list_knobs_response__descriptor, &resp, &st),
                     GRPC_STATUS_OK);
    Rustymem__V1__ListKnobsResponse *r = (void *)resp;
    assert_string_equal(r->knobs[0]->name, "Bearer s3cret");
    protobuf_c_message_free_unpacked(resp, NULL);
}

static void
test_runtime_health_check_known_and_unknown(void **state)
{
    fixture_t *f = *state;
    Grpc__Health__V1__HealthCheckRequest req = GRPC__HEALTH__V1__HEALTH_CHECK_REQUEST__INIT;
    ProtobufCMessage *resp;
    rm_call_status_t st;
    const char *names[] = {"", "rustymem.v1.MemoryService", "grpc.health.v1.Health"};
    for (size_t i = 0; i < 3; i++) {
        req.service = (char *)names[i];
        assert_int_equal(rm_client_unary(f->client, "/grpc.health.v1.Health/Check", &req.base,
                                         &grpc__health__v1__health_check_response__descriptor, &resp, &st),
                         GRPC_STATUS_OK);
        assert_int_equal(((Grpc__Health__V1__HealthCheckResponse *)resp)->status,
                         GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING);
        protobuf_c_message_free_unpacked(resp, NULL);
    }
    req.service = "no.such.Service";
    assert_int_equal(rm_client_unary(f->client, "/grpc.health.v1.Health/Check", &req.base,
                                     &grpc__health__v1__health_check_response__descriptor, &resp, &st),
                     GRPC_STATUS_NOT_FOUND);
    rm_server_set_serving(f->srv, "rustymem.v1.MemoryService", 0);
    req.service = "rustymem.v1.MemoryService";
    assert_int_equal(rm_client_unary(f->client, "/grpc.health.v1.Health/Check", &req.base,
                                     &grpc__health__v1__health_check_response__descriptor, &resp, &st),
                     GRPC_STATUS_OK);
    assert_int_equal(((Grpc__Health__V1__HealthCheckResponse *)resp)->status,
                     GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__NOT_SERVING);
    protobuf_c_message_free_unpacked(resp, NULL);
    rm_server_set_serving(f->srv, "rustymem.v1.MemoryService", 1);
}

static void
test_runtime_health_watch_sees_changes(void **state)
{
    fixture_t *f = *state;
    Grpc__Health__V1__HealthCheckRequest req = GRPC__HEALTH__V1__HEALTH_CHECK_REQUEST__INIT;
    req.service = "rustymem.v1.MemoryService";
    rm_client_stream_t *s;
    rm_call_status_t st;
    assert_int_equal(rm_client_stream_open(f->client, "/grpc.health.v1.Health/Watch", &req.base, 5000, &s, &st),
                     GRPC_STATUS_OK);
    ProtobufCMessage *m;
    assert_int_equal(rm_client_stream_next(s, &grpc__health__v1__health_check_response__descriptor, &m), 1);
    assert_int_equal(((Grpc__Health__V1__HealthCheckResponse *)m)->status,
                     GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING);
    protobuf_c_message_free_unpacked(m, NULL);
    rm_server_set_serving(f->srv, "rustymem.v1.MemoryService", 0);
    assert_int_equal(rm_client_stream_next(s, &grpc__health__v1__health_check_response__descriptor, &m), 1);
    assert_int_equal(((Grpc__Health__V1__HealthCheckResponse *)m)->status,
                     GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__NOT_SERVING);
    protobuf_c_message_free_unpacked(m, NULL);
    rm_server_set_serving(f->srv, "rustymem.v1.MemoryService", 1);
    rm_client_stream_finish(s, &st);
    assert_int_equal(st.code, GRPC_STATUS_CANCELLED);
}

static void
test_runtime_watch_stats_streams_and_validates_interval(void **state)
{
    fixture_t *f = *state;
    Rustymem__V1__WatchStatsRequest req = RUSTYMEM__V1__WATCH_STATS_REQUEST__INIT;
    req.interval_ms = 100;
    rm_client_stream_t *s;
    rm_call_status_t st;
    assert_int_equal(rm_client_stream_open(f->client, "/rustymem.v1.MemoryService/WatchStats", &req.base, 5000,
                                           &s, &st),
                     GRPC_STATUS_OK);
    for (int i = 0; i < 3; i++) {
        ProtobufCMessage *m;
        assert_int_equal(rm_client_stream_next(s, &rustymem__v1__memory_stats__descriptor, &m), 1);
        assert_true(((Rustymem__V1__MemoryStats *)m)->rss_bytes > 0);
        protobuf_c_message_free_unpacked(m, NULL);
    }
    rm_client_stream_finish(s, &st);

    req.interval_ms = 10; /* below the floor */
    assert_int_equal(rm_client_stream_open(f->client, "/rustymem.v1.MemoryService/WatchStats", &req.base, 5000,
                                           &s, &st),
                     GRPC_STATUS_OK);
    ProtobufCMessage *m;
    assert_int_equal(rm_client_stream_next(s, &rustymem__v1__memory_stats__descriptor, &m), 0);
    rm_client_stream_finish(s, &st);
    assert_int_equal(st.code, GRPC_STATUS_INVALID_ARGUMENT);
    assert_non_null(strstr(st.message, "interval_ms"));
}

static void
test_runtime_stream_limit_is_resource_exhausted(void **state)
{
    fixture_t *f = *state; /* max_streams = 4 */
    Rustymem__V1__WatchStatsRequest req = RUSTYMEM__V1__WATCH_STATS_REQUEST__INIT;
    req.interval_ms = 1000;
    rm_client_stream_t *s[5];
    rm_call_status_t st;
    for (int i = 0; i < 4; i++) {
        assert_int_equal(rm_client_stream_open(f->client, "/rustymem.v1.MemoryService/WatchStats", &req.base,
                                               5000, &s[i], &st),
                         GRPC_STATUS_OK);
        ProtobufCMessage *m;
        assert_int_equal(rm_client_stream_next(s[i], &rustymem__v1__memory_stats__descriptor, &m), 1);
        protobuf_c_message_free_unpacked(m, NULL);
    }
    assert_int_equal(rm_client_stream_open(f->client, "/rustymem.v1.MemoryService/WatchStats", &req.base, 5000,
                                           &s[4], &st),
                     GRPC_STATUS_OK);
    ProtobufCMessage *m;
    assert_int_equal(rm_client_stream_next(s[4], &rustymem__v1__memory_stats__descriptor, &m), 0);
    rm_client_stream_finish(s[4], &st);
    assert_int_equal(st.code, GRPC_STATUS_RESOURCE_EXHAUSTED);
    for (int i = 0; i < 4; i++)
        rm_client_stream_finish(s[i], NULL);
}

/* Identity from the bearer token, as the auth layer would set it. */
static grpc_status_code
token_identity(void *auth_ctx, rm_rpc_ctx_t *ctx)
{
    (void)auth_ctx;
    size_t len = 0;
    const char *v = rm_rpc_metadata(ctx, "authorization", &len);
    snprintf(ctx->identity, sizeof ctx->identity, "token:%.*s", (int)len, v ? v : "");
    return GRPC_STATUS_OK;
}

static rm_client_t *
client_with_token(const char *addr, const char *token)
{
    rm_client_opts_t co = {.target = addr, .timeout_ms = 5000, .token = token};
    rm_client_t *c = NULL;
    char err[256];
    assert_int_equal(rm_client_create(&co, &c, err, sizeof err), RM_OK);
    return c;
}

/* One caller cannot take every stream: a reader holding all of max_streams
 * kept an admin out of WatchPressure. */
static void
test_runtime_stream_limit_has_a_per_principal_share(void **state)
{
    fixture_t *f = *state;
    const rm_rpc_service_t *svcs[] = {&rm_memory_service};
    rm_server_opts_t o = {.listen = "127.0.0.1:0", .cq_threads = 2, .shutdown_grace_ms = 1000, .app = &f->node,
                          .max_streams = 4, .max_streams_per_principal = 2, .auth = token_identity};
    static const rm_rpc_service_t *store[1];
    memcpy(store, svcs, sizeof svcs);
    rm_server_t *srv;
    char err[256], addr[64];
    assert_int_equal(rm_server_create(&o, store, 1, &srv, err, sizeof err), RM_OK);
    assert_int_equal(rm_server_start(srv), RM_OK);
    snprintf(addr, sizeof addr, "127.0.0.1:%d", rm_server_port(srv));
    rm_client_t *reader = client_with_token(addr, "reader-token-0001");
    rm_client_t *admin = client_with_token(addr, "admin-token-00001");
    Rustymem__V1__WatchStatsRequest req = RUSTYMEM__V1__WATCH_STATS_REQUEST__INIT;
    req.interval_ms = 1000;
    rm_client_stream_t *s[5];
    rm_call_status_t st;
    ProtobufCMessage *m;
    for (int i = 0; i < 3; i++) {
        assert_int_equal(rm_client_stream_open(reader, "/rustymem.v1.MemoryService/WatchStats", &req.base, 5000,
                                               &s[i], &st),
                         GRPC_STATUS_OK);
        int got = rm_client_stream_next(s[i], &rustymem__v1__memory_stats__descriptor, &m);
        if (i < 2) {
            assert_int_equal(got, 1);
            protobuf_c_message_free_unpacked(m, NULL);
        } else {   /* the reader's third: over its share */
            assert_int_equal(got, 0);
            rm_client_stream_finish(s[i], &st);
            assert_int_equal(st.code, GRPC_STATUS_RESOURCE_EXHAUSTED);
            assert_non_null(strstr(st.message, "its share: 2 of max_streams 4"));
        }
    }
    for (int i = 3; i < 5; i++) {   /* another principal still gets in */
        assert_int_equal(rm_client_stream_open(admin, "/rustymem.v1.MemoryService/WatchStats", &req.base, 5000,
                                               &s[i], &st),
                         GRPC_STATUS_OK);
        assert_int_equal(rm_client_stream_next(s[i], &rustymem__v1__memory_stats__descriptor, &m), 1);
        protobuf_c_message_free_unpacked(m, NULL);
    }
    for (int i = 0; i < 5; i++)
        if (i != 2)
            rm_client_stream_finish(s[i], NULL);
    rm_client_destroy(reader);
    rm_client_destroy(admin);
    rm_server_shutdown(srv);
    rm_server_wait(srv);
    rm_server_destroy(srv);
}

typedef struct worker {
    fixture_t *f;
    int ok, failed;
} worker_t;

static void *
hammer(void *arg)
{
    worker_t *w = arg;
    for (int i = 0; i < 100; i++) {
        Rustymem__V1__GetMemoryStatsRequest req = RUSTYMEM__V1__GET_MEMORY_STATS_REQUEST__INIT;
        ProtobufCMessage *resp;
        rm_call_status_t st;
        if (rm_client_unary(w->f->client, "/rustymem.v1.MemoryService/GetMemoryStats", &req.base,
                            &rustymem__v1__memory_stats__descriptor, &resp, &st) == GRPC_STATUS_OK) {
            w->ok++;
            protobuf_c_message_free_unpacked(resp, NULL);
        } else {
            w->failed++;
        }
    }
    return NULL;
}

static void
test_runtime_concurrent_calls_all_succeed(void **state)
{
    fixture_t *f = *state;
    pthread_t th[16];
    worker_t w[16];
    for (int i = 0; i < 16; i++) {
        w[i] = (worker_t){.f = f};
        pthread_create(&th[i], NULL, hammer, &w[i]);
    }
    int ok = 0, failed = 0;
    for (int i = 0; i < 16; i++) {
        pthread_join(th[i], NULL);
        ok += w[i].ok;
        failed += w[i].failed;
    }
    assert_int_equal(failed, 0);
    assert_int_equal(ok, 1600);
}

typedef struct parker {
    fixture_t *f;
    grpc_status_code code;
} parker_t;

static void *
park_call(void *arg)
{
    parker_t *p = arg;
    rm_client_t *c;
    char err[256];
    rm_client_opts_t co = {.target = p->f->addr, .timeout_ms = 30000};
    p->code = GRPC_STATUS_UNKNOWN;
    if (rm_client_create(&co, &c, err, sizeof err) != RM_OK)
        return NULL;
    Rustymem__V1__ListKnobsRequest req = RUSTYMEM__V1__LIST_KNOBS_REQUEST__INIT;
    ProtobufCMessage *resp = NULL;
    rm_call_status_t st;
    p->code = rm_client_unary(c, "/test.Svc/Park", &req.base, &rustymem__v1__list_knobs_response__descriptor,
                              &resp, &st);
    if (resp)
        protobuf_c_message_free_unpacked(resp, NULL);
    rm_client_destroy(c);
    return NULL;
}

/* Handlers that wait (a knob write, a rollout) run off the completion-queue
 * threads: with both of the fixture's 2 threads' worth of such calls and one
 * more parked, all three are inside the handler at once and a stats call is
 * answered meanwhile. With the handlers inline the third call never entered
 * (both threads blocked) and the stats call waited for the gate. */
static void
test_runtime_waiting_handlers_leave_the_queue_threads_free(void **state)
{
    fixture_t *f = *state;
    pthread_mutex_lock(&park.mu);
    park.open = 0;
    pthread_mutex_unlock(&park.mu);
    pthread_t th[3];
    parker_t p[3];
    for (int i = 0; i < 3; i++) {
        p[i] = (parker_t){.f = f};
        assert_int_equal(pthread_create(&th[i], NULL, park_call, &p[i]), 0);
    }
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 15;
    pthread_mutex_lock(&park.mu);
    while (park.inside < 3 && pthread_cond_timedwait(&park.cv, &park.mu, &until) == 0) {
    }
    int inside = park.inside;
    pthread_mutex_unlock(&park.mu);

    Rustymem__V1__GetMemoryStatsRequest req = RUSTYMEM__V1__GET_MEMORY_STATS_REQUEST__INIT;
    ProtobufCMessage *resp = NULL;
    rm_call_status_t st;
    rm_client_opts_t co = {.target = f->addr, .timeout_ms = 5000};
    rm_client_t *c;
    char err[256];
    assert_int_equal(rm_client_create(&co, &c, err, sizeof err), RM_OK);
    grpc_status_code stats = rm_client_unary(c, "/rustymem.v1.MemoryService/GetMemoryStats", &req.base,
                                             &rustymem__v1__memory_stats__descriptor, &resp, &st);
    if (resp)
        protobuf_c_message_free_unpacked(resp, NULL);
    rm_client_destroy(c);

    pthread_mutex_lock(&park.mu);
    park.open = 1;
    pthread_cond_broadcast(&park.cv);
    pthread_mutex_unlock(&park.mu);
    for (int i = 0; i < 3; i++)
        pthread_join(th[i], NULL);
    assert_int_equal(inside, 3);
    assert_int_equal(stats, GRPC_STATUS_OK);
    for (int i = 0; i < 3; i++)
        assert_int_equal(p[i].code, GRPC_STATUS_OK);
}

static void
test_runtime_create_fails_cleanly_on_bad_address(void **state)
{
    (void)state;
    rm_server_t *srv = (void *)1;
    char err[256] = "";
    rm_server_opts_t o = {.listen = "256.1.1.1:99999"};
    assert_int_not_equal(rm_server_create(&o, NULL, 0, &srv, err, sizeof err), RM_OK);
    assert_null(srv);
    assert_non_null(strstr(err, "cannot listen on 256.1.1.1:99999"));
}

/* The lean path really serves the unary calls when asked (and only then);
 * a stream and an unknown method still go through the generic request. */
static void
test_runtime_unary_calls_take_the_path_configured(void **state)
{
    fixture_t *f = *state;
    Rustymem__V1__ListKnobsRequest req = RUSTYMEM__V1__LIST_KNOBS_REQUEST__INIT;
    ProtobufCMessage *resp;
    rm_call_status_t st;
    for (int i = 0; i < 3; i++) {
        assert_int_equal(rm_client_unary(f->client, "/test.Svc/Whoami", &req.base,
                                         &rustymem__v1__list_knobs_response__descriptor, &resp, &st),
                         GRPC_STATUS_OK);
        protobuf_c_message_free_unpacked(resp, NULL);
    }
    assert_int_equal(rm_client_unary(f->client, "/test.Svc/NoSuchThing", &req.base,
                                     &rustymem__v1__list_knobs_response__descriptor, &resp, &st),
                     GRPC_STATUS_UNIMPLEMENTED);
    assert_int_equal(rm_server_registered_calls(f->srv), registered ? 3 : 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_runtime_get_memory_stats_over_loopback, setup, teardown),
        cmocka_unit_test_setup_teardown(test_runtime_unknown_method_is_unimplemented, setup, teardown),
        cmocka_unit_test_setup_teardown(test_runtime_oversize_request_is_resource_exhausted, setup, teardown),
        cmocka_unit_test_setup_teardown(test_runtime_malformed_request_is_invalid_argument, setup, teardown),
        cmocka_unit_test_setup_teardown(test_runtime_deadline_is_honoured, setup, teardown),
        cmocka_unit_test_setup_teardown(test_runtime_handler_reads_request_metadata, setup, teardown),
        cmocka_unit_test_setup_teardown(test_runtime_health_check_known_and_unknown, setup, teardown),
        cmocka_unit_test_setup_teardown(test_runtime_health_watch_sees_changes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_runtime_watch_stats_streams_and_validates_interval, setup, teardown),
        cmocka_unit_test_setup_teardown(test_runtime_stream_limit_is_resource_exhausted, setup, teardown),
        cmocka_unit_test_setup_teardown(test_runtime_stream_limit_has_a_per_principal_share, setup, teardown),
        cmocka_unit_test_setup_teardown(test_runtime_concurrent_calls_all_succeed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_runtime_waiting_handlers_leave_the_queue_threads_free, setup, teardown),
        cmocka_unit_test(test_runtime_create_fails_cleanly_on_bad_address),
        cmocka_unit_test_setup_teardown(test_runtime_unary_calls_take_the_path_configured, setup, teardown),
    };
    /* every test on the generic path (request_call), then on the lean unary
     * path (registered methods with the request read in, docs/adr/0031) */
    int failed = cmocka_run_group_tests_name("generic", tests, NULL, NULL);
    registered = 1;
    failed += cmocka_run_group_tests_name("registered", tests, NULL, NULL);
    return failed;
}
