/*
 * bufpool.h — the buffer pool: page frames over page files.
 *
 * A pool owns `num_frames` frames of `page_size` bytes (a power of two, 4 KiB
 * to 64 KiB, fixed at create) caching pages of files in one directory. Callers
 * pin a page (shared or exclusive), read or modify it through the frame's data
 * pointer, and unpin it, saying whether they dirtied it. Dirty pages reach disk
 * through the background writer, rm_bufpool_checkpoint() and
 * rm_bufpool_destroy(); every write goes through a double-write file first so
 * that a crash never leaves a torn page (docs/adr/0004-buffer-pool-eviction.md).
 *
 * Every page on disk ends in a 16-byte trailer (page identity, magic, CRC32C).
 * The checksum is verified on every read: a bad page is never returned as
 * data — pin fails with RM_ECORRUPT, the failure is counted and the file and
 * page number are kept in the stats. Callers may use the first
 * rm_bufpool_usable_bytes() bytes of each page; the trailer belongs to the pool.
 *
 * A write-back that fails (disk full, quota, file size limit, I/O error)
 * loses nothing: the page stays dirty in its frame and is served from there,
 * the failure is counted with the system's reason, and the pool reports that
 * writes are failing (rm_bufpool_write_state) until every such page has been
 * written. Meanwhile a miss takes a clean victim — it passes over up to
 * RM_BUFPOOL_CLEAN_SEARCH unwritable dirty ones — so reads keep working while
 * clean frames exist; only when none can be freed does a pin fail, with
 * RM_ENOSPC when the writes fail for lack of space (RM_EIO otherwise).
 *
 * Eviction is Enhanced ARC (T1/T2/B1/B2 with the adaptive target p, in exact
 * LRU order: hits never take a lock, they are recorded in a lossy per-thread
 * ring that the next eviction applies, and a hit the ring dropped keeps a
 * clock's second chance; plus a frequency duel at the door
 * whose bias adapts from the misses it causes); pinned pages are never
 * evicted. Resident lookups take no lock. A sequential detector per file
 * reads ahead.
 *
 * Thread-safety: every function is thread-safe unless it says otherwise.
 *
 * Process-wide state (shared by all pools): a thread that calls into a pool
 * owns one of 56 counter stripes until it exits (so its hit path updates
 * them without locked instructions; a pthread key and a fork handler, made
 * once, give it back); further threads share the remaining stripes. An owner
 * holds up to 8 SHARED pins per pool in slots of its stripe, which its hits
 * write instead of the frame (docs/adr/0004 § 3j); a pin may still be
 * released by any thread. The first
 * rm_bufpool_create registers the process for membarrier(2) private
 * expedited barriers when the kernel allows it: a shrink's grace period then
 * interrupts the CPUs running this process's threads twice, and the
 * lock-free lookups need no locked instruction to enter.
 */
#ifndef RUSTYMEM_BUFPOOL_H
#define RUSTYMEM_BUFPOOL_H

#include <stddef.h>
#include <stdint.h>

#include "rustymem/pagesrc.h"
#include "rustymem/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define RM_BUFPOOL_PAGE_SIZE_MIN 4096u     /* bytes */
#define RM_BUFPOOL_PAGE_SIZE_MAX 65536u    /* bytes */
#define RM_BUFPOOL_PAGE_SIZE_DEFAULT 4096u /* bytes */
#define RM_BUFPOOL_FRAMES_MIN 8u           /* frames a pool has at least */
#define RM_BUFPOOL_FRAMES_MAX (64u << 20)  /* frames a pool can address (64 Mi) */
#define RM_BUFPOOL_TRAILER_BYTES 16u       /* bytes at the end of each page owned by the pool */
#define RM_BUFPOOL_MAX_FILES 256u          /* page files open at once per pool */
#define RM_BUFPOOL_NAME_MAX 64u            /* bytes of a page file name, including NUL */
#define RM_BUFPOOL_ERROR_MAX 160u          /* bytes of rm_bufpool_stats_t.last_io_error, including NUL */
#define RM_BUFPOOL_MAX_PAGE_NO ((1ull << 40) - 1) /* highest page number in a file */
#define RM_BUFPOOL_CLEAN_SEARCH 64u        /* victims a miss looks at for a clean one while writes fail */

