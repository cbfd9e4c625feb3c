/*
 * sysinfo.h — what the operating system says about this process's memory.
 *
 * Reads process RSS (/proc/self/statm), MemTotal/MemAvailable (/proc/meminfo),
 * the process's own memory cgroup found through /proc/self/cgroup in either
 * hierarchy (v1: memory.usage_in_bytes, memory.limit_in_bytes,
 * memory.oom_control, memory.failcnt; v2: memory.current, memory.max,
 * memory.high, memory.events), and PSI (/proc/pressure/memory). Every source
 * is optional: an absent one is reported as absent (has_* = 0), never as an
 * error, so the caller works on a host without cgroups or PSI.
 *
 * The roots are parameters so tests can point the reader at recorded copies of
 * procfs and cgroupfs files.
 */
#ifndef RUSTYMEM_SYSINFO_H
#define RUSTYMEM_SYSINFO_H

#include <stdint.h>

#include "rustymem/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define RM_SYSINFO_PATH_MAX 512

typedef struct rm_sysinfo_paths {
    const char *proc_root;     /* "/proc" when NULL */
    const char *cgroup_root;   /* "/sys/fs/cgroup" when NULL */
} rm_sysinfo_paths_t;

typedef struct rm_psi {
    double some_avg10, some_avg60, some_avg300;   /* percent */
    double full_avg10, full_avg60, full_avg300;   /* percent */
    uint64_t some_total_us, full_total_us;        /* microseconds stalled */
} rm_psi_t;

typedef struct rm_sysinfo {
    int has_rss;
    uint64_t rss_bytes;            /* resident set of this process */
    uint64_t vm_size_bytes;        /* virtual size of this process */

    int has_meminfo;
    uint64_t mem_total_bytes;      /* MemTotal */
    uint64_t mem_available_bytes;  /* MemAvailable */

    int cgroup_version;            /* 0 = no memory cgroup found, 1 or 2 */
    char cgroup_dir[RM_SYSINFO_PATH_MAX];   /* the cgroup's directory, "" if none */
    uint64_t cgroup_usage_bytes;   /* v1 memory.usage_in_bytes / v2 memory.current */
    uint64_t cgroup_limit_bytes;   /* v1 memory.limit_in_bytes / v2 memory.max; 0 = unlimited */
    uint64_t cgroup_high_bytes;    /* v2 memory.high; 0 = unlimited or v1 */
    uint64_t cgroup_oom_events;    /* v2 memory.events "oom"; v1 oom_control under_oom transitions are not counted: 0 */
    uint64_t cgroup_oom_kills;     /* v2 memory.events "oom_kill"; v1 memory.oom_control "oom_kill" */
    uint64_t cgroup_failcnt;       /* v1 memory.failcnt; v2 memory.events "max" */

    int has_psi;
    rm_psi_t psi;

    uint64_t budget_bytes;         /* the cgroup limit when one is set (and below MemTotal), else MemTotal; 0 if neither is known */
    int budget_from_cgroup;        /* 1 when budget_bytes is the cgroup limit */

    /* Added for the pressure monitor (kubelet's "working set"). */
    uint64_t cgroup_inactive_file_bytes;   /* v1 memory.stat total_inactive_file (else inactive_file); v2 inactive_file */
    uint64_t cgroup_working_set_bytes;     /* usage − inactive file, floored at 0; = usage when memory.stat is absent */
    int cgroup_under_oom;                  /* v1 memory.oom_control under_oom; 0 for v2 */
    int cgroup_has_oom_counter;            /* 1 when oom_kill could be read (v1 kernels ≥ 4.13, v2) */
} rm_sysinfo_t;

/*
 * Read everything into *out (zeroed first). `paths` may be NULL for the live
 * system. Returns RM_OK even when some sources are absent (see has_*);
 * RM_EINVAL for a NULL out. Thread-safe (no shared state); does file I/O.
 */
rm_status_t rm_sysinfo_read(const rm_sysinfo_paths_t *paths, rm_sysinfo_t *out);

/*
 * The memory budget in effect for a configured one (memory.budget_bytes; 0 =
 * auto): the configured bytes, but never more than the process can have
 * (si->budget_bytes: the cgroup limit, else MemTotal), and si->budget_bytes
 * itself for 0. *from_knob (may be NULL) is 1 when the configured value is the
 * answer. 0 when nothing is known. Pure; thread-safe.
 */
uint64_t rm_sysinfo_effective_budget(const rm_sysinfo_t *si, uint64_t configured, int *from_knob);

/*
 * The one pressure measure (docs/adr/0013-one-usage-measure.md): what the
 * pressure monitor acts on and what MemoryStats, Forecast, the exporter, the
 * fleet and the alerts all call usage_ratio.
 *
 *   - In a memory cgroup with a limit (si->budget_from_cgroup: a limit below
 *     MemTotal): used = the cgroup's working set (usage − inactive file),
 *     budget = the limit, or memory.budget_bytes when that is lower.
 *   - Otherwise: used = the process's RSS, budget = memory.budget_bytes (or
 *     MemTotal for 0), but never more than RSS + MemAvailable — what the host
 *     can actually give the process now, so a host that runs short through
 *     other processes raises the ratio too.
 *   - used is never below what memcore itself holds (memcore_held_bytes); when
 *     that floor decides, or no RSS could be read, the source is "memcore".
 */
typedef struct rm_sysinfo_usage {
    uint64_t used_bytes;           /* bytes measured against budget_bytes */
    uint64_t budget_bytes;         /* bytes; 0 = no budget could be determined */
    double usage_ratio;            /* used_bytes / budget_bytes; 0 when budget_bytes is 0 */
    const char *usage_source;      /* static: "cgroup", "rss", "memcore" */
    const char *budget_source;     /* static: "knob", "cgroup_v1", "cgroup_v2", "memtotal",
                                    * "memavailable" (RSS + MemAvailable was lower), "none" */
} rm_sysinfo_usage_t;

/*
 * Compute the measure above from one reading `si`, the configured budget
 * (memory.budget_bytes; 0 = auto) and the bytes memcore's components hold.
 * Pure: no I/O, no shared state; thread-safe. Returns RM_OK (also when no
 * budget is known: then budget_bytes 0, budget_source "none"), RM_EINVAL for a
 * NULL si or out (out untouched).
 */
rm_status_t rm_sysinfo_usage(const rm_sysinfo_t *si, uint64_t configured, uint64_t memcore_held_bytes,
                             rm_sysinfo_usage_t *out);

/*
 * Parse the text of a PSI file ("some avg10=… avg60=… avg300=… total=…\nfull …").
 * Returns RM_OK, or RM_EINVAL when the "some" line is missing or malformed.
 */
rm_status_t rm_sysinfo_parse_psi(const char *text, rm_psi_t *out);

#ifdef __cplusplus
}
#endif
#endif /* RUSTYMEM_SYSINFO_H */
