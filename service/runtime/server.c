/*
 * server.c — the gRPC C-core server runtime: completion-queue loop and the
 * per-call state machine.
 *
 * Design note. Each accepted call is a call_t that lives until every batch it
 * started has completed (refs). The states:
 *
 *   request_call ──► (TAG_REQUEST) ──► post RECV_CLOSE_ON_SERVER (TAG_CLOSE)
 *                                      unknown method → final status batch
 *                                      else RECV_MESSAGE batch (TAG_RECV)
 *   TAG_RECV ──► unary: run handler inline, final batch
 *                        (SEND_INITIAL_METADATA, SEND_MESSAGE, SEND_STATUS) (TAG_FINAL);
 *                        a may_wait method's handler on a thread of its own
 *                        (up to RM_RPC_MAX_WAITING), which posts the same batch
 *                stream: start a handler thread; each rm_rpc_stream_send()
 *                        is one SEND_MESSAGE batch (TAG_SEND) waited for on the
 *                        call's condition variable; the handler's return posts
 *                        the final batch
 *   TAG_CLOSE ──► records cancellation (client gone, deadline) and wakes the
 *                 streaming handler
 *
 * The lean unary path (opts.registered_methods, docs/adr/0031): each unary
 * method is a registered method whose request message arrives with the call
 * (GRPC_SRM_PAYLOAD_READ_INITIAL_BYTE_BUFFER):
 *
 *   request_registered_call ──► (TAG_REQUEST) ──► auth, then decode, handler
 *        and one final batch (…, SEND_STATUS, RECV_CLOSE_ON_SERVER) (TAG_FINAL)
 *
 * two events per call instead of four. Unknown methods and streams still come
 * through the generic request_call, so UNIMPLEMENTED still names the method.
 *
 * At most one op of each type is in flight per call, every batch has its own
 * tag, and byte buffers handed to SEND_MESSAGE are destroyed when their batch
 * completes (see NOTES: pitfalls 1–4). A single request_call is kept posted per
 * completion-queue thread so accepts never wait behind a busy thread.
 */
#include "server_internal.h"
#include "accept_guard.h"
#include "address.h"
#include "rm_clock.h"
#include "rm_tsan.h"

#include <errno.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc_security.h>
#include <grpc/support/alloc.h>
#include <grpc/support/log.h>
#include <grpc/support/time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum tag_kind { TAG_REQUEST, TAG_RECV, TAG_SEND, TAG_FINAL, TAG_CLOSE, TAG_RECV_MORE };

typedef struct call call_t;

typedef struct tag {
    call_t *call;
    enum tag_kind kind;
} tag_t;

struct call {
    rm_server_t *srv;
    grpc_call *call;
    grpc_call_details details;
    grpc_metadata_array md;
    grpc_byte_buffer *recv_buf;
    grpc_byte_buffer *send_buf;        /* message of the in-flight SEND batch */
    grpc_byte_buffer *final_buf;       /* message of the final batch */
    grpc_slice status_details;
    int have_status_details;
    int close_cancelled;               /* from RECV_CLOSE_ON_SERVER */
    int closed;                        /* TAG_CLOSE seen */
    int initial_md_sent;
    int send_done, send_ok;            /* TAG_SEND handshake; guarded by mu */
    int recv_done;                     /* TAG_RECV_MORE handshake; guarded by mu */
    grpc_byte_buffer *more_buf;        /* bidi: the message of the in-flight RECV batch */
    int refs;                          /* outstanding batches + handler thread; guarded by mu */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    const rm_rpc_method_t *method;
    const struct rm_registered *reg;   /* a registered unary call (the lean path), else NULL */
    gpr_timespec reg_deadline;         /* its deadline (no call details) */
    int close_in_final;                /* the final batch also carries RECV_CLOSE_ON_SERVER */
    ProtobufCMessage *stream_req;      /* decoded request of a streaming call */
    uint8_t *wait_req;                 /* a may_wait unary call's request bytes, owned by its thread */
    size_t wait_len;
    rm_rpc_ctx_t ctx;
    char stream_owner[336];   /* whose share of max_streams a stream counts against */
    tag_t t_request, t_recv, t_send, t_final, t_close, t_recv_more;
};

static void post_request(rm_server_t *srv);
static void post_registered(rm_server_t *srv, const struct rm_registered *reg);
static void on_recv(call_t *c, int ok);
static int stream_owner_add_locked(rm_server_t *srv, const char *key, int delta);

/* ---- reference counting ---------------------------------------------------- */

/* Decrement a counter guarded by srv->mu (live_calls, cancelling) and wake
 * whoever waits for it to drain (rm_server_wait). */
static void
server_count_down(rm_server_t *srv, int *counter)
{
    pthread_mutex_lock(&srv->mu);
    (*counter)--;
    pthread_cond_broadcast(&srv->cv);
    pthread_mutex_unlock(&srv->mu);
}

