/*
 * test_mvcc.c — the MVCC version store: visibility, conflicts, compaction,
 * orphans, allocation failure, a reference-model property test with
 * compaction running, and a multi-threaded bank-transfer stress test.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <time.h>
#include <stdatomic.h>

#include <cmocka.h>

#include "rustymem/mvcc.h"
#include "rustymem/stats.h"

#include "../support/fail_alloc.h"
#include "../support/fake_clock.h"

/* ---- fixtures -------------------------------------------------------------- */

static rm_mvcc_t *
mk(uint32_t maxv, fclock_t *clk, falloc_t *fa, rm_recalloc_t *ra)
{
    rm_mvcc_config_t cfg = {.max_versions_per_key = maxv, .initial_buckets = 64};
    if (clk) {
        cfg.now_ns = fclock_now;
        cfg.now_ctx = clk;
    }
    if (fa) {
        *ra = falloc_recalloc(fa);
        cfg.alloc = ra;
    }
    rm_mvcc_t *s = NULL;
    assert_int_equal(rm_mvcc_create(&cfg, &s), RM_OK);
    return s;
}

static void
put_commit(rm_mvcc_t *s, const char *k, const char *v)
{
    rm_mvcc_txn_t *t;
    assert_int_equal(rm_mvcc_begin(s, 1, &t), RM_OK);
    assert_int_equal(rm_mvcc_put(t, k, strlen(k), v, strlen(v)), RM_OK);
    assert_int_equal(rm_mvcc_commit(t), RM_OK);
}

static void
want_value(rm_mvcc_txn_t *t, const char *k, const char *want)
{
    char buf[512];
    size_t len = 0;
    rm_status_t rc = rm_mvcc_get(t, k, strlen(k), buf, sizeof buf, &len);
    if (!want) {
        assert_int_equal(rc, RM_ENOENT);
        return;
    }
    assert_int_equal(rc, RM_OK);
    assert_int_equal(len, strlen(want));
    assert_memory_equal(buf, want, len);
}

static size_t
chain_len(rm_mvcc_t *s, const char *k)
{
    size_t n = 0;
    if (rm_mvcc_chain_length(s, k, strlen(k), &n) != RM_OK)
        return 0;
    return n;
}


/* A value store in memory: up to 64 slots, counts live handles; can be told
 * to refuse puts or to fail gets. */
typedef struct fstore {
    void *slot[64];
    size_t len[64];
    int live, puts, frees;
    int refuse_puts;        /* put → RM_ENOMEM */
    rm_status_t get_error;  /* returned by get when not RM_OK */
} fstore_t;

static rm_status_t
fstore_put(void *ctx, const void *val, size_t vlen, uint64_t *handle)
{
    fstore_t *f = ctx;
    if (f->refuse_puts)
        return RM_ENOMEM;
    for (uint64_t i = 0; i < 64; i++)
        if (!f->slot[i]) {
            f->slot[i] = malloc(vlen);
            memcpy(f->slot[i], val, vlen);
            f->len[i] = vlen;
            f->live++;
            f->puts++;
            *handle = i + 1000;   /* not an index: the store owns the encoding */
            return RM_OK;
        }
    return RM_ENOMEM;
}

static rm_status_t
fstore_get(void *ctx, uint64_t handle, void *buf, size_t vlen)
{
    fstore_t *f = ctx;
    if (f->get_error != RM_OK)
        return f->get_error;
    uint64_t i = handle - 1000;
    assert_true(i < 64 && f->slot[i] && f->len[i] == vlen);
    memcpy(buf, f->slot[i], vlen);
    return RM_OK;
}

static void
fstore_free(void *ctx, uint64_t handle, size_t vlen)
{
    fstore_t *f = ctx;
    uint64_t i = handle - 1000;
    assert_true(i < 64 && f->slot[i] && f->len[i] == vlen);
    free(f->slot[i]);
    f->slot[i] = NULL;
    f->live--;
    f->frees++;
}

static rm_mvcc_t *
mk_stored(fstore_t *f, uint32_t maxv, size_t max_bytes)
{
    rm_mvcc_valstore_t vs = {.put = fstore_put, .get = fstore_get, .free = fstore_free, .ctx = f,
                             .max_bytes = max_bytes};
    rm_mvcc_config_t cfg = {.max_versions_per_key = maxv, .initial_buckets = 64, .valstore = &vs};
    rm_mvcc_t *s = NULL;
    assert_int_equal(rm_mvcc_create(&cfg, &s), RM_OK);   /* vs is copied */
    return s;
}

static void
fill(unsigned char *v, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++)
        v[i] = (unsigned char)(i * 13 + seed);
}

static void
put_bytes(rm_mvcc_t *s, const char *k, const void *v, size_t n)
{
    rm_mvcc_txn_t *t;
    assert_int_equal(rm_mvcc_begin(s, 1, &t), RM_OK);
    assert_int_equal(rm_mvcc_put(t, k, strlen(k), v, n), RM_OK);
    assert_int_equal(rm_mvcc_commit(t), RM_OK);
}

/* ---- behaviours ------------------------------------------------------------ */

static void
test_mvcc_snapshot_sees_only_commits_before_begin(void **state)
{
    rm_mvcc_t *s = mk(0, NULL, NULL, NULL);
    put_commit(s, "k", "v1");
    rm_mvcc_txn_t *old;
    assert_int_equal(rm_mvcc_begin(s, 1, &old), RM_OK);
    put_commit(s, "k", "v2");
    put_commit(s, "j", "x");
    want_value(old, "k", "v1");
    want_value(old, "j", NULL);
    rm_mvcc_txn_t *now;
    assert_int_equal(rm_mvcc_begin(s, 1, &now), RM_OK);
    want_value(now, "k", "v2");
    want_value(now, "j", "x");
    assert_int_equal(rm_mvcc_commit(old), RM_OK);
    assert_int_equal(rm_mvcc_commit(now), RM_OK);
    rm_mvcc_destroy(s);
}

static void
test_mvcc_own_writes_visible_before_commit(void **state)
{
    rm_mvcc_t *s = mk(0, NULL, NULL, NULL);
    rm_mvcc_txn_t *a, *b;
    assert_int_equal(rm_mvcc_begin(s, 1, &a), RM_OK);
    assert_int_equal(rm_mvcc_begin(s, 2, &b), RM_OK);
    assert_int_equal(rm_mvcc_put(a, "k", 1, "1", 1), RM_OK);
    assert_int_equal(rm_mvcc_put(a, "k", 1, "22", 2), RM_OK);   /* replaced in place */
    want_value(a, "k", "22");
    want_value(b, "k", NULL);
    assert_int_equal(chain_len(s, "k"), 1);
    assert_int_equal(rm_mvcc_delete(a, "k", 1), RM_OK);
    want_value(a, "k", NULL);
    assert_int_equal(rm_mvcc_delete(a, "k", 1), RM_ENOENT);
    rm_mvcc_abort(a);
    rm_mvcc_abort(b);
    rm_mvcc_destroy(s);
}

static void
test_mvcc_conflict_when_other_txn_holds_uncommitted_write(void **state)
{
    rm_mvcc_t *s = mk(0, NULL, NULL, NULL);
    rm_mvcc_txn_t *a, *b;
    assert_int_equal(rm_mvcc_begin(s, 1, &a), RM_OK);
    assert_int_equal(rm_mvcc_begin(s, 2, &b), RM_OK);
    assert_int_equal(rm_mvcc_put(a, "k", 1, "a", 1), RM_OK);
    assert_int_equal(rm_mvcc_put(b, "k", 1, "b", 1), RM_ECONFLICT);
    assert_int_equal(rm_mvcc_delete(b, "k", 1), RM_ECONFLICT);
    want_value(b, "k", NULL);                 /* loser unchanged */
    assert_int_equal(rm_mvcc_commit(a), RM_OK);
    rm_mvcc_abort(b);
    rm_mvcc_stats_t st;
    rm_mvcc_stats(s, &st);
    assert_int_equal(st.conflicts, 2);
    rm_mvcc_destroy(s);
}

