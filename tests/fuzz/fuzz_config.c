/*
 * fuzz_config.c — libFuzzer target: rustymemd's configuration loader
 * (agents/node/config.h: rm_config_load, rm_config_split_assignment), i.e.
 * the INI parser (libinih with config.c's line reader and entry handler), the
 * persisted-changes file, the environment and --set flags.
 *
 * Input: up to four parts separated by NUL bytes:
 *     operator INI file \0 persisted INI file \0 environment lines \0 flag lines
 * The two files are served from memfds (/proc/self/fd/N: no disk I/O); the
 * environment is the list of lines ("RUSTYMEM_PRESSURE_WARNING_THRESHOLD=0.7");
 * each flag line goes through rm_config_split_assignment as --set does.
 *
 * Checked: on failure err holds one non-empty NUL-terminated line and no knob
 * of the (fresh) registry changed — config.h's "a failed load changes
 * nothing"; on success the registry formats as INI. A violation aborts.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "config.h"

#define FUZZ_MAX_LINES 64

static void
violated(const char *what, const char *err)
{
    fprintf(stderr, "fuzz_config: contract violated: %s (err: '%s')\n", what, err);
    abort();
}

/* A memfd holding [p, p+n) and its /proc path; -1 on failure. */
static int
memfile(const char *p, size_t n, char *path, size_t cap)
{
    int fd = memfd_create("fuzz_config", MFD_CLOEXEC);
    if (fd < 0)
        return -1;
    if (n && write(fd, p, n) != (ssize_t)n) {
        close(fd);
        return -1;
    }
    snprintf(path, cap, "/proc/self/fd/%d", fd);
    return fd;
}

/* Split s (NUL-terminated, modified) at '\n' into at most cap lines. */
static size_t
split_lines(char *s, char **out, size_t cap)
{
    size_t n = 0;
    char *save = NULL;
    for (char *l = strtok_r(s, "\n", &save); l && n < cap; l = strtok_r(NULL, "\n", &save))
        out[n++] = l;
    return n;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* parts[i] = [start, end) of part i in a NUL-terminated copy */
    char *buf = malloc(size + 1);
    if (!buf)
        return 0;
    memcpy(buf, data, size);
    buf[size] = '\0';
    const char *part[4] = {"", "", "", ""};
    size_t part_len[4] = {0, 0, 0, 0};
    size_t start = 0;
    int np = 0;
    for (size_t i = 0; i <= size && np < 4; i++) {
        if (i == size || (buf[i] == '\0' && np < 3)) {
            part[np] = buf + start;
            part_len[np] = i - start;
            np++;
            start = i + 1;
        }
    }

    char cpath[64], ppath[64];
    int cfd = memfile(part[0], part_len[0], cpath, sizeof cpath);
    int pfd = memfile(part[1], part_len[1], ppath, sizeof ppath);
    char *env_lines[FUZZ_MAX_LINES + 1], *flag_lines[FUZZ_MAX_LINES];
    size_t ne = split_lines((char *)part[2], env_lines, FUZZ_MAX_LINES);
    env_lines[ne] = NULL;
    size_t nfl = split_lines((char *)part[3], flag_lines, FUZZ_MAX_LINES);
    rm_knob_assign_t flags[FUZZ_MAX_LINES];
    size_t nf = 0;
    for (size_t i = 0; i < nfl; i++) {
        rm_knob_assign_t a = {"untouched", "untouched"};
        if (rm_config_split_assignment(flag_lines[i], &a) == RM_OK) {
            if (!a.name || !*a.name || !a.value)
                violated("split_assignment accepted an empty name", flag_lines[i]);
            flags[nf++] = a;
        } else if (strcmp(a.name, "untouched") != 0) {
            violated("split_assignment failed but wrote *out", flag_lines[i]);
        }
    }

    rm_knobs_t *k;
    char *before = NULL, *after = NULL;
    if (cfd < 0 || pfd < 0 || rm_knobs_create(&k) != RM_OK)
        goto out_files;
    if (rm_knobs_format_ini(k, RM_KNOBS_INI_ALL, &before, NULL) != RM_OK)
        goto out;
    rm_config_sources_t src = {
        .config_path = cpath, .persisted_path = ppath, .envp = env_lines, .flags = flags, .n_flags = nf};
    char err[512];
    memset(err, 'x', sizeof err);
    rm_status_t st = rm_config_load(k, &src, err, sizeof err);
    if (memchr(err, '\0', sizeof err) == NULL)
        violated("err is not NUL-terminated", "");
    if (rm_knobs_format_ini(k, RM_KNOBS_INI_ALL, &after, NULL) != RM_OK)
        goto out;
    if (st != RM_OK) {
        if (!err[0] || strchr(err, '\n'))
            violated("a failed load did not say why in one line", err);
        if (strcmp(before, after) != 0)
            violated("a failed load changed knob values", err);
    }
out:
    free(before);
    free(after);
    rm_knobs_destroy(k);
out_files:
    if (cfd >= 0)
        close(cfd);
    if (pfd >= 0)
        close(pfd);
    free(buf);
    return 0;
}
