/*
 * test_sysinfo.c — rm_sysinfo_read over recorded procfs/cgroupfs trees
 * (tests/data/sysinfo/<case>/{proc,cgroup}): cgroup v1 and v2 layouts, with a
 * limit and unlimited, hybrid and namespaced v2 mounts, PSI present and absent.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "rustymem/sysinfo.h"

static rm_sysinfo_t
read_case(const char *name)
{
    const char *base = getenv("RM_TEST_DATA");
    char proc[512], cg[512];
    snprintf(proc, sizeof proc, "%s/sysinfo/%s/proc", base ? base : "tests/data", name);
    snprintf(cg, sizeof cg, "%s/sysinfo/%s/cgroup", base ? base : "tests/data", name);
    rm_sysinfo_paths_t paths = {proc, cg};
    rm_sysinfo_t si;
    assert_int_equal(rm_sysinfo_read(&paths, &si), RM_OK);
    return si;
}

static void
test_sysinfo_v1_reads_limit_usage_and_counters(void **state)
{
    (void)state;
    rm_sysinfo_t si = read_case("v1_limit");
    assert_int_equal(si.cgroup_version, 1);
    assert_non_null(strstr(si.cgroup_dir, "/memory/db/rustymem"));
    assert_int_equal(si.cgroup_usage_bytes, 58720256);
    assert_int_equal(si.cgroup_limit_bytes, 268435456);
    assert_int_equal(si.cgroup_oom_kills, 2);
    assert_int_equal(si.cgroup_has_oom_counter, 1);
    assert_int_equal(si.cgroup_failcnt, 17);
    assert_int_equal(si.cgroup_under_oom, 0);
    assert_int_equal(si.cgroup_high_bytes, 0);
}

static void
test_sysinfo_v1_working_set_subtracts_total_inactive_file(void **state)
{
    (void)state;
    rm_sysinfo_t si = read_case("v1_limit");
    assert_int_equal(si.cgroup_inactive_file_bytes, 6291456);   /* total_, not the local line */
    assert_int_equal(si.cgroup_working_set_bytes, 58720256 - 6291456);
}

static void
test_sysinfo_v1_budget_is_cgroup_limit_when_set(void **state)
{
    (void)state;
    rm_sysinfo_t si = read_case("v1_limit");
    assert_int_equal(si.budget_bytes, 268435456);
    assert_int_equal(si.budget_from_cgroup, 1);
}

static void
test_sysinfo_v1_unlimited_gives_zero_limit_and_meminfo_budget(void **state)
{
    (void)state;
    rm_sysinfo_t si = read_case("v1_unlimited");
    assert_int_equal(si.cgroup_version, 1);
    assert_int_equal(si.cgroup_limit_bytes, 0);
    assert_int_equal(si.budget_from_cgroup, 0);
    assert_int_equal(si.budget_bytes, 24683520ull * 1024);
    /* no memory.stat: the working set is the usage */
    assert_int_equal(si.cgroup_working_set_bytes, 98246656);
}

static void
test_sysinfo_psi_present_is_parsed(void **state)
{
    (void)state;
    rm_sysinfo_t si = read_case("v1_limit");
    assert_int_equal(si.has_psi, 1);
    assert_true(si.psi.some_avg10 == 1.50);
    assert_true(si.psi.full_avg60 == 0.25);
    assert_int_equal(si.psi.full_total_us, 65432);
}

static void
test_sysinfo_psi_absent_is_reported_absent(void **state)
{
    (void)state;
    rm_sysinfo_t si = read_case("v1_unlimited");
    assert_int_equal(si.has_psi, 0);
    assert_true(si.psi.some_avg10 == 0.0);
}

static void
test_sysinfo_v2_reads_max_high_events(void **state)
{
    (void)state;
    rm_sysinfo_t si = read_case("v2_limit");
    assert_int_equal(si.cgroup_version, 2);
    assert_non_null(strstr(si.cgroup_dir, "pod1/cri-c1"));
    assert_int_equal(si.cgroup_usage_bytes, 62914560);
    assert_int_equal(si.cgroup_limit_bytes, 536870912);
    assert_int_equal(si.cgroup_high_bytes, 483183820);
    assert_int_equal(si.cgroup_oom_events, 3);
    assert_int_equal(si.cgroup_oom_kills, 1);
    assert_int_equal(si.cgroup_failcnt, 40);
    assert_int_equal(si.cgroup_has_oom_counter, 1);
    assert_int_equal(si.has_psi, 1);
}

static void
test_sysinfo_v2_working_set_and_budget(void **state)
{
    (void)state;
    rm_sysinfo_t si = read_case("v2_limit");
    assert_int_equal(si.cgroup_inactive_file_bytes, 8388608);
    assert_int_equal(si.cgroup_working_set_bytes, 62914560 - 8388608);
    assert_int_equal(si.budget_bytes, 536870912);
    assert_int_equal(si.budget_from_cgroup, 1);
}

