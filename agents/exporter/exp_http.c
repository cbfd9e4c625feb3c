/*
 * exp_http.c — rustymem-exporter's HTTP server on libmicrohttpd.
 *
 * Design note: libmicrohttpd parses HTTP (request line, headers, chunked
 * bodies, keep-alive, HEAD without body, 400 for garbage); this file only
 * routes. One thread per connection (MHD_USE_THREAD_PER_CONNECTION with
 * poll()), because a /metrics request blocks on gRPC calls to the agent for up
 * to their deadlines and must not hold up /healthz. The first callback of a
 * request only allocates its state and returns MHD_YES (answering there would
 * make MHD close the connection); a request body, which no endpoint takes, is
 * read and discarded. Up to BODY_MAX the request is answered as usual (405
 * for a method with a body); beyond it the rest is discarded too and the
 * answer is 413 with the connection closed — queued only once the body is in,
 * because a response queued mid-upload reaches the client as an empty reply.
 * A body past BODY_DROP is not worth reading: the connection is dropped.
 * Query strings never reach the router (MHD splits them off) and are ignored.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <zlib.h>

#include "exporter.h"
#include "log.h"

#define BODY_MAX (64 * 1024)     /* bytes of request body read and discarded before answering 413 */
#define BODY_DROP (16 * BODY_MAX) /* bytes after which the connection is dropped unanswered */

/*
 * Slow clients (17 item 5). 256 connections trickling one header byte at a
 * time held every slot, and the liveness probe was refused for as long as they
 * trickled. Three bounds: a connection that sends nothing for IDLE_TIMEOUT_S
 * seconds is closed; one address holds at most PER_IP_LIMIT of the
 * CONNECTION_LIMIT slots (kubelet's probes come from the node's address, not
 * the pod network's); and with --health-listen the probes have a listener of
 * their own, which serves only /healthz and /readyz with its own slots.
 */
#define CONNECTION_LIMIT 256u
#define PER_IP_LIMIT 64u
#define IDLE_TIMEOUT_S 10u
#define HEALTH_CONNECTION_LIMIT 64u
#define HEALTH_PER_IP_LIMIT 16u
#define HEALTH_IDLE_TIMEOUT_S 5u

struct rm_exp_http {
    struct MHD_Daemon *daemon;
    rm_exporter_t *exp;
    int health_only;   /* the --health-listen listener: /healthz and /readyz only */
};

typedef struct req_state {
    size_t body_bytes;
} req_state_t;

static const char JSON_TYPE[] = "application/json";
static const char METRICS_TYPE[] = "text/plain; version=0.0.4; charset=utf-8";

/*
 * body (len bytes) gzip-compressed into a malloc'ed buffer (*out_len bytes),
 * or NULL when zlib fails (the caller then sends it uncompressed).
 */
static char *
gzip_body(const char *body, size_t len, size_t *out_len)
{
    z_stream z = {0};
    /* 15 + 16: a gzip header and trailer; level 6 is zlib's default trade-off */
    if (deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        return NULL;
    uLong cap = deflateBound(&z, (uLong)len);
    char *out = malloc(cap);
    if (!out) {
        deflateEnd(&z);
        return NULL;
    }
    z.next_in = (Bytef *)(uintptr_t)body;
    z.avail_in = (uInt)len;
    z.next_out = (Bytef *)out;
    z.avail_out = (uInt)cap;
    int rc = deflate(&z, Z_FINISH);
    *out_len = z.total_out;
    deflateEnd(&z);
    if (rc != Z_STREAM_END) {
        free(out);
        return NULL;
    }
    return out;
}

/*
 * 1 when the client's Accept-Encoding lists gzip (or *) with a q-value
 * above 0 ("gzip", "deflate, gzip", "gzip;q=0.5"; not "gzip;q=0").
 */
static int
accepts_gzip(struct MHD_Connection *c)
{
    const char *ae = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_ACCEPT_ENCODING);
    for (const char *p = ae; p && *p;) {
        while (*p == ' ' || *p == ',')
            p++;
        size_t n = strcspn(p, ",;");
        size_t t = n;
        while (t && p[t - 1] == ' ')
            t--;
        int match = (t == 4 && strncasecmp(p, "gzip", 4) == 0) || (t == 1 && *p == '*');
        p += n;
        double q = 1.0;
        if (*p == ';') {
            const char *qs = strstr(p, "q=");
            const char *end = p + strcspn(p, ",");
            if (qs && qs < end)
                q = strtod(qs + 2, NULL);
            p = end;
        }
        if (match && q > 0)
            return 1;
    }
    return 0;
}

