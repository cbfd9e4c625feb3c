/*
 * engine_heap.c — the engine's value heap: MVCC out-of-record values in
 * buffer-pool pages (slab-like size classes, in-memory allocation state).
 *
 * Design note.
 *
 * Page layout (U = rm_bufpool_usable_bytes(); the pool's trailer follows):
 *
 *   0        16                16+S              16+2S
 *   +--------+-----------------+-----------------+-- ... --+--------+
 *   | header | slot 0          | slot 1          |         | unused |
 *   +--------+-----------------+-----------------+-- ... --+--------+
 *   header = { u32 magic "RMEH", u32 slot size S, u64 heap salt }
 *   slot   = { u32 vlen, u32 check word, vlen value bytes, rounding }
 *
 * Each page holds slots of one size. Classes: sizes from 256 B growing by an
 * eighth while at least two slots fit in a page, each widened to the largest
 * 8-byte multiple with the same slots per page (no class wastes room for a
 * slot), then one whole-page class whose slot is U − 16. A value goes to the
 * smallest class with vlen + 8 ≤ S, wasting less than about an eighth.
 *
 * Allocation state lives only in memory, in three arrays indexed by page
 * number: eh_page_t (class, used count, list links), a slot bitmap, and a
 * slot record per slot ((tag << 16) | vlen of the live value, 0 when free;
 * vlen ≤ 65496 fits 16 bits since pages are at most 64 KiB). A page is in
 * exactly one place: its class's partial list (some slots free), no list
 * (full), or the free-page list (empty, may be reformatted for any class).
 * A page that becomes empty is dropped from the buffer pool unwritten
 * (rm_bufpool_discard): its bytes are garbage, and writing them back would
 * only cost I/O and a frame.
 * New pages come from the free-page list, else the file grows by one page
 * (the high-water mark, `npages`). Nothing is read from the file at create,
 * so a heap over a file with old contents starts empty; old bytes are
 * overwritten as slots are written, and the per-heap random salt in the page
 * header and in every check word keeps them from being taken for live values.
 *
 * The check word is a 32-bit hash of (handle ^ salt). The handle carries a
 * 16-bit tag drawn at put, so a slot reused for a new value gets a new handle
 * and the old handle's check word no longer matches: a get of a freed and
 * reused slot fails with RM_ECORRUPT (1 in 65535 reuses of the same slot with
 * the same length could repeat the tag). Free compares the handle's tag and
 * vlen with the in-memory slot record, so a bad, dead or reused handle frees
 * nothing.
 *
 * Disk full. While the buffer pool cannot write its dirty pages (a full
 * disk), put refuses with RM_ENOSPC before touching a page: the MVCC store
 * then keeps the value in memory, and the pool's clean frames stay free to
 * read older values back from the file. Gets go on as usual.
 *
 * Locking. `mu` guards the allocation state and the counters; it is never
 * held across a pin (a pin may do I/O). put reserves a slot under `mu`, then
 * pins the page EXCLUSIVE, writes and unpins dirty; a failed pin gives the
 * slot back under `mu`. free touches only memory, under `mu`. get takes no
 * heap lock: it reads the immutable configuration, the atomic high-water
 * mark, and the page under a SHARED pin, which excludes a concurrent put to
 * the same page — so a get either copies a whole old value or sees the new
 * slot header, never a torn mix. The discard of an emptied page is made
 * under `mu` (mu → pool mutex, only tried: discard never waits; the pool
 * never calls back), so it cannot drop a page a later put has reserved.
 * read_errors is an atomic counter touched only on failures.
 */
#include "engine_heap.h"
#include "rustymem/mix.h"

#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#ifdef RM_DEBUG
#define EH_DEBUG 1
#else
#define EH_DEBUG 0
#endif

#define EH_PAGE_MAGIC   0x48454d52u   /* "RMEH" little-endian */
#define EH_PAGE_HDR     16u           /* bytes of the page header */
#define EH_SLOT_HDR     8u            /* bytes of the slot header */
#define EH_MIN_SLOT     256u          /* bytes; smallest class */
#define EH_MAX_CLASSES  64u           /* 256 B … 64 KiB in steps of at least 1/8 */
#define EH_NONE         UINT32_MAX    /* list end */
#define EH_CLS_FREE     0xFFu         /* eh_page_t.cls of a page on the free-page list */
#define EH_MAX_PAGES    ((uint64_t)UINT32_MAX - 1) /* page numbers fit the uint32 links */
#define EH_PAGE_BITS    40
#define EH_PAGE_MASK    ((1ull << EH_PAGE_BITS) - 1)
#define EH_SLOT_SHIFT   40
#define EH_TAG_SHIFT    48

