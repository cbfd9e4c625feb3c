/*
 * knobs_defs.c — the data of the knob registry: every knob's definition, the
 * cross-knob constraints and the profile tables.
 *
 * Design note. The tables are constant, indexed by rm_knob_id_t through
 * designated initialisers (so an entry can never drift to another id), and
 * carry a `seed` string naming the source of each default or profile value:
 * the seed guide (RustyDB v0.6.0 Memory Tuning Guide), ARCHITECTURE.md, or a
 * rule of ours recorded in docs/adr/0006-knob-registry.md. docs/knobs.md is
 * generated from these tables (rm_knobs_write_markdown) and a unit test keeps
 * it current.
 */
#include "knobs_internal.h"

#include "rustymem/bufpool.h"

#include <stdio.h>

#define KiB (INT64_C(1) << 10)
#define MiB (INT64_C(1) << 20)
#define GiB (INT64_C(1) << 30)
#define TiB (INT64_C(1) << 40)

static int
check_pow2(const rm_knob_value_t *v, char *why, size_t why_len)
{
    if (v->i > 0 && (v->i & (v->i - 1)) == 0)
        return 1;
    snprintf(why, why_len, "must be a power of two");
    return 0;
}

static int
check_budget(const rm_knob_value_t *v, char *why, size_t why_len)
{
    if (v->i == 0 || v->i >= 64 * MiB)
        return 1;
    snprintf(why, why_len, "must be 0 (auto) or at least 64MiB");
    return 0;
}

static int
check_frames(const rm_knob_value_t *v, char *why, size_t why_len)
{
    if (rm_bufpool_num_frames_valid(v->i))   /* the buffer pool's rule (bufpool.h) */
        return 1;
    snprintf(why, why_len, "must be 0 (auto) or at least %u", RM_BUFPOOL_FRAMES_MIN);
    return 0;
}

static int
check_arena_cutoff(const rm_knob_value_t *v, char *why, size_t why_len)
{
    if (v->i == 0 || v->i >= 64 * KiB)
        return 1;
    snprintf(why, why_len, "must be 0 (never disable) or at least 64KiB");
    return 0;
}

static int
check_increasing(const rm_knob_value_t *v, char *why, size_t why_len)
{
    for (int64_t i = 1; i < v->list.n; i++)
        if (v->list.v[i] <= v->list.v[i - 1]) {
            snprintf(why, why_len, "entries must be strictly increasing");
            return 0;
        }
    return 1;
}

static const char *const strategy_names[] = {"best_fit", "first_fit", "worst_fit", NULL};

/* One row per knob: id, name, type, unit, the one-line description and the
 * source of the default; the rest (default, range, check, restart) as named
 * fields. The typed forms below take the default and the range in order. */
#define KNOB(ID, NAME, TYPE, UNIT, DESC, SEED, ...)                                           \
    [ID] = {.id = ID, .name = NAME, .type = TYPE, .unit = UNIT, .description = DESC,           \
            .seed = SEED, __VA_ARGS__}
#define INT64_KNOB(ID, NAME, UNIT, DEF, MIN, MAX, DESC, SEED, ...)                            \
    KNOB(ID, NAME, RM_KNOB_INT64, UNIT, DESC, SEED, .def = {.i = DEF}, .min_i = MIN, .max_i = MAX, \
         __VA_ARGS__)
#define BYTES_KNOB(ID, NAME, UNIT, DEF, MIN, MAX, DESC, SEED, ...)                            \
    KNOB(ID, NAME, RM_KNOB_BYTES, UNIT, DESC, SEED, .def = {.i = DEF}, .min_i = MIN, .max_i = MAX, \
         __VA_ARGS__)
#define DOUBLE_KNOB(ID, NAME, UNIT, DEF, MIN, MAX, DESC, SEED, ...)                           \
    KNOB(ID, NAME, RM_KNOB_DOUBLE, UNIT, DESC, SEED, .def = {.d = DEF}, .min_d = MIN, .max_d = MAX, \
         __VA_ARGS__)