/* Eviction-rate boost levels the pressure responder uses (percent). */
#define RM_BUFPOOL_BOOST_NONE       0u
#define RM_BUFPOOL_BOOST_GENTLE     20u
#define RM_BUFPOOL_BOOST_AGGRESSIVE 50u
#define RM_BUFPOOL_BOOST_MAX        100u

typedef struct rm_bufpool rm_bufpool_t;
typedef struct rm_bufpool_frame rm_bufpool_frame_t;   /* a pinned page; opaque */

typedef enum rm_bufpool_mode {
    RM_BUFPOOL_SHARED = 0,     /* readers; many at once */
    RM_BUFPOOL_EXCLUSIVE = 1,  /* one writer, no readers */
} rm_bufpool_mode_t;

typedef struct rm_bufpool_config {
    const char *dir;            /* directory of the page files; created if missing; copied */
    size_t num_frames;          /* frames; RM_BUFPOOL_FRAMES_MIN..RM_BUFPOOL_FRAMES_MAX */
    size_t page_size;           /* bytes; power of two in [4 KiB, 64 KiB]; 0 = 4096 */
    unsigned writer_interval_ms;/* background writer period in ms; 0 = 100 */
    int durable;                /* 1 = fdatasync the double-write file and the page files on
                                   every flush (default); 0 skips syncs (benchmarks, tmpfs) */
    int start_writer;           /* 1 = start the background writer in create (default 1) */
    const rm_pagesrc_t *pagesrc;/* where frames and metadata come from; NULL = default */
} rm_bufpool_config_t;

/* Fill *c with defaults: dir NULL (must be set), 1024 frames, 4096-byte pages,
 * 100 ms writer period, durable, writer started, default page source. */
void rm_bufpool_config_default(rm_bufpool_config_t *c);

/*
 * Create a pool. Recovers the directory's double-write file first (a torn page
 * left by a crash is restored from it). Registers with the accounting registry
 * as "buffer_pool" and starts the writer thread when cfg->start_writer.
 * Returns RM_OK and the pool in *out; RM_EINVAL for a bad config; RM_ENOMEM if
 * memory could not be had; RM_EIO if the directory or double-write file cannot
 * be used. On failure nothing is left behind (no thread, no registration).
 */
rm_status_t rm_bufpool_create(const rm_bufpool_config_t *cfg, rm_bufpool_t **out);

/*
 * Stop the writer, flush every dirty page, close the files, free everything.
 * No page may be pinned. NULL is a no-op returning RM_OK. Returns the status of
 * the final flush (RM_EIO, or RM_ENOSPC for lack of space, if a page could not
 * be written: it is then lost, so call rm_bufpool_checkpoint() first if you
 * need to react). Not thread-safe
 * against other calls on the same pool.
 */
rm_status_t rm_bufpool_destroy(rm_bufpool_t *bp);

/*
 * Open (creating if missing) the page file `name` in the pool's directory and
 * return its id in *file_id. `name` is a plain file name (no '/', shorter than
 * RM_BUFPOOL_NAME_MAX). Opening an already open name returns the same id.
 * RM_EINVAL for a bad name, RM_ELIMIT when RM_BUFPOOL_MAX_FILES are open,
 * RM_EIO when the file cannot be opened.
 */
rm_status_t rm_bufpool_open_file(rm_bufpool_t *bp, const char *name, uint32_t *file_id);

/*
 * As rm_bufpool_open_file, for a scratch file whose contents need not survive
 * the process (PostgreSQL's temporary files): it is truncated when first
 * opened in this pool, and its pages are written in place without the
 * double-write copy and without fdatasync — still checksummed, still read
 * back through the pool. RM_EINVAL also when `name` is already open as a
 * durable file (and rm_bufpool_open_file answers RM_EINVAL for a name open as
 * a temporary one). Thread-safe.
 */
rm_status_t rm_bufpool_open_temp_file(rm_bufpool_t *bp, const char *name, uint32_t *file_id);

/* Pages in the file as far as the pool knows (on disk or dirty in the pool). */
rm_status_t rm_bufpool_file_pages(rm_bufpool_t *bp, uint32_t file_id, uint64_t *pages);

