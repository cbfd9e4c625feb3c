/*
 * test_fleet_policy.c — rustymem-fleet's pure pieces: agent list and agents
 * file parsing, DNS spec handling, level from usage ratio, selectors, level
 * names, and the early-response decision.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fleet.h"
#include "fleet_internal.h"

/* ---- discovery parsing ---------------------------------------------------- */

static void
test_fleet_parse_list_splits_and_trims(void **state)
{
    (void)state;
    rm_fleet_target_t *t = NULL;
    size_t n = 0;
    char err[256] = "";
    assert_int_equal(rm_fleet_parse_list(" 127.0.0.1:1 ,[::1]:2,unix:/tmp/s", &t, &n, err, sizeof err), RM_OK);
    assert_int_equal(n, 3);
    assert_string_equal(t[0].name, "127.0.0.1:1");
    assert_string_equal(t[0].address, "127.0.0.1:1");
    assert_string_equal(t[1].address, "[::1]:2");
    assert_string_equal(t[2].address, "unix:/tmp/s");
    assert_int_equal(t[0].n_labels, 0);
    free(t);
}

static void
test_fleet_parse_list_rejects_missing_port(void **state)
{
    (void)state;
    rm_fleet_target_t *t = (void *)1;
    size_t n = 7;
    char err[256] = "";
    assert_int_equal(rm_fleet_parse_list("a:1,b", &t, &n, err, sizeof err), RM_EINVAL);
    assert_null(t);
    assert_int_equal(n, 0);
    assert_non_null(strstr(err, "'b'"));
}

static void
test_fleet_parse_list_rejects_empty_item_and_duplicates(void **state)
{
    (void)state;
    rm_fleet_target_t *t;
    size_t n;
    char err[256];
    assert_int_equal(rm_fleet_parse_list("a:1,,b:2", &t, &n, err, sizeof err), RM_EINVAL);
    assert_non_null(strstr(err, "empty"));
    assert_int_equal(rm_fleet_parse_list("a:1,a:1", &t, &n, err, sizeof err), RM_EINVAL);
    assert_non_null(strstr(err, "twice"));
    assert_int_equal(rm_fleet_parse_list("a:0", &t, &n, err, sizeof err), RM_EINVAL);
    assert_int_equal(rm_fleet_parse_list("a:70000", &t, &n, err, sizeof err), RM_EINVAL);
}

static void
test_fleet_parse_text_reads_names_addresses_labels(void **state)
{
    (void)state;
    rm_fleet_target_t *t = NULL;
    size_t n = 0;
    char err[256] = "";
    const char *text = "# fleet\n\nnode-a 10.0.0.1:50051 role=db zone=eu-1  # primary\n"
                       "node-b\t10.0.0.2:50051\r\n";
    assert_int_equal(rm_fleet_parse_text(text, "agents.txt", &t, &n, err, sizeof err), RM_OK);
    assert_int_equal(n, 2);
    assert_string_equal(t[0].name, "node-a");
    assert_string_equal(t[0].address, "10.0.0.1:50051");
    assert_int_equal(t[0].n_labels, 2);
    assert_string_equal(t[0].labels[0].key, "role");
    assert_string_equal(t[0].labels[0].value, "db");
    assert_string_equal(t[0].labels[1].key, "zone");
    assert_string_equal(t[0].labels[1].value, "eu-1");
    assert_string_equal(t[1].name, "node-b");
    assert_int_equal(t[1].n_labels, 0);
    free(t);
}

static void
test_fleet_parse_text_names_file_and_line_on_error(void **state)
{
    (void)state;
    rm_fleet_target_t *t = (void *)1;
    size_t n = 3;
    char err[256] = "";
    assert_int_equal(rm_fleet_parse_text("a 1.2.3.4:5\nb 1.2.3.4:6 nolabel\n", "f.txt", &t, &n, err, sizeof err),
                     RM_EINVAL);
    assert_null(t);
    assert_int_equal(n, 0);
    assert_non_null(strstr(err, "f.txt:2: label 'nolabel'"));
    assert_int_equal(rm_fleet_parse_text("lonely\n", "f.txt", &t, &n, err, sizeof err), RM_EINVAL);
    assert_non_null(strstr(err, "f.txt:1:"));
    assert_int_equal(rm_fleet_parse_text("a 1.2.3.4:5\na 1.2.3.4:6\n", "f.txt", &t, &n, err, sizeof err), RM_EINVAL);
    assert_non_null(strstr(err, "used twice"));
}

