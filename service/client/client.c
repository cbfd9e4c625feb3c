/*
 * client.c — synchronous gRPC calls on gRPC C core.
 *
 * Design note: each call gets its own pluck completion queue, so calls from
 * many threads on one channel never wait for each other's events, and a call
 * is simply "start one batch, pluck its tag". A unary call is one batch of six
 * ops; a stream sends its request in one batch and then reads message by
 * message, one RECV_MESSAGE in flight at a time.
 */
#include "client.h"

#include <errno.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/support/alloc.h>
#include <grpc/support/time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "address.h"
#include "file.h"
#include "rm_tsan.h"
#include "status_name.h"

struct rm_client {
    grpc_channel *channel;
    int timeout_ms;
    char *auth_value;          /* "Bearer <token>" or NULL */
};

struct rm_client_stream {
    rm_client_t *client;
    grpc_call *call;
    grpc_completion_queue *cq;
    grpc_metadata_array initial_md, trailing_md;
    grpc_status_code status;
    grpc_slice details;
    int status_received;
    int status_posted;
};

rm_status_t
rm_client_create(const rm_client_opts_t *o, rm_client_t **out, char *err, size_t errcap)
{
    *out = NULL;
    if (!o->target || !*o->target) {
        snprintf(err, errcap, "no server address given");
        return RM_EINVAL;
    }
    char why[96];
    if (!rm_address_check(o->target, 0, why, sizeof why)) {
        snprintf(err, errcap, "address %s: %s", o->target, why);
        return RM_EINVAL;
    }
    rm_client_t *c = calloc(1, sizeof *c);
    if (!c) {
        snprintf(err, errcap, "out of memory");
        return RM_ENOMEM;
    }
    c->timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : 5000;
    if (o->token && *o->token) {
        size_t n = strlen(o->token) + 8;
        c->auth_value = malloc(n);
        if (!c->auth_value) {
            free(c);
            snprintf(err, errcap, "out of memory");
            return RM_ENOMEM;
        }
        snprintf(c->auth_value, n, "Bearer %s", o->token);
    }
    grpc_init();

    grpc_channel_credentials *creds = NULL;
    if (o->tls_ca_file || o->tls_cert_file) {
        char *ca = o->tls_ca_file ? rm_file_read_all(o->tls_ca_file, err, errcap) : NULL;
        char *cert = o->tls_cert_file ? rm_file_read_all(o->tls_cert_file, err, errcap) : NULL;
        char *key = o->tls_key_file ? rm_file_read_all(o->tls_key_file, err, errcap) : NULL;
        int bad = (o->tls_ca_file && !ca) || (o->tls_cert_file && !cert) ||
                  (o->tls_key_file && !key) || (!!cert != !!key);
        if (!bad) {
            grpc_ssl_pem_key_cert_pair pair = {.private_key = key, .cert_chain = cert};
            creds = grpc_ssl_credentials_create(ca, cert ? &pair : NULL, NULL, NULL);
        } else if (!!cert != !!key && !err[0]) {
            snprintf(err, errcap, "a client certificate needs its key (--tls-cert with --tls-key)");
        }
        free(ca);
        free(cert);
        free(key);
        if (!creds) {
            if (!err[0])
                snprintf(err, errcap, "cannot set up TLS credentials");
            grpc_shutdown();
            free(c->auth_value);
            free(c);
            return RM_EINVAL;
        }
    } else {
        creds = grpc_insecure_credentials_create();
    }
    size_t n_extra = o->extra_args ? o->extra_args->num_args : 0;
    grpc_arg args[3 + 16];
    size_t nargs = 0;
    args[nargs].type = GRPC_ARG_INTEGER;
    args[nargs].key = GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH;
    args[nargs].value.integer = 64 << 20;
    nargs++;
    if (o->tls_server_name) {
        args[nargs].type = GRPC_ARG_STRING;
        args[nargs].key = GRPC_SSL_TARGET_NAME_OVERRIDE_ARG;
        args[nargs].value.string = (char *)o->tls_server_name;
        nargs++;
    }
    if (o->authority) {
        args[nargs].type = GRPC_ARG_STRING;
        args[nargs].key = GRPC_ARG_DEFAULT_AUTHORITY;
        args[nargs].value.string = (char *)o->authority;
        nargs++;
    }
    for (size_t i = 0; i < n_extra && i < 16; i++)
        args[nargs++] = o->extra_args->args[i];
    grpc_channel_args chargs = {.num_args = nargs, .args = args};
    c->channel = grpc_channel_create(o->target, creds, &chargs);
    grpc_channel_credentials_release(creds);
    *out = c;
    return RM_OK;
}

