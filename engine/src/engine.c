/*
 * engine.c — sessions, transactions, queries, plan cache, pool sizing and
 * pressure reclaimers of the engine (see engine.h for the design note).
 *
 * Memory layout of a connection slot while bound:
 *   scratch (mapped by the multiplexer): [0, 4 KiB) composite MVCC key,
 *     [4 KiB, 8 KiB) scan cursor, [8 KiB, end) value buffer;
 *   root arena context (SMALL profile) ← savepoint child ← child … (cur):
 *     journal entries and savepoint records; scan batches between a mark
 *     and a rollback.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "engine_internal.h"
#include "rustymem/stats.h"

#define STRIPES        256u
#define MKEY_OFF       0u
#define CURSOR_OFF     4096u
#define VALBUF_OFF     8192u
#define SCRATCH_DEFAULT (16u * 1024u)
#define SCAN_BATCH_KEYS 64u
#define SCAN_BATCH_BYTES (32u * 1024u)
#define RECLAIMERS     6

enum { Q_NONE = 0, Q_GET, Q_SCAN, Q_PUT, Q_DELETE, Q_COMMIT };
static const char *const q_names[] = {"", "get", "scan", "put", "delete", "commit"};

/* The slot scratch (handed out by rm_session_begin), kept for the bound
 * session's later calls. */
typedef struct conn_scratch {
    void *p;
    size_t n;
} conn_scratch_t;

typedef struct jentry {
    struct jentry *prev;   /* older entry */
    uint32_t table_id;
    uint32_t klen;
    uint32_t vlen;
    uint32_t del;          /* 1 = tombstone */
    unsigned char data[];  /* key, then value */
} jentry_t;

typedef struct savepoint {
    struct savepoint *prev;  /* older savepoint */
    rm_arena_t *ctx;         /* child context: what was allocated after the savepoint */
    rm_arena_t *parent;      /* context current when it was taken */
    jentry_t *head;          /* journal head at the savepoint */
    uint64_t count, jbytes;
    char name[RM_ENGINE_SAVEPOINT_NAME_MAX + 1];
} savepoint_t;

/* A connection slot. Transaction fields are used only by the thread holding
 * the bound session's stripe; q_* are atomics read by the query registry. */
typedef struct conn {
    uint32_t slot;
    rm_arena_t *root;          /* the slot's transaction arena */
    rm_arena_t *own;           /* a per-transaction arena for a large size hint, or NULL */
    bool bypass;               /* hint above arena.disable_above_bytes: journal entries come from
                                * e->ra (large-object allocator) one by one, not from an arena */
    rm_arena_t *cur;           /* innermost context */
    rm_mvcc_txn_t *txn;        /* NULL when no transaction */
    uint64_t txn_id;
    rm_session_id_t sid;
    uint64_t begin_ns;
    jentry_t *head;            /* newest journal entry */
    uint64_t count;            /* journal entries */
    _Atomic uint64_t jbytes;   /* journal bytes */
    savepoint_t *sp;           /* newest savepoint */
    void *rbuf;                /* a value read that outgrew the scratch buffer (e->ra), or NULL */
    size_t rbuf_bytes;
    conn_scratch_t scr;        /* set at Begin */
    _Atomic uint64_t q_id;     /* running query, 0 = none */
    _Atomic uint64_t q_start_ns;
    _Atomic int q_kind, q_prio, q_cancel;
    _Atomic uint64_t q_sid;
} conn_t;

/* A principal with open sessions (the sessions' `user`). Freed with its last
 * session; name is immutable, so an owner check under the session's stripe
 * may read it without prin_mu (the session, hence the entry, cannot go away
 * while the stripe is held). */
typedef struct principal {
    struct principal *next;    /* hash chain; guarded by prin_mu */
    uint64_t hash;
    uint32_t sessions;         /* open sessions (+ opens in flight); guarded by prin_mu */
    char name[];               /* NUL-terminated */
} principal_t;

typedef struct table {
    uint32_t id;
    char name[RM_ENGINE_TABLE_NAME_MAX + 1];
    rm__eidx_t index;
} table_t;

struct rm_engine {
    rm_engine_config_t cfg;
    rm_recalloc_t ra;
    rm_session_mux_t *mux;
    rm_mvcc_t *mvcc;
    rm_eheap_t *heap;                       /* values in cfg.bufpool's pages; NULL = in memory */
    rm_plancache_t *plans;
    rm_poolsizer_t *sizer;
    pthread_mutex_t stripes[STRIPES];
    pthread_mutex_t reg_mu;                 /* guards writes of conns[] */
    _Atomic(conn_t *) *conns;               /* [max_connections] */
    uint32_t nconns;
    pthread_rwlock_t tables_mu;
    table_t *tables[RM_ENGINE_TABLES_MAX];  /* guarded by tables_mu */
    uint32_t ntables;
    pthread_t thread;
    bool thread_started;
    pthread_mutex_t thr_mu;
    pthread_cond_t thr_cv;
    bool stop;                              /* guarded by thr_mu */
    uint64_t last_idle_check_ns;
    rm_pressure_reclaimer_t *reclaimers[RECLAIMERS];
    _Atomic int pressure_closed;            /* admission closed by the responder */
    _Atomic int writes_refused;             /* OOM prevention: Put refused (Redis maxmemory noeviction) */
    _Atomic uint64_t vacuum_rate;           /* mvcc.vacuum_chains_per_second; 0 = off */
    _Atomic uint64_t writes_refused_total;  /* Puts refused so far */
    /* the growth gate (growth_gate_closed): bytes accepted by Put so far, and as of the newest
     * pressure sample the engine has seen: its time, the count then, and the growth room left
     * below the OOM-prevention threshold; a Put may refresh them (races are benign: atomics) */
    _Atomic uint64_t put_bytes_total;
    _Atomic uint64_t gate_checked_ns, gate_sample_ns, gate_base_bytes, gate_room_bytes;
    rm_stats_handle_t *stats_h;
    _Atomic uint64_t queries_total, queries_cancelled, query_seq, commit_seq;
    _Atomic uint64_t txns_begun, txns_committed, txns_rolled_back, txns_conflicted, txns_killed;
    _Atomic uint64_t orphans_killed, sessions_idle_closed, savepoints, rollbacks_to;
    _Atomic uint64_t journal_bytes;
    /* principals (sessions' owners) */
    pthread_mutex_t prin_mu;
    principal_t **prin_buckets;             /* prin_nbuckets chains; guarded by prin_mu */
    uint32_t prin_nbuckets, prin_count;     /* guarded by prin_mu */
    uint64_t prin_bytes;                    /* entries + chains array; guarded by prin_mu */
    uint64_t prin_seed;                     /* random hash seed (immutable) */
    _Atomic uint32_t max_per_principal;     /* 0 = no quota */
    _Atomic uint64_t idle_close_ns;         /* 0 = never */
    _Atomic uint64_t quota_refused, idle_rolled_back;
};

static inline conn_scratch_t *
scratch_of(rm_engine_t *e, conn_t *c)
{
    (void)e;
    return &c->scr;
}

/* ---- small helpers ---------------------------------------------------------- */

static uint64_t
mono_ns(void *ctx)
{
    (void)ctx;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static inline uint64_t
now_ns(rm_engine_t *e)
{
    return e->cfg.now_ns(e->cfg.now_ctx);
}

static rm_status_t
fail(char *err, rm_status_t st, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, RM_ENGINE_ERR_MAX, fmt, ap);
        va_end(ap);
    }
    return st;
}

static inline pthread_mutex_t *
stripe(rm_engine_t *e, rm_session_id_t id)
{
    uint64_t h = id * 0x9E3779B97F4A7C15ull;
    return &e->stripes[(h >> 32) % STRIPES];
}

/* The one answer for a session the caller cannot use: never opened, closed,
 * closed after idling, or another principal's. */
static rm_status_t
no_session(char *err, rm_session_id_t id)
{
    return fail(err, RM_ENOENT,
                "session %" PRIu64 " does not exist (never opened, closed, or closed after idling)", id);
}

/* ---- record allocator: slab classes, large objects, malloc ------------------ */

static void *
ra_alloc(void *ctx, size_t size)
{
    rm_engine_t *e = ctx;
    if (e->cfg.slab && size <= RM_SLAB_MAX_SIZE) {
        rm_slab_cache_t *c = rm_slab_cache_for(e->cfg.slab, size);
        if (c)
            return rm_slab_alloc(c);
    }
    if (e->cfg.large && rm_large_wants(e->cfg.large, size))
        return rm_large_alloc(e->cfg.large, size);
    return malloc(size);
}

static void
ra_free(void *ctx, void *p, size_t size)
{
    rm_engine_t *e = ctx;
    if (!p)
        return;
    if (e->cfg.slab && size <= RM_SLAB_MAX_SIZE) {
        rm_slab_cache_t *c = rm_slab_cache_for(e->cfg.slab, size);
        if (c) {
            rm_slab_free(c, p);
            return;
        }
    }
    /* The threshold is live: ask the allocator whether it owns p. */
    if (e->cfg.large && size > RM_SLAB_MAX_SIZE && rm_large_usable_size(e->cfg.large, p) != 0) {
        rm_large_free(e->cfg.large, p);
        return;
    }
    free(p);
}

/* ---- connection slots -------------------------------------------------------- */

static rm_status_t
on_slot_open(void *ctx, uint32_t slot, void **user)
{
    rm_engine_t *e = ctx;
    if (slot >= e->nconns)
        return RM_EINVAL;
    conn_t *c = calloc(1, sizeof *c);
    if (!c)
        return RM_ENOMEM;
    c->slot = slot;
    rm_status_t st = rm_arena_create_profile(e->cfg.arenas, slot, RM_ARENA_PROFILE_SMALL, &c->root);
    if (st != RM_OK) {
        free(c);
        return st;
    }
    c->cur = c->root;
    pthread_mutex_lock(&e->reg_mu);
    atomic_store(&e->conns[slot], c);
    pthread_mutex_unlock(&e->reg_mu);
    *user = c;
    return RM_OK;
}

/* A bypass transaction's journal entries newer than `stop` go back to e->ra. */
static void
journal_free_to(rm_engine_t *e, conn_t *c, jentry_t *stop)
{
    if (!c->bypass)
        return;   /* arena entries go with their context */
    for (jentry_t *j = c->head, *prev; j && j != stop; j = prev) {
        prev = j->prev;
        e->ra.free(e->ra.ctx, j, sizeof(jentry_t) + j->klen + j->vlen);
    }
}

static void
txn_reset(rm_engine_t *e, conn_t *c)
{
    journal_free_to(e, c, NULL);
    c->bypass = false;
    if (c->rbuf) {
        e->ra.free(e->ra.ctx, c->rbuf, c->rbuf_bytes);
        c->rbuf = NULL;
        c->rbuf_bytes = 0;
    }
    if (c->own) {
        rm_arena_destroy(c->own);
        c->own = NULL;
    }
    rm_arena_reset(c->root);
    c->cur = c->root;
    c->txn = NULL;
    c->txn_id = 0;
    c->sid = 0;
    c->head = NULL;
    c->count = 0;
    atomic_fetch_sub(&e->journal_bytes, atomic_exchange(&c->jbytes, 0));
    c->sp = NULL;
}

