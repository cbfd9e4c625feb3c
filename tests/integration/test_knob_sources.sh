#!/usr/bin/env bash
# Knobs like pg_settings (issue 23 item 3, docs/adr/0030): every knob reports
# its source (default, FILE:LINE, env, flag, runtime), reset value and pending
# restart; `knobs reset` returns value and source and forgets the persisted
# value across a restart; `knobs diff` lists exactly the knobs not at their
# default source; a runtime set that an env variable overrides at restart is
# answered with a warning; a reset naming an unknown knob changes nothing.
source "$(dirname "$0")/lib.sh"
ctl() { "$RUSTYMEMCTL" --addr "$ADDR" "$@"; }
# field KNOB FIELD: one field of `knobs get KNOB -o json`
field() {
  ctl -o json knobs get "$1" |
    /usr/bin/python3 -c 'import json,sys; k=json.load(sys.stdin)["knobs"][0]; v=k.get(sys.argv[1], ""); print(str(v).lower() if isinstance(v, bool) else v)' "$2"
}
expect_field() { # KNOB FIELD WANT
  local got
  got=$(field "$1" "$2")
  [ "$got" = "$3" ] || fail "$1 $2 = '$got', expected '$3'"
}

# the operator's file: line 3 sets warning_threshold (line 2 is the section)
printf '# operator config\n[pressure]\nwarning_threshold = 0.6\n' >"$TMP/k.ini"
BOOT=(--config "$TMP/k.ini" --set memory.budget_bytes=2GiB --set pool.min_size=12)
export RUSTYMEM_POOL_MAX_SIZE=300
start_agent "${BOOT[@]}"

expect_field mvcc.max_versions_per_key source default
expect_field mvcc.max_versions_per_key reset_value 1000
expect_field pressure.warning_threshold source "$TMP/k.ini:3"
expect_field pressure.warning_threshold value 0.6
expect_field pool.max_size source "env RUSTYMEM_POOL_MAX_SIZE"
expect_field pool.max_size value 300
expect_field pool.min_size source flag
expect_field pool.min_size value 12
expect_exit 0 ctl knobs get pressure.warning_threshold
grep -q "source" <<<"$OUT" && grep -q "k.ini:3" <<<"$OUT" || fail "table lacks the source: $OUT"
pass "knobs get: default, FILE:LINE, env and flag sources"

expect_exit 0 ctl knobs set mvcc.max_versions_per_key=2000
[ -z "$ERR" ] || fail "a set no layer overrides warned: $ERR"
expect_field mvcc.max_versions_per_key source "runtime (persisted)"
expect_field mvcc.max_versions_per_key value 2000
expect_field mvcc.max_versions_per_key reset_value 1000
expect_field mvcc.max_versions_per_key reset_source default
# a file value loses to a persisted runtime one at restart: no warning either
expect_exit 0 ctl knobs set pressure.warning_threshold=0.65
[ -z "$ERR" ] || fail "a set over a file value warned: $ERR"
expect_field pressure.warning_threshold source "runtime (persisted)"
expect_field pressure.warning_threshold reset_source "$TMP/k.ini:3"
pass "runtime sets report runtime (persisted) and keep their reset value"

expect_exit 0 ctl knobs set pool.max_size=400
grep -q "^rustymemctl: warning: pool.max_size = 400 holds until the next restart only: env RUSTYMEM_POOL_MAX_SIZE sets 300" <<<"$ERR" ||
  fail "no env-override warning on stderr: $ERR"
expect_field pool.max_size value 400
expect_exit 0 ctl -o json knobs set pool.min_size=15
/usr/bin/python3 -c 'import json,sys; w=json.load(sys.stdin)["warnings"]; assert len(w)==1 and "flag --set sets 12" in w[0], w' <<<"$OUT" ||
  fail "no flag-override warning in the response: $OUT"
pass "a runtime set an env variable or flag overrides at restart is warned about (exit 0)"

# restart-only knob: pending restart, source runtime
expect_exit 0 ctl knobs set large_object.aggressive_coalescing=true
expect_field large_object.aggressive_coalescing pending_restart true
expect_field large_object.aggressive_coalescing source "runtime (persisted)"
pass "a restart-only runtime set is pending"

expect_exit 0 ctl -o json knobs diff
names=$(/usr/bin/python3 -c 'import json,sys; print(" ".join(sorted(k["name"]+"="+k["source"] for k in json.load(sys.stdin)["knobs"])))' <<<"$OUT")
want="large_object.aggressive_coalescing=runtime (persisted) memory.budget_bytes=flag mvcc.max_versions_per_key=runtime (persisted) pool.max_size=runtime (persisted) pool.min_size=runtime (persisted) pressure.warning_threshold=runtime (persisted)"
[ "$names" = "$want" ] || fail "knobs diff: '$names', expected '$want'"
expect_exit 0 ctl knobs diff
grep -q "^NAME .*SOURCE" <<<"$OUT" || fail "diff table header: $OUT"
grep -q "^large_object.aggressive_coalescing .*true .*false .*runtime (persisted) (pending restart)" <<<"$OUT" ||
  fail "diff table row: $OUT"
