/*
 * rustymemctl.c — the rustymem operator CLI.
 *
 * Design note: commands are one table (words, RPC path, request/response
 * descriptors, the seed function it replaces, help). Parsing, --help text and
 * docs/cli.md all come from that table, so they cannot drift apart. Output is
 * rendered from the response descriptors (render.c), in table or JSON form.
 *
 * Exit codes: 0 success; 1 the RPC failed (status name and message on
 * stderr, one line); 2 usage error.
 */
#include <errno.h>
#include <stdint.h>
#include <grpc/grpc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "client.h"
#include "grpc/health/v1/health.pb-c.h"
#include "render.h"
#include "rustymem/v1/emergency.pb-c.h"
#include "rustymem/v1/fleet.pb-c.h"
#include "rustymem/v1/forecast.pb-c.h"
#include "rustymem/v1/memory.pb-c.h"
#include "rustymem/v1/tuning.pb-c.h"

#define EXIT_RPC 1
#define EXIT_USAGE 2

typedef struct global {
    rm_client_opts_t client;
    rm_client_creds_t creds;   /* --token, --token-file, --tls-* (client.h) */
    int json;
} global_t;

typedef struct command command_t;
typedef int (*build_fn)(const command_t *cmd, int argc, char **argv, ProtobufCMessage **req);

struct command {
    const char *words;                          /* "stats memory" */
    const char *path;                           /* RPC */
    const ProtobufCMessageDescriptor *request;
    const ProtobufCMessageDescriptor *response;
    const char *seed;                           /* seed function or REST path it replaces, or "" */
    const char *summary;
    const char *args_help;                      /* extra arguments, or "" */
    build_fn build;                             /* NULL: empty request, no arguments */
    int stream;                                 /* server-streaming RPC: print every message */
};

static int watch_count; /* watch --count N: stop after N updates (0 = until interrupted) */

static int
usage_error(const char *fmt, const char *arg)
{
    fprintf(stderr, "rustymemctl: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, " (see rustymemctl --help)\n");
    return EXIT_USAGE;
}

/* health [--service NAME] */
static int
build_health(const command_t *cmd, int argc, char **argv, ProtobufCMessage **req)
{
    Grpc__Health__V1__HealthCheckRequest *r = calloc(1, sizeof *r);
    if (!r)
        return EXIT_RPC;
    grpc__health__v1__health_check_request__init(r);
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--service") == 0 && i + 1 < argc)
            r->service = argv[++i];
        else {
            free(r);
            return usage_error("health: unexpected argument '%s'", argv[i]);
        }
    }
    *req = &r->base;
    return 0;
}

/*
 * Request builders allocate the request and everything it points to in one
 * block, so main() frees it with a single free().
 */

/* knobs list [PREFIX] */
static int
build_knobs_list(const command_t *cmd, int argc, char **argv, ProtobufCMessage **req)
{
    if (argc > 1)
        return usage_error("knobs list: unexpected argument '%s'", argv[1]);
    Rustymem__V1__ListKnobsRequest *r = calloc(1, sizeof *r);
    if (!r)
        return EXIT_RPC;
    rustymem__v1__list_knobs_request__init(r);
    if (argc == 1)
        r->prefix = argv[0];
    *req = &r->base;
    return 0;
}

/* knobs get NAME... */
static int
build_knobs_get(const command_t *cmd, int argc, char **argv, ProtobufCMessage **req)
{
    if (argc == 0)
        return usage_error("%s", "knobs get: name at least one knob");
    Rustymem__V1__GetKnobsRequest *r = calloc(1, sizeof *r + (size_t)argc * sizeof(char *));
    if (!r)
        return EXIT_RPC;
    rustymem__v1__get_knobs_request__init(r);
    r->names = (char **)(r + 1);
    for (int i = 0; i < argc; i++) {
        if (argv[i][0] == '-') {
            free(r);
            return usage_error("knobs get: unexpected option '%s'", argv[i]);
        }
        r->names[i] = argv[i];
    }
    r->n_names = (size_t)argc;
    *req = &r->base;
    return 0;
}

/* knobs set NAME=VALUE... [--validate-only] */
static int
build_knobs_set(const command_t *cmd, int argc, char **argv, ProtobufCMessage **req)
{
    size_t n = (size_t)argc;
    Rustymem__V1__SetKnobsRequest *r =
        calloc(1, sizeof *r + n * (sizeof(Rustymem__V1__KnobAssignment *) + sizeof(Rustymem__V1__KnobAssignment)));
    if (!r)
        return EXIT_RPC;
    rustymem__v1__set_knobs_request__init(r);
    r->assignments = (Rustymem__V1__KnobAssignment **)(r + 1);
    Rustymem__V1__KnobAssignment *a = (Rustymem__V1__KnobAssignment *)(r->assignments + n);
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--validate-only") == 0) {
            r->validate_only = 1;
            continue;
        }
        char *eq = strchr(argv[i], '=');
        if (!eq || eq == argv[i]) {
            free(r);
            return usage_error("knobs set: '%s' is not NAME=VALUE", argv[i]);
        }
        *eq = '\0';
        rustymem__v1__knob_assignment__init(&a[r->n_assignments]);
        a[r->n_assignments].name = argv[i];
        a[r->n_assignments].value = eq + 1;
        r->assignments[r->n_assignments] = &a[r->n_assignments];
        r->n_assignments++;
    }
    if (r->n_assignments == 0) {
        free(r);
        return usage_error("%s", "knobs set: give at least one NAME=VALUE");
    }
    *req = &r->base;
    return 0;
}