static void
test_sysinfo_v2_max_means_unlimited(void **state)
{
    (void)state;
    rm_sysinfo_t si = read_case("v2_max");
    assert_int_equal(si.cgroup_version, 2);
    assert_int_equal(si.cgroup_limit_bytes, 0);
    assert_int_equal(si.cgroup_high_bytes, 0);
    assert_int_equal(si.budget_from_cgroup, 0);
    assert_int_equal(si.budget_bytes, 24683520ull * 1024);
    assert_int_equal(si.has_psi, 0);
}

static void
test_sysinfo_v2_found_under_unified_on_hybrid_hosts(void **state)
{
    (void)state;
    rm_sysinfo_t si = read_case("v2_unified");
    assert_int_equal(si.cgroup_version, 2);
    assert_non_null(strstr(si.cgroup_dir, "/unified/user.slice/app"));
    assert_int_equal(si.cgroup_limit_bytes, 104857600);
}

static void
test_sysinfo_v2_namespace_falls_back_to_mount_root(void **state)
{
    (void)state;
    rm_sysinfo_t si = read_case("v2_namespace");
    assert_int_equal(si.cgroup_version, 2);
    assert_int_equal(si.cgroup_usage_bytes, 20971520);
    assert_int_equal(si.cgroup_limit_bytes, 209715200);
}

static void
test_sysinfo_no_cgroup_degrades_cleanly(void **state)
{
    (void)state;
    rm_sysinfo_t si = read_case("none");
    assert_int_equal(si.cgroup_version, 0);
    assert_string_equal(si.cgroup_dir, "");
    assert_int_equal(si.has_rss, 1);
    assert_int_equal(si.has_meminfo, 1);
    assert_int_equal(si.mem_available_bytes, 24403968ull * 1024);
    assert_int_equal(si.budget_bytes, 24683520ull * 1024);
}

static void
test_sysinfo_nothing_readable_gives_zero_budget(void **state)
{
    (void)state;
    rm_sysinfo_t si = read_case("empty");
    assert_int_equal(si.has_rss, 0);
    assert_int_equal(si.has_meminfo, 0);
    assert_int_equal(si.has_psi, 0);
    assert_int_equal(si.cgroup_version, 0);
    assert_int_equal(si.budget_bytes, 0);
}

static void
test_sysinfo_parse_psi_rejects_malformed(void **state)
{
    (void)state;
    rm_psi_t psi;
    assert_int_equal(rm_sysinfo_parse_psi("garbage", &psi), RM_EINVAL);
    assert_int_equal(rm_sysinfo_parse_psi("some avg10=x", &psi), RM_EINVAL);
    assert_int_equal(rm_sysinfo_parse_psi(NULL, &psi), RM_EINVAL);
    /* "full" is optional (kernels before 5.x had no full line for cpu) */
    assert_int_equal(rm_sysinfo_parse_psi("some avg10=1.00 avg60=2.00 avg300=3.00 total=4\n", &psi),
                     RM_OK);
    assert_true(psi.some_avg300 == 3.0);
    assert_true(psi.full_avg10 == 0.0);
}

static void
test_sysinfo_read_live_system_succeeds(void **state)
{
    (void)state;
    rm_sysinfo_t si;
    assert_int_equal(rm_sysinfo_read(NULL, &si), RM_OK);
    assert_int_equal(si.has_rss, 1);
    assert_true(si.rss_bytes > 0);
    assert_int_equal(rm_sysinfo_read(NULL, NULL), RM_EINVAL);
}

/* A configured budget is used up to what the process can have, never above it */
static void
test_sysinfo_effective_budget_is_capped_by_the_machine(void **state)
{
    (void)state;
    rm_sysinfo_t si;
    memset(&si, 0, sizeof si);
    si.budget_bytes = 256u << 20;
    int knob = -1;
    assert_int_equal(rm_sysinfo_effective_budget(&si, 0, &knob), 256u << 20);      /* auto */
    assert_int_equal(knob, 0);
    assert_int_equal(rm_sysinfo_effective_budget(&si, 128u << 20, &knob), 128u << 20);
    assert_int_equal(knob, 1);
    assert_int_equal(rm_sysinfo_effective_budget(&si, 256u << 20, &knob), 256u << 20);
    assert_int_equal(knob, 1);
    assert_int_equal(rm_sysinfo_effective_budget(&si, 1ull << 40, &knob), 256u << 20);  /* capped */
    assert_int_equal(knob, 0);
    si.budget_bytes = 0;                                                            /* nothing known */
    assert_int_equal(rm_sysinfo_effective_budget(&si, 1ull << 40, NULL), 1ull << 40);
    assert_int_equal(rm_sysinfo_effective_budget(&si, 0, &knob), 0);
}

