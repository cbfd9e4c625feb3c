/*
 * test_sqlite_adapter.c — rm_sqlite_install on the system libsqlite3: option
 * and state errors install nothing; xSize/xRoundup are exact on every route
 * (slab, jemalloc, large); sqlite3_status(MEMORY_USED) equals the adapter's
 * live bytes and comes back to its baseline; sqlite3_db_status cache hits and
 * misses equal pcache1's on the same work (run in a child on SQLite's
 * defaults), and a file database gives the same answers on both.
 *
 * Install is once per process, so the tests run in order: children forked
 * before the install see SQLite's defaults.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "rustymem/large.h"
#include "rustymem/slab.h"
#include "rustymem/sqlite.h"

static char g_dir[256];

typedef struct work_result {
    int hit, miss, spill;      /* sqlite3_db_status */
    long long sum;             /* answer of the query */
    char integrity[16];
} work_result_t;

/* A fixed piece of work on a file database: inserts, an index, updates,
 * deletes, a rolled-back delete, lookups; cache_size pages. */
static int
run_work(const char *path, int cache_size, work_result_t *r)
{
    sqlite3 *db = NULL;
    memset(r, 0, sizeof *r);
    unlink(path);
    if (sqlite3_open(path, &db) != SQLITE_OK)
        return -1;
    char sql[4096];
    snprintf(sql, sizeof sql,
             "PRAGMA cache_size=%d; PRAGMA auto_vacuum=FULL;"
             "CREATE TABLE t(a INTEGER PRIMARY KEY, b TEXT, c INT);"
             "BEGIN; WITH RECURSIVE s(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM s WHERE x<12000)"
             " INSERT INTO t SELECT x, printf('%%040d-%%d', x*7919 %% 100003, x), x %% 97 FROM s; COMMIT;"
             "CREATE INDEX tb ON t(b); CREATE INDEX tc ON t(c);"
             "UPDATE t SET b = b || 'u' WHERE c < 20;"
             "DELETE FROM t WHERE c = 5;"
             "BEGIN; DELETE FROM t WHERE a > 6000; ROLLBACK;",
             cache_size);
    if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK) {
        fprintf(stderr, "work: %s\n", sqlite3_errmsg(db));
        sqlite3_close(db);
        return -1;
    }
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, "SELECT sum(length(b)) + sum(c) FROM t WHERE b > ?", -1, &st, NULL) != SQLITE_OK)
        return -1;
    for (int i = 0; i < 200; i++) {
        char k[64];
        snprintf(k, sizeof k, "%040d", (i * 4999) % 100003);
        sqlite3_bind_text(st, 1, k, -1, SQLITE_TRANSIENT);
        if (sqlite3_step(st) == SQLITE_ROW)
            r->sum += sqlite3_column_int64(st, 0);
        sqlite3_reset(st);
    }
    sqlite3_finalize(st);
    if (sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        snprintf(r->integrity, sizeof r->integrity, "%s", (const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    int cur, hw;
    sqlite3_db_status(db, SQLITE_DBSTATUS_CACHE_HIT, &cur, &hw, 0);
    r->hit = cur;
    sqlite3_db_status(db, SQLITE_DBSTATUS_CACHE_MISS, &cur, &hw, 0);
    r->miss = cur;
    sqlite3_db_status(db, SQLITE_DBSTATUS_CACHE_SPILL, &cur, &hw, 0);
    r->spill = cur;
    sqlite3_close(db);
    unlink(path);
    return 0;
}

/* Run the work on SQLite's defaults in a child (this process may already be
 * installed; the child of an uninstalled process is not). */
static work_result_t g_default_big, g_default_small;

static void
run_in_child(int cache_size, work_result_t *out)
{
    int fd[2];
    assert_int_equal(pipe(fd), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(fd[0]);
        char path[300];
        snprintf(path, sizeof path, "%s/child.db", g_dir);
        work_result_t r;
        int rc = run_work(path, cache_size, &r);
        if (write(fd[1], &r, sizeof r) != (ssize_t)sizeof r)
            _exit(3);
        _exit(rc == 0 ? 0 : 2);
    }
    close(fd[1]);
    assert_int_equal(read(fd[0], out, sizeof *out), (ssize_t)sizeof *out);
    close(fd[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

static void
test_defaults_in_children_first(void **state)
{
    run_in_child(20000, &g_default_big);   /* everything fits: no eviction */
    run_in_child(40, &g_default_small);    /* evictions and spills */
    assert_string_equal(g_default_big.integrity, "ok");
    assert_true(g_default_small.spill > 0);
}

static void
test_install_refused_when_sqlite_is_initialised(void **state)
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        if (sqlite3_initialize() != SQLITE_OK)
            _exit(2);
        char err[256] = "";
        rm_status_t st = rm_sqlite_install(NULL, err, sizeof err);
        rm_sqlite_stats_t s;
        int ok = st == RM_EBUSY && strstr(err, "already initialised") && !rm_sqlite_installed() &&
                 rm_sqlite_stats(&s) == RM_ENOENT;
        /* SQLite still works, on its own allocator */
        void *p = sqlite3_malloc(100);
        ok = ok && p && sqlite3_msize(p) >= 100;
        sqlite3_free(p);
        _exit(ok ? 0 : 1);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

static void
test_bad_options_install_nothing(void **state)
{
    char err[256];
    rm_sqlite_opts_t o;
    rm_sqlite_opts_default(&o);
    o.cache_bytes = 0;
    assert_int_equal(rm_sqlite_install(&o, err, sizeof err), RM_EINVAL);
    assert_non_null(strstr(err, "cache_bytes"));
    rm_sqlite_opts_default(&o);
    o.large_threshold = 4096;
    assert_int_equal(rm_sqlite_install(&o, err, sizeof err), RM_EINVAL);
    assert_non_null(strstr(err, "large_threshold"));
    rm_sqlite_opts_default(&o);
    o.pcache = 2;
    assert_int_equal(rm_sqlite_install(&o, err, sizeof err), RM_EINVAL);
    assert_false(rm_sqlite_installed());
    sqlite3_mem_methods m;
    assert_int_equal(sqlite3_config(SQLITE_CONFIG_GETMALLOC, &m), SQLITE_OK);
    void *p = m.xMalloc(64);   /* SQLite's default: the system allocator */
    assert_non_null(p);
    m.xFree(p);

    /* the environment parser names the variable and leaves defaults */
    setenv("RUSTYMEM_SQLITE_CACHE_BYTES", "12x", 1);
    assert_int_equal(rm_sqlite_opts_from_env(&o, err, sizeof err), RM_EINVAL);
    assert_non_null(strstr(err, "RUSTYMEM_SQLITE_CACHE_BYTES='12x'"));
    assert_int_equal(o.cache_bytes, RM_SQLITE_CACHE_BYTES_DEFAULT);
    setenv("RUSTYMEM_SQLITE_CACHE_BYTES", "3m", 1);
    setenv("RUSTYMEM_SQLITE_PCACHE", "yes", 1);
    assert_int_equal(rm_sqlite_opts_from_env(&o, err, sizeof err), RM_EINVAL);
    assert_non_null(strstr(err, "RUSTYMEM_SQLITE_PCACHE"));
    setenv("RUSTYMEM_SQLITE_PCACHE", "1", 1);
    setenv("RUSTYMEM_SQLITE_LARGE_THRESHOLD", "1k", 1);
    assert_int_equal(rm_sqlite_opts_from_env(&o, err, sizeof err), RM_EINVAL);
    assert_non_null(strstr(err, "RUSTYMEM_SQLITE_LARGE_THRESHOLD"));
    unsetenv("RUSTYMEM_SQLITE_LARGE_THRESHOLD");
    assert_int_equal(rm_sqlite_opts_from_env(&o, err, sizeof err), RM_OK);
    assert_int_equal(o.cache_bytes, 3u << 20);
    unsetenv("RUSTYMEM_SQLITE_CACHE_BYTES");
    unsetenv("RUSTYMEM_SQLITE_PCACHE");
}

static void
test_install_once(void **state)
{
    char err[256] = "";
    rm_sqlite_opts_t o;
    rm_sqlite_opts_default(&o);
    o.cache_bytes = 64u << 20;
    o.memdb_bytes = 8u << 20;
    rm_status_t st = rm_sqlite_install(&o, err, sizeof err);
    if (st != RM_OK)
        fprintf(stderr, "install: %s\n", err);
    assert_int_equal(st, RM_OK);
    assert_true(rm_sqlite_installed());
    assert_non_null(rm_sqlite_file_pool());
    assert_non_null(rm_sqlite_memdb_pool());
    assert_int_equal(rm_sqlite_install(&o, err, sizeof err), RM_EBUSY);
    /* live resize of the file budget */
    assert_int_equal(rm_sqlite_set_cache_bytes(0), RM_EINVAL);
    assert_int_equal(rm_pcache_pool_budget(rm_sqlite_file_pool()), 64u << 20);
    assert_int_equal(rm_sqlite_set_cache_bytes(32u << 20), RM_OK);
    assert_int_equal(rm_pcache_pool_budget(rm_sqlite_file_pool()), 32u << 20);
    assert_int_equal(rm_sqlite_set_cache_bytes(64u << 20), RM_OK);
    assert_int_equal(sqlite3_initialize(), SQLITE_OK);
    sqlite3_mem_methods m;
    assert_int_equal(sqlite3_config(SQLITE_CONFIG_GETMALLOC, &m), SQLITE_MISUSE);
}

static uint64_t
adapter_live_bytes(void)
{
    rm_sqlite_stats_t s;
    assert_int_equal(rm_sqlite_stats(&s), RM_OK);
    return s.slab_bytes + s.jemalloc_bytes + s.large_bytes;
}

static void
test_size_and_roundup_are_exact_on_every_route(void **state)
{
    sqlite3_int64 used0 = sqlite3_memory_used();
    assert_int_equal((uint64_t)used0, adapter_live_bytes());
    static const int sizes[] = {1, 8, 63, 64, 65, 100, 192, 200, 384, 1000, 2048, 4095, 4096,
                                4097, 5000, 12345, 65536, 100000, 1000000, (2 << 20) - 1,
                                2 << 20, (2 << 20) + 1, 3000000};
    enum { N = sizeof sizes / sizeof sizes[0] };
    void *p[N];
    sqlite3_int64 sum = 0;
    rm_sqlite_stats_t s0, s1;
    assert_int_equal(rm_sqlite_stats(&s0), RM_OK);
    for (int i = 0; i < N; i++) {
        p[i] = sqlite3_malloc(sizes[i]);
        assert_non_null(p[i]);
        int sz = (int)sqlite3_msize(p[i]);
        assert_true(sz >= sizes[i]);
        assert_int_equal(((uintptr_t)p[i]) % 8, 0);
        memset(p[i], 0x5a, (size_t)sz);   /* every byte xSize reports is usable */
        sum += sz;
    }
    assert_int_equal(sqlite3_memory_used() - used0, sum);
    assert_int_equal((uint64_t)sqlite3_memory_used(), adapter_live_bytes());
    assert_int_equal(rm_sqlite_stats(&s1), RM_OK);
    assert_true(s1.slab_allocs - s0.slab_allocs >= 13);    /* up to 4096 */
    assert_true(s1.jemalloc_allocs - s0.jemalloc_allocs >= 6);  /* 4097 … 2 MiB − 1 */
    assert_true(s1.large_allocs - s0.large_allocs >= 3);   /* 2 MiB and above */
    assert_int_equal(sqlite3_msize(p[3]), 64);
    assert_int_equal(sqlite3_msize(p[12]), 4096);
    assert_int_equal(sqlite3_msize(p[20]), 2 << 20);

    /* every slab size: xSize gives slab.c's class (the class
     * comes from the chunk map's mark of the slab, not from its header), and
     * the free goes back to that class's cache (slab bytes back to s1's) */
    for (int n = 1; n <= 4096; n++) {
        void *b = sqlite3_malloc(n);
        assert_non_null(b);
        assert_int_equal(sqlite3_msize(b), rm_slab_size_class((size_t)n));
        sqlite3_free(b);
    }
    rm_sqlite_stats_t s2;
    assert_int_equal(rm_sqlite_stats(&s2), RM_OK);
    assert_int_equal(s2.slab_bytes, s1.slab_bytes);
    assert_int_equal(s2.slab_allocs - s1.slab_allocs, 4096);

    /* realloc across routes keeps the contents and the accounting */
    for (int i = 0; i < N; i++) {
        int nsz = sizes[(i + 7) % N];
        int keep = sizes[i] < nsz ? sizes[i] : nsz;
        unsigned char *q = sqlite3_realloc(p[i], nsz);
        assert_non_null(q);
        for (int k = 0; k < keep; k += 97)
            assert_int_equal(q[k], 0x5a);
        assert_int_equal(q[keep - 1], 0x5a);
        p[i] = q;
    }
    assert_int_equal((uint64_t)sqlite3_memory_used(), adapter_live_bytes());
    for (int i = 0; i < N; i++)
        sqlite3_free(p[i]);
    assert_int_equal(sqlite3_memory_used(), used0);
    assert_int_equal((uint64_t)used0, adapter_live_bytes());

    /* a jemalloc block grown past the large threshold stays with jemalloc
     * (rallocx may grow it in place; a move to the large allocator copied it
     * and held both: ADR 0023), with exact sizes and accounting */
    unsigned char *gb = sqlite3_malloc(1 << 20);
    assert_non_null(gb);
    memset(gb, 0x33, 1 << 20);
    assert_int_equal(rm_sqlite_stats(&s0), RM_OK);
    unsigned char *hb = sqlite3_realloc(gb, 3 << 20);
    assert_non_null(hb);
    assert_int_equal(rm_sqlite_stats(&s1), RM_OK);
    assert_int_equal(s1.large_allocs, s0.large_allocs);
    assert_int_equal(s1.large_bytes, s0.large_bytes);
    assert_true(sqlite3_msize(hb) >= (3 << 20));
    assert_int_equal(hb[0], 0x33);
    assert_int_equal(hb[(1 << 20) - 1], 0x33);
    assert_int_equal((uint64_t)sqlite3_memory_used(), adapter_live_bytes());
    sqlite3_free(hb);
    assert_int_equal(sqlite3_memory_used(), used0);
    assert_int_equal((uint64_t)used0, adapter_live_bytes());

    /* a big jemalloc block that must move (a neighbour after it) is copied
     * step by step, the old block's copied pages dropped as it goes (ADR
     * 0023, RSS): every byte arrives, the accounting stays exact */
    enum { OLD = 448 << 10, NEW = 1536 << 10 };
    unsigned char *mb = sqlite3_malloc(OLD);
    void *nb = sqlite3_malloc(OLD);
    assert_non_null(mb);
    assert_non_null(nb);
    for (int k = 0; k < OLD; k++)
        mb[k] = (unsigned char)(k * 131u + (k >> 12));
    unsigned char *rb = sqlite3_realloc(mb, NEW);
    assert_non_null(rb);
    assert_true(sqlite3_msize(rb) >= NEW);
    for (int k = 0; k < OLD; k++)
        if (rb[k] != (unsigned char)(k * 131u + (k >> 12)))
            fail_msg("byte %d of a moved block: %u", k, rb[k]);
    memset(rb + OLD, 0x11, NEW - OLD);   /* the grown part is usable */
    assert_int_equal((uint64_t)sqlite3_memory_used(), adapter_live_bytes());
    sqlite3_free(rb);
    sqlite3_free(nb);
    assert_int_equal(sqlite3_memory_used(), used0);
    assert_int_equal((uint64_t)used0, adapter_live_bytes());
}

static void
test_cache_counters_equal_pcache1_and_answers_match(void **state)
{
    char path[300];
    snprintf(path, sizeof path, "%s/mine.db", g_dir);
    sqlite3_int64 used0 = sqlite3_memory_used();
    rm_sqlite_stats_t s0, s1;
    assert_int_equal(rm_sqlite_stats(&s0), RM_OK);
    work_result_t big, small;
    assert_int_equal(run_work(path, 20000, &big), 0);
    assert_int_equal(run_work(path, 40, &small), 0);
    assert_int_equal(rm_sqlite_stats(&s1), RM_OK);
    fprintf(stderr, "  no eviction: pcache1 hit %d miss %d spill %d | rustymem hit %d miss %d spill %d\n",
            g_default_big.hit, g_default_big.miss, g_default_big.spill, big.hit, big.miss, big.spill);
    fprintf(stderr, "  cache 40:    pcache1 hit %d miss %d spill %d | rustymem hit %d miss %d spill %d\n",
            g_default_small.hit, g_default_small.miss, g_default_small.spill, small.hit, small.miss,
            small.spill);
    assert_string_equal(big.integrity, "ok");
    assert_string_equal(small.integrity, "ok");
    assert_true(big.sum == g_default_big.sum && small.sum == g_default_small.sum);
    /* no eviction: the pager asks for the same pages, hits and misses are the same numbers */
    assert_int_equal(big.hit, g_default_big.hit);
    assert_int_equal(big.miss, g_default_big.miss);
    assert_int_equal(big.spill, g_default_big.spill);
    /* under eviction the policies differ (ARC vs LRU); SQLite counts either way:
     * every fetch is a hit or a miss, so hit + miss is the same work */
    assert_int_equal(small.hit + small.miss, g_default_small.hit + g_default_small.miss);
    /* our page cache served it (its own fetch counters moved) */
    assert_true(s1.file_pool.hits > s0.file_pool.hits);
    assert_true(s1.file_pool.misses > s0.file_pool.misses);
    /* every connection closed: SQLite's memory-used figure is back where it was */
    assert_int_equal(sqlite3_memory_used(), used0);
    assert_int_equal((uint64_t)sqlite3_memory_used(), adapter_live_bytes());
}

static void
test_memdb_uses_its_own_pool(void **state)
{
    sqlite3 *db = NULL;
    rm_sqlite_stats_t s0, s1;
    assert_int_equal(rm_sqlite_stats(&s0), RM_OK);
    assert_int_equal(sqlite3_open(":memory:", &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db,
                                  "CREATE TABLE m(x); WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM s WHERE i<50000)"
                                  " INSERT INTO m SELECT randomblob(100) FROM s;",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    int cur = 0, hw = 0;
    assert_int_equal(sqlite3_db_status(db, SQLITE_DBSTATUS_CACHE_USED, &cur, &hw, 0), SQLITE_OK);
    assert_int_equal(rm_sqlite_stats(&s1), RM_OK);
    /* CACHE_USED is SQLite's own figure from xPagecount: pages × (page + headers) */
    assert_true(s1.memdb_pool.pages > 1000);
    assert_true((uint64_t)cur >= s1.memdb_pool.pages * 4096);
    assert_true((uint64_t)cur < s1.memdb_pool.pages * 4096 * 2);
    assert_int_equal(s1.file_pool.pages, s0.file_pool.pages);
    sqlite3_close(db);
    assert_int_equal(rm_sqlite_stats(&s1), RM_OK);
    assert_int_equal(s1.memdb_pool.pages, 0);
}

/* The in-memory pool is a hard cap: SQLITE_NOMEM there, and the file pool's
 * budget (which may be raised for pinned file pages) is not touched. */
static void
test_memdb_cap_is_hard(void **state)
{
    sqlite3 *db = NULL;
    rm_sqlite_stats_t s0, s1;
    assert_int_equal(rm_sqlite_stats(&s0), RM_OK);
    uint64_t budget0 = rm_pcache_pool_budget(rm_sqlite_file_pool());
    assert_int_equal(sqlite3_open(":memory:", &db), SQLITE_OK);
    int rc = sqlite3_exec(db,
                          "CREATE TABLE m(x); WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM s WHERE i<20000)"
                          " INSERT INTO m SELECT randomblob(1000) FROM s;",
                          NULL, NULL, NULL);
    assert_int_equal(rc, SQLITE_NOMEM);   /* 20 MB of rows in an 8 MiB pool */
    assert_int_equal(rm_sqlite_stats(&s1), RM_OK);
    assert_true(s1.memdb_pool.used_bytes <= 8u << 20);
    assert_int_equal(s1.overshoots, s0.overshoots);
    assert_int_equal(rm_pcache_pool_budget(rm_sqlite_file_pool()), budget0);
    /* the connection still works after the failed statement */
    assert_int_equal(sqlite3_exec(db, "SELECT count(*) FROM m", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
}

int
main(void)
{
    snprintf(g_dir, sizeof g_dir, "/tmp/rm-sqlite-test-XXXXXX");
    if (!mkdtemp(g_dir))
        return 2;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults_in_children_first),
        cmocka_unit_test(test_install_refused_when_sqlite_is_initialised),
        cmocka_unit_test(test_bad_options_install_nothing),
        cmocka_unit_test(test_install_once),
        cmocka_unit_test(test_size_and_roundup_are_exact_on_every_route),
        cmocka_unit_test(test_cache_counters_equal_pcache1_and_answers_match),
        cmocka_unit_test(test_memdb_uses_its_own_pool),
        cmocka_unit_test(test_memdb_cap_is_hard),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    rmdir(g_dir);
    return rc;
}
