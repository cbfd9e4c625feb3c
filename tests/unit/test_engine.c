/*
 * test_engine.c — the engine (engine/include/engine.h): transactions, snapshot
 * reads, savepoint rollback, ordered scans, scan cancellation, plan-cache
 * hits, orphan detection and kill, admission control, conflicts, pool sizing,
 * session ownership (a foreign session is a missing one), the per-principal
 * quota and idle-session close.
 * A fake clock drives idle tracking; no housekeeping thread runs.
 */
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "pool_fixture.h"

#include "engine.h"

static uint64_t fake_now = 1000000000ull;

static uint64_t
clock_fn(void *ctx)
{
    (void)ctx;
    return fake_now;
}

typedef struct fx {
    rm_arena_mgr_t *arenas;
    rm_slab_t *slab;
    rm_engine_t *e;
} fx_t;

static int
setup_cfg(void **state, uint32_t pool_min, uint32_t pool_max)
{
    fx_t *f = calloc(1, sizeof *f);
    assert_non_null(f);
    assert_int_equal(rm_arena_mgr_create(NULL, NULL, &f->arenas), RM_OK);
    assert_int_equal(rm_slab_create(NULL, &f->slab), RM_OK);
    rm_engine_config_t cfg = {
        .arenas = f->arenas,
        .slab = f->slab,
        .max_connections = 16,
        .max_sessions = 100,
        .pool_min_size = pool_min,
        .pool_max_size = pool_max,
        .no_thread = true,
        .orphan_idle_ns = 5000000000ull,
        .now_ns = clock_fn,
    };
    char err[RM_ENGINE_ERR_MAX] = "";
    assert_int_equal(rm_engine_create(&cfg, &f->e, err), RM_OK);
    *state = f;
    return 0;
}

static int
setup(void **state)
{
    return setup_cfg(state, 4, 16);
}

static int
teardown(void **state)
{
    fx_t *f = *state;
    rm_engine_destroy(f->e);
    rm_slab_destroy(f->slab);
    rm_arena_mgr_destroy(f->arenas);
    free(f);
    return 0;
}

static void *
heap_alloc(void *ctx, size_t n)
{
    (void)ctx;
    return malloc(n);
}

/* Read key in the session's open transaction: returns the value (malloc'd) or NULL. */
static char *
get_str(rm_engine_t *e, rm_session_id_t s, const char *table, const char *key)
{
    bool found = false;
    void *v = NULL;
    size_t n = 0;
    assert_int_equal(rm_engine_get(e, s, table, key, strlen(key), heap_alloc, NULL, &found, &v, &n, NULL), RM_OK);
    if (!found)
        return NULL;
    char *out = realloc(v, n + 1);
    out[n] = '\0';
    return out;
}

static void
put_str(rm_engine_t *e, rm_session_id_t s, const char *table, const char *key, const char *val)
{
    char err[RM_ENGINE_ERR_MAX] = "";
    assert_int_equal(rm_engine_put(e, s, table, key, strlen(key), val, strlen(val), err), RM_OK);
}

static rm_session_id_t
open_begin(rm_engine_t *e)
{
    rm_session_id_t s;
    assert_int_equal(rm_engine_open_session(e, NULL, &s, NULL), RM_OK);
    assert_int_equal(rm_engine_begin(e, s, 0, NULL, NULL), RM_OK);
    return s;
}

static void
test_engine_commit_makes_writes_visible_to_later_snapshots(void **state)
{
    rm_engine_t *e = ((fx_t *)*state)->e;
    rm_session_id_t a = open_begin(e);
    put_str(e, a, "t", "k", "v1");
    char *v = get_str(e, a, "t", "k");   /* own write */
    assert_string_equal(v, "v1");
    free(v);
    rm_session_id_t b = open_begin(e);
    assert_null(get_str(e, b, "t", "k"));   /* not committed */
    assert_int_equal(rm_engine_commit(e, a, NULL, NULL), RM_OK);
    assert_null(get_str(e, b, "t", "k"));   /* b's snapshot predates the commit */
    assert_int_equal(rm_engine_rollback(e, b, NULL), RM_OK);
    assert_int_equal(rm_engine_begin(e, b, 0, NULL, NULL), RM_OK);
    v = get_str(e, b, "t", "k");
    assert_string_equal(v, "v1");
    free(v);
    assert_int_equal(rm_engine_commit(e, b, NULL, NULL), RM_OK);
}

static int
count_rows(void *ctx, const void *key, size_t klen, const void *val, size_t vlen)
{
    (void)key;
    (void)klen;
    size_t *acc = ctx;
    acc[0]++;
    acc[1] += vlen;
    acc[2] += vlen && ((const unsigned char *)val)[vlen - 1] == 0x5a;
    return 0;
}

/* A value larger than a plain transaction's arena (512 KiB), written by a
 * transaction with a size hint, is readable by one without: reading must not
 * depend on the reader's hint (Get said "configured limit reached") */
static void
test_engine_big_value_is_readable_without_a_size_hint(void **state)
{
    rm_engine_t *e = ((fx_t *)*state)->e;
    size_t big = 3u << 20;
    unsigned char *val = malloc(big);
    assert_non_null(val);
    memset(val, 0x5a, big);
    rm_session_id_t w;
    char err[RM_ENGINE_ERR_MAX] = "";
    assert_int_equal(rm_engine_open_session(e, NULL, &w, NULL), RM_OK);
    assert_int_equal(rm_engine_begin(e, w, 8u << 20, NULL, err), RM_OK);
    assert_int_equal(rm_engine_put(e, w, "t", "big", 3, val, big, err), RM_OK);
    put_str(e, w, "t", "small", "v");
    assert_int_equal(rm_engine_commit(e, w, NULL, err), RM_OK);

    rm_session_id_t r = open_begin(e);   /* no hint */
    bool found = false;
    void *v = NULL;
    size_t n = 0;
    for (int round = 0; round < 2; round++) {   /* the second read reuses the buffer */
        assert_int_equal(rm_engine_get(e, r, "t", "big", 3, heap_alloc, NULL, &found, &v, &n, err), RM_OK);
        assert_true(found);
        assert_int_equal(n, big);
        assert_memory_equal(v, val, big);
        free(v);
    }
    size_t acc[3] = {0, 0, 0};
    bool trunc = true;
    assert_int_equal(rm_engine_scan(e, r, "t", NULL, 0, NULL, 0, 0, RM_ENGINE_PRIO_NORMAL, count_rows, acc, &trunc,
                                    err),
                     RM_OK);
    assert_int_equal(acc[0], 2);
    assert_int_equal(acc[1], big + 1);
    assert_int_equal(acc[2], 1);
    assert_int_equal(rm_engine_commit(e, r, NULL, err), RM_OK);
    free(val);
}

/* The seed's bulk-load rule: a size hint above arena.disable_above_bytes
 * bypasses arenas. The transaction must then hold more than an arena would
 * (it kept the 512 KiB root arena and failed "arena is full: pass
 * size_hint_bytes" — which it had), with savepoints still working. */
static void
test_engine_hint_above_disable_threshold_bypasses_arenas(void **state)
{
    fx_t *f = *state;
    rm_engine_t *e = f->e;
    assert_int_equal(rm_arena_mgr_set_disable_above_bytes(f->arenas, 1u << 20), RM_OK);
    size_t big = 700u << 10;   /* each above the root arena's 512 KiB */
    unsigned char *val = malloc(big);
    assert_non_null(val);
    rm_session_id_t w;
    char err[RM_ENGINE_ERR_MAX] = "";
    assert_int_equal(rm_engine_open_session(e, NULL, &w, NULL), RM_OK);
    assert_int_equal(rm_engine_begin(e, w, 2u << 20, NULL, err), RM_OK);
    char key[8];
    for (int i = 0; i < 4; i++) {
        memset(val, 'a' + i, big);
        snprintf(key, sizeof key, "k%d", i);
        assert_int_equal(rm_engine_put(e, w, "t", key, 2, val, big, err), RM_OK);
    }
    assert_int_equal(rm_engine_savepoint(e, w, "sp", err), RM_OK);
    memset(val, 'z', big);
    assert_int_equal(rm_engine_put(e, w, "t", "k4", 2, val, big, err), RM_OK);
    assert_int_equal(rm_engine_put(e, w, "t", "k0", 2, val, big, err), RM_OK);
    assert_int_equal(rm_engine_rollback_to(e, w, "sp", err), RM_OK);   /* frees the two */
    assert_int_equal(rm_engine_commit(e, w, NULL, err), RM_OK);

    rm_session_id_t r = open_begin(e);
    bool found = false;
    void *v = NULL;
    size_t n = 0;
    assert_int_equal(rm_engine_get(e, r, "t", "k0", 2, heap_alloc, NULL, &found, &v, &n, err), RM_OK);
    assert_true(found);
    assert_int_equal(n, big);
    assert_int_equal(((unsigned char *)v)[0], 'a');   /* not the rolled-back 'z' */
    free(v);
    assert_int_equal(rm_engine_get(e, r, "t", "k4", 2, heap_alloc, NULL, &found, &v, &n, err), RM_OK);
    assert_false(found);
    assert_int_equal(rm_engine_commit(e, r, NULL, err), RM_OK);
    rm_arena_mgr_stats_t as;
    rm_arena_mgr_stats(f->arenas, &as);
    assert_true(as.bypasses >= 1);
    rm_engine_stats_t st;
    rm_engine_stats(e, &st);
    assert_int_equal(st.journal_bytes, 0);   /* every entry went back */
    free(val);
}