/* ---- the one usage measure (ADR 0013) ------------------------------------ */

static uint64_t
fixture_rss(void)
{
    return 15000ull * (uint64_t)sysconf(_SC_PAGESIZE);   /* statm resident pages of every fixture */
}

/* In a cgroup with a limit: the working set against the limit, whatever RSS says */
static void
test_sysinfo_usage_in_a_limited_cgroup_is_working_set_over_limit(void **state)
{
    (void)state;
    rm_sysinfo_t si = read_case("v1_limit");
    rm_sysinfo_usage_t u;
    assert_int_equal(rm_sysinfo_usage(&si, 0, 0, &u), RM_OK);
    assert_int_equal(u.used_bytes, 58720256 - 6291456);
    assert_int_equal(u.budget_bytes, 268435456);
    assert_string_equal(u.usage_source, "cgroup");
    assert_string_equal(u.budget_source, "cgroup_v1");
    assert_true(u.usage_ratio == (double)(58720256 - 6291456) / 268435456.0);

    si = read_case("v2_limit");
    assert_int_equal(rm_sysinfo_usage(&si, 0, 0, &u), RM_OK);
    assert_int_equal(u.used_bytes, si.cgroup_working_set_bytes);
    assert_int_equal(u.budget_bytes, 536870912);
    assert_string_equal(u.usage_source, "cgroup");
    assert_string_equal(u.budget_source, "cgroup_v2");
}

/* The knob lowers a cgroup's budget but never raises it; usage stays the working set */
static void
test_sysinfo_usage_knob_below_the_cgroup_limit_wins(void **state)
{
    (void)state;
    rm_sysinfo_t si = read_case("v1_limit");
    rm_sysinfo_usage_t u;
    assert_int_equal(rm_sysinfo_usage(&si, 128u << 20, 0, &u), RM_OK);
    assert_int_equal(u.budget_bytes, 128u << 20);
    assert_string_equal(u.budget_source, "knob");
    assert_string_equal(u.usage_source, "cgroup");
    assert_int_equal(u.used_bytes, 58720256 - 6291456);
    assert_int_equal(rm_sysinfo_usage(&si, 1ull << 40, 0, &u), RM_OK);
    assert_int_equal(u.budget_bytes, 268435456);
    assert_string_equal(u.budget_source, "cgroup_v1");
}

/* No cgroup limit: RSS against the knob or MemTotal, capped at what the host
 * can give (RSS + MemAvailable) — on a real host that cap is a little below
 * MemTotal, since the kernel and other processes hold some */
static void
test_sysinfo_usage_on_a_host_is_rss_over_memtotal_or_knob(void **state)
{
    (void)state;
    rm_sysinfo_t si = read_case("none");
    rm_sysinfo_usage_t u;
    assert_int_equal(rm_sysinfo_usage(&si, 0, 0, &u), RM_OK);
    assert_int_equal(u.used_bytes, fixture_rss());
    assert_int_equal(u.budget_bytes, fixture_rss() + 24403968ull * 1024);
    assert_string_equal(u.usage_source, "rss");
    assert_string_equal(u.budget_source, "memavailable");
    assert_int_equal(rm_sysinfo_usage(&si, 1ull << 30, 0, &u), RM_OK);
    assert_int_equal(u.budget_bytes, 1ull << 30);
    assert_string_equal(u.budget_source, "knob");
    assert_true(u.usage_ratio == (double)fixture_rss() / (double)(1ull << 30));
    /* everything else free: MemTotal itself */
    si.mem_available_bytes = si.mem_total_bytes - fixture_rss();
    assert_int_equal(rm_sysinfo_usage(&si, 0, 0, &u), RM_OK);
    assert_int_equal(u.budget_bytes, 24683520ull * 1024);
    assert_string_equal(u.budget_source, "memtotal");
    /* an unlimited cgroup is no limit: the host rule */
    si = read_case("v1_unlimited");
    assert_int_equal(rm_sysinfo_usage(&si, 0, 0, &u), RM_OK);
    assert_string_equal(u.usage_source, "rss");
    assert_string_equal(u.budget_source, "memavailable");
}

/* A host short of memory through other processes: the budget is what it can
 * still give (RSS + MemAvailable), below both MemTotal and the knob */
