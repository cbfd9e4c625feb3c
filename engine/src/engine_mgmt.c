/*
 * engine_mgmt.c — management: transactions and queries listing, orphan
 * killing, query cancellation, plan-cache trimming, admission, compaction and
 * the engine's stats (thread-safe; the management plane's view).
 */
#include "engine_internal.h"

static const char *const q_names[] = {"", "get", "scan", "put", "delete", "commit"};

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
                    rm__e_txn_abort(e, c);
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

/* The engine's counters that rm_engine_stats_t carries under the same name. */
#define ENGINE_SAME_NAME_COUNTERS(X)                                                           \
    X(queries_total) X(queries_cancelled) X(txns_begun) X(txns_committed) X(txns_rolled_back)  \
    X(txns_conflicted) X(txns_killed) X(writes_refused_total) X(orphans_killed)                \
    X(sessions_idle_closed) X(savepoints) X(journal_bytes) X(low_priority_scans_refused_total)

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
#define COPY_COUNTER(f) out->f = atomic_load(&e->f);
    ENGINE_SAME_NAME_COUNTERS(COPY_COUNTER)
#undef COPY_COUNTER
    out->writes_refused = atomic_load(&e->writes_refused) != 0;
    out->sessions_idle_rolled_back = atomic_load(&e->idle_rolled_back);
    out->sessions_quota_refused = atomic_load(&e->quota_refused);
    out->max_sessions_per_principal = atomic_load(&e->max_per_principal);
    out->session_idle_close_ns = atomic_load(&e->idle_close_ns);
    out->rollbacks_to_savepoint = atomic_load(&e->rollbacks_to);
    pthread_mutex_lock(&e->prin_mu);
    out->principals = e->prin_count;
    pthread_mutex_unlock(&e->prin_mu);
    out->heap_enabled = e->heap != NULL;
    if (e->heap)
        rm_eheap_stats(e->heap, &out->heap);
}
