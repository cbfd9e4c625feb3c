/*
 * knobs.h — the registry of typed, validated, documented tuning knobs.
 *
 * Design note. Every tunable of rustymem (ARCHITECTURE.md §7 and the seed's
 * tuning tables) is one row of a constant definition table: name
 * ("section.key"), type, default, range, unit, one-line description, and
 * whether a change takes effect live or only after a restart. A knobs
 * instance (rm_knobs_t, no hidden global) holds three value sets per knob:
 *
 *   running    what the process uses now; read lock-free by the typed getters
 *   configured what the process will use after a restart (== running for live
 *              knobs; may differ for restart-only knobs: "pending restart")
 *   persisted  the values changed at runtime that must survive a restart
 *              (PostgreSQL's ALTER SYSTEM / postgresql.auto.conf model)
 *
 * Writers (rm_knobs_set, rm_knobs_apply_profile) are serialised by one mutex.
 * A set is validated as a whole on the would-be state — parse, per-knob range,
 * cross-knob constraints (warning < high < critical < emergency, pool.min_size
 * ≤ pool.max_size, …) on both the would-be configured and the would-be running
 * state, then every subscriber's veto callback, then the persister (which
 * writes the would-be persisted INI text) — and only then committed. Any
 * failure leaves every value (and the persisted file) unchanged.
 *
 * The subscribers' apply callbacks run after the mutex is released, in commit
 * order (docs/adr/0025): a slow apply (a buffer-pool resize writing dirty
 * pages) never holds up another set. The setter that finds no apply running
 * runs the queued applies itself before returning; a setter that finds one
 * running returns at once with its change committed and still applying
 * (rm_knob_error_t.applying, rm_knobs_applying). A change of a knob whose
 * earlier change has not started applying yet supersedes it.
 *
 * Readers never take the mutex: scalar getters are one atomic load; multi-word
 * or multi-knob reads use a sequence counter (seqlock) and retry only while a
 * commit is copying words, which is a handful of stores.
 *
 * memcore performs no I/O here: persistence is a callback (the agent writes
 * the text atomically, agents/node/config.c) and the only FILE* users are the
 * optional writers rm_knobs_write_ini / rm_knobs_write_markdown.
 */
