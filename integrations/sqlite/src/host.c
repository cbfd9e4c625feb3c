/*
 * host.c — the embedded agent: rustymemd's gRPC services inside a SQLite
 * process (rustymem/sqlite_host.h, docs/adr/0029-sqlite-embedded-agent.md).
 *
 * Design note. The service handlers reach their host only through
 * service/host.h (ADR 0018). This file fills one rm_host_t with the adapter's
 * memcore objects (slab, large), its own knob registry and pressure monitor,
 * and a methods table whose entries are SQLite's actions; the page cache is a
 * page-cache-mode pool (rm_pcache_pool_t), not an rm_bufpool_t, so it is
 * served through the table's bufpool_stats/bufpool_evict. Session and
 * transaction methods stay NULL: those RPCs answer UNIMPLEMENTED naming what
 * SQLite lacks. Nothing here takes a connection's mutex: the page cache, the
 * allocators and sqlite3_interrupt are safe from any thread, so a management
 * call never waits for a query.
 *
 * One frame of buffer_pool.num_frames is one resident page of the file pool
 * (SQLite's page plus its per-page extra bytes): the budget in bytes is
 * num_frames × the bytes per page measured now (buffer_pool.page_size before
 * any page exists). 0 = the budget given at install (RUSTYMEM_SQLITE_CACHE_BYTES).
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "auth.h"
#include "host.h"
#include "rustymem/knobs.h"
#include "rustymem/pressure_knobs.h"
#include "rustymem/sqlite_host.h"
#include "server.h"
#include "sqlite_internal.h"

#ifndef RM_VERSION
#define RM_VERSION "dev"
#endif

static struct {
    pthread_mutex_t mu;
    int serving;
    rm_host_t host;
    rm_knobs_t *knobs;
    rm_knobs_sub_t *bp_sub, *mem_sub, *inert_sub;
    rm_pressure_knobs_t *pressure_knobs; /* pressure.*, memory.budget_bytes, alerts.* → the monitor */
    rm_pressure_t *pressure;
    rm_server_t *srv;
    rm_auth_t *auth;
    const rm_rpc_service_t *svcs[16];
    int n_svcs;
    int port;
    uint64_t install_budget;      /* file pool budget at start (num_frames = 0) */
    _Atomic bool closed_by_response;
    FILE *audit;
    pthread_mutex_t audit_mu;
} H = {.mu = PTHREAD_MUTEX_INITIALIZER, .audit_mu = PTHREAD_MUTEX_INITIALIZER};

/* ---- the page cache as a buffer pool -------------------------------------- */

/* Bytes one resident page costs in the file pool now (page + extra). */
static uint64_t
frame_bytes(const rm_pcache_stats_t *s)
{
    if (s->pages > 0 && s->used_bytes >= s->pages)
        return s->used_bytes / s->pages;
    return H.knobs ? (uint64_t)rm_knobs_get_i64(H.knobs, RM_KNOB_BUFFER_POOL_PAGE_SIZE) : 4096u;
}

rm_status_t
rm_sqlite__bufpool_stats(rm_bufpool_stats_t *out)
{
    rm_pcache_pool_t *pool = rm_sqlite_file_pool();
    if (!out)
        return RM_EINVAL;
    memset(out, 0, sizeof *out);
    out->last_corrupt_file = -1;
    if (!pool)
        return RM_ENOENT;
    rm_pcache_stats_t s;
    rm_status_t st = rm_pcache_pool_stats(pool, &s);
    if (st != RM_OK)
        return st;
    uint64_t fb = frame_bytes(&s);
    out->page_size = fb;
    out->total_frames = s.budget_bytes / fb;
    out->used_frames = s.pages;
    out->utilization = out->total_frames ? (double)s.pages / (double)out->total_frames : 0.0;
    out->hit_ratio = s.hit_ratio;
    out->hits = s.hits;
    out->misses = s.misses;
    out->reads = s.misses;   /* every miss is a page SQLite reads itself */
    out->evictions = s.evictions;
    out->discards = s.discards;
    out->pinned = s.pinned;
    out->win_size = s.win_size;
    out->t1_size = s.t1_size;
    out->t2_size = s.t2_size;
    out->b1_size = s.b1_size;
    out->b2_size = s.b2_size;
    out->b1_ghost_hits = s.b1_ghost_hits;
    out->b2_ghost_hits = s.b2_ghost_hits;
    out->arc_p = s.arc_p;
    out->admission_rejects = s.admission_rejects;
    out->held_bytes = s.held_bytes;
    /* the seed's sizing rule, as the file-backed pool gives it */
    uint64_t acc = s.hits + s.misses;
    if (acc >= 1000 && s.hit_ratio < 0.85 && out->utilization > 0.90) {
        out->advice = RM_BUFPOOL_GROW;
        out->recommended_frames = out->total_frames + out->total_frames / 4;
    } else if (acc >= 1000 && s.hit_ratio > 0.95) {
        out->advice = RM_BUFPOOL_SHRINK;
        out->recommended_frames = out->total_frames - out->total_frames / 4;
    } else {
        out->advice = RM_BUFPOOL_KEEP;
        out->recommended_frames = out->total_frames;
    }
    return RM_OK;
}

