/*
 * render.c — table, wide, JSON and YAML output of rustymemctl.
 *
 * Design note: every form is derived from the message descriptors through
 * rm_pb_to_json(), so every response type — including ones added later —
 * prints without per-command formatting code, and the forms cannot disagree
 * about a value. The table forms then make the figures readable by the
 * field's name (docs/adr/0024-cli-command-table.md): *_bytes in KiB/MiB/GiB,
 * *_ratio as a percentage, *_seconds as a duration, *_unix_ms as an age, and
 * by the descriptor: enum values as the word a user types ("gentle").
 */
#include "render.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "client.h"
#include "rm_clock.h"

#define DEFAULT_WIDTH 100

static int
ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

void
rm_fmt_bytes(char *buf, size_t cap, double v)
{
    static const char *units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
    int u = 0;
    while (v >= 1024.0 && u < 6) {
        v /= 1024.0;
        u++;
    }
    if (u == 0)
        snprintf(buf, cap, "%.0f B", v);
    else
        snprintf(buf, cap, "%.1f %s", v, units[u]);
}

void
rm_fmt_signed_bytes(char *buf, size_t cap, double v)
{
    if (v == 0) {
        snprintf(buf, cap, "0");
        return;
    }
    char h[32];
    rm_fmt_bytes(h, sizeof h, fabs(v));
    snprintf(buf, cap, "%c%s", v < 0 ? '-' : '+', h);
}

void
rm_fmt_duration(char *buf, size_t cap, double s)
{
    if (!isfinite(s)) {
        snprintf(buf, cap, "-");
        return;
    }
    const char *sign = s < 0 ? "-" : "";
    s = fabs(s);
    if (s < 1.0)
        snprintf(buf, cap, "%s%.0fms", sign, s * 1000.0);
    else if (s < 60.0)
        snprintf(buf, cap, "%s%.*fs", sign, s < 10.0 ? 1 : 0, s);
    else if (s < 3600.0)
        snprintf(buf, cap, "%s%dm%02ds", sign, (int)(s / 60), (int)fmod(s, 60));
    else if (s < 86400.0)
        snprintf(buf, cap, "%s%dh%02dm", sign, (int)(s / 3600), (int)fmod(s / 60, 60));
    else
        snprintf(buf, cap, "%s%dd%02dh", sign, (int)(s / 86400), (int)fmod(s / 3600, 24));
}

void
rm_fmt_age(char *buf, size_t cap, long long unix_ms, long long now_ms)
{
    if (unix_ms <= 0) {
        snprintf(buf, cap, "never");
        return;
    }
    double d = (double)(now_ms - unix_ms) / 1000.0;
    char h[32];
    if (d < 0) {
        rm_fmt_duration(h, sizeof h, -d);
        snprintf(buf, cap, "in %s", h);
    } else if (d < 1.0) {
        snprintf(buf, cap, "just now");
    } else {
        /* ages in whole units: "3m ago", "2h ago", "45s ago" */
        if (d < 60)
            snprintf(h, sizeof h, "%.0fs", floor(d));
        else if (d < 3600)
            snprintf(h, sizeof h, "%.0fm", floor(d / 60));
        else if (d < 86400)
            snprintf(h, sizeof h, "%.0fh", floor(d / 3600));
        else
            snprintf(h, sizeof h, "%.0fd", floor(d / 86400));
        snprintf(buf, cap, "%s ago", h);
    }
}

void
rm_fmt_number(char *buf, size_t cap, double v)
{
    if (!isfinite(v)) {
        snprintf(buf, cap, "%s", isnan(v) ? "nan" : v > 0 ? "inf" : "-inf");
        return;
    }
    double a = fabs(v);
    if (a >= 1e6 || v == floor(v))
        snprintf(buf, cap, "%.0f", v);
    else if (a >= 1)
        snprintf(buf, cap, "%.3f", v);
    else
        snprintf(buf, cap, "%.6f", v);
    /* trim trailing zeros of a fraction: 0.250000 → 0.25 */
    if (strchr(buf, '.')) {
        char *e = buf + strlen(buf) - 1;
        while (*e == '0')
            *e-- = '\0';
        if (*e == '.')
            *e = '\0';
    }
    if (strcmp(buf, "0") == 0 && v != 0)
        snprintf(buf, cap, v > 0 ? "<0.000001" : ">-0.000001");
}