static void
test_engine_rollback_to_savepoint_undoes_later_writes_only(void **state)
{
    rm_engine_t *e = ((fx_t *)*state)->e;
    rm_session_id_t s = open_begin(e);
    put_str(e, s, "t", "a", "1");
    assert_int_equal(rm_engine_savepoint(e, s, "sp1", NULL), RM_OK);
    put_str(e, s, "t", "b", "2");
    put_str(e, s, "t", "a", "changed");
    assert_int_equal(rm_engine_savepoint(e, s, "sp2", NULL), RM_OK);
    put_str(e, s, "t", "c", "3");
    assert_int_equal(rm_engine_rollback_to(e, s, "sp1", NULL), RM_OK);
    char *v = get_str(e, s, "t", "a");
    assert_string_equal(v, "1");
    free(v);
    assert_null(get_str(e, s, "t", "b"));
    assert_null(get_str(e, s, "t", "c"));
    /* sp2 was after sp1: gone; sp1 stays and can be used again */
    char err[RM_ENGINE_ERR_MAX] = "";
    assert_int_equal(rm_engine_rollback_to(e, s, "sp2", err), RM_ENOENT);
    assert_non_null(strstr(err, "sp2"));
    put_str(e, s, "t", "d", "4");
    assert_int_equal(rm_engine_rollback_to(e, s, "sp1", NULL), RM_OK);
    assert_null(get_str(e, s, "t", "d"));
    assert_int_equal(rm_engine_commit(e, s, NULL, NULL), RM_OK);
    rm_session_id_t r = open_begin(e);
    v = get_str(e, r, "t", "a");
    assert_string_equal(v, "1");
    free(v);
    assert_null(get_str(e, r, "t", "b"));
    rm_engine_stats_t st;
    rm_engine_stats(e, &st);
    assert_int_equal(st.rollbacks_to_savepoint, 2);
}

typedef struct collect {
    char keys[64][16];
    int n;
    rm_engine_t *e;
    int cancel_at;
} collect_t;

static int
collect_row(void *ctx, const void *key, size_t klen, const void *val, size_t vlen)
{
    collect_t *c = ctx;
    if (c->n < 64) {
        memcpy(c->keys[c->n], key, klen < 15 ? klen : 15);
        c->keys[c->n][klen < 15 ? klen : 15] = '\0';
    }
    c->n++;
    if (c->cancel_at && c->n == c->cancel_at)
        assert_int_equal(rm_engine_kill_queries(c->e, 0), 1);   /* the running scan */
    return 0;
}

static void
test_engine_scan_returns_rows_in_key_order_within_range(void **state)
{
    rm_engine_t *e = ((fx_t *)*state)->e;
    rm_session_id_t s = open_begin(e);
    const char *keys[] = {"m", "c", "x", "a", "q", "b", "z", "k"};
    for (int i = 0; i < 8; i++)
        put_str(e, s, "t", keys[i], "v");
    assert_int_equal(rm_engine_commit(e, s, NULL, NULL), RM_OK);
    assert_int_equal(rm_engine_begin(e, s, 0, NULL, NULL), RM_OK);
    bool found;
    assert_int_equal(rm_engine_delete(e, s, "t", "k", 1, &found, NULL), RM_OK);
    assert_true(found);
    put_str(e, s, "t", "d", "own");   /* own uncommitted write shows up */
    collect_t c = {.n = 0};
    bool trunc = true;
    assert_int_equal(rm_engine_scan(e, s, "t", "b", 1, "x", 1, 0, RM_ENGINE_PRIO_NORMAL, collect_row, &c, &trunc,
                                    NULL),
                     RM_OK);
    assert_false(trunc);
    assert_int_equal(c.n, 5);
    const char *want[] = {"b", "c", "d", "m", "q"};
    for (int i = 0; i < 5; i++)
        assert_string_equal(c.keys[i], want[i]);
    collect_t all = {.n = 0};
    assert_int_equal(rm_engine_scan(e, s, "t", NULL, 0, NULL, 0, 3, RM_ENGINE_PRIO_NORMAL, collect_row, &all,
                                    &trunc, NULL),
                     RM_OK);
    assert_true(trunc);
    assert_int_equal(all.n, 3);
    assert_string_equal(all.keys[0], "a");
    assert_string_equal(all.keys[2], "c");
}

static void
test_engine_scan_is_cancelled_cooperatively_and_txn_stays_open(void **state)
{
    rm_engine_t *e = ((fx_t *)*state)->e;
    rm_session_id_t s = open_begin(e);
    char key[16];
    for (int i = 0; i < 300; i++) {
        snprintf(key, sizeof key, "k%04d", i);
        put_str(e, s, "big", key, "value");
    }
    assert_int_equal(rm_engine_commit(e, s, NULL, NULL), RM_OK);
    assert_int_equal(rm_engine_begin(e, s, 0, NULL, NULL), RM_OK);
    collect_t c = {.n = 0, .e = e, .cancel_at = 10};
    char err[RM_ENGINE_ERR_MAX] = "";
    assert_int_equal(rm_engine_scan(e, s, "big", NULL, 0, NULL, 0, 0, RM_ENGINE_PRIO_LOW, collect_row, &c, NULL, err),
                     RM_ECANCELED);
    assert_int_equal(c.n, 10);
    assert_non_null(strstr(err, "cancelled"));
    rm_engine_stats_t st;
    rm_engine_stats(e, &st);
    assert_int_equal(st.queries_cancelled, 1);
    assert_int_equal(st.queries_running, 0);
    assert_int_equal(rm_engine_commit(e, s, NULL, NULL), RM_OK);   /* still open */
}

static void
test_engine_plan_cache_hits_on_repeated_statement(void **state)
{
    rm_engine_t *e = ((fx_t *)*state)->e;
    rm_session_id_t s = open_begin(e);
    put_str(e, s, "t", "a", "1");
    free(get_str(e, s, "t", "a"));
    free(get_str(e, s, "t", "b"));
    free(get_str(e, s, "t", "c"));
    rm_engine_stats_t st;
    rm_engine_stats(e, &st);
    assert_int_equal(st.plans.plans, 2);        /* put and get shapes */
    assert_int_equal(st.plans.misses, 2);
    assert_int_equal(st.plans.hits, 2);
    uint64_t freed = 0, plans = 0;
    assert_int_equal(rm_engine_trim_plans(e, 1.0, &freed, &plans), RM_OK);
    assert_int_equal(plans, 2);
    assert_true(freed > 0);
    assert_int_equal(rm_engine_trim_plans(e, 0.0, NULL, NULL), RM_EINVAL);
    assert_int_equal(rm_engine_commit(e, s, NULL, NULL), RM_OK);
}

static void
test_engine_orphan_idle_txn_is_listed_and_killed(void **state)
{
    rm_engine_t *e = ((fx_t *)*state)->e;
    rm_session_id_t idle = open_begin(e);
    put_str(e, idle, "t", "x", "1");
    rm_session_id_t busy = open_begin(e);
    rm_engine_txn_info_t info[4];
    size_t n = 0;
    rm_engine_list_txns(e, true, info, 4, &n);
    assert_int_equal(n, 0);
    fake_now += 6000000000ull;   /* both idle 6 s > 5 s */
    free(get_str(e, busy, "t", "x"));   /* busy is active again */
    rm_engine_list_txns(e, true, info, 4, &n);
    assert_int_equal(n, 1);
    assert_int_equal(info[0].session_id, idle);
    assert_string_equal(info[0].orphan_reason, "idle past timeout");
    uint64_t killed = 0;
    rm_engine_kill_orphans(e, &killed);
    assert_int_equal(killed, 1);
    char err[RM_ENGINE_ERR_MAX] = "";
    assert_int_equal(rm_engine_put(e, idle, "t", "y", 1, "2", 1, err), RM_ESTATE);
    assert_non_null(strstr(err, "no open transaction"));
    rm_engine_list_txns(e, false, info, 4, &n);
    assert_int_equal(n, 1);   /* only busy's */
    rm_engine_stats_t st;
    rm_engine_stats(e, &st);
    assert_int_equal(st.session.connections_busy, 1);   /* the orphan's connection was released */
    assert_int_equal(rm_engine_commit(e, busy, NULL, NULL), RM_OK);
}

static void
test_engine_admission_closed_rejects_new_sessions_only(void **state)
{
    rm_engine_t *e = ((fx_t *)*state)->e;
    rm_session_id_t s;
    assert_int_equal(rm_engine_open_session(e, NULL, &s, NULL), RM_OK);
    rm_engine_set_admission(e, false);
    rm_session_id_t t;
    char err[RM_ENGINE_ERR_MAX] = "";
    assert_int_equal(rm_engine_open_session(e, NULL, &t, err), RM_EREJECTED);
    assert_non_null(strstr(err, "admission closed"));
    assert_int_equal(rm_engine_begin(e, s, 0, NULL, NULL), RM_OK);   /* existing keeps working */
    put_str(e, s, "t", "k", "v");
    assert_int_equal(rm_engine_commit(e, s, NULL, NULL), RM_OK);
    rm_engine_set_admission(e, true);
    assert_int_equal(rm_engine_open_session(e, NULL, &t, NULL), RM_OK);
}

