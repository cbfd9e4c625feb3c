/*
 * bench.h — the rustymem-bench suite interface.
 *
 * A suite is one file, suite_<name>.c, that registers itself:
 *
 *     static int run_slab(const rm_bench_opts_t *o, json_t *result);
 *     RM_BENCH_SUITE(slab, "ns per alloc+free vs glibc/jemalloc/mimalloc", "--batch N", run_slab);
 *
 * The options string lists the suite's own options, space-separated; an option
 * followed by a word that does not start with "--" (N, FILE, …) takes a value.
 * main() refuses anything else before the suite runs, and --help prints it.
 *
 * run() measures every competitor in the same invocation and puts its figures
 * into `result` (a JSON object owned by the caller) under the keys its issue
 * names; ratios, not absolute times, are what the issues judge. Progress and
 * human-readable tables go to stderr so that `--json` leaves exactly one JSON
 * object on stdout. run() returns 0, or non-zero after printing one line that
 * says what failed.
 */
#ifndef RUSTYMEM_BENCH_H
#define RUSTYMEM_BENCH_H

#include <jansson.h>
#include <stdint.h>
#include <sys/types.h>

typedef struct rm_bench_opts {
    int json;          /* --json: machine output on stdout */
    int quick;         /* --quick: shorter runs for CI smoke checks */
    int argc;          /* suite-specific arguments after the suite name */
    char **argv;
} rm_bench_opts_t;

typedef int (*rm_bench_run_fn)(const rm_bench_opts_t *o, json_t *result);

typedef struct rm_bench_suite {
    const char *name;
    const char *summary;
    const char *options;   /* "--trace FILE --frames N --verbose"; "" = none */
    rm_bench_run_fn run;
    struct rm_bench_suite *next;
} rm_bench_suite_t;

void rm_bench_register(rm_bench_suite_t *s);

#define RM_BENCH_SUITE(name_, summary_, options_, fn_)                                   \
    static rm_bench_suite_t rm_bench_suite_##name_ = {#name_, summary_, options_, fn_, 0}; \
    __attribute__((constructor)) static void rm_bench_reg_##name_(void)        \
    {                                                                          \
        rm_bench_register(&rm_bench_suite_##name_);                            \
    }

/* Helpers shared by suites. */
uint64_t rm_bench_now_ns(void);
/* Value of "--key VALUE" among the suite's arguments, or NULL. */
const char *rm_bench_arg(const rm_bench_opts_t *o, const char *key);
/* 1 when the flag `key` (an option without a value) was given. */
int rm_bench_flag(const rm_bench_opts_t *o, const char *key);
/* "--key N" as a whole number in [min, max] into *out (dflt when absent).
 * Returns 0, or -1 after printing one line that names the option. */
int rm_bench_arg_u64(const rm_bench_opts_t *o, const char *suite, const char *key, uint64_t min, uint64_t max,
                     uint64_t dflt, uint64_t *out);
/* Percentile (0..100) of n doubles; sorts `v` in place. */
double rm_bench_percentile(double *v, size_t n, double pct);
/*
 * glibc's own malloc/free. rustymem-bench links jemalloc (whose malloc wins)
 * and mimalloc, and libmimalloc also exports __libc_malloc/__libc_free, so
 * these are looked up with dlsym in libc.so.6 itself: one indirect call.
 * rm_bench_glibc_ok() is 0 when they could not be found (then the others abort).
 */
void *rm_bench_glibc_malloc(size_t n);
void rm_bench_glibc_free(void *p);
int rm_bench_glibc_ok(void);

/* Geometric mean of n positive doubles. */
double rm_bench_geomean(const double *v, size_t n);

/* CPU seconds (user + system, /proc/PID/stat) process `pid` has used so far; -1 when unreadable. */
double rm_bench_proc_cpu_s(pid_t pid);
/* The 1-minute load average (/proc/loadavg); -1 when unreadable. */
double rm_bench_loadavg1(void);

#endif /* RUSTYMEM_BENCH_H */
