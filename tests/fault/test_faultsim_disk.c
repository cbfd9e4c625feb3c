/*
 * test_faultsim_disk.c — disk full and write errors.
 *
 * Two ways to make writes fail, each in a forked child so nothing leaks into
 * the test process:
 *  - RLIMIT_FSIZE with SIGXFSZ ignored: a write past the limit returns EFBIG;
 *  - a 512 KiB tmpfs mounted in a private mount namespace (root only; the
 *    mount disappears with the child): writes fail with ENOSPC. Skipped when
 *    unshare/mount is not permitted.
 * For each, three scenarios:
 *  1. buffer pool: pages dirtied while writes fail make rm_bufpool_checkpoint
 *     (and eviction) return RM_EIO; the pool keeps the dirty pages and serves
 *     the new contents; once the limit is lifted a checkpoint succeeds, and a
 *     fresh pool on the directory reads every page back with its checksum;
 *  3. reads while writes fail: with half the frames holding new pages that
 *     cannot be written, every old page still reads (a miss takes a clean
 *     victim instead of giving up at the unwritable dirty one), the pool says
 *     writes are failing with the system's reason; once every frame is dirty
 *     a pin fails with RM_ENOSPC (not a read error) and pins nothing; after
 *     the limit is lifted the next miss writes, a checkpoint clears the
 *     failing state, and a fresh pool reads every page back;
 *  2. persisted knobs (rm_config_persist_fn, write to a temporary file then
 *     rename): a set that cannot be persisted fails with RM_EIO and a message
 *     naming the cause, the running value is unchanged (the registry's
 *     contract: nothing is committed unless persisted), the old file is
 *     byte-for-byte intact and no temporary file is left; after the limit is
 *     lifted the same set succeeds and is on disk.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"
#include "rustymem/bufpool.h"
#include "rustymem/knobs.h"
#include "rustymem/status.h"

/* Checks inside the forked child: print and exit non-zero. */
#define CHECK(c, ...)                                                                  \
    do {                                                                               \
        if (!(c)) {                                                                    \
            fprintf(stderr, "%s:%d: CHECK(%s) failed: ", __FILE__, __LINE__, #c);     \
            fprintf(stderr, __VA_ARGS__);                                              \
            fputc('\n', stderr);                                                       \
            _exit(1);                                                                  \
        }                                                                              \
    } while (0)

enum { MODE_FSIZE = 0, MODE_TMPFS = 1 };
static const char *const mode_name[] = {"RLIMIT_FSIZE (EFBIG)", "tmpfs full (ENOSPC)"};

static char base_dir[256];

static void
rm_rf(const char *dir)
{
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", dir);
}

/* ---- making writes fail --------------------------------------------------- */

static char filler_path[600];

/* Make further writes in `dir` fail: lower RLIMIT_FSIZE to `limit` bytes, or
 * fill the tmpfs. */
static void
impose(int mode, const char *dir, rlim_t limit)
{
    if (mode == MODE_FSIZE) {
        struct rlimit rl;
        CHECK(getrlimit(RLIMIT_FSIZE, &rl) == 0, "getrlimit");
        rl.rlim_cur = limit;
        CHECK(setrlimit(RLIMIT_FSIZE, &rl) == 0, "setrlimit: %s", strerror(errno));
        return;
    }
    snprintf(filler_path, sizeof filler_path, "%s/filler", dir);
    int fd = open(filler_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    CHECK(fd >= 0, "open filler: %s", strerror(errno));
    static char block[4096];
    memset(block, 'f', sizeof block);
    for (;;) {
        ssize_t w = write(fd, block, sizeof block);
        if (w < 0) {
            CHECK(errno == ENOSPC, "filler write: %s", strerror(errno));
            break;
        }
        if (w < (ssize_t)sizeof block)
            continue;
    }
    close(fd);
}

static void
lift(int mode)
{
    if (mode == MODE_FSIZE) {
        struct rlimit rl;
        CHECK(getrlimit(RLIMIT_FSIZE, &rl) == 0, "getrlimit");
        rl.rlim_cur = rl.rlim_max;
        CHECK(setrlimit(RLIMIT_FSIZE, &rl) == 0, "setrlimit: %s", strerror(errno));
        return;
    }
    CHECK(unlink(filler_path) == 0, "unlink filler: %s", strerror(errno));
}

/* In the child: a private tmpfs at dir (MODE_TMPFS). Returns 0, or 77 when
 * not permitted (the parent then skips). */
static int
child_mount(const char *dir)
{
    if (unshare(CLONE_NEWNS) != 0)
        return 77;
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0)
        return 77;
    if (mount("tmpfs", dir, "tmpfs", 0, "size=512k,mode=0755") != 0)
        return 77;
    return 0;
}

/* ---- scenario 1: buffer pool --------------------------------------------- */

#define BP_OLD_PAGES 16u   /* written and checkpointed before the fault */
#define BP_PAGES     56u   /* pages 0..55 hold version 2 at the end */

static rm_status_t
put_page(rm_bufpool_t *bp, uint32_t fid, uint64_t page, uint32_t version)
{
    rm_bufpool_frame_t *f = NULL;
    rm_status_t st = rm_bufpool_pin(bp, fid, page, RM_BUFPOOL_EXCLUSIVE, &f);
    if (st != RM_OK)
        return st;
    uint32_t *d = rm_bufpool_frame_data(f);
    for (size_t i = 0; i < rm_bufpool_usable_bytes(bp) / 4; i++)
        d[i] = version * 1000003u + (uint32_t)page * 31u + (uint32_t)i;
    rm_bufpool_unpin(bp, f, RM_BUFPOOL_EXCLUSIVE, 1);
    return RM_OK;
}

static void
expect_page(rm_bufpool_t *bp, uint32_t fid, uint64_t page, uint32_t version)
{
    rm_bufpool_frame_t *f = NULL;
    rm_status_t st = rm_bufpool_pin(bp, fid, page, RM_BUFPOOL_SHARED, &f);
    CHECK(st == RM_OK, "pin page %llu: %s", (unsigned long long)page, rm_err_name(st));
    const uint32_t *d = rm_bufpool_frame_data(f);
    for (size_t i = 0; i < rm_bufpool_usable_bytes(bp) / 4; i++)
        CHECK(d[i] == version * 1000003u + (uint32_t)page * 31u + (uint32_t)i,
              "page %llu word %zu: not version %u", (unsigned long long)page, i, version);
    rm_bufpool_unpin(bp, f, RM_BUFPOOL_SHARED, 0);
}

static int
child_bufpool(int mode, const char *dir)
{
    rm_bufpool_config_t cfg;
    rm_bufpool_config_default(&cfg);
    char pages_dir[600];
    snprintf(pages_dir, sizeof pages_dir, "%s/pages", dir);
    cfg.dir = pages_dir;
    cfg.num_frames = 64;          /* every page stays resident */
    cfg.start_writer = 0;
    rm_bufpool_t *bp = NULL;
    CHECK(rm_bufpool_create(&cfg, &bp) == RM_OK, "create");
    uint32_t fid = 0;
    CHECK(rm_bufpool_open_file(bp, "data.pages", &fid) == RM_OK, "open_file");
    for (uint64_t p = 0; p < BP_OLD_PAGES; p++)
        CHECK(put_page(bp, fid, p, 1) == RM_OK, "put v1");
    CHECK(rm_bufpool_checkpoint(bp) == RM_OK, "first checkpoint");

    /* writes fail from here: the page file may not grow */
    char page_file[700];
    snprintf(page_file, sizeof page_file, "%s/data.pages", pages_dir);
    struct stat sb;
    CHECK(stat(page_file, &sb) == 0, "stat");
    impose(mode, dir, (rlim_t)sb.st_size);
    for (uint64_t p = 0; p < BP_PAGES; p++)
        CHECK(put_page(bp, fid, p, 2) == RM_OK, "put v2 page %llu", (unsigned long long)p);
    rm_bufpool_stats_t s;
    CHECK(rm_bufpool_stats(bp, &s) == RM_OK, "stats");
    CHECK(s.dirty == BP_PAGES, "dirty %llu before the checkpoint", (unsigned long long)s.dirty);

    rm_status_t st = rm_bufpool_checkpoint(bp);
    CHECK(st == RM_ENOSPC, "checkpoint under a full disk: %s, want RM_ENOSPC", rm_err_name(st));
    CHECK(rm_bufpool_stats(bp, &s) == RM_OK, "stats");
    CHECK(s.dirty > 0, "no dirty page kept after a failed checkpoint");
    /* the operator can see what failed: operation, file and the system's reason */
    CHECK(s.io_errors > 0, "no I/O error counted");
    CHECK((strncmp(s.last_io_error, "write ", 6) == 0 || strncmp(s.last_io_error, "sync ", 5) == 0) &&
              (strstr(s.last_io_error, "data.pages") || strstr(s.last_io_error, "rustymem.dw")) &&
              (strstr(s.last_io_error, "too large") || strstr(s.last_io_error, "No space")),
          "last_io_error \"%s\"", s.last_io_error);
    uint64_t dirty_kept = s.dirty, writes0 = s.writes;
    /* eviction must not drop a page it cannot write: a dirty page leaves the
     * count only by a write that succeeded (an old page overwritten within
     * the file's size can be, depending on which victim comes first) */
    uint64_t evicted = 0;
    rm_status_t evict_st = rm_bufpool_evict(bp, 1.0, &evicted);
    CHECK(evict_st == RM_ENOSPC || evict_st == RM_OK, "evict: %s", rm_err_name(evict_st));
    CHECK(rm_bufpool_stats(bp, &s) == RM_OK, "stats");
    CHECK(s.dirty <= dirty_kept && s.dirty + (s.writes - writes0) >= dirty_kept && s.dirty > 0,
          "evict changed dirty %llu -> %llu with %llu pages written", (unsigned long long)dirty_kept,
          (unsigned long long)s.dirty, (unsigned long long)(s.writes - writes0));
    /* a shrink must not lose one either */
    rm_status_t shrink_st = rm_bufpool_resize(bp, 8);
    CHECK(shrink_st == RM_ENOSPC, "shrink under a full disk: %s", rm_err_name(shrink_st));
    for (uint64_t p = 0; p < BP_PAGES; p++)
        expect_page(bp, fid, p, 2);
    CHECK(rm_bufpool_stats(bp, &s) == RM_OK, "stats");
    CHECK(s.checksum_failures == 0, "checksum failures %llu", (unsigned long long)s.checksum_failures);
    fprintf(stderr, "  [%s] checkpoint -> RM_ENOSPC, %llu of %u pages kept dirty, evict -> %s, shrink -> %s, "
                    "all pages read back version 2\n",
            mode_name[mode], (unsigned long long)dirty_kept, BP_PAGES, rm_err_name(evict_st),
            rm_err_name(shrink_st));

    lift(mode);
    st = rm_bufpool_checkpoint(bp);
    CHECK(st == RM_OK, "checkpoint after lifting the limit: %s", rm_err_name(st));
    CHECK(rm_bufpool_stats(bp, &s) == RM_OK, "stats");
    CHECK(s.dirty == 0, "dirty %llu after a good checkpoint", (unsigned long long)s.dirty);
    CHECK(rm_bufpool_destroy(bp) == RM_OK, "destroy");

    /* a fresh pool reads every page from disk, checksums verified */
    bp = NULL;
    CHECK(rm_bufpool_create(&cfg, &bp) == RM_OK, "re-create");
    CHECK(rm_bufpool_open_file(bp, "data.pages", &fid) == RM_OK, "re-open");
    uint64_t npages = 0;
    CHECK(rm_bufpool_file_pages(bp, fid, &npages) == RM_OK && npages == BP_PAGES, "file pages %llu",
          (unsigned long long)npages);
    for (uint64_t p = 0; p < BP_PAGES; p++)
        expect_page(bp, fid, p, 2);
    CHECK(rm_bufpool_stats(bp, &s) == RM_OK, "stats");
    CHECK(s.checksum_failures == 0, "checksum failures %llu", (unsigned long long)s.checksum_failures);
    CHECK(s.reads >= BP_PAGES, "pages were not read from disk");
    CHECK(rm_bufpool_destroy(bp) == RM_OK, "destroy");
    return 0;
}

/* ---- scenario 3: reads while writes fail ----------------------------------- */

#define RD_FRAMES 16u   /* frames of the pool */
#define RD_OLD    40u   /* pages on disk before the fault */
#define RD_NEW    8u    /* new pages dirtied after it (half the frames) */

static int
child_reads(int mode, const char *dir)
{
    rm_bufpool_config_t cfg;
    rm_bufpool_config_default(&cfg);
    char pages_dir[600];
    snprintf(pages_dir, sizeof pages_dir, "%s/pages", dir);
    cfg.dir = pages_dir;
    cfg.num_frames = RD_FRAMES;
    cfg.start_writer = 0;
    rm_bufpool_t *bp = NULL;
    CHECK(rm_bufpool_create(&cfg, &bp) == RM_OK, "create");
    uint32_t fid = 0;
    CHECK(rm_bufpool_open_file(bp, "data.pages", &fid) == RM_OK, "open_file");
    for (uint64_t p = 0; p < RD_OLD; p++)
        CHECK(put_page(bp, fid, p, 1) == RM_OK, "put v1 page %llu", (unsigned long long)p);
    CHECK(rm_bufpool_checkpoint(bp) == RM_OK, "first checkpoint");
    rm_bufpool_write_state_t ws;
    CHECK(rm_bufpool_write_state(bp, &ws) == RM_OK && !ws.failing && ws.write_errors == 0 && ws.since_ns == 0,
          "write state before the fault: failing %d, errors %llu", ws.failing, (unsigned long long)ws.write_errors);

    char page_file[700];
    snprintf(page_file, sizeof page_file, "%s/data.pages", pages_dir);
    struct stat sb;
    CHECK(stat(page_file, &sb) == 0, "stat");
    impose(mode, dir, (rlim_t)sb.st_size);
    int want_errno = mode == MODE_FSIZE ? EFBIG : ENOSPC;

    /* new pages past the end of the file: each takes a clean frame */
    for (uint64_t p = RD_OLD; p < RD_OLD + RD_NEW; p++)
        CHECK(put_page(bp, fid, p, 2) == RM_OK, "put v2 page %llu", (unsigned long long)p);
    rm_status_t st = rm_bufpool_checkpoint(bp);
    CHECK(st == RM_ENOSPC, "checkpoint: %s, want RM_ENOSPC", rm_err_name(st));
    CHECK(rm_bufpool_write_state(bp, &ws) == RM_OK, "write state");
    CHECK(ws.failing == 1 && ws.unwritable_pages == RD_NEW && ws.since_ns > 0 && ws.last_errno == want_errno &&
              ws.write_errors > 0 && strstr(ws.last_error, "data.pages") && strstr(ws.last_error, strerror(want_errno)),
          "write state: failing %d, unwritable %llu, since %llu, errno %d, \"%s\"", ws.failing,
          (unsigned long long)ws.unwritable_pages, (unsigned long long)ws.since_ns, ws.last_errno, ws.last_error);
    rm_bufpool_stats_t s;
    CHECK(rm_bufpool_stats(bp, &s) == RM_OK, "stats");
    CHECK(s.writes_failing == 1 && s.unwritable_pages == RD_NEW && s.write_errors == ws.write_errors &&
              s.writes_failing_since_ns == ws.since_ns && strcmp(s.last_write_error, ws.last_error) == 0,
          "stats: failing %d, unwritable %llu, write errors %llu, \"%s\"", s.writes_failing,
          (unsigned long long)s.unwritable_pages, (unsigned long long)s.write_errors, s.last_write_error);
    uint64_t since = ws.since_ns;

    /* every old page reads, three times round (each miss needs a frame, and
     * half the frames hold pages that cannot be written) */
    for (int round = 0; round < 3; round++)
        for (uint64_t p = 0; p < RD_OLD; p++)
            expect_page(bp, fid, p, 1);
    for (uint64_t p = RD_OLD; p < RD_OLD + RD_NEW; p++)
        expect_page(bp, fid, p, 2);
    CHECK(rm_bufpool_stats(bp, &s) == RM_OK, "stats");
    CHECK(s.dirty == RD_NEW && s.unwritable_pages == RD_NEW, "dirty %llu, unwritable %llu after the reads",
          (unsigned long long)s.dirty, (unsigned long long)s.unwritable_pages);

    /* more new pages until no frame can be freed: then RM_ENOSPC, not a read error */
    uint64_t end = RD_OLD + RD_NEW;
    for (; end < RD_OLD + 2 * RD_FRAMES; end++)
        if ((st = put_page(bp, fid, end, 2)) != RM_OK)
            break;
    CHECK(st == RM_ENOSPC, "pin of a new page with every frame dirty: %s, want RM_ENOSPC", rm_err_name(st));
    CHECK(end == RD_OLD + RD_FRAMES, "%llu new pages fitted, want %u (one per frame)",
          (unsigned long long)(end - RD_OLD), RD_FRAMES);
    rm_bufpool_frame_t *f = (rm_bufpool_frame_t *)&f;
    st = rm_bufpool_pin(bp, fid, 0, RM_BUFPOOL_SHARED, &f);
    CHECK(st == RM_ENOSPC && f == NULL, "read of an old page with every frame dirty: %s", rm_err_name(st));
    CHECK(rm_bufpool_stats(bp, &s) == RM_OK, "stats");
    CHECK(s.pinned == 0 && s.dirty == RD_FRAMES && s.unwritable_pages >= RD_NEW,
          "pinned %llu dirty %llu unwritable %llu", (unsigned long long)s.pinned, (unsigned long long)s.dirty,
          (unsigned long long)s.unwritable_pages);
    for (uint64_t p = RD_OLD; p < end; p++)
        expect_page(bp, fid, p, 2);   /* nothing lost: served from the frames */
    CHECK(rm_bufpool_write_state(bp, &ws) == RM_OK && ws.failing && ws.since_ns == since,
          "failing %d since %llu (was %llu)", ws.failing, (unsigned long long)ws.since_ns,
          (unsigned long long)since);
    fprintf(stderr, "  [%s] %u old pages read 3x with %u unwritable dirty frames of %u; full pool -> %s\n",
            mode_name[mode], RD_OLD, RD_NEW, RD_FRAMES, rm_err_name(st));

    lift(mode);
    expect_page(bp, fid, 0, 1);   /* the miss writes its victim now */
    CHECK(rm_bufpool_checkpoint(bp) == RM_OK, "checkpoint after lifting the limit");
    CHECK(rm_bufpool_write_state(bp, &ws) == RM_OK && !ws.failing && ws.unwritable_pages == 0 && ws.since_ns == 0,
          "still failing after a good checkpoint: %d, %llu pages", ws.failing,
          (unsigned long long)ws.unwritable_pages);
    CHECK(rm_bufpool_destroy(bp) == RM_OK, "destroy");

    bp = NULL;
    CHECK(rm_bufpool_create(&cfg, &bp) == RM_OK, "re-create");
    CHECK(rm_bufpool_open_file(bp, "data.pages", &fid) == RM_OK, "re-open");
    for (uint64_t p = 0; p < end; p++)
        expect_page(bp, fid, p, p < RD_OLD ? 1 : 2);
    CHECK(rm_bufpool_stats(bp, &s) == RM_OK && s.checksum_failures == 0, "checksum failures");
    CHECK(rm_bufpool_destroy(bp) == RM_OK, "destroy");
    return 0;
}

/* ---- scenario 2: persisted knobs ----------------------------------------- */

static size_t
read_all(const char *path, char *buf, size_t cap)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    CHECK(fd >= 0, "open %s: %s", path, strerror(errno));
    size_t n = 0;
    ssize_t r;
    while (n < cap && (r = read(fd, buf + n, cap - n)) > 0)
        n += (size_t)r;
    close(fd);
    return n;
}

