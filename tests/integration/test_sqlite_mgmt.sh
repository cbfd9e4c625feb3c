#!/usr/bin/env bash
# The management plane inside a SQLite process (issue 22, docs/adr/0029):
# /usr/bin/python3 runs a SQLite workload (four connections, a database of
# ~24 MiB over a 4 MiB page-cache budget) with LD_PRELOAD=librustymem_sqlite_agent.so
# and RUSTYMEM_LISTEN; from outside, rustymemctl and rustymem-exporter drive it:
#   stats buffer-pool       hits move between two reads while the workload runs
#   knobs set buffer_pool.num_frames=64
#                           the page cache shrinks live: used_frames <= 64 and
#                           sqlite3_db_status(CACHE_USED) inside the process agrees
#   queries kill --older-than 1s
#                           a deliberately endless query gets
#                           sqlite3.OperationalError: interrupted (quick ones are left alone)
#   admission off / on      a new sqlite3.connect fails while existing connections work
#   response trigger emergency
#                           frees page-cache bytes and records a reclaim event
#   the exporter            scrapes the process: rustymem_up 1
#   exit                    the process exits 0 with the agent running
source "$(dirname "$0")/lib.sh"
PRELOAD="$RM_BUILD_DIR/integrations/sqlite/librustymem_sqlite_agent.so"
# A sanitizer build of the adapter links libasan/libtsan, whose runtime must come first in
# LD_PRELOAD when the program itself (python3, sqlite3) is not instrumented.
san_rt=$(sanitizer_runtime "$PRELOAD")
PRELOAD="${san_rt:+$san_rt }$PRELOAD"
EXPORTER="$RM_BUILD_DIR/agents/exporter/rustymem-exporter"
[ -f "$RM_BUILD_DIR/integrations/sqlite/librustymem_sqlite_agent.so" ] || fail "librustymem_sqlite_agent.so not built (libsqlite3-dev missing?)"
command -v curl >/dev/null || fail "curl is needed"
APP_PID=""
EXP_PID=""
app_cleanup() {
  for pid in "$EXP_PID" "$APP_PID"; do
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
      kill -TERM "$pid" 2>/dev/null || true
      wait "$pid" 2>/dev/null || true
    fi
  done
  cleanup
}
trap app_cleanup EXIT

cat >"$TMP/app.py" <<'PY'
import ctypes, os, random, sqlite3, sys, threading, time
D = sys.argv[1]
db = os.path.join(D, "app.db")
c = sqlite3.connect(db)
c.execute("PRAGMA journal_mode=WAL")
c.execute("CREATE TABLE IF NOT EXISTS t(id INTEGER PRIMARY KEY, v BLOB)")
c.executemany("INSERT INTO t(v) VALUES (randomblob(1000))", [()] * 24000)
c.commit()
c.close()
stop = threading.Event()
def log(msg):
    with open(os.path.join(D, "app.log"), "a") as f:
        f.write(msg + "\n")
def reader():
    k = sqlite3.connect(db, check_same_thread=False)
    while not stop.is_set():
        for _ in range(200):
            k.execute("SELECT length(v) FROM t WHERE id = ?", (random.randint(1, 24000),)).fetchone()
        time.sleep(0.01)
    k.close()
# one connection through libsqlite3 itself, to read sqlite3_db_status(SQLITE_DBSTATUS_CACHE_USED)
lib = ctypes.CDLL("libsqlite3.so.0")
h = ctypes.c_void_p()
assert lib.sqlite3_open_v2(db.encode(), ctypes.byref(h), 0x2 | 0x8000, None) == 0   # READWRITE | FULLMUTEX
def scanner():
    cur, hi = ctypes.c_int(), ctypes.c_int()
    while not stop.is_set():
        lib.sqlite3_exec(h, b"SELECT sum(length(v)) FROM t", None, None, None)
        lib.sqlite3_db_status(h, 1, ctypes.byref(cur), ctypes.byref(hi), 0)   # SQLITE_DBSTATUS_CACHE_USED
        with open(os.path.join(D, "cache_used.tmp"), "w") as f:
            f.write("%d\n" % cur.value)
        os.rename(os.path.join(D, "cache_used.tmp"), os.path.join(D, "cache_used"))
        time.sleep(0.05)
