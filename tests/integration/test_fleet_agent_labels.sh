#!/usr/bin/env bash
# Labels the agents report themselves (issue 24 item 5, ADR 0027): rustymemd
# --label K=V and --labels-file (the Kubernetes downward API's metadata.labels
# format, KEY="VALUE") show in GetMemoryStats.labels; a rustymem-fleet that
# discovers the agent through DNS (addresses only, no labels of its own)
# shows them in ListNodes and selects by them (nodes --label, a rollout by
# label); a label no agent reports selects nothing. Bad labels exit 2 naming
# the flag and the line.
source "$(dirname "$0")/lib.sh"
FLEETD="$RM_BUILD_DIR/agents/fleet/rustymem-fleet"
PY=/usr/bin/python3
py() { "$PY" -c "import json,sys; d=json.load(sys.stdin); print($1)"; }
FLEET_PID=""
labels_cleanup() {
  local rc=$?
  [ "$rc" -ne 0 ] && for f in "$TMP"/agent.log "$TMP"/fleet.log; do [ -s "$f" ] && tail -n 20 "$f" >&2; done
  if [ -n "$FLEET_PID" ] && kill -0 "$FLEET_PID" 2>/dev/null; then kill -TERM "$FLEET_PID"; wait "$FLEET_PID" || true; fi
  cleanup
}
trap labels_cleanup EXIT

# ---- bad labels: exit 2, one line naming the flag -------------------------------------
expect_exit 2 "$RUSTYMEMD" --data-dir "$TMP/bad" --label role
grep -q -- "--label role: expected KEY=VALUE" <<<"$ERR" || fail "--label without '=': $ERR"
expect_exit 2 "$RUSTYMEMD" --data-dir "$TMP/bad" --label 'role=a b'
grep -q -- "--label: the value of label role" <<<"$ERR" || fail "--label with a blank: $ERR"
expect_exit 2 "$RUSTYMEMD" --data-dir "$TMP/bad" --label 'ro le=a'
grep -q -- "label keys use letters" <<<"$ERR" || fail "--label bad key: $ERR"
printf 'a="1"\nb="unterminated\n' >"$TMP/bad-labels"
expect_exit 2 "$RUSTYMEMD" --data-dir "$TMP/bad" --labels-file "$TMP/bad-labels"
grep -q -- "--labels-file $TMP/bad-labels:2: unterminated" <<<"$ERR" || fail "bad labels file: $ERR"
expect_exit 2 "$RUSTYMEMD" --data-dir "$TMP/bad" --labels-file "$TMP/missing"
grep -q -- "--labels-file $TMP/missing: No such file" <<<"$ERR" || fail "missing labels file: $ERR"
[ "$(grep -c . <<<"$ERR")" = 1 ] || fail "more than one line: $ERR"
[ ! -e "$TMP/bad" ] || fail "a refused start created its data directory"
pass "bad --label/--labels-file: exit 2 with one line naming the flag (and file:line)"

# ---- an agent with labels from both sources ----------------------------------------------
# what the downward API writes for metadata.labels
printf 'app.kubernetes.io/component="agent"\ntopology.kubernetes.io/zone="eu-1a"\nrole="cache"\n' >"$TMP/podlabels"
start_agent --node-name db-7 --labels-file "$TMP/podlabels" --label role=db --set memory.budget_bytes=2GiB
expect_exit 0 "$RUSTYMEMCTL" --addr "$ADDR" --output json stats memory
[ "$(py 'sorted(d["labels"].items())' <<<"$OUT")" = \
  "[('app.kubernetes.io/component', 'agent'), ('role', 'db'), ('topology.kubernetes.io/zone', 'eu-1a')]" ] ||
  fail "GetMemoryStats labels: $(py 'd.get("labels")' <<<"$OUT")"
pass "GetMemoryStats reports the agent's labels (--labels-file, --label winning for role)"

# ---- a DNS-discovered fleet selects by them -------------------------------------------------
PORT=${ADDR##*:}
rm -f "$TMP/fport"
"$FLEETD" --listen 127.0.0.1:0 --port-file "$TMP/fport" --agents-dns "localhost:$PORT" --poll-ms 200 \
  --canary-wait-seconds 0.1 >"$TMP/fleet.log" 2>&1 &
FLEET_PID=$!
for _ in $(seq 1 200); do [ -s "$TMP/fport" ] && break; sleep 0.05; done
FLEET="127.0.0.1:$(cat "$TMP/fport")"
sel() { "$RUSTYMEMCTL" --fleet "$FLEET" --output json nodes --label "$1" | py '",".join(n["name"] + "/" + n["agent_name"] for n in d["nodes"])'; }
# a function, so each try asks again ("$(sel …)" as an argument would be expanded once, before the
# first poll: the fleet spreads its first polls over one interval)
selects_db7() { [ "$(sel role=db)" = "127.0.0.1:$PORT/db-7" ]; }
until_ok 15 selects_db7 || fail "DNS fleet: --label role=db selects $(sel role=db)"
[ "$(sel topology.kubernetes.io/zone=eu-1a)" = "127.0.0.1:$PORT/db-7" ] || fail "zone selector"
[ -z "$(sel role=cache)" ] || fail "role=cache (overridden by --label) still selects a node"
[ -z "$(sel zone=eu-1b)" ] || fail "a label no agent reports selected a node"
expect_exit 0 "$RUSTYMEMCTL" --fleet "$FLEET" --output json nodes
[ "$(py 'd["nodes"][0]["labels"]["role"]' <<<"$OUT")" = db ] || fail "ListNodes labels: $OUT"
expect_exit 0 "$RUSTYMEMCTL" --fleet "$FLEET" --output json fleet rollout oltp mission_critical --label role=db --canary-wait 0.1
[ "$(py 'd["completed"], d["changed_nodes"]' <<<"$OUT")" = "True ['127.0.0.1:$PORT']" ] || fail "rollout by label: $OUT"
expect_exit 1 "$RUSTYMEMCTL" --fleet "$FLEET" fleet rollout oltp mission_critical --label role=cache
grep -q "NOT_FOUND" <<<"$ERR$OUT" || fail "rollout by an unreported label: $ERR $OUT"
pass "a fleet with DNS discovery lists the agent's labels and selects by them (nodes, rollout); unreported labels match nothing"
