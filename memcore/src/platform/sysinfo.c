/*
 * sysinfo.c — procfs and cgroupfs readers for rustymem/sysinfo.h.
 *
 * Design note: the memory cgroup is located from /proc/self/cgroup. A v1
 * "memory" controller line wins over the v2 "0::" line, because on hybrid
 * hosts (like these build machines) v2 is mounted without controllers. The
 * directory is <cgroup_root>/memory/<path> for v1 and <cgroup_root>/<path>
 * (or <cgroup_root>/unified/<path>) for v2; inside a container whose cgroup
 * namespace hides the path, the mount root itself is the process's cgroup, so
 * we fall back to it. v1 reports "no limit" as a huge number (PAGE_COUNTER_MAX
 * scaled), v2 as "max": both become 0 here.
 */
#include "rustymem/sysinfo.h"
#include "../rm_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define RM_V1_UNLIMITED (1ull << 60)

/* Read a whole small file into buf (NUL-terminated). Returns bytes or -1.
 * Plain open/read, no stdio: the readings matter most under memory pressure,
 * when fopen's FILE allocation is the first thing to fail. */
static ssize_t
read_small(const char *path, char *buf, size_t cap)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    size_t n = 0;
    while (n < cap - 1) {
        ssize_t r = read(fd, buf + n, cap - 1 - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            close(fd);
            return -1;
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    close(fd);
    buf[n] = '\0';
    return (ssize_t)n;
}

static int
read_u64_file(const char *dir, const char *name, uint64_t *out, int *is_max)
{
    char path[RM_SYSINFO_PATH_MAX + 64], buf[64];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    if (read_small(path, buf, sizeof buf) < 0)
        return -1;
    if (is_max)
        *is_max = 0;
    if (strncmp(buf, "max", 3) == 0) {
        if (is_max)
            *is_max = 1;
        *out = 0;
        return 0;
    }
    char *end;
    errno = 0;
    unsigned long long v = strtoull(buf, &end, 10);
    if (errno || end == buf)
        return -1;
    *out = v;
    return 0;
}

/* Find "key value" in a flat-keyed file such as memory.events. */
static int
read_keyed(const char *dir, const char *file, const char *key, uint64_t *out)
{
    char path[RM_SYSINFO_PATH_MAX + 64], buf[16384];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    if (read_small(path, buf, sizeof buf) < 0)
        return -1;
    size_t klen = strlen(key);
    for (char *line = buf; line && *line;) {
        char *nl = strchr(line, '\n');
        if (strncmp(line, key, klen) == 0 && line[klen] == ' ') {
            *out = strtoull(line + klen + 1, NULL, 10);
            return 0;
        }
        line = nl ? nl + 1 : NULL;
    }
    return -1;
}

static int
is_dir(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static int
has_file(const char *dir, const char *name)
{
    char path[RM_SYSINFO_PATH_MAX + 64];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return access(path, R_OK) == 0;
}

/* Pick <root>/<sub><rel> if it holds `probe`, else <root>/<sub> if that does. */
static int
resolve_dir(char *out, size_t cap, const char *root, const char *sub, const char *rel,
            const char *probe)
{
    char cand[RM_SYSINFO_PATH_MAX];
    snprintf(cand, sizeof cand, "%s%s%s", root, sub, strcmp(rel, "/") == 0 ? "" : rel);
    if (is_dir(cand) && has_file(cand, probe)) {
        snprintf(out, cap, "%s", cand);
        return 0;
    }
    snprintf(cand, sizeof cand, "%s%s", root, sub);
    if (is_dir(cand) && has_file(cand, probe)) {
        snprintf(out, cap, "%s", cand);
        return 0;
    }
    return -1;
}

static void
set_working_set(rm_sysinfo_t *si)
{
    si->cgroup_working_set_bytes = si->cgroup_usage_bytes > si->cgroup_inactive_file_bytes
                                       ? si->cgroup_usage_bytes - si->cgroup_inactive_file_bytes
                                       : 0;
}

static void
read_cgroup(const char *proc_root, const char *cg_root, rm_sysinfo_t *si)
{
    char path[RM_SYSINFO_PATH_MAX], buf[8192];
    char v1_rel[RM_SYSINFO_PATH_MAX] = "", v2_rel[RM_SYSINFO_PATH_MAX] = "";
    int have_v1 = 0, have_v2 = 0;

    snprintf(path, sizeof path, "%s/self/cgroup", proc_root);
    if (read_small(path, buf, sizeof buf) < 0)
        return;
    char *line_save = NULL;
    for (char *line = strtok_r(buf, "\n", &line_save); line; line = strtok_r(NULL, "\n", &line_save)) {
        char *c1 = strchr(line, ':');
        char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
        if (!c2)
            continue;
        *c2 = '\0';
        const char *ctrls = c1 + 1, *rel = c2 + 1;
        if (strncmp(line, "0:", 2) == 0 && *ctrls == '\0') {
            snprintf(v2_rel, sizeof v2_rel, "%s", rel);
            have_v2 = 1;
            continue;
        }
        /* controllers are comma-separated, e.g. "memory" or "cpu,memory" */
        char list[256];
        snprintf(list, sizeof list, "%s", ctrls);
        char *save = NULL;
        for (char *c = strtok_r(list, ",", &save); c; c = strtok_r(NULL, ",", &save))
            if (strcmp(c, "memory") == 0) {
                snprintf(v1_rel, sizeof v1_rel, "%s", rel);
                have_v1 = 1;
            }
    }

    if (have_v1 && resolve_dir(si->cgroup_dir, sizeof si->cgroup_dir, cg_root, "/memory", v1_rel,
                               "memory.usage_in_bytes") == 0) {
        si->cgroup_version = 1;
        uint64_t v = 0;
        if (read_u64_file(si->cgroup_dir, "memory.usage_in_bytes", &v, NULL) == 0)
            si->cgroup_usage_bytes = v;
        if (read_u64_file(si->cgroup_dir, "memory.limit_in_bytes", &v, NULL) == 0)
            si->cgroup_limit_bytes = v >= RM_V1_UNLIMITED ? 0 : v;
        if (read_keyed(si->cgroup_dir, "memory.oom_control", "oom_kill", &v) == 0) {
            si->cgroup_oom_kills = v;
            si->cgroup_has_oom_counter = 1;
        }
        if (read_keyed(si->cgroup_dir, "memory.oom_control", "under_oom", &v) == 0)
            si->cgroup_under_oom = v != 0;
        if (read_u64_file(si->cgroup_dir, "memory.failcnt", &v, NULL) == 0)
            si->cgroup_failcnt = v;
        if (read_keyed(si->cgroup_dir, "memory.stat", "total_inactive_file", &v) == 0 ||
            read_keyed(si->cgroup_dir, "memory.stat", "inactive_file", &v) == 0)
            si->cgroup_inactive_file_bytes = v;
        set_working_set(si);
        return;
    }
    if (have_v2 && (resolve_dir(si->cgroup_dir, sizeof si->cgroup_dir, cg_root, "", v2_rel,
                                "memory.current") == 0 ||
                    resolve_dir(si->cgroup_dir, sizeof si->cgroup_dir, cg_root, "/unified", v2_rel,
                                "memory.current") == 0)) {
        si->cgroup_version = 2;
        uint64_t v = 0;
        int is_max = 0;
        if (read_u64_file(si->cgroup_dir, "memory.current", &v, NULL) == 0)
            si->cgroup_usage_bytes = v;
        if (read_u64_file(si->cgroup_dir, "memory.max", &v, &is_max) == 0)
            si->cgroup_limit_bytes = is_max ? 0 : v;
        if (read_u64_file(si->cgroup_dir, "memory.high", &v, &is_max) == 0)
            si->cgroup_high_bytes = is_max ? 0 : v;
        if (read_keyed(si->cgroup_dir, "memory.events", "oom", &v) == 0)
            si->cgroup_oom_events = v;
        if (read_keyed(si->cgroup_dir, "memory.events", "oom_kill", &v) == 0) {
            si->cgroup_oom_kills = v;
            si->cgroup_has_oom_counter = 1;
        }
        if (read_keyed(si->cgroup_dir, "memory.events", "max", &v) == 0)
            si->cgroup_failcnt = v;
        if (read_keyed(si->cgroup_dir, "memory.stat", "inactive_file", &v) == 0)
            si->cgroup_inactive_file_bytes = v;
        set_working_set(si);
        return;
    }
    si->cgroup_dir[0] = '\0';
}

static int
parse_psi_line(const char *line, const char *kind, double *a10, double *a60, double *a300,
               uint64_t *total)
{
    char fmt[96];
    unsigned long long t = 0;
    snprintf(fmt, sizeof fmt, "%s avg10=%%lf avg60=%%lf avg300=%%lf total=%%llu", kind);
    if (sscanf(line, fmt, a10, a60, a300, &t) != 4)
        return -1;
    *total = t;
    return 0;
}

rm_status_t
rm_sysinfo_parse_psi(const char *text, rm_psi_t *out)
{
    if (!text || !out)
        return RM_EINVAL;
    memset(out, 0, sizeof *out);
    const char *some = strstr(text, "some ");
    if (!some || parse_psi_line(some, "some", &out->some_avg10, &out->some_avg60,
                                &out->some_avg300, &out->some_total_us) < 0)
        return RM_EINVAL;
    const char *full = strstr(text, "full ");
    if (full)
        (void)parse_psi_line(full, "full", &out->full_avg10, &out->full_avg60,
                             &out->full_avg300, &out->full_total_us);
    return RM_OK;
}

rm_status_t
rm_sysinfo_read(const rm_sysinfo_paths_t *paths, rm_sysinfo_t *out)
{
    if (!out)
        return RM_EINVAL;
    memset(out, 0, sizeof *out);
    const char *proc_root = paths && paths->proc_root ? paths->proc_root : "/proc";
    const char *cg_root = paths && paths->cgroup_root ? paths->cgroup_root : "/sys/fs/cgroup";
    char path[RM_SYSINFO_PATH_MAX], buf[8192];

    snprintf(path, sizeof path, "%s/self/statm", proc_root);
    if (read_small(path, buf, sizeof buf) > 0) {
        unsigned long long size = 0, resident = 0;
        if (sscanf(buf, "%llu %llu", &size, &resident) == 2) {
            long ps = sysconf(_SC_PAGESIZE);
            out->has_rss = 1;
            out->rss_bytes = resident * (uint64_t)ps;
            out->vm_size_bytes = size * (uint64_t)ps;
        }
    }

    snprintf(path, sizeof path, "%s/meminfo", proc_root);
    if (read_small(path, buf, sizeof buf) > 0) {
        unsigned long long kb;
        char *p = strstr(buf, "MemTotal:");
        if (p && sscanf(p, "MemTotal: %llu kB", &kb) == 1) {
            out->has_meminfo = 1;
            out->mem_total_bytes = kb * 1024;
        }
        p = strstr(buf, "MemAvailable:");
        if (p && sscanf(p, "MemAvailable: %llu kB", &kb) == 1)
            out->mem_available_bytes = kb * 1024;
    }

    read_cgroup(proc_root, cg_root, out);

    snprintf(path, sizeof path, "%s/pressure/memory", proc_root);
    if (read_small(path, buf, sizeof buf) > 0 && rm_sysinfo_parse_psi(buf, &out->psi) == RM_OK)
        out->has_psi = 1;

    if (out->cgroup_limit_bytes &&
        (!out->mem_total_bytes || out->cgroup_limit_bytes < out->mem_total_bytes)) {
        out->budget_bytes = out->cgroup_limit_bytes;
        out->budget_from_cgroup = 1;
    } else {
        out->budget_bytes = out->mem_total_bytes;
    }
    return RM_OK;
}

uint64_t
rm_sysinfo_effective_budget(const rm_sysinfo_t *si, uint64_t configured, int *from_knob)
{
    int knob = configured && (!si->budget_bytes || configured <= si->budget_bytes);
    if (from_knob)
        *from_knob = knob;
    return knob ? configured : si->budget_bytes;
}

rm_status_t
rm_sysinfo_usage(const rm_sysinfo_t *si, uint64_t configured, uint64_t memcore_held_bytes, rm_sysinfo_usage_t *out)
{
    if (!si || !out)
        return RM_EINVAL;
    memset(out, 0, sizeof *out);
    int knob;
    out->budget_bytes = rm_sysinfo_effective_budget(si, configured, &knob);
    if (si->budget_from_cgroup) {
        /* the kernel enforces the limit on the whole cgroup, page cache it
         * cannot drop included: the working set is what counts against it */
        out->used_bytes = si->cgroup_working_set_bytes;
        out->usage_source = "cgroup";
        out->budget_source = knob ? "knob" : si->cgroup_version == 2 ? "cgroup_v2" : "cgroup_v1";
    } else {
        out->used_bytes = si->has_rss ? si->rss_bytes : 0;
        out->usage_source = "rss";
        out->budget_source = knob ? "knob" : "memtotal";
    }
    int measured = si->budget_from_cgroup || si->has_rss;
    if (!measured || out->used_bytes < memcore_held_bytes) {
        out->used_bytes = memcore_held_bytes;   /* never below what memcore itself holds */
        out->usage_source = "memcore";
    }
    if (!si->budget_from_cgroup && out->budget_bytes && si->has_meminfo) {
        /* what the host can give now: memory other processes took is
         * pressure on us too, whatever the budget says */
        uint64_t can = out->used_bytes + si->mem_available_bytes;
        if (can < out->budget_bytes) {
            out->budget_bytes = can;
            out->budget_source = "memavailable";
        }
    }
    if (out->budget_bytes)
        out->usage_ratio = (double)out->used_bytes / (double)out->budget_bytes;
    else
        out->budget_source = "none";
    return RM_OK;
}
