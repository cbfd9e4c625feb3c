#!/usr/bin/env bash
# Two rustymem-fleet replicas on a real etcd (Debian etcd-server 3.4, started
# here on loopback ephemeral ports with its data in $TMP, stopped by PID) over
# three real rustymemd agents (docs/adr/0027):
#   - one replica leads (its identity in PREFIX/leader), the other follows and
#     refuses rollouts with FAILED_PRECONDITION naming the leader;
#   - kill -9 the leader mid-rollout (canary n1 and batch 1 n2 changed, n3 not):
#     the follower becomes leader within 10 s and rolls the rollout back from
#     the journal: every node has all its before-values, none is half-changed,
#     and the journal says rolled_back;
#   - the journal held the plan, each node's before-values and the steps;
#   - a controller restarted on the same etcd does the same after the next
#     leader is killed mid-rollout;
#   - SIGTERM: the leader revokes its lease and the follower takes over;
#   - etcd frozen (SIGSTOP) mid-rollout: the leader stops acting within the
#     lease TTL, tells its caller, and the rollout is rolled back afterwards;
#   - without --etcd the controller logs that rollouts are not crash-safe.
source "$(dirname "$0")/lib.sh"
FLEETD="$RM_BUILD_DIR/agents/fleet/rustymem-fleet"
PY=/usr/bin/python3
declare -a APID AADDR
PIDS=()

command -v etcd >/dev/null && command -v etcdctl >/dev/null ||
  fail "etcd and etcdctl are not installed (Debian etcd-server etcd-client: bash scripts/install-deps.sh)"

etcd_cleanup() {
  local rc=$?
  if [ "$rc" -ne 0 ]; then
    for f in "$TMP"/ctl-*.log "$TMP"/agent*.log "$TMP"/etcd.log "$TMP"/rollout*.out; do
      [ -s "$f" ] && { echo "--- $f (last lines)" >&2; tail -n 25 "$f" >&2; }
    done
  fi
  for p in "${PIDS[@]}"; do
    if [ -n "$p" ] && kill -0 "$p" 2>/dev/null; then kill -TERM "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; fi
  done
  cleanup
}
trap etcd_cleanup EXIT

free_port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_port() { # wait_port FILE PID → echoes the port
  for _ in $(seq 1 300); do
    [ -s "$1" ] && { cat "$1"; return 0; }
    kill -0 "$2" 2>/dev/null || return 1
    sleep 0.05
  done
  return 1
}
py() { "$PY" -c "import json,sys; d=json.load(sys.stdin); print($1)"; }
knob() { "$RUSTYMEMCTL" --addr "$1" --output json knobs get "$2" | py 'd["knobs"][0]["value"]'; }

# ---- etcd --------------------------------------------------------------------------
CPORT=$(free_port); PPORT=$(free_port); PPORT9=$(free_port) # PPORT9: nothing listens there
ETCD_EP="127.0.0.1:$CPORT"
etcd --name rmtest --data-dir "$TMP/etcd" \
  --listen-client-urls "http://$ETCD_EP" --advertise-client-urls "http://$ETCD_EP" \
  --listen-peer-urls "http://127.0.0.1:$PPORT" --initial-advertise-peer-urls "http://127.0.0.1:$PPORT" \
  --initial-cluster "rmtest=http://127.0.0.1:$PPORT" >"$TMP/etcd.log" 2>&1 &
ETCD_PID=$!
PIDS+=("$ETCD_PID")
ectl() { ETCDCTL_API=3 etcdctl --endpoints "$ETCD_EP" --command-timeout 5s "$@"; }
until_ok 30 ectl endpoint health || fail "etcd did not become healthy"
pass "etcd $(etcd --version | head -1 | awk '{print $3}') on $ETCD_EP"

# ---- three agents ----------------------------------------------------------------------
for i in 1 2 3; do
  "$RUSTYMEMD" --listen 127.0.0.1:0 --port-file "$TMP/p$i" --data-dir "$TMP/d$i" --node-name "n$i" \
    --set memory.budget_bytes=2GiB >"$TMP/agent$i.log" 2>&1 &
  APID[$i]=$!
  PIDS+=("${APID[$i]}")
