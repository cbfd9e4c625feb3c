/*
 * auth.c — bearer-token and client-certificate authorisation (see auth.h).
 *
 * Design note: the rules live in an immutable ruleset; rm_auth_t holds the
 * one in force behind a read-write lock, so a reload (SIGHUP) parses the
 * whole file first and swaps only a file that parsed cleanly — a bad edit
 * never leaves a half-read or empty rule list in force (fail closed). Lines
 * are read with getline() so an embedded NUL is seen instead of silently
 * cutting a secret short, and fields are split without width limits so a
 * long secret is never truncated either. The file's mode follows
 * PostgreSQL's rule for key files: 0600 or stricter, or 0640 when owned by
 * root (a Kubernetes Secret volume: root:fsGroup 0440); anything looser is
 * loaded with a warning.
 */
#include "auth.h"

#include <ctype.h>
#include <errno.h>
#include <openssl/crypto.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "rpc_internal.h"

#define AUDIT_PER_SECOND 20

typedef struct rule {
    int is_cert;
    rm_rpc_role_t role;
    char *secret; /* token or certificate identity */
    size_t secret_len;
    char name[64]; /* who, for the audit log */
    unsigned line; /* where in the file, for duplicate messages */
} rule_t;

typedef struct ruleset {
    rule_t *rules;
    size_t n;
} ruleset_t;

struct rm_auth {
    int mtls;
    char *path; /* NULL = no file */
    pthread_rwlock_t lock;
    ruleset_t *rs;          /* guarded by lock */
    char warning[512];      /* guarded by lock */
    rm_auth_audit_fn audit; /* set before serving */
    void *audit_ctx;
    pthread_mutex_t audit_mu;
    time_t audit_second;            /* guarded by audit_mu */
    unsigned audit_in_second;       /* guarded by audit_mu */
    unsigned long audit_suppressed; /* guarded by audit_mu */
};

const char *
rm_auth_role_name(rm_rpc_role_t role)
{
    switch (role) {
    case RM_ROLE_ANY: return "any";
    case RM_ROLE_READER: return "reader";
    case RM_ROLE_ADMIN: return "admin";
    case RM_ROLE_CLIENT: return "client";
    }
    return "?";
}

static int
parse_role(const char *s, rm_rpc_role_t *out)
{
    if (strcmp(s, "reader") == 0)
        *out = RM_ROLE_READER;
    else if (strcmp(s, "admin") == 0)
        *out = RM_ROLE_ADMIN;
    else if (strcmp(s, "client") == 0)
        *out = RM_ROLE_CLIENT;
    else
        return -1;
    return 0;
}

static void
ruleset_free(ruleset_t *rs)
{
    if (!rs)
        return;
    for (size_t i = 0; i < rs->n; i++) {
        OPENSSL_cleanse(rs->rules[i].secret, rs->rules[i].secret_len);
        free(rs->rules[i].secret);
    }
    free(rs->rules);
    free(rs);
}

void
rm_auth_destroy(rm_auth_t *a)
{
    if (!a)
        return;
    ruleset_free(a->rs);
    pthread_rwlock_destroy(&a->lock);
    pthread_mutex_destroy(&a->audit_mu);
    free(a->path);
    free(a);
}

size_t
rm_auth_rules(const rm_auth_t *a)
{
    if (!a)
        return 0;
    pthread_rwlock_rdlock((pthread_rwlock_t *)&a->lock);
    size_t n = a->rs ? a->rs->n : 0;
    pthread_rwlock_unlock((pthread_rwlock_t *)&a->lock);
    return n;
}

int
rm_auth_warning(rm_auth_t *a, char *buf, size_t cap)
{
    if (cap)
        buf[0] = '\0';
    if (!a || !cap)
        return 0;
    pthread_rwlock_rdlock(&a->lock);
    snprintf(buf, cap, "%s", a->warning);
    pthread_rwlock_unlock(&a->lock);
    return buf[0] != '\0';
}

void
rm_auth_set_audit(rm_auth_t *a, rm_auth_audit_fn fn, void *ctx)
{
    a->audit = fn;
    a->audit_ctx = ctx;
}

