/*
 * test_sessions_rpc.c — SessionService against a real rustymemd: a
 * transaction with a savepoint and an ordered scan, and one test per misuse
 * with its status code and a message naming the problem (unknown session
 * NOT_FOUND, no open transaction FAILED_PRECONDITION, conflict ABORTED,
 * admission closed RESOURCE_EXHAUSTED, bad arguments INVALID_ARGUMENT naming
 * the field).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "agent_proc.h"
#include "client.h"
#include "rustymem/v1/emergency.pb-c.h"
#include "rustymem/v1/session.pb-c.h"

#define SS "/rustymem.v1.SessionService/"

static agent_proc_t agent;
static rm_client_t *cl;
static rm_call_status_t last;

static int
group_setup(void **state)
{
    if (agent_start(&agent, NULL) != 0)
        return -1;
    char err[256];
    rm_client_opts_t o = {.target = agent.addr, .timeout_ms = 10000};
    return rm_client_create(&o, &cl, err, sizeof err) == RM_OK ? 0 : -1;
}

static int
group_teardown(void **state)
{
    rm_client_destroy(cl);
    return agent_stop(&agent, SIGTERM, 10, NULL) == 0 ? 0 : -1;
}

/* Call and return the status; the response (if OK) goes to *resp or is freed. */
static grpc_status_code
rpc(const char *method, const ProtobufCMessage *req, const ProtobufCMessageDescriptor *rd, ProtobufCMessage **resp)
{
    char path[128];
    snprintf(path, sizeof path, "%s%s", strncmp(method, "/", 1) == 0 ? "" : SS, method);
    ProtobufCMessage *r = NULL;
    grpc_status_code c = rm_client_unary(cl, path, req, rd, &r, &last);
    if (resp)
        *resp = r;
    else if (r)
        protobuf_c_message_free_unpacked(r, NULL);
    return c;
}

static uint64_t
open_session(void)
{
    Rustymem__V1__OpenSessionRequest q = RUSTYMEM__V1__OPEN_SESSION_REQUEST__INIT;
    ProtobufCMessage *r;
    assert_int_equal(rpc("OpenSession", &q.base, &rustymem__v1__open_session_response__descriptor, &r),
                     GRPC_STATUS_OK);
    uint64_t id = ((Rustymem__V1__OpenSessionResponse *)r)->session_id;
    protobuf_c_message_free_unpacked(r, NULL);
    return id;
}

static grpc_status_code
begin(uint64_t sid)
{
    Rustymem__V1__BeginRequest q = RUSTYMEM__V1__BEGIN_REQUEST__INIT;
    q.session_id = sid;
    return rpc("Begin", &q.base, &rustymem__v1__begin_response__descriptor, NULL);
}

static grpc_status_code
put(uint64_t sid, const char *table, const char *key, const char *val)
{
    Rustymem__V1__PutRequest q = RUSTYMEM__V1__PUT_REQUEST__INIT;
    q.session_id = sid;
    q.table = (char *)table;
    q.key.data = (uint8_t *)key;
    q.key.len = strlen(key);
    q.value.data = (uint8_t *)val;
    q.value.len = strlen(val);
    return rpc("Put", &q.base, &rustymem__v1__put_response__descriptor, NULL);
}

static grpc_status_code
commit(uint64_t sid)
{
    Rustymem__V1__CommitRequest q = RUSTYMEM__V1__COMMIT_REQUEST__INIT;
    q.session_id = sid;
    return rpc("Commit", &q.base, &rustymem__v1__commit_response__descriptor, NULL);
}

static void
expect(grpc_status_code got, grpc_status_code want, const char *needle)
{
    if (got != want || (needle && !strstr(last.message, needle)))
        fail_msg("status %d (%s), wanted %d with '%s'", got, last.message, want, needle ? needle : "");
}

