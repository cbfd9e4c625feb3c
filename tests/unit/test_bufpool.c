/*
 * test_bufpool.c — buffer pool: checksums, replacement policies on
 * hand-computed traces, pin/unpin and persistence, corruption detection,
 * resize, emergency eviction, prefetch, page-source failures, and crash
 * safety (fork + SIGKILL, and a deliberate torn write).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sys/stat.h>

#include <cmocka.h>

#include "pool_fixture.h"

#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <time.h>
#include <stdatomic.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bufpool_internal.h"
#include "rustymem/bufpool.h"
#include "rustymem/stats.h"

/* ---- helpers ------------------------------------------------------------------ */

static char *
make_dir(void)
{
    return make_dir_named("rm_bufpool_test_");
}

static rm_bufpool_t *
open_pool(const char *dir, size_t frames, int writer)
{
    return open_pool_sized(dir, frames, 0, writer);
}

static void
write_page(rm_bufpool_t *bp, uint32_t f, uint64_t p, uint64_t v)
{
    rm_bufpool_frame_t *fr;
    assert_int_equal(rm_bufpool_pin(bp, f, p, RM_BUFPOOL_EXCLUSIVE, &fr), RM_OK);
    uint64_t *d = rm_bufpool_frame_data(fr);
    size_t n = rm_bufpool_usable_bytes(bp) / 8;
    for (size_t i = 0; i < n; i++)
        d[i] = v ^ (p << 32) ^ i;
    rm_bufpool_unpin(bp, fr, RM_BUFPOOL_EXCLUSIVE, 1);
}

/* Returns the version stored in the page, or UINT64_MAX if inconsistent. */
static uint64_t
read_page(rm_bufpool_t *bp, uint32_t f, uint64_t p, rm_status_t *st)
{
    rm_bufpool_frame_t *fr;
    *st = rm_bufpool_pin(bp, f, p, RM_BUFPOOL_SHARED, &fr);
    if (*st != RM_OK)
        return UINT64_MAX;
    const uint64_t *d = rm_bufpool_frame_data(fr);
    uint64_t v = d[0] ^ (p << 32);
    size_t n = rm_bufpool_usable_bytes(bp) / 8;
    for (size_t i = 0; i < n; i++)
        if ((d[i] ^ (p << 32) ^ i) != v) {
            v = UINT64_MAX;
            break;
        }
    rm_bufpool_unpin(bp, fr, RM_BUFPOOL_SHARED, 0);
    return v;
}

static uint64_t
sim(rm_bufpool_policy_t p, const uint64_t *t, size_t n, size_t frames)
{
    uint64_t h = 0;
    assert_int_equal(rm_bufpool_simulate(p, t, n, frames, NULL, &h), RM_OK);
    return h;
}

/* ---- checksum ------------------------------------------------------------------- */

static void
test_bufpool_crc32c_check_value(void **state)
{
    (void)state;
    assert_int_equal(rm__bp_crc32c(0, "123456789", 9), 0xE3069283u);
    assert_int_equal(rm__bp_crc32c_sw(0, "123456789", 9), 0xE3069283u);
    unsigned char buf[1000];
    for (int i = 0; i < 1000; i++)
        buf[i] = (unsigned char)(i * 7 + 3);
    /* unaligned starts and odd lengths agree between the two paths */
    for (int off = 0; off < 8; off++)
        assert_int_equal(rm__bp_crc32c(0, buf + off, 993 - off), rm__bp_crc32c_sw(0, buf + off, 993 - off));
}

/* ---- policies on hand-computed traces ------------------------------------------------- */

static void
test_bufpool_policy_lru_hand_trace(void **state)
{
    (void)state;
    /* c=2: 1m 2m 1h 3m(evicts 2) 2m */
    uint64_t t[] = {1, 2, 1, 3, 2};
    assert_int_equal(sim(RM_BUFPOOL_POLICY_LRU, t, 5, 2), 1);
}

static void
test_bufpool_policy_clock_hand_trace(void **state)
{
    (void)state;
    /* c=2: 1m(u1) 2m(u1) 1h(u2); 3m: sweep 1:2→1, 2:1→0, 1:1→0, 2 is victim; 1h */
    uint64_t t[] = {1, 2, 1, 3, 1};
    assert_int_equal(sim(RM_BUFPOOL_POLICY_CLOCK, t, 5, 2), 2);
}

static void
test_bufpool_policy_arc_keeps_frequent_page(void **state)
{
    (void)state;
    /* c=2: 1m→T1, 1h→T2, 2m→T1, 3m: REPLACE evicts T1's 2 (|T1|>p=0), 1h. LRU would evict 1. */
    uint64_t t[] = {1, 1, 2, 3, 1};
    assert_int_equal(sim(RM_BUFPOOL_POLICY_ARC, t, 5, 2), 2);
    assert_int_equal(sim(RM_BUFPOOL_POLICY_LRU, t, 5, 2), 1);
}

static void
test_bufpool_policy_arc_ghost_hit_adapts(void **state)
{
    (void)state;
    /* c=2: 1m 2m 3m(1→B1) 1m(B1 hit: p=1, REPLACE 2→B1, 1→T2) 3h 1h */
    uint64_t t[] = {1, 2, 3, 1, 3, 1};
    assert_int_equal(sim(RM_BUFPOOL_POLICY_ARC, t, 6, 2), 2);
}

static void
test_bufpool_policy_opt_hand_trace(void **state)
{
    (void)state;
    /* c=2: 1m 2m 3m(evict 2: next use later than 1) 1h 2m(evict 1: never again) 3h */
    uint64_t t[] = {1, 2, 3, 1, 2, 3};
    assert_int_equal(sim(RM_BUFPOOL_POLICY_OPT, t, 6, 2), 2);
}

static void
test_bufpool_policy_rustymem_cold_start_hits_like_lru(void **state)
{
    (void)state;
    /* while the cache is not full every policy hits every re-reference */
    uint64_t t[] = {1, 2, 3, 1, 2, 3, 4, 4};
    for (int p = 0; p < RM_BUFPOOL_POLICY_COUNT; p++)
        assert_int_equal(sim((rm_bufpool_policy_t)p, t, 8, 4), 4);
}

static void
test_bufpool_policy_rustymem_scan_resistant(void **state)
{
    (void)state;
    /* 50 hot pages × 10 rounds, a 1000-page scan, then the hot pages again */
    size_t n = 0;
    uint64_t *t = malloc(sizeof(uint64_t) * 2000);
    for (int r = 0; r < 10; r++)
        for (uint64_t k = 0; k < 50; k++)
            t[n++] = k;
    for (uint64_t k = 0; k < 1000; k++)
        t[n++] = 1000 + k;
    size_t before = n;
    for (uint64_t k = 0; k < 50; k++)
        t[n++] = k;
    uint64_t ours = sim(RM_BUFPOOL_POLICY_RUSTYMEM, t, n, 100) - sim(RM_BUFPOOL_POLICY_RUSTYMEM, t, before, 100);
    uint64_t lru = sim(RM_BUFPOOL_POLICY_LRU, t, n, 100) - sim(RM_BUFPOOL_POLICY_LRU, t, before, 100);
    assert_int_equal(lru, 0);
    assert_true(ours >= 45);
    free(t);
}

static void
test_bufpool_policy_rustymem_keeps_part_of_loop(void **state)
{
    (void)state;
    /* a loop 10 % larger than the cache: LRU and CLOCK never hit, ARC little */
    size_t n = 110 * 30;
    uint64_t *t = malloc(sizeof(uint64_t) * n);
    for (size_t i = 0; i < n; i++)
        t[i] = i % 110;
    assert_int_equal(sim(RM_BUFPOOL_POLICY_LRU, t, n, 100), 0);
    uint64_t ours = sim(RM_BUFPOOL_POLICY_RUSTYMEM, t, n, 100);
    uint64_t arc = sim(RM_BUFPOOL_POLICY_ARC, t, n, 100);
    assert_true(ours > n / 2);
    assert_true(ours > arc);
    free(t);
}

/* ---- Enhanced ARC internals against hand-computed sequences ------------------------------
 * A policy over 4 slots (window 1, main 3) whose reference bits, hit counts
 * and T1 marks live in this context, as they live in the frame state word in
 * the pool. */

typedef struct tctx {
    uint8_t ref[8], freq[8], t1[8];
    rm__bp_plain_t p;   /* the policy's plain-array ops (rm__bp_plain_ops) over the arrays above */
} tctx_t;

static void
t_init(tctx_t *c)
{
    memset(c, 0, sizeof *c);
    c->p = (rm__bp_plain_t){.ref = c->ref, .freq = c->freq, .t1 = c->t1};
}

/* a hit, as the pool's CAS does it: REF and FREQ+1; counts a T1 reference */
static void
t_hit(tctx_t *c, uint32_t s)
{
    rm__bp_plain_ops.set_ref(&c->p, s);
    c->freq[s]++;
}

/* a miss of key into slot s (free or just evicted) */
static void
t_load(rm__bp_earc_t *e, tctx_t *c, uint32_t s, uint64_t key)
{
    c->ref[s] = 0;
    c->freq[s] = 0;
    rm__bp_earc_admit(e, s, key);
}

/*
 * Common start: keys 100..103 into slots 0..3 → T1 {0,1,2}, window {3}.
 * Slot 0 is hit; the miss of 104 (window candidate 3 made hot, so it wins its
 * duel): ARC's rule sees |T1| − refs = 2 ≥ max(p,1) = 1, the T1 hand promotes
 * referenced slot 0 to T2 (its REF bit goes with it), looks again (2 ≥ 1), and slot 1 is the victim
 * (→ B1). Candidate 3 joins T1; 104 loads into slot 1, the window.
 * End: T1 {2,3}, T2 {0}, window {1}, B1 {101}, p = 0.
 */
static rm__bp_earc_t *
t_setup(tctx_t *c)
{
    t_init(c);
    rm__bp_earc_t *e;
    assert_int_equal(rm__bp_earc_create(4, 4, &rm__bp_plain_ops, &c->p, NULL, &e), RM_OK);
    for (uint32_t s = 0; s < 4; s++) {
        rm__bp_earc_note_miss(e, 100 + s);
        t_load(e, c, s, 100 + s);
    }
    assert_int_equal(c->t1[0] + c->t1[1] + c->t1[2] + c->t1[3], 3);
    assert_int_equal(c->t1[3], 0);
    t_hit(c, 0);
    assert_int_equal(c->p.t1_refs, 1);
    c->freq[3] = 5;
    rm__bp_earc_note_miss(e, 104);
    assert_int_equal(rm__bp_earc_evict(e), 1);
    t_load(e, c, 1, 104);
    rm__bp_earc_stats_t st;
    rm__bp_earc_stats(e, &st);
    assert_int_equal(st.t1, 2);
    assert_int_equal(st.t2, 1);
    assert_int_equal(st.win, 1);
    assert_int_equal(st.b1, 1);
    assert_int_equal(c->p.t1_refs, 0);   /* slot 0 left T1 ... */
    assert_int_equal(c->ref[0], 1);    /* ... with the reference that promoted it */
    assert_true(c->t1[2] && c->t1[3] && !c->t1[0] && !c->t1[1]);
    return e;
}

static void
test_bufpool_earc_victim_from_t2_when_t1_pages_are_referenced(void **state)
{
    (void)state;
    tctx_t c;
    rm__bp_earc_t *e = t_setup(&c);
    /* both T1 pages hit: ARC would have them in T2 already, so |T1| − refs =
     * 0 < 1 and the victim is T2's slot 0 (→ B2), with no T1 page moved; the
     * clock's raw |T1| = 2 would have swept both into T2 first */
    t_hit(&c, 2);
    t_hit(&c, 3);
    assert_int_equal(c.p.t1_refs, 2);
    c.freq[1] = 5;
    rm__bp_earc_note_miss(e, 105);
    assert_int_equal(rm__bp_earc_evict(e), 0);
    rm__bp_earc_stats_t st;
    rm__bp_earc_stats(e, &st);
    assert_int_equal(st.t1, 3);    /* 2, 3 and the candidate 1 */
    assert_int_equal(st.t2, 0);
    assert_int_equal(st.b2, 1);
    assert_int_equal(c.p.t1_refs, 2);
    assert_true(c.ref[2] && c.ref[3]);
    rm__bp_earc_destroy(e);
}

static void
test_bufpool_earc_promoted_page_outlives_an_older_t2_reference(void **state)
{
    (void)state;
    tctx_t c;
    rm__bp_earc_t *e = t_setup(&c);
    /* T1 {2,3}, T2 {0}, window {1}. Slot 0 is hit again in T2 (an old
     * reference, as a hot set's pages carry when the set moves on). Slot 2 is
     * hit; the miss of 105 (window candidate 1 made hot) sees |T1| − refs =
     * 1 ≥ 1: the T1 hand promotes slot 2 with its reference, looks again
     * (1 ≥ 1) and slot 3 is the victim. End: T1 {1}, T2 {0, 2} both REF. */
    t_hit(&c, 0);
    t_hit(&c, 2);
    c.freq[1] = 9;                 /* beats slot 3's 5 from the setup */
    rm__bp_earc_note_miss(e, 105);
    assert_int_equal(rm__bp_earc_evict(e), 3);
    t_load(e, &c, 3, 105);
    assert_true(c.ref[0] && c.ref[2] && !c.t1[2]);
    /* T1's page referenced (0 < 1): the victim comes from T2. The hand
     * clears slot 0, then slot 2, and comes back to slot 0, untouched since:
     * the older page goes. Had slot 2 entered T2 with its bit cleared, it
     * would have been evicted right after the sweep over slot 0 — a page
     * hit a moment ago before one idle since its last pass. */
    t_hit(&c, 1);
    c.freq[3] = 9;
    rm__bp_earc_note_miss(e, 106);
    assert_int_equal(rm__bp_earc_evict(e), 0);
    assert_int_equal(c.ref[2], 0);
    rm__bp_earc_stats_t st;
    rm__bp_earc_stats(e, &st);
    assert_int_equal(st.b2, 1);
    rm__bp_earc_destroy(e);
}

