/*
 * bufpool_internal.h — pieces of the buffer pool shared between its files.
 * Never installed.
 *
 *   bufpool_crc.c        CRC32C (SSE4.2 with a table fallback)
 *   bufpool_map.c        metadata memory from the page source, key→index map
 *   bufpool_arc.c        the Enhanced ARC policy
 *                        (used by the pool under its mutex and by the
 *                        simulator)
 *   bufpool_sim.c        the trace simulator: Enhanced ARC, classic ARC, LRU,
 *                        CLOCK, OPT
 *   bufpool_pagetable.c  the lock-free resident page table
 *   bufpool.c            frames, files, pin/unpin, I/O, writer, resize, stats
 */
#ifndef RUSTYMEM_BUFPOOL_INTERNAL_H
#define RUSTYMEM_BUFPOOL_INTERNAL_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "rm_internal.h"
#include "rustymem/bufpool.h"
#include "rustymem/pagesrc.h"
#include "rustymem/status.h"

#define RM_BP_NIL UINT32_MAX

/* ---- the page cache pool's lock ---------------------------------------------
 * A futex word (Drepper, "Futexes Are Tricky", mutex 3): 0 free, 1 held,
 * 2 held and maybe waited on. Lock: one CAS 0 → 1 (acquire); only when it
 * fails, the word goes to 2 and the thread sleeps in FUTEX_WAIT until an
 * exchange finds it free. Unlock: one exchange to 0 (release), FUTEX_WAKE of
 * one waiter only when it was 2. No spinning, as glibc's default mutex. Held
 * by the page cache's misses and evictions (bufpool_pcache.c): a
 * pthread_mutex_lock + unlock round trip there was ≈ 50 instructions, this one
 * ≈ 8 inline (ADR 0023, session 15). The happens-before is the atomics'
 * acquire and release, which TSan follows; the kernel only parks and wakes.
 *
 * `_locked` functions assert it with RM_BP_ASSERT_LOCKED (STYLE.md): debug
 * builds (RM_DEBUG) record the holder's kernel thread id and check that the
 * calling thread is it; release builds record nothing and compile the check
 * away. rm__bp_lock_held_by_self answers "held by some thread" there. */
typedef struct rm__bp_lock {
    _Atomic uint32_t word;   /* 0 free, 1 held, 2 held with possible waiters */
    _Atomic int owner;       /* holder's thread id in debug builds, else 0; written by the holder */
} rm__bp_lock_t;

void rm__bp_lock_wait(rm__bp_lock_t *l);   /* the contended lock (bufpool_pcache.c) */
void rm__bp_lock_wake(rm__bp_lock_t *l);   /* wake one waiter (bufpool_pcache.c) */

static inline void
rm__bp_lock_init(rm__bp_lock_t *l)
{
    atomic_init(&l->word, 0);
    atomic_init(&l->owner, 0);
}

static inline __attribute__((always_inline)) void
rm__bp_lock(rm__bp_lock_t *l)
{
    uint32_t z = 0;
    if (RM_UNLIKELY(!atomic_compare_exchange_strong_explicit(&l->word, &z, 1, memory_order_acquire,
                                                             memory_order_relaxed)))
        rm__bp_lock_wait(l);
    if (config_debug)
        atomic_store_explicit(&l->owner, (int)gettid(), memory_order_relaxed);
}

static inline __attribute__((always_inline)) void
rm__bp_unlock(rm__bp_lock_t *l)
{
    if (config_debug) {
        assert(atomic_load_explicit(&l->owner, memory_order_relaxed) == (int)gettid());
        atomic_store_explicit(&l->owner, 0, memory_order_relaxed);
    }
    if (RM_UNLIKELY(atomic_exchange_explicit(&l->word, 0, memory_order_release) == 2))
        rm__bp_lock_wake(l);
}

/* 1 if the calling thread holds l (debug builds); elsewhere 1 if any thread
 * holds it (no owner is recorded there). */
static inline int
rm__bp_lock_held_by_self(rm__bp_lock_t *l)
{
    if (config_debug)
        return atomic_load_explicit(&l->owner, memory_order_relaxed) == (int)gettid();
    return atomic_load_explicit(&l->word, memory_order_relaxed) != 0;
}

