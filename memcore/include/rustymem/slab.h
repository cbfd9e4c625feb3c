/*
 * slab.h — fixed-size object caches for the database's hot-path objects.
 *
 * A cache (rm_slab_cache_t) hands out objects of one size class, like a kernel
 * kmem_cache: 64, 128, 192, 256, 384, 512, 1024, 2048 or 4096 bytes (lock
 * entries, page headers, version records, small rows, transaction metadata,
 * medium rows / small index nodes, large rows, large index nodes, pages).
 * rm_slab_t is a convenience set holding one cache per class.
 *
 * Design (Bonwick & Adams, "Magazines and Vmem", 2001; see
 * docs/adr/0002-slab-magazines.md):
 *   - every thread has, per cache, a loaded and a previous magazine (a stack
 *     of object pointers). rm_slab_alloc/rm_slab_free touch only those: no
 *     atomic read-modify-write, no lock, no shared cache line;
 *   - behind them, one depot of full and empty magazines per NUMA node,
 *     chosen by the CPU the thread runs on when it reaches the depot;
 *   - behind the depots, slabs: 256 KiB regions aligned to 256 KiB taken from
 *     the node's memory through the page source, so the slab of any object is
 *     found by masking its address (O(1) free to the slab layer);
 *   - a free from any thread goes into that thread's own magazine; full
 *     magazines travel through the depot to allocating threads, which makes
 *     producer/consumer patterns cost one lock per magazine, not per object.
 *
 * Objects are aligned to their size for power-of-two classes (so 4096-byte
 * objects are page aligned) and to 64 bytes for 192 and 384.
 */
#ifndef RUSTYMEM_SLAB_H
#define RUSTYMEM_SLAB_H

#include <stddef.h>
#include <stdint.h>

#include "rustymem/pagesrc.h"
#include "rustymem/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define RM_SLAB_NUM_CLASSES   9
#define RM_SLAB_MIN_SIZE      64u      /* bytes: the smallest class */
#define RM_SLAB_MAX_SIZE      4096u    /* bytes: the largest class */
#define RM_SLAB_SLAB_BYTES    (256u * 1024u)  /* bytes per slab, also its alignment */
#define RM_SLAB_MAGAZINE_MIN  1u       /* objects: smallest settable magazine capacity */
#define RM_SLAB_MAGAZINE_MAX  256u     /* objects: largest settable magazine capacity */
#define RM_SLAB_MAX_CACHES    64       /* caches that may exist at once in a process */
#define RM_SLAB_MAX_NODES     8        /* NUMA nodes with their own depot; higher nodes share the last */
#define RM_SLAB_NAME_MAX      32       /* bytes of a cache name, including NUL */

typedef struct rm_slab_cache rm_slab_cache_t;
typedef struct rm_slab rm_slab_t;

/* ---- size classes -------------------------------------------------------- */

/* Object size of class `index` (0 … RM_SLAB_NUM_CLASSES-1), or 0 when out of
 * range. Thread-safe, constant. */
size_t rm_slab_class_size(unsigned index);

/* Smallest class that holds `size` bytes: 64 … 4096, or 0 when size is 0 or
 * above RM_SLAB_MAX_SIZE. Thread-safe, constant time. */
size_t rm_slab_size_class(size_t size);

/* Index of rm_slab_size_class(size), or -1 when there is none. */
int rm_slab_class_index(size_t size);

/* ---- magazine capacities: defaults, seed roles, profiles ------------------ */

/*
 * The seed's named roles, each tied to one class. The knob registry maps
 * slab.lock_entry_magazine → RM_SLAB_ROLE_LOCK_ENTRY (64 B),
 * slab.small_row_magazine → RM_SLAB_ROLE_SMALL_ROW (256 B),
 * slab.medium_row_magazine → RM_SLAB_ROLE_MEDIUM_ROW (512 B),
 * slab.index_node_magazine → RM_SLAB_ROLE_INDEX_NODE (2048 B).
 */
