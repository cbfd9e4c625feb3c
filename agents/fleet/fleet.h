/*
 * fleet.h — rustymem-fleet's controller library: discovery, polling, the
 * fleet view, the early-response policy, profile rollouts, and the
 * FleetService table that serves them.
 *
 * Design note: one rm_fleet_t owns a set of nodes. Each node has its own
 * gRPC channel (rm_client_t); one scheduler thread starts the poll of each
 * node when it is due (a heap of next-poll times) as asynchronous calls on
 * one completion queue, and a fixed number of threads (opts.poll_threads)
 * advance them, so the controller's threads do not grow with the fleet
 * (ADR 0026). Every call
 * carries a deadline, intervals are jittered, and a node that keeps failing
 * is polled with exponential backoff. A discovery
 * thread re-reads the agent source (static list, a file re-read when it
 * changes, or DNS resolved on every round) and reconciles the node set. The
 * fleet view is read by FleetService handlers under short per-node locks;
 * rollouts and fan-out calls talk to the agents from the handler's thread.
 * The library never prints: it reports through the optional log callback.
 *
 * Levels are rustymem.v1.PressureLevel values (1 MONITOR .. 5 OOM_PREVENTION,
 * 0 unknown).
 */
#ifndef RUSTYMEM_FLEET_H
#define RUSTYMEM_FLEET_H

#include <stddef.h>
#include <stdint.h>

#include "rpc.h"
#include "rm_base.h"

