/*
 * engine_query.c — queries and scans: the running-query descriptor, plans,
 * tables and their key checks, the write journal and snapshot reads, Get /
 * Put (with the growth gate) / Delete, and ordered range scans.
 */
#include "engine_internal.h"

/* ---- queries ---------------------------------------------------------------- */

void
rm__e_query_start(rm_engine_t *e, conn_t *c, rm_session_id_t sid, int kind, rm_engine_priority_t prio)
{
    atomic_store(&c->q_cancel, 0);
    atomic_store(&c->q_kind, kind);
    atomic_store(&c->q_prio, (int)prio);
    atomic_store(&c->q_start_ns, now_ns(e));
    atomic_store(&c->q_sid, sid);
    atomic_store(&c->q_id, atomic_fetch_add(&e->query_seq, 1) + 1);
    atomic_fetch_add(&e->queries_total, 1);
}

void
rm__e_query_end(conn_t *c)
{
    atomic_store(&c->q_id, 0);
}

/* ---- plans ------------------------------------------------------------------ */

/* The point statements' text and plan; each takes the table as its one %s. */
static const struct {
    const char *text, *plan;
} point_stmt[] = {
    [Q_GET] = {"SELECT value FROM %s WHERE key = $1", "PointLookup(%s.pk) -> JournalOverlay -> SnapshotFilter"},
    [Q_PUT] = {"INSERT INTO %s (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE",
               "IndexInsert(%s.pk) -> JournalAppend(put)"},
    [Q_DELETE] = {"DELETE FROM %s WHERE key = $1", "PointLookup(%s.pk) -> JournalAppend(delete)"},
};

/* Look the statement's plan up; on a miss derive it and cache it. The plan is
 * a short operator description; the engine only needs it to exist. A kind
 * other than the point statements' is a scan. */