static void
test_bufpool_earc_b1_hit_ages_a_t2_reference(void **state)
{
    (void)state;
    tctx_t c;
    rm__bp_earc_t *e = t_setup(&c);
    /* T2's slot 0 referenced; the miss of 101 hits B1: p moves by ARC's δ = 1
     * times c / |B1 ∪ B2| = 4 / 1, capped at m = 3, and the T2 hand clears
     * one REF bit ahead of need */
    t_hit(&c, 0);
    rm__bp_earc_note_miss(e, 101);
    rm__bp_earc_stats_t st;
    rm__bp_earc_stats(e, &st);
    assert_int_equal(st.b1_hits, 1);
    assert_int_equal(st.p, 3);
    assert_int_equal(c.ref[0], 0);
    assert_int_equal(c.freq[0], 2);    /* only the bit: both hits still count */
    rm__bp_earc_destroy(e);
}

static void
test_bufpool_earc_p_step_scales_with_the_ghost_directory(void **state)
{
    (void)state;
    tctx_t c;
    rm__bp_earc_t *e = t_setup(&c);
    /* B1 hit (101) with one ghost: δ = 1 times c / |B1 ∪ B2| = 4 / 1 → p = 3
     * (capped at m; ARC alone: 1) */
    rm__bp_earc_note_miss(e, 101);
    rm__bp_earc_stats_t st;
    rm__bp_earc_stats(e, &st);
    assert_int_equal(st.p, 3);
    /* both T1 pages referenced: the victim is T2's slot 0 (key 100 → B2);
     * the candidate joins T1 (|T1| = 3 = m), which trims 101 from B1 */
    t_hit(&c, 2);
    t_hit(&c, 3);
    c.freq[1] = 5;
    rm__bp_earc_note_miss(e, 105);
    assert_int_equal(rm__bp_earc_evict(e), 0);
    rm__bp_earc_stats(e, &st);
    assert_int_equal(st.b1, 0);
    assert_int_equal(st.b2, 1);
    assert_int_equal(st.p, 3);
    /* B2 hit (100): δ = 1 times 4 / 1 → p = 0 (ARC alone: 2) */
    rm__bp_earc_note_miss(e, 100);
    rm__bp_earc_stats(e, &st);
    assert_int_equal(st.b2_hits, 1);
    assert_int_equal(st.p, 0);
    rm__bp_earc_destroy(e);
}

static void
test_bufpool_earc_mark_t1_follows_the_lists(void **state)
{
    (void)state;
    tctx_t c;
    rm__bp_earc_t *e = t_setup(&c);
    t_hit(&c, 2);
    assert_int_equal(c.p.t1_refs, 1);
    /* leaving T1 with its bit set takes the reference off the count */
    rm__bp_earc_remove(e, 2);
    assert_int_equal(c.t1[2], 0);
    assert_int_equal(c.p.t1_refs, 0);
    /* a window page hit before it enters T1 is counted when it enters */
    t_hit(&c, 1);
    assert_int_equal(c.p.t1_refs, 0);
    c.ref[2] = 0;
    t_load(e, &c, 2, 106);         /* window overflows into main (room after the removal) */
    assert_int_equal(c.t1[1], 1);
    assert_int_equal(c.p.t1_refs, 1);
    rm__bp_earc_destroy(e);
}

static void
test_bufpool_earc_history_ages_with_accesses(void **state)
{
    (void)state;
    tctx_t c;
    t_init(&c);
    rm__bp_earc_t *e;
    assert_int_equal(rm__bp_earc_create(4, 4, &rm__bp_plain_ops, &c.p, NULL, &e), RM_OK);
    for (uint32_t s = 0; s < 4; s++) {
        rm__bp_earc_note_miss(e, 100 + s);
        t_load(e, &c, s, 100 + s);
    }
    c.freq[0] = 8;
    /* halving every 20 · c = 80 accesses: 4 misses + 75 hits = 79, not yet */
    rm__bp_earc_note_hits(e, 75);
    assert_int_equal(c.freq[0], 8);
    /* the 80th access is the next miss: sketch and resident counts halve */
    rm__bp_earc_note_miss(e, 200);
    assert_int_equal(c.freq[0], 4);
    /* misses alone take 80 more accesses */
    for (int i = 0; i < 79; i++)
        rm__bp_earc_note_miss(e, 300 + (uint64_t)i);
    assert_int_equal(c.freq[0], 4);
    rm__bp_earc_note_miss(e, 400);
    assert_int_equal(c.freq[0], 2);
    rm__bp_earc_destroy(e);
}

static void
test_bufpool_t1_refs_counter_matches_frame_states(void **state)
{
    (void)state;
    /* misses, hits, evictions, read-ahead (grace bits), emergency eviction and
     * a shrink move frames in and out of T1 and set or clear REF: the counter
     * the hit path keeps must equal a recount at every point checked */
    char *dir = make_dir();
    rm_bufpool_t *bp = open_pool(dir, 64, 0);
    uint32_t f;
    assert_int_equal(rm_bufpool_open_file(bp, "t1", &f), RM_OK);
    for (uint64_t p = 0; p < 400; p++)
        write_page(bp, f, p, p);
    assert_int_equal(rm_bufpool_checkpoint(bp), RM_OK);
    uint64_t x = 12345, ev;
    int64_t cnt, re, most = 0;
    for (int round = 0; round < 4; round++) {
        for (int i = 0; i < 3000; i++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            /* uniform over 80 pages (T1 holds many once-hit pages), a
             * sequential run (read-ahead), and noise over the file */
            uint64_t p = (x % 8 == 0) ? 100 + (uint64_t)i % 300 : (x % 8 == 1) ? x % 400 : x % 80;
            rm_bufpool_mode_t m = (x & 16) ? RM_BUFPOOL_SHARED : RM_BUFPOOL_EXCLUSIVE;
            rm_bufpool_frame_t *fr;
            assert_int_equal(rm_bufpool_pin(bp, f, p, m, &fr), RM_OK);
            rm_bufpool_unpin(bp, fr, m, 0);
            if (i % 64 == 0) {
                rm__bp_test_t1_refs(bp, &cnt, &re);
                assert_int_equal(cnt, re);
                if (cnt > most)
                    most = cnt;
            }
        }
        assert_int_equal(rm_bufpool_evict(bp, 0.5, &ev), RM_OK);
        rm__bp_test_t1_refs(bp, &cnt, &re);
        assert_int_equal(cnt, re);
    }
    assert_true(most > 0);
    rm_bufpool_stats_t st;
    assert_int_equal(rm_bufpool_stats(bp, &st), RM_OK);
    assert_true(st.prefetch_issued > 0);
    assert_int_equal(rm_bufpool_resize(bp, 16), RM_OK);
    rm__bp_test_t1_refs(bp, &cnt, &re);
    assert_int_equal(cnt, re);
    assert_int_equal(rm_bufpool_destroy(bp), RM_OK);
    remove_dir(dir);
}

static void
test_bufpool_simulate_rejects_bad_args(void **state)
{
    (void)state;
    uint64_t h = 7, t[1] = {1};
    assert_int_equal(rm_bufpool_simulate(RM_BUFPOOL_POLICY_LRU, t, 1, 1, NULL, &h), RM_EINVAL);
    assert_int_equal(rm_bufpool_simulate(RM_BUFPOOL_POLICY_COUNT, t, 1, 4, NULL, &h), RM_EINVAL);
    assert_int_equal(rm_bufpool_simulate(RM_BUFPOOL_POLICY_LRU, NULL, 1, 4, NULL, &h), RM_EINVAL);
    assert_int_equal(h, 7);
}

/* ---- pool --------------------------------------------------------------------------- */

static void
test_bufpool_create_rejects_bad_config(void **state)
{
    (void)state;
    rm_bufpool_config_t c;
    rm_bufpool_config_default(&c);
    rm_bufpool_t *bp = (rm_bufpool_t *)0x1;
    assert_int_equal(rm_bufpool_create(&c, &bp), RM_EINVAL);   /* no dir */
    c.dir = "/tmp";
    c.page_size = 3000;
    assert_int_equal(rm_bufpool_create(&c, &bp), RM_EINVAL);
    c.page_size = 128 * 1024;
    assert_int_equal(rm_bufpool_create(&c, &bp), RM_EINVAL);
    c.page_size = 4096;
    c.num_frames = 4;
    assert_int_equal(rm_bufpool_create(&c, &bp), RM_EINVAL);
}

static void
test_bufpool_page_persists_across_reopen(void **state)
{
    (void)state;
    char *dir = make_dir();
    rm_bufpool_t *bp = open_pool(dir, 16, 1);
    uint32_t f;
    assert_int_equal(rm_bufpool_open_file(bp, "t1", &f), RM_OK);
    for (uint64_t p = 0; p < 40; p++)   /* more pages than frames: evictions write */
        write_page(bp, f, p, 100 + p);
    assert_int_equal(rm_bufpool_destroy(bp), RM_OK);

    bp = open_pool(dir, 16, 0);
    assert_int_equal(rm_bufpool_open_file(bp, "t1", &f), RM_OK);
    uint64_t pages;
    assert_int_equal(rm_bufpool_file_pages(bp, f, &pages), RM_OK);
    assert_int_equal(pages, 40);
    rm_status_t st;
    for (uint64_t p = 0; p < 40; p++) {
        assert_int_equal(read_page(bp, f, p, &st), 100 + p);
        assert_int_equal(st, RM_OK);
    }
    rm_bufpool_stats_t s;
    assert_int_equal(rm_bufpool_stats(bp, &s), RM_OK);
    assert_int_equal(s.checksum_failures, 0);
    assert_true(s.reads >= 40);
    assert_int_equal(rm_bufpool_destroy(bp), RM_OK);
    remove_dir(dir);
}

static void
test_bufpool_pages_past_eof_are_zeros_without_a_read(void **state)
{
    (void)state;
    char *dir = make_dir();
    rm_bufpool_t *bp = open_pool(dir, 16, 0);
    uint32_t f;
    assert_int_equal(rm_bufpool_open_file(bp, "grow", &f), RM_OK);
    /* a growing file: every new page misses past the end, and evictions
     * write the older ones back as it grows */
    for (uint64_t p = 0; p < 40; p++)
        write_page(bp, f, p, 500 + p);
    rm_bufpool_stats_t s;
    assert_int_equal(rm_bufpool_stats(bp, &s), RM_OK);
    assert_int_equal(s.misses, 40);
    assert_int_equal(s.reads, 0);
    assert_true(s.writes >= 24);
    /* pages that went out are read back, with their content */
    rm_status_t st;
    for (uint64_t p = 0; p < 40; p++) {
        assert_int_equal(read_page(bp, f, p, &st), 500 + p);
        assert_int_equal(st, RM_OK);
    }
    assert_int_equal(rm_bufpool_stats(bp, &s), RM_OK);
    assert_true(s.reads >= 24);
    assert_int_equal(rm_bufpool_destroy(bp), RM_OK);

    /* a partial tail page (a file cut short while it grew) is on disk: it is
     * read and fails its checksum rather than passing for a never-written page */
    char path[4096];
    snprintf(path, sizeof path, "%s/torn", dir);
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    for (int i = 0; i < 4096 + 2048; i++)
        fputc(0x5a, fp);
    fclose(fp);
    bp = open_pool(dir, 16, 0);
    assert_int_equal(rm_bufpool_open_file(bp, "torn", &f), RM_OK);
    uint64_t pages;
    assert_int_equal(rm_bufpool_file_pages(bp, f, &pages), RM_OK);
    assert_int_equal(pages, 2);
    rm_bufpool_frame_t *fr;
    assert_int_equal(rm_bufpool_pin(bp, f, 1, RM_BUFPOOL_SHARED, &fr), RM_ECORRUPT);
    assert_int_equal(rm_bufpool_pin(bp, f, 2, RM_BUFPOOL_SHARED, &fr), RM_OK);
    rm_bufpool_unpin(bp, fr, RM_BUFPOOL_SHARED, 0);
    assert_int_equal(rm_bufpool_stats(bp, &s), RM_OK);
    assert_int_equal(s.checksum_failures, 1);
    assert_int_equal(s.reads, 1);
    assert_int_equal(rm_bufpool_destroy(bp), RM_OK);
    remove_dir(dir);
}

static void
test_bufpool_discard_drops_a_page_unwritten(void **state)
{
    (void)state;
    char *dir = make_dir();
    rm_bufpool_t *bp = open_pool(dir, 16, 0);
    uint32_t f;
    assert_int_equal(rm_bufpool_open_file(bp, "d", &f), RM_OK);
    write_page(bp, f, 0, 7);
    assert_int_equal(rm_bufpool_checkpoint(bp), RM_OK);   /* page 0 on disk with 7 */
    write_page(bp, f, 0, 8);                              /* dirty again: 8 */
    write_page(bp, f, 1, 9);                              /* dirty, never written */
    rm_bufpool_stats_t s;
    assert_int_equal(rm_bufpool_stats(bp, &s), RM_OK);
    uint64_t writes = s.writes;
    assert_int_equal(s.dirty, 2);

    /* pinned: busy, nothing changes */
    rm_bufpool_frame_t *fr;
    assert_int_equal(rm_bufpool_pin(bp, f, 1, RM_BUFPOOL_SHARED, &fr), RM_OK);
    assert_int_equal(rm_bufpool_discard(bp, f, 1), RM_EBUSY);
    rm_bufpool_unpin(bp, fr, RM_BUFPOOL_SHARED, 0);

    assert_int_equal(rm_bufpool_discard(bp, f, 0), RM_OK);
    assert_int_equal(rm_bufpool_discard(bp, f, 1), RM_OK);
    assert_int_equal(rm_bufpool_discard(bp, f, 1), RM_OK);   /* not resident: nothing to do */
    assert_int_equal(rm_bufpool_discard(bp, f, 5000), RM_OK);
    assert_int_equal(rm_bufpool_discard(bp, f + 1, 0), RM_EINVAL);
    assert_int_equal(rm_bufpool_discard(bp, f, RM_BUFPOOL_MAX_PAGE_NO + 1), RM_EINVAL);
    assert_int_equal(rm_bufpool_discard(NULL, f, 0), RM_EINVAL);
    assert_int_equal(rm_bufpool_stats(bp, &s), RM_OK);
    assert_int_equal(s.discards, 2);
    assert_int_equal(s.dirty, 0);
    assert_int_equal(s.used_frames, 0);
    assert_int_equal(s.win_size + s.t1_size + s.t2_size, 0);
    /* nothing was written for them, before or at checkpoint */
    assert_int_equal(rm_bufpool_checkpoint(bp), RM_OK);
    assert_int_equal(rm_bufpool_stats(bp, &s), RM_OK);
    assert_int_equal(s.writes, writes);
    /* the next pin sees the file's copy: the old 7, and zeros past the end */
    rm_status_t st;
    assert_int_equal(read_page(bp, f, 0, &st), 7);
    assert_int_equal(st, RM_OK);
    assert_int_equal(rm_bufpool_pin(bp, f, 1, RM_BUFPOOL_SHARED, &fr), RM_OK);
    const unsigned char *z = rm_bufpool_frame_data(fr);
    for (size_t i = 0; i < rm_bufpool_usable_bytes(bp); i++)
        assert_int_equal(z[i], 0);
    rm_bufpool_unpin(bp, fr, RM_BUFPOOL_SHARED, 0);
    assert_int_equal(rm_bufpool_stats(bp, &s), RM_OK);
    assert_int_equal(s.evictions, 0);
    assert_int_equal(s.used_frames, 2);
    assert_int_equal(rm_bufpool_destroy(bp), RM_OK);
    remove_dir(dir);
}

