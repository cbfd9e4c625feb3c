/*
 * pool_fixture.h — helpers the unit tests that run a real buffer pool share:
 * a temporary directory and a pool on it (no fsync, so tests stay fast).
 * Include after <cmocka.h>.
 */
#ifndef RUSTYMEM_TESTS_POOL_FIXTURE_H
#define RUSTYMEM_TESTS_POOL_FIXTURE_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rustymem/bufpool.h"

/* A new directory /tmp/<prefix>XXXXXX (malloc'd path; free with remove_dir). */
static inline char *
make_dir_named(const char *prefix)
{
    char *d = malloc(strlen(prefix) + sizeof "/tmp/XXXXXX");
    assert_non_null(d);
    sprintf(d, "/tmp/%sXXXXXX", prefix);
    assert_non_null(mkdtemp(d));
    return d;
}

/* Remove the directory and everything in it; frees the path. */
static inline void
remove_dir(char *d)
{
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", d);
    assert_int_equal(system(cmd), 0);
    free(d);
}

/* A pool of `frames` frames of `page_size` bytes (0 = 4096) over dir, not
 * durable, with or without the background writer. */
static inline rm_bufpool_t *
open_pool_sized(const char *dir, size_t frames, size_t page_size, int writer)
{
    rm_bufpool_config_t c;
    rm_bufpool_config_default(&c);
    c.dir = dir;
    c.num_frames = frames;
    c.page_size = page_size;
    c.durable = 0;
    c.start_writer = writer;
    rm_bufpool_t *bp = NULL;
    assert_int_equal(rm_bufpool_create(&c, &bp), RM_OK);
    return bp;
}

#endif /* RUSTYMEM_TESTS_POOL_FIXTURE_H */
