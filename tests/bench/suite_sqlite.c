/*
 * suite_sqlite.c — rustymem-bench sqlite: SQLite's own speedtest1 on SQLite's
 * defaults, on pcache1 + jemalloc, and on rustymem (page cache + allocator
 * through librustymem_sqlite.so), side by side in one run.
 *
 *   rustymem-bench sqlite [--json] [--quick] [--size N] [--runs N]
 *                         [--speedtest1 PATH] [--dump DIR]
 *
 * Design note. speedtest1 (Debian's sqlite3 source package, built into the
 * build tree by integrations/sqlite/tests/get-speedtest1.sh, run here if
 * missing) runs its `main` test set at --size 100 (--quick: 20) with
 * --nosync (fsync would measure the disk, not the cache), on a fresh file
 * database each run. A first run on the defaults gives the database's size in
 * pages; cache sizes are 5 %, 10 % and 25 % of it (PRAGMA cache_size through
 * --cachesize). For each cache size, each of the three configurations runs
 * --runs times (default 5, --quick 1), interleaved (A B C A B C …) so that
 * load on the shared machine hits all alike; the medians are compared.
 *   - sqlite_default: pcache1 + glibc malloc (nothing preloaded);
 *   - jemalloc:       pcache1 + jemalloc (LD_PRELOAD libjemalloc.so.2);
 *   - rustymem:       LD_PRELOAD librustymem_sqlite.so (rustymem's pcache2 and
 *                     sqlite3_mem_methods; budget RUSTYMEM_SQLITE_CACHE_BYTES
 *                     default, so the cache size is the limit as for pcache1).
 * Time is the child's CPU time (user + system, wait4 rusage): on a machine
 * shared by many jobs wall time mostly measures the others; speedtest1's own
 * wall TOTAL is reported beside it (wall_ratio_vs_sqlite_default). Hit
 * ratios are SQLite's own counters (speedtest1 --stats: sqlite3_db_status
 * CACHE_HIT / CACHE_MISS of the main connection), hits / (hits + misses), the
 * same counters for every configuration. Peak RSS is the child's ru_maxrss.
 * Results are not verified here (--verify is off while timing; byte-identical
 * output is the interop_speedtest1 test's job); a run that exits non-zero,
 * prints no TOTAL, or whose preload refused, fails the suite.
 * --dump DIR: one more rustymem run per cache size with
 * RUSTYMEM_SQLITE_TRACE=DIR/speedtest1_<pct>.txt, the page-reference trace
 * of the main database (one page number per line: `bufpool --trace` format).
 *
 * Keys: cache_sizes.{5,10,25}.{time_ratio_vs_sqlite_default,
 * time_ratio_vs_jemalloc, hit_ratio_rustymem, hit_ratio_pcache1,
 * peak_rss_ratio_vs_sqlite_default, wall_ratio_vs_sqlite_default, cache_pages,
 * cpu_s, wall_s, peak_rss_mib per configuration}, db_pages, size, runs.
 */
#include "bench.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#define NCONF 3
#define MAX_RUNS 25

static const char *conf_names[NCONF] = {"sqlite_default", "jemalloc", "rustymem"};
static const char *jemalloc_so = "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2";

typedef struct run_result {
    double cpu_s, wall_s, rss_mib;
    double hits, misses;
    double db_bytes;
} run_result_t;

static char g_tmp[256];

