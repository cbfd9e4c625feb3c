/*
 * test_config.c — rustymemd configuration loading (INI file via libinih,
 * persisted runtime changes, environment, flags), error messages with file,
 * line and knob, and atomic persistence of runtime knob changes.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <dirent.h>

#include <cmocka.h>

typedef struct fixture {
    rm_knobs_t *k;
    char dir[256];     /* private temporary directory */
    char path[512];    /* dir/knobs.auto.ini */
} fixture_t;

static int
setup(void **state)
{
    fixture_t *fx = calloc(1, sizeof *fx);
    if (!fx || rm_knobs_create(&fx->k) != RM_OK)
        return -1;
    snprintf(fx->dir, sizeof fx->dir, "/tmp/rm_test_config.XXXXXX");
    if (!mkdtemp(fx->dir))
        return -1;
    snprintf(fx->path, sizeof fx->path, "%s/knobs.auto.ini", fx->dir);
    *state = fx;
    return 0;
}

static int
teardown(void **state)
{
    fixture_t *fx = *state;
    DIR *d = opendir(fx->dir);
    struct dirent *de;
    while (d && (de = readdir(d))) {
        char p[1024];
        if (de->d_name[0] == '.')
            continue;
        snprintf(p, sizeof p, "%s/%s", fx->dir, de->d_name);
        unlink(p);
    }
    if (d)
        closedir(d);
    rmdir(fx->dir);
    rm_knobs_destroy(fx->k);
    free(fx);
    return 0;
}

static const char *
data(const char *name, char *buf, size_t len)
{
    const char *root = getenv("RM_TEST_DATA");
    snprintf(buf, len, "%s/config/%s", root ? root : "tests/data", name);
    return buf;
}

static int
ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

static char *
slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    static char buf[8192];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    return strdup(buf);
}

static int
count_files(const char *dir)
{
    int n = 0;
    DIR *d = opendir(dir);
    struct dirent *de;
    while (d && (de = readdir(d)))
        n += de->d_name[0] != '.';
    if (d)
        closedir(d);
    return n;
}

/* ---- the config file ---- */

static void
test_config_loads_file_values(void **state)
{
    fixture_t *fx = *state;
    char p[1024], err[512];
    rm_config_sources_t src = {.config_path = data("good.ini", p, sizeof p)};
    assert_int_equal(rm_config_load(fx->k, &src, err, sizeof err), RM_OK);
    assert_string_equal(err, "");
    assert_int_equal(rm_knobs_get_i64(fx->k, RM_KNOB_MEMORY_BUDGET_BYTES), INT64_C(8) << 30);
    assert_true(rm_knobs_get_double(fx->k, RM_KNOB_PRESSURE_WARNING_THRESHOLD) == 0.65);
    assert_true(rm_knobs_get_double(fx->k, RM_KNOB_PRESSURE_CRITICAL_THRESHOLD) == 0.85);
    int64_t h[8];
    assert_int_equal(rm_knobs_get_list(fx->k, RM_KNOB_PRESSURE_FORECAST_HORIZONS, h, 8), 3);
    assert_int_equal(h[0], 15);
    assert_int_equal(rm_knobs_get_enum(fx->k, RM_KNOB_LARGE_OBJECT_STRATEGY), 1);
    assert_true(rm_knobs_get_bool(fx->k, RM_KNOB_LARGE_OBJECT_AGGRESSIVE_COALESCING));
    /* restart-only knobs take effect at load time */
    assert_int_equal(rm_knobs_get_i64(fx->k, RM_KNOB_BUFFER_POOL_PAGE_SIZE), 8192);
    assert_int_equal(rm_knobs_get_i64(fx->k, RM_KNOB_POOL_MIN_SIZE), 20);
    /* file values are not runtime changes: nothing recorded as persisted */
    char *text;
    assert_int_equal(rm_knobs_format_ini(fx->k, RM_KNOBS_INI_PERSISTED, &text, NULL), RM_OK);
    assert_null(strchr(text, '['));
    free(text);
}

static void
expect_load_error(fixture_t *fx, const char *file, rm_status_t want, const char *suffix)
{
    char p[1024], err[512];
    rm_config_sources_t src = {.config_path = data(file, p, sizeof p)};
    uint64_t gen = rm_knobs_generation(fx->k);
    assert_int_equal(rm_config_load(fx->k, &src, err, sizeof err), want);
    if (!ends_with(err, suffix))
        fail_msg("error \"%s\" does not end with \"%s\"", err, suffix);
    assert_non_null(strstr(err, p)); /* names the file */
    /* nothing changed */
    assert_int_equal(rm_knobs_generation(fx->k), gen);
    assert_int_equal(rm_knobs_get_i64(fx->k, RM_KNOB_SLAB_LOCK_ENTRY_MAGAZINE), 128);
    assert_true(rm_knobs_get_double(fx->k, RM_KNOB_PRESSURE_WARNING_THRESHOLD) == 0.70);
    assert_int_equal(rm_knobs_get_i64(fx->k, RM_KNOB_POOL_MIN_SIZE), 10);
}

static void
test_config_error_names_file_line_and_knob_when_out_of_range(void **state)
{
    expect_load_error(*state, "bad_range.ini", RM_EINVAL,
                      "bad_range.ini:12: pressure.warning_threshold = 1.7: "
                      "out of range [0.05, 0.99]");
}

static void
test_config_error_when_unknown_key(void **state)
{
    expect_load_error(*state, "unknown_key.ini", RM_ENOENT,
                      "unknown_key.ini:3: pressure.warning: unknown knob");
}