static void
test_engine_concurrent_writers_conflict_at_commit(void **state)
{
    rm_engine_t *e = ((fx_t *)*state)->e;
    rm_session_id_t a = open_begin(e), b = open_begin(e);
    put_str(e, a, "t", "k", "a");
    put_str(e, b, "t", "k", "b");
    assert_int_equal(rm_engine_commit(e, a, NULL, NULL), RM_OK);
    char err[RM_ENGINE_ERR_MAX] = "";
    assert_int_equal(rm_engine_commit(e, b, NULL, err), RM_ECONFLICT);
    assert_non_null(strstr(err, "conflict"));
    assert_int_equal(rm_engine_commit(e, b, NULL, NULL), RM_ESTATE);   /* ended */
    assert_int_equal(rm_engine_begin(e, b, 0, NULL, NULL), RM_OK);
    char *v = get_str(e, b, "t", "k");
    assert_string_equal(v, "a");
    free(v);
}

static void
test_engine_misuse_gives_distinct_errors(void **state)
{
    rm_engine_t *e = ((fx_t *)*state)->e;
    char err[RM_ENGINE_ERR_MAX] = "";
    assert_int_equal(rm_engine_begin(e, 12345, 0, NULL, err), RM_ENOENT);
    rm_session_id_t s;
    assert_int_equal(rm_engine_open_session(e, NULL, &s, NULL), RM_OK);
    assert_int_equal(rm_engine_put(e, s, "t", "k", 1, "v", 1, err), RM_ESTATE);
    assert_int_equal(rm_engine_commit(e, s, NULL, err), RM_ESTATE);
    assert_int_equal(rm_engine_begin(e, s, 0, NULL, NULL), RM_OK);
    assert_int_equal(rm_engine_begin(e, s, 0, NULL, err), RM_ESTATE);
    assert_int_equal(rm_engine_put(e, s, "", "k", 1, "v", 1, err), RM_EINVAL);
    assert_non_null(strstr(err, "table"));
    assert_int_equal(rm_engine_put(e, s, "t", "", 0, "v", 1, err), RM_EINVAL);
    assert_non_null(strstr(err, "key"));
    assert_int_equal(rm_engine_savepoint(e, s, "", err), RM_EINVAL);
    assert_non_null(strstr(err, "name"));
    assert_int_equal(rm_engine_scan(e, s, "t", "z", 1, "a", 1, 0, RM_ENGINE_PRIO_NORMAL, collect_row, NULL, NULL, err),
                     RM_EINVAL);
    assert_non_null(strstr(err, "end_key"));
    bool rb = false;
    assert_int_equal(rm_engine_close_session(e, s, &rb, NULL), RM_OK);
    assert_true(rb);
    assert_int_equal(rm_engine_close_session(e, s, &rb, err), RM_ENOENT);
}

static void
test_engine_foreign_session_is_not_found_like_a_missing_one(void **state)
{
    rm_engine_t *e = ((fx_t *)*state)->e;
    rm_session_id_t s, gone;
    assert_int_equal(rm_engine_open_session(e, "token:app1", &s, NULL), RM_OK);
    assert_int_equal(rm_engine_open_session(e, "token:app1", &gone, NULL), RM_OK);
    assert_int_equal(rm_engine_close_session(e, gone, NULL, NULL), RM_OK);
    char err[RM_ENGINE_ERR_MAX] = "", want[RM_ENGINE_ERR_MAX];
    assert_int_equal(rm_engine_session_owned(e, s, "token:app1", err), RM_OK);
    const char *others[] = {"token:app2", "token:app", "token:app1 ", "cert:app1", "", NULL};
    for (size_t i = 0; i < sizeof others / sizeof others[0]; i++) {
        err[0] = '\0';
        assert_int_equal(rm_engine_session_owned(e, s, others[i], err), RM_ENOENT);
        snprintf(want, sizeof want, "session %llu does not exist (never opened, closed, or closed after idling)",
                 (unsigned long long)s);
        assert_string_equal(err, want);
    }
    /* the same words as a session that is really gone, from every entry point */
    snprintf(want, sizeof want, "session %llu does not exist (never opened, closed, or closed after idling)",
             (unsigned long long)gone);
    assert_int_equal(rm_engine_session_owned(e, gone, "token:app1", err), RM_ENOENT);
    assert_string_equal(err, want);
    assert_int_equal(rm_engine_begin(e, gone, 0, NULL, err), RM_ENOENT);
    assert_string_equal(err, want);
    assert_int_equal(rm_engine_commit(e, gone, NULL, err), RM_ENOENT);
    assert_string_equal(err, want);
    assert_int_equal(rm_engine_close_session(e, gone, NULL, err), RM_ENOENT);
    assert_string_equal(err, want);
    /* the owner is unaffected */
    assert_int_equal(rm_engine_begin(e, s, 0, NULL, NULL), RM_OK);
    put_str(e, s, "t", "k", "v");
    assert_int_equal(rm_engine_commit(e, s, NULL, NULL), RM_OK);
    /* in-process callers (NULL) are the principal "" */
    rm_session_id_t l;
    assert_int_equal(rm_engine_open_session(e, NULL, &l, NULL), RM_OK);
    assert_int_equal(rm_engine_session_owned(e, l, "", NULL), RM_OK);
    assert_int_equal(rm_engine_session_owned(e, l, "token:app1", NULL), RM_ENOENT);
}

static void
test_engine_quota_per_principal_refuses_and_recovers(void **state)
{
    rm_engine_t *e = ((fx_t *)*state)->e;
    rm_engine_stats_t st;
    assert_int_equal(rm_engine_set_max_sessions_per_principal(e, 2), RM_OK);
    rm_session_id_t a[4], b;
    char err[RM_ENGINE_ERR_MAX] = "";
    assert_int_equal(rm_engine_open_session(e, "token:app1", &a[0], NULL), RM_OK);
    assert_int_equal(rm_engine_open_session(e, "token:app1", &a[1], NULL), RM_OK);
    a[2] = 77;
    assert_int_equal(rm_engine_open_session(e, "token:app1", &a[2], err), RM_ELIMIT);
    assert_int_equal(a[2], 77);
    assert_non_null(strstr(err, "session.max_sessions_per_principal is 2"));
    assert_non_null(strstr(err, "token:app1 holds 2 sessions"));
    /* another principal is not held back */
    assert_int_equal(rm_engine_open_session(e, "token:app2", &b, NULL), RM_OK);
    rm_engine_stats(e, &st);
    assert_int_equal(st.session.sessions, 3);
    assert_int_equal(st.principals, 2);
    assert_int_equal(st.sessions_quota_refused, 1);
    assert_int_equal(st.max_sessions_per_principal, 2);
    /* closing one gives the count back */
    assert_int_equal(rm_engine_close_session(e, a[0], NULL, NULL), RM_OK);
    assert_int_equal(rm_engine_open_session(e, "token:app1", &a[0], NULL), RM_OK);
    /* live: 0 = no quota; lowering closes nothing, only refuses opens */
    assert_int_equal(rm_engine_set_max_sessions_per_principal(e, 0), RM_OK);
    assert_int_equal(rm_engine_open_session(e, "token:app1", &a[2], NULL), RM_OK);
    assert_int_equal(rm_engine_set_max_sessions_per_principal(e, 1), RM_OK);
    assert_int_equal(rm_engine_open_session(e, "token:app1", &a[3], err), RM_ELIMIT);
    assert_non_null(strstr(err, "token:app1 holds 3 sessions"));
    assert_int_equal(rm_engine_begin(e, a[2], 0, NULL, NULL), RM_OK);
    assert_int_equal(rm_engine_rollback(e, a[2], NULL), RM_OK);
    /* an entry goes with its principal's last session */
    assert_int_equal(rm_engine_close_session(e, b, NULL, NULL), RM_OK);
    rm_engine_stats(e, &st);
    assert_int_equal(st.principals, 1);
    char big[RM_ENGINE_PRINCIPAL_MAX + 2];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    assert_int_equal(rm_engine_open_session(e, big, &b, err), RM_EINVAL);
    assert_non_null(strstr(err, "principal"));
    rm_engine_stats(e, &st);
    assert_int_equal(st.session.sessions, 3);
    assert_int_equal(st.principals, 1);
}

