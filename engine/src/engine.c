/*
 * engine.c — the engine's lifecycle: the record allocator,
 * housekeeping (the tick and its thread), the pressure reclaimers, the
 * accounting report, create and destroy (see engine.h for the design note).
 *
 * Memory layout of a connection slot while bound:
 *   scratch (mapped by the multiplexer): [0, 4 KiB) composite MVCC key,
 *     [4 KiB, 8 KiB) scan cursor, [8 KiB, end) value buffer;
 *   root arena context (SMALL profile) ← savepoint child ← child … (cur):
 *     journal entries and savepoint records; scan batches between a mark
 *     and a rollback.
 */
#include "engine_internal.h"

/* ---- the clock ------------------------------------------------------------------ */

uint64_t
rm__e_mono_ns(void *ctx)
{
    (void)ctx;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
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
                rm_status_t st = rm__e_close_striped(e, idle[i].id, idle_ns, &rb);
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

/* Load shedding: from Aggressive up, where reclaim_low_prio cancels running
 * low-priority queries each pass (the seed's Aggressive Eviction), a
 * low-priority scan that starts is refused at once (rm_engine_scan) instead of
 * allocating its batches and its reply first and being cancelled at the next
 * pass: in a 150 MiB cgroup sixteen 100-row scans of 4 KiB values in flight
 * are more than the 5 % between the emergency line and the limit. */
static void
low_prio_level(void *ctx, rm_pressure_level_t old_level, rm_pressure_level_t new_level)
{
    rm_engine_t *e = ctx;
    (void)old_level;
    atomic_store(&e->shed_low_priority, new_level >= RM_PRESSURE_AGGRESSIVE);
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
bool
rm__e_usage_critical(rm_engine_t *e)
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
    atomic_store(&e->shed_low_priority, 0);
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
        e->cfg.now_ns = rm__e_mono_ns;
        e->cfg.now_ctx = NULL;
    }
    if (!e->cfg.tick_ms)
        e->cfg.tick_ms = 250;
    atomic_init(&e->vacuum_rate, cfg->vacuum_chains_per_second);
    atomic_init(&e->max_per_principal, cfg->max_sessions_per_principal);
    atomic_init(&e->idle_close_ns, cfg->session_idle_close_ns);
    pthread_mutex_init(&e->prin_mu, NULL);
    if (getrandom(&e->prin_seed, sizeof e->prin_seed, GRND_NONBLOCK) != (ssize_t)sizeof e->prin_seed)
        e->prin_seed = (uint64_t)(uintptr_t)e ^ rm__e_mono_ns(NULL);   /* placement only, never a secret */
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
        .cb = {rm__e_on_slot_open, rm__e_on_slot_close, rm__e_on_abandon, e},
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
            {"cancel_low_priority_queries", 60, RM_PRESSURE_AGGRESSIVE, NULL, reclaim_low_prio, low_prio_level, e},
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
