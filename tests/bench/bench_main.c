/*
 * bench_main.c — rustymem-bench: runs one benchmark suite and prints its
 * figures, as JSON with --json.
 */
#include "bench.h"

#include <dlfcn.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static rm_bench_suite_t *suites;

static void *(*glibc_malloc)(size_t);
static void (*glibc_free)(void *);

__attribute__((constructor)) static void
resolve_glibc(void)
{
    void *h = dlopen("libc.so.6", RTLD_LAZY | RTLD_NOLOAD);
    if (!h)
        return;
    glibc_malloc = (void *(*)(size_t))dlsym(h, "__libc_malloc");
    glibc_free = (void (*)(void *))dlsym(h, "__libc_free");
    dlclose(h);
}

int
rm_bench_glibc_ok(void)
{
    return glibc_malloc && glibc_free;
}

void *
rm_bench_glibc_malloc(size_t n)
{
    if (!glibc_malloc)
        abort();
    return glibc_malloc(n);
}

void
rm_bench_glibc_free(void *p)
{
    if (!glibc_free)
        abort();
    glibc_free(p);
}

void
rm_bench_register(rm_bench_suite_t *s)
{
    /* keep the list sorted by name so --help is stable */
    rm_bench_suite_t **pp = &suites;
    while (*pp && strcmp((*pp)->name, s->name) < 0)
        pp = &(*pp)->next;
    s->next = *pp;
    *pp = s;
}

uint64_t
rm_bench_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

const char *
rm_bench_arg(const rm_bench_opts_t *o, const char *key)
{
    for (int i = 0; i + 1 < o->argc; i++)
        if (strcmp(o->argv[i], key) == 0)
            return o->argv[i + 1];
    return NULL;
}

int
rm_bench_flag(const rm_bench_opts_t *o, const char *key)
{
    for (int i = 0; i < o->argc; i++)
        if (strcmp(o->argv[i], key) == 0)
            return 1;
    return 0;
}

int
rm_bench_arg_u64(const rm_bench_opts_t *o, const char *suite, const char *key, uint64_t min, uint64_t max,
                 uint64_t dflt, uint64_t *out)
{
    const char *v = rm_bench_arg(o, key);
    if (!v) {
        *out = dflt;
        return 0;
    }
    char *end;
    errno = 0;
    unsigned long long x = strtoull(v, &end, 10);
    if (errno || end == v || *end || v[0] == '-' || x < min || x > max) {
        fprintf(stderr, "rustymem-bench %s: %s %s: expected a whole number in [%llu, %llu]\n", suite, key, v,
                (unsigned long long)min, (unsigned long long)max);
        return -1;
    }
    *out = x;
    return 0;
}

/* Does `opt` appear in the suite's options string, and does it take a value? */
static int
suite_option(const rm_bench_suite_t *s, const char *opt, int *takes_value)
{
    size_t n = strlen(opt);
    for (const char *p = s->options; (p = strstr(p, opt)) != NULL; p += n) {
        if ((p != s->options && p[-1] != ' ') || (p[n] != ' ' && p[n] != '\0'))
            continue;
        const char *next = p + n;
        while (*next == ' ')
            next++;
        *takes_value = *next && strncmp(next, "--", 2) != 0;
        return 1;
    }
    return 0;
}

/* Refuse arguments the suite does not take (they used to be ignored silently). */
static int
check_suite_args(const rm_bench_suite_t *s, const rm_bench_opts_t *o)
{
    for (int i = 0; i < o->argc; i++) {
        int takes_value = 0;
        if (strncmp(o->argv[i], "--", 2) != 0 || !suite_option(s, o->argv[i], &takes_value)) {
            fprintf(stderr, "rustymem-bench %s: unknown %s '%s' (%s%s)\n", s->name,
                    strncmp(o->argv[i], "--", 2) == 0 ? "option" : "argument", o->argv[i],
                    *s->options ? "its options: " : "it takes only --json and --quick",
                    s->options);
            return -1;
        }
        if (takes_value && ++i >= o->argc) {
            fprintf(stderr, "rustymem-bench %s: %s needs a value\n", s->name, o->argv[i - 1]);
            return -1;
        }
    }
    return 0;
}