#define RM_BP_ASSERT_LOCKED(l)                                                   \
    do {                                                                         \
        if (config_debug)                                                        \
            assert(rm__bp_lock_held_by_self(l));                                 \
    } while (0)

/* ---- CRC32C ---------------------------------------------------------------- */
uint32_t rm__bp_crc32c(uint32_t crc, const void *buf, size_t len);
uint32_t rm__bp_crc32c_sw(uint32_t crc, const void *buf, size_t len);
int rm__bp_crc32c_hw_available(void);

/* ---- memory from the page source -------------------------------------------
 * Zeroed, page-rounded mappings. NULL on failure (nothing mapped). Pieces of
 * the default source up to 16 KiB are kept for reuse on free (at most 16,
 * bufpool_map.c); rm__bp_mem_release_kept unmaps them and returns the bytes. */
void *rm__bp_mem_alloc(const rm_pagesrc_t *src, size_t bytes);
void rm__bp_mem_free(const rm_pagesrc_t *src, void *p, size_t bytes);
uint64_t rm__bp_mem_release_kept(void);

/* ---- open addressing with linear probing (the key map, the page table) ----
 * A key's home slot: the top (64 − shift) bits of key · 2^64/φ (Fibonacci
 * hashing, one multiply; rm__mix64 was ~10 instructions a call, ADR 0023
 * session 12). Both tables are exact whatever the home function: only slot
 * positions depend on it. */
static inline size_t
rm__bp_fib_home(uint64_t key, unsigned shift)
{
    return (size_t)((key * 0x9e3779b97f4a7c15ull) >> shift);
}

/* Backward-shift deletion (no tombstones): slot i was emptied and the entry
 * at j (further along the probe run) has home k. 1 if it must stay where it
 * is — its home lies cyclically in (i, j] — 0 if it may move back to i. */
static inline int
rm__bp_home_in_run(size_t i, size_t j, size_t k)
{
    return (i <= j) ? (k > i && k <= j) : (k > i || k <= j);
}

/* ---- open-addressing map u64 key → u32 value (not thread-safe) ------------- */
typedef struct rm__bp_map {
    uint64_t *keys;     /* RM_BP_MAP_EMPTY marks a free slot */
    uint32_t *vals;
    size_t mask;        /* capacity − 1; capacity a power of two */
    unsigned shift;     /* 64 − log2(capacity): a key's home is its Fibonacci hash's top bits */
    size_t count;
    size_t bytes;       /* mapped bytes (keys + vals) */
    const rm_pagesrc_t *src;
} rm__bp_map_t;
#define RM_BP_MAP_EMPTY UINT64_MAX

rm_status_t rm__bp_map_init(rm__bp_map_t *m, size_t max_entries, const rm_pagesrc_t *src);
void rm__bp_map_fini(rm__bp_map_t *m);
uint32_t rm__bp_map_get(const rm__bp_map_t *m, uint64_t key);        /* RM_BP_NIL if absent */
void rm__bp_map_put(rm__bp_map_t *m, uint64_t key, uint32_t val);    /* key must be absent; caller keeps count ≤ max */
void rm__bp_map_del(rm__bp_map_t *m, uint64_t key);                  /* no-op if absent */

/* The same three, inline (the one copy; the functions above wrap them): the
 * policy's ghost directory probes the map ~3 times a miss (ADR 0023, session
 * 13). */
static inline size_t
rm__bp_map_home(const rm__bp_map_t *m, uint64_t key)
{
    return rm__bp_fib_home(key, m->shift);
}

/* The slot that holds key, or SIZE_MAX when it is absent: for a caller that
 * reads the value and then deletes the entry (rm__bp_map_del_at_inline), one
 * probe for both (the ghost directory's hits, ADR 0023 session 15). */
static inline size_t
rm__bp_map_slot_inline(const rm__bp_map_t *m, uint64_t key)
{
    size_t i = rm__bp_map_home(m, key);
    for (;;) {
        uint64_t k = m->keys[i];
        if (k == key)
            return i;
        if (k == RM_BP_MAP_EMPTY)
            return SIZE_MAX;
        i = (i + 1) & m->mask;
    }
}

