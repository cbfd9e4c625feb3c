/*
 * fuzz_rpc.c — libFuzzer target: every request message of rustymemd's
 * services, decoded and handled by the real handlers on an in-process node.
 *
 * Input: a sequence of up to FUZZ_MAX_CALLS records
 *     [selector: 1 byte][length: 2 bytes little-endian][payload: length bytes]
 * (a short last record takes what is left). The selector picks a method (modulo
 * the method count) from the tables the agent serves — rm_node_services() —
 * plus grpc.health.v1.Health and both server-reflection services, in that
 * order (RM_FUZZ_LIST_METHODS=1 fuzz_rpc prints the index → path table).
 *
 * Every call goes through the runtime's own path: rm__rpc_run_unary (decode
 * with size limit and UTF-8 validation, the handler, encoding the response)
 * for unary methods; rm_rpc_decode then the handler with fuzz transport hooks
 * for streams (each message sent is encoded as server.c does). Sequences let
 * the fuzzer reach state: a SessionService request's session_id n (n != 0) is
 * mapped to the n-th session opened earlier in the same input (modulo their
 * count; ids with the top bit set pass through unchanged), so Begin/Put/Scan/
 * Savepoint/Commit run against real sessions.
 *
 * Streams: WatchStats and Health/Watch run their loop FUZZ_STREAM_ROUNDS times
 * (the wait hook returns at once, sends succeed, then the call reads as
 * cancelled). WatchPressure is cancelled before its loop: the loop body blocks
 * 200 ms in rm_pressure_events_wait when no event is queued, which would cut
 * the rate to a few executions per second; its decode and prologue are fuzzed.
 * The reflection streams (bidirectional) read their requests from the payload
 * as [length: 1 byte][message] records through the recv hook, decoded with
 * rm_rpc_decode as server.c's hook does.
 *
 * State between inputs: the node is built once (knob defaults but
 * memory.budget_bytes = FUZZ_BUDGET, memcore
 * modules, the engine without its housekeeping thread, in a temporary data
 * dir) and, after each input, the sessions the input opened are closed,
 * admission is reopened and every knob the input changed is set back, so one
 * input's effects do not leak into the next. Every FUZZ_REBUILD_EVERY inputs
 * the node is torn down and rebuilt (bounds memory held by committed rows and
 * exercises teardown). No RPC of the API stops the process, so none is
 * excluded.
 */
#include <errno.h>
#include <ftw.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine.h"
#include "engine_node.h"
#include "node.h"
#include "node_mem.h"
#include "rpc_internal.h"
#include "server_internal.h"
#include "rustymem/v1/session.pb-c.h"

#define FUZZ_MAX_CALLS 16
#define FUZZ_MAX_REQ (4u << 20)   /* rustymemd's default max_request_bytes */
#define FUZZ_STREAM_ROUNDS 2
#define FUZZ_MAX_SESSIONS 64
#define FUZZ_REBUILD_EVERY 2000
#define FUZZ_BUDGET "256MiB"   /* memory.budget_bytes of the fuzzed node */

static rm_node_t node;
static char data_dir[256];
static const rm_rpc_service_t *services[24];
static size_t n_services;
static const rm_rpc_method_t *methods[128];
static size_t n_methods;
static struct rm_server fake_server;   /* health and reflection read ctx->server */
static char (*knob_text)[RM_KNOB_TEXT_MAX]; /* each knob's configured text after boot */
static unsigned long inputs_since_build;

static void
die(const char *what, const char *why)
{
    fprintf(stderr, "fuzz_rpc: %s: %s\n", what, why);
    abort();
}

/* ---- the node --------------------------------------------------------------- */