/* Drop `fraction` of the unpinned pages of the file pool: lower the budget by
 * that many bytes (evicting at once, most-above-share caches first) and set it
 * back, so the cache may fill again. */
/* Serialises the budget's lower-and-restore (evict) with live resizes (the
 * knob): interleaved, one could "restore" the other's lowered value. */
static pthread_mutex_t budget_mu = PTHREAD_MUTEX_INITIALIZER;

static rm_status_t evict_locked(double fraction, uint64_t *pages, uint64_t *bytes);

rm_status_t
rm_sqlite__evict(double fraction, uint64_t *pages, uint64_t *bytes)
{
    pthread_mutex_lock(&budget_mu);
    rm_status_t st = evict_locked(fraction, pages, bytes);
    pthread_mutex_unlock(&budget_mu);
    return st;
}

static rm_status_t
evict_locked(double fraction, uint64_t *pages, uint64_t *bytes)
{
    rm_pcache_pool_t *pool = rm_sqlite_file_pool();
    *pages = *bytes = 0;
    if (!pool)
        return RM_ENOENT;
    if (!(fraction > 0.0 && fraction <= 1.0))
        return RM_EINVAL;
    rm_sqlite_stats_t a, b;
    if (rm_sqlite_stats(&a) != RM_OK)
        return RM_ENOENT;
    uint64_t configured = a.file_pool.budget_bytes - a.overshoot_bytes;
    uint64_t fb = frame_bytes(&a.file_pool);
    uint64_t unpinned = a.file_pool.used_bytes > a.file_pool.pinned * fb ? a.file_pool.used_bytes -
                                                                               a.file_pool.pinned * fb
                                                                         : 0;
    uint64_t drop = (uint64_t)((double)unpinned * fraction);
    if (drop == 0)
        return RM_OK;
    uint64_t target = a.file_pool.used_bytes > drop ? a.file_pool.used_bytes - drop : 1;
    (void)rm_sqlite_set_cache_bytes(target ? target : 1);
    (void)rm_sqlite_stats(&b);
    (void)rm_sqlite_set_cache_bytes(configured);
    *pages = a.file_pool.pages > b.file_pool.pages ? a.file_pool.pages - b.file_pool.pages : 0;
    *bytes = a.file_pool.used_bytes > b.file_pool.used_bytes ? a.file_pool.used_bytes - b.file_pool.used_bytes : 0;
    return RM_OK;
}

/* SQLite's own caches (sqlite3_release_memory, up to `limit` bytes) and the allocators' free memory:
 * the bytes freed. */
static uint64_t
release_memory(int limit)
{
    uint64_t slab = 0, large = 0;
    int64_t before = sqlite3_memory_used();
    int rel = sqlite3_release_memory(limit);
    int64_t after = sqlite3_memory_used();
    if (rm_sqlite__slab())
        (void)rm_slab_reap(rm_sqlite__slab(), &slab);
    if (rm_sqlite__large())
        large = rm_large_release_free(rm_sqlite__large(), UINT64_MAX);
    uint64_t sq = rel > 0 ? (uint64_t)rel : (before > after ? (uint64_t)(before - after) : 0);
    return sq + slab + large;
}

uint64_t
rm_sqlite__force_gc(void)
{
    uint64_t pages = 0, pc = 0;
    (void)rm_sqlite__evict(1.0, &pages, &pc);
    return pc + release_memory(INT_MAX);
}

/* ---- the methods table ------------------------------------------------------ */

