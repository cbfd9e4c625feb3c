/*
 * suite_bufpool.c — rustymem-bench bufpool: replacement-policy hit ratios,
 * the pin/unpin hit path, and prefetch accuracy.
 *
 *   rustymem-bench bufpool [--json] [--quick] [--dump DIR] [--trace FILE [--frames N] [--phase-len A]]
 *
 * 1. Hit ratio of rustymem's Enhanced ARC, classic ARC, LRU, CLOCK and OPT on
 *    generated traces over N distinct pages (Zipf 0.8/1.0/1.2; a loop 10 %
 *    larger than the cache with 10 % random noise; an OLTP hot set with a full
 *    scan every 4N accesses; a hot set that moves every 2N accesses), each at
 *    caches of 1 %, 5 % and 10 % of N. Keys min_margin_vs_arc,
 *    min_margin_vs_lru, mean_gap_closed, and the per-case table `cases`.
 *    --dump DIR also writes each case's trace to DIR/<trace>_<pct>.txt.
 * 2. --trace FILE replays one page number per line through every policy;
 *    --phase-len A adds the hit ratio of rustymem, ARC and LRU in each run of
 *    A accesses (diagnostics: where a policy loses, e.g. after a shift).
 * 3. Hit path: ns per pin+unpin of resident pages at 1 and 2 threads, against
 *    pread() of a cached 4 KiB page and a mutex-protected hash table.
 * 4. Prefetch: accuracy on a sequential scan, waste on random reads.
 */
#include "bench.h"
#include "trace_io.h"
#include "rustymem/bufpool.h"

#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- traces ----------------------------------------------------------------------- */

static uint64_t rs = 88172645463325252ull;

static uint64_t
rnd(void)
{
    rs ^= rs << 13;
    rs ^= rs >> 7;
    rs ^= rs << 17;
    return rs;
}

static double
urand(void)
{
    return (double)(rnd() >> 11) * (1.0 / 9007199254740992.0);
}

static void
gen_zipf(uint64_t *t, size_t L, size_t N, double s, const uint64_t *perm)
{
    double *cdf = malloc(N * sizeof *cdf), sum = 0;
    for (size_t i = 0; i < N; i++) {
        sum += 1.0 / pow((double)(i + 1), s);
        cdf[i] = sum;
    }
    for (size_t i = 0; i < N; i++)
        cdf[i] /= sum;
    for (size_t i = 0; i < L; i++) {
        double u = urand();
        size_t lo = 0, hi = N - 1;
        while (lo < hi) {
            size_t m = (lo + hi) / 2;
            if (cdf[m] < u)
                lo = m + 1;
            else
                hi = m;
        }
        t[i] = perm[lo];
    }
    free(cdf);
}

static void
gen_loop(uint64_t *t, size_t L, size_t N, size_t c)
{
    size_t lp = c * 11 / 10, pos = 0;
    for (size_t i = 0; i < L; i++) {
        if (urand() < 0.9) {
            t[i] = pos;
            pos = (pos + 1) % lp;
        } else {
            t[i] = rnd() % N;
        }
    }
}

static void
gen_oltp_scan(uint64_t *t, size_t L, size_t N, const uint64_t *perm)
{
    size_t i = 0, H = N / 20;
    while (i < L) {
        for (size_t k = 0; k < 4 * N && i < L; k++)
            t[i++] = urand() < 0.8 ? perm[rnd() % H] : rnd() % N;
        for (size_t k = 0; k < N && i < L; k++)
            t[i++] = k;
    }
}

static void
gen_shift(uint64_t *t, size_t L, size_t N, const uint64_t *perm)
{
    size_t i = 0, H = N / 20;
    while (i < L) {
        size_t off = rnd() % (N - H);
        for (size_t k = 0; k < 2 * N && i < L; k++)
            t[i++] = urand() < 0.9 ? perm[off + rnd() % H] : rnd() % N;
    }
}

