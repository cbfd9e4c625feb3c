/*
 * test_slab.c — the slab allocator, one behaviour per test.
 *
 * Multi-threaded tests (cross-thread frees, stress with a live magazine
 * resize) are sized to finish in seconds under ASan and TSan.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <pthread.h>

#include "rm_internal.h"
#include "rustymem/pagesrc.h"
#include "rustymem/slab.h"
#include "rustymem/stats.h"
#include "rustymem/sysinfo.h"

/* ---- helpers ------------------------------------------------------------- */

static rm_slab_cache_t *
make_cache(size_t size, const rm_pagesrc_t *src)
{
    rm_slab_cache_t *c = NULL;
    assert_int_equal(rm_slab_cache_create(size, NULL, src, &c), RM_OK);
    assert_non_null(c);
    return c;
}

static rm_slab_stats_t
stats_of(rm_slab_cache_t *c)
{
    rm_slab_stats_t st;
    assert_int_equal(rm_slab_cache_stats(c, &st), RM_OK);
    return st;
}

static int
cmp_ptr(const void *a, const void *b)
{
    uintptr_t x = *(const uintptr_t *)a, y = *(const uintptr_t *)b;
    return (x > y) - (x < y);
}

static uint64_t
rss_bytes(void)
{
    rm_sysinfo_t si;
    assert_int_equal(rm_sysinfo_read(NULL, &si), RM_OK);
    assert_true(si.has_rss);
    return si.rss_bytes;
}

/* ---- size classes, defaults, profiles ------------------------------------- */

static void
test_slab_classes_are_the_seed_classes(void **state)
{
    (void)state;
    static const size_t want[] = {64, 128, 192, 256, 384, 512, 1024, 2048, 4096};
    for (unsigned i = 0; i < RM_SLAB_NUM_CLASSES; i++)
        assert_int_equal(rm_slab_class_size(i), want[i]);
    assert_int_equal(rm_slab_class_size(RM_SLAB_NUM_CLASSES), 0);
}

static void
test_slab_size_class_rounds_up(void **state)
{
    (void)state;
    assert_int_equal(rm_slab_size_class(1), 64);
    assert_int_equal(rm_slab_size_class(64), 64);
    assert_int_equal(rm_slab_size_class(65), 128);
    assert_int_equal(rm_slab_size_class(129), 192);
    assert_int_equal(rm_slab_size_class(300), 384);
    assert_int_equal(rm_slab_size_class(4096), 4096);
    assert_int_equal(rm_slab_class_index(2000), 7);
}

static void
test_slab_size_class_is_zero_when_out_of_range(void **state)
{
    (void)state;
    assert_int_equal(rm_slab_size_class(0), 0);
    assert_int_equal(rm_slab_size_class(4097), 0);
    assert_int_equal(rm_slab_class_index(0), -1);
}

static void
test_slab_default_magazines_follow_seed(void **state)
{
    (void)state;
    assert_int_equal(rm_slab_default_magazine(64), 128);
    assert_int_equal(rm_slab_default_magazine(256), 96);
    assert_int_equal(rm_slab_default_magazine(2048), 16);
    assert_int_equal(rm_slab_default_magazine(512), 64);
    for (unsigned i = 0; i < RM_SLAB_NUM_CLASSES; i++) {
        size_t cls = rm_slab_class_size(i);
        if (cls == 2048)
            continue;
        assert_in_range(rm_slab_default_magazine(cls), 64, 256);
    }
    assert_int_equal(rm_slab_default_magazine(100), 0);
}

static void
test_slab_roles_map_to_seed_knobs(void **state)
{
    (void)state;
    assert_int_equal(rm_slab_role_class(RM_SLAB_ROLE_LOCK_ENTRY), 64);
    assert_int_equal(rm_slab_role_class(RM_SLAB_ROLE_SMALL_ROW), 256);
    assert_int_equal(rm_slab_role_class(RM_SLAB_ROLE_MEDIUM_ROW), 512);
    assert_int_equal(rm_slab_role_class(RM_SLAB_ROLE_INDEX_NODE), 2048);
    assert_string_equal(rm_slab_role_knob(RM_SLAB_ROLE_LOCK_ENTRY), "slab.lock_entry_magazine");
    assert_string_equal(rm_slab_role_knob(RM_SLAB_ROLE_INDEX_NODE), "slab.index_node_magazine");
    assert_null(rm_slab_role_knob(RM_SLAB_ROLE_COUNT));
}

static void
test_slab_profiles_follow_seed(void **state)
{
    (void)state;
    uint32_t v = 0;
    assert_int_equal(rm_slab_profile_magazine(RM_SLAB_PROFILE_OLTP, 64, &v), RM_OK);
    assert_int_equal(v, 256);
    assert_int_equal(rm_slab_profile_magazine(RM_SLAB_PROFILE_ROW_HEAVY, 256, &v), RM_OK);
    assert_int_equal(v, 128);
    assert_int_equal(rm_slab_profile_magazine(RM_SLAB_PROFILE_ROW_HEAVY, 512, &v), RM_OK);
    assert_int_equal(v, 64);
    assert_int_equal(rm_slab_profile_magazine(RM_SLAB_PROFILE_INDEX_HEAVY, 2048, &v), RM_OK);
    assert_int_equal(v, 32);
    /* classes a profile does not name keep their default */
    assert_int_equal(rm_slab_profile_magazine(RM_SLAB_PROFILE_OLTP, 256, &v), RM_OK);
    assert_int_equal(v, 96);
    v = 7;
    assert_int_equal(rm_slab_profile_magazine((rm_slab_profile_t)99, 64, &v), RM_EINVAL);
    assert_int_equal(v, 7);
    assert_string_equal(rm_slab_profile_name(RM_SLAB_PROFILE_INDEX_HEAVY), "index_heavy");
}

