/*
 * mvcc.c — the MVCC version store (see mvcc.h for the contract).
 *
 * Design note.
 * - Table: power-of-two bucket array; bucket i is guarded by stripe
 *   i % RM_MVCC_STRIPES (nbuckets is a multiple of the stripe count, so the
 *   stripe of a key is hash % STRIPES whatever the table size). Growing takes
 *   every stripe in order; a failed grow is ignored (longer lists, not an error).
 * - Timestamps: `clock` is the last published commit timestamp. begin reads it
 *   under reg_mu and appends the txn to the registry, so the registry is in
 *   snapshot order and every snapshot not yet registered is ≥ a clock value read
 *   under reg_mu. commit (under commit_mu) stamps its versions with clock+1 and
 *   only then publishes clock+1: a reader either sees the whole commit or none.
 * - Visibility for snapshot S: the newest version with 0 < commit_ts ≤ S, or
 *   the txn's own uncommitted head.
 * - Conflicts (first updater wins): a write fails with RM_ECONFLICT when the
 *   head is another txn's uncommitted version or was committed after S.
 * - Compaction keeps version v (commit_ts c, next newer committed version c')
 *   iff v is uncommitted, c > clock (in-flight commit), or some live snapshot
 *   or the clock itself lies in [c, c'); a trailing tombstone older than every
 *   live snapshot is dropped too, and an empty chain is unlinked. The walk
 *   merges the chain (newest first) with the registry (newest first) under
 *   reg_mu: O(chain + txns). It never allocates, so the responder can call it
 *   under memory pressure.
 * - Killing (orphans): a txn has its own mutex taken by every operation; the
 *   killer pins candidates with a reference under reg_mu, then takes each txn's
 *   mutex (never reg_mu → txn->mu, which would invert the order), undoes its
 *   writes and marks it KILLED. Killed txns no longer hold the horizon back.
 * - Long values (> RM_MVCC_INLINE_MAX) go to the configured value store when
 *   there is one (the engine's heap of buffer-pool pages), else to a separate
 *   allocation. A get reads a stored value after releasing the stripe (the
 *   read may wait for the disk): its own txn mutex, held throughout, keeps the
 *   version alive — killing needs that mutex, so the txn stays ACTIVE and
 *   compaction keeps what its snapshot sees. A scan reads under the stripe,
 *   which it holds for its visitor anyway. A refused put falls back to memory.
 */
#include "rustymem/mvcc.h"
#include "rustymem/stats.h"
#include "mvcc_internal.h"
#include "rm_internal.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

typedef struct rm__mvcc_version version_t;
typedef struct rm__mvcc_chain chain_t;

struct stripe {
    pthread_mutex_t mu;
    uint64_t keys;              /* chains; guarded by mu */
    uint64_t versions;          /* guarded by mu */
    uint64_t bytes;             /* chains + versions + external values; guarded by mu */
    uint64_t conflicts;         /* guarded by mu */
    uint64_t compactions;       /* guarded by mu */
    uint64_t dropped;           /* versions dropped by compaction; guarded by mu */
    uint64_t compacted_bytes;   /* guarded by mu */
} RM_ALIGNED_CL;

enum { TXN_ACTIVE = RM_MVCC_TXN_ACTIVE, TXN_KILLED = RM_MVCC_TXN_KILLED };

struct rm_mvcc_txn {
    rm_mvcc_t *s;
    pthread_mutex_t mu;                 /* serialises the owner against killers */
    atomic_int refs;                    /* owner (until end) + pinning killers */
    atomic_int state;                   /* TXN_*; written under mu */
    int ended;                          /* commit/abort done; guarded by mu */
    uint64_t id;                        /* immutable */
    uint64_t owner;                     /* immutable */
    uint64_t snap_ts;                   /* immutable */
    uint64_t begin_ns;                  /* immutable */
    atomic_uint_fast64_t last_active_ns;/* ns; written by the owner, read by listers */
    chain_t **ws;                       /* write set; guarded by mu */
    size_t nws, capws;                  /* entries; guarded by mu */
    struct rm_mvcc_txn *prev, *next;    /* registry list; guarded by s->reg_mu */
};

struct rm_mvcc {
    struct stripe stripes[RM_MVCC_STRIPES];
    chain_t **buckets;          /* guarded by the stripes (all of them to replace) */
    size_t nbuckets;            /* power of two ≥ RM_MVCC_STRIPES; same guard */
    rm_recalloc_t ra;
    uint64_t (*now_fn)(void *);
    void *now_ctx;

    pthread_mutex_t commit_mu;  /* serialises commits */
    atomic_uint_fast64_t clock; /* last published commit ts; written under commit_mu */
    uint64_t commits;           /* guarded by commit_mu */

    pthread_mutex_t reg_mu;
    rm_mvcc_txn_t *reg_head, *reg_tail;  /* all begun, un-ended txns, snapshot order; reg_mu */
    uint64_t ntxns;             /* guarded by reg_mu */
    uint64_t next_txn_id;       /* guarded by reg_mu */
    uint64_t txn_bytes;         /* txn objects + write sets; guarded by reg_mu */
    uint64_t aborts, kills;     /* guarded by reg_mu */

    atomic_uint max_versions;   /* mvcc.max_versions_per_key */
    rm_mvcc_valstore_t vs;      /* immutable; vs.put == NULL: no value store */
    atomic_uint_fast64_t stored_values, stored_bytes, store_fallbacks;
    atomic_size_t idle_cursor;  /* next bucket for compact_idle */
    rm_stats_handle_t *stats_h;
};

/* ---- helpers -------------------------------------------------------------- */

