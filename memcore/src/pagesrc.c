/*
 * pagesrc.c — the default mmap() page source and the fault-injecting wrapper.
 *
 * Design note: alignment larger than the page size is obtained by mapping
 * bytes + align and trimming both ends, so every returned range is exactly
 * `bytes` long and can be unmapped with the same length. Huge pages are tried
 * in order 1 GiB → 2 MiB (MAP_HUGETLB, which fails at once when the pool is
 * empty) → transparent huge pages (madvise) → normal pages; the outcome is
 * reported so callers can count it. NUMA placement uses mbind(MPOL_PREFERRED)
 * so that a full node falls back to another instead of failing.
 */
#include "rustymem/pagesrc.h"
#include "rm_internal.h"

#include <errno.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <unistd.h>

#ifdef RM_HAVE_NUMA
#include <numa.h>
#include <numaif.h>
#endif

#ifndef MAP_HUGE_SHIFT
#define MAP_HUGE_SHIFT 26
#endif
#ifndef MAP_HUGE_2MB
#define MAP_HUGE_2MB (21 << MAP_HUGE_SHIFT)
#endif
#ifndef MAP_HUGE_1GB
#define MAP_HUGE_1GB (30 << MAP_HUGE_SHIFT)
#endif

static _Atomic uint64_t default_mapped;   /* bytes mapped through the default source */
static _Atomic size_t cached_page_size;

size_t
rm_page_size(void)
{
    size_t ps = atomic_load_explicit(&cached_page_size, memory_order_relaxed);
    if (ps == 0) {
        long v = sysconf(_SC_PAGESIZE);
        ps = v > 0 ? (size_t)v : 4096;
        atomic_store_explicit(&cached_page_size, ps, memory_order_relaxed);
    }
    return ps;
}

/*
 * mmap `bytes` aligned to `align`; returns NULL on failure. A hugetlb mapping
 * is made without MAP_NORESERVE: the kernel then reserves its huge pages at
 * mmap time and an empty or short pool fails here, at once. With
 * MAP_NORESERVE the mmap succeeded on a machine without huge pages and the
 * first touch of the range was a SIGBUS — every large object of a 2 MiB
 * multiple killed the agent (test_large_huge_request_is_safe_to_touch).
 */
static void *
map_aligned(size_t bytes, size_t align, int extra_flags)
{
    size_t ps = rm_page_size();
    if (align < ps)
        align = ps;
    int flags = MAP_PRIVATE | MAP_ANONYMOUS | extra_flags | ((extra_flags & MAP_HUGETLB) ? 0 : MAP_NORESERVE);
    if (align == ps || (extra_flags & MAP_HUGETLB)) {
        void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, flags, -1, 0);
        if (p == MAP_FAILED)
            return NULL;
        if (((uintptr_t)p & (align - 1)) == 0)
            return p;
        munmap(p, bytes);
        if (extra_flags & MAP_HUGETLB)
            return NULL;  /* cannot trim huge mappings below their page size */
    }
    size_t span = bytes + align;
    if (span < bytes)
        return NULL;
    char *raw = mmap(NULL, span, PROT_READ | PROT_WRITE, flags, -1, 0);
    if (raw == MAP_FAILED)
        return NULL;
    uintptr_t start = ((uintptr_t)raw + align - 1) & ~(uintptr_t)(align - 1);
    size_t head = start - (uintptr_t)raw;
    size_t tail = span - head - bytes;
    if (head)
        munmap(raw, head);
    if (tail)
        munmap((char *)start + bytes, tail);
    return (void *)start;
}

static void *
default_map(void *ctx, size_t bytes, size_t align, int node, unsigned flags,
            rm_page_backing_t *backing)
{
    (void)ctx;
    void *p = NULL;
    rm_page_backing_t got = RM_BACKING_NORMAL;

    if (bytes == 0)
        return NULL;
    if ((flags & RM_PAGES_HUGE_1G) && (bytes & ((1ul << 30) - 1)) == 0) {
        p = map_aligned(bytes, align, MAP_HUGETLB | MAP_HUGE_1GB);
        if (p)
            got = RM_BACKING_HUGE_1G;
    }
    if (!p && (flags & (RM_PAGES_HUGE_2M | RM_PAGES_HUGE_1G)) && (bytes & ((1ul << 21) - 1)) == 0) {
        p = map_aligned(bytes, align, MAP_HUGETLB | MAP_HUGE_2MB);
        if (p)
            got = RM_BACKING_HUGE_2M;
    }
    if (!p) {
        p = map_aligned(bytes, align, 0);
        if (!p)
            return NULL;
        if ((flags & (RM_PAGES_THP | RM_PAGES_HUGE_2M | RM_PAGES_HUGE_1G)) &&
            madvise(p, bytes, MADV_HUGEPAGE) == 0)
            got = RM_BACKING_THP;
    }
#ifdef RM_HAVE_NUMA
    if ((flags & RM_PAGES_NODE_LOCAL) && node >= 0 && numa_available() >= 0 &&
        node <= numa_max_node()) {
        unsigned long mask[16] = {0};
        if ((unsigned)node < sizeof mask * 8) {
            mask[node / (8 * sizeof(unsigned long))] |= 1ul << (node % (8 * sizeof(unsigned long)));
            /* Best effort: a failed mbind leaves the default policy in place. */
            (void)mbind(p, bytes, MPOL_PREFERRED, mask, sizeof mask * 8, 0);
        }
    }
#else
    (void)node;
#endif
    atomic_fetch_add_explicit(&default_mapped, bytes, memory_order_relaxed);
    if (backing)
        *backing = got;
    return p;
}