/* Files in dir other than `keep1`/`keep2` (temporaries left behind). */
static int
stray_files(const char *dir, const char *keep1, const char *keep2)
{
    DIR *d = opendir(dir);
    CHECK(d, "opendir");
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0 ||
            strcmp(e->d_name, keep1) == 0 || (keep2 && strcmp(e->d_name, keep2) == 0))
            continue;
        fprintf(stderr, "  stray file %s\n", e->d_name);
        n++;
    }
    closedir(d);
    return n;
}

static rm_status_t
set_knob(rm_knobs_t *k, const char *name, const char *value, rm_knob_error_t *err)
{
    rm_knob_assign_t a = {.name = name, .value = value};
    return rm_knobs_set(k, &a, 1, 0, err);
}

static int
child_knobs(int mode, const char *dir)
{
    static char path[700];
    snprintf(path, sizeof path, "%s/knobs.auto.ini", dir);
    rm_knobs_t *k = NULL;
    CHECK(rm_knobs_create(&k) == RM_OK, "knobs create");
    rm_knobs_set_persister(k, rm_config_persist_fn, path);
    rm_knobs_mark_started(k);
    rm_knob_error_t err;
    CHECK(set_knob(k, "plan_cache.max_plans", "1234", &err) == RM_OK, "first set: %s", err.message);
    CHECK(set_knob(k, "pressure.warning_threshold", "0.71", &err) == RM_OK, "second set: %s", err.message);
    static char before[8192], after[8192];
    size_t nb = read_all(path, before, sizeof before);
    CHECK(nb > 0 && memmem(before, nb, "1234", 4), "the file does not hold the first set");

    impose(mode, dir, 8);   /* smaller than any knob file */
    rm_status_t st = set_knob(k, "plan_cache.max_plans", "4321", &err);
    CHECK(st == RM_EIO, "set under a full disk: %s (%s), want RM_EIO", rm_err_name(st), err.message);
    const char *cause = mode == MODE_FSIZE ? strerror(EFBIG) : strerror(ENOSPC);
    CHECK(err.message[0] != '\0', "no message");
    CHECK(strstr(err.message, cause) != NULL, "message \"%s\" does not name \"%s\"", err.message, cause);
    /* the registry's contract: nothing committed unless persisted */
    CHECK(rm_knobs_get_i64(k, RM_KNOB_PLAN_CACHE_MAX_PLANS) == 1234, "running value changed to %lld",
          (long long)rm_knobs_get_i64(k, RM_KNOB_PLAN_CACHE_MAX_PLANS));
    char text[64];
    CHECK(rm_knobs_get_text(k, "plan_cache.max_plans", text, sizeof text, NULL, 0, NULL) == RM_OK &&
              strcmp(text, "1234") == 0,
          "text value %s", text);
    size_t na = read_all(path, after, sizeof after);
    CHECK(na == nb && memcmp(before, after, nb) == 0, "the old knob file changed");
    CHECK(stray_files(dir, "knobs.auto.ini", mode == MODE_TMPFS ? "filler" : NULL) == 0,
          "a temporary file was left behind");
    fprintf(stderr, "  [%s] knob set -> RM_EIO \"%s\"; running value and file (%zu bytes) unchanged\n",
            mode_name[mode], err.message, nb);

    lift(mode);
    CHECK(set_knob(k, "plan_cache.max_plans", "4321", &err) == RM_OK, "set after lifting: %s", err.message);
    na = read_all(path, after, sizeof after);
    CHECK(memmem(after, na, "4321", 4) && memmem(after, na, "0.71", 4), "the new file is not complete");
    CHECK(stray_files(dir, "knobs.auto.ini", NULL) == 0, "a temporary file was left behind");
    rm_knobs_destroy(k);
    return 0;
}