#define MAGAZINE(ID, NAME, DEF, CLASS, SEED)                                                  \
    INT64_KNOB(ID, NAME, "objects", DEF, 1, 256,                                              \
               "per-thread magazine capacity of the " CLASS " slab class", SEED)

#define THRESHOLD(ID, NAME, DEF, WHAT, SEED)                                                  \
    DOUBLE_KNOB(ID, NAME, "ratio", DEF, 0.05, 0.99, "fraction of the memory budget at which " WHAT, SEED)

const rm_knob_def_t rm__knob_defs[RM_KNOB_COUNT] = {
    BYTES_KNOB(RM_KNOB_MEMORY_BUDGET_BYTES, "memory.budget_bytes", "bytes", 0, 0, 1024 * TiB,
               "memory budget; 0 = auto (own cgroup limit, v2 or v1, else MemTotal), else >= 64MiB",
               "ARCHITECTURE.md §7", .check = check_budget),
    MAGAZINE(RM_KNOB_SLAB_LOCK_ENTRY_MAGAZINE, "slab.lock_entry_magazine", 128, "64 B (lock entry)",
             "seed: Magazine Sizing, Lock entries 128"),
    MAGAZINE(RM_KNOB_SLAB_PAGE_HEADER_MAGAZINE, "slab.page_header_magazine", 128,
             "128 B (page header)", "ours: ~16KiB per magazine, high-frequency like lock entries"),
    MAGAZINE(RM_KNOB_SLAB_VERSION_RECORD_MAGAZINE, "slab.version_record_magazine", 128,
             "192 B (version record)", "ours: ~24KiB per magazine, one per MVCC write"),
    MAGAZINE(RM_KNOB_SLAB_SMALL_ROW_MAGAZINE, "slab.small_row_magazine", 96, "256 B (small row)",
             "seed: Magazine Sizing, Small rows 96"),
    MAGAZINE(RM_KNOB_SLAB_TXN_METADATA_MAGAZINE, "slab.txn_metadata_magazine", 96,
             "384 B (transaction metadata)", "ours: as small rows; within the seed's 64-256 magazine range"),
    MAGAZINE(RM_KNOB_SLAB_MEDIUM_ROW_MAGAZINE, "slab.medium_row_magazine", 64,
             "512 B (medium row, small index node)",
             "ours: the seed's 64-256 magazine range starts at 64 (row-heavy also names 64)"),
    MAGAZINE(RM_KNOB_SLAB_LARGE_ROW_MAGAZINE, "slab.large_row_magazine", 64, "1024 B (large row)",
             "ours: lower end of the seed's 64-256 magazine range"),
    MAGAZINE(RM_KNOB_SLAB_INDEX_NODE_MAGAZINE, "slab.index_node_magazine", 16,
             "2048 B (large index node)", "seed: Magazine Sizing, Index nodes 16"),
    MAGAZINE(RM_KNOB_SLAB_PAGE_MAGAZINE, "slab.page_magazine", 64, "4096 B (page)",
             "ours: lower end of the seed's 64-256 magazine range (measured in ADR 0002)"),
    BYTES_KNOB(RM_KNOB_ARENA_DISABLE_ABOVE_BYTES, "arena.disable_above_bytes", "bytes",
               100 * MiB, 0, 1024 * GiB,
               "transactions hinting more than this bypass arenas (bulk loads); 0 = never, else >= 64KiB",
               "seed: Bulk loads, disable arena for >100MB (seed MB = 2^20 B)", .check = check_arena_cutoff),
    BYTES_KNOB(RM_KNOB_LARGE_OBJECT_THRESHOLD_BYTES, "large_object.threshold_bytes", "bytes",
               2 * MiB, 256 * KiB, 64 * MiB,
               "objects above this size use the large-object allocator",
               "seed: Threshold Configuration, 2 * 1024 * 1024"),
    KNOB(RM_KNOB_LARGE_OBJECT_STRATEGY, "large_object.strategy", RM_KNOB_ENUM, "",
         "free-extent fit: best_fit (low fragmentation), first_fit (fast), worst_fit",
         "seed: Allocation Strategies, BestFit default", .def = {.e = 0}, .enum_names = strategy_names),
    KNOB(RM_KNOB_LARGE_OBJECT_AGGRESSIVE_COALESCING, "large_object.aggressive_coalescing", RM_KNOB_BOOL, "",
         "coalesce free extents eagerly on every free",
         "seed: restart with aggressive coalescing", .def = {.b = false}, .restart = true),
    INT64_KNOB(RM_KNOB_BUFFER_POOL_NUM_FRAMES, "buffer_pool.num_frames", "frames",
               0, 0, RM_BUFPOOL_FRAMES_MAX,
               "buffer pool frames; 0 = auto: auto_fraction of the budget / page_size",
               "ARCHITECTURE.md §8: 30 % of the budget", .check = check_frames),
    BYTES_KNOB(RM_KNOB_BUFFER_POOL_PAGE_SIZE, "buffer_pool.page_size", "bytes", 4096, 4096, 64 * KiB,
               "buffer pool page (frame) size, a power of two",
               "seed: BufferPoolConfig page_size 4096", .check = check_pow2, .restart = true),
    DOUBLE_KNOB(RM_KNOB_BUFFER_POOL_AUTO_FRACTION, "buffer_pool.auto_fraction", "ratio", 0.30, 0.05, 0.90,
                "share of the budget for the buffer pool when num_frames = 0",
                "seed: Right-Size Buffer Pool, start with 30% of RAM"),
    THRESHOLD(RM_KNOB_PRESSURE_WARNING_THRESHOLD, "pressure.warning_threshold", 0.70,
              "pressure is Gentle (warning)", "seed: EarlyWarningConfig 0.70"),
    THRESHOLD(RM_KNOB_PRESSURE_HIGH_PRESSURE_THRESHOLD, "pressure.high_pressure_threshold", 0.80,
              "pressure is Aggressive (high)", "seed: EarlyWarningConfig 0.80"),
    THRESHOLD(RM_KNOB_PRESSURE_CRITICAL_THRESHOLD, "pressure.critical_threshold", 0.90,
              "pressure is Emergency (critical)", "seed: EarlyWarningConfig 0.90"),
    THRESHOLD(RM_KNOB_PRESSURE_EMERGENCY_THRESHOLD, "pressure.emergency_threshold", 0.95,
              "OOM prevention starts (emergency)", "seed: EarlyWarningConfig 0.95"),
    INT64_KNOB(RM_KNOB_PRESSURE_HISTORY_SIZE, "pressure.history_size", "samples", 60, 10, 3600,
               "samples the forecaster keeps (one per sampler tick)",
               "seed: EarlyWarningConfig 60"),
    KNOB(RM_KNOB_PRESSURE_FORECAST_HORIZONS, "pressure.forecast_horizons", RM_KNOB_INT_LIST, "seconds",
         "forecast horizons, strictly increasing, up to 8",
         "seed: EarlyWarningConfig vec![30, 60, 120]",
         .def = {.list = {3, {30, 60, 120}}}, .min_i = 1, .max_i = 3600, .check = check_increasing),
    DOUBLE_KNOB(RM_KNOB_PRESSURE_MIN_CONFIDENCE, "pressure.min_confidence", "ratio", 0.7, 0.0, 1.0,
                "forecasts below this confidence do not trigger a response",
                "seed: EarlyWarningConfig 0.7"),
    INT64_KNOB(RM_KNOB_PRESSURE_FORECAST_PERSIST_SAMPLES, "pressure.forecast_persist_samples", "samples",
               5, 1, 3600,
               "a forecast raises the level only after asking for it on this many samples in a row",
               "ours: ADR 0005 section 5 (a steady load must not change the level)"),
    INT64_KNOB(RM_KNOB_PRESSURE_DWELL_SECONDS, "pressure.dwell_seconds", "seconds", 30, 0, 3600,
               "a level is left only after the reasons to leave it held this long",
               "ours: ADR 0005 section 5 (hysteresis in time)"),
    DOUBLE_KNOB(RM_KNOB_ALERTS_FRAGMENTATION_WARNING, "alerts.fragmentation_warning", "ratio",
                0.20, 0.01, 0.99,
                "fragmentation ratio that raises a warning alert",
                "seed: Alerting Thresholds, Fragmentation > 20%"),
    DOUBLE_KNOB(RM_KNOB_ALERTS_FRAGMENTATION_CRITICAL, "alerts.fragmentation_critical", "ratio",
                0.35, 0.01, 0.99,
                "fragmentation ratio that raises a critical alert",
                "seed: Alerting Thresholds, Fragmentation > 35%"),
    INT64_KNOB(RM_KNOB_ALERTS_PRESSURE_EVENTS_PER_HOUR, "alerts.pressure_events_per_hour", "events/hour",
               5, 1, 3600,
               "pressure events per hour above which a warning alert is raised",
               "seed: Alerting Thresholds, pressure events > 5/hour"),
    INT64_KNOB(RM_KNOB_SESSION_MAX_CONNECTIONS, "session.max_connections", "connections", 1000, 1, 100000,
               "backend connection slots (engine worker threads)",
               "seed: MultiplexerConfig 1000", .restart = true),
    INT64_KNOB(RM_KNOB_SESSION_MAX_SESSIONS, "session.max_sessions", "sessions", 10000, 1, 10000000,
               "client sessions multiplexed onto the connections",
               "seed: MultiplexerConfig 10_000"),
    INT64_KNOB(RM_KNOB_SESSION_SESSION_RATIO, "session.session_ratio", "sessions/connection", 10, 1, 100,
               "target sessions per connection",
               "seed: MultiplexerConfig 10"),
    INT64_KNOB(RM_KNOB_SESSION_IDLE_TIMEOUT, "session.idle_timeout", "seconds", 300, 0, 7 * 24 * 3600,
               "a session with no call for this long is closed (an open transaction is rolled back); 0 = "
               "never",
               "ours: ADR 0010 (PgBouncer client_idle_timeout, PostgreSQL idle_session_timeout)"),
    INT64_KNOB(RM_KNOB_SESSION_MAX_SESSIONS_PER_PRINCIPAL, "session.max_sessions_per_principal", "sessions",
               10000, 0, 10000000,
               "open sessions one principal (token, certificate, or peer address on an open server) may "
               "hold; 0 = no quota",
               "ours: ADR 0010 (one application holds the seed's 10 000 sessions)"),
    INT64_KNOB(RM_KNOB_MVCC_MAX_VERSIONS_PER_KEY, "mvcc.max_versions_per_key", "versions", 1000, 1, 10000000,
               "version chain length that triggers compaction",
               "seed: OptimizedMVCCManager::new(1000)"),
    INT64_KNOB(RM_KNOB_MVCC_VACUUM_CHAINS_PER_SECOND, "mvcc.vacuum_chains_per_second", "chains/s",
               200000, 0, 100000000,
               "background vacuum: version chains visited per second to drop versions no snapshot can see "
               "(PostgreSQL autovacuum, InnoDB purge); 0 = only under pressure",
               "ours: the seed compacts only past max_versions_per_key"),
    INT64_KNOB(RM_KNOB_PLAN_CACHE_MAX_PLANS, "plan_cache.max_plans", "plans", 10000, 1, 10000000,
               "plan cache capacity in plans",
               "seed: QueryPlanCache::new(10_000, …)"),
    BYTES_KNOB(RM_KNOB_PLAN_CACHE_MAX_BYTES, "plan_cache.max_bytes", "bytes", 100 * MiB, 64 * KiB, 64 * GiB,
               "plan cache capacity in bytes",
               "seed: QueryPlanCache::new(…, 100 * 1024 * 1024)"),
    INT64_KNOB(RM_KNOB_POOL_MIN_SIZE, "pool.min_size", "connections", 10, 1, 100000,
               "adaptive connection pool lower bound",
               "seed: AdaptivePoolConfig 10"),
    INT64_KNOB(RM_KNOB_POOL_MAX_SIZE, "pool.max_size", "connections", 500, 1, 100000,
               "adaptive connection pool upper bound",
               "seed: AdaptivePoolConfig 500"),
    DOUBLE_KNOB(RM_KNOB_POOL_SCALE_DOWN_THRESHOLD, "pool.scale_down_threshold", "ratio", 0.40, 0.05, 0.95,
                "pool utilisation below which the pool shrinks",
                "seed: AdaptivePoolConfig 0.40"),
    INT64_KNOB(RM_KNOB_SERVER_MAX_CONNECTIONS, "server.max_connections", "connections", 0, 0, 1048576,
               "gRPC connections accepted at once; beyond it a new connection is closed at once; 0 = the "
               "open-file limit minus an eighth (at least 64) kept for the agent's own files",
               "not in the seed: a connection flood must not exhaust file descriptors (ADR 0012)"),
};