ts = [threading.Thread(target=reader) for _ in range(3)] + [threading.Thread(target=scanner)]
for t in ts:
    t.start()
log("ready")
while True:
    time.sleep(0.05)
    for cmd in ("long", "connect", "stop"):
        p = os.path.join(D, "cmd." + cmd)
        if not os.path.exists(p):
            continue
        os.unlink(p)
        if cmd == "long":
            def longq():
                k = sqlite3.connect(db)
                log("long: started")
                try:
                    k.execute("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) "
                              "SELECT count(*) FROM c WHERE x < 0").fetchone()
                    log("long: finished")
                except sqlite3.OperationalError as e:
                    log("long: OperationalError: %s" % e)
                k.close()
            threading.Thread(target=longq).start()
        elif cmd == "connect":
            try:
                k = sqlite3.connect(db)
                k.execute("SELECT 1").fetchone()
                k.close()
                log("connect: ok")
            except sqlite3.Error as e:
                log("connect: %s: %s" % (type(e).__name__, e))
        elif cmd == "stop":
            stop.set()
            for t in ts:
                t.join()
            lib.sqlite3_close(h)
            log("stopped")
            sys.exit(0)
PY

waitlog() {   # waitlog PATTERN SECONDS
  local end=$((SECONDS + $2))
  until grep -q -- "$1" "$TMP/app.log" 2>/dev/null; do
    [ $SECONDS -lt $end ] || { cat "$TMP/app.log" "$TMP/app.err" >&2 || true; fail "app never logged '$1'"; }
    kill -0 "$APP_PID" 2>/dev/null || { cat "$TMP/app.err" >&2; fail "the app died"; }
    sleep 0.1
  done
}
jget() { /usr/bin/python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }
ctl() { "$RUSTYMEMCTL" --addr "$ADDR" "$@"; }

# Under ASan, LeakSanitizer would report CPython's own interpreter state, which CPython never frees
# at exit (every frame in python3.11): leaks are checked off here and on the sqlite3 CLI, which exits
# with the embedded agent serving, in test_sqlite_seed_sql.sh.
py_asan=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0
ASAN_OPTIONS="$py_asan" LD_PRELOAD="$PRELOAD" RUSTYMEM_SQLITE_CACHE_BYTES=4m RUSTYMEM_LISTEN=127.0.0.1:0 \
  RUSTYMEM_PORT_FILE="$TMP/port" RUSTYMEM_AUDIT_FILE="$TMP/audit.log" \
  /usr/bin/python3 "$TMP/app.py" "$TMP" >"$TMP/app.out" 2>"$TMP/app.err" &
APP_PID=$!
for _ in $(seq 1 300); do
  [ -s "$TMP/port" ] && break
  kill -0 "$APP_PID" 2>/dev/null || { cat "$TMP/app.err" >&2; fail "python3 exited at start"; }
  sleep 0.05
done
[ -s "$TMP/port" ] || fail "the embedded agent did not write its port file"
ADDR="127.0.0.1:$(cat "$TMP/port")"
waitlog ready 120
expect_exit 0 ctl health
[ "$OUT" = SERVING ] || fail "health: $OUT"
pass "the SQLite process serves Health on $ADDR"

# 1. a moving hit ratio
expect_exit 0 ctl --output json stats buffer-pool
h1=$(echo "$OUT" | jget '["hits_total"]'); t1=$(echo "$OUT" | jget '["total_frames"]')
sleep 1
expect_exit 0 ctl --output json stats buffer-pool
h2=$(echo "$OUT" | jget '["hits_total"]'); r2=$(echo "$OUT" | jget '["hit_ratio"]')
[ "$h2" -gt "$h1" ] || fail "hits_total did not move: $h1 -> $h2"
[ "$t1" -gt 500 ] || fail "total_frames $t1: expected about 4 MiB / 4.3 KiB"
pass "stats buffer-pool moves: hits $h1 -> $h2, hit ratio $r2, $t1 frames"

