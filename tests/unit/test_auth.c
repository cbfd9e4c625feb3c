/*
 * test_auth.c — the auth file fails closed, reloads atomically, and refused
 * calls reach the audit hook with principal and peer (service/auth.c).
 */
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <grpc/slice.h>

#include "auth.h"
#include "rpc_internal.h"

#define READER_TOK "reader-token-0123456789abcdef"
#define ADMIN_TOK "admin-token-0123456789abcdefgh"

static const rm_rpc_method_t m_read = {.path = "/t.S/Read", .role = RM_ROLE_READER};
static const rm_rpc_method_t m_write = {.path = "/t.S/Write", .role = RM_ROLE_ADMIN};

static char dir[64];

static int
setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/rm-auth-XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int
teardown(void **state)
{
    (void)state;
    char cmd[96];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* Write `len` bytes to dir/name with mode; returns the path (static buffer per call site use). */
static const char *
write_file(const char *name, const char *text, size_t len, mode_t mode)
{
    static char path[4][128];
    static int next;
    char *p = path[next++ % 4];
    snprintf(p, 128, "%s/%s", dir, name);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    assert_int_equal(fwrite(text, 1, len, f), len);
    fclose(f);
    assert_int_equal(chmod(p, mode), 0);
    return p;
}

#define WRITE(name, text) write_file((name), (text), strlen(text), 0600)

/* One call's context with an optional bearer token and a peer address. */
typedef struct call {
    rm_rpc_ctx_t ctx;
    grpc_metadata md;
    grpc_metadata_array arr;
} call_t;

static void
call_init(call_t *c, const rm_rpc_method_t *m, const char *token)
{
    memset(c, 0, sizeof *c);
    rm__rpc_ctx_init(&c->ctx, m, NULL);
    snprintf(c->ctx.peer, sizeof c->ctx.peer, "ipv4:10.1.2.3:4567");
    if (token) {
        char hdr[700];
        snprintf(hdr, sizeof hdr, "Bearer %s", token);
        c->md.key = grpc_slice_from_static_string("authorization");
        c->md.value = grpc_slice_from_copied_string(hdr);
        c->arr.count = c->arr.capacity = 1;
        c->arr.metadata = &c->md;
        c->ctx.md = &c->arr;
    }
}

static void
call_done(call_t *c)
{
    if (c->ctx.md)
        grpc_slice_unref(c->md.value);
    rm__rpc_ctx_release(&c->ctx);
}

static grpc_status_code
check(rm_auth_t *a, const rm_rpc_method_t *m, const char *token)
{
    call_t c;
    call_init(&c, m, token);
    grpc_status_code code = rm_auth_check(a, &c.ctx);
    call_done(&c);
    return code;
}

static void
test_auth_load_refuses_files_that_grant_nothing(void **state)
{
    (void)state;
    const char *cases[] = {"", "# nothing\n\n   \t\n# still nothing\n"};
    for (size_t i = 0; i < 2; i++) {
        rm_auth_t *a = (void *)1;
        char err[256] = "";
        const char *p = WRITE("empty", cases[i]);
        assert_int_equal(rm_auth_load(p, 0, &a, err, sizeof err), RM_EINVAL);
        assert_null(a);
        assert_non_null(strstr(err, "grants nothing"));
        assert_non_null(strstr(err, p));
    }
}

static void
test_auth_load_refuses_duplicate_secret_without_printing_it(void **state)
{
    (void)state;
    rm_auth_t *a = NULL;
    char err[256] = "";
    const char *p = WRITE("dup", "token reader " READER_TOK " a\n# x\ntoken admin " READER_TOK " b\n");
    assert_int_equal(rm_auth_load(p, 0, &a, err, sizeof err), RM_EINVAL);
    assert_non_null(strstr(err, ":3: this token is already on line 1"));
    assert_null(strstr(err, READER_TOK));
    p = WRITE("dupcert", "cert admin operator\ncert reader operator\n");
    assert_int_equal(rm_auth_load(p, 1, &a, err, sizeof err), RM_EINVAL);
    assert_non_null(strstr(err, ":2: this certificate identity is already on line 1"));
}

static void
test_auth_load_refuses_nul_byte(void **state)
{
    (void)state;
    static const char text[] = "token reader " READER_TOK " a\ntoken admin admin-token-01234567\0tail b\n";
    const char *p = write_file("nul", text, sizeof text - 1, 0600);
    rm_auth_t *a = NULL;
    char err[256] = "";
    assert_int_equal(rm_auth_load(p, 0, &a, err, sizeof err), RM_EINVAL);
    assert_non_null(strstr(err, ":2: contains a NUL byte"));
}

static void
test_auth_load_keeps_a_long_secret_whole(void **state)
{
    (void)state;
    char tok[601], text[700];
    memset(tok, 'k', 600);
    tok[600] = '\0';
    snprintf(text, sizeof text, "token admin %s long\n", tok);
    rm_auth_t *a = NULL;
    char err[256] = "";
    assert_int_equal(rm_auth_load(WRITE("long", text), 0, &a, err, sizeof err), RM_OK);
    assert_int_equal(check(a, &m_write, tok), GRPC_STATUS_OK);
    tok[511] = '\0'; /* the old parser kept only 511 characters: that prefix must not pass */
    assert_int_equal(check(a, &m_write, tok), GRPC_STATUS_UNAUTHENTICATED);
    rm_auth_destroy(a);
}

static void
test_auth_load_warns_on_loose_mode(void **state)
{
    (void)state;
    const char *text = "token reader " READER_TOK " a\n";
    rm_auth_t *a = NULL;
    char err[256] = "", warn[512];
    assert_int_equal(rm_auth_load(write_file("loose", text, strlen(text), 0644), 0, &a, err, sizeof err),
                     RM_OK);
    assert_int_equal(rm_auth_warning(a, warn, sizeof warn), 1);
    assert_non_null(strstr(warn, "mode 0644"));
    rm_auth_destroy(a);
    assert_int_equal(rm_auth_load(write_file("tight", text, strlen(text), 0600), 0, &a, err, sizeof err),
                     RM_OK);
    assert_int_equal(rm_auth_warning(a, warn, sizeof warn), 0);
    assert_string_equal(warn, "");
    rm_auth_destroy(a);
}

static int audits;
static char last_audit[1024];

static void
audit_hook(void *ctx, const char *identity, const char *peer, const char *rpc, const char *detail)
{
    (void)ctx;
    audits++;
    snprintf(last_audit, sizeof last_audit, "%s %s %s peer=%s", identity, rpc, detail, peer);
}

static void
test_auth_check_roles_and_audits_refusals_with_peer(void **state)
{
    (void)state;
    rm_auth_t *a = NULL;
    char err[256] = "";
    assert_int_equal(rm_auth_load(WRITE("roles", "token reader " READER_TOK
                                                 " dashboards\ntoken admin " ADMIN_TOK " oncall\n"),
                                  0, &a, err, sizeof err),
                     RM_OK);
    rm_auth_set_audit(a, audit_hook, NULL);
    audits = 0;
    assert_int_equal(check(a, &m_read, READER_TOK), GRPC_STATUS_OK);
    assert_int_equal(check(a, &m_write, ADMIN_TOK), GRPC_STATUS_OK);
    assert_int_equal(audits, 0);
    assert_int_equal(check(a, &m_write, READER_TOK), GRPC_STATUS_PERMISSION_DENIED);
    assert_int_equal(audits, 1);
    assert_non_null(strstr(last_audit, "token:dashboards /t.S/Write denied PERMISSION_DENIED: "));
    assert_non_null(strstr(last_audit, "peer=ipv4:10.1.2.3:4567"));
    assert_int_equal(check(a, &m_read, NULL), GRPC_STATUS_UNAUTHENTICATED);
    assert_non_null(strstr(last_audit, "anonymous /t.S/Read denied UNAUTHENTICATED: "));
    assert_int_equal(check(a, &m_read, "not-a-known-token-000000"), GRPC_STATUS_UNAUTHENTICATED);
    assert_int_equal(audits, 3);
    assert_null(strstr(last_audit, "not-a-known-token"));
    rm_auth_destroy(a);
}

static void
test_auth_reload_revokes_and_a_bad_file_keeps_the_rules(void **state)
{
    (void)state;
    rm_auth_t *a = NULL;
    char err[256] = "";
    const char *p = WRITE("live", "token admin " ADMIN_TOK " old\n");
    assert_int_equal(rm_auth_load(p, 0, &a, err, sizeof err), RM_OK);
    assert_int_equal(check(a, &m_write, ADMIN_TOK), GRPC_STATUS_OK);
    WRITE("live", "token admin new-admin-token-0123456789 new\ntoken reader " READER_TOK " r\n");
    assert_int_equal(rm_auth_reload(a, err, sizeof err), RM_OK);
    assert_int_equal(rm_auth_rules(a), 2);
    assert_int_equal(check(a, &m_write, ADMIN_TOK), GRPC_STATUS_UNAUTHENTICATED);
    assert_int_equal(check(a, &m_write, "new-admin-token-0123456789"), GRPC_STATUS_OK);
    WRITE("live", "# emptied by mistake\n");
    assert_int_equal(rm_auth_reload(a, err, sizeof err), RM_EINVAL);
    assert_non_null(strstr(err, "grants nothing"));
    assert_int_equal(rm_auth_rules(a), 2);
    assert_int_equal(check(a, &m_write, "new-admin-token-0123456789"), GRPC_STATUS_OK);
    assert_int_equal(check(a, &m_read, NULL), GRPC_STATUS_UNAUTHENTICATED);
    rm_auth_destroy(a);

    /* Without a file there is nothing to reload, and the server stays open. */
    assert_int_equal(rm_auth_load(NULL, 0, &a, err, sizeof err), RM_OK);
    assert_int_equal(rm_auth_reload(a, err, sizeof err), RM_EINVAL);
    assert_int_equal(check(a, &m_write, NULL), GRPC_STATUS_OK);
    rm_auth_destroy(a);
}

typedef struct {
    rm_auth_t *a;
    int stop;
    int failures;
    int checks;
} race_t;

static void *
checker(void *arg)
{
    race_t *r = arg;
    while (!__atomic_load_n(&r->stop, __ATOMIC_ACQUIRE)) {
        /* READER_TOK is in both files: it must never be refused mid-reload. */
        if (check(r->a, &m_read, READER_TOK) != GRPC_STATUS_OK)
            __atomic_add_fetch(&r->failures, 1, __ATOMIC_RELAXED);
        __atomic_add_fetch(&r->checks, 1, __ATOMIC_RELAXED);
    }
    return NULL;
}

static void
test_auth_reload_is_atomic_for_concurrent_checks(void **state)
{
    (void)state;
    race_t r = {0};
    char err[256] = "";
    const char *p = WRITE("race", "token reader " READER_TOK " r\n");
    assert_int_equal(rm_auth_load(p, 0, &r.a, err, sizeof err), RM_OK);
    pthread_t th[4];
    for (int i = 0; i < 4; i++)
        assert_int_equal(pthread_create(&th[i], NULL, checker, &r), 0);
    for (int i = 0; i < 200; i++) {
        WRITE("race", i % 2 ? "token reader " READER_TOK " r\n"
                            : "token admin " ADMIN_TOK " a\ntoken reader " READER_TOK " r\n");
        assert_int_equal(rm_auth_reload(r.a, err, sizeof err), RM_OK);
    }
    __atomic_store_n(&r.stop, 1, __ATOMIC_RELEASE);
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    assert_true(r.checks > 0);
    assert_int_equal(r.failures, 0);
    rm_auth_destroy(r.a);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_auth_load_refuses_files_that_grant_nothing),
        cmocka_unit_test(test_auth_load_refuses_duplicate_secret_without_printing_it),
        cmocka_unit_test(test_auth_load_refuses_nul_byte),
        cmocka_unit_test(test_auth_load_keeps_a_long_secret_whole),
        cmocka_unit_test(test_auth_load_warns_on_loose_mode),
        cmocka_unit_test(test_auth_check_roles_and_audits_refusals_with_peer),
        cmocka_unit_test(test_auth_reload_revokes_and_a_bad_file_keeps_the_rules),
        cmocka_unit_test(test_auth_reload_is_atomic_for_concurrent_checks),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