static inline struct stripe *
stripe_of(rm_mvcc_t *s, uint64_t hash)
{
    return &s->stripes[hash & (RM_MVCC_STRIPES - 1)];
}

static inline uint64_t
now(rm_mvcc_t *s)
{
    return s->now_fn(s->now_ctx);
}

static inline size_t
chain_bytes(size_t klen)
{
    return sizeof(chain_t) + klen;
}

/* Bytes this store holds for v (a stored value's bytes are the value store's). */
static inline size_t
version_bytes(const version_t *v)
{
    return RM_MVCC_VERSION_BYTES + ((v->flags & RM__MVCC_EXTERNAL) ? v->vlen : 0);
}

/* The bytes of a value kept in memory (not RM__MVCC_STORED). */
static inline const unsigned char *
version_value(const version_t *v)
{
    return (v->flags & RM__MVCC_EXTERNAL) ? v->v.ext : v->v.inl;
}

/* Copy v's value (v->vlen bytes) into buf. Needs v's stripe, which keeps a
 * stored value's handle alive during the read (rm_mvcc_get reads a stored
 * value after dropping the stripe; see there why that is safe). RM_OK or the
 * store's error. */
static rm_status_t
version_read(rm_mvcc_t *s, const version_t *v, void *buf)
{
    if (v->flags & RM__MVCC_STORED)
        return s->vs.get(s->vs.ctx, v->v.handle, buf, v->vlen);
    if (v->vlen)
        memcpy(buf, version_value(v), v->vlen);
    return RM_OK;
}

static void
version_free(rm_mvcc_t *s, version_t *v)
{
    if (v->flags & RM__MVCC_STORED) {
        s->vs.free(s->vs.ctx, v->v.handle, v->vlen);
        atomic_fetch_sub_explicit(&s->stored_values, 1, memory_order_relaxed);
        atomic_fetch_sub_explicit(&s->stored_bytes, v->vlen, memory_order_relaxed);
    } else if (v->flags & RM__MVCC_EXTERNAL) {
        if (config_debug)
            memset(v->v.ext, RM_FILL_FREE, v->vlen);
        s->ra.free(s->ra.ctx, v->v.ext, v->vlen);
    }
    if (config_debug)
        memset(v, RM_FILL_FREE, sizeof *v);
    s->ra.free(s->ra.ctx, v, RM_MVCC_VERSION_BYTES);
}

/* A new uncommitted version owned by t; NULL when memory is short. */
static version_t *
version_new(rm_mvcc_t *s, rm_mvcc_txn_t *t, const void *val, size_t vlen, unsigned flags)
{
    version_t *v = s->ra.alloc(s->ra.ctx, RM_MVCC_VERSION_BYTES);
    if (!v)
        return NULL;
    memset(v, 0, offsetof(version_t, v));
    v->writer = t;
    v->vlen = (uint32_t)vlen;
    v->flags = (uint16_t)flags;
    if (vlen > RM_MVCC_INLINE_MAX && s->vs.put && vlen <= s->vs.max_bytes) {
        uint64_t handle = 0;
        if (s->vs.put(s->vs.ctx, val, vlen, &handle) == RM_OK) {
            v->v.handle = handle;
            v->flags |= RM__MVCC_STORED;
            atomic_fetch_add_explicit(&s->stored_values, 1, memory_order_relaxed);
            atomic_fetch_add_explicit(&s->stored_bytes, vlen, memory_order_relaxed);
            return v;
        }
        /* the store is full, failing or busy: keep this value in memory */
        atomic_fetch_add_explicit(&s->store_fallbacks, 1, memory_order_relaxed);
    }
    if (vlen > RM_MVCC_INLINE_MAX) {
        unsigned char *ext = s->ra.alloc(s->ra.ctx, vlen);
        if (!ext) {
            s->ra.free(s->ra.ctx, v, RM_MVCC_VERSION_BYTES);
            return NULL;
        }
        memcpy(ext, val, vlen);
        v->v.ext = ext;
        v->flags |= RM__MVCC_EXTERNAL;
    } else if (vlen) {
        memcpy(v->v.inl, val, vlen);
    }
    return v;
}

/* The link that points at the chain for (key, hash) — or at the NULL ending
 * the bucket list when absent. Needs the key's stripe. */
static chain_t **
chain_link_locked(rm_mvcc_t *s, const void *key, size_t klen, uint64_t hash)
{
    RM_ASSERT_LOCKED(&stripe_of(s, hash)->mu);
    chain_t **link = &s->buckets[hash & (s->nbuckets - 1)];
    for (; *link; link = &(*link)->next) {
        chain_t *c = *link;
        if (c->hash == hash && c->klen == klen && memcmp(c->key, key, klen) == 0)
            break;
    }
    return link;
}

static chain_t **
chain_link_of_locked(rm_mvcc_t *s, chain_t *c)
{
    RM_ASSERT_LOCKED(&stripe_of(s, c->hash)->mu);
    chain_t **link = &s->buckets[c->hash & (s->nbuckets - 1)];
    while (*link != c) {
        assert(*link);
        link = &(*link)->next;
    }
    return link;
}

static void
chain_unlink_free_locked(rm_mvcc_t *s, struct stripe *st, chain_t **link)
{
    chain_t *c = *link;
    RM_ASSERT_LOCKED(&st->mu);
    assert(!c->head && c->nversions == 0);
    *link = c->next;
    st->keys--;
    st->bytes -= chain_bytes(c->klen);
    size_t n = chain_bytes(c->klen);
    if (config_debug)
        memset(c, RM_FILL_FREE, n);
    s->ra.free(s->ra.ctx, c, n);
}