/* Abort the slot's transaction (if any) and clear its state. */
static void
txn_abort(rm_engine_t *e, conn_t *c)
{
    if (c->txn) {
        rm_mvcc_abort(c->txn);
        atomic_fetch_add(&e->txns_rolled_back, 1);
    }
    txn_reset(e, c);
}

static void
on_slot_close(void *ctx, uint32_t slot, void *user)
{
    rm_engine_t *e = ctx;
    conn_t *c = user;
    if (!c)
        return;
    pthread_mutex_lock(&e->reg_mu);
    if (slot < e->nconns)
        atomic_store(&e->conns[slot], NULL);
    pthread_mutex_unlock(&e->reg_mu);
    txn_abort(e, c);
    rm_arena_destroy(c->root);
    free(c);
}

static void
on_abandon(void *ctx, rm_session_id_t id, void *session_user, const rm_session_conn_t *sc)
{
    rm_engine_t *e = ctx;
    if (sc && sc->user)
        txn_abort(e, sc->user);
}

/* The connection bound to session `id` (stripe held), touching the session.
 * RM_ENOENT, RM_ESTATE (no open transaction). */
static rm_status_t
bound_conn(rm_engine_t *e, rm_session_id_t id, conn_t **out, char *err)
{
    rm_session_info_t info;
    if (rm_session_get(e->mux, id, &info) != RM_OK)
        return no_session(err, id);
    conn_t *c = info.slot >= 0 && (uint32_t)info.slot < e->nconns ? atomic_load(&e->conns[info.slot]) : NULL;
    if (!c || !c->txn)
        return fail(err, RM_ESTATE, "session %" PRIu64 " has no open transaction: call Begin first", id);
    (void)rm_session_touch(e->mux, id);
    *out = c;
    return RM_OK;
}

/* End the bound transaction's connection binding (stripe held). */
static void
release(rm_engine_t *e, rm_session_id_t id, conn_t *c)
{
    txn_reset(e, c);
    (void)rm_session_end(e->mux, id);
}

/* An MVCC call reported the transaction killed: end it (stripe held). */
static rm_status_t
killed(rm_engine_t *e, rm_session_id_t id, conn_t *c, char *err)
{
    uint64_t txn = c->txn_id;
    txn_abort(e, c);
    (void)rm_session_end(e->mux, id);
    return fail(err, RM_ECANCELED,
                "transaction %" PRIu64 " was killed (orphaned or by an operator) and has been rolled back", txn);
}

/* ---- queries ---------------------------------------------------------------- */

static void
query_start(rm_engine_t *e, conn_t *c, rm_session_id_t sid, int kind, rm_engine_priority_t prio)
{
    atomic_store(&c->q_cancel, 0);
    atomic_store(&c->q_kind, kind);
    atomic_store(&c->q_prio, (int)prio);
    atomic_store(&c->q_start_ns, now_ns(e));
    atomic_store(&c->q_sid, sid);
    atomic_store(&c->q_id, atomic_fetch_add(&e->query_seq, 1) + 1);
    atomic_fetch_add(&e->queries_total, 1);
}

static void
query_end(conn_t *c)
{
    atomic_store(&c->q_id, 0);
}

/* ---- plans ------------------------------------------------------------------ */

/* Look the statement's plan up; on a miss derive it and cache it. The plan is
 * a short operator description; the engine only needs it to exist. */
static void
plan_for(rm_engine_t *e, int kind, const char *table, bool ranged_start, bool ranged_end, uint32_t limit)
{
    char text[256], plan[256];
    int tl;
    switch (kind) {
    case Q_GET: tl = snprintf(text, sizeof text, "SELECT value FROM %s WHERE key = $1", table); break;
    case Q_PUT: tl = snprintf(text, sizeof text, "INSERT INTO %s (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE", table); break;
    case Q_DELETE: tl = snprintf(text, sizeof text, "DELETE FROM %s WHERE key = $1", table); break;
    default:
        tl = snprintf(text, sizeof text, "SELECT key, value FROM %s%s%s%s ORDER BY key LIMIT %u", table,
                      ranged_start || ranged_end ? " WHERE " : "", ranged_start ? "key >= $1" : "",
                      ranged_end ? (ranged_start ? " AND key < $2" : "key < $1") : "", limit);
        break;
    }
    if (tl < 0 || (size_t)tl >= sizeof text)
        return;
    size_t plen = 0;
    if (rm_plancache_lookup(e->plans, text, (size_t)tl, plan, sizeof plan, &plen) == RM_OK)
        return;
    int pl;
    switch (kind) {
    case Q_GET: pl = snprintf(plan, sizeof plan, "PointLookup(%s.pk) -> JournalOverlay -> SnapshotFilter", table); break;
    case Q_PUT: pl = snprintf(plan, sizeof plan, "IndexInsert(%s.pk) -> JournalAppend(put)", table); break;
    case Q_DELETE: pl = snprintf(plan, sizeof plan, "PointLookup(%s.pk) -> JournalAppend(delete)", table); break;
    default:
        pl = snprintf(plan, sizeof plan, "Limit(%u) -> SnapshotFilter -> JournalOverlay -> IndexRangeScan(%s.pk, %s)",
                      limit, table, ranged_start || ranged_end ? "bounded" : "full");
        break;
    }
    if (pl > 0 && (size_t)pl < sizeof plan)
        (void)rm_plancache_insert(e->plans, text, (size_t)tl, plan, (size_t)pl);
}

/* ---- tables ----------------------------------------------------------------- */

static rm_status_t
check_table(const char *table, char *err)
{
    if (!table || !*table)
        return fail(err, RM_EINVAL, "table: must not be empty");
    size_t n = strlen(table);
    if (n > RM_ENGINE_TABLE_NAME_MAX)
        return fail(err, RM_EINVAL, "table: %zu bytes, at most %u allowed", n, RM_ENGINE_TABLE_NAME_MAX);
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)table[i];
        if (!(ch == '_' || ch == '.' || ch == '-' || (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') ||
              (ch >= 'A' && ch <= 'Z')))
            return fail(err, RM_EINVAL, "table: '%s' has a character outside [A-Za-z0-9_.-]", table);
    }
    return RM_OK;
}

static table_t *
find_table(rm_engine_t *e, const char *name)
{
    table_t *t = NULL;
    pthread_rwlock_rdlock(&e->tables_mu);
    for (uint32_t i = 0; i < e->ntables && !t; i++)
        if (strcmp(e->tables[i]->name, name) == 0)
            t = e->tables[i];
    pthread_rwlock_unlock(&e->tables_mu);
    return t;
}

static rm_status_t
get_or_create_table(rm_engine_t *e, const char *name, table_t **out, char *err)
{
    table_t *t = find_table(e, name);
    if (t) {
        *out = t;
        return RM_OK;
    }
    pthread_rwlock_wrlock(&e->tables_mu);
    for (uint32_t i = 0; i < e->ntables && !t; i++)
        if (strcmp(e->tables[i]->name, name) == 0)
            t = e->tables[i];
    rm_status_t st = RM_OK;
    if (!t) {
        if (e->ntables >= RM_ENGINE_TABLES_MAX) {
            st = fail(err, RM_ELIMIT, "table: %s would be table %u; at most %u tables", name, e->ntables + 1,
                      RM_ENGINE_TABLES_MAX);
        } else if (!(t = calloc(1, sizeof *t)) || rm__eidx_init(&t->index, &e->ra) != RM_OK) {
            free(t);
            t = NULL;
            st = fail(err, RM_ENOMEM, "out of memory creating table %s", name);
        } else {
            t->id = e->ntables + 1;
            snprintf(t->name, sizeof t->name, "%s", name);
            e->tables[e->ntables++] = t;
        }
    }
    pthread_rwlock_unlock(&e->tables_mu);
    *out = t;
    return st;
}

static rm_status_t
check_key(const void *key, size_t klen, const char *field, char *err)
{
    if (klen == 0 || !key)
        return fail(err, RM_EINVAL, "%s: must not be empty", field);
    if (klen > RM_ENGINE_KEY_MAX)
        return fail(err, RM_EINVAL, "%s: %zu bytes, at most %u allowed", field, klen, RM_ENGINE_KEY_MAX);
    return RM_OK;
}

/* Composite MVCC key (table id, big-endian, then key) in the slot scratch. */
static size_t
mkey(const rm_session_conn_t *unused, void *scratch, uint32_t tid, const void *key, size_t klen)
{
    (void)unused;
    unsigned char *p = (unsigned char *)scratch + MKEY_OFF;
    p[0] = (unsigned char)(tid >> 24);
    p[1] = (unsigned char)(tid >> 16);
    p[2] = (unsigned char)(tid >> 8);
    p[3] = (unsigned char)tid;
    memcpy(p + 4, key, klen);
    return klen + 4;
}

/* What a failed read or commit means to a client. A buffer pool that cannot
 * write its dirty pages is named with the system's reason and the directory
 * to free space on (rm_eheap_write_failure), written into buf[0..cap). */
static const char *
read_error(rm_engine_t *e, rm_status_t st, char *buf, size_t cap)
{
    const char *why;
    switch (st) {
    case RM_ENOSPC:
        why = e->heap ? rm_eheap_write_failure(e->heap, buf, cap) : NULL;
        return why ? why : "the buffer pool cannot write its dirty pages (no space left); free space on its "
                           "directory to recover";
    case RM_ECORRUPT: return "the value's page in the buffer pool failed its checksum (see stats buffer-pool)";
    case RM_EIO: return "the value's page could not be read from the buffer pool's file (I/O error)";
    case RM_EBUSY: return "every buffer-pool frame is pinned; retry";
    default: return rm_strerror(st);
    }
}

/* Newest journal entry for (tid, key), or NULL. */
static jentry_t *
journal_find(conn_t *c, uint32_t tid, const void *key, size_t klen)
{
    for (jentry_t *j = c->head; j; j = j->prev)
        if (j->table_id == tid && j->klen == klen && memcmp(j->data, key, klen) == 0)
            return j;
    return NULL;
}

