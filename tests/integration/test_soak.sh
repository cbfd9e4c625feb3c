#!/usr/bin/env bash
# The soak end to end: `rustymem-bench soak --minutes ${RM_SOAK_MINUTES:-0.5} --json`
# starts its own rustymemd, runs the mixed workload with stats polls, knob
# changes and emergency actions, and stops the agent. Checked: the report has
# its keys, no unexpected error, requests were served by every service, the
# agent exited 0 and did not die. The drift figure is only checked for shape
# here (a short run has none); docs/soak.md says how to read a long run.
# CI sets RM_SOAK_MINUTES=3. Under a sanitizer (RM_SANITIZE) the run is the
# same length with fewer threads.
source "$(dirname "$0")/lib.sh"
BENCH="$RM_BUILD_DIR/tests/bench/rustymem-bench"
[ -x "$BENCH" ] || fail "no $BENCH (configure with RM_BUILD_BENCH=ON)"
MINUTES=${RM_SOAK_MINUTES:-0.5}
THREADS=4
[ -n "${RM_SANITIZE:-}" ] && THREADS=2

expect_exit 2 "$BENCH" nosuchsuite
expect_exit 1 "$BENCH" soak --minutes 0
grep -q -- "--minutes" <<<"$ERR" || fail "bad --minutes: $ERR"
expect_exit 1 "$BENCH" soak --minutes 0.1 --agent /nonexistent/rustymemd
grep -q "no rustymemd found" <<<"$ERR" || fail "bad --agent: $ERR"
pass "soak: usage errors are refused"

rc=0
"$BENCH" soak --minutes "$MINUTES" --threads "$THREADS" --sessions 100 --json >"$TMP/soak.json" 2>"$TMP/soak.err" || rc=$?
/usr/bin/python3 - "$TMP/soak.json" "$MINUTES" <<'PY' || fail "soak report (exit $rc): $(tail -5 "$TMP/soak.err")"
import json, sys
r = json.load(open(sys.argv[1]))
for k in ("requests_served", "errors_by_code", "expected_errors_by_code", "unexpected_errors",
          "unexpected_error_samples", "rss_samples", "rss_drift_pct_per_hour", "warmup_seconds",
          "growth_after_warmup", "leak_alert", "agent_exit_code", "agent_died", "operations", "passed"):
    assert k in r, "missing key " + k
assert r["unexpected_errors"] == 0, (r["unexpected_errors_by_code"], r["unexpected_error_samples"])
assert r["agent_exit_code"] == 0 and not r["agent_died"], r["agent_exit_code"]
s = r["requests_served"]
assert s["total"] > 0, s
for fam in ("SessionService", "MemoryService", "ForecastService", "TuningService", "EmergencyService", "Health"):
    assert s.get(fam, 0) > 0, ("no %s request served" % fam, s)
assert sum(v for k, v in s.items() if k != "total") == s["total"], s
ops = r["operations"]
assert ops["committed"] > 0 and ops["stats_polls"] > 0 and ops["emergency_actions"] > 0, ops
assert ops["knob_reverts"] == ops["knob_changes"], ops
assert len(r["rss_samples"]) >= 5 and all(x[1] > 0 for x in r["rss_samples"]), len(r["rss_samples"])
d = r["rss_drift_pct_per_hour"]
assert (d is None) == (r["rss_fit_samples"] < 3), (d, r["rss_fit_samples"])
assert isinstance(r["leak_alert"], bool) and r["passed"] is True
print("soak %.1f min: %d requests, %d expected errors %s, drift %s %%/h, leak alert %s" % (
    float(sys.argv[2]), s["total"], r["expected_errors"], r["errors_by_code"], d, r["leak_alert"]))
PY
[ "$rc" -eq 0 ] || fail "rustymem-bench soak exited $rc: $(tail -5 "$TMP/soak.err")"
grep -q "soak: leak alert" "$TMP/soak.err" || fail "no summary on stderr"
pass "soak ran ${MINUTES} min: no unexpected error, every service served, agent exited 0"
