/*
 * session.c — the session multiplexer (see session.h for the contract).
 *
 * Design note.
 * - Ids: a session id is 64 bits from the kernel CSPRNG (getrandom(2), or the
 *   configured fill_random), drawn outside the lock 32 at a time (a system
 *   call costs ~0.7 µs here; the pool of unused ids lives in the mux, each
 *   zeroed as it is handed out); 0 and an id that is still
 *   live are drawn again (counted in id_redraws). Ids carry no index, no
 *   generation and no sequence, so one client's id says nothing about
 *   another's (an id is a bearer capability inside its principal; the engine
 *   checks the owner on top). A closed id is dropped from the map, so a stale
 *   id misses (RM_ENOENT) and never reaches a recycled record.
 * - Sessions: a table of 16-byte entries {record, key} grown by doubling up to
 *   the session limit; a live entry's key is its id, a free entry's key is the
 *   free-list link (index + 1; 0 ends). Records are RM_SESSION_RECORD_BYTES
 *   from the record allocator (the slab's 64 B class).
 * - Lookup: an open-addressing map of 32-bit table indices (index + 1; 0 =
 *   empty), linear probing from the id's low bits (the ids are uniformly
 *   random, so they are their own hash), 2 × the table's capacity (load <= 0.5,
 *   about 1.5 probes per hit), rebuilt when the table doubles and kept tight
 *   by backward-shift deletion (no tombstones, so a long-lived server never
 *   degrades). An idle session costs 64 + 16 + 8 bytes plus table slack.
 * - Slots: `slots[i]` is NULL (closed) or a slot record in state OPENING,
 *   IDLE, BUSY or CLOSING. Idle slots sit in `idle[]`, most recently used
 *   last: begin takes the hottest, shrink closes the coldest. A slot index is
 *   reusable only once its close finished (slots[i] = NULL), so the engine
 *   never sees open(i) before the previous close(i).
 * - Nothing slow runs under `mu`: drawing ids, page mapping, on_slot_open/
 *   close and on_abandon run unlocked on records that are reserved
 *   (OPENING/CLOSING) or already unlinked from the table. Growing the table
 *   and the map (amortised O(1) per open) is the one allocation under `mu`.
 * - Waiting: one condition variable on CLOCK_MONOTONIC; releases signal one
 *   waiter, pool growth and slot-close broadcasts.
 */
#include "rustymem/session.h"
#include "rustymem/stats.h"
#include "rm_internal.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#define ID_DRAWS_MAX 16   /* draws of one open before the random source is declared broken */
#define ID_BATCH     32   /* ids drawn per getrandom(2) call */

enum { SLOT_OPENING = 1, SLOT_IDLE, SLOT_BUSY, SLOT_CLOSING };

struct sess {
    rm_session_id_t id;
    void *user;
    uint64_t opened_ns;
    uint64_t last_active_ns;
    uint64_t txns;
    int32_t slot;            /* bound slot or -1 */
};
_Static_assert(sizeof(struct sess) <= RM_SESSION_RECORD_BYTES, "session record too big");

struct sent {
    struct sess *rec;        /* NULL when free */
    uint64_t key;            /* live: the session id; free: free-list link (index + 1; 0 ends) */
};

struct slot {
    uint32_t index;
    int state;               /* SLOT_*; guarded by mu */
    rm_session_id_t session; /* bound session; guarded by mu */
    void *scratch;           /* immutable while open */
    void *user;              /* from on_slot_open; immutable while open */
    struct slot *next_close; /* local close lists */
};

struct rm_session_mux {
    pthread_mutex_t mu;
    pthread_cond_t cv;                 /* slot released / pool grown */
    rm_recalloc_t ra;
    rm_session_callbacks_t cb;
    const rm_pagesrc_t *pages;
    size_t scratch_bytes;              /* page multiple */
    uint64_t (*now_fn)(void *);
    void *now_ctx;
    rm_status_t (*fill_random)(void *, void *, size_t);
    void *random_ctx;
    uint32_t id_batch;                 /* ids per fill_random call: ID_BATCH, 1 for an injected source */

    /* sessions; all guarded by mu */
    struct sent *tab;
    uint32_t tab_cap, tab_used;        /* entries allocated / ever used (high water) */
    uint32_t free_head;                /* index + 1 of the first free entry; 0 = none */
    uint32_t *map;                     /* id -> index + 1 (0 = empty); 2 × tab_cap entries */
    uint32_t map_mask;                 /* map entries - 1 (a power of two minus one) */
    uint64_t nsessions, nbound;

