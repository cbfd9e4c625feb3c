# cgroup.sh — memory-cgroup helpers for the integration tests that put a
# process under a hard limit (test_hostile_pressure.sh, test_pressure_cgroup.sh).
# Source it; it needs nothing else. cgroup v1 where the memory controller is
# mounted at /sys/fs/cgroup/memory (these machines), v2 with the memory
# controller elsewhere.

# cg_detect — sets CG_VER (1|2) and CG_ROOT; exits 0 with "SKIP: …" without
# root or a writable memory cgroup (the tests create one).
cg_detect() {
  if [ "$(id -u)" != 0 ]; then
    echo "SKIP: needs root (creates and removes a memory cgroup)"; exit 0
  fi
  if [ -w /sys/fs/cgroup/memory/cgroup.procs ]; then
    CG_VER=1; CG_ROOT=/sys/fs/cgroup/memory
  elif grep -qw memory /sys/fs/cgroup/cgroup.controllers 2>/dev/null && [ -w /sys/fs/cgroup/cgroup.procs ]; then
    CG_VER=2; CG_ROOT=/sys/fs/cgroup
  else
    echo "SKIP: no writable memory cgroup (v1 /sys/fs/cgroup/memory or v2 with the memory controller)"; exit 0
  fi
}

# cg_make DIR LIMIT_BYTES — create the cgroup DIR with that hard limit and no
# swap; returns 1 (with a message) if the limit cannot be set.
cg_make() {
  mkdir "$1" || { echo "cg_make: mkdir $1 failed" >&2; return 1; }
  if [ "$CG_VER" = 1 ]; then
    echo "$2" >"$1/memory.limit_in_bytes" || { echo "cg_make: cannot set memory.limit_in_bytes" >&2; return 1; }
    echo 0 >"$1/memory.swappiness" 2>/dev/null || true
  else
    echo "$2" >"$1/memory.max" || { echo "cg_make: cannot set memory.max" >&2; return 1; }
    echo 0 >"$1/memory.swap.max" 2>/dev/null || true
  fi
}

# cg_remove DIR — rmdir once its last task is gone (retries for 5 s); no-op if absent.
cg_remove() {
  [ -n "$1" ] || return 0
  for _ in $(seq 50); do [ -d "$1" ] || return 0; rmdir "$1" 2>/dev/null && return 0; sleep 0.1; done
  return 0
}

# cg_oom_kills DIR — processes of DIR killed by the OOM killer so far.
cg_oom_kills() {
  if [ "$CG_VER" = 1 ]; then awk '$1=="oom_kill"{print $2}' "$1/memory.oom_control"
  else awk '$1=="oom_kill"{print $2}' "$1/memory.events"; fi
}

# cg_peak_mb DIR — the highest usage DIR has seen, MiB ("?" where v2 lacks memory.peak).
cg_peak_mb() {
  if [ "$CG_VER" = 1 ]; then echo $(($(cat "$1/memory.max_usage_in_bytes") >> 20))
  else awk '{print int($1/1048576)}' "$1/memory.peak" 2>/dev/null || echo "?"; fi
}
