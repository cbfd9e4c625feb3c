#!/usr/bin/env bash
# kill -9 at random points under load. Rounds (seeded: RM_KILL9_SEED, default
# 42; RM_KILL9_ROUNDS, default 4) on one data dir: start rustymemd, run
# rustymem-load against it, set knobs with rustymemctl (persisted) — one
# synchronously, one in a tight loop that is in flight when the kill lands —
# then SIGKILL the agent after a random delay. After every kill:
#   - the page files of the dead agent's data dir pass the checker
#     (tests/fault/test_faultsim_pagecheck --check: every page's CRC32C after
#     double-write recovery, run on a copy);
#   - the agent starts again on the same data dir;
#   - every persisted knob has its last acknowledged value (the looping knob:
#     the last acknowledged value or the one in flight at the kill, which may
#     or may not have been persisted — never anything else);
#   - stats buffer-pool reports checksum_failures_total 0;
#   - temporary knob files a kill left behind are reported.
# Finally the agent is stopped cleanly (SIGTERM, exit 0).
# The load writes 512 B rows, whose values the engine keeps in the buffer pool
# (DATA/pages/engine.heap). That file is scratch space — written without the
# double-write copy and truncated at every start — so the page check skips it
# (a kill may tear it legitimately) and each restart must find it empty;
# test_faultsim_pagecheck's own kill -9 rounds cover durable pages written
# under load.
source "$(dirname "$0")/lib.sh"
RUSTYMEM_LOAD="$RM_BUILD_DIR/tools/load/rustymem-load"
PAGECHECK="$RM_BUILD_DIR/tests/test_faultsim_pagecheck"
SEED="${RM_KILL9_SEED:-42}"
ROUNDS="${RM_KILL9_ROUNDS:-4}"
RANDOM="$SEED"
AGENT_ARGS=(--set buffer_pool.num_frames=4096)
LOAD_PID=""
SETTER_PID=""

ctl() { "$RUSTYMEMCTL" --addr "$ADDR" "$@"; }
same_number() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a + 0 == b + 0) }'; }
value_of() {
  ctl --output json knobs get "$1" | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["knobs"][0]["value"])'
}

# kill_children — our own background jobs, by PID
kill_children() {
  for p in $LOAD_PID $SETTER_PID; do
    kill -TERM "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
  done
  LOAD_PID=""; SETTER_PID=""
}
trap 'kill_children; cleanup' EXIT

# setter START — set plan_cache.max_plans = START+1, START+2, … until a set
# fails; "attempt" holds the value in flight, "acked" the last acknowledged.
setter() {
  local v=$1
  while :; do
    v=$((v + 1))
    echo "$v" >"$TMP/attempt"
    if "$RUSTYMEMCTL" --addr "$ADDR" --timeout 2000 knobs set "plan_cache.max_plans=$v" >/dev/null 2>&1; then
      echo "$v" >"$TMP/acked"
    else
      break
    fi
  done
}

check_pages() {
  local out
  out=$("$PAGECHECK" --check "$TMP/data/pages" --skip engine.heap) || fail "page check after round $1: $out"
  echo "  $out"
}

