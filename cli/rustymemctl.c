/*
 * rustymemctl.c — the rustymem operator CLI.
 *
 * Design note (docs/adr/0024-cli-command-table.md): commands are one table
 * (words, RPC path, request/response descriptors, the seed function it
 * replaces, help, and the arguments with the request field each one fills).
 * One getopt_long pass reads the whole command line — global and command
 * flags anywhere, --flag=value or --flag value — and one function fills any
 * request through its descriptor. --help, `help COMMAND`, docs/cli.md and the
 * shell completions (complete.c) come from the same table, so they cannot
 * drift apart. Output is rendered from the response descriptors (render.c).
 *
 * Exit codes: 0 success; 1 the RPC failed (status name and message on
 * stderr, one line); 2 usage error (one line naming the argument); 3 a knob
 * change is committed but not on disk (knobs set/reset/apply-profile wait
 * for the write: docs/adr/0031).
 */
#include <errno.h>
#include <getopt.h>
#include <grpc/grpc.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "cli.h"
#include "grpc/health/v1/health.pb-c.h"
#include "rustymem/v1/emergency.pb-c.h"
#include "rustymem/v1/fleet.pb-c.h"
#include "rustymem/v1/forecast.pb-c.h"
#include "rustymem/v1/memory.pb-c.h"
#include "rustymem/v1/tuning.pb-c.h"

#ifndef RM_VERSION
#define RM_VERSION "dev"
#endif

static int watch_count; /* watch --count N: stop after N updates (0 = until interrupted) */
int rm_top_count;
const char *rm_top_sort = "used";
double rm_top_interval_s = 2.0;
const char *const rm_top_sort_keys[] = {"used", "held", "delta", "name", NULL};
static const char *completion_shell;
static const char *const shells[] = {"bash", "zsh", "fish", NULL};

/* ---- allocation: every request block is freed at once at exit ------------ */

static void **allocs;
static size_t n_allocs, cap_allocs;

static void *
xcalloc(size_t n)
{
    void *p = calloc(1, n ? n : 1);
    if (!p || (n_allocs == cap_allocs && !(allocs = realloc(allocs, (cap_allocs = cap_allocs * 2 + 16) * sizeof *allocs)))) {
        fputs("rustymemctl: out of memory\n", stderr);
        exit(EXIT_RPC);
    }
    allocs[n_allocs++] = p;
    return p;
}

static void
free_all(void)
{
    for (size_t i = 0; i < n_allocs; i++)
        free(allocs[i]);
    free(allocs);
    allocs = NULL;
    n_allocs = cap_allocs = 0;
}

int
rm_usage_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("rustymemctl: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return EXIT_USAGE;
}

/* ---- value grammars -------------------------------------------------------- */

int
rm_parse_uint(const char *s, unsigned long long *out)
{
    if (!*s || *s < '0' || *s > '9')
        return -1;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end)
        return -1;
    *out = v;
    return 0;
}

static int
parse_double(const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || *end || end == s || !isfinite(v))
        return -1;
    *out = v;
    return 0;
}

static double
unit_seconds(const char *u, size_t n)
{
    if (n == 2 && strncmp(u, "ms", 2) == 0)
        return 0.001;
    if (n == 1 && *u == 's')
        return 1;
    if (n == 1 && *u == 'm')
        return 60;
    if (n == 1 && *u == 'h')
        return 3600;
    return -1;
}

int
rm_parse_duration(const char *s, const char *bare_unit, double *seconds)
{
    const char *p = s;
    double total = 0;
    int parts = 0;
    if (!*s)
        return -1;
    while (*p) {
        if (!((*p >= '0' && *p <= '9') || *p == '.'))
            return -1; /* a sign, a space or a unit without a number */
        char *end;
        errno = 0;
        double v = strtod(p, &end);
        if (errno || end == p || !isfinite(v))
            return -1;
        const char *u = end;
        while ((*end >= 'a' && *end <= 'z'))
            end++;
        size_t un = (size_t)(end - u);
        double mult;
        if (un == 0) {
            if (parts > 0 || *end || !bare_unit)
                return -1; /* "1m30" and bare numbers where no unit is historical */
            mult = unit_seconds(bare_unit, strlen(bare_unit));
        } else {
            mult = unit_seconds(u, un);
        }
        if (mult < 0)
            return -1;
        total += v * mult;
        parts++;
        p = end;
    }
    *seconds = total;
    return 0;
}

const char *
rm_duration_expect(const char *bare_unit)
{
    if (!bare_unit)
        return "expected a duration like 500ms, 30s, 5m or 1m30s";
    if (strcmp(bare_unit, "ms") == 0)
        return "expected a duration like 500ms, 30s or 5m (a bare number is milliseconds)";
    return "expected a duration like 500ms, 30s or 5m (a bare number is seconds)";
}

void
rm_enum_word(const ProtobufCEnumDescriptor *e, const ProtobufCEnumValue *v, char *buf, size_t cap)
{
    rm_fmt_enum(buf, cap, e, v->value);
}

/* ---- filling a request through its descriptor ----------------------------- */

/* The field `path` ("selector.names") of m, creating the nested messages on the way; *owner is its message. */
static const ProtobufCFieldDescriptor *
resolve_field(ProtobufCMessage *m, const ProtobufCMessageDescriptor *d, const char *path, ProtobufCMessage **owner)
{
    char buf[128];
    snprintf(buf, sizeof buf, "%s", path);
    char *save = NULL, *tok = strtok_r(buf, ".", &save);
    for (;;) {
        const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field_by_name(d, tok);
        if (!f)
            return NULL;
        char *next = strtok_r(NULL, ".", &save);
        if (!next) {
            if (owner)
                *owner = m;
            return f;
        }
        if (f->type != PROTOBUF_C_TYPE_MESSAGE || f->label == PROTOBUF_C_LABEL_REPEATED)
            return NULL;
        d = f->descriptor;
        if (m) {
            ProtobufCMessage **sub = (ProtobufCMessage **)((char *)m + f->offset);
            if (!*sub) {
                *sub = xcalloc(d->sizeof_message);
                d->message_init(*sub);
            }
            m = *sub;
        }
        tok = next;
    }
}

const ProtobufCEnumDescriptor *
rm_arg_enum(const command_t *cmd, const arg_spec_t *a)
{
    if (a->kind != A_ENUM || !a->field || !cmd->request)
        return NULL;
    const ProtobufCFieldDescriptor *f = resolve_field(NULL, cmd->request, a->field, NULL);
    return f && f->type == PROTOBUF_C_TYPE_ENUM ? f->descriptor : NULL;
}

/* Room for one more element of a repeated field; returns its address. */
static void *
append(ProtobufCMessage *m, const ProtobufCFieldDescriptor *f, size_t elem)
{
    size_t *n = (size_t *)((char *)m + f->quantifier_offset);
    void **arr = (void **)((char *)m + f->offset);
    void *na = xcalloc((*n + 1) * elem);
    if (*n)
        memcpy(na, *arr, *n * elem);
    *arr = na;
    return (char *)na + (*n)++ * elem;
}

static void
mark_present(ProtobufCMessage *m, const ProtobufCFieldDescriptor *f)
{
    if (f->label == PROTOBUF_C_LABEL_OPTIONAL && f->quantifier_offset && f->type != PROTOBUF_C_TYPE_STRING &&
        f->type != PROTOBUF_C_TYPE_MESSAGE)
        *(protobuf_c_boolean *)((char *)m + f->quantifier_offset) = 1;
}

/* Store a number into a numeric field; -1 when it does not fit. */
static int
set_number(ProtobufCMessage *m, const ProtobufCFieldDescriptor *f, double d, unsigned long long u, int is_int)
{
    void *p = (char *)m + f->offset;
    switch (f->type) {
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
        if (!is_int || u > UINT32_MAX)
            return -1;
        *(uint32_t *)p = (uint32_t)u;
        break;
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        if (!is_int)
            return -1;
        *(uint64_t *)p = u;
        break;
    case PROTOBUF_C_TYPE_INT32:
        if (!is_int || u > INT32_MAX)
            return -1;
        *(int32_t *)p = (int32_t)u;
        break;
    case PROTOBUF_C_TYPE_INT64:
        if (!is_int || u > INT64_MAX)
            return -1;
        *(int64_t *)p = (int64_t)u;
        break;
    case PROTOBUF_C_TYPE_DOUBLE: *(double *)p = is_int ? (double)u : d; break;
    case PROTOBUF_C_TYPE_FLOAT: *(float *)p = (float)(is_int ? (double)u : d); break;
    case PROTOBUF_C_TYPE_BOOL: *(protobuf_c_boolean *)p = is_int ? u != 0 : d != 0; break;
    default: return -1;
    }
    mark_present(m, f);
    return 0;
}

/* The "flag VALUE" or "NAME 'VALUE'" part of a message. */
static void
what(char *buf, size_t cap, const arg_spec_t *a, const char *val)
{
    if (a->name[0] == '-')
        snprintf(buf, cap, "%s %s", a->name, val);
    else
        snprintf(buf, cap, "%.*s '%s'", (int)strcspn(a->name, "."), a->name, val);
}