# 2. the page cache shrinks live, and sqlite3_db_status agrees
cu0=$(cat "$TMP/cache_used")
expect_exit 0 ctl knobs set buffer_pool.num_frames=64
expect_exit 0 ctl --output json stats buffer-pool
t=$(echo "$OUT" | jget '["total_frames"]'); u=$(echo "$OUT" | jget '["used_frames"]')
p=$(echo "$OUT" | jget '["pinned_frames"]')
[ "$t" -eq 64 ] || fail "total_frames $t after num_frames=64"
[ "$u" -le $((64 + p)) ] || fail "used_frames $u > 64 + $p pinned"
# per page: 4096 B + SQLite's extra and header (< 512 B); 64 KiB slack for the pager
bound=$((64 * 4608 + 65536))
ok=0
for _ in $(seq 1 100); do
  cu=$(cat "$TMP/cache_used")
  [ "$cu" -le "$bound" ] && { ok=1; break; }
  sleep 0.1
done
[ $ok = 1 ] || fail "sqlite3_db_status(CACHE_USED) $cu B > $bound B after num_frames=64 (was $cu0 B)"
[ "$cu0" -gt "$bound" ] || fail "CACHE_USED was $cu0 B before the shrink: the test proves nothing"
pass "num_frames=64: total_frames 64, used $u; CACHE_USED inside $cu0 -> $cu B"
expect_exit 1 ctl knobs set buffer_pool.num_frames=3
echo "$ERR" | grep -q "buffer_pool.num_frames" || fail "a bad num_frames did not name the knob: $ERR"
pass "num_frames=3 refused naming the knob"

# knobs that act here: the pressure monitor follows pressure.* live (GetForecast's horizons show it);
# knobs of parts this process does not host are refused, naming the knob, and change nothing
expect_exit 0 ctl --output json forecast
h0=$(echo "$OUT" | jget '["horizons"].__len__()')
expect_exit 0 ctl knobs set pressure.forecast_horizons=20,40,80,160
h1=0
for _ in $(seq 1 50); do     # the next sampler tick forecasts at the new horizons
  expect_exit 0 ctl --output json forecast
  h1=$(echo "$OUT" | jget '["horizons"].__len__()')
  [ "$h1" -eq 4 ] && break
  sleep 0.1
done
[ "$h1" -eq 4 ] || fail "pressure.forecast_horizons=20,40,80,160 not followed by the monitor: $h1 horizons (was $h0)"
expect_exit 1 ctl knobs set slab.lock_entry_magazine=256
echo "$ERR" | grep -q "slab.lock_entry_magazine" || fail "an inert knob was not refused naming it: $ERR"
echo "$ERR" | grep -q "no effect in a SQLite process" || fail "the refusal does not say why: $ERR"
expect_exit 0 ctl --output json knobs get slab.lock_entry_magazine
echo "$OUT" | grep -q '"value": *"128"' || fail "a refused knob changed: $OUT"
pass "pressure.forecast_horizons followed live ($h0 -> $h1 horizons); slab.* refused as inert, unchanged"

# 3. queries kill: the endless query is interrupted, the quick ones are not
touch "$TMP/cmd.long"
waitlog "long: started" 30
sleep 1.2
killed=0
for _ in $(seq 1 50); do
  expect_exit 0 ctl --output json queries kill --older-than 1s
  killed=$(echo "$OUT" | jget '["queries_killed"]')
  [ "$killed" -ge 1 ] && break
  sleep 0.2
done
[ "$killed" -ge 1 ] || fail "queries kill found no query older than 1 s"
waitlog "long: OperationalError: interrupted" 30
kill -0 "$APP_PID" || fail "the app died after the kill"
pass "queries kill --older-than 1s: $killed interrupted, Python got OperationalError: interrupted"

# 4. admission off: a new connection is refused, the old ones work; on again
expect_exit 0 ctl admission off
touch "$TMP/cmd.connect"
waitlog "connect: OperationalError" 30
expect_exit 0 ctl --output json stats buffer-pool
h3=$(echo "$OUT" | jget '["hits_total"]')
sleep 0.5
expect_exit 0 ctl --output json stats buffer-pool
[ "$(echo "$OUT" | jget '["hits_total"]')" -gt "$h3" ] || fail "existing connections stopped with admission off"
expect_exit 0 ctl admission on
touch "$TMP/cmd.connect"
waitlog "connect: ok" 30
pass "admission off refuses sqlite3.connect ($(grep -m1 'connect: OperationalError' "$TMP/app.log")), on admits again"