#ifndef RUSTYMEM_KNOBS_H
#define RUSTYMEM_KNOBS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "rustymem/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Knob identifiers; the definition table is indexed by these. */
typedef enum rm_knob_id {
    RM_KNOB_MEMORY_BUDGET_BYTES = 0,
    RM_KNOB_SLAB_LOCK_ENTRY_MAGAZINE,     /*   64 B class */
    RM_KNOB_SLAB_PAGE_HEADER_MAGAZINE,    /*  128 B class */
    RM_KNOB_SLAB_VERSION_RECORD_MAGAZINE, /*  192 B class */
    RM_KNOB_SLAB_SMALL_ROW_MAGAZINE,      /*  256 B class */
    RM_KNOB_SLAB_TXN_METADATA_MAGAZINE,   /*  384 B class */
    RM_KNOB_SLAB_MEDIUM_ROW_MAGAZINE,     /*  512 B class */
    RM_KNOB_SLAB_LARGE_ROW_MAGAZINE,      /* 1024 B class */
    RM_KNOB_SLAB_INDEX_NODE_MAGAZINE,     /* 2048 B class */
    RM_KNOB_SLAB_PAGE_MAGAZINE,           /* 4096 B class */
    RM_KNOB_ARENA_DISABLE_ABOVE_BYTES,
    RM_KNOB_LARGE_OBJECT_THRESHOLD_BYTES,
    RM_KNOB_LARGE_OBJECT_STRATEGY,
    RM_KNOB_LARGE_OBJECT_AGGRESSIVE_COALESCING,
    RM_KNOB_BUFFER_POOL_NUM_FRAMES,
    RM_KNOB_BUFFER_POOL_PAGE_SIZE,
    RM_KNOB_BUFFER_POOL_AUTO_FRACTION,
    RM_KNOB_PRESSURE_WARNING_THRESHOLD,
    RM_KNOB_PRESSURE_HIGH_PRESSURE_THRESHOLD,
    RM_KNOB_PRESSURE_CRITICAL_THRESHOLD,
    RM_KNOB_PRESSURE_EMERGENCY_THRESHOLD,
    RM_KNOB_PRESSURE_HISTORY_SIZE,
    RM_KNOB_PRESSURE_FORECAST_HORIZONS,
    RM_KNOB_PRESSURE_MIN_CONFIDENCE,
    RM_KNOB_PRESSURE_FORECAST_PERSIST_SAMPLES,
    RM_KNOB_PRESSURE_DWELL_SECONDS,
    RM_KNOB_ALERTS_FRAGMENTATION_WARNING,
    RM_KNOB_ALERTS_FRAGMENTATION_CRITICAL,
    RM_KNOB_ALERTS_PRESSURE_EVENTS_PER_HOUR,
    RM_KNOB_SESSION_MAX_CONNECTIONS,
    RM_KNOB_SESSION_MAX_SESSIONS,
    RM_KNOB_SESSION_SESSION_RATIO,
    RM_KNOB_SESSION_IDLE_TIMEOUT,
    RM_KNOB_SESSION_MAX_SESSIONS_PER_PRINCIPAL,
    RM_KNOB_MVCC_MAX_VERSIONS_PER_KEY,
    RM_KNOB_MVCC_VACUUM_CHAINS_PER_SECOND,
    RM_KNOB_PLAN_CACHE_MAX_PLANS,
    RM_KNOB_PLAN_CACHE_MAX_BYTES,
    RM_KNOB_POOL_MIN_SIZE,
    RM_KNOB_POOL_MAX_SIZE,
    RM_KNOB_POOL_SCALE_DOWN_THRESHOLD,
    RM_KNOB_SERVER_MAX_CONNECTIONS,
    RM_KNOB_COUNT
} rm_knob_id_t;

typedef enum rm_knob_type {
    RM_KNOB_INT64 = 0, /* signed integer */
    RM_KNOB_DOUBLE,    /* finite double; text may end in '%' (divided by 100) */
    RM_KNOB_BOOL,      /* true/false, on/off, yes/no, 1/0 */
    RM_KNOB_ENUM,      /* one of def->enum_names; value is the index */
    RM_KNOB_INT_LIST,  /* comma-separated integers, 1..RM_KNOB_LIST_MAX */
    RM_KNOB_BYTES,     /* integer bytes; suffixes B, kB/MB/GB/TB (10^3n),
                          KiB/MiB/GiB/TiB (2^10n) */
} rm_knob_type_t;

#define RM_KNOB_LIST_MAX 8   /* entries in an RM_KNOB_INT_LIST value */
#define RM_KNOB_TEXT_MAX 128 /* bytes: enough for any formatted value + NUL */
#define RM_KNOB_NAME_MAX 64  /* bytes: longest knob name + NUL */

/*
 * A knob value. Plain data, copyable by assignment; the same layout serves
 * every type (words[] lets the registry copy it with atomic word loads).
 */
typedef union rm_knob_value {
    int64_t i;     /* RM_KNOB_INT64, RM_KNOB_BYTES (bytes) */
    double d;      /* RM_KNOB_DOUBLE */
    bool b;        /* RM_KNOB_BOOL */
    int32_t e;     /* RM_KNOB_ENUM: index into enum_names */
    struct {
        int64_t n;                   /* entries used, 1..RM_KNOB_LIST_MAX */
        int64_t v[RM_KNOB_LIST_MAX]; /* entries [0, n) */
    } list;        /* RM_KNOB_INT_LIST */
    uint64_t words[1 + RM_KNOB_LIST_MAX];
} rm_knob_value_t;

/* Extra per-knob check beyond min/max (power of two, "0 or ≥ X", …). Writes a
 * short reason ("must be a power of two") into why on failure. */
typedef int (*rm_knob_check_fn)(const rm_knob_value_t *v, char *why, size_t why_len);

