/*
 * test_pcache.c — the buffer pool's page-cache mode: SQLite's three create
 * modes, the Enhanced ARC policy on a hand-computed sequence, pinned pages,
 * discard, rekey, truncate, cache size, caches sharing one budget, purgeable
 * and non-purgeable caches, shrink, live budget changes, bad arguments,
 * page-source failures, the records that hold each page's descriptor and extra
 * bytes, a short multi-threaded run, and the pool's lock (a futex word).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>

#include <cmocka.h>

#include "bufpool_internal.h"   /* the pool lock (rm__bp_lock_t) */
#include "rustymem/pagesrc.h"
#include "rustymem/pcache.h"
#include "rustymem/stats.h"

#define PS 1024u   /* page size of most tests: frames cost PS + extra bytes */

/* ---- helpers -------------------------------------------------------------------- */

static rm_pcache_pool_t *
pool_of(uint64_t budget, const rm_pagesrc_t *src)
{
    rm_pcache_pool_config_t cfg;
    rm_pcache_pool_config_default(&cfg);
    cfg.budget_bytes = budget;
    cfg.pagesrc = src;
    rm_pcache_pool_t *p = NULL;
    assert_int_equal(rm_pcache_pool_create(&cfg, &p), RM_OK);
    return p;
}

static rm_pcache_t *
cache_of(rm_pcache_pool_t *pool, size_t ps, size_t extra, int purgeable, size_t cachesize)
{
    rm_pcache_t *c = NULL;
    assert_int_equal(rm_pcache_create(pool, ps, extra, purgeable, &c), RM_OK);
    if (cachesize)
        assert_int_equal(rm_pcache_set_cachesize(c, cachesize), RM_OK);
    return c;
}

/* Create page `key` (FORCE), stamp it, and unpin it unless `keep`. */
static rm_pcache_page_t *
put(rm_pcache_t *c, uint32_t key, int keep)
{
    rm_pcache_page_t *pg = NULL;
    assert_int_equal(rm_pcache_fetch(c, key, RM_PCACHE_CREATE_FORCE, &pg), RM_OK);
    assert_non_null(pg);
    memset(pg->buf, (int)(key & 0xff), rm_pcache_page_size(c));
    memcpy(pg->buf, &key, sizeof key);
    if (!keep)
        assert_int_equal(rm_pcache_unpin(c, pg, 0), RM_OK);
    return pg;
}

/* 1 if `key` is resident (a LOOKUP; counted as a hit or a miss). */
static int
resident(rm_pcache_t *c, uint32_t key)
{
    rm_pcache_page_t *pg = NULL;
    rm_status_t st = rm_pcache_fetch(c, key, RM_PCACHE_LOOKUP, &pg);
    if (st == RM_ENOENT) {
        assert_null(pg);
        return 0;
    }
    assert_int_equal(st, RM_OK);
    uint32_t k;
    memcpy(&k, pg->buf, sizeof k);
    assert_int_equal(k, key);   /* contents intact */
    assert_int_equal(rm_pcache_unpin(c, pg, 0), RM_OK);
    return 1;
}

/* Same for a page the caller keeps pinned: a LOOKUP of a pinned page leaves
 * it pinned once (pins are not counted), so no unpin follows. */
static int
resident_pinned(rm_pcache_t *c, uint32_t key, rm_pcache_page_t *expect)
{
    rm_pcache_page_t *pg = NULL;
    rm_status_t st = rm_pcache_fetch(c, key, RM_PCACHE_LOOKUP, &pg);
    if (st != RM_OK)
        return 0;
    assert_ptr_equal(pg, expect);
    return 1;
}

static rm_pcache_stats_t
stats(rm_pcache_t *c)
{
    rm_pcache_stats_t s;
    assert_int_equal(rm_pcache_stats(c, &s), RM_OK);
    return s;
}

static rm_pcache_stats_t
pstats(rm_pcache_pool_t *p)
{
    rm_pcache_stats_t s;
    assert_int_equal(rm_pcache_pool_stats(p, &s), RM_OK);
    return s;
}

/* ---- layout ------------------------------------------------------------------------- */

/* Each page's extra bytes sit right behind its 48-byte descriptor, in the same
 * 64-byte-aligned record (ADR 0023, session 12: the hit's descriptor line is
 * the line before SQLite's PgHdr); the extra is 16-byte aligned and no two
 * pages' buffers or extras overlap, across chunks (64 frames of 1 KiB pages)
 * and segments (256 records). */
static void
test_pcache_extra_sits_behind_its_page_descriptor(void **state)
{
    (void)state;
    static const size_t extras[] = {1, 40, 216, 1024};
    enum { N = 600 };
    for (size_t e = 0; e < sizeof extras / sizeof extras[0]; e++) {
        size_t ex = extras[e];
        rm_pcache_pool_t *pool = pool_of((uint64_t)N * (PS + ex), NULL);
        rm_pcache_t *c = cache_of(pool, PS, ex, 1, 0);
        rm_pcache_page_t **pg = calloc(N, sizeof *pg);
        assert_non_null(pg);
        for (uint32_t k = 0; k < N; k++) {
            assert_int_equal(rm_pcache_fetch(c, k + 1, RM_PCACHE_CREATE_FORCE, &pg[k]), RM_OK);
            uintptr_t d = (uintptr_t)pg[k], x = (uintptr_t)pg[k]->extra;
            assert_int_equal(d % 64, 0);
            assert_int_equal(x - d, 48);
            assert_int_equal(x % 16, 0);
            memset(pg[k]->buf, (int)(k & 0xff), PS);
            memset(pg[k]->extra, (int)((k * 7 + 1) & 0xff), ex);
        }
        for (uint32_t k = 0; k < N; k++) {
            const unsigned char *b = pg[k]->buf, *x = pg[k]->extra;
            for (size_t i = 0; i < PS; i += 97)
                assert_int_equal(b[i], k & 0xff);
            assert_int_equal(b[PS - 1], k & 0xff);
            for (size_t i = 0; i < ex; i++)
                assert_int_equal(x[i], (k * 7 + 1) & 0xff);
            assert_int_equal(rm_pcache_unpin(c, pg[k], 0), RM_OK);
        }
        assert_int_equal(rm_pcache_pagecount(c), N);
        free(pg);
        rm_pcache_destroy(c);
        assert_int_equal(rm_pcache_pool_destroy(pool), RM_OK);
    }
}

/* ---- create modes ----------------------------------------------------------------- */

/* rm_pcache_set_extra_zero: a new page gets exactly its first `bytes` of extra
 * zeroed (capped at extra_size) and the rest as the frame held it — checked in
 * a reused frame whose extra was stamped 0xEE (a fresh frame's memory is zero
 * anyway). 8 is the SQLite adapter's request (PgHdr.pPage) and takes the
 * one-store route; 0, 13 and a value above extra_size take memset's. */
static void
test_pcache_extra_zero_covers_only_what_was_asked(void **state)
{
    (void)state;
    static const size_t asks[] = {8, 0, 13, 1000};
    rm_pcache_set_extra_zero(NULL, 8);   /* no-op */
    for (size_t a = 0; a < sizeof asks / sizeof asks[0]; a++) {
        rm_pcache_pool_t *pool = pool_of(64 * PS, NULL);
        rm_pcache_t *c = cache_of(pool, PS, 40, 1, 0);
        rm_pcache_set_extra_zero(c, asks[a]);
        size_t z = asks[a] < 40 ? asks[a] : 40;
        rm_pcache_page_t *pg = NULL, *pg2 = NULL;
        assert_int_equal(rm_pcache_fetch(c, 1, RM_PCACHE_CREATE_FORCE, &pg), RM_OK);
        memset(pg->extra, 0xEE, 40);
        assert_int_equal(rm_pcache_unpin(c, pg, 1), RM_OK);   /* discard: the frame is free again */
        /* the page SQLite's xFetch asks for (CREATE_CHEAP through fetch_page) */
        pg2 = rm_pcache_fetch_page(c, 2, RM_PCACHE_CREATE_CHEAP);
        assert_non_null(pg2);
        assert_ptr_equal(pg2, pg);   /* the same frame, its extra as stamped */
        const unsigned char *x = pg2->extra;
        for (size_t i = 0; i < 40; i++)
            assert_int_equal(x[i], i < z ? 0 : 0xEE);
        assert_int_equal(rm_pcache_unpin(c, pg2, 0), RM_OK);
        rm_pcache_destroy(c);
        assert_int_equal(rm_pcache_pool_destroy(pool), RM_OK);
    }
}