static int
run_policies(const uint64_t *t, size_t L, size_t c, double hr[RM_BUFPOOL_POLICY_COUNT])
{
    for (int p = 0; p < RM_BUFPOOL_POLICY_COUNT; p++) {
        uint64_t h;
        rm_status_t st = rm_bufpool_simulate((rm_bufpool_policy_t)p, t, L, c, NULL, &h);
        if (st != RM_OK) {
            fprintf(stderr, "bufpool: simulate %s: %s\n", rm_bufpool_policy_name(p), rm_strerror(st));
            return -1;
        }
        hr[p] = L ? (double)h / (double)L : 0.0;
    }
    return 0;
}

/* --dump DIR: write a case's trace as DIR/<trace>_<pct>.txt, one page a line,
 * for replaying it with --trace (e.g. with --phase-len). */
static int
dump_trace(const char *dir, const char *name, double pct, const uint64_t *t, size_t L)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s_%.0f.txt", dir, name, pct * 100);
    FILE *f = fopen(path, "w");
    if (!f) {
        fprintf(stderr, "bufpool: cannot write %s\n", path);
        return -1;
    }
    for (size_t i = 0; i < L; i++)
        fprintf(f, "%llu\n", (unsigned long long)t[i]);
    if (fclose(f) != 0) {
        fprintf(stderr, "bufpool: write %s failed\n", path);
        return -1;
    }
    return 0;
}

static int
policy_suite(const rm_bench_opts_t *o, json_t *result)
{
    size_t N = o->quick ? 10000 : 50000, L = (o->quick ? 10 : 20) * N;
    uint64_t *t = malloc(L * sizeof *t), *perm = malloc(N * sizeof *perm);
    if (!t || !perm) {
        fprintf(stderr, "bufpool: out of memory for traces\n");
        return -1;
    }
    for (size_t i = 0; i < N; i++)
        perm[i] = i;
    for (size_t i = N - 1; i > 0; i--) {
        size_t j = rnd() % (i + 1);
        uint64_t x = perm[i];
        perm[i] = perm[j];
        perm[j] = x;
    }
    const char *dump = rm_bench_arg(o, "--dump");
    static const char *names[] = {"zipf0.8", "zipf1.0", "zipf1.2", "loop110", "oltp_scan", "shifting_hot"};
    static const double pcts[] = {0.01, 0.05, 0.10};
    json_t *cases = json_array();
    double min_arc = 1, min_lru = 1, gap_sum = 0;
    int gap_n = 0;
    fprintf(stderr, "%-13s %5s %9s %9s %9s %9s %9s %9s\n", "trace", "cache", "rustymem", "arc", "lru",
            "clock", "opt", "gap_closed");
    for (int w = 0; w < 6; w++) {
        for (int ci = 0; ci < 3; ci++) {
            size_t c = (size_t)((double)N * pcts[ci]);
            rs = 88172645463325252ull + (uint64_t)w * 1000 + (uint64_t)ci;
            switch (w) {
            case 0: gen_zipf(t, L, N, 0.8, perm); break;
            case 1: gen_zipf(t, L, N, 1.0, perm); break;
            case 2: gen_zipf(t, L, N, 1.2, perm); break;
            case 3: gen_loop(t, L, N, c); break;
            case 4: gen_oltp_scan(t, L, N, perm); break;
            default: gen_shift(t, L, N, perm); break;
            }
            if (dump && dump_trace(dump, names[w], pcts[ci], t, L) != 0)
                return -1;
            double hr[RM_BUFPOOL_POLICY_COUNT];
            if (run_policies(t, L, c, hr) != 0)
                return -1;
            double ours = hr[RM_BUFPOOL_POLICY_RUSTYMEM], arc = hr[RM_BUFPOOL_POLICY_ARC];
            double lru = hr[RM_BUFPOOL_POLICY_LRU], opt = hr[RM_BUFPOOL_POLICY_OPT];
            if (ours - arc < min_arc)
                min_arc = ours - arc;
            if (ours - lru < min_lru)
                min_lru = ours - lru;
            double gap = NAN;
            if (opt > lru + 1e-9) {
                gap = (ours - lru) / (opt - lru);
                gap_sum += gap;
                gap_n++;
            }
            fprintf(stderr, "%-13s %4.0f%% %9.4f %9.4f %9.4f %9.4f %9.4f %9.3f\n", names[w],
                    pcts[ci] * 100, ours, arc, lru, hr[RM_BUFPOOL_POLICY_CLOCK], opt, gap);
            json_t *row = json_object();
            json_object_set_new(row, "trace", json_string(names[w]));
            json_object_set_new(row, "cache_pct", json_real(pcts[ci] * 100));
            json_object_set_new(row, "frames", json_integer((json_int_t)c));
            for (int p = 0; p < RM_BUFPOOL_POLICY_COUNT; p++)
                json_object_set_new(row, rm_bufpool_policy_name(p), json_real(hr[p]));
            json_array_append_new(cases, row);
        }
    }
    json_object_set_new(result, "cases", cases);
    json_object_set_new(result, "distinct_pages", json_integer((json_int_t)N));
    json_object_set_new(result, "trace_length", json_integer((json_int_t)L));
    json_object_set_new(result, "min_margin_vs_arc", json_real(min_arc));
    json_object_set_new(result, "min_margin_vs_lru", json_real(min_lru));
    json_object_set_new(result, "mean_gap_closed", json_real(gap_n ? gap_sum / gap_n : 0.0));
    fprintf(stderr, "min_margin_vs_arc %.4f  min_margin_vs_lru %.4f  mean_gap_closed %.3f\n", min_arc,
            min_lru, gap_n ? gap_sum / gap_n : 0.0);
    free(t);
    free(perm);
    return 0;
}