static void
test_config_error_when_unknown_section(void **state)
{
    expect_load_error(*state, "unknown_section.ini", RM_ENOENT,
                      "unknown_section.ini:5: pressur.critical_threshold: unknown knob");
}

static void
test_config_error_when_syntax_error(void **state)
{
    expect_load_error(*state, "syntax.ini", RM_EINVAL, "syntax.ini:3: syntax error");
}

static void
test_config_error_when_cross_knob_constraint_fails(void **state)
{
    expect_load_error(*state, "cross.ini", RM_EINVAL,
                      "cross.ini:2: pool.min_size = 50: must be <= pool.max_size (40)");
}

static void
test_config_error_when_key_set_twice(void **state)
{
    expect_load_error(*state, "duplicate.ini", RM_EINVAL,
                      "duplicate.ini:5: pool.min_size: set twice (first at line 2)");
}

static void
test_config_error_when_key_outside_section(void **state)
{
    expect_load_error(*state, "nosection.ini", RM_EINVAL,
                      "nosection.ini:1: key 'warning_threshold' outside a [section]");
}

static void
test_config_error_when_file_missing(void **state)
{
    expect_load_error(*state, "does_not_exist.ini", RM_EIO,
                      "does_not_exist.ini: cannot open: No such file or directory");
}

/* ---- precedence ---- */

static void
test_config_env_overrides_file(void **state)
{
    fixture_t *fx = *state;
    char p[1024], err[512];
    char *env[] = {"PATH=/bin", "RUSTYMEM_ADDR=127.0.0.1:1", "RUSTYMEM_PRESSURE_WARNING_THRESHOLD=0.6",
                   "RUSTYMEM_LARGE_OBJECT_THRESHOLD_BYTES=4MiB", NULL};
    rm_config_sources_t src = {.config_path = data("good.ini", p, sizeof p), .envp = env};
    assert_int_equal(rm_config_load(fx->k, &src, err, sizeof err), RM_OK);
    assert_true(rm_knobs_get_double(fx->k, RM_KNOB_PRESSURE_WARNING_THRESHOLD) == 0.6);
    assert_int_equal(rm_knobs_get_i64(fx->k, RM_KNOB_LARGE_OBJECT_THRESHOLD_BYTES), 4 << 20);
    assert_int_equal(rm_knobs_get_i64(fx->k, RM_KNOB_POOL_MIN_SIZE), 20); /* from the file */
}

static void
test_config_flags_override_env_and_file(void **state)
{
    fixture_t *fx = *state;
    char p[1024], err[512];
    char *env[] = {"RUSTYMEM_PRESSURE_WARNING_THRESHOLD=0.6", "RUSTYMEM_POOL_MIN_SIZE=30", NULL};
    rm_knob_assign_t flags[] = {{"pressure.warning_threshold", "0.55"}};
    rm_config_sources_t src = {.config_path = data("good.ini", p, sizeof p), .envp = env,
                               .flags = flags, .n_flags = 1};
    assert_int_equal(rm_config_load(fx->k, &src, err, sizeof err), RM_OK);
    assert_true(rm_knobs_get_double(fx->k, RM_KNOB_PRESSURE_WARNING_THRESHOLD) == 0.55);
    assert_int_equal(rm_knobs_get_i64(fx->k, RM_KNOB_POOL_MIN_SIZE), 30);
    assert_true(rm_knobs_get_double(fx->k, RM_KNOB_PRESSURE_CRITICAL_THRESHOLD) == 0.85);
}

static void
test_config_final_state_is_validated_not_each_layer(void **state)
{
    fixture_t *fx = *state;
    char p[1024], err[512];
    /* the file alone (pool.min_size 600 > default max 500) is invalid; the
     * flag completes it */
    rm_knob_assign_t flags[] = {{"pool.max_size", "800"}};
    rm_config_sources_t src = {.config_path = data("layered.ini", p, sizeof p), .flags = flags,
                               .n_flags = 1};
    assert_int_equal(rm_config_load(fx->k, &src, err, sizeof err), RM_OK);
    assert_int_equal(rm_knobs_get_i64(fx->k, RM_KNOB_POOL_MIN_SIZE), 600);
    assert_int_equal(rm_knobs_get_i64(fx->k, RM_KNOB_SESSION_MAX_CONNECTIONS), 2000);
}

static void
test_config_env_error_names_variable_and_knob(void **state)
{
    fixture_t *fx = *state;
    char err[512];
    char *env[] = {"RUSTYMEM_PRESSURE_WARNING_THRESHOLD=1.7", NULL};
    rm_config_sources_t src = {.envp = env};
    assert_int_equal(rm_config_load(fx->k, &src, err, sizeof err), RM_EINVAL);
    assert_string_equal(err, "environment RUSTYMEM_PRESSURE_WARNING_THRESHOLD: "
                             "pressure.warning_threshold = 1.7: out of range [0.05, 0.99]");
}

static void
test_config_env_error_when_unknown_knob_in_known_section(void **state)
{
    fixture_t *fx = *state;
    char err[512];
    char *env[] = {"RUSTYMEM_FOO=1", "RUSTYMEM_PRESSURE_WARNING=0.6", NULL};
    rm_config_sources_t src = {.envp = env};
    assert_int_equal(rm_config_load(fx->k, &src, err, sizeof err), RM_ENOENT);
    assert_non_null(strstr(err, "environment RUSTYMEM_PRESSURE_WARNING: unknown knob"));
}

