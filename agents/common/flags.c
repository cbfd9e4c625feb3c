/*
 * flags.c — getopt_long plumbing shared by the daemons (flags.h).
 *
 * getopt runs with opterr = 0 and the ":" optstring, so a missing value comes
 * back as ':' and an unknown option as '?': both are answered here with the
 * daemon's own wording, one line, exit status 2.
 */
#include "flags.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>

#include "log.h"

static void
say(const rm_flags_prog_t *p, const char *hint, const char *fmt, va_list ap)
{
    char msg[1024], shown[2048];
    vsnprintf(msg, sizeof msg, fmt, ap);
    rm_log_escape(shown, sizeof shown, msg);
    if (hint)
        fprintf(stderr, "%s: %s (%s)\n", p->name, shown, hint);
    else
        fprintf(stderr, "%s: %s\n", p->name, shown);
}

int
rm_flags_usage_error(const rm_flags_prog_t *p, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    say(p, p->help_hint, fmt, ap);
    va_end(ap);
    return 2;
}

static int
range_error(const rm_flags_prog_t *p, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    say(p, NULL, fmt, ap);
    va_end(ap);
    return -1;
}

void
rm_flags_help_std(FILE *f, int col)
{
    fprintf(f, "  %-*s%s\n", col - 2, "--version", "print the version and exit");
    fprintf(f, "  %-*s%s\n", col - 2, "--help", "this text");
}

void
rm_flags_help_end(FILE *f, int col)
{
    rm_flags_help_std(f, col);
    fprintf(f, "\nExit status: 0 after a clean shutdown, 1 on a start-up error, 2 on a usage error.\n");
}

int
rm_flags_next(const rm_flags_prog_t *p, int argc, char **argv, const struct option *longopts, int *exit_code)
{
    opterr = 0;
    int c = getopt_long(argc, argv, ":", longopts, NULL);
    switch (c) {
    case RM_FLAG_VERSION:
        printf("%s %s\n", p->name, p->version);
        *exit_code = 0;
        return RM_FLAGS_EXIT;
    case RM_FLAG_HELP:
        p->usage(stdout);
        *exit_code = 0;
        return RM_FLAGS_EXIT;
    case ':':
        *exit_code = rm_flags_usage_error(p, "%s needs a value", argv[optind - 1]);
        return RM_FLAGS_EXIT;
    case '?': {
        const char *bad = argv[optind - 1];
        *exit_code = rm_flags_usage_error(p, "unknown option %s", bad ? bad : "?");
        return RM_FLAGS_EXIT;
    }
    default:
        return c;
    }
}

int
rm_flags_no_operands(const rm_flags_prog_t *p, int argc, char **argv)
{
    if (optind < argc)
        return rm_flags_usage_error(p, "unexpected argument '%s'", argv[optind]);
    return -1;
}

int
rm_flags_long(const rm_flags_prog_t *p, const char *flag, const char *s, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end || end == s || v < lo || v > hi)
        return range_error(p, "%s %s: expected a whole number in %ld..%ld", flag, s, lo, hi);
    *out = v;
    return 0;
}

int
rm_flags_double(const rm_flags_prog_t *p, const char *flag, const char *s, double lo, double hi, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || *end || end == s || !(v >= lo && v <= hi)) /* NaN fails both */
        return range_error(p, "%s %s: expected a number in %g..%g", flag, s, lo, hi);
    *out = v;
    return 0;
}