/* ---- create / alloc / free ------------------------------------------------ */

static void
test_slab_cache_create_fails_when_size_invalid(void **state)
{
    (void)state;
    rm_slab_cache_t *c = (rm_slab_cache_t *)0x1;
    assert_int_equal(rm_slab_cache_create(0, NULL, NULL, &c), RM_EINVAL);
    assert_int_equal(rm_slab_cache_create(4097, NULL, NULL, &c), RM_EINVAL);
    assert_ptr_equal(c, (rm_slab_cache_t *)0x1);
    assert_int_equal(rm_slab_cache_create(64, NULL, NULL, NULL), RM_EINVAL);
}

static void
test_slab_cache_create_fails_when_too_many_caches(void **state)
{
    (void)state;
    rm_slab_cache_t *v[RM_SLAB_MAX_CACHES + 1];
    int n = 0;
    rm_status_t st;
    while (n <= RM_SLAB_MAX_CACHES && (st = rm_slab_cache_create(64, NULL, NULL, &v[n])) == RM_OK)
        n++;
    assert_int_equal(st, RM_ELIMIT);
    assert_int_equal(n, RM_SLAB_MAX_CACHES);
    for (int i = 0; i < n; i++)
        rm_slab_cache_destroy(v[i]);
    /* the slots are free again */
    rm_slab_cache_t *c = make_cache(64, NULL);
    rm_slab_cache_destroy(c);
}

static void
test_slab_cache_create_rounds_size_to_class(void **state)
{
    (void)state;
    rm_slab_cache_t *c = make_cache(100, NULL);
    assert_int_equal(rm_slab_cache_object_size(c), 128);
    assert_string_equal(rm_slab_cache_name(c), "slab-128");
    assert_int_equal(rm_slab_cache_magazine_capacity(c), 128);
    rm_slab_cache_destroy(c);
}

static void
test_slab_alloc_returns_distinct_aligned_objects(void **state)
{
    (void)state;
    enum { N = 3000 };
    void **v = malloc(N * sizeof *v);
    assert_non_null(v);
    for (unsigned k = 0; k < RM_SLAB_NUM_CLASSES; k++) {
        size_t sz = rm_slab_class_size(k);
        size_t align = rm__is_pow2(sz) ? sz : 64;
        rm_slab_cache_t *c = make_cache(sz, NULL);
        for (int i = 0; i < N; i++) {
            v[i] = rm_slab_alloc(c);
            assert_non_null(v[i]);
            assert_int_equal((uintptr_t)v[i] % align, 0);
            memset(v[i], i & 0xff, sz);   /* the whole object is writable */
        }
        qsort(v, N, sizeof *v, cmp_ptr);
        for (int i = 1; i < N; i++)
            assert_true((uintptr_t)v[i] >= (uintptr_t)v[i - 1] + sz);   /* no overlap */
        for (int i = 0; i < N; i++)
            rm_slab_free(c, v[i]);
        rm_slab_cache_destroy(c);
    }
    free(v);
}

static void
test_slab_free_then_alloc_reuses_object(void **state)
{
    (void)state;
    rm_slab_cache_t *c = make_cache(64, NULL);
    void *a = rm_slab_alloc(c);
    rm_slab_free(c, a);
    assert_ptr_equal(rm_slab_alloc(c), a);
    rm_slab_free(c, a);
    rm_slab_cache_destroy(c);
}

static void
test_slab_free_null_is_noop(void **state)
{
    (void)state;
    rm_slab_cache_t *c = make_cache(64, NULL);
    rm_slab_free(c, NULL);
    rm_slab_stats_t st = stats_of(c);
    assert_int_equal(st.frees, 0);
    rm_slab_cache_destroy(c);
}

static void
test_slab_cache_of_returns_owner(void **state)
{
    (void)state;
    rm_slab_cache_t *a = make_cache(192, NULL), *b = make_cache(384, NULL);
    void *x = rm_slab_alloc(a), *y = rm_slab_alloc(b);
    assert_ptr_equal(rm_slab_cache_of(x), a);
    assert_ptr_equal(rm_slab_cache_of(y), b);
    rm_slab_free(a, x);
    rm_slab_free(b, y);
    rm_slab_cache_destroy(a);
    rm_slab_cache_destroy(b);
}

/* ---- statistics ------------------------------------------------------------ */

