/*
 * test_session.c — the session multiplexer: random ids and their map (growth,
 * deletion, stale ids, a failing or repeating random source), admission control, limits,
 * transaction pooling (bind/release/wait), abandonment rollback, pool shrink
 * releasing scratch memory, allocation failures, idle tracking, accounting,
 * and a multi-threaded stress test.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>

#include <cmocka.h>

#include "rustymem/pagesrc.h"
#include "rustymem/session.h"
#include "rustymem/stats.h"

#include "../support/fail_alloc.h"
#include "../support/fake_clock.h"

typedef struct hooks {
    atomic_int opened, closed, abandoned, open_fail;
    atomic_ulong last_abandoned;
} hooks_t;

static rm_status_t
h_open(void *ctx, uint32_t slot, void **user)
{
    hooks_t *h = ctx;
    if (atomic_load(&h->open_fail))
        return RM_ENOMEM;
    atomic_fetch_add(&h->opened, 1);
    *user = (void *)(uintptr_t)(slot + 1000);
    return RM_OK;
}

static void
h_close(void *ctx, uint32_t slot, void *user)
{
    hooks_t *h = ctx;
    assert_true((uintptr_t)user == slot + 1000);
    atomic_fetch_add(&h->closed, 1);
}

static void
h_abandon(void *ctx, rm_session_id_t id, void *suser, const rm_session_conn_t *c)
{
    hooks_t *h = ctx;
    atomic_fetch_add(&h->abandoned, 1);
    atomic_store(&h->last_abandoned, id);
}

typedef struct fixture {
    hooks_t hooks;
    fclock_t clk;
    falloc_t fa;
    rm_recalloc_t ra;
    rm_pagesrc_faulty_t pages;
    rm_session_mux_t *m;
} fixture_t;

static fixture_t *
mk(uint32_t maxc, uint32_t maxs, uint32_t ratio, uint32_t pool)
{
    fixture_t *f = calloc(1, sizeof *f);
    rm_pagesrc_faulty_init(&f->pages, NULL);
    f->clk.ns = 1;
    f->ra = falloc_recalloc(&f->fa);
    rm_session_config_t cfg = {
        .max_connections = maxc, .max_sessions = maxs, .session_ratio = ratio,
        .pool_size = pool, .scratch_bytes = 16384, .pages = &f->pages.src, .alloc = &f->ra,
        .cb = {.on_slot_open = h_open, .on_slot_close = h_close, .on_abandon = h_abandon,
               .ctx = &f->hooks},
        .now_ns = fclock_now, .now_ctx = &f->clk,
    };
    assert_int_equal(rm_session_mux_create(&cfg, &f->m), RM_OK);
    return f;
}

static void
done(fixture_t *f)
{
    rm_session_mux_destroy(f->m);
    assert_int_equal(f->pages.mapped_bytes, 0);   /* every scratch mapping returned */
    assert_int_equal(atomic_load(&f->hooks.opened), atomic_load(&f->hooks.closed));
    free(f);
}

static rm_session_stats_t
stats(fixture_t *f)
{
    rm_session_stats_t st;
    rm_session_stats(f->m, &st);
    return st;
}

/* ---- behaviours ---------------------------------------------------------------- */

static void
test_session_open_close_round_trip(void **state)
{
    fixture_t *f = mk(4, 100, 10, 0);
    rm_session_id_t a, b;
    int ua = 1;
    assert_int_equal(rm_session_open(f->m, &ua, &a), RM_OK);
    assert_int_equal(rm_session_open(f->m, NULL, &b), RM_OK);
    assert_true(a != 0 && b != 0 && a != b);
    rm_session_info_t info;
    assert_int_equal(rm_session_get(f->m, a, &info), RM_OK);
    assert_ptr_equal(info.user, &ua);
    assert_int_equal(info.slot, -1);
    assert_int_equal(stats(f).sessions, 2);
    assert_int_equal(rm_session_close(f->m, a), RM_OK);
    assert_int_equal(rm_session_close(f->m, a), RM_ENOENT);
    assert_int_equal(rm_session_get(f->m, a, &info), RM_ENOENT);
    assert_false(rm_session_owner_alive(f->m, a));
    assert_true(rm_session_owner_alive(f->m, b));
    /* The freed entry is reused under a new random id: the old id stays dead. */
    rm_session_id_t c;
    assert_int_equal(rm_session_open(f->m, NULL, &c), RM_OK);
    assert_true(c != a && c != b);
    assert_int_equal(rm_session_touch(f->m, a), RM_ENOENT);
    assert_int_equal(rm_session_get(f->m, 0, &info), RM_ENOENT);
    assert_int_equal(stats(f).sessions, 2);
    done(f);
}

/* ---- ids ------------------------------------------------------------------------ */

