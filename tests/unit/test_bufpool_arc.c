/*
 * test_bufpool_arc.c — the live Enhanced-ARC policy's admission window and
 * its hill climber (ADR 0004, sixth round), its admission guard (seventh),
 * exact recency (eighth), IRR test (ninth) and gate (tenth), driven directly through the
 * policy interface the pool uses (rm__bp_earc_*), with the frame bits kept in
 * plain arrays as the pool's pin CAS keeps them in the frame word.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../support/cdf_pick.h"
#include "bufpool_internal.h"
#include "rustymem/bufpool.h"

/* the frame bits in plain arrays: the policy's own table (rm__bp_plain_ops) */
typedef rm__bp_plain_t actx_t;

static void
a_set_ref(actx_t *c, uint32_t s)
{
    rm__bp_plain_ops.set_ref(c, s);
}

/* A cache of c frames over keys < nkeys, run as the pool runs the policy:
 * hits set REF and FREQ and are reported in batches of 16 misses. */
typedef struct arun {
    rm__bp_earc_t *e;
    actx_t cx;
    uint32_t c, used, *slot_of, *key_of;
    uint64_t hits, unreported;
    uint64_t misses;
    /* exact mode (arun_exact): hits go to one ring of the pool's hit buffer,
     * applied (rm__bp_earc_touch) at the next miss; past its end, REF only */
    int exact;
    uint32_t ring[RM_BP_HITBUF_LEN], rn;
} arun_t;

static void
arun_init(arun_t *r, uint32_t c, size_t nkeys)
{
    memset(r, 0, sizeof *r);
    r->c = c;
    r->cx.ref = calloc(c, 1);
    r->cx.freq = calloc(c, 1);
    r->cx.t1 = calloc(c, 1);
    r->key_of = calloc(c, sizeof(uint32_t));
    r->slot_of = malloc(nkeys * sizeof(uint32_t));
    assert_non_null(r->slot_of);
    memset(r->slot_of, 0xff, nkeys * sizeof(uint32_t));
    assert_int_equal(rm__bp_earc_create(c, c, &rm__bp_plain_ops, &r->cx, NULL, &r->e), RM_OK);
}

static void
arun_access(arun_t *r, uint32_t k)
{
    uint32_t s = r->slot_of[k];
    if (s != RM_BP_NIL) {
        r->hits++;
        r->unreported++;
        a_set_ref(&r->cx, s);
        if (r->exact && r->rn < RM_BP_HITBUF_LEN)
            r->ring[r->rn++] = s;
        if (r->cx.freq[s] < 15)
            r->cx.freq[s]++;
        return;
    }
    for (uint32_t i = 0; i < r->rn; i++)
        rm__bp_earc_touch(r->e, r->ring[i]);
    r->rn = 0;
    if (++r->misses % 16 == 0) {
        rm__bp_earc_note_hits(r->e, r->unreported);
        r->unreported = 0;
    }
    rm__bp_earc_note_miss(r->e, k);
    if (r->used < r->c) {
        s = r->used++;
    } else {
        s = rm__bp_earc_evict(r->e);
        assert_int_not_equal(s, RM_BP_NIL);
        r->slot_of[r->key_of[s]] = RM_BP_NIL;
    }
    r->key_of[s] = k;
    r->slot_of[k] = s;
    r->cx.ref[s] = 0;
    r->cx.freq[s] = 0;
    rm__bp_earc_admit(r->e, s, k);
}

static void
arun_exact(arun_t *r)
{
    r->exact = 1;
    rm__bp_earc_set_exact(r->e, 1);
}

static uint64_t
arun_window(const arun_t *r)
{
    rm__bp_earc_stats_t st;
    rm__bp_earc_stats(r->e, &st);
    return st.win;
}

static void
arun_fini(arun_t *r)
{
    rm__bp_earc_destroy(r->e);
    free(r->cx.ref);
    free(r->cx.freq);
    free(r->cx.t1);
    free(r->key_of);
    free(r->slot_of);
}

static uint64_t rs = 0x9E3779B97F4A7C15ull;

static uint64_t
rnd(void)
{
    rs ^= rs << 13;
    rs ^= rs >> 7;
    rs ^= rs << 17;
    return rs;
}

static void
test_bufpool_arc_window_starts_at_one_page(void **state)
{
    (void)state;
    arun_t r;
    arun_init(&r, 1000, 2000);
    /* filling the cache: the window holds one page, the rest overflow to main */
    for (uint32_t k = 0; k < 1000; k++)
        arun_access(&r, k);
    assert_int_equal(arun_window(&r), 1);
    arun_fini(&r);
}