static void
test_config_flag_errors_name_the_flag(void **state)
{
    fixture_t *fx = *state;
    char err[512];
    rm_knob_assign_t bad[] = {{"pool.nope", "1"}};
    rm_config_sources_t src = {.flags = bad, .n_flags = 1};
    assert_int_equal(rm_config_load(fx->k, &src, err, sizeof err), RM_ENOENT);
    assert_string_equal(err, "--set pool.nope: unknown knob");
    rm_knob_assign_t range[] = {{"pool.min_size", "0"}};
    src.flags = range;
    assert_int_equal(rm_config_load(fx->k, &src, err, sizeof err), RM_EINVAL);
    assert_string_equal(err, "--set pool.min_size: pool.min_size = 0: out of range [1, 100000]");
}

static void
test_config_split_assignment(void **state)
{
    (void)state;
    char s[] = " pressure.warning_threshold = 0.6 ", bad[] = "novalue";
    rm_knob_assign_t a = {0};
    assert_int_equal(rm_config_split_assignment(s, &a), RM_OK);
    assert_string_equal(a.name, "pressure.warning_threshold");
    assert_string_equal(a.value, "0.6");
    assert_int_equal(rm_config_split_assignment(bad, &a), RM_EINVAL);
}

/* ---- persistence ---- */

static void
test_config_persisted_changes_survive_restart(void **state)
{
    fixture_t *fx = *state;
    char err[512];
    rm_knob_error_t kerr;
    rm_knobs_mark_started(fx->k);
    rm_knobs_set_persister(fx->k, rm_config_persist_fn, fx->path);
    rm_knob_assign_t a[] = {{"pressure.warning_threshold", "0.6"},
                            {"pressure.critical_threshold", "0.85"},
                            {"buffer_pool.page_size", "16KiB"}};
    assert_int_equal(rm_knobs_set(fx->k, a, 3, 0, &kerr), RM_OK);
    assert_int_equal(kerr.pending_restart, 1);

    /* "restart": a new instance reads the persisted file */
    rm_knobs_t *k2;
    assert_int_equal(rm_knobs_create(&k2), RM_OK);
    rm_config_sources_t src = {.persisted_path = fx->path};
    assert_int_equal(rm_config_load(k2, &src, err, sizeof err), RM_OK);
    assert_true(rm_knobs_get_double(k2, RM_KNOB_PRESSURE_WARNING_THRESHOLD) == 0.6);
    assert_true(rm_knobs_get_double(k2, RM_KNOB_PRESSURE_CRITICAL_THRESHOLD) == 0.85);
    assert_int_equal(rm_knobs_get_i64(k2, RM_KNOB_BUFFER_POOL_PAGE_SIZE), 16384);
    rm_knobs_destroy(k2);
    assert_int_equal(count_files(fx->dir), 1); /* no temporary file left behind */
}

static void
test_config_rejected_set_leaves_file_untouched(void **state)
{
    fixture_t *fx = *state;
    rm_knob_error_t kerr;
    rm_knobs_set_persister(fx->k, rm_config_persist_fn, fx->path);
    rm_knob_assign_t ok[] = {{"pressure.warning_threshold", "0.6"},
                             {"pressure.critical_threshold", "0.85"}};
    assert_int_equal(rm_knobs_set(fx->k, ok, 2, 0, &kerr), RM_OK);
    struct stat before, after;
    assert_int_equal(stat(fx->path, &before), 0);
    char *old = slurp(fx->path);
    rm_knob_assign_t bad[] = {{"pressure.warning_threshold", "1.7"}, {"pool.min_size", "20"}};
    assert_int_equal(rm_knobs_set(fx->k, bad, 2, 0, &kerr), RM_EINVAL);
    assert_string_equal(kerr.knob, "pressure.warning_threshold");
    assert_int_equal(stat(fx->path, &after), 0);
    assert_int_equal(before.st_ino, after.st_ino);
    char *now = slurp(fx->path);
    assert_string_equal(old, now);
    assert_true(rm_knobs_get_double(fx->k, RM_KNOB_PRESSURE_WARNING_THRESHOLD) == 0.6);
    assert_int_equal(rm_knobs_get_i64(fx->k, RM_KNOB_POOL_MIN_SIZE), 10);
    free(old);
    free(now);
}

static void
test_config_write_failure_keeps_old_file_and_values(void **state)
{
    fixture_t *fx = *state;
    const char *old = "# old\n[pool]\nmin_size = 20\n";
    char why[256];
    assert_int_equal(rm_config_write_atomic(fx->path, old, strlen(old), why, sizeof why), RM_OK);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        /* child: files may not grow past 8 bytes, like a full disk */
        struct rlimit rl = {8, 8};
        signal(SIGXFSZ, SIG_IGN);
        if (setrlimit(RLIMIT_FSIZE, &rl) != 0)
            _exit(10);
        rm_knobs_set_persister(fx->k, rm_config_persist_fn, fx->path);
        rm_knob_assign_t a[] = {{"pressure.warning_threshold", "0.6"}};
        rm_knob_error_t kerr;
        if (rm_knobs_set(fx->k, a, 1, 0, &kerr) != RM_EIO)
            _exit(11);
        if (!strstr(kerr.message, "cannot persist the knobs: write ") ||
            !strstr(kerr.message, "File too large"))
            _exit(12);
        if (rm_knobs_get_double(fx->k, RM_KNOB_PRESSURE_WARNING_THRESHOLD) != 0.7)
            _exit(13);
        _exit(0);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    char *now = slurp(fx->path);
    assert_string_equal(now, old);
    free(now);
    assert_int_equal(count_files(fx->dir), 1); /* the temporary file was removed */
}

