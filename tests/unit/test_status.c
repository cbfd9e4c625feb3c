/*
 * test_status.c — rm_strerror / rm_err_name and the accounting registry basics.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "rustymem/stats.h"
#include "rustymem/status.h"

static void
test_status_every_code_has_name_and_text(void **state)
{
    (void)state;
    for (int c = 0; c >= RM_ENOSPC; c--) {
        assert_string_not_equal(rm_err_name(c), "RM_EUNKNOWN");
        assert_string_not_equal(rm_strerror(c), "unknown error");
    }
    assert_string_equal(rm_err_name(RM_ENOMEM), "RM_ENOMEM");
}

static void
test_status_unknown_code_when_out_of_range(void **state)
{
    (void)state;
    assert_string_equal(rm_err_name(-999), "RM_EUNKNOWN");
    assert_string_equal(rm_strerror(42), "unknown error");
}

static void
report_fixed(void *ctx, rm_component_usage_t *out)
{
    const uint64_t *v = ctx;
    out->used_bytes = v[0];
    out->held_bytes = v[1];
}

static void
test_stats_components_merge_by_name(void **state)
{
    (void)state;
    uint64_t a[2] = {100, 400}, b[2] = {50, 100}, c[2] = {7, 8};
    rm_stats_handle_t *ha, *hb, *hc;
    assert_int_equal(rm_stats_register("unit_x", report_fixed, a, &ha), RM_OK);
    assert_int_equal(rm_stats_register("unit_y", report_fixed, c, &hc), RM_OK);
    assert_int_equal(rm_stats_register("unit_x", report_fixed, b, &hb), RM_OK);

    rm_component_usage_t out[RM_COMPONENTS_MAX];
    size_t n = 0;
    rm_stats_components(out, RM_COMPONENTS_MAX, &n);
    int found = 0;
    for (size_t i = 0; i < n; i++)
        if (strcmp(out[i].name, "unit_x") == 0) {
            assert_int_equal(out[i].used_bytes, 150);
            assert_int_equal(out[i].held_bytes, 500);
            found = 1;
        }
    assert_true(found);

    rm_stats_unregister(hb);
    rm_stats_components(out, RM_COMPONENTS_MAX, &n);
    for (size_t i = 0; i < n; i++)
        if (strcmp(out[i].name, "unit_x") == 0)
            assert_int_equal(out[i].used_bytes, 100);
    rm_stats_unregister(ha);
    rm_stats_unregister(hc);
    rm_stats_components(out, RM_COMPONENTS_MAX, &n);
    assert_int_equal(n, 0);
}

static void
test_stats_register_rejects_bad_arguments(void **state)
{
    (void)state;
    rm_stats_handle_t *h = NULL;
    assert_int_equal(rm_stats_register("", report_fixed, NULL, &h), RM_EINVAL);
    assert_int_equal(rm_stats_register("x", NULL, NULL, &h), RM_EINVAL);
    assert_null(h);
}

static void
test_stats_fragmentation_status_words(void **state)
{
    (void)state;
    assert_string_equal(rm_stats_fragmentation_status(rm_stats_fragmentation(90, 100)), "Good");
    assert_string_equal(rm_stats_fragmentation_status(rm_stats_fragmentation(70, 100)), "Fair");
    assert_string_equal(rm_stats_fragmentation_status(rm_stats_fragmentation(10, 100)), "Poor");
    assert_true(rm_stats_fragmentation(0, 0) == 0.0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_status_every_code_has_name_and_text),
        cmocka_unit_test(test_status_unknown_code_when_out_of_range),
        cmocka_unit_test(test_stats_components_merge_by_name),
        cmocka_unit_test(test_stats_register_rejects_bad_arguments),
        cmocka_unit_test(test_stats_fragmentation_status_words),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