static void
test_pcache_fetch_modes_and_fresh_extra(void **state)
{
    (void)state;
    rm_pcache_pool_t *pool = pool_of(64 * PS, NULL);
    rm_pcache_t *c = cache_of(pool, PS, 40, 1, 0);
    rm_pcache_page_t *pg = (rm_pcache_page_t *)1;
    assert_int_equal(rm_pcache_fetch(c, 5, RM_PCACHE_LOOKUP, &pg), RM_ENOENT);
    assert_null(pg);
    assert_int_equal(rm_pcache_pagecount(c), 0);

    assert_int_equal(rm_pcache_fetch(c, 5, RM_PCACHE_CREATE_CHEAP, &pg), RM_OK);
    unsigned char *extra = pg->extra;
    for (int i = 0; i < 40; i++)
        assert_int_equal(extra[i], 0);
    memset(pg->extra, 0xEE, 40);
    memset(pg->buf, 0x5A, PS);
    assert_int_equal(rm_pcache_pagecount(c), 1);
    rm_pcache_stats_t s = stats(c);
    assert_int_equal(s.pinned, 1);
    assert_int_equal(s.used_bytes, PS + 40);

    /* a hit returns the same frame with its contents and extra intact */
    rm_pcache_page_t *again = NULL;
    assert_int_equal(rm_pcache_fetch(c, 5, RM_PCACHE_LOOKUP, &again), RM_OK);
    assert_ptr_equal(again, pg);
    assert_int_equal(((unsigned char *)again->buf)[PS - 1], 0x5A);
    assert_int_equal(((unsigned char *)again->extra)[39], 0xEE);
    /* pins are not counted: one unpin releases both fetches */
    assert_int_equal(stats(c).pinned, 1);
    assert_int_equal(rm_pcache_unpin(c, pg, 0), RM_OK);
    assert_int_equal(stats(c).pinned, 0);
    assert_int_equal(rm_pcache_unpin(c, pg, 0), RM_EINVAL);   /* not pinned any more */

    /* discard, then a new page in the same frame: its extra is zeroed again */
    assert_int_equal(rm_pcache_fetch(c, 5, RM_PCACHE_CREATE_FORCE, &pg), RM_OK);
    assert_int_equal(rm_pcache_unpin(c, pg, 1), RM_OK);
    assert_int_equal(rm_pcache_pagecount(c), 0);
    assert_int_equal(rm_pcache_fetch(c, 6, RM_PCACHE_CREATE_FORCE, &pg), RM_OK);
    for (int i = 0; i < 40; i++)
        assert_int_equal(((unsigned char *)pg->extra)[i], 0);
    assert_int_equal(rm_pcache_unpin(c, pg, 0), RM_OK);

    s = stats(c);
    assert_int_equal(s.hits, 2);     /* the LOOKUP hit and the FORCE hit of 5 */
    assert_int_equal(s.misses, 3);   /* LOOKUP 5, CHEAP 5, FORCE 6 */
    assert_int_equal(s.discards, 1);
    assert_int_equal(s.pages, 1);

    rm_pcache_t *z = cache_of(pool, PS, 0, 1, 0);
    assert_int_equal(rm_pcache_fetch(z, 1, RM_PCACHE_CREATE_FORCE, &pg), RM_OK);
    assert_null(pg->extra);   /* extra_size 0 */
    rm_pcache_destroy(z);
    rm_pcache_destroy(c);
    assert_int_equal(rm_pcache_pool_destroy(pool), RM_OK);
}

/*
 * Enhanced ARC on a cache of 4 (window 1, main 3), computed by hand from
 * bufpool_arc.c:
 *  1. 1..4 created: 1,2,3 overflow the window into T1, 4 stays in the window.
 *  2. 5: the candidate 4 duels T1's head 1: both seen once, ties keep the
 *     incumbent, so 4 is evicted (admission_rejects 1, no ghost) and the
 *     hand moves past 1. Window = 5.
 *  3. 4 again: a miss on a refused page raises the admission bias to 1. The
 *     candidate 5 (estimate 1 + bias 1) beats T1's head 2 (1): 2 is evicted
 *     and 5 enters T1; 4 takes the window. 2's B1 ghost is trimmed at once:
 *     T1 is full (ARC keeps |T1| + |B1| <= the main size, 3).
 *  4. 2 again: the miss on a page evicted for a candidate lowers the bias to
 *     0. The candidate 4 (seen twice) beats T1's head 3 (once): 3 goes.
 *  5. Hits on 1 and 5, then 6: the T1 hand moves the referenced 1 and 5 to
 *     T2 and stops at 4; the candidate 2 (seen twice) only ties with 4 (seen
 *     twice), so 2 is refused (admission_rejects 2).
 */
static void
check_arc_sequence(rm_pcache_t *c)
{
    for (uint32_t k = 1; k <= 4; k++)
        put(c, k, 0);
    rm_pcache_stats_t s = stats(c);
    assert_int_equal(s.pages, 4);
    assert_int_equal(s.evictions, 0);
    assert_int_equal(s.win_size, 1);
    assert_int_equal(s.t1_size, 3);

    put(c, 5, 0);
    s = stats(c);
    assert_int_equal(s.evictions, 1);
    assert_int_equal(s.admission_rejects, 1);
    assert_int_equal(s.b1_size, 0);

    put(c, 4, 0);
    s = stats(c);
    assert_int_equal(s.evictions, 2);
    assert_int_equal(s.admission_rejects, 1);   /* this time the candidate won */
    assert_int_equal(s.b1_size, 0);
    assert_int_equal(s.t1_size, 3);
    assert_int_equal(s.win_size, 1);

    put(c, 2, 0);
    s = stats(c);
    assert_int_equal(s.evictions, 3);
    assert_int_equal(s.admission_rejects, 1);
    assert_int_equal(s.pages, 4);
    assert_int_equal(s.misses, 7);
    assert_int_equal(s.hits, 0);

    /* resident now: 1, 5, 4 and 2; gone: 3 (checked without touching them) */
    rm_pcache_page_t *pg;
    assert_int_equal(rm_pcache_fetch(c, 3, RM_PCACHE_LOOKUP, &pg), RM_ENOENT);
    assert_int_equal(resident(c, 1), 1);
    assert_int_equal(resident(c, 5), 1);
    put(c, 6, 0);
    s = stats(c);
    assert_int_equal(s.evictions, 4);
    assert_int_equal(s.admission_rejects, 2);
    assert_int_equal(s.t2_size, 2);   /* 1 and 5 */
    assert_int_equal(s.t1_size, 1);   /* 4 */
    assert_int_equal(s.win_size, 1);  /* 6 */
    assert_int_equal(resident(c, 2), 0);
    assert_int_equal(resident(c, 4), 1);
    assert_int_equal(resident(c, 6), 1);
}

/* Bounded by its cache size: 4 pages in a large budget. */
static void
test_pcache_policy_hand_computed_sequence(void **state)
{
    (void)state;
    rm_pcache_pool_t *pool = pool_of(1024 * PS, NULL);
    rm_pcache_t *c = cache_of(pool, PS, 0, 1, 4);
    check_arc_sequence(c);
    assert_int_equal(stats(c).stolen, 0);
    rm_pcache_destroy(c);
    assert_int_equal(rm_pcache_pool_destroy(pool), RM_OK);
}

/* Bounded by the budget instead (4 pages, no cache size of its own): the
 * policy is sized by what the budget buys, so the sequence is the same. */
static void
test_pcache_policy_same_sequence_under_a_tiny_budget(void **state)
{
    (void)state;
    rm_pcache_pool_t *pool = pool_of(4 * PS, NULL);
    rm_pcache_t *c = cache_of(pool, PS, 0, 1, 0);
    check_arc_sequence(c);
    rm_pcache_stats_t s = stats(c);
    assert_int_equal(s.stolen, 0);   /* its own pages: evicted, not taken by another cache */
    assert_int_equal(s.cachesize, RM_PCACHE_CACHESIZE_DEFAULT);
    assert_int_equal(pstats(pool).used_bytes, 4 * PS);
    rm_pcache_destroy(c);
    assert_int_equal(rm_pcache_pool_destroy(pool), RM_OK);
}

/* Hits protect pages: the clock passes over referenced pages. */
static void
test_pcache_hit_pages_survive_a_scan(void **state)
{
    (void)state;
    rm_pcache_pool_t *pool = pool_of(1024 * PS, NULL);
    rm_pcache_t *c = cache_of(pool, PS, 0, 1, 8);
    for (uint32_t k = 1; k <= 8; k++)
        put(c, k, 0);
    /* 1..4 are hot: hit three times each */
    for (int r = 0; r < 3; r++)
        for (uint32_t k = 1; k <= 4; k++)
            assert_int_equal(resident(c, k), 1);
    /* a scan of 40 new pages, each seen once */
    for (uint32_t k = 100; k < 140; k++)
        put(c, k, 0);
    for (uint32_t k = 1; k <= 4; k++)
        assert_int_equal(resident(c, k), 1);
    assert_int_equal(rm_pcache_pagecount(c), 8);
    rm_pcache_destroy(c);
    assert_int_equal(rm_pcache_pool_destroy(pool), RM_OK);
}

/* ---- pinned pages ------------------------------------------------------------------- */

static void
test_pcache_pinned_pages_are_never_evicted(void **state)
{
    (void)state;
    /* the budget binds: 4 pages */
    rm_pcache_pool_t *pool = pool_of(4 * PS, NULL);
    rm_pcache_t *c = cache_of(pool, PS, 0, 1, 0);
    rm_pcache_page_t *p[4];
    for (uint32_t k = 0; k < 4; k++)
        p[k] = put(c, k + 1, 1);
    rm_pcache_page_t *pg = (rm_pcache_page_t *)1;
    /* every page pinned: FORCE fails, CHEAP refuses, nothing changes */
    assert_int_equal(rm_pcache_fetch(c, 9, RM_PCACHE_CREATE_FORCE, &pg), RM_EBUSY);
    assert_null(pg);
    assert_int_equal(rm_pcache_fetch(c, 9, RM_PCACHE_CREATE_CHEAP, &pg), RM_EBUSY);
    rm_pcache_stats_t s = stats(c);
    assert_int_equal(s.pages, 4);
    assert_int_equal(s.pinned, 4);
    assert_int_equal(s.evictions, 0);
    assert_int_equal(s.create_failed, 1);
    assert_int_equal(s.create_refused, 1);
    for (uint32_t k = 0; k < 4; k++) {
        uint32_t v;
        memcpy(&v, p[k]->buf, sizeof v);
        assert_int_equal(v, k + 1);
    }
    /* one unpinned page: FORCE takes exactly that one */
    assert_int_equal(rm_pcache_unpin(c, p[2], 0), RM_OK);
    put(c, 9, 1);
    assert_int_equal(resident(c, 3), 0);
    for (uint32_t k = 1; k <= 4; k++)
        if (k != 3) {
            rm_pcache_page_t *q;
            assert_int_equal(rm_pcache_fetch(c, k, RM_PCACHE_LOOKUP, &q), RM_OK);
            assert_ptr_equal(q, p[k - 1]);
        }
    assert_int_equal(stats(c).evictions, 1);
    rm_pcache_destroy(c);
    assert_int_equal(rm_pcache_pool_destroy(pool), RM_OK);
}

/* SQLite keeps dirty pages pinned: an eviction must not walk them again and
 * again (it did: ~22 % of speedtest1's CPU). A page met pinned by two
 * evictions in one pin is parked (off the policy's hands); its unpin gives it
 * back, and then it is evictable like any other. Pinned pages never go. */