/* Common prefix of an enum's value names up to the last '_' ("PRESSURE_LEVEL_"). */
static size_t
enum_prefix_len(const ProtobufCEnumDescriptor *e)
{
    if (e->n_values == 0)
        return 0;
    const char *first = e->values[0].name;
    size_t n = strlen(first);
    for (unsigned i = 1; i < e->n_values; i++) {
        size_t k = 0;
        while (k < n && first[k] == e->values[i].name[k])
            k++;
        n = k;
    }
    while (n > 0 && first[n - 1] != '_')
        n--;
    return n;
}

void
rm_fmt_enum(char *buf, size_t cap, const ProtobufCEnumDescriptor *e, int value)
{
    const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value(e, value);
    if (!v) {
        snprintf(buf, cap, "%d", value);
        return;
    }
    size_t skip = enum_prefix_len(e), i = 0;
    const char *s = v->name + (strlen(v->name) > skip ? skip : 0);
    for (; s[i] && i + 1 < cap; i++)
        buf[i] = (char)(s[i] >= 'A' && s[i] <= 'Z' ? s[i] - 'A' + 'a' : s[i]);
    buf[i] = '\0';
}

/* Rewrite enum names into words in a JSON tree, guided by the descriptor (table forms only). */
static void
humanize(json_t *j, const ProtobufCMessageDescriptor *d)
{
    if (!json_is_object(j))
        return;
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        json_t *v = json_object_get(j, f->name);
        if (!v)
            continue;
        if (f->type == PROTOBUF_C_TYPE_ENUM) {
            const ProtobufCEnumDescriptor *e = f->descriptor;
            json_t *arr = json_is_array(v) ? v : NULL;
            size_t n = arr ? json_array_size(arr) : 1;
            for (size_t k = 0; k < n; k++) {
                json_t *x = arr ? json_array_get(arr, k) : v;
                if (!json_is_string(x))
                    continue;
                const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value_by_name(e, json_string_value(x));
                if (!ev)
                    continue;
                char w[64];
                rm_fmt_enum(w, sizeof w, e, ev->value);
                if (arr)
                    json_array_set_new(arr, k, json_string(w));
                else
                    json_object_set_new(j, f->name, json_string(w));
            }
        } else if (f->type == PROTOBUF_C_TYPE_MESSAGE) {
            if (json_is_array(v)) {
                size_t k;
                json_t *x;
                json_array_foreach(v, k, x) humanize(x, f->descriptor);
            } else {
                humanize(v, f->descriptor);
            }
        }
    }
}

/* A JSON integer or an exact decimal string (uint64 above 2^53) as a double. */
static int
as_number(json_t *v, double *out)
{
    if (json_is_number(v)) {
        *out = json_number_value(v);
        return 1;
    }
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        char *end;
        if (!*s || (s[0] != '-' && (s[0] < '0' || s[0] > '9')))
            return 0;
        double d = strtod(s, &end);
        if (*end)
            return 0;
        *out = d;
        return 1;
    }
    return 0;
}

/*
 * Format a value for a cell. exact: the scalar lines and -o wide (the figure
 * as sent, with the human form after it); otherwise the human form alone.
 */
