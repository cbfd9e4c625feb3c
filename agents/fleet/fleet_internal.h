/*
 * fleet_internal.h — the controller's private types, shared by fleet.c
 * (nodes, pollers, discovery thread), fleet_rollout.c and fleet_service.c.
 *
 * Locking: rm_fleet_t.mu guards the node list; node_t.mu guards the node's
 * view; rm_fleet_t.sched_mu the poll schedule. Never hold fleet.mu while taking a node's mu for long,
 * and never hold either across an RPC. Handlers take node references
 * (rm__fleet_select) so a node removed by discovery stays valid until they
 * drop it.
 */
#ifndef RUSTYMEM_FLEET_INTERNAL_H
#define RUSTYMEM_FLEET_INTERNAL_H

#include <pthread.h>

#include "client.h"
#include "fleet.h"

#define FLEET_EVENTS 16
#define FLEET_STATS_MAX 64
#define FLEET_ERR_MAX 256

typedef struct fleet_event {
    int64_t unix_ms;
    char kind[32];
    char status[32];
    char detail[256];
} fleet_event_t;

/* Poll counters and latency histograms (bucket i ends at 0.1 ms x 1.25^i). */
#define FLEET_LAT_BUCKETS 72
#define FLEET_DEADLINE_TICK_MS 50 /* how often call deadlines are checked */
#define FLEET_MAX_INFLIGHT 1024    /* polls started and not finished, at most (~3 KiB each) */
typedef struct rm_fleet_poll_stats {
    uint64_t polls;                  /* polls finished */
    uint64_t failures;               /* of which the node did not answer Health */
    uint64_t lat[FLEET_LAT_BUCKETS]; /* poll duration (all calls of one poll) */
    uint64_t lag[FLEET_LAT_BUCKETS]; /* how late a pool thread started a due poll */
} rm_fleet_poll_stats_t;

/* What the controller knows of one node; copied out whole by readers. */
typedef struct node_view {
    int polled;                      /* a poll has finished at least once */
    int reachable;
    int serving;
    int level;                       /* PressureLevel; 0 unknown */
    int predicted_level;
    double confidence;               /* 0..1 */
    char level_source[16];           /* "forecast" | "usage_ratio" | "" */
    double usage_ratio;              /* the agent's one usage measure (ADR 0013): used_bytes / budget_bytes */
    uint64_t used_bytes;
    char usage_source[16];           /* "cgroup" | "rss" | "memcore" | "" */
    char budget_source[16];          /* "knob" | "cgroup_v1" | "cgroup_v2" | "memtotal" | "memavailable" | "" */
    int64_t sampled_at_ms;           /* unix ms of the agent's sample behind usage_ratio; 0 = none */
    int has_ttc;
    double ttc_seconds;
    uint64_t rss_bytes;
    uint64_t budget_bytes;
    int64_t last_contact_ms;         /* unix ms; 0 = never */
    char last_error[FLEET_ERR_MAX];
    unsigned failures;               /* consecutive failed polls */
    int64_t next_poll_ms;            /* ms until the next poll after the last one */
    char agent_name[RM_FLEET_NAME_MAX];
    char version[64];
    char cap_forecast[16];           /* "available" | "unimplemented" | "unknown" */
    char cap_emergency[16];
    size_t n_stats;
    const char *stat_key[FLEET_STATS_MAX]; /* interned (fleet.c key_intern): never freed */
    double stat_val[FLEET_STATS_MAX];
    fleet_event_t events[FLEET_EVENTS];   /* ring; oldest at (ev_next - n_events) */
    size_t n_events;
    size_t ev_next;
    int64_t last_trigger_ms;         /* early-response cooldown (unix ms) */
    int last_trigger_level;
    rm_fleet_pressure_t pressure;    /* input of the last policy decision */
    size_t n_agent_labels;           /* labels the agent reports (MemoryStats.labels), ADR 0027 */
    rm_fleet_label_t agent_labels[RM_FLEET_MAX_LABELS];
} node_view_t;

typedef struct node {
    rm_fleet_target_t target;        /* immutable after creation (a changed address = new node) */
    rm_client_t *client;             /* thread-safe; immutable */
    struct rm_fleet *fleet;
    int refs;                        /* guarded by fleet->mu */
    pthread_mutex_t mu;
    /* Poll schedule (fleet.c): guarded by fleet->sched_mu. */
    int64_t due_ms;                  /* CLOCK_MONOTONIC ms of the next poll */
    ssize_t heap_idx;                /* position in fleet->heap; -1 = not scheduled */
    int in_poll;                     /* a pool thread is polling it now */
    int stop_sched;                  /* removed: never schedule again */
    int64_t added_ms;                /* unix ms the node was added (staleness before a first contact) */
    node_view_t view;                /* guarded by mu */
} node_t;