static void
test_pcache_pinned_pages_are_parked_and_come_back(void **state)
{
    (void)state;
    rm_pcache_pool_t *pool = pool_of(1024 * PS, NULL);
    rm_pcache_t *c = cache_of(pool, PS, 0, 1, 8);
    rm_pcache_page_t *p[8];
    for (uint32_t k = 0; k < 8; k++)
        p[k] = put(c, k + 1, k >= 2);   /* 1, 2 unpinned; 3..8 pinned (dirty) */
    /* a stream of new pages, each used a few times (so that it wins its
     * admission duel and main's pinned pages are asked to go): every eviction
     * takes an unpinned page; the pinned ones end parked */
    for (uint32_t k = 100; k < 140; k++) {
        put(c, k, 0);
        for (int i = 0; i < 4; i++)
            assert_int_equal(resident(c, k), 1);
    }
    rm_pcache_stats_t s = stats(c);
    assert_int_equal(s.pages, 8);
    assert_int_equal(s.pinned, 6);
    assert_int_equal(s.parked, 6);
    assert_int_equal(s.evictions, 40);
    for (uint32_t k = 3; k <= 8; k++) {
        rm_pcache_page_t *q;
        assert_int_equal(rm_pcache_fetch(c, k, RM_PCACHE_LOOKUP, &q), RM_OK);   /* a second pin */
        assert_ptr_equal(q, p[k - 1]);
        uint32_t v;
        memcpy(&v, q->buf, sizeof v);
        assert_int_equal(v, k);
    }
    assert_int_equal(stats(c).parked, 6);   /* a hit on a parked page keeps it parked */
    /* a discarded parked page leaves the count */
    assert_int_equal(rm_pcache_unpin(c, p[7], 1), RM_OK);
    assert_int_equal(stats(c).parked, 5);
    /* unpinned, the parked pages are back in the policy and go like others */
    for (uint32_t k = 3; k <= 7; k++)
        assert_int_equal(rm_pcache_unpin(c, p[k - 1], 0), RM_OK);
    s = stats(c);
    assert_int_equal(s.parked, 0);
    assert_int_equal(s.pinned, 0);
    assert_int_equal(s.win_size + s.t1_size + s.t2_size, s.pages);   /* all on the hands again */
    uint64_t ev = 0;
    assert_int_equal(rm_pcache_shrink(c, &ev), RM_OK);   /* every unpinned page, through the policy */
    assert_int_equal(ev, s.pages);
    for (uint32_t k = 3; k <= 8; k++)
        assert_int_equal(resident(c, k), 0);
    assert_int_equal(stats(c).pages, 0);
    rm_pcache_destroy(c);
    assert_int_equal(rm_pcache_pool_destroy(pool), RM_OK);
}

/* CREATE_CHEAP refuses at 90 % of the cache size pinned (pcache1's rule) and
 * at the cache size when only pinned pages are left; FORCE grows past the
 * cache size (it is advisory) while the budget has room. */
static void
test_pcache_cheap_refuses_where_force_creates(void **state)
{
    (void)state;
    rm_pcache_pool_t *pool = pool_of(1024 * PS, NULL);
    rm_pcache_t *c = cache_of(pool, PS, 0, 1, 10);
    rm_pcache_page_t *p[12];
    for (uint32_t k = 0; k < 8; k++)
        p[k] = put(c, k + 1, 1);
    p[8] = put(c, 9, 0);   /* 8 pinned of 10: CHEAP still creates */
    rm_pcache_page_t *pg;
    assert_int_equal(rm_pcache_fetch(c, 10, RM_PCACHE_CREATE_CHEAP, &pg), RM_OK);   /* 9 pinned now */
    assert_int_equal(rm_pcache_fetch(c, 11, RM_PCACHE_CREATE_CHEAP, &pg), RM_EBUSY);
    assert_int_equal(stats(c).create_refused, 1);
    assert_int_equal(rm_pcache_pagecount(c), 10);
    /* FORCE: the cache is at its size; its one unpinned page (9) is recycled */
    assert_int_equal(rm_pcache_fetch(c, 11, RM_PCACHE_CREATE_FORCE, &pg), RM_OK);
    assert_int_equal(rm_pcache_pagecount(c), 10);
    assert_int_equal(resident(c, 9), 0);
    /* all 10 pinned: FORCE goes past the cache size */
    assert_int_equal(rm_pcache_fetch(c, 12, RM_PCACHE_CREATE_FORCE, &pg), RM_OK);
    assert_int_equal(rm_pcache_pagecount(c), 11);
    /* over its size: CHEAP refuses even with pages unpinned */
    assert_int_equal(rm_pcache_unpin(c, p[0], 0), RM_OK);   /* evicted at once: over the size */
    assert_int_equal(rm_pcache_pagecount(c), 10);
    assert_int_equal(resident(c, 1), 0);
    rm_pcache_destroy(c);
    assert_int_equal(rm_pcache_pool_destroy(pool), RM_OK);
}

/* ---- discard, rekey, truncate -------------------------------------------------------- */

static void
test_pcache_rekey_moves_a_page_and_replaces_an_old_one(void **state)
{
    (void)state;
    rm_pcache_pool_t *pool = pool_of(1024 * PS, NULL);
    rm_pcache_t *c = cache_of(pool, PS, 8, 1, 0);
    rm_pcache_page_t *a = put(c, 1, 1);
    memset(a->extra, 0x11, 8);
    put(c, 8, 0);                            /* unpinned: will be replaced */
    rm_pcache_page_t *b = put(c, 9, 1);      /* pinned: cannot be replaced */

    assert_int_equal(rm_pcache_rekey(c, a, 2, 7), RM_EINVAL);   /* wrong old key */
    assert_int_equal(rm_pcache_rekey(c, a, 1, 9), RM_EBUSY);    /* 9 is pinned */
    assert_int_equal(rm_pcache_pagecount(c), 3);
    assert_int_equal(resident(c, 1), 1);
    assert_int_equal(rm_pcache_rekey(c, a, 1, 1), RM_OK);       /* same key: nothing to do */

    assert_int_equal(rm_pcache_rekey(c, a, 1, 7), RM_OK);
    assert_int_equal(resident(c, 1), 0);
    rm_pcache_page_t *q;
    assert_int_equal(rm_pcache_fetch(c, 7, RM_PCACHE_LOOKUP, &q), RM_OK);
    assert_ptr_equal(q, a);   /* same frame, contents and extra intact, still pinned */
    uint32_t v;
    memcpy(&v, q->buf, sizeof v);
    assert_int_equal(v, 1);
    assert_int_equal(((unsigned char *)q->extra)[7], 0x11);
    assert_int_equal(stats(c).pinned, 2);

    /* onto an existing unpinned entry: that entry is discarded */
    assert_int_equal(rm_pcache_rekey(c, a, 7, 8), RM_OK);
    assert_int_equal(rm_pcache_pagecount(c), 2);
    assert_int_equal(stats(c).discards, 1);
    assert_int_equal(rm_pcache_fetch(c, 8, RM_PCACHE_LOOKUP, &q), RM_OK);
    assert_ptr_equal(q, a);
    assert_int_equal(rm_pcache_unpin(c, a, 0), RM_OK);
    assert_int_equal(rm_pcache_unpin(c, b, 0), RM_OK);
    assert_int_equal(stats(c).pinned, 0);
    rm_pcache_destroy(c);
    assert_int_equal(rm_pcache_pool_destroy(pool), RM_OK);
}

static void
test_pcache_truncate_drops_keys_at_and_above_the_limit(void **state)
{
    (void)state;
    rm_pcache_pool_t *pool = pool_of(1024 * PS, NULL);
    rm_pcache_t *c = cache_of(pool, PS, 0, 1, 0);
    for (uint32_t k = 1; k <= 10; k++)
        put(c, k, k % 2 == 0);   /* even keys stay pinned */
    assert_int_equal(stats(c).pinned, 5);
    uint64_t dropped = 99;
    assert_int_equal(rm_pcache_truncate(c, 6, &dropped), RM_OK);
    assert_int_equal(dropped, 5);   /* 6..10, pinned ones too (SQLite: implicitly unpinned) */
    rm_pcache_stats_t s = stats(c);
    assert_int_equal(s.pages, 5);
    assert_int_equal(s.pinned, 2);  /* 2 and 4 */
    assert_int_equal(s.discards, 5);
    assert_int_equal(s.used_bytes, 5 * PS);
    for (uint32_t k = 1; k <= 10; k++)
        assert_int_equal(resident(c, k), k < 6);
    assert_int_equal(rm_pcache_truncate(c, 100, &dropped), RM_OK);
    assert_int_equal(dropped, 0);
    assert_int_equal(rm_pcache_truncate(c, 0, NULL), RM_OK);
    assert_int_equal(rm_pcache_pagecount(c), 0);
    assert_int_equal(stats(c).pinned, 0);
    rm_pcache_destroy(c);
    assert_int_equal(rm_pcache_pool_destroy(pool), RM_OK);
}

/* ---- sizes and budgets ------------------------------------------------------------------ */

static void
test_pcache_cachesize_limits_the_cache(void **state)
{
    (void)state;
    rm_pcache_pool_t *pool = pool_of(1024 * PS, NULL);
    rm_pcache_t *c = cache_of(pool, PS, 0, 1, 8);
    for (uint32_t k = 1; k <= 20; k++)
        put(c, k, 0);
    rm_pcache_stats_t s = stats(c);
    assert_int_equal(s.pages, 8);
    assert_int_equal(s.evictions, 12);
    assert_int_equal(s.cachesize, 8);
    /* lowering it evicts down at once; pinned pages stay */
    rm_pcache_page_t *keep = put(c, 50, 1);
    assert_int_equal(rm_pcache_set_cachesize(c, 3), RM_OK);
    assert_int_equal(rm_pcache_pagecount(c), 3);
    assert_int_equal(resident_pinned(c, 50, keep), 1);
    /* below the minimum acts as the minimum */
    assert_int_equal(rm_pcache_set_cachesize(c, 0), RM_OK);
    assert_int_equal(rm_pcache_pagecount(c), RM_PCACHE_CACHESIZE_MIN);
    assert_int_equal(stats(c).cachesize, 0);   /* the stats report it as set */
    for (uint32_t k = 60; k < 64; k++)
        put(c, k, 0);   /* new unpinned pages recycle the unpinned one: still the minimum */
    assert_int_equal(rm_pcache_pagecount(c), RM_PCACHE_CACHESIZE_MIN);
    assert_int_equal(resident_pinned(c, 50, keep), 1);
    assert_int_equal(rm_pcache_unpin(c, keep, 0), RM_OK);
    rm_pcache_destroy(c);
    assert_int_equal(rm_pcache_pool_destroy(pool), RM_OK);
}