    /* slots; all guarded by mu */
    struct slot **slots;               /* slot_cap entries */
    uint32_t *idle;                    /* slot indices, coldest first */
    uint32_t slot_cap, nidle;
    uint32_t nopen;                    /* OPENING + IDLE + BUSY */
    uint32_t nclosing;
    uint32_t nbusy;
    uint32_t nwaiting;
    uint32_t pool_size;
    uint32_t max_connections, max_sessions, ratio;
    bool admission;

    /* drawn ids not handed out yet (kernel bytes, used once, zeroed when taken); guarded by mu */
    uint64_t ids_pool[ID_BATCH];
    uint32_t ids_left;

    /* counters; guarded by mu */
    uint64_t opened_total, closed_total, rej_admission, rej_limit, busy_failures, waits,
             abandoned, slots_opened, slots_closed, id_redraws, id_failures;

    rm_stats_handle_t *h_session, *h_pool;
};

/* ---- helpers ---------------------------------------------------------------- */

/* getrandom(2): the kernel CSPRNG. Blocks only before the kernel's pool is
 * first initialised (early boot). */
static rm_status_t
kernel_random(void *ctx, void *buf, size_t n)
{
    unsigned char *p = buf;
    while (n > 0) {
        ssize_t k = getrandom(p, n, 0);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            return errno == ENOSYS ? RM_ENOTSUP : RM_EIO;
        }
        p += k;
        n -= (size_t)k;
    }
    return RM_OK;
}

static inline uint32_t
session_limit_locked(const rm_session_mux_t *m)
{
    RM_ASSERT_LOCKED(&m->mu);
    uint64_t byconn = (uint64_t)m->max_connections * m->ratio;
    return byconn < m->max_sessions ? (uint32_t)byconn : m->max_sessions;
}

static inline uint32_t
effective_pool_locked(const rm_session_mux_t *m)
{
    RM_ASSERT_LOCKED(&m->mu);
    return m->pool_size < m->max_connections ? m->pool_size : m->max_connections;
}

static inline uint32_t
map_home(const rm_session_mux_t *m, rm_session_id_t id)
{
    return (uint32_t)id & m->map_mask;
}

/* Position of id in the map, or UINT32_MAX. */
static uint32_t
map_find_locked(rm_session_mux_t *m, rm_session_id_t id)
{
    RM_ASSERT_LOCKED(&m->mu);
    if (!m->map || id == 0)
        return UINT32_MAX;
    for (uint32_t i = map_home(m, id);; i = (i + 1) & m->map_mask) {
        uint32_t v = m->map[i];
        if (v == 0)
            return UINT32_MAX;
        if (m->tab[v - 1].key == id && m->tab[v - 1].rec)
            return i;
    }
}

/* Insert table index idx under id (not present; the map has room). */
static void
map_insert_locked(rm_session_mux_t *m, rm_session_id_t id, uint32_t idx)
{
    RM_ASSERT_LOCKED(&m->mu);
    uint32_t i = map_home(m, id);
    while (m->map[i])
        i = (i + 1) & m->map_mask;
    m->map[i] = idx + 1;
}

/*
 * Remove the entry at map position pos by backward-shift deletion: every
 * entry after the hole in the same probe run moves back into it unless that
 * would put it before its home slot. The map never holds tombstones, so
 * probe lengths depend only on the live load.
 */
static void
map_delete_locked(rm_session_mux_t *m, uint32_t pos)
{
    RM_ASSERT_LOCKED(&m->mu);
    uint32_t mask = m->map_mask, hole = pos;
    for (uint32_t j = (pos + 1) & mask; m->map[j]; j = (j + 1) & mask) {
        uint32_t home = map_home(m, m->tab[m->map[j] - 1].key);
        if (((j - home) & mask) >= ((j - hole) & mask)) {
            m->map[hole] = m->map[j];
            hole = j;
        }
    }
    m->map[hole] = 0;
}

static struct sess *
lookup_locked(rm_session_mux_t *m, rm_session_id_t id)
{
    RM_ASSERT_LOCKED(&m->mu);
    uint32_t pos = map_find_locked(m, id);
    return pos == UINT32_MAX ? NULL : m->tab[m->map[pos] - 1].rec;
}

/*
 * Double the table and rebuild the map at twice the new capacity. Either both
 * grow or nothing changes (RM_ENOMEM, RM_ELIMIT at the index range).
 */
static rm_status_t
grow_locked(rm_session_mux_t *m)
{
    RM_ASSERT_LOCKED(&m->mu);
    if (m->tab_cap >= UINT32_MAX / 4)
        return RM_ELIMIT;
    uint32_t ncap = m->tab_cap ? 2 * m->tab_cap : 64;
    uint32_t *nmap = calloc((size_t)ncap * 2, sizeof *nmap);
    if (!nmap)
        return RM_ENOMEM;
    struct sent *nt = realloc(m->tab, (size_t)ncap * sizeof *nt);
    if (!nt) {
        free(nmap);
        return RM_ENOMEM;
    }
    memset(nt + m->tab_cap, 0, (size_t)(ncap - m->tab_cap) * sizeof *nt);
    m->tab = nt;
    m->tab_cap = ncap;
    free(m->map);
    m->map = nmap;
    m->map_mask = ncap * 2 - 1;
    for (uint32_t i = 0; i < m->tab_used; i++)
        if (m->tab[i].rec)
            map_insert_locked(m, m->tab[i].key, i);
    return RM_OK;
}

