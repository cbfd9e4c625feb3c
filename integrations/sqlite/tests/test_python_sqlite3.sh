#!/usr/bin/env bash
# test_python_sqlite3.sh LIB — CPython's own sqlite3 test suite (test_sqlite3,
# written by the CPython developers) run twice by the same interpreter: on
# SQLite's defaults, then with LD_PRELOAD=LIB (librustymem_sqlite.so: page
# cache and allocator). Passes when both runs report the same number of tests
# run, failures, errors and skips, and the preload really served SQLite (its
# RUSTYMEM_SQLITE_STATS lines show page-cache fetches and allocations).
#
# Interpreter: the first of /usr/bin/python3, python3 on PATH, pyenv's 3.11.x
# that has test.test_sqlite3 and whose _sqlite3 links the system
# libsqlite3.so.0 (the copy the preload configures). Debian 12's
# libpython3.11-testsuite does not ship test_sqlite3; it is installed if
# missing all the same in case a later package does. SKIP: when none fits.
set -uo pipefail
LIB=${1:?usage: test_python_sqlite3.sh LIB}
[[ -f $LIB ]] || { echo "FAIL: $LIB missing"; exit 1; }
# A sanitizer build of the adapter links libasan/libtsan, whose runtime must
# come first in LD_PRELOAD when the program itself is not instrumented.
san_rt=$(ldd "$LIB" 2>/dev/null | awk '/lib(a|t)san\.so/ {print $3; exit}')
PRELOAD="${san_rt:+$san_rt }$LIB"
# the interpreter's own leaks at exit are not ours (LeakSanitizer would make
# test_ctx_mgr_rollback_if_commit_failed's child exit 1 with nothing installed)
[[ -n $san_rt ]] && export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
if [[ ! -d /usr/lib/python3.11/test ]] && [[ $(id -u) == 0 ]]; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libpython3.11-testsuite >/dev/null 2>&1 || true
fi
fits() {   # interpreter has test.test_sqlite3 and its _sqlite3 uses the system libsqlite3
  local py=$1 so
  [[ -x $py ]] || return 1
  so=$("$py" -c 'import test.test_sqlite3, _sqlite3; print(_sqlite3.__file__)' 2>/dev/null | tail -1) || return 1
  ldd "$so" 2>/dev/null | grep -q '/libsqlite3\.so\.0 '
}
PY=
for cand in /usr/bin/python3 "$(command -v python3 2>/dev/null)" /root/.pyenv/versions/3.11*/bin/python3.11; do
  if [[ -n $cand ]] && fits "$cand"; then PY=$("$cand" -c 'import sys; print(sys.executable)'); break; fi
done
if [[ -z $PY ]]; then
  echo "SKIP: no python3 with test.test_sqlite3 whose _sqlite3 links the system libsqlite3.so.0 (Debian 12's libpython3.11-testsuite does not ship test_sqlite3)"
  exit 0
fi
WORK=$(mktemp -d /tmp/rm-pysqlite-XXXXXX)
trap 'rm -rf "$WORK"' EXIT
counts() {   # "ran failures errors skipped" from unittest's summary
  local log=$1 ran fail err skip tail
  ran=$(grep -E '^Ran [0-9]+ tests?' "$log" | tail -1 | awk '{print $2}')
  tail=$(grep -E '^(OK|FAILED)( |$)' "$log" | tail -1)
  fail=$(grep -oE 'failures=[0-9]+' <<<"$tail" | cut -d= -f2)
  err=$(grep -oE 'errors=[0-9]+' <<<"$tail" | cut -d= -f2)
  skip=$(grep -oE 'skipped=[0-9]+' <<<"$tail" | cut -d= -f2)
  echo "${ran:-none} ${fail:-0} ${err:-0} ${skip:-0}"
}
echo "interpreter: $PY ($("$PY" --version 2>&1)), SQLite $("$PY" -c 'import sqlite3; print(sqlite3.sqlite_version)')"
(cd "$WORK" && "$PY" -m test test_sqlite3 -v) >"$WORK/base.log" 2>&1
(cd "$WORK" && RUSTYMEM_SQLITE_STATS="$WORK/stats.jsonl" LD_PRELOAD="$PRELOAD" "$PY" -m test test_sqlite3 -v) \
  >"$WORK/rm.log" 2>&1
base=$(counts "$WORK/base.log")
mine=$(counts "$WORK/rm.log")
echo "defaults:  ran/failures/errors/skipped = $base"
echo "rustymem:  ran/failures/errors/skipped = $mine"
rc=0
if [[ $base == none* ]]; then echo "FAIL: the run on defaults printed no unittest summary"; tail -20 "$WORK/base.log"; rc=1; fi
if [[ $base != "$mine" ]]; then
  echo "FAIL: counts differ"; diff <(grep -E '\.\.\. ' "$WORK/base.log" | sort) <(grep -E '\.\.\. ' "$WORK/rm.log" | sort) | head -40
  rc=1
fi
if grep -q 'rustymem-sqlite:' "$WORK/rm.log"; then echo "FAIL: the preload refused:"; grep 'rustymem-sqlite:' "$WORK/rm.log" | head -3; rc=1; fi
# the preload served SQLite: page-cache fetches and allocations in the main process
served=$("$PY" - "$WORK/stats.jsonl" <<'PYEOF'
import json, sys
best = None
for line in open(sys.argv[1]):
    s = json.loads(line)
    n = s["hits"] + s["misses"] + s["memdb_hits"] + s["memdb_misses"]
    if best is None or n > best[0]:
        best = (n, s["slab_allocs"] + s["jemalloc_allocs"] + s["large_allocs"], s["alloc_failures"])
print(*(best or (0, 0, 0)))
PYEOF
)
read -r fetches allocs afail <<<"${served:-0 0 0}"
echo "rustymem served: $fetches page fetches, $allocs allocations, $afail failed allocations"
if (( fetches == 0 || allocs == 0 )); then echo "FAIL: the preload did not serve SQLite"; rc=1; fi
exit $rc
