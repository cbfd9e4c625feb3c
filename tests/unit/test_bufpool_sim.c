/*
 * test_bufpool_sim.c — the modern competitors in the policy simulator
 * (W-TinyLFU, S3-FIFO, LIRS), each on a trace whose hits were computed by
 * hand from the algorithm's definition (the steps are in the comments), plus
 * the properties every policy must keep: never above Belady's OPT, equal to
 * LRU while the cache is not full, W-TinyLFU's hill climber widening its
 * window when only recency pays.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "rustymem/bufpool.h"

static uint64_t
sim(rm_bufpool_policy_t p, const uint64_t *t, size_t n, size_t frames)
{
    uint64_t h = UINT64_MAX;
    assert_int_equal(rm_bufpool_simulate(p, t, n, frames, NULL, &h), RM_OK);
    return h;
}

static void
test_bufpool_sim_policy_names(void **state)
{
    (void)state;
    assert_string_equal(rm_bufpool_policy_name(RM_BUFPOOL_POLICY_WTINYLFU), "wtinylfu");
    assert_string_equal(rm_bufpool_policy_name(RM_BUFPOOL_POLICY_S3FIFO), "s3fifo");
    assert_string_equal(rm_bufpool_policy_name(RM_BUFPOOL_POLICY_LIRS), "lirs");
    assert_string_equal(rm_bufpool_policy_name(RM_BUFPOOL_POLICY_COUNT), "?");
}

static void
test_bufpool_sim_wtinylfu_hand_trace(void **state)
{
    (void)state;
    /*
     * c=3: window 1, main 2 (protected ≤ 1). Every access counts in the
     * sketch; a key's first access only sets its doorkeeper bit, so the
     * estimate is the number of accesses so far (no halving: 16 < 10·c).
     *  1m W[1]  1h  1h (f1=3)  2m W[2] P[1]  2h (f2=2)  3m W[3] P[1,2]
     *  4m: cand 3 (f1) vs victim 1 (f3) → 3 out          W[4]
     *  5m: cand 4 (f1) vs 1 (f3) → 4 out                 W[5]
     *  1h: probation → protected R[1] P[2]
     *  2h: → protected, R over 1 → 1 back to probation   R[2] P[1]
     *  3m: cand 5 (f1) vs 1 (f4) → 5 out                 W[3]
     *  4m: cand 3 (f2) vs 1 → 3 out                      W[4]
     *  3m: cand 4 (f2) vs 1 → 4 out                      W[3]
     *  1h: → protected R[1] P[2]
     *  6m: cand 3 (f3) vs 2 (f3): a tie keeps the victim → 3 out   W[6]
     *  6h
     * hits 7. LRU on the same trace: 5.
     */
    uint64_t t[] = {1, 1, 1, 2, 2, 3, 4, 5, 1, 2, 3, 4, 3, 1, 6, 6};
    assert_int_equal(sim(RM_BUFPOOL_POLICY_WTINYLFU, t, 16, 3), 7);
    assert_int_equal(sim(RM_BUFPOOL_POLICY_LRU, t, 16, 3), 5);
}

static void
test_bufpool_sim_s3fifo_hand_trace(void **state)
{
    (void)state;
    /*
     * c=2: small S holds 1 (10 % of c, at least 1), main M the rest, ghost G
     * as many keys as M (1).
     *  1m S[1]  1h (f1=1)  2m S[1,2]
     *  3m: evict from S: 1 was hit → M[1] (f=0); 2 was not → G[2]   S[3]
     *  1h (f1=1)
     *  2m: in G → goes to M; evict from S: 3 → G[3]                  M[1,2]
     *  3m: in G → M; |S| = 0 < 1 → evict from M: 1 (f1) reinserted
     *      with f0, 2 (f0) leaves                                    M[1,3]
     *  1h (f1=1)
     *  4m: S empty → from M: 3 (f0) leaves after 1 is reinserted     S[4] M[1]
     *  3m: not in G (M's victims get no ghost); evict from S: 4 → G  S[3] M[1]
     *  1h
     * hits 4. LRU on the same trace: 1.
     */
    uint64_t t[] = {1, 1, 2, 3, 1, 2, 3, 1, 4, 3, 1};
    assert_int_equal(sim(RM_BUFPOOL_POLICY_S3FIFO, t, 11, 2), 4);
    assert_int_equal(sim(RM_BUFPOOL_POLICY_LRU, t, 11, 2), 1);
}

static void
test_bufpool_sim_lirs_hand_trace(void **state)
{
    (void)state;
    /*
     * c=3: 2 LIR pages, 1 resident HIR page (queue Q). Stack S bottom → top.
     *  1m LIR S[1]  2m LIR S[1,2]  3m HIR S[1,2,3] Q[3]
     *  1h (LIR at the bottom) S[2,3,1]
     *  4m: evict Q's 3 (stays in S as a ghost)  S[2,3g,1,4] Q[4]
     *  3m: ghost in S → LIR; evict 4 (ghost); bottom LIR 2 → HIR Q[2]; S[1,4g,3]
     *  2h: HIR not in S → top of S, end of Q   S[1,4g,3,2] Q[2]
     *  1h: bottom LIR → top, prune 4g           S[3,2,1]
     *  4m: evict 2 (ghost in S)                 S[3,2g,1,4] Q[4]
     *  2m: ghost → LIR; evict 4; bottom 3 → HIR Q[3]   S[1,4g,2]
     *  3h
     * hits 4. LRU on the same trace: 3.
     */
    uint64_t t[] = {1, 2, 3, 1, 4, 3, 2, 1, 4, 2, 3};
    assert_int_equal(sim(RM_BUFPOOL_POLICY_LIRS, t, 11, 3), 4);
    assert_int_equal(sim(RM_BUFPOOL_POLICY_LRU, t, 11, 3), 3);
}

