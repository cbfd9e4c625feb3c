/*
 * trace_io.c — strict readers for page traces and usage (CSV) traces.
 *
 * Design note: input is scanned line by line; each line is copied into a
 * bounded local buffer (a longer line is an error) so that strtoull/strtod
 * never read past the caller's buffer, which need not be NUL-terminated.
 * Arrays grow geometrically; every allocation failure is reported as an error.
 */
#include "trace_io.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LINE_MAX_BYTES 256

static int
fail(char *err, size_t errlen, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return -1;
}

int
rm_trace_read_file(const char *path, char **buf, size_t *len, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return fail(err, errlen, "cannot open %s: %s", path, strerror(errno));
    size_t cap = 1 << 16, n = 0;
    char *b = malloc(cap + 1);
    while (b) {
        size_t got = fread(b + n, 1, cap - n, f);
        n += got;
        if (n < cap)
            break;
        char *nb = realloc(b, cap * 2 + 1);
        if (!nb) {
            free(b);
            b = NULL;
            break;
        }
        b = nb;
        cap *= 2;
    }
    int rd_err = ferror(f);
    fclose(f);
    if (!b)
        return fail(err, errlen, "%s: out of memory", path);
    if (rd_err) {
        free(b);
        return fail(err, errlen, "cannot read %s", path);
    }
    b[n] = '\0';
    *buf = b;
    *len = n;
    return 0;
}

/* Next line of buf[*pos..len) into line (trimmed). Returns 1 with a line, 0 at the end, -1 too long. */
static int
next_line(const char *buf, size_t len, size_t *pos, char line[LINE_MAX_BYTES])
{
    if (*pos >= len)
        return 0;
    size_t s = *pos, e = s;
    while (e < len && buf[e] != '\n')
        e++;
    *pos = e < len ? e + 1 : e;
    while (s < e && isspace((unsigned char)buf[s]))
        s++;
    while (e > s && isspace((unsigned char)buf[e - 1]))
        e--;
    if (e - s >= LINE_MAX_BYTES)
        return -1;
    memcpy(line, buf + s, e - s);
    line[e - s] = '\0';
    return 1;
}

/* Whole-string unsigned decimal; 0 ok, -1 malformed or out of range. */
static int
parse_u64(const char *s, uint64_t *v)
{
    if (!isdigit((unsigned char)s[0]))
        return -1;
    errno = 0;
    char *end;
    unsigned long long x = strtoull(s, &end, 10);
    if (errno || *end != '\0')
        return -1;
    *v = x;
    return 0;
}

int
rm_trace_parse_pages(const char *buf, size_t len, uint64_t **pages, size_t *n, char *err, size_t errlen)
{
    size_t pos = 0, lineno = 0, cnt = 0, cap = 0;
    uint64_t *p = NULL;
    char line[LINE_MAX_BYTES];
    int r;
    while ((r = next_line(buf, len, &pos, line)) != 0) {
        lineno++;
        if (r < 0) {
            free(p);
            return fail(err, errlen, "line %zu: longer than %d bytes", lineno, LINE_MAX_BYTES - 1);
        }
        if (line[0] == '\0' || line[0] == '#')
            continue;
        uint64_t v;
        if (parse_u64(line, &v) != 0) {
            free(p);
            return fail(err, errlen, "line %zu: expected one page number (decimal 0..2^64-1), got \"%.40s\"",
                        lineno, line);
        }
        if (cnt == cap) {
            size_t nc = cap ? cap * 2 : 4096;
            uint64_t *np = realloc(p, nc * sizeof *np);
            if (!np) {
                free(p);
                return fail(err, errlen, "line %zu: out of memory", lineno);
            }
            p = np;
            cap = nc;
        }
        p[cnt++] = v;
    }
    if (cnt == 0) {
        free(p);
        return fail(err, errlen, "the trace holds no page numbers");
    }
    *pages = p;
    *n = cnt;
    return 0;
}