static void
test_slab_stats_count_allocs_frees_and_active(void **state)
{
    (void)state;
    enum { N = 1000 };
    void *v[N];
    rm_slab_cache_t *c = make_cache(256, NULL);
    for (int i = 0; i < N; i++)
        v[i] = rm_slab_alloc(c);
    for (int i = 0; i < N / 4; i++)
        rm_slab_free(c, v[i]);
    rm_slab_stats_t st = stats_of(c);
    assert_int_equal(st.object_size, 256);
    assert_int_equal(st.magazine_capacity, 96);
    assert_int_equal(st.allocs, N);
    assert_int_equal(st.frees, N / 4);
    assert_int_equal(st.active_objects, N - N / 4);
    assert_int_equal(st.bytes_in_use, (N - N / 4) * 256);
    assert_true(st.slabs >= 1);
    assert_true(st.object_bytes_held >= st.bytes_in_use);
    assert_true(st.bytes_held > st.object_bytes_held);
    assert_true(st.magazine_hits > 0 && st.magazine_misses > 0);
    assert_true(st.magazine_hit_ratio > 0.9 && st.magazine_hit_ratio <= 1.0);
    assert_int_equal(st.threads, 1);
    for (int i = N / 4; i < N; i++)
        rm_slab_free(c, v[i]);
    st = stats_of(c);
    assert_int_equal(st.active_objects, 0);
    rm_slab_cache_destroy(c);
}

static void
test_slab_stats_split_per_node(void **state)
{
    (void)state;
    rm_slab_cache_t *c = make_cache(512, NULL);
    void *p = rm_slab_alloc(c);
    rm_slab_stats_t st = stats_of(c);
    assert_int_equal(st.numa_available, rm_slab_numa_available());
    assert_in_range(st.nodes, 1, RM_SLAB_MAX_NODES);
    uint64_t slabs = 0, held = 0;
    for (unsigned i = 0; i < st.nodes; i++) {
        slabs += st.node[i].slabs;
        held += st.node[i].bytes_held;
    }
    assert_int_equal(slabs, st.slabs);
    assert_int_equal(held, st.slabs * RM_SLAB_SLAB_BYTES);
    rm_slab_free(c, p);
    rm_slab_cache_destroy(c);
}

static void
test_slab_reports_to_accounting_registry(void **state)
{
    (void)state;
    rm_slab_cache_t *c = make_cache(1024, NULL);
    void *v[10];
    for (int i = 0; i < 10; i++)
        v[i] = rm_slab_alloc(c);
    rm_component_usage_t comps[RM_COMPONENTS_MAX];
    size_t n = 0;
    rm_stats_components(comps, RM_COMPONENTS_MAX, &n);
    int found = 0;
    for (size_t i = 0; i < n && i < RM_COMPONENTS_MAX; i++)
        if (strcmp(comps[i].name, "slab") == 0) {
            found = 1;
            assert_int_equal(comps[i].used_bytes, 10 * 1024);
            assert_true(comps[i].held_bytes >= RM_SLAB_SLAB_BYTES);
        }
    assert_true(found);
    for (int i = 0; i < 10; i++)
        rm_slab_free(c, v[i]);
    rm_slab_cache_destroy(c);
    /* the last cache gone, the component is gone too */
    rm_stats_components(comps, RM_COMPONENTS_MAX, &n);
    for (size_t i = 0; i < n && i < RM_COMPONENTS_MAX; i++)
        assert_string_not_equal(comps[i].name, "slab");
}

/* ---- magazine capacity ------------------------------------------------------ */

static void
test_slab_set_magazine_capacity_fails_when_out_of_range(void **state)
{
    (void)state;
    rm_slab_cache_t *c = make_cache(64, NULL);
    assert_int_equal(rm_slab_cache_set_magazine_capacity(c, 0), RM_EINVAL);
    assert_int_equal(rm_slab_cache_set_magazine_capacity(c, RM_SLAB_MAGAZINE_MAX + 1), RM_EINVAL);
    assert_int_equal(rm_slab_cache_set_magazine_capacity(NULL, 10), RM_EINVAL);
    assert_int_equal(rm_slab_cache_magazine_capacity(c), 128);
    rm_slab_cache_destroy(c);
}

static void
test_slab_set_magazine_capacity_shows_in_stats(void **state)
{
    (void)state;
    rm_slab_cache_t *c = make_cache(64, NULL);
    assert_int_equal(rm_slab_cache_set_magazine_capacity(c, 256), RM_OK);
    rm_slab_stats_t st = stats_of(c);
    assert_int_equal(st.magazine_capacity, 256);
    rm_slab_cache_destroy(c);
}

static void
test_slab_magazine_resize_keeps_every_object(void **state)
{
    (void)state;
    enum { N = 5000 };
    void **v = malloc(N * sizeof *v);
    assert_non_null(v);
    rm_slab_cache_t *c = make_cache(128, NULL);
    assert_int_equal(rm_slab_cache_set_magazine_capacity(c, 256), RM_OK);
    for (int i = 0; i < N; i++)
        v[i] = rm_slab_alloc(c);
    for (int i = 0; i < N / 2; i++)
        rm_slab_free(c, v[i]);       /* magazines now hold up to 2 × 256 */
    assert_int_equal(rm_slab_cache_set_magazine_capacity(c, 1), RM_OK);
    for (int i = 0; i < N / 2; i++)
        v[i] = rm_slab_alloc(c);     /* drains the over-full magazines */
    assert_int_equal(rm_slab_cache_set_magazine_capacity(c, 17), RM_OK);
    for (int i = 0; i < N; i++)
        rm_slab_free(c, v[i]);
    rm_slab_stats_t st = stats_of(c);
    assert_int_equal(st.allocs - st.frees, st.active_objects);
    assert_int_equal(st.active_objects, 0);
    /* nothing leaked: once this thread's magazines are back, reap frees every slab */
    rm_slab_cache_thread_flush(c);
    assert_int_equal(rm_slab_cache_reap(c, NULL), RM_OK);
    st = stats_of(c);
    assert_int_equal(st.slabs, 0);
    assert_int_equal(st.cached_objects, 0);
    rm_slab_cache_destroy(c);
    free(v);
}

