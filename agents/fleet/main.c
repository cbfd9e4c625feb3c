/*
 * main.c — rustymem-fleet, the controller that watches and steers many
 * rustymemd agents and serves rustymem.v1.FleetService.
 *
 * Start-up: parse flags → block SIGTERM/SIGINT in every thread → create the
 * controller and run discovery once (a bad agent source fails start-up) →
 * start the pollers and the gRPC server → wait for a signal, re-reading the
 * agent source every poll interval meanwhile → graceful shutdown: stop
 * serving (in-flight rollouts see the cancellation and roll back), stop the
 * pollers, exit 0. Logging is one line per event on stderr, like rustymemd.
 */
#include <errno.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "agent.h"
#include "agent_auth.h"
#include "agent_creds.h"
#include "rm_clock.h"
#include "auth.h"
#include "client.h"
#include "fleet.h"
#include "fleet_ha.h"
#include "flags.h"
#include "log.h"
#include "server.h"

#ifndef RM_VERSION
#define RM_VERSION "dev"
#endif

typedef struct opts {
    const char *listen;
    const char *port_file;
    int threads;
    int grace_ms;
    int verbose;
    rm_agent_serve_t serve;   /* --tls-*, --auth-file, --insecure, --allow-unauthenticated */
    rm_client_creds_t creds;   /* --token, --token-file, --agent-tls-* (client.h) */
    int n_sources;
    rm_fleet_opts_t fleet;
    rm_fleet_ha_opts_t ha;    /* --etcd*: replicas with one leader, crash-safe rollouts */
} opts_t;

static void
fleet_log(void *ctx, const char *level, const char *msg)
{
    (void)ctx;
    rm_log(level, "%s", msg);
}