static void
call_free(call_t *c)
{
    rm_server_t *srv = c->srv;
    if (c->call)
        grpc_call_unref(c->call);
    grpc_call_details_destroy(&c->details);
    grpc_metadata_array_destroy(&c->md);
    if (c->recv_buf)
        grpc_byte_buffer_destroy(c->recv_buf);
    if (c->send_buf)
        grpc_byte_buffer_destroy(c->send_buf);
    if (c->final_buf)
        grpc_byte_buffer_destroy(c->final_buf);
    if (c->more_buf)
        grpc_byte_buffer_destroy(c->more_buf);
    if (c->have_status_details)
        grpc_slice_unref(c->status_details);
    if (c->stream_req)
        protobuf_c_message_free_unpacked(c->stream_req, NULL);
    rm__rpc_ctx_release(&c->ctx);
    pthread_mutex_destroy(&c->mu);
    pthread_cond_destroy(&c->cv);
    free(c);
    server_count_down(srv, &srv->live_calls);
}

static void
call_unref(call_t *c)
{
    pthread_mutex_lock(&c->mu);
    int left = --c->refs;
    pthread_mutex_unlock(&c->mu);
    if (left == 0)
        call_free(c);
}

static int
start_batch(call_t *c, const grpc_op *ops, size_t n, tag_t *tag)
{
    pthread_mutex_lock(&c->mu);
    c->refs++;
    pthread_mutex_unlock(&c->mu);
    RM_TSAN_RELEASE(tag);
    grpc_call_error e = grpc_call_start_batch(c->call, ops, n, tag, NULL);
    if (e != GRPC_CALL_OK) {
        call_unref(c);
        return -1;
    }
    return 0;
}

/* ---- sending the final status ---------------------------------------------- */

static void
count_status(rm_server_t *srv, grpc_status_code code)
{
    if ((unsigned)code < RM_STATUS_CODES)
        __atomic_fetch_add(&srv->status_counts[code], 1, __ATOMIC_RELAXED);
}

/*
 * Send the final status (and, for unary OK, the response bytes, which this
 * function takes over). Runs once per call.
 */
static void
send_final(call_t *c, grpc_status_code code, const char *msg, uint8_t *resp, size_t resp_len)
{
    grpc_op ops[4];
    size_t n = 0;
    memset(ops, 0, sizeof ops);

    pthread_mutex_lock(&c->mu);
    int need_md = !c->initial_md_sent;
    c->initial_md_sent = 1;
    pthread_mutex_unlock(&c->mu);

    if (need_md) {
        ops[n].op = GRPC_OP_SEND_INITIAL_METADATA;
        ops[n].data.send_initial_metadata.count = 0;
        n++;
    }
    if (code == GRPC_STATUS_OK && resp) {
        /* the packed response becomes the slice: no copy (gRPC frees it) */
        grpc_slice s = resp_len ? grpc_slice_new(resp, resp_len, free) : grpc_empty_slice();
        if (!resp_len)
            free(resp);
        resp = NULL;
        c->final_buf = grpc_raw_byte_buffer_create(&s, 1);
        grpc_slice_unref(s);
        ops[n].op = GRPC_OP_SEND_MESSAGE;
        ops[n].data.send_message.send_message = c->final_buf;
        n++;
    }
    free(resp);
    c->status_details = grpc_slice_from_copied_string(msg ? msg : "");
    c->have_status_details = 1;
    ops[n].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
    ops[n].data.send_status_from_server.trailing_metadata_count = 0;
    ops[n].data.send_status_from_server.status = code;
    ops[n].data.send_status_from_server.status_details = &c->status_details;
    n++;
    if (c->close_in_final) {
        ops[n].op = GRPC_OP_RECV_CLOSE_ON_SERVER;
        ops[n].data.recv_close_on_server.cancelled = &c->close_cancelled;
        n++;
    }
    count_status(c->srv, code);
    (void)start_batch(c, ops, n, &c->t_final);
}

/* ---- transport hooks for handlers ------------------------------------------ */

static int
hook_shutting_down(rm_rpc_ctx_t *ctx)
{
    call_t *c = ctx->transport;
    return __atomic_load_n(&c->srv->shutting_down, __ATOMIC_ACQUIRE);
}

static int
hook_cancelled(rm_rpc_ctx_t *ctx)
{
    call_t *c = ctx->transport;
    if (__atomic_load_n(&c->srv->shutting_down, __ATOMIC_ACQUIRE))
        return 1;
    pthread_mutex_lock(&c->mu);
    int r = c->closed;
    pthread_mutex_unlock(&c->mu);
    return r;
}

static int
hook_send(rm_rpc_ctx_t *ctx, const ProtobufCMessage *msg)
{
    call_t *c = ctx->transport;
    uint8_t *buf;
    size_t len;
    /* Only a closed call refuses messages: at shutdown a stream may still say goodbye. */
    pthread_mutex_lock(&c->mu);
    int closed = c->closed;
    pthread_mutex_unlock(&c->mu);
    if (closed)
        return -1;
    if (rm__rpc_encode(msg, &buf, &len) < 0)
        return -1;
    grpc_slice s = grpc_slice_from_copied_buffer((const char *)buf, len);
    free(buf);

    grpc_op ops[2];
    size_t n = 0;
    memset(ops, 0, sizeof ops);
    pthread_mutex_lock(&c->mu);
    if (!c->initial_md_sent) {
        ops[n].op = GRPC_OP_SEND_INITIAL_METADATA;
        n++;
        c->initial_md_sent = 1;
    }
    c->send_buf = grpc_raw_byte_buffer_create(&s, 1);
    c->send_done = 0;
    pthread_mutex_unlock(&c->mu);
    grpc_slice_unref(s);
    ops[n].op = GRPC_OP_SEND_MESSAGE;
    ops[n].data.send_message.send_message = c->send_buf;
    n++;
    if (start_batch(c, ops, n, &c->t_send) < 0) {
        pthread_mutex_lock(&c->mu);
        grpc_byte_buffer_destroy(c->send_buf);
        c->send_buf = NULL;
        pthread_mutex_unlock(&c->mu);
        return -1;
    }
    pthread_mutex_lock(&c->mu);
    while (!c->send_done)
        pthread_cond_wait(&c->cv, &c->mu);
    int ok = c->send_ok;
    pthread_mutex_unlock(&c->mu);
    return ok ? 0 : -1;
}