typedef struct eh_page_hdr {
    uint32_t magic;
    uint32_t slot_size;   /* bytes */
    uint64_t salt;
} eh_page_hdr_t;

typedef struct eh_slot_hdr {
    uint32_t vlen;        /* bytes */
    uint32_t check;
} eh_slot_hdr_t;

_Static_assert(sizeof(eh_page_hdr_t) == EH_PAGE_HDR, "page header size");
_Static_assert(sizeof(eh_slot_hdr_t) == EH_SLOT_HDR, "slot header size");

typedef struct eh_page {
    uint32_t next, prev;  /* partial list of its class, or free-page list (next only); EH_NONE */
    uint16_t nused;       /* slots in use */
    uint8_t cls;          /* class index, or EH_CLS_FREE */
    uint8_t listed;       /* 1 while on its class's partial list */
} eh_page_t;

typedef struct eh_class {
    uint32_t slot_size;   /* bytes, slot header included */
    uint32_t nslots;      /* slots per page */
    uint32_t partial;     /* head of the list of pages with a free slot; guarded by mu */
} eh_class_t;

struct rm_eheap {
    /* Immutable after create (read by get without a lock). */
    rm_bufpool_t *bp;
    uint32_t file_id;
    uint64_t salt;
    size_t max_value;        /* bytes */
    unsigned nclasses;
    uint32_t max_slots;      /* slots per page of class 0 (the most of any class) */
    uint32_t bm_words;       /* uint64_t bitmap words per page */

    pthread_mutex_t mu;
    eh_class_t cls[EH_MAX_CLASSES]; /* partial heads guarded by mu */
    eh_page_t *pages;        /* [pages_cap]; guarded by mu */
    uint64_t *bitmaps;       /* [bm_cap * bm_words], bit set = slot used; guarded by mu */
    uint32_t *slots;         /* [slots_cap * max_slots] slot records; guarded by mu */
    uint64_t pages_cap, bm_cap, slots_cap; /* pages each array can describe; guarded by mu */
    _Atomic uint64_t npages; /* high-water, pages; written under mu, read by get without it */
    uint32_t free_head;      /* free-page list; guarded by mu */
    uint16_t next_tag;       /* guarded by mu */

    uint64_t values, value_bytes, slot_bytes, puts, frees; /* guarded by mu */
    _Atomic uint64_t read_errors;
};

static inline void
assert_locked(rm_eheap_t *h)
{
    if (EH_DEBUG)
        assert(pthread_mutex_trylock(&h->mu) == EBUSY);
}

static inline uint32_t
check_word(const rm_eheap_t *h, uint64_t handle)
{
    uint64_t x = rm_mix64(handle ^ h->salt);
    return (uint32_t)(x >> 32) ^ (uint32_t)x;
}

static uint64_t
new_salt(const void *addr)
{
    static _Atomic uint64_t seq;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    uint64_t x = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
    x ^= (uint64_t)getpid() << 32;
    x ^= rm_mix64((uint64_t)(uintptr_t)addr);
    x += atomic_fetch_add_explicit(&seq, 1, memory_order_relaxed) * 0x9E3779B97F4A7C15ull;
    return rm_mix64(x);
}

static inline uint64_t
encode_handle(uint64_t page, uint32_t slot, uint16_t tag)
{
    return page | ((uint64_t)slot << EH_SLOT_SHIFT) | ((uint64_t)tag << EH_TAG_SHIFT);
}

static inline void
decode_handle(uint64_t handle, uint64_t *page, uint32_t *slot, uint16_t *tag)
{
    *page = handle & EH_PAGE_MASK;
    *slot = (uint32_t)((handle >> EH_SLOT_SHIFT) & 0xFF);
    *tag = (uint16_t)(handle >> EH_TAG_SHIFT);
}

/* Class index for a value of vlen bytes (1 ≤ vlen ≤ max_value). */
static unsigned
class_for(const rm_eheap_t *h, size_t vlen)
{
    size_t need = vlen + EH_SLOT_HDR;
    unsigned c = 0;
    while (h->cls[c].slot_size < need)
        c++;
    return c;
}