void
rm_trace_csv_free(rm_trace_csv_t *t)
{
    if (!t)
        return;
    free(t->t_seconds);
    free(t->used_bytes);
    free(t->limit_bytes);
    memset(t, 0, sizeof *t);
}

static int
csv_grow(rm_trace_csv_t *t, size_t cap)
{
    double *a = realloc(t->t_seconds, cap * sizeof *a);
    if (!a)
        return -1;
    t->t_seconds = a;
    uint64_t *b = realloc(t->used_bytes, cap * sizeof *b);
    if (!b)
        return -1;
    t->used_bytes = b;
    uint64_t *c = realloc(t->limit_bytes, cap * sizeof *c);
    if (!c)
        return -1;
    t->limit_bytes = c;
    return 0;
}

int
rm_trace_parse_csv(const char *buf, size_t len, rm_trace_csv_t *out, char *err, size_t errlen)
{
    static const char *const field[3] = {"t_seconds", "used_bytes", "limit_bytes"};
    rm_trace_csv_t t = {0};
    size_t pos = 0, lineno = 0, cap = 0;
    char line[LINE_MAX_BYTES];
    int r, rc = -1;
    memset(out, 0, sizeof *out);
    while ((r = next_line(buf, len, &pos, line)) != 0) {
        lineno++;
        if (r < 0) {
            fail(err, errlen, "line %zu: longer than %d bytes", lineno, LINE_MAX_BYTES - 1);
            goto out;
        }
        if (line[0] == '\0' || line[0] == '#')
            continue;
        char *col[3], *save = NULL, *tok = strtok_r(line, ",", &save);
        int k = 0;
        for (; tok && k < 3; k++, tok = strtok_r(NULL, ",", &save)) {
            while (isspace((unsigned char)*tok))
                tok++;
            char *e = tok + strlen(tok);
            while (e > tok && isspace((unsigned char)e[-1]))
                *--e = '\0';
            col[k] = tok;
        }
        if (k != 3 || tok) {
            fail(err, errlen, "line %zu: expected 3 fields t_seconds,used_bytes,limit_bytes", lineno);
            goto out;
        }
        if (t.n == 0 && strcmp(col[0], field[0]) == 0 && strcmp(col[1], field[1]) == 0 &&
            strcmp(col[2], field[2]) == 0)
            continue;   /* header */
        char *end;
        errno = 0;
        double ts = strtod(col[0], &end);
        if (errno || end == col[0] || *end || !isfinite(ts) || ts < 0) {
            fail(err, errlen, "line %zu: t_seconds must be a finite number >= 0, got \"%.40s\"", lineno,
                 col[0]);
            goto out;
        }
        if (t.n && ts < t.t_seconds[t.n - 1]) {
            fail(err, errlen, "line %zu: t_seconds %.17g is earlier than the previous row's", lineno, ts);
            goto out;
        }
        uint64_t v[2];
        for (int i = 0; i < 2; i++)
            if (parse_u64(col[1 + i], &v[i]) != 0) {
                fail(err, errlen, "line %zu: %s must be a decimal byte count, got \"%.40s\"", lineno,
                     field[1 + i], col[1 + i]);
                goto out;
            }
        if (v[1] == 0) {
            fail(err, errlen, "line %zu: limit_bytes must be > 0", lineno);
            goto out;
        }
        if (t.n == cap) {
            size_t nc = cap ? cap * 2 : 1024;
            if (csv_grow(&t, nc) != 0) {
                fail(err, errlen, "line %zu: out of memory", lineno);
                goto out;
            }
            cap = nc;
        }
        t.t_seconds[t.n] = ts;
        t.used_bytes[t.n] = v[0];
        t.limit_bytes[t.n] = v[1];
        t.n++;
    }
    if (t.n == 0) {
        fail(err, errlen, "the trace holds no rows t_seconds,used_bytes,limit_bytes");
        goto out;
    }
    *out = t;
    return 0;
out:
    rm_trace_csv_free(&t);
    return rc;
}