/* One knob's definition. The table is constant and lives for the program. */
typedef struct rm_knob_def {
    rm_knob_id_t id;
    const char *name;        /* "section.key", lowercase */
    rm_knob_type_t type;
    const char *unit;        /* "bytes", "ratio", "objects", "seconds", … ("" = none) */
    const char *description; /* one line */
    bool restart;            /* true: changes take effect only after a restart */
    rm_knob_value_t def;     /* default (seed value where the seed has one) */
    int64_t min_i, max_i;    /* inclusive range: INT64/BYTES values, LIST entries */
    double min_d, max_d;     /* inclusive range: DOUBLE */
    const char *const *enum_names; /* RM_KNOB_ENUM: NULL-terminated */
    rm_knob_check_fn check;  /* optional */
    const char *seed;        /* where the default comes from (docs) */
} rm_knob_def_t;

/* Number of knobs (== RM_KNOB_COUNT). */
size_t rm_knobs_count(void);

/* Definition of knob `id`, or NULL when id is out of range. Thread-safe. */
const rm_knob_def_t *rm_knobs_def(rm_knob_id_t id);

/* Find a knob by exact name ("pressure.warning_threshold"). Returns RM_OK and
 * *id, or RM_ENOENT (then *id is untouched). Thread-safe. */
rm_status_t rm_knobs_lookup(const char *name, rm_knob_id_t *id);

/*
 * Parse text into a value for `def`, checking type, range and def->check.
 * Returns RM_OK, or RM_EINVAL with a reason in why ("out of range [0.05,
 * 0.99]"); *out is unspecified after failure. why may be NULL. Thread-safe.
 */
rm_status_t rm_knobs_parse(const rm_knob_def_t *def, const char *text, rm_knob_value_t *out,
                           char *why, size_t why_len);

/* Format a value as text that rm_knobs_parse reads back to the same value
 * (bytes exact multiples of KiB/MiB/GiB get a suffix). Always NUL-terminates;
 * RM_KNOB_TEXT_MAX bytes always suffice. Returns the length written. */
size_t rm_knobs_format(const rm_knob_def_t *def, const rm_knob_value_t *v, char *buf,
                       size_t len);

/* Values equal for def's type (lists compare the used entries only). */
bool rm_knobs_value_equal(const rm_knob_def_t *def, const rm_knob_value_t *a,
                          const rm_knob_value_t *b);

/* ---- instances ---------------------------------------------------------- */

typedef struct rm_knobs rm_knobs_t;

/*
 * Create an instance holding every knob at its default, in the "booting"
 * state: until rm_knobs_mark_started(), restart-only knobs are set directly
 * (config loading); afterwards their changes become pending.
 * Returns RM_OK and the instance in *out (caller owns; rm_knobs_destroy),
 * or RM_ENOMEM (then *out is untouched).
 */
rm_status_t rm_knobs_create(rm_knobs_t **out);

/* Destroy; NULL is a no-op. No other call may be in progress. Subscriptions
 * still registered are freed. */
void rm_knobs_destroy(rm_knobs_t *k);

/* End the booting state (see rm_knobs_create). Thread-safe; idempotent. */
void rm_knobs_mark_started(rm_knobs_t *k);

/* ---- readers: lock-free, never block behind a writer -------------------- */

/* Typed running values. The id must name a knob of the matching type
 * (asserted): get_i64 for INT64 and BYTES, get_enum for ENUM. One atomic load;
 * thread-safe against concurrent sets. */
int64_t rm_knobs_get_i64(const rm_knobs_t *k, rm_knob_id_t id);
double rm_knobs_get_double(const rm_knobs_t *k, rm_knob_id_t id);
bool rm_knobs_get_bool(const rm_knobs_t *k, rm_knob_id_t id);
int rm_knobs_get_enum(const rm_knobs_t *k, rm_knob_id_t id);

/* Copy up to cap entries of an INT_LIST knob's running value into out[];
 * returns the number of entries of the value (may exceed cap). */