/* Two caches, budget 8 pages: both at the default (no own limit), so each
 * is entitled to half; the second takes pages from the first until it has
 * its share, then recycles its own. */
static void
test_pcache_two_caches_share_the_budget(void **state)
{
    (void)state;
    rm_pcache_pool_t *pool = pool_of(8 * PS, NULL);
    rm_pcache_t *a = cache_of(pool, PS, 0, 1, 0);
    rm_pcache_t *b = cache_of(pool, PS, 0, 1, 0);
    for (uint32_t k = 1; k <= 8; k++)
        put(a, k, 0);
    assert_int_equal(rm_pcache_pagecount(a), 8);
    for (uint32_t k = 1; k <= 10; k++)
        put(b, k, 0);
    assert_int_equal(rm_pcache_pagecount(a), 4);
    assert_int_equal(rm_pcache_pagecount(b), 4);
    rm_pcache_stats_t sa = stats(a), sb = stats(b), sp = pstats(pool);
    assert_int_equal(sa.stolen, 4);
    assert_int_equal(sa.evictions, 4);
    assert_int_equal(sb.evictions, 6);
    assert_int_equal(sp.used_bytes, 8 * PS);
    assert_int_equal(sp.pages, 8);
    assert_int_equal(sp.caches, 2);
    assert_int_equal(sp.evictions, 10);

    /* a cache size gives a larger share: a at 6, b at 2 → 6 and 2 pages */
    assert_int_equal(rm_pcache_set_cachesize(a, 6), RM_OK);
    assert_int_equal(rm_pcache_set_cachesize(b, 2), RM_OK);
    assert_int_equal(rm_pcache_pagecount(b), 2);
    for (uint32_t k = 20; k <= 30; k++)
        put(a, k, 0);
    assert_int_equal(rm_pcache_pagecount(a), 6);
    assert_int_equal(rm_pcache_pagecount(b), 2);

    /* pool counters keep what destroyed caches counted */
    rm_pcache_destroy(b);
    sp = pstats(pool);
    assert_int_equal(sp.caches, 1);
    assert_int_equal(sp.pages, 6);
    assert_int_equal(sp.used_bytes, 6 * PS);
    assert_true(sp.misses >= 8 + 10 + 11);
    rm_pcache_destroy(a);
    assert_int_equal(rm_pcache_pool_destroy(pool), RM_OK);
}

/* Caches of different page sizes share the budget in bytes. */
static void
test_pcache_budget_counts_bytes_across_page_sizes(void **state)
{
    (void)state;
    rm_pcache_pool_t *pool = pool_of(8 * PS, NULL);
    rm_pcache_t *big = cache_of(pool, 4 * PS, 0, 1, 0);   /* 4 KiB pages: 2 fill the budget */
    rm_pcache_t *small = cache_of(pool, PS, 0, 1, 0);
    put(big, 1, 0);
    put(big, 2, 0);
    assert_int_equal(pstats(pool).used_bytes, 8 * PS);
    put(small, 1, 0);   /* needs 1 KiB: one 4 KiB page goes */
    assert_int_equal(rm_pcache_pagecount(big), 1);
    assert_int_equal(pstats(pool).used_bytes, 5 * PS);
    rm_pcache_destroy(big);
    rm_pcache_destroy(small);
    assert_int_equal(rm_pcache_pool_destroy(pool), RM_OK);
}

static void
test_pcache_non_purgeable_pages_are_never_evicted(void **state)
{
    (void)state;
    rm_pcache_pool_t *pool = pool_of(6 * PS, NULL);
    rm_pcache_t *mem = cache_of(pool, PS, 0, 0, 0);
    rm_pcache_t *disk = cache_of(pool, PS, 0, 1, 0);
    assert_int_equal(rm_pcache_set_cachesize(mem, 1), RM_OK);   /* recorded, not applied */
    for (uint32_t k = 1; k <= 3; k++)
        put(mem, k, 0);   /* unpinned, but never evicted */
    for (uint32_t k = 1; k <= 20; k++)
        put(disk, k, 0);
    assert_int_equal(rm_pcache_pagecount(mem), 3);
    assert_int_equal(rm_pcache_pagecount(disk), 3);
    for (uint32_t k = 1; k <= 3; k++)
        assert_int_equal(resident(mem, k), 1);
    uint64_t ev = 99;
    assert_int_equal(rm_pcache_shrink(mem, &ev), RM_OK);
    assert_int_equal(ev, 0);
    assert_int_equal(rm_pcache_pagecount(mem), 3);
    /* the in-memory cache grows by taking the purgeable cache's pages ... */
    for (uint32_t k = 4; k <= 6; k++)
        put(mem, k, 0);
    assert_int_equal(rm_pcache_pagecount(disk), 0);
    /* ... and stops at the budget: nothing left that may be evicted */
    rm_pcache_page_t *pg;
    assert_int_equal(rm_pcache_fetch(mem, 7, RM_PCACHE_CREATE_FORCE, &pg), RM_EBUSY);
    assert_int_equal(rm_pcache_fetch(disk, 1, RM_PCACHE_CREATE_FORCE, &pg), RM_EBUSY);
    assert_int_equal(stats(mem).evictions, 0);
    assert_int_equal(stats(mem).purgeable, 0);
    /* its pages leave by discard and truncate only */
    assert_int_equal(rm_pcache_fetch(mem, 6, RM_PCACHE_LOOKUP, &pg), RM_OK);
    assert_int_equal(rm_pcache_unpin(mem, pg, 1), RM_OK);
    assert_int_equal(rm_pcache_truncate(mem, 5, NULL), RM_OK);
    assert_int_equal(rm_pcache_pagecount(mem), 4);
    rm_pcache_destroy(mem);
    rm_pcache_destroy(disk);
    assert_int_equal(rm_pcache_pool_destroy(pool), RM_OK);
}

static void
test_pcache_shrink_evicts_unpinned_and_gives_memory_back(void **state)
{
    (void)state;
    const size_t ps = 4096;
    rm_pcache_pool_t *pool = pool_of(64 * ps, NULL);
    rm_pcache_t *c = cache_of(pool, ps, 0, 1, 0);
    rm_pcache_page_t *keep = put(c, 1, 1);
    for (uint32_t k = 2; k <= 32; k++)
        put(c, k, 0);
    rm_pcache_stats_t before = stats(c);
    uint64_t ev = 0;
    assert_int_equal(rm_pcache_shrink(c, &ev), RM_OK);
    assert_int_equal(ev, 31);
    rm_pcache_stats_t after = stats(c);
    assert_int_equal(after.pages, 1);
    assert_int_equal(after.evictions, before.evictions + 31);
    /* the ghosts remember them, within ARC's directory bound: the policy has
     * grown to 32 pages (window 1, main 31) and |T1| + |B1| <= 31 with the
     * pinned page in T1 */
    assert_int_equal(after.b1_size + after.b2_size, 30);
    /* every frame but the pinned one gave its page back: 36 frames mapped
     * (the first chunk 16 KiB, then 64 KiB chunks: 4 + 16 + 16 frames), 31
     * evicted and 4 never used */
    assert_int_equal(before.held_bytes - after.held_bytes, 35 * ps);
    assert_int_equal(rm_pcache_shrink(c, &ev), RM_OK);   /* nothing more to give */
    assert_int_equal(ev, 0);
    assert_int_equal(stats(c).held_bytes, after.held_bytes);
    assert_int_equal(resident_pinned(c, 1, keep), 1);
    assert_int_equal(rm_pcache_unpin(c, keep, 0), RM_OK);
    rm_pcache_destroy(c);
    assert_int_equal(rm_pcache_pool_destroy(pool), RM_OK);
}

static void
test_pcache_set_budget_shrinks_and_grows_live(void **state)
{
    (void)state;
    rm_pcache_pool_t *pool = pool_of(16 * PS, NULL);
    rm_pcache_t *a = cache_of(pool, PS, 0, 1, 0);
    rm_pcache_t *b = cache_of(pool, PS, 0, 1, 0);
    rm_pcache_page_t *pinned[3];
    for (uint32_t k = 1; k <= 12; k++)
        put(a, k, 0);
    for (uint32_t k = 1; k <= 4; k++)
        put(b, k, 0);
    assert_int_equal(pstats(pool).used_bytes, 16 * PS);
    /* to 8 pages: a (12, share 4) gives 8; b (4, share 4) keeps its 4 */
    assert_int_equal(rm_pcache_pool_set_budget(pool, 8 * PS), RM_OK);
    assert_int_equal(rm_pcache_pool_budget(pool), 8 * PS);
    assert_int_equal(rm_pcache_pagecount(a), 4);
    assert_int_equal(rm_pcache_pagecount(b), 4);
    /* grow: room for new pages without evicting */
    assert_int_equal(rm_pcache_pool_set_budget(pool, 10 * PS), RM_OK);
    put(a, 100, 0);
    put(a, 101, 0);
    assert_int_equal(pstats(pool).used_bytes, 10 * PS);
    assert_int_equal(pstats(pool).evictions, 8);
    /* below the pinned pages: set anyway, RM_EBUSY, the rest goes at unpin */
    for (uint32_t k = 0; k < 3; k++)
        pinned[k] = put(b, 200 + k, 1);
    assert_int_equal(rm_pcache_pool_set_budget(pool, 2 * PS), RM_EBUSY);
    assert_int_equal(rm_pcache_pool_budget(pool), 2 * PS);
    assert_int_equal(pstats(pool).pages, 3);
    assert_int_equal(rm_pcache_unpin(b, pinned[0], 0), RM_OK);
    assert_int_equal(pstats(pool).pages, 2);
    assert_int_equal(pstats(pool).used_bytes, 2 * PS);
    assert_int_equal(rm_pcache_unpin(b, pinned[1], 0), RM_OK);
    assert_int_equal(rm_pcache_unpin(b, pinned[2], 0), RM_OK);
    assert_int_equal(pstats(pool).pages, 2);
    rm_pcache_destroy(a);
    rm_pcache_destroy(b);
    assert_int_equal(rm_pcache_pool_destroy(pool), RM_OK);
}

