/*
 * test_rpc.c — the transport-free half of the gRPC runtime: codec, method
 * lookup, unary dispatch, status mapping and UNIMPLEMENTED placeholders.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "address.h"
#include "host.h"
#include "rpc_internal.h"
#include "rustymem/v1/memory.pb-c.h"
#include "grpc/reflection/v1alpha/reflection.pb-c.h"
#include "rustymem/v1/tuning.pb-c.h"
#include "rustymem/v1/emergency.pb-c.h"

#define MAX_REQ (4u << 20)

static grpc_status_code
echo_handler(rm_rpc_ctx_t *ctx, const ProtobufCMessage *req_, ProtobufCMessage *resp_)
{
    const Rustymem__V1__ListKnobsRequest *req = (const void *)req_;
    Rustymem__V1__ListKnobsResponse *resp = (void *)resp_;
    if (strcmp(req->prefix, "bad") == 0)
        return rm_rpc_fail(ctx, GRPC_STATUS_INVALID_ARGUMENT, "prefix = '%s': not a knob section",
                           req->prefix);
    resp->knobs = rm_rpc_alloc(ctx, sizeof *resp->knobs);
    Rustymem__V1__KnobInfo *k = rm_rpc_alloc(ctx, sizeof *k);
    rustymem__v1__knob_info__init(k);
    k->name = rm_rpc_strdup(ctx, req->prefix);
    resp->knobs[0] = k;
    resp->n_knobs = 1;
    return GRPC_STATUS_OK;
}

static const rm_rpc_method_t test_methods[] = {
    RM_RPC_UNARY_METHOD("/test.Svc/Echo", rustymem__v1__list_knobs_request__descriptor,
                        rustymem__v1__list_knobs_response__descriptor, RM_ROLE_READER, echo_handler),
};
static const rm_rpc_service_t test_service = {"test.Svc", test_methods, 1};

static size_t
pack_prefix(const char *prefix, uint8_t *buf)
{
    Rustymem__V1__ListKnobsRequest r = RUSTYMEM__V1__LIST_KNOBS_REQUEST__INIT;
    r.prefix = (char *)prefix;
    return protobuf_c_message_pack(&r.base, buf);
}

static void
test_rpc_decode_rejects_malformed_protobuf(void **state)
{
    (void)state;
    /* field 1, wire type 2 (length-delimited), length 100, but only 2 bytes follow */
    const uint8_t bad[] = {0x0a, 0x64, 'a', 'b'};
    ProtobufCMessage *m = (void *)1;
    char msg[RM_RPC_MSG_MAX];
    grpc_status_code c = rm_rpc_decode(&rustymem__v1__list_knobs_request__descriptor, bad, sizeof bad,
                                       MAX_REQ, &m, msg);
    assert_int_equal(c, GRPC_STATUS_INVALID_ARGUMENT);
    assert_null(m);
    assert_non_null(strstr(msg, "rustymem.v1.ListKnobsRequest"));
}

static void
test_rpc_decode_rejects_oversize_request(void **state)
{
    (void)state;
    uint8_t buf[64];
    size_t n = pack_prefix("pressure.", buf);
    ProtobufCMessage *m = NULL;
    char msg[RM_RPC_MSG_MAX];
    assert_int_equal(rm_rpc_decode(&rustymem__v1__list_knobs_request__descriptor, buf, n, n - 1, &m, msg),
                     GRPC_STATUS_RESOURCE_EXHAUSTED);
    assert_null(m);
    assert_non_null(strstr(msg, "exceeds the maximum"));
}

static void
test_rpc_decode_rejects_invalid_utf8_naming_the_field(void **state)
{
    (void)state;
    uint8_t buf[64];
    size_t n = pack_prefix("ok\xc3\x28", buf); /* 0xC3 0x28: broken two-byte sequence */
    ProtobufCMessage *m = NULL;
    char msg[RM_RPC_MSG_MAX];
    assert_int_equal(rm_rpc_decode(&rustymem__v1__list_knobs_request__descriptor, buf, n, MAX_REQ, &m, msg),
                     GRPC_STATUS_INVALID_ARGUMENT);
    assert_null(m);
    assert_non_null(strstr(msg, "ListKnobsRequest.prefix"));
}