static rm_status_t
journal_add(rm_engine_t *e, conn_t *c, uint32_t tid, const void *key, size_t klen, const void *val, size_t vlen,
            bool del, char *err)
{
    size_t sz = sizeof(jentry_t) + klen + vlen;
    void *p = NULL;
    if (c->bypass && !(p = e->ra.alloc(e->ra.ctx, sz)))
        return fail(err, RM_ENOMEM, "out of memory for a %zu B write", vlen);
    rm_status_t st = c->bypass ? RM_OK : rm_arena_alloc_ex(c->cur, sz, &p);
    if (st == RM_ELIMIT) {
        rm_arena_stats_t as;
        rm_arena_stats(c->own ? c->own : c->root, &as);
        return fail(err, RM_ELIMIT,
                    "the transaction arena is full (%" PRIu64 " B of %" PRIu64
                    " B): pass size_hint_bytes on Begin for large transactions",
                    as.used_bytes, as.max_bytes);
    }
    if (st != RM_OK)
        return fail(err, st, "cannot grow the transaction arena: %s", rm_strerror(st));
    jentry_t *j = p;
    j->prev = c->head;
    j->table_id = tid;
    j->klen = (uint32_t)klen;
    j->vlen = (uint32_t)vlen;
    j->del = del;
    memcpy(j->data, key, klen);
    if (vlen)
        memcpy(j->data + klen, val, vlen);
    c->head = j;
    c->count++;
    atomic_fetch_add(&c->jbytes, sz);
    atomic_fetch_add(&e->journal_bytes, sz);
    return RM_OK;
}

/*
 * Read (tid, key) as the transaction sees it: journal first, then the
 * snapshot. RM_OK (*val and *vlen point into the journal, the scratch value
 * buffer or c->rbuf — valid until the next read), RM_ENOENT, RM_ECANCELED
 * (killed), RM_ENOMEM. A value larger than the scratch buffer is read into
 * c->rbuf, from the engine's allocator (the large-object allocator for big
 * ones), kept until the transaction ends: reading it must not depend on the
 * size hint of the transaction that reads (from the 512 KiB arena of a
 * transaction without one, a 3 MiB value could be written by a hinted
 * transaction and then not read by anyone else: "configured limit reached").
 */
static rm_status_t
read_row(rm_engine_t *e, conn_t *c, void *scratch, size_t scratch_bytes, uint32_t tid, const void *key, size_t klen,
         const void **val, size_t *vlen)
{
    jentry_t *j = journal_find(c, tid, key, klen);
    if (j) {
        if (j->del)
            return RM_ENOENT;
        *val = j->data + j->klen;
        *vlen = j->vlen;
        return RM_OK;
    }
    size_t mk = mkey(NULL, scratch, tid, key, klen);
    void *buf = (char *)scratch + VALBUF_OFF;
    size_t cap = scratch_bytes - VALBUF_OFF, len = 0;
    rm_status_t st = rm_mvcc_get(c->txn, (char *)scratch + MKEY_OFF, mk, buf, cap, &len);
    if (st == RM_ELIMIT) {
        if (c->rbuf_bytes < len) {
            if (c->rbuf)
                e->ra.free(e->ra.ctx, c->rbuf, c->rbuf_bytes);
            c->rbuf_bytes = 0;
            if (!(c->rbuf = e->ra.alloc(e->ra.ctx, len)))
                return RM_ENOMEM;
            c->rbuf_bytes = len;
        }
        st = rm_mvcc_get(c->txn, (char *)scratch + MKEY_OFF, mk, c->rbuf, c->rbuf_bytes, &len);
        buf = c->rbuf;
    }
    if (st == RM_OK) {
        *val = buf;
        *vlen = len;
    }
    return st;
}

/* ---- principals -------------------------------------------------------------- */

static uint64_t
prin_hash(const rm_engine_t *e, const char *name, size_t n)
{
    /* FNV-1a from a random basis, finished with a 64-bit mixer: principal
     * names come from the auth file, certificates and peer addresses, and the
     * seed keeps their chain placement unpredictable. */
    uint64_t h = 1469598103934665603ull ^ e->prin_seed;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)name[i];
        h *= 1099511628211ull;
    }
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    return h;
}

/* Double the chains when principals outnumber them; on ENOMEM keep the old
 * (chains just get longer). prin_mu held. */
static void
prin_grow_locked(rm_engine_t *e)
{
    uint32_t nb = e->prin_nbuckets ? 2 * e->prin_nbuckets : 16;
    principal_t **b = calloc(nb, sizeof *b);
    if (!b)
        return;
    for (uint32_t i = 0; i < e->prin_nbuckets; i++)
        for (principal_t *p = e->prin_buckets[i], *next; p; p = next) {
            next = p->next;
            p->next = b[p->hash & (nb - 1)];
            b[p->hash & (nb - 1)] = p;
        }
    free(e->prin_buckets);
    e->prin_bytes += (uint64_t)(nb - e->prin_nbuckets) * sizeof *b;
    e->prin_buckets = b;
    e->prin_nbuckets = nb;
}

/* Count one more session for `name` (creating its entry) unless the quota is
 * reached. RM_OK and *out; RM_ELIMIT (quota; err says so); RM_ENOMEM. */
static rm_status_t
prin_acquire(rm_engine_t *e, const char *name, principal_t **out, char *err)
{
    size_t n = strlen(name);
    uint64_t h = prin_hash(e, name, n);
    uint32_t quota = atomic_load_explicit(&e->max_per_principal, memory_order_relaxed);
    pthread_mutex_lock(&e->prin_mu);
    principal_t *p = NULL;
    if (e->prin_nbuckets)
        for (p = e->prin_buckets[h & (e->prin_nbuckets - 1)]; p; p = p->next)
            if (p->hash == h && strcmp(p->name, name) == 0)
                break;
    if (p) {
        if (quota && p->sessions >= quota) {
            uint32_t held = p->sessions;
            pthread_mutex_unlock(&e->prin_mu);
            atomic_fetch_add(&e->quota_refused, 1);
            return fail(err, RM_ELIMIT,
                        "session quota reached: %s holds %u sessions and session.max_sessions_per_principal "
                        "is %u; close sessions (idle ones close after session.idle_timeout)",
                        *name ? name : "(local)", held, quota);
        }
        p->sessions++;
        pthread_mutex_unlock(&e->prin_mu);
        *out = p;
        return RM_OK;
    }
    if (e->prin_count >= e->prin_nbuckets)
        prin_grow_locked(e);
    if (!e->prin_nbuckets || !(p = malloc(sizeof *p + n + 1))) {
        pthread_mutex_unlock(&e->prin_mu);
        return fail(err, RM_ENOMEM, "out of memory recording the session's owner");
    }
    p->hash = h;
    p->sessions = 1;
    memcpy(p->name, name, n + 1);
    p->next = e->prin_buckets[h & (e->prin_nbuckets - 1)];
    e->prin_buckets[h & (e->prin_nbuckets - 1)] = p;
    e->prin_count++;
    e->prin_bytes += sizeof *p + n + 1;
    pthread_mutex_unlock(&e->prin_mu);
    *out = p;
    return RM_OK;
}

/* One session of p is gone; free p with its last. */
static void
prin_release(rm_engine_t *e, principal_t *p)
{
    pthread_mutex_lock(&e->prin_mu);
    if (--p->sessions == 0) {
        principal_t **pp = &e->prin_buckets[p->hash & (e->prin_nbuckets - 1)];
        while (*pp != p)
            pp = &(*pp)->next;
        *pp = p->next;
        e->prin_count--;
        e->prin_bytes -= sizeof *p + strlen(p->name) + 1;
        free(p);
    }
    pthread_mutex_unlock(&e->prin_mu);
}

/* ---- sessions --------------------------------------------------------------- */

rm_status_t
rm_engine_open_session(rm_engine_t *e, const char *principal, rm_session_id_t *id, char *err)
{
    if (!principal)
        principal = "";
    size_t plen = strlen(principal);
    if (plen > RM_ENGINE_PRINCIPAL_MAX)
        return fail(err, RM_EINVAL, "principal: %zu bytes, at most %u allowed", plen, RM_ENGINE_PRINCIPAL_MAX);
    principal_t *p = NULL;
    rm_status_t st = prin_acquire(e, principal, &p, err);
    if (st != RM_OK)
        return st;
    st = rm_session_open(e->mux, p, id);
    if (st == RM_OK)
        return RM_OK;
    prin_release(e, p);
    if (st == RM_EREJECTED)
        return fail(err, st, "admission closed: this server is rejecting new sessions under memory pressure "
                             "(existing sessions keep working); retry later");
    if (st == RM_ELIMIT) {
        rm_session_stats_t s;
        rm_session_stats(e->mux, &s);
        return fail(err, st, "session limit reached: %" PRIu64 " sessions open, limit %" PRIu64
                             " (min of session.max_sessions and max_connections x session_ratio)",
                    s.sessions, s.session_limit);
    }
    return fail(err, st, "cannot open a session: %s", rm_strerror(st));
}

rm_status_t
rm_engine_session_owned(rm_engine_t *e, rm_session_id_t id, const char *principal, char *err)
{
    pthread_mutex_t *mu = stripe(e, id);
    pthread_mutex_lock(mu);
    rm_session_info_t info;
    bool mine = rm_session_get(e->mux, id, &info) == RM_OK && info.user &&
                strcmp(((const principal_t *)info.user)->name, principal ? principal : "") == 0;
    pthread_mutex_unlock(mu);
    return mine ? RM_OK : no_session(err, id);
}

/* Close session id (its stripe held): roll back an open transaction, give
 * its principal's count back. When idle_ns is non-zero, only if the session is
 * still idle that long (housekeeping lists then closes; a call may land in
 * between). RM_OK (*rolled_back), RM_ENOENT, RM_EBUSY (no longer idle). */
static rm_status_t
close_striped(rm_engine_t *e, rm_session_id_t id, uint64_t idle_ns, bool *rolled_back)
{
    rm_session_info_t info;
    if (rm_session_get(e->mux, id, &info) != RM_OK)
        return RM_ENOENT;
    if (idle_ns) {
        uint64_t now = now_ns(e);
        if (now < info.last_active_ns || now - info.last_active_ns < idle_ns)
            return RM_EBUSY;
    }
    if (rm_session_close(e->mux, id) != RM_OK)
        return RM_ENOENT;
    if (info.user)
        prin_release(e, info.user);
    *rolled_back = info.slot >= 0;
    return RM_OK;
}

rm_status_t
rm_engine_close_session(rm_engine_t *e, rm_session_id_t id, bool *rolled_back, char *err)
{
    pthread_mutex_t *mu = stripe(e, id);
    pthread_mutex_lock(mu);
    bool rb = false;
    rm_status_t st = close_striped(e, id, 0, &rb);
    pthread_mutex_unlock(mu);
    if (st != RM_OK)
        return no_session(err, id);
    if (rolled_back)
        *rolled_back = rb;
    return RM_OK;
}