const rm__knob_constraint_t rm__knob_constraints[] = {
    {RM__REL_LT, RM_KNOB_PRESSURE_WARNING_THRESHOLD, RM_KNOB_PRESSURE_HIGH_PRESSURE_THRESHOLD, 0,
     "pressure levels are ordered"},
    {RM__REL_LT, RM_KNOB_PRESSURE_HIGH_PRESSURE_THRESHOLD, RM_KNOB_PRESSURE_CRITICAL_THRESHOLD, 0,
     "pressure levels are ordered"},
    {RM__REL_LT, RM_KNOB_PRESSURE_CRITICAL_THRESHOLD, RM_KNOB_PRESSURE_EMERGENCY_THRESHOLD, 0,
     "pressure levels are ordered"},
    {RM__REL_LT, RM_KNOB_ALERTS_FRAGMENTATION_WARNING, RM_KNOB_ALERTS_FRAGMENTATION_CRITICAL, 0,
     "alert levels are ordered"},
    {RM__REL_LE, RM_KNOB_POOL_MIN_SIZE, RM_KNOB_POOL_MAX_SIZE, 0, "a pool range must not be empty"},
    {RM__REL_LE, RM_KNOB_POOL_MAX_SIZE, RM_KNOB_SESSION_MAX_CONNECTIONS, 0,
     "the pool draws from the connection slots"},
    {RM__REL_LE, RM_KNOB_SESSION_MAX_CONNECTIONS, RM_KNOB_SESSION_MAX_SESSIONS, 0,
     "every connection serves at least one session"},
    {RM__REL_FRAMES_FIT, RM_KNOB_BUFFER_POOL_NUM_FRAMES, RM_KNOB_BUFFER_POOL_PAGE_SIZE,
     RM_KNOB_MEMORY_BUDGET_BYTES, "an explicit buffer pool must fit in an explicit budget"},
};
const size_t rm__knob_constraint_count =
    sizeof rm__knob_constraints / sizeof rm__knob_constraints[0];