static void
test_engine_idle_sessions_close_and_roll_back_their_transaction(void **state)
{
    rm_engine_t *e = ((fx_t *)*state)->e;
    rm_engine_stats_t st0, st;
    rm_engine_stats(e, &st0);
    rm_session_id_t idle, intxn, keep;
    assert_int_equal(rm_engine_open_session(e, "token:app1", &idle, NULL), RM_OK);
    assert_int_equal(rm_engine_open_session(e, "token:app1", &intxn, NULL), RM_OK);
    assert_int_equal(rm_engine_open_session(e, "token:app2", &keep, NULL), RM_OK);
    assert_int_equal(rm_engine_begin(e, intxn, 0, NULL, NULL), RM_OK);
    put_str(e, intxn, "t", "lost", "v");
    /* off by default in this fixture: nothing closes however long they idle */
    fake_now += 3600ull * 1000000000ull;
    rm_engine_tick(e);
    rm_engine_stats(e, &st);
    assert_int_equal(st.session.sessions, 3);
    /* live: 10 s */
    assert_int_equal(rm_engine_set_session_idle_timeout(e, 10ull * 1000000000ull), RM_OK);
    rm_engine_tick(e);   /* all three idle for an hour */
    rm_engine_stats(e, &st);
    assert_int_equal(st.session.sessions, 0);
    assert_int_equal(st.sessions_idle_closed - st0.sessions_idle_closed, 3);
    assert_int_equal(st.sessions_idle_rolled_back - st0.sessions_idle_rolled_back, 1);
    assert_int_equal(st.txns_rolled_back - st0.txns_rolled_back, 1);
    assert_int_equal(st.principals, 0);
    assert_int_equal(st.session.connections_busy, 0);
    char err[RM_ENGINE_ERR_MAX] = "";
    assert_int_equal(rm_engine_put(e, intxn, "t", "k", 1, "v", 1, err), RM_ENOENT);
    assert_non_null(strstr(err, "closed after idling"));
    /* a session used within the timeout stays; the idle one goes */
    assert_int_equal(rm_engine_open_session(e, "token:app1", &idle, NULL), RM_OK);
    assert_int_equal(rm_engine_open_session(e, "token:app2", &keep, NULL), RM_OK);
    fake_now += 6ull * 1000000000ull;
    assert_int_equal(rm_engine_begin(e, keep, 0, NULL, NULL), RM_OK);
    assert_null(get_str(e, keep, "t", "lost"));   /* rolled back, never committed */
    assert_int_equal(rm_engine_rollback(e, keep, NULL), RM_OK);
    fake_now += 6ull * 1000000000ull;   /* idle 12 s, keep 6 s */
    rm_engine_tick(e);
    assert_int_equal(rm_engine_session_owned(e, idle, "token:app1", NULL), RM_ENOENT);
    assert_int_equal(rm_engine_session_owned(e, keep, "token:app2", NULL), RM_OK);
    /* 0 = never again */
    assert_int_equal(rm_engine_set_session_idle_timeout(e, 0), RM_OK);
    fake_now += 3600ull * 1000000000ull;
    rm_engine_tick(e);
    assert_int_equal(rm_engine_session_owned(e, keep, "token:app2", NULL), RM_OK);
    rm_engine_stats(e, &st);
    assert_int_equal(st.session_idle_close_ns, 0);
    assert_int_equal(st.sessions_idle_closed - st0.sessions_idle_closed, 4);
}

static void
test_engine_close_mid_transaction_rolls_back(void **state)
{
    rm_engine_t *e = ((fx_t *)*state)->e;
    rm_session_id_t s = open_begin(e);
    put_str(e, s, "t", "gone", "v");
    bool rb = false;
    assert_int_equal(rm_engine_close_session(e, s, &rb, NULL), RM_OK);
    assert_true(rb);
    rm_session_id_t r = open_begin(e);
    assert_null(get_str(e, r, "t", "gone"));
    rm_engine_stats_t st;
    rm_engine_stats(e, &st);
    assert_int_equal(st.session.connections_busy, 1);
    assert_int_equal(st.mvcc.txns_active, 1);
}

static int
setup_small_pool(void **state)
{
    return setup_cfg(state, 2, 8);
}

static void
test_engine_pool_grows_when_busy_and_shrinks_when_idle(void **state)
{
    rm_engine_t *e = ((fx_t *)*state)->e;
    rm_session_id_t s[3];
    for (int i = 0; i < 3; i++)
        assert_int_equal(rm_engine_open_session(e, NULL, &s[i], NULL), RM_OK);
    assert_int_equal(rm_engine_begin(e, s[0], 0, NULL, NULL), RM_OK);
    assert_int_equal(rm_engine_begin(e, s[1], 0, NULL, NULL), RM_OK);
    char err[RM_ENGINE_ERR_MAX] = "";
    assert_int_equal(rm_engine_begin(e, s[2], 0, NULL, err), RM_EBUSY);
    assert_non_null(strstr(err, "busy"));
    for (int i = 0; i < 4; i++) {   /* utilisation 1.0 for longer than the 1 s up-window */
        rm_engine_tick(e);
        fake_now += 600000000ull;
    }
    rm_engine_stats_t st;
    rm_engine_stats(e, &st);
    assert_true(st.session.pool_size > 2);
    assert_int_equal(rm_engine_begin(e, s[2], 0, NULL, NULL), RM_OK);
    for (int i = 0; i < 3; i++)
        assert_int_equal(rm_engine_commit(e, s[i], NULL, NULL), RM_OK);
    rm_engine_stats(e, &st);
    uint64_t open_before = st.session.connections_open;
    assert_true(open_before >= 3);
    for (int i = 0; i < 140; i++) {   /* idle for longer than the 60 s down-window */
        rm_engine_tick(e);
        fake_now += 1000000000ull;
    }
    rm_engine_stats(e, &st);
    assert_int_equal(st.session.pool_size, 2);           /* back to pool.min_size */
    assert_true(st.session.connections_open <= 2);       /* idle slots closed, memory released */
    assert_true(st.pool.scale_downs >= 1);
}

/* ---- reference-model property test ------------------------------------------ */

#define PM_SESS 4
#define PM_KEYS 12
#define PM_SP 4

typedef struct pm_txn {
    int open;
    int snap[PM_KEYS];            /* committed values at begin (-1 = absent) */
    uint64_t snap_seq;
    int w[PM_KEYS];               /* own writes: -2 none, -1 delete, else value */
    int sp_w[PM_SP][PM_KEYS];     /* own writes at each savepoint */
    int n_sp;
} pm_txn_t;

static int pm_committed[PM_KEYS];
static uint64_t pm_commit_seq[PM_KEYS], pm_seq;

static uint64_t
pm_rand(uint64_t *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    return *x;
}

static int
pm_visible(const pm_txn_t *t, int k)
{
    return t->w[k] != -2 ? t->w[k] : t->snap[k];
}

static void
pm_check_read(rm_engine_t *e, rm_session_id_t s, const pm_txn_t *t, int k)
{
    char key[16];
    snprintf(key, sizeof key, "k%02d", k);
    char *v = get_str(e, s, "pm", key);
    int want = pm_visible(t, k);
    if (want < 0) {
        assert_null(v);
    } else {
        assert_non_null(v);
        assert_int_equal(atoi(v), want);
    }
    free(v);
}

static void
test_engine_property_reads_match_model_with_savepoints_and_compaction(void **state)
{
    rm_engine_t *e = ((fx_t *)*state)->e;
    assert_int_equal(rm_engine_set_max_versions_per_key(e, 2), RM_OK);
    rm_session_id_t sid[PM_SESS];
    pm_txn_t t[PM_SESS];
    memset(t, 0, sizeof t);
    for (int k = 0; k < PM_KEYS; k++)
        pm_committed[k] = -1, pm_commit_seq[k] = 0;
    pm_seq = 0;
    for (int i = 0; i < PM_SESS; i++)
        assert_int_equal(rm_engine_open_session(e, NULL, &sid[i], NULL), RM_OK);
    uint64_t x = 0x2545F4914F6CDD1Dull;
    long reads = 0, conflicts = 0, rollbacks_to = 0;
    for (int step = 0; step < 6000; step++) {
        int i = (int)(pm_rand(&x) % PM_SESS), k = (int)(pm_rand(&x) % PM_KEYS);
        pm_txn_t *m = &t[i];
        int op = (int)(pm_rand(&x) % 100);
        if (!m->open) {
            assert_int_equal(rm_engine_begin(e, sid[i], 0, NULL, NULL), RM_OK);
            m->open = 1;
            m->n_sp = 0;
            m->snap_seq = pm_seq;
            for (int j = 0; j < PM_KEYS; j++)
                m->snap[j] = pm_committed[j], m->w[j] = -2;
            continue;
        }
        char key[16], val[16], name[16];
        snprintf(key, sizeof key, "k%02d", k);
        if (op < 35) {
            pm_check_read(e, sid[i], m, k);
            reads++;
        } else if (op < 60) {
            int v = (int)(pm_rand(&x) % 100000);
            snprintf(val, sizeof val, "%d", v);
            put_str(e, sid[i], "pm", key, val);
            m->w[k] = v;
        } else if (op < 68) {
            bool found = false;
            assert_int_equal(rm_engine_delete(e, sid[i], "pm", key, strlen(key), &found, NULL), RM_OK);
            assert_int_equal(found, pm_visible(m, k) >= 0);
            if (found)
                m->w[k] = -1;
        } else if (op < 74 && m->n_sp < PM_SP) {
            snprintf(name, sizeof name, "s%d", m->n_sp);
            assert_int_equal(rm_engine_savepoint(e, sid[i], name, NULL), RM_OK);
            memcpy(m->sp_w[m->n_sp++], m->w, sizeof m->w);
        } else if (op < 80 && m->n_sp > 0) {
            int sp = (int)(pm_rand(&x) % (uint64_t)m->n_sp);
            snprintf(name, sizeof name, "s%d", sp);
            assert_int_equal(rm_engine_rollback_to(e, sid[i], name, NULL), RM_OK);
            memcpy(m->w, m->sp_w[sp], sizeof m->w);
            m->n_sp = sp + 1;
            rollbacks_to++;
        } else if (op < 84) {
            (void)rm_engine_compact(e, pm_rand(&x) & 1);
        } else if (op < 96) {
            bool conflict = false;
            for (int j = 0; j < PM_KEYS; j++)
                if (m->w[j] != -2 && pm_commit_seq[j] > m->snap_seq)
                    conflict = true;
            rm_status_t st = rm_engine_commit(e, sid[i], NULL, NULL);
            if (conflict) {
                assert_int_equal(st, RM_ECONFLICT);
                conflicts++;
            } else {
                assert_int_equal(st, RM_OK);
                bool wrote = false;
                for (int j = 0; j < PM_KEYS; j++)
                    if (m->w[j] != -2)
                        wrote = true;
                if (wrote)
                    pm_seq++;
                for (int j = 0; j < PM_KEYS; j++)
                    if (m->w[j] != -2) {
                        pm_committed[j] = m->w[j];
                        pm_commit_seq[j] = pm_seq;
                    }
            }
            m->open = 0;
        } else {
            assert_int_equal(rm_engine_rollback(e, sid[i], NULL), RM_OK);
            m->open = 0;
        }
    }
    /* every open snapshot still reads the model's answer for every key */
    for (int i = 0; i < PM_SESS; i++)
        if (t[i].open)
            for (int k = 0; k < PM_KEYS; k++)
                pm_check_read(e, sid[i], &t[i], k);
    rm_engine_stats_t st;
    rm_engine_stats(e, &st);
    assert_true(st.mvcc.compactions > 0);
    assert_true(reads > 1000 && conflicts > 0 && rollbacks_to > 0);
}

