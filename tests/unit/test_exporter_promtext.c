/*
 * test_exporter_promtext.c — rustymem-exporter's exposition registry and the
 * descriptor-driven protobuf → metrics conversion, on hand-built messages.
 *
 * exp_metrics.c has no gRPC or HTTP dependency; it is compiled into this
 * binary directly (the exporter is an executable, not a library).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../agents/exporter/exp_metrics.c"
#include "rustymem/v1/forecast.pb-c.h"
#include "rustymem/v1/memory.pb-c.h"

/* Render reg into a NUL-terminated text the test frees. */
static char *
render(rm_exp_reg_t *reg)
{
    char *text = NULL;
    size_t len = 0;
    assert_int_equal(rm_exp_reg_render(reg, &text, &len), RM_OK);
    assert_int_equal(strlen(text), len);
    return text;
}

static int
has_line(const char *text, const char *line)
{
    size_t n = strlen(line);
    for (const char *p = text; (p = strstr(p, line)) != NULL; p++)
        if ((p == text || p[-1] == '\n') && (p[n] == '\n' || p[n] == '\0'))
            return 1;
    return 0;
}

static void
test_exporter_unit_name_converts_to_base_units(void **state)
{
    char out[RM_EXP_NAME_MAX + 1];
    double scale;
    rm_exp_unit_name("some_avg10_percent", out, sizeof out, &scale);
    assert_string_equal(out, "some_avg10_ratio");
    assert_true(scale == 0.01);
    rm_exp_unit_name("percentage", out, sizeof out, &scale);
    assert_string_equal(out, "ratio");
    rm_exp_unit_name("since_unix_ms", out, sizeof out, &scale);
    assert_string_equal(out, "since_timestamp_seconds");
    assert_true(scale == 0.001);
    rm_exp_unit_name("timestamp_unix_ms", out, sizeof out, &scale);
    assert_string_equal(out, "timestamp_seconds");
    rm_exp_unit_name("wait_ms_total", out, sizeof out, &scale);
    assert_string_equal(out, "wait_seconds_total");
    rm_exp_unit_name("used_bytes", out, sizeof out, &scale);
    assert_string_equal(out, "used_bytes");
    assert_true(scale == 1.0);
}

static void
test_exporter_label_append_escapes_quotes_backslashes_newlines(void **state)
{
    char buf[128] = "";
    assert_int_equal(rm_exp_label_append(buf, sizeof buf, "a", "x\"y\\z\nw"), RM_OK);
    assert_int_equal(rm_exp_label_append(buf, sizeof buf, "b", "2"), RM_OK);
    assert_string_equal(buf, "a=\"x\\\"y\\\\z\\nw\",b=\"2\"");
}

static void
test_exporter_label_append_refuses_when_full(void **state)
{
    char buf[12] = "";
    assert_int_equal(rm_exp_label_append(buf, sizeof buf, "a", "1"), RM_OK);
    assert_int_equal(rm_exp_label_append(buf, sizeof buf, "long", "value"), RM_ELIMIT);
    assert_string_equal(buf, "a=\"1\""); /* unchanged */
}

static void
test_exporter_reg_groups_interleaved_samples_by_family(void **state)
{
    rm_exp_reg_t *reg;
    assert_int_equal(rm_exp_reg_create(&reg), RM_OK);
    assert_int_equal(rm_exp_reg_add(reg, "x_bytes", RM_EXP_GAUGE, "X", "c=\"a\"", 1), RM_OK);
    assert_int_equal(rm_exp_reg_add(reg, "y_total", RM_EXP_COUNTER, "Y", "c=\"a\"", 2), RM_OK);
    assert_int_equal(rm_exp_reg_add(reg, "x_bytes", RM_EXP_GAUGE, NULL, "c=\"b\"", 3), RM_OK);
    char *t = render(reg);
    assert_string_equal(t, "# HELP x_bytes X\n# TYPE x_bytes gauge\nx_bytes{c=\"a\"} 1\nx_bytes{c=\"b\"} 3\n"
                           "# HELP y_total Y\n# TYPE y_total counter\ny_total{c=\"a\"} 2\n");
    free(t);
    assert_int_equal(rm_exp_reg_families(reg), 2);
    assert_int_equal(rm_exp_reg_samples(reg), 3);
    rm_exp_reg_destroy(reg);
}