/* ---- profiles ----------------------------------------------------------- */

/* A profile is a column of one of the tables below: a row per knob, with the
 * value and its source for each profile in the order of the enum. Written as
 * rows so that every profile of a kind names the same knobs: switching never
 * leaves a value of the previous profile behind. */
#define ENVIRONMENT_ROWS(X)                                                                         \
    X(RM_KNOB_PRESSURE_WARNING_THRESHOLD,                                                           \
      "0.8", "seed: Development/Test warning 0.80",                                                 \
      "0.7", "seed: Production warning 0.70",                                                       \
      "0.6", "seed: Mission-critical warning 0.60")                                                 \
    X(RM_KNOB_PRESSURE_HIGH_PRESSURE_THRESHOLD,                                                     \
      "0.875", "rule: midpoint of warning and critical",                                            \
      "0.8", "seed: default; = midpoint rule",                                                      \
      "0.725", "rule: midpoint of warning and critical")                                            \
    X(RM_KNOB_PRESSURE_CRITICAL_THRESHOLD,                                                          \
      "0.95", "seed: Development/Test critical 0.95",                                               \
      "0.9", "seed: Production critical 0.90",                                                      \
      "0.85", "seed: Mission-critical critical 0.85")                                               \
    X(RM_KNOB_PRESSURE_EMERGENCY_THRESHOLD,                                                         \
      "0.975", "rule: critical + half the headroom left",                                           \
      "0.95", "seed: default; = headroom rule",                                                     \
      "0.925", "rule: critical + half the headroom left")                                           \
    X(RM_KNOB_PRESSURE_HISTORY_SIZE,                                                                \
      "60", "seed: default history_size",                                                           \
      "60", "seed: default history_size",                                                           \
      "120", "seed: Mission-critical history_size 120")