static void
test_mvcc_conflict_when_committed_after_snapshot(void **state)
{
    rm_mvcc_t *s = mk(0, NULL, NULL, NULL);
    put_commit(s, "k", "0");
    rm_mvcc_txn_t *a;
    assert_int_equal(rm_mvcc_begin(s, 1, &a), RM_OK);
    put_commit(s, "k", "1");
    assert_int_equal(rm_mvcc_put(a, "k", 1, "a", 1), RM_ECONFLICT);
    assert_int_equal(rm_mvcc_put(a, "other", 5, "a", 1), RM_OK);
    assert_int_equal(rm_mvcc_commit(a), RM_OK);
    rm_mvcc_destroy(s);
}

static void
test_mvcc_delete_enoent_when_key_absent(void **state)
{
    rm_mvcc_t *s = mk(0, NULL, NULL, NULL);
    rm_mvcc_txn_t *a;
    assert_int_equal(rm_mvcc_begin(s, 1, &a), RM_OK);
    assert_int_equal(rm_mvcc_delete(a, "nope", 4), RM_ENOENT);
    assert_int_equal(rm_mvcc_chain_length(s, "nope", 4, &(size_t){0}), RM_ENOENT);
    rm_mvcc_abort(a);
    rm_mvcc_destroy(s);
}

static void
test_mvcc_get_elimit_when_buffer_small(void **state)
{
    rm_mvcc_t *s = mk(0, NULL, NULL, NULL);
    put_commit(s, "k", "hello");
    rm_mvcc_txn_t *a;
    assert_int_equal(rm_mvcc_begin(s, 1, &a), RM_OK);
    char buf[4] = "zzz";
    size_t len = 0;
    assert_int_equal(rm_mvcc_get(a, "k", 1, buf, sizeof buf, &len), RM_ELIMIT);
    assert_int_equal(len, 5);
    assert_string_equal(buf, "zzz");
    rm_mvcc_abort(a);
    rm_mvcc_destroy(s);
}

static void
test_mvcc_large_value_round_trips(void **state)
{
    rm_mvcc_t *s = mk(0, NULL, NULL, NULL);
    size_t n = 10000;
    unsigned char *v = malloc(n), *r = malloc(n);
    for (size_t i = 0; i < n; i++)
        v[i] = (unsigned char)(i * 7);
    rm_mvcc_txn_t *a;
    assert_int_equal(rm_mvcc_begin(s, 1, &a), RM_OK);
    assert_int_equal(rm_mvcc_put(a, "big", 3, v, n), RM_OK);
    assert_int_equal(rm_mvcc_commit(a), RM_OK);
    assert_int_equal(rm_mvcc_begin(s, 1, &a), RM_OK);
    size_t len = 0;
    assert_int_equal(rm_mvcc_get(a, "big", 3, r, n, &len), RM_OK);
    assert_int_equal(len, n);
    assert_memory_equal(r, v, n);
    rm_mvcc_abort(a);
    rm_mvcc_stats_t st;
    rm_mvcc_stats(s, &st);
    assert_true(st.used_bytes >= RM_MVCC_VERSION_BYTES + n);
    rm_mvcc_destroy(s);
    free(v);
    free(r);
}

static void
test_mvcc_abort_undoes_writes_and_frees_chain(void **state)
{
    falloc_t fa = {0};
    rm_recalloc_t ra;
    rm_mvcc_t *s = mk(0, NULL, &fa, &ra);
    long base = fa.live_bytes;
    rm_mvcc_txn_t *a;
    assert_int_equal(rm_mvcc_begin(s, 1, &a), RM_OK);
    for (int i = 0; i < 100; i++) {
        char k[16];
        snprintf(k, sizeof k, "k%d", i);
        assert_int_equal(rm_mvcc_put(a, k, strlen(k), "v", 1), RM_OK);
    }
    rm_mvcc_abort(a);
    assert_int_equal(fa.live_bytes, base);
    rm_mvcc_stats_t st;
    rm_mvcc_stats(s, &st);
    assert_int_equal(st.keys, 0);
    assert_int_equal(st.versions, 0);
    assert_int_equal(st.aborts, 1);
    rm_mvcc_destroy(s);
    assert_int_equal(fa.live_bytes, 0);
}

static void
test_mvcc_chain_bounded_when_long_snapshot_open(void **state)
{
    rm_mvcc_t *s = mk(10, NULL, NULL, NULL);
    put_commit(s, "k", "orig");
    rm_mvcc_txn_t *longt;
    assert_int_equal(rm_mvcc_begin(s, 99, &longt), RM_OK);
    for (int i = 0; i < 1000; i++) {
        char v[16];
        snprintf(v, sizeof v, "v%d", i);
        put_commit(s, "k", v);
        assert_true(chain_len(s, "k") <= 10);
    }
    want_value(longt, "k", "orig");   /* the long snapshot's version survived */
    rm_mvcc_stats_t st;
    rm_mvcc_stats(s, &st);
    assert_true(st.compactions > 0);
    assert_true(st.versions_dropped >= 990);
    assert_int_equal(rm_mvcc_commit(longt), RM_OK);
    uint64_t freed = 0;
    rm_mvcc_compact_all(s, &freed);
    assert_int_equal(chain_len(s, "k"), 1);
    assert_true(freed > 0);
    rm_mvcc_destroy(s);
}

static void
test_mvcc_chain_grows_to_threshold_without_snapshots(void **state)
{
    rm_mvcc_t *s = mk(5, NULL, NULL, NULL);
    for (int i = 0; i < 5; i++)
        put_commit(s, "k", "v");
    assert_int_equal(chain_len(s, "k"), 5);
    put_commit(s, "k", "v");   /* 6 > 5: compacted at the write to the new version and
                                  the one the writer's own snapshot (and the clock) sees */
    assert_int_equal(chain_len(s, "k"), 2);
    rm_mvcc_destroy(s);
}

static void
test_mvcc_compact_all_keeps_every_snapshot_version(void **state)
{
    rm_mvcc_t *s = mk(1000, NULL, NULL, NULL);
    rm_mvcc_txn_t *snaps[3];
    const char *want[3] = {"a", "c", "e"};
    const char *vals[] = {"a", "b", "c", "d", "e", "f"};
    int si = 0;
    for (int i = 0; i < 6; i++) {
        put_commit(s, "k", vals[i]);
        if (i % 2 == 0)
            assert_int_equal(rm_mvcc_begin(s, 1, &snaps[si++]), RM_OK);
    }
    assert_int_equal(chain_len(s, "k"), 6);
    uint64_t freed = 0;
    rm_mvcc_compact_all(s, &freed);
    assert_int_equal(chain_len(s, "k"), 4);   /* a, c, e for snapshots + f newest */
    assert_int_equal(freed, 2 * RM_MVCC_VERSION_BYTES);
    for (int i = 0; i < 3; i++)
        want_value(snaps[i], "k", want[i]);
    for (int i = 0; i < 3; i++)
        rm_mvcc_abort(snaps[i]);
    rm_mvcc_destroy(s);
}

static void
test_mvcc_compact_drops_deleted_key_when_no_snapshot_needs_it(void **state)
{
    rm_mvcc_t *s = mk(0, NULL, NULL, NULL);
    put_commit(s, "k", "v");
    rm_mvcc_txn_t *d;
    assert_int_equal(rm_mvcc_begin(s, 1, &d), RM_OK);
    assert_int_equal(rm_mvcc_delete(d, "k", 1), RM_OK);
    assert_int_equal(rm_mvcc_commit(d), RM_OK);
    uint64_t freed = 0;
    rm_mvcc_compact_all(s, &freed);
    rm_mvcc_stats_t st;
    rm_mvcc_stats(s, &st);
    assert_int_equal(st.keys, 0);
    assert_int_equal(st.versions, 0);
    assert_true(freed >= 2 * RM_MVCC_VERSION_BYTES);
    rm_mvcc_destroy(s);
}