/* The stats report ARC's T1/T2: a page hit since it came in counts in T2 at
 * once, although the clock moves it only when its hand gets there (in a pool
 * that never fills, never) — an operator reading arc_t2 = 0 at a 90 % hit
 * ratio would think the frequency side of the policy was dead. */
static void
test_bufpool_stats_report_arc_lists_not_clock_lists(void **state)
{
    (void)state;
    char *dir = make_dir();
    rm_bufpool_t *bp = open_pool(dir, 16, 0);
    uint32_t f;
    assert_int_equal(rm_bufpool_open_file(bp, "t", &f), RM_OK);
    rm_status_t st;
    for (uint64_t pg = 0; pg < 4; pg++)
        (void)read_page(bp, f, pg, &st);   /* 4 misses: 3 in T1, the newest in the window */
    rm_bufpool_stats_t s;
    assert_int_equal(rm_bufpool_stats(bp, &s), RM_OK);
    assert_int_equal(s.win_size, 1);
    assert_int_equal(s.t1_size, 3);
    assert_int_equal(s.t2_size, 0);
    (void)read_page(bp, f, 0, &st);       /* hits in T1: ARC moves these to T2 */
    (void)read_page(bp, f, 1, &st);
    (void)read_page(bp, f, 1, &st);
    assert_int_equal(rm_bufpool_stats(bp, &s), RM_OK);
    assert_int_equal(s.hits, 3);
    assert_int_equal(s.t1_size, 1);
    assert_int_equal(s.t2_size, 2);
    assert_int_equal(s.win_size + s.t1_size + s.t2_size, s.used_frames);
    assert_int_equal(rm_bufpool_destroy(bp), RM_OK);
    remove_dir(dir);
}

/* Exact recency (ADR 0004 § 3c): hits reach the policy through a per-thread
 * ring of 16 entries drained at the next miss; hits past a full ring are
 * dropped, and their REF bit must still protect the page as CAR's would.
 * 40 hot pages hit 10 times each with no miss between (400 hits, 16 of them
 * recorded), then a 200-page scan through a 64-frame pool: the hot pages stay. */
static void
test_bufpool_hits_past_a_full_hit_ring_still_protect_pages(void **state)
{
    (void)state;
    char *dir = make_dir();
    rm_bufpool_t *bp = open_pool(dir, 64, 0);
    uint32_t f;
    assert_int_equal(rm_bufpool_open_file(bp, "t", &f), RM_OK);
    rm_status_t st;
    /* scattered orders: no two misses in a row are adjacent pages, so no read-ahead */
    for (uint64_t i = 0; i < 40; i++)
        (void)read_page(bp, f, (i * 7) % 40, &st);
    for (int r = 0; r < 10; r++)
        for (uint64_t pg = 0; pg < 40; pg++)
            (void)read_page(bp, f, pg, &st);
    for (uint64_t i = 0; i < 200; i++)
        (void)read_page(bp, f, 1000 + (i * 37) % 200, &st);
    rm_bufpool_stats_t s0, s1;
    assert_int_equal(rm_bufpool_stats(bp, &s0), RM_OK);
    assert_int_equal(s0.prefetch_issued, 0);
    for (uint64_t pg = 0; pg < 40; pg++)
        (void)read_page(bp, f, pg, &st);
    assert_int_equal(rm_bufpool_stats(bp, &s1), RM_OK);
    print_message("hot pages still resident after the scan: %llu of 40\n",
                  (unsigned long long)(s1.hits - s0.hits));
    assert_true(s1.hits - s0.hits >= 36);
    assert_int_equal(rm_bufpool_destroy(bp), RM_OK);
    remove_dir(dir);
}

static void
test_bufpool_hit_counted_and_page_in_stats(void **state)
{
    (void)state;
    char *dir = make_dir();
    rm_bufpool_t *bp = open_pool(dir, 16, 0);
    uint32_t f;
    assert_int_equal(rm_bufpool_open_file(bp, "t", &f), RM_OK);
    write_page(bp, f, 0, 1);
    rm_status_t st;
    assert_int_equal(read_page(bp, f, 0, &st), 1);
    rm_bufpool_stats_t s;
    assert_int_equal(rm_bufpool_stats(bp, &s), RM_OK);
    assert_int_equal(s.hits, 1);
    assert_int_equal(s.misses, 1);
    assert_int_equal(s.used_frames, 1);
    assert_int_equal(s.total_frames, 16);
    assert_int_equal(s.dirty, 1);
    assert_int_equal(s.pinned, 0);
    assert_int_equal(s.win_size + s.t1_size + s.t2_size, 1);
    assert_int_equal(rm_bufpool_checkpoint(bp), RM_OK);
    assert_int_equal(rm_bufpool_stats(bp, &s), RM_OK);
    assert_int_equal(s.dirty, 0);
    assert_int_equal(s.writes, 1);

    rm_component_usage_t u[RM_COMPONENTS_MAX];
    size_t n;
    rm_stats_components(u, RM_COMPONENTS_MAX, &n);
    int found = 0;
    for (size_t i = 0; i < n && i < RM_COMPONENTS_MAX; i++)
        if (strcmp(u[i].name, "buffer_pool") == 0) {
            found = 1;
            /* held = the frame holding a page + metadata, all of it in use (a pool of
             * fixed-size pages is never fragmented: an idle pool used to read as
             * 100 % fragmented and raise a critical alert at every start) */
            assert_true(u[i].used_bytes > 4096);
            assert_int_equal(u[i].held_bytes, u[i].used_bytes);
            assert_true(rm_stats_fragmentation(u[i].used_bytes, u[i].held_bytes) == 0.0);
            /* untouched frames are not resident */
            assert_true(u[i].held_bytes < 16 * 4096 + (s.held_bytes - 16 * 4096));
        }
    assert_true(found);
    assert_int_equal(rm_bufpool_destroy(bp), RM_OK);
    remove_dir(dir);
}

static uint64_t
component_held(const char *name)
{
    rm_component_usage_t u[RM_COMPONENTS_MAX];
    size_t n;
    rm_stats_components(u, RM_COMPONENTS_MAX, &n);
    for (size_t i = 0; i < n && i < RM_COMPONENTS_MAX; i++)
        if (strcmp(u[i].name, name) == 0)
            return u[i].held_bytes;
    fail_msg("no component %s", name);
    return 0;
}

/* The pool's accounted metadata: its component's held bytes minus its resident pages. */
static uint64_t
accounted_meta(rm_bufpool_t *bp, rm_bufpool_stats_t *s)
{
    assert_int_equal(rm_bufpool_stats(bp, s), RM_OK);
    return component_held("buffer_pool") - s->used_frames * s->page_size;
}

/* A pool of `frames` frames with pages 0..n-1 of file "t" (*f) read in. */
static rm_bufpool_t *
loaded_pool(const char *dir, size_t frames, uint64_t n, uint32_t *f)
{
    rm_bufpool_t *bp = open_pool(dir, frames, 0);
    assert_int_equal(rm_bufpool_open_file(bp, "t", f), RM_OK);
    rm_status_t st;
    for (uint64_t pg = 0; pg < n; pg++) {
        (void)read_page(bp, *f, pg, &st);   /* never written: zeros past EOF */
        assert_int_equal(st, RM_OK);
    }
    return bp;
}

/* After a shrink the frames given back are not held: the accounting counted
 * "mapped − frames in service" as metadata, so a pool shrunk from 64 to 16
 * frames still reported the other 48 (and the pressure monitor, which never
 * takes usage below what memcore holds, counted them as used memory). */
static void
test_bufpool_shrink_gives_back_what_the_accounting_counts(void **state)
{
    (void)state;
    char *dir = make_dir();
    uint32_t f;
    rm_bufpool_t *bp = loaded_pool(dir, 64, 40, &f);
    rm_bufpool_stats_t s;
    uint64_t meta0 = accounted_meta(bp, &s);
    assert_int_equal(rm_bufpool_resize(bp, 16), RM_OK);
    uint64_t meta1 = accounted_meta(bp, &s);
    assert_int_equal(s.total_frames, 16);
    assert_true(s.used_frames <= 16);
    assert_true(meta1 <= meta0);
    assert_int_equal(rm_bufpool_destroy(bp), RM_OK);
    remove_dir(dir);
}

/* A large shrink gives most of the policy's metadata back (ghost directory and
 * sketch sized for the old capacity), and a grow after it works as before */
static void
test_bufpool_large_shrink_releases_policy_metadata(void **state)
{
    (void)state;
    char *dir = make_dir();
    uint32_t f;
    rm_bufpool_t *bp = loaded_pool(dir, 8192, 100, &f);
    rm_bufpool_stats_t s;
    uint64_t meta0 = accounted_meta(bp, &s);
    assert_int_equal(rm_bufpool_resize(bp, 64), RM_OK);
    uint64_t meta1 = accounted_meta(bp, &s);
    assert_true(meta1 < meta0 / 2);
    assert_int_equal(rm_bufpool_resize(bp, 8192), RM_OK);   /* and back */
    rm_status_t st;
    for (uint64_t pg = 0; pg < 200; pg++) {
        (void)read_page(bp, f, pg, &st);
        assert_int_equal(st, RM_OK);
    }
    assert_int_equal(rm_bufpool_stats(bp, &s), RM_OK);
    assert_int_equal(s.total_frames, 8192);
    assert_true(s.used_frames >= 200 - 64);
    assert_int_equal(rm_bufpool_destroy(bp), RM_OK);
    remove_dir(dir);
}

/* Issue 17 item 3 / ADR 0022: a pool created large and shrunk gives back the
 * metadata that was sized for the large pool — page table, descriptor
 * segments, free list, policy arrays — so that it holds what a pool created at
 * the small size holds. Before, the table, the descriptors (64 B a frame) and
 * the policy's per-slot arrays stayed: an agent moved into a tight cgroup kept
 * ~184 MiB of them and sat at OOM prevention. */
static void
test_bufpool_shrink_releases_metadata_sized_for_the_large_pool(void **state)
{
    (void)state;
    char *dir = make_dir();
    uint32_t f;
    rm_bufpool_t *small = open_pool(dir, 1024, 0);
    rm_bufpool_stats_t s;
    assert_int_equal(rm_bufpool_stats(small, &s), RM_OK);
    uint64_t meta_small = s.metadata_bytes;
    assert_int_equal(rm_bufpool_destroy(small), RM_OK);

    rm_bufpool_t *bp = loaded_pool(dir, 262144, 3000, &f);
    assert_int_equal(rm_bufpool_stats(bp, &s), RM_OK);
    uint64_t meta0 = s.metadata_bytes;
    assert_int_equal(rm_bufpool_resize(bp, 1024), RM_OK);
    assert_int_equal(rm_bufpool_stats(bp, &s), RM_OK);
    uint64_t meta1 = s.metadata_bytes;
    assert_int_equal(s.total_frames, 1024);
    /* Hand-computed parts the shrink must give back (262 144 → 1 024 frames):
     *  descriptors  256 → 1 segments of 1 024 × 64 B (+ 8 B segment pointer): 255 × 65 544 B
     *  page table   4 × frames rounded to a power of two: 1 048 576 → 4 096 slots × 4 B
     *  free list    262 144 → 1 024 indices × 4 B */
    uint64_t want = 255ull * 65544 + (1048576ull - 4096) * 4 + (262144ull - 1024) * 4;
    assert_true(meta0 - meta1 >= want);
    /* and all of it: what is left is what a 1 024-frame pool holds */
    assert_int_equal(meta1, meta_small);
    /* the accounting the pressure monitor reads follows */
    assert_int_equal(accounted_meta(bp, &s), meta1);

    /* grows back: descriptors of detached segments are made again, with the data
     * of the extent mapped at create; every page reads back */
    for (uint64_t pg = 0; pg < 200; pg++)
        write_page(bp, f, pg, 7 + pg);
    assert_int_equal(rm_bufpool_resize(bp, 262144), RM_OK);
    assert_int_equal(rm_bufpool_stats(bp, &s), RM_OK);
    assert_int_equal(s.metadata_bytes, meta0);
    rm_status_t st;
    for (uint64_t pg = 0; pg < 3000; pg++) {
        uint64_t v = read_page(bp, f, pg, &st);   /* never-written pages: zeros, no version */
        assert_int_equal(st, RM_OK);
        if (pg < 200)
            assert_int_equal(v, 7 + pg);
    }
    assert_int_equal(rm_bufpool_destroy(bp), RM_OK);
    remove_dir(dir);
}

/* Lookups stay correct while the pool shrinks (the page table is replaced and
 * descriptor segments detached under lock-free readers) and grows back: reader
 * threads pin random pages and check their contents against the version the
 * page was written with; the main thread shrinks 65 536 → 1 024 → 65 536 frames
 * over and over, each shrink freeing the old table and segments after the grace
 * period. Any reader using freed memory reads garbage or crashes (ASan: a
 * use-after-free report). */
#define SHRINK_PAGES 4000
#define SHRINK_READERS 3

typedef struct shrink_shared {
    rm_bufpool_t *bp;
    uint32_t f;
    _Atomic int stop;
    _Atomic uint64_t reads, bad, errors;
} shrink_shared_t;