/* Class index of a slot size read from a page; h->nclasses if none. */
static unsigned
class_of_size(const rm_eheap_t *h, uint32_t slot_size)
{
    unsigned c = 0;
    while (c < h->nclasses && h->cls[c].slot_size != slot_size)
        c++;
    return c;
}

static inline uint32_t *
slot_rec_locked(rm_eheap_t *h, uint64_t page, uint32_t slot)
{
    assert_locked(h);
    return &h->slots[page * h->max_slots + slot];
}

static inline uint64_t *
bitmap_locked(rm_eheap_t *h, uint64_t page)
{
    assert_locked(h);
    return &h->bitmaps[page * h->bm_words];
}

static void
partial_push_locked(rm_eheap_t *h, uint32_t p)
{
    assert_locked(h);
    eh_page_t *pg = &h->pages[p];
    eh_class_t *c = &h->cls[pg->cls];
    assert(!pg->listed);
    pg->prev = EH_NONE;
    pg->next = c->partial;
    if (c->partial != EH_NONE)
        h->pages[c->partial].prev = p;
    c->partial = p;
    pg->listed = 1;
}

static void
partial_unlink_locked(rm_eheap_t *h, uint32_t p)
{
    assert_locked(h);
    eh_page_t *pg = &h->pages[p];
    assert(pg->listed);
    if (pg->prev != EH_NONE)
        h->pages[pg->prev].next = pg->next;
    else
        h->cls[pg->cls].partial = pg->next;
    if (pg->next != EH_NONE)
        h->pages[pg->next].prev = pg->prev;
    pg->next = pg->prev = EH_NONE;
    pg->listed = 0;
}

/* Grow one metadata array to new_cap pages (element `elem` bytes per page).
 * On failure the array is unchanged. */
static rm_status_t
grow_array(void **arr, uint64_t *cap, uint64_t new_cap, size_t elem)
{
    if (*cap >= new_cap)
        return RM_OK;
    void *n = realloc(*arr, (size_t)new_cap * elem);
    if (!n)
        return RM_ENOMEM;
    memset((char *)n + (size_t)*cap * elem, 0, (size_t)(new_cap - *cap) * elem);
    *arr = n;
    *cap = new_cap;
    return RM_OK;
}

/* Make room to describe page number npages. RM_ENOMEM leaves every array
 * valid (some may have grown; the usable capacity is their minimum). */
static rm_status_t
grow_locked(rm_eheap_t *h)
{
    assert_locked(h);
    uint64_t cap = h->pages_cap;
    if (h->bm_cap < cap)
        cap = h->bm_cap;
    if (h->slots_cap < cap)
        cap = h->slots_cap;
    uint64_t new_cap = cap ? cap * 2 : 64;
    if (new_cap > EH_MAX_PAGES)
        new_cap = EH_MAX_PAGES;
    rm_status_t st = grow_array((void **)&h->pages, &h->pages_cap, new_cap, sizeof(eh_page_t));
    if (st == RM_OK)
        st = grow_array((void **)&h->bitmaps, &h->bm_cap, new_cap, h->bm_words * sizeof(uint64_t));
    if (st == RM_OK)
        st = grow_array((void **)&h->slots, &h->slots_cap, new_cap, h->max_slots * sizeof(uint32_t));
    return st;
}

/* A page for class c: the free-page list's head, else a new page at the
 * high-water mark. It is put on c's partial list. */
static rm_status_t
take_page_locked(rm_eheap_t *h, unsigned c, uint32_t *out)
{
    assert_locked(h);
    uint32_t p;
    if (h->free_head != EH_NONE) {
        p = h->free_head;
        h->free_head = h->pages[p].next;
    } else {
        uint64_t n = atomic_load_explicit(&h->npages, memory_order_relaxed);
        if (n >= EH_MAX_PAGES)
            return RM_ELIMIT;
        if (n >= h->pages_cap || n >= h->bm_cap || n >= h->slots_cap) {
            rm_status_t st = grow_locked(h);
            if (st != RM_OK)
                return st;
        }
        p = (uint32_t)n;
        memset(bitmap_locked(h, p), 0, h->bm_words * sizeof(uint64_t));
        memset(slot_rec_locked(h, p, 0), 0, h->max_slots * sizeof(uint32_t));
        atomic_store_explicit(&h->npages, n + 1, memory_order_release);
    }
    eh_page_t *pg = &h->pages[p];
    pg->next = pg->prev = EH_NONE;
    pg->nused = 0;
    pg->cls = (uint8_t)c;
    pg->listed = 0;
    partial_push_locked(h, p);
    *out = p;
    return RM_OK;
}