rm_status_t
rm_engine_begin(rm_engine_t *e, rm_session_id_t id, uint64_t size_hint_bytes, uint64_t *txn_id, char *err)
{
    pthread_mutex_t *mu = stripe(e, id);
    pthread_mutex_lock(mu);
    rm_session_conn_t sc;
    rm_status_t st = rm_session_begin(e->mux, id, 0, &sc);
    if (st != RM_OK) {
        pthread_mutex_unlock(mu);
        if (st == RM_ENOENT)
            return no_session(err, id);
        if (st == RM_ESTATE)
            return fail(err, st, "session %" PRIu64 " already has an open transaction: Commit or Rollback it first", id);
        if (st == RM_EBUSY || st == RM_ETIMEDOUT) {
            rm_session_stats_t s;
            rm_session_stats(e->mux, &s);
            rm_poolsizer_stats_t ps;
            rm_poolsizer_stats(e->sizer, &ps);
            return fail(err, RM_EBUSY, "all %" PRIu64 " pooled connections are busy (pool.max_size %u); retry",
                        s.pool_size, ps.max_size);
        }
        return fail(err, st, "cannot bind a connection: %s", rm_strerror(st));
    }
    conn_t *c = sc.user;
    conn_scratch_t *cs = scratch_of(e, c);
    cs->p = sc.scratch;
    cs->n = sc.scratch_bytes;
    rm_arena_stats_t as;
    rm_arena_stats(c->root, &as);
    /* the seed's bulk-load rule: above arena.disable_above_bytes no arena — the
     * journal's entries are allocated one by one (large ones by the large-object
     * allocator) and freed at the end, savepoints still work */
    c->bypass = size_hint_bytes > as.max_bytes && rm_arena_mgr_use_large(e->cfg.arenas, size_hint_bytes);
    if (size_hint_bytes > as.max_bytes && !c->bypass) {
        st = rm_arena_create(e->cfg.arenas, c->slot, (size_t)size_hint_bytes, &c->own);
        if (st != RM_OK) {
            (void)rm_session_end(e->mux, id);
            pthread_mutex_unlock(mu);
            return fail(err, st, "cannot create a %" PRIu64 " B transaction arena: %s", size_hint_bytes,
                        rm_strerror(st));
        }
        c->cur = c->own;
    }
    st = rm_mvcc_begin(e->mvcc, id, &c->txn);
    if (st != RM_OK) {
        txn_reset(e, c);
        (void)rm_session_end(e->mux, id);
        pthread_mutex_unlock(mu);
        return fail(err, st, "cannot begin a transaction: %s", rm_strerror(st));
    }
    rm_mvcc_txn_info_t ti;
    rm_mvcc_txn_get_info(c->txn, &ti);
    c->txn_id = ti.id;
    c->sid = id;
    c->begin_ns = now_ns(e);
    atomic_fetch_add(&e->txns_begun, 1);
    pthread_mutex_unlock(mu);
    if (txn_id)
        *txn_id = ti.id;
    return RM_OK;
}

rm_status_t
rm_engine_get(rm_engine_t *e, rm_session_id_t id, const char *table, const void *key, size_t klen,
              rm_engine_alloc_fn alloc, void *alloc_ctx, bool *found, void **val, size_t *vlen, char *err)
{
    rm_status_t st = check_table(table, err);
    if (st == RM_OK)
        st = check_key(key, klen, "key", err);
    if (st != RM_OK)
        return st;
    pthread_mutex_t *mu = stripe(e, id);
    pthread_mutex_lock(mu);
    conn_t *c = NULL;
    if ((st = bound_conn(e, id, &c, err)) != RM_OK)
        goto out;
    *found = false;
    *val = NULL;
    *vlen = 0;
    table_t *t = find_table(e, table);
    plan_for(e, Q_GET, table, false, false, 0);
    if (!t)
        goto out;   /* an unknown table has no rows */
    query_start(e, c, id, Q_GET, RM_ENGINE_PRIO_NORMAL);
    conn_scratch_t *cs = scratch_of(e, c);
    rm_arena_mark_t mk;
    rm_arena_mark(c->cur, &mk);
    const void *v;
    size_t n;
    st = read_row(e, c, cs->p, cs->n, t->id, key, klen, &v, &n);
    if (st == RM_OK) {
        void *copy = alloc(alloc_ctx, n ? n : 1);
        if (!copy) {
            st = fail(err, RM_ENOMEM, "out of memory copying a %zu B value", n);
        } else {
            memcpy(copy, v, n);
            *val = copy;
            *vlen = n;
            *found = true;
        }
    } else if (st == RM_ENOENT) {
        st = RM_OK;
    }
    (void)rm_arena_rollback(c->cur, &mk);
    query_end(c);
    if (st == RM_ECANCELED)
        st = killed(e, id, c, err);
    else if (st != RM_OK && err && !*err)
        fail(err, st, "read failed: %s", read_error(e, st, (char[RM_ENGINE_ERR_MAX]){0}, RM_ENGINE_ERR_MAX));
out:
    pthread_mutex_unlock(mu);
    return st;
}

static bool usage_critical(rm_engine_t *e);

/* What a Put of these lengths adds at most: key, value and a version record. */
#define PUT_COST(klen, vlen) ((uint64_t)(klen) + (uint64_t)(vlen) + 64u)
#define GATE_REFRESH_NS 5000000ull   /* look for a new pressure sample at most every 5 ms */

/*
 * The growth gate: refuse a Put that would take the present usage past the
 * OOM-prevention threshold before the sampler can see it. The sampler ticks
 * once a second; in a 150 MiB cgroup the stock load grows the agent by 20 MB/s,
 * 13 % of the budget per tick, so the responder went from 87 % to 99.9 % in one
 * tick and the kernel killed the agent before a write was ever refused (issue 17
 * item 3). The gate estimates the present usage as the newest sample's usage
 * plus every byte Put accepted since that sample (an upper bound of the growth:
 * overwrites and compaction only make it cautious, for at most one tick) and
 * refuses while that is at or above emergency_threshold × budget — the usage at
 * which the responder would go to OOM prevention and refuse writes on its next
 * tick. Reads, deletes, commits and rollbacks are never gated. False without a
 * pressure monitor or before its first sample.
 */
static bool
growth_gate_closed(rm_engine_t *e, uint64_t cost)
{
    if (!e->cfg.pressure)
        return false;
    uint64_t now = now_ns(e);
    uint64_t checked = atomic_load_explicit(&e->gate_checked_ns, memory_order_relaxed);
    if (now - checked >= GATE_REFRESH_NS || now < checked) {
        atomic_store_explicit(&e->gate_checked_ns, now, memory_order_relaxed);
        rm_pressure_forecast_t fc;
        rm_pressure_get_forecast(e->cfg.pressure, &fc);
        if (fc.t_ns && fc.t_ns != atomic_load_explicit(&e->gate_sample_ns, memory_order_relaxed)) {
            rm_pressure_config_t pc;
            rm_pressure_get_config(e->cfg.pressure, &pc);
            double limit = pc.emergency_threshold * (double)fc.budget_bytes;
            uint64_t room = fc.budget_bytes && (double)fc.used_bytes < limit ? (uint64_t)(limit - (double)fc.used_bytes)
                            : fc.budget_bytes                                 ? 0
                                                                              : UINT64_MAX;
            atomic_store_explicit(&e->gate_base_bytes, atomic_load(&e->put_bytes_total), memory_order_relaxed);
            atomic_store_explicit(&e->gate_room_bytes, room, memory_order_relaxed);
            atomic_store_explicit(&e->gate_sample_ns, fc.t_ns, memory_order_relaxed);
        }
    }
    if (!atomic_load_explicit(&e->gate_sample_ns, memory_order_relaxed))
        return false;
    uint64_t grown = atomic_load(&e->put_bytes_total) - atomic_load_explicit(&e->gate_base_bytes, memory_order_relaxed);
    uint64_t room = atomic_load_explicit(&e->gate_room_bytes, memory_order_relaxed);
    return grown > room || cost > room - grown;
}

rm_status_t
rm_engine_put(rm_engine_t *e, rm_session_id_t id, const char *table, const void *key, size_t klen, const void *val,
              size_t vlen, char *err)
{
    rm_status_t st = check_table(table, err);
    if (st == RM_OK)
        st = check_key(key, klen, "key", err);
    if (st != RM_OK)
        return st;
    if (vlen > RM_MVCC_VALUE_MAX)
        return fail(err, RM_EINVAL, "value: %zu bytes, at most %u allowed", vlen, RM_MVCC_VALUE_MAX);
    pthread_mutex_t *mu = stripe(e, id);
    pthread_mutex_lock(mu);
    conn_t *c = NULL;
    table_t *t;
    if ((st = bound_conn(e, id, &c, err)) != RM_OK)
        goto out;
    if (atomic_load_explicit(&e->writes_refused, memory_order_relaxed) && usage_critical(e)) {
        atomic_fetch_add_explicit(&e->writes_refused_total, 1, memory_order_relaxed);
        st = fail(err, RM_EREJECTED, "memory pressure: writes are refused at level oom_prevention until usage "
                                     "falls (reads, deletes, commits and rollbacks continue); retry later");
        goto out;
    }
    if (growth_gate_closed(e, PUT_COST(klen, vlen))) {
        atomic_fetch_add_explicit(&e->writes_refused_total, 1, memory_order_relaxed);
        st = fail(err, RM_EREJECTED, "memory pressure: writes are refused: usage would pass the oom_prevention "
                                     "threshold (reads, deletes, commits and rollbacks continue); retry later");
        goto out;
    }
    if ((st = get_or_create_table(e, table, &t, err)) != RM_OK)
        goto out;
    plan_for(e, Q_PUT, table, false, false, 0);
    query_start(e, c, id, Q_PUT, RM_ENGINE_PRIO_NORMAL);
    st = rm__eidx_insert(&t->index, key, klen);
    if (st != RM_OK)
        fail(err, st, "out of memory indexing the key");
    else
        st = journal_add(e, c, t->id, key, klen, val, vlen, false, err);
    if (st == RM_OK)
        atomic_fetch_add_explicit(&e->put_bytes_total, PUT_COST(klen, vlen), memory_order_relaxed);
    query_end(c);
out:
    pthread_mutex_unlock(mu);
    return st;
}

rm_status_t
rm_engine_delete(rm_engine_t *e, rm_session_id_t id, const char *table, const void *key, size_t klen, bool *found,
                 char *err)
{
    rm_status_t st = check_table(table, err);
    if (st == RM_OK)
        st = check_key(key, klen, "key", err);
    if (st != RM_OK)
        return st;
    pthread_mutex_t *mu = stripe(e, id);
    pthread_mutex_lock(mu);
    conn_t *c = NULL;
    bool f = false;
    if ((st = bound_conn(e, id, &c, err)) != RM_OK)
        goto out;
    table_t *t = find_table(e, table);
    plan_for(e, Q_DELETE, table, false, false, 0);
    if (!t)
        goto out;
    query_start(e, c, id, Q_DELETE, RM_ENGINE_PRIO_NORMAL);
    conn_scratch_t *cs = scratch_of(e, c);
    rm_arena_mark_t mk;
    rm_arena_mark(c->cur, &mk);
    const void *v;
    size_t n;
    st = read_row(e, c, cs->p, cs->n, t->id, key, klen, &v, &n);
    (void)rm_arena_rollback(c->cur, &mk);
    if (st == RM_OK) {
        f = true;
        st = journal_add(e, c, t->id, key, klen, NULL, 0, true, err);
    } else if (st == RM_ENOENT) {
        st = RM_OK;
    }
    query_end(c);
    if (st == RM_ECANCELED)
        st = killed(e, id, c, err);
    else if (st != RM_OK && err && !*err)
        fail(err, st, "delete failed: %s", read_error(e, st, (char[RM_ENGINE_ERR_MAX]){0}, RM_ENGINE_ERR_MAX));
out:
    pthread_mutex_unlock(mu);
    if (found)
        *found = f;
    return st;
}

