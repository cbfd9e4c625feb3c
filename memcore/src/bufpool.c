/*
 * bufpool.c — the buffer pool: frames, page files, pin/unpin, I/O, the
 * background writer, resize, emergency eviction and stats.
 *
 * Design note (see also docs/adr/0004-buffer-pool-eviction.md):
 *
 *  Frame state word. Each frame descriptor (one cache line) holds an atomic
 *  64-bit state: shared pin count (bits 0–19), X (exclusive latch), INVALID
 *  (free, loading or being evicted: not pinnable), REF, a 4-bit FREQ and T1 for
 *  the policy, DIRTY, PREFETCHED (read ahead, not yet used), WRITING (a copy is on
 *  its way to disk: not evictable), LOADING (read in progress). A SHARED hit
 *  by a thread that owns its stats stripe is a slot pin (ADR 0004 § 3j, "slot
 *  pins" below): the frame index goes into one of the thread's own slots, a
 *  fence, then the state and key are read again; the word is written only
 *  when REF/FREQ change, so a hot page's hit writes no line the other cores
 *  write. Other pins are one CAS on this word — it adds the pin and sets
 *  REF/FREQ together — followed by a re-check of the frame's key; whatever
 *  needs "no pin" (eviction's claim, the X latch) sets INVALID or X and then
 *  looks at every thread's slots. Besides, a hit writes a per-thread stats
 *  stripe, the thread's hit ring (one atomic add while it has room; `hitbuf`,
 *  drained under mu before each eviction so the policy keeps exact LRU
 *  order, ADR 0004 § 3c) — and, when it sets the REF bit of a T1 frame, the
 *  policy's t1_refs counter.
 *
 *  Locks. `mu` serialises misses, evictions, the policy, the free list, resize
 *  and page-table writes. `io_mu` serialises use of the double-write file and
 *  its batch buffer; order is mu → io_mu (the writer thread takes io_mu
 *  without mu). Reads of missed pages happen outside mu, with the frame
 *  LOADING; a second thread that wants the same page waits for it (yield).
 *  A dirty victim chosen by a miss is written under mu (rare: the background
 *  writer keeps pages clean ahead of eviction).
 *
 *  Durability. Pages leave the pool only through write_batch_locked(): the
 *  batch (≤ 32 pages, each already stamped with page number, magic and CRC32C
 *  of the page) goes to the double-write file `rustymem.dw` with a checksummed
 *  header, is synced, then written in place and synced. At create, every
 *  double-write entry whose in-place page fails its checksum is copied back:
 *  so after a crash every page is either its last flushed content or, for a
 *  write cut off mid-way, restored from the double-write copy — never torn.
 *
 *  Failed writes. A page whose write-back fails keeps its data and its DIRTY
 *  bit, and its frame is marked `wfail` (counted in `wfail_frames`) until a
 *  later write of it succeeds or it is discarded: "writes failing" is exactly
 *  "some dirty page cannot be written", so it cannot flap when unrelated pages
 *  (overwrites of blocks a full file system already holds) still write. While
 *  it holds, a miss first asks the policy for a clean victim (`clean_only`
 *  makes pol_try_claim refuse dirty frames, the hand passes over them as over
 *  pinned ones, at most RM_BUFPOOL_CLEAN_SEARCH victims), then tries one dirty
 *  write — which is also how the pool notices that space came back.
 *
 *  Resize. Frame descriptors live in segments of 1024; data lives in extents
 *  mapped from the page source on grow. Shrink evicts the frames at the top
 *  (writing dirty ones), gives their memory back with the page source's
 *  release(), and then gives back the metadata sized for the old pool
 *  (docs/adr/0022): a page table built for the smaller pool replaces the big
 *  one, the policy's per-slot arrays and the free list are reallocated
 *  smaller, and the descriptor segments wholly above the new size are
 *  detached. Lock-free readers (the pin fast path, the writer's and stats'
 *  scans) may still hold the old table or a detached segment, so what was
 *  replaced is freed only after a grace period: every reader runs inside a
 *  reader section (rd_enter/rd_exit, two counters per stripe, SRCU-style,
 *  with membarrier(2) as the fence's heavy side), and grace_wait flips the
 *  epoch twice and waits until the counters of the old epoch are zero. The
 *  wait runs without the pool mutex.
 */
#include "bufpool_internal.h"
#include "rustymem/stats.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/membarrier.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

/* ---- frame state -------------------------------------------------------------- */
#define ST_PIN_MASK   0xFFFFFull
#define ST_X          (1ull << 20)
#define ST_INVALID    (1ull << 21)
#define ST_REF        (1ull << 22)
#define ST_DIRTY      (1ull << 23)
#define ST_FREQ_SHIFT 24
#define ST_FREQ_MASK  (0xFull << ST_FREQ_SHIFT)
#define ST_FREQ_ONE   (1ull << ST_FREQ_SHIFT)
#define ST_PREFETCHED (1ull << 28)
#define ST_WRITING    (1ull << 29)
#define ST_LOADING    (1ull << 30)
#define ST_T1         (1ull << 31)   /* the policy has the frame in T1 (bufpool_arc.c) */

#define KEY_NONE UINT64_MAX
#define PAGE_MAGIC 0x52504d47u   /* "GMPR" little-endian: rustymem page */
#define DW_MAGIC   0x57444d52u   /* "RMDW" */
#define DW_MAX     32            /* pages per double-write batch */
#define SEG_SHIFT  10
#define SEG_SIZE   (1u << SEG_SHIFT)
#define MAX_SEGS   65536u        /* 64 Mi frames */
_Static_assert((uint64_t)MAX_SEGS * SEG_SIZE == RM_BUFPOOL_FRAMES_MAX,
               "the segment table addresses exactly RM_BUFPOOL_FRAMES_MAX frames");
#define MAX_EXTENTS 512
#define STRIPES    64
#define PF_MAX_WINDOW 64
#define PF_MIN_WINDOW 4
#define HIT_REPORT_EVERY 16          /* misses between hit-count reports to the policy */

static inline uint64_t
mkkey(uint32_t file, uint64_t page)
{
    return ((uint64_t)file << 40) | page;
}

struct rm_bufpool_frame {
    _Atomic uint64_t state;
    _Atomic uint64_t key;       /* (file << 40) | page, KEY_NONE when free; written under mu */
    unsigned char *data;        /* page_size bytes; fixed once the frame is mapped */
    uint32_t idx;
    _Atomic uint32_t wfail;     /* 1 while the page's last write-back failed; changed under err_mu */
} RM_ALIGNED_CL;

/* 128-byte aligned: the adjacent-line prefetcher pairs 64-byte lines, so two
 * threads' stripes must not share a 128-byte block */
typedef struct stripe {
    _Atomic uint64_t hits;
    _Atomic uint64_t misses;
    _Atomic uint64_t pf_used;
    _Atomic uint64_t readers[2];    /* reader sections open, per epoch parity */
    _Atomic int64_t dirty;          /* st_moved: this stripe's share of the dirty frames */
    _Atomic int64_t pinned;         /* … and of the pinned ones (a share may be negative) */
    /* slot pins (ADR 0004 § 3j): SHARED pins of the stripe's owner, frame
     * index + 1 each, 0 = free. Taken (exchange) and given back (CAS) by the
     * owner; another thread clears one only with a CAS, when a pin was handed
     * over to it. Read by every check for pins (slots_hold). */
    _Atomic uint32_t pin[RM_BP_PIN_SLOTS];
    _Atomic uint32_t pin_reg;       /* 1: this stripe's bit is in the pool's pin_users */
} __attribute__((aligned(2 * RM_CACHELINE))) stripe_t;
_Static_assert(sizeof(stripe_t) == 2 * RM_CACHELINE, "a stripe, slots included, is one 128-byte block");

/* Exact recency's lossy hit buffer (docs/adr/0004, eighth round): a hit adds
 * (frame, key hash) to its thread's ring with one atomic add, or drops it when
 * the ring is full; misses drain all rings under mu and move the frames still
 * holding the same page to their list's MRU end. `tail` is written by hits,
 * `head` only under mu. A slot written after its drain is read at the next
 * one, a stale entry fails the key check: entries are hints, never state. */
#define HITBUF_STRIPES 16
#define HITBUF_MASK (RM_BP_HITBUF_LEN - 1)
#define HITBUF_KEY_BITS 37              /* entry = (idx + 1) << 37 | key hash's top 37 bits */
typedef struct hitbuf {
    _Atomic uint64_t tail;
    _Atomic uint64_t head;
    _Atomic uint64_t slot[RM_BP_HITBUF_LEN];
} __attribute__((aligned(2 * RM_CACHELINE))) hitbuf_t;

typedef struct bp_file {
    int fd;                         /* -1 when the slot is unused */
    char name[RM_BUFPOOL_NAME_MAX];
    int temp;                       /* scratch file: no double-write, no fdatasync; immutable */
    _Atomic uint64_t disk_pages;    /* pages on disk (file size / page size) */
    _Atomic uint64_t logical_pages; /* ≥ disk_pages: includes pages pinned exclusive beyond EOF */
    /* sequential detector; guarded by mu */
    uint64_t last_miss;             /* page of the last miss + 1; 0 = none */
    uint64_t pf_end;                /* first page after the last read-ahead window */
    uint32_t window;                /* current read-ahead window, pages */
    uint32_t wasted;                /* prefetched pages of this file evicted unused since last miss */
} bp_file_t;

typedef struct extent {
    void *addr;
    size_t bytes;
    uint32_t first;                 /* index of the frame whose data starts at addr */
} extent_t;

struct rm_bufpool {
    const rm_pagesrc_t *src;
    char dir[PATH_MAX - 64];
    size_t page_size;               /* bytes */
    int durable;
    unsigned interval_ms;

    pthread_mutex_t mu;
    pthread_mutex_t io_mu;

    _Atomic(rm__bp_ptab_t *) ptab;  /* published under mu, read lock-free */
    rm__bp_ptab_t *retired;         /* replaced tables awaiting a grace period; guarded by mu */
    rm_bufpool_frame_t *seg_retired;/* detached descriptor segments awaiting a grace period,
                                     * chained through their frame 0's data; guarded by mu */
    uint32_t nsegs_retired;         /* guarded by mu */
    _Atomic uint32_t rd_epoch;      /* reader-section epoch; its parity picks the counter */
    _Atomic uint64_t pin_users;     /* bit i: stripe i has taken slot pins in this pool (set once,
                                     * never cleared: a later owner of the stripe inherits it) */
    pthread_mutex_t gp_mu;          /* serialises grace periods; never taken with mu held */

    rm_bufpool_frame_t **seg;       /* MAX_SEGS segment pointers; grow under mu */
    size_t seg_bytes;
    _Atomic uint32_t nframes;       /* frames in service; written under mu */
    uint32_t mapped;                /* frames with descriptors and data; guarded by mu */
    uint32_t limit;                 /* frames ≥ limit are being removed by a shrink; guarded by mu */
    extent_t extents[MAX_EXTENTS];  /* guarded by mu */
    uint32_t nextents;
    _Atomic size_t meta_bytes;      /* metadata: policy, frame descriptors, free list, page tables;
                                     * refreshed under mu after every change, read lock-free by
                                     * report_usage */
    uint32_t nsegs;                 /* descriptor segments allocated; guarded by mu */

    uint32_t *freelist;             /* stack of free frame indices; guarded by mu */
    _Atomic uint32_t nfree;         /* written under mu, read by stats */
    size_t freelist_bytes;          /* capacity × 4 */

    rm__bp_earc_t *pol;             /* guarded by mu */

    bp_file_t files[RM_BUFPOOL_MAX_FILES];  /* open under mu; fd/name fixed after open */
    _Atomic uint32_t nfiles;

    stripe_t stripes[STRIPES];
    hitbuf_t hitbuf[HITBUF_STRIPES];
    _Atomic uint64_t reads, writes, evictions, discards, pf_issued, pf_wasted, checksum_failures, flushes;
    /* frames with T1 and REF set and not PREFETCHED: the policy's count of T1
     * pages referenced since they entered. Written by a hit only when it sets
     * the REF bit of a T1 frame (at most once per frame per clock pass, so at
     * the miss rate, not the hit rate); may dip below 0 for an instant, since
     * the hit adds after its CAS */
    _Atomic int64_t t1_refs;
    uint64_t hits_reported;         /* hits already given to the policy's clock; guarded by mu */
    uint32_t hit_report_tick;       /* misses since; guarded by mu */
    uint64_t torn_repaired;         /* set at create */
    int32_t last_corrupt_file;      /* guarded by mu */
    uint64_t last_corrupt_page;     /* guarded by mu */
    pthread_mutex_t err_mu;         /* leaf lock: the last I/O error below */
    uint64_t io_errors;             /* failed reads, writes and syncs; guarded by err_mu */
    char last_io_error[RM_BUFPOOL_ERROR_MAX]; /* "read FILE page N: strerror"; guarded by err_mu */
    uint64_t write_errors;          /* failed writes and syncs; guarded by err_mu */
    int last_write_errno;           /* guarded by err_mu */
    char last_write_error[RM_BUFPOOL_ERROR_MAX]; /* guarded by err_mu */
    _Atomic uint64_t wfail_frames;  /* frames with wfail set; written under err_mu, read lock-free */
    uint64_t wfail_since_ns;        /* CLOCK_REALTIME when wfail_frames left 0; guarded by err_mu */
    int clean_only;                 /* pol_try_claim refuses dirty frames; guarded by mu */
    _Atomic unsigned boost;         /* percent */

    /* double-write; guarded by io_mu */
    int dw_fd;
    uint64_t dw_seq;
    unsigned char *batch;           /* header page + DW_MAX pages */
    size_t batch_bytes;

    /* writer thread */
    pthread_t writer;
    int writer_running;             /* guarded by wmu */
    int writer_stop;                /* guarded by wmu */
    pthread_mutex_t wmu;
    pthread_cond_t wcv;
    uint32_t writer_hand;           /* used by the writer thread only */

    rm_stats_handle_t *stats_handle;
};

_Atomic long rm__bp_test_torn_write_countdown;
_Atomic(rm__bp_test_hook_fn) rm__bp_test_in_section;

/* ---- stripes ---------------------------------------------------------------------------
 * A thread's counters live in its stripe (the same index in every pool). The
 * first STRIPES_EXCL stripes are owned by one live thread each: a thread
 * claims the lowest free one at its first pool call (a bit in stripe_owned)
 * and gives it back when it exits (a pthread key's destructor), so its
 * counter updates are a relaxed load and store, not a locked read-modify-
 * write — three of them per hit and one per unpin. When all are taken (or
 * the key could not be made) a thread shares one of the last STRIPES −
 * STRIPES_EXCL stripes and updates them with atomic adds, as every thread did
 * before. The hand-over is release (exit) / acquire (claim), so a new owner
 * continues from its predecessor's totals; sums never lose an update. */
#define STRIPES_EXCL 56
_Static_assert(STRIPES_EXCL <= 64 && STRIPES_EXCL < STRIPES, "stripe_owned is one 64-bit word");

static _Atomic uint64_t stripe_owned;          /* bit i: stripe i is owned by a live thread */
static _Atomic uint32_t stripe_seq;            /* spreads sharing threads over the shared stripes */
static pthread_once_t stripe_once = PTHREAD_ONCE_INIT;
static pthread_key_t stripe_key;
static _Atomic int stripe_key_ok;              /* set under stripe_once, cleared at unload */
static _Thread_local uint32_t tls_stripe = UINT32_MAX;
static _Thread_local int tls_excl;             /* 1: tls_stripe is this thread's alone */

