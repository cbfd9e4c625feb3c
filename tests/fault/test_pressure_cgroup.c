/*
 * test_pressure_cgroup.c — the real closed loop (issue 6, item 6).
 *
 * A memory-hungry workload runs in a child process inside a fresh memory
 * cgroup with a hard limit. It allocates through memcore's page source into a
 * cache-like component that reports to the accounting registry and registers
 * a reclaimer with the pressure monitor. The monitor runs its own sampler
 * thread and finds the limit itself through /proc/self/cgroup.
 *   responder on   the cache is trimmed as forecasts and levels ask: the
 *                  child finishes and the cgroup's oom_kill stays 0;
 *   responder off  the same run without the reclaimer is OOM-killed.
 * cgroup v1 (memory.limit_in_bytes, memory.oom_control) is used where the v1
 * memory controller is mounted, else v2 (memory.max, memory.events). Needs
 * root and a writable hierarchy; skips with a message otherwise.
 *
 * The binary doubles as the workload driver for
 * tests/integration/test_pressure_cgroup.sh:  test_pressure_cgroup --workload on|off
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "rustymem/pagesrc.h"
#include "rustymem/pressure.h"
#include "rustymem/stats.h"

#define MIB (1ull << 20)
#define LIMIT_MIB 128
#define CHUNK (1 * MIB)
#define BASE_MIB 16           /* non-reclaimable working memory */
#define INSERT_MIB 384        /* cache inserts: 3× the limit */
#define INSERT_PER_SEC 64     /* MiB/s */

/* ---- a cache-like component built on memcore's page source -------------- */

typedef struct entry {
    void *mem;
    struct entry *next;
} entry_t;

typedef struct cache {
    pthread_mutex_t mu;
    entry_t *head, *tail;     /* oldest at head; guarded by mu */
    uint64_t bytes;           /* guarded by mu */
    uint64_t evicted;         /* bytes; guarded by mu */
    const rm_pagesrc_t *src;
} cache_t;

static void
cache_report(void *ctx, rm_component_usage_t *out)
{
    cache_t *c = ctx;
    pthread_mutex_lock(&c->mu);
    out->used_bytes = out->held_bytes = c->bytes;
    pthread_mutex_unlock(&c->mu);
}

static int
cache_insert(cache_t *c)
{
    entry_t *e = malloc(sizeof *e);
    if (!e)
        return -1;
    e->mem = c->src->methods->map(c->src->ctx, CHUNK, rm_page_size(), -1, 0, NULL);
    if (!e->mem) {
        free(e);
        return -1;
    }
    memset(e->mem, 0x5a, CHUNK);   /* touch: charge it to the cgroup */
    e->next = NULL;
    pthread_mutex_lock(&c->mu);
    if (c->tail)
        c->tail->next = e;
    else
        c->head = e;
    c->tail = e;
    c->bytes += CHUNK;
    pthread_mutex_unlock(&c->mu);
    return 0;
}

/* Evict oldest entries: Gentle up to 20 % of the cache per call, Aggressive
 * 50 %, Emergency and above everything needed — bounded by the target. */
static uint64_t
cache_reclaim(void *ctx, rm_pressure_level_t lv, uint64_t target)
{
    cache_t *c = ctx;
    uint64_t freed = 0;
    pthread_mutex_lock(&c->mu);
    double share = lv >= RM_PRESSURE_EMERGENCY ? 1.0 : lv == RM_PRESSURE_AGGRESSIVE ? 0.5 : 0.2;
    uint64_t cap = (uint64_t)(c->bytes * share);
    if (cap < CHUNK)
        cap = CHUNK;
    while (c->head && freed < target && freed < cap) {
        entry_t *e = c->head;
        c->head = e->next;
        if (!c->head)
            c->tail = NULL;
        c->src->methods->unmap(c->src->ctx, e->mem, CHUNK);
        free(e);
        c->bytes -= CHUNK;
        freed += CHUNK;
    }
    c->evicted += freed;
    pthread_mutex_unlock(&c->mu);
    return freed;
}

static uint64_t
cache_estimate(void *ctx, rm_pressure_level_t lv)
{
    cache_t *c = ctx;
    pthread_mutex_lock(&c->mu);
    uint64_t b = c->bytes;
    pthread_mutex_unlock(&c->mu);
    return b;
}