/* ---- scans ------------------------------------------------------------------ */

typedef struct kref {
    const unsigned char *p;
    size_t n;
} kref_t;

typedef struct batch {
    rm_arena_t *a;
    kref_t keys[SCAN_BATCH_KEYS];
    size_t n;
    rm_status_t st;
} batch_t;

static int
batch_copy(void *ctx, const void *key, size_t klen)
{
    batch_t *b = ctx;
    void *p = NULL;
    b->st = rm_arena_alloc_ex(b->a, klen ? klen : 1, &p);
    if (b->st != RM_OK)
        return 1;
    memcpy(p, key, klen);
    b->keys[b->n].p = p;
    b->keys[b->n].n = klen;
    b->n++;
    return 0;
}

rm_status_t
rm_engine_scan(rm_engine_t *e, rm_session_id_t id, const char *table, const void *start, size_t slen,
               const void *end, size_t elen, uint32_t limit, rm_engine_priority_t prio, rm_engine_row_fn visit,
               void *visit_ctx, bool *truncated, char *err)
{
    rm_status_t st = check_table(table, err);
    if (st != RM_OK)
        return st;
    if (slen > RM_ENGINE_KEY_MAX)
        return fail(err, RM_EINVAL, "start_key: %zu bytes, at most %u allowed", slen, RM_ENGINE_KEY_MAX);
    if (elen > RM_ENGINE_KEY_MAX)
        return fail(err, RM_EINVAL, "end_key: %zu bytes, at most %u allowed", elen, RM_ENGINE_KEY_MAX);
    if (limit > RM_ENGINE_SCAN_MAX_LIMIT)
        return fail(err, RM_EINVAL, "limit: %u, at most %u allowed (0 = %u)", limit, RM_ENGINE_SCAN_MAX_LIMIT,
                    RM_ENGINE_SCAN_DEFAULT_LIMIT);
    if (prio > RM_ENGINE_PRIO_HIGH)
        return fail(err, RM_EINVAL, "priority: %d is not a QueryPriority", (int)prio);
    if (slen && elen && rm__eidx_keycmp(start, slen, end, elen) > 0)
        return fail(err, RM_EINVAL, "end_key: sorts before start_key");
    if (limit == 0)
        limit = RM_ENGINE_SCAN_DEFAULT_LIMIT;
    bool trunc = false;
    pthread_mutex_t *mu = stripe(e, id);
    pthread_mutex_lock(mu);
    conn_t *c = NULL;
    if ((st = bound_conn(e, id, &c, err)) != RM_OK)
        goto out;
    table_t *t = find_table(e, table);
    plan_for(e, Q_SCAN, table, slen > 0, elen > 0, limit);
    if (!t)
        goto out;
    query_start(e, c, id, Q_SCAN, prio);
    conn_scratch_t *cs = scratch_of(e, c);
    unsigned char *cursor = (unsigned char *)cs->p + CURSOR_OFF;
    size_t clen = slen;
    if (slen)
        memcpy(cursor, start, slen);
    bool inclusive = true, done = false;
    uint32_t rows = 0;
    rm_arena_mark_t mk;
    rm_arena_mark(c->cur, &mk);
    while (!done && st == RM_OK) {
        if (atomic_load(&c->q_cancel)) {
            st = RM_ECANCELED;
            break;
        }
        batch_t b = {.a = c->cur, .n = 0, .st = RM_OK};
        rm__eidx_batch(&t->index, cursor, clen, inclusive, SCAN_BATCH_KEYS, SCAN_BATCH_BYTES, batch_copy, &b);
        if (b.st != RM_OK && b.n == 0) {
            st = b.st;
            break;
        }
        if (b.n == 0)
            break;
        for (size_t i = 0; i < b.n && !done; i++) {
            if (elen && rm__eidx_keycmp(b.keys[i].p, b.keys[i].n, end, elen) >= 0) {
                done = true;
                break;
            }
            if (atomic_load(&c->q_cancel)) {
                st = RM_ECANCELED;
                break;
            }
            const void *v;
            size_t vn;
            rm_status_t rs = read_row(e, c, cs->p, cs->n, t->id, b.keys[i].p, b.keys[i].n, &v, &vn);
            if (rs == RM_ENOENT)
                continue;
            if (rs != RM_OK) {
                st = rs;
                break;
            }
            if (rows == limit) {
                trunc = true;
                done = true;
                break;
            }
            rows++;
            if (visit(visit_ctx, b.keys[i].p, b.keys[i].n, v, vn) != 0) {
                trunc = true;
                done = true;
            }
        }
        if (st == RM_OK && !done) {
            memcpy(cursor, b.keys[b.n - 1].p, b.keys[b.n - 1].n);
            clen = b.keys[b.n - 1].n;
            inclusive = false;
        }
        (void)rm_arena_rollback(c->cur, &mk);
    }
    (void)rm_arena_rollback(c->cur, &mk);
    bool was_cancel = st == RM_ECANCELED && atomic_load(&c->q_cancel);
    query_end(c);
    if (was_cancel) {
        atomic_fetch_add(&e->queries_cancelled, 1);
        st = fail(err, RM_ECANCELED, "scan of %s cancelled after %u rows (killed as long-running or "
                                     "low-priority under memory pressure); the transaction stays open",
                  table, rows);
    } else if (st == RM_ECANCELED) {
        st = killed(e, id, c, err);
    } else if (st != RM_OK) {
        fail(err, st, "scan failed: %s", read_error(e, st, (char[RM_ENGINE_ERR_MAX]){0}, RM_ENGINE_ERR_MAX));
    }
out:
    pthread_mutex_unlock(mu);
    if (truncated)
        *truncated = trunc;
    return st;
}

/* ---- savepoints ------------------------------------------------------------- */

static rm_status_t
check_sp_name(const char *name, char *err)
{
    if (!name || !*name)
        return fail(err, RM_EINVAL, "name: must not be empty");
    if (strlen(name) > RM_ENGINE_SAVEPOINT_NAME_MAX)
        return fail(err, RM_EINVAL, "name: %zu bytes, at most %u allowed", strlen(name),
                    RM_ENGINE_SAVEPOINT_NAME_MAX);
    return RM_OK;
}

rm_status_t
rm_engine_savepoint(rm_engine_t *e, rm_session_id_t id, const char *name, char *err)
{
    rm_status_t st = check_sp_name(name, err);
    if (st != RM_OK)
        return st;
    pthread_mutex_t *mu = stripe(e, id);
    pthread_mutex_lock(mu);
    conn_t *c = NULL;
    if ((st = bound_conn(e, id, &c, err)) != RM_OK)
        goto out;
    void *p = NULL;
    rm_arena_t *child = NULL;
    if ((st = rm_arena_alloc_ex(c->cur, sizeof(savepoint_t), &p)) != RM_OK ||
        (st = rm_arena_create_child(c->cur, name, &child)) != RM_OK) {
        fail(err, st, "cannot take savepoint %s: %s", name, rm_strerror(st));
        goto out;
    }
    savepoint_t *sp = p;
    sp->prev = c->sp;
    sp->ctx = child;
    sp->parent = c->cur;
    sp->head = c->head;
    sp->count = c->count;
    sp->jbytes = atomic_load(&c->jbytes);
    snprintf(sp->name, sizeof sp->name, "%s", name);
    c->sp = sp;
    c->cur = child;
    atomic_fetch_add(&e->savepoints, 1);
out:
    pthread_mutex_unlock(mu);
    return st;
}

rm_status_t
rm_engine_rollback_to(rm_engine_t *e, rm_session_id_t id, const char *name, char *err)
{
    rm_status_t st = check_sp_name(name, err);
    if (st != RM_OK)
        return st;
    pthread_mutex_t *mu = stripe(e, id);
    pthread_mutex_lock(mu);
    conn_t *c = NULL;
    if ((st = bound_conn(e, id, &c, err)) != RM_OK)
        goto out;
    savepoint_t *sp = c->sp;
    while (sp && strcmp(sp->name, name) != 0)
        sp = sp->prev;
    if (!sp) {
        st = fail(err, RM_ENOENT, "name: no savepoint '%s' in this transaction", name);
        goto out;
    }
    /* O(1): forget everything allocated after the savepoint (its context and
     * every later savepoint's, which are its descendants) and restore the
     * journal head. The savepoint itself stays. A bypass transaction (no
     * arena for its journal) frees the later entries one by one. */
    journal_free_to(e, c, sp->head);
    rm_arena_reset(sp->ctx);
    c->cur = sp->ctx;
    c->head = sp->head;
    c->count = sp->count;
    uint64_t now = atomic_load(&c->jbytes);
    if (now > sp->jbytes) {
        atomic_fetch_sub(&e->journal_bytes, now - sp->jbytes);
        atomic_store(&c->jbytes, sp->jbytes);
    }
    c->sp = sp;
    atomic_fetch_add(&e->rollbacks_to, 1);
out:
    pthread_mutex_unlock(mu);
    return st;
}

/* ---- commit / rollback ------------------------------------------------------ */

rm_status_t
rm_engine_commit(rm_engine_t *e, rm_session_id_t id, uint64_t *commit_seq, char *err)
{
    pthread_mutex_t *mu = stripe(e, id);
    pthread_mutex_lock(mu);
    conn_t *c = NULL;
    rm_status_t st = bound_conn(e, id, &c, err);
    if (st != RM_OK)
        goto out;
    conn_scratch_t *cs = scratch_of(e, c);
    query_start(e, c, id, Q_COMMIT, RM_ENGINE_PRIO_NORMAL);
    /* Apply the journal oldest first. */
    jentry_t **order = NULL;
    bool heap = false;
    if (c->count) {
        void *p = NULL;
        if (rm_arena_alloc_ex(c->cur, c->count * sizeof *order, &p) != RM_OK) {
            p = malloc(c->count * sizeof *order);
            heap = true;
        }
        order = p;
        if (!order) {
            query_end(c);
            txn_abort(e, c);
            (void)rm_session_end(e->mux, id);
            st = fail(err, RM_ENOMEM, "out of memory committing; the transaction was rolled back");
            goto out;
        }
        size_t i = c->count;
        for (jentry_t *j = c->head; j; j = j->prev)
            order[--i] = j;
    }
    for (uint64_t i = 0; i < c->count && st == RM_OK; i++) {
        jentry_t *j = order[i];
        size_t mk = mkey(NULL, cs->p, j->table_id, j->data, j->klen);
        const void *k = (char *)cs->p + MKEY_OFF;
        if (j->del) {
            st = rm_mvcc_delete(c->txn, k, mk);
            if (st == RM_ENOENT)
                st = RM_OK;
        } else {
            st = rm_mvcc_put(c->txn, k, mk, j->data + j->klen, j->vlen);
        }
    }
    if (heap)
        free(order);
    query_end(c);
    if (st == RM_OK) {
        st = rm_mvcc_commit(c->txn);
        c->txn = NULL;   /* freed either way */
        if (st == RM_OK) {
            atomic_fetch_add(&e->txns_committed, 1);
            uint64_t seq = atomic_fetch_add(&e->commit_seq, 1) + 1;
            if (commit_seq)
                *commit_seq = seq;
            release(e, id, c);
        } else {
            atomic_fetch_add(&e->txns_killed, 1);
            release(e, id, c);
            st = fail(err, RM_ECANCELED, "transaction was killed (orphaned or by an operator) and rolled back");
        }
        goto out;
    }
    if (st == RM_ECONFLICT) {
        atomic_fetch_add(&e->txns_conflicted, 1);
        txn_abort(e, c);
        (void)rm_session_end(e->mux, id);
        st = fail(err, RM_ECONFLICT, "write-write conflict: another transaction committed a key this one wrote "
                                     "after its snapshot; the transaction was rolled back (retry it)");
    } else if (st == RM_ECANCELED) {
        st = killed(e, id, c, err);
    } else {
        rm_status_t s2 = st;
        txn_abort(e, c);
        (void)rm_session_end(e->mux, id);
        st = fail(err, s2, "commit failed, the transaction was rolled back: %s",
                  read_error(e, s2, (char[RM_ENGINE_ERR_MAX]){0}, RM_ENGINE_ERR_MAX));
    }
out:
    pthread_mutex_unlock(mu);
    return st;
}