static void
stripe_release(void *v)
{
    uint32_t i = (uint32_t)(uintptr_t)v - 1;
    atomic_fetch_and_explicit(&stripe_owned, ~(1ull << i), memory_order_release);
    tls_stripe = UINT32_MAX;   /* a later destructor that pins claims again */
    tls_excl = 0;
}

/* fork: the child has one thread; the other owners do not exist there */
static void
stripe_atfork_child(void)
{
    atomic_store_explicit(&stripe_owned, tls_excl ? 1ull << tls_stripe : 0, memory_order_relaxed);
}

static void
stripe_init(void)
{
    atomic_store(&stripe_key_ok, pthread_key_create(&stripe_key, stripe_release) == 0 &&
                                     pthread_atfork(NULL, NULL, stripe_atfork_child) == 0);
}

/* the key's destructor must not outlive the code it points to (memcore
 * inside a dlopen'ed module that is unloaded) */
__attribute__((destructor)) static void
stripe_fini(void)
{
    if (atomic_exchange(&stripe_key_ok, 0))
        pthread_key_delete(stripe_key);
}

static __attribute__((noinline)) void
stripe_assign(void)
{
    pthread_once(&stripe_once, stripe_init);
    if (atomic_load(&stripe_key_ok)) {
        uint64_t own = atomic_load_explicit(&stripe_owned, memory_order_relaxed);
        while (~own & ((1ull << STRIPES_EXCL) - 1)) {
            uint32_t i = (uint32_t)__builtin_ctzll(~own);
            if (atomic_compare_exchange_weak_explicit(&stripe_owned, &own, own | (1ull << i),
                                                      memory_order_acquire, memory_order_relaxed)) {
                if (pthread_setspecific(stripe_key, (void *)(uintptr_t)(i + 1)) != 0) {
                    atomic_fetch_and_explicit(&stripe_owned, ~(1ull << i), memory_order_release);
                    break;
                }
                tls_stripe = i;
                tls_excl = 1;
                return;
            }
        }
    }
    tls_stripe = STRIPES_EXCL +
                 atomic_fetch_add_explicit(&stripe_seq, 1, memory_order_relaxed) % (STRIPES - STRIPES_EXCL);
    tls_excl = 0;
}

static inline stripe_t *
my_stripe(rm_bufpool_t *bp)
{
    if (RM_UNLIKELY(tls_stripe == UINT32_MAX))
        stripe_assign();
    return &bp->stripes[tls_stripe];
}

/* Add n to a counter of the calling thread's stripe (relaxed). */
#define STRIPE_ADD(c, n)                                                                            \
    do {                                                                                        \
        if (RM_LIKELY(tls_excl))                                                                \
            atomic_store_explicit((c), atomic_load_explicit((c), memory_order_relaxed) + (n),   \
                                  memory_order_relaxed);                                        \
        else                                                                                    \
            atomic_fetch_add_explicit((c), (n), memory_order_relaxed);                          \
    } while (0)

/* Dirty and pinned frames are counted where a frame's state word changes:
 * every change of f->state goes through an atomic operation that yields the
 * old word, and st_moved(old, new) adds the difference to the calling
 * thread's stripe, so rm_bufpool_stats sums STRIPES counters instead of
 * walking every frame. The predicates are the ones the walk used: a valid
 * frame that is dirty; a valid frame with a pin or the exclusive bit. */
#define ST_COUNTS_DIRTY(s) (((s) & (ST_INVALID | ST_DIRTY)) == ST_DIRTY)
#define ST_COUNTS_PIN(s)   (!((s) & ST_INVALID) && ((s) & (ST_PIN_MASK | ST_X)) != 0)

/* A hit's policy bits on state word s: REF set, FREQ + 1 up to its top
 * (both pin kinds: try_pin's CAS, slot_hit_bits). */
static inline uint64_t
st_touched(uint64_t s)
{
    s |= ST_REF;
    if ((s & ST_FREQ_MASK) != ST_FREQ_MASK)
        s += ST_FREQ_ONE;
    return s;
}

static inline void
st_moved(rm_bufpool_t *bp, uint64_t old, uint64_t now)
{
    int dd = (int)ST_COUNTS_DIRTY(now) - (int)ST_COUNTS_DIRTY(old);
    int dp = (int)ST_COUNTS_PIN(now) - (int)ST_COUNTS_PIN(old);
    if (RM_LIKELY(!(dd | dp)))
        return;
    stripe_t *st = my_stripe(bp);
    if (dd)
        STRIPE_ADD(&st->dirty, dd);
    if (dp)
        STRIPE_ADD(&st->pinned, dp);
}

static inline void
cnt_add(_Atomic uint64_t *c, uint64_t n)
{
    atomic_fetch_add_explicit(c, n, memory_order_relaxed);
}

/* n more of the calling thread's stripe counter `field` (hits, misses, pf_used) */
#define STRIPE_COUNT(bp, field, n) STRIPE_ADD(&my_stripe(bp)->field, (uint64_t)(n))

static inline rm_bufpool_frame_t *
frame_at(const rm_bufpool_t *bp, uint32_t idx)
{
    /* segment pointers change under mu (grow, shrink) while lock-free readers
     * in a reader section load them */
    return &__atomic_load_n(&bp->seg[idx >> SEG_SHIFT], __ATOMIC_RELAXED)[idx & (SEG_SIZE - 1)];
}

static inline uint64_t
hitbuf_tag(uint64_t key)
{
    return rm__mix64(key) >> (64 - HITBUF_KEY_BITS);
}

/* The hit path's part of exact recency: lock-free, at most one atomic add on
 * the thread's own ring; a full ring drops the hit without one. */
static inline void
hitbuf_record(rm_bufpool_t *bp, uint32_t idx, uint64_t key)
{
    (void)my_stripe(bp);   /* assigns tls_stripe */
    hitbuf_t *r = &bp->hitbuf[tls_stripe % HITBUF_STRIPES];
    uint64_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
    if (atomic_load_explicit(&r->tail, memory_order_relaxed) - head >= RM_BP_HITBUF_LEN)
        return;
    uint64_t t = atomic_fetch_add_explicit(&r->tail, 1, memory_order_relaxed);
    if (t - head >= RM_BP_HITBUF_LEN)
        return;
    atomic_store_explicit(&r->slot[t & HITBUF_MASK], (uint64_t)(idx + 1) << HITBUF_KEY_BITS | hitbuf_tag(key),
                          memory_order_relaxed);
}

/* Apply the buffered hits in ring order to frames that still hold the page
 * they were recorded for (the key is written under mu, so it is stable
 * here). Requires mu. */
static void
hitbuf_drain_locked(rm_bufpool_t *bp)
{
    RM_ASSERT_LOCKED(&bp->mu);
    for (int i = 0; i < HITBUF_STRIPES; i++) {
        hitbuf_t *r = &bp->hitbuf[i];
        uint64_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
        uint64_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
        if (tail == head)
            continue;
        uint64_t n = tail - head < RM_BP_HITBUF_LEN ? tail - head : RM_BP_HITBUF_LEN;
        for (uint64_t k = 0; k < n; k++) {
            uint64_t e = atomic_exchange_explicit(&r->slot[(head + k) & HITBUF_MASK], 0, memory_order_relaxed);
            if (!e)
                continue;   /* its writer has not stored it yet: dropped */
            uint32_t idx = (uint32_t)(e >> HITBUF_KEY_BITS) - 1;
            if (idx >= atomic_load_explicit(&bp->nframes, memory_order_relaxed) || idx >= bp->mapped)
                continue;   /* recorded before a shrink took the frame away */
            rm_bufpool_frame_t *f = frame_at(bp, idx);
            uint64_t key = atomic_load_explicit(&f->key, memory_order_relaxed);
            if (key != KEY_NONE && hitbuf_tag(key) == (e & ((1ull << HITBUF_KEY_BITS) - 1)))
                rm__bp_earc_touch(bp->pol, idx);
        }
        atomic_store_explicit(&r->head, tail, memory_order_relaxed);
    }
}

static inline rm_bufpool_frame_t *
seg_get(const rm_bufpool_t *bp, uint32_t s)
{
    return __atomic_load_n(&bp->seg[s], __ATOMIC_RELAXED);
}

static inline void
seg_set(rm_bufpool_t *bp, uint32_t s, rm_bufpool_frame_t *seg)
{
    __atomic_store_n(&bp->seg[s], seg, __ATOMIC_RELEASE);
}

/* ---- reader sections -----------------------------------------------------------------
 * A lock-free reader of the page table or of frame descriptors it did not pin
 * runs between rd_enter and rd_exit (same thread: the stripe is per thread).
 * Memory those readers may hold is freed only after grace_wait, which runs
 * without mu and never inside a section.
 *
 * The reader's count must be visible to grace_wait before the reader loads a
 * table or segment pointer (store→load order). With membarrier(2) the fence is
 * asymmetric (as in liburcu's memb flavour): a thread that owns its stripe
 * counts itself with a plain store and a compiler barrier, and grace_wait,
 * after each flip, makes every running thread of the process execute a full
 * barrier (MEMBARRIER_CMD_PRIVATE_EXPEDITED; a thread that is not running
 * passed one at its context switch). For a reader that loaded a pointer
 * replaced before the wait, that barrier fell either before its count —
 * then its load came after the barrier and saw the new pointer — or after it,
 * and the wait sees the count. Without membarrier (old kernel, a seccomp
 * filter, valgrind), and for threads that share a stripe, the count is a
 * seq_cst read-modify-write, which is a full barrier itself; the epoch flip
 * is seq_cst either way, so a reader that sees the new epoch also sees the
 * pointers published before it. rd_asym is decided once, before the first
 * pool exists, and is inherited by fork (so is the registration). */
static pthread_once_t rd_asym_once = PTHREAD_ONCE_INIT;
static int rd_asym;   /* 1: membarrier registered; written once under rd_asym_once */

static void
rd_asym_init(void)
{
#ifdef SYS_membarrier
    long q = syscall(SYS_membarrier, MEMBARRIER_CMD_QUERY, 0, 0);
    rd_asym = q >= 0 && (q & MEMBARRIER_CMD_PRIVATE_EXPEDITED) &&
              syscall(SYS_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0) == 0;
#endif
}

/* The heavy side of the asymmetric fence: every thread of the process has
 * executed a full barrier when it returns. */
static void
rd_fence_readers(void)
{
#ifdef SYS_membarrier
    if (syscall(SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0) == 0)
        return;
    /* not expected once registered (the registration is never revoked); the
     * global command needs none, and is slower (an RCU grace period) */
    if (syscall(SYS_membarrier, MEMBARRIER_CMD_GLOBAL, 0, 0) == 0)
        return;
#endif
    /* membarrier refused both: no way left to fence the other CPUs, and
     * memcore never aborts. Store buffers drain in nanoseconds; this waits a
     * millisecond, which is a practical bound, not a guarantee. */
    struct timespec ts = {0, 1000000};
    nanosleep(&ts, NULL);
}

static inline unsigned
rd_enter(rm_bufpool_t *bp)
{
    unsigned e = atomic_load_explicit(&bp->rd_epoch, memory_order_seq_cst) & 1u;
    _Atomic uint64_t *r = &my_stripe(bp)->readers[e];
    if (RM_LIKELY(rd_asym && tls_excl)) {
        atomic_store_explicit(r, atomic_load_explicit(r, memory_order_relaxed) + 1, memory_order_relaxed);
        atomic_signal_fence(memory_order_seq_cst);   /* grace_wait's membarrier is the CPU's barrier */
    } else {
        atomic_fetch_add_explicit(r, 1, memory_order_seq_cst);
    }
    return e;
}

static inline void
rd_exit(rm_bufpool_t *bp, unsigned e)
{
    _Atomic uint64_t *r = &my_stripe(bp)->readers[e];
    if (RM_LIKELY(tls_excl))   /* the only writer: the section's loads stay before the store */
        atomic_store_explicit(r, atomic_load_explicit(r, memory_order_relaxed) - 1, memory_order_release);
    else
        atomic_fetch_sub_explicit(r, 1, memory_order_release);
}

/* Wait until every reader section open when it was called has closed. Two
 * flips (as SRCU): a reader may have read the epoch before the first flip and
 * counted itself under the old parity after the first wait saw it zero; the
 * second flip and wait cover it. Requires gp_mu; never mu. */
static void
grace_wait(rm_bufpool_t *bp)
{
    for (int round = 0; round < 2; round++) {
        unsigned old = atomic_fetch_xor_explicit(&bp->rd_epoch, 1u, memory_order_seq_cst) & 1u;
        if (rd_asym)
            rd_fence_readers();
        for (unsigned spins = 0;; spins++) {
            uint64_t open = 0;
            for (int i = 0; i < STRIPES; i++)
                open += atomic_load_explicit(&bp->stripes[i].readers[old], memory_order_seq_cst);
            if (!open)
                break;
            if (spins < 64) {
                sched_yield();
            } else {
                struct timespec ts = {0, 100000};
                nanosleep(&ts, NULL);
            }
        }
    }
}

/* The frame's descriptor, or NULL when its segment was detached by a shrink
 * (only a reader holding a stale index sees that; inside a reader section the
 * memory of a segment it did load stays valid). */
static inline rm_bufpool_frame_t *
frame_try(const rm_bufpool_t *bp, uint32_t idx)
{
    rm_bufpool_frame_t *sg = seg_get(bp, idx >> SEG_SHIFT);
    return sg ? &sg[idx & (SEG_SIZE - 1)] : NULL;
}

/* always_inline: the hit path's page-table probe inlines it (it is also the
 * table's callback for the locked paths) */
static inline __attribute__((always_inline)) uint64_t
key_of(void *ctx, uint32_t idx)
{
    rm_bufpool_frame_t *f = frame_try(ctx, idx);
    return f ? atomic_load_explicit(&f->key, memory_order_relaxed) : KEY_NONE;
}

/* ---- slot pins -------------------------------------------------------------------------
 * (ADR 0004 § 3j.) A SHARED pin by a thread that owns its stripe writes no
 * line another thread writes: the frame index goes into a free slot of the
 * thread's stripe (an exchange: a store and a full fence), then the frame's
 * state and key are read again. Everything that needs "no pin" — an
 * eviction's claim (pol_try_claim: the policy's victims, shrink, discard,
 * emergency eviction) and the exclusive latch (try_pin) — first sets its
 * blocking bit (INVALID or X) with a seq_cst CAS and then looks for the frame
 * in every slot (slots_hold), backing off if it is there. This is Dekker's
 * pattern: each side writes, fences, reads what the other writes, so at
 * least one of them sees the other — the pinner sees INVALID or X and takes
 * its slot back (the count path then decides, as before), or the blocker sees
 * the slot. A frame whose state has no INVALID and no X after the pinner's
 * fence can therefore not be claimed or latched until the slot is cleared.
 * The unpin is a CAS of the slot back to 0 (release: the page's reads stay
 * before it). Only pins of this kind are invisible in the state word; the
 * policy's bits (REF, FREQ, T1's count, PREFETCHED) change exactly as a
 * count pin changes them, but the word is written only when a bit changes,
 * so a hot page's hit is read-only on the frame's line. A thread out of
 * slots, or one sharing a stripe, pins with the count as before.
 *
 * The scan reads the slots of the stripes in pin_users (set by a stripe's
 * first slot pin in this pool): at most STRIPES_EXCL × RM_BP_PIN_SLOTS loads,
 * the threads that ever slot-pinned this pool at once times 8 in practice. */

/* Put the calling (stripe-owning) thread's stripe into the pool's scan set,
 * before its first slot pin: the bit is set (seq_cst) before the slot is
 * written, so a scan that misses the bit is ordered before the pinner's
 * fence and the pinner sees the scanner's blocking bit. */