/* Next whitespace-separated field of *p, NUL-terminated in place; NULL at the end. */
static char *
field(char **p)
{
    char *s = *p;
    while (*s && isspace((unsigned char)*s))
        s++;
    if (!*s) {
        *p = s;
        return NULL;
    }
    char *e = s;
    while (*e && !isspace((unsigned char)*e))
        e++;
    if (*e)
        *e++ = '\0';
    *p = e;
    return s;
}

/*
 * Parse the file into a new ruleset. warn receives the mode warning ("" when
 * none). Returns RM_OK with *out, else err names file:line.
 */
static rm_status_t
parse_file(const char *path, ruleset_t **out, char *warn, size_t warncap, char *err, size_t errcap)
{
    *out = NULL;
    warn[0] = '\0';
    FILE *f = fopen(path, "re");
    if (!f) {
        snprintf(err, errcap, "cannot read auth file %s: %s", path, strerror(errno));
        return RM_EIO;
    }
    struct stat sb;
    if (fstat(fileno(f), &sb) == 0) {
        mode_t loose = sb.st_uid == 0 ? (S_IWGRP | S_IRWXO) : (S_IRWXG | S_IRWXO);
        if (sb.st_mode & loose)
            snprintf(warn, warncap,
                     "auth file %s has mode 0%03o: other users %s read the tokens (use chmod 600, or 640 "
                     "owned by root)",
                     path, (unsigned)(sb.st_mode & 0777),
                     (sb.st_mode & S_IRWXO) ? "can" : "of its group can");
    }
    ruleset_t *rs = calloc(1, sizeof *rs);
    if (!rs) {
        fclose(f);
        snprintf(err, errcap, "out of memory");
        return RM_ENOMEM;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    unsigned lineno = 0;
    rm_status_t st = RM_OK;
    while ((len = getline(&line, &cap, f)) >= 0) {
        lineno++;
        if (memchr(line, '\0', (size_t)len)) {
            snprintf(err, errcap, "%s:%u: contains a NUL byte (a secret would be cut short there)", path,
                     lineno);
            st = RM_EINVAL;
            break;
        }
        char *hash = strchr(line, '#');
        if (hash)
            *hash = '\0';
        char *p = line;
        char *kind = field(&p);
        if (!kind)
            continue;
        char *role = field(&p), *secret = field(&p), *name = field(&p), *extra = field(&p);
        rule_t r = {0};
        if (!secret || (strcmp(kind, "token") != 0 && strcmp(kind, "cert") != 0) ||
            (strcmp(kind, "cert") == 0 && name) || extra) {
            snprintf(err, errcap, "%s:%u: expected 'token ROLE SECRET [NAME]' or 'cert ROLE IDENTITY'", path,
                     lineno);
            st = RM_EINVAL;
            break;
        }
        if (parse_role(role, &r.role) < 0) {
            snprintf(err, errcap, "%s:%u: role '%.32s': expected reader, admin or client", path, lineno,
                     role);
            st = RM_EINVAL;
            break;
        }
        r.is_cert = kind[0] == 'c';
        r.line = lineno;
        r.secret_len = strlen(secret);
        if (!r.is_cert && r.secret_len < 16) {
            snprintf(err, errcap, "%s:%u: token too short: use at least 16 characters", path, lineno);
            st = RM_EINVAL;
            break;
        }
        for (size_t i = 0; i < rs->n; i++) {
            const rule_t *o = &rs->rules[i];
            if (o->is_cert == r.is_cert && o->secret_len == r.secret_len &&
                CRYPTO_memcmp(o->secret, secret, r.secret_len) == 0) {
                snprintf(err, errcap, "%s:%u: this %s is already on line %u (each %s may appear once)", path,
                         lineno, r.is_cert ? "certificate identity" : "token", o->line,
                         r.is_cert ? "identity" : "secret");
                st = RM_EINVAL;
                break;
            }
        }
        if (st != RM_OK)
            break;
        r.secret = strdup(secret);
        /* The audit name: a certificate's identity, or the token's label (never the secret). */
        const char *label = r.is_cert ? secret : (name ? name : "token");
        size_t llen = strnlen(label, sizeof r.name - 1);
        memcpy(r.name, label, llen);
        r.name[llen] = '\0';
        rule_t *grown = r.secret ? realloc(rs->rules, (rs->n + 1) * sizeof *rs->rules) : NULL;
        if (!grown) {
            free(r.secret);
            snprintf(err, errcap, "out of memory");
            st = RM_ENOMEM;
            break;
        }
        rs->rules = grown;
        rs->rules[rs->n++] = r;
    }
    if (line) {
        OPENSSL_cleanse(line, cap);
        free(line);
    }
    if (st == RM_OK && ferror(f)) {
        snprintf(err, errcap, "cannot read auth file %s: %s", path, strerror(errno));
        st = RM_EIO;
    }
    fclose(f);
    if (st == RM_OK && rs->n == 0) {
        snprintf(
            err, errcap,
            "auth file %s grants nothing (no 'token' or 'cert' line): refusing to start open; add a rule "
            "or drop --auth-file",
            path);
        st = RM_EINVAL;
    }
    if (st != RM_OK) {
        ruleset_free(rs);
        return st;
    }
    *out = rs;
    return RM_OK;
}

rm_status_t
rm_auth_load(const char *path, int mtls, rm_auth_t **out, char *err, size_t errcap)
{
    *out = NULL;
    rm_auth_t *a = calloc(1, sizeof *a);
    if (!a || (path && !(a->path = strdup(path)))) {
        free(a);
        snprintf(err, errcap, "out of memory");
        return RM_ENOMEM;
    }
    a->mtls = mtls;
    if (path) {
        rm_status_t st = parse_file(path, &a->rs, a->warning, sizeof a->warning, err, errcap);
        if (st != RM_OK) {
            free(a->path);
            free(a);
            return st;
        }
    }
    /*
     * Writer preference: glibc's default lets a steady stream of checking
     * calls hold off a SIGHUP reload (and so a revocation) indefinitely.
     */
    pthread_rwlockattr_t attr;
    pthread_rwlockattr_init(&attr);
    pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    pthread_rwlock_init(&a->lock, &attr);
    pthread_rwlockattr_destroy(&attr);
    pthread_mutex_init(&a->audit_mu, NULL);
    *out = a;
    return RM_OK;
}

rm_status_t
rm_auth_reload(rm_auth_t *a, char *err, size_t errcap)
{
    if (!a || !a->path) {
        snprintf(err, errcap, "no auth file to reload");
        return RM_EINVAL;
    }
    ruleset_t *rs;
    char warn[sizeof a->warning];
    rm_status_t st = parse_file(a->path, &rs, warn, sizeof warn, err, errcap);
    if (st != RM_OK)
        return st;
    pthread_rwlock_wrlock(&a->lock);
    ruleset_t *old = a->rs;
    a->rs = rs;
    memcpy(a->warning, warn, sizeof warn);
    pthread_rwlock_unlock(&a->lock);
    ruleset_free(old); /* no reader holds it: they hold the lock while they use it */
    return RM_OK;
}

static int
role_allows(rm_rpc_role_t have, rm_rpc_role_t need)
{
    if (need == RM_ROLE_ANY || have == RM_ROLE_ADMIN)
        return 1;
    return have == need;
}

/* Report a refused call to the audit hook, at most AUDIT_PER_SECOND a second. */
static grpc_status_code
denied(rm_auth_t *a, rm_rpc_ctx_t *ctx, grpc_status_code code)
{
    if (!a->audit)
        return code;
    unsigned long suppressed = 0;
    int report = 0;
    time_t now = time(NULL);
    pthread_mutex_lock(&a->audit_mu);
    if (now != a->audit_second) {
        a->audit_second = now;
        a->audit_in_second = 0;
    }
    if (a->audit_in_second < AUDIT_PER_SECOND) {
        a->audit_in_second++;
        suppressed = a->audit_suppressed;
        a->audit_suppressed = 0;
        report = 1;
    } else {
        a->audit_suppressed++;
    }
    pthread_mutex_unlock(&a->audit_mu);
    if (!report)
        return code;
    char detail[RM_RPC_MSG_MAX + 128];
    int n = snprintf(detail, sizeof detail, "denied %s: %s", rm_rpc_status_name(code), ctx->msg);
    if (suppressed && n > 0 && (size_t)n < sizeof detail)
        snprintf(detail + n, sizeof detail - (size_t)n, " (%lu earlier refusals not logged)", suppressed);
    const char *peer = rm_rpc_peer(ctx);
    a->audit(a->audit_ctx, ctx->identity[0] ? ctx->identity : "anonymous", peer && *peer ? peer : "unknown",
             rm_rpc_method(ctx)->path, detail);
    return code;
}

/* Decide with the rules in force; the caller holds a->lock for reading. */
static grpc_status_code
check_locked(rm_auth_t *a, const ruleset_t *rs, rm_rpc_ctx_t *ctx, const rm_rpc_method_t *m)
{
    size_t n = rs ? rs->n : 0;
    if (n == 0 && !a->mtls) {
        snprintf(ctx->identity, sizeof ctx->identity, "anonymous");
        return GRPC_STATUS_OK; /* open server (loopback, or --allow-unauthenticated) */
    }
    const rule_t *match = NULL;
    int have_role = 0;
    rm_rpc_role_t role = RM_ROLE_READER;
    size_t len = 0;
    const char *hdr = rm_rpc_metadata(ctx, "authorization", &len);
    if (hdr && len > 7 && strncasecmp(hdr, "Bearer ", 7) == 0) {
        const char *tok = hdr + 7;
        size_t tlen = len - 7;
        for (size_t i = 0; i < n; i++) {
            const rule_t *r = &rs->rules[i];
            /* Compare every token in constant time; keep the first match. */
            if (!r->is_cert && r->secret_len == tlen && CRYPTO_memcmp(r->secret, tok, tlen) == 0 && !match)
                match = r;
        }
        if (!match)
            return rm_rpc_fail(ctx, GRPC_STATUS_UNAUTHENTICATED, "bearer token not recognised");
    }
    if (!match && ctx->peer_cert[0]) {
        int any_cert_rule = 0;
        for (size_t i = 0; i < n; i++) {
            const rule_t *r = &rs->rules[i];
            if (r->is_cert) {
                any_cert_rule = 1;
                if (!match && strcmp(r->secret, ctx->peer_cert) == 0)
                    match = r;
            }
        }
        if (!match && !any_cert_rule) {
            /* mTLS without certificate rules: the CA is the trust boundary. */
            snprintf(ctx->identity, sizeof ctx->identity, "cert:%s", ctx->peer_cert);
            role = RM_ROLE_ADMIN;
            have_role = 1;
        }
    }
    if (match) {
        snprintf(ctx->identity, sizeof ctx->identity, "%s:%s", match->is_cert ? "cert" : "token",
                 match->name);
        role = match->role;
        have_role = 1;
    }
    if (!have_role)
        return rm_rpc_fail(ctx, GRPC_STATUS_UNAUTHENTICATED,
                           "%s needs credentials: a bearer token (authorization metadata) or a client "
                           "certificate the server knows",
                           m->path);
    if (!role_allows(role, m->role))
        return rm_rpc_fail(ctx, GRPC_STATUS_PERMISSION_DENIED, "%s needs the %s role; %s has %s", m->path,
                           rm_auth_role_name(m->role), ctx->identity, rm_auth_role_name(role));
    return GRPC_STATUS_OK;
}

grpc_status_code
rm_auth_check(void *auth, rm_rpc_ctx_t *ctx)
{
    rm_auth_t *a = auth;
    const rm_rpc_method_t *m = rm_rpc_method(ctx);
    if (m->role == RM_ROLE_ANY)
        return GRPC_STATUS_OK;
    pthread_rwlock_rdlock(&a->lock);
    grpc_status_code code = check_locked(a, a->rs, ctx, m);
    pthread_rwlock_unlock(&a->lock);
    return code == GRPC_STATUS_OK ? code : denied(a, ctx, code);
}
