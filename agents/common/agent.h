/*
 * agent.h — process plumbing the daemons share: the port file, the loopback
 * check that decides whether plaintext/unauthenticated serving needs an
 * explicit flag, and the stop/reload signals.
 *
 * Signals: rm_agent_signals_block() must run before the first thread exists
 * (memcore's sampler, gRPC's and libmicrohttpd's threads inherit the mask),
 * so SIGTERM/SIGINT (and SIGHUP where the daemon reloads) are only ever taken
 * by the main thread's rm_agent_signals_wait() and never kill the process
 * through a thread that left them unblocked. SIGPIPE is ignored (a peer that
 * hangs up is an error return, not a death).
 */
#ifndef RUSTYMEM_AGENT_AGENT_H
#define RUSTYMEM_AGENT_AGENT_H

#include <getopt.h>
#include <signal.h>

#include "flags.h"

/*
 * Write "PORT\n" to path through path.tmp and rename(2), so a reader polling
 * for the file never sees it half written. Returns 0, or -1 with errno set
 * (path.tmp may be left behind).
 */
int rm_agent_write_port_file(const char *path, int port);

/* Whether a listen address stays on this host: 127.x, [::1], localhost:PORT
 * or a unix: socket. Anything else (0.0.0.0, :PORT, a name) is not. */
int rm_agent_is_loopback(const char *addr);

/*
 * The serving flags of a daemon that serves gRPC (rustymemd, rustymem-fleet):
 * TLS, the auth file and the two explicit opt-outs of ADR 0015. Pointers
 * into argv (not owned).
 */
typedef struct rm_agent_serve {
    const char *tls_cert;        /* --tls-cert (NULL = plaintext) */
    const char *tls_key;         /* --tls-key */
    const char *tls_client_ca;   /* --tls-client-ca (NULL = no mTLS) */
    const char *auth_file;       /* --auth-file (NULL = none) */
    int insecure;                /* --insecure: plaintext beyond loopback is allowed */
    int allow_unauthenticated;   /* --allow-unauthenticated */
} rm_agent_serve_t;

enum { RM_AGENT_SERVE_CERT, RM_AGENT_SERVE_KEY, RM_AGENT_SERVE_CA, RM_AGENT_SERVE_AUTH, RM_AGENT_SERVE_INSECURE,
       RM_AGENT_SERVE_ALLOW_UNAUTH, RM_AGENT_SERVE_N_FLAGS };

/* getopt_long entries of the serving flags, numbered from base. */
#define RM_AGENT_SERVE_LONGOPTS(base)                                                         \
    {"tls-cert", required_argument, 0, (base) + RM_AGENT_SERVE_CERT},                         \
    {"tls-key", required_argument, 0, (base) + RM_AGENT_SERVE_KEY},                           \
    {"tls-client-ca", required_argument, 0, (base) + RM_AGENT_SERVE_CA},                      \
    {"auth-file", required_argument, 0, (base) + RM_AGENT_SERVE_AUTH},                        \
    {"insecure", no_argument, 0, (base) + RM_AGENT_SERVE_INSECURE},                           \
    {"allow-unauthenticated", no_argument, 0, (base) + RM_AGENT_SERVE_ALLOW_UNAUTH}

/* In the getopt loop: if c is one of the serving options numbered from base,
 * record it (optarg) in s and return 1; else 0. */
int rm_agent_serve_flag(rm_agent_serve_t *s, int c, int base);

/*
 * The closed-by-default rule of ADR 0015 for a non-loopback --listen
 * address: plaintext needs --insecure, and a server with neither
 * --auth-file nor --tls-client-ca needs --allow-unauthenticated. Returns 2
 * after printing the refusal ("PROG: --listen ADDR is not a loopback
 * address: …") on stderr, else -1. The warnings for what was allowed stay
 * with each daemon.
 */
int rm_agent_listen_check(const rm_flags_prog_t *p, const char *listen, const rm_agent_serve_t *s);

/* Block SIGTERM and SIGINT (and SIGHUP when `reload`) in the calling thread,
 * filling *set with them, and ignore SIGPIPE. */
void rm_agent_signals_block(sigset_t *set, int reload);

/* Wait for one of the signals in set (blocked by rm_agent_signals_block) and
 * return its number; retries when interrupted. */
int rm_agent_signals_wait(const sigset_t *set);

/* "SIGTERM", "SIGINT", "SIGHUP", else "signal". */
const char *rm_agent_signal_name(int sig);

#endif /* RUSTYMEM_AGENT_AGENT_H */
