#!/usr/bin/env bash
# test_pressure_cgroup.sh — the real closed loop of issue 6 (item 6), driven
# from the shell the way an operator would: create a child memory cgroup with
# a hard limit, move the workload into it through cgroup.procs, and read the
# kernel's oom_kill counter afterwards.
#   responder on   → the workload exits 0 and oom_kill stays 0
#   responder off  → the same workload is OOM-killed (SIGKILL, oom_kill ≥ 1)
# The workload (tests/fault/test_pressure_cgroup.c --workload on|off) allocates
# through memcore's page source into a cache that registers a reclaimer with
# the pressure monitor; the monitor finds the cgroup and its limit by itself.
# cgroup v1 where the memory controller is mounted there (these machines), v2
# otherwise. Skips (exit 0, "SKIP:" line) only when neither is writable.
set -u
BIN="${RM_BUILD_DIR:?RM_BUILD_DIR not set}/tests/test_pressure_cgroup"
LIMIT=$((128 * 1024 * 1024))
NAME="rm_pressure_it_$$"

if [ ! -x "$BIN" ]; then
    echo "FAIL: $BIN not built"; exit 1
fi
if [ "$(id -u)" != 0 ]; then
    echo "SKIP: the cgroup closed loop needs root (creates and removes a memory cgroup)"; exit 0
fi
if [ -w /sys/fs/cgroup/memory/cgroup.procs ]; then
    VER=1; ROOT=/sys/fs/cgroup/memory
elif grep -qw memory /sys/fs/cgroup/cgroup.controllers 2>/dev/null && [ -w /sys/fs/cgroup/cgroup.procs ]; then
    VER=2; ROOT=/sys/fs/cgroup
else
    echo "SKIP: no writable memory cgroup (v1 /sys/fs/cgroup/memory or v2 with the memory controller)"; exit 0
fi

CG=""
cleanup() {
    if [ -n "$CG" ] && [ -d "$CG" ]; then
        for _ in $(seq 50); do rmdir "$CG" 2>/dev/null && break; sleep 0.1; done
    fi
}
trap cleanup EXIT

oom_kills() {
    if [ "$VER" = 1 ]; then awk '$1=="oom_kill"{print $2}' "$CG/memory.oom_control"
    else awk '$1=="oom_kill"{print $2}' "$CG/memory.events"; fi
}

run_case() {   # $1 = on|off; sets RC and KILLS
    CG="$ROOT/${NAME}_$1"
    mkdir "$CG" || { echo "FAIL: mkdir $CG"; exit 1; }
    if [ "$VER" = 1 ]; then
        echo "$LIMIT" > "$CG/memory.limit_in_bytes" || { echo "FAIL: cannot set memory.limit_in_bytes"; exit 1; }
        echo 0 > "$CG/memory.swappiness" 2>/dev/null
    else
        echo "$LIMIT" > "$CG/memory.max" || { echo "FAIL: cannot set memory.max"; exit 1; }
        echo 0 > "$CG/memory.swap.max" 2>/dev/null
    fi
    # the subshell moves itself into the cgroup, then becomes the workload
    ( echo "$BASHPID" > "$CG/cgroup.procs" && exec "$BIN" --workload "$1" )
    RC=$?
    KILLS=$(oom_kills)
    echo "cgroup v$VER limit $((LIMIT / 1048576)) MiB responder $1: exit status $RC, oom_kill $KILLS"
    cleanup
    CG=""
}

run_case on
ON_RC=$RC; ON_KILLS=$KILLS
run_case off
OFF_RC=$RC; OFF_KILLS=$KILLS

fail=0
if [ "$ON_RC" != 0 ] || [ "$ON_KILLS" != 0 ]; then
    echo "FAIL: with the responder the workload must finish with oom_kill 0"; fail=1
fi
if [ "$OFF_RC" != 137 ] || [ "${OFF_KILLS:-0}" -lt 1 ]; then
    echo "FAIL: without the responder the workload should have been OOM-killed"; fail=1
fi
[ $fail = 0 ] && echo "PASS: responder kept the workload alive (oom_kill 0); without it oom_kill $OFF_KILLS"
exit $fail
