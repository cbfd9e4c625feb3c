# lib.sh — helpers for integration tests that drive real binaries.
# Sourced by tests/integration/test_*.sh. Needs RM_BUILD_DIR (set by CTest).
set -euo pipefail
: "${RM_BUILD_DIR:?RM_BUILD_DIR must point at the build tree}"
RUSTYMEMD="$RM_BUILD_DIR/agents/node/rustymemd"
RUSTYMEMCTL="$RM_BUILD_DIR/cli/rustymemctl"
TMP=$(mktemp -d /tmp/rm-sh-XXXXXX)
AGENT_PID=""

cleanup() {
  if [ -n "$AGENT_PID" ] && kill -0 "$AGENT_PID" 2>/dev/null; then
    kill -TERM "$AGENT_PID" 2>/dev/null || true
    wait "$AGENT_PID" 2>/dev/null || true
  fi
  rm -rf "$TMP"
}
trap cleanup EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }
pass() { echo "ok - $*"; }

# start_agent [extra rustymemd args…] — sets AGENT_PID and ADDR
start_agent() {
  rm -f "$TMP/port"
  "$RUSTYMEMD" --listen 127.0.0.1:0 --port-file "$TMP/port" --data-dir "$TMP/data" "$@" \
    >"$TMP/agent.log" 2>&1 &
  AGENT_PID=$!
  for _ in $(seq 1 200); do
    [ -s "$TMP/port" ] && break
    kill -0 "$AGENT_PID" 2>/dev/null || { cat "$TMP/agent.log" >&2; fail "rustymemd exited at start"; }
    sleep 0.05
  done
  [ -s "$TMP/port" ] || fail "rustymemd did not report its port"
  ADDR="127.0.0.1:$(cat "$TMP/port")"
}

# stop_agent — SIGTERM, expect exit 0
stop_agent() {
  kill -TERM "$AGENT_PID"
  local rc=0
  wait "$AGENT_PID" || rc=$?
  AGENT_PID=""
  [ "$rc" -eq 0 ] || fail "rustymemd exited with $rc after SIGTERM"
}

# expect_exit CODE cmd… — run, check the exit code, keep stdout/stderr in $OUT/$ERR
expect_exit() {
  local want=$1; shift
  local rc=0
  "$@" >"$TMP/out" 2>"$TMP/err" || rc=$?
  OUT=$(cat "$TMP/out"); ERR=$(cat "$TMP/err")
  [ "$rc" -eq "$want" ] || fail "'$*' exited $rc, expected $want; stderr: $ERR"
}

# until_ok SECONDS CMD… — retry every 0.2 s
until_ok() {
  local t=$1; shift
  local end=$((SECONDS + t))
  while ! "$@" >/dev/null 2>&1; do
    [ $SECONDS -lt $end ] || return 1
    sleep 0.2
  done
}

# free_port — an ephemeral TCP port on 127.0.0.1 that was free a moment ago
free_port() {
  /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# start_prometheus — a real Prometheus whose configuration is read from stdin,
# on a free loopback port, with its TSDB and log in $TMP. Sets PROM_PID (the
# caller stops it), PROM_PORT and PROM (its base URL).
start_prometheus() {
  local bin
  bin=$(command -v prometheus || true)
  [ -n "$bin" ] || fail "prometheus is needed: apt-get install prometheus"
  cat >"$TMP/prometheus.yml"
  PROM_PORT=$(free_port)
  "$bin" --config.file="$TMP/prometheus.yml" --storage.tsdb.path="$TMP/tsdb" \
    --web.listen-address="127.0.0.1:$PROM_PORT" >"$TMP/prometheus.log" 2>&1 &
  PROM_PID=$!
  PROM="http://127.0.0.1:$PROM_PORT"
}

# prom_value QUERY — the first result's value, or "" when there is none
prom_value() {
  curl -s --get "$PROM/api/v1/query" --data-urlencode "query=$1" 2>/dev/null |
    /usr/bin/python3 -c 'import json,sys
try:
    r = json.load(sys.stdin)["data"]["result"]
    print(r[0]["value"][1] if r else "")
except Exception:
    print("")'
}

# wait_prom QUERY WANT SECONDS — poll until QUERY's first value is WANT
wait_prom() {
  local v=""
  for _ in $(seq 1 $(($3 * 4))); do
    kill -0 "$PROM_PID" 2>/dev/null || { cat "$TMP/prometheus.log" >&2; fail "prometheus exited"; }
    v=$(prom_value "$1" || true)
    [ "$v" = "$2" ] && return 0
    sleep 0.25
  done
  tail -20 "$TMP/prometheus.log" >&2
  fail "Prometheus query '$1' gave '$v', expected '$2' within $3 s"
}

# sanitizer_runtime LIB — the path of the ASan/TSan runtime LIB links, or "" for a
# plain build. It must come first in LD_PRELOAD when the program that loads LIB
# (python3, sqlite3) is not instrumented. awk reads ldd's whole output: an awk
# that exited at the first match could make ldd die of SIGPIPE, which pipefail
# and set -e turn into a silent exit of the test.
sanitizer_runtime() {
  { ldd "$1" 2>/dev/null || true; } | awk '/lib(a|t)san\.so/ && !found {print $3; found = 1}'
}