/* ---- bad arguments ------------------------------------------------------------------------ */

static void
test_pcache_bad_arguments_change_nothing(void **state)
{
    (void)state;
    rm_pcache_pool_config_t cfg;
    rm_pcache_pool_config_default(&cfg);
    rm_pcache_pool_t *bad = (rm_pcache_pool_t *)1;
    cfg.budget_bytes = 0;
    assert_int_equal(rm_pcache_pool_create(&cfg, &bad), RM_EINVAL);
    assert_null(bad);
    cfg.budget_bytes = RM_PCACHE_BUDGET_MAX + 1;
    assert_int_equal(rm_pcache_pool_create(&cfg, &bad), RM_EINVAL);
    assert_int_equal(rm_pcache_pool_create(NULL, &bad), RM_EINVAL);

    rm_pcache_pool_t *pool = pool_of(32 * PS, NULL);
    rm_pcache_t *c = (rm_pcache_t *)1;
    assert_int_equal(rm_pcache_create(pool, 1000, 0, 1, &c), RM_EINVAL);    /* not a power of two */
    assert_null(c);
    assert_int_equal(rm_pcache_create(pool, 256, 0, 1, &c), RM_EINVAL);     /* too small */
    assert_int_equal(rm_pcache_create(pool, 131072, 0, 1, &c), RM_EINVAL);  /* too large */
    assert_int_equal(rm_pcache_create(pool, PS, RM_PCACHE_EXTRA_MAX + 1, 1, &c), RM_EINVAL);
    assert_int_equal(rm_pcache_create(NULL, PS, 0, 1, &c), RM_EINVAL);
    assert_int_equal(rm_pcache_create(pool, PS, 0, 1, NULL), RM_EINVAL);
    assert_int_equal(pstats(pool).caches, 0);

    c = cache_of(pool, PS, 0, 1, 16);
    rm_pcache_page_t *pg = put(c, 1, 1);
    rm_pcache_stats_t s0 = stats(c);
    rm_pcache_page_t *out = (rm_pcache_page_t *)1;
    assert_int_equal(rm_pcache_fetch(c, 2, (rm_pcache_create_t)3, &out), RM_EINVAL);
    assert_null(out);
    assert_int_equal(rm_pcache_fetch(c, 2, RM_PCACHE_CREATE_FORCE, NULL), RM_EINVAL);
    assert_int_equal(rm_pcache_fetch(NULL, 2, RM_PCACHE_CREATE_FORCE, &out), RM_EINVAL);
    assert_int_equal(rm_pcache_set_cachesize(c, (size_t)RM_PCACHE_FRAMES_MAX + 1), RM_EINVAL);
    assert_int_equal(rm_pcache_pool_set_budget(pool, 0), RM_EINVAL);
    assert_int_equal(rm_pcache_pool_budget(pool), 32 * PS);
    assert_int_equal(rm_pcache_unpin(c, NULL, 0), RM_EINVAL);
    assert_int_equal(rm_pcache_rekey(c, NULL, 1, 2), RM_EINVAL);
    assert_int_equal(rm_pcache_truncate(NULL, 0, NULL), RM_EINVAL);
    assert_int_equal(rm_pcache_shrink(NULL, NULL), RM_EINVAL);
    assert_int_equal(rm_pcache_stats(NULL, &s0), RM_EINVAL);
    /* a page of another cache is refused by this one */
    rm_pcache_t *other = cache_of(pool, PS, 0, 1, 0);
    assert_int_equal(rm_pcache_unpin(other, pg, 0), RM_EINVAL);
    assert_int_equal(rm_pcache_rekey(other, pg, 1, 2), RM_EINVAL);
    rm_pcache_stats_t s1 = stats(c);
    assert_int_equal(s1.pages, s0.pages);
    assert_int_equal(s1.pinned, s0.pinned);
    assert_int_equal(s1.cachesize, 16);
    assert_int_equal(s1.misses, s0.misses);
    assert_int_equal(s1.hits, s0.hits);
    /* a pool with caches cannot be destroyed */
    assert_int_equal(rm_pcache_pool_destroy(pool), RM_EBUSY);
    assert_int_equal(rm_pcache_unpin(c, pg, 0), RM_OK);
    rm_pcache_destroy(other);
    rm_pcache_destroy(c);
    rm_pcache_destroy(NULL);
    assert_int_equal(rm_pcache_pool_destroy(pool), RM_OK);
    assert_int_equal(rm_pcache_pool_destroy(NULL), RM_OK);
}

/* ---- page-source failures ------------------------------------------------------------------ */

static void
test_pcache_create_survives_every_failed_allocation(void **state)
{
    (void)state;
    rm_pagesrc_faulty_t f;
    rm_pagesrc_faulty_init(&f, NULL);
    rm_pcache_pool_t *pool = pool_of(64 * PS, &f.src);
    int64_t base = f.mapped_bytes;
    int ok = 0;
    for (long n = 1; n < 64 && !ok; n++) {
        rm_pagesrc_faulty_arm(&f, n, 0);
        rm_pcache_t *c = (rm_pcache_t *)1;
        rm_status_t st = rm_pcache_create(pool, PS, 16, 1, &c);
        rm_pagesrc_faulty_disarm(&f);
        if (st == RM_OK) {
            ok = 1;
            put(c, 1, 0);
            rm_pcache_destroy(c);
        } else {
            assert_int_equal(st, RM_ENOMEM);
            assert_null(c);
            assert_int_equal(pstats(pool).caches, 0);
        }
        assert_int_equal(f.mapped_bytes, base);   /* nothing leaked, either way */
    }
    assert_true(ok);
    assert_true(f.failures >= 1);
    assert_int_equal(rm_pcache_pool_destroy(pool), RM_OK);
}

static void
test_pcache_fetch_without_memory_fails_cleanly_or_recycles(void **state)
{
    (void)state;
    rm_pagesrc_faulty_t f;
    rm_pagesrc_faulty_init(&f, NULL);
    rm_pcache_pool_t *pool = pool_of(1024 * PS, &f.src);
    rm_pcache_t *c = cache_of(pool, PS, 0, 1, 0);
    /* fill the first two chunks (16 KiB and 64 KiB of 1 KiB pages: 80
     * frames) with pinned pages */
    rm_pcache_page_t *p[80];
    for (uint32_t k = 0; k < 80; k++)
        p[k] = put(c, k + 1, 1);
    rm_pcache_stats_t s0 = stats(c);
    rm_pagesrc_faulty_arm(&f, 1, 1);   /* every map fails from now */
    rm_pcache_page_t *pg = (rm_pcache_page_t *)1;
    assert_int_equal(rm_pcache_fetch(c, 100, RM_PCACHE_CREATE_FORCE, &pg), RM_ENOMEM);
    assert_null(pg);
    rm_pcache_stats_t s1 = stats(c);
    assert_int_equal(s1.pages, s0.pages);
    assert_int_equal(s1.pinned, s0.pinned);
    assert_int_equal(s1.used_bytes, s0.used_bytes);
    assert_int_equal(s1.held_bytes, s0.held_bytes);
    assert_int_equal(s1.evictions, 0);
    assert_int_equal(s1.create_failed, 1);
    for (uint32_t k = 0; k < 80; k++)
        assert_int_equal(resident_pinned(c, k + 1, p[k]), 1);
    /* with an unpinned page to spare, FORCE recycles it instead */
    assert_int_equal(rm_pcache_unpin(c, p[10], 0), RM_OK);
    assert_int_equal(rm_pcache_fetch(c, 100, RM_PCACHE_CREATE_FORCE, &pg), RM_OK);
    assert_int_equal(rm_pcache_pagecount(c), 80);
    assert_int_equal(resident(c, 11), 0);
    rm_pagesrc_faulty_disarm(&f);
    /* memory back: the cache grows again */
    put(c, 101, 0);
    assert_int_equal(rm_pcache_pagecount(c), 81);
    rm_pcache_destroy(c);
    assert_int_equal(rm_pcache_pool_destroy(pool), RM_OK);
    assert_int_equal(f.mapped_bytes, 0);
}

/* ---- accounting registry ----------------------------------------------------------------------- */

static void
test_pcache_registers_as_a_stats_component(void **state)
{
    (void)state;
    rm_pcache_pool_t *pool = pool_of(64 * PS, NULL);
    rm_pcache_t *c = cache_of(pool, PS, 0, 1, 0);
    for (uint32_t k = 1; k <= 10; k++)
        put(c, k, 0);
    rm_component_usage_t comps[RM_COMPONENTS_MAX];
    size_t n = 0;
    rm_stats_components(comps, RM_COMPONENTS_MAX, &n);
    const rm_component_usage_t *pc = NULL;
    for (size_t i = 0; i < n && i < RM_COMPONENTS_MAX; i++)
        if (strcmp(comps[i].name, "page_cache") == 0)
            pc = &comps[i];
    assert_non_null(pc);
    assert_int_equal(pc->used_bytes, 10 * PS);
    /* the first chunk of frames (16 KiB: the 10 pages fit in it) and metadata */
    assert_true(pc->held_bytes > 16 * PS);
    assert_int_equal(pc->held_bytes, pstats(pool).held_bytes);
    rm_pcache_destroy(c);
    assert_int_equal(rm_pcache_pool_destroy(pool), RM_OK);
    rm_stats_components(comps, RM_COMPONENTS_MAX, &n);
    for (size_t i = 0; i < n && i < RM_COMPONENTS_MAX; i++)
        assert_string_not_equal(comps[i].name, "page_cache");
}

/* ---- threads ----------------------------------------------------------------------------------- */

#define NTHREADS 4
#define OPS 20000

typedef struct worker {
    rm_pcache_t *own, *shared;
    pthread_mutex_t *shared_mu;   /* SQLite serialises calls on one cache: so do we */
    unsigned seed;
    uint64_t bad, busy;
} worker_t;

