/*
 * engine_session.c — sessions and connections: the multiplexer's slot
 * callbacks, binding a connection to a session, the principals that own
 * sessions (interned, refcounted, quota), open / owned / close.
 */
#include "engine_internal.h"
#include "rustymem/mix.h"

/* ---- connection slots -------------------------------------------------------- */

rm_status_t
rm__e_on_slot_open(void *ctx, uint32_t slot, void **user)
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
void
rm__e_journal_free_to(rm_engine_t *e, conn_t *c, jentry_t *stop)
{
    if (!c->bypass)
        return;   /* arena entries go with their context */
    for (jentry_t *j = c->head, *prev; j && j != stop; j = prev) {
        prev = j->prev;
        e->ra.free(e->ra.ctx, j, sizeof(jentry_t) + j->klen + j->vlen);
    }
}

void
rm__e_txn_reset(rm_engine_t *e, conn_t *c)
{
    rm__e_journal_free_to(e, c, NULL);
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
void
rm__e_txn_abort(rm_engine_t *e, conn_t *c)
{
    if (c->txn) {
        rm_mvcc_abort(c->txn);
        atomic_fetch_add(&e->txns_rolled_back, 1);
    }
    rm__e_txn_reset(e, c);
}

void
rm__e_on_slot_close(void *ctx, uint32_t slot, void *user)
{
    rm_engine_t *e = ctx;
    conn_t *c = user;
    if (!c)
        return;
    pthread_mutex_lock(&e->reg_mu);
    if (slot < e->nconns)
        atomic_store(&e->conns[slot], NULL);
    pthread_mutex_unlock(&e->reg_mu);
    rm__e_txn_abort(e, c);
    rm_arena_destroy(c->root);
    free(c);
}

void
rm__e_on_abandon(void *ctx, rm_session_id_t id, void *session_user, const rm_session_conn_t *sc)
{
    rm_engine_t *e = ctx;
    if (sc && sc->user)
        rm__e_txn_abort(e, sc->user);
}

/* The connection bound to session `id` (stripe held), touching the session.
 * RM_ENOENT, RM_ESTATE (no open transaction). */
rm_status_t
rm__e_bound_conn(rm_engine_t *e, rm_session_id_t id, conn_t **out, char *err)
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
void
rm__e_release(rm_engine_t *e, rm_session_id_t id, conn_t *c)
{
    rm__e_txn_reset(e, c);
    (void)rm_session_end(e->mux, id);
}

/* An MVCC call reported the transaction killed: end it (stripe held). */
rm_status_t
rm__e_killed(rm_engine_t *e, rm_session_id_t id, conn_t *c, char *err)
{
    uint64_t txn = c->txn_id;
    rm__e_txn_abort(e, c);
    (void)rm_session_end(e->mux, id);
    return fail(err, RM_ECANCELED,
                "transaction %" PRIu64 " was killed (orphaned or by an operator) and has been rolled back", txn);
}

/* ---- principals -------------------------------------------------------------- */

static uint64_t
prin_hash(const rm_engine_t *e, const char *name, size_t n)
{
    /* seeded: principal names come from the auth file, certificates and peer
     * addresses, and the seed keeps their chain placement unpredictable */
    return rm_hash_bytes(name, n, e->prin_seed);
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
rm_status_t
rm__e_close_striped(rm_engine_t *e, rm_session_id_t id, uint64_t idle_ns, bool *rolled_back)
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
    rm_status_t st = rm__e_close_striped(e, id, 0, &rb);
    pthread_mutex_unlock(mu);
    if (st != RM_OK)
        return no_session(err, id);
    if (rolled_back)
        *rolled_back = rb;
    return RM_OK;
}
