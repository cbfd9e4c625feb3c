/*
 * suite_bufpool.c — rustymem-bench bufpool: replacement-policy hit ratios,
 * the pin/unpin hit path, and prefetch accuracy.
 *
 *   rustymem-bench bufpool [--json] [--quick] [--dump DIR] [--sqlite-traces DIR | --no-sqlite-traces]
 *                          [--trace FILE [--frames N] [--phase-len A]]
 *   rustymem-bench bufpool [--json] [--quick] --hit-path-only
 *
 * 1. Hit ratio of every policy the simulator has — rustymem's Enhanced ARC,
 *    classic ARC, LRU, CLOCK, OPT, W-TinyLFU, S3-FIFO, LIRS — on generated
 *    traces over N distinct pages, 13 families (Zipf 0.8/1.0/1.2; a loop 10 %
 *    larger than the cache with 10 % noise; OLTP with a full scan every 4N
 *    accesses; a hot set moving every 2N accesses; multi-tenant rotation;
 *    TPC-C-like NURand with range scans; a loop interleaved with a small Zipf
 *    hot set; a working set that grows then shrinks; three mixes), each at
 *    caches of 1 %, 5 %, 10 % and 25 % of N, in two halves generated from
 *    different seeds: "tuned" (the seeds earlier rounds were tuned on) and
 *    "held_out" (never used for tuning; docs/adr/0004). Per half:
 *    min_margin_vs_arc, min_margin_vs_lru (with the case that sets them),
 *    mean_gap_closed (of the LRU→OPT gap), mean_gap_closed_best_other (the
 *    best mean of ARC, W-TinyLFU, S3-FIFO and LIRS) and gap_vs_best_other =
 *    ours − that, and cases_below_arc_or_lru (every case ours loses to ARC
 *    or LRU, with both margins; also printed); the per-case table `cases`.
 *    --dump DIR also writes each case's trace to DIR/<trace>[_heldout]_<pct>.txt.
 *    SQLite's speedtest1 page references (`rustymem-bench sqlite --dump`), when
 *    present in --sqlite-traces DIR (default <build>/bench-traces, generated
 *    there on demand when speedtest1 is built), are replayed at the same four
 *    cache sizes and reported as the family "speedtest1" with the same keys,
 *    outside the halves; absent, "speedtest1".available is false with the
 *    reason and the rest of the suite runs as before.
 * 2. --trace FILE replays one page number per line through every policy;
 *    --phase-len A adds the hit ratio of rustymem, ARC and LRU in each run of
 *    A accesses (diagnostics: where a policy loses, e.g. after a shift).
 * 3. Hit path (alone with --hit-path-only): ns per pin+unpin of resident
 *    pages at 1 and 2 threads, against pread() of a cached 4 KiB page and a
 *    mutex-protected hash table. 7 rounds, each of 1 thread, 2 threads and
 *    pread back to back; the keys are medians of the per-round ratios
 *    (pin_ns_ratio_vs_pread, scaling_2t), best-of figures beside them, and
 *    pin_ns_ratio_vs_pread_cpu from the threads' CPU time (what a loaded
 *    machine's wall time hides: time waiting for a core). From the threads'
 *    CPU time too: scaling_2t_concurrency, how many cores' worth the 2-thread
 *    runs really had (2.0 at best); scaling_2t_others_cpu_share,
 *    the share of the machine other processes used meanwhile (/proc/stat),
 *    with the load average; scaling_2t_quiet is true only when both say the
 *    machine was quiet — otherwise a low scaling_2t is a busy neighbour, not
 *    a scaling failure. scaling_2t_cpu compares CPU ns per op (1t vs 2t).
 *    The machine's reference, in the same rounds: shared_line_rmw_scaling_2t
 *    (one atomic add per op on 1 024 cache lines both threads write, at the
 *    same page indices: the pin's unavoidable shared write alone),
 *    own_line_rmw_scaling_2t (each thread on lines of its own), and
 *    scaling_2t_vs_shared_line_rmw (ADR 0004, session 12's quiet runs).
 * 4. Prefetch: accuracy on a sequential scan, waste on random reads.
 */
#include "../support/cdf_pick.h"
#include "bench.h"
#include "trace_io.h"
#include "rustymem/bufpool.h"

#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
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
        t[i] = perm[cdf_pick(cdf, N, urand())];
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

/* Multi-tenant rotation: 8 tenants with hot sets of N/40 pages each; the
 * active tenant changes every N accesses (to a random other one) and takes
 * 70 % of the traffic (Zipf 0.9 inside its set), the other tenants' sets get
 * 20 % (uniform), the rest is uniform over all N pages. */
static void
gen_multitenant(uint64_t *t, size_t L, size_t N, const uint64_t *perm)
{
    enum { TEN = 8 };
    size_t H = N / 40, i = 0;
    unsigned act = 0;
    double *cdf = malloc(H * sizeof *cdf), sum = 0;
    for (size_t k = 0; k < H; k++) {
        sum += 1.0 / pow((double)(k + 1), 0.9);
        cdf[k] = sum;
    }
    while (i < L) {
        for (size_t k = 0; k < N && i < L; k++) {
            double u = urand();
            if (u < 0.7) {
                t[i++] = perm[act * H + cdf_pick(cdf, H, urand() * sum)];
            } else if (u < 0.9) {
                unsigned o = (unsigned)(rnd() % TEN);
                t[i++] = perm[o * H + rnd() % H];
            } else {
                t[i++] = rnd() % N;
            }
        }
        act = (act + 1 + (unsigned)(rnd() % (TEN - 1))) % TEN;
    }
    free(cdf);
}

/* TPC-C-like: NURand(A, 0, N−1) keys (A the largest 2^k − 1 ≤ N/8, run-time
 * constant C), and every 2N accesses a range scan of N/10 consecutive pages
 * from a random start. */
