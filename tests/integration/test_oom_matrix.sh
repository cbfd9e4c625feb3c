#!/usr/bin/env bash
# test_oom_matrix.sh — issue 17, item 3: no kernel OOM kill under the stock loads in a tight memory
# cgroup. For each run a fresh memory cgroup (hard limit, swappiness 0 / no swap) gets rustymemd
# either started inside it ("start") or moved into it once it serves ("moved": its pid written into
# cgroup.procs; v1 with memory.move_charge_at_immigrate=3 so what it already holds moves with it where
# the kernel still has that — 6.x refuses it with EINVAL, and then the memory the agent touched before the
# move stays charged to the parent: only its growth counts against the limit);
# rustymem-load is driven at it from outside the cgroup with the stock settings of a profile.
# Per run it records: survived (the cgroup's oom_kill count stayed 0 and the agent answers Health at
# the end), the cgroup's peak usage, the first pressure level the responder reached (its first
# level_change event) and the highest, and the bytes each reclaimer freed (the sum of the reclaim
# events of ListPressureEvents by reclaimer name, collected with --after through the run so the
# 1024-event ring cannot drop any), and how often the cgroup's threshold notifications woke the
# pressure sampler between its 1 s samples (the agent's count, logged at shutdown: ADR 0012 §5).
# Prints a markdown table on stdout; --json prints JSON instead.
#
#   RM_OOM_MATRIX=full   the whole matrix: oltp, olap, bulk, mixed x 150, 300, 1024 MiB x start,
#                        moved; 60 s each (about 26 min: never in CI)
#   (default)            the CI subset: bulk:150:start and mixed:300:moved, 25 s each (about 1 min)
#   RM_OOM_SECONDS=N     override the length of each run
#   RM_OOM_ONLY="mixed:150:start ..."  run exactly these
# A "moved" run also records the idle agent's usage once it sees the limit, before the load starts,
# and fails when that does not get under 70 % of the limit within 15 s (stuck at OOM prevention), or
# when admission (responder below Emergency) stays closed more than 5 s after that (a level judged on
# a sample taken before the pool followed the limit, held by the step-down dwell: the node now
# re-judges the level once the pool is resized, rm_pressure_rejudge).
# Exit 1 when any run was OOM-killed, did not answer Health at the end, or was stuck after the move.
# Under RM_SANITIZE the limits are doubled (shadow memory). SKIP without root or a memory cgroup.
source "$(dirname "$0")/lib.sh"
LOAD="$RM_BUILD_DIR/tools/load/rustymem-load"
JSON=0
[ "${1:-}" = --json ] && JSON=1
source "$(dirname "$0")/cgroup.sh"
cg_detect

if [ "${RM_OOM_MATRIX:-}" = full ]; then
  SECS=${RM_OOM_SECONDS:-60}
  RUNS=()
  for prof in oltp olap bulk mixed; do
    for lim in 150 300 1024; do
      for how in start moved; do RUNS+=("$prof:$lim:$how"); done
    done
  done
else
  SECS=${RM_OOM_SECONDS:-25}
  # CI: two cases the old code lost or mishandled, with a margin a loaded CI box keeps: bulk at
  # 150 MiB (killed within 4 s before the growth gate; peak 137 MiB now) and mixed moved into 300
  # MiB after start (pool sized for MemTotal). mixed at 150 MiB started inside survives but peaks
  # at the limit (the kernel reclaiming): it runs in the full matrix, not as a CI gate.
  RUNS=(bulk:150:start mixed:300:moved)
fi
[ -n "${RM_OOM_ONLY:-}" ] && read -r -a RUNS <<<"$RM_OOM_ONLY"
SCALE=1
if [ -n "${RM_SANITIZE:-}" ] && [ "${RM_OOM_MATRIX:-}" != full ]; then
  # the claim is about the agent's real memory in a tight cgroup; a sanitizer's shadow memory
  # (TSan's several times the heap) decides the outcome instead. The growth gate's logic runs
  # under the sanitizers in test_engine.
  echo "SKIP: a sanitizer build (RM_SANITIZE=$RM_SANITIZE) changes the agent's memory (RM_OOM_MATRIX=full runs it, limits doubled)"
  exit 0
fi
[ -n "${RM_SANITIZE:-}" ] && SCALE=2

CG=""
LOAD_PID=""
mx_cleanup() {
  [ -n "$LOAD_PID" ] && kill "$LOAD_PID" 2>/dev/null || true
  cleanup
  cg_remove "$CG"
}
trap mx_cleanup EXIT