static void *
shrink_reader(void *arg)
{
    shrink_shared_t *sh = arg;
    uint64_t x = (uint64_t)(uintptr_t)&x | 1;
    while (!atomic_load(&sh->stop)) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        /* half the reads on 512 hot pages (hits on the lock-free path) */
        uint64_t pg = (x & 1) ? (x >> 8) % 512 : (x >> 8) % SHRINK_PAGES;
        rm_status_t st;
        rm_bufpool_frame_t *fr;
        st = rm_bufpool_pin(sh->bp, sh->f, pg, RM_BUFPOOL_SHARED, &fr);
        if (st == RM_EBUSY)
            continue;   /* every frame pinned at the smallest size: allowed */
        if (st != RM_OK) {
            atomic_fetch_add(&sh->errors, 1);
            continue;
        }
        const uint64_t *d = rm_bufpool_frame_data(fr);
        size_t n = rm_bufpool_usable_bytes(sh->bp) / 8;
        uint64_t v = d[0] ^ (pg << 32);
        int ok = v == 1000 + pg;
        for (size_t i = 0; ok && i < n; i++)
            ok = (d[i] ^ (pg << 32) ^ i) == v;
        rm_bufpool_unpin(sh->bp, fr, RM_BUFPOOL_SHARED, 0);
        atomic_fetch_add(&sh->reads, 1);
        if (!ok)
            atomic_fetch_add(&sh->bad, 1);
    }
    return NULL;
}

static void
test_bufpool_lookups_stay_correct_during_concurrent_shrink(void **state)
{
    (void)state;
    char *dir = make_dir();
    rm_bufpool_t *bp = open_pool(dir, 65536, 1);
    shrink_shared_t sh = {.bp = bp};
    assert_int_equal(rm_bufpool_open_file(bp, "t", &sh.f), RM_OK);
    for (uint64_t pg = 0; pg < SHRINK_PAGES; pg++)
        write_page(bp, sh.f, pg, 1000 + pg);
    rm_bufpool_stats_t s;
    assert_int_equal(rm_bufpool_stats(bp, &s), RM_OK);
    uint64_t meta_large = s.metadata_bytes;
    pthread_t th[SHRINK_READERS];
    for (int i = 0; i < SHRINK_READERS; i++)
        assert_int_equal(pthread_create(&th[i], NULL, shrink_reader, &sh), 0);
    uint64_t meta_small = 0;
    for (int round = 0; round < 12; round++) {
        rm_status_t st = rm_bufpool_resize(bp, 1024);
        assert_true(st == RM_OK || st == RM_EBUSY);   /* EBUSY: a frame stayed pinned 2 s */
        assert_int_equal(rm_bufpool_stats(bp, &s), RM_OK);
        if (st == RM_OK)
            meta_small = s.metadata_bytes;
        /* let the readers run on the small pool for a while */
        uint64_t r0 = atomic_load(&sh.reads);
        while (atomic_load(&sh.reads) < r0 + 2000)
            sched_yield();
        assert_int_equal(rm_bufpool_resize(bp, 65536), RM_OK);
        r0 = atomic_load(&sh.reads);
        while (atomic_load(&sh.reads) < r0 + 2000)
            sched_yield();
    }
    atomic_store(&sh.stop, 1);
    for (int i = 0; i < SHRINK_READERS; i++)
        pthread_join(th[i], NULL);
    assert_int_equal(atomic_load(&sh.errors), 0);
    assert_int_equal(atomic_load(&sh.bad), 0);
    assert_true(atomic_load(&sh.reads) >= 12 * 4000);
    assert_true(meta_small > 0 && meta_small < meta_large / 8);
    assert_int_equal(rm_bufpool_stats(bp, &s), RM_OK);
    assert_int_equal(s.metadata_bytes, meta_large);   /* nothing retired is left behind */
    assert_int_equal(rm_bufpool_destroy(bp), RM_OK);
    remove_dir(dir);
}

/* The grace period, deterministically: a reader stops inside its section
 * holding the 65 536-frame pool's page table while the pool shrinks to 1 024
 * frames (which replaces that table and detaches 63 descriptor segments).
 * The shrink must not return — and so must not free what the reader holds —
 * before the reader has left its section; the reader's lookup in the old
 * table then still finds its page. Without the grace period the resize
 * returns while the reader sleeps and the reader reads unmapped memory. */
static _Atomic int gp_started, gp_resizing, gp_left;

static void
gp_hook(void)
{
    int once = 0;
    if (!atomic_compare_exchange_strong(&gp_started, &once, 1))
        return;   /* the first lookup only */
    while (!atomic_load(&gp_resizing))
        sched_yield();
    struct timespec ts = {0, 500000000};   /* the resize, if it does not wait, is done by then */
    nanosleep(&ts, NULL);
    atomic_store(&gp_left, 1);
}

typedef struct gp_arg {
    rm_bufpool_t *bp;
    uint32_t f;
    uint64_t v;
    rm_status_t st;
} gp_arg_t;

static void *
gp_reader(void *arg)
{
    gp_arg_t *a = arg;
    a->v = read_page(a->bp, a->f, 3, &a->st);
    return NULL;
}

static void
test_bufpool_shrink_waits_for_readers_of_the_old_table(void **state)
{
    (void)state;
    char *dir = make_dir();
    rm_bufpool_t *bp = open_pool(dir, 65536, 0);
    gp_arg_t a = {.bp = bp};
    assert_int_equal(rm_bufpool_open_file(bp, "t", &a.f), RM_OK);
    write_page(bp, a.f, 3, 42);
    atomic_store(&gp_started, 0);
    atomic_store(&gp_resizing, 0);
    atomic_store(&gp_left, 0);
    atomic_store(&rm__bp_test_in_section, gp_hook);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, gp_reader, &a), 0);
    while (!atomic_load(&gp_started))
        sched_yield();
    atomic_store(&gp_resizing, 1);
    assert_int_equal(rm_bufpool_resize(bp, 1024), RM_OK);
    int left_before_return = atomic_load(&gp_left);
    pthread_join(th, NULL);
    atomic_store(&rm__bp_test_in_section, NULL);
    assert_true(left_before_return);   /* the shrink waited for the reader */
    assert_int_equal(a.st, RM_OK);
    assert_int_equal(a.v, 42);
    rm_bufpool_stats_t s;
    assert_int_equal(rm_bufpool_stats(bp, &s), RM_OK);
    assert_int_equal(s.total_frames, 1024);
    assert_int_equal(rm_bufpool_destroy(bp), RM_OK);
    remove_dir(dir);
}

/* The sizing rule (bufpool.h), hand-computed: what num_frames = 0 means and
 * what bounds an explicit size. It lived in the node agent; the registry and
 * the agent now both ask the pool. */
static void
test_bufpool_frames_for_sizing_rule(void **state)
{
    (void)state;
    size_t n = 12345;
    /* auto: 0.30 × 1 GiB / 4 KiB = 78 643.2 → 78 643 frames */
    assert_int_equal(rm_bufpool_frames_for(0, 0.30, 1ull << 30, 4096, &n), RM_OK);
    assert_int_equal(n, 78643);
    /* auto on 24 GiB (the machine): 0.30 × 24 GiB / 4 KiB = 1 887 436.8 → 1 887 436 */
    assert_int_equal(rm_bufpool_frames_for(0, 0.30, 24ull << 30, 4096, &n), RM_OK);
    assert_int_equal(n, 1887436);
    /* auto in a 150 MiB cgroup: 0.30 × 150 MiB / 4 KiB = 11 520 */
    assert_int_equal(rm_bufpool_frames_for(0, 0.30, 150ull << 20, 4096, &n), RM_OK);
    assert_int_equal(n, 11520);
    /* auto with 16 KiB pages: 0.5 × 64 MiB / 16 KiB = 2 048 */
    assert_int_equal(rm_bufpool_frames_for(0, 0.5, 64ull << 20, 16384, &n), RM_OK);
    assert_int_equal(n, 2048);
    /* auto floor: 0.05 × 1 MiB / 4 KiB = 12.8 → 64; an unknown bound (0) → 64 */
    assert_int_equal(rm_bufpool_frames_for(0, 0.05, 1ull << 20, 4096, &n), RM_OK);
    assert_int_equal(n, RM_BUFPOOL_FRAMES_AUTO_MIN);
    assert_int_equal(rm_bufpool_frames_for(0, 0.30, 0, 4096, &n), RM_OK);
    assert_int_equal(n, 64);
    /* auto ceiling: 0.9 × 1 PiB / 4 KiB ≫ 64 Mi → RM_BUFPOOL_FRAMES_MAX */
    assert_int_equal(rm_bufpool_frames_for(0, 0.9, 1ull << 50, 4096, &n), RM_OK);
    assert_int_equal(n, RM_BUFPOOL_FRAMES_MAX);
    /* explicit: exact, bounded by the bound when known */
    assert_int_equal(rm_bufpool_frames_for(1000, 0.30, 0, 4096, &n), RM_OK);
    assert_int_equal(n, 1000);
    assert_int_equal(rm_bufpool_frames_for(25600, 0.30, 100ull << 20, 4096, &n), RM_OK);   /* exactly 100 MiB */
    assert_int_equal(n, 25600);
    n = 7;
    assert_int_equal(rm_bufpool_frames_for(25601, 0.30, 100ull << 20, 4096, &n), RM_ELIMIT);
    assert_int_equal(n, 7);   /* unchanged on failure */
    /* illegal by itself */
    assert_int_equal(rm_bufpool_frames_for(7, 0.30, 0, 4096, &n), RM_EINVAL);
    assert_int_equal(rm_bufpool_frames_for(-1, 0.30, 0, 4096, &n), RM_EINVAL);
    assert_int_equal(rm_bufpool_frames_for((int64_t)RM_BUFPOOL_FRAMES_MAX + 1, 0.30, 0, 4096, &n), RM_EINVAL);
    assert_int_equal(rm_bufpool_frames_for(0, 0.0, 1ull << 30, 4096, &n), RM_EINVAL);
    assert_int_equal(rm_bufpool_frames_for(0, 1.5, 1ull << 30, 4096, &n), RM_EINVAL);
    assert_int_equal(rm_bufpool_frames_for(0, 0.30, 1ull << 30, 0, &n), RM_EINVAL);
    assert_int_equal(rm_bufpool_frames_for(0, 0.30, 1ull << 30, 4096, NULL), RM_EINVAL);
    assert_int_equal(n, 7);
    assert_true(rm_bufpool_num_frames_valid(0));
    assert_true(rm_bufpool_num_frames_valid(RM_BUFPOOL_FRAMES_MIN));
    assert_true(rm_bufpool_num_frames_valid(RM_BUFPOOL_FRAMES_MAX));
    assert_false(rm_bufpool_num_frames_valid(RM_BUFPOOL_FRAMES_MIN - 1));
    assert_false(rm_bufpool_num_frames_valid(-8));
    assert_false(rm_bufpool_num_frames_valid((int64_t)RM_BUFPOOL_FRAMES_MAX + 1));
}

static void
test_bufpool_pin_fails_busy_when_all_frames_pinned(void **state)
{
    (void)state;
    char *dir = make_dir();
    rm_bufpool_t *bp = open_pool(dir, 8, 0);
    uint32_t f;
    assert_int_equal(rm_bufpool_open_file(bp, "t", &f), RM_OK);
    rm_bufpool_frame_t *fr[8], *extra = (rm_bufpool_frame_t *)0x1;
    for (int i = 0; i < 8; i++)
        assert_int_equal(rm_bufpool_pin(bp, f, (uint64_t)i, RM_BUFPOOL_SHARED, &fr[i]), RM_OK);
    assert_int_equal(rm_bufpool_pin(bp, f, 8, RM_BUFPOOL_SHARED, &extra), RM_EBUSY);
    assert_null(extra);
    for (int i = 0; i < 8; i++)
        rm_bufpool_unpin(bp, fr[i], RM_BUFPOOL_SHARED, 0);
    assert_int_equal(rm_bufpool_pin(bp, f, 8, RM_BUFPOOL_SHARED, &extra), RM_OK);
    rm_bufpool_unpin(bp, extra, RM_BUFPOOL_SHARED, 0);
    assert_int_equal(rm_bufpool_destroy(bp), RM_OK);
    remove_dir(dir);
}

static void
test_bufpool_pin_rejects_bad_file(void **state)
{
    (void)state;
    char *dir = make_dir();
    rm_bufpool_t *bp = open_pool(dir, 8, 0);
    rm_bufpool_frame_t *fr = (rm_bufpool_frame_t *)0x1;
    assert_int_equal(rm_bufpool_pin(bp, 0, 0, RM_BUFPOOL_SHARED, &fr), RM_EINVAL);
    assert_null(fr);
    uint32_t f;
    assert_int_equal(rm_bufpool_open_file(bp, "../x", &f), RM_EINVAL);
    assert_int_equal(rm_bufpool_open_file(bp, "rustymem.dw", &f), RM_EINVAL);
    assert_int_equal(rm_bufpool_destroy(bp), RM_OK);
    remove_dir(dir);
}

static void
test_bufpool_corrupt_page_reported_not_returned(void **state)
{
    (void)state;
    char *dir = make_dir();
    rm_bufpool_t *bp = open_pool(dir, 16, 0);
    uint32_t f;
    assert_int_equal(rm_bufpool_open_file(bp, "data", &f), RM_OK);
    for (uint64_t p = 0; p < 5; p++)
        write_page(bp, f, p, 7);
    assert_int_equal(rm_bufpool_destroy(bp), RM_OK);

    char path[512];
    snprintf(path, sizeof path, "%s/data", dir);
    int fd = open(path, O_RDWR);
    assert_true(fd >= 0);
    unsigned char b = 0;
    assert_int_equal(pread(fd, &b, 1, 3 * 4096 + 100), 1);
    b ^= 0x40;   /* one flipped bit */
    assert_int_equal(pwrite(fd, &b, 1, 3 * 4096 + 100), 1);
    close(fd);

    bp = open_pool(dir, 16, 0);
    assert_int_equal(rm_bufpool_open_file(bp, "data", &f), RM_OK);
    rm_bufpool_frame_t *fr = (rm_bufpool_frame_t *)0x1;
    assert_int_equal(rm_bufpool_pin(bp, f, 3, RM_BUFPOOL_SHARED, &fr), RM_ECORRUPT);
    assert_null(fr);
    rm_status_t st;
    assert_int_equal(read_page(bp, f, 2, &st), 7);
    assert_int_equal(rm_bufpool_pin(bp, f, 3, RM_BUFPOOL_EXCLUSIVE, &fr), RM_ECORRUPT);
    rm_bufpool_stats_t s;
    assert_int_equal(rm_bufpool_stats(bp, &s), RM_OK);
    assert_int_equal(s.checksum_failures, 2);
    assert_int_equal(s.last_corrupt_file, (int32_t)f);
    assert_int_equal(s.last_corrupt_page, 3);
    assert_string_equal(s.last_corrupt_name, "data");
    assert_true(s.used_frames <= 2);   /* page 2 and maybe read-ahead page 4: never the bad page */
    assert_int_equal(rm_bufpool_destroy(bp), RM_OK);
    remove_dir(dir);
}