/* docs/deploy.md and the systemd unit document one HOST:PORT per line: accepted, named by the address. */
static void
test_fleet_parse_text_accepts_bare_host_port_lines(void **state)
{
    (void)state;
    rm_fleet_target_t *t = NULL;
    size_t n = 0;
    char err[256] = "";
    assert_int_equal(rm_fleet_parse_text("# agents\n10.0.0.5:50051\n[::1]:50051\nnamed 10.0.0.6:50051 zone=a\n", "f",
                                         &t, &n, err, sizeof err),
                     RM_OK);
    assert_int_equal(n, 3);
    assert_string_equal(t[0].name, "10.0.0.5:50051");
    assert_string_equal(t[0].address, "10.0.0.5:50051");
    assert_string_equal(t[1].address, "[::1]:50051");
    assert_string_equal(t[2].name, "named");
    free(t);
    t = NULL;
    assert_int_equal(rm_fleet_parse_text("10.0.0.5:50051\n10.0.0.5:50051\n", "f", &t, &n, err, sizeof err), RM_EINVAL);
    assert_non_null(strstr(err, "f:2:"));
    assert_int_equal(rm_fleet_parse_text("10.0.0.5:99999\n", "f", &t, &n, err, sizeof err), RM_EINVAL);
    assert_non_null(strstr(err, "f:1: '10.0.0.5:99999' is neither HOST:PORT"));
}

/* ADR 0026: HOST:PORT/AUTHORITY = connect to HOST:PORT, send :authority AUTHORITY. */
static void
test_fleet_parse_text_accepts_authority_suffix(void **state)
{
    (void)state;
    rm_fleet_target_t *t = NULL;
    size_t n = 0;
    char err[256] = "";
    assert_int_equal(rm_fleet_parse_text("sim-7 127.0.0.1:5000/sim-7 zone=z3\n127.0.0.1:5001/sim-8\n", "a.txt", &t,
                                         &n, err, sizeof err),
                     RM_OK);
    assert_int_equal(n, 2);
    assert_string_equal(t[0].address, "127.0.0.1:5000/sim-7");
    assert_string_equal(t[1].name, "127.0.0.1:5001/sim-8");
    char hp[64], au[64];
    assert_int_equal(rm__fleet_split_address(t[0].address, hp, sizeof hp, au, sizeof au), 1);
    assert_string_equal(hp, "127.0.0.1:5000");
    assert_string_equal(au, "sim-7");
    assert_int_equal(rm__fleet_split_address("[::1]:50051", hp, sizeof hp, au, sizeof au), 1);
    assert_string_equal(au, "");
    assert_int_equal(rm__fleet_split_address("unix:/run/a/b.sock", hp, sizeof hp, au, sizeof au), 1);
    assert_string_equal(hp, "unix:/run/a/b.sock");
    free(t);
    /* An empty or odd authority, or a missing port before it, names the line. */
    const char *bad[] = {"x 127.0.0.1:5000/\n", "x 127.0.0.1:5000/a$b\n", "x 127.0.0.1/sim-1\n"};
    for (size_t i = 0; i < 3; i++) {
        t = (void *)1;
        assert_int_equal(rm_fleet_parse_text(bad[i], "a.txt", &t, &n, err, sizeof err), RM_EINVAL);
        assert_null(t);
        assert_non_null(strstr(err, "a.txt:1: address"));
    }
}