#define WORKLOAD_ROWS(X)                                                                            \
    X(RM_KNOB_SLAB_LOCK_ENTRY_MAGAZINE,                                                             \
      "256", "seed: OLTP (high lock contention) 256",                                               \
      "128", "seed: default",                                                                       \
      "128", "seed: default")                                                                       \
    X(RM_KNOB_SLAB_SMALL_ROW_MAGAZINE,                                                              \
      "96", "seed: default",                                                                        \
      "128", "seed: Row-heavy workload 128",                                                        \
      "96", "seed: default")                                                                        \
    X(RM_KNOB_SLAB_MEDIUM_ROW_MAGAZINE,                                                             \
      "64", "default (ours: low end of the seed's 64-256 range)",                                   \
      "64", "seed: Row-heavy workload 64",                                                          \
      "64", "default (ours: low end of the seed's 64-256 range)")                                   \
    X(RM_KNOB_MVCC_MAX_VERSIONS_PER_KEY,                                                            \
      "100", "seed: Short transactions 100",                                                        \
      "10000", "seed: Long transactions 10000",                                                     \
      "1000", "seed: default")                                                                      \
    X(RM_KNOB_PLAN_CACHE_MAX_PLANS,                                                                 \
      "1000", "seed: Low query diversity (OLTP) 1_000",                                             \
      "100", "seed: Read-only reporting 100",                                                       \
      "10000", "seed: default")                                                                     \
    X(RM_KNOB_PLAN_CACHE_MAX_BYTES,                                                                 \
      "10MiB", "seed: Low query diversity (OLTP) 10 MB",                                            \
      "1MiB", "seed: Read-only reporting 1 MB",                                                     \
      "100MiB", "seed: default")                                                                    \
    X(RM_KNOB_SESSION_SESSION_RATIO,                                                                \
      "20", "seed: OLTP ratio 10:1 to 20:1, multiplexing essential",                                \
      "2", "seed: OLAP lower ratio (2:1)",                                                          \
      "10", "seed: Mixed medium session ratio; default 10")                                         \
    X(RM_KNOB_SESSION_MAX_SESSIONS,                                                                 \
      "20000", "rule: max_connections 1000 x session_ratio",                                        \
      "2000", "rule: max_connections 1000 x session_ratio",                                         \
      "10000", "seed: default; = rule")                                                             \
    X(RM_KNOB_BUFFER_POOL_AUTO_FRACTION,                                                            \
      "0.25", "seed: OLTP smaller buffer pool (20-30% RAM)",                                        \
      "0.5", "seed: OLAP larger buffer pool (40-60% RAM)",                                          \
      "0.35", "seed: Mixed balanced (30-40% RAM)")                                                  \
    X(RM_KNOB_LARGE_OBJECT_THRESHOLD_BYTES,                                                         \
      "4MiB", "seed: Many small objects (< 256KB) 4MB",                                             \
      "1MiB", "seed: Many large objects (> 1MB) 1MB",                                               \
      "2MiB", "seed: Balanced 2MB (default)")

