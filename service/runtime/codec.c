/*
 * codec.c — the protobuf-c codec of the runtime: the wire-format check that
 * runs before protobuf-c decodes a request, decoding with the size limit, the
 * strict UTF-8 check of every string field, and packing responses.
 *
 * Design note: keeping decode → handler → encode free of gRPC calls lets unit
 * tests and fuzzers drive the exact code path the server runs, with malformed
 * input and oversize requests, without a network.
 */
#include "rpc_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
