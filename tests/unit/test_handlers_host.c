/*
 * test_handlers_host.c — the management plane's host interface
 * (service/host.h, docs/adr/0018): the handlers reach the data plane only
 * through the host's methods table.
 *
 * A real server on 127.0.0.1:0 serves every service of rm_node_services()
 * over a host with no data plane (methods NULL, no memcore module): every
 * SessionService RPC and every engine RPC of MemoryService / EmergencyService
 * answers UNIMPLEMENTED naming what the host lacks, while Health and
 * GetMemoryStats work. The same server code over rustymemd's node with its
 * real engine plugged in (rm_node_host) serves a whole transaction, so the
 * UNIMPLEMENTED answers come from the missing methods, not from the wiring.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "client.h"
#include "engine.h"
#include "engine_node.h"
#include "grpc/health/v1/health.pb-c.h"
#include "host.h"
#include "node.h"
#include "rustymem/v1/emergency.pb-c.h"
#include "rustymem/v1/forecast.pb-c.h"
#include "rustymem/v1/memory.pb-c.h"
#include "rustymem/v1/session.pb-c.h"
#include "server.h"

typedef struct fixture {
    rm_server_t *srv;
    const rm_rpc_service_t *svcs[16];
    int n_svcs;
    rm_client_t *client;
} fixture_t;

static void
serve(fixture_t *f, rm_host_t *host)
{
    f->n_svcs = rm_node_services(f->svcs, 16);
    assert_true(f->n_svcs > 0);
    rm_server_opts_t o = {.listen = "127.0.0.1:0", .cq_threads = 2, .shutdown_grace_ms = 1000, .app = host};
    char err[256] = "";
    assert_int_equal(rm_server_create(&o, f->svcs, (size_t)f->n_svcs, &f->srv, err, sizeof err), RM_OK);
    assert_int_equal(rm_server_start(f->srv), RM_OK);
    char addr[64];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", rm_server_port(f->srv));
    rm_client_opts_t co = {.target = addr, .timeout_ms = 5000};
    assert_int_equal(rm_client_create(&co, &f->client, err, sizeof err), RM_OK);
}

static void
unserve(fixture_t *f)
{
    rm_client_destroy(f->client);
    rm_server_shutdown(f->srv);
    rm_server_wait(f->srv);
    rm_server_destroy(f->srv);
    rm_node_services_free(f->svcs, (size_t)f->n_svcs);
}

/* Call path with an empty request of its type (every field defaulted). */
static grpc_status_code
call_empty(fixture_t *f, const char *path, const ProtobufCMessageDescriptor *req_desc,
           const ProtobufCMessageDescriptor *resp_desc, ProtobufCMessage **resp, rm_call_status_t *st)
{
    ProtobufCMessage *req = calloc(1, req_desc->sizeof_message);
    assert_non_null(req);
    req_desc->message_init(req);
    grpc_status_code code = rm_client_unary(f->client, path, req, resp_desc, resp, st);
    free(req);
    return code;
}

static void
expect_unimplemented(fixture_t *f, const char *path, const ProtobufCMessageDescriptor *req_desc,
                     const ProtobufCMessageDescriptor *resp_desc, const char *message)
{
    ProtobufCMessage *resp = NULL;
    rm_call_status_t st;
    grpc_status_code code = call_empty(f, path, req_desc, resp_desc, &resp, &st);
    if (code != GRPC_STATUS_UNIMPLEMENTED || strcmp(st.message, message) != 0)
        fail_msg("%s: %d \"%s\", expected UNIMPLEMENTED \"%s\"", path, (int)code, st.message, message);
    assert_null(resp);
}

#define SS "/rustymem.v1.SessionService/"
#define D(stem) &rustymem__v1__##stem##_request__descriptor, &rustymem__v1__##stem##_response__descriptor