static int
hook_wait(rm_rpc_ctx_t *ctx, int64_t ms)
{
    call_t *c = ctx->transport;
    gpr_timespec end = gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC), gpr_time_from_millis(ms, GPR_TIMESPAN));
    for (;;) {
        if (hook_cancelled(ctx) || rm_rpc_remaining_ms(ctx) <= 0)
            return 1;
        gpr_timespec now = gpr_now(GPR_CLOCK_MONOTONIC);
        if (gpr_time_cmp(now, end) >= 0)
            return 0;
        /* Sleep in slices so that a server shutdown is seen within 50 ms. */
        gpr_timespec left = gpr_time_sub(end, now);
        int64_t slice = (int64_t)left.tv_sec * 1000 + left.tv_nsec / 1000000;
        if (slice > 50)
            slice = 50;
        if (slice < 1)
            slice = 1;
        struct timespec ts;
        rm_deadline_ts(CLOCK_REALTIME, slice, &ts);
        pthread_mutex_lock(&c->mu);
        if (!c->closed)
            pthread_cond_timedwait(&c->cv, &c->mu, &ts);
        pthread_mutex_unlock(&c->mu);
    }
}

static int read_request(grpc_byte_buffer *bb, uint8_t **out, size_t *len);
static void start_stream(call_t *c);

static int
hook_recv(rm_rpc_ctx_t *ctx, ProtobufCMessage **msg)
{
    call_t *c = ctx->transport;
    grpc_op op;
    memset(&op, 0, sizeof op);
    op.op = GRPC_OP_RECV_MESSAGE;
    pthread_mutex_lock(&c->mu);
    c->recv_done = 0;
    c->more_buf = NULL;
    pthread_mutex_unlock(&c->mu);
    op.data.recv_message.recv_message = &c->more_buf;
    if (start_batch(c, &op, 1, &c->t_recv_more) < 0)
        return -1;
    pthread_mutex_lock(&c->mu);
    while (!c->recv_done)
        pthread_cond_wait(&c->cv, &c->mu);
    grpc_byte_buffer *bb = c->more_buf;
    c->more_buf = NULL;
    pthread_mutex_unlock(&c->mu);
    if (!bb)
        return 0; /* half-closed by the client, or the call is gone */
    uint8_t *req;
    size_t len;
    int rc = read_request(bb, &req, &len);
    grpc_byte_buffer_destroy(bb);
    if (rc < 0)
        return -1;
    grpc_status_code code =
        rm_rpc_decode(c->method->request, req, len, c->srv->opts.max_request_bytes, msg, ctx->msg);
    free(req);
    return code == GRPC_STATUS_OK ? 1 : -1;
}

/* TAG_RECV_MORE and TAG_CLOSE: set the flag a stream thread waits on
 * (c->recv_done, c->closed) under the call's lock, wake it, and drop the
 * batch's reference. */
static void
on_flag(call_t *c, int *flag)
{
    pthread_mutex_lock(&c->mu);
    *flag = 1;
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
    call_unref(c);
}

/* ---- streaming handler threads --------------------------------------------- */

static void *
stream_main(void *arg)
{
    call_t *c = arg;
    rm_server_t *srv = c->srv;
    grpc_status_code code = c->method->stream(&c->ctx, c->stream_req);
    if (code != GRPC_STATUS_OK && !c->ctx.msg[0])
        rm_rpc_error(&c->ctx, "%s ended with an error", c->method->path);
    if (code == GRPC_STATUS_OK && __atomic_load_n(&srv->shutting_down, __ATOMIC_ACQUIRE) &&
        !c->ctx.msg[0])
        rm_rpc_error(&c->ctx, "stream ended: server shutting down");
    send_final(c, code, c->ctx.msg, NULL, 0);
    char owner[sizeof c->stream_owner];
    memcpy(owner, c->stream_owner, sizeof owner);   /* c may be freed by the unref below */
    call_unref(c); /* the handler thread's reference */

    pthread_mutex_lock(&srv->mu);
    srv->live_streams--;
    stream_owner_add_locked(srv, owner, -1);
    pthread_cond_broadcast(&srv->cv);
    pthread_mutex_unlock(&srv->mu);
    return NULL;
}

/* ---- event handling -------------------------------------------------------- */