/* Apply one argument (a flag's value, or a positional) to the request; 0 or EXIT_USAGE. */
static int
apply_arg(const command_t *cmd, const arg_spec_t *a, ProtobufCMessage *req, const char *val)
{
    char w[600];
    what(w, sizeof w, a, val ? val : "");
    ProtobufCMessage *m = NULL;
    const ProtobufCFieldDescriptor *f = NULL;
    if (a->field) {
        f = resolve_field(req, cmd->request, a->field, &m);
        if (!f)
            return rm_usage_error("%s: internal error: no field %s in %s", cmd->words, a->field, cmd->request->name);
    }
    switch (a->kind) {
    case A_BOOL:
        if (a->local)
            *a->local = 1;
        else
            set_number(m, f, 1, 1, 1);
        return 0;
    case A_UINT: {
        unsigned long long v;
        if (rm_parse_uint(val, &v) < 0 || (a->local && v > INT32_MAX) || (f && set_number(m, f, 0, v, 1) < 0))
            return rm_usage_error("%s: %s: expected a whole number%s", cmd->words, w,
                                  f && (f->type == PROTOBUF_C_TYPE_UINT32) ? " in 0..4294967295" : "");
        if (a->local)
            *a->local = (int)v;
        return 0;
    }
    case A_DOUBLE: {
        double v;
        if (parse_double(val, &v) < 0 || set_number(m, f, v, 0, 0) < 0)
            return rm_usage_error("%s: %s: expected a number", cmd->words, w);
        return 0;
    }
    case A_DURATION: {
        double s;
        if (rm_parse_duration(val, a->bare_unit, &s) < 0)
            return rm_usage_error("%s: %s: %s", cmd->words, w, rm_duration_expect(a->bare_unit));
        if (a->local_sec) {
            *a->local_sec = s;
            return 0;
        }
        size_t n = strlen(f->name);
        if (n > 3 && strcmp(f->name + n - 3, "_ms") == 0) {
            double ms = s * 1000.0;
            if (fabs(ms - nearbyint(ms)) > 1e-6 || set_number(m, f, 0, (unsigned long long)nearbyint(ms), 1) < 0)
                return rm_usage_error("%s: %s: expected whole milliseconds up to 4294967295ms", cmd->words, w);
        } else if (set_number(m, f, s, 0, 0) < 0) {
            return rm_usage_error("%s: internal error: %s is not a duration field", cmd->words, f->name);
        }
        return 0;
    }
    case A_STRING:
        *(const char **)((char *)m + f->offset) = val;
        return 0;
    case A_STRINGS: {
        if (a->name[0] != '-') {
            *(const char **)append(m, f, sizeof(char *)) = val;
            return 0;
        }
        char *copy = xcalloc(strlen(val) + 1);
        strcpy(copy, val);
        for (char *save = NULL, *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save))
            *(const char **)append(m, f, sizeof(char *)) = t;
        return 0;
    }
    case A_KEYVAL: {
        const char *eq = strchr(val, '=');
        if (!eq || eq == val)
            return a->name[0] == '-' ? rm_usage_error("%s: %s: expected KEY=VALUE", cmd->words, w)
                                     : rm_usage_error("%s: '%s' is not %.*s", cmd->words, val,
                                                      (int)strcspn(a->name, "."), a->name);
        const ProtobufCMessageDescriptor *ed = f->descriptor;
        ProtobufCMessage *e = xcalloc(ed->sizeof_message);
        ed->message_init(e);
        char *k = xcalloc((size_t)(eq - val) + 1);
        memcpy(k, val, (size_t)(eq - val));
        *(const char **)((char *)e + ed->fields[0].offset) = k;       /* key / name */
        *(const char **)((char *)e + ed->fields[1].offset) = eq + 1;  /* value */
        *(ProtobufCMessage **)append(m, f, sizeof(ProtobufCMessage *)) = e;
        return 0;
    }
    case A_ENUM: {
        const ProtobufCEnumDescriptor *e = f->descriptor;
        char list[256] = "";
        size_t len = 0;
        for (unsigned i = 0; i < e->n_values; i++) {
            if (e->values[i].value == 0 || e->values[i].value < a->enum_min)
                continue;
            char word[64], norm[64];
            rm_enum_word(e, &e->values[i], word, sizeof word);
            snprintf(norm, sizeof norm, "%s", val);
            for (char *c = norm; *c; c++)
                if (*c == '-')
                    *c = '_';
            if (strcasecmp(norm, word) == 0) {
                *(int *)((char *)m + f->offset) = e->values[i].value;
                mark_present(m, f);
                return 0;
            }
            len += (size_t)snprintf(list + len, len < sizeof list ? sizeof list - len : 0, "%s%s", len ? ", " : "",
                                    word);
        }
        return rm_usage_error("%s: %s: expected one of %s", cmd->words, w, list);
    }
    case A_ONOFF:
        if (strcmp(val, "on") != 0 && strcmp(val, "off") != 0)
            return rm_usage_error("%s: %s: expected on or off", cmd->words, w);
        set_number(m, f, 0, strcmp(val, "on") == 0, 1);
        return 0;
    case A_CHOICE:
        for (int i = 0; a->choices[i]; i++)
            if (strcmp(val, a->choices[i]) == 0) {
                *a->local_str = a->choices[i];
                return 0;
            }
        {
            char list[128] = "";
            size_t len = 0;
            for (int i = 0; a->choices[i]; i++)
                len += (size_t)snprintf(list + len, sizeof list - len, "%s%s", i ? ", " : "", a->choices[i]);
            return rm_usage_error("%s: %s: expected one of %s", cmd->words, w, list);
        }
    }
    return EXIT_USAGE;
}

/* ---- the command table ----------------------------------------------------- */

static int cmd_help(const command_t *cmd, global_t *g, int npos, char **pos);
static int cmd_help_markdown(const command_t *cmd, global_t *g, int npos, char **pos);
static int cmd_version(const command_t *cmd, global_t *g, int npos, char **pos);
static int cmd_knobs_diff(const command_t *cmd, global_t *g, int npos, char **pos);

#define SELECTOR_ARGS                                                                                          \
    {"--names", A_STRINGS, "selector.names", "only these nodes (comma-separated, repeatable)", 0, NULL, 0, NULL, \
     NULL, NULL, NULL},                                                                                        \
    {"--label", A_KEYVAL, "selector.labels", "only nodes with this label KEY=VALUE (repeatable: all must match)", \
     0, NULL, 0, NULL, NULL, NULL, NULL}
#define VALIDATE_ONLY                                                                                          \
    {"--validate-only", A_BOOL, "validate_only", "check everything, change nothing", 0, NULL, 0, NULL, NULL, NULL, \
     NULL}
#define LEVEL_ARG                                                                                              \
    {"LEVEL", A_ENUM, "level", "the pressure level to respond at", ARG_REQUIRED, NULL,                         \
     RUSTYMEM__V1__PRESSURE_LEVEL__PRESSURE_LEVEL_GENTLE, NULL, NULL, NULL, NULL}
/* --limit of a listing: at most N WHAT, 0 = the agent's default. */
#define LIMIT_ARG(what)                                                                                        \
    {"--limit", A_UINT, "limit", "at most N " what " (0 = the agent's default)", 0, NULL, 0, NULL, NULL,       \
     NULL, NULL}
#define PROFILE_ARGS                                                                                           \
    {"WORKLOAD", A_ENUM, "workload", "the workload table", ARG_REQUIRED, NULL, 0, NULL, NULL, NULL, NULL},         \
    {"ENVIRONMENT", A_ENUM, "environment", "the environment table", ARG_REQUIRED, NULL, 0, NULL, NULL, NULL, NULL}

#define RPC(svc, m) "/rustymem.v1." svc "/" m
#define DESC(x) &rustymem__v1__##x##__descriptor

