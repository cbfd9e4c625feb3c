#!/usr/bin/env bash
# ForecastService and TriggerResponse against a running agent.
source "$(dirname "$0")/lib.sh"
ctl() { "$RUSTYMEMCTL" --addr "$ADDR" "$@"; }

start_agent
# the sampler runs every second; wait for a few samples
for _ in $(seq 1 50); do
  n=$(ctl --output json forecast | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["samples"])')
  [ "$n" -ge 3 ] && break
  sleep 0.2
done
expect_exit 0 ctl --output json forecast
/usr/bin/python3 - "$OUT" <<'PY' || fail "forecast: $OUT"
import json, sys
f = json.loads(sys.argv[1])
assert f["samples"] >= 3, f
assert f["budget_bytes"] > 0 and f["used_bytes"] > 0, f
assert [h["horizon_seconds"] for h in f["horizons"]] == [30, 60, 120], f["horizons"]
for h in f["horizons"]:
    assert 0.0 <= h["confidence"] <= 1.0 and h["predicted_level"].startswith("PRESSURE_LEVEL_"), h
assert f["current_level"] == "PRESSURE_LEVEL_MONITOR", f
assert f["model"] and f["recommended_action"], f
assert "has_time_to_critical" in f and "time_to_critical_seconds" in f
PY
expect_exit 0 ctl forecast
grep -q "horizon_seconds" <<<"$OUT" || fail "forecast table has no horizons"
pass "forecast: per-horizon prediction with confidence and time to critical"

expect_exit 0 ctl knobs set pressure.forecast_horizons=15,45
sleep 1.2
expect_exit 0 ctl --output json forecast
grep -q '"horizon_seconds": 45' <<<"$OUT" || fail "horizons knob not applied: $OUT"
expect_exit 1 ctl knobs set pressure.forecast_horizons=10,20,30,40,50
grep -q "INVALID_ARGUMENT" <<<"$ERR" || fail "too many horizons: $ERR"
pass "forecast horizons follow the knob; too many are refused"

expect_exit 0 ctl --output json response trigger emergency
grep -q '"action": "trigger_response"' <<<"$OUT" || fail "trigger: $OUT"
grep -q "AUDIT .*TriggerResponse ran the Emergency response" "$TMP/agent.log" || fail "trigger not audited"
expect_exit 2 ctl response trigger panic
pass "response trigger runs the graduated response and is audited"

expect_exit 0 ctl --output json events --limit 10
grep -q '"events"' <<<"$OUT" || fail "events: $OUT"
expect_exit 1 ctl events --limit 5000
grep -q "INVALID_ARGUMENT: limit = 5000" <<<"$ERR" || fail "events limit: $ERR"
expect_exit 0 ctl --output json alerts
grep -q '"alerts"' <<<"$OUT" || fail "alerts: $OUT"
pass "events and alerts answer; a bad limit names the field"
stop_agent
echo "test_forecast: all passed"
