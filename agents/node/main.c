/*
 * main.c — rustymemd, the rustymem node agent.
 *
 * Start-up: parse flags → prepare the data directory (created if missing,
 * locked with flock so two agents never share it) → block SIGTERM/SIGINT in
 * every thread (gRPC's threads inherit the mask) → create and start the gRPC
 * server → wait for a signal on a sigwait loop → graceful shutdown: stop
 * accepting, finish in-flight calls within the grace period, exit 0.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <systemd/sd-daemon.h>
#include <time.h>
#include <unistd.h>

#include "address.h"
#include "accept_guard.h"
#include "agent.h"
#include "agent_auth.h"
#include "auth.h"
#include "config.h"
#include "flags.h"
#include "log.h"
#include "engine_node.h"
#include "node_mem.h"
#include "node.h"
#include "server.h"

/*
 * jemalloc (the agent's malloc outside sanitizer builds) reads this at start.
 * Its background thread purges dirty pages on the decay schedule even when no
 * thread allocates, so memory freed after a burst (a connection flood, a
 * vacuum) goes back to the OS instead of staying resident until the next
 * allocation (Redis enables it too). Ignored when jemalloc is not the malloc.
 */
const char *malloc_conf = "background_thread:true";

extern char **environ;

#define MAX_SET_FLAGS 64

#ifndef RM_VERSION
#define RM_VERSION "dev"
#endif

typedef struct opts {
    const char *listen;
    const char *data_dir;
    const char *node_name;
    const char *port_file;
    int threads;
    int grace_ms;
    size_t max_request_bytes;
    int verbose;
    rm_agent_serve_t serve;   /* --tls-*, --auth-file, --insecure, --allow-unauthenticated */
    const char *config;
    rm_knob_assign_t sets[MAX_SET_FLAGS];   /* --set name=value, pointers into argv */
    size_t n_sets;
    const char *labels[RM_HOST_MAX_LABELS];  /* --label K=V, pointers into argv */
    size_t n_labels;
    const char *labels_file;                 /* --labels-file FILE */
} opts_t;

static void
usage(FILE *f)
{
    fprintf(f,
            "usage: rustymemd [options]\n"
            "\n"
            "The rustymem node agent: hosts the memory core and serves its gRPC API\n"
            "(rustymem.v1.MemoryService and the other services of proto/rustymem/v1, plus\n"
            "grpc.health.v1.Health).\n"
            "\n"
            "options:\n"
            "  --listen HOST:PORT        gRPC address (default 127.0.0.1:50051; port 0 = any free\n"
            "                            port; also [::1]:PORT and unix:/path)\n"
            "  --data-dir DIR            state directory: page files, persisted knobs, lock file\n"
            "                            (default ./rustymem-data; created if missing)\n"
            "  --node-name NAME          name reported in stats (default $NODE_NAME, else the host name)\n"
            "  --label KEY=VALUE         an identity label reported in GetMemoryStats (repeatable, at most\n"
            "                            16 in all); rustymem-fleet --label selectors match it\n"
            "  --labels-file FILE        labels from FILE, one KEY=VALUE or KEY=\"VALUE\" per line (the\n"
            "                            Kubernetes downward API's metadata.labels file); --label wins\n"
            "  --config FILE             INI configuration (sections = knob prefixes, e.g. [pressure]\n"
            "                            warning_threshold = 0.70); see docs/knobs.md. SIGHUP re-reads\n"
            "                            it with every other layer: live knobs change, restart-only ones\n"
            "                            become pending, a deleted line reverts to the default, an\n"
            "                            invalid file changes nothing (logged)\n"
            "  --set NAME=VALUE          set a knob for this run (repeatable; beats RUSTYMEM_<SECTION>_<KEY>\n"
            "                            environment variables, which beat the data dir's knobs.auto.ini\n"
            "                            (runtime changes), which beats --config)\n"
            "  --port-file FILE          write the bound port to FILE once serving (for tests and\n"
            "                            scripts that use port 0)\n"
            "  --threads N               gRPC completion-queue threads (default 2, 1..16)\n"
            "  --grace-ms MS             on SIGTERM/SIGINT, time in-flight calls get before they are\n"
            "                            cancelled (default 3000)\n"
            "  --max-request-bytes N     larger requests get RESOURCE_EXHAUSTED (default 4194304)\n"
            "  --tls-cert FILE           serve TLS with this PEM certificate chain\n"
            "  --tls-key FILE            and this PEM private key\n"
            "  --tls-client-ca FILE      require client certificates signed by this CA (mTLS)\n"
            "  --auth-file FILE          bearer tokens and certificate identities with their roles, one\n"
            "                            per line: 'token reader|admin|client SECRET [NAME]' or\n"
            "                            'cert reader|admin|client IDENTITY' (see docs/security.md).\n"
            "                            A file that grants nothing is refused. SIGHUP re-reads it (a\n"
            "                            revoked token stops working; a bad file keeps the old rules)\n"
            "  --insecure                allow plaintext on a non-loopback address\n"
            "  --allow-unauthenticated   serve a non-loopback address without --auth-file or\n"
            "                            --tls-client-ca, so anyone who can connect is admin; refused\n"
            "                            (exit 2) without this flag\n"
            "  --verbose                 also log gRPC's informational messages\n");
    rm_flags_help_end(f, 28);
}