const command_t rm_commands[] = {
    {"health", "/grpc.health.v1.Health/Check", &grpc__health__v1__health_check_request__descriptor,
     &grpc__health__v1__health_check_response__descriptor, "",
     "serving status of the agent or of one of its services (SERVING / NOT_SERVING; exit 1 unless SERVING)",
     {{"--service", A_STRING, "service", "a service name (rustymem.v1.SessionService); \"\" = the whole agent", 0,
       NULL, 0, NULL, NULL, NULL, NULL}}, 0, NULL, 0},
    {"stats memory", RPC("MemoryService", "GetMemoryStats"), DESC(get_memory_stats_request), DESC(memory_stats),
     "memory_stats(), GET /api/v1/stats/memory", "process, cgroup, jemalloc and per-component memory usage", {{0}},
     0, NULL, 0},
    {"stats slab", RPC("MemoryService", "GetSlabStats"), DESC(get_slab_stats_request), DESC(slab_stats),
     "slab_allocator_stats()", "per-size-class slab allocator statistics", {{0}}, 0, NULL, 0},
    {"stats arena", RPC("MemoryService", "GetArenaStats"), DESC(get_arena_stats_request), DESC(arena_stats),
     "transaction_arena_stats()", "transaction arena statistics",
     {{"--contexts", A_BOOL, "include_contexts", "list every memory context too", 0, NULL, 0, NULL, NULL, NULL,
       NULL}}, 0, NULL, 0},
    {"stats buffer-pool", RPC("MemoryService", "GetBufferPoolStats"), DESC(get_buffer_pool_stats_request),
     DESC(buffer_pool_stats), "buffer_pool_stats(), GET /api/v1/stats/buffer_pool", "buffer pool statistics", {{0}},
     0, NULL, 0},
    {"stats large-object", RPC("MemoryService", "GetLargeObjectStats"), DESC(get_large_object_stats_request),
     DESC(large_object_stats), "large_object_stats()", "large-object allocator statistics", {{0}}, 0, NULL, 0},
    {"stats fragmentation", RPC("MemoryService", "GetFragmentationStats"), DESC(get_fragmentation_stats_request),
     DESC(fragmentation_stats), "fragmentation_stats()", "fragmentation ratio per component with Good/Fair/Poor",
     {{0}}, 0, NULL, 0},
    {"stats engine", RPC("MemoryService", "GetEngineStats"), DESC(get_engine_stats_request), DESC(engine_stats), "",
     "engine: sessions, connections, pool size, MVCC chains, plan cache, queries", {{0}}, 0, NULL, 0},
    {"top", NULL, NULL, NULL, "",
     "live view of one agent (with --fleet: every node): component bytes and their change per refresh, hit ratio, "
     "level, time to critical; keys: q quit, u/h/d/n sort by used/held/delta/name",
     {{"--interval", A_DURATION, NULL, "time between refreshes (default 2s; a unit is required)", 0, NULL, 0, NULL,
       NULL, NULL, &rm_top_interval_s},
      {"--sort", A_CHOICE, NULL, "initial order: used (default), held, delta or name", 0, NULL, 0, NULL,
       &rm_top_sort, rm_top_sort_keys, NULL},
      {"--count", A_UINT, NULL, "stop after N refreshes (0 = until q; needed when stdout is not a terminal)", 0,
       NULL, 0, &rm_top_count, NULL, NULL, NULL}},
     0, rm_cmd_top, 0},
    {"watch", RPC("MemoryService", "WatchStats"), DESC(watch_stats_request), DESC(memory_stats), "",
     "stats memory as the agent pushes it, redrawn in place on a terminal and cut to its size (JSON lines with "
     "-o json)",
     {{"--interval", A_DURATION, "interval_ms", "time between updates (the agent's default when not given)", 0,
       "ms", 0, NULL, NULL, NULL, NULL},
      {"--count", A_UINT, NULL, "stop after N updates (0 = until interrupted)", 0, NULL, 0, &watch_count, NULL,
       NULL, NULL}},
     1, NULL, 0},
    {"forecast", RPC("ForecastService", "GetForecast"), DESC(get_forecast_request), DESC(forecast),
     "GET /api/v1/stats/memory/forecast",
     "memory-pressure forecast per horizon with confidence, time to critical and the recommended action", {{0}}, 0,
     NULL, 0},
    {"events", RPC("ForecastService", "ListPressureEvents"), DESC(list_pressure_events_request),
     DESC(list_pressure_events_response), "",
     "pressure events: level changes and the reclaim actions taken, with bytes reclaimed",
     {{"--after", A_UINT, "after_id", "only events with a larger id", 0, NULL, 0, NULL, NULL, NULL, NULL},
      LIMIT_ARG("events")},
     0, NULL, 0},
    {"events follow", RPC("ForecastService", "WatchPressure"), DESC(watch_pressure_request), DESC(pressure_event),
     "", "stream pressure events as they happen",
     {{"--after", A_UINT, "after_id", "first replay the kept events with a larger id", 0, NULL, 0, NULL, NULL, NULL,
       NULL}},
     1, NULL, 0},
    {"alerts", RPC("ForecastService", "ListAlerts"), DESC(list_alerts_request), DESC(list_alerts_response), "",
     "active alerts (usage, fragmentation, pressure events/hour, allocation failures, low free, leak)", {{0}}, 0,
     NULL, 0},
    {"response trigger", RPC("EmergencyService", "TriggerResponse"), DESC(trigger_response_request),
     DESC(action_result), "", "run the graduated response at a level now", {LEVEL_ARG}, 0, NULL, 0},
    {"evict", RPC("EmergencyService", "EvictBufferPool"), DESC(evict_buffer_pool_request), DESC(action_result), "",
     "evict a fraction of the buffer pool's resident pages now",
     {{"--fraction", A_DOUBLE, "fraction", "the fraction to evict, 0 < F <= 1", ARG_REQUIRED, NULL, 0, NULL, NULL,
       NULL, NULL}},
     0, NULL, 0},
    {"gc", RPC("EmergencyService", "ForceGarbageCollection"), DESC(force_garbage_collection_request),
     DESC(action_result), "CALL force_garbage_collection()",
     "return cached and free memory of every allocator to the OS", {{0}}, 0, NULL, 0},
    {"coalesce", RPC("EmergencyService", "CoalesceLargeObjects"), DESC(coalesce_large_objects_request),
     DESC(action_result), "optimizer.coalesce_all()", "coalesce the large-object allocator's free extents",
     {{"--release", A_BOOL, "release_to_os", "give the coalesced free extents back to the OS", 0, NULL, 0, NULL,
       NULL, NULL, NULL}},
     0, NULL, 0},
    {"txn list", RPC("MemoryService", "ListTransactions"), DESC(list_transactions_request),
     DESC(list_transactions_response), "orphaned_transactions() (with --orphaned)",
     "open transactions with age, idle time and orphan status",
     {{"--orphaned", A_BOOL, "orphaned_only", "only orphaned transactions", 0, NULL, 0, NULL, NULL, NULL, NULL},
      LIMIT_ARG("transactions")},
     0, NULL, 0},
    {"txn kill-orphaned", RPC("EmergencyService", "KillOrphanedTransactions"),
     DESC(kill_orphaned_transactions_request), DESC(action_result), "CALL kill_orphaned_transactions()",
     "roll back transactions whose session is gone or idle past the timeout", {{0}}, 0, NULL, 0},
    {"plan-cache clear", RPC("EmergencyService", "ClearPlanCache"), DESC(clear_plan_cache_request),
     DESC(action_result), "CALL clear_plan_cache()", "evict the plan cache (or its oldest fraction)",
     {{"--fraction", A_DOUBLE, "fraction", "evict only this oldest fraction, 0 < F <= 1 (default: all)", 0, NULL,
       0, NULL, NULL, NULL, NULL}},
     0, NULL, 0},
    {"admission", RPC("EmergencyService", "SetAdmission"), DESC(set_admission_request), DESC(action_result), "",
     "accept (on) or reject (off) new sessions; existing sessions keep working",
     {{"on|off", A_ONOFF, "accept_new_connections", "on: accept new sessions; off: reject them", ARG_REQUIRED,
       NULL, 0, NULL, NULL, NULL, NULL}},
     0, NULL, 0},
    {"queries kill", RPC("EmergencyService", "KillLongRunningQueries"), DESC(kill_long_running_queries_request),
     DESC(action_result), "", "cancel queries running longer than a duration",
     {{"--older-than", A_DURATION, "older_than_seconds", "the age above which a query is cancelled",
       ARG_REQUIRED, "s", 0, NULL, NULL, NULL, NULL}},
     0, NULL, 0},
    {"knobs list", RPC("TuningService", "ListKnobs"), DESC(list_knobs_request), DESC(list_knobs_response),
     "SHOW ALL (PostgreSQL-style)", "every knob with value, default, range, unit, live or restart",
     {{"PREFIX", A_STRING, "prefix", "only knobs whose name starts with PREFIX (pressure.)", ARG_KNOB, NULL, 0,
       NULL, NULL, NULL, NULL}},
     0, NULL, 0},
    {"knobs get", RPC("TuningService", "GetKnobs"), DESC(get_knobs_request), DESC(get_knobs_response), "",
     "the named knobs with value, source (default, FILE:LINE, env RUSTYMEM_..., flag, runtime), reset value "
     "and pending restart",
     {{"NAME...", A_STRINGS, "names", "knob names", ARG_REQUIRED | ARG_KNOB, NULL, 0, NULL, NULL, NULL, NULL}}, 0,
     NULL, 0},
    {"knobs set", RPC("TuningService", "SetKnobs"), DESC(set_knobs_request), DESC(set_knobs_response), "",
     "set knobs together, all or nothing; persisted across restarts (a warning on stderr when an environment "
     "variable or a flag will override the value at the next restart)",
     {{"NAME=VALUE...", A_KEYVAL, "assignments", "knob assignments", ARG_REQUIRED | ARG_KNOB, NULL, 0, NULL, NULL,
       NULL, NULL},
      VALIDATE_ONLY},
     0, NULL, 0},
    {"knobs reset", RPC("TuningService", "ResetKnobs"), DESC(reset_knobs_request), DESC(set_knobs_response),
     "RESET (ALTER SYSTEM RESET)",
     "return knobs to their reset value (file, env or flag, else the default) and forget their persisted runtime "
     "value",
     {{"NAME...", A_STRINGS, "names", "knob names", ARG_REQUIRED | ARG_KNOB, NULL, 0, NULL, NULL, NULL, NULL},
      VALIDATE_ONLY},
     0, NULL, 0},
    {"knobs diff", NULL, NULL, NULL, "SELECT ... FROM pg_settings WHERE source <> 'default'",
     "knobs whose source is not the default: value, default and where the value comes from", {{0}}, 0,
     cmd_knobs_diff, 0},
    {"knobs apply-profile", RPC("TuningService", "ApplyProfile"), DESC(apply_profile_request),
     DESC(set_knobs_response), "", "apply the seed's workload x environment tables", {PROFILE_ARGS, VALIDATE_ONLY},
     0, NULL, 0},
    {"nodes", RPC("FleetService", "ListNodes"), DESC(list_nodes_request), DESC(list_nodes_response), "",
     "(with --fleet) every agent: reachable, level, usage, time to critical, last contact, labels", {SELECTOR_ARGS},
     0, NULL, 0},
    {"fleet stats", RPC("FleetService", "GetFleetStats"), DESC(get_fleet_stats_request), DESC(fleet_stats), "",
     "(with --fleet) nodes by level, fleet RSS and budget", {{0}}, 0, NULL, 0},
    {"fleet forecast", RPC("FleetService", "GetFleetForecast"), DESC(get_fleet_forecast_request),
     DESC(fleet_forecast), "", "(with --fleet) every node's current and predicted level", {{0}}, 0, NULL, 0},
    {"fleet rollout", RPC("FleetService", "ApplyProfile"), DESC(fleet_apply_profile_request),
     DESC(fleet_apply_profile_response), "",
     "(with --fleet) apply a profile canary first, then in batches; a failed gate stops and rolls back",
     {PROFILE_ARGS, SELECTOR_ARGS,
      {"--canary-wait", A_DURATION, "canary_wait_seconds", "how long the canary must stay healthy", 0, "s", 0,
       NULL, NULL, NULL, NULL},
      {"--batch-size", A_UINT, "batch_size", "nodes per batch after the canary (0 = the controller's default)", 0,
       NULL, 0, NULL, NULL, NULL, NULL}},
     0, NULL, 0},
    {"fleet trigger", RPC("FleetService", "TriggerResponse"), DESC(fleet_trigger_response_request),
     DESC(fleet_trigger_response_response), "", "(with --fleet) run the graduated response on the selected nodes",
     {LEVEL_ARG, SELECTOR_ARGS}, 0, NULL, 0},
    {"help", NULL, NULL, NULL, "", "this overview, or the help of a command or group (help knobs set)",
     {{"COMMAND...", A_STRINGS, NULL, "a command or group", 0, NULL, 0, NULL, NULL, NULL, NULL}}, 0, cmd_help, 0},
    {"version", NULL, NULL, NULL, "", "rustymemctl's version and, when reachable, the agent's (as --version)", {{0}},
     0, cmd_version, 0},
    {"completion", NULL, NULL, NULL, "",
     "print a completion script (commands, flags, enum values, knob names from the agent); "
     "bash: source <(rustymemctl completion bash)",
     {{"bash|zsh|fish", A_CHOICE, NULL, "the shell", ARG_REQUIRED, NULL, 0, NULL, &completion_shell, shells, NULL}},
     0, rm_cmd_completion, 0},
    {"help-markdown", NULL, NULL, NULL, "", "print docs/cli.md (this reference, generated from the command table)",
     {{0}}, 0, cmd_help_markdown, 0},
    {"__complete", NULL, NULL, NULL, "", "completion candidates for the shell scripts", {{0}}, 0, NULL, 1},
};
const size_t rm_n_commands = sizeof rm_commands / sizeof rm_commands[0];
#define N_COMMANDS rm_n_commands

