/*
 * rpc_internal.h — the call context shared by the transport-free half of the
 * runtime (call.c, codec.c, dispatch.c) and the gRPC transport (server.c).
 * Not for handlers: they use rpc.h.
 */
#ifndef RUSTYMEM_SERVICE_RPC_INTERNAL_H
#define RUSTYMEM_SERVICE_RPC_INTERNAL_H

#include <grpc/grpc.h>
#include <pthread.h>

#include "rpc.h"

typedef struct rm_scratch_chunk {
    struct rm_scratch_chunk *next;
    size_t used, cap;          /* bytes */
    max_align_t data[];
} rm_scratch_chunk_t;

struct rm_rpc_ctx {
    const rm_rpc_method_t *method;
    void *app;
    rm_scratch_chunk_t *scratch;     /* freed by rm__rpc_ctx_release */
    char msg[RM_RPC_MSG_MAX];        /* status message set by the handler */
    const grpc_metadata_array *md;   /* request metadata; NULL outside a transport */
    gpr_timespec deadline;           /* monotonic; infinite when none */
    char identity[320];              /* who the auth layer says the caller is */
    char peer_cert[256];             /* verified client-certificate identity (SAN or CN), "" if none */
    char peer[128];                  /* transport address (grpc_call_get_peer), "" if none */
    char authority[128];             /* the call's :authority (host), "" if none */
    /* Transport hooks: NULL when invoked without a transport (tests). */
    int (*is_cancelled)(rm_rpc_ctx_t *ctx);
    int (*shutting_down)(rm_rpc_ctx_t *ctx);
    int (*send)(rm_rpc_ctx_t *ctx, const ProtobufCMessage *msg);
    int (*wait)(rm_rpc_ctx_t *ctx, int64_t ms);
    int (*recv)(rm_rpc_ctx_t *ctx, ProtobufCMessage **msg);
    void *transport;                 /* server.c's call object */
    struct rm_server *server;        /* the serving server; NULL without a transport */
};

/* Initialise a context for `m` (not yet bound to a transport). */
void rm__rpc_ctx_init(rm_rpc_ctx_t *ctx, const rm_rpc_method_t *m, void *app);
/* Free the context's scratch memory. */
void rm__rpc_ctx_release(rm_rpc_ctx_t *ctx);

/*
 * Pack `msg` into a freshly malloc'ed buffer (*out, *out_len). Returns 0, or -1
 * on OOM (nothing allocated).
 */
int rm__rpc_encode(const ProtobufCMessage *msg, uint8_t **out, size_t *out_len);

/*
 * Decode, run the unary handler and encode its response. On OK, *resp and
 * *resp_len own a malloc'ed buffer. On failure ctx->msg holds the message.
 */
grpc_status_code rm__rpc_run_unary(rm_rpc_ctx_t *ctx, const uint8_t *req, size_t len,
                                   size_t max_bytes, uint8_t **resp, size_t *resp_len);

#endif /* RUSTYMEM_SERVICE_RPC_INTERNAL_H */