static void
test_bufpool_shrink_keeps_dirty_pages(void **state)
{
    (void)state;
    char *dir = make_dir();
    rm_bufpool_t *bp = open_pool(dir, 64, 0);
    uint32_t f;
    assert_int_equal(rm_bufpool_open_file(bp, "t", &f), RM_OK);
    for (uint64_t p = 0; p < 64; p++)
        write_page(bp, f, p, 5000 + p);
    assert_int_equal(rm_bufpool_resize(bp, 16), RM_OK);
    rm_bufpool_stats_t s;
    assert_int_equal(rm_bufpool_stats(bp, &s), RM_OK);
    assert_int_equal(s.total_frames, 16);
    assert_true(s.used_frames <= 16);
    rm_status_t st;
    for (uint64_t p = 0; p < 64; p++)
        assert_int_equal(read_page(bp, f, p, &st), 5000 + p);
    assert_int_equal(rm_bufpool_resize(bp, 256), RM_OK);
    for (uint64_t p = 64; p < 200; p++)
        write_page(bp, f, p, p);
    assert_int_equal(rm_bufpool_stats(bp, &s), RM_OK);
    assert_int_equal(s.total_frames, 256);
    assert_true(s.used_frames >= 136);
    assert_int_equal(rm_bufpool_resize(bp, 4), RM_EINVAL);
    assert_int_equal(rm_bufpool_destroy(bp), RM_OK);
    remove_dir(dir);
}

static void
test_bufpool_shrink_busy_when_frame_stays_pinned(void **state)
{
    (void)state;
    char *dir = make_dir();
    rm_bufpool_t *bp = open_pool(dir, 16, 0);
    uint32_t f;
    assert_int_equal(rm_bufpool_open_file(bp, "t", &f), RM_OK);
    /* frames are handed out from index 0 up: page 15 sits in frame 15 */
    rm_bufpool_frame_t *fr[16];
    for (int i = 0; i < 16; i++)
        assert_int_equal(rm_bufpool_pin(bp, f, (uint64_t)i, RM_BUFPOOL_SHARED, &fr[i]), RM_OK);
    for (int i = 0; i < 15; i++)
        rm_bufpool_unpin(bp, fr[i], RM_BUFPOOL_SHARED, 0);
    assert_int_equal(rm_bufpool_resize(bp, 8), RM_EBUSY);
    rm_bufpool_stats_t s;
    assert_int_equal(rm_bufpool_stats(bp, &s), RM_OK);
    assert_int_equal(s.total_frames, 16);   /* stopped at the pinned top frame */
    rm_bufpool_unpin(bp, fr[15], RM_BUFPOOL_SHARED, 0);
    assert_int_equal(rm_bufpool_resize(bp, 8), RM_OK);
    assert_int_equal(rm_bufpool_destroy(bp), RM_OK);
    remove_dir(dir);
}

static void
test_bufpool_evict_fraction(void **state)
{
    (void)state;
    char *dir = make_dir();
    rm_bufpool_t *bp = open_pool(dir, 64, 0);
    uint32_t f;
    assert_int_equal(rm_bufpool_open_file(bp, "t", &f), RM_OK);
    for (uint64_t p = 0; p < 32; p++)
        write_page(bp, f, p, p);
    uint64_t ev = 99;
    assert_int_equal(rm_bufpool_evict(bp, 0.0, &ev), RM_EINVAL);
    assert_int_equal(ev, 0);
    assert_int_equal(rm_bufpool_evict(bp, 1.5, &ev), RM_EINVAL);
    assert_int_equal(rm_bufpool_evict(bp, 0.5, &ev), RM_OK);
    assert_int_equal(ev, 16);
    rm_bufpool_stats_t s;
    assert_int_equal(rm_bufpool_stats(bp, &s), RM_OK);
    assert_int_equal(s.used_frames, 16);
    rm_status_t st;
    for (uint64_t p = 0; p < 32; p++)
        assert_int_equal(read_page(bp, f, p, &st), p);   /* evicted dirty pages were written */
    assert_int_equal(rm_bufpool_destroy(bp), RM_OK);
    remove_dir(dir);
}

static void
test_bufpool_boost_setter_validates(void **state)
{
    (void)state;
    char *dir = make_dir();
    rm_bufpool_t *bp = open_pool(dir, 16, 1);
    assert_int_equal(rm_bufpool_set_eviction_boost(bp, RM_BUFPOOL_BOOST_GENTLE), RM_OK);
    assert_int_equal(rm_bufpool_set_eviction_boost(bp, 101), RM_EINVAL);
    rm_bufpool_stats_t s;
    assert_int_equal(rm_bufpool_stats(bp, &s), RM_OK);
    assert_int_equal(s.eviction_boost_pct, 20);
    assert_int_equal(rm_bufpool_destroy(bp), RM_OK);
    remove_dir(dir);
}

static void
test_bufpool_advise_follows_seed_rule(void **state)
{
    (void)state;
    uint64_t r;
    assert_int_equal(rm_bufpool_advise(0.80, 0.95, 1000, &r), RM_BUFPOOL_GROW);
    assert_int_equal(r, 1250);
    assert_int_equal(rm_bufpool_advise(0.80, 0.50, 1000, &r), RM_BUFPOOL_KEEP);
    assert_int_equal(r, 1000);
    assert_int_equal(rm_bufpool_advise(0.97, 0.99, 1000, &r), RM_BUFPOOL_SHRINK);
    assert_int_equal(r, 750);
    assert_int_equal(rm_bufpool_advise(0.90, 0.99, 1000, &r), RM_BUFPOOL_KEEP);
}

static void
test_bufpool_prefetch_sequential_scan_used(void **state)
{
    (void)state;
    char *dir = make_dir();
    rm_bufpool_t *bp = open_pool(dir, 64, 0);
    uint32_t f;
    assert_int_equal(rm_bufpool_open_file(bp, "seq", &f), RM_OK);
    for (uint64_t p = 0; p < 300; p++)
        write_page(bp, f, p, p);
    assert_int_equal(rm_bufpool_checkpoint(bp), RM_OK);
    uint64_t ev;
    assert_int_equal(rm_bufpool_evict(bp, 1.0, &ev), RM_OK);
    rm_bufpool_stats_t a, b;
    assert_int_equal(rm_bufpool_stats(bp, &a), RM_OK);
    rm_status_t st;
    for (uint64_t p = 0; p < 300; p++)
        assert_int_equal(read_page(bp, f, p, &st), p);
    assert_int_equal(rm_bufpool_stats(bp, &b), RM_OK);
    uint64_t issued = b.prefetch_issued - a.prefetch_issued, used = b.prefetch_used - a.prefetch_used;
    assert_true(issued > 150);
    assert_true(used * 10 >= issued * 9);
    assert_true(b.misses - a.misses < 150);
    assert_int_equal(rm_bufpool_destroy(bp), RM_OK);
    remove_dir(dir);
}

static void
test_bufpool_create_survives_every_page_source_failure(void **state)
{
    (void)state;
    char *dir = make_dir();
    rm_pagesrc_faulty_t fs;
    rm_pagesrc_faulty_init(&fs, NULL);
    rm_bufpool_config_t c;
    rm_bufpool_config_default(&c);
    c.dir = dir;
    c.num_frames = 32;
    c.durable = 0;
    c.start_writer = 0;
    c.pagesrc = &fs.src;
    int ok = 0;
    for (long nth = 1; nth < 40 && !ok; nth++) {
        rm_pagesrc_faulty_arm(&fs, nth, 0);
        rm_bufpool_t *bp = NULL;
        rm_status_t st = rm_bufpool_create(&c, &bp);
        if (st == RM_OK) {
            ok = 1;
            /* grow fails cleanly too */
            rm_pagesrc_faulty_arm(&fs, 1, 1);
            assert_int_equal(rm_bufpool_resize(bp, 4096), RM_ENOMEM);
            rm_pagesrc_faulty_disarm(&fs);
            rm_bufpool_stats_t s;
            assert_int_equal(rm_bufpool_stats(bp, &s), RM_OK);
            assert_int_equal(s.total_frames, 32);
            assert_int_equal(rm_bufpool_destroy(bp), RM_OK);
        } else {
            assert_int_equal(st, RM_ENOMEM);
            assert_null(bp);
        }
        assert_int_equal(fs.mapped_bytes, 0);
    }
    assert_true(ok);
    remove_dir(dir);
}

/* A shrink never fails for lack of memory for the smaller metadata (page
 * table, free list, policy arrays): whichever map fails, the larger piece
 * stays, the shrink answers RM_OK at the new size, the pool works, and a later
 * shrink with memory gives it back. Grows back fail cleanly (RM_ENOMEM, size
 * unchanged) when a re-made descriptor segment cannot be had. Nothing leaks. */
static void
test_bufpool_shrink_and_regrow_survive_every_page_source_failure(void **state)
{
    (void)state;
    char *dir = make_dir();
    rm_pagesrc_faulty_t fs;
    rm_pagesrc_faulty_init(&fs, NULL);
    rm_bufpool_config_t c;
    rm_bufpool_config_default(&c);
    c.dir = dir;
    c.num_frames = 16384;
    c.durable = 0;
    c.start_writer = 0;
    c.pagesrc = &fs.src;
    rm_bufpool_stats_t s;
    for (long nth = 1; nth <= 12; nth++) {
        rm_bufpool_t *bp = NULL;
        assert_int_equal(rm_bufpool_create(&c, &bp), RM_OK);
        uint32_t f;
        assert_int_equal(rm_bufpool_open_file(bp, "t", &f), RM_OK);
        for (uint64_t pg = 0; pg < 64; pg++)
            write_page(bp, f, pg, 5 + pg);
        assert_int_equal(rm_bufpool_stats(bp, &s), RM_OK);
        uint64_t meta_large = s.metadata_bytes;
        rm_pagesrc_faulty_arm(&fs, nth, 1);   /* the nth map from now and every later one fail */
        assert_int_equal(rm_bufpool_resize(bp, 1024), RM_OK);
        assert_int_equal(rm_bufpool_stats(bp, &s), RM_OK);
        assert_int_equal(s.total_frames, 1024);
        assert_true(s.metadata_bytes <= meta_large);
        rm_status_t st = rm_bufpool_resize(bp, 16384);   /* needs segments again: may fail */
        assert_true(st == RM_OK || st == RM_ENOMEM);
        assert_int_equal(rm_bufpool_stats(bp, &s), RM_OK);
        assert_int_equal(s.total_frames, st == RM_OK ? 16384 : 1024);
        for (uint64_t pg = 0; pg < 64; pg++) {
            rm_status_t rs;
            assert_int_equal(read_page(bp, f, pg, &rs), 5 + pg);
            assert_int_equal(rs, RM_OK);
        }
        rm_pagesrc_faulty_disarm(&fs);
        assert_int_equal(rm_bufpool_resize(bp, 1024), RM_OK);
        assert_int_equal(rm_bufpool_stats(bp, &s), RM_OK);
        assert_true(s.metadata_bytes < meta_large / 4);   /* with memory, it is given back */
        assert_int_equal(rm_bufpool_destroy(bp), RM_OK);
        assert_int_equal(fs.mapped_bytes, 0);
    }
    assert_true(fs.failures > 0);
    remove_dir(dir);
}

/* ---- crash safety --------------------------------------------------------------------- */

#define CRASH_PAGES 48

static void
crash_child(const char *dir, int wfd)
{
    rm_bufpool_config_t c;
    rm_bufpool_config_default(&c);
    c.dir = dir;
    c.num_frames = 16;   /* smaller than the file: evictions write too */
    c.durable = 1;
    c.writer_interval_ms = 5;
    rm_bufpool_t *bp;
    if (rm_bufpool_create(&c, &bp) != RM_OK)
        _exit(2);
    uint32_t f;
    if (rm_bufpool_open_file(bp, "crash", &f) != RM_OK)
        _exit(3);
    for (uint64_t v = 1;; v++) {
        for (uint64_t p = 0; p < CRASH_PAGES; p++) {
            rm_bufpool_frame_t *fr;
            rm_status_t st = rm_bufpool_pin(bp, f, p, RM_BUFPOOL_EXCLUSIVE, &fr);
            if (st != RM_OK) {
                fprintf(stderr, "child: pin %lu: %s\n", (unsigned long)p, rm_err_name(st));
                _exit(4);
            }
            uint64_t *d = rm_bufpool_frame_data(fr);
            for (size_t i = 0; i < rm_bufpool_usable_bytes(bp) / 8; i++)
                d[i] = v ^ (p << 32) ^ i;
            rm_bufpool_unpin(bp, fr, RM_BUFPOOL_EXCLUSIVE, 1);
        }
        if (rm_bufpool_checkpoint(bp) != RM_OK)
            _exit(5);
        if (write(wfd, &v, sizeof v) != sizeof v)
            _exit(6);
    }
}

static void
verify_after_crash(const char *dir, uint64_t flushed, uint64_t *max_seen)
{
    rm_bufpool_t *bp = open_pool(dir, 16, 0);
    uint32_t f;
    assert_int_equal(rm_bufpool_open_file(bp, "crash", &f), RM_OK);
    rm_status_t st;
    *max_seen = 0;
    for (uint64_t p = 0; p < CRASH_PAGES; p++) {
        uint64_t v = read_page(bp, f, p, &st);
        assert_int_equal(st, RM_OK);                 /* every checksum valid */
        assert_true(v != UINT64_MAX);                /* and the page self-consistent */
        assert_true(v >= flushed && v <= flushed + 2);   /* last flushed, or one in flight */
        if (v > *max_seen)
            *max_seen = v;
    }
    rm_bufpool_stats_t s;
    assert_int_equal(rm_bufpool_stats(bp, &s), RM_OK);
    assert_int_equal(s.checksum_failures, 0);
    assert_int_equal(rm_bufpool_destroy(bp), RM_OK);
}