static inline uint32_t
rm__bp_map_get_inline(const rm__bp_map_t *m, uint64_t key)
{
    size_t i = rm__bp_map_slot_inline(m, key);
    return i == SIZE_MAX ? RM_BP_NIL : m->vals[i];
}

static inline void
rm__bp_map_put_inline(rm__bp_map_t *m, uint64_t key, uint32_t val)
{
    size_t i = rm__bp_map_home(m, key);
    while (m->keys[i] != RM_BP_MAP_EMPTY) {
        if (m->keys[i] == key) {
            m->vals[i] = val;
            return;
        }
        i = (i + 1) & m->mask;
    }
    m->keys[i] = key;
    m->vals[i] = val;
    m->count++;
}

/* Delete the entry in slot i (a slot rm__bp_map_slot_inline returned, the map
 * unchanged since): backward-shift deletion, no tombstones. */
static inline void
rm__bp_map_del_at_inline(rm__bp_map_t *m, size_t i)
{
    size_t j = i;
    for (;;) {
        j = (j + 1) & m->mask;
        if (m->keys[j] == RM_BP_MAP_EMPTY)
            break;
        if (rm__bp_home_in_run(i, j, rm__bp_map_home(m, m->keys[j])))
            continue;
        m->keys[i] = m->keys[j];
        m->vals[i] = m->vals[j];
        i = j;
    }
    m->keys[i] = RM_BP_MAP_EMPTY;
    m->count--;
}

static inline void
rm__bp_map_del_inline(rm__bp_map_t *m, uint64_t key)
{
    size_t i = rm__bp_map_slot_inline(m, key);
    if (i != SIZE_MAX)
        rm__bp_map_del_at_inline(m, i);
}

/* ---- circular doubly linked lists over index arrays (policy and simulator) --
 * A list is its oldest element (head) and a size; links live in caller-owned
 * prev/next arrays indexed by slot. Not thread-safe. */
typedef struct rm__bp_dlist {
    uint32_t head;   /* oldest (LRU / clock hand); RM_BP_NIL when empty */
    uint32_t size;
} rm__bp_dlist_t;

static inline void
rm__bp_dl_push_tail(rm__bp_dlist_t *l, uint32_t *prev, uint32_t *next, uint32_t i)
{
    if (l->head == RM_BP_NIL) {
        prev[i] = next[i] = i;
        l->head = i;
    } else {
        uint32_t h = l->head, t = prev[h];
        next[t] = i;
        prev[i] = t;
        next[i] = h;
        prev[h] = i;
    }
    l->size++;
}

static inline void
rm__bp_dl_unlink(rm__bp_dlist_t *l, uint32_t *prev, uint32_t *next, uint32_t i)
{
    if (next[i] == i) {
        l->head = RM_BP_NIL;
    } else {
        next[prev[i]] = next[i];
        prev[next[i]] = prev[i];
        if (l->head == i)
            l->head = next[i];
    }
    prev[i] = next[i] = RM_BP_NIL;
    l->size--;
}

/* ---- Enhanced ARC ------------------------------------------------------------
 * Slots are frame indices. The policy keeps its lists; the per-slot reference
 * bit and hit frequency live with the frame (the pool keeps them in the frame
 * state word, set by the lock-free pin) and are reached through ops.
 */
typedef struct rm__bp_policy_ops {
    int (*test_clear_ref)(void *ctx, uint32_t slot);  /* clears the ref bit; 0 unset, 1 set, 2 set as grace (no promotion) */
    unsigned (*freq)(void *ctx, uint32_t slot);       /* hits since load, aged (0..15) */
    void (*age)(void *ctx, uint32_t slot);            /* halve the slot's freq */
    int (*try_claim)(void *ctx, uint32_t slot);       /* 1: slot is now ours to evict */
    /* T1 membership, kept with the slot so that the hit path can count
     * references to T1 pages: the ctx keeps the number of slots marked T1
     * whose reference bit is set (a grace bit does not count). A hit that sets
     * the bit of a marked slot adds one; clearing the bit of a marked slot, or
     * unmarking a slot whose bit is set, takes one away. */
    void (*mark_t1)(void *ctx, uint32_t slot, int in_t1);
    uint32_t (*t1_refs)(void *ctx);                   /* that count (0 if transiently negative) */
    /* Set the reference bit again: the T1 hand clears it to test it, and a
     * page it promotes carries that reference into T2 (ARC puts a page hit in
     * T1 at T2's MRU end; a cleared bit would put it first in the T2 hand's
     * way). Same accounting as a hit for a page marked T1. */
    void (*set_ref)(void *ctx, uint32_t slot);
} rm__bp_policy_ops_t;