/* knobs apply-profile WORKLOAD ENVIRONMENT [--validate-only] */
static int
build_apply_profile(const command_t *cmd, int argc, char **argv, ProtobufCMessage **req)
{
    static const char *const workloads[] = {"", "oltp", "olap", "mixed"};
    static const char *const envs[] = {"", "development", "production", "mission_critical"};
    Rustymem__V1__ApplyProfileRequest *r = calloc(1, sizeof *r);
    if (!r)
        return EXIT_RPC;
    rustymem__v1__apply_profile_request__init(r);
    int pos = 0;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--validate-only") == 0) {
            r->validate_only = 1;
            continue;
        }
        int found = 0;
        if (pos == 0) {
            for (int w = 1; w < 4; w++)
                if (strcasecmp(argv[i], workloads[w]) == 0) {
                    r->workload = (Rustymem__V1__Workload)w;
                    found = 1;
                }
            if (!found) {
                free(r);
                return usage_error("knobs apply-profile: workload '%s': expected oltp, olap or mixed", argv[i]);
            }
        } else if (pos == 1) {
            for (int e = 1; e < 4; e++)
                if (strcasecmp(argv[i], envs[e]) == 0 ||
                    (e == 3 && strcasecmp(argv[i], "mission-critical") == 0)) {
                    r->environment = (Rustymem__V1__Environment)e;
                    found = 1;
                }
            if (!found) {
                free(r);
                return usage_error("knobs apply-profile: environment '%s': expected development, production or "
                                   "mission_critical",
                                   argv[i]);
            }
        } else {
            free(r);
            return usage_error("knobs apply-profile: unexpected argument '%s'", argv[i]);
        }
        pos++;
    }
    if (pos != 2) {
        free(r);
        return usage_error("%s", "knobs apply-profile: give WORKLOAD and ENVIRONMENT");
    }
    *req = &r->base;
    return 0;
}

/* watch [--interval MS] [--count N] */
static int
build_watch(const command_t *cmd, int argc, char **argv, ProtobufCMessage **req)
{
    Rustymem__V1__WatchStatsRequest *r = calloc(1, sizeof *r);
    if (!r)
        return EXIT_RPC;
    rustymem__v1__watch_stats_request__init(r);
    for (int i = 0; i < argc; i++) {
        char *end;
        if ((strcmp(argv[i], "--interval") == 0 || strcmp(argv[i], "--count") == 0) && i + 1 < argc) {
            long v = strtol(argv[i + 1], &end, 10);
            if (*end || v < 0 || v > 3600000) {
                free(r);
                return usage_error("watch: %s needs a whole number", argv[i]);
            }
            if (argv[i][2] == 'i')
                r->interval_ms = (uint32_t)v;
            else
                watch_count = (int)v;
            i++;
        } else {
            free(r);
            return usage_error("watch: unexpected argument '%s'", argv[i]);
        }
    }
    *req = &r->base;
    return 0;
}

/* coalesce [--release] */
static int
build_coalesce(const command_t *cmd, int argc, char **argv, ProtobufCMessage **req)
{
    Rustymem__V1__CoalesceLargeObjectsRequest *r = calloc(1, sizeof *r);
    if (!r)
        return EXIT_RPC;
    rustymem__v1__coalesce_large_objects_request__init(r);
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--release") == 0)
            r->release_to_os = 1;
        else {
            free(r);
            return usage_error("coalesce: unexpected argument '%s'", argv[i]);
        }
    }
    *req = &r->base;
    return 0;
}

/* Parse "--flag N" pairs into uint64 slots; returns 0 or a usage error. */
static int
parse_u64_flags(const char *cmd, int argc, char **argv, const char *const *flags, uint64_t *out, size_t n)
{
    for (int i = 0; i < argc; i += 2) {   /* "--flag N" pairs */
        size_t k;
        for (k = 0; k < n; k++)
            if (strcmp(argv[i], flags[k]) == 0)
                break;
        if (k == n || i + 1 >= argc)
            return usage_error("unexpected argument '%s'", argv[i]);
        char *end;
        errno = 0;
        unsigned long long v = strtoull(argv[i + 1], &end, 10);
        if (errno || *end || argv[i + 1][0] == '-') {
            fprintf(stderr, "rustymemctl: %s: %s %s: expected a whole number\n", cmd, argv[i], argv[i + 1]);
            return EXIT_USAGE;
        }
        out[k] = v;
    }
    return 0;
}

/* evict --fraction F */
static int
build_evict(const command_t *cmd, int argc, char **argv, ProtobufCMessage **req)
{
    if (argc != 2 || strcmp(argv[0], "--fraction") != 0)
        return usage_error("%s", "evict: give --fraction F (0 < F <= 1)");
    char *end;
    errno = 0;
    double f = strtod(argv[1], &end);
    if (errno || *end || end == argv[1])
        return usage_error("evict: --fraction %s: expected a number in (0, 1]", argv[1]);
    Rustymem__V1__EvictBufferPoolRequest *r = calloc(1, sizeof *r);
    if (!r)
        return EXIT_RPC;
    rustymem__v1__evict_buffer_pool_request__init(r);
    r->fraction = f; /* the range is the server's to check: one rule, one message */
    *req = &r->base;
    return 0;
}

/* events [--after ID] [--limit N] */
static int
build_events(const command_t *cmd, int argc, char **argv, ProtobufCMessage **req)
{
    static const char *const flags[] = {"--after", "--limit"};
    uint64_t v[2] = {0, 0};
    int rc = parse_u64_flags("events", argc, argv, flags, v, 2);
    if (rc)
        return rc;
    Rustymem__V1__ListPressureEventsRequest *r = calloc(1, sizeof *r);
    if (!r)
        return EXIT_RPC;
    rustymem__v1__list_pressure_events_request__init(r);
    r->after_id = v[0];
    r->limit = (uint32_t)(v[1] > UINT32_MAX ? UINT32_MAX : v[1]);
    *req = &r->base;
    return 0;
}

/* events follow [--after ID] */
static int
build_events_follow(const command_t *cmd, int argc, char **argv, ProtobufCMessage **req)
{
    static const char *const flags[] = {"--after"};
    uint64_t v[1] = {0};
    int rc = parse_u64_flags("events follow", argc, argv, flags, v, 1);
    if (rc)
        return rc;
    Rustymem__V1__WatchPressureRequest *r = calloc(1, sizeof *r);
    if (!r)
        return EXIT_RPC;
    rustymem__v1__watch_pressure_request__init(r);
    r->after_id = v[0];
    *req = &r->base;
    return 0;
}