/* Run speedtest1 once; 0 on success. env_extra: NULL-terminated "K=V" list. */
static int
run_speedtest(const char *st, int size, int cachesize, char *const env_extra[], run_result_t *r)
{
    char db[300], out[300];
    snprintf(db, sizeof db, "%s/bench.db", g_tmp);
    snprintf(out, sizeof out, "%s/out.txt", g_tmp);
    unlink(db);
    char sz[32], cs[32];
    snprintf(sz, sizeof sz, "%d", size);
    snprintf(cs, sizeof cs, "%d", cachesize);
    char *argv[16];
    int a = 0;
    argv[a++] = (char *)st;
    argv[a++] = "--testset";
    argv[a++] = "main";
    argv[a++] = "--size";
    argv[a++] = sz;
    argv[a++] = "--nosync";
    argv[a++] = "--stats";
    if (cachesize > 0) {
        argv[a++] = "--cachesize";
        argv[a++] = cs;
    }
    argv[a++] = db;
    argv[a] = NULL;
    uint64_t t0 = rm_bench_now_ns();
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd < 0)
            _exit(126);
        dup2(fd, 1);
        dup2(fd, 2);
        unsetenv("LD_PRELOAD");
        unsetenv("RUSTYMEM_SQLITE_TRACE");
        for (int i = 0; env_extra && env_extra[i]; i++)
            putenv(env_extra[i]);
        execv(st, argv);
        _exit(127);
    }
    int status = 0;
    struct rusage ru;
    if (wait4(pid, &status, 0, &ru) != pid)
        return -1;
    double wall = (double)(rm_bench_now_ns() - t0) / 1e9;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "sqlite: speedtest1 exited with status %d (output in %s)\n", status, out);
        return -1;
    }
    memset(r, 0, sizeof *r);
    r->cpu_s = (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
               ru.ru_stime.tv_usec / 1e6;
    r->rss_mib = (double)ru.ru_maxrss / 1024.0;
    r->wall_s = wall;
    FILE *f = fopen(out, "r");
    if (!f)
        return -1;
    char line[512];
    int have_total = 0, have_hits = 0;
    while (fgets(line, sizeof line, f)) {
        double v;
        char *s = strstr(line, "TOTAL");
        if (s) {
            /* "       TOTAL..........   1.234s" */
            s += 5;
            while (*s == '.' || *s == ' ')
                s++;
            if (sscanf(s, "%lfs", &v) == 1) {
                r->wall_s = v;
                have_total = 1;
            }
        } else if (sscanf(line, "-- Page cache hits: %lf", &v) == 1) {
            r->hits = v;
            have_hits = 1;
        } else if (sscanf(line, "-- Page cache misses: %lf", &v) == 1) {
            r->misses = v;
        } else if (strstr(line, "rustymem-sqlite:")) {
            fprintf(stderr, "sqlite: the preload refused: %s", line);
            fclose(f);
            return -1;
        }
    }
    fclose(f);
    if (!have_total || !have_hits) {
        fprintf(stderr, "sqlite: speedtest1 printed no TOTAL or no cache statistics (output in %s)\n", out);
        return -1;
    }
    struct stat sb;
    r->db_bytes = stat(db, &sb) == 0 ? (double)sb.st_size : 0;
    return 0;
}

static double
median(double *v, int n)
{
    return rm_bench_percentile(v, (size_t)n, 50);
}

static int
find_speedtest1(const rm_bench_opts_t *o, char *path, size_t len)
{
    const char *p = rm_bench_arg(o, "--speedtest1");
    if (p) {
        snprintf(path, len, "%s", p);
        if (access(path, X_OK) != 0) {
            fprintf(stderr, "rustymem-bench sqlite: --speedtest1 %s: not an executable\n", p);
            return -1;
        }
        return 0;
    }
#if defined(RM_SQLITE_GET_SPEEDTEST1) && defined(RM_SQLITE_BUILD_DIR)
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "bash '%s' '%s/speedtest1'", RM_SQLITE_GET_SPEEDTEST1, RM_SQLITE_BUILD_DIR);
    FILE *f = popen(cmd, "r");
    if (!f)
        return -1;
    if (!fgets(path, (int)len, f)) {
        pclose(f);
        fprintf(stderr, "rustymem-bench sqlite: speedtest1 could not be built (%s)\n", cmd);
        return -1;
    }
    pclose(f);
    path[strcspn(path, "\n")] = '\0';
    return 0;
#else
    fprintf(stderr, "rustymem-bench sqlite: built without the SQLite adapter; give --speedtest1 PATH\n");
    return -1;
#endif
}

#ifdef RM_SQLITE_PRELOAD
static const char *const preload_path = RM_SQLITE_PRELOAD;
#else
static const char *const preload_path = NULL;
#endif