struct rm_fleet {
    rm_fleet_opts_t o;               /* defaults filled in; immutable */
    pthread_mutex_t mu;
    node_t **nodes;                  /* guarded by mu; sorted by name */
    size_t n_nodes;                  /* guarded by mu */
    pthread_mutex_t set_mu;          /* serialises rm_fleet_set_targets */
    pthread_mutex_t rollout_mu;      /* one rollout at a time */
    pthread_t disco;
    int disco_started;
    pthread_mutex_t disco_mu;
    pthread_cond_t disco_cv;
    int stopping;                    /* guarded by disco_mu */
    char disco_last_err[512];        /* the last discovery error logged; only rm_fleet_discover_tick */
    /* Bounded polling (fleet.c, ADR 0026): a min-heap of nodes by due time; a
     * scheduler thread starts due polls as asynchronous calls on one
     * completion queue, o.poll_threads threads advance them. sched_mu is never
     * held while taking a node's mu or making a call. */
    pthread_mutex_t sched_mu;
    pthread_cond_t sched_cv;         /* a node became due earlier, or stop */
    pthread_cond_t sched_done_cv;    /* a poll finished (node_stop waits for it) */
    node_t **heap;                   /* guarded by sched_mu */
    size_t heap_n, heap_cap;
    int sched_stop;                  /* guarded by sched_mu */
    pthread_t *pollers;              /* completion-queue threads (o.poll_threads) */
    int n_pollers;
    pthread_t sched;                 /* starts due polls */
    int sched_started;
    struct grpc_completion_queue *cq; /* every asynchronous poll call */
    size_t inflight;                 /* polls running; guarded by sched_mu */
    struct poll_op *ops;             /* calls in flight, for their deadlines; guarded by sched_mu */
    uint64_t jitter_state;           /* guarded by sched_mu */
    rm_fleet_poll_stats_t pstats;    /* guarded by sched_mu */
    /* file source: what we read last, to re-read only on change */
    int64_t file_mtime_ns;
    int64_t file_size;
    uint64_t file_ino;
    struct rm_fleet_ha *ha;          /* etcd leader election + rollout journal; NULL without --etcd */
};

/* ---- replicas on etcd (fleet_leader.c; docs/adr/0027) ---------------------- */

struct rm_etcd;

/* Set once by rm_fleet_ha_start before the threads run; immutable after, except where noted. */
typedef struct rm_fleet_ha {
    struct rm_etcd *etcd;
    char prefix[192];                /* "/rustymem/fleet" */
    char id[RM_FLEET_NAME_MAX];      /* this replica's identity, the leader key's value when it leads */
    char leader_key[256];            /* prefix + "/leader" */
    int ttl_s;                       /* lease TTL */
    int margin_ms;                   /* stop acting this long before the lease could expire */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int stop;                        /* guarded by mu */
    int leader;                      /* guarded by mu: we hold the leader key */
    int64_t lease;                   /* guarded by mu: 0 = none */
    int64_t lease_ok_mono_ms;        /* guarded by mu: when the last successful keepalive (or grant) was sent */
    char holder[RM_FLEET_NAME_MAX];  /* guarded by mu: the leader key's value as last read ("" = none) */
    int recover_pending;             /* guarded by mu: a rollout journal may need recovery */
    pthread_t lease_thread, work_thread;
    int threads_started;
} rm_fleet_ha_t;

/*
 * May this replica act on the agents (roll out, roll back, trigger)? 1
 * without etcd; with etcd only while it holds the leader key and less than
 * TTL − margin has passed since its last successful keepalive was sent.
 */
int rm__fleet_may_act(struct rm_fleet *f);

/*
 * Finish an unfinished rollout found in the journal (fleet_rollout.c): the
 * documented rule is "roll back": every node recorded as changed or being
 * changed gets its recorded before-values back with one SetKnobs. RM_OK when
 * nothing is left to do, RM_EBUSY (a rollout of ours is running), RM_EIO
 * (a node or etcd could not be reached: call again later), RM_ECONFLICT
 * (leadership lost).
 */
rm_status_t rm__fleet_rollout_recover(struct rm_fleet *f);

/* Log through opts.log (printf-style). */
void rm__fleet_log(struct rm_fleet *f, const char *level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/*
 * Matching nodes, sorted by name, each with a reference taken; NULL sel =
 * all. Returns the count (*out malloc'ed, NULL when 0) or -1 on OOM. Release
 * with rm__fleet_release().
 */
ssize_t rm__fleet_select(struct rm_fleet *f, const rm_fleet_selector_t *sel, node_t ***out);
void rm__fleet_release(struct rm_fleet *f, node_t **nodes, size_t n);

/*
 * A node's labels: those of its discovery source (agents file) and those the
 * agent reports, the source's value winning for a key both have. Call with
 * n->mu held; out has room for RM_FLEET_MAX_LABELS. Returns the count.
 */
size_t rm__fleet_node_labels(const node_t *n, rm_fleet_label_t *out);

/* Copy a node's view (under its lock). */
void rm__fleet_view(node_t *n, node_view_t *out);

/* Poll one node now (Health, stats, forecast or derived level, policy); thread-safe. */
void rm__fleet_poll(struct rm_fleet *f, node_t *n, int run_policy);

/* Append an event to the node's ring. */
void rm__fleet_event(node_t *n, const char *kind, const char *status, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* snprintf that may truncate on purpose (messages into fixed buffers). */
void rm__fleet_fmt(char *dst, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/*
 * Split a target address "HOST:PORT[/AUTHORITY]" (unix:/path never has an
 * authority): hostport is what the channel connects to, authority (may be
 * "") the :authority its calls carry, so one server can answer as many
 * agents (tools/fleetsim, a proxy). 1 when valid, 0 otherwise (ADR 0026).
 */
int rm__fleet_split_address(const char *addr, char *hostport, size_t hpcap, char *authority, size_t acap);

/* Copy with truncation to cap - 1 bytes, always terminated. */
void rm__fleet_copy(char *dst, size_t cap, const char *src);

#endif /* RUSTYMEM_FLEET_INTERNAL_H */