/* A bool sent as a length-delimited "abc": protobuf-c decoded it (and
 * SetAdmission ran); the wire check refuses it, naming the field. */
static void
test_rpc_decode_rejects_wrong_wire_type_naming_the_field(void **state)
{
    (void)state;
    const uint8_t buf[] = {0x0a, 0x03, 'a', 'b', 'c'};   /* field 1, wire type 2 */
    ProtobufCMessage *m = NULL;
    char msg[RM_RPC_MSG_MAX];
    assert_int_equal(rm_rpc_decode(&rustymem__v1__set_admission_request__descriptor, buf, sizeof buf, MAX_REQ,
                                   &m, msg),
                     GRPC_STATUS_INVALID_ARGUMENT);
    assert_null(m);
    assert_non_null(strstr(msg, "SetAdmissionRequest.accept_new_connections: wire type 2"));
    const uint8_t ok[] = {0x08, 0x01};                   /* field 1, varint true */
    assert_int_equal(rm_rpc_decode(&rustymem__v1__set_admission_request__descriptor, ok, sizeof ok, MAX_REQ, &m,
                                   msg),
                     GRPC_STATUS_OK);
    assert_true(((Rustymem__V1__SetAdmissionRequest *)m)->accept_new_connections);
    protobuf_c_message_free_unpacked(m, NULL);
}

/* "pool.max_size\0junk" was applied as "pool.max_size". */
static void
test_rpc_decode_rejects_nul_in_string(void **state)
{
    (void)state;
    const char name[] = "pool.max_size\0junk";
    uint8_t buf[64] = {0x0a, (uint8_t)(sizeof name - 1)};
    memcpy(buf + 2, name, sizeof name - 1);
    ProtobufCMessage *m = NULL;
    char msg[RM_RPC_MSG_MAX];
    assert_int_equal(rm_rpc_decode(&rustymem__v1__get_knobs_request__descriptor, buf, 2 + sizeof name - 1,
                                   MAX_REQ, &m, msg),
                     GRPC_STATUS_INVALID_ARGUMENT);
    assert_null(m);
    assert_non_null(strstr(msg, "GetKnobsRequest.names: string contains a NUL byte"));
}

/* Repeated request fields are capped (GetKnobs with 100 000 names made a 9.4 MB reply). */
static void
test_rpc_decode_caps_repeated_fields(void **state)
{
    (void)state;
    size_t cap = (RM_RPC_REPEATED_MAX + 1) * 3;
    uint8_t *buf = malloc(cap);
    assert_non_null(buf);
    for (size_t i = 0; i < RM_RPC_REPEATED_MAX + 1; i++) {
        buf[3 * i] = 0x0a;
        buf[3 * i + 1] = 1;
        buf[3 * i + 2] = 'x';
    }
    ProtobufCMessage *m = NULL;
    char msg[RM_RPC_MSG_MAX];
    assert_int_equal(rm_rpc_decode(&rustymem__v1__get_knobs_request__descriptor, buf, 3 * RM_RPC_REPEATED_MAX,
                                   MAX_REQ, &m, msg),
                     GRPC_STATUS_OK);   /* exactly the cap */
    assert_int_equal(((Rustymem__V1__GetKnobsRequest *)m)->n_names, RM_RPC_REPEATED_MAX);
    protobuf_c_message_free_unpacked(m, NULL);
    assert_int_equal(rm_rpc_decode(&rustymem__v1__get_knobs_request__descriptor, buf, cap, MAX_REQ, &m, msg),
                     GRPC_STATUS_INVALID_ARGUMENT);
    assert_null(m);
    assert_non_null(strstr(msg, "GetKnobsRequest.names: more than 1024 elements"));
    free(buf);
}