typedef enum rm_slab_role {
    RM_SLAB_ROLE_LOCK_ENTRY = 0,   /* 64 B, seed default 128 */
    RM_SLAB_ROLE_SMALL_ROW  = 1,   /* 256 B, seed default 96 */
    RM_SLAB_ROLE_MEDIUM_ROW = 2,   /* 512 B, default 64 (our choice, ADR 0002) */
    RM_SLAB_ROLE_INDEX_NODE = 3,   /* 2048 B, seed default 16 */
    RM_SLAB_ROLE_COUNT      = 4,
} rm_slab_role_t;

/* Class size of a role (64, 256, 512, 2048), 0 for an unknown role. */
size_t rm_slab_role_class(rm_slab_role_t role);

/* Knob name of a role ("slab.lock_entry_magazine", …), NULL if unknown. Static. */
const char *rm_slab_role_knob(rm_slab_role_t role);

/*
 * Default magazine capacity (objects) of a class:
 *   64:128 (seed)  128:128  192:128  256:96 (seed)  384:96  512:64
 *   1024:64  2048:16 (seed)  4096:64
 * Returns 0 when class_size is not a class. Thread-safe, constant.
 */
uint32_t rm_slab_default_magazine(size_t class_size);

/* The seed's workload recommendations. */
typedef enum rm_slab_profile {
    RM_SLAB_PROFILE_DEFAULT     = 0,  /* the defaults above */
    RM_SLAB_PROFILE_OLTP        = 1,  /* lock entries 256 */
    RM_SLAB_PROFILE_ROW_HEAVY   = 2,  /* small rows 128, medium rows 64 */
    RM_SLAB_PROFILE_INDEX_HEAVY = 3,  /* index nodes 32 */
} rm_slab_profile_t;

/*
 * Magazine capacity the profile gives to class_size: the profile's value for
 * the classes it names, the default for the others. Returns RM_OK, or
 * RM_EINVAL (for an unknown profile or class; *out untouched).
 */
rm_status_t rm_slab_profile_magazine(rm_slab_profile_t profile, size_t class_size, uint32_t *out);

/* Profile name ("default", "oltp", "row_heavy", "index_heavy"), NULL if unknown. */
const char *rm_slab_profile_name(rm_slab_profile_t profile);

/* ---- one cache ----------------------------------------------------------- */

/*
 * Create a cache for objects of `object_size` bytes (rounded up to its class;
 * 1 … 4096). `src` is the page source for slabs and magazines (NULL = the
 * default source); it must outlive the cache. `name` (may be NULL: "slab-<size>")
 * is copied. The magazine capacity starts at rm_slab_default_magazine().
 * The cache reports into the accounting registry under the component "slab"
 * (one registration shared by all caches).
 * Returns RM_OK and the cache in *out; RM_EINVAL (bad size, NULL out),
 * RM_ELIMIT (RM_SLAB_MAX_CACHES exist, or the registry is full), RM_ENOMEM.
 * No memory is mapped until the first allocation. On failure nothing is
 * created and *out is untouched. Thread-safe.
 */
rm_status_t rm_slab_cache_create(size_t object_size, const char *name, const rm_pagesrc_t *src,
                                 rm_slab_cache_t **out);

/*
 * Destroy a cache: unmap all of its slabs and magazines, including those that
 * still hold live objects (they become invalid) and the magazines that other
 * threads hold for it. The caller guarantees no thread uses the cache during
 * or after the call. NULL is a no-op. Thread-safe with respect to other caches.
 */
void rm_slab_cache_destroy(rm_slab_cache_t *c);

/*
 * Allocate one object (c's object size, aligned as described above). The fast
 * path pops the calling thread's magazine. Returns NULL when memory cannot be
 * had (page source failed); then nothing changed except the alloc-failure
 * counter. Debug builds fill the object with 0xAA. Thread-safe.
 */
void *rm_slab_alloc(rm_slab_cache_t *c);

/*
 * Free an object allocated from c, from any thread. NULL is a no-op. The fast
 * path pushes into the calling thread's magazine. Debug builds fill the object
 * with 0x55 and detect double frees and pointers that are not c's objects:
 * those are counted (rm_slab_stats_t.double_frees / foreign_frees) and
 * ignored. Thread-safe.
 */