static void
touch(rm_pcache_t *c, uint32_t key, worker_t *w)
{
    rm_pcache_page_t *pg = NULL;
    rm_status_t st = rm_pcache_fetch(c, key, RM_PCACHE_CREATE_CHEAP, &pg);
    if (st == RM_EBUSY)
        st = rm_pcache_fetch(c, key, RM_PCACHE_CREATE_FORCE, &pg);
    if (st != RM_OK) {
        w->busy++;
        return;
    }
    uint32_t *x = pg->extra;
    if (x[0] == 0) {            /* new page: fill it */
        x[0] = key + 1;
        memcpy(pg->buf, &key, sizeof key);
    } else {
        uint32_t v;
        memcpy(&v, pg->buf, sizeof v);
        if (v != key || x[0] != key + 1)
            w->bad++;
    }
    rm_pcache_unpin(c, pg, (rand_r(&w->seed) % 64) == 0);
}

static void *
worker_main(void *arg)
{
    worker_t *w = arg;
    for (int i = 0; i < OPS; i++) {
        /* skewed keys: a hot tenth gets most references */
        unsigned r = rand_r(&w->seed);
        uint32_t key = (r % 4) ? r % 40 : r % 400;
        if (i % 5 == 0) {
            pthread_mutex_lock(w->shared_mu);
            touch(w->shared, key, w);
            pthread_mutex_unlock(w->shared_mu);
        } else {
            touch(w->own, key, w);
        }
        if (i % 5000 == 0)
            rm_pcache_set_cachesize(w->own, 64 + (size_t)(r % 64));
    }
    return NULL;
}

static void
test_pcache_threads_share_a_small_budget(void **state)
{
    (void)state;
    rm_pcache_pool_t *pool = pool_of(160 * PS, NULL);
    rm_pcache_t *shared = cache_of(pool, PS, 8, 1, 0);
    pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
    worker_t w[NTHREADS];
    pthread_t th[NTHREADS];
    for (int i = 0; i < NTHREADS; i++) {
        w[i] = (worker_t){cache_of(pool, PS, 8, 1, 0), shared, &mu, (unsigned)(i * 7919 + 1), 0, 0};
        assert_int_equal(pthread_create(&th[i], NULL, worker_main, &w[i]), 0);
    }
    /* the budget moves while they run */
    for (int r = 0; r < 20; r++)
        (void)rm_pcache_pool_set_budget(pool, (uint64_t)(96 + (r % 3) * 32) * PS);
    for (int i = 0; i < NTHREADS; i++)
        assert_int_equal(pthread_join(th[i], NULL), 0);
    rm_pcache_stats_t sp = pstats(pool);
    for (int i = 0; i < NTHREADS; i++) {
        assert_int_equal(w[i].bad, 0);
        assert_int_equal(w[i].busy, 0);   /* at most one page pinned per cache at a time */
        rm_pcache_destroy(w[i].own);
    }
    assert_true(sp.used_bytes <= rm_pcache_pool_budget(pool));
    assert_int_equal(sp.pinned, 0);
    assert_int_equal(sp.hits + sp.misses, (uint64_t)NTHREADS * OPS);
    assert_true(sp.hits > 0 && sp.evictions > 0);
    rm_pcache_destroy(shared);
    assert_int_equal(pstats(pool).used_bytes, 0);
    assert_int_equal(rm_pcache_pool_destroy(pool), RM_OK);
}

/* Threads on one cache without an outer lock, each on its own keys (pins are
 * not counted, so two threads must not share a page): hits race evictions of
 * the other threads' pages inside the same cache. */
typedef struct disjoint {
    rm_pcache_t *c;
    uint32_t id;
    unsigned seed;
    uint64_t bad, busy;
} disjoint_t;

static void *
disjoint_main(void *arg)
{
    disjoint_t *d = arg;
    for (int i = 0; i < OPS; i++) {
        unsigned r = rand_r(&d->seed);
        uint32_t key = ((r % 4) ? r % 30 : r % 300) * NTHREADS + d->id;
        rm_pcache_page_t *pg = NULL;
        if (rm_pcache_fetch(d->c, key, RM_PCACHE_CREATE_FORCE, &pg) != RM_OK) {
            d->busy++;
            continue;
        }
        uint32_t *x = pg->extra;
        if (x[0] == 0) {
            x[0] = key + 1;
            memcpy(pg->buf, &key, sizeof key);
        } else {
            uint32_t v;
            memcpy(&v, pg->buf, sizeof v);
            if (v != key || x[0] != key + 1)
                d->bad++;
        }
        rm_pcache_unpin(d->c, pg, 0);
    }
    return NULL;
}

/* A pool whose caches the host serialises (serialized_caches, SQLite's
 * contract): each thread owns one cache and is its only caller, while the
 * caches steal each other's pages under a small budget and the main thread
 * moves the budget. The counters the hit path now keeps with plain stores
 * (hits, pinned pages) stay exact, and no page is mixed up. */
static void
test_pcache_serialized_caches_count_exactly_under_steals(void **state)
{
    (void)state;
    rm_pcache_pool_config_t cfg;
    rm_pcache_pool_config_default(&cfg);
    assert_int_equal(cfg.serialized_caches, 0);
    cfg.budget_bytes = 48 * (PS + 8);
    cfg.serialized_caches = 1;
    rm_pcache_pool_t *pool = NULL;
    assert_int_equal(rm_pcache_pool_create(&cfg, &pool), RM_OK);
    rm_pcache_t *c[NTHREADS];
    disjoint_t d[NTHREADS];
    pthread_t th[NTHREADS];
    for (uint32_t i = 0; i < NTHREADS; i++) {
        c[i] = cache_of(pool, PS, 8, 1, 0);
        d[i] = (disjoint_t){c[i], i, i * 17 + 3, 0, 0};
        assert_int_equal(pthread_create(&th[i], NULL, disjoint_main, &d[i]), 0);
    }
    for (int k = 0; k < 200; k++)   /* live budget changes: evictions from outside the owners */
        (void)rm_pcache_pool_set_budget(pool, (uint64_t)((k & 1) ? 48 : 24) * (PS + 8));
    assert_int_equal(rm_pcache_pool_set_budget(pool, 48 * (PS + 8)), RM_OK);
    uint64_t hits = 0;
    for (int i = 0; i < NTHREADS; i++) {
        assert_int_equal(pthread_join(th[i], NULL), 0);
        assert_int_equal(d[i].bad, 0);
        assert_int_equal(d[i].busy, 0);
        rm_pcache_stats_t s = stats(c[i]);
        assert_int_equal(s.hits + s.misses, (uint64_t)OPS);
        assert_int_equal(s.pinned, 0);
        hits += s.hits;
    }
    rm_pcache_stats_t sp = pstats(pool);
    assert_int_equal(sp.hits, hits);
    assert_int_equal(sp.pinned, 0);
    assert_true(sp.stolen > 0 && hits > 0);
    assert_true(sp.used_bytes <= 48 * (PS + 8));
    for (int i = 0; i < NTHREADS; i++)
        rm_pcache_destroy(c[i]);
    assert_int_equal(rm_pcache_pool_destroy(pool), RM_OK);
}

/* A serialized cache's hit on a page its caller already holds pinned, with
 * REF set and the frequency at its top, skips the pin CAS (it would write the
 * same state). Each such fetch still returns that page and counts a hit, the
 * page stays pinned once (one unpin releases it), and after the unpin it is
 * evictable again like any other page. */
static void
test_pcache_serialized_repin_of_a_hot_page_counts_and_stays_pinned_once(void **state)
{
    (void)state;
    rm_pcache_pool_config_t cfg;
    rm_pcache_pool_config_default(&cfg);
    cfg.serialized_caches = 1;
    rm_pcache_pool_t *pool = NULL;
    assert_int_equal(rm_pcache_pool_create(&cfg, &pool), RM_OK);
    rm_pcache_t *c = cache_of(pool, PS, 8, 1, 10);
    rm_pcache_page_t *pg = put(c, 1, 1);
    for (int i = 0; i < 40; i++) {   /* 15 hits saturate the frequency; the rest take the short path */
        rm_pcache_page_t *again = NULL;
        assert_int_equal(rm_pcache_fetch(c, 1, (i & 1) ? RM_PCACHE_LOOKUP : RM_PCACHE_CREATE_FORCE, &again),
                         RM_OK);
        assert_ptr_equal(again, pg);
    }
    rm_pcache_stats_t s = stats(c);
    assert_int_equal(s.hits, 40);
    assert_int_equal(s.misses, 1);
    assert_int_equal(s.pinned, 1);
    assert_int_equal(rm_pcache_unpin(c, pg, 0), RM_OK);
    assert_int_equal(stats(c).pinned, 0);
    assert_int_equal(rm_pcache_unpin(c, pg, 0), RM_EINVAL);   /* pinned once, not 41 times */
    /* unpinned, it can go: at the smallest cache size, new pages evict it */
    assert_int_equal(rm_pcache_set_cachesize(c, RM_PCACHE_CACHESIZE_MIN), RM_OK);
    for (uint32_t k = 2; k < 40; k++)
        (void)put(c, k, 0);
    assert_false(resident(c, 1));
    assert_true(stats(c).pages <= RM_PCACHE_CACHESIZE_MIN);
    rm_pcache_destroy(c);
    assert_int_equal(rm_pcache_pool_destroy(pool), RM_OK);
}

/* A serialized cache's fetch trusts a lock-free miss when no page-table
 * removal overlapped its probe (ptab_remove_locked's sequence), and then a
 * lookup-only fetch takes no lock. Here the owner keeps PINNED pages pinned
 * and looks them up again and again while its other pages are stolen by a
 * second cache's misses and by budget changes (removals that shift the
 * owner's page-table slots under the probe): a pinned page is never evicted,
 * so every lookup must find it. */
#define PINNED 8u
typedef struct lookup_owner {
    rm_pcache_t *c;
    rm_pcache_page_t *pinned[PINNED];
    uint64_t lost, wrong;
    _Atomic int done;
    _Atomic int stole;   /* set by the thief once the owner lost a page to it */
} lookup_owner_t;

