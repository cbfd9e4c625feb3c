/*
 * agent_auth.h — the auth file of a daemon that serves gRPC (rustymemd,
 * rustymem-fleet): loading --auth-file at start with its audit hook and log
 * lines, and re-reading it on SIGHUP. The rules themselves are the service
 * runtime's (service/runtime/auth.c, ADR 0015); this is only the daemon side.
 * Links rm_runtime (target rm_agent_auth). Start-up and the signal loop only
 * (not thread-safe against itself).
 */
#ifndef RUSTYMEM_AGENT_AUTH_H
#define RUSTYMEM_AGENT_AUTH_H

#include "auth.h"
#include "flags.h"

/*
 * rm_auth_load(path, mtls) into *out; refused calls are then audited as
 * "AUDIT IDENTITY RPC DETAIL peer=PEER" log lines. With a path, logs the
 * file's warning (modes) and "auth: N rules from PATH". On failure prints
 * "PROG: why" on stderr, leaves *out NULL and returns the status (the
 * daemon exits 1).
 */
rm_status_t rm_agent_auth_load(const rm_flags_prog_t *p, const char *path, int mtls, rm_auth_t **out);

/* SIGHUP: re-read the auth file (path NULL: logs that there is none). A bad
 * file keeps the rules in force and says so in an ERROR line. */
void rm_agent_auth_reload(rm_auth_t *auth, const char *path);

#endif /* RUSTYMEM_AGENT_AUTH_H */