/* ---- driver ------------------------------------------------------------------ */

typedef int (*child_fn)(int mode, const char *dir);

/* Run fn in a child; returns its exit status (77 = skipped). */
static int
run_child(child_fn fn, int mode, const char *name)
{
    char dir[400];
    snprintf(dir, sizeof dir, "%s/%s-%d", base_dir, name, mode);
    rm_rf(dir);
    assert_int_equal(mkdir(dir, 0755), 0);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        signal(SIGXFSZ, SIG_IGN);   /* write returns EFBIG instead of killing us */
        if (mode == MODE_TMPFS) {
            int rc = child_mount(dir);
            if (rc)
                _exit(rc);
        }
        _exit(fn(mode, dir));
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    rm_rf(dir);
    if (!WIFEXITED(status))
        fail_msg("%s [%s]: child died with signal %d", name, mode_name[mode], WTERMSIG(status));
    return WEXITSTATUS(status);
}

static void
test_disk_bufpool_fsize(void **state)
{
    assert_int_equal(run_child(child_bufpool, MODE_FSIZE, "bufpool"), 0);
}

static void
test_disk_bufpool_tmpfs(void **state)
{
    int rc = run_child(child_bufpool, MODE_TMPFS, "bufpool");
    if (rc == 77)
        skip();
    assert_int_equal(rc, 0);
}