static void
test_session_ids_are_random_with_no_shared_half_or_sequence(void **state)
{
    enum { N = 1000 };
    fixture_t *f = mk(100, N, 100, 0);
    rm_session_id_t *ids = calloc(N, sizeof *ids);
    for (int i = 0; i < N; i++) {
        assert_int_equal(rm_session_open(f->m, NULL, &ids[i]), RM_OK);
        assert_true(ids[i] != 0);
    }
    /* No two ids share their high or their low 32 bits (the old scheme,
     * generation << 32 | index, shared the high half across all fresh ids and
     * the low half across reuses). Chance of a false failure: about 2.3e-4. */
    for (int i = 0; i < N; i++)
        for (int j = i + 1; j < N; j++) {
            assert_true((uint32_t)ids[i] != (uint32_t)ids[j]);
            assert_true((uint32_t)(ids[i] >> 32) != (uint32_t)(ids[j] >> 32));
        }
    /* No sequence: consecutive differences are not constant, and every bit
     * position is set in about half the ids (1000 draws: 500 ± 16 per
     * position; ±150 is more than 9 standard deviations). */
    int same_step = 0;
    for (int i = 2; i < N; i++)
        same_step += ids[i] - ids[i - 1] == ids[i - 1] - ids[i - 2];
    assert_true(same_step < 3);
    for (int b = 0; b < 64; b++) {
        int set = 0;
        for (int i = 0; i < N; i++)
            set += (int)((ids[i] >> b) & 1);
        if (set < 350 || set > 650)
            fail_msg("bit %d set in %d of %d ids", b, set, N);
    }
    /* Closing one and opening another never hands the old id out again. */
    rm_session_id_t old = ids[N / 2], fresh;
    assert_int_equal(rm_session_close(f->m, old), RM_OK);
    assert_int_equal(rm_session_open(f->m, NULL, &fresh), RM_OK);
    assert_true(fresh != old);
    assert_true((uint32_t)fresh != (uint32_t)old && (uint32_t)(fresh >> 32) != (uint32_t)(old >> 32));
    for (int i = 0; i < N; i++)
        if (ids[i] != old)
            assert_int_equal(rm_session_close(f->m, ids[i]), RM_OK);
    assert_int_equal(rm_session_close(f->m, fresh), RM_OK);
    free(ids);
    done(f);
}

static void
test_session_stale_and_unknown_ids_enoent(void **state)
{
    fixture_t *f = mk(4, 100, 10, 0);
    rm_session_id_t a, b;
    assert_int_equal(rm_session_open(f->m, NULL, &a), RM_OK);
    assert_int_equal(rm_session_open(f->m, NULL, &b), RM_OK);
    assert_int_equal(rm_session_close(f->m, a), RM_OK);
    rm_session_info_t info;
    rm_session_conn_t c;
    /* a closed id, and ids that share one half with a live id */
    const rm_session_id_t probes[] = {a, b ^ 1, b ^ (1ull << 63), b + (1ull << 32), (uint32_t)b, b >> 32, 0,
                                      UINT64_MAX};
    for (size_t i = 0; i < sizeof probes / sizeof probes[0]; i++) {
        if (probes[i] == b)
            continue;
        assert_int_equal(rm_session_get(f->m, probes[i], &info), RM_ENOENT);
        assert_int_equal(rm_session_touch(f->m, probes[i]), RM_ENOENT);
        assert_int_equal(rm_session_begin(f->m, probes[i], 0, &c), RM_ENOENT);
        assert_int_equal(rm_session_end(f->m, probes[i]), RM_ENOENT);
        assert_int_equal(rm_session_close(f->m, probes[i]), RM_ENOENT);
        assert_false(rm_session_owner_alive(f->m, probes[i]));
    }
    /* the survivor is untouched */
    assert_int_equal(rm_session_get(f->m, b, &info), RM_OK);
    assert_int_equal(info.id, b);
    assert_int_equal(stats(f).sessions, 1);
    done(f);
}

/* A deterministic id source whose ids crowd a few home slots at both ends of
 * the map (low 16 bits in 0xFFF8..0xFFFF or 0..7), so probe runs are long and
 * wrap around: what backward-shift deletion has to get right. */
typedef struct crowd {
    uint64_t x;
    int fail_next;             /* return RM_EIO this many times */
    int zero_next;             /* answer 0 this many times */
    rm_session_id_t repeat;    /* answer this id `repeat_n` times */
    int repeat_n;
    int calls;
} crowd_t;

static rm_status_t
crowd_random(void *ctx, void *buf, size_t n)
{
    crowd_t *c = ctx;
    c->calls++;
    assert_int_equal(n, sizeof(uint64_t));
    if (c->fail_next > 0) {
        c->fail_next--;
        return RM_EIO;
    }
    uint64_t v;
    if (c->zero_next > 0) {
        c->zero_next--;
        v = 0;
    } else if (c->repeat_n > 0) {
        c->repeat_n--;
        v = c->repeat;
    } else {
        c->x = c->x * 6364136223846793005ull + 1442695040888963407ull;   /* test-only LCG */
        uint64_t hi = c->x & ~0xFFFFull, k = (c->x >> 40) % 16;
        v = hi | (k < 8 ? 0xFFF8u + k : k - 8);
    }
    memcpy(buf, &v, sizeof v);
    return RM_OK;
}

