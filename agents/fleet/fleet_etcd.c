/*
 * fleet_etcd.c — etcd v3 over gRPC for rustymem-fleet (see fleet_etcd.h and
 * docs/adr/0027). One rm_client channel per endpoint; calls go to the endpoint
 * that answered last and move on to the next one when it is unreachable.
 */
#include "fleet_etcd.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client.h"
#include "etcd/etcd_rpc.pb-c.h"

#define ETCD_MAX_ENDPOINTS 16
#define P_RANGE "/etcdserverpb.KV/Range"
#define P_PUT "/etcdserverpb.KV/Put"
#define P_TXN "/etcdserverpb.KV/Txn"
#define P_DELETE "/etcdserverpb.KV/DeleteRange"
#define P_GRANT "/etcdserverpb.Lease/LeaseGrant"
#define P_REVOKE "/etcdserverpb.Lease/LeaseRevoke"
#define P_KEEPALIVE "/etcdserverpb.Lease/LeaseKeepAlive"

struct rm_etcd {
    rm_client_t *ep[ETCD_MAX_ENDPOINTS];
    char name[ETCD_MAX_ENDPOINTS][256];
    size_t n;
    int timeout_ms;
    pthread_mutex_t mu;
    size_t cur; /* guarded by mu: the endpoint that answered last */
};

static void
efmt(char *err, size_t cap, const char *fmt, const char *a, const char *b, const char *c)
{
    if (err && cap)
        snprintf(err, cap, fmt, a, b, c);
}

rm_status_t
rm__etcd_create(const rm_etcd_opts_t *o, rm_etcd_t **out, char *err, size_t errcap)
{
    *out = NULL;
    if (!o->endpoints || !*o->endpoints) {
        efmt(err, errcap, "--etcd: empty endpoint list%s%s%s", "", "", "");
        return RM_EINVAL;
    }
    rm_etcd_t *e = calloc(1, sizeof *e);
    if (!e)
        return RM_ENOMEM;
    pthread_mutex_init(&e->mu, NULL);
    e->timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : 2000;
    const char *p = o->endpoints;
    while (*p) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        while (len && (*p == ' ' || *p == '\t')) {
            p++;
            len--;
        }
        while (len && (p[len - 1] == ' ' || p[len - 1] == '\t'))
            len--;
        /* tolerate the URL form etcdctl uses: http://host:port */
        if (len > 7 && strncmp(p, "http://", 7) == 0) {
            p += 7;
            len -= 7;
        } else if (len > 8 && strncmp(p, "https://", 8) == 0) {
            p += 8;
            len -= 8;
        }
        char ep[256];
        if (len == 0 || len >= sizeof ep || !memchr(p, ':', len) || e->n == ETCD_MAX_ENDPOINTS) {
            snprintf(ep, sizeof ep, "%.*s", (int)(len < 200 ? len : 200), p);
            efmt(err, errcap, "--etcd: bad endpoint '%s' (expected HOST:PORT[,HOST:PORT...], at most 16)%s%s", ep,
                 "", "");
            rm__etcd_destroy(e);
            return RM_EINVAL;
        }
        memcpy(ep, p, len);
        ep[len] = '\0';
        rm_client_opts_t co = {.target = ep,
                               .timeout_ms = e->timeout_ms,
                               .tls_ca_file = o->tls_ca_file,
                               .tls_cert_file = o->tls_cert_file,
                               .tls_key_file = o->tls_key_file};
        char cerr[256] = "";
        rm_status_t st = rm_client_create(&co, &e->ep[e->n], cerr, sizeof cerr);
        if (st != RM_OK) {
            efmt(err, errcap, "--etcd %s: %s%s", ep, cerr, "");
            rm__etcd_destroy(e);
            return st;
        }
        snprintf(e->name[e->n], sizeof e->name[e->n], "%s", ep);
        e->n++;
        if (!end)
            break;
        p = end + 1;
    }
    if (!e->n) {
        efmt(err, errcap, "--etcd: empty endpoint list%s%s%s", "", "", "");
        rm__etcd_destroy(e);
        return RM_EINVAL;
    }
    *out = e;
    return RM_OK;
}

void
rm__etcd_destroy(rm_etcd_t *e)
{
    if (!e)
        return;
    for (size_t i = 0; i < e->n; i++)
        rm_client_destroy(e->ep[i]);
    pthread_mutex_destroy(&e->mu);
    free(e);
}