static void
conn_of(const rm_session_mux_t *m, const struct slot *sl, rm_session_conn_t *c)
{
    c->slot = sl->index;
    c->scratch = sl->scratch;
    c->scratch_bytes = m->scratch_bytes;
    c->user = sl->user;
}

static void
info_of(const struct sess *s, rm_session_info_t *o)
{
    o->id = s->id;
    o->user = s->user;
    o->opened_ns = s->opened_ns;
    o->last_active_ns = s->last_active_ns;
    o->txns = s->txns;
    o->slot = s->slot;
}

/* Remove idle slot at position pos of idle[]. */
static struct slot *
idle_take_locked(rm_session_mux_t *m, uint32_t pos)
{
    RM_ASSERT_LOCKED(&m->mu);
    struct slot *sl = m->slots[m->idle[pos]];
    memmove(&m->idle[pos], &m->idle[pos + 1], (m->nidle - pos - 1) * sizeof *m->idle);
    m->nidle--;
    return sl;
}

/* Mark sl CLOSING and push it on *list; the caller finishes with close_list(). */
static void
begin_close_locked(rm_session_mux_t *m, struct slot *sl, struct slot **list)
{
    RM_ASSERT_LOCKED(&m->mu);
    sl->state = SLOT_CLOSING;
    m->nopen--;
    m->nclosing++;
    sl->next_close = *list;
    *list = sl;
}

/* Close idle slots that are above the effective pool size or the connection
 * bound, coldest first. */
static void
shrink_idle_locked(rm_session_mux_t *m, struct slot **list)
{
    RM_ASSERT_LOCKED(&m->mu);
    for (uint32_t i = 0; i < m->nidle;) {
        if (m->slots[m->idle[i]]->index >= m->max_connections)
            begin_close_locked(m, idle_take_locked(m, i), list);
        else
            i++;
    }
    while (m->nopen > effective_pool_locked(m) && m->nidle > 0)
        begin_close_locked(m, idle_take_locked(m, 0), list);
}

/* Unmap, tell the engine, and free each slot on the list. Takes mu. */
static void
close_list(rm_session_mux_t *m, struct slot *list)
{
    while (list) {
        struct slot *sl = list;
        list = sl->next_close;
        if (m->cb.on_slot_close)
            m->cb.on_slot_close(m->cb.ctx, sl->index, sl->user);
        m->pages->methods->unmap(m->pages->ctx, sl->scratch, m->scratch_bytes);
        pthread_mutex_lock(&m->mu);
        m->slots[sl->index] = NULL;
        m->nclosing--;
        m->slots_closed++;
        pthread_cond_broadcast(&m->cv);   /* the index (and memory) is free again */
        pthread_mutex_unlock(&m->mu);
        m->ra.free(m->ra.ctx, sl, sizeof *sl);
    }
}

/* ---- accounting ---------------------------------------------------------------- */

static uint64_t
session_bytes_locked(const rm_session_mux_t *m)
{
    RM_ASSERT_LOCKED(&m->mu);
    return m->nsessions * RM_SESSION_RECORD_BYTES + (uint64_t)m->tab_cap * sizeof(struct sent) +
           (m->map ? ((uint64_t)m->map_mask + 1) * sizeof *m->map : 0);
}

static uint64_t
connection_bytes_locked(const rm_session_mux_t *m)
{
    RM_ASSERT_LOCKED(&m->mu);
    uint64_t open = (uint64_t)m->nopen + m->nclosing;
    return open * (sizeof(struct slot) + m->scratch_bytes) +
           (uint64_t)m->slot_cap * (sizeof(struct slot *) + sizeof(uint32_t));
}

static void
report_session(void *ctx, rm_component_usage_t *out)
{
    rm_session_mux_t *m = ctx;
    pthread_mutex_lock(&m->mu);
    out->nested = 1;   /* session records come from the record allocator (slab classes) or the heap */
    out->used_bytes = m->nsessions * RM_SESSION_RECORD_BYTES;
    out->held_bytes = session_bytes_locked(m) + sizeof *m;
    pthread_mutex_unlock(&m->mu);
}

