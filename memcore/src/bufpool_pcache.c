/*
 * bufpool_pcache.c — the buffer pool's page-cache mode (rustymem/pcache.h):
 * frames the host fills and writes itself, many caches on one byte budget.
 *
 * Design note (docs/adr/0014-page-cache-mode.md):
 *
 *  Policy. Each purgeable cache owns one Enhanced ARC instance
 *  (bufpool_arc.c, used through bufpool_internal.h exactly as bufpool.c uses
 *  it: slots are the cache's frame indices, the reference bit, the 4-bit hit
 *  frequency and the T1 mark live in the frame's state word and are set by
 *  the lock-free hit CAS). The policy's capacity follows the cache: it starts
 *  at min(16, the most the cache can hold = min(cache size, budget in
 *  pages)) and doubles as the cache fills, up to that bound, so an idle
 *  connection with a large cache_size does not carry a full-size ghost
 *  directory and sketch (a grow restarts the history, as in the file-backed
 *  pool; while a cache is still filling there is none), and a cache bounded
 *  by the budget runs the same ARC as one bounded by its size.
 *  Non-purgeable caches have no policy: their pages are never evicted.
 *
 *  Budget. The pool's budget counts resident pages in bytes
 *  (page_size + extra_size each), so caches with different page sizes share
 *  it. When a new page does not fit, a page is taken from the purgeable
 *  cache whose bytes exceed its share the most; shares are the budget split
 *  in proportion to the caches' cache sizes (in bytes, each capped at the
 *  budget). The victim cache's policy picks the page. Its frame goes to that
 *  cache's free list with its memory released, so held memory tracks the
 *  budget.
 *
 *  Frame state word (64 bits): PINNED, INVALID (free, or being changed under
 *  the pool lock), REF, T1, RELEASED, a 4-bit FREQ, and a 32-bit version in the
 *  high half bumped whenever the frame's key changes (claim, drop, rekey).
 *  Pins are not counted (SQLite's rule). A hit reads the state (acquire),
 *  checks the key (acquire), and CASes PINNED|REF|FREQ+1 into the state it
 *  read: the version makes the CAS fail if the key changed between the two
 *  loads, so no pin is ever taken on a wrong page and none has to be undone
 *  (undoing would be wrong with uncounted pins: it could clear the owner's).
 *  Every key change goes INVALID+version first, then the key (release), then
 *  clears INVALID (release).
 *
 *  Locks. One pool lock `mu` serialises misses, evictions, the policies, the
 *  free lists, page-table writes and the cache list — the file-backed pool's
 *  structure (its `mu`), chosen because a miss may take a page from any
 *  cache: per-cache mutexes would need the victim's lock while holding the
 *  requester's. Hits and plain unpins take no lock. Lookups use the
 *  file-backed pool's lock-free page table (bufpool_pagetable.c), one per
 *  cache. Frame descriptors live in segments that are never freed before the
 *  cache is destroyed, so a stale index is always safe to dereference.
 *
 *  Memory. Page data is mapped from the page source in chunks of about
 *  64 KiB (chunk_frames pages; the first chunk about 16 KiB; no header: a
 *  chunk is found again from its first frame). Page data is page-aligned
 *  when page_size ≥ the system page, and only then can a free frame's
 *  memory be released (MADV_DONTNEED through the page source). Each frame
 *  has a record in a segment of SEG_SIZE records: its 48-byte descriptor,
 *  then the page's extra bytes, rounded to a cache-line multiple (ADR 0023,
 *  session 12: a hit's descriptor line is the line before SQLite's PgHdr,
 *  which it reads next).
 */
#include "bufpool_internal.h"
#include "rustymem/pcache.h"
#include "rustymem/stats.h"

#include <linux/futex.h>
#include <string.h>
#include <sys/syscall.h>

#define ST_PINNED   (1ull << 0)
#define ST_INVALID  (1ull << 1)
#define ST_REF      (1ull << 2)
#define ST_T1       (1ull << 3)
#define ST_RELEASED (1ull << 4)   /* free frame whose data was given back; guarded by mu */
#define ST_PARKED   (1ull << 5)   /* pinned page taken off its policy's lists (set under mu) */
#define ST_SEEN     (1ull << 6)   /* an eviction met this page pinned; cleared by unpin */
#define ST_FREQ_SHIFT 8
#define ST_FREQ_MASK  (0xFull << ST_FREQ_SHIFT)
#define ST_FREQ_ONE   (1ull << ST_FREQ_SHIFT)
#define ST_VER_ONE    (1ull << 32)
#define ST_VER_MASK   (0xFFFFFFFFull << 32)

#define KEY_NONE UINT64_MAX
#define SEG_SHIFT 8
#define SEG_SIZE (1u << SEG_SHIFT)
#define NSEGS (RM_PCACHE_FRAMES_MAX >> SEG_SHIFT)
#define CHUNK_DATA_BYTES (64u << 10)   /* page data per chunk mapping */
#define FIRST_CHUNK_DATA_BYTES (16u << 10)   /* a cache's first chunk: a piece rm__bp_mem_free keeps */
#define POLICY_START 16u               /* initial policy capacity, pages */
#define CHEAP_PINNED_PCT 90            /* CREATE_CHEAP refuses at this share of pinned pages */
#define PARK_BUF 64u                   /* pinned pages one eviction can take off the hands */

/* A frame's descriptor: 48 bytes, at the start of its record, with the page's
 * extra bytes right behind it in the same record (records are 64-byte
 * aligned). SQLite reads its PgHdr, at the start of the extra, right after a
 * fetch: the hit's descriptor line then holds PgHdr's first 16 bytes and is
 * the line next to the rest (pcache1 keeps its PgHdr1 beside the extra the
 * same way). */
typedef struct pc_frame {
    rm_pcache_page_t pg;        /* first: a frame pointer is a page pointer */
    _Atomic uint64_t state;
    _Atomic uint64_t key;       /* KEY_NONE when free; written under mu (release) */
    rm_pcache_t *cache;
    uint32_t idx;
    uint32_t next_free;         /* free-list link; guarded by mu */
} pc_frame_t;
_Static_assert(sizeof(pc_frame_t) == 48, "pc_frame_t: 48 bytes, the extra follows");

struct rm_pcache {
    /* read by every hit and unpin: the first line */
    unsigned char **seg;        /* NSEGS segments of SEG_SIZE records; written under mu */
    size_t rec_bytes;           /* a frame's record: descriptor + extra, 64-byte multiple */
    _Atomic(rm__bp_ptab_t *) ptab;  /* published under mu, read lock-free */
    _Atomic uint64_t ptab_rm_seq;   /* odd while a removal shifts ptab's slots; written under mu
                                     * (ptab_remove_locked), read by the serialized hit path */
    int serialized;             /* the pool's serialized_caches: hits and npinned are the caller's */
    int purgeable;
    rm__bp_earc_t *pol;         /* NULL for a non-purgeable cache; guarded by mu */
    _Atomic size_t limit;       /* pages: the cache size as set, at least RM_PCACHE_CACHESIZE_MIN;
                                 * written under mu, read by every unpin (limit_of) */
    _Atomic uint64_t npages;    /* written under mu */
    rm_pcache_pool_t *pool;     /* read by unpin (budget) and every locked path */

    /* changed by hits and unpins: the second line */
    _Atomic int64_t npinned;    /* changed by pins (lock-free) and unpins; serialized: by the
                                 * cache's caller only (pinned pages are never evicted) */
    _Atomic int64_t t1_refs;    /* frames with T1 and REF (see bufpool.c) */
    _Atomic uint64_t hits;
    _Atomic int64_t nparked;    /* frames with ST_PARKED: + under mu, − by unpin (lock-free) or drop */
    /* written under mu (cnt_add); misses and refused also by a serialized cache's own
     * lock-free path (fetch_lockfree's lookup miss, fetch_locked_result's exact-miss refusal) */
    _Atomic uint64_t misses, evictions, stolen, discards, refused, failed;
    uint64_t hits_reported;     /* guarded by mu */
    size_t cachesize;           /* pages, as set (the stats' value); guarded by mu */

    rm_pcache_t *prev, *next;   /* the pool's list; guarded by pool->mu */
    size_t page_size, extra_size, extra_stride; /* bytes */
    size_t extra_zero;          /* bytes of a new page's extra zeroed (≤ extra_size); written under mu */
    uint64_t frame_bytes;       /* page_size + extra_size: a page's cost against the budget */
    uint32_t chunk_frames;
    uint32_t first_chunk_frames;  /* the first chunk's (chunk_frames_at) */

    size_t seg_bytes;
    uint32_t nsegs;             /* guarded by mu */
    uint32_t mapped;            /* frames with memory; guarded by mu */
    uint32_t free_head;         /* free-list stack through next_free; guarded by mu */
    uint32_t nfree;             /* guarded by mu */
    uint32_t released;          /* free frames with RELEASED; guarded by mu */
    size_t chunk_bytes;         /* bytes mapped for chunks; guarded by mu */
    size_t held;                /* what this cache adds to pool->held; guarded by mu */

    rm__bp_ptab_t *retired;         /* guarded by mu */

