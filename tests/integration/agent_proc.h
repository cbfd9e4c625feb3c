/*
 * agent_proc.h — start and stop a real rustymemd for integration tests.
 *
 * The binary comes from $RM_BUILD_DIR/agents/node/rustymemd; it listens on an
 * ephemeral loopback port (reported through --port-file) with a fresh data
 * directory, and is stopped by PID.
 */
#ifndef RUSTYMEM_TEST_AGENT_PROC_H
#define RUSTYMEM_TEST_AGENT_PROC_H

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

typedef struct agent_proc {
    pid_t pid;
    int port;
    char addr[64];
    char dir[PATH_MAX];
} agent_proc_t;

static inline double
agent_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Start rustymemd with extra args (NULL-terminated). Returns 0 or -1. */
static inline int
agent_start(agent_proc_t *a, const char *const *extra)
{
    const char *build = getenv("RM_BUILD_DIR");
    char bin[PATH_MAX], portfile[PATH_MAX + 16], datadir[PATH_MAX + 16];
    snprintf(bin, sizeof bin, "%s/agents/node/rustymemd", build ? build : ".");
    snprintf(a->dir, sizeof a->dir, "/tmp/rm-itest-XXXXXX");
    if (!mkdtemp(a->dir))
        return -1;
    snprintf(portfile, sizeof portfile, "%s/port", a->dir);
    snprintf(datadir, sizeof datadir, "%s/data", a->dir);
    const char *argv[32] = {bin, "--listen", "127.0.0.1:0", "--port-file", portfile, "--data-dir", datadir};
    int n = 7;
    for (int i = 0; extra && extra[i] && n < 31; i++)
        argv[n++] = extra[i];
    argv[n] = NULL;
    a->pid = fork();
    if (a->pid < 0)
        return -1;
    if (a->pid == 0) {
        execv(bin, (char *const *)argv);
        _exit(127);
    }
    for (int i = 0; i < 200; i++) {
        FILE *f = fopen(portfile, "re");
        if (f) {
            int ok = fscanf(f, "%d", &a->port) == 1;
            fclose(f);
            if (ok && a->port > 0) {
                snprintf(a->addr, sizeof a->addr, "127.0.0.1:%d", a->port);
                return 0;
            }
        }
        int st;
        if (waitpid(a->pid, &st, WNOHANG) == a->pid)
            return -1;
        usleep(25000);
    }
    kill(a->pid, SIGKILL);
    waitpid(a->pid, NULL, 0);
    return -1;
}

/*
 * Send `sig` and wait up to `timeout_s` for the exit. Returns the wait status,
 * or -1 if it did not exit in time (it is then SIGKILLed). *took receives the
 * seconds it took.
 */
static inline int
agent_stop(agent_proc_t *a, int sig, double timeout_s, double *took)
{
    double t0 = agent_now();
    kill(a->pid, sig);
    int st = -1;
    for (;;) {
        pid_t r = waitpid(a->pid, &st, WNOHANG);
        if (r == a->pid)
            break;
        if (agent_now() - t0 > timeout_s) {
            kill(a->pid, SIGKILL);
            waitpid(a->pid, NULL, 0);
            st = -1;
            break;
        }
        usleep(10000);
    }
    if (took)
        *took = agent_now() - t0;
    char cmd[PATH_MAX + 16];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", a->dir);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", a->dir);
    return st;
}

#endif /* RUSTYMEM_TEST_AGENT_PROC_H */