/* Reserve a slot for a value of vlen bytes and count it. */
static rm_status_t
reserve_locked(rm_eheap_t *h, size_t vlen, uint64_t *handle)
{
    assert_locked(h);
    unsigned c = class_for(h, vlen);
    eh_class_t *cl = &h->cls[c];
    uint32_t p = cl->partial;
    if (p == EH_NONE) {
        rm_status_t st = take_page_locked(h, c, &p);
        if (st != RM_OK)
            return st;
    }
    eh_page_t *pg = &h->pages[p];
    uint64_t *bm = bitmap_locked(h, p);
    uint32_t s = UINT32_MAX;
    for (uint32_t w = 0; w < h->bm_words; w++) {
        if (~bm[w]) {
            s = w * 64 + (uint32_t)__builtin_ctzll(~bm[w]);
            break;
        }
    }
    /* The page is on the partial list, so one of its first nslots bits is
     * clear, and bits beyond nslots are never set: the first clear bit is a
     * real slot. */
    assert(s < cl->nslots);
    bm[s / 64] |= 1ull << (s % 64);
    if (++pg->nused == cl->nslots)
        partial_unlink_locked(h, p);
    uint16_t tag = h->next_tag++;
    if (tag == 0)
        tag = h->next_tag++;
    *slot_rec_locked(h, p, s) = ((uint32_t)tag << 16) | (uint32_t)vlen;
    h->values++;
    h->value_bytes += vlen;
    h->slot_bytes += cl->slot_size;
    h->puts++;
    *handle = encode_handle(p, s, tag);
    return RM_OK;
}

/* Give back slot s of page p (a live value of vlen bytes): the counters of
 * the value are removed (not `puts`/`frees`, which the callers own). */
static void
release_locked(rm_eheap_t *h, uint32_t p, uint32_t s, size_t vlen)
{
    assert_locked(h);
    eh_page_t *pg = &h->pages[p];
    eh_class_t *cl = &h->cls[pg->cls];
    uint64_t *bm = bitmap_locked(h, p);
    assert(bm[s / 64] & (1ull << (s % 64)));
    bm[s / 64] &= ~(1ull << (s % 64));
    *slot_rec_locked(h, p, s) = 0;
    bool was_full = pg->nused == cl->nslots;
    pg->nused--;
    if (pg->nused == 0) {
        if (pg->listed)
            partial_unlink_locked(h, p);
        pg->cls = EH_CLS_FREE;
        pg->next = h->free_head;
        h->free_head = p;
        /* nothing on the page is live: the pool drops it unwritten and its
         * frame serves the next miss. Under mu, before any put can take the
         * page from the free list (a put's reservation keeps nused ≥ 1 until
         * its write is in). RM_EBUSY (a stale get has it pinned, or the pool
         * is busy — discard never waits): it ages out as usual */
        (void)rm_bufpool_discard(h->bp, h->file_id, p);
    } else if (was_full) {
        partial_push_locked(h, p);
    }
    h->values--;
    h->value_bytes -= vlen;
    h->slot_bytes -= cl->slot_size;
}

