/*
 * services.c — the list of services rustymemd serves, and UNIMPLEMENTED
 * placeholders for API services whose capability has not landed yet.
 *
 * Design note: the placeholder tables are derived from protobuf-c's service
 * descriptors, so every RPC of the .proto files is reachable (with a clear
 * status) from the first build on, and a service leaves this list the moment
 * its real table exists. Tables built here are freed with
 * rm_node_services_free().
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host.h"
#include "rpc_internal.h"
#include "rustymem/v1/emergency.pb-c.h"
#include "rustymem/v1/forecast.pb-c.h"
#include "rustymem/v1/tuning.pb-c.h"

typedef struct pending {
    rm_rpc_service_t svc;
    rm_rpc_method_t methods[];
} pending_t;

grpc_status_code
rm_host_unimplemented(rm_rpc_ctx_t *ctx, const char *fmt, ...)
{
    char reason[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(reason, sizeof reason, fmt, ap);
    va_end(ap);
    return rm_rpc_fail(ctx, GRPC_STATUS_UNIMPLEMENTED, "%s: %s", strrchr(rm_rpc_method(ctx)->path, '/') + 1,
                       reason);
}

static grpc_status_code
pending_handler(rm_rpc_ctx_t *ctx, const ProtobufCMessage *req, ProtobufCMessage *resp)
{
    const rm_rpc_method_t *m = rm_rpc_method(ctx);
    return rm_rpc_fail(ctx, GRPC_STATUS_UNIMPLEMENTED, "%s: %s", m->path + 1,
                       m->data ? (const char *)m->data : "not implemented yet");
}

const rm_rpc_service_t *
rm_pending_service(const ProtobufCServiceDescriptor *desc, const char *reason, rm_rpc_role_t role)
{
    /* One block: the service, its methods, then the method paths. */
    size_t paths = 0;
    for (unsigned i = 0; i < desc->n_methods; i++)
        paths += strlen(desc->name) + strlen(desc->methods[i].name) + 3;
    size_t head = sizeof(pending_t) + desc->n_methods * sizeof(rm_rpc_method_t);
    pending_t *p = calloc(1, head + paths);
    if (!p)
        return NULL;
    char *path = (char *)p + head;
    p->svc.name = desc->name;
    p->svc.methods = p->methods;
    p->svc.n_methods = desc->n_methods;
    for (unsigned i = 0; i < desc->n_methods; i++) {
        size_t n = strlen(desc->name) + strlen(desc->methods[i].name) + 3;
        snprintf(path, n, "/%s/%s", desc->name, desc->methods[i].name);
        p->methods[i] = (rm_rpc_method_t){
            .path = path,
            .request = desc->methods[i].input,
            .response = desc->methods[i].output,
            .kind = RM_RPC_UNARY,
            .role = role,
            .unary = pending_handler,
            .data = reason,
        };
        path += n;
    }
    return &p->svc;
}

void
rm_pending_service_free(const rm_rpc_service_t *svc)
{
    /* svc is the first member of its pending_t block */
    free((void *)svc);
}

int
rm_node_services(const rm_rpc_service_t **out, size_t cap)
{
    /* Every API service is hosted now; a capability that is not yet built
     * would be added here as rm_pending_service(descriptor, reason, role). */
    const rm_rpc_service_t *const hosted[] = {&rm_memory_service, &rm_tuning_service, &rm_emergency_service,
                                              &rm_forecast_service, &rm_session_service};
    size_t n = 0;
    for (size_t i = 0; i < sizeof hosted / sizeof hosted[0] && n < cap; i++)
        out[n++] = hosted[i];
    return (int)n;
}

void
rm_node_services_free(const rm_rpc_service_t **svcs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (svcs[i]->methods[0].unary == pending_handler)
            rm_pending_service_free(svcs[i]);
}