static __attribute__((noinline)) void
pin_register(rm_bufpool_t *bp, stripe_t *st)
{
    atomic_fetch_or_explicit(&bp->pin_users, 1ull << tls_stripe, memory_order_seq_cst);
    atomic_store_explicit(&st->pin_reg, 1, memory_order_relaxed);
}

/* 1 if some thread's slot holds frame idx. Call after the seq_cst CAS that set
 * INVALID or X on the frame. */
static int
slots_hold(rm_bufpool_t *bp, uint32_t idx)
{
    uint64_t m = atomic_load_explicit(&bp->pin_users, memory_order_seq_cst);
    uint32_t v = idx + 1;
    while (m) {
        const stripe_t *st = &bp->stripes[__builtin_ctzll(m)];
        m &= m - 1;
        for (int j = 0; j < RM_BP_PIN_SLOTS; j++)
            if (atomic_load_explicit(&st->pin[j], memory_order_seq_cst) == v)
                return 1;
    }
    return 0;
}

/* Clear one slot of stripe st that holds v (a CAS: the owner and a thread
 * given a pin may race for it). 1 if one was cleared. */
static int
slot_take_back(stripe_t *st, uint32_t v)
{
    for (int j = 0; j < RM_BP_PIN_SLOTS; j++) {
        uint32_t cur = atomic_load_explicit(&st->pin[j], memory_order_relaxed);
        if (cur == v && atomic_compare_exchange_strong_explicit(&st->pin[j], &cur, 0, memory_order_release,
                                                                memory_order_relaxed))
            return 1;
    }
    return 0;
}

/* Release one SHARED pin of f: the caller's own slot, else the count, else a
 * slot of another thread (a pin taken there and handed to this one). Pins of
 * a frame are interchangeable, so any of them will do. */
static void
unpin_shared(rm_bufpool_t *bp, rm_bufpool_frame_t *f)
{
    uint32_t v = f->idx + 1;
    if (RM_LIKELY(tls_excl) && slot_take_back(&bp->stripes[tls_stripe], v))
        return;
    uint64_t s = atomic_load_explicit(&f->state, memory_order_relaxed);
    while (s & ST_PIN_MASK) {
        if (atomic_compare_exchange_weak_explicit(&f->state, &s, s - 1, memory_order_release,
                                                  memory_order_relaxed)) {
            st_moved(bp, s, s - 1);
            return;
        }
    }
    uint64_t m = atomic_load_explicit(&bp->pin_users, memory_order_relaxed);
    while (m) {
        stripe_t *st = &bp->stripes[__builtin_ctzll(m)];
        m &= m - 1;
        if (slot_take_back(st, v))
            return;
    }
    /* no pin of f anywhere: an unpin without a pin (the caller's error);
     * nothing to release, and memcore does not abort */
}

/* The policy's part of a hit on a slot-pinned frame: REF, FREQ + 1 (up to
 * its maximum) and a read-ahead page's first use, as the count pin's CAS sets
 * them (try_pin), written only when they change. 1 if this was the first use
 * of a read-ahead page (counted; not a re-reference, so no hit record). */
static inline int
slot_hit_bits(rm_bufpool_t *bp, rm_bufpool_frame_t *f, uint64_t s)
{
    for (;;) {
        uint64_t ns = st_touched(s);
        if (ns & ST_PREFETCHED)
            ns &= ~(ST_PREFETCHED | ST_REF);   /* first use: its first access, not a re-reference */
        if (RM_LIKELY(ns == s))
            return 0;   /* a hot page: nothing to write */
        if (atomic_compare_exchange_weak_explicit(&f->state, &s, ns, memory_order_relaxed,
                                                  memory_order_relaxed)) {
            st_moved(bp, s, ns);
            if (RM_UNLIKELY((s & (ST_T1 | ST_REF | ST_PREFETCHED)) == ST_T1))
                atomic_fetch_add_explicit(&bp->t1_refs, 1, memory_order_relaxed);   /* first hit in T1 */
            if (s & ST_PREFETCHED) {
                STRIPE_COUNT(bp, pf_used, 1);
                return 1;
            }
            return 0;
        }
    }
}

/* A SHARED pin in a slot. 1 pinned; 0 not this page / not pinnable (go slow);
 * -1 latched, wait; 2 no free slot (use the count). The caller owns its
 * stripe (tls_excl). */
static inline int
try_pin_slot(rm_bufpool_t *bp, rm_bufpool_frame_t *f, uint64_t key)
{
    stripe_t *st = &bp->stripes[tls_stripe];
    int j = 0;
    while (atomic_load_explicit(&st->pin[j], memory_order_relaxed) != 0)
        if (++j == RM_BP_PIN_SLOTS)
            return 2;
    if (RM_UNLIKELY(!atomic_load_explicit(&st->pin_reg, memory_order_relaxed)))
        pin_register(bp, st);
    uint32_t v = f->idx + 1;
    /* only the owner fills a free slot, so the exchange finds it free; it is
     * the store and the full fence of the protocol */
    (void)atomic_exchange_explicit(&st->pin[j], v, memory_order_seq_cst);
    uint64_t s = atomic_load_explicit(&f->state, memory_order_seq_cst);
    int r = (s & ST_INVALID) ? 0 : (s & ST_X) ? -1 : 1;
    if (r == 1 && RM_UNLIKELY(atomic_load_explicit(&f->key, memory_order_relaxed) != key))
        r = 0;   /* the frame holds another page now */
    if (RM_UNLIKELY(r != 1)) {
        uint32_t cur = v;
        if (!atomic_compare_exchange_strong_explicit(&st->pin[j], &cur, 0, memory_order_release,
                                                     memory_order_relaxed))
            unpin_shared(bp, f);   /* a thread handed a pin of f released this slot: release that pin instead */
        return r;
    }
    if (slot_hit_bits(bp, f, s))
        return 1;
    hitbuf_record(bp, f->idx, key);
    return 1;
}

/* The stats' pinned frames that only slot pins hold (their state word shows
 * no pin, so the stripes' shares do not count them). Distinct frames. */
static uint64_t
slot_only_pinned(rm_bufpool_t *bp)
{
    uint32_t seen[STRIPES_EXCL * RM_BP_PIN_SLOTS];
    uint32_t n = 0;
    uint64_t m = atomic_load_explicit(&bp->pin_users, memory_order_acquire);
    while (m) {
        const stripe_t *st = &bp->stripes[__builtin_ctzll(m)];
        m &= m - 1;
        for (int j = 0; j < RM_BP_PIN_SLOTS; j++) {
            uint32_t v = atomic_load_explicit(&st->pin[j], memory_order_acquire);
            uint32_t k = 0;
            while (k < n && seen[k] != v)
                k++;
            if (v && k == n)
                seen[n++] = v;
        }
    }
    if (!n)
        return 0;
    uint64_t c = 0;
    unsigned ep = rd_enter(bp);   /* a transient slot may name a frame a shrink is detaching */
    uint32_t nf = atomic_load_explicit(&bp->nframes, memory_order_acquire);
    for (uint32_t k = 0; k < n; k++) {
        rm_bufpool_frame_t *f = seen[k] - 1 < nf ? frame_try(bp, seen[k] - 1) : NULL;
        uint64_t s = f ? atomic_load_explicit(&f->state, memory_order_relaxed) : ST_INVALID;
        c += !(s & ST_INVALID) && !ST_COUNTS_PIN(s);
    }
    rd_exit(bp, ep);
    return c;
}

void
rm__bp_test_pin_holders(rm_bufpool_t *bp, const rm_bufpool_frame_t *f, uint32_t *count, uint32_t *slots)
{
    *count = (uint32_t)(atomic_load_explicit(&f->state, memory_order_acquire) & ST_PIN_MASK);
    uint32_t n = 0;
    for (int i = 0; i < STRIPES_EXCL; i++)
        for (int j = 0; j < RM_BP_PIN_SLOTS; j++)
            n += atomic_load_explicit(&bp->stripes[i].pin[j], memory_order_acquire) == f->idx + 1;
    *slots = n;
}

/* ---- policy callbacks (called under mu) ------------------------------------------ */

static const rm__bp_stbits_t BP_STBITS = {
    .ref = ST_REF, .t1 = ST_T1, .grace = ST_PREFETCHED,
    .freq_mask = ST_FREQ_MASK, .freq_shift = ST_FREQ_SHIFT,
};

static int
pol_test_clear_ref(void *ctx, uint32_t slot)
{
    uint64_t s;
    if (!rm__bp_st_test_clear_ref(BP_STBITS, &frame_at(ctx, slot)->state,
                                  &((rm_bufpool_t *)ctx)->t1_refs, &s))
        return 0;
    /* an unused read-ahead page's bit is grace, not a reference: 2 = keep it
     * one more revolution without promoting it */
    return (s & ST_PREFETCHED) ? 2 : 1;
}

static int
pol_try_claim(void *ctx, uint32_t slot)
{
    rm_bufpool_frame_t *f = frame_at(ctx, slot);
    uint64_t s = atomic_load_explicit(&f->state, memory_order_relaxed);
    for (;;) {
        if ((s & (ST_PIN_MASK | ST_X | ST_INVALID | ST_WRITING)) != 0)
            return 0;
        if ((s & ST_DIRTY) && ((rm_bufpool_t *)ctx)->clean_only)
            return 0;   /* writes are failing: look for a page that needs none */
        if (atomic_compare_exchange_weak_explicit(&f->state, &s, s | ST_INVALID,
                                                  memory_order_seq_cst, memory_order_relaxed)) {
            if (RM_UNLIKELY(slots_hold(ctx, slot))) {
                /* slot-pinned: give the frame back (a slot pinner may have set
                 * policy bits meanwhile; the counts never saw the claim) */
                atomic_fetch_and_explicit(&f->state, ~ST_INVALID, memory_order_release);
                return 0;
            }
            st_moved(ctx, s, s | ST_INVALID);
            return 1;
        }
    }
}

void
rm__bp_test_t1_refs(rm_bufpool_t *bp, int64_t *counter, int64_t *recount)
{
    pthread_mutex_lock(&bp->mu);
    int64_t n = 0;
    uint32_t nf = atomic_load_explicit(&bp->nframes, memory_order_relaxed);
    for (uint32_t i = 0; i < nf; i++) {
        uint64_t s = atomic_load_explicit(&frame_at(bp, i)->state, memory_order_relaxed);
        n += (s & (ST_T1 | ST_REF | ST_PREFETCHED)) == (ST_T1 | ST_REF);
    }
    *counter = atomic_load_explicit(&bp->t1_refs, memory_order_relaxed);
    *recount = n;
    pthread_mutex_unlock(&bp->mu);
}

RM__BP_STATE_POLICY_OPS(pool_ops, rm_bufpool_t, frame_at, BP_STBITS, pol_test_clear_ref, pol_try_claim);

/* ---- page format ------------------------------------------------------------------- */

static void
page_stamp(unsigned char *p, size_t ps, uint64_t page_no)
{
    uint32_t magic = PAGE_MAGIC;
    memcpy(p + ps - 16, &page_no, 8);
    memcpy(p + ps - 8, &magic, 4);
    uint32_t crc = rm__bp_crc32c(0, p, ps - 4);
    memcpy(p + ps - 4, &crc, 4);
}

static int
page_all_zero(const unsigned char *p, size_t ps)
{
    const uint64_t *w = (const uint64_t *)p;
    for (size_t i = 0; i < ps / 8; i++)
        if (w[i])
            return 0;
    return 1;
}

/* 1 if the page is a valid stamped page of page_no or an all-zero (never written) page. */
static int
page_valid(const unsigned char *p, size_t ps, uint64_t page_no)
{
    uint64_t no;
    uint32_t magic, crc;
    memcpy(&no, p + ps - 16, 8);
    memcpy(&magic, p + ps - 8, 4);
    memcpy(&crc, p + ps - 4, 4);
    if (magic == PAGE_MAGIC && no == page_no && crc == rm__bp_crc32c(0, p, ps - 4))
        return 1;
    return page_all_zero(p, ps);
}

/* ---- I/O ------------------------------------------------------------------------------ */

/* Transfer n bytes at off in full: pwrite (writing) or pread, resuming after
 * EINTR and short transfers. A read that meets EOF zero-fills the rest.
 * 0, or -1 with errno set. */
static int
pio_full(int fd, unsigned char *p, size_t n, off_t off, int writing)
{
    while (n) {
        ssize_t r = writing ? pwrite(fd, p, n, off) : pread(fd, p, n, off);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        if (r == 0 && !writing) {
            memset(p, 0, n);
            return 0;
        }
        p += r;
        n -= (size_t)r;
        off += r;
    }
    return 0;
}

static int
pwrite_all(int fd, const void *buf, size_t n, off_t off)
{
    return pio_full(fd, (unsigned char *)buf, n, off, 1);   /* writing: buf is only read */
}

/* Read up to n bytes; the rest (beyond EOF) is zero-filled. */
static int
pread_full(int fd, void *buf, size_t n, off_t off)
{
    return pio_full(fd, buf, n, off, 0);
}

/* Count a failed read/write/sync and keep what it was. `file` < 0: the
 * double-write file. `page` UINT64_MAX: the whole file (a sync). Any lock
 * (or none) may be held: err_mu is a leaf. */
static void
record_io_error(rm_bufpool_t *bp, const char *op, int file, uint64_t page, int err)
{
    const char *e = strerrordesc_np(err);   /* static text, thread-safe (glibc ≥ 2.32) */
    char num[24];
    if (!e) {
        snprintf(num, sizeof num, "errno %d", err);
        e = num;
    }
    pthread_mutex_lock(&bp->err_mu);
    bp->io_errors++;
    const char *name = file < 0 ? "rustymem.dw" : bp->files[file].name;
    if (page == UINT64_MAX)
        snprintf(bp->last_io_error, sizeof bp->last_io_error, "%s %s: %s", op, name, e);
    else
        snprintf(bp->last_io_error, sizeof bp->last_io_error, "%s %s page %" PRIu64 ": %s", op, name, page, e);
    if (strcmp(op, "read") != 0) {
        bp->write_errors++;
        bp->last_write_errno = err;
        memcpy(bp->last_write_error, bp->last_io_error, sizeof bp->last_write_error);
    }
    pthread_mutex_unlock(&bp->err_mu);
}

/* The status for a failed write or sync: lack of space is told apart from an
 * I/O error, so that callers can say what the operator must do. */
static rm_status_t
write_status(int err)
{
    return err == ENOSPC || err == EDQUOT || err == EFBIG ? RM_ENOSPC : RM_EIO;
}

/* Keep the worse of two write outcomes: RM_ENOSPC names the cause an
 * operator can fix, so it wins over RM_EIO. */
static rm_status_t
worse(rm_status_t a, rm_status_t b)
{
    if (a == RM_ENOSPC || b == RM_ENOSPC)
        return RM_ENOSPC;
    return a != RM_OK ? a : b;
}

/* Frame f's page could not be written (`failed`) or has been written or
 * dropped (!failed): keep its mark and the pool's count of unwritable pages,
 * and the time they began. Takes err_mu only when the mark changes. */
static void
note_write(rm_bufpool_t *bp, rm_bufpool_frame_t *f, int failed)
{
    if ((atomic_load_explicit(&f->wfail, memory_order_relaxed) != 0) == (failed != 0))
        return;
    pthread_mutex_lock(&bp->err_mu);
    if ((atomic_load_explicit(&f->wfail, memory_order_relaxed) != 0) != (failed != 0)) {
        atomic_store_explicit(&f->wfail, failed ? 1u : 0u, memory_order_relaxed);
        uint64_t n = atomic_load_explicit(&bp->wfail_frames, memory_order_relaxed);
        n = failed ? n + 1 : n - 1;
        atomic_store_explicit(&bp->wfail_frames, n, memory_order_relaxed);
        if (n == 0) {
            bp->wfail_since_ns = 0;
        } else if (!bp->wfail_since_ns) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            bp->wfail_since_ns = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
        }
    }
    pthread_mutex_unlock(&bp->err_mu);
}