static int
cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double
rm_bench_percentile(double *v, size_t n, double pct)
{
    if (n == 0)
        return 0.0;
    qsort(v, n, sizeof *v, cmp_double);
    double rank = pct / 100.0 * (double)(n - 1);
    size_t lo = (size_t)rank;
    size_t hi = lo + 1 < n ? lo + 1 : lo;
    double frac = rank - (double)lo;
    return v[lo] + (v[hi] - v[lo]) * frac;
}

double
rm_bench_geomean(const double *v, size_t n)
{
    if (n == 0)
        return 0.0;
    double s = 0.0;
    for (size_t i = 0; i < n; i++)
        s += log(v[i]);
    return exp(s / (double)n);
}

static void
usage(FILE *f)
{
    fprintf(f,
            "usage: rustymem-bench SUITE [--json] [--quick] [suite options]\n"
            "\n"
            "Runs one benchmark suite. Every suite measures rustymem and its competitors\n"
            "side by side in one invocation and reports ratios.\n"
            "\n"
            "  --json    print exactly one JSON object on stdout (progress goes to stderr)\n"
            "  --quick   shorter runs, for smoke checks in CI\n"
            "  --help    this text\n"
            "\n"
            "suites:\n");
    for (rm_bench_suite_t *s = suites; s; s = s->next) {
        fprintf(f, "  %-14s %s\n", s->name, s->summary);
        if (*s->options)
            fprintf(f, "  %-14s options: %s\n", "", s->options);
    }
}

static void
print_human(json_t *obj, int depth)
{
    const char *key;
    json_t *val;
    json_object_foreach(obj, key, val) {
        if (json_is_object(val)) {
            printf("%*s%s:\n", depth * 2, "", key);
            print_human(val, depth + 1);
        } else {
            char *s = json_dumps(val, JSON_ENCODE_ANY | JSON_COMPACT | JSON_REAL_PRECISION(6));
            printf("%*s%-34s %s\n", depth * 2, "", key, s ? s : "?");
            free(s);
        }
    }
}

int
main(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    rm_bench_suite_t *suite = NULL;
    for (rm_bench_suite_t *s = suites; s; s = s->next)
        if (strcmp(s->name, argv[1]) == 0)
            suite = s;
    if (!suite) {
        fprintf(stderr, "rustymem-bench: unknown suite '%s' (see rustymem-bench --help)\n", argv[1]);
        return 2;
    }
    for (int i = 2; i < argc; i++)
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {   /* SUITE --help */
            printf("usage: rustymem-bench %s [--json] [--quick]%s%s\n\n  %s\n", suite->name,
                   *suite->options ? " " : "", suite->options, suite->summary);
            return 0;
        }
    rm_bench_opts_t o = {0};
    char **rest = calloc((size_t)argc, sizeof *rest);
    if (!rest)
        return 1;
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0)
            o.json = 1;
        else if (strcmp(argv[i], "--quick") == 0)
            o.quick = 1;
        else
            rest[o.argc++] = argv[i];
    }
    o.argv = rest;
    if (check_suite_args(suite, &o) != 0) {
        free(rest);
        return 2;
    }

    json_t *result = json_object();
    json_object_set_new(result, "suite", json_string(suite->name));
    json_object_set_new(result, "quick", json_boolean(o.quick));
    int rc = suite->run(&o, result);
    if (rc == 0) {
        if (o.json) {
            char *s = json_dumps(result, JSON_INDENT(2) | JSON_REAL_PRECISION(6));
            if (s)
                puts(s);
            free(s);
        } else {
            print_human(result, 0);
        }
    }
    json_decref(result);
    free(rest);
    return rc == 0 ? 0 : 1;
}

double
rm_bench_proc_cpu_s(pid_t pid)
{
    char path[64], buf[2048];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "re");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *p = strrchr(buf, ')'); /* the command name may hold spaces */
    unsigned long long ut, st;
    /* after ")": state(3) ppid pgrp session tty_nr tpgid flags minflt cminflt majflt cmajflt utime(14) stime(15) */
    if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
        return -1;
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

double
rm_bench_loadavg1(void)
{
    double l[1];
    return getloadavg(l, 1) == 1 ? l[0] : -1.0;
}
