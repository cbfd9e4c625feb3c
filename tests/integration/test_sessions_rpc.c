/*
 * test_sessions_rpc.c — SessionService against a real rustymemd: a
 * transaction with a savepoint and an ordered scan, and one test per misuse
 * with its status code and a message naming the problem (unknown session
 * NOT_FOUND, no open transaction FAILED_PRECONDITION, conflict ABORTED,
 * admission closed RESOURCE_EXHAUSTED, bad arguments INVALID_ARGUMENT naming
 * the field).
 *
 * A second agent with an auth file (client tokens app1 and app2, an admin
 * token) and session.idle_timeout=120 (the reaping tests lower it to 2 live), session.max_sessions_per_principal=3:
 * sessions are owned (app2 gets NOT_FOUND, worded as for a nonexistent
 * session, from every call on app1's session, and app1 is unaffected),
 * abandoned sessions are reaped within seconds (their transaction rolled
 * back), the quota names itself and the principal and frees up as sessions
 * close, and both knobs change live.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "agent_proc.h"
#include "client.h"
#include "rustymem/v1/emergency.pb-c.h"
#include "rustymem/v1/session.pb-c.h"
#include "rustymem/v1/tuning.pb-c.h"

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

/* Call on client `on` and return the status; the response (if OK) goes to
 * *resp or is freed. */
static grpc_status_code
rpc_on(rm_client_t *on, const char *method, const ProtobufCMessage *req, const ProtobufCMessageDescriptor *rd,
       ProtobufCMessage **resp)
{
    char path[128];
    snprintf(path, sizeof path, "%s%s", strncmp(method, "/", 1) == 0 ? "" : SS, method);
    ProtobufCMessage *r = NULL;
    grpc_status_code c = rm_client_unary(on, path, req, rd, &r, &last);
    if (resp)
        *resp = r;
    else if (r)
        protobuf_c_message_free_unpacked(r, NULL);
    return c;
}