/* A unary call with endpoint failover. RM_OK with *resp, or RM_EIO with err. */
static rm_status_t
call(rm_etcd_t *e, const char *path, const ProtobufCMessage *req, const ProtobufCMessageDescriptor *desc,
     ProtobufCMessage **resp, char *err, size_t errcap)
{
    pthread_mutex_lock(&e->mu);
    size_t start = e->cur;
    pthread_mutex_unlock(&e->mu);
    rm_call_status_t st = {0};
    grpc_status_code code = GRPC_STATUS_UNAVAILABLE;
    for (size_t k = 0; k < e->n; k++) {
        size_t i = (start + k) % e->n;
        code = rm_client_unary(e->ep[i], path, req, desc, resp, &st);
        if (code == GRPC_STATUS_OK) {
            pthread_mutex_lock(&e->mu);
            e->cur = i;
            pthread_mutex_unlock(&e->mu);
            return RM_OK;
        }
        if (err && errcap)
            snprintf(err, errcap, "etcd %s %s: %s: %s", e->name[i], strrchr(path, '/') + 1,
                     rm_client_status_name(code), st.message);
        if (code != GRPC_STATUS_UNAVAILABLE && code != GRPC_STATUS_DEADLINE_EXCEEDED)
            break; /* an answer from etcd: another member would say the same */
    }
    return RM_EIO;
}

static ProtobufCBinaryData
bin(const char *s)
{
    ProtobufCBinaryData b = {strlen(s), (uint8_t *)(uintptr_t)s};
    return b;
}

static char *
dup_bin(ProtobufCBinaryData b)
{
    char *s = malloc(b.len + 1);
    if (s) {
        if (b.len)
            memcpy(s, b.data, b.len);
        s[b.len] = '\0';
    }
    return s;
}

rm_status_t
rm__etcd_get(rm_etcd_t *e, const char *key, char **val, char *err, size_t errcap)
{
    *val = NULL;
    Etcdserverpb__RangeRequest rq = ETCDSERVERPB__RANGE_REQUEST__INIT;
    rq.key = bin(key);
    ProtobufCMessage *m = NULL;
    rm_status_t st = call(e, P_RANGE, &rq.base, &etcdserverpb__range_response__descriptor, &m, err, errcap);
    if (st != RM_OK)
        return st;
    Etcdserverpb__RangeResponse *r = (Etcdserverpb__RangeResponse *)m;
    if (r->n_kvs == 0) {
        protobuf_c_message_free_unpacked(m, NULL);
        return RM_ENOENT;
    }
    *val = dup_bin(r->kvs[0]->value);
    protobuf_c_message_free_unpacked(m, NULL);
    return *val ? RM_OK : RM_ENOMEM;
}

/* The end of the range of every key starting with `prefix`: prefix with its last byte + 1. */
static char *
prefix_end(const char *prefix)
{
    size_t n = strlen(prefix);
    char *end = malloc(n + 1);
    if (!end)
        return NULL;
    memcpy(end, prefix, n + 1);
    while (n > 0) {
        if ((unsigned char)end[n - 1] < 0xff) {
            end[n - 1]++;
            end[n] = '\0';
            return end;
        }
        n--;
    }
    free(end);
    return NULL; /* all 0xff: not a prefix we ever use */
}

rm_status_t
rm__etcd_list(rm_etcd_t *e, const char *prefix, void (*fn)(void *ctx, const char *key, const char *val), void *ctx,
              char *err, size_t errcap)
{
    char *end = prefix_end(prefix);
    if (!end)
        return RM_ENOMEM;
    Etcdserverpb__RangeRequest rq = ETCDSERVERPB__RANGE_REQUEST__INIT;
    rq.key = bin(prefix);
    rq.range_end = bin(end);
    ProtobufCMessage *m = NULL;
    rm_status_t st = call(e, P_RANGE, &rq.base, &etcdserverpb__range_response__descriptor, &m, err, errcap);
    free(end);
    if (st != RM_OK)
        return st;
    Etcdserverpb__RangeResponse *r = (Etcdserverpb__RangeResponse *)m;
    for (size_t i = 0; i < r->n_kvs && st == RM_OK; i++) {
        char *k = dup_bin(r->kvs[i]->key), *v = dup_bin(r->kvs[i]->value);
        if (k && v)
            fn(ctx, k, v);
        else
            st = RM_ENOMEM;
        free(k);
        free(v);
    }
    protobuf_c_message_free_unpacked(m, NULL);
    return st;
}

/* One Txn: if cmp (none when NULL) then ok_op, else else_op (none when
 * NULL). *out: the response, for protobuf_c_message_free_unpacked. */
static rm_status_t
txn(rm_etcd_t *e, Etcdserverpb__Compare *cmp, Etcdserverpb__RequestOp *ok_op, Etcdserverpb__RequestOp *else_op,
    Etcdserverpb__TxnResponse **out, char *err, size_t errcap)
{
    Etcdserverpb__TxnRequest tx = ETCDSERVERPB__TXN_REQUEST__INIT;
    if (cmp) {
        tx.compare = &cmp;
        tx.n_compare = 1;
    }
    tx.success = &ok_op;
    tx.n_success = 1;
    if (else_op) {
        tx.failure = &else_op;
        tx.n_failure = 1;
    }
    ProtobufCMessage *m = NULL;
    rm_status_t st = call(e, P_TXN, &tx.base, &etcdserverpb__txn_response__descriptor, &m, err, errcap);
    *out = (Etcdserverpb__TxnResponse *)m;
    return st;
}