static void
test_bufpool_arc_climber_widens_window_when_new_pages_need_time(void **state)
{
    (void)state;
    /*
     * c = 1000 frames; every page is touched twice, 1..40 accesses apart, and
     * never again, beside a stable hot set of 900 pages taking half the
     * traffic. A one-page window judges a newcomer before its second touch
     * (a count of 1 against hot incumbents: refused). The climber must widen
     * the window — never past 5 % of c — and the hit ratio must follow.
     */
    size_t n = 400000, fresh_base = 1000;
    uint32_t *t = malloc(n * sizeof *t);
    assert_non_null(t);
    for (size_t i = 0; i < n; i++)
        t[i] = UINT32_MAX;
    uint32_t fresh = (uint32_t)fresh_base;
    for (size_t i = 0; i < n; i++) {
        if (t[i] != UINT32_MAX)
            continue;
        if (rnd() % 2) {
            t[i] = (uint32_t)(rnd() % 900);
            continue;
        }
        t[i] = fresh++;
        size_t j = i + 1 + rnd() % 40;
        while (j < n && t[j] != UINT32_MAX)
            j++;
        if (j < n)
            t[j] = t[i];
    }
    arun_t r;
    arun_init(&r, 1000, fresh);
    uint64_t widest = 0, hits_first = 0;
    for (size_t i = 0; i < n; i++) {
        arun_access(&r, t[i]);
        uint64_t w = arun_window(&r);
        assert_true(w <= 50);
        if (w > widest)
            widest = w;
        if (i == n / 10)
            hits_first = r.hits;
    }
    assert_true(widest >= 20);
    /* the last 90 % hits more per access than the first 10 % (window 1 then) */
    assert_true((double)(r.hits - hits_first) / (double)(n - n / 10 - 1) >
                (double)hits_first / (double)(n / 10 + 1) + 0.02);
    arun_fini(&r);
    free(t);
}

static uint64_t
arun_guard(const arun_t *r)
{
    rm__bp_earc_stats_t st;
    rm__bp_earc_stats(r->e, &st);
    return st.guard_admit_all;
}

/* Zipf 1.0 over ranks 0..n−1: the cumulative weights (caller frees), and
 * one draw from them (one rnd() call). */
static double *
zipf_cdf(size_t n)
{
    double *cdf = malloc(n * sizeof *cdf), sum = 0;
    assert_non_null(cdf);
    for (size_t i = 0; i < n; i++) {
        sum += 1.0 / (double)(i + 1);
        cdf[i] = sum;
    }
    return cdf;
}

static uint32_t
zipf_draw(const double *cdf, size_t n)
{
    double u = (double)(rnd() >> 11) / 9007199254740992.0 * cdf[n - 1];
    return (uint32_t)cdf_pick(cdf, n, u);
}

/* A working set growing from n/20 to n pages, 80 % of the accesses to its
 * newest tenth and 20 % uniform over it (the suite's grow_shrink, growing
 * half), or Zipf 1.0 over n pages. */
static uint32_t *
gen_trace(int grow, size_t n, size_t len)
{
    uint32_t *t = malloc(len * sizeof *t);
    assert_non_null(t);
    double *cdf = grow ? NULL : zipf_cdf(n);
    for (size_t i = 0; i < len; i++) {
        if (grow) {
            size_t w = n / 20 + (size_t)((double)(n - n / 20) * (double)i / (double)len);
            t[i] = (uint32_t)(rnd() % 5 < 4 ? w - 1 - rnd() % (w / 10) : rnd() % w);
        } else {
            t[i] = zipf_draw(cdf, n);
        }
    }
    free(cdf);
    return t;
}

/* accesses spent with the guard admitting would-be refusals, of len */
static double
guard_share(const uint32_t *t, size_t n, size_t len, uint32_t c, double *hit_ratio)
{
    arun_t r;
    arun_init(&r, c, n);
    size_t admit = 0;
    for (size_t i = 0; i < len; i++) {
        arun_access(&r, t[i]);
        admit += arun_guard(&r) != 0;
    }
    *hit_ratio = (double)r.hits / (double)len;
    arun_fini(&r);
    return (double)admit / (double)len;
}

static void
test_bufpool_arc_guard_admits_when_the_duel_refuses_pages_that_return(void **state)
{
    (void)state;
    /*
     * The admission guard (ADR 0004, seventh round). On a growing working set
     * whose newest pages are the hot ones, the duel refuses newcomers that
     * come back within a few misses, while the stale pages it keeps do not:
     * the sampled return rates must send a good part of the trace (0.27 of
     * it here) to plain admission. On Zipf the duel is right (refused
     * candidates come back less often than the victims admissions evict) and
     * the guard must leave it on for nearly all of the trace.
     */
    size_t n = 20000, len = 400000;
    uint32_t c = 1000;
    double hr_grow, hr_zipf;
    uint32_t *g = gen_trace(1, n, len);
    double share_grow = guard_share(g, n, len, c, &hr_grow);
    uint32_t *z = gen_trace(0, n, len);
    double share_zipf = guard_share(z, n, len, c, &hr_zipf);
    print_message("guard admitting: grow %.3f of the trace (hit ratio %.4f), zipf %.3f (%.4f)\n", share_grow,
                  hr_grow, share_zipf, hr_zipf);
    assert_true(share_grow > 0.2);
    assert_true(share_zipf < 0.02);
    free(g);
    free(z);
}

/*
 * Exact recency (ADR 0004, eighth round; what the pool runs): T1 and T2 are
 * LRU lists and a reported hit (rm__bp_earc_touch) moves a page to T2's MRU
 * end and clears its REF bit; a REF bit still set is a hit the pool's ring
 * dropped, and the hands give it CAR's second chance. Hand-computed: eight
 * pages admitted straight to main (no window), hits applied on 0, 3, 0, a
 * dropped hit on 1 (REF only); with p = 0 the T1 hand moves 1 to T2's MRU end
 * (REF kept, as CAR does), then the victims are T1 in order, then T2 in the
 * order of the last hit, 1 after a second chance: 2 4 5 6 7 3 0 1.
 */