static void
test_disk_bufpool_reads_fsize(void **state)
{
    assert_int_equal(run_child(child_reads, MODE_FSIZE, "reads"), 0);
}

static void
test_disk_bufpool_reads_tmpfs(void **state)
{
    int rc = run_child(child_reads, MODE_TMPFS, "reads");
    if (rc == 77)
        skip();
    assert_int_equal(rc, 0);
}

static void
test_disk_knobs_fsize(void **state)
{
    assert_int_equal(run_child(child_knobs, MODE_FSIZE, "knobs"), 0);
}

static void
test_disk_knobs_tmpfs(void **state)
{
    int rc = run_child(child_knobs, MODE_TMPFS, "knobs");
    if (rc == 77)
        skip();
    assert_int_equal(rc, 0);
}

static int
setup(void **state)
{
    snprintf(base_dir, sizeof base_dir, "/tmp/rm-faultsim-disk.%ld", (long)getpid());
    rm_rf(base_dir);
    return mkdir(base_dir, 0755);
}

static int
teardown(void **state)
{
    rm_rf(base_dir);
    return 0;
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_disk_bufpool_fsize),
        cmocka_unit_test(test_disk_bufpool_tmpfs),
        cmocka_unit_test(test_disk_bufpool_reads_fsize),
        cmocka_unit_test(test_disk_bufpool_reads_tmpfs),
        cmocka_unit_test(test_disk_knobs_fsize),
        cmocka_unit_test(test_disk_knobs_tmpfs),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
