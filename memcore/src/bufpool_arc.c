/*
 * bufpool_arc.c — the pool's replacement policy, Enhanced ARC (the trace
 * simulator with the reference policies is in bufpool_sim.c).
 *
 * Design note (docs/adr/0004-buffer-pool-eviction.md has the measurements):
 *
 *  Exact recency (issue 21, eighth round; rm__bp_earc_set_exact, what the
 *  buffer pool and the simulator run — the pcache mode keeps the plain CAR
 *  below). The pool records hits lock-free in a lossy striped ring and
 *  drains it under its mutex before each eviction; each applied hit
 *  (rm__bp_earc_touch) moves the page to the MRU end of T2 (of the window
 *  for a window page) and clears its REF bit, so T1, T2 and the window are
 *  in ARC's exact LRU order. A REF bit still set when a hand reaches the page
 *  is a hit the ring dropped: the CAR rules below give it its second chance,
 *  so a lost hit costs what it costs in CAR. An incumbent that wins the duel
 *  stays where it is (Caffeine's rule); the B1-hit T2 ageing is skipped.
 *
 *  IRR test (issue 21, ninth round; exact mode only). Each resident page
 *  carries the access clock of its last applied access, and a page that
 *  leaves is remembered with it (a direct-mapped history of c/2 keys); a
 *  miss on a remembered key gives the newcomer its inter-reference recency
 *  (IRR, LIRS's measure). A newcomer whose estimate does not clearly beat
 *  the victim's (at most 5/4 of it, the regret bias's admissions included)
 *  is refused when its IRR is known and not shorter than the victim's
 *  recency — LIRS's rule: its previous access came before the victim's last
 *  one. On a loop larger than the cache every newcomer's IRR is the loop's
 *  period and every resident's recency shorter, so the loop's stable part
 *  stays. A victim that wins is aged only at its first win since its last
 *  access (it meets every newcomer until it loses). In exact mode the
 *  window is one page (the climber's wider window cost the shifting shapes
 *  more than it gave the loops once the IRR test holds them; ADR 0004 § 3d).
 *  Costs: 16 bytes per slot and 8 per frame of history, allocated by
 *  rm__bp_earc_set_exact (the CAR mode does not pay them; without the
 *  memory the policy stays in CAR mode); O(1) per miss, per applied hit
 *  (one store) and per duel, all under the pool mutex.
 *
 *  Gate (issue 21, tenth and eleventh rounds; exact mode, pools of ≥
 *  RM_BP_GATE_MIN_C frames). Miniature simulation (Waldspurger et al.,
 *  ATC'17): a hash sample of the keys (≈ 1/32) is replayed through three
 *  shadow caches of c/32 pages (≥ 64), one per mode the real policy can be
 *  in — all admission features (GM_FULL), none (GM_ARC: every candidate
 *  admitted with ARC's real-valued p step, classic ARC within 0.0006 on the
 *  suite) and the frequency duel with the IRR test alone (GM_FREQ: no regret
 *  bias, no guard — TinyLFU's door with LIRS's tie-break, which holds loops
 *  and skewed 25 % caches where the bias and the guard let noise in). A
 *  sequential test (gate_ref below) moves the real policy to another mode
 *  when that mode's shadow leads the current one's by more than 3 standard
 *  deviations over the references where the two differ (evidence halving
 *  every 16 shadow sizes), so a large difference — a frozen door on a
 *  growing working set — is acted on within a few thousand references and a
 *  small one never. ~22 B per frame (≈ 12 % of the policy's bytes in exact
 *  mode); O(1) amortised per sampled reference under the pool mutex.
 *
 *  Enhanced ARC = CAR + a frequency duel at the door with an ARC-style
 *  adaptive bias.
 *   - The main cache is ARC kept as two clocks, T1 and T2, with ghost LRU
 *     lists B1 and B2 and the adaptive target p (Bansal & Modha's CAR; p
 *     adapts at the miss on a ghost, as in ARC). A hit only sets the frame's
 *     reference bit and bumps its 4-bit frequency — both live in the frame's
 *     state word and are set by the lock-free pin CAS — so hits never touch
 *     these lists or take a lock. The T1 hand moves referenced pages to T2
 *     with their reference bit still set (ops->set_ref); the T2 hand gives
 *     them a second chance.
 *   - ARC's rule on ARC's T1: the clock moves a hit T1 page to T2 only when
 *     its hand gets there, so |T1| counts pages ARC would have in T2 already.
 *     The frame carries a T1 mark (ops->mark_t1) and the hit CAS that sets
 *     REF on a marked frame counts it (ops->t1_refs); the victim list is
 *     chosen by |T1| − t1_refs against p, again after every page the T1 hand
 *     promotes.
 *   - p's step is ARC's δ times c / |B1 ∪ B2| (with its fraction kept): a
 *     ghost hit weighs as much as the history the directory holds is short,
 *     so p learns at the same rate per access while the directory is still
 *     filling (cold start, after a grow) as when it is full — where the step
 *     is ARC's. Without it p crept up by 1 per B1 hit after a cold start
 *     while B2 hits, weighted |B1|/|B2| ≈ 10 then, pulled it back.
 *   - A B1 ghost hit (T1 too small) also makes the T2 hand clear one REF
 *     bit ahead of need, so REF bits set before a working-set change stop
 *     protecting stale T2 pages sooner.
 *   - A new page is staged in an admission window (one page to start; its
 *     size follows Caffeine's hill climber within 1 page … 5 % of c, so a
 *     workload where new pages need longer to prove themselves — a growing
 *     working set, a loop beside a hot set — gets a longer wait; in exact
 *     mode it stays one page). When a miss needs a frame, the window's
 *     oldest unreferenced page (the candidate) meets the victim CAR would
 *     evict
 *     and the one with the higher estimated frequency stays; ties keep the
 *     incumbent. Frequency = a count-min sketch of misses (4 rows of ≥ 8·c
 *     8-bit counters, conservative update) + the page's hits while resident
 *     (folded into the sketch when it leaves). Sketch and resident counts
 *     halve every 20·c accesses — hits included, reported by the pool in
 *     batches (rm__bp_earc_note_hits): a miss-driven clock stalls when the
 *     hit ratio is high and old heat outlives its working set.
 *   - An incumbent that wins is aged (its hit count halves) and the hand
 *     moves past it, so once-hot pages cannot hold the door for ever.
 *   - Adaptive bias (the ARC idea applied to admission): two small
 *     direct-mapped ghost tables remember recently refused candidates and
 *     recently evicted duel losers. A miss on a refused page means the door
 *     was too strict (bias += 1); a miss on a page evicted to let a candidate
 *     in means it was too lax (bias −= 1). The bias (0..16) is added to the
 *     candidate's estimate; a higher bound let it drift past the loop pages'
 *     own counts and the door stopped holding a loop beside a hot set.
 *   - Admission guard (issue 21, seventh round): of the candidates the duel
 *     would refuse, 1/64 of the keys (by hash) are always refused and 1/64
 *     always admitted; the loser of each such decision (the refused page, or
 *     the victim the admitted one evicted) is remembered, and a miss on it
 *     within c misses is a return. Every 256 sampled decisions the two
 *     return rates are compared: if refused candidates came back more often
 *     than the evicted victims, the other keys' would-be refusals are
 *     admitted (CAR's own admission) until the next comparison. On a working
 *     set that grows and shrinks, stale heat outbids newcomers that return
 *     within a few misses; there the guard turns the duel off, on Zipf and
 *     loops it leaves it on. Counterfactual rates per decision, not misses
 *     per class: the class that is always admitted takes frames from the
 *     others and wins any miss count.
 *   - Why: ARC's only defence against a loop larger than the cache and
 *     against one-hit pages is T1/B1 balancing, which still admits every new
 *     page. The duel keeps a stable subset of a loop, keeps scans out of T2
 *     and approximates LFU on skewed traffic; the bias gives recency back when
 *     the hot set moves. Measured effect: docs/adr/0004.
 *   - Pinned pages: try_claim fails, the hand treats the page as referenced.
 *
 *  The simulator (bufpool_sim.c) drives the same code with the reference and
 *  frequency bits kept in plain arrays, so the hit ratios it reports are the
 *  pool's.
 */
#include "bufpool_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- Enhanced ARC ---------------------------------------------------------------- */

/* the gate's modes, one shadow each (issue 21, tenth and eleventh rounds) */
enum { GM_FULL = 0, GM_ARC = 1, GM_FREQ = 2, GATE_N = 3 };

struct rm__bp_earc {
    const rm__bp_policy_ops_t *ops;
    void *ctx;
    const rm_pagesrc_t *src;

    uint32_t nslots;    /* slot index bound */
    uint32_t c;         /* capacity, pages */
    uint32_t w;         /* window target, pages */
    uint32_t m;         /* main target = c − w */
    uint32_t p;         /* ARC target for T1, 0..m */
    uint32_t p_frac;    /* fraction of p, 1/2^P_FRAC_BITS pages (steps scale by c / ghosts) */

    /* per slot (resident pages) */
    uint32_t *prev, *next;
    uint8_t *list;
    uint64_t *key;
    uint64_t *last;     /* exact mode (NULL otherwise): access clock (`now`) at the page's last
                           applied access */
    uint64_t *irr;      /* exact mode, window pages: inter-reference recency of the access that
                           brought the page in (IRR_NONE: its previous access is not known);
                           main pages: `now` + 1 at the last duel win that aged the page (0: none) */
    size_t slot_bytes;
    int bias;           /* admission bias added to a candidate's frequency, 0..BIAS_MAX */
    uint64_t *rg_rej;   /* regret ghosts: keys of recently rejected candidates (direct-mapped) */
    uint64_t *rg_vic;   /* keys of recent victims evicted to admit a candidate */
    size_t rg_mask;