/* Is t's snapshot allowed to see v? */
static inline int
visible(const version_t *v, const rm_mvcc_txn_t *t)
{
    if (v->commit_ts == 0)
        return v->writer == t;
    return v->commit_ts <= t->snap_ts;
}

/* ---- compaction ----------------------------------------------------------- */

/*
 * Drop every version of *link's chain that no live snapshot (and no future
 * one) can see; unlink and free the chain when nothing is left. Needs the
 * chain's stripe; takes reg_mu. Returns bytes freed.
 */
static uint64_t
compact_chain_locked(rm_mvcc_t *s, struct stripe *st, chain_t **link)
{
    chain_t *c = *link;
    uint64_t freed = 0, dropped = 0;
    RM_ASSERT_LOCKED(&st->mu);

    pthread_mutex_lock(&s->reg_mu);
    uint64_t clock = atomic_load(&s->clock);
    uint64_t horizon = clock;   /* oldest live snapshot, or the clock */
    for (rm_mvcc_txn_t *t = s->reg_head; t; t = t->next)
        if (atomic_load_explicit(&t->state, memory_order_relaxed) == TXN_ACTIVE) {
            if (t->snap_ts < horizon)
                horizon = t->snap_ts;
            break;
        }

    rm_mvcc_txn_t *p = s->reg_tail;          /* newest snapshot first */
    uint64_t newer = UINT64_MAX;             /* commit_ts of the next newer committed version */
    version_t **vl = &c->head;
    version_t **last_kept = NULL;
    while (*vl) {
        version_t *v = *vl;
        int keep;
        if (v->commit_ts == 0) {
            keep = 1;                         /* uncommitted: its writer needs it */
        } else if (v->commit_ts > clock) {
            keep = 1;                         /* commit in flight */
            newer = v->commit_ts;
        } else {
            uint64_t cts = v->commit_ts;
            keep = clock >= cts && clock < newer;
            while (p && (atomic_load_explicit(&p->state, memory_order_relaxed) != TXN_ACTIVE ||
                         p->snap_ts >= newer))
                p = p->prev;
            if (p && p->snap_ts >= cts)
                keep = 1;
            newer = cts;
        }
        if (keep) {
            last_kept = vl;
            vl = &v->older;
        } else {
            *vl = v->older;
            freed += version_bytes(v);
            dropped++;
            version_free(s, v);
        }
    }
    /* A delete older than every live snapshot reads the same as no version. */
    if (last_kept) {
        version_t *v = *last_kept;
        if (v->commit_ts && v->commit_ts <= horizon && (v->flags & RM__MVCC_TOMBSTONE)) {
            *last_kept = NULL;
            freed += version_bytes(v);
            dropped++;
            version_free(s, v);
        }
    }
    pthread_mutex_unlock(&s->reg_mu);

    c->nversions -= (uint32_t)dropped;
    st->versions -= dropped;
    st->bytes -= freed;
    st->compactions++;
    st->dropped += dropped;
    if (!c->head) {
        freed += chain_bytes(c->klen);
        chain_unlink_free_locked(s, st, link);
    }
    st->compacted_bytes += freed;
    return freed;
}

/* ---- table growth ---------------------------------------------------------- */

static void
maybe_grow(rm_mvcc_t *s)
{
    for (unsigned i = 0; i < RM_MVCC_STRIPES; i++)
        pthread_mutex_lock(&s->stripes[i].mu);
    uint64_t keys = 0;
    for (unsigned i = 0; i < RM_MVCC_STRIPES; i++)
        keys += s->stripes[i].keys;
    size_t n = s->nbuckets;
    if (keys > 2 * (uint64_t)n && n < ((size_t)1 << 30)) {
        chain_t **nb = calloc(2 * n, sizeof *nb);
        if (nb) {   /* on failure keep the old table: longer lists, still correct */
            for (size_t b = 0; b < n; b++) {
                chain_t *c = s->buckets[b];
                while (c) {
                    chain_t *next = c->next;
                    size_t j = c->hash & (2 * n - 1);
                    c->next = nb[j];
                    nb[j] = c;
                    c = next;
                }
            }
            free(s->buckets);
            s->buckets = nb;
            s->nbuckets = 2 * n;
        }
    }
    for (unsigned i = RM_MVCC_STRIPES; i-- > 0;)
        pthread_mutex_unlock(&s->stripes[i].mu);
}

/* ---- accounting ---------------------------------------------------------- */

static void
report(void *ctx, rm_component_usage_t *out)
{
    rm_mvcc_t *s = ctx;
    uint64_t used = 0, buckets = 0;
    for (unsigned i = 0; i < RM_MVCC_STRIPES; i++) {
        pthread_mutex_lock(&s->stripes[i].mu);
        used += s->stripes[i].bytes;
        if (i == 0)
            buckets = s->nbuckets * sizeof(chain_t *);
        pthread_mutex_unlock(&s->stripes[i].mu);
    }
    pthread_mutex_lock(&s->reg_mu);
    used += s->txn_bytes;
    pthread_mutex_unlock(&s->reg_mu);
    out->nested = 1;   /* versions come from the record allocator (slab classes, large objects) or the heap */
    out->used_bytes = used;
    out->held_bytes = used + buckets + sizeof *s;
}

/* ---- lifecycle ----------------------------------------------------------- */

