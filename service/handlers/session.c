/*
 * session.c — rustymem.v1.SessionService: the data plane of the
 * host (service/host.h: the data plane's methods table; in rustymemd the
 * engine, engine/include/engine.h) over gRPC. A host without the methods an
 * RPC needs answers it UNIMPLEMENTED ("Begin: this server hosts no
 * transaction engine").
 *
 * Design note: sessions are not tied to gRPC connections (a client may use
 * several channels, or reconnect), so a client that vanishes mid-transaction
 * is found by orphan detection (idle past the timeout) or ends with
 * CloseSession, both of which roll back. Every misuse has its own status:
 * unknown session NOT_FOUND, no open transaction FAILED_PRECONDITION,
 * write-write conflict or a killed transaction ABORTED, admission closed or a
 * limit RESOURCE_EXHAUSTED, all connections busy UNAVAILABLE (retry), a
 * cancelled query CANCELLED, bad arguments INVALID_ARGUMENT naming the field.
 * Handlers run on completion-queue threads and never wait for a connection.
 *
 * Ownership: a session belongs to the principal that opened it — the auth
 * layer's identity ("token:NAME", "cert:CN"), or on an open server (identity
 * "anonymous") the caller's address without the port ("ipv4:127.0.0.1"), so
 * two programs on one host share a principal there and reconnecting keeps it.
 * Every call naming a session checks the owner first (methods->session_owned,
 * no allocation) and answers another principal's session exactly as a
 * nonexistent one: NOT_FOUND, same message, before any argument or state
 * check, so session ids cannot be probed.
 */
#include <stdio.h>
#include <string.h>

#include "host.h"
#include "rpc_internal.h"
#include "rustymem/v1/session.pb-c.h"

static grpc_status_code
status_of(rm_status_t st)
{
    return rm_rpc_status_from_rm_data(st);   /* ECANCELED refined by callers for query cancellation */
}

/*
 * The caller's principal into buf (cap bytes): the authenticated identity, or
 * for an anonymous caller "anonymous@" + the peer address without its port
 * ("ipv4:127.0.0.1:41234" -> "anonymous@ipv4:127.0.0.1"; a unix socket keeps
 * its path). "anonymous" alone without a transport (in-process callers).
 */
static const char *
principal_of(rm_rpc_ctx_t *ctx, char *buf, size_t cap)
{
    const char *id = rm_rpc_identity(ctx);
    if (id && *id && strcmp(id, "anonymous") != 0)
        return id;
    const char *peer = rm_rpc_peer(ctx);
    size_t n = peer ? strlen(peer) : 0;
    if (n && (strncmp(peer, "ipv4:", 5) == 0 || strncmp(peer, "ipv6:", 5) == 0)) {
        const char *colon = strrchr(peer, ':');
        if (colon && colon > peer + 4 && colon[1] && strspn(colon + 1, "0123456789") == strlen(colon + 1))
            n = (size_t)(colon - peer);
    }
    snprintf(buf, cap, "anonymous%s%.*s", n ? "@" : "", (int)n, n ? peer : "");
    return buf;
}

/* Common prologue: the host has the data-plane methods this RPC needs (its
 * own, fn_, and the ownership check), session_id is set, and m/e/err/principal
 * are ready for the body. */
#define PROLOGUE(sid_, fn_)                                                                                \
    rm_host_t *h_ = rm_host_of(ctx);                                                                      \
    const rm_host_methods_t *m = h_ ? h_->methods : NULL;                                                 \
    void *e = h_ ? h_->data_plane : NULL;                                                                 \
    char err[RM_HOST_ERR_MAX] = "";                                                                       \
    char pbuf[RM_HOST_PRINCIPAL_MAX + 1];                                                                 \
    if (!m || !m->session_owned || !m->fn_)                                                               \
        return rm_host_unimplemented(ctx, "this server hosts no transaction engine");                     \
    const char *principal = principal_of(ctx, pbuf, sizeof pbuf);                                         \
    (void)principal;                                                                                      \
    if ((sid_) == 0)                                                                                      \
        return rm_rpc_fail(ctx, GRPC_STATUS_INVALID_ARGUMENT, "session_id: must be set (from OpenSession)")

/* PROLOGUE plus the ownership check, for every call that names a session. */
#define PROLOGUE_OWNED(sid_, fn_)                                                                          \
    PROLOGUE(sid_, fn_);                                                                                  \
    if (m->session_owned(e, (sid_), principal, err) != RM_OK)                                             \
        return failed(ctx, RM_ENOENT, err)

static grpc_status_code
failed(rm_rpc_ctx_t *ctx, rm_status_t st, const char *err)
{
    return rm_rpc_fail(ctx, status_of(st), "%s", *err ? err : rm_strerror(st));
}

