/*
 * test_sqlite_conns.c — the connection registry's statement clock (conns.c)
 * as the management plane reads it, on the system libsqlite3 with the
 * registry's auto-extension (no page cache): a statement runs from its first
 * step to its end (done, reset or finalize), idle time counts from the end of
 * the last statement, a statement stepped while another runs neither starts
 * nor stops the clock, the longest-running statement is the one interrupted,
 * `--older-than` spares younger ones, and readers racing with statement
 * starts and ends never see an age from the future (idle or running times of
 * 584 years, orphans and kills that are not).
 *
 * Statement durations come from a sleep_ms() SQL function; the clock has
 * CLOCK_MONOTONIC_COARSE resolution (a tick, 1–10 ms), so every bound leaves
 * at least 50 ms.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "sqlite_internal.h"

#define ENDLESS "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c WHERE x < 0"

static void
sleep_ms_fn(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    (void)argc;
    usleep((useconds_t)sqlite3_value_int(argv[0]) * 1000u);
    sqlite3_result_int(ctx, 1);
}

static void
nap(unsigned ms)
{
    usleep(ms * 1000u);
}

static sqlite3 *
open_conn(void)
{
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(":memory:", &db), SQLITE_OK);
    assert_int_equal(sqlite3_create_function(db, "sleep_ms", 1, SQLITE_UTF8, NULL, sleep_ms_fn, NULL, NULL),
                     SQLITE_OK);
    return db;
}

/* the only open transaction's row (the tests open one at a time) */
static rm_sqlite_txn_t
txn_of(double orphan_idle_s)
{
    rm_sqlite_txn_t t[4];
    assert_int_equal(rm_sqlite__txns(t, 4, orphan_idle_s), 1);
    return t[0];
}

static rm_sqlite_conn_stats_t
conn_stats(void)
{
    rm_sqlite_conn_stats_t s;
    rm_sqlite__conn_stats(&s);
    return s;
}

typedef struct runner {
    pthread_t th;
    sqlite3 *db;
    const char *sql;
    _Atomic int rc;       /* -1 while running */
    _Atomic bool started;
} runner_t;

static void *
run_sql(void *p)
{
    runner_t *r = p;
    atomic_store(&r->started, true);
    atomic_store(&r->rc, sqlite3_exec(r->db, r->sql, NULL, NULL, NULL));
    return NULL;
}

static void
start_runner(runner_t *r, sqlite3 *db, const char *sql)
{
    memset(r, 0, sizeof *r);
    r->db = db;
    r->sql = sql;
    atomic_store(&r->rc, -1);
    assert_int_equal(pthread_create(&r->th, NULL, run_sql, r), 0);
    while (!atomic_load(&r->started))
        nap(1);
}

/* wait (up to 10 s) until `n` connections run a statement */
static void
wait_running(uint64_t n)
{
    for (int i = 0; i < 10000 && conn_stats().running != n; i++)
        nap(1);
    assert_int_equal(conn_stats().running, n);
}

static int
join_runner(runner_t *r)
{
    pthread_join(r->th, NULL);
    return atomic_load(&r->rc);
}

static void
test_setup_registers_the_hook(void **state)
{
    (void)state;
    char err[256] = "";
    assert_int_equal(rm_sqlite__conns_install(false, err, sizeof err), RM_OK);
    sqlite3 *db = open_conn();
    assert_int_equal(conn_stats().open, 1);
    sqlite3_close(db);
    assert_int_equal(conn_stats().open, 0);
}