#ifndef RM_SQLITE_NO_AGENT /* librustymem_sqlite.so: the SQL surface's parts only (CMakeLists) */
static rm_status_t
m_bufpool_stats(void *dp, rm_bufpool_stats_t *out)
{
    (void)dp;
    return rm_sqlite__bufpool_stats(out);
}

static rm_status_t
m_bufpool_evict(void *dp, double fraction, uint64_t *pages, uint64_t *bytes)
{
    (void)dp;
    return rm_sqlite__evict(fraction, pages, bytes);
}

static uint64_t
m_kill_queries(void *dp, uint64_t older_than_ns)
{
    (void)dp;
    return rm_sqlite__kill_queries(older_than_ns);
}

static bool
m_admission_open(void *dp)
{
    (void)dp;
    return rm_sqlite__admission_open();
}

static void
m_set_admission(void *dp, bool open)
{
    (void)dp;
    atomic_store(&H.closed_by_response, false);   /* the operator's word stands */
    rm_sqlite__set_admission(open);
}

static void
m_engine_stats(void *dp, rm_host_engine_stats_t *out)
{
    (void)dp;
    memset(out, 0, sizeof *out);
    rm_sqlite_conn_stats_t c;
    rm_sqlite__conn_stats(&c);
    out->queries_running = c.running;
    out->queries_cancelled = c.interrupted_total;
}

static const rm_host_methods_t sqlite_methods = {
    .engine_stats = m_engine_stats,
    .kill_queries = m_kill_queries,
    .admission_open = m_admission_open,
    .set_admission = m_set_admission,
    .bufpool_stats = m_bufpool_stats,
    .bufpool_evict = m_bufpool_evict,
};

/* ---- knobs ------------------------------------------------------------------ */

static void
apply_frames(void *ctx, const rm_knob_change_t *ch, size_t n)
{
    (void)ctx;
    for (size_t i = 0; i < n; i++) {
        if (ch[i].id != RM_KNOB_BUFFER_POOL_NUM_FRAMES)
            continue;
        uint64_t bytes = H.install_budget;
        if (ch[i].new_value.i > 0) {
            rm_pcache_stats_t s = {0};
            if (rm_sqlite_file_pool())
                (void)rm_pcache_pool_stats(rm_sqlite_file_pool(), &s);
            bytes = (uint64_t)ch[i].new_value.i * frame_bytes(&s);
        }
        pthread_mutex_lock(&budget_mu);
        (void)rm_sqlite_set_cache_bytes(bytes);
        pthread_mutex_unlock(&budget_mu);
    }
}

static void
apply_memory(void *ctx, const rm_knob_change_t *ch, size_t n)
{
    (void)ctx;
    for (size_t i = 0; i < n; i++)
        if (ch[i].id == RM_KNOB_MEMORY_BUDGET_BYTES) {
            /* the monitor follows it through rm_pressure_follow_knobs */
            __atomic_store_n(&H.host.budget_override_bytes, (uint64_t)ch[i].new_value.i, __ATOMIC_RELAXED);
        }
}

/* What a SQLite process acts on: the page-cache budget (buffer_pool.num_frames),
 * the memory budget and the pressure monitor's knobs (pressure.*, alerts.*).
 * Every other knob configures a part of rustymemd this process does not have
 * (the engine's sessions, MVCC, plan cache, the file-backed pool's policy, the
 * slab's magazines …): a change to one is refused, naming it, rather than
 * stored and reported as set while nothing follows it (ADR 0029). */
static rm_status_t
veto_inert(void *ctx, const rm_knob_change_t *ch, size_t n, char *why, size_t why_len)
{
    (void)ctx;
    for (size_t i = 0; i < n; i++) {
        const rm_knob_def_t *d = rm_knobs_def(ch[i].id);
        const char *name = d ? d->name : "?";
        if (ch[i].id == RM_KNOB_BUFFER_POOL_NUM_FRAMES || ch[i].id == RM_KNOB_MEMORY_BUDGET_BYTES ||
            strncmp(name, "pressure.", 9) == 0 || strncmp(name, "alerts.", 7) == 0)
            continue;
        snprintf(why, why_len, "%s has no effect in a SQLite process (it configures a part of rustymemd this "
                 "process does not host)", name);
        return RM_EINVAL;
    }
    return RM_OK;
}

/* ---- the graduated response on SQLite ----------------------------------------- */