/* ---- reap ------------------------------------------------------------------- */

static void
test_slab_reap_returns_memory_and_rss_drops(void **state)
{
    (void)state;
    enum { N = 12000 };   /* ≈ 47 MiB of 4 KiB objects */
    void **v = malloc(N * sizeof *v);
    assert_non_null(v);
    rm_slab_cache_t *c = make_cache(4096, NULL);
    for (int i = 0; i < N; i++) {
        v[i] = rm_slab_alloc(c);
        assert_non_null(v[i]);
        memset(v[i], 1, 4096);
    }
    uint64_t peak = rss_bytes();
    for (int i = 0; i < N; i++)
        rm_slab_free(c, v[i]);
    rm_slab_cache_thread_flush(c);
    uint64_t released = 0;
    assert_int_equal(rm_slab_cache_reap(c, &released), RM_OK);
    uint64_t after = rss_bytes();
    uint64_t burst = (uint64_t)N * 4096;
    assert_true(released >= burst);
    assert_true(after + burst * 3 / 4 < peak);
    rm_slab_stats_t st = stats_of(c);
    assert_int_equal(st.slabs, 0);
    assert_true(st.reaped_slabs > 0);
    rm_slab_cache_destroy(c);
    free(v);
}

static void
test_slab_reap_keeps_slabs_with_live_objects(void **state)
{
    (void)state;
    rm_slab_cache_t *c = make_cache(64, NULL);
    void *p = rm_slab_alloc(c);
    memset(p, 0x5a, 64);
    rm_slab_cache_thread_flush(c);
    assert_int_equal(rm_slab_cache_reap(c, NULL), RM_OK);
    rm_slab_stats_t st = stats_of(c);
    assert_int_equal(st.slabs, 1);
    assert_int_equal(((unsigned char *)p)[63], 0x5a);
    rm_slab_free(c, p);
    rm_slab_cache_destroy(c);
}

/* ---- failure injection ------------------------------------------------------- */

static void
test_slab_alloc_returns_null_when_pagesrc_fails(void **state)
{
    (void)state;
    rm_pagesrc_faulty_t f;
    rm_pagesrc_faulty_init(&f, NULL);
    rm_slab_cache_t *c = make_cache(64, &f.src);
    rm_pagesrc_faulty_arm(&f, 1, 1);
    assert_null(rm_slab_alloc(c));
    rm_slab_stats_t st = stats_of(c);
    assert_int_equal(st.allocs, 0);
    assert_int_equal(st.active_objects, 0);
    assert_int_equal(st.slabs, 0);
    assert_int_equal(st.alloc_failures, 1);
    assert_int_equal(f.mapped_bytes, 0);
    rm_pagesrc_faulty_disarm(&f);
    void *p = rm_slab_alloc(c);
    assert_non_null(p);
    rm_slab_free(c, p);
    rm_slab_cache_destroy(c);
    assert_int_equal(f.mapped_bytes, 0);
}

static void
test_slab_alloc_returns_null_when_slab_map_fails(void **state)
{
    (void)state;
    rm_pagesrc_faulty_t f;
    rm_pagesrc_faulty_init(&f, NULL);
    rm_slab_cache_t *c = make_cache(4096, &f.src);
    void *p = rm_slab_alloc(c);   /* magazines and a first slab */
    assert_non_null(p);
    rm_slab_stats_t before = stats_of(c);
    /* use up the slab, then refuse the next one */
    void *v[200];
    int n = 0;
    rm_pagesrc_faulty_arm(&f, 1, 1);
    while (n < 200 && (v[n] = rm_slab_alloc(c)) != NULL)
        n++;
    assert_true(n < 200);
    rm_slab_stats_t st = stats_of(c);
    assert_int_equal(st.slabs, before.slabs);
    assert_int_equal(st.active_objects, 1 + (uint64_t)n);
    assert_int_equal(st.alloc_failures, 1);
    rm_pagesrc_faulty_disarm(&f);
    assert_non_null(v[n] = rm_slab_alloc(c));
    n++;
    for (int i = 0; i < n; i++)
        rm_slab_free(c, v[i]);
    rm_slab_free(c, p);
    assert_int_equal(stats_of(c).active_objects, 0);
    rm_slab_cache_destroy(c);
    assert_int_equal(f.mapped_bytes, 0);
}

/* ---- threads ------------------------------------------------------------------ */

typedef struct xfer {
    rm_slab_cache_t *c;
    void **slots;          /* handed from producer to consumer */
    int n;
    int ready;             /* atomic: objects published */
} xfer_t;

static void *
producer(void *arg)
{
    xfer_t *x = arg;
    for (int i = 0; i < x->n; i++) {
        void *p = rm_slab_alloc(x->c);
        assert_non_null(p);
        *(int *)p = i;
        x->slots[i] = p;
        __atomic_store_n(&x->ready, i + 1, __ATOMIC_RELEASE);
    }
    return NULL;
}

static void *
consumer(void *arg)
{
    xfer_t *x = arg;
    for (int i = 0; i < x->n; i++) {
        while (__atomic_load_n(&x->ready, __ATOMIC_ACQUIRE) <= i)
            sched_yield();
        assert_int_equal(*(int *)x->slots[i], i);
        rm_slab_free(x->c, x->slots[i]);
    }
    return NULL;
}