/* response trigger gentle|aggressive|emergency|oom_prevention */
static int
build_trigger(const command_t *cmd, int argc, char **argv, ProtobufCMessage **req)
{
    static const char *const levels[] = {"gentle", "aggressive", "emergency", "oom_prevention"};
    if (argc != 1)
        return usage_error("%s", "response trigger: give one LEVEL (gentle, aggressive, emergency, oom_prevention)");
    Rustymem__V1__TriggerResponseRequest *r = calloc(1, sizeof *r);
    if (!r)
        return EXIT_RPC;
    rustymem__v1__trigger_response_request__init(r);
    for (int i = 0; i < 4; i++)
        if (strcasecmp(argv[0], levels[i]) == 0 || (i == 3 && strcasecmp(argv[0], "oom-prevention") == 0))
            r->level = (Rustymem__V1__PressureLevel)(RUSTYMEM__V1__PRESSURE_LEVEL__PRESSURE_LEVEL_GENTLE + i);
    if (!r->level) {
        free(r);
        return usage_error("response trigger: level '%s': expected gentle, aggressive, emergency or oom_prevention",
                           argv[0]);
    }
    *req = &r->base;
    return 0;
}

/*
 * Fleet selectors: --names a,b,c and --label k=v (repeatable). The request
 * block holds the selector, its name array and label entries; strings point
 * into argv.
 */
typedef struct selector_block {
    Rustymem__V1__NodeSelector sel;
    char *names[64];
    Rustymem__V1__NodeSelector__LabelsEntry entries[16];
    Rustymem__V1__NodeSelector__LabelsEntry *entry_ptrs[16];
} selector_block_t;

/* Consume a selector flag at argv[*i]; 1 if consumed, 0 if not a selector flag, -1 on error. */
static int
parse_selector_flag(const char *cmd, int argc, char **argv, int *i, selector_block_t *b)
{
    if (strcmp(argv[*i], "--names") == 0 && *i + 1 < argc) {
        for (char *save = NULL, *n = strtok_r(argv[++*i], ",", &save); n; n = strtok_r(NULL, ",", &save)) {
            if (b->sel.n_names == 64) {
                fprintf(stderr, "rustymemctl: %s: at most 64 --names\n", cmd);
                return -1;
            }
            b->names[b->sel.n_names++] = n;
        }
        b->sel.names = b->names;
        return 1;
    }
    if (strcmp(argv[*i], "--label") == 0 && *i + 1 < argc) {
        char *kv = argv[++*i], *eq = strchr(kv, '=');
        if (!eq || eq == kv || b->sel.n_labels == 16) {
            fprintf(stderr, "rustymemctl: %s: --label %s: expected KEY=VALUE (at most 16)\n", cmd, kv);
            return -1;
        }
        *eq = '\0';
        Rustymem__V1__NodeSelector__LabelsEntry *e = &b->entries[b->sel.n_labels];
        rustymem__v1__node_selector__labels_entry__init(e);
        e->key = kv;
        e->value = eq + 1;
        b->entry_ptrs[b->sel.n_labels++] = e;
        b->sel.labels = b->entry_ptrs;
        return 1;
    }
    return 0;
}

/* fleet rollout WORKLOAD ENVIRONMENT [--names …] [--label k=v] [--canary-wait S] [--batch-size N] */
static int
build_rollout(const command_t *cmd, int argc, char **argv, ProtobufCMessage **req)
{
    static const char *const workloads[] = {"", "oltp", "olap", "mixed"};
    static const char *const envs[] = {"", "development", "production", "mission_critical"};
    struct {
        Rustymem__V1__FleetApplyProfileRequest r;
        selector_block_t b;
    } *blk = calloc(1, sizeof *blk);
    if (!blk)
        return EXIT_RPC;
    rustymem__v1__fleet_apply_profile_request__init(&blk->r);
    rustymem__v1__node_selector__init(&blk->b.sel);
    blk->r.selector = &blk->b.sel;
    int pos = 0;
    for (int i = 0; i < argc; i++) {
        int rc = parse_selector_flag("fleet rollout", argc, argv, &i, &blk->b);
        if (rc < 0)
            goto usage;
        if (rc > 0)
            continue;
        if ((strcmp(argv[i], "--canary-wait") == 0 || strcmp(argv[i], "--batch-size") == 0) && i + 1 < argc) {
            char *end;
            double v = strtod(argv[i + 1], &end);
            if (*end || v < 0) {
                fprintf(stderr, "rustymemctl: fleet rollout: %s %s: expected a non-negative number\n", argv[i],
                        argv[i + 1]);
                goto usage;
            }
            if (argv[i][2] == 'c')
                blk->r.canary_wait_seconds = v;
            else
                blk->r.batch_size = (uint32_t)v;
            i++;
            continue;
        }
        int found = 0;
        for (int k = 1; k < 4; k++)
            if (pos == 0 && strcasecmp(argv[i], workloads[k]) == 0) {
                blk->r.workload = (Rustymem__V1__Workload)k;
                found = 1;
            } else if (pos == 1 && strcasecmp(argv[i], envs[k]) == 0) {
                blk->r.environment = (Rustymem__V1__Environment)k;
                found = 1;
            }
        if (!found) {
            fprintf(stderr, "rustymemctl: fleet rollout: unexpected argument '%s' (see rustymemctl --help)\n", argv[i]);
            goto usage;
        }
        pos++;
    }
    if (pos != 2) {
        fprintf(stderr, "rustymemctl: fleet rollout: give WORKLOAD (oltp|olap|mixed) and ENVIRONMENT "
                        "(development|production|mission_critical)\n");
        goto usage;
    }
    *req = &blk->r.base;
    return 0;
usage:
    free(blk);
    return EXIT_USAGE;
}

