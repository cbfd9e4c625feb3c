/*
 * creds.c — the credential flags every rustymem client takes (see client.h).
 *
 * Design note: before this file rustymemctl and rustymem-load read only
 * --token and RUSTYMEM_TOKEN, rustymem-exporter read --token/--token-file and
 * ignored RUSTYMEM_TOKEN, and rustymem-fleet read the first line of
 * --token-file with its own code; manifests that passed the token through the
 * environment therefore left the exporter and the fleet unauthenticated. One
 * resolver now decides for all of them: flag > file > environment, the same
 * checks and the same messages. The token file is read whole (4 KiB at most)
 * and trimmed; inner whitespace or control bytes are refused rather than
 * silently cut, because an HTTP/2 header value cannot carry them and a
 * truncated token would only fail later as UNAUTHENTICATED.
 */
#include "client.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TOKEN_FILE_MAX 4096

static const char *const suffix[RM_CRED_N_FLAGS] = {
    [RM_CRED_TOKEN] = NULL,       [RM_CRED_TOKEN_FILE] = NULL, [RM_CRED_TLS_CA] = "-ca",
    [RM_CRED_TLS_CERT] = "-cert", [RM_CRED_TLS_KEY] = "-key",  [RM_CRED_TLS_SERVER_NAME] = "-server-name",
};

static const char *
prefix_of(const rm_client_creds_t *c)
{
    return c && c->tls_prefix ? c->tls_prefix : "tls";
}

/* "--tls-ca" / "--agent-tls-ca" / "--token" into buf. */
static const char *
flag_name(const rm_client_creds_t *c, rm_client_cred_flag_t f, char *buf, size_t cap)
{
    if (f == RM_CRED_TOKEN)
        snprintf(buf, cap, "--token");
    else if (f == RM_CRED_TOKEN_FILE)
        snprintf(buf, cap, "--token-file");
    else
        snprintf(buf, cap, "--%s%s", prefix_of(c), suffix[f]);
    return buf;
}

int
rm_client_creds_match(const rm_client_creds_t *c, const char *name)
{
    char buf[64];
    if (!name)
        return -1;
    while (*name == '-')
        name++;
    for (int f = 0; f < RM_CRED_N_FLAGS; f++)
        if (strcmp(flag_name(c, (rm_client_cred_flag_t)f, buf, sizeof buf) + 2, name) == 0)
            return f;
    return -1;
}

void
rm_client_creds_set(rm_client_creds_t *c, rm_client_cred_flag_t f, const char *value)
{
    if ((unsigned)f < RM_CRED_N_FLAGS)
        c->flag[f] = value;
}

static int
is_space(char ch)
{
    return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r' || ch == '\v' || ch == '\f';
}

/* Read and check the token file; returns a malloc'ed token or NULL with err. */
static char *
read_token_file(const char *path, char *err, size_t errcap)
{
    FILE *f = fopen(path, "re");
    if (!f) {
        snprintf(err, errcap, "--token-file %s: %s", path, strerror(errno));
        return NULL;
    }
    char *buf = malloc(TOKEN_FILE_MAX + 1);
    if (!buf) {
        fclose(f);
        snprintf(err, errcap, "out of memory");
        return NULL;
    }
    size_t n = fread(buf, 1, TOKEN_FILE_MAX + 1, f);
    int rerr = ferror(f) ? errno : 0;
    fclose(f);
    if (rerr) {
        snprintf(err, errcap, "--token-file %s: %s", path, strerror(rerr));
        goto fail;
    }
    if (n > TOKEN_FILE_MAX) {
        snprintf(err, errcap, "--token-file %s: larger than %d bytes: not a token", path, TOKEN_FILE_MAX);
        goto fail;
    }
    size_t b = 0, e = n;
    while (b < e && is_space(buf[b]))
        b++;
    while (e > b && is_space(buf[e - 1]))
        e--;
    if (b == e) {
        snprintf(err, errcap, "--token-file %s is empty", path);
        goto fail;
    }
    for (size_t i = b; i < e; i++) {
        unsigned char ch = (unsigned char)buf[i];
        if (ch < 0x21 || ch == 0x7f) {
            snprintf(err, errcap,
                     "--token-file %s: the token contains whitespace or a control byte at offset %zu "
                     "(the file must hold exactly one token)",
                     path, i);
            goto fail;
        }
    }
    memmove(buf, buf + b, e - b);
    buf[e - b] = '\0';
    return buf;
fail:
    free(buf);
    return NULL;
}

