/*
 * rpc_table.c — transport-free half of the runtime: method lookup, the
 * protobuf-c codec with UTF-8 validation, the call context's scratch arena,
 * and the single rm_status_t → gRPC status mapping.
 *
 * Design note: keeping decode → handler → encode free of gRPC calls lets unit
 * tests drive the exact code path the server runs, with malformed input,
 * unknown methods and oversize requests, without a network.
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

/* ---- codec ---------------------------------------------------------------- */

/* Strict UTF-8 check (no overlongs, no surrogates, ≤ U+10FFFF). */
static int
utf8_valid(const uint8_t *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        uint8_t c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t len;
        uint32_t cp;
        if ((c & 0xE0) == 0xC0) {
            len = 2;
            cp = c & 0x1F;
        } else if ((c & 0xF0) == 0xE0) {
            len = 3;
            cp = c & 0x0F;
        } else if ((c & 0xF8) == 0xF0) {
            len = 4;
            cp = c & 0x07;
        } else {
            return 0;
        }
        if (i + len > n)
            return 0;
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xC0) != 0x80)
                return 0;
            cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
            cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return 0;
        i += len;
    }
    return 1;
}

/* Walk every string field (recursively). Returns 0 or -1 with `field` set. */
static int
check_strings(const ProtobufCMessage *m, char *field, size_t cap, int depth)
{
    const ProtobufCMessageDescriptor *d = m->descriptor;
    if (depth > 32)
        return 0;
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        const char *base = (const char *)m + f->offset;
        if (f->type != PROTOBUF_C_TYPE_STRING && f->type != PROTOBUF_C_TYPE_MESSAGE)
            continue;
        /* A oneof member shares storage with its siblings: only the set one is valid. */
        if ((f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
            *(const uint32_t *)((const char *)m + f->quantifier_offset) != f->id)
            continue;
        size_t count = 1;
        const void *const *items = (const void *const *)base;
        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            count = *(const size_t *)((const char *)m + f->quantifier_offset);
            items = *(const void *const *const *)base;
        }
        for (size_t k = 0; k < count; k++) {
            const void *item = items ? items[k] : NULL;
            if (!item)
                continue;
            if (f->type == PROTOBUF_C_TYPE_STRING) {
                const char *s = item;
                if (s != (const char *)protobuf_c_empty_string && !utf8_valid((const uint8_t *)s, strlen(s))) {
                    snprintf(field, cap, "%s.%s", d->short_name, f->name);
                    return -1;
                }
            } else if (check_strings(item, field, cap, depth + 1) < 0) {
                return -1;
            }
        }
    }
    return 0;
}

/*
 * The wire format, checked before protobuf-c decodes it. protobuf-c accepts a
 * field whose wire type does not match its declaration (a length-delimited
 * "abc" for a bool was decoded and SetAdmission executed), truncates a string
 * at an embedded NUL (a knob name "pool.max_size\0junk" was applied as
 * "pool.max_size"), and takes repeated fields of any length (100 000 names in
 * GetKnobs made a 9.4 MB reply). Each of these is refused here, naming the field.
 */
static int
wire_varint(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
    uint64_t r = 0;
    for (int shift = 0; shift < 64 && *p < end; shift += 7) {
        uint8_t b = *(*p)++;
        r |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *v = r;
            return 0;
        }
    }
    return -1;
}

static int
wire_type_of(ProtobufCType t)
{
    switch (t) {
    case PROTOBUF_C_TYPE_FIXED64:
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_DOUBLE: return 1;
    case PROTOBUF_C_TYPE_FIXED32:
    case PROTOBUF_C_TYPE_SFIXED32:
    case PROTOBUF_C_TYPE_FLOAT: return 5;
    case PROTOBUF_C_TYPE_STRING:
    case PROTOBUF_C_TYPE_BYTES:
    case PROTOBUF_C_TYPE_MESSAGE: return 2;
    default: return 0;   /* varint: int32/64, sint, uint, bool, enum */
    }
}