static void
test_exporter_reg_add_rejects_duplicates_type_clash_and_bad_names(void **state)
{
    rm_exp_reg_t *reg;
    assert_int_equal(rm_exp_reg_create(&reg), RM_OK);
    assert_int_equal(rm_exp_reg_add(reg, "a", RM_EXP_GAUGE, "h", NULL, 1), RM_OK);
    assert_int_equal(rm_exp_reg_add(reg, "a", RM_EXP_GAUGE, "h", "", 2), RM_EINVAL);
    assert_int_equal(rm_exp_reg_add(reg, "a", RM_EXP_COUNTER, "h", "l=\"1\"", 2), RM_EINVAL);
    assert_int_equal(rm_exp_reg_add(reg, "9bad", RM_EXP_GAUGE, "h", NULL, 1), RM_EINVAL);
    assert_int_equal(rm_exp_reg_add(reg, "bad-name", RM_EXP_GAUGE, "h", NULL, 1), RM_EINVAL);
    assert_int_equal(rm_exp_reg_samples(reg), 1); /* state unchanged by the refusals */
    rm_exp_reg_destroy(reg);
}

static void
test_exporter_reg_grows_past_its_first_hash_table(void **state)
{
    rm_exp_reg_t *reg;
    assert_int_equal(rm_exp_reg_create(&reg), RM_OK);
    char name[32];
    for (int i = 0; i < 1000; i++) {
        snprintf(name, sizeof name, "m_%d", i);
        assert_int_equal(rm_exp_reg_add(reg, name, RM_EXP_GAUGE, "h", NULL, i), RM_OK);
    }
    assert_int_equal(rm_exp_reg_families(reg), 1000);
    assert_true(rm_exp_reg_has(reg, "m_0"));
    assert_true(rm_exp_reg_has(reg, "m_999"));
    assert_false(rm_exp_reg_has(reg, "m_1000"));
    rm_exp_reg_destroy(reg);
}

static void
test_exporter_values_render_integers_exactly_and_specials(void **state)
{
    rm_exp_reg_t *reg;
    assert_int_equal(rm_exp_reg_create(&reg), RM_OK);
    rm_exp_reg_add(reg, "big", RM_EXP_GAUGE, "h", NULL, 25276510208.0);
    rm_exp_reg_add(reg, "frac", RM_EXP_GAUGE, "h", NULL, 0.7);
    rm_exp_reg_add(reg, "nan", RM_EXP_GAUGE, "h", NULL, NAN);
    rm_exp_reg_add(reg, "inf", RM_EXP_GAUGE, "h", NULL, -INFINITY);
    char *t = render(reg);
    assert_true(has_line(t, "big 25276510208"));
    assert_true(has_line(t, "frac 0.7"));
    assert_true(has_line(t, "nan NaN"));
    assert_true(has_line(t, "inf -Inf"));
    free(t);
    rm_exp_reg_destroy(reg);
}

