#!/usr/bin/env bash
# rustymem-bench --trace readers: a good trace replays, a malformed one fails
# with exit 1 and one line naming the line number and the field.
source "$(dirname "$0")/lib.sh"
BENCH="$RM_BUILD_DIR/tests/bench/rustymem-bench"
[ -x "$BENCH" ] || { echo "skip: rustymem-bench not built"; exit 0; }

printf '# pages\n1\n2\n\n3\n1\n2\n' >"$TMP/pages.txt"
expect_exit 0 "$BENCH" bufpool --trace "$TMP/pages.txt" --frames 2 --json
echo "$OUT" | python3 -c 'import json,sys; d=json.load(sys.stdin); assert d["accesses"]==5 and d["distinct_pages"]==3, d' \
  || fail "bufpool --trace: wrong counts"
pass "bufpool --trace replays a page trace"

printf '1\n2\n-3\n' >"$TMP/bad_pages.txt"
expect_exit 1 "$BENCH" bufpool --trace "$TMP/bad_pages.txt" --json
echo "$ERR" | grep -q 'line 3: expected one page number' || fail "bad page trace: '$ERR'"
[ -z "$OUT" ] || fail "bad page trace printed a result"
printf '' >"$TMP/empty.txt"
expect_exit 1 "$BENCH" bufpool --trace "$TMP/empty.txt" --json
echo "$ERR" | grep -q 'no page numbers' || fail "empty page trace: '$ERR'"
expect_exit 1 "$BENCH" bufpool --trace "$TMP/missing.txt" --json
echo "$ERR" | grep -q 'cannot open' || fail "missing page trace: '$ERR'"
pass "bufpool --trace rejects malformed, empty and missing traces"

# speedtest1 traces as a family of their own (issue 21 item 2): replayed when
# present, refused with one line when --sqlite-traces names a directory without them
mkdir -p "$TMP/st"
for i in $(seq 1 400); do echo $((i % 37)); echo $((i % 5)); done >"$TMP/st/speedtest1_10.txt"
expect_exit 0 "$BENCH" bufpool --quick --json --sqlite-traces "$TMP/st"
echo "$OUT" | python3 -c '
import json, sys
d = json.load(sys.stdin)["speedtest1"]
assert d["available"] and d["accesses"] == 800 and d["distinct_pages"] == 37, d
assert len(d["cases"]) == 4 and "gap_vs_best_other" in d, d' || fail "bufpool speedtest1 family: $OUT"
expect_exit 1 "$BENCH" bufpool --quick --json --sqlite-traces "$TMP/none"
grep -q -- "--sqlite-traces $TMP/none: no speedtest1_<pct>.txt there" <<<"$ERR" || fail "no traces: '$ERR'"
[ -z "$OUT" ] || fail "--sqlite-traces without traces printed a result"
pass "bufpool replays speedtest1 traces as their own family; a directory without them is refused"

{ echo t_seconds,used_bytes,limit_bytes; for i in $(seq 1 250); do echo "$i,$((i * 4000000)),1000000000"; done; } >"$TMP/usage.csv"
expect_exit 0 "$BENCH" forecast --trace "$TMP/usage.csv" --json
echo "$OUT" | python3 -c 'import json,sys; d=json.load(sys.stdin); assert d["samples"]==250 and len(d["critical_crossings"])==1, d' \
  || fail "forecast --trace: wrong result"
pass "forecast --trace evaluates a usage trace"

# False alarms (issue 17 item 9): a climb that plateaus below critical makes the
# forecaster warn, and nothing follows; the replay must say so. The steady ramp
# above crosses critical after its warning: no false alarm there.
echo "$OUT" | python3 -c 'import json,sys; d=json.load(sys.stdin); assert d["alarms"]>=1 and d["false_alarms"]==0, d' \
  || fail "forecast --trace: a ramp that crosses critical counted a false alarm"
{ echo t_seconds,used_bytes,limit_bytes
  for i in $(seq 1 400); do
    if [ "$i" -le 80 ]; then u=$((500000000 + i * 4750000)); else u=880000000; fi
    echo "$i,$u,1000000000"
  done; } >"$TMP/plateau.csv"
expect_exit 0 "$BENCH" forecast --trace "$TMP/plateau.csv" --json
echo "$OUT" | python3 -c '
import json, sys
d = json.load(sys.stdin)
assert d["critical_crossings"] == [], d
assert d["alarms"] >= 1 and d["false_alarms"] == d["alarms"] == len(d["false_alarm_t_seconds"]), d
assert all(t <= 80 for t in d["false_alarm_t_seconds"]), d' || fail "forecast --trace: plateau false alarms: $OUT"
echo "$ERR" | grep -q "false alarm at t=" || fail "forecast --trace: false alarm not reported on stderr"
pass "forecast --trace reports warnings not followed by a critical crossing (false_alarms)"

for bad in '1,100' '1,100,0' 'x,1,2' '1,1e3,5' '5,1,2\n4,1,2' '1,2,3,4' 'nan,1,2'; do
  printf "$bad\n" >"$TMP/bad.csv"
  expect_exit 1 "$BENCH" forecast --trace "$TMP/bad.csv" --json
  echo "$ERR" | grep -q 'line [12]:' || fail "bad usage trace '$bad': '$ERR'"
done
pass "forecast --trace rejects malformed rows with the line and field"

# options a suite does not take, and bad values, are refused before anything runs
expect_exit 2 "$BENCH" bufpool --json --trce "$TMP/pages.txt"
grep -q "rustymem-bench bufpool: unknown option '--trce' (its options: --trace FILE" <<<"$ERR" || fail "typo: '$ERR'"
[ -z "$OUT" ] || fail "an unknown option printed a result"
expect_exit 2 "$BENCH" arena stray
grep -q "unknown argument 'stray'" <<<"$ERR" || fail "stray argument: '$ERR'"
expect_exit 2 "$BENCH" bufpool --trace
grep -q -- "--trace needs a value" <<<"$ERR" || fail "missing value: '$ERR'"
expect_exit 1 "$BENCH" bufpool --trace "$TMP/pages.txt" --frames 0
grep -q -- "--frames 0: expected a whole number in \[2, " <<<"$ERR" || fail "frames 0: '$ERR'"
expect_exit 1 "$BENCH" forecast --trace "$TMP/usage.csv" --model nope
grep -q -- "--model nope: expected one of linear" <<<"$ERR" || fail "model: '$ERR'"
pass "unknown options, stray arguments and bad values are refused with one line"
expect_exit 0 "$BENCH" soak --help   # was "unknown option '--help'"
grep -q -- "usage: rustymem-bench soak .*--minutes M" <<<"$OUT" || fail "soak --help: '$OUT'"
pass "SUITE --help prints the suite's usage"