rm_status_t
rm_engine_rollback(rm_engine_t *e, rm_session_id_t id, char *err)
{
    pthread_mutex_t *mu = stripe(e, id);
    pthread_mutex_lock(mu);
    conn_t *c = NULL;
    rm_status_t st = bound_conn(e, id, &c, err);
    if (st == RM_OK) {
        txn_abort(e, c);
        (void)rm_session_end(e->mux, id);
    }
    pthread_mutex_unlock(mu);
    return st;
}

/* ---- management --------------------------------------------------------------- */

typedef struct alive_ctx {
    rm_engine_t *e;
    uint64_t now;
} alive_ctx_t;

static const char *
orphan_reason(rm_engine_t *e, uint64_t owner, uint64_t now, double *idle_s)
{
    rm_session_info_t info;
    if (rm_session_get(e->mux, owner, &info) != RM_OK) {
        *idle_s = 0;
        return "session closed";
    }
    uint64_t idle = now > info.last_active_ns ? now - info.last_active_ns : 0;
    *idle_s = (double)idle / 1e9;
    return idle >= e->cfg.orphan_idle_ns ? "idle past timeout" : "";
}

static bool
owner_alive(void *ctx, uint64_t owner)
{
    alive_ctx_t *a = ctx;
    double idle;
    return *orphan_reason(a->e, owner, a->now, &idle) == '\0';
}

void
rm_engine_list_txns(rm_engine_t *e, bool orphaned_only, rm_engine_txn_info_t *out, size_t cap, size_t *n)
{
    size_t total = 0;
    rm_mvcc_list_txns(e->mvcc, NULL, 0, &total);
    size_t want = total + 16;
    rm_mvcc_txn_info_t *ti = calloc(want, sizeof *ti);
    size_t got = 0, k = 0;
    if (ti)
        rm_mvcc_list_txns(e->mvcc, ti, want, &got);
    if (got > want)
        got = want;
    uint64_t now = now_ns(e);
    for (size_t i = 0; i < got; i++) {
        double idle;
        const char *why = orphan_reason(e, ti[i].owner, now, &idle);
        bool orphan = *why != '\0';
        if (orphaned_only && !orphan)
            continue;
        if (k < cap) {
            rm_engine_txn_info_t *o = &out[k];
            o->txn_id = ti[i].id;
            o->session_id = ti[i].owner;
            o->age_seconds = now > ti[i].begin_ns ? (double)(now - ti[i].begin_ns) / 1e9 : 0;
            o->idle_seconds = idle;
            o->orphaned = orphan;
            o->orphan_reason = why;
            o->killed = ti[i].state == RM_MVCC_TXN_KILLED;
            o->journal_bytes = 0;
            rm_session_info_t si;
            if (rm_session_get(e->mux, ti[i].owner, &si) == RM_OK && si.slot >= 0 && (uint32_t)si.slot < e->nconns) {
                pthread_mutex_lock(&e->reg_mu);
                conn_t *c = atomic_load(&e->conns[si.slot]);
                if (c)
                    o->journal_bytes = atomic_load(&c->jbytes);
                pthread_mutex_unlock(&e->reg_mu);
            }
        }
        k++;
    }
    free(ti);
    if (n)
        *n = k;
}

void
rm_engine_kill_orphans(rm_engine_t *e, uint64_t *killed_out)
{
    alive_ctx_t a = {e, now_ns(e)};
    size_t total = 0;
    rm_mvcc_list_orphans(e->mvcc, UINT64_MAX, owner_alive, &a, NULL, 0, &total);
    uint64_t k = 0;
    if (total) {
        size_t want = total + 16, got = 0;
        rm_mvcc_txn_info_t *ti = calloc(want, sizeof *ti);
        if (ti) {
            rm_mvcc_list_orphans(e->mvcc, UINT64_MAX, owner_alive, &a, ti, want, &got);
            if (got > want)
                got = want;
        }
        for (size_t i = 0; i < got; i++) {
            pthread_mutex_t *mu = stripe(e, ti[i].owner);
            pthread_mutex_lock(mu);
            rm_session_info_t si;
            bool done = false;
            if (rm_session_get(e->mux, ti[i].owner, &si) == RM_OK && si.slot >= 0 &&
                (uint32_t)si.slot < e->nconns) {
                conn_t *c = atomic_load(&e->conns[si.slot]);
                if (c && c->txn && c->txn_id == ti[i].id) {
                    txn_abort(e, c);
                    (void)rm_session_end(e->mux, ti[i].owner);
                    done = true;
                }
            }
            if (!done && rm_mvcc_kill(e->mvcc, ti[i].id) == RM_OK)
                done = true;
            pthread_mutex_unlock(mu);
            k += done;
        }
        free(ti);
    }
    atomic_fetch_add(&e->orphans_killed, k);
    atomic_fetch_add(&e->txns_killed, k);
    if (killed_out)
        *killed_out = k;
}

void
rm_engine_list_queries(rm_engine_t *e, rm_engine_query_info_t *out, size_t cap, size_t *n)
{
    size_t k = 0;
    uint64_t now = now_ns(e);
    pthread_mutex_lock(&e->reg_mu);
    for (uint32_t i = 0; i < e->nconns; i++) {
        conn_t *c = atomic_load(&e->conns[i]);
        if (!c)
            continue;
        uint64_t q = atomic_load(&c->q_id);
        if (!q)
            continue;
        if (k < cap) {
            uint64_t st = atomic_load(&c->q_start_ns);
            int kind = atomic_load(&c->q_kind);
            out[k] = (rm_engine_query_info_t){
                .query_id = q,
                .session_id = atomic_load(&c->q_sid),
                .kind = kind > 0 && kind <= Q_COMMIT ? q_names[kind] : "",
                .priority = (rm_engine_priority_t)atomic_load(&c->q_prio),
                .running_seconds = now > st ? (double)(now - st) / 1e9 : 0,
                .cancel_requested = atomic_load(&c->q_cancel) != 0,
            };
        }
        k++;
    }
    pthread_mutex_unlock(&e->reg_mu);
    if (n)
        *n = k;
}

static uint64_t
cancel_where(rm_engine_t *e, bool low_only, uint64_t older_than_ns)
{
    uint64_t k = 0, now = now_ns(e);
    pthread_mutex_lock(&e->reg_mu);
    for (uint32_t i = 0; i < e->nconns; i++) {
        conn_t *c = atomic_load(&e->conns[i]);
        if (!c || !atomic_load(&c->q_id))
            continue;
        if (low_only && atomic_load(&c->q_prio) != RM_ENGINE_PRIO_LOW)
            continue;
        uint64_t st = atomic_load(&c->q_start_ns);
        if (!low_only && (now < st || now - st < older_than_ns))
            continue;
        if (!atomic_exchange(&c->q_cancel, 1))
            k++;
    }
    pthread_mutex_unlock(&e->reg_mu);
    return k;
}

uint64_t
rm_engine_kill_queries(rm_engine_t *e, uint64_t older_than_ns)
{
    return cancel_where(e, false, older_than_ns);
}

uint64_t
rm_engine_cancel_low_priority(rm_engine_t *e)
{
    return cancel_where(e, true, 0);
}

rm_status_t
rm_engine_trim_plans(rm_engine_t *e, double fraction, uint64_t *bytes_freed, uint64_t *plans_freed)
{
    if (!(fraction > 0.0 && fraction <= 1.0))
        return RM_EINVAL;
    rm_plancache_stats_t before, after;
    rm_plancache_stats(e->plans, &before);
    uint64_t b = 0;
    rm_status_t st = RM_OK;
    if (fraction >= 1.0)
        rm_plancache_clear(e->plans, &b);
    else
        st = rm_plancache_trim(e->plans, fraction, &b);
    rm_plancache_stats(e->plans, &after);
    if (bytes_freed)
        *bytes_freed = b;
    if (plans_freed)
        *plans_freed = before.plans > after.plans ? before.plans - after.plans : 0;
    return st;
}

void
rm_engine_set_admission(rm_engine_t *e, bool open)
{
    rm_session_set_admission(e->mux, open);
}

uint64_t
rm_engine_compact(rm_engine_t *e, bool all)
{
    uint64_t freed = 0;
    if (all)
        rm_mvcc_compact_all(e->mvcc, &freed);
    else
        rm_mvcc_compact_idle(e->mvcc, 1000000000ull, 0, &freed);
    return freed;
}

