/*
 * log.c — the daemons' one stderr logger (rustymemd, rustymem-fleet,
 * rustymem-exporter) and the adapter that routes gRPC core's gpr_log into it.
 *
 * Every line is formatted whole, escaped (rm_log_escape) and written with one
 * fprintf, so lines from several threads do not interleave and nothing a
 * caller interpolates (a request path, a file name, a config value) can
 * forge a second line or drive the terminal.
 */
#include "log.h"

#include <grpc/support/log.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/* Length of the valid UTF-8 sequence at s (1..4), or 0 if it is not one. */
static size_t
utf8_seq(const unsigned char *s)
{
    unsigned char c = s[0];
    size_t len = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 0;
    if (len == 2 && c < 0xC2)
        return 0;   /* overlong */
    for (size_t k = 1; k < len; k++)
        if ((s[k] & 0xC0) != 0x80)
            return 0;
    return len;
}

/*
 * Copy src into dst (cap bytes, NUL-terminated), writing control characters,
 * DEL and bytes that are not valid UTF-8 as \xNN: a log line is one line of
 * text whatever a caller quotes into it (a corrupted INI file echoed raw
 * binary, and a newline in a value forged a second log line).
 */
void
rm_log_escape(char *dst, size_t cap, const char *src)
{
    size_t o = 0;
    const unsigned char *s = (const unsigned char *)src;
    while (*s && o + 1 < cap) {
        size_t len = *s >= 0x20 && *s != 0x7f ? utf8_seq(s) : 0;
        if (len == 0) {
            if (o + 5 >= cap)
                break;
            o += (size_t)snprintf(dst + o, cap - o, "\\x%02x", *s);
            s++;
            continue;
        }
        if (o + len >= cap)
            break;
        memcpy(dst + o, s, len);
        o += len;
        s += len;
    }
    dst[o] = '\0';
}

void
rm_log(const char *level, const char *fmt, ...)
{
    /* msg holds what the caller formatted; line its escaped form (up to 4x
     * longer where every byte is a control byte: the tail is then cut). */
    char msg[1400], line[2048];
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    int n = (int)strftime(line, sizeof line, "%Y-%m-%dT%H:%M:%S", &tm);
    n += snprintf(line + n, sizeof line - (size_t)n, ".%03ldZ %-5s ", ts.tv_nsec / 1000000, level);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    rm_log_escape(line + n, sizeof line - (size_t)n, msg);
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