static void *
lookup_owner_main(void *arg)
{
    lookup_owner_t *o = arg;
    /* at least 4 * OPS lookups, and on until a steal overlapped them (a
     * short run on a loaded machine may otherwise end before the thief got
     * a core); bounded */
    for (int i = 0; i < 4 * OPS || (!atomic_load(&o->stole) && i < 4000 * OPS); i++) {
        uint32_t k = (uint32_t)i % PINNED;
        rm_pcache_page_t *pg = NULL;
        if (rm_pcache_fetch(o->c, k, RM_PCACHE_LOOKUP, &pg) != RM_OK)
            o->lost++;
        else if (pg != o->pinned[k])
            o->wrong++;
        if (i % 4 == 0) {   /* unpinned pages of its own, for the thief */
            uint32_t key = 1000 + (uint32_t)(i / 4) % 64;
            if (rm_pcache_fetch(o->c, key, RM_PCACHE_CREATE_FORCE, &pg) == RM_OK)
                rm_pcache_unpin(o->c, pg, 0);
        }
    }
    atomic_store(&o->done, 1);
    return NULL;
}

static void
test_pcache_serialized_lookup_finds_pinned_pages_under_steals(void **state)
{
    (void)state;
    rm_pcache_pool_config_t cfg;
    rm_pcache_pool_config_default(&cfg);
    cfg.budget_bytes = 40 * (PS + 8);
    cfg.serialized_caches = 1;
    rm_pcache_pool_t *pool = NULL;
    assert_int_equal(rm_pcache_pool_create(&cfg, &pool), RM_OK);
    lookup_owner_t o = {.c = cache_of(pool, PS, 8, 1, 0)};
    rm_pcache_t *thief = cache_of(pool, PS, 8, 1, 0);
    for (uint32_t k = 0; k < PINNED; k++)
        assert_int_equal(rm_pcache_fetch(o.c, k, RM_PCACHE_CREATE_FORCE, &o.pinned[k]), RM_OK);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, lookup_owner_main, &o), 0);
    unsigned seed = 5;
    uint64_t stolen_before = pstats(pool).stolen;
    for (int i = 0; !atomic_load(&o.done); i++) {
        rm_pcache_page_t *pg = NULL;
        if (rm_pcache_fetch(thief, (uint32_t)(rand_r(&seed) % 200), RM_PCACHE_CREATE_FORCE, &pg) == RM_OK)
            rm_pcache_unpin(thief, pg, 0);
        if (i % 64 == 0)
            (void)rm_pcache_pool_set_budget(pool, (uint64_t)((i & 64) ? 40 : 20) * (PS + 8));
        if (i % 16 == 0 && !atomic_load(&o.stole) && pstats(pool).stolen > stolen_before)
            atomic_store(&o.stole, 1);
    }
    assert_int_equal(pthread_join(th, NULL), 0);
    assert_int_equal(o.lost, 0);
    assert_int_equal(o.wrong, 0);
    assert_true(pstats(pool).stolen > stolen_before);   /* the owner's pages were taken meanwhile */
    for (uint32_t k = 0; k < PINNED; k++)
        assert_int_equal(rm_pcache_unpin(o.c, o.pinned[k], 0), RM_OK);
    rm_pcache_destroy(o.c);
    rm_pcache_destroy(thief);
    assert_int_equal(rm_pcache_pool_destroy(pool), RM_OK);
}

static void
test_pcache_threads_on_one_cache_with_disjoint_keys(void **state)
{
    (void)state;
    rm_pcache_pool_t *pool = pool_of(1024 * PS, NULL);
    rm_pcache_t *c = cache_of(pool, PS, 8, 1, 100);
    disjoint_t d[NTHREADS];
    pthread_t th[NTHREADS];
    for (uint32_t i = 0; i < NTHREADS; i++) {
        d[i] = (disjoint_t){c, i, i * 31 + 7, 0, 0};
        assert_int_equal(pthread_create(&th[i], NULL, disjoint_main, &d[i]), 0);
    }
    for (int i = 0; i < NTHREADS; i++) {
        assert_int_equal(pthread_join(th[i], NULL), 0);
        assert_int_equal(d[i].bad, 0);
        assert_int_equal(d[i].busy, 0);
    }
    rm_pcache_stats_t s = stats(c);
    assert_int_equal(s.hits + s.misses, (uint64_t)NTHREADS * OPS);
    assert_int_equal(s.pinned, 0);
    assert_true(s.pages <= 100);
    assert_true(s.evictions > 0 && s.hits > 0);
    rm_pcache_destroy(c);
    assert_int_equal(rm_pcache_pool_destroy(pool), RM_OK);
}

/* ---- rm_pcache_fetch_page (ADR 0023, session 13, second round) ---------------------- */

/* rm_pcache_fetch_page (and rm_pcache_fetch_result's status) on a
 * hand-computed sequence (cache size 10): bad
 * arguments give NULL and count nothing; a lookup miss is NULL and a miss; a
 * CHEAP create, a re-fetch of a pinned page and a FORCE hit return the same
 * page; CHEAP is refused (NULL) at 9 of 10 pages pinned, FORCE then recycles
 * the one unpinned page. Both a serialized and a shared pool. */
static void
test_pcache_fetch_page_hand_computed(void **state)
{
    (void)state;
    for (int ser = 0; ser < 2; ser++) {
        rm_pcache_pool_config_t cfg;
        rm_pcache_pool_config_default(&cfg);
        cfg.budget_bytes = 1024 * PS;
        cfg.serialized_caches = ser;
        rm_pcache_pool_t *pool = NULL;
        assert_int_equal(rm_pcache_pool_create(&cfg, &pool), RM_OK);
        rm_pcache_t *c = cache_of(pool, PS, 8, 1, 10);
        assert_null(rm_pcache_fetch_page(NULL, 1, RM_PCACHE_CREATE_FORCE));
        assert_null(rm_pcache_fetch_page(c, 1, (rm_pcache_create_t)3));
        assert_int_equal(stats(c).hits + stats(c).misses, 0);
        assert_null(rm_pcache_fetch_page(c, 7, RM_PCACHE_LOOKUP));
        assert_int_equal(stats(c).misses, 1);
        rm_pcache_page_t *p7 = rm_pcache_fetch_page(c, 7, RM_PCACHE_CREATE_CHEAP);
        assert_non_null(p7);
        assert_int_equal(stats(c).misses, 2);
        assert_int_equal(stats(c).pinned, 1);
        assert_ptr_equal(rm_pcache_fetch_page(c, 7, RM_PCACHE_LOOKUP), p7);   /* re-fetch: pinned once */
        assert_int_equal(stats(c).hits, 1);
        assert_int_equal(stats(c).pinned, 1);
        assert_int_equal(rm_pcache_unpin(c, p7, 0), RM_OK);
        assert_int_equal(stats(c).pinned, 0);
        assert_ptr_equal(rm_pcache_fetch_page(c, 7, RM_PCACHE_CREATE_FORCE), p7);
        assert_int_equal(stats(c).hits, 2);
        assert_int_equal(rm_pcache_unpin(c, p7, 0), RM_OK);   /* 7 stays, unpinned */
        rm_pcache_page_t *p[9];
        for (uint32_t k = 0; k < 9; k++) {   /* keys 21..29 pinned: the 9th CHEAP finds 8 of 10 pinned */
            p[k] = rm_pcache_fetch_page(c, k + 21, RM_PCACHE_CREATE_CHEAP);
            assert_non_null(p[k]);
        }
        assert_int_equal(rm_pcache_pagecount(c), 10);
        assert_null(rm_pcache_fetch_page(c, 11, RM_PCACHE_CREATE_CHEAP));   /* 9 of 10 pinned: refused */
        /* rm_pcache_fetch_result: the same refusal with its status */
        rm_pcache_fetch_result_t r = rm_pcache_fetch_result(c, 11, RM_PCACHE_CREATE_CHEAP);
        assert_null(r.page);
        assert_int_equal(r.status, RM_EBUSY);
        r = rm_pcache_fetch_result(NULL, 11, RM_PCACHE_CREATE_FORCE);
        assert_null(r.page);
        assert_int_equal(r.status, RM_EINVAL);
        r = rm_pcache_fetch_result(c, 21, RM_PCACHE_LOOKUP);   /* pinned: the same pin */
        assert_ptr_equal(r.page, p[0]);
        assert_int_equal(r.status, RM_OK);
        rm_pcache_stats_t s = stats(c);
        assert_int_equal(s.create_refused, 2);
        assert_int_equal(s.misses, 11);
        assert_int_equal(s.hits, 3);
        rm_pcache_page_t *p11 = rm_pcache_fetch_page(c, 11, RM_PCACHE_CREATE_FORCE);
        assert_ptr_equal(p11, p7);   /* the one unpinned page's frame, recycled */
        assert_int_equal(rm_pcache_pagecount(c), 10);
        assert_null(rm_pcache_fetch_page(c, 7, RM_PCACHE_LOOKUP));
        s = stats(c);
        assert_int_equal(s.misses, 13);
        assert_int_equal(s.evictions, 1);
        assert_int_equal(s.pinned, 10);
        rm_pcache_destroy(c);
        assert_int_equal(rm_pcache_pool_destroy(pool), RM_OK);
    }
}

/* rm_pcache_fetch_page and rm_pcache_fetch on twin caches (each in its own
 * pool, serialized and not) over the same 30 000 calls — skewed keys, all
 * three modes, unpins and discards, a cache-size change halfway: the same
 * page index behind every answer (NULL exactly where the status is not
 * RM_OK) and the same statistics after every call. */
