/*
 * trace_io.h — readers for the trace files that rustymem-bench replays.
 *
 * Two formats:
 *   page trace  (`bufpool --trace FILE`): one page number per line, decimal,
 *               0 … 2^64−1; blank lines and lines starting with '#' are skipped.
 *   usage trace (`forecast --trace FILE`): CSV rows `t_seconds,used_bytes,limit_bytes`
 *               with an optional header line of exactly those names; t_seconds is
 *               a finite number ≥ 0 and never decreases, limit_bytes > 0.
 *
 * Design note: the parsers take a memory buffer that need not be NUL-terminated
 * (so the fuzz targets in tests/fuzz feed them directly) and are strict: any
 * malformed line is an error naming the line number and the field, never a
 * silently skipped line. Single-threaded; no global state.
 */
#ifndef RUSTYMEM_BENCH_TRACE_IO_H
#define RUSTYMEM_BENCH_TRACE_IO_H

#include <stddef.h>
#include <stdint.h>

/* Parsed usage trace; the three arrays have n entries and are owned by the struct. */
typedef struct rm_trace_csv {
    size_t n;
    double *t_seconds;
    uint64_t *used_bytes;
    uint64_t *limit_bytes;
} rm_trace_csv_t;

/*
 * Read a whole file into a new malloc'd buffer (*buf, *len; NUL-terminated for
 * convenience, the NUL is not counted). Returns 0, or -1 with a one-line reason
 * in err (errlen bytes) and *buf untouched.
 */
int rm_trace_read_file(const char *path, char **buf, size_t *len, char *err, size_t errlen);

/*
 * Parse a page trace. On success returns 0 with *pages a malloc'd array of *n ≥ 1
 * page numbers (caller frees). On failure returns -1, *pages and *n untouched, err
 * says which line and why (an empty trace is an error).
 */
int rm_trace_parse_pages(const char *buf, size_t len, uint64_t **pages, size_t *n, char *err,
                         size_t errlen);

/*
 * Parse a usage trace into *out (n ≥ 1 rows). Returns 0, or -1 with *out zeroed
 * and err naming the line and field. Free with rm_trace_csv_free().
 */
int rm_trace_parse_csv(const char *buf, size_t len, rm_trace_csv_t *out, char *err, size_t errlen);

/* Free the arrays of a parsed usage trace and zero it; NULL-safe, idempotent. */
void rm_trace_csv_free(rm_trace_csv_t *t);

#endif /* RUSTYMEM_BENCH_TRACE_IO_H */
