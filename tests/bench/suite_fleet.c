/*
 * suite_fleet.c — what rustymem-fleet costs as the fleet grows (issue 24, ADR 0026).
 *
 * For each fleet size (default 1 000 and 10 000) it starts tools/fleetsim
 * (one port, N simulated agents addressed by :authority, a scripted fraction
 * down, slow and at AGGRESSIVE) and the real rustymem-fleet reading the
 * agents file fleetsim writes, polling every --poll-ms (2 000). Once every
 * node has been polled and two more intervals have passed it measures, over
 * --window seconds, side by side:
 *   - the controller's threads (max of /proc/PID/status Threads),
 *   - its CPU as a fraction of one core ((utime+stime) delta / window),
 *   - its RSS (max VmRSS),
 *   - the share of nodes at most 2 poll intervals stale (min over the window
 *     of FleetStats.fresh_nodes / nodes: staleness = now - last successful
 *     contact, so down agents count as stale) and the p99 staleness (max),
 *   - polls per second, CPU per poll, poll latency p99, fleetsim's own CPU,
 * with the 1-minute load average before and after (the box is shared).
 * The targets at 10 000 agents: <= 16 threads, < 1 core, < 512 MiB,
 * >= 99 % of nodes <= 2 intervals stale; "targets" says which hold.
 *
 * Options: --agents LIST (comma-separated; default 1000,10000, --quick
 * 200,1000), --poll-ms N, --window S (default 20, --quick 6), --poll-threads N
 * and --server-threads N (the controller's --poll-threads / --threads; default
 * its own), --down-frac F, --slow-frac F, --level-frac F
 * (defaults 0.005, 0.0005, 0.01). A slow simulated agent holds one of
 * fleetsim's 8 server threads while it sleeps, so keep --slow-frac small.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "client.h"
#include "rustymem/v1/fleet.pb-c.h"

#define SUITE "rustymem-bench fleet"

static char build_dir[PATH_MAX];

static int
find_build_dir(void)
{
    const char *env = getenv("RM_BUILD_DIR");
    if (env) {
        snprintf(build_dir, sizeof build_dir, "%s", env);
        return 0;
    }
    ssize_t n = readlink("/proc/self/exe", build_dir, sizeof build_dir - 1);
    if (n <= 0)
        return -1;
    build_dir[n] = '\0';
    char *p = strstr(build_dir, "/tests/bench/");
    if (!p)
        return -1;
    *p = '\0';
    return 0;
}

static void
sleep_ms(int ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

static double
now_s(void)
{
    return (double)rm_bench_now_ns() / 1e9;
}

static pid_t
spawn(char *const argv[], const char *log_path)
{
    pid_t pid = fork();
    if (pid == 0) {
        FILE *lf = freopen(log_path, "w", stderr);
        (void)lf;
        if (!freopen("/dev/null", "w", stdout))
            _exit(127);
        execv(argv[0], argv);
        fprintf(stderr, "cannot run %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    return pid;
}

/* SIGTERM, wait up to 15 s, then SIGKILL. */
static void
stop(pid_t pid)
{
    if (pid <= 0)
        return;
    kill(pid, SIGTERM);
    for (int i = 0; i < 300; i++) {
        if (waitpid(pid, NULL, WNOHANG) == pid)
            return;
        sleep_ms(50);
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
}

static int
alive(pid_t pid)
{
    return waitpid(pid, NULL, WNOHANG) == 0;
}

/* Read a whole small file's first line of a port; -1 when absent yet. */
static int
read_port(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    int port = -1;
    if (fscanf(f, "%d", &port) != 1)
        port = -1;
    fclose(f);
    return port;
}

/* "Threads:" or "VmRSS:" (kB) from /proc/PID/status; -1 on error. */
static long long
status_field(pid_t pid, const char *key)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    long long v = -1;
    size_t kl = strlen(key);
    while (fgets(line, sizeof line, f))
        if (strncmp(line, key, kl) == 0) {
            v = atoll(line + kl);
            break;
        }
    fclose(f);
    return v;
}