static void
plan_for(rm_engine_t *e, int kind, const char *table, bool ranged_start, bool ranged_end, uint32_t limit)
{
    char text[256], plan[256];
    bool point = (unsigned)kind < sizeof point_stmt / sizeof point_stmt[0] && point_stmt[kind].text;
    int tl = point ? snprintf(text, sizeof text, point_stmt[kind].text, table)
                   : snprintf(text, sizeof text, "SELECT key, value FROM %s%s%s%s ORDER BY key LIMIT %u", table,
                              ranged_start || ranged_end ? " WHERE " : "", ranged_start ? "key >= $1" : "",
                              ranged_end ? (ranged_start ? " AND key < $2" : "key < $1") : "", limit);
    if (tl < 0 || (size_t)tl >= sizeof text)
        return;
    size_t plen = 0;
    if (rm_plancache_lookup(e->plans, text, (size_t)tl, plan, sizeof plan, &plen) == RM_OK)
        return;
    int pl = point ? snprintf(plan, sizeof plan, point_stmt[kind].plan, table)
                   : snprintf(plan, sizeof plan,
                              "Limit(%u) -> SnapshotFilter -> JournalOverlay -> IndexRangeScan(%s.pk, %s)", limit,
                              table, ranged_start || ranged_end ? "bounded" : "full");
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

/* The arguments of a point query (get, put, delete): table, then key. */
static rm_status_t
check_table_key(const char *table, const void *key, size_t klen, char *err)
{
    rm_status_t st = check_table(table, err);
    return st == RM_OK ? check_key(key, klen, "key", err) : st;
}

/* Composite MVCC key (table id, big-endian, then key) in the slot scratch. */
size_t
rm__e_mkey(const rm_session_conn_t *unused, void *scratch, uint32_t tid, const void *key, size_t klen)
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
const char *
rm__e_read_error(rm_engine_t *e, rm_status_t st, char *buf, size_t cap)
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
    size_t mk = rm__e_mkey(NULL, scratch, tid, key, klen);
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

/* Start a point query (get, delete) on `table`: plan it and, for a known
 * table, register the query as running (end it with point_query_end). NULL
 * for an unknown table: nothing started, it has no rows. */
static table_t *
point_query_start(rm_engine_t *e, conn_t *c, rm_session_id_t id, int kind, const char *table)
{
    table_t *t = find_table(e, table);
    plan_for(e, kind, table, false, false, 0);
    if (t)
        rm__e_query_start(e, c, id, kind, RM_ENGINE_PRIO_NORMAL);
    return t;
}

/* read_row of key in t with the connection's scratch, after marking its
 * arena at *mk: the row read lives there until the caller rolls back to *mk. */
static rm_status_t
read_row_marked(rm_engine_t *e, conn_t *c, table_t *t, const void *key, size_t klen, rm_arena_mark_t *mk,
                const void **v, size_t *n)
{
    conn_scratch_t *cs = scratch_of(e, c);
    rm_arena_mark(c->cur, mk);
    return read_row(e, c, cs->p, cs->n, t->id, key, klen, v, n);
}

/* End a point query (get, delete) that came to status st: a kill ends the
 * transaction (rm__e_killed); another failure with no message yet gets
 * "<what> failed: <reason>". Returns the status to answer. */
static rm_status_t
point_query_end(rm_engine_t *e, rm_session_id_t id, conn_t *c, rm_status_t st, const char *what, char *err)
{
    rm__e_query_end(c);
    if (st == RM_ECANCELED)
        return rm__e_killed(e, id, c, err);
    if (st != RM_OK && err && !*err)
        fail(err, st, "%s failed: %s", what, rm__e_read_error(e, st, (char[RM_ENGINE_ERR_MAX]){0}, RM_ENGINE_ERR_MAX));
    return st;
}

rm_status_t
rm_engine_get(rm_engine_t *e, rm_session_id_t id, const char *table, const void *key, size_t klen,
              rm_engine_alloc_fn alloc, void *alloc_ctx, bool *found, void **val, size_t *vlen, char *err)
{
    rm_status_t st = check_table_key(table, key, klen, err);
    if (st != RM_OK)
        return st;
    pthread_mutex_t *mu;
    conn_t *c;
    if ((st = rm__e_lock_bound(e, id, &mu, &c, err)) != RM_OK)
        goto out;
    *found = false;
    *val = NULL;
    *vlen = 0;
    table_t *t = point_query_start(e, c, id, Q_GET, table);
    if (!t)
        goto out;   /* an unknown table has no rows */
    rm_arena_mark_t mk;
    const void *v;
    size_t n;
    st = read_row_marked(e, c, t, key, klen, &mk, &v, &n);
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
    st = point_query_end(e, id, c, st, "read", err);
out:
    pthread_mutex_unlock(mu);
    return st;
}


/* What a Put of these lengths adds at most: key, value and a version record. */
#define PUT_COST(klen, vlen) ((uint64_t)(klen) + (uint64_t)(vlen) + 64u)
#define GATE_REFRESH_NS 5000000ull   /* look for a new reading at most every 5 ms */

/* The newest usage reading the gate can have, newer than the one it holds
 * (gate_sample_ns): its time, usage and budget (the pressure monitor's one
 * usage measure) and the Put total that growth since it counts from. A fresh
 * read of our own (cfg.gate_fresh_read_ns) takes the Put total *before* the
 * reading, so a Put accepted while it is taken is counted twice, never zero
 * times. A sampler's sample is taken as published: the Put total is the one
 * of now, so what was Put between its reading and its publication is not
 * counted — the reason for the fresh read on a loaded machine. */
static bool
gate_reading(rm_engine_t *e, uint64_t *t, uint64_t *used, uint64_t *budget, uint64_t *base)
{
    uint64_t held = atomic_load_explicit(&e->gate_sample_ns, memory_order_relaxed);
    if (e->cfg.gate_fresh_read_ns) {
        uint64_t b = atomic_load(&e->put_bytes_total);
        rm_pressure_snapshot_t sn;
        int refreshed = 0;
        if (rm_pressure_refresh(e->cfg.pressure, rm__e_mono_ns(NULL), e->cfg.gate_fresh_read_ns, &sn, &refreshed) ==
                RM_OK &&
            refreshed && sn.sampled_ns > held) {
            *t = sn.sampled_ns;
            *used = sn.usage.used_bytes;
            *budget = sn.usage.budget_bytes;
            *base = b;
            return true;
        }
    }
    rm_pressure_forecast_t fc;
    rm_pressure_get_forecast(e->cfg.pressure, &fc);
    if (!fc.t_ns || fc.t_ns <= held)
        return false;
    *t = fc.t_ns;
    *used = fc.used_bytes;
    *budget = fc.budget_bytes;
    *base = atomic_load(&e->put_bytes_total);
    return true;
}

/*
 * The growth gate: refuse a Put that would take the present usage past the
 * OOM-prevention threshold before the sampler can see it. The sampler ticks
 * once a second; in a 150 MiB cgroup the stock load grows the agent by 20 MB/s,
 * 13 % of the budget per tick, so the responder went from 87 % to 99.9 % in one
 * tick and the kernel killed the agent before a write was ever refused (issue 17
 * item 3). The gate estimates the present usage as the newest reading's usage
 * (gate_reading: the sampler's, or its own fresh read) plus every byte Put
 * accepted since that reading (an upper bound of the growth: overwrites and
 * compaction only make it cautious, until the next reading) and refuses while
 * that is at or above emergency_threshold × budget — the usage at which the
 * responder would go to OOM prevention and refuse writes on its next tick.
 * Reads, deletes, commits and rollbacks are never gated. False without a
 * pressure monitor or before its first reading.
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
        uint64_t t, used, budget, base;
        if (gate_reading(e, &t, &used, &budget, &base)) {
            rm_pressure_config_t pc;
            rm_pressure_get_config(e->cfg.pressure, &pc);
            double limit = pc.emergency_threshold * (double)budget;
            uint64_t room = budget && (double)used < limit ? (uint64_t)(limit - (double)used)
                            : budget                       ? 0
                                                           : UINT64_MAX;
            atomic_store_explicit(&e->gate_base_bytes, base, memory_order_relaxed);
            atomic_store_explicit(&e->gate_room_bytes, room, memory_order_relaxed);
            atomic_store_explicit(&e->gate_sample_ns, t, memory_order_relaxed);
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
    rm_status_t st = check_table_key(table, key, klen, err);
    if (st != RM_OK)
        return st;
    if (vlen > RM_MVCC_VALUE_MAX)
        return fail(err, RM_EINVAL, "value: %zu bytes, at most %u allowed", vlen, RM_MVCC_VALUE_MAX);
    pthread_mutex_t *mu;
    conn_t *c;
    table_t *t;
    if ((st = rm__e_lock_bound(e, id, &mu, &c, err)) != RM_OK)
        goto out;
    if (atomic_load_explicit(&e->writes_refused, memory_order_relaxed) && rm__e_usage_critical(e)) {
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
    rm__e_query_start(e, c, id, Q_PUT, RM_ENGINE_PRIO_NORMAL);
    st = rm__eidx_insert(&t->index, key, klen);
    if (st != RM_OK)
        fail(err, st, "out of memory indexing the key");
    else
        st = journal_add(e, c, t->id, key, klen, val, vlen, false, err);
    if (st == RM_OK)
        atomic_fetch_add_explicit(&e->put_bytes_total, PUT_COST(klen, vlen), memory_order_relaxed);
    rm__e_query_end(c);
out:
    pthread_mutex_unlock(mu);
    return st;
}

rm_status_t
rm_engine_delete(rm_engine_t *e, rm_session_id_t id, const char *table, const void *key, size_t klen, bool *found,
                 char *err)
{
    rm_status_t st = check_table_key(table, key, klen, err);
    if (st != RM_OK)
        return st;
    pthread_mutex_t *mu;
    conn_t *c;
    bool f = false;
    if ((st = rm__e_lock_bound(e, id, &mu, &c, err)) != RM_OK)
        goto out;
    table_t *t = point_query_start(e, c, id, Q_DELETE, table);
    if (!t)
        goto out;
    rm_arena_mark_t mk;
    const void *v;
    size_t n;
    st = read_row_marked(e, c, t, key, klen, &mk, &v, &n);
    (void)rm_arena_rollback(c->cur, &mk);
    if (st == RM_OK) {
        f = true;
        st = journal_add(e, c, t->id, key, klen, NULL, 0, true, err);
    } else if (st == RM_ENOENT) {
        st = RM_OK;
    }
    st = point_query_end(e, id, c, st, "delete", err);
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
    pthread_mutex_t *mu;
    conn_t *c;
    if ((st = rm__e_lock_bound(e, id, &mu, &c, err)) != RM_OK)
        goto out;
    /* load shedding (low_prio_level): normal and high priority and point reads are never refused */
    if (prio == RM_ENGINE_PRIO_LOW && atomic_load_explicit(&e->shed_low_priority, memory_order_relaxed)) {
        atomic_fetch_add_explicit(&e->low_priority_scans_refused_total, 1, memory_order_relaxed);
        st = fail(err, RM_EREJECTED, "memory pressure: low-priority scans are refused at level aggressive and "
                                     "above, where the responder cancels them (the transaction stays open); "
                                     "retry later or at normal priority");
        goto out;
    }
    table_t *t = find_table(e, table);
    plan_for(e, Q_SCAN, table, slen > 0, elen > 0, limit);
    if (!t)
        goto out;
    rm__e_query_start(e, c, id, Q_SCAN, prio);
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
    rm__e_query_end(c);
    if (was_cancel) {
        atomic_fetch_add(&e->queries_cancelled, 1);
        st = fail(err, RM_ECANCELED, "scan of %s cancelled after %u rows (killed as long-running or "
                                     "low-priority under memory pressure); the transaction stays open",
                  table, rows);
    } else if (st == RM_ECANCELED) {
        st = rm__e_killed(e, id, c, err);
    } else if (st != RM_OK) {
        fail(err, st, "scan failed: %s", rm__e_read_error(e, st, (char[RM_ENGINE_ERR_MAX]){0}, RM_ENGINE_ERR_MAX));
    }
out:
    pthread_mutex_unlock(mu);
    if (truncated)
        *truncated = trunc;
    return st;
}
