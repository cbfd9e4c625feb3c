/*
 * arena.h — transaction arenas: PostgreSQL-style memory contexts with the
 * seed's size profiles, savepoint children and O(1) mark/rollback.
 *
 * Design note. An arena manager (rm_arena_mgr_t) owns every transaction arena
 * of a process: it picks a size profile, caches freed blocks, enforces
 * `arena.disable_above_bytes` and reports to the accounting registry as
 * component "arena". A transaction arena is a tree of contexts (rm_arena_t):
 * the root is created per transaction with rm_arena_create(); children
 * (savepoints, subtransactions) with rm_arena_create_child(). As in
 * PostgreSQL's mcxt.c, reset and destroy cascade to children, and reset keeps
 * the first ("keeper") block of the context it is applied to.
 *
 * Allocation is a bump pointer inside the context's current block; blocks
 * grow by doubling from the profile's initial size until the tree holds the
 * profile's max_size, after which allocation fails with RM_ELIMIT and the arena
 * stays usable (smaller requests that still fit succeed). Like PostgreSQL 17's
 * bump context there is no per-chunk header: rm_arena_free() only gives back
 * the most recent allocation and usable_size is not known per chunk; memory
 * comes back by rollback, reset or destroy.
 *
 * mark/rollback is O(1) whatever was allocated after the mark: blocks taken
 * after the mark are spliced, as a whole sub-list, onto the context's spare
 * list (kept for reuse, still counted as held) and the bump pointer is
 * restored — nothing is copied, touched or unmapped ("zero-copy rollback").
 *
 * Threading: the manager is thread-safe. One arena tree belongs to one
 * transaction and must be used by one thread at a time (no locks on the
 * allocation path); stats and the context listing may be read from any
 * thread at any time.
 */
#ifndef RUSTYMEM_ARENA_H
#define RUSTYMEM_ARENA_H

#include <stddef.h>
#include <stdint.h>

#include "rustymem/allocator.h"
#include "rustymem/pagesrc.h"
#include "rustymem/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The seed's TransactionSizeProfile values. */
typedef enum rm_arena_profile {
    RM_ARENA_PROFILE_AUTO   = -1,  /* chosen by the first allocation */
    RM_ARENA_PROFILE_TINY   = 0,   /* 4 KiB → 64 KiB */
    RM_ARENA_PROFILE_SMALL  = 1,   /* 32 KiB → 512 KiB */
    RM_ARENA_PROFILE_MEDIUM = 2,   /* 256 KiB → 4 MiB */
    RM_ARENA_PROFILE_LARGE  = 3,   /* 2 MiB → 32 MiB */
    RM_ARENA_PROFILE_HUGE   = 4,   /* 16 MiB → 256 MiB */
    RM_ARENA_PROFILE_COUNT  = 5,
} rm_arena_profile_t;

#define RM_ARENA_ALIGN                 16u                       /* bytes; every chunk is aligned to this */
#define RM_ARENA_DISABLE_ABOVE_DEFAULT (100ull * 1000 * 1000)    /* bytes: the seed's ">100MB" */
#define RM_ARENA_BLOCK_CACHE_DEFAULT   (8ull << 20)              /* bytes of freed blocks kept for reuse */
#define RM_ARENA_NAME_MAX              32                        /* bytes incl. NUL */

/* Profile name ("Tiny" … "Huge", "Auto"); static string, never NULL. */
const char *rm_arena_profile_name(rm_arena_profile_t p);

/* initial_size / max_size of a profile in bytes. RM_EINVAL for AUTO or an
 * out-of-range value (outputs untouched). NULL outputs are allowed. */
rm_status_t rm_arena_profile_sizes(rm_arena_profile_t p, size_t *initial_bytes, size_t *max_bytes);

/* Profile for a size hint in bytes: the smallest profile whose max_size holds
 * the hint with a quarter of headroom (hint ≤ 3/4 max_size; 2 000 000 →
 * Medium, as in the seed); larger hints give Huge; 0 gives
 * RM_ARENA_PROFILE_AUTO. Pure function. */