/*
 * Pin page `page_no` of `file_id` and return its frame in *out. A page beyond
 * the end of the file (or never written) reads as zeros and becomes part of
 * the file when flushed dirty; past the end no read is issued (nor counted in
 * `reads`). A partial last page counts as on disk: it is read and checked.
 * SHARED pins may coexist; EXCLUSIVE waits until it is the only pin
 * (spinning/yielding: latches are meant to be short).
 * A resident page is found without taking a lock.
 * Returns RM_OK; RM_EINVAL for a bad file id or page number; RM_ECORRUPT if the
 * page on disk fails its checksum (counted, file and page recorded in stats;
 * nothing is pinned); RM_EIO on a read error; RM_EBUSY when every frame is
 * pinned; when no frame can be freed because dirty pages cannot be written
 * (and none of RM_BUFPOOL_CLEAN_SEARCH victims looked at is clean): RM_ENOSPC
 * when the write failed for lack of space (ENOSPC, EDQUOT, EFBIG), RM_EIO for
 * another write error — the dirty pages stay in their frames, nothing is lost.
 * On failure *out is NULL and nothing is pinned.
 */
rm_status_t rm_bufpool_pin(rm_bufpool_t *bp, uint32_t file_id, uint64_t page_no,
                           rm_bufpool_mode_t mode, rm_bufpool_frame_t **out);

/* Release a pin. `dirty` (only honoured for EXCLUSIVE pins) marks the page for
 * writing. `f` must come from rm_bufpool_pin with this mode. Never fails. */
void rm_bufpool_unpin(rm_bufpool_t *bp, rm_bufpool_frame_t *f, rm_bufpool_mode_t mode, int dirty);

/* The page bytes of a pinned frame (rm_bufpool_usable_bytes() of them may be
 * used). Valid until unpin. Writes are only allowed under an EXCLUSIVE pin. */
void *rm_bufpool_frame_data(const rm_bufpool_frame_t *f);

/* page_size − RM_BUFPOOL_TRAILER_BYTES. */
size_t rm_bufpool_usable_bytes(const rm_bufpool_t *bp);
size_t rm_bufpool_page_size(const rm_bufpool_t *bp);

/*
 * Write every page that is dirty when the call starts (double-write, then in
 * place, then fdatasync when durable). On return those pages are on disk.
 * RM_ENOSPC if a write failed for lack of space (ENOSPC, EDQUOT, EFBIG), RM_EIO
 * for another write error: the failed pages stay dirty (and are counted in
 * rm_bufpool_write_state); the others are written.
 */
rm_status_t rm_bufpool_checkpoint(rm_bufpool_t *bp);

/* Start / stop the background writer thread (memcore's only thread: it
 * writes dirty pages in double-write batches every writer_interval_ms and
 * keeps the boost reserve). Start returns RM_OK (also if it already runs) or
 * RM_ENOMEM if the thread cannot be created (nothing changed). Stop waits for
 * the thread to exit; no-op if not running. */
rm_status_t rm_bufpool_writer_start(rm_bufpool_t *bp);
void rm_bufpool_writer_stop(rm_bufpool_t *bp);

/*
 * The sizing rule: what a pool size setting (the buffer_pool.num_frames knob)
 * means and what bounds it. Pure functions of their arguments; thread-safe.
 *
 *   num_frames > 0   exactly that many frames. Legal when it is in
 *                    [RM_BUFPOOL_FRAMES_MIN, RM_BUFPOOL_FRAMES_MAX] and, when
 *                    bound_bytes is known (≠ 0), num_frames × page_size ≤
 *                    bound_bytes.
 *   num_frames = 0   auto: auto_fraction × bound_bytes / page_size frames,
 *                    at least RM_BUFPOOL_FRAMES_AUTO_MIN (also when
 *                    bound_bytes is 0, unknown), at most RM_BUFPOOL_FRAMES_MAX.
 *                    An auto pool follows bound_bytes: call again when it
 *                    changes and resize to the answer.
 *
 * bound_bytes is the memory a pool may take — the effective budget: the
 * configured budget, but never more than the cgroup limit or MemTotal (the
 * caller reads those; rm_sysinfo_effective_budget). page_size in bytes.
 *
 * rm_bufpool_frames_for: RM_OK with *frames set; RM_EINVAL if num_frames is
 * negative or in (0, RM_BUFPOOL_FRAMES_MIN) or above RM_BUFPOOL_FRAMES_MAX,
 * page_size is 0, auto_fraction is not in (0, 1], or frames is NULL;
 * RM_ELIMIT if an explicit num_frames × page_size exceeds a known
 * bound_bytes. *frames is unchanged on failure.
 * rm_bufpool_num_frames_valid: 1 if num_frames is legal by itself (0, or in
 * [RM_BUFPOOL_FRAMES_MIN, RM_BUFPOOL_FRAMES_MAX]) — the check a registry can
 * make without knowing the bound.
 */
