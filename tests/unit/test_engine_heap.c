/*
 * test_engine_heap.c — the engine value heap over a real buffer pool: round
 * trips of every size class (also after forced eviction), argument checks,
 * slot and page reuse, exact counters, bad and stale handles, a failed pin,
 * a heap over a file with stale contents, a file that cannot grow
 * (RLIMIT_FSIZE: the pool's writes fail), and a 4-thread stress.
 *
 * Pools are small (16 frames of 4 KiB) so that pages really go to the file
 * and come back; each test works in its own mkdtemp directory under /tmp.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "pool_fixture.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include "engine_heap.h"
#include "rustymem/bufpool.h"

#define FRAMES 16
#define PAGE   4096u
/* Classes for 4 KiB pages: usable 4080, page header 16 → space 4064;
 * sizes growing by an eighth with >= 2 slots per page, each widened to the
 * largest 8-byte multiple with as many slots: 264 (15), 288 (14), 336 (12),
 * 368 (11), 448 (9), 504 (8), 576 (7), 672 (6), 808 (5), 1016 (4),
 * 1352 (3), 2032 (2); whole page: 4064. Max value 4064 − 8. */
#define MAXV   4056u

/* ---- helpers ------------------------------------------------------------------ */

static char *
make_dir(void)
{
    return make_dir_named("rm_eheap_test_");
}

static rm_bufpool_t *
open_pool(const char *dir, size_t page_size, int writer)
{
    return open_pool_sized(dir, FRAMES, page_size, writer);
}

static void
fill(unsigned char *b, size_t n, uint64_t seed)
{
    uint64_t x = seed * 0x9E3779B97F4A7C15ull + 1;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        b[i] = (unsigned char)x;
    }
}

/* Put a value of n bytes generated from seed; returns its handle. */
static uint64_t
put_seeded(rm_eheap_t *h, size_t n, uint64_t seed)
{
    unsigned char *b = malloc(n);
    assert_non_null(b);
    fill(b, n, seed);
    uint64_t hd = 0;
    assert_int_equal(rm_eheap_put(h, b, n, &hd), RM_OK);
    assert_int_not_equal(hd, 0);
    free(b);
    return hd;
}

/* RM_OK only if the value reads back equal to fill(seed). */
static rm_status_t
check_seeded(rm_eheap_t *h, uint64_t hd, size_t n, uint64_t seed)
{
    unsigned char *want = malloc(n), *got = malloc(n);
    assert_non_null(want);
    assert_non_null(got);
    fill(want, n, seed);
    rm_status_t st = rm_eheap_get(h, hd, got, n);
    if (st == RM_OK && memcmp(want, got, n) != 0)
        st = RM_ECORRUPT;
    free(want);
    free(got);
    return st;
}

static void
stats_of(rm_eheap_t *h, rm_eheap_stats_t *s)
{
    memset(s, 0, sizeof *s);
    rm_eheap_stats(h, s);
}

static void
assert_stats_equal(const rm_eheap_stats_t *a, const rm_eheap_stats_t *b)
{
    assert_int_equal(a->pages, b->pages);
    assert_int_equal(a->values, b->values);
    assert_int_equal(a->value_bytes, b->value_bytes);
    assert_int_equal(a->slot_bytes, b->slot_bytes);
    assert_int_equal(a->puts, b->puts);
    assert_int_equal(a->frees, b->frees);
    assert_int_equal(a->read_errors, b->read_errors);
}

static uint64_t
handle_page(uint64_t hd)
{
    return hd & ((1ull << 40) - 1);
}

static uint32_t
handle_slot(uint64_t hd)
{
    return (uint32_t)((hd >> 40) & 0xFF);
}

/* A fixture: dir + pool + heap "heap.dat". */
typedef struct fx {
    char *dir;
    rm_bufpool_t *bp;
    rm_eheap_t *h;
} fx_t;

static void
fx_open(fx_t *f)
{
    f->dir = make_dir();
    f->bp = open_pool(f->dir, PAGE, 0);
    f->h = NULL;
    assert_int_equal(rm_eheap_create(f->bp, "heap.dat", &f->h), RM_OK);
    assert_non_null(f->h);
}

static void
fx_close(fx_t *f)
{
    rm_eheap_destroy(f->h);
    assert_int_equal(rm_bufpool_destroy(f->bp), RM_OK);
    remove_dir(f->dir);
}

/* ---- tests -------------------------------------------------------------------- */

static void
test_engine_heap_create_rejects_null_arguments(void **state)
{
    (void)state;
    char *dir = make_dir();
    rm_bufpool_t *bp = open_pool(dir, PAGE, 0);
    rm_eheap_t *h = (rm_eheap_t *)0x1;
    assert_int_equal(rm_eheap_create(NULL, "x", &h), RM_EINVAL);
    assert_null(h);
    h = (rm_eheap_t *)0x1;
    assert_int_equal(rm_eheap_create(bp, NULL, &h), RM_EINVAL);
    assert_null(h);
    assert_int_equal(rm_eheap_create(bp, "x", NULL), RM_EINVAL);
    h = (rm_eheap_t *)0x1;
    assert_int_equal(rm_eheap_create(bp, "a/b", &h), RM_EINVAL);
    assert_null(h);
    rm_eheap_destroy(NULL);
    assert_int_equal(rm_bufpool_destroy(bp), RM_OK);
    remove_dir(dir);
}