static void
cell(char *buf, size_t cap, const char *key, json_t *v, int exact)
{
    double x;
    if (json_is_null(v)) {
        snprintf(buf, cap, "-");
    } else if (json_is_boolean(v)) {
        snprintf(buf, cap, "%s", json_is_true(v) ? "true" : "false");
    } else if ((json_is_integer(v) || json_is_string(v)) && ends_with(key, "_bytes") && as_number(v, &x)) {
        char h[32], ex[32];
        rm_fmt_bytes(h, sizeof h, x);
        if (json_is_integer(v))
            snprintf(ex, sizeof ex, "%lld", (long long)json_integer_value(v));
        else
            snprintf(ex, sizeof ex, "%s", json_string_value(v));
        if (!exact)
            snprintf(buf, cap, "%s", h);
        else if (x >= 1024)
            snprintf(buf, cap, "%s (%s)", ex, h);
        else
            snprintf(buf, cap, "%s", ex);
    } else if ((json_is_integer(v) || json_is_string(v)) && ends_with(key, "_unix_ms") && as_number(v, &x)) {
        char age[48];
        rm_fmt_age(age, sizeof age, (long long)x, (long long)rm_wall_ms());
        if (x > 0) {
            time_t t = (time_t)(x / 1000);
            struct tm tm;
            char date[40];
            gmtime_r(&t, &tm);
            strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%SZ", &tm);
            if (exact)
                snprintf(buf, cap, "%s (%s)", date, age);
            else
                snprintf(buf, cap, "%s", age);
        } else {
            snprintf(buf, cap, "%s", exact ? "0 (never)" : "never");
        }
    } else if (json_is_string(v)) {
        snprintf(buf, cap, "%s", json_string_value(v)[0] ? json_string_value(v) : (exact ? "" : "-"));
    } else if (json_is_number(v) && (strcmp(key, "percentage") == 0 || ends_with(key, "_percent"))) {
        x = json_number_value(v);
        if (x != 0 && fabs(x) < 0.01)
            snprintf(buf, cap, "<0.01%%");
        else
            snprintf(buf, cap, "%.2f%%", x);
    } else if (json_is_number(v) && ends_with(key, "_ratio")) {
        x = json_number_value(v);
        char n[48];
        rm_fmt_number(n, sizeof n, x);
        if (exact)
            snprintf(buf, cap, "%s (%.1f%%)", n, x * 100.0);
        else if (x != 0 && fabs(x) < 0.001)
            snprintf(buf, cap, "<0.1%%");
        else
            snprintf(buf, cap, "%.1f%%", x * 100.0);
    } else if (json_is_number(v) && (ends_with(key, "_seconds") || ends_with(key, "_ms")) &&
               !ends_with(key, "_per_second") && strstr(key, "total") == NULL) {
        x = json_number_value(v);
        double s = ends_with(key, "_ms") ? x / 1000.0 : x;
        char d[32], n[48];
        rm_fmt_duration(d, sizeof d, s);
        rm_fmt_number(n, sizeof n, x);
        if (exact)
            snprintf(buf, cap, "%s (%s)", n, d);
        else
            snprintf(buf, cap, "%s", d);
    } else if (json_is_integer(v)) {
        snprintf(buf, cap, "%lld", (long long)json_integer_value(v));
    } else if (json_is_real(v)) {
        rm_fmt_number(buf, cap, json_real_value(v));
    } else if (json_is_array(v) && json_array_size(v) == 0) {
        snprintf(buf, cap, "%s", exact ? "(none)" : "-");
    } else if (json_is_array(v) || json_is_object(v)) {
        /* a list of scalars "a,b", a map "k=v,k2=v2" */
        size_t n = 0, i = 0;
        buf[0] = '\0';
        const char *k;
        json_t *e;
        void *it = json_is_object(v) ? json_object_iter(v) : NULL;
        for (;; i++) {
            char c[128];
            if (json_is_array(v)) {
                if (i >= json_array_size(v))
                    break;
                e = json_array_get(v, i);
                cell(c, sizeof c, key, e, exact);
            } else {
                if (!it)
                    break;
                k = json_object_iter_key(it);
                e = json_object_iter_value(it);
                char val[96];
                cell(val, sizeof val, k, e, exact);
                snprintf(c, sizeof c, "%s=%s", k, val);
                it = json_object_iter_next(v, it);
            }
            n += (size_t)snprintf(buf + n, n < cap ? cap - n : 0, "%s%s", i ? "," : "", c);
            if (n >= cap)
                break;
        }
        if (!buf[0])
            snprintf(buf, cap, "-");
    } else {
        snprintf(buf, cap, "?");
    }
}

static int
is_table(json_t *v)
{
    return json_is_array(v) && json_array_size(v) > 0 && json_is_object(json_array_get(v, 0));
}

/* A map whose values are all scalars (labels, capabilities) prints as one cell; a big numeric map only in wide. */
static int
is_small_map(json_t *v)
{
    if (!json_is_object(v) || json_object_size(v) > 8)
        return 0;
    const char *k;
    json_t *e;
    json_object_foreach(v, k, e) if (!json_is_string(e)) return 0;
    return 1;
}