static enum MHD_Result
reply_len(rm_exp_http_t *h, struct MHD_Connection *c, const char *path, int status, const char *ctype, char *body,
          size_t len, int allow, const char *encoding)
{
    struct MHD_Response *r;
    if (!body) {
        static char oom[] = "{\"error\":\"out of memory\",\"status\":500}";
        status = 500;
        r = MHD_create_response_from_buffer(sizeof oom - 1, oom, MHD_RESPMEM_PERSISTENT);
        ctype = JSON_TYPE;
        encoding = NULL;
    } else {
        r = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
    }
    if (!r) {
        free(body);
        return MHD_NO;
    }
    if (encoding)
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_ENCODING, encoding);
    if (strcmp(ctype, METRICS_TYPE) == 0)
        MHD_add_response_header(r, MHD_HTTP_HEADER_VARY, MHD_HTTP_HEADER_ACCEPT_ENCODING);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    if (allow)
        MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
    enum MHD_Result ret = MHD_queue_response(c, (unsigned)status, r);
    MHD_destroy_response(r);
    rm_exporter_count_http(h->exp, path, status);
    return ret;
}

static enum MHD_Result
reply(rm_exp_http_t *h, struct MHD_Connection *c, const char *path, int status, const char *ctype, char *body,
      int allow)
{
    return reply_len(h, c, path, status, ctype, body, body ? strlen(body) : 0, allow, NULL);
}

static char *
json_text(const char *s)
{
    return strdup(s);
}

static enum MHD_Result
on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method, const char *version,
           const char *upload_data, size_t *upload_data_size, void **con_cls)
{
    rm_exp_http_t *h = cls;
    req_state_t *rs = *con_cls;
    if (!rs) {
        rs = calloc(1, sizeof *rs);
        if (!rs)
            return MHD_NO;
        *con_cls = rs;
        return MHD_YES;
    }
    if (*upload_data_size) {
        rs->body_bytes += *upload_data_size;
        *upload_data_size = 0;
        return rs->body_bytes > BODY_DROP ? MHD_NO : MHD_YES;
    }
    if (rs->body_bytes > BODY_MAX)
        return reply(h, conn, url, 413, JSON_TYPE,
                     rm_exporter_json_error(413, "request body too large; no endpoint takes a body",
                                            GRPC_STATUS_OK, NULL),
                     0);
    int head = strcmp(method, MHD_HTTP_METHOD_HEAD) == 0;
    if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && !head) {
        char msg[160];
        snprintf(msg, sizeof msg, "method %.32s is not allowed: the exporter is read-only (GET, HEAD)", method);
        return reply(h, conn, url, 405, JSON_TYPE, rm_exporter_json_error(405, msg, GRPC_STATUS_OK, NULL), 1);
    }
    int status = 200;
    char *body = NULL;
    if (h->health_only && strcmp(url, "/healthz") != 0 && strcmp(url, "/readyz") != 0)
        return reply(h, conn, url, 404, JSON_TYPE,
                     rm_exporter_json_error(404, "this is the health listener: /healthz and /readyz only",
                                            GRPC_STATUS_OK, NULL),
                     0);
    if (strcmp(url, "/metrics") == 0) {
        size_t len;
        if (rm_exporter_scrape(h->exp, &body, &len) != RM_OK)
            return reply(h, conn, url, 200, METRICS_TYPE, NULL, 0);
        if (accepts_gzip(conn)) { /* about 10x smaller; sent plain if zlib fails */
            size_t zlen;
            char *z = gzip_body(body, len, &zlen);
            if (z) {
                free(body);
                return reply_len(h, conn, url, 200, METRICS_TYPE, z, zlen, 0, "gzip");
            }
        }
        return reply_len(h, conn, url, 200, METRICS_TYPE, body, len, 0, NULL);
    }
    if (strcmp(url, "/api/v1/stats/memory") == 0)
        rm_exporter_rest_memory(h->exp, &status, &body);
    else if (strcmp(url, "/api/v1/stats/memory/forecast") == 0)
        rm_exporter_rest_forecast(h->exp, &status, &body);
    else if (strcmp(url, "/api/v1/stats/buffer_pool") == 0)
        rm_exporter_rest_buffer_pool(h->exp, &status, &body);
    else if (strcmp(url, "/healthz") == 0)
        body = json_text("{\"status\":\"ok\"}\n");
    else if (strcmp(url, "/readyz") == 0)
        rm_exporter_readyz(h->exp, &status, &body);
    else if (strcmp(url, "/") == 0)
        body = json_text("{\"service\":\"rustymem-exporter\",\"endpoints\":[\"/metrics\",\"/api/v1/stats/memory\","
                         "\"/api/v1/stats/memory/forecast\",\"/api/v1/stats/buffer_pool\",\"/healthz\","
                         "\"/readyz\"]}\n");
    else {
        status = 404;
        body = rm_exporter_json_error(404, "no such endpoint; see / for the list", GRPC_STATUS_OK, NULL);
    }
    return reply(h, conn, url, status, JSON_TYPE, body, 0);
}