static void
default_unmap(void *ctx, void *addr, size_t bytes)
{
    (void)ctx;
    if (!addr)
        return;
    munmap(addr, bytes);
    atomic_fetch_sub_explicit(&default_mapped, bytes, memory_order_relaxed);
}

static void
default_release(void *ctx, void *addr, size_t bytes)
{
    (void)ctx;
    (void)madvise(addr, bytes, MADV_DONTNEED);
}

static const rm_pagesrc_methods_t default_methods = {
    .map = default_map,
    .unmap = default_unmap,
    .release = default_release,
};

static const rm_pagesrc_t default_src = {.methods = &default_methods, .ctx = NULL};

const rm_pagesrc_t *
rm_pagesrc_default(void)
{
    return &default_src;
}

uint64_t
rm_pagesrc_default_mapped_bytes(void)
{
    return atomic_load_explicit(&default_mapped, memory_order_relaxed);
}

/* ---- fault-injecting wrapper ------------------------------------------------ */

static void *
faulty_map(void *ctx, size_t bytes, size_t align, int node, unsigned flags,
           rm_page_backing_t *backing)
{
    rm_pagesrc_faulty_t *f = ctx;
    __atomic_fetch_add(&f->calls, 1, __ATOMIC_RELAXED);
    long left = __atomic_load_n(&f->countdown, __ATOMIC_ACQUIRE);
    if (left > 0) {
        long now = __atomic_sub_fetch(&f->countdown, 1, __ATOMIC_ACQ_REL);
        if (now == 0) {
            if (f->repeat)
                __atomic_store_n(&f->countdown, 1, __ATOMIC_RELEASE);
            __atomic_fetch_add(&f->failures, 1, __ATOMIC_RELAXED);
            return NULL;
        }
    }
    void *p = f->inner->methods->map(f->inner->ctx, bytes, align, node, flags, backing);
    if (p)
        __atomic_fetch_add(&f->mapped_bytes, (int64_t)bytes, __ATOMIC_RELAXED);
    return p;
}

static void
faulty_unmap(void *ctx, void *addr, size_t bytes)
{
    rm_pagesrc_faulty_t *f = ctx;
    if (addr)
        __atomic_fetch_sub(&f->mapped_bytes, (int64_t)bytes, __ATOMIC_RELAXED);
    f->inner->methods->unmap(f->inner->ctx, addr, bytes);
}

static void
faulty_release(void *ctx, void *addr, size_t bytes)
{
    rm_pagesrc_faulty_t *f = ctx;
    if (f->inner->methods->release)
        f->inner->methods->release(f->inner->ctx, addr, bytes);
}

static const rm_pagesrc_methods_t faulty_methods = {
    .map = faulty_map,
    .unmap = faulty_unmap,
    .release = faulty_release,
};

void
rm_pagesrc_faulty_init(rm_pagesrc_faulty_t *f, const rm_pagesrc_t *inner)
{
    *f = (rm_pagesrc_faulty_t){.src = {.methods = &faulty_methods, .ctx = f},
                               .inner = inner ? inner : rm_pagesrc_default()};
}

void
rm_pagesrc_faulty_arm(rm_pagesrc_faulty_t *f, long nth, int repeat)
{
    f->repeat = repeat;
    __atomic_store_n(&f->countdown, nth > 0 ? nth : 1, __ATOMIC_RELEASE);
}

void
rm_pagesrc_faulty_disarm(rm_pagesrc_faulty_t *f)
{
    __atomic_store_n(&f->countdown, 0, __ATOMIC_RELEASE);
    f->repeat = 0;
}