static void
test_fleet_parse_text_empty_is_empty_fleet(void **state)
{
    (void)state;
    rm_fleet_target_t *t = (void *)1;
    size_t n = 3;
    char err[64];
    assert_int_equal(rm_fleet_parse_text("# nobody yet\n", "f", &t, &n, err, sizeof err), RM_OK);
    assert_int_equal(n, 0);
    free(t);
}

static void
test_fleet_read_file_reports_missing_file(void **state)
{
    (void)state;
    rm_fleet_target_t *t;
    size_t n;
    char err[256] = "";
    assert_int_equal(rm_fleet_read_file("/nonexistent/agents.txt", &t, &n, err, sizeof err), RM_EIO);
    assert_non_null(strstr(err, "/nonexistent/agents.txt"));
}

static void
test_fleet_resolve_dns_numeric_and_bad_spec(void **state)
{
    (void)state;
    rm_fleet_target_t *t = NULL;
    size_t n = 0;
    char err[256] = "";
    assert_int_equal(rm_fleet_resolve_dns("127.0.0.1:50051", &t, &n, err, sizeof err), RM_OK);
    assert_int_equal(n, 1);
    assert_string_equal(t[0].name, "127.0.0.1:50051");
    free(t);
    assert_int_equal(rm_fleet_resolve_dns("[::1]:7", &t, &n, err, sizeof err), RM_OK);
    assert_int_equal(n, 1);
    assert_string_equal(t[0].address, "[::1]:7");
    free(t);
    assert_int_equal(rm_fleet_resolve_dns("nohost", &t, &n, err, sizeof err), RM_EINVAL);
    assert_null(t);
}

/* ---- levels, selectors, policy ----------------------------------------------- */

static void
test_fleet_level_from_ratio_uses_thresholds_inclusively(void **state)
{
    (void)state;
    rm_fleet_thresholds_t t = rm_fleet_default_thresholds();
    assert_int_equal(rm_fleet_level_from_ratio(0.0, &t), 1);
    assert_int_equal(rm_fleet_level_from_ratio(0.699, &t), 1);
    assert_int_equal(rm_fleet_level_from_ratio(0.70, &t), 2);
    assert_int_equal(rm_fleet_level_from_ratio(0.80, &t), 3);
    assert_int_equal(rm_fleet_level_from_ratio(0.90, &t), 4);
    assert_int_equal(rm_fleet_level_from_ratio(0.95, &t), 5);
    assert_int_equal(rm_fleet_level_from_ratio(1.7, &t), 5);
    rm_fleet_thresholds_t low = {.warning = 0.05, .high = 0.06, .critical = 0.07, .emergency = 0.08};
    assert_int_equal(rm_fleet_level_from_ratio(0.065, &low), 3);
}

static void
test_fleet_selector_matches_names_and_all_labels(void **state)
{
    (void)state;
    rm_fleet_label_t have[2] = {{"role", "db"}, {"zone", "a"}};
    rm_fleet_label_t want_db = {"role", "db"}, want_b = {"zone", "b"};
    const char *names[] = {"n2", "agent-7"};
    assert_true(rm_fleet_selector_match(NULL, 0, NULL, 0, "n1", "", have, 2));
    assert_true(rm_fleet_selector_match(NULL, 0, &want_db, 1, "n1", "", have, 2));
    assert_false(rm_fleet_selector_match(NULL, 0, &want_b, 1, "n1", "", have, 2));
    assert_false(rm_fleet_selector_match(names, 2, NULL, 0, "n1", "", have, 2));
    assert_true(rm_fleet_selector_match(names, 2, NULL, 0, "n2", "", have, 2));
    /* the agent-reported name matches too (DNS-discovered nodes are named by address) */
    assert_true(rm_fleet_selector_match(names, 2, &want_db, 1, "10.0.0.9:50051", "agent-7", have, 2));
    assert_false(rm_fleet_selector_match(names, 2, &want_b, 1, "n2", "", have, 2));
}

