#!/usr/bin/env bash
# test_deploy_auth.sh — the deployment docs/deploy.md describes, with tokens,
# on loopback: rustymemd with an auth file, rustymem-exporter with the reader
# token from RUSTYMEM_TOKEN, rustymem-fleet with the admin token from
# RUSTYMEM_TOKEN and an auth file of its own, and a real Prometheus.
#   - Prometheus reads rustymem_up 1; every REST path answers 200; the fleet
#     shows the node at a real level; a rollout through the fleet completes
#     and changes the agent's knobs;
#   - an exporter with a wrong token: rustymem_up 0 and
#     rustymem_scrape_error{code="unauthenticated"} 1 in Prometheus, /readyz
#     503, REST 502 naming the reason, a log line that says "unauthenticated"
#     with the agent's address;
#   - no open admin API: rustymem-fleet and rustymemd on 0.0.0.0 without auth
#     exit 2 naming --allow-unauthenticated; an unauthenticated (or reader)
#     `rustymemctl --fleet … fleet trigger` is refused and audited with peer;
#   - auth files fail closed: empty / comment-only refused by both daemons;
#   - SIGHUP revocation in rustymemd and rustymem-fleet (a bad file keeps the
#     old rules); the fleet survives SIGHUP;
#   - --token-file for the fleet and the same precedence everywhere.
# Needs curl, /usr/bin/python3 and the Debian package "prometheus".
source "$(dirname "$0")/lib.sh"
EXPORTER="$RM_BUILD_DIR/agents/exporter/rustymem-exporter"
FLEETD="$RM_BUILD_DIR/agents/fleet/rustymem-fleet"
PROMETHEUS=$(command -v prometheus || true)
[ -n "$PROMETHEUS" ] || fail "prometheus is needed: apt-get install prometheus"
PIDS=()