size_t rm_knobs_get_list(const rm_knobs_t *k, rm_knob_id_t id, int64_t *out, size_t cap);

/* Consistent snapshot of several running values: out[i] is the value of
 * ids[i], all from the same commit. Thread-safe; retries while a commit is
 * copying (a few stores). */
void rm_knobs_read(const rm_knobs_t *k, const rm_knob_id_t *ids, size_t n, rm_knob_value_t *out);

/* Commit counter: increases by one for every committed set or profile. */
uint64_t rm_knobs_generation(const rm_knobs_t *k);

/*
 * Text of knob `name`: running value into `value`, configured value into
 * `configured` (differs only while a restart is pending); either buffer may be
 * NULL. *pending (may be NULL) receives whether a restart is pending.
 * Returns RM_OK or RM_ENOENT. Thread-safe.
 */
rm_status_t rm_knobs_get_text(rm_knobs_t *k, const char *name, char *value, size_t value_len,
                              char *configured, size_t configured_len, bool *pending);

/* True when a restart-only knob has a configured value ≠ its running value. */
bool rm_knobs_pending_restart(rm_knobs_t *k, rm_knob_id_t id);

/* ---- writers ------------------------------------------------------------ */

typedef struct rm_knob_assign {
    const char *name;  /* "section.key" */
    const char *value; /* text, parsed per the knob's type */
} rm_knob_assign_t;

/* Outcome of a set. On failure status < 0, index is the offending assignment
 * (SIZE_MAX when not attributable to one, e.g. a persister failure), knob its
 * name ("" when none), message a full sentence such as
 * "pressure.warning_threshold = 1.7: out of range [0.05, 0.99]". On success
 * status == RM_OK, message "", and pending_restart counts the assignments
 * whose knob is restart-only and now differs from its running value. */
typedef struct rm_knob_error {
    rm_status_t status;
    size_t index;
    char knob[RM_KNOB_NAME_MAX];
    char message[256];
    size_t pending_restart;
    size_t applying;   /* on success: changed knobs whose apply callback had not finished when
                        * the set returned (queued behind an apply another thread runs) */
    uint64_t persist_gen; /* on success with a persister installed: the persist generation
                           * that holds this set's persisted values (the one it handed over,
                           * or the current one when the persisted set did not change);
                           * durable once rm_knobs_persist_state().durable >= it. 0: no
                           * persister (or RM_KNOBS_NO_PERSIST) */
} rm_knob_error_t;

/*
 * Set n knobs together, all or nothing. Each assignment is parsed and range
 * checked; the would-be state (current values with all assignments applied)
 * must satisfy every cross-knob constraint; every subscriber whose prefix
 * matches a changed knob may veto; then the persister (if any) is given the
 * would-be persisted INI text; only if all of that succeeds are the values
 * committed and the subscribers' apply callbacks called (live knobs only).
 * With validate_only nothing is committed or persisted (vetoes still run).
 * A knob named twice, an unknown knob (RM_ENOENT) or n == 0 are errors.
 * Returns RM_OK, RM_EINVAL, RM_ENOENT, RM_ENOMEM, a veto's or the persister's
 * status; err (may be NULL) describes the outcome. After failure no value,
 * no persisted value and no file has changed.
 * Thread-safe; must not be called from a subscriber callback (deadlock).
 */
rm_status_t rm_knobs_set(rm_knobs_t *k, const rm_knob_assign_t *a, size_t n, int validate_only,
                         rm_knob_error_t *err);

/* Flags for rm_knobs_set_ex. */
#define RM_KNOBS_VALIDATE_ONLY 0x1u /* as rm_knobs_set's validate_only */
#define RM_KNOBS_NO_PERSIST    0x2u /* a boot layer (file, env, flags): do not record
                                       the values as persisted nor call the persister */

/* rm_knobs_set with flags (above). rm_knobs_set(k,a,n,v,e) ==
 * rm_knobs_set_ex(k,a,n,v ? RM_KNOBS_VALIDATE_ONLY : 0,e). */
