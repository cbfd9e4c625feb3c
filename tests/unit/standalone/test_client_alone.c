/*
 * test_client_alone.c — the client library is only a client (docs/adr/0019).
 *
 * This binary links rm_client and nothing of the server (no rm_runtime, no
 * rm_service, no memcore: see its entry in tests/CMakeLists.txt), so that it
 * links at all is half the test: a client-library function that reached for a
 * server symbol would leave it undefined. The other half calls Health on a
 * real rustymemd started on an ephemeral loopback port, through the library's
 * public API only, and checks the parts of service/common the client uses
 * (address checking, status names, the status codes of rm_base.h).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "agent_proc.h"
#include "client.h"
#include "grpc/health/v1/health.pb-c.h"

/* test_client_alone_codes.c: memcore's values, read from its own header. */
extern const int rm_test_memcore_codes[];
extern const size_t rm_test_memcore_n_codes;

static agent_proc_t agent;

static int
setup(void **state)
{
    (void)state;
    return agent_start(&agent, NULL);
}

static int
teardown(void **state)
{
    (void)state;
    int st = agent_stop(&agent, SIGTERM, 30.0, NULL);
    return st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

static rm_client_t *
connect_agent(void)
{
    rm_client_opts_t o = {.target = agent.addr, .timeout_ms = 10000};
    rm_client_t *c = NULL;
    char err[256] = "";
    rm_status_t st = rm_client_create(&o, &c, err, sizeof err);
    if (st != RM_OK)
        fail_msg("rm_client_create(%s): %s", agent.addr, err);
    return c;
}

static grpc_status_code
health_check(rm_client_t *c, const char *service, Grpc__Health__V1__HealthCheckResponse **resp,
             rm_call_status_t *st)
{
    Grpc__Health__V1__HealthCheckRequest req = GRPC__HEALTH__V1__HEALTH_CHECK_REQUEST__INIT;
    req.service = (char *)service;
    return rm_client_unary(c, "/grpc.health.v1.Health/Check", &req.base,
                           &grpc__health__v1__health_check_response__descriptor, (ProtobufCMessage **)resp, st);
}

static void
test_client_alone_health_check_of_a_real_agent_is_serving(void **state)
{
    (void)state;
    rm_client_t *c = connect_agent();
    Grpc__Health__V1__HealthCheckResponse *resp = NULL;
    rm_call_status_t st;
    grpc_status_code code = health_check(c, "", &resp, &st);
    if (code != GRPC_STATUS_OK)
        fail_msg("Health/Check: %s: %s", rm_client_status_name(code), st.message);
    assert_non_null(resp);
    assert_int_equal(resp->status, GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING);
    protobuf_c_message_free_unpacked(&resp->base, NULL);

    /* a service the agent hosts is SERVING too */
    code = health_check(c, "rustymem.v1.MemoryService", &resp, &st);
    assert_int_equal(code, GRPC_STATUS_OK);
    assert_int_equal(resp->status, GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING);
    protobuf_c_message_free_unpacked(&resp->base, NULL);
    rm_client_destroy(c);
}

static void
test_client_alone_health_check_of_an_unknown_service_is_not_found(void **state)
{
    (void)state;
    rm_client_t *c = connect_agent();
    Grpc__Health__V1__HealthCheckResponse *resp = NULL;
    rm_call_status_t st;
    grpc_status_code code = health_check(c, "no.such.Service", &resp, &st);
    assert_int_equal(code, GRPC_STATUS_NOT_FOUND);
    assert_null(resp);
    assert_string_equal(rm_client_status_name(code), "NOT_FOUND");
    rm_client_destroy(c);
}

static void
test_client_alone_create_refuses_an_out_of_range_port_naming_it(void **state)
{
    (void)state;
    rm_client_opts_t o = {.target = "127.0.0.1:99999"};
    rm_client_t *c = (rm_client_t *)&o;   /* must be reset to NULL on failure */
    char err[256] = "";
    assert_int_equal(rm_client_create(&o, &c, err, sizeof err), RM_EINVAL);
    assert_null(c);
    assert_non_null(strstr(err, "127.0.0.1:99999"));
    assert_non_null(strstr(err, "out of range"));
}

static void
test_client_alone_status_names_cover_every_grpc_code(void **state)
{
    (void)state;
    assert_string_equal(rm_client_status_name(GRPC_STATUS_OK), "OK");
    assert_string_equal(rm_client_status_name(GRPC_STATUS_UNAVAILABLE), "UNAVAILABLE");
    assert_string_equal(rm_client_status_name(GRPC_STATUS_UNAUTHENTICATED), "UNAUTHENTICATED");
    assert_string_equal(rm_client_status_name((grpc_status_code)17), "UNKNOWN");
    assert_string_equal(rm_client_status_name((grpc_status_code)-1), "UNKNOWN");
}

/* rm_base.h gives memcore's codes (from the build's copy of status.h, so clients
 * need not include memcore): every value must match, and no code may be missing
 * on either side. */
static void
test_client_alone_status_codes_match_memcore(void **state)
{
    (void)state;
    const int base[] = {RM_OK,       RM_ENOMEM,    RM_EINVAL,    RM_ENOENT,    RM_EBUSY,     RM_ELIMIT,
                        RM_EIO,      RM_EEXIST,    RM_ECORRUPT,  RM_ENOTSUP,   RM_ECANCELED, RM_ECONFLICT,
                        RM_EREJECTED, RM_ESTATE,   RM_ETIMEDOUT, RM_ENOSPC};
    assert_int_equal(sizeof base / sizeof base[0], rm_test_memcore_n_codes);
    for (size_t i = 0; i < rm_test_memcore_n_codes; i++)
        assert_int_equal(base[i], rm_test_memcore_codes[i]);
}

int
main(void)
{
    const struct CMUnitTest with_agent[] = {
        cmocka_unit_test(test_client_alone_health_check_of_a_real_agent_is_serving),
        cmocka_unit_test(test_client_alone_health_check_of_an_unknown_service_is_not_found),
    };
    const struct CMUnitTest alone[] = {
        cmocka_unit_test(test_client_alone_create_refuses_an_out_of_range_port_naming_it),
        cmocka_unit_test(test_client_alone_status_names_cover_every_grpc_code),
        cmocka_unit_test(test_client_alone_status_codes_match_memcore),
    };
    int failed = cmocka_run_group_tests_name("client_alone", alone, NULL, NULL);
    failed += cmocka_run_group_tests_name("client_alone_vs_rustymemd", with_agent, setup, teardown);
    return failed;
}
