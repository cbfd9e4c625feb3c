/*
 * auth.h — who may call what: bearer tokens and client-certificate identities
 * mapped to the roles reader and admin (and client, for the data plane).
 *
 * The auth file has one rule per line ('#' starts a comment):
 *     token <role> <secret> [<name>]     a bearer token ("authorization: Bearer <secret>")
 *     cert  <role> <identity>            a verified client certificate whose SAN or CN is <identity>
 * Roles: reader (read-only statistics), admin (everything), client (SessionService).
 *
 * Decisions: Health is open to everyone (probes carry no credentials). A
 * server with neither an auth file nor mTLS is open (loopback use). Under
 * mTLS without an auth file every verified certificate is admin — the CA is
 * the trust boundary. Otherwise a call without matching credentials gets
 * UNAUTHENTICATED, and a role below the method's gets PERMISSION_DENIED.
 * Tokens are compared in constant time (OpenSSL CRYPTO_memcmp).
 */
#ifndef RUSTYMEM_SERVICE_AUTH_H
#define RUSTYMEM_SERVICE_AUTH_H

#include <stddef.h>

#include "rpc.h"

typedef struct rm_auth rm_auth_t;

/*
 * Load rules from `path` (NULL = no rules). `mtls` says whether the server
 * verifies client certificates. Returns RM_OK with *out, or RM_EINVAL/RM_EIO
 * with one line in err naming the file and line. Nothing allocated on failure.
 */
rm_status_t rm_auth_load(const char *path, int mtls, rm_auth_t **out, char *err, size_t errcap);
void rm_auth_destroy(rm_auth_t *a);

/* Number of rules loaded (tokens + certificates). */
size_t rm_auth_rules(const rm_auth_t *a);

/* An rm_server_auth_fn: pass rm_auth_check as opts.auth and the rm_auth_t as opts.auth_ctx. */
grpc_status_code rm_auth_check(void *auth, rm_rpc_ctx_t *ctx);

/* "reader", "admin", "client", "any". */
const char *rm_auth_role_name(rm_rpc_role_t role);

#endif /* RUSTYMEM_SERVICE_AUTH_H */
