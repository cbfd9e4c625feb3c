/*
 * main.c — rustymem-exporter: Prometheus metrics and the seed's REST API for
 * one rustymem agent, as a sidecar.
 *
 * Start-up: parse flags → block SIGTERM/SIGINT in every thread (gRPC's and
 * libmicrohttpd's threads inherit the mask) → create the agent channel (lazy:
 * the agent may start later; /metrics says rustymem_up 0 meanwhile) → start
 * the HTTP server → write --port-file → sigwait → stop the HTTP server
 * (running requests finish) → exit 0.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "address.h"
#include "agent.h"
#include "agent_creds.h"
#include "exporter.h"
#include "flags.h"
#include "log.h"

#ifndef RM_VERSION
#define RM_VERSION "dev"
#endif

typedef struct opts {
    const char *agent;
    const char *listen;
    const char *health_listen;     /* NULL = probes use the main listener */
    const char *health_port_file;
    const char *port_file;
    rm_client_creds_t creds; /* --token, --token-file, --tls-* (client.h) */
    int timeout_ms;
    int verbose;
} opts_t;

static void
usage(FILE *f)
{
    fprintf(f,
            "usage: rustymem-exporter [options]\n"
            "\n"
            "Serves one rustymem agent's statistics over HTTP: Prometheus metrics on /metrics,\n"
            "the REST API /api/v1/stats/memory, /api/v1/stats/memory/forecast and\n"
            "/api/v1/stats/buffer_pool (JSON), /healthz (the exporter is alive) and /readyz\n"
            "(the agent's gRPC health check says SERVING). Every request reads the agent afresh\n"
            "over gRPC; see docs/exporter.md.\n"
            "\n"
            "options:\n"
            "  --agent HOST:PORT       the agent's gRPC address (default $RUSTYMEM_ADDR, else\n"
            "                          127.0.0.1:50051; also [::1]:PORT and unix:/path)\n"
            "  --listen HOST:PORT      HTTP address (default 127.0.0.1:8080; port 0 = any free port;\n"
            "                          :PORT or 0.0.0.0:PORT = all interfaces, e.g. in a pod)\n"
            "  --port-file FILE        write the bound HTTP port to FILE once serving (for port 0)\n"
            "  --health-listen HOST:PORT  a second listener for /healthz and /readyz only, with\n"
            "                          connection slots of its own: point liveness/readiness probes\n"
            "                          here so slow clients on --listen cannot fail them\n"
            "  --health-port-file FILE write its bound port to FILE\n"
            "  --timeout MS            deadline of each gRPC call to the agent (default 2000, 1..60000);\n"
            "                          a scrape makes up to 10 calls, so keep 10 x MS below Prometheus's\n"
            "                          scrape_timeout\n"
            "  --verbose               log libmicrohttpd's messages (malformed requests …) and gRPC's\n"
            "                          informational lines\n");
    rm_flags_help_std(f, 26);
    fprintf(f,
            "\n"
            "credentials towards the agent (the same flags as rustymemctl; a reader token suffices):\n");
    rm_client_creds_help(f, "tls", 26);
    fprintf(f,
            "\n"
            "An agent that refuses the credentials (UNAUTHENTICATED, PERMISSION_DENIED) is reported as\n"
            "such: a log line, rustymem_scrape_error{code=\"unauthenticated\"} 1, rustymem_up 0,\n"
            "/readyz 503 and REST answers 502 with the reason.\n"
            "\n"
            "Exit status: 0 after SIGTERM/SIGINT, 1 on a start-up error (cannot listen, unreadable\n"
            "file), 2 on a usage error.\n");
}

static const rm_flags_prog_t prog = RM_FLAGS_PROG("rustymem-exporter", "see rustymem-exporter --help", usage);

