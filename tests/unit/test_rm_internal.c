/*
 * test_rm_internal.c — the shared internals every memcore module relies on:
 * the ownership predicate behind RM_ASSERT_LOCKED (held by the calling
 * thread, not merely held), splitmix64's finaliser rm__mix64 (rm_mix.h), the
 * byte-string hash every layer shares (rm_hash_bytes in rustymem/mix.h), the
 * *_create prologue, condition-variable deadlines and the intrusive lists.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <cmocka.h>

#include "rm_internal.h"
#include "rustymem/status.h"

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t go_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t go_cv = PTHREAD_COND_INITIALIZER;
static int holding, release_it;

static void *
holder(void *arg)
{
    pthread_mutex_lock(&mu);
    pthread_mutex_lock(&go_mu);
    holding = 1;
    pthread_cond_broadcast(&go_cv);
    while (!release_it)
        pthread_cond_wait(&go_cv, &go_mu);
    pthread_mutex_unlock(&go_mu);
    pthread_mutex_unlock(&mu);
    return NULL;
}

static void
test_rm_internal_lock_owner_is_the_calling_thread(void **state)
{
    assert_false(rm__mutex_held_by_self(&mu));   /* free */
    pthread_mutex_lock(&mu);
    assert_true(rm__mutex_held_by_self(&mu));    /* mine */
    RM_ASSERT_LOCKED(&mu);                       /* and the macro agrees (debug builds check) */
    pthread_mutex_unlock(&mu);
    assert_false(rm__mutex_held_by_self(&mu));

#if defined(__GLIBC__)
    /* held by another thread: not mine (the trylock check said "held") */
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, holder, NULL), 0);
    pthread_mutex_lock(&go_mu);
    while (!holding)
        pthread_cond_wait(&go_cv, &go_mu);
    pthread_mutex_unlock(&go_mu);
    assert_false(rm__mutex_held_by_self(&mu));
    pthread_mutex_lock(&go_mu);
    release_it = 1;
    pthread_cond_broadcast(&go_cv);
    pthread_mutex_unlock(&go_mu);
    assert_int_equal(pthread_join(th, NULL), 0);
#endif
    /* a condition wait gives the lock back and takes it again: still mine */
    pthread_mutex_lock(&mu);
    struct timespec ts = {0, 0};
    pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
    (void)pthread_cond_timedwait(&cv, &mu, &ts);   /* deadline in the past: returns at once */
    assert_true(rm__mutex_held_by_self(&mu));
    pthread_mutex_unlock(&mu);
}

static void
test_rm_internal_mix64_is_splitmix64s_finaliser(void **state)
{
    /* splitmix64 seeded with 0 outputs mix(0x9e3779b97f4a7c15), then
     * mix(2·0x9e3779b97f4a7c15): the published first outputs */
    assert_int_equal(rm__mix64(0x9e3779b97f4a7c15ull), 0xe220a8397b1dcdafull);
    assert_int_equal(rm__mix64(2 * 0x9e3779b97f4a7c15ull), 0x6e789e6aa1b965f4ull);
    assert_int_equal(rm__mix64(0), 0);   /* xor-shifts and odd multiplies fix 0 */
}

static void
test_rm_internal_hash_bytes_is_fnv1a_then_mix64(void **state)
{
    (void)state;
    /* FNV-1a 64's published vectors: "" is the offset basis, "a" 0xaf63dc4c8601ec8c,
     * "foobar" 0x85944171f73967e8; the hash is rm_mix64 of them (seed 0) */
    assert_int_equal(rm_hash_bytes(NULL, 0, 0), rm_mix64(0xcbf29ce484222325ull));
    assert_int_equal(rm_hash_bytes("a", 1, 0), rm_mix64(0xaf63dc4c8601ec8cull));
    assert_int_equal(rm_hash_bytes("foobar", 6, 0), rm_mix64(0x85944171f73967e8ull));
    assert_int_equal(rm__hash_bytes("foobar", 6), rm_hash_bytes("foobar", 6, 0));
    /* the string form is the bytes form without the NUL, for any seed */
    assert_int_equal(rm_hash_str("foobar", 0), rm_hash_bytes("foobar", 6, 0));
    assert_int_equal(rm_hash_str("", 7), rm_hash_bytes("", 0, 7));
    assert_int_equal(rm_hash_str("principal", 0x1234), rm_hash_bytes("principal", 9, 0x1234));
    /* a seed moves the value; the bytes after n do not count */
    assert_true(rm_hash_bytes("foobar", 6, 1) != rm_hash_bytes("foobar", 6, 0));
    assert_int_equal(rm_hash_bytes("foobarX", 6, 0), rm_hash_bytes("foobar", 6, 0));
}

/* ---- RM__CREATE_ARGS_OR_EINVAL ------------------------------------------------- */

typedef struct {
    int size;
    const void *alloc;
} fake_config_t;

/* A create in the shape of rm_X_create: reports the config it went on with. */
static rm_status_t
fake_create(const fake_config_t *cfg, int **out, int *size_seen)
{
    RM__CREATE_ARGS_OR_EINVAL(cfg, out);
    *size_seen = cfg->size ? cfg->size : 42;   /* 0 = the default */
    return RM_OK;
}