static void
test_mvcc_compact_idle_skips_recently_written_chains(void **state)
{
    fclock_t clk = {.ns = 1000};
    rm_mvcc_t *s = mk(1000, &clk, NULL, NULL);
    for (int i = 0; i < 3; i++)
        put_commit(s, "old", "v");
    clk.ns += 10 * 1000000000ull;
    for (int i = 0; i < 3; i++)
        put_commit(s, "new", "v");
    uint64_t freed = 0;
    rm_mvcc_compact_idle(s, 5 * 1000000000ull, 0, &freed);
    assert_int_equal(chain_len(s, "old"), 1);
    assert_int_equal(chain_len(s, "new"), 3);
    assert_int_equal(freed, 2 * RM_MVCC_VERSION_BYTES);
    rm_mvcc_destroy(s);
}

static bool
owner_alive_odd(void *ctx, uint64_t owner)
{
    return owner % 2 == 1;
}

static void
test_mvcc_orphans_listed_when_idle_or_owner_gone(void **state)
{
    fclock_t clk = {.ns = 1};
    rm_mvcc_t *s = mk(0, &clk, NULL, NULL);
    rm_mvcc_txn_t *idle, *gone, *busy;
    assert_int_equal(rm_mvcc_begin(s, 1, &idle), RM_OK);
    assert_int_equal(rm_mvcc_begin(s, 2, &gone), RM_OK);   /* even owner: "gone" */
    clk.ns += 100;
    assert_int_equal(rm_mvcc_begin(s, 3, &busy), RM_OK);
    rm_mvcc_txn_info_t out[4];
    size_t n = 0;
    rm_mvcc_list_orphans(s, 50, NULL, NULL, out, 4, &n);
    assert_int_equal(n, 2);
    assert_int_equal(out[0].owner, 1);
    assert_int_equal(out[1].owner, 2);
    rm_mvcc_list_orphans(s, 1000, owner_alive_odd, NULL, out, 4, &n);
    assert_int_equal(n, 1);
    assert_int_equal(out[0].owner, 2);
    rm_mvcc_list_txns(s, out, 4, &n);
    assert_int_equal(n, 3);
    rm_mvcc_abort(idle);
    rm_mvcc_abort(gone);
    rm_mvcc_abort(busy);
    rm_mvcc_destroy(s);
}

static void
test_mvcc_killed_orphan_is_cancelled_and_releases_horizon(void **state)
{
    fclock_t clk = {.ns = 1};
    rm_mvcc_t *s = mk(4, &clk, NULL, NULL);
    put_commit(s, "k", "orig");
    rm_mvcc_txn_t *orphan;
    assert_int_equal(rm_mvcc_begin(s, 7, &orphan), RM_OK);
    assert_int_equal(rm_mvcc_put(orphan, "mine", 4, "x", 1), RM_OK);
    clk.ns += 1000;
    for (int i = 0; i < 10; i++)
        put_commit(s, "k", "v");
    assert_int_equal(chain_len(s, "k"), 3);   /* orig kept for the orphan's snapshot */
    uint64_t killed = 0;
    rm_mvcc_kill_orphans(s, 500, NULL, NULL, &killed);
    assert_int_equal(killed, 1);
    assert_int_equal(rm_mvcc_chain_length(s, "mine", 4, &(size_t){0}), RM_ENOENT);
    size_t len;
    assert_int_equal(rm_mvcc_get(orphan, "k", 1, NULL, 0, &len), RM_ECANCELED);
    assert_int_equal(rm_mvcc_put(orphan, "k", 1, "y", 1), RM_ECANCELED);
    rm_mvcc_compact_all(s, NULL);
    assert_int_equal(chain_len(s, "k"), 1);   /* horizon moved past the orphan */
    rm_mvcc_txn_info_t out[2];
    size_t n;
    rm_mvcc_list_txns(s, out, 2, &n);
    assert_int_equal(n, 1);
    assert_int_equal(out[0].state, RM_MVCC_TXN_KILLED);
    assert_int_equal(rm_mvcc_commit(orphan), RM_ECANCELED);   /* frees the handle */
    rm_mvcc_list_txns(s, out, 2, &n);
    assert_int_equal(n, 0);
    rm_mvcc_destroy(s);
}

static void
test_mvcc_kill_by_id_enoent_when_unknown(void **state)
{
    rm_mvcc_t *s = mk(0, NULL, NULL, NULL);
    rm_mvcc_txn_t *a;
    assert_int_equal(rm_mvcc_begin(s, 1, &a), RM_OK);
    rm_mvcc_txn_info_t info;
    rm_mvcc_txn_get_info(a, &info);
    assert_int_equal(rm_mvcc_kill(s, info.id + 100), RM_ENOENT);
    assert_int_equal(rm_mvcc_kill(s, info.id), RM_OK);
    assert_int_equal(rm_mvcc_kill(s, info.id), RM_ENOENT);
    rm_mvcc_abort(a);
    rm_mvcc_destroy(s);
}

static void
test_mvcc_put_enomem_leaves_state_unchanged(void **state)
{
    /* Fail the 1st, 2nd, … allocation of a write of a new key with a long value
     * (version, external value, chain) and check nothing changed. The txn has
     * already written once, so its write set has room. */
    int failures = 0;
    for (long nth = 1; nth <= 6; nth++) {
        falloc_t fa = {0};
        rm_recalloc_t ra;
        rm_mvcc_t *s = mk(0, NULL, &fa, &ra);
        put_commit(s, "k", "v");
        rm_mvcc_txn_t *t;
        assert_int_equal(rm_mvcc_begin(s, 1, &t), RM_OK);
        assert_int_equal(rm_mvcc_put(t, "k0", 2, "0", 1), RM_OK);
        rm_mvcc_stats_t before, after;
        rm_mvcc_stats(s, &before);
        long live = fa.live_bytes;
        char big[300];
        memset(big, 'b', sizeof big);
        fa.countdown = nth;
        rm_status_t rc = rm_mvcc_put(t, "newkey", 6, big, sizeof big);
        fa.countdown = 0;
        if (rc == RM_OK) {
            rm_mvcc_abort(t);
            rm_mvcc_destroy(s);
            break;   /* past the last allocation */
        }
        failures++;
        assert_int_equal(rc, RM_ENOMEM);
        assert_int_equal(fa.live_bytes, live);
        rm_mvcc_stats(s, &after);
        assert_int_equal(after.keys, before.keys);
        assert_int_equal(after.versions, before.versions);
        assert_int_equal(after.used_bytes, before.used_bytes);
        want_value(t, "newkey", NULL);
        want_value(t, "k", "v");
        assert_int_equal(rm_mvcc_put(t, "newkey", 6, big, sizeof big), RM_OK);   /* retry works */
        assert_int_equal(rm_mvcc_commit(t), RM_OK);
        rm_mvcc_destroy(s);
        assert_int_equal(fa.live_bytes, 0);
    }
    assert_int_equal(failures, 3);
}

static void
test_mvcc_put_enomem_when_write_set_cannot_grow(void **state)
{
    falloc_t fa = {0};
    rm_recalloc_t ra;
    rm_mvcc_t *s = mk(0, NULL, &fa, &ra);
    rm_mvcc_txn_t *t;
    assert_int_equal(rm_mvcc_begin(s, 1, &t), RM_OK);
    long live = fa.live_bytes;
    fa.countdown = 1;
    assert_int_equal(rm_mvcc_put(t, "k", 1, "v", 1), RM_ENOMEM);
    assert_int_equal(fa.live_bytes, live);
    want_value(t, "k", NULL);
    rm_mvcc_txn_info_t info;
    rm_mvcc_txn_get_info(t, &info);
    assert_int_equal(info.writes, 0);
    rm_mvcc_abort(t);
    rm_mvcc_destroy(s);
}