static void
gen_tpcc_scan(uint64_t *t, size_t L, size_t N, const uint64_t *perm)
{
    uint64_t A = 1;
    while (A * 2 <= N / 8)
        A *= 2;
    A -= 1;
    uint64_t C = rnd() % (A + 1);
    size_t i = 0;
    while (i < L) {
        for (size_t k = 0; k < 2 * N && i < L; k++) {
            uint64_t x = ((rnd() % (A + 1)) | (rnd() % N)) + C;
            t[i++] = perm[x % N];
        }
        size_t start = rnd() % N;
        for (size_t k = 0; k < N / 10 && i < L; k++)
            t[i++] = (start + k) % N;
    }
}

/* A loop over 120 % of the cache (pages above the hot set) interleaved with
 * a small Zipf 1.0 hot set of c/4 pages: 60 % loop, 40 % hot set. */
static void
gen_loop_zipf(uint64_t *t, size_t L, size_t N, size_t c, const uint64_t *perm)
{
    size_t H = c / 4 ? c / 4 : 1, lp = c * 12 / 10, pos = 0;
    if (H + lp > N)
        lp = N - H;
    double *cdf = malloc(H * sizeof *cdf), sum = 0;
    for (size_t k = 0; k < H; k++) {
        sum += 1.0 / (double)(k + 1);
        cdf[k] = sum;
    }
    for (size_t i = 0; i < L; i++) {
        if (urand() < 0.6) {
            t[i] = perm[H + pos];
            pos = (pos + 1) % lp;
        } else {
            t[i] = perm[cdf_pick(cdf, H, urand() * sum)];
        }
    }
    free(cdf);
}

/* A working set that grows from N/20 to all N pages over the first half of
 * the trace and shrinks back over the second; accesses are 80 % to the most
 * recently added tenth of it, 20 % uniform over it. */
static void
gen_grow_shrink(uint64_t *t, size_t L, size_t N, const uint64_t *perm)
{
    size_t lo = N / 20;
    for (size_t i = 0; i < L; i++) {
        double f = (double)i / (double)L;
        double g = f < 0.5 ? 2 * f : 2 * (1 - f);
        size_t W = lo + (size_t)((double)(N - lo) * g);
        if (W < 10)
            W = 10;
        size_t recent = W / 10;
        t[i] = urand() < 0.8 ? perm[W - 1 - rnd() % recent] : perm[rnd() % W];
    }
}