/* fleet trigger LEVEL [--names …] [--label k=v] */
static int
build_fleet_trigger(const command_t *cmd, int argc, char **argv, ProtobufCMessage **req)
{
    static const char *const levels[] = {"gentle", "aggressive", "emergency", "oom_prevention"};
    struct {
        Rustymem__V1__FleetTriggerResponseRequest r;
        selector_block_t b;
    } *blk = calloc(1, sizeof *blk);
    if (!blk)
        return EXIT_RPC;
    rustymem__v1__fleet_trigger_response_request__init(&blk->r);
    rustymem__v1__node_selector__init(&blk->b.sel);
    blk->r.selector = &blk->b.sel;
    for (int i = 0; i < argc; i++) {
        int rc = parse_selector_flag("fleet trigger", argc, argv, &i, &blk->b);
        if (rc < 0)
            goto usage;
        if (rc > 0)
            continue;
        for (int k = 0; k < 4; k++)
            if (strcasecmp(argv[i], levels[k]) == 0)
                blk->r.level = (Rustymem__V1__PressureLevel)(RUSTYMEM__V1__PRESSURE_LEVEL__PRESSURE_LEVEL_GENTLE + k);
        if (!blk->r.level) {
            fprintf(stderr, "rustymemctl: fleet trigger: level '%s': expected gentle, aggressive, emergency or "
                            "oom_prevention\n", argv[i]);
            goto usage;
        }
    }
    if (!blk->r.level) {
        fprintf(stderr, "rustymemctl: fleet trigger: give a LEVEL\n");
        goto usage;
    }
    *req = &blk->r.base;
    return 0;
usage:
    free(blk);
    return EXIT_USAGE;
}

/* nodes [--names …] [--label k=v] */
static int
build_nodes(const command_t *cmd, int argc, char **argv, ProtobufCMessage **req)
{
    struct {
        Rustymem__V1__ListNodesRequest r;
        selector_block_t b;
    } *blk = calloc(1, sizeof *blk);
    if (!blk)
        return EXIT_RPC;
    rustymem__v1__list_nodes_request__init(&blk->r);
    rustymem__v1__node_selector__init(&blk->b.sel);
    blk->r.selector = &blk->b.sel;
    for (int i = 0; i < argc; i++)
        if (parse_selector_flag("nodes", argc, argv, &i, &blk->b) <= 0) {
            fprintf(stderr, "rustymemctl: nodes: unexpected argument '%s' (see rustymemctl --help)\n", argv[i]);
            free(blk);
            return EXIT_USAGE;
        }
    *req = &blk->r.base;
    return 0;
}

/* Parse a double argument of a flag; returns 0 or a usage error. */
static int
parse_double(const char *cmd, const char *flag, const char *arg, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(arg, &end);
    if (errno || *end || end == arg) {
        fprintf(stderr, "rustymemctl: %s: %s %s: expected a number\n", cmd, flag, arg);
        return EXIT_USAGE;
    }
    *out = v;
    return 0;
}

/* txn list [--orphaned] [--limit N] */
static int
build_txn_list(const command_t *cmd, int argc, char **argv, ProtobufCMessage **req)
{
    Rustymem__V1__ListTransactionsRequest *r = calloc(1, sizeof *r);
    if (!r)
        return EXIT_RPC;
    rustymem__v1__list_transactions_request__init(r);
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--orphaned") == 0) {
            r->orphaned_only = 1;
        } else if (strcmp(argv[i], "--limit") == 0 && i + 1 < argc) {
            uint64_t v = 0;
            static const char *const f[] = {"--limit"};
            int rc = parse_u64_flags("txn list", 2, argv + i, f, &v, 1);
            if (rc) {
                free(r);
                return rc;
            }
            r->limit = (uint32_t)(v > UINT32_MAX ? UINT32_MAX : v);
            i++;
        } else {
            free(r);
            return usage_error("txn list: unexpected argument '%s'", argv[i]);
        }
    }
    *req = &r->base;
    return 0;
}

/* plan-cache clear [--fraction F] */
static int
build_plan_clear(const command_t *cmd, int argc, char **argv, ProtobufCMessage **req)
{
    Rustymem__V1__ClearPlanCacheRequest *r = calloc(1, sizeof *r);
    if (!r)
        return EXIT_RPC;
    rustymem__v1__clear_plan_cache_request__init(r);
    for (int i = 0; i < argc; i++) {
        int rc = 0;
        if (strcmp(argv[i], "--fraction") == 0 && i + 1 < argc)
            rc = parse_double("plan-cache clear", argv[i], argv[i + 1], &r->fraction), i++;
        else
            rc = usage_error("plan-cache clear: unexpected argument '%s'", argv[i]);
        if (rc) {
            free(r);
            return rc;
        }
    }
    *req = &r->base;
    return 0;
}

/* admission on|off */
static int
build_admission(const command_t *cmd, int argc, char **argv, ProtobufCMessage **req)
{
    if (argc != 1 || (strcmp(argv[0], "on") != 0 && strcmp(argv[0], "off") != 0))
        return usage_error("%s", "admission: give on or off");
    Rustymem__V1__SetAdmissionRequest *r = calloc(1, sizeof *r);
    if (!r)
        return EXIT_RPC;
    rustymem__v1__set_admission_request__init(r);
    r->accept_new_connections = strcmp(argv[0], "on") == 0;
    *req = &r->base;
    return 0;
}

/* queries kill --older-than SECONDS */
static int
build_queries_kill(const command_t *cmd, int argc, char **argv, ProtobufCMessage **req)
{
    if (argc != 2 || strcmp(argv[0], "--older-than") != 0)
        return usage_error("%s", "queries kill: give --older-than SECONDS");
    Rustymem__V1__KillLongRunningQueriesRequest *r = calloc(1, sizeof *r);
    if (!r)
        return EXIT_RPC;
    rustymem__v1__kill_long_running_queries_request__init(r);
    int rc = parse_double("queries kill", argv[0], argv[1], &r->older_than_seconds);
    if (rc) {
        free(r);
        return rc;
    }
    *req = &r->base;
    return 0;
}