rm_status_t
rm_mvcc_create(const rm_mvcc_config_t *cfg, rm_mvcc_t **out)
{
    RM__CREATE_ARGS_OR_EINVAL(cfg, out);
    if (!rm__recalloc_valid(cfg->alloc))
        return RM_EINVAL;
    const rm_mvcc_valstore_t *vs = cfg->valstore;
    if (vs && (!vs->put || !vs->get || !vs->free || vs->max_bytes <= RM_MVCC_INLINE_MAX ||
               vs->max_bytes > RM_MVCC_VALUE_MAX))
        return RM_EINVAL;

    rm_status_t rc = RM_ENOMEM;
    rm_mvcc_t *s = calloc(1, sizeof *s);
    if (!s)
        return RM_ENOMEM;
    size_t nb = cfg->initial_buckets ? cfg->initial_buckets : 4096;
    size_t n = RM_MVCC_STRIPES;
    while (n < nb && n < ((size_t)1 << 30))
        n <<= 1;
    s->buckets = calloc(n, sizeof *s->buckets);
    if (!s->buckets)
        goto fail_buckets;
    s->nbuckets = n;
    s->ra = rm__recalloc_or_malloc(cfg->alloc);
    if (vs)
        s->vs = *vs;
    atomic_init(&s->stored_values, 0);
    atomic_init(&s->stored_bytes, 0);
    atomic_init(&s->store_fallbacks, 0);
    s->now_fn = cfg->now_ns ? cfg->now_ns : rm__now_ns_hook;
    s->now_ctx = cfg->now_ctx;
    atomic_init(&s->max_versions,
                cfg->max_versions_per_key ? cfg->max_versions_per_key : RM_MVCC_DEFAULT_MAX_VERSIONS);
    atomic_init(&s->clock, 1);   /* 0 means "uncommitted" */
    atomic_init(&s->idle_cursor, 0);
    for (unsigned i = 0; i < RM_MVCC_STRIPES; i++)
        pthread_mutex_init(&s->stripes[i].mu, NULL);
    pthread_mutex_init(&s->commit_mu, NULL);
    pthread_mutex_init(&s->reg_mu, NULL);

    rc = rm_stats_register("mvcc", report, s, &s->stats_h);
    if (rc != RM_OK)
        goto fail_stats;
    *out = s;
    return RM_OK;

fail_stats:
    pthread_mutex_destroy(&s->reg_mu);
    pthread_mutex_destroy(&s->commit_mu);
    for (unsigned i = 0; i < RM_MVCC_STRIPES; i++)
        pthread_mutex_destroy(&s->stripes[i].mu);
    free(s->buckets);
fail_buckets:
    free(s);
    return rc;
}

static void
txn_free(rm_mvcc_t *s, rm_mvcc_txn_t *t)
{
    if (t->ws)
        s->ra.free(s->ra.ctx, t->ws, t->capws * sizeof *t->ws);
    pthread_mutex_destroy(&t->mu);
    s->ra.free(s->ra.ctx, t, sizeof *t);
}

static void
txn_unref(rm_mvcc_txn_t *t)
{
    if (atomic_fetch_sub(&t->refs, 1) == 1)
        txn_free(t->s, t);
}

void
rm_mvcc_destroy(rm_mvcc_t *s)
{
    if (!s)
        return;
    rm_stats_unregister(s->stats_h);
    rm_mvcc_txn_t *t = s->reg_head;
    while (t) {
        rm_mvcc_txn_t *next = t->next;
        txn_free(s, t);
        t = next;
    }
    for (size_t b = 0; b < s->nbuckets; b++) {
        chain_t *c = s->buckets[b];
        while (c) {
            chain_t *next = c->next;
            version_t *v = c->head;
            while (v) {
                version_t *older = v->older;
                version_free(s, v);
                v = older;
            }
            s->ra.free(s->ra.ctx, c, chain_bytes(c->klen));
            c = next;
        }
    }
    free(s->buckets);
    pthread_mutex_destroy(&s->reg_mu);
    pthread_mutex_destroy(&s->commit_mu);
    for (unsigned i = 0; i < RM_MVCC_STRIPES; i++)
        pthread_mutex_destroy(&s->stripes[i].mu);
    free(s);
}

/* ---- transactions -------------------------------------------------------- */

rm_status_t
rm_mvcc_begin(rm_mvcc_t *s, uint64_t owner, rm_mvcc_txn_t **out)
{
    if (!s || !out)
        return RM_EINVAL;
    rm_mvcc_txn_t *t = s->ra.alloc(s->ra.ctx, sizeof *t);
    if (!t)
        return RM_ENOMEM;
    memset(t, 0, sizeof *t);
    t->s = s;
    pthread_mutex_init(&t->mu, NULL);
    atomic_init(&t->refs, 1);
    atomic_init(&t->state, TXN_ACTIVE);
    t->owner = owner;
    t->begin_ns = now(s);
    atomic_init(&t->last_active_ns, t->begin_ns);

    pthread_mutex_lock(&s->reg_mu);
    t->snap_ts = atomic_load(&s->clock);
    t->id = ++s->next_txn_id;
    RM_DLIST_APPEND_HT(s->reg_head, s->reg_tail, t, prev, next);
    s->ntxns++;
    s->txn_bytes += sizeof *t;
    pthread_mutex_unlock(&s->reg_mu);
    *out = t;
    return RM_OK;
}

/* Remove t from the registry and drop the owner's reference. */
static void
txn_end(rm_mvcc_txn_t *t)
{
    rm_mvcc_t *s = t->s;
    pthread_mutex_lock(&s->reg_mu);
    RM_DLIST_UNLINK_HT(s->reg_head, s->reg_tail, t, prev, next);
    s->ntxns--;
    s->txn_bytes -= sizeof *t + t->capws * sizeof *t->ws;
    pthread_mutex_unlock(&s->reg_mu);
    txn_unref(t);
}