static void
test_rm_internal_create_prologue_refuses_no_out_and_defaults_no_config(void **state)
{
    (void)state;
    int *obj = NULL, seen = -1;
    fake_config_t cfg = {.size = 7};
    assert_int_equal(fake_create(&cfg, NULL, &seen), RM_EINVAL);
    assert_int_equal(seen, -1);   /* returned before reading the config */
    assert_int_equal(fake_create(&cfg, &obj, &seen), RM_OK);
    assert_int_equal(seen, 7);
    assert_int_equal(fake_create(NULL, &obj, &seen), RM_OK);   /* NULL: a zeroed config */
    assert_int_equal(seen, 42);
}

/* ---- rm__deadline_after_ns ----------------------------------------------------- */

static int64_t
ts_ns(struct timespec t)
{
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

static void
test_rm_internal_deadline_is_now_plus_ns_normalised(void **state)
{
    (void)state;
    const uint64_t steps[] = {0, 1, 999999999ull, 1000000000ull, 1500000000ull, 3600ull * 1000000000ull + 7};
    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
        for (int clk = 0; clk < 2; clk++) {
            clockid_t id = clk ? CLOCK_MONOTONIC : CLOCK_REALTIME;
            struct timespec before, after;
            clock_gettime(id, &before);
            struct timespec dl = rm__deadline_after_ns(id, steps[i]);
            clock_gettime(id, &after);
            assert_true(dl.tv_nsec >= 0 && dl.tv_nsec < 1000000000L);
            assert_true(ts_ns(dl) >= ts_ns(before) + (int64_t)steps[i]);
            assert_true(ts_ns(dl) <= ts_ns(after) + (int64_t)steps[i]);
        }
    }
}

/* ---- RM_DLIST_* ---------------------------------------------------------------- */

typedef struct node {
    int v;
    struct node *prev, *next;   /* list a */
    struct node *bprev, *bnext; /* list b: a node may sit on two lists */
} node_t;

/* The values from head to tail, checking every back link on the way. */
static void
check_list(node_t *head, node_t *tail, const int *want, size_t n)
{
    node_t *prev = NULL;
    size_t i = 0;
    for (node_t *x = head; x; prev = x, x = x->next, i++) {
        assert_true(i < n);
        assert_int_equal(x->v, want[i]);
        assert_ptr_equal(x->prev, prev);
    }
    assert_int_equal(i, n);
    assert_ptr_equal(tail, prev);
}

static void
test_rm_internal_dlist_push_append_unlink(void **state)
{
    (void)state;
    node_t n[4] = {{.v = 0}, {.v = 1}, {.v = 2}, {.v = 3}};
    node_t *head = NULL, *tail = NULL;
    RM_DLIST_APPEND_HT(head, tail, &n[1], prev, next);
    RM_DLIST_APPEND_HT(head, tail, &n[2], prev, next);
    RM_DLIST_APPEND_HT(head, tail, &n[3], prev, next);
    check_list(head, tail, (int[]){1, 2, 3}, 3);
    RM_DLIST_UNLINK_HT(head, tail, &n[2], prev, next);   /* middle */
    check_list(head, tail, (int[]){1, 3}, 2);
    RM_DLIST_UNLINK_HT(head, tail, &n[3], prev, next);   /* last: tail moves */
    check_list(head, tail, (int[]){1}, 1);
    RM_DLIST_UNLINK_HT(head, tail, &n[1], prev, next);   /* only: both NULL */
    assert_null(head);
    assert_null(tail);

    /* head-only list, pushed at the front; n[0..2] also sit on list a above
     * (now empty) through other fields, which the b list must not touch */
    node_t *b = NULL;
    n[0].prev = n[0].next = &n[3];   /* list a's links: left alone */
    for (int i = 0; i < 3; i++)
        RM_DLIST_PUSH(b, &n[i], bprev, bnext);
    assert_ptr_equal(b, &n[2]);
    assert_null(n[2].bprev);
    assert_ptr_equal(n[2].bnext, &n[1]);
    assert_ptr_equal(n[1].bprev, &n[2]);
    assert_ptr_equal(n[0].bprev, &n[1]);
    assert_null(n[0].bnext);
    RM_DLIST_UNLINK(b, &n[2], bprev, bnext);   /* first: head moves */
    assert_ptr_equal(b, &n[1]);
    assert_null(n[1].bprev);
    RM_DLIST_UNLINK(b, &n[0], bprev, bnext);   /* last */
    assert_ptr_equal(b, &n[1]);
    assert_null(n[1].bnext);
    RM_DLIST_UNLINK(b, &n[1], bprev, bnext);
    assert_null(b);
    assert_ptr_equal(n[0].prev, &n[3]);
    assert_ptr_equal(n[0].next, &n[3]);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rm_internal_lock_owner_is_the_calling_thread),
        cmocka_unit_test(test_rm_internal_mix64_is_splitmix64s_finaliser),
        cmocka_unit_test(test_rm_internal_hash_bytes_is_fnv1a_then_mix64),
        cmocka_unit_test(test_rm_internal_create_prologue_refuses_no_out_and_defaults_no_config),
        cmocka_unit_test(test_rm_internal_deadline_is_now_plus_ns_normalised),
        cmocka_unit_test(test_rm_internal_dlist_push_append_unlink),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
