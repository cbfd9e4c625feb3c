/*
 * engine_txn.c — transactions and savepoints: Begin (binding a connection and
 * its transaction arena), Savepoint / RollbackTo, Commit and Rollback.
 */
#include "engine_internal.h"

/* ---- begin ------------------------------------------------------------------ */

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
        rm__e_txn_reset(e, c);
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

/* The savepoint calls: check the name, lock id's stripe, find the connection of
 * its open transaction, run op on it (the stripe locked), unlock. */
static rm_status_t
with_named_savepoint(rm_engine_t *e, rm_session_id_t id, const char *name, char *err,
                     rm_status_t (*op)(rm_engine_t *e, conn_t *c, const char *name, char *err))
{
    rm_status_t st = check_sp_name(name, err);
    if (st != RM_OK)
        return st;
    pthread_mutex_t *mu;
    conn_t *c;
    if ((st = rm__e_lock_bound(e, id, &mu, &c, err)) == RM_OK)
        st = op(e, c, name, err);
    pthread_mutex_unlock(mu);
    return st;
}

static rm_status_t
savepoint_locked(rm_engine_t *e, conn_t *c, const char *name, char *err)
{
    void *p = NULL;
    rm_arena_t *child = NULL;
    rm_status_t st;
    if ((st = rm_arena_alloc_ex(c->cur, sizeof(savepoint_t), &p)) != RM_OK ||
        (st = rm_arena_create_child(c->cur, name, &child)) != RM_OK)
        return fail(err, st, "cannot take savepoint %s: %s", name, rm_strerror(st));
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
    return RM_OK;
}

rm_status_t
rm_engine_savepoint(rm_engine_t *e, rm_session_id_t id, const char *name, char *err)
{
    return with_named_savepoint(e, id, name, err, savepoint_locked);
}

static rm_status_t
rollback_to_locked(rm_engine_t *e, conn_t *c, const char *name, char *err)
{
    savepoint_t *sp = c->sp;
    while (sp && strcmp(sp->name, name) != 0)
        sp = sp->prev;
    if (!sp)
        return fail(err, RM_ENOENT, "name: no savepoint '%s' in this transaction", name);
    /* O(1): forget everything allocated after the savepoint (its context and
     * every later savepoint's, which are its descendants) and restore the
     * journal head. The savepoint itself stays. A bypass transaction (no
     * arena for its journal) frees the later entries one by one. */
    rm__e_journal_free_to(e, c, sp->head);
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
    return RM_OK;
}

rm_status_t
rm_engine_rollback_to(rm_engine_t *e, rm_session_id_t id, const char *name, char *err)
{
    return with_named_savepoint(e, id, name, err, rollback_to_locked);
}

/* ---- commit / rollback ------------------------------------------------------ */

rm_status_t
rm_engine_commit(rm_engine_t *e, rm_session_id_t id, uint64_t *commit_seq, char *err)
{
    pthread_mutex_t *mu;
    conn_t *c;
    rm_status_t st = rm__e_lock_bound(e, id, &mu, &c, err);
    if (st != RM_OK)
        goto out;
    conn_scratch_t *cs = scratch_of(e, c);
    rm__e_query_start(e, c, id, Q_COMMIT, RM_ENGINE_PRIO_NORMAL);
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
            rm__e_query_end(c);
            rm__e_txn_abort(e, c);
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
        size_t mk = rm__e_mkey(NULL, cs->p, j->table_id, j->data, j->klen);
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
    rm__e_query_end(c);
    if (st == RM_OK) {
        st = rm_mvcc_commit(c->txn);
        c->txn = NULL;   /* freed either way */
        if (st == RM_OK) {
            atomic_fetch_add(&e->txns_committed, 1);
            uint64_t seq = atomic_fetch_add(&e->commit_seq, 1) + 1;
            if (commit_seq)
                *commit_seq = seq;
            rm__e_release(e, id, c);
        } else {
            atomic_fetch_add(&e->txns_killed, 1);
            rm__e_release(e, id, c);
            st = fail(err, RM_ECANCELED, "transaction was killed (orphaned or by an operator) and rolled back");
        }
        goto out;
    }
    if (st == RM_ECONFLICT) {
        atomic_fetch_add(&e->txns_conflicted, 1);
        rm__e_txn_abort(e, c);
        (void)rm_session_end(e->mux, id);
        st = fail(err, RM_ECONFLICT, "write-write conflict: another transaction committed a key this one wrote "
                                     "after its snapshot; the transaction was rolled back (retry it)");
    } else if (st == RM_ECANCELED) {
        st = rm__e_killed(e, id, c, err);
    } else {
        rm_status_t s2 = st;
        rm__e_txn_abort(e, c);
        (void)rm_session_end(e->mux, id);
        st = fail(err, s2, "commit failed, the transaction was rolled back: %s",
                  rm__e_read_error(e, s2, (char[RM_ENGINE_ERR_MAX]){0}, RM_ENGINE_ERR_MAX));
    }
out:
    pthread_mutex_unlock(mu);
    return st;
}

rm_status_t
rm_engine_rollback(rm_engine_t *e, rm_session_id_t id, char *err)
{
    pthread_mutex_t *mu;
    conn_t *c;
    rm_status_t st = rm__e_lock_bound(e, id, &mu, &c, err);
    if (st == RM_OK) {
        rm__e_txn_abort(e, c);
        (void)rm_session_end(e->mux, id);
    }
    pthread_mutex_unlock(mu);
    return st;
}
