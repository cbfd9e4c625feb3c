#!/usr/bin/env bash
# Control bytes in what a daemon logs are escaped (\xNN), in every daemon:
# rustymemd, rustymem-fleet and rustymem-exporter share one logger
# (agents/common/log.c). A file name, a node name or an option that carries a
# newline or an ESC sequence must not forge a second log line or drive the
# operator's terminal. Each case logs a value holding "\n" and "\x1b[2J" (or
# "\x1b[31m") and checks the escaped form is there and no raw byte is.
source "$(dirname "$0")/lib.sh"
FLEETD="$RM_BUILD_DIR/agents/fleet/rustymem-fleet"
EXPORTER="$RM_BUILD_DIR/agents/exporter/rustymem-exporter"
PIDS=()
stop_all() {
  for p in "${PIDS[@]}"; do
    if kill -0 "$p" 2>/dev/null; then kill -TERM "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; fi
  done
  cleanup
}
trap stop_all EXIT

# A name with a newline and a terminal escape in it.
EVIL=$'e\nvil\033[2J'
SHOWN='e\x0avil\x1b[2J'

# no_raw_bytes LOG — no control byte other than the line ends, no ESC at all
no_raw_bytes() {
  [ "$(LC_ALL=C tr -d '\n' <"$1" | LC_ALL=C tr -d '[:print:]' | wc -c)" -eq 0 ] ||
    fail "raw control bytes in $1: $(LC_ALL=C grep -n "$(printf '\033')" "$1" | od -c | head -5)"
}

# wait_file FILE PID LOG — until FILE is non-empty (the daemon wrote its port)
wait_file() {
  for _ in $(seq 1 600); do
    [ -s "$1" ] && return 0
    kill -0 "$2" 2>/dev/null || { cat "$3" >&2; fail "$(basename "$3" .log) exited at start"; }
    sleep 0.05
  done
  fail "no port file $1 after 30 s"
}

# stop_pid PID NAME — SIGTERM, expect exit 0
stop_pid() {
  local rc=0
  kill -TERM "$1"
  wait "$1" || rc=$?
  [ "$rc" -eq 0 ] || fail "$2 exited with $rc after SIGTERM"
}

AUTH="$TMP/$EVIL.auth"
printf 'token admin s3cret-admin-token ops\n' >"$AUTH"
chmod 600 "$AUTH"

# --- rustymemd: the auth file's name in "auth: N rules from FILE" ---
start_agent --auth-file "$AUTH"
grep -qF "auth: 1 rules from $TMP/$SHOWN.auth" "$TMP/agent.log" ||
  fail "rustymemd: escaped auth file name not logged: $(od -c "$TMP/agent.log" | head -8)"
stop_agent
no_raw_bytes "$TMP/agent.log"
pass "rustymemd escapes control bytes in logged values"

# --- rustymem-fleet: the auth file's name, and a node name from --agents-file ---
printf '%s 127.0.0.1:1\n' "n$(printf '\033')[31mred" >"$TMP/agents"
"$FLEETD" --listen 127.0.0.1:0 --port-file "$TMP/fport" --agents-file "$TMP/agents" --auth-file "$AUTH" \
  --token fleet-token >"$TMP/fleet.log" 2>&1 &
FLEET_PID=$!
PIDS+=("$FLEET_PID")
wait_file "$TMP/fport" "$FLEET_PID" "$TMP/fleet.log"
grep -qF "auth: 1 rules from $TMP/$SHOWN.auth" "$TMP/fleet.log" ||
  fail "rustymem-fleet: escaped auth file name not logged: $(od -c "$TMP/fleet.log" | head -8)"
until_ok 30 grep -qF 'node n\x1b[31mred (127.0.0.1:1)' "$TMP/fleet.log" ||
  fail "rustymem-fleet: escaped node name not logged: $(od -c "$TMP/fleet.log" | head -8)"
stop_pid "$FLEET_PID" rustymem-fleet
no_raw_bytes "$TMP/fleet.log"
pass "rustymem-fleet escapes control bytes in logged values (its own lines and the fleet library's)"

# --- rustymem-exporter: the token file's name in the start-up line ---
TOKF="$TMP/$EVIL.token"
printf 'reader-token\n' >"$TOKF"
chmod 600 "$TOKF"
"$EXPORTER" --agent 127.0.0.1:1 --listen 127.0.0.1:0 --port-file "$TMP/eport" --token-file "$TOKF" \
  >"$TMP/exporter.log" 2>&1 &
EXP_PID=$!
PIDS+=("$EXP_PID")
wait_file "$TMP/eport" "$EXP_PID" "$TMP/exporter.log"
grep -qF "(token: --token-file $TMP/$SHOWN.token)" "$TMP/exporter.log" ||
  fail "rustymem-exporter: escaped token file name not logged: $(od -c "$TMP/exporter.log" | head -8)"
stop_pid "$EXP_PID" rustymem-exporter
no_raw_bytes "$TMP/exporter.log"
pass "rustymem-exporter escapes control bytes in logged values"

# --- usage errors quote argv: one line, escaped, exit 2, in each daemon ---
for d in "$RUSTYMEMD" "$FLEETD" "$EXPORTER"; do
  expect_exit 2 "$d" "--bo${EVIL}gus"
  [ "$(wc -l <"$TMP/err")" -eq 1 ] || fail "$(basename "$d"): usage error is not one line: $ERR"
  grep -qF "unknown option --boe\\x0avil\\x1b[2Jgus" "$TMP/err" || fail "$(basename "$d"): not escaped: $ERR"
  no_raw_bytes "$TMP/err"
done
pass "usage errors quoting control bytes are one escaped line, exit 2"
echo "test_log_escape: all passed"