static int
run_sqlite(const rm_bench_opts_t *o, json_t *result)
{
    const char *preload = preload_path;
    if (!preload) {
        fprintf(stderr, "rustymem-bench sqlite: built without librustymem_sqlite (libsqlite3-dev missing at configure)\n");
        return 1;
    }
    uint64_t size, runs;
    if (rm_bench_arg_u64(o, "sqlite", "--size", 1, 10000, o->quick ? 20 : 100, &size) != 0 ||
        rm_bench_arg_u64(o, "sqlite", "--runs", 1, MAX_RUNS, o->quick ? 1 : 5, &runs) != 0)
        return 1;
    const char *dump = rm_bench_arg(o, "--dump");
    char st[1024];
    if (find_speedtest1(o, st, sizeof st) != 0)
        return 1;
    if (access(preload, R_OK) != 0 || access(jemalloc_so, R_OK) != 0) {
        fprintf(stderr, "rustymem-bench sqlite: %s or %s missing\n", preload, jemalloc_so);
        return 1;
    }
    snprintf(g_tmp, sizeof g_tmp, "/tmp/rm-bench-sqlite-XXXXXX");
    if (!mkdtemp(g_tmp)) {
        fprintf(stderr, "rustymem-bench sqlite: mkdtemp: %s\n", strerror(errno));
        return 1;
    }
    int rc = 1;
    char env_je[512], env_rm[1024];
    snprintf(env_je, sizeof env_je, "LD_PRELOAD=%s", jemalloc_so);
    snprintf(env_rm, sizeof env_rm, "LD_PRELOAD=%s", preload);
    char *envs[NCONF][3] = {{NULL}, {env_je, NULL}, {env_rm, NULL}};

    /* the database's size in pages, on the defaults */
    run_result_t r0;
    if (run_speedtest(st, (int)size, 0, envs[0], &r0) != 0)
        goto out;
    long db_pages = (long)(r0.db_bytes / 4096.0);
    fprintf(stderr, "sqlite: speedtest1 main --size %llu: database %ld pages (%.1f MiB), %llu runs each\n",
            (unsigned long long)size, db_pages, r0.db_bytes / 1048576.0, (unsigned long long)runs);
    json_object_set_new(result, "size", json_integer((json_int_t)size));
    json_object_set_new(result, "runs", json_integer((json_int_t)runs));
    json_object_set_new(result, "db_pages", json_integer(db_pages));
    json_object_set_new(result, "time_measure", json_string("child CPU time (user+system), median"));
    json_object_set_new(result, "hit_ratio_source",
                        json_string("SQLite's sqlite3_db_status CACHE_HIT/CACHE_MISS (speedtest1 --stats)"));
    json_t *sizes = json_object();
    json_object_set_new(result, "cache_sizes", sizes);
    static const int pcts[3] = {5, 10, 25};
    for (int pi = 0; pi < 3; pi++) {
        int cache = (int)(db_pages * pcts[pi] / 100);
        if (cache < 10)
            cache = 10;
        double cpu[NCONF][MAX_RUNS], wall[NCONF][MAX_RUNS], rss[NCONF][MAX_RUNS], hr[NCONF][MAX_RUNS];
        for (uint64_t k = 0; k < runs; k++)
            for (int c = 0; c < NCONF; c++) {
                run_result_t r;
                if (run_speedtest(st, (int)size, cache, envs[c], &r) != 0)
                    goto out;
                cpu[c][k] = r.cpu_s;
                wall[c][k] = r.wall_s;
                rss[c][k] = r.rss_mib;
                hr[c][k] = r.hits + r.misses > 0 ? r.hits / (r.hits + r.misses) : 0;
            }
        /* The same ratio per interleaved round (rustymem's run over the defaults'
         * run of that round), then its median: a slow spell of the machine that
         * spans one round moves both runs of the pair, not one configuration's
         * median. Reported beside the ratio of medians, which stays the key.
         * Computed before the medians, which sort the arrays in place. */
        double paired[MAX_RUNS], paired_je[MAX_RUNS];
        for (uint64_t k = 0; k < runs; k++) {
            paired[k] = cpu[0][k] > 0 ? cpu[2][k] / cpu[0][k] : 0;
            paired_je[k] = cpu[1][k] > 0 ? cpu[2][k] / cpu[1][k] : 0;
        }
        json_t *runs_json[NCONF];   /* each configuration's CPU seconds, in run order */
        for (int c = 0; c < NCONF; c++) {
            runs_json[c] = json_array();
            for (uint64_t k = 0; k < runs; k++)
                json_array_append_new(runs_json[c], json_real(cpu[c][k]));
        }
        double paired_med = median(paired, (int)runs), paired_je_med = median(paired_je, (int)runs);
        double mc[NCONF], mw[NCONF], mr[NCONF], mh[NCONF];
        json_t *js = json_object();
        for (int c = 0; c < NCONF; c++) {
            mc[c] = median(cpu[c], (int)runs);
            mw[c] = median(wall[c], (int)runs);
            mr[c] = median(rss[c], (int)runs);
            mh[c] = median(hr[c], (int)runs);
            json_t *jc = json_object();
            json_object_set_new(jc, "cpu_s", json_real(mc[c]));
            json_object_set_new(jc, "wall_s", json_real(mw[c]));
            json_object_set_new(jc, "peak_rss_mib", json_real(mr[c]));
            json_object_set_new(jc, "hit_ratio", json_real(mh[c]));
            json_object_set_new(jc, "cpu_s_runs", runs_json[c]);
            json_object_set_new(js, conf_names[c], jc);
        }
        json_object_set_new(js, "cache_pages", json_integer(cache));
        json_object_set_new(js, "time_ratio_paired_vs_sqlite_default", json_real(paired_med));
        json_object_set_new(js, "time_ratio_paired_vs_jemalloc", json_real(paired_je_med));
        json_object_set_new(js, "time_ratio_vs_sqlite_default", json_real(mc[2] / mc[0]));
        json_object_set_new(js, "time_ratio_vs_jemalloc", json_real(mc[2] / mc[1]));
        json_object_set_new(js, "wall_ratio_vs_sqlite_default", json_real(mw[2] / mw[0]));
        json_object_set_new(js, "hit_ratio_rustymem", json_real(mh[2]));
        json_object_set_new(js, "hit_ratio_pcache1", json_real(mh[0]));
        json_object_set_new(js, "peak_rss_ratio_vs_sqlite_default", json_real(mr[2] / mr[0]));
        char key[8];
        snprintf(key, sizeof key, "%d", pcts[pi]);
        json_object_set_new(sizes, key, js);
        fprintf(stderr,
                "  cache %2d%% (%5d pages): cpu s default %.3f jemalloc %.3f rustymem %.3f (ratio %.3f / %.3f,"
                " paired %.3f / %.3f) | hit pcache1 %.4f jemalloc %.4f rustymem %.4f | rss MiB %.1f %.1f %.1f\n",
                pcts[pi], cache, mc[0], mc[1], mc[2], mc[2] / mc[0], mc[2] / mc[1], paired_med,
                paired_je_med, mh[0], mh[1], mh[2], mr[0], mr[1], mr[2]);
        if (dump) {
            char tr[1200], env_tr[1300];
            mkdir(dump, 0755);
            snprintf(tr, sizeof tr, "%s/speedtest1_%d.txt", dump, pcts[pi]);
            unlink(tr);
            snprintf(env_tr, sizeof env_tr, "RUSTYMEM_SQLITE_TRACE=%s", tr);
            char *envt[] = {env_rm, env_tr, NULL};
            run_result_t r;
            if (run_speedtest(st, (int)size, cache, envt, &r) != 0)
                goto out;
            fprintf(stderr, "  trace: %s\n", tr);
        }
    }
    rc = 0;
out:;
    char p[300];
    snprintf(p, sizeof p, "%s/bench.db", g_tmp);
    unlink(p);
    snprintf(p, sizeof p, "%s/bench.db-journal", g_tmp);
    unlink(p);
    snprintf(p, sizeof p, "%s/out.txt", g_tmp);
    if (rc == 0)
        unlink(p);
    if (rc == 0)
        rmdir(g_tmp);
    return rc;
}

RM_BENCH_SUITE(sqlite, "speedtest1: SQLite defaults vs pcache1+jemalloc vs rustymem's pcache2+allocator",
               "--size N --runs N --speedtest1 PATH --dump DIR", run_sqlite);