da_cleanup() {
  local rc=$?
  if [ "$rc" -ne 0 ]; then
    for f in "$TMP"/*.log; do [ -s "$f" ] && { echo "--- $f (last lines)" >&2; tail -n 12 "$f" >&2; }; done
  fi
  for p in "${PIDS[@]}"; do
    if [ -n "$p" ] && kill -0 "$p" 2>/dev/null; then kill -TERM "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; fi
  done
  cleanup
}
trap da_cleanup EXIT

READER=reader-token-for-the-exporter-0001
ADMIN=admin-token-for-the-fleet-000000001
OPS=ops-admin-token-for-operators-0001
OPS_READER=ops-reader-token-for-dashboards-01
umask 077
CLIENT=client-token-for-the-load-tool-01
cat >"$TMP/agent-auth" <<EOF
# rustymemd --auth-file: the exporter reads, the fleet changes, the load tool drives sessions
token reader $READER exporter
token admin  $ADMIN  fleet
token client $CLIENT loadgen
EOF
cat >"$TMP/fleet-auth" <<EOF
# rustymem-fleet --auth-file: who may call FleetService
token admin  $OPS        oncall
token reader $OPS_READER dashboards
EOF

# wait_file FILE PID — until FILE is non-empty; fails when PID exits first
wait_file() {
  for _ in $(seq 1 400); do
    [ -s "$1" ] && return 0
    kill -0 "$2" 2>/dev/null || return 1
    sleep 0.05
  done
  return 1
}
# start_exporter NAME [flags…] — sets EXP_<NAME> to the base URL
start_exporter() {
  local name=$1; shift
  rm -f "$TMP/exp-$name.port"
  "$EXPORTER" --agent "$ADDR" --listen 127.0.0.1:0 --port-file "$TMP/exp-$name.port" --timeout 1000 "$@" \
    >"$TMP/exporter-$name.log" 2>&1 &
  PIDS+=($!)
  wait_file "$TMP/exp-$name.port" $! || fail "rustymem-exporter ($name) did not start: $(cat "$TMP/exporter-$name.log")"
  printf -v "EXP_$name" 'http://127.0.0.1:%s' "$(cat "$TMP/exp-$name.port")"
}
# get URL — body in $TMP/body, status in $CODE
get() { CODE=$(curl -s -o "$TMP/body" -w '%{http_code}' "$1") || fail "curl $1 failed"; }
py() { /usr/bin/python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }

# ---- no open admin API (refused before anything binds) --------------------------
# (timeout: a build without the rule would serve on 0.0.0.0 until killed — fail, never hang)
expect_exit 2 timeout 10 "$FLEETD" --listen 0.0.0.0:0 --insecure --agents 127.0.0.1:1
grep -q -- "--allow-unauthenticated" <<<"$ERR" || fail "fleet on 0.0.0.0 without auth: $ERR"
grep -q -- "--auth-file" <<<"$ERR" || fail "fleet refusal does not name --auth-file: $ERR"
[ "$(wc -l <<<"$ERR")" -eq 1 ] || fail "fleet refusal is more than one line: $ERR"
# 192.0.2.1 (TEST-NET-1) is on no interface: a build without the rule fails to bind instead of serving
expect_exit 2 timeout 10 "$RUSTYMEMD" --listen 192.0.2.1:0 --insecure --data-dir "$TMP/d0"
grep -q -- "--allow-unauthenticated" <<<"$ERR" || fail "rustymemd on 192.0.2.1 without auth: $ERR"
expect_exit 2 timeout 10 "$FLEETD" --listen '[2001:db8::1]:0' --insecure --agents 127.0.0.1:1
grep -q -- "--allow-unauthenticated" <<<"$ERR" || fail "fleet on [2001:db8::1] without auth: $ERR"
# mTLS verification counts as authentication only with TLS: a CA alone is a usage error, not a pass
expect_exit 2 timeout 10 "$RUSTYMEMD" --listen 192.0.2.1:0 --insecure --tls-client-ca "$TMP/ca.pem" --data-dir "$TMP/d0"
grep -q -- "--tls-client-ca needs --tls-cert and --tls-key" <<<"$ERR" || fail "rustymemd --tls-client-ca alone: $ERR"
pass "rustymem-fleet and rustymemd on a non-loopback address without auth exit 2 naming --allow-unauthenticated"

# ---- auth files fail closed --------------------------------------------------------
: >"$TMP/empty-auth"
printf '# tokens go here\n\n   # none yet\n' >"$TMP/comment-auth"
for f in empty-auth comment-auth; do
  expect_exit 1 "$RUSTYMEMD" --listen 127.0.0.1:0 --data-dir "$TMP/d1" --auth-file "$TMP/$f"
  grep -q "$f grants nothing" <<<"$ERR" || fail "rustymemd with $f: $ERR"
  expect_exit 1 "$FLEETD" --listen 127.0.0.1:0 --agents 127.0.0.1:1 --auth-file "$TMP/$f"
  grep -q "$f grants nothing" <<<"$ERR" || fail "rustymem-fleet with $f: $ERR"
done
pass "an empty or comment-only auth file is a start-up error in rustymemd and rustymem-fleet"

# ---- credential flags: the same rules in every client --------------------------------
printf '\n  %s  \n' "$ADMIN" >"$TMP/admin.token"
: >"$TMP/empty.token"
printf 'two words-0123456789\n' >"$TMP/two.token"
for tool in "$EXPORTER" "$FLEETD --agents 127.0.0.1:1" "$RM_BUILD_DIR/tools/load/rustymem-load" "$RUSTYMEMCTL"; do
  # shellcheck disable=SC2086
  set -- $tool
  last=(); [ "$1" = "$RUSTYMEMCTL" ] && last=(health)
  expect_exit 2 "$@" --token "$ADMIN" --token-file "$TMP/admin.token" "${last[@]}"
  grep -q "give --token or --token-file, not both" <<<"$ERR" || fail "$1: both token flags: $ERR"
  expect_exit 1 "$@" --token-file "$TMP/no-such.token" "${last[@]}"
  grep -q -- "--token-file $TMP/no-such.token: No such file" <<<"$ERR" || fail "$1: unreadable token file: $ERR"
  expect_exit 1 "$@" --token-file "$TMP/empty.token" "${last[@]}"
  grep -q -- "--token-file $TMP/empty.token is empty" <<<"$ERR" || fail "$1: empty token file: $ERR"
  expect_exit 1 "$@" --token-file "$TMP/two.token" "${last[@]}"
  grep -q "exactly one token" <<<"$ERR" || fail "$1: two-word token file: $ERR"
done
expect_exit 2 "$EXPORTER" --tls-cert "$TMP/x.pem"
grep -q -- "--tls-cert and --tls-key go together" <<<"$ERR" || fail "exporter cert without key: $ERR"
expect_exit 2 "$FLEETD" --agents 127.0.0.1:1 --agent-tls-key "$TMP/x.pem"
grep -q -- "--agent-tls-cert and --agent-tls-key go together" <<<"$ERR" || fail "fleet cert without key: $ERR"
pass "--token with --token-file is a usage error; unreadable, empty or two-word token files are errors naming the file (exporter, fleet, load, rustymemctl)"

# ---- the deployment -------------------------------------------------------------------
start_agent --auth-file "$TMP/agent-auth" --node-name node-a
PIDS+=("$AGENT_PID")
grep -q "auth: 3 rules from $TMP/agent-auth" "$TMP/agent.log" || fail "agent did not load its auth file"
RUSTYMEM_TOKEN=$READER start_exporter good
RUSTYMEM_TOKEN=$READER start_exporter bad --token wrong-token-0123456789abcdef   # the flag beats the environment
start_exporter perm --token "$CLIENT"    # known token, wrong role
grep -q "token: RUSTYMEM_TOKEN" "$TMP/exporter-good.log" || fail "exporter did not take RUSTYMEM_TOKEN"
grep -q "token: --token" "$TMP/exporter-bad.log" || fail "exporter: --token did not beat RUSTYMEM_TOKEN"

rm -f "$TMP/fleet.port"
RUSTYMEM_TOKEN=$ADMIN "$FLEETD" --listen 127.0.0.1:0 --port-file "$TMP/fleet.port" --auth-file "$TMP/fleet-auth" \
  --agents "$ADDR" --poll-ms 200 --rpc-timeout-ms 5000 --no-early-response >"$TMP/fleet.log" 2>&1 &
FLEET_PID=$!
PIDS+=("$FLEET_PID")
wait_file "$TMP/fleet.port" "$FLEET_PID" || fail "rustymem-fleet did not start"
FLEET="127.0.0.1:$(cat "$TMP/fleet.port")"
grep -q "agent token: RUSTYMEM_TOKEN" "$TMP/fleet.log" || fail "fleet did not take RUSTYMEM_TOKEN"

# a real Prometheus scrapes both exporters
start_prometheus <<EOF
global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: rustymem
    static_configs:
      - targets: ['${EXP_good#http://}']
        labels: {exporter: good}
      - targets: ['${EXP_bad#http://}']
        labels: {exporter: bad}
EOF
PIDS+=("$PROM_PID")
wait_prom 'rustymem_up{exporter="good"}' 1 60
wait_prom 'rustymem_scrape_error{exporter="good",code="unauthenticated"}' 0 10
wait_prom 'count(rustymem_memory_rss_bytes{exporter="good"} > 0)' 1 10
pass "Prometheus reads rustymem_up 1 through the exporter with the reader token from RUSTYMEM_TOKEN"

for path in /metrics /api/v1/stats/memory /api/v1/stats/memory/forecast /api/v1/stats/buffer_pool /healthz /readyz; do
  get "$EXP_good$path"
  [ "$CODE" = 200 ] || fail "$path answered $CODE with the reader token: $(head -c 300 "$TMP/body")"
done
pass "every REST path answers 200 with the reader token"

# ---- the wrong token says so ------------------------------------------------------------
wait_prom 'rustymem_up{exporter="bad"}' 0 30
wait_prom 'rustymem_scrape_error{exporter="bad",code="unauthenticated"}' 1 10
wait_prom 'up{exporter="bad"}' 1 10
get "$EXP_bad/readyz"
[ "$CODE" = 503 ] || fail "/readyz with a wrong token answered $CODE"
grep -q "unauthenticated" "$TMP/body" || fail "/readyz body: $(cat "$TMP/body")"
for path in /api/v1/stats/memory /api/v1/stats/memory/forecast /api/v1/stats/buffer_pool; do
  get "$EXP_bad$path"
  [ "$CODE" = 502 ] || fail "$path with a wrong token answered $CODE"
  [ "$(py 'd["grpc_code"], d["error"].split(":")[0]' <"$TMP/body")" = "UNAUTHENTICATED unauthenticated" ] ||
    fail "$path body: $(cat "$TMP/body")"
done
grep -q "WARN  agent $ADDR: unauthenticated: GetMemoryStats refused" "$TMP/exporter-bad.log" ||
  fail "no 'unauthenticated' log line naming the agent: $(cat "$TMP/exporter-bad.log")"
grep -q "agent $ADDR is down" "$TMP/exporter-bad.log" && fail "the exporter calls an agent that refuses it 'down'"
[ "$(grep -c "unauthenticated: GetMemoryStats" "$TMP/exporter-bad.log")" -eq 1 ] || fail "the refusal is logged more than once"
grep -q "AUDIT anonymous /rustymem.v1.MemoryService/GetMemoryStats denied UNAUTHENTICATED: .* peer=ipv4:127.0.0.1:" \
  "$TMP/agent.log" || fail "the agent did not audit the refused call with its peer"
pass "wrong token: rustymem_up 0 and rustymem_scrape_error{code=\"unauthenticated\"} 1 in Prometheus, /readyz 503, REST 502 'unauthenticated', one log line naming the agent, the agent audits the refusal with the peer"

# a token without the reader role: permission denied, said as such
get "$EXP_perm/metrics"
grep -qx 'rustymem_up 0' "$TMP/body" || fail "client-role exporter: rustymem_up not 0"
grep -qx 'rustymem_scrape_error{code="permission_denied"} 1' "$TMP/body" || fail "no permission_denied scrape error"
grep -qx 'rustymem_scrape_error{code="unauthenticated"} 0' "$TMP/body" || fail "permission denied reported as unauthenticated"
get "$EXP_perm/readyz"
[ "$CODE" = 503 ] && grep -q "permission denied" "$TMP/body" || fail "/readyz with a client token: $CODE $(cat "$TMP/body")"
get "$EXP_perm/api/v1/stats/memory"
[ "$CODE" = 502 ] && grep -q '"error":"permission denied' "$TMP/body" || fail "REST with a client token: $CODE $(cat "$TMP/body")"
grep -q "WARN  agent $ADDR: permission denied: GetMemoryStats refused" "$TMP/exporter-perm.log" ||
  fail "no 'permission denied' log line: $(cat "$TMP/exporter-perm.log")"
[ "$(grep -c "refused the exporter" "$TMP/exporter-perm.log")" -eq 1 ] || fail "permission denied logged more than once: $(cat "$TMP/exporter-perm.log")"
pass "a token without the reader role: rustymem_scrape_error{code=\"permission_denied\"} 1, /readyz 503, REST 502 and a log line that say 'permission denied'"

# rustymem-load and rustymemctl take the token from RUSTYMEM_TOKEN too; a flag beats it
RUSTYMEM_TOKEN=$CLIENT expect_exit 0 "$RM_BUILD_DIR/tools/load/rustymem-load" --addr "$ADDR" --sessions 2 --threads 1 \
  --duration 0.5 --json
[ "$(py 'd["sessions_opened"], d["errors_total"], d["transactions"] > 0' <<<"$OUT")" = "2 0 True" ] ||
  fail "rustymem-load with RUSTYMEM_TOKEN: $OUT"
RUSTYMEM_TOKEN=$READER expect_exit 0 "$RUSTYMEMCTL" --addr "$ADDR" stats memory
RUSTYMEM_TOKEN=$READER expect_exit 1 "$RUSTYMEMCTL" --addr "$ADDR" --token "$CLIENT" stats memory
grep -q "PERMISSION_DENIED" <<<"$ERR" || fail "rustymemctl --token did not beat RUSTYMEM_TOKEN: $ERR"
printf '%s\n' "$READER" >"$TMP/reader.token"
RUSTYMEM_TOKEN=$CLIENT expect_exit 0 "$RUSTYMEMCTL" --addr "$ADDR" --token-file "$TMP/reader.token" stats memory
pass "rustymem-load and rustymemctl honour RUSTYMEM_TOKEN; --token and --token-file beat it"

# ---- the fleet sees real levels and rolls out -------------------------------------------
nodes_ok() {
  "$RUSTYMEMCTL" --fleet "$FLEET" --token "$OPS_READER" --output json nodes |
    py 'all(n["reachable"] and n["level"] not in ("PRESSURE_LEVEL_UNSPECIFIED", "") for n in d["nodes"]) and len(d["nodes"]) == 1'
}
for _ in $(seq 1 150); do [ "$(nodes_ok 2>/dev/null)" = True ] && break; sleep 0.2; done
[ "$(nodes_ok)" = True ] || fail "fleet nodes: $("$RUSTYMEMCTL" --fleet "$FLEET" --token "$OPS_READER" --output json nodes)"
pass "the fleet (admin token from RUSTYMEM_TOKEN) shows the node reachable at a real level"

knob() { "$RUSTYMEMCTL" --addr "$ADDR" --token "$READER" --output json knobs get "$1" | py 'd["knobs"][0]["value"]'; }
[ "$(knob pressure.history_size)" != 120 ] || fail "history_size already 120 before the rollout"
printf '%s\n' "$OPS" >"$TMP/ops.token"
expect_exit 0 "$RUSTYMEMCTL" --fleet "$FLEET" --token-file "$TMP/ops.token" --output json \
  fleet rollout oltp mission_critical --canary-wait 0.2
[ "$(py 'd["completed"], d["changed_nodes"]' <<<"$OUT")" = "True ['$ADDR']" ] || fail "rollout: $OUT"
[ "$(knob pressure.history_size)" = 120 ] || fail "the rollout did not change pressure.history_size"
grep -q "AUDIT token:fleet /rustymem.v1.TuningService/ApplyProfile profile oltp/mission_critical peer=ipv4:127.0.0.1:" \
  "$TMP/agent.log" || fail "the agent's audit line lacks the fleet's identity or the peer"
grep -q "AUDIT token:oncall ApplyProfile .* peer=ipv4:127.0.0.1:" "$TMP/fleet.log" || fail "fleet audit lacks identity/peer"
pass "a rollout through the fleet completes and changes the agent's knobs; both audit lines name who and the peer"

# ---- the fleet's admin API is closed ------------------------------------------------------
expect_exit 1 "$RUSTYMEMCTL" --fleet "$FLEET" fleet trigger emergency
grep -q "UNAUTHENTICATED" <<<"$ERR" || fail "anonymous fleet trigger: $ERR"
expect_exit 1 "$RUSTYMEMCTL" --fleet "$FLEET" --token "$OPS_READER" fleet trigger emergency
grep -q "PERMISSION_DENIED" <<<"$ERR" || fail "reader fleet trigger: $ERR"
grep -q "AUDIT anonymous /rustymem.v1.FleetService/TriggerResponse denied UNAUTHENTICATED: .* peer=ipv4:127.0.0.1:" \
  "$TMP/fleet.log" || fail "the fleet did not audit the anonymous trigger"
grep -q "AUDIT token:dashboards /rustymem.v1.FleetService/TriggerResponse denied PERMISSION_DENIED" "$TMP/fleet.log" ||
  fail "the fleet did not audit the reader's trigger"
grep -q "TriggerResponse" "$TMP/agent.log" && fail "a refused fleet trigger reached the agent"
pass "fleet with an auth file: unauthenticated and reader 'fleet trigger' refused, audited with the peer, nothing reached the agent"

# ---- SIGHUP: revocation, and a bad file keeps the rules ----------------------------------
NEW_ADMIN=new-admin-token-after-rotation-01
cat >"$TMP/agent-auth.new" <<EOF
token reader $READER exporter
token admin  $NEW_ADMIN fleet-rotated
EOF
mv "$TMP/agent-auth.new" "$TMP/agent-auth"
kill -HUP "$AGENT_PID"
until_ok 10 grep -q "SIGHUP: auth: 2 rules from $TMP/agent-auth" "$TMP/agent.log" || fail "agent did not reload its auth file"
expect_exit 1 "$RUSTYMEMCTL" --addr "$ADDR" --token "$ADMIN" knobs set pool.min_size=12
grep -q "UNAUTHENTICATED" <<<"$ERR" || fail "revoked admin token still works: $ERR"
expect_exit 0 "$RUSTYMEMCTL" --addr "$ADDR" --token "$NEW_ADMIN" knobs set pool.min_size=12
: >"$TMP/agent-auth"
kill -HUP "$AGENT_PID"
until_ok 10 grep -q "SIGHUP: the auth file was not reloaded, the previous rules stay in force: auth file .* grants nothing" \
  "$TMP/agent.log" || fail "a bad reload was not logged"
expect_exit 0 "$RUSTYMEMCTL" --addr "$ADDR" --token "$NEW_ADMIN" knobs set pool.min_size=13
expect_exit 1 "$RUSTYMEMCTL" --addr "$ADDR" knobs set pool.min_size=14
grep -q "UNAUTHENTICATED" <<<"$ERR" || fail "an empty auth file on reload opened the agent: $ERR"
pass "rustymemd SIGHUP: a revoked admin token is refused, the new one works; an empty file on reload keeps the old rules (logged)"

cat >"$TMP/fleet-auth" <<EOF
token reader $OPS_READER dashboards
EOF
kill -HUP "$FLEET_PID"
until_ok 10 grep -q "SIGHUP: auth: 1 rules from $TMP/fleet-auth" "$TMP/fleet.log" || fail "fleet did not reload"
kill -0 "$FLEET_PID" || fail "rustymem-fleet died on SIGHUP"
expect_exit 1 "$RUSTYMEMCTL" --fleet "$FLEET" --token "$OPS" fleet trigger gentle
grep -q "UNAUTHENTICATED" <<<"$ERR" || fail "revoked fleet admin token still works: $ERR"
expect_exit 0 "$RUSTYMEMCTL" --fleet "$FLEET" --token "$OPS_READER" nodes
pass "rustymem-fleet survives SIGHUP and reloads its auth file: the revoked admin token is refused"

echo "test_deploy_auth: all passed"