static void
test_exporter_convert_memory_stats_flattens_nested_and_labels_components(void **state)
{
    Rustymem__V1__MemoryStats ms = RUSTYMEM__V1__MEMORY_STATS__INIT;
    Rustymem__V1__CgroupStats cg = RUSTYMEM__V1__CGROUP_STATS__INIT;
    Rustymem__V1__PsiStats psi = RUSTYMEM__V1__PSI_STATS__INIT;
    Rustymem__V1__ComponentUsage c1 = RUSTYMEM__V1__COMPONENT_USAGE__INIT, c2 = RUSTYMEM__V1__COMPONENT_USAGE__INIT;
    Rustymem__V1__ComponentUsage *comps[] = {&c1, &c2};
    ms.rss_bytes = 1048576;
    ms.budget_bytes = 4194304;
    ms.usage_ratio = 0.25;
    ms.budget_source = "memtotal";
    ms.node_name = "n1";
    ms.timestamp_unix_ms = 1500;
    cg.oom_kills_total = 3;
    cg.path = "/sys/fs/cgroup/x";
    ms.cgroup = &cg;
    psi.available = 1;
    psi.some_avg10_percent = 12.5;
    ms.psi = &psi;
    c1.component = "slab";
    c1.used_bytes = 100;
    c1.percentage = 50;
    c2.component = "arena";
    c2.used_bytes = 7;
    ms.components = comps;
    ms.n_components = 2;

    rm_exp_reg_t *reg;
    assert_int_equal(rm_exp_reg_create(&reg), RM_OK);
    assert_true(rm_exp_convert(reg, &ms.base, "memory", "test/GetMemoryStats", NULL) > 10);
    char *t = render(reg);
    assert_true(has_line(t, "rustymem_memory_rss_bytes 1048576"));
    assert_true(has_line(t, "rustymem_memory_usage_ratio 0.25"));
    assert_true(has_line(t, "rustymem_memory_timestamp_seconds 1.5"));
    assert_true(has_line(t, "# TYPE rustymem_memory_cgroup_oom_kills_total counter"));
    assert_true(has_line(t, "rustymem_memory_cgroup_oom_kills_total 3"));
    assert_true(has_line(t, "rustymem_memory_cgroup_info{path=\"/sys/fs/cgroup/x\"} 1"));
    assert_true(has_line(t, "rustymem_memory_psi_available 1"));
    assert_true(has_line(t, "rustymem_memory_psi_some_avg10_ratio 0.125"));
    assert_true(has_line(t, "rustymem_memory_component_used_bytes{component=\"slab\"} 100"));
    assert_true(has_line(t, "rustymem_memory_component_used_bytes{component=\"arena\"} 7"));
    assert_true(has_line(t, "rustymem_memory_component_ratio{component=\"slab\"} 0.5"));
    assert_true(has_line(t, "rustymem_memory_info{budget_source=\"memtotal\",node_name=\"n1\"} 1"));
    assert_null(strstr(t, "# TYPE rustymem_memory_rss_bytes counter"));
    assert_null(strstr(t, "jemalloc")); /* absent sub-message: nothing */
    free(t);
    rm_exp_reg_destroy(reg);
}

static void
test_exporter_convert_slab_nested_repeated_accumulates_labels(void **state)
{
    Rustymem__V1__SlabStats s = RUSTYMEM__V1__SLAB_STATS__INIT;
    Rustymem__V1__SlabClassStats c = RUSTYMEM__V1__SLAB_CLASS_STATS__INIT;
    Rustymem__V1__SlabNodeStats n0 = RUSTYMEM__V1__SLAB_NODE_STATS__INIT;
    Rustymem__V1__SlabClassStats *classes[] = {&c};
    Rustymem__V1__SlabNodeStats *nodes[] = {&n0};
    c.object_size_bytes = 64;
    c.name = "lock_entry";
    c.allocs_total = 10;
    c.magazine_hit_ratio = 0.5;
    n0.numa_node = 0;
    n0.slabs = 4;
    c.nodes = nodes;
    c.n_nodes = 1;
    s.classes = classes;
    s.n_classes = 1;

    rm_exp_reg_t *reg;
    assert_int_equal(rm_exp_reg_create(&reg), RM_OK);
    rm_exp_convert(reg, &s.base, "slab", "test/GetSlabStats", NULL);
    char *t = render(reg);
    assert_true(has_line(t, "# TYPE rustymem_slab_class_allocs_total counter"));
    assert_true(has_line(t, "rustymem_slab_class_allocs_total{size_class=\"64\",name=\"lock_entry\"} 10"));
    assert_true(has_line(t, "rustymem_slab_class_magazine_hit_ratio{size_class=\"64\",name=\"lock_entry\"} 0.5"));
    assert_true(
        has_line(t, "rustymem_slab_class_node_slabs{size_class=\"64\",name=\"lock_entry\",numa_node=\"0\"} 4"));
    assert_null(strstr(t, "object_size_bytes")); /* identifying fields are labels, not values */
    free(t);
    rm_exp_reg_destroy(reg);
}