#ifdef __cplusplus
extern "C" {
#endif

#define RM_FLEET_NAME_MAX 128
#define RM_FLEET_ADDR_MAX 256
#define RM_FLEET_LABEL_KEY_MAX 64
#define RM_FLEET_LABEL_VALUE_MAX 128
#define RM_FLEET_MAX_LABELS 16
#define RM_FLEET_MAX_TARGETS 20000
#define RM_FLEET_MAX_POLL_THREADS 64

typedef struct rm_fleet rm_fleet_t;

typedef struct rm_fleet_label {
    char key[RM_FLEET_LABEL_KEY_MAX];
    char value[RM_FLEET_LABEL_VALUE_MAX];
} rm_fleet_label_t;

/* One agent to watch, as discovery produced it. */
typedef struct rm_fleet_target {
    char name[RM_FLEET_NAME_MAX];      /* unique in the fleet */
    char address[RM_FLEET_ADDR_MAX];   /* HOST:PORT, [V6]:PORT or unix:/path; HOST:PORT/AUTHORITY sends
                                        * :authority AUTHORITY (one server, many agents: ADR 0026) */
    size_t n_labels;
    rm_fleet_label_t labels[RM_FLEET_MAX_LABELS];
} rm_fleet_target_t;

typedef enum rm_fleet_source_kind {
    RM_FLEET_SOURCE_NONE = 0,   /* targets only through rm_fleet_set_targets() */
    RM_FLEET_SOURCE_LIST = 1,   /* spec "HOST:PORT,HOST:PORT" */
    RM_FLEET_SOURCE_FILE = 2,   /* spec = path; lines "NAME HOST:PORT [key=value…]" or "HOST:PORT" */
    RM_FLEET_SOURCE_DNS = 3,    /* spec "NAME:PORT", every address getaddrinfo returns */
} rm_fleet_source_kind_t;

typedef void (*rm_fleet_log_fn)(void *log_ctx, const char *level, const char *msg);

typedef struct rm_fleet_opts {
    rm_fleet_source_kind_t source;
    const char *source_spec;          /* see rm_fleet_source_kind_t; must outlive the fleet */
    int poll_ms;                      /* poll (and discovery) interval; 0 = 2000 */
    int rpc_timeout_ms;               /* deadline of every agent call; 0 = 2000 */
    int backoff_max_ms;               /* cap of the unreachable-node backoff; 0 = 30000 */
    int discovery_by_caller;          /* 1 = no discovery thread: the caller runs rm_fleet_discover_tick()
                                         every poll_ms (rustymem-fleet's main thread, between signals) */
    int poll_threads;                 /* threads that advance every node's asynchronous poll calls (plus
                                         one scheduler thread); 0 = 1, 1..RM_FLEET_MAX_POLL_THREADS */
    /* Credentials for the agents (all may be NULL; must outlive the fleet). */
    const char *token;
    const char *tls_ca_file;
    const char *tls_cert_file;
    const char *tls_key_file;
    const char *tls_server_name;
    /* Early-response policy. */
    int no_early_response;            /* 1 = never trigger on our own */
    int trigger_level;                /* PressureLevel at/above which to act; 0 = EMERGENCY (4) */
    double trigger_confidence;        /* 0..1 a forecast needs; 0 = 0.7 */
    double trigger_ttc_seconds;       /* act when time to critical <= this; 0 = 60 */
    int trigger_cooldown_ms;          /* per node, unless the level rises; 0 = 60000 */
    /* Rollout defaults (a request may override each). */
    double canary_wait_seconds;       /* 0 = 30 */
    double batch_wait_seconds;        /* 0 = 10 */
    uint32_t batch_size;              /* 0 = 2 */
    int gate_max_level;               /* highest acceptable PressureLevel; 0 = GENTLE (2) */
    rm_fleet_log_fn log;              /* may be NULL; called from any thread */
    void *log_ctx;
} rm_fleet_opts_t;

/* ---- discovery parsing (pure; unit-tested) -------------------------------- */

/*
 * Parse "HOST:PORT,HOST:PORT" (blanks around items ignored; names = the
 * addresses). On RM_OK *out (malloc'ed, caller frees) holds *n targets. On
 * RM_EINVAL (empty item, missing port, duplicate) or RM_ENOMEM *out is NULL
 * and `err` says which item. Thread-safe.
 */
rm_status_t rm_fleet_parse_list(const char *csv, rm_fleet_target_t **out, size_t *n, char *err, size_t errcap);

/*
 * Parse the text of an agents file: one agent per line, "NAME HOST:PORT
 * [key=value …]" or a bare "HOST:PORT" (the address is then the name, as with
 * --agents); '#' starts a comment, blank lines are skipped. `origin`
 * (the file name) prefixes error messages ("agents.txt:3: …"). Same
 * ownership and failure contract as rm_fleet_parse_list().
 */
rm_status_t rm_fleet_parse_text(const char *text, const char *origin, rm_fleet_target_t **out, size_t *n,
                                char *err, size_t errcap);

/* Read and parse an agents file; RM_EIO when it cannot be read. */
rm_status_t rm_fleet_read_file(const char *path, rm_fleet_target_t **out, size_t *n, char *err, size_t errcap);

/*
 * Resolve "NAME:PORT" with getaddrinfo (TCP), one target per distinct
 * address, named "IP:PORT" (IPv6 as "[IP]:PORT"), sorted. RM_EINVAL for a
 * malformed spec, RM_ENOENT when the name does not resolve.
 */
rm_status_t rm_fleet_resolve_dns(const char *spec, rm_fleet_target_t **out, size_t *n, char *err, size_t errcap);

/* ---- policy helpers (pure; unit-tested) ----------------------------------- */

/* Pressure thresholds of an agent (its pressure.* knobs), ratios 0..1. */
typedef struct rm_fleet_thresholds {
    double warning;     /* Monitor → Gentle */
    double high;        /* Gentle → Aggressive */
    double critical;    /* Aggressive → Emergency */
    double emergency;   /* Emergency → OOM prevention */
} rm_fleet_thresholds_t;

/* The seed defaults 0.70 / 0.80 / 0.90 / 0.95. */
rm_fleet_thresholds_t rm_fleet_default_thresholds(void);

/* PressureLevel (1..5) of `usage_ratio` against `t`; a ratio equal to a threshold is above it. */
int rm_fleet_level_from_ratio(double usage_ratio, const rm_fleet_thresholds_t *t);

/* Does a node with this name (or agent-reported name) and labels match the selector? */
int rm_fleet_selector_match(const char *const *names, size_t n_names, const rm_fleet_label_t *want,
                            size_t n_want, const char *name, const char *agent_name,
                            const rm_fleet_label_t *labels, size_t n_labels);

/* What the early-response policy sees of one node. */
typedef struct rm_fleet_pressure {
    int level;                    /* current PressureLevel */
    int n_horizons;
    struct {
        double horizon_seconds;
        int predicted_level;
        double confidence;        /* 0..1 */
    } horizons[8];
    int has_ttc;
    double ttc_seconds;           /* seconds to the critical threshold, when has_ttc */
    double ttc_confidence;        /* confidence attached to the time to critical */
} rm_fleet_pressure_t;

/*
 * Decide whether to trigger a node's response early. Returns the level to
 * ask for (GENTLE..OOM_PREVENTION) or 0 for "no action". Acts when the
 * current level, or a horizon forecast with at least `min_confidence`, is at
 * or above `trigger_level`, or when a confident time to critical is within
 * `ttc_seconds` (then at least EMERGENCY). `why` (whycap bytes) explains.
 */
int rm_fleet_policy_decide(const rm_fleet_pressure_t *p, int trigger_level, double min_confidence,
                           double ttc_seconds, char *why, size_t whycap);

/* "MONITOR", "GENTLE", … "UNKNOWN" for a PressureLevel. Static string. */
const char *rm_fleet_level_name(int level);
/* Parse "monitor", "GENTLE", "pressure_level_emergency", "4", …; -1 when unknown. */
int rm_fleet_level_parse(const char *s);

/* ---- the controller -------------------------------------------------------- */

/*
 * Create a controller (nothing runs yet). Copies the option values; pointed-to
 * strings must outlive the fleet. RM_OK with *out, RM_EINVAL (bad option, err
 * says which) or RM_ENOMEM; nothing allocated on failure.
 */
rm_status_t rm_fleet_create(const rm_fleet_opts_t *opts, rm_fleet_t **out, char *err, size_t errcap);

/*
 * Run discovery once (so a bad source fails start-up: RM_EIO/RM_EINVAL/
 * RM_ENOENT with err), start the poll threads and the discovery thread (none with
 * opts.discovery_by_caller).
 * A DNS name that does not resolve yet is not fatal (pods come later).
 */
rm_status_t rm_fleet_start(rm_fleet_t *f, char *err, size_t errcap);

/*
 * One round of discovery (a file source is re-read only when it changed;
 * a failure keeps the known nodes and is logged once). Runs on the
 * discovery thread, or on the caller's with opts.discovery_by_caller; not
 * concurrently with itself. Does nothing for a static list.
 */
void rm_fleet_discover_tick(rm_fleet_t *f);

/* Stop discovery and every poller and wait for them. Idempotent. */
void rm_fleet_stop(rm_fleet_t *f);

/* Free everything (stops first). NULL is a no-op. */
void rm_fleet_destroy(rm_fleet_t *f);

/*
 * Reconcile the node set with `targets`: start nodes that are new, stop and
 * drop nodes that are gone, update addresses (new channel) and labels.
 * Thread-safe. RM_OK, or RM_ENOMEM (the set is then partly updated; every
 * node present is consistent).
 */
rm_status_t rm_fleet_set_targets(rm_fleet_t *f, const rm_fleet_target_t *targets, size_t n);

/* Number of nodes currently known. Thread-safe. */
size_t rm_fleet_node_count(rm_fleet_t *f);

/* The poller's own figures (FleetService.GetFleetStats). */
typedef struct rm_fleet_poll_summary {
    int poll_threads;
    int poll_ms;
    size_t nodes;
    size_t reachable;        /* last poll answered */
    size_t unreachable;      /* last poll failed */
    size_t pending;          /* not polled yet */
    size_t backoff;          /* unreachable and waiting longer than the poll interval */
    size_t fresh;            /* view at most 2 poll intervals old */
    uint64_t polls;          /* since start */
    uint64_t poll_failures;
    double latency_p50_ms, latency_p99_ms;   /* one poll (all its calls), since start */
    double lag_p99_ms;                       /* start of a due poll after its due time */
    double staleness_p50_ms, staleness_p99_ms, staleness_max_ms;
} rm_fleet_poll_summary_t;

/*
 * Fill *out. Staleness of a node = now - its last successful contact (or -
 * the time it was added when never contacted). Thread-safe; O(nodes).
 * RM_OK or RM_ENOMEM.
 */
rm_status_t rm_fleet_poll_summary(rm_fleet_t *f, rm_fleet_poll_summary_t *out);

/* One step of a rollout or fan-out. */
typedef struct rm_fleet_step {
    char node[RM_FLEET_NAME_MAX];
    char phase[32];          /* "canary", "batch N", "gate", "rollback", "trigger" */
    int ok;
    char status[32];         /* gRPC status name of the node call, "" for gate steps */
    char detail[512];
} rm_fleet_step_t;

typedef struct rm_fleet_result {
    int completed;
    int rolled_back;
    char stopped_reason[512];
    rm_fleet_step_t *steps;  /* malloc'ed; free with rm_fleet_result_free() */
    size_t n_steps;
    char (*changed)[RM_FLEET_NAME_MAX]; /* nodes left with the new profile */
    size_t n_changed;
} rm_fleet_result_t;

void rm_fleet_result_free(rm_fleet_result_t *r);

/* A node selector: names (empty = all) and labels that must all match. */
typedef struct rm_fleet_selector {
    const char *const *names;
    size_t n_names;
    const rm_fleet_label_t *labels;
    size_t n_labels;
} rm_fleet_selector_t;

typedef struct rm_fleet_rollout {
    rm_fleet_selector_t selector;
    int workload;                 /* rustymem.v1.Workload */
    int environment;              /* rustymem.v1.Environment */
    double canary_wait_seconds;   /* <= 0: controller default */
    double batch_wait_seconds;    /* <= 0: controller default */
    uint32_t batch_size;          /* 0: controller default */
    int max_level;                /* gate; 0: controller default */
    /* Polled between waits: a nonzero return aborts (and rolls back). May be NULL. */
    int (*cancelled)(void *ctx);
    void *cancel_ctx;
} rm_fleet_rollout_t;

/*
 * Roll a tuning profile out: nodes selected and sorted by name; the first is
 * the canary (TuningService.ApplyProfile after recording the profile's knobs
 * with GetKnobs), then wait, then the gate over every node changed so far
 * (Health SERVING, level <= max_level, no RPC error), then the rest in
 * batches with the same gate. On a failed gate or call error: stop and
 * restore every changed node with SetKnobs. Rollouts are serialised.
 * Returns RM_OK with *res filled (completed or stopped — see res), RM_EBUSY
 * when another rollout runs, RM_ENOENT when the selector matches nothing,
 * RM_EINVAL for a bad workload/environment, RM_ENOMEM. On failure *res is
 * empty. Blocks for the waits: call from a thread that may block.
 */
rm_status_t rm_fleet_apply_profile(rm_fleet_t *f, const rm_fleet_rollout_t *ro, rm_fleet_result_t *res);

/*
 * EmergencyService.TriggerResponse(level) on every selected node,
 * concurrently; one "trigger" step per node (ok = the call succeeded), each
 * also recorded in the node's events. RM_OK, RM_ENOENT (no node matches) or
 * RM_ENOMEM.
 */
rm_status_t rm_fleet_trigger_response(rm_fleet_t *f, const rm_fleet_selector_t *sel, int level,
                                      rm_fleet_result_t *res);

/* The FleetService table; serve it with rm_server_opts_t.app = the rm_fleet_t. */
extern const rm_rpc_service_t rm_fleet_service;

#ifdef __cplusplus
}
#endif
#endif /* RUSTYMEM_FLEET_H */