#define RM_BUFPOOL_FRAMES_AUTO_MIN 64u     /* frames an auto-sized pool has at least */
rm_status_t rm_bufpool_frames_for(int64_t num_frames, double auto_fraction, uint64_t bound_bytes,
                                  size_t page_size, size_t *frames);
int rm_bufpool_num_frames_valid(int64_t num_frames);

/*
 * Live resize to `num_frames` (RM_BUFPOOL_FRAMES_MIN..RM_BUFPOOL_FRAMES_MAX,
 * else RM_EINVAL and nothing changes). Grow maps new frames (RM_ENOMEM: size
 * unchanged). Shrink first evicts — writing dirty pages, never losing one —
 * the frames above the new size; a frame that stays pinned for more than
 * about 2 s stops the shrink at that frame with RM_EBUSY (the pool is then as
 * large as needed to keep it; *nothing* is lost). RM_EIO (RM_ENOSPC for lack of
 * space) if a dirty page could not be written (the pool keeps that frame and
 * its page). A shrink also gives back the metadata sized for the larger pool
 * (page table, frame descriptors, free list, policy arrays; stats
 * metadata_bytes): what concurrent lock-free lookups may still hold is freed
 * once they are done, before the call returns. Without memory for a smaller
 * piece the larger one stays (the shrink still succeeds); a resize to the
 * current size tries again. Thread-safe. Freeing waits only for lookups in
 * flight (microseconds), never for another thread's I/O or latch.
 */
rm_status_t rm_bufpool_resize(rm_bufpool_t *bp, size_t num_frames);

/*
 * Eviction-rate boost in percent (RM_BUFPOOL_BOOST_*: 0, 20, 50, 100 = max;
 * any value in [0,100] is accepted). At 0 frames are evicted on demand only.
 * Above 0 the writer keeps a reserve of free frames of 1 % × (1 + pct/100) of
 * the pool (1.2 % at +20 %, 1.5 % at +50 %) and 10 % at max, evicting the
 * coldest pages (writing dirty ones) ahead of demand. Takes effect at the
 * writer's next tick (woken at once). RM_EINVAL above 100 (boost unchanged).
 */
rm_status_t rm_bufpool_set_eviction_boost(rm_bufpool_t *bp, unsigned pct);

/*
 * Emergency eviction (EvictBufferPool): evict `fraction` (0..1] of the resident
 * unpinned pages now, coldest first per the policy, writing dirty ones first,
 * and give their memory back to the OS. *evicted (may be NULL) gets the count.
 * RM_EINVAL for a fraction outside (0, 1]; RM_EIO (RM_ENOSPC for lack of space)
 * if a dirty page could not be written: it stays resident, and the call goes on
 * with clean pages only (up to RM_BUFPOOL_CLEAN_SEARCH passed over per page).
 */
rm_status_t rm_bufpool_evict(rm_bufpool_t *bp, double fraction, uint64_t *evicted);

/*
 * The page's contents are garbage to the caller (PostgreSQL's
 * DropRelFileBuffers for one page; the engine heap calls it when its last
 * value on a page is freed): drop it from the pool without writing it back and
 * give its frame to the next miss. The copy in the file, if any, is left as
 * it is, so a later pin of the page reads that older copy (or zeros past the
 * end of the file) — use it only for pages whose old contents nobody needs.
 * RM_OK when the page was dropped or was not resident; RM_EBUSY when it is
 * pinned, latched, loading or being written, or when the pool mutex is held
 * (nothing changes; the page just ages out as usual); RM_EINVAL for a bad
 * file id or page number. Counted in stats `discards`. Never blocks and does
 * no I/O: it only tries the pool mutex. Thread-safe.
 */