static void
test_rpc_decode_accepts_valid_utf8(void **state)
{
    (void)state;
    uint8_t buf[64];
    size_t n = pack_prefix("pr\xc3\xa9ssion", buf); /* é */
    ProtobufCMessage *m = NULL;
    char msg[RM_RPC_MSG_MAX];
    assert_int_equal(rm_rpc_decode(&rustymem__v1__list_knobs_request__descriptor, buf, n, MAX_REQ, &m, msg),
                     GRPC_STATUS_OK);
    assert_non_null(m);
    protobuf_c_message_free_unpacked(m, NULL);
}

static void
test_rpc_decode_checks_only_the_set_oneof_member(void **state)
{
    (void)state;
    /* list_services (a string) set: the sibling message member must not be read as one */
    Grpc__Reflection__V1alpha__ServerReflectionRequest r = GRPC__REFLECTION__V1ALPHA__SERVER_REFLECTION_REQUEST__INIT;
    r.message_request_case = GRPC__REFLECTION__V1ALPHA__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_LIST_SERVICES;
    r.list_services = "";
    uint8_t buf[64];
    size_t n = protobuf_c_message_pack(&r.base, buf);
    ProtobufCMessage *m = NULL;
    char msg[RM_RPC_MSG_MAX];
    assert_int_equal(rm_rpc_decode(&grpc__reflection__v1alpha__server_reflection_request__descriptor, buf, n,
                                   MAX_REQ, &m, msg),
                     GRPC_STATUS_OK);
    protobuf_c_message_free_unpacked(m, NULL);
    r.list_services = "bad\xff";
    n = protobuf_c_message_pack(&r.base, buf);
    assert_int_equal(rm_rpc_decode(&grpc__reflection__v1alpha__server_reflection_request__descriptor, buf, n,
                                   MAX_REQ, &m, msg),
                     GRPC_STATUS_INVALID_ARGUMENT);
    assert_non_null(strstr(msg, "ServerReflectionRequest.list_services"));
}

static void
test_rpc_find_unknown_method_returns_null(void **state)
{
    (void)state;
    const rm_rpc_service_t *svcs[] = {&test_service, &rm_memory_service};
    const char *p = "/test.Svc/Nope";
    assert_null(rm_rpc_find(svcs, 2, p, strlen(p)));
    p = "/test.Svc/Echo";
    assert_ptr_equal(rm_rpc_find(svcs, 2, p, strlen(p)), &test_methods[0]);
    /* a prefix of a real path is not a match */
    assert_null(rm_rpc_find(svcs, 2, p, strlen(p) - 1));
    p = "/rustymem.v1.MemoryService/GetMemoryStats";
    assert_non_null(rm_rpc_find(svcs, 2, p, strlen(p)));
}

static void
test_rpc_run_unary_encodes_handler_response(void **state)
{
    (void)state;
    uint8_t buf[64], *resp = NULL;
    size_t n = pack_prefix("slab.", buf), resp_len = 0;
    rm_rpc_ctx_t ctx;
    rm__rpc_ctx_init(&ctx, &test_methods[0], NULL);
    assert_int_equal(rm__rpc_run_unary(&ctx, buf, n, MAX_REQ, &resp, &resp_len), GRPC_STATUS_OK);
    rm__rpc_ctx_release(&ctx);
    Rustymem__V1__ListKnobsResponse *r = rustymem__v1__list_knobs_response__unpack(NULL, resp_len, resp);
    assert_non_null(r);
    assert_int_equal(r->n_knobs, 1);
    assert_string_equal(r->knobs[0]->name, "slab.");
    rustymem__v1__list_knobs_response__free_unpacked(r, NULL);
    free(resp);
}

static void
test_rpc_run_unary_propagates_handler_error(void **state)
{
    (void)state;
    uint8_t buf[64], *resp = NULL;
    size_t n = pack_prefix("bad", buf), resp_len = 0;
    rm_rpc_ctx_t ctx;
    rm__rpc_ctx_init(&ctx, &test_methods[0], NULL);
    assert_int_equal(rm__rpc_run_unary(&ctx, buf, n, MAX_REQ, &resp, &resp_len), GRPC_STATUS_INVALID_ARGUMENT);
    assert_null(resp);
    assert_string_equal(ctx.msg, "prefix = 'bad': not a knob section");
    rm__rpc_ctx_release(&ctx);
}