static void
on_request(call_t *c, int ok)
{
    rm_server_t *srv = c->srv;
    if (!ok) {
        /* Server shutting down: the pending request is cancelled. */
        call_unref(c);
        return;
    }
    if (!__atomic_load_n(&srv->shutting_down, __ATOMIC_ACQUIRE)) {
        if (c->reg)
            post_registered(srv, c->reg);
        else
            post_request(srv);
    }

    c->ctx.md = &c->md;
    c->ctx.deadline = c->reg ? c->reg_deadline : c->details.deadline;
    c->ctx.transport = c;
    c->ctx.server = srv;
    c->ctx.is_cancelled = hook_cancelled;
    c->ctx.shutting_down = hook_shutting_down;
    c->ctx.send = hook_send;
    c->ctx.wait = hook_wait;
    c->ctx.recv = hook_recv;
    c->ctx.app = srv->opts.app;

    if (c->reg) {
        /* Lean unary path: the method is known and its request came with the
         * call; the close is received by the final batch. */
        c->method = c->reg->method;
        c->close_in_final = 1;
        __atomic_fetch_add(&srv->registered_calls, 1, __ATOMIC_RELAXED);
    } else {
        grpc_op close_op;
        memset(&close_op, 0, sizeof close_op);
        close_op.op = GRPC_OP_RECV_CLOSE_ON_SERVER;
        close_op.data.recv_close_on_server.cancelled = &c->close_cancelled;
        (void)start_batch(c, &close_op, 1, &c->t_close);

        c->method = rm_rpc_find(srv->services, srv->n_services,
                                (const char *)GRPC_SLICE_START_PTR(c->details.method),
                                GRPC_SLICE_LENGTH(c->details.method));
        if (!c->method) {
            char msg[RM_RPC_MSG_MAX];
            snprintf(msg, sizeof msg, "unknown method %.*s: rustymemd does not implement it",
                     (int)GRPC_SLICE_LENGTH(c->details.method),
                     (const char *)GRPC_SLICE_START_PTR(c->details.method));
            send_final(c, GRPC_STATUS_UNIMPLEMENTED, msg, NULL, 0);
            call_unref(c); /* the request reference */
            return;
        }
        snprintf(c->ctx.authority, sizeof c->ctx.authority, "%.*s",
                 (int)GRPC_SLICE_LENGTH(c->details.host),
                 (const char *)GRPC_SLICE_START_PTR(c->details.host));
    }
    c->ctx.method = c->method;
    {
        /* The caller's address, for audit lines (allowed and refused calls). */
        char *peer = grpc_call_get_peer(c->call);
        if (peer) {
            snprintf(c->ctx.peer, sizeof c->ctx.peer, "%s", peer);
            gpr_free(peer);
        }
    }

    if (srv->opts.tls_client_ca_file)   /* mTLS: the handshake verified the certificate */
        rm__tls_peer_identity(c->call, c->ctx.peer_cert, sizeof c->ctx.peer_cert);
    if (srv->opts.auth) {
        grpc_status_code code = srv->opts.auth(srv->opts.auth_ctx, &c->ctx);
        if (code != GRPC_STATUS_OK) {
            send_final(c, code, c->ctx.msg, NULL, 0);
            call_unref(c);
            return;
        }
    }

    if (c->reg) {
        /* auth passed: decode and run (on_recv takes the request reference) */
        on_recv(c, 1);
        return;
    }
    if (c->method->kind == RM_RPC_BIDI_STREAM) {
        /* The handler reads its own requests. */
        start_stream(c);
        call_unref(c);
        return;
    }
    grpc_op op;
    memset(&op, 0, sizeof op);
    op.op = GRPC_OP_RECV_MESSAGE;
    op.data.recv_message.recv_message = &c->recv_buf;
    (void)start_batch(c, &op, 1, &c->t_recv);
    call_unref(c); /* the request reference; the RECV batch holds its own */
}

/* Read the whole request into a malloc'ed buffer. */
static int
read_request(grpc_byte_buffer *bb, uint8_t **out, size_t *len)
{
    grpc_byte_buffer_reader r;
    if (!grpc_byte_buffer_reader_init(&r, bb))
        return -1;
    grpc_slice s = grpc_byte_buffer_reader_readall(&r);
    grpc_byte_buffer_reader_destroy(&r);
    size_t n = GRPC_SLICE_LENGTH(s);
    uint8_t *buf = malloc(n ? n : 1);
    if (!buf) {
        grpc_slice_unref(s);
        return -1;
    }
    memcpy(buf, GRPC_SLICE_START_PTR(s), n);
    grpc_slice_unref(s);
    *out = buf;
    *len = n;
    return 0;
}

/* Who a stream counts against: the authenticated identity, or for an
 * anonymous caller the peer's host (its port changes with every connection). */
static void
stream_owner_key(const rm_rpc_ctx_t *ctx, char *key, size_t cap)
{
    if (ctx->identity[0] && strcmp(ctx->identity, "anonymous") != 0) {
        snprintf(key, cap, "%s", ctx->identity);
        return;
    }
    const char *colon = strrchr(ctx->peer, ':');
    int host_len = colon && strchr(ctx->peer, ':') != colon ? (int)(colon - ctx->peer) : (int)strlen(ctx->peer);
    snprintf(key, cap, "peer %.*s", host_len, ctx->peer);
}

/* Adjust key's live streams by delta; on +1, refuse (return 0) past the
 * per-principal share. Requires mu. */
static int
stream_owner_add_locked(rm_server_t *srv, const char *key, int delta)
{
    struct stream_owner *free_slot = NULL;
    for (int i = 0; i < srv->opts.max_streams; i++) {
        struct stream_owner *o = &srv->stream_owners[i];
        if (o->n > 0 && strcmp(o->key, key) == 0) {
            if (delta > 0 && o->n >= srv->opts.max_streams_per_principal)
                return 0;
            o->n += delta;
            return 1;
        }
        if (o->n == 0 && !free_slot)
            free_slot = o;
    }
    if (delta > 0 && free_slot) {
        snprintf(free_slot->key, sizeof free_slot->key, "%s", key);
        free_slot->n = 1;
    }
    return 1;
}

