#!/usr/bin/env bash
# test_conn_limits.sh — the listener survives running out of file descriptors,
# server.max_connections refuses excess connections at once, and the systemd
# watchdog gets keep-alives from the serving loop (service/accept_guard.c,
# ADR 0012).
#
# Before the accept guard, one accept4() that failed with EMFILE stopped gRPC
# core's listener for good: with `ulimit -n 128` and 300 connections opened and
# closed, rustymemd stayed alive with its fds back to normal while every new
# connection waited in the backlog until restart.
source "$(dirname "$0")/lib.sh"
ctl() { "$RUSTYMEMCTL" --addr "$ADDR" --timeout 3000 "$@"; }

# flood PORT N — open N connections, hold them 1 s, report how many the server
# closed at once, close them all. Prints "opened N closed M".
flood() {
  /usr/bin/python3 - "$@" <<'EOF'
import socket, sys, time
port, n = int(sys.argv[1]), int(sys.argv[2])
socks = []
for _ in range(n):
    try:
        socks.append(socket.create_connection(("127.0.0.1", port), timeout=2))
    except OSError:
        pass
time.sleep(1)
closed = 0
for s in socks:
    s.setblocking(False)
    try:
        if s.recv(1) == b"":
            closed += 1
    except BlockingIOError:
        pass
    except OSError:
        closed += 1
for s in socks:
    s.close()
print("opened", len(socks), "closed", closed)
EOF
}

fds_of() { ls "/proc/$1/fd" | wc -l; }

# start_limited NOFILE [rustymemd args…] — start_agent under a file limit
start_limited() {
  local nofile=$1; shift
  rm -f "$TMP/port"
  ( ulimit -n "$nofile"
    exec "$RUSTYMEMD" --listen 127.0.0.1:0 --port-file "$TMP/port" --data-dir "$TMP/data" "$@" ) \
    >"$TMP/agent.log" 2>&1 &
  AGENT_PID=$!
  until_ok 10 test -s "$TMP/port" || { cat "$TMP/agent.log" >&2; fail "rustymemd did not start"; }
  ADDR="127.0.0.1:$(cat "$TMP/port")"
}

# 1. EMFILE: a limit above the fd limit, so accept4 itself runs out of fds.
start_limited 128 --set server.max_connections=100000
base=$(fds_of "$AGENT_PID")
out=$(flood "$(cat "$TMP/port")" 300)
echo "# EMFILE flood: $out (fds before: $base)"
set -- $out
[ "$4" -gt 0 ] || fail "no connection was shed at the fd limit: $out"
until_ok 10 ctl health || fail "the listener is wedged after EMFILE: $(tail -3 "$TMP/agent.log")"
grep -q "Failed accept4" "$TMP/agent.log" && fail "gRPC core saw EMFILE: $(grep -m1 'Failed accept4' "$TMP/agent.log")"
settled() { [ "$(fds_of "$AGENT_PID")" -le $((base + 4)) ]; }
until_ok 10 settled || fail "fds did not come back: $(fds_of "$AGENT_PID") (before $base)"
out=$(flood "$(cat "$TMP/port")" 300)   # a second round: the listener is still accepting
until_ok 10 ctl health || fail "the listener is wedged after a second EMFILE round"
pass "the listener keeps accepting after EMFILE (ulimit -n 128, 2 x 300 connections)"

# 2. server.max_connections: the connection over the limit is closed at once; live; bad values refused.
expect_exit 0 ctl knobs set server.max_connections=20
grep -q "server.max_connections: at most 20 connections now" "$TMP/agent.log" || fail "live change not applied"
out=$(flood "$(cat "$TMP/port")" 50)
echo "# limit 20: $out"
set -- $out
[ "$4" -ge 30 ] || fail "connections over server.max_connections were not refused at once: $out"
until_ok 10 ctl health || fail "health after the limited flood"
expect_exit 1 ctl knobs set server.max_connections=-1
echo "$ERR" | grep -q "server.max_connections" || fail "bad value not named: $ERR"
[ "$(ctl --output json knobs get server.max_connections | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["knobs"][0]["value"])')" = 20 ] ||
  fail "a refused value changed the knob"
stop_agent
pass "server.max_connections refuses excess connections at once, live; bad values refused"

# 3. The automatic limit leaves fds for the agent: 128 - max(64, 128/8) = 64.
rm -f "$TMP/data/knobs.auto.ini"   # the persisted limit of 2. would win
start_limited 128
grep -q "at most 64 connections" "$TMP/agent.log" || fail "automatic limit: $(grep -m1 serving "$TMP/agent.log")"
stop_agent
pass "automatic connection limit = fd limit minus a reserve"

# 4. systemd watchdog: WATCHDOG=1 keep-alives at half of WATCHDOG_USEC.
sock="$TMP/notify.sock"
/usr/bin/python3 - "$sock" >"$TMP/notify.out" <<'EOF' &
import socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
s.settimeout(0.5)
end = time.time() + 8
ready = dogs = 0
while time.time() < end and dogs < 4:
    try:
        m = s.recv(4096).decode()
    except socket.timeout:
        continue
    ready += "READY=1" in m
    dogs += "WATCHDOG=1" in m
print(ready, dogs)
EOF
listener=$!
until_ok 5 test -S "$sock" || fail "notify socket"
NOTIFY_SOCKET="$sock" WATCHDOG_USEC=600000 start_agent
wait "$listener"
read -r ready dogs <"$TMP/notify.out"
[ "$ready" -ge 1 ] && [ "$dogs" -ge 4 ] || fail "watchdog keep-alives: READY=$ready WATCHDOG=$dogs"
stop_agent
pass "systemd watchdog keep-alives from the serving loop ($dogs in time)"
echo "test_conn_limits: all passed"
