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
source "$(dirname "$0")/cgroup.sh"
cg_detect
VER=$CG_VER

CG=""
cleanup() { cg_remove "$CG"; }
trap cleanup EXIT

run_case() {   # $1 = on|off; sets RC and KILLS
    CG="$CG_ROOT/${NAME}_$1"
    cg_make "$CG" "$LIMIT" || { echo "FAIL: cannot create the memory cgroup $CG"; exit 1; }
    # the subshell moves itself into the cgroup, then becomes the workload
    ( echo "$BASHPID" > "$CG/cgroup.procs" && exec "$BIN" --workload "$1" )
    RC=$?
    KILLS=$(cg_oom_kills "$CG")
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