static void
test_slab_cross_thread_free_balances(void **state)
{
    (void)state;
    xfer_t x = {.n = 20000};
    x.c = make_cache(192, NULL);
    x.slots = calloc((size_t)x.n, sizeof *x.slots);
    assert_non_null(x.slots);
    pthread_t a, b;
    assert_int_equal(pthread_create(&b, NULL, consumer, &x), 0);
    assert_int_equal(pthread_create(&a, NULL, producer, &x), 0);
    pthread_join(a, NULL);
    pthread_join(b, NULL);
    rm_slab_stats_t st = stats_of(x.c);
    assert_int_equal(st.allocs, x.n);
    assert_int_equal(st.frees, x.n);
    assert_int_equal(st.active_objects, 0);
    assert_int_equal(st.threads, 0);   /* exited threads gave their magazines back */
    assert_true(st.depot_puts > 0);
    assert_int_equal(rm_slab_cache_reap(x.c, NULL), RM_OK);
    assert_int_equal(stats_of(x.c).slabs, 0);
    rm_slab_cache_destroy(x.c);
    free(x.slots);
}

enum { STRESS_THREADS = 4, STRESS_SLOTS = 4096, STRESS_OPS = 200000 };

typedef struct stress {
    rm_slab_cache_t *c;
    void *slots[STRESS_SLOTS];   /* shared: any thread may free what another allocated */
    int done;                    /* workers finished; atomic */
} stress_t;

typedef struct stress_arg {
    stress_t *s;
    unsigned seed;
} stress_arg_t;

static void *
stress_worker(void *arg)
{
    stress_arg_t *a = arg;
    stress_t *s = a->s;
    unsigned r = a->seed;
    size_t sz = rm_slab_cache_object_size(s->c);
    for (int i = 0; i < STRESS_OPS; i++) {
        r = r * 1103515245u + 12345u;
        size_t k = (r >> 8) % STRESS_SLOTS;
        void *mine = NULL;
        if ((r >> 4) & 1) {
            mine = rm_slab_alloc(s->c);
            assert_non_null(mine);
            memset(mine, (int)(k & 0xff), sz);
        }
        void *old = __atomic_exchange_n(&s->slots[k], mine, __ATOMIC_ACQ_REL);
        if (old) {
            /* the object still holds what its allocator wrote */
            assert_int_equal(((unsigned char *)old)[0], k & 0xff);
            assert_int_equal(((unsigned char *)old)[sz - 1], k & 0xff);
            rm_slab_free(s->c, old);
        }
    }
    __atomic_fetch_add(&s->done, 1, __ATOMIC_RELEASE);
    return NULL;
}

static void
test_slab_stress_cross_thread_with_live_resize(void **state)
{
    (void)state;
    stress_t *s = calloc(1, sizeof *s);
    assert_non_null(s);
    s->c = make_cache(64, NULL);
    pthread_t t[STRESS_THREADS];
    stress_arg_t args[STRESS_THREADS];
    for (int i = 0; i < STRESS_THREADS; i++) {
        args[i] = (stress_arg_t){s, 0x9e3779b9u * (unsigned)(i + 1)};
        assert_int_equal(pthread_create(&t[i], NULL, stress_worker, &args[i]), 0);
    }
    /* resize live, and read stats while the workers run */
    static const uint32_t caps[] = {1, 256, 7, 128, 2, 64, 200, 3};
    int rounds = 0;
    while (__atomic_load_n(&s->done, __ATOMIC_ACQUIRE) < STRESS_THREADS) {
        uint32_t cap = caps[rounds++ % 8];
        assert_int_equal(rm_slab_cache_set_magazine_capacity(s->c, cap), RM_OK);
        rm_slab_stats_t st = stats_of(s->c);
        assert_int_equal(st.magazine_capacity, cap);
        assert_true(st.allocs <= (uint64_t)STRESS_THREADS * STRESS_OPS);
        sched_yield();
    }
    assert_true(rounds > 0);
    for (int i = 0; i < STRESS_THREADS; i++)
        pthread_join(t[i], NULL);

    rm_slab_stats_t st = stats_of(s->c);
    uint64_t held = 0;
    for (int k = 0; k < STRESS_SLOTS; k++)
        if (s->slots[k])
            held++;
    assert_int_equal(st.allocs - st.frees, st.active_objects);
    assert_int_equal(st.active_objects, held);
    for (int k = 0; k < STRESS_SLOTS; k++)
        rm_slab_free(s->c, s->slots[k]);
    st = stats_of(s->c);
    assert_int_equal(st.active_objects, 0);
    rm_slab_cache_thread_flush(s->c);
    assert_int_equal(rm_slab_cache_reap(s->c, NULL), RM_OK);
    st = stats_of(s->c);
    assert_int_equal(st.slabs, 0);   /* every object came home: nothing lost */
    assert_int_equal(st.cached_objects, 0);
    rm_slab_cache_destroy(s->c);
    free(s);
}

/* Every class at once, frees through rm_slab_cache_of from any thread, while
 * the main thread reaps, switches profiles and reads stats. */
enum { MIX_THREADS = 3, MIX_SLOTS = 2048, MIX_OPS = 100000 };

