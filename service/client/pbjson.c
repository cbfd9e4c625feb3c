/*
 * pbjson.c — protobuf-c message → JSON (jansson), driven by descriptors.
 *
 * Follows the proto3 JSON mapping closely enough for jq and scripts: field
 * names as written in the .proto, enums as names, bytes as base64, and every
 * field present (defaults included) so that output columns are stable.
 *
 * Two rules scripts can rely on (docs/api.md, "JSON output"; ADR 0013):
 *  - 64-bit integers are exact. A value whose magnitude is at most 2^53 (every
 *    counter and byte count in practice) is a JSON number, which every JSON
 *    reader — jq and JavaScript included, which hold numbers as doubles —
 *    reads exactly; a larger one is a decimal string, as the canonical proto3
 *    mapping writes every 64-bit integer. A uint64 is never negative: before,
 *    UINT64_MAX went through a signed JSON integer and printed as -1.
 *  - "Unknown" is null, not 0. A field X is null when the message has a bool
 *    has_P that is false and P is X or a '_'-bounded prefix of X
 *    (has_time_to_critical = false makes time_to_critical_seconds and
 *    time_to_critical_confidence null), and a proto3 `optional` field that is
 *    not set is null. The exporter skips the same fields (exp_metrics.c).
 */
#include "client.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#define JSON_EXACT_MAX (1ull << 53)   /* the largest magnitude a double holds exactly, with all below it */

json_t *
rm_json_u64(uint64_t v)
{
    if (v <= JSON_EXACT_MAX)
        return json_integer((json_int_t)v);
    char buf[24];
    snprintf(buf, sizeof buf, "%" PRIu64, v);
    return json_string(buf);
}

json_t *
rm_json_i64(int64_t v)
{
    if (v >= -(int64_t)JSON_EXACT_MAX && v <= (int64_t)JSON_EXACT_MAX)
        return json_integer((json_int_t)v);
    char buf[24];
    snprintf(buf, sizeof buf, "%" PRId64, v);
    return json_string(buf);
}

/* 1 when `f` is unknown by the has_ rule above (or an unset proto3 optional). */
static int
unknown_by_has(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f)
{
    if (f->label == PROTOBUF_C_LABEL_OPTIONAL && f->type != PROTOBUF_C_TYPE_MESSAGE &&
        f->type != PROTOBUF_C_TYPE_STRING && !(f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) && f->quantifier_offset &&
        !*(const protobuf_c_boolean *)((const char *)m + f->quantifier_offset))
        return 1;
    if (f->label == PROTOBUF_C_LABEL_REPEATED)
        return 0;
    const ProtobufCMessageDescriptor *d = m->descriptor;
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *g = &d->fields[i];
        if (g == f || g->type != PROTOBUF_C_TYPE_BOOL || g->label == PROTOBUF_C_LABEL_REPEATED ||
            strncmp(g->name, "has_", 4) != 0)
            continue;
        const char *p = g->name + 4;
        size_t n = strlen(p);
        if (strncmp(f->name, p, n) == 0 && (f->name[n] == '\0' || f->name[n] == '_') &&
            !*(const protobuf_c_boolean *)((const char *)m + g->offset))
            return 1;
    }
    return 0;
}

static json_t *
b64(const uint8_t *data, size_t len)
{
    static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t out_len = 4 * ((len + 2) / 3);
    char *out = malloc(out_len + 1);
    if (!out)
        return NULL;
    size_t o = 0;
    for (size_t i = 0; i < len; i += 3) {
        uint32_t v = (uint32_t)data[i] << 16;
        if (i + 1 < len)
            v |= (uint32_t)data[i + 1] << 8;
        if (i + 2 < len)
            v |= data[i + 2];
        out[o++] = tbl[(v >> 18) & 63];
        out[o++] = tbl[(v >> 12) & 63];
        out[o++] = i + 1 < len ? tbl[(v >> 6) & 63] : '=';
        out[o++] = i + 2 < len ? tbl[v & 63] : '=';
    }
    out[o] = '\0';
    json_t *j = json_string(out);
    free(out);
    return j;
}

int
rm_pb_number(const ProtobufCFieldDescriptor *f, const void *p, double *out)
{
    switch (f->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
    case PROTOBUF_C_TYPE_ENUM: *out = *(const int32_t *)p; return 1;
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32: *out = *(const uint32_t *)p; return 1;
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64: *out = (double)*(const int64_t *)p; return 1;
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64: *out = (double)*(const uint64_t *)p; return 1;
    case PROTOBUF_C_TYPE_FLOAT: *out = *(const float *)p; return 1;
    case PROTOBUF_C_TYPE_DOUBLE: *out = *(const double *)p; return 1;
    case PROTOBUF_C_TYPE_BOOL: *out = *(const protobuf_c_boolean *)p ? 1 : 0; return 1;
    default: return 0;
    }
}