/* ---- the policy's per-frame bits in a pool's state word ----------------------
 * Both pools (bufpool.c, bufpool_pcache.c) keep a slot's reference bit, T1 mark
 * and hit frequency in one atomic state word per frame, at their own bit
 * positions, plus a counter of frames marked T1 whose reference bit counts
 * (see mark_t1 above). These helpers are the one implementation of the ops
 * over such a word; each pool passes its layout as a constant. Called under
 * the pool's mutex (as the ops are); the hit path sets the bits lock-free. */
typedef struct rm__bp_stbits {
    uint64_t ref;         /* reference bit */
    uint64_t t1;          /* the policy has the frame in T1 */
    uint64_t grace;       /* a ref bit set with this one is grace, not counted (0: none) */
    uint64_t freq_mask;   /* hit frequency field */
    unsigned freq_shift;
} rm__bp_stbits_t;

/* Clear the reference bit. 0 if it was not set (nothing changed); else 1 with
 * *before = the word before the clear (the caller judges grace from it). */
static inline int
rm__bp_st_test_clear_ref(const rm__bp_stbits_t b, _Atomic uint64_t *st, _Atomic int64_t *t1_refs,
                         uint64_t *before)
{
    if (!(atomic_load_explicit(st, memory_order_relaxed) & b.ref))
        return 0;
    uint64_t s = atomic_fetch_and_explicit(st, ~b.ref, memory_order_relaxed);
    if ((s & (b.t1 | b.ref | b.grace)) == (b.t1 | b.ref))
        atomic_fetch_sub_explicit(t1_refs, 1, memory_order_relaxed);
    *before = s;
    return 1;
}

static inline void
rm__bp_st_mark_t1(const rm__bp_stbits_t b, _Atomic uint64_t *st, _Atomic int64_t *t1_refs, int in_t1)
{
    uint64_t s = in_t1 ? atomic_fetch_or_explicit(st, b.t1, memory_order_relaxed)
                       : atomic_fetch_and_explicit(st, ~b.t1, memory_order_relaxed);
    /* counted = T1 ∧ REF ∧ ¬grace, before and after */
    if ((s & (b.ref | b.grace)) == b.ref && !(s & b.t1) != !in_t1)
        atomic_fetch_add_explicit(t1_refs, in_t1 ? 1 : -1, memory_order_relaxed);
}

static inline void
rm__bp_st_set_ref(const rm__bp_stbits_t b, _Atomic uint64_t *st, _Atomic int64_t *t1_refs)
{
    uint64_t s = atomic_fetch_or_explicit(st, b.ref, memory_order_relaxed);
    /* counted as a hit would be: T1 ∧ ¬grace, REF newly set */
    if ((s & (b.t1 | b.ref | b.grace)) == b.t1)
        atomic_fetch_add_explicit(t1_refs, 1, memory_order_relaxed);
}

/* The counter as the ops report it: 0 if transiently negative, clamped to u32. */
static inline uint32_t
rm__bp_st_t1_refs(_Atomic int64_t *t1_refs)
{
    int64_t n = atomic_load_explicit(t1_refs, memory_order_relaxed);
    return n > 0 ? (n < (int64_t)UINT32_MAX ? (uint32_t)n : UINT32_MAX) : 0;
}

static inline unsigned
rm__bp_st_freq(const rm__bp_stbits_t b, _Atomic uint64_t *st)
{
    uint64_t s = atomic_load_explicit(st, memory_order_relaxed);
    return (unsigned)((s & b.freq_mask) >> b.freq_shift);
}