rm_status_t rm_knobs_set_ex(rm_knobs_t *k, const rm_knob_assign_t *a, size_t n, unsigned flags,
                            rm_knob_error_t *err);

/*
 * Record values read back from the persisted file at start: each must parse
 * and be in range (no cross-knob check, no effect on running/configured
 * values — the agent also passes them to rm_knobs_set_ex in its merged boot
 * set). They are written out again by every later persisting set even when an
 * env or flag value overrides them for this run. All or nothing; errors as
 * rm_knobs_set. Thread-safe.
 */
rm_status_t rm_knobs_load_persisted(rm_knobs_t *k, const rm_knob_assign_t *a, size_t n,
                                    rm_knob_error_t *err);

/*
 * Forget the persisted (runtime) value recorded for knob `name`: later
 * persisting sets no longer write it out. The running and configured values
 * are not touched, and the persister is not called (the agent rewrites or
 * leaves its file). Used when a persisted value conflicts with the operator's
 * file and is dropped at start or reload. Returns RM_OK (also when nothing was
 * recorded) or RM_ENOENT (unknown knob; nothing changed). Thread-safe.
 */
rm_status_t rm_knobs_forget_persisted(rm_knobs_t *k, const char *name);

/* ---- sources (PostgreSQL's pg_settings.source / reset_val) --------------- */

/*
 * Where a knob's configured value comes from. The agent's layers, lowest
 * precedence first (agents/node/config.h): default < config file < persisted
 * runtime changes < environment < flags. A runtime change made in this run
 * (rm_knobs_set, rm_knobs_apply_profile) beats every layer until the next
 * restart or reload; the persisted copy of it then sits between the file and
 * the environment.
 */
typedef enum rm_knob_source {
    RM_KNOB_SRC_DEFAULT = 0, /* the definition table's default */
    RM_KNOB_SRC_FILE,        /* the operator's INI file ("path:line") */
    RM_KNOB_SRC_ENV,         /* an environment variable (RUSTYMEM_<SECTION>_<KEY>) */
    RM_KNOB_SRC_FLAG,        /* a command-line flag (--set NAME=VALUE) */
    RM_KNOB_SRC_RUNTIME,     /* SetKnobs / ApplyProfile, or its persisted copy read at start */
} rm_knob_source_t;

#define RM_KNOB_SOURCE_MAX 320 /* bytes: a source text ("/etc/rustymem.ini:12") + NUL */

/* One boot-layer value: knob `name` gets `value` from `source` (FILE, ENV or
 * FLAG); `where` is the file and line ("rustymem.ini:12"), the variable name
 * ("RUSTYMEM_PRESSURE_WARNING_THRESHOLD") or the flag ("--set"). */
typedef struct rm_knob_base {
    const char *name;
    rm_knob_source_t source;
    const char *where;
    const char *value;
} rm_knob_base_t;

/*
 * Record the non-runtime ("reset") value of every knob: b[] lists, per knob,
 * the highest-precedence boot layer that names it (file, environment or flag;
 * not the persisted runtime layer); every knob not in b[] resets to its
 * default. Replaces the whole previous record. The running and configured
 * values are not touched (the agent applies its merged boot set with
 * rm_knobs_set_ex(RM_KNOBS_NO_PERSIST) first, and records the persisted
 * runtime values with rm_knobs_load_persisted); a knob whose configured value
 * is its persisted runtime value and that no environment variable or flag
 * overrides is then reported as RM_KNOB_SRC_RUNTIME, every other knob as its
 * reset source. Each value must parse and be in range; all or nothing
 * (errors as rm_knobs_set: RM_ENOENT unknown knob, RM_EINVAL bad value,
 * source not FILE/ENV/FLAG, or a knob named twice). Thread-safe.
 */
rm_status_t rm_knobs_set_base(rm_knobs_t *k, const rm_knob_base_t *b, size_t n,
                              rm_knob_error_t *err);

