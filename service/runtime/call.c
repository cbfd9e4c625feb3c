/*
 * call.c — the per-call context handlers see through rpc.h: scratch memory,
 * the status message, request metadata, identity and peer, the deadline, and
 * the transport hooks of streaming calls (send, receive, wait, cancellation).
 *
 * Design note: nothing here calls the network. server.c binds the hooks to a
 * gRPC call; without a transport (unit tests, fuzzers) the hooks are NULL and
 * each accessor answers as a call with no peer would.
 */
#include "rpc_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- scratch arena -------------------------------------------------------- */

void
rm__rpc_ctx_init(rm_rpc_ctx_t *ctx, const rm_rpc_method_t *m, void *app)
{
    memset(ctx, 0, sizeof *ctx);
    ctx->method = m;
    ctx->app = app;
    ctx->deadline = gpr_inf_future(GPR_CLOCK_MONOTONIC);
}

void
rm__rpc_ctx_release(rm_rpc_ctx_t *ctx)
{
    rm_scratch_chunk_t *c = ctx->scratch;
    while (c) {
        rm_scratch_chunk_t *next = c->next;
        free(c);
        c = next;
    }
    ctx->scratch = NULL;
}

void *
rm_rpc_alloc(rm_rpc_ctx_t *ctx, size_t bytes)
{
    size_t need = (bytes + sizeof(max_align_t) - 1) & ~(sizeof(max_align_t) - 1);
    if (need < bytes)
        return NULL;
    rm_scratch_chunk_t *c = ctx->scratch;
    if (!c || c->cap - c->used < need) {
        size_t cap = need > 8192 ? need : 8192;
        c = malloc(sizeof *c + cap);
        if (!c)
            return NULL;
        c->cap = cap;
        c->used = 0;
        c->next = ctx->scratch;
        ctx->scratch = c;
    }
    void *p = (char *)c->data + c->used;
    c->used += need;
    memset(p, 0, bytes);
    return p;
}

char *
rm_rpc_strdup(rm_rpc_ctx_t *ctx, const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = rm_rpc_alloc(ctx, n);
    if (p)
        memcpy(p, s, n);
    return p;
}

void *
rm_rpc_alloc_messages(rm_rpc_ctx_t *ctx, const ProtobufCMessageDescriptor *d, size_t n)
{
    size_t slots = n ? n : 1;
    if (slots > SIZE_MAX / sizeof(void *) || slots > SIZE_MAX / d->sizeof_message)
        return NULL;
    ProtobufCMessage **ptrs = rm_rpc_alloc(ctx, slots * sizeof *ptrs);
    char *msgs = rm_rpc_alloc(ctx, slots * d->sizeof_message);
    if (!ptrs || !msgs)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        ptrs[i] = (ProtobufCMessage *)(msgs + i * d->sizeof_message);
        protobuf_c_message_init(d, ptrs[i]);
    }
    return ptrs;
}

void
rm_rpc_error(rm_rpc_ctx_t *ctx, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ctx->msg, sizeof ctx->msg, fmt, ap);
    va_end(ap);
}

grpc_status_code
rm_rpc_fail(rm_rpc_ctx_t *ctx, grpc_status_code code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ctx->msg, sizeof ctx->msg, fmt, ap);
    va_end(ap);
    return code;
}

const char *
rm_rpc_metadata(rm_rpc_ctx_t *ctx, const char *key, size_t *len)
{
    if (!ctx->md)
        return NULL;
    size_t klen = strlen(key);
    for (size_t i = 0; i < ctx->md->count; i++) {
        const grpc_metadata *m = &ctx->md->metadata[i];
        if (GRPC_SLICE_LENGTH(m->key) == klen &&
            memcmp(GRPC_SLICE_START_PTR(m->key), key, klen) == 0) {
            if (len)
                *len = GRPC_SLICE_LENGTH(m->value);
            return (const char *)GRPC_SLICE_START_PTR(m->value);
        }
    }
    return NULL;
}

const char *
rm_rpc_authority(rm_rpc_ctx_t *ctx)
{
    return ctx->authority;
}

void *
rm_rpc_app(rm_rpc_ctx_t *ctx)
{
    return ctx->app;
}

const rm_rpc_method_t *
rm_rpc_method(rm_rpc_ctx_t *ctx)
{
    return ctx->method;
}

const char *
rm_rpc_identity(rm_rpc_ctx_t *ctx)
{
    return ctx->identity;
}

const char *
rm_rpc_peer(rm_rpc_ctx_t *ctx)
{
    return ctx->peer;
}

int64_t
rm_rpc_remaining_ms(rm_rpc_ctx_t *ctx)
{
    if (gpr_time_cmp(ctx->deadline, gpr_inf_future(ctx->deadline.clock_type)) == 0)
        return INT64_MAX;
    gpr_timespec now = gpr_now(ctx->deadline.clock_type);
    gpr_timespec d = gpr_time_sub(ctx->deadline, now);
    return (int64_t)d.tv_sec * 1000 + d.tv_nsec / 1000000;
}

int
rm_rpc_cancelled(rm_rpc_ctx_t *ctx)
{
    if (ctx->is_cancelled && ctx->is_cancelled(ctx))
        return 1;
    return rm_rpc_remaining_ms(ctx) <= 0;
}

int
rm_rpc_shutting_down(rm_rpc_ctx_t *ctx)
{
    return ctx->shutting_down && ctx->shutting_down(ctx);
}

int
rm_rpc_stream_send(rm_rpc_ctx_t *ctx, const ProtobufCMessage *msg)
{
    return ctx->send ? ctx->send(ctx, msg) : -1;
}

int
rm_rpc_stream_recv(rm_rpc_ctx_t *ctx, ProtobufCMessage **msg)
{
    *msg = NULL;
    return ctx->recv ? ctx->recv(ctx, msg) : -1;
}

int
rm_rpc_wait(rm_rpc_ctx_t *ctx, int64_t ms)
{
    return ctx->wait ? ctx->wait(ctx, ms) : 1;
}
