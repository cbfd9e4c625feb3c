/*
 * fuzz_trace_io.c — libFuzzer target: rustymem-bench's trace readers
 * (tests/bench/trace_io.h), the page-number trace and the
 * `t_seconds,used_bytes,limit_bytes` CSV, parsed from the raw input buffer
 * (not NUL-terminated: the copy is exactly `size` bytes, so ASan catches a
 * read past the end).
 *
 * Both parsers see every input. Checked, per trace_io.h: on failure err holds
 * a non-empty line and the outputs are untouched (pages) or zeroed (CSV); on
 * success n >= 1, every CSV row has a finite t_seconds >= 0 that never
 * decreases and limit_bytes > 0, and the parsed values written back out in
 * the format parse to the same values. A violation aborts.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "trace_io.h"

static void
violated(const char *what, const char *err)
{
    fprintf(stderr, "fuzz_trace_io: contract violated: %s (err: '%s')\n", what, err);
    abort();
}

static void
check_pages(const char *buf, size_t len)
{
    uint64_t *pages = (uint64_t *)(uintptr_t)1, *back = NULL;
    size_t n = 12345, nb = 0;
    char err[256] = "";
    if (rm_trace_parse_pages(buf, len, &pages, &n, err, sizeof err) != 0) {
        if (!err[0] || pages != (uint64_t *)(uintptr_t)1 || n != 12345)
            violated("failed page parse: no reason or outputs touched", err);
        return;
    }
    if (n == 0)
        violated("page trace parsed to zero pages", err);
    char *text = malloc(n * 21 + 1), *p = text;
    if (!text)
        goto out;
    for (size_t i = 0; i < n; i++)
        p += sprintf(p, "%llu\n", (unsigned long long)pages[i]);
    if (rm_trace_parse_pages(text, (size_t)(p - text), &back, &nb, err, sizeof err) != 0)
        violated("written-back page trace does not parse", err);
    if (nb != n || memcmp(back, pages, n * sizeof *pages) != 0)
        violated("written-back page trace parses to other pages", err);
    free(back);
    free(text);
out:
    free(pages);
}

static void
check_csv(const char *buf, size_t len)
{
    rm_trace_csv_t t, back;
    memset(&t, 0xA5, sizeof t);
    char err[256] = "";
    if (rm_trace_parse_csv(buf, len, &t, err, sizeof err) != 0) {
        if (!err[0] || t.n != 0 || t.t_seconds || t.used_bytes || t.limit_bytes)
            violated("failed CSV parse: no reason or output not zeroed", err);
        return;
    }
    if (t.n == 0)
        violated("CSV trace parsed to zero rows", err);
    for (size_t i = 0; i < t.n; i++) {
        if (!isfinite(t.t_seconds[i]) || t.t_seconds[i] < 0 || (i && t.t_seconds[i] < t.t_seconds[i - 1]))
            violated("CSV t_seconds not finite, negative or decreasing", err);
        if (t.limit_bytes[i] == 0)
            violated("CSV limit_bytes == 0 accepted", err);
    }
    char *text = malloc(t.n * 72 + 1), *p = text;
    if (text) {
        for (size_t i = 0; i < t.n; i++)
            p += sprintf(p, "%.17g,%llu,%llu\n", t.t_seconds[i], (unsigned long long)t.used_bytes[i],
                         (unsigned long long)t.limit_bytes[i]);
        if (rm_trace_parse_csv(text, (size_t)(p - text), &back, err, sizeof err) != 0)
            violated("written-back CSV does not parse", err);
        if (back.n != t.n || memcmp(back.t_seconds, t.t_seconds, t.n * sizeof(double)) != 0 ||
            memcmp(back.used_bytes, t.used_bytes, t.n * sizeof(uint64_t)) != 0 ||
            memcmp(back.limit_bytes, t.limit_bytes, t.n * sizeof(uint64_t)) != 0)
            violated("written-back CSV parses to other rows", err);
        rm_trace_csv_free(&back);
        free(text);
    }
    rm_trace_csv_free(&t);
    rm_trace_csv_free(&t); /* idempotent */
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *buf = malloc(size ? size : 1);
    if (!buf)
        return 0;
    memcpy(buf, data, size);
    check_pages(buf, size);
    check_csv(buf, size);
    free(buf);
    return 0;
}