static const rm_flags_prog_t prog = RM_FLAGS_PROG("rustymemd", "see rustymemd --help", usage);

/*
 * Add or replace label key=value on the host. `src` names the origin in
 * messages ("--label", "labels.txt:3"). Returns 0, or -1 after printing one
 * line that names it.
 */
static int
label_set(rm_host_t *h, const char *key, size_t klen, const char *val, const char *src)
{
    char shown[256];
    if (klen == 0 || klen >= sizeof h->label_key[0]) {
        rm_log_escape(shown, sizeof shown, key);
        fprintf(stderr, "rustymemd: %s %s: the label key must be 1..%zu characters\n", src, shown,
                sizeof h->label_key[0] - 1);
        return -1;
    }
    for (size_t i = 0; i < klen; i++) {
        unsigned char c = (unsigned char)key[i];
        if (!(c >= 'a' && c <= 'z') && !(c >= 'A' && c <= 'Z') && !(c >= '0' && c <= '9') && !strchr("._-/", c)) {
            rm_log_escape(shown, sizeof shown, key);
            fprintf(stderr, "rustymemd: %s %s: label keys use letters, digits and . _ - / only\n", src, shown);
            return -1;
        }
    }
    size_t vlen = strlen(val);
    for (size_t i = 0; i < vlen; i++) {
        unsigned char c = (unsigned char)val[i];
        if (c <= ' ' || c == 0x7f) {
            rm_log_escape(shown, sizeof shown, val);
            fprintf(stderr, "rustymemd: %s: the value of label %.*s (%s) has a blank or control character\n", src,
                    (int)klen, key, shown);
            return -1;
        }
    }
    if (vlen >= sizeof h->label_value[0]) {
        fprintf(stderr, "rustymemd: %s: the value of label %.*s is longer than %zu characters\n", src, (int)klen, key,
                sizeof h->label_value[0] - 1);
        return -1;
    }
    size_t i = 0;
    while (i < h->n_labels && !(strlen(h->label_key[i]) == klen && memcmp(h->label_key[i], key, klen) == 0))
        i++;
    if (i == RM_HOST_MAX_LABELS) {
        fprintf(stderr, "rustymemd: %s: more than %d labels\n", src, RM_HOST_MAX_LABELS);
        return -1;
    }
    memcpy(h->label_key[i], key, klen);
    h->label_key[i][klen] = '\0';
    memcpy(h->label_value[i], val, vlen + 1);
    if (i == h->n_labels)
        h->n_labels++;
    return 0;
}