static void
test_engine_heap_max_value_fits_the_whole_page_slot(void **state)
{
    (void)state;
    char *dir = make_dir();
    rm_bufpool_t *bp = open_pool(dir, PAGE, 0);
    rm_eheap_t *h = NULL;
    assert_int_equal(rm_eheap_create(bp, "heap.dat", &h), RM_OK);
    assert_int_equal(rm_eheap_max_value(h), rm_bufpool_usable_bytes(bp) - 24);
    assert_int_equal(rm_eheap_max_value(h), MAXV);
    rm_eheap_destroy(h);
    assert_int_equal(rm_bufpool_destroy(bp), RM_OK);

    bp = open_pool(dir, 65536, 0);
    assert_int_equal(rm_eheap_create(bp, "heap64.dat", &h), RM_OK);
    assert_int_equal(rm_eheap_max_value(h), 65536 - 16 - 24);
    uint64_t hd = put_seeded(h, rm_eheap_max_value(h), 7);
    assert_int_equal(check_seeded(h, hd, rm_eheap_max_value(h), 7), RM_OK);
    uint64_t hs = put_seeded(h, 1, 8);   /* 255 slots of 256 B on a 64 KiB page */
    assert_int_equal(check_seeded(h, hs, 1, 8), RM_OK);
    rm_eheap_destroy(h);
    assert_int_equal(rm_bufpool_destroy(bp), RM_OK);
    remove_dir(dir);
}

static void
test_engine_heap_round_trip_of_many_sizes_survives_eviction(void **state)
{
    (void)state;
    fx_t f;
    fx_open(&f);
    /* Class edges (256/257, 496/497, 1008/1009, 2024/2025) and the extremes,
     * repeated so that the heap spans far more pages than the pool has frames. */
    static const size_t edges[] = { 1, 2, 7, 100, 255, 256, 257, 300, 496, 497, 512, 1000, 1008,
                                    1009, 1024, 2024, 2025, 2048, 3000, MAXV - 1, MAXV };
    enum { ROUNDS = 6 };
    size_t n = ROUNDS * (sizeof edges / sizeof edges[0]);
    uint64_t *hd = calloc(n, sizeof *hd);
    size_t *len = calloc(n, sizeof *len);
    assert_non_null(hd);
    assert_non_null(len);
    for (size_t i = 0; i < n; i++) {
        len[i] = edges[i % (sizeof edges / sizeof edges[0])];
        hd[i] = put_seeded(f.h, len[i], 1000 + i);
    }
    for (size_t i = 0; i < n; i++)
        assert_int_equal(check_seeded(f.h, hd[i], len[i], 1000 + i), RM_OK);

    rm_eheap_stats_t s;
    stats_of(f.h, &s);
    assert_true(s.pages > 2 * FRAMES);
    assert_int_equal(s.values, n);

    rm_bufpool_stats_t b0, b1;
    assert_int_equal(rm_bufpool_stats(f.bp, &b0), RM_OK);
    assert_int_equal(rm_bufpool_evict(f.bp, 1.0, NULL), RM_OK);
    for (size_t i = n; i-- > 0;)
        assert_int_equal(check_seeded(f.h, hd[i], len[i], 1000 + i), RM_OK);
    assert_int_equal(rm_bufpool_stats(f.bp, &b1), RM_OK);
    assert_true(b1.reads > b0.reads);   /* the values came back from the file */
    stats_of(f.h, &s);
    assert_int_equal(s.read_errors, 0);
    free(hd);
    free(len);
    fx_close(&f);
}

static void
test_engine_heap_put_rejects_bad_length_and_changes_nothing(void **state)
{
    (void)state;
    fx_t f;
    fx_open(&f);
    uint64_t keep = put_seeded(f.h, 10, 1);
    rm_eheap_stats_t before, after;
    stats_of(f.h, &before);
    unsigned char buf[MAXV + 2];
    memset(buf, 1, sizeof buf);
    uint64_t hd = 42;
    assert_int_equal(rm_eheap_put(f.h, buf, 0, &hd), RM_EINVAL);
    assert_int_equal(hd, 0);
    hd = 42;
    assert_int_equal(rm_eheap_put(f.h, buf, MAXV + 1, &hd), RM_EINVAL);
    assert_int_equal(hd, 0);
    assert_int_equal(rm_eheap_put(f.h, NULL, 5, &hd), RM_EINVAL);
    assert_int_equal(rm_eheap_put(f.h, buf, 5, NULL), RM_EINVAL);
    assert_int_equal(rm_eheap_put(NULL, buf, 5, &hd), RM_EINVAL);
    assert_int_equal(rm_eheap_get(f.h, keep, buf, 0), RM_EINVAL);
    assert_int_equal(rm_eheap_get(f.h, keep, buf, MAXV + 1), RM_EINVAL);
    assert_int_equal(rm_eheap_get(f.h, keep, NULL, 10), RM_EINVAL);
    stats_of(f.h, &after);
    assert_stats_equal(&before, &after);
    assert_int_equal(check_seeded(f.h, keep, 10, 1), RM_OK);
    fx_close(&f);
}