static void
test_mvcc_begin_enomem_registers_nothing(void **state)
{
    falloc_t fa = {0};
    rm_recalloc_t ra;
    rm_mvcc_t *s = mk(0, NULL, &fa, &ra);
    fa.countdown = 1;
    rm_mvcc_txn_t *t = NULL;
    assert_int_equal(rm_mvcc_begin(s, 1, &t), RM_ENOMEM);
    size_t n = 9;
    rm_mvcc_list_txns(s, NULL, 0, &n);
    assert_int_equal(n, 0);
    rm_mvcc_destroy(s);
}

typedef struct scanacc {
    int count;
    int stop_after;
} scanacc_t;

static int
scan_count(void *ctx, const void *k, size_t kl, const void *v, size_t vl)
{
    scanacc_t *a = ctx;
    a->count++;
    return a->stop_after && a->count >= a->stop_after;
}

static void
test_mvcc_scan_visits_visible_keys_and_stops_when_asked(void **state)
{
    rm_mvcc_t *s = mk(0, NULL, NULL, NULL);
    for (int i = 0; i < 500; i++) {   /* also grows the table past 64 buckets */
        char k[16];
        snprintf(k, sizeof k, "k%d", i);
        put_commit(s, k, "v");
    }
    rm_mvcc_txn_t *t;
    assert_int_equal(rm_mvcc_begin(s, 1, &t), RM_OK);
    assert_int_equal(rm_mvcc_delete(t, "k3", 2), RM_OK);
    scanacc_t acc = {0};
    assert_int_equal(rm_mvcc_scan(t, scan_count, &acc), RM_OK);
    assert_int_equal(acc.count, 499);
    acc = (scanacc_t){.stop_after = 10};
    assert_int_equal(rm_mvcc_scan(t, scan_count, &acc), RM_ECANCELED);
    assert_int_equal(acc.count, 10);
    rm_mvcc_abort(t);
    rm_mvcc_destroy(s);
}

static void
test_mvcc_accounting_reports_mvcc_component(void **state)
{
    rm_mvcc_t *s = mk(0, NULL, NULL, NULL);
    put_commit(s, "k", "v");
    rm_component_usage_t comps[RM_COMPONENTS_MAX];
    size_t n = 0;
    rm_stats_components(comps, RM_COMPONENTS_MAX, &n);
    int found = 0;
    for (size_t i = 0; i < n; i++)
        if (strcmp(comps[i].name, "mvcc") == 0) {
            found = 1;
            assert_true(comps[i].used_bytes >= RM_MVCC_VERSION_BYTES);
            assert_true(comps[i].held_bytes > comps[i].used_bytes);
        }
    assert_true(found);
    rm_mvcc_destroy(s);
}

static void
test_mvcc_set_max_versions_rejects_zero(void **state)
{
    rm_mvcc_t *s = mk(7, NULL, NULL, NULL);
    assert_int_equal(rm_mvcc_set_max_versions_per_key(s, 0), RM_EINVAL);
    rm_mvcc_stats_t st;
    rm_mvcc_stats(s, &st);
    assert_int_equal(st.max_versions_per_key, 7);
    assert_int_equal(rm_mvcc_set_max_versions_per_key(s, 100), RM_OK);
    rm_mvcc_stats(s, &st);
    assert_int_equal(st.max_versions_per_key, 100);
    rm_mvcc_destroy(s);
}

/* ---- reference-model property test ----------------------------------------- */

#define PM_KEYS   6
#define PM_SLOTS  5          /* concurrent short transactions; slot 0 is the long one */
#define PM_VMAX   220        /* value bytes: crosses the inline limit */

/* Coverage counters over all seeds, so the test proves it exercised each path. */
static struct {
    long reads_present, reads_absent, conflicts, enoent_deletes, commits, dropped;
} pm_cov;

typedef struct pm_ver {
    uint64_t cts;
    int tomb;
    size_t len;
    unsigned char val[PM_VMAX];
} pm_ver_t;

typedef struct pm_hist {
    pm_ver_t *v;          /* committed versions, oldest first */
    size_t n, cap;
} pm_hist_t;

typedef struct pm_txn {
    rm_mvcc_txn_t *t;
    uint64_t snap;
    int wrote[PM_KEYS];   /* 0 none, 1 put, 2 delete */
    size_t wlen[PM_KEYS];
    unsigned char wval[PM_KEYS][PM_VMAX];
} pm_txn_t;

typedef struct pm {
    pm_hist_t h[PM_KEYS];
    uint64_t clock;
    pm_txn_t tx[PM_SLOTS];
    int live[PM_SLOTS];
    uint64_t rng;
} pm_t;

static uint64_t
pm_rand(pm_t *m)
{
    m->rng ^= m->rng << 13;
    m->rng ^= m->rng >> 7;
    m->rng ^= m->rng << 17;
    return m->rng;
}

static const char *
pm_key(int k)
{
    static const char *names[PM_KEYS] = {"alpha", "beta", "gamma", "delta", "eps", "zeta"};
    return names[k];
}

/* The model's committed answer for key k at snapshot snap: version or NULL. */
static const pm_ver_t *
pm_visible(const pm_t *m, int k, uint64_t snap)
{
    const pm_hist_t *h = &m->h[k];
    for (size_t i = h->n; i-- > 0;)
        if (h->v[i].cts <= snap)
            return h->v[i].tomb ? NULL : &h->v[i];
    return NULL;
}

static void
pm_check_read(pm_t *m, int slot, int k)
{
    pm_txn_t *x = &m->tx[slot];
    const unsigned char *want = NULL;
    size_t wlen = 0;
    int present;
    if (x->wrote[k]) {
        present = x->wrote[k] == 1;
        want = x->wval[k];
        wlen = x->wlen[k];
    } else {
        const pm_ver_t *v = pm_visible(m, k, x->snap);
        present = v != NULL;
        if (v) {
            want = v->val;
            wlen = v->len;
        }
    }
    unsigned char buf[PM_VMAX];
    size_t len = 0;
    rm_status_t rc = rm_mvcc_get(x->t, pm_key(k), strlen(pm_key(k)), buf, sizeof buf, &len);
    if (!present) {
        pm_cov.reads_absent++;
        assert_int_equal(rc, RM_ENOENT);
    } else {
        pm_cov.reads_present++;
        assert_int_equal(rc, RM_OK);
        assert_int_equal(len, wlen);
        assert_memory_equal(buf, want, len);
    }
}

/* Would a write of key k by slot conflict in the model? */
static int
pm_conflicts(const pm_t *m, int slot, int k)
{
    const pm_txn_t *x = &m->tx[slot];
    for (int o = 0; o < PM_SLOTS; o++)
        if (o != slot && m->live[o] && m->tx[o].wrote[k])
            return 1;
    const pm_hist_t *h = &m->h[k];
    return !x->wrote[k] && h->n && h->v[h->n - 1].cts > x->snap;
}

/* Versions the store must still hold for key k: one per distinct answer over
 * live snapshots and the clock, plus an uncommitted write. */
static size_t
pm_needed(const pm_t *m, int k)
{
    const pm_hist_t *h = &m->h[k];
    size_t need = 0;
    uint64_t snaps[PM_SLOTS + 1];
    size_t ns = 0;
    for (int o = 0; o < PM_SLOTS; o++)
        if (m->live[o])
            snaps[ns++] = m->tx[o].snap;
    snaps[ns++] = m->clock;
    for (size_t i = 0; i < h->n; i++) {
        uint64_t lo = h->v[i].cts, hi = i + 1 < h->n ? h->v[i + 1].cts : UINT64_MAX;
        for (size_t j = 0; j < ns; j++)
            if (snaps[j] >= lo && snaps[j] < hi) {
                need++;
                break;
            }
    }
    for (int o = 0; o < PM_SLOTS; o++)
        if (m->live[o] && m->tx[o].wrote[k])
            need++;
    return need;
}