static void
test_bufpool_arc_exact_recency_evicts_in_lru_order(void **state)
{
    (void)state;
    arun_t r;
    arun_init(&r, 8, 8);
    rm__bp_earc_set_exact(r.e, 1);
    assert_int_equal(rm__bp_earc_exact(r.e), 1);
    for (uint32_t s = 0; s < 8; s++) {
        rm__bp_earc_note_miss(r.e, 100 + s);
        rm__bp_earc_admit_main(r.e, s, 100 + s);
    }
    /* each hit sets REF as the pin CAS does, then the drain applies it */
    const uint32_t hit[3] = {0, 3, 0};
    for (int i = 0; i < 3; i++)
        a_set_ref(&r.cx, hit[i]);
    for (int i = 0; i < 3; i++)
        rm__bp_earc_touch(r.e, hit[i]);
    rm__bp_earc_touch(r.e, 9);   /* not a slot: ignored */
    a_set_ref(&r.cx, 1);          /* a hit the ring dropped */
    rm__bp_earc_stats_t st;
    rm__bp_earc_stats(r.e, &st);
    assert_int_equal(st.t1, 6);
    assert_int_equal(st.t2, 2);
    assert_int_equal(st.t1_refs, 1);
    assert_int_equal(r.cx.ref[0] + r.cx.ref[3], 0);   /* applied hits leave no REF behind */
    const uint32_t want[8] = {2, 4, 5, 6, 7, 3, 0, 1};
    for (int i = 0; i < 8; i++) {
        uint32_t v = rm__bp_earc_evict(r.e);
        assert_int_equal(v, want[i]);
        assert_false(rm__bp_earc_contains(r.e, v));
        rm__bp_earc_touch(r.e, v);     /* a buffered hit on a page gone since: ignored */
    }
    assert_int_equal(rm__bp_earc_evict(r.e), RM_BP_NIL);
    rm__bp_earc_stats(r.e, &st);
    assert_int_equal(st.t1 + st.t2 + st.win, 0);
    assert_int_equal(st.b1, 5);   /* T1's victims are remembered in B1, T2's (3 0 1) in B2 */
    assert_int_equal(st.b2, 3);
    arun_fini(&r);
}

/* A hit on a window page keeps it in the window, at its MRU end: the window's
 * LRU page is the next candidate. */
static void
test_bufpool_arc_exact_recency_window_hit_stays_in_window(void **state)
{
    (void)state;
    arun_t r;
    arun_init(&r, 4, 4);
    rm__bp_earc_set_exact(r.e, 1);
    for (uint32_t s = 0; s < 4; s++) {
        rm__bp_earc_note_miss(r.e, 100 + s);
        rm__bp_earc_admit(r.e, s, 100 + s);
    }
    rm__bp_earc_stats_t st;
    rm__bp_earc_stats(r.e, &st);
    assert_int_equal(st.win, 1);   /* slot 3; slots 0..2 overflowed to T1 */
    rm__bp_earc_touch(r.e, 3);
    rm__bp_earc_stats(r.e, &st);
    assert_int_equal(st.win, 1);
    assert_int_equal(st.t2, 0);
    /* the next miss duels the window's LRU page: 3 is still the only one */
    assert_int_equal(rm__bp_earc_contains(r.e, 3), 1);
    rm__bp_earc_touch(r.e, 1);
    rm__bp_earc_stats(r.e, &st);
    assert_int_equal(st.t1, 2);
    assert_int_equal(st.t2, 1);
    arun_fini(&r);
}

/*
 * Exact mode (issue 21, ninth round): a loop over 1.2·c pages interleaved
 * 60/40 with a Zipf 1.0 hot set of c/4 pages (the suite's loop_zipf). Every
 * loop page comes back after the loop's period; a cache of c can hold the
 * hot set and 0.75·c of the loop (≈ 0.4 + 0.6 · 0.75 / 1.2 ≈ 0.77 at best,
 * what LIRS gets). A returning loop page ties with the resident ones in the
 * duel, and the regret bias — raised by refused loop pages coming back —
 * admitted it in place of the resident loop page due soonest: the previous
 * policy held 0.40 here. The IRR test refuses what only the bias (or an
 * estimate within a quarter of the victim's) would admit when the
 * newcomer's previous access came before the victim's last one, which on a
 * loop is every time (0.66 with the bias's admissions alone); and the LRU
 * victim, which meets every newcomer, is aged at its first win only, not
 * halved until it loses (0.74). The window stays one page.
 */
static void
test_bufpool_arc_exact_irr_holds_a_loop_beside_a_hot_set(void **state)
{
    (void)state;
    uint32_t c = 1000, loop = c * 6 / 5, hot = c / 4;
    size_t len = 200 * (size_t)c;
    double *cdf = zipf_cdf(hot);
    arun_t r;
    arun_init(&r, c, loop + hot);
    arun_exact(&r);
    uint32_t pos = 0;
    uint64_t hits_half = 0;
    for (size_t i = 0; i < len; i++) {
        uint32_t k;
        if (rnd() % 5 < 3) {
            k = hot + pos;
            pos = pos + 1 == loop ? 0 : pos + 1;
        } else {
            k = zipf_draw(cdf, hot);
        }
        arun_access(&r, k);
        assert_true(arun_window(&r) <= 1);
        if (i == len / 2)
            hits_half = r.hits;
    }
    double hr = (double)(r.hits - hits_half) / (double)(len - len / 2 - 1);
    assert_true(hr > 0.70);
    arun_fini(&r);
    free(cdf);
}