static void
test_sessions_rpc_transaction_with_savepoint_and_ordered_scan(void **state)
{
    uint64_t s = open_session();
    expect(begin(s), GRPC_STATUS_OK, NULL);
    expect(put(s, "orders", "c", "3"), GRPC_STATUS_OK, NULL);
    expect(put(s, "orders", "a", "1"), GRPC_STATUS_OK, NULL);
    Rustymem__V1__SavepointRequest sp = RUSTYMEM__V1__SAVEPOINT_REQUEST__INIT;
    sp.session_id = s;
    sp.name = "before_b";
    expect(rpc("Savepoint", &sp.base, &rustymem__v1__savepoint_response__descriptor, NULL), GRPC_STATUS_OK, NULL);
    expect(put(s, "orders", "b", "2"), GRPC_STATUS_OK, NULL);
    Rustymem__V1__RollbackToRequest rt = RUSTYMEM__V1__ROLLBACK_TO_REQUEST__INIT;
    rt.session_id = s;
    rt.name = "before_b";
    expect(rpc("RollbackTo", &rt.base, &rustymem__v1__rollback_to_response__descriptor, NULL), GRPC_STATUS_OK, NULL);
    expect(put(s, "orders", "b", "22"), GRPC_STATUS_OK, NULL);
    expect(commit(s), GRPC_STATUS_OK, NULL);
    expect(begin(s), GRPC_STATUS_OK, NULL);
    Rustymem__V1__ScanRequest sc = RUSTYMEM__V1__SCAN_REQUEST__INIT;
    sc.session_id = s;
    sc.table = "orders";
    ProtobufCMessage *r;
    expect(rpc("Scan", &sc.base, &rustymem__v1__scan_response__descriptor, &r), GRPC_STATUS_OK, NULL);
    Rustymem__V1__ScanResponse *rows = (void *)r;
    assert_int_equal(rows->n_rows, 3);
    const char *keys[] = {"a", "b", "c"}, *vals[] = {"1", "22", "3"};
    for (int i = 0; i < 3; i++) {
        assert_memory_equal(rows->rows[i]->key.data, keys[i], 1);
        assert_int_equal(rows->rows[i]->value.len, strlen(vals[i]));
        assert_memory_equal(rows->rows[i]->value.data, vals[i], strlen(vals[i]));
    }
    protobuf_c_message_free_unpacked(r, NULL);
    Rustymem__V1__CloseSessionRequest cs = RUSTYMEM__V1__CLOSE_SESSION_REQUEST__INIT;
    cs.session_id = s;
    expect(rpc("CloseSession", &cs.base, &rustymem__v1__close_session_response__descriptor, &r), GRPC_STATUS_OK, NULL);
    assert_true(((Rustymem__V1__CloseSessionResponse *)r)->rolled_back);
    protobuf_c_message_free_unpacked(r, NULL);
}

static void
test_sessions_rpc_unknown_session_is_not_found(void **state)
{
    expect(begin(987654321), GRPC_STATUS_NOT_FOUND, "does not exist");
    Rustymem__V1__CloseSessionRequest cs = RUSTYMEM__V1__CLOSE_SESSION_REQUEST__INIT;
    cs.session_id = 987654321;
    expect(rpc("CloseSession", &cs.base, &rustymem__v1__close_session_response__descriptor, NULL),
           GRPC_STATUS_NOT_FOUND, "does not exist");
}

static void
test_sessions_rpc_no_open_transaction_is_failed_precondition(void **state)
{
    uint64_t s = open_session();
    expect(put(s, "t", "k", "v"), GRPC_STATUS_FAILED_PRECONDITION, "no open transaction");
    expect(commit(s), GRPC_STATUS_FAILED_PRECONDITION, "call Begin first");
    Rustymem__V1__RollbackRequest rb = RUSTYMEM__V1__ROLLBACK_REQUEST__INIT;
    rb.session_id = s;
    expect(rpc("Rollback", &rb.base, &rustymem__v1__rollback_response__descriptor, NULL),
           GRPC_STATUS_FAILED_PRECONDITION, "no open transaction");
    expect(begin(s), GRPC_STATUS_OK, NULL);
    expect(begin(s), GRPC_STATUS_FAILED_PRECONDITION, "already has an open transaction");
    expect(commit(s), GRPC_STATUS_OK, NULL);
}

static void
test_sessions_rpc_conflict_is_aborted(void **state)
{
    uint64_t a = open_session(), b = open_session();
    expect(begin(a), GRPC_STATUS_OK, NULL);
    expect(begin(b), GRPC_STATUS_OK, NULL);
    expect(put(a, "accounts", "alice", "10"), GRPC_STATUS_OK, NULL);
    expect(put(b, "accounts", "alice", "20"), GRPC_STATUS_OK, NULL);
    expect(commit(a), GRPC_STATUS_OK, NULL);
    expect(commit(b), GRPC_STATUS_ABORTED, "conflict");
    expect(commit(b), GRPC_STATUS_FAILED_PRECONDITION, NULL);   /* it was rolled back */
}

