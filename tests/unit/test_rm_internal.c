/*
 * test_rm_internal.c — the shared internals every memcore module relies on:
 * the ownership predicate behind RM_ASSERT_LOCKED (held by the calling
 * thread, not merely held) and splitmix64's finaliser rm__mix64 (rm_mix.h).
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "rm_internal.h"

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

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rm_internal_lock_owner_is_the_calling_thread),
        cmocka_unit_test(test_rm_internal_mix64_is_splitmix64s_finaliser),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