rm_status_t rm_bufpool_discard(rm_bufpool_t *bp, uint32_t file_id, uint64_t page_no);

/* Sizing recommendation per the seed (hit ratio < 85 % and utilisation > 90 %:
 * grow 25 %; hit ratio > 95 %: shrink 25 %). */
typedef enum rm_bufpool_advice {
    RM_BUFPOOL_KEEP = 0,
    RM_BUFPOOL_GROW = 1,
    RM_BUFPOOL_SHRINK = 2,
} rm_bufpool_advice_t;

typedef struct rm_bufpool_stats {
    uint64_t page_size;          /* bytes */
    uint64_t total_frames;       /* frames */
    uint64_t used_frames;        /* frames holding a page */
    double utilization;          /* used_frames / total_frames */
    double hit_ratio;            /* hits / (hits + misses); 0 before any access */
    uint64_t hits, misses;       /* pins found resident / not */
    uint64_t reads, writes;      /* pages read from / written to page files (writes: in place) */
    uint64_t evictions;          /* pages evicted */
    uint64_t discards;           /* pages dropped unwritten by rm_bufpool_discard */
    uint64_t dirty;              /* frames dirty now */
    uint64_t pinned;             /* frames pinned now */
    uint64_t win_size;           /* pages in the admission window (not yet in T1/T2) */
    uint64_t t1_size, t2_size;   /* ARC's T1 (pages seen once since they came in) and T2 (seen
                                  * twice or more), in pages. A hit not yet applied (or dropped
                                  * by the hit ring) moves a T1 page to T2 only at the next
                                  * eviction or hand pass; such pages are counted in t2_size
                                  * already, as ARC would have them */
    uint64_t b1_size, b2_size;   /* ghost lists: pages evicted from T1 / T2 (keys only) */
    uint64_t b1_ghost_hits, b2_ghost_hits;
    uint64_t arc_p;              /* ARC target size of T1, pages */
    uint64_t admission_rejects;  /* window candidates that lost the frequency test */
    uint64_t prefetch_issued, prefetch_used, prefetch_wasted; /* pages */
    uint64_t checksum_failures;  /* pages that failed CRC32C on read */
    int32_t last_corrupt_file;   /* file id of the last bad page, -1 if none */
    uint64_t last_corrupt_page;  /* its page number */
    char last_corrupt_name[RM_BUFPOOL_NAME_MAX]; /* its file name, "" if none */
    uint64_t io_errors;          /* reads, writes and syncs of page files that failed, total */
    char last_io_error[RM_BUFPOOL_ERROR_MAX]; /* the last one, e.g. "read engine.heap page 12:
                                               * Input/output error"; "" if none */
    uint64_t write_errors;       /* writes and syncs of page files that failed, total (also in io_errors) */
    char last_write_error[RM_BUFPOOL_ERROR_MAX]; /* the last one, e.g. "write engine.heap page 40:
                                                  * No space left on device"; "" if none */
    int writes_failing;          /* 1 while some dirty page's last write-back failed */
    uint64_t writes_failing_since_ns; /* CLOCK_REALTIME ns when that began; 0 when not failing */
    uint64_t unwritable_pages;   /* dirty pages whose last write-back failed (kept in memory) */
    uint64_t torn_pages_repaired;/* pages restored from the double-write file at create */
    uint64_t flushes;            /* double-write batches written */
    unsigned eviction_boost_pct; /* current boost */
    rm_bufpool_advice_t advice;  /* sizing recommendation */
    uint64_t recommended_frames; /* num_frames after following the advice */
    uint64_t held_bytes;         /* frames + metadata mapped, bytes */
    uint64_t metadata_bytes;     /* of held_bytes, the metadata: policy lists, ghost directory and
                                  * sketch, frame descriptors, free list, page tables (replaced
                                  * ones until their grace period ends). Follows the pool's size:
                                  * a shrink gives back what was sized for the larger pool. Bytes */
} rm_bufpool_stats_t;

/* Fill *out. Counters are summed from per-thread stripes: a consistent-enough
 * snapshot, never blocking a pin. dirty and pinned are counters kept where a
 * frame's state changes (O(1) here, exact once the pool is quiet); takes the
 * pool mutex briefly for list sizes. */