    rm__bp_dlist_t L[4]; /* index RM_BP_L_WIN, T1, T2 */

    /* ghosts: node pool of gcap nodes, lists B1 and B2, map key → node */
    uint32_t gcap;
    uint32_t *gprev, *gnext;
    uint8_t *glist;
    uint64_t *gkey;
    uint32_t gfree;     /* free-node stack through gnext */
    size_t ghost_bytes;
    rm__bp_dlist_t B[2]; /* 0 = B1, 1 = B2 */
    rm__bp_map_t gmap;

    /* frequency sketch */
    uint8_t *cm;        /* 4 rows × (cm_mask + 1) counters */
    size_t cm_mask;
    size_t cm_bytes;
    uint64_t now;       /* access clock: misses noted + hits reported */
    uint64_t aged_at;   /* `now` at the last halving */
    uint64_t age_period;/* accesses between halvings = AGE_PERIOD · c */

    uint64_t b1_hits, b2_hits, rejects;

    /* window hill climber (Caffeine's rule; ADR 0004, sixth round) */
    uint64_t cl_hits, cl_misses;   /* this sample, counted while the cache is full */
    double cl_step;                /* next step, pages (signed) */
    double cl_prev;                /* previous sample's hit ratio */
    double cl_w;                   /* window target, pages, before rounding */

    /* admission guard (issue 21, seventh round): would-be refusals of two
     * sampled key classes are always refused / always admitted; whether the
     * refused candidates or the victims evicted in the admitted ones' place
     * come back sooner decides whether the other keys are dueled at all */
    uint64_t *gd_key;              /* direct-mapped: key of a sampled decision's loser */
    uint64_t *gd_at;               /* miss count at the decision << 1 | class (1 = refused) */
    size_t gd_mask;
    uint64_t misses;               /* misses noted: the guard's clock */
    uint64_t gd_last;              /* `misses` at the newest sampled decision (guard_record) */
    uint32_t gd_dec[2], gd_ret[2]; /* [0] admitted class (victims), [1] refused class (candidates) */
    int gd_admit_all;              /* 1: the duel lost the last comparison, followers skip it */

    /* exact recency (issue 21, eighth round): hits reported through
     * rm__bp_earc_touch keep window, T1 and T2 in LRU order; a REF bit still
     * set is a hit the pool's ring dropped and gets CAR's second chance */
    int exact;

    /* IRR history (issue 21, ninth round; exact mode): keys that left the
     * cache with the access clock of their last access, direct-mapped,
     * c / HIST_DIV slots; a miss on one gives the newcomer its IRR */
    uint64_t *hs_key, *hs_at;      /* one allocation of hs_bytes; NULL outside exact mode */
    size_t hs_mask, hs_bytes;
    uint64_t pend_key, pend_irr;  /* the IRR note_miss found, for the admit that follows */

    /* the gate (issue 21, tenth and eleventh rounds; exact mode): three
     * shadow caches of c / GATE_DIV pages (≥ GATE_MIN), one per mode,
     * replay the references of a hash sample of the keys; the real policy
     * moves to a mode whose shadow leads its own by GATE_Z standard
     * deviations (GATE_Z_ARC into GM_ARC, GATE_Z_FREQ into GM_FREQ; gate_ref) */
    struct gate_shadow *gs[GATE_N]; /* one per mode (GM_*); NULL: no gate */
    uint64_t gs_thr;               /* a key is sampled when gate_hash(key) ≤ gs_thr */
    uint64_t gs_refs;              /* sampled references since the last decay of sq_* */
    double sq_d[GATE_N], sq_n[GATE_N]; /* per other mode: its shadow's hits − the current one's
                                          on the references where they differ, and their number */
    uint64_t gate_switches;
    int gate_mode;                 /* GM_FULL, GM_ARC (every candidate admitted, ARC's real-valued
                                      p step) or GM_FREQ (duel and IRR test, no bias, no guard) */
    int is_shadow;                 /* a shadow has no gate of its own */

    /* the page cache's frame layout (rm__bp_earc_set_stview): the state-word
     * ops inline with constant bits, not through ops */
    int sv_on;
    rm__bp_stview_t sv;
};

#define IRR_NONE UINT64_MAX

struct gate_shadow;
static void gate_free(rm__bp_earc_t *e);
static void gate_setup(rm__bp_earc_t *e);
static size_t shadow_bytes(const struct gate_shadow *sh);

#define CM_ROWS 4
#define CM_WIDTH 8          /* sketch counters per row ≥ CM_WIDTH · c */
#define AGE_PERIOD 20       /* sketch and resident hit counts halve every AGE_PERIOD · c accesses */
#define T2_AGE_STEP 1       /* REF bits the T2 hand clears per B1 ghost hit */
#define FREQ_MAX 15
#define P_FRAC_BITS 16      /* p is adapted in 1/65536 of a page */
#define WINDOW_DIV 100000   /* starting window = c / WINDOW_DIV, at least 1 page */
#define WINDOW_CAP_PCT 5    /* the hill climber keeps the window ≤ 5 % of c */
#define CLIMB_SAMPLE 10     /* a climber sample is CLIMB_SAMPLE · c accesses with the cache full */
#define RG_DIV 16           /* regret ghosts: c / RG_DIV slots each, at least 16 */
#define BIAS_MAX 16         /* admission bias bound (64 before the sixth round) */
#define BIAS_UP 1
#define BIAS_DOWN 1
#define GUARD_SAMPLE_BITS 6 /* 1/64 of the keys always refused, 1/64 always admitted */
#define GUARD_DIV 4         /* guard table: c / GUARD_DIV slots, at least 16 */
#define GUARD_DECISIONS 256 /* sampled decisions per comparison; then the counts halve */
#define HIST_DIV 2          /* IRR history: c / HIST_DIV slots, at least 16 */
#define GATE_DIV 32         /* shadow caches: c / GATE_DIV pages, */
#define GATE_MIN 64         /* at least GATE_MIN (pools under RM_BP_GATE_MIN_C frames have no gate) */
#define GATE_Z 3.0          /* a switch needs another shadow ahead by GATE_Z standard deviations, */
#define GATE_Z_ARC 2.0      /* … GATE_Z_ARC into ARC's admission (the expert that costs least */
#define GATE_Z_FREQ 3.5     /* when wrong), GATE_Z_FREQ into the frequency-only mode (the most) */
#define GATE_NMIN 32        /* … over at least GATE_NMIN references where the two differ */
#define GATE_DECAY 16       /* the evidence halves every GATE_DECAY shadow sizes of sampled references */
#define IRR_NEAR_Q 5        /* the IRR test judges estimates within IRR_NEAR_Q / 4 of the victim's */

/* ---- the state-word ops, inline for the page cache's layout ----------------
 * (rm__bp_earc_set_stview; bufpool_internal.h). One predictable branch each;
 * without the layout, through ops as before. Same results either way. */
static const rm__bp_stbits_t SV_BITS = {
    .ref = RM_BP_SV_REF, .t1 = RM_BP_SV_T1, .grace = 0,
    .freq_mask = RM_BP_SV_FREQ_MASK, .freq_shift = RM_BP_SV_FREQ_SHIFT,
};

static inline _Atomic uint64_t *
sv_state(const rm__bp_earc_t *e, uint32_t s)
{
    return (_Atomic uint64_t *)(e->sv.seg[s >> RM_BP_SV_SEG_SHIFT] +
                                (size_t)(s & ((1u << RM_BP_SV_SEG_SHIFT) - 1)) * e->sv.rec_bytes +
                                RM_BP_SV_STATE_OFF);
}

static inline int
op_test_clear_ref(rm__bp_earc_t *e, uint32_t s)
{
    if (e->sv_on) {
        uint64_t before;
        return rm__bp_st_test_clear_ref(SV_BITS, sv_state(e, s), e->sv.t1_refs, &before) &&
               (before & RM_BP_SV_REF);
    }
    return e->ops->test_clear_ref(e->ctx, s);
}

static inline unsigned
op_freq(const rm__bp_earc_t *e, uint32_t s)
{
    if (e->sv_on)
        return rm__bp_st_freq(SV_BITS, sv_state(e, s));
    return e->ops->freq(e->ctx, s);
}

static inline void
op_mark_t1(rm__bp_earc_t *e, uint32_t s, int in_t1)
{
    if (e->sv_on)
        rm__bp_st_mark_t1(SV_BITS, sv_state(e, s), e->sv.t1_refs, in_t1);
    else
        e->ops->mark_t1(e->ctx, s, in_t1);
}

static inline uint32_t
op_t1_refs(const rm__bp_earc_t *e)
{
    if (e->sv_on)
        return rm__bp_st_t1_refs(e->sv.t1_refs);
    return e->ops->t1_refs(e->ctx);
}

static inline void
op_set_ref(rm__bp_earc_t *e, uint32_t s)
{
    if (e->sv_on)
        rm__bp_st_set_ref(SV_BITS, sv_state(e, s), e->sv.t1_refs);
    else
        e->ops->set_ref(e->ctx, s);
}

void
rm__bp_earc_set_stview(rm__bp_earc_t *e, const rm__bp_stview_t *v)
{
    e->sv_on = v != NULL;
    if (v)
        e->sv = *v;
}

/* The sketch's counter for `key` in `row`, for rows of mask + 1 counters. */
static inline size_t
cm_row_idx(size_t mask, uint64_t key, int row)
{
    uint64_t h = rm__mix64(key + 0x9e3779b97f4a7c15ull * (uint64_t)(row + 1));
    return (size_t)row * (mask + 1) + ((size_t)h & mask);
}