rm_arena_profile_t rm_arena_profile_for_hint(size_t hint_bytes);

/* Profile for a first allocation of `bytes` on an AUTO arena: the smallest
 * profile whose initial block holds it (100 B → Tiny, 40 KiB → Medium).
 * Pure function. */
rm_arena_profile_t rm_arena_profile_for_first_alloc(size_t bytes);

typedef struct rm_arena_mgr rm_arena_mgr_t;
typedef struct rm_arena rm_arena_t;

typedef struct rm_arena_mgr_config {
    uint64_t disable_above_bytes;  /* bytes; arenas refused for hints above it; 0 = default 100 MB */
    uint64_t block_cache_bytes;    /* cap in bytes of freed blocks cached for reuse: blocks up to
                                      1/8 of it, never more than live arenas hold (≥ 1 MiB);
                                      0 = default 8 MiB; UINT64_MAX = none */
} rm_arena_mgr_config_t;

/*
 * Create a manager. `cfg` may be NULL (defaults); `src` may be NULL
 * (rm_pagesrc_default()); a non-NULL `src` must outlive the manager. Registers
 * component "arena" with the accounting registry.
 * Returns RM_OK and *out; RM_EINVAL for NULL out; RM_ENOMEM; RM_ELIMIT when
 * the registry is full. On failure nothing is allocated or registered.
 * Thread-safe.
 */
rm_status_t rm_arena_mgr_create(const rm_arena_mgr_config_t *cfg, const rm_pagesrc_t *src,
                                rm_arena_mgr_t **out);

/* Destroy the manager: destroys any arenas still live, unmaps cached blocks,
 * unregisters. NULL is a no-op. No other call on it may run concurrently. */
void rm_arena_mgr_destroy(rm_arena_mgr_t *m);

/* Live setter for arena.disable_above_bytes (bytes, > 0). RM_EINVAL for 0,
 * value unchanged. Thread-safe. */
rm_status_t rm_arena_mgr_set_disable_above_bytes(rm_arena_mgr_t *m, uint64_t bytes);
uint64_t rm_arena_mgr_disable_above_bytes(const rm_arena_mgr_t *m);

/* Live setter for the block cache cap (bytes; 0 disables caching and frees
 * the cache at once). Thread-safe. */
void rm_arena_mgr_set_block_cache_bytes(rm_arena_mgr_t *m, uint64_t bytes);

/* 1 when a transaction expecting `bytes` must bypass arenas and use the
 * large-object allocator (bytes > disable_above_bytes), else 0. Counts the
 * bypasses. Thread-safe, lock-free. */
int rm_arena_mgr_use_large(rm_arena_mgr_t *m, uint64_t bytes);

/* Unmap every cached free block (pressure responder hook). Returns the bytes
 * given back to the OS. Thread-safe. */
uint64_t rm_arena_mgr_release_cached(rm_arena_mgr_t *m);

/*
 * create_arena(txn_id, size_hint): a root context for a transaction. A hint
 * of 0 defers the profile to the first allocation; otherwise the profile is
 * rm_arena_profile_for_hint(hint) and the first block is mapped now.
 * Returns RM_OK and *out (owned by the caller: release with rm_arena_destroy);
 * RM_ELIMIT when hint > disable_above_bytes (use rm_large_* instead);
 * RM_EINVAL for NULL m/out; RM_ENOMEM when the first block cannot be mapped.
 * On failure *out is untouched and nothing is allocated. Thread-safe.
 */
rm_status_t rm_arena_create(rm_arena_mgr_t *m, uint64_t txn_id, size_t size_hint,
                            rm_arena_t **out);

/* As rm_arena_create with an explicit profile (AUTO allowed). RM_EINVAL for an
 * out-of-range profile. */
rm_status_t rm_arena_create_profile(rm_arena_mgr_t *m, uint64_t txn_id, rm_arena_profile_t p,
                                    rm_arena_t **out);

/*
 * A child context (savepoint / subtransaction) of `parent`, named `name`
 * (copied, truncated; NULL → "child"). The child shares its root's max_size
 * budget; its first block is mapped at its first allocation. It is destroyed
 * with its parent, or earlier with rm_arena_destroy.
 * Returns RM_OK and *out; RM_EINVAL; RM_ENOMEM (nothing changed).
 * Same thread as the rest of the tree.
 */