/* Undo every write of t (its uncommitted heads). Needs t->mu. */
static void
undo_writes_locked(rm_mvcc_txn_t *t)
{
    rm_mvcc_t *s = t->s;
    RM_ASSERT_LOCKED(&t->mu);
    for (size_t i = 0; i < t->nws; i++) {
        chain_t *c = t->ws[i];
        struct stripe *st = stripe_of(s, c->hash);
        pthread_mutex_lock(&st->mu);
        version_t *v = c->head;
        assert(v && v->commit_ts == 0 && v->writer == t);
        c->head = v->older;
        c->nversions--;
        st->versions--;
        st->bytes -= version_bytes(v);
        version_free(s, v);
        if (!c->head)
            chain_unlink_free_locked(s, st, chain_link_of_locked(s, c));
        pthread_mutex_unlock(&st->mu);
    }
    t->nws = 0;
}

static inline int
txn_enter(rm_mvcc_txn_t *t)
{
    pthread_mutex_lock(&t->mu);
    if (atomic_load_explicit(&t->state, memory_order_relaxed) != TXN_ACTIVE) {
        pthread_mutex_unlock(&t->mu);
        return 0;
    }
    atomic_store_explicit(&t->last_active_ns, now(t->s), memory_order_relaxed);
    return 1;
}

rm_status_t
rm_mvcc_get(rm_mvcc_txn_t *t, const void *key, size_t klen, void *buf, size_t cap, size_t *len)
{
    if (!t || !key || !len || klen > RM_MVCC_KEY_MAX || (cap && !buf))
        return RM_EINVAL;
    if (!txn_enter(t))
        return RM_ECANCELED;
    rm_mvcc_t *s = t->s;
    uint64_t h = rm__hash_bytes(key, klen);
    struct stripe *st = stripe_of(s, h);
    rm_status_t rc = RM_ENOENT;

    uint64_t handle = 0;
    size_t stored_len = 0;
    pthread_mutex_lock(&st->mu);
    chain_t *c = *chain_link_locked(s, key, klen, h);
    for (version_t *v = c ? c->head : NULL; v; v = v->older) {
        if (!visible(v, t))
            continue;
        if (v->flags & RM__MVCC_TOMBSTONE)
            break;
        *len = v->vlen;
        if (cap < v->vlen) {
            rc = RM_ELIMIT;
        } else if (v->flags & RM__MVCC_STORED) {
            handle = v->v.handle;   /* read below, without the stripe */
            stored_len = v->vlen;
            rc = RM_OK;
        } else {
            rc = version_read(s, v, buf);
        }
        break;
    }
    pthread_mutex_unlock(&st->mu);
    /* A stored value may need I/O (a cold page): read it without holding the
     * stripe, which would stall every key of that stripe behind the disk.
     * t->mu (held since txn_enter) keeps the version alive instead: a killer
     * needs t->mu to end this txn, so it stays ACTIVE in the registry and
     * compaction keeps every version its snapshot sees; an uncommitted version
     * visible here is this txn's own, freed only under t->mu. */
    if (stored_len)
        rc = s->vs.get(s->vs.ctx, handle, buf, stored_len);
    pthread_mutex_unlock(&t->mu);
    return rc;
}

/* Make room for one more write-set entry. Needs t->mu. */
static rm_status_t
ws_reserve_locked(rm_mvcc_txn_t *t)
{
    RM_ASSERT_LOCKED(&t->mu);
    if (t->nws < t->capws)
        return RM_OK;
    rm_mvcc_t *s = t->s;
    size_t ncap = t->capws ? 2 * t->capws : 8;
    chain_t **nws = s->ra.alloc(s->ra.ctx, ncap * sizeof *nws);
    if (!nws)
        return RM_ENOMEM;
    if (t->nws)
        memcpy(nws, t->ws, t->nws * sizeof *nws);
    if (t->ws)
        s->ra.free(s->ra.ctx, t->ws, t->capws * sizeof *t->ws);
    pthread_mutex_lock(&s->reg_mu);
    s->txn_bytes += (ncap - t->capws) * sizeof *nws;
    pthread_mutex_unlock(&s->reg_mu);
    t->ws = nws;
    t->capws = ncap;
    return RM_OK;
}

static rm_status_t
write_version(rm_mvcc_txn_t *t, const void *key, size_t klen, const void *val, size_t vlen,
              unsigned flags)
{
    if (!txn_enter(t))
        return RM_ECANCELED;
    rm_mvcc_t *s = t->s;
    int grow = 0;
    rm_status_t rc = ws_reserve_locked(t);
    if (rc != RM_OK)
        goto out_txn;
    version_t *v = version_new(s, t, val, vlen, flags);
    if (!v) {
        rc = RM_ENOMEM;
        goto out_txn;
    }

    uint64_t h = rm__hash_bytes(key, klen);
    struct stripe *st = stripe_of(s, h);
    pthread_mutex_lock(&st->mu);
    chain_t **link = chain_link_locked(s, key, klen, h);
    chain_t *c = *link;
    version_t *head = c ? c->head : NULL;
    int tomb = (flags & RM__MVCC_TOMBSTONE) != 0;

    if (head && head->commit_ts == 0 && head->writer != t) {
        st->conflicts++;
        rc = RM_ECONFLICT;
        goto out_free;
    }
    if (head && head->commit_ts != 0 && head->commit_ts > t->snap_ts) {
        st->conflicts++;
        rc = RM_ECONFLICT;
        goto out_free;
    }
    if (tomb && (!head || (head->flags & RM__MVCC_TOMBSTONE))) {
        rc = RM_ENOENT;   /* the snapshot sees no value (head is the visible version) */
        goto out_free;
    }
    if (!c) {
        size_t cb = chain_bytes(klen);
        c = s->ra.alloc(s->ra.ctx, cb);
        if (!c) {
            rc = RM_ENOMEM;
            goto out_free;
        }
        memset(c, 0, sizeof *c);
        c->hash = h;
        c->klen = (uint32_t)klen;
        memcpy(c->key, key, klen);
        *link = c;
        st->keys++;
        st->bytes += cb;
        grow = st->keys > 2 * (s->nbuckets / RM_MVCC_STRIPES);
    }
    if (head && head->commit_ts == 0) {
        /* Our own earlier write of this key: replace it in place. */
        v->older = head->older;
        c->head = v;
        st->bytes -= version_bytes(head);
        version_free(s, head);
    } else {
        v->older = head;
        c->head = v;
        c->nversions++;
        st->versions++;
        t->ws[t->nws++] = c;
    }
    st->bytes += version_bytes(v);
    c->last_write_ns = atomic_load_explicit(&t->last_active_ns, memory_order_relaxed);
    if (c->nversions > atomic_load_explicit(&s->max_versions, memory_order_relaxed))
        compact_chain_locked(s, st, link);
    pthread_mutex_unlock(&st->mu);
    pthread_mutex_unlock(&t->mu);
    if (grow)
        maybe_grow(s);
    return RM_OK;

out_free:
    pthread_mutex_unlock(&st->mu);
    version_free(s, v);
out_txn:
    pthread_mutex_unlock(&t->mu);
    return rc;
}

