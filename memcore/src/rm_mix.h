/*
 * rm_mix.h — memcore's internal name for splitmix64's finaliser (the one copy
 * is rm_mix64 in the public rustymem/mix.h, which the engine uses too).
 * memcore, its tests and benchmarks include this one ("rm_mix.h"; memcore/src
 * and memcore/include are on their include path). Never installed.
 */
#ifndef RUSTYMEM_RM_MIX_H
#define RUSTYMEM_RM_MIX_H

#include <stdint.h>

#include "rustymem/mix.h"

/* rm_mix64 (rustymem/mix.h). Pure. */
static inline uint64_t
rm__mix64(uint64_t x)
{
    return rm_mix64(x);
}

#endif /* RUSTYMEM_RM_MIX_H */
