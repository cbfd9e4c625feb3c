/*
 * test_bufpool_pagetable.c — the buffer pool's lock-free resident page table
 * (memcore/src/bufpool_pagetable.c) on its own: capacity rounding, linear
 * probing from the home slot, wrap-around at the end of the table,
 * backward-shift deletion (no tombstones) and the bounded probe of a full
 * table. Keys are chosen by their home slot, so every expected slot layout
 * below is worked out by hand from the probing rule: an entry sits at its home
 * or at the first free slot after it, and a removal pulls back each following
 * entry whose home does not lie in the gap it would jump.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "bufpool_internal.h"

/* frame index → key: the table stores frame + 1 and asks the pool for keys */
#define NFRAMES 128
static uint64_t frame_keys[NFRAMES];

static uint64_t
key_of(void *ctx, uint32_t frame)
{
    (void)ctx;
    return frame_keys[frame];
}

/* The n-th key (n = 0, 1, ...) whose home slot in t is `home`. */
static uint64_t
key_homed(const rm__bp_ptab_t *t, size_t home, unsigned n)
{
    for (uint64_t k = 1;; k++)
        if (rm__bp_ptab_home(t, k) == home && n-- == 0)
            return k;
}

static uint32_t
slot(const rm__bp_ptab_t *t, size_t i)
{
    return atomic_load(&t->slots[i]);   /* frame + 1, 0 = empty */
}

static void
test_pagetable_capacity_is_a_power_of_two_of_at_least_64(void **state)
{
    (void)state;
    assert_int_equal(rm__bp_ptab_capacity(0), 64);
    assert_int_equal(rm__bp_ptab_capacity(64), 64);
    assert_int_equal(rm__bp_ptab_capacity(65), 128);
    assert_int_equal(rm__bp_ptab_capacity(1000), 1024);
    assert_int_equal(rm__bp_ptab_capacity(4 * 1024), 4096);   /* a pool of 1 024 frames: 4 × frames */
    rm__bp_ptab_t *t = rm__bp_ptab_create(100, NULL);
    assert_non_null(t);
    assert_int_equal(t->mask, 127);
    assert_int_equal(t->bytes, sizeof *t + 128 * sizeof(uint32_t));
    for (size_t i = 0; i <= t->mask; i++)
        assert_int_equal(slot(t, i), 0);   /* zeroed: every slot empty */
    rm__bp_ptab_destroy(t, NULL);
}

static void
test_pagetable_collisions_probe_forward_and_removal_shifts_back(void **state)
{
    (void)state;
    rm__bp_ptab_t *t = rm__bp_ptab_create(64, NULL);
    assert_non_null(t);
    /* frames 0, 1, 2 homed at slot 5; frame 3 homed at slot 6 */
    frame_keys[0] = key_homed(t, 5, 0);
    frame_keys[1] = key_homed(t, 5, 1);
    frame_keys[2] = key_homed(t, 5, 2);
    frame_keys[3] = key_homed(t, 6, 0);
    for (uint32_t f = 0; f < 4; f++)
        rm__bp_ptab_insert_locked(t, frame_keys[f], f);
    /* 5: f0 (home); 6: f1 (5 taken); 7: f2; 8: f3 (6 and 7 taken) */
    assert_int_equal(slot(t, 4), 0);
    assert_int_equal(slot(t, 5), 0 + 1);
    assert_int_equal(slot(t, 6), 1 + 1);
    assert_int_equal(slot(t, 7), 2 + 1);
    assert_int_equal(slot(t, 8), 3 + 1);
    assert_int_equal(slot(t, 9), 0);
    for (uint32_t f = 0; f < 4; f++)
        assert_int_equal(rm__bp_ptab_lookup(t, frame_keys[f], key_of, NULL), f);
    /* a key homed at 5 that is absent: probes 5..8, stops at the empty 9 */
    assert_int_equal(rm__bp_ptab_lookup(t, key_homed(t, 5, 3), key_of, NULL), RM_BP_NIL);
    /* a key homed at the empty slot 20: not found at once */
    assert_int_equal(rm__bp_ptab_lookup(t, key_homed(t, 20, 0), key_of, NULL), RM_BP_NIL);

    /* remove f1 (slot 6): f2 (home 5) moves back to 6; f3 (home 6) moves to 7; 8 empties */
    rm__bp_ptab_remove_locked(t, frame_keys[1], 1, key_of, NULL);
    assert_int_equal(slot(t, 5), 0 + 1);
    assert_int_equal(slot(t, 6), 2 + 1);
    assert_int_equal(slot(t, 7), 3 + 1);
    assert_int_equal(slot(t, 8), 0);
    assert_int_equal(rm__bp_ptab_lookup(t, frame_keys[1], key_of, NULL), RM_BP_NIL);
    assert_int_equal(rm__bp_ptab_lookup(t, frame_keys[2], key_of, NULL), 2);
    assert_int_equal(rm__bp_ptab_lookup(t, frame_keys[3], key_of, NULL), 3);

    /* remove f0 (slot 5, at its home): f2 (home 5) moves to 5; f3 (home 6) moves to 6 */
    rm__bp_ptab_remove_locked(t, frame_keys[0], 0, key_of, NULL);
    assert_int_equal(slot(t, 5), 2 + 1);
    assert_int_equal(slot(t, 6), 3 + 1);
    assert_int_equal(slot(t, 7), 0);

    /* removing what is not there changes nothing */
    rm__bp_ptab_remove_locked(t, frame_keys[0], 0, key_of, NULL);
    assert_int_equal(slot(t, 5), 2 + 1);
    assert_int_equal(slot(t, 6), 3 + 1);
    rm__bp_ptab_destroy(t, NULL);
}