static void
test_engine_heap_stats_counters_are_exact(void **state)
{
    (void)state;
    fx_t f;
    fx_open(&f);
    rm_eheap_stats_t s;
    stats_of(f.h, &s);
    assert_int_equal(s.pages, 0);
    assert_int_equal(s.values, 0);
    assert_int_equal(s.value_bytes, 0);
    assert_int_equal(s.slot_bytes, 0);
    assert_int_equal(s.puts, 0);
    assert_int_equal(s.frees, 0);
    assert_int_equal(s.read_errors, 0);
    assert_true(s.meta_bytes > 0);

    /* One value per class (4 KiB pages: 264, 288, 336, …, 1016, 1352, 2032, 4064):
     * 100 → 264, 300 → 336, 1000 → 1016, 2000 → 2032 (value + 8 B slot header). */
    uint64_t a = put_seeded(f.h, 100, 1);
    uint64_t b = put_seeded(f.h, 300, 2);
    uint64_t c = put_seeded(f.h, 1000, 3);
    uint64_t d = put_seeded(f.h, 2000, 4);
    uint64_t e = put_seeded(f.h, 256, 5);    /* largest of the 264 class: same page as a */
    stats_of(f.h, &s);
    assert_int_equal(s.pages, 4);
    assert_int_equal(s.values, 5);
    assert_int_equal(s.value_bytes, 100 + 300 + 1000 + 2000 + 256);
    assert_int_equal(s.slot_bytes, 264 + 336 + 1016 + 2032 + 264);
    assert_int_equal(s.puts, 5);
    assert_int_equal(s.frees, 0);
    assert_int_equal(handle_page(a), handle_page(e));

    rm_eheap_free(f.h, b, 300);
    rm_eheap_free(f.h, d, 2000);
    stats_of(f.h, &s);
    assert_int_equal(s.pages, 4);
    assert_int_equal(s.values, 3);
    assert_int_equal(s.value_bytes, 100 + 1000 + 256);
    assert_int_equal(s.slot_bytes, 264 + 1016 + 264);
    assert_int_equal(s.puts, 5);
    assert_int_equal(s.frees, 2);

    unsigned char buf[16];
    assert_int_equal(rm_eheap_get(f.h, a, buf, 16), RM_ECORRUPT);   /* wrong length */
    stats_of(f.h, &s);
    assert_int_equal(s.read_errors, 1);

    rm_eheap_free(f.h, a, 100);
    rm_eheap_free(f.h, c, 1000);
    rm_eheap_free(f.h, e, 256);
    stats_of(f.h, &s);
    assert_int_equal(s.values, 0);
    assert_int_equal(s.value_bytes, 0);
    assert_int_equal(s.slot_bytes, 0);
    assert_int_equal(s.frees, 5);
    assert_int_equal(s.pages, 4);
    fx_close(&f);
}