static uint64_t
est_pcache(void *ctx, rm_pressure_level_t level)
{
    (void)ctx;
    (void)level;
    rm_sqlite_stats_t s;
    if (rm_sqlite_stats(&s) != RM_OK)
        return 0;
    uint64_t fb = frame_bytes(&s.file_pool);
    return s.file_pool.used_bytes > s.file_pool.pinned * fb ? s.file_pool.used_bytes - s.file_pool.pinned * fb : 0;
}

/* Gentle and up: shrink the page cache by the target (all unpinned pages at Emergency). */
static uint64_t
reclaim_pcache(void *ctx, rm_pressure_level_t level, uint64_t target)
{
    uint64_t unpinned = est_pcache(ctx, level), pages = 0, bytes = 0;
    if (unpinned == 0)
        return 0;
    double f = level >= RM_PRESSURE_EMERGENCY || target >= unpinned ? 1.0 : (double)target / (double)unpinned;
    if (f <= 0.0)
        return 0;
    (void)rm_sqlite__evict(f, &pages, &bytes);
    return bytes;
}

/* Aggressive and up: SQLite's own caches (sqlite3_release_memory) and the allocators' free memory. */
static uint64_t
reclaim_release(void *ctx, rm_pressure_level_t level, uint64_t target)
{
    (void)ctx;
    (void)level;
    return release_memory(target > INT_MAX ? INT_MAX : (int)target);
}

/* Emergency and up: interrupt the longest-running statement (each run); what
 * it held is freed as it unwinds, so the bytes are counted after a short wait. */
static uint64_t
reclaim_interrupt(void *ctx, rm_pressure_level_t level, uint64_t target)
{
    (void)ctx;
    (void)level;
    (void)target;
    int64_t before = sqlite3_memory_used();
    if (rm_sqlite__kill_longest(1) == 0)
        return 0;
    struct timespec ts = {0, 20 * 1000 * 1000};
    nanosleep(&ts, NULL);
    int64_t after = sqlite3_memory_used();
    return before > after ? (uint64_t)(before - after) : 0;
}

/* Emergency and up: refuse new connections; reopen below, unless an operator closed it. */
static void
level_admission(void *ctx, rm_pressure_level_t old_level, rm_pressure_level_t new_level)
{
    (void)ctx;
    (void)old_level;
    if (new_level >= RM_PRESSURE_EMERGENCY) {
        if (rm_sqlite__admission_open()) {
            rm_sqlite__set_admission(false);
            atomic_store(&H.closed_by_response, true);
        }
    } else if (atomic_exchange(&H.closed_by_response, false)) {
        rm_sqlite__set_admission(true);
    }
}

/* ---- audit ---------------------------------------------------------------------- */

static void
audit_line(void *ctx, const char *identity, const char *rpc, const char *detail)
{
    (void)ctx;
    if (!H.audit)
        return;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    pthread_mutex_lock(&H.audit_mu);
    fprintf(H.audit, "%lld.%03ld AUDIT %s %s %s\n", (long long)ts.tv_sec, ts.tv_nsec / 1000000, identity, rpc,
            detail);
    fflush(H.audit);
    pthread_mutex_unlock(&H.audit_mu);
}

static void
audit_refused(void *ctx, const char *identity, const char *peer, const char *rpc, const char *detail)
{
    char d[512];
    snprintf(d, sizeof d, "%s peer=%s", detail, peer);
    audit_line(ctx, identity, rpc, d);
}

/* ---- options ------------------------------------------------------------------- */

static int
env_flag(const char *name, int *out, char *err, size_t errlen)
{
    const char *v = getenv(name);
    if (!v)
        return 0;
    if ((v[0] != '0' && v[0] != '1') || v[1]) {
        rm_sqlite__say(err, errlen, "%s='%s': expected 0 or 1", name, v);
        return -1;
    }
    *out = v[0] - '0';
    return 0;
}

