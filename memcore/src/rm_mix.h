/*
 * rm_mix.h — splitmix64's finaliser, the one copy memcore and its tests and
 * benchmarks share (include "rm_mix.h"; memcore/src is on their include
 * path). Standalone: needs only <stdint.h>. Never installed.
 */
#ifndef RUSTYMEM_RM_MIX_H
#define RUSTYMEM_RM_MIX_H

#include <stdint.h>

/* splitmix64's finaliser: a cheap bijective mix with good low bits (for
 * masking into power-of-two tables, or a seeded pseudo-random stream:
 * rm__mix64(seed + i * 0x9e3779b97f4a7c15)). Pure. */
static inline uint64_t
rm__mix64(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    x ^= x >> 31;
    return x;
}

#endif /* RUSTYMEM_RM_MIX_H */