static void
test_engine_heap_freed_slots_and_pages_are_reused(void **state)
{
    (void)state;
    fx_t f;
    fx_open(&f);
    rm_eheap_stats_t s;

    /* Same-size put/free cycle: one slot, one page, forever. */
    uint64_t first = put_seeded(f.h, 200, 0);
    rm_eheap_free(f.h, first, 200);
    for (int i = 1; i < 500; i++) {
        uint64_t hd = put_seeded(f.h, 200, (uint64_t)i);
        assert_int_equal(handle_page(hd), handle_page(first));
        assert_int_equal(handle_slot(hd), handle_slot(first));
        assert_int_equal(check_seeded(f.h, hd, 200, (uint64_t)i), RM_OK);
        rm_eheap_free(f.h, hd, 200);
    }
    stats_of(f.h, &s);
    assert_int_equal(s.pages, 1);
    assert_int_equal(s.values, 0);

    /* 45 small values fill 3 pages of the 264 class; freed, the pages are
     * reformatted for whole-page values without growing the file. */
    uint64_t small[45];
    for (int i = 0; i < 45; i++)
        small[i] = put_seeded(f.h, 64, 100 + (uint64_t)i);
    stats_of(f.h, &s);
    assert_int_equal(s.pages, 3);
    for (int i = 0; i < 45; i++)
        rm_eheap_free(f.h, small[i], 64);
    uint64_t big[3];
    for (int i = 0; i < 3; i++)
        big[i] = put_seeded(f.h, MAXV, 200 + (uint64_t)i);
    stats_of(f.h, &s);
    assert_int_equal(s.pages, 3);
    assert_int_equal(s.values, 3);
    for (int i = 0; i < 3; i++)
        assert_int_equal(check_seeded(f.h, big[i], MAXV, 200 + (uint64_t)i), RM_OK);
    /* The old small handles now point into whole-page slots: never OK. */
    unsigned char buf[64];
    for (int i = 0; i < 45; i++)
        assert_int_not_equal(rm_eheap_get(f.h, small[i], buf, 64), RM_OK);

    /* Put/free cycles of mixed sizes keep the high-water mark. */
    for (int i = 0; i < 3; i++)
        rm_eheap_free(f.h, big[i], MAXV);
    for (int r = 0; r < 50; r++) {
        uint64_t x = put_seeded(f.h, 700, (uint64_t)r);
        rm_eheap_free(f.h, x, 700);
    }
    for (int r = 0; r < 50; r++) {
        uint64_t x = put_seeded(f.h, 1 + (size_t)r * 80, (uint64_t)r);
        uint64_t y = put_seeded(f.h, MAXV, (uint64_t)r);
        rm_eheap_free(f.h, y, MAXV);
        rm_eheap_free(f.h, x, 1 + (size_t)r * 80);
    }
    stats_of(f.h, &s);
    assert_int_equal(s.pages, 3);
    assert_int_equal(s.values, 0);
    fx_close(&f);
}

static void
test_engine_heap_emptied_page_leaves_the_pool_unwritten(void **state)
{
    (void)state;
    fx_t f;
    fx_open(&f);
    /* 15 values of the 264 class fill one page; a 16th starts a second */
    uint64_t hd[16];
    for (int i = 0; i < 16; i++)
        hd[i] = put_seeded(f.h, 200, 300 + (uint64_t)i);
    assert_int_not_equal(handle_page(hd[0]), handle_page(hd[15]));
    rm_bufpool_stats_t b0, b1;
    assert_int_equal(rm_bufpool_stats(f.bp, &b0), RM_OK);
    assert_int_equal(b0.used_frames, 2);
    assert_int_equal(b0.dirty, 2);
    /* all but one value of the first page freed: the page stays */
    for (int i = 0; i < 14; i++)
        rm_eheap_free(f.h, hd[i], 200);
    assert_int_equal(rm_bufpool_stats(f.bp, &b1), RM_OK);
    assert_int_equal(b1.discards, b0.discards);
    assert_int_equal(check_seeded(f.h, hd[14], 200, 314), RM_OK);
    /* the last one: the page is garbage, dropped without a write */
    rm_eheap_free(f.h, hd[14], 200);
    assert_int_equal(rm_bufpool_stats(f.bp, &b1), RM_OK);
    assert_int_equal(b1.discards, b0.discards + 1);
    assert_int_equal(b1.used_frames, 1);
    assert_int_equal(b1.dirty, 1);
    assert_int_equal(rm_bufpool_checkpoint(f.bp), RM_OK);
    assert_int_equal(rm_bufpool_stats(f.bp, &b1), RM_OK);
    assert_int_equal(b1.writes, b0.writes + 1);   /* the second page only */
    /* freed handles never read back as good; the live one does, and the
     * emptied page is reused by the next put */
    unsigned char buf[200];
    assert_int_not_equal(rm_eheap_get(f.h, hd[3], buf, 200), RM_OK);
    assert_int_equal(check_seeded(f.h, hd[15], 200, 315), RM_OK);
    uint64_t again = put_seeded(f.h, 200, 999);
    assert_int_equal(check_seeded(f.h, again, 200, 999), RM_OK);
    rm_eheap_stats_t s;
    stats_of(f.h, &s);
    assert_int_equal(s.pages, 2);
    fx_close(&f);
}

