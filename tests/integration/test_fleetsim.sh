#!/usr/bin/env bash
# rustymem-fleet polling a simulated fleet (tools/fleetsim, ADR 0026) on
# loopback: 60 agents behind one port, addressed as HOST:PORT/sim-i; a scripted
# fraction down and one agent at EMERGENCY. Proves: every agent is reached
# through its :authority (agent_name = sim-i), down agents show UNAVAILABLE
# and back off, GetFleetStats reports the poller (states, polls, staleness),
# the early response reaches the EMERGENCY agent, a SIGHUP-applied script
# takes an agent down and brings another to EMERGENCY, a slow agent past the
# deadline shows DEADLINE_EXCEEDED, a rollout through the pool's channels
# changes the simulated knobs, and usage errors of both tools exit 2 naming
# the flag.
source "$(dirname "$0")/lib.sh"
FLEETD="$RM_BUILD_DIR/agents/fleet/rustymem-fleet"
SIM="$RM_BUILD_DIR/tools/fleetsim/rustymem-fleetsim"
PY=/usr/bin/python3
SIM_PID=""; FLEET_PID=""
sim_cleanup() {
  local rc=$?
  [ "$rc" -ne 0 ] && for f in "$TMP"/*.log; do echo "--- $f" >&2; tail -n 20 "$f" >&2; done
  for p in "$FLEET_PID" "$SIM_PID"; do
    if [ -n "$p" ] && kill -0 "$p" 2>/dev/null; then kill -TERM "$p"; wait "$p" 2>/dev/null || true; fi
  done
  cleanup
}
trap sim_cleanup EXIT

# ---- usage errors: one line naming the flag, exit 2, nothing started ----------
expect_exit 2 "$SIM" --agents 0
grep -q -- "--agents" <<<"$ERR" || fail "fleetsim --agents 0: $ERR"
expect_exit 2 "$SIM" --agents 5 --down-frac 1.5
grep -q -- "--down-frac" <<<"$ERR" || fail "fleetsim --down-frac 1.5: $ERR"
expect_exit 2 "$FLEETD" --agents 127.0.0.1:1 --poll-threads 0
grep -q -- "--poll-threads" <<<"$ERR" || fail "fleet --poll-threads 0: $ERR"
echo "x 127.0.0.1:5000/bad\$name" >"$TMP/bad.txt"
expect_exit 1 "$FLEETD" --agents-file "$TMP/bad.txt"
grep -q "bad.txt:1: address" <<<"$ERR" || fail "a bad authority is not named: $ERR"
pass "usage errors name the flag (exit 2) or the file line"

# ---- 60 agents, 5 % down, sim-7 at EMERGENCY via the script -------------------
echo "sim-7 level=4" >"$TMP/script.txt"
"$SIM" --agents 60 --down-frac 0.05 --seed 3 --script "$TMP/script.txt" --agents-file "$TMP/agents.txt" \
  --port-file "$TMP/sim.port" >"$TMP/sim.log" 2>&1 &
SIM_PID=$!
until_ok 20 test -s "$TMP/sim.port" || fail "fleetsim did not start"
grep -q "^sim-0 127.0.0.1:$(cat "$TMP/sim.port")/sim-0 zone=z0$" "$TMP/agents.txt" || fail "agents file: $(head -1 "$TMP/agents.txt")"
"$FLEETD" --listen 127.0.0.1:0 --port-file "$TMP/fleet.port" --agents-file "$TMP/agents.txt" --poll-ms 300 \
  --rpc-timeout-ms 800 --backoff-max-ms 1200 --poll-threads 2 >"$TMP/fleet.log" 2>&1 &
FLEET_PID=$!
until_ok 20 test -s "$TMP/fleet.port" || fail "rustymem-fleet did not start"
FLEET="127.0.0.1:$(cat "$TMP/fleet.port")"

stats() { "$RUSTYMEMCTL" --fleet "$FLEET" --output json fleet stats; }
nodes() { "$RUSTYMEMCTL" --fleet "$FLEET" --output json nodes; }
all_polled() { stats | "$PY" -c 'import json,sys; s=json.load(sys.stdin); sys.exit(0 if s["nodes"]==60 and s["nodes_by_state"]["pending"]==0 else 1)'; }
until_ok 60 all_polled || fail "not every agent was polled: $(stats)"

DOWN=$(nodes | "$PY" -c '
import json,sys
d=json.load(sys.stdin)["nodes"]
up=[n for n in d if n["reachable"]]
down=[n for n in d if not n["reachable"]]
assert all(n["agent_name"]==n["name"] for n in up), "agent_name must be the authority"
assert all("UNAVAILABLE: simulated agent" in n["last_error"] for n in down), down[:1]
print(len(down))')
[ "$DOWN" -ge 1 ] && [ "$DOWN" -le 10 ] || fail "expected a few down agents (5 % of 60), got $DOWN"
pass "60 agents behind one port: each answers as itself; $DOWN down show UNAVAILABLE"

check_stats() { stats | "$PY" -c '
import json,sys
s=json.load(sys.stdin); st=s["nodes_by_state"]; down=int(sys.argv[1])
assert s["poll_threads"]==2 and s["poll_interval_ms"]==300, s
assert st["reachable"]==60-down and st["unreachable"]==down, st
assert st["backoff"]==down, st        # a down agent waits longer than one interval
assert s["polls_total"]>=120 and s["poll_failures_total"]>=down, s
assert 0 < s["poll_latency_p50_ms"] <= s["poll_latency_p99_ms"], s
assert s["fresh_nodes"]==60-down, s    # every up agent at most 2 intervals stale
assert s["staleness_max_ms"] > 600, s  # the down ones are stale
' "$DOWN"; }
until_ok 20 check_stats || { stats; fail "GetFleetStats does not describe the poller"; }
pass "GetFleetStats: nodes by state, polls, latency, staleness, fresh nodes"

early() { nodes | "$PY" -c '
import json,sys
n=[n for n in json.load(sys.stdin)["nodes"] if n["name"]==sys.argv[1]][0]
sys.exit(0 if any(e["kind"]=="early_response" and e["status"]=="OK" for e in n["events"]) else 1)' "$1"; }
until_ok 20 early sim-7 || fail "no early response recorded for sim-7 at EMERGENCY"
pass "early response reached the EMERGENCY agent through the async poll"

# ---- the script, re-read on SIGHUP: sim-7 down, sim-8 at EMERGENCY, sim-9 slow past the deadline
printf 'sim-7 down=1\nsim-8 level=4\nsim-9 slow_ms=1500\n' >"$TMP/script.txt"
kill -HUP "$SIM_PID"
node_err() { nodes | "$PY" -c '
import json,sys
n=[n for n in json.load(sys.stdin)["nodes"] if n["name"]==sys.argv[1]][0]
sys.exit(0 if sys.argv[2] in n["last_error"] and not n["reachable"] else 1)' "$1" "$2"; }
until_ok 20 node_err sim-7 "UNAVAILABLE" || fail "sim-7 did not go down after SIGHUP"
until_ok 20 early sim-8 || fail "no early response for sim-8 after SIGHUP"
until_ok 20 node_err sim-9 "DEADLINE_EXCEEDED" || fail "a slow agent past --rpc-timeout-ms is not DEADLINE_EXCEEDED"
pass "SIGHUP script: down, EMERGENCY and slow (deadline exceeded) agents"

# ---- a rollout through the same channels changes the simulated knobs ------------
UP3=$(nodes | "$PY" -c '
import json,sys
up=[n["name"] for n in json.load(sys.stdin)["nodes"] if n["reachable"] and n["name"] not in ("sim-7","sim-8","sim-9")]
print(",".join(sorted(up)[:3]))')
expect_exit 0 "$RUSTYMEMCTL" --fleet "$FLEET" --output json fleet rollout oltp mission_critical \
  --names "$UP3" --canary-wait 0.3 --batch-size 2
"$PY" -c 'import json,sys; r=json.loads(sys.argv[1]); assert r["completed"] and sorted(r["changed_nodes"])==sorted(sys.argv[2].split(",")), r' "$OUT" "$UP3" \
  || fail "rollout: $OUT"
pass "rollout to simulated agents completed"

kill -TERM "$FLEET_PID"; wait "$FLEET_PID" || fail "rustymem-fleet did not exit 0"; FLEET_PID=""
kill -TERM "$SIM_PID"; wait "$SIM_PID" || fail "fleetsim did not exit 0"; SIM_PID=""
grep -q "TriggerResponse" "$TMP/sim.log" || fail "fleetsim summary missing"
pass "both stop cleanly"