#define COL0(ID, V0, S0, V1, S1, V2, S2) {ID, V0, S0},
#define COL1(ID, V0, S0, V1, S1, V2, S2) {ID, V1, S1},
#define COL2(ID, V0, S0, V1, S1, V2, S2) {ID, V2, S2},

static const rm_knobs_profile_entry_t env_development[] = {ENVIRONMENT_ROWS(COL0)};
static const rm_knobs_profile_entry_t env_production[] = {ENVIRONMENT_ROWS(COL1)};
static const rm_knobs_profile_entry_t env_mission_critical[] = {ENVIRONMENT_ROWS(COL2)};
static const rm_knobs_profile_entry_t wl_oltp[] = {WORKLOAD_ROWS(COL0)};
static const rm_knobs_profile_entry_t wl_olap[] = {WORKLOAD_ROWS(COL1)};
static const rm_knobs_profile_entry_t wl_mixed[] = {WORKLOAD_ROWS(COL2)};

#define N(a) (sizeof(a) / sizeof((a)[0]))

static const struct {
    const char *name;
    const rm_knobs_profile_entry_t *t;
    size_t n;
} workloads[RM_WORKLOAD_COUNT] = {
    [RM_WORKLOAD_OLTP] = {"oltp", wl_oltp, N(wl_oltp)},
    [RM_WORKLOAD_OLAP] = {"olap", wl_olap, N(wl_olap)},
    [RM_WORKLOAD_MIXED] = {"mixed", wl_mixed, N(wl_mixed)},
}, environments[RM_ENV_COUNT] = {
    [RM_ENV_DEVELOPMENT] = {"development", env_development, N(env_development)},
    [RM_ENV_PRODUCTION] = {"production", env_production, N(env_production)},
    [RM_ENV_MISSION_CRITICAL] = {"mission_critical", env_mission_critical,
                                 N(env_mission_critical)},
};