typedef struct mix {
    rm_slab_t *set;
    void *slots[MIX_SLOTS];
    int done;   /* atomic */
} mix_t;

typedef struct mix_arg {
    mix_t *m;
    unsigned seed;
} mix_arg_t;

static void *
mix_run(void *arg)
{
    mix_arg_t *a = arg;
    mix_t *m = a->m;
    unsigned r = a->seed;
    for (int i = 0; i < MIX_OPS; i++) {
        r = r * 1103515245u + 12345u;
        size_t k = (r >> 8) % MIX_SLOTS;
        void *mine = NULL;
        if ((r >> 4) & 1) {
            rm_slab_cache_t *c = rm_slab_cache_at(m->set, (r >> 20) % RM_SLAB_NUM_CLASSES);
            mine = rm_slab_alloc(c);
            assert_non_null(mine);
            *(size_t *)mine = k;
        }
        void *old = __atomic_exchange_n(&m->slots[k], mine, __ATOMIC_ACQ_REL);
        if (old) {
            assert_int_equal(*(size_t *)old, k);
            rm_slab_free(rm_slab_cache_of(old), old);
        }
    }
    rm_slab_thread_flush(m->set);
    __atomic_fetch_add(&m->done, 1, __ATOMIC_RELEASE);
    return NULL;
}

static void
test_slab_stress_all_classes_with_reap_and_profiles(void **state)
{
    (void)state;
    mix_t *m = calloc(1, sizeof *m);
    assert_non_null(m);
    assert_int_equal(rm_slab_create(NULL, &m->set), RM_OK);
    pthread_t t[MIX_THREADS];
    mix_arg_t args[MIX_THREADS];
    for (int i = 0; i < MIX_THREADS; i++) {
        args[i] = (mix_arg_t){m, 0x2545F491u * (unsigned)(i + 3)};
        assert_int_equal(pthread_create(&t[i], NULL, mix_run, &args[i]), 0);
    }
    int round = 0;
    while (__atomic_load_n(&m->done, __ATOMIC_ACQUIRE) < MIX_THREADS) {
        assert_int_equal(rm_slab_apply_profile(m->set, (rm_slab_profile_t)(round++ % 4)), RM_OK);
        assert_int_equal(rm_slab_reap(m->set, NULL), RM_OK);
        rm_slab_stats_t st[RM_SLAB_NUM_CLASSES];
        assert_int_equal(rm_slab_stats(m->set, st), RM_OK);
        sched_yield();
    }
    for (int i = 0; i < MIX_THREADS; i++)
        pthread_join(t[i], NULL);
    rm_slab_stats_t st[RM_SLAB_NUM_CLASSES];
    assert_int_equal(rm_slab_stats(m->set, st), RM_OK);
    uint64_t active = 0, held = 0;
    for (unsigned k = 0; k < RM_SLAB_NUM_CLASSES; k++) {
        assert_int_equal(st[k].allocs - st[k].frees, st[k].active_objects);
        active += st[k].active_objects;
    }
    for (int k = 0; k < MIX_SLOTS; k++)
        if (m->slots[k]) {
            held++;
            rm_slab_free(rm_slab_cache_of(m->slots[k]), m->slots[k]);
        }
    assert_int_equal(active, held);
    rm_slab_thread_flush(m->set);
    assert_int_equal(rm_slab_reap(m->set, NULL), RM_OK);
    assert_int_equal(rm_slab_stats(m->set, st), RM_OK);
    for (unsigned k = 0; k < RM_SLAB_NUM_CLASSES; k++) {
        assert_int_equal(st[k].active_objects, 0);
        assert_int_equal(st[k].slabs, 0);
    }
    rm_slab_destroy(m->set);
    free(m);
}

static void *
alloc_free_and_exit(void *arg)
{
    rm_slab_cache_t *c = arg;
    void *v[300];
    for (int i = 0; i < 300; i++)
        v[i] = rm_slab_alloc(c);
    for (int i = 0; i < 300; i++)
        rm_slab_free(c, v[i]);
    return NULL;
}

static void
test_slab_thread_exit_returns_magazines(void **state)
{
    (void)state;
    rm_slab_cache_t *c = make_cache(384, NULL);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, alloc_free_and_exit, c), 0);
    pthread_join(t, NULL);
    rm_slab_stats_t st = stats_of(c);
    assert_int_equal(st.threads, 0);
    assert_int_equal(st.allocs, 300);
    assert_int_equal(st.frees, 300);
    assert_int_equal(rm_slab_cache_reap(c, NULL), RM_OK);
    assert_int_equal(stats_of(c).slabs, 0);
    rm_slab_cache_destroy(c);
}

static void
test_slab_destroy_unmaps_everything_when_objects_live(void **state)
{
    (void)state;
    rm_pagesrc_faulty_t f;
    rm_pagesrc_faulty_init(&f, NULL);
    rm_slab_cache_t *c = make_cache(2048, &f.src);
    for (int i = 0; i < 500; i++)
        assert_non_null(rm_slab_alloc(c));
    assert_true(f.mapped_bytes > 0);
    rm_slab_cache_destroy(c);
    assert_int_equal(f.mapped_bytes, 0);
}

/* ---- the per-class set ----------------------------------------------------------- */