static size_t
cm_idx(const rm__bp_earc_t *e, uint64_t key, int row)
{
    return cm_row_idx(e->cm_mask, key, row);
}

static unsigned
cm_estimate(const rm__bp_earc_t *e, uint64_t key)
{
    unsigned m = 255;
#pragma GCC unroll 4
    for (int r = 0; r < CM_ROWS; r++) {
        unsigned v = e->cm[cm_idx(e, key, r)];
        if (v < m)
            m = v;
    }
    return m;
}

static void
earc_age(rm__bp_earc_t *e)
{
    /* halve every 8-bit counter, eight at a time (the rows are a multiple of
     * 64 counters; the same values as a byte loop, ~1/8 of the instructions:
     * the byte loop was ~2.5 % of the SQLite adapter's instructions, ADR 0023
     * session 12) */
    size_t n = (e->cm_mask + 1) * CM_ROWS;
    for (size_t i = 0; i < n; i += sizeof(uint64_t)) {
        uint64_t w;
        memcpy(&w, e->cm + i, sizeof w);
        w = (w >> 1) & 0x7f7f7f7f7f7f7f7full;
        memcpy(e->cm + i, &w, sizeof w);
    }
    for (int l = RM_BP_L_WIN; l <= RM_BP_L_T2; l++) {
        uint32_t s = e->L[l].head;
        for (uint32_t k = 0; k < e->L[l].size; k++, s = e->next[s])
            e->ops->age(e->ctx, s);
    }
    e->aged_at = e->now;
}

static inline __attribute__((always_inline)) void
cm_add_inline(rm__bp_earc_t *e, uint64_t key, unsigned n)
{
    if (n == 0)
        return;
    /* conservative update: raise only the counters at the minimum (the
     * estimate's four counters, each hashed once; the rows unrolled, the
     * sketch's base and mask read once — the byte stores below may alias
     * them for the compiler: ADR 0023, session 13) */
    uint8_t *cm = e->cm, *c[CM_ROWS];
    size_t mask = e->cm_mask;
    unsigned est = 255;
#pragma GCC unroll 4
    for (int r = 0; r < CM_ROWS; r++) {
        c[r] = cm + cm_row_idx(mask, key, r);
        if (*c[r] < est)
            est = *c[r];
    }
    unsigned target = est + n > 255 ? 255 : est + n;
#pragma GCC unroll 4
    for (int r = 0; r < CM_ROWS; r++)
        if (*c[r] < target)
            *c[r] = (uint8_t)target;
}

/* the eviction's fold (evict_slot, inlined in four places) calls this copy;
 * the miss's own update (rm__bp_earc_note_miss, n = 1) runs inline — no call
 * frame for the one call every miss makes (ADR 0023, session 14) */
static void
cm_add(rm__bp_earc_t *e, uint64_t key, unsigned n)
{
    cm_add_inline(e, key, n);
}

static unsigned
earc_freq(const rm__bp_earc_t *e, uint32_t slot)
{
    return cm_estimate(e, e->key[slot]) + op_freq(e, slot);
}

static void
earc_params(rm__bp_earc_t *e)
{
    /* exact mode: the window is one page (the IRR test judges newcomers;
     * the climber's wider window cost the shifting shapes, ADR 0004 § 3d) */
    double cap = e->exact ? 1.0 : (double)e->c * WINDOW_CAP_PCT / 100.0;
    if (e->cl_w > cap)
        e->cl_w = cap;
    if (e->cl_w < 1)
        e->cl_w = 1;
    e->w = (uint32_t)e->cl_w;
    if (e->w < 1)
        e->w = 1;
    e->m = e->c - e->w;
    if (e->p >= e->m) {
        e->p = e->m;
        e->p_frac = 0;
    }
    e->age_period = (uint64_t)e->c * AGE_PERIOD;
}

static void
ghost_free_all(rm__bp_earc_t *e)
{
    rm__bp_mem_free(e->src, e->gprev, e->ghost_bytes);
    rm__bp_map_fini(&e->gmap);
    rm__bp_mem_free(e->src, e->cm, e->cm_bytes);
    e->gprev = NULL;
    e->cm = NULL;
}

/* Slots of a table with one slot per `div` frames of capacity c: a power of two, at least 16. */
static size_t
pow2_slots(uint32_t c, uint32_t div)
{
    size_t n = 16;
    while (n < (size_t)c / div)
        n <<= 1;
    return n;
}

/* Allocate ghost and sketch structures for capacity c (old ones untouched on failure). */
static rm_status_t
ghost_alloc(rm__bp_earc_t *e, uint32_t c, uint32_t **gprev, rm__bp_map_t *gmap, uint8_t **cm,
            size_t *cm_mask, size_t *ghost_bytes, size_t *cm_bytes)
{
    uint32_t gcap = 2 * c + 2;
    *ghost_bytes = (size_t)gcap * (2 * sizeof(uint32_t) + sizeof(uint64_t) + 1) + 8 +
                   2 * pow2_slots(c, RG_DIV) * sizeof(uint64_t) + 2 * pow2_slots(c, GUARD_DIV) * sizeof(uint64_t);
    *gprev = rm__bp_mem_alloc(e->src, *ghost_bytes);
    if (!*gprev)
        return RM_ENOMEM;
    if (rm__bp_map_init(gmap, gcap, e->src) != RM_OK) {
        rm__bp_mem_free(e->src, *gprev, *ghost_bytes);
        return RM_ENOMEM;
    }
    size_t width = 64;
    while (width < (size_t)c * CM_WIDTH)
        width <<= 1;
    *cm_bytes = width * CM_ROWS;
    *cm = rm__bp_mem_alloc(e->src, *cm_bytes);
    if (!*cm) {
        rm__bp_map_fini(gmap);
        rm__bp_mem_free(e->src, *gprev, *ghost_bytes);
        return RM_ENOMEM;
    }
    *cm_mask = width - 1;
    return RM_OK;
}

static void
ghost_install(rm__bp_earc_t *e, uint32_t c, uint32_t *gprev, rm__bp_map_t *gmap, uint8_t *cm,
              size_t cm_mask, size_t ghost_bytes, size_t cm_bytes)
{
    uint32_t gcap = 2 * c + 2;
    e->gcap = gcap;
    e->gprev = gprev;
    e->gnext = gprev + gcap;
    e->gkey = (uint64_t *)(e->gnext + gcap);
    e->glist = (uint8_t *)(e->gkey + gcap);
    e->rg_mask = pow2_slots(c, RG_DIV) - 1;
    e->rg_rej = (uint64_t *)rm__align_up((uintptr_t)(e->glist + gcap), 8);
    e->rg_vic = e->rg_rej + e->rg_mask + 1;
    memset(e->rg_rej, 0xff, 2 * (e->rg_mask + 1) * sizeof(uint64_t));
    e->gd_mask = pow2_slots(c, GUARD_DIV) - 1;
    e->gd_key = e->rg_vic + e->rg_mask + 1;
    e->gd_at = e->gd_key + e->gd_mask + 1;
    memset(e->gd_key, 0xff, (e->gd_mask + 1) * sizeof(uint64_t));
    memset(e->gd_at, 0, (e->gd_mask + 1) * sizeof(uint64_t));
    e->pend_key = RM_BP_MAP_EMPTY;
    e->ghost_bytes = ghost_bytes;
    e->gmap = *gmap;
    e->cm = cm;
    e->cm_mask = cm_mask;
    e->cm_bytes = cm_bytes;
    e->aged_at = e->now;
    e->B[0].head = e->B[1].head = RM_BP_NIL;
    e->B[0].size = e->B[1].size = 0;
    e->gfree = RM_BP_NIL;
    for (uint32_t i = gcap; i-- > 0;) {
        e->gnext[i] = e->gfree;
        e->glist[i] = RM_BP_L_NONE;
        e->gfree = i;
    }
}

/* Per-slot arrays; `irr` adds the exact mode's last-access and IRR clocks. */
static rm_status_t
slots_alloc(rm__bp_earc_t *e, uint32_t nslots, int irr, uint32_t **prev, size_t *bytes)
{
    *bytes = (size_t)nslots * (2 * sizeof(uint32_t) + (irr ? 3 : 1) * sizeof(uint64_t) + 1);
    *prev = rm__bp_mem_alloc(e->src, *bytes);
    return *prev ? RM_OK : RM_ENOMEM;
}

static void
slots_layout(uint32_t nslots, int with_irr, uint32_t *base, uint32_t **prev, uint32_t **next, uint64_t **key,
             uint64_t **last, uint64_t **irr, uint8_t **list)
{
    *prev = base;
    *next = base + nslots;
    *key = (uint64_t *)(base + 2 * (size_t)nslots);
    *last = with_irr ? *key + nslots : NULL;
    *irr = with_irr ? *last + nslots : NULL;
    *list = (uint8_t *)(*key + (with_irr ? 3 : 1) * (size_t)nslots);
}

/* Move the per-slot arrays to `base` (sb bytes from slots_alloc for nslots,
 * with the IRR clocks if with_irr), keeping the first min(nslots, old)
 * slots; clocks that did not exist before start at `now` (never aged). */
static void
slots_install(rm__bp_earc_t *e, uint32_t *base, size_t sb, uint32_t nslots, int with_irr)
{
    uint32_t *np, *nn;
    uint64_t *nk, *nt, *ni;
    uint8_t *nl;
    uint32_t keep = nslots < e->nslots ? nslots : e->nslots;
    slots_layout(nslots, with_irr, base, &np, &nn, &nk, &nt, &ni, &nl);
    memcpy(np, e->prev, keep * sizeof *np);
    memcpy(nn, e->next, keep * sizeof *nn);
    memcpy(nk, e->key, keep * sizeof *nk);
    memcpy(nl, e->list, keep * sizeof *nl);
    for (uint32_t i = 0; with_irr && i < keep; i++) {
        nt[i] = e->last ? e->last[i] : e->now;
        ni[i] = e->irr ? e->irr[i] : e->list[i] == RM_BP_L_WIN ? IRR_NONE : 0;
    }
    rm__bp_mem_free(e->src, e->prev, e->slot_bytes);
    e->prev = np;
    e->next = nn;
    e->key = nk;
    e->last = nt;
    e->irr = ni;
    e->list = nl;
    e->slot_bytes = sb;
    e->nslots = nslots;
}