const char *
rm_knobs_workload_name(rm_knobs_workload_t w)
{
    return (unsigned)w < RM_WORKLOAD_COUNT ? workloads[w].name : NULL;
}

const char *
rm_knobs_environment_name(rm_knobs_environment_t e)
{
    return (unsigned)e < RM_ENV_COUNT ? environments[e].name : NULL;
}

const rm_knobs_profile_entry_t *
rm_knobs_workload_table(rm_knobs_workload_t w, size_t *n)
{
    if ((unsigned)w >= RM_WORKLOAD_COUNT) {
        *n = 0;
        return NULL;
    }
    *n = workloads[w].n;
    return workloads[w].t;
}

const rm_knobs_profile_entry_t *
rm_knobs_environment_table(rm_knobs_environment_t e, size_t *n)
{
    if ((unsigned)e >= RM_ENV_COUNT) {
        *n = 0;
        return NULL;
    }
    *n = environments[e].n;
    return environments[e].t;
}

/* Case-insensitive compare treating '-' as '_'. */
static int
name_eq(const char *s, const char *name)
{
    for (; *s && *name; s++, name++) {
        char c = *s;
        if (c == '-')
            c = '_';
        if (c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        if (c != *name)
            return 0;
    }
    return *s == *name;
}

rm_status_t
rm_knobs_workload_from_name(const char *s, rm_knobs_workload_t *out)
{
    for (int i = 0; s && i < RM_WORKLOAD_COUNT; i++)
        if (name_eq(s, workloads[i].name)) {
            *out = (rm_knobs_workload_t)i;
            return RM_OK;
        }
    return RM_EINVAL;
}

rm_status_t
rm_knobs_environment_from_name(const char *s, rm_knobs_environment_t *out)
{
    for (int i = 0; s && i < RM_ENV_COUNT; i++)
        if (name_eq(s, environments[i].name)) {
            *out = (rm_knobs_environment_t)i;
            return RM_OK;
        }
    return RM_EINVAL;
}