/* Loop + hot set around cache size c (the gate test's trace, keys offset by
 * base so every phase has its own pages): n references into t. */
static void
loop_hot_trace(uint32_t *t, size_t n, uint32_t c, uint32_t base)
{
    uint32_t loop = c * 6 / 5, hot = c / 4, pos = 0;
    double *cdf = zipf_cdf(hot);
    for (size_t i = 0; i < n; i++) {
        if (rnd() % 5 < 3) {
            t[i] = base + hot + pos;
            pos = pos + 1 == loop ? 0 : pos + 1;
        } else {
            t[i] = base + zipf_draw(cdf, hot);
        }
    }
    free(cdf);
}

/*
 * The gate (ADR 0004 § 3e, § 3f): three shadow caches of c/32 pages (at least
 * 64) replay a hash sample of the keys, one per mode — all admission
 * features (mode 0), ARC's admission (1), the frequency duel and the IRR test
 * without the regret bias and the guard (2); the real policy moves to a mode
 * whose shadow leads its own by more than 3 standard deviations over the
 * sampled references where the two differ (at least 32 of them).
 *  - Loop + hot set (the test above's trace): ARC's admission cannot hold a
 *    loop larger than the cache (≈ 0.4); with all features the bias, raised
 *    by refused loop pages coming back, and the guard's sampled admissions
 *    still trade resident loop pages for returning ones (0.7291 over the
 *    whole trace with the tenth round's two-shadow gate). Without them the
 *    door holds the loop's stable part: the gate moves to mode 2 and the hit
 *    ratio is 0.7523 (> 0.745 asserted; the eleventh round's change).
 *  - Stationary, c/2 pages uniform: every shadow holds every sampled page
 *    after its first miss and they hit alike: no switch at all.
 *  - A growing working set at 1 % (the suite's grow_shrink shape, whose
 *    newest tenth takes 80 %): the duel refuses newcomers that come back
 *    within a few misses, and the features alone end 0.005 below classic
 *    ARC (0.2206 against 0.2256, ARC run by the simulator on the same
 *    trace). The gate must take ARC's admission for more than half of the
 *    trace and end within 0.003 of ARC.
 */
static double
gate_run(uint32_t c, const uint32_t *t, size_t len, uint64_t *switches, size_t *off_refs, int *mode)
{
    uint32_t nkeys = 0;
    for (size_t i = 0; i < len; i++)
        nkeys = t[i] >= nkeys ? t[i] + 1 : nkeys;
    arun_t r;
    arun_init(&r, c, nkeys);
    arun_exact(&r);
    *off_refs = 0;
    for (size_t i = 0; i < len; i++) {
        arun_access(&r, t[i]);
        *off_refs += rm__bp_earc_gate(r.e, NULL) == 1;   /* mode 1: ARC's admission */
    }
    *mode = rm__bp_earc_gate(r.e, switches);
    double hr = (double)r.hits / (double)len;
    arun_fini(&r);
    return hr;
}

static void
test_bufpool_arc_gate_follows_the_shadow_that_hits_more(void **state)
{
    (void)state;
    uint64_t sw;
    size_t off;
    int mode;
    /* loop + hot set (the test above's trace): the duel and the IRR test alone */
    uint32_t c = 1000;
    size_t len = 200 * (size_t)c;
    uint32_t *t = malloc(len * sizeof *t);
    assert_non_null(t);
    loop_hot_trace(t, len, c, 0);
    double hr = gate_run(c, t, len, &sw, &off, &mode);
    print_message("loop + hot set: hit ratio %.4f, switches %llu, off for %.3f\n", hr, (unsigned long long)sw,
                  (double)off / (double)len);
    assert_true(sw >= 1);
    assert_int_equal(mode, 2);
    assert_true(hr > 0.745);
    /* stationary, everything fits: the shadows tie, no switch */
    for (size_t i = 0; i < len; i++)
        t[i] = (uint32_t)(rnd() % (c / 2));
    hr = gate_run(c, t, len, &sw, &off, &mode);
    print_message("stationary: hit ratio %.4f, switches %llu\n", hr, (unsigned long long)sw);
    assert_int_equal(sw, 0);
    free(t);
    /* the growing working set at 1 % (the suite's grow_shrink shape, its
     * growing half): classic ARC, run by the simulator on the same trace,
     * is the reference */
    size_t n = 50000;
    len = 20 * n;
    c = (uint32_t)(n / 100);
    t = gen_trace(1, n, len);
    uint64_t *t64 = malloc(len * sizeof *t64), arc_hits;
    assert_non_null(t64);
    for (size_t i = 0; i < len; i++)
        t64[i] = t[i];
    assert_int_equal(rm_bufpool_simulate(RM_BUFPOOL_POLICY_ARC, t64, len, c, NULL, &arc_hits), RM_OK);
    double arc = (double)arc_hits / (double)len;
    hr = gate_run(c, t, len, &sw, &off, &mode);
    print_message("growing working set: hit ratio %.4f (ARC %.4f), switches %llu, off for %.3f\n", hr, arc,
                  (unsigned long long)sw, (double)off / (double)len);
    assert_true(sw >= 1);
    assert_true((double)off / (double)len > 0.5);
    assert_true(hr > arc - 0.003);
    free(t64);
    free(t);
}