static void
test_engine_chain_grows_only_as_far_as_a_long_snapshot_needs(void **state)
{
    rm_engine_t *e = ((fx_t *)*state)->e;
    assert_int_equal(rm_engine_set_max_versions_per_key(e, 10), RM_OK);
    rm_session_id_t w = open_begin(e);
    put_str(e, w, "hot", "k", "0");
    assert_int_equal(rm_engine_commit(e, w, NULL, NULL), RM_OK);
    rm_session_id_t longrun = open_begin(e);   /* holds the snapshot with "0" */
    free(get_str(e, longrun, "hot", "k"));
    char v[16];
    for (int i = 1; i <= 500; i++) {
        assert_int_equal(rm_engine_begin(e, w, 0, NULL, NULL), RM_OK);
        snprintf(v, sizeof v, "%d", i);
        put_str(e, w, "hot", "k", v);
        assert_int_equal(rm_engine_commit(e, w, NULL, NULL), RM_OK);
    }
    const unsigned char mk[] = {0, 0, 0, 1, 'k'};   /* table "hot" is table 1 */
    size_t len = 0;
    assert_int_equal(rm_mvcc_chain_length(rm_engine_mvcc(e), mk, sizeof mk, &len), RM_OK);
    assert_true(len <= 11);   /* the threshold, plus the version the long snapshot still reads */
    char *old = get_str(e, longrun, "hot", "k");
    assert_string_equal(old, "0");
    free(old);
    assert_int_equal(rm_engine_commit(e, longrun, NULL, NULL), RM_OK);
    (void)rm_engine_compact(e, true);
    assert_int_equal(rm_mvcc_chain_length(rm_engine_mvcc(e), mk, sizeof mk, &len), RM_OK);
    assert_int_equal(len, 1);
}

/* ---- pressure responder -------------------------------------------------------- */

static void
feed(rm_pressure_t *p, uint64_t t_s, uint64_t used)
{
    rm_pressure_sample_t smp = {.t_ns = t_s * 1000000000ull, .used_bytes = used, .budget_bytes = 1000000,
                                .usage_source = "injected"};
    assert_int_equal(rm_pressure_feed(p, &smp), RM_OK);
}

/* Feed low usage (10 %) for long enough that the responder steps down to
 * Monitor: 20 samples 31 s apart, past every level's dwell. */
static void
step_down(rm_pressure_t *p, uint64_t *ts)
{
    for (int i = 0; i < 20; i++) {
        *ts += 31;
        feed(p, *ts, 100000);
    }
}

/* An engine (no thread, test clock) whose reclaimers hang off a pressure monitor
 * that acts on the present usage only; *p receives the monitor, which reads the
 * system under `paths` (NULL: the host's); gate_fresh_read_ns as in the config. */
static rm_engine_t *
pressured_engine_on(fx_t *f, const rm_sysinfo_paths_t *paths, uint64_t gate_fresh_read_ns, rm_pressure_t **p)
{
    rm_pressure_config_t pc;
    rm_pressure_config_default(&pc);
    pc.act_on_forecast = 0;
    assert_int_equal(rm_pressure_create(&pc, paths, p), RM_OK);
    rm_engine_config_t cfg = {.arenas = f->arenas, .slab = f->slab, .pressure = *p, .max_connections = 8,
                              .no_thread = true, .now_ns = clock_fn, .gate_fresh_read_ns = gate_fresh_read_ns};
    rm_engine_t *e;
    char cerr[RM_ENGINE_ERR_MAX] = "";
    if (rm_engine_create(&cfg, &e, cerr) != RM_OK)
        fail_msg("create: %s", cerr);
    return e;
}

static rm_engine_t *
pressured_engine(fx_t *f, rm_pressure_t **p)
{
    return pressured_engine_on(f, NULL, 0, p);
}

static void
test_engine_emergency_closes_admission_and_reopens_when_pressure_drops(void **state)
{
    rm_pressure_t *p;
    rm_engine_t *e = pressured_engine(*state, &p);
    rm_session_id_t s, t;
    assert_int_equal(rm_engine_open_session(e, NULL, &s, NULL), RM_OK);
    assert_int_equal(rm_engine_begin(e, s, 0, NULL, NULL), RM_OK);
    put_str(e, s, "t", "k", "v");
    assert_int_equal(rm_engine_commit(e, s, NULL, NULL), RM_OK);
    uint64_t ts = 100;
    feed(p, ts, 100000);                 /* 10 %: Monitor */
    feed(p, ++ts, 920000);               /* 92 %: Emergency */
    rm_engine_stats_t st;
    rm_engine_stats(e, &st);
    assert_false(st.session.admission_open);
    assert_int_equal(st.plans.plans, 0);   /* cleared by plan_cache_trim at Emergency */
    char err[RM_ENGINE_ERR_MAX] = "";
    assert_int_equal(rm_engine_open_session(e, NULL, &t, err), RM_EREJECTED);
    assert_int_equal(rm_engine_begin(e, s, 0, NULL, NULL), RM_OK);   /* existing sessions keep working */
    assert_int_equal(rm_engine_commit(e, s, NULL, NULL), RM_OK);
    step_down(p, &ts);
    rm_engine_stats(e, &st);
    assert_true(st.session.admission_open);
    assert_int_equal(rm_engine_open_session(e, NULL, &t, NULL), RM_OK);
    rm_engine_destroy(e);   /* removes its reclaimers before the monitor goes */
    rm_pressure_destroy(p);
}

/* The growth gate: between two samples a Put that would take usage past the OOM-prevention
 * threshold (emergency_threshold, 95 %) is refused although the responder is not there yet;
 * the next sample below it opens the gate again (issue 17 item 3). */
static void
test_engine_growth_gate_refuses_puts_past_oom_prevention_between_samples(void **state)
{
    rm_pressure_t *p;
    rm_engine_t *e = pressured_engine(*state, &p);
    rm_session_id_t s;
    assert_int_equal(rm_engine_open_session(e, NULL, &s, NULL), RM_OK);
    assert_int_equal(rm_engine_begin(e, s, 0, NULL, NULL), RM_OK);
    feed(p, 100, 900000);                /* 90 % of 1 000 000 B: Emergency; 50 000 B of room to 95 % */
    fake_now += 10000000ull;             /* the gate looks for a new sample at most every 5 ms */
    static char val[4000];
    memset(val, 'v', sizeof val);
    char err[RM_ENGINE_ERR_MAX] = "";
    int accepted = 0;
    rm_status_t st = RM_OK;
    for (int i = 0; i < 20 && st == RM_OK; i++) {
        char key[16];
        snprintf(key, sizeof key, "k%02d", i);   /* 3 B key: each Put costs 3 + 4000 + 64 = 4067 B */
        st = rm_engine_put(e, s, "t", key, strlen(key), val, sizeof val, err);
        if (st == RM_OK)
            accepted++;
    }
    assert_int_equal(st, RM_EREJECTED);
    assert_int_equal(accepted, 50000 / 4067);   /* 12: the 13th would pass 95 % */
    assert_non_null(strstr(err, "would pass the oom_prevention threshold"));
    rm_engine_stats_t es;
    rm_engine_stats(e, &es);
    assert_false(es.writes_refused);   /* the responder is not at OOM prevention */
    assert_int_equal(es.writes_refused_total, 1);
    char *v = get_str(e, s, "t", "k00");   /* reads go on */
    assert_non_null(v);
    assert_int_equal(strlen(v), sizeof val);
    free(v);
    assert_int_equal(rm_engine_commit(e, s, NULL, NULL), RM_OK);
    feed(p, 101, 500000);                /* a new sample at 50 %: room again */
    fake_now += 10000000ull;
    assert_int_equal(rm_engine_begin(e, s, 0, NULL, NULL), RM_OK);
    assert_int_equal(rm_engine_put(e, s, "t", "k99", 3, val, sizeof val, err), RM_OK);
    assert_int_equal(rm_engine_commit(e, s, NULL, NULL), RM_OK);
    rm_engine_destroy(e);
    rm_pressure_destroy(p);
}

/* Load shedding: while the responder is at Aggressive or above (where its
 * cancel_low_priority_queries reclaimer cancels running low-priority queries)
 * a low-priority scan is refused before it allocates anything; normal-priority
 * scans and point reads go on, and low-priority scans run again once the level
 * steps down. */