/* Halve the frequency (CAS loop: the hit path adds to it lock-free). */
static inline void
rm__bp_st_age(const rm__bp_stbits_t b, _Atomic uint64_t *st)
{
    uint64_t s = atomic_load_explicit(st, memory_order_relaxed);
    for (;;) {
        uint64_t fq = (s & b.freq_mask) >> b.freq_shift;
        uint64_t ns = (s & ~b.freq_mask) | ((fq >> 1) << b.freq_shift);
        if (atomic_compare_exchange_weak_explicit(st, &s, ns, memory_order_relaxed,
                                                  memory_order_relaxed))
            return;
    }
}

/* The policy ops table of a pool whose frames carry such a state word:
 * CTX_T is the pool (ctx), with member `t1_refs` (the counter); FRAME_AT(pool,
 * slot) returns the slot's frame, with member `state`; BITS is the pool's
 * rm__bp_stbits_t. TEST_CLEAR_REF and TRY_CLAIM are the pool's own (their
 * verdicts differ between the pools). Defines `static const
 * rm__bp_policy_ops_t NAME` and its static callbacks NAME##_*. */
#define RM__BP_STATE_POLICY_OPS(NAME, CTX_T, FRAME_AT, BITS, TEST_CLEAR_REF, TRY_CLAIM)                \
    static void NAME##_mark_t1(void *ctx, uint32_t slot, int in_t1)                                   \
    {                                                                                                 \
        CTX_T *pool_ = ctx;                                                                           \
        rm__bp_st_mark_t1(BITS, &FRAME_AT(pool_, slot)->state, &pool_->t1_refs, in_t1);               \
    }                                                                                                 \
    static void NAME##_set_ref(void *ctx, uint32_t slot)                                              \
    {                                                                                                 \
        CTX_T *pool_ = ctx;                                                                           \
        rm__bp_st_set_ref(BITS, &FRAME_AT(pool_, slot)->state, &pool_->t1_refs);                      \
    }                                                                                                 \
    static uint32_t NAME##_t1_refs(void *ctx) { return rm__bp_st_t1_refs(&((CTX_T *)ctx)->t1_refs); } \
    static unsigned NAME##_freq(void *ctx, uint32_t slot)                                             \
    {                                                                                                 \
        return rm__bp_st_freq(BITS, &FRAME_AT((CTX_T *)ctx, slot)->state);                            \
    }                                                                                                 \
    static void NAME##_age(void *ctx, uint32_t slot)                                                  \
    {                                                                                                 \
        rm__bp_st_age(BITS, &FRAME_AT((CTX_T *)ctx, slot)->state);                                    \
    }                                                                                                 \
    static const rm__bp_policy_ops_t NAME = {                                                         \
        .test_clear_ref = TEST_CLEAR_REF,                                                             \
        .freq = NAME##_freq,                                                                          \
        .age = NAME##_age,                                                                            \
        .try_claim = TRY_CLAIM,                                                                       \
        .mark_t1 = NAME##_mark_t1,                                                                    \
        .t1_refs = NAME##_t1_refs,                                                                    \
        .set_ref = NAME##_set_ref,                                                                    \
    }

/* The page cache's frame layout, for its CAR-mode policy (bufpool_pcache.c,
 * rm__bp_earc_set_stview): frame i's state word is at seg[i >> RM_BP_SV_SEG_SHIFT]
 * + (i & (2^RM_BP_SV_SEG_SHIFT − 1)) · rec_bytes + RM_BP_SV_STATE_OFF, with the
 * policy's bits at the RM_BP_SV_* positions and no grace bit (bufpool_pcache.c
 * asserts its layout is this one). With it the policy runs the state-word ops
 * (test_clear_ref, freq, mark_t1, t1_refs, set_ref: the rm__bp_st_* helpers
 * above) inline with constant bits instead of through ops — ≈ 10 indirect calls
 * a miss (ADR 0023, session 13). try_claim and age stay the pool's ops. The
 * same decisions either way. */