static void
test_rpc_run_unary_malformed_request_never_reaches_handler(void **state)
{
    (void)state;
    const uint8_t bad[] = {0xff, 0xff, 0xff};
    uint8_t *resp = NULL;
    size_t resp_len = 0;
    rm_rpc_ctx_t ctx;
    rm__rpc_ctx_init(&ctx, &test_methods[0], NULL);
    assert_int_equal(rm__rpc_run_unary(&ctx, bad, sizeof bad, MAX_REQ, &resp, &resp_len),
                     GRPC_STATUS_INVALID_ARGUMENT);
    assert_null(resp);
    rm__rpc_ctx_release(&ctx);
}

static void
test_rpc_status_mapping_matches_architecture(void **state)
{
    (void)state;
    assert_int_equal(rm_rpc_status_from_rm(RM_OK), GRPC_STATUS_OK);
    assert_int_equal(rm_rpc_status_from_rm(RM_EINVAL), GRPC_STATUS_INVALID_ARGUMENT);
    assert_int_equal(rm_rpc_status_from_rm(RM_ENOENT), GRPC_STATUS_NOT_FOUND);
    assert_int_equal(rm_rpc_status_from_rm(RM_EREJECTED), GRPC_STATUS_RESOURCE_EXHAUSTED);
    assert_int_equal(rm_rpc_status_from_rm(RM_ECONFLICT), GRPC_STATUS_ABORTED);
    assert_int_equal(rm_rpc_status_from_rm(RM_ETIMEDOUT), GRPC_STATUS_DEADLINE_EXCEEDED);
    assert_int_equal(rm_rpc_status_from_rm(RM_ENOSPC), GRPC_STATUS_RESOURCE_EXHAUSTED);
    assert_int_equal(rm_rpc_status_from_rm((rm_status_t)-999), GRPC_STATUS_UNKNOWN);
    assert_string_equal(rm_rpc_status_name(GRPC_STATUS_UNAUTHENTICATED), "UNAUTHENTICATED");
}

static void
test_rpc_status_mapping_data_plane_differs_only_in_retry_codes(void **state)
{
    (void)state;
    assert_int_equal(rm_rpc_status_from_rm_data(RM_EBUSY), GRPC_STATUS_UNAVAILABLE);
    assert_int_equal(rm_rpc_status_from_rm_data(RM_ECANCELED), GRPC_STATUS_ABORTED);
    for (int st = RM_ENOSPC - 1; st <= RM_OK; st++)
        if (st != RM_EBUSY && st != RM_ECANCELED)
            assert_int_equal(rm_rpc_status_from_rm_data((rm_status_t)st), rm_rpc_status_from_rm((rm_status_t)st));
}

static void
test_rpc_pending_service_answers_unimplemented_with_reason(void **state)
{
    (void)state;
    const rm_rpc_service_t *s =
        rm_pending_service(&rustymem__v1__tuning_service__descriptor, "knobs are not hosted yet", RM_ROLE_ADMIN);
    assert_non_null(s);
    assert_string_equal(s->name, "rustymem.v1.TuningService");
    assert_int_equal(s->n_methods, rustymem__v1__tuning_service__descriptor.n_methods);
    const char *p = "/rustymem.v1.TuningService/SetKnobs";
    const rm_rpc_method_t *m = rm_rpc_find(&s, 1, p, strlen(p));
    assert_non_null(m);
    assert_int_equal(m->role, RM_ROLE_ADMIN);
    Rustymem__V1__SetKnobsRequest req = RUSTYMEM__V1__SET_KNOBS_REQUEST__INIT;
    uint8_t buf[16], *resp = NULL;
    size_t n = protobuf_c_message_pack(&req.base, buf), resp_len;
    rm_rpc_ctx_t ctx;
    rm__rpc_ctx_init(&ctx, m, NULL);
    assert_int_equal(rm__rpc_run_unary(&ctx, buf, n, MAX_REQ, &resp, &resp_len), GRPC_STATUS_UNIMPLEMENTED);
    assert_string_equal(ctx.msg, "rustymem.v1.TuningService/SetKnobs: knobs are not hosted yet");
    rm__rpc_ctx_release(&ctx);
    rm_pending_service_free(s);
}