/* running from the first step to the end; idle (and orphaned) from the end */
static void
test_idle_counts_from_the_statement_end(void **state)
{
    (void)state;
    sqlite3 *db = open_conn();
    assert_int_equal(sqlite3_exec(db, "BEGIN", NULL, NULL, NULL), SQLITE_OK);
    runner_t r;
    start_runner(&r, db, "SELECT sleep_ms(1000)");
    wait_running(1);
    nap(150);
    rm_sqlite_txn_t t = txn_of(0.2);
    assert_true(t.running);
    assert_false(t.orphaned);
    assert_true(t.idle_seconds == 0.0);
    rm_sqlite_conn_stats_t s = conn_stats();
    assert_int_equal(s.running, 1);
    assert_true(s.oldest_running_s >= 0.1 && s.oldest_running_s < 0.99);
    assert_int_equal(join_runner(&r), SQLITE_OK);

    /* ended just now: idle from the end (from the start it would be >= 1 s) */
    t = txn_of(0.2);
    assert_false(t.running);
    assert_true(t.idle_seconds < 0.15);
    assert_false(t.orphaned);
    assert_int_equal(conn_stats().running, 0);
    nap(300);
    t = txn_of(0.2);
    assert_true(t.idle_seconds >= 0.25 && t.idle_seconds < 5.0);
    assert_true(t.orphaned);
    /* a new statement resets it */
    assert_int_equal(sqlite3_exec(db, "SELECT 1", NULL, NULL, NULL), SQLITE_OK);
    t = txn_of(0.2);
    assert_true(t.idle_seconds < 0.15);
    assert_false(t.orphaned);
    assert_int_equal(sqlite3_exec(db, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
    rm_sqlite_txn_t none[1];
    assert_int_equal(rm_sqlite__txns(none, 1, 0.2), 0);
    sqlite3_close(db);
}

/* A SELECT stepped row by row holds the clock; statements run to completion
 * meanwhile neither restart nor stop it; its reset (or finalize) stops it. */
static void
test_a_statement_under_a_running_one_keeps_the_first_start(void **state)
{
    (void)state;
    sqlite3 *db = open_conn();
    assert_int_equal(sqlite3_exec(db, "BEGIN", NULL, NULL, NULL), SQLITE_OK);
    for (int end = 0; end < 2; end++) {   /* 0: sqlite3_reset ends it, 1: sqlite3_finalize */
        sqlite3_stmt *outer = NULL;
        assert_int_equal(sqlite3_prepare_v2(db, "SELECT value FROM (SELECT 1 AS value UNION ALL SELECT 2)", -1,
                                            &outer, NULL),
                         SQLITE_OK);
        assert_int_equal(sqlite3_step(outer), SQLITE_ROW);
        nap(200);
        /* a second statement starts and ends under it */
        assert_int_equal(sqlite3_exec(db, "SELECT sleep_ms(60)", NULL, NULL, NULL), SQLITE_OK);
        rm_sqlite_txn_t t = txn_of(0.1);
        assert_true(t.running);
        assert_false(t.orphaned);
        rm_sqlite_conn_stats_t s = conn_stats();
        assert_int_equal(s.running, 1);
        assert_true(s.oldest_running_s >= 0.2);   /* the outer one's start, not the inner one's */
        if (end == 0) {
            assert_int_equal(sqlite3_reset(outer), SQLITE_OK);
            sqlite3_finalize(outer);
        } else {
            sqlite3_finalize(outer);
        }
        t = txn_of(0.1);
        assert_false(t.running);
        assert_true(t.idle_seconds < 0.1);
        assert_int_equal(conn_stats().running, 0);
    }
    /* a statement that outlives the one that held the clock is not counted as
     * running (docs/sqlite.md), and the connection is idle from its end */
    sqlite3_stmt *a = NULL, *b = NULL;
    assert_int_equal(sqlite3_prepare_v2(db, "SELECT 1 UNION ALL SELECT 2", -1, &a, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, "SELECT 1 UNION ALL SELECT 2", -1, &b, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(a), SQLITE_ROW);
    assert_int_equal(sqlite3_step(b), SQLITE_ROW);
    sqlite3_reset(a);
    assert_int_equal(conn_stats().running, 0);
    nap(200);
    assert_true(txn_of(0.1).idle_seconds >= 0.15);
    sqlite3_reset(b);
    rm_sqlite_txn_t t = txn_of(0.1);
    assert_false(t.running);
    assert_true(t.idle_seconds < 0.1);
    sqlite3_finalize(a);
    sqlite3_finalize(b);
    assert_int_equal(sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
}

/* Two connections, each running an endless statement: a's started gap_ms
 * before b's, and both stamped as running. */
static void
start_two_staggered(sqlite3 **a, sqlite3 **b, runner_t *ra, runner_t *rb, unsigned gap_ms)
{
    *a = open_conn();
    *b = open_conn();
    start_runner(ra, *a, ENDLESS);
    wait_running(1);
    nap(gap_ms);
    start_runner(rb, *b, ENDLESS);
    wait_running(2);
}

/* the graduated response's kill: the oldest running statement first */
static void
test_kill_longest_interrupts_the_oldest_first(void **state)
{
    (void)state;
    sqlite3 *a, *b;
    runner_t ra, rb;
    start_two_staggered(&a, &b, &ra, &rb, 100);
    assert_int_equal(rm_sqlite__kill_longest(1), 1);
    assert_int_equal(join_runner(&ra), SQLITE_INTERRUPT);
    nap(50);
    assert_int_equal(atomic_load(&rb.rc), -1);   /* b still runs */
    rm_sqlite_conn_stats_t s = conn_stats();
    assert_int_equal(s.running, 1);
    assert_int_equal(rm_sqlite__kill_longest(1), 1);
    assert_int_equal(join_runner(&rb), SQLITE_INTERRUPT);
    assert_int_equal(conn_stats().running, 0);
    assert_int_equal(rm_sqlite__kill_longest(1), 0);   /* nothing runs */
    /* the interrupted connections work again */
    assert_int_equal(sqlite3_exec(a, "SELECT 1", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(a);
    sqlite3_close(b);
}

/* queries kill --older-than: the young statement is left alone */
static void
test_kill_older_than_spares_younger_statements(void **state)
{
    (void)state;
    sqlite3 *a, *b;
    runner_t ra, rb;
    start_two_staggered(&a, &b, &ra, &rb, 400);
    assert_int_equal(rm_sqlite__kill_queries(250 * 1000000ull), 1);
    assert_int_equal(join_runner(&ra), SQLITE_INTERRUPT);
    nap(50);
    assert_int_equal(atomic_load(&rb.rc), -1);
    assert_int_equal(rm_sqlite__kill_queries(0), 1);
    assert_int_equal(join_runner(&rb), SQLITE_INTERRUPT);
    sqlite3_close(a);
    sqlite3_close(b);
}

/* Readers read their clock before the stamps; a statement that starts or
 * ends in between must not make an age negative (an unsigned difference of
 * ~2^64 ns: idle for centuries, orphaned, killed as old). */
typedef struct churn {
    sqlite3 *db;
    _Atomic bool stop;
    _Atomic long statements;
    _Atomic int rc;
} churn_t;

static void *
churn_fn(void *p)
{
    churn_t *c = p;
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(c->db, "SELECT 1", -1, &st, NULL) != SQLITE_OK) {
        atomic_store(&c->rc, -1);
        return NULL;
    }
    while (!atomic_load_explicit(&c->stop, memory_order_relaxed)) {
        int rc = sqlite3_step(st);
        if (rc != SQLITE_ROW) {
            atomic_store(&c->rc, rc);
            break;
        }
        sqlite3_reset(st);
        atomic_fetch_add_explicit(&c->statements, 1, memory_order_relaxed);
    }
    sqlite3_finalize(st);
    return NULL;
}

static void
test_readers_racing_statements_see_no_future_stamp(void **state)
{
    (void)state;
    churn_t c = {.db = open_conn()};
    assert_int_equal(sqlite3_exec(c.db, "BEGIN", NULL, NULL, NULL), SQLITE_OK);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, churn_fn, &c), 0);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    long reads = 0, bad_idle = 0, bad_oldest = 0, killed = 0;
    double worst = 0.0;
    do {
        rm_sqlite_txn_t t = txn_of(60.0);
        if (t.orphaned || t.idle_seconds >= 60.0) {
            bad_idle++;
            if (t.idle_seconds > worst)
                worst = t.idle_seconds;
        }
        if (conn_stats().oldest_running_s >= 60.0)
            bad_oldest++;
        killed += (long)rm_sqlite__kill_queries(60 * 1000000000ull);
        killed += (long)rm_sqlite__kill_orphans(NULL);
        reads++;
        clock_gettime(CLOCK_MONOTONIC, &t1);
    } while ((t1.tv_sec - t0.tv_sec) * 1000000000L + (t1.tv_nsec - t0.tv_nsec) < 1500000000L);
    atomic_store(&c.stop, true);
    pthread_join(th, NULL);
    print_message("%ld reads against %ld statements; idle >= 60 s seen %ld times (worst %.3g s), "
                  "oldest >= 60 s %ld, killed %ld\n",
                  reads, atomic_load(&c.statements), bad_idle, worst, bad_oldest, killed);
    assert_int_equal(atomic_load(&c.rc), 0);
    assert_true(atomic_load(&c.statements) > 1000);
    assert_int_equal(bad_idle, 0);
    assert_int_equal(bad_oldest, 0);
    assert_int_equal(killed, 0);
    assert_int_equal(sqlite3_get_autocommit(c.db), 0);   /* not rolled back as an orphan */
    assert_int_equal(sqlite3_exec(c.db, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(c.db);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_setup_registers_the_hook),
        cmocka_unit_test(test_idle_counts_from_the_statement_end),
        cmocka_unit_test(test_a_statement_under_a_running_one_keeps_the_first_start),
        cmocka_unit_test(test_kill_longest_interrupts_the_oldest_first),
        cmocka_unit_test(test_kill_older_than_spares_younger_statements),
        cmocka_unit_test(test_readers_racing_statements_see_no_future_stamp),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
