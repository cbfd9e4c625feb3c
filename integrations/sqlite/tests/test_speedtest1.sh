#!/usr/bin/env bash
# test_speedtest1.sh LIB BUILDDIR — SQLite's own speedtest1 (Debian's sqlite3
# source package, built by get-speedtest1.sh into BUILDDIR/speedtest1) runs its
# `main` test set at --size 50 with --verify --output on SQLite's defaults, then
# with LD_PRELOAD=LIB (page cache + allocator) at three cache sizes: 40 pages
# (about 1 % of the database), 400 and 4000 (all of it). Every run's SQL
# results (--output) must be byte-identical to the run on the defaults, its
# verification hash the same, and the preload must have served it (stats).
# In a sanitizer build (-DRM_SANITIZE=address,undefined) the same runs must
# also print no sanitizer report.
# SKIP: only when the source package or a build tool cannot be had.
set -uo pipefail
LIB=${1:?usage: test_speedtest1.sh LIB BUILDDIR}
BUILD=${2:?usage: test_speedtest1.sh LIB BUILDDIR}
# A sanitizer build of the adapter links libasan/libtsan, whose runtime must
# come first in LD_PRELOAD when the program itself is not instrumented.
san_rt=$(ldd "$LIB" 2>/dev/null | awk '/lib(a|t)san\.so/ {print $3; exit}')
PRELOAD="${san_rt:+$san_rt }$LIB"
HERE=$(cd "$(dirname "$0")" && pwd)
SIZE=${RM_SPEEDTEST1_SIZE:-50}
if ! command -v dpkg-source >/dev/null && [[ $(id -u) == 0 ]]; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dpkg-dev >/dev/null 2>&1 || true
fi
if ! ST=$(bash "$HERE/get-speedtest1.sh" "$BUILD/speedtest1" 2>"$BUILD/get-speedtest1.err"); then
  echo "SKIP: speedtest1 could not be built: $(tail -1 "$BUILD/get-speedtest1.err")"
  exit 0
fi
WORK=$(mktemp -d /tmp/rm-speedtest1-XXXXXX)
trap 'rm -rf "$WORK"' EXIT
run() {   # NAME [env...] -- [speedtest1 args]
  local name=$1; shift
  local envs=()
  while [[ $1 != -- ]]; do envs+=("$1"); shift; done; shift
  rm -f "$WORK/$name.db"*
  env "${envs[@]}" "$ST" --testset main --size "$SIZE" --nosync --verify --stats "$@" \
    --output "$WORK/$name.out" "$WORK/$name.db" >"$WORK/$name.log" 2>&1
}
rc=0
run base -- || { echo "FAIL: speedtest1 on defaults exited $?"; tail -5 "$WORK/base.log"; exit 1; }
hash_base=$(grep 'Verification Hash' "$WORK/base.log")
echo "defaults: $(grep -E 'TOTAL' "$WORK/base.log" | tr -s ' .')  $hash_base  output $(stat -c %s "$WORK/base.out") bytes"
[[ -s $WORK/base.out ]] || { echo "FAIL: no --output from the run on defaults"; exit 1; }
for cs in 40 400 4000; do
  if ! run "rm$cs" "LD_PRELOAD=$PRELOAD" "RUSTYMEM_SQLITE_STATS=$WORK/rm$cs.stats" -- --cachesize "$cs"; then
    echo "FAIL: cache $cs: speedtest1 exited non-zero"; tail -5 "$WORK/rm$cs.log"; rc=1; continue
  fi
  h=$(grep 'Verification Hash' "$WORK/rm$cs.log")
  hits=$(grep -E 'Page cache hits' "$WORK/rm$cs.log" | awk '{print $NF}')
  miss=$(grep -E 'Page cache misses' "$WORK/rm$cs.log" | awk '{print $NF}')
  fetch=$(python3 -c 'import json,sys; s=json.loads(open(sys.argv[1]).readline()); print(s["hits"]+s["misses"])' "$WORK/rm$cs.stats" 2>/dev/null || echo 0)
  echo "cache $cs: $(grep -E 'TOTAL' "$WORK/rm$cs.log" | tr -s ' .')  SQLite hits $hits misses $miss, adapter fetches $fetch"
  if ! cmp -s "$WORK/base.out" "$WORK/rm$cs.out"; then echo "FAIL: cache $cs: --output differs from defaults"; cmp "$WORK/base.out" "$WORK/rm$cs.out" | head -2; rc=1; fi
  if [[ $h != "$hash_base" ]]; then echo "FAIL: cache $cs: $h != $hash_base"; rc=1; fi
  if grep -q 'rustymem-sqlite:' "$WORK/rm$cs.log"; then echo "FAIL: cache $cs: preload refused: $(grep 'rustymem-sqlite:' "$WORK/rm$cs.log" | head -1)"; rc=1; fi
  if grep -qE 'runtime error|ERROR: (Address|Leak|Thread)Sanitizer' "$WORK/rm$cs.log"; then
    echo "FAIL: cache $cs: sanitizer report:"; grep -E 'runtime error|Sanitizer' "$WORK/rm$cs.log" | head -5; rc=1
  fi
  if [[ ${fetch:-0} == 0 ]]; then echo "FAIL: cache $cs: the adapter served no page fetch"; rc=1; fi
done
exit $rc