typedef struct dw_entry {
    char name[RM_BUFPOOL_NAME_MAX];
    uint64_t page_no;
    uint32_t crc;       /* of the page image in the double-write file */
    uint32_t pad;
} dw_entry_t;

typedef struct dw_header {
    uint32_t magic;
    uint32_t count;
    uint64_t seq;
    uint64_t page_size;
    dw_entry_t e[DW_MAX];
    uint32_t crc;       /* of everything above */
} dw_header_t;

_Static_assert(sizeof(dw_header_t) <= RM_BUFPOOL_PAGE_SIZE_MIN, "double-write header fits a page");

/*
 * Write `n` pages whose stamped images are in bp->batch (slots 1..n) to the
 * double-write file, then in place. files[i]/pages[i] name them; ok[i] gets 1
 * for a page that is on disk (written in place, and synced when durable).
 * Requires io_mu. Returns RM_OK, or RM_ENOSPC / RM_EIO (write_status) when a
 * page failed (some in-place pages may be written; the double-write copy
 * covers them).
 */
static rm_status_t
write_batch_locked(rm_bufpool_t *bp, const uint32_t *files, const uint64_t *pages, uint32_t n,
                   uint8_t *ok)
{
    RM_ASSERT_LOCKED(&bp->io_mu);
    size_t ps = bp->page_size;
    for (uint32_t i = 0; i < n; i++)
        ok[i] = 0;
    int all_temp = 1;
    for (uint32_t i = 0; i < n; i++)
        all_temp &= bp->files[files[i]].temp;
    if (all_temp)
        goto in_place;   /* scratch pages only: nothing to protect from a torn write */
    dw_header_t *h = (dw_header_t *)bp->batch;
    memset(h, 0, sizeof *h);
    h->magic = DW_MAGIC;
    h->count = n;
    h->seq = ++bp->dw_seq;
    h->page_size = ps;
    for (uint32_t i = 0; i < n; i++) {
        memcpy(h->e[i].name, bp->files[files[i]].name, RM_BUFPOOL_NAME_MAX);
        h->e[i].page_no = pages[i];
        h->e[i].crc = rm__bp_crc32c(0, bp->batch + ps * (i + 1), ps);
    }
    h->crc = rm__bp_crc32c(0, h, offsetof(dw_header_t, crc));
    if (pwrite_all(bp->dw_fd, bp->batch, ps * (n + 1), 0) != 0) {
        int err = errno;
        record_io_error(bp, "write", -1, UINT64_MAX, err);
        return write_status(err);
    }
    if (bp->durable && fdatasync(bp->dw_fd) != 0) {
        int err = errno;
        record_io_error(bp, "sync", -1, UINT64_MAX, err);
        return write_status(err);
    }
in_place:;
    rm_status_t st = RM_OK;
    for (uint32_t i = 0; i < n; i++) {
        bp_file_t *f = &bp->files[files[i]];
        const unsigned char *img = bp->batch + ps * (i + 1);
        long cd = atomic_load_explicit(&rm__bp_test_torn_write_countdown, memory_order_relaxed);
        if (RM_UNLIKELY(cd > 0) &&
            atomic_fetch_sub_explicit(&rm__bp_test_torn_write_countdown, 1, memory_order_relaxed) == 1) {
            /* crash test: a torn in-place write, then the process dies */
            (void)pwrite_all(f->fd, img, ps / 2, (off_t)(pages[i] * ps));
            raise(SIGKILL);
        }
        if (pwrite_all(f->fd, img, ps, (off_t)(pages[i] * ps)) != 0) {
            int err = errno;
            record_io_error(bp, "write", (int)files[i], pages[i], err);
            st = worse(st, write_status(err));
            continue;
        }
        ok[i] = 1;
        cnt_add(&bp->writes, 1);
        uint64_t dp = atomic_load_explicit(&f->disk_pages, memory_order_relaxed);
        while (pages[i] + 1 > dp &&
               !atomic_compare_exchange_weak_explicit(&f->disk_pages, &dp, pages[i] + 1,
                                                      memory_order_relaxed, memory_order_relaxed))
            ;
    }
    if (bp->durable) {
        for (uint32_t i = 0; i < n; i++) {
            int seen = 0;
            for (uint32_t j = 0; j < i; j++)
                seen |= files[j] == files[i];
            if (!seen && !bp->files[files[i]].temp && fdatasync(bp->files[files[i]].fd) != 0) {
                int err = errno;
                record_io_error(bp, "sync", (int)files[i], UINT64_MAX, err);
                st = worse(st, write_status(err));
                for (uint32_t j = i; j < n; j++)
                    if (files[j] == files[i])
                        ok[j] = 0;   /* not known to be on disk */
            }
        }
    }
    cnt_add(&bp->flushes, 1);
    return st;
}

/* Write one claimed (INVALID, unpinned) dirty frame. Requires mu; takes io_mu. */
static rm_status_t
write_frame_locked(rm_bufpool_t *bp, rm_bufpool_frame_t *f)
{
    RM_ASSERT_LOCKED(&bp->mu);
    uint64_t key = atomic_load_explicit(&f->key, memory_order_relaxed);
    uint32_t file = (uint32_t)(key >> 40);
    uint64_t page = key & RM_BUFPOOL_MAX_PAGE_NO;
    pthread_mutex_lock(&bp->io_mu);
    memcpy(bp->batch + bp->page_size, f->data, bp->page_size);
    page_stamp(bp->batch + bp->page_size, bp->page_size, page);
    uint8_t ok;
    rm_status_t st = write_batch_locked(bp, &file, &page, 1, &ok);
    pthread_mutex_unlock(&bp->io_mu);
    if (st == RM_OK) {
        uint64_t o = atomic_fetch_and_explicit(&f->state, ~ST_DIRTY, memory_order_relaxed);
        st_moved(bp, o, o & ~ST_DIRTY);
    }
    note_write(bp, f, st != RM_OK);
    return st;
}

/* Restore torn pages from the double-write file (create time; single-threaded). */
static rm_status_t
dw_recover(rm_bufpool_t *bp)
{
    size_t ps = bp->page_size;
    unsigned char *buf = bp->batch;
    if (pread_full(bp->dw_fd, buf, ps, 0) != 0)
        return RM_EIO;
    dw_header_t *h = (dw_header_t *)buf;
    if (h->magic != DW_MAGIC || h->page_size != ps || h->count > DW_MAX ||
        h->crc != rm__bp_crc32c(0, h, offsetof(dw_header_t, crc)))
        return RM_OK;   /* empty or torn header: the in-place pages were never touched */
    dw_header_t hc = *h;
    bp->dw_seq = hc.seq;
    unsigned char *img = buf + ps, *cur = buf + 2 * ps;
    for (uint32_t i = 0; i < hc.count; i++) {
        if (pread_full(bp->dw_fd, img, ps, (off_t)(ps * (i + 1))) != 0)
            return RM_EIO;
        if (rm__bp_crc32c(0, img, ps) != hc.e[i].crc || !page_valid(img, ps, hc.e[i].page_no))
            continue;   /* this copy itself is torn: its in-place page was not written */
        char name[RM_BUFPOOL_NAME_MAX];
        memcpy(name, hc.e[i].name, sizeof name);
        name[sizeof name - 1] = 0;
        if (!name[0] || strchr(name, '/'))
            continue;
        char path[PATH_MAX];
        snprintf(path, sizeof path, "%s/%s", bp->dir, name);
        int fd = open(path, O_RDWR | O_CLOEXEC);
        if (fd < 0)
            continue;
        off_t off = (off_t)(hc.e[i].page_no * ps);
        if (pread_full(fd, cur, ps, off) == 0 && !page_valid(cur, ps, hc.e[i].page_no)) {
            if (pwrite_all(fd, img, ps, off) == 0 && fdatasync(fd) == 0)
                bp->torn_repaired++;
        }
        close(fd);
    }
    return RM_OK;
}

/* ---- frames, growth ----------------------------------------------------------------- */

/* Publish the metadata size for report_usage (which runs without mu): the
 * policy's lists and sketch, the frame descriptors, the free list and the page
 * tables (replaced tables and detached segments too, until their grace period
 * ends and they are freed). */
static void
refresh_meta_bytes_locked(rm_bufpool_t *bp)
{
    RM_ASSERT_LOCKED(&bp->mu);
    /* of the segment table (MAX_SEGS pointers, mapped whole) only the used entries are touched */
    size_t b = (bp->pol ? rm__bp_earc_bytes(bp->pol) : 0) + bp->freelist_bytes +
               (size_t)(bp->nsegs + bp->nsegs_retired) * (SEG_SIZE * sizeof(rm_bufpool_frame_t) + sizeof(rm_bufpool_frame_t *));
    rm__bp_ptab_t *cur = atomic_load_explicit(&bp->ptab, memory_order_relaxed);
    if (cur)
        b += cur->bytes;
    for (rm__bp_ptab_t *t = bp->retired; t; t = t->retired_next)
        b += t->bytes;
    atomic_store_explicit(&bp->meta_bytes, b, memory_order_relaxed);
}

/* Build a table of at least `min_slots` holding every resident frame, publish
 * it and retire the old one (freed by reclaim_retired after a grace period). */
static rm_status_t
ptab_rebuild_locked(rm_bufpool_t *bp, size_t min_slots)
{
    RM_ASSERT_LOCKED(&bp->mu);
    rm__bp_ptab_t *t = atomic_load_explicit(&bp->ptab, memory_order_relaxed);
    rm__bp_ptab_t *nt = rm__bp_ptab_create(min_slots, bp->src);
    if (!nt)
        return RM_ENOMEM;
    if (t) {
        for (uint32_t i = 0; i < bp->mapped; i++) {
            if (!seg_get(bp, i >> SEG_SHIFT)) {
                i |= SEG_SIZE - 1;   /* detached segment: no resident frame */
                continue;
            }
            uint64_t k = key_of(bp, i);
            if (k != KEY_NONE)
                rm__bp_ptab_insert_locked(nt, k, i);
        }
        t->retired_next = bp->retired;
        bp->retired = t;
    }
    atomic_store_explicit(&bp->ptab, nt, memory_order_seq_cst);
    refresh_meta_bytes_locked(bp);
    return RM_OK;
}

/* The table keeps frames ≤ half its slots (a grow builds 4 × frames). */
static rm_status_t
ptab_ensure_locked(rm_bufpool_t *bp, uint32_t frames)
{
    RM_ASSERT_LOCKED(&bp->mu);
    rm__bp_ptab_t *t = atomic_load_explicit(&bp->ptab, memory_order_relaxed);
    if (t && (size_t)frames * 2 <= t->mask + 1)
        return RM_OK;
    return ptab_rebuild_locked(bp, (size_t)frames * 4);
}

/* After a shrink to `frames`: a table at least 4 times larger than a grow to
 * `frames` would build is replaced by that one (the hysteresis keeps a pool
 * that shrinks and grows by a little from rebuilding). Never fails: without
 * memory for the small table the big one stays. */
static void
ptab_fit_locked(rm_bufpool_t *bp, uint32_t frames)
{
    RM_ASSERT_LOCKED(&bp->mu);
    rm__bp_ptab_t *t = atomic_load_explicit(&bp->ptab, memory_order_relaxed);
    size_t want = rm__bp_ptab_capacity((size_t)frames * 4);
    if (t && want * 4 <= t->mask + 1)
        (void)ptab_rebuild_locked(bp, want);
}

/* The free list holds at least `frames` indices. Requires mu. */
static rm_status_t
freelist_reserve_locked(rm_bufpool_t *bp, uint32_t frames)
{
    RM_ASSERT_LOCKED(&bp->mu);
    if (bp->freelist && bp->freelist_bytes / sizeof(uint32_t) >= frames)
        return RM_OK;
    size_t fl_bytes = (size_t)frames * sizeof(uint32_t);
    uint32_t *fl = rm__bp_mem_alloc(bp->src, fl_bytes);
    if (!fl)
        return RM_ENOMEM;
    if (bp->freelist)
        memcpy(fl, bp->freelist, atomic_load_explicit(&bp->nfree, memory_order_relaxed) * sizeof(uint32_t));
    rm__bp_mem_free(bp->src, bp->freelist, bp->freelist_bytes);
    bp->freelist = fl;
    bp->freelist_bytes = fl_bytes;
    return RM_OK;
}

/* After a shrink to `frames` (every free index < frames): a free list twice
 * as large as needed is reallocated to size. Never fails. Requires mu. */
static void
freelist_fit_locked(rm_bufpool_t *bp, uint32_t frames)
{
    RM_ASSERT_LOCKED(&bp->mu);
    if (bp->freelist_bytes / sizeof(uint32_t) < (size_t)frames * 2)
        return;
    size_t fl_bytes = (size_t)frames * sizeof(uint32_t);
    uint32_t *fl = rm__bp_mem_alloc(bp->src, fl_bytes);
    if (!fl)
        return;
    memcpy(fl, bp->freelist, atomic_load_explicit(&bp->nfree, memory_order_relaxed) * sizeof(uint32_t));
    rm__bp_mem_free(bp->src, bp->freelist, bp->freelist_bytes);
    bp->freelist = fl;
    bp->freelist_bytes = fl_bytes;
}

/* The data of mapped frame idx, from the extent that holds it. */
static unsigned char *
extent_data(const rm_bufpool_t *bp, uint32_t idx)
{
    for (uint32_t e = 0; e < bp->nextents; e++) {
        const extent_t *x = &bp->extents[e];
        if (idx >= x->first && (size_t)(idx - x->first) * bp->page_size < x->bytes)
            return (unsigned char *)x->addr + (size_t)(idx - x->first) * bp->page_size;
    }
    return NULL;
}

/* Descriptor segments for frames [0, frames): missing ones (never made, or
 * detached by a shrink) are made, their frames free and invalid, with their
 * data (if mapped already) from the extents. Requires mu. */
static rm_status_t
segs_ensure_locked(rm_bufpool_t *bp, uint32_t frames)
{
    RM_ASSERT_LOCKED(&bp->mu);
    for (uint32_t s = 0; s <= (frames - 1) >> SEG_SHIFT; s++) {
        if (seg_get(bp, s))
            continue;
        rm_bufpool_frame_t *sg = rm__bp_mem_alloc(bp->src, SEG_SIZE * sizeof(rm_bufpool_frame_t));
        if (!sg)
            return RM_ENOMEM;
        for (uint32_t k = 0; k < SEG_SIZE; k++) {
            rm_bufpool_frame_t *f = &sg[k];
            atomic_init(&f->state, ST_INVALID);
            atomic_init(&f->key, KEY_NONE);
            atomic_init(&f->wfail, 0);
            f->idx = (s << SEG_SHIFT) | k;
            f->data = f->idx < bp->mapped ? extent_data(bp, f->idx) : NULL;
        }
        seg_set(bp, s, sg);
        bp->nsegs++;
    }
    return RM_OK;
}

/* After a shrink to `frames`: segments wholly at or above `frames` hold no
 * frame in service; they leave the table and wait for a grace period (lock-free
 * readers with a stale index may be looking at them). Requires mu. */
