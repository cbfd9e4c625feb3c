/*
 * exp_metrics.c — Prometheus text exposition and the descriptor-driven
 * protobuf-c → metrics conversion of rustymem-exporter.
 *
 * Design note: families live in an array (first-seen order, which is the
 * order of the .proto fields) indexed by an open-addressing hash on the name,
 * so a scrape of a few hundred families costs a few hundred hash lookups.
 * Samples are kept as (rendered label set, value) pairs; a repeated label set
 * within one family is dropped, because Prometheus rejects the whole scrape
 * on a duplicate series. Values are doubles (what Prometheus stores); integers
 * print without exponent up to 1e15 so counters stay readable.
 */
#include "client.h"
#include "exp_metrics.h"
#include "rustymem/mix.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct sample {
    char *labels; /* rendered, without braces; NULL = none */
    double value;
} sample_t;

typedef struct family {
    char *name;
    char *help;
    rm_exp_type_t type;
    sample_t *samples;
    size_t n, cap;
} family_t;

struct rm_exp_reg {
    family_t *fams;  /* first-seen order */
    size_t n, cap;
    size_t *slots;   /* hash slots: index + 1 into fams, 0 = empty */
    size_t nslots;   /* power of two */
    size_t samples;
};

rm_status_t
rm_exp_reg_create(rm_exp_reg_t **out)
{
    *out = NULL;
    rm_exp_reg_t *r = calloc(1, sizeof *r);
    if (!r)
        return RM_ENOMEM;
    r->nslots = 256;
    r->slots = calloc(r->nslots, sizeof *r->slots);
    if (!r->slots) {
        free(r);
        return RM_ENOMEM;
    }
    *out = r;
    return RM_OK;
}

void
rm_exp_reg_destroy(rm_exp_reg_t *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->n; i++) {
        family_t *f = &r->fams[i];
        for (size_t j = 0; j < f->n; j++)
            free(f->samples[j].labels);
        free(f->samples);
        free(f->name);
        free(f->help);
    }
    free(r->fams);
    free(r->slots);
    free(r);
}

static family_t *
lookup(const rm_exp_reg_t *r, const char *name, size_t *slot_out)
{
    size_t mask = r->nslots - 1;
    size_t i = (size_t)rm_hash_str(name, 0) & mask;
    for (;;) {
        size_t s = r->slots[i];
        if (!s) {
            if (slot_out)
                *slot_out = i;
            return NULL;
        }
        if (strcmp(r->fams[s - 1].name, name) == 0)
            return &r->fams[s - 1];
        i = (i + 1) & mask;
    }
}

static rm_status_t
grow_slots(rm_exp_reg_t *r)
{
    size_t nslots = r->nslots * 2;
    size_t *slots = calloc(nslots, sizeof *slots);
    if (!slots)
        return RM_ENOMEM;
    for (size_t k = 0; k < r->n; k++) {
        size_t i = (size_t)rm_hash_str(r->fams[k].name, 0) & (nslots - 1);
        while (slots[i])
            i = (i + 1) & (nslots - 1);
        slots[i] = k + 1;
    }
    free(r->slots);
    r->slots = slots;
    r->nslots = nslots;
    return RM_OK;
}

static int
valid_name(const char *s)
{
    if (!*s || isdigit((unsigned char)*s))
        return 0;
    for (; *s; s++)
        if (!(isalnum((unsigned char)*s) || *s == '_' || *s == ':'))
            return 0;
    return 1;
}

/* One line: newlines become spaces so a HELP line never breaks. */
static char *
dup_line(const char *s)
{
    char *d = strdup(s);
    if (d)
        for (char *p = d; *p; p++)
            if (*p == '\n' || *p == '\r')
                *p = ' ';
    return d;
}

rm_status_t
rm_exp_reg_add(rm_exp_reg_t *r, const char *name, rm_exp_type_t type, const char *help, const char *labels,
               double value)
{
    if (!valid_name(name) || strlen(name) > RM_EXP_NAME_MAX)
        return RM_EINVAL;
    if (labels && !*labels)
        labels = NULL;
    size_t slot = 0;
    family_t *f = lookup(r, name, &slot);
    if (f && f->type != type)
        return RM_EINVAL;
    if (f) {
        for (size_t j = 0; j < f->n; j++) {
            const char *l = f->samples[j].labels;
            if ((!l && !labels) || (l && labels && strcmp(l, labels) == 0))
                return RM_EINVAL; /* duplicate series */
        }
        if (!f->help && help)
            f->help = dup_line(help); /* best effort */
    } else {
        if ((r->n + 1) * 2 > r->nslots) {
            if (grow_slots(r) != RM_OK)
                return RM_ENOMEM;
            lookup(r, name, &slot);
        }
        if (r->n == r->cap) {
            size_t cap = r->cap ? r->cap * 2 : 64;
            family_t *fams = realloc(r->fams, cap * sizeof *fams);
            if (!fams)
                return RM_ENOMEM;
            r->fams = fams;
            r->cap = cap;
        }
        family_t nf = {.name = strdup(name), .help = help ? dup_line(help) : NULL, .type = type};
        if (!nf.name || (help && !nf.help)) {
            free(nf.name);
            free(nf.help);
            return RM_ENOMEM;
        }
        r->fams[r->n] = nf;
        r->slots[slot] = r->n + 1;
        f = &r->fams[r->n++];
    }
    if (f->n == f->cap) {
        size_t cap = f->cap ? f->cap * 2 : 4;
        sample_t *s = realloc(f->samples, cap * sizeof *s);
        if (!s)
            return RM_ENOMEM;
        f->samples = s;
        f->cap = cap;
    }
    char *l = NULL;
    if (labels && !(l = strdup(labels)))
        return RM_ENOMEM;
    f->samples[f->n].labels = l;
    f->samples[f->n].value = value;
    f->n++;
    r->samples++;
    return RM_OK;
}