rm_status_t
rm_sqlite_serve_opts_from_env(rm_sqlite_serve_opts_t *o, char *err, size_t errlen)
{
    if (!o)
        return RM_EINVAL;
    memset(o, 0, sizeof *o);
    o->threads = 2;
    o->sql = 1;
    o->listen = getenv("RUSTYMEM_LISTEN");
    if (!o->listen || !*o->listen) {
        rm_sqlite__say(err, errlen, "RUSTYMEM_LISTEN is not set");
        return RM_ENOENT;
    }
    o->port_file = getenv("RUSTYMEM_PORT_FILE");
    o->auth_file = getenv("RUSTYMEM_AUTH_FILE");
    o->tls_cert = getenv("RUSTYMEM_TLS_CERT");
    o->tls_key = getenv("RUSTYMEM_TLS_KEY");
    o->tls_client_ca = getenv("RUSTYMEM_TLS_CLIENT_CA");
    o->audit_file = getenv("RUSTYMEM_AUDIT_FILE");
    o->node_name = getenv("RUSTYMEM_NODE_NAME");
    if (env_flag("RUSTYMEM_INSECURE", &o->insecure, err, errlen) ||
        env_flag("RUSTYMEM_ALLOW_UNAUTHENTICATED", &o->allow_unauthenticated, err, errlen) ||
        env_flag("RUSTYMEM_SQLITE_SQL", &o->sql, err, errlen))
        return RM_EINVAL;
    const char *t = getenv("RUSTYMEM_SERVER_THREADS");
    if (t) {
        char *end = NULL;
        long v = strtol(t, &end, 10);
        if (!*t || *end || v < 1 || v > 16) {
            rm_sqlite__say(err, errlen, "RUSTYMEM_SERVER_THREADS='%s': expected 1..16", t);
            return RM_EINVAL;
        }
        o->threads = (int)v;
    }
    return RM_OK;
}

static int
is_loopback(const char *a)
{
    return strncmp(a, "127.", 4) == 0 || strncmp(a, "[::1]:", 6) == 0 || strncmp(a, "localhost:", 10) == 0 ||
           strncmp(a, "unix:", 5) == 0;
}

/* ---- start / stop ------------------------------------------------------------------ */

static void
teardown_locked(void)
{
    if (H.srv) {
        rm_server_shutdown(H.srv);
        rm_server_wait(H.srv);
        rm_server_destroy(H.srv);
        H.srv = NULL;
    }
    if (H.n_svcs > 0)
        rm_node_services_free(H.svcs, (size_t)H.n_svcs);
    H.n_svcs = 0;
    rm_auth_destroy(H.auth);
    H.auth = NULL;
    rm_pressure_unfollow_knobs(H.pressure_knobs);
    H.pressure_knobs = NULL;
    if (H.pressure) {
        rm_pressure_stop(H.pressure);
        rm_pressure_destroy(H.pressure);
        H.pressure = NULL;
    }
    if (H.knobs) {
        rm_knobs_unsubscribe(H.knobs, H.bp_sub);
        rm_knobs_unsubscribe(H.knobs, H.mem_sub);
        rm_knobs_unsubscribe(H.knobs, H.inert_sub);
        rm_knobs_destroy(H.knobs);
        H.knobs = NULL;
        H.bp_sub = H.mem_sub = H.inert_sub = NULL;
    }
    if (H.audit) {
        fclose(H.audit);
        H.audit = NULL;
    }
    memset(&H.host, 0, sizeof H.host);
    H.port = 0;
    H.serving = 0;
}

void
rm_sqlite_serve_stop(void)
{
    pthread_mutex_lock(&H.mu);
    if (H.serving)
        teardown_locked();
    pthread_mutex_unlock(&H.mu);
}

/*
 * At exit: the embedded agent stops as rm_sqlite_serve_stop() stops it —
 * server shut down (in-flight calls cancelled, its threads joined), the
 * pressure sampler (it calls into SQLite) stopped, everything freed. The
 * handler is registered after the server started, so it runs before the
 * destructors of what gRPC built until then. (An earlier build crashed here
 * with "free(): invalid size" while libjemalloc's operator new/delete came
 * before libstdc++'s; the preload now lists libstdc++ first, ADR 0029.)
 * Proven by the tests that check the exit: test_sqlite_mgmt (python3 exits 0
 * after RPCs, streams from the exporter and the fleet), test_sqlite_seed_sql
 * (the sqlite3 CLI under ASan with leak detection), test_sqlite_auth.
 */
static void
stop_at_exit(void)
{
    pthread_mutex_lock(&H.mu);
    if (H.serving)
        teardown_locked();
    pthread_mutex_unlock(&H.mu);
}

#endif

rm_pressure_t *
rm_sqlite__pressure(void)
{
    return H.pressure;
}

int
rm_sqlite_serve_port(void)
{
    return H.port;
}