static void
pm_commit_model(pm_t *m, int slot)
{
    pm_txn_t *x = &m->tx[slot];
    int any = 0;
    for (int k = 0; k < PM_KEYS; k++)
        any |= x->wrote[k] != 0;
    if (any) {
        m->clock++;
        for (int k = 0; k < PM_KEYS; k++) {
            if (!x->wrote[k])
                continue;
            pm_hist_t *h = &m->h[k];
            if (h->n == h->cap) {
                h->cap = h->cap ? 2 * h->cap : 16;
                h->v = realloc(h->v, h->cap * sizeof *h->v);
                assert_non_null(h->v);
            }
            pm_ver_t *v = &h->v[h->n++];
            v->cts = m->clock;
            v->tomb = x->wrote[k] == 2;
            v->len = x->wlen[k];
            memcpy(v->val, x->wval[k], x->wlen[k]);
        }
    }
    m->live[slot] = 0;
}

static void
pm_begin(pm_t *m, rm_mvcc_t *s, int slot)
{
    pm_txn_t *x = &m->tx[slot];
    memset(x->wrote, 0, sizeof x->wrote);
    assert_int_equal(rm_mvcc_begin(s, (uint64_t)slot, &x->t), RM_OK);
    x->snap = m->clock;
    m->live[slot] = 1;
    rm_mvcc_txn_info_t info;
    rm_mvcc_txn_get_info(x->t, &info);
    assert_int_equal(info.snapshot_ts, x->snap);
}

static void
pm_assert_chain_bound(pm_t *m, rm_mvcc_t *s, int k, size_t maxv)
{
    size_t len = 0;
    if (rm_mvcc_chain_length(s, pm_key(k), strlen(pm_key(k)), &len) != RM_OK)
        len = 0;
    size_t need = pm_needed(m, k);
    assert_true(len <= (need > maxv ? need : maxv));
}

static void
run_property(uint64_t seed, int steps)
{
    pm_t *m = calloc(1, sizeof *m);
    m->rng = seed * 0x9E3779B97F4A7C15ull + 1;
    m->clock = 1;   /* the store starts at 1 too */
    fclock_t clk = {.ns = 1};
    size_t maxv = 2 + pm_rand(m) % 4;
    rm_mvcc_t *s = mk((uint32_t)maxv, &clk, NULL, NULL);

    pm_begin(m, s, 0);   /* the long-running transaction */
    int long_age = 0;
    for (int step = 0; step < steps; step++) {
        clk.ns += 1 + pm_rand(m) % 1000;
        int slot = (int)(pm_rand(m) % PM_SLOTS);
        /* The long transaction only reads, and lives for ~steps/4 steps. */
        if (slot == 0 && m->live[0] && ++long_age < steps / 4) {
            pm_check_read(m, 0, (int)(pm_rand(m) % PM_KEYS));
            continue;
        }
        if (!m->live[slot]) {
            pm_begin(m, s, slot);
            if (slot == 0)
                long_age = 0;
            continue;
        }
        pm_txn_t *x = &m->tx[slot];
        int k = (int)(pm_rand(m) % PM_KEYS);
        unsigned op = (unsigned)(pm_rand(m) % 100);
        if (op < 35) {
            pm_check_read(m, slot, k);
        } else if (op < 60 || (op < 70 && slot == 0)) {
            size_t len = pm_rand(m) % PM_VMAX;
            unsigned char val[PM_VMAX];
            for (size_t i = 0; i < len; i++)
                val[i] = (unsigned char)pm_rand(m);
            int conflict = pm_conflicts(m, slot, k);
            rm_status_t rc = rm_mvcc_put(x->t, pm_key(k), strlen(pm_key(k)), val, len);
            if (conflict) {
                pm_cov.conflicts++;
                assert_int_equal(rc, RM_ECONFLICT);
            } else {
                assert_int_equal(rc, RM_OK);
                x->wrote[k] = 1;
                x->wlen[k] = len;
                memcpy(x->wval[k], val, len);
                pm_assert_chain_bound(m, s, k, maxv);
            }
        } else if (op < 70) {
            int conflict = pm_conflicts(m, slot, k);
            int visible_now;
            if (x->wrote[k])
                visible_now = x->wrote[k] == 1;
            else
                visible_now = pm_visible(m, k, x->snap) != NULL;
            rm_status_t rc = rm_mvcc_delete(x->t, pm_key(k), strlen(pm_key(k)));
            if (conflict) {
                assert_int_equal(rc, RM_ECONFLICT);
            } else if (!visible_now) {
                pm_cov.enoent_deletes++;
                assert_int_equal(rc, RM_ENOENT);
            } else {
                assert_int_equal(rc, RM_OK);
                x->wrote[k] = 2;
                x->wlen[k] = 0;
                pm_assert_chain_bound(m, s, k, maxv);
            }
        } else if (op < 85) {
            assert_int_equal(rm_mvcc_commit(x->t), RM_OK);
            pm_commit_model(m, slot);
            pm_cov.commits++;
        } else if (op < 92) {
            rm_mvcc_abort(x->t);
            m->live[slot] = 0;
        } else if (op < 96) {
            rm_mvcc_compact_idle(s, pm_rand(m) % 3000, pm_rand(m) % 8, NULL);
        } else {
            rm_mvcc_compact_all(s, NULL);
            for (int kk = 0; kk < PM_KEYS; kk++) {
                size_t len = 0;
                if (rm_mvcc_chain_length(s, pm_key(kk), strlen(pm_key(kk)), &len) != RM_OK)
                    len = 0;
                assert_true(len <= pm_needed(m, kk));   /* exact: nothing unneeded survives */
            }
        }
    }
    /* Every live snapshot still reads the model's answer for every key. */
    for (int slot = 0; slot < PM_SLOTS; slot++) {
        if (!m->live[slot])
            continue;
        for (int k = 0; k < PM_KEYS; k++)
            pm_check_read(m, slot, k);
        rm_mvcc_abort(m->tx[slot].t);
        m->live[slot] = 0;
    }
    rm_mvcc_compact_all(s, NULL);
    rm_mvcc_stats_t st;
    rm_mvcc_stats(s, &st);
    assert_true(st.versions <= PM_KEYS);
    assert_int_equal(st.clock, m->clock);
    pm_cov.dropped += (long)st.versions_dropped;
    rm_mvcc_destroy(s);
    for (int k = 0; k < PM_KEYS; k++)
        free(m->h[k].v);
    free(m);
}

static void
test_mvcc_property_reads_match_model_with_compaction(void **state)
{
    memset(&pm_cov, 0, sizeof pm_cov);
    for (uint64_t seed = 1; seed <= 40; seed++)
        run_property(seed, 4000);
    print_message("property: %ld present reads, %ld absent, %ld conflicts, %ld ENOENT deletes, "
                  "%ld commits, %ld versions dropped\n", pm_cov.reads_present, pm_cov.reads_absent,
                  pm_cov.conflicts, pm_cov.enoent_deletes, pm_cov.commits, pm_cov.dropped);
    assert_true(pm_cov.reads_present > 1000 && pm_cov.reads_absent > 100);
    assert_true(pm_cov.conflicts > 100 && pm_cov.enoent_deletes > 10);
    assert_true(pm_cov.commits > 1000 && pm_cov.dropped > 1000);
}

/* ---- concurrency: bank transfers under snapshot isolation ------------------- */

#define BANK_ACCOUNTS 16
#define BANK_TOTAL    (BANK_ACCOUNTS * 1000)

typedef struct bank {
    rm_mvcc_t *s;
    atomic_int stop;
    atomic_long transfers, conflicts, audits, bad_audits;
} bank_t;

static long
bank_read(rm_mvcc_txn_t *t, int acct, rm_status_t *rc)
{
    char k[16];
    snprintf(k, sizeof k, "a%02d", acct);
    long v = 0;
    size_t len = 0;
    *rc = rm_mvcc_get(t, k, strlen(k), &v, sizeof v, &len);
    return v;
}

static rm_status_t
bank_write(rm_mvcc_txn_t *t, int acct, long v)
{
    char k[16];
    snprintf(k, sizeof k, "a%02d", acct);
    return rm_mvcc_put(t, k, strlen(k), &v, sizeof v);
}