rm_status_t rm_bufpool_stats(rm_bufpool_t *bp, rm_bufpool_stats_t *out);

/*
 * Whether dirty pages can be written, cheaply (no frame walk; takes the pool's
 * error lock only): the agent polls it to report health and raise an alert.
 * `failing` is 1 from the first failed write-back of a page until every page
 * whose write failed has been written (by the writer, a checkpoint or an
 * eviction) or discarded — so it clears on its own when space returns.
 * Thread-safe. Returns RM_OK, RM_EINVAL for NULL arguments.
 */
typedef struct rm_bufpool_write_state {
    int failing;                 /* 1 while some dirty page's last write-back failed */
    int last_errno;              /* errno of the last failed write or sync; 0 if none ever */
    uint64_t since_ns;           /* CLOCK_REALTIME ns when failing began; 0 when not failing */
    uint64_t unwritable_pages;   /* dirty pages whose last write-back failed */
    uint64_t write_errors;       /* failed writes and syncs, total */
    char last_error[RM_BUFPOOL_ERROR_MAX]; /* as rm_bufpool_stats_t.last_write_error */
} rm_bufpool_write_state_t;

rm_status_t rm_bufpool_write_state(rm_bufpool_t *bp, rm_bufpool_write_state_t *out);

/* rm_bufpool_write_state's `failing` without a lock (one atomic load): for
 * callers that check it on every write. 0 for NULL. Thread-safe. */
int rm_bufpool_writes_failing(const rm_bufpool_t *bp);

/* The pool's directory (as given at create). Valid until destroy. */
const char *rm_bufpool_dir(const rm_bufpool_t *bp);

/* The seed's rule as a pure function (exposed for tests and the CLI). */
rm_bufpool_advice_t rm_bufpool_advise(double hit_ratio, double utilization, uint64_t frames,
                                      uint64_t *recommended_frames);

/* ---- policy trace simulator --------------------------------------------------
 * Replays a trace of page keys through one replacement policy with a cache of
 * `frames` pages and returns hits. RM_BUFPOOL_POLICY_RUSTYMEM runs the exact
 * policy code the pool uses (Enhanced ARC with its admission window, its hits
 * through one ring of the pool's lossy hit buffer). OPT is Belady's MIN (needs the whole trace; it is the upper bound).
 * W-TinyLFU, S3-FIFO and LIRS are the modern policies it is measured against
 * (docs/adr/0004-buffer-pool-eviction.md says how each is built).
 */
typedef enum rm_bufpool_policy {
    RM_BUFPOOL_POLICY_RUSTYMEM = 0,
    RM_BUFPOOL_POLICY_ARC = 1,      /* classic ARC, Megiddo & Modha 2003 */
    RM_BUFPOOL_POLICY_LRU = 2,
    RM_BUFPOOL_POLICY_CLOCK = 3,    /* PostgreSQL clock sweep, usage count ≤ 5 */
    RM_BUFPOOL_POLICY_OPT = 4,
    RM_BUFPOOL_POLICY_WTINYLFU = 5, /* Caffeine's W-TinyLFU with its hill-climbing window */
    RM_BUFPOOL_POLICY_S3FIFO = 6,   /* Yang et al., SOSP'23 */
    RM_BUFPOOL_POLICY_LIRS = 7,     /* Jiang & Zhang, SIGMETRICS'02 */
    RM_BUFPOOL_POLICY_COUNT = 8,
} rm_bufpool_policy_t;

/* "rustymem", "arc", "lru", "clock", "opt", "wtinylfu", "s3fifo", "lirs";
 * "?" when unknown. Static. */
const char *rm_bufpool_policy_name(rm_bufpool_policy_t p);

/*
 * Simulate: *hits receives the number of hits of `n` accesses. `src` NULL =
 * default page source for the simulator's memory. Returns RM_OK, RM_EINVAL
 * (frames < 2, NULL trace with n > 0, bad policy), RM_ENOMEM (nothing leaked).
 * Thread-safe (no shared state).
 */
rm_status_t rm_bufpool_simulate(rm_bufpool_policy_t policy, const uint64_t *trace, size_t n,
                                size_t frames, const rm_pagesrc_t *src, uint64_t *hits);

#ifdef __cplusplus
}
#endif
#endif /* RUSTYMEM_BUFPOOL_H */