static void
test_bufpool_sim_lirs_keeps_lir_set_under_a_loop(void **state)
{
    (void)state;
    /* A loop over 12 pages with c=10 (9 LIR + 1 HIR): LRU never hits; LIRS
     * keeps its 9 LIR pages and hits them on every later round. */
    uint64_t t[120];
    for (int i = 0; i < 120; i++)
        t[i] = (uint64_t)(i % 12);
    assert_int_equal(sim(RM_BUFPOOL_POLICY_LRU, t, 120, 10), 0);
    assert_int_equal(sim(RM_BUFPOOL_POLICY_LIRS, t, 120, 10), 9 * 9);
}

static uint64_t rs = 0x2545F4914F6CDD1Dull;

static uint64_t
rnd(void)
{
    rs ^= rs << 13;
    rs ^= rs >> 7;
    rs ^= rs << 17;
    return rs;
}

static void
test_bufpool_sim_no_policy_beats_opt(void **state)
{
    (void)state;
    size_t n = 20000;
    uint64_t *t = malloc(n * sizeof *t);
    assert_non_null(t);
    /* skewed keys: a hot 64 and a cold 2 000 */
    for (size_t i = 0; i < n; i++)
        t[i] = rnd() % 4 ? rnd() % 64 : 64 + rnd() % 2000;
    for (size_t frames = 8; frames <= 128; frames *= 4) {
        uint64_t opt = sim(RM_BUFPOOL_POLICY_OPT, t, n, frames);
        uint64_t lru = sim(RM_BUFPOOL_POLICY_LRU, t, n, frames);
        for (int p = 0; p < RM_BUFPOOL_POLICY_COUNT; p++) {
            uint64_t h = sim((rm_bufpool_policy_t)p, t, n, frames);
            assert_true(h <= opt);
            /* a frequency-skewed trace: each policy is at least a third of LRU */
            assert_true(h * 3 >= lru);
        }
    }
    free(t);
}

static void
test_bufpool_sim_wtinylfu_climber_widens_window_for_recency(void **state)
{
    (void)state;
    /*
     * Every page is touched twice, 1..90 accesses apart (random), and never
     * again: with a cache of 100 LRU hits every second touch, while a 1-page
     * window sends each page to the admission duel with a count of 1 against
     * victims just as cold, and a tie keeps the victim (about 11 % of LRU's
     * hits). The hill climber must widen the window to most of the cache to
     * get near LRU. (On a strictly periodic version of this trace the hit
     * ratio of every sample is the same, the climber keeps its first
     * direction — shrink — and the window stays at 1 page, as in Caffeine.)
     */
    size_t n = 200000;
    uint64_t *t = malloc(n * sizeof *t);
    assert_non_null(t);
    for (size_t i = 0; i < n; i++)
        t[i] = UINT64_MAX;
    uint64_t fresh = 0;
    for (size_t i = 0; i < n; i++) {
        if (t[i] != UINT64_MAX)
            continue;
        t[i] = fresh++;
        size_t j = i + 1 + rnd() % 90;
        while (j < n && t[j] != UINT64_MAX)
            j++;
        if (j < n)
            t[j] = t[i];
    }
    uint64_t lru = sim(RM_BUFPOOL_POLICY_LRU, t, n, 100);
    uint64_t w = sim(RM_BUFPOOL_POLICY_WTINYLFU, t, n, 100);
    uint64_t s3 = sim(RM_BUFPOOL_POLICY_S3FIFO, t, n, 100);
    assert_true(lru > n / 2 - 100);
    assert_true(w * 10 >= lru * 9);
    assert_true(s3 * 2 < lru);   /* S3-FIFO's static 10 % small queue cannot adapt */
    free(t);
}

static void
test_bufpool_sim_new_policies_reject_bad_args(void **state)
{
    (void)state;
    uint64_t t[] = {1}, h;
    for (int p = RM_BUFPOOL_POLICY_WTINYLFU; p <= RM_BUFPOOL_POLICY_LIRS; p++) {
        assert_int_equal(rm_bufpool_simulate((rm_bufpool_policy_t)p, t, 1, 1, NULL, &h), RM_EINVAL);
        assert_int_equal(rm_bufpool_simulate((rm_bufpool_policy_t)p, NULL, 1, 4, NULL, &h), RM_EINVAL);
        assert_int_equal(rm_bufpool_simulate((rm_bufpool_policy_t)p, t, 0, 4, NULL, &h), RM_OK);
        assert_int_equal(h, 0);
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bufpool_sim_policy_names),
        cmocka_unit_test(test_bufpool_sim_wtinylfu_hand_trace),
        cmocka_unit_test(test_bufpool_sim_s3fifo_hand_trace),
        cmocka_unit_test(test_bufpool_sim_lirs_hand_trace),
        cmocka_unit_test(test_bufpool_sim_lirs_keeps_lir_set_under_a_loop),
        cmocka_unit_test(test_bufpool_sim_no_policy_beats_opt),
        cmocka_unit_test(test_bufpool_sim_wtinylfu_climber_widens_window_for_recency),
        cmocka_unit_test(test_bufpool_sim_new_policies_reject_bad_args),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