/* Run fn(c) on a detached thread that holds a reference of its own to c. 0;
 * -1 when no thread starts (that reference is dropped again: the caller,
 * which holds one too, still owns c). */
static int
spawn_call_thread(call_t *c, void *(*fn)(void *))
{
    pthread_mutex_lock(&c->mu);
    c->refs++;
    pthread_mutex_unlock(&c->mu);
    pthread_t th;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    int e = pthread_create(&th, &attr, fn, c);
    pthread_attr_destroy(&attr);
    if (e != 0) {
        pthread_mutex_lock(&c->mu);
        c->refs--;
        pthread_mutex_unlock(&c->mu);
        return -1;
    }
    return 0;
}

/* Run the streaming handler on a thread of its own, within max_streams and
 * the caller's share of it (max_streams_per_principal). */
static void
start_stream(call_t *c)
{
    rm_server_t *srv = c->srv;
    stream_owner_key(&c->ctx, c->stream_owner, sizeof c->stream_owner);
    pthread_mutex_lock(&srv->mu);
    int closing = __atomic_load_n(&srv->shutting_down, __ATOMIC_ACQUIRE);
    int room = srv->live_streams < srv->opts.max_streams && !closing;
    int share = room && stream_owner_add_locked(srv, c->stream_owner, +1);
    if (share)
        srv->live_streams++;
    pthread_mutex_unlock(&srv->mu);
    if (!share) {
        char why[RM_RPC_MSG_MAX];
        if (closing)
            snprintf(why, sizeof why, "server shutting down");
        else if (!room)
            snprintf(why, sizeof why, "too many concurrent streams (max_streams %d reached)", srv->opts.max_streams);
        else
            snprintf(why, sizeof why, "too many concurrent streams for %s (its share: %d of max_streams %d)",
                     c->stream_owner, srv->opts.max_streams_per_principal, srv->opts.max_streams);
        send_final(c, GRPC_STATUS_RESOURCE_EXHAUSTED, why, NULL, 0);
        return;
    }
    if (spawn_call_thread(c, stream_main) != 0) {
        pthread_mutex_lock(&srv->mu);
        srv->live_streams--;
        stream_owner_add_locked(srv, c->stream_owner, -1);
        pthread_mutex_unlock(&srv->mu);
        send_final(c, GRPC_STATUS_RESOURCE_EXHAUSTED, "cannot start a stream thread", NULL, 0);
    }
}

/* ---- unary handlers that may wait ------------------------------------------ */

static void
run_unary(call_t *c, const uint8_t *req, size_t len)
{
    uint8_t *resp = NULL;
    size_t resp_len = 0;
    grpc_status_code code = rm__rpc_run_unary(&c->ctx, req, len, c->srv->opts.max_request_bytes, &resp, &resp_len);
    send_final(c, code, code == GRPC_STATUS_OK ? "" : c->ctx.msg, resp, resp_len);
}

static void *
waiting_main(void *arg)
{
    call_t *c = arg;
    rm_server_t *srv = c->srv;
    run_unary(c, c->wait_req, c->wait_len);
    free(c->wait_req);
    c->wait_req = NULL;
    server_count_down(srv, &srv->live_waiting);
    call_unref(c); /* the thread's reference; the last thing it touches */
    return NULL;
}

/* Run a may_wait method's handler on a thread of its own, which takes *req.
 * 0 (nothing changed) when RM_RPC_MAX_WAITING run already, the server is
 * stopping or no thread starts: the caller then runs it inline. */
static int
start_waiting(call_t *c, uint8_t **req, size_t len)
{
    rm_server_t *srv = c->srv;
    pthread_mutex_lock(&srv->mu);
    int room = srv->live_waiting < RM_RPC_MAX_WAITING && !__atomic_load_n(&srv->shutting_down, __ATOMIC_ACQUIRE);
    if (room)
        srv->live_waiting++;
    pthread_mutex_unlock(&srv->mu);
    if (!room)
        return 0;
    c->wait_req = *req;
    c->wait_len = len;
    if (spawn_call_thread(c, waiting_main) != 0) {
        c->wait_req = NULL;
        server_count_down(srv, &srv->live_waiting);
        return 0;
    }
    *req = NULL;
    return 1;
}