done
for i in 1 2 3; do
  AADDR[$i]="127.0.0.1:$(wait_port "$TMP/p$i" "${APID[$i]}")" || fail "agent n$i did not start"
  echo "n$i ${AADDR[$i]}" >>"$TMP/agents.txt"
done
# The knobs oltp/mission_critical changes (tests/integration/test_fleet.sh checks their new values).
KNOBS=(slab.lock_entry_magazine pressure.history_size)
declare -A BEFORE
for i in 1 2 3; do for k in "${KNOBS[@]}"; do BEFORE[$i,$k]=$(knob "${AADDR[$i]}" "$k"); done; done
[ "${BEFORE[1,slab.lock_entry_magazine]}" != "256" ] && [ "${BEFORE[1,pressure.history_size]}" != "120" ] ||
  fail "the agents already have the profile's values; the test could not see a change"

# every node has all its before-values (none changed, none half-changed)
all_before() {
  for i in 1 2 3; do for k in "${KNOBS[@]}"; do
    [ "$(knob "${AADDR[$i]}" "$k")" = "${BEFORE[$i,$k]}" ] || return 1
  done; done
}
changed() { [ "$(knob "${AADDR[$1]}" slab.lock_entry_magazine)" = "256" ]; }

# ---- controllers ---------------------------------------------------------------------------
TTL=3
start_ctl() { # start_ctl ID — sets CTL[ID] (address) and CPID[ID]
  local id=$1
  rm -f "$TMP/fport-$id"
  "$FLEETD" --listen 127.0.0.1:0 --port-file "$TMP/fport-$id" --agents-file "$TMP/agents.txt" --poll-ms 300 \
    --rpc-timeout-ms 5000 --backoff-max-ms 1000 --etcd "$ETCD_EP" --etcd-id "$id" --etcd-lease-ttl "$TTL" \
    --canary-wait-seconds 0.3 --batch-wait-seconds 120 --batch-size 1 >>"$TMP/ctl-$id.log" 2>&1 &
  CPID[$id]=$!
  PIDS+=("${CPID[$id]}")
  CTL[$id]="127.0.0.1:$(wait_port "$TMP/fport-$id" "${CPID[$id]}")" || fail "controller $id did not start"
}
declare -A CTL CPID
leader_is() { [ "$(ectl get --print-value-only /rustymem/fleet/leader)" = "$1" ]; }
plan_state() { ectl get --print-value-only /rustymem/fleet/rollout/plan | py 'd["state"]'; }

start_ctl A
until_ok 15 leader_is A || fail "controller A did not take the leader key"
start_ctl B
until_ok 15 grep -q "following the leader A" "$TMP/ctl-B.log" || fail "controller B does not follow A"
expect_exit 1 "$RUSTYMEMCTL" --fleet "${CTL[B]}" fleet rollout oltp mission_critical --names n1
grep -q "FAILED_PRECONDITION" <<<"$ERR$OUT" && grep -q "not the leader (leader: A)" <<<"$ERR$OUT" ||
  fail "a follower's rollout refusal: $ERR $OUT"
all_before || fail "the refused rollout changed a node"
# each replica's GetFleetStats names itself and the leader, and says which one acts
fstats() { "$RUSTYMEMCTL" --fleet "$1" --output json fleet stats | py 'd.get("replica_id"), d.get("leader_id"), d.get("may_act", False)'; }
[ "$(fstats "${CTL[A]}")" = "A A True" ] || fail "A's fleet stats: $(fstats "${CTL[A]}")"
[ "$(fstats "${CTL[B]}")" = "B A False" ] || fail "B's fleet stats: $(fstats "${CTL[B]}")"
pass "A leads (etcd key /rustymem/fleet/leader = A), B follows and refuses rollouts naming the leader; both say so in fleet stats"