static void
test_engine_heap_get_rejects_bad_handles(void **state)
{
    (void)state;
    fx_t f;
    fx_open(&f);
    uint64_t small = put_seeded(f.h, 50, 1);    /* page 0, 264 class */
    uint64_t whole = put_seeded(f.h, 3000, 2);  /* page 1, whole-page class */
    assert_int_equal(handle_page(whole), 1);
    unsigned char buf[3000];
    uint64_t tag = small >> 48;
    uint64_t alt = (tag % 0xFFFF) + 1;   /* another non-zero tag */

    assert_int_equal(rm_eheap_get(f.h, 0, buf, 50), RM_EINVAL);
    /* Page beyond the high-water mark. */
    assert_int_equal(rm_eheap_get(f.h, (tag << 48) | 2, buf, 50), RM_EINVAL);
    assert_int_equal(rm_eheap_get(f.h, (tag << 48) | ((1ull << 40) - 1), buf, 50), RM_EINVAL);
    /* Slot beyond any page's slots, and beyond the whole-page class's one. */
    assert_int_equal(rm_eheap_get(f.h, (tag << 48) | (200ull << 40), buf, 50), RM_EINVAL);
    assert_int_equal(rm_eheap_get(f.h, whole | (1ull << 40), buf, 50), RM_EINVAL);
    /* Right place, wrong tag or wrong length: not a live value. */
    assert_int_equal(rm_eheap_get(f.h, (small & ~(0xFFFFull << 48)) | (alt << 48), buf, 50), RM_ECORRUPT);
    assert_int_equal(rm_eheap_get(f.h, small, buf, 51), RM_ECORRUPT);
    /* A free slot of a live page. */
    assert_int_equal(rm_eheap_get(f.h, small | (3ull << 40), buf, 50), RM_ECORRUPT);

    rm_eheap_stats_t s;
    stats_of(f.h, &s);
    assert_int_equal(s.read_errors, 3);
    assert_int_equal(check_seeded(f.h, small, 50, 1), RM_OK);
    assert_int_equal(check_seeded(f.h, whole, 3000, 2), RM_OK);
    fx_close(&f);
}

static void
test_engine_heap_free_of_bad_handle_is_a_noop(void **state)
{
    (void)state;
    fx_t f;
    fx_open(&f);
    uint64_t a = put_seeded(f.h, 50, 1);
    uint64_t b = put_seeded(f.h, 3000, 2);
    uint64_t dead = put_seeded(f.h, 60, 3);
    rm_eheap_free(f.h, dead, 60);
    rm_eheap_stats_t before, after;
    stats_of(f.h, &before);

    rm_eheap_free(NULL, a, 50);
    rm_eheap_free(f.h, 0, 50);
    rm_eheap_free(f.h, a, 0);
    rm_eheap_free(f.h, a, MAXV + 1);
    rm_eheap_free(f.h, a, 51);                        /* wrong length */
    rm_eheap_free(f.h, a ^ (1ull << 49), 50);         /* wrong tag */
    rm_eheap_free(f.h, a | (5ull << 40), 50);         /* free slot */
    rm_eheap_free(f.h, b | (1ull << 40), 3000);       /* slot out of the page's range */
    rm_eheap_free(f.h, (a & ~((1ull << 40) - 1)) | 9, 50); /* beyond high-water */
    rm_eheap_free(f.h, dead, 60);                     /* double free */
    rm_eheap_free(f.h, ~0ull, 50);
    stats_of(f.h, &after);
    assert_stats_equal(&before, &after);
    assert_int_equal(check_seeded(f.h, a, 50, 1), RM_OK);
    assert_int_equal(check_seeded(f.h, b, 3000, 2), RM_OK);
    fx_close(&f);
}

static void
test_engine_heap_check_word_catches_stale_handle_after_slot_reuse(void **state)
{
    (void)state;
    fx_t f;
    fx_open(&f);
    uint64_t old = put_seeded(f.h, 120, 1);
    rm_eheap_free(f.h, old, 120);
    uint64_t cur = put_seeded(f.h, 120, 2);
    /* Same slot, new handle. */
    assert_int_equal(handle_page(cur), handle_page(old));
    assert_int_equal(handle_slot(cur), handle_slot(old));
    assert_int_not_equal(cur, old);

    unsigned char buf[120];
    assert_int_equal(rm_eheap_get(f.h, old, buf, 120), RM_ECORRUPT);
    assert_int_equal(check_seeded(f.h, cur, 120, 2), RM_OK);
    /* Also once the page went through the file. */
    assert_int_equal(rm_bufpool_evict(f.bp, 1.0, NULL), RM_OK);
    assert_int_equal(rm_eheap_get(f.h, old, buf, 120), RM_ECORRUPT);
    assert_int_equal(check_seeded(f.h, cur, 120, 2), RM_OK);
    /* Freeing the stale handle must not free the new value. */
    rm_eheap_free(f.h, old, 120);
    rm_eheap_stats_t s;
    stats_of(f.h, &s);
    assert_int_equal(s.values, 1);
    assert_int_equal(s.frees, 1);
    assert_int_equal(s.read_errors, 2);
    assert_int_equal(check_seeded(f.h, cur, 120, 2), RM_OK);
    fx_close(&f);
}