static void
test_engine_low_priority_scans_are_refused_at_aggressive_and_above(void **state)
{
    rm_pressure_t *p;
    rm_engine_t *e = pressured_engine(*state, &p);
    rm_session_id_t s = open_begin(e);
    put_str(e, s, "t", "k", "v");
    assert_int_equal(rm_engine_commit(e, s, NULL, NULL), RM_OK);
    uint64_t ts = 100;
    feed(p, ts, 100000);                 /* 10 %: Monitor */
    char err[RM_ENGINE_ERR_MAX] = "";
    collect_t c = {.n = 0, .e = e, .cancel_at = 0};
    assert_int_equal(rm_engine_begin(e, s, 0, NULL, NULL), RM_OK);
    assert_int_equal(rm_engine_scan(e, s, "t", NULL, 0, NULL, 0, 0, RM_ENGINE_PRIO_LOW, collect_row, &c, NULL, err),
                     RM_OK);
    assert_int_equal(c.n, 1);
    feed(p, ++ts, 850000);               /* 85 %: Aggressive */
    c.n = 0;
    assert_int_equal(rm_engine_scan(e, s, "t", NULL, 0, NULL, 0, 0, RM_ENGINE_PRIO_LOW, collect_row, &c, NULL, err),
                     RM_EREJECTED);
    assert_int_equal(c.n, 0);
    assert_non_null(strstr(err, "low-priority scans are refused at level aggressive"));
    assert_int_equal(rm_engine_scan(e, s, "t", NULL, 0, NULL, 0, 0, RM_ENGINE_PRIO_NORMAL, collect_row, &c, NULL,
                                    err),
                     RM_OK);
    assert_int_equal(c.n, 1);
    char *v = get_str(e, s, "t", "k");
    assert_string_equal(v, "v");
    free(v);
    assert_int_equal(rm_engine_commit(e, s, NULL, NULL), RM_OK);   /* the transaction stayed open */
    rm_engine_stats_t st;
    rm_engine_stats(e, &st);
    assert_int_equal(st.low_priority_scans_refused_total, 1);
    step_down(p, &ts);
    assert_int_equal(rm_engine_begin(e, s, 0, NULL, NULL), RM_OK);
    c.n = 0;
    assert_int_equal(rm_engine_scan(e, s, "t", NULL, 0, NULL, 0, 0, RM_ENGINE_PRIO_LOW, collect_row, &c, NULL, err),
                     RM_OK);
    assert_int_equal(c.n, 1);
    assert_int_equal(rm_engine_commit(e, s, NULL, NULL), RM_OK);
    rm_engine_stats(e, &st);
    assert_int_equal(st.low_priority_scans_refused_total, 1);
    rm_engine_destroy(e);
    rm_pressure_destroy(p);
}

/* A cgroup v2 tree under a temporary directory whose memory.current the test
 * rewrites: the pressure monitor's paths point at it (nothing reads the host). */
static void
put_file(const char *dir, const char *rel, const char *text)
{
    char path[600];
    snprintf(path, sizeof path, "%s/%s", dir, rel);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void
fake_cgroup(char *dir, uint64_t current)
{
    char v[64];
    snprintf(v, sizeof v, "%" PRIu64 "\n", current);
    put_file(dir, "cgroup/cg/memory.current", v);
}

/* The growth gate reads the cgroup itself (gate_fresh_read_ns): the sampler's
 * last published sample says 10 % — a late tick on a loaded machine — while
 * the cgroup is at 90 % of its 1 000 000 B limit; Puts are refused once the
 * fresh reading plus what they add would pass 95 %. With fresh reads off the
 * same engine trusts the stale sample and accepts every Put: the case the CI
 * OOM matrix lost once on a contended machine. */
static void
test_engine_growth_gate_reads_the_cgroup_itself_when_the_sampler_is_late(void **state)
{
    fx_t *f = *state;
    char dir[] = "/tmp/rm-test-gate-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char sub[600];
    const char *dirs[] = {"proc", "proc/self", "cgroup", "cgroup/cg"};
    for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++) {
        snprintf(sub, sizeof sub, "%s/%s", dir, dirs[i]);
        assert_int_equal(mkdir(sub, 0755), 0);
    }
    put_file(dir, "proc/self/cgroup", "0::/cg\n");
    put_file(dir, "proc/self/statm", "20000 150 100 10 0 160 0\n");
    put_file(dir, "proc/meminfo", "MemTotal:       24683520 kB\nMemFree:        24460000 kB\n"
                                  "MemAvailable:   24403968 kB\n");
    put_file(dir, "cgroup/cg/cgroup.controllers", "memory\n");
    put_file(dir, "cgroup/cg/memory.max", "1000000\n");
    put_file(dir, "cgroup/cg/memory.stat", "anon 900000\nfile 0\ninactive_file 0\nactive_file 0\n");
    fake_cgroup(dir, 900000);
    char proc[600], cg[600];
    snprintf(proc, sizeof proc, "%s/proc", dir);
    snprintf(cg, sizeof cg, "%s/cgroup", dir);
    rm_sysinfo_paths_t paths = {proc, cg};
    static char val[4000];
    memset(val, 'v', sizeof val);
    for (int fresh = 1; fresh >= 0; fresh--) {
        rm_pressure_t *p;
        rm_engine_t *e = pressured_engine_on(f, &paths, fresh ? 20000000ull : 0, &p);
        feed(p, 100, 100000);              /* the sampler's last word: 10 % */
        fake_now += 10000000ull;
        rm_session_id_t s;
        assert_int_equal(rm_engine_open_session(e, NULL, &s, NULL), RM_OK);
        assert_int_equal(rm_engine_begin(e, s, 0, NULL, NULL), RM_OK);
        char err[RM_ENGINE_ERR_MAX] = "";
        int accepted = 0;
        rm_status_t st = RM_OK;
        for (int i = 0; i < 40 && st == RM_OK; i++) {
            char key[16];
            snprintf(key, sizeof key, "k%02d", i);   /* each Put costs 3 + 4000 + 64 = 4067 B */
            st = rm_engine_put(e, s, "t", key, strlen(key), val, sizeof val, err);
            if (st == RM_OK)
                accepted++;
        }
        if (fresh) {
            /* 50 000 B of room between the cgroup's 90 % and 95 %: 12 Puts */
            assert_int_equal(st, RM_EREJECTED);
            assert_int_equal(accepted, 50000 / 4067);
            assert_non_null(strstr(err, "would pass the oom_prevention threshold"));
            /* the cgroup comes down to 50 %: once the gate's own reading is older than
             * 20 ms (a real-time rate limit) the next Put reads it and passes */
            assert_int_equal(rm_engine_rollback(e, s, NULL), RM_OK);
            fake_cgroup(dir, 500000);
            usleep(30000);
            fake_now += 10000000ull;
            assert_int_equal(rm_engine_begin(e, s, 0, NULL, NULL), RM_OK);
            assert_int_equal(rm_engine_put(e, s, "t", "k99", 3, val, sizeof val, err), RM_OK);
        } else {
            /* the stale 10 % leaves 850 000 B of room: all 40 accepted */
            assert_int_equal(st, RM_OK);
            assert_int_equal(accepted, 40);
        }
        assert_int_equal(rm_engine_rollback(e, s, NULL), RM_OK);
        rm_engine_destroy(e);
        rm_pressure_destroy(p);
        fake_cgroup(dir, 900000);
    }
    const char *files[] = {"proc/self/cgroup", "proc/self/statm", "proc/meminfo", "cgroup/cg/cgroup.controllers",
                           "cgroup/cg/memory.max", "cgroup/cg/memory.stat", "cgroup/cg/memory.current"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        snprintf(sub, sizeof sub, "%s/%s", dir, files[i]);
        unlink(sub);
    }
    for (size_t i = sizeof dirs / sizeof dirs[0]; i-- > 0;) {
        snprintf(sub, sizeof sub, "%s/%s", dir, dirs[i]);
        rmdir(sub);
    }
    rmdir(dir);
}

static void
test_engine_oom_prevention_refuses_writes_and_allows_them_again_when_pressure_drops(void **state)
{
    rm_pressure_t *p;
    rm_engine_t *e = pressured_engine(*state, &p);
    rm_session_id_t s;
    assert_int_equal(rm_engine_open_session(e, NULL, &s, NULL), RM_OK);
    assert_int_equal(rm_engine_begin(e, s, 0, NULL, NULL), RM_OK);
    put_str(e, s, "t", "k", "v1");
    put_str(e, s, "t", "gone", "x");
    assert_int_equal(rm_engine_commit(e, s, NULL, NULL), RM_OK);
    uint64_t ts = 100;
    feed(p, ts, 100000);
    feed(p, ++ts, 920000);               /* 92 %: Emergency — writes still accepted */
    rm_engine_stats_t st;
    rm_engine_stats(e, &st);
    assert_false(st.writes_refused);
    feed(p, ++ts, 970000);               /* 97 %: OOM prevention */
    rm_engine_stats(e, &st);
    assert_true(st.writes_refused);
    assert_int_equal(rm_engine_begin(e, s, 0, NULL, NULL), RM_OK);
    char err[RM_ENGINE_ERR_MAX] = "";
    assert_int_equal(rm_engine_put(e, s, "t", "k", 1, "v2", 2, err), RM_EREJECTED);
    assert_non_null(strstr(err, "writes are refused"));
    char *v = get_str(e, s, "t", "k");   /* reads go on */
    assert_non_null(v);
    assert_string_equal(v, "v1");
    free(v);
    bool found = false;
    assert_int_equal(rm_engine_delete(e, s, "t", "gone", 4, &found, NULL), RM_OK);   /* deletes go on */
    assert_true(found);
    assert_int_equal(rm_engine_commit(e, s, NULL, NULL), RM_OK);
    rm_engine_stats(e, &st);
    assert_int_equal(st.writes_refused_total, 1);
    step_down(p, &ts);
    rm_engine_stats(e, &st);
    assert_false(st.writes_refused);
    assert_int_equal(rm_engine_begin(e, s, 0, NULL, NULL), RM_OK);
    put_str(e, s, "t", "k", "v3");
    assert_int_equal(rm_engine_commit(e, s, NULL, NULL), RM_OK);
    rm_engine_destroy(e);
    rm_pressure_destroy(p);
}