static grpc_status_code
rpc(const char *method, const ProtobufCMessage *req, const ProtobufCMessageDescriptor *rd, ProtobufCMessage **resp)
{
    return rpc_on(cl, method, req, rd, resp);
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
set_knob(rm_client_t *on, const char *name, const char *value)
{
    Rustymem__V1__KnobAssignment a = RUSTYMEM__V1__KNOB_ASSIGNMENT__INIT;
    a.name = (char *)name;
    a.value = (char *)value;
    Rustymem__V1__KnobAssignment *as[] = {&a};
    Rustymem__V1__SetKnobsRequest q = RUSTYMEM__V1__SET_KNOBS_REQUEST__INIT;
    q.n_assignments = 1;
    q.assignments = as;
    return rpc_on(on, "/rustymem.v1.TuningService/SetKnobs", &q.base, &rustymem__v1__set_knobs_response__descriptor,
                  NULL);
}

static grpc_status_code
try_open(uint64_t *id)
{
    Rustymem__V1__OpenSessionRequest q = RUSTYMEM__V1__OPEN_SESSION_REQUEST__INIT;
    ProtobufCMessage *r = NULL;
    grpc_status_code c = rpc("OpenSession", &q.base, &rustymem__v1__open_session_response__descriptor, &r);
    if (r) {
        *id = ((Rustymem__V1__OpenSessionResponse *)r)->session_id;
        protobuf_c_message_free_unpacked(r, NULL);
    }
    return c;
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

/* On an open server the principal is the peer's address without the port:
 * the quota message names it. */
static void
test_sessions_rpc_open_server_principal_is_the_peer_address(void **state)
{
    expect(set_knob(cl, "session.max_sessions_per_principal", "1"), GRPC_STATUS_OK, NULL);
    uint64_t a = 0, b = 0;
    grpc_status_code c = try_open(&a);
    if (c == GRPC_STATUS_OK)   /* this test may run before any other opened one */
        c = try_open(&b);
    expect(c, GRPC_STATUS_RESOURCE_EXHAUSTED, "anonymous@ipv4:127.0.0.1 holds");
    expect(c, GRPC_STATUS_RESOURCE_EXHAUSTED, "session.max_sessions_per_principal is 1");
    expect(set_knob(cl, "session.max_sessions_per_principal", "10000"), GRPC_STATUS_OK, NULL);
    expect(try_open(&b), GRPC_STATUS_OK, NULL);
}

/* ---- an agent with client tokens: ownership, idle reaping, quota ---------------- */

static agent_proc_t owned_agent;
static rm_client_t *app1, *app2, *admin;
static char auth_path[PATH_MAX + 16];

static rm_client_t *
client_with(const char *token)
{
    char err[256];
    rm_client_t *c = NULL;
    rm_client_opts_t o = {.target = owned_agent.addr, .timeout_ms = 10000, .token = token};
    return rm_client_create(&o, &c, err, sizeof err) == RM_OK ? c : NULL;
}

static int
owned_setup(void **state)
{
    snprintf(auth_path, sizeof auth_path, "/tmp/rm-sess-auth-%d", (int)getpid());
    FILE *f = fopen(auth_path, "w");
    if (!f)
        return -1;
    fprintf(f, "token client app1-secret-0123456789 app1\n"
               "token client app2-secret-0123456789 app2\n"
               "token admin admin-secret-0123456789 ops\n");
    fclose(f);
    chmod(auth_path, 0600);
    const char *extra[] = {"--auth-file", auth_path, "--set", "session.idle_timeout=120", "--set",
                           "session.max_sessions_per_principal=3", NULL};
    if (agent_start(&owned_agent, extra) != 0)
        return -1;
    app1 = client_with("app1-secret-0123456789");
    app2 = client_with("app2-secret-0123456789");
    admin = client_with("admin-secret-0123456789");
    return app1 && app2 && admin ? 0 : -1;
}

static int
owned_teardown(void **state)
{
    rm_client_destroy(app1);
    rm_client_destroy(app2);
    rm_client_destroy(admin);
    cl = NULL;
    unlink(auth_path);
    return agent_stop(&owned_agent, SIGTERM, 10, NULL) == 0 ? 0 : -1;
}

static void
expect_exact(grpc_status_code got, grpc_status_code want, const char *msg)
{
    if (got != want || strcmp(last.message, msg) != 0)
        fail_msg("status %d '%s', wanted %d '%s'", got, last.message, want, msg);
}

static void
test_sessions_rpc_other_principal_gets_not_found(void **state)
{
    cl = app1;
    uint64_t s = open_session(), gone = open_session();
    expect(begin(s), GRPC_STATUS_OK, NULL);
    expect(put(s, "owned", "k", "app1"), GRPC_STATUS_OK, NULL);
    Rustymem__V1__CloseSessionRequest cs = RUSTYMEM__V1__CLOSE_SESSION_REQUEST__INIT;
    cs.session_id = gone;
    expect(rpc("CloseSession", &cs.base, &rustymem__v1__close_session_response__descriptor, NULL), GRPC_STATUS_OK,
           NULL);
    char want[256], want_gone[256];
    snprintf(want, sizeof want, "session %llu does not exist (never opened, closed, or closed after idling)",
             (unsigned long long)s);
    snprintf(want_gone, sizeof want_gone,
             "session %llu does not exist (never opened, closed, or closed after idling)",
             (unsigned long long)gone);
    /* app1 itself on its closed session: the wording a nonexistent session gets */
    expect_exact(begin(gone), GRPC_STATUS_NOT_FOUND, want_gone);

    /* app2 on app1's live session, mid-transaction: every call, the same answer */
    cl = app2;
    expect_exact(begin(s), GRPC_STATUS_NOT_FOUND, want);
    Rustymem__V1__GetRequest g = RUSTYMEM__V1__GET_REQUEST__INIT;
    g.session_id = s;
    g.table = "owned";
    g.key.data = (uint8_t *)"k";
    g.key.len = 1;
    expect_exact(rpc("Get", &g.base, &rustymem__v1__get_response__descriptor, NULL), GRPC_STATUS_NOT_FOUND, want);
    expect_exact(put(s, "owned", "k", "app2"), GRPC_STATUS_NOT_FOUND, want);
    expect_exact(put(s, "", "", ""), GRPC_STATUS_NOT_FOUND, want);   /* no argument check before the owner's */
    Rustymem__V1__DeleteRequest d = RUSTYMEM__V1__DELETE_REQUEST__INIT;
    d.session_id = s;
    d.table = "owned";
    d.key.data = (uint8_t *)"k";
    d.key.len = 1;
    expect_exact(rpc("Delete", &d.base, &rustymem__v1__delete_response__descriptor, NULL), GRPC_STATUS_NOT_FOUND,
                 want);
    Rustymem__V1__ScanRequest sc = RUSTYMEM__V1__SCAN_REQUEST__INIT;
    sc.session_id = s;
    sc.table = "owned";
    expect_exact(rpc("Scan", &sc.base, &rustymem__v1__scan_response__descriptor, NULL), GRPC_STATUS_NOT_FOUND, want);
    Rustymem__V1__SavepointRequest sp = RUSTYMEM__V1__SAVEPOINT_REQUEST__INIT;
    sp.session_id = s;
    sp.name = "x";
    expect_exact(rpc("Savepoint", &sp.base, &rustymem__v1__savepoint_response__descriptor, NULL),
                 GRPC_STATUS_NOT_FOUND, want);
    Rustymem__V1__RollbackToRequest rt = RUSTYMEM__V1__ROLLBACK_TO_REQUEST__INIT;
    rt.session_id = s;
    rt.name = "x";
    expect_exact(rpc("RollbackTo", &rt.base, &rustymem__v1__rollback_to_response__descriptor, NULL),
                 GRPC_STATUS_NOT_FOUND, want);
    expect_exact(commit(s), GRPC_STATUS_NOT_FOUND, want);
    Rustymem__V1__RollbackRequest rb = RUSTYMEM__V1__ROLLBACK_REQUEST__INIT;
    rb.session_id = s;
    expect_exact(rpc("Rollback", &rb.base, &rustymem__v1__rollback_response__descriptor, NULL), GRPC_STATUS_NOT_FOUND,
                 want);
    cs.session_id = s;
    expect_exact(rpc("CloseSession", &cs.base, &rustymem__v1__close_session_response__descriptor, NULL),
                 GRPC_STATUS_NOT_FOUND, want);

    /* app1 is unaffected: its transaction is still open with its write */
    cl = app1;
    ProtobufCMessage *r = NULL;
    expect(rpc("Get", &g.base, &rustymem__v1__get_response__descriptor, &r), GRPC_STATUS_OK, NULL);
    Rustymem__V1__GetResponse *gr = (void *)r;
    assert_true(gr->found);
    assert_int_equal(gr->value.len, 4);
    assert_memory_equal(gr->value.data, "app1", 4);
    protobuf_c_message_free_unpacked(r, NULL);
    expect(commit(s), GRPC_STATUS_OK, NULL);
    /* data is shared, sessions are not: app2 reads the row in its own session */
    cl = app2;
    uint64_t t = open_session();
    expect(begin(t), GRPC_STATUS_OK, NULL);
    g.session_id = t;
    expect(rpc("Get", &g.base, &rustymem__v1__get_response__descriptor, &r), GRPC_STATUS_OK, NULL);
    assert_true(((Rustymem__V1__GetResponse *)r)->found);
    protobuf_c_message_free_unpacked(r, NULL);
    cs.session_id = t;
    expect(rpc("CloseSession", &cs.base, &rustymem__v1__close_session_response__descriptor, NULL), GRPC_STATUS_OK,
           NULL);
    cl = app1;
    cs.session_id = s;
    expect(rpc("CloseSession", &cs.base, &rustymem__v1__close_session_response__descriptor, NULL), GRPC_STATUS_OK,
           NULL);
}

/* Open sessions for the current client until OpenSession succeeds, polling
 * (idle reaping frees the quota); returns the seconds waited, or -1. */
static double
open_when_allowed(uint64_t *id, double bound_s)
{
    double t0 = agent_now();
    while (agent_now() - t0 < bound_s) {
        grpc_status_code c = try_open(id);
        if (c == GRPC_STATUS_OK)
            return agent_now() - t0;
        if (c != GRPC_STATUS_RESOURCE_EXHAUSTED)
            fail_msg("OpenSession: %d %s", c, last.message);
        usleep(100000);
    }
    return -1;
}

static void
test_sessions_rpc_abandoned_sessions_reaped_and_quota_freed(void **state)
{
    /* the agent runs with a 120 s idle timeout so that a slow machine (TSan,
     * a loaded CI box) never reaps the other tests' sessions between calls;
     * this test lowers it to 2 s for itself */
    expect(set_knob(admin, "session.idle_timeout", "2"), GRPC_STATUS_OK, NULL);
    cl = app1;
    uint64_t ids[3], x = 0;
    for (int i = 0; i < 3; i++)
        ids[i] = open_session();
    expect(begin(ids[0]), GRPC_STATUS_OK, NULL);
    expect(put(ids[0], "reaped", "k", "v"), GRPC_STATUS_OK, NULL);
    double t_last = agent_now();   /* the sessions' last activity */
    /* the quota names itself and the principal */
    expect(try_open(&x), GRPC_STATUS_RESOURCE_EXHAUSTED, "session.max_sessions_per_principal is 3");
    expect(GRPC_STATUS_RESOURCE_EXHAUSTED, GRPC_STATUS_RESOURCE_EXHAUSTED, "token:app1 holds 3 sessions");
    /* another client is not locked out */
    cl = app2;
    uint64_t other = open_session();
    assert_true(other != 0);
    /* app1 abandons its sessions: idle_timeout=2 closes them (checked once a
     * second), then app1 may open again */
    cl = app1;
    double waited = open_when_allowed(&x, 30.0);
    double since_idle = agent_now() - t_last;
    print_message("abandoned sessions reaped %.2f s after their last call (idle_timeout 2 s)\n", since_idle);
    assert_true(waited >= 0);
    assert_true(since_idle >= 1.9);   /* not before the timeout */
    assert_true(since_idle < 10.0);   /* 2 s + the 1 s check + slack for a shared machine */
    for (int i = 0; i < 3; i++)
        expect(begin(ids[i]), GRPC_STATUS_NOT_FOUND, "closed after idling");
    /* the abandoned transaction was rolled back */
    expect(begin(x), GRPC_STATUS_OK, NULL);
    Rustymem__V1__GetRequest g = RUSTYMEM__V1__GET_REQUEST__INIT;
    g.session_id = x;
    g.table = "reaped";
    g.key.data = (uint8_t *)"k";
    g.key.len = 1;
    ProtobufCMessage *r = NULL;
    expect(rpc("Get", &g.base, &rustymem__v1__get_response__descriptor, &r), GRPC_STATUS_OK, NULL);
    assert_false(((Rustymem__V1__GetResponse *)r)->found);
    protobuf_c_message_free_unpacked(r, NULL);
    expect(commit(x), GRPC_STATUS_OK, NULL);
    expect(set_knob(admin, "session.idle_timeout", "120"), GRPC_STATUS_OK, NULL);
}

static void
test_sessions_rpc_idle_timeout_and_quota_change_live(void **state)
{
    /* a client role may not change knobs */
    expect(set_knob(app1, "session.idle_timeout", "0"), GRPC_STATUS_PERMISSION_DENIED, NULL);
    expect(set_knob(admin, "session.idle_timeout", "-1"), GRPC_STATUS_INVALID_ARGUMENT, "session.idle_timeout");
    expect(set_knob(admin, "session.max_sessions_per_principal", "x"), GRPC_STATUS_INVALID_ARGUMENT,
           "session.max_sessions_per_principal");
    /* 0 = never: a session idle for twice the old timeout and more stays */
    expect(set_knob(admin, "session.idle_timeout", "0"), GRPC_STATUS_OK, NULL);
    cl = app1;
    uint64_t s = open_session(), x = 0;
    usleep(4500000);   /* proving an absence: 2 x the old timeout + the check interval */
    expect(begin(s), GRPC_STATUS_OK, NULL);
    expect(commit(s), GRPC_STATUS_OK, NULL);
    /* quota lowered live: app1 holds at least s, so 1 refuses the next open */
    expect(set_knob(admin, "session.max_sessions_per_principal", "1"), GRPC_STATUS_OK, NULL);
    expect(try_open(&x), GRPC_STATUS_RESOURCE_EXHAUSTED, "session.max_sessions_per_principal is 1");
    /* idle_timeout back on (1 s): s is reaped and the open goes through */
    expect(set_knob(admin, "session.idle_timeout", "1"), GRPC_STATUS_OK, NULL);
    assert_true(open_when_allowed(&x, 30.0) >= 0);
    expect(begin(s), GRPC_STATUS_NOT_FOUND, "closed after idling");
    expect(set_knob(admin, "session.max_sessions_per_principal", "3"), GRPC_STATUS_OK, NULL);
    expect(set_knob(admin, "session.idle_timeout", "120"), GRPC_STATUS_OK, NULL);
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
        cmocka_unit_test(test_sessions_rpc_open_server_principal_is_the_peer_address),
    };
    const struct CMUnitTest owned[] = {
        cmocka_unit_test(test_sessions_rpc_other_principal_gets_not_found),
        cmocka_unit_test(test_sessions_rpc_abandoned_sessions_reaped_and_quota_freed),
        cmocka_unit_test(test_sessions_rpc_idle_timeout_and_quota_change_live),
    };
    int failed = cmocka_run_group_tests(tests, group_setup, group_teardown);
    return failed + cmocka_run_group_tests_name("owned sessions", owned, owned_setup, owned_teardown);
}