static void
test_engine_heap_put_gives_slot_back_when_pin_fails(void **state)
{
    (void)state;
    fx_t f;
    fx_open(&f);
    uint32_t other;
    assert_int_equal(rm_bufpool_open_file(f.bp, "other.dat", &other), RM_OK);
    rm_bufpool_frame_t *fr[FRAMES];
    for (int i = 0; i < FRAMES; i++)
        assert_int_equal(rm_bufpool_pin(f.bp, other, (uint64_t)i, RM_BUFPOOL_SHARED, &fr[i]), RM_OK);

    unsigned char v[100];
    memset(v, 3, sizeof v);
    uint64_t hd = 1;
    assert_int_equal(rm_eheap_put(f.h, v, sizeof v, &hd), RM_EBUSY);
    assert_int_equal(hd, 0);
    rm_eheap_stats_t s;
    stats_of(f.h, &s);
    assert_int_equal(s.values, 0);
    assert_int_equal(s.value_bytes, 0);
    assert_int_equal(s.slot_bytes, 0);
    assert_int_equal(s.puts, 0);
    assert_int_equal(s.pages, 1);   /* the new page stays in the file, empty */

    for (int i = 0; i < FRAMES; i++)
        rm_bufpool_unpin(f.bp, fr[i], RM_BUFPOOL_SHARED, 0);
    hd = put_seeded(f.h, 100, 9);
    assert_int_equal(handle_page(hd), 0);
    assert_int_equal(handle_slot(hd), 0);
    assert_int_equal(check_seeded(f.h, hd, 100, 9), RM_OK);
    stats_of(f.h, &s);
    assert_int_equal(s.values, 1);
    assert_int_equal(s.puts, 1);
    assert_int_equal(s.pages, 1);
    fx_close(&f);
}

static void
set_fsize_limit(rlim_t bytes)
{
    struct rlimit rl;
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &rl), 0);
    rl.rlim_cur = bytes == RLIM_INFINITY ? rl.rlim_max : bytes;
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &rl), 0);
}

/* 16 whole-page values on disk, then files may not grow: new values are
 * put until the pool's first failed write, after which puts are refused
 * (RM_ENOSPC) without touching a page; with every frame then dirtied by
 * another file of the pool, a get of an old value fails RM_ENOSPC (no frame
 * can be freed, not a read error) and the heap names the cause; every value
 * in a frame still reads; once files may grow, a checkpoint writes them and
 * everything reads back. */
static void
test_engine_heap_names_the_full_disk_and_keeps_values(void **state)
{
    (void)state;
    char *dir = make_dir();
    rm_bufpool_t *bp = open_pool(dir, PAGE, 0);
    rm_eheap_t *h = NULL;
    assert_int_equal(rm_eheap_create(bp, "engine.heap", &h), RM_OK);
    uint32_t other = 0;
    assert_int_equal(rm_bufpool_open_temp_file(bp, "other.pages", &other), RM_OK);
    uint64_t old[FRAMES], cur[FRAMES];
    for (unsigned i = 0; i < FRAMES; i++)
        old[i] = put_seeded(h, MAXV, 100 + i);
    assert_int_equal(rm_bufpool_checkpoint(bp), RM_OK);
    char buf[256];
    assert_null(rm_eheap_write_failure(h, buf, sizeof buf));

    void (*prev)(int) = signal(SIGXFSZ, SIG_IGN);   /* EFBIG instead of the signal */
    set_fsize_limit((rlim_t)FRAMES * PAGE);
    unsigned char *v = malloc(MAXV);
    assert_non_null(v);
    unsigned n = 0;
    rm_status_t st = RM_OK;
    while (n < FRAMES) {
        uint64_t hd = 7;
        fill(v, MAXV, 200 + n);
        if ((st = rm_eheap_put(h, v, MAXV, &hd)) != RM_OK) {
            assert_int_equal(hd, 0);
            break;
        }
        cur[n++] = hd;
    }
    assert_int_equal(st, RM_ENOSPC);   /* refused once a write-back failed */
    assert_true(n >= 1);
    assert_true(rm_bufpool_writes_failing(bp));
    /* every other frame dirtied by the other file's new pages (they cannot
     * be written either) */
    for (uint64_t p = 0;; p++) {
        rm_bufpool_frame_t *f;
        if ((st = rm_bufpool_pin(bp, other, p, RM_BUFPOOL_EXCLUSIVE, &f)) != RM_OK)
            break;
        memset(rm_bufpool_frame_data(f), 0x5a, 64);
        rm_bufpool_unpin(bp, f, RM_BUFPOOL_EXCLUSIVE, 1);
        assert_true(p < 2 * FRAMES);
    }
    assert_int_equal(st, RM_ENOSPC);
    assert_int_equal(check_seeded(h, old[0], MAXV, 100), RM_ENOSPC);
    assert_non_null(rm_eheap_write_failure(h, buf, sizeof buf));
    assert_non_null(strstr(buf, "the buffer pool cannot write its dirty pages: "));
    assert_non_null(strstr(buf, strerror(EFBIG)));
    assert_non_null(strstr(buf, "committed data is kept in memory; free space on "));
    assert_non_null(strstr(buf, dir));
    for (unsigned i = 0; i < n; i++)
        assert_int_equal(check_seeded(h, cur[i], MAXV, 200 + i), RM_OK);
    rm_eheap_stats_t hs;
    stats_of(h, &hs);
    assert_int_equal(hs.read_errors, 0);   /* not a read error */

    set_fsize_limit(RLIM_INFINITY);
    signal(SIGXFSZ, prev);
    assert_int_equal(rm_bufpool_checkpoint(bp), RM_OK);
    assert_false(rm_bufpool_writes_failing(bp));
    assert_null(rm_eheap_write_failure(h, buf, sizeof buf));
    for (unsigned i = 0; i < FRAMES; i++)
        assert_int_equal(check_seeded(h, old[i], MAXV, 100 + i), RM_OK);
    for (unsigned i = 0; i < n; i++)
        assert_int_equal(check_seeded(h, cur[i], MAXV, 200 + i), RM_OK);
    (void)put_seeded(h, 64, 300);
    free(v);
    rm_eheap_destroy(h);
    assert_int_equal(rm_bufpool_destroy(bp), RM_OK);
    remove_dir(dir);
}

