/*
 * server_internal.h — server state shared by server.c and health.c.
 */
#ifndef RUSTYMEM_SERVICE_SERVER_INTERNAL_H
#define RUSTYMEM_SERVICE_SERVER_INTERNAL_H

#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <pthread.h>

#include "rpc_internal.h"
#include "server.h"

#define RM_SERVER_MAX_THREADS 16
#define RM_STATUS_CODES 17
#define RM_HEALTH_MAX 32

typedef struct rm_health {
    pthread_mutex_t mu;
    struct {
        char name[128];
        int serving;
    } entries[RM_HEALTH_MAX];                 /* guarded by mu */
    int n;                                    /* guarded by mu */
    uint64_t version;                         /* bumped on every change; guarded by mu */
} rm_health_t;

struct rm_server {
    rm_server_opts_t opts;
    const rm_rpc_service_t **services;        /* ours + health; immutable after create */
    size_t n_services;
    grpc_server *server;
    grpc_completion_queue *cq;
    int port;
    pthread_t threads[RM_SERVER_MAX_THREADS];
    int n_threads;
    int shutting_down;                        /* atomic; every access __atomic_* */
    int64_t beat_ms;                          /* monotonic ms when a completion-queue thread last came
                                                 back from grpc_completion_queue_next; atomic */
    int shutdown_started;                     /* rm_server_shutdown ran; guarded by mu */
    int shutdown_tag;                         /* address used as the notify tag */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int shutdown_notified;                    /* guarded by mu */
    int cancelled_all;                        /* guarded by mu */
    int cancelling;                           /* guarded by mu: ticks inside grpc_server_cancel_all_calls */
    gpr_timespec grace_deadline;              /* guarded by mu */
    int live_streams;                         /* guarded by mu */
    struct stream_owner {                     /* live streams per principal; guarded by mu */
        char key[336];                        /* identity, or "peer HOST" for anonymous callers */
        int n;
    } *stream_owners;                         /* max_streams entries (a principal with streams has one) */
    int live_calls;                           /* call objects alive; guarded by mu */
    int live_waiting;                         /* may_wait unary handlers on their own threads; guarded by mu */
    uint64_t status_counts[RM_STATUS_CODES];  /* atomic */
    struct rm_registered {                    /* opts.registered_methods: the unary methods */
        void *handle;                         /* grpc_server_register_method's */
        const rm_rpc_method_t *method;
    } *registered;                            /* immutable after create */
    size_t n_registered;
    uint64_t registered_calls;                /* atomic: calls served on the lean path */
    rm_health_t health;
};

extern const rm_rpc_service_t rm__health_service;
extern const rm_rpc_service_t rm__reflection_v1alpha_service;
extern const rm_rpc_service_t rm__reflection_v1_service;
int rm__health_init(rm_health_t *h, rm_server_t *srv);
void rm__health_destroy(rm_health_t *h);
void rm__server_tick(rm_server_t *srv);

/*
 * tls.c: the listening port's credentials for opts (insecure when neither a
 * certificate nor a key is given; TLS, or mTLS with tls_client_ca_file).
 * NULL with a reason naming the file or flag in err.
 */
grpc_server_credentials *rm__tls_server_credentials(const rm_server_opts_t *o, char *err, size_t errcap);
/* tls.c: the verified client-certificate identity (SAN, else CN) of an mTLS
 * call into out (cap bytes, NUL-terminated); out is left alone when none. */
void rm__tls_peer_identity(grpc_call *call, char *out, size_t cap);

#endif /* RUSTYMEM_SERVICE_SERVER_INTERNAL_H */