#define RM_BP_SV_SEG_SHIFT 8
#define RM_BP_SV_STATE_OFF 16
#define RM_BP_SV_REF (1ull << 2)
#define RM_BP_SV_T1 (1ull << 3)
#define RM_BP_SV_FREQ_SHIFT 8
#define RM_BP_SV_FREQ_MASK (0xFull << RM_BP_SV_FREQ_SHIFT)
typedef struct rm__bp_stview {
    unsigned char *const *seg;   /* segment bases; the array outlives the policy */
    size_t rec_bytes;            /* bytes per frame record */
    _Atomic int64_t *t1_refs;    /* the pool's counter (see mark_t1) */
} rm__bp_stview_t;

enum { RM_BP_L_NONE = 0, RM_BP_L_WIN = 1, RM_BP_L_T1 = 2, RM_BP_L_T2 = 3, RM_BP_L_B1 = 4, RM_BP_L_B2 = 5 };

typedef struct rm__bp_earc rm__bp_earc_t;

typedef struct rm__bp_earc_stats {
    uint64_t win, t1, t2, b1, b2, p;   /* list sizes as the clocks hold them */
    uint64_t t1_refs;  /* of t1, pages referenced since they entered: ARC has them in T2
                        * already, the T1 hand moves them at its next pass (≤ t1) */
    uint64_t b1_hits, b2_hits, rejects;
    uint64_t bias;   /* current admission bias */
    uint64_t guard_admit_all;   /* 1: the admission guard lets would-be refusals in (ADR 0004) */
} rm__bp_earc_stats_t;

/* nslots: slot index bound (≥ capacity). capacity: frames the policy manages. */
rm_status_t rm__bp_earc_create(uint32_t nslots, uint32_t capacity, const rm__bp_policy_ops_t *ops,
                               void *ctx, const rm_pagesrc_t *src, rm__bp_earc_t **out);
void rm__bp_earc_destroy(rm__bp_earc_t *e);
/* Change capacity and the slot bound: a larger bound grows the per-slot arrays
 * (RM_ENOMEM: unchanged); one under half of them gives them back (the caller
 * must have every slot ≥ nslots out of the lists; never fails). */
rm_status_t rm__bp_earc_resize(rm__bp_earc_t *e, uint32_t nslots, uint32_t capacity);
/* A miss of `key` was seen (feeds the frequency sketch; one access). */
void rm__bp_earc_note_miss(rm__bp_earc_t *e, uint64_t key);
/* `n` hits happened since the last report: they advance the access clock
 * that ages the frequency history (hits themselves never reach the policy). */
void rm__bp_earc_note_hits(rm__bp_earc_t *e, uint64_t n);
/* Put `key` into free slot `slot` (joins the admission window). */
void rm__bp_earc_admit(rm__bp_earc_t *e, uint32_t slot, uint64_t key);
/* Put a read-ahead page straight into T1: it skips the duel, and the T1
 * hand's reference bit (set at load) gives it one revolution to be used. */
void rm__bp_earc_admit_main(rm__bp_earc_t *e, uint32_t slot, uint64_t key);
/* Choose, claim and unlink a victim; RM_BP_NIL if nothing is claimable. */
uint32_t rm__bp_earc_evict(rm__bp_earc_t *e);
/* As rm__bp_earc_evict, giving up (RM_BP_NIL) after `tries` steps of the hands. */
uint32_t rm__bp_earc_evict_bounded(rm__bp_earc_t *e, uint32_t tries);
/* Unlink `slot` without ghost bookkeeping (failed load, shrink). */
void rm__bp_earc_remove(rm__bp_earc_t *e, uint32_t slot);
/* Exact recency (set before the first admit): each hit reported with
 * rm__bp_earc_touch (O(1); ignores a slot not resident) moves the page to its
 * list's MRU end and clears its REF bit, so window, T1 and T2 are LRU lists;
 * a REF bit still set is a hit never reported, and the hands treat it as CAR
 * does. Requires the same lock as the other calls. */
void rm__bp_earc_set_exact(rm__bp_earc_t *e, int on);
int rm__bp_earc_exact(const rm__bp_earc_t *e);
void rm__bp_earc_touch(rm__bp_earc_t *e, uint32_t slot);
/* Hits recorded for exact recency: a ring of RM_BP_HITBUF_LEN entries per
 * stripe, drained under the pool's mutex before each miss's eviction; a hit
 * that finds its ring full is dropped (Caffeine's lossy read buffer). The
 * simulator drains at each miss with one ring, as one thread does. */