/* --labels-file (KEY=VALUE or KEY="VALUE" with \" and \\ escapes, as the downward API writes), then --label. */
static int
load_labels(const opts_t *o, rm_host_t *h)
{
    if (o->labels_file) {
        FILE *fp = fopen(o->labels_file, "r");
        if (!fp) {
            fprintf(stderr, "rustymemd: --labels-file %s: %s\n", o->labels_file, strerror(errno));
            return -1;
        }
        char line[1024];
        int lineno = 0, rc = 0;
        while (rc == 0 && fgets(line, sizeof line, fp)) {
            lineno++;
            char src[PATH_MAX + 32];
            snprintf(src, sizeof src, "--labels-file %s:%d", o->labels_file, lineno);
            line[strcspn(line, "\r\n")] = '\0';
            if (!line[0] || line[0] == '#')
                continue;
            char *eq = strchr(line, '=');
            if (!eq) {
                fprintf(stderr, "rustymemd: %s: expected KEY=VALUE\n", src);
                rc = -1;
                break;
            }
            char *v = eq + 1, val[256];
            size_t n = 0;
            if (*v == '"') {
                v++;
                while (*v && *v != '"' && n < sizeof val - 1) {
                    if (*v == '\\' && v[1])
                        v++;
                    val[n++] = *v++;
                }
                if (*v != '"' || v[1]) {
                    fprintf(stderr, "rustymemd: %s: unterminated or trailing text after the quoted value\n", src);
                    rc = -1;
                    break;
                }
            } else {
                while (*v && n < sizeof val - 1)
                    val[n++] = *v++;
            }
            val[n] = '\0';
            rc = label_set(h, line, (size_t)(eq - line), val, src);
        }
        fclose(fp);
        if (rc != 0)
            return -1;
    }
    for (size_t i = 0; i < o->n_labels; i++) {
        const char *eq = strchr(o->labels[i], '=');
        if (!eq) {
            char shown[256];
            rm_log_escape(shown, sizeof shown, o->labels[i]);
            fprintf(stderr, "rustymemd: --label %s: expected KEY=VALUE\n", shown);
            return -1;
        }
        if (label_set(h, o->labels[i], (size_t)(eq - o->labels[i]), eq + 1, "--label") != 0)
            return -1;
    }
    return 0;
}

/* A repeatable flag given more than `max` times: the usage error (exit status 2). */
static int
too_many(const char *flag, int max)
{
    fprintf(stderr, "rustymemd: at most %d %s flags\n", max, flag);
    return 2;
}

static int
parse_args(int argc, char **argv, opts_t *o)
{
    enum { O_LISTEN = 256, O_CONFIG, O_SET, O_DATA, O_NODE, O_PORTFILE, O_THREADS, O_GRACE, O_MAXREQ, O_VERBOSE,
           O_LABEL, O_LABELS_FILE, O_SERVE };
    static const struct option longopts[] = {
        {"listen", required_argument, 0, O_LISTEN},
        {"config", required_argument, 0, O_CONFIG},
        {"set", required_argument, 0, O_SET},
        {"data-dir", required_argument, 0, O_DATA},
        {"node-name", required_argument, 0, O_NODE},
        {"label", required_argument, 0, O_LABEL},
        {"labels-file", required_argument, 0, O_LABELS_FILE},
        {"port-file", required_argument, 0, O_PORTFILE},
        {"threads", required_argument, 0, O_THREADS},
        {"grace-ms", required_argument, 0, O_GRACE},
        {"max-request-bytes", required_argument, 0, O_MAXREQ},
        RM_AGENT_SERVE_LONGOPTS(O_SERVE),
        {"verbose", no_argument, 0, O_VERBOSE},
        RM_FLAGS_STD_LONGOPTS,
        {0, 0, 0, 0},
    };
    long v;
    int c, rc;
    while ((c = rm_flags_next(&prog, argc, argv, longopts, &rc)) != -1) {
        if (c == RM_FLAGS_EXIT)
            return rc;
        switch (c) {
        case O_LISTEN: o->listen = optarg; break;
        case O_CONFIG: o->config = optarg; break;
        case O_SET:
            if (o->n_sets == MAX_SET_FLAGS)
                return too_many("--set", MAX_SET_FLAGS);
            if (rm_config_split_assignment(optarg, &o->sets[o->n_sets]) != RM_OK) {
                char shown[1024];
                rm_log_escape(shown, sizeof shown, optarg);
                fprintf(stderr, "rustymemd: --set %s: expected NAME=VALUE\n", shown);
                return 2;
            }
            o->n_sets++;
            break;
        case O_DATA: o->data_dir = optarg; break;
        case O_NODE: o->node_name = optarg; break;
        case O_LABEL:
            if (o->n_labels == RM_HOST_MAX_LABELS)
                return too_many("--label", RM_HOST_MAX_LABELS);
            o->labels[o->n_labels++] = optarg;
            break;
        case O_LABELS_FILE: o->labels_file = optarg; break;
        case O_PORTFILE: o->port_file = optarg; break;
        case O_THREADS:
            if (rm_flags_long(&prog, "--threads", optarg, 1, 16, &v) < 0)
                return 2;
            o->threads = (int)v;
            break;
        case O_GRACE:
            if (rm_flags_long(&prog, "--grace-ms", optarg, 1, 600000, &v) < 0)
                return 2;
            o->grace_ms = (int)v;
            break;
        case O_MAXREQ:
            if (rm_flags_long(&prog, "--max-request-bytes", optarg, 1024, 64l << 20, &v) < 0)
                return 2;
            o->max_request_bytes = (size_t)v;
            break;
        case O_VERBOSE: o->verbose = 1; break;
        default: (void)rm_agent_serve_flag(&o->serve, c, O_SERVE); break;
        }
    }
    if (rm_flags_no_operands(&prog, argc, argv) == 2)
        return 2;
    if (o->serve.tls_client_ca && !o->serve.tls_cert) {
        /* Without a server certificate there is no TLS, so no client certificate is ever verified. */
        fprintf(stderr, "rustymemd: --tls-client-ca needs --tls-cert and --tls-key (see rustymemd --help)\n");
        return 2;
    }
    return -1; /* continue */
}

