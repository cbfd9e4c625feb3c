/*
 * test_sqlite_stress.c — 4 threads, 4 connections (one file database each)
 * on one shared page budget far smaller than their cache sizes, so every
 * thread's misses take pages from the others' caches (stolen > 0), while
 * SQLite (serialized mode) runs inserts, updates, deletes and checking
 * queries through the adapter's page cache and allocator from all threads.
 * Every answer is checked against a count kept by the thread, each database
 * passes integrity_check, no allocation or FORCE fetch fails, and SQLite's
 * memory-used figure returns to its baseline and equals the adapter's live
 * bytes. Meant to run under TSan too (-DRM_SANITIZE=thread).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <pthread.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "rustymem/sqlite.h"

#define THREADS 4
#define ROUNDS 30
#define ROWS_PER_ROUND 400

static char g_dir[256];

typedef struct worker {
    int id;
    int failed;
    char why[700];
    long long rows;
} worker_t;

static int
exec_ok(worker_t *w, sqlite3 *db, const char *sql)
{
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        snprintf(w->why, sizeof w->why, "thread %d: %s: %s", w->id, sql, msg ? msg : "?");
        sqlite3_free(msg);
        w->failed = 1;
        return 0;
    }
    return 1;
}

static long long
query_int(worker_t *w, sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st = NULL;
    long long v = -1;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    else {
        snprintf(w->why, sizeof w->why, "thread %d: %s: %s", w->id, sql, sqlite3_errmsg(db));
        w->failed = 1;
    }
    sqlite3_finalize(st);
    return v;
}

static void *
worker_main(void *arg)
{
    worker_t *w = arg;
    char path[300], sql[512];
    snprintf(path, sizeof path, "%s/w%d.db", g_dir, w->id);
    sqlite3 *db = NULL;
    if (sqlite3_open(path, &db) != SQLITE_OK) {
        w->failed = 1;
        snprintf(w->why, sizeof w->why, "open %s", path);
        return NULL;
    }
    if (!exec_ok(w, db, "PRAGMA cache_size=2000; PRAGMA journal_mode=WAL;"
                        "CREATE TABLE t(a INTEGER PRIMARY KEY, b BLOB, c INT); CREATE INDEX tc ON t(c);"))
        goto out;
    long long next = 1, live = 0, csum = 0;
    for (int r = 0; r < ROUNDS && !w->failed; r++) {
        snprintf(sql, sizeof sql,
                 "BEGIN; WITH RECURSIVE s(i) AS (SELECT %lld UNION ALL SELECT i+1 FROM s WHERE i<%lld)"
                 " INSERT INTO t SELECT i, randomblob(300 + i %% 700), i %% 50 FROM s; COMMIT;",
                 next, next + ROWS_PER_ROUND - 1);
        if (!exec_ok(w, db, sql))
            break;
        for (long long i = next; i < next + ROWS_PER_ROUND; i++)
            csum += i % 50;
        next += ROWS_PER_ROUND;
        live += ROWS_PER_ROUND;
        /* delete one residue class of this round's rows, update another */
        snprintf(sql, sizeof sql, "DELETE FROM t WHERE a >= %lld AND c = %d;", next - ROWS_PER_ROUND, r % 50);
        if (!exec_ok(w, db, sql))
            break;
        long long del = 0;
        for (long long i = next - ROWS_PER_ROUND; i < next; i++)
            if (i % 50 == r % 50)
                del++;
        live -= del;
        csum -= del * (r % 50);
        if (!exec_ok(w, db, "UPDATE t SET b = zeroblob(length(b)) WHERE c = 7;"))
            break;
        long long n = query_int(w, db, "SELECT count(*) FROM t");
        long long s = query_int(w, db, "SELECT sum(c) FROM t INDEXED BY tc WHERE c >= 0");
        if (!w->failed && (n != live || s != csum)) {
            snprintf(w->why, sizeof w->why, "thread %d round %d: count %lld sum %lld, expected %lld %lld",
                     w->id, r, n, s, live, csum);
            w->failed = 1;
        }
    }
    if (!w->failed) {
        sqlite3_stmt *st = NULL;
        sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL);
        if (sqlite3_step(st) != SQLITE_ROW || strcmp((const char *)sqlite3_column_text(st, 0), "ok") != 0) {
            snprintf(w->why, sizeof w->why, "thread %d: integrity_check failed", w->id);
            w->failed = 1;
        }
        sqlite3_finalize(st);
    }
    w->rows = live;