static void
on_completed(void *cls, struct MHD_Connection *conn, void **con_cls, enum MHD_RequestTerminationCode toe)
{
    free(*con_cls);
    *con_cls = NULL;
}

static _Atomic int http_verbose;   /* set by each start (the health listener starts after the main one runs) */

static void
on_log(void *cls, const char *fmt, va_list ap)
{
    if (!atomic_load_explicit(&http_verbose, memory_order_relaxed))
        return;
    char line[512];
    vsnprintf(line, sizeof line, fmt, ap);
    size_t n = strlen(line);
    while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        line[--n] = '\0';
    rm_log("DEBUG", "http: %s", line);
}

/* "HOST:PORT", "[v6]:PORT", ":PORT" (all interfaces) → sockaddr. */
static rm_status_t
parse_listen(const char *listen, struct sockaddr_storage *ss, socklen_t *sl, int *v6, char *err, size_t errcap)
{
    char host[256];
    const char *port;
    if (listen[0] == '[') {
        const char *close = strchr(listen, ']');
        if (!close || close[1] != ':' || (size_t)(close - listen - 1) >= sizeof host)
            goto bad;
        snprintf(host, sizeof host, "%.*s", (int)(close - listen - 1), listen + 1);
        port = close + 2;
    } else {
        const char *colon = strrchr(listen, ':');
        if (!colon || (size_t)(colon - listen) >= sizeof host)
            goto bad;
        snprintf(host, sizeof host, "%.*s", (int)(colon - listen), listen);
        port = colon + 1;
    }
    char *end;
    long p = strtol(port, &end, 10);
    if (!*port || *end || p < 0 || p > 65535)
        goto bad;
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE}, *res;
    int rc = getaddrinfo(host[0] ? host : NULL, port, &hints, &res);
    if (rc != 0) {
        snprintf(err, errcap, "--listen %s: cannot resolve '%s': %s", listen, host, gai_strerror(rc));
        return RM_EINVAL;
    }
    memcpy(ss, res->ai_addr, res->ai_addrlen);
    *sl = res->ai_addrlen;
    *v6 = res->ai_family == AF_INET6;
    freeaddrinfo(res);
    return RM_OK;
bad:
    snprintf(err, errcap, "--listen %s: expected HOST:PORT (port 0..65535), e.g. 127.0.0.1:8080 or [::1]:8080",
             listen);
    return RM_EINVAL;
}

rm_status_t
rm_exp_http_start_ex(rm_exporter_t *e, const char *listen, int verbose, int health_only, rm_exp_http_t **out,
                     int *port, char *err, size_t errcap)
{
    *out = NULL;
    struct sockaddr_storage ss;
    socklen_t sl;
    int v6;
    rm_status_t st = parse_listen(listen, &ss, &sl, &v6, err, errcap);
    if (st != RM_OK)
        return st;
    rm_exp_http_t *h = calloc(1, sizeof *h);
    if (!h) {
        snprintf(err, errcap, "out of memory");
        return RM_ENOMEM;
    }
    h->exp = e;
    h->health_only = health_only;
    atomic_store_explicit(&http_verbose, verbose, memory_order_relaxed);
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_POLL |
                     MHD_USE_ERROR_LOG | (v6 ? MHD_USE_IPv6 : 0);
    errno = 0;
    h->daemon = MHD_start_daemon(flags, 0, NULL, NULL, on_request, h,
                                 MHD_OPTION_EXTERNAL_LOGGER, on_log, NULL,
                                 MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
                                 MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL,
                                 MHD_OPTION_CONNECTION_TIMEOUT,
                                 health_only ? HEALTH_IDLE_TIMEOUT_S : IDLE_TIMEOUT_S,
                                 MHD_OPTION_CONNECTION_LIMIT, health_only ? HEALTH_CONNECTION_LIMIT : CONNECTION_LIMIT,
                                 MHD_OPTION_PER_IP_CONNECTION_LIMIT, health_only ? HEALTH_PER_IP_LIMIT : PER_IP_LIMIT,
                                 MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(64 * 1024),
                                 MHD_OPTION_END);
    if (!h->daemon) {
        snprintf(err, errcap, "cannot listen on %s: %s", listen,
                 errno ? strerror(errno) : "address in use or not available");
        free(h);
        return RM_EIO;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(h->daemon, MHD_DAEMON_INFO_BIND_PORT);
    *port = info ? (int)info->port : 0;
    *out = h;
    return RM_OK;
}

rm_status_t
rm_exp_http_start(rm_exporter_t *e, const char *listen, int verbose, rm_exp_http_t **out, int *port, char *err,
                  size_t errcap)
{
    return rm_exp_http_start_ex(e, listen, verbose, 0, out, port, err, errcap);
}

void
rm_exp_http_stop(rm_exp_http_t *h)
{
    if (!h)
        return;
    MHD_stop_daemon(h->daemon);
    free(h);
}