/* A knob's source, reset value and pending-restart state (pg_settings row). */
typedef struct rm_knob_source_info {
    rm_knob_source_t source;           /* of the configured value */
    bool persisted;                    /* RUNTIME: the value is in the persisted file (a
                                          persister was installed when it was set, or it
                                          was read back from that file at start) */
    char text[RM_KNOB_SOURCE_MAX];     /* "default", "path:line", "env RUSTYMEM_X", "flag",
                                          "runtime (persisted)", "runtime (not persisted)" */
    rm_knob_source_t reset_source;     /* DEFAULT, FILE, ENV or FLAG */
    char reset_text[RM_KNOB_SOURCE_MAX];
    char reset_value[RM_KNOB_TEXT_MAX];/* the value rm_knobs_reset returns to */
    bool pending_restart;              /* restart-only knob, configured != running */
} rm_knob_source_info_t;

/* Fill *out for knob `name`. Returns RM_OK or RM_ENOENT (*out untouched).
 * Thread-safe (takes the writer mutex briefly). */
rm_status_t rm_knobs_get_source(rm_knobs_t *k, const char *name, rm_knob_source_info_t *out);

/*
 * Return the named knobs to their reset value (rm_knobs_set_base) and forget
 * their persisted runtime value: one atomic set with rm_knobs_set's
 * validation, vetoes, persister call (the persisted text no longer holds the
 * knobs) and outcome; a restart-only knob becomes pending when its reset
 * value differs from its running value. Knobs whose source is not RUNTIME
 * are accepted and keep their value. An unknown name (RM_ENOENT, err->knob
 * names it), a name given twice or n == 0 (RM_EINVAL) change nothing. With
 * validate_only nothing is committed or persisted. Thread-safe; not from a
 * subscriber callback.
 */
rm_status_t rm_knobs_reset(rm_knobs_t *k, const char *const *names, size_t n, int validate_only,
                           rm_knob_error_t *err);

/*
 * After a runtime set: when a higher-precedence layer (an environment
 * variable or a flag) will override knob `name`'s runtime value at the next
 * restart, or the value is not persisted and will fall back to its reset
 * value, write one sentence saying so into buf (len bytes, NUL-terminated)
 * and return true; otherwise return false (buf untouched). Unknown names
 * return false. Thread-safe.
 */
bool rm_knobs_restart_override(rm_knobs_t *k, const char *name, char *buf, size_t len);

/* ---- subscribers -------------------------------------------------------- */

typedef struct rm_knob_change {
    rm_knob_id_t id;
    const rm_knob_def_t *def;
    rm_knob_value_t old_value; /* running value before */
    rm_knob_value_t new_value; /* value after (configured value for restart knobs) */
} rm_knob_change_t;

/* Veto: return RM_OK to accept, or a negative status with a reason in why (the
 * set fails with that status and "knob = value: <why>"). Called with the
 * registry's writer lock held, before commit, for every set or profile that
 * changes a knob matching the prefix; changes[] holds only those knobs. */
typedef rm_status_t (*rm_knobs_veto_fn)(void *ctx, const rm_knob_change_t *changes, size_t n,
                                        char *why, size_t why_len);

/* Apply: called after commit with the changes matching the prefix whose
 * running value moved — live knobs, and restart-only knobs only while booting
 * (before rm_knobs_mark_started); a pending restart-only change is never
 * passed. Called WITHOUT the writer lock, after the set committed, one call at
 * a time and in commit order, on the thread of the set that found no apply
 * running (other sets may commit meanwhile: the running value may already be
 * newer than new_value; a queued change superseded by a later one of the same
 * knob is never passed, the later one carries its old_value). The callback
 * may read knobs but must not set them, subscribe or unsubscribe. */
typedef void (*rm_knobs_apply_fn)(void *ctx, const rm_knob_change_t *changes, size_t n);

typedef struct rm_knobs_sub rm_knobs_sub_t;

/*
 * Subscribe to knobs whose name starts with prefix ("pressure." or "" for
 * all; copied). veto and apply may each be NULL (not both). Returns RM_OK and
 * a handle in *out, RM_EINVAL, or RM_ENOMEM (nothing registered).
 * Thread-safe.
 */