void
rm_client_destroy(rm_client_t *c)
{
    if (!c)
        return;
    grpc_channel_destroy(c->channel);
    free(c->auth_value);
    free(c);
    grpc_shutdown();
}

const char *
rm_client_status_name(grpc_status_code code)
{
    return rm_grpc_status_name(code);
}

static gpr_timespec
deadline_after(int ms)
{
    if (ms <= 0)
        return gpr_inf_future(GPR_CLOCK_REALTIME);
    return gpr_time_add(gpr_now(GPR_CLOCK_REALTIME), gpr_time_from_millis(ms, GPR_TIMESPAN));
}

static void
set_status(rm_call_status_t *st, grpc_status_code code, const char *msg, size_t len)
{
    if (!st)
        return;
    st->code = code;
    if (len >= sizeof st->message)
        len = sizeof st->message - 1;
    memcpy(st->message, msg, len);
    st->message[len] = '\0';
}

static grpc_byte_buffer *
pack(const ProtobufCMessage *msg)
{
    size_t n = protobuf_c_message_get_packed_size(msg);
    grpc_slice s = grpc_slice_malloc(n);
    protobuf_c_message_pack(msg, GRPC_SLICE_START_PTR(s));
    grpc_byte_buffer *bb = grpc_raw_byte_buffer_create(&s, 1);
    grpc_slice_unref(s);
    return bb;
}

static ProtobufCMessage *
unpack(grpc_byte_buffer *bb, const ProtobufCMessageDescriptor *desc)
{
    grpc_byte_buffer_reader r;
    if (!grpc_byte_buffer_reader_init(&r, bb))
        return NULL;
    grpc_slice s = grpc_byte_buffer_reader_readall(&r);
    grpc_byte_buffer_reader_destroy(&r);
    ProtobufCMessage *m = protobuf_c_message_unpack(desc, NULL, GRPC_SLICE_LENGTH(s), GRPC_SLICE_START_PTR(s));
    grpc_slice_unref(s);
    return m;
}

static grpc_metadata *
auth_md(rm_client_t *c, grpc_metadata *md, size_t *count)
{
    *count = 0;
    if (!c->auth_value)
        return NULL;
    memset(md, 0, sizeof *md);
    md->key = grpc_slice_from_static_string("authorization");
    md->value = grpc_slice_from_copied_string(c->auth_value);
    *count = 1;
    return md;
}

static void
destroy_cq(grpc_completion_queue *cq)
{
    grpc_completion_queue_shutdown(cq);
    while (grpc_completion_queue_pluck(cq, NULL, gpr_inf_future(GPR_CLOCK_REALTIME), NULL).type !=
           GRPC_QUEUE_SHUTDOWN)
        ;
    grpc_completion_queue_destroy(cq);
}

/* A call on path with its completion queue, due at deadline. */
static grpc_call *
create_call(rm_client_t *c, const char *path, grpc_completion_queue *cq, gpr_timespec deadline)
{
    grpc_slice method = grpc_slice_from_copied_string(path);
    grpc_call *call = grpc_channel_create_call(c->channel, NULL, GRPC_PROPAGATE_DEFAULTS, cq, method, NULL,
                                               deadline, NULL);
    grpc_slice_unref(method);
    return call;
}

/* ops[0..3] of a call with one request message: send the metadata and the
 * message, half-close, receive the initial metadata into *initial. ops zeroed. */
static void
request_ops(grpc_op *ops, grpc_metadata *mdp, size_t md_count, grpc_byte_buffer *send,
            grpc_metadata_array *initial)
{
    ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
    ops[0].data.send_initial_metadata.count = md_count;
    ops[0].data.send_initial_metadata.metadata = mdp;
    ops[1].op = GRPC_OP_SEND_MESSAGE;
    ops[1].data.send_message.send_message = send;
    ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
    ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
    ops[3].data.recv_initial_metadata.recv_initial_metadata = initial;
}