rm_status_t
rm_exp_label_append(char *buf, size_t cap, const char *name, const char *value)
{
    size_t len = strlen(buf), o = len;
    char tmp[RM_EXP_LABELS_MAX];
    size_t t = 0;
    if (len)
        tmp[t++] = ',';
    for (const char *p = name; *p && t < sizeof tmp - 1; p++)
        tmp[t++] = *p;
    if (t + 2 >= sizeof tmp)
        return RM_ELIMIT;
    tmp[t++] = '=';
    tmp[t++] = '"';
    for (const char *p = value ? value : ""; *p; p++) {
        if (t + 3 >= sizeof tmp)
            return RM_ELIMIT;
        if (*p == '\\' || *p == '"') {
            tmp[t++] = '\\';
            tmp[t++] = *p;
        } else if (*p == '\n') {
            tmp[t++] = '\\';
            tmp[t++] = 'n';
        } else {
            tmp[t++] = *p;
        }
    }
    if (t + 1 >= sizeof tmp)
        return RM_ELIMIT;
    tmp[t++] = '"';
    if (o + t + 1 > cap)
        return RM_ELIMIT;
    memcpy(buf + o, tmp, t);
    buf[o + t] = '\0';
    return RM_OK;
}

size_t
rm_exp_reg_families(const rm_exp_reg_t *r)
{
    return r->n;
}

size_t
rm_exp_reg_samples(const rm_exp_reg_t *r)
{
    return r->samples;
}

int
rm_exp_reg_has(const rm_exp_reg_t *r, const char *name)
{
    const family_t *f = lookup(r, name, NULL);
    return f && f->n > 0;
}

static void
fmt_value(char *buf, size_t cap, double v)
{
    if (isnan(v))
        snprintf(buf, cap, "NaN");
    else if (isinf(v))
        snprintf(buf, cap, v > 0 ? "+Inf" : "-Inf");
    else if (fabs(v) < 1e15 && v == (double)(int64_t)v)
        snprintf(buf, cap, "%.0f", v);
    else {
        snprintf(buf, cap, "%.15g", v);
        if (strtod(buf, NULL) != v)
            snprintf(buf, cap, "%.17g", v);
    }
}

typedef struct sbuf {
    char *p;
    size_t len, cap;
    int oom;
} sbuf_t;

static void
sb_put(sbuf_t *b, const char *s, size_t n)
{
    if (b->oom)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (b->len + n + 1 > cap)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->oom = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void
sb_str(sbuf_t *b, const char *s)
{
    sb_put(b, s, strlen(s));
}

/* HELP text escapes only backslash and newline (newlines are gone already). */
static void
sb_help(sbuf_t *b, const char *s)
{
    for (const char *p = s; *p; p++) {
        if (*p == '\\')
            sb_put(b, "\\\\", 2);
        else
            sb_put(b, p, 1);
    }
}

rm_status_t
rm_exp_reg_render(const rm_exp_reg_t *r, char **out, size_t *len)
{
    *out = NULL;
    *len = 0;
    sbuf_t b = {0};
    sb_put(&b, "", 0);
    for (size_t i = 0; i < r->n; i++) {
        const family_t *f = &r->fams[i];
        if (!f->n)
            continue;
        sb_str(&b, "# HELP ");
        sb_str(&b, f->name);
        sb_str(&b, " ");
        sb_help(&b, f->help ? f->help : f->name);
        sb_str(&b, "\n# TYPE ");
        sb_str(&b, f->name);
        sb_str(&b, f->type == RM_EXP_COUNTER ? " counter\n" : " gauge\n");
        for (size_t j = 0; j < f->n; j++) {
            char v[64];
            fmt_value(v, sizeof v, f->samples[j].value);
            sb_str(&b, f->name);
            if (f->samples[j].labels) {
                sb_str(&b, "{");
                sb_str(&b, f->samples[j].labels);
                sb_str(&b, "}");
            }
            sb_str(&b, " ");
            sb_str(&b, v);
            sb_str(&b, "\n");
        }
    }
    if (b.oom) {
        free(b.p);
        return RM_ENOMEM;
    }
    *out = b.p;
    *len = b.len;
    return RM_OK;
}

/* ---- units ------------------------------------------------------------- */

static int
ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

void
rm_exp_unit_name(const char *field, char *out, size_t cap, double *scale)
{
    static const struct {
        const char *from, *to;
        double scale;
    } units[] = {
        {"_unix_ms", "_timestamp_seconds", 1e-3},
        {"_unix_seconds", "_timestamp_seconds", 1},
        {"_percentage", "_ratio", 1e-2},
        {"_percent", "_ratio", 1e-2},
        {"_pct", "_ratio", 1e-2},
        {"_ms", "_seconds", 1e-3},
        {"_us", "_seconds", 1e-6},
        {"_ns", "_seconds", 1e-9},
        {"_kb", "_bytes", 1024.0},
        {"_mb", "_bytes", 1048576.0},
    };
    char base[RM_EXP_NAME_MAX + 1];
    snprintf(base, sizeof base, "%s", field);
    int counter = ends_with(base, "_total");
    if (counter)
        base[strlen(base) - 6] = '\0';
    *scale = 1.0;
    const char *to = "";
    if (strcmp(base, "percentage") == 0 || strcmp(base, "percent") == 0) {
        snprintf(base, sizeof base, "ratio");
        *scale = 1e-2;
    } else {
        for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
            if (ends_with(base, units[i].from) && strlen(base) > strlen(units[i].from)) {
                base[strlen(base) - strlen(units[i].from)] = '\0';
                to = units[i].to;
                /* timestamp_unix_ms → timestamp_seconds, not timestamp_timestamp_seconds */
                if (strcmp(to, "_timestamp_seconds") == 0 && ends_with(base, "timestamp"))
                    to = "_seconds";
                *scale = units[i].scale;
                break;
            }
        }
    }
    snprintf(out, cap, "%s%s%s", base, to, counter ? "_total" : "");
}

rm_status_t
rm_exp_parse_knob_value(const char *type, const char *value, double *out)
{
    if (!type || !value || !*value)
        return RM_EINVAL;
    if (strcmp(type, "bool") == 0) {
        if (strcmp(value, "true") == 0 || strcmp(value, "1") == 0 || strcmp(value, "on") == 0) {
            *out = 1;
            return RM_OK;
        }
        if (strcmp(value, "false") == 0 || strcmp(value, "0") == 0 || strcmp(value, "off") == 0) {
            *out = 0;
            return RM_OK;
        }
        return RM_EINVAL;
    }
    if (strcmp(type, "int") != 0 && strcmp(type, "double") != 0 && strcmp(type, "bytes") != 0)
        return RM_EINVAL;
    char *end;
    errno = 0;
    double v = strtod(value, &end);
    if (errno || end == value)
        return RM_EINVAL;
    static const struct {
        const char *suffix;
        double mult;
    } sfx[] = {
        {"", 1}, {"B", 1}, {"KiB", 1024.0}, {"MiB", 1048576.0}, {"GiB", 1073741824.0},
        {"TiB", 1099511627776.0}, {"PiB", 1125899906842624.0},
    };
    while (*end == ' ')
        end++;
    if (strcmp(type, "bytes") != 0)
        return *end ? RM_EINVAL : (*out = v, RM_OK);
    for (size_t i = 0; i < sizeof sfx / sizeof sfx[0]; i++) {
        if (strcmp(end, sfx[i].suffix) == 0) {
            *out = v * sfx[i].mult;
            return RM_OK;
        }
    }
    return RM_EINVAL;
}

