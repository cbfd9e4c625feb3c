/*
 * test_bufpool_stress.c — the buffer pool under concurrency: shared and
 * exclusive pins, misses and evictions on several threads while another
 * thread resizes the pool, forces emergency evictions and checkpoints, with
 * the background writer running. Meant for TSan (build with
 * -DRM_SANITIZE=thread) as well as a plain build. Every page carries a
 * counter and a pattern derived from it; readers check the pattern, and at
 * the end every page's counter must equal the increments made to it — no
 * update lost by eviction, resize or write-back.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>

#include "rustymem/bufpool.h"

#define FILES 2
#define PAGES 96
#define THREADS 3
#define OPS_PER_THREAD 40000

typedef struct shared {
    rm_bufpool_t *bp;
    uint32_t file[FILES];
    _Atomic uint64_t incs[FILES][PAGES];
    _Atomic int stop;
    _Atomic uint64_t errors;
} shared_t;

static uint64_t
rnd(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static int
page_consistent(const uint64_t *d, size_t words)
{
    for (size_t i = 1; i < words; i++)
        if (d[i] != d[0] * 31 + i)
            return 0;
    return 1;
}

static void *
worker(void *arg)
{
    shared_t *sh = arg;
    uint64_t seed = (uint64_t)(uintptr_t)pthread_self() | 1;
    size_t words = rm_bufpool_usable_bytes(sh->bp) / 8;
    for (int op = 0; op < OPS_PER_THREAD; op++) {
        uint32_t fi = (uint32_t)(rnd(&seed) % FILES);
        /* skewed: half the accesses go to 16 hot pages */
        uint64_t p = (rnd(&seed) & 1) ? rnd(&seed) % 16 : rnd(&seed) % PAGES;
        int excl = rnd(&seed) % 4 == 0;
        rm_bufpool_frame_t *fr;
        rm_status_t st = rm_bufpool_pin(sh->bp, sh->file[fi], p,
                                        excl ? RM_BUFPOOL_EXCLUSIVE : RM_BUFPOOL_SHARED, &fr);
        if (st == RM_EBUSY)
            continue;   /* every frame pinned during a deep shrink: allowed */
        if (st != RM_OK) {
            if (atomic_fetch_add(&sh->errors, 1) == 0)
                fprintf(stderr, "first error: pin %s\n", rm_err_name(st));
            continue;
        }
        uint64_t *d = rm_bufpool_frame_data(fr);
        if (!page_consistent(d, words) && !(d[0] == 0 && d[1] == 0) && atomic_fetch_add(&sh->errors, 1) == 0)
            fprintf(stderr, "first error: inconsistent page\n");
        if (excl) {
            uint64_t v = d[0] + 1;
            d[0] = v;
            for (size_t i = 1; i < words; i++)
                d[i] = v * 31 + i;
            atomic_fetch_add(&sh->incs[fi][p], 1);
        }
        rm_bufpool_unpin(sh->bp, fr, excl ? RM_BUFPOOL_EXCLUSIVE : RM_BUFPOOL_SHARED, excl);
    }
    return NULL;
}

static void *
resizer(void *arg)
{
    shared_t *sh = arg;
    static const size_t sizes[] = {24, 64, 16, 128, 40, 96};
    for (unsigned i = 0; !atomic_load(&sh->stop); i++) {
        rm_status_t st = rm_bufpool_resize(sh->bp, sizes[i % 6]);
        if (st != RM_OK && st != RM_EBUSY && atomic_fetch_add(&sh->errors, 1) == 0)
            fprintf(stderr, "first error: resize %s\n", rm_err_name(st));
        if (i % 3 == 0) {
            uint64_t ev;
            if (rm_bufpool_evict(sh->bp, 0.25, &ev) != RM_OK)
                atomic_fetch_add(&sh->errors, 1);
        }
        if (i % 4 == 0 && rm_bufpool_checkpoint(sh->bp) != RM_OK)
            atomic_fetch_add(&sh->errors, 1);
        if (i % 5 == 0)
            (void)rm_bufpool_set_eviction_boost(sh->bp, (i / 5) % 2 ? RM_BUFPOOL_BOOST_MAX : 0);
        rm_bufpool_stats_t s;
        (void)rm_bufpool_stats(sh->bp, &s);
    }
    return NULL;
}

static void
test_bufpool_stress_pins_misses_resizes_lose_nothing(void **state)
{
    (void)state;
    char dir[] = "/tmp/rm_bufpool_stress_XXXXXX";
    assert_non_null(mkdtemp(dir));
    rm_bufpool_config_t c;
    rm_bufpool_config_default(&c);
    c.dir = dir;
    c.num_frames = 48;
    c.durable = 0;
    c.writer_interval_ms = 2;
    shared_t *sh = calloc(1, sizeof *sh);
    assert_int_equal(rm_bufpool_create(&c, &sh->bp), RM_OK);
    for (int i = 0; i < FILES; i++) {
        char name[16];
        snprintf(name, sizeof name, "f%d", i);
        assert_int_equal(rm_bufpool_open_file(sh->bp, name, &sh->file[i]), RM_OK);
    }
    pthread_t th[THREADS], rz;
    for (int i = 0; i < THREADS; i++)
        assert_int_equal(pthread_create(&th[i], NULL, worker, sh), 0);
    assert_int_equal(pthread_create(&rz, NULL, resizer, sh), 0);
    for (int i = 0; i < THREADS; i++)
        pthread_join(th[i], NULL);
    atomic_store(&sh->stop, 1);
    pthread_join(rz, NULL);
    assert_int_equal(atomic_load(&sh->errors), 0);

    /* every increment survived: check through the pool, then after a reopen */
    for (int pass = 0; pass < 2; pass++) {
        if (pass == 1) {
            assert_int_equal(rm_bufpool_destroy(sh->bp), RM_OK);
            c.start_writer = 0;
            assert_int_equal(rm_bufpool_create(&c, &sh->bp), RM_OK);
            for (int i = 0; i < FILES; i++) {
                char name[16];
                snprintf(name, sizeof name, "f%d", i);
                assert_int_equal(rm_bufpool_open_file(sh->bp, name, &sh->file[i]), RM_OK);
            }
        }
        for (int fi = 0; fi < FILES; fi++)
            for (uint64_t p = 0; p < PAGES; p++) {
                rm_bufpool_frame_t *fr;
                assert_int_equal(rm_bufpool_pin(sh->bp, sh->file[fi], p, RM_BUFPOOL_SHARED, &fr), RM_OK);
                const uint64_t *d = rm_bufpool_frame_data(fr);
                assert_int_equal(d[0], atomic_load(&sh->incs[fi][p]));
                rm_bufpool_unpin(sh->bp, fr, RM_BUFPOOL_SHARED, 0);
            }
    }
    rm_bufpool_stats_t s;
    assert_int_equal(rm_bufpool_stats(sh->bp, &s), RM_OK);
    assert_int_equal(s.checksum_failures, 0);
    assert_int_equal(s.pinned, 0);
    assert_int_equal(rm_bufpool_destroy(sh->bp), RM_OK);
    free(sh);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bufpool_stress_pins_misses_resizes_lose_nothing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