/* The IRR history for capacity c: c / HIST_DIV slots. On failure the old
 * table (if any) stays: any size works, a smaller one remembers less. */
static rm_status_t
hist_alloc(rm__bp_earc_t *e, uint32_t c)
{
    size_t n = pow2_slots(c, HIST_DIV), bytes = 2 * n * sizeof(uint64_t);
    if (e->hs_key && bytes == e->hs_bytes)
        return RM_OK;
    uint64_t *b = rm__bp_mem_alloc(e->src, bytes);
    if (!b)
        return RM_ENOMEM;
    if (e->hs_key)
        rm__bp_mem_free(e->src, e->hs_key, e->hs_bytes);
    e->hs_key = b;
    e->hs_at = b + n;
    e->hs_mask = n - 1;
    e->hs_bytes = bytes;
    memset(e->hs_key, 0xff, n * sizeof(uint64_t));
    return RM_OK;
}

rm_status_t
rm__bp_earc_create(uint32_t nslots, uint32_t capacity, const rm__bp_policy_ops_t *ops, void *ctx,
                   const rm_pagesrc_t *src, rm__bp_earc_t **out)
{
    if (!ops || !out || capacity < 2 || nslots < capacity)
        return RM_EINVAL;
    rm__bp_earc_t *e = rm__bp_mem_alloc(src, sizeof *e);
    if (!e)
        return RM_ENOMEM;
    e->ops = ops;
    e->ctx = ctx;
    for (int i = 0; i < GATE_N; i++) {
        e->gs[i] = NULL;
        e->sq_d[i] = e->sq_n[i] = 0;
    }
    e->gs_thr = e->gs_refs = e->gate_switches = 0;
    e->gate_mode = GM_FULL;
    e->is_shadow = 0;
    e->sv_on = 0;
    e->src = src;
    uint32_t *base;
    if (slots_alloc(e, nslots, 0, &base, &e->slot_bytes) != RM_OK)
        goto fail_e;
    slots_layout(nslots, 0, base, &e->prev, &e->next, &e->key, &e->last, &e->irr, &e->list);
    e->hs_key = e->hs_at = NULL;
    e->hs_bytes = 0;
    e->nslots = nslots;
    uint32_t *gprev;
    rm__bp_map_t gmap;
    uint8_t *cm;
    size_t cm_mask, gb, cb;
    if (ghost_alloc(e, capacity, &gprev, &gmap, &cm, &cm_mask, &gb, &cb) != RM_OK)
        goto fail_slots;
    ghost_install(e, capacity, gprev, &gmap, cm, cm_mask, gb, cb);
    for (int l = 0; l < 4; l++) {
        e->L[l].head = RM_BP_NIL;
        e->L[l].size = 0;
    }
    e->c = capacity;
    e->p = 0;
    e->p_frac = 0;
    e->cl_hits = e->cl_misses = 0;
    e->misses = 0;
    e->gd_last = 0;
    e->gd_dec[0] = e->gd_dec[1] = e->gd_ret[0] = e->gd_ret[1] = 0;
    e->gd_admit_all = 0;
    e->exact = 0;
    e->cl_prev = 0;
    e->cl_step = -0.0625 * capacity;   /* Caffeine starts by shrinking */
    e->cl_w = (double)(capacity / WINDOW_DIV);
    earc_params(e);
    *out = e;
    return RM_OK;

fail_slots:
    rm__bp_mem_free(src, base, e->slot_bytes);
fail_e:
    rm__bp_mem_free(src, e, sizeof *e);
    return RM_ENOMEM;
}

void
rm__bp_earc_destroy(rm__bp_earc_t *e)
{
    if (!e)
        return;
    const rm_pagesrc_t *src = e->src;
    gate_free(e);
    ghost_free_all(e);
    if (e->hs_key)
        rm__bp_mem_free(src, e->hs_key, e->hs_bytes);
    rm__bp_mem_free(src, e->prev, e->slot_bytes);
    rm__bp_mem_free(src, e, sizeof *e);
}

size_t
rm__bp_earc_bytes(const rm__bp_earc_t *e)
{
    return sizeof *e + e->slot_bytes + e->ghost_bytes + e->gmap.bytes + e->cm_bytes + e->hs_bytes +
           shadow_bytes(e->gs[GM_FULL]) + shadow_bytes(e->gs[GM_ARC]) + shadow_bytes(e->gs[GM_FREQ]);
}

rm_status_t
rm__bp_earc_resize(rm__bp_earc_t *e, uint32_t nslots, uint32_t capacity)
{
    if (capacity < 2 || nslots < capacity)
        return RM_EINVAL;
    uint32_t *base = NULL;
    size_t sb = 0;
    /* A slot bound under half the arrays' (the caller has every slot ≥ nslots
     * out of the lists) gives the per-slot arrays back; without memory for
     * the smaller ones the larger stay. */
    int shrink_slots = nslots < e->nslots / 2;
    int with_irr = e->last != NULL;
    if ((nslots > e->nslots || shrink_slots) && slots_alloc(e, nslots, with_irr, &base, &sb) != RM_OK) {
        if (!shrink_slots)
            return RM_ENOMEM;
        base = NULL;
    }
    uint32_t *gprev = NULL;
    rm__bp_map_t gmap;
    uint8_t *cm = NULL;
    size_t cm_mask = 0, gb = 0, cb = 0;
    int regrow_ghosts = capacity > e->c;
    /* A shrink to under a quarter of what the ghost directory and the sketch
     * were sized for gives them back too (history restarts, as on a grow):
     * they are most of the policy's memory, and an agent whose budget was cut
     * from 2 GiB to 64 MiB kept 44 MB of it for a 4 915-frame pool. If the
     * smaller ones cannot be had, the larger ones stay: a shrink never fails. */
    int shrink_ghosts = !regrow_ghosts && (size_t)capacity * 2 + 2 < e->gcap / 4;
    if ((regrow_ghosts || shrink_ghosts) &&
        ghost_alloc(e, capacity, &gprev, &gmap, &cm, &cm_mask, &gb, &cb) != RM_OK) {
        if (shrink_ghosts) {
            shrink_ghosts = 0;
        } else {
            if (base)
                rm__bp_mem_free(e->src, base, sb);
            return RM_ENOMEM;
        }
    }
    if (base)
        slots_install(e, base, sb, nslots, with_irr);
    if (regrow_ghosts || shrink_ghosts) {
        /* ghosts and frequency history restart: cheap, and only on a grow or a large shrink */
        ghost_free_all(e);
        ghost_install(e, capacity, gprev, &gmap, cm, cm_mask, gb, cb);
    }
    e->c = capacity;
    earc_params(e);
    if (e->hs_key)
        (void)hist_alloc(e, capacity);   /* history restarts at the new size, or the old one stays */
    if (e->exact)
        gate_setup(e);                   /* shadows restart at the new size (none without memory) */
    return RM_OK;
}

static void
ghost_drop_oldest(rm__bp_earc_t *e, int b)
{
    uint32_t g = e->B[b].head;
    if (g == RM_BP_NIL)
        return;
    rm__bp_dl_unlink(&e->B[b], e->gprev, e->gnext, g);
    rm__bp_map_del_inline(&e->gmap, e->gkey[g]);
    e->glist[g] = RM_BP_L_NONE;
    e->gnext[g] = e->gfree;
    e->gfree = g;
}

static inline __attribute__((always_inline)) void
ghost_trim(rm__bp_earc_t *e)
{
    /* |T1| + |B1| ≤ m;  |T1| + |T2| + |B1| + |B2| ≤ 2m (ARC's directory bounds) */
    while (e->B[0].size && e->L[RM_BP_L_T1].size + e->B[0].size > e->m)
        ghost_drop_oldest(e, 0);
    while (e->B[0].size + e->B[1].size &&
           e->L[RM_BP_L_T1].size + e->L[RM_BP_L_T2].size + e->B[0].size + e->B[1].size > 2 * e->m) {
        if (e->B[1].size)
            ghost_drop_oldest(e, 1);
        else
            ghost_drop_oldest(e, 0);
    }
}

static inline __attribute__((always_inline)) void
ghost_add(rm__bp_earc_t *e, int b, uint64_t key)
{
    if (e->gfree == RM_BP_NIL) {
        /* directory full: drop the oldest ghost of the longer list */
        ghost_drop_oldest(e, e->B[1].size > e->B[0].size ? 1 : 0);
        if (e->gfree == RM_BP_NIL)
            return;
    }
    uint32_t g = e->gfree;
    e->gfree = e->gnext[g];
    e->gkey[g] = key;
    e->glist[g] = (uint8_t)(RM_BP_L_B1 + b);
    rm__bp_dl_push_tail(&e->B[b], e->gprev, e->gnext, g);
    rm__bp_map_put_inline(&e->gmap, key, g);
    ghost_trim(e);
}

/* slot_unlink and slot_push inline: ~5 calls a miss, and slot_push's list is
 * a constant at every call (ADR 0023, session 13) */
static inline __attribute__((always_inline)) void
slot_unlink(rm__bp_earc_t *e, uint32_t s)
{
    if (e->list[s] == RM_BP_L_T1)
        op_mark_t1(e, s, 0);
    rm__bp_dl_unlink(&e->L[e->list[s]], e->prev, e->next, s);
    e->list[s] = RM_BP_L_NONE;
}