/* ---- descriptor walk ----------------------------------------------------- */

/* Free text never becomes a label: it churns series and can be long. */
static int
is_free_text(const char *field)
{
    static const char *const deny[] = {"message", "description", "detail", "summary", "recommendation", "path_hint"};
    for (size_t i = 0; i < sizeof deny / sizeof deny[0]; i++)
        if (strcmp(field, deny[i]) == 0)
            return 1;
    return 0;
}

/*
 * String fields whose value changes with the state (a status, the action of
 * the moment): a label of an *_info family must not, or every change starts a
 * new series. They stay only in the deprecated info families (ADR 0028).
 */
static int
is_state_text(const char *field)
{
    static const char *const state[] = {"status", "overall_status", "recommended_action", "trigger", "warning_view"};
    for (size_t i = 0; i < sizeof state / sizeof state[0]; i++)
        if (strcmp(field, state[i]) == 0)
            return 1;
    return 0;
}

/* Numeric fields of repeated elements that identify the element: label name. */
static const char *
id_numeric_label(const char *field)
{
    static const struct {
        const char *field, *label;
    } ids[] = {
        {"object_size_bytes", "size_class"}, {"size_class", "size_class"}, {"horizon_seconds", "horizon_seconds"},
        {"numa_node", "numa_node"},          {"id", "id"},
    };
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++)
        if (strcmp(field, ids[i].field) == 0)
            return ids[i].label;
    return NULL;
}

/* String fields that identify an element even when not the first string. */
static int
id_string(const char *field)
{
    static const char *const ids[] = {"component", "name", "profile", "severity", "knob", "rpc", "node", "node_name"};
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++)
        if (strcmp(field, ids[i]) == 0)
            return 1;
    return 0;
}

static void
singular(const char *plural, char *out, size_t cap)
{
    size_t n = strlen(plural);
    if (n > 3 && ends_with(plural, "ies"))
        snprintf(out, cap, "%.*sy", (int)(n - 3), plural);
    else if (n > 4 && ends_with(plural, "sses"))
        snprintf(out, cap, "%.*s", (int)(n - 2), plural);
    else if (n > 1 && plural[n - 1] == 's' && plural[n - 2] != 's')
        snprintf(out, cap, "%.*s", (int)(n - 1), plural);
    else
        snprintf(out, cap, "%s", plural);
}

/* 1 when labels already holds a label called name. */
static int
has_label(const char *labels, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = labels; p && *p;) {
        if (strncmp(p, name, n) == 0 && p[n] == '=')
            return 1;
        /* skip to the next label: past the closing quote of this value */
        const char *q = strchr(p, '"');
        if (!q)
            return 0;
        for (q++; *q && *q != '"'; q++)
            if (*q == '\\' && q[1])
                q++;
        if (!*q)
            return 0;
        p = q + 1;
        if (*p == ',')
            p++;
    }
    return 0;
}

typedef struct walk {
    rm_exp_reg_t *reg;
    const char *source;
    size_t added;
} walk_t;

static const void *
field_ptr(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f)
{
    return (const char *)m + f->offset;
}

/* Present in the message? (oneof case, proto2/proto3-optional has_ flag). */
static int
field_present(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f)
{
    if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)
        return *(const uint32_t *)((const char *)m + f->quantifier_offset) == f->id;
    if (f->label == PROTOBUF_C_LABEL_OPTIONAL && f->quantifier_offset &&
        f->type != PROTOBUF_C_TYPE_MESSAGE && f->type != PROTOBUF_C_TYPE_STRING)
        return *(const protobuf_c_boolean *)((const char *)m + f->quantifier_offset) != 0;
    return 1;
}

/*
 * A field X is skipped when the message has a bool has_P that is false and P
 * is X or a '_'-bounded prefix of X (has_time_to_critical guards
 * time_to_critical_seconds).
 */
static int
guarded_off(const ProtobufCMessage *m, const char *field)
{
    const ProtobufCMessageDescriptor *d = m->descriptor;
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *g = &d->fields[i];
        if (g->type != PROTOBUF_C_TYPE_BOOL || g->label == PROTOBUF_C_LABEL_REPEATED ||
            strncmp(g->name, "has_", 4) != 0)
            continue;
        const char *p = g->name + 4;
        size_t n = strlen(p);
        if (strncmp(field, p, n) == 0 && (field[n] == '\0' || field[n] == '_') &&
            !*(const protobuf_c_boolean *)field_ptr(m, g))
            return 1;
    }
    return 0;
}

/* "PRESSURE_LEVEL_MONITOR" → "monitor" given the values' common prefix. */
static void
enum_help(const ProtobufCEnumDescriptor *e, char *out, size_t cap)
{
    size_t common = 0;
    if (e->n_values > 1) {
        const char *a = e->values[0].name;
        common = strlen(a);
        for (unsigned i = 1; i < e->n_values; i++) {
            const char *b = e->values[i].name;
            size_t k = 0;
            while (k < common && a[k] == b[k])
                k++;
            common = k;
        }
        while (common > 0 && a[common - 1] != '_')
            common--;
    }
    size_t o = strlen(out);
    o += (size_t)snprintf(out + o, o < cap ? cap - o : 0, "; values:");
    for (unsigned i = 0; i < e->n_values && o < cap; i++) {
        o += (size_t)snprintf(out + o, cap - o, " %d=", e->values[i].value);
        for (const char *p = e->values[i].name + common; *p && o + 1 < cap; p++)
            out[o++] = (char)tolower((unsigned char)*p);
        if (o < cap)
            out[o] = '\0';
    }
}

