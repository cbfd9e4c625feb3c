/*
 * recalloc.c — the default record allocator (malloc/free) that session, mvcc
 * and plancache use when their config names none.
 */
#include "rm_internal.h"

#include <stdlib.h>

static void *
malloc_alloc(void *ctx, size_t n)
{
    (void)ctx;
    return malloc(n);
}

static void
malloc_free(void *ctx, void *p, size_t n)
{
    (void)ctx;
    (void)n;
    free(p);
}

rm_recalloc_t
rm__recalloc_or_malloc(const rm_recalloc_t *given)
{
    return given ? *given : (rm_recalloc_t){.alloc = malloc_alloc, .free = malloc_free};
}