/* Returns -1 to go on, else the exit code. */
static int
parse_args(int argc, char **argv, opts_t *o)
{
    enum { O_AGENT = 256, O_LISTEN, O_PORTFILE, O_HLISTEN, O_HPORTFILE, O_TIMEOUT, O_VERBOSE, O_CRED };
    static const struct option longopts[] = {
        {"agent", required_argument, 0, O_AGENT},
        {"listen", required_argument, 0, O_LISTEN},
        {"port-file", required_argument, 0, O_PORTFILE},
        {"health-listen", required_argument, 0, O_HLISTEN},
        {"health-port-file", required_argument, 0, O_HPORTFILE},
        {"timeout", required_argument, 0, O_TIMEOUT},
        RM_CLIENT_CRED_LONGOPTS("tls", O_CRED),
        {"verbose", no_argument, 0, O_VERBOSE},
        RM_FLAGS_STD_LONGOPTS,
        {0, 0, 0, 0},
    };
    int c, rc;
    long v;
    while ((c = rm_flags_next(&prog, argc, argv, longopts, &rc)) != -1) {
        if (c == RM_FLAGS_EXIT)
            return rc;
        switch (c) {
        case O_AGENT: o->agent = optarg; break;
        case O_LISTEN: o->listen = optarg; break;
        case O_PORTFILE: o->port_file = optarg; break;
        case O_HLISTEN: o->health_listen = optarg; break;
        case O_HPORTFILE: o->health_port_file = optarg; break;
        case O_TIMEOUT:
            errno = 0;
            char *end;
            v = strtol(optarg, &end, 10);
            if (errno || *end || end == optarg || v < 1 || v > 60000)
                return rm_flags_usage_error(&prog, "--timeout %s: expected milliseconds in 1..60000", optarg);
            o->timeout_ms = (int)v;
            break;
        case O_VERBOSE: o->verbose = 1; break;
        default:
            (void)rm_agent_creds_flag(&o->creds, c, O_CRED);
            break;
        }
    }
    if (rm_flags_no_operands(&prog, argc, argv) == 2)
        return 2;
    if (!*o->agent)
        return rm_flags_usage_error(&prog, "--agent needs a HOST:PORT");
    char why[128];
    if (!rm_address_check(o->agent, 0, why, sizeof why))
        /* a usage error (2), as documented */
        return rm_flags_usage_error(&prog, "--agent %s: %s", o->agent, why);
    return -1;
}

int
main(int argc, char **argv)
{
    const char *env_addr = getenv("RUSTYMEM_ADDR");
    opts_t o = {
        .agent = env_addr && *env_addr ? env_addr : "127.0.0.1:50051",
        .listen = "127.0.0.1:8080",
        .timeout_ms = 2000,
    };
    int rc = parse_args(argc, argv, &o);
    if (rc >= 0)
        return rc;

    rm_client_opts_t copts = {.target = o.agent, .timeout_ms = o.timeout_ms};
    rc = rm_agent_creds_resolve(&prog, &o.creds, &copts);
    if (rc >= 0)
        return rc;

    sigset_t stop;
    rm_agent_signals_block(&stop, 0);
    rm_log_route_grpc(o.verbose);

    char err[512] = "";
    rm_status_t st;

    rm_exporter_opts_t eo = {.client = copts, .version = RM_VERSION};
    rm_exporter_t *exp = NULL;
    st = rm_exporter_create(&eo, &exp, err, sizeof err);
    rm_client_creds_free(&o.creds); /* the exporter keeps its own copy */
    if (st != RM_OK) {
        fprintf(stderr, "rustymem-exporter: %s\n", err);
        return 1;
    }
    rm_exp_http_t *http = NULL;
    int port = 0;
    st = rm_exp_http_start(exp, o.listen, o.verbose, &http, &port, err, sizeof err);
    if (st != RM_OK) {
        fprintf(stderr, "rustymem-exporter: %s\n", err);
        rm_exporter_destroy(exp);
        return st == RM_EINVAL ? 2 : 1;
    }
    rm_log("INFO", "rustymem-exporter %s serving HTTP on %s (port %d) for agent %s (token: %s%s)", RM_VERSION,
               o.listen, port, o.agent, o.creds.source, copts.tls_ca_file || copts.tls_cert_file ? ", TLS" : "");
    if (o.port_file && rm_agent_write_port_file(o.port_file, port) < 0)
        rm_log("WARN", "cannot write port file %s: %s", o.port_file, strerror(errno));
    rm_exp_http_t *health = NULL;
    if (o.health_listen) {
        int hport = 0;
        st = rm_exp_http_start_ex(exp, o.health_listen, o.verbose, 1, &health, &hport, err, sizeof err);
        if (st != RM_OK) {
            fprintf(stderr, "rustymem-exporter: --health-listen: %s\n", err);
            rm_exp_http_stop(http);
            rm_exporter_destroy(exp);
            return st == RM_EINVAL ? 2 : 1;
        }
        rm_log("INFO", "health listener on %s (port %d): /healthz and /readyz", o.health_listen, hport);
        if (o.health_port_file && rm_agent_write_port_file(o.health_port_file, hport) < 0)
            rm_log("WARN", "cannot write port file %s: %s", o.health_port_file, strerror(errno));
    }

    int sig = rm_agent_signals_wait(&stop);
    rm_log("INFO", "received %s: stopping", rm_agent_signal_name(sig));
    rm_exp_http_stop(health);
    rm_exp_http_stop(http);
    rm_exporter_destroy(exp);
    rm_log("INFO", "stopped");
    return 0;
}