/* ---- HELP texts and renames ------------------------------------------------ */

/*
 * HELP for the families people read most (dashboards, alerts, runbook): what
 * it measures and in what unit. Every other family gets a text derived from
 * its name (rm_exp_help); none names a protobuf path.
 */
static const struct {
    const char *name, *help;
} helps[] = {
    {"rustymem_agent_process_resident_memory_bytes", "Resident set size (RSS) of the rustymemd process, in bytes"},
    {"rustymem_agent_process_virtual_memory_bytes", "Virtual memory size of the rustymemd process, in bytes"},
    {"rustymem_agent_process_start_time_seconds", "When the rustymemd process started, as Unix time in seconds"},
    {"rustymem_memory_budget_bytes",
     "Memory budget the agent measures usage against (knob, cgroup limit or host memory; see "
     "rustymem_memory_info{budget_source}), in bytes"},
    {"rustymem_memory_used_bytes",
     "Memory in use counted against the budget (cgroup working set, RSS or memcore's held bytes; see "
     "rustymem_memory_info{usage_source}), in bytes"},
    {"rustymem_memory_usage_ratio",
     "Used memory divided by the budget (0-1): the pressure measure of the agent's levels and alerts"},
    {"rustymem_memory_rss_budget_ratio", "RSS of the rustymemd process divided by the budget (0-1)"},
    {"rustymem_memory_mem_total_bytes", "Host memory (MemTotal of /proc/meminfo), in bytes"},
    {"rustymem_memory_mem_available_bytes", "Memory the host can still give (MemAvailable of /proc/meminfo), in bytes"},
    {"rustymem_memory_cgroup_usage_bytes", "Memory charged to the agent's memory cgroup, in bytes"},
    {"rustymem_memory_cgroup_limit_bytes", "Hard memory limit of the agent's cgroup (0 = none), in bytes"},
    {"rustymem_memory_cgroup_high_bytes", "Throttling threshold memory.high of the agent's cgroup (0 = none), in bytes"},
    {"rustymem_memory_cgroup_oom_kills_total", "Processes the kernel OOM-killed in the agent's cgroup"},
    {"rustymem_memory_cgroup_failcnt_total", "Times the agent's cgroup hit its memory limit"},
    {"rustymem_memory_cgroup_version", "Version of the agent's memory cgroup (1 or 2; 0 = none found)"},
    {"rustymem_memory_psi_available", "1 when the kernel reports memory pressure stall information (PSI)"},
    {"rustymem_memory_psi_some_avg10_ratio",
     "Share of the last 10 s in which some task stalled waiting for memory (PSI some avg10, 0-1)"},
    {"rustymem_memory_psi_some_avg60_ratio",
     "Share of the last 60 s in which some task stalled waiting for memory (PSI some avg60, 0-1)"},
    {"rustymem_memory_psi_full_avg10_ratio",
     "Share of the last 10 s in which all tasks stalled waiting for memory (PSI full avg10, 0-1)"},
    {"rustymem_memory_psi_full_avg60_ratio",
     "Share of the last 60 s in which all tasks stalled waiting for memory (PSI full avg60, 0-1)"},
    {"rustymem_memory_jemalloc_active", "1 when the agent's malloc is jemalloc (the jemalloc figures are real)"},
    {"rustymem_memory_jemalloc_allocated_bytes", "Bytes the application has allocated through jemalloc"},
    {"rustymem_memory_jemalloc_active_bytes", "Bytes in jemalloc's active pages (allocated plus page slack)"},
    {"rustymem_memory_jemalloc_resident_bytes", "Bytes of jemalloc's memory resident in RAM, metadata included"},
    {"rustymem_memory_jemalloc_metadata_bytes", "Bytes jemalloc uses for its own metadata"},
    {"rustymem_memory_jemalloc_retained_bytes", "Bytes jemalloc keeps mapped but returned to the system"},
    {"rustymem_memory_jemalloc_mapped_bytes", "Bytes in jemalloc's active extents"},
    {"rustymem_arena_held_bytes", "Bytes all arenas hold from the system (including freed blocks kept for reuse)"},
    {"rustymem_arena_allocated_bytes", "Bytes handed out from arenas"},
    {"rustymem_arena_peak_held_bytes", "Highest held bytes of all arenas since the agent started"},
    {"rustymem_arena_cached_bytes", "Of the arenas' held bytes, freed blocks kept for reuse"},
    {"rustymem_arena_live_arenas", "Arenas in use now"},
    {"rustymem_arena_created_total", "Root arenas created"},
    {"rustymem_arena_bypasses_total",
     "Transactions sent to the large-object allocator because they exceeded disable_above_bytes"},
    {"rustymem_large_object_live_objects", "Live large objects"},
    {"rustymem_large_object_free_extents", "Free extents in the large-object allocator"},
    {"rustymem_large_object_largest_free_extent_bytes", "Size of the largest free extent of the large-object "
                                                        "allocator, in bytes"},
    {"rustymem_large_object_released_bytes_total", "Bytes the large-object allocator returned to the system"},
    {"rustymem_engine_sessions", "Open engine sessions"},
    {"rustymem_engine_sessions_active", "Engine sessions bound to a connection (in a transaction)"},
    {"rustymem_engine_sessions_idle", "Engine sessions not in a transaction"},
    {"rustymem_engine_connections_open", "Pooled engine connections open"},
    {"rustymem_engine_connections_busy", "Pooled engine connections serving a transaction"},
    {"rustymem_engine_connections_waiting", "Sessions waiting for a pooled connection"},
    {"rustymem_engine_admission_open", "1 while the engine admits new sessions, 0 while it refuses them"},
    {"rustymem_engine_pool_size", "Connections in the adaptive engine pool"},
    {"rustymem_engine_mvcc_versions", "Row versions held in MVCC version chains"},
    {"rustymem_engine_mvcc_held_bytes", "Bytes MVCC version chains hold"},
    {"rustymem_engine_mvcc_used_bytes", "Bytes MVCC version chains use"},
    {"rustymem_engine_plan_cache_hit_ratio", "Plan-cache lookups that found a plan / all lookups (0-1)"},
    {"rustymem_engine_plan_cache_bytes", "Bytes the plan cache holds"},
    {"rustymem_engine_journal_bytes", "Bytes of deferred writes of open transactions"},
    {"rustymem_engine_writes_refused",
     "1 while the engine refuses writes (OOM prevention: usage at or above the critical threshold)"},
    {"rustymem_engine_heap_enabled", "1 when the engine keeps long row values in the buffer pool's heap file"},
    {"rustymem_engine_session_bytes", "Bytes the engine's sessions hold (session records and their table)"},
    {"rustymem_engine_connection_bytes",
     "Bytes the engine's pooled connections hold (slot records, scratch space, slot tables)"},
    {"rustymem_engine_session_average_bytes", "Bytes per open engine session, on average (0 when none)"},
    {"rustymem_engine_connection_average_bytes", "Bytes per open pooled connection (record and scratch space)"},
    {"rustymem_engine_session_limit", "Most engine sessions the agent allows at once"},
    {"rustymem_engine_max_connections", "Most pooled engine connections (knob)"},
    {"rustymem_engine_max_sessions", "Most engine sessions (knob)"},
    {"rustymem_engine_mvcc_longest_chain", "Versions in the longest MVCC version chain of one key"},
    {"rustymem_forecast_time_to_critical_confidence_ratio",
     "Confidence of the predicted time to critical (0-1)"},
    {"rustymem_buffer_pool_last_checksum_failure_page", "Page number of the last page that failed its checksum"},
    {"rustymem_buffer_pool_unwritable_pages",
     "Dirty pages whose last write-back failed (kept in memory until written)"},
    {"rustymem_slab_class_magazine_capacity", "Objects one per-thread magazine of a slab size class holds"},
    {"rustymem_arena_context_level", "Depth of an arena memory context in its tree (0 = root)"},
    {"rustymem_arena_disable_above_bytes",
     "Transactions larger than this bypass arenas for the large-object allocator, in bytes"},
    {"rustymem_memory_component_used_bytes", "Bytes a memcore component hands out to its users, per component"},
    {"rustymem_memory_component_held_bytes",
     "Bytes a memcore component holds from the system (used plus its own free lists), per component"},
    {"rustymem_memory_component_ratio", "Bytes a component uses divided by the budget (0-1), per component"},
    {"rustymem_memory_component_nested",
     "1 when the component draws its memory from another component or the heap (not added to the totals)"},
    {"rustymem_memory_memcore_used_bytes", "Bytes used by the memcore components that are not nested, in bytes"},
    {"rustymem_memory_memcore_held_bytes", "Bytes held by the memcore components that are not nested, in bytes"},
    {"rustymem_memory_uptime_seconds", "Time since the agent started, in seconds"},
    {"rustymem_memory_timestamp_seconds", "When the agent answered, as Unix time in seconds"},
    {"rustymem_memory_sampled_at_timestamp_seconds",
     "When the sample behind the usage ratio was taken, as Unix time in seconds"},
    {"rustymem_memory_info", "Agent version, node name and where budget and usage come from, as labels; always 1"},
    {"rustymem_fragmentation_component_fragmentation_ratio",
     "Share of a component's held bytes it does not use (0 = none wasted, 1 = all), per component"},
    {"rustymem_fragmentation_overall_ratio", "Share of all held bytes not in use (0-1)"},
    {"rustymem_slab_class_used_bytes", "Bytes in live objects of a slab size class"},
    {"rustymem_slab_class_held_bytes", "Bytes of the slabs a size class holds (live objects and free slots)"},
    {"rustymem_slab_class_active_objects", "Live objects of a slab size class"},
    {"rustymem_slab_class_allocs_total", "Objects allocated from a slab size class"},
    {"rustymem_slab_class_frees_total", "Objects freed to a slab size class"},
    {"rustymem_slab_class_magazine_hit_ratio",
     "Share of allocations a size class served from a per-thread magazine (0-1)"},
    {"rustymem_slab_reaped_bytes_total", "Bytes of empty slabs the slab allocator returned to the system"},
    {"rustymem_slab_metadata_bytes", "Bytes the slab allocator uses for its own bookkeeping"},
    {"rustymem_buffer_pool_total_frames", "Page frames of the buffer pool"},
    {"rustymem_buffer_pool_used_frames", "Page frames of the buffer pool holding a page"},
    {"rustymem_buffer_pool_utilization_ratio", "Used frames divided by all frames of the buffer pool (0-1)"},
    {"rustymem_buffer_pool_hit_ratio", "Page requests the buffer pool served from memory, divided by all (0-1)"},
    {"rustymem_buffer_pool_hits_total", "Page requests the buffer pool served from memory"},
    {"rustymem_buffer_pool_misses_total", "Page requests that had to read the page from disk"},
    {"rustymem_buffer_pool_reads_total", "Pages the buffer pool read from disk"},
    {"rustymem_buffer_pool_writes_total", "Pages the buffer pool wrote to disk"},
    {"rustymem_buffer_pool_evictions_total", "Pages the buffer pool evicted to make room"},
    {"rustymem_buffer_pool_dirty_frames", "Frames holding a page changed in memory and not yet written"},
    {"rustymem_buffer_pool_pinned_frames", "Frames pinned by a user (cannot be evicted)"},
    {"rustymem_buffer_pool_arc_t1_pages", "Pages in ARC's list T1 (seen once since they came in)"},
    {"rustymem_buffer_pool_arc_t2_pages", "Pages in ARC's list T2 (seen twice or more)"},
    {"rustymem_buffer_pool_arc_b1_pages", "Ghost entries (keys only) of pages evicted from T1"},
    {"rustymem_buffer_pool_arc_b2_pages", "Ghost entries (keys only) of pages evicted from T2"},
    {"rustymem_buffer_pool_arc_t1_target_pages", "ARC's adaptive target size of T1, in pages"},
    {"rustymem_buffer_pool_arc_ghost_hits_total", "Misses on a page ARC remembered as a ghost (B1 or B2)"},
    {"rustymem_buffer_pool_writes_failing",
     "1 while the buffer pool cannot write its dirty pages (disk full, quota), else 0"},
    {"rustymem_buffer_pool_page_size_bytes", "Size of one buffer-pool page, in bytes"},
    {"rustymem_buffer_pool_recommended_num_frames", "Frames the pool sizer recommends for the current workload"},
    {"rustymem_large_object_used_bytes", "Bytes in live large objects"},
    {"rustymem_large_object_held_bytes", "Bytes the large-object allocator holds from the system"},
    {"rustymem_large_object_fragmentation_ratio", "Share of the large-object allocator's held bytes not in use (0-1)"},
    {"rustymem_forecast_used_bytes", "Memory in use counted against the budget, as the forecaster saw it, in bytes"},
    {"rustymem_forecast_budget_bytes", "Memory budget the forecaster measures against, in bytes"},
    {"rustymem_forecast_usage_ratio", "Used memory divided by the budget (0-1), the value the alerts compare"},
    {"rustymem_forecast_current_level", "Pressure level the current usage is at"},
    {"rustymem_forecast_recommended_level", "Pressure level the forecaster recommends acting at"},
    {"rustymem_forecast_responder_level", "Pressure level the responder acts at (with hysteresis)"},
    {"rustymem_forecast_horizon_predicted_used_bytes", "Memory use predicted at a horizon, in bytes"},
    {"rustymem_forecast_horizon_predicted_usage_ratio", "Usage ratio (0-1) predicted at a horizon"},
    {"rustymem_forecast_horizon_confidence", "Confidence of the prediction at a horizon (0-1)"},
    {"rustymem_forecast_horizon_predicted_level", "Pressure level predicted at a horizon"},
    {"rustymem_forecast_has_time_to_critical", "1 when the forecaster predicts a crossing of the critical threshold"},
    {"rustymem_forecast_time_to_critical_seconds",
     "Predicted time until usage crosses the critical threshold, in seconds (absent when none is predicted)"},
    {"rustymem_forecast_level_changes_total", "Pressure level changes (pressure events) since the agent started"},
    {"rustymem_forecast_escalations_total", "Upward pressure level changes since the agent started"},
    {"rustymem_forecast_alloc_failures_total", "Allocation failures the allocators reported"},
    {"rustymem_forecast_reclaim_calls_total", "Reclaim actions the pressure responder took"},
    {"rustymem_forecast_reclaimed_bytes_total", "Bytes the pressure responder's reclaim actions freed"},
    {"rustymem_forecast_samples", "Usage samples in the forecaster's window"},
    {"rustymem_forecast_slope_per_second_ratio", "Fitted usage trend, as a share of the budget per second"},
    {"rustymem_engine_pool_utilization_ratio", "Busy connections divided by the pool size at the last sample (0-1)"},
    {"rustymem_engine_pool_avg_utilization_ratio", "Moving average of busy connections divided by the pool size (0-1)"},
    {"rustymem_engine_mvcc_compacted_bytes_total", "Bytes of old MVCC versions compaction freed"},
    {"rustymem_forecast_model_info",
     "The forecaster's model and where its usage and budget figures come from, as labels; always 1"},
    {"rustymem_alert_value", "Current value of the figure a raised alert watches, per alert and severity"},
    {"rustymem_alert_threshold", "Threshold a raised alert's value crossed, per alert and severity"},
    {"rustymem_alert_since_timestamp_seconds", "When the alert was raised, as Unix time in seconds"},
    {"rustymem_alert_info", "The subject of a raised alert (e.g. its component) as a label; always 1"},
};