expected_threshold=""
acked=""
attempt=""
start=1000
total_sets=0
strays_seen=0
for round in $(seq 1 "$ROUNDS"); do
  start_agent "${AGENT_ARGS[@]}"
  # temporary knob files of the previous kill are gone
  left=$(find "$TMP/data" -name 'knobs.auto.ini.tmp.*' | wc -l)
  [ "$left" -eq 0 ] || fail "round $round: $left temporary knob file(s) survived the restart"
  if [ "${stray:-0}" -gt 0 ]; then
    grep -q "left by an earlier crash" "$TMP/agent.log" || fail "round $round: no log line for the removed temporary file"
  fi
  # the persisted knobs survived the previous kill
  if [ -n "$expected_threshold" ]; then
    got=$(value_of pressure.warning_threshold)
    same_number "$got" "$expected_threshold" ||
      fail "round $round: pressure.warning_threshold is $got after restart, last acknowledged $expected_threshold"
    got=$(value_of plan_cache.max_plans)
    [ "$got" = "$acked" ] || [ "$got" = "$attempt" ] ||
      fail "round $round: plan_cache.max_plans is $got after restart; last acknowledged $acked, in flight $attempt"
    echo "  restart: pressure.warning_threshold=$expected_threshold plan_cache.max_plans=$got (acked $acked, in flight $attempt)"
    bp_fail=$(ctl --output json stats buffer-pool |
      /usr/bin/python3 -c 'import json,sys; d=json.load(sys.stdin); print(d.get("checksum_failures_total", d.get("checksum_failures", 0)))')
    [ "$bp_fail" = "0" ] || fail "round $round: buffer pool reports $bp_fail checksum failures"
    start=$((got + 1000))
    prev_value=$got
  else
    prev_value=$(value_of plan_cache.max_plans)   # the default
  fi

  # load
  heap=$(stat -c %s "$TMP/data/pages/engine.heap")
  [ "$heap" -eq 0 ] || fail "round $round: engine.heap holds $heap B at start (scratch: must start empty)"
  "$RUSTYMEM_LOAD" --addr "$ADDR" --duration 30 --sessions 8 --threads 2 --value-bytes 512 \
    >"$TMP/load.$round.log" 2>&1 &
  LOAD_PID=$!
  # one synchronous, acknowledged set
  r=$((50 + RANDOM % 20))   # in this shell: a $(…) subshell would reseed RANDOM
  t="0.$r"
  expect_exit 0 ctl knobs set "pressure.warning_threshold=$t"
  expected_threshold="$t"
  # the looping setter, in flight at the kill
  rm -f "$TMP/acked" "$TMP/attempt"
  setter "$start" &
  SETTER_PID=$!

  delay_ms=$((200 + RANDOM % 1300))
  sleep "$(printf '%d.%03d' $((delay_ms / 1000)) $((delay_ms % 1000)))"
  kill -KILL "$AGENT_PID"
  wait "$AGENT_PID" 2>/dev/null || true
  AGENT_PID=""
  # the setter stops on its own once the agent is gone (never cut between an
  # acknowledged set and recording it)
  wait "$SETTER_PID" 2>/dev/null || true
  SETTER_PID=""
  kill -TERM "$LOAD_PID" 2>/dev/null || true
  wait "$LOAD_PID" 2>/dev/null || true
  LOAD_PID=""
  # nothing acknowledged this round: the value from before the round stands
  acked=$(cat "$TMP/acked" 2>/dev/null || echo "$prev_value")
  attempt=$(cat "$TMP/attempt" 2>/dev/null || echo "$acked")
  [ -f "$TMP/acked" ] && total_sets=$((total_sets + acked - start))
  committed=$(grep -o 'committed [0-9]*' "$TMP/load.$round.log" | tail -1 || true)
  echo "round $round: killed after ${delay_ms} ms under load (${committed:-no progress line}); knob sets acked up to $acked, in flight $attempt; engine.heap $(stat -c %s "$TMP/data/pages/engine.heap") B on disk"
  check_pages "$round"
  stray=$(find "$TMP/data" -name 'knobs.auto.ini.tmp.*' | wc -l)
  [ "$stray" -eq 0 ] || echo "  $stray temporary knob file(s) left by the kill (the restart must remove them)"
  strays_seen=$((strays_seen + stray))
done

start_agent "${AGENT_ARGS[@]}"
left=$(find "$TMP/data" -name 'knobs.auto.ini.tmp.*' | wc -l)
[ "$left" -eq 0 ] || fail "final: $left temporary knob file(s) survived the restart"
got=$(value_of pressure.warning_threshold)
same_number "$got" "$expected_threshold" || fail "final: pressure.warning_threshold $got, want $expected_threshold"
got=$(value_of plan_cache.max_plans)
[ "$got" = "$acked" ] || [ "$got" = "$attempt" ] || fail "final: plan_cache.max_plans $got, acked $acked, in flight $attempt"
stop_agent
check_pages final
pass "$ROUNDS kill -9 rounds under load (seed $SEED, $total_sets knob sets acknowledged, $strays_seen temporary knob files left by kills and removed at restart): agent restarts, knobs keep their last acknowledged values, page checks clean"