rm_status_t rm_knobs_subscribe(rm_knobs_t *k, const char *prefix, rm_knobs_veto_fn veto,
                               rm_knobs_apply_fn apply, void *ctx, rm_knobs_sub_t **out);

/* Remove a subscription (NULL is a no-op); its callbacks are never called
 * after return (its queued applies are dropped, a running one is waited
 * for). Thread-safe; not from within a callback. */
void rm_knobs_unsubscribe(rm_knobs_t *k, rm_knobs_sub_t *sub);

/* True while a committed change of knob `id` has an apply callback queued or
 * running (the running value is the target being applied). Thread-safe;
 * takes only the apply queue's lock, never waits for an apply. */
bool rm_knobs_applying(rm_knobs_t *k, rm_knob_id_t id);

/* Wait until no apply is queued or running: RM_OK, or RM_ETIMEDOUT after
 * timeout_ms; RM_EINVAL for NULL k. Thread-safe; not from a callback. */
rm_status_t rm_knobs_wait_applied(rm_knobs_t *k, uint32_t timeout_ms);

/* ---- persistence -------------------------------------------------------- */

/* Receives the complete would-be persisted INI text (NUL-terminated, len
 * bytes) under the writer lock; must store it durably or fail. A non-RM_OK
 * return aborts the set (state unchanged); reason into why. */
typedef rm_status_t (*rm_knobs_persist_fn)(void *ctx, const char *text, size_t len, char *why,
                                           size_t why_len);

/* Install (or with fn == NULL remove) the persister. Thread-safe. Replaces an
 * asynchronous persister. */
void rm_knobs_set_persister(rm_knobs_t *k, rm_knobs_persist_fn fn, void *ctx);

/*
 * Asynchronous persistence (docs/adr/0031). Every persisted text has a
 * generation: 1, 2, … in commit order. An asynchronous persister is handed the
 * would-be persisted text (NUL-terminated, len bytes; valid only during the
 * call) and its generation under the writer lock, like rm_knobs_persist_fn,
 * but it only *takes* it (copies it for a writer thread) and must not do I/O
 * that can wait on a disk. RM_OK: taken — the set commits, and the persister
 * later writes this text or a later generation's (each is the whole state)
 * and reports with rm_knobs_persist_done. Any other status aborts the set
 * (state unchanged), reason into why.
 */
typedef rm_status_t (*rm_knobs_persist_async_fn)(void *ctx, uint64_t gen, const char *text,
                                                 size_t len, char *why, size_t why_len);

/* Install (or with fn == NULL remove) an asynchronous persister; replaces a
 * synchronous one. Thread-safe. */
void rm_knobs_set_persister_async(rm_knobs_t *k, rm_knobs_persist_async_fn fn, void *ctx);

/* The persister's report: generation gen was written (st == RM_OK; every
 * generation <= gen is then durable, since each text is the whole state) or
 * its write failed (st, reason why; may be NULL). Thread-safe; may be called
 * from inside the persister or from its writer thread; never blocks on mu. */
void rm_knobs_persist_done(rm_knobs_t *k, uint64_t gen, rm_status_t st, const char *why);

typedef struct rm_knobs_persist_state {
    uint64_t generation; /* the newest persist generation committed */
    uint64_t durable;    /* the newest generation on disk (<= generation) */
    uint64_t failed;     /* a generation newer than durable whose write failed, else 0 */
    rm_status_t status;  /* that failure's status, RM_OK when failed == 0 */
    char error[200];     /* its reason, "" when failed == 0 */
} rm_knobs_persist_state_t;

/* Fill *out (zeroes for NULL k). Thread-safe, takes no writer lock. */
void rm_knobs_persist_state(rm_knobs_t *k, rm_knobs_persist_state_t *out);

/* Wait until generation gen is durable: RM_OK; the failure status (reason into
 * why, may be NULL) when the write of gen or a later generation failed first;
 * RM_ETIMEDOUT after timeout_ms; RM_EINVAL for NULL k. Thread-safe; not from
 * a persister or subscriber callback. */