static void
test_exporter_convert_forecast_skips_guarded_field_and_exports_enums(void **state)
{
    Rustymem__V1__Forecast f = RUSTYMEM__V1__FORECAST__INIT;
    Rustymem__V1__HorizonForecast h = RUSTYMEM__V1__HORIZON_FORECAST__INIT;
    Rustymem__V1__HorizonForecast *hs[] = {&h};
    f.current_level = RUSTYMEM__V1__PRESSURE_LEVEL__PRESSURE_LEVEL_GENTLE;
    f.has_time_to_critical = 0;
    f.time_to_critical_seconds = 99;
    h.horizon_seconds = 30;
    h.confidence = 0.9;
    f.horizons = hs;
    f.n_horizons = 1;

    rm_exp_reg_t *reg;
    assert_int_equal(rm_exp_reg_create(&reg), RM_OK);
    rm_exp_convert(reg, &f.base, "forecast", "test/GetForecast", NULL);
    char *t = render(reg);
    assert_true(has_line(t, "rustymem_forecast_current_level 2"));
    assert_non_null(strstr(t, "2=gentle"));
    assert_true(has_line(t, "rustymem_forecast_has_time_to_critical 0"));
    assert_null(strstr(t, "rustymem_forecast_time_to_critical_seconds"));
    assert_true(has_line(t, "rustymem_forecast_horizon_confidence{horizon_seconds=\"30\"} 0.9"));
    free(t);
    rm_exp_reg_destroy(reg);

    f.has_time_to_critical = 1;
    assert_int_equal(rm_exp_reg_create(&reg), RM_OK);
    rm_exp_convert(reg, &f.base, "forecast", "test/GetForecast", NULL);
    t = render(reg);
    assert_true(has_line(t, "rustymem_forecast_time_to_critical_seconds 99"));
    free(t);
    rm_exp_reg_destroy(reg);
}

static void
test_exporter_convert_alerts_keeps_free_text_out_of_labels(void **state)
{
    Rustymem__V1__ListAlertsResponse r = RUSTYMEM__V1__LIST_ALERTS_RESPONSE__INIT;
    Rustymem__V1__Alert a = RUSTYMEM__V1__ALERT__INIT;
    Rustymem__V1__Alert *as[] = {&a};
    a.name = "memory_usage_high";
    a.severity = "warning";
    a.message = "usage 75% > 70% \"warning\"";
    a.value = 0.75;
    a.since_unix_ms = 2000;
    r.alerts = as;
    r.n_alerts = 1;
    rm_exp_reg_t *reg;
    assert_int_equal(rm_exp_reg_create(&reg), RM_OK);
    rm_exp_convert(reg, &r.base, "", "test/ListAlerts", NULL);
    char *t = render(reg);
    assert_true(has_line(t, "rustymem_alert_value{name=\"memory_usage_high\",severity=\"warning\"} 0.75"));
    assert_true(
        has_line(t, "rustymem_alert_since_timestamp_seconds{name=\"memory_usage_high\",severity=\"warning\"} 2"));
    assert_null(strstr(t, "usage 75%"));
    free(t);
    rm_exp_reg_destroy(reg);
}