static void
report_pool(void *ctx, rm_component_usage_t *out)
{
    rm_session_mux_t *m = ctx;
    pthread_mutex_lock(&m->mu);
    out->nested = 1;
    out->used_bytes = (uint64_t)m->nbusy * (sizeof(struct slot) + m->scratch_bytes);
    out->held_bytes = connection_bytes_locked(m);
    pthread_mutex_unlock(&m->mu);
}

/* ---- lifecycle ---------------------------------------------------------------- */

rm_status_t
rm_session_mux_create(const rm_session_config_t *cfg, rm_session_mux_t **out)
{
    RM__CREATE_ARGS_OR_EINVAL(cfg, out);
    if (!rm__recalloc_valid(cfg->alloc))
        return RM_EINVAL;
    uint32_t maxc = cfg->max_connections ? cfg->max_connections : RM_SESSION_DEFAULT_MAX_CONNECTIONS;
    uint32_t maxs = cfg->max_sessions ? cfg->max_sessions : RM_SESSION_DEFAULT_MAX_SESSIONS;
    uint32_t ratio = cfg->session_ratio ? cfg->session_ratio : RM_SESSION_DEFAULT_RATIO;
    if (maxc > RM_SESSION_MAX_CONNECTIONS_LIMIT || maxs > RM_SESSION_MAX_SESSIONS_LIMIT ||
        ratio > RM_SESSION_MAX_SESSIONS_LIMIT)
        return RM_EINVAL;

    rm_status_t rc = RM_ENOMEM;
    rm_session_mux_t *m = calloc(1, sizeof *m);
    if (!m)
        return RM_ENOMEM;
    m->slots = calloc(maxc, sizeof *m->slots);
    m->idle = calloc(maxc, sizeof *m->idle);
    if (!m->slots || !m->idle)
        goto fail_tables;
    m->slot_cap = maxc;
    m->max_connections = maxc;
    m->max_sessions = maxs;
    m->ratio = ratio;
    m->pool_size = cfg->pool_size ? cfg->pool_size : maxc;
    if (m->pool_size > maxc)
        m->pool_size = maxc;
    m->admission = true;
    m->ra = rm__recalloc_or_malloc(cfg->alloc);
    m->cb = cfg->cb;
    m->pages = cfg->pages ? cfg->pages : rm_pagesrc_default();
    m->scratch_bytes = rm__align_up(cfg->scratch_bytes ? cfg->scratch_bytes
                                                       : RM_SESSION_DEFAULT_SCRATCH_BYTES,
                                    rm_page_size());
    m->now_fn = cfg->now_ns ? cfg->now_ns : rm__now_ns_hook;
    m->now_ctx = cfg->now_ctx;
    m->fill_random = cfg->fill_random ? cfg->fill_random : kernel_random;
    m->random_ctx = cfg->random_ctx;
    m->id_batch = cfg->fill_random ? 1 : ID_BATCH;   /* a test controls every draw */

    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&m->cv, &ca);
    pthread_condattr_destroy(&ca);
    pthread_mutex_init(&m->mu, NULL);

    rc = rm_stats_register("session", report_session, m, &m->h_session);
    if (rc != RM_OK)
        goto fail_stats;
    rc = rm_stats_register("pool", report_pool, m, &m->h_pool);
    if (rc != RM_OK)
        goto fail_stats2;
    *out = m;
    return RM_OK;

fail_stats2:
    rm_stats_unregister(m->h_session);
fail_stats:
    pthread_mutex_destroy(&m->mu);
    pthread_cond_destroy(&m->cv);
fail_tables:
    free(m->idle);
    free(m->slots);
    free(m);
    return rc;
}

void
rm_session_mux_destroy(rm_session_mux_t *m)
{
    if (!m)
        return;
    rm_stats_unregister(m->h_pool);
    rm_stats_unregister(m->h_session);
    for (uint32_t i = 0; i < m->tab_used; i++) {
        struct sess *s = m->tab[i].rec;
        if (s)
            rm_session_close(m, s->id);
    }
    pthread_mutex_lock(&m->mu);
    struct slot *list = NULL;
    m->pool_size = 0;   /* effective pool 0: every idle slot closes */
    shrink_idle_locked(m, &list);
    pthread_mutex_unlock(&m->mu);
    close_list(m, list);
    free(m->map);
    free(m->tab);
    free(m->idle);
    free(m->slots);
    pthread_mutex_destroy(&m->mu);
    pthread_cond_destroy(&m->cv);
    free(m);
}

/* ---- sessions ---------------------------------------------------------------- */

/*
 * One candidate id. Takes it from the pool, or refills the pool with one
 * fill_random call of id_batch ids made without the lock (a getrandom(2)
 * system call costs about as much as 10 opens; one per 32 opens does not).
 * Two threads refilling at once both keep their own candidate; the later
 * batch is dropped. Called without mu.
 */
