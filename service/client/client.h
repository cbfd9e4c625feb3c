/*
 * client.h — the gRPC client library shared by rustymemctl, rustymem-fleet,
 * rustymem-exporter, rustymem-load and rustymem-bench.
 *
 * One rm_client_t is one channel to one server; it is thread-safe and calls
 * may run on it from many threads at once. Every call has a deadline and ends
 * with a status code and message in rm_call_status_t. Responses are protobuf-c
 * messages the caller frees with protobuf_c_message_free_unpacked(msg, NULL).
 */
#ifndef RUSTYMEM_CLIENT_H
#define RUSTYMEM_CLIENT_H

#include <grpc/status.h>
#include <jansson.h>
#include <protobuf-c/protobuf-c.h>
#include <stddef.h>

#include "rustymem/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct rm_client_opts {
    const char *target;          /* "127.0.0.1:50051", "[::1]:50051", "unix:/path" */
    int timeout_ms;              /* deadline of unary calls; 0 = 5000 */
    const char *token;           /* bearer token sent as "authorization", or NULL */
    const char *tls_ca_file;     /* PEM roots; set = use TLS */
    const char *tls_cert_file;   /* client certificate for mTLS, or NULL */
    const char *tls_key_file;    /* its key */
    const char *tls_server_name; /* override the name checked in the server certificate */
} rm_client_opts_t;

typedef struct rm_call_status {
    grpc_status_code code;
    char message[512];
} rm_call_status_t;

typedef struct rm_client rm_client_t;
typedef struct rm_client_stream rm_client_stream_t;

/*
 * Create a channel (connection is lazy). Returns RM_OK with *out, RM_EINVAL
 * (missing target, unreadable TLS file; `err` says which) or RM_ENOMEM.
 */
rm_status_t rm_client_create(const rm_client_opts_t *opts, rm_client_t **out, char *err, size_t errcap);
void rm_client_destroy(rm_client_t *c);

/*
 * Unary call to `path` ("/rustymem.v1.MemoryService/GetMemoryStats").
 * On OK *resp owns the decoded response; on failure *resp is NULL and st says
 * why (an undecodable response is reported as INTERNAL). Thread-safe.
 */
grpc_status_code rm_client_unary(rm_client_t *c, const char *path, const ProtobufCMessage *req,
                                 const ProtobufCMessageDescriptor *resp_desc, ProtobufCMessage **resp,
                                 rm_call_status_t *st);

/*
 * Unary call with raw request bytes (for tests that send malformed input and
 * for proxies). On OK *resp (malloc'ed, caller frees) holds the response bytes.
 */
grpc_status_code rm_client_unary_bytes(rm_client_t *c, const char *path, const uint8_t *req, size_t req_len,
                                       uint8_t **resp, size_t *resp_len, rm_call_status_t *st);

/*
 * Start a server-streaming call. timeout_ms 0 = no deadline. On OK *out is the
 * stream (read it with rm_client_stream_next, end it with
 * rm_client_stream_finish); otherwise *out is NULL.
 */
grpc_status_code rm_client_stream_open(rm_client_t *c, const char *path, const ProtobufCMessage *req,
                                       int timeout_ms, rm_client_stream_t **out, rm_call_status_t *st);
/*
 * Next message: 1 with *msg set (caller frees), 0 at the end of the stream
 * (the status is then available from rm_client_stream_finish), -1 when a
 * message cannot be decoded.
 */
int rm_client_stream_next(rm_client_stream_t *s, const ProtobufCMessageDescriptor *desc,
                          ProtobufCMessage **msg);
/* Cancel if still running, collect the final status into st (may be NULL), free. */
void rm_client_stream_finish(rm_client_stream_t *s, rm_call_status_t *st);

/* "OK", "UNAVAILABLE", … */
const char *rm_client_status_name(grpc_status_code code);

/*
 * Protobuf → JSON using the message descriptors: field names as in the
 * .proto, enums as their names, bytes as base64, 64-bit integers as
 * rm_json_u64/rm_json_i64 write them, and null for a field its has_ sibling
 * marks unknown (rules in pbjson.c and docs/api.md). Returns a new reference,
 * or NULL on OOM.
 */
json_t *rm_pb_to_json(const ProtobufCMessage *msg);

/* A 64-bit integer as JSON, exact: a number up to 2^53 in magnitude, a
 * decimal string above (never a negative number for a uint64). New
 * reference, NULL on OOM. */
json_t *rm_json_u64(uint64_t v);
json_t *rm_json_i64(int64_t v);

#ifdef __cplusplus
}
#endif
#endif /* RUSTYMEM_CLIENT_H */