/* ---- global options ------------------------------------------------------- */

enum {
    O_ADDR = 0x100, O_FLEET, O_TIMEOUT, O_OUTPUT, O_JSON, O_NO_HEADERS, O_VERSION, O_HELP,
    O_CRED_BASE = 0x200,           /* + rm_client_cred_flag_t */
    O_CMD_BASE = 0x400,            /* + index into cmd_flags[] */
};

const struct option global_opts[] = {
    {"addr", required_argument, 0, O_ADDR},
    {"fleet", required_argument, 0, O_FLEET},
    {"timeout", required_argument, 0, O_TIMEOUT},
    {"output", required_argument, 0, 'o'},
    {"json", no_argument, 0, O_JSON},
    {"no-headers", no_argument, 0, O_NO_HEADERS},
    {"version", no_argument, 0, O_VERSION},
    {"help", no_argument, 0, 'h'},
    RM_CLIENT_CRED_LONGOPTS("tls", O_CRED_BASE),
};
#define N_GLOBAL_OPTS (sizeof global_opts / sizeof global_opts[0])
const size_t rm_n_global_opts = N_GLOBAL_OPTS;

static const char *const global_help[][2] = {
    {"--addr HOST:PORT", "agent address: HOST:PORT, [::1]:PORT or unix:/path (default $RUSTYMEM_ADDR, else "
                         "127.0.0.1:50051)"},
    {"--fleet HOST:PORT", "talk to a rustymem-fleet controller instead (nodes, fleet …, top); the default "
                          "deadline becomes 600s for rollouts"},
    {"--timeout DURATION", "deadline per call (default $RUSTYMEM_TIMEOUT, else 5s; a bare number is "
                           "milliseconds)"},
    {"-o, --output FORMAT", "table (default: fits 100 columns), wide (every column, exact figures), json (one "
                            "object jq reads), yaml"},
    {"--json", "the same as -o json"},
    {"--no-headers", "tables without their title and header row"},
    {"--version", "rustymemctl's version and, when reachable, the agent's"},
    {"-h, --help", "help: of the command or group when one is named, else this overview"},
};

int
rm_open_client(global_t *g, rm_client_t **out)
{
    char err[512] = "";
    rm_status_t cst = rm_client_creds_apply(&g->creds, getenv("RUSTYMEM_TOKEN"), &g->client, err, sizeof err);
    if (cst != RM_OK) {
        fprintf(stderr, "rustymemctl: %s\n", err);
        return cst == RM_EINVAL ? EXIT_USAGE : EXIT_RPC;
    }
    if (rm_client_create(&g->client, out, err, sizeof err) != RM_OK) {
        fprintf(stderr, "rustymemctl: %s\n", err);
        return EXIT_USAGE;
    }
    return 0;
}

const char *
rm_hint_for(grpc_status_code code, const global_t *g)
{
    switch (code) {
    case GRPC_STATUS_UNAVAILABLE:
        return g->client.tls_ca_file
                   ? " (is rustymemd running there, and do its TLS certificate and your --tls-ca/--tls-cert match?)"
                   : " (is rustymemd running at that address?)";
    case GRPC_STATUS_DEADLINE_EXCEEDED: return " (raise --timeout?)";
    case GRPC_STATUS_UNAUTHENTICATED: return " (pass --token, --token-file, $RUSTYMEM_TOKEN or a client certificate)";
    case GRPC_STATUS_PERMISSION_DENIED: return " (this needs an admin identity)";
    default: return "";
    }
}

/* ---- help ------------------------------------------------------------------ */

static void
arg_synopsis(char *buf, size_t cap, const command_t *c, const arg_spec_t *a)
{
    const char *metavar = "";
    switch (a->kind) {
    case A_UINT: metavar = " N"; break;
    case A_DOUBLE: metavar = " F"; break;
    case A_DURATION: metavar = " DURATION"; break;
    case A_STRING: metavar = strcmp(a->name, "--service") == 0 ? " NAME" : ""; break;
    case A_STRINGS: metavar = " A,B"; break;
    case A_KEYVAL: metavar = " K=V"; break;
    case A_CHOICE:
        if (a->name[0] == '-') {
            char list[128] = " ";
            size_t len = 1;
            for (int i = 0; a->choices[i]; i++)
                len += (size_t)snprintf(list + len, sizeof list - len, "%s%s", i ? "|" : "", a->choices[i]);
            snprintf(buf, cap, "[%s%s]", a->name, list);
            return;
        }
        break;
    default: break;
    }
    if (a->name[0] != '-') {
        const ProtobufCEnumDescriptor *e = rm_arg_enum(c, a);
        if (e) {
            size_t n = 0;
            buf[0] = '\0';
            for (unsigned i = 0; i < e->n_values; i++) {
                if (e->values[i].value == 0 || e->values[i].value < a->enum_min)
                    continue;
                char w[64];
                rm_enum_word(e, &e->values[i], w, sizeof w);
                n += (size_t)snprintf(buf + n, n < cap ? cap - n : 0, "%s%s", n ? "|" : "", w);
            }
        } else {
            snprintf(buf, cap, "%s", a->name);
        }
        if (!(a->flags & ARG_REQUIRED)) {
            char t[256];
            snprintf(t, sizeof t, "[%s]", buf);
            snprintf(buf, cap, "%s", t);
        }
        return;
    }
    if (a->flags & ARG_REQUIRED)
        snprintf(buf, cap, "%s%s", a->name, metavar);
    else
        snprintf(buf, cap, "[%s%s]", a->name, metavar);
}