static fixture_t *
mk_crowded(crowd_t *c, uint32_t maxs)
{
    fixture_t *f = calloc(1, sizeof *f);
    rm_pagesrc_faulty_init(&f->pages, NULL);
    f->clk.ns = 1;
    f->ra = falloc_recalloc(&f->fa);
    rm_session_config_t cfg = {
        .max_connections = 4, .max_sessions = maxs, .session_ratio = 100000,
        .scratch_bytes = 16384, .pages = &f->pages.src, .alloc = &f->ra,
        .cb = {.on_slot_open = h_open, .on_slot_close = h_close, .on_abandon = h_abandon, .ctx = &f->hooks},
        .now_ns = fclock_now, .now_ctx = &f->clk,
        .fill_random = crowd_random, .random_ctx = c,
    };
    assert_int_equal(rm_session_mux_create(&cfg, &f->m), RM_OK);
    return f;
}

static void
test_session_id_map_holds_under_growth_and_deletion(void **state)
{
    enum { N = 3000 };
    crowd_t c = {.x = 42};
    fixture_t *f = mk_crowded(&c, N);
    rm_session_id_t *ids = calloc(N, sizeof *ids);
    bool *live = calloc(N, sizeof *live);
    unsigned seed = 1;
    size_t nlive = 0;
    rm_session_info_t info;
    /* Rounds of: open up to the target (the table doubles 64 -> 4096 on the
     * way up), close a random ~third, and check every id against the model. */
    for (int round = 0; round < 12; round++) {
        size_t target = (size_t)N * (size_t)(round % 4 + 1) / 4;
        for (size_t i = 0; i < N && nlive < target; i++)
            if (!live[i]) {
                assert_int_equal(rm_session_open(f->m, &live[i], &ids[i]), RM_OK);
                live[i] = true;
                nlive++;
            }
        for (size_t i = 0; i < N; i++)
            if (live[i] && rand_r(&seed) % 3 == 0) {
                assert_int_equal(rm_session_close(f->m, ids[i]), RM_OK);
                live[i] = false;
                nlive--;
            }
        for (size_t i = 0; i < N; i++) {
            if (!ids[i])
                continue;
            if (live[i]) {
                assert_int_equal(rm_session_get(f->m, ids[i], &info), RM_OK);
                assert_int_equal(info.id, ids[i]);
                assert_ptr_equal(info.user, &live[i]);
            } else {
                assert_int_equal(rm_session_get(f->m, ids[i], &info), RM_ENOENT);
            }
        }
        assert_int_equal(stats(f).sessions, nlive);
    }
    for (size_t i = 0; i < N; i++)
        if (live[i])
            assert_int_equal(rm_session_close(f->m, ids[i]), RM_OK);
    assert_int_equal(stats(f).sessions, 0);
    free(ids);
    free(live);
    done(f);
}

static void
test_session_id_redrawn_when_zero_or_live(void **state)
{
    crowd_t c = {.x = 7};
    fixture_t *f = mk_crowded(&c, 100);
    rm_session_id_t a, b;
    assert_int_equal(rm_session_open(f->m, NULL, &a), RM_OK);
    c.zero_next = 1;
    c.repeat = a;
    c.repeat_n = 2;
    c.calls = 0;
    assert_int_equal(rm_session_open(f->m, NULL, &b), RM_OK);
    assert_int_equal(c.calls, 4);   /* 0, a, a, then a fresh id */
    assert_true(b != 0 && b != a);
    rm_session_stats_t st = stats(f);
    assert_int_equal(st.id_redraws, 3);
    assert_int_equal(st.sessions, 2);
    done(f);
}

static void
test_session_open_fails_cleanly_when_random_source_fails(void **state)
{
    crowd_t c = {.x = 9};
    fixture_t *f = mk_crowded(&c, 100);
    rm_session_id_t a = 77, b;
    c.fail_next = 1;
    assert_int_equal(rm_session_open(f->m, NULL, &a), RM_EIO);
    assert_int_equal(a, 77);
    rm_session_stats_t st = stats(f);
    assert_int_equal(st.sessions, 0);
    assert_int_equal(st.opened_total, 0);
    assert_int_equal(st.id_failures, 1);
    /* A source stuck on a live id is broken, not unlucky: RM_EIO after 16 draws. */
    assert_int_equal(rm_session_open(f->m, NULL, &b), RM_OK);
    c.repeat = b;
    c.repeat_n = 1000;
    c.calls = 0;
    assert_int_equal(rm_session_open(f->m, NULL, &a), RM_EIO);
    assert_int_equal(c.calls, 16);
    st = stats(f);
    assert_int_equal(st.sessions, 1);
    assert_int_equal(st.id_failures, 2);
    c.repeat_n = 0;
    assert_int_equal(rm_session_open(f->m, NULL, &a), RM_OK);
    done(f);
}

static void
test_session_open_rejected_when_admission_closed(void **state)
{
    fixture_t *f = mk(4, 100, 10, 0);
    rm_session_id_t a, b = 77;
    assert_int_equal(rm_session_open(f->m, NULL, &a), RM_OK);
    rm_session_set_admission(f->m, false);
    assert_false(rm_session_admission_open(f->m));
    assert_int_equal(rm_session_open(f->m, NULL, &b), RM_EREJECTED);
    assert_int_equal(b, 77);
    /* Existing sessions keep working. */
    rm_session_conn_t c;
    assert_int_equal(rm_session_begin(f->m, a, 0, &c), RM_OK);
    assert_int_equal(rm_session_end(f->m, a), RM_OK);
    rm_session_stats_t st = stats(f);
    assert_int_equal(st.rejected_admission, 1);
    assert_int_equal(st.sessions, 1);
    assert_false(st.admission_open);
    rm_session_set_admission(f->m, true);
    assert_int_equal(rm_session_open(f->m, NULL, &b), RM_OK);
    done(f);
}