static void
test_config_write_atomic_fails_when_directory_missing(void **state)
{
    fixture_t *fx = *state;
    char path[600], why[256];
    snprintf(path, sizeof path, "%s/no/such/dir/knobs.ini", fx->dir);
    assert_int_equal(rm_config_write_atomic(path, "x", 1, why, sizeof why), RM_EIO);
    assert_non_null(strstr(why, "No such file or directory"));
}

static void
test_config_persisted_layer_sits_between_file_and_env(void **state)
{
    fixture_t *fx = *state;
    char p[1024], err[512], why[256];
    const char *persisted = "[pool]\nmin_size = 30\n[mvcc]\nmax_versions_per_key = 5000\n";
    assert_int_equal(rm_config_write_atomic(fx->path, persisted, strlen(persisted), why,
                                            sizeof why),
                     RM_OK);
    char *env[] = {"RUSTYMEM_MVCC_MAX_VERSIONS_PER_KEY=7000", NULL};
    rm_config_sources_t src = {.config_path = data("good.ini", p, sizeof p),
                               .persisted_path = fx->path, .envp = env};
    assert_int_equal(rm_config_load(fx->k, &src, err, sizeof err), RM_OK);
    assert_int_equal(rm_knobs_get_i64(fx->k, RM_KNOB_POOL_MIN_SIZE), 30);         /* > file */
    assert_int_equal(rm_knobs_get_i64(fx->k, RM_KNOB_MVCC_MAX_VERSIONS_PER_KEY), 7000); /* env */
    /* a later runtime change rewrites the file and keeps the persisted values,
     * including the one the environment overrides for this run */
    rm_knobs_mark_started(fx->k);
    rm_knobs_set_persister(fx->k, rm_config_persist_fn, fx->path);
    rm_knob_error_t kerr;
    rm_knob_assign_t a[] = {{"pool.max_size", "400"}};
    assert_int_equal(rm_knobs_set(fx->k, a, 1, 0, &kerr), RM_OK);
    char *now = slurp(fx->path);
    assert_non_null(strstr(now, "[mvcc]\nmax_versions_per_key = 5000\n"));
    assert_non_null(strstr(now, "[pool]\nmin_size = 30\nmax_size = 400\n"));
    free(now);
}

/* Every knob's source after a load: default, file:line, env, flag, the
 * persisted runtime value — and the reset value is the highest of
 * file/env/flag, never the persisted one. */
static void
test_config_records_each_knobs_source_and_reset_value(void **state)
{
    fixture_t *fx = *state;
    char p[1024], err[512], why[256], where[1100];
    const char *persisted = "[pool]\nmin_size = 30\n[mvcc]\nmax_versions_per_key = 5000\n";
    assert_int_equal(rm_config_write_atomic(fx->path, persisted, strlen(persisted), why,
                                            sizeof why),
                     RM_OK);
    char *env[] = {"RUSTYMEM_MVCC_MAX_VERSIONS_PER_KEY=7000", NULL};
    rm_knob_assign_t flags[] = {{"pressure.critical_threshold", "0.9"}};
    rm_config_sources_t src = {.config_path = data("good.ini", p, sizeof p),
                               .persisted_path = fx->path, .envp = env, .flags = flags,
                               .n_flags = 1};
    assert_int_equal(rm_config_load(fx->k, &src, err, sizeof err), RM_OK);
    rm_knob_source_info_t si;
    assert_int_equal(rm_knobs_get_source(fx->k, "pressure.warning_threshold", &si), RM_OK);
    snprintf(where, sizeof where, "%s:8", p);
    assert_string_equal(si.text, where);
    assert_int_equal(rm_knobs_get_source(fx->k, "pressure.critical_threshold", &si), RM_OK);
    assert_string_equal(si.text, "flag"); /* the flag beats the file's line 9 */
    assert_string_equal(si.reset_value, "0.9");
    assert_int_equal(rm_knobs_get_source(fx->k, "mvcc.max_versions_per_key", &si), RM_OK);
    assert_string_equal(si.text, "env RUSTYMEM_MVCC_MAX_VERSIONS_PER_KEY");
    assert_string_equal(si.reset_value, "7000");
    assert_int_equal(rm_knobs_get_source(fx->k, "pool.min_size", &si), RM_OK);
    assert_string_equal(si.text, "runtime (persisted)");
    assert_int_equal(si.reset_source, RM_KNOB_SRC_FILE);
    assert_string_equal(si.reset_value, "20");
    assert_int_equal(rm_knobs_get_source(fx->k, "session.max_connections", &si), RM_OK);
    assert_string_equal(si.text, "default");
    /* a reload keeps the same record */
    src.reload = 1;
    assert_int_equal(rm_config_load(fx->k, &src, err, sizeof err), RM_OK);
    assert_int_equal(rm_knobs_get_source(fx->k, "pool.min_size", &si), RM_OK);
    assert_string_equal(si.text, "runtime (persisted)");
    assert_int_equal(rm_knobs_get_source(fx->k, "pressure.warning_threshold", &si), RM_OK);
    assert_string_equal(si.text, where);
}