/* Grow the harness's per-slot arrays to c slots (new slots empty). */
static void
arun_grow_arrays(arun_t *r, uint32_t c)
{
    r->cx.ref = realloc(r->cx.ref, c);
    r->cx.freq = realloc(r->cx.freq, c);
    r->cx.t1 = realloc(r->cx.t1, c);
    r->key_of = realloc(r->key_of, c * sizeof(uint32_t));
    assert_true(r->cx.ref && r->cx.freq && r->cx.t1 && r->key_of);
    memset(r->cx.ref + r->c, 0, c - r->c);
    memset(r->cx.freq + r->c, 0, c - r->c);
    memset(r->cx.t1 + r->c, 0, c - r->c);
    memset(r->key_of + r->c, 0, (c - r->c) * sizeof(uint32_t));
}

/*
 * A resize rebuilds the gate's shadows at the new size (rm__bp_earc_resize →
 * gate_setup, ADR 0004 § 3e): the real policy goes back to all features with
 * fresh evidence, the shadows' bytes follow the size (c/32 pages each), and
 * the gate works at the new size — on the loop + hot set it again leaves all
 * features for the frequency-only mode — after a grow (4 096 → 8 192 frames)
 * and after a shrink back (the pool takes slots ≥ the new capacity out of
 * the lists first, as rm__bp_earc_resize requires). Pools in the resize tests
 * of test_bufpool are under the gate's 256-frame floor, so nothing else runs
 * this path.
 */
static void
test_bufpool_arc_gate_rebuilds_its_shadows_on_resize(void **state)
{
    (void)state;
    const uint32_t c0 = 4096, c1 = 8192;
    size_t len = 60 * (size_t)c1;
    uint32_t *t = malloc(len * sizeof *t);
    assert_non_null(t);
    arun_t r;
    arun_init(&r, c0, 3 * (size_t)c1 * 2);
    arun_exact(&r);
    size_t bytes0 = rm__bp_earc_bytes(r.e);
    uint64_t sw0, sw;
    loop_hot_trace(t, 60 * (size_t)c0, c0, 0);
    for (size_t i = 0; i < 60 * (size_t)c0; i++)
        arun_access(&r, t[i]);
    assert_int_equal(rm__bp_earc_gate(r.e, &sw0), 2);
    assert_true(sw0 >= 1);

    /* grow: the shadows restart at c1 / 32 pages, the policy in all features */
    arun_grow_arrays(&r, c1);
    assert_int_equal(rm__bp_earc_resize(r.e, c1, c1), RM_OK);
    r.c = c1;
    assert_int_equal(rm__bp_earc_gate(r.e, NULL), 0);
    size_t bytes1 = rm__bp_earc_bytes(r.e);
    assert_true(bytes1 > bytes0);
    loop_hot_trace(t, len, c1, 2 * c1);
    uint64_t h0 = r.hits;
    for (size_t i = 0; i < len; i++)
        arun_access(&r, t[i]);
    assert_int_equal(rm__bp_earc_gate(r.e, &sw), 2);
    assert_true(sw > sw0);
    double hr_grown = (double)(r.hits - h0) / (double)len;
    print_message("after the grow: hit ratio %.4f, switches %llu, policy bytes %zu -> %zu\n", hr_grown,
                  (unsigned long long)sw, bytes0, bytes1);
    assert_true(hr_grown > 0.70);

    /* shrink back: slots >= c0 leave the lists and the cache first */
    for (uint32_t s = c0; s < r.used; s++) {
        rm__bp_earc_remove(r.e, s);
        r.slot_of[r.key_of[s]] = RM_BP_NIL;
    }
    r.used = c0;
    assert_int_equal(rm__bp_earc_resize(r.e, c1, c0), RM_OK);
    r.c = c0;
    r.rn = 0;   /* the hit ring named slots of the old size */
    assert_int_equal(rm__bp_earc_gate(r.e, NULL), 0);
    assert_true(rm__bp_earc_bytes(r.e) < bytes1);
    loop_hot_trace(t, 60 * (size_t)c0, c0, 4 * c1);
    h0 = r.hits;
    for (size_t i = 0; i < 60 * (size_t)c0; i++) {
        arun_access(&r, t[i]);
        assert_true(r.slot_of[t[i]] < c0);   /* eviction never hands out a slot past the new capacity */
    }
    assert_int_equal(rm__bp_earc_gate(r.e, NULL), 2);
    double hr_shrunk = (double)(r.hits - h0) / (double)(60 * (size_t)c0);
    print_message("after the shrink: hit ratio %.4f\n", hr_shrunk);
    assert_true(hr_shrunk > 0.70);
    arun_fini(&r);
    free(t);
}