void rm_slab_free(rm_slab_cache_t *c, void *p);

/* The cache that owns object p (read from its slab header), for callers that
 * did not keep it. p must be a live object of some cache. Thread-safe. */
rm_slab_cache_t *rm_slab_cache_of(const void *p);

/* Object size in bytes (the class size). */
size_t rm_slab_cache_object_size(const rm_slab_cache_t *c);

/* The cache's name (static for the cache's lifetime). */
const char *rm_slab_cache_name(const rm_slab_cache_t *c);

/*
 * Change the magazine capacity live (objects, RM_SLAB_MAGAZINE_MIN …
 * RM_SLAB_MAGAZINE_MAX). Every thread sees the new capacity at its next free;
 * magazines holding more than the new capacity keep their objects and are
 * drained through the depot as they cycle, so nothing is lost or leaked.
 * Returns RM_OK, or RM_EINVAL (NULL cache or out of range; nothing changed).
 * Thread-safe, may be called while other threads allocate.
 */
rm_status_t rm_slab_cache_set_magazine_capacity(rm_slab_cache_t *c, uint32_t capacity);

/* Current magazine capacity in objects. Thread-safe. */
uint32_t rm_slab_cache_magazine_capacity(const rm_slab_cache_t *c);

/*
 * Return empty slabs to the OS: first the full magazines parked in the depots
 * are emptied into their slabs, then every slab with no live or cached object
 * is unmapped. Objects in other threads' loaded/previous magazines are not
 * touched (they are those threads' private caches; see rm_slab_thread_flush).
 * *released_bytes (may be NULL) receives the bytes unmapped. Returns RM_OK
 * (RM_EINVAL for a NULL cache). Thread-safe, may run while others allocate.
 */
rm_status_t rm_slab_cache_reap(rm_slab_cache_t *c, uint64_t *released_bytes);

/*
 * Hand the calling thread's magazines for c back to the depot (for a thread
 * that goes idle, or before a reap). Threads that exit do this by themselves.
 * Thread-safe.
 */
void rm_slab_cache_thread_flush(rm_slab_cache_t *c);

/* ---- statistics ---------------------------------------------------------- */

typedef struct rm_slab_node_stats {
    int node;                    /* NUMA node id (0 when NUMA is unavailable) */
    uint64_t slabs;              /* slabs whose pages were asked from this node */
    uint64_t bytes_held;         /* slabs × RM_SLAB_SLAB_BYTES */
    uint64_t objects_out;        /* objects handed from this node's slabs to magazines or callers */
    uint64_t depot_full;         /* full magazines parked in this node's depot */
    uint64_t depot_empty;        /* empty magazines parked in this node's depot */
    uint64_t depot_gets;         /* full magazines taken from this depot (alloc side) */
    uint64_t depot_puts;         /* full magazines given to this depot (free side) */
} rm_slab_node_stats_t;

typedef struct rm_slab_stats {
    char name[RM_SLAB_NAME_MAX];
    uint32_t object_size;        /* bytes */
    uint32_t magazine_capacity;  /* objects */
    uint64_t allocs;             /* successful rm_slab_alloc calls */
    uint64_t frees;              /* rm_slab_free calls of non-NULL objects (errors excluded) */
    uint64_t active_objects;     /* allocs − frees; exact when no thread is mid-call */
    uint64_t slabs;              /* slabs mapped */
    uint64_t bytes_in_use;       /* active_objects × object_size */
    uint64_t bytes_held;         /* slab bytes + metadata bytes (magazines, per-thread state) */
    uint64_t object_bytes_held;  /* slabs × objects per slab × object_size */
    uint64_t metadata_bytes;     /* slab headers and tails, magazines, per-thread state */
    uint64_t cached_objects;     /* objects parked in magazines (thread and depot) */
    uint64_t magazine_hits;      /* allocs + frees served by a thread's magazines alone */
    uint64_t magazine_misses;    /* calls that had to reach the depot or the slabs */
    double magazine_hit_ratio;   /* hits / (hits + misses); 1 when idle */
    uint64_t depot_gets;         /* full magazines taken from depots */
    uint64_t depot_puts;         /* full magazines given to depots */
    uint64_t slab_refills;       /* magazine fills straight from slabs */
    uint64_t slab_flushes;       /* magazines emptied into slabs */
    uint64_t reaped_slabs;       /* slabs unmapped by reap, total */
    uint64_t alloc_failures;     /* allocs that returned NULL */
    uint64_t double_frees;       /* debug builds: frees of objects already free */
    uint64_t foreign_frees;      /* debug builds: frees of pointers not from this cache */
    uint32_t threads;            /* threads holding magazines for this cache */
    int numa_available;          /* 1 when slabs are node-local through libnuma */
    uint32_t nodes;              /* entries used in node[] */
    rm_slab_node_stats_t node[RM_SLAB_MAX_NODES];
} rm_slab_stats_t;

