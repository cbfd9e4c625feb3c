/*
 * bufpool_pagetable.c — the lock-free resident page table.
 *
 * Design note: open addressing with linear probing; a slot is one 32-bit word
 * holding frame index + 1 (0 = empty). The key is not stored in the table: a
 * reader compares the frame's own key (an atomic in the frame descriptor) and,
 * after pinning the frame with a CAS on its state word, compares it again —
 * frames are recycled while readers run, and the second check is what makes a
 * lookup correct. Writers (insert, remove) are serialised by the pool mutex.
 * Removal uses backward-shift deletion instead of tombstones, so the table
 * never needs a rebuild; a reader racing with a shift may miss an entry that
 * is present, which only sends it to the locked slow path (exact). A reader
 * runs inside one of bufpool.c's reader sections, so a stale index it holds
 * names a descriptor that is either live or detached-but-not-yet-freed (key_of
 * answers "no key" for a detached one). When the pool grows past half the
 * table, or shrinks to under an eighth of it, bufpool.c builds a table sized
 * for the pool and publishes it; the old one is freed after a grace period
 * (docs/adr/0022).
 */
#include "bufpool_internal.h"

#include <string.h>

size_t
rm__bp_ptab_capacity(size_t min_slots)
{
    size_t cap = 64;
    while (cap < min_slots)
        cap <<= 1;
    return cap;
}

rm__bp_ptab_t *
rm__bp_ptab_create(size_t min_slots, const rm_pagesrc_t *src)
{
    size_t cap = rm__bp_ptab_capacity(min_slots);
    rm__bp_ptab_t *t = rm__bp_mem_alloc(src, sizeof *t + cap * sizeof(uint32_t));
    if (!t)
        return NULL;
    t->slots = (_Atomic uint32_t *)(t + 1);
    t->mask = cap - 1;
    t->shift = 64u - (unsigned)__builtin_ctzll((unsigned long long)cap);
    t->bytes = sizeof *t + cap * sizeof(uint32_t);
    t->retired_next = NULL;
    return t;
}

void
rm__bp_ptab_destroy(rm__bp_ptab_t *t, const rm_pagesrc_t *src)
{
    if (t)
        rm__bp_mem_free(src, t, t->bytes);
}

uint32_t
rm__bp_ptab_lookup(const rm__bp_ptab_t *t, uint64_t key, rm__bp_key_of_fn key_of, void *ctx)
{
    return rm__bp_ptab_lookup_inline(t, key, key_of, ctx);
}

void
rm__bp_ptab_insert_locked(rm__bp_ptab_t *t, uint64_t key, uint32_t frame)
{
    rm__bp_ptab_insert_inline(t, key, frame);
}

void
rm__bp_ptab_remove_locked(rm__bp_ptab_t *t, uint64_t key, uint32_t frame, rm__bp_key_of_fn key_of,
                          void *ctx)
{
    rm__bp_ptab_remove_inline(t, key, frame, key_of, ctx);
}