static void
test_host_without_engine_answers_unimplemented_and_serves_health_and_memory(void **state)
{
    (void)state;
    fixture_t f = {0};
    rm_host_t host = {.node_name = "no-engine", .version = "unit"};
    serve(&f, &host);

    static const struct {
        const char *method;
        const ProtobufCMessageDescriptor *req, *resp;
    } session_rpcs[] = {
        {"OpenSession", D(open_session)}, {"CloseSession", D(close_session)}, {"Begin", D(begin)},
        {"Get", D(get)},                  {"Put", D(put)},                    {"Delete", D(delete)},
        {"Scan", D(scan)},                {"Savepoint", D(savepoint)},        {"RollbackTo", D(rollback_to)},
        {"Commit", D(commit)},            {"Rollback", D(rollback)},
    };
    for (size_t i = 0; i < sizeof session_rpcs / sizeof session_rpcs[0]; i++) {
        char path[96], msg[128];
        snprintf(path, sizeof path, SS "%s", session_rpcs[i].method);
        snprintf(msg, sizeof msg, "%s: this server hosts no transaction engine", session_rpcs[i].method);
        expect_unimplemented(&f, path, session_rpcs[i].req, session_rpcs[i].resp, msg);
    }
    expect_unimplemented(&f, "/rustymem.v1.MemoryService/GetEngineStats",
                         &rustymem__v1__get_engine_stats_request__descriptor, &rustymem__v1__engine_stats__descriptor,
                         "GetEngineStats: this server hosts no engine");
    expect_unimplemented(&f, "/rustymem.v1.MemoryService/ListTransactions", D(list_transactions),
                         "ListTransactions: this server hosts no transaction engine");
    expect_unimplemented(&f, "/rustymem.v1.EmergencyService/ClearPlanCache",
                         &rustymem__v1__clear_plan_cache_request__descriptor, &rustymem__v1__action_result__descriptor,
                         "ClearPlanCache: this server hosts no plan cache");
    expect_unimplemented(&f, "/rustymem.v1.EmergencyService/KillOrphanedTransactions",
                         &rustymem__v1__kill_orphaned_transactions_request__descriptor,
                         &rustymem__v1__action_result__descriptor,
                         "KillOrphanedTransactions: this server hosts no transaction engine");
    expect_unimplemented(&f, "/rustymem.v1.EmergencyService/KillLongRunningQueries",
                         &rustymem__v1__kill_long_running_queries_request__descriptor,
                         &rustymem__v1__action_result__descriptor, "KillLongRunningQueries: this server hosts no query engine");
    expect_unimplemented(&f, "/rustymem.v1.EmergencyService/SetAdmission",
                         &rustymem__v1__set_admission_request__descriptor, &rustymem__v1__action_result__descriptor,
                         "SetAdmission: this server hosts no session multiplexer");

    /* Health and GetMemoryStats need no data plane. */
    ProtobufCMessage *resp = NULL;
    rm_call_status_t st;
    Grpc__Health__V1__HealthCheckRequest hreq = GRPC__HEALTH__V1__HEALTH_CHECK_REQUEST__INIT;
    assert_int_equal(rm_client_unary(f.client, "/grpc.health.v1.Health/Check", &hreq.base,
                                     &grpc__health__v1__health_check_response__descriptor, &resp, &st),
                     GRPC_STATUS_OK);
    assert_int_equal(((Grpc__Health__V1__HealthCheckResponse *)resp)->status,
                     GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING);
    protobuf_c_message_free_unpacked(resp, NULL);
    assert_int_equal(call_empty(&f, "/rustymem.v1.MemoryService/GetMemoryStats",
                                &rustymem__v1__get_memory_stats_request__descriptor,
                                &rustymem__v1__memory_stats__descriptor, &resp, &st),
                     GRPC_STATUS_OK);
    Rustymem__V1__MemoryStats *ms = (void *)resp;
    assert_true(ms->rss_bytes > 0);
    assert_true(ms->budget_bytes > 0);
    assert_string_equal(ms->node_name, "no-engine");
    assert_string_equal(ms->version, "unit");
    assert_non_null(ms->jemalloc);
    assert_false(ms->jemalloc->active); /* the host reads no allocator statistics */
    protobuf_c_message_free_unpacked(resp, NULL);
    unserve(&f);
}