/* Elements in a packed run of `len` bytes for wire type wt (0, 1, 5); -1 if malformed. */
static long
packed_count(int wt, const uint8_t *p, size_t len)
{
    if (wt == 1)
        return len % 8 ? -1 : (long)(len / 8);
    if (wt == 5)
        return len % 4 ? -1 : (long)(len / 4);
    long n = 0;
    const uint8_t *end = p + len;
    while (p < end) {
        uint64_t v;
        if (wire_varint(&p, end, &v) < 0)
            return -1;
        n++;
    }
    return n;
}

#define WIRE_FIELDS_MAX 128   /* fields per message whose repetitions are counted */

/* 0, or -1 with msg set (malformed input is left to protobuf-c's own verdict: 1). */
static int
check_wire(const ProtobufCMessageDescriptor *d, const uint8_t *p, size_t len, int depth, char *msg)
{
    const uint8_t *end = p + len;
    uint32_t counts[WIRE_FIELDS_MAX] = {0};
    if (depth > 32)
        return 1;
    while (p < end) {
        uint64_t key, v;
        if (wire_varint(&p, end, &key) < 0)
            return 1;
        int wt = (int)(key & 7);
        const ProtobufCFieldDescriptor *f =
            key >> 3 <= UINT32_MAX ? protobuf_c_message_descriptor_get_field(d, (unsigned)(key >> 3)) : NULL;
        int want = f ? wire_type_of(f->type) : wt;
        int packed = f && f->label == PROTOBUF_C_LABEL_REPEATED && want != 2 && wt == 2;
        const uint8_t *body = p;
        uint64_t blen = 0;
        switch (wt) {
        case 0:
            if (wire_varint(&p, end, &v) < 0)
                return 1;
            break;
        case 1:
            if (end - p < 8)
                return 1;
            p += 8;
            break;
        case 5:
            if (end - p < 4)
                return 1;
            p += 4;
            break;
        case 2:
            if (wire_varint(&p, end, &blen) < 0 || blen > (uint64_t)(end - p))
                return 1;
            body = p;
            p += blen;
            break;
        default:
            return 1;   /* groups (deprecated) and invalid wire types */
        }
        if (!f)
            continue;   /* unknown fields are skipped, as protobuf requires */
        if (wt != want && !packed) {   /* checked once the field is known to be well formed */
            snprintf(msg, RM_RPC_MSG_MAX, "field %s.%s: wire type %d, expected %d for its declared type",
                     d->short_name, f->name, wt, want);
            return -1;
        }
        if (f->type == PROTOBUF_C_TYPE_STRING && memchr(body, 0, blen)) {
            snprintf(msg, RM_RPC_MSG_MAX, "field %s.%s: string contains a NUL byte", d->short_name, f->name);
            return -1;
        }
        if (f->type == PROTOBUF_C_TYPE_MESSAGE) {
            int r = check_wire(f->descriptor, body, blen, depth + 1, msg);
            if (r)
                return r;
        }
        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            size_t idx = (size_t)(f - d->fields);
            long add = packed ? packed_count(want, body, blen) : 1;
            if (add < 0)
                return 1;
            if (idx < WIRE_FIELDS_MAX && (counts[idx] += (uint32_t)add) > RM_RPC_REPEATED_MAX) {
                snprintf(msg, RM_RPC_MSG_MAX, "field %s.%s: more than %u elements", d->short_name, f->name,
                         RM_RPC_REPEATED_MAX);
                return -1;
            }
        }
    }
    return 0;
}

static void *
decode_alloc(void *data, size_t size)
{
    void *p = malloc(size);
    if (!p)
        *(int *)data = 1;
    return p;
}

static void
decode_free(void *data, void *p)
{
    (void)data;
    free(p);
}