/* A Compare "key's TARGET == ..." (the caller sets the target and its value). */
static void
compare_key(Etcdserverpb__Compare *cmp, const char *key)
{
    etcdserverpb__compare__init(cmp);
    cmp->result = ETCDSERVERPB__COMPARE__COMPARE_RESULT__EQUAL;
    cmp->key = bin(key);
}

/* op := Put key=val on lease (0 = none), with put as its request. */
static void
put_op(Etcdserverpb__RequestOp *op, Etcdserverpb__PutRequest *put, const char *key, const char *val, int64_t lease)
{
    etcdserverpb__put_request__init(put);
    put->key = bin(key);
    put->value = bin(val);
    put->lease = lease;
    etcdserverpb__request_op__init(op);
    op->request_case = ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_PUT;
    op->request_put = put;
}

/* One guarded Txn: if guard_key == guard_val (or no guard) then `op`. */
static rm_status_t
guarded(rm_etcd_t *e, Etcdserverpb__RequestOp *op, const char *guard_key, const char *guard_val, char *err,
        size_t errcap)
{
    Etcdserverpb__Compare cmp;
    if (guard_key) {
        compare_key(&cmp, guard_key);
        cmp.target = ETCDSERVERPB__COMPARE__COMPARE_TARGET__VALUE;
        cmp.target_union_case = ETCDSERVERPB__COMPARE__TARGET_UNION_VALUE;
        cmp.value = bin(guard_val);
    }
    Etcdserverpb__TxnResponse *r = NULL;
    rm_status_t st = txn(e, guard_key ? &cmp : NULL, op, NULL, &r, err, errcap);
    if (st != RM_OK)
        return st;
    int ok = r->succeeded;
    protobuf_c_message_free_unpacked(&r->base, NULL);
    if (!ok && err && errcap)
        snprintf(err, errcap, "etcd: %s no longer holds the expected value (leadership lost)", guard_key);
    return ok ? RM_OK : RM_ECONFLICT;
}

rm_status_t
rm__etcd_put(rm_etcd_t *e, const char *key, const char *val, int64_t lease, const char *guard_key,
             const char *guard_val, char *err, size_t errcap)
{
    Etcdserverpb__PutRequest put;
    Etcdserverpb__RequestOp op;
    put_op(&op, &put, key, val, lease);
    return guarded(e, &op, guard_key, guard_val, err, errcap);
}

rm_status_t
rm__etcd_delete(rm_etcd_t *e, const char *key, int prefix, const char *guard_key, const char *guard_val, char *err,
                size_t errcap)
{
    char *end = NULL;
    Etcdserverpb__DeleteRangeRequest del = ETCDSERVERPB__DELETE_RANGE_REQUEST__INIT;
    del.key = bin(key);
    if (prefix) {
        end = prefix_end(key);
        if (!end)
            return RM_ENOMEM;
        del.range_end = bin(end);
    }
    Etcdserverpb__RequestOp op = ETCDSERVERPB__REQUEST_OP__INIT;
    op.request_case = ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_DELETE_RANGE;
    op.request_delete_range = &del;
    rm_status_t st = guarded(e, &op, guard_key, guard_val, err, errcap);
    free(end);
    return st;
}

rm_status_t
rm__etcd_create_key(rm_etcd_t *e, const char *key, const char *val, int64_t lease, char **holder, char *err,
                    size_t errcap)
{
    if (holder)
        *holder = NULL;
    Etcdserverpb__Compare cmp; /* the key was never created */
    compare_key(&cmp, key);
    cmp.target = ETCDSERVERPB__COMPARE__COMPARE_TARGET__CREATE;
    cmp.target_union_case = ETCDSERVERPB__COMPARE__TARGET_UNION_CREATE_REVISION;
    cmp.create_revision = 0;
    Etcdserverpb__PutRequest put;
    Etcdserverpb__RequestOp ok_op;
    put_op(&ok_op, &put, key, val, lease);
    Etcdserverpb__RangeRequest get = ETCDSERVERPB__RANGE_REQUEST__INIT;
    get.key = bin(key);
    Etcdserverpb__RequestOp else_op = ETCDSERVERPB__REQUEST_OP__INIT;
    else_op.request_case = ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_RANGE;
    else_op.request_range = &get;
    Etcdserverpb__TxnResponse *r = NULL;
    rm_status_t st = txn(e, &cmp, &ok_op, &else_op, &r, err, errcap);
    if (st != RM_OK)
        return st;
    if (r->succeeded) {
        protobuf_c_message_free_unpacked(&r->base, NULL);
        return RM_OK;
    }
    st = RM_EEXIST;
    if (holder && r->n_responses == 1 &&
        r->responses[0]->response_case == ETCDSERVERPB__RESPONSE_OP__RESPONSE_RESPONSE_RANGE &&
        r->responses[0]->response_range->n_kvs > 0) {
        *holder = dup_bin(r->responses[0]->response_range->kvs[0]->value);
        if (!*holder)
            st = RM_ENOMEM;
    }
    protobuf_c_message_free_unpacked(&r->base, NULL);
    return st;
}

