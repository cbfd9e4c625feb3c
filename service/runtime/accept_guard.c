/*
 * accept_guard.c — gRPC listeners that survive EMFILE, and a connection
 * limit (see accept_guard.h for why and how).
 *
 * Design note. accept4() and close() defined here interpose on libc's for
 * the whole process (the executable's definitions come first in the dynamic
 * linker's search order, so libgrpc's calls land here). They must therefore
 * be safe before main and from any thread: the next definitions are resolved
 * in a constructor, and a call that comes even earlier (another library's
 * constructor) goes to the system call directly. While disabled they add
 * one relaxed atomic load. Accepted connections are tracked in a bitmap of
 * fds (2^20 bits, 128 KiB of zero pages until touched): close() of a
 * tracked fd clears its bit and lowers the count, so the count is exact for
 * every connection gRPC closes through close() (it never hands an accepted
 * fd to dup2 or close_range).
 *
 * The reserve descriptor (/dev/null) is what makes shedding possible at
 * EMFILE: closing it frees exactly one slot for the accept that takes the
 * pending connection off the queue. Another thread may take that slot first;
 * then the reserve cannot be reopened at once and is retried on the next
 * call, and meanwhile EMFILE only drains what it can.
 */
#include "accept_guard.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#define TRACK_FDS (1u << 20)

typedef int (*accept4_fn)(int, struct sockaddr *, socklen_t *, int);
typedef int (*close_fn)(int);

static _Atomic(accept4_fn) next_accept4;
static _Atomic(close_fn) next_close;

static atomic_int enabled;
static atomic_int reserve_fd = -1;
static _Atomic uint64_t limit, open_conns, accepted_total, refused_limit, refused_nofd;
static _Atomic uint64_t tracked[TRACK_FDS / 64];

__attribute__((constructor)) static void
resolve_next(void)
{
    atomic_store(&next_accept4, (accept4_fn)dlsym(RTLD_NEXT, "accept4"));
    atomic_store(&next_close, (close_fn)dlsym(RTLD_NEXT, "close"));
}

static int
real_accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags)
{
    accept4_fn f = atomic_load_explicit(&next_accept4, memory_order_acquire);
    return f ? f(fd, addr, len, flags) : (int)syscall(SYS_accept4, fd, addr, len, flags);
}

static int
real_close(int fd)
{
    close_fn f = atomic_load_explicit(&next_close, memory_order_acquire);
    return f ? f(fd) : (int)syscall(SYS_close, fd);
}

/* 1 if fd was tracked (and is not any more). */
static int
untrack(int fd)
{
    if (fd < 0 || (unsigned)fd >= TRACK_FDS)
        return 0;
    uint64_t bit = 1ull << (fd % 64);
    if (!(atomic_load_explicit(&tracked[fd / 64], memory_order_relaxed) & bit))
        return 0;
    return (atomic_fetch_and(&tracked[fd / 64], ~bit) & bit) != 0;
}

static void
track(int fd)
{
    if (fd < 0 || (unsigned)fd >= TRACK_FDS)
        return;
    atomic_fetch_or(&tracked[fd / 64], 1ull << (fd % 64));
    atomic_fetch_add(&open_conns, 1);
}

int
close(int fd)
{
    if (untrack(fd))
        atomic_fetch_sub(&open_conns, 1);
    return real_close(fd);
}

/* Take one pending connection off the listen queue with the reserve
 * descriptor's slot and close it. 1 if one was shed, 0 if the queue is empty
 * (errno EAGAIN) or nothing could be done. */
static int
shed_one(int lfd)
{
    int r = atomic_exchange(&reserve_fd, -1);
    if (r < 0)
        return 0;
    real_close(r);
    int c = real_accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
    int saved = errno;
    if (c >= 0) {
        real_close(c);
        atomic_fetch_add(&refused_nofd, 1);
    }
    int nr = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (nr >= 0) {
        int expect = -1;
        if (!atomic_compare_exchange_strong(&reserve_fd, &expect, nr))
            real_close(nr);
    }
    errno = saved;
    return c >= 0;
}

int
accept4(int fd, struct sockaddr *addr, socklen_t *addrlen, int flags)
{
    if (!atomic_load_explicit(&enabled, memory_order_relaxed))
        return real_accept4(fd, addr, addrlen, flags);
    socklen_t cap = addrlen ? *addrlen : 0;
    for (;;) {
        if (addrlen)
            *addrlen = cap;
        int c = real_accept4(fd, addr, addrlen, flags);
        if (c >= 0) {
            uint64_t lim = atomic_load_explicit(&limit, memory_order_relaxed);
            if (lim && atomic_load_explicit(&open_conns, memory_order_relaxed) >= lim) {
                real_close(c);
                atomic_fetch_add(&refused_limit, 1);
                continue;   /* drain: every queued connection over the limit is refused now */
            }
            track(c);
            atomic_fetch_add(&accepted_total, 1);
            return c;
        }
        if (errno == EMFILE || errno == ENFILE) {
            if (shed_one(fd))
                continue;
            /* nothing pending (or no reserve): let core wait for the next
             * connection instead of giving up on the listener */
            errno = EAGAIN;
        }
        return -1;
    }
}

uint64_t
rm_accept_guard_auto_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY)
        return TRACK_FDS / 2;
    uint64_t soft = rl.rlim_cur;
    uint64_t keep = soft / 8 > 64 ? soft / 8 : 64;
    return soft > 2 * keep ? soft - keep : soft / 2 > 0 ? soft / 2 : 1;
}

rm_status_t
rm_accept_guard_enable(uint64_t max_connections, int raise_nofile)
{
    if (raise_nofile) {
        struct rlimit rl;
        if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
            rl.rlim_cur = rl.rlim_max;
            (void)setrlimit(RLIMIT_NOFILE, &rl);
        }
    }
    atomic_store(&limit, max_connections ? max_connections : rm_accept_guard_auto_limit());
    rm_status_t st = RM_OK;
    if (atomic_load(&reserve_fd) < 0) {
        int r = open("/dev/null", O_RDONLY | O_CLOEXEC);
        int expect = -1;
        if (r < 0)
            st = RM_EIO;
        else if (!atomic_compare_exchange_strong(&reserve_fd, &expect, r))
            real_close(r);
    }
    atomic_store(&enabled, 1);
    return st;
}

void
rm_accept_guard_stats(rm_accept_guard_stats_t *out)
{
    out->open = atomic_load(&open_conns);
    out->accepted_total = atomic_load(&accepted_total);
    out->refused_limit = atomic_load(&refused_limit);
    out->refused_nofd = atomic_load(&refused_nofd);
    out->limit = atomic_load(&limit);
}
