/*
 * test_faultsim_pagecheck.c — kill -9 against the buffer pool's page files,
 * and a page-file checker for stopped agents' data directories.
 *
 * Without arguments (CTest): a child process writes pages through a buffer
 * pool (background writer on, explicit checkpoints in between) and
 * is killed with SIGKILL at a random moment (seeded: FAULTSIM_SEED, default
 * 1); then the directory is verified, and the next round reopens it — ten
 * rounds. Each page carries its page number and a version in its first words
 * and a pattern derived from both in the rest, so a page mixing two writes
 * (torn) is detected even if its checksum were valid. After each kill:
 *   - every page of every page file pins without RM_ECORRUPT (checksum and
 *     page number verified by the pool, after its double-write recovery);
 *   - every page is internally consistent (one version throughout);
 *   - durability: the highest version on disk is at least the version of the
 *     last write before the last checkpoint the child completed (reported
 *     through a pipe), and no page goes back to an older version than a
 *     previous round found.
 *
 * With `--check DIR [--page-size BYTES]`: verify the page files of DIR (an
 * agent's DATA/pages, agent stopped) without modifying them: DIR is copied to
 * a temporary directory, a pool is created on the copy (running the same
 * double-write recovery a restart would) and every page of every page file
 * is pinned; prints files, pages, checksum failures and torn pages repaired;
 * exit 0 when no page fails its checksum, 1 otherwise, 2 on usage/I/O error.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "rustymem/bufpool.h"
#include "rustymem/status.h"

static void
rm_rf(const char *dir)
{
    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", dir);
}

/* ---- the checker ------------------------------------------------------------ */

typedef struct check_result {
    uint64_t files, pages, checksum_failures, torn_repaired, io_errors;
} check_result_t;

/* Page visitor: called for every page pinned SHARED; may be NULL. */
typedef void (*page_fn)(void *ctx, const char *file, uint64_t page_no, const void *data, size_t usable);

/* Verify every page file of `dir` in place (the pool's recovery may rewrite
 * torn pages from the double-write file). Returns 0, or -1 when the pool
 * cannot be created. */
/* Files --check leaves alone: scratch files whose pages are written without
 * the double-write copy (rm_bufpool_open_temp_file) and truncated at restart,
 * so a kill may tear them legitimately. */
static const char *skip_names[8];
static int nskip;

static int
skipped(const char *name)
{
    for (int i = 0; i < nskip; i++)
        if (strcmp(skip_names[i], name) == 0)
            return 1;
    return 0;
}

static int
check_dir(const char *dir, size_t page_size, page_fn fn, void *ctx, check_result_t *r)
{
    memset(r, 0, sizeof *r);
    rm_bufpool_config_t cfg;
    rm_bufpool_config_default(&cfg);
    cfg.dir = dir;
    cfg.page_size = page_size;
    cfg.num_frames = 64;
    cfg.start_writer = 0;
    cfg.durable = 0;
    rm_bufpool_t *bp = NULL;
    rm_status_t st = rm_bufpool_create(&cfg, &bp);
    if (st != RM_OK) {
        fprintf(stderr, "pagecheck: cannot open a pool on %s: %s\n", dir, rm_err_name(st));
        return -1;
    }
    DIR *d = opendir(dir);
    if (!d) {
        rm_bufpool_destroy(bp);
        return -1;
    }
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.' || strcmp(e->d_name, "rustymem.dw") == 0 || skipped(e->d_name))
            continue;
        uint32_t fid;
        if (rm_bufpool_open_file(bp, e->d_name, &fid) != RM_OK) {
            r->io_errors++;
            continue;
        }
        r->files++;
        uint64_t n = 0;
        rm_bufpool_file_pages(bp, fid, &n);
        for (uint64_t p = 0; p < n; p++) {
            rm_bufpool_frame_t *f = NULL;
            st = rm_bufpool_pin(bp, fid, p, RM_BUFPOOL_SHARED, &f);
            r->pages++;
            if (st == RM_ECORRUPT) {
                r->checksum_failures++;
                fprintf(stderr, "pagecheck: %s page %llu fails its checksum\n", e->d_name,
                        (unsigned long long)p);
                continue;
            }
            if (st != RM_OK) {
                r->io_errors++;
                continue;
            }
            if (fn)
                fn(ctx, e->d_name, p, rm_bufpool_frame_data(f), rm_bufpool_usable_bytes(bp));
            rm_bufpool_unpin(bp, f, RM_BUFPOOL_SHARED, 0);
        }
    }
    closedir(d);
    rm_bufpool_stats_t s;
    rm_bufpool_stats(bp, &s);
    r->torn_repaired = s.torn_pages_repaired;
    rm_bufpool_destroy(bp);
    return 0;
}