/*
 * Renamed and retired names (CHANGELOG.md). The old name is still served for
 * one release, its HELP saying what replaces it; `new_name` NULL = no
 * one-to-one replacement, `hint` says what to use instead.
 */
typedef struct rename {
    const char *old_name, *new_name, *hint;
} rename_t;
static const rename_t renames[] = {
    {"rustymem_memory_rss_bytes", "rustymem_agent_process_resident_memory_bytes", NULL},
    {"rustymem_memory_vm_size_bytes", "rustymem_agent_process_virtual_memory_bytes", NULL},
    {"rustymem_forecast_bytes_reclaimed_total", "rustymem_forecast_reclaimed_bytes_total", NULL},
    {"rustymem_engine_pool_utilisation", "rustymem_engine_pool_utilization_ratio", NULL},
    {"rustymem_engine_pool_avg_utilisation", "rustymem_engine_pool_avg_utilization_ratio", NULL},
    {"rustymem_engine_mvcc_bytes_compacted_total", "rustymem_engine_mvcc_compacted_bytes_total", NULL},
    {"rustymem_engine_bytes_per_session", "rustymem_engine_session_average_bytes", NULL},
    {"rustymem_engine_bytes_per_connection", "rustymem_engine_connection_average_bytes", NULL},
    {"rustymem_forecast_time_to_critical_confidence", "rustymem_forecast_time_to_critical_confidence_ratio", NULL},
    {"rustymem_buffer_pool_arc_t1", "rustymem_buffer_pool_arc_t1_pages", NULL},
    {"rustymem_buffer_pool_arc_t2", "rustymem_buffer_pool_arc_t2_pages", NULL},
    {"rustymem_buffer_pool_arc_b1", "rustymem_buffer_pool_arc_b1_pages", NULL},
    {"rustymem_buffer_pool_arc_b2", "rustymem_buffer_pool_arc_b2_pages", NULL},
    {"rustymem_buffer_pool_arc_target_p", "rustymem_buffer_pool_arc_t1_target_pages", NULL},
    {"rustymem_forecast_info", "rustymem_forecast_model_info", NULL},
    {"rustymem_forecast_escalations_last_hour", NULL,
     "a one-hour window in a gauge; use increase(rustymem_forecast_escalations_total[1h])"},
    {"rustymem_fragmentation_component_used_bytes", NULL, "the same figure as rustymem_memory_component_used_bytes"},
    {"rustymem_fragmentation_component_held_bytes", NULL, "the same figure as rustymem_memory_component_held_bytes"},
    {"rustymem_fragmentation_component_info", NULL,
     "its status label changes with the state; compare rustymem_fragmentation_component_fragmentation_ratio "
     "with the alerts.fragmentation_* knobs"},
    {"rustymem_fragmentation_info", NULL,
     "its overall_status label changes with the state; use rustymem_fragmentation_overall_ratio"},
};
#define RM_EXP_DEPRECATED_UNTIL "0.3.0"