out:
    sqlite3_close(db);
    unlink(path);
    snprintf(path, sizeof path, "%s/w%d.db-wal", g_dir, w->id);
    unlink(path);
    snprintf(path, sizeof path, "%s/w%d.db-shm", g_dir, w->id);
    unlink(path);
    return NULL;
}

static void
test_four_connections_share_one_budget(void **state)
{
    char err[256] = "";
    rm_sqlite_opts_t o;
    rm_sqlite_opts_default(&o);
    o.cache_bytes = 256u * 4096u;   /* 256 pages for 4 caches of 2000 */
    assert_int_equal(rm_sqlite_install(&o, err, sizeof err), RM_OK);
    assert_int_equal(sqlite3_threadsafe(), 1);
    assert_int_equal(sqlite3_initialize(), SQLITE_OK);
    sqlite3_int64 used0 = sqlite3_memory_used();

    pthread_t th[THREADS];
    worker_t w[THREADS];
    for (int i = 0; i < THREADS; i++) {
        memset(&w[i], 0, sizeof w[i]);
        w[i].id = i;
        assert_int_equal(pthread_create(&th[i], NULL, worker_main, &w[i]), 0);
    }
    for (int i = 0; i < THREADS; i++)
        pthread_join(th[i], NULL);
    for (int i = 0; i < THREADS; i++) {
        if (w[i].failed)
            fprintf(stderr, "%s\n", w[i].why);
        assert_false(w[i].failed);
        assert_true(w[i].rows > 0);
    }
    rm_sqlite_stats_t s;
    assert_int_equal(rm_sqlite_stats(&s), RM_OK);
    fprintf(stderr, "  pool: hits %llu misses %llu evictions %llu stolen %llu refused %llu failed %llu\n",
            (unsigned long long)s.file_pool.hits, (unsigned long long)s.file_pool.misses,
            (unsigned long long)s.file_pool.evictions, (unsigned long long)s.file_pool.stolen,
            (unsigned long long)s.file_pool.create_refused, (unsigned long long)s.file_pool.create_failed);
    assert_true(s.file_pool.stolen > 0);          /* the budget really was shared */
    /* a FORCE fetch refused by a budget full of pinned pages was served above
     * it (SQLite pins dirty pages); the excess is given back: the budget is
     * where it was once the caches are gone */
    fprintf(stderr, "  overshoots %llu, overshoot bytes now %llu\n", (unsigned long long)s.overshoots,
            (unsigned long long)s.overshoot_bytes);
    assert_int_equal(s.overshoot_bytes, 0);
    assert_int_equal(rm_pcache_pool_budget(rm_sqlite_file_pool()), o.cache_bytes);
    assert_int_equal(s.alloc_failures, 0);
    assert_int_equal(s.file_pool.pages, 0);       /* every cache destroyed */
    assert_int_equal(sqlite3_memory_used(), used0);
    assert_int_equal((uint64_t)sqlite3_memory_used(), s.slab_bytes + s.jemalloc_bytes + s.large_bytes);
}

int
main(void)
{
    snprintf(g_dir, sizeof g_dir, "/tmp/rm-sqlite-stress-XXXXXX");
    if (!mkdtemp(g_dir))
        return 2;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_four_connections_share_one_budget),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    rmdir(g_dir);
    return rc;
}