static void
node_build(void)
{
    char err[512] = "";
    memset(&node, 0, sizeof node);
    snprintf(node.host.node_name, sizeof node.host.node_name, "fuzz");
    node.host.version = "fuzz";
    snprintf(node.data_dir, sizeof node.data_dir, "%s", data_dir);
    if (rm_knobs_create(&node.knobs) != RM_OK)
        die("rm_knobs_create", "out of memory");
    /* A budget of FUZZ_BUDGET instead of the machine's memory: the automatic
     * buffer pool (a fraction of the budget) then has thousands of frames, not
     * millions, so a fuzzed buffer_pool.num_frames resize and its undo take
     * milliseconds rather than seconds under ASan. */
    rm_knob_assign_t boot[] = {{"memory.budget_bytes", FUZZ_BUDGET}};
    rm_knob_error_t kerr;
    if (rm_knobs_set_ex(node.knobs, boot, 1, RM_KNOBS_NO_PERSIST, &kerr) != RM_OK)
        die("memory.budget_bytes", kerr.message);
    node.host.budget_override_bytes = (uint64_t)rm_knobs_get_i64(node.knobs, RM_KNOB_MEMORY_BUDGET_BYTES);
    if (rm_node_mem_start(&node, err, sizeof err) != RM_OK)
        die("rm_node_mem_start", err);
    if (rm_engine_node_start(&node, true, err, sizeof err) != RM_OK)
        die("rm_engine_node_start", err);
    rm_knobs_mark_started(node.knobs);
    inputs_since_build = 0;
}

static void
node_teardown(void)
{
    rm_engine_node_stop(&node);
    rm_node_mem_stop(&node);
    rm_knobs_destroy(node.knobs);
    node.knobs = NULL;
}

/* Set every knob whose configured value moved back to its boot value. */
static void
knobs_restore(void)
{
    size_t n = rm_knobs_count(), na = 0;
    rm_knob_assign_t *a = calloc(n, sizeof *a);
    if (!a)
        die("knobs_restore", "out of memory");
    for (size_t i = 0; i < n; i++) {
        const rm_knob_def_t *d = rm_knobs_def((rm_knob_id_t)i);
        char cur[RM_KNOB_TEXT_MAX];
        if (rm_knobs_get_text(node.knobs, d->name, NULL, 0, cur, sizeof cur, NULL) != RM_OK)
            die("rm_knobs_get_text", d->name);
        if (strcmp(cur, knob_text[i]) != 0)
            a[na++] = (rm_knob_assign_t){d->name, knob_text[i]};
    }
    if (na) {
        rm_knob_error_t e;
        if (rm_knobs_set_ex(node.knobs, a, na, RM_KNOBS_NO_PERSIST, &e) != RM_OK)
            die("restoring the boot knob values", e.message);
    }
    free(a);
}

static void
add_service(const rm_rpc_service_t *s)
{
    services[n_services++] = s;
    for (size_t i = 0; i < s->n_methods && n_methods < sizeof methods / sizeof methods[0]; i++)
        methods[n_methods++] = &s->methods[i];
}

static int
rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)remove(path);
    return 0;
}

