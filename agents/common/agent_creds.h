/*
 * agent_creds.h — the credential flags of a daemon that calls agents
 * (rustymem-exporter, rustymem-fleet): --token, --token-file and the TLS
 * flags, as rustymemctl has them. The flags and their resolver live in the
 * client library (service/client/creds.c); this is only the daemon side:
 * taking them in the getopt loop and turning a refusal into the exit status.
 * Links rm_client (target rm_agent_creds); rustymemd does not need it.
 */
#ifndef RUSTYMEM_AGENT_CREDS_H
#define RUSTYMEM_AGENT_CREDS_H

#include "client.h"
#include "flags.h"

/* In the getopt loop: if c is one of the credential options numbered from
 * base (RM_CLIENT_CRED_LONGOPTS(tls, base)), record optarg and return 1; else 0. */
int rm_agent_creds_flag(rm_client_creds_t *creds, int c, int base);

/*
 * Resolve the flags (falling back to $RUSTYMEM_TOKEN) into o's token and TLS
 * fields (rm_client_creds_apply). Returns -1 on success; else prints
 * "PROG: why" on stderr (with "(see --help)" for a usage error) and returns
 * the exit status: 2 for a usage error, 1 for an unreadable token file.
 */
int rm_agent_creds_resolve(const rm_flags_prog_t *p, rm_client_creds_t *creds, rm_client_opts_t *o);

#endif /* RUSTYMEM_AGENT_CREDS_H */
