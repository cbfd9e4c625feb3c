/*
 * test_agent_common.c — the agent toolkit (agents/common): the logger's
 * escaping and line shape, the gRPC log adapter, the flag plumbing's exit
 * codes and messages, the port file and the loopback check. The daemons'
 * own use of it is tested end to end in tests/integration/test_log_escape.sh.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <grpc/support/log.h>

#include "agent.h"
#include "flags.h"
#include "log.h"

/* ---- stderr/stdout capture ---- */

static char cap_path[64];
static int saved_fd = -1;

static void
capture_begin(int fd)
{
    snprintf(cap_path, sizeof cap_path, "/tmp/rm-agent-common-XXXXXX");
    int t = mkstemp(cap_path);
    assert_true(t >= 0);
    fflush(fd == 1 ? stdout : stderr);
    saved_fd = dup(fd);
    assert_true(saved_fd >= 0);
    assert_int_equal(dup2(t, fd), fd);
    close(t);
}

/* Restore fd and return what was written to it (static buffer). */
static const char *
capture_end(int fd)
{
    static char buf[8192];
    fflush(fd == 1 ? stdout : stderr);
    assert_int_equal(dup2(saved_fd, fd), fd);
    close(saved_fd);
    FILE *f = fopen(cap_path, "r");
    assert_non_null(f);
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    unlink(cap_path);
    return buf;
}