    uint32_t pol_slots, pol_cap;/* guarded by mu */
    uint64_t steal_gen;         /* pool->gen at which its policy found nothing; guarded by mu */
    uint32_t park_n;            /* guarded by mu */
    uint32_t park_buf[PARK_BUF];/* slots an eviction found pinned; guarded by mu */
} RM_ALIGNED_CL;

struct rm_pcache_pool {
    const rm_pagesrc_t *src;
    int serialized;             /* rm_pcache_pool_config_t.serialized_caches */
    rm__bp_lock_t mu;           /* the pool lock (a futex word, bufpool_internal.h) */
    _Atomic uint64_t budget;    /* bytes; written under mu */
    _Atomic uint64_t used;      /* resident page bytes; written under mu */
    _Atomic uint64_t held;      /* frame memory not given back + metadata; written under mu */
    rm_pcache_t *caches;        /* guarded by mu */
    _Atomic uint64_t ncaches;
    uint64_t gen;               /* one per search for room; guarded by mu */
    /* counters of destroyed caches; guarded by mu */
    uint64_t gone_hits, gone_misses, gone_evictions, gone_stolen, gone_discards, gone_refused,
        gone_failed, gone_b1, gone_b2, gone_rejects;
    rm_stats_handle_t *stats_handle;
};

/* ---- the pool lock's contended paths (bufpool_internal.h's rm__bp_lock_t) ---------- */

static void
lock_futex(_Atomic uint32_t *w, int op, uint32_t val)
{
    (void)syscall(SYS_futex, (uint32_t *)w, op | FUTEX_PRIVATE_FLAG, val, NULL, NULL, 0);
}

/* The CAS 0 → 1 failed: mark the word contended (2) and sleep while another
 * thread holds it. The exchange that finds it 0 takes it (acquire), still
 * marked 2, so its unlock wakes the next waiter, if any. A wait interrupted or
 * outdated (the word no longer 2) only loops. */
void
rm__bp_lock_wait(rm__bp_lock_t *l)
{
    while (atomic_exchange_explicit(&l->word, 2, memory_order_acquire) != 0)
        lock_futex(&l->word, FUTEX_WAIT, 2);
}

void
rm__bp_lock_wake(rm__bp_lock_t *l)
{
    lock_futex(&l->word, FUTEX_WAKE, 1);
}

/* A counter only one thread at a time changes (under mu, or a serialized
 * cache's misses by its own call): a relaxed load and store, no locked
 * instruction; readers still see whole values. */
static inline void
cnt_add(_Atomic uint64_t *c, uint64_t n)
{
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n, memory_order_relaxed);
}

static inline uint64_t
ld(const _Atomic uint64_t *c)
{
    return atomic_load_explicit(c, memory_order_relaxed);
}

/* Counters that only calls on the cache itself change (hits; npinned, since
 * evictions never touch a pinned page). When the host serialises the calls
 * on each cache (serialized_caches), a relaxed load and store: no locked
 * instruction on the hit path, and readers (stats, other caches' steals)
 * still read whole values. Otherwise an atomic add. */
static inline void
own_add(const rm_pcache_t *c, _Atomic uint64_t *x, uint64_t d)
{
    if (c->serialized)
        cnt_add(x, d);
    else
        atomic_fetch_add_explicit(x, d, memory_order_relaxed);
}

static inline void
own_pinned(const rm_pcache_t *c, int64_t d)
{
    _Atomic int64_t *x = (_Atomic int64_t *)&c->npinned;
    if (c->serialized)
        atomic_store_explicit(x, atomic_load_explicit(x, memory_order_relaxed) + d, memory_order_relaxed);
    else
        atomic_fetch_add_explicit(x, d, memory_order_relaxed);
}

static inline pc_frame_t *
frame_at(const rm_pcache_t *c, uint32_t idx)
{
    return (pc_frame_t *)(c->seg[idx >> SEG_SHIFT] + (size_t)(idx & (SEG_SIZE - 1)) * c->rec_bytes);
}

static uint64_t
key_of(void *ctx, uint32_t idx)
{
    return atomic_load_explicit(&frame_at(ctx, idx)->key, memory_order_relaxed);
}

/* Limit on pages before a purgeable cache recycles its own: the cache size,
 * at least RM_PCACHE_CACHESIZE_MIN — clamped when it is set (cachesize_set),
 * not at each of the ≈ 3 M reads a speedtest1 run makes (ADR 0023, session 15). */
static uint64_t
limit_of(const rm_pcache_t *c)
{
    return atomic_load_explicit(&c->limit, memory_order_relaxed);
}

/* Record cache size `pages` and its limit. Under mu, or before c is shared. */
static void
cachesize_set(rm_pcache_t *c, size_t pages)
{
    c->cachesize = pages;
    atomic_store_explicit(&c->limit, pages < RM_PCACHE_CACHESIZE_MIN ? RM_PCACHE_CACHESIZE_MIN : pages,
                          memory_order_relaxed);
}

/* The most pages c could hold: its limit, and what the whole budget buys. The
 * policy's capacity never exceeds it, so a cache bounded by the budget runs
 * the same ARC (window, main size, ghost bounds) as one bounded by its size. */
static uint64_t
capacity_bound(const rm_pcache_t *c)
{
    uint64_t lim = limit_of(c), bf = ld(&c->pool->budget) / c->frame_bytes;
    if (bf < RM_PCACHE_CACHESIZE_MIN)
        bf = RM_PCACHE_CACHESIZE_MIN;
    return lim < bf ? lim : bf;
}

/* ---- policy callbacks (under mu; ctx = cache) ------------------------------------ */

static const rm__bp_stbits_t PC_STBITS = {
    .ref = ST_REF, .t1 = ST_T1, .grace = 0,   /* no read-ahead: every ref counts */
    .freq_mask = ST_FREQ_MASK, .freq_shift = ST_FREQ_SHIFT,
};

/* A hand met pinned page `slot` (state s): met the first time since its pin,
 * mark it; met again, park it once the policy is done (park_flush_locked). */
static void
met_pinned(rm_pcache_t *c, pc_frame_t *f, uint32_t slot, uint64_t s)
{
    if (!(s & ST_SEEN))
        atomic_fetch_or_explicit(&f->state, ST_SEEN, memory_order_relaxed);
    else if (c->park_n < PARK_BUF)
        c->park_buf[c->park_n++] = slot;
}

static int
pol_test_clear_ref(void *ctx, uint32_t slot)
{
    rm_pcache_t *c = ctx;
    uint64_t s;
    if (!rm__bp_st_test_clear_ref(PC_STBITS, &frame_at(c, slot)->state, &c->t1_refs, &s))
        return 0;
    return (s & ST_REF) ? 1 : 0;
}

/* Claim an unpinned page for eviction: INVALID and a new version, so that a
 * hit that read the old state fails its CAS. */
static int
pol_try_claim(void *ctx, uint32_t slot)
{
    rm_pcache_t *c = ctx;
    pc_frame_t *f = frame_at(c, slot);
    uint64_t s = atomic_load_explicit(&f->state, memory_order_relaxed);
    for (;;) {
        if (s & (ST_PINNED | ST_INVALID)) {
            if ((s & ST_PINNED) && !(s & ST_INVALID))
                met_pinned(c, f, slot, s);
            return 0;
        }
        if (atomic_compare_exchange_weak_explicit(&f->state, &s, (s | ST_INVALID) + ST_VER_ONE,
                                                  memory_order_acq_rel, memory_order_relaxed))
            return 1;
    }
}

RM__BP_STATE_POLICY_OPS(pcache_ops, rm_pcache_t, frame_at, PC_STBITS, pol_test_clear_ref, pol_try_claim);

/* The frames' layout for the policy (rm__bp_stview_t): its CAR mode runs the
 * state-word callbacks above inline, with the same results; pol_try_claim
 * and the ageing stay calls (ADR 0023, session 13). */
static void
pol_set_layout(rm_pcache_t *c)
{
    _Static_assert(RM_BP_SV_SEG_SHIFT == SEG_SHIFT && RM_BP_SV_STATE_OFF == offsetof(pc_frame_t, state) &&
                       RM_BP_SV_REF == ST_REF && RM_BP_SV_T1 == ST_T1 &&
                       RM_BP_SV_FREQ_SHIFT == ST_FREQ_SHIFT && RM_BP_SV_FREQ_MASK == ST_FREQ_MASK,
                   "the policy's view of a frame (bufpool_internal.h) is this file's layout");
    const rm__bp_stview_t v = {
        .seg = (unsigned char *const *)c->seg, .rec_bytes = c->rec_bytes, .t1_refs = &c->t1_refs};
    rm__bp_earc_set_stview(c->pol, &v);
}

/* ---- memory accounting --------------------------------------------------------------- */

/* Recompute what the cache holds (chunks not given back + metadata) and move
 * the pool's total by the difference. Requires mu. */