static void
test_config_error_names_persisted_file_line(void **state)
{
    fixture_t *fx = *state;
    char err[512], why[256];
    const char *persisted = "[pool]\nmin_size = 30\nmax_size = zero\n";
    assert_int_equal(rm_config_write_atomic(fx->path, persisted, strlen(persisted), why,
                                            sizeof why),
                     RM_OK);
    rm_config_sources_t src = {.persisted_path = fx->path};
    assert_int_equal(rm_config_load(fx->k, &src, err, sizeof err), RM_EINVAL);
    assert_true(ends_with(err, "knobs.auto.ini:3: pool.max_size = zero: not an integer"));
}

/* What rm_config_sources_t.dropped reported. */
typedef struct drops {
    int n;
    char knob[4][64], value[4][64], now_from[4][600], reason[4][256];
} drops_t;

static void
record_drop(void *ctx, const char *knob, const char *value, const char *now_from, const char *reason)
{
    drops_t *d = ctx;
    if (d->n >= 4 || !knob)
        return;
    snprintf(d->knob[d->n], sizeof d->knob[0], "%s", knob);
    snprintf(d->value[d->n], sizeof d->value[0], "%s", value);
    snprintf(d->now_from[d->n], sizeof d->now_from[0], "%s", now_from);
    snprintf(d->reason[d->n], sizeof d->reason[0], "%s", reason);
    d->n++;
}

static void
write_file(const char *path, const char *text)
{
    char why[256];
    assert_int_equal(rm_config_write_atomic(path, text, strlen(text), why, sizeof why), RM_OK);
}

/* A runtime change valid when it was made (warning 0.78, persisted) and a later
 * valid edit of the file (high 0.75) conflict: the agent must still start, with
 * the file's values, the persisted value dropped, reported and gone from the
 * file; the unrelated persisted value stays. */
static void
test_config_conflicting_persisted_value_is_dropped_at_start(void **state)
{
    fixture_t *fx = *state;
    char ini[600], err[512] = "";
    snprintf(ini, sizeof ini, "%s/rustymem.ini", fx->dir);
    write_file(ini, "[pressure]\nhigh_pressure_threshold = 0.75\n");
    write_file(fx->path, "[pressure]\nwarning_threshold = 0.78\n[mvcc]\nmax_versions_per_key = 5000\n");
    drops_t d = {0};
    rm_config_sources_t src = {.config_path = ini, .persisted_path = fx->path,
                               .dropped = record_drop, .dropped_ctx = &d};
    assert_int_equal(rm_config_load(fx->k, &src, err, sizeof err), RM_OK);
    assert_int_equal(d.n, 1);
    assert_string_equal(d.knob[0], "pressure.warning_threshold");
    assert_string_equal(d.value[0], "0.78");
    assert_string_equal(d.now_from[0], "default");
    assert_non_null(strstr(d.reason[0], "warning_threshold"));
    char text[64];
    assert_int_equal(rm_knobs_get_text(fx->k, "pressure.warning_threshold", NULL, 0, text, sizeof text, NULL),
                     RM_OK);
    assert_string_equal(text, "0.7");
    assert_int_equal(rm_knobs_get_text(fx->k, "pressure.high_pressure_threshold", NULL, 0, text, sizeof text,
                                       NULL),
                     RM_OK);
    assert_string_equal(text, "0.75");
    assert_int_equal(rm_knobs_get_i64(fx->k, RM_KNOB_MVCC_MAX_VERSIONS_PER_KEY), 5000);
    char *now = slurp(fx->path);
    assert_null(strstr(now, "warning_threshold"));
    assert_non_null(strstr(now, "[mvcc]\nmax_versions_per_key = 5000\n"));
    free(now);

    /* the next start meets no conflict and drops nothing */
    rm_knobs_t *k2;
    assert_int_equal(rm_knobs_create(&k2), RM_OK);
    drops_t d2 = {0};
    src.dropped_ctx = &d2;
    assert_int_equal(rm_config_load(k2, &src, err, sizeof err), RM_OK);
    assert_int_equal(d2.n, 0);
    assert_int_equal(rm_knobs_get_i64(k2, RM_KNOB_MVCC_MAX_VERSIONS_PER_KEY), 5000);
    rm_knobs_destroy(k2);
}

/* Only the persisted value whose removal resolves the conflict is dropped: the
 * other persisted pressure knob stays, and a file value replaces the dropped one. */
static void
test_config_only_the_conflicting_persisted_value_is_dropped(void **state)
{
    fixture_t *fx = *state;
    char ini[600], err[512] = "";
    snprintf(ini, sizeof ini, "%s/rustymem.ini", fx->dir);
    write_file(ini, "[pressure]\nwarning_threshold = 0.65\nhigh_pressure_threshold = 0.75\n");
    write_file(fx->path, "[pressure]\nwarning_threshold = 0.78\nemergency_threshold = 0.97\n");
    drops_t d = {0};
    rm_config_sources_t src = {.config_path = ini, .persisted_path = fx->path,
                               .dropped = record_drop, .dropped_ctx = &d};
    assert_int_equal(rm_config_load(fx->k, &src, err, sizeof err), RM_OK);
    assert_int_equal(d.n, 1);
    assert_string_equal(d.knob[0], "pressure.warning_threshold");
    assert_true(ends_with(d.now_from[0], "rustymem.ini:2"));
    char text[64];
    assert_int_equal(rm_knobs_get_text(fx->k, "pressure.warning_threshold", NULL, 0, text, sizeof text, NULL),
                     RM_OK);
    assert_string_equal(text, "0.65");
    assert_int_equal(rm_knobs_get_text(fx->k, "pressure.emergency_threshold", NULL, 0, text, sizeof text, NULL),
                     RM_OK);
    assert_string_equal(text, "0.97");
}