rm_status_t
rm_sqlite_sql_install(char *err, size_t errlen)
{
    if (!rm_sqlite_installed()) {
        rm_sqlite__say(err, errlen, "the adapter is not installed (rm_sqlite_install first)");
        return RM_ENOENT;
    }
    return rm_sqlite__conns_install(true, err, errlen);
}

#ifndef RM_SQLITE_NO_AGENT
static rm_status_t
start_locked(const rm_sqlite_serve_opts_t *o, char *err, size_t errlen)
{
    rm_status_t st;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    H.host.start_ns = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
    H.host.version = RM_VERSION;
    if (o->node_name && *o->node_name)
        snprintf(H.host.node_name, sizeof H.host.node_name, "%s", o->node_name);
    else if (gethostname(H.host.node_name, sizeof H.host.node_name - 1) < 0)
        snprintf(H.host.node_name, sizeof H.host.node_name, "unknown");
    if (o->audit_file && !(H.audit = fopen(o->audit_file, "a"))) {
        rm_sqlite__say(err, errlen, "RUSTYMEM_AUDIT_FILE '%s': %s", o->audit_file, strerror(errno));
        return RM_EIO;
    }
    /* knobs: defaults; the page cache and the budget are live */
    if ((st = rm_knobs_create(&H.knobs)) != RM_OK) {
        rm_sqlite__say(err, errlen, "knob registry: %s", rm_strerror(st));
        return st;
    }
    rm_knobs_mark_started(H.knobs);
    if ((st = rm_knobs_subscribe(H.knobs, "buffer_pool.", NULL, apply_frames, NULL, &H.bp_sub)) != RM_OK ||
        (st = rm_knobs_subscribe(H.knobs, "memory.", NULL, apply_memory, NULL, &H.mem_sub)) != RM_OK ||
        (st = rm_knobs_subscribe(H.knobs, "", veto_inert, NULL, NULL, &H.inert_sub)) != RM_OK) {
        rm_sqlite__say(err, errlen, "knob subscriptions: %s", rm_strerror(st));
        return st;
    }
    rm_pcache_pool_t *pool = rm_sqlite_file_pool();
    H.install_budget = pool ? rm_pcache_pool_budget(pool) : 0;
    /* pressure: sampler, forecaster and the graduated response on SQLite */
    rm_pressure_config_t cfg;
    rm_pressure_config_default(&cfg);
    rm_pressure_config_from_knobs(H.knobs, &cfg);
    if ((st = rm_pressure_create(&cfg, NULL, &H.pressure)) != RM_OK) {
        rm_sqlite__say(err, errlen, "pressure monitor: %s", rm_strerror(st));
        return st;
    }
    if ((st = rm_pressure_follow_knobs(H.pressure, H.knobs, &H.pressure_knobs)) != RM_OK) {
        rm_sqlite__say(err, errlen, "pressure knobs: %s", rm_strerror(st));
        return st;
    }
    const rm_pressure_reclaimer_def_t defs[] = {
        {"sqlite_page_cache", 10, RM_PRESSURE_GENTLE, est_pcache, reclaim_pcache, NULL, NULL},
        {"sqlite_release_memory", 20, RM_PRESSURE_AGGRESSIVE, NULL, reclaim_release, NULL, NULL},
        {"sqlite_interrupt_longest", 30, RM_PRESSURE_EMERGENCY, NULL, reclaim_interrupt, NULL, NULL},
        {"sqlite_admission", 40, RM_PRESSURE_EMERGENCY, NULL, NULL, level_admission, NULL},
    };
    for (size_t i = 0; i < sizeof defs / sizeof defs[0]; i++)
        if ((st = rm_pressure_reclaimer_add(H.pressure, &defs[i], NULL)) != RM_OK) {
            rm_sqlite__say(err, errlen, "pressure reclaimer %s: %s", defs[i].name, rm_strerror(st));
            return st;
        }
    if ((st = rm_pressure_start(H.pressure)) != RM_OK) {
        rm_sqlite__say(err, errlen, "pressure sampler thread: %s", rm_strerror(st));
        return st;
    }
    H.host.knobs = H.knobs;
    H.host.pressure = H.pressure;
    H.host.slab = rm_sqlite__slab();
    H.host.large = rm_sqlite__large();
    H.host.methods = &sqlite_methods;
    H.host.audit = audit_line;
    /* the server */
    if (o->auth_file || o->tls_client_ca) {
        char why[512];
        if ((st = rm_auth_load(o->auth_file, o->tls_client_ca != NULL, &H.auth, why, sizeof why)) != RM_OK) {
            /* the loader speaks of rustymemd's flags; here the settings are environment variables */
            rm_sqlite__say(err, errlen, "RUSTYMEM_AUTH_FILE%s: %s", o->tls_client_ca ? " / RUSTYMEM_TLS_CLIENT_CA" : "", why);
            return st;
        }
        rm_auth_set_audit(H.auth, audit_refused, NULL);
    }
    H.n_svcs = rm_node_services(H.svcs, 16);
    if (H.n_svcs < 0) {
        H.n_svcs = 0;
        rm_sqlite__say(err, errlen, "out of memory building the service tables");
        return RM_ENOMEM;
    }
    rm_server_opts_t so = {
        .listen = o->listen,
        .cq_threads = o->threads,
        .shutdown_grace_ms = 500,
        .app = &H.host,
        .tls_cert_file = o->tls_cert,
        .tls_key_file = o->tls_key,
        .tls_client_ca_file = o->tls_client_ca,
        .auth = H.auth ? rm_auth_check : NULL,
        .auth_ctx = H.auth,
    };
    if ((st = rm_server_create(&so, H.svcs, (size_t)H.n_svcs, &H.srv, err, errlen)) != RM_OK)
        return st;
    if ((st = rm_server_start(H.srv)) != RM_OK) {
        rm_sqlite__say(err, errlen, "cannot start the server threads");
        return st;
    }
    H.port = rm_server_port(H.srv);
    if (o->port_file) {
        char tmp[4096];
        snprintf(tmp, sizeof tmp, "%s.tmp", o->port_file);
        FILE *f = fopen(tmp, "w");
        if (!f || fprintf(f, "%d\n", H.port) < 0 || fclose(f) != 0 || rename(tmp, o->port_file) != 0) {
            rm_sqlite__say(err, errlen, "RUSTYMEM_PORT_FILE '%s': %s", o->port_file, strerror(errno));
            return RM_EIO;
        }
    }
    return RM_OK;
}