rm_status_t
rm_eheap_create(rm_bufpool_t *bp, const char *file_name, rm_eheap_t **out)
{
    if (!out)
        return RM_EINVAL;
    *out = NULL;
    if (!bp || !file_name)
        return RM_EINVAL;
    rm_status_t st;
    rm_eheap_t *h = calloc(1, sizeof(*h));
    if (!h)
        return RM_ENOMEM;
    st = rm_bufpool_open_temp_file(bp, file_name, &h->file_id);
    if (st != RM_OK)
        goto fail_free;
    if (pthread_mutex_init(&h->mu, NULL) != 0) {
        st = RM_ENOMEM;
        goto fail_free;
    }
    h->bp = bp;
    size_t space = rm_bufpool_usable_bytes(bp) - EH_PAGE_HDR;
    unsigned n = 0;
    /* Sizes grow by an eighth from EH_MIN_SLOT; each becomes the largest slot
     * (8-byte multiple) with as many slots per page, so a page has no room
     * for one more slot of its class and a value wastes under about 1/8 of
     * its slot (a 520 B need takes a 576 B slot, not 1 KiB). */
    for (size_t want = EH_MIN_SLOT; n < EH_MAX_CLASSES - 1; want += want / 8) {
        size_t per = space / want;
        if (per < 2)
            break;
        uint32_t slot = (uint32_t)(space / per / 8 * 8);
        if (n && slot == h->cls[n - 1].slot_size)
            continue;
        h->cls[n].slot_size = slot;
        h->cls[n].nslots = (uint32_t)(space / slot);
        n++;
    }
    h->cls[n].slot_size = (uint32_t)space;
    h->cls[n].nslots = 1;
    n++;
    h->nclasses = n;
    for (unsigned c = 0; c < n; c++)
        h->cls[c].partial = EH_NONE;
    h->max_value = space - EH_SLOT_HDR;
    h->max_slots = h->cls[0].nslots;
    h->bm_words = (h->max_slots + 63) / 64;
    h->free_head = EH_NONE;
    h->salt = new_salt(h);
    h->next_tag = (uint16_t)(h->salt >> 48);
    atomic_init(&h->npages, 0);
    atomic_init(&h->read_errors, 0);
    *out = h;
    return RM_OK;

fail_free:
    free(h);
    return st;
}

void
rm_eheap_destroy(rm_eheap_t *h)
{
    if (!h)
        return;
    pthread_mutex_destroy(&h->mu);
    free(h->slots);
    free(h->bitmaps);
    free(h->pages);
    free(h);
}

size_t
rm_eheap_max_value(const rm_eheap_t *h)
{
    return h->max_value;
}

rm_status_t
rm_eheap_put(void *ctx, const void *val, size_t vlen, uint64_t *handle)
{
    rm_eheap_t *h = ctx;
    if (handle)
        *handle = 0;
    if (!h || !val || !handle || vlen == 0 || vlen > h->max_value)
        return RM_EINVAL;
    /* While the pool cannot write its dirty pages, a new value would dirty a
     * frame that cannot be cleaned again, and every such frame is one less
     * for reading pages back: refuse, and the value store keeps the value in
     * memory (MVCC's fallback) until space returns. */
    if (rm_bufpool_writes_failing(h->bp))
        return RM_ENOSPC;

    uint64_t hd;
    pthread_mutex_lock(&h->mu);
    rm_status_t st = reserve_locked(h, vlen, &hd);
    pthread_mutex_unlock(&h->mu);
    if (st != RM_OK)
        return st;

    uint64_t page;
    uint32_t slot;
    uint16_t tag;
    decode_handle(hd, &page, &slot, &tag);
    /* Slot size of the value's class (the page cannot change class while
     * this slot is reserved). */
    uint32_t slot_size = h->cls[class_for(h, vlen)].slot_size;

    rm_bufpool_frame_t *f;
    st = rm_bufpool_pin(h->bp, h->file_id, page, RM_BUFPOOL_EXCLUSIVE, &f);
    if (st != RM_OK) {
        pthread_mutex_lock(&h->mu);
        release_locked(h, (uint32_t)page, slot, vlen);
        h->puts--;
        pthread_mutex_unlock(&h->mu);
        return st;
    }
    unsigned char *d = rm_bufpool_frame_data(f);
    eh_page_hdr_t ph = { .magic = EH_PAGE_MAGIC, .slot_size = slot_size, .salt = h->salt };
    memcpy(d, &ph, sizeof ph);
    unsigned char *sp = d + EH_PAGE_HDR + (size_t)slot * slot_size;
    eh_slot_hdr_t sh = { .vlen = (uint32_t)vlen, .check = check_word(h, hd) };
    memcpy(sp, &sh, sizeof sh);
    memcpy(sp + EH_SLOT_HDR, val, vlen);
    rm_bufpool_unpin(h->bp, f, RM_BUFPOOL_EXCLUSIVE, 1);
    *handle = hd;
    return RM_OK;
}