static int
cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* Hit ratio per run of `len` accesses for rustymem, ARC and LRU: each prefix
 * is simulated from the start (the policies expose only a total), so the cost
 * is n²/len accesses per policy. Adds "phases" [[rustymem, arc, lru], ...]. */
static int
phase_table(const uint64_t *t, size_t n, size_t c, size_t len, json_t *row)
{
    static const rm_bufpool_policy_t pol[3] = {RM_BUFPOOL_POLICY_RUSTYMEM, RM_BUFPOOL_POLICY_ARC,
                                               RM_BUFPOOL_POLICY_LRU};
    uint64_t prev[3] = {0, 0, 0};
    json_t *phases = json_array();
    fprintf(stderr, "  frames %zu, per %zu accesses:\n  %5s %9s %9s %9s %9s\n", c, len, "phase", "rustymem",
            "arc", "lru", "ours-lru");
    for (size_t end = len, k = 1; end <= n; end += len, k++) {
        double r[3];
        json_t *ph = json_array();
        for (int p = 0; p < 3; p++) {
            uint64_t h;
            rm_status_t st = rm_bufpool_simulate(pol[p], t, end, c, NULL, &h);
            if (st != RM_OK) {
                fprintf(stderr, "bufpool: simulate: %s\n", rm_strerror(st));
                json_decref(ph);
                json_decref(phases);
                return -1;
            }
            r[p] = (double)(h - prev[p]) / (double)len;
            prev[p] = h;
            json_array_append_new(ph, json_real(r[p]));
        }
        fprintf(stderr, "  %5zu %9.4f %9.4f %9.4f %+9.4f\n", k, r[0], r[1], r[2], r[0] - r[2]);
        json_array_append_new(phases, ph);
    }
    json_object_set_new(row, "phases", phases);
    return 0;
}