/* A conflict inside the file itself is still an error naming the file's line,
 * and nothing is dropped or rewritten. */
static void
test_config_file_conflict_without_persisted_culprit_still_fails(void **state)
{
    fixture_t *fx = *state;
    char ini[600], err[512] = "";
    snprintf(ini, sizeof ini, "%s/rustymem.ini", fx->dir);
    write_file(ini, "[pressure]\nwarning_threshold = 0.85\nhigh_pressure_threshold = 0.80\n");
    write_file(fx->path, "[mvcc]\nmax_versions_per_key = 5000\n");
    drops_t d = {0};
    rm_config_sources_t src = {.config_path = ini, .persisted_path = fx->path,
                               .dropped = record_drop, .dropped_ctx = &d};
    assert_int_equal(rm_config_load(fx->k, &src, err, sizeof err), RM_EINVAL);
    assert_int_equal(d.n, 0);
    assert_non_null(strstr(err, "rustymem.ini:"));
    assert_int_equal(rm_knobs_get_i64(fx->k, RM_KNOB_MVCC_MAX_VERSIONS_PER_KEY), 1000);
    char *now = slurp(fx->path);
    assert_string_equal(now, "[mvcc]\nmax_versions_per_key = 5000\n");
    free(now);
}

/* SIGHUP: the same conflict on reload applies the file and forgets the
 * persisted value, so the next persisting set no longer writes it. */
static void
test_config_conflicting_persisted_value_is_forgotten_on_reload(void **state)
{
    fixture_t *fx = *state;
    char ini[600], err[512] = "";
    snprintf(ini, sizeof ini, "%s/rustymem.ini", fx->dir);
    write_file(ini, "[pressure]\nhigh_pressure_threshold = 0.80\n");
    rm_config_sources_t src = {.config_path = ini, .persisted_path = fx->path};
    assert_int_equal(rm_config_load(fx->k, &src, err, sizeof err), RM_OK);
    rm_knobs_mark_started(fx->k);
    rm_knobs_set_persister(fx->k, rm_config_persist_fn, fx->path);
    rm_knob_error_t kerr;
    rm_knob_assign_t a[] = {{"pressure.warning_threshold", "0.78"}};
    assert_int_equal(rm_knobs_set(fx->k, a, 1, 0, &kerr), RM_OK);
    write_file(ini, "[pressure]\nhigh_pressure_threshold = 0.75\n");
    drops_t d = {0};
    src.reload = 1;
    src.dropped = record_drop;
    src.dropped_ctx = &d;
    assert_int_equal(rm_config_load(fx->k, &src, err, sizeof err), RM_OK);
    assert_int_equal(d.n, 1);
    assert_string_equal(d.knob[0], "pressure.warning_threshold");
    char text[64];
    assert_int_equal(rm_knobs_get_text(fx->k, "pressure.high_pressure_threshold", NULL, 0, text, sizeof text,
                                       NULL),
                     RM_OK);
    assert_string_equal(text, "0.75");
    rm_knob_assign_t b[] = {{"mvcc.max_versions_per_key", "4000"}};
    assert_int_equal(rm_knobs_set(fx->k, b, 1, 0, &kerr), RM_OK);
    char *now = slurp(fx->path);
    assert_null(strstr(now, "warning_threshold"));
    assert_non_null(strstr(now, "max_versions_per_key = 4000"));
    free(now);
}

static void
test_config_full_dump_loads_back(void **state)
{
    fixture_t *fx = *state;
    char err[512], why[256];
    rm_knob_error_t kerr;
    /* change a knob of every type, dump every knob with comments, load it */
    rm_knob_assign_t a[] = {{"pressure.forecast_horizons", "10,20"},
                            {"large_object.strategy", "worst_fit"},
                            {"large_object.aggressive_coalescing", "true"},
                            {"plan_cache.max_bytes", "1536KiB"},
                            {"pool.scale_down_threshold", "0.3"}};
    assert_int_equal(rm_knobs_set(fx->k, a, 5, 0, &kerr), RM_OK);
    char *text;
    size_t len;
    assert_int_equal(rm_knobs_format_ini(fx->k, RM_KNOBS_INI_ALL, &text, &len), RM_OK);
    assert_int_equal(rm_config_write_atomic(fx->path, text, len, why, sizeof why), RM_OK);
    free(text);
    rm_knobs_t *k2;
    assert_int_equal(rm_knobs_create(&k2), RM_OK);
    rm_config_sources_t src = {.config_path = fx->path};
    assert_int_equal(rm_config_load(k2, &src, err, sizeof err), RM_OK);
    for (size_t i = 0; i < rm_knobs_count(); i++) {
        rm_knob_id_t id = (rm_knob_id_t)i;
        rm_knob_value_t v1, v2;
        rm_knobs_read(fx->k, &id, 1, &v1);
        rm_knobs_read(k2, &id, 1, &v2);
        assert_true(rm_knobs_value_equal(rm_knobs_def(id), &v1, &v2));
    }
    rm_knobs_destroy(k2);
}