grpc_status_code
rm_rpc_decode(const ProtobufCMessageDescriptor *desc, const uint8_t *data, size_t len,
              size_t max_bytes, ProtobufCMessage **out, char *msg)
{
    *out = NULL;
    if (max_bytes && len > max_bytes) {
        snprintf(msg, RM_RPC_MSG_MAX, "request of %zu bytes exceeds the maximum of %zu bytes", len,
                 max_bytes);
        return GRPC_STATUS_RESOURCE_EXHAUSTED;
    }
    /* malloc/free like protobuf-c's default allocator (so free_unpacked(m, NULL) stays right),
     * plus a flag that tells running out of memory apart from a malformed message */
    if (check_wire(desc, data, len, 0, msg) < 0)
        return GRPC_STATUS_INVALID_ARGUMENT;
    int oom = 0;
    ProtobufCAllocator a = {decode_alloc, decode_free, &oom};
    ProtobufCMessage *m = protobuf_c_message_unpack(desc, &a, len, data);
    if (!m && oom) {
        snprintf(msg, RM_RPC_MSG_MAX, "out of memory decoding a %s message (%zu bytes)", desc->name, len);
        return GRPC_STATUS_RESOURCE_EXHAUSTED;
    }
    if (!m) {
        snprintf(msg, RM_RPC_MSG_MAX, "malformed %s message (%zu bytes): protobuf decoding failed",
                 desc->name, len);
        return GRPC_STATUS_INVALID_ARGUMENT;
    }
    char field[160];
    if (check_strings(m, field, sizeof field, 0) < 0) {
        snprintf(msg, RM_RPC_MSG_MAX, "field %s: string is not valid UTF-8", field);
        protobuf_c_message_free_unpacked(m, NULL);
        return GRPC_STATUS_INVALID_ARGUMENT;
    }
    *out = m;
    return GRPC_STATUS_OK;
}

int
rm__rpc_encode(const ProtobufCMessage *msg, uint8_t **out, size_t *out_len)
{
    size_t n = protobuf_c_message_get_packed_size(msg);
    uint8_t *buf = malloc(n ? n : 1);
    if (!buf)
        return -1;
    protobuf_c_message_pack(msg, buf);
    *out = buf;
    *out_len = n;
    return 0;
}

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

/* ---- lookup and status names ---------------------------------------------- */

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

grpc_status_code
rm_rpc_status_from_rm(rm_status_t st)
{
    switch (st) {
    case RM_OK: return GRPC_STATUS_OK;
    case RM_EINVAL: return GRPC_STATUS_INVALID_ARGUMENT;
    case RM_ENOENT: return GRPC_STATUS_NOT_FOUND;
    case RM_EEXIST: return GRPC_STATUS_ALREADY_EXISTS;
    case RM_ENOMEM:
    case RM_ELIMIT:
    case RM_EREJECTED: return GRPC_STATUS_RESOURCE_EXHAUSTED;
    case RM_EBUSY:
    case RM_ESTATE: return GRPC_STATUS_FAILED_PRECONDITION;
    case RM_ECONFLICT: return GRPC_STATUS_ABORTED;
    case RM_ECANCELED: return GRPC_STATUS_CANCELLED;
    case RM_ETIMEDOUT: return GRPC_STATUS_DEADLINE_EXCEEDED;
    case RM_ENOTSUP: return GRPC_STATUS_UNIMPLEMENTED;
    case RM_ECORRUPT: return GRPC_STATUS_DATA_LOSS;
    case RM_EIO: return GRPC_STATUS_INTERNAL;
    /* gRPC's own definition of RESOURCE_EXHAUSTED names "the entire file
     * system is out of space". Not UNAVAILABLE: that one tells clients (and
     * retry policies) to retry at once, which only adds load while the disk
     * stays full; freeing space is an operator's act, and the message says so */
    case RM_ENOSPC: return GRPC_STATUS_RESOURCE_EXHAUSTED;
    }
    return GRPC_STATUS_UNKNOWN;
}

const char *
rm_rpc_status_name(grpc_status_code code)
{
    static const char *const names[] = {
        "OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND",
        "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
        "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS",
        "UNAUTHENTICATED",
    };
    if ((unsigned)code < sizeof names / sizeof names[0])
        return names[code];
    return "UNKNOWN";
}