static const rename_t *
find_rename(const char *name)
{
    for (size_t i = 0; i < sizeof renames / sizeof renames[0]; i++)
        if (strcmp(renames[i].old_name, name) == 0)
            return &renames[i];
    return NULL;
}

void
rm_exp_help(const char *name, int is_bool, char *out, size_t cap)
{
    for (size_t i = 0; i < sizeof helps / sizeof helps[0]; i++)
        if (strcmp(helps[i].name, name) == 0) {
            snprintf(out, cap, "%s", helps[i].help);
            return;
        }
    static const struct {
        const char *prefix, *subject;
    } subjects[] = {
        {"rustymem_agent_process_", "The rustymemd process"},
        {"rustymem_memory_cgroup_", "The agent's memory cgroup"},
        {"rustymem_memory_psi_", "Memory pressure stall information (PSI) of the host"},
        {"rustymem_memory_jemalloc_", "jemalloc in the agent"},
        {"rustymem_memory_component_", "One memcore component"},
        {"rustymem_memory_", "Agent memory"},
        {"rustymem_fragmentation_component_", "Fragmentation of one component"},
        {"rustymem_fragmentation_", "Fragmentation"},
        {"rustymem_slab_class_node_", "One slab size class on one NUMA node"},
        {"rustymem_slab_class_", "One slab size class"},
        {"rustymem_slab_", "Slab allocator"},
        {"rustymem_arena_profile_", "One arena profile"},
        {"rustymem_arena_context_", "One arena memory context"},
        {"rustymem_arena_", "Arenas"},
        {"rustymem_buffer_pool_", "Buffer pool"},
        {"rustymem_large_object_", "Large-object allocator"},
        {"rustymem_forecast_horizon_", "Forecast at one horizon"},
        {"rustymem_forecast_", "Pressure forecast"},
        {"rustymem_engine_", "Engine"},
        {"rustymem_alert_", "One raised alert"},
        {"rustymem_", "rustymem"},
        {"", "rustymem"},
    };
    const char *subject = "rustymem", *rest = name;
    for (size_t i = 0; i < sizeof subjects / sizeof subjects[0]; i++) {
        size_t n = strlen(subjects[i].prefix);
        if (strncmp(name, subjects[i].prefix, n) == 0) {
            subject = subjects[i].subject;
            rest = name + n;
            break;
        }
    }
    static const struct {
        const char *suffix, *unit;
    } units[] = {
        {"_timestamp_seconds", ", as Unix time in seconds"},
        {"_bytes_total", ", bytes counted since the agent started"},
        {"_seconds_total", ", seconds counted since the agent started"},
        {"_total", ", counted since the agent started"},
        {"_bytes", ", in bytes"},
        {"_seconds", ", in seconds"},
        {"_ratio", ", a ratio from 0 to 1"},
        {"_info", " as labels; always 1"},
    };
    const char *unit = is_bool ? " (1 = yes, 0 = no)" : "";
    if (strcmp(rest, "info") == 0) {
        snprintf(out, cap, "%s: its text fields as labels; always 1", subject);
        return;
    }
    size_t len = strlen(rest);
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
        if (ends_with(rest, units[i].suffix)) {
            unit = units[i].unit;
            len -= strlen(units[i].suffix);
            break;
        }
    if (!*unit)
        unit = " (a count)";
    char words[RM_EXP_NAME_MAX + 1];
    if (len > RM_EXP_NAME_MAX)
        len = RM_EXP_NAME_MAX;
    memcpy(words, rest, len);
    words[len] = '\0';
    for (char *p = words; *p; p++)
        if (*p == '_')
            *p = ' ';
    if (strcmp(unit, " as labels; always 1") == 0)
        snprintf(out, cap, "%s: its text fields%s", subject, unit);
    else
        snprintf(out, cap, "%s: %s%s", subject, len ? words : "value", unit);
}