static int
trace_suite(const rm_bench_opts_t *o, const char *path, json_t *result)
{
    char *buf, err[256];
    size_t len, n;
    uint64_t *t;
    uint64_t fr, phase_len;   /* checked before the trace is read */
    if (rm_bench_arg_u64(o, "bufpool", "--frames", 2, RM_BUFPOOL_FRAMES_MAX, 0, &fr) != 0 ||
        rm_bench_arg_u64(o, "bufpool", "--phase-len", 1, UINT64_MAX, 0, &phase_len) != 0)
        return -1;
    if (rm_trace_read_file(path, &buf, &len, err, sizeof err) != 0) {
        fprintf(stderr, "bufpool: %s\n", err);
        return -1;
    }
    int prc = rm_trace_parse_pages(buf, len, &t, &n, err, sizeof err);
    free(buf);
    if (prc != 0) {
        fprintf(stderr, "bufpool: trace %s: %s\n", path, err);
        return -1;
    }
    /* distinct pages, for default cache sizes */
    uint64_t *s = malloc(n * sizeof *s);
    if (!s) {
        free(t);
        fprintf(stderr, "bufpool: out of memory\n");
        return -1;
    }
    memcpy(s, t, n * sizeof *s);
    qsort(s, n, sizeof *s, cmp_u64);
    size_t distinct = n ? 1 : 0;
    for (size_t i = 1; i < n; i++)
        distinct += s[i] != s[i - 1];
    free(s);
    size_t sizes[3];
    int nsizes = 0;
    if (fr) {
        sizes[nsizes++] = (size_t)fr;
    } else {
        static const double pcts[] = {0.01, 0.05, 0.10};
        for (int i = 0; i < 3; i++) {
            size_t c = (size_t)((double)distinct * pcts[i]);
            sizes[nsizes++] = c < 2 ? 2 : c;
        }
    }
    json_t *rows = json_array();
    fprintf(stderr, "trace %s: %zu accesses, %zu distinct pages\n", path, n, distinct);
    fprintf(stderr, "%8s %9s %9s %9s %9s %9s\n", "frames", "rustymem", "arc", "lru", "clock", "opt");
    for (int i = 0; i < nsizes; i++) {
        double hr[RM_BUFPOOL_POLICY_COUNT];
        if (run_policies(t, n, sizes[i], hr) != 0)
            return -1;
        fprintf(stderr, "%8zu %9.4f %9.4f %9.4f %9.4f %9.4f\n", sizes[i], hr[0], hr[1], hr[2], hr[3], hr[4]);
        json_t *row = json_object();
        json_object_set_new(row, "frames", json_integer((json_int_t)sizes[i]));
        for (int p = 0; p < RM_BUFPOOL_POLICY_COUNT; p++)
            json_object_set_new(row, rm_bufpool_policy_name(p), json_real(hr[p]));
        if (phase_len && phase_table(t, n, sizes[i], phase_len, row) != 0)
            return -1;
        json_array_append_new(rows, row);
    }
    json_object_set_new(result, "trace", json_string(path));
    json_object_set_new(result, "accesses", json_integer((json_int_t)n));
    json_object_set_new(result, "distinct_pages", json_integer((json_int_t)distinct));
    json_object_set_new(result, "trace_results", rows);
    free(t);
    return 0;
}

/* ---- hit path ------------------------------------------------------------------------ */

#define HP_PAGES 1024
#define HP_IDX 4096

typedef struct hp_arg {
    rm_bufpool_t *bp;
    uint32_t file;
    size_t iters;
    int kind;           /* 0 = pool, 1 = mutex hash */
    const uint32_t *idx;
    pthread_barrier_t *bar;
    uint64_t ns;
} hp_arg_t;

/* the competitor: a chained hash table under one mutex, with pin counts */
typedef struct mh_ent {
    uint64_t key;
    int pins;
    void *data;
    struct mh_ent *next;
} mh_ent_t;
static mh_ent_t *mh_buckets[2048];
static pthread_mutex_t mh_mu = PTHREAD_MUTEX_INITIALIZER;

