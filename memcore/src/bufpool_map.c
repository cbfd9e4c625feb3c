/*
 * bufpool_map.c — the buffer pool's metadata memory and its key → index map.
 *
 *   rm__bp_mem_alloc/free  zeroed, page-rounded mappings from the pool's page
 *                          source: every piece of pool metadata (policy lists,
 *                          ghost directory, sketch, page tables, descriptors)
 *                          comes from here, so it is accounted where the
 *                          pages are.
 *   rm__bp_map_*           open-addressing map u64 key → u32 value with
 *                          backward-shift deletion (no tombstones); not
 *                          thread-safe: its users hold the pool mutex.
 *
 * Moved out of bufpool_arc.c unchanged (issue 18 item 6).
 */
#include "bufpool_internal.h"

#include <string.h>

/* ---- memory ------------------------------------------------------------------ */

void *
rm__bp_mem_alloc(const rm_pagesrc_t *src, size_t bytes)
{
    if (!src)
        src = rm_pagesrc_default();
    size_t ps = rm_page_size();
    if (bytes == 0)
        bytes = 1;
    bytes = rm__align_up(bytes, ps);
    void *p = src->methods->map(src->ctx, bytes, ps, -1, 0, NULL);
    return p;
}

void
rm__bp_mem_free(const rm_pagesrc_t *src, void *p, size_t bytes)
{
    if (!p)
        return;
    if (!src)
        src = rm_pagesrc_default();
    if (bytes == 0)
        bytes = 1;
    src->methods->unmap(src->ctx, p, rm__align_up(bytes, rm_page_size()));
}

/* ---- map ----------------------------------------------------------------------- */

rm_status_t
rm__bp_map_init(rm__bp_map_t *m, size_t max_entries, const rm_pagesrc_t *src)
{
    size_t cap = 16;
    while (cap < max_entries * 2 + 2)
        cap <<= 1;
    memset(m, 0, sizeof *m);
    m->src = src;
    m->bytes = cap * (sizeof(uint64_t) + sizeof(uint32_t));
    void *mem = rm__bp_mem_alloc(src, m->bytes);
    if (!mem)
        return RM_ENOMEM;
    m->keys = mem;
    m->vals = (uint32_t *)(m->keys + cap);
    memset(m->keys, 0xff, cap * sizeof(uint64_t));
    m->mask = cap - 1;
    m->shift = 64u - (unsigned)__builtin_ctzll((unsigned long long)cap);
    return RM_OK;
}

void
rm__bp_map_fini(rm__bp_map_t *m)
{
    rm__bp_mem_free(m->src, m->keys, m->bytes);
    memset(m, 0, sizeof *m);
}

uint32_t
rm__bp_map_get(const rm__bp_map_t *m, uint64_t key)
{
    return rm__bp_map_get_inline(m, key);
}

void
rm__bp_map_put(rm__bp_map_t *m, uint64_t key, uint32_t val)
{
    rm__bp_map_put_inline(m, key, val);
}

void
rm__bp_map_del(rm__bp_map_t *m, uint64_t key)
{
    rm__bp_map_del_inline(m, key);
}