static int
check_main(int argc, char **argv)
{
    const char *dir = NULL;
    size_t ps = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--check") == 0 && i + 1 < argc)
            dir = argv[++i];
        else if (strcmp(argv[i], "--page-size") == 0 && i + 1 < argc)
            ps = (size_t)strtoull(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--skip") == 0 && i + 1 < argc && nskip < 8)
            skip_names[nskip++] = argv[++i];
        else {
            fprintf(stderr, "usage: %s --check DIR [--page-size BYTES] [--skip FILE]...\n", argv[0]);
            return 2;
        }
    }
    struct stat sb;
    if (!dir || stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
        fprintf(stderr, "pagecheck: %s is not a directory\n", dir ? dir : "(none)");
        return 2;
    }
    char copy[] = "/tmp/rm-pagecheck-XXXXXX";
    if (!mkdtemp(copy))
        return 2;
    char cmd[1400];
    snprintf(cmd, sizeof cmd, "cp -a '%s/.' '%s/'", dir, copy);
    if (system(cmd) != 0) {
        rm_rf(copy);
        return 2;
    }
    check_result_t r;
    int rc = check_dir(copy, ps, NULL, NULL, &r);
    rm_rf(copy);
    if (rc < 0)
        return 2;
    printf("pagecheck %s: files=%llu pages=%llu checksum_failures=%llu torn_pages_repaired=%llu "
           "io_errors=%llu\n",
           dir, (unsigned long long)r.files, (unsigned long long)r.pages,
           (unsigned long long)r.checksum_failures, (unsigned long long)r.torn_repaired,
           (unsigned long long)r.io_errors);
    return r.checksum_failures || r.io_errors ? 1 : 0;
}

/* ---- kill -9 while writing ------------------------------------------------------ */

#define KP_PAGES   192u
#define KP_ROUNDS  10

static uint32_t
pattern(uint64_t page, uint32_t version, size_t i)
{
    uint64_t x = (page * 0x9E3779B97F4A7C15ull) ^ ((uint64_t)version << 20) ^ i;
    x ^= x >> 29;
    x *= 0xBF58476D1CE4E5B9ull;
    return (uint32_t)(x >> 32);
}

/* The writer child: never returns. Reports every completed checkpoint as
 * (version floor) on fd. */
static void
writer_child(const char *dir, uint32_t first_version, unsigned seed, int fd)
{
    rm_bufpool_config_t cfg;
    rm_bufpool_config_default(&cfg);
    cfg.dir = dir;
    cfg.num_frames = 48;         /* fewer frames than pages: evictions write too */
    cfg.writer_interval_ms = 5;
    /* no fdatasync: a killed process loses nothing the kernel accepted (that
     * is a power-loss question); without syncs many more writes are in
     * flight when the kill lands */
    cfg.durable = 0;
    cfg.start_writer = 1;
    rm_bufpool_t *bp = NULL;
    if (rm_bufpool_create(&cfg, &bp) != RM_OK)
        _exit(3);
    uint32_t fid;
    if (rm_bufpool_open_file(bp, "data.pages", &fid) != RM_OK)
        _exit(3);
    size_t words = rm_bufpool_usable_bytes(bp) / 4;
    uint32_t v = first_version;
    for (uint64_t n = 0;; n++) {
        uint64_t page = (uint64_t)rand_r(&seed) % KP_PAGES;
        rm_bufpool_frame_t *f = NULL;
        if (rm_bufpool_pin(bp, fid, page, RM_BUFPOOL_EXCLUSIVE, &f) != RM_OK)
            _exit(4);
        uint32_t *d = rm_bufpool_frame_data(f);
        d[0] = (uint32_t)page;
        d[1] = v;
        for (size_t i = 2; i < words; i++)
            d[i] = pattern(page, v, i);
        rm_bufpool_unpin(bp, f, RM_BUFPOOL_EXCLUSIVE, 1);
        if (n % 64 == 63) {
            uint32_t floor = v;   /* every page written so far is on disk once this returns */
            if (rm_bufpool_checkpoint(bp) != RM_OK)
                _exit(5);
            if (write(fd, &floor, sizeof floor) != sizeof floor)
                _exit(6);
        }
        v++;
    }
}

typedef struct verify_ctx {
    uint32_t max_version;                 /* highest version seen */
    uint32_t page_version[KP_PAGES];      /* version found per page (0 = never written) */
    uint64_t inconsistent;
} verify_ctx_t;