/* {"comm": count} over /proc/PID/task: whose threads they are. */
static json_t *
threads_by_name(pid_t pid)
{
    json_t *o = json_object();
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/task", (int)pid);
    DIR *d = opendir(path);
    if (!d)
        return o;
    for (struct dirent *e; (e = readdir(d));) {
        if (e->d_name[0] == '.')
            continue;
        char cp[384], name[64] = "";
        snprintf(cp, sizeof cp, "%s/%s/comm", path, e->d_name);
        FILE *f = fopen(cp, "r");
        if (!f)
            continue;
        if (fgets(name, sizeof name, f))
            name[strcspn(name, "\n")] = '\0';
        fclose(f);
        json_t *v = json_object_get(o, name);
        json_object_set_new(o, name, json_integer(v ? json_integer_value(v) + 1 : 1));
    }
    closedir(d);
    return o;
}

static Rustymem__V1__FleetStats *
fleet_stats(rm_client_t *c)
{
    Rustymem__V1__GetFleetStatsRequest req = RUSTYMEM__V1__GET_FLEET_STATS_REQUEST__INIT;
    ProtobufCMessage *resp = NULL;
    rm_call_status_t st;
    if (rm_client_unary(c, "/rustymem.v1.FleetService/GetFleetStats", &req.base,
                        &rustymem__v1__fleet_stats__descriptor, &resp, &st) != GRPC_STATUS_OK)
        return NULL;
    return (Rustymem__V1__FleetStats *)resp;
}

static uint32_t
by_state(const Rustymem__V1__FleetStats *s, const char *key)
{
    for (size_t i = 0; i < s->n_nodes_by_state; i++)
        if (strcmp(s->nodes_by_state[i]->key, key) == 0)
            return s->nodes_by_state[i]->value;
    return 0;
}

typedef struct run_cfg {
    unsigned agents;
    unsigned poll_ms;
    unsigned window_s;
    unsigned poll_threads;     /* 0 = the controller's default */
    unsigned server_threads;   /* --threads of the controller; 0 = its default */
    const char *down, *slow, *level;
} run_cfg_t;

