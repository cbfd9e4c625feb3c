#!/usr/bin/env bash
# test_hostile_pressure.sh — issue 10, item 6. rustymemd runs inside a child
# memory cgroup with a tight hard limit (v1 memory.limit_in_bytes here, v2
# memory.max elsewhere); the mixed workload plus a leak-like ramp (bulk inserts
# of fresh keys, each 400 kB, at a steady rate: memory that only grows) is
# driven at it from outside the cgroup. The agent must not be OOM-killed
# (oom_kill stays 0), must keep answering Health and stats throughout, must
# really have been pushed (pressure level reached Emergency or higher, writes
# refused at OOM prevention), and must exit 0 on SIGTERM afterwards.
# Skips (exit 0, "SKIP:") only without root or a writable memory cgroup.
source "$(dirname "$0")/lib.sh"
LOAD="$RM_BUILD_DIR/tools/load/rustymem-load"
LIMIT_MB=${RM_HOSTILE_LIMIT_MB:-512}
DURATION=${RM_HOSTILE_SECONDS:-45}
if [ -n "${RM_SANITIZE:-}" ]; then   # shadow memory and a small quarantine (ASan's default is 256 MiB)
  LIMIT_MB=$((LIMIT_MB * 2)); DURATION=60
  export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=16"
fi
# the ramp alone would bring 1.2 x the limit within the run: 100 rows x 4000 B per transaction.
# Under TSan every byte the agent touches also touches shadow memory, so the same ramp grew the
# cgroup by 40-50 MiB/s near the end and once went from Emergency (90 %) to the OOM killer within
# two seconds, before OOM prevention could refuse writes; there it takes twice as long (the loop
# below waits up to 3 x DURATION for Emergency, so the run still gets pushed).
RAMP_SECONDS=$DURATION
[ "${RM_SANITIZE:-}" = thread ] && RAMP_SECONDS=$((DURATION * 2))
RAMP_TPS=$(( (LIMIT_MB * 1048576 * 12 / 10) / (RAMP_SECONDS * 400000) + 1 ))

source "$(dirname "$0")/cgroup.sh"
cg_detect
VER=$CG_VER
CG="$CG_ROOT/rm_hostile_$$"
LOAD_PIDS=()
cg_cleanup() {
  for p in "${LOAD_PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  cleanup
  cg_remove "$CG"
}
trap cg_cleanup EXIT
cg_make "$CG" $((LIMIT_MB << 20)) || fail "cannot create the memory cgroup $CG"
oom_kills() { cg_oom_kills "$CG"; }
peak_mb() { cg_peak_mb "$CG"; }

# the agent, moved into the cgroup by its own subshell before exec
rm -f "$TMP/port"
( echo "$BASHPID" >"$CG/cgroup.procs" && exec "$RUSTYMEMD" --listen 127.0.0.1:0 --port-file "$TMP/port" \
    --data-dir "$TMP/data" ) >"$TMP/agent.log" 2>&1 &
AGENT_PID=$!
for _ in $(seq 1 200); do [ -s "$TMP/port" ] && break; sleep 0.05; done
[ -s "$TMP/port" ] || { cat "$TMP/agent.log" >&2; fail "rustymemd did not start in the cgroup"; }
ADDR="127.0.0.1:$(cat "$TMP/port")"
ctl() { "$RUSTYMEMCTL" --addr "$ADDR" --timeout 3000 "$@"; }
ctl --output json stats memory >"$TMP/m0.json" || fail "stats memory at start"
python3 - "$TMP/m0.json" "$LIMIT_MB" <<'PY' || fail "agent does not see the cgroup limit as its budget"
import json, sys
m = json.load(open(sys.argv[1]))
budget = int(m.get("budget_bytes", 0))
assert budget == int(sys.argv[2]) << 20, m.get("budget_bytes")
PY
pass "rustymemd runs in cgroup v$VER with a ${LIMIT_MB} MiB limit, budget = the limit"

# mixed workload + leak-like ramp ($RAMP_TPS bulk transactions/s), from outside the cgroup
"$LOAD" --addr "$ADDR" --profile mixed --sessions 500 --threads 4 --duration "$((DURATION * 3))" --json \
  >"$TMP/mixed.json" 2>"$TMP/mixed.err" &
LOAD_PIDS+=($!)
# The ramp's rows are 4 KiB: longer than a buffer-pool page's largest slot, so they stay in memory
# (shorter values would go to the engine heap and be paged out to disk instead of pushing the agent).
"$LOAD" --addr "$ADDR" --profile bulk --sessions 4 --threads 2 --rate "$RAMP_TPS" --value-bytes 4096 --keys 100000000 \
  --duration "$((DURATION * 3))" --json >"$TMP/ramp.json" 2>"$TMP/ramp.err" &