static void
segs_detach_locked(rm_bufpool_t *bp, uint32_t frames)
{
    RM_ASSERT_LOCKED(&bp->mu);
    uint32_t end = (bp->mapped + SEG_SIZE - 1) >> SEG_SHIFT;
    for (uint32_t s = (frames + SEG_SIZE - 1) >> SEG_SHIFT; s < end; s++) {
        rm_bufpool_frame_t *sg = seg_get(bp, s);
        if (!sg)
            continue;
        seg_set(bp, s, NULL);
        sg[0].data = (unsigned char *)bp->seg_retired;   /* the chain; readers never read data unpinned */
        bp->seg_retired = sg;
        bp->nsegs--;
        bp->nsegs_retired++;
    }
}

/* Free the tables and segments retired so far once no reader can hold them.
 * Takes gp_mu and mu (not together with a reader section); call without mu. */
static void
reclaim_retired(rm_bufpool_t *bp)
{
    pthread_mutex_lock(&bp->gp_mu);
    pthread_mutex_lock(&bp->mu);
    rm__bp_ptab_t *t = bp->retired;
    rm_bufpool_frame_t *sg = bp->seg_retired;
    uint32_t nsg = bp->nsegs_retired;
    bp->retired = NULL;
    bp->seg_retired = NULL;
    pthread_mutex_unlock(&bp->mu);
    if (t || sg) {
        grace_wait(bp);
        while (t) {
            rm__bp_ptab_t *n = t->retired_next;
            rm__bp_ptab_destroy(t, bp->src);
            t = n;
        }
        while (sg) {
            rm_bufpool_frame_t *n = (rm_bufpool_frame_t *)(void *)sg[0].data;
            rm__bp_mem_free(bp->src, sg, SEG_SIZE * sizeof(rm_bufpool_frame_t));
            sg = n;
        }
        pthread_mutex_lock(&bp->mu);
        bp->nsegs_retired -= nsg;
        refresh_meta_bytes_locked(bp);
        pthread_mutex_unlock(&bp->mu);
    }
    pthread_mutex_unlock(&bp->gp_mu);
}

/* Map descriptors and data so that `frames` are mapped. Requires mu. */
static rm_status_t
map_frames_locked(rm_bufpool_t *bp, uint32_t frames)
{
    RM_ASSERT_LOCKED(&bp->mu);
    if (frames > MAX_SEGS * SEG_SIZE)
        return RM_ELIMIT;
    /* descriptors a shrink detached come back (segments made here stay on a
     * later failure: harmless, zero frames use them) */
    if (segs_ensure_locked(bp, frames) != RM_OK)
        return RM_ENOMEM;
    /* free list with room for every frame in service */
    if (freelist_reserve_locked(bp, frames) != RM_OK)
        return RM_ENOMEM;
    if (frames <= bp->mapped)
        return RM_OK;
    if (bp->nextents == MAX_EXTENTS)
        return RM_ELIMIT;
    size_t dbytes = (size_t)(frames - bp->mapped) * bp->page_size;
    void *data = rm__bp_mem_alloc(bp->src, dbytes);
    if (!data)
        return RM_ENOMEM;
    /* slots only: the policy's capacity changes when the frames go into service */
    uint32_t cap = atomic_load_explicit(&bp->nframes, memory_order_relaxed);
    rm_status_t st = bp->pol ? rm__bp_earc_resize(bp->pol, frames, cap >= 2 ? cap : frames) : RM_OK;
    refresh_meta_bytes_locked(bp);
    if (st != RM_OK) {
        rm__bp_mem_free(bp->src, data, dbytes);
        return RM_ENOMEM;
    }
    for (uint32_t i = bp->mapped; i < frames; i++)
        frame_at(bp, i)->data = (unsigned char *)data + (size_t)(i - bp->mapped) * bp->page_size;
    bp->extents[bp->nextents] = (extent_t){data, dbytes, bp->mapped};
    __atomic_store_n(&bp->nextents, bp->nextents + 1, __ATOMIC_RELEASE);
    bp->mapped = frames;
    return RM_OK;
}

static void
free_push_locked(rm_bufpool_t *bp, uint32_t idx)
{
    RM_ASSERT_LOCKED(&bp->mu);
    uint32_t n = atomic_load_explicit(&bp->nfree, memory_order_relaxed);
    bp->freelist[n] = idx;
    atomic_store_explicit(&bp->nfree, n + 1, memory_order_relaxed);
}

static void
release_frame_memory(rm_bufpool_t *bp, rm_bufpool_frame_t *f)
{
    size_t sys = rm_page_size();
    if (bp->src->methods->release && bp->page_size >= sys)
        bp->src->methods->release(bp->src->ctx, f->data, bp->page_size);
}

/* Give back the data of frames [from, to), none of them in service. Requires mu. */
static void
release_range_locked(rm_bufpool_t *bp, uint32_t from, uint32_t to)
{
    RM_ASSERT_LOCKED(&bp->mu);
    size_t sys = rm_page_size();
    if (!bp->src->methods->release || bp->page_size < sys || from >= to)
        return;
    for (uint32_t e = 0; e < bp->nextents; e++) {
        const extent_t *x = &bp->extents[e];
        uint32_t lo = x->first, hi = x->first + (uint32_t)(x->bytes / bp->page_size);
        if (lo < from)
            lo = from;
        if (hi > to)
            hi = to;
        if (lo < hi)
            bp->src->methods->release(bp->src->ctx, (unsigned char *)x->addr + (size_t)(lo - x->first) * bp->page_size,
                                      (size_t)(hi - lo) * bp->page_size);
    }
}

/*
 * Finish evicting claimed frame f (INVALID set by us): write it if dirty,
 * unmap its key. On a write error the frame is given back to the policy,
 * unclaimed and still dirty, and RM_ENOSPC or RM_EIO returned. Requires mu.
 */
static rm_status_t
finish_evict_locked(rm_bufpool_t *bp, rm_bufpool_frame_t *f, int in_policy)
{
    RM_ASSERT_LOCKED(&bp->mu);
    uint64_t s = atomic_load_explicit(&f->state, memory_order_relaxed);
    uint64_t key = atomic_load_explicit(&f->key, memory_order_relaxed);
    if (s & ST_DIRTY) {
        rm_status_t st = write_frame_locked(bp, f);
        if (st != RM_OK) {
            if (!in_policy)
                rm__bp_earc_admit(bp->pol, f->idx, key);
            uint64_t o = atomic_fetch_and_explicit(&f->state, ~ST_INVALID, memory_order_release);
            st_moved(bp, o, o & ~ST_INVALID);
            return st;
        }
    }
    if (in_policy)
        rm__bp_earc_remove(bp->pol, f->idx);
    rm__bp_ptab_remove_locked(atomic_load_explicit(&bp->ptab, memory_order_relaxed), key, f->idx,
                              key_of, bp);
    if (s & ST_PREFETCHED) {
        cnt_add(&bp->pf_wasted, 1);
        uint32_t file = (uint32_t)(key >> 40);
        bp->files[file].wasted++;
    }
    atomic_store_explicit(&f->key, KEY_NONE, memory_order_relaxed);
    st_moved(bp, atomic_exchange_explicit(&f->state, ST_INVALID, memory_order_release), ST_INVALID);
    cnt_add(&bp->evictions, 1);
    return RM_OK;
}

/*
 * A clean victim, claimed and evicted (no I/O), passing over dirty pages: at
 * most RM_BUFPOOL_CLEAN_SEARCH victims are looked at (each may cost the policy
 * two steps: a window duel and main's victim). RM_BP_NIL if none. Requires mu.
 */
static uint32_t
evict_clean_locked(rm_bufpool_t *bp)
{
    RM_ASSERT_LOCKED(&bp->mu);
    bp->clean_only = 1;
    uint32_t v = rm__bp_earc_evict_bounded(bp->pol, 2 * RM_BUFPOOL_CLEAN_SEARCH + 8);
    bp->clean_only = 0;
    if (v != RM_BP_NIL) {
        rm_status_t st = finish_evict_locked(bp, frame_at(bp, v), 0);
        assert(st == RM_OK);   /* claimed clean: nobody can dirty it without a pin */
        (void)st;
    }
    return v;
}

/*
 * A free frame for a new page: from the free list, else the policy's victim.
 * `allow_write` = 0 refuses dirty victims while writes are failing (prefetch
 * then stops rather than try a write). A dirty victim that cannot be written
 * stays in its frame, and a clean victim is looked for instead. Requires mu.
 * Returns RM_OK and *idx; RM_EBUSY if nothing is evictable; RM_ENOSPC / RM_EIO
 * when only unwritable dirty pages could be freed.
 */
static rm_status_t
claim_frame_locked(rm_bufpool_t *bp, int allow_write, uint32_t *idx)
{
    RM_ASSERT_LOCKED(&bp->mu);
    hitbuf_drain_locked(bp);
    for (;;) {
        uint32_t n = atomic_load_explicit(&bp->nfree, memory_order_relaxed);
        if (n) {
            *idx = bp->freelist[n - 1];
            atomic_store_explicit(&bp->nfree, n - 1, memory_order_relaxed);
            return RM_OK;
        }
        uint32_t v = RM_BP_NIL;
        if (atomic_load_explicit(&bp->wfail_frames, memory_order_relaxed)) {
            /* writes are failing: a clean page serves this miss without I/O */
            v = evict_clean_locked(bp);
            if (v == RM_BP_NIL && !allow_write)
                return RM_EBUSY;
        }
        if (v == RM_BP_NIL) {
            /* the policy's own victim; while writes fail this is also the
             * probe that finds space came back */
            v = rm__bp_earc_evict(bp->pol);
            if (v == RM_BP_NIL)
                return RM_EBUSY;
            rm_status_t st = finish_evict_locked(bp, frame_at(bp, v), 0);
            if (st != RM_OK) {
                /* the page stays dirty in its frame: another, clean, victim */
                v = evict_clean_locked(bp);
                if (v == RM_BP_NIL)
                    return st;
            }
        }
        if (v >= bp->limit)
            continue;   /* a shrink is removing this frame: do not reuse it */
        *idx = v;
        return RM_OK;
    }
}

/* ---- pin / unpin --------------------------------------------------------------------- */

/* 1 pinned; 0 not this page / not pinnable (go slow); -1 latched, wait. */
static int
try_pin(rm_bufpool_t *bp, rm_bufpool_frame_t *f, uint64_t key, rm_bufpool_mode_t mode)
{
    uint64_t s = atomic_load_explicit(&f->state, memory_order_relaxed);
    uint64_t ns;
    do {
        if (s & ST_INVALID)
            return 0;
        if (mode == RM_BUFPOOL_SHARED) {
            if (s & ST_X)
                return -1;
            ns = s + 1;
        } else {
            if ((s & ST_X) || (s & ST_PIN_MASK))
                return -1;
            ns = s | ST_X;
        }
        ns = st_touched(ns);
    } while (!atomic_compare_exchange_weak_explicit(&f->state, &s, ns, memory_order_seq_cst,
                                                    memory_order_relaxed));
    st_moved(bp, s, ns);
    if (RM_UNLIKELY((s & (ST_T1 | ST_REF | ST_PREFETCHED)) == ST_T1))
        atomic_fetch_add_explicit(&bp->t1_refs, 1, memory_order_relaxed);   /* first hit in T1 */
    if (RM_UNLIKELY(atomic_load_explicit(&f->key, memory_order_relaxed) != key)) {
        rm_bufpool_unpin(bp, f, mode, 0);
        return 0;
    }
    if (mode == RM_BUFPOOL_EXCLUSIVE && slots_hold(bp, f->idx)) {
        /* slot pins (§ 3j) are not in the count: X set, then the slots
         * looked at (seq_cst both). Back off and wait like for a count pin;
         * the hit's policy bits stay, as a touch */
        uint64_t o = atomic_fetch_and_explicit(&f->state, ~ST_X, memory_order_release);
        st_moved(bp, o, o & ~ST_X);
        return -1;
    }
    if (RM_UNLIKELY(ns & ST_PREFETCHED)) {
        /* first use of a read-ahead page is its first access, not a re-reference */
        uint64_t old = atomic_fetch_and_explicit(&f->state, ~(ST_PREFETCHED | ST_REF), memory_order_relaxed);
        if (old & ST_PREFETCHED) {
            STRIPE_COUNT(bp, pf_used, 1);
            return 1;
        }
    }
    hitbuf_record(bp, f->idx, key);
    return 1;
}

void
rm_bufpool_unpin(rm_bufpool_t *bp, rm_bufpool_frame_t *f, rm_bufpool_mode_t mode, int dirty)
{
    if (mode == RM_BUFPOOL_SHARED) {
        unpin_shared(bp, f);
        return;
    }
    uint64_t s = atomic_load_explicit(&f->state, memory_order_relaxed), ns;
    do {
        assert(s & ST_X);
        ns = (s & ~ST_X) | (dirty ? ST_DIRTY : 0);
    } while (!atomic_compare_exchange_weak_explicit(&f->state, &s, ns, memory_order_release,
                                                    memory_order_relaxed));
    st_moved(bp, s, ns);
}

void *
rm_bufpool_frame_data(const rm_bufpool_frame_t *f)
{
    return f->data;
}

/* Plan read-ahead for a miss at `page` of `file`. Requires mu. Returns pages to read after it. */
static uint32_t
prefetch_plan_locked(rm_bufpool_t *bp, uint32_t file, uint64_t page)
{
    RM_ASSERT_LOCKED(&bp->mu);
    bp_file_t *fl = &bp->files[file];
    int seq = fl->last_miss && (page == fl->last_miss || (fl->pf_end && page == fl->pf_end));
    fl->last_miss = page + 1;
    if (!seq) {
        fl->window = 0;
        fl->pf_end = 0;
        fl->wasted = 0;
        return 0;
    }
    if (fl->wasted) {
        fl->window /= 2;   /* read-ahead was wasted: shrink */
        fl->wasted = 0;
    } else {
        fl->window = fl->window ? fl->window * 2 : PF_MIN_WINDOW;
    }
    if (fl->window > PF_MAX_WINDOW)
        fl->window = PF_MAX_WINDOW;
    if (fl->window < PF_MIN_WINDOW)
        fl->window = PF_MIN_WINDOW;
    /* never read ahead past what is on disk, and keep a quarter of the pool for demand */
    uint64_t disk = atomic_load_explicit(&fl->disk_pages, memory_order_relaxed);
    uint64_t w = fl->window;
    uint32_t nfr = atomic_load_explicit(&bp->nframes, memory_order_relaxed);
    if (w > nfr / 4)
        w = nfr / 4;
    if (page + 1 >= disk)
        w = 0;
    else if (page + 1 + w > disk)
        w = disk - page - 1;
    fl->pf_end = page + 1 + w;
    return (uint32_t)w;
}

static void
record_corrupt_locked(rm_bufpool_t *bp, uint32_t file, uint64_t page)
{
    RM_ASSERT_LOCKED(&bp->mu);
    cnt_add(&bp->checksum_failures, 1);
    bp->last_corrupt_file = (int32_t)file;
    bp->last_corrupt_page = page;
}

/* Drop the page in claimed frame f without a write or a ghost (a load that
 * failed, a discarded page): off the policy's lists and the page table, DIRTY
 * cleared, frame back to the free list. Requires mu. */
static void
drop_frame_locked(rm_bufpool_t *bp, rm_bufpool_frame_t *f)
{
    RM_ASSERT_LOCKED(&bp->mu);
    uint64_t key = atomic_load_explicit(&f->key, memory_order_relaxed);
    rm__bp_earc_remove(bp->pol, f->idx);
    rm__bp_ptab_remove_locked(atomic_load_explicit(&bp->ptab, memory_order_relaxed), key, f->idx,
                              key_of, bp);
    atomic_store_explicit(&f->key, KEY_NONE, memory_order_relaxed);
    st_moved(bp, atomic_exchange_explicit(&f->state, ST_INVALID, memory_order_release), ST_INVALID);
    note_write(bp, f, 0);   /* a discarded page needs no write any more */
    if (f->idx < bp->limit)
        free_push_locked(bp, f->idx);
}