/* "watch [--interval DURATION] [--count N]" */
static void
synopsis(char *buf, size_t cap, const command_t *c)
{
    size_t n = (size_t)snprintf(buf, cap, "%s", c->words);
    for (int i = 0; i < MAX_ARGS && c->args[i].name && n < cap; i++) {
        char a[256];
        arg_synopsis(a, sizeof a, c, &c->args[i]);
        n += (size_t)snprintf(buf + n, cap - n, " %s", a);
    }
}

/* Print text from column `col`, wrapped before `width`; the first line continues the current one. */
static void
wrapped(FILE *f, const char *text, int col, int width)
{
    int at = col;
    const char *p = text;
    while (*p) {
        size_t w = strcspn(p, " ");
        if (at > col && at + 1 + (int)w > width) {
            fprintf(f, "\n%*s", col, "");
            at = col;
        } else if (at > col) {
            fputc(' ', f);
            at++;
        }
        fwrite(p, 1, w, f);
        at += (int)w;
        p += w;
        while (*p == ' ')
            p++;
    }
    fputc('\n', f);
}

/* The next command that help lists (not hidden), from rm_commands[*i] on, with its synopsis in head;
 * NULL after the last. */
static const command_t *
next_listed(size_t *i, char *head, size_t cap)
{
    for (; *i < N_COMMANDS; (*i)++) {
        const command_t *c = &rm_commands[*i];
        if (c->hidden)
            continue;
        (*i)++;
        synopsis(head, cap, c);
        return c;
    }
    return NULL;
}

static void
usage(FILE *f)
{
    fprintf(f, "usage: rustymemctl COMMAND [arguments] [options]\n"
               "\n"
               "Operate a rustymem node agent (rustymemd) or a rustymem-fleet controller over gRPC.\n"
               "Options go anywhere on the line, as --flag VALUE or --flag=VALUE.\n"
               "\n"
               "commands:\n");
    char head[512];
    size_t next = 0;
    for (const command_t *c; (c = next_listed(&next, head, sizeof head));) {
        if (strlen(head) > 36)   /* a long synopsis gets a line of its own */
            fprintf(f, "  %s\n  %-36s ", head, "");
        else
            fprintf(f, "  %-36s ", head);
        wrapped(f, c->summary, 39, 100);
    }
    fprintf(f, "\nglobal options:\n");
    for (size_t i = 0; i < sizeof global_help / sizeof global_help[0]; i++) {
        fprintf(f, "  %-26s ", global_help[i][0]);
        wrapped(f, global_help[i][1], 29, 100);
    }
    fprintf(f, "credentials (the same flags in rustymem-exporter, rustymem-fleet and rustymem-load):\n");
    rm_client_creds_help(f, "tls", 26);
    fprintf(f, "\n"
               "durations: 500ms, 30s, 5m, 1h, 1m30s; a bare number keeps the flag's old unit (named in its help)\n"
               "'rustymemctl help COMMAND' or 'rustymemctl COMMAND --help' for one command; docs/cli.md for all\n"
               "exit status: 0 success, 1 the call failed (status and message on stderr), 2 usage error,\n"
               "3 a knob change is live but not on disk (a restart loses it; the warning on stderr says why)\n");
}

static void
command_help(FILE *f, const command_t *c)
{
    char head[512];
    synopsis(head, sizeof head, c);
    fprintf(f, "usage: rustymemctl %s [global options]\n\n%s\n", head, c->summary);
    if (c->path)
        fprintf(f, "RPC: %s\n", c->path + 1);
    if (c->seed[0])
        fprintf(f, "replaces: %s\n", c->seed);
    if (c->args[0].name) {
        fprintf(f, "\narguments:\n");
        for (int i = 0; i < MAX_ARGS && c->args[i].name; i++) {
            const arg_spec_t *a = &c->args[i];
            char s[256];
            arg_synopsis(s, sizeof s, c, a);
            if (s[0] == '[')
                memmove(s, s + 1, strlen(s)), s[strlen(s) - 1] = '\0';
            fprintf(f, "  %-26s %s%s", s, a->help, (a->flags & ARG_REQUIRED) && a->name[0] == '-' ? " (required)" : "");
            if (a->kind == A_DURATION)
                fprintf(f, "; %s", rm_duration_expect(a->bare_unit) + strlen("expected "));
            fputc('\n', f);
        }
    }
    /* subcommands of a command that is also a group ("events" and "events follow") */
    size_t n = strlen(c->words);
    for (size_t i = 0; i < N_COMMANDS; i++)
        if (&rm_commands[i] != c && strncmp(rm_commands[i].words, c->words, n) == 0 && rm_commands[i].words[n] == ' ')
            fprintf(f, "\nsee also: rustymemctl %s --help\n", rm_commands[i].words);
    fprintf(f, "\nglobal options (--addr, --fleet, --timeout, -o, --no-headers, credentials): rustymemctl --help\n");
}

/* Help of a group ("stats", "knobs"): every command that starts with those words. 0 when there is none. */
static int
group_help(FILE *f, int n, char **words)
{
    char prefix[256] = "";
    size_t len = 0;
    for (int i = 0; i < n; i++)
        len += (size_t)snprintf(prefix + len, sizeof prefix - len, "%s%s", i ? " " : "", words[i]);
    int found = 0;
    for (size_t i = 0; i < N_COMMANDS; i++) {
        const command_t *c = &rm_commands[i];
        if (c->hidden || strncmp(c->words, prefix, len) != 0 || c->words[len] != ' ')
            continue;
        if (!found)
            fprintf(f, "usage: rustymemctl %s SUBCOMMAND [arguments] [options]\n\nsubcommands:\n", prefix);
        found = 1;
        char head[512];
        synopsis(head, sizeof head, c);
        fprintf(f, "  %s\n      %s\n", head, c->summary);
    }
    if (found)
        fprintf(f, "\n'rustymemctl %s SUBCOMMAND --help' for one of them\n", prefix);
    return found;
}

const command_t *
rm_find_command(int argc, char **argv, int *consumed)
{
    const command_t *best = NULL;
    int best_words = 0;
    for (size_t i = 0; i < N_COMMANDS; i++) {
        char words[96];
        snprintf(words, sizeof words, "%s", rm_commands[i].words);
        int n = 0, match = 1;
        for (char *save = NULL, *w = strtok_r(words, " ", &save); w; w = strtok_r(NULL, " ", &save), n++)
            if (n >= argc || strcmp(argv[n], w) != 0) {
                match = 0;
                break;
            }
        if (match && n > best_words) {
            best = &rm_commands[i];
            best_words = n;
        }
    }
    *consumed = best_words;
    return best;
}

/* No command matched argv. When argv[0] starts some commands ("stats", "knobs" …),
 * name the words that may follow it instead of calling the group itself unknown. */
static int
unknown_command(int argc, char **argv)
{
    char next[512] = "";
    size_t len = 0;
    for (size_t i = 0; i < N_COMMANDS; i++) {
        const char *w = rm_commands[i].words, *sp = strchr(w, ' ');
        if (!sp || (size_t)(sp - w) != strlen(argv[0]) || strncmp(w, argv[0], (size_t)(sp - w)) != 0)
            continue;
        const char *second = sp + 1;
        size_t n = strcspn(second, " ");
        int seen = 0;   /* list each word once */
        for (size_t j = 0; j < i && !seen; j++)
            seen = strncmp(rm_commands[j].words, w, (size_t)(second - w) + n) == 0 &&
                   (rm_commands[j].words[(second - w) + n] == ' ' || rm_commands[j].words[(second - w) + n] == '\0');
        if (!seen && len < sizeof next)
            len += (size_t)snprintf(next + len, sizeof next - len, "%s%.*s", len ? ", " : "", (int)n, second);
    }
    if (!next[0])
        return rm_usage_error("unknown command '%s' (see rustymemctl --help)", argv[0]);
    if (argc < 2)
        return rm_usage_error("%s: say which: %s (see rustymemctl %s --help)", argv[0], next, argv[0]);
    return rm_usage_error("unknown command '%s %s': after '%s' comes one of %s", argv[0], argv[1], argv[0], next);
}

static int
cmd_help(const command_t *cmd, global_t *g, int npos, char **pos)
{
    (void)cmd, (void)g;
    if (npos == 0) {
        usage(stdout);
        return 0;
    }
    int consumed;
    const command_t *c = rm_find_command(npos, pos, &consumed);
    if (c && consumed == npos) {
        command_help(stdout, c);
        return 0;
    }
    if (group_help(stdout, npos, pos))
        return 0;
    return unknown_command(npos, pos);
}

/* Print s for a Markdown table cell ('|' escaped). */
static void
md_cell(FILE *f, const char *s)
{
    for (; *s; s++) {
        if (*s == '|')
            fputc('\\', f);
        fputc(*s, f);
    }
}