static void
print_scalars(FILE *f, json_t *obj, const char *prefix)
{
    const char *key;
    json_t *v;
    json_object_foreach(obj, key, v) {
        char name[160];
        snprintf(name, sizeof name, "%s%s", prefix, key);
        if (json_is_object(v) && !is_small_map(v) && json_object_size(v) > 0) {
            char p[200];
            snprintf(p, sizeof p, "%s.", name);
            print_scalars(f, v, p);
        } else if (!is_table(v)) {
            char buf[1024];
            cell(buf, sizeof buf, key, v, 1);
            fprintf(f, "%-32s %s\n", name, buf);
        }
    }
}

static size_t
utf8_len(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += ((unsigned char)*s & 0xC0) != 0x80;
    return n;
}

static void
print_table(FILE *f, const char *title, json_t *rows, const rm_render_opts_t *o)
{
    int wide = o->mode == RM_OUT_WIDE;
    size_t limit = wide ? (size_t)-1 : (size_t)(o->width > 0 ? o->width : DEFAULT_WIDTH);
    json_t *first = json_array_get(rows, 0);
    const char *cols[64];
    size_t width[64], ncols = 0;
    const char *key;
    json_t *v;
    json_object_foreach(first, key, v) {
        if (is_table(v) || ncols == 64)
            continue;
        if (json_is_object(v) && !wide && !is_small_map(v))
            continue; /* e.g. NodeInfo.stats: dozens of figures, shown by -o wide and -o json */
        cols[ncols] = key;
        width[ncols] = strlen(key); /* the field's name: what -o json and the docs call it */
        ncols++;
    }
    size_t nrows = json_array_size(rows);
    char buf[1024];
    for (size_t r = 0; r < nrows; r++)
        for (size_t c = 0; c < ncols; c++) {
            cell(buf, sizeof buf, cols[c], json_object_get(json_array_get(rows, r), cols[c]), wide);
            if (!wide && utf8_len(buf) > 40)
                width[c] = width[c] > 40 ? width[c] : 40; /* long text is cut at 40 in a table */
            else if (utf8_len(buf) > width[c])
                width[c] = utf8_len(buf);
        }
    /*
     * Fit the width: the first column always, then the columns that say what a
     * row is and how it is doing (names, levels, usage, labels, ages), then the
     * others in order, each while it fits. has_* guards are left to -o wide:
     * the value they guard prints "-" when unknown.
     */
    static const char *const preferred[] = {"name", "component", "level", "current_level", "usage_ratio",
                                            "rss_bytes", "time_to_critical_seconds", "labels", "used_bytes",
                                            "held_bytes", "reachable", "predicted_level", "last_contact_unix_ms",
                                            "value", "source", "default_value", "unit", "status", "fragmentation_ratio",
                                            "percentage", "live", "address", NULL};
    int keep[64] = {0};
    size_t used = 0, dropped = 0;
    /* pass 0: the first column; pass 1: the preferred ones in their order; pass 2: the rest in order */
    for (int pass = 0; pass < 3; pass++)
        for (size_t i = 0; i < (pass == 1 ? sizeof preferred / sizeof preferred[0] - 1 : ncols); i++) {
            size_t c = i;
            if (pass == 1) {
                for (c = 0; c < ncols && strcmp(cols[c], preferred[i]) != 0; c++)
                    ;
                if (c == ncols)
                    continue;
            }
            if (keep[c] || (pass == 0 && c != 0) || (!wide && strncmp(cols[c], "has_", 4) == 0))
                continue;
            size_t w = width[c] + 2;
            if (c == 0 || used + w <= limit) {
                keep[c] = 1;
                used += w;
            }
        }
    char dropped_names[1024] = "";
    for (size_t c = 0; c < ncols; c++)
        if (!keep[c]) {
            size_t l = strlen(dropped_names);
            snprintf(dropped_names + l, sizeof dropped_names - l, "%s%s", dropped ? ", " : "", cols[c]);
            dropped++;
        }
    size_t last = 0;
    for (size_t c = 0; c < ncols; c++)
        if (keep[c])
            last = c;
    if (!o->no_headers) {
        fprintf(f, "\n%s:\n", title);
        for (size_t c = 0; c < ncols; c++)
            if (keep[c])
                fprintf(f, "  %-*s", c == last ? 0 : (int)width[c], cols[c]);
        fputc('\n', f);
    }
    for (size_t r = 0; r < nrows; r++) {
        for (size_t c = 0; c < ncols; c++) {
            if (!keep[c])
                continue;
            json_t *val = json_object_get(json_array_get(rows, r), cols[c]);
            cell(buf, sizeof buf, cols[c], val, wide);
            if (!wide && utf8_len(buf) > 40) {
                /* cut at 39 characters (not inside a UTF-8 sequence) and mark it */
                size_t b = 0, ch = 0;
                while (buf[b] && ch < 39) {
                    b++;
                    while (((unsigned char)buf[b] & 0xC0) == 0x80)
                        b++;
                    ch++;
                }
                snprintf(buf + b, sizeof buf - b, "~");
            }
            int pad = (int)width[c] - (int)utf8_len(buf);
            if (pad < 0)
                pad = 0;
            /* numbers right-aligned, text left-aligned */
            if (json_is_number(val) || (json_is_string(val) && ends_with(cols[c], "_bytes")))
                fprintf(f, "  %*s%s", pad, "", buf);
            else
                fprintf(f, "  %s%*s", buf, c == last ? 0 : pad, "");
        }
        fputc('\n', f);
    }
    if (dropped && !o->no_headers) {
        /* wrapped to the width like the table */
        char head[64];
        snprintf(head, sizeof head, "  (%zu more column%s with -o wide:", dropped, dropped == 1 ? "" : "s");
        fputs(head, f);
        size_t at = strlen(head);
        for (char *save = NULL, *t = strtok_r(dropped_names, " ", &save); t; t = strtok_r(NULL, " ", &save)) {
            size_t n = strlen(t);
            int lastw = save == NULL || *save == '\0';
            if (at + 1 + n + (lastw ? 1 : 0) > limit) {
                fputs("\n   ", f);
                at = 3;
            }
            fprintf(f, " %s", t);
            at += 1 + n;
        }
        fputs(")\n", f);
    }
}