rm_status_t
rm_eheap_get(void *ctx, uint64_t handle, void *buf, size_t vlen)
{
    rm_eheap_t *h = ctx;
    if (!h || !buf || vlen == 0 || vlen > h->max_value)
        return RM_EINVAL;
    uint64_t page;
    uint32_t slot;
    uint16_t tag;
    decode_handle(handle, &page, &slot, &tag);
    if (tag == 0 || slot >= h->max_slots ||
        page >= atomic_load_explicit(&h->npages, memory_order_acquire))
        return RM_EINVAL;

    rm_bufpool_frame_t *f;
    rm_status_t st = rm_bufpool_pin(h->bp, h->file_id, page, RM_BUFPOOL_SHARED, &f);
    if (st != RM_OK)
        goto out;
    const unsigned char *d = rm_bufpool_frame_data(f);
    eh_page_hdr_t ph;
    memcpy(&ph, d, sizeof ph);
    unsigned c = class_of_size(h, ph.slot_size);
    if (ph.magic != EH_PAGE_MAGIC || ph.salt != h->salt || c >= h->nclasses) {
        st = RM_ECORRUPT;   /* never written by this heap */
    } else if (slot >= h->cls[c].nslots) {
        st = RM_EINVAL;
    } else {
        const unsigned char *sp = d + EH_PAGE_HDR + (size_t)slot * ph.slot_size;
        eh_slot_hdr_t sh;
        memcpy(&sh, sp, sizeof sh);
        if (sh.vlen != vlen || sh.check != check_word(h, handle) || vlen + EH_SLOT_HDR > ph.slot_size)
            st = RM_ECORRUPT;
        else
            memcpy(buf, sp + EH_SLOT_HDR, vlen);
    }
    rm_bufpool_unpin(h->bp, f, RM_BUFPOOL_SHARED, 0);
out:
    if (st == RM_EIO || st == RM_ECORRUPT)
        atomic_fetch_add_explicit(&h->read_errors, 1, memory_order_relaxed);
    return st;
}

void
rm_eheap_free(void *ctx, uint64_t handle, size_t vlen)
{
    rm_eheap_t *h = ctx;
    if (!h || vlen == 0 || vlen > h->max_value)
        return;
    uint64_t page;
    uint32_t slot;
    uint16_t tag;
    decode_handle(handle, &page, &slot, &tag);
    if (tag == 0 || slot >= h->max_slots)
        return;
    pthread_mutex_lock(&h->mu);
    if (page < atomic_load_explicit(&h->npages, memory_order_relaxed)) {
        eh_page_t *pg = &h->pages[page];
        if (pg->cls != EH_CLS_FREE && slot < h->cls[pg->cls].nslots &&
            *slot_rec_locked(h, page, slot) == (((uint32_t)tag << 16) | (uint32_t)vlen)) {
            release_locked(h, (uint32_t)page, slot, vlen);
            h->frees++;
        }
    }
    pthread_mutex_unlock(&h->mu);
}

const char *
rm_eheap_write_failure(rm_eheap_t *h, char *buf, size_t cap)
{
    rm_bufpool_write_state_t ws;
    if (!h || !buf || !cap || rm_bufpool_write_state(h->bp, &ws) != RM_OK || !ws.failing)
        return NULL;
    const char *why = ws.last_errno ? strerrordesc_np(ws.last_errno) : NULL;
    snprintf(buf, cap,
             "the buffer pool cannot write its dirty pages: %s; committed data is kept in memory; "
             "free space on %s to recover",
             why ? why : "write error", rm_bufpool_dir(h->bp));
    return buf;
}

void
rm_eheap_stats(rm_eheap_t *h, rm_eheap_stats_t *out)
{
    pthread_mutex_lock(&h->mu);
    out->pages = atomic_load_explicit(&h->npages, memory_order_relaxed);
    out->values = h->values;
    out->value_bytes = h->value_bytes;
    out->slot_bytes = h->slot_bytes;
    out->puts = h->puts;
    out->frees = h->frees;
    out->meta_bytes = sizeof(*h) + h->pages_cap * sizeof(eh_page_t) +
                      h->bm_cap * h->bm_words * sizeof(uint64_t) +
                      h->slots_cap * h->max_slots * sizeof(uint32_t);
    pthread_mutex_unlock(&h->mu);
    out->read_errors = atomic_load_explicit(&h->read_errors, memory_order_relaxed);
}