static void
test_config_profile_is_persisted(void **state)
{
    fixture_t *fx = *state;
    char err[512];
    rm_knob_error_t kerr;
    rm_knobs_mark_started(fx->k);
    rm_knobs_set_persister(fx->k, rm_config_persist_fn, fx->path);
    assert_int_equal(rm_knobs_apply_profile(fx->k, RM_WORKLOAD_OLTP, RM_ENV_MISSION_CRITICAL, 0,
                                            &kerr),
                     RM_OK);
    rm_knobs_t *k2;
    assert_int_equal(rm_knobs_create(&k2), RM_OK);
    rm_config_sources_t src = {.persisted_path = fx->path};
    assert_int_equal(rm_config_load(k2, &src, err, sizeof err), RM_OK);
    assert_true(rm_knobs_get_double(k2, RM_KNOB_PRESSURE_WARNING_THRESHOLD) == 0.6);
    assert_int_equal(rm_knobs_get_i64(k2, RM_KNOB_PRESSURE_HISTORY_SIZE), 120);
    assert_int_equal(rm_knobs_get_i64(k2, RM_KNOB_SLAB_LOCK_ENTRY_MAGAZINE), 256);
    rm_knobs_destroy(k2);
}

/* ---- the knob writer (docs/adr/0031) ---- */

/* Poll (never a fixed sleep) until the writer has completed n writes. */
static int
wait_writes(rm_config_writer_t *w, uint64_t n)
{
    for (int i = 0; i < 30000; i++) {
        if (rm_config_writer_writes(w) >= n)
            return 1;
        usleep(1000);
    }
    return 0;
}

static void
test_config_writer_set_returns_while_writer_stalled(void **state)
{
    fixture_t *fx = *state;
    rm_knob_error_t kerr;
    char err[512], why[256];
    rm_config_writer_t *w;
    rm_knobs_mark_started(fx->k);
    assert_int_equal(rm_config_writer_start(fx->k, fx->path, &w), RM_OK);
    rm_config_writer_hold(w, true); /* a stalled disk: the thread takes nothing */
    static const char *const values[] = {"0.6", "0.61", "0.62", "0.63", "0.64"};
    for (size_t i = 0; i < 5; i++) {
        rm_knob_assign_t a[] = {{"pressure.warning_threshold", values[i]}};
        /* returns (this thread would hang otherwise), committed, not durable */
        assert_int_equal(rm_knobs_set(fx->k, a, 1, 0, &kerr), RM_OK);
        assert_int_equal(kerr.persist_gen, i + 1);
        assert_true(rm_knobs_get_double(fx->k, RM_KNOB_PRESSURE_WARNING_THRESHOLD) ==
                    strtod(values[i], NULL));
    }
    /* a set that does not change the persisted state reports the current generation */
    rm_knob_assign_t same[] = {{"pressure.warning_threshold", "0.64"}};
    assert_int_equal(rm_knobs_set(fx->k, same, 1, 0, &kerr), RM_OK);
    assert_int_equal(kerr.persist_gen, 5);
    rm_knobs_persist_state_t ps;
    rm_knobs_persist_state(fx->k, &ps);
    assert_int_equal(ps.generation, 5);
    assert_int_equal(ps.durable, 0);
    assert_int_equal(ps.failed, 0);
    assert_int_equal(rm_knobs_wait_persisted(fx->k, 5, 50, why, sizeof why), RM_ETIMEDOUT);
    assert_int_equal(access(fx->path, F_OK), -1); /* nothing written while stalled */
    assert_int_equal(rm_config_writer_writes(w), 0);

    rm_config_writer_hold(w, false);
    assert_int_equal(rm_knobs_wait_persisted(fx->k, 5, 30000, why, sizeof why), RM_OK);
    assert_true(wait_writes(w, 1));
    assert_int_equal(rm_config_writer_writes(w), 1); /* group commit: only the newest state */
    rm_knobs_persist_state(fx->k, &ps);
    assert_int_equal(ps.durable, 5);
    char *text = slurp(fx->path);
    assert_non_null(strstr(text, "warning_threshold = 0.64"));
    free(text);
    rm_config_writer_stop(w);

    /* "restart": a new instance reads the last commit */
    rm_knobs_t *k2;
    assert_int_equal(rm_knobs_create(&k2), RM_OK);
    rm_config_sources_t src = {.persisted_path = fx->path};
    assert_int_equal(rm_config_load(k2, &src, err, sizeof err), RM_OK);
    assert_true(rm_knobs_get_double(k2, RM_KNOB_PRESSURE_WARNING_THRESHOLD) == 0.64);
    rm_knobs_destroy(k2);
    assert_int_equal(count_files(fx->dir), 1); /* no temporary file left behind */
}

static void
test_config_writer_stop_writes_the_last_commit(void **state)
{
    fixture_t *fx = *state;
    rm_knob_error_t kerr;
    rm_config_writer_t *w;
    rm_knobs_mark_started(fx->k);
    assert_int_equal(rm_config_writer_start(fx->k, fx->path, &w), RM_OK);
    rm_config_writer_hold(w, true);
    rm_knob_assign_t a[] = {{"pool.min_size", "20"}};
    assert_int_equal(rm_knobs_set(fx->k, a, 1, 0, &kerr), RM_OK);
    rm_knob_assign_t b[] = {{"mvcc.max_versions_per_key", "300"}};
    assert_int_equal(rm_knobs_set(fx->k, b, 1, 0, &kerr), RM_OK);
    assert_int_equal(access(fx->path, F_OK), -1);
    rm_config_writer_stop(w); /* shutdown: the newest state reaches the disk */
    char *text = slurp(fx->path);
    assert_non_null(strstr(text, "min_size = 20"));
    assert_non_null(strstr(text, "max_versions_per_key = 300"));
    free(text);
    /* without a persister later sets are not persisted */
    rm_knob_assign_t c[] = {{"pool.min_size", "25"}};
    assert_int_equal(rm_knobs_set(fx->k, c, 1, 0, &kerr), RM_OK);
    assert_int_equal(kerr.persist_gen, 0);
    text = slurp(fx->path);
    assert_non_null(strstr(text, "min_size = 20"));
    free(text);
}