#define RM_BP_HITBUF_LEN 16
/* Slot pins (bufpool.c, ADR 0004 § 3j): SHARED pins a thread that owns its
 * stats stripe can hold in a pool without writing the frame's line. */
#define RM_BP_PIN_SLOTS 8
/* The gate (exact mode, pools of ≥ RM_BP_GATE_MIN_C frames; ADR 0004 § 3e, § 3f):
 * three shadow caches of c/32 pages replay a hash sample of the references and
 * decide which admission features are on. Returns the mode: 0 all (duel, IRR
 * test, regret bias, guard), 1 none (every candidate admitted, ARC's p step),
 * 2 the duel and the IRR test only; *switches (if not NULL) counts the
 * changes. Shadows are allocated by rm__bp_earc_set_exact and again at each
 * resize; without memory for them there is no gate (features on) and nothing
 * fails. */
#define RM_BP_GATE_MIN_C 256
int rm__bp_earc_gate(const rm__bp_earc_t *e, uint64_t *switches);
/* Policy bits kept in plain arrays (the simulator's frames, the gate's
 * shadow caches): ctx is an rm__bp_plain_t; try_claim always succeeds. */
typedef struct rm__bp_plain {
    uint8_t *ref, *freq, *t1;
    uint32_t t1_refs;
} rm__bp_plain_t;
extern const rm__bp_policy_ops_t rm__bp_plain_ops;
/* Use the page cache's layout `v` (copied) for the state-word ops, or the
 * ops again with v NULL. */
void rm__bp_earc_set_stview(rm__bp_earc_t *e, const rm__bp_stview_t *v);
int rm__bp_earc_contains(const rm__bp_earc_t *e, uint32_t slot);
void rm__bp_earc_stats(const rm__bp_earc_t *e, rm__bp_earc_stats_t *out);
size_t rm__bp_earc_bytes(const rm__bp_earc_t *e);

/* ---- lock-free page table ----------------------------------------------------
 * Open addressing, linear probing; a slot holds frame index + 1 (0 = empty).
 * Readers never lock: they compare the frame's key and validate it again after
 * pinning. Writers (insert/remove) hold the pool mutex; removal shifts entries
 * back, so a reader racing with it can miss (false negative) — it then takes
 * the locked slow path, which is exact. Never a false positive after
 * validation.
 */
typedef struct rm__bp_ptab {
    _Atomic uint32_t *slots;            /* always right behind this header (bufpool_pcache.c relies on it) */
    size_t mask;
    unsigned shift;                     /* 64 − log2(mask + 1): rm__bp_ptab_home's top bits */
    size_t bytes;
    struct rm__bp_ptab *retired_next;   /* tables replaced by a grow or a shrink, freed by their
                                         * owner after a grace period (bufpool.c: reader sections) */
} rm__bp_ptab_t;

typedef uint64_t (*rm__bp_key_of_fn)(void *ctx, uint32_t frame);   /* relaxed load of a frame's key */

/* Slots a table made for min_slots has: the power of two ≥ min_slots, at least 64. */
size_t rm__bp_ptab_capacity(size_t min_slots);
rm__bp_ptab_t *rm__bp_ptab_create(size_t min_slots, const rm_pagesrc_t *src);
void rm__bp_ptab_destroy(rm__bp_ptab_t *t, const rm_pagesrc_t *src);
uint32_t rm__bp_ptab_lookup(const rm__bp_ptab_t *t, uint64_t key, rm__bp_key_of_fn key_of, void *ctx);
void rm__bp_ptab_insert_locked(rm__bp_ptab_t *t, uint64_t key, uint32_t frame);
void rm__bp_ptab_remove_locked(rm__bp_ptab_t *t, uint64_t key, uint32_t frame,
                               rm__bp_key_of_fn key_of, void *ctx);

/* A key's home slot (rm__bp_fib_home: the page number of a SQLite page, file
 * and page of a pool frame — every key bit reaches the top bits; consecutive
 * pages land evenly spread). */
