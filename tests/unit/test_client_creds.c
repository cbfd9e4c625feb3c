/*
 * test_client_creds.c — the one credential resolver every client uses
 * (service/client/creds.c): precedence, token files, flag combinations.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "client.h"

static char path[64];

static const char *
token_file(const char *text, size_t len)
{
    snprintf(path, sizeof path, "/tmp/rm-creds-XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, len), (ssize_t)len);
    close(fd);
    return path;
}

static rm_status_t
apply(rm_client_creds_t *c, const char *env, rm_client_opts_t *o, char *err, size_t cap)
{
    memset(o, 0, sizeof *o);
    err[0] = '\0';
    return rm_client_creds_apply(c, env, o, err, cap);
}

static void
test_client_creds_precedence_flag_file_env(void **state)
{
    (void)state;
    rm_client_creds_t c = {0};
    rm_client_opts_t o;
    char err[256];
    assert_int_equal(apply(&c, "from-env", &o, err, sizeof err), RM_OK);
    assert_string_equal(o.token, "from-env");
    assert_string_equal(c.source, "RUSTYMEM_TOKEN");

    const char *f = token_file("\n  from-file-0123 \r\n", 19);
    rm_client_creds_set(&c, RM_CRED_TOKEN_FILE, f);
    assert_int_equal(apply(&c, "from-env", &o, err, sizeof err), RM_OK);
    assert_string_equal(o.token, "from-file-0123");
    assert_non_null(strstr(c.source, "--token-file"));

    rm_client_creds_set(&c, RM_CRED_TOKEN_FILE, NULL);
    rm_client_creds_set(&c, RM_CRED_TOKEN, "from-flag");
    assert_int_equal(apply(&c, "from-env", &o, err, sizeof err), RM_OK);
    assert_string_equal(o.token, "from-flag");

    rm_client_creds_set(&c, RM_CRED_TOKEN, NULL);
    assert_int_equal(apply(&c, "", &o, err, sizeof err), RM_OK);
    assert_null(o.token);
    assert_string_equal(c.source, "none");
    rm_client_creds_free(&c);
    unlink(f);
}

static void
test_client_creds_both_token_flags_is_a_usage_error(void **state)
{
    (void)state;
    rm_client_creds_t c = {0};
    rm_client_opts_t o;
    char err[256];
    rm_client_creds_set(&c, RM_CRED_TOKEN, "x");
    rm_client_creds_set(&c, RM_CRED_TOKEN_FILE, "/nonexistent");
    assert_int_equal(apply(&c, NULL, &o, err, sizeof err), RM_EINVAL);
    assert_string_equal(err, "give --token or --token-file, not both");
    assert_null(o.token);
}

static void
test_client_creds_bad_token_files_name_the_file(void **state)
{
    (void)state;
    rm_client_creds_t c = {0};
    rm_client_opts_t o;
    char err[256];
    rm_client_creds_set(&c, RM_CRED_TOKEN_FILE, "/nonexistent/token");
    assert_int_equal(apply(&c, "env-would-work", &o, err, sizeof err), RM_EIO);
    assert_non_null(strstr(err, "--token-file /nonexistent/token: No such file"));
    assert_null(o.token); /* no silent fallback to the environment */

    struct {
        const char *text;
        size_t len;
        const char *want;
    } bad[] = {{" \n\t", 3, "is empty"},
               {"two words-0123", 14, "exactly one token"},
               {"nul\0-tail", 9, "exactly one token"}};
    for (size_t i = 0; i < 3; i++) {
        const char *f = token_file(bad[i].text, bad[i].len);
        rm_client_creds_set(&c, RM_CRED_TOKEN_FILE, f);
        assert_int_equal(apply(&c, NULL, &o, err, sizeof err), RM_EIO);
        assert_non_null(strstr(err, f));
        assert_non_null(strstr(err, bad[i].want));
        unlink(f);
    }
    char big[5000];
    memset(big, 'a', sizeof big);
    const char *f = token_file(big, sizeof big);
    rm_client_creds_set(&c, RM_CRED_TOKEN_FILE, f);
    assert_int_equal(apply(&c, NULL, &o, err, sizeof err), RM_EIO);
    assert_non_null(strstr(err, "larger than"));
    unlink(f);
}

static void
test_client_creds_tls_combinations_with_prefix(void **state)
{
    (void)state;
    rm_client_creds_t c = {.tls_prefix = "agent-tls"};
    rm_client_opts_t o;
    char err[256];
    assert_int_equal(rm_client_creds_match(&c, "--agent-tls-ca"), RM_CRED_TLS_CA);
    assert_int_equal(rm_client_creds_match(&c, "agent-tls-server-name"), RM_CRED_TLS_SERVER_NAME);
    assert_int_equal(rm_client_creds_match(&c, "--token-file"), RM_CRED_TOKEN_FILE);
    assert_int_equal(rm_client_creds_match(&c, "--tls-ca"), -1);
    rm_client_creds_t plain = {0};
    assert_int_equal(rm_client_creds_match(&plain, "--tls-cert"), RM_CRED_TLS_CERT);

    rm_client_creds_set(&c, RM_CRED_TLS_CERT, "c.pem");
    assert_int_equal(apply(&c, NULL, &o, err, sizeof err), RM_EINVAL);
    assert_string_equal(err, "--agent-tls-cert and --agent-tls-key go together");
    rm_client_creds_set(&c, RM_CRED_TLS_KEY, "k.pem");
    rm_client_creds_set(&c, RM_CRED_TLS_CA, "ca.pem");
    rm_client_creds_set(&c, RM_CRED_TLS_SERVER_NAME, "agent.example");
    assert_int_equal(apply(&c, NULL, &o, err, sizeof err), RM_OK);
    assert_string_equal(o.tls_cert_file, "c.pem");
    assert_string_equal(o.tls_key_file, "k.pem");
    assert_string_equal(o.tls_ca_file, "ca.pem");
    assert_string_equal(o.tls_server_name, "agent.example");

    rm_client_creds_t sni = {0};
    rm_client_creds_set(&sni, RM_CRED_TLS_SERVER_NAME, "x");
    assert_int_equal(apply(&sni, NULL, &o, err, sizeof err), RM_EINVAL);
    assert_non_null(strstr(err, "--tls-server-name needs TLS"));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_client_creds_precedence_flag_file_env),
        cmocka_unit_test(test_client_creds_both_token_flags_is_a_usage_error),
        cmocka_unit_test(test_client_creds_bad_token_files_name_the_file),
        cmocka_unit_test(test_client_creds_tls_combinations_with_prefix),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