static void
test_bufpool_crash_kill9_keeps_flushed_pages(void **state)
{
    (void)state;
    char *dir = make_dir();
    for (int round = 0; round < 3; round++) {
        int pfd[2];
        assert_int_equal(pipe(pfd), 0);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            close(pfd[0]);
            crash_child(dir, pfd[1]);
        }
        close(pfd[1]);
        uint64_t v = 0, last = 0;
        /* let it get a few checkpoints further than the previous round, then kill mid-write */
        while (read(pfd[0], &v, sizeof v) == sizeof v) {
            last = v;
            if (v >= 3)
                break;
        }
        usleep((useconds_t)(1000 * (round + 1)));
        kill(pid, SIGKILL);
        /* versions reported after the read above are flushed as well */
        int wst;
        assert_int_equal(waitpid(pid, &wst, 0), pid);
        while (read(pfd[0], &v, sizeof v) == sizeof v)
            last = v;
        close(pfd[0]);
        if (last < 3)
            fprintf(stderr, "child status %d (exit %d)\n", wst, WIFEXITED(wst) ? WEXITSTATUS(wst) : -1);
        assert_true(last >= 3);
        uint64_t max_seen;
        verify_after_crash(dir, last, &max_seen);
        /* the next round starts from a fresh file so versions restart at 1 */
        char path[512];
        snprintf(path, sizeof path, "%s/crash", dir);
        unlink(path);
        snprintf(path, sizeof path, "%s/rustymem.dw", dir);
        unlink(path);
    }
    remove_dir(dir);
}

static void
test_bufpool_crash_torn_write_repaired_from_doublewrite(void **state)
{
    (void)state;
    char *dir = make_dir();
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        rm_bufpool_config_t c;
        rm_bufpool_config_default(&c);
        c.dir = dir;
        c.num_frames = 64;
        c.durable = 1;
        c.start_writer = 0;
        rm_bufpool_t *bp;
        if (rm_bufpool_create(&c, &bp) != RM_OK)
            _exit(2);
        uint32_t f;
        if (rm_bufpool_open_file(bp, "crash", &f) != RM_OK)
            _exit(3);
        for (uint64_t v = 1; v <= 2; v++) {
            for (uint64_t p = 0; p < CRASH_PAGES; p++) {
                rm_bufpool_frame_t *fr;
                if (rm_bufpool_pin(bp, f, p, RM_BUFPOOL_EXCLUSIVE, &fr) != RM_OK)
                    _exit(4);
                uint64_t *d = rm_bufpool_frame_data(fr);
                for (size_t i = 0; i < rm_bufpool_usable_bytes(bp) / 8; i++)
                    d[i] = v ^ (p << 32) ^ i;
                rm_bufpool_unpin(bp, fr, RM_BUFPOOL_EXCLUSIVE, 1);
            }
            if (v == 2)   /* the 5th in-place write of this checkpoint is torn, then SIGKILL */
                atomic_store(&rm__bp_test_torn_write_countdown, 5);
            if (rm_bufpool_checkpoint(bp) != RM_OK)
                _exit(5);
        }
        _exit(0);   /* not reached */
    }
    int wst;
    assert_int_equal(waitpid(pid, &wst, 0), pid);
    assert_true(WIFSIGNALED(wst) && WTERMSIG(wst) == SIGKILL);

    /* before recovery the page really is torn on disk */
    char path[512];
    snprintf(path, sizeof path, "%s/crash", dir);
    int fd = open(path, O_RDONLY);
    assert_true(fd >= 0);
    unsigned char page[4096];
    assert_int_equal(pread(fd, page, 4096, 4 * 4096), 4096);
    uint32_t crc;
    memcpy(&crc, page + 4092, 4);
    assert_int_not_equal(crc, rm__bp_crc32c(0, page, 4092));
    close(fd);

    rm_bufpool_t *bp = open_pool(dir, 64, 0);
    rm_bufpool_stats_t s;
    assert_int_equal(rm_bufpool_stats(bp, &s), RM_OK);
    assert_int_equal(s.torn_pages_repaired, 1);
    uint32_t f;
    assert_int_equal(rm_bufpool_open_file(bp, "crash", &f), RM_OK);
    rm_status_t st;
    for (uint64_t p = 0; p < CRASH_PAGES; p++) {
        uint64_t v = read_page(bp, f, p, &st);
        assert_int_equal(st, RM_OK);
        assert_true(v == 1 || v == 2);
        if (p == 4)
            assert_int_equal(v, 2);   /* restored from the double-write copy */
    }
    assert_int_equal(rm_bufpool_destroy(bp), RM_OK);
    remove_dir(dir);
}

static void
test_bufpool_writer_cleans_dirty_pages_without_checkpoint(void **state)
{
    (void)state;
    char *dir = make_dir();
    rm_bufpool_config_t c;
    rm_bufpool_config_default(&c);
    c.dir = dir;
    c.num_frames = 64;
    c.durable = 0;
    c.writer_interval_ms = 1;
    rm_bufpool_t *bp = NULL;
    assert_int_equal(rm_bufpool_create(&c, &bp), RM_OK);
    uint32_t f;
    assert_int_equal(rm_bufpool_open_file(bp, "t", &f), RM_OK);
    for (uint64_t p = 0; p < 40; p++)
        write_page(bp, f, p, p);
    rm_bufpool_stats_t s;
    /* wait (bounded, no timing assertion) until the writer has written everything;
     * a page is clean as soon as its copy is taken, and counted as written only
     * after its batch is on disk, so wait for both */
    for (int i = 0; i < 5000; i++) {
        assert_int_equal(rm_bufpool_stats(bp, &s), RM_OK);
        if (s.dirty == 0 && s.writes >= 40 && s.flushes >= 2)
            break;
        usleep(1000);
    }
    assert_int_equal(s.dirty, 0);
    assert_true(s.writes >= 40);
    assert_true(s.flushes >= 2);   /* 40 pages need two double-write batches of ≤ 32 */
    rm_bufpool_writer_stop(bp);
    rm_bufpool_writer_stop(bp);   /* idempotent */
    assert_int_equal(rm_bufpool_writer_start(bp), RM_OK);
    assert_int_equal(rm_bufpool_writer_start(bp), RM_OK);   /* already running: not an error */
    assert_int_equal(rm_bufpool_destroy(bp), RM_OK);
    remove_dir(dir);
}

static void
test_bufpool_boost_max_keeps_free_reserve(void **state)
{
    (void)state;
    char *dir = make_dir();
    rm_bufpool_config_t c;
    rm_bufpool_config_default(&c);
    c.dir = dir;
    c.num_frames = 100;
    c.durable = 0;
    c.writer_interval_ms = 1;
    rm_bufpool_t *bp = NULL;
    assert_int_equal(rm_bufpool_create(&c, &bp), RM_OK);
    uint32_t f;
    assert_int_equal(rm_bufpool_open_file(bp, "t", &f), RM_OK);
    for (uint64_t p = 0; p < 100; p++)
        write_page(bp, f, p, p);
    rm_bufpool_stats_t s;
    assert_int_equal(rm_bufpool_stats(bp, &s), RM_OK);
    assert_int_equal(s.used_frames, 100);
    assert_int_equal(rm_bufpool_set_eviction_boost(bp, RM_BUFPOOL_BOOST_MAX), RM_OK);
    for (int i = 0; i < 5000; i++) {
        assert_int_equal(rm_bufpool_stats(bp, &s), RM_OK);
        if (s.used_frames <= 90)
            break;
        usleep(1000);
    }
    assert_true(s.used_frames <= 90);   /* 10 % reserve at max boost */
    rm_status_t st;
    for (uint64_t p = 0; p < 100; p++)
        assert_int_equal(read_page(bp, f, p, &st), p);   /* nothing lost */
    assert_int_equal(rm_bufpool_destroy(bp), RM_OK);
    remove_dir(dir);
}

static void
test_bufpool_truncated_tail_page_is_corrupt(void **state)
{
    (void)state;
    char *dir = make_dir();
    rm_bufpool_t *bp = open_pool(dir, 16, 0);
    uint32_t f;
    assert_int_equal(rm_bufpool_open_file(bp, "tail", &f), RM_OK);
    write_page(bp, f, 0, 10);
    write_page(bp, f, 1, 11);
    assert_int_equal(rm_bufpool_destroy(bp), RM_OK);
    char path[512];
    snprintf(path, sizeof path, "%s/tail", dir);
    assert_int_equal(truncate(path, 4096 + 2048), 0);   /* half of page 1 is gone */

    bp = open_pool(dir, 16, 0);
    assert_int_equal(rm_bufpool_open_file(bp, "tail", &f), RM_OK);
    rm_status_t st;
    assert_int_equal(read_page(bp, f, 0, &st), 10);
    rm_bufpool_frame_t *fr = (rm_bufpool_frame_t *)0x1;
    assert_int_equal(rm_bufpool_pin(bp, f, 1, RM_BUFPOOL_SHARED, &fr), RM_ECORRUPT);
    assert_null(fr);
    /* a page wholly beyond the end reads as a fresh zero page */
    assert_int_equal(rm_bufpool_pin(bp, f, 5, RM_BUFPOOL_SHARED, &fr), RM_OK);
    const unsigned char *d = rm_bufpool_frame_data(fr);
    assert_int_equal(d[0] | d[100] | d[4000], 0);
    rm_bufpool_unpin(bp, fr, RM_BUFPOOL_SHARED, 0);
    assert_int_equal(rm_bufpool_destroy(bp), RM_OK);
    remove_dir(dir);
}


/* Regression: a newly read page that is still pinned sits in the one-page
 * admission window; when it lost its duel the eviction loop retried it and
 * every further miss failed with RM_EBUSY although 15 of 16 frames were free
 * to evict. */
static void
test_bufpool_misses_succeed_while_the_newest_page_stays_pinned(void **state)
{
    char *dir = make_dir();
    rm_bufpool_t *bp = open_pool(dir, 16, 0);
    uint32_t f;
    assert_int_equal(rm_bufpool_open_file(bp, "x", &f), RM_OK);
    rm_bufpool_frame_t *fr, *held;
    for (int r = 0; r < 20; r++)   /* pages 0..14 hot */
        for (uint64_t p = 0; p < 15; p++) {
            assert_int_equal(rm_bufpool_pin(bp, f, p, RM_BUFPOOL_SHARED, &fr), RM_OK);
            rm_bufpool_unpin(bp, fr, RM_BUFPOOL_SHARED, 0);
        }
    assert_int_equal(rm_bufpool_pin(bp, f, 100, RM_BUFPOOL_SHARED, &held), RM_OK);
    for (uint64_t p = 101; p < 140; p++) {
        assert_int_equal(rm_bufpool_pin(bp, f, p, RM_BUFPOOL_SHARED, &fr), RM_OK);
        rm_bufpool_unpin(bp, fr, RM_BUFPOOL_SHARED, 0);
    }
    rm_bufpool_unpin(bp, held, RM_BUFPOOL_SHARED, 0);
    assert_int_equal(rm_bufpool_destroy(bp), RM_OK);
    remove_dir(dir);
}


static long
file_size(const char *dir, const char *name)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    struct stat sb;
    return stat(path, &sb) == 0 ? (long)sb.st_size : -1;
}

static void
test_bufpool_temp_file_truncated_at_open_and_written_without_double_write(void **state)
{
    char *dir = make_dir();
    rm_bufpool_t *bp = open_pool(dir, 8, 0);
    uint32_t f, g;
    assert_int_equal(rm_bufpool_open_temp_file(bp, "scratch", &f), RM_OK);
    assert_int_equal(rm_bufpool_open_temp_file(bp, "scratch", &g), RM_OK);   /* same file, not truncated again */
    assert_int_equal(g, f);
    assert_int_equal(rm_bufpool_open_file(bp, "scratch", &g), RM_EINVAL);   /* not both kinds */
    for (uint64_t p = 0; p < 20; p++)                                        /* more pages than frames */
        write_page(bp, f, p, 7);
    rm_status_t st;
    for (uint64_t p = 0; p < 20; p++)
        assert_int_equal(read_page(bp, f, p, &st), 7);                       /* checksummed round trip */
    assert_int_equal(rm_bufpool_checkpoint(bp), RM_OK);
    rm_bufpool_stats_t s;
    assert_int_equal(rm_bufpool_stats(bp, &s), RM_OK);
    assert_true(s.writes >= 20);
    assert_int_equal(file_size(dir, "rustymem.dw"), 0);                      /* no double-write copy */
    assert_int_equal(file_size(dir, "scratch"), 20 * 4096);
    uint32_t d;
    assert_int_equal(rm_bufpool_open_file(bp, "durable", &d), RM_OK);
    assert_int_equal(rm_bufpool_open_temp_file(bp, "durable", &g), RM_EINVAL);
    assert_int_equal(rm_bufpool_destroy(bp), RM_OK);

    bp = open_pool(dir, 8, 0);   /* a new run: the scratch file starts empty */
    assert_int_equal(rm_bufpool_open_temp_file(bp, "scratch", &f), RM_OK);
    uint64_t pages = 99;
    assert_int_equal(rm_bufpool_file_pages(bp, f, &pages), RM_OK);
    assert_int_equal(pages, 0);
    assert_int_equal(file_size(dir, "scratch"), 0);
    assert_int_equal(rm_bufpool_destroy(bp), RM_OK);
    remove_dir(dir);
}

/* ---- dirty and pinned counts without a walk (st_moved, docs/adr/0031) ---- */