static void
usage(FILE *f)
{
    fprintf(f,
            "usage: rustymem-fleet (--agents LIST | --agents-file FILE | --agents-dns NAME:PORT) [options]\n"
            "\n"
            "The rustymem fleet controller: discovers rustymemd agents, polls each one (Health,\n"
            "MemoryService.GetMemoryStats, ForecastService.GetForecast), keeps a fleet view, triggers\n"
            "a node's emergency response early when its forecast crosses a threshold, rolls tuning\n"
            "profiles out canary-first, and serves rustymem.v1.FleetService (rustymemctl --fleet ADDR).\n"
            "\n"
            "agent discovery (exactly one):\n"
            "  --agents HOST:PORT,...      a static list (node names = the addresses)\n"
            "  --agents-file FILE          one agent per line: NAME HOST:PORT [key=value ...] ('#' comments);\n"
            "                              re-read whenever it changes (a bad edit keeps the previous set)\n"
            "  --agents-dns NAME:PORT      resolve NAME on every poll; every address is an agent (a\n"
            "                              Kubernetes headless Service resolves to every agent pod)\n"
            "\n"
            "serving:\n"
            "  --listen HOST:PORT          gRPC address (default 127.0.0.1:50052; port 0 = any free port)\n"
            "  --port-file FILE            write the bound port to FILE once serving\n"
            "  --threads N                 gRPC completion-queue threads (default 2, 2..16; rollouts\n"
            "                              and fleet triggers run on threads of their own, up to 16)\n"
            "  --grace-ms MS               shutdown grace for in-flight calls (default 3000)\n"
            "  --tls-cert FILE             serve TLS with this PEM certificate chain\n"
            "  --tls-key FILE              and this PEM private key\n"
            "  --tls-client-ca FILE        require client certificates signed by this CA (mTLS)\n"
            "  --auth-file FILE            tokens/identities with roles, as rustymemd (docs/security.md);\n"
            "                              ListNodes/GetFleetStats/GetFleetForecast need reader,\n"
            "                              ApplyProfile/TriggerResponse need admin. SIGHUP re-reads it\n"
            "                              (a revoked token stops working; a bad file keeps the old rules)\n"
            "  --insecure                  allow plaintext on a non-loopback address\n"
            "  --allow-unauthenticated     serve a non-loopback address without --auth-file or\n"
            "                              --tls-client-ca: anyone who can connect may roll out profiles\n"
            "                              and trigger emergency responses on every agent. Without this\n"
            "                              flag that is refused (exit 2)\n"
            "\n"
            "talking to the agents:\n"
            "  --poll-ms N                 poll and discovery interval (default 2000, 10..3600000)\n"
            "  --poll-threads N            threads that run every agent's (asynchronous) poll calls,\n"
            "                              whatever the fleet size (default 1, 1..64)\n"
            "  --rpc-timeout-ms N          deadline of every agent call (default 2000, 10..600000)\n"
            "  --backoff-max-ms N          cap of the backoff for unreachable agents (default 30000)\n"
            "  credentials (the same flags as rustymemctl, TLS ones prefixed agent-; the token needs\n"
            "  the admin role on the agents to roll out and trigger, reader to watch):\n");
    rm_client_creds_help(f, "agent-tls", 30);
    fprintf(f,
            "\n"
            "early-response policy:\n"
            "  --trigger-level LEVEL       act at/above this level, now or forecast (default emergency;\n"
            "                              monitor|gentle|aggressive|emergency|oom_prevention)\n"
            "  --trigger-confidence X      confidence a forecast needs, 0..1 (default 0.7)\n"
            "  --trigger-ttc-seconds S     also act when time to critical <= S (default 60)\n"
            "  --trigger-cooldown-ms N     per node between triggers unless the level rises (default 60000)\n"
            "  --no-early-response         watch only; never trigger on our own\n"
            "\n"
            "replicas and crash-safe rollouts (docs/fleet.md, docs/adr/0027):\n"
            "  --etcd HOST:PORT,...        etcd v3 endpoints: leader election on a lease (only the leader\n"
            "                              rolls out and triggers; followers serve the fleet view) and a\n"
            "                              rollout journal a new leader rolls back from. Without it one\n"
            "                              replica only, and a crash mid-rollout leaves nodes changed\n"
            "  --etcd-prefix KEY           key prefix (default /rustymem/fleet)\n"
            "  --etcd-id ID                this replica's identity (default HOSTNAME/PID)\n"
            "  --etcd-lease-ttl S          leader lease TTL in seconds (default 10, 2..300); a leader\n"
            "                              stops acting TTL/5 (at least 1 s) before it could expire\n"
            "  --etcd-timeout-ms N         deadline of every etcd call (default 2000)\n"
            "  --etcd-tls-ca FILE          talk TLS to etcd, trusting these PEM roots\n"
            "  --etcd-tls-cert FILE        client certificate for etcd (with --etcd-tls-key)\n"
            "  --etcd-tls-key FILE         its PEM private key\n"
            "\n"
            "rollout defaults (each request may override):\n"
            "  --canary-wait-seconds S     wait after the canary before its gate (default 30)\n"
            "  --batch-wait-seconds S      wait after each later batch (default 10)\n"
            "  --batch-size N              nodes per batch after the canary (default 2)\n"
            "  --gate-max-level LEVEL      highest pressure level that passes the gate (default gentle)\n"
            "\n"
            "  --verbose                   also log gRPC's informational messages\n");
    rm_flags_help_end(f, 30);
}

static const rm_flags_prog_t prog = RM_FLAGS_PROG("rustymem-fleet", "see rustymem-fleet --help", usage);

static int
num(const char *flag, const char *s, double lo, double hi, double *out)
{
    return rm_flags_double(&prog, flag, s, lo, hi, out);
}

static int
level_arg(const char *flag, const char *s, int *out)
{
    int l = rm_fleet_level_parse(s);
    if (l < 1) {
        fprintf(stderr, "rustymem-fleet: %s %s: expected monitor, gentle, aggressive, emergency or oom_prevention\n",
                flag, s);
        return -1;
    }
    *out = l;
    return 0;
}

