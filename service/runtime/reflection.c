/*
 * reflection.c — gRPC server reflection (grpc.reflection.v1alpha and v1
 * ServerReflection/ServerReflectionInfo), so generic tools can list and call
 * our services without stubs.
 *
 * Design note: protoc writes a FileDescriptorSet of every served .proto at
 * build time and the build embeds it (rm_descriptor_set). On first use it is
 * decoded once with protobuf-c's descriptor.proto bindings and each file is
 * kept both decoded (to search symbols) and packed (to send). Responses carry
 * the requested file and all of its transitive dependencies. v1 and v1alpha
 * messages are identical on the wire, so one handler serves both paths.
 * list_services answers from the server's own service table, so it lists
 * exactly what this process serves.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "google/protobuf/descriptor.pb-c.h"
#include "grpc/reflection/v1alpha/reflection.pb-c.h"
#include "server_internal.h"

extern const unsigned char rm_descriptor_set[];
extern const unsigned long rm_descriptor_set_len;

typedef struct refl_file {
    const Google__Protobuf__FileDescriptorProto *fd;
    uint8_t *bytes;
    size_t len;
} refl_file_t;

static struct {
    pthread_once_t once;
    Google__Protobuf__FileDescriptorSet *set;
    refl_file_t *files;
    size_t n;
} refl = {.once = PTHREAD_ONCE_INIT};

static void
refl_init(void)
{
    refl.set = google__protobuf__file_descriptor_set__unpack(NULL, rm_descriptor_set_len, rm_descriptor_set);
    if (!refl.set)
        return;
    refl.files = calloc(refl.set->n_file ? refl.set->n_file : 1, sizeof *refl.files);
    if (!refl.files)
        return;
    for (size_t i = 0; i < refl.set->n_file; i++) {
        const Google__Protobuf__FileDescriptorProto *fd = refl.set->file[i];
        size_t len = google__protobuf__file_descriptor_proto__get_packed_size(fd);
        uint8_t *b = malloc(len ? len : 1);
        if (!b)
            return;
        google__protobuf__file_descriptor_proto__pack(fd, b);
        refl.files[refl.n++] = (refl_file_t){fd, b, len};
    }
}

static const refl_file_t *
by_name(const char *name)
{
    for (size_t i = 0; i < refl.n; i++)
        if (strcmp(refl.files[i].fd->name, name) == 0)
            return &refl.files[i];
    return NULL;
}

/* Does `sym` (relative to the file's package) name a message, nested message or enum in `msgs`? */
static int
has_message(Google__Protobuf__DescriptorProto *const *msgs, size_t n, const char *sym)
{
    for (size_t i = 0; i < n; i++) {
        const char *name = msgs[i]->name;
        size_t len = strlen(name);
        if (strcmp(sym, name) == 0)
            return 1;
        if (strncmp(sym, name, len) == 0 && sym[len] == '.') {
            const char *rest = sym + len + 1;
            if (has_message(msgs[i]->nested_type, msgs[i]->n_nested_type, rest))
                return 1;
            for (size_t e = 0; e < msgs[i]->n_enum_type; e++)
                if (strcmp(rest, msgs[i]->enum_type[e]->name) == 0)
                    return 1;
        }
    }
    return 0;
}

static const refl_file_t *
by_symbol(const char *symbol)
{
    for (size_t i = 0; i < refl.n; i++) {
        const Google__Protobuf__FileDescriptorProto *fd = refl.files[i].fd;
        const char *pkg = fd->package ? fd->package : "";
        size_t plen = strlen(pkg);
        const char *sym = symbol;
        if (plen) {
            if (strncmp(symbol, pkg, plen) != 0 || symbol[plen] != '.')
                continue;
            sym = symbol + plen + 1;
        }
        for (size_t s = 0; s < fd->n_service; s++) {
            const char *name = fd->service[s]->name;
            size_t len = strlen(name);
            if (strcmp(sym, name) == 0)
                return &refl.files[i];
            if (strncmp(sym, name, len) == 0 && sym[len] == '.')
                for (size_t m = 0; m < fd->service[s]->n_method; m++)
                    if (strcmp(sym + len + 1, fd->service[s]->method[m]->name) == 0)
                        return &refl.files[i];
        }
        if (has_message(fd->message_type, fd->n_message_type, sym))
            return &refl.files[i];
        for (size_t e = 0; e < fd->n_enum_type; e++)
            if (strcmp(sym, fd->enum_type[e]->name) == 0)
                return &refl.files[i];
    }
    return NULL;
}

/* Append f and its transitive dependencies (each once) to out[]. */
static void
with_deps(const refl_file_t *f, const refl_file_t **out, size_t *n, size_t cap)
{
    for (size_t i = 0; i < *n; i++)
        if (out[i] == f)
            return;
    if (*n == cap)
        return;
    out[(*n)++] = f;
    for (size_t d = 0; d < f->fd->n_dependency; d++) {
        const refl_file_t *dep = by_name(f->fd->dependency[d]);
        if (dep)
            with_deps(dep, out, n, cap);
    }
}