static mh_ent_t *
mh_pin(uint64_t key)
{
    pthread_mutex_lock(&mh_mu);
    mh_ent_t *e = mh_buckets[(key * 0x9e3779b97f4a7c15ull) >> 53];
    while (e && e->key != key)
        e = e->next;
    if (e)
        e->pins++;
    pthread_mutex_unlock(&mh_mu);
    return e;
}

static void
mh_unpin(mh_ent_t *e)
{
    pthread_mutex_lock(&mh_mu);
    e->pins--;
    pthread_mutex_unlock(&mh_mu);
}

static volatile uint64_t sink;

static void *
hp_thread(void *a_)
{
    hp_arg_t *a = a_;
    pthread_barrier_wait(a->bar);
    uint64_t t0 = rm_bench_now_ns(), acc = 0;
    for (size_t i = 0; i < a->iters; i++) {
        uint32_t p = a->idx[i & (HP_IDX - 1)];
        if (a->kind == 0) {
            rm_bufpool_frame_t *f;
            if (rm_bufpool_pin(a->bp, a->file, p, RM_BUFPOOL_SHARED, &f) == RM_OK) {
                acc += *(const uint64_t *)rm_bufpool_frame_data(f);
                rm_bufpool_unpin(a->bp, f, RM_BUFPOOL_SHARED, 0);
            }
        } else {
            mh_ent_t *e = mh_pin(p);
            if (e) {
                acc += *(const uint64_t *)e->data;
                mh_unpin(e);
            }
        }
    }
    a->ns = rm_bench_now_ns() - t0;
    sink += acc;
    return NULL;
}

/* ns per op at `threads` threads (wall time / ops per thread), best of 5: the
 * machine is shared, and the best run is the one least disturbed */
static double
hp_measure(rm_bufpool_t *bp, uint32_t file, int kind, int threads, size_t iters, uint32_t *idx)
{
    double best = 1e30;
    for (int rep = 0; rep < 5; rep++) {
        pthread_barrier_t bar;
        pthread_barrier_init(&bar, NULL, (unsigned)threads);
        pthread_t th[2];
        hp_arg_t a[2];
        for (int i = 0; i < threads; i++) {
            a[i] = (hp_arg_t){bp, file, iters, kind, idx + (size_t)i * HP_IDX, &bar, 0};
            pthread_create(&th[i], NULL, hp_thread, &a[i]);
        }
        uint64_t wall = 0;
        for (int i = 0; i < threads; i++) {
            pthread_join(th[i], NULL);
            if (a[i].ns > wall)
                wall = a[i].ns;
        }
        pthread_barrier_destroy(&bar);
        double ns = (double)wall / (double)iters;
        if (ns < best)
            best = ns;
    }
    return best;
}