static grpc_status_code
open_session(rm_rpc_ctx_t *ctx, const ProtobufCMessage *req_, ProtobufCMessage *resp_)
{
    const Rustymem__V1__OpenSessionRequest *req = (const void *)req_;
    Rustymem__V1__OpenSessionResponse *resp = (void *)resp_;
    PROLOGUE(1, open_session);
    if (req->client_name && strlen(req->client_name) > 128)
        return rm_rpc_fail(ctx, GRPC_STATUS_INVALID_ARGUMENT, "client_name: %zu bytes, at most 128 allowed",
                           strlen(req->client_name));
    rm_session_id_t id;
    rm_status_t st = m->open_session(e, principal, &id, err);
    if (st != RM_OK)
        return failed(ctx, st, err);
    resp->session_id = id;
    return GRPC_STATUS_OK;
}

static grpc_status_code
close_session(rm_rpc_ctx_t *ctx, const ProtobufCMessage *req_, ProtobufCMessage *resp_)
{
    const Rustymem__V1__CloseSessionRequest *req = (const void *)req_;
    Rustymem__V1__CloseSessionResponse *resp = (void *)resp_;
    PROLOGUE_OWNED(req->session_id, close_session);
    bool rb = false;
    rm_status_t st = m->close_session(e, req->session_id, &rb, err);
    if (st != RM_OK)
        return failed(ctx, st, err);
    resp->rolled_back = rb;
    return GRPC_STATUS_OK;
}

static grpc_status_code
begin(rm_rpc_ctx_t *ctx, const ProtobufCMessage *req_, ProtobufCMessage *resp_)
{
    const Rustymem__V1__BeginRequest *req = (const void *)req_;
    Rustymem__V1__BeginResponse *resp = (void *)resp_;
    PROLOGUE_OWNED(req->session_id, begin);
    uint64_t txn = 0;
    rm_status_t st = m->begin(e, req->session_id, req->size_hint_bytes, &txn, err);
    if (st != RM_OK)
        return failed(ctx, st, err);
    resp->txn_id = txn;
    return GRPC_STATUS_OK;
}

static void *
rpc_alloc(void *ctx, size_t n)
{
    return rm_rpc_alloc(ctx, n);
}

static grpc_status_code
get(rm_rpc_ctx_t *ctx, const ProtobufCMessage *req_, ProtobufCMessage *resp_)
{
    const Rustymem__V1__GetRequest *req = (const void *)req_;
    Rustymem__V1__GetResponse *resp = (void *)resp_;
    PROLOGUE_OWNED(req->session_id, get);
    bool found = false;
    void *val = NULL;
    size_t vlen = 0;
    rm_status_t st = m->get(e, req->session_id, req->table, req->key.data, req->key.len, rpc_alloc, ctx, &found,
                            &val, &vlen, err);
    if (st != RM_OK)
        return failed(ctx, st, err);
    resp->found = found;
    resp->value.data = val;
    resp->value.len = vlen;
    return GRPC_STATUS_OK;
}

static grpc_status_code
put(rm_rpc_ctx_t *ctx, const ProtobufCMessage *req_, ProtobufCMessage *resp_)
{
    const Rustymem__V1__PutRequest *req = (const void *)req_;
    PROLOGUE_OWNED(req->session_id, put);
    rm_status_t st = m->put(e, req->session_id, req->table, req->key.data, req->key.len, req->value.data,
                            req->value.len, err);
    return st == RM_OK ? GRPC_STATUS_OK : failed(ctx, st, err);
}

static grpc_status_code
delete_(rm_rpc_ctx_t *ctx, const ProtobufCMessage *req_, ProtobufCMessage *resp_)
{
    const Rustymem__V1__DeleteRequest *req = (const void *)req_;
    Rustymem__V1__DeleteResponse *resp = (void *)resp_;
    PROLOGUE_OWNED(req->session_id, del);
    bool found = false;
    rm_status_t st = m->del(e, req->session_id, req->table, req->key.data, req->key.len, &found, err);
    if (st != RM_OK)
        return failed(ctx, st, err);
    resp->found = found;
    return GRPC_STATUS_OK;
}

typedef struct rows {
    rm_rpc_ctx_t *ctx;
    Rustymem__V1__ScanResponse *resp;
    size_t cap;
    bool oom;
} rows_t;

static int
add_row(void *arg, const void *key, size_t klen, const void *val, size_t vlen)
{
    rows_t *r = arg;
    if (r->resp->n_rows == r->cap) {
        size_t ncap = r->cap ? r->cap * 2 : 64;
        Rustymem__V1__KeyValue **a = rm_rpc_alloc(r->ctx, ncap * sizeof *a);
        if (!a) {
            r->oom = true;
            return 1;
        }
        if (r->resp->n_rows)
            memcpy(a, r->resp->rows, r->resp->n_rows * sizeof *a);
        r->resp->rows = a;
        r->cap = ncap;
    }
    Rustymem__V1__KeyValue *kv = rm_rpc_alloc(r->ctx, sizeof *kv + klen + vlen + 1);
    if (!kv) {
        r->oom = true;
        return 1;
    }
    rustymem__v1__key_value__init(kv);
    unsigned char *p = (unsigned char *)(kv + 1);
    memcpy(p, key, klen);
    if (vlen)
        memcpy(p + klen, val, vlen);
    kv->key.data = p;
    kv->key.len = klen;
    kv->value.data = p + klen;
    kv->value.len = vlen;
    r->resp->rows[r->resp->n_rows++] = kv;
    return 0;
}