static void *
bank_transfer(void *arg)
{
    bank_t *b = arg;
    unsigned seed = (unsigned)(uintptr_t)pthread_self();
    for (int i = 0; i < 3000; i++) {
        int from = rand_r(&seed) % BANK_ACCOUNTS, to = rand_r(&seed) % BANK_ACCOUNTS;
        if (from == to)
            continue;
        rm_mvcc_txn_t *t;
        if (rm_mvcc_begin(b->s, 1, &t) != RM_OK)
            continue;
        rm_status_t r1, r2;
        long a = bank_read(t, from, &r1), c = bank_read(t, to, &r2);
        if (r1 != RM_OK || r2 != RM_OK) {
            rm_mvcc_abort(t);
            continue;   /* killed meanwhile */
        }
        rm_status_t rc = bank_write(t, from, a - 7);
        if (rc == RM_OK)
            rc = bank_write(t, to, c + 7);
        if (rc == RM_OK) {
            rc = rm_mvcc_commit(t);
            if (rc == RM_OK)
                atomic_fetch_add(&b->transfers, 1);
        } else {
            atomic_fetch_add(&b->conflicts, 1);
            rm_mvcc_abort(t);
        }
    }
    return NULL;
}

static void *
bank_audit(void *arg)
{
    bank_t *b = arg;
    while (!atomic_load(&b->stop)) {
        rm_mvcc_txn_t *t;
        if (rm_mvcc_begin(b->s, 2, &t) != RM_OK)
            continue;
        long sum = 0;
        int ok = 1;
        for (int i = 0; i < BANK_ACCOUNTS && ok; i++) {
            rm_status_t rc;
            sum += bank_read(t, i, &rc);
            ok = rc == RM_OK;
        }
        if (ok && sum != BANK_TOTAL)
            atomic_fetch_add(&b->bad_audits, 1);   /* a snapshot saw half a transfer */
        rm_mvcc_abort(t);
        atomic_fetch_add(&b->audits, 1);
    }
    return NULL;
}

static void *
bank_janitor(void *arg)
{
    bank_t *b = arg;
    while (!atomic_load(&b->stop)) {
        rm_mvcc_compact_all(b->s, NULL);
        rm_mvcc_compact_idle(b->s, 1, 16, NULL);
        rm_mvcc_kill_orphans(b->s, UINT64_MAX, NULL, NULL, NULL);   /* nothing is idle that long */
        rm_mvcc_stats_t st;
        rm_mvcc_stats(b->s, &st);
        rm_component_usage_t comps[RM_COMPONENTS_MAX];
        size_t n;
        rm_stats_components(comps, RM_COMPONENTS_MAX, &n);
    }
    return NULL;
}

static void
test_mvcc_concurrent_transfers_preserve_total(void **state)
{
    bank_t b = {0};
    rm_mvcc_config_t cfg = {.max_versions_per_key = 8, .initial_buckets = 64};
    assert_int_equal(rm_mvcc_create(&cfg, &b.s), RM_OK);
    rm_mvcc_txn_t *t;
    assert_int_equal(rm_mvcc_begin(b.s, 0, &t), RM_OK);
    for (int i = 0; i < BANK_ACCOUNTS; i++)
        assert_int_equal(bank_write(t, i, 1000), RM_OK);
    assert_int_equal(rm_mvcc_commit(t), RM_OK);

    /* A long-running reader holds its snapshot throughout. */
    rm_mvcc_txn_t *longt;
    assert_int_equal(rm_mvcc_begin(b.s, 3, &longt), RM_OK);

    pthread_t w[3], a, j;
    for (int i = 0; i < 3; i++)
        pthread_create(&w[i], NULL, bank_transfer, &b);
    pthread_create(&a, NULL, bank_audit, &b);
    pthread_create(&j, NULL, bank_janitor, &b);
    for (int i = 0; i < 3; i++)
        pthread_join(w[i], NULL);
    /* On a busy machine the writers can finish before the auditor gets a turn:
     * let it complete one audit (bounded) before stopping it. */
    for (int ms = 0; ms < 30000 && atomic_load(&b.audits) == 0; ms++)
        nanosleep(&(struct timespec){0, 1000000}, NULL);
    atomic_store(&b.stop, 1);
    pthread_join(a, NULL);
    pthread_join(j, NULL);

    long sum = 0;
    for (int i = 0; i < BANK_ACCOUNTS; i++) {
        rm_status_t rc;
        assert_int_equal(bank_read(longt, i, &rc), 1000);   /* still the original snapshot */
        assert_int_equal(rc, RM_OK);
    }
    rm_mvcc_stats_t st;
    rm_mvcc_stats(b.s, &st);
    /* Chains stay at what the long snapshot, the clock and in-flight writers need. */
    assert_true(st.longest_chain <= 8 + 1);
    rm_mvcc_abort(longt);
    assert_int_equal(rm_mvcc_begin(b.s, 0, &t), RM_OK);
    for (int i = 0; i < BANK_ACCOUNTS; i++) {
        rm_status_t rc;
        sum += bank_read(t, i, &rc);
    }
    rm_mvcc_abort(t);
    assert_int_equal(sum, BANK_TOTAL);
    assert_true(atomic_load(&b.transfers) > 0);
    assert_int_equal(atomic_load(&b.bad_audits), 0);
    assert_true(atomic_load(&b.audits) > 0);
    rm_mvcc_destroy(b.s);
}

/* Killers racing owners: orphan sweeps that kill every live transaction and
 * kills by id, while transfers run. Killed transfers are undone, so the total
 * still holds; every record comes back (counted by a thread-safe allocator). */
static atomic_long ts_live;

static void *
ts_alloc(void *ctx, size_t n)
{
    atomic_fetch_add(&ts_live, (long)n);
    return malloc(n);
}

static void
ts_free(void *ctx, void *p, size_t n)
{
    atomic_fetch_sub(&ts_live, (long)n);
    free(p);
}

static void *
bank_killer(void *arg)
{
    bank_t *b = arg;
    unsigned seed = 11;
    while (!atomic_load(&b->stop)) {
        uint64_t killed = 0;
        if (rand_r(&seed) % 2)
            rm_mvcc_kill_orphans(b->s, 0, NULL, NULL, &killed);   /* idle ≥ 0: everyone */
        rm_mvcc_txn_info_t out[8];
        size_t n = 0;
        rm_mvcc_list_txns(b->s, out, 8, &n);
        for (size_t i = 0; i < n && i < 8; i++)
            if (rand_r(&seed) % 3 == 0)
                rm_mvcc_kill(b->s, out[i].id);
        atomic_fetch_add(&b->audits, (long)killed);
    }
    return NULL;
}

static void
test_mvcc_concurrent_kills_keep_totals_and_free_everything(void **state)
{
    bank_t b = {0};
    atomic_store(&ts_live, 0);
    rm_recalloc_t ra = {.alloc = ts_alloc, .free = ts_free};
    rm_mvcc_config_t cfg = {.max_versions_per_key = 4, .initial_buckets = 64, .alloc = &ra};
    assert_int_equal(rm_mvcc_create(&cfg, &b.s), RM_OK);
    rm_mvcc_txn_t *t;
    assert_int_equal(rm_mvcc_begin(b.s, 0, &t), RM_OK);
    for (int i = 0; i < BANK_ACCOUNTS; i++)
        assert_int_equal(bank_write(t, i, 1000), RM_OK);
    assert_int_equal(rm_mvcc_commit(t), RM_OK);

    pthread_t w[2], k;
    for (int i = 0; i < 2; i++)
        pthread_create(&w[i], NULL, bank_transfer, &b);
    pthread_create(&k, NULL, bank_killer, &b);
    for (int i = 0; i < 2; i++)
        pthread_join(w[i], NULL);
    atomic_store(&b.stop, 1);
    pthread_join(k, NULL);

    long sum = 0;
    assert_int_equal(rm_mvcc_begin(b.s, 0, &t), RM_OK);
    for (int i = 0; i < BANK_ACCOUNTS; i++) {
        rm_status_t rc;
        sum += bank_read(t, i, &rc);
        assert_int_equal(rc, RM_OK);
    }
    rm_mvcc_abort(t);
    assert_int_equal(sum, BANK_TOTAL);
    size_t n = 1;
    rm_mvcc_list_txns(b.s, NULL, 0, &n);
    assert_int_equal(n, 0);   /* killed handles were all ended by their owners */
    rm_mvcc_stats_t st;
    rm_mvcc_stats(b.s, &st);
    print_message("kills: %llu, commits: %llu\n", (unsigned long long)st.kills,
                  (unsigned long long)st.commits);
    rm_mvcc_destroy(b.s);
    assert_int_equal(atomic_load(&ts_live), 0);
}