/* One fleet size: returns a JSON object, or NULL after printing why. */
static json_t *
run_one(const run_cfg_t *cfg, const char *dir)
{
    char sim_bin[PATH_MAX + 64], fleet_bin[PATH_MAX + 64], agents_file[PATH_MAX], sim_port[PATH_MAX],
        fleet_port[PATH_MAX], sim_log[PATH_MAX], fleet_log[PATH_MAX];
    snprintf(sim_bin, sizeof sim_bin, "%s/tools/fleetsim/rustymem-fleetsim", build_dir);
    snprintf(fleet_bin, sizeof fleet_bin, "%s/agents/fleet/rustymem-fleet", build_dir);
    snprintf(agents_file, sizeof agents_file, "%s/agents-%u.txt", dir, cfg->agents);
    snprintf(sim_port, sizeof sim_port, "%s/sim-%u.port", dir, cfg->agents);
    snprintf(fleet_port, sizeof fleet_port, "%s/fleet-%u.port", dir, cfg->agents);
    snprintf(sim_log, sizeof sim_log, "%s/fleetsim-%u.log", dir, cfg->agents);
    snprintf(fleet_log, sizeof fleet_log, "%s/fleet-%u.log", dir, cfg->agents);
    char n_s[16], poll_s[16], pt_s[16], st_s[16];
    snprintf(st_s, sizeof st_s, "%u", cfg->server_threads);
    snprintf(n_s, sizeof n_s, "%u", cfg->agents);
    snprintf(poll_s, sizeof poll_s, "%u", cfg->poll_ms);
    snprintf(pt_s, sizeof pt_s, "%u", cfg->poll_threads);

    char *sim_argv[] = {sim_bin, "--agents", n_s, "--agents-file", agents_file, "--port-file", sim_port,
                        "--threads", "8", "--down-frac", (char *)cfg->down, "--slow-frac", (char *)cfg->slow,
                        "--slow-ms", "100", "--level-frac", (char *)cfg->level, "--level-at", "3", NULL};
    pid_t sim = spawn(sim_argv, sim_log), fleet = -1;
    json_t *out = NULL;
    rm_client_t *client = NULL;
    double deadline = now_s() + 60;
    while (read_port(sim_port) < 0 && alive(sim) && now_s() < deadline)
        sleep_ms(50);
    if (read_port(sim_port) < 0) {
        fprintf(stderr, SUITE ": fleetsim with %u agents did not start (see %s)\n", cfg->agents, sim_log);
        goto done;
    }
    char *fleet_argv[16] = {fleet_bin, "--listen", "127.0.0.1:0", "--port-file", fleet_port, "--agents-file",
                            agents_file, "--poll-ms", poll_s, NULL};
    int fa = 9;
    if (cfg->poll_threads) {
        fleet_argv[fa++] = "--poll-threads";
        fleet_argv[fa++] = pt_s;
    }
    if (cfg->server_threads) {
        fleet_argv[fa++] = "--threads";
        fleet_argv[fa++] = st_s;
    }
    fleet_argv[fa] = NULL;
    fleet = spawn(fleet_argv, fleet_log);
    deadline = now_s() + 60;
    while (read_port(fleet_port) < 0 && alive(fleet) && now_s() < deadline)
        sleep_ms(50);
    int fport = read_port(fleet_port);
    if (fport < 0) {
        fprintf(stderr, SUITE ": rustymem-fleet with %u agents did not start (see %s)\n", cfg->agents, fleet_log);
        goto done;
    }
    char target[64], err[256] = "";
    snprintf(target, sizeof target, "127.0.0.1:%d", fport);
    rm_client_opts_t co = {.target = target, .timeout_ms = 30000};
    if (rm_client_create(&co, &client, err, sizeof err) != RM_OK) {
        fprintf(stderr, SUITE ": %s\n", err);
        goto done;
    }
    /* Every node polled once, then two more intervals to settle. */
    double t_start = now_s();
    deadline = t_start + 120;
    for (;;) {
        Rustymem__V1__FleetStats *s = fleet_stats(client);
        int ready = s && s->nodes == cfg->agents && by_state(s, "pending") == 0;
        if (s)
            protobuf_c_message_free_unpacked(&s->base, NULL);
        if (ready)
            break;
        if (now_s() > deadline || !alive(fleet)) {
            fprintf(stderr, SUITE ": the fleet did not poll all %u agents within 120 s (see %s)\n", cfg->agents,
                    fleet_log);
            goto done;
        }
        sleep_ms(250);
    }
    double t_all_polled = now_s() - t_start;
    sleep_ms((int)cfg->poll_ms * 2);

    double load0 = rm_bench_loadavg1();
    double c0 = rm_bench_proc_cpu_s(fleet), s0 = rm_bench_proc_cpu_s(sim);
    Rustymem__V1__FleetStats *first = fleet_stats(client);
    double w0 = now_s();
    long long threads_max = 0, rss_max = 0;
    double fresh_min = 1, stale_p99_max = 0, lat_p99 = 0;
    int samples = 0;
    while (now_s() - w0 < cfg->window_s) {
        sleep_ms(1000);
        long long th = status_field(fleet, "Threads:"), rss = status_field(fleet, "VmRSS:");
        if (th > threads_max)
            threads_max = th;
        if (rss > rss_max)
            rss_max = rss;
        Rustymem__V1__FleetStats *s = fleet_stats(client);
        if (!s)
            continue;
        samples++;
        double fresh = s->nodes ? (double)s->fresh_nodes / s->nodes : 0;
        if (fresh < fresh_min)
            fresh_min = fresh;
        if (s->staleness_p99_ms > stale_p99_max)
            stale_p99_max = s->staleness_p99_ms;
        lat_p99 = s->poll_latency_p99_ms;
        protobuf_c_message_free_unpacked(&s->base, NULL);
    }
    double win = now_s() - w0;
    json_t *by_name = threads_by_name(fleet);
    double c1 = rm_bench_proc_cpu_s(fleet), s1 = rm_bench_proc_cpu_s(sim);
    Rustymem__V1__FleetStats *last = fleet_stats(client);
    double load1 = rm_bench_loadavg1();
    if (!first || !last || c0 < 0 || c1 < 0 || !samples) {
        fprintf(stderr, SUITE ": lost the fleet during the window (see %s)\n", fleet_log);
        json_decref(by_name);
        if (first)
            protobuf_c_message_free_unpacked(&first->base, NULL);
        if (last)
            protobuf_c_message_free_unpacked(&last->base, NULL);
        goto done;
    }
    double cores = (c1 - c0) / win, sim_cores = (s1 - s0) / win;
    double polls_s = (double)(last->polls_total - first->polls_total) / win;
    out = json_object();
    json_object_set_new(out, "agents", json_integer(cfg->agents));
    json_object_set_new(out, "poll_ms", json_integer(cfg->poll_ms));
    json_object_set_new(out, "poll_threads", json_integer(last->poll_threads));
    json_object_set_new(out, "window_s", json_real(win));
    json_object_set_new(out, "seconds_to_poll_all", json_real(t_all_polled));
    json_object_set_new(out, "threads_max", json_integer(threads_max));
    json_object_set_new(out, "threads_by_name_at_end", by_name);
    by_name = NULL;
    json_object_set_new(out, "cpu_cores", json_real(cores));
    json_object_set_new(out, "rss_mib_max", json_real((double)rss_max / 1024.0));
    json_object_set_new(out, "fresh_share_min", json_real(fresh_min));
    json_object_set_new(out, "staleness_p99_ms_max", json_real(stale_p99_max));
    json_object_set_new(out, "staleness_p99_intervals", json_real(stale_p99_max / cfg->poll_ms));
    json_object_set_new(out, "polls_per_s", json_real(polls_s));
    json_object_set_new(out, "expected_polls_per_s", json_real(cfg->agents * 1000.0 / cfg->poll_ms));
    json_object_set_new(out, "cpu_us_per_poll", json_real(polls_s > 0 ? cores * 1e6 / polls_s : 0));
    json_object_set_new(out, "poll_latency_p99_ms", json_real(lat_p99));
    json_object_set_new(out, "unreachable", json_integer(by_state(last, "unreachable")));
    json_object_set_new(out, "fleetsim_cpu_cores", json_real(sim_cores));
    json_object_set_new(out, "loadavg_1m_before", json_real(load0));
    json_object_set_new(out, "loadavg_1m_after", json_real(load1));
    fprintf(stderr,
            "%6u agents: %2lld threads, %.2f cores, %.0f MiB, fresh >= %.1f %%, p99 staleness %.0f ms (%.2f intervals), "
            "%.0f polls/s (want %.0f), %.0f us CPU/poll; fleetsim %.2f cores; load %.1f -> %.1f\n",
            cfg->agents, threads_max, cores, (double)rss_max / 1024.0, fresh_min * 100, stale_p99_max,
            stale_p99_max / cfg->poll_ms, polls_s, cfg->agents * 1000.0 / cfg->poll_ms,
            polls_s > 0 ? cores * 1e6 / polls_s : 0, sim_cores, load0, load1);
    protobuf_c_message_free_unpacked(&first->base, NULL);
    protobuf_c_message_free_unpacked(&last->base, NULL);
done:
    rm_client_destroy(client);
    stop(fleet);
    stop(sim);
    return out;
}