static json_t *
scalar(const ProtobufCFieldDescriptor *f, const void *p)
{
    switch (f->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
        return json_integer(*(const int32_t *)p);
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
        return json_integer(*(const uint32_t *)p);
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
        return rm_json_i64(*(const int64_t *)p);
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        return rm_json_u64(*(const uint64_t *)p);
    case PROTOBUF_C_TYPE_FLOAT:
        return json_real(*(const float *)p);
    case PROTOBUF_C_TYPE_DOUBLE:
        return json_real(*(const double *)p);
    case PROTOBUF_C_TYPE_BOOL:
        return json_boolean(*(const protobuf_c_boolean *)p);
    case PROTOBUF_C_TYPE_ENUM: {
        const ProtobufCEnumValue *ev =
            protobuf_c_enum_descriptor_get_value((const ProtobufCEnumDescriptor *)f->descriptor, *(const int *)p);
        return ev ? json_string(ev->name) : json_integer(*(const int *)p);
    }
    case PROTOBUF_C_TYPE_STRING: {
        const char *s = *(char *const *)p;
        return json_string(s ? s : "");
    }
    case PROTOBUF_C_TYPE_BYTES: {
        const ProtobufCBinaryData *b = p;
        return b64(b->data, b->len);
    }
    case PROTOBUF_C_TYPE_MESSAGE: {
        const ProtobufCMessage *m = *(ProtobufCMessage *const *)p;
        return m ? rm_pb_to_json(m) : json_null();
    }
    }
    return json_null();
}

static size_t
elem_size(const ProtobufCFieldDescriptor *f)
{
    switch (f->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
    case PROTOBUF_C_TYPE_FLOAT:
    case PROTOBUF_C_TYPE_ENUM:
        return 4;
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
    case PROTOBUF_C_TYPE_DOUBLE:
        return 8;
    case PROTOBUF_C_TYPE_BOOL:
        return sizeof(protobuf_c_boolean);
    case PROTOBUF_C_TYPE_STRING:
    case PROTOBUF_C_TYPE_MESSAGE:
        return sizeof(void *);
    case PROTOBUF_C_TYPE_BYTES:
        return sizeof(ProtobufCBinaryData);
    }
    return 0;
}

/* A map field is a repeated message whose type has option map_entry; keys are field 1, values field 2. */
static int
is_map_entry(const ProtobufCFieldDescriptor *f)
{
    if (f->type != PROTOBUF_C_TYPE_MESSAGE || f->label != PROTOBUF_C_LABEL_REPEATED)
        return 0;
    const ProtobufCMessageDescriptor *d = f->descriptor;
    size_t n = strlen(d->name);
    return n > 5 && strcmp(d->name + n - 5, "Entry") == 0 && d->n_fields == 2 &&
           strcmp(d->fields[0].name, "key") == 0 && strcmp(d->fields[1].name, "value") == 0;
}

json_t *
rm_pb_to_json(const ProtobufCMessage *msg)
{
    json_t *obj = json_object();
    if (!obj)
        return NULL;
    const ProtobufCMessageDescriptor *d = msg->descriptor;
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        const char *base = (const char *)msg + f->offset;
        json_t *v;
        /* Of a oneof, only the member that is set is printed. */
        if ((f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
            *(const uint32_t *)((const char *)msg + f->quantifier_offset) != f->id)
            continue;
        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            size_t n = *(const size_t *)((const char *)msg + f->quantifier_offset);
            const char *arr = *(const char *const *)base;
            if (is_map_entry(f)) {
                v = json_object();
                for (size_t k = 0; k < n; k++) {
                    const ProtobufCMessage *e = ((ProtobufCMessage *const *)arr)[k];
                    const ProtobufCFieldDescriptor *kf = &e->descriptor->fields[0];
                    const ProtobufCFieldDescriptor *vf = &e->descriptor->fields[1];
                    json_t *key = scalar(kf, (const char *)e + kf->offset);
                    char buf[64];
                    const char *ks = json_is_string(key) ? json_string_value(key) : buf;
                    if (!json_is_string(key))
                        snprintf(buf, sizeof buf, "%lld", (long long)json_integer_value(key));
                    json_object_set_new(v, ks, scalar(vf, (const char *)e + vf->offset));
                    json_decref(key);
                }
            } else {
                v = json_array();
                for (size_t k = 0; k < n; k++)
                    json_array_append_new(v, scalar(f, arr + k * elem_size(f)));
            }
        } else if (unknown_by_has(msg, f)) {
            v = json_null();
        } else {
            v = scalar(f, base);
        }
        json_object_set_new(obj, f->name, v ? v : json_null());
    }
    return obj;
}