static void
test_fleet_level_names_round_trip(void **state)
{
    (void)state;
    for (int l = 1; l <= 5; l++)
        assert_int_equal(rm_fleet_level_parse(rm_fleet_level_name(l)), l);
    assert_int_equal(rm_fleet_level_parse("emergency"), 4);
    assert_int_equal(rm_fleet_level_parse("PRESSURE_LEVEL_GENTLE"), 2);
    assert_int_equal(rm_fleet_level_parse("3"), 3);
    assert_int_equal(rm_fleet_level_parse("severe"), -1);
    assert_int_equal(rm_fleet_level_parse("9"), -1);
    assert_string_equal(rm_fleet_level_name(42), "UNKNOWN");
}

static void
test_fleet_policy_ignores_calm_node(void **state)
{
    (void)state;
    rm_fleet_pressure_t p = {.level = 2, .n_horizons = 1,
                             .horizons = {{.horizon_seconds = 30, .predicted_level = 3, .confidence = 0.95}}};
    char why[256];
    assert_int_equal(rm_fleet_policy_decide(&p, 4, 0.7, 60, why, sizeof why), 0);
}

static void
test_fleet_policy_acts_on_confident_forecast(void **state)
{
    (void)state;
    rm_fleet_pressure_t p = {.level = 2, .n_horizons = 2,
                             .horizons = {{.horizon_seconds = 30, .predicted_level = 4, .confidence = 0.9},
                                          {.horizon_seconds = 120, .predicted_level = 5, .confidence = 0.5}}};
    char why[256];
    assert_int_equal(rm_fleet_policy_decide(&p, 4, 0.7, 60, why, sizeof why), 4);
    assert_non_null(strstr(why, "forecast EMERGENCY in 30 s"));
}

static void
test_fleet_policy_ignores_forecast_below_confidence(void **state)
{
    (void)state;
    rm_fleet_pressure_t p = {.level = 1, .n_horizons = 1,
                             .horizons = {{.horizon_seconds = 60, .predicted_level = 5, .confidence = 0.69}}};
    char why[256];
    assert_int_equal(rm_fleet_policy_decide(&p, 4, 0.7, 60, why, sizeof why), 0);
}

static void
test_fleet_policy_acts_on_current_level(void **state)
{
    (void)state;
    rm_fleet_pressure_t p = {.level = 5};
    char why[256];
    assert_int_equal(rm_fleet_policy_decide(&p, 4, 0.7, 60, why, sizeof why), 5);
    assert_non_null(strstr(why, "current level OOM_PREVENTION"));
}

static void
test_fleet_policy_acts_on_near_time_to_critical(void **state)
{
    (void)state;
    rm_fleet_pressure_t p = {.level = 2, .has_ttc = 1, .ttc_seconds = 20, .ttc_confidence = 0.8};
    char why[256];
    assert_int_equal(rm_fleet_policy_decide(&p, 3, 0.7, 60, why, sizeof why), 4);
    p.ttc_seconds = 90;
    assert_int_equal(rm_fleet_policy_decide(&p, 3, 0.7, 60, why, sizeof why), 0);
    p.ttc_seconds = 20;
    p.ttc_confidence = 0.3;
    assert_int_equal(rm_fleet_policy_decide(&p, 3, 0.7, 60, why, sizeof why), 0);
}

static void
test_fleet_policy_asks_at_least_gentle(void **state)
{
    (void)state;
    rm_fleet_pressure_t p = {.level = 1};
    char why[256];
    assert_int_equal(rm_fleet_policy_decide(&p, 1, 0.7, 60, why, sizeof why), 2);
}

/* ---- controller without agents ------------------------------------------------ */

static void
test_fleet_create_rejects_bad_options(void **state)
{
    (void)state;
    rm_fleet_t *f = (void *)1;
    char err[256];
    rm_fleet_opts_t o = {.source = RM_FLEET_SOURCE_LIST};
    assert_int_equal(rm_fleet_create(&o, &f, err, sizeof err), RM_EINVAL);
    assert_null(f);
    rm_fleet_opts_t o2 = {.trigger_level = 9};
    assert_int_equal(rm_fleet_create(&o2, &f, err, sizeof err), RM_EINVAL);
    assert_null(f);
    rm_fleet_opts_t o3 = {.poll_threads = RM_FLEET_MAX_POLL_THREADS + 1};
    assert_int_equal(rm_fleet_create(&o3, &f, err, sizeof err), RM_EINVAL);
    assert_null(f);
    assert_non_null(strstr(err, "poll threads"));
}

