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

#include <signal.h>

/*
 * Write "PORT\n" to path through path.tmp and rename(2), so a reader polling
 * for the file never sees it half written. Returns 0, or -1 with errno set
 * (path.tmp may be left behind).
 */
int rm_agent_write_port_file(const char *path, int port);

/* Whether a listen address stays on this host: 127.x, [::1], localhost:PORT
 * or a unix: socket. Anything else (0.0.0.0, :PORT, a name) is not. */
int rm_agent_is_loopback(const char *addr);

/* Block SIGTERM and SIGINT (and SIGHUP when `reload`) in the calling thread,
 * filling *set with them, and ignore SIGPIPE. */
void rm_agent_signals_block(sigset_t *set, int reload);

/* Wait for one of the signals in set (blocked by rm_agent_signals_block) and
 * return its number; retries when interrupted. */
int rm_agent_signals_wait(const sigset_t *set);

/* "SIGTERM", "SIGINT", "SIGHUP", else "signal". */
const char *rm_agent_signal_name(int sig);

#endif /* RUSTYMEM_AGENT_AGENT_H */