static rm_status_t
draw_id(rm_session_mux_t *m, rm_session_id_t *out)
{
    pthread_mutex_lock(&m->mu);
    if (m->ids_left > 0) {
        *out = m->ids_pool[--m->ids_left];
        m->ids_pool[m->ids_left] = 0;
        pthread_mutex_unlock(&m->mu);
        return RM_OK;
    }
    pthread_mutex_unlock(&m->mu);
    uint64_t buf[ID_BATCH];
    uint32_t n = m->id_batch;
    rm_status_t rc = m->fill_random(m->random_ctx, buf, n * sizeof buf[0]);
    if (rc == RM_OK) {
        *out = buf[n - 1];
        if (n > 1) {
            pthread_mutex_lock(&m->mu);
            if (m->ids_left == 0) {
                memcpy(m->ids_pool, buf, (n - 1) * sizeof buf[0]);
                m->ids_left = n - 1;
            }
            pthread_mutex_unlock(&m->mu);
        }
    }
    explicit_bzero(buf, sizeof buf);
    return rc;
}

rm_status_t
rm_session_open(rm_session_mux_t *m, void *user, rm_session_id_t *id)
{
    if (!m || !id)
        return RM_EINVAL;
    struct sess *s = m->ra.alloc(m->ra.ctx, RM_SESSION_RECORD_BYTES);
    if (!s)
        return RM_ENOMEM;
    uint64_t t = m->now_fn(m->now_ctx);
    rm_status_t rc;
    rm_session_id_t cand = 0;

    for (int draws = 0;; draws++) {
        if (draws == ID_DRAWS_MAX) {
            /* A source that keeps answering 0 or live ids is broken, not unlucky
             * (the odds of one redraw are sessions / 2^64). */
            rc = RM_EIO;
            pthread_mutex_lock(&m->mu);
            m->id_failures++;
            goto fail;
        }
        rc = draw_id(m, &cand);
        pthread_mutex_lock(&m->mu);
        if (rc != RM_OK) {
            m->id_failures++;
            goto fail;
        }
        if (!m->admission) {
            m->rej_admission++;
            rc = RM_EREJECTED;
            goto fail;
        }
        if (m->nsessions >= session_limit_locked(m)) {
            m->rej_limit++;
            rc = RM_ELIMIT;
            goto fail;
        }
        if (!m->free_head && m->tab_used == m->tab_cap && (rc = grow_locked(m)) != RM_OK) {
            if (rc == RM_ELIMIT)
                m->rej_limit++;
            goto fail;
        }
        if (cand != 0 && map_find_locked(m, cand) == UINT32_MAX)
            break;   /* keeps mu */
        m->id_redraws++;
        pthread_mutex_unlock(&m->mu);
    }
    uint32_t idx;
    if (m->free_head) {
        idx = m->free_head - 1;
        m->free_head = (uint32_t)m->tab[idx].key;
    } else {
        idx = m->tab_used++;
    }
    struct sent *e = &m->tab[idx];
    e->rec = s;
    e->key = cand;
    map_insert_locked(m, cand, idx);
    memset(s, 0, RM_SESSION_RECORD_BYTES);
    s->id = cand;
    s->user = user;
    s->opened_ns = s->last_active_ns = t;
    s->slot = -1;
    m->nsessions++;
    m->opened_total++;
    *id = s->id;
    pthread_mutex_unlock(&m->mu);
    return RM_OK;

fail:
    pthread_mutex_unlock(&m->mu);
    m->ra.free(m->ra.ctx, s, RM_SESSION_RECORD_BYTES);
    return rc;
}

/* Unbind sl from its session and return it to the idle set (or close it).
 * Needs mu; may push sl on *list. */
static void
release_slot_locked(rm_session_mux_t *m, struct slot *sl, struct slot **list)
{
    RM_ASSERT_LOCKED(&m->mu);
    assert(sl->state == SLOT_BUSY);
    sl->session = 0;
    m->nbusy--;
    if (sl->index >= m->max_connections || m->nopen > effective_pool_locked(m)) {
        begin_close_locked(m, sl, list);
        return;
    }
    sl->state = SLOT_IDLE;
    m->idle[m->nidle++] = sl->index;
    pthread_cond_signal(&m->cv);
}

