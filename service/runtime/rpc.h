/*
 * rpc.h — the method table and per-call context of rustymem's gRPC runtime.
 *
 * gRPC has no C code generator for services, so this runtime binds gRPC C core
 * (transport, HTTP/2, TLS) to protobuf-c (messages). A service is a constant
 * array of rm_rpc_method_t: full method path, request/response descriptors, a
 * kind (unary or server streaming) and a handler.
 *
 * Handlers never see gRPC types. A unary handler fills a response that the
 * runtime allocated and initialised; strings, bytes and repeated fields inside
 * it are allocated with rm_rpc_alloc() from the call's scratch arena, which the
 * runtime frees after the response is packed. A streaming handler sends each
 * message with rm_rpc_stream_send() and returns the final status.
 *
 * Errors: a handler returns a gRPC status code (GRPC_STATUS_OK on success) and,
 * for failures, sets the message with rm_rpc_error(), which must name the field
 * and the allowed range for bad arguments. rm_rpc_status_from_rm()
 * (status_map.c) is the one place where memcore's rm_status_t codes map to
 * gRPC codes.
 */
#ifndef RUSTYMEM_SERVICE_RPC_H
#define RUSTYMEM_SERVICE_RPC_H

#include <grpc/status.h>
#include <protobuf-c/protobuf-c.h>
#include <stddef.h>
#include <stdint.h>

#include "rm_base.h"   /* memcore's status codes, without memcore (service/common) */