static void
test_pagetable_entry_at_its_home_after_a_gap_stays_put(void **state)
{
    (void)state;
    rm__bp_ptab_t *t = rm__bp_ptab_create(64, NULL);
    assert_non_null(t);
    /* f0 home 10 → 10; f1 home 10 → 11; f2 home 11 → 12 */
    frame_keys[0] = key_homed(t, 10, 0);
    frame_keys[1] = key_homed(t, 10, 1);
    frame_keys[2] = key_homed(t, 11, 0);
    for (uint32_t f = 0; f < 3; f++)
        rm__bp_ptab_insert_locked(t, frame_keys[f], f);
    assert_int_equal(slot(t, 10), 1);
    assert_int_equal(slot(t, 11), 2);
    assert_int_equal(slot(t, 12), 3);
    /* remove f0 (slot 10): f1 (home 10) moves back to 10; the gap is then 11,
     * f2's home, so f2 moves back to 11 too */
    rm__bp_ptab_remove_locked(t, frame_keys[0], 0, key_of, NULL);
    assert_int_equal(slot(t, 10), 1 + 1);
    assert_int_equal(slot(t, 11), 2 + 1);
    assert_int_equal(slot(t, 12), 0);
    /* now f3 home 12 → 12; remove f2 (slot 11): f3's home 12 lies in (11, 12], it stays */
    frame_keys[3] = key_homed(t, 12, 0);
    rm__bp_ptab_insert_locked(t, frame_keys[3], 3);
    assert_int_equal(slot(t, 12), 3 + 1);
    rm__bp_ptab_remove_locked(t, frame_keys[2], 2, key_of, NULL);
    assert_int_equal(slot(t, 11), 0);
    assert_int_equal(slot(t, 12), 3 + 1);
    assert_int_equal(rm__bp_ptab_lookup(t, frame_keys[3], key_of, NULL), 3);
    rm__bp_ptab_destroy(t, NULL);
}

static void
test_pagetable_probing_wraps_at_the_end(void **state)
{
    (void)state;
    rm__bp_ptab_t *t = rm__bp_ptab_create(64, NULL);
    assert_non_null(t);
    /* three keys homed at the last slot (63): 63, then 0, then 1 */
    for (uint32_t f = 0; f < 3; f++) {
        frame_keys[f] = key_homed(t, 63, f);
        rm__bp_ptab_insert_locked(t, frame_keys[f], f);
    }
    assert_int_equal(slot(t, 63), 1);
    assert_int_equal(slot(t, 0), 2);
    assert_int_equal(slot(t, 1), 3);
    assert_int_equal(rm__bp_ptab_lookup(t, frame_keys[2], key_of, NULL), 2);
    /* remove f0 (slot 63): f1 (home 63) moves from 0 to 63, f2 from 1 to 0 */
    rm__bp_ptab_remove_locked(t, frame_keys[0], 0, key_of, NULL);
    assert_int_equal(slot(t, 63), 1 + 1);
    assert_int_equal(slot(t, 0), 2 + 1);
    assert_int_equal(slot(t, 1), 0);
    rm__bp_ptab_destroy(t, NULL);
}

static void
test_pagetable_lookup_in_a_full_table_is_bounded(void **state)
{
    (void)state;
    rm__bp_ptab_t *t = rm__bp_ptab_create(64, NULL);
    assert_non_null(t);
    /* fill every one of the 64 slots (the pool never lets it pass half: this is the
     * reader's bound for a table a racing shift left without an empty slot in reach) */
    for (uint32_t f = 0; f < 64; f++) {
        frame_keys[f] = key_homed(t, f, 0);
        rm__bp_ptab_insert_locked(t, frame_keys[f], f);
    }
    for (uint32_t f = 0; f < 64; f++) {
        assert_int_equal(slot(t, f), f + 1);   /* each at its home */
        assert_int_equal(rm__bp_ptab_lookup(t, frame_keys[f], key_of, NULL), f);
    }
    /* absent: 64 probes, then NIL (no endless loop) */
    assert_int_equal(rm__bp_ptab_lookup(t, key_homed(t, 7, 1), key_of, NULL), RM_BP_NIL);
    rm__bp_ptab_destroy(t, NULL);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pagetable_capacity_is_a_power_of_two_of_at_least_64),
        cmocka_unit_test(test_pagetable_collisions_probe_forward_and_removal_shifts_back),
        cmocka_unit_test(test_pagetable_entry_at_its_home_after_a_gap_stays_put),
        cmocka_unit_test(test_pagetable_probing_wraps_at_the_end),
        cmocka_unit_test(test_pagetable_lookup_in_a_full_table_is_bounded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
