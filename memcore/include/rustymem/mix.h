/*
 * mix.h — splitmix64's finaliser, the one copy memcore, the engine and the
 * tests share. Header-only, standalone (needs only <stdint.h>).
 */
#ifndef RUSTYMEM_MIX_H
#define RUSTYMEM_MIX_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* splitmix64's finaliser: a cheap bijective mix with good low bits (for
 * masking into power-of-two tables, or a seeded pseudo-random stream:
 * rm_mix64(seed + i * 0x9e3779b97f4a7c15)). Pure: no state, thread-safe,
 * cannot fail. */
static inline uint64_t
rm_mix64(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    x ^= x >> 31;
    return x;
}

#ifdef __cplusplus
}
#endif
#endif /* RUSTYMEM_MIX_H */