/* 1 if some frame is unavailable only for a moment (write-back, load). Requires mu. */
static int
transient_busy_locked(rm_bufpool_t *bp)
{
    RM_ASSERT_LOCKED(&bp->mu);
    uint32_t n = atomic_load_explicit(&bp->nframes, memory_order_relaxed);
    for (uint32_t i = 0; i < n; i++) {
        uint64_t s = atomic_load_explicit(&frame_at(bp, i)->state, memory_order_relaxed);
        if (s & (ST_WRITING | ST_LOADING))
            return 1;
    }
    return 0;
}

static rm_status_t
pin_slow(rm_bufpool_t *bp, uint32_t file, uint64_t page, rm_bufpool_mode_t mode,
         rm_bufpool_frame_t **out, int *retry, int *noted)
{
    uint64_t key = mkkey(file, page);
    *retry = 0;
    pthread_mutex_lock(&bp->mu);
    rm__bp_ptab_t *t = atomic_load_explicit(&bp->ptab, memory_order_relaxed);
    if (rm__bp_ptab_lookup(t, key, key_of, bp) != RM_BP_NIL) {
        pthread_mutex_unlock(&bp->mu);
        *retry = 1;   /* resident, loading or latched: back to the fast path */
        return RM_OK;
    }
    if (!*noted) {
        /* once per pin, however often a transient wait makes us retry */
        if (++bp->hit_report_tick >= HIT_REPORT_EVERY) {
            /* the policy's history ages with accesses; hits reach it in batches */
            uint64_t h = 0;
            for (int i = 0; i < STRIPES; i++)
                h += atomic_load_explicit(&bp->stripes[i].hits, memory_order_relaxed);
            rm__bp_earc_note_hits(bp->pol, h - bp->hits_reported);
            bp->hits_reported = h;
            bp->hit_report_tick = 0;
        }
        rm__bp_earc_note_miss(bp->pol, key);
        *noted = 1;
    }
    uint32_t idx;
    rm_status_t st = claim_frame_locked(bp, 1, &idx);
    if (st == RM_EBUSY && transient_busy_locked(bp)) {
        /* frames are being written or read, not pinned for good: wait for them */
        pthread_mutex_unlock(&bp->mu);
        struct timespec ts = {0, 100000};
        nanosleep(&ts, NULL);
        *retry = 1;
        return RM_OK;
    }
    if (st != RM_OK) {
        pthread_mutex_unlock(&bp->mu);
        return st;
    }
    rm_bufpool_frame_t *fr[1 + PF_MAX_WINDOW];
    fr[0] = frame_at(bp, idx);
    atomic_store_explicit(&fr[0]->key, key, memory_order_relaxed);
    st_moved(bp, atomic_exchange_explicit(&fr[0]->state, ST_INVALID | ST_LOADING, memory_order_release),
             ST_INVALID | ST_LOADING);
    rm__bp_ptab_insert_locked(t, key, idx);
    rm__bp_earc_admit(bp->pol, idx, key);
    uint32_t want = prefetch_plan_locked(bp, file, page), n = 1;
    for (uint32_t k = 1; k <= want; k++) {
        uint64_t pk = mkkey(file, page + k);
        if (rm__bp_ptab_lookup(t, pk, key_of, bp) != RM_BP_NIL)
            break;
        uint32_t pi;
        if (claim_frame_locked(bp, 0, &pi) != RM_OK)
            break;
        fr[n] = frame_at(bp, pi);
        atomic_store_explicit(&fr[n]->key, pk, memory_order_relaxed);
        st_moved(bp, atomic_exchange_explicit(&fr[n]->state, ST_INVALID | ST_LOADING, memory_order_release),
                 ST_INVALID | ST_LOADING);
        rm__bp_ptab_insert_locked(t, pk, pi);
        rm__bp_earc_admit_main(bp->pol, pi, pk);
        n++;
    }
    if (want)
        bp->files[file].pf_end = page + n;   /* the next miss of this run lands here */
    pthread_mutex_unlock(&bp->mu);

    STRIPE_COUNT(bp, misses, 1);
    if (n > 1)
        cnt_add(&bp->pf_issued, n - 1);
    size_t ps = bp->page_size;
    int io_ok[1 + PF_MAX_WINDOW];
    if (page >= atomic_load_explicit(&bp->files[file].disk_pages, memory_order_relaxed)) {
        /* past the end of the file (a file growing: the engine heap's new
         * pages): never written, so zeros without a system call. Exact: a page
         * leaves the pool only after its write-back has raised disk_pages, and
         * no read-ahead is planned past it (n == 1) */
        memset(fr[0]->data, 0, ps);
        io_ok[0] = 1;
    } else {
        struct iovec iov[1 + PF_MAX_WINDOW];
        for (uint32_t k = 0; k < n; k++)
            iov[k] = (struct iovec){fr[k]->data, ps};
        int fd = bp->files[file].fd;
        ssize_t got;
        do {
            got = preadv(fd, iov, (int)n, (off_t)(page * ps));
        } while (got < 0 && errno == EINTR);
        size_t g = got < 0 ? 0 : (size_t)got;
        for (uint32_t k = 0; k < n; k++) {
            size_t have = g > ps * k ? g - ps * k : 0;
            io_ok[k] = 1;
            /* a short read (EOF, partial tail page, or just short): finish this
             * page alone; pread_full zero-fills what lies beyond EOF */
            if (have < ps &&
                pread_full(fd, fr[k]->data + have, ps - have, (off_t)((page + k) * ps + have)) != 0) {
                io_ok[k] = 0;
                record_io_error(bp, "read", (int)file, page + k, errno);
            }
        }
        cnt_add(&bp->reads, n);
    }
    rm_status_t res = io_ok[0] ? RM_OK : RM_EIO;
    uint32_t bad_mask_first = 0;
    /* verify and publish; failures go back to the free list */
    int need_lock = 0;
    for (uint32_t k = 0; k < n; k++) {
        int ok = io_ok[k] && page_valid(fr[k]->data, ps, page + k);
        if (!ok) {
            need_lock = 1;
            if (k == 0)
                bad_mask_first = 1;
            continue;
        }
        uint64_t ns = 0;
        if (k == 0)
            ns |= (mode == RM_BUFPOOL_SHARED ? 1 : ST_X);
        else
            ns |= ST_PREFETCHED | ST_REF;   /* one clock pass of grace to be used */
        /* the policy may have marked the frame T1 meanwhile (under mu): keep it */
        uint64_t cur = atomic_load_explicit(&fr[k]->state, memory_order_relaxed);
        while (!atomic_compare_exchange_weak_explicit(&fr[k]->state, &cur, ns | (cur & ST_T1),
                                                      memory_order_release, memory_order_relaxed))
            ;
        st_moved(bp, cur, ns | (cur & ST_T1));
    }
    if (need_lock) {
        pthread_mutex_lock(&bp->mu);
        for (uint32_t k = 0; k < n; k++) {
            uint64_t s = atomic_load_explicit(&fr[k]->state, memory_order_relaxed);
            if (!(s & ST_LOADING))
                continue;
            if (k == 0 && res == RM_OK)
                record_corrupt_locked(bp, file, page);
            drop_frame_locked(bp, fr[k]);
        }
        pthread_mutex_unlock(&bp->mu);
    }
    if (bad_mask_first)
        return res == RM_OK ? RM_ECORRUPT : res;
    if (mode == RM_BUFPOOL_EXCLUSIVE) {
        bp_file_t *fl = &bp->files[file];
        uint64_t lp = atomic_load_explicit(&fl->logical_pages, memory_order_relaxed);
        while (page + 1 > lp &&
               !atomic_compare_exchange_weak_explicit(&fl->logical_pages, &lp, page + 1,
                                                      memory_order_relaxed, memory_order_relaxed))
            ;
    }
    *out = fr[0];
    return RM_OK;
}

rm_status_t
rm_bufpool_pin(rm_bufpool_t *bp, uint32_t file_id, uint64_t page_no, rm_bufpool_mode_t mode,
               rm_bufpool_frame_t **out)
{
    if (out)
        *out = NULL;
    if (!bp || !out || page_no > RM_BUFPOOL_MAX_PAGE_NO ||
        file_id >= atomic_load_explicit(&bp->nfiles, memory_order_acquire) ||
        (mode != RM_BUFPOOL_SHARED && mode != RM_BUFPOOL_EXCLUSIVE))
        return RM_EINVAL;
    uint64_t key = mkkey(file_id, page_no);
    int noted = 0;
    for (unsigned spins = 0;; spins++) {
        /* reader section: the table and the descriptor may be a shrink's
         * retired ones; a pinned frame is never shrunk away */
        unsigned ep = rd_enter(bp);
        rm__bp_ptab_t *t = atomic_load_explicit(&bp->ptab, memory_order_seq_cst);
        rm__bp_test_hook_fn hook = atomic_load_explicit(&rm__bp_test_in_section, memory_order_relaxed);
        if (RM_UNLIKELY(hook != NULL))
            hook();
        uint32_t idx = rm__bp_ptab_lookup_inline(t, key, key_of, bp);
        rm_bufpool_frame_t *f = idx != RM_BP_NIL ? frame_try(bp, idx) : NULL;
        if (RM_LIKELY(f != NULL)) {
            int r = 2;
            if (mode == RM_BUFPOOL_SHARED && RM_LIKELY(tls_excl))
                r = try_pin_slot(bp, f, key);
            if (r == 2)
                r = try_pin(bp, f, key, mode);
            if (RM_LIKELY(r == 1)) {
                rd_exit(bp, ep);
                STRIPE_COUNT(bp, hits, 1);
                if (mode == RM_BUFPOOL_EXCLUSIVE) {
                    bp_file_t *fl = &bp->files[file_id];
                    if (page_no + 1 > atomic_load_explicit(&fl->logical_pages, memory_order_relaxed)) {
                        uint64_t lp = atomic_load_explicit(&fl->logical_pages, memory_order_relaxed);
                        while (page_no + 1 > lp &&
                               !atomic_compare_exchange_weak_explicit(&fl->logical_pages, &lp, page_no + 1,
                                                                      memory_order_relaxed,
                                                                      memory_order_relaxed))
                            ;
                    }
                }
                *out = f;
                return RM_OK;
            }
            if (r < 0) {
                rd_exit(bp, ep);
                sched_yield();
                continue;
            }
            uint64_t s = atomic_load_explicit(&f->state, memory_order_relaxed);
            if ((s & ST_LOADING) && atomic_load_explicit(&f->key, memory_order_relaxed) == key) {
                rd_exit(bp, ep);
                sched_yield();   /* someone is reading this page right now */
                continue;
            }
        }
        rd_exit(bp, ep);
        int retry;
        rm_status_t st = pin_slow(bp, file_id, page_no, mode, out, &retry, &noted);
        if (!retry)
            return st;
        if (spins > 64)
            sched_yield();
    }
}

/* ---- flushing --------------------------------------------------------------------------- */

/*
 * Write dirty frames in [from, to) in batches of DW_MAX. `wait_latched`: wait
 * for exclusive latches (checkpoint) instead of skipping. `max_pages` bounds
 * the work (0 = no bound). Returns RM_OK, RM_ENOSPC or RM_EIO (failed pages
 * stay dirty).
 */
static rm_status_t
flush_range(rm_bufpool_t *bp, uint32_t from, uint32_t to, int wait_latched, uint32_t max_pages,
            uint32_t *written)
{
    rm_status_t res = RM_OK;
    uint32_t done = 0;
    size_t ps = bp->page_size;
    uint32_t i = from;
    /* reader sections around the scan: frames are looked at unpinned, and a
     * shrink may detach segments above nframes meanwhile (their frames are
     * clean and invalid). The sections end before every wait and every batch
     * write, so a resize (which waits for them) never waits for I/O or for a
     * latch holder — who may be the thread resizing. Frames of a batch are
     * safe outside: WRITING keeps them from being evicted, so their segment
     * stays. */
    unsigned ep = rd_enter(bp);
    pthread_mutex_lock(&bp->io_mu);
    while (i < to && (!max_pages || done < max_pages)) {
        rm_bufpool_frame_t *fr[DW_MAX];
        uint32_t files[DW_MAX];
        uint64_t pages[DW_MAX];
        uint32_t n = 0;
        int flush_now = 0;
        for (; i < to && n < DW_MAX && !flush_now; i++) {
            rm_bufpool_frame_t *f = frame_try(bp, i);
            if (!f) {
                i |= SEG_SIZE - 1;   /* detached segment: nothing dirty */
                continue;
            }
            uint64_t s = atomic_load_explicit(&f->state, memory_order_relaxed);
            for (;;) {
                if (!(s & ST_DIRTY) || (s & (ST_INVALID | ST_WRITING)))
                    break;
                if (s & ST_X) {
                    if (!wait_latched)
                        break;
                    if (n) {
                        /* the batch buffer holds images: write them before
                         * letting go of io_mu, then come back to this frame */
                        flush_now = 1;
                        i--;
                        break;
                    }
                    rd_exit(bp, ep);
                    pthread_mutex_unlock(&bp->io_mu);
                    sched_yield();
                    pthread_mutex_lock(&bp->io_mu);
                    ep = rd_enter(bp);
                    if (!(f = frame_try(bp, i)))
                        break;   /* detached while we waited: nothing dirty */
                    s = atomic_load_explicit(&f->state, memory_order_relaxed);
                    continue;
                }
                uint64_t ns = ((s + 1) | ST_WRITING) & ~ST_DIRTY;
                if (atomic_compare_exchange_weak_explicit(&f->state, &s, ns, memory_order_acquire,
                                                          memory_order_relaxed)) {
                    st_moved(bp, s, ns);
                    uint64_t key = atomic_load_explicit(&f->key, memory_order_relaxed);
                    unsigned char *img = bp->batch + ps * (n + 1);
                    memcpy(img, f->data, ps);
                    uint64_t o = atomic_fetch_sub_explicit(&f->state, 1, memory_order_release);
                    st_moved(bp, o, o - 1);
                    files[n] = (uint32_t)(key >> 40);
                    pages[n] = key & RM_BUFPOOL_MAX_PAGE_NO;
                    page_stamp(img, ps, pages[n]);
                    fr[n++] = f;
                    break;
                }
            }
        }
        if (!n)
            continue;
        rd_exit(bp, ep);
        uint8_t ok[DW_MAX];
        rm_status_t st = write_batch_locked(bp, files, pages, n, ok);
        for (uint32_t k = 0; k < n; k++) {
            if (!ok[k]) {
                uint64_t o = atomic_fetch_or_explicit(&fr[k]->state, ST_DIRTY, memory_order_relaxed);
                st_moved(bp, o, o | ST_DIRTY);
            }
            note_write(bp, fr[k], !ok[k]);
            atomic_fetch_and_explicit(&fr[k]->state, ~ST_WRITING, memory_order_release);
        }
        if (st != RM_OK)
            res = worse(res, st);
        done += n;
        ep = rd_enter(bp);
    }
    pthread_mutex_unlock(&bp->io_mu);
    rd_exit(bp, ep);
    if (written)
        *written = done;
    return res;
}

rm_status_t
rm_bufpool_checkpoint(rm_bufpool_t *bp)
{
    if (!bp)
        return RM_EINVAL;
    uint32_t n = atomic_load_explicit(&bp->nframes, memory_order_acquire);
    pthread_mutex_lock(&bp->mu);
    uint32_t mapped = bp->mapped;
    pthread_mutex_unlock(&bp->mu);
    rm_status_t st = flush_range(bp, 0, n > mapped ? n : mapped, 1, 0, NULL);
    /* an eviction that claimed a dirty page before we looked finishes under mu */
    pthread_mutex_lock(&bp->mu);
    pthread_mutex_unlock(&bp->mu);
    return st;
}