static void
on_recv(call_t *c, int ok)
{
    rm_server_t *srv = c->srv;
    uint8_t *req = NULL;
    size_t len = 0;

    if (!ok || !c->recv_buf) {
        send_final(c, GRPC_STATUS_INVALID_ARGUMENT, "no request message received", NULL, 0);
        goto done;
    }
    if (read_request(c->recv_buf, &req, &len) < 0) {
        send_final(c, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory reading the request", NULL, 0);
        goto done;
    }
    if (c->method->kind == RM_RPC_UNARY) {
        if (!(c->method->may_wait && start_waiting(c, &req, len)))
            run_unary(c, req, len);
        goto done;
    }

    /* Server streaming: decode here, run the handler on its own thread. */
    grpc_status_code code = rm_rpc_decode(c->method->request, req, len, srv->opts.max_request_bytes,
                                          &c->stream_req, c->ctx.msg);
    if (code != GRPC_STATUS_OK) {
        send_final(c, code, c->ctx.msg, NULL, 0);
        goto done;
    }
    start_stream(c);
done:
    free(req);
    call_unref(c); /* the RECV batch reference */
}

static void
on_send(call_t *c, int ok)
{
    pthread_mutex_lock(&c->mu);
    if (c->send_buf) {
        grpc_byte_buffer_destroy(c->send_buf);
        c->send_buf = NULL;
    }
    c->send_done = 1;
    c->send_ok = ok;
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
    call_unref(c);
}

static call_t *
call_new(rm_server_t *srv)
{
    call_t *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->srv = srv;
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->cv, NULL);
    grpc_call_details_init(&c->details);
    grpc_metadata_array_init(&c->md);
    rm__rpc_ctx_init(&c->ctx, NULL, srv->opts.app);
    c->t_request = (tag_t){c, TAG_REQUEST};
    c->t_recv = (tag_t){c, TAG_RECV};
    c->t_send = (tag_t){c, TAG_SEND};
    c->t_final = (tag_t){c, TAG_FINAL};
    c->t_close = (tag_t){c, TAG_CLOSE};
    c->t_recv_more = (tag_t){c, TAG_RECV_MORE};
    c->refs = 1; /* the request */
    pthread_mutex_lock(&srv->mu);
    srv->live_calls++;
    pthread_mutex_unlock(&srv->mu);
    return c;
}

static void
post_request(rm_server_t *srv)
{
    call_t *c = call_new(srv);
    if (!c)
        return; /* the remaining posted requests keep the server serving */
    RM_TSAN_RELEASE(&c->t_request); /* after every write the completing thread reads */
    grpc_call_error e = grpc_server_request_call(srv->server, &c->call, &c->details, &c->md, srv->cq,
                                                 srv->cq, &c->t_request);
    if (e != GRPC_CALL_OK)
        call_unref(c);
}

/* One posted request per registered method and thread; each accepted call
 * posts the next (a method without a posted request queues its calls in gRPC). */
static void
post_registered(rm_server_t *srv, const struct rm_registered *reg)
{
    call_t *c = call_new(srv);
    if (!c)
        return;
    c->reg = reg;
    RM_TSAN_RELEASE(&c->t_request); /* after every write the completing thread reads */
    grpc_call_error e = grpc_server_request_registered_call(srv->server, reg->handle, &c->call, &c->reg_deadline,
                                                            &c->md, &c->recv_buf, srv->cq, srv->cq, &c->t_request);
    if (e != GRPC_CALL_OK)
        call_unref(c);
}

static void *
cq_main(void *arg)
{
    rm_server_t *srv = arg;
    for (;;) {
        gpr_timespec now = gpr_now(GPR_CLOCK_MONOTONIC);
        __atomic_store_n(&srv->beat_ms, now.tv_sec * 1000 + now.tv_nsec / 1000000, __ATOMIC_RELAXED);
        gpr_timespec deadline = gpr_time_add(now, gpr_time_from_millis(100, GPR_TIMESPAN));
        grpc_event ev = grpc_completion_queue_next(srv->cq, deadline, NULL);
        if (ev.type == GRPC_QUEUE_SHUTDOWN)
            break;
        if (ev.type == GRPC_QUEUE_TIMEOUT) {
            rm__server_tick(srv);
            continue;
        }
        if (ev.tag == &srv->shutdown_tag) {
            pthread_mutex_lock(&srv->mu);
            srv->shutdown_notified = 1;
            pthread_cond_broadcast(&srv->cv);
            pthread_mutex_unlock(&srv->mu);
            continue;
        }
        RM_TSAN_ACQUIRE(ev.tag);
        tag_t *t = ev.tag;
        switch (t->kind) {
        case TAG_REQUEST: on_request(t->call, ev.success); break;
        case TAG_RECV: on_recv(t->call, ev.success); break;
        case TAG_SEND: on_send(t->call, ev.success); break;
        case TAG_FINAL: call_unref(t->call); break;
        case TAG_CLOSE: on_flag(t->call, &t->call->closed); break;
        case TAG_RECV_MORE: on_flag(t->call, &t->call->recv_done); break;
        }
    }
    return NULL;
}

/* Cancel what is left once the grace period has passed. */
void
rm__server_tick(rm_server_t *srv)
{
    if (!__atomic_load_n(&srv->shutting_down, __ATOMIC_ACQUIRE))
        return;
    pthread_mutex_lock(&srv->mu);
    int cancel = !srv->cancelled_all &&
                 gpr_time_cmp(gpr_now(GPR_CLOCK_MONOTONIC), srv->grace_deadline) >= 0;
    grpc_server *server = srv->server;
    if (cancel) {
        srv->cancelled_all = 1;
        srv->cancelling++; /* rm_server_wait destroys the server only once this is 0 */
    }
    pthread_mutex_unlock(&srv->mu);
    if (!cancel)
        return;
    grpc_server_cancel_all_calls(server);
    server_count_down(srv, &srv->cancelling);
}

/* ---- lifecycle -------------------------------------------------------------- */

/* What rm_server_create allocated, and the server itself (not the gRPC
 * library's reference: the caller drops that). */