rm_status_t
rm_mvcc_put(rm_mvcc_txn_t *t, const void *key, size_t klen, const void *val, size_t vlen)
{
    if (!t || !key || klen > RM_MVCC_KEY_MAX || vlen > RM_MVCC_VALUE_MAX || (vlen && !val))
        return RM_EINVAL;
    return write_version(t, key, klen, val, vlen, 0);
}

rm_status_t
rm_mvcc_delete(rm_mvcc_txn_t *t, const void *key, size_t klen)
{
    if (!t || !key || klen > RM_MVCC_KEY_MAX)
        return RM_EINVAL;
    return write_version(t, key, klen, NULL, 0, RM__MVCC_TOMBSTONE);
}

rm_status_t
rm_mvcc_scan(rm_mvcc_txn_t *t, rm_mvcc_visit_fn fn, void *ctx)
{
    if (!t || !fn)
        return RM_EINVAL;
    if (!txn_enter(t))
        return RM_ECANCELED;
    rm_mvcc_t *s = t->s;
    rm_status_t rc = RM_OK;
    /* stored values are read into one buffer, reused for each visit */
    unsigned char *vbuf = NULL;
    if (s->vs.put && !(vbuf = s->ra.alloc(s->ra.ctx, s->vs.max_bytes))) {
        pthread_mutex_unlock(&t->mu);
        return RM_ENOMEM;
    }
    for (size_t b = 0;; b++) {
        struct stripe *st = &s->stripes[b & (RM_MVCC_STRIPES - 1)];
        pthread_mutex_lock(&st->mu);
        if (b >= s->nbuckets) {
            pthread_mutex_unlock(&st->mu);
            break;
        }
        for (chain_t *c = s->buckets[b]; c && rc == RM_OK; c = c->next) {
            for (version_t *v = c->head; v; v = v->older) {
                if (!visible(v, t))
                    continue;
                if (v->flags & RM__MVCC_TOMBSTONE)
                    break;
                const void *val = vbuf;   /* in memory: no copy; stored: read into vbuf */
                if (v->flags & RM__MVCC_STORED)
                    rc = version_read(s, v, vbuf);
                else
                    val = version_value(v);
                if (rc == RM_OK && fn(ctx, c->key, c->klen, val, v->vlen) != 0)
                    rc = RM_ECANCELED;
                break;
            }
        }
        pthread_mutex_unlock(&st->mu);
        if (rc != RM_OK)
            break;
    }
    if (vbuf)
        s->ra.free(s->ra.ctx, vbuf, s->vs.max_bytes);
    pthread_mutex_unlock(&t->mu);
    return rc;
}

rm_status_t
rm_mvcc_commit(rm_mvcc_txn_t *t)
{
    if (!t)
        return RM_EINVAL;
    rm_mvcc_t *s = t->s;
    rm_status_t rc = RM_OK;
    pthread_mutex_lock(&t->mu);
    if (atomic_load_explicit(&t->state, memory_order_relaxed) != TXN_ACTIVE) {
        rc = RM_ECANCELED;
    } else if (t->nws) {
        pthread_mutex_lock(&s->commit_mu);
        uint64_t cts = atomic_load(&s->clock) + 1;
        for (size_t i = 0; i < t->nws; i++) {
            chain_t *c = t->ws[i];
            struct stripe *st = stripe_of(s, c->hash);
            pthread_mutex_lock(&st->mu);
            assert(c->head && c->head->writer == t && c->head->commit_ts == 0);
            c->head->commit_ts = cts;
            c->head->writer = NULL;
            pthread_mutex_unlock(&st->mu);
        }
        atomic_store(&s->clock, cts);   /* publish: snapshots from now on see it all */
        s->commits++;
        pthread_mutex_unlock(&s->commit_mu);
        t->nws = 0;
    } else {
        pthread_mutex_lock(&s->commit_mu);
        s->commits++;
        pthread_mutex_unlock(&s->commit_mu);
    }
    t->ended = 1;
    pthread_mutex_unlock(&t->mu);
    txn_end(t);
    return rc;
}

void
rm_mvcc_abort(rm_mvcc_txn_t *t)
{
    if (!t)
        return;
    rm_mvcc_t *s = t->s;
    pthread_mutex_lock(&t->mu);
    if (atomic_load_explicit(&t->state, memory_order_relaxed) == TXN_ACTIVE)
        undo_writes_locked(t);
    t->ended = 1;
    pthread_mutex_unlock(&t->mu);
    pthread_mutex_lock(&s->reg_mu);
    s->aborts++;
    pthread_mutex_unlock(&s->reg_mu);
    txn_end(t);
}

