#!/usr/bin/env bash
# The engine end to end: rustymem-load --profile oltp --sessions 10000 against a
# real rustymemd completes with errors only as reported by code, and rustymemctl
# shows sessions, connections and the plan cache moving; the engine's
# emergency actions (plan-cache clear, admission, txn kill-orphaned) act.
# Abandoned sessions are reaped: a client that fills the session limit and goes
# away locks others out only until session.idle_timeout (issue 17).
source "$(dirname "$0")/lib.sh"
LOAD="$RM_BUILD_DIR/tools/load/rustymem-load"
ctl() { "$RUSTYMEMCTL" --addr "$ADDR" "$@"; }
field() { /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }

expect_exit 0 "$LOAD" --help
grep -q -- "--profile" <<<"$OUT" || fail "--help lacks --profile"
expect_exit 2 "$LOAD" --profile nosuch
grep -q "expected oltp, olap, bulk or mixed" <<<"$ERR" || fail "bad profile: $ERR"
expect_exit 2 "$LOAD" --sessions 0
expect_exit 1 "$LOAD" --addr 127.0.0.1:1 --sessions 2 --duration 1 --timeout-ms 500
grep -q "no session could be opened" <<<"$ERR" || fail "unreachable agent: $ERR"
pass "rustymem-load: --help, usage errors exit 2, unreachable agent exits 1"

start_agent
"$LOAD" --addr "$ADDR" --profile oltp --sessions 10000 --threads 8 --duration 6 --json \
  >"$TMP/load.json" 2>"$TMP/load.err" &
LOAD_PID=$!
for _ in $(seq 1 200); do
  s=$(ctl --output json stats engine | field sessions)
  [ "$s" -ge 10000 ] && break
  sleep 0.1
done
[ "$s" -ge 10000 ] || fail "sessions did not reach 10000: $s"
expect_exit 1 "$LOAD" --addr "$ADDR" --sessions 1 --duration 0.2
grep -q "RESOURCE_EXHAUSTED" <<<"$ERR" || fail "session 10001: $ERR"
pass "the 10001st session is refused with RESOURCE_EXHAUSTED"
ctl --output json stats engine >"$TMP/s1.json"
sleep 1.5
ctl --output json stats engine >"$TMP/s2.json"
/usr/bin/python3 - "$TMP/s1.json" "$TMP/s2.json" <<'PY' || fail "stats engine did not move: $(cat "$TMP/s2.json")"
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:])
assert b["sessions"] == 10000, b["sessions"]
assert b["connections_open"] >= 1 and b["connections_open"] <= 1000, b
assert b["bytes_per_session"] > 0 and b["bytes_per_connection"] > 0, b
assert b["plan_cache_plans"] > 0, b
assert b["plan_cache_hits_total"] > a["plan_cache_hits_total"], (a["plan_cache_hits_total"], b["plan_cache_hits_total"])
assert b["mvcc_commits_total"] > a["mvcc_commits_total"], b
assert b["transactions_committed_total"] > a["transactions_committed_total"]
PY
pass "stats engine: 10000 sessions on <= 1000 connections, plan cache and commits moving"
ctl stats memory >"$TMP/mem.txt"
for c in session pool mvcc plan_cache engine; do
  grep -q "^  $c " "$TMP/mem.txt" || fail "component $c missing from stats memory: $(cat "$TMP/mem.txt")"
done
pass "stats memory lists session, pool, mvcc, plan_cache and engine components"
wait "$LOAD_PID" || fail "rustymem-load exited $?: $(cat "$TMP/load.err")"
/usr/bin/python3 - "$TMP/load.json" <<'PY' || fail "load summary: $(cat "$TMP/load.json")"
import json, sys
r = json.load(open(sys.argv[1]))
assert r["sessions_opened"] == 10000, r
assert r["transactions"] > 0 and r["tps"] > 0, r
assert r["latency_ms"]["p99"] >= r["latency_ms"]["p50"] > 0, r
assert set(r["errors"]) <= {"ABORTED"}, r["errors"]    # conflicts, reported by code
assert r["errors_total"] == sum(r["errors"].values())
PY
grep -q "tx/s" "$TMP/load.err" || fail "no progress lines"
pass "rustymem-load --profile oltp --sessions 10000 completed; errors only by code"

