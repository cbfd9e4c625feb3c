/*
 * test_bufpool_map.c — the buffer pool's metadata memory (bufpool_map.c):
 * rm__bp_mem_alloc/free hand out zeroed, page-rounded mappings, and keep up
 * to 16 pieces of at most 16 KiB of the default page source for reuse (ADR
 * 0023, session 15: SQLite's temporary b-trees create and destroy a page
 * cache per statement). Expectations are computed by hand from the comment in
 * bufpool_internal.h: what is mapped is read from the default source's own
 * counter (rm_pagesrc_default_mapped_bytes) and from a counting source.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "../support/count_pagesrc.h"
#include "bufpool_internal.h"

#define KEEP_SLOTS 16u
#define KEEP_MAX ((size_t)16 * 1024)

static int
all_zero(const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i])
            return 0;
    return 1;
}

/* Every test starts with nothing kept. */
static int
setup(void **state)
{
    (void)state;
    (void)rm__bp_mem_release_kept();
    return 0;
}

static void
test_bufpool_mem_small_piece_is_kept_and_handed_out_again_zeroed(void **state)
{
    size_t ps = rm_page_size();
    if (ps > KEEP_MAX)
        skip();   /* pages above 16 KiB: nothing is ever kept */
    uint64_t before = rm_pagesrc_default_mapped_bytes();
    unsigned char *p = rm__bp_mem_alloc(NULL, 100);
    assert_non_null(p);
    assert_true(all_zero(p, ps));
    assert_int_equal(rm_pagesrc_default_mapped_bytes(), before + ps);
    memset(p, 0xAB, ps);
    rm__bp_mem_free(NULL, p, 100);
    /* kept: still mapped */
    assert_int_equal(rm_pagesrc_default_mapped_bytes(), before + ps);
    /* the same rounded size (one page) comes back from the kept piece, zeroed */
    unsigned char *q = rm__bp_mem_alloc(rm_pagesrc_default(), ps - 1);
    assert_ptr_equal(q, p);
    assert_true(all_zero(q, ps));
    assert_int_equal(rm_pagesrc_default_mapped_bytes(), before + ps);
    rm__bp_mem_free(rm_pagesrc_default(), q, ps);
    assert_int_equal(rm__bp_mem_release_kept(), ps);
    assert_int_equal(rm_pagesrc_default_mapped_bytes(), before);
    assert_int_equal(rm__bp_mem_release_kept(), 0);
}

static void
test_bufpool_mem_keeps_at_most_16_pieces_of_at_most_16_KiB(void **state)
{
    size_t ps = rm_page_size();
    if (ps > KEEP_MAX)
        skip();
    uint64_t before = rm_pagesrc_default_mapped_bytes();
    void *p[KEEP_SLOTS + 1];
    for (unsigned i = 0; i <= KEEP_SLOTS; i++) {
        p[i] = rm__bp_mem_alloc(NULL, ps);
        assert_non_null(p[i]);
    }
    for (unsigned i = 0; i <= KEEP_SLOTS; i++)
        rm__bp_mem_free(NULL, p[i], ps);
    /* 16 kept, the 17th unmapped */
    assert_int_equal(rm_pagesrc_default_mapped_bytes(), before + KEEP_SLOTS * ps);
    assert_int_equal(rm__bp_mem_release_kept(), KEEP_SLOTS * ps);
    assert_int_equal(rm_pagesrc_default_mapped_bytes(), before);

    /* the largest kept size is kept; one page more is not */
    size_t big = KEEP_MAX / ps * ps;
    void *a = rm__bp_mem_alloc(NULL, big);
    void *b = rm__bp_mem_alloc(NULL, big + 1);
    assert_non_null(a);
    assert_non_null(b);
    size_t b_bytes = big + ps;
    assert_int_equal(rm_pagesrc_default_mapped_bytes(), before + big + b_bytes);
    rm__bp_mem_free(NULL, b, big + 1);
    assert_int_equal(rm_pagesrc_default_mapped_bytes(), before + big);
    rm__bp_mem_free(NULL, a, big);
    assert_int_equal(rm_pagesrc_default_mapped_bytes(), before + big);
    assert_int_equal(rm__bp_mem_release_kept(), big);
    assert_int_equal(rm_pagesrc_default_mapped_bytes(), before);
}

static void
test_bufpool_mem_kept_piece_serves_only_its_own_size(void **state)
{
    size_t ps = rm_page_size();
    if (2 * ps > KEEP_MAX)
        skip();
    uint64_t before = rm_pagesrc_default_mapped_bytes();
    void *one = rm__bp_mem_alloc(NULL, ps);
    assert_non_null(one);
    rm__bp_mem_free(NULL, one, ps);
    /* two pages: a new mapping, the one-page piece stays kept */
    unsigned char *two = rm__bp_mem_alloc(NULL, 2 * ps);
    assert_non_null(two);
    assert_ptr_not_equal(two, one);
    assert_true(all_zero(two, 2 * ps));
    assert_int_equal(rm_pagesrc_default_mapped_bytes(), before + 3 * ps);
    rm__bp_mem_free(NULL, two, 2 * ps);
    assert_int_equal(rm__bp_mem_release_kept(), 3 * ps);
    assert_int_equal(rm_pagesrc_default_mapped_bytes(), before);
}

static void
test_bufpool_mem_other_sources_map_and_unmap_one_to_one(void **state)
{
    count_src_t c;
    count_src_init(&c);
    size_t ps = rm_page_size();
    void *p = rm__bp_mem_alloc(&c.src, ps);
    assert_non_null(p);
    rm__bp_mem_free(&c.src, p, ps);
    void *q = rm__bp_mem_alloc(&c.src, ps);
    assert_non_null(q);
    rm__bp_mem_free(&c.src, q, ps);
    assert_int_equal(c.maps, 2);
    assert_int_equal(c.unmaps, 2);
    assert_int_equal(c.mapped_bytes, 0);
    assert_int_equal(rm__bp_mem_release_kept(), 0);   /* nothing of it kept here */
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_bufpool_mem_small_piece_is_kept_and_handed_out_again_zeroed, setup),
        cmocka_unit_test_setup(test_bufpool_mem_keeps_at_most_16_pieces_of_at_most_16_KiB, setup),
        cmocka_unit_test_setup(test_bufpool_mem_kept_piece_serves_only_its_own_size, setup),
        cmocka_unit_test_setup(test_bufpool_mem_other_sources_map_and_unmap_one_to_one, setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