static const command_t commands[] = {
    {"health", "/grpc.health.v1.Health/Check", &grpc__health__v1__health_check_request__descriptor,
     &grpc__health__v1__health_check_response__descriptor, "",
     "serving status of the agent (SERVING / NOT_SERVING)", "[--service NAME]", build_health, 0},
    {"stats memory", "/rustymem.v1.MemoryService/GetMemoryStats",
     &rustymem__v1__get_memory_stats_request__descriptor, &rustymem__v1__memory_stats__descriptor,
     "memory_stats(), GET /api/v1/stats/memory",
     "process, cgroup, jemalloc and per-component memory usage", "", NULL, 0},
    {"stats slab", "/rustymem.v1.MemoryService/GetSlabStats",
     &rustymem__v1__get_slab_stats_request__descriptor, &rustymem__v1__slab_stats__descriptor,
     "slab_allocator_stats()", "per-size-class slab allocator statistics", "", NULL, 0},
    {"stats arena", "/rustymem.v1.MemoryService/GetArenaStats",
     &rustymem__v1__get_arena_stats_request__descriptor, &rustymem__v1__arena_stats__descriptor,
     "transaction_arena_stats()", "transaction arena statistics", "", NULL, 0},
    {"stats buffer-pool", "/rustymem.v1.MemoryService/GetBufferPoolStats",
     &rustymem__v1__get_buffer_pool_stats_request__descriptor,
     &rustymem__v1__buffer_pool_stats__descriptor,
     "buffer_pool_stats(), GET /api/v1/stats/buffer_pool", "buffer pool statistics", "", NULL, 0},
    {"stats large-object", "/rustymem.v1.MemoryService/GetLargeObjectStats",
     &rustymem__v1__get_large_object_stats_request__descriptor,
     &rustymem__v1__large_object_stats__descriptor, "large_object_stats()",
     "large-object allocator statistics", "", NULL, 0},
    {"stats fragmentation", "/rustymem.v1.MemoryService/GetFragmentationStats",
     &rustymem__v1__get_fragmentation_stats_request__descriptor,
     &rustymem__v1__fragmentation_stats__descriptor, "fragmentation_stats()",
     "fragmentation ratio per component with Good/Fair/Poor", "", NULL, 0},
    {"watch", "/rustymem.v1.MemoryService/WatchStats", &rustymem__v1__watch_stats_request__descriptor,
     &rustymem__v1__memory_stats__descriptor, "",
     "refreshing view of stats memory, like top (JSON lines with --output json)",
     "[--interval MS] [--count N]", build_watch, 1},
    {"forecast", "/rustymem.v1.ForecastService/GetForecast", &rustymem__v1__get_forecast_request__descriptor,
     &rustymem__v1__forecast__descriptor, "GET /api/v1/stats/memory/forecast",
     "memory-pressure forecast per horizon with confidence, time to critical and the recommended action", "",
     NULL, 0},
    {"events", "/rustymem.v1.ForecastService/ListPressureEvents",
     &rustymem__v1__list_pressure_events_request__descriptor,
     &rustymem__v1__list_pressure_events_response__descriptor, "",
     "pressure events: level changes and the reclaim actions taken, with bytes reclaimed",
     "[--after ID] [--limit N]", build_events, 0},
    {"events follow", "/rustymem.v1.ForecastService/WatchPressure", &rustymem__v1__watch_pressure_request__descriptor,
     &rustymem__v1__pressure_event__descriptor, "", "stream pressure events as they happen", "[--after ID]",
     build_events_follow, 1},
    {"alerts", "/rustymem.v1.ForecastService/ListAlerts", &rustymem__v1__list_alerts_request__descriptor,
     &rustymem__v1__list_alerts_response__descriptor, "",
     "active alerts (usage, fragmentation, pressure events/hour, allocation failures, low free, leak)", "", NULL, 0},
    {"response trigger", "/rustymem.v1.EmergencyService/TriggerResponse",
     &rustymem__v1__trigger_response_request__descriptor, &rustymem__v1__action_result__descriptor, "",
     "run the graduated response at a level now", "gentle|aggressive|emergency|oom_prevention", build_trigger, 0},
    {"evict", "/rustymem.v1.EmergencyService/EvictBufferPool", &rustymem__v1__evict_buffer_pool_request__descriptor,
     &rustymem__v1__action_result__descriptor, "", "evict a fraction of the buffer pool's resident pages now",
     "--fraction F", build_evict, 0},
    {"gc", "/rustymem.v1.EmergencyService/ForceGarbageCollection",
     &rustymem__v1__force_garbage_collection_request__descriptor, &rustymem__v1__action_result__descriptor,
     "CALL force_garbage_collection()", "return cached and free memory of every allocator to the OS", "", NULL,
     0},
    {"coalesce", "/rustymem.v1.EmergencyService/CoalesceLargeObjects",
     &rustymem__v1__coalesce_large_objects_request__descriptor, &rustymem__v1__action_result__descriptor,
     "optimizer.coalesce_all()", "coalesce the large-object allocator's free extents (--release: give them back)",
     "[--release]", build_coalesce, 0},
    {"nodes", "/rustymem.v1.FleetService/ListNodes", &rustymem__v1__list_nodes_request__descriptor,
     &rustymem__v1__list_nodes_response__descriptor, "",
     "(with --fleet) every agent: reachable, level, usage, time to critical, last contact",
     "[--names A,B] [--label K=V]", build_nodes, 0},
    {"fleet stats", "/rustymem.v1.FleetService/GetFleetStats", &rustymem__v1__get_fleet_stats_request__descriptor,
     &rustymem__v1__fleet_stats__descriptor, "", "(with --fleet) nodes by level, fleet RSS and budget", "", NULL, 0},
    {"fleet forecast", "/rustymem.v1.FleetService/GetFleetForecast",
     &rustymem__v1__get_fleet_forecast_request__descriptor, &rustymem__v1__fleet_forecast__descriptor, "",
     "(with --fleet) every node's current and predicted level", "", NULL, 0},
    {"fleet rollout", "/rustymem.v1.FleetService/ApplyProfile", &rustymem__v1__fleet_apply_profile_request__descriptor,
     &rustymem__v1__fleet_apply_profile_response__descriptor, "",
     "(with --fleet) apply a profile canary first, then in batches; a failed gate stops and rolls back",
     "WORKLOAD ENVIRONMENT [--names A,B] [--label K=V] [--canary-wait S] [--batch-size N]", build_rollout, 0},
    {"fleet trigger", "/rustymem.v1.FleetService/TriggerResponse",
     &rustymem__v1__fleet_trigger_response_request__descriptor,
     &rustymem__v1__fleet_trigger_response_response__descriptor, "",
     "(with --fleet) run the graduated response on the selected nodes", "LEVEL [--names A,B] [--label K=V]",
     build_fleet_trigger, 0},
    {"knobs list", "/rustymem.v1.TuningService/ListKnobs", &rustymem__v1__list_knobs_request__descriptor,
     &rustymem__v1__list_knobs_response__descriptor, "SHOW ALL (PostgreSQL-style)",
     "every knob with value, default, range, unit, live or restart", "[PREFIX]", build_knobs_list, 0},
    {"knobs get", "/rustymem.v1.TuningService/GetKnobs", &rustymem__v1__get_knobs_request__descriptor,
     &rustymem__v1__get_knobs_response__descriptor, "", "the named knobs", "NAME...", build_knobs_get, 0},
    {"knobs set", "/rustymem.v1.TuningService/SetKnobs", &rustymem__v1__set_knobs_request__descriptor,
     &rustymem__v1__set_knobs_response__descriptor, "",
     "set knobs together, all or nothing; persisted across restarts", "NAME=VALUE... [--validate-only]",
     build_knobs_set, 0},
    {"knobs apply-profile", "/rustymem.v1.TuningService/ApplyProfile",
     &rustymem__v1__apply_profile_request__descriptor, &rustymem__v1__set_knobs_response__descriptor, "",
     "apply the seed's workload x environment tables", "oltp|olap|mixed development|production|mission_critical [--validate-only]",
     build_apply_profile, 0},
    {"stats engine", "/rustymem.v1.MemoryService/GetEngineStats",
     &rustymem__v1__get_engine_stats_request__descriptor, &rustymem__v1__engine_stats__descriptor, "",
     "engine: sessions, connections, pool size, MVCC chains, plan cache, queries", "", NULL, 0},
    {"txn list", "/rustymem.v1.MemoryService/ListTransactions",
     &rustymem__v1__list_transactions_request__descriptor, &rustymem__v1__list_transactions_response__descriptor,
     "orphaned_transactions() (with --orphaned)", "open transactions with age, idle time and orphan status",
     "[--orphaned] [--limit N]", build_txn_list, 0},
    {"txn kill-orphaned", "/rustymem.v1.EmergencyService/KillOrphanedTransactions",
     &rustymem__v1__kill_orphaned_transactions_request__descriptor, &rustymem__v1__action_result__descriptor,
     "CALL kill_orphaned_transactions()", "roll back transactions whose session is gone or idle past the timeout",
     "", NULL, 0},
    {"plan-cache clear", "/rustymem.v1.EmergencyService/ClearPlanCache",
     &rustymem__v1__clear_plan_cache_request__descriptor, &rustymem__v1__action_result__descriptor,
     "CALL clear_plan_cache()", "evict the plan cache (or its oldest fraction)", "[--fraction F]",
     build_plan_clear, 0},
    {"admission", "/rustymem.v1.EmergencyService/SetAdmission", &rustymem__v1__set_admission_request__descriptor,
     &rustymem__v1__action_result__descriptor, "",
     "accept (on) or reject (off) new sessions; existing sessions keep working", "on|off", build_admission, 0},
    {"queries kill", "/rustymem.v1.EmergencyService/KillLongRunningQueries",
     &rustymem__v1__kill_long_running_queries_request__descriptor, &rustymem__v1__action_result__descriptor, "",
     "cancel queries running longer than SECONDS", "--older-than SECONDS", build_queries_kill, 0},
};
#define N_COMMANDS (sizeof commands / sizeof commands[0])