/* The same services over rustymemd's node with its engine plugged in. */
static void
test_node_host_plugs_the_engine_in(void **state)
{
    (void)state;
    rm_node_t node = {.host = {.node_name = "with-engine", .version = "unit"}};
    assert_int_equal(rm_knobs_create(&node.knobs), RM_OK);
    assert_int_equal(rm_arena_mgr_create(NULL, NULL, &node.host.arenas), RM_OK);
    char err[256] = "";
    assert_int_equal(rm_engine_node_start(&node, true, err, sizeof err), RM_OK);
    rm_host_t *host = rm_node_host(&node);
    assert_ptr_equal(host, &node.host);
    assert_ptr_equal(host->data_plane, node.engine);
    assert_non_null(host->methods);
    assert_string_equal(host->node_name, "with-engine");

    fixture_t f = {0};
    serve(&f, host);
    ProtobufCMessage *resp = NULL;
    rm_call_status_t st;
    assert_int_equal(call_empty(&f, SS "OpenSession", D(open_session), &resp, &st), GRPC_STATUS_OK);
    uint64_t sid = ((Rustymem__V1__OpenSessionResponse *)resp)->session_id;
    protobuf_c_message_free_unpacked(resp, NULL);
    assert_true(sid != 0);

    Rustymem__V1__BeginRequest b = RUSTYMEM__V1__BEGIN_REQUEST__INIT;
    b.session_id = sid;
    assert_int_equal(rm_client_unary(f.client, SS "Begin", &b.base, &rustymem__v1__begin_response__descriptor, &resp,
                                     &st),
                     GRPC_STATUS_OK);
    protobuf_c_message_free_unpacked(resp, NULL);
    Rustymem__V1__PutRequest p = RUSTYMEM__V1__PUT_REQUEST__INIT;
    p.session_id = sid;
    p.table = "t";
    p.key = (ProtobufCBinaryData){1, (uint8_t *)"k"};
    p.value = (ProtobufCBinaryData){1, (uint8_t *)"v"};
    assert_int_equal(rm_client_unary(f.client, SS "Put", &p.base, &rustymem__v1__put_response__descriptor, &resp, &st),
                     GRPC_STATUS_OK);
    protobuf_c_message_free_unpacked(resp, NULL);

    /* ListTransactions goes through the host's list_txns: the open one is there. */
    assert_int_equal(call_empty(&f, "/rustymem.v1.MemoryService/ListTransactions", D(list_transactions), &resp, &st),
                     GRPC_STATUS_OK);
    Rustymem__V1__ListTransactionsResponse *lt = (void *)resp;
    assert_int_equal(lt->n_transactions, 1);
    assert_int_equal(lt->transactions[0]->session_id, sid);
    assert_string_equal(lt->transactions[0]->state, "active");
    protobuf_c_message_free_unpacked(resp, NULL);

    Rustymem__V1__CommitRequest c = RUSTYMEM__V1__COMMIT_REQUEST__INIT;
    c.session_id = sid;
    assert_int_equal(rm_client_unary(f.client, SS "Commit", &c.base, &rustymem__v1__commit_response__descriptor,
                                     &resp, &st),
                     GRPC_STATUS_OK);
    protobuf_c_message_free_unpacked(resp, NULL);
    assert_int_equal(call_empty(&f, "/rustymem.v1.MemoryService/GetEngineStats",
                                &rustymem__v1__get_engine_stats_request__descriptor,
                                &rustymem__v1__engine_stats__descriptor, &resp, &st),
                     GRPC_STATUS_OK);
    Rustymem__V1__EngineStats *es = (void *)resp;
    assert_int_equal(es->transactions_committed_total, 1);
    assert_int_equal(es->sessions, 1);
    assert_int_equal(es->tables, 1);
    protobuf_c_message_free_unpacked(resp, NULL);
    unserve(&f);

    rm_engine_node_stop(&node);
    rm_arena_mgr_destroy(node.host.arenas);
    rm_knobs_destroy(node.knobs);
}

static uint64_t
mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static Rustymem__V1__MemoryStats *
memory_stats(fixture_t *f, int fresh)
{
    Rustymem__V1__GetMemoryStatsRequest q = RUSTYMEM__V1__GET_MEMORY_STATS_REQUEST__INIT;
    q.fresh = fresh;
    ProtobufCMessage *resp = NULL;
    rm_call_status_t st;
    assert_int_equal(rm_client_unary(f->client, "/rustymem.v1.MemoryService/GetMemoryStats", &q.base,
                                     &rustymem__v1__memory_stats__descriptor, &resp, &st),
                     GRPC_STATUS_OK);
    return (Rustymem__V1__MemoryStats *)resp;
}

/* GetMemoryStats and GetForecast copy the monitor's published snapshot
 * (ADR 0025): the tick's reading, its time and age; fresh = true reads the
 * system now, at most once per RM_PRESSURE_FRESH_MIN_MS. */