static void
test_pcache_fetch_page_answers_as_fetch(void **state)
{
    (void)state;
    for (int ser = 0; ser < 2; ser++) {
        rm_pcache_pool_t *pool[2];
        rm_pcache_t *c[2];
        for (int i = 0; i < 2; i++) {
            rm_pcache_pool_config_t cfg;
            rm_pcache_pool_config_default(&cfg);
            cfg.budget_bytes = 48 * (PS + 16);
            cfg.serialized_caches = ser;
            assert_int_equal(rm_pcache_pool_create(&cfg, &pool[i]), RM_OK);
            c[i] = cache_of(pool[i], PS, 16, 1, 32);
        }
        enum { KEYS = 96, HELD = 24 };
        rm_pcache_page_t *held[2][HELD] = {{0}};
        uint32_t held_key[HELD] = {0};
        uint64_t x = 0x9e3779b97f4a7c15ull;
        for (int op = 0; op < 30000; op++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            uint32_t r = (uint32_t)(x >> 32);
            uint32_t key = 1 + (r % 8 < 6 ? r % (KEYS / 4) : r % KEYS);   /* 3/4 on a quarter of the keys */
            rm_pcache_create_t mode = (rm_pcache_create_t)((r >> 8) % 3);
            unsigned slot = (r >> 12) % HELD;
            if (op == 15000)
                for (int i = 0; i < 2; i++)
                    assert_int_equal(rm_pcache_set_cachesize(c[i], 12), RM_OK);
            if (held[0][slot]) {   /* give back what this slot holds first */
                int discard = ((r >> 20) & 7) == 0;
                for (int i = 0; i < 2; i++)
                    assert_int_equal(rm_pcache_unpin(c[i], held[i][slot], discard), RM_OK);
                held[0][slot] = held[1][slot] = NULL;
            }
            rm_pcache_page_t *a = rm_pcache_fetch_page(c[0], key, mode);
            rm_pcache_page_t *b = (rm_pcache_page_t *)0x1;
            rm_status_t st = rm_pcache_fetch(c[1], key, mode, &b);
            assert_int_equal(a == NULL, st != RM_OK);
            if (st != RM_OK) {
                assert_null(b);
            } else {
                uint32_t ka, kb;
                memcpy(&kb, b->buf, sizeof kb);
                memcpy(&ka, a->buf, sizeof ka);
                assert_int_equal(ka, kb);
                if (ka != key) {   /* a new page: stamp both */
                    memcpy(a->buf, &key, sizeof key);
                    memcpy(b->buf, &key, sizeof key);
                }
                /* a re-fetch of a held page is the same pin: give it back now */
                int again = 0;
                for (unsigned h = 0; h < HELD; h++)
                    again |= held[0][h] == a;
                if (again) {
                    for (int i = 0; i < 2; i++)
                        assert_int_equal(rm_pcache_unpin(c[i], i ? b : a, 0), RM_OK);
                    /* the slot that held it no longer does */
                    for (unsigned h = 0; h < HELD; h++)
                        if (held[0][h] == a)
                            held[0][h] = held[1][h] = NULL;
                } else {
                    held[0][slot] = a;
                    held[1][slot] = b;
                    held_key[slot] = key;
                }
            }
            rm_pcache_stats_t sa = stats(c[0]), sb = stats(c[1]);
            assert_int_equal(sa.hits, sb.hits);
            assert_int_equal(sa.misses, sb.misses);
            assert_int_equal(sa.pages, sb.pages);
            assert_int_equal(sa.pinned, sb.pinned);
            assert_int_equal(sa.evictions, sb.evictions);
            assert_int_equal(sa.discards, sb.discards);
            assert_int_equal(sa.create_refused, sb.create_refused);
            assert_int_equal(sa.create_failed, sb.create_failed);
            assert_int_equal(sa.t1_size, sb.t1_size);
            assert_int_equal(sa.b1_ghost_hits + sa.b2_ghost_hits, sb.b1_ghost_hits + sb.b2_ghost_hits);
        }
        (void)held_key;
        rm_pcache_stats_t sa = stats(c[0]);
        assert_true(sa.hits > 1000 && sa.misses > 1000 && sa.create_refused > 0 && sa.evictions > 1000);
        for (int i = 0; i < 2; i++) {
            rm_pcache_destroy(c[i]);
            assert_int_equal(rm_pcache_pool_destroy(pool[i]), RM_OK);
        }
    }
}

/* ---- the pool lock (bufpool_internal.h) ------------------------------------------ */

static rm__bp_lock_t tl_lock;
static _Atomic int tl_stage;     /* 1: the helper holds or waits for tl_lock; 2: it holds it */
static _Atomic int tl_release;
static uint64_t tl_count;        /* plain: guarded by tl_lock */

#define TL_THREADS 4
#define TL_ROUNDS  100000

static void *
tl_holder(void *arg)
{
    (void)arg;
    rm__bp_lock(&tl_lock);
    atomic_store(&tl_stage, 2);
    while (!atomic_load(&tl_release))
        sched_yield();
    rm__bp_unlock(&tl_lock);
    return NULL;
}

static void *
tl_waiter(void *arg)
{
    (void)arg;
    atomic_store(&tl_stage, 1);
    rm__bp_lock(&tl_lock);   /* blocks: the test holds it */
    atomic_store(&tl_stage, 2);
    tl_count++;
    rm__bp_unlock(&tl_lock);
    return NULL;
}

static void *
tl_adder(void *arg)
{
    (void)arg;
    for (int i = 0; i < TL_ROUNDS; i++) {
        rm__bp_lock(&tl_lock);
        tl_count++;   /* a lost update or a TSan report if two threads were inside */
        rm__bp_unlock(&tl_lock);
    }
    return NULL;
}

static void
test_pcache_pool_lock_excludes_wakes_and_knows_its_holder(void **state)
{
    (void)state;
    rm__bp_lock_init(&tl_lock);
    assert_false(rm__bp_lock_held_by_self(&tl_lock));   /* free */
    rm__bp_lock(&tl_lock);
    assert_true(rm__bp_lock_held_by_self(&tl_lock));    /* mine */
    RM_BP_ASSERT_LOCKED(&tl_lock);                      /* and the macro agrees (debug builds check) */
    assert_int_equal(atomic_load(&tl_lock.word), 1);     /* uncontended: 1, no wake at unlock */
    rm__bp_unlock(&tl_lock);
    assert_false(rm__bp_lock_held_by_self(&tl_lock));
    assert_int_equal(atomic_load(&tl_lock.word), 0);

    /* held by another thread: not mine where the holder is recorded (debug
     * builds); "held" elsewhere */
    pthread_t th;
    atomic_store(&tl_stage, 0);
    atomic_store(&tl_release, 0);
    assert_int_equal(pthread_create(&th, NULL, tl_holder, NULL), 0);
    while (atomic_load(&tl_stage) != 2)
        sched_yield();
    assert_int_equal(rm__bp_lock_held_by_self(&tl_lock), config_debug ? 0 : 1);
    atomic_store(&tl_release, 1);
    assert_int_equal(pthread_join(th, NULL), 0);
    assert_int_equal(atomic_load(&tl_lock.word), 0);

    /* a waiter marks the word contended (2), sleeps, and the unlock wakes it:
     * without the wake the join below never returns */
    tl_count = 0;
    atomic_store(&tl_stage, 0);
    rm__bp_lock(&tl_lock);
    assert_int_equal(pthread_create(&th, NULL, tl_waiter, NULL), 0);
    while (atomic_load(&tl_lock.word) != 2)
        sched_yield();
    assert_int_equal(atomic_load(&tl_stage), 1);   /* marked, not inside */
    assert_int_equal(tl_count, 0);
    rm__bp_unlock(&tl_lock);
    assert_int_equal(pthread_join(th, NULL), 0);
    assert_int_equal(atomic_load(&tl_stage), 2);
    assert_int_equal(tl_count, 1);
    assert_int_equal(atomic_load(&tl_lock.word), 0);   /* the waiter's unlock found it 2 and cleared it */

    /* mutual exclusion: TL_THREADS threads add under the lock, no update lost */
    tl_count = 0;
    pthread_t ths[TL_THREADS];
    for (int i = 0; i < TL_THREADS; i++)
        assert_int_equal(pthread_create(&ths[i], NULL, tl_adder, NULL), 0);
    for (int i = 0; i < TL_THREADS; i++)
        assert_int_equal(pthread_join(ths[i], NULL), 0);
    assert_int_equal(tl_count, (uint64_t)TL_THREADS * TL_ROUNDS);
    assert_int_equal(atomic_load(&tl_lock.word), 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pcache_fetch_modes_and_fresh_extra),
        cmocka_unit_test(test_pcache_extra_zero_covers_only_what_was_asked),
        cmocka_unit_test(test_pcache_extra_sits_behind_its_page_descriptor),
        cmocka_unit_test(test_pcache_policy_hand_computed_sequence),
        cmocka_unit_test(test_pcache_policy_same_sequence_under_a_tiny_budget),
        cmocka_unit_test(test_pcache_hit_pages_survive_a_scan),
        cmocka_unit_test(test_pcache_pinned_pages_are_never_evicted),
        cmocka_unit_test(test_pcache_pinned_pages_are_parked_and_come_back),
        cmocka_unit_test(test_pcache_cheap_refuses_where_force_creates),
        cmocka_unit_test(test_pcache_rekey_moves_a_page_and_replaces_an_old_one),
        cmocka_unit_test(test_pcache_truncate_drops_keys_at_and_above_the_limit),
        cmocka_unit_test(test_pcache_cachesize_limits_the_cache),
        cmocka_unit_test(test_pcache_two_caches_share_the_budget),
        cmocka_unit_test(test_pcache_budget_counts_bytes_across_page_sizes),
        cmocka_unit_test(test_pcache_non_purgeable_pages_are_never_evicted),
        cmocka_unit_test(test_pcache_shrink_evicts_unpinned_and_gives_memory_back),
        cmocka_unit_test(test_pcache_set_budget_shrinks_and_grows_live),
        cmocka_unit_test(test_pcache_bad_arguments_change_nothing),
        cmocka_unit_test(test_pcache_create_survives_every_failed_allocation),
        cmocka_unit_test(test_pcache_fetch_without_memory_fails_cleanly_or_recycles),
        cmocka_unit_test(test_pcache_registers_as_a_stats_component),
        cmocka_unit_test(test_pcache_threads_share_a_small_budget),
        cmocka_unit_test(test_pcache_threads_on_one_cache_with_disjoint_keys),
        cmocka_unit_test(test_pcache_serialized_caches_count_exactly_under_steals),
        cmocka_unit_test(test_pcache_serialized_lookup_finds_pinned_pages_under_steals),
        cmocka_unit_test(test_pcache_serialized_repin_of_a_hot_page_counts_and_stays_pinned_once),
        cmocka_unit_test(test_pcache_fetch_page_hand_computed),
        cmocka_unit_test(test_pcache_fetch_page_answers_as_fetch),
        cmocka_unit_test(test_pcache_pool_lock_excludes_wakes_and_knows_its_holder),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