for p in olap bulk mixed; do
  expect_exit 0 "$LOAD" --addr "$ADDR" --profile "$p" --sessions 50 --threads 4 --duration 1 --json
  [ "$(field transactions <<<"$OUT")" -gt 0 ] || fail "$p: no transactions: $OUT"
done
pass "olap, bulk and mixed profiles run"

expect_exit 0 ctl --output json txn list
expect_exit 0 ctl --output json plan-cache clear
[ "$(ctl --output json stats engine | field plan_cache_plans)" -eq 0 ] || fail "plan cache not cleared"
expect_exit 2 ctl plan-cache clear --fraction x
expect_exit 1 ctl plan-cache clear --fraction 2
grep -q "INVALID_ARGUMENT" <<<"$ERR" || fail "fraction 2: $ERR"
pass "plan-cache clear empties the cache; a bad fraction is refused"

expect_exit 0 ctl admission off
expect_exit 1 "$LOAD" --addr "$ADDR" --sessions 3 --duration 1
grep -q "RESOURCE_EXHAUSTED" <<<"$ERR" || fail "admission off: $ERR"
expect_exit 0 ctl admission on
expect_exit 0 "$LOAD" --addr "$ADDR" --sessions 3 --duration 0.5
pass "admission off rejects new sessions with RESOURCE_EXHAUSTED; on lets them in"

expect_exit 0 ctl --output json txn kill-orphaned
grep -q '"action": "kill_orphaned_transactions"' <<<"$OUT" || fail "kill-orphaned: $OUT"
expect_exit 0 ctl --output json queries kill --older-than 30
expect_exit 2 ctl queries kill
pass "txn kill-orphaned and queries kill answer"
stop_agent

# One client opens every session the server allows and abandons them (the
# issue 17 lock-out); with session.idle_timeout=2 they are closed and another
# client gets in within seconds. The knob is live.
rm -rf "$TMP/data"
start_agent --set session.idle_timeout=2 --set session.max_sessions=2000
expect_exit 0 "$LOAD" --addr "$ADDR" --profile oltp --sessions 2000 --threads 4 --duration 0.3 --keep-sessions
[ "$(ctl --output json stats engine | field sessions)" -eq 2000 ] || fail "the load did not keep 2000 sessions"
expect_exit 1 "$LOAD" --addr "$ADDR" --sessions 1 --duration 0.2
grep -q "RESOURCE_EXHAUSTED" <<<"$ERR" || fail "session 2001: $ERR"
t0=$(date +%s.%N)
until_ok 30 "$LOAD" --addr "$ADDR" --sessions 1 --duration 0.2 || fail "abandoned sessions were not reaped in 30 s"
t1=$(date +%s.%N)
# the reaper closes the rest within the same bound (it had only to free one slot for the load above)
reaped_all() { [ "$(ctl --output json stats engine | field sessions)" -le 1 ]; }
until_ok 30 reaped_all || fail "sessions left: $(ctl --output json stats engine)"
pass "2000 abandoned sessions reaped ($(/usr/bin/python3 -c "print(f'{$t1-$t0:.1f}')") s after the lock-out was seen; session.idle_timeout=2), a new client gets in"
expect_exit 0 ctl knobs set session.idle_timeout=0
expect_exit 0 "$LOAD" --addr "$ADDR" --sessions 50 --threads 2 --duration 0.2 --keep-sessions
sleep 3.5   # proving an absence: longer than the old timeout plus the 1 s check
[ "$(ctl --output json stats engine | field sessions)" -eq 50 ] || fail "idle_timeout=0 still reaped"
expect_exit 0 ctl knobs set session.idle_timeout=1
no_sessions() { [ "$(ctl --output json stats engine | field sessions)" -eq 0 ]; }
until_ok 30 no_sessions || fail "idle_timeout=1 set live did not reap"
pass "session.idle_timeout is live: 0 keeps idle sessions, 1 reaps them"
stop_agent
echo "test_sessions: all passed"