static void
test_session_open_elimit_at_session_limit(void **state)
{
    fixture_t *f = mk(2, 100, 3, 0);   /* limit = min(100, 2 × 3) = 6 */
    rm_session_id_t ids[7];
    for (int i = 0; i < 6; i++)
        assert_int_equal(rm_session_open(f->m, NULL, &ids[i]), RM_OK);
    assert_int_equal(rm_session_open(f->m, NULL, &ids[6]), RM_ELIMIT);
    assert_int_equal(stats(f).session_limit, 6);
    assert_int_equal(rm_session_set_session_ratio(f->m, 10), RM_OK);
    assert_int_equal(rm_session_open(f->m, NULL, &ids[6]), RM_OK);
    assert_int_equal(rm_session_set_max_sessions(f->m, 3), RM_OK);   /* lowering keeps sessions */
    rm_session_stats_t st = stats(f);
    assert_int_equal(st.sessions, 7);
    assert_int_equal(st.session_limit, 3);
    assert_int_equal(st.rejected_limit, 1);
    rm_session_id_t x;
    assert_int_equal(rm_session_open(f->m, NULL, &x), RM_ELIMIT);
    assert_int_equal(rm_session_set_max_sessions(f->m, 0), RM_EINVAL);
    assert_int_equal(rm_session_set_session_ratio(f->m, 0), RM_EINVAL);
    done(f);
}

static void
test_session_begin_binds_slot_and_end_releases(void **state)
{
    fixture_t *f = mk(4, 100, 10, 0);
    rm_session_id_t a;
    assert_int_equal(rm_session_open(f->m, NULL, &a), RM_OK);
    assert_int_equal(stats(f).connections_open, 0);   /* slots open lazily */
    rm_session_conn_t c;
    assert_int_equal(rm_session_begin(f->m, a, 0, &c), RM_OK);
    assert_non_null(c.scratch);
    assert_int_equal(c.scratch_bytes, 16384);
    assert_true((uintptr_t)c.user == c.slot + 1000);
    memset(c.scratch, 0xAB, c.scratch_bytes);   /* it is ours to use */
    rm_session_info_t info;
    assert_int_equal(rm_session_get(f->m, a, &info), RM_OK);
    assert_int_equal(info.slot, (int32_t)c.slot);
    rm_session_stats_t st = stats(f);
    assert_int_equal(st.sessions_active, 1);
    assert_int_equal(st.connections_busy, 1);
    assert_int_equal(rm_session_end(f->m, a), RM_OK);
    st = stats(f);
    assert_int_equal(st.sessions_active, 0);
    assert_int_equal(st.connections_busy, 0);
    assert_int_equal(st.connections_open, 1);         /* kept for the next transaction */
    rm_session_conn_t c2;
    assert_int_equal(rm_session_begin(f->m, a, 0, &c2), RM_OK);
    assert_int_equal(c2.slot, c.slot);
    assert_ptr_equal(c2.scratch, c.scratch);
    assert_int_equal(atomic_load(&f->hooks.opened), 1);
    assert_int_equal(rm_session_end(f->m, a), RM_OK);
    done(f);
}

static void
test_session_begin_estate_when_already_bound(void **state)
{
    fixture_t *f = mk(4, 100, 10, 0);
    rm_session_id_t a;
    assert_int_equal(rm_session_open(f->m, NULL, &a), RM_OK);
    rm_session_conn_t c;
    assert_int_equal(rm_session_end(f->m, a), RM_ESTATE);
    assert_int_equal(rm_session_begin(f->m, a, 0, &c), RM_OK);
    assert_int_equal(rm_session_begin(f->m, a, 0, &c), RM_ESTATE);
    assert_int_equal(stats(f).connections_busy, 1);
    assert_int_equal(rm_session_end(f->m, a), RM_OK);
    assert_int_equal(rm_session_begin(f->m, 12345, 0, &c), RM_ENOENT);
    done(f);
}

static void
test_session_begin_ebusy_when_all_slots_busy(void **state)
{
    fixture_t *f = mk(2, 100, 10, 0);
    rm_session_id_t s[3];
    rm_session_conn_t c;
    for (int i = 0; i < 3; i++)
        assert_int_equal(rm_session_open(f->m, NULL, &s[i]), RM_OK);
    assert_int_equal(rm_session_begin(f->m, s[0], 0, &c), RM_OK);
    assert_int_equal(rm_session_begin(f->m, s[1], 0, &c), RM_OK);
    assert_int_equal(rm_session_begin(f->m, s[2], 0, &c), RM_EBUSY);
    assert_int_equal(rm_session_begin(f->m, s[2], 1000000, &c), RM_ETIMEDOUT);   /* 1 ms */
    rm_session_info_t info;
    assert_int_equal(rm_session_get(f->m, s[2], &info), RM_OK);
    assert_int_equal(info.slot, -1);
    rm_session_stats_t st = stats(f);
    assert_int_equal(st.busy_failures, 2);
    assert_int_equal(st.waits, 1);
    assert_int_equal(st.connections_busy, 2);
    assert_int_equal(rm_session_end(f->m, s[0]), RM_OK);
    assert_int_equal(rm_session_begin(f->m, s[2], 0, &c), RM_OK);
    done(f);
}