rm_status_t
rm_session_close(rm_session_mux_t *m, rm_session_id_t id)
{
    if (!m)
        return RM_EINVAL;
    pthread_mutex_lock(&m->mu);
    uint32_t pos = map_find_locked(m, id);
    if (pos == UINT32_MAX) {
        pthread_mutex_unlock(&m->mu);
        return RM_ENOENT;
    }
    uint32_t idx = m->map[pos] - 1;
    struct sess *s = m->tab[idx].rec;
    map_delete_locked(m, pos);
    m->tab[idx].rec = NULL;
    m->tab[idx].key = m->free_head;
    m->free_head = idx + 1;
    m->nsessions--;
    m->closed_total++;
    struct slot *sl = s->slot >= 0 ? m->slots[s->slot] : NULL;
    pthread_mutex_unlock(&m->mu);

    if (sl) {
        /* Mid-transaction: the slot stays BUSY (reserved) while the engine rolls back. */
        rm_session_conn_t c;
        conn_of(m, sl, &c);
        if (m->cb.on_abandon)
            m->cb.on_abandon(m->cb.ctx, id, s->user, &c);
        struct slot *list = NULL;
        pthread_mutex_lock(&m->mu);
        m->nbound--;
        m->abandoned++;
        release_slot_locked(m, sl, &list);
        pthread_mutex_unlock(&m->mu);
        close_list(m, list);
    }
    if (config_debug)
        memset(s, RM_FILL_FREE, RM_SESSION_RECORD_BYTES);
    m->ra.free(m->ra.ctx, s, RM_SESSION_RECORD_BYTES);
    return RM_OK;
}

static uint32_t
free_slot_index_locked(const rm_session_mux_t *m)
{
    RM_ASSERT_LOCKED(&m->mu);
    for (uint32_t i = 0; i < m->max_connections && i < m->slot_cap; i++)
        if (!m->slots[i])
            return i;
    return UINT32_MAX;
}

/* Open a slot for session `id` with mu held on entry and on return (dropped
 * inside). On RM_OK the slot is BUSY, bound to the session, in *conn. */
static rm_status_t
open_slot_locked(rm_session_mux_t *m, rm_session_id_t id, uint32_t idx, rm_session_conn_t *conn)
{
    RM_ASSERT_LOCKED(&m->mu);
    struct slot *sl = m->ra.alloc(m->ra.ctx, sizeof *sl);
    if (!sl)
        return RM_ENOMEM;
    memset(sl, 0, sizeof *sl);
    sl->index = idx;
    sl->state = SLOT_OPENING;
    m->slots[idx] = sl;
    m->nopen++;
    pthread_mutex_unlock(&m->mu);

    rm_status_t rc = RM_OK;
    sl->scratch = m->pages->methods->map(m->pages->ctx, m->scratch_bytes, rm_page_size(), -1, 0, NULL);
    if (!sl->scratch)
        rc = RM_ENOMEM;
    if (rc == RM_OK && m->cb.on_slot_open) {
        rc = m->cb.on_slot_open(m->cb.ctx, idx, &sl->user);
        if (rc != RM_OK)
            m->pages->methods->unmap(m->pages->ctx, sl->scratch, m->scratch_bytes);
    }

    pthread_mutex_lock(&m->mu);
    if (rc != RM_OK) {
        m->slots[idx] = NULL;
        m->nopen--;
        pthread_cond_broadcast(&m->cv);   /* someone else may open it */
        pthread_mutex_unlock(&m->mu);
        m->ra.free(m->ra.ctx, sl, sizeof *sl);
        pthread_mutex_lock(&m->mu);
        return rc;
    }
    m->slots_opened++;
    struct sess *s = lookup_locked(m, id);
    if (!s || s->slot >= 0) {
        /* The session went away or got bound meanwhile: keep the slot as idle. */
        sl->state = SLOT_IDLE;
        m->idle[m->nidle++] = idx;
        pthread_cond_signal(&m->cv);
        return s ? RM_ESTATE : RM_ENOENT;
    }
    sl->state = SLOT_BUSY;
    sl->session = id;
    s->slot = (int32_t)idx;
    s->txns++;
    s->last_active_ns = m->now_fn(m->now_ctx);
    m->nbusy++;
    m->nbound++;
    conn_of(m, sl, conn);
    return RM_OK;
}