static void
add(walk_t *w, const char *name, rm_exp_type_t type, const char *help, const char *labels, double v)
{
    if (rm_exp_reg_add(w->reg, name, type, help, labels, v) == RM_OK)
        w->added++;
}

/* Add under the current name and, for a renamed family, the deprecated old name too. */
static void
add_named(walk_t *w, const char *name, rm_exp_type_t type, const char *help, const char *labels, double v)
{
    const rename_t *r = find_rename(name);
    if (!r) {
        add(w, name, type, help, labels, v);
        return;
    }
    char dhelp[1400];
    if (r->new_name) {
        char nhelp[1024];
        rm_exp_help(r->new_name, 0, nhelp, sizeof nhelp);
        add(w, r->new_name, type, nhelp, labels, v);
        snprintf(dhelp, sizeof dhelp, "Deprecated: renamed to %s, this name goes in %s. %s", r->new_name,
                 RM_EXP_DEPRECATED_UNTIL, nhelp);
    } else {
        snprintf(dhelp, sizeof dhelp, "Deprecated, goes in %s: %s. %s", RM_EXP_DEPRECATED_UNTIL, r->hint, help);
    }
    add(w, name, type, dhelp, labels, v);
}

const char *
rm_exp_renamed_to(const char *old_name)
{
    const rename_t *r = find_rename(old_name);
    return r ? (r->new_name ? r->new_name : "") : NULL;
}

static void walk_msg(walk_t *w, const ProtobufCMessage *m, const char *prefix, const char *labels,
                     const char *path, const unsigned char *skip);

/* Identifying labels of one repeated element; marks the fields used in skip. */
static void
element_labels(const ProtobufCMessage *m, const char *elem, char *labels, size_t cap, unsigned char *skip)
{
    const ProtobufCMessageDescriptor *d = m->descriptor;
    int first_string = 1, any = 0;
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        if (f->label == PROTOBUF_C_LABEL_REPEATED || !field_present(m, f))
            continue;
        const char *label = NULL;
        char val[128];
        if (f->type == PROTOBUF_C_TYPE_STRING) {
            if (is_free_text(f->name))
                continue;
            const char *s = *(char *const *)field_ptr(m, f);
            if (!s || !*s)
                continue; /* an empty string identifies nothing */
            if (!first_string && !id_string(f->name))
                continue;
            first_string = 0;
            snprintf(val, sizeof val, "%s", s);
            label = f->name;
        } else if ((label = id_numeric_label(f->name)) != NULL) {
            double v;
            if (!rm_pb_number(f, field_ptr(m, f), &v))
                continue;
            snprintf(val, sizeof val, "%.15g", v);
        } else {
            continue;
        }
        char lname[2 * RM_EXP_NAME_MAX + 2];
        if (has_label(labels, label))
            snprintf(lname, sizeof lname, "%s_%s", elem, label);
        else
            snprintf(lname, sizeof lname, "%s", label);
        if (rm_exp_label_append(labels, cap, lname, val) == RM_OK) {
            skip[i] = 1;
            any = 1;
        }
    }
    (void)any;
}