static void
verify_page(void *ctx_, const char *file, uint64_t page_no, const void *data, size_t usable)
{
    verify_ctx_t *c = ctx_;
    const uint32_t *d = data;
    if (page_no >= KP_PAGES) {
        c->inconsistent++;
        return;
    }
    if (d[0] == 0 && d[1] == 0) {     /* never written (reads as zeros) */
        int zero = 1;
        for (size_t i = 2; i < usable / 4 && zero; i++)
            zero = d[i] == 0;
        if (!zero)
            c->inconsistent++;
        return;
    }
    if (d[0] != page_no) {
        c->inconsistent++;
        return;
    }
    for (size_t i = 2; i < usable / 4; i++)
        if (d[i] != pattern(page_no, d[1], i)) {
            c->inconsistent++;
            fprintf(stderr, "page %llu: torn (version %u, word %zu)\n", (unsigned long long)page_no, d[1], i);
            return;
        }
    c->page_version[page_no] = d[1];
    if (d[1] > c->max_version)
        c->max_version = d[1];
}

static void
test_faultsim_kill9_bufpool(void **state)
{
    const char *s = getenv("FAULTSIM_SEED");
    unsigned seed = s ? (unsigned)strtoul(s, NULL, 10) : 1;
    char dir[128];
    snprintf(dir, sizeof dir, "/tmp/rm-faultsim-kill9.%ld", (long)getpid());
    rm_rf(dir);
    uint32_t version = 1;
    uint32_t prev_version[KP_PAGES];   /* version each page had at the previous verification */
    memset(prev_version, 0, sizeof prev_version);
    uint64_t total_pages = 0, repaired = 0;
    for (int round = 0; round < KP_ROUNDS; round++) {
        int pfd[2];
        assert_int_equal(pipe(pfd), 0);
        fflush(NULL);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            close(pfd[0]);
            writer_child(dir, version, seed + (unsigned)round, pfd[1]);
        }
        close(pfd[1]);
        unsigned delay_ms = 40 + (unsigned)(rand_r(&seed) % 260);
        struct timespec ts = {.tv_sec = delay_ms / 1000, .tv_nsec = (long)(delay_ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
        assert_int_equal(kill(pid, SIGKILL), 0);
        int status = 0;
        assert_int_equal(waitpid(pid, &status, 0), pid);
        if (!(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL))
            fail_msg("round %d: writer exited early (status 0x%x)", round, status);
        /* the last checkpoint the child completed */
        uint32_t floor = 0, f;
        while (read(pfd[0], &f, sizeof f) == sizeof f)
            floor = f;
        close(pfd[0]);

        verify_ctx_t vc;
        memset(&vc, 0, sizeof vc);
        check_result_t r;
        assert_int_equal(check_dir(dir, 0, verify_page, &vc, &r), 0);
        total_pages += r.pages;
        repaired += r.torn_repaired;
        if (r.checksum_failures || r.io_errors || vc.inconsistent)
            fail_msg("round %d (killed after %u ms): %llu checksum failures, %llu I/O errors, %llu torn pages",
                     round, delay_ms, (unsigned long long)r.checksum_failures,
                     (unsigned long long)r.io_errors, (unsigned long long)vc.inconsistent);
        /* durability: a page never goes back to an older version than a
         * previous verification found on disk (versions only grow) */
        for (uint32_t p = 0; p < KP_PAGES; p++) {
            if (vc.page_version[p] < prev_version[p])
                fail_msg("round %d: page %u went back from version %u to %u", round, p, prev_version[p],
                         vc.page_version[p]);
            prev_version[p] = vc.page_version[p];
        }
        fprintf(stderr, "  round %d: killed after %u ms, last acked checkpoint at version %u, highest "
                        "version on disk %u, %llu pages verified, %llu torn pages repaired\n",
                round, delay_ms, floor, vc.max_version, (unsigned long long)r.pages,
                (unsigned long long)r.torn_repaired);
        /* the page written last before the acknowledged checkpoint holds
         * that version or a newer one */
        if (floor && vc.max_version < floor)
            fail_msg("round %d: acknowledged checkpoint at version %u, disk has at most %u", round, floor,
                     vc.max_version);
        version = (vc.max_version > floor ? vc.max_version : floor) + 1000000u;
    }
    rm_rf(dir);
    fprintf(stderr, "faultsim kill9-bufpool rounds=%d pages-verified=%llu torn-pages-repaired=%llu seed=%u\n",
            KP_ROUNDS, (unsigned long long)total_pages, (unsigned long long)repaired, s ? seed : 1);
}

int
main(int argc, char **argv)
{
    if (argc > 1)
        return check_main(argc, argv);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_faultsim_kill9_bufpool),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
