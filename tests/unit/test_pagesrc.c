/*
 * test_pagesrc.c — the page sources of pagesrc.c: the default mmap source
 * (size, alignment, accounting, release) and the fault-injecting wrapper
 * (which call fails, what passes through, its counters). Expectations are
 * computed by hand from the contract in rustymem/pagesrc.h.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "rustymem/pagesrc.h"

#include "../support/count_pagesrc.h"

static void
test_pagesrc_page_size_is_the_systems(void **state)
{
    size_t ps = rm_page_size();
    assert_int_equal(ps, (size_t)sysconf(_SC_PAGESIZE));
    assert_true(ps >= 4096 && (ps & (ps - 1)) == 0);
    assert_int_equal(rm_page_size(), ps);   /* cached */
}

static void
test_pagesrc_default_maps_zeroed_pages_and_counts_them(void **state)
{
    const rm_pagesrc_t *d = rm_pagesrc_default();
    size_t ps = rm_page_size();
    uint64_t before = rm_pagesrc_default_mapped_bytes();
    rm_page_backing_t b = RM_BACKING_HUGE_1G;
    unsigned char *p = d->methods->map(d->ctx, 3 * ps, ps, -1, 0, &b);
    assert_non_null(p);
    assert_int_equal((uintptr_t)p % ps, 0);
    assert_int_equal(b, RM_BACKING_NORMAL);   /* no flags: normal pages */
    assert_int_equal(rm_pagesrc_default_mapped_bytes(), before + 3 * ps);
    for (size_t i = 0; i < 3 * ps; i += 97)
        assert_int_equal(p[i], 0);
    memset(p, 0x5a, 3 * ps);                  /* writable, all three pages */
    assert_int_equal(p[3 * ps - 1], 0x5a);
    d->methods->unmap(d->ctx, p, 3 * ps);
    assert_int_equal(rm_pagesrc_default_mapped_bytes(), before);
}

static void
test_pagesrc_default_honours_alignment_above_the_page(void **state)
{
    const rm_pagesrc_t *d = rm_pagesrc_default();
    size_t ps = rm_page_size();
    size_t align = 64 * ps;
    uint64_t before = rm_pagesrc_default_mapped_bytes();
    void *p[4];
    for (int i = 0; i < 4; i++) {
        p[i] = d->methods->map(d->ctx, ps, align, -1, 0, NULL);   /* backing may be NULL */
        assert_non_null(p[i]);
        assert_int_equal((uintptr_t)p[i] % align, 0);
    }
    /* the over-mapping used to align is trimmed and never counted */
    assert_int_equal(rm_pagesrc_default_mapped_bytes(), before + 4 * ps);
    for (int i = 0; i < 4; i++)
        d->methods->unmap(d->ctx, p[i], ps);
    assert_int_equal(rm_pagesrc_default_mapped_bytes(), before);
}

static void
test_pagesrc_default_zero_bytes_is_null_and_counts_nothing(void **state)
{
    const rm_pagesrc_t *d = rm_pagesrc_default();
    uint64_t before = rm_pagesrc_default_mapped_bytes();
    assert_null(d->methods->map(d->ctx, 0, rm_page_size(), -1, 0, NULL));
    assert_int_equal(rm_pagesrc_default_mapped_bytes(), before);
    d->methods->unmap(d->ctx, NULL, rm_page_size());   /* NULL: nothing unmapped, nothing uncounted */
    assert_int_equal(rm_pagesrc_default_mapped_bytes(), before);
}

static void
test_pagesrc_default_release_keeps_the_mapping_and_reads_zero(void **state)
{
    const rm_pagesrc_t *d = rm_pagesrc_default();
    size_t ps = rm_page_size();
    uint64_t before = rm_pagesrc_default_mapped_bytes();
    unsigned char *p = d->methods->map(d->ctx, 2 * ps, ps, -1, 0, NULL);
    assert_non_null(p);
    memset(p, 0xff, 2 * ps);
    d->methods->release(d->ctx, p + ps, ps);   /* the second page only */
    assert_int_equal(p[0], 0xff);
    assert_int_equal(p[ps - 1], 0xff);
    assert_int_equal(p[ps], 0);
    assert_int_equal(p[2 * ps - 1], 0);
    assert_int_equal(rm_pagesrc_default_mapped_bytes(), before + 2 * ps);   /* still mapped */
    p[ps] = 1;                                 /* and writable */
    d->methods->unmap(d->ctx, p, 2 * ps);
    assert_int_equal(rm_pagesrc_default_mapped_bytes(), before);
}

