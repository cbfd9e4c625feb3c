/*
 * dispatch.c — method lookup and the unary runner: decode the request, run
 * the handler on a response the runtime initialised, pack the response.
 * Transport-free, like codec.c: server.c calls rm__rpc_run_unary with the
 * bytes it received, tests call it with the bytes they choose.
 */
#include "rpc_internal.h"

#include <string.h>

grpc_status_code
rm__rpc_run_unary(rm_rpc_ctx_t *ctx, const uint8_t *req, size_t len, size_t max_bytes,
                  uint8_t **resp, size_t *resp_len)
{
    const rm_rpc_method_t *m = ctx->method;
    ProtobufCMessage *in = NULL;
    grpc_status_code code = rm_rpc_decode(m->request, req, len, max_bytes, &in, ctx->msg);
    if (code != GRPC_STATUS_OK)
        return code;

    ProtobufCMessage *out = rm_rpc_alloc(ctx, m->response->sizeof_message);
    if (!out) {
        protobuf_c_message_free_unpacked(in, NULL);
        return rm_rpc_fail(ctx, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory for the response");
    }
    m->response->message_init(out);
    code = m->unary(ctx, in, out);
    protobuf_c_message_free_unpacked(in, NULL);
    if (code != GRPC_STATUS_OK) {
        if (!ctx->msg[0])
            rm_rpc_error(ctx, "%s failed", m->path);
        return code;
    }
    if (rm__rpc_encode(out, resp, resp_len) < 0)
        return rm_rpc_fail(ctx, GRPC_STATUS_RESOURCE_EXHAUSTED,
                           "out of memory packing the response: the call itself completed and its "
                           "effect stands; read the state back before retrying");
    return GRPC_STATUS_OK;
}

/* ---- lookup ----------------------------------------------------------------- */

const rm_rpc_method_t *
rm_rpc_find(const rm_rpc_service_t *const *services, size_t n_services, const char *path,
            size_t path_len)
{
    for (size_t s = 0; s < n_services; s++)
        for (size_t i = 0; i < services[s]->n_methods; i++) {
            const rm_rpc_method_t *m = &services[s]->methods[i];
            if (strlen(m->path) == path_len && memcmp(m->path, path, path_len) == 0)
                return m;
        }
    return NULL;
}
