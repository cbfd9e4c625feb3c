/*
 * count_pagesrc.h — a page source over the real default source that counts
 * what reaches it, so a test can tell which calls a wrapper passed through.
 * Header-only; not thread-safe (one test thread).
 */
#ifndef RUSTYMEM_TESTS_COUNT_PAGESRC_H
#define RUSTYMEM_TESTS_COUNT_PAGESRC_H

#include <stdint.h>

#include "rustymem/pagesrc.h"

typedef struct count_src {
    rm_pagesrc_t src;          /* hand &c->src to the code under test */
    uint64_t maps, unmaps, releases;
    uint64_t mapped_bytes;     /* bytes mapped through this source and not unmapped */
    uint64_t released_bytes;   /* bytes given to release */
} count_src_t;

static inline void *
count_map(void *ctx, size_t bytes, size_t align, int node, unsigned flags, rm_page_backing_t *backing)
{
    count_src_t *c = ctx;
    const rm_pagesrc_t *d = rm_pagesrc_default();
    void *p = d->methods->map(d->ctx, bytes, align, node, flags, backing);
    c->maps++;
    if (p)
        c->mapped_bytes += bytes;
    return p;
}

static inline void
count_unmap(void *ctx, void *addr, size_t bytes)
{
    count_src_t *c = ctx;
    const rm_pagesrc_t *d = rm_pagesrc_default();
    c->unmaps++;
    if (addr)
        c->mapped_bytes -= bytes;
    d->methods->unmap(d->ctx, addr, bytes);
}

static inline void
count_release(void *ctx, void *addr, size_t bytes)
{
    count_src_t *c = ctx;
    const rm_pagesrc_t *d = rm_pagesrc_default();
    c->releases++;
    c->released_bytes += bytes;
    d->methods->release(d->ctx, addr, bytes);
}

static const rm_pagesrc_methods_t count_src_methods = {count_map, count_unmap, count_release};

static inline void
count_src_init(count_src_t *c)
{
    *c = (count_src_t){.src = {&count_src_methods, c}};
}

#endif /* RUSTYMEM_TESTS_COUNT_PAGESRC_H */
