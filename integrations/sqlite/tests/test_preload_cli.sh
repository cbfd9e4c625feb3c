#!/usr/bin/env bash
# test_preload_cli.sh LIB — the LD_PRELOAD way in on the sqlite3 CLI (a binary
# we did not build): with good RUSTYMEM_SQLITE_* values the adapter serves the
# CLI (its stats line shows page fetches and allocations) and the answers are
# those of SQLite's defaults; with a bad value, or with both parts off, the CLI
# runs on SQLite's defaults and a bad value gives exactly one stderr line that
# names the variable. The plain preload (librustymem_sqlite.so) links no gRPC
# and says in one line that RUSTYMEM_LISTEN needs librustymem_sqlite_agent.so.
set -uo pipefail
LIB=${1:?usage: test_preload_cli.sh LIB}
# A sanitizer build of the adapter links libasan/libtsan, whose runtime must
# come first in LD_PRELOAD when the program itself is not instrumented.
san_rt=$(ldd "$LIB" 2>/dev/null | awk '/lib(a|t)san\.so/ {print $3; exit}')
PRELOAD="${san_rt:+$san_rt }$LIB"
if ! command -v sqlite3 >/dev/null; then
  if [[ $(id -u) == 0 ]]; then DEBIAN_FRONTEND=noninteractive apt-get install -y -qq sqlite3 >/dev/null 2>&1; fi
  command -v sqlite3 >/dev/null || { echo "SKIP: the sqlite3 CLI (Debian package sqlite3) cannot be installed"; exit 0; }
fi
W=$(mktemp -d /tmp/rm-sqlite-cli-XXXXXX)
trap 'rm -rf "$W"' EXIT
SQL="PRAGMA cache_size=20; CREATE TABLE t(a INTEGER PRIMARY KEY, b);
WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM s WHERE i<5000) INSERT INTO t SELECT i, printf('%0100d', i*i) FROM s;
CREATE INDEX tb ON t(b); SELECT count(*), sum(a), max(b) FROM t; PRAGMA integrity_check;"
fail=0
expect=$(sqlite3 "$W/base.db" "$SQL" 2>&1)
# 1. good values: installed, same answers
got=$(RUSTYMEM_SQLITE_STATS="$W/ok.stats" RUSTYMEM_SQLITE_CACHE_BYTES=1m LD_PRELOAD="$PRELOAD" sqlite3 "$W/ok.db" "$SQL" 2>"$W/ok.err")
if [[ $got != "$expect" ]]; then echo "FAIL: answers differ under the preload"; diff <(echo "$expect") <(echo "$got"); fail=1; fi
if [[ -s $W/ok.err ]]; then echo "FAIL: stderr under the preload: $(head -2 "$W/ok.err")"; fail=1; fi
if ! grep -q '"pcache":1,"malloc":1' "$W/ok.stats" 2>/dev/null || grep -q '"hits":0,"misses":0' "$W/ok.stats"; then
  echo "FAIL: the adapter did not serve the CLI: $(cat "$W/ok.stats" 2>/dev/null)"; fail=1
fi
grep -q '"budget_bytes":1048576' "$W/ok.stats" || { echo "FAIL: RUSTYMEM_SQLITE_CACHE_BYTES=1m not applied"; fail=1; }
# 2. bad values: one line naming the variable, nothing installed, same answers
for bad in RUSTYMEM_SQLITE_CACHE_BYTES=12q RUSTYMEM_SQLITE_PCACHE=2 RUSTYMEM_SQLITE_MALLOC=yes \
           RUSTYMEM_SQLITE_LARGE_THRESHOLD=1k RUSTYMEM_SQLITE_MEMDB_BYTES=0 RUSTYMEM_SQLITE_TRACE=; do
  name=${bad%%=*}
  rm -f "$W/bad.db" "$W/bad.stats"
  got=$(env "$bad" RUSTYMEM_SQLITE_STATS="$W/bad.stats" LD_PRELOAD="$PRELOAD" sqlite3 "$W/bad.db" "$SQL" 2>"$W/bad.err")
  lines=$(wc -l <"$W/bad.err")
  if [[ $lines != 1 ]] || ! grep -q "^rustymem-sqlite: .*$name" "$W/bad.err"; then
    echo "FAIL: $bad: expected one stderr line naming $name, got $lines: $(head -3 "$W/bad.err")"; fail=1
  fi
  if [[ $got != "$expect" ]]; then echo "FAIL: $bad: answers differ"; fail=1; fi
  if [[ -e $W/bad.stats ]]; then echo "FAIL: $bad: something was installed"; fail=1; fi
done
echo "bad value line: $(cat "$W/bad.err")"
# 3. both parts off: nothing installed, silent
rm -f "$W/off.stats"
got=$(RUSTYMEM_SQLITE_PCACHE=0 RUSTYMEM_SQLITE_MALLOC=0 RUSTYMEM_SQLITE_STATS="$W/off.stats" LD_PRELOAD="$PRELOAD" sqlite3 "$W/off.db" "$SQL" 2>"$W/off.err")
if [[ $got != "$expect" || -s $W/off.err ]]; then echo "FAIL: both parts off: answers or stderr differ"; fail=1; fi
# 4. the plain preload carries no gRPC (ADR 0023: ~9 MiB resident in every
# process): no gRPC, absl, OpenSSL among all its dependencies and no libstdc++
# among its own (a sanitizer build's runtime, libasan/libtsan, brings libstdc++
# itself); RUSTYMEM_LISTEN gets one line naming the agent's library, and the
# adapter still serves
if [[ $(basename "$LIB") == librustymem_sqlite.so ]]; then
  deps=$(ldd "$LIB" 2>&1)
  needed=$(readelf -d "$LIB" 2>&1 | grep NEEDED || true)
  if grep -Eq 'libgrpc|libgpr|libabsl|libssl|libcrypto' <<<"$deps" || grep -q 'libstdc++' <<<"$needed"; then
    echo "FAIL: $LIB loads the gRPC stack: $(grep -Eo 'lib(grpc|gpr|absl|ssl|crypto)[^ ]*' <<<"$deps" | sort -u | tr '\n' ' ')$(grep -Eo 'libstdc\+\+[^] ]*' <<<"$needed" | tr '\n' ' ')"; fail=1
  fi
  rm -f "$W/listen.db" "$W/listen.stats"
  got=$(RUSTYMEM_LISTEN=127.0.0.1:0 RUSTYMEM_SQLITE_STATS="$W/listen.stats" LD_PRELOAD="$PRELOAD" sqlite3 "$W/listen.db" "$SQL" 2>"$W/listen.err")
  if [[ $(wc -l <"$W/listen.err") != 1 ]] || ! grep -q '^rustymem-sqlite: .*RUSTYMEM_LISTEN.*librustymem_sqlite_agent.so' "$W/listen.err"; then
    echo "FAIL: RUSTYMEM_LISTEN on the plain preload: expected one line naming librustymem_sqlite_agent.so, got: $(head -3 "$W/listen.err")"; fail=1
  fi
  if [[ $got != "$expect" ]] || ! grep -q '"pcache":1,"malloc":1' "$W/listen.stats" 2>/dev/null; then
    echo "FAIL: RUSTYMEM_LISTEN on the plain preload: answers differ or the adapter did not serve"; fail=1
  fi
  echo "listen line: $(cat "$W/listen.err")"
fi
(( fail == 0 )) && echo "OK: sqlite3 CLI under the preload: $(echo "$expect" | head -1)"
exit $fail