static int
mkdir_p(const char *dir)
{
    char tmp[PATH_MAX];
    snprintf(tmp, sizeof tmp, "%s", dir);
    for (char *p = tmp + 1; *p; p++) {
        if (*p == '/') {
            *p = '\0';
            if (mkdir(tmp, 0750) < 0 && errno != EEXIST)
                return -1;
            *p = '/';
        }
    }
    return mkdir(tmp, 0750) < 0 && errno != EEXIST ? -1 : 0;
}

/* Lock DIR/rustymemd.lock for the life of the process; returns the fd or -1. */
static int
lock_data_dir(const char *dir)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/rustymemd.lock", dir);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0640);
    if (fd < 0) {
        rm_log("ERROR", "cannot open %s: %s", path, strerror(errno));
        return -1;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
        rm_log("ERROR", "data directory %s is in use by another rustymemd (lock %s held)", dir, path);
        close(fd);
        return -1;
    }
    char pid[32];
    int n = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) == 0 && write(fd, pid, (size_t)n) != n)
        rm_log("WARN", "cannot write the pid to %s", path);
    return fd;
}

/*
 * Remove the temporary files rm_config_write_atomic leaves when the agent is
 * killed between creating and renaming one ("knobs.auto.ini.tmp.XXXXXX"):
 * nothing else cleans them and every such crash would add one. Called with
 * the data dir locked, so no other agent is writing one.
 */
static void
remove_stale_knob_temps(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    static const char prefix[] = "knobs.auto.ini.tmp.";
    struct dirent *e;
    while ((e = readdir(d))) {
        if (strncmp(e->d_name, prefix, sizeof prefix - 1) != 0)
            continue;
        if (unlinkat(dirfd(d), e->d_name, 0) == 0)
            rm_log("INFO", "removed %s/%s left by an earlier crash", dir, e->d_name);
    }
    closedir(d);
}

/* memory.budget_bytes → the budget GetMemoryStats and the forecaster use. */
static void
apply_budget(void *ctx, const rm_knob_change_t *changes, size_t n)
{
    rm_node_t *node = ctx;
    (void)changes;
    (void)n;
    __atomic_store_n(&node->host.budget_override_bytes,
                     (uint64_t)rm_knobs_get_i64(node->knobs, RM_KNOB_MEMORY_BUDGET_BYTES), __ATOMIC_RELAXED);
}

/*
 * SIGHUP: read every configuration layer again (PostgreSQL's reload). Live
 * knobs change at once, restart-only ones become pending, a knob deleted from
 * the file returns to its default; an invalid file changes nothing. Each
 * change is audited like a SetKnobs.
 */