static void
test_engine_background_vacuum_drops_versions_no_snapshot_can_see(void **state)
{
    fx_t *f = *state;
    rm_engine_config_t cfg = {.arenas = f->arenas, .slab = f->slab, .max_connections = 8, .no_thread = true,
                              .now_ns = clock_fn, .vacuum_chains_per_second = 0};
    rm_engine_t *e;
    char cerr[RM_ENGINE_ERR_MAX] = "";
    if (rm_engine_create(&cfg, &e, cerr) != RM_OK)
        fail_msg("create: %s", cerr);
    rm_session_id_t s;
    assert_int_equal(rm_engine_open_session(e, NULL, &s, NULL), RM_OK);
    char key[16], val[16];
    for (int round = 0; round < 20; round++) {   /* 4 keys x 20 committed versions */
        assert_int_equal(rm_engine_begin(e, s, 0, NULL, NULL), RM_OK);
        for (int k = 0; k < 4; k++) {
            snprintf(key, sizeof key, "k%d", k);
            snprintf(val, sizeof val, "v%d", round);
            put_str(e, s, "t", key, val);
        }
        assert_int_equal(rm_engine_commit(e, s, NULL, NULL), RM_OK);
    }
    fake_now += 1000000;   /* the writes are 1 ms old */
    rm_engine_stats_t st;
    rm_engine_tick(e);   /* vacuum off: nothing dropped */
    rm_engine_stats(e, &st);
    assert_int_equal(st.mvcc.versions, 80);
    assert_int_equal(rm_engine_set_vacuum_rate(e, 8), RM_OK);   /* 8/s x 250 ms tick = 2 chains per tick */
    rm_engine_tick(e);
    rm_engine_stats(e, &st);
    assert_int_equal(st.mvcc.versions, 80 - 2 * 19);   /* two chains visited, each keeps its newest */
    rm_engine_tick(e);
    rm_engine_stats(e, &st);
    assert_int_equal(st.mvcc.versions, 4);
    assert_int_equal(rm_engine_begin(e, s, 0, NULL, NULL), RM_OK);
    char *v = get_str(e, s, "t", "k3");
    assert_non_null(v);
    assert_string_equal(v, "v19");
    free(v);
    assert_int_equal(rm_engine_commit(e, s, NULL, NULL), RM_OK);
    rm_engine_destroy(e);
}

/* ---- concurrency ---------------------------------------------------------------- */

typedef struct conc {
    rm_engine_t *e;
    int index;
    _Atomic int *stop;
    long committed;
} conc_t;

static void *
conc_worker(void *arg)
{
    conc_t *c = arg;
    rm_session_id_t s;
    if (rm_engine_open_session(c->e, NULL, &s, NULL) != RM_OK)
        return NULL;
    char key[16], val[16];
    for (int i = 0; i < 400; i++) {
        if (rm_engine_begin(c->e, s, 0, NULL, NULL) != RM_OK)
            continue;
        snprintf(key, sizeof key, "k%d", (c->index * 7 + i) % 20);
        snprintf(val, sizeof val, "%d", i);
        bool found;
        void *v = NULL;
        size_t n;
        (void)rm_engine_get(c->e, s, "c", key, strlen(key), heap_alloc, NULL, &found, &v, &n, NULL);
        free(v);
        (void)rm_engine_put(c->e, s, "c", key, strlen(key), val, strlen(val), NULL);
        if (i % 5 == 0) {
            (void)rm_engine_savepoint(c->e, s, "sp", NULL);
            (void)rm_engine_put(c->e, s, "c", "x", 1, val, strlen(val), NULL);
            (void)rm_engine_rollback_to(c->e, s, "sp", NULL);
        }
        if (i % 7 == 0)
            (void)rm_engine_scan(c->e, s, "c", NULL, 0, NULL, 0, 10, RM_ENGINE_PRIO_LOW, collect_row,
                                 &(collect_t){.n = 0}, NULL, NULL);
        rm_status_t st = rm_engine_commit(c->e, s, NULL, NULL);
        if (st == RM_OK)
            c->committed++;
        else if (st != RM_ECONFLICT && st != RM_ECANCELED && st != RM_ESTATE)
            (void)rm_engine_rollback(c->e, s, NULL);
    }
    (void)rm_engine_close_session(c->e, s, NULL, NULL);
    return NULL;
}

static void *
conc_admin(void *arg)
{
    conc_t *c = arg;
    while (!*c->stop) {
        rm_engine_stats_t st;
        rm_engine_stats(c->e, &st);
        rm_engine_txn_info_t ti[8];
        size_t n;
        rm_engine_list_txns(c->e, false, ti, 8, &n);
        rm_engine_query_info_t qi[8];
        rm_engine_list_queries(c->e, qi, 8, &n);
        (void)rm_engine_cancel_low_priority(c->e);
        (void)rm_engine_trim_plans(c->e, 0.5, NULL, NULL);
        (void)rm_engine_compact(c->e, true);
        uint64_t k;
        rm_engine_kill_orphans(c->e, &k);
        rm_engine_tick(c->e);
    }
    return NULL;
}

static void
test_engine_concurrent_sessions_with_admin_actions_stay_consistent(void **state)
{
    rm_engine_t *e = ((fx_t *)*state)->e;
    _Atomic int stop = 0;
    pthread_t th[5], admin;
    conc_t c[5], a = {e, 0, &stop, 0};
    for (int i = 0; i < 5; i++) {
        c[i] = (conc_t){e, i, &stop, 0};
        assert_int_equal(pthread_create(&th[i], NULL, conc_worker, &c[i]), 0);
    }
    assert_int_equal(pthread_create(&admin, NULL, conc_admin, &a), 0);
    long committed = 0;
    for (int i = 0; i < 5; i++) {
        pthread_join(th[i], NULL);
        committed += c[i].committed;
    }
    stop = 1;
    pthread_join(admin, NULL);
    assert_true(committed > 0);
    rm_engine_stats_t st;
    rm_engine_stats(e, &st);
    assert_int_equal(st.session.sessions, 0);
    assert_int_equal(st.session.connections_busy, 0);
    assert_int_equal(st.mvcc.txns_active, 0);
    assert_int_equal(st.journal_bytes, 0);
    assert_int_equal(st.queries_running, 0);
}


/* Four principals, two threads each, opening/using/closing sessions under a
 * quota of 3 while housekeeping reaps anything idle for 1 ms (real clock):
 * owner checks never cross principals and every count returns to zero. */
typedef struct owners {
    rm_engine_t *e;
    int principal;
    _Atomic int *stop;
    long opened, refused, reaped;
} owners_t;

static void *
owners_worker(void *arg)
{
    owners_t *o = arg;
    char me[32], other[32];
    snprintf(me, sizeof me, "token:app%d", o->principal);
    snprintf(other, sizeof other, "token:app%d", (o->principal + 1) % 4);
    for (int i = 0; !atomic_load(o->stop); i++) {
        rm_session_id_t s[2];
        int n = 0;
        for (int k = 0; k < 2; k++) {
            rm_status_t st = rm_engine_open_session(o->e, me, &s[n], NULL);
            if (st == RM_OK) {
                n++;
                o->opened++;
            } else {
                assert_int_equal(st, RM_ELIMIT);
                o->refused++;
            }
        }
        if (i % 16 == 0)
            usleep(3000);   /* hold them idle past the 1 ms timeout now and then */
        for (int k = 0; k < n; k++) {
            assert_int_equal(rm_engine_session_owned(o->e, s[k], other, NULL), RM_ENOENT);
            rm_status_t st = rm_engine_begin(o->e, s[k], 0, NULL, NULL);
            if (st == RM_OK) {
                st = rm_engine_put(o->e, s[k], "t", me, strlen(me), "v", 1, NULL);
                if (st == RM_OK)
                    st = rm_engine_commit(o->e, s[k], NULL, NULL);
            }
            assert_true(st == RM_OK || st == RM_ENOENT || st == RM_ECONFLICT || st == RM_EBUSY ||
                        st == RM_ECANCELED);
            st = rm_engine_close_session(o->e, s[k], NULL, NULL);
            assert_true(st == RM_OK || st == RM_ENOENT);
            o->reaped += st == RM_ENOENT;
        }
    }
    return NULL;
}

static void *
owners_reaper(void *arg)
{
    owners_t *o = arg;
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    do {   /* the idle check runs once a second: keep ticking past two of them */
        rm_engine_tick(o->e);
        sched_yield();
        clock_gettime(CLOCK_MONOTONIC, &t);
    } while ((t.tv_sec - t0.tv_sec) * 1000000000L + (t.tv_nsec - t0.tv_nsec) < 2200000000L);
    atomic_store(o->stop, 1);
    return NULL;
}