static void
refresh_held_locked(rm_pcache_t *c)
{
    RM_BP_ASSERT_LOCKED(&c->pool->mu);
    size_t b = sizeof *c + (size_t)c->nsegs * (SEG_SIZE * c->rec_bytes + sizeof(unsigned char *)) +
               c->chunk_bytes - (c->page_size >= rm_page_size() ? (size_t)c->released * c->page_size : 0);
    if (c->pol)
        b += rm__bp_earc_bytes(c->pol);
    rm__bp_ptab_t *t = atomic_load_explicit(&c->ptab, memory_order_relaxed);
    if (t)
        b += t->bytes;
    for (rm__bp_ptab_t *r = c->retired; r; r = r->retired_next)
        b += r->bytes;
    uint64_t h = ld(&c->pool->held);
    atomic_store_explicit(&c->pool->held, h - c->held + b, memory_order_relaxed);
    c->held = b;
}

static void
report_usage(void *ctx, rm_component_usage_t *out)
{
    /* used: resident pages; held: frame memory not given back (free frames
     * included) and metadata. The metadata is in use as long as the pool is. */
    rm_pcache_pool_t *pool = ctx;
    uint64_t held = ld(&pool->held), used = ld(&pool->used);
    out->used_bytes = used < held ? used : held;
    out->held_bytes = held;
}

/* ---- frames ------------------------------------------------------------------------- */

static void
free_push_locked(rm_pcache_t *c, pc_frame_t *f, int release)
{
    RM_BP_ASSERT_LOCKED(&c->pool->mu);
    uint64_t s = atomic_load_explicit(&f->state, memory_order_relaxed);
    assert(s & ST_INVALID);
    const rm_pagesrc_t *src = c->pool->src;
    if (release && !(s & ST_RELEASED) && c->page_size >= rm_page_size() && src->methods->release) {
        src->methods->release(src->ctx, f->pg.buf, c->page_size);
        atomic_store_explicit(&f->state, s | ST_RELEASED, memory_order_relaxed);
        c->released++;
    } else if (config_debug && (s & ST_RELEASED) == 0)
        memset(f->pg.buf, RM_FILL_FREE, c->page_size);   /* a stale pointer reads garbage */
    f->next_free = c->free_head;
    c->free_head = f->idx;
    c->nfree++;
}

static pc_frame_t *
free_pop_locked(rm_pcache_t *c)
{
    RM_BP_ASSERT_LOCKED(&c->pool->mu);
    if (!c->nfree)
        return NULL;
    pc_frame_t *f = frame_at(c, c->free_head);
    c->free_head = f->next_free;
    c->nfree--;
    uint64_t s = atomic_load_explicit(&f->state, memory_order_relaxed);
    if (s & ST_RELEASED) {
        atomic_store_explicit(&f->state, s & ~ST_RELEASED, memory_order_relaxed);
        c->released--;
    }
    return f;
}

/* Frames of chunk `first` (the frame it starts at): the first chunk is
 * first_chunk_frames, the others chunk_frames, the last one cut at
 * RM_PCACHE_FRAMES_MAX. The first is small (16 KiB of 4 KiB pages) because
 * SQLite creates a cache for every temporary b-tree and most of them hold a
 * page or two: a piece that small is kept for the next cache by
 * rm__bp_mem_free instead of an mmap and an munmap per statement (ADR 0023,
 * session 15). */
static inline uint32_t
chunk_frames_at(const rm_pcache_t *c, uint32_t first)
{
    uint32_t k = first == 0 ? c->first_chunk_frames : c->chunk_frames;
    if (k > RM_PCACHE_FRAMES_MAX - first)
        k = RM_PCACHE_FRAMES_MAX - first;
    return k;
}

/* Bytes of chunk `first`'s page data. */
static size_t
chunk_bytes_at(const rm_pcache_t *c, uint32_t first)
{
    return rm__align_up((size_t)chunk_frames_at(c, first) * c->page_size, rm_page_size());
}

/* Map one chunk of frames' page data and put the frames on the free list;
 * their records (descriptor and extra) are initialised here, so a segment's
 * memory is touched only as its frames are mapped. Requires mu.
 * RM_ENOMEM: nothing changed (a segment allocated here may stay: harmless). */
static rm_status_t
map_chunk_locked(rm_pcache_t *c)
{
    RM_BP_ASSERT_LOCKED(&c->pool->mu);
    uint32_t k = chunk_frames_at(c, c->mapped);
    if (k == 0)
        return RM_ENOMEM;
    const rm_pagesrc_t *src = c->pool->src;
    size_t bytes = chunk_bytes_at(c, c->mapped);
    unsigned char *base = rm__bp_mem_alloc(src, bytes);
    if (!base)
        return RM_ENOMEM;
    uint32_t first = c->mapped, last = c->mapped + k - 1;
    for (uint32_t s = first >> SEG_SHIFT; s <= last >> SEG_SHIFT; s++) {
        if (c->seg[s])
            continue;
        unsigned char *seg = rm__bp_mem_alloc(src, SEG_SIZE * c->rec_bytes);
        if (!seg)
            goto fail;
        c->seg[s] = seg;
        c->nsegs++;
    }
    if (c->pol && last + 1 > c->pol_slots) {
        if (rm__bp_earc_resize(c->pol, last + 1, c->pol_cap) != RM_OK)
            goto fail;
        c->pol_slots = last + 1;
    }
    c->chunk_bytes += bytes;
    for (uint32_t i = k; i-- > 0;) {
        pc_frame_t *f = frame_at(c, first + i);
        atomic_init(&f->state, ST_INVALID);
        atomic_init(&f->key, KEY_NONE);
        f->cache = c;
        f->idx = first + i;
        f->pg.buf = base + (size_t)i * c->page_size;
        f->pg.extra = c->extra_size ? (unsigned char *)f + sizeof(pc_frame_t) : NULL;
        free_push_locked(c, f, 0);
    }
    c->mapped = last + 1;
    refresh_held_locked(c);
    return RM_OK;

fail:
    rm__bp_mem_free(src, base, bytes);
    refresh_held_locked(c);
    return RM_ENOMEM;
}

/* Room in the page table for `pages` resident pages. Requires mu. */
static rm_status_t
ptab_ensure_locked(rm_pcache_t *c, uint64_t pages)
{
    RM_BP_ASSERT_LOCKED(&c->pool->mu);
    rm__bp_ptab_t *t = atomic_load_explicit(&c->ptab, memory_order_relaxed);
    if (t && pages * 2 <= t->mask + 1)
        return RM_OK;
    rm__bp_ptab_t *nt = rm__bp_ptab_create((size_t)pages * 4, c->pool->src);
    if (!nt)
        return RM_ENOMEM;
    if (t) {
        for (uint32_t i = 0; i < c->mapped; i++) {
            uint64_t k = key_of(c, i);
            if (k != KEY_NONE)
                rm__bp_ptab_insert_locked(nt, k, i);
        }
        t->retired_next = c->retired;
        c->retired = t;
    }
    atomic_store_explicit(&c->ptab, nt, memory_order_release);
    refresh_held_locked(c);
    return RM_OK;
}

/* Grow the policy's capacity toward `pages` (doubling, capped at the cache
 * size). A failure keeps the smaller capacity: the policy still works, its
 * window holding the extra pages. Requires mu. */
static void
policy_grow_locked(rm_pcache_t *c, uint64_t pages)
{
    RM_BP_ASSERT_LOCKED(&c->pool->mu);
    if (!c->pol || c->pol_cap >= pages)
        return;
    uint64_t lim = capacity_bound(c);
    if (c->pol_cap >= lim)
        return;
    uint64_t n = (uint64_t)c->pol_cap * 2;
    if (n < pages)
        n = pages;
    if (n > lim)
        n = lim;
    uint32_t slots = c->pol_slots > n ? c->pol_slots : (uint32_t)n;
    if (rm__bp_earc_resize(c->pol, slots, (uint32_t)n) == RM_OK) {
        c->pol_cap = (uint32_t)n;
        c->pol_slots = slots;
        refresh_held_locked(c);
    }
}

/* Shrink the policy's capacity to capacity_bound() after the cache size or
 * the budget went down (after the evictions, as the file-backed pool's
 * shrink does). A failure keeps the larger capacity. Requires mu. */
static void
policy_fit_locked(rm_pcache_t *c)
{
    RM_BP_ASSERT_LOCKED(&c->pool->mu);
    uint64_t b = capacity_bound(c);
    if (c->pol && c->pol_cap > b && rm__bp_earc_resize(c->pol, c->pol_slots, (uint32_t)b) == RM_OK) {
        c->pol_cap = (uint32_t)b;
        refresh_held_locked(c);
    }
}

/* Remove (key → idx) from c's page table inside a sequence bump: odd while
 * the backward shift moves slots (a lock-free probe may then miss a present
 * page), even after. A serialized cache's fetch compares the sequence around
 * its probe: unchanged and even, a miss is exact (nothing else inserts into a
 * serialized cache's table), so it skips the second probe under mu, and a
 * lookup-only miss takes no lock at all. Requires mu. */
static inline __attribute__((always_inline)) void
ptab_remove_locked(rm_pcache_t *c, rm__bp_ptab_t *t, uint64_t key, uint32_t idx)
{
    RM_BP_ASSERT_LOCKED(&c->pool->mu);
    uint64_t q = ld(&c->ptab_rm_seq);
    atomic_store_explicit(&c->ptab_rm_seq, q + 1, memory_order_relaxed);
    /* no fence: every slot the shift writes is a release store, so a probe
     * that reads a moved or cleared slot (acquire) also sees the odd value */
    rm__bp_ptab_remove_inline(t, key, idx, key_of, c);   /* key_of inlined */
    atomic_store_explicit(&c->ptab_rm_seq, q + 2, memory_order_release);
}