static void
reload_config(rm_knobs_t *k, const rm_config_sources_t *boot)
{
    size_t nk = rm_knobs_count();
    char (*before)[RM_KNOB_TEXT_MAX] = calloc(nk, sizeof *before);
    if (!before) {
        rm_log("ERROR", "SIGHUP: out of memory: the configuration was not reloaded");
        return;
    }
    for (size_t i = 0; i < nk; i++)
        (void)rm_knobs_get_text(k, rm_knobs_def((rm_knob_id_t)i)->name, NULL, 0, before[i], sizeof before[i], NULL);
    rm_config_sources_t src = *boot;
    src.reload = 1;
    char err[512] = "";
    if (rm_config_load(k, &src, err, sizeof err) != RM_OK) {
        rm_log("ERROR", "SIGHUP: the configuration was not reloaded, nothing changed: %s", err);
        free(before);
        return;
    }
    size_t changed = 0;
    for (size_t i = 0; i < nk; i++) {
        const char *name = rm_knobs_def((rm_knob_id_t)i)->name;
        char now[RM_KNOB_TEXT_MAX] = "";
        bool pending = false;
        (void)rm_knobs_get_text(k, name, NULL, 0, now, sizeof now, &pending);
        if (strcmp(now, before[i]) != 0) {
            changed++;
            rm_log("AUDIT", "SIGHUP reload %s: %s -> %s%s peer=local:signal", name, before[i], now,
                   pending ? " (pending restart)" : "");
        }
    }
    rm_log("INFO", "SIGHUP: configuration reloaded, %zu knob%s changed", changed, changed == 1 ? "" : "s");
    free(before);
}

/* server.max_connections changed live. */
static void
apply_server(void *ctx, const rm_knob_change_t *ch, size_t n)
{
    (void)ctx;
    for (size_t i = 0; i < n; i++)
        if (ch[i].id == RM_KNOB_SERVER_MAX_CONNECTIONS) {
            (void)rm_accept_guard_enable((uint64_t)ch[i].new_value.i, 0);
            rm_accept_guard_stats_t gs;
            rm_accept_guard_stats(&gs);
            rm_log("INFO", "server.max_connections: at most %llu connections now (%llu open)",
                   (unsigned long long)gs.limit, (unsigned long long)gs.open);
        }
}

/* rm_config_sources_t.dropped: a persisted runtime value that conflicts with
 * the file as it is now was dropped (at start or on SIGHUP). */
static void
config_dropped(void *ctx, const char *knob, const char *value, const char *now_from, const char *reason)
{
    (void)ctx;
    if (!knob) {
        rm_log("WARN", "could not rewrite the persisted knobs without the dropped values: %s", reason);
        return;
    }
    rm_log("AUDIT", "config: dropped persisted runtime value %s = %s (now from %s): it conflicts with the "
           "configuration: %s", knob, value, now_from, reason);
}

static void
audit_log(void *ctx, const char *identity, const char *rpc, const char *detail)
{
    (void)ctx;
    rm_log("AUDIT", "%s %s %s", identity, rpc, detail);
}