rm_status_t
rm__etcd_lease_grant(rm_etcd_t *e, int ttl_s, int64_t *id, int64_t *granted_ttl, char *err, size_t errcap)
{
    Etcdserverpb__LeaseGrantRequest rq = ETCDSERVERPB__LEASE_GRANT_REQUEST__INIT;
    rq.ttl = ttl_s;
    ProtobufCMessage *m = NULL;
    rm_status_t st = call(e, P_GRANT, &rq.base, &etcdserverpb__lease_grant_response__descriptor, &m, err, errcap);
    if (st != RM_OK)
        return st;
    Etcdserverpb__LeaseGrantResponse *r = (Etcdserverpb__LeaseGrantResponse *)m;
    if (r->error && *r->error) {
        if (err && errcap)
            snprintf(err, errcap, "etcd LeaseGrant: %s", r->error);
        st = RM_EIO;
    } else {
        *id = r->id;
        if (granted_ttl)
            *granted_ttl = r->ttl;
    }
    protobuf_c_message_free_unpacked(m, NULL);
    return st;
}

rm_status_t
rm__etcd_lease_keepalive(rm_etcd_t *e, int64_t id, int64_t *ttl, char *err, size_t errcap)
{
    /* LeaseKeepAlive is a bidirectional stream; one request, then end of input: etcd answers once and ends
     * the call. A fresh short call per keepalive needs no stream state to survive endpoint changes. */
    Etcdserverpb__LeaseKeepAliveRequest rq = ETCDSERVERPB__LEASE_KEEP_ALIVE_REQUEST__INIT;
    rq.id = id;
    *ttl = 0;
    pthread_mutex_lock(&e->mu);
    size_t start = e->cur;
    pthread_mutex_unlock(&e->mu);
    for (size_t k = 0; k < e->n; k++) {
        size_t i = (start + k) % e->n;
        rm_call_status_t st = {0};
        rm_client_stream_t *s = NULL;
        grpc_status_code code = rm_client_stream_open(e->ep[i], P_KEEPALIVE, &rq.base, e->timeout_ms, &s, &st);
        if (code == GRPC_STATUS_OK) {
            ProtobufCMessage *m = NULL;
            int got = rm_client_stream_next(s, &etcdserverpb__lease_keep_alive_response__descriptor, &m);
            rm_client_stream_finish(s, &st);
            if (got == 1) {
                *ttl = ((Etcdserverpb__LeaseKeepAliveResponse *)m)->ttl;
                protobuf_c_message_free_unpacked(m, NULL);
                pthread_mutex_lock(&e->mu);
                e->cur = i;
                pthread_mutex_unlock(&e->mu);
                if (*ttl <= 0) {
                    if (err && errcap)
                        snprintf(err, errcap, "etcd: lease %llx has expired", (unsigned long long)id);
                    return RM_ENOENT;
                }
                return RM_OK;
            }
            code = st.code != GRPC_STATUS_OK ? st.code : GRPC_STATUS_UNAVAILABLE;
            if (got == 0 && st.code == GRPC_STATUS_OK)
                snprintf(st.message, sizeof st.message, "the stream ended without an answer");
        }
        if (err && errcap)
            snprintf(err, errcap, "etcd %s LeaseKeepAlive: %s: %s", e->name[i], rm_client_status_name(code),
                     st.message);
        if (code != GRPC_STATUS_UNAVAILABLE && code != GRPC_STATUS_DEADLINE_EXCEEDED)
            break;
    }
    return RM_EIO;
}

rm_status_t
rm__etcd_lease_revoke(rm_etcd_t *e, int64_t id, char *err, size_t errcap)
{
    Etcdserverpb__LeaseRevokeRequest rq = ETCDSERVERPB__LEASE_REVOKE_REQUEST__INIT;
    rq.id = id;
    ProtobufCMessage *m = NULL;
    rm_status_t st = call(e, P_REVOKE, &rq.base, &etcdserverpb__lease_revoke_response__descriptor, &m, err, errcap);
    if (st == RM_OK)
        protobuf_c_message_free_unpacked(m, NULL);
    return st;
}
