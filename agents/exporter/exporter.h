/*
 * exporter.h — rustymem-exporter internals: the agent connection with its
 * call counters, the scrape that builds /metrics, the REST handlers and the
 * HTTP server.
 *
 * Design note: everything is computed at request time from fresh RPCs with
 * deadlines (no background polling, no cache), so /metrics is exactly as old
 * as the scrape, as Prometheus expects from an exporter; the HTTP server runs
 * one thread per connection, so one slow scrape never blocks /healthz. The
 * agent connection is shared by all request threads and replaced when the
 * agent was unreachable, so a restarted agent is seen again at the next
 * scrape rather than after gRPC's reconnect backoff (up to 120 s).
 */
#ifndef RUSTYMEM_EXPORTER_H
#define RUSTYMEM_EXPORTER_H

#include <stddef.h>
#include <stdint.h>

#include "client.h"
#include "exp_metrics.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct rm_exporter rm_exporter_t;

typedef struct rm_exporter_opts {
    rm_client_opts_t client; /* agent target, deadline (timeout_ms), token, TLS; strings copied */
    const char *version;     /* exporter version for build info; static */
} rm_exporter_opts_t;

/*
 * Create the exporter state and the agent channel (lazy: nothing connects
 * yet). Returns RM_OK with *out; RM_EINVAL (err says why: bad TLS file …) or
 * RM_ENOMEM, with *out NULL.
 */
rm_status_t rm_exporter_create(const rm_exporter_opts_t *opts, rm_exporter_t **out, char *err, size_t errcap);
/* Free it; no request may be running. NULL is a no-op. */
void rm_exporter_destroy(rm_exporter_t *e);

/*
 * One unary RPC to the agent through the shared channel, counted in
 * rustymem_exporter_grpc_calls_total{rpc="<short name>",code}. Same contract
 * as rm_client_unary. Thread-safe.
 */
grpc_status_code rm_exporter_call(rm_exporter_t *e, const char *path, const ProtobufCMessage *req,
                                  const ProtobufCMessageDescriptor *resp_desc, ProtobufCMessage **resp,
                                  rm_call_status_t *st);

/*
 * Build the whole /metrics text. On RM_OK *text is malloc'ed (caller frees),
 * *len its length; RM_ENOMEM otherwise (*text NULL). The agent being down is
 * not an error: the text then says rustymem_up 0. Thread-safe.
 */
rm_status_t rm_exporter_scrape(rm_exporter_t *e, char **text, size_t *len);

/*
 * REST handlers: fill *status (HTTP code) and *body (malloc'ed JSON text,
 * caller frees; NULL only when out of memory). Thread-safe.
 */
void rm_exporter_rest_memory(rm_exporter_t *e, int *status, char **body);
void rm_exporter_rest_forecast(rm_exporter_t *e, int *status, char **body);
void rm_exporter_rest_buffer_pool(rm_exporter_t *e, int *status, char **body);
void rm_exporter_readyz(rm_exporter_t *e, int *status, char **body);
/* {"error": msg, "status": status} as malloc'ed text, or NULL on OOM. */
char *rm_exporter_json_error(int status, const char *msg, grpc_status_code code, const char *detail);

/* Count one HTTP answer for rustymem_exporter_http_requests_total. */
void rm_exporter_count_http(rm_exporter_t *e, const char *path, int status);

/* ---- HTTP server (exp_http.c) ---- */
typedef struct rm_exp_http rm_exp_http_t;

/*
 * Serve e over HTTP on `listen` ("HOST:PORT", "[::1]:PORT"; port 0 = any
 * free port), one thread per connection; verbose = log libmicrohttpd's
 * messages (malformed requests …) to stderr. Returns RM_OK with *out and the
 * bound port in *port; RM_EINVAL (bad address) or RM_EIO (cannot bind; err
 * says why).
 */
rm_status_t rm_exp_http_start(rm_exporter_t *e, const char *listen, int verbose, rm_exp_http_t **out, int *port,
                              char *err, size_t errcap);
/* As rm_exp_http_start; health_only = the probes' own listener, which answers
 * /healthz and /readyz (404 elsewhere) with slots of its own, so clients that
 * hold the main listener's connections cannot fail the liveness probe. Both
 * listeners close a connection idle for a few seconds and cap the connections
 * one address may hold. */
rm_status_t rm_exp_http_start_ex(rm_exporter_t *e, const char *listen, int verbose, int health_only,
                                 rm_exp_http_t **out, int *port, char *err, size_t errcap);
/* Stop accepting, wait for running requests, free. NULL is a no-op. */
void rm_exp_http_stop(rm_exp_http_t *h);

/* Logging: rm_log (agents/common/log.h), one escaped line on stderr. */

#ifdef __cplusplus
}
#endif
#endif /* RUSTYMEM_EXPORTER_H */