/* ---- listing and killing -------------------------------------------------- */

static void
info_of(const rm_mvcc_txn_t *t, rm_mvcc_txn_info_t *o)
{
    o->id = t->id;
    o->owner = t->owner;
    o->snapshot_ts = t->snap_ts;
    o->begin_ns = t->begin_ns;
    o->last_active_ns = atomic_load_explicit(&t->last_active_ns, memory_order_relaxed);
    o->writes = 0;  /* filled by callers holding t->mu, where they can */
    o->state = (rm_mvcc_txn_state_t)atomic_load_explicit(&t->state, memory_order_relaxed);
}

void
rm_mvcc_txn_get_info(rm_mvcc_txn_t *t, rm_mvcc_txn_info_t *out)
{
    if (!t || !out)
        return;
    pthread_mutex_lock(&t->mu);
    info_of(t, out);
    out->writes = t->nws;
    pthread_mutex_unlock(&t->mu);
}

void
rm_mvcc_list_txns(rm_mvcc_t *s, rm_mvcc_txn_info_t *out, size_t cap, size_t *n)
{
    size_t k = 0;
    pthread_mutex_lock(&s->reg_mu);
    for (rm_mvcc_txn_t *t = s->reg_head; t; t = t->next, k++)
        if (k < cap && out)
            info_of(t, &out[k]);
    pthread_mutex_unlock(&s->reg_mu);
    if (n)
        *n = k;
}

static int
is_orphan_locked(rm_mvcc_t *s, rm_mvcc_txn_t *t, uint64_t now_ns, uint64_t idle_ns,
                 rm_mvcc_owner_alive_fn alive, void *actx)
{
    RM_ASSERT_LOCKED(&s->reg_mu);
    if (atomic_load_explicit(&t->state, memory_order_relaxed) != TXN_ACTIVE)
        return 0;
    uint64_t last = atomic_load_explicit(&t->last_active_ns, memory_order_relaxed);
    if (now_ns >= last && now_ns - last >= idle_ns)
        return 1;
    return alive && !alive(actx, t->owner);
}

void
rm_mvcc_list_orphans(rm_mvcc_t *s, uint64_t idle_ns, rm_mvcc_owner_alive_fn alive,
                     void *alive_ctx, rm_mvcc_txn_info_t *out, size_t cap, size_t *n)
{
    size_t k = 0;
    uint64_t t_now = now(s);
    pthread_mutex_lock(&s->reg_mu);
    for (rm_mvcc_txn_t *t = s->reg_head; t; t = t->next) {
        if (!is_orphan_locked(s, t, t_now, idle_ns, alive, alive_ctx))
            continue;
        if (k < cap && out)
            info_of(t, &out[k]);
        k++;
    }
    pthread_mutex_unlock(&s->reg_mu);
    if (n)
        *n = k;
}

/* Kill a pinned txn: undo its writes and mark it KILLED. Returns 1 if it did. */
static int
kill_pinned(rm_mvcc_txn_t *t)
{
    int done = 0;
    pthread_mutex_lock(&t->mu);
    if (!t->ended && atomic_load_explicit(&t->state, memory_order_relaxed) == TXN_ACTIVE) {
        undo_writes_locked(t);
        atomic_store(&t->state, TXN_KILLED);
        done = 1;
    }
    pthread_mutex_unlock(&t->mu);
    if (done) {
        pthread_mutex_lock(&t->s->reg_mu);
        t->s->kills++;
        pthread_mutex_unlock(&t->s->reg_mu);
    }
    txn_unref(t);
    return done;
}

void
rm_mvcc_kill_orphans(rm_mvcc_t *s, uint64_t idle_ns, rm_mvcc_owner_alive_fn alive,
                     void *alive_ctx, uint64_t *killed)
{
    enum { BATCH = 32 };
    uint64_t total = 0;
    uint64_t t_now = now(s);
    for (;;) {
        rm_mvcc_txn_t *batch[BATCH];
        size_t nb = 0;
        pthread_mutex_lock(&s->reg_mu);
        for (rm_mvcc_txn_t *t = s->reg_head; t && nb < BATCH; t = t->next) {
            if (is_orphan_locked(s, t, t_now, idle_ns, alive, alive_ctx)) {
                atomic_fetch_add(&t->refs, 1);
                batch[nb++] = t;
            }
        }
        pthread_mutex_unlock(&s->reg_mu);
        if (nb == 0)
            break;
        int progress = 0;
        for (size_t i = 0; i < nb; i++)
            progress += kill_pinned(batch[i]);
        total += (uint64_t)progress;
        if (!progress && nb < BATCH)
            break;
    }
    if (killed)
        *killed = total;
}

rm_status_t
rm_mvcc_kill(rm_mvcc_t *s, uint64_t txn_id)
{
    rm_mvcc_txn_t *found = NULL;
    pthread_mutex_lock(&s->reg_mu);
    for (rm_mvcc_txn_t *t = s->reg_head; t; t = t->next)
        if (t->id == txn_id && atomic_load_explicit(&t->state, memory_order_relaxed) == TXN_ACTIVE) {
            atomic_fetch_add(&t->refs, 1);
            found = t;
            break;
        }
    pthread_mutex_unlock(&s->reg_mu);
    if (!found)
        return RM_ENOENT;
    return kill_pinned(found) ? RM_OK : RM_ENOENT;
}

/* ---- compaction entry points --------------------------------------------- */