static void
server_free(rm_server_t *srv)
{
    rm__health_destroy(&srv->health);
    free(srv->registered);
    free(srv->services);
    free(srv->stream_owners);
    pthread_mutex_destroy(&srv->mu);
    pthread_cond_destroy(&srv->cv);
    free(srv);
}

rm_status_t
rm_server_create(const rm_server_opts_t *opts, const rm_rpc_service_t *const *services,
                 size_t n_services, rm_server_t **out, char *err, size_t errcap)
{
    rm_status_t st = RM_ENOMEM;
    *out = NULL;
    char why[96];
    if (!rm_address_check(opts->listen, 1, why, sizeof why)) {
        snprintf(err, errcap, "cannot listen on %s: %s", opts->listen ? opts->listen : "(none)", why);
        return RM_EINVAL;
    }
    rm_server_t *srv = calloc(1, sizeof *srv);
    if (!srv) {
        snprintf(err, errcap, "out of memory");
        return RM_ENOMEM;
    }
    srv->opts = *opts;
    if (srv->opts.cq_threads <= 0)
        srv->opts.cq_threads = 2;
    if (srv->opts.cq_threads > RM_SERVER_MAX_THREADS)
        srv->opts.cq_threads = RM_SERVER_MAX_THREADS;
    if (!srv->opts.max_request_bytes)
        srv->opts.max_request_bytes = 4u << 20;
    if (srv->opts.max_streams <= 0)
        srv->opts.max_streams = 256;
    if (srv->opts.max_streams_per_principal <= 0 || srv->opts.max_streams_per_principal > srv->opts.max_streams)
        srv->opts.max_streams_per_principal = srv->opts.max_streams > 1 ? srv->opts.max_streams / 2 : 1;
    if (srv->opts.shutdown_grace_ms <= 0)
        srv->opts.shutdown_grace_ms = 3000;
    pthread_mutex_init(&srv->mu, NULL);
    pthread_cond_init(&srv->cv, NULL);

    /* Our services plus health and reflection. */
    srv->n_services = n_services + 3;
    srv->services = calloc(srv->n_services, sizeof *srv->services);
    srv->stream_owners = calloc((size_t)srv->opts.max_streams, sizeof *srv->stream_owners);
    if (!srv->services || !srv->stream_owners) {
        snprintf(err, errcap, "out of memory");
        goto fail_alloc;
    }
    if (n_services)
        memcpy(srv->services, services, n_services * sizeof *services);
    srv->services[n_services] = &rm__health_service;
    srv->services[n_services + 1] = &rm__reflection_v1alpha_service;
    srv->services[n_services + 2] = &rm__reflection_v1_service;
    if (rm__health_init(&srv->health, srv) != 0) {
        snprintf(err, errcap, "out of memory");
        goto fail_alloc;
    }
    for (size_t i = 0; i < srv->n_services; i++)
        rm_server_set_serving(srv, srv->services[i]->name, 1);
    rm_server_set_serving(srv, "", 1);

    grpc_init();
    grpc_arg args[3 + 16];
    size_t nargs = 3;
    args[0].type = GRPC_ARG_INTEGER;
    args[0].key = GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH;
    args[0].value.integer = (int)srv->opts.max_request_bytes;
    args[1].type = GRPC_ARG_INTEGER;
    args[1].key = GRPC_ARG_ALLOW_REUSEPORT;
    args[1].value.integer = 0;
    args[2].type = GRPC_ARG_INTEGER;
    args[2].key = GRPC_ARG_MAX_SEND_MESSAGE_LENGTH;
    args[2].value.integer = 64 << 20;
    for (size_t i = 0; opts->extra_args && i < opts->extra_args->num_args && i < 16; i++)
        args[nargs++] = opts->extra_args->args[i];
    grpc_channel_args chargs = {.num_args = nargs, .args = args};

    srv->cq = grpc_completion_queue_create_for_next(NULL);
    srv->server = grpc_server_create(&chargs, NULL);
    grpc_server_register_completion_queue(srv->server, srv->cq, NULL);
    if (srv->opts.registered_methods) {
        /* the lean unary path: every unary method of every table, once */
        size_t n = 0;
        for (size_t i = 0; i < srv->n_services; i++)
            n += srv->services[i]->n_methods;
        srv->registered = calloc(n ? n : 1, sizeof *srv->registered);
        if (!srv->registered) {
            snprintf(err, errcap, "out of memory");
            goto fail_grpc;
        }
        for (size_t i = 0; i < srv->n_services; i++)
            for (size_t j = 0; j < srv->services[i]->n_methods; j++) {
                const rm_rpc_method_t *m = &srv->services[i]->methods[j];
                if (m->kind != RM_RPC_UNARY)
                    continue;
                void *h = grpc_server_register_method(srv->server, m->path, NULL,
                                                      GRPC_SRM_PAYLOAD_READ_INITIAL_BYTE_BUFFER, 0);
                if (h) /* NULL: the path is registered already (an earlier table wins, as in rm_rpc_find) */
                    srv->registered[srv->n_registered++] = (struct rm_registered){h, m};
            }
    }

    grpc_server_credentials *creds = rm__tls_server_credentials(&srv->opts, err, errcap);
    if (!creds) {
        st = RM_EINVAL;
        goto fail_grpc;
    }
    srv->port = grpc_server_add_http2_port(srv->server, srv->opts.listen, creds);
    grpc_server_credentials_release(creds);
    if (srv->port == 0) {
        snprintf(err, errcap, "cannot listen on %s (bad address, or already in use)", srv->opts.listen);
        st = RM_EIO;
        goto fail_grpc;
    }
    *out = srv;
    return RM_OK;

fail_grpc:
    /* Never started: destroying the server needs no shutdown round. */
    grpc_server_shutdown_and_notify(srv->server, srv->cq, &srv->shutdown_tag);
    grpc_server_cancel_all_calls(srv->server);
    for (;;) {
        grpc_event ev = grpc_completion_queue_next(srv->cq, gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL);
        if (ev.type == GRPC_OP_COMPLETE && ev.tag == &srv->shutdown_tag)
            break;
    }
    grpc_server_destroy(srv->server);
    grpc_completion_queue_shutdown(srv->cq);
    while (grpc_completion_queue_next(srv->cq, gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL).type !=
           GRPC_QUEUE_SHUTDOWN)
        ;
    grpc_completion_queue_destroy(srv->cq);
    grpc_shutdown();
fail_alloc:
    server_free(srv);
    return st;
}