/* Evict up to `want` pages, coldest first. Requires mu. */
static rm_status_t
evict_some_locked(rm_bufpool_t *bp, uint64_t want, uint64_t *evicted, int release)
{
    RM_ASSERT_LOCKED(&bp->mu);
    hitbuf_drain_locked(bp);
    uint64_t n = 0;
    rm_status_t st = RM_OK;
    while (n < want) {
        /* after a failed write, clean pages only: the dirty ones stay */
        uint32_t v = st == RM_OK ? rm__bp_earc_evict(bp->pol) : evict_clean_locked(bp);
        if (v == RM_BP_NIL)
            break;
        rm_bufpool_frame_t *f = frame_at(bp, v);
        if (st == RM_OK && (st = finish_evict_locked(bp, f, 0)) != RM_OK)
            continue;
        if (release)
            release_frame_memory(bp, f);
        if (v < bp->limit)
            free_push_locked(bp, v);
        n++;
    }
    if (evicted)
        *evicted = n;
    return st;
}

static uint64_t
reserve_target(rm_bufpool_t *bp)
{
    unsigned b = atomic_load_explicit(&bp->boost, memory_order_relaxed);
    uint64_t n = atomic_load_explicit(&bp->nframes, memory_order_relaxed);
    if (b == 0)
        return 0;
    if (b >= RM_BUFPOOL_BOOST_MAX)
        return n / 10;
    return (uint64_t)((double)n * 0.01 * (1.0 + b / 100.0));
}

static void *
writer_main(void *arg)
{
    rm_bufpool_t *bp = arg;
    pthread_mutex_lock(&bp->wmu);
    while (!bp->writer_stop) {
        struct timespec ts = rm__deadline_after_ns(CLOCK_REALTIME, (uint64_t)bp->interval_ms * 1000000ull);
        pthread_cond_timedwait(&bp->wcv, &bp->wmu, &ts);
        if (bp->writer_stop)
            break;
        pthread_mutex_unlock(&bp->wmu);

        /* a slice of the pool per tick, at most 256 pages */
        uint32_t n = atomic_load_explicit(&bp->nframes, memory_order_acquire);
        uint32_t from = bp->writer_hand < n ? bp->writer_hand : 0;
        uint32_t to = from + 8192 < n ? from + 8192 : n;
        (void)flush_range(bp, from, to, 0, 256, NULL);
        bp->writer_hand = to >= n ? 0 : to;

        uint64_t target = reserve_target(bp);
        if (target) {
            pthread_mutex_lock(&bp->mu);
            uint64_t nf = atomic_load_explicit(&bp->nfree, memory_order_relaxed);
            if (nf < target) {
                uint64_t want = target - nf;
                (void)evict_some_locked(bp, want > 256 ? 256 : want, NULL, 0);
            }
            pthread_mutex_unlock(&bp->mu);
        }
        pthread_mutex_lock(&bp->wmu);
    }
    pthread_mutex_unlock(&bp->wmu);
    return NULL;
}

rm_status_t
rm_bufpool_writer_start(rm_bufpool_t *bp)
{
    if (!bp)
        return RM_EINVAL;
    rm_status_t st = rm__thread_start(&bp->wmu, &bp->writer, &bp->writer_running, &bp->writer_stop, writer_main, bp);
    return st == RM_EBUSY ? RM_OK : st;   /* already running: fine */
}

void
rm_bufpool_writer_stop(rm_bufpool_t *bp)
{
    if (bp)
        rm__thread_stop(&bp->wmu, &bp->wcv, &bp->writer, &bp->writer_running, &bp->writer_stop);
}

/* ---- create / destroy -------------------------------------------------------------------- */

void
rm_bufpool_config_default(rm_bufpool_config_t *c)
{
    memset(c, 0, sizeof *c);
    c->num_frames = 1024;
    c->page_size = RM_BUFPOOL_PAGE_SIZE_DEFAULT;
    c->writer_interval_ms = 100;
    c->durable = 1;
    c->start_writer = 1;
}

static uint64_t
used_frames(rm_bufpool_t *bp)
{
    uint64_t n = atomic_load_explicit(&bp->nframes, memory_order_relaxed);
    uint64_t f = atomic_load_explicit(&bp->nfree, memory_order_relaxed);
    return f < n ? n - f : 0;
}

static void
report_usage(void *ctx, rm_component_usage_t *out)
{
    /*
     * Held = frames holding a page + metadata (refresh_meta_bytes_locked),
     * and all of it is in use: a pool of fixed-size pages has no external
     * fragmentation. Frame memory that never held a page, or was given back
     * by eviction or a shrink, is mapped but not resident, so it is not
     * counted. Two earlier mistakes: the metadata counted as held but not
     * used, which made an idle pool "100 % fragmented" (a critical
     * fragmentation alert at every start of rustymemd); and "metadata" was
     * mapped − frames in service, so after a shrink the released frames
     * counted as held (65 MiB reported for 27 MiB of RSS, which the pressure
     * monitor then took as usage). stats.held_bytes reports the whole mapping.
     */
    rm_bufpool_t *bp = ctx;
    out->used_bytes = used_frames(bp) * bp->page_size + atomic_load_explicit(&bp->meta_bytes, memory_order_relaxed);
    out->held_bytes = out->used_bytes;
}

static void
destroy_memory(rm_bufpool_t *bp)
{
    const rm_pagesrc_t *src = bp->src;
    rm__bp_earc_destroy(bp->pol);
    for (uint32_t i = 0; i < bp->nextents; i++)
        rm__bp_mem_free(src, bp->extents[i].addr, bp->extents[i].bytes);
    if (bp->seg) {
        for (uint32_t s = 0; s < MAX_SEGS; s++)
            if (bp->seg[s])
                rm__bp_mem_free(src, bp->seg[s], SEG_SIZE * sizeof(rm_bufpool_frame_t));
        rm__bp_mem_free(src, bp->seg, bp->seg_bytes);
    }
    rm__bp_ptab_destroy(atomic_load_explicit(&bp->ptab, memory_order_relaxed), src);
    while (bp->retired) {
        rm__bp_ptab_t *n = bp->retired->retired_next;
        rm__bp_ptab_destroy(bp->retired, src);
        bp->retired = n;
    }
    while (bp->seg_retired) {
        rm_bufpool_frame_t *n = (rm_bufpool_frame_t *)(void *)bp->seg_retired[0].data;
        rm__bp_mem_free(src, bp->seg_retired, SEG_SIZE * sizeof(rm_bufpool_frame_t));
        bp->seg_retired = n;
    }
    rm__bp_mem_free(src, bp->freelist, bp->freelist_bytes);
    rm__bp_mem_free(src, bp->batch, bp->batch_bytes);
}

/* The end of create's failure path and of destroy: close the double-write
 * file, free the memory (destroy_memory), the locks and the pool itself. */
static void
free_pool(rm_bufpool_t *bp)
{
    if (bp->dw_fd >= 0)
        close(bp->dw_fd);
    const rm_pagesrc_t *src = bp->src;
    destroy_memory(bp);
    pthread_mutex_destroy(&bp->mu);
    pthread_mutex_destroy(&bp->gp_mu);
    pthread_mutex_destroy(&bp->err_mu);
    pthread_mutex_destroy(&bp->io_mu);
    pthread_mutex_destroy(&bp->wmu);
    pthread_cond_destroy(&bp->wcv);
    rm__bp_mem_free(src, bp, sizeof *bp);
}

rm_status_t
rm_bufpool_create(const rm_bufpool_config_t *cfg, rm_bufpool_t **out)
{
    if (!cfg || !out || !cfg->dir || !*cfg->dir || cfg->num_frames < RM_BUFPOOL_FRAMES_MIN ||
        cfg->num_frames > RM_BUFPOOL_FRAMES_MAX)
        return RM_EINVAL;
    size_t ps = cfg->page_size ? cfg->page_size : RM_BUFPOOL_PAGE_SIZE_DEFAULT;
    if (!rm__is_pow2(ps) || ps < RM_BUFPOOL_PAGE_SIZE_MIN || ps > RM_BUFPOOL_PAGE_SIZE_MAX)
        return RM_EINVAL;
    if (strlen(cfg->dir) >= sizeof(((rm_bufpool_t *)0)->dir))
        return RM_EINVAL;
    const rm_pagesrc_t *src = cfg->pagesrc ? cfg->pagesrc : rm_pagesrc_default();
    rm_status_t st = RM_ENOMEM;
    rm_bufpool_t *bp = rm__bp_mem_alloc(src, sizeof *bp);
    if (!bp)
        return RM_ENOMEM;
    bp->src = src;
    strcpy(bp->dir, cfg->dir);
    bp->page_size = ps;
    bp->durable = cfg->durable;
    bp->interval_ms = cfg->writer_interval_ms ? cfg->writer_interval_ms : 100;
    bp->dw_fd = -1;
    bp->last_corrupt_file = -1;
    for (uint32_t i = 0; i < RM_BUFPOOL_MAX_FILES; i++)
        bp->files[i].fd = -1;
    pthread_mutex_init(&bp->mu, NULL);
    pthread_mutex_init(&bp->gp_mu, NULL);
    pthread_once(&rd_asym_once, rd_asym_init);   /* before any reader of this pool */
    pthread_mutex_init(&bp->err_mu, NULL);
    pthread_mutex_init(&bp->io_mu, NULL);
    pthread_mutex_init(&bp->wmu, NULL);
    pthread_cond_init(&bp->wcv, NULL);

    bp->batch_bytes = ps * (DW_MAX + 1);
    bp->batch = rm__bp_mem_alloc(src, bp->batch_bytes);
    bp->seg_bytes = MAX_SEGS * sizeof(rm_bufpool_frame_t *);
    bp->seg = rm__bp_mem_alloc(src, bp->seg_bytes);
    if (!bp->batch || !bp->seg)
        goto fail;
    uint32_t nf = (uint32_t)cfg->num_frames;
    if (rm__bp_earc_create(nf, nf, &pool_ops, bp, src, &bp->pol) != RM_OK)
        goto fail;
    rm__bp_earc_set_exact(bp->pol, 1);   /* hits reach it through hitbuf */
    /* Not yet published: the mutex is uncontended, taken so the _locked
     * helpers' ownership check (RM_ASSERT_LOCKED) holds here as everywhere. */
    pthread_mutex_lock(&bp->mu);
    refresh_meta_bytes_locked(bp);
    bp->limit = UINT32_MAX;
    if ((st = map_frames_locked(bp, nf)) == RM_OK && (st = ptab_ensure_locked(bp, nf)) == RM_OK) {
        for (uint32_t i = nf; i-- > 0;)
            free_push_locked(bp, i);
    }
    pthread_mutex_unlock(&bp->mu);
    if (st != RM_OK)
        goto fail;
    atomic_store_explicit(&bp->nframes, nf, memory_order_release);

    st = RM_EIO;
    if (mkdir(bp->dir, 0755) != 0 && errno != EEXIST)
        goto fail;
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/rustymem.dw", bp->dir);
    bp->dw_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (bp->dw_fd < 0)
        goto fail;
    if ((st = dw_recover(bp)) != RM_OK)
        goto fail;
    if ((st = rm_stats_register("buffer_pool", report_usage, bp, &bp->stats_handle)) != RM_OK)
        goto fail;
    if (cfg->start_writer && (st = rm_bufpool_writer_start(bp)) != RM_OK)
        goto fail_stats;
    *out = bp;
    return RM_OK;

fail_stats:
    rm_stats_unregister(bp->stats_handle);
fail:
    free_pool(bp);
    return st;
}

rm_status_t
rm_bufpool_destroy(rm_bufpool_t *bp)
{
    if (!bp)
        return RM_OK;
    rm_bufpool_writer_stop(bp);
    rm_status_t st = rm_bufpool_checkpoint(bp);
    if (st == RM_OK && bp->dw_fd >= 0 && ftruncate(bp->dw_fd, 0) == 0 && bp->durable)
        (void)fdatasync(bp->dw_fd);   /* clean close: nothing left to repair */
    rm_stats_unregister(bp->stats_handle);
    for (uint32_t i = 0; i < RM_BUFPOOL_MAX_FILES; i++)
        if (bp->files[i].fd >= 0)
            close(bp->files[i].fd);
    free_pool(bp);
    return st;
}

static rm_status_t
open_file(rm_bufpool_t *bp, const char *name, int temp, uint32_t *file_id)
{
    if (!bp || !name || !file_id || !*name || strchr(name, '/') ||
        strlen(name) >= RM_BUFPOOL_NAME_MAX || strcmp(name, "rustymem.dw") == 0 ||
        strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
        return RM_EINVAL;
    pthread_mutex_lock(&bp->mu);
    uint32_t n = atomic_load_explicit(&bp->nfiles, memory_order_relaxed);
    for (uint32_t i = 0; i < n; i++) {
        if (strcmp(bp->files[i].name, name) == 0) {
            *file_id = i;
            pthread_mutex_unlock(&bp->mu);
            return bp->files[i].temp == temp ? RM_OK : RM_EINVAL;
        }
    }
    rm_status_t st = RM_ELIMIT;
    if (n == RM_BUFPOOL_MAX_FILES)
        goto out;
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", bp->dir, name);
    st = RM_EIO;
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | (temp ? O_TRUNC : 0), 0644);
    if (fd < 0)
        goto out;
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        close(fd);
        goto out;
    }
    bp_file_t *f = &bp->files[n];
    memset(f, 0, sizeof *f);
    f->fd = fd;
    f->temp = temp;
    strcpy(f->name, name);
    /* a partial tail page (a crash while the file grew) counts: it is read,
     * and its checksum decides, rather than taken for a never-written page */
    uint64_t pages = ((uint64_t)sb.st_size + bp->page_size - 1) / bp->page_size;
    atomic_init(&f->disk_pages, pages);
    atomic_init(&f->logical_pages, pages);
    atomic_store_explicit(&bp->nfiles, n + 1, memory_order_release);
    *file_id = n;
    st = RM_OK;
out:
    pthread_mutex_unlock(&bp->mu);
    return st;
}

rm_status_t
rm_bufpool_open_file(rm_bufpool_t *bp, const char *name, uint32_t *file_id)
{
    return open_file(bp, name, 0, file_id);
}

rm_status_t
rm_bufpool_open_temp_file(rm_bufpool_t *bp, const char *name, uint32_t *file_id)
{
    return open_file(bp, name, 1, file_id);
}

rm_status_t
rm_bufpool_file_pages(rm_bufpool_t *bp, uint32_t file_id, uint64_t *pages)
{
    if (!bp || !pages || file_id >= atomic_load_explicit(&bp->nfiles, memory_order_acquire))
        return RM_EINVAL;
    bp_file_t *f = &bp->files[file_id];
    uint64_t d = atomic_load_explicit(&f->disk_pages, memory_order_relaxed);
    uint64_t l = atomic_load_explicit(&f->logical_pages, memory_order_relaxed);
    *pages = d > l ? d : l;
    return RM_OK;
}

size_t
rm_bufpool_usable_bytes(const rm_bufpool_t *bp)
{
    return bp->page_size - RM_BUFPOOL_TRAILER_BYTES;
}

size_t
rm_bufpool_page_size(const rm_bufpool_t *bp)
{
    return bp->page_size;
}

/* ---- resize, boost, emergency eviction ------------------------------------------------------ */