static int
run_fleet(const rm_bench_opts_t *o, json_t *result)
{
    if (find_build_dir() < 0) {
        fprintf(stderr, SUITE ": cannot find the build directory (set RM_BUILD_DIR)\n");
        return 1;
    }
    run_cfg_t cfg = {.down = "0.005", .slow = "0.0005", .level = "0.01"};
    uint64_t v;
    if (rm_bench_arg_u64(o, "fleet", "--poll-ms", 100, 60000, 2000, &v) < 0)
        return 1;
    cfg.poll_ms = (unsigned)v;
    if (rm_bench_arg_u64(o, "fleet", "--window", 2, 3600, o->quick ? 6 : 20, &v) < 0)
        return 1;
    cfg.window_s = (unsigned)v;
    if (rm_bench_arg_u64(o, "fleet", "--poll-threads", 0, 64, 0, &v) < 0)
        return 1;
    cfg.poll_threads = (unsigned)v;
    if (rm_bench_arg_u64(o, "fleet", "--server-threads", 0, 16, 0, &v) < 0)
        return 1;
    cfg.server_threads = (unsigned)v;
    const char *fr[3] = {"--down-frac", "--slow-frac", "--level-frac"};
    const char **dst[3] = {&cfg.down, &cfg.slow, &cfg.level};
    for (int i = 0; i < 3; i++) {
        const char *s = rm_bench_arg(o, fr[i]);
        if (!s)
            continue;
        char *end;
        double f = strtod(s, &end);
        if (*end || end == s || f < 0 || f > 1) {
            fprintf(stderr, SUITE ": %s %s: expected a fraction in [0, 1]\n", fr[i], s);
            return 1;
        }
        *dst[i] = s;
    }
    const char *list = rm_bench_arg(o, "--agents");
    char buf[256];
    snprintf(buf, sizeof buf, "%s", list ? list : o->quick ? "200,1000" : "1000,10000");
    unsigned sizes[8];
    size_t n_sizes = 0;
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        char *end;
        unsigned long a = strtoul(tok, &end, 10);
        if (*end || a < 1 || a > 20000 || n_sizes == 8) {
            fprintf(stderr, SUITE ": --agents %s: expected up to 8 comma-separated sizes in [1, 20000]\n",
                    list ? list : "");
            return 1;
        }
        sizes[n_sizes++] = (unsigned)a;
    }
    /* N agent connections in each process: take the hard descriptor limit (inherited by both). */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    char dir[] = "/tmp/rm-bench-fleet-XXXXXX";
    if (!mkdtemp(dir)) {
        fprintf(stderr, SUITE ": cannot create a temporary directory: %s\n", strerror(errno));
        return 1;
    }
    json_t *runs = json_array();
    int rc = 0;
    for (size_t i = 0; i < n_sizes; i++) {
        cfg.agents = sizes[i];
        json_t *r = run_one(&cfg, dir);
        if (!r) {
            rc = 1;
            break;
        }
        json_array_append_new(runs, r);
    }
    json_object_set_new(result, "runs", runs);
    size_t nr = json_array_size(runs);
    if (nr >= 2) {
        json_t *a = json_array_get(runs, 0), *b = json_array_get(runs, nr - 1);
        json_t *g = json_object();
        const char *keys[] = {"cpu_cores", "rss_mib_max", "threads_max", "polls_per_s"};
        for (int k = 0; k < 4; k++) {
            double x = json_number_value(json_object_get(a, keys[k])), y = json_number_value(json_object_get(b, keys[k]));
            json_object_set_new(g, keys[k], json_real(x > 0 ? y / x : 0));
        }
        json_object_set_new(g, "agents", json_real(json_number_value(json_object_get(b, "agents")) /
                                                   json_number_value(json_object_get(a, "agents"))));
        json_object_set_new(result, "growth_last_over_first", g);
    }
    if (nr) {
        json_t *b = json_array_get(runs, nr - 1);
        json_t *t = json_object();
        json_object_set_new(t, "agents", json_object_get(b, "agents") ? json_incref(json_object_get(b, "agents")) : json_null());
        json_object_set_new(t, "threads_le_16", json_boolean(json_integer_value(json_object_get(b, "threads_max")) <= 16));
        json_object_set_new(t, "cpu_lt_1_core", json_boolean(json_number_value(json_object_get(b, "cpu_cores")) < 1.0));
        json_object_set_new(t, "rss_lt_512_mib", json_boolean(json_number_value(json_object_get(b, "rss_mib_max")) < 512));
        json_object_set_new(t, "fresh_ge_99_pct",
                            json_boolean(json_number_value(json_object_get(b, "fresh_share_min")) >= 0.99));
        json_object_set_new(result, "targets_at_largest", t);
    }
    /* Leave the logs when something failed; otherwise clean up. */
    if (rc == 0) {
        char cmd[PATH_MAX + 16];
        snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
        if (system(cmd) != 0)
            fprintf(stderr, SUITE ": could not remove %s\n", dir);
    } else {
        fprintf(stderr, SUITE ": logs kept in %s\n", dir);
    }
    return rc;
}

RM_BENCH_SUITE(fleet, "rustymem-fleet cost (threads, CPU, RSS, staleness) at 1 000 and 10 000 simulated agents",
               "--agents LIST --poll-ms N --window S --poll-threads N --server-threads N --down-frac F --slow-frac F --level-frac F",
               run_fleet);