static void
test_config_writer_failure_is_reported_then_refuses_sets(void **state)
{
    fixture_t *fx = *state;
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        /* child: files may not grow past 8 bytes (a full disk), until lifted */
        struct rlimit old, rl;
        signal(SIGXFSZ, SIG_IGN);
        if (getrlimit(RLIMIT_FSIZE, &old) != 0)
            _exit(10);
        rl.rlim_cur = 8;
        rl.rlim_max = old.rlim_max;
        if (setrlimit(RLIMIT_FSIZE, &rl) != 0)
            _exit(10);
        rm_knobs_mark_started(fx->k);
        rm_config_writer_t *w;
        if (rm_config_writer_start(fx->k, fx->path, &w) != RM_OK)
            _exit(11);
        rm_knob_error_t kerr;
        char why[256];
        rm_knob_assign_t a[] = {{"pressure.warning_threshold", "0.6"}};
        if (rm_knobs_set(fx->k, a, 1, 0, &kerr) != RM_OK || kerr.persist_gen != 1)
            _exit(12); /* committed: the write happens later */
        if (rm_knobs_wait_persisted(fx->k, 1, 30000, why, sizeof why) != RM_EIO ||
            !strstr(why, "File too large"))
            _exit(13);
        rm_knobs_persist_state_t ps;
        rm_knobs_persist_state(fx->k, &ps);
        if (ps.durable != 0 || ps.failed != 1 || ps.status != RM_EIO || !strstr(ps.error, "write "))
            _exit(14);
        /* the writer is failed: the next set writes itself, and the disk refuses it */
        rm_knob_assign_t b[] = {{"pool.min_size", "20"}};
        if (rm_knobs_set(fx->k, b, 1, 0, &kerr) != RM_EIO ||
            !strstr(kerr.message, "cannot persist the knobs: write ") ||
            !strstr(kerr.message, "File too large"))
            _exit(15);
        if (rm_knobs_get_i64(fx->k, RM_KNOB_POOL_MIN_SIZE) != 10)
            _exit(16); /* refused: nothing changed */
        /* space again: the next set persists synchronously, the thread takes over */
        if (setrlimit(RLIMIT_FSIZE, &old) != 0)
            _exit(17);
        if (rm_knobs_set(fx->k, b, 1, 0, &kerr) != RM_OK || kerr.persist_gen != 2)
            _exit(18);
        rm_knobs_persist_state(fx->k, &ps);
        if (ps.durable != 2 || ps.failed != 0)
            _exit(19);
        rm_knob_assign_t c[] = {{"pool.min_size", "21"}};
        if (rm_knobs_set(fx->k, c, 1, 0, &kerr) != RM_OK ||
            rm_knobs_wait_persisted(fx->k, kerr.persist_gen, 30000, why, sizeof why) != RM_OK)
            _exit(20);
        rm_config_writer_stop(w);
        char *text = slurp(fx->path);
        if (!strstr(text, "warning_threshold = 0.6") || !strstr(text, "min_size = 21"))
            _exit(21);
        free(text);
        _exit(0);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    assert_int_equal(count_files(fx->dir), 1); /* the temporary files were removed */
}

int
main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_config_loads_file_values),
        T(test_config_error_names_file_line_and_knob_when_out_of_range),
        T(test_config_error_when_unknown_key),
        T(test_config_error_when_unknown_section),
        T(test_config_error_when_syntax_error),
        T(test_config_error_when_cross_knob_constraint_fails),
        T(test_config_error_when_key_set_twice),
        T(test_config_error_when_key_outside_section),
        T(test_config_error_when_file_missing),
        T(test_config_env_overrides_file),
        T(test_config_flags_override_env_and_file),
        T(test_config_final_state_is_validated_not_each_layer),
        T(test_config_env_error_names_variable_and_knob),
        T(test_config_env_error_when_unknown_knob_in_known_section),
        T(test_config_flag_errors_name_the_flag),
        T(test_config_split_assignment),
        T(test_config_persisted_changes_survive_restart),
        T(test_config_rejected_set_leaves_file_untouched),
        T(test_config_write_failure_keeps_old_file_and_values),
        T(test_config_write_atomic_fails_when_directory_missing),
        T(test_config_persisted_layer_sits_between_file_and_env),
        T(test_config_records_each_knobs_source_and_reset_value),
    T(test_config_error_names_persisted_file_line),
        T(test_config_full_dump_loads_back),
        T(test_config_conflicting_persisted_value_is_dropped_at_start),
        T(test_config_only_the_conflicting_persisted_value_is_dropped),
        T(test_config_file_conflict_without_persisted_culprit_still_fails),
        T(test_config_conflicting_persisted_value_is_forgotten_on_reload),
        T(test_config_profile_is_persisted),
        T(test_config_writer_set_returns_while_writer_stalled),
        T(test_config_writer_stop_writes_the_last_commit),
        T(test_config_writer_failure_is_reported_then_refuses_sets),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
