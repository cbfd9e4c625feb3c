/*
 * health.c — grpc.health.v1.Health, per the gRPC health-checking protocol.
 *
 * Check: "" is the whole server; a known service name answers its status; an
 * unknown one is NOT_FOUND. Watch: sends the current status at once (an
 * unknown service is SERVICE_UNKNOWN and the stream stays open), then a
 * message on every change; at shutdown watchers get NOT_SERVING before the
 * stream ends.
 *
 * Design note: the handlers find the health table through the call's transport
 * (the server), not through the application pointer, so health works for every
 * program that embeds the runtime (agent, fleet controller).
 */
#include "server_internal.h"

#include <string.h>

#include "grpc/health/v1/health.pb-c.h"

int
rm__health_init(rm_health_t *h, rm_server_t *srv)
{
    (void)srv;
    memset(h, 0, sizeof *h);
    return pthread_mutex_init(&h->mu, NULL) == 0 ? 0 : -1;
}

void
rm__health_destroy(rm_health_t *h)
{
    pthread_mutex_destroy(&h->mu);
}

void
rm_server_set_serving(rm_server_t *srv, const char *service, int serving)
{
    rm_health_t *h = &srv->health;
    pthread_mutex_lock(&h->mu);
    int i;
    for (i = 0; i < h->n; i++)
        if (strcmp(h->entries[i].name, service) == 0)
            break;
    if (i == h->n && h->n < RM_HEALTH_MAX) {
        strncpy(h->entries[i].name, service, sizeof h->entries[i].name - 1);
        h->n++;
    }
    if (i < h->n && h->entries[i].serving != serving) {
        h->entries[i].serving = serving;
        h->version++;
    } else if (i < h->n && h->version == 0) {
        h->version++;
    }
    pthread_mutex_unlock(&h->mu);
}

/* Status of `name`: SERVING / NOT_SERVING, or SERVICE_UNKNOWN. */
static Grpc__Health__V1__HealthCheckResponse__ServingStatus
lookup(rm_rpc_ctx_t *ctx, const char *name)
{
    rm_health_t *h = &ctx->server->health;
    Grpc__Health__V1__HealthCheckResponse__ServingStatus st =
        GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVICE_UNKNOWN;
    pthread_mutex_lock(&h->mu);
    for (int i = 0; i < h->n; i++)
        if (strcmp(h->entries[i].name, name) == 0)
            st = h->entries[i].serving ? GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING
                                       : GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__NOT_SERVING;
    pthread_mutex_unlock(&h->mu);
    return st;
}

static grpc_status_code
health_check(rm_rpc_ctx_t *ctx, const ProtobufCMessage *req_, ProtobufCMessage *resp_)
{
    const Grpc__Health__V1__HealthCheckRequest *req = (const void *)req_;
    Grpc__Health__V1__HealthCheckResponse *resp = (void *)resp_;
    if (!ctx->server)
        return rm_rpc_fail(ctx, GRPC_STATUS_FAILED_PRECONDITION, "health needs a server");
    resp->status = lookup(ctx, req->service ? req->service : "");
    if (resp->status == GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVICE_UNKNOWN)
        return rm_rpc_fail(ctx, GRPC_STATUS_NOT_FOUND, "service '%s' is unknown to this server",
                           req->service);
    return GRPC_STATUS_OK;
}

static grpc_status_code
health_watch(rm_rpc_ctx_t *ctx, const ProtobufCMessage *req_)
{
    const Grpc__Health__V1__HealthCheckRequest *req = (const void *)req_;
    const char *name = req->service ? req->service : "";
    int last = -1;
    for (;;) {
        Grpc__Health__V1__HealthCheckResponse resp = GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__INIT;
        resp.status = lookup(ctx, name);
        if ((int)resp.status != last) {
            if (rm_rpc_stream_send(ctx, &resp.base) < 0 && !rm_rpc_cancelled(ctx))
                return rm_rpc_fail(ctx, GRPC_STATUS_UNAVAILABLE, "health stream broken");
            last = (int)resp.status;
        }
        if (rm_rpc_cancelled(ctx))
            break;
        rm_rpc_wait(ctx, 200);
    }
    /* Shutting down: a final NOT_SERVING was sent above if the status changed. */
    return rm_rpc_fail(ctx, GRPC_STATUS_UNAVAILABLE, "server shutting down");
}

static const rm_rpc_method_t health_methods[] = {
    RM_RPC_UNARY_METHOD("/grpc.health.v1.Health/Check", grpc__health__v1__health_check_request__descriptor,
                        grpc__health__v1__health_check_response__descriptor, RM_ROLE_ANY, health_check),
    RM_RPC_STREAM_METHOD("/grpc.health.v1.Health/Watch", grpc__health__v1__health_check_request__descriptor,
                         grpc__health__v1__health_check_response__descriptor, RM_ROLE_ANY, health_watch),
};

const rm_rpc_service_t rm__health_service = RM_RPC_SERVICE("grpc.health.v1.Health", health_methods);