# kill_mid_rollout LEADER — start a rollout on LEADER, wait until n1 and n2 changed (n3 waits for
# batch 2 behind a 120 s wait), then kill -9 the leader
kill_mid_rollout() {
  local id=$1
  "$RUSTYMEMCTL" --fleet "${CTL[$id]}" --output json fleet rollout oltp mission_critical --names n1,n2,n3 \
    >"$TMP/rollout-$id.out" 2>&1 &
  local rpid=$!
  until_ok 30 changed 1 || fail "canary n1 did not change"
  until_ok 30 changed 2 || fail "batch 1 (n2) did not change"
  changed 3 && fail "n3 changed before batch 2"
  [ "$(plan_state)" = "running" ] || fail "journal plan state is not running: $(plan_state)"
  # the journal holds n1's before-values (written before the node changed)
  [ "$(ectl get --print-value-only /rustymem/fleet/rollout/node/n1 | py 'd["state"], d["before"]["slab.lock_entry_magazine"]')" = \
    "applied ${BEFORE[1,slab.lock_entry_magazine]}" ] || fail "journal of n1: $(ectl get /rustymem/fleet/rollout/node/n1)"
  [ "$(ectl get --prefix --keys-only /rustymem/fleet/rollout/step/ | grep -c step/)" -ge 3 ] || fail "steps not journaled"
  kill -9 "${CPID[$id]}"
  wait "${CPID[$id]}" 2>/dev/null || true
  KILLED_AT=$SECONDS
  wait "$rpid" 2>/dev/null || true # the caller sees its connection go
}

# ---- kill -9 the leader mid-rollout: B takes over and rolls back ------------------------
kill_mid_rollout A
until_ok 10 leader_is B || fail "B did not become leader within 10 s of A's kill -9"
TAKEOVER=$((SECONDS - KILLED_AT))
until_ok 30 grep -q "became the leader (B" "$TMP/ctl-B.log" || fail "B did not log its leadership"
until_ok 30 all_before || fail "the interrupted rollout was not rolled back on every node"
# a function, so each try reads the journal again ("$(…)" as an argument is expanded once)
plan_rolled_back() { [ "$(plan_state)" = "rolled_back" ]; }
until_ok 10 plan_rolled_back || fail "journal plan state: $(plan_state)"
grep -q "found an unfinished rollout" "$TMP/ctl-B.log" || fail "B did not log the recovery"
[ "$(ectl get --print-value-only /rustymem/fleet/rollout/plan | py 'd["reason"]')" != "" ] || fail "no reason"
pass "kill -9 of leader A mid-rollout: B leader after ${TAKEOVER} s (≤ 10), n1 and n2 rolled back to their before-values, n3 untouched, journal rolled_back"

# ---- the same with a controller restarted on the same etcd ------------------------------------
kill_mid_rollout B
start_ctl C
until_ok 15 leader_is C || fail "the restarted controller C did not become leader"
until_ok 30 all_before || fail "C did not roll the interrupted rollout back"
until_ok 10 plan_rolled_back || fail "journal plan state after C: $(plan_state)"
grep -q "controller B stopped during the rollout; rolled back by C" <(ectl get --print-value-only /rustymem/fleet/rollout/plan) ||
  fail "plan reason: $(ectl get --print-value-only /rustymem/fleet/rollout/plan)"
pass "a controller restarted on the same etcd (C) rolled back B's interrupted rollout"

# ---- the leader completes a rollout; SIGTERM hands leadership over at once ---------------------
start_ctl D
until_ok 15 grep -q "following the leader C" "$TMP/ctl-D.log" || fail "D does not follow C"
kill -TERM "${CPID[C]}"
rc=0; wait "${CPID[C]}" || rc=$?
[ "$rc" -eq 0 ] || fail "C exited $rc after SIGTERM"
grep -q "resigned leadership (lease revoked)" "$TMP/ctl-C.log" || fail "C did not revoke its lease"
until_ok 5 leader_is D || fail "D did not take over within 5 s of C's resignation"
pass "SIGTERM: the leader revokes its lease and the follower takes over"

