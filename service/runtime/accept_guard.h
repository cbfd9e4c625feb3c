/*
 * accept_guard.h — keeps gRPC C core's listeners accepting when the process
 * runs out of file descriptors, and caps the number of accepted connections.
 *
 * Why. gRPC C core 1.51 (Debian 12) stops a listener for good on the first
 * accept4() that fails with EMFILE or ENFILE ("Failed accept4: Too many open
 * files"): it neither retries nor re-arms, so a burst of connections at the fd
 * limit wedged rustymemd — alive, fds back to normal, every new connection
 * sitting in the backlog until restart. Core has no connection limit either
 * (GRPC_ARG_MAX_ALLOWED_INCOMING_CONNECTIONS came later). ADR 0012.
 *
 * How. The process defines accept4() and close(); the dynamic linker binds
 * libgrpc's references to them (an executable's definitions come first), and
 * they call the next definition (libc, or a sanitizer's interceptor). While
 * the guard is enabled, accept4():
 *   - counts the connections it hands out (a bitmap of fds; close() clears);
 *   - closes at once, and keeps draining the backlog, any connection beyond
 *     the limit ("refused fast": the peer sees the connection closed);
 *   - on EMFILE/ENFILE frees a reserved descriptor, accepts the pending
 *     connection and closes it, takes the reserve back, and drains on —
 *     then reports EAGAIN, on which core re-arms the listener.
 * When disabled (the default) both functions pass straight through. Only
 * linked into programs that start an rm_server; clients are unaffected.
 */
#ifndef RUSTYMEM_SERVICE_ACCEPT_GUARD_H
#define RUSTYMEM_SERVICE_ACCEPT_GUARD_H

#include <stdint.h>

#include "rm_base.h"   /* memcore's status codes, without memcore (service/common) */

typedef struct rm_accept_guard_stats {
    uint64_t open;            /* accepted connections not yet closed */
    uint64_t accepted_total;  /* connections handed to gRPC */
    uint64_t refused_limit;   /* closed at once: the connection limit was reached */
    uint64_t refused_nofd;    /* closed at once: no descriptor left (EMFILE/ENFILE) */
    uint64_t limit;           /* the limit in force (0 = none) */
} rm_accept_guard_stats_t;

/*
 * Enable the guard with at most max_connections accepted connections at once
 * (0 = the automatic limit: the soft RLIMIT_NOFILE minus a reserve of an
 * eighth, at least 64, for the agent's own files). Raises the soft
 * RLIMIT_NOFILE to the hard limit first when raise_nofile is set. Opens the
 * reserve descriptor. Call before the server starts accepting; may be called
 * again to change the limit (live). Returns RM_OK, or RM_EIO when the reserve
 * descriptor cannot be opened (the guard then still counts and limits, but
 * cannot shed a connection at EMFILE). Thread-safe.
 */
rm_status_t rm_accept_guard_enable(uint64_t max_connections, int raise_nofile);

/* The limit rm_accept_guard_enable(0, …) would choose now. */
uint64_t rm_accept_guard_auto_limit(void);

/* Counters (relaxed reads; each value is exact, the set is not a snapshot). */
void rm_accept_guard_stats(rm_accept_guard_stats_t *out);

#endif /* RUSTYMEM_SERVICE_ACCEPT_GUARD_H */