static void
test_sessions_rpc_bad_arguments_name_the_field(void **state)
{
    expect(begin(0), GRPC_STATUS_INVALID_ARGUMENT, "session_id");
    uint64_t s = open_session();
    expect(begin(s), GRPC_STATUS_OK, NULL);
    expect(put(s, "", "k", "v"), GRPC_STATUS_INVALID_ARGUMENT, "table");
    expect(put(s, "bad name!", "k", "v"), GRPC_STATUS_INVALID_ARGUMENT, "table");
    expect(put(s, "t", "", "v"), GRPC_STATUS_INVALID_ARGUMENT, "key");
    Rustymem__V1__ScanRequest sc = RUSTYMEM__V1__SCAN_REQUEST__INIT;
    sc.session_id = s;
    sc.table = "t";
    sc.priority = 7;
    expect(rpc("Scan", &sc.base, &rustymem__v1__scan_response__descriptor, NULL), GRPC_STATUS_INVALID_ARGUMENT,
           "priority");
    sc.priority = 0;
    sc.limit = 1000000;
    expect(rpc("Scan", &sc.base, &rustymem__v1__scan_response__descriptor, NULL), GRPC_STATUS_INVALID_ARGUMENT,
           "limit");
    sc.limit = 0;
    sc.start_key.data = (uint8_t *)"z";
    sc.start_key.len = 1;
    sc.end_key.data = (uint8_t *)"a";
    sc.end_key.len = 1;
    expect(rpc("Scan", &sc.base, &rustymem__v1__scan_response__descriptor, NULL), GRPC_STATUS_INVALID_ARGUMENT,
           "end_key");
    Rustymem__V1__SavepointRequest sp = RUSTYMEM__V1__SAVEPOINT_REQUEST__INIT;
    sp.session_id = s;
    sp.name = "";
    expect(rpc("Savepoint", &sp.base, &rustymem__v1__savepoint_response__descriptor, NULL),
           GRPC_STATUS_INVALID_ARGUMENT, "name");
    Rustymem__V1__RollbackToRequest rt = RUSTYMEM__V1__ROLLBACK_TO_REQUEST__INIT;
    rt.session_id = s;
    rt.name = "never_taken";
    expect(rpc("RollbackTo", &rt.base, &rustymem__v1__rollback_to_response__descriptor, NULL), GRPC_STATUS_NOT_FOUND,
           "never_taken");
    expect(commit(s), GRPC_STATUS_OK, NULL);   /* misuse changed nothing */
}

static void
test_sessions_rpc_admission_closed_is_resource_exhausted(void **state)
{
    uint64_t s = open_session();
    Rustymem__V1__SetAdmissionRequest ad = RUSTYMEM__V1__SET_ADMISSION_REQUEST__INIT;
    ad.accept_new_connections = 0;
    expect(rpc("/rustymem.v1.EmergencyService/SetAdmission", &ad.base, &rustymem__v1__action_result__descriptor,
               NULL),
           GRPC_STATUS_OK, NULL);
    Rustymem__V1__OpenSessionRequest q = RUSTYMEM__V1__OPEN_SESSION_REQUEST__INIT;
    expect(rpc("OpenSession", &q.base, &rustymem__v1__open_session_response__descriptor, NULL),
           GRPC_STATUS_RESOURCE_EXHAUSTED, "admission closed");
    expect(begin(s), GRPC_STATUS_OK, NULL);   /* existing sessions keep working */
    expect(commit(s), GRPC_STATUS_OK, NULL);
    ad.accept_new_connections = 1;
    expect(rpc("/rustymem.v1.EmergencyService/SetAdmission", &ad.base, &rustymem__v1__action_result__descriptor,
               NULL),
           GRPC_STATUS_OK, NULL);
    (void)open_session();
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sessions_rpc_transaction_with_savepoint_and_ordered_scan),
        cmocka_unit_test(test_sessions_rpc_unknown_session_is_not_found),
        cmocka_unit_test(test_sessions_rpc_no_open_transaction_is_failed_precondition),
        cmocka_unit_test(test_sessions_rpc_conflict_is_aborted),
        cmocka_unit_test(test_sessions_rpc_bad_arguments_name_the_field),
        cmocka_unit_test(test_sessions_rpc_admission_closed_is_resource_exhausted),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
