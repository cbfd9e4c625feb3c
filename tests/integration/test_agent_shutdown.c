/*
 * test_agent_shutdown.c — SIGTERM during load: the real rustymemd, 16
 * threads of unary calls and 4 WatchStats streams; the agent must exit 0
 * within 5 s and every call must end with a status (no hang, no deadline).
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "agent_proc.h"
#include "client.h"
#include "rustymem/v1/memory.pb-c.h"

#define N_UNARY 16
#define N_STREAMS 4

typedef struct load {
    rm_client_t *client;
    int stop; /* atomic */
    int counts[17];          /* per status code; guarded by mu */
    int streams_ended[17];
    pthread_mutex_t mu;
} load_t;

static void *
unary_loop(void *arg)
{
    load_t *l = arg;
    while (!__atomic_load_n(&l->stop, __ATOMIC_ACQUIRE)) {
        Rustymem__V1__GetMemoryStatsRequest req = RUSTYMEM__V1__GET_MEMORY_STATS_REQUEST__INIT;
        ProtobufCMessage *resp;
        rm_call_status_t st;
        grpc_status_code c = rm_client_unary(l->client, "/rustymem.v1.MemoryService/GetMemoryStats", &req.base,
                                             &rustymem__v1__memory_stats__descriptor, &resp, &st);
        if (resp)
            protobuf_c_message_free_unpacked(resp, NULL);
        pthread_mutex_lock(&l->mu);
        l->counts[c]++;
        pthread_mutex_unlock(&l->mu);
        if (c == GRPC_STATUS_UNAVAILABLE)
            break; /* the agent is gone: every further call fails the same way */
    }
    return NULL;
}

static void *
stream_loop(void *arg)
{
    load_t *l = arg;
    Rustymem__V1__WatchStatsRequest req = RUSTYMEM__V1__WATCH_STATS_REQUEST__INIT;
    req.interval_ms = 100;
    rm_client_stream_t *s;
    rm_call_status_t st;
    if (rm_client_stream_open(l->client, "/rustymem.v1.MemoryService/WatchStats", &req.base, 20000, &s, &st) !=
        GRPC_STATUS_OK)
        return NULL;
    ProtobufCMessage *m;
    while (rm_client_stream_next(s, &rustymem__v1__memory_stats__descriptor, &m) == 1)
        protobuf_c_message_free_unpacked(m, NULL);
    rm_client_stream_finish(s, &st);
    pthread_mutex_lock(&l->mu);
    l->streams_ended[st.code]++;
    pthread_mutex_unlock(&l->mu);
    return NULL;
}

static void
test_agent_sigterm_under_load_exits_zero_within_5s(void **state)
{
    (void)state;
    agent_proc_t a;
    const char *extra[] = {"--grace-ms", "2000", NULL};
    assert_int_equal(agent_start(&a, extra), 0);

    load_t l = {0};
    pthread_mutex_init(&l.mu, NULL);
    char err[128];
    rm_client_opts_t co = {.target = a.addr, .timeout_ms = 10000};
    assert_int_equal(rm_client_create(&co, &l.client, err, sizeof err), RM_OK);
    pthread_t th[N_UNARY + N_STREAMS];
    for (int i = 0; i < N_UNARY; i++)
        pthread_create(&th[i], NULL, unary_loop, &l);
    for (int i = 0; i < N_STREAMS; i++)
        pthread_create(&th[N_UNARY + i], NULL, stream_loop, &l);
    usleep(1000000);

    double took = 0;
    int st = agent_stop(&a, SIGTERM, 5.0, &took);
    __atomic_store_n(&l.stop, 1, __ATOMIC_RELEASE);
    for (int i = 0; i < N_UNARY + N_STREAMS; i++)
        pthread_join(th[i], NULL);
    rm_client_destroy(l.client);

    fprintf(stderr, "agent exited after %.2f s; calls OK=%d UNAVAILABLE=%d CANCELLED=%d DEADLINE=%d; "
                    "streams ended UNAVAILABLE=%d CANCELLED=%d OK=%d\n",
            took, l.counts[GRPC_STATUS_OK], l.counts[GRPC_STATUS_UNAVAILABLE], l.counts[GRPC_STATUS_CANCELLED],
            l.counts[GRPC_STATUS_DEADLINE_EXCEEDED], l.streams_ended[GRPC_STATUS_UNAVAILABLE],
            l.streams_ended[GRPC_STATUS_CANCELLED], l.streams_ended[GRPC_STATUS_OK]);
    assert_int_not_equal(st, -1);               /* exited by itself */
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
    assert_true(took < 5.0);
    assert_true(l.counts[GRPC_STATUS_OK] > 0);
    /* No call was left hanging until its deadline, and none failed oddly. */
    assert_int_equal(l.counts[GRPC_STATUS_DEADLINE_EXCEEDED], 0);
    int total = 0, expected = l.counts[GRPC_STATUS_OK] + l.counts[GRPC_STATUS_UNAVAILABLE] +
                              l.counts[GRPC_STATUS_CANCELLED];
    for (int i = 0; i < 17; i++)
        total += l.counts[i];
    assert_int_equal(total, expected);
    /* Every stream got its final status. */
    int ended = 0;
    for (int i = 0; i < 17; i++)
        ended += l.streams_ended[i];
    assert_int_equal(ended, N_STREAMS);
    assert_int_equal(l.streams_ended[GRPC_STATUS_DEADLINE_EXCEEDED], 0);
}

static void
test_agent_second_instance_on_same_data_dir_fails(void **state)
{
    (void)state;
    agent_proc_t a;
    assert_int_equal(agent_start(&a, NULL), 0);
    char cmd[PATH_MAX * 2];
    snprintf(cmd, sizeof cmd, "%s/agents/node/rustymemd --listen 127.0.0.1:0 --data-dir %s/data 2>/dev/null",
             getenv("RM_BUILD_DIR"), a.dir);
    int rc = system(cmd);
    assert_true(WIFEXITED(rc));
    assert_int_equal(WEXITSTATUS(rc), 1);
    int st = agent_stop(&a, SIGINT, 5.0, NULL);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_agent_sigterm_under_load_exits_zero_within_5s),
        cmocka_unit_test(test_agent_second_instance_on_same_data_dir_fails),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
