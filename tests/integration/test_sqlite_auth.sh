#!/usr/bin/env bash
# Auth and audit of the management plane inside a SQLite process (issue 22: "Auth, TLS and audit
# work as in rustymemd", docs/adr/0029): with RUSTYMEM_AUTH_FILE the embedded agent refuses an
# anonymous caller (UNAUTHENTICATED), lets a reader read and not write (PERMISSION_DENIED, audited
# with the principal), lets an admin write (audited); a bad auth file and a non-loopback listen
# without credentials start no agent, with one stderr line naming the variable, while SQLite keeps
# working (the host is never broken by its management plane).
source "$(dirname "$0")/lib.sh"
LIB="$RM_BUILD_DIR/integrations/sqlite/librustymem_sqlite_agent.so"
[ -f "$LIB" ] || fail "librustymem_sqlite_agent.so not built (libsqlite3-dev missing?)"
san_rt=$(sanitizer_runtime "$LIB")
PRELOAD="${san_rt:+$san_rt }$LIB"
py_asan=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0   # CPython's interpreter state (test_sqlite_mgmt.sh)
APP_PID=""
app_cleanup() {
  if [ -n "$APP_PID" ] && kill -0 "$APP_PID" 2>/dev/null; then
    kill -TERM "$APP_PID" 2>/dev/null || true
    wait "$APP_PID" 2>/dev/null || true
  fi
  cleanup
}
trap app_cleanup EXIT

cat >"$TMP/app.py" <<'PY'
import os, sqlite3, sys, time
D = sys.argv[1]
c = sqlite3.connect(os.path.join(D, "a.db"))
c.execute("CREATE TABLE IF NOT EXISTS t(x)")
c.execute("INSERT INTO t VALUES (1)")
c.commit()
print(c.execute("SELECT count(*) FROM t").fetchone()[0], flush=True)
while not os.path.exists(os.path.join(D, "stop")) and "--once" not in sys.argv:
    time.sleep(0.05)
PY

READER=reader-token-0123456789abcdef
ADMIN=admin-token-0123456789abcdef01
printf 'token reader %s dashboards\ntoken admin %s oncall\n' "$READER" "$ADMIN" >"$TMP/auth"
chmod 600 "$TMP/auth"

ASAN_OPTIONS="$py_asan" LD_PRELOAD="$PRELOAD" RUSTYMEM_SQLITE_CACHE_BYTES=2m RUSTYMEM_LISTEN=127.0.0.1:0 \
  RUSTYMEM_PORT_FILE="$TMP/port" RUSTYMEM_AUTH_FILE="$TMP/auth" RUSTYMEM_AUDIT_FILE="$TMP/audit.log" \
  /usr/bin/python3 "$TMP/app.py" "$TMP" >"$TMP/app.out" 2>"$TMP/app.err" &
APP_PID=$!
for _ in $(seq 1 300); do
  [ -s "$TMP/port" ] && break
  kill -0 "$APP_PID" 2>/dev/null || { cat "$TMP/app.err" >&2; fail "python3 exited at start"; }
  sleep 0.05
done
[ -s "$TMP/port" ] || { cat "$TMP/app.err" >&2; fail "the embedded agent did not write its port file"; }
ADDR="127.0.0.1:$(cat "$TMP/port")"
ctl() { "$RUSTYMEMCTL" --addr "$ADDR" "$@"; }

expect_exit 1 ctl stats memory
grep -q UNAUTHENTICATED <<<"$ERR" || fail "anonymous stats memory: $ERR"
expect_exit 0 ctl --token "$READER" stats buffer-pool
expect_exit 1 ctl --token "$READER" knobs set buffer_pool.num_frames=64
grep -q PERMISSION_DENIED <<<"$ERR" || fail "reader knobs set: $ERR"
expect_exit 0 ctl --token "$ADMIN" knobs set buffer_pool.num_frames=64
expect_exit 0 ctl --token "$READER" --output json stats buffer-pool
grep -q '"total_frames": *"\?64' <<<"$OUT" || fail "the admin's num_frames=64 did not take: $OUT"
until_ok 5 grep -q "token:dashboards .*SetKnobs denied PERMISSION_DENIED" "$TMP/audit.log" \
  || { cat "$TMP/audit.log" >&2; fail "the reader's denied SetKnobs is not audited with its principal"; }
grep -q "token:oncall .*buffer_pool.num_frames" "$TMP/audit.log" \
  || { cat "$TMP/audit.log" >&2; fail "the admin's SetKnobs is not audited with its principal"; }
pass "RUSTYMEM_AUTH_FILE: anonymous UNAUTHENTICATED, reader reads but PERMISSION_DENIED on SetKnobs, admin sets; both audited with their principal"
touch "$TMP/stop"
rc=0; wait "$APP_PID" || rc=$?; APP_PID=""
[ $rc -eq 0 ] || { cat "$TMP/app.err" >&2; fail "python3 exited $rc"; }

# no usable credentials: no agent, one line naming the variable, SQLite unharmed
: >"$TMP/empty-auth"; chmod 600 "$TMP/empty-auth"
for case in "RUSTYMEM_AUTH_FILE=$TMP/empty-auth:RUSTYMEM_AUTH_FILE" \
            "RUSTYMEM_AUTH_FILE=$TMP/missing:RUSTYMEM_AUTH_FILE" \
            "RUSTYMEM_LISTEN=0.0.0.0:0:RUSTYMEM_LISTEN"; do
  assign=${case%:*}; name=${case##*:}
  rm -f "$TMP/bad.port"
  listen=RUSTYMEM_LISTEN=127.0.0.1:0
  [ "${assign%%=*}" = RUSTYMEM_LISTEN ] && listen=$assign
  out=$(env ASAN_OPTIONS="$py_asan" LD_PRELOAD="$PRELOAD" "$listen" "$assign" RUSTYMEM_PORT_FILE="$TMP/bad.port" \
        /usr/bin/python3 "$TMP/app.py" "$TMP" --once 2>"$TMP/bad.err") \
    || { cat "$TMP/bad.err" >&2; fail "$assign: SQLite did not keep working"; }
  [ "$out" -ge 1 ] || fail "$assign: the workload's answer is wrong: $out"
  [ ! -s "$TMP/bad.port" ] || fail "$assign: an agent started"
  grep -q "$name" "$TMP/bad.err" || { cat "$TMP/bad.err" >&2; fail "$assign: stderr does not name $name"; }
done
pass "an empty or missing auth file and a non-loopback listen without credentials start no agent, name the variable, and leave SQLite working"