static void
test_bufpool_dirty_and_pinned_counts_follow_every_state_change(void **state)
{
    (void)state;
    char *dir = make_dir();
    rm_bufpool_t *bp = open_pool(dir, 16, 0);
    uint32_t f;
    assert_int_equal(rm_bufpool_open_file(bp, "t", &f), RM_OK);
    rm_bufpool_stats_t s;
    rm_bufpool_frame_t *sh[5], *x, *x2;
    for (uint64_t p = 0; p < 5; p++)
        assert_int_equal(rm_bufpool_pin(bp, f, p, RM_BUFPOOL_SHARED, &sh[p]), RM_OK);
    assert_int_equal(rm_bufpool_pin(bp, f, 0, RM_BUFPOOL_SHARED, &x2), RM_OK); /* a second pin */
    assert_int_equal(rm_bufpool_pin(bp, f, 9, RM_BUFPOOL_EXCLUSIVE, &x), RM_OK);
    assert_int_equal(rm_bufpool_stats(bp, &s), RM_OK);
    assert_int_equal(s.pinned, 6); /* frames, not pins */
    assert_int_equal(s.dirty, 0);
    rm_bufpool_unpin(bp, x, RM_BUFPOOL_EXCLUSIVE, 1);
    rm_bufpool_unpin(bp, x2, RM_BUFPOOL_SHARED, 0);
    assert_int_equal(rm_bufpool_stats(bp, &s), RM_OK);
    assert_int_equal(s.pinned, 5);
    assert_int_equal(s.dirty, 1);
    for (uint64_t p = 0; p < 5; p++)
        rm_bufpool_unpin(bp, sh[p], RM_BUFPOOL_SHARED, 0);
    write_page(bp, f, 1, 7); /* dirty a second page */
    assert_int_equal(rm_bufpool_stats(bp, &s), RM_OK);
    assert_int_equal(s.pinned, 0);
    assert_int_equal(s.dirty, 2);
    assert_int_equal(rm_bufpool_discard(bp, f, 1), RM_OK); /* a discarded page needs no write */
    assert_int_equal(rm_bufpool_stats(bp, &s), RM_OK);
    assert_int_equal(s.dirty, 1);
    assert_int_equal(rm_bufpool_checkpoint(bp), RM_OK);
    assert_int_equal(rm_bufpool_stats(bp, &s), RM_OK);
    assert_int_equal(s.dirty, 0);
    assert_int_equal(rm_bufpool_destroy(bp), RM_OK);
    remove_dir(dir);
}

typedef struct count_worker {
    rm_bufpool_t *bp;
    uint32_t file;
    unsigned seed;
} count_worker_t;

static void *
count_worker(void *arg)
{
    count_worker_t *w = arg;
    for (int i = 0; i < 4000; i++) {
        uint64_t p = rand_r(&w->seed) % 96; /* six times the pool: evictions write dirty pages */
        rm_bufpool_frame_t *fr;
        int ex = rand_r(&w->seed) % 3 == 0;
        if (rm_bufpool_pin(w->bp, w->file, p, ex ? RM_BUFPOOL_EXCLUSIVE : RM_BUFPOOL_SHARED, &fr) != RM_OK)
            continue; /* every frame pinned by the others for a moment */
        rm_bufpool_unpin(w->bp, fr, ex ? RM_BUFPOOL_EXCLUSIVE : RM_BUFPOOL_SHARED, ex);
    }
    return NULL;
}

static void
test_bufpool_counts_stay_exact_under_concurrent_eviction(void **state)
{
    (void)state;
    char *dir = make_dir();
    rm_bufpool_t *bp = open_pool(dir, 16, 0);
    uint32_t f;
    assert_int_equal(rm_bufpool_open_file(bp, "t", &f), RM_OK);
    pthread_t th[4];
    count_worker_t w[4];
    for (int i = 0; i < 4; i++) {
        w[i] = (count_worker_t){bp, f, 1234u + (unsigned)i};
        assert_int_equal(pthread_create(&th[i], NULL, count_worker, &w[i]), 0);
    }
    for (int i = 0; i < 4; i++)
        assert_int_equal(pthread_join(th[i], NULL), 0);
    /* quiet now: the counted dirty frames are exactly the pages a checkpoint writes */
    rm_bufpool_stats_t s, t;
    assert_int_equal(rm_bufpool_stats(bp, &s), RM_OK);
    assert_int_equal(s.pinned, 0);
    assert_true(s.dirty <= 16);
    assert_int_equal(rm_bufpool_checkpoint(bp), RM_OK);
    assert_int_equal(rm_bufpool_stats(bp, &t), RM_OK);
    assert_int_equal(t.writes - s.writes, s.dirty);
    assert_int_equal(t.dirty, 0);
    assert_int_equal(t.pinned, 0);
    assert_int_equal(rm_bufpool_destroy(bp), RM_OK);
    remove_dir(dir);
}

/* More threads alive at once than there are owned stripes (56), then the
 * same again twice: every thread beyond the owned ones shares a stripe with
 * atomic adds, and each wave reuses the stripes the last one gave back at
 * exit. The hit and pinned counts must stay exact through all of it. */
#define CHURN_THREADS 80
#define CHURN_PINS 500

typedef struct churn {
    rm_bufpool_t *bp;
    uint32_t file;
    unsigned id;
    pthread_barrier_t *held, *go;
} churn_t;

static void *
churn_worker(void *arg)
{
    churn_t *c = arg;
    rm_bufpool_frame_t *keep, *fr;
    int ok = rm_bufpool_pin(c->bp, c->file, c->id % 16, RM_BUFPOOL_SHARED, &keep) == RM_OK;
    pthread_barrier_wait(c->held);   /* the main thread counts the pinned frames */
    pthread_barrier_wait(c->go);
    for (unsigned i = 0; ok && i < CHURN_PINS; i++) {
        ok = rm_bufpool_pin(c->bp, c->file, (c->id + i) % 16, RM_BUFPOOL_SHARED, &fr) == RM_OK;
        if (ok)
            rm_bufpool_unpin(c->bp, fr, RM_BUFPOOL_SHARED, 0);
    }
    rm_bufpool_unpin(c->bp, keep, RM_BUFPOOL_SHARED, 0);
    return ok ? c : NULL;
}

static void
test_bufpool_counts_exact_with_more_threads_than_owned_stripes(void **state)
{
    (void)state;
    char *dir = make_dir();
    rm_bufpool_t *bp = open_pool(dir, 64, 0);
    uint32_t f;
    assert_int_equal(rm_bufpool_open_file(bp, "t", &f), RM_OK);
    for (uint64_t p = 0; p < 16; p++)
        write_page(bp, f, p, p);
    static pthread_t th[CHURN_THREADS];
    static churn_t c[CHURN_THREADS];
    for (int wave = 0; wave < 3; wave++) {
        rm_bufpool_stats_t a, b;
        assert_int_equal(rm_bufpool_stats(bp, &a), RM_OK);
        pthread_barrier_t held, go;
        assert_int_equal(pthread_barrier_init(&held, NULL, CHURN_THREADS + 1), 0);
        assert_int_equal(pthread_barrier_init(&go, NULL, CHURN_THREADS + 1), 0);
        for (unsigned i = 0; i < CHURN_THREADS; i++) {
            c[i] = (churn_t){bp, f, i, &held, &go};
            assert_int_equal(pthread_create(&th[i], NULL, churn_worker, &c[i]), 0);
        }
        pthread_barrier_wait(&held);
        assert_int_equal(rm_bufpool_stats(bp, &b), RM_OK);
        assert_int_equal(b.pinned, 16);   /* 80 pins of 16 pages: 16 frames */
        assert_int_equal(b.hits - a.hits, CHURN_THREADS);
        pthread_barrier_wait(&go);
        for (int i = 0; i < CHURN_THREADS; i++) {
            void *r;
            assert_int_equal(pthread_join(th[i], &r), 0);
            assert_ptr_equal(r, &c[i]);
        }
        pthread_barrier_destroy(&held);
        pthread_barrier_destroy(&go);
        assert_int_equal(rm_bufpool_stats(bp, &b), RM_OK);
        assert_int_equal(b.hits - a.hits, (uint64_t)CHURN_THREADS * (CHURN_PINS + 1));
        assert_int_equal(b.misses, a.misses);
        assert_int_equal(b.pinned, 0);
        assert_int_equal(b.dirty, 16);
    }
    assert_int_equal(rm_bufpool_destroy(bp), RM_OK);
    remove_dir(dir);
}

/* ---- slot pins (ADR 0004 § 3j) ---------------------------------------------------- */

static void
pin_holders(rm_bufpool_t *bp, const rm_bufpool_frame_t *fr, uint32_t *count, uint32_t *slots)
{
    rm__bp_test_pin_holders(bp, fr, count, slots);
}

typedef struct latcher {
    rm_bufpool_t *bp;
    uint32_t file;
    _Atomic int got;
} latcher_t;

static void *
latch_worker(void *arg)
{
    latcher_t *l = arg;
    rm_bufpool_frame_t *fr;
    if (rm_bufpool_pin(l->bp, l->file, 0, RM_BUFPOOL_EXCLUSIVE, &fr) != RM_OK)
        return NULL;
    atomic_store(&l->got, 1);
    rm_bufpool_unpin(l->bp, fr, RM_BUFPOOL_EXCLUSIVE, 0);
    return l;
}

/* A resident page pinned SHARED by a thread that owns its stripe is held in a
 * slot (the state word shows no pin); it is counted as pinned, and no path
 * that needs an unpinned frame takes it: misses that evict every other page,
 * emergency eviction of everything, discard, and an exclusive latch (which
 * waits until the slot is given back). */
static void
test_bufpool_slot_pinned_page_is_never_evicted_or_latched(void **state)
{
    (void)state;
    char *dir = make_dir();
    rm_bufpool_t *bp = open_pool(dir, 16, 0);
    uint32_t f;
    assert_int_equal(rm_bufpool_open_file(bp, "t", &f), RM_OK);
    for (uint64_t p = 0; p < 8; p++)
        write_page(bp, f, p, 100 + p);
    rm_bufpool_frame_t *fr, *again;
    assert_int_equal(rm_bufpool_pin(bp, f, 0, RM_BUFPOOL_SHARED, &fr), RM_OK);
    uint32_t count, slots;
    pin_holders(bp, fr, &count, &slots);
    assert_int_equal(count, 0);
    assert_int_equal(slots, 1);
    rm_bufpool_stats_t s0, s1;
    assert_int_equal(rm_bufpool_stats(bp, &s0), RM_OK);
    assert_int_equal(s0.pinned, 1);
    /* 40 misses through a 16-frame pool evict every other page at least once */
    rm_status_t st;
    for (uint64_t p = 8; p < 48; p++) {
        (void)read_page(bp, f, p, &st);   /* past the file's end: zeros */
        assert_int_equal(st, RM_OK);
    }
    uint64_t ev = 0;
    assert_int_equal(rm_bufpool_evict(bp, 1.0, &ev), RM_OK);
    assert_int_equal(rm_bufpool_stats(bp, &s1), RM_OK);
    assert_int_equal(s1.used_frames, 1);   /* everything went but the slot-pinned page */
    assert_int_equal(rm_bufpool_discard(bp, f, 0), RM_EBUSY);
    assert_int_equal(rm_bufpool_pin(bp, f, 0, RM_BUFPOOL_SHARED, &again), RM_OK);
    assert_ptr_equal(again, fr);
    rm_bufpool_unpin(bp, again, RM_BUFPOOL_SHARED, 0);
    assert_int_equal(rm_bufpool_stats(bp, &s0), RM_OK);
    assert_int_equal(s0.misses, s1.misses);   /* that was a hit */
    assert_int_equal(read_page(bp, f, 0, &st), 100);
    /* an exclusive latch waits for the slot */
    latcher_t l = {bp, f, 0};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, latch_worker, &l), 0);
    for (int i = 0; i < 50; i++) {
        struct timespec ts = {0, 2000000};
        nanosleep(&ts, NULL);
        assert_int_equal(atomic_load(&l.got), 0);
        pin_holders(bp, fr, &count, &slots);
        assert_int_equal(slots, 1);
    }
    rm_bufpool_unpin(bp, fr, RM_BUFPOOL_SHARED, 0);
    void *r;
    assert_int_equal(pthread_join(th, &r), 0);
    assert_ptr_equal(r, &l);
    pin_holders(bp, fr, &count, &slots);
    assert_int_equal(count, 0);
    assert_int_equal(slots, 0);
    assert_int_equal(rm_bufpool_stats(bp, &s0), RM_OK);
    assert_int_equal(s0.pinned, 0);
    assert_int_equal(rm_bufpool_discard(bp, f, 0), RM_OK);
    assert_int_equal(rm_bufpool_destroy(bp), RM_OK);
    remove_dir(dir);
}

/* RM_BP_PIN_SLOTS pins take the thread's slots; the next ones go to the
 * state word's count, and hold the page just as well. The unpins give both
 * back; then the slots serve again. */
static void
test_bufpool_slot_pins_overflow_to_the_count(void **state)
{
    (void)state;
    char *dir = make_dir();
    rm_bufpool_t *bp = open_pool(dir, 16, 0);
    uint32_t f;
    assert_int_equal(rm_bufpool_open_file(bp, "t", &f), RM_OK);
    write_page(bp, f, 0, 5);
    write_page(bp, f, 1, 6);
    enum { N = RM_BP_PIN_SLOTS + 2 };
    rm_bufpool_frame_t *fr[N], *one;
    uint32_t count, slots;
    for (int i = 0; i < N; i++) {
        assert_int_equal(rm_bufpool_pin(bp, f, 0, RM_BUFPOOL_SHARED, &fr[i]), RM_OK);
        assert_ptr_equal(fr[i], fr[0]);
        pin_holders(bp, fr[0], &count, &slots);
        assert_int_equal(slots, i < RM_BP_PIN_SLOTS ? i + 1 : RM_BP_PIN_SLOTS);
        assert_int_equal(count, i < RM_BP_PIN_SLOTS ? 0 : i + 1 - RM_BP_PIN_SLOTS);
    }
    assert_int_equal(rm_bufpool_pin(bp, f, 1, RM_BUFPOOL_SHARED, &one), RM_OK);   /* slots full: the count */
    pin_holders(bp, one, &count, &slots);
    assert_int_equal(count, 1);
    assert_int_equal(slots, 0);
    rm_bufpool_stats_t s;
    assert_int_equal(rm_bufpool_stats(bp, &s), RM_OK);
    assert_int_equal(s.pinned, 2);   /* frames, not pins */
    uint64_t ev = 0;
    assert_int_equal(rm_bufpool_evict(bp, 1.0, &ev), RM_OK);
    assert_int_equal(ev, 0);
    rm_bufpool_unpin(bp, one, RM_BUFPOOL_SHARED, 0);
    for (int i = N; i-- > 0;) {
        rm_bufpool_unpin(bp, fr[i], RM_BUFPOOL_SHARED, 0);
        pin_holders(bp, fr[0], &count, &slots);
        assert_int_equal(count + slots, (uint32_t)i);
        assert_int_equal(rm_bufpool_stats(bp, &s), RM_OK);
        assert_int_equal(s.pinned, i ? 1 : 0);
    }
    assert_int_equal(rm_bufpool_pin(bp, f, 1, RM_BUFPOOL_SHARED, &one), RM_OK);   /* a slot again */
    pin_holders(bp, one, &count, &slots);
    assert_int_equal(count, 0);
    assert_int_equal(slots, 1);
    rm_bufpool_unpin(bp, one, RM_BUFPOOL_SHARED, 0);
    assert_int_equal(rm_bufpool_evict(bp, 1.0, &ev), RM_OK);
    assert_int_equal(ev, 2);
    assert_int_equal(rm_bufpool_destroy(bp), RM_OK);
    remove_dir(dir);
}