static void
test_slab_set_has_every_class(void **state)
{
    (void)state;
    rm_slab_t *s = NULL;
    assert_int_equal(rm_slab_create(NULL, &s), RM_OK);
    for (unsigned i = 0; i < RM_SLAB_NUM_CLASSES; i++)
        assert_int_equal(rm_slab_cache_object_size(rm_slab_cache_at(s, i)), rm_slab_class_size(i));
    assert_ptr_equal(rm_slab_cache_for(s, 200), rm_slab_cache_at(s, 3));
    assert_null(rm_slab_cache_for(s, 5000));
    assert_null(rm_slab_cache_at(s, RM_SLAB_NUM_CLASSES));
    rm_slab_destroy(s);
}

/* rm_slab_create_sources: class i's slabs come from src[i] and no other
 * (the SQLite adapter tells a pointer's class by the source that mapped it). */
static void
test_slab_set_takes_a_source_per_class(void **state)
{
    (void)state;
    rm_pagesrc_faulty_t f[RM_SLAB_NUM_CLASSES];
    const rm_pagesrc_t *srcs[RM_SLAB_NUM_CLASSES];
    for (unsigned i = 0; i < RM_SLAB_NUM_CLASSES; i++) {
        rm_pagesrc_faulty_init(&f[i], NULL);
        srcs[i] = &f[i].src;
    }
    rm_slab_t *s = NULL;
    assert_int_equal(rm_slab_create_sources(NULL, &s), RM_EINVAL);
    assert_int_equal(rm_slab_create_sources(srcs, NULL), RM_EINVAL);
    assert_int_equal(rm_slab_create_sources(srcs, &s), RM_OK);
    for (unsigned i = 0; i < RM_SLAB_NUM_CLASSES; i++) {
        assert_int_equal(rm_slab_cache_object_size(rm_slab_cache_at(s, i)), rm_slab_class_size(i));
        assert_int_equal(f[i].mapped_bytes, 0);
    }
    void *p[RM_SLAB_NUM_CLASSES];
    for (unsigned i = 0; i < RM_SLAB_NUM_CLASSES; i++) {
        p[i] = rm_slab_alloc(rm_slab_cache_at(s, i));
        assert_non_null(p[i]);
        /* only class i's source has mapped anything so far beyond classes < i */
        assert_true(f[i].mapped_bytes >= (int64_t)RM_SLAB_SLAB_BYTES);
        for (unsigned j = i + 1; j < RM_SLAB_NUM_CLASSES; j++)
            assert_int_equal(f[j].mapped_bytes, 0);
        assert_ptr_equal(rm_slab_cache_of(p[i]), rm_slab_cache_at(s, i));
    }
    for (unsigned i = 0; i < RM_SLAB_NUM_CLASSES; i++)
        rm_slab_free(rm_slab_cache_at(s, i), p[i]);
    rm_slab_thread_flush(s);
    rm_slab_destroy(s);
    for (unsigned i = 0; i < RM_SLAB_NUM_CLASSES; i++)
        assert_int_equal(f[i].mapped_bytes, 0);
}

static void
test_slab_set_applies_profile_live(void **state)
{
    (void)state;
    rm_slab_t *s = NULL;
    assert_int_equal(rm_slab_create(NULL, &s), RM_OK);
    void *p = rm_slab_alloc(rm_slab_cache_for(s, 64));
    assert_int_equal(rm_slab_apply_profile(s, RM_SLAB_PROFILE_OLTP), RM_OK);
    rm_slab_stats_t st[RM_SLAB_NUM_CLASSES];
    assert_int_equal(rm_slab_stats(s, st), RM_OK);
    assert_int_equal(st[0].magazine_capacity, 256);
    assert_int_equal(st[3].magazine_capacity, 96);
    assert_int_equal(rm_slab_set_role_magazine(s, RM_SLAB_ROLE_INDEX_NODE, 32), RM_OK);
    assert_int_equal(rm_slab_cache_magazine_capacity(rm_slab_cache_for(s, 2048)), 32);
    assert_int_equal(rm_slab_set_magazine_capacity(s, 100, 32), RM_EINVAL);
    assert_int_equal(rm_slab_apply_profile(s, (rm_slab_profile_t)42), RM_EINVAL);
    assert_int_equal(rm_slab_cache_magazine_capacity(rm_slab_cache_for(s, 64)), 256);
    rm_slab_free(rm_slab_cache_for(s, 64), p);
    rm_slab_destroy(s);
}

/* ---- debug support ------------------------------------------------------------------ */

static void
test_slab_debug_fills_alloc_and_free(void **state)
{
    (void)state;
    if (!config_debug)
        skip();
    rm_slab_cache_t *c = make_cache(128, NULL);
    unsigned char *p = rm_slab_alloc(c);
    for (int i = 0; i < 128; i++)
        assert_int_equal(p[i], RM_FILL_ALLOC);
    rm_slab_free(c, p);
#if !defined(__SANITIZE_ADDRESS__)
#ifdef RM_HAVE_VALGRIND
    if (!RUNNING_ON_VALGRIND)
#endif
        /* the magazine keeps the object: every byte shows the free fill */
        assert_int_equal(p[64], RM_FILL_FREE);
#endif
    rm_slab_cache_destroy(c);
}

/* ASan (any build) and Valgrind (debug builds) see free objects as
 * inaccessible and allocated ones as accessible. */