/* docs/cli.md, generated from the same table (rustymemctl help-markdown). */
static int
cmd_help_markdown(const command_t *cmd, global_t *g, int npos, char **pos)
{
    (void)cmd, (void)g, (void)npos, (void)pos;
    FILE *f = stdout;
    /* every argument's field must exist in its request: the table cannot name a field the .proto lacks */
    for (size_t i = 0; i < N_COMMANDS; i++)
        for (int k = 0; k < MAX_ARGS && rm_commands[i].args[k].name; k++) {
            const arg_spec_t *a = &rm_commands[i].args[k];
            if (a->field && (!rm_commands[i].request || !resolve_field(NULL, rm_commands[i].request, a->field, NULL))) {
                fprintf(stderr, "rustymemctl: %s: %s names no field of the request (%s)\n", rm_commands[i].words,
                        a->name, a->field);
                return EXIT_RPC;
            }
        }
    fprintf(f, "# rustymemctl\n\n"
               "<!-- generated by `rustymemctl help-markdown`; tests/integration/test_cli.sh checks it -->\n\n"
               "`rustymemctl COMMAND [arguments] [options]` operates a rustymemd (or, with `--fleet`, a\n"
               "rustymem-fleet controller) over gRPC. Options go anywhere on the line, as `--flag VALUE` or\n"
               "`--flag=VALUE`; `-h`/`--help` after any command or group prints its help, and so does\n"
               "`rustymemctl help COMMAND`. Design: docs/adr/0024-cli-command-table.md.\n\n"
               "| command | RPC | replaces (seed) | what |\n|---|---|---|---|\n");
    char head[512];
    size_t next = 0;
    for (const command_t *c; (c = next_listed(&next, head, sizeof head));) {
        fprintf(f, "| `");
        md_cell(f, head);
        fprintf(f, "` | %s%s%s | ", c->path ? "`" : "", c->path ? c->path + 1 : "(client)", c->path ? "`" : "");
        md_cell(f, c->seed);
        fprintf(f, " | ");
        md_cell(f, c->summary);
        fprintf(f, " |\n");
    }
    fprintf(f, "\n## Arguments\n\n| command | argument | meaning |\n|---|---|---|\n");
    for (size_t i = 0; i < N_COMMANDS; i++) {
        const command_t *c = &rm_commands[i];
        for (int k = 0; !c->hidden && k < MAX_ARGS && c->args[k].name; k++) {
            const arg_spec_t *a = &c->args[k];
            char s[256];
            arg_synopsis(s, sizeof s, c, a);
            fprintf(f, "| `%s` | `", c->words);
            md_cell(f, s);
            fprintf(f, "` | ");
            md_cell(f, a->help);
            if ((a->flags & ARG_REQUIRED) && a->name[0] == '-')
                fprintf(f, " (required)");
            if (a->kind == A_DURATION)
                fprintf(f, "; %s", rm_duration_expect(a->bare_unit) + strlen("expected "));
            if (a->field)
                fprintf(f, "; request field `%s`", a->field);
            fprintf(f, " |\n");
        }
    }
    fprintf(f, "\n## Global options\n\n"
               "| option | environment | default | meaning |\n|---|---|---|---|\n"
               "| `--addr HOST:PORT` | `RUSTYMEM_ADDR` | `127.0.0.1:50051` | agent address (`[::1]:PORT`, `unix:/path` too) |\n"
               "| `--fleet HOST:PORT` | | | a rustymem-fleet controller (commands `nodes`, `fleet …`, `top`); deadline 600s |\n"
               "| `--timeout DURATION` | `RUSTYMEM_TIMEOUT` | `5s` | deadline per call; a bare number is milliseconds |\n"
               "| `-o`, `--output table\\|wide\\|json\\|yaml` | | `table` | output form (below) |\n"
               "| `--json` | | | the same as `-o json` |\n"
               "| `--no-headers` | | | tables without their title and header row |\n"
               "| `--version` | | | rustymemctl's version and, when reachable, the agent's (`MemoryStats.version`) |\n"
               "| `-h`, `--help` | | | help of the command or group named, else the overview; exit 0 |\n"
               "| `--token TOKEN` | `RUSTYMEM_TOKEN` | | bearer token (see docs/security.md); beats `--token-file` and the environment |\n"
               "| `--token-file FILE` | | | read the token from FILE (surrounding whitespace ignored; unreadable or empty = error); not with `--token`; beats `RUSTYMEM_TOKEN` |\n"
               "| `--tls-ca FILE` | | | use TLS, trusting this CA |\n"
               "| `--tls-cert FILE`, `--tls-key FILE` | | | client certificate for mTLS (both or neither) |\n"
               "| `--tls-server-name NAME` | | | name to check in the server certificate |\n"
               "\n## Output forms\n\n"
               "- `table` (default): scalar fields as `name  value` lines (bytes also in KiB/MiB/GiB, ratios as\n"
               "  percentages, `*_seconds` as durations, `*_unix_ms` as a date and an age, enum values as words:\n"
               "  `gentle`, not `PRESSURE_LEVEL_GENTLE`), then each list as a table in human units (`1.5 MiB`,\n"
               "  `3m ago`, `25.0%%`) that fits 100 columns: the columns that do not fit are named under it.\n"
               "- `wide`: the same with every column and the exact figures next to the human ones.\n"
               "- `json`: one object (a stream: one object a line) with every field, as docs/api.md describes.\n"
               "- `yaml`: the same document as YAML (a stream: one `---` document per message).\n"
               "\n## Against a SQLite process\n\n"
               "A SQLite program running under `librustymem_sqlite_agent` with `RUSTYMEM_LISTEN` (docs/sqlite.md) serves\n"
               "the same services, and these commands work against it unchanged: `health`, `stats` (the page\n"
               "cache is the buffer pool, SQLite's allocations the slab and large-object figures), `forecast`,\n"
               "`events`, `alerts`, `knobs get|list|diff`, `knobs set` of `buffer_pool.num_frames` (the page-cache\n"
               "budget, live), `memory.budget_bytes`, `pressure.*` and `alerts.*` (any other knob is refused: it has\n"
               "no effect there), `knobs reset`, `evict`, `gc`, `response trigger`, `admission on|off` (new\n"
               "`sqlite3_open` refused), `queries kill --older-than` (`sqlite3_interrupt`). `txn list`,\n"
               "`txn kill-orphaned` and `plan-cache clear` answer UNIMPLEMENTED (SQLite keeps no such server-side\n"
               "state; its SQL functions cover transactions, docs/sqlite.md); `knobs apply-profile` is refused,\n"
               "as a profile sets knobs that have no effect there.\n"
               "\n## Durations\n\n"
               "Every duration flag takes the same grammar: `NUMBER UNIT` pairs with the units `ms`, `s`, `m`,\n"
               "`h` (`500ms`, `30s`, `5m`, `1m30s`, `1.5s`). A bare number keeps the unit the flag had before\n"
               "the grammar existed: milliseconds for `--timeout` and `watch --interval`, seconds for\n"
               "`queries kill --older-than` and `fleet rollout --canary-wait`; `top --interval` requires a unit.\n"
               "\n## Completion\n\n"
               "`rustymemctl completion bash|zsh|fish` prints a script that completes commands, flags, enum\n"
               "values (levels, workloads, output forms) and knob names, which it asks the agent named by\n"
               "`--addr`/`RUSTYMEM_ADDR` on the line being completed (1 s deadline; nothing when unreachable):\n\n"
               "<!-- docs-test: skip: start-up lines, each for its own shell (test_cli_ux.sh runs them in bash, zsh "
               "and fish) -->\n"
               "```\n"
               "source <(rustymemctl completion bash)                 # ~/.bashrc\n"
               "source <(rustymemctl completion zsh)                  # ~/.zshrc, after compinit\n"
               "rustymemctl completion fish | source                  # ~/.config/fish/config.fish\n"
               "```\n"
               "\n## top\n\n"
               "`rustymemctl top` redraws one screen in place (alternate screen, no scrolling) every\n"
               "`--interval`: the agent's level, usage, time to critical, buffer-pool hit ratio, then one row\n"
               "per memory component with used and held bytes and their change since the previous refresh.\n"
               "With `--fleet` it shows one row per node (level, usage, RSS and its change, time to critical).\n"
               "Keys: `q` quits, `u`/`h`/`d`/`n` sort by used, held, delta, name. The terminal is restored on\n"
               "exit and on SIGINT/SIGTERM/SIGHUP. With `--count N` it stops after N refreshes; when stdout is\n"
               "not a terminal it prints the frames one after another and needs `--count`.\n"
               "\n## Exit status\n\n"
               "| code | meaning |\n|---|---|\n"
               "| 0 | success (also `--help`, `help`, `--version`) |\n"
               "| 1 | the call failed: one line on stderr with the gRPC status name, the server's message and a hint |\n"
               "| 2 | usage error: one line on stderr naming the argument |\n"
               "| 3 | `knobs set`, `knobs reset`, `knobs apply-profile`: the change is made and live, but it is "
               "not on disk (the write failed, or had not finished near the call's deadline); a warning on stderr "
               "says which, and a restart or crash loses the change. An agent without a knob file "
               "(persist generation 0) never gives 3 |\n");
    return 0;
}