typedef struct waiter {
    fixture_t *f;
    rm_session_id_t id;
    rm_status_t rc;
    rm_session_conn_t c;
} waiter_t;

static void *
wait_begin(void *arg)
{
    waiter_t *w = arg;
    w->rc = rm_session_begin(w->f->m, w->id, 60ull * 1000000000ull, &w->c);
    return NULL;
}

static void
test_session_begin_waits_until_slot_released(void **state)
{
    fixture_t *f = mk(1, 100, 10, 0);
    rm_session_id_t a;
    rm_session_conn_t c;
    assert_int_equal(rm_session_open(f->m, NULL, &a), RM_OK);
    waiter_t w = {.f = f};
    assert_int_equal(rm_session_open(f->m, NULL, &w.id), RM_OK);
    assert_int_equal(rm_session_begin(f->m, a, 0, &c), RM_OK);
    pthread_t th;
    pthread_create(&th, NULL, wait_begin, &w);
    while (stats(f).connections_waiting == 0)
        sched_yield();
    assert_int_equal(rm_session_end(f->m, a), RM_OK);
    pthread_join(th, NULL);
    assert_int_equal(w.rc, RM_OK);
    assert_int_equal(w.c.slot, c.slot);
    assert_int_equal(rm_session_end(f->m, w.id), RM_OK);
    done(f);
}

static void
test_session_waiter_gets_slot_when_other_waiter_session_closed(void **state)
{
    fixture_t *f = mk(1, 100, 10, 0);
    rm_session_id_t x;
    rm_session_conn_t c;
    assert_int_equal(rm_session_open(f->m, NULL, &x), RM_OK);
    assert_int_equal(rm_session_begin(f->m, x, 0, &c), RM_OK);
    waiter_t a = {.f = f}, b = {.f = f};
    assert_int_equal(rm_session_open(f->m, NULL, &a.id), RM_OK);
    assert_int_equal(rm_session_open(f->m, NULL, &b.id), RM_OK);
    pthread_t ta, tb;
    pthread_create(&ta, NULL, wait_begin, &a);
    pthread_create(&tb, NULL, wait_begin, &b);
    while (stats(f).connections_waiting < 2)
        sched_yield();
    assert_int_equal(rm_session_close(f->m, a.id), RM_OK);   /* a's waiter now waits for nothing */
    assert_int_equal(rm_session_end(f->m, x), RM_OK);        /* one signal: whoever gets it, b binds */
    pthread_join(tb, NULL);
    assert_int_equal(b.rc, RM_OK);
    assert_int_equal(rm_session_end(f->m, b.id), RM_OK);     /* wakes a, which finds its session gone */
    pthread_join(ta, NULL);
    assert_int_equal(a.rc, RM_ENOENT);
    done(f);
}

static void
test_session_close_mid_txn_rolls_back_and_releases_slot(void **state)
{
    fixture_t *f = mk(1, 100, 10, 0);
    rm_session_id_t a, b;
    rm_session_conn_t c;
    assert_int_equal(rm_session_open(f->m, NULL, &a), RM_OK);
    assert_int_equal(rm_session_open(f->m, NULL, &b), RM_OK);
    assert_int_equal(rm_session_begin(f->m, a, 0, &c), RM_OK);
    assert_int_equal(rm_session_close(f->m, a), RM_OK);
    assert_int_equal(atomic_load(&f->hooks.abandoned), 1);
    assert_int_equal(atomic_load(&f->hooks.last_abandoned), a);
    rm_session_stats_t st = stats(f);
    assert_int_equal(st.abandoned_txns, 1);
    assert_int_equal(st.connections_busy, 0);
    assert_int_equal(rm_session_begin(f->m, b, 0, &c), RM_OK);   /* the slot is free again */
    assert_int_equal(rm_session_close(f->m, b), RM_OK);
    assert_int_equal(atomic_load(&f->hooks.abandoned), 2);
    done(f);
}

static void
test_session_pool_shrink_closes_idle_slots_and_unmaps(void **state)
{
    fixture_t *f = mk(8, 100, 10, 0);
    rm_session_id_t s[6];
    rm_session_conn_t c;
    for (int i = 0; i < 6; i++) {
        assert_int_equal(rm_session_open(f->m, NULL, &s[i]), RM_OK);
        assert_int_equal(rm_session_begin(f->m, s[i], 0, &c), RM_OK);
    }
    for (int i = 0; i < 6; i++)
        assert_int_equal(rm_session_end(f->m, s[i]), RM_OK);
    assert_int_equal(f->pages.mapped_bytes, 6 * 16384);
    uint64_t held_before = stats(f).connection_bytes;
    assert_int_equal(rm_session_pool_apply(f->m, 2), RM_OK);
    rm_session_stats_t st = stats(f);
    assert_int_equal(st.connections_open, 2);
    assert_int_equal(st.pool_size, 2);
    assert_int_equal(st.slots_closed, 4);
    assert_int_equal(atomic_load(&f->hooks.closed), 4);
    assert_int_equal(f->pages.mapped_bytes, 2 * 16384);
    assert_true(st.connection_bytes <= held_before - 4 * 16384);
    /* Only two slots may be open now. */
    assert_int_equal(rm_session_begin(f->m, s[0], 0, &c), RM_OK);
    assert_int_equal(rm_session_begin(f->m, s[1], 0, &c), RM_OK);
    assert_int_equal(rm_session_begin(f->m, s[2], 0, &c), RM_EBUSY);
    assert_int_equal(rm_session_set_pool_size(f->m, 3), RM_OK);
    assert_int_equal(rm_session_begin(f->m, s[2], 0, &c), RM_OK);
    assert_int_equal(rm_session_set_pool_size(f->m, 0), RM_EINVAL);
    for (int i = 0; i < 3; i++)
        assert_int_equal(rm_session_end(f->m, s[i]), RM_OK);
    done(f);
}

