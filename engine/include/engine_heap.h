/*
 * engine_heap.h — the engine's value heap: out-of-record MVCC values kept in
 * buffer-pool pages, so engine data is pageable.
 *
 * A heap owns one page file of a buffer pool. Values of 1 to
 * rm_eheap_max_value() bytes are stored in slots of slab-like size classes
 * (each page holds slots of one size) and named by a 64-bit handle. The
 * allocation state (which slots are used) lives in memory only: the engine
 * keeps no data across restarts, so a new heap ignores what the file held
 * before. rm_eheap_free() therefore never touches a page and never does I/O.
 *
 * Handle encoding (uint64_t, never 0):
 *   bits  0..39  page number in the heap's file (< 2^32 in practice)
 *   bits 40..47  slot index within the page
 *   bits 48..63  tag: a non-zero 16-bit generation drawn at put, so a slot
 *                reused for a new value gets a different handle
 * Each stored value carries a 32-bit check word derived from its handle and
 * the heap's per-instance salt; get compares it (and the length) and fails
 * with RM_ECORRUPT instead of returning another value's bytes.
 *
 * The ctx-first functions (put/get/free) take the heap as `void *` so they
 * plug straight into the MVCC store's value-store operations.
 *
 * Thread-safety: put, get, free and stats may be called concurrently from any
 * threads; create and destroy may not run concurrently with other calls on
 * the same heap.
 */
#ifndef RUSTYMEM_ENGINE_HEAP_H
#define RUSTYMEM_ENGINE_HEAP_H

#include <stddef.h>
#include <stdint.h>

#include "rustymem/bufpool.h"
#include "rustymem/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct rm_eheap rm_eheap_t;

typedef struct rm_eheap_stats {
    uint64_t pages;          /* pages of the file in use (high-water) */
    uint64_t values;         /* live values */
    uint64_t value_bytes;    /* their bytes */
    uint64_t slot_bytes;     /* bytes of the slots they occupy (value_bytes + rounding) */
    uint64_t puts, frees;    /* totals */
    uint64_t read_errors;    /* gets that failed with RM_EIO / RM_ECORRUPT, total */
    uint64_t meta_bytes;     /* in-memory bookkeeping */
} rm_eheap_stats_t;

/*
 * Open `file_name` in the pool as a temporary file (rm_bufpool_open_temp_file:
 * truncated, written without double-write or fdatasync — the engine keeps no
 * data across restarts) and start an EMPTY heap over it.
 * `bp` is borrowed: it must outlive the heap. `file_name` is a plain file
 * name (see rm_bufpool_open_file); it is not kept. Only one live heap may use
 * a given file of a pool at a time.
 * Returns RM_OK and the heap in *out; RM_EINVAL for a NULL argument or a bad
 * name; RM_ELIMIT / RM_EIO from opening the file; RM_ENOMEM. On failure *out
 * is NULL and nothing is left allocated (the pool may keep the file open:
 * the pool has no call to close one).
 */
rm_status_t rm_eheap_create(rm_bufpool_t *bp, const char *file_name, rm_eheap_t **out);

/*
 * Free the heap's bookkeeping. NULL is a no-op. Does not destroy the pool, and
 * does not write: pages the heap dirtied are flushed by the pool as usual.
 * Every handle becomes invalid. No other call on `h` may be running.
 */
void rm_eheap_destroy(rm_eheap_t *h);

/*
 * Largest value (bytes) a put accepts: the slot of the whole-page class
 * minus the per-slot header, i.e. rm_bufpool_usable_bytes() − 24.
 * Constant for the heap's life. Thread-safe.
 */
size_t rm_eheap_max_value(const rm_eheap_t *h);

/*
 * Store a copy of val[0..vlen) and return its handle in *handle. `h` is an
 * rm_eheap_t *. Picks a slot of the smallest class that fits under the heap
 * mutex, then (without the mutex) pins the page exclusive and writes the
 * value. May do I/O (the pin may read or evict a page). Thread-safe.
 * Returns RM_OK; RM_EINVAL for NULL arguments, vlen == 0 or
 * vlen > rm_eheap_max_value(); RM_ENOMEM when the bookkeeping cannot grow;
 * RM_ELIMIT when the file would exceed 2^32 − 1 pages; RM_ENOSPC, without
 * touching a page, while the buffer pool cannot write its dirty pages
 * (rm_bufpool_writes_failing: the caller keeps the value elsewhere); or the
 * status of a failed pin (RM_EIO, RM_ECORRUPT, RM_EBUSY, RM_ENOMEM,
 * RM_ENOSPC). On failure *handle
 * is 0 and no value is stored (a page that a failed put added to the file
 * stays in the high-water, empty).
 */
rm_status_t rm_eheap_put(void *h, const void *val, size_t vlen, uint64_t *handle);

/*
 * Copy the value named by `handle` into buf[0..vlen); vlen must be the
 * length it was put with. `h` is an rm_eheap_t *. Takes no heap lock: pins
 * the page shared (may do I/O), checks the slot, copies, unpins.
 * Thread-safe; the handle must not be freed concurrently (if it is and the
 * slot is reused, the check word makes the read fail rather than return the
 * new value's bytes; a freed handle whose slot has not been reused yet may
 * still read its old bytes — free does no I/O, so nothing marks the slot).
 * Returns RM_OK; RM_EINVAL for NULL arguments, vlen == 0 or > max, a handle
 * whose page is beyond the heap's high-water or whose slot index is out of
 * range for its page; RM_ECORRUPT when the handle does not name a live value
 * of length vlen (freed and reused slot, wrong length, page never written by
 * this heap) or the page failed its checksum; RM_EIO on a read error;
 * RM_ENOSPC when no frame can be freed because the pool's dirty pages cannot
 * be written (rm_eheap_write_failure says why); RM_EBUSY / RM_ENOMEM from the
 * pin. RM_EIO and RM_ECORRUPT are counted in
 * read_errors. On failure buf's contents are unspecified.
 */
rm_status_t rm_eheap_get(void *h, uint64_t handle, void *buf, size_t vlen);

/*
 * Release the value named by `handle` (put with length vlen). `h` is an
 * rm_eheap_t *. Only updates in-memory bookkeeping under the heap mutex: never
 * pins a page, never does I/O, never fails — safe to call under the caller's
 * own locks. A handle that does not name a live value of length vlen (bad,
 * already freed, or its slot reused) is ignored and changes nothing.
 * Thread-safe.
 */
void rm_eheap_free(void *h, uint64_t handle, size_t vlen);

/*
 * When the buffer pool under the heap cannot write its dirty pages, the
 * sentence a client and an operator need: "the buffer pool cannot write its
 * dirty pages: No space left on device; committed data is kept in memory;
 * free space on DIR to recover" (DIR = the pool's directory; the errno text is
 * the last failed write's). Written to buf[0..cap) (truncated, NUL-ended) and
 * returned; NULL when writes are not failing (buf untouched). Cheap (the
 * pool's error lock only). Thread-safe.
 */
const char *rm_eheap_write_failure(rm_eheap_t *h, char *buf, size_t cap);

/* Fill *out with a snapshot of the counters (takes the heap mutex briefly).
 * `h` and `out` must not be NULL. Thread-safe. */
void rm_eheap_stats(rm_eheap_t *h, rm_eheap_stats_t *out);

#ifdef __cplusplus
}
#endif
#endif /* RUSTYMEM_ENGINE_HEAP_H */