rm_status_t rm_arena_create_child(rm_arena_t *parent, const char *name, rm_arena_t **out);

/* Destroy a context and, first, all its descendants; unlink it from its
 * parent (or the manager for a root). Blocks go to the manager's cache or
 * back to the OS. NULL is a no-op. */
void rm_arena_destroy(rm_arena_t *a);

/* Reset a context: destroy its descendants, forget every chunk, keep its
 * first block, return all other blocks. Marks taken before are invalid. */
void rm_arena_reset(rm_arena_t *a);

/*
 * The hot part of a context, public only so that rm_arena_alloc can be
 * inlined (a bump allocation is a compare and a store; an out-of-line call
 * would cost more than the allocation). Every rm_arena_t begins with it.
 * Fields are private: ptr/end are written by the owning thread only, with
 * relaxed atomic stores so that stats readers may load them.
 */
typedef struct rm_arena_hot {
    char *ptr;   /* next free byte in the current block */
    char *end;   /* end of the current block */
} rm_arena_hot_t;

/* Out-of-line path of rm_arena_alloc (new block, profile choice, limits,
 * debug fills). Same contract as rm_arena_alloc. */
void *rm__arena_alloc_slow(rm_arena_t *a, size_t bytes);

/*
 * Allocate `bytes` (> 0) aligned to RM_ARENA_ALIGN. Hot path: returns NULL on
 * failure — when the tree would exceed max_size (counted as a limit hit) or
 * no block can be mapped — with the arena unchanged and usable. The memory
 * lives until the chunk is rolled back, reset or destroyed. Not thread-safe
 * within a tree. Debug and ASan builds always take the out-of-line path
 * (fill patterns, poisoning).
 */
static inline void *
rm_arena_alloc(rm_arena_t *a, size_t bytes)
{
#if defined(RM_DEBUG) || defined(__SANITIZE_ADDRESS__)
    return rm__arena_alloc_slow(a, bytes);
#else
    rm_arena_hot_t *h = (rm_arena_hot_t *)(void *)a;
    size_t n = (bytes + (RM_ARENA_ALIGN - 1)) & ~(size_t)(RM_ARENA_ALIGN - 1);
    char *p = h->ptr;
    if (__builtin_expect(n - 1 < (size_t)(h->end - p), 1)) {   /* n == 0 wraps and fails */
        __atomic_store_n(&h->ptr, p + n, __ATOMIC_RELAXED);
        return p;
    }
    return rm__arena_alloc_slow(a, bytes);
#endif
}

/* As rm_arena_alloc but says why: RM_OK and *out; RM_EINVAL (bytes 0, NULL
 * out); RM_ELIMIT (max_size reached); RM_ENOMEM (page source failed). */
rm_status_t rm_arena_alloc_ex(rm_arena_t *a, size_t bytes, void **out);

/* Give back `p` (of `bytes`, as allocated) if it is the context's most recent
 * allocation; otherwise a no-op (the memory returns at rollback, reset or
 * destroy). NULL is a no-op. */
void rm_arena_free(rm_arena_t *a, void *p, size_t bytes);

/* A position in one context; a plain value the caller keeps (e.g. on the
 * stack). Fields are private. */
typedef struct rm_arena_mark {
    void *block;
    char *ptr;
    uint64_t closed;
    uint64_t used;
    uint64_t epoch;
} rm_arena_mark_t;

/* Record the current position of `a` into *mk. O(1). */
void rm_arena_mark(rm_arena_t *a, rm_arena_mark_t *mk);

/*
 * Forget everything `a` allocated since *mk in O(1): no block is unmapped,
 * copied or touched (blocks taken since the mark are kept as spares for reuse).
 * Children are not affected (roll those back by resetting/destroying them).
 * Marks work like a stack: rolling back to a mark invalidates marks taken
 * after it. Returns RM_OK; RM_EINVAL for NULL; RM_ESTATE for a mark from
 * another context, from before a reset, or past the current position (then
 * nothing changes).
 */