void
rm_engine_stats(rm_engine_t *e, rm_engine_stats_t *out)
{
    memset(out, 0, sizeof *out);
    rm_session_stats(e->mux, &out->session);
    rm_mvcc_stats(e->mvcc, &out->mvcc);
    rm_plancache_stats(e->plans, &out->plans);
    rm_poolsizer_stats(e->sizer, &out->pool);
    pthread_rwlock_rdlock(&e->tables_mu);
    out->tables = e->ntables;
    for (uint32_t i = 0; i < e->ntables; i++) {
        uint64_t k, b;
        rm__eidx_usage(&e->tables[i]->index, &k, &b);
        out->index_keys += k;
        out->index_bytes += b;
    }
    pthread_rwlock_unlock(&e->tables_mu);
    size_t running = 0;
    rm_engine_list_queries(e, NULL, 0, &running);
    out->queries_running = running;
    out->queries_total = atomic_load(&e->queries_total);
    out->queries_cancelled = atomic_load(&e->queries_cancelled);
    out->txns_begun = atomic_load(&e->txns_begun);
    out->txns_committed = atomic_load(&e->txns_committed);
    out->txns_rolled_back = atomic_load(&e->txns_rolled_back);
    out->txns_conflicted = atomic_load(&e->txns_conflicted);
    out->txns_killed = atomic_load(&e->txns_killed);
    out->writes_refused = atomic_load(&e->writes_refused) != 0;
    out->writes_refused_total = atomic_load(&e->writes_refused_total);
    out->orphans_killed = atomic_load(&e->orphans_killed);
    out->sessions_idle_closed = atomic_load(&e->sessions_idle_closed);
    out->sessions_idle_rolled_back = atomic_load(&e->idle_rolled_back);
    out->sessions_quota_refused = atomic_load(&e->quota_refused);
    out->max_sessions_per_principal = atomic_load(&e->max_per_principal);
    out->session_idle_close_ns = atomic_load(&e->idle_close_ns);
    pthread_mutex_lock(&e->prin_mu);
    out->principals = e->prin_count;
    pthread_mutex_unlock(&e->prin_mu);
    out->savepoints = atomic_load(&e->savepoints);
    out->rollbacks_to_savepoint = atomic_load(&e->rollbacks_to);
    out->journal_bytes = atomic_load(&e->journal_bytes);
    out->heap_enabled = e->heap != NULL;
    if (e->heap)
        rm_eheap_stats(e->heap, &out->heap);
}

/* ---- housekeeping ------------------------------------------------------------- */

void
rm_engine_tick(rm_engine_t *e)
{
    rm_session_stats_t s;
    rm_session_stats(e->mux, &s);
    (void)rm_poolsizer_observe(e->sizer, (uint32_t)s.connections_busy, (uint32_t)s.connections_waiting,
                               (uint32_t)s.pool_size, NULL);
    /*
     * Background vacuum: visit the next slice of version chains (a cursor that
     * persists across calls) and drop every version no active snapshot can see,
     * as PostgreSQL's autovacuum and InnoDB's purge do. Without it a steady
     * update load keeps up to max_versions_per_key versions of every key until
     * memory pressure compacts them.
     */
    uint64_t rate = atomic_load_explicit(&e->vacuum_rate, memory_order_relaxed);
    if (rate) {
        uint64_t slice = rate * e->cfg.tick_ms / 1000;
        rm_mvcc_compact_idle(e->mvcc, 0, (size_t)(slice ? slice : 1), NULL);
    }
    uint64_t now = now_ns(e);
    uint64_t idle_ns = atomic_load_explicit(&e->idle_close_ns, memory_order_relaxed);
    if (idle_ns && now - e->last_idle_check_ns >= 1000000000ull) {
        e->last_idle_check_ns = now;
        /* Batches of 256 (a list walks every session), up to 64 a second: an
         * abandoned burst of 10 000 sessions is gone within the second. */
        rm_session_info_t idle[256];
        for (int pass = 0; pass < 64; pass++) {
            size_t n = 0, closed = 0;
            rm_session_list_idle(e->mux, idle_ns, idle, 256, &n);
            size_t got = n < 256 ? n : 256;
            for (size_t i = 0; i < got; i++) {
                pthread_mutex_t *mu = stripe(e, idle[i].id);
                pthread_mutex_lock(mu);
                bool rb = false;
                rm_status_t st = close_striped(e, idle[i].id, idle_ns, &rb);
                pthread_mutex_unlock(mu);
                if (st != RM_OK)
                    continue;
                closed++;
                atomic_fetch_add(&e->sessions_idle_closed, 1);
                if (rb)
                    atomic_fetch_add(&e->idle_rolled_back, 1);
            }
            if (n <= 256 || closed == 0)
                break;
        }
    }
}

static void *
thread_main(void *arg)
{
    rm_engine_t *e = arg;
    pthread_mutex_lock(&e->thr_mu);
    while (!e->stop) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        uint64_t ns = (uint64_t)ts.tv_nsec + (uint64_t)e->cfg.tick_ms * 1000000ull;
        ts.tv_sec += (time_t)(ns / 1000000000ull);
        ts.tv_nsec = (long)(ns % 1000000000ull);
        int rc = pthread_cond_timedwait(&e->thr_cv, &e->thr_mu, &ts);
        if (e->stop)
            break;
        if (rc == ETIMEDOUT || rc == 0) {
            pthread_mutex_unlock(&e->thr_mu);
            rm_engine_tick(e);
            pthread_mutex_lock(&e->thr_mu);
        }
    }
    pthread_mutex_unlock(&e->thr_mu);
    return NULL;
}

/* ---- pressure reclaimers ------------------------------------------------------ */

static uint64_t
reclaim_mvcc(void *ctx, rm_pressure_level_t level, uint64_t target)
{
    return rm_engine_compact(ctx, level >= RM_PRESSURE_AGGRESSIVE);
}

static uint64_t
estimate_plans(void *ctx, rm_pressure_level_t level)
{
    rm_engine_t *e = ctx;
    rm_plancache_stats_t s;
    rm_plancache_stats(e->plans, &s);
    return level >= RM_PRESSURE_EMERGENCY ? s.bytes : level >= RM_PRESSURE_AGGRESSIVE ? s.bytes / 2 : s.bytes / 10;
}

static uint64_t
reclaim_plans(void *ctx, rm_pressure_level_t level, uint64_t target)
{
    uint64_t b = 0;
    double f = level >= RM_PRESSURE_EMERGENCY ? 1.0 : level >= RM_PRESSURE_AGGRESSIVE ? 0.5 : 0.1;
    (void)rm_engine_trim_plans(ctx, f, &b, NULL);
    return b;
}

static uint64_t
reclaim_low_prio(void *ctx, rm_pressure_level_t level, uint64_t target)
{
    (void)rm_engine_cancel_low_priority(ctx);
    return 0;
}

static uint64_t
reclaim_long(void *ctx, rm_pressure_level_t level, uint64_t target)
{
    rm_engine_t *e = ctx;
    (void)rm_engine_kill_queries(e, e->cfg.long_query_ns);
    return 0;
}

static void
admission_level(void *ctx, rm_pressure_level_t old_level, rm_pressure_level_t new_level)
{
    rm_engine_t *e = ctx;
    if (new_level >= RM_PRESSURE_EMERGENCY && old_level < RM_PRESSURE_EMERGENCY) {
        atomic_store(&e->pressure_closed, 1);
        rm_session_set_admission(e->mux, false);
    } else if (new_level < RM_PRESSURE_EMERGENCY && atomic_exchange(&e->pressure_closed, 0)) {
        rm_session_set_admission(e->mux, true);
    }
}

/*
 * OOM prevention, the last step: writes that would grow memory (Put) are refused
 * with RM_EREJECTED — what Redis does at maxmemory with the noeviction policy —
 * while the responder is at OOM prevention AND the present usage is at or above
 * the critical threshold: a forecast alone (usage still low, growth predicted)
 * lets the gentler reclaimers work first and never turns writes away.
 * Everything that frees or keeps memory (reads, deletes, commits, rollbacks,
 * closing sessions) goes on, so clients can finish and usage can come down.
 */
static void
write_level(void *ctx, rm_pressure_level_t old_level, rm_pressure_level_t new_level)
{
    rm_engine_t *e = ctx;
    atomic_store(&e->writes_refused, new_level >= RM_PRESSURE_OOM_PREVENTION);
}

/* Present usage (not the forecast) at or above critical; only asked while writes_refused is set. */
static bool
usage_critical(rm_engine_t *e)
{
    rm_pressure_forecast_t fc;
    rm_pressure_get_forecast(e->cfg.pressure, &fc);
    return fc.current_level >= RM_PRESSURE_EMERGENCY;
}

/* ---- accounting ----------------------------------------------------------------- */

static void
report(void *ctx, rm_component_usage_t *out)
{
    rm_engine_t *e = ctx;
    uint64_t used = atomic_load(&e->journal_bytes);
    /* index bytes: read without the tables lock would race; the rwlocks are
     * never held across a registry call, so taking them here is safe. */
    pthread_rwlock_rdlock(&e->tables_mu);
    for (uint32_t i = 0; i < e->ntables; i++) {
        uint64_t k, b;
        rm__eidx_usage(&e->tables[i]->index, &k, &b);
        used += b;
    }
    used += (uint64_t)e->ntables * sizeof(table_t);
    pthread_rwlock_unlock(&e->tables_mu);
    if (e->heap) {
        /* the heap's page bookkeeping (its values are the buffer pool's bytes) */
        rm_eheap_stats_t hs;
        rm_eheap_stats(e->heap, &hs);
        used += hs.meta_bytes;
    }
    pthread_mutex_lock(&e->prin_mu);   /* a leaf lock: never held around a registry call */
    used += e->prin_bytes;             /* session owners (malloc) */
    pthread_mutex_unlock(&e->prin_mu);
    out->nested = 1;   /* index nodes and journals come from the record allocator or the heap */
    out->used_bytes = used;
    out->held_bytes = used + sizeof *e + e->nconns * sizeof(void *) * 2;
}

/* ---- lifecycle ---------------------------------------------------------------- */

rm_session_mux_t *
rm_engine_mux(rm_engine_t *e)
{
    return e->mux;
}

rm_mvcc_t *
rm_engine_mvcc(rm_engine_t *e)
{
    return e->mvcc;
}

rm_status_t rm_engine_set_max_sessions(rm_engine_t *e, uint32_t n) { return rm_session_set_max_sessions(e->mux, n); }
rm_status_t rm_engine_set_session_ratio(rm_engine_t *e, uint32_t n) { return rm_session_set_session_ratio(e->mux, n); }
rm_status_t rm_engine_set_session_idle_timeout(rm_engine_t *e, uint64_t ns) { atomic_store(&e->idle_close_ns, ns); return RM_OK; }
rm_status_t rm_engine_set_max_sessions_per_principal(rm_engine_t *e, uint32_t n) { atomic_store(&e->max_per_principal, n); return RM_OK; }
rm_status_t rm_engine_set_max_versions_per_key(rm_engine_t *e, uint32_t n) { return rm_mvcc_set_max_versions_per_key(e->mvcc, n); }
rm_status_t rm_engine_set_vacuum_rate(rm_engine_t *e, uint64_t n) { atomic_store(&e->vacuum_rate, n); return RM_OK; }
rm_status_t rm_engine_set_plan_cache_max_plans(rm_engine_t *e, uint64_t n) { return rm_plancache_set_max_plans(e->plans, n); }
rm_status_t rm_engine_set_plan_cache_max_bytes(rm_engine_t *e, uint64_t n) { return rm_plancache_set_max_bytes(e->plans, n); }
rm_status_t rm_engine_set_pool_min_size(rm_engine_t *e, uint32_t n) { return rm_poolsizer_set_min_size(e->sizer, n); }
rm_status_t rm_engine_set_pool_max_size(rm_engine_t *e, uint32_t n) { return rm_poolsizer_set_max_size(e->sizer, n); }
rm_status_t rm_engine_set_pool_scale_down_threshold(rm_engine_t *e, double t) { return rm_poolsizer_set_scale_down_threshold(e->sizer, t); }