static inline __attribute__((always_inline)) void
slot_push(rm__bp_earc_t *e, int l, uint32_t s)
{
    e->list[s] = (uint8_t)l;
    rm__bp_dl_push_tail(&e->L[l], e->prev, e->next, s);
    if (l == RM_BP_L_T1)
        op_mark_t1(e, s, 1);
}

/* Move window page s into the main cache with ARC's insertion rule. */
static inline __attribute__((always_inline)) void
main_insert(rm__bp_earc_t *e, uint32_t s)
{
    if (e->irr)
        e->irr[s] = 0;   /* from here on: when a duel win last aged it (never) */
    slot_unlink(e, s);
    size_t gi = rm__bp_map_slot_inline(&e->gmap, e->key[s]);
    if (gi != SIZE_MAX) {
        /* p was adapted when the miss was seen (rm__bp_earc_note_miss); the
         * ghost's entry goes from the slot the lookup found (one probe) */
        uint32_t g = e->gmap.vals[gi];
        rm__bp_dl_unlink(&e->B[e->glist[g] == RM_BP_L_B1 ? 0 : 1], e->gprev, e->gnext, g);
        rm__bp_map_del_at_inline(&e->gmap, gi);
        e->glist[g] = RM_BP_L_NONE;
        e->gnext[g] = e->gfree;
        e->gfree = g;
        slot_push(e, RM_BP_L_T2, s);
    } else {
        slot_push(e, RM_BP_L_T1, s);
    }
    ghost_trim(e);
}

/*
 * Advance the clock over list l (the window) until an unreferenced page is at
 * the hand. Bounded: returns RM_BP_NIL after two turns without finding one
 * (everything hot or pinned).
 */
static uint32_t
clock_hand(rm__bp_earc_t *e, int l)
{
    uint32_t budget = 2 * e->L[l].size + 2;
    while (e->L[l].size && budget--) {
        uint32_t s = e->L[l].head;
        if (op_test_clear_ref(e, s)) {
            e->L[l].head = e->next[s];
            continue;
        }
        return s;
    }
    return RM_BP_NIL;
}

/*
 * ARC's REPLACE choice among the main lists, not yet claimed. ARC moves a page
 * from T1 to T2 at its first hit; here the hit only sets REF and the T1 hand
 * moves it later, so |T1| counts pages that ARC would already have in T2. The
 * T1 pages referenced since they entered (ops->t1_refs, kept by the hit path)
 * are taken off |T1| in the comparison with p, and the choice is made again
 * after each page the hand moves: this is ARC's rule on ARC's T1, not on the
 * clock's lagging one. Without it a new hot set waits in T1 while stale pages
 * hold T2 (measured in ADR 0004).
 */
static inline __attribute__((always_inline)) uint32_t
main_victim(rm__bp_earc_t *e, int *from, int avoid)
{
    uint32_t budget = 2 * (e->L[RM_BP_L_T1].size + e->L[RM_BP_L_T2].size) + 4;
    while (budget--) {
        uint32_t t1 = e->L[RM_BP_L_T1].size, t1_unref;
        if (e->sv_on) {
            /* t1 − the counter, within 0 … t1 (op_t1_refs's clamp, one step) */
            int64_t n = atomic_load_explicit(e->sv.t1_refs, memory_order_relaxed);
            t1_unref = n <= 0 ? t1 : (uint64_t)n >= t1 ? 0 : t1 - (uint32_t)n;
        } else {
            uint32_t refs = op_t1_refs(e);
            t1_unref = t1 > refs ? t1 - refs : 0;
        }
        int l = (t1 && t1_unref >= (e->p > 1 ? e->p : 1)) || !e->L[RM_BP_L_T2].size ? RM_BP_L_T1 : RM_BP_L_T2;
        if (l == avoid && e->L[l == RM_BP_L_T1 ? RM_BP_L_T2 : RM_BP_L_T1].size)
            l = l == RM_BP_L_T1 ? RM_BP_L_T2 : RM_BP_L_T1;
        if (!e->L[l].size)
            return RM_BP_NIL;
        uint32_t s = e->L[l].head;
        if (e->sv_on && l == RM_BP_L_T1) {
            /* the promotion below in one step: clear T1, keep REF — the
             * state and the T1 count test_clear_ref, mark_t1(0) and set_ref
             * leave (the count drops by one for a T1 page with REF), two
             * locked instructions fewer */
            _Atomic uint64_t *st = sv_state(e, s);
            if (!(atomic_load_explicit(st, memory_order_relaxed) & RM_BP_SV_REF)) {
                *from = l;
                return s;
            }
            uint64_t b = atomic_fetch_and_explicit(st, ~RM_BP_SV_T1, memory_order_relaxed);
            if ((b & (RM_BP_SV_T1 | RM_BP_SV_REF)) == (RM_BP_SV_T1 | RM_BP_SV_REF))
                atomic_fetch_sub_explicit(e->sv.t1_refs, 1, memory_order_relaxed);
            rm__bp_dl_unlink(&e->L[RM_BP_L_T1], e->prev, e->next, s);
            e->list[s] = RM_BP_L_T2;
            rm__bp_dl_push_tail(&e->L[RM_BP_L_T2], e->prev, e->next, s);
            continue;
        }
        int r = op_test_clear_ref(e, s);
        if (!r) {
            *from = l;
            return s;
        }
        if (l == RM_BP_L_T1 && r == 1) {
            /* the reference that earns the move goes with the page: ARC puts
             * it at T2's MRU end. With the bit cleared it would be the first
             * unreferenced page the T2 hand meets after a sweep over old
             * references — after a working-set change, the new hot pages went
             * before the stale ones they were meant to replace (ADR 0004) */
            slot_unlink(e, s);
            slot_push(e, RM_BP_L_T2, s);
            op_set_ref(e, s);
        } else {
            e->L[l].head = e->next[s];
        }
    }
    return RM_BP_NIL;
}

static void
skip_slot(rm__bp_earc_t *e, uint32_t s)
{
    /* a page we could not claim (pinned, being written): move the hand past it */
    int l = e->list[s];
    if (e->L[l].head == s)
        e->L[l].head = e->next[s];
}

/* p up or down by `step` (1/2^P_FRAC_BITS pages), within 0 … m */
static void
p_move(rm__bp_earc_t *e, uint64_t step, int up)
{
    uint64_t max = (uint64_t)e->m << P_FRAC_BITS;
    uint64_t pfx = ((uint64_t)e->p << P_FRAC_BITS) | e->p_frac;
    if (pfx > max)
        pfx = max;
    if (up)
        pfx = step > max - pfx ? max : pfx + step;
    else
        pfx = pfx > step ? pfx - step : 0;
    e->p = (uint32_t)(pfx >> P_FRAC_BITS);
    e->p_frac = (uint32_t)(pfx & ((1u << P_FRAC_BITS) - 1));
}

/*
 * ARC's adaptation step δ, scaled by c / |B1 ∪ B2|. A ghost hit is evidence
 * in proportion to how much history the directory holds: with the directory
 * full (≈ c ghosts) this is ARC's step; while it is still filling (cold start,
 * after a grow) each hit stands for c/|B1 ∪ B2| hits of a full one, so p learns
 * at the same rate per access instead of creeping up by 1 while B2 is empty.
 * The fraction is kept, so small steps are not lost to rounding.
 */
static inline __attribute__((always_inline)) void
p_adapt(rm__bp_earc_t *e, uint32_t delta, int up)
{
    uint32_t g = e->B[0].size + e->B[1].size;
    uint64_t max = (uint64_t)e->m << P_FRAC_BITS;
    uint64_t unit = ((uint64_t)e->c << P_FRAC_BITS) / (g ? g : 1);
    p_move(e, unit && delta > max / unit ? max + 1 : (uint64_t)delta * unit, up);
}

static int
earc_full(const rm__bp_earc_t *e)
{
    return e->L[RM_BP_L_WIN].size + e->L[RM_BP_L_T1].size + e->L[RM_BP_L_T2].size >= e->c;
}

/*
 * The admission window's size, by Caffeine's hill climber: after each sample
 * of CLIMB_SAMPLE · c accesses with the cache full, step the window in the
 * direction that last raised the hit ratio (reverse when it fell). The step
 * starts at −6.25 % of c, decays by 0.98 a sample and restarts at 6.25 % when
 * the hit ratio moves by ≥ 5 points. Bounded to 1 page … 5 % of c (wider
 * windows lost on the shifting and Zipf shapes, ADR 0004). Runs at the miss
 * rate under the pool mutex, O(1) amortised: a sample costs one division,
 * and a smaller window moves at most the step's pages to main.
 */
static void
climb(rm__bp_earc_t *e)
{
    uint64_t tot = e->cl_hits + e->cl_misses;
    if (e->exact || tot < (uint64_t)e->c * CLIMB_SAMPLE)
        return;
    double hr = (double)e->cl_hits / (double)tot;
    double change = hr - e->cl_prev;
    double amount = change >= 0 ? e->cl_step : -e->cl_step;
    e->cl_step = (change >= 0.05 || change <= -0.05) ? 0.0625 * e->c * (amount >= 0 ? 1 : -1) : 0.98 * amount;
    e->cl_prev = hr;
    e->cl_hits = e->cl_misses = 0;
    e->cl_w += amount;
    earc_params(e);
    /* a smaller window: its oldest pages go to main without a duel */
    while (e->L[RM_BP_L_WIN].size > e->w)
        main_insert(e, e->L[RM_BP_L_WIN].head);
}