#ifdef __cplusplus
extern "C" {
#endif

#define RM_RPC_MSG_MAX 512   /* bytes of a status message, including NUL */
#define RM_RPC_REPEATED_MAX 1024u /* elements of one repeated field in a request */

typedef struct rm_rpc_ctx rm_rpc_ctx_t;

typedef enum rm_rpc_kind {
    RM_RPC_UNARY = 0,
    RM_RPC_SERVER_STREAM = 1,
    RM_RPC_BIDI_STREAM = 2,   /* handler reads requests with rm_rpc_stream_recv() */
} rm_rpc_kind_t;

/* Who may call a method (enforced by the auth layer when one is configured). */
typedef enum rm_rpc_role {
    RM_ROLE_ANY = 0,      /* health checks: no credentials needed */
    RM_ROLE_READER = 1,   /* read-only statistics */
    RM_ROLE_ADMIN = 2,    /* anything that changes state */
    RM_ROLE_CLIENT = 3,   /* data-plane sessions */
} rm_rpc_role_t;

/*
 * Unary handler: read `req`, fill `resp` (already initialised with its
 * descriptor's defaults). Returns GRPC_STATUS_OK or an error code after
 * rm_rpc_error(). On error the response is discarded.
 */
typedef grpc_status_code (*rm_rpc_unary_fn)(rm_rpc_ctx_t *ctx, const ProtobufCMessage *req,
                                            ProtobufCMessage *resp);
/*
 * Streaming handler: runs on a thread of its own; sends messages with
 * rm_rpc_stream_send() and returns the final status. Must return promptly once
 * rm_rpc_cancelled() is true (client gone, deadline passed, server stopping).
 * For server streaming `req` is the decoded request; for bidirectional
 * streaming it is NULL and the handler reads requests with
 * rm_rpc_stream_recv().
 */
typedef grpc_status_code (*rm_rpc_stream_fn)(rm_rpc_ctx_t *ctx, const ProtobufCMessage *req);

typedef struct rm_rpc_method {
    const char *path;                               /* "/rustymem.v1.MemoryService/GetMemoryStats" */
    const ProtobufCMessageDescriptor *request;
    const ProtobufCMessageDescriptor *response;
    rm_rpc_kind_t kind;
    rm_rpc_role_t role;
    rm_rpc_unary_fn unary;                          /* when kind == RM_RPC_UNARY */
    rm_rpc_stream_fn stream;                        /* when kind == RM_RPC_SERVER_STREAM */
    const void *data;                               /* handler-specific constant data, may be NULL */
    /* Unary only: the handler may wait a long time (a disk write, a rollout):
     * the server runs it on a thread of its own (up to RM_RPC_MAX_WAITING at
     * once, beyond that on the completion-queue thread as any other), so the
     * completion-queue threads keep serving Health and the other calls. */
    int may_wait;
} rm_rpc_method_t;

/* Unary calls of may_wait methods that run on their own threads at once. */
#define RM_RPC_MAX_WAITING 16

/* Table entries: RM_RPC_UNARY_METHOD("/pkg.Svc/M", req_descriptor, resp_descriptor, role, fn). */
#define RM_RPC_UNARY_METHOD(path_, req_, resp_, role_, fn_)                               \
    {.path = (path_), .request = &(req_), .response = &(resp_), .kind = RM_RPC_UNARY,      \
     .role = (role_), .unary = (fn_), .stream = NULL, .data = NULL}
/* A unary method whose handler may wait long (rm_rpc_method_t.may_wait). */
#define RM_RPC_UNARY_WAITING_METHOD(path_, req_, resp_, role_, fn_)                       \
    {.path = (path_), .request = &(req_), .response = &(resp_), .kind = RM_RPC_UNARY,      \
     .role = (role_), .unary = (fn_), .stream = NULL, .data = NULL, .may_wait = 1}
#define RM_RPC_STREAM_METHOD(path_, req_, resp_, role_, fn_)                              \
    {.path = (path_), .request = &(req_), .response = &(resp_), .kind = RM_RPC_SERVER_STREAM, \
     .role = (role_), .unary = NULL, .stream = (fn_), .data = NULL}
#define RM_RPC_BIDI_METHOD(path_, req_, resp_, role_, fn_)                                \
    {.path = (path_), .request = &(req_), .response = &(resp_), .kind = RM_RPC_BIDI_STREAM,  \
     .role = (role_), .unary = NULL, .stream = (fn_), .data = NULL}

/* A service: its fully-qualified name (for health and reflection) and methods. */
typedef struct rm_rpc_service {
    const char *name;                               /* "rustymem.v1.MemoryService" */
    const rm_rpc_method_t *methods;
    size_t n_methods;
} rm_rpc_service_t;

/* The initializer of a service whose methods are the array methods_. */
#define RM_RPC_SERVICE(name_, methods_)                                                    \
    {.name = (name_), .methods = (methods_), .n_methods = sizeof(methods_) / sizeof((methods_)[0])}

/* ---- per-call context (valid only during the handler) -------------------- */

/*
 * Scratch memory that lives until the call's response is sent. Returns zeroed
 * memory, or NULL when out of memory (the handler should then return
 * RESOURCE_EXHAUSTED). Thread-safe for the call's own handler only.
 */
void *rm_rpc_alloc(rm_rpc_ctx_t *ctx, size_t bytes);
/* Copy a NUL-terminated string into scratch memory; NULL on OOM. */
char *rm_rpc_strdup(rm_rpc_ctx_t *ctx, const char *s);
/*
 * A repeated message field of n elements of type d, in scratch memory: an
 * array of n pointers (room for one when n = 0), each to its own message
 * initialised as d's defaults. Assign it to the field (`resp->items =`) and
 * fill the elements through it; set n_items to how many are used. NULL on OOM.
 */
void *rm_rpc_alloc_messages(rm_rpc_ctx_t *ctx, const ProtobufCMessageDescriptor *d, size_t n);

/* Set the status message (printf-style, truncated to RM_RPC_MSG_MAX - 1). */
void rm_rpc_error(rm_rpc_ctx_t *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Convenience: set the message and return `code`. */
grpc_status_code rm_rpc_fail(rm_rpc_ctx_t *ctx, grpc_status_code code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/*
 * Value of request metadata `key` (lower-case), or NULL. *len receives its
 * length: metadata values are not NUL-terminated. Valid during the handler.
 */
const char *rm_rpc_metadata(rm_rpc_ctx_t *ctx, const char *key, size_t *len);

/* The application pointer given to the server (e.g. the node state). */
void *rm_rpc_app(rm_rpc_ctx_t *ctx);
/* The method being served. */
const rm_rpc_method_t *rm_rpc_method(rm_rpc_ctx_t *ctx);
/* Milliseconds until the call's deadline; INT64_MAX when there is none. */
int64_t rm_rpc_remaining_ms(rm_rpc_ctx_t *ctx);
/* The authenticated identity of the caller ("" when none). */
const char *rm_rpc_identity(rm_rpc_ctx_t *ctx);
/* The caller's transport address as gRPC names it ("ipv4:127.0.0.1:41234",
 * "unix:…"); "" without a transport. For audit lines. */
const char *rm_rpc_peer(rm_rpc_ctx_t *ctx);
/* The call's :authority as the client sent it (truncated to 127 bytes); ""
 * without a transport. tools/fleetsim answers as the agent it names. */
const char *rm_rpc_authority(rm_rpc_ctx_t *ctx);

/*
 * True once the call can no longer complete usefully: the client cancelled or
 * went away, the deadline passed, or the server is shutting down.
 */
int rm_rpc_cancelled(rm_rpc_ctx_t *ctx);

/* True once the server has begun a graceful shutdown (a subset of cancelled). */
int rm_rpc_shutting_down(rm_rpc_ctx_t *ctx);

/*
 * Streaming only: send one message and wait until gRPC has taken it. Returns 0
 * on success, -1 when the stream is broken (the handler should return).
 */
int rm_rpc_stream_send(rm_rpc_ctx_t *ctx, const ProtobufCMessage *msg);
/*
 * Bidirectional streaming only: wait for the next request. Returns 1 with *msg
 * (free with protobuf_c_message_free_unpacked(*msg, NULL)), 0 when the client
 * has finished sending, -1 when the call is broken or the message is invalid
 * (the reason is then in the status message).
 */
int rm_rpc_stream_recv(rm_rpc_ctx_t *ctx, ProtobufCMessage **msg);

/*
 * Streaming only: sleep up to `ms` milliseconds, returning early (with 1) when
 * the call is cancelled or rm_rpc_wakeup() is called for it; 0 on timeout.
 */
int rm_rpc_wait(rm_rpc_ctx_t *ctx, int64_t ms);

/* ---- codec and dispatch (transport-free, unit-testable) ------------------ */

/*
 * Decode `len` bytes into a message of `desc`. Checks the size against
 * `max_bytes` (RESOURCE_EXHAUSTED), the wire format (INVALID_ARGUMENT) and the
 * UTF-8 validity of every string field, recursively (INVALID_ARGUMENT naming
 * the field). On success *out owns a message to free with
 * protobuf_c_message_free_unpacked(*out, NULL). On failure *out is NULL and
 * `msg` (RM_RPC_MSG_MAX bytes) says why.
 */
grpc_status_code rm_rpc_decode(const ProtobufCMessageDescriptor *desc, const uint8_t *data,
                               size_t len, size_t max_bytes, ProtobufCMessage **out, char *msg);

/*
 * Find a method by its full path among `services`. Returns NULL when unknown.
 */
const rm_rpc_method_t *rm_rpc_find(const rm_rpc_service_t *const *services, size_t n_services,
                                   const char *path, size_t path_len);

/* The one mapping of memcore status codes to gRPC status codes (status_map.c). */
grpc_status_code rm_rpc_status_from_rm(rm_status_t st);
/*
 * The same map for the data plane (SessionService), where two codes carry a
 * retry decision: RM_EBUSY → UNAVAILABLE, RM_ECANCELED → ABORTED; every other
 * code as rm_rpc_status_from_rm(). Also in status_map.c.
 */
grpc_status_code rm_rpc_status_from_rm_data(rm_status_t st);

/* "OK", "INVALID_ARGUMENT", … for a gRPC status code; static string. */
const char *rm_rpc_status_name(grpc_status_code code);

#ifdef __cplusplus
}
#endif
#endif /* RUSTYMEM_SERVICE_RPC_H */