static grpc_status_code
reflection_info(rm_rpc_ctx_t *ctx, const ProtobufCMessage *unused)
{
    (void)unused;
    pthread_once(&refl.once, refl_init);
    if (!refl.set || refl.n != refl.set->n_file)
        return rm_rpc_fail(ctx, GRPC_STATUS_INTERNAL, "the embedded descriptor set cannot be decoded");
    rm_server_t *srv = ctx->server;
    for (;;) {
        ProtobufCMessage *m;
        int r = rm_rpc_stream_recv(ctx, &m);
        if (r == 0)
            return GRPC_STATUS_OK;
        if (r < 0)
            return ctx->msg[0] ? GRPC_STATUS_INVALID_ARGUMENT
                               : rm_rpc_fail(ctx, GRPC_STATUS_CANCELLED, "reflection stream ended");
        Grpc__Reflection__V1alpha__ServerReflectionRequest *req = (void *)m;
        Grpc__Reflection__V1alpha__ServerReflectionResponse resp =
            GRPC__REFLECTION__V1ALPHA__SERVER_REFLECTION_RESPONSE__INIT;
        Grpc__Reflection__V1alpha__FileDescriptorResponse fdr =
            GRPC__REFLECTION__V1ALPHA__FILE_DESCRIPTOR_RESPONSE__INIT;
        Grpc__Reflection__V1alpha__ListServiceResponse lsr = GRPC__REFLECTION__V1ALPHA__LIST_SERVICE_RESPONSE__INIT;
        Grpc__Reflection__V1alpha__ErrorResponse err = GRPC__REFLECTION__V1ALPHA__ERROR_RESPONSE__INIT;
        Grpc__Reflection__V1alpha__ServiceResponse svc[RM_HEALTH_MAX];
        Grpc__Reflection__V1alpha__ServiceResponse *svcp[RM_HEALTH_MAX];
        ProtobufCBinaryData blobs[64];
        const refl_file_t *found[64];
        size_t nfound = 0;
        char errmsg[256];
        resp.valid_host = req->host;
        resp.original_request = req;

        const refl_file_t *f = NULL;
        switch (req->message_request_case) {
        case GRPC__REFLECTION__V1ALPHA__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_LIST_SERVICES:
            for (size_t i = 0; i < srv->n_services && i < RM_HEALTH_MAX; i++) {
                grpc__reflection__v1alpha__service_response__init(&svc[i]);
                svc[i].name = (char *)srv->services[i]->name;
                svcp[i] = &svc[i];
                lsr.n_service++;
            }
            lsr.service = svcp;
            resp.message_response_case =
                GRPC__REFLECTION__V1ALPHA__SERVER_REFLECTION_RESPONSE__MESSAGE_RESPONSE_LIST_SERVICES_RESPONSE;
            resp.list_services_response = &lsr;
            break;
        case GRPC__REFLECTION__V1ALPHA__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_FILE_BY_FILENAME:
            f = by_name(req->file_by_filename);
            snprintf(errmsg, sizeof errmsg, "file_by_filename = '%s': no such file", req->file_by_filename);
            break;
        case GRPC__REFLECTION__V1ALPHA__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_FILE_CONTAINING_SYMBOL:
            f = by_symbol(req->file_containing_symbol);
            snprintf(errmsg, sizeof errmsg, "file_containing_symbol = '%s': no such symbol",
                     req->file_containing_symbol);
            break;
        default:
            snprintf(errmsg, sizeof errmsg, "this server defines no extensions");
            break;
        }
        if (resp.message_response_case == 0 && f) {
            with_deps(f, found, &nfound, 64);
            for (size_t i = 0; i < nfound; i++)
                blobs[i] = (ProtobufCBinaryData){found[i]->len, found[i]->bytes};
            fdr.n_file_descriptor_proto = nfound;
            fdr.file_descriptor_proto = blobs;
            resp.message_response_case =
                GRPC__REFLECTION__V1ALPHA__SERVER_REFLECTION_RESPONSE__MESSAGE_RESPONSE_FILE_DESCRIPTOR_RESPONSE;
            resp.file_descriptor_response = &fdr;
        } else if (resp.message_response_case == 0) {
            err.error_code = GRPC_STATUS_NOT_FOUND;
            err.error_message = errmsg;
            resp.message_response_case =
                GRPC__REFLECTION__V1ALPHA__SERVER_REFLECTION_RESPONSE__MESSAGE_RESPONSE_ERROR_RESPONSE;
            resp.error_response = &err;
        }
        int sent = rm_rpc_stream_send(ctx, &resp.base);
        protobuf_c_message_free_unpacked(m, NULL);
        if (sent < 0)
            return rm_rpc_fail(ctx, GRPC_STATUS_CANCELLED, "reflection stream ended");
    }
}

static const rm_rpc_method_t v1alpha_methods[] = {
    RM_RPC_BIDI_METHOD("/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
                       grpc__reflection__v1alpha__server_reflection_request__descriptor,
                       grpc__reflection__v1alpha__server_reflection_response__descriptor, RM_ROLE_READER,
                       reflection_info),
};
static const rm_rpc_method_t v1_methods[] = {
    RM_RPC_BIDI_METHOD("/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
                       grpc__reflection__v1alpha__server_reflection_request__descriptor,
                       grpc__reflection__v1alpha__server_reflection_response__descriptor, RM_ROLE_READER,
                       reflection_info),
};

const rm_rpc_service_t rm__reflection_v1alpha_service =
    RM_RPC_SERVICE("grpc.reflection.v1alpha.ServerReflection", v1alpha_methods);
const rm_rpc_service_t rm__reflection_v1_service =
    RM_RPC_SERVICE("grpc.reflection.v1.ServerReflection", v1_methods);