static int
cmd_version(const command_t *cmd, global_t *g, int npos, char **pos)
{
    (void)cmd, (void)npos, (void)pos;
    printf("rustymemctl %s\n", RM_VERSION);
    fflush(stdout);
    /* The agent reports its version in MemoryStats.version; a short deadline: --version must not hang. */
    if (g->client.timeout_ms > 2000)
        g->client.timeout_ms = 2000;
    rm_client_t *client;
    int rc = rm_open_client(g, &client);
    if (rc)
        return rc;
    Rustymem__V1__GetMemoryStatsRequest req = RUSTYMEM__V1__GET_MEMORY_STATS_REQUEST__INIT;
    ProtobufCMessage *resp = NULL;
    rm_call_status_t st;
    grpc_status_code code = rm_client_unary(client, RPC("MemoryService", "GetMemoryStats"), &req.base,
                                            &rustymem__v1__memory_stats__descriptor, &resp, &st);
    if (code == GRPC_STATUS_OK) {
        const Rustymem__V1__MemoryStats *m = (const void *)resp;
        printf("rustymemd %s (node %s at %s)\n", m->version && m->version[0] ? m->version : "(not reported)",
               m->node_name && m->node_name[0] ? m->node_name : "?", g->client.target);
        protobuf_c_message_free_unpacked(resp, NULL);
    } else if (code == GRPC_STATUS_UNIMPLEMENTED) {
        printf("server at %s: reports no version (%s%s)\n", g->client.target,
               g->fleet ? "a rustymem-fleet controller; `rustymemctl --fleet … nodes` shows each agent's" :
                          "no MemoryService",
               "");
    } else {
        printf("server at %s: version unknown (%s: %s)\n", g->client.target, rm_client_status_name(code),
               st.message[0] ? st.message : "no message");
    }
    rm_client_destroy(client);
    return 0;
}

/* knobs diff: ListKnobs(changed_only) as NAME VALUE DEFAULT SOURCE (json/yaml: the KnobInfo list). */
static int
cmd_knobs_diff(const command_t *cmd, global_t *g, int npos, char **pos)
{
    (void)npos, (void)pos;
    rm_client_t *client;
    int rc = rm_open_client(g, &client);
    if (rc)
        return rc;
    Rustymem__V1__ListKnobsRequest req = RUSTYMEM__V1__LIST_KNOBS_REQUEST__INIT;
    req.changed_only = 1;
    ProtobufCMessage *resp = NULL;
    rm_call_status_t st;
    grpc_status_code code = rm_client_unary(client, RPC("TuningService", "ListKnobs"), &req.base,
                                            &rustymem__v1__list_knobs_response__descriptor, &resp, &st);
    rm_client_destroy(client);
    if (code != GRPC_STATUS_OK) {
        fprintf(stderr, "rustymemctl: %s: %s: %s%s\n", cmd->words, rm_client_status_name(code),
                st.message[0] ? st.message : "(no message)", rm_hint_for(code, g));
        return EXIT_RPC;
    }
    const Rustymem__V1__ListKnobsResponse *r = (const void *)resp;
    if (g->render.mode == RM_OUT_JSON || g->render.mode == RM_OUT_YAML) {
        rm_render(stdout, resp, &g->render);
    } else {
        if (!g->render.no_headers)
            printf("%-40s %-16s %-16s %s\n", "NAME", "VALUE", "DEFAULT", "SOURCE");
        for (size_t i = 0; i < r->n_knobs; i++)
            printf("%-40s %-16s %-16s %s%s\n", r->knobs[i]->name, r->knobs[i]->value,
                   r->knobs[i]->default_value, r->knobs[i]->source,
                   r->knobs[i]->pending_restart ? " (pending restart)" : "");
    }
    protobuf_c_message_free_unpacked(resp, NULL);
    return 0;
}

/* Print every message of a server stream; on a terminal, redraw in place. */
static int
run_stream(rm_client_t *client, const command_t *cmd, const ProtobufCMessage *req, const global_t *g)
{
    rm_client_stream_t *s;
    rm_call_status_t st;
    if (rm_client_stream_open(client, cmd->path, req, 0, &s, &st) != GRPC_STATUS_OK) {
        fprintf(stderr, "rustymemctl: %s: %s: %s\n", cmd->words, rm_client_status_name(st.code), st.message);
        return EXIT_RPC;
    }
    int table = g->render.mode == RM_OUT_TABLE || g->render.mode == RM_OUT_WIDE;
    int tty = isatty(STDOUT_FILENO) && table;
    int n = 0;
    ProtobufCMessage *m;
    while ((watch_count == 0 || n < watch_count) && rm_client_stream_next(s, cmd->response, &m) == 1) {
        if (tty) {
            /* redraw in place, cut to the terminal: a long frame does not scroll */
            char *buf = NULL;
            size_t len = 0;
            FILE *ms = open_memstream(&buf, &len);
            if (ms) {
                rm_render_stream_item(ms, m, &g->render);
                fclose(ms);
                rm_draw_in_place(stdout, buf);
                free(buf);
            }
        } else {
            if (n && table)
                fputs("\n", stdout);
            rm_render_stream_item(stdout, m, &g->render);
        }
        fflush(stdout);
        protobuf_c_message_free_unpacked(m, NULL);
        n++;
    }
    rm_client_stream_finish(s, &st);
    /* Stopping after --count cancels the stream ourselves: that is success. */
    if (watch_count && n == watch_count)
        return 0;
    if (st.code != GRPC_STATUS_OK) {
        fprintf(stderr, "rustymemctl: %s: %s: %s%s\n", cmd->words, rm_client_status_name(st.code),
                st.message[0] ? st.message : "(no message)", rm_hint_for(st.code, g));
        return EXIT_RPC;
    }
    return 0;
}

static int
parse_timeout(const char *s, int *out)
{
    double sec;
    if (rm_parse_duration(s, "ms", &sec) < 0 || sec < 0.001 || sec > 3600.0)
        return -1;
    *out = (int)nearbyint(sec * 1000.0);
    return 0;
}

/* ---- the one parser --------------------------------------------------------- */

/* Every distinct command flag, for one getopt_long table (a flag name means the same kind everywhere). */
const char *cmd_flag_names[64];
static int cmd_flag_has_arg[64];
static size_t n_cmd_flags;

void
rm_collect_cmd_flags(void)
{
    for (size_t i = 0; i < N_COMMANDS; i++)
        for (int k = 0; k < MAX_ARGS && rm_commands[i].args[k].name; k++) {
            const arg_spec_t *a = &rm_commands[i].args[k];
            if (a->name[0] != '-')
                continue;
            size_t j;
            for (j = 0; j < n_cmd_flags; j++)
                if (strcmp(cmd_flag_names[j], a->name + 2) == 0)
                    break;
            if (j == n_cmd_flags && n_cmd_flags < 64) {
                cmd_flag_names[n_cmd_flags] = a->name + 2;
                cmd_flag_has_arg[n_cmd_flags] = a->kind != A_BOOL;
                n_cmd_flags++;
            }
        }
}

typedef struct given_flag {
    size_t id;          /* index into cmd_flag_names */
    const char *value;  /* NULL for a bool flag */
} given_flag_t;

int
rm_option_takes_value(const char *name, size_t len, int *known)
{
    for (size_t i = 0; i < N_GLOBAL_OPTS; i++)
        if (strlen(global_opts[i].name) == len && strncmp(global_opts[i].name, name, len) == 0) {
            *known = 1;
            return global_opts[i].has_arg != no_argument;
        }
    for (size_t i = 0; i < n_cmd_flags; i++)
        if (strlen(cmd_flag_names[i]) == len && strncmp(cmd_flag_names[i], name, len) == 0) {
            *known = 1;
            return cmd_flag_has_arg[i];
        }
    *known = 0;
    return 0;
}