static void
walk_repeated(walk_t *w, const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f, const char *prefix,
              const char *labels, const char *path)
{
    size_t n = *(const size_t *)((const char *)m + f->quantifier_offset);
    ProtobufCMessage *const *arr = *(ProtobufCMessage *const *const *)field_ptr(m, f);
    char elem[RM_EXP_NAME_MAX], eprefix[RM_EXP_NAME_MAX + 1], epath[512];
    singular(f->name, elem, sizeof elem);
    snprintf(eprefix, sizeof eprefix, "%s_%s", prefix, elem);
    snprintf(epath, sizeof epath, "%s.%s[]", path, f->name);
    for (size_t k = 0; k < n; k++) {
        const ProtobufCMessage *e = arr[k];
        if (!e)
            continue;
        unsigned char skip[256] = {0};
        if (e->descriptor->n_fields > sizeof skip)
            continue;
        char l[RM_EXP_LABELS_MAX];
        snprintf(l, sizeof l, "%s", labels ? labels : "");
        size_t before = strlen(l);
        element_labels(e, elem, l, sizeof l, skip);
        if (strlen(l) == before) {
            /* nothing identifies the element: its position does */
            char idx[32], lname[RM_EXP_NAME_MAX];
            snprintf(idx, sizeof idx, "%zu", k);
            snprintf(lname, sizeof lname, has_label(l, "index") ? "%s_index" : "index", elem);
            if (rm_exp_label_append(l, sizeof l, lname, idx) != RM_OK)
                continue;
        }
        walk_msg(w, e, eprefix, l, epath, skip);
    }
}

static void
walk_msg(walk_t *w, const ProtobufCMessage *m, const char *prefix, const char *labels, const char *path,
         const unsigned char *skip)
{
    const ProtobufCMessageDescriptor *d = m->descriptor;
    char info[RM_EXP_LABELS_MAX], stable[RM_EXP_LABELS_MAX];
    snprintf(info, sizeof info, "%s", labels ? labels : "");
    snprintf(stable, sizeof stable, "%s", info);
    size_t info_base = strlen(info);
    int info_any = 0;
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        if ((skip && skip[i]) || !field_present(m, f))
            continue;
        char name[RM_EXP_NAME_MAX + 64], fpath[512];
        snprintf(fpath, sizeof fpath, "%s.%s", path, f->name);
        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            if (f->type == PROTOBUF_C_TYPE_MESSAGE)
                walk_repeated(w, m, f, prefix, labels, path);
            continue; /* repeated scalars have no natural series */
        }
        if (f->type == PROTOBUF_C_TYPE_MESSAGE) {
            const ProtobufCMessage *sub = *(ProtobufCMessage *const *)field_ptr(m, f);
            if (!sub)
                continue;
            snprintf(name, sizeof name, "%s_%s", prefix, f->name);
            if (strlen(name) <= RM_EXP_NAME_MAX)
                walk_msg(w, sub, name, labels, fpath, NULL);
            continue;
        }
        if (f->type == PROTOBUF_C_TYPE_STRING) {
            const char *s = *(char *const *)field_ptr(m, f);
            if (!is_free_text(f->name) && s && *s && strlen(s) <= 256 &&
                rm_exp_label_append(info, sizeof info, f->name, s) == RM_OK) {
                info_any = 1;
                if (!is_state_text(f->name))
                    rm_exp_label_append(stable, sizeof stable, f->name, s);
            }
            continue;
        }
        double v;
        if (!rm_pb_number(f, field_ptr(m, f), &v) || guarded_off(m, f->name))
            continue;
        char unit[RM_EXP_NAME_MAX + 1], help[1024];
        double scale = 1.0;
        rm_exp_type_t type = RM_EXP_GAUGE;
        if (f->type == PROTOBUF_C_TYPE_BOOL || f->type == PROTOBUF_C_TYPE_ENUM) {
            snprintf(unit, sizeof unit, "%s", f->name);
        } else {
            rm_exp_unit_name(f->name, unit, sizeof unit, &scale);
            if (ends_with(unit, "_total"))
                type = RM_EXP_COUNTER;
        }
        snprintf(name, sizeof name, "%s_%s", prefix, unit);
        if (strlen(name) > RM_EXP_NAME_MAX)
            continue;
        rm_exp_help(name, f->type == PROTOBUF_C_TYPE_BOOL, help, sizeof help);
        if (f->type == PROTOBUF_C_TYPE_ENUM && f->descriptor)
            enum_help(f->descriptor, help, sizeof help);
        add_named(w, name, type, help, labels, v * scale);
    }
    if (info_any && strlen(info) > info_base) {
        char name[RM_EXP_NAME_MAX + 16], help[1024];
        snprintf(name, sizeof name, "%s_info", prefix);
        const rename_t *r = find_rename(name);
        if (r && r->new_name) {
            /* the replacement leaves out the labels whose values change with the state */
            char dhelp[1400];
            rm_exp_help(r->new_name, 0, help, sizeof help);
            if (strlen(stable) > info_base)
                add(w, r->new_name, RM_EXP_GAUGE, help, stable, 1.0);
            snprintf(dhelp, sizeof dhelp,
                     "Deprecated: replaced by %s, which leaves out the labels whose values change with the "
                     "state; this name goes in %s",
                     r->new_name, RM_EXP_DEPRECATED_UNTIL);
            add(w, name, RM_EXP_GAUGE, dhelp, info, 1.0);
        } else {
            rm_exp_help(name, 0, help, sizeof help);
            add_named(w, name, RM_EXP_GAUGE, help, info, 1.0);
        }
    }
}

size_t
rm_exp_convert(rm_exp_reg_t *reg, const ProtobufCMessage *msg, const char *family, const char *source,
               const char *base_labels)
{
    if (!msg)
        return 0;
    walk_t w = {.reg = reg, .source = source ? source : "rustymem", .added = 0};
    char prefix[RM_EXP_NAME_MAX];
    if (family && *family)
        snprintf(prefix, sizeof prefix, "rustymem_%s", family);
    else
        snprintf(prefix, sizeof prefix, "rustymem");
    walk_msg(&w, msg, prefix, base_labels, msg->descriptor->short_name, NULL);
    return w.added;
}