static grpc_status_code
scan(rm_rpc_ctx_t *ctx, const ProtobufCMessage *req_, ProtobufCMessage *resp_)
{
    const Rustymem__V1__ScanRequest *req = (const void *)req_;
    Rustymem__V1__ScanResponse *resp = (void *)resp_;
    PROLOGUE_OWNED(req->session_id, scan);
    rm_host_priority_t prio;
    switch (req->priority) {
    case RUSTYMEM__V1__QUERY_PRIORITY__QUERY_PRIORITY_NORMAL: prio = RM_HOST_PRIO_NORMAL; break;
    case RUSTYMEM__V1__QUERY_PRIORITY__QUERY_PRIORITY_LOW: prio = RM_HOST_PRIO_LOW; break;
    case RUSTYMEM__V1__QUERY_PRIORITY__QUERY_PRIORITY_HIGH: prio = RM_HOST_PRIO_HIGH; break;
    default:
        return rm_rpc_fail(ctx, GRPC_STATUS_INVALID_ARGUMENT, "priority: %d is not a QueryPriority (0..2)",
                           (int)req->priority);
    }
    rows_t r = {ctx, resp, 0, false};
    bool truncated = false;
    rm_status_t st = m->scan(e, req->session_id, req->table, req->start_key.data, req->start_key.len,
                             req->end_key.data, req->end_key.len, req->limit, prio, add_row, &r, &truncated, err);
    if (r.oom)
        return rm_rpc_fail(ctx, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory building the scan response");
    if (st == RM_ECANCELED && strstr(err, "cancelled"))
        return rm_rpc_fail(ctx, GRPC_STATUS_CANCELLED, "%s", err);
    if (st != RM_OK)
        return failed(ctx, st, err);
    resp->truncated = truncated;
    return GRPC_STATUS_OK;
}

static grpc_status_code
savepoint(rm_rpc_ctx_t *ctx, const ProtobufCMessage *req_, ProtobufCMessage *resp_)
{
    const Rustymem__V1__SavepointRequest *req = (const void *)req_;
    PROLOGUE_OWNED(req->session_id, savepoint);
    rm_status_t st = m->savepoint(e, req->session_id, req->name, err);
    return st == RM_OK ? GRPC_STATUS_OK : failed(ctx, st, err);
}

static grpc_status_code
rollback_to(rm_rpc_ctx_t *ctx, const ProtobufCMessage *req_, ProtobufCMessage *resp_)
{
    const Rustymem__V1__RollbackToRequest *req = (const void *)req_;
    PROLOGUE_OWNED(req->session_id, rollback_to);
    rm_status_t st = m->rollback_to(e, req->session_id, req->name, err);
    return st == RM_OK ? GRPC_STATUS_OK : failed(ctx, st, err);
}

static grpc_status_code
commit(rm_rpc_ctx_t *ctx, const ProtobufCMessage *req_, ProtobufCMessage *resp_)
{
    const Rustymem__V1__CommitRequest *req = (const void *)req_;
    Rustymem__V1__CommitResponse *resp = (void *)resp_;
    PROLOGUE_OWNED(req->session_id, commit);
    uint64_t seq = 0;
    rm_status_t st = m->commit(e, req->session_id, &seq, err);
    if (st != RM_OK)
        return failed(ctx, st, err);
    resp->commit_ts = seq;
    return GRPC_STATUS_OK;
}

static grpc_status_code
rollback(rm_rpc_ctx_t *ctx, const ProtobufCMessage *req_, ProtobufCMessage *resp_)
{
    const Rustymem__V1__RollbackRequest *req = (const void *)req_;
    PROLOGUE_OWNED(req->session_id, rollback);
    rm_status_t st = m->rollback(e, req->session_id, err);
    return st == RM_OK ? GRPC_STATUS_OK : failed(ctx, st, err);
}

#define SS "/rustymem.v1.SessionService/"
#define M(name, stem, fn)                                                                                   \
    RM_RPC_UNARY_METHOD(SS name, rustymem__v1__##stem##_request__descriptor,                             \
                        rustymem__v1__##stem##_response__descriptor, RM_ROLE_CLIENT, fn)
static const rm_rpc_method_t session_methods[] = {
    M("OpenSession", open_session, open_session),
    M("CloseSession", close_session, close_session),
    M("Begin", begin, begin),
    M("Get", get, get),
    M("Put", put, put),
    M("Delete", delete, delete_),
    M("Scan", scan, scan),
    M("Savepoint", savepoint, savepoint),
    M("RollbackTo", rollback_to, rollback_to),
    M("Commit", commit, commit),
    M("Rollback", rollback, rollback),
};
#undef M
#undef SS

const rm_rpc_service_t rm_session_service = RM_RPC_SERVICE("rustymem.v1.SessionService", session_methods);