static void
test_engine_owners_quota_and_reaping_stay_consistent_under_threads(void **state)
{
    (void)state;
    rm_arena_mgr_t *arenas = NULL;
    rm_slab_t *slab = NULL;
    assert_int_equal(rm_arena_mgr_create(NULL, NULL, &arenas), RM_OK);
    assert_int_equal(rm_slab_create(NULL, &slab), RM_OK);
    rm_engine_config_t cfg = {.arenas = arenas, .slab = slab, .max_connections = 16, .max_sessions = 100,
                              .no_thread = true, .max_sessions_per_principal = 3,
                              .session_idle_close_ns = 1000000ull};   /* real clock */
    rm_engine_t *e = NULL;
    assert_int_equal(rm_engine_create(&cfg, &e, NULL), RM_OK);
    pthread_t th[8], reaper;
    _Atomic int stop = 0;
    owners_t o[8], r = {.e = e, .stop = &stop};
    for (int i = 0; i < 8; i++) {
        o[i] = (owners_t){.e = e, .principal = i % 4, .stop = &stop};
        assert_int_equal(pthread_create(&th[i], NULL, owners_worker, &o[i]), 0);
    }
    assert_int_equal(pthread_create(&reaper, NULL, owners_reaper, &r), 0);
    long opened = 0, refused = 0, reaped = 0;
    for (int i = 0; i < 8; i++) {
        pthread_join(th[i], NULL);
        opened += o[i].opened;
        refused += o[i].refused;
        reaped += o[i].reaped;
    }
    pthread_join(reaper, NULL);
    rm_engine_stats_t st;
    rm_engine_stats(e, &st);
    print_message("owners: %ld opened, %ld refused by the quota, %ld reaped under the owner, %" PRIu64
                  " idle-closed\n", opened, refused, reaped, st.sessions_idle_closed);
    assert_true(opened > 0);
    assert_true(st.sessions_idle_closed > 0);   /* the reaper raced the owners */
    assert_int_equal((uint64_t)refused, st.sessions_quota_refused);
    assert_int_equal(st.session.sessions, 0);
    assert_int_equal(st.principals, 0);
    assert_int_equal(st.session.connections_busy, 0);
    assert_int_equal(st.mvcc.txns_active, 0);
    assert_int_equal(st.journal_bytes, 0);
    rm_engine_destroy(e);
    rm_slab_destroy(slab);
    rm_arena_mgr_destroy(arenas);
}

/* Value of key i: 161..2200 bytes (every one longer than a version record),
 * a pattern that depends on the key and on the generation g. */
static size_t
heap_value(int i, int g, unsigned char *buf)
{
    size_t n = RM_MVCC_INLINE_MAX + 1 + (size_t)(i * 37 % 2040);
    for (size_t k = 0; k < n; k++)
        buf[k] = (unsigned char)(k * 31 + (size_t)i * 7 + (size_t)g);
    return n;
}

static void
test_engine_long_values_live_in_the_buffer_pool_and_survive_eviction(void **state)
{
    (void)state;
    char *dir = make_dir_named("rm_engine_heap_");
    enum { FRAMES = 16 };         /* far fewer than the values' pages: reads come back from the file */
    rm_bufpool_t *bp = open_pool_sized(dir, FRAMES, 0, 0);
    rm_arena_mgr_t *arenas = NULL;
    rm_slab_t *slab = NULL;
    assert_int_equal(rm_arena_mgr_create(NULL, NULL, &arenas), RM_OK);
    assert_int_equal(rm_slab_create(NULL, &slab), RM_OK);
    rm_engine_config_t cfg = {.arenas = arenas, .slab = slab, .bufpool = bp, .max_connections = 4,
                              .max_sessions = 8, .no_thread = true, .now_ns = clock_fn};
    rm_engine_t *e = NULL;
    char err[RM_ENGINE_ERR_MAX] = "";
    assert_int_equal(rm_engine_create(&cfg, &e, err), RM_OK);

    enum { N = 200 };
    unsigned char val[4096];
    char key[16];
    rm_session_id_t s;
    assert_int_equal(rm_engine_open_session(e, NULL, &s, NULL), RM_OK);
    for (int g = 0; g < 2; g++) {    /* write every key twice: the first versions become garbage */
        assert_int_equal(rm_engine_begin(e, s, 1 << 20, NULL, NULL), RM_OK);
        for (int i = 0; i < N; i++) {
            snprintf(key, sizeof key, "k%03d", i);
            size_t n = heap_value(i, g, val);
            assert_int_equal(rm_engine_put(e, s, i % 2 ? "odd" : "even", key, strlen(key), val, n, err), RM_OK);
        }
        assert_int_equal(rm_engine_commit(e, s, NULL, err), RM_OK);
    }
    rm_engine_stats_t st;
    rm_engine_stats(e, &st);
    assert_true(st.heap_enabled);
    assert_int_equal(st.mvcc.stored_values, 2 * N);
    assert_int_equal(st.heap.values, 2 * N);
    assert_int_equal(st.mvcc.store_fallbacks, 0);
    assert_true(st.heap.pages > FRAMES);

    /* nothing in memory any more: every read goes through the pool to the file */
    assert_int_equal(rm_bufpool_evict(bp, 1.0, NULL), RM_OK);
    rm_bufpool_stats_t before, after;
    assert_int_equal(rm_bufpool_stats(bp, &before), RM_OK);
    assert_int_equal(rm_engine_begin(e, s, 0, NULL, NULL), RM_OK);
    for (int i = 0; i < N; i++) {
        snprintf(key, sizeof key, "k%03d", i);
        size_t n = heap_value(i, 1, val);
        bool found = false;
        void *v = NULL;
        size_t vn = 0;
        assert_int_equal(rm_engine_get(e, s, i % 2 ? "odd" : "even", key, strlen(key), heap_alloc, NULL, &found,
                                       &v, &vn, err),
                         RM_OK);
        assert_true(found);
        assert_int_equal(vn, n);
        assert_memory_equal(v, val, n);
        free(v);
    }
    assert_int_equal(rm_engine_commit(e, s, NULL, err), RM_OK);
    assert_int_equal(rm_bufpool_stats(bp, &after), RM_OK);
    assert_true(after.reads > before.reads);

    /* vacuum gives the first generation's heap slots back; a delete does the same */
    rm_engine_compact(e, true);
    rm_engine_stats(e, &st);
    assert_int_equal(st.mvcc.stored_values, N);
    assert_int_equal(st.heap.values, N);
    assert_int_equal(rm_engine_begin(e, s, 0, NULL, NULL), RM_OK);
    for (int i = 0; i < N; i += 2) {
        snprintf(key, sizeof key, "k%03d", i);
        assert_int_equal(rm_engine_delete(e, s, "even", key, strlen(key), NULL, err), RM_OK);
    }
    assert_int_equal(rm_engine_commit(e, s, NULL, err), RM_OK);
    rm_engine_compact(e, true);
    rm_engine_stats(e, &st);
    assert_int_equal(st.heap.values, N / 2);
    assert_int_equal(rm_engine_close_session(e, s, NULL, NULL), RM_OK);

    rm_engine_destroy(e);
    rm_slab_destroy(slab);
    rm_arena_mgr_destroy(arenas);
    assert_int_equal(rm_bufpool_destroy(bp), RM_OK);
    remove_dir(dir);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_engine_commit_makes_writes_visible_to_later_snapshots, setup, teardown),
        cmocka_unit_test_setup_teardown(test_engine_big_value_is_readable_without_a_size_hint, setup, teardown),
        cmocka_unit_test_setup_teardown(test_engine_hint_above_disable_threshold_bypasses_arenas, setup, teardown),
        cmocka_unit_test_setup_teardown(test_engine_rollback_to_savepoint_undoes_later_writes_only, setup, teardown),
        cmocka_unit_test_setup_teardown(test_engine_scan_returns_rows_in_key_order_within_range, setup, teardown),
        cmocka_unit_test_setup_teardown(test_engine_scan_is_cancelled_cooperatively_and_txn_stays_open, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_engine_plan_cache_hits_on_repeated_statement, setup, teardown),
        cmocka_unit_test_setup_teardown(test_engine_orphan_idle_txn_is_listed_and_killed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_engine_admission_closed_rejects_new_sessions_only, setup, teardown),
        cmocka_unit_test_setup_teardown(test_engine_concurrent_writers_conflict_at_commit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_engine_misuse_gives_distinct_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_engine_close_mid_transaction_rolls_back, setup, teardown),
        cmocka_unit_test_setup_teardown(test_engine_foreign_session_is_not_found_like_a_missing_one, setup, teardown),
        cmocka_unit_test_setup_teardown(test_engine_quota_per_principal_refuses_and_recovers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_engine_idle_sessions_close_and_roll_back_their_transaction, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_engine_pool_grows_when_busy_and_shrinks_when_idle,
                                        setup_small_pool, teardown),
        cmocka_unit_test_setup_teardown(test_engine_property_reads_match_model_with_savepoints_and_compaction, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_engine_chain_grows_only_as_far_as_a_long_snapshot_needs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_engine_concurrent_sessions_with_admin_actions_stay_consistent, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_engine_emergency_closes_admission_and_reopens_when_pressure_drops, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            test_engine_oom_prevention_refuses_writes_and_allows_them_again_when_pressure_drops, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_engine_growth_gate_refuses_puts_past_oom_prevention_between_samples, setup, teardown),
        cmocka_unit_test_setup_teardown(test_engine_growth_gate_reads_the_cgroup_itself_when_the_sampler_is_late,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_engine_low_priority_scans_are_refused_at_aggressive_and_above, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_engine_background_vacuum_drops_versions_no_snapshot_can_see, setup,
                                        teardown),
        cmocka_unit_test(test_engine_long_values_live_in_the_buffer_pool_and_survive_eviction),
        cmocka_unit_test(test_engine_owners_quota_and_reaping_stay_consistent_under_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