/*
 * The admission guard ("adaptive with a guard"). The duel is a bet that the
 * candidate will be wanted again later than the victim; on some shapes (a
 * working set that grows and shrinks, its newest pages the hot ones) it is
 * lost again and again — stale heat outbids newcomers that come back
 * within a few misses. The guard measures the bet on a sample: of the
 * candidates the duel would refuse, those whose key hashes into one class
 * (1/64) are always refused and those in another (1/64) always admitted.
 * The loser of each sampled decision — the refused candidate, or the victim
 * evicted in the admitted one's place — is remembered with the miss count;
 * a miss on it within c misses is a return. Per GUARD_DECISIONS sampled
 * decisions the two return rates are compared: when refused candidates come
 * back more often than the victims the admissions evicted, the other keys'
 * would-be refusals are admitted (plain CAR admission) until the next
 * comparison says otherwise. Rates per decision, not miss counts: set
 * dueling on misses in a shared cache favours the always-admitted class
 * (its pages take frames from everyone else) and chose "admit" on every
 * shape (ADR 0004, seventh round). O(1) per miss and per duel, at the miss
 * rate under the pool mutex; nothing on the hit path.
 */
static int
guard_class(uint64_t key)
{
    uint64_t h = rm__mix64(key ^ 0x2545f4914f6cdd1dull);
    unsigned c = (unsigned)(h >> (64 - GUARD_SAMPLE_BITS));
    return c == 0 ? 1 : c == 1 ? 0 : -1;   /* 1 = always refused, 0 = always admitted */
}

static size_t
guard_slot(const rm__bp_earc_t *e, uint64_t key)
{
    return (size_t)rm__mix64(key ^ 0x9e37ull) & e->gd_mask;
}

/* A sampled decision: remember its loser (class 1: the refused candidate,
 * class 0: the victim the admitted candidate evicted). */
static void
guard_record(rm__bp_earc_t *e, uint64_t loser, int cls)
{
    size_t h = guard_slot(e, loser);
    e->gd_key[h] = loser;
    e->gd_at[h] = e->misses << 1 | (uint64_t)cls;
    e->gd_last = e->misses;
    if (++e->gd_dec[cls] + e->gd_dec[1 - cls] > GUARD_DECISIONS) {
        /* returns per decision (+1: no division by zero, a slight pull to 0) */
        double r_ref = (double)e->gd_ret[1] / (e->gd_dec[1] + 1.0);
        double r_adm = (double)e->gd_ret[0] / (e->gd_dec[0] + 1.0);
        e->gd_admit_all = r_ref > r_adm;
        for (int i = 0; i < 2; i++) {
            e->gd_dec[i] /= 2;
            e->gd_ret[i] /= 2;
        }
    }
}

static void
guard_note_miss(rm__bp_earc_t *e, uint64_t key)
{
    e->misses++;
    /* a loser remembered more than c misses ago no longer counts as a
     * return, and clearing it has no other effect (guard_record overwrites
     * its slot whatever it holds); c grows only through ghost_install, which
     * empties the table. So when the newest decision is that old, no entry
     * can count: no probe (the same counts; in speedtest1 a sampled decision
     * comes about once per 1 000 misses, ADR 0023 session 14) */
    if (e->misses - e->gd_last > e->c)
        return;
    size_t h = guard_slot(e, key);
    if (e->gd_key[h] != key)
        return;
    e->gd_key[h] = RM_BP_MAP_EMPTY;
    if (e->misses - (e->gd_at[h] >> 1) <= e->c)
        e->gd_ret[e->gd_at[h] & 1]++;
}

/* IRR history: direct-mapped, the newest key of a slot wins */
static size_t
hist_slot(const rm__bp_earc_t *e, uint64_t key)
{
    return (size_t)rm__mix64(key ^ 0x51ed27ull) & e->hs_mask;
}

/* ---- plain per-slot bits (the simulator's frames, the gate's shadows) ---- */

static int
plain_test_clear_ref(void *ctx, uint32_t s)
{
    rm__bp_plain_t *c = ctx;
    int r = c->ref[s];
    if (r && c->t1[s])
        c->t1_refs--;
    c->ref[s] = 0;
    return r;
}

static void
plain_mark_t1(void *ctx, uint32_t s, int in_t1)
{
    rm__bp_plain_t *c = ctx;
    if (c->t1[s] != (in_t1 != 0) && c->ref[s]) {
        if (in_t1)
            c->t1_refs++;
        else
            c->t1_refs--;
    }
    c->t1[s] = in_t1 != 0;
}

static void
plain_set_ref(void *ctx, uint32_t s)
{
    rm__bp_plain_t *c = ctx;
    if (!c->ref[s] && c->t1[s])
        c->t1_refs++;
    c->ref[s] = 1;
}

static uint32_t
plain_t1_refs(void *ctx)
{
    return ((rm__bp_plain_t *)ctx)->t1_refs;
}

static unsigned
plain_freq(void *ctx, uint32_t s)
{
    return ((rm__bp_plain_t *)ctx)->freq[s];
}

static void
plain_age(void *ctx, uint32_t s)
{
    ((rm__bp_plain_t *)ctx)->freq[s] >>= 1;
}

static int
plain_try_claim(void *ctx, uint32_t s)
{
    (void)ctx;
    (void)s;
    return 1;
}

const rm__bp_policy_ops_t rm__bp_plain_ops = {
    .test_clear_ref = plain_test_clear_ref,
    .freq = plain_freq,
    .age = plain_age,
    .try_claim = plain_try_claim,
    .mark_t1 = plain_mark_t1,
    .t1_refs = plain_t1_refs,
    .set_ref = plain_set_ref,
};

/* ---- the gate: miniature simulation (issue 21, tenth and eleventh rounds) --------------
 * Waldspurger et al.'s miniature simulation (ATC'17) as a switch among three
 * experts. The keys whose hash falls under gs_thr (a fraction ≈ cs / c) are
 * replayed, in the order the policy sees them — misses as they are noted,
 * hits as the drain applies them — through three shadow caches of
 * cs = c / GATE_DIV pages (at least GATE_MIN), the same policy in each mode:
 * GM_FULL (frequency duel, IRR test, regret bias, guard), GM_ARC (every
 * candidate admitted, ARC's real-valued p step: within 0.0006 of classic
 * ARC's hit ratio on every case of the suite, ADR 0004 § 3e) and GM_FREQ (the
 * duel and the IRR test only). For each other mode the gate keeps its
 * shadow's hits minus the current mode's shadow's on the sampled references
 * where exactly one of the two hit (sq_d), and how many those were (sq_n):
 * with no real difference sq_d is a ±1 walk of sq_n steps, so the real
 * policy moves to the mode with the largest sq_d − z·√sq_n > 0 once
 * sq_n ≥ GATE_NMIN (then all evidence restarts). The bar z is one-sided
 * (twelfth round): GATE_Z_ARC = 2 into GM_ARC, whose loss when chosen
 * wrongly is a few thousandths of hit ratio where the others lead, and
 * GATE_Z_FREQ = 3.5 into GM_FREQ, which loses up to 0.5 on a moving
 * working set; GATE_Z = 3 into GM_FULL. Every GATE_DECAY · cs
 * sampled references the evidence halves, so old phases fade. Switching
 * changes only the admission decision and the p step: O(1). Costs, exact
 * mode only: three shadow policies of cs pages (≈ 240 B a shadow page, so
 * ≈ 22 B per frame at c / 32); O(1) amortised per sampled reference (a map
 * probe, a touch or a miss with an eviction in each shadow), under the pool
 * mutex at the miss rate; nothing on the pin path. A shadow's hits are the
 * drain's, so hits the ring dropped are not seen (as the real policy does
 * not see them). */
typedef struct gate_shadow {
    rm__bp_plain_t bits;
    uint8_t *arr;              /* c × (8-byte key, ref, freq, t1) */
    size_t arr_bytes;
    uint64_t *slot_key;
    rm__bp_map_t map;
    rm__bp_earc_t *e;
    uint32_t c, used;
    uint64_t hits, unreported;
} gate_shadow_t;

static uint64_t
gate_hash(uint64_t key)
{
    return rm__mix64(key ^ 0x6a09e667f3bcc909ull);
}

static void
shadow_destroy(const rm_pagesrc_t *src, gate_shadow_t *sh)
{
    if (!sh)
        return;
    if (sh->e)
        rm__bp_earc_destroy(sh->e);
    if (sh->map.bytes)
        rm__bp_map_fini(&sh->map);
    if (sh->arr)
        rm__bp_mem_free(src, sh->arr, sh->arr_bytes);
    rm__bp_mem_free(src, sh, sizeof *sh);
}

static gate_shadow_t *
shadow_create(const rm_pagesrc_t *src, uint32_t c, int mode)
{
    gate_shadow_t *sh = rm__bp_mem_alloc(src, sizeof *sh);
    if (!sh)
        return NULL;
    memset(sh, 0, sizeof *sh);
    sh->c = c;
    sh->arr_bytes = (size_t)c * (3 + sizeof(uint64_t));
    sh->arr = rm__bp_mem_alloc(src, sh->arr_bytes);
    if (!sh->arr || rm__bp_map_init(&sh->map, c, src) != RM_OK) {
        shadow_destroy(src, sh);
        return NULL;
    }
    memset(sh->arr, 0, sh->arr_bytes);
    sh->slot_key = (uint64_t *)sh->arr;
    sh->bits.ref = sh->arr + (size_t)c * sizeof(uint64_t);
    sh->bits.freq = sh->bits.ref + c;
    sh->bits.t1 = sh->bits.freq + c;
    if (rm__bp_earc_create(c, c, &rm__bp_plain_ops, &sh->bits, src, &sh->e) != RM_OK) {
        sh->e = NULL;
        shadow_destroy(src, sh);
        return NULL;
    }
    sh->e->is_shadow = 1;
    rm__bp_earc_set_exact(sh->e, 1);
    if (!sh->e->exact) {
        shadow_destroy(src, sh);
        return NULL;
    }
    sh->e->gate_mode = mode;   /* after set_exact, whose gate_setup resets it */
    return sh;
}