grpc_status_code
rm_client_unary_bytes(rm_client_t *c, const char *path, const uint8_t *req, size_t req_len, uint8_t **resp,
                      size_t *resp_len, rm_call_status_t *st)
{
    *resp = NULL;
    *resp_len = 0;
    grpc_completion_queue *cq = grpc_completion_queue_create_for_pluck(NULL);
    grpc_call *call = create_call(c, path, cq, deadline_after(c->timeout_ms));

    grpc_metadata md;
    size_t md_count;
    grpc_metadata *mdp = auth_md(c, &md, &md_count);
    grpc_slice req_slice = grpc_slice_from_copied_buffer((const char *)req, req_len);
    grpc_byte_buffer *send = grpc_raw_byte_buffer_create(&req_slice, 1), *recv = NULL;
    grpc_slice_unref(req_slice);
    grpc_metadata_array initial, trailing;
    grpc_metadata_array_init(&initial);
    grpc_metadata_array_init(&trailing);
    grpc_status_code code = GRPC_STATUS_UNKNOWN;
    grpc_slice details = grpc_empty_slice();

    grpc_op ops[6];
    memset(ops, 0, sizeof ops);
    request_ops(ops, mdp, md_count, send, &initial);
    ops[4].op = GRPC_OP_RECV_MESSAGE;
    ops[4].data.recv_message.recv_message = &recv;
    ops[5].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
    ops[5].data.recv_status_on_client.trailing_metadata = &trailing;
    ops[5].data.recv_status_on_client.status = &code;
    ops[5].data.recv_status_on_client.status_details = &details;

    int tag;
    grpc_call_error e = grpc_call_start_batch(call, ops, 6, &tag, NULL);
    if (e == GRPC_CALL_OK) {
        grpc_completion_queue_pluck(cq, &tag, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
        set_status(st, code, (const char *)GRPC_SLICE_START_PTR(details), GRPC_SLICE_LENGTH(details));
        if (code == GRPC_STATUS_OK && recv) {
            grpc_byte_buffer_reader r;
            if (grpc_byte_buffer_reader_init(&r, recv)) {
                grpc_slice s = grpc_byte_buffer_reader_readall(&r);
                grpc_byte_buffer_reader_destroy(&r);
                *resp_len = GRPC_SLICE_LENGTH(s);
                *resp = malloc(*resp_len ? *resp_len : 1);
                if (*resp)
                    memcpy(*resp, GRPC_SLICE_START_PTR(s), *resp_len);
                grpc_slice_unref(s);
            }
        }
        if (code == GRPC_STATUS_OK && !*resp) {
            code = GRPC_STATUS_INTERNAL;
            set_status(st, code, "no response message", 19);
        }
    } else {
        code = GRPC_STATUS_INTERNAL;
        set_status(st, code, "cannot start the call", 21);
    }
    if (md_count)
        grpc_slice_unref(md.value);
    grpc_byte_buffer_destroy(send);
    if (recv)
        grpc_byte_buffer_destroy(recv);
    grpc_slice_unref(details);
    grpc_metadata_array_destroy(&initial);
    grpc_metadata_array_destroy(&trailing);
    grpc_call_unref(call);
    destroy_cq(cq);
    return code;
}

struct rm_client_async {
    grpc_call *call;
    grpc_metadata md;
    size_t md_count;
    grpc_byte_buffer *send, *recv;
    grpc_metadata_array initial, trailing;
    grpc_status_code code;
    grpc_slice details;
};

int
rm_client_async_start(rm_client_t *c, void *cq, void *tag, const char *path, const ProtobufCMessage *req,
                      int timeout_ms, rm_client_async_t **out, rm_call_status_t *st)
{
    *out = NULL;
    rm_client_async_t *a = calloc(1, sizeof *a);
    size_t n = protobuf_c_message_get_packed_size(req);
    uint8_t *buf = malloc(n ? n : 1);
    if (!a || !buf) {
        free(a);
        free(buf);
        set_status(st, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory", 13);
        return -1;
    }
    protobuf_c_message_pack(req, buf);
    a->call = create_call(c, path, (grpc_completion_queue *)cq,
                          timeout_ms < 0 ? gpr_inf_future(GPR_CLOCK_REALTIME)
                                         : deadline_after(timeout_ms ? timeout_ms : c->timeout_ms));
    grpc_metadata *mdp = auth_md(c, &a->md, &a->md_count);
    grpc_slice req_slice = grpc_slice_new(buf, n, free);
    a->send = grpc_raw_byte_buffer_create(&req_slice, 1);
    grpc_slice_unref(req_slice);
    grpc_metadata_array_init(&a->initial);
    grpc_metadata_array_init(&a->trailing);
    a->code = GRPC_STATUS_UNKNOWN;
    a->details = grpc_empty_slice();
    grpc_op ops[6];
    memset(ops, 0, sizeof ops);
    request_ops(ops, mdp, a->md_count, a->send, &a->initial);
    ops[4].op = GRPC_OP_RECV_MESSAGE;
    ops[4].data.recv_message.recv_message = &a->recv;
    ops[5].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
    ops[5].data.recv_status_on_client.trailing_metadata = &a->trailing;
    ops[5].data.recv_status_on_client.status = &a->code;
    ops[5].data.recv_status_on_client.status_details = &a->details;
    *out = a;
    RM_TSAN_RELEASE(tag);   /* the caller's state and *out reach the completion-queue thread through gRPC */
    if (grpc_call_start_batch(a->call, ops, 6, tag, NULL) != GRPC_CALL_OK) {
        *out = NULL;
        set_status(st, GRPC_STATUS_INTERNAL, "cannot start the call", 21);
        a->code = GRPC_STATUS_INTERNAL;
        ProtobufCMessage *none = NULL;
        (void)rm_client_async_finish(a, NULL, &none, NULL);
        return -1;
    }
    return 0;
}

void
rm_client_async_cancel(rm_client_async_t *a)
{
    grpc_call_cancel_with_status(a->call, GRPC_STATUS_DEADLINE_EXCEEDED, "Deadline Exceeded", NULL);
}

grpc_status_code
rm_client_async_finish(rm_client_async_t *a, const ProtobufCMessageDescriptor *resp_desc, ProtobufCMessage **resp,
                       rm_call_status_t *st)
{
    *resp = NULL;
    grpc_status_code code = a->code;
    if (st)
        set_status(st, code, (const char *)GRPC_SLICE_START_PTR(a->details), GRPC_SLICE_LENGTH(a->details));
    if (code == GRPC_STATUS_OK && resp_desc) {
        grpc_byte_buffer_reader r;
        if (a->recv && grpc_byte_buffer_reader_init(&r, a->recv)) {
            grpc_slice sl = grpc_byte_buffer_reader_readall(&r);
            grpc_byte_buffer_reader_destroy(&r);
            *resp = protobuf_c_message_unpack(resp_desc, NULL, GRPC_SLICE_LENGTH(sl), GRPC_SLICE_START_PTR(sl));
            grpc_slice_unref(sl);
        }
        if (!*resp) {
            code = GRPC_STATUS_INTERNAL;
            if (st)
                set_status(st, code, a->recv ? "response could not be decoded" : "no response message",
                           a->recv ? 29 : 19);
        }
    }
    if (a->md_count)
        grpc_slice_unref(a->md.value);
    grpc_byte_buffer_destroy(a->send);
    if (a->recv)
        grpc_byte_buffer_destroy(a->recv);
    grpc_slice_unref(a->details);
    grpc_metadata_array_destroy(&a->initial);
    grpc_metadata_array_destroy(&a->trailing);
    grpc_call_unref(a->call);
    free(a);
    return code;
}

grpc_status_code
rm_client_unary(rm_client_t *c, const char *path, const ProtobufCMessage *req,
                const ProtobufCMessageDescriptor *resp_desc, ProtobufCMessage **resp, rm_call_status_t *st)
{
    *resp = NULL;
    size_t n = protobuf_c_message_get_packed_size(req);
    uint8_t *buf = malloc(n ? n : 1), *out = NULL;
    size_t out_len = 0;
    if (!buf) {
        set_status(st, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory", 13);
        return GRPC_STATUS_RESOURCE_EXHAUSTED;
    }
    protobuf_c_message_pack(req, buf);
    grpc_status_code code = rm_client_unary_bytes(c, path, buf, n, &out, &out_len, st);
    free(buf);
    if (code == GRPC_STATUS_OK) {
        *resp = protobuf_c_message_unpack(resp_desc, NULL, out_len, out);
        if (!*resp) {
            code = GRPC_STATUS_INTERNAL;
            set_status(st, code, "response could not be decoded", 29);
        }
    }
    free(out);
    return code;
}

grpc_status_code
rm_client_stream_open(rm_client_t *c, const char *path, const ProtobufCMessage *req, int timeout_ms,
                      rm_client_stream_t **out, rm_call_status_t *st)
{
    *out = NULL;
    rm_client_stream_t *s = calloc(1, sizeof *s);
    if (!s) {
        set_status(st, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory", 13);
        return GRPC_STATUS_RESOURCE_EXHAUSTED;
    }
    s->client = c;
    s->cq = grpc_completion_queue_create_for_pluck(NULL);
    s->call = create_call(c, path, s->cq, deadline_after(timeout_ms));
    grpc_metadata_array_init(&s->initial_md);
    grpc_metadata_array_init(&s->trailing_md);
    s->details = grpc_empty_slice();

    grpc_metadata md;
    size_t md_count;
    grpc_metadata *mdp = auth_md(c, &md, &md_count);
    grpc_byte_buffer *send = pack(req);
    grpc_op ops[4];
    memset(ops, 0, sizeof ops);
    request_ops(ops, mdp, md_count, send, &s->initial_md);
    int tag;
    grpc_call_error e = grpc_call_start_batch(s->call, ops, 4, &tag, NULL);
    if (e == GRPC_CALL_OK)
        grpc_completion_queue_pluck(s->cq, &tag, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
    grpc_byte_buffer_destroy(send);
    if (md_count)
        grpc_slice_unref(md.value);

    /* The status arrives whenever the server ends the stream. */
    grpc_op sop;
    memset(&sop, 0, sizeof sop);
    sop.op = GRPC_OP_RECV_STATUS_ON_CLIENT;
    sop.data.recv_status_on_client.trailing_metadata = &s->trailing_md;
    sop.data.recv_status_on_client.status = &s->status;
    sop.data.recv_status_on_client.status_details = &s->details;
    if (grpc_call_start_batch(s->call, &sop, 1, &s->status_posted, NULL) == GRPC_CALL_OK)
        s->status_posted = 1;
    set_status(st, GRPC_STATUS_OK, "", 0);
    *out = s;
    return GRPC_STATUS_OK;
}

int
rm_client_stream_next(rm_client_stream_t *s, const ProtobufCMessageDescriptor *desc, ProtobufCMessage **msg)
{
    *msg = NULL;
    grpc_byte_buffer *recv = NULL;
    grpc_op op;
    memset(&op, 0, sizeof op);
    op.op = GRPC_OP_RECV_MESSAGE;
    op.data.recv_message.recv_message = &recv;
    int tag;
    if (grpc_call_start_batch(s->call, &op, 1, &tag, NULL) != GRPC_CALL_OK)
        return 0;
    grpc_completion_queue_pluck(s->cq, &tag, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
    if (!recv)
        return 0;
    *msg = unpack(recv, desc);
    grpc_byte_buffer_destroy(recv);
    return *msg ? 1 : -1;
}

void
rm_client_stream_finish(rm_client_stream_t *s, rm_call_status_t *st)
{
    if (!s)
        return;
    if (s->status_posted) {
        /* Cancelling an already finished call is a no-op. */
        grpc_call_cancel(s->call, NULL);
        grpc_completion_queue_pluck(s->cq, &s->status_posted, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
        set_status(st, s->status, (const char *)GRPC_SLICE_START_PTR(s->details), GRPC_SLICE_LENGTH(s->details));
    } else {
        set_status(st, GRPC_STATUS_INTERNAL, "stream could not be started", 27);
    }
    grpc_slice_unref(s->details);
    grpc_metadata_array_destroy(&s->initial_md);
    grpc_metadata_array_destroy(&s->trailing_md);
    grpc_call_unref(s->call);
    destroy_cq(s->cq);
    free(s);
}