LOAD_PIDS+=($!)

# Health and stats must answer throughout
polls=0; bad=0; max_level=0; max_current=0; max_usage=0
# At least DURATION seconds, and on until the responder has held Emergency or
# higher for 10 s (a slow machine ramps slower), at most 3 x DURATION.
start=$SECONDS; reached=0
while [ $SECONDS -lt $((start + DURATION * 3)) ]; do
  if [ "$max_level" -ge 3 ]; then
    [ "$reached" = 0 ] && reached=$SECONDS
    [ $SECONDS -ge $((start + DURATION)) ] && [ $SECONDS -ge $((reached + 10)) ] && break
  fi
  kill -0 "$AGENT_PID" 2>/dev/null || { tail -20 "$TMP/agent.log" >&2; fail "rustymedd died (oom_kill $(oom_kills))"; }
  polls=$((polls + 1))
  ctl health >/dev/null 2>&1 || { bad=$((bad + 1)); echo "health failed at poll $polls" >&2; }
  if ctl --output json forecast >"$TMP/fc.json" 2>/dev/null; then
    read -r lvl cur usage < <(python3 -c 'import json,sys
L={"MONITOR":0,"GENTLE":1,"AGGRESSIVE":2,"EMERGENCY":3,"OOM_PREVENTION":4}
lv=lambda v: next((n for k,n in L.items() if str(v).upper().endswith(k)), 0)
d=json.load(open(sys.argv[1]))
print(lv(d.get("responder_level")), lv(d.get("current_level")), "%.3f" % float(d.get("usage_ratio", 0)))' "$TMP/fc.json")
    [ "$cur" -gt "$max_current" ] && max_current=$cur
    python3 -c 'import sys; sys.exit(0 if float(sys.argv[1]) > float(sys.argv[2]) else 1)' "$usage" "$max_usage" && max_usage=$usage
    [ "$lvl" -gt "$max_level" ] && max_level=$lvl
  else
    bad=$((bad + 1)); echo "forecast failed at poll $polls" >&2
  fi
  ctl stats memory >/dev/null 2>&1 || { bad=$((bad + 1)); echo "stats failed at poll $polls" >&2; }
  sleep 0.5
done
for p in "${LOAD_PIDS[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
LOAD_PIDS=()
KILLS=$(oom_kills)
echo "cgroup v$VER limit ${LIMIT_MB} MiB: peak usage $(peak_mb) MiB, oom_kill $KILLS, $polls polls, $bad failed," \
  "max responder level $max_level, max present level $max_current, max usage ratio $max_usage"
[ "$KILLS" = 0 ] || fail "the agent's cgroup saw $KILLS OOM kills"
kill -0 "$AGENT_PID" 2>/dev/null || fail "rustymemd is gone"
[ "$bad" = 0 ] || fail "$bad of $((polls * 3)) health/forecast/stats calls failed during the run"
pass "no OOM kill; Health, forecast and stats answered all $((polls * 3)) polls"

ctl --output json stats engine >"$TMP/eng.json" || fail "stats engine"
ctl --output json stats memory >"$TMP/m1.json" || fail "stats memory"
ctl --output json events --limit 1000 >"$TMP/events.json" || fail "events"
python3 - "$TMP/eng.json" "$TMP/events.json" "$TMP/ramp.json" "$max_level" <<'PY' || fail "the ramp did not push the agent into the graduated response"
import json, sys
eng = json.load(open(sys.argv[1])); ev = json.load(open(sys.argv[2]))
try:
    ramp = json.load(open(sys.argv[3]))
except ValueError:   # stopped before it printed its summary
    ramp = {}
events = ev.get("events", [])
reclaimed = sum(int(e.get("bytes_reclaimed", 0)) for e in events)
levels = sorted({str(e.get("to_level", "")) for e in events if e.get("kind") == "level_change"})
refused = int(eng.get("writes_refused_total", 0))
print("pressure events %d, level changes to %s, bytes reclaimed %d, writes refused %d, ramp transactions %s, "
      "ramp errors %s" % (len(events), levels, reclaimed, refused, ramp.get("transactions"), ramp.get("errors")))
assert int(sys.argv[4]) >= 3, "the responder never reached Emergency"
assert refused > 0 or reclaimed > 0, "nothing was shed"
PY
pass "the graduated response shed load (see the line above)"
stop_agent
pass "rustymemd exits 0 on SIGTERM after the hostile run"