/* At exit: delete the temporary data dir (its files may still be open). */
static void
remove_data_dir(void)
{
    (void)nftw(data_dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(data_dir, sizeof data_dir, "%s/rm-fuzz-rpc-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(data_dir))
        die("mkdtemp", strerror(errno));
    atexit(remove_data_dir);

    const rm_rpc_service_t *ours[16];
    int n = rm_node_services(ours, 16);
    if (n < 0)
        die("rm_node_services", "out of memory");
    for (int i = 0; i < n; i++)
        add_service(ours[i]);
    add_service(&rm__health_service);
    add_service(&rm__reflection_v1alpha_service);
    add_service(&rm__reflection_v1_service);
    fake_server.services = services;
    fake_server.n_services = n_services;
    fake_server.opts.max_request_bytes = FUZZ_MAX_REQ;
    if (rm__health_init(&fake_server.health, &fake_server) != 0)
        die("rm__health_init", "mutex");
    for (size_t i = 0; i < n_services; i++)
        rm_server_set_serving(&fake_server, services[i]->name, 1);
    rm_server_set_serving(&fake_server, "", 1);

    if (getenv("RM_FUZZ_LIST_METHODS")) {
        for (size_t i = 0; i < n_methods; i++)
            printf("%zu %s\n", i, methods[i]->path);
        exit(0);
    }

    node_build();
    size_t nk = rm_knobs_count();
    knob_text = calloc(nk, sizeof *knob_text);
    if (!knob_text)
        die("calloc", "out of memory");
    for (size_t i = 0; i < nk; i++)
        if (rm_knobs_get_text(node.knobs, rm_knobs_def((rm_knob_id_t)i)->name, NULL, 0, knob_text[i],
                              sizeof knob_text[i], NULL) != RM_OK)
            die("rm_knobs_get_text", "boot value");
    return 0;
}

/* ---- transport hooks for streams -------------------------------------------- */

typedef struct fuzz_call {
    rm_rpc_ctx_t ctx;        /* first member: the hooks get &fc->ctx */
    int rounds_left;         /* rm_rpc_cancelled() checks that answer "not cancelled" */
    const uint8_t *in;       /* bidi: request records still to read */
    size_t in_len;
} fuzz_call_t;

static int
hook_cancelled(rm_rpc_ctx_t *ctx)
{
    fuzz_call_t *fc = (fuzz_call_t *)ctx;
    return fc->rounds_left-- <= 0;
}

static int
hook_shutting_down(rm_rpc_ctx_t *ctx)
{
    return 0;
}

static int
hook_send(rm_rpc_ctx_t *ctx, const ProtobufCMessage *msg)
{
    uint8_t *buf;
    size_t len;
    if (rm__rpc_encode(msg, &buf, &len) < 0)
        return -1;
    free(buf);
    return 0;
}

static int
hook_wait(rm_rpc_ctx_t *ctx, int64_t ms)
{
    return hook_cancelled(ctx);
}

static int
hook_recv(rm_rpc_ctx_t *ctx, ProtobufCMessage **msg)
{
    fuzz_call_t *fc = (fuzz_call_t *)ctx;
    if (fc->in_len == 0)
        return 0;
    size_t len = fc->in[0];
    if (len > fc->in_len - 1)
        len = fc->in_len - 1;
    const uint8_t *p = fc->in + 1;
    fc->in += 1 + len;
    fc->in_len -= 1 + len;
    return rm_rpc_decode(ctx->method->request, p, len, FUZZ_MAX_REQ, msg, ctx->msg) == GRPC_STATUS_OK ? 1 : -1;
}

/* ---- one call ---------------------------------------------------------------- */

typedef struct fuzz_input_state {
    uint64_t sessions[FUZZ_MAX_SESSIONS];
    size_t n_sessions;
} fuzz_input_state_t;

static const ProtobufCFieldDescriptor *
session_id_field(const ProtobufCMessageDescriptor *d)
{
    const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field_by_name(d, "session_id");
    return f && f->type == PROTOBUF_C_TYPE_UINT64 && f->label != PROTOBUF_C_LABEL_REPEATED ? f : NULL;
}

/*
 * Map the request's session_id onto a session this input opened. Returns a
 * malloc'ed re-encoding in *out (caller frees) when it changed, else NULL.
 */
static void
map_session(const rm_rpc_method_t *m, const fuzz_input_state_t *st, const uint8_t *p, size_t len,
            uint8_t **out, size_t *out_len)
{
    *out = NULL;
    const ProtobufCFieldDescriptor *f = session_id_field(m->request);
    if (!f || st->n_sessions == 0)
        return;
    ProtobufCMessage *msg = protobuf_c_message_unpack(m->request, NULL, len, p);
    if (!msg)
        return;
    uint64_t *sid = (uint64_t *)((char *)msg + f->offset);
    if (*sid != 0 && !(*sid >> 63)) {
        *sid = st->sessions[(*sid - 1) % st->n_sessions];
        if (rm__rpc_encode(msg, out, out_len) < 0)
            *out = NULL;
    }
    protobuf_c_message_free_unpacked(msg, NULL);
}

static void
remember_session(const rm_rpc_method_t *m, fuzz_input_state_t *st, const uint8_t *resp, size_t len)
{
    if (strcmp(m->path, "/rustymem.v1.SessionService/OpenSession") != 0 || st->n_sessions == FUZZ_MAX_SESSIONS)
        return;
    Rustymem__V1__OpenSessionResponse *r = rustymem__v1__open_session_response__unpack(NULL, len, resp);
    if (!r)
        die("OpenSession", "the response does not decode");
    st->sessions[st->n_sessions++] = r->session_id;
    rustymem__v1__open_session_response__free_unpacked(r, NULL);
}

static void
call_one(const rm_rpc_method_t *m, fuzz_input_state_t *st, const uint8_t *p, size_t len)
{
    fuzz_call_t fc;
    rm__rpc_ctx_init(&fc.ctx, m, rm_node_host(&node));
    fc.ctx.server = &fake_server;
    fc.ctx.is_cancelled = hook_cancelled;
    fc.ctx.shutting_down = hook_shutting_down;
    fc.ctx.send = hook_send;
    fc.ctx.wait = hook_wait;
    fc.ctx.recv = hook_recv;
    fc.rounds_left = FUZZ_STREAM_ROUNDS;
    fc.in = NULL;
    fc.in_len = 0;

    if (m->kind == RM_RPC_UNARY) {
        uint8_t *mapped = NULL, *resp = NULL;
        size_t mapped_len = 0, resp_len = 0;
        map_session(m, st, p, len, &mapped, &mapped_len);
        grpc_status_code code = rm__rpc_run_unary(&fc.ctx, mapped ? mapped : p, mapped ? mapped_len : len,
                                                  FUZZ_MAX_REQ, &resp, &resp_len);
        if (code == GRPC_STATUS_OK) {
            remember_session(m, st, resp, resp_len);
            free(resp);
        } else if (!fc.ctx.msg[0]) {
            die(m->path, "failed without a status message");
        }
        free(mapped);
    } else if (m->kind == RM_RPC_SERVER_STREAM) {
        ProtobufCMessage *req = NULL;
        if (rm_rpc_decode(m->request, p, len, FUZZ_MAX_REQ, &req, fc.ctx.msg) == GRPC_STATUS_OK) {
            if (strcmp(m->path, "/rustymem.v1.ForecastService/WatchPressure") == 0)
                fc.rounds_left = 0;
            (void)m->stream(&fc.ctx, req);
            protobuf_c_message_free_unpacked(req, NULL);
        }
    } else {
        fc.in = p;
        fc.in_len = len;
        (void)m->stream(&fc.ctx, NULL);
    }
    rm__rpc_ctx_release(&fc.ctx);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_input_state_t st = {.n_sessions = 0};
    size_t off = 0;
    for (int calls = 0; calls < FUZZ_MAX_CALLS && off < size; calls++) {
        const rm_rpc_method_t *m = methods[data[off++] % n_methods];
        size_t len = 0;
        if (off + 2 <= size) {
            len = (size_t)data[off] | (size_t)data[off + 1] << 8;
            off += 2;
        } else {
            off = size;
        }
        if (len > size - off)
            len = size - off;
        /* a copy of exactly len bytes, so ASan sees any read past the payload */
        uint8_t *p = malloc(len ? len : 1);
        if (!p)
            return 0;
        memcpy(p, data + off, len);
        off += len;
        call_one(m, &st, p, len);
        free(p);
    }

    /* Undo this input's effects on the node. */
    for (size_t i = 0; i < st.n_sessions; i++) {
        bool rolled_back;
        char err[RM_ENGINE_ERR_MAX];
        (void)rm_engine_close_session(node.engine, st.sessions[i], &rolled_back, err);
    }
    rm_engine_set_admission(node.engine, true);
    knobs_restore();
    if (++inputs_since_build >= FUZZ_REBUILD_EVERY) {
        node_teardown();
        node_build();
    }
    return 0;
}

/*
 * The harness's log sink: replaces agents/common/log.c's rm_log (log.o is then
 * not linked), so the pressure reclaimers' INFO lines do not slow the fuzzer
 * down. RM_FUZZ_VERBOSE=1 prints every line.
 */
void
rm_log(const char *level, const char *fmt, ...)
{
    static int verbose = -1;
    if (verbose < 0)
        verbose = getenv("RM_FUZZ_VERBOSE") != NULL;
    if (!verbose)
        return;
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s ", level);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}