static void
test_sysinfo_usage_on_a_tight_host_is_capped_by_memavailable(void **state)
{
    (void)state;
    rm_sysinfo_t si = read_case("host_tight");
    uint64_t can = fixture_rss() + 204800ull * 1024;
    rm_sysinfo_usage_t u;
    assert_int_equal(rm_sysinfo_usage(&si, 0, 0, &u), RM_OK);
    assert_int_equal(u.budget_bytes, can);
    assert_string_equal(u.budget_source, "memavailable");
    assert_string_equal(u.usage_source, "rss");
    assert_true(u.usage_ratio == (double)fixture_rss() / (double)can);
    assert_true(u.usage_ratio > 0.2);   /* 58.6 / 258.6 MiB; MemTotal would say 0.002 */
    assert_int_equal(rm_sysinfo_usage(&si, 1ull << 30, 0, &u), RM_OK);
    assert_int_equal(u.budget_bytes, can);
    assert_string_equal(u.budget_source, "memavailable");
    /* a knob below what the host can give still wins */
    assert_int_equal(rm_sysinfo_usage(&si, 128u << 20, 0, &u), RM_OK);
    assert_int_equal(u.budget_bytes, 128u << 20);
    assert_string_equal(u.budget_source, "knob");
}

/* Usage is never below what memcore holds; the source then says so */
static void
test_sysinfo_usage_is_never_below_memcore_held(void **state)
{
    (void)state;
    rm_sysinfo_t si = read_case("v1_limit");
    rm_sysinfo_usage_t u;
    assert_int_equal(rm_sysinfo_usage(&si, 0, 100u << 20, &u), RM_OK);
    assert_int_equal(u.used_bytes, 100u << 20);
    assert_string_equal(u.usage_source, "memcore");
    assert_string_equal(u.budget_source, "cgroup_v1");
    si = read_case("none");
    assert_int_equal(rm_sysinfo_usage(&si, 0, 1u << 20, &u), RM_OK);
    assert_string_equal(u.usage_source, "rss");   /* below RSS: no effect */
    assert_int_equal(u.used_bytes, fixture_rss());
}

/* Nothing readable: memcore's accounting against the knob, or no budget at all */
static void
test_sysinfo_usage_without_sources_uses_memcore_or_reports_none(void **state)
{
    (void)state;
    rm_sysinfo_t si = read_case("empty");
    rm_sysinfo_usage_t u;
    assert_int_equal(rm_sysinfo_usage(&si, 0, 4096, &u), RM_OK);
    assert_int_equal(u.budget_bytes, 0);
    assert_string_equal(u.budget_source, "none");
    assert_true(u.usage_ratio == 0.0);
    assert_int_equal(rm_sysinfo_usage(&si, 1ull << 30, 4096, &u), RM_OK);
    assert_int_equal(u.budget_bytes, 1ull << 30);
    assert_string_equal(u.budget_source, "knob");
    assert_string_equal(u.usage_source, "memcore");
    assert_int_equal(u.used_bytes, 4096);
    assert_int_equal(rm_sysinfo_usage(NULL, 0, 0, &u), RM_EINVAL);
    assert_int_equal(rm_sysinfo_usage(&si, 0, 0, NULL), RM_EINVAL);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sysinfo_v1_reads_limit_usage_and_counters),
        cmocka_unit_test(test_sysinfo_v1_working_set_subtracts_total_inactive_file),
        cmocka_unit_test(test_sysinfo_v1_budget_is_cgroup_limit_when_set),
        cmocka_unit_test(test_sysinfo_v1_unlimited_gives_zero_limit_and_meminfo_budget),
        cmocka_unit_test(test_sysinfo_psi_present_is_parsed),
        cmocka_unit_test(test_sysinfo_psi_absent_is_reported_absent),
        cmocka_unit_test(test_sysinfo_v2_reads_max_high_events),
        cmocka_unit_test(test_sysinfo_v2_working_set_and_budget),
        cmocka_unit_test(test_sysinfo_v2_max_means_unlimited),
        cmocka_unit_test(test_sysinfo_v2_found_under_unified_on_hybrid_hosts),
        cmocka_unit_test(test_sysinfo_v2_namespace_falls_back_to_mount_root),
        cmocka_unit_test(test_sysinfo_no_cgroup_degrades_cleanly),
        cmocka_unit_test(test_sysinfo_nothing_readable_gives_zero_budget),
        cmocka_unit_test(test_sysinfo_parse_psi_rejects_malformed),
        cmocka_unit_test(test_sysinfo_read_live_system_succeeds),
        cmocka_unit_test(test_sysinfo_effective_budget_is_capped_by_the_machine),
        cmocka_unit_test(test_sysinfo_usage_in_a_limited_cgroup_is_working_set_over_limit),
        cmocka_unit_test(test_sysinfo_usage_knob_below_the_cgroup_limit_wins),
        cmocka_unit_test(test_sysinfo_usage_on_a_host_is_rss_over_memtotal_or_knob),
        cmocka_unit_test(test_sysinfo_usage_on_a_tight_host_is_capped_by_memavailable),
        cmocka_unit_test(test_sysinfo_usage_is_never_below_memcore_held),
        cmocka_unit_test(test_sysinfo_usage_without_sources_uses_memcore_or_reports_none),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