static int
hit_path(const rm_bench_opts_t *o, const char *dir, json_t *result)
{
    rm_bufpool_config_t c;
    rm_bufpool_config_default(&c);
    c.dir = dir;
    c.num_frames = 4096;
    c.durable = 0;
    c.start_writer = 0;
    rm_bufpool_t *bp;
    rm_status_t st = rm_bufpool_create(&c, &bp);
    uint32_t file;
    if (st != RM_OK || (st = rm_bufpool_open_file(bp, "hitpath", &file)) != RM_OK) {
        fprintf(stderr, "bufpool: create: %s\n", rm_strerror(st));
        return -1;
    }
    static uint64_t mh_data[HP_PAGES];
    static mh_ent_t mh_ents[HP_PAGES];
    for (uint32_t p = 0; p < HP_PAGES; p++) {
        rm_bufpool_frame_t *f;
        if (rm_bufpool_pin(bp, file, p, RM_BUFPOOL_EXCLUSIVE, &f) != RM_OK)
            return -1;
        memset(rm_bufpool_frame_data(f), (int)p, rm_bufpool_usable_bytes(bp));
        rm_bufpool_unpin(bp, f, RM_BUFPOOL_EXCLUSIVE, 1);
        mh_ents[p] = (mh_ent_t){p, 0, &mh_data[p], NULL};
        uint64_t b = ((uint64_t)p * 0x9e3779b97f4a7c15ull) >> 53;
        mh_ents[p].next = mh_buckets[b];
        mh_buckets[b] = &mh_ents[p];
    }
    if (rm_bufpool_checkpoint(bp) != RM_OK)
        return -1;
    uint32_t *idx = malloc(sizeof(uint32_t) * HP_IDX * 2);
    for (size_t i = 0; i < HP_IDX * 2; i++)
        idx[i] = (uint32_t)(rnd() % HP_PAGES);
    size_t iters = o->quick ? 500000 : 3000000;
    double pin1 = hp_measure(bp, file, 0, 1, iters, idx);
    double pin2 = hp_measure(bp, file, 0, 2, iters, idx);
    double mh1 = hp_measure(bp, file, 1, 1, iters, idx);
    double mh2 = hp_measure(bp, file, 1, 2, iters, idx);

    /* pread of a 4 KiB page that is in the OS page cache (the file we just wrote) */
    char path[512];
    snprintf(path, sizeof path, "%s/hitpath", dir);
    int fd = open(path, O_RDONLY);
    static unsigned char buf[4096];
    size_t pr_iters = o->quick ? 100000 : 500000;
    double pr_best = 1e30;
    for (int rep = 0; rep < 3; rep++) {
        uint64_t t0 = rm_bench_now_ns();
        for (size_t i = 0; i < pr_iters; i++)
            if (pread(fd, buf, 4096, (off_t)idx[i & (HP_IDX - 1)] * 4096) != 4096)
                return -1;
        double ns = (double)(rm_bench_now_ns() - t0) / (double)pr_iters;
        if (ns < pr_best)
            pr_best = ns;
    }
    close(fd);
    double scaling = pin1 / pin2 * 2.0;   /* throughput(2t) / throughput(1t) */
    double mh_scaling = mh1 / mh2 * 2.0;
    fprintf(stderr, "hit path: pin+unpin %.1f ns (1t), %.1f ns wall/op/thread (2t) → scaling_2t %.2f\n", pin1,
            pin2, scaling);
    fprintf(stderr, "          mutex hash %.1f ns (1t), scaling_2t %.2f; pread 4 KiB cached %.1f ns\n", mh1,
            mh_scaling, pr_best);
    json_object_set_new(result, "pin_ns_1t", json_real(pin1));
    json_object_set_new(result, "pin_ns_2t", json_real(pin2));
    json_object_set_new(result, "pread_ns", json_real(pr_best));
    json_object_set_new(result, "pin_ns_ratio_vs_pread", json_real(pin1 / pr_best));
    json_object_set_new(result, "scaling_2t", json_real(scaling));
    json_object_set_new(result, "mutex_hash_ns_1t", json_real(mh1));
    json_object_set_new(result, "mutex_hash_scaling_2t", json_real(mh_scaling));
    json_object_set_new(result, "pin_ns_ratio_vs_mutex_hash", json_real(pin1 / mh1));
    free(idx);
    rm_bufpool_destroy(bp);
    return 0;
}

/* ---- prefetch ------------------------------------------------------------------------- */