int
rm_server_port(const rm_server_t *srv)
{
    return srv->port;
}

rm_status_t
rm_server_start(rm_server_t *srv)
{
    /* before the listener accepts anything: raise the soft fd limit, cap
     * connections, keep accepting at EMFILE (gRPC 1.51 would stop for good) */
    (void)rm_accept_guard_enable(srv->opts.max_connections, 1);
    grpc_server_start(srv->server);
    for (int i = 0; i < srv->opts.cq_threads; i++) {
        post_request(srv);
        for (size_t r = 0; r < srv->n_registered; r++)
            post_registered(srv, &srv->registered[r]);
    }
    for (int i = 0; i < srv->opts.cq_threads; i++) {
        if (pthread_create(&srv->threads[i], NULL, cq_main, srv) != 0) {
            rm_server_shutdown(srv);
            return RM_ENOMEM;
        }
        srv->n_threads++;
    }
    return RM_OK;
}

uint64_t
rm_server_registered_calls(const rm_server_t *srv)
{
    return __atomic_load_n(&srv->registered_calls, __ATOMIC_RELAXED);
}

int
rm_server_alive(const rm_server_t *srv, int64_t max_age_ms)
{
    gpr_timespec now = gpr_now(GPR_CLOCK_MONOTONIC);
    int64_t now_ms = now.tv_sec * 1000 + now.tv_nsec / 1000000;
    int64_t beat = __atomic_load_n(&srv->beat_ms, __ATOMIC_RELAXED);
    return srv->n_threads > 0 && now_ms - beat <= max_age_ms;
}

void
rm_server_shutdown(rm_server_t *srv)
{
    pthread_mutex_lock(&srv->mu);
    if (srv->shutdown_started) {
        pthread_mutex_unlock(&srv->mu);
        return;
    }
    srv->shutdown_started = 1;
    srv->grace_deadline = gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
                                       gpr_time_from_millis(srv->opts.shutdown_grace_ms, GPR_TIMESPAN));
    pthread_mutex_unlock(&srv->mu);
    rm_server_set_serving(srv, "", 0);
    for (size_t i = 0; i < srv->n_services; i++)
        rm_server_set_serving(srv, srv->services[i]->name, 0);
    __atomic_store_n(&srv->shutting_down, 1, __ATOMIC_RELEASE);
    grpc_server_shutdown_and_notify(srv->server, srv->cq, &srv->shutdown_tag);
}

void
rm_server_wait(rm_server_t *srv)
{
    /* 1. gRPC says every call is finished. */
    pthread_mutex_lock(&srv->mu);
    while (!srv->shutdown_notified)
        pthread_cond_wait(&srv->cv, &srv->mu);
    /* 2. Our streaming and waiting threads and call objects are gone. */
    while (srv->live_streams > 0 || srv->live_calls > 0 || srv->live_waiting > 0) {
        struct timespec ts;
        rm_deadline_ts(CLOCK_REALTIME, 1000, &ts);
        pthread_cond_timedwait(&srv->cv, &srv->mu, &ts);
    }
    /* 3. No tick may cancel from now on, and one that is cancelling has
     *    finished: the grace deadline can pass while we tear down, and a tick
     *    would then call into the server being destroyed. */
    srv->cancelled_all = 1;
    while (srv->cancelling > 0)
        pthread_cond_wait(&srv->cv, &srv->mu);
    grpc_server *server = srv->server;
    srv->server = NULL;
    pthread_mutex_unlock(&srv->mu);
    /* 4. Tear down gRPC; the CQ threads leave on GRPC_QUEUE_SHUTDOWN. */
    grpc_server_destroy(server);
    grpc_completion_queue_shutdown(srv->cq);
    for (int i = 0; i < srv->n_threads; i++)
        pthread_join(srv->threads[i], NULL);
    srv->n_threads = 0;
    grpc_completion_queue_destroy(srv->cq);
    srv->cq = NULL;
}

void
rm_server_destroy(rm_server_t *srv)
{
    if (!srv)
        return;
    server_free(srv);
    grpc_shutdown();
}

void
rm_server_call_counts(rm_server_t *srv, uint64_t out[RM_STATUS_CODES])
{
    for (int i = 0; i < RM_STATUS_CODES; i++)
        out[i] = __atomic_load_n(&srv->status_counts[i], __ATOMIC_RELAXED);
}