static inline size_t
rm__bp_ptab_home(const rm__bp_ptab_t *t, uint64_t key)
{
    return rm__bp_fib_home(key, t->shift);
}

/* rm__bp_ptab_lookup for a hit path: inlined, and with a key_of known at
 * compile time the callback is inlined too (no call per probe). */
static inline __attribute__((always_inline)) uint32_t
rm__bp_ptab_lookup_inline(const rm__bp_ptab_t *t, uint64_t key, rm__bp_key_of_fn key_of, void *ctx)
{
    size_t i = rm__bp_ptab_home(t, key);
    for (size_t n = 0; n <= t->mask; n++) {
        uint32_t v = atomic_load_explicit(&t->slots[i], memory_order_acquire);
        if (v == 0)
            return RM_BP_NIL;
        if (key_of(ctx, v - 1) == key)
            return v - 1;
        i = (i + 1) & t->mask;
    }
    return RM_BP_NIL;
}

/* rm__bp_ptab_insert_locked, inline (the page cache's install, one a miss;
 * ADR 0023, session 15). The one copy of the insert: the first empty slot
 * from the key's home, published with release. */
static inline __attribute__((always_inline)) void
rm__bp_ptab_insert_inline(rm__bp_ptab_t *t, uint64_t key, uint32_t frame)
{
    size_t i = rm__bp_ptab_home(t, key);
    while (atomic_load_explicit(&t->slots[i], memory_order_relaxed) != 0)
        i = (i + 1) & t->mask;
    atomic_store_explicit(&t->slots[i], frame + 1, memory_order_release);
}

/* rm__bp_ptab_remove_locked, inline: with a key_of known at compile time the
 * backward shift's key loads are inlined too (bufpool_pcache.c's misses;
 * ADR 0023, session 13). The one copy of the removal. */
static inline __attribute__((always_inline)) void
rm__bp_ptab_remove_inline(rm__bp_ptab_t *t, uint64_t key, uint32_t frame, rm__bp_key_of_fn key_of, void *ctx)
{
    size_t i = rm__bp_ptab_home(t, key);
    for (size_t n = 0;; n++) {
        uint32_t v = atomic_load_explicit(&t->slots[i], memory_order_relaxed);
        if (v == 0 || n > t->mask)
            return;   /* not present */
        if (v == frame + 1)
            break;
        i = (i + 1) & t->mask;
    }
    size_t j = i;
    for (;;) {
        j = (j + 1) & t->mask;
        uint32_t v = atomic_load_explicit(&t->slots[j], memory_order_relaxed);
        if (v == 0)
            break;
        if (rm__bp_home_in_run(i, j, rm__bp_ptab_home(t, key_of(ctx, v - 1))))
            continue;
        atomic_store_explicit(&t->slots[i], v, memory_order_release);
        i = j;
    }
    atomic_store_explicit(&t->slots[i], 0, memory_order_release);
}

/* ---- test hooks ------------------------------------------------------------
 * When > 0, the Nth in-place page write after the double-write writes only the
 * first half of the page and then raises SIGKILL (crash test). 0 = off. */
extern _Atomic long rm__bp_test_torn_write_countdown;
/* When set, the pin fast path calls it inside its reader section, after
 * loading the page table and before using it (grace-period test). NULL = off. */
typedef void (*rm__bp_test_hook_fn)(void);
extern _Atomic(rm__bp_test_hook_fn) rm__bp_test_in_section;
/* The pool's t1_refs counter and a recount of it from the frame state words
 * (frames with T1 and REF set, not PREFETCHED). Equal whenever no pin is in
 * flight. Take the pool mutex; for tests. */
void rm__bp_test_t1_refs(rm_bufpool_t *bp, int64_t *counter, int64_t *recount);
/* Who holds frame f: *count = the state word's shared pin count, *slots = slot
 * pins of f in all threads' slots (ADR 0004 § 3j). Lock-free; for tests. */
void rm__bp_test_pin_holders(rm_bufpool_t *bp, const rm_bufpool_frame_t *f, uint32_t *count, uint32_t *slots);

#endif /* RUSTYMEM_BUFPOOL_INTERNAL_H */