rm_status_t rm_knobs_wait_persisted(rm_knobs_t *k, uint64_t gen, uint32_t timeout_ms, char *why,
                                    size_t why_len);

/* Which values rm_knobs_format_ini writes. */
typedef enum rm_knobs_ini_mode {
    RM_KNOBS_INI_PERSISTED = 0, /* values recorded as persisted (runtime changes) */
    RM_KNOBS_INI_NONDEFAULT,    /* configured values that differ from the default */
    RM_KNOBS_INI_ALL,           /* every configured value, with descriptions */
} rm_knobs_ini_mode_t;

/*
 * Serialise values as INI text: one [section] per prefix before the first dot,
 * "key = value" lines readable by rm_knobs_parse. *out receives a malloc'd
 * NUL-terminated string (caller frees), *len its length (may be NULL).
 * Returns RM_OK or RM_ENOMEM (*out untouched). Thread-safe.
 */
rm_status_t rm_knobs_format_ini(rm_knobs_t *k, rm_knobs_ini_mode_t mode, char **out,
                                size_t *len);

/* rm_knobs_format_ini written to f. Returns RM_OK, RM_ENOMEM or RM_EIO. */
rm_status_t rm_knobs_write_ini(rm_knobs_t *k, rm_knobs_ini_mode_t mode, FILE *f);

/* ---- profiles ----------------------------------------------------------- */

typedef enum rm_knobs_workload {
    RM_WORKLOAD_OLTP = 0,
    RM_WORKLOAD_OLAP,
    RM_WORKLOAD_MIXED,
    RM_WORKLOAD_COUNT
} rm_knobs_workload_t;

typedef enum rm_knobs_environment {
    RM_ENV_DEVELOPMENT = 0,
    RM_ENV_PRODUCTION,
    RM_ENV_MISSION_CRITICAL,
    RM_ENV_COUNT
} rm_knobs_environment_t;

/* One value of a profile table. */
typedef struct rm_knobs_profile_entry {
    rm_knob_id_t id;
    const char *value; /* text */
    const char *seed;  /* the seed line (or the rule) this value comes from */
} rm_knobs_profile_entry_t;

/* Names ("oltp", "production", "mission_critical"); NULL when out of range. */
const char *rm_knobs_workload_name(rm_knobs_workload_t w);
const char *rm_knobs_environment_name(rm_knobs_environment_t e);
/* Parse those names (case-insensitive; '-' accepted for '_'). RM_OK/RM_EINVAL. */
rm_status_t rm_knobs_workload_from_name(const char *s, rm_knobs_workload_t *out);
rm_status_t rm_knobs_environment_from_name(const char *s, rm_knobs_environment_t *out);

/* The constant table of a workload or environment: *n entries. NULL (and *n
 * = 0) when out of range. */
const rm_knobs_profile_entry_t *rm_knobs_workload_table(rm_knobs_workload_t w, size_t *n);
const rm_knobs_profile_entry_t *rm_knobs_environment_table(rm_knobs_environment_t e, size_t *n);

/*
 * Apply an environment table and a workload table together as one atomic set
 * (same validation, vetoes, persistence and outcome as rm_knobs_set; the
 * workload value wins if both tables name a knob). Knobs not in either table
 * keep their values. Returns as rm_knobs_set (RM_EINVAL for bad enums).
 */
rm_status_t rm_knobs_apply_profile(rm_knobs_t *k, rm_knobs_workload_t w,
                                   rm_knobs_environment_t e, int validate_only,
                                   rm_knob_error_t *err);

/* ---- documentation ------------------------------------------------------ */

/* Write the Markdown reference (docs/knobs.md): every knob, the cross-knob
 * constraints and the profile tables. Deterministic. RM_OK or RM_EIO. */
rm_status_t rm_knobs_write_markdown(FILE *f);

#ifdef __cplusplus
}
#endif
#endif /* RUSTYMEM_KNOBS_H */