static void
test_engine_heap_new_heap_over_stale_file_starts_empty(void **state)
{
    (void)state;
    char *dir = make_dir();
    enum { N = 80 };
    uint64_t oldh[N];
    size_t oldlen[N];

    /* A first heap writes values, and the pool puts them in the file. */
    rm_bufpool_t *bp = open_pool(dir, PAGE, 0);
    rm_eheap_t *h = NULL;
    assert_int_equal(rm_eheap_create(bp, "heap.dat", &h), RM_OK);
    for (int i = 0; i < N; i++) {
        oldlen[i] = 1 + ((size_t)i * 97) % MAXV;
        oldh[i] = put_seeded(h, oldlen[i], 5000 + (uint64_t)i);
    }
    rm_eheap_destroy(h);
    assert_int_equal(rm_bufpool_destroy(bp), RM_OK);
    char path[512];
    snprintf(path, sizeof path, "%s/heap.dat", dir);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_true(st.st_size >= (off_t)(4 * PAGE));

    /* A second heap over the same file starts empty. */
    bp = open_pool(dir, PAGE, 0);
    assert_int_equal(rm_eheap_create(bp, "heap.dat", &h), RM_OK);
    rm_eheap_stats_t s;
    stats_of(h, &s);
    assert_int_equal(s.pages, 0);
    assert_int_equal(s.values, 0);
    assert_int_equal(s.puts, 0);
    unsigned char *buf = malloc(MAXV);
    assert_non_null(buf);
    for (int i = 0; i < N; i++)
        assert_int_equal(rm_eheap_get(h, oldh[i], buf, oldlen[i]), RM_EINVAL);

    /* It reads its own values over the old pages, and the old handles never
     * read as values (different salt). */
    enum { M = 40 };
    uint64_t newh[M];
    size_t newlen[M];
    for (int i = 0; i < M; i++) {
        newlen[i] = 1 + ((size_t)i * 211) % MAXV;
        newh[i] = put_seeded(h, newlen[i], 9000 + (uint64_t)i);
    }
    assert_int_equal(rm_bufpool_evict(bp, 1.0, NULL), RM_OK);
    for (int i = 0; i < M; i++)
        assert_int_equal(check_seeded(h, newh[i], newlen[i], 9000 + (uint64_t)i), RM_OK);
    stats_of(h, &s);
    for (int i = 0; i < N; i++) {
        int same = 0;
        for (int j = 0; j < M; j++)
            same |= newh[j] == oldh[i] && newlen[j] == oldlen[i];
        if (!same)
            assert_int_not_equal(rm_eheap_get(h, oldh[i], buf, oldlen[i]), RM_OK);
    }
    stats_of(h, &s);
    assert_int_equal(s.values, M);
    free(buf);
    rm_eheap_destroy(h);
    assert_int_equal(rm_bufpool_destroy(bp), RM_OK);
    remove_dir(dir);
}

/* ---- concurrency -------------------------------------------------------------- */

enum { STRESS_THREADS = 4, STRESS_OPS = 3000, STRESS_LIVE = 64 };

typedef struct stress_arg {
    rm_eheap_t *h;
    unsigned id;
    unsigned long failures;  /* wrong bytes or any status but RM_OK */
    uint64_t puts, frees;
} stress_arg_t;

/* Read and compare. At most a few of the 16 frames are pinned at a time, so
 * every pin must succeed (RM_EBUSY here was a pool bug: a pinned page alone
 * in the admission window or in T1 was retried instead of passed over). */
static void
stress_verify(stress_arg_t *a, uint64_t hd, size_t len, uint64_t seed, unsigned char *want,
              unsigned char *buf)
{
    fill(want, len, seed);
    if (rm_eheap_get(a->h, hd, buf, len) != RM_OK || memcmp(buf, want, len) != 0)
        a->failures++;
}

