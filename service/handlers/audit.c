/*
 * audit.c — the audit line every mutating handler writes: what changed
 * ("before -> after"), who asked (the auth layer's identity) and from where
 * (the peer), handed to the host's audit sink (service/host.h; rustymemd logs
 * it). A host without a sink audits nothing.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "host.h"
#include "rpc_internal.h"

void
rm_host_audit(rm_rpc_ctx_t *ctx, const char *fmt, ...)
{
    rm_host_t *host = rm_host_of(ctx);
    if (!host || !host->audit)
        return;
    char detail[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    /* Every audit line names where the call came from, at its end. */
    size_t used = strlen(detail);
    const char *peer = rm_rpc_peer(ctx);
    if (used < sizeof detail)
        snprintf(detail + used, sizeof detail - used, " peer=%s", peer && *peer ? peer : "unknown");
    const char *who = rm_rpc_identity(ctx);
    host->audit(host->audit_ctx, who && *who ? who : "anonymous", rm_rpc_method(ctx)->path, detail);
}
