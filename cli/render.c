/*
 * render.c — table and JSON output of rustymemctl.
 *
 * Design note: both forms are derived from the message descriptors through
 * rm_pb_to_json(), so every response type — including ones added later —
 * prints without per-command formatting code, and the two forms cannot
 * disagree about a value.
 */
#include "render.h"

#include <string.h>

#include "client.h"

static int
ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

static void
human_bytes(char *buf, size_t cap, double v)
{
    static const char *units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
    int u = 0;
    while (v >= 1024.0 && u < 5) {
        v /= 1024.0;
        u++;
    }
    if (u == 0)
        snprintf(buf, cap, "%.0f B", v);
    else
        snprintf(buf, cap, "%.1f %s", v, units[u]);
}

/* Format a scalar JSON value for a cell; `key` decides byte/ratio decoration. */
static void
cell(char *buf, size_t cap, const char *key, json_t *v, int decorate)
{
    if (json_is_string(v)) {
        snprintf(buf, cap, "%s", json_string_value(v));
    } else if (json_is_integer(v)) {
        long long x = (long long)json_integer_value(v);
        if (decorate && ends_with(key, "_bytes") && x >= 1024) {
            char h[32];
            human_bytes(h, sizeof h, (double)x);
            snprintf(buf, cap, "%lld (%s)", x, h);
        } else {
            snprintf(buf, cap, "%lld", x);
        }
    } else if (json_is_real(v)) {
        double x = json_real_value(v);
        if (decorate && ends_with(key, "_ratio"))
            snprintf(buf, cap, "%.4f (%.1f%%)", x, x * 100.0);
        else
            snprintf(buf, cap, "%.4g", x);
    } else if (json_is_boolean(v)) {
        snprintf(buf, cap, "%s", json_is_true(v) ? "true" : "false");
    } else if (json_is_null(v)) {
        snprintf(buf, cap, "-");
    } else if (json_is_array(v) && json_array_size(v) == 0) {
        snprintf(buf, cap, "(none)");
    } else if (json_is_array(v)) {
        size_t n = 0;
        buf[0] = '\0';
        size_t i;
        json_t *e;
        json_array_foreach(v, i, e) {
            char c[64];
            cell(c, sizeof c, key, e, 0);
            n += (size_t)snprintf(buf + n, n < cap ? cap - n : 0, "%s%s", i ? "," : "", c);
            if (n >= cap)
                break;
        }
    } else {
        snprintf(buf, cap, "…");
    }
}

static int
is_table(json_t *v)
{
    return json_is_array(v) && json_array_size(v) > 0 && json_is_object(json_array_get(v, 0));
}

static void
print_scalars(FILE *f, json_t *obj, const char *prefix)
{
    const char *key;
    json_t *v;
    json_object_foreach(obj, key, v) {
        char name[160];
        snprintf(name, sizeof name, "%s%s", prefix, key);
        if (json_is_object(v)) {
            char p[200];
            snprintf(p, sizeof p, "%s.", name);
            print_scalars(f, v, p);
        } else if (!is_table(v)) {
            char buf[512];
            cell(buf, sizeof buf, key, v, 1);
            fprintf(f, "%-32s %s\n", name, buf);
        }
    }
}

static void
print_table(FILE *f, const char *title, json_t *rows)
{
    /* Columns: the scalar keys of the first row, in order. */
    json_t *first = json_array_get(rows, 0);
    const char *cols[64];
    size_t width[64], ncols = 0;
    const char *key;
    json_t *v;
    json_object_foreach(first, key, v) {
        if (json_is_object(v) || is_table(v) || ncols == 64)
            continue;
        cols[ncols] = key;
        width[ncols] = strlen(key);
        ncols++;
    }
    size_t nrows = json_array_size(rows);
    char buf[256];
    for (size_t r = 0; r < nrows; r++)
        for (size_t c = 0; c < ncols; c++) {
            cell(buf, sizeof buf, cols[c], json_object_get(json_array_get(rows, r), cols[c]), 0);
            if (strlen(buf) > width[c])
                width[c] = strlen(buf);
        }
    fprintf(f, "\n%s:\n", title);
    for (size_t c = 0; c < ncols; c++)
        fprintf(f, "%s%-*s", c ? "  " : "  ", (int)width[c], cols[c]);
    fputc('\n', f);
    for (size_t r = 0; r < nrows; r++) {
        for (size_t c = 0; c < ncols; c++) {
            json_t *val = json_object_get(json_array_get(rows, r), cols[c]);
            cell(buf, sizeof buf, cols[c], val, 0);
            /* numbers right-aligned, text left-aligned */
            if (json_is_number(val))
                fprintf(f, "  %*s", (int)width[c], buf);
            else
                fprintf(f, "  %-*s", (int)width[c], buf);
        }
        fputc('\n', f);
    }
}

static void
print_tables(FILE *f, json_t *obj, const char *prefix)
{
    const char *key;
    json_t *v;
    json_object_foreach(obj, key, v) {
        char name[160];
        snprintf(name, sizeof name, "%s%s", prefix, key);
        if (is_table(v))
            print_table(f, name, v);
        else if (json_is_object(v)) {
            char p[200];
            snprintf(p, sizeof p, "%s.", name);
            print_tables(f, v, p);
        }
    }
}

void
rm_render_table(FILE *f, const ProtobufCMessage *msg)
{
    json_t *j = rm_pb_to_json(msg);
    if (!j)
        return;
    print_scalars(f, j, "");
    print_tables(f, j, "");
    json_decref(j);
}

int
rm_render_json(FILE *f, const ProtobufCMessage *msg)
{
    json_t *j = rm_pb_to_json(msg);
    if (!j)
        return -1;
    int rc = json_dumpf(j, f, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(10));
    fputc('\n', f);
    json_decref(j);
    return rc;
}