static size_t
shadow_bytes(const gate_shadow_t *sh)
{
    return sh ? sizeof *sh + sh->arr_bytes + sh->map.bytes + rm__bp_earc_bytes(sh->e) : 0;
}

/* One sampled reference, applied at once (the shadow has no ring). */
static void
shadow_ref(gate_shadow_t *sh, uint64_t key)
{
    uint32_t s = rm__bp_map_get(&sh->map, key);
    if (s != RM_BP_NIL) {
        sh->hits++;
        sh->unreported++;
        if (sh->bits.freq[s] < FREQ_MAX)
            sh->bits.freq[s]++;
        rm__bp_earc_touch(sh->e, s);
        return;
    }
    rm__bp_earc_note_hits(sh->e, sh->unreported);
    sh->unreported = 0;
    rm__bp_earc_note_miss(sh->e, key);
    if (sh->used < sh->c) {
        s = sh->used++;
    } else {
        s = rm__bp_earc_evict(sh->e);   /* nothing is pinned in a shadow: not RM_BP_NIL */
        if (s == RM_BP_NIL)
            return;
        rm__bp_map_del(&sh->map, sh->slot_key[s]);
    }
    sh->slot_key[s] = key;
    sh->bits.ref[s] = 0;
    sh->bits.freq[s] = 0;
    rm__bp_map_put(&sh->map, key, s);
    rm__bp_earc_admit(sh->e, s, key);
}

static void
gate_free(rm__bp_earc_t *e)
{
    for (int i = 0; i < GATE_N; i++) {
        shadow_destroy(e->src, e->gs[i]);
        e->gs[i] = NULL;
    }
    e->gate_mode = GM_FULL;
}

/* (Re)build the shadows for capacity e->c; without memory (or below
 * RM_BP_GATE_MIN_C frames) there is no gate and the features stay on. */
static void
gate_setup(rm__bp_earc_t *e)
{
    gate_free(e);
    if (e->is_shadow || !e->exact || e->c < RM_BP_GATE_MIN_C)
        return;
    uint32_t cs = e->c / GATE_DIV < GATE_MIN ? GATE_MIN : e->c / GATE_DIV;
    for (int i = 0; i < GATE_N; i++) {
        if (!(e->gs[i] = shadow_create(e->src, cs, i))) {
            gate_free(e);
            return;
        }
    }
    /* cs ≤ c / 4, so the fraction stays below 1 */
    e->gs_thr = (uint64_t)((double)cs / (double)e->c * 18446744073709551615.0);
    e->gs_refs = 0;
    for (int i = 0; i < GATE_N; i++)
        e->sq_d[i] = e->sq_n[i] = 0;   /* the mode is GM_FULL again: gate_free above */
}

static void
gate_ref(rm__bp_earc_t *e, uint64_t key)
{
    if (gate_hash(key) > e->gs_thr)
        return;
    int hit[GATE_N], cur = e->gate_mode;
    for (int i = 0; i < GATE_N; i++) {
        uint64_t h = e->gs[i]->hits;
        shadow_ref(e->gs[i], key);
        hit[i] = e->gs[i]->hits != h;
    }
    int next = cur;
    double best = 0;
    for (int i = 0; i < GATE_N; i++) {
        if (i == cur)
            continue;
        if (hit[i] != hit[cur]) {
            e->sq_n[i] += 1;
            e->sq_d[i] += hit[i] ? 1 : -1;
        }
        double z = i == GM_ARC ? GATE_Z_ARC : i == GM_FREQ ? GATE_Z_FREQ : GATE_Z;
        double lead = e->sq_d[i] - z * sqrt(e->sq_n[i]);
        if (e->sq_n[i] >= GATE_NMIN && lead > best) {
            best = lead;
            next = i;
        }
    }
    if (next != cur) {
        e->gate_mode = next;
        e->gate_switches++;
        for (int i = 0; i < GATE_N; i++)
            e->sq_d[i] = e->sq_n[i] = 0;
    }
    if (++e->gs_refs >= (uint64_t)GATE_DECAY * e->gs[GM_FULL]->c) {
        for (int i = 0; i < GATE_N; i++) {
            e->sq_d[i] /= 2;
            e->sq_n[i] /= 2;
        }
        e->gs_refs = 0;
    }
}

int
rm__bp_earc_gate(const rm__bp_earc_t *e, uint64_t *switches)
{
    if (switches)
        *switches = e->gate_switches;
    return e->gate_mode;
}

void
rm__bp_earc_note_miss(rm__bp_earc_t *e, uint64_t key)
{
    if (e->gs[GM_FULL])
        gate_ref(e, key);
    if (e->exact) {
        /* the newcomer's IRR, if its previous access is remembered */
        size_t h = hist_slot(e, key);
        e->pend_key = key;
        e->pend_irr = IRR_NONE;
        if (e->hs_key[h] == key) {
            e->pend_irr = e->now - e->hs_at[h];
            e->hs_key[h] = RM_BP_MAP_EMPTY;
        }
    }
    cm_add_inline(e, key, 1);
    if (earc_full(e)) {
        e->cl_misses++;
        climb(e);
    }
    /* frequency history ages with time, and time is accesses, not misses: a
     * miss-driven clock barely moves when the hit ratio is high, and stale
     * heat then outlives the working set that earned it */
    if (++e->now - e->aged_at >= e->age_period)
        earc_age(e);
    guard_note_miss(e, key);
    /* admission regret, ARC-style: a miss on a page we refused means the
     * door was too strict; a miss on a page evicted to let a candidate in
     * means it was too lax */
    size_t h = rm__mix64(key) & e->rg_mask;
    if (e->rg_rej[h] == key) {
        e->rg_rej[h] = RM_BP_MAP_EMPTY;
        e->bias = e->bias + BIAS_UP < BIAS_MAX ? e->bias + BIAS_UP : BIAS_MAX;
    } else if (e->rg_vic[h] == key) {
        e->rg_vic[h] = RM_BP_MAP_EMPTY;
        e->bias = e->bias > BIAS_DOWN ? e->bias - BIAS_DOWN : 0;
    }
    /* ARC's adaptation happens at the miss, as in the paper, whether or not
     * the page later wins its way into main */
    uint32_t g = rm__bp_map_get_inline(&e->gmap, key);
    if (g == RM_BP_NIL)
        return;
    uint32_t b1 = e->B[0].size, b2 = e->B[1].size;
    if (e->gate_mode == GM_ARC) {
        /* ARC's own step, real-valued (δ = max(1, |B2|/|B1|) or its
         * mirror, no c / |B1 ∪ B2| scaling): with every candidate admitted
         * this is classic ARC within 0.0006 on every case of the suite */
        int up = e->glist[g] == RM_BP_L_B1;
        double d = up ? (b1 >= b2 ? 1.0 : (double)b2 / b1) : (b2 >= b1 ? 1.0 : (double)b1 / b2);
        p_move(e, (uint64_t)(d * (double)(1u << P_FRAC_BITS)), up);
        if (up)
            e->b1_hits++;
        else
            e->b2_hits++;
        return;
    }
    if (e->glist[g] == RM_BP_L_B1) {
        p_adapt(e, b1 ? (b2 / b1 > 1 ? b2 / b1 : 1) : 1, 1);
        e->b1_hits++;
        /* T1 was too small: recency is worth more than T2's old references
         * right now, so the T2 hand ages them a step ahead of need (a stale
         * T2 page keeps its REF bit from before a shift for a whole turn) */
        for (int k = 0; k < T2_AGE_STEP && e->L[RM_BP_L_T2].size && !e->exact; k++) {
            uint32_t s = e->L[RM_BP_L_T2].head;
            (void)op_test_clear_ref(e, s);
            e->L[RM_BP_L_T2].head = e->next[s];
        }
    } else {
        p_adapt(e, b2 ? (b1 / b2 > 1 ? b1 / b2 : 1) : 1, 0);
        e->b2_hits++;
    }
}

void
rm__bp_earc_note_hits(rm__bp_earc_t *e, uint64_t n)
{
    e->now += n;
    if (earc_full(e)) {
        e->cl_hits += n;
        climb(e);
    }
}

void
rm__bp_earc_set_exact(rm__bp_earc_t *e, int on)
{
    if (on && !e->last) {
        /* the IRR test's clocks and history; without memory for them the
         * policy stays in CAR mode (the drain's touches only reorder) */
        uint32_t *base;
        size_t sb;
        if (slots_alloc(e, e->nslots, 1, &base, &sb) != RM_OK)
            return;
        if (hist_alloc(e, e->c) != RM_OK) {
            rm__bp_mem_free(e->src, base, sb);
            return;
        }
        slots_install(e, base, sb, e->nslots, 1);
    }
    e->exact = on != 0 && e->last;
    earc_params(e);
    gate_setup(e);
    while (e->L[RM_BP_L_WIN].size > e->w)
        main_insert(e, e->L[RM_BP_L_WIN].head);
}

int
rm__bp_earc_exact(const rm__bp_earc_t *e)
{
    return e->exact;
}

/* Exact recency: a hit on resident slot s, applied in order (ARC's case I):
 * a T1 or T2 page goes to T2's MRU end, a window page to the window's. O(1). */