/* Take page f (claimed or being dropped: INVALID set by the caller) out of
 * the page table and the accounting. Requires mu. */
static inline __attribute__((always_inline)) void
unpublish_locked(rm_pcache_t *c, pc_frame_t *f)
{
    RM_BP_ASSERT_LOCKED(&c->pool->mu);
    uint64_t key = atomic_load_explicit(&f->key, memory_order_relaxed);
    ptab_remove_locked(c, atomic_load_explicit(&c->ptab, memory_order_relaxed), key, f->idx);
    atomic_store_explicit(&f->key, KEY_NONE, memory_order_release);
    uint64_t s = atomic_load_explicit(&f->state, memory_order_relaxed);
    atomic_store_explicit(&f->state, (s & ST_VER_MASK) | ST_INVALID, memory_order_release);
    atomic_store_explicit(&c->npages, ld(&c->npages) - 1, memory_order_relaxed);
    atomic_store_explicit(&c->pool->used, ld(&c->pool->used) - c->frame_bytes, memory_order_relaxed);
}

/* Take the pinned pages the last eviction met off the policy's lists
 * (ST_PARKED), so that no later eviction walks them again; rm_pcache_unpin
 * gives each back to the policy when it is unpinned. A page unpinned since it
 * was met, or claimed after all, stays where it is. 1 if any was parked.
 * Requires mu. */
static int
park_flush_locked(rm_pcache_t *c)
{
    RM_BP_ASSERT_LOCKED(&c->pool->mu);
    int any = 0;
    for (uint32_t i = 0; i < c->park_n; i++) {
        uint32_t slot = c->park_buf[i];
        pc_frame_t *f = frame_at(c, slot);
        uint64_t s = atomic_load_explicit(&f->state, memory_order_relaxed);
        do {
            if ((s & (ST_PINNED | ST_INVALID | ST_PARKED)) != ST_PINNED)
                goto next;
        } while (!atomic_compare_exchange_weak_explicit(&f->state, &s, s | ST_PARKED,
                                                        memory_order_relaxed, memory_order_relaxed));
        rm__bp_earc_remove(c->pol, slot);
        atomic_fetch_add_explicit(&c->nparked, 1, memory_order_relaxed);
        any = 1;
    next:;
    }
    c->park_n = 0;
    return any;
}

/* Give parked frame f, just unpinned, back to c's policy: T1's MRU end, past
 * the admission window (it earned its place while pinned), as pcache1 puts an
 * unpinned page at its LRU's MRU end. Measured on speedtest1 against the window
 * (rm__bp_earc_admit) and T1 with the reference bit set: fewer misses at 5 %
 * and 10 % cache sizes (ADR 0023).
 * Nothing if the frame changed meanwhile (dropped, reinstalled, parked again,
 * or already back through a rekey). Requires mu. */
static void
unpark_locked(rm_pcache_t *c, pc_frame_t *f)
{
    RM_BP_ASSERT_LOCKED(&c->pool->mu);
    uint64_t s = atomic_load_explicit(&f->state, memory_order_relaxed);
    uint64_t key = atomic_load_explicit(&f->key, memory_order_relaxed);
    if (!c->pol || (s & (ST_INVALID | ST_PARKED)) || key == KEY_NONE ||
        rm__bp_earc_contains(c->pol, f->idx))
        return;
    rm__bp_earc_admit_main(c->pol, f->idx, key);
}

/* Evict one unpinned page of c chosen by its policy; the frame stays claimed
 * (INVALID, off every list) for the caller. NULL when nothing is evictable.
 * Pinned pages the policy's hands meet are parked (park_flush_locked): each
 * is walked over at most once per pin, so an eviction costs O(1) amortised
 * however much of the cache SQLite holds pinned (dirty pages), and a pinned
 * page is never evicted. Requires mu. */
static pc_frame_t *
evict_own_locked(rm_pcache_t *c)
{
    RM_BP_ASSERT_LOCKED(&c->pool->mu);
    if (!c->pol || (int64_t)ld(&c->npages) <= atomic_load_explicit(&c->nparked, memory_order_relaxed))
        return NULL;
    c->park_n = 0;
    uint32_t v = rm__bp_earc_evict(c->pol);
    /* the hands gave up over pinned pages: now that those are parked, the
     * policy's lists hold only pages that were unpinned when met (most
     * evictions met none: no call) */
    while (c->park_n && park_flush_locked(c) && v == RM_BP_NIL)
        v = rm__bp_earc_evict(c->pol);
    if (v == RM_BP_NIL && (int64_t)ld(&c->npages) > atomic_load_explicit(&c->nparked, memory_order_relaxed)) {
        /* the policy's hands gave up with unparked pages left (pinned since
         * they were met, or the tries ran out); the contract is "fail only
         * when every page is pinned", so look at all */
        for (uint32_t i = 0; i < c->mapped; i++) {
            if (rm__bp_earc_contains(c->pol, i) && pol_try_claim(c, i)) {
                rm__bp_earc_remove(c->pol, i);
                v = i;
                break;
            }
        }
        (void)park_flush_locked(c);
    }
    if (v == RM_BP_NIL)
        return NULL;
    pc_frame_t *f = frame_at(c, v);
    unpublish_locked(c, f);
    cnt_add(&c->evictions, 1);
    return f;
}

/* Drop resident page f of c (discard, truncate, rekey, destroy), pinned or
 * not, without a ghost. Requires mu. */
static void
drop_locked(rm_pcache_t *c, pc_frame_t *f, int release)
{
    RM_BP_ASSERT_LOCKED(&c->pool->mu);
    if (c->pol)
        rm__bp_earc_remove(c->pol, f->idx);
    uint64_t s = atomic_load_explicit(&f->state, memory_order_relaxed);
    while (!atomic_compare_exchange_weak_explicit(&f->state, &s, (s | ST_INVALID) + ST_VER_ONE,
                                                  memory_order_acq_rel, memory_order_relaxed))
        ;
    if (s & ST_PINNED)
        own_pinned(c, -1);
    if (s & ST_PARKED)
        atomic_fetch_sub_explicit(&c->nparked, 1, memory_order_relaxed);
    unpublish_locked(c, f);   /* clears ST_PARKED */
    free_push_locked(c, f, release);
}

/*
 * One page out of the purgeable cache whose bytes exceed its share of the
 * budget the most (shares ∝ cache size in bytes, each capped at the budget),
 * among caches that still have an unpinned page. Returns the claimed frame
 * (its cache in f->cache) or NULL. Requires mu.
 */
static pc_frame_t *
steal_one_locked(rm_pcache_pool_t *pool)
{
    RM_BP_ASSERT_LOCKED(&pool->mu);
    double budget = (double)ld(&pool->budget), sumw = 0;
    for (rm_pcache_t *x = pool->caches; x; x = x->next) {
        if (!x->pol)
            continue;
        double w = (double)limit_of(x) * (double)x->frame_bytes;
        sumw += w < budget ? w : budget;
    }
    for (;;) {
        rm_pcache_t *best = NULL;
        double best_excess = 0;
        for (rm_pcache_t *x = pool->caches; x; x = x->next) {
            uint64_t n = ld(&x->npages);
            if (!x->pol || x->steal_gen == pool->gen || n == 0 ||
                (int64_t)n <= atomic_load_explicit(&x->npinned, memory_order_relaxed))
                continue;
            double w = (double)limit_of(x) * (double)x->frame_bytes;
            double share = sumw > 0 ? budget * (w < budget ? w : budget) / sumw : 0;
            double excess = (double)n * (double)x->frame_bytes - share;
            if (!best || excess > best_excess) {
                best = x;
                best_excess = excess;
            }
        }
        if (!best)
            return NULL;
        pc_frame_t *f = evict_own_locked(best);
        if (f)
            return f;
        best->steal_gen = pool->gen;   /* everything there is pinned: skip it this time */
    }
}

/* Evict from the caches most above their shares until the pool is within
 * its budget. 1 if it is. Requires mu. */
static int
enforce_budget_locked(rm_pcache_pool_t *pool)
{
    RM_BP_ASSERT_LOCKED(&pool->mu);
    pool->gen++;
    while (ld(&pool->used) > ld(&pool->budget)) {
        pc_frame_t *f = steal_one_locked(pool);
        if (!f)
            return 0;
        free_push_locked(f->cache, f, 1);
        refresh_held_locked(f->cache);
    }
    return 1;
}

/* Evict c's unpinned pages until it holds at most `limit`. Requires mu. */
static void
enforce_limit_locked(rm_pcache_t *c, uint64_t limit, int release)
{
    RM_BP_ASSERT_LOCKED(&c->pool->mu);
    while (ld(&c->npages) > limit) {
        pc_frame_t *f = evict_own_locked(c);
        if (!f)
            break;
        free_push_locked(c, f, release);
    }
    if (release)
        refresh_held_locked(c);   /* frames kept with their memory change nothing held */
}