static void
test_session_busy_slot_closes_at_release_when_pool_shrunk(void **state)
{
    fixture_t *f = mk(4, 100, 10, 0);
    rm_session_id_t s[3];
    rm_session_conn_t c;
    for (int i = 0; i < 3; i++) {
        assert_int_equal(rm_session_open(f->m, NULL, &s[i]), RM_OK);
        assert_int_equal(rm_session_begin(f->m, s[i], 0, &c), RM_OK);
    }
    assert_int_equal(rm_session_set_pool_size(f->m, 1), RM_OK);
    assert_int_equal(stats(f).connections_open, 3);   /* busy slots are not taken away */
    assert_int_equal(rm_session_end(f->m, s[0]), RM_OK);
    assert_int_equal(rm_session_end(f->m, s[1]), RM_OK);
    assert_int_equal(stats(f).connections_open, 1);
    assert_int_equal(rm_session_end(f->m, s[2]), RM_OK);
    assert_int_equal(stats(f).connections_open, 1);
    assert_int_equal(f->pages.mapped_bytes, 16384);
    done(f);
}

static void
test_session_set_max_connections_closes_slots_above(void **state)
{
    fixture_t *f = mk(4, 100, 10, 0);
    rm_session_id_t s[4];
    rm_session_conn_t c;
    for (int i = 0; i < 4; i++) {
        assert_int_equal(rm_session_open(f->m, NULL, &s[i]), RM_OK);
        assert_int_equal(rm_session_begin(f->m, s[i], 0, &c), RM_OK);
    }
    for (int i = 0; i < 4; i++)
        assert_int_equal(rm_session_end(f->m, s[i]), RM_OK);
    assert_int_equal(rm_session_set_max_connections(f->m, 2), RM_OK);
    rm_session_stats_t st = stats(f);
    assert_int_equal(st.connections_open, 2);
    assert_int_equal(st.max_connections, 2);
    assert_int_equal(rm_session_set_max_connections(f->m, 0), RM_EINVAL);
    assert_int_equal(rm_session_set_max_connections(f->m, 16), RM_OK);   /* table grows */
    assert_int_equal(rm_session_set_pool_size(f->m, 16), RM_OK);
    for (int i = 0; i < 4; i++)
        assert_int_equal(rm_session_begin(f->m, s[i], 0, &c), RM_OK);
    assert_int_equal(stats(f).connections_busy, 4);
    for (int i = 0; i < 4; i++)
        assert_int_equal(rm_session_end(f->m, s[i]), RM_OK);
    done(f);
}

static void
test_session_begin_enomem_when_scratch_map_fails(void **state)
{
    fixture_t *f = mk(4, 100, 10, 0);
    rm_session_id_t a;
    rm_session_conn_t c;
    assert_int_equal(rm_session_open(f->m, NULL, &a), RM_OK);
    rm_pagesrc_faulty_arm(&f->pages, 1, 0);
    assert_int_equal(rm_session_begin(f->m, a, 0, &c), RM_ENOMEM);
    rm_session_stats_t st = stats(f);
    assert_int_equal(st.connections_open, 0);
    assert_int_equal(st.sessions_active, 0);
    assert_int_equal(f->pages.mapped_bytes, 0);
    assert_int_equal(atomic_load(&f->hooks.opened), 0);
    rm_session_info_t info;
    assert_int_equal(rm_session_get(f->m, a, &info), RM_OK);
    assert_int_equal(info.slot, -1);
    assert_int_equal(rm_session_begin(f->m, a, 0, &c), RM_OK);   /* disarmed after one failure */
    assert_int_equal(rm_session_end(f->m, a), RM_OK);
    done(f);
}

static void
test_session_begin_fails_when_slot_open_hook_fails(void **state)
{
    fixture_t *f = mk(4, 100, 10, 0);
    rm_session_id_t a;
    rm_session_conn_t c;
    assert_int_equal(rm_session_open(f->m, NULL, &a), RM_OK);
    atomic_store(&f->hooks.open_fail, 1);
    assert_int_equal(rm_session_begin(f->m, a, 0, &c), RM_ENOMEM);
    assert_int_equal(f->pages.mapped_bytes, 0);
    assert_int_equal(stats(f).connections_open, 0);
    atomic_store(&f->hooks.open_fail, 0);
    assert_int_equal(rm_session_begin(f->m, a, 0, &c), RM_OK);
    assert_int_equal(rm_session_end(f->m, a), RM_OK);
    done(f);
}