static void
print_tables(FILE *f, json_t *obj, const char *prefix, const rm_render_opts_t *o)
{
    const char *key;
    json_t *v;
    json_object_foreach(obj, key, v) {
        char name[160];
        snprintf(name, sizeof name, "%s%s", prefix, key);
        if (is_table(v))
            print_table(f, name, v, o);
        else if (json_is_object(v)) {
            char p[200];
            snprintf(p, sizeof p, "%s.", name);
            print_tables(f, v, p, o);
        }
    }
}

/* ---- YAML ------------------------------------------------------------------ */

/* 1 when s can be written as a YAML plain scalar and reads back as the same string. */
static int
yaml_plain_ok(const char *s)
{
    static const char *const special[] = {"true", "false", "yes", "no", "on", "off", "y", "n", "null", "~",
                                          "True", "False", "Yes", "No", "On", "Off", "Null", "NULL", "TRUE",
                                          "FALSE", "YES", "NO", "ON", "OFF", "Y", "N", NULL};
    if (!*s)
        return 0;
    for (int i = 0; special[i]; i++)
        if (strcmp(s, special[i]) == 0)
            return 0;
    if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || *s == '_' || *s == '/'))
        return 0; /* numbers, '-', '.', quotes, indicators */
    for (const char *p = s; *p; p++) {
        char c = *p;
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
              c == '/' || c == '-' || c == '(' || c == ')' || c == '+' || c == ','))
            return 0;
    }
    return 1;
}

static void
yaml_scalar(FILE *f, json_t *v)
{
    if (json_is_string(v) && yaml_plain_ok(json_string_value(v))) {
        fputs(json_string_value(v), f);
    } else if (json_is_real(v) && !isfinite(json_real_value(v))) {
        double x = json_real_value(v);
        fputs(isnan(x) ? ".nan" : x > 0 ? ".inf" : "-.inf", f);
    } else {
        /* JSON scalars are YAML flow scalars: numbers, true/false/null, "escaped strings" */
        json_dumpf(v, f, JSON_ENCODE_ANY | JSON_REAL_PRECISION(10));
    }
}

static void
yaml_key(FILE *f, const char *k)
{
    if (yaml_plain_ok(k))
        fputs(k, f);
    else {
        json_t *s = json_string(k);
        json_dumpf(s, f, JSON_ENCODE_ANY);
        json_decref(s);
    }
}

static void yaml_value(FILE *f, json_t *v, int indent);