static void
test_mvcc_valstore_holds_long_values_only(void **state)
{
    fstore_t f = {0};
    rm_mvcc_t *s = mk_stored(&f, 0, 4000);
    unsigned char big[1000], huge[5000], r[5000];
    fill(big, sizeof big, 1);
    fill(huge, sizeof huge, 2);
    put_commit(s, "short", "inline value");                 /* ≤ RM_MVCC_INLINE_MAX: in the record */
    put_bytes(s, "big", big, sizeof big);                    /* in (INLINE_MAX, max_bytes]: stored */
    put_bytes(s, "huge", huge, sizeof huge);                 /* > max_bytes: in memory */
    assert_int_equal(f.live, 1);

    rm_mvcc_stats_t st;
    rm_mvcc_stats(s, &st);
    assert_int_equal(st.stored_values, 1);
    assert_int_equal(st.stored_bytes, sizeof big);
    assert_int_equal(st.store_fallbacks, 0);
    /* the stored value's bytes are the store's, not this store's */
    assert_true(st.used_bytes < 3 * RM_MVCC_VERSION_BYTES + sizeof huge + 1024);

    rm_mvcc_txn_t *t;
    assert_int_equal(rm_mvcc_begin(s, 1, &t), RM_OK);
    size_t len = 0;
    assert_int_equal(rm_mvcc_get(t, "big", 3, r, sizeof r, &len), RM_OK);
    assert_int_equal(len, sizeof big);
    assert_memory_equal(r, big, len);
    assert_int_equal(rm_mvcc_get(t, "huge", 4, r, sizeof r, &len), RM_OK);
    assert_memory_equal(r, huge, sizeof huge);
    want_value(t, "short", "inline value");
    assert_int_equal(rm_mvcc_get(t, "big", 3, r, 10, &len), RM_ELIMIT);   /* too small: store not asked */
    assert_int_equal(len, sizeof big);
    rm_mvcc_abort(t);
    rm_mvcc_destroy(s);
    assert_int_equal(f.live, 0);   /* destroy gives every handle back */
}

static void
test_mvcc_valstore_handles_freed_by_overwrite_abort_and_compaction(void **state)
{
    fstore_t f = {0};
    rm_mvcc_t *s = mk_stored(&f, 0, 4000);
    unsigned char v[600];
    fill(v, sizeof v, 3);
    rm_mvcc_txn_t *t;
    /* an overwrite inside one transaction replaces the version in place */
    assert_int_equal(rm_mvcc_begin(s, 1, &t), RM_OK);
    assert_int_equal(rm_mvcc_put(t, "k", 1, v, sizeof v), RM_OK);
    assert_int_equal(rm_mvcc_put(t, "k", 1, v, sizeof v - 1), RM_OK);
    assert_int_equal(f.live, 1);
    rm_mvcc_abort(t);
    assert_int_equal(f.live, 0);

    /* versions nobody can see any more give their handles back on compaction */
    for (int i = 0; i < 5; i++)
        put_bytes(s, "k", v, sizeof v - (size_t)i);
    assert_int_equal(f.live, 5);
    uint64_t freed = 0;
    rm_mvcc_compact_all(s, &freed);
    assert_int_equal(f.live, 1);
    rm_mvcc_stats_t st;
    rm_mvcc_stats(s, &st);
    assert_int_equal(st.stored_values, 1);
    assert_int_equal(st.stored_bytes, sizeof v - 4);
    assert_int_equal(f.puts - f.frees, 1);
    rm_mvcc_destroy(s);
    assert_int_equal(f.live, 0);
}

static void
test_mvcc_valstore_refusal_falls_back_to_memory(void **state)
{
    fstore_t f = {.refuse_puts = 1};
    rm_mvcc_t *s = mk_stored(&f, 0, 4000);
    unsigned char v[700], r[700];
    fill(v, sizeof v, 4);
    put_bytes(s, "k", v, sizeof v);
    rm_mvcc_stats_t st;
    rm_mvcc_stats(s, &st);
    assert_int_equal(st.store_fallbacks, 1);
    assert_int_equal(st.stored_values, 0);
    assert_true(st.used_bytes >= RM_MVCC_VERSION_BYTES + sizeof v);
    rm_mvcc_txn_t *t;
    assert_int_equal(rm_mvcc_begin(s, 1, &t), RM_OK);
    size_t len = 0;
    assert_int_equal(rm_mvcc_get(t, "k", 1, r, sizeof r, &len), RM_OK);
    assert_memory_equal(r, v, sizeof v);
    rm_mvcc_abort(t);
    rm_mvcc_destroy(s);
    assert_int_equal(f.live, 0);
}

static int
scan_sum(void *ctx, const void *key, size_t klen, const void *val, size_t vlen)
{
    const unsigned char *b = val;
    uint64_t *sum = ctx;
    for (size_t i = 0; i < vlen; i++)
        *sum += b[i];
    return 0;
}

static void
test_mvcc_valstore_read_error_reaches_get_and_scan(void **state)
{
    fstore_t f = {0};
    rm_mvcc_t *s = mk_stored(&f, 0, 4000);
    unsigned char v[300], r[300];
    fill(v, sizeof v, 5);
    put_bytes(s, "k", v, sizeof v);
    rm_mvcc_txn_t *t;
    assert_int_equal(rm_mvcc_begin(s, 1, &t), RM_OK);
    uint64_t sum = 0, want = 0;
    for (size_t i = 0; i < sizeof v; i++)
        want += v[i];
    assert_int_equal(rm_mvcc_scan(t, scan_sum, &sum), RM_OK);
    assert_int_equal(sum, want);
    f.get_error = RM_ECORRUPT;
    size_t len = 0;
    assert_int_equal(rm_mvcc_get(t, "k", 1, r, sizeof r, &len), RM_ECORRUPT);
    assert_int_equal(len, sizeof v);
    assert_int_equal(rm_mvcc_scan(t, scan_sum, &sum), RM_ECORRUPT);
    f.get_error = RM_OK;
    assert_int_equal(rm_mvcc_get(t, "k", 1, r, sizeof r, &len), RM_OK);   /* nothing was changed */
    assert_memory_equal(r, v, sizeof v);
    rm_mvcc_abort(t);
    rm_mvcc_destroy(s);
}

/* A store whose get waits at a gate: a read that has to go to the disk. */
typedef struct gstore {
    fstore_t f;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int in_get, open, writer_done;
} gstore_t;

static rm_status_t
gstore_get(void *ctx, uint64_t handle, void *buf, size_t vlen)
{
    gstore_t *g = ctx;
    pthread_mutex_lock(&g->mu);
    g->in_get = 1;
    pthread_cond_broadcast(&g->cv);
    while (!g->open)
        pthread_cond_wait(&g->cv, &g->mu);
    pthread_mutex_unlock(&g->mu);
    return fstore_get(&g->f, handle, buf, vlen);
}

static rm_status_t
gstore_put(void *ctx, const void *val, size_t vlen, uint64_t *handle)
{
    return fstore_put(&((gstore_t *)ctx)->f, val, vlen, handle);
}