static size_t
count_lines(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

/* ---- logging ---- */

static void
test_agent_log_escape_controls_del_and_invalid_utf8(void **state)
{
    (void)state;
    char out[128];
    rm_log_escape(out, sizeof out, "a\nb\r\x1b[2J\x7f\xff caf\xc3\xa9 \xc0\xaf");
    assert_string_equal(out, "a\\x0ab\\x0d\\x1b[2J\\x7f\\xff caf\xc3\xa9 \\xc0\\xaf");
}

static void
test_agent_log_escape_cuts_at_cap_without_splitting_an_escape(void **state)
{
    (void)state;
    char out[8];
    rm_log_escape(out, sizeof out, "abcd\x1b" "efgh");
    /* "abcd" fits, "\x1b" (4 bytes) would not: cut before it, still NUL-terminated. */
    assert_string_equal(out, "abcd");
}

static void
test_agent_log_writes_one_timestamped_escaped_line(void **state)
{
    (void)state;
    capture_begin(2);
    rm_log("WARN", "value %s from %d", "x\ny\x1b[31m", 7);
    const char *got = capture_end(2);
    assert_int_equal(count_lines(got), 1);
    /* 2026-12-06T18:40:50.123Z WARN  value … */
    assert_true(strlen(got) > 25);
    assert_int_equal(got[4], '-');
    assert_int_equal(got[10], 'T');
    assert_int_equal(got[19], '.');
    assert_int_equal(got[23], 'Z');
    assert_string_equal(got + 24, " WARN  value x\\x0ay\\x1b[31m from 7\n");
}

static void
test_agent_log_routes_grpc_lines_escaped(void **state)
{
    (void)state;
    rm_log_route_grpc(0);
    capture_begin(2);
    gpr_log(GPR_ERROR, "peer said %s", "bad\nline");
    gpr_log(GPR_INFO, "informational, dropped unless verbose");
    const char *got = capture_end(2);
    assert_int_equal(count_lines(got), 1);
    assert_non_null(strstr(got, " ERROR grpc test_agent_common.c:"));
    assert_non_null(strstr(got, ": peer said bad\\x0aline\n"));

    rm_log_route_grpc(1);
    capture_begin(2);
    gpr_log(GPR_INFO, "now shown");
    got = capture_end(2);
    assert_non_null(strstr(got, " INFO  grpc test_agent_common.c:"));
    assert_non_null(strstr(got, ": now shown\n"));
    rm_log_route_grpc(0);
}

/* ---- flags ---- */

static void
usage_text(FILE *f)
{
    fprintf(f, "usage: prog [options]\n");
}

static const rm_flags_prog_t prog = {
    .name = "prog", .version = "9.9", .help_hint = "see prog --help", .usage = usage_text};

enum { O_NAME = 256, O_FLAG };
static const struct option longopts[] = {
    {"name", required_argument, 0, O_NAME},
    {"flag", no_argument, 0, O_FLAG},
    RM_FLAGS_STD_LONGOPTS,
    {0, 0, 0, 0},
};

/*
 * Run the getopt loop over argv as a daemon does; returns its exit code, or
 * -1 when parsing succeeds. *name gets --name's value.
 */
static int
parse(int argc, char **argv, const char **name, int *flag)
{
    optind = 0;   /* glibc: re-initialise for a new argv */
    int c, rc;
    while ((c = rm_flags_next(&prog, argc, argv, longopts, &rc)) != -1) {
        if (c == RM_FLAGS_EXIT)
            return rc;
        switch (c) {
        case O_NAME: *name = optarg; break;
        case O_FLAG: *flag = 1; break;
        default: fail_msg("unexpected option value %d", c);
        }
    }
    return rm_flags_no_operands(&prog, argc, argv);
}

static void
test_agent_flags_parse_values_and_flags(void **state)
{
    (void)state;
    char *argv[] = {"prog", "--flag", "--name", "n1", "--name=n2", NULL};
    const char *name = NULL;
    int flag = 0;
    capture_begin(2);
    int rc = parse(5, argv, &name, &flag);
    const char *err = capture_end(2);
    assert_int_equal(rc, -1);
    assert_string_equal(name, "n2");   /* the last one wins */
    assert_int_equal(flag, 1);
    assert_string_equal(err, "");
}

static void
test_agent_flags_usage_errors_exit_2_with_one_line(void **state)
{
    (void)state;
    static const struct {
        char *arg1, *arg2;
        int argc;
        const char *msg;
    } cases[] = {
        {"--name", NULL, 2, "prog: --name needs a value (see prog --help)\n"},
        {"--bogus", NULL, 2, "prog: unknown option --bogus (see prog --help)\n"},
        {"--flag", "extra", 3, "prog: unexpected argument 'extra' (see prog --help)\n"},
        {"--bo\ngus\x1b[2J", NULL, 2, "prog: unknown option --bo\\x0agus\\x1b[2J (see prog --help)\n"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *argv[] = {"prog", cases[i].arg1, cases[i].arg2, NULL};
        const char *name = NULL;
        int flag = 0;
        capture_begin(2);
        int rc = parse(cases[i].argc, argv, &name, &flag);
        const char *err = capture_end(2);
        assert_int_equal(rc, 2);
        assert_string_equal(err, cases[i].msg);
    }
}

static void
test_agent_flags_help_and_version_exit_0_on_stdout(void **state)
{
    (void)state;
    char *v[] = {"prog", "--version", NULL};
    char *h[] = {"prog", "--help", "--bogus", NULL};
    const char *name = NULL;
    int flag = 0;
    capture_begin(1);
    int rc = parse(2, v, &name, &flag);
    const char *out = capture_end(1);
    assert_int_equal(rc, 0);
    assert_string_equal(out, "prog 9.9\n");
    capture_begin(1);
    rc = parse(3, h, &name, &flag);   /* --help answers before later flags are looked at */
    out = capture_end(1);
    assert_int_equal(rc, 0);
    assert_string_equal(out, "usage: prog [options]\n");
}

static void
test_agent_flags_numbers_checked_against_range(void **state)
{
    (void)state;
    long l = 42;
    double d = 4.2;
    capture_begin(2);
    assert_int_equal(rm_flags_long(&prog, "--threads", "17", 1, 16, &l), -1);
    assert_int_equal(rm_flags_long(&prog, "--threads", "3x", 1, 16, &l), -1);
    assert_int_equal(rm_flags_double(&prog, "--confidence", "1.5", 0.01, 1, &d), -1);
    assert_int_equal(rm_flags_double(&prog, "--confidence", "nan", 0.01, 1, &d), -1);
    const char *err = capture_end(2);
    assert_int_equal(l, 42);   /* unchanged on failure */
    assert_true(d == 4.2);
    assert_string_equal(err, "prog: --threads 17: expected a whole number in 1..16\n"
                             "prog: --threads 3x: expected a whole number in 1..16\n"
                             "prog: --confidence 1.5: expected a number in 0.01..1\n"
                             "prog: --confidence nan: expected a number in 0.01..1\n");
    assert_int_equal(rm_flags_long(&prog, "--threads", "16", 1, 16, &l), 0);
    assert_int_equal(l, 16);
    assert_int_equal(rm_flags_double(&prog, "--confidence", "0.7", 0.01, 1, &d), 0);
    assert_true(d == 0.7);
}

/* ---- port file, loopback, signals ---- */

static void
test_agent_port_file_written_whole_and_failure_reported(void **state)
{
    (void)state;
    char dir[] = "/tmp/rm-agent-port-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[128], tmp[160], buf[32] = "";
    snprintf(path, sizeof path, "%s/port", dir);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    assert_int_equal(rm_agent_write_port_file(path, 50051), 0);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    assert_non_null(fgets(buf, sizeof buf, f));
    fclose(f);
    assert_string_equal(buf, "50051\n");
    struct stat st;
    assert_int_equal(stat(tmp, &st), -1);   /* renamed into place, no .tmp left */
    unlink(path);
    rmdir(dir);
    assert_int_equal(rm_agent_write_port_file("/nonexistent-dir/port", 1), -1);
}

static void
test_agent_is_loopback_only_for_this_host(void **state)
{
    (void)state;
    assert_true(rm_agent_is_loopback("127.0.0.1:50051"));
    assert_true(rm_agent_is_loopback("127.1.2.3:0"));
    assert_true(rm_agent_is_loopback("[::1]:50051"));
    assert_true(rm_agent_is_loopback("localhost:1"));
    assert_true(rm_agent_is_loopback("unix:/run/rustymem.sock"));
    assert_false(rm_agent_is_loopback("0.0.0.0:50051"));
    assert_false(rm_agent_is_loopback(":50051"));
    assert_false(rm_agent_is_loopback("[::]:50051"));
    assert_false(rm_agent_is_loopback("10.0.0.1:50051"));
    assert_false(rm_agent_is_loopback("localhostile:1"));
}

static void
test_agent_listen_check_closed_by_default_beyond_loopback(void **state)
{
    (void)state;
    rm_agent_serve_t s = {0};
    capture_begin(2);
    int plain = rm_agent_listen_check(&prog, "0.0.0.0:50051", &s);
    s.insecure = 1;
    int open_api = rm_agent_listen_check(&prog, "0.0.0.0:50051", &s);
    const char *err = capture_end(2);
    assert_int_equal(plain, 2);
    assert_int_equal(open_api, 2);
    assert_string_equal(err, "prog: --listen 0.0.0.0:50051 is not a loopback address: serve it with TLS "
                             "(--tls-cert, --tls-key) or allow plaintext explicitly with --insecure\n"
                             "prog: --listen 0.0.0.0:50051 is not a loopback address and no caller would be "
                             "authenticated: give --auth-file FILE (tokens with roles) or --tls-client-ca "
                             "FILE (mTLS), or accept an open admin API explicitly with "
                             "--allow-unauthenticated\n");
    capture_begin(2);
    s.auth_file = "/etc/rustymem/auth";
    assert_int_equal(rm_agent_listen_check(&prog, "0.0.0.0:50051", &s), -1);
    s = (rm_agent_serve_t){.tls_cert = "c.pem", .allow_unauthenticated = 1};
    assert_int_equal(rm_agent_listen_check(&prog, "10.0.0.1:1", &s), -1);
    s = (rm_agent_serve_t){0};   /* loopback: plaintext, open */
    assert_int_equal(rm_agent_listen_check(&prog, "127.0.0.1:0", &s), -1);
    assert_string_equal(capture_end(2), "");
}

static void
test_agent_serve_flags_taken_from_the_getopt_loop(void **state)
{
    (void)state;
    enum { O_OWN = 256, O_SERVE };
    static const struct option opts[] = {
        {"own", no_argument, 0, O_OWN},
        RM_AGENT_SERVE_LONGOPTS(O_SERVE),
        {0, 0, 0, 0},
    };
    char *argv[] = {"prog", "--tls-cert", "c.pem", "--tls-key=k.pem", "--tls-client-ca", "ca.pem",
                    "--auth-file", "auth", "--insecure", "--allow-unauthenticated", "--own", NULL};
    rm_agent_serve_t s = {0};
    int c, rc, own = 0;
    optind = 0;
    while ((c = rm_flags_next(&prog, 11, argv, opts, &rc)) != -1) {
        assert_int_not_equal(c, RM_FLAGS_EXIT);
        if (c == O_OWN)
            own = 1;
        else
            assert_true(rm_agent_serve_flag(&s, c, O_SERVE));
    }
    assert_int_equal(own, 1);
    assert_false(rm_agent_serve_flag(&s, O_OWN, O_SERVE));
    assert_string_equal(s.tls_cert, "c.pem");
    assert_string_equal(s.tls_key, "k.pem");
    assert_string_equal(s.tls_client_ca, "ca.pem");
    assert_string_equal(s.auth_file, "auth");
    assert_int_equal(s.insecure, 1);
    assert_int_equal(s.allow_unauthenticated, 1);
}

static void
test_agent_signals_blocked_and_taken_by_wait(void **state)
{
    (void)state;
    sigset_t set, old, now;
    pthread_sigmask(SIG_SETMASK, NULL, &old);
    rm_agent_signals_block(&set, 1);
    pthread_sigmask(SIG_SETMASK, NULL, &now);
    assert_true(sigismember(&now, SIGTERM) && sigismember(&now, SIGINT) && sigismember(&now, SIGHUP));
    assert_int_equal(raise(SIGHUP), 0);   /* blocked: pending, not fatal */
    assert_int_equal(rm_agent_signals_wait(&set), SIGHUP);
    assert_string_equal(rm_agent_signal_name(SIGHUP), "SIGHUP");
    assert_string_equal(rm_agent_signal_name(SIGTERM), "SIGTERM");
    assert_string_equal(rm_agent_signal_name(SIGINT), "SIGINT");
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    signal(SIGPIPE, SIG_DFL);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_agent_log_escape_controls_del_and_invalid_utf8),
        cmocka_unit_test(test_agent_log_escape_cuts_at_cap_without_splitting_an_escape),
        cmocka_unit_test(test_agent_log_writes_one_timestamped_escaped_line),
        cmocka_unit_test(test_agent_log_routes_grpc_lines_escaped),
        cmocka_unit_test(test_agent_flags_parse_values_and_flags),
        cmocka_unit_test(test_agent_flags_usage_errors_exit_2_with_one_line),
        cmocka_unit_test(test_agent_flags_help_and_version_exit_0_on_stdout),
        cmocka_unit_test(test_agent_flags_numbers_checked_against_range),
        cmocka_unit_test(test_agent_port_file_written_whole_and_failure_reported),
        cmocka_unit_test(test_agent_is_loopback_only_for_this_host),
        cmocka_unit_test(test_agent_listen_check_closed_by_default_beyond_loopback),
        cmocka_unit_test(test_agent_serve_flags_taken_from_the_getopt_loop),
        cmocka_unit_test(test_agent_signals_blocked_and_taken_by_wait),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
