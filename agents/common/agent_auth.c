/*
 * agent_auth.c — a serving daemon's auth file (agent_auth.h).
 */
#include "agent_auth.h"

#include <stdio.h>

#include "log.h"

/* Refused calls (auth.c), in the same form as the changes handlers audit. */
static void
audit_refused(void *ctx, const char *identity, const char *peer, const char *rpc, const char *detail)
{
    (void)ctx;
    rm_log("AUDIT", "%s %s %s peer=%s", identity, rpc, detail, peer);
}

rm_status_t
rm_agent_auth_load(const rm_flags_prog_t *p, const char *path, int mtls, rm_auth_t **out)
{
    char err[512] = "", shown[1024];
    *out = NULL;
    rm_status_t st = rm_auth_load(path, mtls, out, err, sizeof err);
    if (st != RM_OK) {
        rm_log_escape(shown, sizeof shown, err);
        fprintf(stderr, "%s: %s\n", p->name, shown);
        return st;
    }
    rm_auth_set_audit(*out, audit_refused, NULL);
    if (path) {
        char warn[512];
        if (rm_auth_warning(*out, warn, sizeof warn))
            rm_log("WARN", "%s", warn);
        rm_log("INFO", "auth: %zu rules from %s", rm_auth_rules(*out), path);
    }
    return RM_OK;
}

void
rm_agent_auth_reload(rm_auth_t *auth, const char *path)
{
    if (!path) {
        rm_log("INFO", "SIGHUP: no --auth-file to reload");
        return;
    }
    char err[512] = "", warn[512];
    if (rm_auth_reload(auth, err, sizeof err) != RM_OK) {
        rm_log("ERROR", "SIGHUP: the auth file was not reloaded, the previous rules stay in force: %s", err);
        return;
    }
    if (rm_auth_warning(auth, warn, sizeof warn))
        rm_log("WARN", "%s", warn);
    rm_log("INFO", "SIGHUP: auth: %zu rules from %s", rm_auth_rules(auth), path);
}
