/*
 * agent_creds.c — a daemon's credential flags (agent_creds.h).
 */
#include "agent_creds.h"

#include <stdlib.h>

#include "log.h"

int
rm_agent_creds_flag(rm_client_creds_t *creds, int c, int base)
{
    if (c < base || c >= base + RM_CRED_N_FLAGS)
        return 0;
    rm_client_creds_set(creds, (rm_client_cred_flag_t)(c - base), optarg);
    return 1;
}

int
rm_agent_creds_resolve(const rm_flags_prog_t *p, rm_client_creds_t *creds, rm_client_opts_t *o)
{
    char err[512] = "", shown[1024];
    rm_status_t st = rm_client_creds_apply(creds, getenv("RUSTYMEM_TOKEN"), o, err, sizeof err);
    if (st == RM_OK)
        return -1;
    rm_log_escape(shown, sizeof shown, err);
    fprintf(stderr, "%s: %s%s\n", p->name, shown, st == RM_EINVAL ? " (see --help)" : "");
    return st == RM_EINVAL ? 2 : 1;
}