static void *
stress_thread(void *p)
{
    stress_arg_t *a = p;
    uint64_t handles[STRESS_LIVE] = { 0 };
    size_t lens[STRESS_LIVE] = { 0 };
    uint64_t seeds[STRESS_LIVE] = { 0 };
    unsigned char *buf = malloc(MAXV), *want = malloc(MAXV);
    uint64_t x = 0x1234567ull + a->id * 0x9E3779B97F4A7C15ull;
    if (!buf || !want) {
        a->failures++;
        goto out;
    }
    for (unsigned op = 0; op < STRESS_OPS; op++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        unsigned i = (unsigned)(x % STRESS_LIVE);
        if (handles[i]) {
            stress_verify(a, handles[i], lens[i], seeds[i], want, buf);
            rm_eheap_free(a->h, handles[i], lens[i]);
            a->frees++;
            handles[i] = 0;
        } else {
            /* Mostly values of the small classes, one in eight near a page. */
            size_t len = (x >> 20) % 8 == 0 ? MAXV - (size_t)((x >> 32) % 64)
                                             : 1 + (size_t)((x >> 32) % 1100);
            uint64_t seed = ((uint64_t)a->id << 32) | op;
            fill(want, len, seed);
            uint64_t hd;
            rm_status_t st = rm_eheap_put(a->h, want, len, &hd);
            if (st != RM_OK) {
                a->failures++;
                continue;
            }
            a->puts++;
            handles[i] = hd;
            lens[i] = len;
            seeds[i] = seed;
        }
    }
    for (unsigned i = 0; i < STRESS_LIVE; i++) {
        if (!handles[i])
            continue;
        stress_verify(a, handles[i], lens[i], seeds[i], want, buf);
        rm_eheap_free(a->h, handles[i], lens[i]);
        a->frees++;
    }
out:
    free(buf);
    free(want);
    return NULL;
}

static void
test_engine_heap_concurrent_put_get_free_keeps_values_intact(void **state)
{
    (void)state;
    char *dir = make_dir();
    rm_bufpool_t *bp = open_pool(dir, PAGE, 1);   /* with the background writer */
    rm_eheap_t *h = NULL;
    assert_int_equal(rm_eheap_create(bp, "heap.dat", &h), RM_OK);
    pthread_t t[STRESS_THREADS];
    stress_arg_t a[STRESS_THREADS];
    for (unsigned i = 0; i < STRESS_THREADS; i++) {
        a[i] = (stress_arg_t){ .h = h, .id = i };
        assert_int_equal(pthread_create(&t[i], NULL, stress_thread, &a[i]), 0);
    }
    /* Meanwhile force pages out now and then, and read the counters. */
    for (int i = 0; i < 20; i++) {
        rm_eheap_stats_t s;
        rm_eheap_stats(h, &s);
        assert_int_equal(rm_bufpool_evict(bp, 0.5, NULL), RM_OK);
        sched_yield();
    }
    uint64_t puts = 0, frees = 0;
    for (unsigned i = 0; i < STRESS_THREADS; i++) {
        assert_int_equal(pthread_join(t[i], NULL), 0);
        assert_int_equal(a[i].failures, 0);
        puts += a[i].puts;
        frees += a[i].frees;
    }
    assert_true(puts > STRESS_THREADS * STRESS_OPS / 4);
    rm_eheap_stats_t s;
    stats_of(h, &s);
    assert_int_equal(s.values, 0);
    assert_int_equal(s.value_bytes, 0);
    assert_int_equal(s.slot_bytes, 0);
    assert_int_equal(s.puts, puts);
    assert_int_equal(s.frees, frees);
    assert_int_equal(s.read_errors, 0);
    /* At most STRESS_THREADS × STRESS_LIVE values were live at once. */
    assert_true(s.pages <= STRESS_THREADS * STRESS_LIVE);
    rm_eheap_destroy(h);
    assert_int_equal(rm_bufpool_destroy(bp), RM_OK);
    remove_dir(dir);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_engine_heap_create_rejects_null_arguments),
        cmocka_unit_test(test_engine_heap_max_value_fits_the_whole_page_slot),
        cmocka_unit_test(test_engine_heap_round_trip_of_many_sizes_survives_eviction),
        cmocka_unit_test(test_engine_heap_put_rejects_bad_length_and_changes_nothing),
        cmocka_unit_test(test_engine_heap_stats_counters_are_exact),
        cmocka_unit_test(test_engine_heap_freed_slots_and_pages_are_reused),
        cmocka_unit_test(test_engine_heap_emptied_page_leaves_the_pool_unwritten),
        cmocka_unit_test(test_engine_heap_get_rejects_bad_handles),
        cmocka_unit_test(test_engine_heap_free_of_bad_handle_is_a_noop),
        cmocka_unit_test(test_engine_heap_check_word_catches_stale_handle_after_slot_reuse),
        cmocka_unit_test(test_engine_heap_put_gives_slot_back_when_pin_fails),
        cmocka_unit_test(test_engine_heap_new_heap_over_stale_file_starts_empty),
        cmocka_unit_test(test_engine_heap_names_the_full_disk_and_keeps_values),
        cmocka_unit_test(test_engine_heap_concurrent_put_get_free_keeps_values_intact),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
