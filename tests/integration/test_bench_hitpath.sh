#!/usr/bin/env bash
# rustymem-bench bufpool --hit-path-only: only the hit-path part runs, and its
# report carries the figures that say whether scaling_2t judges the pool (the
# 2-thread runs' concurrency, the others' CPU share, the load) — with
# scaling_2t_quiet true exactly when both say the machine was quiet.
source "$(dirname "$0")/lib.sh"
BENCH="$RM_BUILD_DIR/tests/bench/rustymem-bench"
[ -x "$BENCH" ] || { echo "skip: rustymem-bench not built"; exit 0; }

expect_exit 0 nice -n 5 "$BENCH" bufpool --hit-path-only --quick --json
echo "$OUT" | python3 -c '
import json, sys
d = json.load(sys.stdin)
for k in ("halves", "cases", "prefetch_accuracy_seq"):
    assert k not in d, "--hit-path-only ran more than the hit path: " + k
keys = ("pin_ns_1t", "pin_cpu_ns_1t", "pread_ns", "pread_cpu_ns", "pin_ns_ratio_vs_pread",
        "pin_ns_ratio_vs_pread_cpu", "scaling_2t", "scaling_2t_best_of", "scaling_2t_cpu")
for k in keys:
    assert d[k] > 0, (k, d[k])
assert d["hit_path_rounds"] == 7, d["hit_path_rounds"]
c, o = d["scaling_2t_concurrency"], d["scaling_2t_others_cpu_share"]
assert 0 < c <= 2.2, c
assert o == -1 or 0 <= o <= 1, o
assert d["scaling_2t_quiet"] == (c >= 1.9 and 0 <= o < 0.05), (c, o, d["scaling_2t_quiet"])
assert d["cpus_online"] >= 1 and "scaling_2t_loadavg_before" in d and "scaling_2t_loadavg_after" in d
' || fail "bufpool --hit-path-only: $OUT"
echo "$ERR" | grep -q 'scaling_2t' || fail "bufpool --hit-path-only printed no scaling line: '$ERR'"
pass "bufpool --hit-path-only reports the hit path with the machine's load beside scaling_2t"
