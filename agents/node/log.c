/*
 * log.c — timestamped stderr logging for rustymemd.
 */
#include "log.h"

#include <grpc/support/log.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

void
rm_log(const char *level, const char *fmt, ...)
{
    char line[1024];
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    int n = (int)strftime(line, sizeof line, "%Y-%m-%dT%H:%M:%S", &tm);
    n += snprintf(line + n, sizeof line - (size_t)n, ".%03ldZ %-5s ", ts.tv_nsec / 1000000, level);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
    va_end(ap);
    /* One write per line so lines from several threads do not interleave. */
    fprintf(stderr, "%s\n", line);
}

static void
grpc_log(gpr_log_func_args *args)
{
    const char *level = args->severity == GPR_LOG_SEVERITY_ERROR ? "ERROR"
                        : args->severity == GPR_LOG_SEVERITY_INFO ? "INFO"
                                                                   : "DEBUG";
    const char *file = strrchr(args->file, '/');
    rm_log(level, "grpc %s:%d: %s", file ? file + 1 : args->file, args->line, args->message);
}

void
rm_log_route_grpc(int verbose)
{
    gpr_set_log_function(grpc_log);
    gpr_set_log_verbosity(verbose ? GPR_LOG_SEVERITY_INFO : GPR_LOG_SEVERITY_ERROR);
}