/*
 * Issue 21, twelfth round (ADR 0004 § 3g): the gate's errors are made
 * one-sided. A switch into ARC's admission needs 2 standard deviations of
 * evidence, a switch into the frequency-only mode (the expert that loses
 * most when chosen wrongly) 3.5, the featured mode 3. On the suite's
 * shifting hot set at 1 % (n = 50 000, c = 500; hot sets of n/20 pages
 * taking 90 % of the traffic, moving every 2n accesses), where ARC's
 * admission leads the features by ≈ 0.003, the policy must end within
 * 0.002 of classic ARC on the same trace in each of three runs (the
 * eleventh round's thresholds, 3 for every switch, end 0.0037 below it).
 */
static void
test_bufpool_arc_gate_one_sided_keeps_arc_margin_on_shifting_hot_set(void **state)
{
    (void)state;
    size_t n = 50000, len = 20 * n, H = n / 20, c = n / 100;
    uint64_t *t = malloc(len * sizeof *t);
    assert_non_null(t);
    double worst = 1;
    for (int run = 0; run < 3; run++) {
        size_t i = 0;
        while (i < len) {
            size_t off = rnd() % (n - H);
            for (size_t k = 0; k < 2 * n && i < len; k++)
                t[i++] = rnd() % 10 < 9 ? off + rnd() % H : rnd() % n;
        }
        uint64_t ours, arc;
        assert_int_equal(rm_bufpool_simulate(RM_BUFPOOL_POLICY_RUSTYMEM, t, len, c, NULL, &ours), RM_OK);
        assert_int_equal(rm_bufpool_simulate(RM_BUFPOOL_POLICY_ARC, t, len, c, NULL, &arc), RM_OK);
        double m = ((double)ours - (double)arc) / (double)len;
        print_message("shifting hot set, run %d: policy %.4f, ARC %.4f, margin %+.4f\n", run,
                      (double)ours / (double)len, (double)arc / (double)len, m);
        worst = m < worst ? m : worst;
    }
    assert_true(worst > -0.002);
    free(t);
}

/* ---- the page cache's layout (rm__bp_earc_set_stview, ADR 0023 session 13) ----
 * Frames in segments of 256 records of 64 bytes, the state word 16 bytes in,
 * with the policy's bits where bufpool_pcache.c keeps them (RM_BP_SV_*) and a
 * pin bit of the test's own that try_claim (always the pool's op) honours. The same ops table serves
 * a policy that calls through it and one that runs the state-word ops inline. */
#define SV_PIN (1ull << 0)
typedef struct svframe {
    void *pg[2];
    _Atomic uint64_t state;
    unsigned char pad[40];
} svframe_t;
_Static_assert(sizeof(svframe_t) == 64 && offsetof(svframe_t, state) == RM_BP_SV_STATE_OFF,
               "svframe_t: the page cache's layout");

typedef struct svpool {
    unsigned char *seg[4];
    _Atomic int64_t t1_refs;
    uint32_t claims;   /* try_claim calls that reached the ops */
} svpool_t;

static svframe_t *
sv_frame(svpool_t *p, uint32_t s)
{
    unsigned char *seg = p->seg[s >> RM_BP_SV_SEG_SHIFT];
    return (svframe_t *)(seg + (size_t)(s & ((1u << RM_BP_SV_SEG_SHIFT) - 1)) * 64);
}

static const rm__bp_stbits_t SVT_BITS = {
    .ref = RM_BP_SV_REF, .t1 = RM_BP_SV_T1, .grace = 0,
    .freq_mask = RM_BP_SV_FREQ_MASK, .freq_shift = RM_BP_SV_FREQ_SHIFT,
};

static int
svt_test_clear_ref(void *ctx, uint32_t s)
{
    svpool_t *p = ctx;
    uint64_t b;
    return rm__bp_st_test_clear_ref(SVT_BITS, &sv_frame(p, s)->state, &p->t1_refs, &b) && (b & RM_BP_SV_REF);
}

static int
svt_try_claim(void *ctx, uint32_t s)
{
    svpool_t *p = ctx;
    p->claims++;
    return !(atomic_load(&sv_frame(p, s)->state) & SV_PIN);
}

RM__BP_STATE_POLICY_OPS(svt_ops, svpool_t, sv_frame, SVT_BITS, svt_test_clear_ref, svt_try_claim);

static void
svpool_init(svpool_t *p)
{
    memset(p, 0, sizeof *p);
    for (int i = 0; i < 4; i++) {
        p->seg[i] = aligned_alloc(64, 256 * 64);
        assert_non_null(p->seg[i]);
        memset(p->seg[i], 0, 256 * 64);
    }
}

static void
svpool_fini(svpool_t *p)
{
    for (int i = 0; i < 4; i++)
        free(p->seg[i]);
}

/* a hit as the page cache's pin CAS makes it: REF, FREQ + 1, and the T1 count */
static void
sv_hit(svpool_t *p, uint32_t s)
{
    uint64_t st = atomic_load(&sv_frame(p, s)->state), ns = st | RM_BP_SV_REF;
    if ((ns & RM_BP_SV_FREQ_MASK) != RM_BP_SV_FREQ_MASK)
        ns += 1ull << RM_BP_SV_FREQ_SHIFT;
    atomic_store(&sv_frame(p, s)->state, ns);
    if ((st & (RM_BP_SV_T1 | RM_BP_SV_REF)) == RM_BP_SV_T1)
        p->t1_refs++;
}

