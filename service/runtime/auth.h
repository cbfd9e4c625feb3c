/*
 * auth.h — who may call what: bearer tokens and client-certificate identities
 * mapped to the roles reader and admin (and client, for the data plane).
 *
 * The auth file has one rule per line ('#' starts a comment):
 *     token <role> <secret> [<name>]     a bearer token ("authorization: Bearer <secret>")
 *     cert  <role> <identity>            a verified client certificate whose SAN or CN is <identity>
 * Roles: reader (read-only statistics), admin (everything), client (SessionService).
 *
 * Decisions (docs/adr/0015-credentials-and-closed-admin-api.md): Health is
 * open to everyone (probes carry no credentials). A server with neither an
 * auth file nor mTLS is open — the daemons allow that only on loopback unless
 * told --allow-unauthenticated. An auth file fails closed: one that grants
 * nothing (empty, comments only), repeats a secret or identity, holds a NUL
 * byte or a malformed line is refused with file:line, never read as "no
 * rules". Under mTLS without an auth file every verified certificate is admin
 * — the CA is the trust boundary. Otherwise a call without matching
 * credentials gets UNAUTHENTICATED, and a role below the method's gets
 * PERMISSION_DENIED; both are reported to the audit hook with the peer.
 * Tokens are compared in constant time (OpenSSL CRYPTO_memcmp).
 *
 * Thread-safety: rm_auth_check runs on any server thread at any time;
 * rm_auth_reload swaps the rules under a write lock, so a call sees either
 * the old or the new rules, never a mix.
 */
#ifndef RUSTYMEM_SERVICE_AUTH_H
#define RUSTYMEM_SERVICE_AUTH_H

#include <stddef.h>

#include "rpc.h"

typedef struct rm_auth rm_auth_t;

/*
 * Load rules from `path` (NULL = no rules: an open server, or under mTLS every
 * verified certificate is admin). `mtls` says whether the server verifies
 * client certificates. Returns RM_OK with *out, or RM_EINVAL/RM_EIO/RM_ENOMEM
 * with one line in err naming the file (and line). Nothing allocated on
 * failure. A file that grants no rule is RM_EINVAL.
 */
rm_status_t rm_auth_load(const char *path, int mtls, rm_auth_t **out, char *err, size_t errcap);
void rm_auth_destroy(rm_auth_t *a);

/*
 * Read the file given to rm_auth_load again (SIGHUP). On RM_OK the new rules
 * are in force for every call that starts afterwards (revocation); on failure
 * the old rules stay and err says why. RM_EINVAL when a was loaded without a
 * file. Serialise calls of reload (one signal thread).
 */
rm_status_t rm_auth_reload(rm_auth_t *a, char *err, size_t errcap);

/* Number of rules in force (tokens + certificates). */
size_t rm_auth_rules(const rm_auth_t *a);

/*
 * The warning of the last (re)load — the file is readable or writable by
 * others than its owner — copied into buf. Returns 1 when there is one, 0
 * (buf "") when not.
 */
int rm_auth_warning(rm_auth_t *a, char *buf, size_t cap);

/*
 * Audit hook for refused calls: identity ("anonymous" when none, or the
 * token's/certificate's name), peer ("ipv4:10.0.0.5:41234"), method path and
 * "denied CODE: reason". Called on the server thread; must be thread-safe.
 * At most 20 refusals per second are reported; the next report after a burst
 * says how many were suppressed.
 */
typedef void (*rm_auth_audit_fn)(void *ctx, const char *identity, const char *peer, const char *rpc,
                                 const char *detail);
void rm_auth_set_audit(rm_auth_t *a, rm_auth_audit_fn fn, void *ctx);

/* An rm_server_auth_fn: pass rm_auth_check as opts.auth and the rm_auth_t as opts.auth_ctx. */
grpc_status_code rm_auth_check(void *auth, rm_rpc_ctx_t *ctx);

/* "reader", "admin", "client", "any". */
const char *rm_auth_role_name(rm_rpc_role_t role);

#endif /* RUSTYMEM_SERVICE_AUTH_H */
