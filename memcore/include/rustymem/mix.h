/*
 * mix.h — splitmix64's finaliser and a byte-string hash built on it: the one
 * copy memcore, the engine, the agents and the tests share. Header-only,
 * standalone (needs only the C library's headers), so a layer that does not
 * link memcore may include it.
 */
#ifndef RUSTYMEM_MIX_H
#define RUSTYMEM_MIX_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

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

/* 64-bit FNV-1a of the n bytes at p from the basis 0xcbf29ce484222325 ^ seed,
 * finished with rm_mix64 (FNV's low bits alone are weak for masking into a
 * power-of-two table). seed 0 for a plain table; a random seed where the keys
 * come from outside (peer names, file contents) and chain placement must not be
 * predictable. For in-process hash tables only: the value is not a stable
 * format (never persist it or send it to another process). p may be NULL when
 * n is 0. Pure: no state, thread-safe, cannot fail. */
static inline uint64_t
rm_hash_bytes(const void *p, size_t n, uint64_t seed)
{
    const unsigned char *b = (const unsigned char *)p;
    uint64_t h = 0xcbf29ce484222325ull ^ seed;
    for (size_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= 0x100000001b3ull;
    }
    return rm_mix64(h);
}

/* rm_hash_bytes of the NUL-terminated string s (without its NUL). s must not
 * be NULL. Pure, as rm_hash_bytes. */
static inline uint64_t
rm_hash_str(const char *s, uint64_t seed)
{
    return rm_hash_bytes(s, strlen(s), seed);
}

#ifdef __cplusplus
}
#endif
#endif /* RUSTYMEM_MIX_H */