rm_status_t
rm_client_creds_apply(rm_client_creds_t *c, const char *env_token, rm_client_opts_t *o, char *err,
                      size_t errcap)
{
    char a[64], b[64];
    const char *const *v = c->flag;
    if (v[RM_CRED_TOKEN] && v[RM_CRED_TOKEN_FILE]) {
        snprintf(err, errcap, "give --token or --token-file, not both");
        return RM_EINVAL;
    }
    if (v[RM_CRED_TOKEN] && !*v[RM_CRED_TOKEN]) {
        snprintf(err, errcap, "--token needs a non-empty value");
        return RM_EINVAL;
    }
    if (!!v[RM_CRED_TLS_CERT] != !!v[RM_CRED_TLS_KEY]) {
        snprintf(err, errcap, "%s and %s go together", flag_name(c, RM_CRED_TLS_CERT, a, sizeof a),
                 flag_name(c, RM_CRED_TLS_KEY, b, sizeof b));
        return RM_EINVAL;
    }
    if (v[RM_CRED_TLS_SERVER_NAME] && !v[RM_CRED_TLS_CA] && !v[RM_CRED_TLS_CERT]) {
        snprintf(err, errcap, "%s needs TLS: give %s (or a client certificate)",
                 flag_name(c, RM_CRED_TLS_SERVER_NAME, a, sizeof a),
                 flag_name(c, RM_CRED_TLS_CA, b, sizeof b));
        return RM_EINVAL;
    }
    rm_client_creds_free(c);
    const char *token = NULL;
    if (v[RM_CRED_TOKEN]) {
        token = v[RM_CRED_TOKEN];
        snprintf(c->source, sizeof c->source, "--token");
    } else if (v[RM_CRED_TOKEN_FILE]) {
        c->token_owned = read_token_file(v[RM_CRED_TOKEN_FILE], err, errcap);
        if (!c->token_owned)
            return RM_EIO;
        token = c->token_owned;
        snprintf(c->source, sizeof c->source, "--token-file %s", v[RM_CRED_TOKEN_FILE]);
    } else if (env_token && *env_token) {
        token = env_token;
        snprintf(c->source, sizeof c->source, "RUSTYMEM_TOKEN");
    } else {
        snprintf(c->source, sizeof c->source, "none");
    }
    o->token = token;
    o->tls_ca_file = v[RM_CRED_TLS_CA];
    o->tls_cert_file = v[RM_CRED_TLS_CERT];
    o->tls_key_file = v[RM_CRED_TLS_KEY];
    o->tls_server_name = v[RM_CRED_TLS_SERVER_NAME];
    return RM_OK;
}

void
rm_client_creds_free(rm_client_creds_t *c)
{
    if (!c || !c->token_owned)
        return;
    /* volatile: the wipe must not be optimised away before free */
    volatile char *p = c->token_owned;
    while (*p)
        *p++ = '\0';
    free(c->token_owned);
    c->token_owned = NULL;
}

void
rm_client_creds_help(FILE *f, const char *tls_prefix, int col)
{
    const char *p = tls_prefix ? tls_prefix : "tls";
    char head[64];
    struct {
        const char *flag, *arg, *text;
    } rows[] = {
        {"token", "SECRET", "bearer token for servers started with --auth-file (visible in ps:"},
        {NULL, NULL, "prefer --token-file or RUSTYMEM_TOKEN)"},
        {"token-file", "FILE", "read the token from FILE (surrounding whitespace ignored; an"},
        {NULL, NULL, "unreadable or empty file is an error)"},
        {NULL, NULL, "precedence: --token > --token-file > $RUSTYMEM_TOKEN"},
        {"-ca", "FILE", "use TLS, trusting these PEM roots"},
        {"-cert", "FILE", "client certificate for mTLS (PEM), with the key below"},
        {"-key", "FILE", "its PEM private key"},
        {"-server-name", "NAME", "name to verify in the server certificate"},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        if (!rows[i].flag)
            head[0] = '\0';
        else if (rows[i].flag[0] == '-')
            snprintf(head, sizeof head, "--%s%s %s", p, rows[i].flag, rows[i].arg);
        else
            snprintf(head, sizeof head, "--%s %s", rows[i].flag, rows[i].arg);
        if ((int)strlen(head) > col - 3)
            fprintf(f, "  %s\n  %-*s %s\n", head, col - 3, "", rows[i].text);
        else
            fprintf(f, "  %-*s %s\n", col - 3, head, rows[i].text);
    }
}