static void
yaml_object(FILE *f, json_t *obj, int indent, int first_inline)
{
    const char *k;
    json_t *v;
    int first = 1;
    json_object_foreach(obj, k, v) {
        if (!(first && first_inline))
            fprintf(f, "%*s", indent, "");
        first = 0;
        yaml_key(f, k);
        fputc(':', f);
        yaml_value(f, v, indent);
    }
}

/* A scalar or an empty collection ("{}", "[]") and the end of its line. */
static void
yaml_leaf(FILE *f, json_t *v)
{
    if (json_is_object(v))
        fputs("{}", f);
    else if (json_is_array(v))
        fputs("[]", f);
    else
        yaml_scalar(f, v);
    fputc('\n', f);
}

/* After "key:" or "- ": a scalar on the same line, a collection below. */
static void
yaml_value(FILE *f, json_t *v, int indent)
{
    if (json_is_object(v) && json_object_size(v) > 0) {
        fputc('\n', f);
        yaml_object(f, v, indent + 2, 0);
    } else if (json_is_array(v) && json_array_size(v) > 0) {
        fputc('\n', f);
        size_t i;
        json_t *e;
        json_array_foreach(v, i, e) {
            fprintf(f, "%*s- ", indent, "");
            if (json_is_object(e) && json_object_size(e) > 0)
                yaml_object(f, e, indent + 2, 1);
            else if (json_is_array(e) && json_array_size(e) > 0)
                yaml_value(f, e, indent + 2);
            else
                yaml_leaf(f, e);
        }
    } else {
        fputc(' ', f);
        yaml_leaf(f, v);
    }
}

void
rm_yaml_dump(FILE *f, json_t *j)
{
    if (json_is_object(j) && json_object_size(j) > 0)
        yaml_object(f, j, 0, 0);
    else if (json_is_object(j))
        fputs("{}\n", f);
    else {
        yaml_scalar(f, j);
        fputc('\n', f);
    }
}

int
rm_render(FILE *f, const ProtobufCMessage *msg, const rm_render_opts_t *o)
{
    json_t *j = rm_pb_to_json(msg);
    if (!j)
        return -1;
    int rc = 0;
    switch (o->mode) {
    case RM_OUT_JSON:
        rc = json_dumpf(j, f, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(10));
        fputc('\n', f);
        break;
    case RM_OUT_YAML:
        rm_yaml_dump(f, j);
        break;
    case RM_OUT_TABLE:
    case RM_OUT_WIDE:
        humanize(j, msg->descriptor);
        print_scalars(f, j, "");
        print_tables(f, j, "", o);
        break;
    }
    json_decref(j);
    return rc;
}

int
rm_render_stream_item(FILE *f, const ProtobufCMessage *msg, const rm_render_opts_t *o)
{
    if (o->mode == RM_OUT_JSON || o->mode == RM_OUT_YAML) {
        json_t *j = rm_pb_to_json(msg);
        if (!j)
            return -1;
        if (o->mode == RM_OUT_JSON) {
            json_dumpf(j, f, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(10));
            fputc('\n', f);
        } else {
            fputs("---\n", f);
            rm_yaml_dump(f, j);
        }
        json_decref(j);
        return 0;
    }
    return rm_render(f, msg, o);
}

void
rm_draw_in_place(FILE *f, const char *text)
{
    int cols = 80, rows = 24;
    struct winsize ws;
    if (ioctl(fileno(f), TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0 && ws.ws_row > 0)
        cols = ws.ws_col, rows = ws.ws_row;
    int total = 0;
    for (const char *p = text; *p; p++)
        total += *p == '\n';
    if (*text && text[strlen(text) - 1] != '\n')
        total++;
    fputs("\033[H", f);
    const char *p = text;
    for (int r = 0; r < rows && *p; r++) {
        size_t n = strcspn(p, "\n");
        if (r == rows - 1 && total > rows) {
            fprintf(f, "... %d more lines (a taller terminal shows them; -o json for everything)", total - r);
            break;
        }
        /* cut at the width, not inside a UTF-8 sequence */
        size_t b = 0;
        int ch = 0;
        while (b < n && ch < cols) {
            b++;
            while (b < n && ((unsigned char)p[b] & 0xC0) == 0x80)
                b++;
            ch++;
        }
        fwrite(p, 1, b, f);
        fputs("\033[K", f);
        p += n;
        if (*p == '\n')
            p++;
        if (r + 1 < rows && *p)
            fputs("\r\n", f);
    }
    fputs("\033[J", f);
}