rm_status_t rm_arena_rollback(rm_arena_t *a, const rm_arena_mark_t *mk);

/* The tree's profile (AUTO until the first allocation decides it). */
rm_arena_profile_t rm_arena_profile(const rm_arena_t *a);

/* Per-arena (per transaction tree) statistics; all sizes in bytes. */
typedef struct rm_arena_stats {
    uint64_t txn_id;
    rm_arena_profile_t profile;
    uint64_t max_bytes;        /* the profile's max_size */
    uint64_t used_bytes;       /* handed out and not rolled back, whole tree */
    uint64_t held_bytes;       /* blocks held by the tree (incl. spares) */
    uint64_t peak_used_bytes;  /* high-water mark of used_bytes */
    uint64_t rollbacks;        /* successful rm_arena_rollback calls */
    uint64_t limit_hits;       /* allocations refused with RM_ELIMIT */
    uint32_t contexts;         /* contexts in the tree */
    uint32_t blocks;           /* blocks in the tree */
} rm_arena_stats_t;

/* Stats of the tree `a` belongs to. Exact when called by the owning thread;
 * callable from any thread while the owner allocates (then a snapshot that
 * may be off by allocations racing with it). peak_used_bytes is sampled at
 * block changes, rollbacks, resets and destroys of children. */
void rm_arena_stats(const rm_arena_t *a, rm_arena_stats_t *out);

/* Global statistics of a manager; sizes in bytes. */
typedef struct rm_arena_mgr_stats {
    uint64_t live_by_profile[RM_ARENA_PROFILE_COUNT]; /* live root arenas per profile */
    uint64_t live_auto;             /* live roots whose profile is not chosen yet */
    uint64_t created;               /* roots ever created */
    uint64_t used_bytes;            /* sum over live arenas */
    uint64_t held_bytes;            /* blocks of live arenas + block cache */
    uint64_t cached_bytes;          /* of held_bytes, in the block cache */
    uint64_t peak_held_bytes;       /* high-water mark of held_bytes */
    uint64_t rollbacks;             /* all arenas, live and destroyed */
    uint64_t limit_hits;            /* all arenas, live and destroyed */
    uint64_t bypasses;              /* rm_arena_mgr_use_large() that said yes */
    uint64_t disable_above_bytes;
} rm_arena_mgr_stats_t;

/* Thread-safe snapshot. */
void rm_arena_mgr_stats(rm_arena_mgr_t *m, rm_arena_mgr_stats_t *out);

/* One row of the pg_backend_memory_contexts-like view. */
typedef struct rm_arena_context_info {
    char name[RM_ARENA_NAME_MAX];
    char parent[RM_ARENA_NAME_MAX];  /* "" for a root */
    uint32_t level;                  /* 0 for a root */
    uint64_t txn_id;
    rm_arena_profile_t profile;
    uint64_t total_bytes;            /* blocks held by this context */
    uint64_t used_bytes;
    uint64_t free_bytes;             /* total − used */
    uint32_t blocks;
} rm_arena_context_info_t;

/* Every context of every live arena, depth-first (parent before children),
 * into out[0..cap); *n receives the total number (may exceed cap). out may be
 * NULL when cap is 0. Thread-safe. */
void rm_arena_mgr_contexts(rm_arena_mgr_t *m, rm_arena_context_info_t *out, size_t cap, size_t *n);

/* Check the invariants of the tree `a` belongs to (block chains, counters).
 * RM_OK or RM_ECORRUPT. Same thread as the owner. */
rm_status_t rm_arena_check(const rm_arena_t *a);

/*
 * The common allocator methods table (rustymem/allocator.h) as an arena fills it; `self`
 * is an rm_arena_t *. usable_size returns 0 and free is a no-op (no
 * per-chunk header: sizes are unknown); stats fills an rm_arena_stats_t.
 */
extern const rm_allocator_methods_t rm_arena_methods;

#ifdef __cplusplus
}
#endif
#endif /* RUSTYMEM_ARENA_H */