static void
test_pagesrc_faulty_fails_exactly_the_nth_map(void **state)
{
    count_src_t in;
    count_src_init(&in);
    rm_pagesrc_faulty_t f;
    rm_pagesrc_faulty_init(&f, &in.src);
    size_t ps = rm_page_size();
    rm_pagesrc_faulty_arm(&f, 3, 0);
    void *p[4];
    for (int i = 0; i < 4; i++)
        p[i] = f.src.methods->map(f.src.ctx, ps, ps, -1, 0, NULL);
    assert_non_null(p[0]);
    assert_non_null(p[1]);
    assert_null(p[2]);                         /* the 3rd */
    assert_non_null(p[3]);                     /* not repeating: the 4th passes */
    assert_int_equal(f.calls, 4);
    assert_int_equal(f.failures, 1);
    assert_int_equal(f.mapped_bytes, 3 * (int64_t)ps);
    assert_int_equal(in.maps, 3);              /* the failed call never reached the inner source */
    assert_int_equal(in.mapped_bytes, 3 * ps);
    for (int i = 0; i < 4; i++)
        f.src.methods->unmap(f.src.ctx, p[i], ps);
    assert_int_equal(f.mapped_bytes, 0);
    assert_int_equal(in.unmaps, 4);            /* unmap always passes through, NULL included */
    assert_int_equal(in.mapped_bytes, 0);
}

static void
test_pagesrc_faulty_repeat_fails_until_disarmed(void **state)
{
    count_src_t in;
    count_src_init(&in);
    rm_pagesrc_faulty_t f;
    rm_pagesrc_faulty_init(&f, &in.src);
    size_t ps = rm_page_size();
    rm_pagesrc_faulty_arm(&f, 2, 1);
    void *a = f.src.methods->map(f.src.ctx, ps, ps, -1, 0, NULL);
    assert_non_null(a);
    for (int i = 0; i < 5; i++)
        assert_null(f.src.methods->map(f.src.ctx, ps, ps, -1, 0, NULL));
    assert_int_equal(f.failures, 5);
    rm_pagesrc_faulty_disarm(&f);
    void *b = f.src.methods->map(f.src.ctx, ps, ps, -1, 0, NULL);
    assert_non_null(b);
    assert_int_equal(f.calls, 7);
    assert_int_equal(f.failures, 5);
    assert_int_equal(in.maps, 2);
    f.src.methods->unmap(f.src.ctx, a, ps);
    f.src.methods->unmap(f.src.ctx, b, ps);
    assert_int_equal(f.mapped_bytes, 0);
}

static void
test_pagesrc_faulty_arm_below_one_fails_the_next_map(void **state)
{
    rm_pagesrc_faulty_t f;
    rm_pagesrc_faulty_init(&f, NULL);          /* NULL: over the default source */
    size_t ps = rm_page_size();
    for (long nth = 0; nth >= -1; nth--) {
        rm_pagesrc_faulty_arm(&f, nth, 0);
        assert_null(f.src.methods->map(f.src.ctx, ps, ps, -1, 0, NULL));
        void *p = f.src.methods->map(f.src.ctx, ps, ps, -1, 0, NULL);
        assert_non_null(p);
        f.src.methods->unmap(f.src.ctx, p, ps);
    }
    assert_int_equal(f.calls, 4);
    assert_int_equal(f.failures, 2);
    assert_int_equal(f.mapped_bytes, 0);
}

static void
test_pagesrc_faulty_release_passes_through(void **state)
{
    count_src_t in;
    count_src_init(&in);
    rm_pagesrc_faulty_t f;
    rm_pagesrc_faulty_init(&f, &in.src);
    size_t ps = rm_page_size();
    unsigned char *p = f.src.methods->map(f.src.ctx, 2 * ps, ps, -1, 0, NULL);
    assert_non_null(p);
    p[0] = 7;
    rm_pagesrc_faulty_arm(&f, 1, 1);           /* armed: release and unmap still pass */
    f.src.methods->release(f.src.ctx, p, ps);
    assert_int_equal(in.releases, 1);
    assert_int_equal(in.released_bytes, ps);
    assert_int_equal(p[0], 0);
    assert_int_equal(f.mapped_bytes, 2 * (int64_t)ps);   /* release is not unmap */
    f.src.methods->unmap(f.src.ctx, p, 2 * ps);
    assert_int_equal(in.unmaps, 1);
    assert_int_equal(f.failures, 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pagesrc_page_size_is_the_systems),
        cmocka_unit_test(test_pagesrc_default_maps_zeroed_pages_and_counts_them),
        cmocka_unit_test(test_pagesrc_default_honours_alignment_above_the_page),
        cmocka_unit_test(test_pagesrc_default_zero_bytes_is_null_and_counts_nothing),
        cmocka_unit_test(test_pagesrc_default_release_keeps_the_mapping_and_reads_zero),
        cmocka_unit_test(test_pagesrc_faulty_fails_exactly_the_nth_map),
        cmocka_unit_test(test_pagesrc_faulty_repeat_fails_until_disarmed),
        cmocka_unit_test(test_pagesrc_faulty_arm_below_one_fails_the_next_map),
        cmocka_unit_test(test_pagesrc_faulty_release_passes_through),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