static int
parse_args(int argc, char **argv, opts_t *o)
{
    enum { O_LISTEN = 256, O_PORTFILE, O_THREADS, O_GRACE,
           O_AGENTS, O_AGENTS_FILE, O_AGENTS_DNS, O_POLL, O_RPCTO, O_BACKOFF, O_TLEVEL, O_TCONF, O_TTTC, O_TCOOL,
           O_NOEARLY, O_CWAIT, O_BWAIT, O_BSIZE, O_GATE, O_VERBOSE, O_PTHREADS, O_ETCD, O_ETCD_PREFIX, O_ETCD_ID,
           O_ETCD_TTL, O_ETCD_TIMEOUT, O_ETCD_CA, O_ETCD_CERT, O_ETCD_KEY, O_CRED,
           O_SERVE = O_CRED + RM_CRED_N_FLAGS };
    static const struct option longopts[] = {
        {"listen", required_argument, 0, O_LISTEN},
        {"port-file", required_argument, 0, O_PORTFILE},
        {"threads", required_argument, 0, O_THREADS},
        {"grace-ms", required_argument, 0, O_GRACE},
        RM_AGENT_SERVE_LONGOPTS(O_SERVE),
        {"agents", required_argument, 0, O_AGENTS},
        {"agents-file", required_argument, 0, O_AGENTS_FILE},
        {"agents-dns", required_argument, 0, O_AGENTS_DNS},
        {"poll-ms", required_argument, 0, O_POLL},
        {"poll-threads", required_argument, 0, O_PTHREADS},
        {"rpc-timeout-ms", required_argument, 0, O_RPCTO},
        {"backoff-max-ms", required_argument, 0, O_BACKOFF},
        RM_CLIENT_CRED_LONGOPTS("agent-tls", O_CRED),
        {"trigger-level", required_argument, 0, O_TLEVEL},
        {"trigger-confidence", required_argument, 0, O_TCONF},
        {"trigger-ttc-seconds", required_argument, 0, O_TTTC},
        {"trigger-cooldown-ms", required_argument, 0, O_TCOOL},
        {"no-early-response", no_argument, 0, O_NOEARLY},
        {"canary-wait-seconds", required_argument, 0, O_CWAIT},
        {"batch-wait-seconds", required_argument, 0, O_BWAIT},
        {"batch-size", required_argument, 0, O_BSIZE},
        {"gate-max-level", required_argument, 0, O_GATE},
        {"verbose", no_argument, 0, O_VERBOSE},
        {"etcd", required_argument, 0, O_ETCD},
        {"etcd-prefix", required_argument, 0, O_ETCD_PREFIX},
        {"etcd-id", required_argument, 0, O_ETCD_ID},
        {"etcd-lease-ttl", required_argument, 0, O_ETCD_TTL},
        {"etcd-timeout-ms", required_argument, 0, O_ETCD_TIMEOUT},
        {"etcd-tls-ca", required_argument, 0, O_ETCD_CA},
        {"etcd-tls-cert", required_argument, 0, O_ETCD_CERT},
        {"etcd-tls-key", required_argument, 0, O_ETCD_KEY},
        RM_FLAGS_STD_LONGOPTS,
        {0, 0, 0, 0},
    };
    rm_fleet_opts_t *fo = &o->fleet;
    /* The numeric flags: their range and where the value goes (one of i, d, u). */
    const struct {
        int opt;
        const char *flag;
        double lo, hi;
        int *i;
        double *d;
        uint32_t *u;
    } nums[] = {
        {O_THREADS, "--threads", 2, 16, &o->threads, NULL, NULL},
        {O_GRACE, "--grace-ms", 1, 600000, &o->grace_ms, NULL, NULL},
        {O_POLL, "--poll-ms", 10, 3600000, &fo->poll_ms, NULL, NULL},
        {O_PTHREADS, "--poll-threads", 1, RM_FLEET_MAX_POLL_THREADS, &fo->poll_threads, NULL, NULL},
        {O_RPCTO, "--rpc-timeout-ms", 10, 600000, &fo->rpc_timeout_ms, NULL, NULL},
        {O_BACKOFF, "--backoff-max-ms", 10, 86400000, &fo->backoff_max_ms, NULL, NULL},
        {O_TCONF, "--trigger-confidence", 0.01, 1, NULL, &fo->trigger_confidence, NULL},
        {O_TTTC, "--trigger-ttc-seconds", 0.001, 86400, NULL, &fo->trigger_ttc_seconds, NULL},
        {O_TCOOL, "--trigger-cooldown-ms", 1, 86400000, &fo->trigger_cooldown_ms, NULL, NULL},
        {O_CWAIT, "--canary-wait-seconds", 0.001, 3600, NULL, &fo->canary_wait_seconds, NULL},
        {O_BWAIT, "--batch-wait-seconds", 0.001, 3600, NULL, &fo->batch_wait_seconds, NULL},
        {O_BSIZE, "--batch-size", 1, RM_FLEET_MAX_TARGETS, NULL, NULL, &fo->batch_size},
        {O_ETCD_TTL, "--etcd-lease-ttl", 2, 300, &o->ha.lease_ttl_s, NULL, NULL},
        {O_ETCD_TIMEOUT, "--etcd-timeout-ms", 10, 600000, &o->ha.timeout_ms, NULL, NULL},
    };
    int c, rc;
    while ((c = rm_flags_next(&prog, argc, argv, longopts, &rc)) != -1) {
        if (c == RM_FLAGS_EXIT)
            return rc;
        size_t k;
        for (k = 0; k < sizeof nums / sizeof nums[0] && nums[k].opt != c; k++)
            ;
        if (k < sizeof nums / sizeof nums[0]) {
            double v;
            if (num(nums[k].flag, optarg, nums[k].lo, nums[k].hi, &v) < 0)
                return 2;
            if (nums[k].i)
                *nums[k].i = (int)v;
            else if (nums[k].d)
                *nums[k].d = v;
            else
                *nums[k].u = (uint32_t)v;
            continue;
        }
        switch (c) {
        case O_LISTEN: o->listen = optarg; break;
        case O_PORTFILE: o->port_file = optarg; break;
        case O_AGENTS: fo->source = RM_FLEET_SOURCE_LIST; fo->source_spec = optarg; o->n_sources++; break;
        case O_AGENTS_FILE: fo->source = RM_FLEET_SOURCE_FILE; fo->source_spec = optarg; o->n_sources++; break;
        case O_AGENTS_DNS: fo->source = RM_FLEET_SOURCE_DNS; fo->source_spec = optarg; o->n_sources++; break;
        case O_TLEVEL:
            if (level_arg("--trigger-level", optarg, &fo->trigger_level) < 0)
                return 2;
            break;
        case O_NOEARLY: fo->no_early_response = 1; break;
        case O_GATE:
            if (level_arg("--gate-max-level", optarg, &fo->gate_max_level) < 0)
                return 2;
            break;
        case O_VERBOSE: o->verbose = 1; break;
        case O_ETCD: o->ha.endpoints = optarg; break;
        case O_ETCD_PREFIX: o->ha.prefix = optarg; break;
        case O_ETCD_ID: o->ha.id = optarg; break;
        case O_ETCD_CA: o->ha.tls_ca_file = optarg; break;
        case O_ETCD_CERT: o->ha.tls_cert_file = optarg; break;
        case O_ETCD_KEY: o->ha.tls_key_file = optarg; break;
        default:
            if (!rm_agent_creds_flag(&o->creds, c, O_CRED))
                (void)rm_agent_serve_flag(&o->serve, c, O_SERVE);
            break;
        }
    }
    if (rm_flags_no_operands(&prog, argc, argv) == 2)
        return 2;
    if (o->n_sources != 1) {
        fprintf(stderr, "rustymem-fleet: give exactly one of --agents, --agents-file, --agents-dns (see --help)\n");
        return 2;
    }
    if (!o->ha.endpoints && (o->ha.prefix || o->ha.id || o->ha.lease_ttl_s || o->ha.timeout_ms ||
                             o->ha.tls_ca_file || o->ha.tls_cert_file || o->ha.tls_key_file)) {
        fprintf(stderr, "rustymem-fleet: the --etcd-* options need --etcd ENDPOINTS\n");
        return 2;
    }
    if (!o->ha.tls_cert_file != !o->ha.tls_key_file) {
        fprintf(stderr, "rustymem-fleet: --etcd-tls-cert and --etcd-tls-key go together\n");
        return 2;
    }
    if (!o->serve.tls_cert != !o->serve.tls_key || (o->serve.tls_client_ca && !o->serve.tls_cert)) {
        fprintf(stderr, "rustymem-fleet: --tls-cert and --tls-key go together (and --tls-client-ca needs them)\n");
        return 2;
    }
    return -1;
}