int
main(int argc, char **argv)
{
    opts_t o = {
        .listen = "127.0.0.1:50051",
        .data_dir = "./rustymem-data",
        .threads = 2,
        .grace_ms = 3000,
        .max_request_bytes = 4u << 20,
    };
    /*
     * Block the stop signals before any thread exists (memcore's sampler and
     * writer threads, gRPC's): every thread inherits the mask, so SIGTERM is
     * only ever taken by the sigwait loop below and never kills the process
     * through a thread that left it unblocked.
     */
    sigset_t stop;
    rm_agent_signals_block(&stop, 1);   /* SIGHUP = reload */

    int rc = parse_args(argc, argv, &o);
    if (rc >= 0)
        return rc;
    char why[96];
    if (!rm_address_check(o.listen, 1, why, sizeof why)) {
        fprintf(stderr, "rustymemd: --listen %s: %s (see rustymemd --help)\n", o.listen, why);
        return 2;
    }
    /* TLS or --insecure, and no open admin API beyond loopback (docs/adr/0015). */
    if (rm_agent_listen_check(&prog, o.listen, &o.serve) == 2)
        return 2;
    if (o.serve.insecure && !o.serve.tls_cert && !rm_agent_is_loopback(o.listen))
        rm_log("WARN", "serving plaintext gRPC on non-loopback address %s (--insecure)", o.listen);
    if (o.serve.allow_unauthenticated && !o.serve.auth_file && !o.serve.tls_client_ca &&
        !rm_agent_is_loopback(o.listen))
        rm_log("WARN", "serving %s without authentication (--allow-unauthenticated): every caller is admin",
               o.listen);

    static rm_node_t node;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    node.host.start_ns = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
    node.host.version = RM_VERSION;
    const char *name = o.node_name ? o.node_name : getenv("NODE_NAME");
    if (name && *name)
        snprintf(node.host.node_name, sizeof node.host.node_name, "%s", name);
    else if (gethostname(node.host.node_name, sizeof node.host.node_name - 1) < 0)
        snprintf(node.host.node_name, sizeof node.host.node_name, "unknown");
    if (load_labels(&o, &node.host) != 0)
        return 2;

    if (mkdir_p(o.data_dir) < 0) {
        rm_log("ERROR", "cannot create data directory %s: %s", o.data_dir, strerror(errno));
        return 1;
    }
    snprintf(node.data_dir, sizeof node.data_dir, "%s", o.data_dir);
    int lock_fd = lock_data_dir(o.data_dir);
    if (lock_fd < 0)
        return 1;
    remove_stale_knob_temps(o.data_dir);

    /* Knobs: defaults < --config < knobs.auto.ini < environment < --set. */
    static char persisted[PATH_MAX];
    snprintf(persisted, sizeof persisted, "%s/knobs.auto.ini", o.data_dir);
    if (rm_knobs_create(&node.knobs) != RM_OK) {
        rm_log("ERROR", "out of memory creating the knob registry");
        return 1;
    }
    char kerr[512] = "";
    rm_config_sources_t src = {.config_path = o.config, .persisted_path = persisted, .envp = environ,
                               .flags = o.sets, .n_flags = o.n_sets, .dropped = config_dropped};
    if (rm_config_load(node.knobs, &src, kerr, sizeof kerr) != RM_OK) {
        char shown[2048];
        rm_log_escape(shown, sizeof shown, kerr);
        fprintf(stderr, "rustymemd: %s\n", shown);
        rm_knobs_destroy(node.knobs);
        return 1;
    }
    rm_knobs_sub_t *budget_sub = NULL;
    apply_budget(&node, NULL, 0);
    if (rm_knobs_subscribe(node.knobs, "memory.", NULL, apply_budget, &node, &budget_sub) != RM_OK) {
        rm_log("ERROR", "out of memory subscribing to knobs");
        rm_knobs_destroy(node.knobs);
        return 1;
    }
    if (rm_node_mem_start(&node, kerr, sizeof kerr) != RM_OK) {
        rm_log("ERROR", "%s", kerr);
        rm_knobs_unsubscribe(node.knobs, budget_sub);
        rm_knobs_destroy(node.knobs);
        return 1;
    }
    if (rm_engine_node_start(&node, false, kerr, sizeof kerr) != RM_OK) {
        rm_log("ERROR", "%s", kerr);
        rm_node_mem_stop(&node);
        rm_knobs_unsubscribe(node.knobs, budget_sub);
        rm_knobs_destroy(node.knobs);
        return 1;
    }
    /* runtime changes are persisted by the knob writer's thread (docs/adr/0031) */
    rm_config_writer_t *knob_writer = NULL;
    if (rm_config_writer_start(node.knobs, persisted, &knob_writer) != RM_OK) {
        rm_log("ERROR", "cannot start the knob writer thread");
        return 1;
    }
    rm_knobs_mark_started(node.knobs);
    node.host.audit = audit_log;


    rm_log_route_grpc(o.verbose);

    char err[256] = "";
    const rm_rpc_service_t *services[16];
    int n_services = rm_node_services(services, 16);
    if (n_services < 0) {
        rm_log("ERROR", "out of memory building the service tables");
        return 1;
    }
    rm_auth_t *auth = NULL;
    if (rm_agent_auth_load(&prog, o.serve.auth_file, o.serve.tls_client_ca != NULL, &auth) != RM_OK) {
        rm_node_services_free(services, (size_t)n_services);
        return 1;
    }
    rm_server_opts_t so = {
        .listen = o.listen,
        .cq_threads = o.threads,
        .max_request_bytes = o.max_request_bytes,
        .shutdown_grace_ms = o.grace_ms,
        .max_connections = (uint64_t)rm_knobs_get_i64(node.knobs, RM_KNOB_SERVER_MAX_CONNECTIONS),
        .app = rm_node_host(&node),
        .tls_cert_file = o.serve.tls_cert,
        .tls_key_file = o.serve.tls_key,
        .tls_client_ca_file = o.serve.tls_client_ca,
        .auth = rm_auth_check,
        .auth_ctx = auth,
        .registered_methods = 1, /* the lean unary path (docs/adr/0031) */
    };
    rm_server_t *srv;
    if (rm_server_create(&so, services, (size_t)n_services, &srv, err, sizeof err) != RM_OK) {
        rm_log("ERROR", "%s", err);
        rm_node_services_free(services, (size_t)n_services);
        rm_auth_destroy(auth);
        return 1;
    }
    if (rm_server_start(srv) != RM_OK) {
        rm_log("ERROR", "cannot start the server threads");
        rm_server_wait(srv);
        rm_server_destroy(srv);
        rm_node_services_free(services, (size_t)n_services);
        rm_auth_destroy(auth);
        return 1;
    }
    if (rm_node_mem_watch_start(&node, srv) != RM_OK)
        rm_log("WARN", "cannot start the buffer pool's disk watch: a full disk will not show on Health");
    rm_knobs_sub_t *server_sub = NULL;
    if (rm_knobs_subscribe(node.knobs, "server.", NULL, apply_server, NULL, &server_sub) != RM_OK)
        rm_log("WARN", "out of memory subscribing to server.* knobs: server.max_connections is fixed until restart");
    int port = rm_server_port(srv);
    rm_accept_guard_stats_t gs;
    rm_accept_guard_stats(&gs);
    rm_log("INFO", "rustymemd %s serving on %s (port %d), data dir %s, node %s, at most %llu connections",
           RM_VERSION, o.listen, port, o.data_dir, node.host.node_name, (unsigned long long)gs.limit);
    if (o.port_file && rm_agent_write_port_file(o.port_file, port) < 0)
        rm_log("WARN", "cannot write port file %s: %s", o.port_file, strerror(errno));
    /* systemd Type=notify: ready once serving (a no-op without NOTIFY_SOCKET). */
    sd_notifyf(0, "READY=1\nSTATUS=serving on %s (port %d)\nMAINPID=%ld", o.listen, port, (long)getpid());

    /* systemd WatchdogSec: keep-alives at half the interval, only while the
     * completion-queue threads come back from their waits (a wedged serving
     * loop stops them, and systemd restarts the agent) */
    uint64_t wd_usec = 0;
    int watchdog = sd_watchdog_enabled(0, &wd_usec) > 0 && wd_usec > 0;
    int stalled = 0;
    int sig = 0;
    for (;;) {
        if (watchdog) {
            struct timespec half = {.tv_sec = (time_t)(wd_usec / 2000000u),
                                    .tv_nsec = (long)(wd_usec / 2 % 1000000u) * 1000};
            sig = sigtimedwait(&stop, NULL, &half);
            if (sig < 0) {
                int alive = rm_server_alive(srv, (int64_t)(wd_usec / 2000u));
                if (alive)
                    sd_notify(0, "WATCHDOG=1");
                else if (!stalled)
                    rm_log("ERROR", "the gRPC serving threads have not come back for %llu ms: withholding the "
                           "watchdog keep-alive", (unsigned long long)(wd_usec / 2000u));
                stalled = !alive;
                continue;
            }
        } else if (sigwait(&stop, &sig) != 0) {
            continue;
        }
        if (sig != SIGHUP)
            break;
        reload_config(node.knobs, &src);
        if (o.serve.auth_file)
            rm_agent_auth_reload(auth, o.serve.auth_file);
    }
    rm_knobs_unsubscribe(node.knobs, server_sub);
    rm_log("INFO", "received %s: shutting down (grace %d ms)", rm_agent_signal_name(sig), o.grace_ms);
    sd_notify(0, "STOPPING=1");
    rm_node_mem_watch_stop();
    rm_server_shutdown(srv);
    rm_server_wait(srv);
    rm_config_writer_stop(knob_writer); /* no call left: writes what is not on disk yet */
    uint64_t counts[17];
    rm_server_call_counts(srv, counts);
    uint64_t total = 0;
    for (int i = 0; i < 17; i++)
        total += counts[i];
    rm_server_destroy(srv);
    rm_node_services_free(services, (size_t)n_services);
    rm_auth_destroy(auth);
    rm_engine_node_stop(&node);
    rm_node_mem_stop(&node);
    rm_knobs_unsubscribe(node.knobs, budget_sub);
    rm_knobs_destroy(node.knobs);
    rm_log("INFO", "stopped after %llu calls (%llu OK)", (unsigned long long)total,
           (unsigned long long)counts[0]);
    close(lock_fd);
    return 0;
}