[ "$(wc -l <<<"$OUT")" = 7 ] || fail "diff table: $OUT"
pass "knobs diff lists exactly the knobs not at their default, with the source"

# bad input: an unknown name → INVALID_ARGUMENT naming it, nothing changes
cp "$TMP/data/knobs.auto.ini" "$TMP/before.ini"
expect_exit 1 ctl knobs reset mvcc.max_versions_per_key no.such_knob
grep -q "INVALID_ARGUMENT: names\[1\] = 'no.such_knob': no such knob" <<<"$ERR" || fail "reset unknown: $ERR"
expect_field mvcc.max_versions_per_key value 2000
cmp -s "$TMP/before.ini" "$TMP/data/knobs.auto.ini" || fail "a rejected reset touched the persisted file"
expect_exit 2 ctl knobs reset
pass "reset of an unknown knob is INVALID_ARGUMENT naming it and changes nothing"

expect_exit 0 ctl knobs reset mvcc.max_versions_per_key pressure.warning_threshold large_object.aggressive_coalescing --validate-only
expect_field mvcc.max_versions_per_key value 2000
expect_exit 0 ctl knobs reset mvcc.max_versions_per_key pressure.warning_threshold large_object.aggressive_coalescing
expect_field mvcc.max_versions_per_key value 1000
expect_field mvcc.max_versions_per_key source default
expect_field pressure.warning_threshold value 0.6
expect_field pressure.warning_threshold source "$TMP/k.ini:3"
expect_field large_object.aggressive_coalescing value false
expect_field large_object.aggressive_coalescing pending_restart false
grep -q "max_versions_per_key\|warning_threshold\|aggressive_coalescing" "$TMP/data/knobs.auto.ini" &&
  fail "reset left the persisted values: $(cat "$TMP/data/knobs.auto.ini")"
grep -q "max_size = 400" "$TMP/data/knobs.auto.ini" || fail "reset dropped another knob's persisted value"
grep -q "AUDIT .*ResetKnobs mvcc.max_versions_per_key: 2000 -> 1000" "$TMP/agent.log" || fail "reset not audited"
pass "knobs reset returns value and source, forgets the persisted value, is audited"

stop_agent
start_agent "${BOOT[@]}"
expect_field mvcc.max_versions_per_key value 1000
expect_field mvcc.max_versions_per_key source default
expect_field pressure.warning_threshold value 0.6
expect_field pressure.warning_threshold source "$TMP/k.ini:3"
# what the warning said: the env variable beats the persisted 400 at restart
expect_field pool.max_size value 300
expect_field pool.max_size source "env RUSTYMEM_POOL_MAX_SIZE"
expect_field pool.min_size source flag
pass "after a restart: reset knobs stay reset, the env and the flag beat persisted values as warned"
stop_agent

# ResetKnobs is authorised and audited like SetKnobs: admin only
READER=reader-token-0123456789abcdef
ADMIN=admin-token-0123456789abcdef
printf 'token reader %s dashboards\ntoken admin  %s oncall\n' "$READER" "$ADMIN" >"$TMP/auth"
chmod 600 "$TMP/auth"
RUSTYMEM_PRESSURE_HISTORY_SIZE=90 start_agent "${BOOT[@]}" --auth-file "$TMP/auth"
RUSTYMEM_TOKEN="$ADMIN" expect_exit 0 ctl knobs set mvcc.max_versions_per_key=3000
RUSTYMEM_TOKEN="$READER" expect_exit 1 ctl knobs reset mvcc.max_versions_per_key
grep -q "PERMISSION_DENIED" <<<"$ERR" || fail "reader reset: $ERR"
grep -q "AUDIT token:dashboards /rustymem.v1.TuningService/ResetKnobs denied PERMISSION_DENIED" "$TMP/agent.log" ||
  fail "the reader's refused reset is not audited"
RUSTYMEM_TOKEN="$ADMIN" expect_field mvcc.max_versions_per_key value 3000
RUSTYMEM_TOKEN="$ADMIN" expect_exit 0 ctl knobs reset mvcc.max_versions_per_key
grep -q "AUDIT token:oncall /rustymem.v1.TuningService/ResetKnobs mvcc.max_versions_per_key: 3000 -> 1000 peer=" \
  "$TMP/agent.log" || fail "the admin's reset is not audited with identity and peer"
pass "ResetKnobs: reader PERMISSION_DENIED (audited), admin allowed and audited"
# ApplyProfile is a runtime set too: the env variable's knob is warned about, the others are not
RUSTYMEM_TOKEN="$ADMIN" expect_exit 0 ctl knobs apply-profile oltp mission_critical
grep -q "^rustymemctl: warning: pressure.history_size = 120 holds until the next restart only: env RUSTYMEM_PRESSURE_HISTORY_SIZE sets 90" <<<"$ERR" ||
  fail "apply-profile: no env-override warning: $ERR"
[ "$(grep -c warning <<<"$ERR")" = 1 ] || fail "apply-profile warned about knobs no env/flag sets: $ERR"
pass "apply-profile warns about the knob an env variable overrides at restart"
stop_agent