/* CREATE_CHEAP's refusals that need no search (pcache1's): the cache is over
 * its size, or 90 % of it (capped by the budget) is pinned. Reads only
 * atomics: under mu, or without it for a serialized cache's exact miss
 * (fetch_locked_result: the limit, npinned and the cache's own inserts are its
 * caller's; another cache's steal or a budget change only moves the answer
 * to a moment before or after it). */
static inline __attribute__((always_inline)) int
cheap_refused(const rm_pcache_t *c)
{
    if (!c->purgeable)
        return 0;
    uint64_t lim = limit_of(c), n = ld(&c->npages);
    uint64_t bf = ld(&c->pool->budget) / c->frame_bytes;
    uint64_t e = lim < bf ? lim : bf;
    if (e < RM_PCACHE_CACHESIZE_MIN)
        e = RM_PCACHE_CACHESIZE_MIN;
    int64_t p = atomic_load_explicit(&c->npinned, memory_order_relaxed);
    uint64_t pinned = p > 0 ? (uint64_t)p : 0;
    return n > lim || pinned >= e * CHEAP_PINNED_PCT / 100;
}

/*
 * A frame for a new page of c (rm_pcache_fetch's order). Returns RM_OK and a
 * claimed, unpublished frame; RM_EBUSY (*refused = 1 for a CREATE_CHEAP
 * refusal); RM_ENOMEM. Requires mu.
 */
static rm_status_t
obtain_frame_locked(rm_pcache_t *c, rm_pcache_create_t mode, pc_frame_t **out, int *refused)
{
    rm_pcache_pool_t *pool = c->pool;
    *refused = 0;
    *out = NULL;
    pool->gen++;
    uint64_t n = ld(&c->npages), fb = c->frame_bytes;
    if (c->purgeable) {
        uint64_t lim = limit_of(c);
        if (n >= lim) {
            pc_frame_t *f = evict_own_locked(c);
            if (f) {
                *out = f;
                return RM_OK;
            }
            if (mode == RM_PCACHE_CREATE_CHEAP) {
                *refused = 1;
                return RM_EBUSY;
            }
            /* FORCE: the cache size is advisory; grow past it if the budget allows */
        }
    }
    while (ld(&pool->used) + fb > ld(&pool->budget)) {
        pc_frame_t *f = steal_one_locked(pool);
        if (!f)
            return RM_EBUSY;   /* every purgeable page in the pool is pinned */
        if (f->cache == c) {
            *out = f;          /* our own page: reuse its frame */
            return RM_OK;
        }
        cnt_add(&f->cache->stolen, 1);
        free_push_locked(f->cache, f, 1);
        refresh_held_locked(f->cache);
    }
    pc_frame_t *f = free_pop_locked(c);
    if (!f && map_chunk_locked(c) == RM_OK)
        f = free_pop_locked(c);
    if (!f) {
        /* no memory for a new frame: recycle one of ours instead */
        f = evict_own_locked(c);
        if (!f)
            return RM_ENOMEM;
    }
    *out = f;
    return RM_OK;
}

/* Publish new page `key` in claimed frame f, pinned. Requires mu. */
static void
install_locked(rm_pcache_t *c, pc_frame_t *f, uint64_t key)
{
    RM_BP_ASSERT_LOCKED(&c->pool->mu);
    rm__bp_ptab_t *t = atomic_load_explicit(&c->ptab, memory_order_relaxed);
    atomic_store_explicit(&f->key, key, memory_order_release);
    if (c->extra_zero == sizeof(uint64_t)) {
        /* the SQLite adapter's 8 bytes (PgHdr.pPage): one store, not a call */
        const uint64_t zero = 0;
        memcpy(f->pg.extra, &zero, sizeof zero);
    } else if (c->extra_zero) {
        memset(f->pg.extra, 0, c->extra_zero);
    }
    if (config_debug)
        memset(f->pg.buf, RM_FILL_ALLOC, c->page_size);   /* the host fills a new page: never rely on zeros */
    rm__bp_ptab_insert_inline(t, key, f->idx);
    atomic_store_explicit(&c->npages, ld(&c->npages) + 1, memory_order_relaxed);
    atomic_store_explicit(&c->pool->used, ld(&c->pool->used) + c->frame_bytes, memory_order_relaxed);
    if (c->pol) {
        policy_grow_locked(c, ld(&c->npages));
        rm__bp_earc_admit(c->pol, f->idx, key);   /* may mark T1 in the state word */
    }
    /* a store, not a CAS: the frame is claimed (INVALID) and we hold mu, so
     * nothing else writes its state — a hit's CAS or an unpin's needs it
     * valid, and the policy's hands run under mu */
    uint64_t s = atomic_load_explicit(&f->state, memory_order_relaxed);
    atomic_store_explicit(&f->state, (s & (ST_VER_MASK | ST_T1)) | ST_PINNED, memory_order_release);
    own_pinned(c, 1);
}

/* ---- pool ------------------------------------------------------------------------------ */

void
rm_pcache_pool_config_default(rm_pcache_pool_config_t *c)
{
    if (!c)
        return;
    c->budget_bytes = 64ull << 20;
    c->pagesrc = NULL;
    c->serialized_caches = 0;
}

rm_status_t
rm_pcache_pool_create(const rm_pcache_pool_config_t *cfg, rm_pcache_pool_t **out)
{
    if (out)
        *out = NULL;
    if (!cfg || !out || cfg->budget_bytes == 0 || cfg->budget_bytes > RM_PCACHE_BUDGET_MAX)
        return RM_EINVAL;
    const rm_pagesrc_t *src = cfg->pagesrc ? cfg->pagesrc : rm_pagesrc_default();
    rm_pcache_pool_t *pool = rm__bp_mem_alloc(src, sizeof *pool);
    if (!pool)
        return RM_ENOMEM;
    pool->src = src;
    pool->serialized = cfg->serialized_caches != 0;
    rm__bp_lock_init(&pool->mu);
    atomic_init(&pool->budget, cfg->budget_bytes);
    atomic_init(&pool->used, 0);
    atomic_init(&pool->held, sizeof *pool);
    atomic_init(&pool->ncaches, 0);
    rm_status_t st = rm_stats_register("page_cache", report_usage, pool, &pool->stats_handle);
    if (st != RM_OK) {
        rm__bp_mem_free(src, pool, sizeof *pool);
        return st;
    }
    *out = pool;
    return RM_OK;
}

rm_status_t
rm_pcache_pool_destroy(rm_pcache_pool_t *pool)
{
    if (!pool)
        return RM_OK;
    rm__bp_lock(&pool->mu);
    int busy = pool->caches != NULL;
    rm__bp_unlock(&pool->mu);
    if (busy)
        return RM_EBUSY;
    rm_stats_unregister(pool->stats_handle);
    rm__bp_mem_free(pool->src, pool, sizeof *pool);
    return RM_OK;
}

rm_status_t
rm_pcache_pool_set_budget(rm_pcache_pool_t *pool, uint64_t budget_bytes)
{
    if (!pool || budget_bytes == 0 || budget_bytes > RM_PCACHE_BUDGET_MAX)
        return RM_EINVAL;
    rm__bp_lock(&pool->mu);
    atomic_store_explicit(&pool->budget, budget_bytes, memory_order_relaxed);
    int ok = enforce_budget_locked(pool);
    for (rm_pcache_t *c = pool->caches; c; c = c->next)
        policy_fit_locked(c);
    rm__bp_unlock(&pool->mu);
    return ok ? RM_OK : RM_EBUSY;
}

uint64_t
rm_pcache_pool_budget(const rm_pcache_pool_t *pool)
{
    return pool ? ld(&pool->budget) : 0;
}

/* ---- caches ---------------------------------------------------------------------------- */

static void
free_cache_memory(rm_pcache_t *c)
{
    const rm_pagesrc_t *src = c->pool->src;
    rm__bp_earc_destroy(c->pol);
    for (uint32_t i = 0; i < c->mapped; i += chunk_frames_at(c, i))
        rm__bp_mem_free(src, frame_at(c, i)->pg.buf, chunk_bytes_at(c, i));
    if (c->seg) {
        for (uint32_t s = 0; s < NSEGS && c->nsegs; s++)
            if (c->seg[s]) {
                rm__bp_mem_free(src, c->seg[s], SEG_SIZE * c->rec_bytes);
                c->nsegs--;
            }
        rm__bp_mem_free(src, c->seg, c->seg_bytes);
    }
    rm__bp_ptab_destroy(atomic_load_explicit(&c->ptab, memory_order_relaxed), src);
    while (c->retired) {
        rm__bp_ptab_t *n = c->retired->retired_next;
        rm__bp_ptab_destroy(c->retired, src);
        c->retired = n;
    }
    rm__bp_mem_free(src, c, sizeof *c);
}