static void
test_session_open_enomem_leaves_state_unchanged(void **state)
{
    fixture_t *f = mk(4, 100, 10, 0);
    rm_session_id_t a = 5;
    f->fa.countdown = 1;
    assert_int_equal(rm_session_open(f->m, NULL, &a), RM_ENOMEM);
    assert_int_equal(a, 5);
    rm_session_stats_t st = stats(f);
    assert_int_equal(st.sessions, 0);
    assert_int_equal(st.opened_total, 0);
    /* Slot record allocation failing fails begin cleanly too. */
    assert_int_equal(rm_session_open(f->m, NULL, &a), RM_OK);
    f->fa.countdown = 1;
    rm_session_conn_t c;
    assert_int_equal(rm_session_begin(f->m, a, 0, &c), RM_ENOMEM);
    assert_int_equal(stats(f).connections_open, 0);
    done(f);
}

static void
test_session_list_idle_uses_last_activity(void **state)
{
    fixture_t *f = mk(4, 100, 10, 0);
    rm_session_id_t a, b, c;
    rm_session_conn_t conn;
    assert_int_equal(rm_session_open(f->m, NULL, &a), RM_OK);
    assert_int_equal(rm_session_open(f->m, NULL, &b), RM_OK);
    assert_int_equal(rm_session_begin(f->m, b, 0, &conn), RM_OK);   /* bound, then idle */
    f->clk.ns += 1000;
    assert_int_equal(rm_session_open(f->m, NULL, &c), RM_OK);
    assert_int_equal(rm_session_touch(f->m, a), RM_OK);
    f->clk.ns += 500;
    rm_session_info_t out[4];
    size_t n = 0;
    rm_session_list_idle(f->m, 1000, out, 4, &n);
    assert_int_equal(n, 1);
    assert_int_equal(out[0].id, b);
    assert_int_equal(out[0].slot, (int32_t)conn.slot);
    rm_session_list_idle(f->m, 400, out, 1, &n);
    assert_int_equal(n, 3);   /* total reported beyond cap */
    assert_int_equal(rm_session_end(f->m, b), RM_OK);
    done(f);
}

static void
test_session_idle_session_accounts_under_2k(void **state)
{
    fixture_t *f = mk(1000, 10000, 10, 0);
    rm_session_id_t *ids = malloc(10000 * sizeof *ids);
    for (int i = 0; i < 10000; i++)
        assert_int_equal(rm_session_open(f->m, NULL, &ids[i]), RM_OK);
    rm_session_stats_t st = stats(f);
    assert_int_equal(st.sessions, 10000);
    assert_true(st.bytes_per_session <= 2048);
    assert_true(st.bytes_per_session >= RM_SESSION_RECORD_BYTES);
    print_message("accounted bytes per idle session: %llu\n",
                  (unsigned long long)st.bytes_per_session);
    rm_session_id_t x;
    assert_int_equal(rm_session_open(f->m, NULL, &x), RM_ELIMIT);
    for (int i = 0; i < 10000; i++)
        assert_int_equal(rm_session_close(f->m, ids[i]), RM_OK);
    free(ids);
    done(f);
}

static void
test_session_accounting_reports_session_and_pool(void **state)
{
    fixture_t *f = mk(4, 100, 10, 0);
    rm_session_id_t a;
    rm_session_conn_t c;
    assert_int_equal(rm_session_open(f->m, NULL, &a), RM_OK);
    assert_int_equal(rm_session_begin(f->m, a, 0, &c), RM_OK);
    rm_component_usage_t comps[RM_COMPONENTS_MAX];
    size_t n = 0;
    rm_stats_components(comps, RM_COMPONENTS_MAX, &n);
    int seen = 0;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(comps[i].name, "session") == 0) {
            seen |= 1;
            assert_true(comps[i].used_bytes >= RM_SESSION_RECORD_BYTES);
        } else if (strcmp(comps[i].name, "pool") == 0) {
            seen |= 2;
            assert_true(comps[i].used_bytes >= 16384);
            assert_true(comps[i].held_bytes >= comps[i].used_bytes);
        }
    }
    assert_int_equal(seen, 3);
    assert_int_equal(rm_session_end(f->m, a), RM_OK);
    done(f);
}

/* ---- concurrency ------------------------------------------------------------------ */

typedef struct stress {
    fixture_t *f;
    atomic_int stop;
    atomic_long txns, busy;
} stress_t;

static void *
stress_client(void *arg)
{
    stress_t *st = arg;
    unsigned seed = (unsigned)(uintptr_t)pthread_self();
    for (int i = 0; i < 1500; i++) {
        rm_session_id_t id;
        if (rm_session_open(st->f->m, NULL, &id) != RM_OK) {
            sched_yield();   /* admission closed: let the responder reopen it */
            continue;
        }
        for (int j = 0; j < 5; j++) {
            rm_session_conn_t c;
            rm_status_t rc = rm_session_begin(st->f->m, id, (rand_r(&seed) % 2) ? 1000000 : 0, &c);
            if (rc != RM_OK) {
                atomic_fetch_add(&st->busy, 1);
                continue;
            }
            ((volatile char *)c.scratch)[rand_r(&seed) % c.scratch_bytes] = 1;
            rm_session_touch(st->f->m, id);
            sched_yield();   /* hold the slot a little so others contend */
            atomic_fetch_add(&st->txns, 1);
            if (rand_r(&seed) % 10 == 0)
                break;   /* close mid-transaction below */
            rm_session_end(st->f->m, id);
        }
        rm_session_close(st->f->m, id);
    }
    return NULL;
}