static void
test_rpc_scratch_alloc_is_zeroed_and_survives_many_chunks(void **state)
{
    (void)state;
    rm_rpc_ctx_t ctx;
    rm__rpc_ctx_init(&ctx, NULL, NULL);
    for (int i = 0; i < 1000; i++) {
        unsigned char *p = rm_rpc_alloc(&ctx, 100 + (size_t)i);
        assert_non_null(p);
        for (int k = 0; k < 100 + i; k++)
            assert_int_equal(p[k], 0);
        memset(p, 0xEE, 100 + (size_t)i);
    }
    unsigned char *big = rm_rpc_alloc(&ctx, 1 << 20);
    assert_non_null(big);
    rm__rpc_ctx_release(&ctx);
    assert_null(ctx.scratch);
}

/* rm_rpc_alloc_messages: n distinct messages, each initialised as the
 * descriptor's defaults, that pack into a valid response; n = 0 still gives
 * an array (the field stays empty). */
static void
test_rpc_alloc_messages_gives_initialised_elements(void **state)
{
    (void)state;
    rm_rpc_ctx_t ctx;
    rm__rpc_ctx_init(&ctx, &test_methods[0], NULL);
    Rustymem__V1__ListKnobsResponse resp = RUSTYMEM__V1__LIST_KNOBS_RESPONSE__INIT;
    resp.knobs = rm_rpc_alloc_messages(&ctx, &rustymem__v1__knob_info__descriptor, 3);
    assert_non_null(resp.knobs);
    for (size_t i = 0; i < 3; i++) {
        assert_ptr_equal(resp.knobs[i]->base.descriptor, &rustymem__v1__knob_info__descriptor);
        assert_string_equal(resp.knobs[i]->name, "");
        for (size_t j = 0; j < i; j++)
            assert_ptr_not_equal(resp.knobs[i], resp.knobs[j]);
        resp.knobs[i]->name = (char *)(i == 0 ? "a" : i == 1 ? "b" : "c");
        resp.knobs[i]->live = i == 1;
    }
    resp.n_knobs = 3;
    uint8_t buf[256];
    size_t len = rustymem__v1__list_knobs_response__pack(&resp, buf);
    Rustymem__V1__ListKnobsResponse *r = rustymem__v1__list_knobs_response__unpack(NULL, len, buf);
    assert_non_null(r);
    assert_int_equal(r->n_knobs, 3);
    assert_string_equal(r->knobs[2]->name, "c");
    assert_true(r->knobs[1]->live);
    assert_false(r->knobs[0]->live);
    rustymem__v1__list_knobs_response__free_unpacked(r, NULL);
    assert_non_null(rm_rpc_alloc_messages(&ctx, &rustymem__v1__knob_info__descriptor, 0));
    rm__rpc_ctx_release(&ctx);
}

static void
test_rpc_memory_stats_handler_reports_process_rss(void **state)
{
    (void)state;
    const char *p = "/rustymem.v1.MemoryService/GetMemoryStats";
    const rm_rpc_service_t *svcs[] = {&rm_memory_service};
    const rm_rpc_method_t *m = rm_rpc_find(svcs, 1, p, strlen(p));
    rm_host_t node = {.node_name = "unit", .version = "test"};
    rm_rpc_ctx_t ctx;
    rm__rpc_ctx_init(&ctx, m, &node);
    uint8_t *resp = NULL;
    size_t resp_len = 0;
    assert_int_equal(rm__rpc_run_unary(&ctx, (const uint8_t *)"", 0, MAX_REQ, &resp, &resp_len), GRPC_STATUS_OK);
    rm__rpc_ctx_release(&ctx);
    Rustymem__V1__MemoryStats *s = rustymem__v1__memory_stats__unpack(NULL, resp_len, resp);
    assert_non_null(s);
    assert_true(s->rss_bytes > 0);
    assert_true(s->budget_bytes > 0);
    assert_string_equal(s->node_name, "unit");
    rustymem__v1__memory_stats__free_unpacked(s, NULL);
    free(resp);
}