static void
test_memory_stats_copy_the_snapshot_and_fresh_reads_are_rate_limited(void **state)
{
    (void)state;
    rm_host_t host = {.node_name = "snap", .version = "unit"};
    assert_int_equal(rm_pressure_create(NULL, NULL, &host.pressure), RM_OK);
    /* one tick, taken 400 ms "ago" on the monotonic clock, no sampler thread */
    uint64_t t_tick = mono_ns() - 400000000ull;
    assert_int_equal(rm_pressure_tick(host.pressure, t_tick), RM_OK);
    rm_pressure_snapshot_t sn;
    assert_int_equal(rm_pressure_snapshot(host.pressure, &sn), RM_OK);
    fixture_t f = {0};
    serve(&f, &host);

    Rustymem__V1__MemoryStats *ms = memory_stats(&f, 0);
    assert_false(ms->fresh_read);
    assert_int_equal(ms->sampled_at_unix_ms, (int64_t)(sn.sampled_unix_ns / 1000000u));
    assert_true(ms->sample_age_ms >= 400);
    assert_int_equal(ms->used_bytes, sn.usage.used_bytes);
    assert_int_equal(ms->budget_bytes, sn.usage.budget_bytes);
    assert_int_equal(ms->rss_bytes, sn.sys.rss_bytes);   /* the snapshot's RSS, not a new reading */
    protobuf_c_message_free_unpacked(&ms->base, NULL);

    ProtobufCMessage *resp = NULL;
    rm_call_status_t st;
    assert_int_equal(call_empty(&f, "/rustymem.v1.ForecastService/GetForecast",
                                &rustymem__v1__get_forecast_request__descriptor, &rustymem__v1__forecast__descriptor,
                                &resp, &st),
                     GRPC_STATUS_OK);
    Rustymem__V1__Forecast *fc = (void *)resp;
    assert_int_equal(fc->sampled_at_unix_ms, (int64_t)(sn.sampled_unix_ns / 1000000u));
    assert_true(fc->sample_age_ms >= 400);
    assert_int_equal(fc->samples, 1);
    protobuf_c_message_free_unpacked(resp, NULL);

    /* fresh = true: read now, published for every caller; the forecast is not fed */
    uint64_t t_fresh = mono_ns();
    ms = memory_stats(&f, 1);
    assert_true(ms->fresh_read);
    assert_true(ms->sample_age_ms < 400);
    int64_t fresh_at = ms->sampled_at_unix_ms;
    assert_true(fresh_at >= (int64_t)(sn.sampled_unix_ns / 1000000u));
    protobuf_c_message_free_unpacked(&ms->base, NULL);
    ms = memory_stats(&f, 0);
    assert_false(ms->fresh_read);
    assert_int_equal(ms->sampled_at_unix_ms, fresh_at);
    protobuf_c_message_free_unpacked(&ms->base, NULL);
    /* a second fresh read within the rate limit copies the first one. The
     * window is 100 ms; on a loaded machine the two calls may be further
     * apart, so only a reply that came back inside the window is held to it. */
    ms = memory_stats(&f, 1);
    if (mono_ns() - t_fresh < RM_PRESSURE_FRESH_MIN_MS * 1000000ull) {
        assert_false(ms->fresh_read);
        assert_int_equal(ms->sampled_at_unix_ms, fresh_at);
    }
    protobuf_c_message_free_unpacked(&ms->base, NULL);
    rm_pressure_stats_t ps;
    rm_pressure_get_stats(host.pressure, &ps);
    assert_int_equal(ps.samples, 1);
    unserve(&f);
    rm_pressure_destroy(host.pressure);

    /* a host without a monitor reads the system itself */
    rm_host_t bare = {.node_name = "bare", .version = "unit"};
    fixture_t g = {0};
    serve(&g, &bare);
    ms = memory_stats(&g, 0);
    assert_true(ms->fresh_read);
    assert_true(ms->rss_bytes > 0);
    protobuf_c_message_free_unpacked(&ms->base, NULL);
    unserve(&g);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_host_without_engine_answers_unimplemented_and_serves_health_and_memory),
        cmocka_unit_test(test_node_host_plugs_the_engine_in),
        cmocka_unit_test(test_memory_stats_copy_the_snapshot_and_fresh_reads_are_rate_limited),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