rm_status_t
rm_session_begin(rm_session_mux_t *m, rm_session_id_t id, uint64_t timeout_ns,
                 rm_session_conn_t *conn)
{
    if (!m || !conn)
        return RM_EINVAL;
    struct timespec deadline;
    int have_deadline = 0, waited = 0, expired = 0;
    rm_status_t rc;

    pthread_mutex_lock(&m->mu);
    for (;;) {
        struct sess *s = lookup_locked(m, id);
        if (!s) {
            rc = RM_ENOENT;
            break;
        }
        if (s->slot >= 0) {
            rc = RM_ESTATE;
            break;
        }
        if (m->nidle > 0) {
            struct slot *sl = m->slots[m->idle[--m->nidle]];   /* hottest */
            sl->state = SLOT_BUSY;
            sl->session = id;
            s->slot = (int32_t)sl->index;
            s->txns++;
            s->last_active_ns = m->now_fn(m->now_ctx);
            m->nbusy++;
            m->nbound++;
            conn_of(m, sl, conn);
            rc = RM_OK;
            break;
        }
        uint32_t idx;
        if (m->nopen < effective_pool_locked(m) &&
            (idx = free_slot_index_locked(m)) != UINT32_MAX) {
            rc = open_slot_locked(m, id, idx, conn);
            break;
        }
        if (timeout_ns == 0 || expired) {
            m->busy_failures++;
            rc = expired ? RM_ETIMEDOUT : RM_EBUSY;
            break;
        }
        if (!have_deadline) {
            deadline = rm__deadline_after_ns(CLOCK_MONOTONIC, timeout_ns);
            have_deadline = 1;
        }
        if (!waited) {
            m->waits++;
            waited = 1;
        }
        m->nwaiting++;
        int e = pthread_cond_timedwait(&m->cv, &m->mu, &deadline);
        m->nwaiting--;
        if (e == ETIMEDOUT)
            expired = 1;   /* one last look round the loop, then RM_ETIMEDOUT */
    }
    /* Releases signal one waiter: if we were woken but leave without a slot
     * (session closed, already bound, deadline), pass the wakeup on. */
    if (rc != RM_OK && waited && m->nwaiting > 0 &&
        (m->nidle > 0 || m->nopen < effective_pool_locked(m)))
        pthread_cond_signal(&m->cv);
    pthread_mutex_unlock(&m->mu);
    return rc;
}

rm_status_t
rm_session_end(rm_session_mux_t *m, rm_session_id_t id)
{
    if (!m)
        return RM_EINVAL;
    struct slot *list = NULL;
    pthread_mutex_lock(&m->mu);
    struct sess *s = lookup_locked(m, id);
    if (!s || s->slot < 0) {
        pthread_mutex_unlock(&m->mu);
        return s ? RM_ESTATE : RM_ENOENT;
    }
    struct slot *sl = m->slots[s->slot];
    s->slot = -1;
    s->last_active_ns = m->now_fn(m->now_ctx);
    m->nbound--;
    release_slot_locked(m, sl, &list);
    pthread_mutex_unlock(&m->mu);
    close_list(m, list);
    return RM_OK;
}

rm_status_t
rm_session_touch(rm_session_mux_t *m, rm_session_id_t id)
{
    if (!m)
        return RM_EINVAL;
    uint64_t t = m->now_fn(m->now_ctx);
    pthread_mutex_lock(&m->mu);
    struct sess *s = lookup_locked(m, id);
    if (s)
        s->last_active_ns = t;
    pthread_mutex_unlock(&m->mu);
    return s ? RM_OK : RM_ENOENT;
}

rm_status_t
rm_session_get(rm_session_mux_t *m, rm_session_id_t id, rm_session_info_t *out)
{
    if (!m || !out)
        return RM_EINVAL;
    pthread_mutex_lock(&m->mu);
    struct sess *s = lookup_locked(m, id);
    if (s)
        info_of(s, out);
    pthread_mutex_unlock(&m->mu);
    return s ? RM_OK : RM_ENOENT;
}

bool
rm_session_owner_alive(void *mux, uint64_t id)
{
    rm_session_mux_t *m = mux;
    return RM_LOCKED_READ(&m->mu, lookup_locked(m, id) != NULL);
}

void
rm_session_list_idle(rm_session_mux_t *m, uint64_t idle_ns, rm_session_info_t *out, size_t cap,
                     size_t *n)
{
    size_t k = 0;
    uint64_t t = m->now_fn(m->now_ctx);
    pthread_mutex_lock(&m->mu);
    for (uint32_t i = 0; i < m->tab_used; i++) {
        struct sess *s = m->tab[i].rec;
        if (!s || t < s->last_active_ns || t - s->last_active_ns < idle_ns)
            continue;
        if (out && k < cap)
            info_of(s, &out[k]);
        k++;
    }
    pthread_mutex_unlock(&m->mu);
    if (n)
        *n = k;
}

/* ---- admission and knobs ------------------------------------------------------ */

void
rm_session_set_admission(rm_session_mux_t *m, bool open)
{
    pthread_mutex_lock(&m->mu);
    m->admission = open;
    pthread_mutex_unlock(&m->mu);
}

bool
rm_session_admission_open(rm_session_mux_t *m)
{
    return RM_LOCKED_READ(&m->mu, m->admission);
}

/* A bound on open slots (max_connections or pool_size) was just set from old
 * to now: the idle slots above it go to *list (the caller closes them after
 * unlocking) and, when it grew, waiters for a slot wake. */
static void
bound_changed_locked(rm_session_mux_t *m, uint32_t old, uint32_t now, struct slot **list)
{
    RM_ASSERT_LOCKED(&m->mu);
    shrink_idle_locked(m, list);
    if (now > old)
        pthread_cond_broadcast(&m->cv);
}