static rm__bp_earc_t *
sv_policy(svpool_t *p, uint32_t c, int inline_ops)
{
    rm__bp_earc_t *e;
    assert_int_equal(rm__bp_earc_create(c, c, &svt_ops, p, NULL, &e), RM_OK);
    if (inline_ops) {
        const rm__bp_stview_t v = {
            .seg = (unsigned char *const *)p->seg, .rec_bytes = 64, .t1_refs = &p->t1_refs};
        rm__bp_earc_set_stview(e, &v);
    }
    return e;
}

/* 1 / 0 / −1 as the policy's admission guard classes a key (always refused /
 * always admitted / neither): bufpool_arc.c's guard_class */
static int
guard_class_of(uint64_t key)
{
    unsigned c = (unsigned)(rm__mix64(key ^ 0x2545f4914f6cdd1dull) >> 58);
    return c == 0 ? 1 : c == 1 ? 0 : -1;
}

/* A hand-computed CAR-mode sequence through the inline state-word ops: four
 * frames (window 1, main 3, p 0). Keys 1–4 fill it: T1 = 1 2 3, window 4.
 * Key 1 is hit once, key 4 (the window page) twice. Miss 5: the window's
 * candidate is 4 (its REF cleared by the window hand, which comes round to
 * it again); the T1 hand promotes 1 to T2 with its reference (REF kept, T1
 * count back to 0) and stops at 2; the duel: 4's estimate 1 + 2 hits > 2's
 * 1 + 0, so 4 goes to T1 and 2 leaves — slot 1, a B1 ghost. Miss 2: a B1
 * ghost hit, so p goes up by the step c/|B1 ∪ B2| = 4 (capped at m = 3) and
 * the T2 hand clears 1's reference; victim list T2 (T1's 2 unreferenced
 * pages < p), whose head 1 is now unreferenced: the duel of 5 (1 + 0)
 * against 1 (1 + 1 hit) refuses 5, ages 1 and evicts the newcomer 5 from
 * the window — slot 1 again, no ghost. */
static void
test_bufpool_arc_car_inline_state_ops_hand_computed(void **state)
{
    (void)state;
    for (uint64_t k = 1; k <= 5; k++)
        assert_int_equal(guard_class_of(k), -1);   /* no sampled decision in the sequence */
    svpool_t p;
    svpool_init(&p);
    rm__bp_earc_t *e = sv_policy(&p, 4, 1);
    for (uint32_t k = 1; k <= 4; k++) {
        rm__bp_earc_note_miss(e, k);
        rm__bp_earc_admit(e, k - 1, k);
    }
    rm__bp_earc_stats_t st;
    rm__bp_earc_stats(e, &st);
    assert_int_equal(st.win, 1);
    assert_int_equal(st.t1, 3);
    for (uint32_t s = 0; s < 3; s++)
        assert_true(atomic_load(&sv_frame(&p, s)->state) & RM_BP_SV_T1);
    sv_hit(&p, 0);
    sv_hit(&p, 3);
    sv_hit(&p, 3);
    assert_int_equal(p.t1_refs, 1);

    rm__bp_earc_note_miss(e, 5);
    assert_int_equal(rm__bp_earc_evict(e), 1);
    rm__bp_earc_stats(e, &st);
    assert_int_equal(st.win, 0);
    assert_int_equal(st.t1, 2);
    assert_int_equal(st.t2, 1);
    assert_int_equal(st.b1, 1);
    assert_int_equal(st.rejects, 0);
    uint64_t s0 = atomic_load(&sv_frame(&p, 0)->state);
    assert_true((s0 & RM_BP_SV_REF) && !(s0 & RM_BP_SV_T1));   /* promoted with its reference */
    assert_true(atomic_load(&sv_frame(&p, 3)->state) & RM_BP_SV_T1);
    assert_int_equal(p.t1_refs, 0);
    atomic_store(&sv_frame(&p, 1)->state, 0);
    rm__bp_earc_admit(e, 1, 5);

    rm__bp_earc_note_miss(e, 2);
    rm__bp_earc_stats(e, &st);
    assert_int_equal(st.p, 3);
    assert_int_equal(st.b1_hits, 1);
    assert_int_equal(rm__bp_earc_evict(e), 1);
    rm__bp_earc_stats(e, &st);
    assert_int_equal(st.rejects, 1);
    assert_int_equal(st.t1, 2);
    assert_int_equal(st.t2, 1);
    assert_int_equal(st.win, 0);
    s0 = atomic_load(&sv_frame(&p, 0)->state);
    assert_int_equal(s0 & (RM_BP_SV_REF | RM_BP_SV_FREQ_MASK), 0);   /* aged: 1 hit halves to 0 */
    assert_int_equal(p.claims, 2);   /* 2 at miss 5, the newcomer 5 at miss 2: one claim each */
    rm__bp_earc_destroy(e);
    svpool_fini(&p);
}

/* The inline state-word ops decide exactly as the ops do: two policies over
 * the same frames' layout, one through ops and one inline, on the same trace
 * (600 frames over three segments, Zipf-like keys, a tenth of the misses'
 * pages kept pinned for a while, capacity resized mid-way): the same victim
 * at every miss, the same state words and T1 counts, the same statistics. */