rm_status_t
rm_pcache_create(rm_pcache_pool_t *pool, size_t page_size, size_t extra_size, int purgeable,
                 rm_pcache_t **out)
{
    if (out)
        *out = NULL;
    if (!pool || !out || !rm__is_pow2(page_size) || page_size < RM_PCACHE_PAGE_SIZE_MIN ||
        page_size > RM_PCACHE_PAGE_SIZE_MAX || extra_size > RM_PCACHE_EXTRA_MAX)
        return RM_EINVAL;
    const rm_pagesrc_t *src = pool->src;
    rm_pcache_t *c = rm__bp_mem_alloc(src, sizeof *c);
    if (!c)
        return RM_ENOMEM;
    c->pool = pool;
    c->page_size = page_size;
    c->extra_size = extra_size;
    c->extra_zero = extra_size;
    c->extra_stride = rm__align_up(extra_size, 8);
    c->frame_bytes = page_size + extra_size;
    c->purgeable = purgeable != 0;
    c->serialized = pool->serialized;
    c->chunk_frames = page_size >= CHUNK_DATA_BYTES ? 1 : CHUNK_DATA_BYTES / (uint32_t)page_size;
    c->first_chunk_frames = page_size >= FIRST_CHUNK_DATA_BYTES ? 1 : FIRST_CHUNK_DATA_BYTES / (uint32_t)page_size;
    cachesize_set(c, RM_PCACHE_CACHESIZE_DEFAULT);
    c->free_head = RM_BP_NIL;
    c->rec_bytes = rm__align_up(sizeof(pc_frame_t) + c->extra_stride, RM_CACHELINE);
    c->seg_bytes = NSEGS * sizeof(unsigned char *);
    c->seg = rm__bp_mem_alloc(src, c->seg_bytes);
    rm__bp_ptab_t *t = rm__bp_ptab_create(64, src);
    atomic_init(&c->ptab, t);
    if (!c->seg || !t)
        goto fail;
    if (c->purgeable) {
        uint64_t b = capacity_bound(c);
        c->pol_cap = b < POLICY_START ? (uint32_t)b : POLICY_START;
        c->pol_slots = POLICY_START;
        if (rm__bp_earc_create(c->pol_slots, c->pol_cap, &pcache_ops, c, src, &c->pol) != RM_OK)
            goto fail;
        pol_set_layout(c);
    }
    rm__bp_lock(&pool->mu);
    c->next = pool->caches;
    if (pool->caches)
        pool->caches->prev = c;
    pool->caches = c;
    atomic_store_explicit(&pool->ncaches, ld(&pool->ncaches) + 1, memory_order_relaxed);
    refresh_held_locked(c);
    rm__bp_unlock(&pool->mu);
    *out = c;
    return RM_OK;

fail:
    c->pol = NULL;
    free_cache_memory(c);
    return RM_ENOMEM;
}

void
rm_pcache_destroy(rm_pcache_t *c)
{
    if (!c)
        return;
    rm_pcache_pool_t *pool = c->pool;
    rm__bp_lock(&pool->mu);
    for (uint32_t i = 0; i < c->mapped; i++) {
        pc_frame_t *f = frame_at(c, i);
        if (atomic_load_explicit(&f->key, memory_order_relaxed) != KEY_NONE)
            drop_locked(c, f, 0);
    }
    pool->gone_hits += ld(&c->hits);
    pool->gone_misses += ld(&c->misses);
    pool->gone_evictions += ld(&c->evictions);
    pool->gone_stolen += ld(&c->stolen);
    pool->gone_discards += ld(&c->discards);
    pool->gone_refused += ld(&c->refused);
    pool->gone_failed += ld(&c->failed);
    if (c->pol) {
        rm__bp_earc_stats_t es;
        rm__bp_earc_stats(c->pol, &es);
        pool->gone_b1 += es.b1_hits;
        pool->gone_b2 += es.b2_hits;
        pool->gone_rejects += es.rejects;
    }
    if (c->prev)
        c->prev->next = c->next;
    else
        pool->caches = c->next;
    if (c->next)
        c->next->prev = c->prev;
    atomic_store_explicit(&pool->ncaches, ld(&pool->ncaches) - 1, memory_order_relaxed);
    atomic_store_explicit(&pool->held, ld(&pool->held) - c->held, memory_order_relaxed);
    rm__bp_unlock(&pool->mu);
    free_cache_memory(c);
}

rm_status_t
rm_pcache_set_cachesize(rm_pcache_t *c, size_t pages)
{
    if (!c || pages > RM_PCACHE_FRAMES_MAX)
        return RM_EINVAL;
    rm__bp_lock(&c->pool->mu);
    cachesize_set(c, pages);
    if (c->pol) {
        /* evict first, at the old capacity (as the file-backed pool's shrink
         * does), then give the policy its smaller size */
        enforce_limit_locked(c, limit_of(c), 1);
        policy_fit_locked(c);
    }
    rm__bp_unlock(&c->pool->mu);
    return RM_OK;
}

void
rm_pcache_set_extra_zero(rm_pcache_t *c, size_t bytes)
{
    if (!c)
        return;
    rm__bp_lock(&c->pool->mu);
    c->extra_zero = bytes < c->extra_size ? bytes : c->extra_size;
    rm__bp_unlock(&c->pool->mu);
}

size_t
rm_pcache_pagecount(const rm_pcache_t *c)
{
    return c ? (size_t)ld(&c->npages) : 0;
}

size_t
rm_pcache_page_size(const rm_pcache_t *c)
{
    return c ? c->page_size : 0;
}

size_t
rm_pcache_extra_size(const rm_pcache_t *c)
{
    return c ? c->extra_size : 0;
}

/* rm__bp_ptab_lookup with the key loads inlined (the hit path runs once per
 * SQLite page reference; the callback and the call were ~2 % of speedtest1):
 * the same probe sequence, the same acquire loads, so the same answers. */
static inline __attribute__((always_inline)) uint32_t
ptab_lookup_inline(const rm_pcache_t *c, const rm__bp_ptab_t *t, uint64_t key)
{
    /* the slots follow the header (rm__bp_ptab_create): no load of t->slots */
    const _Atomic uint32_t *slots = (const _Atomic uint32_t *)(t + 1);
    size_t i = rm__bp_ptab_home(t, key);
    for (size_t n = 0; n <= t->mask; n++) {
        uint32_t v = atomic_load_explicit(&slots[i], memory_order_acquire);
        if (v == 0)
            return RM_BP_NIL;
        if (atomic_load_explicit(&frame_at(c, v - 1)->key, memory_order_relaxed) == key)
            return v - 1;
        i = (i + 1) & t->mask;
    }
    return RM_BP_NIL;
}

/* Pin f, known to hold `key`, with the state word seen as `s`. 1 on success. */
static inline __attribute__((always_inline)) int
pin_cas(rm_pcache_t *c, pc_frame_t *f, uint64_t s)
{
    uint64_t ns = s | ST_PINNED | ST_REF;
    if ((ns & ST_FREQ_MASK) != ST_FREQ_MASK)
        ns += ST_FREQ_ONE;
    if (!atomic_compare_exchange_strong_explicit(&f->state, &s, ns, memory_order_acq_rel,
                                                 memory_order_relaxed))
        return 0;
    if (!(s & ST_PINNED))
        own_pinned(c, 1);
    if ((s & (ST_T1 | ST_REF)) == ST_T1)
        atomic_fetch_add_explicit(&c->t1_refs, 1, memory_order_relaxed);   /* first hit in T1 */
    own_add(c, &c->hits, 1);
    return 1;
}

static rm_status_t fetch_locked(rm_pcache_t *c, uint32_t key, rm_pcache_create_t mode,
                                rm_pcache_page_t **out, int exact_miss);

/* rm_pcache_fetch's lock-free part, shared by rm_pcache_fetch and
 * rm_pcache_fetch_page (c and mode already checked). Returns the page on a
 * hit. Otherwise NULL and *slow: 0 when the call is done (a serialized
 * cache's exact miss of a lookup, counted), else 1 + exact_miss for
 * fetch_locked. */
static inline __attribute__((always_inline)) rm_pcache_page_t *
fetch_lockfree(rm_pcache_t *c, uint32_t key, rm_pcache_create_t mode, int *slow)
{
    /* lock-free hit: state, then key, then a CAS on the state read first (its
     * version changes with the key, so a recycled frame fails the CAS) */
    /* read whatever the mode (every removal keeps it): no branch before the probe */
    uint64_t seq = atomic_load_explicit(&c->ptab_rm_seq, memory_order_acquire);
    rm__bp_ptab_t *t = atomic_load_explicit(&c->ptab, memory_order_acquire);
    uint32_t idx = ptab_lookup_inline(c, t, key);
    /* a serialized cache's miss is exact when no removal overlapped the
     * probe (ptab_remove_locked): only this cache's own calls insert */
    int exact_miss = 0;
    if (idx == RM_BP_NIL && c->serialized && !(seq & 1)) {
        /* no fence: the probe's slot loads are acquire, so this load comes
         * after them, and a slot a removal moved or cleared (a release store
         * after its odd value) makes it see that value */
        exact_miss = atomic_load_explicit(&c->ptab_rm_seq, memory_order_acquire) == seq;
    }
    if (exact_miss && mode == RM_PCACHE_LOOKUP) {
        cnt_add(&c->misses, 1);
        *slow = 0;
        return NULL;
    }
    if (idx != RM_BP_NIL) {
        pc_frame_t *f = frame_at(c, idx);
        for (int tries = 0; tries < 4; tries++) {
            uint64_t s = atomic_load_explicit(&f->state, memory_order_acquire);
            if ((s & ST_INVALID) || atomic_load_explicit(&f->key, memory_order_acquire) != key)
                break;
            if (c->serialized && (s & (ST_PINNED | ST_REF | ST_FREQ_MASK)) == (ST_PINNED | ST_REF | ST_FREQ_MASK)) {
                /* already pinned by this cache's caller, referenced and at
                 * the top frequency: the CAS would write what is there.
                 * Only the caller's own calls (serialized with this one)
                 * unpin, drop or rekey a pinned page, and no eviction claims
                 * it, so it holds `key` until we return. Other threads' hands
                 * may clear REF or age FREQ meanwhile: the hit is ordered
                 * before that, as a CAS that came first would be. SQLite
                 * fetches a page its cursors already hold for ~40 % of its
                 * hits (speedtest1, ADR 0023). */
                own_add(c, &c->hits, 1);
                return &f->pg;
            }
            if (pin_cas(c, f, s))
                return &f->pg;
        }
    }
    *slow = 1 + exact_miss;
    return NULL;
}