rm_status_t
rm_session_set_max_connections(rm_session_mux_t *m, uint32_t n)
{
    if (!m || n == 0 || n > RM_SESSION_MAX_CONNECTIONS_LIMIT)
        return RM_EINVAL;
    struct slot **ns = NULL;
    uint32_t *ni = NULL;
    pthread_mutex_lock(&m->mu);
    uint32_t cap = m->slot_cap;
    pthread_mutex_unlock(&m->mu);
    if (n > cap) {
        /* Allocate unlocked; tables only grow, so a concurrent grow is harmless. */
        ns = calloc(n, sizeof *ns);
        ni = calloc(n, sizeof *ni);
        if (!ns || !ni) {
            free(ns);
            free(ni);
            return RM_ENOMEM;
        }
    }
    struct slot *list = NULL;
    pthread_mutex_lock(&m->mu);
    if (ns && n > m->slot_cap) {
        memcpy(ns, m->slots, m->slot_cap * sizeof *ns);
        memcpy(ni, m->idle, m->nidle * sizeof *ni);
        struct slot **os = m->slots;
        uint32_t *oi = m->idle;
        m->slots = ns;
        m->idle = ni;
        m->slot_cap = n;
        ns = (struct slot **)os;
        ni = oi;
    }
    uint32_t old = m->max_connections;
    m->max_connections = n;
    bound_changed_locked(m, old, n, &list);
    pthread_mutex_unlock(&m->mu);
    free(ns);
    free(ni);
    close_list(m, list);
    return RM_OK;
}

/* Set one session limit (which: 0 max_sessions, 1 session_ratio), 1 to
 * RM_SESSION_MAX_SESSIONS_LIMIT. */
static rm_status_t
set_session_limit(rm_session_mux_t *m, int which, uint32_t n)
{
    if (!m || n == 0 || n > RM_SESSION_MAX_SESSIONS_LIMIT)
        return RM_EINVAL;
    pthread_mutex_lock(&m->mu);
    if (which == 0)
        m->max_sessions = n;
    else
        m->ratio = n;
    pthread_mutex_unlock(&m->mu);
    return RM_OK;
}

rm_status_t
rm_session_set_max_sessions(rm_session_mux_t *m, uint32_t n)
{
    return set_session_limit(m, 0, n);
}

rm_status_t
rm_session_set_session_ratio(rm_session_mux_t *m, uint32_t n)
{
    return set_session_limit(m, 1, n);
}

rm_status_t
rm_session_set_pool_size(rm_session_mux_t *m, uint32_t n)
{
    if (!m || n == 0)
        return RM_EINVAL;
    struct slot *list = NULL;
    pthread_mutex_lock(&m->mu);
    if (n > m->max_connections)
        n = m->max_connections;
    uint32_t old = m->pool_size;
    m->pool_size = n;
    bound_changed_locked(m, old, n, &list);
    pthread_mutex_unlock(&m->mu);
    close_list(m, list);
    return RM_OK;
}

rm_status_t
rm_session_pool_apply(void *mux, uint32_t target)
{
    return rm_session_set_pool_size(mux, target);
}

void
rm_session_stats(rm_session_mux_t *m, rm_session_stats_t *o)
{
    memset(o, 0, sizeof *o);
    pthread_mutex_lock(&m->mu);
    o->sessions = m->nsessions;
    o->sessions_active = m->nbound;
    o->sessions_idle = m->nsessions - m->nbound;
    o->session_limit = session_limit_locked(m);
    o->connections_open = m->nopen;
    o->connections_busy = m->nbusy;
    o->connections_waiting = m->nwaiting;
    o->pool_size = effective_pool_locked(m);
    o->max_connections = m->max_connections;
    o->max_sessions = m->max_sessions;
    o->session_ratio = m->ratio;
    o->admission_open = m->admission;
    o->session_bytes = session_bytes_locked(m);
    o->connection_bytes = connection_bytes_locked(m);
    o->bytes_per_session = m->nsessions ? o->session_bytes / m->nsessions : 0;
    o->bytes_per_connection = sizeof(struct slot) + m->scratch_bytes;
    o->opened_total = m->opened_total;
    o->closed_total = m->closed_total;
    o->rejected_admission = m->rej_admission;
    o->rejected_limit = m->rej_limit;
    o->busy_failures = m->busy_failures;
    o->waits = m->waits;
    o->abandoned_txns = m->abandoned;
    o->slots_opened = m->slots_opened;
    o->slots_closed = m->slots_closed;
    o->id_redraws = m->id_redraws;
    o->id_failures = m->id_failures;
    pthread_mutex_unlock(&m->mu);
}
