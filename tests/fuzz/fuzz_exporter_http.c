/*
 * fuzz_exporter_http.c — libFuzzer target: rustymem-exporter's HTTP surface
 * (agents/exporter/exp_http.c routing behind libmicrohttpd, the REST and
 * /metrics handlers of exporter.c, the error bodies) with fuzzed method, path,
 * query string and headers.
 *
 * The router (on_request) is static and only reachable through libmicrohttpd,
 * so the harness serves the exporter for real — rm_exp_http_start on
 * 127.0.0.1:0 in this process — and sends every input over a loopback TCP
 * connection. Input lines:
 *     1: method            (e.g. GET)
 *     2: path[?query]      (e.g. /api/v1/stats/memory?x=1)
 *     3…: extra header lines, sent as they are
 * The request is "<method> <path> HTTP/1.1\r\nHost: fuzz\r\n<headers>\r\n";
 * the harness then half-closes the socket and reads the answer until the
 * exporter closes it (a hang is reported after FUZZ_IO_TIMEOUT_S).
 * The agent the exporter talks to does not exist (a unix socket path that is
 * never created), so every RPC fails fast with UNAVAILABLE and the handlers'
 * agent-down paths run; their agent-up paths with fuzzed agent responses are
 * not covered here. A non-empty answer must start with "HTTP/1.".
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "exporter.h"

/* Generous: on a loaded machine (load 15 on 2 cores) an answer took over 5 s
 * once; libFuzzer's own -timeout (25 s in scripts/fuzz.sh) bounds it anyway. */
#define FUZZ_IO_TIMEOUT_S 20
#define FUZZ_MAX_REQUEST 8192

static rm_exporter_t *exp_state;
static rm_exp_http_t *http;
static int port;

static void
die(const char *what, const char *why)
{
    fprintf(stderr, "fuzz_exporter_http: %s: %s\n", what, why);
    abort();
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    char err[256] = "";
    signal(SIGPIPE, SIG_IGN);
    rm_exporter_opts_t o = {
        .client = {.target = "unix:/nonexistent/rustymem-fuzz-agent.sock", .timeout_ms = 200},
        .version = "fuzz",
    };
    if (rm_exporter_create(&o, &exp_state, err, sizeof err) != RM_OK)
        die("rm_exporter_create", err);
    if (rm_exp_http_start(exp_state, "127.0.0.1:0", 0, &http, &port, err, sizeof err) != RM_OK)
        die("rm_exp_http_start", err);
    return 0;
}

static size_t
take_line(const uint8_t **p, size_t *n, char *out, size_t cap)
{
    size_t i = 0, k = 0;
    while (i < *n && (*p)[i] != '\n') {
        if (k + 1 < cap && (*p)[i] != '\r')
            out[k++] = (char)(*p)[i];
        i++;
    }
    out[k] = '\0';
    if (i < *n)
        i++;
    *p += i;
    *n -= i;
    return k;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char method[64], path[2048];
    const uint8_t *p = data;
    size_t n = size;
    take_line(&p, &n, method, sizeof method);
    take_line(&p, &n, path, sizeof path);
    if (!method[0] || !path[0])
        return 0;
    char req[FUZZ_MAX_REQUEST];
    int len = snprintf(req, sizeof req, "%s %s HTTP/1.1\r\nHost: fuzz\r\n", method, path);
    if (len < 0 || (size_t)len >= sizeof req)
        return 0;
    size_t hl = n < sizeof req - (size_t)len - 4 ? n : sizeof req - (size_t)len - 4;
    memcpy(req + len, p, hl);
    len += (int)hl;
    if (hl && req[len - 1] != '\n')
        req[len++] = '\n';
    memcpy(req + len, "\r\n", 3);   /* with a NUL, for die() */
    len += 2;

    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        die("socket", strerror(errno));
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    /* libFuzzer's timers interrupt system calls (EINTR): a connect that
     * returns EINTR goes on in the background, so wait for it with poll. */
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
        if (errno != EINTR)
            die("connect", strerror(errno));
        struct pollfd pfd = {.fd = fd, .events = POLLOUT};
        int e = 0;
        socklen_t el = sizeof e;
        while (poll(&pfd, 1, FUZZ_IO_TIMEOUT_S * 1000) < 0 && errno == EINTR)
            ;
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &el) < 0 || e != 0)
            die("connect", strerror(e ? e : errno));
    }
    struct timeval tv = {.tv_sec = FUZZ_IO_TIMEOUT_S};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    for (size_t sent = 0; sent < (size_t)len;) {
        ssize_t w = send(fd, req + sent, (size_t)len - sent, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            break; /* the exporter may close early (e.g. 413, a malformed request line) */
        sent += (size_t)w;
    }
    shutdown(fd, SHUT_WR);
    char head[8] = "";
    size_t got = 0;
    for (;;) {
        char buf[4096];
        ssize_t r = recv(fd, buf, sizeof buf, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            die("no answer within the timeout", req);
        if (r <= 0)
            break;
        for (ssize_t i = 0; i < r && got < sizeof head - 1; i++)
            head[got++] = buf[i];
    }
    close(fd);
    if (got && strncmp(head, "HTTP/1.", got < 7 ? got : 7) != 0)
        die("the answer is not HTTP", head);
    return 0;
}