static void
test_fleet_set_targets_reconciles_node_set(void **state)
{
    (void)state;
    rm_fleet_t *f = NULL;
    char err[256];
    /* nothing listens on port 1: the pollers just record the failures */
    rm_fleet_opts_t o = {.poll_ms = 50, .rpc_timeout_ms = 50, .backoff_max_ms = 100, .no_early_response = 1};
    assert_int_equal(rm_fleet_create(&o, &f, err, sizeof err), RM_OK);
    assert_int_equal(rm_fleet_start(f, err, sizeof err), RM_OK);
    rm_fleet_target_t *t;
    size_t n;
    assert_int_equal(rm_fleet_parse_text("a 127.0.0.1:1\nb 127.0.0.1:1\nc 127.0.0.1:1\n", "x", &t, &n, err,
                                         sizeof err),
                     RM_OK);
    assert_int_equal(rm_fleet_set_targets(f, t, n), RM_OK);
    assert_int_equal(rm_fleet_node_count(f), 3);
    assert_int_equal(rm_fleet_set_targets(f, t + 1, 1), RM_OK);
    assert_int_equal(rm_fleet_node_count(f), 1);
    rm_fleet_result_t r;
    const char *names[] = {"a"};
    rm_fleet_selector_t sel = {.names = names, .n_names = 1};
    assert_int_equal(rm_fleet_trigger_response(f, &sel, 4, &r), RM_ENOENT);
    rm_fleet_rollout_t ro = {.selector = sel, .workload = 1, .environment = 2};
    assert_int_equal(rm_fleet_apply_profile(f, &ro, &r), RM_ENOENT);
    ro.workload = 0;
    assert_int_equal(rm_fleet_apply_profile(f, &ro, &r), RM_EINVAL);
    free(t);
    rm_fleet_destroy(f);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fleet_parse_list_splits_and_trims),
        cmocka_unit_test(test_fleet_parse_list_rejects_missing_port),
        cmocka_unit_test(test_fleet_parse_list_rejects_empty_item_and_duplicates),
        cmocka_unit_test(test_fleet_parse_text_reads_names_addresses_labels),
        cmocka_unit_test(test_fleet_parse_text_accepts_bare_host_port_lines),
        cmocka_unit_test(test_fleet_parse_text_accepts_authority_suffix),
        cmocka_unit_test(test_fleet_parse_text_names_file_and_line_on_error),
        cmocka_unit_test(test_fleet_parse_text_empty_is_empty_fleet),
        cmocka_unit_test(test_fleet_read_file_reports_missing_file),
        cmocka_unit_test(test_fleet_resolve_dns_numeric_and_bad_spec),
        cmocka_unit_test(test_fleet_level_from_ratio_uses_thresholds_inclusively),
        cmocka_unit_test(test_fleet_selector_matches_names_and_all_labels),
        cmocka_unit_test(test_fleet_level_names_round_trip),
        cmocka_unit_test(test_fleet_policy_ignores_calm_node),
        cmocka_unit_test(test_fleet_policy_acts_on_confident_forecast),
        cmocka_unit_test(test_fleet_policy_ignores_forecast_below_confidence),
        cmocka_unit_test(test_fleet_policy_acts_on_current_level),
        cmocka_unit_test(test_fleet_policy_acts_on_near_time_to_critical),
        cmocka_unit_test(test_fleet_policy_asks_at_least_gentle),
        cmocka_unit_test(test_fleet_create_rejects_bad_options),
        cmocka_unit_test(test_fleet_set_targets_reconciles_node_set),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