/*
 * Snapshot a cache's statistics into *out. Sums per-thread counters (relaxed
 * reads; the fast paths are never blocked) and takes each node's depot lock
 * briefly. Returns RM_OK or RM_EINVAL (NULL argument). Thread-safe.
 */
rm_status_t rm_slab_cache_stats(rm_slab_cache_t *c, rm_slab_stats_t *out);

/* 1 when this build uses libnuma and the system reports NUMA, else 0. */
int rm_slab_numa_available(void);

/* ---- the per-class set --------------------------------------------------- */

/*
 * Create one cache per class ("slab-64" … "slab-4096") with default
 * magazine capacities on page source `src` (NULL = default; must outlive the
 * set). Returns RM_OK and the set in *out, or the first cache's error
 * (RM_ELIMIT, RM_ENOMEM, RM_EINVAL for NULL out) with nothing created.
 * Thread-safe.
 */
rm_status_t rm_slab_create(const rm_pagesrc_t *src, rm_slab_t **out);

/*
 * As rm_slab_create, with a page source per class: class i's slabs and
 * magazines come from src[i] (a NULL entry = the default source; each must
 * outlive the set). For a host that must tell a pointer's class from its
 * address alone (the SQLite adapter marks each class's slabs in its own
 * address map, docs/adr/0023). Returns as rm_slab_create; RM_EINVAL also for
 * a NULL src array. Thread-safe.
 */
rm_status_t rm_slab_create_sources(const rm_pagesrc_t *const src[RM_SLAB_NUM_CLASSES], rm_slab_t **out);

/* Destroy the set and its caches (see rm_slab_cache_destroy). NULL is a no-op. */
void rm_slab_destroy(rm_slab_t *s);

/* The cache of class index i (0 … 8), NULL if out of range. Never changes. */
rm_slab_cache_t *rm_slab_cache_at(rm_slab_t *s, unsigned i);

/* The cache for objects of `size` bytes (its class), NULL above 4096 or 0. */
rm_slab_cache_t *rm_slab_cache_for(rm_slab_t *s, size_t size);

/* Set the magazine capacity of the class holding class_size bytes; see
 * rm_slab_cache_set_magazine_capacity. RM_EINVAL for no such class. */
rm_status_t rm_slab_set_magazine_capacity(rm_slab_t *s, size_t class_size, uint32_t capacity);

/* Set a seed role's magazine capacity (what slab.*_magazine knobs call). */
rm_status_t rm_slab_set_role_magazine(rm_slab_t *s, rm_slab_role_t role, uint32_t capacity);

/* Apply a profile's capacities to every class (live). RM_EINVAL when unknown. */
rm_status_t rm_slab_apply_profile(rm_slab_t *s, rm_slab_profile_t profile);

/* Statistics of all classes into out[0 … RM_SLAB_NUM_CLASSES-1]. */
rm_status_t rm_slab_stats(rm_slab_t *s, rm_slab_stats_t out[RM_SLAB_NUM_CLASSES]);

/* Reap every class; *released_bytes (may be NULL) receives the total. */
rm_status_t rm_slab_reap(rm_slab_t *s, uint64_t *released_bytes);

/* rm_slab_cache_thread_flush for every class. */
void rm_slab_thread_flush(rm_slab_t *s);

#ifdef __cplusplus
}
#endif
#endif /* RUSTYMEM_SLAB_H */