# ---- a leader cut off from etcd stops acting before its lease can expire ------------------------
# etcd frozen (SIGSTOP) while D's rollout waits after batch 1: D hears nothing more from etcd and
# must stop acting TTL - margin (3 s - 1 s) after its last successful keepalive was sent, which
# was before the freeze; then, etcd back, the rollout is rolled back from the journal.
"$RUSTYMEMCTL" --fleet "${CTL[D]}" --output json fleet rollout oltp mission_critical --names n1,n2,n3 \
  >"$TMP/rollout-D.out" 2>&1 &
RPID=$!
until_ok 30 changed 2 || fail "D's rollout did not reach batch 1"
kill -STOP "$ETCD_PID"
T0=$(date +%s%3N)
until_ok 10 grep -q "rollout stopped: .*lost its etcd leadership" "$TMP/ctl-D.log" || {
  kill -CONT "$ETCD_PID"; fail "D did not stop its rollout with etcd silent"; }
T1=$(date +%s%3N)
kill -CONT "$ETCD_PID"
wait "$RPID" 2>/dev/null || true
STOPPED_MS=$((T1 - T0))
[ "$STOPPED_MS" -lt $((TTL * 1000)) ] || fail "D stopped only ${STOPPED_MS} ms after etcd went silent (TTL ${TTL} s)"
grep -q "lost its etcd leadership" "$TMP/rollout-D.out" || fail "the caller was not told: $(cat "$TMP/rollout-D.out")"
changed 3 && fail "D changed n3 after losing leadership"
until_ok 30 all_before || fail "the rollout D stopped was not rolled back once etcd was back"
until_ok 10 plan_rolled_back || fail "journal plan state after the etcd freeze: $(plan_state)"
pass "etcd frozen mid-rollout: leader D stopped within ${STOPPED_MS} ms (< TTL ${TTL} s), told its caller, and the rollout was rolled back once etcd was back"

# ---- without --etcd ----------------------------------------------------------------------------
"$FLEETD" --listen 127.0.0.1:0 --port-file "$TMP/fport-solo" --agents-file "$TMP/agents.txt" >"$TMP/ctl-solo.log" 2>&1 &
SOLO=$!
PIDS+=("$SOLO")
wait_port "$TMP/fport-solo" "$SOLO" >/dev/null || fail "solo controller did not start"
grep -q "rollouts are not crash-safe: no --etcd" "$TMP/ctl-solo.log" || fail "no crash-safety warning without --etcd"
kill -TERM "$SOLO"; wait "$SOLO" || fail "solo controller exit status"
expect_exit 2 "$FLEETD" --agents-file "$TMP/agents.txt" --etcd-lease-ttl 5
grep -q -- "--etcd-\* options need --etcd" <<<"$ERR" || fail "etcd option without --etcd: $ERR"
expect_exit 2 "$FLEETD" --agents-file "$TMP/agents.txt" --etcd "$ETCD_EP" --etcd-lease-ttl 1
grep -q -- "--etcd-lease-ttl" <<<"$ERR" || fail "bad --etcd-lease-ttl: $ERR"
expect_exit 2 "$FLEETD" --agents-file "$TMP/agents.txt" --etcd "$ETCD_EP,nohost"
grep -q -- "--etcd: bad endpoint 'nohost'" <<<"$ERR" || fail "bad --etcd endpoint: $ERR"
expect_exit 1 "$FLEETD" --agents-file "$TMP/agents.txt" --etcd "127.0.0.1:$PPORT9" --etcd-timeout-ms 500
grep -q "rustymem-fleet: etcd 127.0.0.1:$PPORT9 Range: UNAVAILABLE" <<<"$ERR" || fail "unreachable etcd: $ERR"
pass "without --etcd the controller says rollouts are not crash-safe; bad --etcd options exit 2 naming the flag; an unreachable etcd fails start-up (exit 1)"