/* Compact chains of bucket b that pass `idle_ns` (UINT64_MAX-free: 0 = all).
 * Returns chains visited, or SIZE_MAX when b is past the table. */
static size_t
compact_bucket(rm_mvcc_t *s, size_t b, uint64_t idle_ns, uint64_t now_ns, uint64_t *freed)
{
    struct stripe *st = &s->stripes[b & (RM_MVCC_STRIPES - 1)];
    size_t visited = 0;
    pthread_mutex_lock(&st->mu);
    if (b >= s->nbuckets) {
        pthread_mutex_unlock(&st->mu);
        return SIZE_MAX;
    }
    chain_t **link = &s->buckets[b];
    while (*link) {
        chain_t *c = *link;
        visited++;
        if (idle_ns == 0 || (now_ns >= c->last_write_ns && now_ns - c->last_write_ns >= idle_ns)) {
            *freed += compact_chain_locked(s, st, link);
            if (*link != c)
                continue;   /* the chain was freed; *link is already the next one */
        }
        link = &c->next;
    }
    pthread_mutex_unlock(&st->mu);
    return visited;
}

void
rm_mvcc_compact_idle(rm_mvcc_t *s, uint64_t idle_ns, size_t max_chains, uint64_t *bytes_freed)
{
    uint64_t freed = 0;
    uint64_t t_now = now(s);
    size_t visited = 0, scanned = 0;
    size_t b = atomic_load(&s->idle_cursor);
    /* At most one lap; nbuckets read racily only to bound the lap. */
    size_t lap;
    pthread_mutex_lock(&s->stripes[0].mu);
    lap = s->nbuckets;
    pthread_mutex_unlock(&s->stripes[0].mu);
    if (idle_ns == 0)
        idle_ns = 1;   /* "idle" means at least not written in this very instant */
    while (scanned < lap && (max_chains == 0 || visited < max_chains)) {
        size_t v = compact_bucket(s, b, idle_ns, t_now, &freed);
        if (v == SIZE_MAX) {
            b = 0;
            continue;
        }
        visited += v;
        scanned++;
        b++;
    }
    atomic_store(&s->idle_cursor, b);
    if (bytes_freed)
        *bytes_freed = freed;
}

void
rm_mvcc_compact_all(rm_mvcc_t *s, uint64_t *bytes_freed)
{
    uint64_t freed = 0;
    for (size_t b = 0; compact_bucket(s, b, 0, 0, &freed) != SIZE_MAX; b++)
        ;
    if (bytes_freed)
        *bytes_freed = freed;
}

/* ---- knobs and stats ------------------------------------------------------ */

rm_status_t
rm_mvcc_set_max_versions_per_key(rm_mvcc_t *s, uint32_t n)
{
    if (!s || n == 0)
        return RM_EINVAL;
    atomic_store(&s->max_versions, n);
    return RM_OK;
}

rm_status_t
rm_mvcc_chain_length(rm_mvcc_t *s, const void *key, size_t klen, size_t *out)
{
    if (!s || !key || !out || klen > RM_MVCC_KEY_MAX)
        return RM_EINVAL;
    uint64_t h = rm__hash_bytes(key, klen);
    struct stripe *st = stripe_of(s, h);
    pthread_mutex_lock(&st->mu);
    chain_t *c = *chain_link_locked(s, key, klen, h);
    if (c)
        *out = c->nversions;
    pthread_mutex_unlock(&st->mu);
    return c ? RM_OK : RM_ENOENT;
}

void
rm_mvcc_stats(rm_mvcc_t *s, rm_mvcc_stats_t *o)
{
    memset(o, 0, sizeof *o);
    uint64_t buckets = 0;
    for (unsigned i = 0; i < RM_MVCC_STRIPES; i++) {
        struct stripe *st = &s->stripes[i];
        pthread_mutex_lock(&st->mu);
        o->keys += st->keys;
        o->versions += st->versions;
        o->used_bytes += st->bytes;
        o->conflicts += st->conflicts;
        o->compactions += st->compactions;
        o->versions_dropped += st->dropped;
        o->bytes_compacted += st->compacted_bytes;
        buckets = s->nbuckets;
        for (size_t b = i; b < s->nbuckets; b += RM_MVCC_STRIPES)
            for (chain_t *c = s->buckets[b]; c; c = c->next)
                if (c->nversions > o->longest_chain)
                    o->longest_chain = c->nversions;
        pthread_mutex_unlock(&st->mu);
    }
    pthread_mutex_lock(&s->reg_mu);
    o->used_bytes += s->txn_bytes;
    o->txns_active = s->ntxns;
    o->aborts = s->aborts;
    o->kills = s->kills;
    o->clock = atomic_load(&s->clock);
    o->oldest_snapshot_ts = o->clock;
    for (rm_mvcc_txn_t *t = s->reg_head; t; t = t->next)
        if (atomic_load_explicit(&t->state, memory_order_relaxed) == TXN_ACTIVE) {
            if (t->snap_ts < o->oldest_snapshot_ts)
                o->oldest_snapshot_ts = t->snap_ts;
            break;
        }
    pthread_mutex_unlock(&s->reg_mu);
    pthread_mutex_lock(&s->commit_mu);
    o->commits = s->commits;
    pthread_mutex_unlock(&s->commit_mu);
    o->held_bytes = o->used_bytes + buckets * sizeof(chain_t *) + sizeof *s;
    o->max_versions_per_key = atomic_load(&s->max_versions);
    o->stored_values = atomic_load_explicit(&s->stored_values, memory_order_relaxed);
    o->stored_bytes = atomic_load_explicit(&s->stored_bytes, memory_order_relaxed);
    o->store_fallbacks = atomic_load_explicit(&s->store_fallbacks, memory_order_relaxed);
}