/* fetch_locked with both answers in registers: its own slot for the page,
 * so that the lock-free entries keep no stack slot of their own. */
static __attribute__((noinline)) rm_pcache_fetch_result_t
fetch_locked_result(rm_pcache_t *c, uint32_t key, rm_pcache_create_t mode, int exact_miss)
{
    /* CREATE_CHEAP's refusal test for a serialized cache's exact miss, here
     * and without mu (the same answer: a refusal changes nothing but its
     * counter, which for a serialized cache is its caller's, as the lock-free
     * lookup's misses are): ≈ 150 k pool-mutex round trips fewer in
     * speedtest1's 5 % run (ADR 0023, session 14). Otherwise under mu. */
    if (exact_miss && mode == RM_PCACHE_CREATE_CHEAP) {
        if (cheap_refused(c)) {
            own_add(c, &c->refused, 1);
            return (rm_pcache_fetch_result_t){NULL, RM_EBUSY};
        }
        exact_miss = 2;
    }
    rm_pcache_page_t *pg;
    rm_status_t st = fetch_locked(c, key, mode, &pg, exact_miss);   /* pg: the page, or NULL */
    return (rm_pcache_fetch_result_t){pg, st};
}

rm_pcache_fetch_result_t
rm_pcache_fetch_result(rm_pcache_t *c, uint32_t key, rm_pcache_create_t mode)
{
    if (__builtin_expect(!c || (unsigned)mode > (unsigned)RM_PCACHE_CREATE_FORCE, 0))
        return (rm_pcache_fetch_result_t){NULL, RM_EINVAL};
    int slow = 0;   /* set by fetch_lockfree whenever it returns NULL */
    rm_pcache_page_t *pg = fetch_lockfree(c, key, mode, &slow);
    if (pg)
        return (rm_pcache_fetch_result_t){pg, RM_OK};
    if (!slow)
        return (rm_pcache_fetch_result_t){NULL, RM_ENOENT};
    return fetch_locked_result(c, key, mode, slow - 1);
}

rm_status_t
rm_pcache_fetch(rm_pcache_t *c, uint32_t key, rm_pcache_create_t mode, rm_pcache_page_t **out)
{
    if (!out)
        return RM_EINVAL;
    rm_pcache_fetch_result_t r = rm_pcache_fetch_result(c, key, mode);
    *out = r.page;
    return r.status;
}

rm_pcache_page_t *
rm_pcache_fetch_page(rm_pcache_t *c, uint32_t key, rm_pcache_create_t mode)
{
    if (__builtin_expect(!c || (unsigned)mode > (unsigned)RM_PCACHE_CREATE_FORCE, 0))
        return NULL;
    int slow = 0;   /* set by fetch_lockfree whenever it returns NULL */
    rm_pcache_page_t *pg = fetch_lockfree(c, key, mode, &slow);
    if (pg || !slow)
        return pg;
    return fetch_locked_result(c, key, mode, slow - 1).page;
}

/* rm_pcache_fetch under mu: a miss, or a hit the lock-free probe could not
 * take (a removal overlapped it, or the pin lost four CAS races). Out of
 * line, so that the hit path keeps a small frame (ADR 0023, session 12).
 * exact_miss: 0 probe again under mu; 1 a serialized cache's exact miss (no
 * probe); 2 the same, with CREATE_CHEAP's refusal test already made and
 * passed (fetch_locked_result). */
static __attribute__((noinline)) rm_status_t
fetch_locked(rm_pcache_t *c, uint32_t key, rm_pcache_create_t mode, rm_pcache_page_t **out, int exact_miss)
{
    *out = NULL;
    rm_pcache_pool_t *pool = c->pool;
    /* exact_miss 2: CREATE_CHEAP's refusal test was made (fetch_locked_result) */
    int cheap_test = mode == RM_PCACHE_CREATE_CHEAP && exact_miss != 2;
    rm__bp_lock(&pool->mu);
    rm__bp_ptab_t *t = atomic_load_explicit(&c->ptab, memory_order_relaxed);
    uint32_t idx = exact_miss ? RM_BP_NIL : ptab_lookup_inline(c, t, key);
    if (idx != RM_BP_NIL) {
        /* exact under mu: no key changes while we hold it, only pins and unpins */
        pc_frame_t *f = frame_at(c, idx);
        while (!pin_cas(c, f, atomic_load_explicit(&f->state, memory_order_acquire)))
            ;
        rm__bp_unlock(&pool->mu);
        *out = &f->pg;
        return RM_OK;
    }
    if (mode == RM_PCACHE_LOOKUP) {
        cnt_add(&c->misses, 1);
        rm__bp_unlock(&pool->mu);
        return RM_ENOENT;
    }
    pc_frame_t *f = NULL;
    int refused = 0;
    rm_status_t st = RM_EBUSY;
    if (cheap_test && cheap_refused(c)) {
        refused = 1;
    } else {
        if (c->pol) {
            /* the miss reaches the policy before it picks a victim, as in
             * bufpool.c: ghost hits adapt p and the admission bias first */
            uint64_t h = ld(&c->hits);
            rm__bp_earc_note_hits(c->pol, h - c->hits_reported);
            c->hits_reported = h;
            rm__bp_earc_note_miss(c->pol, key);
        }
        st = obtain_frame_locked(c, mode, &f, &refused);
    }
    if (st == RM_OK && ptab_ensure_locked(c, ld(&c->npages) + 1) != RM_OK) {
        free_push_locked(c, f, 0);
        st = RM_ENOMEM;
    }
    if (st != RM_OK) {
        if (refused) {
            cnt_add(&c->refused, 1);
        } else {
            cnt_add(&c->misses, 1);
            cnt_add(&c->failed, 1);
            refresh_held_locked(c);
        }
        /* a refusal changed no memory (no frame mapped, released or taken):
         * nothing to recount (301 k of them at speedtest1's cache 344) */
        rm__bp_unlock(&pool->mu);
        return st;
    }
    install_locked(c, f, key);
    cnt_add(&c->misses, 1);
    rm__bp_unlock(&pool->mu);
    *out = &f->pg;
    return RM_OK;
}

/* 1 if `page` is a resident (valid) page of c. */
static int
page_valid(const rm_pcache_t *c, const rm_pcache_page_t *page)
{
    const pc_frame_t *f = (const pc_frame_t *)page;
    return page && f->cache == c &&
           !(atomic_load_explicit(&f->state, memory_order_acquire) & ST_INVALID);
}

/* rm_pcache_unpin's locked routes, out of line so that a plain unpin keeps a
 * small frame (ADR 0023, session 12). A discard: f must be c's pinned page. */
static __attribute__((noinline)) rm_status_t
unpin_discard(rm_pcache_t *c, pc_frame_t *f)
{
    rm_pcache_pool_t *pool = c->pool;
    rm__bp_lock(&pool->mu);
    uint64_t s = atomic_load_explicit(&f->state, memory_order_relaxed);
    if ((s & (ST_INVALID | ST_PINNED)) != ST_PINNED) {
        rm__bp_unlock(&pool->mu);
        return RM_EINVAL;
    }
    drop_locked(c, f, 0);
    cnt_add(&c->discards, 1);
    rm__bp_unlock(&pool->mu);
    return RM_OK;
}

/* After an unpin: a parked page goes back to its policy; over the cache size
 * or the budget (pinned pages kept it there): the pages unpinned now go, as
 * in pcache1. */
static __attribute__((noinline)) rm_status_t
unpin_locked(rm_pcache_t *c, pc_frame_t *f, int parked)
{
    rm_pcache_pool_t *pool = c->pool;
    rm__bp_lock(&pool->mu);
    if (parked)
        unpark_locked(c, f);
    enforce_limit_locked(c, limit_of(c), 0);
    (void)enforce_budget_locked(pool);
    rm__bp_unlock(&pool->mu);
    return RM_OK;
}