typedef struct slot_thread {
    rm_bufpool_t *bp;
    uint32_t file;
    int bad;
    rm_bufpool_frame_t *kept;
} slot_thread_t;

/* Fill every slot, check each pin is a slot pin, give them all back. */
static void *
slot_fill_worker(void *arg)
{
    slot_thread_t *t = arg;
    rm_bufpool_frame_t *fr[RM_BP_PIN_SLOTS];
    for (int i = 0; i < RM_BP_PIN_SLOTS; i++) {
        uint32_t count, slots;
        if (rm_bufpool_pin(t->bp, t->file, (uint64_t)i, RM_BUFPOOL_SHARED, &fr[i]) != RM_OK) {
            t->bad = 1;
            return NULL;
        }
        rm__bp_test_pin_holders(t->bp, fr[i], &count, &slots);
        t->bad |= count != 0 || slots != 1;
    }
    for (int i = 0; i < RM_BP_PIN_SLOTS; i++)
        rm_bufpool_unpin(t->bp, fr[i], RM_BUFPOOL_SHARED, 0);
    return NULL;
}

/* A thread's slots belong to its stripe, which it gives back when it exits:
 * 200 threads one after another (more than the 56 owned stripes) each get
 * all their pins in slots. Were the slots not given back, the threads after
 * the 56th would share a stripe and pin with the count. */
static void
test_bufpool_thread_exit_releases_its_slots(void **state)
{
    (void)state;
    char *dir = make_dir();
    rm_bufpool_t *bp = open_pool(dir, 16, 0);
    uint32_t f;
    assert_int_equal(rm_bufpool_open_file(bp, "t", &f), RM_OK);
    for (uint64_t p = 0; p < RM_BP_PIN_SLOTS; p++)
        write_page(bp, f, p, p);
    for (int i = 0; i < 200; i++) {
        slot_thread_t t = {bp, f, 0, NULL};
        pthread_t th;
        assert_int_equal(pthread_create(&th, NULL, slot_fill_worker, &t), 0);
        assert_int_equal(pthread_join(th, NULL), 0);
        assert_int_equal(t.bad, 0);
    }
    rm_bufpool_stats_t s;
    assert_int_equal(rm_bufpool_stats(bp, &s), RM_OK);
    assert_int_equal(s.pinned, 0);
    assert_int_equal(rm_bufpool_destroy(bp), RM_OK);
    remove_dir(dir);
}

static void *
slot_pin_and_hand_over(void *arg)
{
    slot_thread_t *t = arg;
    uint32_t count, slots;
    if (rm_bufpool_pin(t->bp, t->file, 3, RM_BUFPOOL_SHARED, &t->kept) != RM_OK)
        return NULL;
    rm__bp_test_pin_holders(t->bp, t->kept, &count, &slots);
    t->bad = count != 0 || slots != 1;
    return t;
}

/* A slot pin handed to another thread is released by that thread: the
 * owner's slot is cleared (with a CAS), and the page can go. */
static void
test_bufpool_slot_pin_released_by_another_thread(void **state)
{
    (void)state;
    char *dir = make_dir();
    rm_bufpool_t *bp = open_pool(dir, 16, 0);
    uint32_t f;
    assert_int_equal(rm_bufpool_open_file(bp, "t", &f), RM_OK);
    write_page(bp, f, 3, 9);
    slot_thread_t t = {bp, f, 0, NULL};
    pthread_t th;
    void *r;
    assert_int_equal(pthread_create(&th, NULL, slot_pin_and_hand_over, &t), 0);
    assert_int_equal(pthread_join(th, &r), 0);
    assert_ptr_equal(r, &t);
    assert_int_equal(t.bad, 0);
    rm_bufpool_stats_t s;
    assert_int_equal(rm_bufpool_stats(bp, &s), RM_OK);
    assert_int_equal(s.pinned, 1);   /* the exited thread's slot still holds it */
    assert_int_equal(rm_bufpool_discard(bp, f, 3), RM_EBUSY);
    rm_bufpool_unpin(bp, t.kept, RM_BUFPOOL_SHARED, 0);
    uint32_t count, slots;
    pin_holders(bp, t.kept, &count, &slots);
    assert_int_equal(count, 0);
    assert_int_equal(slots, 0);
    assert_int_equal(rm_bufpool_stats(bp, &s), RM_OK);
    assert_int_equal(s.pinned, 0);
    assert_int_equal(rm_bufpool_discard(bp, f, 3), RM_OK);
    assert_int_equal(rm_bufpool_destroy(bp), RM_OK);
    remove_dir(dir);
}

/* Racing eviction and latches against slot pins: 4 threads on a 16-frame
 * pool over 48 pages. Readers pin SHARED (slots), check that the frame holds
 * their page whole (every word carries the page number and one version),
 * yield, and check again that nothing changed under the pin; writers latch
 * EXCLUSIVE and bump the page's version; every eighth step evicts a quarter
 * of the pool. At the end each page's version is the number of writes to it. */
#define RACE_PAGES 48
#define RACE_STEPS 3000

typedef struct racer {
    rm_bufpool_t *bp;
    uint32_t file;
    unsigned seed;
    _Atomic uint64_t *writes;
    long torn, busy;
} racer_t;

static uint64_t
page_version(const uint64_t *d, uint64_t p, size_t n)
{
    uint64_t v = d[0] ^ (p << 32);
    for (size_t i = 0; i < n; i++)
        if ((d[i] ^ (p << 32) ^ i) != v)
            return UINT64_MAX;
    return v;
}

static void *
race_worker(void *arg)
{
    racer_t *w = arg;
    size_t n = rm_bufpool_usable_bytes(w->bp) / 8;
    for (int i = 0; i < RACE_STEPS; i++) {
        uint64_t p = rand_r(&w->seed) % RACE_PAGES;
        unsigned k = rand_r(&w->seed) % 8;
        rm_bufpool_frame_t *fr;
        if (k == 0) {
            uint64_t ev;
            (void)rm_bufpool_evict(w->bp, 0.25, &ev);
            continue;
        }
        int ex = k == 1;
        if (rm_bufpool_pin(w->bp, w->file, p, ex ? RM_BUFPOOL_EXCLUSIVE : RM_BUFPOOL_SHARED, &fr) != RM_OK) {
            w->busy++;
            continue;
        }
        uint64_t *d = rm_bufpool_frame_data(fr);
        uint64_t v = page_version(d, p, n);
        if (v == UINT64_MAX) {
            w->torn++;
        } else if (ex) {
            for (size_t j = 0; j < n; j++)
                d[j] = (v + 1) ^ (p << 32) ^ j;
        } else {
            if (i % 4 == 0)
                sched_yield();
            w->torn += page_version(d, p, n) != v;
        }
        rm_bufpool_unpin(w->bp, fr, ex ? RM_BUFPOOL_EXCLUSIVE : RM_BUFPOOL_SHARED, ex);
        if (ex && v != UINT64_MAX)
            atomic_fetch_add(&w->writes[p], 1);
    }
    return NULL;
}

static void
test_bufpool_slot_pins_hold_pages_against_racing_eviction(void **state)
{
    (void)state;
    char *dir = make_dir();
    rm_bufpool_t *bp = open_pool(dir, 16, 0);
    uint32_t f;
    assert_int_equal(rm_bufpool_open_file(bp, "t", &f), RM_OK);
    static _Atomic uint64_t writes[RACE_PAGES];
    for (uint64_t p = 0; p < RACE_PAGES; p++) {
        write_page(bp, f, p, 0);
        atomic_store(&writes[p], 0);
    }
    pthread_t th[4];
    racer_t w[4];
    for (int i = 0; i < 4; i++) {
        w[i] = (racer_t){bp, f, 77u + (unsigned)i, writes, 0, 0};
        assert_int_equal(pthread_create(&th[i], NULL, race_worker, &w[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        assert_int_equal(pthread_join(th[i], NULL), 0);
        assert_int_equal(w[i].torn, 0);
        assert_int_equal(w[i].busy, 0);
    }
    rm_bufpool_stats_t s;
    assert_int_equal(rm_bufpool_stats(bp, &s), RM_OK);
    assert_int_equal(s.pinned, 0);
    assert_true(s.evictions > 0);
    rm_status_t st;
    for (uint64_t p = 0; p < RACE_PAGES; p++)
        assert_int_equal(read_page(bp, f, p, &st), atomic_load(&writes[p]));
    assert_int_equal(rm_bufpool_destroy(bp), RM_OK);
    remove_dir(dir);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bufpool_temp_file_truncated_at_open_and_written_without_double_write),
        cmocka_unit_test(test_bufpool_misses_succeed_while_the_newest_page_stays_pinned),
        cmocka_unit_test(test_bufpool_crc32c_check_value),
        cmocka_unit_test(test_bufpool_policy_lru_hand_trace),
        cmocka_unit_test(test_bufpool_policy_clock_hand_trace),
        cmocka_unit_test(test_bufpool_policy_arc_keeps_frequent_page),
        cmocka_unit_test(test_bufpool_policy_arc_ghost_hit_adapts),
        cmocka_unit_test(test_bufpool_policy_opt_hand_trace),
        cmocka_unit_test(test_bufpool_policy_rustymem_cold_start_hits_like_lru),
        cmocka_unit_test(test_bufpool_policy_rustymem_scan_resistant),
        cmocka_unit_test(test_bufpool_policy_rustymem_keeps_part_of_loop),
        cmocka_unit_test(test_bufpool_earc_victim_from_t2_when_t1_pages_are_referenced),
        cmocka_unit_test(test_bufpool_earc_promoted_page_outlives_an_older_t2_reference),
        cmocka_unit_test(test_bufpool_earc_b1_hit_ages_a_t2_reference),
        cmocka_unit_test(test_bufpool_earc_p_step_scales_with_the_ghost_directory),
        cmocka_unit_test(test_bufpool_earc_mark_t1_follows_the_lists),
        cmocka_unit_test(test_bufpool_earc_history_ages_with_accesses),
        cmocka_unit_test(test_bufpool_t1_refs_counter_matches_frame_states),
        cmocka_unit_test(test_bufpool_simulate_rejects_bad_args),
        cmocka_unit_test(test_bufpool_create_rejects_bad_config),
        cmocka_unit_test(test_bufpool_page_persists_across_reopen),
        cmocka_unit_test(test_bufpool_pages_past_eof_are_zeros_without_a_read),
        cmocka_unit_test(test_bufpool_discard_drops_a_page_unwritten),
        cmocka_unit_test(test_bufpool_hit_counted_and_page_in_stats),
        cmocka_unit_test(test_bufpool_dirty_and_pinned_counts_follow_every_state_change),
        cmocka_unit_test(test_bufpool_counts_stay_exact_under_concurrent_eviction),
        cmocka_unit_test(test_bufpool_counts_exact_with_more_threads_than_owned_stripes),
        cmocka_unit_test(test_bufpool_stats_report_arc_lists_not_clock_lists),
        cmocka_unit_test(test_bufpool_hits_past_a_full_hit_ring_still_protect_pages),
        cmocka_unit_test(test_bufpool_shrink_gives_back_what_the_accounting_counts),
        cmocka_unit_test(test_bufpool_large_shrink_releases_policy_metadata),
        cmocka_unit_test(test_bufpool_shrink_releases_metadata_sized_for_the_large_pool),
        cmocka_unit_test(test_bufpool_lookups_stay_correct_during_concurrent_shrink),
        cmocka_unit_test(test_bufpool_shrink_waits_for_readers_of_the_old_table),
        cmocka_unit_test(test_bufpool_frames_for_sizing_rule),
        cmocka_unit_test(test_bufpool_pin_fails_busy_when_all_frames_pinned),
        cmocka_unit_test(test_bufpool_pin_rejects_bad_file),
        cmocka_unit_test(test_bufpool_corrupt_page_reported_not_returned),
        cmocka_unit_test(test_bufpool_truncated_tail_page_is_corrupt),
        cmocka_unit_test(test_bufpool_shrink_keeps_dirty_pages),
        cmocka_unit_test(test_bufpool_shrink_busy_when_frame_stays_pinned),
        cmocka_unit_test(test_bufpool_evict_fraction),
        cmocka_unit_test(test_bufpool_boost_setter_validates),
        cmocka_unit_test(test_bufpool_writer_cleans_dirty_pages_without_checkpoint),
        cmocka_unit_test(test_bufpool_boost_max_keeps_free_reserve),
        cmocka_unit_test(test_bufpool_advise_follows_seed_rule),
        cmocka_unit_test(test_bufpool_prefetch_sequential_scan_used),
        cmocka_unit_test(test_bufpool_create_survives_every_page_source_failure),
        cmocka_unit_test(test_bufpool_shrink_and_regrow_survive_every_page_source_failure),
        cmocka_unit_test(test_bufpool_crash_kill9_keeps_flushed_pages),
        cmocka_unit_test(test_bufpool_crash_torn_write_repaired_from_doublewrite),
        cmocka_unit_test(test_bufpool_slot_pinned_page_is_never_evicted_or_latched),
        cmocka_unit_test(test_bufpool_slot_pins_overflow_to_the_count),
        cmocka_unit_test(test_bufpool_thread_exit_releases_its_slots),
        cmocka_unit_test(test_bufpool_slot_pin_released_by_another_thread),
        cmocka_unit_test(test_bufpool_slot_pins_hold_pages_against_racing_eviction),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