static void
test_exporter_convert_labels_elements_without_identity_by_index(void **state)
{
    Rustymem__V1__ListTransactionsResponse r = RUSTYMEM__V1__LIST_TRANSACTIONS_RESPONSE__INIT;
    Rustymem__V1__TransactionInfo t1 = RUSTYMEM__V1__TRANSACTION_INFO__INIT, t2 = RUSTYMEM__V1__TRANSACTION_INFO__INIT;
    Rustymem__V1__TransactionInfo *ts[] = {&t1, &t2};
    t1.age_seconds = 1;
    t2.age_seconds = 2;
    t1.orphan_reason = t2.orphan_reason = "";
    t1.state = t2.state = "";
    r.transactions = ts;
    r.n_transactions = 2;
    rm_exp_reg_t *reg;
    assert_int_equal(rm_exp_reg_create(&reg), RM_OK);
    rm_exp_convert(reg, &r.base, "txn", "test", NULL);
    char *t = render(reg);
    assert_true(has_line(t, "rustymem_txn_transaction_age_seconds{index=\"0\"} 1"));
    assert_true(has_line(t, "rustymem_txn_transaction_age_seconds{index=\"1\"} 2"));
    free(t);
    rm_exp_reg_destroy(reg);
}

static void
test_exporter_parse_knob_value_handles_types_and_suffixes(void **state)
{
    double v;
    assert_int_equal(rm_exp_parse_knob_value("double", "0.7", &v), RM_OK);
    assert_true(v == 0.7);
    assert_int_equal(rm_exp_parse_knob_value("int", "128", &v), RM_OK);
    assert_true(v == 128);
    assert_int_equal(rm_exp_parse_knob_value("bytes", "100MiB", &v), RM_OK);
    assert_true(v == 104857600);
    assert_int_equal(rm_exp_parse_knob_value("bytes", "4KiB", &v), RM_OK);
    assert_true(v == 4096);
    assert_int_equal(rm_exp_parse_knob_value("bool", "true", &v), RM_OK);
    assert_true(v == 1);
    v = -1;
    assert_int_equal(rm_exp_parse_knob_value("enum", "best_fit", &v), RM_EINVAL);
    assert_int_equal(rm_exp_parse_knob_value("int_list", "30,60,120", &v), RM_EINVAL);
    assert_int_equal(rm_exp_parse_knob_value("int", "12abc", &v), RM_EINVAL);
    assert_true(v == -1); /* untouched on failure */
}

/* ---- every stats message, fully populated, through promtool ------------- */

/* Fill every field: numbers k+1, strings "<field>_<k>", two elements per
 * repeated message (so identifying labels must tell them apart). Everything
 * is malloc'ed, so protobuf_c_message_free_unpacked(msg, NULL) frees it. */
static ProtobufCMessage *
fill(const ProtobufCMessageDescriptor *d, unsigned k, int depth)
{
    ProtobufCMessage *m = calloc(1, d->sizeof_message);
    assert_non_null(m);
    protobuf_c_message_init(d, m);
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        char *p = (char *)m + f->offset;
        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            if (f->type != PROTOBUF_C_TYPE_MESSAGE || depth > 3)
                continue;
            ProtobufCMessage **arr = calloc(2, sizeof *arr);
            assert_non_null(arr);
            arr[0] = fill(f->descriptor, 0, depth + 1);
            arr[1] = fill(f->descriptor, 1, depth + 1);
            *(ProtobufCMessage ***)p = arr;
            *(size_t *)((char *)m + f->quantifier_offset) = 2;
            continue;
        }
        switch (f->type) {
        case PROTOBUF_C_TYPE_MESSAGE:
            *(ProtobufCMessage **)p = depth > 3 ? NULL : fill(f->descriptor, k, depth + 1);
            break;
        case PROTOBUF_C_TYPE_STRING: {
            char *s = malloc(64);
            assert_non_null(s);
            snprintf(s, 64, "%s_%u", f->name, k);
            *(char **)p = s;
            break;
        }
        case PROTOBUF_C_TYPE_INT32: case PROTOBUF_C_TYPE_SINT32: case PROTOBUF_C_TYPE_SFIXED32:
        case PROTOBUF_C_TYPE_UINT32: case PROTOBUF_C_TYPE_FIXED32:
            *(uint32_t *)p = k + 1;
            break;
        case PROTOBUF_C_TYPE_INT64: case PROTOBUF_C_TYPE_SINT64: case PROTOBUF_C_TYPE_SFIXED64:
        case PROTOBUF_C_TYPE_UINT64: case PROTOBUF_C_TYPE_FIXED64:
            *(uint64_t *)p = k + 1;
            break;
        case PROTOBUF_C_TYPE_FLOAT: *(float *)p = 0.5f + (float)k; break;
        case PROTOBUF_C_TYPE_DOUBLE: *(double *)p = 0.25 + k; break;
        case PROTOBUF_C_TYPE_BOOL: *(protobuf_c_boolean *)p = 1; break;
        case PROTOBUF_C_TYPE_ENUM: *(int *)p = 1; break;
        default: break;
        }
    }
    return m;
}