/* The workload; returns the process exit code (0 = ran to the end). */
static int
run_workload(int responder)
{
    cache_t c = {.mu = PTHREAD_MUTEX_INITIALIZER, .src = rm_pagesrc_default()};
    rm_stats_handle_t *h = NULL;
    if (rm_stats_register("test_cache", cache_report, &c, &h) != RM_OK)
        return 2;
    rm_pressure_config_t cfg;
    rm_pressure_config_default(&cfg);
    cfg.period_ms = 100;   /* faster than the default 1 s: the whole run lasts seconds */
    rm_pressure_t *p = NULL;
    if (rm_pressure_create(&cfg, NULL, &p) != RM_OK)
        return 3;
    if (responder) {
        rm_pressure_reclaimer_def_t d = {"test_cache", 10, RM_PRESSURE_GENTLE, cache_estimate,
                                         cache_reclaim, NULL, &c};
        if (rm_pressure_reclaimer_add(p, &d, NULL) != RM_OK)
            return 4;
    }
    /* non-reclaimable base through the page source */
    void *base = rm_pagesrc_default()->methods->map(rm_pagesrc_default()->ctx, BASE_MIB * MIB,
                                                   rm_page_size(), -1, 0, NULL);
    if (!base)
        return 5;
    memset(base, 0x11, BASE_MIB * MIB);
    if (rm_pressure_tick(p, 0) != RM_OK)   /* first sample before the thread starts */
        return 6;
    if (rm_pressure_start(p) != RM_OK)
        return 7;

    struct timespec pause = {0, 1000000000L / INSERT_PER_SEC};
    for (int i = 0; i < INSERT_MIB; i++) {
        if (cache_insert(&c) != 0) {
            rm_pressure_note_alloc_failure(p);
            break;
        }
        nanosleep(&pause, NULL);
    }
    rm_pressure_stop(p);

    rm_pressure_forecast_t fc;
    rm_pressure_stats_t st;
    rm_pressure_get_forecast(p, &fc);
    rm_pressure_get_stats(p, &st);
    uint64_t cur = 0, n_lc = 0, n_rc = 0, n_fc = 0;
    rm_pressure_event_t ev[64];
    size_t n;
    do {
        rm_pressure_events_read(p, &cur, ev, 64, &n, NULL);
        for (size_t i = 0; i < n; i++) {
            n_lc += ev[i].kind == RM_EVENT_LEVEL_CHANGE;
            n_rc += ev[i].kind == RM_EVENT_RECLAIM;
            n_fc += ev[i].kind == RM_EVENT_RECLAIM && ev[i].trigger == RM_TRIGGER_FORECAST;
        }
    } while (n);
    printf("workload(responder=%s): budget %llu MiB (from %s), last usage %.2f, samples %llu, "
           "level changes %llu, reclaims %llu (%llu on forecast), evicted %llu MiB\n",
           responder ? "on" : "off", (unsigned long long)(fc.budget_bytes / MIB), st.budget_source,
           fc.usage, (unsigned long long)st.samples, (unsigned long long)n_lc,
           (unsigned long long)n_rc, (unsigned long long)n_fc,
           (unsigned long long)(c.evicted / MIB));
    fflush(stdout);
    rm_pressure_destroy(p);
    rm_stats_unregister(h);
    cache_reclaim(&c, RM_PRESSURE_OOM_PREVENTION, UINT64_MAX);   /* empty the cache */
    rm_pagesrc_default()->methods->unmap(rm_pagesrc_default()->ctx, base, BASE_MIB * MIB);
    return strncmp(st.budget_source, "cgroup_v", 8) == 0 ? 0 : 8;
}

/* ---- cgroup handling (parent side) ---------------------------------------- */

typedef struct cg {
    int version;
    char dir[160];
} cg_t;

static int
write_file(const char *dir, const char *name, const char *val)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    int ok = fputs(val, f) >= 0;
    if (fclose(f) != 0)
        ok = 0;
    return ok ? 0 : -1;
}

static long long
read_key(const char *dir, const char *file, const char *key)
{
    char path[512], line[256];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    long long v = -1;
    size_t kl = strlen(key);
    while (fgets(line, sizeof line, f))
        if (strncmp(line, key, kl) == 0 && line[kl] == ' ')
            v = atoll(line + kl + 1);
    fclose(f);
    return v;
}

static int
has_memory_controller_v2(void)
{
    char buf[256] = "";
    FILE *f = fopen("/sys/fs/cgroup/cgroup.controllers", "r");
    if (!f)
        return 0;
    if (!fgets(buf, sizeof buf, f))
        buf[0] = '\0';
    fclose(f);
    return strstr(buf, "memory") != NULL;
}