/*
 * Wait for a signal of `set`, and meanwhile run the fleet's discovery every
 * poll_ms (agents file or DNS; the fleet starts no discovery thread of its
 * own, ADR 0026). A slow DNS answer delays a signal by as long.
 */
static int
wait_signal_discovering(const sigset_t *set, rm_fleet_t *fleet, int poll_ms)
{
    int64_t next = rm_mono_ms() + poll_ms;
    for (;;) {
        int64_t left = next - rm_mono_ms();
        if (left <= 0) {
            rm_fleet_discover_tick(fleet);
            next = rm_mono_ms() + poll_ms;
            continue;
        }
        struct timespec to = {.tv_sec = left / 1000, .tv_nsec = (long)(left % 1000) * 1000000L};
        int sig = sigtimedwait(set, NULL, &to);
        if (sig > 0)
            return sig;
    }
}

int
main(int argc, char **argv)
{
    /* Two malloc arenas, not 8 per core: the poll threads and gRPC's allocate per-agent state from
     * whichever arena they hit, and each arena keeps its own free memory (ADR 0026). MALLOC_ARENA_MAX
     * in the environment still decides. */
    if (!getenv("MALLOC_ARENA_MAX"))
        mallopt(M_ARENA_MAX, 2);
    opts_t o = {.listen = "127.0.0.1:50052", .threads = 2, .grace_ms = 3000};
    int rc = parse_args(argc, argv, &o);
    if (rc >= 0)
        return rc;
    /* TLS or --insecure, and no open admin API: FleetService changes every agent (docs/adr/0015). */
    if (rm_agent_listen_check(&prog, o.listen, &o.serve) == 2)
        return 2;
    if (o.serve.allow_unauthenticated && !o.serve.auth_file && !o.serve.tls_client_ca &&
        !rm_agent_is_loopback(o.listen))
        rm_log("WARN", "serving FleetService on %s without authentication (--allow-unauthenticated): anyone who "
                     "can connect may roll out profiles and trigger responses on every agent",
             o.listen);
    {
        rm_client_opts_t co = {0};
        o.creds.tls_prefix = "agent-tls";
        rc = rm_agent_creds_resolve(&prog, &o.creds, &co);
        if (rc >= 0)
            return rc;
        o.fleet.token = co.token;
        o.fleet.tls_ca_file = co.tls_ca_file;
        o.fleet.tls_cert_file = co.tls_cert_file;
        o.fleet.tls_key_file = co.tls_key_file;
        o.fleet.tls_server_name = co.tls_server_name;
    }

    sigset_t stop;
    rm_agent_signals_block(&stop, 1); /* SIGHUP re-reads the auth file */
    rm_log_route_grpc(o.verbose);

    o.fleet.log = fleet_log;
    char err[512] = "";
    rm_fleet_t *fleet = NULL;
    rm_auth_t *auth = NULL;
    rm_server_t *srv = NULL;
    int exit_code = 1;
    o.fleet.discovery_by_caller = 1;   /* this thread runs it between signals: one thread fewer */
    if (rm_fleet_create(&o.fleet, &fleet, err, sizeof err) != RM_OK) {
        fprintf(stderr, "rustymem-fleet: %s\n", err);
        return 2;
    }
    if (rm_agent_auth_load(&prog, o.serve.auth_file, o.serve.tls_client_ca != NULL, &auth) != RM_OK)
        goto out;
    /* etcd first: the pollers' early responses ask rm_fleet_is_leader from their first poll. */
    rm_status_t st;
    if (o.ha.endpoints) {
        st = rm_fleet_ha_start(fleet, &o.ha, err, sizeof err);
        if (st != RM_OK) {
            fprintf(stderr, "rustymem-fleet: %s\n", err);
            if (st == RM_EINVAL)
                exit_code = 2;
            goto out;
        }
    } else {
        rm_log("WARN", "rollouts are not crash-safe: no --etcd, so a controller that dies mid-rollout leaves the "
                       "changed nodes changed; run exactly one replica");
    }
    st = rm_fleet_start(fleet, err, sizeof err);
    if (st != RM_OK) {
        fprintf(stderr, "rustymem-fleet: %s\n", err);
        /* A malformed --agents/--agents-dns value is a usage error; a bad file is a runtime one. */
        if (st == RM_EINVAL && o.fleet.source != RM_FLEET_SOURCE_FILE)
            exit_code = 2;
        goto out;
    }
    static const rm_rpc_service_t *const services[] = {&rm_fleet_service};
    rm_server_opts_t so = {
        .listen = o.listen,
        .cq_threads = o.threads,
        .shutdown_grace_ms = o.grace_ms,
        .app = fleet,
        .auth = rm_auth_check,
        .auth_ctx = auth,
        .tls_cert_file = o.serve.tls_cert,
        .tls_key_file = o.serve.tls_key,
        .tls_client_ca_file = o.serve.tls_client_ca,
    };
    if (rm_server_create(&so, services, 1, &srv, err, sizeof err) != RM_OK) {
        rm_log("ERROR", "%s", err);
        goto out;
    }
    if (rm_server_start(srv) != RM_OK) {
        rm_log("ERROR", "cannot start the server threads");
        rm_server_wait(srv);
        goto out;
    }
    int port = rm_server_port(srv);
    rm_log("INFO", "rustymem-fleet %s serving FleetService on %s (port %d), %zu agents, agent token: %s", RM_VERSION,
         o.listen, port, rm_fleet_node_count(fleet), o.creds.source);
    if (o.port_file && rm_agent_write_port_file(o.port_file, port) < 0)
        rm_log("WARN", "cannot write port file %s: %s", o.port_file, strerror(errno));
    int sig;
    while ((sig = wait_signal_discovering(&stop, fleet, o.fleet.poll_ms > 0 ? o.fleet.poll_ms : 2000)) == SIGHUP)
        rm_agent_auth_reload(auth, o.serve.auth_file);
    rm_log("INFO", "received %s: shutting down", rm_agent_signal_name(sig));
    rm_server_shutdown(srv);
    rm_server_wait(srv);
    exit_code = 0;
out:
    rm_fleet_stop(fleet);    /* pollers first: they ask rm_fleet_is_leader before triggering */
    rm_fleet_ha_stop(fleet); /* then hand leadership over (lease revoked) */
    rm_server_destroy(srv);
    rm_fleet_destroy(fleet);
    rm_auth_destroy(auth);
    rm_client_creds_free(&o.creds);
    if (exit_code == 0)
        rm_log("INFO", "stopped");
    return exit_code;
}
