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

#include <grpc/impl/codegen/grpc_types.h>
#include <grpc/status.h>
#include <jansson.h>
#include <protobuf-c/protobuf-c.h>
#include <stddef.h>
#include <stdio.h>

#include "rm_base.h"   /* rm_status_t: the status codes, from service/common (not memcore) */

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
    const char *authority;       /* :authority of every call (default: the target), or NULL */
    const grpc_channel_args *extra_args; /* up to 16 more channel args (read during the call), or NULL */
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
 * Asynchronous unary call (rustymem-fleet polls thousands of agents from a
 * few threads, ADR 0026): start the call on `cq` (a queue made with
 * grpc_completion_queue_create_for_next, passed as void * so this header needs
 * no gRPC core header); when `tag` comes out of grpc_completion_queue_next,
 * call rm_client_async_finish(*out) exactly once. *out is set before the
 * call starts (the tag may come out on another thread before this returns).
 * timeout_ms: > 0 that deadline, 0 the channel's, < 0 none (the caller keeps
 * its own and uses rm_client_async_cancel: no gRPC timer per call). Returns
 * 0, or -1 with *out NULL and st set when it could not start (the tag is then
 * never posted). Thread-safe.
 */
typedef struct rm_client_async rm_client_async_t;
int rm_client_async_start(rm_client_t *c, void *cq, void *tag, const char *path, const ProtobufCMessage *req,
                          int timeout_ms, rm_client_async_t **out, rm_call_status_t *st);
/* End a started call now with DEADLINE_EXCEEDED "Deadline Exceeded" (its tag
 * still comes out). Only before rm_client_async_finish; the caller makes sure. */
void rm_client_async_cancel(rm_client_async_t *a);
/* Decode the response (as rm_client_unary) and free the call. */
grpc_status_code rm_client_async_finish(rm_client_async_t *a, const ProtobufCMessageDescriptor *resp_desc,
                                        ProtobufCMessage **resp, rm_call_status_t *st);

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

/* ---- credentials: one way for every client (creds.c) ------------------------
 *
 * rustymemctl, rustymem-exporter, rustymem-fleet (towards its agents) and
 * rustymem-load take the same credential flags and fill rm_client_opts_t the
 * same way:
 *   --token SECRET        bearer token (visible in ps: prefer the next two)
 *   --token-file FILE     the token is FILE's content, surrounding whitespace
 *                         ignored; an unreadable or empty file is an error
 *   RUSTYMEM_TOKEN        environment variable, used when neither flag is
 *   --tls-ca FILE         talk TLS, trusting these PEM roots
 *   --tls-cert FILE       client certificate for mTLS (needs --tls-key)
 *   --tls-key FILE        its PEM private key (needs --tls-cert)
 *   --tls-server-name N   name to verify in the server certificate (needs TLS)
 * Precedence: --token > --token-file > RUSTYMEM_TOKEN; giving both flags is a
 * usage error. A daemon that also serves TLS itself names its client-side TLS
 * flags with another prefix (rustymem-fleet: --agent-tls-ca …); the token
 * flags keep their names everywhere.
 */
typedef enum rm_client_cred_flag {
    RM_CRED_TOKEN = 0,
    RM_CRED_TOKEN_FILE,
    RM_CRED_TLS_CA,
    RM_CRED_TLS_CERT,
    RM_CRED_TLS_KEY,
    RM_CRED_TLS_SERVER_NAME,
    RM_CRED_N_FLAGS,
} rm_client_cred_flag_t;

/*
 * getopt_long entries for the credential flags: `tls` is the TLS flag prefix
 * as a string literal ("tls" or "agent-tls"), `base` the option value of
 * RM_CRED_TOKEN; the others follow as base + rm_client_cred_flag_t.
 */
#define RM_CLIENT_CRED_LONGOPTS(tls, base)                                   \
    {"token", required_argument, 0, (base) + RM_CRED_TOKEN},                  \
    {"token-file", required_argument, 0, (base) + RM_CRED_TOKEN_FILE},        \
    {tls "-ca", required_argument, 0, (base) + RM_CRED_TLS_CA},               \
    {tls "-cert", required_argument, 0, (base) + RM_CRED_TLS_CERT},           \
    {tls "-key", required_argument, 0, (base) + RM_CRED_TLS_KEY},             \
    {tls "-server-name", required_argument, 0, (base) + RM_CRED_TLS_SERVER_NAME}

/* The values given on the command line; pointers into argv (not owned). */
typedef struct rm_client_creds {
    const char *tls_prefix;   /* "tls" or "agent-tls": names flags in messages; NULL = "tls" */
    const char *flag[RM_CRED_N_FLAGS];
    char *token_owned;        /* token read from --token-file; freed by rm_client_creds_free */
    char source[300];         /* where the token came from, for logs: "--token-file /x", "RUSTYMEM_TOKEN", "none" */
} rm_client_creds_t;

/*
 * Which credential flag `name` is ("token", "tls-ca", "agent-tls-ca" … without
 * the leading dashes, given the prefix), or -1. For hand-written parsers.
 */
int rm_client_creds_match(const rm_client_creds_t *c, const char *name);
/* Record flag f's value (the last one given wins, like every other flag). */
void rm_client_creds_set(rm_client_creds_t *c, rm_client_cred_flag_t f, const char *value);

/*
 * Resolve the flags into o->token and o->tls_* (o->target and timeout are left
 * alone): checks the combinations, reads --token-file, falls back to
 * `env_token` (the caller passes getenv("RUSTYMEM_TOKEN"); NULL or "" = none).
 * Returns RM_OK; RM_EINVAL for a usage error (both token flags, --tls-cert
 * without --tls-key, a server name without TLS: exit 2); RM_EIO when the
 * token file cannot be read, is empty, too large or holds more than one
 * word (exit 1). err names the flag and file. o->token may point into c:
 * keep c alive as long as o is used. Not thread-safe (start-up only).
 */
rm_status_t rm_client_creds_apply(rm_client_creds_t *c, const char *env_token, rm_client_opts_t *o, char *err,
                                  size_t errcap);
/* Wipe and free the token read from a file. NULL-safe. */
void rm_client_creds_free(rm_client_creds_t *c);

/*
 * Print the help lines of the credential flags (two-space indent, the
 * description at column `col`), so every tool documents them alike.
 */
void rm_client_creds_help(FILE *f, const char *tls_prefix, int col);

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

/* The value of a numeric, bool or enum protobuf field at p (bool as 0/1,
 * an enum as its number) into *out: 1, or 0 for any other type (string,
 * bytes, message). A 64-bit value beyond 2^53 is rounded. */
int rm_pb_number(const ProtobufCFieldDescriptor *f, const void *p, double *out);

#ifdef __cplusplus
}
#endif
#endif /* RUSTYMEM_CLIENT_H */