/* Interleave two traces: runs of 1..4 096 accesses from each in turn. */
static void
mix2(uint64_t *t, size_t L, const uint64_t *a, const uint64_t *b)
{
    size_t i = 0, ia = 0, ib = 0;
    int from_a = 1;
    while (i < L) {
        size_t run = 1 + rnd() % 4096;
        for (size_t k = 0; k < run && i < L; k++)
            t[i++] = from_a ? a[ia++] : b[ib++];
        from_a = !from_a;
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

/* The suite: 13 families × 4 cache sizes, generated twice — once from the
 * tuned half's seeds (the ones every earlier round of the policy was tuned
 * on) and once from the held-out half's, which no tuning may look at
 * (docs/adr/0004 names both). */
enum { NFAM = 13, NPCT = 4 };
static const char *fam_names[NFAM] = {"zipf0.8", "zipf1.0", "zipf1.2", "loop110", "oltp_scan", "shifting_hot",
                                      "multitenant", "tpcc_scan", "loop_zipf", "grow_shrink", "mix_zipf_tenant",
                                      "mix_tpcc_loop", "mix_shift_oltp"};
static const double suite_pcts[NPCT] = {0.01, 0.05, 0.10, 0.25};
static const uint64_t half_seed[2] = {88172645463325252ull, 0x2c7f3b1e9d4a6085ull};
static const char *half_names[2] = {"tuned", "held_out"};
/* the modern policies "best other" is taken over */
static const rm_bufpool_policy_t others[4] = {RM_BUFPOOL_POLICY_ARC, RM_BUFPOOL_POLICY_WTINYLFU,
                                              RM_BUFPOOL_POLICY_S3FIFO, RM_BUFPOOL_POLICY_LIRS};

static void
gen_family(int w, uint64_t *t, uint64_t *a, uint64_t *b, size_t L, size_t N, size_t c, const uint64_t *perm,
           const uint64_t *perm2)
{
    switch (w) {
    case 0: gen_zipf(t, L, N, 0.8, perm); break;
    case 1: gen_zipf(t, L, N, 1.0, perm); break;
    case 2: gen_zipf(t, L, N, 1.2, perm); break;
    case 3: gen_loop(t, L, N, c); break;
    case 4: gen_oltp_scan(t, L, N, perm); break;
    case 5: gen_shift(t, L, N, perm); break;
    case 6: gen_multitenant(t, L, N, perm); break;
    case 7: gen_tpcc_scan(t, L, N, perm); break;
    case 8: gen_loop_zipf(t, L, N, c, perm); break;
    case 9: gen_grow_shrink(t, L, N, perm); break;
    case 10:
        gen_zipf(a, L, N, 0.8, perm);
        gen_multitenant(b, L, N, perm2);
        mix2(t, L, a, b);
        break;
    case 11:
        gen_tpcc_scan(a, L, N, perm);
        gen_loop_zipf(b, L, N, c, perm2);
        mix2(t, L, a, b);
        break;
    default:
        gen_shift(a, L, N, perm);
        gen_oltp_scan(b, L, N, perm2);
        mix2(t, L, a, b);
        break;
    }
}

static void
shuffle(uint64_t *perm, size_t N)
{
    for (size_t i = 0; i < N; i++)
        perm[i] = i;
    for (size_t i = N - 1; i > 0; i--) {
        size_t j = rnd() % (i + 1);
        uint64_t x = perm[i];
        perm[i] = perm[j];
        perm[j] = x;
    }
}

/* The keys of one family of cases (a half of the suite, or speedtest1):
 * margins against ARC and LRU with the case that sets each, the mean gap
 * closed of every policy, and every case below ARC or LRU. */
typedef struct family_score {
    double min_arc, min_lru, gap_sum[RM_BUFPOOL_POLICY_COUNT];
    int gap_n;
    char worst_arc[64], worst_lru[64];
    json_t *losses;     /* every case below ARC or LRU: where the margins are lost */
    char loss_txt[4096];
    size_t loss_len;
} family_score_t;

static void
score_init(family_score_t *fs)
{
    memset(fs, 0, sizeof *fs);
    fs->min_arc = fs->min_lru = 1;
    fs->losses = json_array();
}

/* One case's hit ratios: fold them in, print the row, add it to `cases`. */
static void
score_case(family_score_t *fs, const char *half, const char *trace, double pct, size_t c,
           const double hr[RM_BUFPOOL_POLICY_COUNT], json_t *cases)
{
    double ours = hr[RM_BUFPOOL_POLICY_RUSTYMEM], arc = hr[RM_BUFPOOL_POLICY_ARC];
    double lru = hr[RM_BUFPOOL_POLICY_LRU], opt = hr[RM_BUFPOOL_POLICY_OPT];
    if (ours - arc < fs->min_arc) {
        fs->min_arc = ours - arc;
        snprintf(fs->worst_arc, sizeof fs->worst_arc, "%s %.0f%%", trace, pct * 100);
    }
    if (ours - lru < fs->min_lru) {
        fs->min_lru = ours - lru;
        snprintf(fs->worst_lru, sizeof fs->worst_lru, "%s %.0f%%", trace, pct * 100);
    }
    if (ours - arc < 0 || ours - lru < 0) {
        json_t *l = json_object();
        json_object_set_new(l, "trace", json_string(trace));
        json_object_set_new(l, "cache_pct", json_real(pct * 100));
        json_object_set_new(l, "margin_vs_arc", json_real(ours - arc));
        json_object_set_new(l, "margin_vs_lru", json_real(ours - lru));
        json_array_append_new(fs->losses, l);
        int k = snprintf(fs->loss_txt + fs->loss_len, sizeof fs->loss_txt - fs->loss_len,
                         "  %-16s %4.0f%%  vs arc %+.4f  vs lru %+.4f\n", trace, pct * 100, ours - arc, ours - lru);
        if (k > 0 && (size_t)k < sizeof fs->loss_txt - fs->loss_len)
            fs->loss_len += (size_t)k;
    }
    double gap = NAN;
    if (opt > lru + 1e-9) {
        for (int p = 0; p < RM_BUFPOOL_POLICY_COUNT; p++)
            fs->gap_sum[p] += (hr[p] - lru) / (opt - lru);
        gap = (ours - lru) / (opt - lru);
        fs->gap_n++;
    }
    fprintf(stderr, "%-16s %4.0f%% %9.4f %9.4f %9.4f %9.4f %9.4f %9.4f %9.4f %9.4f %8.3f\n", trace, pct * 100, ours,
            arc, lru, hr[RM_BUFPOOL_POLICY_CLOCK], opt, hr[RM_BUFPOOL_POLICY_WTINYLFU],
            hr[RM_BUFPOOL_POLICY_S3FIFO], hr[RM_BUFPOOL_POLICY_LIRS], gap);
    json_t *row = json_object();
    if (half)
        json_object_set_new(row, "half", json_string(half));
    json_object_set_new(row, "trace", json_string(trace));
    json_object_set_new(row, "cache_pct", json_real(pct * 100));
    json_object_set_new(row, "frames", json_integer((json_int_t)c));
    for (int p = 0; p < RM_BUFPOOL_POLICY_COUNT; p++)
        json_object_set_new(row, rm_bufpool_policy_name(p), json_real(hr[p]));
    json_array_append_new(cases, row);
}

static void
score_header(void)
{
    fprintf(stderr, "%-16s %5s %9s %9s %9s %9s %9s %9s %9s %9s %8s\n", "trace", "cache", "rustymem", "arc", "lru",
            "clock", "opt", "wtinylfu", "s3fifo", "lirs", "gap");
}

/* The family's keys into h (which takes the losses array); prints them. */
static void
score_finish(family_score_t *fs, const char *label, json_t *h)
{
    double mean = fs->gap_n ? fs->gap_sum[RM_BUFPOOL_POLICY_RUSTYMEM] / fs->gap_n : 0.0, best = -1e9;
    const char *best_name = "?";
    json_t *per = json_object();
    for (int k = 0; k < 4; k++) {
        double m = fs->gap_n ? fs->gap_sum[others[k]] / fs->gap_n : 0.0;
        json_object_set_new(per, rm_bufpool_policy_name(others[k]), json_real(m));
        if (m > best) {
            best = m;
            best_name = rm_bufpool_policy_name(others[k]);
        }
    }
    json_object_set_new(h, "min_margin_vs_arc", json_real(fs->min_arc));
    json_object_set_new(h, "min_margin_vs_arc_case", json_string(fs->worst_arc));
    json_object_set_new(h, "min_margin_vs_lru", json_real(fs->min_lru));
    json_object_set_new(h, "min_margin_vs_lru_case", json_string(fs->worst_lru));
    json_object_set_new(h, "mean_gap_closed", json_real(mean));
    json_object_set_new(h, "mean_gap_closed_best_other", json_real(best));
    json_object_set_new(h, "best_other", json_string(best_name));
    json_object_set_new(h, "gap_vs_best_other", json_real(mean - best));
    json_object_set_new(h, "mean_gap_closed_by_policy", per);
    size_t nloss = json_array_size(fs->losses);
    json_object_set_new(h, "cases_below_arc_or_lru", fs->losses);
    fs->losses = NULL;
    fprintf(stderr, "%s: min_margin_vs_arc %.4f (%s)  min_margin_vs_lru %.4f (%s)  mean_gap_closed %.3f  "
                    "best other %s %.3f  gap_vs_best_other %+.3f\n",
            label, fs->min_arc, fs->worst_arc, fs->min_lru, fs->worst_lru, mean, best_name, best, mean - best);
    fprintf(stderr, "%s: cases below ARC or LRU (%zu)\n%s", label, nloss, fs->loss_txt);
}

static int
policy_suite(const rm_bench_opts_t *o, json_t *result)
{
    size_t N = o->quick ? 10000 : 50000, L = (o->quick ? 10 : 20) * N;
    uint64_t *t = malloc(L * sizeof *t), *a = malloc(L * sizeof *a), *b = malloc(L * sizeof *b);
    uint64_t *perm = malloc(N * sizeof *perm), *perm2 = malloc(N * sizeof *perm2);
    if (!t || !a || !b || !perm || !perm2) {
        fprintf(stderr, "bufpool: out of memory for traces\n");
        return -1;
    }
    const char *dump = rm_bench_arg(o, "--dump");
    json_t *cases = json_array(), *halves = json_object();
    for (int half = 0; half < 2; half++) {
        rs = half_seed[half];
        shuffle(perm, N);
        shuffle(perm2, N);
        family_score_t fs;
        score_init(&fs);
        fprintf(stderr, "%s half (seed %#llx)\n", half_names[half], (unsigned long long)half_seed[half]);
        score_header();
        for (int w = 0; w < NFAM; w++) {
            for (int ci = 0; ci < NPCT; ci++) {
                size_t c = (size_t)((double)N * suite_pcts[ci]);
                rs = half_seed[half] + (uint64_t)w * 1000 + (uint64_t)ci;
                gen_family(w, t, a, b, L, N, c, perm, perm2);
                char name[64];
                snprintf(name, sizeof name, "%s%s", fam_names[w], half ? "_heldout" : "");
                if (dump && dump_trace(dump, name, suite_pcts[ci], t, L) != 0)
                    return -1;
                double hr[RM_BUFPOOL_POLICY_COUNT];
                if (run_policies(t, L, c, hr) != 0)
                    return -1;
                score_case(&fs, half_names[half], fam_names[w], suite_pcts[ci], c, hr, cases);
            }
        }
        json_t *h = json_object();
        json_object_set_new(h, "seed", json_integer((json_int_t)(half_seed[half] & INT64_MAX)));
        score_finish(&fs, half_names[half], h);
        json_object_set_new(halves, half_names[half], h);
    }
    json_object_set_new(result, "cases", cases);
    json_object_set_new(result, "halves", halves);
    json_object_set_new(result, "distinct_pages", json_integer((json_int_t)N));
    json_object_set_new(result, "trace_length", json_integer((json_int_t)L));
    free(t);
    free(a);
    free(b);
    free(perm);
    free(perm2);
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

/* Read a page trace (*t malloc'd, *n ≥ 1 accesses) and count its distinct
 * pages; 0, or -1 after one line on stderr. */
static int
load_trace(const char *path, uint64_t **t, size_t *n, size_t *distinct)
{
    char *buf, err[256];
    size_t len;
    if (rm_trace_read_file(path, &buf, &len, err, sizeof err) != 0) {
        fprintf(stderr, "bufpool: %s\n", err);
        return -1;
    }
    int prc = rm_trace_parse_pages(buf, len, t, n, err, sizeof err);
    free(buf);
    if (prc != 0) {
        fprintf(stderr, "bufpool: trace %s: %s\n", path, err);
        return -1;
    }
    uint64_t *s = malloc(*n * sizeof *s);
    if (!s) {
        free(*t);
        fprintf(stderr, "bufpool: out of memory\n");
        return -1;
    }
    memcpy(s, *t, *n * sizeof *s);
    qsort(s, *n, sizeof *s, cmp_u64);
    *distinct = *n ? 1 : 0;
    for (size_t i = 1; i < *n; i++)
        *distinct += s[i] != s[i - 1];
    free(s);
    return 0;
}

static int
trace_suite(const rm_bench_opts_t *o, const char *path, json_t *result)
{
    size_t n, distinct;   /* distinct pages, for default cache sizes */
    uint64_t *t;
    uint64_t fr, phase_len;   /* checked before the trace is read */
    if (rm_bench_arg_u64(o, "bufpool", "--frames", 2, RM_BUFPOOL_FRAMES_MAX, 0, &fr) != 0 ||
        rm_bench_arg_u64(o, "bufpool", "--phase-len", 1, UINT64_MAX, 0, &phase_len) != 0)
        return -1;
    if (load_trace(path, &t, &n, &distinct) != 0)
        return -1;
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
    fprintf(stderr, "%8s", "frames");
    for (int p = 0; p < RM_BUFPOOL_POLICY_COUNT; p++)
        fprintf(stderr, " %9s", rm_bufpool_policy_name(p));
    fprintf(stderr, "\n");
    for (int i = 0; i < nsizes; i++) {
        double hr[RM_BUFPOOL_POLICY_COUNT];
        if (run_policies(t, n, sizes[i], hr) != 0)
            return -1;
        fprintf(stderr, "%8zu", sizes[i]);
        for (int p = 0; p < RM_BUFPOOL_POLICY_COUNT; p++)
            fprintf(stderr, " %9.4f", hr[p]);
        fprintf(stderr, "\n");
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
    int kind;           /* 0 = pool, 1 = mutex hash, 2 = pread of the pool's file,
                         * 3 = one atomic add on a line of a set both threads
                         * share, 4 = the same on a set of the thread's own */
    int fd;             /* kind 2 */
    const uint32_t *idx;
    pthread_barrier_t *bar;
    uint64_t ns;        /* wall time of the thread's loop */
    uint64_t cpu_ns;    /* the thread's own CPU time over the loop */
    int failed;
    int tid;            /* 0 or 1: kind 4's set */
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

static _Atomic uint64_t sink;   /* keeps the loops' loads; atomic: both threads add to it */

/* The machine's reference for the pin path's one unavoidable shared write:
 * HP_PAGES counters, one per cache line, per set; kind 3 has both threads add
 * to set 0 at the pool's page indices (as two threads' pins write the same
 * frames' state words), kind 4 each thread to its own set. Their 2-thread
 * scaling is what this machine gives any design that writes a line per hit
 * that another core also writes, and one that writes only its own lines. */
static struct {
    _Atomic uint64_t v;
    char pad[64 - sizeof(uint64_t)];
} hp_lines[2][HP_PAGES] __attribute__((aligned(64)));

static uint64_t
thread_cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void *
hp_thread(void *a_)
{
    hp_arg_t *a = a_;
    static unsigned char buf[4096];   /* kind 2 runs at one thread only */
    pthread_barrier_wait(a->bar);
    uint64_t c0 = thread_cpu_ns(), t0 = rm_bench_now_ns(), acc = 0;
    for (size_t i = 0; i < a->iters; i++) {
        uint32_t p = a->idx[i & (HP_IDX - 1)];
        if (a->kind == 0) {
            rm_bufpool_frame_t *f;
            if (rm_bufpool_pin(a->bp, a->file, p, RM_BUFPOOL_SHARED, &f) == RM_OK) {
                acc += *(const uint64_t *)rm_bufpool_frame_data(f);
                rm_bufpool_unpin(a->bp, f, RM_BUFPOOL_SHARED, 0);
            }
        } else if (a->kind >= 3) {
            acc += atomic_fetch_add_explicit(&hp_lines[a->kind == 4 ? a->tid : 0][p].v, 1, memory_order_acq_rel);
        } else if (a->kind == 1) {
            mh_ent_t *e = mh_pin(p);
            if (e) {
                acc += *(const uint64_t *)e->data;
                mh_unpin(e);
            }
        } else {
            if (pread(a->fd, buf, 4096, (off_t)p * 4096) != 4096) {
                a->failed = 1;
                break;
            }
            acc += buf[8];
        }
    }
    a->ns = rm_bench_now_ns() - t0;
    a->cpu_ns = thread_cpu_ns() - c0;
    atomic_fetch_add_explicit(&sink, acc, memory_order_relaxed);
    return NULL;
}

/* One run at `threads` threads, each doing `iters` ops: wall ns per op per
 * thread (the slowest thread's loop / iters), CPU ns per op per thread (mean
 * of the threads' own CPU time / iters) and the concurrency actually had
 * (sum of the threads' CPU time / the slowest thread's wall time: 2.0 when
 * both threads ran the whole time, less when a neighbour took a core). */
typedef struct hp_sample {
    double wall_ns, cpu_ns, concurrency;
} hp_sample_t;

static int
hp_run(rm_bufpool_t *bp, uint32_t file, int fd, int kind, int threads, size_t iters, uint32_t *idx,
       hp_sample_t *out)
{
    pthread_barrier_t bar;
    pthread_barrier_init(&bar, NULL, (unsigned)threads);
    pthread_t th[2];
    hp_arg_t a[2];
    for (int i = 0; i < threads; i++) {
        a[i] = (hp_arg_t){bp, file, iters, kind, fd, idx + (size_t)i * HP_IDX, &bar, 0, 0, 0, i};
        pthread_create(&th[i], NULL, hp_thread, &a[i]);
    }
    uint64_t wall = 0, cpu = 0;
    int failed = 0;
    for (int i = 0; i < threads; i++) {
        pthread_join(th[i], NULL);
        if (a[i].ns > wall)
            wall = a[i].ns;
        cpu += a[i].cpu_ns;
        failed |= a[i].failed;
    }
    pthread_barrier_destroy(&bar);
    out->wall_ns = (double)wall / (double)iters;
    out->cpu_ns = (double)cpu / (double)threads / (double)iters;
    out->concurrency = wall ? (double)cpu / (double)wall : 0.0;
    return failed ? -1 : 0;
}

static int
cmp_dbl(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double
median(const double *v, int n)
{
    double s[16];
    memcpy(s, v, (size_t)n * sizeof *s);
    qsort(s, (size_t)n, sizeof *s, cmp_dbl);
    return n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

static double
minimum(const double *v, int n)
{
    double m = v[0];
    for (int i = 1; i < n; i++)
        m = v[i] < m ? v[i] : m;
    return m;
}

/* Busy and total jiffies of all CPUs (/proc/stat "cpu" line; steal counts as
 * busy: a host neighbour's time is time this guest did not get). 0 when
 * unreadable. */
static int
cpu_jiffies(uint64_t *busy, uint64_t *total)
{
    FILE *f = fopen("/proc/stat", "r");
    unsigned long long v[8] = {0};
    int n = f ? fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5],
                       &v[6], &v[7])
              : 0;
    if (f)
        fclose(f);
    if (n < 8)
        return -1;
    *busy = v[0] + v[1] + v[2] + v[5] + v[6] + v[7];
    *total = *busy + v[3] + v[4];
    return 0;
}

/*
 * The hit path's rounds. Each round runs, back to back: pin+unpin at 1
 * thread, at 2 threads, and pread at 1 thread (the same page indices), so a
 * neighbour who takes a core for a while slows all three alike instead of
 * reading as a scaling failure or a better ratio. The keys are medians of the
 * per-round ratios (each ratio from runs seconds apart); the best-of-rounds
 * figures are reported beside them. CPU time is measured per thread: when a
 * 2-thread run had less than both cores (concurrency < 2), its wall-time
 * scaling says how busy the machine was, not how the pool scales.
 */
enum { HP_ROUNDS = 7 };

typedef struct hp_rounds {
    hp_sample_t one[HP_ROUNDS], two[HP_ROUNDS], pr[HP_ROUNDS];
} hp_rounds_t;

static int
hp_measure(rm_bufpool_t *bp, uint32_t file, int fd, int kind, size_t iters, size_t pr_iters, uint32_t *idx,
           hp_rounds_t *r)
{
    for (int k = 0; k < HP_ROUNDS; k++) {
        if (hp_run(bp, file, fd, kind, 1, iters, idx, &r->one[k]) != 0 ||
            hp_run(bp, file, fd, kind, 2, iters, idx, &r->two[k]) != 0 ||
            (fd >= 0 && hp_run(bp, file, fd, 2, 1, pr_iters, idx, &r->pr[k]) != 0))
            return -1;
    }
    return 0;
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
    /* pread of a 4 KiB page that is in the OS page cache (the file just written) */
    char path[512];
    snprintf(path, sizeof path, "%s/hitpath", dir);
    int fd = open(path, O_RDONLY);
    if (fd < 0) {
        fprintf(stderr, "bufpool: open %s failed\n", path);
        return -1;
    }
    size_t iters = o->quick ? 500000 : 3000000, pr_iters = o->quick ? 50000 : 300000;
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    double load_before = rm_bench_loadavg1();
    uint64_t b0 = 0, tot0 = 0, b1 = 0, tot1 = 0;
    double self0 = rm_bench_proc_cpu_s(getpid());
    int have_stat = cpu_jiffies(&b0, &tot0) == 0;
    hp_rounds_t pin, mh, ln_shared, ln_own;
    if (hp_measure(bp, file, fd, 0, iters, pr_iters, idx, &pin) != 0) {
        fprintf(stderr, "bufpool: hit-path pread failed\n");
        close(fd);
        return -1;
    }
    have_stat = have_stat && cpu_jiffies(&b1, &tot1) == 0;
    double self1 = rm_bench_proc_cpu_s(getpid());
    double load_after = rm_bench_loadavg1();
    close(fd);
    if (hp_measure(bp, file, -1, 1, iters, 0, idx, &mh) != 0 ||
        hp_measure(bp, file, -1, 3, iters, 0, idx, &ln_shared) != 0 ||
        hp_measure(bp, file, -1, 4, iters, 0, idx, &ln_own) != 0)
        return -1;

    /* the share of the machine's CPU time that went to other processes while
     * the pin rounds ran: 0 on a quiet machine */
    double others = -1;
    if (have_stat && tot1 > tot0 && self0 >= 0 && self1 >= 0) {
        double hz = (double)sysconf(_SC_CLK_TCK);
        double busy_s = (double)(b1 - b0) / hz, total_s = (double)(tot1 - tot0) / hz;
        others = (busy_s - (self1 - self0)) / total_s;
        if (others < 0)
            others = 0;
    }
    double ratio_pr[HP_ROUNDS], ratio_cpu[HP_ROUNDS], pr_c[HP_ROUNDS], sc_wall[HP_ROUNDS], sc_cpu[HP_ROUNDS], conc[HP_ROUNDS], mh_sc[HP_ROUNDS];
    double one_w[HP_ROUNDS], two_w[HP_ROUNDS], one_c[HP_ROUNDS], pr_w[HP_ROUNDS], mh_one[HP_ROUNDS];
    double ln_sh_sc[HP_ROUNDS], ln_own_sc[HP_ROUNDS];
    for (int k = 0; k < HP_ROUNDS; k++) {
        one_w[k] = pin.one[k].wall_ns;
        two_w[k] = pin.two[k].wall_ns;
        one_c[k] = pin.one[k].cpu_ns;
        pr_w[k] = pin.pr[k].wall_ns;
        ratio_pr[k] = pin.one[k].wall_ns / pin.pr[k].wall_ns;
        ratio_cpu[k] = pin.one[k].cpu_ns / pin.pr[k].cpu_ns;
        pr_c[k] = pin.pr[k].cpu_ns;
        sc_wall[k] = 2.0 * pin.one[k].wall_ns / pin.two[k].wall_ns;   /* throughput(2t) / throughput(1t) */
        sc_cpu[k] = 2.0 * pin.one[k].cpu_ns / pin.two[k].cpu_ns;
        conc[k] = pin.two[k].concurrency;
        mh_one[k] = mh.one[k].wall_ns;
        mh_sc[k] = 2.0 * mh.one[k].wall_ns / mh.two[k].wall_ns;
        ln_sh_sc[k] = 2.0 * ln_shared.one[k].wall_ns / ln_shared.two[k].wall_ns;
        ln_own_sc[k] = 2.0 * ln_own.one[k].wall_ns / ln_own.two[k].wall_ns;
    }
    double pin1 = median(one_w, HP_ROUNDS), pin2 = median(two_w, HP_ROUNDS), pr = median(pr_w, HP_ROUNDS);
    double ratio = median(ratio_pr, HP_ROUNDS), scaling = median(sc_wall, HP_ROUNDS);
    double scaling_cpu = median(sc_cpu, HP_ROUNDS), concurrency = median(conc, HP_ROUNDS);
    double scaling_best = 2.0 * minimum(one_w, HP_ROUNDS) / minimum(two_w, HP_ROUNDS);
    double mh1 = median(mh_one, HP_ROUNDS), mh_scaling = median(mh_sc, HP_ROUNDS);
    double ln_shared_scaling = median(ln_sh_sc, HP_ROUNDS), ln_own_scaling = median(ln_own_sc, HP_ROUNDS);
    /* quiet: the 2-thread runs had both cores nearly all the time and others
     * used under 5 % of the machine — only then does scaling_2t judge the pool */
    int quiet = concurrency >= 1.9 && others >= 0 && others < 0.05;
    fprintf(stderr,
            "hit path (%d interleaved rounds of 1t, 2t, pread; medians): pin+unpin %.1f ns (1t, best %.1f; "
            "CPU %.1f), pread 4 KiB cached %.1f ns (best %.1f; CPU %.1f) → pin_ns_ratio_vs_pread %.3f (CPU time %.3f)\n"
            "          2t %.1f ns wall/op/thread → scaling_2t %.2f (best-of %.2f; from CPU time %.2f); "
            "2t concurrency %.2f of 2; others' CPU share %.2f; load average %.2f → %.2f on %ld CPUs → %s\n"
            "          mutex hash %.1f ns (1t), scaling_2t %.2f\n"
            "          this machine: one atomic add per op on lines both threads write scales %.2f, on each "
            "thread's own lines %.2f → scaling_2t / shared-line scaling %.2f\n",
            HP_ROUNDS, pin1, minimum(one_w, HP_ROUNDS), median(one_c, HP_ROUNDS), pr, minimum(pr_w, HP_ROUNDS),
            median(pr_c, HP_ROUNDS), ratio, median(ratio_cpu, HP_ROUNDS), pin2, scaling, scaling_best, scaling_cpu, concurrency, others, load_before, load_after, ncpu,
            quiet ? "quiet machine" : "NOT a quiet machine: scaling_2t does not judge the pool", mh1, mh_scaling,
            ln_shared_scaling, ln_own_scaling, scaling / ln_shared_scaling);
    json_object_set_new(result, "pin_ns_1t", json_real(pin1));
    json_object_set_new(result, "pin_ns_1t_best", json_real(minimum(one_w, HP_ROUNDS)));
    json_object_set_new(result, "pin_cpu_ns_1t", json_real(median(one_c, HP_ROUNDS)));
    json_object_set_new(result, "pin_ns_2t", json_real(pin2));
    json_object_set_new(result, "pread_ns", json_real(pr));
    json_object_set_new(result, "pread_ns_best", json_real(minimum(pr_w, HP_ROUNDS)));
    json_object_set_new(result, "pin_ns_ratio_vs_pread", json_real(ratio));
    json_object_set_new(result, "pread_cpu_ns", json_real(median(pr_c, HP_ROUNDS)));
    json_object_set_new(result, "pin_ns_ratio_vs_pread_cpu", json_real(median(ratio_cpu, HP_ROUNDS)));
    json_object_set_new(result, "pin_ns_ratio_vs_pread_best",
                        json_real(minimum(one_w, HP_ROUNDS) / minimum(pr_w, HP_ROUNDS)));
    json_object_set_new(result, "hit_path_rounds", json_integer(HP_ROUNDS));
    json_object_set_new(result, "scaling_2t", json_real(scaling));
    json_object_set_new(result, "scaling_2t_best_of", json_real(scaling_best));
    json_object_set_new(result, "scaling_2t_cpu", json_real(scaling_cpu));
    json_object_set_new(result, "scaling_2t_concurrency", json_real(concurrency));
    json_object_set_new(result, "scaling_2t_others_cpu_share", json_real(others));
    json_object_set_new(result, "scaling_2t_quiet", json_boolean(quiet));
    json_object_set_new(result, "scaling_2t_loadavg_before", json_real(load_before));
    json_object_set_new(result, "scaling_2t_loadavg_after", json_real(load_after));
    json_object_set_new(result, "cpus_online", json_integer((json_int_t)ncpu));
    json_object_set_new(result, "mutex_hash_ns_1t", json_real(mh1));
    json_object_set_new(result, "mutex_hash_scaling_2t", json_real(mh_scaling));
    json_object_set_new(result, "pin_ns_ratio_vs_mutex_hash", json_real(pin1 / mh1));
    json_object_set_new(result, "shared_line_rmw_scaling_2t", json_real(ln_shared_scaling));
    json_object_set_new(result, "own_line_rmw_scaling_2t", json_real(ln_own_scaling));
    json_object_set_new(result, "scaling_2t_vs_shared_line_rmw", json_real(scaling / ln_shared_scaling));
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

/* ---- SQLite's speedtest1 as a family of its own ----------------------------------------
 * `rustymem-bench sqlite --dump DIR` records the main database's page
 * references under rustymem's pcache2 (one page number per line; SQLite asks
 * for the same pages whatever the cache size, so the three files it writes
 * hold the same sequence). When such a trace is present — in --sqlite-traces
 * DIR, by default <build>/bench-traces — it is replayed at 1/5/10/25 % of its
 * distinct pages through every policy and reported as "speedtest1", beside the
 * two halves and not folded into them (it is one real trace, neither tuned on
 * nor held out). Missing, it is generated on demand when speedtest1 is
 * already built in the build tree (<build>/speedtest1/speedtest1; about 10 s
 * at the sqlite suite's --quick size); otherwise the family is reported as
 * unavailable with the reason and the suite goes on. --no-sqlite-traces
 * skips it. */

static int
file_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* The first speedtest1_<pct>.txt in dir, into path; 0 if found. */
static int
find_sqlite_trace(const char *dir, char *path, size_t len)
{
    static const int pcts[3] = {10, 25, 5};
    for (int i = 0; i < 3; i++) {
        snprintf(path, len, "%s/speedtest1_%d.txt", dir, pcts[i]);
        if (file_exists(path))
            return 0;
    }
    return -1;
}

/* Run `rustymem-bench sqlite --quick --runs 1 --speedtest1 BIN --dump DIR`
 * (this binary, /proc/self/exe); its output goes to DIR/gen.log. 0 on success. */
static int
gen_sqlite_traces(const char *dir, const char *st_bin, char *why, size_t whylen)
{
    char self[1024];
    ssize_t k = readlink("/proc/self/exe", self, sizeof self - 1);
    if (k <= 0) {
        snprintf(why, whylen, "cannot read /proc/self/exe");
        return -1;
    }
    self[k] = '\0';
    mkdir(dir, 0755);
    char log[1200];
    snprintf(log, sizeof log, "%s/gen.log", dir);
    pid_t pid = fork();
    if (pid < 0) {
        snprintf(why, whylen, "fork failed");
        return -1;
    }
    if (pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
            close(fd);
        }
        execl(self, self, "sqlite", "--quick", "--runs", "1", "--speedtest1", st_bin, "--dump", dir,
              (char *)NULL);
        _exit(127);
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0)
        ;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        snprintf(why, whylen, "rustymem-bench sqlite --dump failed (see %s)", log);
        return -1;
    }
    return 0;
}

static int
sqlite_family(const rm_bench_opts_t *o, json_t *result)
{
    json_t *js = json_object();
    json_object_set_new(result, "speedtest1", js);
    char dir[1024], path[1200], why[1400] = "";
    const char *given = rm_bench_arg(o, "--sqlite-traces");
#ifdef RM_BENCH_BUILD_DIR
    snprintf(dir, sizeof dir, "%s", given ? given : RM_BENCH_BUILD_DIR "/bench-traces");
#else
    snprintf(dir, sizeof dir, "%s", given ? given : "");
#endif
    if (!dir[0]) {
        snprintf(why, sizeof why, "no trace directory (give --sqlite-traces DIR)");
    } else if (find_sqlite_trace(dir, path, sizeof path) != 0) {
#ifdef RM_BENCH_BUILD_DIR
        const char *st_bin = RM_BENCH_BUILD_DIR "/speedtest1/speedtest1";
        if (o->quick || access(st_bin, X_OK) != 0) {
            snprintf(why, sizeof why, "no speedtest1_<pct>.txt in %s and %s", dir,
                     o->quick ? "--quick does not generate it"
                              : "speedtest1 is not built (rustymem-bench sqlite builds it)");
        } else {
            fprintf(stderr, "speedtest1 traces: generating into %s\n", dir);
            if (gen_sqlite_traces(dir, st_bin, why, sizeof why) == 0 &&
                find_sqlite_trace(dir, path, sizeof path) != 0)
                snprintf(why, sizeof why, "rustymem-bench sqlite --dump wrote no trace into %s", dir);
        }
#else
        snprintf(why, sizeof why, "no speedtest1_<pct>.txt in %s", dir);
#endif
    }
    if (why[0]) {
        fprintf(stderr, "speedtest1 family: not included: %s\n", why);
        json_object_set_new(js, "available", json_false());
        json_object_set_new(js, "reason", json_string(why));
        return 0;
    }
    size_t n, distinct;
    uint64_t *t;
    if (load_trace(path, &t, &n, &distinct) != 0)
        return -1;
    fprintf(stderr, "speedtest1 family (%s: %zu accesses, %zu distinct pages)\n", path, n, distinct);
    score_header();
    family_score_t fs;
    score_init(&fs);
    json_t *cases = json_array();
    for (int ci = 0; ci < NPCT; ci++) {
        size_t c = (size_t)((double)distinct * suite_pcts[ci]);
        if (c < 2)
            c = 2;
        double hr[RM_BUFPOOL_POLICY_COUNT];
        if (run_policies(t, n, c, hr) != 0) {
            free(t);
            json_decref(cases);
            json_decref(fs.losses);
            return -1;
        }
        score_case(&fs, NULL, "speedtest1", suite_pcts[ci], c, hr, cases);
    }
    free(t);
    json_object_set_new(js, "available", json_true());
    json_object_set_new(js, "trace", json_string(path));
    json_object_set_new(js, "accesses", json_integer((json_int_t)n));
    json_object_set_new(js, "distinct_pages", json_integer((json_int_t)distinct));
    json_object_set_new(js, "cases", cases);
    score_finish(&fs, "speedtest1", js);
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
    int hit_only = rm_bench_flag(o, "--hit-path-only");
    const char *st_dir = rm_bench_arg(o, "--sqlite-traces");
    char st_path[1200];
    if (st_dir && find_sqlite_trace(st_dir, st_path, sizeof st_path) != 0) {
        fprintf(stderr,
                "rustymem-bench bufpool: --sqlite-traces %s: no speedtest1_<pct>.txt there "
                "(rustymem-bench sqlite --dump DIR writes them)\n",
                st_dir);
        return 1;
    }
    if (!hit_only && policy_suite(o, result) != 0)
        return 1;
    if (!hit_only && !rm_bench_flag(o, "--no-sqlite-traces") && sqlite_family(o, result) != 0)
        return 1;
    char dir[] = "/tmp/rm_bench_bufpool_XXXXXX";
    if (!mkdtemp(dir)) {
        fprintf(stderr, "bufpool: mkdtemp failed\n");
        return 1;
    }
    int rc = hit_path(o, dir, result) != 0 || (!hit_only && prefetch(o, dir, result) != 0);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "bufpool: could not remove %s\n", dir);
    if (rc)
        fprintf(stderr, "bufpool: hit-path or prefetch measurement failed\n");
    return rc;
}

RM_BENCH_SUITE(bufpool, "buffer pool: policy hit ratios vs ARC/LRU/CLOCK/OPT, pin hit path, prefetch",
               "--trace FILE --frames N --phase-len N --dump DIR --sqlite-traces DIR --no-sqlite-traces "
               "--hit-path-only",
               run_bufpool);