static void
test_bufpool_arc_car_inline_state_ops_decide_as_the_ops(void **state)
{
    (void)state;
    enum { C = 600, NK = 6000, N = 200000 };
    svpool_t p[2];
    rm__bp_earc_t *e[2];
    uint32_t *slot_of[2], key_of[2][C], used = 0, pinned[16] = {0}, npin = 0;
    for (int i = 0; i < 2; i++) {
        svpool_init(&p[i]);
        e[i] = sv_policy(&p[i], C / 2, i);
        slot_of[i] = malloc(NK * sizeof(uint32_t));
        assert_non_null(slot_of[i]);
        memset(slot_of[i], 0xff, NK * sizeof(uint32_t));
    }
    uint32_t cap = C / 2;
    rs = 0x1234567ull;
    uint64_t misses = 0, hits = 0;
    for (uint32_t n = 0; n < N; n++) {
        if (n == N / 3) {
            cap = C;   /* a grow: new sketch and ghosts, as the page cache's policy_grow_locked */
            for (int i = 0; i < 2; i++)
                assert_int_equal(rm__bp_earc_resize(e[i], C, C), RM_OK);
        }
        uint64_t r = rnd();
        uint32_t k = (uint32_t)((r % NK) * (r % NK) / NK);   /* skewed to low keys */
        uint32_t s = slot_of[0][k];
        assert_int_equal(s, slot_of[1][k]);
        if (s != RM_BP_NIL) {
            hits++;
            for (int i = 0; i < 2; i++)
                sv_hit(&p[i], s);
            continue;
        }
        misses++;
        if (misses % 16 == 0)
            for (int i = 0; i < 2; i++)
                rm__bp_earc_note_hits(e[i], hits);
        uint32_t v[2];
        for (int i = 0; i < 2; i++) {
            rm__bp_earc_note_miss(e[i], k);
            v[i] = used < cap ? used : rm__bp_earc_evict(e[i]);
        }
        assert_int_equal(v[0], v[1]);
        if (v[0] == RM_BP_NIL)
            continue;
        if (used < cap) {
            used++;
        } else {
            for (int i = 0; i < 2; i++)
                slot_of[i][key_of[i][v[0]]] = RM_BP_NIL;
        }
        for (int i = 0; i < 2; i++) {
            key_of[i][v[0]] = k;
            slot_of[i][k] = v[0];
            atomic_store(&sv_frame(&p[i], v[0])->state, 0);
            rm__bp_earc_admit(e[i], v[0], k);
        }
        /* one new page in ten stays pinned until 16 later pins */
        if (r >> 60 == 0) {
            uint32_t old = pinned[npin % 16];
            for (int i = 0; i < 2; i++) {
                if (npin >= 16)
                    atomic_fetch_and(&sv_frame(&p[i], old)->state, ~SV_PIN);
                atomic_fetch_or(&sv_frame(&p[i], v[0])->state, SV_PIN);
            }
            pinned[npin++ % 16] = v[0];
        }
    }
    rm__bp_earc_stats_t a, b;
    rm__bp_earc_stats(e[0], &a);
    rm__bp_earc_stats(e[1], &b);
    assert_memory_equal(&a, &b, sizeof a);
    assert_int_equal(p[0].t1_refs, p[1].t1_refs);
    for (uint32_t s = 0; s < C; s++)
        assert_int_equal(atomic_load(&sv_frame(&p[0], s)->state), atomic_load(&sv_frame(&p[1], s)->state));
    assert_int_equal(p[0].claims, p[1].claims);   /* try_claim is the pool's own in both */
    assert_true(a.b1_hits > 0 && a.b2_hits > 0 && a.rejects > 0 && a.t2 > 0);
    print_message("%llu misses, %llu hits; claims through ops: %u (ops) vs %u (inline)\n",
                  (unsigned long long)misses, (unsigned long long)hits, p[0].claims, p[1].claims);
    for (int i = 0; i < 2; i++) {
        rm__bp_earc_destroy(e[i]);
        svpool_fini(&p[i]);
        free(slot_of[i]);
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bufpool_arc_window_starts_at_one_page),
        cmocka_unit_test(test_bufpool_arc_climber_widens_window_when_new_pages_need_time),
        cmocka_unit_test(test_bufpool_arc_guard_admits_when_the_duel_refuses_pages_that_return),
        cmocka_unit_test(test_bufpool_arc_exact_recency_evicts_in_lru_order),
        cmocka_unit_test(test_bufpool_arc_exact_recency_window_hit_stays_in_window),
        cmocka_unit_test(test_bufpool_arc_exact_irr_holds_a_loop_beside_a_hot_set),
        cmocka_unit_test(test_bufpool_arc_gate_follows_the_shadow_that_hits_more),
        cmocka_unit_test(test_bufpool_arc_gate_one_sided_keeps_arc_margin_on_shifting_hot_set),
        cmocka_unit_test(test_bufpool_arc_gate_rebuilds_its_shadows_on_resize),
        cmocka_unit_test(test_bufpool_arc_car_inline_state_ops_hand_computed),
        cmocka_unit_test(test_bufpool_arc_car_inline_state_ops_decide_as_the_ops),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
