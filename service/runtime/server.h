/*
 * server.h — rustymem's gRPC server on gRPC C core.
 *
 * One completion queue served by `cq_threads` threads. Unary handlers run on
 * the completion-queue thread that read the request (they are quick: stats
 * reads, knob sets); server-streaming handlers each get a thread of their own,
 * bounded by `max_streams` (RESOURCE_EXHAUSTED beyond). Every call ends with a
 * status and a message.
 *
 * Shutdown (rm_server_shutdown, e.g. from a SIGTERM handler thread): stop
 * accepting, mark health NOT_SERVING, let in-flight calls finish, tell
 * streaming handlers to return (rm_rpc_cancelled() becomes true), and after
 * `shutdown_grace_ms` cancel whatever is left. rm_server_wait() returns when
 * everything is gone.
 */
#ifndef RUSTYMEM_SERVICE_SERVER_H
#define RUSTYMEM_SERVICE_SERVER_H

#include <grpc/impl/codegen/grpc_types.h>
#include <stddef.h>
#include <stdint.h>

#include "rpc.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct rm_server rm_server_t;

/*
 * Authorisation hook, called before a request is decoded. Return
 * GRPC_STATUS_OK to proceed, or an error code (UNAUTHENTICATED,
 * PERMISSION_DENIED) after rm_rpc_error(). May set the caller's identity via
 * the context. NULL = everyone may call everything.
 */
typedef grpc_status_code (*rm_server_auth_fn)(void *auth_ctx, rm_rpc_ctx_t *ctx);

typedef struct rm_server_opts {
    const char *listen;            /* "127.0.0.1:50051", "[::1]:0", "unix:/path"; port 0 = ephemeral */
    int cq_threads;                /* completion-queue threads; 0 = 2 */
    size_t max_request_bytes;      /* larger requests get RESOURCE_EXHAUSTED; 0 = 4 MiB */
    int max_streams;               /* concurrent server streams; 0 = 256 */
    int max_streams_per_principal; /* of those, at most this many for one caller (identity, or the peer's
                                      host when anonymous): one reader's 256 WatchStats kept an admin out
                                      of WatchPressure; 0 = half of max_streams */
    int shutdown_grace_ms;         /* in-flight calls get this long after shutdown; 0 = 3000 */
    uint64_t max_connections;      /* accepted connections at once; beyond it new ones are closed at
                                      once; 0 = automatic (the fd limit minus a reserve). Enables the
                                      accept guard (accept_guard.h): the listener survives EMFILE */
    void *app;                     /* handed to handlers through rm_rpc_app() */
    rm_server_auth_fn auth;        /* may be NULL */
    void *auth_ctx;
    /* TLS: PEM file paths; all NULL = plaintext. client_ca set = mTLS (required). */
    const char *tls_cert_file;
    const char *tls_key_file;
    const char *tls_client_ca_file;
    /* 1: unary methods are gRPC registered methods whose request message comes
     * with the call (GRPC_SRM_PAYLOAD_READ_INITIAL_BYTE_BUFFER) and whose final
     * batch also receives the close: two completion-queue events per call
     * instead of four (docs/adr/0031). Unknown methods and streams still come
     * through the generic request. Their handlers see no :authority
     * (rm_rpc_authority is "") and no client cancellation (the deadline and
     * shutdown still show in rm_rpc_cancelled). 0: every call is generic. */
    int registered_methods;
    const grpc_channel_args *extra_args; /* up to 16 more server channel args (read by rm_server_create), or NULL */
} rm_server_opts_t;

/*
 * Create a server that serves `services` (the array and the services must
 * outlive the server) plus grpc.health.v1.Health and server reflection
 * (grpc.reflection.v1alpha and v1). Binds the address but does
 * not start serving. Returns RM_OK with *out; on failure (bad address, port in
 * use, unreadable TLS files) returns RM_EINVAL/RM_EIO/RM_ENOMEM, writes one
 * line to `err` (errcap bytes) and leaves nothing behind.
 */
rm_status_t rm_server_create(const rm_server_opts_t *opts, const rm_rpc_service_t *const *services,
                             size_t n_services, rm_server_t **out, char *err, size_t errcap);

/* The bound TCP port (useful with port 0), or 0 for unix: addresses. */
int rm_server_port(const rm_server_t *srv);

/* Start the completion-queue threads. RM_OK, or RM_ENOMEM if a thread cannot start. */
rm_status_t rm_server_start(rm_server_t *srv);

/* Calls served on the lean unary path (opts.registered_methods) so far. Thread-safe. */
uint64_t rm_server_registered_calls(const rm_server_t *srv);

/*
 * 1 when a completion-queue thread came back from waiting within the last
 * max_age_ms (they wake at least every 100 ms while idle), 0 when every one
 * has been stuck longer — a handler that never returns, a deadlock. For a
 * watchdog keep-alive (systemd WatchdogSec). Thread-safe, lock-free.
 */
int rm_server_alive(const rm_server_t *srv, int64_t max_age_ms);

/*
 * Begin a graceful shutdown. Idempotent, thread-safe, returns at once.
 * Not async-signal-safe: call it from a normal thread (sigwait loop).
 */
void rm_server_shutdown(rm_server_t *srv);

/* Block until the server has shut down completely (after rm_server_shutdown). */
void rm_server_wait(rm_server_t *srv);

/* Free everything. Only after rm_server_wait(). NULL is a no-op. */
void rm_server_destroy(rm_server_t *srv);

/*
 * Health: set the serving status of a service name ("" = the whole server).
 * Services passed to rm_server_create start SERVING. Thread-safe.
 */
void rm_server_set_serving(rm_server_t *srv, const char *service, int serving);

/* Calls served so far by status code (index = grpc_status_code, 0..16). */
void rm_server_call_counts(rm_server_t *srv, uint64_t out[17]);

#ifdef __cplusplus
}
#endif
#endif /* RUSTYMEM_SERVICE_SERVER_H */