static int
prefetch(const rm_bench_opts_t *o, const char *dir, json_t *result)
{
    rm_bufpool_config_t c;
    rm_bufpool_config_default(&c);
    c.dir = dir;
    c.num_frames = 1024;
    c.durable = 0;
    c.start_writer = 0;
    rm_bufpool_t *bp;
    uint32_t file;
    if (rm_bufpool_create(&c, &bp) != RM_OK || rm_bufpool_open_file(bp, "scan", &file) != RM_OK)
        return -1;
    uint64_t pages = o->quick ? 4096 : 16384;
    for (uint64_t p = 0; p < pages; p++) {
        rm_bufpool_frame_t *f;
        if (rm_bufpool_pin(bp, file, p, RM_BUFPOOL_EXCLUSIVE, &f) != RM_OK)
            return -1;
        memset(rm_bufpool_frame_data(f), 1, 64);
        rm_bufpool_unpin(bp, f, RM_BUFPOOL_EXCLUSIVE, 1);
    }
    uint64_t ev;
    if (rm_bufpool_checkpoint(bp) != RM_OK || rm_bufpool_evict(bp, 1.0, &ev) != RM_OK)
        return -1;
    rm_bufpool_stats_t a, b, d;
    rm_bufpool_stats(bp, &a);
    for (uint64_t p = 0; p < pages; p++) {
        rm_bufpool_frame_t *f;
        if (rm_bufpool_pin(bp, file, p, RM_BUFPOOL_SHARED, &f) != RM_OK)
            return -1;
        rm_bufpool_unpin(bp, f, RM_BUFPOOL_SHARED, 0);
    }
    rm_bufpool_stats(bp, &b);
    uint64_t issued = b.prefetch_issued - a.prefetch_issued, used = b.prefetch_used - a.prefetch_used;
    double acc = issued ? (double)used / (double)issued : 0.0;
    double seq_miss = (double)(b.misses - a.misses) / (double)pages;
    if (rm_bufpool_evict(bp, 1.0, &ev) != RM_OK)
        return -1;
    rm_bufpool_stats(bp, &b);
    for (uint64_t i = 0; i < pages; i++) {
        rm_bufpool_frame_t *f;
        if (rm_bufpool_pin(bp, file, rnd() % pages, RM_BUFPOOL_SHARED, &f) != RM_OK)
            return -1;
        rm_bufpool_unpin(bp, f, RM_BUFPOOL_SHARED, 0);
    }
    rm_bufpool_stats(bp, &d);
    uint64_t r_issued = d.prefetch_issued - b.prefetch_issued, r_used = d.prefetch_used - b.prefetch_used;
    uint64_t r_reads = d.reads - b.reads;
    /* waste: read-ahead pages not used (evicted unused or still unused), per page read */
    double waste = r_reads ? (double)(r_issued - r_used) / (double)r_reads : 0.0;
    fprintf(stderr, "prefetch: sequential issued %lu used %lu accuracy %.3f (demand misses/page %.3f); "
                    "random issued %lu used %lu reads %lu waste %.4f\n",
            (unsigned long)issued, (unsigned long)used, acc, seq_miss, (unsigned long)r_issued,
            (unsigned long)r_used, (unsigned long)r_reads, waste);
    json_object_set_new(result, "prefetch_accuracy_seq", json_real(acc));
    json_object_set_new(result, "prefetch_seq_demand_miss_ratio", json_real(seq_miss));
    json_object_set_new(result, "prefetch_waste_random", json_real(waste));
    rm_bufpool_destroy(bp);
    return 0;
}

static int
run_bufpool(const rm_bench_opts_t *o, json_t *result)
{
    const char *trace = rm_bench_arg(o, "--trace");
    if (trace)
        return trace_suite(o, trace, result);
    if (rm_bench_arg(o, "--frames") || rm_bench_arg(o, "--phase-len")) {
        fprintf(stderr, "rustymem-bench bufpool: --frames and --phase-len go with --trace FILE\n");
        return 1;
    }
    if (policy_suite(o, result) != 0)
        return 1;
    char dir[] = "/tmp/rm_bench_bufpool_XXXXXX";
    if (!mkdtemp(dir)) {
        fprintf(stderr, "bufpool: mkdtemp failed\n");
        return 1;
    }
    int rc = hit_path(o, dir, result) != 0 || prefetch(o, dir, result) != 0;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "bufpool: could not remove %s\n", dir);
    if (rc)
        fprintf(stderr, "bufpool: hit-path or prefetch measurement failed\n");
    return rc;
}

RM_BENCH_SUITE(bufpool, "buffer pool: policy hit ratios vs ARC/LRU/CLOCK/OPT, pin hit path, prefetch",
               "--trace FILE --frames N --phase-len N --dump DIR", run_bufpool);