static void *
stress_sizer(void *arg)
{
    stress_t *st = arg;
    unsigned seed = 7;
    while (!atomic_load(&st->stop)) {
        rm_session_set_pool_size(st->f->m, 1 + rand_r(&seed) % 6);
        rm_session_set_admission(st->f->m, (rand_r(&seed) >> 12) % 16 != 0);
        rm_session_stats_t s;
        rm_session_stats(st->f->m, &s);
        size_t n;
        rm_session_list_idle(st->f->m, 0, NULL, 0, &n);
        rm_component_usage_t comps[RM_COMPONENTS_MAX];
        rm_stats_components(comps, RM_COMPONENTS_MAX, &n);
    }
    return NULL;
}

static void
test_session_concurrent_clients_and_resizing(void **state)
{
    fixture_t *f = mk(6, 1000, 100, 0);
    stress_t st = {.f = f};
    pthread_t cl[4], sz;
    for (int i = 0; i < 4; i++)
        pthread_create(&cl[i], NULL, stress_client, &st);
    pthread_create(&sz, NULL, stress_sizer, &st);
    for (int i = 0; i < 4; i++)
        pthread_join(cl[i], NULL);
    atomic_store(&st.stop, 1);
    pthread_join(sz, NULL);
    rm_session_stats_t s = stats(f);
    assert_int_equal(s.sessions, 0);
    assert_int_equal(s.connections_busy, 0);
    assert_int_equal(s.connections_waiting, 0);
    assert_true(s.connections_open <= 6);
    assert_int_equal(f->pages.mapped_bytes, (int64_t)s.connections_open * 16384);
    print_message("stress: %ld transactions, %ld busy, %llu rejected, %llu waits, %llu slots opened\n",
                  atomic_load(&st.txns), atomic_load(&st.busy),
                  (unsigned long long)s.rejected_admission, (unsigned long long)s.waits,
                  (unsigned long long)s.slots_opened);
    assert_true(atomic_load(&st.txns) > 0);
    assert_int_equal(s.abandoned_txns, (uint64_t)atomic_load(&f->hooks.abandoned));
    done(f);
}

/* an allocator without alloc or free is refused, *out untouched */
static void
test_session_create_einval_on_incomplete_allocator(void **state)
{
    rm_session_mux_t *m = NULL;
    falloc_t fa = {0};
    rm_recalloc_t half[2];
    falloc_halves(&fa, half);
    for (int i = 0; i < 2; i++)
        assert_int_equal(rm_session_mux_create(&(rm_session_config_t){.alloc = &half[i]}, &m), RM_EINVAL);
    assert_null(m);
    assert_int_equal(fa.allocs, 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_session_create_einval_on_incomplete_allocator),
        cmocka_unit_test(test_session_open_close_round_trip),
        cmocka_unit_test(test_session_ids_are_random_with_no_shared_half_or_sequence),
        cmocka_unit_test(test_session_stale_and_unknown_ids_enoent),
        cmocka_unit_test(test_session_id_map_holds_under_growth_and_deletion),
        cmocka_unit_test(test_session_id_redrawn_when_zero_or_live),
        cmocka_unit_test(test_session_open_fails_cleanly_when_random_source_fails),
        cmocka_unit_test(test_session_open_rejected_when_admission_closed),
        cmocka_unit_test(test_session_open_elimit_at_session_limit),
        cmocka_unit_test(test_session_begin_binds_slot_and_end_releases),
        cmocka_unit_test(test_session_begin_estate_when_already_bound),
        cmocka_unit_test(test_session_begin_ebusy_when_all_slots_busy),
        cmocka_unit_test(test_session_begin_waits_until_slot_released),
        cmocka_unit_test(test_session_waiter_gets_slot_when_other_waiter_session_closed),
        cmocka_unit_test(test_session_close_mid_txn_rolls_back_and_releases_slot),
        cmocka_unit_test(test_session_pool_shrink_closes_idle_slots_and_unmaps),
        cmocka_unit_test(test_session_busy_slot_closes_at_release_when_pool_shrunk),
        cmocka_unit_test(test_session_set_max_connections_closes_slots_above),
        cmocka_unit_test(test_session_begin_enomem_when_scratch_map_fails),
        cmocka_unit_test(test_session_begin_fails_when_slot_open_hook_fails),
        cmocka_unit_test(test_session_open_enomem_leaves_state_unchanged),
        cmocka_unit_test(test_session_list_idle_uses_last_activity),
        cmocka_unit_test(test_session_idle_session_accounts_under_2k),
        cmocka_unit_test(test_session_accounting_reports_session_and_pool),
        cmocka_unit_test(test_session_concurrent_clients_and_resizing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