rm_status_t
rm_sqlite_serve(const rm_sqlite_serve_opts_t *o, char *err, size_t errlen)
{
    if (!o || !o->listen || !*o->listen) {
        rm_sqlite__say(err, errlen, "listen address is empty");
        return RM_EINVAL;
    }
    if (o->threads < 1 || o->threads > 16) {
        rm_sqlite__say(err, errlen, "threads = %d: expected 1..16", o->threads);
        return RM_EINVAL;
    }
    if (!rm_sqlite_installed()) {
        rm_sqlite__say(err, errlen, "the adapter is not installed (rm_sqlite_install first)");
        return RM_ENOENT;
    }
    if (!is_loopback(o->listen)) {   /* ADR 0015: closed by default beyond this host */
        if (!o->tls_cert && !o->insecure) {
            rm_sqlite__say(err, errlen, "RUSTYMEM_LISTEN '%s' is not a loopback address: plaintext needs RUSTYMEM_INSECURE=1 "
                "(or set RUSTYMEM_TLS_CERT/RUSTYMEM_TLS_KEY)", o->listen);
            return RM_EINVAL;
        }
        if (!o->auth_file && !o->tls_client_ca && !o->allow_unauthenticated) {
            rm_sqlite__say(err, errlen, "RUSTYMEM_LISTEN '%s' is not a loopback address: set RUSTYMEM_AUTH_FILE or "
                "RUSTYMEM_TLS_CLIENT_CA, or RUSTYMEM_ALLOW_UNAUTHENTICATED=1", o->listen);
            return RM_EINVAL;
        }
    }
    rm_status_t st = rm_sqlite__conns_install(o->sql != 0, err, errlen);
    if (st != RM_OK)
        return st;
    pthread_mutex_lock(&H.mu);
    if (H.serving) {
        pthread_mutex_unlock(&H.mu);
        rm_sqlite__say(err, errlen, "already serving on port %d", H.port);
        return RM_EBUSY;
    }
    H.serving = 1;
    st = start_locked(o, err, errlen);
    if (st != RM_OK)
        teardown_locked();
    pthread_mutex_unlock(&H.mu);
    static atomic_int registered;
    if (st == RM_OK && atomic_exchange(&registered, 1) == 0)
        atexit(stop_at_exit);
    return st;
}
#endif