/* 1 when s holds "Word.field" (a capitalised message name, a dot, a lower-case field). */
static int
message_dot_field(const char *s)
{
    for (const char *p = s; *p; p++) {
        if (*p != '.' || !islower((unsigned char)p[1]))
            continue;
        const char *w = p;
        while (w > s && isalnum((unsigned char)w[-1]))
            w--;
        if (w < p && isupper((unsigned char)*w))
            return 1;
    }
    return 0;
}

static void
test_exporter_every_stats_message_passes_promtool(void **state)
{
    static const struct {
        const ProtobufCMessageDescriptor *d;
        const char *family;
    } msgs[] = {
        {&rustymem__v1__memory_stats__descriptor, "memory"},
        {&rustymem__v1__fragmentation_stats__descriptor, "fragmentation"},
        {&rustymem__v1__slab_stats__descriptor, "slab"},
        {&rustymem__v1__arena_stats__descriptor, "arena"},
        {&rustymem__v1__buffer_pool_stats__descriptor, "buffer_pool"},
        {&rustymem__v1__large_object_stats__descriptor, "large_object"},
        {&rustymem__v1__forecast__descriptor, "forecast"},
        {&rustymem__v1__list_alerts_response__descriptor, ""},
        {&rustymem__v1__engine_stats__descriptor, "engine"},
    };
    rm_exp_reg_t *reg;
    assert_int_equal(rm_exp_reg_create(&reg), RM_OK);
    for (size_t i = 0; i < sizeof msgs / sizeof msgs[0]; i++) {
        ProtobufCMessage *m = fill(msgs[i].d, 0, 0);
        size_t before = rm_exp_reg_samples(reg);
        size_t added = rm_exp_convert(reg, m, msgs[i].family, "test", NULL);
        assert_true(added > 0);
        assert_int_equal(rm_exp_reg_samples(reg) - before, added);
        protobuf_c_message_free_unpacked(m, NULL);
    }
    char *t = render(reg);
    /* both elements of every repeated field made it: no duplicate series was dropped */
    assert_true(has_line(t, "rustymem_slab_class_allocs_total{size_class=\"1\",name=\"name_0\"} 1"));
    assert_true(has_line(t, "rustymem_slab_class_allocs_total{size_class=\"2\",name=\"name_1\"} 2"));
    assert_true(has_line(t, "rustymem_forecast_horizon_confidence{horizon_seconds=\"2\"} 1.25"));
    assert_true(has_line(t, "rustymem_arena_profile_live_arenas{profile=\"profile_1\"} 2"));
    /* HELP is for people: no protobuf path (message.field, [] of repeated fields, the RPC) */
    for (const char *l = t; (l = strstr(l, "# HELP ")) != NULL; l++) {
        size_t n = strcspn(l, "\n");
        char line[1600];
        snprintf(line, sizeof line, "%.*s", (int)n, l);
        int bad = strstr(line, "rustymem.v1") || strstr(line, "[]") || strstr(line, "Service/") ||
                  message_dot_field(line);
        if (bad)
            fprintf(stderr, "protobuf path in: %s\n", line);
        assert_false(bad);
    }
    /* a renamed family is served under both names, the old one marked deprecated */
    assert_true(strstr(t, "# HELP rustymem_buffer_pool_arc_t1_pages Pages in ARC's list T1") != NULL);
    assert_true(strstr(t, "# HELP rustymem_buffer_pool_arc_t1 Deprecated: renamed to rustymem_buffer_pool_arc_t1_pages")
                != NULL);
    assert_true(strstr(t, "# HELP rustymem_engine_pool_utilization_ratio ") != NULL);
    /* an info family keeps no label whose value changes with the state */
    assert_true(has_line(t, "rustymem_forecast_model_info{model=\"model_0\",usage_source=\"usage_source_0\","
                            "budget_source=\"budget_source_0\"} 1"));
    assert_true(strstr(t, "# HELP rustymem_forecast_info Deprecated: replaced by rustymem_forecast_model_info") != NULL);
    assert_string_equal(rm_exp_renamed_to("rustymem_forecast_bytes_reclaimed_total"),
                        "rustymem_forecast_reclaimed_bytes_total");
    assert_null(rm_exp_renamed_to("rustymem_forecast_reclaimed_bytes_total"));
    if (getenv("RM_EXP_DUMP")) /* RM_EXP_DUMP=1: print the synthetic exposition (for docs) */
        fputs(t, stderr);
    if (access("/usr/bin/promtool", X_OK) == 0) {
        char path[] = "/tmp/rm-exp-unit-XXXXXX";
        int fd = mkstemp(path);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, t, strlen(t)), (ssize_t)strlen(t));
        close(fd);
        char cmd[128], out[4096] = "";
        snprintf(cmd, sizeof cmd, "/usr/bin/promtool check metrics < %s 2>&1", path);
        FILE *p = popen(cmd, "r");
        assert_non_null(p);
        size_t n = fread(out, 1, sizeof out - 1, p);
        out[n] = '\0';
        int rc = pclose(p);
        unlink(path);
        if (rc != 0 || n != 0)
            fprintf(stderr, "promtool says:\n%s\n", out);
        assert_int_equal(rc, 0);
        assert_int_equal(n, 0);
    } else {
        fprintf(stderr, "promtool not installed (Debian package prometheus): lint skipped\n");
    }
    free(t);
    rm_exp_reg_destroy(reg);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exporter_unit_name_converts_to_base_units),
        cmocka_unit_test(test_exporter_label_append_escapes_quotes_backslashes_newlines),
        cmocka_unit_test(test_exporter_label_append_refuses_when_full),
        cmocka_unit_test(test_exporter_reg_groups_interleaved_samples_by_family),
        cmocka_unit_test(test_exporter_reg_add_rejects_duplicates_type_clash_and_bad_names),
        cmocka_unit_test(test_exporter_reg_grows_past_its_first_hash_table),
        cmocka_unit_test(test_exporter_values_render_integers_exactly_and_specials),
        cmocka_unit_test(test_exporter_convert_memory_stats_flattens_nested_and_labels_components),
        cmocka_unit_test(test_exporter_convert_slab_nested_repeated_accumulates_labels),
        cmocka_unit_test(test_exporter_convert_forecast_skips_guarded_field_and_exports_enums),
        cmocka_unit_test(test_exporter_convert_alerts_keeps_free_text_out_of_labels),
        cmocka_unit_test(test_exporter_convert_labels_elements_without_identity_by_index),
        cmocka_unit_test(test_exporter_parse_knob_value_handles_types_and_suffixes),
        cmocka_unit_test(test_exporter_every_stats_message_passes_promtool),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