/* gRPC core wraps a port above 65535 (127.0.0.1:99999 is port 34463): every
 * address is checked before it reaches gRPC */
static void
test_rpc_address_check_takes_grpc_forms_and_refuses_bad_ports(void **state)
{
    (void)state;
    char why[128];
    static const char *const good[] = {"127.0.0.1:50051", "localhost:1", "[::1]:65535", "unix:/run/rm.sock",
                                       "unix-abstract:rm", "dns:///db-1.example:50051",
                                       "dns://8.8.8.8/db-1:50051", "ipv4:10.0.0.1:5", "ipv6:[::1]:5"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        assert_true(rm_address_check(good[i], 0, why, sizeof why));
    assert_false(rm_address_check("127.0.0.1:99999", 1, why, sizeof why));
    assert_string_equal(why, "port 99999 is out of range 0..65535");
    assert_false(rm_address_check("127.0.0.1:0", 0, why, sizeof why));
    assert_string_equal(why, "port 0 is out of range 1..65535");
    assert_true(rm_address_check("127.0.0.1:0", 1, why, sizeof why));
    assert_false(rm_address_check("127.0.0.1:", 1, why, sizeof why));
    assert_string_equal(why, "the port is missing");
    assert_false(rm_address_check("127.0.0.1:80x", 1, why, sizeof why));
    assert_string_equal(why, "the port must be a decimal number");
    assert_false(rm_address_check("127.0.0.1:-1", 1, why, sizeof why));
    assert_false(rm_address_check("127.0.0.1:999999999999999999999", 1, why, sizeof why));
    static const char *const bad[] = {"", "nohost", ":50051", "::1:50051", "[::1:50051", "unix:", "dns://x"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_false(rm_address_check(bad[i], 1, NULL, 0));
    assert_false(rm_address_check(NULL, 1, why, sizeof why));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rpc_decode_rejects_malformed_protobuf),
        cmocka_unit_test(test_rpc_decode_rejects_oversize_request),
        cmocka_unit_test(test_rpc_decode_rejects_invalid_utf8_naming_the_field),
        cmocka_unit_test(test_rpc_decode_accepts_valid_utf8),
        cmocka_unit_test(test_rpc_decode_rejects_wrong_wire_type_naming_the_field),
        cmocka_unit_test(test_rpc_decode_rejects_nul_in_string),
        cmocka_unit_test(test_rpc_decode_caps_repeated_fields),
        cmocka_unit_test(test_rpc_decode_checks_only_the_set_oneof_member),
        cmocka_unit_test(test_rpc_find_unknown_method_returns_null),
        cmocka_unit_test(test_rpc_run_unary_encodes_handler_response),
        cmocka_unit_test(test_rpc_run_unary_propagates_handler_error),
        cmocka_unit_test(test_rpc_run_unary_malformed_request_never_reaches_handler),
        cmocka_unit_test(test_rpc_status_mapping_matches_architecture),
        cmocka_unit_test(test_rpc_status_mapping_data_plane_differs_only_in_retry_codes),
        cmocka_unit_test(test_rpc_pending_service_answers_unimplemented_with_reason),
        cmocka_unit_test(test_rpc_scratch_alloc_is_zeroed_and_survives_many_chunks),
        cmocka_unit_test(test_rpc_alloc_messages_gives_initialised_elements),
        cmocka_unit_test(test_rpc_memory_stats_handler_reports_process_rss),
        cmocka_unit_test(test_rpc_address_check_takes_grpc_forms_and_refuses_bad_ports),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