# 5. the graduated response at Emergency frees page-cache memory and records it
expect_exit 0 ctl knobs set buffer_pool.num_frames=0
sleep 1
expect_exit 0 ctl --output json response trigger emergency
freed=$(echo "$OUT" | jget '["bytes_freed"]')
[ "$freed" -gt 0 ] || fail "response trigger emergency freed nothing: $OUT"
expect_exit 0 ctl --output json events
echo "$OUT" | grep -q sqlite_page_cache || fail "no sqlite_page_cache reclaim event: $OUT"
grep -q "TriggerResponse" "$TMP/audit.log" || fail "TriggerResponse not audited"
pass "response trigger emergency freed $freed B; event and audit line recorded"

# 6. the exporter scrapes the SQLite process
"$EXPORTER" --agent "$ADDR" --listen 127.0.0.1:0 --port-file "$TMP/exp.port" --timeout 2000 \
  >"$TMP/exporter.log" 2>&1 &
EXP_PID=$!
for _ in $(seq 1 200); do [ -s "$TMP/exp.port" ] && break; sleep 0.05; done
[ -s "$TMP/exp.port" ] || fail "rustymem-exporter did not report its port"
up=0
for _ in $(seq 1 100); do   # the exporter's first poll of the agent may not have happened yet
  metrics=$(curl -s "http://127.0.0.1:$(cat "$TMP/exp.port")/metrics" || true)
  echo "$metrics" | grep -q '^rustymem_up 1' && { up=1; break; }
  sleep 0.2
done
[ $up = 1 ] || { echo "$metrics" | grep -E '^rustymem_(up|scrape)' >&2; cat "$TMP/exporter.log" >&2; fail "rustymem_up is not 1"; }
kill -TERM "$EXP_PID"; wait "$EXP_PID" || true; EXP_PID=""
pass "rustymem-exporter scrapes the SQLite process: rustymem_up 1"

# 7. the fleet controller lists the SQLite process beside a rustymemd
SQLITE_ADDR=$ADDR
start_agent
NODE_ADDR=$ADDR
ADDR=$SQLITE_ADDR
printf 'sqliteapp %s\nrustymemd %s\n' "$SQLITE_ADDR" "$NODE_ADDR" >"$TMP/agents.txt"
"$RM_BUILD_DIR/agents/fleet/rustymem-fleet" --listen 127.0.0.1:0 --port-file "$TMP/fleet.port" \
  --agents-file "$TMP/agents.txt" --poll-ms 200 >"$TMP/fleet.log" 2>&1 &
FLEET_PID=$!
for _ in $(seq 1 200); do [ -s "$TMP/fleet.port" ] && break; sleep 0.05; done
[ -s "$TMP/fleet.port" ] || { cat "$TMP/fleet.log" >&2; fail "rustymem-fleet did not report its port"; }
listed=0
for _ in $(seq 1 100); do
  nodes=$("$RUSTYMEMCTL" --fleet "127.0.0.1:$(cat "$TMP/fleet.port")" --output json nodes 2>/dev/null || true)
  if echo "$nodes" | /usr/bin/python3 -c '
import json, sys
d = json.load(sys.stdin)
ns = {n.get("name"): n for n in d.get("nodes", [])}
ok = all(k in ns and ns[k].get("reachable") for k in ("sqliteapp", "rustymemd"))
sys.exit(0 if ok else 1)' 2>/dev/null; then listed=1; break; fi
  sleep 0.2
done
kill -TERM "$FLEET_PID"; wait "$FLEET_PID" || true
[ $listed = 1 ] || { echo "$nodes" >&2; fail "the fleet does not list both nodes reachable"; }
stop_agent
pass "rustymem-fleet lists the SQLite process beside a rustymemd, both reachable"

# 8. a clean exit with the agent running
touch "$TMP/cmd.stop"
rc=0
wait "$APP_PID" || rc=$?
APP_PID=""
[ $rc -eq 0 ] || { cat "$TMP/app.err" >&2; fail "python3 exited $rc"; }
pass "python3 exits 0 with the embedded agent serving"