static void
usage(FILE *f)
{
    fprintf(f,
            "usage: rustymemctl [global options] COMMAND [arguments]\n"
            "\n"
            "Operate a rustymem node agent (rustymemd) over gRPC.\n"
            "\n"
            "commands:\n");
    for (size_t i = 0; i < N_COMMANDS; i++) {
        char head[256];
        snprintf(head, sizeof head, "%s %s", commands[i].words, commands[i].args_help);
        if (strlen(head) > 36)   /* a long synopsis gets a line of its own (it was cut at 95 bytes) */
            fprintf(f, "  %s\n  %-36s %s\n", head, "", commands[i].summary);
        else
            fprintf(f, "  %-36s %s\n", head, commands[i].summary);
        if (commands[i].seed[0])
            fprintf(f, "  %-36s   replaces: %s\n", "", commands[i].seed);
    }
    fprintf(f,
            "\n"
            "global options (before the command):\n"
            "  --addr HOST:PORT       agent address (default $RUSTYMEM_ADDR, else 127.0.0.1:50051)\n"
            "  --fleet HOST:PORT      talk to a rustymem-fleet controller instead (nodes, fleet …);\n"
            "                         the default deadline becomes 600 s for rollouts\n"
            "  --timeout MS           deadline per call in milliseconds (default $RUSTYMEM_TIMEOUT, else 5000)\n"
            "  --output table|json    output form (default table; json is one object jq can read)\n"
            "  --help                 this text\n"
            "credentials (the same flags in rustymem-exporter, rustymem-fleet and rustymem-load):\n");
    rm_client_creds_help(f, "tls", 26);
    fprintf(f,
            "\n"
            "exit status: 0 success, 1 the call failed (status and message on stderr), 2 usage error\n");
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
static void
markdown(FILE *f)
{
    fprintf(f, "# rustymemctl\n\n"
               "<!-- generated by `rustymemctl help-markdown`; tests/integration/test_cli.sh checks it -->\n\n"
               "`rustymemctl [global options] COMMAND [arguments]` operates a rustymemd over gRPC.\n"
               "Output is a table, or with `--output json` one JSON object that jq reads.\n\n"
               "| command | RPC | replaces (seed) | what |\n|---|---|---|---|\n");
    for (size_t i = 0; i < N_COMMANDS; i++) {
        fprintf(f, "| `%s%s", commands[i].words, commands[i].args_help[0] ? " " : "");
        md_cell(f, commands[i].args_help);
        fprintf(f, "` | `%s` | %s | %s |\n", commands[i].path + 1, commands[i].seed, commands[i].summary);
    }
    fprintf(f, "\n## Global options\n\n"
               "| option | environment | default | meaning |\n|---|---|---|---|\n"
               "| `--addr HOST:PORT` | `RUSTYMEM_ADDR` | `127.0.0.1:50051` | agent address (`[::1]:PORT`, `unix:/path` too) |\n"
               "| `--fleet HOST:PORT` | | | a rustymem-fleet controller (commands `nodes`, `fleet …`); deadline 600 s |\n"
               "| `--timeout MS` | `RUSTYMEM_TIMEOUT` | `5000` | deadline per call |\n"
               "| `--output table\\|json` | | `table` | output form |\n"
               "| `--token TOKEN` | `RUSTYMEM_TOKEN` | | bearer token (see docs/security.md); beats `--token-file` and the environment |\n"
               "| `--token-file FILE` | | | read the token from FILE (surrounding whitespace ignored; unreadable or empty = error); not with `--token`; beats `RUSTYMEM_TOKEN` |\n"
               "| `--tls-ca FILE` | | | use TLS, trusting this CA |\n"
               "| `--tls-cert FILE`, `--tls-key FILE` | | | client certificate for mTLS (both or neither) |\n"
               "| `--tls-server-name NAME` | | | name to check in the server certificate |\n"
               "\n## Exit status\n\n"
               "| code | meaning |\n|---|---|\n"
               "| 0 | success |\n"
               "| 1 | the call failed: one line on stderr with the gRPC status name, the server's message and a hint |\n"
               "| 2 | usage error: one line on stderr |\n");
}

/* rustymemctl completion bash: a bash completion script from the command table. */
static void
completion_bash(FILE *f)
{
    fprintf(f, "# bash completion for rustymemctl; generated by 'rustymemctl completion bash'\n"
               "# install: rustymemctl completion bash > /etc/bash_completion.d/rustymemctl\n"
               "_rustymemctl() {\n"
               "  local cur=${COMP_WORDS[COMP_CWORD]} words=\"\" i=1 prefix=\"\"\n"
               "  while [ $i -lt $COMP_CWORD ]; do\n"
               "    case ${COMP_WORDS[i]} in\n"
               "      --addr|--fleet|--timeout|--output|--token|--token-file|--tls-ca|--tls-cert|--tls-key|--tls-server-name) i=$((i+2)); continue;;\n"
               "      -*) i=$((i+1)); continue;;\n"
               "    esac\n"
               "    prefix=\"$prefix${COMP_WORDS[i]} \"; i=$((i+1))\n"
               "  done\n"
               "  case \"$prefix\" in\n");
    /* For every prefix of every command, offer the next word. */
    for (size_t i = 0; i < N_COMMANDS; i++) {
        char w[96];
        snprintf(w, sizeof w, "%s", commands[i].words);
        char *sp = strchr(w, ' ');
        if (sp) {
            *sp = '\0';
            fprintf(f, "    \"%s \") words=\"$words %s\";;&\n", w, sp + 1);
        }
    }
    fprintf(f, "    \"\") words=\"");
    for (size_t i = 0; i < N_COMMANDS; i++) {
        char w[96];
        snprintf(w, sizeof w, "%s", commands[i].words);
        char *sp = strchr(w, ' ');
        if (sp)
            *sp = '\0';
        fprintf(f, "%s ", w);
    }
    fprintf(f, "--addr --fleet --timeout --output --token --token-file --tls-ca --tls-cert --tls-key --tls-server-name "
               "--help\";;\n"
               "  esac\n"
               "  COMPREPLY=($(compgen -W \"$words\" -- \"$cur\"))\n"
               "}\n"
               "complete -F _rustymemctl rustymemctl\n");
}

static const command_t *
find_command(int argc, char **argv, int *consumed)
{
    const command_t *best = NULL;
    int best_words = 0;
    for (size_t i = 0; i < N_COMMANDS; i++) {
        char words[96];
        snprintf(words, sizeof words, "%s", commands[i].words);
        int n = 0, match = 1;
        for (char *save = NULL, *w = strtok_r(words, " ", &save); w; w = strtok_r(NULL, " ", &save), n++)
            if (n >= argc || strcmp(argv[n], w) != 0) {
                match = 0;
                break;
            }
        if (match && n > best_words) {
            best = &commands[i];
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
    char next[512] = "", msg[768];
    size_t len = 0;
    for (size_t i = 0; i < N_COMMANDS; i++) {
        const char *w = commands[i].words, *sp = strchr(w, ' ');
        if (!sp || (size_t)(sp - w) != strlen(argv[0]) || strncmp(w, argv[0], (size_t)(sp - w)) != 0)
            continue;
        const char *second = sp + 1;
        size_t n = strcspn(second, " ");
        int seen = 0;   /* "knobs apply-profile …" and the like: list each word once */
        for (size_t j = 0; j < i && !seen; j++)
            seen = strncmp(commands[j].words, w, (size_t)(second - w) + n) == 0 &&
                   (commands[j].words[(second - w) + n] == ' ' || commands[j].words[(second - w) + n] == '\0');
        if (!seen && len < sizeof next)
            len += (size_t)snprintf(next + len, sizeof next - len, "%s%.*s", len ? ", " : "", (int)n, second);
    }
    if (!next[0])
        return usage_error("unknown command '%s'", argv[0]);
    if (argc < 2)
        snprintf(msg, sizeof msg, "%s: say which: %s", argv[0], next);
    else
        snprintf(msg, sizeof msg, "unknown command '%s %s': after '%s' comes one of %s", argv[0], argv[1], argv[0],
                 next);
    return usage_error("%s", msg);
}

static const char *
hint_for(grpc_status_code code, const global_t *g)
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

/* Print every message of a server stream; on a terminal, redraw like top. */
static int
run_stream(rm_client_t *client, const command_t *cmd, const ProtobufCMessage *req, const global_t *g)
{
    rm_client_stream_t *s;
    rm_call_status_t st;
    if (rm_client_stream_open(client, cmd->path, req, 0, &s, &st) != GRPC_STATUS_OK) {
        fprintf(stderr, "rustymemctl: %s: %s: %s\n", cmd->words, rm_client_status_name(st.code), st.message);
        return EXIT_RPC;
    }
    int tty = isatty(STDOUT_FILENO) && !g->json;
    int n = 0;
    ProtobufCMessage *m;
    while ((watch_count == 0 || n < watch_count) && rm_client_stream_next(s, cmd->response, &m) == 1) {
        if (g->json) {
            json_t *j = rm_pb_to_json(m);
            if (j) {
                json_dumpf(j, stdout, JSON_COMPACT | JSON_REAL_PRECISION(10));
                fputc('\n', stdout);
                json_decref(j);
            }
        } else {
            if (tty)
                fputs("\033[H\033[2J", stdout); /* home + clear, like top */
            else if (n)
                fputs("\n", stdout);
            rm_render_table(stdout, m);
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
                st.message[0] ? st.message : "(no message)", hint_for(st.code, g));
        return EXIT_RPC;
    }
    return 0;
}

static int
parse_timeout(const char *s, int *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end || end == s || v < 1 || v > 3600000)
        return -1;
    *out = (int)v;
    return 0;
}

int
main(int argc, char **argv)
{
    global_t g = {0};
    g.client.target = getenv("RUSTYMEM_ADDR") && *getenv("RUSTYMEM_ADDR") ? getenv("RUSTYMEM_ADDR")
                                                                        : "127.0.0.1:50051";
    g.client.timeout_ms = 5000;
    const char *env_timeout = getenv("RUSTYMEM_TIMEOUT");
    if (env_timeout && *env_timeout && parse_timeout(env_timeout, &g.client.timeout_ms) < 0)
        return usage_error("RUSTYMEM_TIMEOUT=%s: expected milliseconds in 1..3600000", env_timeout);

    int i = 1, timeout_given = env_timeout && *env_timeout;
    for (; i < argc && strncmp(argv[i], "--", 2) == 0; i++) {
        const char *opt = argv[i];
        if (strcmp(opt, "--help") == 0) {
            usage(stdout);
            return 0;
        }
        if (i + 1 >= argc)
            return usage_error("%s needs a value", opt);
        const char *val = argv[++i];
        if (strcmp(opt, "--addr") == 0 || strcmp(opt, "--fleet") == 0) {
            g.client.target = val;
            if (opt[2] == 'f' && !timeout_given)
                g.client.timeout_ms = 600000; /* rollouts wait for canaries and batches */
        }
        else if (strcmp(opt, "--timeout") == 0) {
            if (parse_timeout(val, &g.client.timeout_ms) < 0)
                return usage_error("--timeout %s: expected milliseconds in 1..3600000", val);
            timeout_given = 1;
        } else if (strcmp(opt, "--output") == 0) {
            if (strcmp(val, "json") == 0)
                g.json = 1;
            else if (strcmp(val, "table") == 0)
                g.json = 0;
            else
                return usage_error("--output %s: expected table or json", val);
        } else if (rm_client_creds_match(&g.creds, opt) >= 0)
            rm_client_creds_set(&g.creds, (rm_client_cred_flag_t)rm_client_creds_match(&g.creds, opt), val);
        else
            return usage_error("unknown option %s", opt);
    }
    if (i >= argc) {
        usage(stderr);
        return EXIT_USAGE;
    }
    if (strcmp(argv[i], "help-markdown") == 0) {
        markdown(stdout);
        return 0;
    }
    if (strcmp(argv[i], "completion") == 0) {
        if (i + 1 >= argc || strcmp(argv[i + 1], "bash") != 0)
            return usage_error("%s", "completion: only 'completion bash' is supported");
        completion_bash(stdout);
        return 0;
    }
    int consumed = 0;
    const command_t *cmd = find_command(argc - i, argv + i, &consumed);
    if (!cmd)
        return unknown_command(argc - i, argv + i);
    int rest_argc = argc - i - consumed;
    char **rest_argv = argv + i + consumed;

    ProtobufCMessage *req = NULL;
    if (cmd->build) {
        int rc = cmd->build(cmd, rest_argc, rest_argv, &req);
        if (rc)
            return rc;
    } else {
        if (rest_argc > 0)
            return usage_error("unexpected argument '%s'", rest_argv[0]);
        req = calloc(1, cmd->request->sizeof_message);
        if (!req)
            return EXIT_RPC;
        cmd->request->message_init(req);
    }

    rm_client_t *client;
    char err[512] = "";
    rm_status_t cst = rm_client_creds_apply(&g.creds, getenv("RUSTYMEM_TOKEN"), &g.client, err, sizeof err);
    if (cst != RM_OK) {
        free(req);
        fprintf(stderr, "rustymemctl: %s\n", err);
        return cst == RM_EINVAL ? EXIT_USAGE : EXIT_RPC;
    }
    if (rm_client_create(&g.client, &client, err, sizeof err) != RM_OK) {
        free(req);
        rm_client_creds_free(&g.creds);
        fprintf(stderr, "rustymemctl: %s\n", err);
        return EXIT_USAGE;
    }
    if (cmd->stream) {
        int rc = run_stream(client, cmd, req, &g);
        free(req);
        rm_client_destroy(client);
        rm_client_creds_free(&g.creds);
        return rc;
    }
    ProtobufCMessage *resp = NULL;
    rm_call_status_t st;
    grpc_status_code code = rm_client_unary(client, cmd->path, req, cmd->response, &resp, &st);
    free(req);
    int rc = 0;
    if (code != GRPC_STATUS_OK) {
        fprintf(stderr, "rustymemctl: %s: %s: %s%s\n", cmd->words, rm_client_status_name(code),
                st.message[0] ? st.message : "(no message)", hint_for(code, &g));
        rc = EXIT_RPC;
    } else if (g.json) {
        rm_render_json(stdout, resp);
    } else if (cmd->response == &grpc__health__v1__health_check_response__descriptor) {
        const Grpc__Health__V1__HealthCheckResponse *h = (const void *)resp;
        const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value(
            &grpc__health__v1__health_check_response__serving_status__descriptor, h->status);
        printf("%s\n", ev ? ev->name : "UNKNOWN");
        if (h->status != GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING)
            rc = EXIT_RPC;
    } else {
        rm_render_table(stdout, resp);
    }
    if (resp)
        protobuf_c_message_free_unpacked(resp, NULL);
    rm_client_destroy(client);
    rm_client_creds_free(&g.creds);
    return rc;
}