static void
engine_free(rm_engine_t *e)
{
    if (e->thread_started) {
        pthread_mutex_lock(&e->thr_mu);
        e->stop = true;
        pthread_cond_signal(&e->thr_cv);
        pthread_mutex_unlock(&e->thr_mu);
        pthread_join(e->thread, NULL);
        e->thread_started = false;
    }
    for (int i = 0; i < RECLAIMERS; i++)
        if (e->reclaimers[i]) {
            rm_pressure_reclaimer_remove(e->cfg.pressure, e->reclaimers[i]);
            e->reclaimers[i] = NULL;
        }
    if (atomic_exchange(&e->pressure_closed, 0) && e->mux)
        rm_session_set_admission(e->mux, true);
    atomic_store(&e->writes_refused, 0);
    rm_stats_unregister(e->stats_h);
    /* Sessions first: on_abandon/on_slot_close abort transactions into the store. */
    rm_session_mux_destroy(e->mux);
    rm_poolsizer_destroy(e->sizer);
    rm_plancache_destroy(e->plans);
    rm_mvcc_destroy(e->mvcc);      /* gives every heap value back first */
    rm_eheap_destroy(e->heap);
    /* the multiplexer is gone: every principal entry is unreferenced */
    for (uint32_t i = 0; i < e->prin_nbuckets; i++)
        for (principal_t *p = e->prin_buckets[i], *next; p; p = next) {
            next = p->next;
            free(p);
        }
    free(e->prin_buckets);
    pthread_mutex_destroy(&e->prin_mu);
    for (uint32_t i = 0; i < e->ntables; i++) {
        rm__eidx_destroy(&e->tables[i]->index);
        free(e->tables[i]);
    }
    free(e->conns);
    for (unsigned i = 0; i < STRIPES; i++)
        pthread_mutex_destroy(&e->stripes[i]);
    pthread_mutex_destroy(&e->reg_mu);
    pthread_rwlock_destroy(&e->tables_mu);
    pthread_mutex_destroy(&e->thr_mu);
    pthread_cond_destroy(&e->thr_cv);
    free(e);
}

rm_status_t
rm_engine_create(const rm_engine_config_t *cfg, rm_engine_t **out, char *err)
{
    if (!cfg || !out || !cfg->arenas)
        return fail(err, RM_EINVAL, "engine: a configuration with an arena manager is required");
    if (cfg->tick_ms && (cfg->tick_ms < 100 || cfg->tick_ms > 1000))
        return fail(err, RM_EINVAL, "tick_ms: %u, expected 100..1000", cfg->tick_ms);
    rm_engine_t *e = calloc(1, sizeof *e);
    if (!e)
        return fail(err, RM_ENOMEM, "out of memory creating the engine");
    e->cfg = *cfg;
    if (!e->cfg.now_ns) {
        e->cfg.now_ns = mono_ns;
        e->cfg.now_ctx = NULL;
    }
    if (!e->cfg.tick_ms)
        e->cfg.tick_ms = 250;
    atomic_init(&e->vacuum_rate, cfg->vacuum_chains_per_second);
    atomic_init(&e->max_per_principal, cfg->max_sessions_per_principal);
    atomic_init(&e->idle_close_ns, cfg->session_idle_close_ns);
    pthread_mutex_init(&e->prin_mu, NULL);
    if (getrandom(&e->prin_seed, sizeof e->prin_seed, GRND_NONBLOCK) != (ssize_t)sizeof e->prin_seed)
        e->prin_seed = (uint64_t)(uintptr_t)e ^ mono_ns(NULL);   /* placement only, never a secret */
    if (!e->cfg.orphan_idle_ns)
        e->cfg.orphan_idle_ns = 60ull * 1000000000ull;
    if (!e->cfg.long_query_ns)
        e->cfg.long_query_ns = 10ull * 1000000000ull;
    if (!e->cfg.scratch_bytes)
        e->cfg.scratch_bytes = SCRATCH_DEFAULT;
    if (e->cfg.scratch_bytes < VALBUF_OFF + 4096)
        e->cfg.scratch_bytes = VALBUF_OFF + 4096;
    if (!e->cfg.max_connections)
        e->cfg.max_connections = RM_SESSION_DEFAULT_MAX_CONNECTIONS;
    if (!e->cfg.pool_max_size)
        e->cfg.pool_max_size = RM_POOLSIZER_DEFAULT_MAX;
    e->ra = (rm_recalloc_t){ra_alloc, ra_free, e};
    for (unsigned i = 0; i < STRIPES; i++)
        pthread_mutex_init(&e->stripes[i], NULL);
    pthread_mutex_init(&e->reg_mu, NULL);
    pthread_rwlock_init(&e->tables_mu, NULL);
    pthread_mutex_init(&e->thr_mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&e->thr_cv, &ca);
    pthread_condattr_destroy(&ca);
    e->nconns = e->cfg.max_connections;
    e->conns = calloc(e->nconns, sizeof *e->conns);
    rm_status_t st = RM_ENOMEM;
    if (!e->conns) {
        fail(err, st, "out of memory for %u connection slots", e->nconns);
        goto fail;
    }
    rm_poolsizer_config_t pc = {
        .min_size = cfg->pool_min_size,
        .max_size = e->cfg.pool_max_size,
        .scale_down_threshold = cfg->pool_scale_down_threshold,
        .scale_down_window_ns = cfg->pool_scale_down_window_ns,
        .now_ns = e->cfg.now_ns,
        .now_ctx = e->cfg.now_ctx,
    };
    if (!pc.min_size)
        pc.min_size = RM_POOLSIZER_DEFAULT_MIN;
    if (pc.max_size > e->cfg.max_connections)
        pc.max_size = e->cfg.max_connections;
    if (pc.min_size > pc.max_size)
        pc.min_size = pc.max_size;
    if ((st = rm_poolsizer_create(&pc, &e->sizer)) != RM_OK) {
        fail(err, st, "pool: the sizer refuses min %u max %u threshold %.2f: %s", pc.min_size, pc.max_size,
             pc.scale_down_threshold, rm_strerror(st));
        goto fail;
    }
    rm_session_config_t sc = {
        .max_connections = e->cfg.max_connections,
        .max_sessions = cfg->max_sessions,
        .session_ratio = cfg->session_ratio,
        .pool_size = rm_poolsizer_target(e->sizer),
        .scratch_bytes = e->cfg.scratch_bytes,
        .alloc = cfg->slab ? &e->ra : NULL,
        .cb = {on_slot_open, on_slot_close, on_abandon, e},
        .now_ns = e->cfg.now_ns,
        .now_ctx = e->cfg.now_ctx,
    };
    if ((st = rm_session_mux_create(&sc, &e->mux)) != RM_OK) {
        fail(err, st, "session: the multiplexer refuses its settings: %s", rm_strerror(st));
        goto fail;
    }
    /* The sizer's target moves the multiplexer's pool from now on. */
    rm_poolsizer_destroy(e->sizer);
    e->sizer = NULL;
    pc.apply = rm_session_pool_apply;
    pc.apply_ctx = e->mux;
    pc.initial_size = sc.pool_size;
    if ((st = rm_poolsizer_create(&pc, &e->sizer)) != RM_OK) {
        fail(err, st, "pool: cannot create the sizer: %s", rm_strerror(st));
        goto fail;
    }
    rm_mvcc_config_t mc = {
        .max_versions_per_key = cfg->max_versions_per_key,
        .alloc = &e->ra,
        .now_ns = e->cfg.now_ns,
        .now_ctx = e->cfg.now_ctx,
    };
    rm_mvcc_valstore_t vs;
    if (cfg->bufpool) {
        if ((st = rm_eheap_create(cfg->bufpool, "engine.heap", &e->heap)) != RM_OK) {
            fail(err, st, "cannot open the engine heap (engine.heap) in the buffer pool: %s", rm_strerror(st));
            goto fail;
        }
        vs = (rm_mvcc_valstore_t){.put = rm_eheap_put, .get = rm_eheap_get, .free = rm_eheap_free,
                                  .ctx = e->heap, .max_bytes = rm_eheap_max_value(e->heap)};
        mc.valstore = &vs;
    }
    if ((st = rm_mvcc_create(&mc, &e->mvcc)) != RM_OK) {
        fail(err, st, "mvcc: cannot create the version store: %s", rm_strerror(st));
        goto fail;
    }
    rm_plancache_config_t pcc = {
        .max_plans = cfg->plan_cache_max_plans,
        .max_bytes = cfg->plan_cache_max_bytes,
        .alloc = &e->ra,
    };
    if ((st = rm_plancache_create(&pcc, &e->plans)) != RM_OK) {
        fail(err, st, "plan_cache: cannot create the plan cache: %s", rm_strerror(st));
        goto fail;
    }
    if ((st = rm_stats_register("engine", report, e, &e->stats_h)) != RM_OK) {
        fail(err, st, "cannot register the engine's accounting: %s", rm_strerror(st));
        goto fail;
    }
    if (cfg->pressure) {
        const rm_pressure_reclaimer_def_t defs[RECLAIMERS] = {
            {"mvcc_compact", 50, RM_PRESSURE_GENTLE, NULL, reclaim_mvcc, NULL, e},
            {"plan_cache_trim", 55, RM_PRESSURE_GENTLE, estimate_plans, reclaim_plans, NULL, e},
            {"cancel_low_priority_queries", 60, RM_PRESSURE_AGGRESSIVE, NULL, reclaim_low_prio, NULL, e},
            {"kill_long_running_queries", 65, RM_PRESSURE_EMERGENCY, NULL, reclaim_long, NULL, e},
            {"reject_new_connections", 70, RM_PRESSURE_EMERGENCY, NULL, NULL, admission_level, e},
            {"refuse_writes", 75, RM_PRESSURE_OOM_PREVENTION, NULL, NULL, write_level, e},
        };
        for (int i = 0; i < RECLAIMERS; i++)
            if ((st = rm_pressure_reclaimer_add(cfg->pressure, &defs[i], &e->reclaimers[i])) != RM_OK) {
                fail(err, st, "cannot register reclaimer %s: %s", defs[i].name, rm_strerror(st));
                goto fail;
            }
    }
    e->last_idle_check_ns = now_ns(e);
    if (!cfg->no_thread) {
        /* The thread takes no signals: the agent's sigwait loop must get them. */
        sigset_t all, old;
        sigfillset(&all);
        pthread_sigmask(SIG_SETMASK, &all, &old);
        int rc = pthread_create(&e->thread, NULL, thread_main, e);
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        if (rc != 0) {
            st = fail(err, RM_ENOMEM, "cannot start the engine thread");
            goto fail;
        }
        e->thread_started = true;
    }
    *out = e;
    return RM_OK;
fail:
    engine_free(e);
    return st;
}

void
rm_engine_destroy(rm_engine_t *e)
{
    if (e)
        engine_free(e);
}