# stop the run's agent (whatever state it is in) and remove its cgroup
end_run() {
  if [ -n "$LOAD_PID" ]; then kill "$LOAD_PID" 2>/dev/null || true; wait "$LOAD_PID" 2>/dev/null || true; fi
  LOAD_PID=""
  if [ -n "$AGENT_PID" ]; then
    kill -TERM "$AGENT_PID" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$AGENT_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$AGENT_PID" 2>/dev/null || true
    wait "$AGENT_PID" 2>/dev/null || true
  fi
  AGENT_PID=""
  cg_remove "$CG"; CG=""
}

RESULTS="$TMP/results.jsonl"
: >"$RESULTS"
n=0
for run in "${RUNS[@]}"; do
  IFS=: read -r prof lim how <<<"$run"
  n=$((n + 1))
  limit_mb=$((lim * SCALE))
  CG="$CG_ROOT/rm_oom_$$_$n"
  cg_make "$CG" $((limit_mb << 20)) || fail "cannot create the memory cgroup $CG"
  RUN_DIR="$TMP/run$n"; mkdir -p "$RUN_DIR"
  rm -f "$TMP/port"
  if [ "$how" = start ]; then
    ( echo "$BASHPID" >"$CG/cgroup.procs" && exec "$RUSTYMEMD" --listen 127.0.0.1:0 --port-file "$TMP/port" \
        --data-dir "$RUN_DIR/data" ) >"$RUN_DIR/agent.log" 2>&1 &
  else
    "$RUSTYMEMD" --listen 127.0.0.1:0 --port-file "$TMP/port" --data-dir "$RUN_DIR/data" >"$RUN_DIR/agent.log" 2>&1 &
  fi
  AGENT_PID=$!
  for _ in $(seq 1 200); do [ -s "$TMP/port" ] && break; kill -0 "$AGENT_PID" 2>/dev/null || break; sleep 0.05; done
  [ -s "$TMP/port" ] || { cat "$RUN_DIR/agent.log" >&2; fail "$run: rustymemd did not start"; }
  ADDR="127.0.0.1:$(cat "$TMP/port")"
  ctl() { "$RUSTYMEMCTL" --addr "$ADDR" --timeout 3000 "$@"; }
  until_ok 10 ctl health || fail "$run: rustymemd does not answer Health at start"
  if [ "$how" = moved ]; then
    [ "$CG_VER" = 1 ] && { echo 3 >"$CG/memory.move_charge_at_immigrate" 2>/dev/null || true; }
    echo "$AGENT_PID" >"$CG/cgroup.procs" || fail "$run: cannot move rustymemd into $CG"
  fi
  # moved: before any load, the idle agent must see the limit and get under it (the pool follows
  # the limit and gives back what it held for MemTotal, metadata included: ADR 0022). The old
  # code kept the metadata of a MemTotal-sized pool (184 MiB for 1.85 M frames) and sat at OOM
  # prevention, idle, refusing every write. Polled, bounded at 15 s.
  move_ratio=0; move_ok=1; move_s=""; closed_s=0
  if [ "$how" = moved ]; then
    move_ok=0; t0=$SECONDS
    while [ $SECONDS -lt $((t0 + 15)) ]; do
      if ctl --output json forecast >"$RUN_DIR/fc0.json" 2>/dev/null; then
        read -r b r < <(python3 -c 'import json,sys; d=json.load(open(sys.argv[1]))
print(int(d.get("budget_bytes", 0)), "%.4f" % float(d.get("usage_ratio", 0)))' "$RUN_DIR/fc0.json")
        if [ "$b" -le $((limit_mb << 20)) ]; then
          move_ratio=$r
          python3 -c 'import sys; sys.exit(0 if float(sys.argv[1]) < 0.70 else 1)' "$r" \
            && { move_ok=1; move_s=$((SECONDS - t0)); break; }
        fi
      fi
      sleep 0.25
    done
    echo "# $run: idle usage after the move $move_ratio of the limit (${move_s:-not under 70 % in 15}s)" >&2
    # If the sampler judged the old pool against the new limit before the pool followed it, the
    # responder went to OOM prevention for that sample and steps down one level per
    # pressure.step_down_hold_sec (30 s): new sessions are refused until it is below Emergency.
    # The load would find admission closed and stop at once; wait for it (bounded) and record how
    # long it stayed closed (not a failure: the step-down dwell is the pressure monitor's).
    closed_s=0; t0=$SECONDS
    while [ $SECONDS -lt $((t0 + 75)) ]; do
      ctl --output json forecast >"$RUN_DIR/fc0.json" 2>/dev/null || { sleep 0.5; continue; }
      lvl0=$(python3 -c 'import json,sys
L={"MONITOR":0,"GENTLE":1,"AGGRESSIVE":2,"EMERGENCY":3,"OOM_PREVENTION":4}
v=str(json.load(open(sys.argv[1])).get("responder_level",""))
print(next((n for k,n in L.items() if v.endswith(k)), 0))' "$RUN_DIR/fc0.json")
      [ "$lvl0" -lt 3 ] && break
      sleep 0.5
    done
    closed_s=$((SECONDS - t0))
    [ "$closed_s" -gt 0 ] && echo "# $run: admission closed for ${closed_s}s after the move (responder stepping down)" >&2
    [ "$closed_s" -le 5 ] || move_ok=0
  fi
  # the stock load: mixed with the flags of the issue's reproduction, the other profiles the same
  "$LOAD" --addr "$ADDR" --profile "$prof" --sessions 1000 --threads 16 --value-bytes 4096 --keys 2000000 \
    --duration "$SECS" --json >"$RUN_DIR/load.json" 2>"$RUN_DIR/load.err" &
  LOAD_PID=$!
  last_id=0; max_level=0; max_ratio=0; died_at=""
  : >"$RUN_DIR/events.jsonl"
  start=$SECONDS
  while kill -0 "$LOAD_PID" 2>/dev/null && [ $SECONDS -lt $((start + SECS + 15)) ]; do
    if ! kill -0 "$AGENT_PID" 2>/dev/null; then died_at=$((SECONDS - start)); break; fi
    if ctl --output json forecast >"$RUN_DIR/fc.json" 2>/dev/null; then
      read -r lvl ratio < <(python3 -c 'import json,sys
L={"MONITOR":0,"GENTLE":1,"AGGRESSIVE":2,"EMERGENCY":3,"OOM_PREVENTION":4}
d=json.load(open(sys.argv[1])); v=str(d.get("responder_level",""))
print(next((n for k,n in L.items() if v.endswith(k)), 0), "%.4f" % float(d.get("usage_ratio", 0)))' "$RUN_DIR/fc.json")
      [ "$lvl" -gt "$max_level" ] && max_level=$lvl
      python3 -c 'import sys; sys.exit(0 if float(sys.argv[1]) > float(sys.argv[2]) else 1)' "$ratio" "$max_ratio" \
        && max_ratio=$ratio
    fi
    if ctl --output json events --after "$last_id" --limit 1000 >"$RUN_DIR/ev.json" 2>/dev/null; then
      new_last=$(python3 -c 'import json,sys
ev=json.load(open(sys.argv[1])).get("events",[]); last=int(sys.argv[3])
with open(sys.argv[2],"a") as f:
    for e in ev:
        f.write(json.dumps(e)+"\n"); last=max(last,int(e.get("id",0)))
print(last)' "$RUN_DIR/ev.json" "$RUN_DIR/events.jsonl" "$last_id")
      last_id=$new_last
    fi
    sleep 0.5
  done
  [ -z "$died_at" ] && ! kill -0 "$AGENT_PID" 2>/dev/null && died_at=$((SECONDS - start))
  kill "$LOAD_PID" 2>/dev/null || true; wait "$LOAD_PID" 2>/dev/null || true; LOAD_PID=""
  health=0
  if [ -z "$died_at" ]; then
    ctl health >/dev/null 2>&1 && health=1
    if ctl --output json events --after "$last_id" --limit 1000 >"$RUN_DIR/ev.json" 2>/dev/null; then
      python3 -c 'import json,sys
with open(sys.argv[2],"a") as f:
    for e in json.load(open(sys.argv[1])).get("events",[]): f.write(json.dumps(e)+"\n")' "$RUN_DIR/ev.json" "$RUN_DIR/events.jsonl"
    fi
    ctl --output json stats engine >"$RUN_DIR/eng.json" 2>/dev/null || echo '{}' >"$RUN_DIR/eng.json"
  else
    echo '{}' >"$RUN_DIR/eng.json"
  fi
  kills=$(cg_oom_kills "$CG")
  peak=$(cg_peak_mb "$CG")
  exit_note=""
  if [ -n "$died_at" ]; then
    rc=0; wait "$AGENT_PID" 2>/dev/null || rc=$?; AGENT_PID=""
    exit_note="exit $rc at ${died_at}s"
  else
    # stop it now: it logs at shutdown how often the cgroup's notifications woke its sampler
    kill -TERM "$AGENT_PID" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$AGENT_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$AGENT_PID" 2>/dev/null || true
    wait "$AGENT_PID" 2>/dev/null || true
    AGENT_PID=""
  fi
  woken=$(sed -n "s/.*notifications woke the sampler \([0-9]*\) times.*/\1/p" "$RUN_DIR/agent.log" | tail -1)
  woken=${woken:-0}
  python3 - "$RESULTS" "$RUN_DIR" <<PY
import json, sys
L = ["MONITOR", "GENTLE", "AGGRESSIVE", "EMERGENCY", "OOM_PREVENTION"]
def lv(v):
    return next((k for k in L[::-1] if str(v).upper().endswith(k)), "MONITOR")
evs = [json.loads(l) for l in open(sys.argv[2] + "/events.jsonl") if l.strip()]
first = next((lv(e.get("to_level")) for e in evs if e.get("kind") == "level_change"), "MONITOR")
freed = {}
passes = {}
for e in evs:
    if e.get("kind") == "reclaim":
        name = (e.get("actions") or ["?"])[0]
        freed[name] = freed.get(name, 0) + int(e.get("bytes_reclaimed", 0))
        passes[name] = passes.get(name, 0) + 1
try:
    load = json.load(open(sys.argv[2] + "/load.json"))
except ValueError:
    load = {}
eng = json.load(open(sys.argv[2] + "/eng.json"))
r = {"profile": "$prof", "limit_mib": $limit_mb, "agent": "$how", "seconds": $SECS,
     "survived": "$kills" == "0" and $health == 1 and not "$exit_note" and $move_ok == 1,
     "oom_kills": int("$kills"), "idle_usage_after_move": float("$move_ratio"),
     "under_limit_after_move": $move_ok == 1, "admission_closed_after_move_s": $closed_s,
     "sampler_woken": int("$woken"),
     "health_at_end": $health == 1, "agent_exit": "$exit_note", "peak_mib": "$peak",
     "first_level": first, "max_level": L[$max_level], "max_usage_ratio": float("$max_ratio"),
     "freed_bytes": freed, "reclaim_passes": passes,
     # unknown (None) when the agent died: its engine stats could not be read
     "writes_refused": int(eng["writes_refused_total"]) if "writes_refused_total" in eng else None,
     "low_priority_scans_refused": int(eng["low_priority_scans_refused_total"])
                                   if "low_priority_scans_refused_total" in eng else None,
     "transactions": load.get("transactions"), "load_errors": load.get("errors")}
open(sys.argv[1], "a").write(json.dumps(r) + "\n")
PY
  echo "# $run: oom_kill $kills, peak ${peak} MiB${exit_note:+, $exit_note}" >&2
  [ -z "$exit_note" ] || tail -3 "$RUN_DIR/agent.log" >&2
  end_run
done

python3 - "$RESULTS" "$JSON" <<'PY'
import json, sys
rs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
if sys.argv[2] == "1":
    print(json.dumps({"runs": rs}, indent=2))
    sys.exit(0)
def mb(b):
    return "%.1f MB" % (b / 1e6)
print("| profile | limit | agent | survived | peak | first level | max level | max usage | bytes freed by reclaimer | writes refused | low-priority scans refused | sampler woken | txns / errors |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
def num(v):
    return "-" if v is None else "%d" % v
for r in rs:
    freed = ", ".join("%s %s (%d)" % (k, mb(v), r["reclaim_passes"][k]) for k, v in sorted(r["freed_bytes"].items(), key=lambda kv: -kv[1])) or "-"
    surv = "yes" if r["survived"] else "**no** (oom_kill %d%s%s)" % (r["oom_kills"], ", " + r["agent_exit"] if r["agent_exit"] else "",
        "" if r["under_limit_after_move"] else ", idle at %.0f %% of the limit after the move, admission closed %d s" % (
            100 * r["idle_usage_after_move"], r["admission_closed_after_move_s"]))
    agent = r["agent"]
    if agent == "moved":
        agent += " (idle after: %.1f %%, admission closed %d s)" % (100 * r["idle_usage_after_move"],
                                                                   r["admission_closed_after_move_s"])
    print("| %s | %d MiB | %s | %s | %s MiB | %s | %s | %.1f %% | %s | %s | %s | %d | %s / %s |" % (
        r["profile"], r["limit_mib"], agent, surv, r["peak_mib"], r["first_level"], r["max_level"],
        100 * r["max_usage_ratio"], freed, num(r["writes_refused"]), num(r["low_priority_scans_refused"]),
        r.get("sampler_woken", 0), r["transactions"], r["load_errors"]))
PY
bad=$(python3 -c 'import json,sys; print(sum(1 for l in open(sys.argv[1]) if l.strip() and not json.loads(l)["survived"]))' "$RESULTS")
[ "$bad" = 0 ] || fail "$bad of ${#RUNS[@]} runs were OOM-killed, stopped answering, or stuck over the limit or closed to sessions after the move"
[ "$JSON" = 1 ] && exec 1>&2
pass "no OOM kill in ${#RUNS[@]} runs of ${SECS} s"
