/*
 * flags.h — the command-line plumbing the daemons share (rustymemd,
 * rustymem-fleet, rustymem-exporter): getopt_long with one readable line and
 * exit status 2 for every usage error, --help and --version handled alike,
 * and range-checked numbers.
 *
 * Each daemon keeps its own option table and switch; rm_flags_next takes the
 * common cases out of it:
 *
 *     static const struct option longopts[] = { ..., RM_FLAGS_STD_LONGOPTS, {0, 0, 0, 0} };
 *     int c, rc;
 *     while ((c = rm_flags_next(&prog, argc, argv, longopts, &rc)) != -1) {
 *         if (c == RM_FLAGS_EXIT)
 *             return rc;
 *         switch (c) { ... }
 *     }
 *     if (rm_flags_no_operands(&prog, argc, argv) == 2)
 *         return 2;
 *
 * Messages go to stderr as "PROG: what (HINT)" on one line; any control
 * byte in them (they quote argv) is escaped as in the log (log.h).
 * Not thread-safe (getopt's globals): start-up only.
 */
#ifndef RUSTYMEM_AGENT_FLAGS_H
#define RUSTYMEM_AGENT_FLAGS_H

#include <getopt.h>
#include <stdio.h>

typedef struct rm_flags_prog {
    const char *name;        /* "rustymemd": first word of every message and of --version */
    const char *version;     /* printed by --version after the name */
    const char *help_hint;   /* closes usage errors in parentheses: "see rustymemd --help" */
    void (*usage)(FILE *f);  /* the --help text */
} rm_flags_prog_t;

/* Option values of --help and --version (above any daemon's own enum). */
#define RM_FLAG_HELP 0x7f00
#define RM_FLAG_VERSION 0x7f01
#define RM_FLAGS_EXIT (-2)
#define RM_FLAGS_STD_LONGOPTS                                                \
    {"version", no_argument, 0, RM_FLAG_VERSION},                             \
    {"help", no_argument, 0, RM_FLAG_HELP}

/* The --help lines of --version and --help (two-space indent, the
 * description at column col), so every daemon documents them alike. */
void rm_flags_help_std(FILE *f, int col);
/* The usual end of a daemon's --help: rm_flags_help_std, then the
 * exit-status paragraph ("Exit status: 0 after a clean shutdown, 1 on a
 * start-up error, 2 on a usage error."). */
void rm_flags_help_end(FILE *f, int col);

/* The rm_flags_prog_t of a program: its name, RM_VERSION (which the
 * program defines), the hint that closes usage errors and its --help text. */
#define RM_FLAGS_PROG(name_, hint_, usage_)                                                    \
    {.name = (name_), .version = RM_VERSION, .help_hint = (hint_), .usage = (usage_)}

/*
 * The next option's value (optarg set as by getopt_long), -1 after the last
 * option, or RM_FLAGS_EXIT with *exit_code set: 0 after printing --help to
 * stdout or "NAME VERSION" for --version, 2 after a usage error printed to
 * stderr ("PROG: --x needs a value (HINT)", "PROG: unknown option --x (HINT)").
 */
int rm_flags_next(const rm_flags_prog_t *p, int argc, char **argv, const struct option *longopts,
                  int *exit_code);

/* After the loop: an operand is a usage error ("unexpected argument"): 2;
 * none: -1. */
int rm_flags_no_operands(const rm_flags_prog_t *p, int argc, char **argv);

/* Print "PROG: <fmt …> (HINT)" on stderr; returns 2 (the usage exit status). */
int rm_flags_usage_error(const rm_flags_prog_t *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * Parse s as a whole number (base 10) in lo..hi into *out. On failure prints
 * "PROG: FLAG S: expected a whole number in LO..HI", leaves *out alone and
 * returns -1; 0 on success.
 */
int rm_flags_long(const rm_flags_prog_t *p, const char *flag, const char *s, long lo, long hi, long *out);
/* The same for a real number: "expected a number in LO..HI" (%g). */
int rm_flags_double(const rm_flags_prog_t *p, const char *flag, const char *s, double lo, double hi,
                    double *out);

#endif /* RUSTYMEM_AGENT_FLAGS_H */
