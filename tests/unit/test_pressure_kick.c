/*
 * test_pressure_kick.c — waking the pressure sampler between its periods
 * (rm_pressure_kick: a memory cgroup notification fired) and re-judging the
 * level after a budget change (rm_pressure_rejudge). ADR 0012 §5.
 * The sampler runs over recorded cgroupfs files (tests/data/sysinfo/v1_limit);
 * levels are driven with injected samples (rm_pressure_feed).
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "rustymem/pressure.h"

#define GIB (1ull << 30)
#define SEC 1000000000ull

static rm_status_t
feed(rm_pressure_t *p, uint64_t t_sec, double usage)
{
    rm_pressure_sample_t s;
    memset(&s, 0, sizeof s);
    s.t_ns = t_sec * SEC;
    s.used_bytes = (uint64_t)(usage * (double)GIB);
    s.budget_bytes = GIB;
    return rm_pressure_feed(p, &s);
}

static rm_pressure_level_t
level(rm_pressure_t *p)
{
    rm_pressure_forecast_t fc;
    rm_pressure_get_forecast(p, &fc);
    return fc.level;
}

static uint64_t
samples(rm_pressure_t *p)
{
    rm_pressure_stats_t st;
    rm_pressure_get_stats(p, &st);
    return st.samples + st.samples_dropped;
}

static uint64_t
now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* a sampler with a 60 s period over the recorded v1 files, its first tick done */
static rm_pressure_t *
slow_sampler(char *proc, char *cg)
{
    const char *base = getenv("RM_TEST_DATA");
    snprintf(proc, 512, "%s/sysinfo/v1_limit/proc", base ? base : "tests/data");
    snprintf(cg, 512, "%s/sysinfo/v1_limit/cgroup", base ? base : "tests/data");
    rm_sysinfo_paths_t paths = {proc, cg};
    rm_pressure_config_t c;
    rm_pressure_config_default(&c);
    c.period_ms = 60000;
    rm_pressure_t *p = NULL;
    assert_int_equal(rm_pressure_create(&c, &paths, &p), RM_OK);
    assert_int_equal(rm_pressure_start(p), RM_OK);
    for (int i = 0; i < 1000 && samples(p) < 1; i++)   /* bounded wait for the first tick */
        usleep(10000);
    assert_int_equal(samples(p), 1);
    return p;
}

static void
test_pressure_kick_wakes_the_sampler_before_its_period(void **state)
{
    (void)state;
    char proc[512], cg[512];
    rm_pressure_t *p = slow_sampler(proc, cg);
    for (int k = 0; k < 3; k++) {
        uint64_t before = samples(p), t0 = now_ms();
        rm_pressure_kick(p);
        /* bounded at 20 s (a loaded box), far under the 60 s period it would otherwise wait */
        while (samples(p) == before && now_ms() - t0 < 20000)
            usleep(2000);
        assert_int_equal(samples(p), before + 1);
        usleep((RM_PRESSURE_KICK_MIN_MS + 20) * 1000);
        assert_int_equal(samples(p), before + 1);   /* one kick, one tick */
    }
    rm_pressure_stop(p);
    rm_pressure_kick(p);   /* not running: no effect, no crash */
    rm_pressure_kick(NULL);
    rm_pressure_destroy(p);
}

static void *
kicker(void *arg)
{
    rm_pressure_t *p = arg;
    uint64_t t0 = now_ms();
    while (now_ms() - t0 < 1000)
        rm_pressure_kick(p);
    return NULL;
}

static void
test_pressure_kick_storm_is_rate_limited(void **state)
{
    (void)state;
    char proc[512], cg[512];
    rm_pressure_t *p = slow_sampler(proc, cg);
    uint64_t before = samples(p), t0 = now_ms();
    pthread_t th[4];
    for (int i = 0; i < 4; i++)
        assert_int_equal(pthread_create(&th[i], NULL, kicker, p), 0);
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    uint64_t elapsed = now_ms() - t0, ticks = samples(p) - before;
    /* millions of kicks in ~1 s: at most one tick per RM_PRESSURE_KICK_MIN_MS (+1 for the edges) */
    printf("# %llu ticks in %llu ms of kicks from 4 threads\n", (unsigned long long)ticks,
           (unsigned long long)elapsed);
    assert_true(ticks >= 1);
    assert_true(ticks <= elapsed / RM_PRESSURE_KICK_MIN_MS + 1);
    rm_pressure_stop(p);
    rm_pressure_destroy(p);
}

static void
test_pressure_rejudge_leaves_a_stale_level_at_once(void **state)
{
    (void)state;
    rm_pressure_t *p = NULL;
    assert_int_equal(rm_pressure_create(NULL, NULL, &p), RM_OK);
    uint64_t t = 1;
    feed(p, t++, 0.20);
    feed(p, t++, 0.98);   /* one stale sample (the old pool against the new limit) */
    assert_int_equal(level(p), RM_PRESSURE_OOM_PREVENTION);
    feed(p, t++, 0.02);   /* the dwell holds it */
    assert_int_equal(level(p), RM_PRESSURE_OOM_PREVENTION);
    rm_pressure_rejudge(p);
    uint64_t cur = rm_pressure_events_head(p);
    feed(p, t++, 0.02);
    assert_int_equal(level(p), RM_PRESSURE_MONITOR);
    rm_pressure_event_t ev[8];
    size_t n = 0;
    rm_pressure_events_read(p, &cur, ev, 8, &n, NULL);
    size_t changes = 0;
    for (size_t i = 0; i < n; i++)
        if (ev[i].kind == RM_EVENT_LEVEL_CHANGE) {   /* one step, straight down (alerts clear too) */
            changes++;
            assert_int_equal(ev[i].prev_level, RM_PRESSURE_OOM_PREVENTION);
            assert_int_equal(ev[i].level, RM_PRESSURE_MONITOR);
        }
    assert_int_equal(changes, 1);

    /* once: the next high sample and a dip after it get the dwell again */
    feed(p, t++, 0.86);
    assert_int_equal(level(p), RM_PRESSURE_AGGRESSIVE);
    feed(p, t++, 0.30);
    assert_int_equal(level(p), RM_PRESSURE_AGGRESSIVE);

    /* with the ratio hysteresis: usage just under a line keeps that level */
    rm_pressure_rejudge(p);
    feed(p, t++, 0.77);   /* under high (0.80) but within its 0.05 hysteresis */
    assert_int_equal(level(p), RM_PRESSURE_AGGRESSIVE);

    /* a rejudge consumed by a high sample does not carry over to the next dip */
    feed(p, t++, 0.97);
    assert_int_equal(level(p), RM_PRESSURE_OOM_PREVENTION);
    rm_pressure_rejudge(p);
    feed(p, t++, 0.97);
    feed(p, t++, 0.10);
    assert_int_equal(level(p), RM_PRESSURE_OOM_PREVENTION);
    rm_pressure_rejudge(NULL);
    rm_pressure_destroy(p);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pressure_kick_wakes_the_sampler_before_its_period),
        cmocka_unit_test(test_pressure_kick_storm_is_rate_limited),
        cmocka_unit_test(test_pressure_rejudge_leaves_a_stale_level_at_once),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