static void
test_slab_tools_see_free_objects_as_inaccessible(void **state)
{
    (void)state;
    int checked = 0;
    rm_slab_cache_t *c = make_cache(192, NULL);
    unsigned char *p = rm_slab_alloc(c);
#if defined(__SANITIZE_ADDRESS__)
    assert_false(__asan_region_is_poisoned(p, 192));
    rm_slab_free(c, p);
    assert_true(__asan_address_is_poisoned(p));
    assert_true(__asan_address_is_poisoned(p + 191));
    assert_ptr_equal(rm_slab_alloc(c), p);
    assert_false(__asan_region_is_poisoned(p, 192));
    checked = 1;
#elif defined(RM_HAVE_VALGRIND)
    if (config_debug && RUNNING_ON_VALGRIND) {
        unsigned char vbits[16];
        assert_int_equal(VALGRIND_GET_VBITS(p, vbits, 16), 1);
        rm_slab_free(c, p);
        assert_int_equal(VALGRIND_GET_VBITS(p + 64, vbits, 16), 3);   /* unaddressable */
        assert_ptr_equal(rm_slab_alloc(c), p);
        assert_int_equal(VALGRIND_GET_VBITS(p, vbits, 16), 1);
        checked = 1;
    }
#endif
    rm_slab_free(c, p);
    rm_slab_cache_destroy(c);
    if (!checked)
        skip();
}

static void
test_slab_debug_detects_double_free(void **state)
{
    (void)state;
    if (!config_debug)
        skip();
    rm_slab_cache_t *c = make_cache(64, NULL);
    void *p = rm_slab_alloc(c);
    rm_slab_free(c, p);
    rm_slab_free(c, p);
    rm_slab_stats_t st = stats_of(c);
    assert_int_equal(st.double_frees, 1);
    assert_int_equal(st.frees, 1);
    assert_int_equal(st.active_objects, 0);
    rm_slab_cache_destroy(c);
}

static void
test_slab_debug_detects_foreign_pointer(void **state)
{
    (void)state;
    if (!config_debug)
        skip();
    rm_slab_cache_t *a = make_cache(64, NULL), *b = make_cache(64, NULL);
    void *p = rm_slab_alloc(a);
    rm_slab_free(b, p);                       /* another cache's object */
    rm_slab_free(a, (char *)p + 8);           /* inside an object */
    static char not_slab[64];
    rm_slab_free(a, not_slab);                /* not slab memory at all */
    assert_int_equal(stats_of(b).foreign_frees, 1);
    assert_int_equal(stats_of(a).foreign_frees, 2);
    assert_int_equal(stats_of(a).active_objects, 1);
    rm_slab_free(a, p);
    rm_slab_cache_destroy(a);
    rm_slab_cache_destroy(b);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_slab_classes_are_the_seed_classes),
        cmocka_unit_test(test_slab_size_class_rounds_up),
        cmocka_unit_test(test_slab_size_class_is_zero_when_out_of_range),
        cmocka_unit_test(test_slab_default_magazines_follow_seed),
        cmocka_unit_test(test_slab_roles_map_to_seed_knobs),
        cmocka_unit_test(test_slab_profiles_follow_seed),
        cmocka_unit_test(test_slab_cache_create_fails_when_size_invalid),
        cmocka_unit_test(test_slab_cache_create_fails_when_too_many_caches),
        cmocka_unit_test(test_slab_cache_create_rounds_size_to_class),
        cmocka_unit_test(test_slab_alloc_returns_distinct_aligned_objects),
        cmocka_unit_test(test_slab_free_then_alloc_reuses_object),
        cmocka_unit_test(test_slab_free_null_is_noop),
        cmocka_unit_test(test_slab_cache_of_returns_owner),
        cmocka_unit_test(test_slab_stats_count_allocs_frees_and_active),
        cmocka_unit_test(test_slab_stats_split_per_node),
        cmocka_unit_test(test_slab_reports_to_accounting_registry),
        cmocka_unit_test(test_slab_set_magazine_capacity_fails_when_out_of_range),
        cmocka_unit_test(test_slab_set_magazine_capacity_shows_in_stats),
        cmocka_unit_test(test_slab_magazine_resize_keeps_every_object),
        cmocka_unit_test(test_slab_reap_returns_memory_and_rss_drops),
        cmocka_unit_test(test_slab_reap_keeps_slabs_with_live_objects),
        cmocka_unit_test(test_slab_alloc_returns_null_when_pagesrc_fails),
        cmocka_unit_test(test_slab_alloc_returns_null_when_slab_map_fails),
        cmocka_unit_test(test_slab_cross_thread_free_balances),
        cmocka_unit_test(test_slab_stress_cross_thread_with_live_resize),
        cmocka_unit_test(test_slab_stress_all_classes_with_reap_and_profiles),
        cmocka_unit_test(test_slab_thread_exit_returns_magazines),
        cmocka_unit_test(test_slab_destroy_unmaps_everything_when_objects_live),
        cmocka_unit_test(test_slab_set_has_every_class),
        cmocka_unit_test(test_slab_set_takes_a_source_per_class),
        cmocka_unit_test(test_slab_set_applies_profile_live),
        cmocka_unit_test(test_slab_debug_fills_alloc_and_free),
        cmocka_unit_test(test_slab_tools_see_free_objects_as_inaccessible),
        cmocka_unit_test(test_slab_debug_detects_double_free),
        cmocka_unit_test(test_slab_debug_detects_foreign_pointer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
