/*
 * auth.c — bearer-token and client-certificate authorisation (see auth.h).
 */
#include "auth.h"

#include <ctype.h>
#include <errno.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rpc_internal.h"

typedef struct rule {
    int is_cert;
    rm_rpc_role_t role;
    char *secret;         /* token or certificate identity */
    size_t secret_len;
    char name[64];        /* who, for the audit log */
} rule_t;

struct rm_auth {
    int mtls;
    rule_t *rules;
    size_t n;
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

void
rm_auth_destroy(rm_auth_t *a)
{
    if (!a)
        return;
    for (size_t i = 0; i < a->n; i++) {
        OPENSSL_cleanse(a->rules[i].secret, a->rules[i].secret_len);
        free(a->rules[i].secret);
    }
    free(a->rules);
    free(a);
}

size_t
rm_auth_rules(const rm_auth_t *a)
{
    return a ? a->n : 0;
}

rm_status_t
rm_auth_load(const char *path, int mtls, rm_auth_t **out, char *err, size_t errcap)
{
    *out = NULL;
    rm_auth_t *a = calloc(1, sizeof *a);
    if (!a) {
        snprintf(err, errcap, "out of memory");
        return RM_ENOMEM;
    }
    a->mtls = mtls;
    if (!path) {
        *out = a;
        return RM_OK;
    }
    FILE *f = fopen(path, "re");
    if (!f) {
        snprintf(err, errcap, "cannot read auth file %s: %s", path, strerror(errno));
        free(a);
        return RM_EIO;
    }
    char line[1024];
    int lineno = 0;
    rm_status_t st = RM_OK;
    while (fgets(line, sizeof line, f)) {
        lineno++;
        char *hash = strchr(line, '#');
        if (hash)
            *hash = '\0';
        char kind[16], role[16], secret[512], name[64] = "";
        int n = sscanf(line, "%15s %15s %511s %63s", kind, role, secret, name);
        if (n <= 0)
            continue;
        rule_t r = {0};
        if (n < 3 || (strcmp(kind, "token") != 0 && strcmp(kind, "cert") != 0)) {
            snprintf(err, errcap, "%s:%d: expected 'token ROLE SECRET [NAME]' or 'cert ROLE IDENTITY'", path,
                     lineno);
            st = RM_EINVAL;
            break;
        }
        if (parse_role(role, &r.role) < 0) {
            snprintf(err, errcap, "%s:%d: role '%s': expected reader, admin or client", path, lineno, role);
            st = RM_EINVAL;
            break;
        }
        r.is_cert = kind[0] == 'c';
        if (!r.is_cert && strlen(secret) < 16) {
            snprintf(err, errcap, "%s:%d: token too short: use at least 16 characters", path, lineno);
            st = RM_EINVAL;
            break;
        }
        r.secret = strdup(secret);
        r.secret_len = strlen(secret);
        /* The audit name: a certificate's identity, or the token's label (never the secret). */
        const char *label = r.is_cert ? secret : (name[0] ? name : "token");
        size_t llen = strnlen(label, sizeof r.name - 1);
        memcpy(r.name, label, llen);
        r.name[llen] = '\0';
        rule_t *grown = r.secret ? realloc(a->rules, (a->n + 1) * sizeof *a->rules) : NULL;
        if (!grown) {
            free(r.secret);
            snprintf(err, errcap, "out of memory");
            st = RM_ENOMEM;
            break;
        }
        a->rules = grown;
        a->rules[a->n++] = r;
    }
    fclose(f);
    if (st != RM_OK) {
        rm_auth_destroy(a);
        return st;
    }
    *out = a;
    return RM_OK;
}

static int
role_allows(rm_rpc_role_t have, rm_rpc_role_t need)
{
    if (need == RM_ROLE_ANY || have == RM_ROLE_ADMIN)
        return 1;
    return have == need;
}

grpc_status_code
rm_auth_check(void *auth, rm_rpc_ctx_t *ctx)
{
    rm_auth_t *a = auth;
    const rm_rpc_method_t *m = rm_rpc_method(ctx);
    if (m->role == RM_ROLE_ANY)
        return GRPC_STATUS_OK;
    if (a->n == 0 && !a->mtls) {
        snprintf(ctx->identity, sizeof ctx->identity, "anonymous");
        return GRPC_STATUS_OK; /* open server (loopback) */
    }

    const rule_t *match = NULL;
    int have_role = 0;
    rm_rpc_role_t role = RM_ROLE_READER;
    size_t len = 0;
    const char *hdr = rm_rpc_metadata(ctx, "authorization", &len);
    if (hdr && len > 7 && strncasecmp(hdr, "Bearer ", 7) == 0) {
        const char *tok = hdr + 7;
        size_t tlen = len - 7;
        for (size_t i = 0; i < a->n; i++) {
            const rule_t *r = &a->rules[i];
            /* Compare every token in constant time; keep the first match. */
            if (!r->is_cert && r->secret_len == tlen && CRYPTO_memcmp(r->secret, tok, tlen) == 0 && !match)
                match = r;
        }
        if (!match)
            return rm_rpc_fail(ctx, GRPC_STATUS_UNAUTHENTICATED, "bearer token not recognised");
    }
    if (!match && ctx->peer_cert[0]) {
        int any_cert_rule = 0;
        for (size_t i = 0; i < a->n; i++) {
            const rule_t *r = &a->rules[i];
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
        snprintf(ctx->identity, sizeof ctx->identity, "%s:%s", match->is_cert ? "cert" : "token", match->name);
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