/* The metadata sized for a larger pool goes (docs/adr/0022): every frame ≥ n
 * is out of the policy, the table and the free list. None of these steps
 * fails: without memory for a smaller piece the larger stays (a later resize,
 * to the same size too, tries again). Requires mu. */
static void
fit_metadata_locked(rm_bufpool_t *bp, uint32_t n)
{
    RM_ASSERT_LOCKED(&bp->mu);
    (void)rm__bp_earc_resize(bp->pol, n, n);
    ptab_fit_locked(bp, n);
    freelist_fit_locked(bp, n);
    segs_detach_locked(bp, n);
    refresh_meta_bytes_locked(bp);
}

static rm_status_t
shrink_locked(rm_bufpool_t *bp, uint32_t target)
{
    RM_ASSERT_LOCKED(&bp->mu);
    uint32_t n = atomic_load_explicit(&bp->nframes, memory_order_relaxed), n_was = n;
    bp->limit = target;
    /* free frames above the target leave the free list at once (their memory
     * goes back below, in one call per extent) */
    uint32_t nf = atomic_load_explicit(&bp->nfree, memory_order_relaxed), w = 0;
    for (uint32_t i = 0; i < nf; i++) {
        if (bp->freelist[i] < target)
            bp->freelist[w++] = bp->freelist[i];
    }
    atomic_store_explicit(&bp->nfree, w, memory_order_relaxed);
    rm_status_t st = RM_OK;
    while (n > target) {
        uint32_t idx = n - 1;
        rm_bufpool_frame_t *f = frame_at(bp, idx);
        uint64_t deadline = rm__now_ns() + 2000000000ull;
        for (;;) {
            if (atomic_load_explicit(&f->key, memory_order_relaxed) == KEY_NONE &&
                !rm__bp_earc_contains(bp->pol, idx) &&
                (atomic_load_explicit(&f->state, memory_order_relaxed) & ST_LOADING) == 0)
                break;   /* already free */
            if (pol_try_claim(bp, idx)) {
                st = finish_evict_locked(bp, f, 1);
                if (st == RM_OK)
                    release_frame_memory(bp, f);
                break;
            }
            if (rm__now_ns() > deadline) {
                st = RM_EBUSY;
                break;
            }
            /* pinned, latched, loading or being written: let it finish */
            pthread_mutex_unlock(&bp->mu);
            struct timespec ts = {0, 1000000};
            nanosleep(&ts, NULL);
            pthread_mutex_lock(&bp->mu);
        }
        if (st != RM_OK)
            break;
        n--;
        atomic_store_explicit(&bp->nframes, n, memory_order_release);
    }
    /* frames the policy evicted for us during the waits (≥ n) are out; those
     * in [n, limit) that are free must come back to the free list */
    bp->limit = UINT32_MAX;
    if (n > target) {
        /* stopped early: frames in [target, n) that a miss freed and did not reuse */
        for (uint32_t i = target; i < n; i++) {
            rm_bufpool_frame_t *f = frame_at(bp, i);
            if (atomic_load_explicit(&f->key, memory_order_relaxed) == KEY_NONE &&
                !rm__bp_earc_contains(bp->pol, i)) {
                int listed = 0;
                uint32_t k = atomic_load_explicit(&bp->nfree, memory_order_relaxed);
                for (uint32_t j = 0; j < k && !listed; j++)
                    listed = bp->freelist[j] == i;
                if (!listed)
                    free_push_locked(bp, i);
            }
        }
    }
    /* the data of the frames now out of service, [n, n_was), goes back in
     * ranges: one release per extent rather than one per frame (a shrink from
     * 1.85 M frames made 1.84 M madvise calls and took most of a second, long
     * enough for the pressure sampler to judge the old pool against a new limit) */
    release_range_locked(bp, n, n_was);
    fit_metadata_locked(bp, n);
    refresh_meta_bytes_locked(bp);
    return st;
}

/* ---- the sizing rule (bufpool.h) -------------------------------------------------------------- */

int
rm_bufpool_num_frames_valid(int64_t num_frames)
{
    return num_frames == 0 || (num_frames >= RM_BUFPOOL_FRAMES_MIN && num_frames <= RM_BUFPOOL_FRAMES_MAX);
}

rm_status_t
rm_bufpool_frames_for(int64_t num_frames, double auto_fraction, uint64_t bound_bytes, size_t page_size,
                      size_t *frames)
{
    if (!frames || !rm_bufpool_num_frames_valid(num_frames) || page_size == 0 ||
        !(auto_fraction > 0.0 && auto_fraction <= 1.0))
        return RM_EINVAL;
    if (num_frames > 0) {
        if (bound_bytes && (uint64_t)num_frames > bound_bytes / page_size)
            return RM_ELIMIT;
        *frames = (size_t)num_frames;
        return RM_OK;
    }
    double f = (double)bound_bytes * auto_fraction / (double)page_size;
    if (f < RM_BUFPOOL_FRAMES_AUTO_MIN)
        *frames = RM_BUFPOOL_FRAMES_AUTO_MIN;
    else
        *frames = f > RM_BUFPOOL_FRAMES_MAX ? RM_BUFPOOL_FRAMES_MAX : (size_t)f;
    return RM_OK;
}

rm_status_t
rm_bufpool_resize(rm_bufpool_t *bp, size_t num_frames)
{
    if (!bp || num_frames < RM_BUFPOOL_FRAMES_MIN || num_frames > RM_BUFPOOL_FRAMES_MAX)
        return RM_EINVAL;
    uint32_t target = (uint32_t)num_frames;
    rm_status_t st = RM_OK;
    pthread_mutex_lock(&bp->mu);
    uint32_t n = atomic_load_explicit(&bp->nframes, memory_order_relaxed);
    if (target > n) {
        /* descriptors, free list and (past mapped) data for the new frames */
        if ((st = map_frames_locked(bp, target)) != RM_OK)
            goto out;
        if ((st = ptab_ensure_locked(bp, target)) != RM_OK)
            goto out;
        st = rm__bp_earc_resize(bp->pol, bp->mapped, target);
        refresh_meta_bytes_locked(bp);
        if (st != RM_OK)
            goto out;
        for (uint32_t i = target; i-- > n;) {
            rm_bufpool_frame_t *f = frame_at(bp, i);
            atomic_store_explicit(&f->key, KEY_NONE, memory_order_relaxed);
            st_moved(bp, atomic_exchange_explicit(&f->state, ST_INVALID, memory_order_relaxed), ST_INVALID);
            free_push_locked(bp, i);
        }
        atomic_store_explicit(&bp->nframes, target, memory_order_release);
    } else if (target < n) {
        st = shrink_locked(bp, target);
    } else {
        fit_metadata_locked(bp, n);   /* what an earlier shrink could not give back */
    }
out:
    pthread_mutex_unlock(&bp->mu);
    reclaim_retired(bp);   /* what a grow or a shrink replaced, once readers are done */
    return st;
}

rm_status_t
rm_bufpool_set_eviction_boost(rm_bufpool_t *bp, unsigned pct)
{
    if (!bp || pct > 100)
        return RM_EINVAL;
    atomic_store_explicit(&bp->boost, pct, memory_order_relaxed);
    pthread_mutex_lock(&bp->wmu);
    pthread_cond_broadcast(&bp->wcv);
    pthread_mutex_unlock(&bp->wmu);
    return RM_OK;
}

rm_status_t
rm_bufpool_evict(rm_bufpool_t *bp, double fraction, uint64_t *evicted)
{
    if (evicted)
        *evicted = 0;
    if (!bp || !(fraction > 0.0) || fraction > 1.0)
        return RM_EINVAL;
    pthread_mutex_lock(&bp->mu);
    uint64_t want = (uint64_t)((double)used_frames(bp) * fraction + 0.5);
    rm_status_t st = evict_some_locked(bp, want, evicted, 1);
    pthread_mutex_unlock(&bp->mu);
    return st;
}

rm_status_t
rm_bufpool_discard(rm_bufpool_t *bp, uint32_t file_id, uint64_t page_no)
{
    if (!bp || page_no > RM_BUFPOOL_MAX_PAGE_NO ||
        file_id >= atomic_load_explicit(&bp->nfiles, memory_order_acquire))
        return RM_EINVAL;
    uint64_t key = mkkey(file_id, page_no);
    /* best effort and never waiting: the mutex can be held across a dirty
     * victim's write or a resize, and callers (the engine heap's free) must
     * not stall behind I/O for a page that will age out anyway */
    if (pthread_mutex_trylock(&bp->mu) != 0)
        return RM_EBUSY;
    /* under mu the table is exact: misses, evictions and loads insert and
     * remove while holding it */
    uint32_t idx = rm__bp_ptab_lookup(atomic_load_explicit(&bp->ptab, memory_order_relaxed), key,
                                      key_of, bp);
    rm_status_t st = RM_OK;
    if (idx != RM_BP_NIL) {
        /* the claim an eviction makes (no pin, latch, load or write-back in
         * flight); lock-free readers that find the frame afterwards fail
         * their pin on INVALID and take the slow path, which misses. No
         * ghost: the page was not wanted, so it is no evidence for ARC's p */
        if (!pol_try_claim(bp, idx)) {
            st = RM_EBUSY;
        } else {
            drop_frame_locked(bp, frame_at(bp, idx));
            cnt_add(&bp->discards, 1);
        }
    }
    pthread_mutex_unlock(&bp->mu);
    return st;
}

/* ---- stats ------------------------------------------------------------------------------------ */

rm_status_t
rm_bufpool_write_state(rm_bufpool_t *bp, rm_bufpool_write_state_t *out)
{
    if (!bp || !out)
        return RM_EINVAL;
    pthread_mutex_lock(&bp->err_mu);
    out->unwritable_pages = atomic_load_explicit(&bp->wfail_frames, memory_order_relaxed);
    out->failing = out->unwritable_pages > 0;
    out->since_ns = bp->wfail_since_ns;
    out->last_errno = bp->last_write_errno;
    out->write_errors = bp->write_errors;
    memcpy(out->last_error, bp->last_write_error, sizeof out->last_error);
    pthread_mutex_unlock(&bp->err_mu);
    return RM_OK;
}

int
rm_bufpool_writes_failing(const rm_bufpool_t *bp)
{
    return bp && atomic_load_explicit(&bp->wfail_frames, memory_order_relaxed) != 0;
}

const char *
rm_bufpool_dir(const rm_bufpool_t *bp)
{
    return bp ? bp->dir : "";
}

rm_bufpool_advice_t
rm_bufpool_advise(double hit_ratio, double utilization, uint64_t frames, uint64_t *recommended)
{
    rm_bufpool_advice_t a = RM_BUFPOOL_KEEP;
    uint64_t r = frames;
    if (hit_ratio < 0.85 && utilization > 0.90) {
        a = RM_BUFPOOL_GROW;
        r = frames + frames / 4;
    } else if (hit_ratio > 0.95) {
        a = RM_BUFPOOL_SHRINK;
        r = frames - frames / 4;
        if (r < RM_BUFPOOL_FRAMES_MIN)
            r = RM_BUFPOOL_FRAMES_MIN;
    }
    if (recommended)
        *recommended = r;
    return a;
}

rm_status_t
rm_bufpool_stats(rm_bufpool_t *bp, rm_bufpool_stats_t *out)
{
    if (!bp || !out)
        return RM_EINVAL;
    memset(out, 0, sizeof *out);
    for (int i = 0; i < STRIPES; i++) {
        out->hits += atomic_load_explicit(&bp->stripes[i].hits, memory_order_relaxed);
        out->misses += atomic_load_explicit(&bp->stripes[i].misses, memory_order_relaxed);
        out->prefetch_used += atomic_load_explicit(&bp->stripes[i].pf_used, memory_order_relaxed);
    }
    out->page_size = bp->page_size;
    out->reads = atomic_load_explicit(&bp->reads, memory_order_relaxed);
    out->discards = atomic_load_explicit(&bp->discards, memory_order_relaxed);
    out->writes = atomic_load_explicit(&bp->writes, memory_order_relaxed);
    out->evictions = atomic_load_explicit(&bp->evictions, memory_order_relaxed);
    out->prefetch_issued = atomic_load_explicit(&bp->pf_issued, memory_order_relaxed);
    out->prefetch_wasted = atomic_load_explicit(&bp->pf_wasted, memory_order_relaxed);
    out->checksum_failures = atomic_load_explicit(&bp->checksum_failures, memory_order_relaxed);
    out->flushes = atomic_load_explicit(&bp->flushes, memory_order_relaxed);
    out->torn_pages_repaired = bp->torn_repaired;
    out->eviction_boost_pct = atomic_load_explicit(&bp->boost, memory_order_relaxed);

    /* Dirty and pinned frames: the stripes' shares (st_moved), no walk over the
     * frames. A share may be negative (a frame dirtied on one thread's stripe
     * and cleaned on another's); a sum caught between two threads' updates is
     * clamped at 0. */
    int64_t dirty = 0, pinned = 0;
    for (int i = 0; i < STRIPES; i++) {
        dirty += atomic_load_explicit(&bp->stripes[i].dirty, memory_order_relaxed);
        pinned += atomic_load_explicit(&bp->stripes[i].pinned, memory_order_relaxed);
    }
    out->dirty = dirty > 0 ? (uint64_t)dirty : 0;
    out->pinned = (pinned > 0 ? (uint64_t)pinned : 0) + slot_only_pinned(bp);
    pthread_mutex_lock(&bp->mu);
    out->total_frames = atomic_load_explicit(&bp->nframes, memory_order_relaxed);
    out->used_frames = used_frames(bp);
    rm__bp_earc_stats_t es;
    rm__bp_earc_stats(bp->pol, &es);
    pthread_mutex_lock(&bp->err_mu);
    out->io_errors = bp->io_errors;
    memcpy(out->last_io_error, bp->last_io_error, sizeof out->last_io_error);
    out->write_errors = bp->write_errors;
    memcpy(out->last_write_error, bp->last_write_error, sizeof out->last_write_error);
    out->unwritable_pages = atomic_load_explicit(&bp->wfail_frames, memory_order_relaxed);
    out->writes_failing = out->unwritable_pages > 0;
    out->writes_failing_since_ns = bp->wfail_since_ns;
    pthread_mutex_unlock(&bp->err_mu);
    out->last_corrupt_file = bp->last_corrupt_file;
    out->last_corrupt_page = bp->last_corrupt_page;
    if (bp->last_corrupt_file >= 0)
        memcpy(out->last_corrupt_name, bp->files[bp->last_corrupt_file].name, RM_BUFPOOL_NAME_MAX);
    for (uint32_t i = 0; i < bp->nextents; i++)
        out->held_bytes += bp->extents[i].bytes;
    out->metadata_bytes = atomic_load_explicit(&bp->meta_bytes, memory_order_relaxed);
    out->held_bytes += out->metadata_bytes;
    pthread_mutex_unlock(&bp->mu);

    out->win_size = es.win;
    out->t1_size = es.t1 - es.t1_refs;   /* ARC's lists, see bufpool.h */
    out->t2_size = es.t2 + es.t1_refs;
    out->b1_size = es.b1;
    out->b2_size = es.b2;
    out->arc_p = es.p;
    out->b1_ghost_hits = es.b1_hits;
    out->b2_ghost_hits = es.b2_hits;
    out->admission_rejects = es.rejects;
    out->utilization = out->total_frames ? (double)out->used_frames / (double)out->total_frames : 0.0;
    uint64_t acc = out->hits + out->misses;
    out->hit_ratio = acc ? (double)out->hits / (double)acc : 0.0;
    out->advice = rm_bufpool_advise(out->hit_ratio, out->utilization, out->total_frames,
                                    &out->recommended_frames);
    return RM_OK;
}