rm_status_t
rm_pcache_unpin(rm_pcache_t *c, rm_pcache_page_t *page, int discard)
{
    /* the state is checked by the discard path under mu and by the plain
     * unpin's CAS: only the owner is checked here */
    if (!c || !page || ((const pc_frame_t *)page)->cache != c)
        return RM_EINVAL;
    pc_frame_t *f = (pc_frame_t *)page;
    if (discard)
        return unpin_discard(c, f);
    /* a CAS, not an AND: a frame that is not a pinned resident page (or is
     * being changed under mu) is left exactly as it is */
    uint64_t s = atomic_load_explicit(&f->state, memory_order_relaxed);
    do {
        if ((s & (ST_INVALID | ST_PINNED)) != ST_PINNED)
            return RM_EINVAL;
    } while (!atomic_compare_exchange_weak_explicit(&f->state, &s, s & ~(ST_PINNED | ST_PARKED | ST_SEEN),
                                                    memory_order_release, memory_order_relaxed));
    own_pinned(c, -1);
    int parked = (s & ST_PARKED) != 0;
    if (parked)
        atomic_fetch_sub_explicit(&c->nparked, 1, memory_order_relaxed);
    if (parked || (c->pol && (ld(&c->npages) > limit_of(c) || ld(&c->pool->used) > ld(&c->pool->budget))))
        return unpin_locked(c, f, parked);
    return RM_OK;
}

rm_status_t
rm_pcache_rekey(rm_pcache_t *c, rm_pcache_page_t *page, uint32_t old_key, uint32_t new_key)
{
    if (!c || !page)
        return RM_EINVAL;
    pc_frame_t *f = (pc_frame_t *)page;
    rm_pcache_pool_t *pool = c->pool;
    rm__bp_lock(&pool->mu);
    rm_status_t st = RM_EINVAL;
    if (!page_valid(c, page) || atomic_load_explicit(&f->key, memory_order_relaxed) != old_key)
        goto out;
    st = RM_OK;
    if (old_key == new_key)
        goto out;
    rm__bp_ptab_t *t = atomic_load_explicit(&c->ptab, memory_order_relaxed);
    uint32_t other = rm__bp_ptab_lookup(t, new_key, key_of, c);
    if (other != RM_BP_NIL) {
        pc_frame_t *g = frame_at(c, other);
        if (atomic_load_explicit(&g->state, memory_order_relaxed) & ST_PINNED) {
            st = RM_EBUSY;
            goto out;
        }
        drop_locked(c, g, 0);
        cnt_add(&c->discards, 1);
    }
    if (c->pol)
        rm__bp_earc_remove(c->pol, f->idx);
    /* INVALID + version first: a hit that read the old state fails its CAS */
    uint64_t s = atomic_load_explicit(&f->state, memory_order_relaxed);
    while (!atomic_compare_exchange_weak_explicit(&f->state, &s, (s | ST_INVALID) + ST_VER_ONE,
                                                  memory_order_acq_rel, memory_order_relaxed))
        ;
    ptab_remove_locked(c, t, old_key, f->idx);
    atomic_store_explicit(&f->key, new_key, memory_order_release);
    rm__bp_ptab_insert_locked(t, new_key, f->idx);
    if (c->pol && !(s & ST_PARKED))   /* a parked page goes back at its unpin */
        rm__bp_earc_admit(c->pol, f->idx, new_key);
    atomic_fetch_and_explicit(&f->state, ~ST_INVALID, memory_order_release);
out:
    rm__bp_unlock(&pool->mu);
    return st;
}

rm_status_t
rm_pcache_truncate(rm_pcache_t *c, uint32_t limit, uint64_t *dropped)
{
    if (dropped)
        *dropped = 0;
    if (!c)
        return RM_EINVAL;
    uint64_t n = 0;
    rm__bp_lock(&c->pool->mu);
    for (uint32_t i = 0; i < c->mapped && ld(&c->npages); i++) {
        pc_frame_t *f = frame_at(c, i);
        uint64_t k = atomic_load_explicit(&f->key, memory_order_relaxed);
        if (k != KEY_NONE && k >= limit) {
            drop_locked(c, f, 0);
            n++;
        }
    }
    cnt_add(&c->discards, n);
    rm__bp_unlock(&c->pool->mu);
    if (dropped)
        *dropped = n;
    return RM_OK;
}

rm_status_t
rm_pcache_shrink(rm_pcache_t *c, uint64_t *evicted)
{
    if (evicted)
        *evicted = 0;
    if (!c)
        return RM_EINVAL;
    rm__bp_lock(&c->pool->mu);
    uint64_t before = ld(&c->evictions);
    enforce_limit_locked(c, 0, 1);
    /* free frames that still hold memory give it back too */
    for (uint32_t i = 0; i < c->mapped && c->page_size >= rm_page_size(); i++) {
        pc_frame_t *f = frame_at(c, i);
        uint64_t s = atomic_load_explicit(&f->state, memory_order_relaxed);
        if (atomic_load_explicit(&f->key, memory_order_relaxed) == KEY_NONE && !(s & ST_RELEASED) &&
            c->pool->src->methods->release) {
            c->pool->src->methods->release(c->pool->src->ctx, f->pg.buf, c->page_size);
            atomic_store_explicit(&f->state, s | ST_RELEASED, memory_order_relaxed);
            c->released++;
        }
    }
    refresh_held_locked(c);
    uint64_t n = ld(&c->evictions) - before;
    rm__bp_unlock(&c->pool->mu);
    if (evicted)
        *evicted = n;
    return RM_OK;
}

/* ---- stats ------------------------------------------------------------------------------- */

static void
add_policy_stats_locked(const rm_pcache_t *c, rm_pcache_stats_t *out)
{
    RM_BP_ASSERT_LOCKED(&c->pool->mu);
    if (!c->pol)
        return;
    rm__bp_earc_stats_t es;
    rm__bp_earc_stats(c->pol, &es);
    out->win_size += es.win;
    out->t1_size += es.t1 - es.t1_refs;   /* as rm_bufpool_stats: hit T1 pages count in T2 */
    out->t2_size += es.t2 + es.t1_refs;
    out->b1_size += es.b1;
    out->b2_size += es.b2;
    out->b1_ghost_hits += es.b1_hits;
    out->b2_ghost_hits += es.b2_hits;
    out->arc_p += es.p;
    out->admission_rejects += es.rejects;
}

static void
add_counters(const rm_pcache_t *c, rm_pcache_stats_t *out)
{
    out->pages += ld(&c->npages);
    int64_t p = atomic_load_explicit(&c->npinned, memory_order_relaxed);
    out->pinned += p > 0 ? (uint64_t)p : 0;
    int64_t pk = atomic_load_explicit(&c->nparked, memory_order_relaxed);
    out->parked += pk > 0 ? (uint64_t)pk : 0;
    out->hits += ld(&c->hits);
    out->misses += ld(&c->misses);
    out->evictions += ld(&c->evictions);
    out->stolen += ld(&c->stolen);
    out->discards += ld(&c->discards);
    out->create_refused += ld(&c->refused);
    out->create_failed += ld(&c->failed);
}

static void
finish_stats(rm_pcache_stats_t *out)
{
    uint64_t a = out->hits + out->misses;
    out->hit_ratio = a ? (double)out->hits / (double)a : 0.0;
}

rm_status_t
rm_pcache_stats(rm_pcache_t *c, rm_pcache_stats_t *out)
{
    if (!c || !out)
        return RM_EINVAL;
    memset(out, 0, sizeof *out);
    rm__bp_lock(&c->pool->mu);
    out->page_size = c->page_size;
    out->extra_size = c->extra_size;
    out->cachesize = c->cachesize;
    out->purgeable = c->purgeable;
    add_counters(c, out);
    out->used_bytes = out->pages * c->frame_bytes;
    out->held_bytes = c->held;
    out->budget_bytes = ld(&c->pool->budget);
    add_policy_stats_locked(c, out);
    out->caches = 1;
    rm__bp_unlock(&c->pool->mu);
    finish_stats(out);
    return RM_OK;
}

rm_status_t
rm_pcache_pool_stats(rm_pcache_pool_t *pool, rm_pcache_stats_t *out)
{
    if (!pool || !out)
        return RM_EINVAL;
    memset(out, 0, sizeof *out);
    out->purgeable = -1;
    rm__bp_lock(&pool->mu);
    for (rm_pcache_t *c = pool->caches; c; c = c->next) {
        add_counters(c, out);
        add_policy_stats_locked(c, out);
    }
    out->hits += pool->gone_hits;
    out->misses += pool->gone_misses;
    out->evictions += pool->gone_evictions;
    out->stolen += pool->gone_stolen;
    out->discards += pool->gone_discards;
    out->create_refused += pool->gone_refused;
    out->create_failed += pool->gone_failed;
    out->b1_ghost_hits += pool->gone_b1;
    out->b2_ghost_hits += pool->gone_b2;
    out->admission_rejects += pool->gone_rejects;
    out->used_bytes = ld(&pool->used);
    out->held_bytes = ld(&pool->held);
    out->budget_bytes = ld(&pool->budget);
    out->caches = ld(&pool->ncaches);
    rm__bp_unlock(&pool->mu);
    finish_stats(out);
    return RM_OK;
}