/* Create the cgroup with the limit; 0 on success, else a reason in why. */
static int
cg_create(cg_t *cg, const char *tag, char *why, size_t wl)
{
    char lim[32];
    snprintf(lim, sizeof lim, "%llu", (unsigned long long)LIMIT_MIB * MIB);
    if (geteuid() != 0) {
        snprintf(why, wl, "not root");
        return -1;
    }
    if (access("/sys/fs/cgroup/memory/memory.limit_in_bytes", W_OK) == 0 ||
        access("/sys/fs/cgroup/memory/cgroup.procs", W_OK) == 0) {
        cg->version = 1;
        snprintf(cg->dir, sizeof cg->dir, "/sys/fs/cgroup/memory/rm_pressure_%d_%s", (int)getpid(), tag);
    } else if (has_memory_controller_v2() && access("/sys/fs/cgroup/cgroup.procs", W_OK) == 0) {
        cg->version = 2;
        snprintf(cg->dir, sizeof cg->dir, "/sys/fs/cgroup/rm_pressure_%d_%s", (int)getpid(), tag);
    } else {
        snprintf(why, wl, "no writable memory cgroup hierarchy (v1 /sys/fs/cgroup/memory or v2 with the memory controller)");
        return -1;
    }
    if (mkdir(cg->dir, 0755) != 0 && errno != EEXIST) {
        snprintf(why, wl, "mkdir %s: %s", cg->dir, strerror(errno));
        return -1;
    }
    int rc = cg->version == 1 ? write_file(cg->dir, "memory.limit_in_bytes", lim)
                              : write_file(cg->dir, "memory.max", lim);
    if (rc == 0 && cg->version == 1)
        (void)write_file(cg->dir, "memory.swappiness", "0");   /* keep the limit hard */
    if (rc == 0 && cg->version == 2)
        (void)write_file(cg->dir, "memory.swap.max", "0");
    if (rc != 0) {
        snprintf(why, wl, "cannot set the limit in %s", cg->dir);
        rmdir(cg->dir);
        return -1;
    }
    return 0;
}

static long long
cg_oom_kills(const cg_t *cg)
{
    return cg->version == 1 ? read_key(cg->dir, "memory.oom_control", "oom_kill")
                            : read_key(cg->dir, "memory.events", "oom_kill");
}

static void
cg_remove(const cg_t *cg)
{
    for (int i = 0; i < 50 && rmdir(cg->dir) != 0; i++)
        usleep(20000);   /* the dead child's charge drains asynchronously */
}

/* Fork the workload into the cgroup; returns the wait status. */
static int
run_in_cgroup(const cg_t *cg, int responder)
{
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        char me[32];
        snprintf(me, sizeof me, "%d", (int)getpid());
        if (write_file(cg->dir, "cgroup.procs", me) != 0)
            _exit(9);
        _exit(run_workload(responder));
    }
    int status = 0;
    if (pid < 0)
        return -1;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    return status;
}

static void
test_pressure_cgroup_responder_keeps_workload_alive(void **state)
{
    (void)state;
    cg_t cg;
    char why[512];
    if (cg_create(&cg, "on", why, sizeof why) != 0) {
        printf("SKIP: cgroup closed loop needs root and a writable memory cgroup: %s\n", why);
        skip();
    }
    int st = run_in_cgroup(&cg, 1);
    long long kills = cg_oom_kills(&cg);
    cg_remove(&cg);
    printf("cgroup v%d, limit %d MiB, responder on: %s %d, oom_kill %lld\n", cg.version, LIMIT_MIB,
           WIFEXITED(st) ? "exit" : "signal", WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st), kills);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
    assert_int_equal(kills, 0);
}

static void
test_pressure_cgroup_without_responder_is_oom_killed(void **state)
{
    (void)state;
    cg_t cg;
    char why[512];
    if (cg_create(&cg, "off", why, sizeof why) != 0) {
        printf("SKIP: cgroup closed loop needs root and a writable memory cgroup: %s\n", why);
        skip();
    }
    int st = run_in_cgroup(&cg, 0);
    long long kills = cg_oom_kills(&cg);
    cg_remove(&cg);
    printf("cgroup v%d, limit %d MiB, responder off: %s %d, oom_kill %lld\n", cg.version, LIMIT_MIB,
           WIFEXITED(st) ? "exit" : "signal", WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st), kills);
    assert_true(WIFSIGNALED(st));
    assert_int_equal(WTERMSIG(st), SIGKILL);
    assert_true(kills >= 1);
}

int
main(int argc, char **argv)
{
    if (argc >= 3 && strcmp(argv[1], "--workload") == 0)
        return run_workload(strcmp(argv[2], "on") == 0);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pressure_cgroup_responder_keeps_workload_alive),
        cmocka_unit_test(test_pressure_cgroup_without_responder_is_oom_killed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