void
rm__bp_earc_touch(rm__bp_earc_t *e, uint32_t s)
{
    if (s >= e->nslots || e->list[s] == RM_BP_L_NONE)
        return;
    if (e->gs[GM_FULL])
        gate_ref(e, e->key[s]);
    int l = e->list[s] == RM_BP_L_WIN ? RM_BP_L_WIN : RM_BP_L_T2;
    if (e->last) {
        if (l == RM_BP_L_WIN)
            e->irr[s] = e->now - e->last[s];   /* re-referenced while on probation */
        e->last[s] = e->now;
    }
    /* the hit is applied: its REF bit no longer asks the hands for a
     * second chance (only hits the ring dropped keep theirs) */
    (void)op_test_clear_ref(e, s);
    slot_unlink(e, s);
    slot_push(e, l, s);
}

/* the window is over its target while main still has room: while the cache
 * is not full, the window overflows into main freely */
static inline int
win_overflows(const rm__bp_earc_t *e)
{
    return e->L[RM_BP_L_WIN].size > e->w && e->L[RM_BP_L_T1].size + e->L[RM_BP_L_T2].size < e->m;
}

/* rm__bp_earc_admit's overflow, out of line: main_insert inlined there made
 * every admission save five registers for a loop that runs while the cache
 * fills (≈ 5 % of speedtest1's admissions; ADR 0023, session 14) */
static __attribute__((noinline)) void
admit_overflow(rm__bp_earc_t *e)
{
    while (win_overflows(e))
        main_insert(e, e->L[RM_BP_L_WIN].head);
}

void
rm__bp_earc_admit(rm__bp_earc_t *e, uint32_t slot, uint64_t key)
{
    assert(slot < e->nslots && e->list[slot] == RM_BP_L_NONE);
    e->key[slot] = key;
    if (e->last) {
        e->last[slot] = e->now;
        e->irr[slot] = key == e->pend_key ? e->pend_irr : IRR_NONE;
    }
    e->pend_key = RM_BP_MAP_EMPTY;
    slot_push(e, RM_BP_L_WIN, slot);
    if (win_overflows(e))
        admit_overflow(e);
}

void
rm__bp_earc_admit_main(rm__bp_earc_t *e, uint32_t slot, uint64_t key)
{
    assert(slot < e->nslots && e->list[slot] == RM_BP_L_NONE);
    e->key[slot] = key;
    if (e->last) {
        e->last[slot] = e->now;
        e->irr[slot] = 0;
    }
    slot_push(e, RM_BP_L_T1, slot);
    ghost_trim(e);
}

static inline __attribute__((always_inline)) uint32_t
evict_slot(rm__bp_earc_t *e, uint32_t s, int ghost_list)
{

    cm_add(e, e->key[s], op_freq(e, s));
    if (e->exact) {
        size_t h = hist_slot(e, e->key[s]);
        e->hs_key[h] = e->key[s];
        e->hs_at[h] = e->last[s];
    }
    slot_unlink(e, s);
    if (ghost_list >= 0)
        ghost_add(e, ghost_list, e->key[s]);
    return s;
}

/* Main's victim v (claimed, from list `from`) leaves for window page cand. */
static uint32_t
replace_victim(rm__bp_earc_t *e, uint32_t v, int from, uint32_t cand)
{
    evict_slot(e, v, from == RM_BP_L_T1 ? 0 : 1);
    main_insert(e, cand);
    return v;
}

uint32_t
rm__bp_earc_evict(rm__bp_earc_t *e)
{
    return rm__bp_earc_evict_bounded(e, 2 * (e->L[RM_BP_L_WIN].size + e->L[RM_BP_L_T1].size +
                                             e->L[RM_BP_L_T2].size) + 8);
}

uint32_t
rm__bp_earc_evict_bounded(rm__bp_earc_t *e, uint32_t tries)
{
    /* a list whose victim could not be claimed (pinned, being written) is
     * passed over for the rest of this call: with one page in it, moving its
     * hand would find the same page again */
    int avoid = -1;
    while (tries--) {
        uint32_t main_n = e->L[RM_BP_L_T1].size + e->L[RM_BP_L_T2].size;
        if (e->L[RM_BP_L_WIN].size && (e->L[RM_BP_L_WIN].size >= e->w || main_n == 0)) {
            uint32_t cand = clock_hand(e, RM_BP_L_WIN);
            if (cand == RM_BP_NIL)
                cand = e->L[RM_BP_L_WIN].head;   /* all referenced: the oldest goes */
            if (main_n < e->m) {
                main_insert(e, cand);              /* room in main: no contest */
                continue;
            }
            int from = 0;
            uint32_t v = main_n ? main_victim(e, &from, avoid) : RM_BP_NIL;
            /* the newcomer needs a strictly higher estimate: ties keep the
             * incumbent, which is what holds a stable part of a loop */
            int admit = 0;
            if (v != RM_BP_NIL && e->gate_mode == GM_ARC) {
                admit = 1;   /* the gate chose ARC's admission */
            } else if (v != RM_BP_NIL) {
                unsigned fc = earc_freq(e, cand), fv = earc_freq(e, v);
                admit = fc + (e->gate_mode == GM_FREQ ? 0u : (unsigned)e->bias) > fv;
                /* LIRS's test where the estimates do not clearly differ
                 * (the newcomer's at most IRR_NEAR_Q/4 of the victim's, the
                 * bias's admissions included): a newcomer whose previous
                 * access came before the victim's last one (IRR ≥ the
                 * victim's recency) stays out. On a loop every newcomer's
                 * IRR is the loop's period and every resident's recency is
                 * shorter, so sketch noise and the bias no longer trade the
                 * loop's stable part for the next pages */
                if (admit && fc * 4 <= fv * IRR_NEAR_Q && e->exact && e->irr[cand] != IRR_NONE &&
                    e->irr[cand] >= e->now - e->last[v])
                    admit = 0;
            }
            if (v != RM_BP_NIL && !admit) {
                /* a would-be refusal: sampled, or decided by the guard */
                int cls = e->gate_mode == GM_FREQ ? -1 : guard_class(e->key[cand]);
                if (cls == 1) {
                    guard_record(e, e->key[cand], 1);
                } else if (cls == 0) {
                    guard_record(e, e->key[v], 0);
                    admit = 1;
                } else {
                    admit = e->gate_mode == GM_FREQ ? 0 : e->gd_admit_all;
                }
            }
            if (admit) {
                if (!e->ops->try_claim(e->ctx, v)) {
                    skip_slot(e, v);
                    avoid = from;
                    continue;
                }
                e->rg_vic[rm__mix64(e->key[v]) & e->rg_mask] = e->key[v];
                return replace_victim(e, v, from, cand);
            }
            if (!e->ops->try_claim(e->ctx, cand)) {
                /* the newcomer is pinned — in use, so it goes to main and
                 * main's victim makes room; skipping it alone would retry the
                 * same page when the window is one page long */
                if (v != RM_BP_NIL && e->ops->try_claim(e->ctx, v))
                    return replace_victim(e, v, from, cand);
                skip_slot(e, cand);
                if (v != RM_BP_NIL) {
                    skip_slot(e, v);
                    avoid = from;
                }
                continue;
            }
            if (v != RM_BP_NIL) {
                /* the incumbent won a duel while unreferenced: its heat decays
                 * and the hand moves past it, so a cold-but-once-hot page
                 * cannot hold the door against a new hot set forever */
                e->rejects++;
                e->rg_rej[rm__mix64(e->key[cand]) & e->rg_mask] = e->key[cand];
                if (!e->exact) {
                    e->ops->age(e->ctx, v);
                } else if (e->irr[v] <= e->last[v]) {
                    /* exact mode: the LRU victim meets every newcomer until
                     * it loses, so only its first win since its last access
                     * ages it — halving it at each win made a resident loop
                     * page lose to the next loop page after a few misses */
                    e->ops->age(e->ctx, v);
                    e->irr[v] = e->now + 1;
                }
                if (!e->exact)
                    skip_slot(e, v);
            }
            return evict_slot(e, cand, -1);
        }
        if (main_n == 0)
            return RM_BP_NIL;
        int from = 0;
        uint32_t v = main_victim(e, &from, avoid);
        if (v == RM_BP_NIL) {
            /* everything referenced twice over: take the T1 (or T2) head */
            from = e->L[RM_BP_L_T1].size ? RM_BP_L_T1 : RM_BP_L_T2;
            v = e->L[from].head;
        }
        if (!e->ops->try_claim(e->ctx, v)) {
            skip_slot(e, v);
            avoid = from;
            continue;
        }
        return evict_slot(e, v, from == RM_BP_L_T1 ? 0 : 1);
    }
    return RM_BP_NIL;
}

void
rm__bp_earc_remove(rm__bp_earc_t *e, uint32_t slot)
{
    if (slot < e->nslots && e->list[slot] != RM_BP_L_NONE)
        slot_unlink(e, slot);
}

int
rm__bp_earc_contains(const rm__bp_earc_t *e, uint32_t slot)
{
    return slot < e->nslots && e->list[slot] != RM_BP_L_NONE;
}

void
rm__bp_earc_stats(const rm__bp_earc_t *e, rm__bp_earc_stats_t *out)
{
    out->win = e->L[RM_BP_L_WIN].size;
    out->t1 = e->L[RM_BP_L_T1].size;
    out->t2 = e->L[RM_BP_L_T2].size;
    uint32_t refs = op_t1_refs(e);
    out->t1_refs = refs < out->t1 ? refs : out->t1;
    out->b1 = e->B[0].size;
    out->b2 = e->B[1].size;
    out->p = e->p;
    out->b1_hits = e->b1_hits;
    out->b2_hits = e->b2_hits;
    out->rejects = e->rejects;
    out->bias = (uint64_t)e->bias;
    out->guard_admit_all = (uint64_t)e->gd_admit_all;
}