static void
gstore_free(void *ctx, uint64_t handle, size_t vlen)
{
    fstore_free(&((gstore_t *)ctx)->f, handle, vlen);
}

typedef struct gread {
    rm_mvcc_t *s;
    unsigned char out[1000];
    size_t len;
    rm_status_t rc;
} gread_t;

static void *
gread_main(void *arg)
{
    gread_t *r = arg;
    rm_mvcc_txn_t *t;
    assert_int_equal(rm_mvcc_begin(r->s, 7, &t), RM_OK);
    r->rc = rm_mvcc_get(t, "k", 1, r->out, sizeof r->out, &r->len);
    rm_mvcc_abort(t);
    return NULL;
}

typedef struct gwrite {
    rm_mvcc_t *s;
    gstore_t *g;
} gwrite_t;

static void *
gwrite_main(void *arg)
{
    gwrite_t *w = arg;
    put_commit(w->s, "k", "overwritten while the old value was being read");
    uint64_t freed = 0;
    rm_mvcc_compact_all(w->s, &freed);   /* must keep the version the reader's snapshot sees */
    pthread_mutex_lock(&w->g->mu);
    w->g->writer_done = 1;
    pthread_cond_broadcast(&w->g->cv);
    pthread_mutex_unlock(&w->g->mu);
    return NULL;
}

static void
test_mvcc_stored_read_does_not_hold_the_stripe(void **state)
{
    gstore_t g;
    memset(&g, 0, sizeof g);
    pthread_mutex_init(&g.mu, NULL);
    pthread_cond_init(&g.cv, NULL);
    rm_mvcc_valstore_t vs = {.put = gstore_put, .get = gstore_get, .free = gstore_free, .ctx = &g,
                             .max_bytes = 4000};
    rm_mvcc_config_t cfg = {.initial_buckets = 64, .valstore = &vs};
    rm_mvcc_t *s = NULL;
    assert_int_equal(rm_mvcc_create(&cfg, &s), RM_OK);
    unsigned char big[1000];
    fill(big, sizeof big, 9);
    put_bytes(s, "k", big, sizeof big);
    assert_int_equal(g.f.live, 1);

    /* a reader stuck in the store's get (a cold page) ... */
    gread_t r = {.s = s};
    pthread_t rt, wt;
    assert_int_equal(pthread_create(&rt, NULL, gread_main, &r), 0);
    pthread_mutex_lock(&g.mu);
    while (!g.in_get)
        pthread_cond_wait(&g.cv, &g.mu);
    pthread_mutex_unlock(&g.mu);
    /* ... does not stop a writer of the same key (same stripe), nor
     * compaction, which must not free what the reader is reading */
    gwrite_t w = {.s = s, .g = &g};
    assert_int_equal(pthread_create(&wt, NULL, gwrite_main, &w), 0);
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 10;
    pthread_mutex_lock(&g.mu);
    while (!g.writer_done)
        if (pthread_cond_timedwait(&g.cv, &g.mu, &until) != 0)
            break;
    int done = g.writer_done;
    g.open = 1;   /* let the reader finish either way, so the threads can be joined */
    pthread_cond_broadcast(&g.cv);
    pthread_mutex_unlock(&g.mu);
    pthread_join(rt, NULL);
    pthread_join(wt, NULL);
    assert_true(done);   /* the writer finished while the read was in the store */
    assert_int_equal(r.rc, RM_OK);
    assert_int_equal(r.len, sizeof big);
    assert_memory_equal(r.out, big, sizeof big);   /* the reader's snapshot */
    /* with the reader gone, compaction drops the old value */
    uint64_t freed = 0;
    rm_mvcc_compact_all(s, &freed);
    assert_int_equal(g.f.live, 0);
    rm_mvcc_destroy(s);
    pthread_cond_destroy(&g.cv);
    pthread_mutex_destroy(&g.mu);
}

static void
test_mvcc_valstore_rejected_at_create_when_incomplete(void **state)
{
    fstore_t f = {0};
    rm_mvcc_valstore_t vs = {.put = fstore_put, .get = fstore_get, .free = NULL, .ctx = &f, .max_bytes = 4000};
    rm_mvcc_config_t cfg = {.valstore = &vs};
    rm_mvcc_t *s = NULL;
    assert_int_equal(rm_mvcc_create(&cfg, &s), RM_EINVAL);
    vs.free = fstore_free;
    vs.max_bytes = RM_MVCC_INLINE_MAX;   /* would never be used */
    assert_int_equal(rm_mvcc_create(&cfg, &s), RM_EINVAL);
    assert_null(s);
}

/* an allocator without alloc or free is refused, *out untouched */
static void
test_mvcc_create_einval_on_incomplete_allocator(void **state)
{
    falloc_t fa = {0};
    rm_recalloc_t half[2];
    falloc_halves(&fa, half);
    rm_mvcc_t *s = NULL;
    assert_int_equal(rm_mvcc_create(&(rm_mvcc_config_t){.alloc = &half[0]}, &s), RM_EINVAL);
    assert_int_equal(rm_mvcc_create(&(rm_mvcc_config_t){.alloc = &half[1]}, &s), RM_EINVAL);
    assert_null(s);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mvcc_create_einval_on_incomplete_allocator),
        cmocka_unit_test(test_mvcc_snapshot_sees_only_commits_before_begin),
        cmocka_unit_test(test_mvcc_own_writes_visible_before_commit),
        cmocka_unit_test(test_mvcc_conflict_when_other_txn_holds_uncommitted_write),
        cmocka_unit_test(test_mvcc_conflict_when_committed_after_snapshot),
        cmocka_unit_test(test_mvcc_delete_enoent_when_key_absent),
        cmocka_unit_test(test_mvcc_get_elimit_when_buffer_small),
        cmocka_unit_test(test_mvcc_large_value_round_trips),
        cmocka_unit_test(test_mvcc_valstore_holds_long_values_only),
        cmocka_unit_test(test_mvcc_valstore_handles_freed_by_overwrite_abort_and_compaction),
        cmocka_unit_test(test_mvcc_valstore_refusal_falls_back_to_memory),
        cmocka_unit_test(test_mvcc_valstore_read_error_reaches_get_and_scan),
        cmocka_unit_test(test_mvcc_stored_read_does_not_hold_the_stripe),
        cmocka_unit_test(test_mvcc_valstore_rejected_at_create_when_incomplete),
        cmocka_unit_test(test_mvcc_abort_undoes_writes_and_frees_chain),
        cmocka_unit_test(test_mvcc_chain_bounded_when_long_snapshot_open),
        cmocka_unit_test(test_mvcc_chain_grows_to_threshold_without_snapshots),
        cmocka_unit_test(test_mvcc_compact_all_keeps_every_snapshot_version),
        cmocka_unit_test(test_mvcc_compact_drops_deleted_key_when_no_snapshot_needs_it),
        cmocka_unit_test(test_mvcc_compact_idle_skips_recently_written_chains),
        cmocka_unit_test(test_mvcc_orphans_listed_when_idle_or_owner_gone),
        cmocka_unit_test(test_mvcc_killed_orphan_is_cancelled_and_releases_horizon),
        cmocka_unit_test(test_mvcc_kill_by_id_enoent_when_unknown),
        cmocka_unit_test(test_mvcc_put_enomem_leaves_state_unchanged),
        cmocka_unit_test(test_mvcc_put_enomem_when_write_set_cannot_grow),
        cmocka_unit_test(test_mvcc_begin_enomem_registers_nothing),
        cmocka_unit_test(test_mvcc_scan_visits_visible_keys_and_stops_when_asked),
        cmocka_unit_test(test_mvcc_accounting_reports_mvcc_component),
        cmocka_unit_test(test_mvcc_set_max_versions_rejects_zero),
        cmocka_unit_test(test_mvcc_property_reads_match_model_with_compaction),
        cmocka_unit_test(test_mvcc_concurrent_transfers_preserve_total),
        cmocka_unit_test(test_mvcc_concurrent_kills_keep_totals_and_free_everything),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
