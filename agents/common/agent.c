/*
 * agent.c — port file, loopback check and signal plumbing (agent.h).
 */
#include "agent.h"

#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "log.h"

int
rm_agent_write_port_file(const char *path, int port)
{
    char tmp[PATH_MAX];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "we");
    if (!f)
        return -1;
    fprintf(f, "%d\n", port);
    if (fclose(f) != 0)
        return -1;
    return rename(tmp, path);
}

int
rm_agent_is_loopback(const char *addr)
{
    return strncmp(addr, "127.", 4) == 0 || strncmp(addr, "[::1]", 5) == 0 ||
           strncmp(addr, "localhost:", 10) == 0 || strncmp(addr, "unix:", 5) == 0;
}

int
rm_agent_serve_flag(rm_agent_serve_t *s, int c, int base)
{
    switch (c - base) {
    case RM_AGENT_SERVE_CERT: s->tls_cert = optarg; return 1;
    case RM_AGENT_SERVE_KEY: s->tls_key = optarg; return 1;
    case RM_AGENT_SERVE_CA: s->tls_client_ca = optarg; return 1;
    case RM_AGENT_SERVE_AUTH: s->auth_file = optarg; return 1;
    case RM_AGENT_SERVE_INSECURE: s->insecure = 1; return 1;
    case RM_AGENT_SERVE_ALLOW_UNAUTH: s->allow_unauthenticated = 1; return 1;
    default: return 0;
    }
}

int
rm_agent_listen_check(const rm_flags_prog_t *p, const char *listen, const rm_agent_serve_t *l)
{
    if (rm_agent_is_loopback(listen))
        return -1;
    char shown[512];
    rm_log_escape(shown, sizeof shown, listen);
    if (!l->insecure && !l->tls_cert) {
        fprintf(stderr,
                "%s: --listen %s is not a loopback address: serve it with TLS (--tls-cert, --tls-key) or allow "
                "plaintext explicitly with --insecure\n",
                p->name, shown);
        return 2;
    }
    if (!l->auth_file && !l->tls_client_ca && !l->allow_unauthenticated) {
        fprintf(stderr,
                "%s: --listen %s is not a loopback address and no caller would be authenticated: give "
                "--auth-file FILE (tokens with roles) or --tls-client-ca FILE (mTLS), or accept an open "
                "admin API explicitly with --allow-unauthenticated\n",
                p->name, shown);
        return 2;
    }
    return -1;
}

void
rm_agent_signals_block(sigset_t *set, int reload)
{
    sigemptyset(set);
    sigaddset(set, SIGTERM);
    sigaddset(set, SIGINT);
    if (reload)
        sigaddset(set, SIGHUP);   /* by default it would kill the daemon ungracefully */
    pthread_sigmask(SIG_BLOCK, set, NULL);
    signal(SIGPIPE, SIG_IGN);
}

int
rm_agent_signals_wait(const sigset_t *set)
{
    int sig = 0;
    while (sigwait(set, &sig) != 0)
        ;
    return sig;
}

const char *
rm_agent_signal_name(int sig)
{
    return sig == SIGTERM ? "SIGTERM" : sig == SIGINT ? "SIGINT" : sig == SIGHUP ? "SIGHUP" : "signal";
}