int
main(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "__complete") == 0)
        return rm_complete_main(argc, argv);

    global_t g;
    memset(&g, 0, sizeof g);
    g.client.target = getenv("RUSTYMEM_ADDR") && *getenv("RUSTYMEM_ADDR") ? getenv("RUSTYMEM_ADDR")
                                                                        : "127.0.0.1:50051";
    g.client.timeout_ms = 5000;
    g.render.mode = RM_OUT_TABLE;
    const char *env_timeout = getenv("RUSTYMEM_TIMEOUT");
    if (env_timeout && *env_timeout && parse_timeout(env_timeout, &g.client.timeout_ms) < 0)
        return rm_usage_error("RUSTYMEM_TIMEOUT=%s: expected a duration in 1ms..1h like 500ms or 5s (a bare number "
                              "is milliseconds)", env_timeout);
    int timeout_given = env_timeout && *env_timeout;

    rm_collect_cmd_flags();
    struct option *opts = xcalloc((N_GLOBAL_OPTS + n_cmd_flags + 1) * sizeof *opts);
    memcpy(opts, global_opts, sizeof global_opts);
    for (size_t i = 0; i < n_cmd_flags; i++)
        opts[N_GLOBAL_OPTS + i] = (struct option){cmd_flag_names[i], cmd_flag_has_arg[i] ? required_argument
                                                                                           : no_argument, 0,
                                                  O_CMD_BASE + (int)i};

    char **pos = xcalloc((size_t)argc * sizeof *pos);
    given_flag_t *given = xcalloc((size_t)argc * sizeof *given);
    int npos = 0, ngiven = 0, help = 0, version = 0;
    char err[600] = "";
    opterr = 0;
    optind = 1;
    int c;
    /* '-': non-options come back in order as code 1; ':' reports a missing value as ':' */
    while ((c = getopt_long(argc, argv, "-:o:h", opts, NULL)) != -1) {
        const char *arg = argv[optind - 1];
        switch (c) {
        case 1: pos[npos++] = optarg; break;
        case 'h': help = 1; break;
        case O_VERSION: version = 1; break;
        case O_ADDR:
        case O_FLEET:
            g.client.target = optarg;
            g.fleet = c == O_FLEET;
            if (g.fleet && !timeout_given)
                g.client.timeout_ms = 600000; /* rollouts wait for canaries and batches */
            break;
        case O_TIMEOUT:
            if (parse_timeout(optarg, &g.client.timeout_ms) < 0 && !err[0])
                snprintf(err, sizeof err, "--timeout %s: expected a duration in 1ms..1h like 500ms or 5s (a bare "
                                          "number is milliseconds)", optarg);
            timeout_given = 1;
            break;
        case 'o':
            if (strcmp(optarg, "json") == 0)
                g.render.mode = RM_OUT_JSON;
            else if (strcmp(optarg, "yaml") == 0)
                g.render.mode = RM_OUT_YAML;
            else if (strcmp(optarg, "wide") == 0)
                g.render.mode = RM_OUT_WIDE;
            else if (strcmp(optarg, "table") == 0)
                g.render.mode = RM_OUT_TABLE;
            else if (!err[0])
                snprintf(err, sizeof err, "--output %s: expected table, wide, json or yaml", optarg);
            break;
        case O_JSON: g.render.mode = RM_OUT_JSON; break;
        case O_NO_HEADERS: g.render.no_headers = 1; break;
        case ':':
            if (!err[0]) {
                char name[128];
                snprintf(name, sizeof name, "%s", arg);
                if (optopt == 'o')
                    snprintf(name, sizeof name, "-o");
                snprintf(err, sizeof err, "%s needs a value", name);
            }
            break;
        case '?':
            if (!err[0]) {
                if (strncmp(arg, "--", 2) == 0) {
                    const char *eq = strchr(arg, '=');
                    int known;
                    size_t len = eq ? (size_t)(eq - arg - 2) : strlen(arg + 2);
                    if (eq && !rm_option_takes_value(arg + 2, len, &known) && known)
                        snprintf(err, sizeof err, "--%.*s takes no value ('%s')", (int)len, arg + 2, arg);
                    else
                        snprintf(err, sizeof err, "unknown option %.*s", (int)len + 2, arg);
                } else {
                    snprintf(err, sizeof err, "unknown option -%c", optopt ? optopt : '?');
                }
            }
            break;
        default:
            if (c >= O_CRED_BASE && c < O_CRED_BASE + RM_CRED_N_FLAGS) {
                rm_client_creds_set(&g.creds, (rm_client_cred_flag_t)(c - O_CRED_BASE), optarg);
            } else if (c >= O_CMD_BASE && c < O_CMD_BASE + (int)n_cmd_flags) {
                given[ngiven].id = (size_t)(c - O_CMD_BASE);
                given[ngiven].value = optarg;
                ngiven++;
            }
            break;
        }
    }
    while (optind < argc)   /* after "--" */
        pos[npos++] = argv[optind++];

    int consumed = 0;
    const command_t *cmd = npos ? rm_find_command(npos, pos, &consumed) : NULL;
    int rc = 0;
    if (help) {
        if (npos == 0)
            usage(stdout);
        else if (cmd && cmd->local == cmd_help && npos > consumed)
            rc = cmd_help(cmd, &g, npos - consumed, pos + consumed);
        else if (cmd && (consumed == npos || !group_help(stdout, npos, pos)))
            command_help(stdout, cmd);
        else if (!cmd && !group_help(stdout, npos, pos))
            rc = unknown_command(npos, pos);
        goto out;
    }
    if (err[0]) {
        rc = rm_usage_error("%s%s%s (see rustymemctl %s%s--help)", cmd ? cmd->words : "", cmd ? ": " : "", err,
                            cmd ? cmd->words : "", cmd ? " " : "");
        goto out;
    }
    if (version) {
        rc = cmd_version(NULL, &g, 0, NULL);
        goto out;
    }
    if (npos == 0) {
        usage(stderr);
        rc = EXIT_USAGE;
        goto out;
    }
    if (!cmd || cmd->hidden) {
        rc = unknown_command(npos, pos);
        goto out;
    }

    /* the command's flags: each given flag must be one of its own */
    ProtobufCMessage *req = NULL;
    if (cmd->request) {
        req = xcalloc(cmd->request->sizeof_message);
        cmd->request->message_init(req);
        /* knob changes reply once they are on disk (docs/adr/0031) */
        const ProtobufCFieldDescriptor *wp =
            protobuf_c_message_descriptor_get_field_by_name(cmd->request, "wait_persisted");
        if (wp)
            *(protobuf_c_boolean *)((char *)req + wp->offset) = 1;
    }
    int seen[MAX_ARGS] = {0};
    for (int i = 0; i < ngiven; i++) {
        const char *name = cmd_flag_names[given[i].id];
        int k;
        for (k = 0; k < MAX_ARGS && cmd->args[k].name; k++)
            if (cmd->args[k].name[0] == '-' && strcmp(cmd->args[k].name + 2, name) == 0)
                break;
        if (k == MAX_ARGS || !cmd->args[k].name) {
            rc = rm_usage_error("%s: unknown option --%s (see rustymemctl %s --help)", cmd->words, name, cmd->words);
            goto out;
        }
        seen[k] = 1;
        if ((rc = apply_arg(cmd, &cmd->args[k], req, given[i].value)))
            goto out;
    }
    /* positionals, in order; a spec named "X..." takes the rest */
    int p = consumed, k = 0;
    if (cmd->local == cmd_help) {
        rc = cmd_help(cmd, &g, npos - consumed, pos + consumed);
        goto out;
    }
    for (; p < npos; p++) {
        while (k < MAX_ARGS && cmd->args[k].name && cmd->args[k].name[0] == '-')
            k++;
        if (k == MAX_ARGS || !cmd->args[k].name) {
            rc = rm_usage_error("%s: unexpected argument '%s' (see rustymemctl %s --help)", cmd->words, pos[p],
                                cmd->words);
            goto out;
        }
        seen[k] = 1;
        if ((rc = apply_arg(cmd, &cmd->args[k], req, pos[p])))
            goto out;
        if (!strstr(cmd->args[k].name, "..."))
            k++;
    }
    for (k = 0; k < MAX_ARGS && cmd->args[k].name; k++)
        if ((cmd->args[k].flags & ARG_REQUIRED) && !seen[k]) {
            char s[256];
            arg_synopsis(s, sizeof s, cmd, &cmd->args[k]);
            rc = rm_usage_error("%s: %s %s is required (see rustymemctl %s --help)", cmd->words,
                                cmd->args[k].name[0] == '-' ? "option" : "argument", s, cmd->words);
            goto out;
        }

    if (cmd->local) {
        rc = cmd->local(cmd, &g, npos - consumed, pos + consumed);
        goto out;
    }

    rm_client_t *client;
    if ((rc = rm_open_client(&g, &client)))
        goto out;
    if (cmd->stream) {
        rc = run_stream(client, cmd, req, &g);
        rm_client_destroy(client);
        goto out;
    }
    ProtobufCMessage *resp = NULL;
    rm_call_status_t st;
    grpc_status_code code = rm_client_unary(client, cmd->path, req, cmd->response, &resp, &st);
    if (code != GRPC_STATUS_OK) {
        fprintf(stderr, "rustymemctl: %s: %s: %s%s\n", cmd->words, rm_client_status_name(code),
                st.message[0] ? st.message : "(no message)", rm_hint_for(code, &g));
        rc = EXIT_RPC;
    } else if (cmd->response == &grpc__health__v1__health_check_response__descriptor &&
               g.render.mode != RM_OUT_JSON && g.render.mode != RM_OUT_YAML) {
        const Grpc__Health__V1__HealthCheckResponse *h = (const void *)resp;
        const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value(
            &grpc__health__v1__health_check_response__serving_status__descriptor, h->status);
        printf("%s\n", ev ? ev->name : "UNKNOWN");
        if (h->status != GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING)
            rc = EXIT_RPC;
    } else {
        rm_render(stdout, resp, &g.render);
        if (cmd->response == &rustymem__v1__set_knobs_response__descriptor) {
            /* the change is made; say what the next restart will undo */
            const Rustymem__V1__SetKnobsResponse *sr = (const void *)resp;
            for (size_t i = 0; i < sr->n_warnings; i++)
                fprintf(stderr, "rustymemctl: warning: %s\n", sr->warnings[i]);
            /* the CLI always waits for the write (wait_persisted above): a
             * change the agent persists but could not is not a success a
             * script may take for durable */
            if (sr->applied && sr->persist_generation != 0 && !sr->persisted)
                rc = EXIT_NOT_PERSISTED;
        }
    }
    if (resp)
        protobuf_c_message_free_unpacked(resp, NULL);
    rm_client_destroy(client);
out:
    rm_client_creds_free(&g.creds);
    free_all();
    return rc;
}
